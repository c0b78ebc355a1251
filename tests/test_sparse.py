"""Structural sparsity (``ad.sparsity``), colourings (``ad.coloring``) and the compressed sparse
Jacobians and Hessians built on them, against independent oracles: finite differences of the
value (which elements move), SciPy's ``rosen_hess``, dense Jacobians by differences, and brute
force checks of the colouring properties. The python backend throughout, and one numba check.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import rosen_hess

import compiler as cc
from compiler.ad import coloring, sparsity


def _fd_jacobian(fn, point: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of the value of a function of one tensor input, output flattened."""
    columns = []
    for k in range(point.size):
        e = np.zeros(point.size)
        e[k] = h
        up, down = fn((point.ravel() + e).reshape(point.shape)), fn((point.ravel() - e).reshape(point.shape))
        columns.append((np.ravel(up) - np.ravel(down)) / (2 * h))
    return np.array(columns).T


X = cc.Tensor("x", (4, 3))
M = np.array([[1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 3.0, 0.0]])  # a sparse constant: its zeros count


def _cases():
    return {
        "elementwise": cc.exp(X) * X[:, :1] + 2.0,
        "broadcast row": X * X[0],
        "slices": X[1:, ::-1] * X[:-1, :],
        "int and None": X[2] * X[None, 1, :] + X[:, 0, None],
        "take repeats": cc.take(X, np.array([3, 0, 3]), axis=0) ** 2,
        "fancy": X[:, np.array([2, 2, 0])] * X[0, 0],
        "sum axis": cc.sum(X * X, axis=0),
        "max": cc.max(X, axis=1) * X[:, 0],
        "mean all": cc.mean(X) * X[1],
        "reshape": cc.reshape(X, (3, 4))[:, 1:] * 2.0,
        "transpose": X.T[::2] ** 2,
        "concatenate": cc.concatenate([X[:, 0], X[:, 2] ** 2, cc.sum(X, axis=1)]),
        "matmul": X.T @ X[:, :2],
        "sparse constant": M @ X,
        "where": cc.where(X > 0.0, X * X[::-1], X[:, ::-1]),
        "stop_gradient and sign": cc.stop_gradient(X) * X + cc.sign(X) * 3.0,
        "softmax": cc.softmax(X, axis=1),
        "cumsum": cc.cumsum(X, axis=1) if hasattr(cc, "cumsum") else X * 1.5,
    }


CASES = _cases()
VALUE_DEPENDENT = {"max", "where"}  # structurally on every candidate; by value on one


@pytest.mark.parametrize("name", list(CASES))
def test_jacobian_pattern_is_what_moves_under_finite_differences(name):
    expr = CASES[name]
    fn = cc.compile(expr, [X], backend="python")
    pattern = fn.jacobian_sparsity()
    assert pattern.shape == (int(np.prod(expr.shape)), 12) and pattern.dtype == bool
    point = np.random.default_rng(1).uniform(0.5, 2.0, (4, 3)) * np.array([1, -1, 1])  # no ties, no zeros
    moved = np.abs(_fd_jacobian(fn, point)) > 1e-6
    if name in VALUE_DEPENDENT:  # which element is the max, which branch: the values decide
        assert (moved <= pattern.toarray()).all()
    else:
        np.testing.assert_array_equal(pattern.toarray(), moved)


def test_the_module_is_data_only_and_handles_scalars_and_several_outputs():
    a, b = cc.symbols("a b")
    v = cc.Tensor("v", (3,))
    outputs = [a * b, cc.sum(v) * a, v[1:] * b, cc.sin(a) + 1.0]
    pattern = sparsity.jacobian_pattern(outputs, [a, v, b])  # columns: a, v0, v1, v2, b
    want = [[1, 0, 0, 0, 1], [1, 1, 1, 1, 0], [0, 0, 1, 0, 1], [0, 0, 0, 1, 1], [1, 0, 0, 0, 0]]
    np.testing.assert_array_equal(pattern.toarray().astype(int), want)
    constant = sparsity.jacobian_pattern([v * 0.0 + 1.0, cc.stop_gradient(v)], [v])
    assert constant.nnz == 3  # v * 0 is not folded (nan * 0); stop_gradient has no derivative


