"""cc.odeint: values against closed forms and SciPy's solve_ivp at tight tolerances, sensitivities
against central differences (and JAX where installed), failures as nan with a status, bad input."""

from __future__ import annotations


import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

import compiler as cc

A_LIN = np.array([[-0.5, 1.0, 0.0], [-1.0, -0.5, 0.2], [0.0, 0.3, -2.0]])
LV_TRUE = np.array([1.1, 0.4, 0.1, 0.4])
LV_T = np.linspace(0.0, 15.0, 16)
ROB_K = np.array([0.04, 3e7, 1e4])
ROB_T = np.concatenate([[0.0], np.logspace(-5, 5, 6)])


def lotka_volterra(y, t, a, b, c, d):
    return cc.stack([a * y[0] - b * y[0] * y[1], c * y[0] * y[1] - d * y[1]])


def lv_numpy(t, y, a, b, c, d):
    return [a * y[0] - b * y[0] * y[1], c * y[0] * y[1] - d * y[1]]


def robertson(y, t, k1, k2, k3):
    return cc.stack([-k1 * y[0] + k3 * y[1] * y[2], k1 * y[0] - k2 * y[1] ** 2 - k3 * y[1] * y[2],
                     k2 * y[1] ** 2])


def rob_numpy(t, y, k1, k2, k3):
    return [-k1 * y[0] + k3 * y[1] * y[2], k1 * y[0] - k2 * y[1] ** 2 - k3 * y[1] * y[2], k2 * y[1] ** 2]


def central(f, p, eps):
    p = np.asarray(p, dtype=float)
    return np.array([(f(p + eps * e) - f(p - eps * e)) / (2 * eps) for e in np.eye(p.size)])


@pytest.mark.parametrize("method", ["dopri5", "rodas4"])
def test_exponential_decay_value_and_gradient(method):
    k = cc.Symbol("k")
    ts = np.array([0.0, 0.3, 1.0, 2.5])
    y = cc.odeint(lambda y, t, k: -k * y, 2.0, ts, k, method=method, rtol=1e-10, atol=1e-12)
    assert y.shape == (4,)
    fn = cc.compile(cc.sum(y * ts), [k], backend="python")
    exact = 2.0 * np.exp(-0.7 * ts)
    assert fn(0.7) == pytest.approx(np.sum(exact * ts), rel=1e-8)
    assert fn.grad(0.7)[0] == pytest.approx(np.sum(-ts * ts * exact), rel=1e-7)


@pytest.mark.parametrize("method", ["dopri5", "rodas4"])
def test_linear_system_against_expm(method):
    y0 = cc.Tensor("y0", (3,))
    ts = np.linspace(0.0, 3.0, 7)
    Y = cc.odeint(lambda y, t: cc.stack([sum(A_LIN[i, j] * y[j] for j in range(3)) for i in range(3)]), y0, ts,
                  method=method, rtol=1e-10, atol=1e-12)
    fn = cc.compile(Y, [y0], backend="python")
    start = np.array([1.0, -0.5, 2.0])
    exact = np.array([expm(A_LIN * t) @ start for t in ts])
    np.testing.assert_allclose(fn(start), exact, rtol=0, atol=2e-8)
    # the Jacobian of the final state with respect to y0 is expm(A T)
    last = cc.compile(Y[-1], [y0], backend="python")
    np.testing.assert_allclose(np.reshape(last.jacobian(start), (3, 3)), expm(A_LIN * 3.0), atol=1e-7)


@pytest.fixture(scope="module")
def lv_loss():
    p = cc.Tensor("p", (4,))
    y0 = cc.Tensor("y0", (2,))
    data = cc.Tensor("data", (LV_T.size, 2))
    Y = cc.odeint(lotka_volterra, y0, LV_T, p[0], p[1], p[2], p[3], method="dopri5", rtol=1e-10, atol=1e-10)
    return Y, cc.sum((Y - data) ** 2), [p, y0, data]


def lv_reference(p, y0):
    return solve_ivp(lv_numpy, (LV_T[0], LV_T[-1]), y0, method="DOP853", rtol=1e-13, atol=1e-13, t_eval=LV_T,
                     args=tuple(p)).y.T


