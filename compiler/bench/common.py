"""What every benchmark suite shares: timing, the machine's description, load, tables, peers.

Timing is timeit-style: a case is calibrated to a loop count whose repeat lasts
at least ``min_time``, repeats of the cases compared are interleaved (so that a
drift in machine speed hits them alike), and the median per call is reported.
Warm-up (a JIT's compile) happens before any timing and is reported apart.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Row:
    """One measured method of one case: seconds per call (median), and what it cost to get ready."""
    suite: str
    case: str
    method: str
    seconds: float | None          # per call (per batch for batch cases); None: not run
    size: int | None = None        # points of a batch, ops of a graph
    compile_seconds: float | None = None
    spread: float | None = None    # interquartile range / median of the repeats
    note: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def calibrate(fn: Callable[[], object], min_time: float) -> int:
    """The loop count (1, 2, 5, 10, 20, ...) for which ``min_time`` passes at least."""
    number = 1
    while True:
        for k in (1, 2, 5):
            t0 = time.perf_counter()
            for _ in range(number * k):
                fn()
            if time.perf_counter() - t0 >= min_time:
                return number * k
        number *= 10


def timed(cases: dict[str, Callable[[], object]], repeats: int, min_time: float,
          interleave: bool = True) -> dict[str, tuple[float, float]]:
    """Median seconds per call and relative spread of each case, repeats interleaved (or, with
    ``interleave=False``, each case's repeats together: libraries whose thread pools spin
    after a call, such as BLAS and PyTorch, slow each other down when interleaved)."""
    loops = {name: calibrate(fn, min_time) for name, fn in cases.items()}
    samples: dict[str, list[float]] = {name: [] for name in cases}
    order = [name for _ in range(repeats) for name in cases] if interleave else \
        [name for name in cases for _ in range(repeats)]
    for name in order:
        fn, n = cases[name], loops[name]
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples[name].append((time.perf_counter() - t0) / n)
    out = {}
    for name, xs in samples.items():
        median = statistics.median(xs)
        if len(xs) >= 4:
            q = statistics.quantiles(xs, n=4)
            spread = (q[2] - q[0]) / median
        else:
            spread = (max(xs) - min(xs)) / median
        out[name] = (median, spread)
    return out


def first_call(fn: Callable, *args):
    """``fn(*args)`` and the seconds it took (on a fresh JIT function: mostly its compile)."""
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


class OtherLoad:
    """CPU the rest of the machine used while a section ran (a context manager): /proc/stat
    busy time minus this process's and its children's, as a share of the machine."""

    share: float | None = None

    def __enter__(self):
        self._start = self._sample()
        return self

    def __exit__(self, *exc):
        end = self._sample()
        if self._start is not None and end is not None:
            wall, busy, own = (e - s for e, s in zip(end, self._start))
            self.share = max(0.0, busy - own) / (wall * (os.cpu_count() or 1))

    @staticmethod
    def _sample():
        try:
            with open("/proc/stat") as fh:
                fields = list(map(int, fh.readline().split()[1:9]))
        except (OSError, ValueError):
            return None
        user, nice, system, _idle, _iowait, irq, softirq, _steal = fields
        hz = os.sysconf("SC_CLK_TCK")
        own = sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                    resource.getrusage(resource.RUSAGE_CHILDREN)))
        return time.perf_counter(), (user + nice + system + irq + softirq) / hz, own

    def note(self) -> str:
        if self.share is None:
            return "load from other processes: unknown"
        text = f"load from other processes: {self.share:.0%} of the machine"
        return text + (" (not quiet: absolute times are inflated)" if self.share > 0.05 else "")


def machine_info() -> dict:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            m = re.search(r"^model name\s*:\s*(.+)$", fh.read(), re.M)
            cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}
    for name in ("numpy", "numba", "llvmlite", "sympy", "jax", "torch", "casadi"):
        info[name] = package_version(name)
    return info


def package_version(name: str) -> str | None:
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def optional(name: str):
    """The module ``name``, or None when it is not installed (or fails to import)."""
    if name == "jax":
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    try:
        module = __import__(name)
    except Exception:  # absent or broken: that peer is skipped with a note
        return None
    if name == "jax":
        module.config.update("jax_enable_x64", True)
    if name == "torch":
        module.set_num_threads(os.cpu_count() or 1)
    return module


def fmt_time(seconds: float | None) -> str:
    """Seconds in the unit that reads best: ns, us, ms or s."""
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:,.3g} {unit}" if unit != "s" or seconds < 100 else f"{seconds:,.0f} s"
    return f"{seconds * 1e9:,.3g} ns"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table, padded to line up in a terminal."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])
