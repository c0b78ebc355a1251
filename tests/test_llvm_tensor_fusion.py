"""The llvm tensor kernels' per-call work (issue 28): elementwise chains fused into one loop nest
(``codegen/llvm_fusion.py``), small products as loop nests (``codegen/llvm_matmul.py``) and the
CPython entry that checks arrays in place (``runtime/tensor_entry.py``).

Oracles: NumPy on the same formula, the python backend (1e-12 relative), the same kernel
compiled without fusion (1e-15 relative: fusion reorders nothing, but a product and a sum in
one loop may become one multiply-add), central differences for the gradients. Cost: about twenty small LLVM modules, a few seconds; no Numba compile.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import compiler as cc
from compiler.codegen import llvm_fusion, llvm_matmul, llvm_tensor
from compiler.errors import ArgumentError, ShapeError
from compiler.runtime import simd, tensor_entry

RTOL = 1e-12


def T(name, *shape, dtype="float64"):
    return cc.Tensor(name, shape, dtype)


def _close(got, want, rtol=RTOL):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, float(np.max(np.abs(want), initial=0))))


def _fused_ids(fn, role="value"):
    plan = fn.plan[role]
    return set(llvm_fusion.fused(plan.statements, plan.outputs, lambda n: llvm_tensor._is_elementwise(n, {})))


# chains of elementwise ops with broadcasting (rows, columns, numbers, a scalar input), feeding
# an output array, a sum over an axis, a max and a min; NumPy's formula beside each
CHAINS = {
    "row, number, tanh": (lambda A, b, s: cc.tanh(A * b + 0.5) * s - A,
                          lambda A, b, s: np.tanh(A * b + 0.5) * s - A, {"A": (5, 13), "b": (13,), "s": ()}),
    "column, exp, into a sum over rows": (lambda A, c, s: cc.sum(cc.exp(A - c) / (1.0 + A * A), axis=0) * s,
                                          lambda A, c, s: np.sum(np.exp(A - c) / (1.0 + A * A), axis=0) * s,
                                          {"A": (4, 19), "c": (4, 1), "s": ()}),
    "3 axes into a max": (lambda A, B, s: cc.max(cc.sqrt(A * A + s) * B - A, axis=2),
                          lambda A, B, s: np.max(np.sqrt(A * A + s) * B - A, axis=2),
                          {"A": (2, 3, 16), "B": (3, 1), "s": ()}),
    "comparison, where, into a min": (lambda A, B, s: cc.min(cc.where(A > B, A * B, cc.log1p(B * B)) + s, axis=1),
                                      lambda A, B, s: np.min(np.where(A > B, A * B, np.log1p(B * B)) + s, axis=1),
                                      {"A": (3, 17), "B": (17,), "s": ()}),
}


def _args(shapes, seed, dtype="float64"):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s).astype(dtype) if s else float(abs(rng.normal()) + 0.5) for s in shapes.values()]


@pytest.fixture(scope="module")
def chains():
    """Each chain compiled on llvm with fusion, without it, and on the python backend."""
    out = {}
    for case, (build, numpy_f, shapes) in CHAINS.items():
        inputs = [T(name, *shape) for name, shape in shapes.items()]
        expr = build(*inputs)
        wrt = inputs[:2]
        fused = cc.compile(expr, inputs, wrt=[], backend="llvm")
        llvm_fusion.FUSE = False
        try:
            plain = cc.compile(expr, inputs, wrt=[], backend="llvm")
            plain.wait()
        finally:
            llvm_fusion.FUSE = True
        loss = cc.compile(cc.sum(expr * expr), inputs, wrt=wrt, backend="llvm")
        python = cc.compile(expr, inputs, wrt=[], backend="python")
        out[case] = fused, plain, loss, python, numpy_f, shapes
    return out


@pytest.mark.parametrize("case", sorted(CHAINS))
def test_fused_chains_against_numpy_the_python_backend_and_unfused(chains, case):
    fused, plain, _, python, numpy_f, shapes = chains[case]
    assert fused.backend == "llvm" and len(_fused_ids(fused)) >= 2  # the chain was fused
    for seed in (0, 1, 2):
        args = _args(shapes, seed)
        got = fused(*args)
        _close(got, numpy_f(*args))
        _close(got, python(*args))
        # the same operations in the same order; a product feeding a sum may become one fused
        # multiply-add in vector loops (``contract``), which rounds once instead of twice
        np.testing.assert_allclose(got, plain(*args), rtol=1e-15, atol=0)


@pytest.mark.parametrize("case", sorted(CHAINS))
def test_fused_gradients_against_central_differences(chains, case):
    _, _, loss, _, numpy_f, shapes = chains[case]
    args = _args(shapes, 3)
    value, grads = loss.value_and_grad(*args)
    _close(value, np.sum(numpy_f(*args) ** 2))
    h = 1e-6
    for j in range(2):  # wrt: the first two inputs
        x = args[j]
        for i in list(np.ndindex(x.shape))[:: max(1, x.size // 7)]:
            up, down = [a.copy() if isinstance(a, np.ndarray) else a for a in args], list(args)
            up[j] = x.copy()
            up[j][i] += h
            down[j] = x.copy()
            down[j][i] -= h
            numeric = (np.sum(numpy_f(*up) ** 2) - np.sum(numpy_f(*down) ** 2)) / (2 * h)
            assert abs(grads[j][i] - numeric) <= 1e-6 * max(1.0, abs(numeric)), (case, j, i)


def test_an_operand_read_twice_or_an_output_is_not_fused():
    A, b = T("A", 4, 8), T("b", 8)
    h = cc.tanh(A * b)
    fn = cc.compile([h * h + 1.0, cc.exp(A + b)], [A, b], wrt=[], backend="llvm")
    ids = _fused_ids(fn)
    by_op = {n.op: n.id for n in fn.plan["value"].statements}
    assert by_op["tanh"] not in ids and by_op["exp"] not in ids  # read twice; an output
    assert by_op["add"] in ids  # A + b, read once by exp
    a, bb = np.random.default_rng(0).normal(size=(4, 8)), np.arange(8.0)
    got = fn(a, bb)
    _close(got[0], np.tanh(a * bb) ** 2 + 1.0)
    _close(got[1], np.exp(a + bb))


# products as loop nests: n whole vectors (8 numbers covers AVX2 and AVX-512 in float64), odd row
# counts, several column blocks, transposed operands (a copy of B), a broadcast operand
PRODUCTS = {
    "odd rows": (lambda A, B: A @ B, (7, 5), (5, 16)),
    "column blocks": (lambda A, B: A @ B, (6, 9), (9, 72)),
    "A transposed": (lambda A, B: A.T @ B, (33, 4), (33, 24)),
    "B transposed": (lambda A, B: A @ B.T, (5, 12), (32, 12)),
    "both transposed": (lambda A, B: A.T @ B.T, (10, 3), (64, 10)),
    "k of 1": (lambda A, B: A @ B, (9, 1), (1, 8)),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(PRODUCTS))
def test_products_as_loop_nests(case, dtype):
    build, sa, sb = PRODUCTS[case]
    A, B = T("A", *sa, dtype=dtype), T("B", *sb, dtype=dtype)
    fn = cc.compile(cc.tanh(build(A, B)), [A, B], wrt=[], backend="llvm")
    text = fn.llvm_ir
    a, b = (np.random.default_rng(k).normal(size=s).astype(dtype) for k, s in ((0, sa), (1, sb)))
    want = np.tanh(build(a.astype(np.float64), b.astype(np.float64)))
    _close(fn(a, b), want, RTOL if dtype == "float64" else 2e-5)
    if dtype == "float64" and simd.info(fn).available:  # n is whole vectors of 4 or 8: no BLAS
        assert "cc_blas_" not in text


def test_large_products_still_call_blas():
    assert 64 * 64 * 256 <= llvm_matmul.LOOP_PRODUCT < 2048 * 2048 * 8


# --- the CPython entry (tensor_entry) ---

@pytest.fixture(scope="module")
def step():
    """Two scalar outputs with their gradients (arrays), and a function of an array output."""
    W, x, s = T("W", 3, 8), T("x", 8), T("s")
    loss = cc.sum(cc.tanh(W @ x + s) ** 2)
    fn = cc.compile([loss, cc.mean(W) * s], [W, x, s], wrt=[W, x, s], backend="llvm")
    arr = cc.compile([loss, W * s], [W, x, s], wrt=[], backend="llvm")
    fn.wait()
    arr.wait()
    rng = np.random.default_rng(5)
    return fn, arr, rng.normal(size=(3, 8)), rng.normal(size=8), 0.25


def _loss(W, x, s):
    t = np.tanh(W @ x + s)
    return np.sum(t * t)


def test_the_fast_entry_answers_float64_arrays(step):
    fn, arr, W, x, s = step
    if not tensor_entry.supported():
        pytest.skip("no native entry on this interpreter")
    assert fn._vg.fast is not None and arr._value.fast is not None
    values, rows = fn._vg.fast(W, x, s)  # the entry itself, no checked path
    _close(values[0], _loss(W, x, s))
    _close(values[1], np.mean(W) * s)
    assert type(values[0]) is float and len(rows) == 2 and len(rows[0]) == 3 and type(rows[0][2]) is float
    _close(rows[1][0], np.full((3, 8), s / 24))
    value, product = arr._value.fast(W, x, s)
    _close(product, W * s)
    with pytest.raises(TypeError):
        fn._vg.fast(W.astype(np.float32), x, s)  # turned away: the checked path converts
    with pytest.raises(TypeError):
        fn._vg.fast(W, x)


def test_outputs_are_fresh_arrays(step):
    fn, arr, W, x, s = step
    first, first_grad = arr(W, x, s)[1], fn.value_and_grad(W, x, s)[1][0][0]
    kept, kept_grad = first.copy(), first_grad.copy()
    first[...] = 7.0  # a caller writes into what it got
    first_grad[...] = -1.0
    second, second_grad = arr(W, x, s)[1], fn.value_and_grad(W, x, s)[1][0][0]
    np.testing.assert_array_equal(second, kept)
    np.testing.assert_array_equal(second_grad, kept_grad)
    assert not np.shares_memory(first, second) and not np.shares_memory(first, W)
    assert second.flags.writeable and second.flags.owndata and second.dtype == np.float64


def test_other_arguments_take_the_checked_path(step):
    _, fn, W, x, s = step
    want = fn(W, x, s)
    for args in [(W.tolist(), x, s), (W.astype(np.float32), x, np.float64(s)), (np.asfortranarray(W), x, s),
                 (W, x, 1 * s), (W, np.broadcast_to(x, (8,)), s), (W, x, np.float32(s)), (W, x, 0)]:
        got = fn(*args)
        if args[2] == 0:
            _close(got[0], _loss(W, x, 0.0))
            continue
        tol = 1e-6 if any(getattr(a, "dtype", None) == np.float32 for a in args) else RTOL
        _close(got[0], want[0], tol)
        _close(got[1], want[1], tol)
    strided = np.zeros((3, 16))[:, ::2]
    strided[...] = W
    _close(fn(strided, x, s)[0], want[0])
    batch = fn(np.stack([W, 2 * W]), x, s)  # a batch of two points
    _close(batch[0][0], want[0])
    assert batch[1].shape == (2, 3, 8)
    with pytest.raises(ShapeError, match="shape"):
        fn(W[:2], x, s)
    with pytest.raises(ArgumentError, match="expected 3 argument"):
        fn(W, x)
    with pytest.raises(ArgumentError):
        fn(W, x, "s")
    with pytest.raises(ArgumentError):
        fn(np.ma.masked_array(W, mask=W > 0), x, s)


def test_calls_from_threads_share_nothing(step):
    fn, _, W, x, s = step
    rng = np.random.default_rng(9)
    points = [rng.normal(size=(3, 8)) for _ in range(8)]
    wrong: list = []

    def work(P):
        for _ in range(200):
            value, grads = fn.value_and_grad(P, x, s)
            if abs(value[0] - _loss(P, x, s)) > 1e-12 * max(1.0, abs(value[0])):
                wrong.append(value[0])
    threads = [threading.Thread(target=work, args=(P,)) for P in points]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong


def test_mlp_step_through_the_entry_matches_the_python_backend():
    from compiler.bench.mlp import _data, _forward
    weights, X, y = _data(np.random.default_rng(0))
    params = [cc.Tensor(f"p{k}", w.shape) for k, w in enumerate(weights)]
    Xs, ys = cc.Tensor("X", X.shape), cc.Tensor("y", y.shape)
    loss = cc.mean((_forward(params, Xs, cc.tanh) - ys) ** 2)
    fast = cc.compile(loss, params + [Xs, ys], wrt=params, backend="llvm")
    ref = cc.compile(loss, params + [Xs, ys], wrt=params, backend="python")
    got, want = fast.value_and_grad(*weights, X, y), ref.value_and_grad(*weights, X, y)
    _close(got[0], want[0])
    for g, w in zip(got[1], want[1]):
        _close(g, w)
    assert len(_fused_ids(fast, "value_and_grad")) >= 6  # bias + tanh, tanh' chains, the loss


def test_auto_answers_through_the_entry_once_compiled():
    A, b = T("A", 4, 8), T("b", 8)
    fn = cc.compile(cc.sum(cc.tanh(A @ b) ** 2), [A, b], wrt=[A])
    fn.wait()
    assert fn.backend == "llvm"
    if tensor_entry.supported():
        assert fn._vg.fast is not None
    a, bb = np.random.default_rng(2).normal(size=(4, 8)), np.arange(8.0) / 8
    value, (dA,) = fn.value_and_grad(a, bb)
    t = np.tanh(a @ bb)
    _close(value, np.sum(t * t))
    _close(dA, np.outer(2 * t * (1 - t * t), bb))


def test_a_float32_kernel_takes_float32_arrays_through_the_entry():
    W, x, s = T("W", 3, 16, dtype="float32"), T("x", 16, dtype="float32"), T("s", dtype="float32")
    fn = cc.compile([cc.sum(cc.tanh(W @ x + s) ** 2), cc.mean(W) * s], [W, x, s], wrt=[W, x, s], backend="llvm")
    fn.wait()
    rng = np.random.default_rng(4)
    w, xx = rng.normal(size=(3, 16)).astype(np.float32), rng.normal(size=16).astype(np.float32)
    if tensor_entry.supported():
        assert fn._vg.fast is not None
        fn._vg.fast(w, xx, 0.5)  # float32 arrays: taken
        with pytest.raises(TypeError):
            fn._vg.fast(w.astype(np.float64), xx, 0.5)  # float64 for a float32 kernel: the checked path
    fast = fn.value_and_grad(w, xx, 0.5)
    checked = fn.value_and_grad(w.astype(np.float64), xx.astype(np.float64), 0.5)  # the same float32 numbers
    assert fast[0] == checked[0]
    for got, want in zip(fast[1][0], checked[1][0]):
        assert np.asarray(got).dtype == np.float32  # (a float32 function's results: docs/guide/precision.md)
        np.testing.assert_array_equal(got, want)
    _close(fast[0][0], _loss(w.astype(np.float64), xx.astype(np.float64), 0.5), 2e-5)
