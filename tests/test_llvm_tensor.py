"""Tensor kernels on the llvm target (``codegen/llvm_tensor.py``, ``runtime/llvm_tensor.py``):
values and gradients against the python backend (plain NumPy, itself checked against finite
differences in test_tensors.py) and, for the MLP, against central finite differences; float64
and float32; the errors of wrong arguments and of graphs the target refuses.

Cost: each case compiles one small LLVM module (tens of milliseconds); no Numba compile.
"""

from __future__ import annotations

import numpy as np
import pytest

import compiler as cc
from compiler.bench.mlp import _data, _forward

RTOL = {"float64": 1e-12, "float32": 2e-5}


def T(name, *shape, dtype="float64"):
    return cc.Tensor(name, shape, dtype)


def _points(inputs, seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=n.shape).astype(dtype) if n.shape else float(rng.normal()) for n in inputs]


def _close(got, want, dtype):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            _close(g, w, dtype)
        return
    want = np.asarray(want, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape
    scale = np.max(np.abs(want)) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=RTOL[dtype] * max(scale, 1.0))


def check(build, shapes: dict, dtype="float64", seeds=(0, 1), grad=True):
    """``build`` of the tensors named in ``shapes``: llvm against the python backend."""
    inputs = [T(name, *shape, dtype=dtype) for name, shape in shapes.items()]
    out = build(*inputs)
    wrt = inputs if grad else []
    fast = cc.compile(out, inputs, wrt=wrt, backend="llvm")
    ref = cc.compile(out, inputs, wrt=wrt, backend="python")
    assert fast.backend == "llvm"
    for seed in seeds:
        args = _points(inputs, seed, dtype)
        _close(fast(*args), ref(*args), dtype)
        if grad:
            _close(fast.value_and_grad(*args), ref.value_and_grad(*args), dtype)
    return fast


ELEMENTWISE = {
    "broadcast row and number": (lambda A, b: cc.sum(cc.tanh(A * b + 0.5) ** 2), {"A": (5, 13), "b": (13,)}),
    "broadcast column": (lambda A, c: cc.sum(cc.exp(A - c) / (1.0 + A * A)), {"A": (4, 19), "c": (4, 1)}),
    "scalar input": (lambda A, s: cc.sum(cc.sin(A) * s + s * s), {"A": (3, 9), "s": ()}),
    "where and comparison": (lambda A, B: cc.sum(cc.where(A > B, A * B, cc.log1p(B * B))), {"A": (17,), "B": (17,)}),
    "3 axes": (lambda A, B: cc.sum(cc.sqrt(A * A + 1.0) * B), {"A": (2, 3, 10), "B": (3, 1)}),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(ELEMENTWISE))
def test_elementwise_and_broadcasting(case, dtype):
    build, shapes = ELEMENTWISE[case]
    check(build, shapes, dtype)


REDUCTIONS = {
    "sum over axis 0": (lambda A: cc.sum(cc.sum(A, axis=0) ** 2), {"A": (11, 9)}),
    "mean keepdims": (lambda A: cc.sum(cc.exp(A - cc.mean(A, axis=1, keepdims=True))), {"A": (6, 10)}),
    "max over an axis": (lambda A: cc.sum(cc.max(A, axis=1) * 2.0), {"A": (7, 12)}),
    "min of all": (lambda A: cc.min(A) + cc.sum(A), {"A": (3, 4, 5)}),
    "logsumexp": (lambda A: cc.sum(cc.logsumexp(A, axis=-1)), {"A": (5, 16)}),
}


@pytest.mark.parametrize("case", sorted(REDUCTIONS))
def test_reductions(case):
    build, shapes = REDUCTIONS[case]
    check(build, shapes)


def test_max_propagates_nan_as_numpy():
    A = T("A", 3, 4)
    fn = cc.compile(cc.max(A, axis=1), [A], backend="llvm")
    x = np.arange(12.0).reshape(3, 4)
    x[1, 2] = np.nan
    np.testing.assert_array_equal(fn(x), np.max(x, axis=1))


