"""Hypothesis: random expression DAGs against SymPy, and the numba backend against the python one.

A random program is a list of nodes over 1-4 input variables; each new node
is an op applied to random earlier nodes, so subexpressions are shared (the
reverse pass must sum the adjoint contributions of every use, and the
Hessian pass differentiates that sum again). The SymPy expression of every
node is built in parallel from SymPy's own functions, so the oracle does not
go through ``cc.to_sympy``; SymPy differentiates it exactly and mpmath
evaluates value, gradient and Hessian at 50 digits.

Only smooth ops on safe domains are used (exp of bounded things, log of
1 + x**2, division by 1 + x**2, ...). Every node also carries bounds, over
the whole input box, on its magnitude (B) and on its first (D1) and second
(D2) derivatives; an op that would push a bound past a cap is skipped,
which keeps every program well-conditioned. The bounds also scale the
absolute tolerance, so a cancellation such as (a + b) - (b + a) ~ 1e-16 is
not a failure while a wrong derivative rule (an O(1) error) always is.

Runs ``COMPILER_HYPOTHESIS_EXAMPLES`` (default 100) programs on the python
backend and a twentieth of that (at least 3) on the numba backend.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import mpmath as mp
import numpy as np
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import compiler as cc

EXAMPLES = int(os.environ.get("COMPILER_HYPOTHESIS_EXAMPLES", "100"))
NUMBA_EXAMPLES = max(3, EXAMPLES // 20)

R = 2.0                 # every input is drawn from [-R, R]
MAX_STEPS = 10          # nodes built per program
CAP_B, CAP_D1, CAP_D2 = 20.0, 1e3, 1e5   # bounds past which an op is skipped
RTOL = 1e-9
ATOL = 1e-12            # times (1 + bound of the quantity) * (1 + largest magnitude bound)
NUMBA_RTOL, NUMBA_ATOL = 1e-13, 1e-15
DPS = 50

NAMES = ("a", "b", "c", "d")
CC_VARS = cc.symbols(" ".join(NAMES))
SP_VARS = sp.symbols(" ".join(NAMES), real=True)


@dataclass(frozen=True)
class Bounds:
    """Over the input box: |value| <= b, |any first partial| <= d1, |any second partial| <= d2."""
    b: float
    d1: float
    d2: float

    def ok(self) -> bool:
        return self.b <= CAP_B and self.d1 <= CAP_D1 and self.d2 <= CAP_D2


def _unary_bounds(a: Bounds, f0: float, f1: float, f2: float) -> Bounds:
    """f(a) where |f| <= f0, |f'| <= f1, |f''| <= f2 on [-a.b, a.b] (chain rule)."""
    return Bounds(f0, f1 * a.d1, f2 * a.d1 ** 2 + f1 * a.d2)


def _add_bounds(a: Bounds, c: Bounds) -> Bounds:
    return Bounds(a.b + c.b, a.d1 + c.d1, a.d2 + c.d2)


def _mul_bounds(a: Bounds, c: Bounds) -> Bounds:
    return Bounds(a.b * c.b, a.b * c.d1 + c.b * a.d1, a.b * c.d2 + 2 * a.d1 * c.d1 + c.b * a.d2)


def _exp_like(B):  # exp, sinh, cosh, expm1 on [-B, B]: every derivative <= e**B
    return (math.exp(B),) * 3 if B <= 3.0 else None


