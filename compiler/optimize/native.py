"""The native IPOPT driver of an ``NLP``: its compiled kernels handed to IPOPT's C interface as
C callbacks (``runtime.ipopt``), and when it is used instead of cyipopt.

The native driver runs when the problem's functions compile to machine code and a
``libipopt`` of IPOPT 3.14 or later is found (``nlp_info()``): backend ``"numba"`` from the
first solve; backend ``"auto"`` from the first solve when its callbacks are in the disk cache,
else from the second (the first starts at once through cyipopt, nothing compiled before
IPOPT starts). Else cyipopt runs it (``backend="python"``, no library). ``driver="cyipopt"``
or ``"native"`` chooses.

>>> import compiler as cc
>>> x = cc.Symbol("x")
>>> usable(cc.nlp((x - 3) ** 2, x, backend="python"))[1]
'backend="python" has no compiled kernels for C callbacks'
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass

from ..errors import ArgumentError, UnsupportedError
from ..runtime.derivatives import compressed
from ..runtime.ipopt import library  # (the routes start llvmlite or Numba: imported when first solving)

DRIVERS = ("auto", "native", "cyipopt")


@dataclass(frozen=True)
class NLPInfo:
    """Which IPOPT ``cc.nlp(...).solve`` calls: ``library`` (``runtime.ipopt.library.Found``: the
    file, its source and version), ``native`` (whether the C callbacks run: else cyipopt) and
    ``why`` not, and ``cyipopt`` (its version, or None)."""
    library: object
    native: bool
    why: str
    cyipopt: str | None

    def __str__(self) -> str:
        driver = ("native C callbacks (backend 'numba' or 'auto'): LLVM IR of our own with the kernels inside "
                  "when it compiles them, else Numba cfuncs (a problem's repr says which)" if self.native
                  else f"cyipopt ({self.why})")
        fallback = f"; cyipopt {self.cyipopt} for backend 'python'" if self.cyipopt else ""
        return f"IPOPT: {self.library}\ndriver: {driver}{fallback}"


def nlp_info() -> NLPInfo:
    """Which IPOPT library and driver ``cc.nlp(...).solve`` uses here.

    >>> import compiler as cc
    >>> isinstance(cc.nlp_info().native, bool)
    True
    """
    import importlib.metadata
    found = library.find_library()
    try:
        cy = importlib.metadata.version("cyipopt-wheels")
    except importlib.metadata.PackageNotFoundError:
        try:
            cy = importlib.metadata.version("cyipopt")
        except importlib.metadata.PackageNotFoundError:
            cy = None
    return NLPInfo(found, found.ok, "" if found.ok else found.why, cy)


def usable(problem) -> tuple[bool, str]:
    """Whether the native driver can run ``problem``, and why not."""
    # (llvm: "auto" compiled its tensor kernels there; the Numba route then calls Numba twins of them)
    if problem.objective_fn.backend not in ("numba", "llvm"):
        return False, f'backend="{problem.objective_fn.backend}" has no compiled kernels for C callbacks'
    found = library.find_library()
    if not found.ok:
        return False, f"no usable libipopt: {found.why}"
    return True, ""


ROUTES = ("auto", "llvm", "numba")
ROUTE_ENV = "COMPILER_IPOPT_ROUTE"  # auto (default), llvm or numba: the route every problem's callbacks take


def native_callbacks(problem, exact: bool, cached_only: bool = False, route: str | None = None):
    """The C callbacks of ``problem`` (``exact``: with the Hessian of the Lagrangian), made once
    per problem and mode (``runtime.ipopt.driver.NativeCallbacks``): on the llvm route (our LLVM
    IR with the kernels unrolled inside, no Numba) when ``codegen.llvm_ipopt.refusal`` finds
    nothing against it, else as Numba cfuncs calling the Numba kernels; ``route`` forces one.
    With ``cached_only``, None unless they are in memory or in the disk cache, or are llvm
    callbacks small enough to compile at once (``runtime.ipopt.native_llvm.COMPILE_AT_ONCE``).
    ``route`` None: ``$COMPILER_IPOPT_ROUTE``, else "auto"."""
    from ..runtime.ipopt.driver import Derivative, NativeCallbacks
    from ..runtime.ipopt.layout import Layout
    if route is None:
        route = os.environ.get(ROUTE_ENV, "").strip() or "auto"
        if route not in ROUTES:
            raise ArgumentError(f"${ROUTE_ENV} must be one of {ROUTES}, got {route!r}")
    if route not in ROUTES:
        raise ValueError(f"route must be one of {ROUTES}, got {route!r}")
    kept = problem.__dict__.setdefault("_native", {})
    for mode in (exact, True):  # the limited-memory mode never calls the Hessian: the exact mode's serve
        made = kept.get(mode)
        if made is not None and route in ("auto", made.route):
            return made
    n, m = problem.n, problem.m
    requests = [(problem.objective_fn, "value"), (problem.objective_fn, "value_and_grad")]
    jac_fn = jac_seeds = None
    if m:
        requests.append((problem.constraint_fn, "value"))
        jac_fn, jac_seeds, jac_index, jac_col = compressed(problem.constraint_fn, "jacobian")
        if jac_fn is not None:
            requests.append((jac_fn, "value"))
    rows, cols = problem.jacobian_structure()
    jacobian = Derivative(rows, cols, jac_seeds or [], jac_index if m else rows[:0])
    hess_fn, hessian, hess_nnz, hess_colors, hess_part = None, None, 0, 0, 1
    if exact:
        h_rows, h_cols, lower = problem._lower_triangle()
        hess_fn, hess_seeds, hess_index, hess_col = compressed(problem.lagrangian_fn, "hessian", keep=lower)
        if hess_fn is not None:
            requests.append((hess_fn, "value"))
            hess_colors, hess_part = hess_col.n_colors, n
        hessian = Derivative(h_rows, h_cols, hess_seeds, hess_index)
        hess_nnz = len(h_rows)
    names = ["objective", "objective_and_gradient"] + (["constraints"] if m else [])
    names += (["jacobian"] if jac_fn is not None else []) + (["hessian"] if hess_fn is not None else [])
    kernels = dict(zip(names, requests))
    jac_colors = jac_col.n_colors if jac_fn is not None else 0
    jac_part = (m if jac_col.kind == "columns" else n) if jac_fn is not None else 1
    layout = Layout(
        n=n, m=m, param_shapes=tuple(p.shape for p in problem.params), jac_nnz=len(rows), jac_colors=jac_colors,
        hess_nnz=hess_nnz, hess_colors=hess_colors, jac_part=jac_part, hess_part=hess_part,
        jac_seed=(n if jac_col.kind == "columns" else m) if jac_fn is not None else 0,
        jac_single=jac_fn is not None and not jac_fn._many,  # (a function of many outputs returns a tuple)
        hess_single=hess_fn is not None and not hess_fn._many)
    _check_parts(layout, jac_fn, hess_fn)
    functions, made_by = None, "numba"
    if route != "numba":
        key, text, why, unrolled = llvm_route(problem, kernels, jacobian, hessian)
        if key is None and route == "llvm":
            raise UnsupportedError(f"the llvm route cannot compile this problem's callbacks: {why}")
        if key is not None:
            from ..runtime.ipopt import native_llvm
            try:  # (small callbacks compile in less time than a first solve through cyipopt takes to start)
                loaded = native_llvm.build(key, text, cached_only and unrolled > native_llvm.COMPILE_AT_ONCE)
            except native_llvm.NotCached:
                return None
            except Exception as e:  # printing or LLVM failed: the Numba route computes the same numbers
                if route == "llvm":
                    raise
                warnings.warn(f"the llvm route failed on this problem's callbacks ({type(e).__name__}: {e}); "
                              "using the Numba route", RuntimeWarning, stacklevel=3)
            else:
                functions, made_by = loaded.functions, "llvm"  # (each holds the engine of its machine code)
    if functions is None:
        from ..runtime.ipopt import callbacks
        twins = {name: (_numba_twin(fn), role) for name, (fn, role) in kernels.items()}
        try:
            functions = callbacks.compile_callbacks(layout, twins, cached_only)
        except callbacks.NotCached:
            return None
    kept[exact] = NativeCallbacks(layout, functions, jacobian, hessian, made_by)
    return kept[exact]


def _numba_twin(fn):
    """``fn`` itself when Numba compiles it, else the same function on Numba, made once: the Numba
    route's cfuncs call Numba kernels, and "auto" compiles tensor graphs it lowers on llvm."""
    if fn.backend == "numba":
        return fn
    with fn._lock:
        if "_numba_twin" not in fn.__dict__:
            fn._numba_twin = type(fn)(fn.outputs, fn.inputs, fn.wrt, "numba", many=fn._many,
                                      max_statements=fn._max_statements, title=fn._title, progress=False,
                                      single=fn._single, simd=fn._simd)
        return fn._numba_twin


def llvm_route(problem, kernels: dict, jacobian, hessian):
    """``problem``'s callbacks on the llvm route (``runtime.ipopt.native_llvm.prepare``): the disk
    cache's key and a function that prints the module, or why not (``key`` None)."""
    from ..runtime.ipopt import native_llvm
    return native_llvm.prepare(problem.n, problem.m, problem.params, problem._sigma, problem._lambda,
                               kernels, jacobian, hessian)


def _check_parts(layout, jac_fn, hess_fn) -> None:
    """Every compressed part has the length the gather assumes (a broken assumption would read
    the wrong entries: refused here, never a wrong number)."""
    for fn, part in ((jac_fn, layout.jac_part), (hess_fn, layout.hess_part)):
        if fn is not None and any(math.prod(o.shape) != part or not o.shape for o in fn.outputs):
            raise AssertionError(f"compressed parts of {[o.shape for o in fn.outputs]}, expected ({part},) each")
