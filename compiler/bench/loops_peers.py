"""The loops suite's peers: the same RK4 loss as JAX's ``lax.scan`` and CasADi's ``mapaccum``,
built and timed in the child process that ``loops.measure`` runs.

Each returns ``{"build", "first", "first_forward", "timing", "value", "grad", "forward_value",
"backend"}`` as the compiler's methods do.
"""

from __future__ import annotations

import time

import numpy as np

from .common import optional
from .loops import _time, data, misfit, point, rk4


def run_jax(T: int, repeats: int, min_time: float) -> dict:
    jax = optional("jax")  # float64, CPU
    jnp = jax.numpy
    observed, p = jnp.asarray(data(T)), jnp.asarray(point())

    t0 = time.perf_counter()

    def loss(q, observed):
        sigma, rho, beta = q[0], q[1], q[2]

        def step(state, row):
            new = rk4(state, sigma, rho, beta)
            return new, misfit(new, row)
        _, ys = jax.lax.scan(step, (q[3], q[4], q[5]), observed)
        return jnp.sum(ys)
    value_and_grad, forward = jax.jit(jax.value_and_grad(loss)), jax.jit(loss)
    t1 = time.perf_counter()
    value, grad = jax.block_until_ready(value_and_grad(p, observed))
    t2 = time.perf_counter()
    forward_value = jax.block_until_ready(forward(p, observed))
    t3 = time.perf_counter()
    timing = _time({"grad": lambda: jax.block_until_ready(value_and_grad(p, observed)),
                    "forward": lambda: jax.block_until_ready(forward(p, observed))}, repeats, min_time)
    return {"build": t1 - t0, "first": t2 - t1, "first_forward": t3 - t2, "timing": timing,
            "value": float(value), "grad": [float(g) for g in np.asarray(grad)],
            "forward_value": float(forward_value), "backend": f"jax {jax.__version__}"}


def run_casadi(T: int, repeats: int, min_time: float) -> dict:
    import casadi as ca
    observed, p = ca.DM(data(T).T), ca.DM(point())  # converted once: no copy per call
    t0 = time.perf_counter()
    q, state, row = ca.SX.sym("q", 6), ca.SX.sym("state", 3), ca.SX.sym("row", 3)
    new = rk4((state[0], state[1], state[2]), q[0], q[1], q[2])
    step = ca.Function("step", [state, row, q], [ca.vertcat(*new), misfit(new, (row[0], row[1], row[2]))])
    steps_ = step.mapaccum("steps", T, [0], [0])  # the state accumulates; rows mapped; q repeated
    Q, D = ca.MX.sym("Q", 6), ca.MX.sym("D", 3, T)
    _, ys = steps_(Q[3:], D, Q)
    L = ca.sum2(ys)
    value_and_grad = ca.Function("value_and_grad", [Q, D], [L, ca.gradient(L, Q)])
    forward = ca.Function("value", [Q, D], [L])
    t1 = time.perf_counter()
    value, grad = value_and_grad(p, observed)
    t2 = time.perf_counter()
    forward_value = forward(p, observed)
    t3 = time.perf_counter()
    timing = _time({"grad": lambda: value_and_grad(p, observed), "forward": lambda: forward(p, observed)},
                   repeats, min_time)
    return {"build": t1 - t0, "first": t2 - t1, "first_forward": t3 - t2, "timing": timing,
            "value": float(value), "grad": [float(g) for g in np.asarray(grad).ravel()],
            "forward_value": float(forward_value), "backend": f"casadi {ca.__version__} (SX/MX VM)"}
