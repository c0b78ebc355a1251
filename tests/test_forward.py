"""Forward mode (``jvp``), forward-over-reverse ``hvp`` and dense Jacobians of outputs of any
shape, each against an independent oracle: SymPy/mpmath (every scalar op, through
``test_ops_oracle``'s hand-written oracles), JAX in float64 (tensor programs), finite
differences. Most tests run the python backend; compiled targets are checked on a focused set.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import compiler as cc
from compiler.ad import forward
from compiler.errors import CompilerError
from compiler.ir import ops
from compiler.runtime import derivatives
from test_ops_oracle import CASES, RTOL, RTOL_HESS, exact

DIRECTIONS = {1: [(1.0,), (-0.75,)], 2: [(1.0, 0.0), (0.3, -0.7)]}


def _close_dot(got, gradient, v, rtol, what, floor):
    """``got`` against ``<gradient, v>``, relative to the size of the terms (they may cancel);
    ``floor`` is the case's documented absolute accuracy of derivatives (tanh' far out)."""
    want = sum(g * t for g, t in zip(gradient, v))
    scale = sum(abs(g * t) for g, t in zip(gradient, v))
    slack = rtol * scale + floor * sum(abs(t) for t in v)
    assert abs(got - want) <= slack or (math.isnan(got) and math.isnan(want)), \
        f"{what}: got {got!r}, expected {want!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_jvp_and_hvp_of_every_op_against_the_oracle(case):
    fn = cc.compile(case.expr(), list(case.symbols), backend="python")
    for p in case.points:
        value, gradient, _ = exact(case, p)
        for v in DIRECTIONS[case.nvars]:
            got_value, tangent = fn.jvp(*p, v=v)
            assert got_value == fn(*p) or math.isnan(value)
            _close_dot(tangent, gradient, v, RTOL, f"{case.id}{p} jvp along {v}", case.grad_floor)
    for p in case.hessian_points():
        _, _, hessian = exact(case, p)
        for v in DIRECTIONS[case.nvars]:
            product = fn.hvp(*p, v=v)
            for row, got in zip(hessian, product):
                _close_dot(got, row, v, RTOL_HESS, f"{case.id}{p} hvp along {v}", case.grad_floor)


# --- tensor programs against JAX (float64) ---

A, B, S = cc.Tensor("A", (3, 4)), cc.Tensor("B", (4,)), cc.Symbol("s")
IDX = np.array([2, 0, 2, 1])


def _jax():
    import jax
    return jax


def _programs():
    """(name, expression, function of jax.numpy arrays) over the inputs A (3, 4), B (4,), s."""
    return [
        ("broadcast", cc.tanh(A * B + S) * cc.exp(-B), lambda jnp, a, b, s: jnp.tanh(a * b + s) * jnp.exp(-b)),
        ("reductions", cc.sum(A * A, axis=1) + cc.max(A, axis=1) * S,
         lambda jnp, a, b, s: jnp.sum(a * a, axis=1) + jnp.max(a, axis=1) * s),
        ("matmul", cc.sin(A @ B) * (A.T @ A)[0, :3].sum(),
         lambda jnp, a, b, s: jnp.sin(a @ b) * (a.T @ a)[0, :3].sum()),
        ("slices", A[1:, ::-2] ** 2 - A[:-1, 1::2] * S, lambda jnp, a, b, s: a[1:, ::-2] ** 2 - a[:-1, 1::2] * s),
        ("take", cc.take(A, IDX[:3], axis=0) * B + A[:, IDX],
         lambda jnp, a, b, s: jnp.take(a, IDX[:3], axis=0) * b + a[:, IDX]),
        ("joins", cc.concatenate([A.reshape(12), B * S, cc.stack([S, S * S])]),
         lambda jnp, a, b, s: jnp.concatenate([a.reshape(12), b * s, jnp.stack([s, s * s])])),
        ("softmax", cc.softmax(A * S, axis=1) + cc.logsumexp(A, axis=0)[None, :3].sum(),
         lambda jnp, a, b, s: _jax().nn.softmax(a * s, axis=1) + _jax().scipy.special.logsumexp(a, axis=0)[:3].sum()),
        ("where", cc.where(A > B, A * B, cc.sqrt(A * A + 1.0)),
         lambda jnp, a, b, s: jnp.where(a > b, a * b, jnp.sqrt(a * a + 1.0))),
        ("scalar out", cc.sum(cc.log1p(A * A)) * S + cc.mean(B) ** 3,
         lambda jnp, a, b, s: jnp.sum(jnp.log1p(a * a)) * s + jnp.mean(b) ** 3),
    ]


PROGRAMS = _programs()


@pytest.fixture(scope="module")
def jax_f64():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def _point(seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(3, 4)), rng.normal(size=4), float(rng.normal())


def _moved(point, step, direction):
    return tuple(p + step * d for p, d in zip(point, direction))


@pytest.mark.parametrize("name, expr, ref", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_tensor_jvp_and_jacobian_against_finite_differences(name, expr, ref):
    fn = cc.compile(expr, [A, B, S], backend="python")
    point, tangent = _point(1), _point(2)
    value, t = fn.jvp(*point, v=tangent)
    h = 1e-6
    numeric = (fn(*_moved(point, h, tangent)) - fn(*_moved(point, -h, tangent))) / (2 * h)
    np.testing.assert_allclose(value, fn(*point), rtol=0, atol=0)
    np.testing.assert_allclose(t, numeric, rtol=1e-7, atol=1e-8)
    jac = fn.jacobian(*point)  # one output: the row of blocks, one per wrt input
    for k, (got, inp) in enumerate(zip(jac, (A, B, S))):
        assert np.shape(got) == expr.shape + inp.shape
        for e in np.ndindex(*inp.shape):  # each column by differences
            unit = [np.zeros_like(p) if np.ndim(p) else 0.0 for p in point]
            if inp.shape:
                unit[k][e] = 1.0
            else:
                unit[k] = 1.0
            column = (fn(*_moved(point, h, unit)) - fn(*_moved(point, -h, unit))) / (2 * h)
            np.testing.assert_allclose(np.asarray(got)[(...,) + e], column, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("name", ["matmul", "softmax"])
def test_tensor_jvp_and_jacobian_against_jax(name, jax_f64):
    _, expr, ref = next(p for p in PROGRAMS if p[0] == name)
    jnp = jax_f64.numpy
    fn = cc.compile(expr, [A, B, S], backend="python")
    point, tangent = _point(3), _point(4)
    value, t = fn.jvp(*point, v=tangent)
    want_value, want_t = jax_f64.jvp(lambda a, b, s: ref(jnp, a, b, s), point, tangent)
    np.testing.assert_allclose(value, np.asarray(want_value), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(t, np.asarray(want_t), rtol=1e-12, atol=1e-13)
    want = jax_f64.jacrev(lambda a, b, s: ref(jnp, a, b, s), argnums=(0, 1, 2))(*point)
    for got, w in zip(fn.jacobian(*point), want):
        np.testing.assert_allclose(got, np.asarray(w), rtol=1e-12, atol=1e-13)


def test_jacobian_by_rows_and_by_columns_agree_and_take_the_form_of_derivatives(jax_f64):
    jnp = jax_f64.numpy
    x, y = cc.Tensor("x", (5,)), cc.Tensor("y", (2,))
    wide = cc.sum(x * x) * y           # 2 outputs of 7 inputs: rows (reverse)
    tall = cc.concatenate([cc.sin(x), cc.cos(x), y[0] * x])  # 15 outputs of 7 inputs: columns (forward)
    px, py = np.linspace(-1, 1, 5), np.array([0.5, -2.0])
    both = cc.compile([wide, tall], [x, y], backend="python")
    (w_x, w_y), (t_x, t_y) = both.jacobian(px, py)
    ref = jax_f64.jacfwd(lambda a, b: (jnp.sum(a * a) * b, jnp.concatenate([jnp.sin(a), jnp.cos(a), b[0] * a])),
                         argnums=(0, 1))(px, py)
    for got, want in zip((w_x, w_y, t_x, t_y), (ref[0][0], ref[0][1], ref[1][0], ref[1][1])):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-13, atol=1e-14)
    alone = cc.compile(tall, [x, y], wrt=x, backend="python").jacobian(px, py)  # the block itself
    assert alone.shape == (15, 5)
    np.testing.assert_allclose(alone, t_x, rtol=0, atol=0)


def test_scalar_jacobian_is_the_gradient_kernel_and_takes_batches():
    x, y = cc.symbols("x y")
    fn = cc.compile([x * y, cc.sin(x) + y], [x, y], backend="python")
    ((a, b), (c, d)) = fn.jacobian(2.0, 3.0)
    assert (a, b, c, d) == (3.0, 2.0, math.cos(2.0), 1.0)
    (col_x, col_y), _ = fn.jacobian(np.array([1.0, 2.0]), 3.0)
    np.testing.assert_array_equal(col_x, [3.0, 3.0])
    np.testing.assert_array_equal(col_y, [1.0, 2.0])
    assert cc.compile(x * y, [x, y], wrt=x, backend="python").jacobian(2.0, 3.0) == 3.0


def test_jvp_takes_batches_of_points_and_of_tangents():
    x, s = cc.Tensor("x", (3,)), cc.Symbol("s")
    fn = cc.compile(cc.sin(x) * s, [x, s], backend="python")
    points = np.random.default_rng(3).normal(size=(4, 3))
    value, tangent = fn.jvp(points, 2.0, v=(np.ones(3), 0.5))
    for i in range(4):
        v1, t1 = fn.jvp(points[i], 2.0, v=(np.ones(3), 0.5))
        np.testing.assert_allclose(value[i], v1, rtol=1e-15)
        np.testing.assert_allclose(tangent[i], t1, rtol=1e-15)
    _, many = fn.jvp(points[0], 2.0, v=(np.eye(3), np.zeros(3)))  # a batch of tangents: the Jacobian
    np.testing.assert_allclose(many, np.diag(np.cos(points[0]) * 2.0), atol=1e-15)
    a, b = cc.symbols("a b")
    scalar = cc.compile(a * b, [a, b], backend="python")
    values, tangents = scalar.jvp(np.array([1.0, 2.0]), 3.0, v=(1.0, np.array([0.0, 1.0])))
    np.testing.assert_array_equal(values, [3.0, 6.0])
    np.testing.assert_array_equal(tangents, [3.0, 5.0])


def test_jvp_against_finite_differences_in_the_default_tier():
    x = cc.Tensor("x", (6,))
    fn = cc.compile(cc.cumsum(cc.tanh(x) * x[::-1], axis=0) if hasattr(cc, "cumsum") else cc.tanh(x) * x[::-1], [x])
    p, v = np.linspace(-1, 1, 6), np.linspace(2, -1, 6)
    h = 1e-6
    numeric = (fn(p + h * v) - fn(p - h * v)) / (2 * h)
    np.testing.assert_allclose(fn.jvp(p, v=(v,))[1], numeric, rtol=1e-8, atol=1e-9)


# --- compiled targets (a focused set: each compile costs) ---

@pytest.mark.parametrize("backend", ["llvm", "vm"])
def test_scalar_targets_give_the_python_numbers(backend):
    xs = cc.symbols("x0:4")
    f = sum(100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(3)) + cc.atan2(xs[0], xs[3])
    point, v = (0.3, -1.2, 0.7, 2.0), (1.0, -0.5, 0.25, 2.0)
    ref = cc.compile(f, list(xs), backend="python")
    fn = cc.compile(f, list(xs), backend=backend)
    np.testing.assert_allclose(fn.jvp(*point, v=v), ref.jvp(*point, v=v), rtol=1e-14)
    np.testing.assert_allclose(fn.hvp(*point, v=v), ref.hvp(*point, v=v), rtol=1e-13)
    batch = fn.jvp(np.array(point[:1] * 3), *point[1:], v=v)
    np.testing.assert_allclose(batch[1], [ref.jvp(*point, v=v)[1]] * 3, rtol=1e-14)


def test_numba_tensor_jvp_and_its_batch():
    a, b = A, B
    expr = cc.sum(cc.tanh(a @ b) ** 2) + cc.sum(a[:, 1:] * a[:, :-1])
    ref = cc.compile(expr, [a, b], backend="python")
    fn = cc.compile(expr, [a, b], backend="numba")
    pa, pb = _point(5)[:2]
    va, vb = _point(6)[:2]
    np.testing.assert_allclose(fn.jvp(pa, pb, v=(va, vb)), ref.jvp(pa, pb, v=(va, vb)), rtol=1e-13)
    batch = fn.jvp(np.stack([pa, pa + 1.0]), pb, v=(va, vb))
    np.testing.assert_allclose(batch[1][1], ref.jvp(pa + 1.0, pb, v=(va, vb))[1], rtol=1e-13)


@pytest.mark.slow
def test_numba_tensor_hvp():
    expr = cc.sum(cc.tanh(A @ B) ** 2) + cc.sum(A[:, 1:] * A[:, :-1])
    ref, fn = (cc.compile(expr, [A, B], backend=b) for b in ("python", "numba"))
    pa, pb = _point(5)[:2]
    va, vb = _point(6)[:2]
    np.testing.assert_allclose(fn.hvp(pa, pb, v=(va, vb))[0], ref.hvp(pa, pb, v=(va, vb))[0], rtol=1e-12)


# --- forward-over-reverse ---

def test_forward_over_reverse_equals_reverse_over_reverse():
    W1, b1 = cc.Tensor("W1", (2, 8)), cc.Tensor("b1", (8,))
    rng = np.random.default_rng(7)
    X = rng.normal(size=(16, 2))
    loss = cc.mean((cc.tanh(X @ W1 + b1).sum(axis=1) - 1.0) ** 2)
    fn = cc.compile(loss, [W1, b1], backend="python")
    point, v = (rng.normal(size=(2, 8)), rng.normal(size=8)), (rng.normal(size=(2, 8)), rng.normal(size=8))
    directions = [cc.Tensor("vW", (2, 8)), cc.Tensor("vb", (8,))]
    total = forward.inner(fn._jac[0][0], directions[0]) + forward.inner(fn._jac[0][1], directions[1])
    ror = cc.compile(total, [W1, b1] + directions, wrt=[W1, b1], backend="python")
    for got, want in zip(fn.hvp(*point, v=v), ror.grad(*point, *v)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_the_tangent_does_not_depend_on_the_seed():
    x = cc.Tensor("x", (4,))
    dx = cc.Tensor("dx", (4,))
    tangent = forward.jvp([cc.sum(cc.exp(x[1:]) * x[:-1])], [x], [dx])[0]
    names = {n.name for n in cc.ir.topo_order([tangent]) if n.op == "var"}
    assert names == {"x", "dx"}


def test_a_vjp_rule_that_is_not_linear_in_its_cotangent_is_caught(monkeypatch):
    import dataclasses
    bad = dataclasses.replace(ops.OPS["sin"], vjp=lambda args, out, g: (g * g * args[0].cos(),))
    monkeypatch.setitem(ops.OPS, "sin", bad)
    x, dx = cc.symbols("x dx")
    with pytest.raises(CompilerError, match="not linear in its cotangent"):
        forward.jvp([cc.sin(x) * x], [x], [dx])


# --- bad input ---

def test_tangents_of_the_wrong_count_kind_or_shape_name_the_wrt_input():
    a, s = cc.Tensor("a", (3,)), cc.Symbol("s")
    fn = cc.compile(cc.sum(a) * s, [a, s], backend="python")
    with pytest.raises(cc.ArgumentError, match=r"one entry per wrt input \(a, s\), got 1"):
        fn.jvp(np.ones(3), 1.0, v=(np.ones(3),))
    with pytest.raises(cc.ArgumentError, match=r"tuple with one entry per wrt input"):
        fn.jvp(np.ones(3), 1.0, v=np.ones(3))
    with pytest.raises(cc.ShapeError, match=r"wrt input 'a' must have shape \(3,\).*got shape \(4,\)"):
        fn.jvp(np.ones(3), 1.0, v=(np.ones(4), 1.0))
    with pytest.raises(cc.ShapeError, match=r"wrt input 's' must have shape \(\)"):
        fn.jvp(np.ones(3), 1.0, v=(np.ones(3), np.ones((2, 2))))
    alone = cc.compile(cc.sum(a) * s, [a, s], wrt=a, backend="python")
    assert alone.jvp(np.ones(3), 2.0, v=np.ones(3)) == (6.0, 6.0)
    with pytest.raises(cc.ShapeError, match="wrt input 'a'"):
        alone.jvp(np.ones(3), 2.0, v=np.ones(4))


def test_a_vector_output_has_a_jacobian_not_a_gradient():
    a = cc.Tensor("a", (3,))
    fn = cc.compile(a * a, [a], backend="python")
    np.testing.assert_array_equal(fn.jacobian(np.arange(3.0))[0], np.diag([0.0, 2.0, 4.0]))
    with pytest.raises(cc.ShapeError, match="fn.jacobian"):
        fn.grad(np.ones(3))
    with pytest.raises(cc.ShapeError, match="one point"):
        fn.jacobian(np.ones((2, 3)))
    with pytest.raises(ValueError, match="sparse_jacobian"):
        big = cc.Tensor("big", (10_000,))
        cc.compile(big * 2.0, [big], backend="python").jacobian(np.ones(10_000))
    x, y = cc.symbols("x y")
    with pytest.raises(TypeError, match="comparison"):  # comparisons stay without derivatives
        cc.compile(x < y, [x, y])


def test_hvp_of_several_outputs_and_derived_functions_are_kept():
    x, y = cc.symbols("x y")
    fn = cc.compile(x * x * y, [x, y], backend="python")
    assert derivatives.jvp_function(fn) is derivatives.jvp_function(fn)
    assert fn.hvp_fn is fn.hvp_fn
    with pytest.raises(ValueError, match="one scalar output"):
        cc.compile([x, y], [x, y], backend="python").hvp(1.0, 2.0, v=(1.0, 0.0))


def test_jacobian_of_scalar_graphs_in_every_form():
    x, y = cc.symbols("x y")
    batch = (np.array([1.0, 2.0]), 3.0)
    two = [x * y, x + y]
    assert cc.compile(two, [x, y], backend="python").jacobian(2.0, 3.0) == ((3.0, 2.0), (1.0, 1.0))
    assert cc.compile(two, [x, y], wrt=x, backend="python").jacobian(2.0, 3.0) == (3.0, 1.0)
    (dx, dy), _ = cc.compile(two, [x, y], backend="python").jacobian(*batch)
    np.testing.assert_array_equal(dx, [3.0, 3.0])
    np.testing.assert_array_equal(dy, [1.0, 2.0])
    first, second = cc.compile(two, [x, y], wrt=x, backend="python").jacobian(*batch)
    np.testing.assert_array_equal(first, [3.0, 3.0])
    np.testing.assert_array_equal(second, [1.0, 1.0])
    np.testing.assert_array_equal(cc.compile(x * y, [x, y], wrt=x, backend="python").jacobian(*batch), [3.0, 3.0])
