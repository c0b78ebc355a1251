"""ODE suite: ``cc.odeint`` beside JAX's ``odeint``, CasADi's CVODES and SciPy's ``solve_ivp``.

    python -m compiler bench ode [--quick]

Cases (medians over interleaved repeats; the first call, mostly the compile, apart and
with the compiled-code cache off, so that it is a cold compile). Every ``cc.odeint`` function
compiles with ``backend="auto"``, which picks the llvm target for its loops
(``$COMPILER_BENCH_ODE_BACKEND=numba`` for Numba's, as before):

* ``lotka-volterra fit``: the squared misfit over 151 output times (rtol = atol = 1e-10),
  value and gradient in the 4 rates and the 2 initial populations: ``cc.odeint``
  (Dormand–Prince, forward sensitivities) beside ``jax.jit(value_and_grad)`` of
  ``jax.experimental.ode.odeint`` (Dormand–Prince, adjoint). Goal: faster per call,
  compile under 1 s;
* ``robertson``: the stiff kinetics to t = 1e5 (rtol 1e-8, atol 1e-12), the final state,
  and the final state with its Jacobian in the 3 rate constants: ``cc.odeint`` (Rodas4)
  beside CasADi's ``integrator`` (CVODES, forward sensitivities). Goal: faster;
* ``one solve``: Lotka–Volterra, one solve (151 outputs, rtol 1e-10): ``cc.odeint``
  beside ``solve_ivp`` (RK45 and DOP853) with a ``numba.njit`` right-hand side. Goal: 20x;
* ``batch``: the same solve at 10^4 parameter sets (10^3 with ``--quick``) in one call
  beside a loop of ``solve_ivp`` (DOP853) calls, timed on 50 of them and scaled.
"""

from __future__ import annotations

import os
import time

import numpy as np

import compiler as cc

from .common import MismatchError, Row, measure, optional

SUITE = "ode"
LV_T = np.linspace(0.0, 15.0, 151)
LV_P = np.array([1.1, 0.4, 0.1, 0.4, 10.0, 5.0])
ROB_K = np.array([0.04, 3e7, 1e4])
ROB_END = 1e5
#: the backend of every ``cc.odeint`` function here: "auto" (llvm: its loops compile in under a second);
#: ``$COMPILER_BENCH_ODE_BACKEND=numba`` measures Numba's compile beside it (what "auto" ran before)
BACKEND = os.environ.get("COMPILER_BENCH_ODE_BACKEND", "auto")


def steps(quick: bool) -> int:
    return 4


def _row(case, method, timing, size, ready, note="", **extra) -> Row:
    return Row(SUITE, case, method, timing.median if timing is not None else None, size, ready,
               timing.spread if timing is not None else None, note, extra)


def _cold(call, *args):
    """``call(*args)`` and its seconds, with the compiled-code cache off (a cold compile)."""
    before = os.environ.get("COMPILER_CACHE")
    os.environ["COMPILER_CACHE"] = "off"
    try:
        t0 = time.perf_counter()
        out = call(*args)
        return out, time.perf_counter() - t0
    finally:
        if before is None:
            del os.environ["COMPILER_CACHE"]
        else:
            os.environ["COMPILER_CACHE"] = before


def _close(what, reference, candidate, rtol):
    reference, candidate = np.asarray(reference, float), np.asarray(candidate, float)
    if reference.shape != candidate.shape or not np.allclose(candidate, reference, rtol=rtol, atol=0):
        raise MismatchError(f"{what}: the methods disagree beyond a relative {rtol:g}: {reference} {candidate}")


def _lv(y, t, a, b, c, d):
    return cc.stack([a * y[0] - b * y[0] * y[1], c * y[0] * y[1] - d * y[1]])


def _lv_data() -> np.ndarray:
    from scipy.integrate import solve_ivp
    a, b, c, d, x, y = LV_P
    sol = solve_ivp(lambda t, s: [a * s[0] - b * s[0] * s[1], c * s[0] * s[1] - d * s[1]], (0, 15), [x, y],
                    method="DOP853", rtol=1e-12, atol=1e-12, t_eval=LV_T)
    return sol.y.T + np.random.default_rng(0).normal(0.0, 0.3, (LV_T.size, 2))


