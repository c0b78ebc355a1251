"""Escape hatches (issue 26): custom_jvp / custom_vjp, cc.root, cc.extern.

Every value and derivative is checked against an independent oracle: closed forms,
central finite differences, SciPy's root finder, the same model written in ops.
"""

from __future__ import annotations

import math
import pickle

import numba
import numpy as np
import pytest

import compiler as cc
from oracles import fd

x, y, a, b, e, m = cc.symbols("x y a b e m")


# --- custom_jvp / custom_vjp: JAX's documented examples ---

@cc.custom_jvp
def log1pexp(x):
    return cc.log(1.0 + cc.exp(x))


@log1pexp.defjvp
def _log1pexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    ans = log1pexp(x)
    return ans, t * (1.0 - 1.0 / (1.0 + cc.exp(x)))


@cc.custom_vjp
def clip_gradient(lo, hi, x):
    return x


clip_gradient.defvjp(lambda lo, hi, x: (x, (lo, hi)),
                     lambda res, g: (None, None, cc.clip(g, res[0], res[1])))


@cc.custom_jvp
def st_round(x):  # straight-through estimator: rounds, differentiates as the identity
    return cc.rint(x)


@st_round.defjvp
def _st_round_jvp(primals, tangents):
    return st_round(primals[0]), tangents[0]


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def test_log1pexp_value_gradient_and_second_derivative():
    fn = cc.compile(log1pexp(x) * y, [x, y], backend="python")
    for v in (-3.0, 0.0, 0.7, 20.0):
        assert fn(v, 2.0) == pytest.approx(2.0 * np.logaddexp(0.0, v), rel=1e-14)
        assert fn.grad(v, 2.0) == pytest.approx((2.0 * sigmoid(v), np.logaddexp(0.0, v)), rel=1e-14)
        s, ds = sigmoid(v), np.exp(-v) / (1.0 + np.exp(-v)) ** 2   # (s (1 - s) would cancel at v = 20)
        assert fn.hessian(v, 2.0) == pytest.approx(np.array([[2 * ds, s], [s, 0.0]]), rel=1e-6, abs=1e-300)
    # the stable rule at x = 1000, where the primal's own derivative is nan (inf / inf)
    assert fn.grad(1000.0, 1.0)[0] == 1.0
    naive = cc.compile(cc.log(1.0 + cc.exp(x)), [x], backend="python")
    assert math.isnan(naive.grad(1000.0)[0])
    # the title names the custom function; the generated code inlines its primal body
    code = fn.source.split("import math")[1]
    assert "# log1pexp(x): the value of custom function log1pexp" in code and "custom(" not in code


def test_clip_gradient_and_straight_through_round():
    fn = cc.compile(clip_gradient(-0.5, 0.5, 3.0 * x * x), [x], backend="python")
    assert fn(1.0) == 3.0
    assert fn.grad(1.0) == (0.5 * 6.0,)        # the cotangent 1 clipped to 0.5, then d(3x^2)/dx = 6x
    assert fn.grad(0.1) == pytest.approx((0.5 * 0.6,))
    assert fn.hessian(1.0) == pytest.approx(0.5 * 6.0)  # d/dx of (0.5 * 6x): the rule is differentiable
    r = cc.compile(st_round(x) * x, [x], backend="python")
    assert r(2.3) == pytest.approx(2.0 * 2.3)
    assert r.grad(2.3) == pytest.approx((2.3 + 2.0,))   # d/dx [round(x) x] with round' := 1
    assert r.hessian(2.3) == pytest.approx(2.0)


def test_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    @jax.custom_jvp
    def f(v):
        return jnp.log1p(jnp.exp(v))
    f.defjvp(lambda p, t: (f(p[0]), t[0] * (1 - 1 / (1 + jnp.exp(p[0])))))
    fn = cc.compile(log1pexp(x), [x], backend="python")
    for v in (-2.0, 0.5, 30.0, 1000.0):
        assert fn.grad(v)[0] == pytest.approx(float(jax.grad(f)(v)), rel=1e-14)
        assert fn.hessian(v) == pytest.approx(float(jax.grad(jax.grad(f))(v)), rel=1e-12, abs=1e-300, nan_ok=True)