def test_hessian_pattern_of_rosenbrock_in_tensors_and_in_scalars():
    n = 12
    x = cc.Tensor("x", (n,))
    f = cc.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    want = rosen_hess(np.linspace(-1, 2, n)) != 0
    np.testing.assert_array_equal(cc.compile(f, [x], backend="python").hessian_sparsity().toarray(), want)
    xs = cc.symbols(f"y0:{n}")
    g = sum(100.0 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1.0 - xs[i]) ** 2 for i in range(n - 1))
    np.testing.assert_array_equal(cc.compile(g, list(xs), backend="python").hessian_sparsity().toarray(), want)


def test_hessian_patterns_of_arrowhead_and_separable_functions():
    x = cc.Tensor("x", (6,))
    arrow = cc.compile(x[0] * cc.sum(x[1:] ** 2), [x], backend="python")
    pattern = arrow.hessian_sparsity().toarray()
    want = np.eye(6, dtype=bool)
    want[0, :] = want[:, 0] = True
    want[0, 0] = False  # x0 appears linearly
    np.testing.assert_array_equal(pattern, want)
    assert arrow.coloring().n_colors == 2  # a star colouring of an arrowhead: 2 colours
    linear = cc.compile(cc.sum(3.0 * x) + cc.sum(x[::2] ** 2), [x], backend="python")
    np.testing.assert_array_equal(linear.hessian_sparsity().toarray(), np.diag([1, 0, 1, 0, 1, 0]).astype(bool))


def test_patterns_are_computed_in_near_linear_time():
    n = 200_000
    x = cc.Tensor("x", (n,))
    f = cc.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    fn = cc.compile(f, [x], backend="python")
    t0 = time.perf_counter()
    fn.coloring()
    assert fn.hessian_sparsity().nnz == 3 * n - 2
    assert time.perf_counter() - t0 < 15.0  # about 1 s here; a quadratic step would take hours


# --- bad input ---

def test_a_dense_pattern_raises_naming_its_nonzeros_before_allocating():
    n = 100_000
    x = cc.Tensor("x", (n,))
    t0 = time.perf_counter()
    with pytest.raises(cc.UnsupportedError, match=r"estimated 10,000,\d+,\d+ nonzeros"):
        cc.compile(cc.sum(x) * x, [x], backend="python").jacobian_sparsity()
    with pytest.raises(cc.UnsupportedError, match=r"matmul of shape \(100000, 100000\).*10,000,000,000"):
        cc.compile(x[:, None] @ x[None, :], [x], backend="python").jacobian_sparsity()
    assert time.perf_counter() - t0 < 10.0


def test_hessian_sparsity_of_a_vector_output_points_to_the_jacobian():
    x = cc.Tensor("x", (3,))
    fn = cc.compile(x * x, [x], backend="python")
    for call in (fn.hessian_sparsity, lambda: fn.sparse_hessian(np.ones(3))):
        with pytest.raises(cc.ShapeError, match="jacobian_sparsity"):
            call()
    with pytest.raises(ValueError, match="'hessian' or 'jacobian'"):
        fn.coloring("columns")


# --- colourings ---

def _random_symmetric(n: int, density: float, seed: int):
    m = sp.random(n, n, density=density, random_state=seed, format="csr")
    return ((m + m.T) + sp.eye(n)).tocsr()


def _is_star_coloring(pattern, colour) -> bool:
    """Distance-1 proper, and no path on four vertices uses only two colours (brute force)."""
    n = pattern.shape[0]
    near = [set(pattern.indices[pattern.indptr[i]:pattern.indptr[i + 1]]) - {i} for i in range(n)]
    if any(colour[v] == colour[w] for v in range(n) for w in near[v]):
        return False
    for w, x in itertools.permutations(range(n), 2):
        if x in near[w]:
            for v in near[w] - {x}:
                if any(colour[v] == colour[x] and colour[w] == colour[y] for y in near[x] - {w, v}):
                    return False
    return True


@pytest.mark.parametrize("seed", range(40))
def test_star_coloring_and_direct_recovery(seed):
    rng = np.random.default_rng(seed)
    pattern = _random_symmetric(int(rng.integers(2, 25)), float(rng.uniform(0.02, 0.35)), seed)
    colour = coloring.star(pattern)
    assert _is_star_coloring(pattern, colour)
    H = pattern.astype(float)
    H.data = rng.normal(size=H.nnz)
    H = (H + H.T).tocsr()
    H.sort_indices()
    compressed = (H @ coloring.seed_matrix(colour).T).T  # one row per colour
    np.testing.assert_allclose(compressed.ravel()[coloring.star_recovery(H, colour)], H.data, rtol=1e-15)


