"""Batches on vector units (glibc's libmvec): the same answers as the scalar loop, op by op,
on random and special inputs, whatever the batch's length, strides and sharing."""

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import compiler as cc
from compiler.runtime import simd

x, y = cc.symbols("x y")
INFO = cc.simd_info()
needs_simd = pytest.mark.skipif(not INFO.available, reason=f"no vector math here: {INFO.reason}")

TINY = 5e-324
SPECIAL = [math.nan, math.inf, -math.inf, 0.0, -0.0, TINY, -TINY, 2.2250738585072014e-308 / 3, 1e-300,
           -1e-300, 709.78, 709.79, 710.5, -745.1, -745.2, -708.4, 1e300, -1e300, 1e22, -1e22, 1e15 + 0.3,
           2.0 ** 52 * math.pi, 0.5, -0.5, 1.0, -1.0, 1.0000001, -1.0000001, 2.0, -2.0, 100.0, -100.0, 3e8,
           20.0, -20.0, 1e-8, -1e-8, 0.9999999999, -0.9999999999]
UNARY = ["exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos", "atan", "log1p",
         "expm1", "erf", "log2", "log10", "exp2", "asinh", "acosh", "atanh", "cbrt", "sigmoid", "softplus",
         "abs", "sign", "relu", "floor", "ceil", "rint"]
BINARY = {"pow": lambda a, b: a ** b, "atan2": cc.atan2, "hypot": cc.hypot, "maximum": cc.maximum,
          "minimum": cc.minimum, "mod": lambda a, b: a % b, "floordiv": lambda a, b: a // b,
          "logaddexp": cc.logaddexp, "where": lambda a, b: cc.where(a > b, a * b, a - b)}
ULPS = 4  # libmvec's documented bound


def pair(expr, inputs, **kw):
    """The function on the vector path and on the scalar loop (llvm: milliseconds to compile)."""
    return (cc.compile(expr, inputs, backend="llvm", progress=False, **kw),
            cc.compile(expr, inputs, backend="llvm", progress=False, simd=False, **kw))


def assert_agree(vector, scalar, ulps=ULPS, what="", rtol=0.0, atol=0.0):
    """Same nan, inf and signed zeros; finite values within ``ulps`` (or ``rtol``, or ``atol``: the
    rounding of the terms a result cancelled from) of the scalar ones."""
    vector, scalar = np.asarray(vector, dtype=float), np.asarray(scalar, dtype=float)
    assert vector.shape == scalar.shape
    bad = np.isnan(vector) != np.isnan(scalar)
    both = np.isfinite(vector) & np.isfinite(scalar)
    bad |= np.isinf(scalar) & (vector != scalar)
    bad |= np.isfinite(scalar) & ~np.isfinite(vector)
    bad |= (vector == 0) & (scalar == 0) & (np.signbit(vector) != np.signbit(scalar))
    with np.errstate(invalid="ignore"):
        scale = np.maximum(ulps * np.spacing(np.maximum(np.abs(scalar), np.finfo(float).tiny)),
                           np.maximum(rtol * np.abs(scalar), atol))
        bad |= both & (np.abs(vector - scalar) > scale)
    if bad.any():
        i = np.flatnonzero(bad)[:5]
        raise AssertionError(f"{what}: vector {vector.ravel()[i]} != scalar {scalar.ravel()[i]} at {i}")


def test_info_says_which_path_and_why():
    assert INFO.path in ("simd", "scalar") and INFO.reason
    if INFO.available:
        assert INFO.width in simd.ISAS and INFO.library and INFO.mangled("exp", 1).startswith("_ZGV")
        assert INFO.vector_function("exp", 1) == INFO.mangled("exp", 1)
        assert INFO.vector_function("no_such_function", 1) is None
    else:
        assert INFO.width == 1


@needs_simd
@pytest.mark.parametrize("op", UNARY)
def test_each_unary_op_agrees_with_the_scalar_loop(op):
    rng = np.random.default_rng(len(op))
    X = np.concatenate([SPECIAL, rng.uniform(-3, 3, 301), rng.normal(0, 30, 200), [1e4, -1e4, 1e6]])
    vec, sca = pair(getattr(cc, op)(x), [x])
    with np.errstate(all="ignore"):
        assert_agree(vec(X), sca(X), what=f"{op} value")
        gv, gs = vec.grad(X)[0], sca.grad(X)[0]
    # derivatives: formulas such as 1 - tanh(x)**2 cancel, multiplying the value's few ulp, and
    # multiply-adds fuse (rounded once: near |x| = 1, asin's is the more accurate): same
    # specials, and close
    assert_agree(gv, gs, rtol=1e-8, atol=1e-14, what=f"{op} gradient")


