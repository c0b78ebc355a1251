"""Optimisation: ``fn.scipy`` (SciPy's flat-vector view of a compiled function) and ``cc.nlp``
(nonlinear programs for IPOPT), against independent oracles: SciPy's Rosenbrock functions,
closed forms, finite differences, SymPy's exact derivatives, the published HS071 optimum and
CasADi's own IPOPT run. The python backend throughout, and one numba check of each.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import sparse
from scipy.optimize import (
    least_squares,
    minimize,
    rosen,
    rosen_der,
    rosen_hess,
    rosen_hess_prod,
)

import compiler as cc

RNG = np.random.default_rng(20240611)
ROSEN_X0 = np.array([1.3, 0.7, 0.8, 1.9, 1.2])  # SciPy's tutorial start


def _fd_gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of a function of a flat vector (scalar or vector valued): ``(m, n)`` or ``(n,)``."""
    columns = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = h
        columns.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h))
    return np.array(columns).T


def _rosenbrock(n: int, backend: str = "python"):
    x = cc.Tensor("x", (n,))
    f = cc.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    return cc.compile(f, [x], wrt=[x], backend=backend)


# --- fn.scipy: a scalar objective -------------------------------------------------------------

@pytest.mark.parametrize("sparse_hess", [False, True])
def test_rosenbrock_matches_scipy_oracle(sparse_hess):
    n = 7
    a = _rosenbrock(n).scipy(sparse=sparse_hess)
    assert a.n == n and a.scalar
    for _ in range(3):
        x, p = RNG.normal(size=n) * 1.5, RNG.normal(size=n)
        assert a.fun(x) == pytest.approx(rosen(x), rel=1e-13)
        assert isinstance(a.fun(x), float)
        assert_allclose(a.jac(x), rosen_der(x), rtol=1e-12, atol=1e-10)
        hess = a.hess(x)
        if sparse_hess:
            assert sparse.issparse(hess) and hess.format == "csr"
            assert hess.nnz == 3 * n - 2  # tridiagonal
            hess = hess.toarray()
        else:
            assert isinstance(hess, np.ndarray)
        assert_allclose(hess, rosen_hess(x), rtol=1e-12, atol=1e-10)
        assert_allclose(a.hessp(x, p), rosen_hess_prod(x, p), rtol=1e-12, atol=1e-10)
    pattern = a.jac_sparsity
    assert pattern.shape == (1, n) and pattern.nnz == n


@pytest.mark.parametrize("method, second", [
    ("BFGS", None), ("Newton-CG", "hessp"), ("Newton-CG", "hess"), ("trust-exact", "hess"),
    ("trust-krylov", "hessp"), ("trust-krylov", "hess"), ("trust-constr", "sparse hess"),
    ("trust-constr", "hessp")])
def test_rosenbrock_minimize(method, second):
    fn = _rosenbrock(5)
    dense, sparse_ = fn.scipy(), fn.scipy(sparse=True)
    extra = {None: {}, "hessp": {"hessp": dense.hessp}, "hess": {"hess": dense.hess},
             "sparse hess": {"hess": sparse_.hess}}[second]
    res = minimize(dense.fun, ROSEN_X0, jac=dense.jac, method=method, tol=1e-10, **extra)
    assert res.success, res.message
    assert_allclose(res.x, np.ones(5), atol=1e-6)
    assert res.fun < 1e-12


def test_rosenbrock_numba_trust_constr():
    a = _rosenbrock(6, backend="numba").scipy(sparse=True)
    x = RNG.normal(size=6)
    assert_allclose(a.hess(x).toarray(), rosen_hess(x), rtol=1e-12, atol=1e-10)
    res = minimize(a.fun, np.zeros(6), jac=a.jac, hess=a.hess, method="trust-constr")
    assert res.success
    assert_allclose(res.x, np.ones(6), atol=1e-6)


# --- fn.scipy: several wrt inputs of mixed shapes, and data ----------------------------------

D_DATA, C_DATA = np.array([0.5, -1.0, 2.0]), 0.75