def test_tensor_custom_vjp_and_forward_mode():
    @cc.custom_vjp
    def softplus(v):
        return cc.log(1.0 + cc.exp(v))
    softplus.defvjp(lambda v: (softplus(v), v), lambda v, g: (g * (1.0 / (1.0 + cc.exp(-v))),))
    w = cc.Tensor("w", (3,))
    fn = cc.compile(cc.sum(softplus(w) * np.array([1.0, 2.0, 3.0])), [w], backend="python")
    p = np.array([-1.0, 0.5, 2.0])
    assert fn(p) == pytest.approx(np.sum(np.logaddexp(0.0, p) * [1, 2, 3]), rel=1e-14)
    assert fn.grad(p)[0] == pytest.approx(sigmoid(p) * [1, 2, 3], rel=1e-14)
    s = sigmoid(p)
    assert fn.hessian(p)[0][0] == pytest.approx(np.diag(s * (1 - s) * [1, 2, 3]), rel=1e-12, abs=1e-15)
    # forward mode, derived by transposition, through the rule
    v = np.array([0.3, -1.0, 2.0])
    assert fn.jvp(p, v=(v,))[1] == pytest.approx(float(sigmoid(p) * [1, 2, 3] @ v), rel=1e-13)


def test_custom_function_inside_a_loop_and_on_numba():
    final, _ = cc.scan(lambda c, _: (log1pexp(c * x), None), 0.5, length=3)
    for backend in ("python", "numba"):
        fn = cc.compile(final, [x], backend=backend)
        def f(v):
            c = 0.5
            for _ in range(3):
                c = np.logaddexp(0.0, c * v)
            return c
        assert fn(0.8) == pytest.approx(f(0.8), rel=1e-14)
        assert fn.grad(0.8)[0] == pytest.approx(fd(f, [0.8])[0], rel=1e-8)


def test_wrong_rules_show_up_in_gradcheck():
    @cc.custom_jvp
    def bad_sin(v):
        return cc.sin(v)
    bad_sin.defjvp(lambda p, t: (cc.sin(p[0]), t[0] * cc.sin(p[0])))  # should be cos
    assert not cc.gradcheck(cc.compile(bad_sin(x), [x], backend="python"), 0.7).ok

    @cc.custom_vjp
    def bad_mul(u, v):
        return u * v
    bad_mul.defvjp(lambda u, v: (u * v, (u, v)), lambda r, g: (g * r[0], g * r[1]))  # swapped partials
    assert not cc.gradcheck(cc.compile(bad_mul(x, y), [x, y], backend="python"), 0.3, 2.0).ok
    assert cc.gradcheck(cc.compile(log1pexp(x) * y, [x, y], backend="python"), 0.3, 2.0).ok


def test_custom_rule_mistakes_are_explained():
    @cc.custom_jvp
    def no_rule(v):
        return v
    with pytest.raises(cc.CompilerError, match="defjvp"):
        no_rule(x)

    @cc.custom_jvp
    def reads_outside(v):
        return v * y
    reads_outside.defjvp(lambda p, t: (p[0] * y, t[0] * y))
    with pytest.raises(cc.TracingError, match=r"\['y'\].*pass them as arguments"):
        reads_outside(x)

    @cc.custom_vjp
    def two(u, v):
        return u + v
    two.defvjp(lambda u, v: (u + v, None), lambda r, g: (g,))
    with pytest.raises(TypeError, match="tuple of 2 cotangent"):
        two(x, y)

    @cc.custom_jvp
    def nonlinear(v):
        return v
    nonlinear.defjvp(lambda p, t: (p[0], t[0] * t[0]))
    with pytest.raises(cc.CompilerError, match="not linear in the tangents"):
        cc.compile(nonlinear(x), [x], backend="python")

    @cc.custom_vjp
    def shaped(v):
        return cc.sum(v)
    shaped.defvjp(lambda v: (cc.sum(v), None), lambda r, g: (cc.stack([g, g]),))
    with pytest.raises(cc.ShapeError, match="shape"):
        shaped(cc.Tensor("w", (3,)))