def test_lotka_volterra_against_dop853(lv_loss):
    Y, _, inputs = lv_loss
    fn = cc.compile(Y, inputs[:2], backend="python")
    y0 = np.array([10.0, 5.0])
    np.testing.assert_allclose(fn(LV_TRUE, y0), lv_reference(LV_TRUE, y0), rtol=1e-7, atol=1e-8)


def test_lotka_volterra_gradient_against_central_differences(lv_loss):
    _, loss, inputs = lv_loss
    fn = cc.compile(loss, inputs, wrt=inputs[:2], backend="python")
    y0 = np.array([10.0, 5.0])
    data = lv_reference(LV_TRUE, y0) + 0.3
    gp, gy = fn.grad(LV_TRUE * 1.05, y0, data)
    fd_p = central(lambda q: fn(q, y0, data), LV_TRUE * 1.05, 1e-6)
    fd_y = central(lambda q: fn(LV_TRUE * 1.05, q, data), y0, 1e-5)
    np.testing.assert_allclose(gp, fd_p, rtol=2e-5)
    np.testing.assert_allclose(gy, fd_y, rtol=2e-5)


def test_gradient_with_respect_to_the_output_times():
    k = cc.Symbol("k")
    ts = cc.Tensor("ts", (4,))
    Y = cc.odeint(lambda y, t, k: cc.stack([y[1], -k * y[0] + cc.sin(t)]), cc.stack([1.0, 0.0]), ts, k,
                  rtol=1e-11, atol=1e-12, method="dopri5")
    fn = cc.compile(cc.sum(Y[:, 0] * np.array([1.0, 2.0, -1.0, 0.5])), [k, ts], backend="python")
    times = np.array([0.1, 0.7, 1.5, 2.0])
    _, g = fn.grad(1.3, times)
    np.testing.assert_allclose(g, central(lambda q: fn(1.3, q), times, 1e-6), rtol=1e-5, atol=1e-8)


def test_robertson_stiff_against_radau_and_sensitivities():
    k = cc.Tensor("k", (3,))
    Y = cc.odeint(robertson, cc.stack([1.0, 0.0, 0.0]), ROB_T, k[0], k[1], k[2], method="rodas4", rtol=1e-8,
                  atol=1e-12)
    fn = cc.compile(Y, [k], backend="python")
    ref = solve_ivp(rob_numpy, (0.0, ROB_T[-1]), [1.0, 0.0, 0.0], method="Radau", rtol=1e-12, atol=1e-16,
                    t_eval=ROB_T, args=tuple(ROB_K)).y.T
    np.testing.assert_allclose(fn(ROB_K), ref, rtol=1e-5, atol=1e-11)
    final = cc.compile(Y[-1, 0], [k], backend="python")
    grad = final.grad(ROB_K)[0]
    fd = central(lambda q: final(q * ROB_K) , np.ones(3), 1e-4) / ROB_K   # relative steps
    np.testing.assert_allclose(grad, fd, rtol=1e-3)


def test_auto_chooses_rodas_for_robertson_and_dopri_for_lotka_volterra():
    k1, k2, k3 = cc.symbols("k1 k2 k3")
    auto, info = cc.odeint(robertson, cc.stack([1.0, 0.0, 0.0]), ROB_T, k1, k2, k3, rtol=1e-8, atol=1e-12,
                           full_output=True)
    stiff = cc.odeint(robertson, cc.stack([1.0, 0.0, 0.0]), ROB_T, k1, k2, k3, method="rodas4", rtol=1e-8,
                      atol=1e-12)
    fn = cc.compile([auto, stiff, info], [k1, k2, k3], backend="python")
    a, s, (status, steps) = fn(*ROB_K)
    np.testing.assert_array_equal(a, s)
    assert status == 0 and 0 < steps < 2000
    a, b, c, d = cc.symbols("a b c d")
    auto = cc.odeint(lotka_volterra, cc.stack([10.0, 5.0]), LV_T, a, b, c, d)
    explicit = cc.odeint(lotka_volterra, cc.stack([10.0, 5.0]), LV_T, a, b, c, d, method="dopri5")
    fn = cc.compile([auto, explicit], [a, b, c, d], backend="python")
    x, y = fn(*LV_TRUE)
    np.testing.assert_array_equal(x, y)


