"""glibc malloc tuning for the long-running processes (the daemon and its decoding child); no-ops elsewhere.

glibc serves an allocation of at least ``M_MMAP_THRESHOLD`` bytes (128 KiB to start with) with its
own ``mmap``, handed back to the OS when freed. But each time such a block is freed it raises the
threshold to that block's size (up to 32 MiB): after the first checkpoint frees a multi-megabyte blob,
window reservoirs, merged summaries and blobs of up to that size come from the heap instead, where
what they leave when freed stays in the process's RSS, fragmented, until a ``malloc_trim``. Setting
the threshold once, explicitly, turns that adjustment off: large arrays come and go with their pages.
"""

from __future__ import annotations

from typing import Any, Callable

MMAP_THRESHOLD = 128 * 1024
"""glibc's default threshold, kept fixed."""

_M_MMAP_THRESHOLD = -3  # mallopt parameter number (malloc.h)


def _libc() -> Any:
    try:
        import ctypes
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """``mallopt(M_MMAP_THRESHOLD, threshold)``: True if glibc took it (False where there is no glibc)."""
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    return bool(mallopt is not None and mallopt(_M_MMAP_THRESHOLD, int(threshold)))


def malloc_trim() -> Callable[[], None]:
    """glibc's ``malloc_trim(0)``, or a no-op where there is none (musl, macOS)."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:
        return lambda: None
    return lambda: None if trim(0) else None
