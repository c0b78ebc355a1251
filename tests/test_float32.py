"""float32: every scalar op's value and derivative against the float64 result rounded to float32.

The oracle of a float32 result is the same op compiled in float64 (itself checked against
mpmath in ``test_ops_oracle``) at the same float32 input, rounded to float32: a float32
computation is right when it is within a few float32 ulps of that. The python backend is
tested broadly (every op, many points); Numba through one multi-output function of every op
(a module fixture: one compile); the llvm target, scalar and on vectors (16 floats with
AVX-512; 8 with AVX2, in a process with ``COMPILER_SIMD=4``), through one function too.
"""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest

import compiler as cc
from compiler import ir
from compiler.errors import ArgumentError, UnsupportedError

f32 = np.float32
x32 = cc.Symbol("x", dtype="float32")
x64 = cc.Symbol("x")
y32, y64 = cc.Symbol("y", dtype="float32"), cc.Symbol("y")

# unary ops and where they are well-conditioned (derivative rules such as tanh' = 1 - tanh**2
# cancel in any precision where |x| is large: those points measure the rule, not the precision)
INTERVALS = {"log": (0.05, 20), "sqrt": (0.05, 20), "log1p": (-0.5, 20), "log2": (0.05, 20), "log10": (0.05, 20),
             "asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "atanh": (-0.9, 0.9), "acosh": (1.1, 20),
             "gamma": (0.2, 6), "gammaln": (0.2, 6), "digamma": (0.2, 6), "cbrt": (0.05, 20)}
UNARY = ["neg", "exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos", "atan",
         "log1p", "expm1", "erf", "erfc", "abs", "relu", "sigmoid", "softplus", "log2", "log10", "exp2",
         "asinh", "acosh", "atanh", "cbrt", "gamma", "gammaln", "digamma"]
BINARY = ["add", "sub", "mul", "div", "pow", "atan2", "maximum", "minimum", "hypot", "logaddexp"]
# float32 ulps found (python backend, the points below): values at most 2 (asin, sigmoid,
# softplus, log10), derivatives at most 4 (erf, erfc, sigmoid) but for tanh's. A derivative
# rule that cancels (tanh' = 1 - tanh**2 is 0.0099 at -3, from terms of size 1) loses what any
# float32 evaluation of it loses: there the error is bounded by GRAD_ULPS float32 epsilons of
# the terms (size 1 here) instead of ulps of the small result
VALUE_ULPS, GRAD_ULPS = 4, 8
EPS32 = float(np.finfo(np.float32).eps)
SPECIAL = [0.0, -0.0, 1e-30, -1e-30, 1e30, -1e30, math.inf, -math.inf, math.nan]


def ulps(got, want) -> np.ndarray:
    """|got - want| in float32 ulps of ``want`` (0 where both are the same inf or both nan)."""
    with np.errstate(over="ignore"):  # a float64 reference beyond float32's range rounds to inf
        got, want = np.asarray(got, np.float64), np.asarray(want, np.float32).astype(np.float64)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    spacing = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(same, 0.0, np.abs(got - want) / spacing)


def grad_close(got, want) -> bool:
    """Within GRAD_ULPS ulps, or (a cancelling rule) GRAD_ULPS epsilons of terms of size 1."""
    with np.errstate(invalid="ignore"):  # (inf - inf: the ulps test decides)
        err = np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))
    return bool(np.all((ulps(got, want) <= GRAD_ULPS) | (err <= GRAD_ULPS * EPS32 * np.maximum(1.0, np.abs(want)))))


def points(op: str) -> np.ndarray:
    lo, hi = INTERVALS.get(op, (-3.0, 3.0))
    return np.linspace(lo, hi, 37).astype(np.float32)


@pytest.fixture(scope="module")
def pairs():
    """op -> (float32 function, float64 function), python backend."""
    out = {}
    for op in UNARY:
        out[op] = tuple(cc.compile(ir.apply(op, s), [s], backend="python") for s in (x32, x64))
    for op in BINARY:
        out[op] = tuple(cc.compile(ir.apply(op, s, t), [s, t], backend="python") for s, t in ((x32, y32), (x64, y64)))
    return out


