"""SymPy's structures and elementary functions (issue 24, part 1): Matrix/Array, dynamicsymbols,
operand order, reciprocal trig/hyperbolic functions, sinc, Heaviside, KroneckerDelta, Boolean
conditions and finite Sum/Product. Oracle: SymPy's own numeric evaluation (``evalf``) and
finite differences of it."""

from __future__ import annotations

import math

import numpy as np
import pytest

import compiler as cc

sp = pytest.importorskip("sympy")
x, y = sp.symbols("x y", real=True)
k = sp.Symbol("k", integer=True)


def _sympy_value(e, point: dict) -> float:
    v = e.subs(point).evalf(30)
    if v in (sp.nan, sp.zoo) or v.has(sp.nan) or v.has(sp.zoo):
        return math.nan
    return float(v)


RECIPROCAL = [sp.sec, sp.csc, sp.cot, sp.sech, sp.csch, sp.coth, sp.acot, sp.acoth, sp.asec, sp.acsc,
              sp.asech, sp.acsch]
# points inside each function's real domain
DOMAIN = {sp.acoth: [1.5, -2.0, 7.0], sp.asec: [1.5, -2.0, 7.0], sp.acsc: [1.5, -2.0, 7.0],
          sp.asech: [0.2, 0.5, 0.9]}


@pytest.mark.parametrize("fn", RECIPROCAL, ids=lambda f: f.__name__)
def test_reciprocal_functions_value_and_derivative(fn):
    e = fn(x)
    f = cc.compile(e, [x], backend="python")
    d = sp.diff(e, x)
    for p in DOMAIN.get(fn, [0.3, -1.2, 2.5]):
        assert f(p) == pytest.approx(_sympy_value(e, {x: p}), rel=1e-14)
        assert f.grad(p)[0] == pytest.approx(_sympy_value(d, {x: p}), rel=1e-12)


def test_sinc_heaviside_kronecker():
    cases = [(sp.sinc(x), [0.0, 1e-9, 0.7, -3.0]), (sp.Heaviside(x), [-1.0, 0.0, 2.0]),
             (sp.Heaviside(x, 1), [-1.0, 0.0, 2.0]), (sp.Heaviside(x, 0), [0.0, 3.0]),
             (sp.KroneckerDelta(x, y), [1.0, 2.0])]
    for e, pts in cases:
        f = cc.compile(e, [x, y], backend="python")
        for p in pts:
            assert f(p, 2.0) == pytest.approx(_sympy_value(e, {x: p, y: 2.0}), rel=1e-15), (e, p)
    f = cc.compile(sp.sinc(x), [x], backend="python")
    assert f.grad(0.0)[0] == 0.0 and f.grad(0.5)[0] == pytest.approx(float(sp.diff(sp.sinc(x), x).subs(x, 0.5)))
    assert math.isnan(cc.compile(sp.Heaviside(x), [x], backend="python")(math.nan))  # as np.heaviside
    assert cc.compile(sp.Heaviside(x) * x, [x], backend="python").grad(-1.0)[0] == 0.0


PIECEWISE = sp.Piecewise((x, sp.And(x > 0, y > 0)), (y, sp.Or(x < -1, sp.Not(y < 0))),
                         (x * y, sp.ITE(x > y, sp.true, sp.Xor(x > 0, y > 0))),
                         (x - y, sp.Implies(x > -0.75, sp.Eq(y, -1))), (2 * x, sp.Ne(x, y)), (0, True))
POINTS = [(1.0, 1.0), (-2.0, -1.0), (0.5, -1.0), (-0.5, -1.0), (-0.5, -2.0), (-0.9, -3.0), (-0.8, -0.8),
          (-0.6, -3.0)]


@pytest.mark.parametrize("backend", ["python", "numba", "llvm", "vm"])
def test_logic_in_piecewise_on_every_backend(backend):
    f = cc.compile(PIECEWISE, [x, y], backend=backend)
    want = [_sympy_value(PIECEWISE, {x: a, y: b}) for a, b in POINTS]
    assert [f(a, b) for a, b in POINTS] == want
    xs, ys = np.array(POINTS).T
    assert f(xs, ys).tolist() == want  # a batch
    # the derivative is the selected branch's
    assert f.grad(-0.5, -2.0) == (-2.0, -0.5)


def test_logic_through_cc_where_and_round_trip():
    c = sp.And(x > 0, sp.Or(y > 1, sp.Not(y < -1)))
    e = cc.where(c, cc.Symbol("x"), 0.0)
    f = cc.compile(e, [x, y], backend="python")
    assert (f(1.0, 0.0), f(1.0, -2.0), f(-1.0, 5.0)) == (1.0, 0.0, 0.0)
    for cond in (c, sp.Xor(x > 0, y > 0), sp.Not(x > 0)):
        assert cc.to_sympy(cc.from_sympy(cond)) == cond.subs({x: sp.Symbol("x"), y: sp.Symbol("y")})
    with pytest.raises(TypeError, match="logical_and combines conditions"):
        cc.ir.apply("logical_and", cc.Symbol("x"), cc.Symbol("x") > 0)


