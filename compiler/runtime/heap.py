"""Keep freed arrays in the heap: glibc's malloc thresholds, raised once tensor code runs.

A kernel of tensors allocates its intermediate arrays afresh on every call (a
Gaussian process's gradient at n = 500: about 30 arrays of 2 MB). By default
glibc gives blocks of 128 KB or more back to the kernel with ``munmap``, and
trims the top of the heap with ``brk`` as soon as 128 KB there is free, so the
next call faults every page back in and the kernel zeroes it: a quarter of that
gradient's time went to page faults. Raising the mmap threshold to glibc's
maximum (32 MB) and the trim threshold to 256 MB keeps those blocks in the
heap between calls (measured: 29.1 ms to 20.4 ms per call). The cost is that up
to 256 MB of freed memory stays with the process instead of going back to the
system. ``$COMPILER_MALLOC=0`` leaves malloc as it was.

>>> from compiler.runtime import heap
>>> heap.keep_freed_arrays() in (True, False)
True
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import threading

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 256 << 20

_lock = threading.Lock()
_state: list = []  # [True] once set, [False] where it cannot or must not be


def keep_freed_arrays() -> bool:
    """Raise glibc's malloc thresholds, once per process; True if they are raised now."""
    if _state:
        return _state[0]
    with _lock:
        if not _state:
            _state.append(_raise_thresholds())
    return _state[0]


def _raise_thresholds() -> bool:
    if os.environ.get("COMPILER_MALLOC", "").strip() == "0":
        return False
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mmap first: setting either turns glibc's own (dynamic) thresholds off
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
