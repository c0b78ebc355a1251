"""One measurement of the graphs suite, in a fresh process: ``python -m compiler.bench.worker ROUTE OPS``.

Prints one JSON line: the seconds to build the graph, to ``cc.compile`` it, of
the first ``value_and_grad`` call (together: the time to first gradient), until
compiled code answers (``fn.wait()``), and per call after that; the value, and
the number of gradient statements. Times start after the imports.
"""

from __future__ import annotations

import json
import sys
import time


def measure(route: str, n_ops: int, repeats: int, min_time: float) -> dict:
    import numpy as np

    from .common import timed
    from .graphs import random_graph, random_graph_casadi
    point = list(np.linspace(0.1, 0.8, 8))
    if route == "casadi":
        import casadi as ca
        t0 = time.perf_counter()
        out, x = random_graph_casadi(n_ops)
        t1 = time.perf_counter()
        F = ca.Function("f", [x], [out, ca.gradient(out, x)])
        t2 = time.perf_counter()
        value = float(F(point)[0])
        t3 = time.perf_counter()
        per_call = timed({"c": lambda: F(point)}, repeats, min_time)["c"][0]
        return {"build": t1 - t0, "compile": t2 - t1, "first": t3 - t2, "ttfg": t3 - t0, "ready": 0.0,
                "per_call": per_call, "value": value, "statements": None}
    import compiler as cc
    backend, options = {"auto": ("auto", {}), "llvm": ("llvm", {}), "vm": ("vm", {}),
                        "numba": ("numba", {}), "numba-naive": ("numba", {"max_statements": None})}[route]
    t0 = time.perf_counter()
    out, xs = random_graph(n_ops)
    t1 = time.perf_counter()
    fn = cc.compile(out, xs, backend=backend, progress=False, **options)
    t2 = time.perf_counter()
    value = fn.value_and_grad(*point)[0]
    t3 = time.perf_counter()
    fn.wait()
    t4 = time.perf_counter()
    per_call = timed({"c": lambda: fn.value_and_grad(*point)}, repeats, min_time)["c"][0]
    return {"build": t1 - t0, "compile": t2 - t1, "first": t3 - t2, "ttfg": t3 - t0, "ready": t4 - t3,
            "per_call": per_call, "value": value,
            "statements": len(fn.plan["value_and_grad"].statements), "backend": fn.backend}


def main(argv: list[str]) -> int:
    route, n_ops = argv[0], int(argv[1])
    repeats, min_time = (int(argv[2]), float(argv[3])) if len(argv) > 3 else (7, 0.1)
    print(json.dumps(measure(route, n_ops, repeats, min_time)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
