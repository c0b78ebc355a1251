"""Batch loops release the GIL: two Python threads evaluating batches run on two cores at once.

    python benchmarks/threads.py

Numba's own parallelism is set to one thread (``numba.set_num_threads(1)``),
so each batch runs on one core; then the same work — 4 batches of 1,000,000
points of the core benchmark's expression, value and gradient — runs in one
Python thread, and split between two. With the GIL held during a batch, the
two threads would take as long as one; released, they take about half.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numba  # noqa: E402
import numpy as np  # noqa: E402

import compiler as cc  # noqa: E402
from compiler.bench.batch import expression  # noqa: E402

N, BATCHES = 1_000_000, 4


def main() -> int:
    x, y, z = cc.symbols("x y z")
    fn = cc.compile(expression(cc)(x, y, z), [x, y, z], backend="numba")
    rng = np.random.default_rng(0)
    data = [tuple(rng.uniform(-2, 2, N) for _ in range(3)) for _ in range(BATCHES)]
    fn.value_and_grad(*data[0])  # compile

    def work(chunk):
        numba.set_num_threads(1)  # per thread: Numba's pool is not what runs in parallel here
        for X, Y, Z in chunk:
            fn.value_and_grad(X, Y, Z)

    def timed(n_threads: int) -> float:
        chunks = [data[k::n_threads] for k in range(n_threads)]
        threads = [threading.Thread(target=work, args=(c,)) for c in chunks]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - t0

    timed(1), timed(2)  # warm-up
    one = min(timed(1) for _ in range(3))
    two = min(timed(2) for _ in range(3))
    print(f"{BATCHES} batches of {N:,} points, value and gradient, Numba threads per batch: 1")
    print(f"  one Python thread:  {one * 1e3:.0f} ms")
    print(f"  two Python threads: {two * 1e3:.0f} ms  (speedup {one / two:.2f}x on {numba.config.NUMBA_NUM_THREADS} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