@pytest.mark.parametrize("op", UNARY)
def test_unary_op_within_ulps_of_float64_rounded(pairs, op):
    f, g = pairs[op]
    assert f.dtype == "float32"
    for p in points(op):
        v, (d,) = f.value_and_grad(p)
        assert type(v) is f32 and type(d) is f32
        v64, (d64,) = g.value_and_grad(float(p))  # the same float32 input, exactly
        assert ulps(v, v64) <= VALUE_ULPS, (op, p, v, v64)
        assert grad_close(d, d64), (op, p, d, d64)


@pytest.mark.parametrize("op", BINARY)
def test_binary_op_within_ulps_of_float64_rounded(pairs, op):
    f, g = pairs[op]
    grid = np.linspace(0.25, 3.0, 9).astype(np.float32) if op == "pow" else np.linspace(-3, 3, 9).astype(np.float32)
    for a in grid:
        for b in np.linspace(-2.5, 2.5, 7).astype(np.float32):
            if op in ("maximum", "minimum") and a == b:
                continue  # the derivative's tie-break is a convention
            v, d = f.value_and_grad(a, b)
            v64, d64 = g.value_and_grad(float(a), float(b))
            assert ulps(v, v64) <= VALUE_ULPS, (op, a, b, v, v64)
            assert grad_close(d, d64), (op, a, b, d, d64)


@pytest.mark.parametrize("op", ["exp", "log", "sqrt", "tanh", "sin", "sigmoid", "softplus", "abs", "relu", "atan"])
def test_special_values_agree_with_float64_rounded(pairs, op):
    """0, -0, tiny, huge, inf, nan: the float32 value is the float64 one rounded (a float64
    value beyond float32's range rounds to inf, as float32 overflows)."""
    f, g = pairs[op]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for p in SPECIAL:
            want = f32(g(float(f32(p))))
            assert ulps(f(p), want) <= VALUE_ULPS, (op, p, f(p), want)


def test_promotion_follows_numpy():
    """float32 with a Python float stays float32; with a float64 symbol it is float64."""
    assert cc.compile(x32 * 1.5, [x32], backend="python").dtype == "float32"
    mixed = cc.compile(x32 * y64, [x32, y64], backend="python")
    assert mixed.dtype == "float64" and type(mixed(f32(0.1), 0.1)) is np.float64
    assert mixed(0.1, 0.1) == float(f32(0.1)) * 0.1  # x rounded to float32 on entry, the product in float64
    for a, b in [(1.5, 0.1), (3.0, 1e-3)]:
        want = (np.float32(a) * np.float32(b)).item()  # NumPy 2: the constant rounded to float32
        assert cc.compile(x32 * b, [x32], backend="python")(a) == want
        assert (np.asarray([a], np.float32) * b).dtype == np.float32  # (NumPy's own rule, for the record)


def test_compile_dtype_compiles_the_whole_graph_in_float32():
    fn = cc.compile(cc.sin(x64) * y64 + 0.1, [x64, y64], backend="python", dtype="float32")
    assert fn.dtype == "float32" and "np.float32(0.1)" in fn.source
    v, (dx, dy) = fn.value_and_grad(0.7, 2.0)
    want = f32(np.sin(f32(0.7)) * f32(2.0) + f32(0.1))
    assert type(v) is f32 and ulps(v, want) <= 1 and ulps(dx, f32(np.cos(f32(0.7)) * f32(2.0))) <= 1
    with pytest.raises(TypeError, match="float32"):
        cc.compile(x64, [x64], dtype="int8")


def test_symbols_tensor_and_pickling_keep_the_precision():
    a, b = cc.symbols("a b", dtype="float32")
    assert ir.dtypes.precision(a + b) == "float32" and a is not cc.Symbol("a")
    T = cc.Tensor("T", (3,), dtype="float32")
    assert pickle.loads(pickle.dumps(T * 2.0)).args[0] is T
    fn = pickle.loads(pickle.dumps(cc.compile(a * b, [a, b], backend="python")))
    assert fn.dtype == "float32" and type(fn(2.0, 3.0)) is f32
    with pytest.raises(TypeError, match="dtype must be one of"):
        cc.Symbol("z", dtype="complex64")


def test_arguments_convert_once_or_are_refused():
    fn = cc.compile(x32 * 2.0, [x32], backend="python")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a float64 array converts without a warning
        out = fn(np.linspace(0, 1, 5))
    assert out.dtype == np.float32 and np.array_equal(out, np.linspace(0, 1, 5).astype(np.float32) * 2)
    for bad in (1 + 2j, np.array([1j]), "1.0"):
        with pytest.raises(ArgumentError):
            fn(bad)