def _mixed():
    """wrt = [W (2, 3), s] while the inputs are (d, s, c, W): x = [W in C order, s]."""
    d, s, c, W = cc.Tensor("d", (3,)), cc.Symbol("s"), cc.Symbol("c"), cc.Tensor("W", (2, 3))
    f = cc.sum(cc.sin(W) * d) * s ** 2 + c * cc.sum(W[0] * W[1] ** 2) * s + cc.exp(W[1, 2] * s)
    return cc.compile(f, [d, s, c, W], wrt=[W, s], backend="python")


def _mixed_numpy(x):
    W, s = x[:6].reshape(2, 3), x[6]
    return (np.sum(np.sin(W) * D_DATA) * s ** 2 + C_DATA * np.sum(W[0] * W[1] ** 2) * s
            + np.exp(W[1, 2] * s))


def test_mixed_layout_x0_unflatten():
    a = _mixed().scipy(D_DATA, C_DATA)
    assert a.n == 7 and a.layout.names == ["W", "s"]
    W = np.arange(6.0).reshape(2, 3)
    assert_allclose(a.x0(W, 2.5), [0, 1, 2, 3, 4, 5, 2.5])       # wrt order, C order
    assert_allclose(a.x0(1.5, -1.0), [1.5] * 6 + [-1.0])          # a scalar fills W
    x = RNG.normal(size=7)
    named = a.unflatten(x)
    assert set(named) == {"W", "s"} and named["W"].shape == (2, 3) and isinstance(named["s"], float)
    assert_allclose(named["W"], x[:6].reshape(2, 3))
    assert named["s"] == x[6]
    assert_allclose(a.x0(named["W"], named["s"]), x)              # round trip
    # the value at x reads W in C order and s last (a non-symmetric W tells orders apart)
    assert a.fun(x) == pytest.approx(_mixed_numpy(x), rel=1e-13)


def test_mixed_derivatives_vs_finite_differences():
    a = _mixed().scipy(D_DATA, C_DATA)
    x = RNG.normal(size=7) * 0.7
    grad = a.jac(x)
    assert grad.shape == (7,)
    assert_allclose(grad, _fd_gradient(_mixed_numpy, x), rtol=1e-7, atol=1e-8)
    hess = a.hess(x)
    fd_hess = _fd_gradient(lambda z: _fd_gradient(_mixed_numpy, z, 1e-4), x, 1e-4)
    assert_allclose(hess, hess.T, atol=1e-12)
    assert_allclose(hess, fd_hess, rtol=1e-4, atol=1e-5)
    p = RNG.normal(size=7)
    assert_allclose(a.hessp(x, p), fd_hess @ p, rtol=1e-4, atol=1e-5)


# --- fn.scipy: residual vectors for least_squares --------------------------------------------

TRUE_ABC = np.array([2.5, 1.3, 0.5])


def _decay(m: int = 40, noise: float = 0.0):
    a, b, c = cc.Symbol("a"), cc.Symbol("b"), cc.Symbol("c")
    t, y = cc.Tensor("t", (m,)), cc.Tensor("y", (m,))
    fn = cc.compile(a * cc.exp(-b * t) + c - y, [a, b, c, t, y], wrt=[a, b, c], backend="python")
    t_data = np.linspace(0.0, 4.0, m)
    y_data = TRUE_ABC[0] * np.exp(-TRUE_ABC[1] * t_data) + TRUE_ABC[2] + noise * RNG.normal(size=m)
    return fn, t_data, y_data


