"""Dask suite: batches and data-parallel gradients on a LocalCluster of 2 single-threaded worker processes.

1. Value and gradient of ``batch.py``'s expression of (x, y, z) at 10^8 points (10^7 with
   ``--quick``), chunks of 5·10^6 (10^6): the inputs made lazily per chunk (``da.linspace``),
   every output summed on the workers (so that the timing is of the work, not of sending
   3.2 GB to the client); beside the in-process parallel batch over the same points held in
   memory (``fn.value_and_grad(X, Y, Z)``, all cores).
2. The reduction form: ``value_and_grad(w, b, X, Y, reduce="sum")`` of a logistic loss at the
   same number of points, on the cluster and in this process (NumPy, in chunks).
3. The hand-written alternative: ``da.map_blocks`` over a SymPy-lambdified value and gradient
   in a ``numba.njit`` loop (Dask gives the parallelism), outputs summed likewise.

For each Dask row: the peak resident memory of each worker (workers restarted before the row,
``ru_maxrss``), Numba compiles per worker (top-level ``numba:compile`` events: a load from a disk
cache counts too) and, for this library, the functions built and batch loops compiled or loaded
per worker process (``runtime.per_process``). Every method's sums are checked against the
in-process batch before timing.
"""

from __future__ import annotations

import resource
import time

import numpy as np

import compiler as cc

from .batch import expression
from .common import BenchmarkError, Row, fmt_time, optional, table as markdown_table

SUITE = "dask"
RTOL = 1e-9


def steps(quick: bool) -> int:
    return 5


