"""Linear algebra with derivatives (issue 25): every op's value against NumPy/SciPy, its gradient
against central differences of NumPy's function and closed forms, its Hessian-vector product
against central differences of the compiled gradient, on both code dialects (NumPy and Numba);
the nan convention for matrices that cannot be factored; batches; the front-end's spellings."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

import compiler as cc

RNG = np.random.default_rng(25)
H = 1e-6


def _general(shape):
    n = shape[-1]
    return RNG.normal(size=shape) + 2.0 * n ** 0.5 * np.eye(n)  # well conditioned


def _spd(shape):
    m = RNG.normal(size=shape)
    return m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])


def _rectangular(shape):
    return RNG.normal(size=shape)  # full rank (almost surely)


def _separated(shape):
    """Symmetric with eigenvalues 1, 2, ..., n (well separated)."""
    n = shape[-1]
    q, _ = np.linalg.qr(RNG.normal(size=shape))
    return q @ (np.arange(1.0, n + 1) [:, None] * np.swapaxes(q, -1, -2))


def _central(f, x, h=H):
    g = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


# (name, builder of the symbolic result, NumPy/SciPy reference, input maker, right-hand-side shape or None)
def _cases():
    st = scipy.linalg.solve_triangular
    return [
        ("solve", lambda A, B: np.linalg.solve(A, B), lambda a, b: np.linalg.solve(a, b), _general, (3, 2)),
        ("solve_vector", lambda A, b: np.linalg.solve(A, b), lambda a, b: np.linalg.solve(a, b), _general, (3,)),
        ("lstsq_tall", lambda A, B: np.linalg.lstsq(A, B, rcond=None)[0] + np.linalg.lstsq(A, B, rcond=None)[1][0],
         lambda a, b: np.linalg.lstsq(a, b, rcond=None)[0] + np.linalg.lstsq(a, b, rcond=None)[1][0],
         _rectangular, (5, 2), (5, 3)),
        ("lstsq_wide_vector", lambda A, b: np.linalg.lstsq(A, b, rcond=None)[0],
         lambda a, b: np.linalg.lstsq(a, b, rcond=None)[0], _rectangular, (2,), (2, 3)),
        ("inv", lambda A: np.linalg.inv(A), np.linalg.inv, _general, None),
        ("det", lambda A: np.linalg.det(A), np.linalg.det, _general, None),
        ("logabsdet", lambda A: np.linalg.slogdet(A)[1], lambda a: np.linalg.slogdet(a)[1], _general, None),
        ("cholesky", lambda A: np.linalg.cholesky(A), np.linalg.cholesky, _spd, None),
        ("cholesky_upper", lambda A: np.linalg.cholesky(A, upper=True), lambda a: np.linalg.cholesky(a, upper=True),
         _spd, None),
        ("solve_triangular_lower", lambda A, b: cc.linalg.solve_triangular(A, b, lower=True),
         lambda a, b: st(a, b, lower=True), _general, (3, 2)),
        ("solve_triangular_upper_T", lambda A, b: cc.linalg.solve_triangular(A, b, trans="T"),
         lambda a, b: st(a, b, trans="T"), _general, (3,)),
        ("cho_solve", lambda A, b: cc.linalg.cho_solve(cc.linalg.cho_factor(A, lower=True), b),
         lambda a, b: scipy.linalg.cho_solve(scipy.linalg.cho_factor(a, lower=True), b), _spd, (3, 2)),
        ("cho_solve_upper", lambda A, b: cc.linalg.cho_solve(cc.linalg.cho_factor(A), b),
         lambda a, b: scipy.linalg.cho_solve(scipy.linalg.cho_factor(a), b), _spd, (3,)),
        ("eigvalsh", lambda A: np.linalg.eigvalsh(A), np.linalg.eigvalsh, _separated, None),
        # eigenvectors up to sign: a loss that does not see the sign
        ("eigh_vectors", lambda A: np.linalg.eigh(A)[1] ** 2, lambda a: np.linalg.eigh(a)[1] ** 2, _separated, None),
    ]


CASES = _cases()


def _loss(case, n=3, tag=""):
    """sum(W * op(A[, B])) as a compiled-ready expression, and its NumPy twin."""
    name, build, ref, make, rhs = case[:5]
    shape = case[5] if len(case) > 5 else (n, n)
    A = cc.Tensor("A" + tag, shape)
    inputs = [A] + ([cc.Tensor("B" + tag, rhs)] if rhs else [])
    out = build(*inputs)
    W = RNG.normal(size=out.shape)
    expr = cc.sum(out * W) if out.shape else out * 1.5
    numpy_fn = (lambda *xs: float(np.sum(ref(*xs) * W))) if out.shape else (lambda *xs: 1.5 * float(ref(*xs)))
    values = [make(shape)] + ([RNG.normal(size=rhs)] if rhs else [])
    return expr, inputs, numpy_fn, values


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_value_gradient_hvp(case):
    expr, inputs, numpy_fn, values = _loss(case)
    fn = cc.compile(expr, inputs, backend="python")
    assert fn(*values) == pytest.approx(numpy_fn(*values), rel=1e-10, abs=1e-12)
    grads = fn.grad(*values)
    for k, g in enumerate(grads):
        def moved(x, k=k):
            return numpy_fn(*[x if j == k else v for j, v in enumerate(values)])
        np.testing.assert_allclose(g, _central(moved, values[k]), rtol=1e-6, atol=1e-6)
    if True:  # Hessian-vector products (forward over reverse) vs differences of the gradient
        v = tuple(RNG.normal(size=x.shape) for x in values)
        hv = fn.hvp(*values, v=v)
        plus = fn.grad(*[x + H * d for x, d in zip(values, v)])
        minus = fn.grad(*[x - H * d for x, d in zip(values, v)])
        for k in range(len(values)):
            np.testing.assert_allclose(hv[k], (plus[k] - minus[k]) / (2 * H), rtol=1e-5, atol=1e-5)


# the Gaussian-process path (Cholesky, cho_solve, log det) always; every op under -m slow (Numba
# compiles each np.linalg helper: about 40 s for all of them on a loaded 2-core machine)
NUMBA_QUICK = ("cholesky", "cho_solve", "logabsdet")  # (lstsq in Numba: the slow tier)


@pytest.mark.parametrize("names", [NUMBA_QUICK, pytest.param(None, marks=pytest.mark.slow)], ids=["gp", "all"])
def test_numba_agrees_with_numpy_tier(names):
    """The ops in one function (one Numba compile): the Numba dialect's value and gradient against
    NumPy's reference and the differences of NumPy's function."""
    losses = [_loss(case, tag=str(k)) for k, case in enumerate(CASES) if names is None or case[0] in names]
    inputs = [x for loss in losses for x in loss[1]]
    values = [v for loss in losses for v in loss[3]]
    fn = cc.compile(sum(loss[0] for loss in losses), inputs, backend="numba")
    assert fn(*values) == pytest.approx(sum(loss[2](*loss[3]) for loss in losses), rel=1e-10)
    grads, k = fn.grad(*values), 0
    for expr, ins, numpy_fn, vals in losses:
        for j in range(len(vals)):
            def moved(x, j=j, vals=vals, numpy_fn=numpy_fn):
                return numpy_fn(*[x if i == j else v for i, v in enumerate(vals)])
            np.testing.assert_allclose(grads[k], _central(moved, vals[j]), rtol=1e-6, atol=1e-6)
            k += 1
    # a matrix that is not positive definite: nan, not an exception (the quick set's Numba check)
    if names is not None:
        bad = [-v for v in values]  # the SPD matrices negated
        assert np.isnan(fn(*bad)) and np.isnan(np.concatenate([np.ravel(g) for g in fn.grad(*bad)])).any()


def test_closed_forms():
    """d log|det A| / dA = A^-T, d det A / dA = det(A) A^-T; d tr(A^-1) / dA = -A^-T A^-T."""
    a = _general((4, 4))
    A = cc.Tensor("A", (4, 4))
    inv_t = np.linalg.inv(a).T
    np.testing.assert_allclose(cc.compile(np.linalg.slogdet(A)[1], [A], wrt=A, backend="python").grad(a), inv_t,
                               rtol=1e-12)
    np.testing.assert_allclose(cc.compile(np.linalg.det(A), [A], wrt=A, backend="python").grad(a),
                               np.linalg.det(a) * inv_t, rtol=1e-12)
    np.testing.assert_allclose(cc.compile(cc.trace(np.linalg.inv(A)), [A], wrt=A, backend="python").grad(a),
                               -inv_t @ inv_t, rtol=1e-12)


def test_cholesky_of_symmetric_parameters():
    """K(t) symmetric in a parameter: d/dt log det K = tr(K^-1 dK/dt) (the gradient's triangle convention
    does not matter for a symmetric input)."""
    t = cc.Symbol("t")
    base, d = _spd((4, 4)), _spd((4, 4))
    K = base + t * d
    L = np.linalg.cholesky(K)
    logdet = 2 * cc.sum(cc.log(cc.diagonal(L)))
    fn = cc.compile(logdet, [t], wrt=t, backend="python")
    assert fn.grad(0.3) == pytest.approx(np.trace(np.linalg.solve(base + 0.3 * d, d)), rel=1e-10)


@pytest.mark.parametrize("backend", ["python", pytest.param("numba", marks=pytest.mark.slow)])
def test_batches_broadcast(backend):
    a, b = _general((2, 3, 3)), RNG.normal(size=(3, 2))
    A, B = cc.Tensor("A", (2, 3, 3)), cc.Tensor("B", (3, 2))
    w = RNG.normal(size=(2, 3, 2))
    expr = cc.sum(np.linalg.solve(A, B) * w) + cc.sum(np.linalg.slogdet(A)[1]) + cc.sum(np.linalg.det(A))
    fn = cc.compile(expr, [A, B], backend=backend)

    def ref(a, b):
        return (np.sum(np.linalg.solve(a, np.broadcast_to(b, (2, 3, 2))) * w) + np.sum(np.linalg.slogdet(a)[1])
                + np.sum(np.linalg.det(a)))
    assert fn(a, b) == pytest.approx(ref(a, b), rel=1e-12)
    ga, gb = fn.grad(a, b)
    np.testing.assert_allclose(ga, _central(lambda x: ref(x, b), a), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(gb, _central(lambda x: ref(a, x), b), rtol=1e-6, atol=1e-6)
    s = _spd((2, 3, 3))
    S = cc.Tensor("S", (2, 3, 3))
    chol = cc.compile(cc.sum(np.linalg.cholesky(S) * w[..., :1]) + cc.sum(np.linalg.eigvalsh(S) ** 2), [S],
                      backend=backend)
    ref2 = (lambda x: np.sum(np.linalg.cholesky(x) * w[..., :1]) + np.sum(np.linalg.eigvalsh(x) ** 2))
    assert chol(s) == pytest.approx(ref2(s), rel=1e-12)
    np.testing.assert_allclose(chol.grad(s)[0], _central(ref2, s), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend", ["python", pytest.param("numba", marks=pytest.mark.slow)])
def test_matrices_that_cannot_be_factored_give_nan(backend):
    """JAX's convention: nan for the failing matrix of a batch, the others computed."""
    A = cc.Tensor("A", (2, 3, 3))
    b = cc.Tensor("b", (3, 1))
    outputs = [np.linalg.cholesky(A), np.linalg.solve(A, b), np.linalg.inv(A),
               cc.linalg.solve_triangular(A, b, lower=True)]
    good, bad = _spd((3, 3)), np.diag([1.0, 0.0, -1.0])  # singular and not positive definite
    a = np.stack([good, bad])
    results = cc.compile(outputs, [A, b], backend=backend)(a, np.ones((3, 1)))  # one compile
    refs = [np.linalg.cholesky, lambda x: np.linalg.solve(x, np.ones((3, 1))), np.linalg.inv,
            lambda x: scipy.linalg.solve_triangular(x, np.ones((3, 1)), lower=True)]
    for one, ref in zip(results, refs):
        np.testing.assert_allclose(one[0], ref(good), rtol=1e-12)
        assert np.isnan(one[1]).all()


