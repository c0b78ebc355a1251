"""One IPOPT solve through the C interface: the problem made, options added, ``IpoptSolve`` run
with the compiled callbacks (``native_llvm`` or ``callbacks``), everything freed.

``NativeCallbacks`` holds the C callbacks of one problem structure and the arrays they read
(structures, seeds, gather indices); ``solve`` binds the parameters and the statistics of one
run in a context array (``user_data``), so that the same callbacks serve any number of solves.

>>> sorted(STATUS)[:3]
[-199, -102, -101]
"""

from __future__ import annotations

import ctypes
import math
import threading
import weakref
from dataclasses import dataclass

import numpy as np

from ...errors import ArgumentError
from . import layout as cb  # (the layout only: the callbacks are made by either route)
from .library import require

# IPOPT's ApplicationReturnStatus (IpReturnCodes.h): its name, what it means.
STATUS = {
    0: "Solve_Succeeded: a locally optimal point, within the convergence tolerances",
    1: "Solved_To_Acceptable_Level: converged to the acceptable tolerances (acceptable_* options), "
       "not the desired ones",
    2: "Infeasible_Problem_Detected: converged to a point of local infeasibility",
    3: "Search_Direction_Becomes_Too_Small: very little progress",
    4: "Diverging_Iterates: the iterates seem to diverge",
    5: "User_Requested_Stop: the intermediate callback asked to stop",
    6: "Feasible_Point_Found: a feasible point of a square problem",
    -1: "Maximum_Iterations_Exceeded (option max_iter)",
    -2: "Restoration_Failed: the restoration phase failed",
    -3: "Error_In_Step_Computation: the search direction could not be computed",
    -4: "Maximum_CpuTime_Exceeded (option max_cpu_time)",
    -5: "Maximum_WallTime_Exceeded (option max_wall_time)",
    -10: "Not_Enough_Degrees_Of_Freedom: fewer free variables than equality constraints",
    -11: "Invalid_Problem_Definition",
    -12: "Invalid_Option",
    -13: "Invalid_Number_Detected: a callback gave NaN or inf where IPOPT could not back off "
         "(see option check_derivatives_for_naninf)",
    -100: "Unrecoverable_Exception in IPOPT",
    -101: "NonIpopt_Exception_Thrown in IPOPT",
    -102: "Insufficient_Memory",
    -199: "Internal_Error of IPOPT",
}

_INTERMEDIATE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_int, *[ctypes.c_double] * 8,
                                 ctypes.c_int, ctypes.c_void_p)


def _prototypes(lib) -> None:
    """The C interface's argument and result types (IpStdCInterface.h), set once per library."""
    if getattr(lib, "_compiler_typed", False):
        return
    p, i, d, s = ctypes.c_void_p, ctypes.c_int, ctypes.c_double, ctypes.c_char_p
    _D = p  # double* given as the address of a float64 array (``_pointer``: the cheapest way ctypes takes)
    lib.CreateIpoptProblem.argtypes = [i, _D, _D, i, _D, _D, i, i, i, p, p, p, p, p]
    lib.CreateIpoptProblem.restype = p
    lib.FreeIpoptProblem.argtypes, lib.FreeIpoptProblem.restype = [p], None
    lib.AddIpoptStrOption.argtypes, lib.AddIpoptStrOption.restype = [p, s, s], i
    lib.AddIpoptNumOption.argtypes, lib.AddIpoptNumOption.restype = [p, s, d], i
    lib.AddIpoptIntOption.argtypes, lib.AddIpoptIntOption.restype = [p, s, i], i
    lib.SetIntermediateCallback.argtypes, lib.SetIntermediateCallback.restype = [p, p], i
    lib.IpoptSolve.argtypes = [p, _D, _D, _D, _D, _D, _D, p]
    lib.IpoptSolve.restype = i
    lib._compiler_typed = True


