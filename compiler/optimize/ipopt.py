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

from ..errors import ArgumentError, ShapeError
from .problem import real_values, real_vector

EXTRA = 'IPOPT needs the "solvers" extra: pip install "adjoint-compiler[solvers]" (it installs cyipopt-wheels)'
KEEP_NONFINITE = 10  # points recorded where a callback gave a non-finite number


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

    def __init__(self, problem, params: tuple):
        self.problem, self.params = problem, params
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
        return True


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


def _vector(value, size: int, what: str, default: float, names: str) -> np.ndarray:
    if value is None:
        return np.full(size, default)
    array = real_values(value, what)
    if array.ndim == 0:
        array = np.full(size, float(array))
    if array.shape != (size,):
        raise ShapeError(f"{what} has shape {array.shape}; expected a scalar or {size} entries ({names})")
    if np.isnan(array).any():
        raise ArgumentError(f"{what} contains NaN at index {int(np.flatnonzero(np.isnan(array))[0])}")
    return array


def _check_bounds(lo: np.ndarray, hi: np.ndarray, names: tuple[str, str]) -> None:
    """A lower bound of +inf, an upper bound of -inf or ``lo > hi`` is refused here, naming the
    bound and the index (IPOPT would only answer with status -13 or "infeasible")."""
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


def solve(problem, x0, lb, ub, cl, cu, params, options) -> NLPResult:
    cyipopt = import_cyipopt()
    x0 = real_vector(x0, problem.variables, "x0")
    n, m = problem.n, problem.m
    lb = _vector(lb, n, "lb", -np.inf, _describe(problem.variables))
    ub = _vector(ub, n, "ub", np.inf, _describe(problem.variables))
    cl = _vector(cl, m, "cl", 0.0, _describe(problem.constraints))
    cu = _vector(cu, m, "cu", 0.0, _describe(problem.constraints))
    _check_bounds(lb, ub, ("lb", "ub"))
    _check_bounds(cl, cu, ("cl", "cu"))
    options = {"print_level": 0, "sb": "yes", **(options or {})}
    exact = options.get("hessian_approximation", "exact") == "exact"
    callbacks = problem.ipopt_callbacks(*params, hessian=exact)
    if exact:
        problem.hessian_structure()  # raises now, before IPOPT starts, if it is too dense
    solver = cyipopt.Problem(n=n, m=m, problem_obj=callbacks, lb=lb, ub=ub, cl=cl, cu=cu)
    for key, value in options.items():
        solver.add_option(key, value)
    t0 = time.perf_counter()
    x, info = solver.solve(x0)
    seconds = time.perf_counter() - t0
    return NLPResult(x=np.asarray(x), fun=float(info["obj_val"]), status=int(info["status"]),
                     message=_text(info["status_msg"]), iterations=callbacks.iterations,
                     g=np.asarray(info["g"]), mult_g=np.asarray(info["mult_g"]),
                     mult_x_L=np.asarray(info["mult_x_L"]), mult_x_U=np.asarray(info["mult_x_U"]),
                     solve_seconds=seconds, callback_seconds=dict(callbacks.seconds),
                     callback_first_seconds=dict(callbacks.first),
                     callback_calls=dict(callbacks.calls), nonfinite=list(callbacks.nonfinite),
                     layout=problem.variables)


def _text(message) -> str:
    return message.decode() if isinstance(message, bytes) else str(message)
