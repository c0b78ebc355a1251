"""Hardening of the front end (issue 23): each test failed on the code before its fix.

np.pad in every mode against NumPy, masked arrays and np.matrix refused in every position,
one answer at the kink of hypot from hessian, hvp and sparse_hessian, NumPy's own argument
kinds (NumPy integers, where=np.True_, order="K", initial= on empty reductions), and SymPy
trees deeper than Python's recursion limit.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import compiler as cc

PAD_MODES = [("edge", {}), ("wrap", {}), ("reflect", {}), ("symmetric", {}),
             ("reflect", {"reflect_type": "odd"}), ("symmetric", {"reflect_type": "odd"}),
             ("reflect", {"reflect_type": "even"}), ("constant", {"constant_values": (-2.5, 7.0)})]


@pytest.mark.parametrize("mode,kwargs", PAD_MODES, ids=[m + str(k.get("reflect_type", "")) for m, k in PAD_MODES])
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_pad_of_every_width_equals_numpy(mode, kwargs, n):
    """Every mode, both sides, widths 0-7: the values and the (linear) adjoint are NumPy's."""
    v = cc.Tensor("v", (n,))
    data = np.random.default_rng(n).normal(size=n)
    widths = [(b, a) for b in range(8) for a in range(8)]
    exprs, expected = [], []
    for w in widths:
        try:
            expected.append(np.pad(data, w, mode=mode, **kwargs))
        except ValueError:
            with pytest.raises(ValueError):
                np.pad(v, w, mode=mode, **kwargs)
            continue
        exprs.append(np.pad(v, w, mode=mode, **kwargs))
    fn = cc.compile(exprs, [v], backend="python", wrt=[])
    for got, want in zip(fn(data), expected):
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-14)
    # the adjoint of a pad is the transpose of its matrix: np.pad of the identity's columns
    weights = np.random.default_rng(0).normal(size=n + 3 + 4)
    loss = cc.compile(cc.sum(np.pad(v, (3, 4), mode=mode, **kwargs) * weights), [v], wrt=v, backend="python")
    matrix = np.stack([np.pad(e, (3, 4), mode=mode, **kwargs) for e in np.eye(n)], axis=1)
    if mode == "constant":
        matrix = np.stack([np.pad(e, (3, 4)) for e in np.eye(n)], axis=1)
    np.testing.assert_allclose(loss.grad(data), matrix.T @ weights, rtol=1e-13, atol=1e-13)


@settings(max_examples=40, deadline=None)
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       widths=st.tuples(st.tuples(st.integers(0, 7), st.integers(0, 7)),
                        st.tuples(st.integers(0, 7), st.integers(0, 7))),
       mode=st.sampled_from(PAD_MODES[:6]))
def test_pad_of_a_matrix_equals_numpy(shape, widths, mode):
    mode, kwargs = mode
    data = np.arange(1.0, 1.0 + math.prod(shape)).reshape(shape) ** 1.5
    x = cc.Tensor("x", shape)
    want = np.pad(data, widths, mode=mode, **kwargs)
    got = cc.compile(np.pad(x, widths, mode=mode, **kwargs), [x], wrt=[], backend="python")(data)
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_pad_left_odd_reflection_of_the_issue():
    v = cc.Tensor("v", (6,))
    data = np.arange(6.0)
    for width in [(1, 0), (3, 0), (5, 0), (2, 0), (9, 0), (0, 11)]:
        for mode in ("reflect", "symmetric"):
            got = cc.compile(np.pad(v, width, mode=mode, reflect_type="odd"), [v], wrt=[], backend="python")(data)
            np.testing.assert_array_equal(got, np.pad(data, width, mode=mode, reflect_type="odd"))


# --- masked arrays and np.matrix, in every position, when the expression is built ---

MASKED = np.ma.array([10.0, 20.0, 30.0, 40.0], mask=[0, 1, 0, 0])
v = cc.Tensor("v", (4,))
POSITIONS = {
    "v + m": lambda m: v + m, "m + v": lambda m: m + v, "v * m": lambda m: v * m, "m * v": lambda m: m * v,
    "m - v": lambda m: m - v, "m ** v": lambda m: m ** v, "m < v": lambda m: m < v,
    "np.add(v, m)": lambda m: np.add(v, m), "np.add(m, v)": lambda m: np.add(m, v),
    "cc.maximum": lambda m: cc.maximum(v, m), "cc.where": lambda m: cc.where(v > 0, m, v),
    "np.where": lambda m: np.where(v > 0, 1.0, m), "v @ m": lambda m: v @ m, "m @ v": lambda m: m @ v,
    "np.stack": lambda m: np.stack([v, m]), "cc.concatenate": lambda m: cc.concatenate([v, m]),
    "nested list": lambda m: cc.stack([[1.0, 2.0, 3.0, 4.0], m]), "0-d": lambda m: v + m[:1].reshape(()),
}