def _fit(repeats, min_time) -> list[Row]:
    data = _lv_data()
    start = LV_P * 0.95
    p, observed = cc.Tensor("p", (6,)), cc.Tensor("observed", (LV_T.size, 2))
    t0 = time.perf_counter()
    Y = cc.odeint(_lv, cc.stack([p[4], p[5]]), LV_T, p[0], p[1], p[2], p[3], method="dopri5", rtol=1e-10,
                  atol=1e-10)
    # "auto": the llvm target compiles its loops (``codegen.llvm_loops``; Numba took 26-58 s cold)
    fn = cc.compile(cc.sum((Y - observed) ** 2), [p, observed], wrt=[p], backend=BACKEND)
    build = time.perf_counter() - t0
    (value, (grad,)), ready = _cold(fn.value_and_grad, start, data)
    cases = {"cc": lambda: fn.value_and_grad(start, data)}
    jax_row = None
    try:
        jax = optional("jax")
        from jax.experimental.ode import odeint as jodeint
        jnp = jax.numpy

        def f(s, t, q):
            return jnp.stack([q[0] * s[0] - q[1] * s[0] * s[1], q[2] * s[0] * s[1] - q[3] * s[1]])

        def loss(q, obs):
            return jnp.sum((jodeint(f, q[4:], jnp.asarray(LV_T), q, rtol=1e-10, atol=1e-10) - obs) ** 2)
        vg = jax.jit(jax.value_and_grad(loss))
        jstart, jdata = jnp.asarray(start), jnp.asarray(data)
        t0 = time.perf_counter()
        jv, jg = jax.block_until_ready(vg(jstart, jdata))
        jax_ready = time.perf_counter() - t0
        _close("fit value (jax)", float(jv), value, 1e-6)
        _close("fit gradient (jax)", np.asarray(jg), grad, 1e-4)
        cases["jax odeint (jit value_and_grad)"] = lambda: jax.block_until_ready(vg(jstart, jdata))
        jax_row = (f"jax {jax.__version__}", jax_ready)
    except Exception as exc:  # noqa: BLE001 - a missing peer is reported, not fatal
        jax_row = (f"jax: not run ({type(exc).__name__}: {exc})", None)
    t = measure(cases, repeats, min_time)
    case = f"lotka-volterra fit: value and gradient in 6 parameters, {LV_T.size} output times, rtol=atol=1e-10"
    rows = []
    ours = t["cc"]
    note = f"build {build:.2f} s"
    if "jax odeint (jit value_and_grad)" in t:
        ratio = t["jax odeint (jit value_and_grad)"].ratio_to(ours)
        note += f"; {ratio:.2f}x faster than JAX per call (goal > 1x; compile goal < 1 s)"
    rows.append(_row(case, f"cc.odeint dopri5 ({fn.backend})", ours, LV_T.size, ready, note))
    if jax_row[1] is not None:
        rows.append(_row(case, jax_row[0], t["jax odeint (jit value_and_grad)"], LV_T.size, jax_row[1]))
    else:
        rows.append(_row(case, jax_row[0], None, LV_T.size, None))
    return rows


def _robertson(repeats, min_time) -> list[Row]:
    k = cc.Tensor("k", (3,))

    def rhs(y, t, k1, k2, k3):
        return cc.stack([-k1 * y[0] + k3 * y[1] * y[2], k1 * y[0] - k2 * y[1] ** 2 - k3 * y[1] * y[2],
                         k2 * y[1] ** 2])
    Y = cc.odeint(rhs, cc.stack([1.0, 0.0, 0.0]), [0.0, ROB_END], k[0], k[1], k[2], method="rodas4", rtol=1e-8,
                  atol=1e-12)
    final = cc.compile(Y[-1], [k], backend=BACKEND)
    value, ready = _cold(final, ROB_K)
    jac, jac_ready = _cold(final.jacobian, ROB_K)
    cases = {"cc value": lambda: final(ROB_K), "cc jacobian": lambda: final.jacobian(ROB_K)}
    rows_peer = []
    try:
        ca = optional("casadi")
        x, p = ca.SX.sym("x", 3), ca.SX.sym("p", 3)
        ode = ca.vertcat(-p[0] * x[0] + p[2] * x[1] * x[2], p[0] * x[0] - p[1] * x[1] ** 2 - p[2] * x[1] * x[2],
                         p[1] * x[1] ** 2)
        t0 = time.perf_counter()
        integ = ca.integrator("I", "cvodes", {"x": x, "p": p, "ode": ode}, 0.0, ROB_END,
                              {"reltol": 1e-8, "abstol": 1e-12, "max_num_steps": 100000})
        P = ca.MX.sym("P", 3)
        xf = integ(x0=ca.DM([1.0, 0.0, 0.0]), p=P)["xf"]
        with_jac = ca.Function("J", [P], [xf, ca.jacobian(xf, P)])
        plain = ca.Function("F", [P], [xf])
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        cv = np.asarray(plain(ROB_K)).ravel()
        first = time.perf_counter() - t0
        cj = np.asarray(with_jac(ROB_K)[1])
        _close("robertson final state (casadi)", cv, value, 1e-5)
        _close("robertson jacobian (casadi)", cj[:, :], np.reshape(jac, (3, 3)), 1e-3)
        cases["casadi value"] = lambda: plain(ROB_K)
        cases["casadi jacobian"] = lambda: with_jac(ROB_K)
        rows_peer.append((f"casadi {ca.__version__} cvodes", first, build))
    except Exception as exc:  # noqa: BLE001
        rows_peer.append((f"casadi: not run ({type(exc).__name__}: {exc})", None, None))
    t = measure(cases, repeats, min_time)
    case = "robertson to t=1e5 (rtol 1e-8, atol 1e-12): final state, and with its 3x3 Jacobian in the rates"
    rows = []
    for what in ("value", "jacobian"):
        note = ""
        if f"casadi {what}" in t:
            ratio = t[f"casadi {what}"].ratio_to(t[f"cc {what}"])
            note = f"{ratio:.2f}x faster than CVODES (goal > 1x)"
        rows.append(_row(case, f"cc.odeint rodas4 ({final.backend}) {what}", t[f"cc {what}"], 3, ready if what == "value"
                         else jac_ready, note))
        name, first, build = rows_peer[0]
        rows.append(_row(case, f"{name} {what}", t.get(f"casadi {what}"), 3, first if what == "value" else None,
                         f"build {build:.2f} s" if build is not None else ""))
    return rows


