"""``cc.extern`` on the llvm target (a ``numba.cfunc`` called by address), in batches (the vector
path, the scalar native loop, the NumPy tier), with integer arguments that are not differentiated
(``nondiff_argnums``), and on a Dask cluster (issue 26).

Oracles: the same model written in ops (Simpson's rule over constants), the user's function
called point by point, closed forms and central differences.
"""

from __future__ import annotations

import math
import re

import numba
import numpy as np
import pytest

import compiler as cc
from oracles import fd
from compiler.bench.escape import bump, bump_grad  # importable by worker processes

x, y = cc.symbols("x y")


@numba.njit
def simpson(a, n, s):
    """s * integral_0^1 exp(-a t^2) dt by Simpson's rule on n panels (n even)."""
    h = 1.0 / n
    total = 0.0
    for i in range(n + 1):
        t = i * h
        w = 1.0 if (i == 0 or i == n) else (4.0 if i % 2 == 1 else 2.0)
        total += w * math.exp(-a * t * t)
    return total * h / 3.0 * s


@numba.njit
def simpson_grad(a, n, s):  # the partials in a and s: n is not differentiated
    h = 1.0 / n
    total, d = 0.0, 0.0
    for i in range(n + 1):
        t = i * h
        w = 1.0 if (i == 0 or i == n) else (4.0 if i % 2 == 1 else 2.0)
        f = math.exp(-a * t * t)
        total += w * f
        d -= w * t * t * f
    return (d * h / 3.0 * s, total * h / 3.0)


@numba.njit
def simpson_hessian(a, n, s):
    h = 1.0 / n
    d, d2 = 0.0, 0.0
    for i in range(n + 1):
        t = i * h
        w = 1.0 if (i == 0 or i == n) else (4.0 if i % 2 == 1 else 2.0)
        f = math.exp(-a * t * t)
        d -= w * t * t * f
        d2 += w * t ** 4 * f
    return ((d2 * h / 3.0 * s, d * h / 3.0), (d * h / 3.0, 0.0))


@numba.njit
def simpson_jvp(a, n, s, ta, ts):
    ga, gs = simpson_grad(a, n, s)
    return ga * ta + gs * ts


@numba.njit
def checked_log(v):
    if v <= 0.0:
        raise ValueError("checked_log: v must be positive")
    return math.log(v)


@numba.njit
def checked_log_grad(v):
    if v > 100.0:
        raise ArithmeticError("checked_log_grad: v too large")
    return (1.0 / v,)


S = cc.extern(simpson, grad=simpson_grad, hessian=simpson_hessian, nondiff_argnums=(1,))


def in_ops(a, n, s):
    """The same model written in ops: Simpson's sum over constant nodes."""
    t = np.linspace(0.0, 1.0, n + 1)
    w = np.where(np.arange(n + 1) % 2 == 1, 4.0, 2.0)
    w[0] = w[-1] = 1.0
    return cc.sum(w * cc.exp(-a * t * t)) * (1.0 / n / 3.0) * s


MODEL = S(x * x, 64, y) * cc.sin(y) + S(x, 8, 2.0)   # two static values: two ops
OPS_MODEL = in_ops(x * x, 64, y) * cc.sin(y) + in_ops(x, 8, 2.0)


@pytest.fixture(scope="module")
def ops():
    return cc.compile(OPS_MODEL, [x, y], backend="python")


@pytest.fixture(scope="module")
def native():
    return cc.compile(MODEL, [x, y], backend="llvm")


def test_llvm_calls_the_cfunc_against_ops_and_differences(native, ops):
    assert native.backend == "llvm" and "cc_extern_simpson_" in native._code.llvm_ir("value")
    # the partials of one op at one point: one call of its gradient (two ops here), read from its buffer
    from compiler.codegen import llvm
    plan = native.plan["value_and_grad"]
    text = llvm.emit(native.inputs, plan.outputs, plan.statements).text
    assert len(re.findall(r"call void @cc_extern_simpson_\w+_grad2\(", text)) == 2
    for p in ((0.7, 1.3), (-1.2, 0.4)):
        assert native(*p) == pytest.approx(ops(*p), rel=1e-14)
        assert native.grad(*p) == pytest.approx(ops.grad(*p), rel=1e-13)
        assert native.grad(*p) == pytest.approx(fd(native, list(p)), rel=1e-7)
        assert native.hessian(*p) == pytest.approx(ops.hessian(*p), rel=1e-12)
    # a jvp function alone gives the gradient too, on llvm: one call per partial
    by_jvp = cc.compile(cc.extern(simpson, jvp=simpson_jvp, nondiff_argnums=(1,))(x, 16, y), [x, y], backend="llvm")
    assert by_jvp.grad(0.7, 1.3) == pytest.approx(simpson_grad(0.7, 16, 1.3), rel=1e-15)


