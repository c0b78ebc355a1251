"""Tensor kernels (Numba dialect) compute transcendental ops over arrays with glibc's vector math
(libmvec) where the machine has it: NumPy's answers on special values, within 4 ulp elsewhere,
at every length (the tail of fewer than 4 elements by libm), in one call, in a batch, in plain
Python (the generated source without Numba) and from the disk cache in a new process."""

import math
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import compiler as cc
from compiler.codegen import python as printer
from compiler.codegen.helpers import VECTOR_MATH_OPS

INFO = cc.simd_info()
needs_simd = pytest.mark.skipif(not INFO.available, reason=f"no vector math here: {INFO.reason}")

UFUNCS = {"exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "tan": np.tan, "tanh": np.tanh,
          "sinh": np.sinh, "cosh": np.cosh, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan,
          "log1p": np.log1p, "expm1": np.expm1}
TINY = 5e-324
SPECIAL = [math.nan, -math.nan, math.inf, -math.inf, 0.0, -0.0, TINY, -TINY, 1e-310, -1e-310,
           2.2250738585072014e-308, 1e-300, -1e-300, 1e-20, -1e-20, 1e-8, -1e-8, 0.5, -0.5, 1.0, -1.0,
           1 - 2 ** -53, -1 + 2 ** -53, 1.0000001, -1.0000001, 2.0, -2.0, 19.0, 20.0, -20.0, 22.0, -37.0,
           -38.0, 100.0, -100.0, 709.78, 709.79, 710.5, -708.4, -745.1, -745.2, -746.0, 1e5, 1e15 + 0.3,
           2.0 ** 52 * math.pi, 1e22, -1e22, 1e300, -1e300, 1.7976931348623157e308, -1.7976931348623157e308]
ULPS = 4  # libmvec's documented bound


def assert_like_numpy(got, want, what=""):
    """Same shape, nan where NumPy has nan, the same infinities and signed zeros, finite values
    within ULPS of NumPy's."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, what
    bad = np.isnan(got) != np.isnan(want)
    bad |= np.isinf(want) & (got != want)
    bad |= np.isfinite(want) & ~np.isfinite(got)
    bad |= (got == 0) & (want == 0) & (np.signbit(got) != np.signbit(want))
    with np.errstate(invalid="ignore"):
        scale = ULPS * np.spacing(np.maximum(np.abs(want), np.finfo(float).tiny))
        bad |= np.isfinite(want) & np.isfinite(got) & (np.abs(got - want) > scale)
    if bad.any():
        i = np.flatnonzero(bad)[:5]
        raise AssertionError(f"{what}: got {got.ravel()[i]}, NumPy {want.ravel()[i]} at {i} "
                             f"of {want.ravel()[i]}")


def op_of(name, a):
    return getattr(cc, name)(a)


def inputs_for(n, seed):
    """3n random values of every scale and the special ones, at random places: every lane of a
    vector meets special values beside ordinary numbers."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(size=n), rng.normal(scale=30.0, size=n),
                        10.0 ** rng.uniform(-300, 300, n) * rng.choice([-1.0, 1.0], n), SPECIAL])
    return rng.permutation(x)


@needs_simd
@pytest.mark.parametrize("op", VECTOR_MATH_OPS)
def test_each_op_over_an_array_is_numpys_on_special_and_random_inputs(op):
    x = inputs_for(1000, seed=VECTOR_MATH_OPS.index(op))
    a = cc.Tensor("a", x.shape)
    fn = cc.compile(op_of(op, a), [a], backend="numba")
    assert f"_vector_{op}(a)" in fn.source and "numba.objmode" not in fn.source
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no floating-point warnings either
        got = fn(x)
    with np.errstate(all="ignore"):
        assert_like_numpy(got, UFUNCS[op](x), op)


