"""The compile suite's loop models: the cold compile of a loop's value and gradient, in a fresh process.

    python -m compiler.bench.compile_loops MODEL ROUTE [REPEATS [MIN_TIME]]

MODEL is one of ``MODELS``: ``lorenz`` (RK4 on the Lorenz system as one ``cc.scan`` of
``LORENZ_T`` steps, the squared misfit against data as its ys, summed; gradient in the 3
rates and the 3 initial values) or ``lotka-volterra`` (``cc.odeint`` Dormand–Prince, 151
output times, rtol = atol = 1e-10, the squared misfit against data; gradient in the 4 rates
and the 2 initial populations) or ``lotka-volterra-tensor`` (the ODE suite's fit as it is written
there: the 6 parameters one ``cc.Tensor`` and the data a ``(151, 2)`` tensor input) or ``mlp`` (not a
loop: the README's MLP 2-64-64-1 step of ``bench.mlp``, its data as constants, gradient in the 6
weight tensors). ROUTE is ``llvm``, ``numba``
(``backend="numba"``: what "auto" picked for loops before the llvm target compiled them) or
``jax`` (``jax.jit(jax.value_and_grad)``: ``lax.scan``, ``jax.experimental.ode.odeint``).

Prints one JSON line: seconds to build the graph, of the first ``value_and_grad`` call
(compile included), their sum (``ttfg``, after the imports), the median per call after that,
the value and the gradient. The data are constants of the graph (the inputs are the 6 numbers),
except in ``lotka-volterra-tensor``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

MODELS = ("lorenz", "lotka-volterra", "lotka-volterra-tensor", "mlp")
ROUTES = ("llvm", "numba", "jax")
LORENZ_T = 1_000


def _data(model: str) -> np.ndarray:
    """The observations the misfit is taken against (made before the clock starts)."""
    if model == "lorenz":
        from .loops import data
        return data(LORENZ_T)
    if model == "mlp":
        from .mlp import _data as mlp_data
        return mlp_data(np.random.default_rng(0))
    from .ode_suite import _lv_data
    return _lv_data()


def _lorenz(cc, observed):
    from .loops import misfit, point, rk4
    sigma, rho, beta, x0, y0, z0 = params = cc.symbols("sigma rho beta x0 y0 z0")

    def step(state, row):
        new = rk4(state, sigma, rho, beta)
        return new, misfit(new, row)
    _, ys = cc.scan(step, (x0, y0, z0), xs=observed)
    return cc.sum(ys), list(params), point()


def _lorenz_jax(jax, observed):
    from .loops import misfit, point, rk4
    jnp = jax.numpy
    observed = jnp.asarray(observed)

    def loss(q):
        def step(state, row):
            new = rk4(state, q[0], q[1], q[2])
            return new, misfit(new, row)
        _, ys = jax.lax.scan(step, (q[3], q[4], q[5]), observed)
        return jnp.sum(ys)
    return loss, point()


def _mlp(cc, observed):
    from .mlp import _forward
    weights, X, y = observed
    params = [cc.Tensor(f"{'W' if k % 2 == 0 else 'b'}{k // 2 + 1}", w.shape) for k, w in enumerate(weights)]
    return cc.mean((_forward(params, X, cc.tanh) - y) ** 2), params, weights


def _mlp_jax(jax, observed):
    from .mlp import _forward
    weights, X, y = observed
    return (lambda q: jax.numpy.mean((_forward(q, X, jax.numpy.tanh) - y) ** 2)), weights


def _lotka_volterra(cc, observed):
    from .ode_suite import LV_P, LV_T, _lv
    p = list(cc.symbols("a b c d x0 y0"))
    Y = cc.odeint(_lv, cc.stack([p[4], p[5]]), LV_T, *p[:4], method="dopri5", rtol=1e-10, atol=1e-10)
    return cc.sum((Y - observed) ** 2), p, list(LV_P * 0.95)


def _lotka_volterra_tensor(cc, observed):
    """The ODE suite's fit: value and gradient in a tensor of 6 parameters, the data an input."""
    from .ode_suite import LV_P, LV_T, _lv
    p, data = cc.Tensor("p", (6,)), cc.Tensor("observed", observed.shape)
    Y = cc.odeint(_lv, cc.stack([p[4], p[5]]), LV_T, p[0], p[1], p[2], p[3], method="dopri5", rtol=1e-10,
                  atol=1e-10)
    return cc.sum((Y - data) ** 2), [p, data], [LV_P * 0.95, observed], [p]


def _lotka_volterra_jax(jax, observed):
    from jax.experimental.ode import odeint

    from .ode_suite import LV_P, LV_T
    jnp = jax.numpy
    observed, times = jnp.asarray(observed), jnp.asarray(LV_T)

    def f(s, t, q):
        return jnp.stack([q[0] * s[0] - q[1] * s[0] * s[1], q[2] * s[0] * s[1] - q[3] * s[1]])

    def loss(q):
        return jnp.sum((odeint(f, q[4:], times, q, rtol=1e-10, atol=1e-10) - observed) ** 2)
    return loss, list(LV_P * 0.95)


def measure(model: str, route: str, repeats: int, min_time: float) -> dict:
    from .common import measure as time_calls
    observed = _data(model)
    if route == "jax":
        from .common import optional
        jax = optional("jax")  # float64, CPU
        make = {"lorenz": _lorenz_jax, "mlp": _mlp_jax}.get(model, _lotka_volterra_jax)  # (the tensor fit's JAX is the same)
        t0 = time.perf_counter()
        loss, x0 = make(jax, observed)
        vg = jax.jit(jax.value_and_grad(loss))
        q = [jax.numpy.asarray(w) for w in x0] if model == "mlp" else jax.numpy.asarray(x0)
        t1 = time.perf_counter()
        value, grad = jax.block_until_ready(vg(q))
        t2 = time.perf_counter()
        call = lambda: jax.block_until_ready(vg(q))  # noqa: E731
        backend, statements = f"jax {jax.__version__}", None
    else:
        import compiler as cc
        t0 = time.perf_counter()
        make = {"lorenz": _lorenz, "lotka-volterra": _lotka_volterra,
                "lotka-volterra-tensor": _lotka_volterra_tensor, "mlp": _mlp}[model]
        out, inputs, x0, *wrt = make(cc, observed)
        fn = cc.compile(out, inputs, wrt=wrt[0] if wrt else None, backend=route, progress=False)
        t1 = time.perf_counter()
        value, grad = fn.value_and_grad(*x0)
        t2 = time.perf_counter()
        call = lambda: fn.value_and_grad(*x0)  # noqa: E731
        backend, statements = fn.backend, len(fn.plan["value_and_grad"].statements)
    timing = time_calls({"call": call}, repeats, min_time)["call"]
    return {"model": model, "route": route, "build": t1 - t0, "first": t2 - t1, "ttfg": t2 - t0,
            "per_call": timing.median, "timing": timing.as_dict(), "value": float(value),
            "grad": [float(g) for g in np.concatenate([np.ravel(g) for g in grad])], "backend": backend,
            "statements": statements}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m compiler.bench.compile_loops",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=MODELS)
    parser.add_argument("route", choices=ROUTES)
    parser.add_argument("repeats", type=int, nargs="?", default=5)
    parser.add_argument("min_time", type=float, nargs="?", default=0.05, help="seconds per repeat, at least")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.model, args.route, args.repeats, args.min_time)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