@pytest.mark.filterwarnings("ignore::compiler.IntegrationWarning")  # (tests/test_ode_failures.py)
def test_failures_give_nan_from_the_failure_on_with_a_status():
    k = cc.Symbol("k")
    ts = np.array([0.0, 0.5, 0.9, 1.5, 2.0])
    # y' = k y^2, y(0) = 1 blows up at t = 1/k: the step falls below the floor
    Y, info = cc.odeint(lambda y, t, k: k * y * y, 1.0, ts, k, method="dopri5", full_output=True)
    fn = cc.compile([Y, info], [k], backend="python")
    y, (status, _) = fn(1.0)
    np.testing.assert_allclose(y[:3], 1.0 / (1.0 - ts[:3]), rtol=1e-6)
    assert np.all(np.isnan(y[3:])) and status == 2
    # a batch: a status per point (k = 0.1 blows up only at t = 10)
    ys, infos = fn(np.array([1.0, 0.1]))
    np.testing.assert_array_equal(infos[:, 0], [2.0, 0.0])
    assert np.all(np.isfinite(ys[1])) and np.isnan(ys[0, -1])
    # too few steps: status 1, nan from there
    Y, info = cc.odeint(lambda y, t, k: -k * y, 1.0, np.linspace(0, 10, 6), k, method="dopri5", max_steps=5,
                        full_output=True)
    y, (status, steps) = cc.compile([Y, info], [k], backend="python")(50.0)
    assert status == 1 and steps == 5 and np.isnan(y[-1]) and y[0] == 1.0
    # output times given as a tensor that do not increase: status 5 from there, no extrapolation
    ts = cc.Tensor("ts", (4,))
    Y, info = cc.odeint(lambda y, t, k: -k * y, 1.0, ts, k, method="dopri5", full_output=True)
    y, (status, _) = cc.compile([Y, info], [k, ts], backend="python")(1.0, np.array([0.0, 1.0, 0.5, 2.0]))
    assert y[1] == pytest.approx(np.exp(-1.0), rel=1e-7) and np.all(np.isnan(y[2:])) and status == 5
    # a non-finite initial state: status 3
    y, (status, _) = fn(np.nan)
    assert np.all(np.isnan(y[1:])) and status in (2, 3)


def test_bad_input_is_named():
    k = cc.Symbol("k")
    with pytest.raises(ValueError, match="increase strictly"):
        cc.odeint(lambda y, t, k: -k * y, 1.0, [0.0, 1.0, 1.0], k)
    with pytest.raises(cc.ShapeError, match="shape"):
        cc.odeint(lambda y, t, k: cc.stack([y, y]), 1.0, [0.0, 1.0], k)
    with pytest.raises(cc.TracingError, match="outside"):
        cc.odeint(lambda y, t: -k * y, 1.0, [0.0, 1.0])
    with pytest.raises(ValueError, match="method"):
        cc.odeint(lambda y, t: -y, 1.0, [0.0, 1.0], method="rk4")
    with pytest.raises(ValueError, match="rtol"):
        cc.odeint(lambda y, t: -y, 1.0, [0.0, 1.0], rtol=0.0)


def test_hessian_with_derivatives_2_against_differences_of_the_gradient():
    a, b = cc.symbols("a b")
    ts = np.linspace(0.0, 2.0, 5)
    Y = cc.odeint(lambda y, t, a, b: cc.stack([y[1], -a * y[0] - b * y[1]]), cc.stack([1.0, 0.0]), ts, a, b,
                  method="dopri5", rtol=1e-11, atol=1e-12, derivatives=2)
    observed = np.stack([np.cos(1.3 * ts), -1.3 * np.sin(1.3 * ts)], axis=1)   # a fit loss: misfit to data
    fn = cc.compile(cc.sum((Y - observed) ** 2), [a, b], backend="python")
    p = np.array([2.0, 0.3])
    H = fn.hessian(*p)
    fd = central(lambda q: np.array(fn.grad(*q)), p, 1e-5)
    np.testing.assert_allclose(H, fd, rtol=1e-5, atol=1e-7)
    _, along = fn.jvp(*p, v=(1.0, 0.5))                 # forward mode: the rule transposed
    assert along == pytest.approx(np.dot(fn.grad(*p), [1.0, 0.5]), rel=1e-10)
    once = cc.odeint(lambda y, t, a: -a * y, 1.0, ts, a, method="dopri5")
    with pytest.raises(cc.UnsupportedError, match="derivatives="):
        cc.compile(cc.sum(once), [a], backend="python").hessian(1.0)