# unary ops: name -> (build, SymPy counterpart, bounds of (f, f', f'') on [-B, B] or None to skip)
UNARY = {
    "sin": (cc.sin, sp.sin, lambda B: (min(1.0, B), 1.0, 1.0)),
    "cos": (cc.cos, sp.cos, lambda B: (1.0, 1.0, 1.0)),
    "tanh": (cc.tanh, sp.tanh, lambda B: (min(1.0, B), 1.0, 0.77)),
    "sigmoid": (cc.sigmoid, lambda A: 1 / (1 + sp.exp(-A)), lambda B: (1.0, 0.25, 0.1)),
    "softplus": (cc.softplus, lambda A: sp.log(1 + sp.exp(A)), lambda B: (B + 0.7, 1.0, 0.25)),
    "atan": (cc.atan, sp.atan, lambda B: (min(math.pi / 2, B), 1.0, 0.65)),
    "erf": (cc.erf, sp.erf, lambda B: (1.0, 1.13, 0.97)),
    "exp": (cc.exp, sp.exp, _exp_like),
    "expm1": (cc.expm1, lambda A: sp.exp(A) - 1, _exp_like),
    "sinh": (cc.sinh, sp.sinh, _exp_like),
    "cosh": (cc.cosh, sp.cosh, _exp_like),
    "log_1p_sq": (lambda a: cc.log(1.0 + a * a), lambda A: sp.log(1 + A ** 2),
                  lambda B: (math.log1p(B * B), 1.0, 2.0)),
    "log1p_sq": (lambda a: cc.log1p(a * a), lambda A: sp.log(1 + A ** 2),
                 lambda B: (math.log1p(B * B), 1.0, 2.0)),
    "sqrt_1p_sq": (lambda a: cc.sqrt(1.0 + a * a), lambda A: sp.sqrt(1 + A ** 2),
                   lambda B: (math.sqrt(1 + B * B), 1.0, 1.0)),
    "asin_tanh": (lambda a: cc.asin(0.5 * cc.tanh(a)), lambda A: sp.asin(sp.tanh(A) / 2),
                  lambda B: (0.53, 0.58, 0.64)),
    "acos_tanh": (lambda a: cc.acos(0.5 * cc.tanh(a)), lambda A: sp.acos(sp.tanh(A) / 2),
                  lambda B: (2.1, 0.58, 0.64)),
    "tan_tanh": (lambda a: cc.tan(0.5 * cc.tanh(a)), lambda A: sp.tan(sp.tanh(A) / 2),
                 lambda B: (0.55, 0.65, 0.86)),
    "square": (lambda a: a ** 2, lambda A: A ** 2, lambda B: (B * B, 2 * B, 2.0)),
    "cube": (lambda a: a ** 3, lambda A: A ** 3, lambda B: (B ** 3, 3 * B * B, 6 * B)),
    "neg": (lambda a: -a, lambda A: -A, lambda B: (B, 1.0, 0.0)),
}

# binary ops: name -> (build, SymPy counterpart)
BINARY = {
    "add": (lambda a, c: a + c, lambda A, C: A + C),
    "sub": (lambda a, c: a - c, lambda A, C: A - C),
    "mul": (lambda a, c: a * c, lambda A, C: A * C),
    "div_1p_sq": (lambda a, c: a / (1.0 + c * c), lambda A, C: A / (1 + C ** 2)),
    "atan2_1p_sq": (lambda a, c: cc.atan2(a, 1.0 + c * c), lambda A, C: sp.atan2(A, 1 + C ** 2)),
    "pow_1p_sq": (lambda a, c: (1.0 + a * a) ** (0.5 * cc.tanh(c)),
                  lambda A, C: (1 + A ** 2) ** (sp.tanh(C) / 2)),
}


def _binary_bounds(name: str, a: Bounds, c: Bounds) -> Bounds:
    if name == "add" or name == "sub":
        return _add_bounds(a, c)
    if name == "mul":
        return _mul_bounds(a, c)
    if name == "div_1p_sq":  # a * r(c), r(t) = 1 / (1 + t**2): |r| <= 1, |r'| <= 0.65, |r''| <= 2
        return _mul_bounds(a, _unary_bounds(c, 1.0, 0.65, 2.0))
    # generic f(a, c) with |f| <= p0, partials <= p1, second partials <= p2
    if name == "atan2_1p_sq":  # atan2(a, 1 + c**2): the second argument is >= 1
        p0, p1, p2 = math.pi / 2, 2.0 * (1 + c.b), 4.0 * (1 + c.b) ** 2
    else:  # (1 + a**2) ** (tanh(c) / 2): u**e with u in [1, 1 + B**2], |e| <= 1/2
        log_u = math.log1p(a.b ** 2)
        p0 = math.sqrt(1 + a.b ** 2)
        p1, p2 = p0 * (1 + log_u), 4 * p0 * (1 + log_u) ** 2
    d1 = a.d1 + c.d1
    return Bounds(p0, p1 * d1, p2 * d1 ** 2 + p1 * (a.d2 + c.d2))


