"""Fuzzing: random expressions over every scalar op, at ordinary and special inputs.

* No exception outside the documented set: evaluating any expression at any
  input (nan, ±inf, ±0, subnormals, huge values) gives numbers, never an error.
* Every way of running it agrees: the python backend (NumPy semantics), the
  interpreter that answers "auto"'s first calls, and the numba, llvm and vm
  targets (a few ulps, nan where nan).
* Gradients agree with central finite differences where the function is smooth.

``COMPILER_FUZZ_EXAMPLES`` (default 200) sets the number of hypothesis
examples; the compiled targets check a twentieth of that (at least 2), each
example a batch of random programs compiled as one multi-output function.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import compiler as cc
from compiler import ir
from compiler.ir import evaluate, ops
from compiler.ir.special import SPECIAL as SPECIAL_FUNCTIONS
from compiler.runtime import tiers as runtime

EXAMPLES = int(os.environ.get("COMPILER_FUZZ_EXAMPLES", "200"))
COMPILED_EXAMPLES = max(2, EXAMPLES // 20)
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -3.5, 1e-310, -1e-310, 1e-300, 1e300, -1e300, 710.0, -745.0,
           math.inf, -math.inf, math.nan]
VARS = cc.symbols("x y z")
# special functions of several operands have discrete ones (polygamma's n: no derivative) and
# zetac has no derivative in closed form: those are tested in test_special_functions.py
UNARY = [n for n in ops.SCALAR_OPS if ops.OPS[n].arity == 1 and n not in ("const", "var", "zetac")
         and ops.OPS[n].result == "float"]
BINARY = [n for n in ops.SCALAR_OPS if ops.OPS[n].arity == 2 and ops.OPS[n].result == "float" and n not in SPECIAL_FUNCTIONS]
COMPARE = [n for n in ops.SCALAR_OPS if ops.OPS[n].result == "bool" and n not in ops.LOGICAL_OPS]
LOGIC = sorted(ops.LOGICAL_OPS - {"logical_not"})
SMOOTH_UNARY = ["exp", "sin", "cos", "tanh", "atan", "sigmoid", "softplus", "erf", "sinh", "neg"]
SMOOTH_BINARY = ["add", "sub", "mul"]


@st.composite
def programs(draw, smooth: bool = False, max_nodes: int = 8):
    """A random expression DAG over x, y, z: each node an op on earlier nodes or constants."""
    nodes = list(VARS)
    constants = st.sampled_from(SPECIAL) if not smooth else st.floats(-2, 2, allow_nan=False)
    for _ in range(draw(st.integers(1, max_nodes))):
        def operand():
            if draw(st.integers(0, 4)) == 0:
                return draw(constants)
            return nodes[draw(st.integers(0, len(nodes) - 1))]
        kind = draw(st.integers(0, 9))
        if kind <= 4:
            name = draw(st.sampled_from(SMOOTH_UNARY if smooth else UNARY))
            node = cc.ir.apply(name, nodes[draw(st.integers(0, len(nodes) - 1))])
        elif kind <= 8 or smooth:
            name = draw(st.sampled_from(SMOOTH_BINARY if smooth else BINARY))
            node = cc.ir.apply(name, operand(), operand())
        else:
            condition = cc.ir.apply(draw(st.sampled_from(COMPARE)), operand(), operand())
            if draw(st.integers(0, 2)) == 0:  # a Boolean combination of two comparisons
                other = cc.ir.apply(draw(st.sampled_from(COMPARE)), operand(), operand())
                condition = cc.ir.apply(draw(st.sampled_from(LOGIC)), condition, cc.ir.apply("logical_not", other))
            node = cc.where(condition, operand(), operand())
        if isinstance(node, cc.Expr) and node.dtype == "float":
            nodes.append(node)
    return nodes[-1] if nodes[-1].op != "var" or len(nodes) == 3 else nodes[-1]


points = st.tuples(*[st.one_of(st.sampled_from(SPECIAL), st.floats(-5, 5)) for _ in range(3)])


# Targets call different implementations of the transcendental functions (NumPy's SIMD
# loops, libm, LLVM's intrinsics) that differ in the last ulp; a random program may
# amplify that by cancellation (1 - tanh(x)**2 near 1, a - b of nearly equal terms), so
# agreement is a few ulps of the result's own size or, after cancellation, of 1 -- or as
# much as the result moves when its inputs, or its intermediate results, move by an ulp.
RTOL, ATOL = 1e-9, 1e-12


def _mismatch(a, b) -> np.ndarray:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(all="ignore"):
        close = (a == b) | (np.abs(a - b) <= RTOL * np.maximum(np.abs(a), np.abs(b)) + ATOL)
    return ~(both_nan | close)


def _rounding_spread(roots, point, trials: int = 6) -> float:
    """How far the results of ``roots`` at ``point`` move when every intermediate result is
    rounded one ulp up or down at random: the size of the differences that implementations of
    the same op differing in their last ulp may make (atanh(cos(x)) near x = 0 turns one ulp
    of cos into 1e-6 while moving x changes nothing)."""
    rng = np.random.default_rng(0)
    where = {v.id: k for k, v in enumerate(VARS)}
    runs = []
    for _ in range(trials):
        env: dict = {}
        for node in ir.topo_order(roots):
            if node.op == "var":
                value = float(point[where[node.id]])
            elif node.op == "const":
                value = node.value
            else:
                value = evaluate.evaluate(node.op, *(env[a.id] for a in node.args))
                if not isinstance(value, bool):
                    value = float(np.nextafter(value, math.inf if rng.random() < 0.5 else -math.inf))
            env[node.id] = value
        runs.append([float(env[r.id]) for r in roots])
    runs = np.array(runs)
    with np.errstate(all="ignore"):
        return float(np.nanmax(np.abs(runs - runs[0]))) if np.isfinite(runs).all() else math.inf


def _ill_conditioned(reference, point, got, want, roots=None) -> bool:
    """Whether ``want`` moves as much as ``got`` differs from it when the inputs move by a few
    ulps, or when its intermediate results do (``roots``: the graph of ``want``): then a
    last-ulp difference inside (sin of sinh(710) ~ 1e308) explains the mismatch."""
    with np.errstate(all="ignore"):
        gap = float(np.nanmax(np.abs(np.asarray(got, dtype=float) - np.asarray(want, dtype=float))))
    if roots is not None and math.isfinite(gap) and _rounding_spread(roots, point) >= 0.1 * gap:
        return True
    spread = 0.0
    for k in range(len(point)):
        for factor in (1 + 4e-16, 1 - 4e-16):
            moved = list(point)
            moved[k] = moved[k] * factor
            v = np.asarray(reference(*moved), dtype=float)
            with np.errstate(all="ignore"):
                d = np.abs(v - np.asarray(want, dtype=float))
            if np.isnan(d).any() or np.isinf(d).any():
                return True
            spread = max(spread, float(np.max(d)))
    return math.isfinite(gap) and spread >= 0.1 * gap


def _same(a, b, what, reference=None, point=None, roots=None):
    bad = _mismatch(a, b)
    if bad.any() and reference is not None and _ill_conditioned(reference, point, a, b, roots):
        return
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert not bad.any(), f"{what}: {a[bad][:3].tolist()} != {b[bad][:3].tolist()}"


@pytest.fixture(autouse=True)
def _interpret_only(monkeypatch):
    monkeypatch.setattr(runtime, "COMPILE_AFTER_SECONDS", math.inf)  # "auto" stays interpreted here


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs(), st.lists(points, min_size=1, max_size=4))
def test_interpreter_and_python_agree_and_never_raise(expr, pts):
    reference = cc.compile(expr, list(VARS), backend="python")
    interpreted = cc.compile(expr, list(VARS))
    for p in pts:
        v_ref, g_ref = reference.value_and_grad(*p)      # never raises: nan/inf instead
        v, g = interpreted.value_and_grad(*p)
        _same(v, v_ref, f"value of {expr} at {p}", reference, p, reference.outputs)
        _same(g, g_ref, f"gradient of {expr} at {p}", reference.grad, p, [n for row in reference._jac for n in row])
    assert not interpreted.ready


# no shrinking: every step of it would compile three targets again (a failure prints its example)
@settings(max_examples=COMPILED_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.generate])
@given(st.lists(programs(), min_size=8, max_size=16), st.lists(points, min_size=32, max_size=64))
def test_compiled_targets_agree_with_python(exprs, pts):
    """Many programs as one multi-output function, compiled once per target, on a batch of points."""
    P = np.array(pts, dtype=float).T.copy()
    reference = cc.compile(exprs, list(VARS), backend="python")
    ref_v, ref_j = reference.value_and_grad(*P)
    for backend in ("numba", "llvm", "vm"):
        v, j = cc.compile(exprs, list(VARS), backend=backend).value_and_grad(*P)
        for i in np.flatnonzero(_mismatch(np.array(v).T, np.array(ref_v).T).any(axis=1)
                                | _mismatch(j, ref_j).reshape(len(pts), -1).any(axis=1)):
            p = tuple(P[:, i])
            _same(np.array(v)[:, i], np.array(ref_v)[:, i], f"{backend} values at {p}", reference, p,
                  reference.outputs)
            _same(j[i], ref_j[i], f"{backend} Jacobian at {p}", reference.grad, p,
                  [g for row in reference._jac for g in row])


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs(smooth=True), st.tuples(*[st.floats(-1.5, 1.5) for _ in range(3)]))
def test_gradient_matches_finite_differences_where_smooth(expr, p):
    fn = cc.compile(expr, list(VARS), backend="python")
    value, grad = fn.value_and_grad(*p)
    if not math.isfinite(value) or abs(value) > 1e6:
        return  # overflowed on purpose (exp of exp ...): nothing to difference
    for k in range(3):
        h = 1e-6 * max(1.0, abs(p[k]))
        up, down = list(p), list(p)
        up[k] += h
        down[k] -= h
        numeric = (fn(*up) - fn(*down)) / (2 * h)
        if not math.isfinite(numeric):
            continue
        scale = 1.0 + abs(grad[k]) + abs(value)
        assert abs(numeric - grad[k]) <= 1e-5 * scale, (str(expr), p, k, numeric, grad[k])
