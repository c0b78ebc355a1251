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


def test_a_derivative_that_turns_non_finite_mid_solve_warns():
    # y' = -k sqrt(y), y(0) = 1: y = (1 - k t / 2)^2 reaches 0 at t = 2/k, past which a step's stages
    # take the square root of a negative state: nan stages, rejected steps, a step below the floor
    fn, info = _compiled(lambda y, t, k: -k * cc.sqrt(y), [0.0, 1.0, 3.0], method="dopri5")
    with pytest.warns(cc.IntegrationWarning, match=r"floor at t = 2\b.*not finite"):
        y = fn(1.0)
    assert y[1] == pytest.approx(0.25, rel=1e-7) and np.isnan(y[2]) and info(1.0)[0] == 2.0


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


def robertson(y, t, k1, k2, k3):
    return cc.stack([-k1 * y[0] + k3 * y[1] * y[2], k1 * y[0] - k2 * y[1] ** 2 - k3 * y[1] * y[2],
                     k2 * y[1] ** 2])


ROB_K = np.array([0.04, 3e7, 1e4])
LATE_T = np.array([0.0, 1.0, 10.0, 1e3])  # to 1e3 the initial test says mild: 0.04 x 1e3 < 1000


def test_auto_hands_over_to_rodas4_where_the_problem_turns_stiff():
    from scipy.integrate import solve_ivp
    k = cc.Tensor("k", (3,))
    start = cc.stack([1.0, 0.0, 0.0])
    runs = {m: cc.odeint(robertson, start, LATE_T, k[0], k[1], k[2], method=m, rtol=1e-8, atol=1e-12,
                         max_steps=20_000, full_output=True) for m in ("auto", "dopri5")}
    fn = cc.compile([*runs["auto"], *runs["dopri5"]], [k], backend="python")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cc.IntegrationWarning)   # (Dormand–Prince alone fails, and says so)
        auto, (status, steps), explicit, (explicit_status, _) = fn(ROB_K)
    assert explicit_status == 1 and np.isnan(explicit[-1]).all()  # grinding: 20,000 steps do not reach 1e3
    ref = solve_ivp(lambda t, y: [-0.04 * y[0] + 1e4 * y[1] * y[2], 0.04 * y[0] - 3e7 * y[1] ** 2 - 1e4 * y[1] * y[2],
                                  3e7 * y[1] ** 2], (0.0, 1e3), [1.0, 0.0, 0.0], method="Radau", rtol=1e-12,
                    atol=1e-16, t_eval=LATE_T).y.T
    assert status == 0 and steps < 5000
    np.testing.assert_allclose(auto, ref, rtol=1e-5, atol=1e-11)
    # the sensitivities switch too (the augmented system is solved by "auto" as well)
    final = cc.compile(cc.odeint(robertson, start, LATE_T, k[0], k[1], k[2], rtol=1e-8, atol=1e-12)[-1, 2], [k],
                       backend="python")
    grad = _quiet(final.grad, ROB_K)[0]
    fd = np.array([(final(ROB_K * (1 + 1e-4 * e)) - final(ROB_K * (1 - 1e-4 * e))) / (2e-4) for e in np.eye(3)])
    np.testing.assert_allclose(grad * ROB_K, fd, rtol=1e-3, atol=1e-9)