def test_custom_nodes_pickle():
    fn = cc.compile(log1pexp(x) * clip_gradient(-0.5, 0.5, y), [x, y], backend="python")
    again = pickle.loads(pickle.dumps(fn))
    assert again.value_and_grad(0.3, 2.0) == fn.value_and_grad(0.3, 2.0)


# --- cc.root: implicit functions ---

@pytest.fixture(scope="module")
def kepler():
    E = cc.root(lambda E, e, m: E - e * cc.sin(E) - m, m, e, m)
    return cc.compile(E, [e, m], backend="python")


def test_kepler_against_the_closed_form_derivatives(kepler):
    for ecc, M in ((0.1, 0.3), (0.5, 1.0), (0.9, 2.5)):
        E = kepler(ecc, M)
        assert E - ecc * math.sin(E) - M == pytest.approx(0.0, abs=1e-12)
        d = 1.0 - ecc * math.cos(E)
        assert kepler.grad(ecc, M) == pytest.approx((math.sin(E) / d, 1.0 / d), rel=1e-12)
        # second derivatives: the rule reads the solution itself, so it differentiates again
        h = kepler.hessian(ecc, M)
        numeric = np.array([fd(lambda p, q: kepler.grad(p, q)[k], [ecc, M]) for k in range(2)])
        assert h == pytest.approx(numeric, rel=1e-6, abs=1e-8)


def test_kepler_batch_on_numba_matches_points():
    E = cc.root(lambda E, e, m: E - e * cc.sin(E) - m, m, e, m, max_iter=20)
    fn = cc.compile(E, [e, m], backend="numba")
    es, ms = np.linspace(0.0, 0.9, 1000), np.linspace(-3.0, 3.0, 1000)
    values, (de, dm) = fn.value_and_grad(es, ms)
    assert np.max(np.abs(values - es * np.sin(values) - ms)) < 1e-10
    assert dm == pytest.approx(1.0 / (1.0 - es * np.cos(values)), rel=1e-12)
    assert de == pytest.approx(np.sin(values) / (1.0 - es * np.cos(values)), rel=1e-12, abs=1e-15)


def test_two_dimensional_system_against_scipy():
    scipy_optimize = pytest.importorskip("scipy.optimize")

    def g(v, a, b):
        return cc.stack([v[0] * v[0] + v[1] * v[1] - a, v[0] - v[1] ** 3 - b])
    X = cc.root(g, np.array([1.0, 0.5]), a, b)
    fn = cc.compile(X, [a, b], backend="python")
    ref = scipy_optimize.root(lambda v: [v[0] ** 2 + v[1] ** 2 - 2.0, v[0] - v[1] ** 3 - 0.3], [1.0, 0.5],
                              tol=1e-14)
    assert fn(2.0, 0.3) == pytest.approx(ref.x, rel=1e-12)
    jac = fn.jacobian(2.0, 0.3)
    numeric = np.array([fd(lambda p, q: fn(p, q)[k], [2.0, 0.3]) for k in range(2)])
    assert np.column_stack([jac[0], jac[1]]) == pytest.approx(numeric, rel=1e-6)
    loss = cc.compile(cc.sum(X * X * np.array([1.0, 3.0])), [a, b], backend="python")
    assert cc.gradcheck(loss, 2.0, 0.3).ok
    numeric = np.array([fd(lambda p, q: loss.grad(p, q)[k], [2.0, 0.3]) for k in range(2)])
    assert loss.hessian(2.0, 0.3) == pytest.approx(numeric, rel=1e-6)


def test_non_converging_solve_is_nan():
    r = cc.root(lambda z, c: z * z + c, 1.0, x, max_iter=30)  # z^2 = -c: no real root for c > 0
    fn = cc.compile(r, [x], backend="python")
    assert fn(-4.0) == pytest.approx(2.0, rel=1e-12)
    assert fn.grad(-4.0)[0] == pytest.approx(-1.0 / (2 * 2.0), rel=1e-12)
    assert math.isnan(fn(1.0)) and math.isnan(fn.grad(1.0)[0])