def test_targets_that_cannot_refuse_clearly():
    with pytest.raises(UnsupportedError, match="'vm' computes in float64 only.*float32"):
        cc.compile(x32 * 2.0, [x32], backend="vm")
    with pytest.raises(UnsupportedError, match="'llvm' computes a graph of float32 inputs only"):
        cc.compile(x32 * y64, [x32, y64], backend="llvm")  # mixed: Numba and python compute it


# --- Numba: one function of every unary op (one compile), and its batch driver ---

@pytest.fixture(scope="module")
def numba_all():
    outs = [ir.apply(op, x32) for op in UNARY]
    fn = cc.compile(outs, [x32], backend="numba")
    ref = cc.compile([ir.apply(op, x64) for op in UNARY], [x64], backend="python")
    return fn, ref


def test_numba_every_op_within_ulps(numba_all):
    fn, ref = numba_all
    assert "np.float32(" in fn.source
    worst_v = 0.0
    for p in np.linspace(0.2, 0.9, 8).astype(np.float32):  # inside every op's domain
        values, jac = fn.value_and_grad(p)
        values64, jac64 = ref.value_and_grad(float(p))
        assert all(type(v) is f32 for v in values) and jac.dtype == np.float32
        worst_v = max(worst_v, ulps(values, values64).max())
        assert grad_close(jac, jac64), (p, jac, jac64)
    assert worst_v <= VALUE_ULPS, worst_v


def test_numba_batch_and_special_values(numba_all):
    fn, ref = numba_all
    pts = np.array([0.0, -0.0, 1e-30, 0.5, 1e30, math.inf, -math.inf, math.nan])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = fn(pts)
        want = [np.asarray(w, np.float64) for w in ref(pts.astype(np.float32).astype(np.float64))]
    for k, op in enumerate(UNARY):
        assert got[k].dtype == np.float32
        # the batch (on vector units where there are: libmvec's float functions) agrees with
        # the scalar kernel within the libraries' ulps
        assert ulps(got[k], np.array([fn(p)[k] for p in pts], np.float32)).max() <= VALUE_ULPS, op
        assert ulps(got[k], want[k]).max() <= VALUE_ULPS, (op, got[k], want[k])


def test_numba_tensors_are_float32_blas():
    W, X = cc.Tensor("W", (3, 4), dtype="float32"), cc.Tensor("X", (5, 3), dtype="float32")
    loss = cc.sum(cc.tanh(X @ W) ** 2)
    fn = cc.compile(loss, [W, X], wrt=W, backend="numba")
    rng = np.random.default_rng(1)
    w, x = rng.normal(size=(3, 4)), rng.normal(size=(5, 3))
    v, g = fn.value_and_grad(w, x)
    w32, x32_ = w.astype(np.float32), x.astype(np.float32)
    t = np.tanh(x32_ @ w32)
    assert type(v) is f32 and g.dtype == np.float32
    assert abs(v - np.sum(t ** 2)) <= 8 * np.spacing(f32(v))
    np.testing.assert_allclose(g, x32_.T @ (2 * t * (1 - t * t)), rtol=2e-6, atol=2e-6)


# --- the README's MLP (2-64-64-1, batch 256) trained in float32 against JAX and PyTorch float32 ---

STEPS, LR = 100, 0.1


def _mlp_setup():
    from compiler.bench.mlp import _data, _forward
    weights, X, y = _data(np.random.default_rng(0))
    weights, X, y = [w.astype(np.float32) for w in weights], X.astype(np.float32), y.astype(np.float32)
    params = [cc.Tensor(f"p{k}", w.shape, dtype="float32") for k, w in enumerate(weights)]
    Xs, ys = cc.Tensor("X", X.shape, dtype="float32"), cc.Tensor("y", y.shape, dtype="float32")
    loss = cc.mean((_forward(params, Xs, cc.tanh) - ys) ** 2)
    return loss, params, Xs, ys, weights, X, y, _forward


def _train(step, weights, X, y) -> list[float]:
    losses, w = [], list(weights)
    for _ in range(STEPS):
        value, grads = step(w, X, y)
        losses.append(float(value))
        w = [p - np.float32(LR) * g for p, g in zip(w, grads)]
        assert all(p.dtype == np.float32 for p in w)
    return losses


