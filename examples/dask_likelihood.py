"""Maximum likelihood over 10^8 points on a Dask cluster: a logistic regression fitted by L-BFGS with
the gradient from the data-parallel reduction (``value_and_grad(..., reduce="mean")``).

The data are generated lazily by ``dask.array.random``, chunk by chunk on the workers, and never
materialised on one of them (each evaluation makes them again from the same seed). Each evaluation
is one pass: every chunk's task runs the compiled batch loop and gives the sums of its points,
which Dask adds by a tree reduction.

    python examples/dask_likelihood.py                 # 10^8 points, a local cluster of 2 processes (about 80 s)
    python examples/dask_likelihood.py --n 1000000     # quick (a few seconds)
    python examples/dask_likelihood.py --address tcp://scheduler:8786   # an existing cluster

Needs the dask extra: pip install "adjoint-compiler[dask]".
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy.optimize import minimize

import compiler as cc

TRUE_W, TRUE_B = 1.5, -0.7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=float, default=1e8, help="points (default 1e8)")
    parser.add_argument("--chunk", type=float, default=5e6, help="points per chunk (default 5e6)")
    parser.add_argument("--address", help="a Dask scheduler to use (default: a LocalCluster of 2 processes)")
    args = parser.parse_args()
    try:
        import dask.array as da
        from distributed import Client, LocalCluster, progress
    except ImportError as exc:
        raise SystemExit(f'this example needs the dask extra: pip install "adjoint-compiler[dask]" ({exc})')
    n, chunk = int(args.n), int(args.chunk)

    w, b, x, y = cc.symbols("w b x y")
    z = w * x + b
    nll = cc.compile(cc.softplus(z) - y * z, [w, b, x, y], wrt=[w, b], backend="numba")  # per point

    cluster = None if args.address else LocalCluster(n_workers=2, threads_per_worker=1, processes=True)
    with Client(args.address or cluster) as client:
        print(f"dashboard: {client.dashboard_link}")
        rs = da.random.RandomState(0)
        X = rs.normal(size=n, chunks=chunk)                                    # lazy: nothing is made yet
        Y = (rs.uniform(size=n, chunks=chunk) < 1 / (1 + np.exp(-(TRUE_W * X + TRUE_B)))).astype(float)

        # a first pass with Dask's progress bar: the share of positive labels starts the intercept
        share = client.compute(Y.mean())
        progress(share)
        p = share.result()
        print(f"\n{n:,} points in {X.numblocks[0]} chunks; share of y = 1: {p:.4f}")

        calls, t0 = [0], time.perf_counter()

        def objective(theta):
            value, grad = nll.value_and_grad(theta[0], theta[1], X, Y, reduce="mean")
            calls[0] += 1
            print(f"  evaluation {calls[0]:2d}: mean nll {value:.6f}  |grad| {math.hypot(*grad):.2e}  "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
            return value, np.array(grad)

        fit = minimize(objective, np.array([0.0, math.log(p / (1 - p))]), jac=True, method="L-BFGS-B",
                       options={"gtol": 1e-7})
        seconds = time.perf_counter() - t0
        print(f"{fit.nit} iterations, {calls[0]} passes over the data, {seconds:.1f} s "
              f"({seconds / calls[0] / n * 1e9:.1f} ns per point and pass)")
        print(f"fit: w = {fit.x[0]:.4f}, b = {fit.x[1]:.4f} (true: w = {TRUE_W}, b = {TRUE_B})")
    if cluster is not None:
        cluster.close()


if __name__ == "__main__":
    main()