@pytest.mark.parametrize("position", POSITIONS)
def test_masked_arrays_are_refused_in_every_position(position):
    with pytest.raises(TypeError, match="masked array; the mask would be ignored: pass a.filled"):
        POSITIONS[position](MASKED)


def test_masked_index_arrays_and_scalars_are_refused():
    for build in (lambda: v[np.ma.array([0, 1], mask=[0, 1])], lambda: cc.take(v, np.ma.array([0], mask=[1])),
                  lambda: v * np.ma.masked):
        with pytest.raises(TypeError, match="masked array"):
            build()


with warnings.catch_warnings():  # NumPy discourages np.matrix itself
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    MATRIX, MATRIX_INDEX = np.matrix([[1.0, 2.0], [3.0, 4.0]]), np.matrix([[0, 1]])
w = cc.Tensor("w", (2, 2))


@pytest.mark.parametrize("build", [lambda: MATRIX * w, lambda: w * MATRIX, lambda: MATRIX @ w,
                                   lambda: MATRIX + w, lambda: np.add(w, MATRIX), lambda: cc.where(w > 0, MATRIX, w),
                                   lambda: MATRIX * cc.Tensor("u", (4,)), lambda: w[MATRIX_INDEX]],
                         ids=["M*w", "w*M", "M@w", "M+w", "np.add", "where", "M*v (NumPy raises)", "index"])
def test_np_matrix_is_refused(build):
    with pytest.raises(TypeError, match=r"np.matrix; np.matrix has its own rules .* np.asarray\(m\)"):
        build()


def test_eager_values_refuse_them_too():
    ones = cc.Value(np.ones(4))
    for build in (lambda: cc.Value(MASKED), lambda: ones + MASKED, lambda: MASKED + ones,
                  lambda: cc.where(ones.data > 0, ones, MASKED)):
        with pytest.raises(TypeError, match="masked array; the mask would be ignored"):
            build()
    with pytest.raises(TypeError, match="np.matrix"):
        cc.Value(MATRIX)
    out = cc.where(ones.data > 0, ones * np.arange(4.0), 0.0)  # plain arrays and masks still work
    out.sum().backward()
    np.testing.assert_array_equal(ones.grad, np.arange(4.0))


def test_plain_arrays_still_mix_in():
    got = cc.compile(v * np.arange(4.0) + np.asarray(MATRIX).ravel(), [v], backend="python")(np.ones(4))
    np.testing.assert_array_equal(got, np.arange(4.0) + [1, 2, 3, 4])


# --- one convention at the kink of hypot, from every second-derivative path ---

@pytest.mark.parametrize("backend", ["python", "numba"])
def test_hypot_times_y_has_one_symmetric_hessian_at_the_origin(backend):
    x, y = cc.symbols("x y")
    fn = cc.compile(cc.hypot(x, y) * y, [x, y], backend=backend)
    zero = np.zeros((2, 2))
    np.testing.assert_array_equal(fn.hessian(0.0, 0.0), zero)
    np.testing.assert_array_equal(fn.sparse_hessian(0.0, 0.0).toarray(), zero)
    for e in ((1.0, 0.0), (0.0, 1.0)):
        assert fn.hvp(0.0, 0.0, v=e) == (0.0, 0.0)
    # away from the origin the rule is unchanged: against SymPy's exact Hessian of sqrt(X^2 + Y^2) Y
    X, Y = sp.symbols("X Y")
    f = sp.sqrt(X ** 2 + Y ** 2) * Y
    exact = np.array([[float(sp.diff(f, p, q).subs({X: 1.0, Y: 2.0})) for q in (X, Y)] for p in (X, Y)])
    np.testing.assert_allclose(fn.hessian(1.0, 2.0), exact, rtol=1e-14)
    np.testing.assert_allclose(fn.sparse_hessian(1.0, 2.0).toarray(), exact, rtol=1e-14)


def test_norm_at_the_origin_has_finite_second_derivatives():
    X = cc.Tensor("X", (3,))
    fn = cc.compile(np.linalg.norm(X) * X[0], [X], wrt=X, backend="python")
    zero = np.zeros(3)
    np.testing.assert_array_equal(fn.hessian(zero), np.zeros((3, 3)))
    np.testing.assert_array_equal(fn.sparse_hessian(zero).toarray(), np.zeros((3, 3)))
    np.testing.assert_array_equal(fn.hvp(zero, v=np.ones(3)), zero)


