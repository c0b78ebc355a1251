"""NLP suite: an optimal control problem solved by IPOPT, from this library and from CasADi; and
repeat solves of Hock-Schittkowski problems and chained Rosenbrock (``nlp_repeat``).

The van der Pol problem: ``x1' = (1 - x2^2) x1 - x2 + u``, ``x2' = x1`` on ``[0, 10]``,
``x1 >= -0.25``, ``|u| <= 1``, ``x(0) = (0, 1)``, minimising the integral of
``x1^2 + x2^2 + u^2``, by trapezoidal collocation on ``N`` = 100, 1,000, 10,000 intervals
(100 and 1,000 with ``--quick``): ``3 (N + 1)`` variables, ``2 N`` equality constraints.

Side by side, each in this process after a warm-up solve of ``N = 10`` (imports and
first-use costs of each library left out), the same IPOPT options:

* this library, ``backend="auto"``: the expression to the solution (graph, ``cc.nlp``,
  sparsity, colouring, the callbacks answered by NumPy while nothing is compiled);
* this library, ``backend="numba"``, the same problem solved again (its kernels and C
  callbacks made by the first: what a parameter sweep or a receding-horizon controller pays
  per solve; the median of ``AGAIN`` solves, time and callbacks per iteration, the solvers taking
  turns with CasADi's: ``nlp_repeat.compared``), through IPOPT's
  C interface (the native driver: its callbacks on the llvm or the Numba route) and, for
  reference, through cyipopt;
* CasADi: ``SX`` graph + ``nlpsol("ipopt")`` (its symbolic Hessian of the Lagrangian and VM)
  to the solution; and the same solver called again (the median of ``AGAIN`` calls);
* JAX, the pattern of cyipopt's own example: ``jit`` of dense ``grad``/``jacfwd``/``hessian``
  fed to ``cyipopt.minimize_ipopt``, where the dense matrices are small (``N = 100``).

Each row reports the total time, IPOPT's own time (the solve minus the callbacks), the
callbacks per iteration (this library: the first call of each callback left out, it may
compile or load a kernel; CasADi: its own ``t_wall_nlp_*`` statistics) and the iteration
count; the objectives must agree to 1e-8 (JAX through ``minimize_ipopt``: 1e-6) and the
iterations to one.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import compiler as cc

from . import nlp_repeat
from .common import BenchmarkError, MismatchError, Row, fmt_time, optional, package_version, table as markdown_table

SUITE = "nlp"
T_END = 10.0
OPTIONS = {"tol": 1e-8, "linear_solver": "mumps", "print_level": 0, "sb": "yes",
           "hessian_approximation": "exact"}
JAX_MAX_N = 100  # JAX's dense Hessian and Jacobian are fed to IPOPT up to this N


def sizes(quick: bool) -> list[int]:
    return [100, 1_000] if quick else [100, 1_000, 10_000]


def steps(quick: bool) -> int:
    return len(sizes(quick)) + 2  # and the repeat solves (nlp_repeat): Hock-Schittkowski, Rosenbrock


def van_der_pol(N: int, backend: str = "auto"):
    """``(problem, x0, lb, ub)`` of the van der Pol problem with ``N`` intervals, as ``cc.nlp``."""
    h = T_END / N
    x1, x2, u = cc.Tensor("x1", (N + 1,)), cc.Tensor("x2", (N + 1,)), cc.Tensor("u", (N + 1,))
    f1, f2 = (1 - x2 ** 2) * x1 - x2 + u, x1
    cost = x1 ** 2 + x2 ** 2 + u ** 2
    objective = h / 2 * cc.sum(cost[1:] + cost[:-1])
    defects = [x1[1:] - x1[:-1] - h / 2 * (f1[1:] + f1[:-1]), x2[1:] - x2[:-1] - h / 2 * (f2[1:] + f2[:-1])]
    problem = cc.nlp(objective, [x1, x2, u], g=defects, backend=backend)
    return (problem, *bounds(N, problem.variables.flatten))


def bounds(N: int, flatten):
    """``x0, lb, ub`` of the flat vector ``(x1, x2, u)``."""
    lb = flatten([np.r_[0.0, np.full(N, -0.25)], np.r_[1.0, np.full(N, -np.inf)], -1.0])
    ub = flatten([np.r_[0.0, np.full(N, np.inf)], np.r_[1.0, np.full(N, np.inf)], 1.0])
    return np.clip(flatten([0.0, 1.0, 0.0]), lb, ub), lb, ub


def _flatten(values, N: int) -> np.ndarray:
    return np.concatenate([np.broadcast_to(np.asarray(v, dtype=float), (N + 1,)) for v in values])


def van_der_pol_casadi(ca, N: int):
    h = T_END / N
    x1, x2, u = ca.SX.sym("x1", N + 1), ca.SX.sym("x2", N + 1), ca.SX.sym("u", N + 1)
    f1, f2 = (1 - x2 ** 2) * x1 - x2 + u, x1
    cost = x1 ** 2 + x2 ** 2 + u ** 2
    objective = h / 2 * ca.sum1(cost[1:] + cost[:-1])
    g = ca.vertcat(x1[1:] - x1[:-1] - h / 2 * (f1[1:] + f1[:-1]), x2[1:] - x2[:-1] - h / 2 * (f2[1:] + f2[:-1]))
    return ca.nlpsol("solver", "ipopt", {"x": ca.vertcat(x1, x2, u), "f": objective, "g": g},
                     {"ipopt": dict(OPTIONS), "print_time": False})


AGAIN = 7  # repeat solves of the same problem, interleaved: their median time and callbacks per iteration


def _ours(N: int, backend: str) -> dict:
    """The expression to the solution (graph, ``cc.nlp``, sparsity, colouring, the solve)."""
    t0 = time.perf_counter()
    problem, x0, lb, ub = van_der_pol(N, backend)
    result = problem.solve(x0, lb=lb, ub=ub, options=OPTIONS)
    return {**_measured(result), "total": time.perf_counter() - t0, "x": result.x}


def _measured(result) -> dict:
    return {"ipopt": result.solve_seconds - sum(result.callback_seconds.values()),
            "per_iteration": result.steady_callback_seconds, "iterations": result.iterations,
            "objective": result.fun, "status": result.status, "x": result.x}


def _again(ca, N: int) -> dict:
    """The same problem solved again, ``AGAIN`` times: this library's native and cyipopt drivers
    (``backend="numba"``, after a first solve that makes or loads the kernels and callbacks) and,
    when installed, CasADi's solver (after its expression-to-solution first call), taking turns
    (``nlp_repeat.compared``). Each run's medians; CasADi's ``expression`` to its first solution."""
    problem, x0, lb, ub = van_der_pol(N, "numba")
    first = {}
    calls: dict = {}
    for driver in ("native", "cyipopt"):
        solve = (lambda d=driver: problem.solve(x0, lb=lb, ub=ub, options=OPTIONS, driver=d))
        t0 = time.perf_counter()
        solve()
        first[driver] = time.perf_counter() - t0
        calls[driver] = (solve, _measured)
    if ca is not None:
        t0 = time.perf_counter()
        solver = van_der_pol_casadi(ca, N)
        cx0, clb, cub = bounds(N, lambda v: _flatten(v, N))
        solver(x0=cx0, lbx=clb, ubx=cub, lbg=0, ubg=0)
        first["casadi"] = time.perf_counter() - t0
        calls["casadi"] = (lambda: solver(x0=cx0, lbx=clb, ubx=cub, lbg=0, ubg=0),
                           nlp_repeat.casadi_stats(solver))
    runs = {}
    for name, (times, _, extras) in nlp_repeat.compared(calls, AGAIN).items():
        if name == "casadi":  # (IPOPT's own time: the call's, as ours, less its callbacks')
            extras = [{**e, "ipopt": t - e["callbacks"]} for t, e in zip(times, extras)]
        runs[name] = {**extras[-1], "first": first[name], "total": statistics.median(times), "times": times,
                      "ipopt": statistics.median(e["ipopt"] for e in extras),
                      "per_iteration": statistics.median(e["per_iteration"] for e in extras)}
    made = problem.__dict__.get("_native") or {}
    runs["native"]["route"] = next((c.route for c in made.values()), None)
    return runs


def _jax(jax, cyipopt, N: int) -> dict:
    jnp = jax.numpy
    h = T_END / N

    def split(z):
        return z[:N + 1], z[N + 1:2 * N + 2], z[2 * N + 2:]

    def objective(z):
        x1, x2, u = split(z)
        cost = x1 ** 2 + x2 ** 2 + u ** 2
        return h / 2 * jnp.sum(cost[1:] + cost[:-1])

    def defects(z):
        x1, x2, u = split(z)
        f1, f2 = (1 - x2 ** 2) * x1 - x2 + u, x1
        return jnp.concatenate([x1[1:] - x1[:-1] - h / 2 * (f1[1:] + f1[:-1]),
                                x2[1:] - x2[:-1] - h / 2 * (f2[1:] + f2[:-1])])

    t0 = time.perf_counter()
    fun, grad, hess = jax.jit(objective), jax.jit(jax.grad(objective)), jax.jit(jax.hessian(objective))
    con, con_jac = jax.jit(defects), jax.jit(jax.jacfwd(defects))
    con_hess = jax.jit(lambda z, v: jax.hessian(lambda y: jnp.dot(defects(y), v))(z))
    x0, lb, ub = bounds(N, lambda v: _flatten(v, N))
    seconds = {"callbacks": 0.0}

    def timed(f):
        def call(*args):
            t = time.perf_counter()
            out = np.asarray(f(*args))
            seconds["callbacks"] += time.perf_counter() - t
            return out
        return call
    constraint = {"type": "eq", "fun": timed(con), "jac": timed(con_jac), "hess": timed(con_hess)}
    options = {k: v for k, v in OPTIONS.items() if k != "sb"}
    t1 = time.perf_counter()
    result = cyipopt.minimize_ipopt(timed(fun), x0, jac=timed(grad), hess=timed(hess), constraints=[constraint],
                                    bounds=list(zip(lb, ub)), options=options)
    end = time.perf_counter()
    iterations = int(result.nit)
    return {"total": end - t0, "ipopt": (end - t1) - seconds["callbacks"],
            "per_iteration": seconds["callbacks"] / max(iterations, 1), "iterations": iterations,
            "objective": float(result.fun), "x": np.asarray(result.x), "status": int(result.status)}


def run(quick: bool, progress) -> list[Row]:
    cyipopt = optional("cyipopt")
    if cyipopt is None or not cc.nlp_info().native:
        raise BenchmarkError('the nlp suite runs IPOPT (natively and through cyipopt): '
                             'pip install "adjoint-compiler[solvers]"')
    ca, jax = optional("casadi"), optional("jax")
    _ours(10, "auto"), _again(ca, 10)  # warm-up: imports, Numba's start, CasADi's plugin
    if jax is not None:
        _jax(jax, cyipopt, 10)
    rows: list[Row] = []
    for N in sizes(quick):
        case = f"van der Pol, N={N:,} ({3 * (N + 1):,} variables, {2 * N:,} constraints)"
        auto = _ours(N, "auto")  # (first: a structure not in the disk cache starts through cyipopt)
        again = _again(ca, N)
        runs = {"compiler (auto), expression to solution": auto,
                "compiler (numba, native driver), the same problem solved again": again["native"],
                "compiler (numba, cyipopt driver), the same problem solved again": again["cyipopt"]}
        if ca is not None:
            theirs = again["casadi"]
            runs["CasADi (SX + nlpsol), expression to solution"] = {**theirs, "total": theirs["first"]}
            runs["CasADi, the same solver called again"] = again["casadi"]
        if jax is not None and N <= JAX_MAX_N:
            runs["JAX jit, dense derivatives + cyipopt.minimize_ipopt"] = _jax(jax, cyipopt, N)
        reference = runs["compiler (auto), expression to solution"]
        for method, r in runs.items():
            gap = _agree(case, method, reference, r, 1e-6 if method.startswith("JAX") else 1e-8)
            note = f"status {r['status']}" + (f"; objective {gap:.1e} relative from this library's" if gap else "")
            if method.startswith("compiler (numba"):
                note += f"; its first solve (kernels compiled or loaded) {fmt_time(r['first'])}"
                note += f"; median of {AGAIN} solves" + (f"; callbacks: {r['route']} route" if r.get("route") else "")
                if ca is not None and "native" in method:
                    ratio = nlp_repeat.paired_ratio(r["times"], again["casadi"]["times"])
                    note += f"; {ratio:.2f}x CasADi's time (interleaved)"
            rows.append(Row(SUITE, case, method, r["total"], N, note=note,
                            extra={k: r[k] for k in ("ipopt", "per_iteration", "iterations", "objective")}))
        if jax is not None and N > JAX_MAX_N:
            n, m = 3 * (N + 1), 2 * N
            rows.append(Row(SUITE, case, "JAX jit, dense derivatives + cyipopt.minimize_ipopt", None, N,
                            note=f"not run: dense Hessian {n:,} x {n:,} and Jacobian {m:,} x {n:,} to IPOPT"))
        progress()
    rows += nlp_repeat.hock_schittkowski(ca)
    progress()
    rows += nlp_repeat.rosenbrock(ca)
    progress()
    return rows


def _agree(case: str, method: str, reference: dict, other: dict, rtol: float) -> float:
    """The relative gap between the objectives; raises beyond ``rtol`` or one iteration apart."""
    f0, f1 = reference["objective"], other["objective"]
    gap = abs(f1 - f0) / abs(f0)
    if gap > rtol or abs(other["iterations"] - reference["iterations"]) > 1:
        raise MismatchError(f"{case}: {method} ends at objective {f1!r} in {other['iterations']} iterations, "
                            f"this library at {f0!r} in {reference['iterations']}")
    return gap


def table(rows: list[Row]) -> str:
    body = []
    for case in dict.fromkeys(r.case for r in rows):
        for r in [r for r in rows if r.case == case]:
            e = r.extra or {}
            body.append([case, r.method, fmt_time(r.seconds), fmt_time(e.get("ipopt")),
                         fmt_time(e.get("per_iteration")), str(e.get("iterations", "-")),
                         f"{e['objective']:.10g}" if "objective" in e else "-", r.note])
            case = ""
    info = cc.nlp_info()
    versions = (f"this library's native driver: {info.library}; its cyipopt driver and JAX: cyipopt-wheels "
                f"{package_version('cyipopt-wheels') or '?'} (IPOPT 3.14.11); CasADi "
                f"{package_version('casadi') or '-'} calls its own IPOPT build")
    return markdown_table(["case", "method", "total", "IPOPT's own time", "callbacks per iteration", "iterations",
                           "objective", "note"], body) + "\n" + versions