class _Compiles:
    """Counts the top-level Numba compiles of a worker process (``numba:compile`` events)."""
    count = 0
    depth = 0

    @classmethod
    def install(cls) -> None:
        from numba.core import event

        class Listener(event.Listener):
            def on_start(self, _):
                cls.depth += 1

            def on_end(self, _):
                cls.depth -= 1
                cls.count += cls.depth == 0
        if not getattr(cls, "listening", False):
            event.register("numba:compile", Listener())
            cls.listening = True


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started (VmHWM: ``ru_maxrss`` would count the
    parent's peak too, for a process forked from it and then exec'd, as Dask's workers are)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _worker_state() -> dict:
    own = cc.runtime.per_process.stats()   # (the facade does not export it: read through the package)
    return {"max_rss_mb": peak_rss_mb(), "numba_compiles": _Compiles.count, **own}


def _fresh_workers(client) -> None:
    client.restart()
    client.run(_Compiles.install)


def _inputs(da, n: int, chunk: int):
    return (da.linspace(-1.0, 1.0, n, chunks=chunk), da.linspace(0.5, 1.5, n, chunks=chunk),
            da.linspace(-2.0, 2.0, n, chunks=chunk))


def _time(run, repeats: int) -> tuple[float, float, object]:
    """Median and spread of ``repeats`` runs of ``run()``, and its last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    return median, (times[-1] - times[0]) / median, out


def _check(what: str, want, got, n: int) -> None:
    """Sums over ``n`` points agree to rounding (an absolute part: a sum may cancel to about 0)."""
    if not np.allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=RTOL, atol=RTOL * n):
        raise BenchmarkError(f"dask suite: {what} disagrees with the in-process batch: {got} != {want}")


def _sympy_chunk():
    """A block function: a SymPy lambdify of value and gradient, njit-compiled, in a serial loop."""
    import numba
    import sympy as sp
    x, y, z = sp.symbols("x y z")
    f = expression(sp)(x, y, z)
    scalar = numba.njit(sp.lambdify((x, y, z), (f, sp.diff(f, x), sp.diff(f, y), sp.diff(f, z)),
                                    modules="math", cse=True))

    @numba.njit
    def loop(X, Y, Z):
        out = np.empty((4, X.shape[0]))
        for i in range(X.shape[0]):
            r = scalar(X[i], Y[i], Z[i])
            out[0, i], out[1, i], out[2, i], out[3, i] = r[0], r[1], r[2], r[3]
        return out
    return loop


def run(quick: bool, progress) -> list[Row]:
    if optional("dask") is None or optional("distributed") is None:
        raise BenchmarkError('the dask suite needs the dask extra: pip install "adjoint-compiler[dask]"')
    import dask
    import dask.array as da
    import distributed
    n, chunk, repeats = (10_000_000, 1_000_000, 2) if quick else (100_000_000, 5_000_000, 3)
    x, y, z, w, b = cc.symbols("x y z w b")
    fn = cc.compile(expression(cc)(x, y, z), [x, y, z], backend="numba")
    lin = z * w + b
    loss = cc.compile(cc.softplus(lin) - x * lin, [w, b, z, x], wrt=[w, b], backend="numba")
    case = f"{n:,} points, chunks of {chunk:,}"
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=40)
    try:
        with distributed.Client(cluster) as client:
            rows, want, want_r = _in_process(fn, loss, n, repeats, case)
            progress()

            def dask_map():
                v, g = fn.value_and_grad(*_inputs(da, n, chunk))
                return dask.compute(v.sum(), *(gi.sum() for gi in g))
            rows.append(_on_cluster(client, case, "compiler on Dask: fn.value_and_grad(DX, DY, DZ), outputs summed",
                                    dask_map, want, repeats, "dask_map", rows[0].seconds))
            progress()

            def dask_reduce():
                _, DY, DZ = _inputs(da, n, chunk)
                return loss.value_and_grad(0.3, -0.2, DZ, (DY > 1.0).astype(float), reduce="sum")
            rows.append(_on_cluster(client, case, 'compiler on Dask: value_and_grad(..., reduce="sum")',
                                    dask_reduce, want_r, repeats, "dask_reduce", rows[1].seconds,
                                    flatten=lambda r: [r[0], *r[1]]))
            progress()

            t0 = time.perf_counter()
            loop = _sympy_chunk()
            lambdify = time.perf_counter() - t0

            def by_hand():
                out = da.map_blocks(loop, *_inputs(da, n, chunk), new_axis=0, chunks=((4,), (chunk,) * (n // chunk)),
                                    dtype=float)
                return out.sum(axis=1).compute()
            rows.append(_on_cluster(client, case, "da.map_blocks over SymPy lambdify + numba.njit (serial loop)",
                                    by_hand, want, repeats, "sympy_map_blocks", rows[0].seconds))
            rows[-1].extra["lambdify_seconds"] = lambdify
            progress()
    finally:
        cluster.close()
    progress()
    return rows


def _in_process(fn, loss, n: int, repeats: int, case: str) -> tuple[list[Row], list, list]:
    """The parallel batch over the points held in memory, and the reduction in chunks, in this
    process; their rows and sums (the reference of the Dask rows)."""
    Y, Z = np.linspace(0.5, 1.5, n), np.linspace(-2.0, 2.0, n)
    target = (Y > 1.0).astype(float)
    loss.value_and_grad(0.3, -0.2, Z[:1000], target[:1000], reduce="sum")   # compiled before timing
    seconds, spread, reduced = _time(lambda: loss.value_and_grad(0.3, -0.2, Z, target, reduce="sum"), repeats)
    rss = peak_rss_mb()
    reduce_row = Row(SUITE, case, 'compiler: value_and_grad(..., reduce="sum") in process (NumPy, chunked)',
                     seconds, n, spread=spread, note=f"inputs in memory ({3 * 8 * n / 2**20:,.0f} MB); peak RSS "
                     f"{rss:,.0f} MB", extra={"key": "reduce_in_process"})
    X = np.linspace(-1.0, 1.0, n)
    fn.value_and_grad(X[:1000], Y[:1000], Z[:1000])
    seconds, spread, (v, g) = _time(lambda: fn.value_and_grad(X, Y, Z), repeats)
    want = [v.sum(), *(gi.sum() for gi in g)]
    rss = peak_rss_mb()
    rows = [Row(SUITE, case, "compiler, numba: fn.value_and_grad(X, Y, Z) in process (2 threads)", seconds, n,
                spread=spread, note=f"inputs and outputs in memory; peak RSS {rss:,.0f} MB", extra={"key": "in_process"}),
            reduce_row]
    return rows, want, [reduced[0], *reduced[1]]


def _on_cluster(client, case: str, method: str, run, want, repeats: int, key: str, baseline: float,
                flatten=None) -> Row:
    """A Dask row: fresh workers, a first run (compiles or loads), ``repeats`` timed runs, the
    workers' peak memory and compile counts."""
    _fresh_workers(client)
    t0 = time.perf_counter()
    first = run()
    first_seconds = time.perf_counter() - t0
    _check(method, want, flatten(first) if flatten else first, int(case.split()[0].replace(",", "")))
    seconds, spread, _ = _time(run, repeats)
    workers = list(client.run(_worker_state).values())
    rss = max(s["max_rss_mb"] for s in workers)
    compiles = "/".join(str(s["numba_compiles"]) for s in workers)
    note = f"peak RSS per worker {rss:,.0f} MB; Numba compiles per worker {compiles}"
    if key != "sympy_map_blocks":
        note += "; built/compiled/loaded per worker " + ", ".join(
            f"{s['built']}/{s['compiled']}/{s['loaded']}" for s in workers)
    return Row(SUITE, case, method, seconds, compile_seconds=first_seconds, spread=spread, note=note,
               extra={"key": key, "workers": workers, "vs_in_process": seconds / baseline})


def table(rows: list[Row]) -> str:
    body = []
    for r in rows:
        ratio = r.extra.get("vs_in_process")
        body.append([r.method, fmt_time(r.seconds), f"{ratio:.2f}x" if ratio else "-",
                     fmt_time(r.compile_seconds), r.note])
    case = rows[0].case if rows else ""
    return f"{case}\n\n" + markdown_table(["method", "time", "time / in-process", "first run", "note"], body)