def test_residual_fun_and_jac_vs_analytic():
    fn, t, y = _decay(noise=0.05)
    ad, ads = fn.scipy(t, y), fn.scipy(t, y, sparse=True)
    assert not ad.scalar and ad.n == 3
    for _ in range(3):
        a, b, c = RNG.uniform(0.5, 2.0, size=3)
        x = np.array([a, b, c])
        assert_allclose(ad.fun(x), a * np.exp(-b * t) + c - y, rtol=1e-13, atol=1e-14)
        expected = np.column_stack([np.exp(-b * t), -a * t * np.exp(-b * t), np.ones_like(t)])
        assert_allclose(ad.jac(x), expected, rtol=1e-12, atol=1e-14)
        assert sparse.issparse(ads.jac(x))
        assert_allclose(ads.jac(x).toarray(), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("how", ["dense jac", "sparse jac", "jac_sparsity"])
def test_least_squares_recovers_parameters(how):
    fn, t, y = _decay()
    ad = fn.scipy(t, y, sparse=(how == "sparse jac"))
    x0 = ad.x0(1.0, 1.0, 0.0)
    if how == "jac_sparsity":
        assert ad.jac_sparsity.shape == (40, 3)
        res = least_squares(ad.fun, x0, jac_sparsity=ad.jac_sparsity, method="trf")
    else:
        res = least_squares(ad.fun, x0, jac=ad.jac, method="trf")
    assert res.success
    assert_allclose(res.x, TRUE_ABC, rtol=1e-6)
    named = ad.unflatten(res.x)
    assert named["b"] == pytest.approx(TRUE_ABC[1], rel=1e-6)


def test_residual_matrix_sparsity_pattern():
    """K decays fitted at once, residuals (K, M): row (g, i) depends on A[g] and k[g] only."""
    K, M = 3, 12
    A, k = cc.Tensor("A", (K,)), cc.Tensor("k", (K,))
    t, y = cc.Tensor("t", (M,)), cc.Tensor("y", (K, M))
    fn = cc.compile(A[:, None] * cc.exp(-k[:, None] * t) - y, [A, k, t, y], wrt=[A, k], backend="python")
    A_true, k_true, t_data = np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.0, 2.0]), np.linspace(0, 3, M)
    y_data = A_true[:, None] * np.exp(-k_true[:, None] * t_data)
    ad = fn.scipy(t_data, y_data, sparse=True)
    expected = np.zeros((K * M, 2 * K), bool)
    for g in range(K):
        expected[g * M:(g + 1) * M, [g, K + g]] = True
    assert_allclose(ad.jac_sparsity.toarray(), expected)
    x = ad.x0(1.0, 1.0)
    assert ad.fun(x).shape == (K * M,)
    assert_allclose(ad.fun(x), (np.exp(-t_data)[None, :] - y_data).ravel(), rtol=1e-13)  # C order
    res = least_squares(ad.fun, x, jac=ad.jac, method="trf")
    assert_allclose(ad.unflatten(res.x)["A"], A_true, rtol=1e-6)
    assert_allclose(ad.unflatten(res.x)["k"], k_true, rtol=1e-6)


def test_list_of_outputs_is_one_residual_vector():
    a, b = cc.Symbol("a"), cc.Symbol("b")
    t = cc.Tensor("t", (4,))
    fn = cc.compile([a * t - 1.0, a * b ** 2], [a, b, t], wrt=[a, b], backend="python")
    t_data = np.array([1.0, 2.0, 3.0, 4.0])
    ad = fn.scipy(t_data)
    x = np.array([0.5, 3.0])
    assert_allclose(ad.fun(x), np.r_[0.5 * t_data - 1.0, 0.5 * 9.0])
    expected = np.zeros((5, 2))
    expected[:4, 0] = t_data
    expected[4] = [9.0, 2 * 0.5 * 3.0]
    assert_allclose(ad.jac(x), expected)


def test_one_element_list_of_residuals():
    a = cc.Symbol("a")
    t = cc.Tensor("t", (3,))
    fn = cc.compile([a * t - 1.0], [a, t], wrt=[a], backend="python")
    ad = fn.scipy(np.array([1.0, 2.0, 3.0]))
    assert_allclose(ad.fun(np.array([2.0])), [1.0, 3.0, 5.0])


# --- fn.scipy: bad input ----------------------------------------------------------------------

def test_scipy_bad_input():
    fn = _mixed()
    with pytest.raises(cc.ArgumentError, match="expected 2"):
        fn.scipy(D_DATA)
    with pytest.raises(cc.ArgumentError):
        fn.scipy(D_DATA, C_DATA, 1.0)
    with pytest.raises(cc.ShapeError, match="'d'"):
        fn.scipy(np.zeros(4), C_DATA)
    with pytest.raises(cc.ShapeError, match="'c'"):
        fn.scipy(D_DATA, np.zeros(2))
    a = fn.scipy(D_DATA, C_DATA)
    for bad in (np.zeros(6), np.zeros(8), np.zeros((7, 1))):
        with pytest.raises(cc.ShapeError, match=r"\b7 entries"):
            a.fun(bad)
        with pytest.raises(cc.ShapeError, match=r"\b7 entries"):
            a.jac(bad)
    with pytest.raises(cc.ShapeError, match=r"\bp\b"):
        a.hessp(np.zeros(7), np.zeros(3))
    with pytest.raises(cc.ArgumentError, match="expected 2"):
        a.x0(1.0)
    with pytest.raises(cc.ArgumentError):
        a.x0(1.0, 2.0, 3.0)
    with pytest.raises(cc.ShapeError, match="'W'"):
        a.x0(np.zeros(3), 1.0)
    residual, t, y = _decay()
    r = residual.scipy(t, y)
    with pytest.raises(cc.ShapeError, match="scalar"):
        r.hess(np.ones(3))


