"""Products in tensor kernels (Numba dialect): thin ones are loops, big ones call the BLAS by
blocks of rows (each small enough to run on the calling thread), the others are ``a @ b``; all
give NumPy's numbers, in both sweeps, whatever the operands' layout."""

import numpy as np
import pytest

import compiler as cc
from compiler.codegen import python as printer


def kernel_lines(fn):
    source = fn.source
    return source[source.index("def value_and_grad("):source.index("def value_batch(")]


@pytest.mark.parametrize("m, k, n", [(300, 70, 90), (256, 64, 64), (1000, 3, 100), (7, 300, 200), (2, 256, 64),
                                     (64, 256, 1), (257, 65, 33)])
def test_products_of_every_kind_agree_with_numpy(m, k, n):
    """Every product of the gradient of sum(tanh(A @ B) * C) (A @ B, its adjoints through B.T
    and A.T: transposed views), against NumPy's formula."""
    A, B = cc.Tensor("A", (m, k)), cc.Tensor("B", (k, n))
    rng = np.random.default_rng(m * k + n)
    a, b, c = rng.normal(size=(m, k)), rng.normal(size=(k, n)) / np.sqrt(k), rng.normal(size=(m, n))
    fn = cc.compile(cc.sum(cc.tanh(A @ B) * c), [A, B], backend="numba")
    big = m * k * n > 2**18
    thin = min(m, k) <= printer.SMALL_PRODUCT and n >= 8 and not big
    lines = kernel_lines(fn)
    assert ("_product(A, B)" in lines) == (big and not thin)
    assert ("A @ B" in lines) == (not big and not thin)  # thin: a loop, "+= s1 * B[...]"
    v, (ga, gb) = fn.value_and_grad(a, b)
    t = np.tanh(a @ b)
    d = c * (1.0 - t * t)
    assert v == pytest.approx(np.sum(t * c), rel=1e-12)
    np.testing.assert_allclose(ga, d @ b.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gb, a.T @ d, rtol=1e-10, atol=1e-12)


def test_the_blocked_product_in_plain_python_and_in_a_batch():
    A, B = cc.Tensor("A", (300, 70)), cc.Tensor("B", (70, 90))
    fn = cc.compile(cc.sum((A @ B) ** 2), [A, B], backend="numba")
    assert "_product(A, B)" in fn.source
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(3, 300, 70)), rng.normal(size=(70, 90))
    namespace = {"__name__": "plain"}
    exec(compile(fn.standalone_source(jit=False), "<plain>", "exec"), namespace)  # noqa: S102
    v, g = fn.value_and_grad(a, b)  # a batch of 3: the kernel in Numba's worker threads
    for i in range(3):
        w, h = namespace["value_and_grad"](a[i], b)
        assert v[i] == pytest.approx(np.sum((a[i] @ b) ** 2), rel=1e-12) and v[i] == pytest.approx(w, rel=1e-12)
        np.testing.assert_allclose(g[0][i], h[0], rtol=1e-11)
        np.testing.assert_allclose(g[1][i], h[1], rtol=1e-11)


def test_nan_and_inf_flow_through_as_in_numpy():
    A, B = cc.Tensor("A", (300, 70)), cc.Tensor("B", (70, 90))
    fn = cc.compile(cc.sum(A @ B), [A, B], backend="numba")
    assert "_product(A, B)" in fn.source
    a, b = np.ones((300, 70)), np.ones((70, 90))
    a[5, 3], a[200, 0] = np.nan, np.inf
    assert np.isnan(fn(a, b)) and np.isnan(np.sum(a @ b))
    a[5, 3] = 1.0
    assert fn(a, b) == np.inf == np.sum(a @ b)
