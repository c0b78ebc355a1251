"""MLP suite: one training step's value and gradient of a small network, float64.

``python -m compiler.bench.mlp METHOD [--quick]`` times one method in a fresh process.

A 2-64-64-1 tanh MLP, batch 256, mean squared error; the value and the
gradient with respect to every weight, per call. Methods: this library
(Numba and the llvm target, after their compile; its NumPy code, ``backend="python"``; and the same
network written with ``np.einsum("bi,ij->bj", h, W)`` for ``h @ W``, which
must lower to the same products), PyTorch eager autograd and
``jax.jit(jax.value_and_grad)``, when installed.
"""

from __future__ import annotations

import numpy as np

from .common import Row, first_call, optional, run_module, timed

SUITE = "mlp"
SIZES = (2, 64, 64, 1)
BATCH = 256


def _data(rng):
    weights = []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        weights += [rng.normal(0.0, 1.0 / np.sqrt(a), (a, b)), rng.normal(0.0, 0.1, b)]
    return weights, rng.normal(size=(BATCH, SIZES[0])), rng.normal(size=(BATCH, SIZES[-1]))


def _forward(params, X, tanh, product=lambda h, w: h @ w):
    """The network on X: linear layers, tanh between them."""
    h = X
    for k in range(0, len(params), 2):
        h = product(h, params[k]) + params[k + 1]
        if k < len(params) - 2:
            h = tanh(h)
    return h


METHODS = ("compiler (Numba)", "compiler (llvm)", 'compiler, backend="python" (NumPy)', "compiler, np.einsum for @ (Numba)",
           "PyTorch eager", "jax.jit(value_and_grad)")
FLOAT32 = " float32"  # a method's name with this suffix: the same network, data and weights in float32
METHODS32 = ("compiler (Numba)" + FLOAT32, "compiler (llvm)" + FLOAT32, "PyTorch eager" + FLOAT32, "jax.jit(value_and_grad)" + FLOAT32)


def measure(method: str, quick: bool) -> dict | None:
    """One method, timed in this process: {"seconds", "spread", "ready", "value"}; None if its
    library is not installed."""
    repeats, min_time = (5, 0.05) if quick else (15, 0.2)
    weights, X, y = _data(np.random.default_rng(0))
    dtype = "float32" if method.endswith(FLOAT32) else "float64"
    method = method.removesuffix(FLOAT32)
    weights, X, y = [w.astype(dtype) for w in weights], X.astype(dtype), y.astype(dtype)
    if method.startswith("compiler"):
        import compiler as cc
        params = [cc.Tensor(f"{'W' if k % 2 == 0 else 'b'}{k // 2 + 1}", w.shape, dtype)
                  for k, w in enumerate(weights)]
        Xs, ys = cc.Tensor("X", X.shape, dtype), cc.Tensor("y", y.shape, dtype)
        product = (lambda h, w: np.einsum("bi,ij->bj", h, w)) if "einsum" in method else (lambda h, w: h @ w)
        loss = cc.mean((_forward(params, Xs, cc.tanh, product) - ys) ** 2)
        # each compiled target by name ("auto" picks one of them: docs/guide/backends.md)
        backend = "python" if "NumPy" in method else "llvm" if "llvm" in method else "numba"
        step = cc.compile(loss, params + [Xs, ys], wrt=params, backend=backend)
        _, ready = first_call(step.wait)
        call = lambda: step.value_and_grad(*weights, X, y)  # noqa: E731
        value = call()[0]
    elif method == "PyTorch eager":
        torch = optional("torch")
        if torch is None:
            return None
        tw = [torch.tensor(w, requires_grad=True) for w in weights]
        tX, ty = torch.tensor(X), torch.tensor(y)

        def call():
            for w in tw:
                w.grad = None
            out = ((_forward(tw, tX, torch.tanh) - ty) ** 2).mean()
            out.backward()
            return out.item()
        value, ready = first_call(call)
    else:
        jax = optional("jax")
        if jax is None:
            return None
        jnp = jax.numpy
        vg = jax.jit(jax.value_and_grad(lambda ws, X, y: jnp.mean((_forward(ws, X, jnp.tanh) - y) ** 2)))
        jw, jX, jy = [jnp.asarray(w) for w in weights], jnp.asarray(X), jnp.asarray(y)
        call = lambda: jax.block_until_ready(vg(jw, jX, jy))  # noqa: E731
        out, ready = first_call(call)
        value = float(out[0])
    seconds, spread = timed({"m": call}, repeats, min_time)["m"]
    return {"seconds": seconds, "spread": spread, "ready": ready, "value": float(value)}


def run(quick: bool, progress) -> list[Row]:
    """Each method in a fresh process: thread pools of one library (NumPy's BLAS, PyTorch's)
    slow the others down when they share a process."""
    import json
    case = f"MLP {'-'.join(map(str, SIZES))} tanh, batch {BATCH}, MSE"
    rows: list[Row] = []
    reference: dict[str, float] = {}  # precision -> the first method's loss
    for method in METHODS + METHODS32:
        out = run_module("compiler.bench.mlp", [method] + (["--quick"] if quick else []), timeout=1800)
        if out.returncode != 0:
            raise RuntimeError(f"mlp: {method} failed:\n{out.stderr[-2000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        if r is None:
            continue
        precision = "float32" if method.endswith(FLOAT32) else "float64"
        ref = reference.setdefault(precision, r["value"])
        if abs(r["value"] - ref) > (1e-5 if precision == "float32" else 1e-10) * abs(ref):
            raise AssertionError(f"mlp: {method} gives {r['value']}, the compiler {ref}")
        rows.append(Row(SUITE, case + (" (float32)" if precision == "float32" else ""), method, r["seconds"],
                        BATCH, r["ready"], r["spread"], "each method in its own process"))
    progress()
    return rows


if __name__ == "__main__":
    import json
    import sys
    print(json.dumps(measure(sys.argv[1], "--quick" in sys.argv[2:])))
