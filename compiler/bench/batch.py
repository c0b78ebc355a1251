"""Batch suite: value and gradient of one expression at 1e3 ... 1e7 points.

``exp(-(x**2 + y**2))*sin(3*z) + log(1 + x**2*y**2) + tanh(x*y*z) + sqrt(1 + z**2)*cos(x - y)``
with respect to x, y, z. Methods: this library (its parallel loop on vector
units where ``cc.simd_info()`` says so, and the scalar loop, ``simd=False``), a
``numba.prange`` loop over SymPy ``lambdify(cse=True)`` (into preallocated
arrays), ``jax.jit(vmap(value_and_grad))``, PyTorch autograd on arrays, and,
on small batches only (scaled per point), ``backend="python"`` and the eager tape.
"""

from __future__ import annotations

import time

import numpy as np

from . import tape
from .common import Row, first_call, optional, timed

SUITE = "batch"
CASE = "exp(-(x²+y²))·sin(3z) + log(1+x²y²) + tanh(xyz) + sqrt(1+z²)·cos(x−y)"


def expression(m):
    def f(x, y, z):
        return (m.exp(-(x ** 2 + y ** 2)) * m.sin(3 * z) + m.log(1 + x ** 2 * y ** 2)
                + m.tanh(x * y * z) + m.sqrt(1 + z ** 2) * m.cos(x - y))
    return f


def _sympy_loop(sp):
    import numba
    x, y, z = sp.symbols("x y z")
    f = expression(sp)(x, y, z)
    scalar = numba.njit(sp.lambdify((x, y, z), (f, sp.diff(f, x), sp.diff(f, y), sp.diff(f, z)),
                                    modules="math", cse=True))

    @numba.njit(parallel=True)
    def loop(X, Y, Z, out):
        for i in numba.prange(X.shape[0]):
            r = scalar(X[i], Y[i], Z[i])
            out[0, i], out[1, i], out[2, i], out[3, i] = r[0], r[1], r[2], r[3]
    return loop


