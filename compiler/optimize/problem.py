"""A nonlinear program from expressions: the objective, the constraints, and every derivative IPOPT asks for.

``nlp(f, x, g, params)`` compiles the objective and its gradient, the
constraint vector and its sparse Jacobian, and the sparse Hessian of the
Lagrangian ``sigma * f + sum(lambda * g)`` (``sigma`` and ``lambda`` are inputs
of one compiled function, so IPOPT's multipliers change nothing but its
arguments). Decision variables and constraints of any shapes are laid out
one after the other in C order in IPOPT's flat vectors.

>>> import compiler as cc
>>> x = cc.Tensor("x", (2,))
>>> problem = cc.nlp((x[0] - 1) ** 2 + (x[1] - 2) ** 2, x, g=[x[0] + x[1]], backend="python")
>>> problem
NLP(n=2 variables x(2,), m=1 constraints)
>>> problem.jacobian_structure()
(array([0, 0]), array([0, 1]))
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import frontend, ir
from ..ad.coloring import ColorLimit
from ..errors import ArgumentError, ShapeError, UnsupportedError
from ..frontend.dispatch import as_expr
from ..runtime import compile as compile_function
from ..runtime.derivatives import coloring, sparse_evaluator
from ..runtime.scipy_adapter import Layout

# Beyond these the exact Hessian of the Lagrangian is not worth forming: IPOPT's quasi-Newton
# option (hessian_approximation="limited-memory") is the way.
MAX_HESSIAN_NONZEROS = 20_000_000  # stored entries of the lower triangle
MAX_HESSIAN_COLORS = 500           # Hessian-vector products in one compressed evaluation


def _variables(x, what: str) -> list[ir.Node]:
    items = list(x) if isinstance(x, (list, tuple)) else [x]
    out = []
    for i, item in enumerate(items):
        node = as_expr(item)
        if node.op != "var":
            raise ArgumentError(f"{what}[{i}] must be a symbol or tensor (cc.Symbol, cc.Tensor), "
                                f"got the expression {ir.short_str(node)!r}")
        out.append(node)
    names = [n.name for n in out]
    if len(set(names)) != len(names):
        raise ArgumentError(f"{what} lists a variable twice: {names}")
    return out


def _expressions(g) -> list[ir.Node]:
    if g is None:
        return []
    return [as_expr(e) for e in (g if isinstance(g, (list, tuple)) else [g])]


class NLP:
    """``min f(x)`` subject to ``cl <= g(x) <= cu`` and ``lb <= x <= ub``, compiled.

    ``n``/``m``: the lengths of the flat variable and constraint vectors; ``variables`` and
    ``constraints`` their layouts (``flatten``/``unflatten``). ``ipopt_callbacks(*params)`` gives
    the object ``cyipopt.Problem`` calls; ``solve(x0, ...)`` runs IPOPT (``compiler.optimize.ipopt``).
    """

    def __init__(self, f, x, g=None, params: Sequence = (), *, backend: str = "auto"):
        objective = as_expr(f)
        if objective.shape:
            raise ShapeError(f"the objective f must be a scalar, got shape {objective.shape} "
                             "(sum it, or give vector parts as constraints g)")
        self.x = _variables(x, "x")
        self.params = _variables(params, "params")
        clash = {n.name for n in self.x} & {n.name for n in self.params}
        if clash:
            raise ArgumentError(f"{sorted(clash)} is both a variable (x) and a parameter (params)")  # type: ignore[type-var]
        self.g = _expressions(g)
        inputs = self.x + self.params
        known = {n.id for n in inputs}
        for what, exprs in (("f", [objective]), ("g", self.g)):
            missing = [n.name for n in ir.free_symbols(exprs) if n.id not in known]
            if missing:
                raise ArgumentError(f"{what} uses symbol(s) {missing} that are neither variables (x) "
                                    f"nor parameters (params)")
        self.f, self.backend = objective, backend
        self.variables = Layout([n.name for n in self.x], [n.shape for n in self.x])  # type: ignore[misc]
        self.constraints = Layout([f"g[{i}]" for i in range(len(self.g))], [e.shape for e in self.g])
        self.n, self.m = self.variables.n, self.constraints.n
        # Every function is compiled of IPOPT's own flat vector: each variable is a slice of it,
        # so a callback is one kernel call on the array IPOPT passes, nothing split or joined.
        taken = {n.name for n in inputs}
        self.flat = _fresh("x_flat", (self.n,), taken)  # type: ignore[arg-type]
        f_flat, *g_flat = ir.substitute([objective] + self.g, self._pieces())
        g_vector = _join(g_flat)
        flat_inputs = [self.flat] + self.params
        self.objective_fn = compile_function(f_flat, flat_inputs, wrt=self.flat, backend=backend, progress=False)
        self.constraint_fn = (compile_function(g_vector, flat_inputs, wrt=self.flat, backend=backend,
                                               progress=False) if self.g else None)
        self._sigma = _fresh("obj_factor", (), taken)  # type: ignore[arg-type]
        self._lambda = _fresh("lambda", (self.m,), taken)  # type: ignore[arg-type]
        lagrangian = self._sigma * f_flat + (frontend.sum(self._lambda * g_vector) if self.g else 0.0)
        self._lagrangian = (lagrangian, flat_inputs + [self._sigma, self._lambda])
        self._lagrangian_fn = None
        self._hessian = None  # (rows, cols, positions in the CSR data) of the lower triangle
        self._jacobian_values = self._hessian_values = None  # sparse_evaluator()s, once made

    def _pieces(self) -> dict:
        """Each variable as an expression of the flat vector: a slice, reshaped; an element."""
        pieces = {}
        for node, lo, size in zip(self.x, self.variables.offsets[:-1], self.variables.sizes):
            lo = int(lo)
            if not node.shape:
                pieces[node.id] = self.flat[lo]
            else:
                piece = self.flat[lo:lo + size]
                pieces[node.id] = piece if node.shape == (size,) else frontend.reshape(piece, node.shape)
        return pieces

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_native", None)  # the C callbacks (``native``): made again where it is unpickled
        state.pop("_repeat", None)  # and what repeat solves share (``repeat``), holding them
        state["_jacobian_values"] = state["_hessian_values"] = None  # closures of sparse_evaluator(), likewise
        return state

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n.name}{n.shape}" for n in self.x)
        made = self.__dict__.get("_native") or {}
        route = "".join(f", callbacks: {c.route}" for c in list(made.values())[-1:])  # (once made: llvm or numba)
        return f"NLP(n={self.n} variables {shapes}, m={self.m} constraints{route})"

    # --- the structures IPOPT asks for once ---

    def jacobian_structure(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns of the constraint Jacobian's nonzeros, in the order of its values."""
        if self.constraint_fn is None:
            return np.zeros(0, int), np.zeros(0, int)
        pattern = self.constraint_fn.jacobian_sparsity()
        return np.repeat(np.arange(pattern.shape[0]), np.diff(pattern.indptr)), pattern.indices.astype(int)

    @property
    def lagrangian_fn(self):
        """``obj_factor * f + sum(lambda * g)`` compiled over (x_flat, params, obj_factor, lambda),
        wrt x_flat (made when first asked for: the limited-memory mode never needs it)."""
        if self._lagrangian_fn is None:
            total, inputs = self._lagrangian
            self._lagrangian_fn = compile_function(total, inputs, wrt=self.flat, backend=self.backend,
                                                   progress=False)
        return self._lagrangian_fn

    def hessian_structure(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns (``row >= col``) of the Lagrangian Hessian's lower triangle."""
        rows, cols, _ = self._lower_triangle()
        return rows, cols

    def _lower_triangle(self):
        if self._hessian is None:
            fn = self.lagrangian_fn
            advice = ('use IPOPT\'s quasi-Newton Hessian instead: '
                      'options={"hessian_approximation": "limited-memory"}')
            try:
                pattern = fn.hessian_sparsity()
            except UnsupportedError as e:
                raise UnsupportedError(f"the Hessian of the Lagrangian is too dense to form ({e}); {advice}") from None
            if pattern.nnz > MAX_HESSIAN_COLORS * max(self.n, 1):  # rows wider than the limit, on average
                raise UnsupportedError(f"the Hessian of the Lagrangian has {pattern.nnz:,} nonzeros for {self.n:,} "
                                       f"variables: it is nearly dense; {advice}")
            rows = np.repeat(np.arange(pattern.shape[0]), np.diff(pattern.indptr))
            lower = rows >= pattern.indices
            stored = int(lower.sum())
            if stored > MAX_HESSIAN_NONZEROS:
                raise UnsupportedError(f"the Hessian of the Lagrangian has {stored:,} nonzeros in its lower "
                                       f"triangle (limit {MAX_HESSIAN_NONZEROS:,}); {advice}")
            try:
                coloring(fn, "hessian", max_colors=MAX_HESSIAN_COLORS)
            except ColorLimit:
                raise UnsupportedError(f"the Hessian of the Lagrangian needs more than {MAX_HESSIAN_COLORS} "
                                       f"Hessian-vector products per evaluation: it is nearly dense; {advice}") from None
            self._hessian = rows[lower], pattern.indices[lower].astype(int), np.flatnonzero(lower)
        return self._hessian

    # --- values at a point (x flat; params as given) ---

    def bind(self, params: Sequence) -> tuple:
        """``params`` checked (count, shapes, real and finite values) and converted once to what
        the kernels of every backend take: a float, or a C-contiguous float64 array of its own.

        >>> import compiler as cc
        >>> x, p = cc.Symbol("x"), cc.Tensor("p", (2,))
        >>> cc.nlp((x - p[0]) ** 2, x, params=[p], backend="python").bind([[1, 2]])
        (array([1., 2.]),)
        """
        params = tuple(params)
        if len(params) != len(self.params):
            raise ArgumentError(f"expected {len(self.params)} parameter value(s) "
                                f"({', '.join(n.name for n in self.params) or 'none'}), got {len(params)}")  # type: ignore[misc]
        return tuple(_parameter(node, value, i) for i, (node, value) in enumerate(zip(self.params, params)))

    def _x(self, x) -> np.ndarray:
        """``x`` as the kernels take it: IPOPT's own array as it is, anything else checked."""
        if type(x) is np.ndarray and x.dtype == np.float64 and x.shape == (self.n,) and x.flags.c_contiguous:
            return x
        return np.ascontiguousarray(real_vector(x, self.variables, "x"))

    def objective(self, x, params: tuple) -> float:
        return float(self.objective_fn._value.run([self._x(x), *params]))

    def gradient(self, x, params: tuple) -> np.ndarray:
        return self.objective_fn._vg.run([self._x(x), *params])[1][0]

    def constraint_values(self, x, params: tuple) -> np.ndarray:
        if self.constraint_fn is None:
            return np.zeros(0)
        return self.constraint_fn._value.run([self._x(x), *params])

    def jacobian_values(self, x, params: tuple) -> np.ndarray:
        if self.constraint_fn is None:
            return np.zeros(0)
        if self._jacobian_values is None:
            self._jacobian_values = sparse_evaluator(self.constraint_fn, "jacobian")
        return self._jacobian_values([self._x(x), *params])  # type: ignore[misc]

    def hessian_values(self, x, params: tuple, multipliers, obj_factor: float) -> np.ndarray:
        if self._hessian_values is None:
            _, _, lower = self._lower_triangle()
            self._hessian_values = sparse_evaluator(self.lagrangian_fn, "hessian", keep=lower)
        multipliers = np.ascontiguousarray(self.constraints.check(multipliers, "the constraint multipliers"))
        return self._hessian_values([self._x(x), *params, float(obj_factor), multipliers])  # type: ignore[misc]

    # --- IPOPT ---

    def ipopt_callbacks(self, *params, hessian: bool = True):
        """The object ``cyipopt.Problem(n, m, problem_obj=...)`` calls, with ``params`` bound;
        ``hessian=False`` leaves out the Hessian (IPOPT's limited-memory mode)."""
        from .ipopt import Callbacks, FirstOrderCallbacks
        return (Callbacks if hessian else FirstOrderCallbacks)(self, self.bind(params))

    def solve(self, x0, lb=None, ub=None, cl=None, cu=None, params: Sequence = (), options: dict | None = None,
              *, callback=None, verbose: bool = False, driver: str = "auto"):
        """Run IPOPT from ``x0`` (flat, ``n`` entries; see ``variables.flatten``): bounds
        ``lb <= x <= ub`` (default: none) and ``cl <= g(x) <= cu`` (default: ``g(x) = 0``), scalars
        or arrays. ``options`` are IPOPT's (``print_level`` defaults to 0). ``callback(iteration,
        objective, **stats)`` runs once per iteration and stops the solve by returning False;
        ``verbose`` prints a line per iteration. ``driver``: ``"native"`` (C callbacks calling the
        compiled kernels), ``"cyipopt"``, or ``"auto"`` (native when it can run: ``cc.nlp_info()``).
        Returns ``NLPResult``."""
        repeat = self.__dict__.get("_repeat")
        if repeat is not None and callback is None and not verbose and (driver == "auto" or driver == "native"):
            # Solved natively before: what depends on the problem alone is made (``optimize.repeat``).
            result = repeat.solve(x0, lb, ub, cl, cu, params, options)
            if result is not None:
                return result
        from .ipopt import solve
        return solve(self, x0, lb, ub, cl, cu, params, options, callback, verbose, driver)


def real_values(value, what: str, shape: tuple | None = None) -> np.ndarray:
    """``value`` as a float64 array if it holds real numbers (bool, int, float of any layout),
    else an ``ArgumentError`` naming ``what``: complex numbers, text, None, masked or object
    arrays are refused (a complex part would be dropped, a mask ignored)."""
    expected = f"real numbers{'' if shape is None else f' of shape {shape}'}"
    if value is None or isinstance(value, (str, bytes, complex, np.complexfloating, np.ma.MaskedArray)):
        raise ArgumentError(f"{what} must be {expected}, got {type(value).__name__}")
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists, objects NumPy cannot take
        raise ArgumentError(f"{what} must be {expected}, got {type(value).__name__}") from exc
    if array.dtype.kind not in "biuf":
        raise ArgumentError(f"{what} must be {expected}, got an array of dtype {array.dtype}")
    return array.astype(np.float64)


def _first_bad(array: np.ndarray) -> str:
    """Where and what the first non-finite entry of ``array`` is."""
    if not array.ndim:
        return str(float(array))
    index = np.unravel_index(int(np.flatnonzero(~np.isfinite(array))[0]), array.shape)
    return f"{array[index]} at index {index if array.ndim > 1 else index[0]}"


def _parameter(node: ir.Node, value, i: int):
    """One parameter's value checked and converted (a float for a scalar, else a fresh
    C-contiguous float64 array: Numba kernels take nothing else)."""
    what = f"parameter {node.name!r} (position {i + 1} of params)"
    array = real_values(value, what, node.shape)
    if array.shape != node.shape:
        raise ShapeError(f"{what} has shape {node.shape}, got {array.shape}")
    if not np.isfinite(array).all():
        raise ArgumentError(f"{what} must be finite, got {_first_bad(array)}")
    return float(array) if not node.shape else np.array(array, dtype=np.float64, order="C")


def real_vector(x, layout: Layout, what: str) -> np.ndarray:
    """A flat point (``x0``, ``x``) checked: real, finite, ``layout.n`` entries."""
    array = layout.check(real_values(x, what), what)
    if not np.isfinite(array).all():
        raise ArgumentError(f"{what} must be finite, got {_first_bad(array)}")
    return array


def _join(parts: list[ir.Node]) -> ir.Node | None:
    """The constraints as one flat vector (None for none)."""
    flat = [frontend.ravel(p) if p.shape else frontend.reshape(p, (1,)) for p in parts]
    if not flat:
        return None
    return flat[0] if len(flat) == 1 else frontend.concatenate(flat)


def _fresh(name: str, shape: tuple, taken: set[str]) -> ir.Node:
    """A new input named ``name`` (``name_2``, ... if a variable or parameter has that name)."""
    base, k = name, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return ir.symbol(name, shape)


def nlp(f, x, g=None, params: Sequence = (), *, backend: str = "auto") -> NLP:
    """The nonlinear program ``min f(x)`` s.t. ``cl <= g(x) <= cu``, ``lb <= x <= ub``, compiled.

    ``f``: a scalar expression; ``x``: the decision variables (a symbol or tensor, or a list of
    them: one flat vector in that order); ``g``: the constraints (an expression or a list of
    scalars and tensors: one flat vector); ``params``: inputs bound when solving.
    """
    return NLP(f, x, g, params, backend=backend)
