"""A SymPy Matrix (or ``cc.stack`` / an array literal) of scalar expressions is a container: it
compiles as its entries on every scalar target (issue 28) and its results keep its shape.

Oracles: SymPy's ``lambdify`` of the Matrix (NumPy) and SymPy's own ``jacobian`` evaluated
exactly (``evalf`` at 30 digits); the python backend's tensor path for the forms of results.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sympy as sp

import compiler as cc
from compiler.runtime.shaped import ShapedFunction, container_outputs

x, y, z = sp.symbols("x y z")
XS = [x, y, z]
# a forcing-like vector (products, trig, a quotient) and its exact Jacobian
F = sp.Matrix([x * sp.sin(y) + z ** 2 * sp.cos(x), sp.exp(-x * y) * sp.cos(z) - y / (1 + z ** 2),
               sp.atan2(y, 1 + x ** 2) * z])
J = F.jacobian(XS)
POINTS = [(0.3, -0.7, 1.1), (1.5, 0.2, -0.4), (-2.0, 3.0, 0.5)]
BACKENDS = ("python", "vm", "llvm", "numba")


def _exact(m: sp.Matrix, p) -> np.ndarray:
    return np.array(m.subs(dict(zip(XS, p))).evalf(30).tolist(), dtype=float)


@pytest.fixture(scope="module", params=BACKENDS)
def compiled(request):
    """F and J as outputs (values only) and F alone (its Jacobian by the compiler's AD), per backend."""
    both = cc.compile([F, J], XS, wrt=[], backend=request.param, progress=False)
    alone = cc.compile(F, XS, backend=request.param, progress=False)
    return request.param, both, alone


def test_matrix_outputs_agree_with_lambdify_and_sympy(compiled):
    backend, both, alone = compiled
    assert isinstance(both, ShapedFunction) and both.backend == backend and not both._tensor
    lam_f, lam_j = sp.lambdify(XS, F, "numpy"), sp.lambdify(XS, J, "numpy")
    for p in POINTS:
        f, j = both(*p)
        assert f.shape == (3, 1) and j.shape == (3, 3)
        np.testing.assert_allclose(f, lam_f(*p), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(j, lam_j(*p), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(f, _exact(F, p), rtol=1e-13, atol=1e-15)
        # the compiler's own Jacobian of F against SymPy's jacobian, in every form
        exact_j = _exact(J, p)
        value, grad = alone.value_and_grad(*p)
        assert value.shape == (3, 1) and grad.shape == (3, 1, 3)
        np.testing.assert_allclose(grad[:, 0, :], exact_j, rtol=1e-12, atol=1e-14)
        blocks = alone.jacobian(*p)
        assert len(blocks) == 3 and all(b.shape == (3, 1) for b in blocks)
        np.testing.assert_allclose(np.hstack(blocks), exact_j, rtol=1e-12, atol=1e-14)


def test_batches_take_a_leading_axis(compiled):
    backend, both, alone = compiled
    pts = np.array(POINTS)
    f, j = both(*pts.T)
    assert f.shape == (3, 3, 1) and j.shape == (3, 3, 3)
    for k, p in enumerate(POINTS):
        np.testing.assert_allclose(f[k], both(*p)[0], rtol=1e-14)
        np.testing.assert_allclose(j[k], both(*p)[1], rtol=1e-14)
    value, grad = alone.value_and_grad(*pts.T)
    assert value.shape == (3, 3, 1) and grad.shape == (3, 3, 1, 3)
    np.testing.assert_allclose(grad[1, :, 0, :], _exact(J, POINTS[1]), rtol=1e-12, atol=1e-14)


def test_shapes_of_stacks_arrays_and_mixed_lists():
    a, b = cc.symbols("a b")
    fn = cc.compile([cc.stack([[a * b, 1.0], [cc.sin(a), b]]).T, a + b, sp.Array([[[x]]]).subs(x, 2)],
                    [a, b], backend="vm")
    m, s, c = fn(2.0, 3.0)
    np.testing.assert_array_equal(m, [[6.0, np.sin(2.0)], [1.0, 3.0]])
    assert s == 5.0 and isinstance(s, float) and c.shape == (1, 1, 1) and c[0, 0, 0] == 2.0
    assert len(fn.outputs) == 6 and fn.shapes == [(2, 2), (), (1, 1, 1)]
    # one wrt given alone: its column, in the outputs' shapes
    single = cc.compile(cc.stack([a * b, a * a]), [a, b], wrt=a, backend="python")
    np.testing.assert_array_equal(single.grad(2.0, 3.0), [3.0, 4.0])
    np.testing.assert_array_equal(single.jacobian(2.0, 3.0), [3.0, 4.0])
    np.testing.assert_array_equal(single.hessian(2.0, 3.0), [0.0, 2.0])
    value, tangent = single.jvp(2.0, 3.0, v=1.0)
    np.testing.assert_array_equal(value, [6.0, 4.0])
    np.testing.assert_array_equal(tangent, [3.0, 4.0])


def test_pickled_matrix_function_keeps_its_shapes():
    fn = cc.compile([sp.Matrix([[x * y, x], [y, 2]]), x + y], [x, y], wrt=x, backend="python")
    again = pickle.loads(pickle.dumps(fn))
    assert isinstance(again, ShapedFunction) and again.shapes == [(2, 2), ()] and again._single
    (m, s), (gm, gs) = again.value_and_grad(2.0, 3.0)
    np.testing.assert_array_equal(m, [[6.0, 2.0], [3.0, 2.0]])
    np.testing.assert_array_equal(gm, [[3.0, 1.0], [0.0, 0.0]])
    assert s == 5.0 and gs == 1.0


def test_tensor_computations_stay_on_the_tensor_path():
    a = cc.Symbol("a")
    W = cc.Tensor("W", (2, 2))
    assert container_outputs([cc.from_sympy(sp.Matrix([[x, 1], [2, y]])) @ np.ones(2)], []) is None
    assert container_outputs([cc.stack([a, a]) * 2.0], [a]) is None  # an elementwise op on a tensor
    assert container_outputs([cc.stack([a, a])], [a, W]) is None  # a tensor input
    # (the tensor path: on llvm, its tensor kernels; under auto too)
    fn = cc.compile(cc.stack([a, a]) * 2.0, [a])
    assert fn.backend == "llvm" and fn._tensor
    np.testing.assert_array_equal(fn(1.5), [3.0, 3.0])


_SECOND = textwrap.dedent("""
    import json, sympy as sp, compiler as cc
    from compiler.runtime import llvm as llvm_target
    if {forbid}:
        def refuse(*a, **k):
            raise AssertionError("compiled although the cache holds this function")
        llvm_target.compile_objects = refuse
    x, y = sp.symbols("x y")
    F = sp.Matrix([x * sp.sin(y), sp.exp(x) * y, x / (1 + y ** 2)])
    fn = cc.compile([F, F.jacobian([x, y])], [x, y], wrt=[], backend="llvm")
    f, j = fn(0.5, 2.0)
    print(json.dumps([f.tolist(), j.tolist()]))
""")


def test_second_process_loads_the_matrix_function_from_the_cache(tmp_path):
    env = dict(os.environ, COMPILER_CACHE_DIR=str(tmp_path / "cache"))
    runs = [subprocess.run([sys.executable, "-c", _SECOND.format(forbid=forbid)], capture_output=True, text=True,
                           env=env, timeout=300) for forbid in (False, True)]
    for r in runs:
        assert r.returncode == 0, r.stderr[-3000:]
    first, second = (json.loads(r.stdout.strip().splitlines()[-1]) for r in runs)
    assert first == second and np.shape(first[1]) == (3, 2)