ARITY = {**{k: 1 for k in UNARY}, **{k: 2 for k in BINARY}}
OP_NAMES = sorted(ARITY)


@dataclass
class Program:
    nvars: int
    steps: list          # [(op name, operand indices)]
    extra_output: int | None

    def build(self):
        """The outputs as IR and as SymPy, with their bounds; skipped steps reuse their first operand."""
        nodes = list(CC_VARS[:self.nvars])
        exprs = list(SP_VARS[:self.nvars])
        bounds = [Bounds(R, 1.0, 0.0)] * self.nvars
        for name, idx in self.steps:
            args = [bounds[i] for i in idx]
            if name in UNARY:
                build, sym, fb = UNARY[name]
                f = fb(args[0].b)
                new = _unary_bounds(args[0], *f) if f is not None else None
            else:
                build, sym = BINARY[name]
                new = _binary_bounds(name, *args)
            if new is None or not new.ok():
                i = idx[0]
                nodes.append(nodes[i]), exprs.append(exprs[i]), bounds.append(bounds[i])
                continue
            nodes.append(build(*[nodes[i] for i in idx]))
            exprs.append(sym(*[exprs[i] for i in idx]))
            bounds.append(new)
        # the first output sums every node no later node uses, so no node is dead code
        used = {i for _, idx in self.steps for i in idx}
        sinks = [i for i in range(len(nodes)) if i not in used]
        out, out_expr, out_bounds = nodes[sinks[0]], exprs[sinks[0]], bounds[sinks[0]]
        for i in sinks[1:]:
            out, out_expr, out_bounds = out + nodes[i], out_expr + exprs[i], _add_bounds(out_bounds, bounds[i])
        outs, out_exprs, outs_bounds = [out], [out_expr], [out_bounds]
        if self.extra_output is not None:
            k = self.extra_output
            outs.append(nodes[k]), out_exprs.append(exprs[k]), outs_bounds.append(bounds[k])
        return outs, out_exprs, outs_bounds, max(b.b for b in bounds + outs_bounds)


@st.composite
def programs(draw):
    nvars = draw(st.integers(1, len(NAMES)))
    steps = []
    for k in range(draw(st.integers(1, MAX_STEPS))):
        name = draw(st.sampled_from(OP_NAMES))
        n = nvars + k  # nodes so far; the first operand leans to recent nodes (deep chains)
        first = n - 1 - draw(st.integers(0, n - 1))
        steps.append((name, (first,) + tuple(draw(st.integers(0, n - 1)) for _ in range(ARITY[name] - 1))))
    extra = draw(st.none() | st.integers(0, nvars + len(steps) - 1))
    return Program(nvars, steps, extra)


def points(nvars: int):
    coord = st.floats(-R, R, allow_nan=False, allow_infinity=False)
    return st.lists(st.tuples(*[coord] * nvars), min_size=1, max_size=3)


def oracle(exprs, nvars):
    """A function of a point giving (values, Jacobian, Hessians) as float arrays, from SymPy's exact derivatives."""
    syms = SP_VARS[:nvars]
    grads = [[sp.diff(e, s) for s in syms] for e in exprs]
    hess = [[[sp.diff(g[i], s) for s in syms] for i in range(nvars)] for g in grads]  # d2 e / ds_i ds_j
    flat = list(exprs) + [d for row in grads for d in row] + [d for m in hess for row in m for d in row]
    f = sp.lambdify(syms, flat, modules="mpmath", cse=True)
    n_out = len(exprs)

    def at(point):
        with mp.workdps(DPS):
            r = np.array([float(t) for t in f(*[mp.mpf(p) for p in point])])
        return (r[:n_out], r[n_out:n_out * (1 + nvars)].reshape(n_out, nvars),
                r[n_out * (1 + nvars):].reshape(n_out, nvars, nvars))
    return at