def test_shape_and_argument_errors():
    with pytest.raises(cc.ShapeError, match="square"):
        np.linalg.inv(cc.Tensor("A", (2, 3)))
    with pytest.raises(cc.ShapeError, match="right-hand side"):
        np.linalg.solve(cc.Tensor("A", (3, 3)), cc.Tensor("b", (4,)))
    with pytest.raises(ValueError, match="trans"):
        cc.linalg.solve_triangular(cc.Tensor("A", (3, 3)), cc.Tensor("b", (3,)), trans=5)
    with pytest.raises(TypeError, match="cho_factor"):
        cc.linalg.cho_solve(cc.Tensor("A", (3, 3)), cc.Tensor("b", (3,)))
    with pytest.raises(cc.UnsupportedFunctionError, match="cholesky"):
        np.linalg.svd(cc.Tensor("A", (3, 3)))


def test_dense_sparsity():
    """A solve makes every output depend on every input element (conservative)."""
    A, b = cc.Tensor("A", (3, 3)), cc.Tensor("b", (3,))
    fn = cc.compile([np.linalg.solve(A, b)], [A, b], backend="python")
    pattern = fn.jacobian_sparsity()
    dense = np.asarray(pattern.toarray() if hasattr(pattern, "toarray") else pattern)
    assert dense.shape == (3, 12) and dense.all()