@pytest.mark.parametrize("seed", range(40))
def test_column_and_row_colorings_and_recovery(seed):
    rng = np.random.default_rng(seed)
    J = sp.random(int(rng.integers(1, 25)), int(rng.integers(1, 25)), density=float(rng.uniform(0.02, 0.4)),
                  random_state=seed, format="csr")
    J.sort_indices()
    colour = coloring.columns(J)
    rows_of = [set(J.tocsc().indices[J.tocsc().indptr[j]:J.tocsc().indptr[j + 1]]) for j in range(J.shape[1])]
    assert all(colour[i] != colour[j] or not rows_of[i] & rows_of[j]
               for i, j in itertools.combinations(range(J.shape[1]), 2))
    compressed = (J @ coloring.seed_matrix(colour, int(colour.max()) + 1).T).T
    np.testing.assert_allclose(compressed.ravel()[coloring.column_recovery(J, colour)], J.data, rtol=1e-15)
    by_rows = coloring.columns(J.T)
    compressed = coloring.seed_matrix(by_rows) @ J
    np.testing.assert_allclose(np.asarray(compressed).ravel()[coloring.row_recovery(J, by_rows)], J.data,
                               rtol=1e-15)


def test_colorings_of_banded_patterns_take_the_band_width():
    n = 1000
    tri = sp.diags([np.ones(n - 1), np.ones(n), np.ones(n - 1)], [-1, 0, 1], format="csr")
    assert coloring.star(tri).max() + 1 == 3
    assert coloring.columns(tri).max() + 1 == 3
    penta = sp.diags([np.ones(n - k) for k in (2, 1)] + [np.ones(n)] + [np.ones(n - k) for k in (1, 2)],
                     [-2, -1, 0, 1, 2], format="csr")
    assert coloring.columns(penta).max() + 1 == 5
    assert coloring.star(penta).max() + 1 <= 6


def test_networkx_greedy_coloring_needs_no_fewer_colors_on_these_patterns():
    nx = pytest.importorskip("networkx")
    for seed in range(5):
        J = sp.random(60, 40, density=0.05, random_state=seed, format="csr")
        ours = int(coloring.columns(J).max()) + 1
        graph = nx.Graph()
        graph.add_nodes_from(range(40))
        product = (abs(J.T) @ abs(J)).tocoo()
        graph.add_edges_from((i, j) for i, j in zip(product.row, product.col) if i < j)
        theirs = max(nx.greedy_color(graph, strategy="largest_first").values()) + 1
        assert ours <= theirs + 1, (seed, ours, theirs)


# --- compressed evaluation ---

def test_sparse_hessian_of_rosenbrock_against_scipy():
    n = 300
    x = cc.Tensor("x", (n,))
    fn = cc.compile(cc.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2), [x], wrt=x,
                    backend="python")
    col = fn.coloring()
    assert col.kind == "star" and col.n_colors == 3 and "3 sweeps instead of 300" in repr(col)
    point = np.random.default_rng(0).uniform(-2, 2, n)
    H = fn.sparse_hessian(point)
    assert sp.issparse(H) and H.format == "csr" and H.nnz == 3 * n - 2
    np.testing.assert_allclose(H.toarray(), rosen_hess(point), rtol=1e-14, atol=1e-12)
    np.testing.assert_allclose(fn.hessian(point), rosen_hess(point), rtol=1e-14, atol=1e-12)


def test_sparse_jacobian_of_a_banded_residual_by_columns():
    n = 40
    u, k = cc.Tensor("u", (n,)), cc.Symbol("k")
    h = 1.0 / (n + 1)
    padded = cc.concatenate([np.zeros(1), u, np.ones(1)])
    residual = (padded[2:] - 2.0 * padded[1:-1] + padded[:-2]) / h ** 2 - k * cc.exp(u)  # Bratu
    fn = cc.compile(residual, [u, k], backend="python")
    col = fn.coloring("jacobian")
    assert col.kind == "columns" and col.n_colors == 4  # 3 for the band, 1 for k (a dense column)
    point = (np.linspace(0, 1, n) ** 2, 1.5)
    J = fn.sparse_jacobian(point[0], point[1])
    assert J.shape == (n, n + 1)
    dense = np.column_stack([_fd_jacobian(lambda z: fn(z, point[1]), point[0]),
                             (fn(point[0], 1.5 + 1e-6) - fn(point[0], 1.5 - 1e-6)) / 2e-6])
    np.testing.assert_allclose(J.toarray(), dense, rtol=1e-6, atol=1e-4)
    (Ju, Jk) = fn.jacobian(*point)
    np.testing.assert_allclose(J.toarray(), np.column_stack([Ju, Jk]), rtol=1e-14, atol=1e-10)