# --- cc.nlp: the callbacks against SymPy and finite differences ------------------------------

P_VALUE = np.array([0.7, -1.2])


def _small_nlp():
    """Variables a (scalar) and B (2, 2), a parameter p (2,); constraints of shapes (2, 2), (), ()."""
    a, B, p = cc.Symbol("a"), cc.Tensor("B", (2, 2)), cc.Tensor("p", (2,))
    f = a ** 2 * cc.sum(B * p) + cc.exp(B[0, 1] * a) + cc.sum(B ** 4) / 4
    g = [cc.sin(B) * a + B[:, ::-1] ** 3, cc.sum(B) * a ** 3, B[0, 0] * B[1, 1] - B[0, 1] * B[1, 0]]
    return cc.nlp(f, [a, B], g=g, params=[p], backend="python")


def _small_sympy(sigma, lam):
    """The same problem in SymPy (flat x = [a, B00, B01, B10, B11]): value, gradient and Hessian
    functions of f, g and the Lagrangian, exact."""
    sp = pytest.importorskip("sympy")
    xs = sp.symbols("a b00 b01 b10 b11")
    a, B = xs[0], [[xs[1], xs[2]], [xs[3], xs[4]]]
    f = (a ** 2 * sum(B[i][j] * P_VALUE[j] for i in range(2) for j in range(2)) + sp.exp(B[0][1] * a)
         + sum(B[i][j] ** 4 for i in range(2) for j in range(2)) / 4)
    g = [sp.sin(B[i][j]) * a + B[i][1 - j] ** 3 for i in range(2) for j in range(2)]
    g += [sum(B[i][j] for i in range(2) for j in range(2)) * a ** 3, B[0][0] * B[1][1] - B[0][1] * B[1][0]]
    lagrangian = sigma * f + sum(l_ * gi for l_, gi in zip(lam, g))
    lam_f = {name: sp.lambdify([xs], expr, "numpy") for name, expr in [
        ("f", f), ("grad", [sp.diff(f, v) for v in xs]), ("g", g),
        ("jac", sp.Matrix(g).jacobian(xs)), ("hess", sp.hessian(lagrangian, xs))]}
    return {k: _as_array(v) for k, v in lam_f.items()}


def _as_array(fun):
    return lambda x: np.array(fun(x), dtype=float)


def _scatter(rows, cols, values, shape) -> np.ndarray:
    dense = np.zeros(shape)
    np.add.at(dense, (rows, cols), values)
    return dense


def test_nlp_callbacks_vs_oracles():
    problem = _small_nlp()
    assert (problem.n, problem.m) == (5, 6)
    sigma, lam = 0.7, RNG.normal(size=6)
    ref = _small_sympy(sigma, lam)
    cb = problem.ipopt_callbacks(P_VALUE)
    rows, cols = cb.jacobianstructure()
    assert len(set(zip(rows.tolist(), cols.tolist()))) == len(rows)  # no duplicates
    hrows, hcols = cb.hessianstructure()
    assert np.all(hrows >= hcols)
    assert len(set(zip(hrows.tolist(), hcols.tolist()))) == len(hrows)
    for _ in range(3):
        x = RNG.normal(size=5) * 0.8
        assert cb.objective(x) == pytest.approx(float(ref["f"](x)), rel=1e-13)
        assert_allclose(cb.gradient(x), ref["grad"](x), rtol=1e-12, atol=1e-12)
        assert_allclose(cb.constraints(x), ref["g"](x), rtol=1e-13, atol=1e-14)
        jac = _scatter(rows, cols, cb.jacobian(x), (6, 5))
        assert_allclose(jac, _fd_gradient(cb.constraints, x), rtol=1e-7, atol=1e-8)
        assert_allclose(jac, ref["jac"](x), rtol=1e-12, atol=1e-12)
        lower = _scatter(hrows, hcols, cb.hessian(x, lam, sigma), (5, 5))
        assert np.all(np.triu(lower, 1) == 0)
        hess = lower + np.tril(lower, -1).T
        assert_allclose(hess, ref["hess"](x), rtol=1e-11, atol=1e-11)
        fd = _fd_gradient(lambda z: sigma * ref["grad"](z) + lam @ ref["jac"](z), x, 1e-5)
        assert_allclose(hess, fd, rtol=1e-6, atol=1e-6)
    assert cb.nonfinite == []


