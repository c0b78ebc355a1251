"""The nlp suite's repeat solves: Hock–Schittkowski problems and chained Rosenbrock, this library
(native IPOPT driver, and the cyipopt driver for reference) beside CasADi + IPOPT.

Each problem is made and solved once by each (kernels compiled or loaded, CasADi's solver
built), then solved again ``REPEATS`` times from the same start: the median of those is what a
parameter sweep or a receding-horizon controller pays per solve. The objectives must agree to
1e-8 (relative, or 1e-12 absolute at an optimum of 0) and the iteration counts exactly
(Rosenbrock's ~1,500: within ``ROSENBROCK_ITERATIONS_APART``).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import compiler as cc

from .common import MismatchError, Row, fmt_time
from .hock_schittkowski import PROBLEMS

REPEATS = 15          # solves of each small problem, after the first
ROSENBROCK_N = 1_000  # variables of the chained Rosenbrock function
ROSENBROCK_ITERATIONS_APART = 5  # of its ~1,500 iterations (1,477 against CasADi's 1,479 measured)
OPTIONS = {"tol": 1e-8, "print_level": 0, "sb": "yes"}


def _median_solve(solve, repeats: int):
    """``(median seconds, last result)`` of ``repeats`` calls of ``solve()``."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = solve()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def _ours(problem, x0, bounds: dict, driver: str, repeats: int) -> dict:
    t0 = time.perf_counter()
    problem.solve(x0, **bounds, options=OPTIONS, driver=driver)
    first = time.perf_counter() - t0
    seconds, r = _median_solve(lambda: problem.solve(x0, **bounds, options=OPTIONS, driver=driver), repeats)
    return {"total": seconds, "first": first, "iterations": r.iterations, "objective": r.fun,
            "per_iteration": r.steady_callback_seconds, "status": r.status}


def _theirs(solver, x0, bounds: dict, repeats: int) -> dict:
    t0 = time.perf_counter()
    solver(x0=x0, **bounds)
    first = time.perf_counter() - t0
    seconds, out = _median_solve(lambda: solver(x0=x0, **bounds), repeats)
    stats = solver.stats()
    callbacks = sum(v for k, v in stats.items() if k.startswith("t_wall_nlp_"))
    iterations = int(stats["iter_count"])
    return {"total": seconds, "first": first, "iterations": iterations, "objective": float(out["f"]),
            "per_iteration": callbacks / max(iterations, 1), "status": stats["return_status"]}


def _check(case: str, ours: dict, theirs: dict, iterations_apart: int = 0) -> None:
    f0, f1 = ours["objective"], theirs["objective"]
    if abs(f1 - f0) > max(1e-8 * abs(f0), 1e-12) or abs(ours["iterations"] - theirs["iterations"]) > iterations_apart:
        raise MismatchError(f"{case}: CasADi ends at {f1!r} in {theirs['iterations']} iterations, "
                            f"this library at {f0!r} in {ours['iterations']}")


def _rows(case: str, size: int, runs: dict) -> list[Row]:
    rows = []
    casadi = runs.get("CasADi (SX + nlpsol), repeat solve")
    for method, r in runs.items():
        note = f"status {r['status']}; first solve {fmt_time(r['first'])}"
        if casadi is not None and method != "CasADi (SX + nlpsol), repeat solve":
            note += f"; {r['total'] / casadi['total']:.2f}x CasADi's time"
        rows.append(Row("nlp", case, method, r["total"], size, note=note,
                        extra={k: r[k] for k in ("per_iteration", "iterations", "objective")}
                        | {"ipopt": None}))
    return rows


def hock_schittkowski(ca) -> list[Row]:
    """Every problem of ``hock_schittkowski.PROBLEMS``, and a row of the median ratio to CasADi."""
    rows, ratios = [], []
    for name, hs in PROBLEMS.items():
        case = f"Hock-Schittkowski {name} (n={hs.n}, m={hs.m})"
        problem = hs.nlp("numba")
        runs = {"compiler (numba, native IPOPT driver), repeat solve":
                _ours(problem, list(hs.x0), hs.bounds(), "native", REPEATS),
                "compiler (numba, cyipopt driver), repeat solve":
                _ours(problem, list(hs.x0), hs.bounds(), "cyipopt", REPEATS)}
        if ca is not None:
            theirs = _theirs(hs.casadi(ca, OPTIONS), list(hs.x0), hs.casadi_bounds(), REPEATS)
            _check(case, runs["compiler (numba, native IPOPT driver), repeat solve"], theirs)
            runs["CasADi (SX + nlpsol), repeat solve"] = theirs
            ratios.append(runs["compiler (numba, native IPOPT driver), repeat solve"]["total"] / theirs["total"])
        rows += _rows(case, hs.n, runs)
    if ratios:
        rows.append(Row("nlp", f"Hock-Schittkowski, {len(ratios)} problems", "median of this library's time / "
                        "CasADi's (native driver)", None, note=f"median {statistics.median(ratios):.2f}x, "
                        f"range {min(ratios):.2f}x-{max(ratios):.2f}x"))
    return rows


def rosenbrock(ca, n: int = ROSENBROCK_N) -> list[Row]:
    """The chained Rosenbrock function of ``n`` variables from (-1.2, 1, -1.2, 1, ...), unconstrained."""
    x = cc.Tensor("x", (n,))
    problem = cc.nlp(cc.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2), x, backend="numba")
    x0 = np.where(np.arange(n) % 2 == 0, -1.2, 1.0)
    case = f"chained Rosenbrock, n={n:,} (unconstrained)"
    runs = {"compiler (numba, native IPOPT driver), repeat solve": _ours(problem, x0, {}, "native", 3)}
    if ca is not None:
        z = ca.SX.sym("x", n)
        f = ca.sum1(100 * (z[1:] - z[:-1] ** 2) ** 2 + (1 - z[:-1]) ** 2)
        solver = ca.nlpsol("rosenbrock", "ipopt", {"x": z, "f": f}, {"ipopt": dict(OPTIONS), "print_time": False})
        theirs = _theirs(solver, x0, {}, 3)
        # ~1,500 iterations: rounding in the derivatives (summed in another order) moves the count a little
        _check(case, runs["compiler (numba, native IPOPT driver), repeat solve"], theirs, ROSENBROCK_ITERATIONS_APART)
        runs["CasADi (SX + nlpsol), repeat solve"] = theirs
    return _rows(case, n, runs)
