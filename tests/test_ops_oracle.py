"""Every op of the op table against an independent high-precision oracle.

The oracle of each case is a SymPy expression written here by hand from the
mathematical definition (``sp.log(1 + x)`` for log1p, ``1 / (1 + exp(-x))``
for sigmoid, ...), never taken from ``ops.OPS[...].sympy`` or ``cc.to_sympy``,
so the op table's own SymPy mapping is not trusted to check itself (that
mapping is tested separately, in ``test_sympy_round_trip``). SymPy
differentiates the oracle exactly; mpmath evaluates value, gradient and
Hessian at 500 significant digits (enough that 1 + exp(-1000) is not 1) at
the exact binary value of each point.

Points are chosen where the function is well-conditioned, so the compiled
value and gradient must be within ``RTOL`` = 1e-12 relative of the exact
result and the Hessian within ``RTOL_HESS`` = 1e-10. The absolute floor
``FLOOR`` only forgives results below the smallest normal float (exact
values that underflow), so a small-but-normal result such as
tanh'(30) = 3.5e-26 must be relatively accurate too.

Most tests run the ``python`` backend (no JIT, cheap per case). The ``numba``
backend is tested through ONE multi-output function holding every case
(a module fixture: three JIT compiles in all), checked against the python
backend bit-for-bit-ish (rtol 1e-14, equal nan/inf positions) on a grid of
special points and against the oracle at every case's points.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from typing import Callable

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

import compiler as cc
from compiler import ir
from compiler.ir import ops
from compiler.ir.special import SPECIAL as SPECIAL_FUNCTIONS

x, y = cc.symbols("x y")
X, Y = sp.symbols("x y", real=True)

DPS = 500           # mpmath working precision (digits): 1 + exp(-1000) must not round to 1
RTOL = 1e-12        # value and gradient, relative
RTOL_HESS = 1e-10   # second derivatives, relative
FLOOR = 1e-300      # absolute floor: forgives only results that underflow
NUMBA_RTOL = 1e-14  # numba backend vs python backend (a few ulps)

inf, nan = math.inf, math.nan


@dataclass(frozen=True)
class Case:
    id: str
    ops: tuple                # the ops this case tests; ops[0] is the expression's top op
    build: Callable           # (x, y) -> expression
    oracle: Callable          # (X, Y) -> SymPy expression, written independently of ops.py
    points: tuple             # smooth, well-conditioned points: tuples of nvars floats
    nvars: int = 1
    hess_points: tuple = ()   # default: the first two points
    round_trip_same_node: bool = True  # from_sympy(to_sympy(e)) is e itself
    round_trip_points: tuple = ()      # default: the points with every |coordinate| <= 30
    grad_floor: float = FLOOR  # absolute tolerance of derivatives (a documented accuracy choice)

    @property
    def symbols(self):
        return (x, y)[:self.nvars]

    @property
    def sp_symbols(self):
        return (X, Y)[:self.nvars]

    def expr(self):
        return self.build(x, y)

    def hessian_points(self):
        return self.hess_points or self.points[:2]

    def safe_round_trip_points(self):
        return self.round_trip_points or tuple(p for p in self.points if max(map(abs, p)) <= 30)


def unary(case_id, oracle, points, hess=(), same_node=True, rt=(), build=None, op=None, grad_floor=FLOOR):
    op = op or case_id
    return Case(case_id, (op,), build or (lambda a, b: getattr(cc, op)(a)), lambda A, B=None: oracle(A),
                tuple((p,) for p in points), 1, tuple((p,) for p in hess), same_node, tuple((p,) for p in rt),
                grad_floor)


def binary(case_id, op, build, oracle, points, hess=(), same_node=True):
    return Case(case_id, (op,), build, oracle, tuple(points), 2, tuple(hess), same_node)


def _relu_oracle(A):
    return sp.Piecewise((A, A > 0), (0, True))


CASES = [
    unary("exp", sp.exp, [-30.0, -1.0, 0.0, 1e-8, 0.5, 20.0, 700.0]),
    unary("log", sp.log, [1e-300, 1e-5, 0.5, 2.0, 1e3, 1e300], hess=[0.5, 2.0]),
    unary("sqrt", sp.sqrt, [1e-300, 1e-8, 0.25, 2.0, 1e3, 1e300], hess=[0.25, 2.0]),
    unary("sin", sp.sin, [-3.0, -1.0, 1e-8, 0.5, 1.0, 2.0, 10.0], hess=[0.5, 2.0]),
    unary("cos", sp.cos, [-3.0, 0.0, 1e-8, 0.5, 1.0, 2.0, 10.0], hess=[0.5, 2.0]),
    unary("tan", sp.tan, [-1.2, -0.5, 0.0, 1e-8, 0.3, 1.0, 1.5], hess=[0.3, -1.2]),
    # tanh' = 1 - tanh**2 (as PyTorch, JAX and SymPy write it): absolute accuracy of a
    # few ulps of 1; relative accuracy fades where |x| > 5 and the derivative is tiny
    unary("tanh", sp.tanh, [-1e3, -30.0, -8.0, -0.5, 0.0, 1e-8, 0.5, 3.0, 8.0, 30.0, 1e3],
          hess=[0.5, -3.0, 30.0], grad_floor=4.5e-16),
    unary("sinh", sp.sinh, [-20.0, -1.0, 0.0, 1e-8, 0.5, 3.0, 700.0], hess=[0.5, -3.0]),
    unary("cosh", sp.cosh, [-20.0, -1.0, 0.0, 1e-8, 0.5, 3.0, 700.0], hess=[0.5, -3.0]),
    unary("asin", sp.asin, [-0.9, -0.5, 0.0, 1e-8, 0.3, 0.9], hess=[0.3, -0.5]),
    unary("acos", sp.acos, [-0.9, -0.5, 0.0, 1e-8, 0.3, 0.9], hess=[0.3, -0.5]),
    unary("atan", sp.atan, [-1e3, -2.0, -0.5, 0.0, 1e-8, 1.0, 30.0, 1e300], hess=[0.5, -2.0]),
    unary("log1p", lambda A: sp.log(1 + A),
          [-0.9, -0.5, -1e-10, -3e-17, 0.0, 1e-30, 1e-10, 0.5, 3.0, 1e3, 1e300], hess=[0.5, -0.5, 1e-10]),
    unary("expm1", lambda A: sp.exp(A) - 1,
          [-1e3, -30.0, -5.0, -1e-10, -3e-17, 0.0, 1e-30, 1e-10, 0.5, 5.0, 700.0], hess=[0.5, -30.0, 1e-10]),
    unary("erf", sp.erf, [-5.0, -2.0, -0.5, 0.0, 1e-10, 0.5, 2.0, 5.0], hess=[0.5, -2.0]),
    unary("abs", sp.Abs, [-3.0, -1e-300, 2.0, 1e300], hess=[-3.0, 2.0]),
    unary("sign", sp.sign, [-3.0, -1e-300, 2.0], hess=[-3.0, 2.0]),
    unary("relu", _relu_oracle, [-3.0, -1e-300, 1e-300, 2.0], hess=[-3.0, 2.0], same_node=False),
    unary("sigmoid", lambda A: 1 / (1 + sp.exp(-A)),
          [-1e3, -30.0, -10.0, -0.5, 0.0, 1e-8, 0.5, 10.0, 30.0, 1e3], hess=[0.5, -10.0, 30.0],
          same_node=False, rt=[-5.0, -0.5, 0.0, 0.5, 5.0]),
    unary("softplus", lambda A: sp.log(1 + sp.exp(A)),
          [-1e3, -30.0, -5.0, -0.5, 0.0, 0.5, 5.0, 30.0, 1e3], hess=[0.5, -5.0, 30.0], same_node=False,
          rt=[-5.0, -0.5, 0.0, 0.5, 5.0]),  # log(1 + exp(x)) itself loses digits where exp(x) << 1
    unary("neg", lambda A: -A, [-2.0, 0.0, 0.5, 1e300], build=lambda a, b: -a),
    binary("add", "add", lambda a, b: a + b, lambda A, B: A + B,
           [(1.5, -0.25), (0.1, 0.2), (-3.0, 7.0), (1e300, 1e300)]),
    binary("sub", "sub", lambda a, b: a - b, lambda A, B: A - B,
           [(1.5, -0.25), (3.0, 0.5), (-2.0, 1e-8)], same_node=False),
    binary("mul", "mul", lambda a, b: a * b, lambda A, B: A * B,
           [(1.5, -0.25), (1e-200, 1e100), (-3.0, 7.0)]),
    binary("div", "div", lambda a, b: a / b, lambda A, B: A / B,
           [(1.5, -0.25), (1.0, 3.0), (-7.0, 1e-5), (1e-100, 1e100)], same_node=False),
    binary("pow", "pow", lambda a, b: a ** b, lambda A, B: A ** B,
           [(2.0, 3.0), (0.5, -1.5), (3.0, 0.5), (1.5, 10.3), (1e-3, 2.5), (7.0, 0.0)]),
    # constant exponents take the other branch of the pow rule
    unary("pow_2", lambda A: A * A, [-3.0, -0.5, 0.0, 1.5], build=lambda a, b: a ** 2, op="pow"),
    unary("pow_3", lambda A: A * A * A, [-2.0, -0.5, 0.0, 1.5], build=lambda a, b: a ** 3, op="pow"),
    unary("pow_half", sp.sqrt, [1e-8, 0.25, 2.0], build=lambda a, b: a ** 0.5, same_node=False, op="pow"),
    unary("pow_-1.5", lambda A: 1 / (A * sp.sqrt(A)), [1e-3, 0.25, 2.0], build=lambda a, b: a ** -1.5, op="pow"),
    unary("pow_-1", lambda A: 1 / A, [-4.0, 0.25, 3.0], build=lambda a, b: a ** -1, same_node=False, op="pow"),
    binary("atan2", "atan2", cc.atan2, sp.atan2,
           [(1.0, 2.0), (-1.0, 2.0), (1.0, -2.0), (-1.0, -2.0), (0.5, 0.0), (3.0, 1e-8)],
           hess=[(1.0, 2.0), (-1.0, -2.0)]),
    binary("maximum", "maximum", cc.maximum, sp.Max, [(1.0, 2.0), (2.0, 1.0), (-3.0, 0.5)]),
    binary("minimum", "minimum", cc.minimum, sp.Min, [(1.0, 2.0), (2.0, 1.0), (-3.0, 0.5)]),
    # NumPy's further ufuncs
    unary("log2", lambda A: sp.log(A) / sp.log(2), [1e-300, 1e-5, 0.5, 2.0, 8.0, 1e300], hess=[0.5, 3.0]),
    unary("log10", lambda A: sp.log(A) / sp.log(10), [1e-300, 1e-5, 0.5, 2.0, 1e3, 1e300], hess=[0.5, 3.0]),
    unary("exp2", lambda A: 2 ** A, [-1000.0, -30.0, -1.0, 0.0, 1e-8, 0.5, 20.0, 1000.0], hess=[0.5, -3.0]),
    unary("cbrt", lambda A: sp.Piecewise((-(-A) ** sp.Rational(1, 3), A < 0), (A ** sp.Rational(1, 3), True)),
          [-27.0, -2.0, -1e-300, 1e-300, 1e-3, 3.0, 1e300], hess=[-2.0, 3.0], same_node=False),
    unary("asinh", sp.asinh, [-1e300, -30.0, -0.5, 0.0, 1e-8, 0.5, 30.0, 1e300], hess=[0.5, -3.0]),
    unary("acosh", sp.acosh, [1.0 + 2**-30, 1.5, 2.0, 30.0, 1e300], hess=[1.5, 3.0]),
    unary("atanh", sp.atanh, [-0.99, -0.5, 0.0, 1e-8, 0.5, 0.99], hess=[0.5, -0.9]),
    # piecewise constant: the oracle's derivatives of floor are 0 (see _flat_steps); points off the jumps
    unary("floor", sp.floor, [-2.5, -0.5, 0.3, 1.7, 1e15 + 0.5], hess=[-0.5, 1.7]),
    unary("ceil", sp.ceiling, [-2.5, -0.5, 0.3, 1.7, 1e15 + 0.5], hess=[-0.5, 1.7]),
    unary("rint", lambda A: sp.floor(A + sp.Rational(1, 2)), [-2.7, -0.4, 0.3, 1.6, 2.4], hess=[-0.4, 1.6]),
    binary("hypot", "hypot", cc.hypot, lambda A, B: sp.sqrt(A ** 2 + B ** 2),
           [(3.0, 4.0), (-1e200, 1e200), (1e-200, -1e-200), (0.5, -2.0), (1e300, 1.0)],
           hess=[(3.0, 4.0), (0.5, -2.0)]),
    binary("logaddexp", "logaddexp", cc.logaddexp, lambda A, B: sp.log(sp.exp(A) + sp.exp(B)),
           [(0.5, -0.25), (1000.0, 999.0), (-1000.0, -1001.0), (3.0, 3.0), (-30.0, 20.0)],
           hess=[(0.5, -0.25), (3.0, 3.0)], same_node=False),
    binary("logaddexp2", "logaddexp2", cc.logaddexp2, lambda A, B: sp.log(2 ** A + 2 ** B) / sp.log(2),
           [(0.5, -0.25), (1000.0, 999.0), (-1000.0, -1001.0), (3.0, 3.0), (-30.0, 20.0)],
           hess=[(0.5, -0.25), (3.0, 3.0)], same_node=False),
    binary("mod", "mod", lambda a, b: a % b, lambda A, B: A - B * sp.floor(A / B),
           [(5.5, 2.0), (-5.5, 2.0), (5.5, -2.0), (0.3, 0.7), (7.25, 1.5)]),
    binary("floordiv", "floordiv", lambda a, b: a // b, lambda A, B: sp.floor(A / B),
           [(5.5, 2.0), (-5.5, 2.0), (5.5, -2.0), (0.3, 0.7), (7.25, 1.5)], same_node=False),
]
NO_SYMPY = {"rint"}  # SymPy has no rounding to the nearest even integer: to_sympy refuses it

# where(cond, a, b) for every comparison; the points hit true, false and a tie
_COMPARISONS = {"lt": sp.StrictLessThan, "le": sp.LessThan, "gt": sp.StrictGreaterThan,
                "ge": sp.GreaterThan, "eq": sp.Eq}
for _cmp, _rel in _COMPARISONS.items():
    CASES.append(Case(
        f"where_{_cmp}", ("where", _cmp),
        (lambda c: lambda a, b: cc.where(ir.apply(c, a, b), a * b ** 2, cc.sin(a) + b))(_cmp),
        (lambda r: lambda A, B: sp.Piecewise((A * B ** 2, r(A, B)), (sp.sin(A) + B, True)))(_rel),
        ((0.5, 2.0), (2.0, 0.5), (1.5, 1.5), (-1.0, -1.0)), 2))

CASE_BY_ID = {c.id: c for c in CASES}
assert len(CASE_BY_ID) == len(CASES)


def by_id(cases):
    return pytest.mark.parametrize("case", cases, ids=[c.id for c in cases])


# --- the oracle ---

def _dirac_delta(arg, *order):
    if arg == 0:
        raise ValueError("DiracDelta at 0: no point of a case may sit on a jump")
    return mp.mpf(0)


def _flat_steps(d):
    """SymPy leaves the derivatives of floor and ceiling unevaluated: they are 0 off the jumps
    (where every point of a case lies), so they are replaced by 0."""
    return d.replace(lambda t: isinstance(t, (sp.Derivative, sp.Subs)), lambda t: sp.S.Zero)


@functools.lru_cache(maxsize=None)
def _oracle_function(case_id: str):
    case = CASE_BY_ID[case_id]
    syms = case.sp_symbols
    e = case.oracle(*syms)
    grad = [_flat_steps(sp.diff(e, s)) for s in syms]
    hess = [[_flat_steps(sp.diff(g, s)) for s in syms] for g in grad]
    return sp.lambdify(syms, [e, grad, hess], modules=[{"DiracDelta": _dirac_delta}, "mpmath"])


def exact(case: Case, point) -> tuple[float, list[float], list[list[float]]]:
    """Value, gradient and Hessian at ``point`` (exact binary floats), rounded to float64."""
    with mp.workdps(DPS):
        v, g, h = _oracle_function(case.id)(*[mp.mpf(p) for p in point])
        return float(v), [float(t) for t in g], [[float(t) for t in row] for row in h]


def assert_matches(got, expected, rtol: float, what: str, floor: float = FLOOR) -> None:
    """|got - expected| <= rtol |expected| + floor, with inf == inf and nan == nan."""
    got = np.asarray(got, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert got.shape == expected.shape, (what, got.shape, expected.shape)
    with np.errstate(all="ignore"):
        err = np.abs(got - expected)
        ok = (got == expected) | (err <= rtol * np.abs(expected) + floor) | (np.isnan(got) & np.isnan(expected))
        rel = err / np.abs(expected)
    assert ok.all(), f"{what}: got {got.tolist()}, expected {expected.tolist()}, relative error {rel.tolist()}"


def compile_case(case: Case, backend: str = "python") -> cc.CompiledFunction:
    return cc.compile(case.expr(), list(case.symbols), backend=backend)


# --- the table covers every op, and each case builds the op it claims to ---

def test_every_op_has_a_case():
    covered = {op for c in CASES for op in c.ops}
    # stop_gradient has no SymPy counterpart (value x, derivative 0): tested in test_tensors.py
    # the special functions and Boolean logic have their own tests (against mpmath, SymPy):
    # test_special_functions.py, test_sympy_structures.py; the ops of complex values (of a real
    # value they are the value itself, 0, or atan2) are checked in test_complex.py
    complex_ops = {"conj", "real", "imag", "angle"}
    assert covered == set(ops.SCALAR_OPS) - {"const", "var", "stop_gradient"} - set(SPECIAL_FUNCTIONS) \
        - ops.LOGICAL_OPS - complex_ops


@by_id(CASES)
def test_case_builds_its_op(case):
    e = case.expr()
    assert e.op == case.ops[0]
    if case.ops[0] == "where":
        assert e.args[0].op == case.ops[1]


# --- value, gradient and Hessian against the oracle (python backend) ---

@by_id(CASES)
def test_value_and_gradient(case):
    fn = compile_case(case)
    for p in case.points:
        ev, eg, _ = exact(case, p)
        v, g = fn.value_and_grad(*p)
        assert_matches(v, ev, RTOL, f"{case.id}{p} value")
        assert_matches(g, eg, RTOL, f"{case.id}{p} gradient", case.grad_floor)
        assert fn(*p) == v or (math.isnan(v) and math.isnan(fn(*p)))  # the value kernel agrees


@by_id(CASES)
def test_hessian(case):
    fn = compile_case(case)
    for p in case.hessian_points():
        _, _, eh = exact(case, p)
        h = fn.hessian(*p)
        assert h.shape == (case.nvars, case.nvars)
        assert_matches(h, eh, RTOL_HESS, f"{case.id}{p} Hessian", case.grad_floor)


# --- no spurious overflow or loss of accuracy across a wide range (python batch path) ---

SWEEP = np.concatenate([np.linspace(-1e3, 1e3, 41), -np.logspace(-12, 2.5, 15), np.logspace(-12, 2.5, 15)])


@pytest.mark.parametrize("case_id, lo, hi", [
    ("sigmoid", -1e3, 1e3), ("softplus", -1e3, 1e3), ("tanh", -1e3, 1e3), ("log1p", -0.99, 1e3),
    ("expm1", -1e3, 709.0), ("atan", -1e3, 1e3), ("erf", -1e3, 1e3), ("exp", -1e3, 709.0),
])
def test_wide_range(case_id, lo, hi):
    case = CASE_BY_ID[case_id]
    pts = SWEEP[(SWEEP >= lo) & (SWEEP <= hi)]
    v, (g,) = compile_case(case).value_and_grad(pts)  # arrays: the batch driver
    assert np.isfinite(v).all() and np.isfinite(g).all()
    for a, va, ga in zip(pts, v, g):
        ev, (eg,), _ = exact(case, (float(a),))
        assert_matches(va, ev, RTOL, f"{case_id}({a}) value")
        assert_matches(ga, eg, RTOL, f"{case_id}({a}) derivative", case.grad_floor)


# --- conventions at kinks and ties (PyTorch's): both backends ---

KINKS = [  # (case, point, value, gradient)
    ("relu", (0.0,), 0.0, (0.0,)),
    ("relu", (-0.0,), 0.0, (0.0,)),
    ("abs", (0.0,), 0.0, (0.0,)),
    ("abs", (-0.0,), 0.0, (0.0,)),
    ("sign", (0.0,), 0.0, (0.0,)),
    ("maximum", (1.5, 1.5), 1.5, (0.5, 0.5)),
    ("maximum", (0.0, 0.0), 0.0, (0.5, 0.5)),
    ("minimum", (1.5, 1.5), 1.5, (0.5, 0.5)),
    ("minimum", (-2.0, -2.0), -2.0, (0.5, 0.5)),
    # a ** b: d/da is 0 where b == 0, d/db is 0 where a == 0 (no 0 * log(0) = nan)
    ("pow", (0.0, 2.0), 0.0, (0.0, 0.0)),
    ("pow", (0.0, 0.0), 1.0, (0.0, 0.0)),
    ("pow", (2.0, 0.0), 1.0, (0.0, math.log(2.0))),
    # hypot(x, 0) is |x|: derivative 0 at the origin, as abs'(0); rounding has derivative 0 at a jump too
    ("hypot", (0.0, 0.0), 0.0, (0.0, 0.0)),
    ("hypot", (-0.0, 0.0), 0.0, (0.0, 0.0)),
    ("floor", (2.0,), 2.0, (0.0,)),
    ("ceil", (-1.0,), -1.0, (0.0,)),
    ("rint", (2.5,), 2.0, (0.0,)),  # ties to even
    ("rint", (3.5,), 4.0, (0.0,)),
    ("floordiv", (6.0, 2.0), 3.0, (0.0, 0.0)),
    ("mod", (6.0, 2.0), 0.0, (1.0, -3.0)),
    # where at a tie follows its comparison; the gradient flows through the selected branch only
    ("where_lt", (1.5, 1.5), math.sin(1.5) + 1.5, (math.cos(1.5), 1.0)),
    ("where_le", (1.5, 1.5), 1.5 ** 3, (1.5 ** 2, 2 * 1.5 * 1.5)),
    ("where_gt", (1.5, 1.5), math.sin(1.5) + 1.5, (math.cos(1.5), 1.0)),
    ("where_ge", (1.5, 1.5), 1.5 ** 3, (1.5 ** 2, 2 * 1.5 * 1.5)),
    ("where_eq", (1.5, 1.5), 1.5 ** 3, (1.5 ** 2, 2 * 1.5 * 1.5)),
    ("where_eq", (1.5, 1.25), math.sin(1.5) + 1.25, (math.cos(1.5), 1.0)),
]


# --- nan and inf: what NumPy gives, in both backends, never an exception or warning ---

SPECIAL = [  # (case, point, value, gradient or None when only "no exception, backends agree")
    ("log", (-1.0,), nan, None),
    ("log", (0.0,), -inf, (inf,)),
    ("log", (inf,), inf, (0.0,)),
    ("sqrt", (-1.0,), nan, (nan,)),
    ("sqrt", (0.0,), 0.0, (inf,)),
    ("sqrt", (inf,), inf, (0.0,)),
    ("div", (1.0, 0.0), inf, (inf, -inf)),
    ("div", (-1.0, 0.0), -inf, (inf, inf)),
    ("div", (0.0, 0.0), nan, (inf, nan)),
    ("pow_-1", (0.0,), inf, (-inf,)),
    ("pow", (-8.0, 1 / 3), nan, None),
    ("log1p", (-1.0,), -inf, (inf,)),
    ("log1p", (-2.0,), nan, None),
    ("exp", (1e3,), inf, (inf,)),
    ("exp", (-inf,), 0.0, (0.0,)),
    ("expm1", (1e3,), inf, (inf,)),     # e**1000 is not representable: overflow is the right answer
    ("expm1", (-inf,), -1.0, (0.0,)),
    ("asin", (2.0,), nan, (nan,)),
    ("acos", (-2.0,), nan, (nan,)),
    ("tanh", (inf,), 1.0, (0.0,)),
    ("tanh", (-inf,), -1.0, (0.0,)),
    ("sigmoid", (inf,), 1.0, (0.0,)),
    ("sigmoid", (-inf,), 0.0, (0.0,)),
    ("softplus", (inf,), inf, (1.0,)),
    ("softplus", (-inf,), 0.0, (0.0,)),
    ("atan", (inf,), math.pi / 2, (0.0,)),
    ("erf", (inf,), 1.0, (0.0,)),
    ("erf", (-inf,), -1.0, (0.0,)),
    ("sin", (nan,), nan, (nan,)),
    ("sin", (inf,), nan, (nan,)),
    ("relu", (inf,), inf, (1.0,)),
    ("log2", (0.0,), -inf, (inf,)),
    ("log2", (-1.0,), nan, None),
    ("log10", (inf,), inf, (0.0,)),
    ("exp2", (inf,), inf, (inf,)),
    ("exp2", (-inf,), 0.0, (0.0,)),
    ("cbrt", (0.0,), 0.0, (inf,)),
    ("cbrt", (-inf,), -inf, (0.0,)),
    ("asinh", (inf,), inf, (0.0,)),
    ("acosh", (1.0,), 0.0, (inf,)),
    ("acosh", (0.5,), nan, None),
    ("atanh", (1.0,), inf, (inf,)),
    ("atanh", (-2.0,), nan, None),
    ("hypot", (inf, nan), inf, None),
    ("logaddexp", (inf, inf), inf, None),
    ("logaddexp", (-inf, -inf), -inf, None),
    ("logaddexp", (-inf, 1.0), 1.0, (0.0, 1.0)),
    ("logaddexp2", (inf, 2.0), inf, None),
    ("floor", (-inf,), -inf, (0.0,)),
    ("rint", (nan,), nan, (0.0,)),
    ("mod", (1.0, 0.0), nan, None),
    ("mod", (-1.0, inf), inf, None),      # Python's and NumPy's: the sign of the divisor
    ("mod", (1.0, -inf), -inf, None),
    ("floordiv", (1.0, 0.0), inf, (0.0, 0.0)),
    ("floordiv", (1.0, -inf), -1.0, (0.0, 0.0)),  # Numba's own np.floor_divide gives -0.0 here
    ("floordiv", (inf, 1.0), nan, (0.0, 0.0)),
]


def _check_rows(rows, evaluate):
    for case_id, p, value, grad in rows:
        v, g = evaluate(CASE_BY_ID[case_id], p)
        assert_matches(v, value, 0.0, f"{case_id}{p} value", floor=1e-15)
        if grad is not None:
            assert_matches(g, grad, 0.0, f"{case_id}{p} gradient", floor=1e-15)


def _python_at(case, p):
    return compile_case(case).value_and_grad(*p)


@pytest.mark.parametrize("rows", [KINKS, SPECIAL], ids=["kinks", "nan_inf"])
def test_conventions_python(rows):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning either
        _check_rows(rows, _python_at)


@pytest.mark.parametrize("rows", [KINKS, SPECIAL], ids=["kinks", "nan_inf"])
def test_conventions_numba(rows, all_ops):
    numba_fn = all_ops[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_rows(rows, lambda case, p: _row(numba_fn, case, p))


# --- the numba backend: one function of every case ---

Y_FOR_UNARY = 0.75  # the second input of the all-ops function, unused by the unary cases


def _full_point(case, p):
    return p if case.nvars == 2 else (p[0], Y_FOR_UNARY)


def _row(fn, case, p):
    """Value and gradient of ``case`` from the all-ops function ``fn``."""
    i = CASES.index(case)
    values, jac = fn.value_and_grad(*_full_point(case, p))
    return values[i], tuple(jac[i, :case.nvars])


@pytest.fixture(scope="module")
def all_ops():
    exprs = [c.expr() for c in CASES]
    nb = cc.compile(exprs, [x, y], backend="numba")
    nb(0.5, 0.25), nb.grad(0.5, 0.25), nb.hessian(0.5, 0.25)  # JIT here, not inside a test's checks
    return nb, cc.compile(exprs, [x, y], backend="python")


GRID_A = [0.0, -0.0, 5e-324, 1e-300, -1e-8, 0.5, -0.5, 1.0, -1.0, 1.5, -2.0, 30.0, -30.0, 710.0, -745.5,
          1e3, -1e3, 1e300, inf, -inf, nan]
GRID_B = [0.0, -0.0, 0.5, -1.0, 1.5, 2.0, -30.0, 1e300, inf, nan]


def test_numba_matches_python_everywhere(all_ops):
    """Values, Jacobians and Hessians of every op agree to a few ulps, nan and inf positions included."""
    nb, py = all_ops
    for a in GRID_A:
        for b in GRID_B:
            for method in ("__call__", "grad", "hessian"):
                got = np.asarray(getattr(nb, method)(a, b), dtype=float)
                want = np.asarray(getattr(py, method)(a, b), dtype=float)
                np.testing.assert_allclose(got, want, rtol=NUMBA_RTOL, atol=0, equal_nan=True,
                                           err_msg=f"{method} at {(a, b)}")
                assert (np.isnan(got) == np.isnan(want)).all()
                assert (np.isposinf(got) == np.isposinf(want)).all() and (np.isneginf(got) == np.isneginf(want)).all()


def test_numba_against_oracle(all_ops):
    nb, _ = all_ops
    for case in CASES:
        for p in case.points:
            ev, eg, _ = exact(case, p)
            v, g = _row(nb, case, p)
            assert_matches(v, ev, RTOL, f"numba {case.id}{p} value")
            assert_matches(g, eg, RTOL, f"numba {case.id}{p} gradient", case.grad_floor)
        for p in case.hessian_points():
            _, _, eh = exact(case, p)
            h = nb.hessian(*_full_point(case, p))[CASES.index(case)][:case.nvars, :case.nvars]
            assert_matches(h, eh, RTOL_HESS, f"numba {case.id}{p} Hessian", case.grad_floor)


# --- the op table's SymPy mapping: to_sympy and from_sympy ---

def _at(e, point: dict) -> mp.mpf:
    """A SymPy expression evaluated at exact binary ``point`` ({name: float}), 40 digits."""
    return mp.mpf(sp.N(e.xreplace({s: sp.Float(point[s.name], 60) for s in e.free_symbols}), 40))


def test_an_op_without_a_sympy_counterpart_is_refused():
    assert {c.id for c in CASES if ops.OPS[c.ops[0]].sympy is None} == NO_SYMPY
    with pytest.raises(cc.UnsupportedError, match="rint"):
        cc.to_sympy(cc.rint(x))


@by_id([c for c in CASES if c.id not in NO_SYMPY])
def test_sympy_round_trip(case):
    e = case.expr()
    names = [s.name for s in case.symbols]
    to = cc.to_sympy(e)
    assert {s.name for s in to.free_symbols} <= set(names)
    points = case.safe_round_trip_points()
    assert points
    # to_sympy gives the same function as the independent oracle
    oracle = case.oracle(*[sp.Symbol(n) for n in names])
    with mp.workdps(DPS):
        for p in points:
            got, want = _at(to, dict(zip(names, p))), _at(oracle, dict(zip(names, p)))
            assert abs(got - want) <= mp.mpf("1e-30") * abs(want) + mp.mpf("1e-300"), (case.id, p, got, want)
    # and back: the very same node where the op has a SymPy counterpart, else the same function
    back = cc.from_sympy(to)
    assert (back is e) == case.round_trip_same_node, (case.id, back, e)
    if back is e:
        return
    f, b = compile_case(case), cc.compile(back, list(case.symbols), backend="python")
    for p in points:  # another formula for the same function: equal to rounding
        assert_matches(b(*p), f(*p), 1e-13, f"{case.id}{p} round-trip value")
        assert_matches(b.grad(*p), f.grad(*p), 1e-13, f"{case.id}{p} round-trip gradient")