# --- cc.nlp: HS071 ----------------------------------------------------------------------------

HS071_X = np.array([1.0, 4.74299963, 3.82114998, 1.37940829])
HS071_F = 17.0140173


def _hs071(backend: str = "python"):
    x = cc.Tensor("x", (4,))
    f = x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2]
    return cc.nlp(f, x, g=[x[0] * x[1] * x[2] * x[3], cc.sum(x ** 2)], backend=backend)


HS071_BOUNDS = {"lb": 1.0, "ub": 5.0, "cl": [25.0, 40.0], "cu": [np.inf, 40.0]}


def _hs071_kkt(x, mult_g, z_lower, z_upper) -> np.ndarray:
    """IPOPT's stationarity, by hand: grad f + J^T lambda - z_L + z_U."""
    x1, x2, x3, x4 = x
    grad = np.array([x4 * (2 * x1 + x2 + x3), x1 * x4, x1 * x4 + 1, x1 * (x1 + x2 + x3)])
    jac = np.array([[x2 * x3 * x4, x1 * x3 * x4, x1 * x2 * x4, x1 * x2 * x3], 2 * x])
    return grad + jac.T @ mult_g - z_lower + z_upper


def test_hs071_solve():
    problem = _hs071()
    lower = {(i, j) for i in range(4) for j in range(i + 1)}
    assert set(zip(*(a.tolist() for a in problem.hessian_structure()))) == lower
    assert set(zip(*(a.tolist() for a in problem.jacobian_structure()))) == {
        (i, j) for i in range(2) for j in range(4)}
    res = problem.solve([1.0, 5.0, 5.0, 1.0], **HS071_BOUNDS)
    assert res.status == 0 and res.success and isinstance(res.message, str)
    assert res.fun == pytest.approx(HS071_F, rel=1e-7)
    assert_allclose(res.x, HS071_X, atol=1e-6)
    x1, x2, x3, x4 = res.x
    assert_allclose(res.g, [x1 * x2 * x3 * x4, np.sum(res.x ** 2)], rtol=1e-12)
    assert_allclose(res.g, [25.0, 40.0], rtol=1e-7)
    assert np.max(np.abs(_hs071_kkt(res.x, res.mult_g, res.mult_x_L, res.mult_x_U))) < 1e-6
    assert_allclose(res.unflatten()["x"], res.x)
    assert 0 < res.iterations < 30
    assert set(res.callback_seconds) >= {"objective", "gradient", "constraints", "jacobian", "hessian"}
    assert all(v >= 0 for v in res.callback_seconds.values())
    assert res.steady_callback_seconds >= 0 and res.nonfinite == []


def test_hs071_with_cyipopt_problem():
    cyipopt = pytest.importorskip("cyipopt")
    problem = _hs071()
    solver = cyipopt.Problem(n=problem.n, m=problem.m, problem_obj=problem.ipopt_callbacks(),
                             lb=[1.0] * 4, ub=[5.0] * 4, cl=[25.0, 40.0], cu=[2e19, 40.0])
    solver.add_option("print_level", 0)
    solver.add_option("sb", "yes")
    x, info = solver.solve(np.array([1.0, 5.0, 5.0, 1.0]))
    assert info["status"] == 0
    assert info["obj_val"] == pytest.approx(HS071_F, rel=1e-7)
    assert_allclose(x, HS071_X, atol=1e-6)


