"""How many threads a batch call uses: the cores free at that moment, not all of them.

A parallel loop splits its points evenly between its threads and returns when the last
one is done. On a machine where other processes keep cores busy, one of our threads is
then descheduled for a whole time slice (several ms) while the others wait: a 0.2 ms batch
of 10^5 points took a median 7.7 ms on 2 cores with one competing process, against 0.2 ms
on one thread. So each batch call first counts the threads running elsewhere (Linux's
``/proc/loadavg`` holds the number runnable right now: one read, about 5 us) and runs on
at most the cores left, never more than Numba's own setting (``numba.set_num_threads``,
``NUMBA_NUM_THREADS``), which stays the ceiling. Batches of fewer than ``SERIAL_BELOW``
points run on one thread: waking the pool costs more than it saves. ``COMPILER_THREADS=all``
turns the count off (every call uses Numba's setting).

>>> from compiler.runtime import threads
>>> threads.for_points(10) == 1
True
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

SERIAL_BELOW = 4096
_CPUS = os.cpu_count() or 1  # every online CPU: the scope of /proc/loadavg's count
_fd: int | None = None


def running_elsewhere() -> int | None:
    """Threads runnable on the machine now, besides the calling one; None where unknown."""
    global _fd
    try:
        if _fd is None:
            _fd = os.open("/proc/loadavg", os.O_RDONLY)
        fields = os.pread(_fd, 128, 0).split()
        return max(0, int(fields[3].split(b"/")[0]) - 1)
    except (OSError, IndexError, ValueError):
        return None


def for_points(n: int, ceiling: int | None = None) -> int:
    """The threads for a batch of ``n`` points: at most ``ceiling`` (Numba's setting)."""
    import numba
    top = numba.get_num_threads() if ceiling is None else ceiling
    if n < SERIAL_BELOW:
        return 1
    if top == 1 or os.environ.get("COMPILER_THREADS", "").strip().lower() == "all":
        return top
    busy = running_elsewhere()
    return top if busy is None else max(1, min(top, _CPUS - busy))


@contextlib.contextmanager
def batch(n: int) -> Iterator[None]:
    """Runs the body (one batch loop of ``n`` points) on ``for_points(n)`` threads."""
    numba = sys.modules.get("numba")
    if numba is None:  # no Numba loaded: the loop is NumPy's or Python's (backend "python")
        yield
        return
    before = numba.get_num_threads()
    use = for_points(n, before)
    if use == before:
        yield
        return
    numba.set_num_threads(use)
    try:
        yield
    finally:
        numba.set_num_threads(before)