# --- NumPy's argument kinds ---

X = cc.Tensor("X", (2, 3))
E = cc.Tensor("E", (0,))


def test_numpy_integers_are_taken_wherever_an_int_is():
    i0, i1 = np.int64(0), np.int32(1)
    assert np.sum(X, axis=i1).shape == (2,)
    assert np.sum(X, axis=(i0, i1)).shape == ()
    assert np.expand_dims(X, i0).shape == (1, 2, 3)
    assert X.reshape(np.int64(3), np.int64(2)).shape == (3, 2)
    assert np.reshape(X, np.int64(6)).shape == (6,)
    assert X.transpose(i1, i0).shape == (3, 2)
    assert np.concatenate([X, X], axis=i1).shape == (2, 6)
    assert np.moveaxis(X, i0, i1).shape == (3, 2)
    assert np.round(X, np.int64(2)).shape == (2, 3)
    with pytest.raises(TypeError, match="axis must be"):
        np.sum(X, axis=True)


def test_round_takes_integer_decimals_only_and_python_round_works():
    with pytest.raises(TypeError, match="decimals must be an integer, got float: 1.5"):
        np.round(X, 1.5)
    data = np.array([[0.5, 1.5, 2.25], [-0.5, 3.14159, 2.675]])
    fn = cc.compile([round(X), round(X, 2), X.round(1)], [X], wrt=[], backend="python")
    got = fn(data)
    np.testing.assert_array_equal(got[0], np.round(data))
    np.testing.assert_array_equal(got[1], np.round(data, 2))
    np.testing.assert_array_equal(got[2], np.round(data, 1))


def test_ravel_orders_and_where_true_as_numpy_scalars():
    data = np.arange(6.0).reshape(2, 3)
    fn = cc.compile([np.ravel(X, order="K"), np.ravel(X, order="A"), np.ravel(X, order="F"),
                     np.sum(X, where=np.True_), np.sum(X, where=np.array(True))], [X], wrt=[], backend="python")
    got = fn(data)
    for g, order in zip(got[:3], "KAF"):
        np.testing.assert_array_equal(g, np.ravel(data, order=order))
    assert got[3] == got[4] == 15.0
    with pytest.raises(ValueError, match="order must be"):
        np.ravel(X, order="Q")
    with pytest.raises(TypeError, match="where= is not supported"):
        np.sum(X, where=np.False_)


def test_initial_on_empty_reductions_is_the_result():
    fn = cc.compile([np.max(E, initial=3.0), np.min(E, initial=-1.0), np.maximum.reduce(E, initial=2.0),
                     E.max(initial=5.0), np.max(X, initial=100.0), np.sum(E, initial=4.0)], [E, X], wrt=[],
                    backend="python")
    assert fn(np.zeros(0), np.ones((2, 3))) == (3.0, -1.0, 2.0, 5.0, 100.0, 4.0)
    Z = cc.Tensor("Z", (2, 0))
    got = cc.compile(np.max(Z, axis=1, initial=1.5, keepdims=True), [Z], wrt=[], backend="python")(np.zeros((2, 0)))
    np.testing.assert_array_equal(got, np.max(np.zeros((2, 0)), axis=1, initial=1.5, keepdims=True))
    with pytest.raises(cc.ShapeError, match="size 0"):
        np.max(E)


# --- SymPy trees deeper than the recursion limit ---

def test_a_deep_sympy_tree_compiles():
    x = sp.Symbol("x")
    e, numbers = x, sp.Integer(1)
    for k in range(3000):
        e = sp.Add(e, sp.sin(x * k), evaluate=False)
        numbers = sp.Add(numbers, sp.sqrt(k), evaluate=False)
    assert 3000 > sys.getrecursionlimit() / 2
    fn = cc.compile([e, numbers * x], [x], backend="python")
    value, scaled = fn(0.5)
    assert value == pytest.approx(0.5 + math.fsum(math.sin(0.5 * k) for k in range(3000)), rel=1e-12)
    assert scaled == pytest.approx(0.5 * (1 + math.fsum(math.sqrt(k) for k in range(3000))), rel=1e-12)
    # shallow constants are still evaluated by SymPy, exactly, then rounded once
    assert cc.from_sympy(sp.pi + sp.sqrt(2)).value == float(sp.pi + sp.sqrt(2))
    # a complex constant makes the deep expression complex (issue 31), without recursion
    assert cc.ir.dtypes.precision(cc.from_sympy(e + sp.I)) == "complex128"