def test_every_linalg_op_is_tested():
    from compiler.ir import linalg_ops, topo_order
    seen = set()
    for case in CASES:
        expr, inputs, _, _ = _loss(case)
        fn = cc.compile(expr, inputs, backend="python")
        seen |= {n.op for n in topo_order([expr] + list(fn._jac[0]))}
    assert {op.name for op in linalg_ops.LINALG_OPS} - seen == {"slogdet_sign"}  # its own test below


def test_slogdet_sign_and_forward_mode():
    """slogdet's sign against NumPy; jvp (forward mode, from the vjp rules) against central differences."""
    A = cc.Tensor("A", (2, 3, 3))
    a = _general((2, 3, 3))
    a[1] = -a[1]  # a negative determinant
    sign, logabs = np.linalg.slogdet(A)
    fn = cc.compile([sign, logabs, np.linalg.inv(A), np.linalg.cholesky(A @ np.swapaxes(A, -1, -2))], [A],
                    wrt=A, backend="python")
    ref = (lambda x: [*np.linalg.slogdet(x), np.linalg.inv(x), np.linalg.cholesky(x @ np.swapaxes(x, -1, -2))])
    for got, want in zip(fn(a), ref(a)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    v = RNG.normal(size=a.shape)
    values, tangents = fn.jvp(a, v=v)
    for got, plus, minus in zip(tangents, ref(a + H * v), ref(a - H * v)):
        np.testing.assert_allclose(got, (plus - minus) / (2 * H), rtol=1e-6, atol=1e-6)


def test_a_batch_of_points_with_a_bad_point():
    """A batch of points (a leading axis on the inputs) with one matrix that is not positive definite:
    nan there, the other points' values and gradients computed."""
    S = cc.Tensor("S", (3, 3))
    fn = cc.compile(cc.sum(cc.log(cc.diagonal(np.linalg.cholesky(S)))), [S], wrt=S, backend="python")
    good = _spd((3, 3))
    points = np.stack([good, -good, good])
    values, grads = fn.value_and_grad(points)
    assert np.isnan(values[1]) and np.isnan(grads[1][np.tril_indices(3)]).all()  # the upper triangle is not read
    want = 0.5 * np.linalg.slogdet(good)[1]
    np.testing.assert_allclose(values[[0, 2]], [want, want], rtol=1e-12)
    np.testing.assert_allclose(grads[0], np.tril(np.linalg.inv(good)) - 0.5 * np.diag(np.diag(np.linalg.inv(good))),
                               rtol=1e-10)


def test_linalg_bench_suite_measures_the_right_loss():
    """The bench's GP loss (NumPy code, n = 30) against a NumPy formula and central differences;
    JAX's version of it agrees when JAX is installed."""
    from compiler.bench import SUITES, gp
    assert SUITES["linalg"].steps(True) == 2
    r = gp.measure('compiler, backend="python" (NumPy)', 30, quick=True)
    x, y = gp.data(30)

    def nlml(t):
        ell, sf, sn = np.exp(t)
        K = sf ** 2 * np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / ell ** 2) + sn ** 2 * np.eye(30)
        return 0.5 * y @ np.linalg.solve(K, y) + 0.5 * np.linalg.slogdet(K)[1] + 15 * np.log(2 * np.pi)
    assert r["value"] == pytest.approx(nlml(gp.THETA), rel=1e-12)
    np.testing.assert_allclose(r["grad"], _central(nlml, gp.THETA.copy()), rtol=1e-6)
    if _has("jax"):
        j = gp.measure("jax.jit(value_and_grad)", 30, quick=True)
        np.testing.assert_allclose(j["grad"] + [j["value"]], r["grad"] + [r["value"]], rtol=1e-10)