def test_hs071_limited_memory():
    pytest.importorskip("cyipopt")
    res = _hs071().solve([1.0, 5.0, 5.0, 1.0], **HS071_BOUNDS,
                         options={"hessian_approximation": "limited-memory"})
    assert res.success
    assert res.fun == pytest.approx(HS071_F, rel=1e-7)
    assert_allclose(res.x, HS071_X, atol=1e-5)
    assert "hessian" not in res.callback_calls  # quasi-Newton: the Hessian is never asked for


def test_hs071_numba():
    pytest.importorskip("cyipopt")
    res = _hs071(backend="numba").solve([1.0, 5.0, 5.0, 1.0], **HS071_BOUNDS)
    assert res.status == 0
    assert res.fun == pytest.approx(HS071_F, rel=1e-7)
    assert_allclose(res.x, HS071_X, atol=1e-6)


def test_max_iter_is_a_status_not_an_error():
    pytest.importorskip("cyipopt")
    res = _hs071().solve([1.0, 5.0, 5.0, 1.0], **HS071_BOUNDS, options={"max_iter": 2})
    assert res.status == -1 and not res.success
    assert res.iterations == 2


# --- cc.nlp: parameters, no constraints -------------------------------------------------------

def test_params_bound_at_solve_time():
    pytest.importorskip("cyipopt")
    x, p = cc.Tensor("x", (4,)), cc.Tensor("p", (4,))
    problem = cc.nlp(cc.sum((x - p) ** 2), x, g=cc.sum(x), params=[p], backend="python")
    for p_value in (np.array([1.0, 2.0, 3.0, 4.0]), np.array([-0.5, 0.25, 0.0, 3.0])):
        res = problem.solve(np.zeros(4), cl=1.0, cu=1.0, params=(p_value,))
        shift = (p_value.sum() - 1.0) / 4
        assert res.status == 0
        assert_allclose(res.x, p_value - shift, atol=1e-8)
        assert res.fun == pytest.approx(4 * shift ** 2, abs=1e-10)
        assert_allclose(res.mult_g, [2 * shift], atol=1e-7)  # grad f + lambda grad g = 0


def test_unconstrained_rosenbrock_and_mixed_blocks():
    pytest.importorskip("cyipopt")
    s, v = cc.Symbol("s"), cc.Tensor("v", (4,))
    z = cc.concatenate([cc.reshape(s, (1,)), v])
    problem = cc.nlp(cc.sum(100 * (z[1:] - z[:-1] ** 2) ** 2 + (1 - z[:-1]) ** 2), [s, v], backend="python")
    assert problem.m == 0
    res = problem.solve(problem.variables.flatten([ROSEN_X0[0], ROSEN_X0[1:]]))
    assert res.status == 0
    assert res.unflatten()["s"] == pytest.approx(1.0, abs=1e-7)
    assert_allclose(res.unflatten()["v"], np.ones(4), atol=1e-7)


# --- cc.nlp: van der Pol optimal control against CasADi --------------------------------------

def test_van_der_pol_matches_casadi():
    pytest.importorskip("cyipopt")
    ca = pytest.importorskip("casadi")
    N, T = 50, 10.0
    h = T / N
    x1, x2, u = cc.Tensor("x1", (N + 1,)), cc.Tensor("x2", (N + 1,)), cc.Tensor("u", (N + 1,))
    f1, f2, L = (1 - x2 ** 2) * x1 - x2 + u, x1, x1 ** 2 + x2 ** 2 + u ** 2
    J = h / 2 * cc.sum(L[1:] + L[:-1])
    g = [x1[1:] - x1[:-1] - h / 2 * (f1[1:] + f1[:-1]), x2[1:] - x2[:-1] - h / 2 * (f2[1:] + f2[:-1])]
    prob = cc.nlp(J, [x1, x2, u], g=g, backend="python")
    lb = prob.variables.flatten([np.r_[0.0, np.full(N, -0.25)], np.r_[1.0, np.full(N, -np.inf)], -1.0])
    ub = prob.variables.flatten([np.r_[0.0, np.full(N, np.inf)], np.r_[1.0, np.full(N, np.inf)], 1.0])
    x0 = np.clip(prob.variables.flatten([0.0, 1.0, 0.0]), lb, ub)
    res = prob.solve(x0, lb=lb, ub=ub)
    assert res.status == 0

    X1, X2, U = ca.SX.sym("x1", N + 1), ca.SX.sym("x2", N + 1), ca.SX.sym("u", N + 1)
    F1, F2, LL = (1 - X2 ** 2) * X1 - X2 + U, X1, X1 ** 2 + X2 ** 2 + U ** 2
    JJ = h / 2 * ca.sum1(LL[1:] + LL[:-1])
    G = ca.vertcat(X1[1:] - X1[:-1] - h / 2 * (F1[1:] + F1[:-1]), X2[1:] - X2[:-1] - h / 2 * (F2[1:] + F2[:-1]))
    solver = ca.nlpsol("s", "ipopt", {"x": ca.vertcat(X1, X2, U), "f": JJ, "g": G},
                       {"ipopt": {"print_level": 0, "sb": "yes"}, "print_time": False})
    sol = solver(x0=x0, lbx=lb, ubx=ub, lbg=0, ubg=0)
    assert solver.stats()["success"]
    assert res.fun == pytest.approx(float(sol["f"]), rel=1e-8)
    assert_allclose(res.x, np.asarray(sol["x"]).ravel(), atol=1e-6)