@needs_simd
@pytest.mark.parametrize("op", sorted(BINARY))
def test_each_binary_op_agrees_with_the_scalar_loop(op):
    rng = np.random.default_rng(len(op))
    values = np.array(SPECIAL + list(rng.uniform(-4, 4, 20)))
    A, B = np.repeat(values, len(values)), np.tile(values, len(values))
    vec, sca = pair(BINARY[op](x, y), [x, y])
    with np.errstate(all="ignore"):
        # logaddexp(a, b) = max + log1p(exp(-|a - b|)): the rounding of a - b, as in NumPy's
        atol = ULPS * np.spacing(np.maximum(np.abs(A), np.abs(B))) if op == "logaddexp" else 0.0
        assert_agree(vec(A, B), sca(A, B), what=f"{op} value", atol=atol)


@needs_simd
@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 7, 255, 256, 257, 1023])
def test_every_length_and_the_tail(n):
    vec, sca = pair(cc.tanh(cc.exp(x) * cc.sin(y)) + x ** 2, [x, y])
    rng = np.random.default_rng(n)
    X, Y = rng.normal(size=n), rng.normal(size=n)
    v, (gx, gy) = vec.value_and_grad(X, Y)
    s, (hx, hy) = sca.value_and_grad(X, Y)
    assert v.shape == gx.shape == (n,)
    for a, b in ((v, s), (gx, hx), (gy, hy)):
        assert_agree(a, b, rtol=1e-12, atol=1e-14, what=f"n={n}")


@needs_simd
def test_shared_numbers_strides_read_only_and_nonfinite_inputs():
    vec, sca = pair(cc.log1p(x * x) * cc.cos(y) + cc.sqrt(cc.abs(y)), [x, y])
    base = np.random.default_rng(1).normal(size=2 * 1027)
    base[[3, 50, 700]] = [np.nan, np.inf, -np.inf]
    cases = {"shared y": (base[:1027], 0.7), "shared x": (-1.5, base[:1027]),
             "strided": (base[::2], base[1::2]), "reversed": (base[::-1][:1027], base[:1027]),
             "both shared": (np.array([0.3]), 2.0)}
    read_only = base[:1027].copy()
    read_only.flags.writeable = False
    cases["read-only"] = (read_only, read_only)
    for name, (a, b) in cases.items():
        with np.errstate(all="ignore"):
            v, g = vec.value_and_grad(a, b)
            s, h = sca.value_and_grad(a, b)
        assert_agree(v, s, ulps=8, atol=1e-14, what=name)
        for gv, gs in zip(g, h):
            assert_agree(gv, gs, rtol=1e-12, atol=1e-14, what=name)


@needs_simd
def test_several_outputs_hessians_and_derived_functions():
    exprs = [cc.exp(x) * y, cc.sin(x * y), cc.atan2(y, x)]
    vec, sca = pair(exprs, [x, y])
    X, Y = np.linspace(-2, 2, 101), np.linspace(3, -1, 101)
    (v, j), (s, k) = vec.value_and_grad(X, Y), sca.value_and_grad(X, Y)
    for a, b in zip(v, s):
        assert_agree(a, b, ulps=8)
    assert_agree(j, k, rtol=1e-12)
    f, g = pair(cc.exp(x) * cc.sin(y) + x ** 3, [x, y])
    assert_agree(f.hessian(X, Y), g.hessian(X, Y), rtol=1e-12)
    assert f.grad_fn._simd and not g.grad_fn._simd
    assert_agree(f.jvp(X, Y, v=(1.0, 0.5))[1], g.jvp(X, Y, v=(1.0, 0.5))[1], rtol=1e-12)


@needs_simd
def test_auto_and_numba_batches_use_vector_code_python_and_vm_do_not():
    for backend, vector in (("auto", True), ("numba", True), ("llvm", True), ("vm", False), ("python", False)):
        fn = cc.compile(cc.exp(x) * y, [x, y], backend=backend, progress=False)
        fn(np.ones(5), 2.0)
        assert (fn._code.vector_target("value") is not None) is vector, backend
    off = cc.compile(cc.exp(x) * y, [x, y], backend="llvm", simd=False)
    assert off._code.vector_target("value") is None
    assert off(np.array([0.0, 1.0]), 2.0).tolist() == [2.0, 2 * math.e]
    tensor = cc.compile(cc.sum(cc.Tensor("v", (3,)) ** 2), [cc.Tensor("v", (3,))], backend="python")
    assert tensor._code.vector_target("value") is None


