"""IPOPT through cyipopt: the callbacks object, bounds checks, and the result.

IPOPT comes from the ``solvers`` extra (``pip install "adjoint-compiler[solvers]"``,
the ``cyipopt-wheels`` package). Every callback is timed, so a result says how
much of the solve was spent computing derivatives; a callback that produces a
non-finite number is recorded (IPOPT itself backtracks from such points).

>>> import pytest; _ = pytest.importorskip("cyipopt")
>>> import compiler as cc
>>> x = cc.Tensor("x", (2,))
>>> problem = cc.nlp((x[0] - 1) ** 2 + (x[1] - 2) ** 2, x, g=[x[0] + x[1]], backend="python")
>>> result = problem.solve([0.0, 0.0], cl=[0.0], cu=[1.0])
>>> result.status, result.x.round(6).tolist(), result.iterations > 0
(0, [0.0, 1.0], True)
>>> result.unflatten()["x"].round(6).tolist()
[0.0, 1.0]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ArgumentError, ShapeError, SolverNotFoundError
from .problem import real_values, real_vector

EXTRA = 'IPOPT needs the "solvers" extra: pip install "adjoint-compiler[solvers]" (it installs cyipopt-wheels)'
KEEP_NONFINITE = 10  # points recorded where a callback gave a non-finite number


def optional_cyipopt():
    """cyipopt, or None when it is not installed."""
    try:
        return import_cyipopt()
    except ImportError:
        return None


def import_cyipopt():
    try:
        import cyipopt
    except ImportError as e:
        raise ImportError(EXTRA) from e
    return cyipopt


class FirstOrderCallbacks:
    """What ``cyipopt.Problem`` calls: values and first derivatives of a bound ``NLP`` (no Hessian:
    IPOPT's limited-memory mode). ``seconds``/``calls`` add up the time spent in each callback;
    ``nonfinite`` lists ``(callback, x)`` where a result was not finite; ``iterations`` is IPOPT's count."""

    def __init__(self, problem, params: tuple, progress=None):
        self.problem, self.params, self.progress = problem, params, progress
        self.seconds: dict[str, float] = {}  # all calls
        self.first: dict[str, float] = {}    # the first call (it may compile or load the kernel)
        self.calls: dict[str, int] = {}
        self.nonfinite: list[tuple[str, np.ndarray]] = []
        self.iterations = 0

    def _timed(self, name: str, compute, x):
        t0 = time.perf_counter()
        out = compute()
        seconds = time.perf_counter() - t0
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.first.setdefault(name, seconds)
        self.calls[name] = self.calls.get(name, 0) + 1
        if not np.all(np.isfinite(out)) and len(self.nonfinite) < KEEP_NONFINITE:
            self.nonfinite.append((name, np.array(x, dtype=np.float64)))
        return out

    def objective(self, x):
        return self._timed("objective", lambda: self.problem.objective(x, self.params), x)

    def gradient(self, x):
        return self._timed("gradient", lambda: self.problem.gradient(x, self.params), x)

    def constraints(self, x):
        return self._timed("constraints", lambda: self.problem.constraint_values(x, self.params), x)

    def jacobian(self, x):
        return self._timed("jacobian", lambda: self.problem.jacobian_values(x, self.params), x)

    def jacobianstructure(self):
        return self.problem.jacobian_structure()

    def intermediate(self, alg_mod, iter_count, *rest):
        self.iterations = int(iter_count)
        return True if self.progress is None else self.progress(alg_mod, iter_count, *rest)


class Callbacks(FirstOrderCallbacks):
    """``FirstOrderCallbacks`` and the exact sparse Hessian of the Lagrangian (lower triangle)."""

    def hessian(self, x, multipliers, obj_factor):
        return self._timed("hessian", lambda: self.problem.hessian_values(x, self.params, multipliers,
                                                                           obj_factor), x)

    def hessianstructure(self):
        return self.problem.hessian_structure()


@dataclass
class NLPResult:
    """IPOPT's answer: ``x`` (flat), ``fun``, ``status`` (IPOPT's code, 0 = solved) and ``message``,
    ``iterations``, the constraint values ``g`` and multipliers; ``callback_seconds`` (time in the
    derivative callbacks, per name), ``solve_seconds`` (the whole IPOPT run) and ``nonfinite``
    (points where a callback gave NaN/inf). ``unflatten()`` names ``x``."""
    x: np.ndarray
    fun: float
    status: int
    message: str
    iterations: int
    g: np.ndarray
    mult_g: np.ndarray
    mult_x_L: np.ndarray
    mult_x_U: np.ndarray
    solve_seconds: float
    callback_seconds: dict = field(default_factory=dict)
    callback_first_seconds: dict = field(default_factory=dict)
    callback_calls: dict = field(default_factory=dict)
    nonfinite: list = field(default_factory=list)
    layout: Any = field(default=None, repr=False)

    @property
    def steady_callback_seconds(self) -> float:
        """Time in the callbacks per IPOPT iteration, leaving out each callback's first call."""
        later = sum(self.callback_seconds.values()) - sum(self.callback_first_seconds.values())
        return later / max(self.iterations, 1)

    @property
    def success(self) -> bool:
        """IPOPT's "solved" and "solved to acceptable level" (status 0 and 1)."""
        return self.status in (0, 1)

    def unflatten(self, x=None) -> dict:
        """``{name: value}`` of ``x`` (the solution by default), each of its variable's shape."""
        return self.layout.unflatten(self.x if x is None else x)


def _vector(value, size: int, what: str, default: float, layout) -> np.ndarray:
    if value is None:
        return np.full(size, default)
    array = plain(value)
    if array is not None and array.dtype == np.float64 and array.shape == (size,):
        return array  # (the usual case at once; NaN is refused by _check_bounds)
    array = real_values(value, what)
    if array.ndim == 0:
        array = np.full(size, float(array))
    if array.shape != (size,):
        raise ShapeError(f"{what} has shape {array.shape}; expected a scalar or {size} entries ({_describe(layout)})")
    return array  # (NaN is refused by _check_bounds)


def plain(value) -> np.ndarray | None:
    """``value`` as an array if it is an ndarray (not a subclass: a mask would be dropped) or a
    list or tuple NumPy takes, else None (for ``real_values``, which names what is wrong)."""
    kind = type(value)
    if kind is np.ndarray:
        return value
    if kind is list or kind is tuple:
        try:
            return np.asarray(value)
        except Exception:  # (ragged)
            return None
    return None


def _check_bounds(lo: np.ndarray, hi: np.ndarray, names: tuple[str, str]) -> None:
    """A lower bound of +inf, an upper bound of -inf or ``lo > hi`` is refused here, naming the
    bound and the index (IPOPT would only answer with status -13 or "infeasible"), and so is NaN."""
    if not lo.size:
        return
    with np.errstate(invalid="ignore", over="ignore"):  # (inf - inf: a refused bound, named below)
        width = (hi - lo).min()
    if width >= 0:
        # The usual case in two operations (a small solve's Python time counts against CasADi's):
        # hi - lo is NaN for a NaN, inf - inf or -inf - -inf, negative for lo > hi, +inf or -inf.
        return
    for array, name in ((lo, names[0]), (hi, names[1])):
        if np.isnan(array).any():
            raise ArgumentError(f"{name} contains NaN at index {int(np.flatnonzero(np.isnan(array))[0])}")
    for array, name, wrong in ((lo, names[0], np.inf), (hi, names[1], -np.inf)):
        bad = np.flatnonzero(array == wrong)
        if len(bad):
            raise ArgumentError(f"{name} is {wrong} at index {int(bad[0])}: no value satisfies it "
                                f"({'a lower' if wrong > 0 else 'an upper'} bound may be "
                                f"{'-inf' if wrong > 0 else '+inf'}, for none)")
    bad = np.flatnonzero(lo > hi)
    if len(bad):
        raise ArgumentError(f"{names[0]} > {names[1]} at index {int(bad[0])}: {lo[bad[0]]} > {hi[bad[0]]}")


def _describe(layout) -> str:
    return "one per entry of " + (", ".join(f"{n}{s}" for n, s in zip(layout.names, layout.shapes)) or "nothing")


def solve(problem, x0, lb, ub, cl, cu, params, options, callback=None, verbose: bool = False,
          driver: str = "auto") -> NLPResult:
    from .native import DRIVERS, native_callbacks, usable
    if driver not in DRIVERS:
        raise ArgumentError(f"driver must be one of {DRIVERS}, got {driver!r}")
    if callback is not None and not callable(callback):
        raise ArgumentError(f"callback must be a function callback(iteration, objective, **stats), "
                            f"got {type(callback).__name__}")
    native, why = usable(problem) if driver != "cyipopt" else (False, 'driver="cyipopt" was asked for')
    if driver == "native" and not native:
        if why.startswith("no usable"):
            raise SolverNotFoundError(f'driver="native" needs IPOPT\'s library: {why}. Install the solvers '
                                      'extra: pip install "adjoint-compiler[solvers]"')
        raise ArgumentError(f'driver="native" cannot run this problem: {why} (use backend "numba" or "auto")')
    cyipopt = None if native else import_cyipopt()  # (or the native driver's first-solve rule below)
    x0 = real_vector(x0, problem.variables, "x0")
    n, m = problem.n, problem.m
    lb = _vector(lb, n, "lb", -np.inf, problem.variables)
    ub = _vector(ub, n, "ub", np.inf, problem.variables)
    cl = _vector(cl, m, "cl", 0.0, problem.constraints)
    cu = _vector(cu, m, "cu", 0.0, problem.constraints)
    _check_bounds(lb, ub, ("lb", "ub"))
    _check_bounds(cl, cu, ("cl", "cu"))
    options = {"print_level": 0, "sb": "yes", **(options or {})}
    exact = options.get("hessian_approximation", "exact") == "exact"
    bound = problem.bind(params)
    if exact:
        problem.hessian_structure()  # raises now, before IPOPT starts, if it is too dense
    progress = Progress(callback, verbose)
    solver = None
    if native and driver == "auto" and problem.backend == "auto" and not problem.__dict__.get("_solved"):
        # backend "auto", a structure solved neither here nor in the disk cache: this first solve
        # starts at once through cyipopt (NumPy, the kernels compiling in the background, as any
        # "auto" function); a second solve compiles the C callbacks and waits for them. (Small
        # callbacks on the llvm route compile now: in less time than that background compile.)
        # Cached callbacks first: importing cyipopt (and so scipy.optimize) takes ~0.45 s.
        solver = native_callbacks(problem, exact, cached_only=True)
        native = solver is not None or optional_cyipopt() is None
    problem._solved = True
    if native:
        solver = solver or native_callbacks(problem, exact)
        from .repeat import Repeat, environment
        repeat = problem.__dict__.get("_repeat")
        if repeat is None or repeat.environment != environment():
            repeat = problem._repeat = Repeat(problem)
        repeat.solvers[exact] = solver
        t0 = time.perf_counter()
        run = solver.solve(x0, lb, ub, cl, cu, bound, options, progress if progress.wanted else None)
        seconds = time.perf_counter() - t0
        progress.reraise()
        return NLPResult(x=run.x, fun=run.fun, status=run.status, message=run.message, iterations=run.iterations,
                         g=run.g, mult_g=run.mult_g, mult_x_L=run.mult_x_L, mult_x_U=run.mult_x_U,
                         solve_seconds=seconds, callback_seconds=run.seconds, callback_first_seconds=run.first,
                         callback_calls=run.calls, nonfinite=run.nonfinite, layout=problem.variables)
    cyipopt = cyipopt or import_cyipopt()
    callbacks = (Callbacks if exact else FirstOrderCallbacks)(problem, bound, progress)
    solver = cyipopt.Problem(n=n, m=m, problem_obj=callbacks, lb=lb, ub=ub, cl=cl, cu=cu)
    for key, value in options.items():
        solver.add_option(key, value)
    t0 = time.perf_counter()
    x, info = solver.solve(x0)
    seconds = time.perf_counter() - t0
    progress.reraise()
    return NLPResult(x=np.asarray(x), fun=float(info["obj_val"]), status=int(info["status"]),
                     message=_text(info["status_msg"]), iterations=callbacks.iterations,
                     g=np.asarray(info["g"]), mult_g=np.asarray(info["mult_g"]),
                     mult_x_L=np.asarray(info["mult_x_L"]), mult_x_U=np.asarray(info["mult_x_U"]),
                     solve_seconds=seconds, callback_seconds=dict(callbacks.seconds),
                     callback_first_seconds=dict(callbacks.first),
                     callback_calls=dict(callbacks.calls), nonfinite=list(callbacks.nonfinite),
                     layout=problem.variables)


class Progress:
    """IPOPT's intermediate callback, once per iteration, for both drivers: a progress line
    (``verbose``) and the user's ``callback(iteration, objective, **stats)`` (``stats``:
    ``inf_pr``, ``inf_du``, ``mu``, ``d_norm``, ``regularization_size``, ``alpha_du``, ``alpha_pr``,
    ``ls_trials``, ``restoration``), which stops the solve by returning False. An exception in it
    stops the solve too and is raised again when IPOPT has returned."""

    def __init__(self, callback=None, verbose: bool = False):
        self.callback, self.verbose = callback, bool(verbose)
        self.error: BaseException | None = None  # the callback's, raised again once IPOPT has returned

    @property
    def wanted(self) -> bool:
        return self.callback is not None or self.verbose

    def __call__(self, alg_mod, iter_count, obj_value, inf_pr, inf_du, mu, d_norm, regularization_size,
                 alpha_du, alpha_pr, ls_trials) -> bool:
        if self.verbose:
            if iter_count == 0:
                print(f"{'iter':>5} {'objective':>14} {'inf_pr':>9} {'inf_du':>9} {'lg(mu)':>6} {'alpha_pr':>9}",
                      flush=True)
            mu_text = f"{np.log10(mu):6.1f}" if mu > 0 else "     -"
            print(f"{iter_count:>4}{'r' if alg_mod else ' '} {obj_value:14.7e} {inf_pr:9.2e} {inf_du:9.2e} "
                  f"{mu_text} {alpha_pr:9.2e}", flush=True)
        if self.callback is None:
            return True
        try:
            go_on = self.callback(int(iter_count), float(obj_value), inf_pr=float(inf_pr), inf_du=float(inf_du),
                                  mu=float(mu), d_norm=float(d_norm), regularization_size=float(regularization_size),
                                  alpha_du=float(alpha_du), alpha_pr=float(alpha_pr), ls_trials=int(ls_trials),
                                  restoration=bool(alg_mod))
        except BaseException as e:  # raised again by solve(), once IPOPT has stopped
            self.error = e
            return False
        return go_on is not False

    def reraise(self) -> None:
        if self.error is not None:
            raise self.error


def _text(message) -> str:
    return message.decode() if isinstance(message, bytes) else str(message)
