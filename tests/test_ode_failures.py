"""A failed odeint in a one-point call: nan from the failure on and an IntegrationWarning naming the
failure and the time reached (each failure kind); batches give the status per point, and do not warn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import compiler as cc

K = cc.Symbol("k")


def _compiled(rhs, ts, **options):
    Y, info = cc.odeint(rhs, 1.0, ts, K, full_output=True, **options)
    return cc.compile(Y, [K], backend="python"), cc.compile(info, [K], backend="python")


def _quiet(call, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call(*args)


def test_step_below_the_floor_warns_with_the_time_reached():
    # y' = k y^2, y(0) = 1 blows up at t = 1/k
    fn, info = _compiled(lambda y, t, k: k * y * y, [0.0, 0.5, 1.5], method="dopri5")
    with pytest.warns(cc.IntegrationWarning, match=r"step size fell below its floor at t = 1\b") as caught:
        y = fn(1.0)
    assert len(caught) == 1 and np.isnan(y[2]) and y[1] == pytest.approx(2.0, rel=1e-7)
    assert info(1.0)[0] == 2.0
    assert _quiet(fn, 0.5)[2] == pytest.approx(1.0 / (1.0 - 0.75), rel=1e-7)   # no failure: no warning
    ys = _quiet(fn, np.array([1.0, 0.5]))                                       # a batch: no warning
    assert np.isnan(ys[0, 2]) and np.isfinite(ys[1, 2])
    np.testing.assert_array_equal(info(np.array([1.0, 0.5]))[:, 0], [2.0, 0.0])  # the status per point


def test_max_steps_used_up_warns_with_the_count():
    fn, info = _compiled(lambda y, t, k: -k * y, np.linspace(0.0, 10.0, 6), method="dopri5", max_steps=5)
    with pytest.warns(cc.IntegrationWarning, match=r"max_steps was used up \(5 attempted steps\) at t = "):
        y = fn(50.0)
    assert y[0] == 1.0 and np.isnan(y[-1]) and info(50.0)[0] == 1.0


def test_non_finite_start_warns():
    fn, _ = _compiled(lambda y, t, k: -k * y, [0.0, 1.0], method="rodas4")
    with pytest.warns(cc.IntegrationWarning, match="initial state or its derivative is not finite"):
        assert np.isnan(fn(np.inf)[1])


def test_output_times_not_increasing_warns():
    ts = cc.Tensor("ts", (3,))
    Y = cc.odeint(lambda y, t, k: -k * y, 1.0, ts, K, method="dopri5")
    fn = cc.compile(Y, [K, ts], backend="python")
    with pytest.warns(cc.IntegrationWarning, match=r"output times do not increase .*had reached t = "):
        y = fn(1.0, np.array([0.0, 1.0, 0.5]))
    assert y[1] == pytest.approx(np.exp(-1.0), rel=1e-7) and np.isnan(y[2])


def test_gradients_and_jacobians_of_a_failed_solve_warn_too():
    Y = cc.odeint(lambda y, t, k: k * y * y, 1.0, [0.0, 0.5, 1.5], K, method="dopri5")
    fn = cc.compile(cc.sum(Y), [K], backend="python")
    with pytest.warns(cc.IntegrationWarning, match="floor"):
        value, (g,) = fn.value_and_grad(1.0)
    assert np.isnan(value) and np.isnan(g)
    with pytest.warns(cc.IntegrationWarning, match="floor"):
        assert np.isnan(fn.grad(1.0)[0])
    value, (g,) = _quiet(fn.value_and_grad, 0.2)                 # y = 1/(1 - k t): d/dk sum = sum t/(1-kt)^2
    assert g == pytest.approx(sum(t / (1 - 0.2 * t) ** 2 for t in (0.5, 1.5)), rel=1e-7)
    vec = cc.compile(Y[1:], [K], backend="python")
    with pytest.warns(cc.IntegrationWarning, match="floor"):
        assert np.isnan(vec.jacobian(1.0)).any()