MATMULS = {
    "matrix matrix": {"A": (7, 5), "B": (5, 9)},
    "matrix vector": {"A": (7, 5), "B": (5,)},
    "vector matrix": {"A": (5,), "B": (5, 9)},
    "vector vector": {"A": (5,), "B": (5,)},
    "column times row": {"A": (6, 1), "B": (1, 4)},
    "rows in blocks": {"A": (100, 64), "B": (64, 70)},  # above ONE_THREAD: BLAS called per row block
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(MATMULS))
def test_matmul_shapes(case, dtype):
    check(lambda A, B: cc.sum(cc.tanh(A @ B)), MATMULS[case], dtype)


def test_products_in_row_blocks_of_transposes():
    from compiler.codegen.llvm_tensor import ONE_THREAD, SMALL_PRODUCT
    assert ONE_THREAD < 70 * 64 * 100 <= SMALL_PRODUCT
    check(lambda A, B: cc.sum(cc.sin(A.T @ B.T)), {"A": (64, 70), "B": (64, 64)}, seeds=(0,))


def test_auto_picks_llvm_for_tensors_it_lowers():
    A = T("A", 3, 4)
    fn = cc.compile(cc.sum(cc.tanh(A)), [A])
    assert fn.backend == "llvm" and fn.tier == "numpy"
    fn.wait()
    assert fn.tier == "llvm"
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    assert fn(x) == pytest.approx(np.sum(np.tanh(x)), rel=1e-14)


def test_matmul_of_transposes_slices_and_reshapes():
    check(lambda A, B: cc.sum((A.T @ B[1:, ::2]) ** 2), {"A": (6, 4), "B": (7, 10)})
    check(lambda A, B: cc.sum(cc.reshape(A, (4, 6)) @ B.T), {"A": (6, 4), "B": (3, 6)})
    check(lambda A, B: cc.sum(A[2] @ B + cc.transpose(A)[1, :3].sum()), {"A": (5, 4), "B": (4, 3)})


MORE = {
    "concatenate rows": (lambda A, B: cc.sum(cc.tanh(cc.concatenate([A, B * 2.0], axis=0)) ** 2),
                         {"A": (3, 4), "B": (2, 4)}),
    "concatenate columns": (lambda A, B: (lambda C: cc.sum(cc.tanh(C @ C.T)))(cc.concatenate([A, B.T], axis=1)),
                            {"A": (3, 4), "B": (5, 3)}),
    "stack": (lambda A, B: cc.sum(cc.sin(cc.stack([A, B])) * cc.stack([B, A], axis=0)), {"A": (3, 9), "B": (3, 9)}),
    "triu and tril": (lambda A: cc.sum(cc.triu(A, 1) * cc.tril(A @ A.T, -1)), {"A": (5, 5)}),
    "cumsum both ways": (lambda A: cc.sum(cc.cumsum(A, axis=1) ** 2) + cc.sum(cc.exp(cc.cumsum(A, axis=0))),
                         {"A": (4, 11)}),
}


@pytest.mark.parametrize("case", sorted(MORE))
def test_concatenate_triangles_and_running_sums(case):
    build, shapes = MORE[case]
    check(build, shapes)


def test_tensor_outputs_without_gradient():
    A, B = T("A", 3, 4), T("B", 4)
    fn = cc.compile([A @ B, A.T, cc.sum(A, axis=0), A[1:, 2]], [A, B], wrt=[], backend="llvm")
    x, y = _points([A, B], 3)
    for got, want in zip(fn(x, y), (x @ y, x.T, x.sum(axis=0), x[1:, 2])):
        np.testing.assert_allclose(got, want, rtol=1e-14)


@pytest.fixture(scope="module")
def mlp():
    weights, X, y = _data(np.random.default_rng(0))
    params = [T(f"p{k}", *w.shape) for k, w in enumerate(weights)]
    Xs, ys = T("X", *X.shape), T("y", *y.shape)
    loss = cc.mean((_forward(params, Xs, cc.tanh) - ys) ** 2)
    return loss, params, Xs, ys, weights, X, y


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mlp_step_against_numpy(mlp, dtype):
    loss, params, Xs, ys, weights, X, y = mlp
    fast = cc.compile(loss, params + [Xs, ys], wrt=params, backend="llvm", dtype=dtype)
    ref = cc.compile(loss, params + [Xs, ys], wrt=params, backend="python", dtype=dtype)
    args = [w.astype(dtype) for w in weights] + [X.astype(dtype), y.astype(dtype)]
    got, want = fast.value_and_grad(*args), ref.value_and_grad(*args)
    _close(got, want, dtype)
    if dtype == "float32":
        assert got[1][0].dtype == np.float32