def test_batches_on_every_path_match_the_points(native, ops):
    rng = np.random.default_rng(1)
    xs, ys = rng.uniform(-1, 1, 20_003), rng.uniform(-1, 1, 20_003)   # (not a multiple of a vector)
    v, (gx, gy) = native.value_and_grad(xs, ys)          # the vector batch, lane by lane
    scalar = cc.compile(MODEL, [x, y], backend="llvm", simd=False)   # the native scalar loop
    v2, (gx2, gy2) = scalar.value_and_grad(xs, ys)
    numba_fn = cc.compile(MODEL, [x, y], backend="numba")
    v3, (gx3, gy3) = numba_fn.value_and_grad(xs[:2000], ys[:2000])
    python = cc.compile(MODEL, [x, y], backend="python")   # NumPy tier: py_func, point by point
    v4, (gx4, gy4) = python.value_and_grad(xs[:200], ys[:200])
    for i in (0, 1, 777, 1999, 20_002):
        want_v, (want_gx, want_gy) = native.value_and_grad(xs[i], ys[i])
        assert (v[i], gx[i], gy[i]) == pytest.approx((want_v, want_gx, want_gy), rel=1e-14)
    ref = ops.value_and_grad(xs[:200], ys[:200])
    for got in ((v, gx, gy), (v2, gx2, gy2), (v3, gx3, gy3), (v4, gx4, gy4)):
        assert got[0][:200] == pytest.approx(ref[0], rel=1e-13)
        assert got[1][:200] == pytest.approx(ref[1][0], rel=1e-12, abs=1e-15)
        assert got[2][:200] == pytest.approx(ref[1][1], rel=1e-12, abs=1e-15)
    assert v2 == pytest.approx(v, rel=1e-14) and gx2 == pytest.approx(gx, rel=1e-13, abs=1e-16)
    # a number shared by every point
    assert native(xs[:9], 0.5) == pytest.approx([native(p, 0.5) for p in xs[:9]], rel=1e-15)


def test_exceptions_on_llvm_are_the_users(native):
    f = cc.compile(cc.extern(checked_log, grad=checked_log_grad)(x) * 2.0, [x], backend="llvm")
    scalar = cc.compile(cc.extern(checked_log, grad=checked_log_grad)(x) * 2.0, [x], backend="llvm", simd=False)
    for fn in (f, scalar):
        assert fn(math.e) == pytest.approx(2.0, rel=1e-15)
        with pytest.raises(ValueError, match="checked_log: v must be positive"):
            fn(-1.0)
        with pytest.raises(ValueError, match="checked_log: v must be positive"):
            fn(np.r_[np.linspace(1.0, 2.0, 100), -1.0, 3.0])
        with pytest.raises(ArithmeticError, match="checked_log_grad: v too large"):
            fn.grad(np.r_[1.0, 200.0])
        assert fn.grad(np.array([1.0, 4.0]))[0] == pytest.approx([2.0, 0.5], rel=1e-15)  # fine again after
    # what Numba cannot make a C function of is refused with the user's function named
    with pytest.raises(cc.CompilerError, match="the function pair returns UniTuple.*expected a number"):
        cc.compile(cc.extern(pair)(x), [x], wrt=[], backend="llvm")(1.0)
    with pytest.raises(cc.UnsupportedError, match="plain is a plain Python function.*numba.njit"):
        cc.compile(cc.extern(plain)(x), [x], wrt=[], backend="llvm")(1.0)


@numba.njit
def pair(v):
    return (v, v)


def plain(v):
    return v + 1.0


def _scaled(c):
    @numba.njit
    def scaled(v):  # the same code, another closure value: the same fingerprint and LLVM symbol
        return c * v
    return scaled


def test_same_symbol_other_function_binds_its_own():
    """Two functions with the same name and bytecode share the LLVM symbol (and the disk cache's
    machine code); each kernel binds the address of its own cfunc when it loads."""
    three = cc.compile(cc.extern(_scaled(3.0))(x), [x], wrt=[], backend="llvm")
    five = cc.compile(cc.extern(_scaled(5.0))(x), [x], wrt=[], backend="llvm")
    assert three(2.0) == 6.0 and five(2.0) == 10.0 and three(1.0) == 3.0
    assert list(five(np.arange(3.0))) == [0.0, 5.0, 10.0]


def test_static_integer_argument_on_every_backend(ops):
    e = S(x, 16, y)
    want = cc.compile(in_ops(x, 16, y), [x, y], backend="python")
    for backend in ("python", "numba", "auto"):
        fn = cc.compile(e, [x, y], backend=backend)
        assert fn(0.3, 1.1) == pytest.approx(want(0.3, 1.1), rel=1e-14)
        assert fn.grad(0.3, 1.1) == pytest.approx(want.grad(0.3, 1.1), rel=1e-13)
    assert "simpson(x, 16, y)" in fn.source.replace("_simpson", "simpson")
    assert repr(e) == "simpson[1=16](x, y)"
    with pytest.raises(TypeError, match="argument 1 is in nondiff_argnums, so it must be a Python int.*float"):
        S(x, 16.0, y)
    with pytest.raises(TypeError, match="argument 1 is in nondiff_argnums.*Node"):
        S(x, x, y)
    with pytest.raises(TypeError, match="nondiff_argnums must be argument positions"):
        cc.extern(simpson, nondiff_argnums=(-1,))
    with pytest.raises(cc.UnsupportedError, match="backend 'vm' cannot call a cc.extern"):
        cc.compile(e, [x, y], backend="vm")


@pytest.mark.slow  # (a cluster of two processes that import Numba: about 10 s)
def test_extern_in_a_dask_cluster():
    """Worker processes unpickle the function by its import path and compile its cfunc there."""
    distributed = pytest.importorskip("distributed")
    da = pytest.importorskip("dask.array")
    fn = cc.compile(cc.extern(bump, grad=bump_grad)(x * 2.0, y) + y, [x, y], backend="llvm")
    xs = np.linspace(-1.0, 1.0, 4_000)
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None, silence_logs=40)
    try:
        with distributed.Client(cluster):
            v, (gx, gy) = fn.value_and_grad(da.from_array(xs, chunks=1_000), 0.3)
            v, gx = v.compute(), gx.compute()
    finally:
        cluster.close()
    want = np.array([bump(2.0 * p, 0.3) + 0.3 for p in xs])
    assert v == pytest.approx(want, rel=1e-14)
    assert gx == pytest.approx([2.0 * bump_grad(2.0 * p, 0.3)[0] for p in xs], rel=1e-14)
