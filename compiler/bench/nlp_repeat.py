"""The nlp suite's repeat solves: Hock–Schittkowski problems and chained Rosenbrock, this library
(native IPOPT driver, and the cyipopt driver for reference) beside CasADi + IPOPT.

Each problem is made and solved once by each (kernels compiled or loaded, CasADi's solver
built), then solved again ``REPEATS`` times from the same start, our native driver and CasADi
taking turns (``compared``: a change in the shared machine's load falls on both alike; timed one
after the other, CasADi's median of 5 solves of van der Pol N = 100 was 5.86 ms in one run and
10.4 ms in another, ours 7.88 and 8.05 ms; the cyipopt driver is timed on its own): the median
of those is what a parameter sweep or a receding-horizon controller pays per solve, and the ratio to
CasADi's is the median of the paired ratios of each round. The objectives must agree to
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

REPEATS = 31          # solves of each small problem, after the first (rounds taken in turns)
ROSENBROCK_N = 1_000  # variables of the chained Rosenbrock function
ROSENBROCK_ITERATIONS_APART = 5  # of its ~1,500 iterations (1,477 against CasADi's 1,479 measured)
OPTIONS = {"tol": 1e-8, "print_level": 0, "sb": "yes"}


def interleaved(solves: dict, repeats: int) -> dict:
    """``name -> (seconds of each call, last result, what after gave of each)`` for ``solves``
    (``name -> call`` or ``(call, after)``: ``call()`` is timed, ``after(result)`` runs untimed
    right after it, e.g. to read a solver's statistics): ``repeats`` rounds in which each is
    called once, in turn, the order rotated every round, so that each sees the machine's load
    of the same moments and none always follows the same other.

    >>> out = interleaved({"a": lambda: 1, "b": (lambda: 2, lambda r: r * 10)}, 3)
    >>> [len(out[k][0]) for k in "ab"], out["b"][1:]
    ([3, 3], (2, [20, 20, 20]))
    """
    names = list(solves)
    out: dict = {name: ([], None, []) for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            call, after = solves[name] if isinstance(solves[name], tuple) else (solves[name], None)
            t0 = time.perf_counter()
            result = call()
            seconds = time.perf_counter() - t0
            times, _, extras = out[name]
            times.append(seconds)
            if after is not None:
                extras.append(after(result))
            out[name] = (times, result, extras)
    return out


def compared(calls: dict, repeats: int) -> dict:
    """``interleaved`` for our native driver and CasADi's solver (``"native"``, ``"casadi"``),
    then each other call on its own: the cyipopt driver's IPOPT is another build (its code and
    MUMPS), after which the caches are cold for whichever solve comes next. (Taking turns three
    ways, CasADi's solve followed it twice as often as ours: the Hock-Schittkowski median came
    to 0.90x CasADi's time, against 0.96x two ways in the next run.)"""
    pair = {k: v for k, v in calls.items() if k in ("native", "casadi")}
    out = interleaved(pair, repeats)
    for name in calls.keys() - pair.keys():
        out[name] = interleaved({name: calls[name]}, repeats)[name]
    return out


def paired_ratio(ours: list, theirs: list) -> float:
    """The median over interleaved rounds of ours / theirs (less moved by the load than a
    ratio of medians)."""
    return statistics.median(a / b for a, b in zip(ours, theirs))


def _first(solve) -> float:
    t0 = time.perf_counter()
    solve()
    return time.perf_counter() - t0


def casadi_stats(solver):
    """What to read after each call of CasADi's ``solver`` (``interleaved``'s ``after``): its
    iterations, objective, solution, status and the time of its callbacks (``t_wall_nlp_*``)."""
    def after(out) -> dict:
        stats = solver.stats()
        callbacks = sum(v for k, v in stats.items() if k.startswith("t_wall_nlp_"))
        iterations = int(stats["iter_count"])
        return {"iterations": iterations, "objective": float(out["f"]), "callbacks": callbacks,
                "x": np.asarray(out["x"]).ravel(),
                "per_iteration": callbacks / max(iterations, 1), "status": stats["return_status"]}
    return after


def _repeat(problem, x0, bounds: dict, solver, casadi_bounds: dict, repeats: int, cyipopt: bool = True) -> dict:
    """Our native driver, our cyipopt driver (``cyipopt``) and CasADi's ``solver`` (None: not
    installed): each solved once (its ``first``), then ``repeats`` times interleaved."""
    def ours(driver: str):
        return lambda: problem.solve(x0, **bounds, options=OPTIONS, driver=driver)
    calls = {"native": ours("native")} | ({"cyipopt": ours("cyipopt")} if cyipopt else {})
    if solver is not None:
        calls["casadi"] = (lambda: solver(x0=x0, **casadi_bounds), casadi_stats(solver))
    first = {name: _first(c[0] if isinstance(c, tuple) else c) for name, c in calls.items()}
    out = compared(calls, repeats)
    runs = {}
    for name, (times, r, extras) in out.items():
        if name == "casadi":
            runs[name] = {**extras[-1], "total": statistics.median(times), "first": first[name], "times": times}
        else:
            runs[name] = {"total": statistics.median(times), "first": first[name], "iterations": r.iterations,
                          "objective": r.fun, "per_iteration": r.steady_callback_seconds, "status": r.status,
                          "times": times}
    return runs


def _check(case: str, ours: dict, theirs: dict, iterations_apart: int = 0) -> None:
    f0, f1 = ours["objective"], theirs["objective"]
    if abs(f1 - f0) > max(1e-8 * abs(f0), 1e-12) or abs(ours["iterations"] - theirs["iterations"]) > iterations_apart:
        raise MismatchError(f"{case}: CasADi ends at {f1!r} in {theirs['iterations']} iterations, "
                            f"this library at {f0!r} in {ours['iterations']}")


NATIVE, CYIPOPT, CASADI = ("compiler (numba, native IPOPT driver), repeat solve",
                           "compiler (numba, cyipopt driver), repeat solve", "CasADi (SX + nlpsol), repeat solve")


def _rows(case: str, size: int, runs: dict) -> list[Row]:
    rows = []
    casadi = runs.get(CASADI)
    for method, r in runs.items():
        note = f"status {r['status']}; first solve {fmt_time(r['first'])}"
        if casadi is not None and method == NATIVE:
            note += f"; {paired_ratio(r['times'], casadi['times']):.2f}x CasADi's time (interleaved)"
        elif casadi is not None and method != CASADI:
            note += f"; {r['total'] / casadi['total']:.2f}x CasADi's time (timed apart)"
        rows.append(Row("nlp", case, method, r["total"], size, note=note,
                        extra={k: r[k] for k in ("per_iteration", "iterations", "objective")}
                        | {"ipopt": None}))
    return rows


def _named(runs: dict) -> dict:
    return {{"native": NATIVE, "cyipopt": CYIPOPT, "casadi": CASADI}[k]: v for k, v in runs.items()}


def hock_schittkowski(ca) -> list[Row]:
    """Every problem of ``hock_schittkowski.PROBLEMS``, and a row of the median ratio to CasADi."""
    rows, ratios = [], []
    for name, hs in PROBLEMS.items():
        case = f"Hock-Schittkowski {name} (n={hs.n}, m={hs.m})"
        solver = hs.casadi(ca, OPTIONS) if ca is not None else None
        runs = _named(_repeat(hs.nlp("numba"), list(hs.x0), hs.bounds(), solver, hs.casadi_bounds(), REPEATS))
        if solver is not None:
            _check(case, runs[NATIVE], runs[CASADI])
            ratios.append(paired_ratio(runs[NATIVE]["times"], runs[CASADI]["times"]))
        rows += _rows(case, hs.n, runs)
    if ratios:
        rows.append(Row("nlp", f"Hock-Schittkowski, {len(ratios)} problems", "median of this library's time / "
                        "CasADi's (native driver)", None, note=f"median {statistics.median(ratios):.2f}x, "
                        f"range {min(ratios):.2f}x-{max(ratios):.2f}x (each the median of {REPEATS} interleaved "
                        "pairs)"))
    return rows


def rosenbrock(ca, n: int = ROSENBROCK_N) -> list[Row]:
    """The chained Rosenbrock function of ``n`` variables from (-1.2, 1, -1.2, 1, ...), unconstrained."""
    x = cc.Tensor("x", (n,))
    problem = cc.nlp(cc.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2), x, backend="numba")
    x0 = np.where(np.arange(n) % 2 == 0, -1.2, 1.0)
    case = f"chained Rosenbrock, n={n:,} (unconstrained)"
    solver = None
    if ca is not None:
        z = ca.SX.sym("x", n)
        f = ca.sum1(100 * (z[1:] - z[:-1] ** 2) ** 2 + (1 - z[:-1]) ** 2)
        solver = ca.nlpsol("rosenbrock", "ipopt", {"x": z, "f": f}, {"ipopt": dict(OPTIONS), "print_time": False})
    runs = _named(_repeat(problem, x0, {}, solver, {}, 3, cyipopt=False))
    if solver is not None:
        # ~1,500 iterations: rounding in the derivatives (summed in another order) moves the count a little
        _check(case, runs[NATIVE], runs[CASADI], ROSENBROCK_ITERATIONS_APART)
    return _rows(case, n, runs)