def _pointer(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


@dataclass
class Derivative:
    """The sparse Jacobian or Hessian as the callbacks read it: its structure (``rows``, ``cols``),
    the compressed kernel's ``seeds`` (one array per colour) and where each stored entry is in
    its result (``index``)."""
    rows: np.ndarray
    cols: np.ndarray
    seeds: list
    index: np.ndarray

    def arrays(self):
        seeds = np.ascontiguousarray(np.concatenate([np.ravel(s) for s in self.seeds])) if self.seeds else np.zeros(1)
        return (seeds, np.ascontiguousarray(self.index, dtype=np.int64),
                np.ascontiguousarray(self.rows, dtype=np.int64), np.ascontiguousarray(self.cols, dtype=np.int64))


@dataclass
class Run:
    """What one native solve gives back (``optimize.ipopt`` makes the ``NLPResult`` of it)."""
    x: np.ndarray
    fun: float
    status: int
    message: str
    iterations: int
    g: np.ndarray
    mult_g: np.ndarray
    mult_x_L: np.ndarray
    mult_x_U: np.ndarray
    seconds: dict
    first: dict
    calls: dict
    nonfinite: list


class NativeCallbacks:
    """The compiled callbacks of one problem structure (``layout``), with the arrays they read:
    ``functions`` maps each callback's name (``eval_f``, ..., ``intermediate``) to an object with
    its C ``address``; ``route`` says who made them (``"llvm"``: our LLVM IR, ``"numba"``: cfuncs)."""

    def __init__(self, layout: cb.Layout, functions: dict, jacobian: Derivative, hessian: Derivative | None,
                 route: str = "numba"):
        self.layout, self.route = layout, route
        self.functions = functions
        self.exact = hessian is not None
        self._jacobian = jacobian.arrays()
        self._hessian = hessian.arrays() if hessian is not None else (np.zeros(1), *[np.zeros(1, np.int64)] * 3)
        # The context's entries that never change (the derivatives' arrays, alive with self),
        # copied per solve: a small solve's Python time is what separates it from CasADi's.
        self._context = np.zeros(cb.Slot.SIZE, dtype=np.int64)
        S = cb.Slot
        for slot, array in zip((S.JAC_SEEDS, S.JAC_INDEX, S.JAC_ROWS, S.JAC_COLS,
                                S.HESS_SEEDS, S.HESS_INDEX, S.HESS_ROWS, S.HESS_COLS), (*self._jacobian, *self._hessian)):
            self._context[slot] = _pointer(array)
        # Where each array of a solve is in its one float64 block (``_Block``), and the block's
        # slices of the parameters (their sizes are the layout's).
        self._block = _Block(layout.n, layout.m)
        self._param_slices, offset = [], self._block.params
        for shape in layout.param_shapes:
            self._param_slices.append(slice(offset, offset + math.prod(shape)))
            offset += math.prod(shape)
        self._size = offset
        # Blocks of finished solves with their contexts, pointers set: reused by the next solve
        # (one NumPy allocation and a dozen stores less; a result is copied out of its block).
        self._spare: list = []
        # The IPOPT problem of the last solve, kept for the next one of the same bounds and options:
        # making one (IPOPT registers its ~400 options) measured 0.17 ms, a tenth of a small solve.
        self._idle: list = []  # [(key, library, handle, compiled intermediate set)] at most one
        self._lock = threading.Lock()
        weakref.finalize(self, _free_all, self._idle)

    def _buffers(self):
        """A new float64 block for one solve, its context (addresses set) and the addresses
        ``IpoptSolve`` takes (x, g, obj, mult_g, mult_x_L, mult_x_U, the context)."""
        block = np.zeros(self._size)
        base, at, S = _pointer(block), self._block, cb.Slot
        context = self._context.copy()
        context[S.PARAMS], context[S.STATS], context[S.NONFINITE_X] = (
            base + 8 * at.params, base + 8 * at.stats, base + 8 * at.kept)
        pointers = tuple(base + 8 * offset for offset in (at.x, at.g, at.obj, at.mult_g, at.mult_x_L, at.mult_x_U))
        return block, context, (*pointers, _pointer(context))

    def solve(self, x0, lb, ub, cl, cu, params: tuple, options: dict, intermediate=None) -> Run:
        """IPOPT from ``x0`` with bounds, ``params`` (floats or float64 arrays, the kernels' own
        order), IPOPT ``options``; ``intermediate(alg_mod, iter_count, obj, inf_pr, inf_du, mu,
        d_norm, regularization_size, alpha_du, alpha_pr, ls_trials)`` (a Python function, run
        once per iteration; returns False to stop), or the compiled counter when None."""
        bounds = np.concatenate([np.ravel(np.asarray(b, dtype=np.float64)) for b in (lb, ub, cl, cu)])
        return self.run(x0, bounds, bounds.tobytes(), params, options, intermediate)

    def run(self, x0, bounds, bounds_key, params: tuple, options: dict, intermediate=None, lib=None) -> Run:
        """``solve`` with the bounds checked and joined (``lb``, ``ub``, ``cl``, ``cu``: ``2 n + 2 m``
        numbers, read only to make a new IPOPT problem) and their ``bounds_key`` (equal for equal
        bounds, e.g. ``bounds.tobytes()``); ``x0``: ``n`` finite numbers; ``lib``: ``require()``'s library
        (found again when None: $COMPILER_IPOPT_LIB read)."""
        if lib is None:
            _, lib = require()  # (loaded once per process)
        _prototypes(lib)
        at = self._block
        S = cb.Slot
        # The kept problem serves when bounds and options are equal, each option of the same
        # type (IPOPT takes one type per option: 1 and 1.0 are not the same option value).
        key = (lib, bounds_key, options, [*map(type, options.values())])
        with self._lock:  # (the spare block and the kept problem: another thread's solve makes its own)
            buffers = self._spare.pop() if self._spare else None
            kept = self._idle.pop() if self._idle and self._idle[0][0] == key else None
        block, context, pointers = buffers or self._buffers()
        block[:at.n] = x0
        for where, value in zip(self._param_slices, params):
            block[where] = np.ravel(value)
        if kept is None:
            n, m = at.n, at.m
            bounds = np.asarray(bounds, dtype=np.float64)  # (a list of floats from optimize.repeat)
            problem = self._create(lib, (bounds[:n], bounds[n:2 * n], bounds[2 * n:2 * n + m], bounds[2 * n + m:]),
                                   options.get("hessian_approximation", "exact") == "exact", options)
            compiled, key = False, (lib, bounds_key, dict(options), key[3])  # (a copy: the caller's may change)
        else:
            problem, compiled = kept[2], kept[3]
        try:
            if intermediate is None:
                if not compiled:
                    lib.SetIntermediateCallback(problem, self.functions["intermediate"].address)
                python_callback = None
            else:
                def python_callback(alg_mod, iter_count, *rest):
                    context[S.ITERATIONS] = iter_count
                    return 1 if intermediate(alg_mod, iter_count, *rest[:-1]) is not False else 0
                python_callback = _INTERMEDIATE(python_callback)
                lib.SetIntermediateCallback(problem, ctypes.cast(python_callback, ctypes.c_void_p))
            status = lib.IpoptSolve(problem, *pointers)
        except BaseException:
            lib.FreeIpoptProblem(problem)
            raise
        run = _run(block, at, status, int(context[S.ITERATIONS]))
        block[at.stats:at.kept] = 0.0  # (what the callbacks count from zero)
        context[S.ITERATIONS] = 0
        with self._lock:
            old, self._idle[:] = self._idle[:], [(key, lib, problem, intermediate is None)]
            if not self._spare:
                self._spare.append((block, context, pointers))
        _free_all(old)
        return run

    def _create(self, lib, bounds, exact: bool, options: dict):
        """A new IPOPT problem with the callbacks, ``bounds`` and ``options``."""
        layout, f = self.layout, self.functions
        n, m = layout.n, layout.m
        problem = lib.CreateIpoptProblem(n, _pointer(bounds[0]), _pointer(bounds[1]), m, _pointer(bounds[2]),
                                         _pointer(bounds[3]), layout.jac_nnz, layout.hess_nnz if exact else 0, 0,
                                         f["eval_f"].address, f["eval_g"].address, f["eval_grad_f"].address,
                                         f["eval_jac_g"].address, f["eval_h"].address)
        if not problem:
            raise ArgumentError(f"IPOPT refused the problem (CreateIpoptProblem gave NULL) with n={n}, m={m}, "
                                f"{layout.jac_nnz} Jacobian and {layout.hess_nnz} Hessian entries")
        try:
            for key, value in options.items():
                _add_option(lib, problem, key, value)
        except BaseException:
            lib.FreeIpoptProblem(problem)
            raise
        return problem


def _free_all(kept: list) -> None:
    for _, lib, handle, _ in kept:
        lib.FreeIpoptProblem(handle)
    kept.clear()


class _Block:
    """Offsets in a solve's float64 block: the iterate ``x`` (n), ``g`` and ``mult_g`` (m, at
    least 1), ``obj`` (1), ``mult_x_L`` and ``mult_x_U`` (n), the callbacks' statistics and kept
    non-finite points, then the parameters (plain attributes: read a dozen times per solve).

    >>> _Block(2, 1).params  # 2 + 1 + 1 + 1 + 2 + 2, the statistics (26), 10 points of 2
    55
    """

    def __init__(self, n: int, m: int):
        self.n, self.m = n, m
        self.x, self.g = 0, n
        self.mult_g = self.g + max(m, 1)
        self.obj = self.mult_g + max(m, 1)
        self.mult_x_L = self.obj + 1
        self.mult_x_U = self.mult_x_L + n
        self.stats = self.mult_x_U + n
        self.kept = self.stats + cb.STATS_SIZE
        self.params = self.kept + cb.KEEP_NONFINITE * n


def _run(block: np.ndarray, at: _Block, status: int, iterations: int) -> Run:
    """The ``Run`` of a finished solve, read from its block (copied out: the block serves the
    next solve, and it holds the kept points, 10 n numbers, that a result should not keep alive)."""
    n, m = at.n, at.m
    stats = block[at.stats:at.kept].tolist()  # (Python floats: cheaper to read one by one)
    calls, seconds, first = {}, {}, {}
    for i, name in enumerate(cb.NAMES):
        count = stats[cb.STAT_CALLS + i]
        if count:
            calls[name], seconds[name], first[name] = int(count), stats[cb.STAT_SECONDS + i], stats[cb.STAT_FIRST + i]
    nonfinite = [(cb.NAMES[int(stats[cb.STAT_NONFINITE_WHICH + k])], block[at.kept + k * n:at.kept + (k + 1) * n].copy())
                 for k in range(min(int(stats[cb.STAT_NONFINITE]), cb.KEEP_NONFINITE))] if stats[cb.STAT_NONFINITE] else []
    status = int(status)
    out = block[:at.stats].copy()  # (one copy for the five arrays of the result: views of it)
    return Run(x=out[:n], fun=out.item(at.obj), status=status, message=STATUS.get(status, f"status {status}"),
               iterations=iterations, g=out[at.g:at.g + m], mult_g=out[at.mult_g:at.mult_g + m],
               mult_x_L=out[at.mult_x_L:at.mult_x_L + n], mult_x_U=out[at.mult_x_U:at.mult_x_U + n],
               seconds=seconds, first=first, calls=calls, nonfinite=nonfinite)


def _add_option(lib, problem, key, value) -> None:
    """One IPOPT option, by the type of its value (str, int, float), refused with its name."""
    name = str(key).encode()
    if isinstance(value, str):
        ok = lib.AddIpoptStrOption(problem, name, value.encode())
    elif isinstance(value, (bool, np.bool_)):
        ok = lib.AddIpoptStrOption(problem, name, b"yes" if value else b"no")
    elif isinstance(value, (int, np.integer)):
        ok = lib.AddIpoptIntOption(problem, name, int(value))
    elif isinstance(value, (float, np.floating)) and not math.isnan(value):
        ok = lib.AddIpoptNumOption(problem, name, float(value))
    else:
        raise ArgumentError(f"IPOPT option {key!r} must be a str, int or float, got {type(value).__name__} {value!r}")
    if not ok:
        raise ArgumentError(f"IPOPT refused the option {key}={value!r}: an unknown name, a value of the wrong "
                            "type or out of its range (see IPOPT's list of options)")