@needs_simd
@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 7, 8, 9, 2049])
def test_every_length_and_the_tail(n, monkeypatch):
    """Lengths that are no multiple of 4: the vector loop and libm's tail, through the vector
    helper even for the smallest arrays (its size threshold lowered)."""
    monkeypatch.setattr(printer, "VECTOR_MATH_MIN_SIZE", 0)
    x = np.concatenate([np.array(SPECIAL), np.linspace(-3.0, 3.0, 2049)])[:n]
    a = cc.Tensor("a", (n,))
    fn = cc.compile(cc.tanh(a) * 2.0, [a], backend="numba")
    if n:
        assert "_vector_tanh(a)" in fn.source
    assert_like_numpy(fn(x), np.tanh(x) * 2.0, f"tanh of {n}")
    total = cc.compile(cc.sum(cc.tanh(a)), [a], backend="numba")
    _, (g,) = total.value_and_grad(x)
    t = np.tanh(x)  # 1 - t * t cancels where |t| is near 1: a few ulp of t, absolutely
    np.testing.assert_allclose(g, 1.0 - t * t, rtol=1e-14, atol=8 * np.finfo(float).eps)


@needs_simd
def test_the_threshold_keeps_small_arrays_in_the_fused_loop():
    small, large = cc.Tensor("a", (printer.VECTOR_MATH_MIN_SIZE - 1,)), cc.Tensor("a", (printer.VECTOR_MATH_MIN_SIZE,))
    assert "_vector_" not in cc.compile(cc.sum(cc.exp(small)), [small], backend="numba").source
    assert "_vector_exp(" in cc.compile(cc.sum(cc.exp(large)), [large], backend="numba").source


def mlp(shape=(32, 64)):
    X, W, b = cc.Tensor("X", shape), cc.Tensor("W", (shape[1], shape[1])), cc.Tensor("b", (shape[1],))
    h = cc.tanh(X @ W + b)
    loss = cc.mean(cc.exp(-h * h) * cc.sin(h @ W) + cc.log1p(cc.cosh(h)))
    rng = np.random.default_rng(7)
    args = [rng.normal(size=shape), rng.normal(size=(shape[1], shape[1])) / 8.0, rng.normal(size=shape[1])]
    return loss, [X, W, b], args


@needs_simd
def test_value_and_gradient_agree_with_numpy_and_the_objmode_path():
    loss, inputs, args = mlp()
    vector = cc.compile(loss, inputs, backend="numba")
    objmode = cc.compile(loss, inputs, backend="numba", simd=False)
    numpy = cc.compile(loss, inputs, backend="python")
    assert "_vector_tanh(" in vector.source and "_vector_" not in objmode.source
    assert "numba.objmode" in objmode.source and "llvmlite" not in objmode.source
    v, g = vector.value_and_grad(*args)
    for other in (objmode, numpy):
        w, h = other.value_and_grad(*args)
        assert v == pytest.approx(w, rel=1e-13)
        for a, b in zip(g, h):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-14)


@needs_simd
def test_a_batch_runs_the_vector_kernels_in_worker_threads():
    loss, inputs, args = mlp((16, 64))
    fn = cc.compile(loss, inputs, backend="numba")
    assert "_vector_tanh(" in fn.source
    rng = np.random.default_rng(3)
    Xs = rng.normal(size=(5, 16, 64))
    v, g = fn.value_and_grad(Xs, args[1], args[2])
    for k in range(5):
        w, h = fn.value_and_grad(Xs[k], args[1], args[2])
        assert v[k] == pytest.approx(w, rel=1e-14)
        np.testing.assert_allclose(g[1][k], h[1], rtol=1e-13, atol=1e-15)


@needs_simd
def test_the_source_runs_as_plain_python_with_numpys_loops():
    """The module without Numba (its footer left out) gives NumPy's numbers: the helpers are
    NumPy's ufuncs there."""
    x = np.linspace(-4.0, 4.0, 4099).reshape(1, 4099)
    a = cc.Tensor("a", x.shape)
    fn = cc.compile(cc.sum(cc.tanh(a) * cc.exp(a)), [a], backend="numba")
    assert "_vector_tanh(" in fn.source and "_vector_exp(" in fn.source
    namespace = {"__name__": "plain"}
    exec(compile(fn.standalone_source(jit=False), "<plain>", "exec"), namespace)  # noqa: S102
    v, (g,) = namespace["value_and_grad"](x)
    w, (h,) = fn.value_and_grad(x)
    assert v == pytest.approx(w, rel=1e-13)
    np.testing.assert_allclose(g, h, rtol=1e-13)


