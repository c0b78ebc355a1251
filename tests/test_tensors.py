"""Tensors: every op's value and gradient against finite differences and PyTorch, shapes, errors.

Most checks run on the python backend (generated NumPy code, no compile); the
Numba dialect of the same programs is compiled once, as one function with
many outputs, and must agree with it. PyTorch (float64) is an independent
oracle when installed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import compiler as cc
from compiler import runtime

RNG = np.random.default_rng(7)


def T(name, *shape):
    return cc.Tensor(name, shape)


def arr(*shape, low=-1.5, high=1.5):
    return RNG.uniform(low, high, shape)


def fd_gradient(fn, args, k, eps=1e-6):
    """Central differences of the scalar fn(*args) in every element of args[k]."""
    x = np.array(args[k], dtype=float)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        up, down = [np.array(a, dtype=float) for a in args], [np.array(a, dtype=float) for a in args]
        up[k][idx] += eps
        down[k][idx] -= eps
        g[idx] = (fn(*up) - fn(*down)) / (2 * eps)
    return g


def check_gradients(expr, inputs, args, rtol=1e-6, atol=1e-8):
    fn = cc.compile(expr, inputs, backend="python")
    value, grads = fn.value_and_grad(*args)
    for k in range(len(inputs)):
        assert np.shape(grads[k]) == inputs[k].shape
        np.testing.assert_allclose(grads[k], fd_gradient(fn, args, k), rtol=rtol, atol=atol,
                                   err_msg=f"d/d{inputs[k].name} of {expr!r}")
    return fn, value, grads


# --- one case per op family: (name, build(inputs) -> scalar loss, input shapes) ---

def _cases():
    c = []

    def add(name, shapes, build, **points):
        c.append(pytest.param(shapes, build, points, id=name))

    unary = ["exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos", "atan",
             "log1p", "expm1", "abs", "relu", "sigmoid", "softplus", "erf"]
    for f in unary:
        positive = f in ("log", "sqrt", "log1p")
        inside = f in ("asin", "acos")
        add(f, [(2, 3)], lambda a, f=f: cc.sum(getattr(cc, f)(a) * np.arange(1.0, 7.0).reshape(2, 3)),
            low=0.2 if positive else -0.9 if inside else -1.5, high=0.9 if inside else 1.5)
    add("atan2", [(2, 3), (3,)], lambda a, b: cc.sum(cc.atan2(a, b + 3.0)))
    add("maximum/minimum", [(2, 3), (2, 1)], lambda a, b: cc.sum(cc.maximum(a, b) + 2 * cc.minimum(a, b)))
    add("pow", [(2, 3), (3,)], lambda a, b: cc.sum((a * a + 1.0) ** b + a ** 3))
    add("div", [(2, 3), (3,)], lambda a, b: cc.sum(a / (b * b + 1.0) - 1.0 / (a * a + 2.0)))
    add("where", [(2, 3), (2, 3)], lambda a, b: cc.sum(cc.where(a > b, a * b, a - b)))
    add("broadcast (3,1)+(1,4)", [(3, 1), (1, 4)], lambda a, b: cc.sum(cc.tanh(a + b) * (a - b) ** 2))
    add("broadcast (4,)+(3,4)", [(4,), (3, 4)], lambda a, b: cc.sum(cc.sin(a * b) + a))
    add("scalar and tensor", [(), (3, 4)], lambda s, b: cc.sum(s * b + b / (1.0 + s * s)) + s)
    add("constant arrays both sides", [(3, 4)],
        lambda a: cc.sum(np.arange(4.0) * a + a * np.ones((3, 1)) - np.full((1, 4), 2.0) / (a * a + 1.0)))
    add("sum axis keepdims", [(2, 3, 4)],
        lambda a: cc.sum(cc.sin(cc.sum(a, axis=1, keepdims=True) * a)) + cc.sum(cc.sum(a, axis=(0, -1)) ** 2))
    add("mean negative axes", [(2, 3, 4)], lambda a: cc.sum(cc.mean(a, axis=-2) ** 2) + cc.mean(a * a))
    add("max/min axis", [(3, 4)],
        lambda a: cc.sum(cc.max(a, axis=1) * 2.0) + cc.sum(cc.min(a, axis=0, keepdims=True) * a))
    add("logsumexp", [(3, 4)], lambda a: cc.sum(cc.logsumexp(a, axis=1) * np.arange(1.0, 4.0)) + cc.logsumexp(a))
    add("softmax", [(3, 4)], lambda a: cc.sum(cc.softmax(a) * np.arange(12.0).reshape(3, 4)))
    add("log_softmax axis 0", [(3, 4)], lambda a: cc.sum(cc.log_softmax(a, axis=0) * np.arange(12.0).reshape(3, 4)))
    add("matmul 2-D", [(3, 4), (4, 2)], lambda a, b: cc.sum(cc.tanh(a @ b)))
    add("matmul 1-D @ 2-D", [(4,), (4, 2)], lambda a, b: cc.sum(cc.sin(a @ b)))
    add("matmul 2-D @ 1-D", [(3, 4), (4,)], lambda a, b: cc.sum(cc.sin(a @ b)))
    add("matmul 1-D @ 1-D", [(4,), (4,)], lambda a, b: cc.sin(a @ b))
    add("matmul batched broadcast", [(2, 1, 3, 4), (5, 4, 2)], lambda a, b: cc.sum(cc.tanh(a @ b)))
    add("matmul 1-D @ N-D", [(4,), (2, 4, 3)], lambda a, b: cc.sum(cc.sin(a @ b)))
    add("matmul N-D @ 1-D", [(2, 3, 4), (4,)], lambda a, b: cc.sum(cc.sin(a @ b)))
    add("repeated use", [(3, 3)], lambda a: cc.sum(a * a) + cc.sum(a @ a.T) + cc.sum(a[0] * a[1]))
    add("transpose reshape", [(2, 3, 4)],
        lambda a: cc.sum(cc.sin(cc.transpose(a, (2, 0, 1)).reshape(4, -1)) * np.arange(24.0).reshape(4, 6)))
    add("broadcast_to", [(3, 1)], lambda a: cc.sum(cc.broadcast_to(a, (2, 3, 4)) * np.arange(24.0).reshape(2, 3, 4)))
    add("concatenate stack", [(2, 3), (2, 2), (2, 3)],
        lambda a, b, d: cc.sum(cc.sin(cc.concatenate([a, b, d], axis=-1)) * np.arange(16.0).reshape(2, 8))
        + cc.sum(cc.stack([a, d], axis=-1) ** 2))
    add("slicing", [(4, 5)], lambda a: cc.sum(a[1:3, ::2] ** 2) + cc.sum(a[-1]) + a[0, 0] * a[2, -1]
        + cc.sum(a[None, :, 1]) + cc.sum(a[..., 3] * a[::-1, 0]))
    add("integer-array indexing with repeats", [(4, 3)],
        lambda a: cc.sum(a[[0, 2, 2]] ** 2) + cc.sum(a[:, np.array([1, 1, 0])] * np.arange(12.0).reshape(4, 3)))
    add("take 2-D indices", [(5, 2)], lambda a: cc.sum(cc.take(a, np.array([[0, 4], [4, 1]]), axis=0) ** 3))
    return c


@pytest.mark.parametrize("shapes, build, points", _cases())
def test_gradient_matches_finite_differences(shapes, build, points):
    inputs = [T(f"t{k}", *s) for k, s in enumerate(shapes)]
    args = [arr(*s, **points) if s else float(arr(**points)) for s in shapes]
    check_gradients(build(*inputs), inputs, args)


# The cases whose Numba spelling differs from NumPy's (helpers, chained sums, loops for
# scatter-add, objmode): Numba compiles array code at ~0.1 s a statement, so not all cases.
NUMBA_CASES = {"erf", "where", "sum axis keepdims", "max/min axis", "logsumexp", "matmul 1-D @ 2-D",
               "matmul batched broadcast", "matmul N-D @ 1-D", "transpose reshape", "broadcast_to",
               "concatenate stack", "slicing", "integer-array indexing with repeats", "take 2-D indices"}


def test_numba_dialect_agrees_with_numpy_dialect():
    """The cases as one multi-output function: compiled by Numba once, against NumPy."""
    cases = [c for c in _cases() if c.id in NUMBA_CASES]
    assert len(cases) == len(NUMBA_CASES)
    exprs, inputs, args = [], [], []
    for k, case in enumerate(cases):
        shapes, build, points = case.values
        ins = [T(f"c{k}_{j}", *s) for j, s in enumerate(shapes)]
        exprs.append(build(*ins))
        inputs += ins
        args += [arr(*s, **points) if s else float(arr(**points)) for s in shapes]
    ref_v, ref_g = cc.compile(exprs, inputs, backend="python").value_and_grad(*args)
    v, g = cc.compile(exprs, inputs, backend="numba").value_and_grad(*args)
    np.testing.assert_allclose(v, ref_v, rtol=1e-12, atol=1e-14)
    for row, ref_row in zip(g, ref_g):
        for a, b in zip(row, ref_row):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


# --- specific behaviours ---

def test_max_ties_share_the_gradient():
    a = T("a", 3)
    _, (g,) = cc.compile(cc.max(a), [a], backend="python").value_and_grad(np.array([1.0, 3.0, 3.0]))
    np.testing.assert_array_equal(g, [0.0, 0.5, 0.5])


def test_indexing_with_repeats_scatter_adds():
    a = T("a", 4)
    _, (g,) = cc.compile(cc.sum(a[[0, 2, 2]]), [a], backend="python").value_and_grad(np.zeros(4))
    np.testing.assert_array_equal(g, [1.0, 0.0, 2.0, 0.0])


def test_softmax_family_is_stable_at_large_inputs():
    a = T("a", 2, 3)
    x = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -999.5, -1001.0]])
    fn = cc.compile([cc.sum(cc.logsumexp(a, axis=1)), cc.sum(cc.softmax(a) * np.arange(6.0).reshape(2, 3)),
                     cc.sum(cc.log_softmax(a) * np.arange(6.0).reshape(2, 3))], [a], backend="python")
    values, grads = fn.value_and_grad(x)
    m = x.max(axis=1, keepdims=True)
    e = np.exp(x - m)
    lse = m + np.log(e.sum(axis=1, keepdims=True))
    sm = e / e.sum(axis=1, keepdims=True)
    assert values[0] == pytest.approx(lse.sum(), rel=1e-15)
    assert values[1] == pytest.approx((sm * np.arange(6.0).reshape(2, 3)).sum(), rel=1e-14)
    assert all(math.isfinite(v) for v in values)
    np.testing.assert_allclose(grads[0][0], sm, rtol=1e-14)
    assert all(np.isfinite(g[0]).all() for g in grads)
    assert cc.compile(cc.logsumexp(a), [a], backend="python")(np.full((2, 3), -np.inf)) == -np.inf


def test_stop_gradient():
    a = T("a", 3)
    fn = cc.compile(cc.sum(cc.stop_gradient(a) * a), [a], backend="python")
    v, (g,) = fn.value_and_grad(np.array([1.0, 2.0, 3.0]))
    assert v == 14.0
    np.testing.assert_array_equal(g, [1.0, 2.0, 3.0])  # only the second factor is differentiated
    x = cc.Symbol("x")
    assert cc.compile(cc.stop_gradient(x) * x, [x], backend="python").grad(3.0) == (3.0,)


def test_hessian_and_hvp():
    W, b = T("W", 2, 3), T("b", 2)
    fn = cc.compile(cc.sum(cc.tanh(W @ np.array([0.5, -1.0, 2.0]) + b) ** 2), [W, b], backend="python")
    args = [arr(2, 3), arr(2)]
    H = fn.hessian(*args)
    full = np.block([[H[0][0].reshape(6, 6), H[0][1].reshape(6, 2)], [H[1][0].reshape(2, 6), H[1][1]]])
    np.testing.assert_allclose(full, full.T, atol=1e-14)

    def flat_grad(p):
        g = fn.grad(p[:6].reshape(2, 3), p[6:])
        return np.concatenate([g[0].ravel(), g[1]])
    p0 = np.concatenate([args[0].ravel(), args[1]])
    numeric = np.array([(flat_grad(p0 + 1e-6 * e) - flat_grad(p0 - 1e-6 * e)) / 2e-6 for e in np.eye(8)])
    np.testing.assert_allclose(full, numeric, rtol=1e-6, atol=1e-8)
    v = (arr(2, 3), arr(2))
    hv = fn.hvp(*args, v=v)
    np.testing.assert_allclose(np.concatenate([hv[0].ravel(), hv[1]]),
                               full @ np.concatenate([v[0].ravel(), v[1]]), rtol=1e-12, atol=1e-14)


def test_batches_match_a_loop_and_broadcast():
    W, x = T("W", 2, 3), T("x", 3)
    fn = cc.compile(cc.sum(cc.tanh(W @ x)), [W, x], backend="python")
    Ws, xs = arr(5, 2, 3), arr(5, 3)
    v, (gW, gx) = fn.value_and_grad(Ws, xs)
    assert v.shape == (5,) and gW.shape == (5, 2, 3) and gx.shape == (5, 3)
    for i in range(5):
        vi, (gWi, gxi) = fn.value_and_grad(Ws[i], xs[i])
        assert v[i] == pytest.approx(vi, rel=1e-14)
        np.testing.assert_allclose(gW[i], gWi, rtol=1e-14)
    v1, _ = fn.value_and_grad(Ws, xs[0])   # one point's x shared by the batch
    assert v1[3] == pytest.approx(fn(Ws[3], xs[0]), rel=1e-14)
    with pytest.raises(ValueError, match=r"\(5, 2, 3\).*\(4, 3\)"):
        fn(Ws, arr(4, 3))


def test_shape_errors_at_build_time():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 5\)"):
        T("a", 2, 3) @ T("b", 4, 5)
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\) do not broadcast"):
        T("a", 2, 3) + T("c", 4)
    with pytest.raises(ValueError, match="out of range"):
        cc.sum(T("a", 2, 3), axis=2)
    with pytest.raises(ValueError, match="twice"):
        cc.sum(T("a", 2, 3), axis=(1, -1))
    with pytest.raises(ValueError, match="cannot reshape"):
        T("a", 2, 3).reshape(4, 2)
    with pytest.raises(IndexError, match="out of bounds"):
        T("a", 2, 3)[2]
    with pytest.raises(IndexError, match="boolean masks"):
        T("a", 3)[np.array([True, False, True])]
    with pytest.raises(ValueError, match="scalar outputs"):
        cc.compile(T("a", 3) * 2.0, [T("a", 3)], wrt=[T("a", 3)])
    with pytest.raises(cc.UnsupportedError, match="tensors"):
        cc.compile(cc.sum(T("a", 3)), [T("a", 3)], backend="llvm")


def test_call_errors_name_the_input():
    a, b = T("a", 2, 3), T("b", 3)
    fn = cc.compile(cc.sum(a * b), [a, b], backend="python")
    with pytest.raises(ValueError, match=r"'b' \(position 2\) must have shape \(3,\).*got shape \(4,\)"):
        fn(arr(2, 3), arr(4))
    with pytest.raises(TypeError, match=r"expected 2 argument\(s\) \(a: \(2, 3\), b: \(3,\)\)"):
        fn(arr(2, 3))
    with pytest.raises(TypeError, match="'a' .*got str"):
        fn("x", arr(3))
    with pytest.raises(ValueError, match="scalar outputs"):
        cc.compile(a * 2.0, [a], backend="python").grad(arr(2, 3))
    assert cc.compile(a * 2.0, [a], backend="python")(np.ones((2, 3))).shape == (2, 3)


def test_auto_runs_numpy_first_then_numba(monkeypatch):
    a = T("a", 64, 64)
    fn = cc.compile(cc.sum(cc.tanh(a @ a)), [a])
    monkeypatch.setattr(runtime, "COMPILE_AFTER_SECONDS", math.inf)
    x = arr(64, 64)
    first = fn.value_and_grad(x)
    assert not fn.ready
    fn.wait()
    assert fn.ready
    again = fn.value_and_grad(x)
    assert again[0] == pytest.approx(first[0], rel=1e-12)
    np.testing.assert_allclose(again[1][0], first[1][0], rtol=1e-11, atol=1e-14)
    assert "numba.objmode" in fn.source  # tanh of 4096 elements goes to NumPy's SIMD loop


def test_source_is_self_contained_in_both_dialects():
    a, b = T("a", 3, 4), T("b", 4)
    expr = cc.sum(cc.erf(a) * b) + cc.max(a @ b) + cc.sum(a[:, [0, 0]])
    args = (arr(3, 4), arr(4))
    for backend in ("python", "numba"):
        fn = cc.compile(expr, [a, b], backend=backend)
        namespace: dict = {}
        exec(compile(fn.source, "<generated>", "exec"), namespace)  # noqa: S102 - our own output
        with np.errstate(all="ignore"):
            v, g = namespace["value_and_grad"](*args)
        want_v, want_g = fn.value_and_grad(*args)
        assert v == pytest.approx(want_v, rel=1e-14)
        np.testing.assert_allclose(g[0], want_g[0], rtol=1e-13)


# --- the eager Value API on arrays ---

@pytest.fixture
def python_values(monkeypatch):
    monkeypatch.setattr(cc.Value, "backend", "python")


def test_value_arrays_issue_example(python_values):
    A, B = RNG.normal(size=(2, 3)), RNG.normal(size=(1, 3))
    a, b = cc.Value(A), cc.Value(B)
    loss = ((a + b).tanh() * (a + 2.0)).sum()
    loss.backward()
    assert a.grad.shape == (2, 3) and b.grad.shape == (1, 3)
    f = lambda A, B: float((np.tanh(A + B) * (A + 2.0)).sum())  # noqa: E731
    np.testing.assert_allclose(a.grad, fd_gradient(f, [A, B], 0), rtol=1e-6)
    np.testing.assert_allclose(b.grad, fd_gradient(f, [A, B], 1), rtol=1e-6)
    loss.backward()
    np.testing.assert_allclose(a.grad, 2 * fd_gradient(f, [A, B], 0), rtol=1e-6)  # accumulates
    loss.zero_grad()
    assert not a.grad.any()
    with pytest.raises(ValueError, match="scalar Value"):
        (a * 2.0).backward()


def test_value_arrays_matmul_softmax_indexing(python_values):
    X = cc.Value(RNG.normal(size=(4, 3)))
    W = cc.Value(RNG.normal(size=(3, 2)))
    out = (X @ W).log_softmax(axis=1)[[0, 1, 3], [0]].sum() if False else (X @ W).log_softmax(axis=1)[:, 0].sum()
    out.backward()
    f = lambda Xv, Wv: float((Xv @ Wv - np.log(np.exp(Xv @ Wv).sum(axis=1, keepdims=True)))[:, 0].sum())  # noqa: E731
    np.testing.assert_allclose(W.grad, fd_gradient(f, [X.data, W.data], 1), rtol=1e-6)


# --- PyTorch as an independent oracle ---

def test_against_torch_mlp_and_cross_entropy():
    torch = pytest.importorskip("torch")
    W1, b1, W2, b2 = T("W1", 3, 8), T("b1", 8), T("W2", 8, 4), T("b2", 4)
    X = T("X", 16, 3)
    labels = RNG.integers(0, 4, 16)
    logits = cc.tanh(X @ W1 + b1) @ W2 + b2
    # cross-entropy: the log-probability of each row's label, by integer-array indexing
    picked = cc.take(cc.log_softmax(logits, axis=1).reshape(-1), np.arange(16) * 4 + labels)
    loss = -cc.mean(picked) + 0.1 * cc.mean((logits - 0.5) ** 2)
    params = [W1, b1, W2, b2]
    values = [RNG.normal(size=p.shape) for p in params]
    data = RNG.normal(size=(16, 3))
    fn = cc.compile(loss, params + [X], wrt=params, backend="python")
    v, grads = fn.value_and_grad(*values, data)

    tv = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in values]
    tx = torch.tensor(data, dtype=torch.float64)
    tl = torch.tanh(tx @ tv[0] + tv[1]) @ tv[2] + tv[3]
    tloss = torch.nn.functional.cross_entropy(tl, torch.tensor(labels)) + 0.1 * ((tl - 0.5) ** 2).mean()
    tloss.backward()
    assert v == pytest.approx(tloss.item(), rel=1e-13)
    for g, t in zip(grads, tv):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-11, atol=1e-14)


def test_against_torch_reductions_matmul_indexing():
    torch = pytest.importorskip("torch")
    a, b = T("a", 2, 1, 3, 4), T("b", 5, 4, 3)
    expr = (cc.sum(cc.max(a, axis=-1, keepdims=True) * a) + cc.sum(cc.tanh(a @ b))
            + cc.sum(cc.mean(b, axis=(0, -2)) ** 2) + cc.sum(a[:, :, [0, 2, 2]] ** 2))
    args = [arr(2, 1, 3, 4), arr(5, 4, 3)]
    v, grads = cc.compile(expr, [a, b], backend="python").value_and_grad(*args)
    ta, tb = (torch.tensor(x, requires_grad=True) for x in args)
    tv = (torch.sum(torch.amax(ta, dim=-1, keepdim=True) * ta) + torch.sum(torch.tanh(ta @ tb))
          + torch.sum(torch.mean(tb, dim=(0, -2)) ** 2) + torch.sum(ta[:, :, [0, 2, 2]] ** 2))
    tv.backward()
    assert v == pytest.approx(tv.item(), rel=1e-13)
    np.testing.assert_allclose(grads[0], ta.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads[1], tb.grad.numpy(), rtol=1e-12, atol=1e-14)
    # ties: torch.amax shares the gradient evenly too
    t = torch.tensor([1.0, 3.0, 3.0], dtype=torch.float64, requires_grad=True)
    torch.amax(t).backward()
    np.testing.assert_array_equal(t.grad.numpy(), [0.0, 0.5, 0.5])


def test_jit_with_tensor_parameters():
    @cc.jit(shapes={"W": (2, 3)}, backend="python")
    def f(W, s):
        return cc.sum(cc.tanh(W) * s)
    W = arr(2, 3)
    v, (gW, gs) = f.value_and_grad(W, 2.0)
    assert v == pytest.approx(float(np.sum(np.tanh(W) * 2.0)), rel=1e-14)
    np.testing.assert_allclose(gW, 2.0 * (1 - np.tanh(W) ** 2), rtol=1e-13)
    with pytest.raises(ValueError, match="not parameters"):
        cc.jit(lambda a: a, shapes={"b": (2,)})
