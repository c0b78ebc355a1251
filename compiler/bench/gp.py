"""Linalg suite: a Gaussian process's negative log marginal likelihood, value and gradient.

``python -m compiler.bench.gp METHOD N [--quick]`` times one method at n points in a fresh process.

An RBF kernel with three hyperparameters (log length scale, log signal and
noise standard deviations) on n points of 1-D data; the loss is
``0.5 y^T K^-1 y + sum(log diag L) + n/2 log 2 pi`` with ``L = cholesky(K)``
and ``K^-1 y`` by ``cho_solve``; the gradient with respect to the three
hyperparameters. Methods: this library (Numba; its NumPy code), PyTorch eager
autograd and ``jax.jit(jax.value_and_grad)`` when installed.
"""

from __future__ import annotations

import math

import numpy as np

from .common import Row, first_call, optional, run_module, timed

SUITE = "linalg"
SIZES = (200, 500, 2000)
THETA = np.array([np.log(0.7), np.log(1.2), np.log(0.3)])
METHODS = ("compiler (Numba)", 'compiler, backend="python" (NumPy)', "PyTorch eager", "jax.jit(value_and_grad)")


def data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-5.0, 5.0, n))
    return x, np.sin(x) + 0.3 * rng.normal(size=n)


def nlml(theta, x, y, ops):
    """The loss in the array library ``ops`` (``exp``, ``cholesky``, ``cho_solve``, ``log``, ``diag``)."""
    n = x.shape[0]
    ell, sf, sn = ops.exp(theta[0]), ops.exp(theta[1]), ops.exp(theta[2])
    d = x[:, None] - x[None, :]
    K = sf ** 2 * ops.exp(-0.5 * d ** 2 / ell ** 2) + ops.diag(sn ** 2 + 0.0 * x)
    L = ops.cholesky(K)
    alpha = ops.cho_solve(L, y)
    return 0.5 * ops.sum(y * alpha) + ops.sum(ops.log(ops.diagonal(L))) + 0.5 * n * math.log(2 * math.pi)


class _Compiler:
    def __init__(self):
        import compiler as cc
        self.cc = cc
        self.exp, self.log, self.sum, self.diag, self.diagonal = cc.exp, cc.log, cc.sum, cc.diag, cc.diagonal
        self.cholesky = np.linalg.cholesky

    def cho_solve(self, L, y):
        return self.cc.linalg.cho_solve((L, True), y)


def compiled(n: int, backend: str = "auto"):
    """The loss's compiled function of (theta, x, y), derivatives with respect to theta."""
    import compiler as cc
    theta, x, y = cc.Tensor("theta", (3,)), cc.Tensor("x", (n,)), cc.Tensor("y", (n,))
    return cc.compile(nlml(theta, x, y, _Compiler()), [theta, x, y], wrt=theta, backend=backend, progress=False)


def _torch_ops(torch):
    class Ops:
        exp, log, sum, diag, cholesky = torch.exp, torch.log, torch.sum, torch.diag, torch.linalg.cholesky

        @staticmethod
        def diagonal(L):
            return torch.diagonal(L)

        @staticmethod
        def cho_solve(L, y):
            return torch.cholesky_solve(y[:, None], L)[:, 0]
    return Ops


def _jax_ops(jax):
    import jax.scipy.linalg as jsl
    jnp = jax.numpy

    class Ops:
        exp, log, sum, diag, diagonal, cholesky = jnp.exp, jnp.log, jnp.sum, jnp.diag, jnp.diagonal, jnp.linalg.cholesky

        @staticmethod
        def cho_solve(L, y):
            return jsl.cho_solve((L, True), y)
    return Ops


def measure(method: str, n: int, quick: bool) -> dict | None:
    """One method at n points, timed in this process: {"seconds", "spread", "ready", "value", "grad"};
    None if its library is not installed."""
    repeats, min_time = (3, 0.05) if quick else (9, 0.2)
    x, y = data(n)
    if method.startswith("compiler"):
        fn = compiled(n, "python" if "NumPy" in method else "numba")
        call = lambda: fn.value_and_grad(THETA, x, y)  # noqa: E731
        out, ready = first_call(call)
        value, grad = out
    elif method == "PyTorch eager":
        torch = optional("torch")
        if torch is None:
            return None
        torch.set_default_dtype(torch.float64)
        tx, ty = torch.tensor(x), torch.tensor(y)
        ops = _torch_ops(torch)

        def call():
            t = torch.tensor(THETA, requires_grad=True)
            out = nlml(t, tx, ty, ops)
            out.backward()
            return out.item(), t.grad.numpy()
        (value, grad), ready = first_call(call)
    else:
        jax = optional("jax")
        if jax is None:
            return None
        jax.config.update("jax_enable_x64", True)
        ops = _jax_ops(jax)
        vg = jax.jit(jax.value_and_grad(lambda t, x, y: nlml(t, x, y, ops)))
        jx, jy, jt = jax.numpy.asarray(x), jax.numpy.asarray(y), jax.numpy.asarray(THETA)
        call = lambda: jax.block_until_ready(vg(jt, jx, jy))  # noqa: E731
        out, ready = first_call(call)
        value, grad = float(out[0]), np.asarray(out[1])
    seconds, spread = timed({"m": call}, repeats, min_time)["m"]
    return {"seconds": seconds, "spread": spread, "ready": ready, "value": float(value),
            "grad": [float(g) for g in np.ravel(grad)]}


def steps(quick: bool) -> int:
    return len(SIZES[:2] if quick else SIZES)


def run(quick: bool, progress) -> list[Row]:
    """Each method and size in a fresh process (BLAS and PyTorch thread pools slow each other down);
    every method's value and gradient checked against the first's."""
    import json
    rows = []
    for n in (SIZES[:2] if quick else SIZES):
        case = f"GP -log marginal likelihood + gradient (3 hyperparameters), n = {n}"
        reference = None
        for method in METHODS:
            out = run_module("compiler.bench.gp", [method, str(n)] + (["--quick"] if quick else []), timeout=1800)
            if out.returncode != 0:
                raise RuntimeError(f"linalg: {method} failed at n = {n}:\n{out.stderr[-2000:]}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            if r is None:
                rows.append(Row(SUITE, case, method, None, n, note="not installed"))
                continue
            reference = reference or r
            if not np.allclose(r["grad"] + [r["value"]], reference["grad"] + [reference["value"]], rtol=1e-6):
                raise AssertionError(f"linalg: {method} gives {r['value']}, {r['grad']} at n = {n}; the "
                                     f"first method {reference['value']}, {reference['grad']}")
            rows.append(Row(SUITE, case, method, r["seconds"], n, r["ready"], r["spread"],
                            "each method in its own process"))
        progress()
    return rows


if __name__ == "__main__":
    import json
    import sys
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]), "--quick" in sys.argv[3:])))