def _compiler_losses(backend: str) -> list[float]:
    loss, params, Xs, ys, weights, X, y, _ = _mlp_setup()
    fn = cc.compile(loss, params + [Xs, ys], wrt=params, backend=backend)
    return _train(lambda w, X, y: fn.value_and_grad(*w, X, y), weights, X, y)


def _agree(ours: list[float], theirs: list[float]) -> None:
    """The same training in float32: losses agree to float32 precision (rounding differs in
    the order of BLAS sums: 7e-7 relative found over the 100 steps, about 6 float32 epsilons)."""
    assert theirs[-1] < 0.96 * theirs[0]  # it trains (the targets are noise: it cannot go far)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_mlp_float32_training_matches_jax():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    _, _, _, _, weights, X, y, forward = _mlp_setup()

    def loss(w, X, y):
        return jnp.mean((forward(w, X, jnp.tanh) - y) ** 2)
    step = jax.jit(jax.value_and_grad(loss))

    def jax_step(w, X, y):
        value, grads = step([jnp.asarray(p) for p in w], X, y)
        assert value.dtype == jnp.float32
        return value, [np.asarray(g) for g in grads]
    _agree(_compiler_losses("python"), _train(jax_step, weights, X, y))


@pytest.mark.slow
def test_mlp_float32_training_matches_pytorch():
    torch = pytest.importorskip("torch")
    _, _, _, _, weights, X, y, forward = _mlp_setup()

    def torch_step(w, X, y):
        tw = [torch.tensor(p, requires_grad=True) for p in w]
        value = torch.mean((forward(tw, torch.tensor(X), torch.tanh) - torch.tensor(y)) ** 2)
        value.backward()
        assert value.dtype == torch.float32
        return value.item(), [p.grad.numpy() for p in tw]
    theirs = _train(torch_step, weights, X, y)
    _agree(_compiler_losses("python"), theirs)
    _agree(_compiler_losses("numba"), theirs)


def test_second_derivatives_are_float32():
    a, b = cc.symbols("a b", dtype="float32")
    fn = cc.compile(cc.sin(a) * b ** 2, [a, b], backend="python")
    h = fn.hessian(0.5, 2.0)
    s, c = np.sin(f32(0.5)), np.cos(f32(0.5))
    want = np.array([[-s * 4, 2 * 2 * c], [2 * 2 * c, 2 * s]], np.float32)
    assert h.dtype == np.float32 and ulps(h, want).max() <= 4
    assert all(type(t) is f32 for t in fn.hvp(0.5, 2.0, v=(1.0, 0.0)))


# --- the llvm target: scalar, and the vector batch path (libmvec's float functions) ---

@pytest.fixture(scope="module")
def llvm_all():
    outs = [ir.apply(op, x32) for op in UNARY]
    vector = cc.compile(outs, [x32], backend="llvm", progress=False)
    scalar = cc.compile(outs, [x32], backend="llvm", progress=False, simd=False)
    ref = cc.compile([ir.apply(op, x64) for op in UNARY], [x64], backend="python")
    return vector, scalar, ref


def test_llvm_scalar_and_vector_within_ulps(llvm_all):
    vector, scalar, ref = llvm_all
    pts = np.concatenate([np.linspace(0.2, 0.9, 37), [0.0, -0.0, 1e-30, 1e30, math.inf, -math.inf, math.nan]])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = [np.asarray(w, np.float64) for w in ref(pts.astype(np.float32).astype(np.float64))]
        wanted_grads = ref.grad(pts.astype(np.float32).astype(np.float64))
        on_vectors, grads = vector.value_and_grad(pts)
    one = [scalar.value_and_grad(p) for p in pts]  # one point at a time: the scalar llvm kernel
    for k, op in enumerate(UNARY):
        assert on_vectors[k].dtype == np.float32
        assert ulps(on_vectors[k], want[k]).max() <= VALUE_ULPS, (op, on_vectors[k], want[k])
        assert ulps([v[0][k] for v in one], want[k]).max() <= VALUE_ULPS, op
        finite = np.isfinite(pts) & (np.abs(pts) < 1)  # derivatives where every op is defined
        assert grad_close(grads[finite, k, 0], wanted_grads[finite, k, 0]), op
    if cc.simd_info().available:
        assert f"<{cc.simd_info().width * 2} x float>" in vector.llvm_ir