@needs_simd
def test_a_new_process_loads_the_kernel_from_the_disk_cache(tmp_path):
    code = textwrap.dedent("""
        import numpy as np, compiler as cc
        a = cc.Tensor("a", (300,))
        fn = cc.compile(cc.sum(cc.tanh(a) * cc.sin(a)), [a], backend="numba")
        print(fn._code.in_disk_cache("value_and_grad"))
        v, (g,) = fn.value_and_grad(np.linspace(-2.0, 2.0, 300))
        x = np.linspace(-2.0, 2.0, 300)
        assert abs(v - np.sum(np.tanh(x) * np.sin(x))) < 1e-12, v
        print(repr(v))
        """)
    env = {**os.environ, "COMPILER_CACHE_DIR": str(tmp_path)}

    def run():
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                             cwd=os.path.dirname(__file__), timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()
    first, second = run(), run()
    assert first[0] == "False" and second[0] == "True"
    assert first[1] == second[1]


def test_without_vector_math_the_source_has_none_of_it():
    """COMPILER_SIMD=0: no libmvec in the generated module; NumPy's loop in objmode, as before."""
    code = textwrap.dedent("""
        import numpy as np, compiler as cc
        a = cc.Tensor("a", (64, 64))
        fn = cc.compile(cc.sum(cc.tanh(a)), [a], backend="numba")
        assert "libmvec" not in fn.source and "_vector_" not in fn.source, fn.source
        assert "numba.objmode" in fn.source
        x = np.linspace(-1.0, 1.0, 4096).reshape(64, 64)
        assert abs(fn(x) - np.sum(np.tanh(x))) < 1e-12
        print("ok")
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "COMPILER_SIMD": "0"}, cwd=os.path.dirname(__file__), timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@needs_simd
def test_a_saved_module_compiles_its_vector_helpers_on_import(tmp_path):
    a = cc.Tensor("a", (10, 30))
    fn = cc.compile(cc.sum(cc.tanh(a) * cc.exp(-a)), [a], backend="numba")
    assert "_vector_tanh(" in fn.source
    path = fn.save(str(tmp_path / "mlp_step.py"))
    code = textwrap.dedent(f"""
        import importlib.util, numpy as np
        spec = importlib.util.spec_from_file_location("mlp_step", {path!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert hasattr(module.value_and_grad, "py_func")  # Numba's
        x = np.linspace(-3.0, 3.0, 300).reshape(10, 30)
        v, (g,) = module.value_and_grad(x)
        print(repr(v), repr(float(g[3, 7])))
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         cwd=str(tmp_path), timeout=300)
    assert out.returncode == 0, out.stderr
    x = np.linspace(-3.0, 3.0, 300).reshape(10, 30)
    v, (g,) = fn.value_and_grad(x)
    got = [float(t) for t in out.stdout.split()]
    assert got[0] == pytest.approx(v, rel=1e-14) and got[1] == pytest.approx(g[3, 7], rel=1e-14)


@needs_simd
def test_a_transposed_or_sliced_operand():
    """The helper reads any layout: a transpose (a view in Numba) and a strided slice."""
    a = cc.Tensor("a", (16, 40))
    w = np.arange(640.0).reshape(40, 16) / 640.0
    expr = cc.sum(cc.tanh(a.T) * w) + cc.sum(cc.exp(a[:, ::2]))
    fn = cc.compile(expr, [a], backend="numba")
    assert "_vector_tanh(" in fn.source and "_vector_exp(" in fn.source
    x = np.random.default_rng(5).normal(size=(16, 40))
    v, (g,) = fn.value_and_grad(x)
    assert v == pytest.approx(np.sum(np.tanh(x.T) * w) + np.sum(np.exp(x[:, ::2])), rel=1e-14)
    want = (1.0 - np.tanh(x) ** 2) * w.T
    want[:, ::2] += np.exp(x[:, ::2])
    np.testing.assert_allclose(g, want, rtol=1e-13, atol=1e-15)
