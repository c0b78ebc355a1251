"""Gaussian-process regression: three kernel hyperparameters fitted by L-BFGS-B with the exact gradient.

The negative log marginal likelihood ``0.5 y^T K^-1 y + 0.5 log det K + n/2 log 2 pi`` of an RBF
kernel (length scale, signal and noise standard deviations, all as logarithms) is written with
``np.linalg.cholesky`` and ``cc.linalg.cho_solve`` on symbolic tensors and compiled once; SciPy's
L-BFGS-B takes its value and gradient. Then the posterior mean and a 2-sigma band are plotted.

    python examples/gaussian_process.py            # 300 points, plot gaussian_process.png
    python examples/gaussian_process.py --quick    # 60 points, the NumPy code (no Numba compile)
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from scipy.optimize import minimize

import compiler as cc


def negative_log_marginal_likelihood(theta, x, y):
    """The loss of log hyperparameters ``theta`` (length scale, signal sd, noise sd) on data x, y."""
    n = x.shape[0]
    ell, sf, sn = cc.exp(theta[0]), cc.exp(theta[1]), cc.exp(theta[2])
    d = x[:, None] - x[None, :]
    K = sf ** 2 * cc.exp(-0.5 * d ** 2 / ell ** 2) + cc.diag(sn ** 2 + 0.0 * x)  # noise on the diagonal
    L = np.linalg.cholesky(K)
    alpha = cc.linalg.cho_solve((L, True), y)  # K^-1 y
    return 0.5 * cc.sum(y * alpha) + cc.sum(cc.log(cc.diagonal(L))) + 0.5 * n * math.log(2 * math.pi)


def posterior(theta, x, y, grid):
    """The posterior mean and standard deviation at ``grid`` (plain NumPy, hyperparameters fixed)."""
    ell, sf, sn = np.exp(theta)

    def k(a, b):
        return sf ** 2 * np.exp(-0.5 * (a[:, None] - b[None, :]) ** 2 / ell ** 2)
    L = np.linalg.cholesky(k(x, x) + sn ** 2 * np.eye(len(x)))
    ks = k(grid, x)
    mean = ks @ np.linalg.solve(L.T, np.linalg.solve(L, y))
    v = np.linalg.solve(L, ks.T)
    return mean, np.sqrt(np.maximum(sf ** 2 - np.sum(v ** 2, axis=0), 0.0))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 points and the NumPy code: a few seconds")
    parser.add_argument("--plot", default="gaussian_process.png", help="the plot's file ('' for none)")
    args = parser.parse_args(argv)
    n = 60 if args.quick else 300
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(-5.0, 5.0, n))
    y = np.sin(x) + 0.3 * rng.normal(size=n)  # true noise sd 0.3

    theta, xs, ys = cc.Tensor("theta", (3,)), cc.Tensor("x", (n,)), cc.Tensor("y", (n,))
    loss = cc.compile(negative_log_marginal_likelihood(theta, xs, ys), [theta, xs, ys], wrt=theta,
                      backend="python" if args.quick else "numba", progress=False)
    start = np.log([1.0, 1.0, 1.0])
    result = minimize(lambda t: loss.value_and_grad(t, x, y), start, jac=True, method="L-BFGS-B")
    ell, sf, sn = np.exp(result.x)
    print(f"-log marginal likelihood {loss(start, x, y):.4f} -> {result.fun:.4f} in {result.nit} iterations")
    print(f"length scale {ell:.3f}, signal sd {sf:.3f}, noise sd {sn:.3f}")
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        grid = np.linspace(-6.0, 6.0, 400)
        mean, sd = posterior(result.x, x, y, grid)
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.fill_between(grid, mean - 2 * sd, mean + 2 * sd, alpha=0.3, label="2 sd band")
        ax.plot(grid, mean, label="posterior mean")
        ax.plot(x, y, "k.", ms=3, label="data")
        ax.plot(grid, np.sin(grid), "--", lw=1, label="sin(x)")
        ax.legend(loc="upper right")
        ax.set_title(f"GP regression, n = {n}: length {ell:.2f}, signal {sf:.2f}, noise {sn:.2f}")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"plot written to {args.plot}")


if __name__ == "__main__":
    main()