@pytest.mark.skipif(not cc.simd_info().available or cc.simd_info().width < 4, reason="no AVX2 vector math")
def test_avx2_width_eight_floats():
    import subprocess
    import sys
    code = """
import numpy as np, compiler as cc
x, y = cc.symbols("x y", dtype="float32")
fn = cc.compile(cc.tanh(cc.exp(x) * cc.sin(y)) + cc.log1p(x * x) * y, [x, y], backend="llvm")
assert "<8 x float>" in fn.llvm_ir and "_ZGVdN8v_expf" in fn.llvm_ir, fn.llvm_ir[:400]
X, Y = np.linspace(-2, 2, 1001), np.linspace(3, -1, 1001)
v = fn(X, Y)
x32, y32 = X.astype(np.float32).astype(float), Y.astype(np.float32).astype(float)
ref = np.tanh(np.exp(x32) * np.sin(y32)) + np.log1p(x32 * x32) * y32
assert v.dtype == np.float32 and np.allclose(v, ref, rtol=1e-5, atol=1e-6), np.abs(v - ref).max()
print("ok")
"""
    import os
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "COMPILER_SIMD": "4"})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_dtype_table_promotion_and_deep_graphs():
    dt = ir.dtypes
    assert dt.check_dtype(np.float32) == dt.check_dtype("single") == "float32"
    assert dt.promote(None, "float32") == "float32" and dt.promote("float32", "float64", None) == "float64"
    assert dt.promote(None, None) is None  # constants alone: weak
    e = x32
    for _ in range(30_000):  # iterative: no recursion limit
        e = e * 1.0001 + 0.5
    assert dt.precision(e) == "float32" and dt.precision(e + y64) == "float64"
    assert dt.precision(cc.where(x32 > 0.5, 1.0, 2.0)) == "float64"  # constants alone: float64 as NumPy's


def test_mixed_precision_in_numba_promotes_like_numpy():
    fn = cc.compile(cc.exp(x32) * y64 + x32 * 0.1, [x32, y64], backend="numba")
    v, (dx, dy) = fn.value_and_grad(0.3, 0.7)
    a = f32(0.3)
    want = np.exp(a).astype(np.float64) * 0.7 + float(a * f32(0.1))  # exp in float32, then float64
    # (Numba's expf and NumPy's float32 exp may differ by an ulp: the tolerance is float32's)
    assert fn.dtype == "float64" and type(v) is np.float64 and abs(v - want) <= 2 * np.spacing(f32(want))
    assert type(dy) is np.float64 and ulps(dy, np.exp(a)) <= 1
    assert float(f32(v)) != v  # computed in float64 (a float32 result converted would be a float32 value)


@pytest.mark.parametrize("backend", ["llvm", "numba"])
def test_special_functions_of_an_integer_degree_in_float32(backend):
    """hermite's degree is converted in the kernel (an i64): in a float32 kernel, from double."""
    x = cc.Symbol("x", dtype="float32")
    expr = cc.hermite(5, x) + cc.lambertw(x)
    fn, ref = cc.compile(expr, [x], backend=backend), cc.compile(expr, [x], backend="python")
    points = np.linspace(0.1, 0.9, 21).astype(np.float32)
    np.testing.assert_array_equal(fn(points), ref(points))
    assert fn(np.float32(0.7)) == ref(np.float32(0.7))
    assert fn.value_and_grad(np.float32(0.7))[1][0] == pytest.approx(ref.value_and_grad(np.float32(0.7))[1][0],
                                                                     rel=1e-6)


def test_auto_compiles_a_float32_scalar_graph_with_llvm_and_a_mixed_one_with_numba():
    """"auto" has no float32 interpreter (the vm computes in double): a graph of float32 inputs
    only goes to the llvm target at once, one with a float64 input too to Numba."""
    x, y = cc.symbols("x y", dtype="float32")
    fn = cc.compile(cc.exp(x) * cc.sin(y) + x * 0.1, [x, y])
    assert fn.backend == "llvm" and fn.dtype == "float32"
    v, g = fn.value_and_grad(0.5, 2.0)
    ref = cc.compile(cc.exp(x) * cc.sin(y) + x * 0.1, [x, y], backend="python")
    w, h = ref.value_and_grad(0.5, 2.0)
    assert type(v) is np.float32 and v == pytest.approx(w, rel=4 * 2.0 ** -23)
    np.testing.assert_allclose(np.asarray(g), np.asarray(h), rtol=4 * 2.0 ** -23)
    z = cc.Symbol("z")
    assert cc.compile(x * z, [x, z], backend="auto").backend == "numba"