def compiled(fn, point, n_out):
    """(values, Jacobian, Hessians) of a compiled function at a point, shaped like ``oracle``'s."""
    v, g = fn.value_and_grad(*point)
    assert fn(*point) == v
    h = fn.hessian(*point)
    if n_out == 1:
        return np.array([v]), np.array([g]), np.array([h])
    return np.array(v), np.asarray(g), np.asarray(h)


def check(got, want, rtol, atol, what, program):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    err = np.abs(got - want)
    tol = rtol * np.abs(want) + atol
    assert np.isfinite(got).all() and (err <= tol).all(), (
        f"{what}: got {got.tolist()}\nexpected {want.tolist()}\nerror {err.tolist()}\ntolerance {tol.tolist()}\n"
        f"program {program}")


def _tolerances(bounds, bmax, atol):
    """Absolute tolerances of the values, Jacobian rows and Hessians, broadcastable to their shapes."""
    scale = atol * (1.0 + bmax)
    return (np.array([scale * (1 + b.b) for b in bounds]),
            np.array([scale * (1 + b.d1) for b in bounds])[:, None],
            np.array([scale * (1 + b.d2) for b in bounds])[:, None, None])


COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(max_examples=EXAMPLES, **COMMON)
@given(program=programs(), data=st.data())
def test_random_dag_against_sympy(program, data):
    outs, exprs, bounds, bmax = program.build()
    n_out = len(outs)
    fn = cc.compile(outs if n_out > 1 else outs[0], list(CC_VARS[:program.nvars]), backend="python")
    exact = oracle(exprs, program.nvars)
    tv, tg, th = _tolerances(bounds, bmax, ATOL)
    for p in data.draw(points(program.nvars), label="points"):
        v, g, h = compiled(fn, p, n_out)
        ev, eg, eh = exact(p)
        check(v, ev, RTOL, tv, f"value at {p}", program)
        check(g, eg, RTOL, tg, f"gradient at {p}", program)
        check(h, eh, RTOL, th, f"Hessian at {p}", program)


@settings(max_examples=NUMBA_EXAMPLES, **COMMON)
@given(program=programs(), data=st.data())
def test_random_dag_numba_matches_python(program, data):
    outs, _, bounds, bmax = program.build()
    n_out = len(outs)
    expr, inputs = (outs if n_out > 1 else outs[0]), list(CC_VARS[:program.nvars])
    nb = cc.compile(expr, inputs, backend="numba")
    py = cc.compile(expr, inputs, backend="python")
    tv, tg, th = _tolerances(bounds, bmax, NUMBA_ATOL)
    for p in data.draw(points(program.nvars), label="points"):
        for got, want, tol, what in zip(compiled(nb, p, n_out), compiled(py, p, n_out), (tv, tg, th),
                                        ("value", "gradient", "Hessian")):
            check(got, want, NUMBA_RTOL, tol, f"numba {what} at {p}", program)


def test_pow_hessian_at_zero_exponent():
    # Found by the random-DAG test: masking d(a**b)/da where b == 0 (PyTorch's
    # convention) zeroed its derivative in b, so the Hessian came out asymmetric.
    a, c = CC_VARS[:2]
    A, C = SP_VARS[:2]
    fn = cc.compile((1.0 + c * c) ** (0.5 * cc.tanh(a)), [a, c], backend="python")
    _, _, eh = oracle([(1 + C ** 2) ** (sp.tanh(A) / 2)], 2)((0.0, 1.75))
    h = fn.hessian(0.0, 1.75)
    check(h, eh[0], RTOL, 1e-15, "Hessian at b == 0", "(1 + c**2) ** (tanh(a) / 2)")
    assert h[0, 1] != 0.0 and h[0, 1] == h[1, 0]