# --- cc.nlp: bad input and failures -----------------------------------------------------------

def _bounded_problem():
    x, y, p = cc.Tensor("x", (3,)), cc.Symbol("y"), cc.Symbol("p")
    return cc.nlp(cc.sum((x - p) ** 2) + y ** 2, [x, y], g=[cc.sum(x), x[:2] * y], params=[p],
                  backend="python")


def test_nlp_bad_bounds_and_start():
    pytest.importorskip("cyipopt")
    problem = _bounded_problem()
    assert (problem.n, problem.m) == (4, 3)
    x0 = np.zeros(4)
    for key, value in (("lb", np.zeros(3)), ("ub", np.zeros(5)), ("cl", np.zeros(2)), ("cu", np.zeros(4))):
        with pytest.raises(cc.ShapeError, match=rf"^{key}\b"):
            problem.solve(x0, params=(1.0,), **{key: value})
    with pytest.raises(cc.ArgumentError, match="lb > ub"):
        problem.solve(x0, lb=[0.0, 0.0, 2.0, 0.0], ub=1.0, params=(1.0,))
    with pytest.raises(cc.ArgumentError, match="cl > cu"):
        problem.solve(x0, cl=1.0, cu=0.0, params=(1.0,))
    with pytest.raises(cc.ArgumentError, match="NaN"):
        problem.solve(x0, lb=[0.0, np.nan, 0.0, 0.0], params=(1.0,))
    with pytest.raises(cc.ShapeError, match=r"x0.*\b4 entries"):
        problem.solve(np.zeros(5), params=(1.0,))
    for params in ((), (1.0, 2.0)):
        with pytest.raises(cc.ArgumentError, match="expected 1 parameter"):
            problem.solve(x0, params=params)
        with pytest.raises(cc.ArgumentError, match="expected 1 parameter"):
            problem.ipopt_callbacks(*params)
    with pytest.raises(cc.ShapeError, match="'p'"):
        problem.solve(x0, params=(np.zeros(2),))
    cb = problem.ipopt_callbacks(1.0)
    with pytest.raises(cc.ShapeError, match=r"\b4 entries"):
        cb.objective(np.zeros(3))
    with pytest.raises(cc.ShapeError, match=r"\b3 entries"):
        cb.hessian(x0, np.zeros(2), 1.0)


def test_nlp_scalar_nan_bound_is_rejected():
    pytest.importorskip("cyipopt")
    with pytest.raises(cc.ArgumentError, match="NaN"):
        _bounded_problem().solve(np.zeros(4), lb=np.nan, params=(1.0,))


def test_nlp_bad_definitions():
    x, p = cc.Tensor("x", (3,)), cc.Symbol("p")
    with pytest.raises(cc.ArgumentError, match="symbol or tensor"):
        cc.nlp(cc.sum(x ** 2), x * 2.0, backend="python")
    with pytest.raises(cc.ShapeError, match="scalar"):
        cc.nlp(x ** 2, x, backend="python")
    with pytest.raises(cc.ArgumentError, match="'p'"):
        cc.nlp(cc.sum(x ** 2) * p, x, backend="python")
    with pytest.raises(cc.ArgumentError, match="'p'"):
        cc.nlp(cc.sum(x ** 2), x, g=[x * p], backend="python")
    with pytest.raises(cc.ArgumentError):
        cc.nlp(cc.sum(x ** 2), [x, x], backend="python")
    with pytest.raises(cc.ArgumentError):
        cc.nlp(cc.sum(x ** 2), x, params=[x], backend="python")