def _scipy(quick, repeats, min_time) -> list[Row]:
    import numba
    from scipy.integrate import solve_ivp

    @numba.njit
    def f(t, s, a, b, c, d):
        out = np.empty(2)
        out[0] = a * s[0] - b * s[0] * s[1]
        out[1] = c * s[0] * s[1] - d * s[1]
        return out
    q = cc.Tensor("q", (6,))
    Y = cc.odeint(_lv, cc.stack([q[4], q[5]]), LV_T, q[0], q[1], q[2], q[3], method="dopri5", rtol=1e-10,
                  atol=1e-10)
    fn = cc.compile(Y, [q], backend=BACKEND, wrt=[])
    ours, ready = _cold(fn, LV_P)

    def scipy_solve(method, p):
        return solve_ivp(f, (0.0, 15.0), p[4:], method=method, rtol=1e-10, atol=1e-10, t_eval=LV_T,
                         args=tuple(p[:4])).y.T
    _close("one solve (scipy)", scipy_solve("DOP853", LV_P), ours, 1e-6)
    t = measure({"cc": lambda: fn(LV_P), "RK45": lambda: scipy_solve("RK45", LV_P),
                 "DOP853": lambda: scipy_solve("DOP853", LV_P)}, repeats, min_time)
    case = f"one solve: lotka-volterra, {LV_T.size} output times, rtol=atol=1e-10"
    rows = [_row(case, f"cc.odeint dopri5 ({fn.backend})", t["cc"], 1, ready,
                 f"{t['RK45'].ratio_to(t['cc']):.0f}x RK45, {t['DOP853'].ratio_to(t['cc']):.0f}x DOP853 "
                 "(goal 20x)")]
    rows += [_row(case, f"solve_ivp {m}, numba rhs", t[m], 1, None) for m in ("RK45", "DOP853")]
    # a batch of parameter sets in one call, against a loop of solve_ivp calls (timed on 50, scaled)
    sets = 1_000 if quick else 10_000
    ps = LV_P * np.random.default_rng(1).uniform(0.9, 1.1, (sets, 6))
    batch, batch_ready = _cold(fn, ps)
    _close("batch (scipy)", np.array([scipy_solve("DOP853", p) for p in ps[:3]]), batch[:3], 1e-6)
    t = measure({"cc": lambda: fn(ps)}, max(1, repeats // 2), min_time)
    t0 = time.perf_counter()
    for p in ps[:50]:
        scipy_solve("DOP853", p)
    loop = (time.perf_counter() - t0) / 50 * sets
    case = f"batch: {sets:,} parameter sets, the same solve"
    rows.append(_row(case, f"cc.odeint dopri5 ({fn.backend}, parallel loop)", t["cc"], sets, batch_ready,
                     f"{loop / t['cc'].median:.0f}x the solve_ivp loop"))
    rows.append(Row(SUITE, case, "solve_ivp DOP853 loop (50 timed, scaled)", loop, sets))
    return rows


def run(quick: bool, progress) -> list[Row]:
    repeats, min_time = (3, 0.1) if quick else (7, 0.3)
    rows = _fit(repeats, min_time)
    progress()
    rows += _robertson(repeats, min_time)
    progress()
    rows += _scipy(quick, repeats, min_time)
    progress()
    progress()
    return rows
