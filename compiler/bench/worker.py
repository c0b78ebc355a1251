"""One measurement of the compile suite, in a fresh process.

    python -m compiler.bench.worker ROUTE OPS [REPEATS [MIN_TIME]] [--seed S]

ROUTE is one of ``ROUTES``. Prints one JSON line: the seconds to build the
random graph, to ``cc.compile`` it (CasADi: ``gradient`` then ``Function``),
of the first ``value_and_grad`` call, and their sum, the time to first
gradient (``ttfg``, counted from after the imports); then the seconds until every
entry point runs compiled code (``fn.wait()`` after the first call:
``ready``), the time per call after that (every repeat), the value and the
gradient (of the first call and of the compiled code), the number of gradient
statements and the backend that compiled them. The cache directory is the
caller's (``$COMPILER_CACHE_DIR``): cold or warm is its choice.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

# route -> (backend, options of cc.compile); "casadi" is CasADi's SX, not this library
ROUTES = {
    "auto": ("auto", {}),
    "llvm": ("llvm", {}),
    "vm": ("vm", {}),
    "numba": ("numba", {}),
    "numba-naive": ("numba", {"max_statements": None}),
    "casadi": (None, {}),
}


def point(n_inputs: int) -> list[float]:
    """The fixed point every route is called at (plain floats: what a user passes)."""
    return [0.1 + 0.7 * i / max(1, n_inputs - 1) for i in range(n_inputs)]


def measure(route: str, n_ops: int, repeats: int, min_time: float, seed: int = 0) -> dict:
    from .common import measure as time_calls
    from .graphs import N_INPUTS, random_graph, random_graph_casadi
    if route == "casadi":
        import casadi as ca
    else:
        import compiler as cc
    x0 = point(N_INPUTS)

    if route == "casadi":
        t0 = time.perf_counter()
        out, x = random_graph_casadi(n_ops, seed)
        t1 = time.perf_counter()
        grad = ca.gradient(out, x)
        t2 = time.perf_counter()
        F = ca.Function("f", [x], [out, grad])
        t3 = time.perf_counter()
        v, g = F(x0)
        t4 = time.perf_counter()
        value, gradient = float(v), [float(c) for c in g.full().ravel()]
        timing = time_calls({"call": lambda: F(x0)}, repeats, min_time)["call"]
        return {"route": route, "ops": n_ops, "build": t1 - t0, "gradient": t2 - t1,
                "function": t3 - t2, "compile": t3 - t1, "first": t4 - t3, "ttfg": t4 - t0, "ready": 0.0,
                "per_call": timing.median, "timing": timing.as_dict(), "value": value, "grad": gradient,
                "value_compiled": value, "grad_compiled": gradient, "statements": None,
                "backend": f"casadi {ca.__version__} SX"}

    backend, options = ROUTES[route]
    t0 = time.perf_counter()
    out, xs = random_graph(n_ops, seed)
    t1 = time.perf_counter()
    fn = cc.compile(out, xs, backend=backend, progress=False, **options)
    t2 = time.perf_counter()
    value, gradient = fn.value_and_grad(*x0)
    t3 = time.perf_counter()
    compiled_at_first = fn.ready
    fn.wait()
    t4 = time.perf_counter()
    value_compiled, grad_compiled = fn.value_and_grad(*x0)
    timing = time_calls({"call": lambda: fn.value_and_grad(*x0)}, repeats, min_time)["call"]
    return {"route": route, "ops": n_ops, "build": t1 - t0, "compile": t2 - t1,
            "first": t3 - t2, "ttfg": t3 - t0, "ready": t4 - t3, "compiled_at_first_call": compiled_at_first,
            "per_call": timing.median, "timing": timing.as_dict(), "value": value, "grad": list(gradient),
            "value_compiled": value_compiled, "grad_compiled": list(grad_compiled),
            "statements": len(fn.plan["value_and_grad"].statements), "backend": fn.backend}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m compiler.bench.worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("route", choices=list(ROUTES))
    parser.add_argument("ops", type=int)
    parser.add_argument("repeats", type=int, nargs="?", default=7)
    parser.add_argument("min_time", type=float, nargs="?", default=0.1, help="seconds per repeat, at least")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.route, args.ops, args.repeats, args.min_time, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