def _has(name):
    import importlib.util
    return importlib.util.find_spec(name) is not None


JAX_CASES = {  # name -> (our builder, JAX's function, input maker, right-hand-side shape)
    "solve": (lambda A, B: np.linalg.solve(A, B), lambda jnp, a, b: jnp.linalg.solve(a, b), _general, (4, 2)),
    "inv": (lambda A: np.linalg.inv(A), lambda jnp, a: jnp.linalg.inv(a), _general, None),
    "det": (lambda A: np.linalg.det(A), lambda jnp, a: jnp.linalg.det(a), _general, None),
    "slogdet": (lambda A: np.linalg.slogdet(A)[1], lambda jnp, a: jnp.linalg.slogdet(a)[1], _general, None),
    "cho_solve": (lambda A, B: cc.linalg.cho_solve(cc.linalg.cho_factor(A, lower=True), B),
                  lambda jnp, a, b: __import__("jax").scipy.linalg.cho_solve((jnp.linalg.cholesky(a), True), b),
                  _spd, (4, 2)),
    "eigvalsh": (lambda A: np.linalg.eigvalsh(A), lambda jnp, a: jnp.linalg.eigvalsh(a), _separated, None),
}


@pytest.mark.parametrize("name", sorted(JAX_CASES))
def test_against_jax(name):
    """Value, gradient and Hessian-vector product against JAX float64, a batch of 2 matrices of 4 x 4
    (symmetric inputs for cho_solve and eigvalsh: there JAX's symmetrised gradient and ours give the
    same directional derivatives along symmetric directions)."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    build, jax_fn, make, rhs = JAX_CASES[name]
    A = cc.Tensor("A", (2, 4, 4))
    inputs = [A] + ([cc.Tensor("B", rhs)] if rhs else [])
    out = build(*inputs)
    W = RNG.normal(size=out.shape)
    fn = cc.compile(cc.sum(out * W), inputs, backend="python")
    values = [make((2, 4, 4))] + ([RNG.normal(size=rhs)] if rhs else [])

    def loss(*xs):
        return jnp.sum(jax_fn(jnp, *xs) * W)
    assert fn(*values) == pytest.approx(float(loss(*values)), rel=1e-10)
    v = [RNG.normal(size=x.shape) for x in values]
    if make is not _general:  # symmetric directions
        v[0] = v[0] + np.swapaxes(v[0], -1, -2)
    ours = fn.grad(*values)
    theirs = jax.grad(loss, argnums=tuple(range(len(values))))(*values)
    # the derivative along v (symmetric inputs: the gradients differ, these do not)
    assert sum(np.sum(g * d) for g, d in zip(ours, v)) == pytest.approx(
        sum(float(jnp.sum(g * d)) for g, d in zip(theirs, v)), rel=1e-8)
    hv = fn.hvp(*values, v=tuple(v))
    _, jhv = jax.jvp(jax.grad(loss, argnums=tuple(range(len(values)))), tuple(values), tuple(v))
    w = [RNG.normal(size=x.shape) for x in values]
    if make is not _general:
        w[0] = w[0] + np.swapaxes(w[0], -1, -2)
    assert sum(np.sum(h * d) for h, d in zip(hv, w)) == pytest.approx(
        sum(float(jnp.sum(h * d)) for h, d in zip(jhv, w)), rel=1e-7)


def test_numba_triangular_solve_every_case():
    """The Numba dialect's solve_triangular (BLAS dtrsm by address, column-major views of C arrays):
    lower and upper, plain and transposed, a vector, one column and several, a batch with a zero on
    one matrix's diagonal (nan for that matrix only), in one compile, against SciPy."""
    A, A1 = cc.Tensor("A", (2, 4, 4)), cc.Tensor("A1", (4, 4))
    bv, b1, bm = cc.Tensor("bv", (4,)), cc.Tensor("b1", (4, 1)), cc.Tensor("bm", (4, 5))
    cases = [(lower, trans, b) for lower in (True, False) for trans in ("N", "T") for b in (bv, b1, bm)]
    outputs = [cc.linalg.solve_triangular(A1, b, lower=lower, trans=trans) if b is bv else
               cc.linalg.solve_triangular(A, cc.broadcast_to(b, (2,) + b.shape), lower=lower, trans=trans)
               for lower, trans, b in cases]
    fn = cc.compile(outputs, [A, A1, bv, b1, bm], backend="numba")
    a = _general((2, 4, 4))
    a[1, 2, 2] = 0.0  # the second matrix cannot be solved with, whichever triangle is read
    values = {bv: RNG.normal(size=4), b1: RNG.normal(size=(4, 1)), bm: RNG.normal(size=(4, 5))}
    results = fn(a, a[0], *values.values())
    for (lower, trans, b), out in zip(cases, results):
        expected = scipy.linalg.solve_triangular(a[0], values[b], lower=lower, trans=trans)
        if b is bv:
            np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)
            continue
        np.testing.assert_allclose(out[0], expected, rtol=1e-12, atol=1e-14)
        assert np.isnan(out[1]).all()


