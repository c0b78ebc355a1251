"""Repeat native solves of one ``NLP``: what depends only on the problem made once, at its first
native solve, so that a further ``solve`` checks and copies only what its call gives.

Kept per problem (``Repeat``): the C callbacks of each Hessian mode, the environment they were
chosen under (``$COMPILER_IPOPT_LIB``, ``$COMPILER_IPOPT_ROUTE``: a change sends the solve back
through ``optimize.ipopt.solve``'s full path), the default bounds joined, the key of the last
checked bounds (equal bounds are not checked again) and the last options merged with the
defaults. Per solve: ``x0`` checked (a short list of Python floats in Python, a float64 array
in a few NumPy calls; anything else by ``real_vector``, which names what is wrong), the bounds
given joined (short lists of floats without NumPy), the parameters bound, and the native
driver's ``run``. Each check of the full path stays: a value that is not plainly right goes
through the same functions.

>>> sorted(DEFAULT_OPTIONS)  # what a solve adds to the user's options (which override them)
['print_level', 'sb']
"""

from __future__ import annotations

import os
import time

import numpy as np

from ..runtime.ipopt.library import ENV as LIBRARY_ENV
from ..runtime.ipopt.library import require
from .ipopt import NLPResult, _check_bounds, _vector, plain
from .native import ROUTE_ENV
from .problem import real_vector

DEFAULT_OPTIONS = {"print_level": 0, "sb": "yes"}  # (IPOPT's own print_level is 5)
SMALL = 64  # entries of x0 or of the bounds checked in Python (beyond, NumPy's few calls are quicker)
INF = float("inf")


def environment() -> tuple:
    """What chooses the library and the callbacks' route, as the process has it now."""
    return os.environ.get(LIBRARY_ENV), os.environ.get(ROUTE_ENV)


class Repeat:
    """What every native solve of ``problem`` shares (see the module's docstring)."""

    def __init__(self, problem) -> None:
        self.problem = problem
        self.environment = environment()
        self.lib = require()[1]  # (the environment's choice: one while it is unchanged)
        self.solvers: dict = {}  # exact Hessian (bool) -> runtime.ipopt.driver.NativeCallbacks
        n, m = problem.n, problem.m
        self.defaults = np.concatenate((np.full(n, -np.inf), np.full(n, np.inf), np.zeros(2 * m)))
        self._default_key = self.defaults.tobytes()
        self._default_lists = ([-INF] * n, [INF] * n, [0.0] * m, [0.0] * m)
        self._checked: bytes | tuple = self._default_key  # the key of the bounds last checked
        self._options: tuple = (None, DEFAULT_OPTIONS, True, [])  # (given, merged, exact, types) last

    def options(self, given) -> tuple[dict, bool]:
        """``given`` merged with the defaults, and whether the Hessian is exact."""
        if not given:  # (None or empty, as the full path reads ``options or {}``)
            return DEFAULT_OPTIONS, True
        last = self._options
        if given == last[0] and [*map(type, given.values())] == last[3]:  # (1 == 1.0: IPOPT takes one)
            return last[1], last[2]
        merged = {**DEFAULT_OPTIONS, **given}
        exact = merged.get("hessian_approximation", "exact") == "exact"
        self._options = (dict(given), merged, exact, [*map(type, given.values())])
        return merged, exact

    def bounds(self, lb, ub, cl, cu) -> tuple[np.ndarray | list, bytes | tuple]:
        """The bounds checked and joined (``lb``, ``ub``, ``cl``, ``cu``) and a key equal for equal
        bounds: a list of Python floats and itself as a tuple when each bound is left out or is a
        float or a short list or tuple of floats (no NumPy call unless they changed), else a
        float64 array and its bytes."""
        if lb is None and ub is None and cl is None and cu is None:
            return self.defaults, self._default_key
        p = self.problem
        n, m = p.n, p.m
        small = self._small((lb, ub, cl, cu), (n, n, m, m))
        if small is not None:
            key: bytes | tuple = tuple(small)
            if key != self._checked:  # (a key with NaN is never checked: never equal to a NaN)
                self._check(np.array(small))
                self._checked = key
            return small, key
        parts = (_vector(lb, n, "lb", -np.inf, p.variables), _vector(ub, n, "ub", np.inf, p.variables),
                 _vector(cl, m, "cl", 0.0, p.constraints), _vector(cu, m, "cu", 0.0, p.constraints))
        joined = np.concatenate(parts)
        key = joined.tobytes()
        if key != self._checked:
            self._check(joined)
            self._checked = key
        return joined, key

    def _small(self, given: tuple, sizes: tuple) -> list | None:
        """The bounds as one list of Python floats if each is None, a float or a list or tuple
        of floats of its size, and they are few; else None."""
        if 2 * sum(sizes) > SMALL:
            return None
        out: list = []
        for value, size, default in zip(given, sizes, self._default_lists):
            kind = type(value)
            if value is None:
                out += default
            elif kind is float:
                out += [value] * size
            elif (kind is list or kind is tuple) and len(value) == size:
                for v in value:
                    if type(v) is not float:
                        return None
                out += value
            else:
                return None
        return out

    def _check(self, joined: np.ndarray) -> None:
        n, m = self.problem.n, self.problem.m
        _check_bounds(joined[:n], joined[n:2 * n], ("lb", "ub"))
        _check_bounds(joined[2 * n:2 * n + m], joined[2 * n + m:], ("cl", "cu"))

    def x0(self, x0) -> np.ndarray | list:
        """``x0`` as ``n`` finite float64 numbers (a short list of Python floats as it is): the
        driver copies it into its block."""
        kind = type(x0)
        if kind is list and len(x0) == self.problem.n <= SMALL:
            for v in x0:  # (a few Python floats: checked here in less time than NumPy's calls take)
                if type(v) is not float or not -INF < v < INF:
                    break
            else:
                return x0
        array = plain(x0)  # (else the full check, which names what is wrong)
        if array is not None and array.dtype == np.float64 and array.shape == (self.problem.n,) \
                and np.isfinite(array).all():
            return array
        return real_vector(x0, self.problem.variables, "x0")

    def solve(self, x0, lb, ub, cl, cu, params, options) -> NLPResult | None:
        """One native solve, or None when the full path must run (the environment changed, or
        no callbacks are made yet for the Hessian mode these options ask for)."""
        merged, exact = self.options(options)
        solver = self.solvers.get(exact)
        if solver is None or environment() != self.environment:
            return None
        x = self.x0(x0)
        bounds, key = self.bounds(lb, ub, cl, cu)
        bound = self.problem.bind(params)
        t0 = time.perf_counter()
        run = solver.run(x, bounds, key, bound, merged, lib=self.lib)
        seconds = time.perf_counter() - t0
        return NLPResult(x=run.x, fun=run.fun, status=run.status, message=run.message, iterations=run.iterations,
                         g=run.g, mult_g=run.mult_g, mult_x_L=run.mult_x_L, mult_x_U=run.mult_x_U,
                         solve_seconds=seconds, callback_seconds=run.seconds, callback_first_seconds=run.first,
                         callback_calls=run.calls, nonfinite=run.nonfinite, layout=self.problem.variables)
