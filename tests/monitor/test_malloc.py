"""glibc malloc tuning: the mmap threshold is fixed (no-ops without glibc)."""

from __future__ import annotations

import platform

import pytest

from monitor import malloc


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_the_mmap_threshold_is_taken_by_glibc_and_trim_runs() -> None:
    assert malloc.fix_mmap_threshold() is True
    malloc.malloc_trim()()
