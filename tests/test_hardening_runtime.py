"""Hardening of the runtime (issue 23): NLP parameters and bounds, Dask inputs, empty shapes
through every derivative, loop memory, batch shapes of several outputs, scan escapes.

Each test names the finding it covers; every value is checked against NumPy/closed forms.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import compiler as cc

# --- findings 4, 5, 13: NLP parameters, x0 and bounds ------------------------------------------

P_SHAPE, Q_SHAPE = (3,), (2, 2)


def _nlp(backend: str):
    """``min s * sum((x - p)**2) + sum(q) * x[0]``: the minimum is at ``x = p - e0 sum(q) / (2 s)``."""
    x, p, q, s = cc.Tensor("x", (3,)), cc.Tensor("p", P_SHAPE), cc.Tensor("q", Q_SHAPE), cc.Symbol("s")
    return cc.nlp(s * cc.sum((x - p) ** 2) + cc.sum(q) * x[0], x, g=[cc.sum(x)], params=[p, q, s],
                  backend=backend)


@pytest.fixture(scope="module", params=["python", "numba"])
def problem(request):
    return _nlp(request.param)


def _oracle(x, p, q, s):
    """Objective and gradient of ``_nlp`` in NumPy."""
    f = s * np.sum((x - p) ** 2) + np.sum(q) * x[0]
    g = 2 * s * (x - p)
    g[0] += np.sum(q)
    return f, g


GOOD_LAYOUTS = ["list", "tuple", "float64", "int64", "int8", "uint16", "float32", "float16", "bool",
                "strided", "reversed", "fortran", "readonly"]
BAD_KINDS = ["complex", "nan", "inf", "-inf", "text", "none", "object", "masked"]


def _layout(values: np.ndarray, layout: str):
    """``values`` (small integers, float64) in one of the ways a user may hold them."""
    if layout == "list":
        return values.tolist()
    if layout == "tuple":
        return tuple(values.tolist()) if values.ndim == 1 else tuple(map(tuple, values.tolist()))
    if layout in ("float64", "int64", "int8", "uint16", "float32", "float16", "bool"):
        return values.astype(layout)
    if layout == "strided":  # every other element of a bigger array
        big = np.zeros((2 * values.size,))
        big[::2] = values.ravel()
        return big[::2].reshape(values.shape)
    if layout == "reversed":
        return values[::-1].copy()[::-1]
    if layout == "fortran":
        return np.asfortranarray(values)
    if layout == "readonly":
        out = values.copy()
        out.setflags(write=False)
        return out
    raise AssertionError(layout)


def _bad(values: np.ndarray, kind: str):
    """``values`` made into something an NLP parameter must refuse."""
    if kind == "complex":
        return values + 1j
    if kind in ("nan", "inf", "-inf"):
        out = values.astype(np.float64).copy()
        out.flat[-1] = float(kind)
        return out
    if kind == "text":
        return "1.0"
    if kind == "none":
        return None
    if kind == "object":
        return np.array(values.tolist(), dtype=object)
    if kind == "masked":
        return np.ma.masked_array(values, mask=np.zeros(values.shape, bool))
    raise AssertionError(kind)


@st.composite
def parameter(draw, shape: tuple):
    """``(value as given, value as float64 or None when it must be refused)``."""
    values = np.array(draw(st.lists(st.integers(-3, 3), min_size=int(np.prod(shape)),
                                    max_size=int(np.prod(shape)))), dtype=np.float64).reshape(shape)
    if draw(st.integers(0, 4)) == 0:
        return _bad(values, draw(st.sampled_from(BAD_KINDS))), None
    layout = draw(st.sampled_from(GOOD_LAYOUTS))
    given_ = _layout(values, layout)
    return given_, np.asarray(given_).astype(np.float64)


@st.composite
def scalar_parameter(draw):
    v = draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["float", "int", "np.float32", "np.int16", "0-d", "0-d int", "0-d readonly",
                                 "complex", "nan", "inf", "1-d", "np.complex64"]))
    if kind == "0-d readonly":
        out = np.array(float(v))
        out.setflags(write=False)
        return out, float(v)
    good = {"float": float(v), "int": v, "np.float32": np.float32(v), "np.int16": np.int16(v),
            "0-d": np.array(float(v)), "0-d int": np.array(v)}
    if kind in good:
        return good[kind], float(v)
    return {"complex": complex(v, 1), "nan": np.nan, "inf": np.inf, "1-d": np.array([float(v)]),
            "np.complex64": np.complex64(v)}[kind], None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(p=parameter(P_SHAPE), q=parameter(Q_SHAPE), s=scalar_parameter(),
       x=st.lists(st.floats(-4, 4), min_size=3, max_size=3))
def test_nlp_parameters_of_every_dtype_and_layout(problem, p, q, s, x):
    (p, p64), (q, q64), (s, s64) = p, q, s
    x = np.array(x)
    refused = [name for name, v in (("p", p64), ("q", q64), ("s", s64)) if v is None]
    if refused:
        error = cc.ShapeError if refused[0] == "s" and np.ndim(s) else cc.ArgumentError
        with pytest.raises(error, match=f"parameter '{refused[0]}'"):
            problem.ipopt_callbacks(p, q, s)
        return
    callbacks = problem.ipopt_callbacks(p, q, s)
    f, g = _oracle(x, p64, q64, s64)
    assert callbacks.objective(x) == pytest.approx(f, rel=1e-12, abs=1e-12)
    assert_allclose(callbacks.gradient(x), g, rtol=1e-12, atol=1e-12)
    assert_allclose(callbacks.constraints(x), [x.sum()], rtol=1e-12)
    assert_allclose(callbacks.jacobian(x), np.ones(3))
    # the Hessian of the Lagrangian: 2 s I (lower triangle), whatever the multiplier
    rows, cols = callbacks.hessianstructure()
    assert_allclose(callbacks.hessian(x, np.array([0.7]), 1.0), np.where(rows == cols, 2 * s64, 0.0))


def test_nlp_complex_parameter_is_refused_not_solved(problem):
    """Finding 4: a complex parameter was solved with its imaginary part dropped (success=True)."""
    pytest.importorskip("cyipopt")
    with pytest.raises(cc.ArgumentError, match=r"parameter 'p' \(position 1.*complex"):
        problem.solve(np.zeros(3), params=(np.arange(3.0) + 1j, np.ones(Q_SHAPE), 1.0), cl=-10, cu=10)
    with pytest.raises(cc.ArgumentError, match=r"parameter 's' .*finite, got nan"):
        problem.solve(np.zeros(3), params=(np.arange(3.0), np.ones(Q_SHAPE), np.nan), cl=-10, cu=10)


def test_nlp_parameters_as_lists_and_views_solve(problem):
    """Finding 5: lists, int/float32 arrays and strided views reached the Numba kernels as they
    were (a Numba typing error inside the IPOPT callback)."""
    pytest.importorskip("cyipopt")
    p = np.arange(6, dtype=np.float32)[::2]       # float32, strided
    q = [[1, 0], [0, 1]]                            # nested lists of ints
    res = problem.solve(np.zeros(3), params=(p, q, 2), cl=-100, cu=100)
    assert res.success
    assert_allclose(res.x, np.array([0.0, 2.0, 4.0]) - np.array([2.0 / 4, 0, 0]), atol=1e-7)


def test_nlp_x0_and_bounds_are_checked_upfront(problem):
    """Finding 13: lb=+inf reached IPOPT (status -13); every bound is checked with its name and index."""
    pytest.importorskip("cyipopt")
    params = (np.zeros(3), np.zeros(Q_SHAPE), 1.0)
    cases = [(dict(lb=np.inf), r"lb is inf at index 0"),
             (dict(lb=[0.0, 0.0, np.inf]), r"lb is inf at index 2"),
             (dict(ub=[0.0, -np.inf, 1.0]), r"ub is -inf at index 1"),
             (dict(cl=np.inf), r"cl is inf at index 0"),
             (dict(cu=-np.inf), r"cu is -inf at index 0"),
             (dict(lb=[0.0, 2.0, 0.0], ub=1.0), r"lb > ub at index 1"),
             (dict(cl=1.0, cu=0.0), r"cl > cu at index 0"),
             (dict(ub=[0.0, np.nan, 1.0]), r"ub contains NaN at index 1"),
             (dict(lb=np.zeros(3) + 1j), r"lb must be real numbers"),
             (dict(x0=[0.0, np.inf, 0.0]), r"x0 must be finite, got inf at index 1"),
             (dict(x0=np.zeros(3) + 1j), r"x0 must be real numbers"),
             (dict(x0="abc"), r"x0 must be real numbers")]
    for kwargs, message in cases:
        kwargs = {"x0": np.zeros(3), **kwargs}
        with pytest.raises(cc.ArgumentError, match=message):
            problem.solve(params=params, **kwargs)
    # infinite bounds on the right side are "no bound"; int and float32 bounds are taken
    res = problem.solve(np.zeros(3), lb=[-np.inf, 0, 0], ub=np.float32(np.inf), cl=-np.inf,
                        cu=np.array([5], dtype=np.int8), params=([-1, 1, 1], np.zeros(Q_SHAPE), 1.0))
    assert res.success
    assert_allclose(res.x, [-1.0, 1.0, 1.0], atol=1e-7)


# --- finding 7: empty shapes through every derivative ------------------------------------------

def _empty_cases():
    x, A, y = cc.Tensor("x", (0,)), cc.Tensor("A", (0, 3)), cc.Tensor("y", (3,))
    return {"cumsum of (0,)": (cc.sum(cc.cumsum(x) ** 2), [x]),
            "exp of (0,)": (cc.sum(cc.exp(x) * x), [x]),
            "cumsum of (0, 3) and y": (cc.sum(cc.cumsum(A, axis=0) ** 2) + cc.sum(y ** 3), [A, y]),
            "concatenate": (cc.sum(cc.concatenate([x, y]) ** 3), [x, y])}


@pytest.mark.parametrize("name", list(_empty_cases()))
def test_empty_shapes_through_every_derivative(name):
    """``hessian_sparsity`` of ``sum(cumsum(x)**2)`` with x of shape (0,) raised a reshape error;
    every derivative of a function with an empty input is checked against the nonempty part."""
    expr, inputs = _empty_cases()[name]
    fn = cc.compile(expr, inputs, backend="python")
    args = [np.full(n.shape, 0.5) for n in inputs]
    y = args[-1] if inputs[-1].name == "y" else None
    value = fn(*args)
    assert value == pytest.approx(0.0 if y is None else float(np.sum(y ** 3)))
    sizes = [int(np.prod(n.shape)) for n in inputs]
    total = sum(sizes)
    grads = fn.grad(*args)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert [g.shape for g in grads] == [n.shape for n in inputs]
    dense = np.zeros((total, total))
    if y is not None:
        dense[-3:, -3:] = np.diag(6 * y)
        assert_allclose(grads[-1], 3 * y ** 2)
    pattern = fn.hessian_sparsity()
    assert pattern.shape == (total, total)
    assert_allclose(fn.sparse_hessian(*args).toarray(), dense)
    H = fn.hessian(*args)
    blocks = np.block([[np.reshape(H[i][j], (sizes[i], sizes[j])) for j in range(len(inputs))]
                       for i in range(len(inputs))]) if len(inputs) > 1 else np.reshape(H, (total, total))
    assert_allclose(blocks, dense)


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_empty_outputs_jacobians(backend):
    """Jacobians (dense, sparse, patterns) and jvp of vector outputs with an empty piece."""
    x, y = cc.Tensor("x", (0,)), cc.Tensor("y", (3,))
    fn = cc.compile([cc.cumsum(x) * 2, y ** 2], [x, y], backend=backend)
    yv = np.array([1.0, -2.0, 3.0])
    J = fn.jacobian(np.zeros(0), yv)
    assert np.shape(J[0][0]) == (0, 0) and np.shape(J[0][1]) == (0, 3) and np.shape(J[1][0]) == (3, 0)
    assert_allclose(J[1][1], np.diag(2 * yv))
    assert fn.jacobian_sparsity().shape == (3, 3)
    assert_allclose(fn.sparse_jacobian(np.zeros(0), yv).toarray(), np.diag(2 * yv))
    only = cc.compile(cc.cumsum(x), [x], backend=backend)
    J = only.jacobian(np.zeros(0))
    assert np.shape(J[0] if isinstance(J, tuple) else J) == (0, 0)
    assert only.sparse_jacobian(np.zeros(0)).shape == (0, 0)


# --- findings 6 and 9: Dask ----------------------------------------------------------------------

def test_shared_tensor_as_a_multichunk_dask_array():
    """Finding 6: a shared (one point) tensor given as a Dask array of several chunks crashed in
    Dask (core dimension in several chunks); only batched inputs were rechunked."""
    da = pytest.importorskip("dask.array")
    W, v = cc.Tensor("W", (4, 2)), cc.Tensor("v", (4,))
    fn = cc.compile(cc.sum(cc.tanh(v @ W)), [W, v], backend="python")  # (the shapes: any backend)
    rng = np.random.default_rng(3)
    Wv, V = rng.normal(size=(4, 2)), rng.normal(size=(50, 4))
    want = np.tanh(V @ Wv).sum(axis=1)
    DW = da.from_array(Wv, chunks=(2, 1))                  # the shared input, in 4 chunks
    got = fn(DW, da.from_array(V, chunks=(10, 2)))
    assert_allclose(got.compute(scheduler="sync"), want, rtol=1e-13, atol=1e-15)
    assert_allclose(fn(DW, V).compute(scheduler="sync"), want, rtol=1e-13, atol=1e-15)  # NumPy batch, Dask shared
    _, grads = fn.value_and_grad(DW, da.from_array(V, chunks=(25, 4)))
    gW = grads[0].compute(scheduler="sync")
    sech2 = 1 - np.tanh(V @ Wv) ** 2                       # d/dW_jk = v_j sech^2(v @ W)_k
    assert_allclose(gW, V[:, :, None] * sech2[:, None, :], rtol=1e-12, atol=1e-15)
    shared = cc.compile(cc.sum(cc.tanh(v @ W)), [W, v], wrt=[W], backend="python")
    total, (gW_sum,) = shared.value_and_grad(DW, da.from_array(V, chunks=(10, 2)), reduce="sum")
    assert total == pytest.approx(want.sum(), rel=1e-13)
    assert_allclose(gW_sum, gW.sum(axis=0), rtol=1e-12)


def test_dask_detection_never_reads_a_half_imported_module(monkeypatch):
    """Finding 9: ``_refuse_lazy`` read ``sys.modules["dask.array"].Array`` while a worker thread
    was still importing it (AttributeError on a fresh cluster). A half-imported module, simulated."""
    import sys
    import types
    half = types.ModuleType("dask.array")                  # no ``Array`` yet
    monkeypatch.setitem(sys.modules, "dask.array", half)
    fn = cc.compile(cc.sum(cc.Tensor("v", (2,)) ** 2), [cc.Tensor("v", (2,))], backend="python")
    assert fn(np.array([1.0, 2.0])) == 5.0
    assert_allclose(fn(np.array([[1.0, 2.0], [3.0, 0.0]])), [5.0, 9.0])
    s = cc.compile(x_sym ** 2, [x_sym], backend="python")
    assert_allclose(s([1.0, 3.0]), [1.0, 9.0])


x_sym = cc.Symbol("x")


def test_fresh_cluster_with_from_array_data():
    """Finding 9 on a real fresh cluster (one start): ``da.from_array`` data, first tasks."""
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    fn = cc.compile(cc.sin(x_sym) * x_sym, [x_sym], backend="numba")
    w = cc.Symbol("w")
    shared = cc.compile(cc.sin(w * x_sym), [w, x_sym], wrt=w, backend="numba")
    X = np.linspace(-2, 2, 4_000)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=4,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster):
        got = fn(da.from_array(X, chunks=250)).compute()
        total, g_w = shared.value_and_grad(0.7, da.from_array(X, chunks=100), reduce="sum")
        _, g = fn.value_and_grad(da.from_array(X, chunks=500))
        g = (g[0] if isinstance(g, tuple) else g).compute()
    assert_allclose(got, np.sin(X) * X, rtol=1e-14)
    assert total == pytest.approx(np.sum(np.sin(0.7 * X)), abs=1e-10)
    assert g_w == pytest.approx(np.sum(np.cos(0.7 * X) * X), rel=1e-12)
    assert_allclose(g, np.cos(X) * X + np.sin(X), rtol=1e-13)


# --- finding 10: one batch-shape rule for several outputs ---------------------------------------

def test_batch_axis_first_for_every_result_of_several_outputs():
    """The rule (README, *Several outputs*): every batch result has the batch axis first; several
    outputs are a tuple of per-output arrays ``(n, ...)`` (never one ``(n_out, n)`` array), and
    the Jacobian of scalar outputs is one ``(n, n_out, n_wrt)`` array. Dask results alike."""
    da = pytest.importorskip("dask.array")
    a, b, c = cc.symbols("a b c")
    fn = cc.compile([a * b, cc.sin(c) + a, b * c ** 2], [a, b, c], backend="numba")
    n = 1_000
    rng = np.random.default_rng(5)
    A, B, C = rng.normal(size=(3, n))
    want_values = [A * B, np.sin(C) + A, B * C ** 2]
    want_jac = np.stack([np.stack([B, A, 0 * A], -1), np.stack([1 + 0 * A, 0 * A, np.cos(C)], -1),
                         np.stack([0 * A, C ** 2, 2 * B * C], -1)], 1)            # (n, 3, 3)
    dargs = [da.from_array(v, chunks=300) for v in (A, B, C)]
    for args, done in (((A, B, C), lambda r: r), (dargs, lambda r: r.compute(scheduler="sync"))):
        values, jac = fn.value_and_grad(*args)
        assert isinstance(values, tuple) and len(values) == 3
        for got, want in zip(values, want_values):
            assert_allclose(done(got), want, rtol=1e-13, atol=1e-15)            # each (n,), batch first
        assert jac.shape == (n, 3, 3)
        assert_allclose(done(jac), want_jac, rtol=1e-13, atol=1e-15)
        assert_allclose(done(fn.grad(*args)), want_jac, rtol=1e-13, atol=1e-15)
        assert [done(v).shape for v in fn(*args)] == [(n,)] * 3
        # jvp: (values, tangents), each a tuple of (n,) arrays; tangent = J @ (1, 2, 3)
        tangent = np.array([1.0, 2.0, 3.0])
        values, tangents = fn.jvp(*args, v=tuple(np.full(n, t) for t in tangent))
        for got, want in zip(tangents, (want_jac @ tangent).T):
            assert_allclose(done(got), want, rtol=1e-13, atol=1e-15)
    # the Jacobian's blocks J[i][j]: each (n,), the batch axis first
    blocks = fn.jacobian(A, B, C)
    assert_allclose(np.stack([np.stack(row, -1) for row in blocks], 1), want_jac, rtol=1e-13, atol=1e-15)
    # one scalar output: the gradient tuple and the Hessian (n, k, k), batch first
    total = cc.compile(a * b + cc.sin(c) + a + b * c ** 2, [a, b, c], backend="numba")
    H = total.hessian(A, B, C)
    assert H.shape == (n, 3, 3)
    assert_allclose(H[:, 2, 2], -np.sin(C) + 2 * B, rtol=1e-13, atol=1e-15)
    assert_allclose(H[:, 0, 1], np.ones(n))
    hv = total.hvp(A, B, C, v=(np.ones(n), np.zeros(n), np.zeros(n)))
    assert [h.shape for h in hv] == [(n,)] * 3
    assert_allclose(hv[1], np.ones(n))
    # tensor outputs: each output (n,) + its shape
    v = cc.Tensor("v", (3,))
    tensors = cc.compile([cc.sum(v ** 2), 2 * v], [v], backend="python")
    V = rng.normal(size=(n, 3))
    s, twice = tensors(V)
    assert s.shape == (n,) and twice.shape == (n, 3)
    assert_allclose(s, (V ** 2).sum(1), rtol=1e-13, atol=1e-15)
    assert_allclose(twice, 2 * V)


# --- finding 13: a placeholder that escapes its scan ---------------------------------------------

def test_a_carry_escaping_into_a_sibling_scan_is_a_tracing_error():
    """A carry placeholder of one scan used in a sibling scan silently became that loop's own
    carry (the same name at the same depth): now a TracingError naming it, as JAX raises."""
    a = cc.Symbol("a")
    kept = []

    def first(c, _):
        kept.append(c)
        return c * a, None

    cc.scan(first, 1.0, length=3)
    with pytest.raises(cc.TracingError, match=r"carry of another scan's step"):
        cc.scan(lambda c, _: (c + kept[0], None), 2.0, length=3)
    kept_x = []
    cc.scan(lambda c, x: (kept_x.append(x) or c + x, None), 0.0, xs=cc.Tensor("xs", (3,)))
    with pytest.raises(cc.TracingError, match=r"'<scan1\.\d+ x 0>'"):
        cc.scan(lambda c, x: (c + x * kept_x[0], None), 0.0, xs=cc.Tensor("xs", (3,)))
    kept_i = []
    cc.fori_loop(0, 2, lambda i, c: kept_i.append(i) or c + i, 0.0)
    with pytest.raises(cc.TracingError, match="index"):
        cc.fori_loop(0, 2, lambda i, c: c + kept_i[0], 0.0)


def test_nested_and_identical_loops_still_work():
    """What is legitimate stays so: an inner step reads the outer step's carry (a parameter of
    the inner loop), and two identical loops are one node. Checked against plain Python."""
    a = cc.Symbol("a")

    def outer(c, _):
        inner, _ = cc.scan(lambda d, _: (d * c + a, None), 1.0, length=2)   # reads the outer carry
        return c + inner * 0.1, None

    final, _ = cc.scan(outer, 0.5, length=3)
    fn = cc.compile(final, [a], backend="python")

    def plain(av):
        c = 0.5
        for _ in range(3):
            d = 1.0
            for _ in range(2):
                d = d * c + av
            c = c + d * 0.1
        return c
    assert fn(0.3) == pytest.approx(plain(0.3), rel=1e-14)
    assert fn.grad(0.3)[0] == pytest.approx((plain(0.3 + 1e-6) - plain(0.3 - 1e-6)) / 2e-6, rel=1e-7)
    one, _ = cc.scan(lambda c, _: (c * a, None), 1.0, length=4)
    two, _ = cc.scan(lambda c, _: (c * a, None), 1.0, length=4)
    assert one is two
    idx = cc.fori_loop(0, 4, lambda i, c: c + i * a, 0.0)
    assert cc.compile(idx, [a], backend="python")(2.0) == 12.0


# --- finding 8: loop memory ----------------------------------------------------------------------

def test_a_long_loop_compiles_and_only_its_gradient_is_refused():
    """A scan of 2e8 steps raised ResourceError at compile time, though only its gradient needs
    the history; now the value compiles and the gradient (and hvp, jvp, Hessian) is refused at
    its first call, before anything is allocated."""
    a = cc.Symbol("a")
    final, _ = cc.scan(lambda c, _: (cc.sin(c * a), None), 0.5, length=200_000_000)
    fn = cc.compile(final, [a], backend="python")        # no ResourceError
    assert "for t" in fn.source
    for call in (lambda: fn.grad(0.3), lambda: fn.value_and_grad(0.3), lambda: fn.hessian(0.3),
                 lambda: fn.hvp(0.3, v=(1.0,)), lambda: fn.grad(np.array([0.3, 0.4]))):
        with pytest.raises(cc.ResourceError, match=r"200,000,000 steps.*1\.5 GiB.*stored carries"):
            call()
    short, _ = cc.scan(lambda c, _: (cc.sin(c * a), None), 0.5, length=50)   # the same, short: runs
    c = 0.5
    for _ in range(50):
        c = np.sin(c * 0.3)
    assert cc.compile(short, [a], backend="python")(0.3) == pytest.approx(c, rel=1e-14)


def _loop_forms(T: int):
    a, X, v = cc.Symbol("a"), cc.Tensor("X", (T, 2)), cc.Tensor("v", (3,))
    f, ys = cc.scan(lambda c, _: (c * a + 1.0, c * c), 0.5, length=T)
    yield "sum of ys", cc.sum(ys) + f, [a], [a]
    f, _ = cc.scan(lambda c, _: (cc.sin(c * a), None), 0.5, length=T)
    yield "final carry", f, [a], [a]
    f, ys = cc.scan(lambda c, x: (c * a + x[0] * x[1], cc.sin(c) * x[0]), 0.5, xs=2 * X)
    yield "computed xs", cc.sum(ys) + f, [a, X], [a, X]
    f, ys = cc.scan(lambda c, _: (cc.tanh(c * a), c), v, length=T)
    yield "tensor ys squared", cc.sum(ys ** 2) + cc.sum(f), [a, v], [a]


@pytest.mark.parametrize("form", ["sum of ys", "final carry", "computed xs", "tensor ys squared"])
def test_the_loop_memory_estimate_covers_what_a_gradient_allocates(form, monkeypatch):
    """The estimate counted stored carries only: ``sum(ys)`` and gradients with ys went past the
    limit. Measured with tracemalloc (NumPy code): the peak of a gradient call is within the
    estimate, and the estimate is not far above it; a limit just below it refuses."""
    import tracemalloc
    from compiler.ad.loops import loop_buffers
    T = 20_000
    name, expr, inputs, wrt = next(f for f in _loop_forms(T) if f[0] == form)
    fn = cc.compile(expr, inputs, wrt=wrt, backend="python")
    args = [0.3] + [np.full(n.shape, 0.5) for n in inputs[1:]]
    estimate = sum(b for _, _, b in loop_buffers(fn.plan["value_and_grad"].outputs))
    fn.grad(*args)
    tracemalloc.start()
    try:
        fn.grad(*args)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert estimate >= 8 * T
    assert peak <= estimate + 64 * 1024, (peak, estimate)
    assert peak >= 0.9 * estimate, (peak, estimate)
    monkeypatch.setenv("COMPILER_LOOP_MEMORY", str(estimate - 1))
    again = cc.compile(expr, inputs, wrt=wrt, backend="python")
    again(*args)                                              # the value is never refused
    with pytest.raises(cc.ResourceError, match="20,000 steps"):
        again.grad(*args)
    monkeypatch.setenv("COMPILER_LOOP_MEMORY", str(estimate))
    assert_allclose(cc.compile(expr, inputs, wrt=wrt, backend="python").grad(*args)[0], fn.grad(*args)[0])


def test_loop_gradient_with_ys_against_finite_differences():
    """The gradient of ``sum(ys)`` (the case whose ys the estimate missed) is right (numba)."""
    a = cc.Symbol("a")
    f, ys = cc.scan(lambda c, _: (c * a + 1.0, c * c), 0.5, length=30)
    fn = cc.compile(cc.sum(ys) + f, [a], backend="numba")

    def plain(av):
        c, total = 0.5, 0.0
        for _ in range(30):
            c, y = c * av + 1.0, c * c
            total += y
        return total + c
    assert fn(0.7) == pytest.approx(plain(0.7), rel=1e-14)
    assert fn.grad(0.7)[0] == pytest.approx((plain(0.7 + 1e-6) - plain(0.7 - 1e-6)) / 2e-6, rel=1e-7)
