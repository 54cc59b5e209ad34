"""glibc malloc tuning: the mmap threshold is fixed where there is glibc, and nothing breaks where there is not."""

from __future__ import annotations

import platform

from monitor.ingest import malloc


def test_the_mmap_threshold_is_taken_by_glibc_and_trim_runs() -> None:
    assert malloc.fix_mmap_threshold() is (platform.libc_ver()[0] == "glibc")
    malloc.malloc_trim()()