def test_mlp_gradient_against_finite_differences(mlp):
    loss, params, Xs, ys, weights, X, y = mlp
    fn = cc.compile(loss, params + [Xs, ys], wrt=params, backend="llvm")
    _, grads = fn.value_and_grad(*weights, X, y)
    rng = np.random.default_rng(5)
    for k in (0, 2, 5):  # entries of W1, W2 and b3
        index = tuple(rng.integers(0, s) for s in weights[k].shape)
        h = 1e-6
        up, down = [w.copy() for w in weights], [w.copy() for w in weights]
        up[k][index] += h
        down[k][index] -= h
        estimate = (fn(*up, X, y) - fn(*down, X, y)) / (2 * h)
        assert abs(grads[k][index] - estimate) <= 1e-6 * max(1.0, abs(estimate))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_batches_run_the_kernel_over_points_in_machine_code(dtype):
    A, b, s = T("A", 3, 4, dtype=dtype), T("b", 4, dtype=dtype), T("s", dtype=dtype)
    out = cc.sum(cc.tanh(A @ b) * s)
    fn = cc.compile(out, [A, b, s], wrt=[A, b, s], backend="llvm")
    ref = cc.compile(out, [A, b, s], wrt=[A, b, s], backend="python")
    xs = np.random.default_rng(2).normal(size=(5, 3, 4))
    y = np.random.default_rng(3).normal(size=4)  # one point's: shared by the batch
    scales = np.linspace(0.5, 2.0, 5)
    _close(fn(xs, y, scales), ref(xs, y, scales), dtype)
    _close(fn.value_and_grad(xs, y, scales), ref.value_and_grad(xs, y, scales), dtype)


def test_wrong_arguments_are_clear_errors():
    A, b = T("A", 3, 4), T("b", 4)
    fn = cc.compile(cc.sum(A @ b), [A, b], backend="llvm")
    with pytest.raises(cc.ShapeError, match=r"'A'.*shape \(3, 4\).*got shape \(4, 3\)"):
        fn(np.ones((4, 3)), np.ones(4))
    with pytest.raises(cc.ArgumentError, match=r"'b'.*complex128"):
        fn(np.ones((3, 4)), np.ones(4, dtype=complex))
    with pytest.raises(cc.ArgumentError, match="expected 2 argument"):
        fn(np.ones((3, 4)))
    # non-contiguous and integer arrays are converted once, as the numba path does
    assert fn(np.ones((4, 3)).T, np.arange(4)) == pytest.approx(18.0)


def test_refused_graphs_name_the_reason_and_auto_keeps_numba():
    A = T("A", 3, 3)
    b = T("b", 3)
    solve = cc.sum(cc.linalg.solve(A, b))
    with pytest.raises(cc.UnsupportedError, match="op 'solve'.*'numba'"):  # (linear algebra: not yet)
        cc.compile(solve, [A, b], backend="llvm")
    assert cc.compile(solve, [A, b]).backend == "numba"
    C = T("C", 2, 3, 3)
    with pytest.raises(cc.UnsupportedError, match="batched matmul"):
        cc.compile(cc.sum(C @ C), [C], backend="llvm")
    mixed = [A, T("x", 3, dtype="float32")]
    with pytest.raises(cc.UnsupportedError):
        cc.compile(cc.sum(mixed[0] @ mixed[1]), mixed, backend="llvm")


def test_llvm_ir_shows_the_tensor_kernel():
    A, B = T("A", 4, 3), T("B", 3, 5)
    text = cc.compile(cc.sum(cc.tanh(A @ B)), [A, B], backend="llvm").llvm_ir
    assert "define void @kernel" in text and "define void @batch" in text and "@cc_blas_dgemm" in text
    with pytest.raises(cc.UnsupportedError, match="tensors runs on backend 'python'"):
        _ = cc.compile(cc.sum(A @ B), [A, B], backend="python").llvm_ir
