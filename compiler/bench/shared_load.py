"""Shared-machine suite: batch calls while other processes keep cores busy.

The batch suite's expression (value and gradient) at 10^4 ... 10^6 points, each call
timed alone (the median and the 90th percentile of many calls, not the minimum): on the
quiet machine, then with busy-looping child processes on all cores but one, with this
library's thread count per call (``runtime.threads``) and with it turned off (every call
on all of Numba's threads, as before). The goal: a loaded call's median within 2x of
the quiet one, and no long tail (the mean and the 90th percentile are reported too).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from .batch import expression
from .common import Row

SUITE = "shared"
SIZES = (10_000, 100_000, 1_000_000)


def steps(quick: bool) -> int:
    return len(SIZES[:2] if quick else SIZES)


@contextlib.contextmanager
def competing(processes: int):
    """``processes`` child processes spinning on the CPU for the duration of the block."""
    children = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        time.sleep(0.3)  # started and scheduled
        yield
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()  # reaped: their CPU counts as this process's children's, not as other load


def _calls(f, seconds: float) -> list[float]:
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 15:
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return times


def run(quick: bool, progress) -> list[Row]:
    import compiler as cc
    x, y, z = cc.symbols("x y z")
    fn = cc.compile(expression(cc)(x, y, z), [x, y, z], backend="numba")
    rng = np.random.default_rng(0)
    others = max(1, (os.cpu_count() or 1) - 1)
    seconds = 0.2 if quick else 1.5
    rows: list[Row] = []
    for n in SIZES[:2] if quick else SIZES:
        X, Y, Z = (rng.uniform(-2, 2, n) for _ in range(3))
        call = lambda: fn.value_and_grad(X, Y, Z)  # noqa: E731
        call()
        quiet = _calls(call, seconds)
        with competing(others):
            loaded = _calls(call, seconds)
            previous = os.environ.get("COMPILER_THREADS")
            os.environ["COMPILER_THREADS"] = "all"  # read on every batch call
            try:
                all_threads = _calls(call, seconds)
            finally:
                os.environ.pop("COMPILER_THREADS")
                if previous is not None:
                    os.environ["COMPILER_THREADS"] = previous
        base = statistics.median(quiet)
        for method, times in (("quiet machine", quiet),
                              (f"{others} core(s) busy elsewhere, threads per call", loaded),
                              (f"{others} core(s) busy elsewhere, all threads (before)", all_threads)):
            median = statistics.median(times)
            rows.append(Row(SUITE, f"{n:,} points", method, median, n,
                            note=f"mean {np.mean(times) * 1e3:.3g} ms, p90 {np.percentile(times, 90) * 1e3:.3g} ms; "
                                 f"median {median / base:.2f}x the quiet one",
                            extra={"p90": float(np.percentile(times, 90)), "calls": len(times)}))
        progress()
    return rows