@needs_simd
def test_llvm_ir_shows_the_vector_kernel():
    fn = cc.compile(cc.exp(x) * y, [x, y], backend="llvm")
    text = fn.llvm_ir
    assert INFO.mangled("exp", 1) in text and "define void @batch" in text
    assert f"<{INFO.width} x double>" in text
    plain = cc.compile(cc.exp(x) * y, [x, y], backend="llvm", simd=False).llvm_ir
    assert "_ZGV" not in plain and "@batch" not in plain and "x double>" not in plain
    with pytest.raises(cc.UnsupportedError, match="tensors"):
        _ = cc.compile(cc.sum(cc.Tensor("v", (3,))), [cc.Tensor("v", (3,))], backend="python").llvm_ir


@needs_simd
def test_the_vector_kernel_has_its_own_cache_entry():
    from compiler.runtime import cache, flat, llvm
    fn = cc.compile(cc.exp(x) * y + cc.cos(x), [x, y], backend="llvm")
    target = fn._code.vector_target("value")
    key = cache.entry_key("llvm", llvm.host_fingerprint() + "|" + INFO.key(), *target.module.texts)
    assert cache.load(key, "o") is not None or not cache.cache_info().usable
    again = flat.native_target(fn.inputs, fn.plan["value"], "value", False, simd=INFO, compile=False)
    if cache.cache_info().usable:
        assert again is not None  # loaded, not compiled


def _run(code: str, **env) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         env={**os.environ, **env}, cwd=os.path.dirname(__file__), timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_compiler_simd_0_turns_it_off_and_info_says_so():
    out = _run("""
        import numpy as np, compiler as cc
        x = cc.Symbol("x")
        fn = cc.compile(cc.exp(x), [x], backend="llvm")
        assert fn._code.vector_target("value") is None
        assert np.allclose(fn(np.arange(5.0)), np.exp(np.arange(5.0)))
        print(cc.simd_info().path)
        """, COMPILER_SIMD="0")
    assert out.strip() == "scalar"
    info = subprocess.run([sys.executable, "-m", "compiler", "info"], capture_output=True, text=True,
                          env={**os.environ, "COMPILER_SIMD": "0"}, timeout=120)
    assert info.returncode == 0 and "scalar (turned off by COMPILER_SIMD=0)" in info.stdout


@needs_simd
def test_a_narrower_width_gives_the_same_answers():
    out = _run("""
        import numpy as np, compiler as cc
        x, y = cc.symbols("x y")
        info = cc.simd_info()
        assert info.width == 2, info
        e = cc.tanh(cc.exp(x) * cc.sin(y)) + cc.atan2(x, y) + x ** 3
        fn = cc.compile(e, [x, y], backend="llvm")
        assert "<2 x double>" in fn.llvm_ir
        rng = np.random.default_rng(0)
        X, Y = rng.normal(size=1001), rng.normal(size=1001)
        v, g = fn.value_and_grad(X, Y)
        ref = np.tanh(np.exp(X) * np.sin(Y)) + np.arctan2(X, Y) + X ** 3
        assert np.allclose(v, ref, rtol=1e-14, atol=1e-14), np.max(np.abs(v - ref))
        print("ok")
        """, COMPILER_SIMD="2")
    assert out.strip() == "ok"


@needs_simd
def test_show_llvm_prints_the_vector_kernel():
    out = subprocess.run([sys.executable, "-m", "compiler", "show", "tanh(x)*y", "--llvm"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert INFO.mangled("tanh", 1) in out.stdout and "define void @batch" in out.stdout


def test_the_readme_claim_about_asin_near_one():
    """Conventions: the fused 1 - x*x of a batch is the accurate one (checked against mpmath)."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    a = 0.9999999999
    exact = float(1 / mpmath.sqrt(1 - mpmath.mpf(a) ** 2))
    vec = cc.compile(cc.asin(x), [x], backend="llvm")
    one = vec.grad(a)[0]
    assert abs(one - exact) / exact > 1e-11  # the one-point call cancels
    if INFO.available:
        batch = vec.grad(np.full(5, a))[0]
        assert np.all(np.abs(batch - exact) <= 2 * np.spacing(exact))