def test_root_of_five_unknowns_against_scipy_and_differences():
    """More unknowns than Cramer's rule takes: the Newton step and the implicit-function rule
    solve with the linear-algebra ``solve`` op; against scipy.optimize.root and central
    differences of the solution in the parameters."""
    from scipy.optimize import root as scipy_root
    a, b = cc.symbols("a b")
    n = 5
    coupling = np.diag(np.full(n - 1, 0.3), 1) + np.diag(np.full(n - 1, 0.2), -1) + np.eye(n) * 2.0

    def g(z, a, b):
        return coupling @ z + a * cc.tanh(z) - b * np.arange(1.0, n + 1.0)

    z = cc.root(g, np.zeros(n), a, b)
    fn = cc.compile(cc.sum(z * np.linspace(1.0, 2.0, n)), [a, b], backend="python")

    def solution(av, bv):
        return scipy_root(lambda v: coupling @ v + av * np.tanh(v) - bv * np.arange(1.0, n + 1.0),
                          np.zeros(n), tol=1e-14).x

    weights = np.linspace(1.0, 2.0, n)
    assert fn(0.7, 0.4) == pytest.approx(weights @ solution(0.7, 0.4), rel=1e-12)
    h = 1e-6
    fd = [(weights @ solution(0.7 + h, 0.4) - weights @ solution(0.7 - h, 0.4)) / (2 * h),
          (weights @ solution(0.7, 0.4 + h) - weights @ solution(0.7, 0.4 - h)) / (2 * h)]
    np.testing.assert_allclose(fn.grad(0.7, 0.4), fd, rtol=1e-7)


def test_root_mistakes_are_explained():
    with pytest.raises(cc.ShapeError, match="residual of the unknown's shape"):
        cc.root(lambda z, c: cc.stack([z, z]), 1.0, x)
    with pytest.raises(cc.UnsupportedError, match="1-D vector of unknowns"):
        cc.root(lambda z, c: z - c, np.zeros((2, 2)), x)
    with pytest.raises(cc.TracingError, match="pass them as params"):
        cc.root(lambda z, c: z - c * y, 1.0, x)
    with pytest.raises(ValueError, match="max_iter"):
        cc.root(lambda z, c: z - c, 1.0, x, max_iter=0)


# --- cc.extern: a user's Numba functions ---

PANELS = 64


@numba.njit
def quad(x, y):
    """y * integral_0^1 exp(-x t^2) dt by Simpson's rule."""
    h = 1.0 / PANELS
    s = 0.0
    for i in range(PANELS + 1):
        t = i * h
        w = 1.0 if (i == 0 or i == PANELS) else (4.0 if i % 2 == 1 else 2.0)
        s += w * math.exp(-x * t * t)
    return s * h / 3.0 * y


@numba.njit
def quad_grad(x, y):
    h = 1.0 / PANELS
    s = 0.0
    d = 0.0
    for i in range(PANELS + 1):
        t = i * h
        w = 1.0 if (i == 0 or i == PANELS) else (4.0 if i % 2 == 1 else 2.0)
        f = math.exp(-x * t * t)
        s += w * f
        d -= w * t * t * f
    return (d * h / 3.0 * y, s * h / 3.0)


@numba.njit
def quad_jvp(x, y, tx, ty):
    gx, gy = quad_grad(x, y)
    return gx * tx + gy * ty


@numba.njit
def hyp(x, y):
    return x * x * y


@numba.njit
def hyp_grad(x, y):
    return (2.0 * x * y, x * x)


@numba.njit
def hyp_hessian(x, y):
    return ((2.0 * y, 2.0 * x), (2.0 * x, 0.0))


@numba.njit
def checked_sqrt(x):
    if x < 0.0:
        raise ValueError("checked_sqrt: x must be non-negative")
    return math.sqrt(x)


@numba.njit
def pair(x):
    return (x, x)


QUAD = cc.extern(quad, grad=quad_grad)