def run(quick: bool, progress) -> list[Row]:
    import compiler as cc
    sizes = [1_000, 10_000, 100_000] if quick else [1_000, 10_000, 100_000, 1_000_000, 10_000_000]
    repeats, min_time = (3, 0.02) if quick else (7, 0.1)
    sp, jax, torch = optional("sympy"), optional("jax"), optional("torch")
    x, y, z = cc.symbols("x y z")
    fn = cc.compile(expression(cc)(x, y, z), [x, y, z])
    scalar = cc.compile(expression(cc)(x, y, z), [x, y, z], simd=False)
    # the same in float32: twice the lanes on the vector path (16 floats with AVX-512)
    fn32, name32 = cc.compile(expression(cc)(x, y, z), [x, y, z], dtype="float32"), float32_name()
    ours, scalar_name = ours_name(), "compiler, simd=False (scalar loop, parallel)"
    py = cc.compile(expression(cc)(x, y, z), [x, y, z], backend="python")
    rng = np.random.default_rng(0)
    compiled: dict[str, float] = {}
    small = [rng.uniform(-2, 2, 16) for _ in range(3)]
    _, compiled[ours] = first_call(fn.value_and_grad, *small)
    _, compiled[scalar_name] = first_call(scalar.value_and_grad, *small)
    _, compiled[name32] = first_call(fn32.value_and_grad, *[a.astype(np.float32) for a in small])
    loop = None
    if sp is not None:
        t0 = time.perf_counter()
        loop = _sympy_loop(sp)
        loop(*small, np.empty((4, 16)))
        compiled["SymPy lambdify(cse) + numba prange"] = time.perf_counter() - t0
    if jax is not None:
        vg = jax.jit(jax.vmap(jax.value_and_grad(expression(jax.numpy), argnums=(0, 1, 2))))
    f_tape = expression(tape.functions)
    f_torch = expression(torch) if torch is not None else None
    rows: list[Row] = []
    for n in sizes:
        X, Y, Z = (rng.uniform(-2, 2, n) for _ in range(3))
        X32, Y32, Z32 = (a.astype(np.float32) for a in (X, Y, Z))
        methods = {ours: lambda: fn.value_and_grad(X, Y, Z), name32: lambda: fn32.value_and_grad(X32, Y32, Z32)}
        if cc.simd_info().available:
            methods[scalar_name] = lambda: scalar.value_and_grad(X, Y, Z)
        scale = {}
        if loop is not None:
            out = np.empty((4, n))
            methods["SymPy lambdify(cse) + numba prange"] = lambda out=out: loop(X, Y, Z, out)
        if jax is not None:
            JX, JY, JZ = (jax.device_put(a) for a in (X, Y, Z))
            if n == sizes[0]:
                _, compiled["jax.jit(vmap(value_and_grad))"] = first_call(
                    lambda: jax.block_until_ready(vg(JX, JY, JZ)))
            else:
                jax.block_until_ready(vg(JX, JY, JZ))  # a new shape: compiled before timing
            methods["jax.jit(vmap(value_and_grad))"] = lambda: jax.block_until_ready(vg(JX, JY, JZ))
        if torch is not None:
            TX, TY, TZ = (torch.tensor(a) for a in (X, Y, Z))

            def torch_call():
                xs = [t.clone().requires_grad_(True) for t in (TX, TY, TZ)]
                f = f_torch(*xs)
                f.sum().backward()
                return f, [t.grad for t in xs]
            methods["PyTorch autograd (arrays)"] = torch_call
        if n <= 10_000:  # per point in Python: slow, so a slice of the batch, scaled
            k = min(n, 1_000)
            methods['compiler, backend="python"'] = lambda k=k: py.value_and_grad(X[:k], Y[:k], Z[:k])
            scale['compiler, backend="python"'] = n / k
            k2 = min(n, 200)
            methods["eager tape (micrograd-style)"] = lambda k2=k2: [
                tape.value_and_grad(f_tape, X[i], Y[i], Z[i]) for i in range(k2)]
            scale["eager tape (micrograd-style)"] = n / k2
        _check(n, fn.value_and_grad(X, Y, Z), loop, X, Y, Z)
        v32, v64 = fn32(X32, Y32, Z32), fn(X32, Y32, Z32)  # float32 against float64 at the same inputs
        if v32.dtype != np.float32 or not np.allclose(v32, v64, rtol=1e-5, atol=1e-5):
            raise AssertionError("batch: float32 and float64 disagree beyond float32 precision")
        for method, (seconds, spread) in timed(methods, repeats, min_time).items():
            note = f"measured on {n / scale[method]:,.0f} points, scaled" if method in scale else ""
            rows.append(Row(SUITE, f"{n:,} points", method, seconds * scale.get(method, 1.0), n,
                            compiled.get(method) if n == sizes[0] else None, spread, note))
        progress()
    return rows


def float32_name() -> str:
    """This library's method in float32: on vector units (16 or 8 floats) or the scalar loop."""
    import compiler as cc
    info = cc.simd_info()
    where = f"{info.isa}, {2 * info.width} floats" if info.available else "scalar loop"
    return f'compiler, dtype="float32" ({where}, parallel)'


def ours_name() -> str:
    """This library's method: on vector units (which) or the scalar loop."""
    import compiler as cc
    info = cc.simd_info()
    return f"compiler ({info.isa} vector math, parallel)" if info.available else "compiler (scalar loop, parallel)"


def _check(n, ours, loop, X, Y, Z) -> None:
    if loop is None:
        return
    out = np.empty((4, n))
    loop(X, Y, Z, out)
    mine = np.vstack([ours[0], *ours[1]])
    if not np.allclose(mine, out, rtol=1e-10, atol=1e-12):
        raise AssertionError("batch: the compiler and the SymPy loop disagree")
