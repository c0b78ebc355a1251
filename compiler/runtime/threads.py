"""How many threads a batch call uses: the cores other processes leave free, not all of them.

A parallel loop splits its points evenly between its threads and returns when the last
one is done. On a machine where other processes keep cores busy, one of our threads is
then descheduled for a whole time slice (several ms) while the others wait: a batch of
10^5 points took a median of 4.8-7.7 ms on 2 cores with one competing process, against
1.3 ms on one thread. So batch calls run on the cores that other processes left idle over
the last tenth of a second or more (the machine's busy time from ``/proc/stat`` less this
process's own CPU time; sampled at most every ``WINDOW`` seconds, so a call costs one clock
read), at most Numba's own setting (``numba.set_num_threads``, ``NUMBA_NUM_THREADS``),
which stays the ceiling. Batches of fewer than ``SERIAL_BELOW`` points run on one thread:
waking the pool costs more than it saves. ``COMPILER_THREADS=all`` turns the count off.

>>> from compiler.runtime import threads
>>> threads.for_points(10) == 1
True
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import Iterator

SERIAL_BELOW = 4096
WINDOW = 0.1  # seconds: /proc/stat counts in 10 ms ticks, so shorter windows are noise
_CPUS = os.cpu_count() or 1  # every online CPU: the scope of /proc/stat's first line
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_lock = threading.Lock()
_last: tuple[float, float, float] | None = None  # (wall, machine busy seconds, own CPU seconds)
_others: float | None = None  # cores other processes kept busy over the last window


def _machine_busy() -> float | None:
    """Seconds of CPU the whole machine has spent busy since boot; None where unknown."""
    try:
        with open("/proc/stat", "rb") as fh:
            fields = fh.readline().split()
        user, nice, system, _idle, _iowait, irq, softirq = map(int, fields[1:8])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq) / _TICK


def _own_cpu() -> float:
    """CPU seconds of this process and of its children that ended (an llvm helper process,
    ``llvm_parts``, is this process's work: never a reason to think another core busy)."""
    t = os.times()
    return time.process_time() + t.children_user + t.children_system


def busy_elsewhere() -> float | None:
    """Cores that other processes kept busy over the last window (or more); None where unknown
    or before a first window has passed."""
    global _last, _others
    now = time.monotonic()
    last = _last
    if last is not None and now - last[0] < WINDOW:
        return _others
    with _lock:
        busy, own = _machine_busy(), _own_cpu()
        if busy is None:
            return None
        if _last is not None and now - _last[0] >= WINDOW:
            _others = max(0.0, (busy - _last[1] - (own - _last[2])) / (now - _last[0]))
        if _last is None or now - _last[0] >= WINDOW:
            _last = (now, busy, own)
        return _others


def for_points(n: int, ceiling: int | None = None) -> int:
    """The threads for a batch of ``n`` points: at most ``ceiling`` (Numba's setting)."""
    if n < SERIAL_BELOW:
        return 1
    if ceiling is None:
        import numba
        ceiling = numba.get_num_threads()
    if ceiling == 1 or os.environ.get("COMPILER_THREADS", "").strip().lower() == "all":
        return ceiling
    others = busy_elsewhere()
    return ceiling if others is None else max(1, min(ceiling, int(_CPUS - others + 0.5)))


@contextlib.contextmanager
def batch(n: int) -> Iterator[None]:
    """Runs the body (one batch loop of ``n`` points) on ``for_points(n)`` threads."""
    numba = sys.modules.get("numba")
    get = getattr(numba, "get_num_threads", None)
    if get is None:  # no Numba loaded (or another thread is still importing it, so this loop cannot
        yield         # be Numba's): the loop is NumPy's or Python's (backend "python")
        return
    before = get()
    use = for_points(n, before)
    if use == before:
        yield
        return
    numba.set_num_threads(use)
    try:
        yield
    finally:
        numba.set_num_threads(before)