@pytest.fixture(scope="module")
def decay_numba():
    k, y0 = cc.symbols("k y0")
    ts = np.linspace(0.0, 2.0, 5)
    Y = cc.odeint(lambda y, t, k: -k * y + cc.sin(t), y0, ts, k, method="dopri5", rtol=1e-10, atol=1e-12)
    loss = cc.sum(Y * Y)
    return (cc.compile(loss, [k, y0], backend="numba"), cc.compile(loss, [k, y0], backend="python"))


def test_numba_equals_python(decay_numba):
    nb, py = decay_numba
    v, g = nb.value_and_grad(0.8, 1.5)
    w, h = py.value_and_grad(0.8, 1.5)
    assert v == pytest.approx(w, rel=1e-12)
    np.testing.assert_allclose(g, h, rtol=1e-10)


def test_batches_equal_points():
    k, y0 = cc.symbols("k y0")
    Y = cc.odeint(lambda y, t, k: -k * y + cc.sin(t), y0, np.linspace(0.0, 2.0, 5), k, rtol=1e-10, atol=1e-12)
    fn = cc.compile(cc.sum(Y * Y), [k, y0], backend="python")
    ks, starts = np.array([0.5, 1.0, 1.5]), np.array([1.5, -0.5, 2.0])
    values, (dk, dy) = fn.value_and_grad(ks, starts)
    points = [fn.value_and_grad(a, b) for a, b in zip(ks, starts)]
    np.testing.assert_array_equal(values, [p[0] for p in points])
    np.testing.assert_array_equal(dk, [p[1][0] for p in points])
    np.testing.assert_array_equal(dy, [p[1][1] for p in points])


@pytest.mark.slow
def test_numba_batches_equal_points(decay_numba):
    nb, _ = decay_numba
    ks = np.linspace(0.5, 1.5, 4)
    values, (dk, dy) = nb.value_and_grad(ks, 1.5)
    points = [nb.value_and_grad(k, 1.5) for k in ks]
    np.testing.assert_allclose(values, [p[0] for p in points], rtol=1e-13)
    np.testing.assert_allclose(dk, [p[1][0] for p in points], rtol=1e-13)


def test_ode_bridge_for_solve_ivp_dense_and_sparse():
    mu = cc.Symbol("mu")
    y, t = cc.Tensor("y", (2,)), cc.Symbol("t")
    fn = cc.compile(cc.stack([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]]), [y, t, mu], backend="python")
    fun, jac = fn.ode(1000.0)
    state = np.array([2.0, -0.3])
    np.testing.assert_allclose(jac(0.0, state), central(lambda q: fun(0.0, q), state, 1e-6).T, rtol=1e-6)
    ours = solve_ivp(fun, (0.0, 100.0), [2.0, 0.0], method="Radau", jac=jac, rtol=1e-8, atol=1e-10)
    ref = solve_ivp(lambda t, y: [y[1], 1000.0 * (1 - y[0] ** 2) * y[1] - y[0]], (0.0, 100.0), [2.0, 0.0],
                    method="Radau", rtol=1e-8, atol=1e-10)
    assert ours.success and ours.y[0, -1] == pytest.approx(ref.y[0, -1], rel=1e-5)
    # diffusion on 12 cells: a tridiagonal Jacobian, given to SciPy as sparse
    u, D = cc.Tensor("u", (12,)), cc.Symbol("D")
    lap = cc.stack([D * ((u[i - 1] if i else 0.0) - 2 * u[i] + (u[i + 1] if i < 11 else 0.0)) for i in range(12)])
    heat = cc.compile(lap, [u, t, D], backend="python").ode(0.5, sparse=True)
    pattern = heat.jac_sparsity
    assert pattern.nnz == 12 + 2 * 11
    J = heat.jac(0.0, np.ones(12))
    assert J.format == "csc" and J[0, 0] == -1.0 and J[0, 1] == 0.5
    sol = solve_ivp(heat.fun, (0.0, 1.0), np.ones(12), method="BDF", jac=heat.jac, jac_sparsity=pattern)
    assert sol.success
    with pytest.raises(TypeError, match="parameter"):
        cc.compile(lap, [u, t, D], backend="python").ode()


