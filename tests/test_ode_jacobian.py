"""The Jacobian of an odeint output: every sweep in one kernel, so the sensitivity solve runs once
(not once per row), checked against the closed form expm(A t) and central differences."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm

import compiler as cc
from compiler.runtime import derivatives, sweeps

A = np.array([[-0.5, 1.0, 0.0], [-1.0, -0.5, 0.2], [0.0, 0.3, -2.0]])
TS = np.linspace(0.0, 2.0, 5)


def linear(y, t, s):
    return cc.stack([s * sum(A[i, j] * y[j] for j in range(3)) for i in range(3)])


def _loops(nodes) -> int:
    """The loop nodes of a graph once custom functions are inlined (what the kernel runs)."""
    return sum(n.op == "scan" for n in cc.ir.topo_order(cc.ir.custom.lower(nodes)))


@pytest.fixture(scope="module")
def solve():
    y0, s = cc.Tensor("y0", (3,)), cc.Symbol("s")
    return cc.odeint(linear, y0, TS, s, method="dopri5", rtol=1e-11, atol=1e-12), y0, s


def test_rows_in_one_kernel_share_the_sensitivity_solve(solve):
    Y, y0, s = solve
    fn = cc.compile(Y[-1], [y0, s], backend="python")            # 3 outputs, 4 inputs: by rows
    start = np.array([1.0, -0.5, 2.0])
    J_y0, J_s = fn.jacobian(start, 1.0)
    np.testing.assert_allclose(J_y0, expm(A * 2.0), atol=1e-8)
    np.testing.assert_allclose(J_s, A @ expm(A * 2.0) @ start * 2.0, rtol=1e-7)   # d/ds expm(s A t) y0
    one_row = derivatives.vjp_function(fn)
    every_row = sweeps.jacobian_function(fn, True)
    assert len(every_row.outputs) == 3 * 2
    assert _loops(every_row.outputs) == _loops(one_row.outputs) > 0  # one solve, not three


def test_columns_in_one_kernel(solve):
    Y, y0, s = solve
    fn = cc.compile(Y, [y0, s], wrt=y0, backend="python")          # 15 outputs, 3 inputs: by columns
    start = np.array([1.0, -0.5, 2.0])
    J = fn.jacobian(start, 1.0)
    assert J.shape == (5, 3, 3)
    np.testing.assert_allclose(J, np.array([expm(A * t) for t in TS]), atol=1e-8)
    assert _loops(sweeps.jacobian_function(fn, False).outputs) <= _loops(derivatives.jvp_function(fn).outputs)


def test_hessian_of_tensor_parameters_in_one_kernel():
    p = cc.Tensor("p", (2,))
    ts = np.linspace(0.0, 2.0, 5)
    Y = cc.odeint(lambda y, t, a, b: cc.stack([y[1], -a * y[0] - b * y[1]]), cc.stack([1.0, 0.0]), ts, p[0], p[1],
                  method="dopri5", rtol=1e-11, atol=1e-12, derivatives=2)
    observed = np.stack([np.cos(1.3 * ts), -1.3 * np.sin(1.3 * ts)], axis=1)
    fn = cc.compile(cc.sum((Y - observed) ** 2), [p], wrt=p, backend="python")
    q = np.array([2.0, 0.3])
    H = fn.hessian(q)
    fd = np.array([(fn.grad(q + 1e-5 * e) - fn.grad(q - 1e-5 * e)) / 2e-5 for e in np.eye(2)])
    np.testing.assert_allclose(H, fd, rtol=1e-5, atol=1e-7)
    assert _loops(sweeps.hessian_function(fn).outputs) == _loops(derivatives.hvp_function(fn).outputs)