def test_infeasible_problem_is_a_status():
    pytest.importorskip("cyipopt")
    z = cc.Symbol("z")
    res = cc.nlp(z ** 2, z, g=z, backend="python").solve([2.0], lb=1.0, cl=-np.inf, cu=0.0)
    assert res.status != 0 and not res.success
    assert res.message


def test_nonfinite_callbacks_are_recorded():
    w = cc.Tensor("w", (2,))
    cb = cc.nlp(cc.sum(cc.log(w)), w, g=[cc.sqrt(w)], backend="python").ipopt_callbacks()
    bad = np.array([-1.0, 1.0])
    assert np.isnan(cb.objective(bad))
    assert np.isnan(cb.constraints(bad)[0])
    assert np.isfinite(cb.objective(np.array([1.0, 2.0])))
    assert [name for name, _ in cb.nonfinite] == ["objective", "constraints"]
    bad[0] = 5.0  # the recorded point is a copy
    assert all(point[0] == -1.0 for _, point in cb.nonfinite)


def test_nonfinite_steps_during_a_solve():
    pytest.importorskip("cyipopt")
    x = cc.Symbol("x")
    problem = cc.nlp(x ** 2 + 0.01 * cc.log(x) ** 2 - 1e-3 * cc.sqrt(x), x, backend="python")
    res = problem.solve([5.0])  # the first Newton steps overshoot below 0, where log is NaN
    assert res.success
    assert res.x[0] > 0
    assert res.nonfinite and all(point[0] < 0 for _, point in res.nonfinite)


def test_dense_hessian_is_refused_at_the_limit():
    x = cc.Tensor("x", (600,))
    problem = cc.nlp(cc.sum(x) ** 2, x, backend="python")
    with pytest.raises(cc.UnsupportedError, match="limited-memory"):
        problem.hessian_structure()
    y = cc.Tensor("y", (500,))
    rows, cols = cc.nlp(cc.sum(y) ** 2, y, backend="python").hessian_structure()  # 500 colours: allowed
    assert len(rows) == 500 * 501 // 2 and np.all(rows >= cols)


def test_dense_hessian_is_refused_before_colouring():
    x = cc.Tensor("x", (3000,))
    problem = cc.nlp(cc.sum(x) ** 2, x, backend="python")
    with pytest.raises(cc.UnsupportedError, match="limited-memory"):
        problem.hessian_structure()
    assert "hessian coloring" not in problem.lagrangian_fn._derived  # refused before any colouring


HIDDEN_NAMES = ["obj_factor", "lambda", "lambda_0", "x_flat"]  # like the NLP's own inputs


@pytest.mark.parametrize("name", HIDDEN_NAMES)
def test_variable_named_like_a_hidden_input(name):
    pytest.importorskip("cyipopt")
    v, p = cc.Symbol(name), cc.Symbol("p")
    res = cc.nlp((v - p) ** 2, v, g=[v * 1.0], params=[p], backend="python").solve(
        [0.0], cl=-10.0, cu=10.0, params=(3.0,))
    assert res.x[0] == pytest.approx(3.0, abs=1e-7)


@pytest.mark.parametrize("name", ["obj_factor", "lambda", "x_flat"])
def test_parameter_named_like_a_hidden_input(name):
    pytest.importorskip("cyipopt")
    v, p = cc.Symbol("v"), cc.Symbol(name)
    res = cc.nlp((v - p) ** 2, v, g=[v * 1.0], params=[p], backend="python").solve(
        [0.0], cl=-10.0, cu=10.0, params=(3.0,))
    assert res.x[0] == pytest.approx(3.0, abs=1e-7)


def test_missing_cyipopt_names_the_extra(monkeypatch):
    problem = _hs071()
    monkeypatch.setitem(sys.modules, "cyipopt", None)
    with pytest.raises(ImportError, match="solvers"):
        problem.solve([1.0, 5.0, 5.0, 1.0], **HS071_BOUNDS)