@pytest.mark.slow
def test_gradient_against_jax_odeint():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    from jax.experimental.ode import odeint as jodeint
    import jax.numpy as jnp

    def f(y, t, p):
        return jnp.stack([p[0] * y[0] - p[1] * y[0] * y[1], p[2] * y[0] * y[1] - p[3] * y[1]])

    def loss(p, y0):
        return jnp.sum(jodeint(f, y0, jnp.asarray(LV_T), p, rtol=1e-11, atol=1e-11) ** 2)
    y0 = np.array([10.0, 5.0])
    jg = jax.grad(loss, argnums=(0, 1))(jnp.asarray(LV_TRUE), jnp.asarray(y0))
    p, y = cc.Tensor("p", (4,)), cc.Tensor("y0", (2,))
    Y = cc.odeint(lotka_volterra, y, LV_T, p[0], p[1], p[2], p[3], method="dopri5", rtol=1e-11, atol=1e-11)
    fn = cc.compile(cc.sum(Y ** 2), [p, y], backend="python")
    g = fn.grad(LV_TRUE, y0)
    assert fn(LV_TRUE, y0) == pytest.approx(float(loss(jnp.asarray(LV_TRUE), jnp.asarray(y0))), rel=1e-8)
    np.testing.assert_allclose(g[0], np.asarray(jg[0]), rtol=1e-6)
    np.testing.assert_allclose(g[1], np.asarray(jg[1]), rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("example", ["lotka_volterra_odeint.py", "robertson_fit.py"])
def test_examples_fit_their_parameters(example):
    import os
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root))
    done = subprocess.run([sys.executable, str(root / "examples" / example)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "fit in" in done.stdout


@pytest.mark.slow
def test_bench_ode_suite_runs_quick():
    from compiler.bench import SUITES
    rows = SUITES["ode"].run(True, lambda: None)
    # "auto": every case on the llvm target (its loops; tensor arguments included)
    assert {r.method for r in rows} >= {"cc.odeint dopri5 (llvm)", "cc.odeint rodas4 (llvm) value",
                                        "cc.odeint rodas4 (llvm) jacobian"}
    assert all(r.seconds is None or r.seconds > 0 for r in rows)


@pytest.mark.slow
def test_robertson_sensitivities_against_casadi_cvodes():
    ca = pytest.importorskip("casadi")
    x, q = ca.SX.sym("x", 3), ca.SX.sym("q", 3)
    ode = ca.vertcat(-q[0] * x[0] + q[2] * x[1] * x[2], q[0] * x[0] - q[1] * x[1] ** 2 - q[2] * x[1] * x[2],
                     q[1] * x[1] ** 2)
    integ = ca.integrator("I", "cvodes", {"x": x, "p": q, "ode": ode}, 0.0, 1e4,
                          {"reltol": 1e-11, "abstol": 1e-15, "max_num_steps": 1_000_000})
    P = ca.MX.sym("P", 3)
    xf = integ(x0=ca.DM([1.0, 0.0, 0.0]), p=P)["xf"]
    final, jac = ca.Function("J", [P], [xf, ca.jacobian(xf, P)])(ROB_K)
    k = cc.Tensor("k", (3,))
    Y = cc.odeint(robertson, cc.stack([1.0, 0.0, 0.0]), [0.0, 1e4], k[0], k[1], k[2], method="rodas4", rtol=1e-10,
                  atol=1e-14)
    fn = cc.compile(Y[-1], [k], backend="python")
    np.testing.assert_allclose(fn(ROB_K), np.asarray(final).ravel(), rtol=1e-7, atol=1e-14)
    np.testing.assert_allclose(np.reshape(fn.jacobian(ROB_K), (3, 3)), np.asarray(jac), rtol=1e-5, atol=1e-18)