@pytest.mark.parametrize("backend", ["python", pytest.param("numba", marks=pytest.mark.slow)])
def test_lstsq_batches_and_rank_deficiency(backend):
    """A batch of tall and of wide matrices against NumPy's lstsq matrix by matrix (NumPy's takes one),
    values and gradients; a rank-deficient matrix in the batch: the least-norm value, as NumPy's."""
    A, B = cc.Tensor("A", (3, 6, 4)), cc.Tensor("B", (6, 2))
    W, Z = cc.Tensor("W", (2, 3, 5)), cc.Tensor("Z", (3, 2))
    tall, res = np.linalg.lstsq(A, B, rcond=None)[:2]
    wide = np.linalg.lstsq(W, Z, rcond=None)[0]
    fn = cc.compile([tall, res, wide], [A, B, W, Z], backend=backend)
    a, b, w, z = RNG.normal(size=(3, 6, 4)), RNG.normal(size=(6, 2)), RNG.normal(size=(2, 3, 5)), RNG.normal(size=(3, 2))
    a[2, :, 3] = a[2, :, 0]  # the third matrix is rank-deficient
    x, r, y = fn(a, b, w, z)
    for i in range(3):
        expected, residuals = np.linalg.lstsq(a[i], b, rcond=None)[:2]
        np.testing.assert_allclose(x[i], expected, rtol=1e-9, atol=1e-12)
        if i < 2:  # (NumPy gives no residuals for a rank-deficient matrix)
            np.testing.assert_allclose(r[i], residuals, rtol=1e-9)
    for i in range(2):
        np.testing.assert_allclose(y[i], np.linalg.lstsq(w[i], z, rcond=None)[0], rtol=1e-9, atol=1e-12)
    # the derivative of the full-rank ones against central differences (the rank-deficient one has none)
    loss = cc.compile(cc.sum(tall[:2] * W[0, 0, :4, None]) + cc.sum(res[:2]), [A, B, W], backend=backend)
    weights = w[0, 0, :4, None]

    def ref(a2):
        return sum(np.sum(np.linalg.lstsq(m, b, rcond=None)[0] * weights) + np.sum(np.linalg.lstsq(m, b, rcond=None)[1])
                   for m in a2)
    np.testing.assert_allclose(loss.grad(a, b, w)[0][:2], _central(ref, a[:2]), rtol=1e-6, atol=1e-6)


def test_lstsq_refusals():
    with pytest.raises(ValueError, match="rcond=None"):
        np.linalg.lstsq(cc.Tensor("A", (4, 2)), cc.Tensor("b", (4,)), rcond=1e-3)
    with pytest.raises(cc.ShapeError, match=r"\(\.\.\., 4, k\)"):
        np.linalg.lstsq(cc.Tensor("A", (4, 2)), cc.Tensor("b", (3, 1)), rcond=None)