def test_sparse_jacobian_by_rows_when_a_row_is_dense():
    x = cc.Tensor("x", (8,))
    fn = cc.compile(cc.concatenate([cc.reshape(cc.sum(x * x), (1,)), x[1:] * x[:-1]]), [x], wrt=x, backend="python")
    col = fn.coloring("jacobian")
    assert col.kind == "rows" and col.n_colors <= 3
    point = np.linspace(-1, 1, 8)
    np.testing.assert_allclose(fn.sparse_jacobian(point).toarray(), fn.jacobian(point), rtol=1e-15)


def test_scalar_graphs_seed_with_constants_and_match_the_dense_hessian():
    xs = cc.symbols("x0:7")
    f = sum(cc.sin(xs[i]) * xs[i + 1] ** 2 for i in range(6)) + xs[0] * xs[6]
    for backend in ("python", "llvm"):
        fn = cc.compile(f, list(xs), backend=backend)
        point = tuple(np.linspace(-1, 1, 7))
        H = fn.sparse_hessian(*point)
        np.testing.assert_allclose(H.toarray(), fn.hessian(*point), rtol=1e-14, atol=1e-15)
        residuals = cc.compile([xs[i] * xs[i + 1] for i in range(6)], list(xs), backend=backend)
        np.testing.assert_allclose(residuals.sparse_jacobian(*point).toarray(), residuals.grad(*point),
                                   rtol=1e-15)


def test_sparse_hessian_over_several_inputs_and_in_numba():
    a, s = cc.Tensor("a", (5,)), cc.Symbol("s")
    f = cc.sum(cc.tanh(a[1:] * a[:-1]) * s) + s ** 3
    point = (np.linspace(-1, 1, 5), 0.7)
    python = cc.compile(f, [a, s], backend="python")
    (Haa, Has), (Hsa, Hss) = python.hessian(*point)
    dense = np.block([[Haa, Has[:, None]], [Hsa[None, :], np.array([[Hss]])]])
    np.testing.assert_allclose(python.sparse_hessian(*point).toarray(), dense, rtol=1e-14, atol=1e-15)
    numba = cc.compile(f, [a, s], backend="numba")
    np.testing.assert_allclose(numba.sparse_hessian(*point).toarray(), dense, rtol=1e-13, atol=1e-15)
    with pytest.raises(cc.ShapeError, match="one point"):
        numba.sparse_hessian(np.ones((2, 5)), 0.7)


@pytest.mark.slow
def test_the_sparse_rosenbrock_example_runs_checks_and_plots(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    pytest.importorskip("matplotlib")
    script = Path(__file__).resolve().parent.parent / "examples" / "sparse_rosenbrock.py"
    plot = tmp_path / "pattern.png"
    out = subprocess.run([sys.executable, str(script), "--n", "2000", "--plot", str(plot)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "5,998 nonzeros, 3 colours" in out.stdout and "Newton-CG" in out.stdout
    assert float(out.stdout.split("max |x - 1| = ")[1].split()[0]) < 1e-6
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_sparse_bench_suite_is_registered_and_formats_its_rows():
    from compiler.bench import SUITES, sparse
    from compiler.bench.common import Row
    assert SUITES["sparse"].steps(True) == 2 * len(sparse.sizes(True)) + 2
    rows = [Row("sparse", "case", "compiler", 1e-3, 10, 0.5, note="3 colours", extra={"setup": 0.1}),
            Row("sparse", "case", "CasADi (SX, Function VM)", 2e-3, 10, 1.0, extra={"setup": 0.2})]
    text = sparse.table(rows)
    assert "compiler" in text and "CasADi" in text and "100 ms" in text and "1 ms" in text


@pytest.mark.slow
def test_the_sparse_bench_case_checks_its_peers():
    from compiler.bench import sparse
    from compiler.bench.common import optional
    rows = sparse._sparse_case("hessian", 300, 1, 0.001, optional("casadi"), None)
    methods = {r.method for r in rows}
    assert {"compiler", "compiler, one value_and_grad"} <= methods
    assert all(r.seconds > 0 for r in rows)