def in_ops(xx, yy):
    """The same model written in ops: Simpson's sum over constant nodes."""
    t = np.linspace(0.0, 1.0, PANELS + 1)
    w = np.where(np.arange(PANELS + 1) % 2 == 1, 4.0, 2.0)
    w[0] = w[-1] = 1.0
    return cc.sum(w * cc.exp(-xx * t * t)) * (1.0 / PANELS / 3.0) * yy


@pytest.fixture(scope="module")
def quad_numba():
    return cc.compile(QUAD(x * x, y) * cc.sin(y), [x, y], backend="numba")


def test_extern_against_finite_differences_and_ops(quad_numba):
    ops = cc.compile(in_ops(x * x, y) * cc.sin(y), [x, y], backend="python")
    for backend in ("python", "auto"):
        fn = cc.compile(QUAD(x * x, y) * cc.sin(y), [x, y], backend=backend)
        for fnn in (fn, quad_numba):
            assert fnn(0.7, 1.3) == pytest.approx(ops(0.7, 1.3), rel=1e-13)
            assert fnn.grad(0.7, 1.3) == pytest.approx(ops.grad(0.7, 1.3), rel=1e-12)
            assert fnn.grad(0.7, 1.3) == pytest.approx(fd(fnn, [0.7, 1.3]), rel=1e-7)
    # a jvp function alone gives the gradient too (one call per partial)
    by_jvp = cc.compile(cc.extern(quad, jvp=quad_jvp)(x, y), [x, y], backend="python")
    assert by_jvp.grad(0.7, 1.3) == pytest.approx(quad_grad(0.7, 1.3), rel=1e-14)


@numba.njit
def _points(xs, ys):
    """The oracle of a batch: quad and quad_grad called point by point in a plain loop."""
    out, gx, gy = np.empty(xs.size), np.empty(xs.size), np.empty(xs.size)
    for i in range(xs.size):
        v = quad(xs[i] * xs[i], ys[i])
        dq = quad_grad(xs[i] * xs[i], ys[i])
        out[i] = v * math.sin(ys[i])
        gx[i] = dq[0] * 2.0 * xs[i] * math.sin(ys[i])
        gy[i] = dq[1] * math.sin(ys[i]) + v * math.cos(ys[i])
    return out, gx, gy


def test_extern_batches(quad_numba):
    rng = np.random.default_rng(0)
    xs, ys = rng.uniform(-1, 1, 100_000), rng.uniform(-1, 1, 100_000)
    v, (gx, gy) = quad_numba.value_and_grad(xs, ys)
    ref = _points(xs, ys)
    assert v == pytest.approx(ref[0], rel=1e-14, abs=1e-300)
    assert gx == pytest.approx(ref[1], rel=1e-14, abs=1e-300) and gy == pytest.approx(ref[2], rel=1e-14, abs=1e-300)
    # and the same model written in ops, on a few of the points
    ops = cc.compile(in_ops(x * x, y) * cc.sin(y), [x, y], backend="python")
    v2, (gx2, gy2) = ops.value_and_grad(xs[:50], ys[:50])
    assert v[:50] == pytest.approx(v2, rel=1e-12, abs=1e-15)
    assert gx[:50] == pytest.approx(gx2, rel=1e-12, abs=1e-15) and gy[:50] == pytest.approx(gy2, rel=1e-12, abs=1e-15)


def test_extern_hessian_and_its_absence():
    H = cc.extern(hyp, grad=hyp_grad, hessian=hyp_hessian)
    fn = cc.compile(H(x, y) * y, [x, y], backend="numba")
    # x^2 y^2: gradient (2 x y^2, 2 x^2 y), Hessian [[2 y^2, 4 x y], [4 x y, 2 x^2]]
    assert fn.grad(1.5, 2.0) == pytest.approx((2 * 1.5 * 4.0, 2 * 1.5 ** 2 * 2.0))
    assert fn.hessian(1.5, 2.0) == pytest.approx(np.array([[8.0, 12.0], [12.0, 2 * 1.5 ** 2]]))
    no_hessian = cc.compile(cc.extern(hyp, grad=hyp_grad)(x, y), [x, y], backend="python")
    with pytest.raises(cc.CompilerError, match="no Hessian"):
        no_hessian.hessian(1.5, 2.0)
    with pytest.raises(cc.CompilerError, match="no gradient.*wrt=\\[\\]"):
        cc.compile(cc.extern(hyp)(x, y), [x, y], backend="python")
    assert cc.compile(cc.extern(hyp)(x, y), [x, y], wrt=[], backend="python")(2.0, 3.0) == 12.0