def test_finite_sum_and_product():
    s = sp.Sum(sp.sin(k * x) / k, (k, 1, 8))
    f = cc.compile(s, [x], backend="python")
    assert f(0.3) == pytest.approx(_sympy_value(s.doit(), {x: 0.3}), rel=1e-14)
    assert f.grad(0.3)[0] == pytest.approx(sum(math.cos(j * 0.3) for j in range(1, 9)), rel=1e-14)
    j = sp.Symbol("j", integer=True)
    nested = sp.Sum(x ** j * k, (j, 0, k), (k, 1, 3))  # the inner limit depends on the outer index
    assert cc.compile(nested, [x], backend="python")(2.0) == _sympy_value(nested.doit(), {x: 2.0})
    p = sp.Product(1 + x / k, (k, 1, 5))
    assert cc.compile(p, [x], backend="python")(0.7) == pytest.approx(_sympy_value(p.doit(), {x: 0.7}), rel=1e-14)
    # Karr's convention for an upper limit below the lower one, and empty ranges
    for e in (sp.Sum(x * k, (k, 5, 2)), sp.Product(x + k, (k, 5, 2)), sp.Sum(x, (k, 3, 2)),
              sp.Product(x, (k, 3, 2))):
        assert cc.compile(e, [x], backend="python")(1.5) == pytest.approx(_sympy_value(e.doit(), {x: 1.5}))
    with pytest.raises(cc.UnsupportedError, match="Sum with limits"):
        cc.from_sympy(sp.Sum(x / k, (k, 1, sp.oo)))
    with pytest.raises(cc.UnsupportedError, match="at most"):
        cc.from_sympy(sp.Sum(x / k, (k, 1, 10**6)))


def test_matrix_and_array_outputs():
    M = sp.Matrix([[x * y, sp.sec(x)], [sp.exp(y), 1]])
    for m in (M, sp.ImmutableMatrix(M), sp.Array(M)):
        f = cc.compile(m, [x, y], backend="python")
        want = np.array(M.subs({x: 0.5, y: 2.0}).evalf(), dtype=float)
        np.testing.assert_allclose(f(0.5, 2.0), want, rtol=1e-15)
        assert cc.from_sympy(m).shape == (2, 2)
    col = sp.Matrix([x ** 2, x * y, sp.sin(y)])
    f = cc.compile(col, [x, y], backend="python")
    assert f(3.0, 0.0).shape == (3, 1)
    jx, jy = f.jacobian(3.0, 0.0)
    np.testing.assert_allclose(np.ravel(jx), [6.0, 0.0, 0.0])
    np.testing.assert_allclose(np.ravel(jy), [0.0, 3.0, 1.0])
    a3 = sp.Array([[[x, y], [1, 2]], [[x * y, 0], [3, x]]])
    assert cc.compile(a3, [x, y], backend="python")(2.0, 5.0).tolist() == [[[2, 5], [1, 2]], [[10, 0], [3, 2]]]
    assert cc.compile(sp.Matrix([x]), [x], backend="python")(4.0).tolist() == [[4.0]]


def test_dynamicsymbols_as_inputs():
    mechanics = pytest.importorskip("sympy.physics.mechanics")
    q0, u0 = mechanics.dynamicsymbols("q0 u0")
    t = mechanics.dynamicsymbols._t
    F = sp.Matrix([u0 * sp.sin(q0) + q0.diff(t), q0 * u0])
    f = cc.compile(F, [q0, u0, q0.diff(t)], backend="python")
    np.testing.assert_allclose(f(1.0, 2.0, 3.0).ravel(), [2 * math.sin(1.0) + 3.0, 2.0], rtol=1e-15)
    dq, du, dqd = (np.ravel(j) for j in f.jacobian(1.0, 2.0, 3.0))
    np.testing.assert_allclose(dq, [2 * math.cos(1.0), 2.0])
    np.testing.assert_allclose(du, [math.sin(1.0), 1.0])
    np.testing.assert_allclose(dqd, [1.0, 0.0])
    g = cc.compile(q0 ** 2 * u0, [q0, u0], wrt=q0, backend="python")
    assert g.grad(3.0, 2.0) == 12.0
    assert cc.to_sympy(cc.from_sympy(sp.sin(q0) * u0 + q0.diff(t))) == sp.sin(q0) * u0 + q0.diff(t)
    f_ = sp.Function("f")
    with pytest.raises(ValueError, match="not in inputs"):
        cc.compile(f_(t) * q0, [q0])
    with pytest.raises(cc.UnsupportedError, match="Derivative"):
        cc.from_sympy(sp.Derivative(sp.sin(x) * q0, x))


def test_operand_order_of_sympy_and_library_expressions():
    s, X = sp.Symbol("s"), cc.Symbol("x")
    for e in (s * X, X * s, s + X, s - X, X - s, s / X, X / s, s ** X, X ** s):
        assert isinstance(e, cc.Expr)
    f = cc.compile([s * X, s - X, s / X, s ** X], [s, X], backend="python")
    assert list(f(2.0, 3.0)) == [6.0, -1.0, 2.0 / 3.0, 8.0]
    assert isinstance(sp.Matrix([s]) * 1 + sp.Matrix([0]), sp.MatrixBase)  # SymPy alone is unchanged


@pytest.mark.parametrize("name", ["hyper", "meijerg", "Integral", "Derivative"])
def test_unsupported_sympy_functions_are_named(name):
    e = {"hyper": sp.hyper([1], [2], x), "meijerg": sp.meijerg([[1], []], [[], []], x),
         "Integral": sp.Integral(sp.sin(k * x), (k, 0, 1)), "Derivative": sp.Derivative(sp.sin(x * y), x)}[name]
    with pytest.raises(cc.UnsupportedError, match=name):
        cc.compile(e, [x, y])


def test_numpy_logical_ufuncs_are_conditions():
    X = cc.Tensor("X", (3,))
    e = cc.where(np.logical_and(X > 0, np.not_equal(X, 1.0)), X, -X)
    f = cc.compile(cc.sum(np.where(np.logical_or(X < -5, np.logical_not(X < 2)), 0.0, e)), [X], backend="python")
    data = np.array([0.5, 1.0, 3.0])
    assert f(data) == 0.5 - 1.0 + 0.0
    assert np.array_equal(f.grad(data)[0], [1.0, -1.0, 0.0])