def test_extern_errors_are_the_users():
    f = cc.extern(checked_sqrt)
    for backend in ("python", "numba", "llvm"):  # llvm: its cfunc catches it, Python raises it again
        fn = cc.compile(f(x), [x], wrt=[], backend=backend)
        assert fn(4.0) == 2.0
        with pytest.raises(ValueError, match="checked_sqrt: x must be non-negative"):
            fn(-1.0)
        with pytest.raises(ValueError, match="checked_sqrt: x must be non-negative"):
            fn(np.array([1.0, -1.0]))   # a batch: the exception is not lost in a parallel loop
    with pytest.raises(cc.UnsupportedError, match="cannot call a cc.extern"):
        cc.compile(f(x), [x], wrt=[], backend="vm")
    with pytest.raises(cc.CompilerError, match="returns .*expected a number"):
        cc.compile(cc.extern(pair)(x), [x], wrt=[], backend="numba")(1.0)
    with pytest.raises(TypeError, match="takes 1 argument"):
        f(x, y)


@numba.njit
def weighted_squares(w, s):
    return np.sum(w * w) * s


@numba.njit
def weighted_squares_grad(w, s):
    return (2.0 * w * s, np.sum(w * w))


def test_extern_of_arrays():
    W = cc.Tensor("W", (3,))
    f = cc.extern(weighted_squares, grad=weighted_squares_grad)
    ops = cc.compile(cc.sum((W * 2.0) ** 2) * y + cc.sum(W), [W, y], backend="python")
    p = np.array([0.5, -1.0, 2.0])
    for backend in ("python", "numba"):
        fn = cc.compile(f(W * 2.0, y) + cc.sum(W), [W, y], backend=backend)
        assert fn(p, 1.5) == pytest.approx(ops(p, 1.5), rel=1e-15)
        g, g_ops = fn.grad(p, 1.5), ops.grad(p, 1.5)
        assert g[0] == pytest.approx(g_ops[0], rel=1e-15) and g[1] == pytest.approx(g_ops[1], rel=1e-15)
    batch = fn(np.tile(p, (4, 1)), np.arange(4.0))
    assert batch == pytest.approx([ops(p, s) for s in range(4)], rel=1e-15)
    with pytest.raises(cc.CompilerError, match="arrays"):
        fn.hessian(p, 1.5)


def test_extern_pickles_when_importable(quad_numba):
    again = pickle.loads(pickle.dumps(quad_numba))
    assert again.value_and_grad(0.7, 1.3) == quad_numba.value_and_grad(0.7, 1.3)

    @numba.njit
    def local(v):
        return v + 1.0
    fn = cc.compile(cc.extern(local)(x), [x], wrt=[], backend="python")
    with pytest.raises(pickle.PicklingError, match="inside a function.*importable module"):
        pickle.dumps(fn)


def test_extern_on_dask(quad_numba):
    da = pytest.importorskip("dask.array")
    xs = np.linspace(-1.0, 1.0, 1000)
    out = quad_numba(da.from_array(xs, chunks=250), 0.5).compute()
    assert out == pytest.approx(quad_numba(xs, 0.5), rel=1e-15)


@pytest.mark.slow
def test_escape_bench_suite_runs_and_checks_its_methods():
    from compiler.bench import SUITES, escape
    calls = []
    rows = escape.run(True, lambda: calls.append(1))
    assert len(calls) == SUITES["escape"].steps(True) == 3
    ratios = [r.extra["ratio"] for r in rows if "ratio" in r.extra]
    assert len(ratios) == 6 and all(0.0 < q < 100.0 for q in ratios)
