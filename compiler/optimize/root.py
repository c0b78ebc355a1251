"""Implicit functions: ``root(g, x0, *params)`` is the solution ``x*(p)`` of ``g(x, p) = 0``.

The value is Newton's method in compiled code: a loop of ``max_iter`` steps
(``cc.fori_loop``; the generated loop stops once ``max|g| <= tol``, from where
its steps change nothing), then a test of the last point (``nan`` if it fails:
a solve that did not converge never passes for a number) and one more step,
which takes a converged point to the last digits. The derivatives are not those
of the iterations: the node is a custom function (``ir.custom``) whose rule is
the implicit function theorem,

    dx*/dp = -g_x^-1 g_p,   so the vjp is   p_bar = -g_p^T lam,  g_x^T lam = x_bar,

a small dense linear solve at the solution (``x`` a scalar or a vector: up to
``CRAMER_MAX`` unknowns by Cramer's rule, a few products; more by the ``solve`` op, LU
with pivoting). The rule reads the solution
through the node itself, so it is differentiable again (Hessians of a loss of
``x*(p)``).

>>> import compiler as cc
>>> e, m = cc.symbols("e m")
>>> E = cc.root(lambda E, e, m: E - e * cc.sin(E) - m, m, e, m)   # Kepler's equation
>>> fn = cc.compile(E, [e, m], backend="python")
>>> round(fn(0.5, 1.0), 10), [round(d, 10) for d in fn.grad(0.5, 1.0)]   # dE/dM = 1 / (1 - e cos E)
(1.4987011335, [1.0346672324, 1.0373620219])
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from .. import ir
from ..ad import reverse
from ..errors import ShapeError, TracingError, UnsupportedError
from ..frontend import decompositions, fori_loop, stack, where
from ..frontend import max as amax
from ..ir import Node
from ..ir.custom import Rule, custom

CRAMER_MAX = 3  # up to this many unknowns, the Newton step and the rule solve by Cramer's rule
DEFAULT_TOL = 1e-10
DEFAULT_MAX_ITER = 50
_depth = threading.local()


def root(g: Callable, x0, *params, tol: float = DEFAULT_TOL, max_iter: int = DEFAULT_MAX_ITER,
         name: str = "root") -> Node:
    """The solution ``x`` of ``g(x, *params) = 0`` near ``x0``, by Newton's method, as an expression
    of ``params`` whose derivatives come from the implicit function theorem; ``nan`` where
    ``max|g(x)| <= tol`` is not reached in ``max_iter`` steps. ``x0`` (a number, an expression
    or a 1-D vector) gives the unknown's shape; ``g`` returns one of the same shape.
    """
    x0 = ir.as_node(x0, "x0 of root")
    args = [ir.as_node(p, f"parameter {k} of root") for k, p in enumerate(params)]
    shape = x0.shape
    if len(shape) > 1 or (shape and shape[0] < 1):
        raise UnsupportedError(f"root solves for a scalar or a 1-D vector of unknowns (flatten a matrix of "
                               f"them); x0 has shape {shape}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"root: max_iter must be a positive int, got {max_iter!r}")
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise ValueError(f"root: tol must be a positive number, got {tol!r}")
    depth = getattr(_depth, "value", 0) + 1
    _depth.value = depth
    try:
        rule = _rule(g, shape, [a.shape for a in args], float(tol), int(max_iter), f"<{name}#{depth}", name)
    finally:
        _depth.value = depth - 1
    return custom(rule, [x0] + args)


def _rule(g, shape, shapes, tol, max_iter, tag, name) -> Rule:
    start = ir.symbol(f"{tag} x0>", shape)
    ps = [ir.symbol(f"{tag} p{k}>", s) for k, s in enumerate(shapes)]

    def residual(x: Node) -> Node:
        r = ir.as_node(g(x, *ps), "the residual g returns")
        if r.shape != shape or r.dtype != "float":
            raise ShapeError(f"root: g must return a residual of the unknown's shape {shape}, got shape {r.shape}"
                             f"{'' if r.dtype == 'float' else ' of ' + r.dtype}")
        return r

    def size(r: Node) -> Node:
        return amax(abs(r)) if shape else abs(r)

    def newton(_, x):
        r = residual(x)
        step = _solve(_jacobian(r, x), _entries(r))
        return where(size(r) <= tol, x, x - _vector(step, shape))

    x = _stopping(fori_loop(0, max_iter, newton, start))
    # the test, then one more step (to the last digits: the loop stops moving at tol); a
    # non-finite step (a singular g_x at the root) is not taken
    r = residual(x)
    polished = x - _vector(_solve(_jacobian(r, x), _entries(r)), shape)
    finite = size(polished - x) < np.inf
    primal = where(size(r) <= tol, where(finite, polished, x), np.nan)
    # the implicit function theorem, at the solution (the node itself: placeholder ``out``)
    out, x_bar = ir.symbol(f"{tag} out>", shape), ir.symbol(f"{tag} g>", shape)
    r = residual(out)
    lam = _vector(_solve(_transpose(_jacobian(r, out)), _entries(x_bar)), shape)
    cotangents = [-c for c in reverse.vjp([r], [lam], ps)] if ps else []
    outside = [n.name for n in ir.topo_order([primal, *cotangents])
               if n.op == "var" and n.id not in {p.id for p in [start, out, x_bar, *ps]}]
    if outside:
        raise TracingError(f"root: g reads {outside} from outside its arguments; pass them as params "
                           "(root(g, x0, *params)) so the solution's derivatives include them")
    return Rule(name, (start, *ps), primal, g=x_bar, cotangents=(None, *cotangents), output=out)


def _stopping(x: Node) -> Node:
    """The Newton loop's result, its body told that it may stop once converged (``Body.until``:
    the step's ``where(converged, x, x - dx)`` leaves x as it is from then on)."""
    from ..ir import loops
    loop = x.args[0]
    body = loop.params[0]
    step = body.new_carries[0]
    if step.op != "where":  # the solve folded to something simpler: nothing to stop
        return x
    until = step.args[0].args[0] if step.args[0].op == "broadcast_to" else step.args[0]
    body = loops.Body(body.carries, body.xs, body.params, body.new_carries, body.ys, body.index, until)
    return loops.item(loops.scan(body, *loops.operands(loop), *loop.params[1:]), 0)


def _entries(v: Node) -> list[Node]:
    return [v[i] for i in range(v.shape[0])] if v.shape else [v]


def _vector(entries: list[Node], shape: tuple) -> Node:
    return stack(entries) if shape else entries[0]


def _jacobian(r: Node, x: Node) -> list[list[Node]]:
    """``J[i][j] = d r_i / d x_j`` as IR (one reverse sweep per row)."""
    if not x.shape:
        return [[reverse.vjp([r], [ir.constant(1.0)], [x])[0]]]
    n = x.shape[0]
    return [_entries(reverse.vjp([r], [ir.constant(np.eye(n)[i])], [x])[0]) for i in range(n)]


def _transpose(a: list[list[Node]]) -> list[list[Node]]:
    return [list(col) for col in zip(*a)]


def _det(a: list[list[Node]]) -> Node:
    n = len(a)
    if n == 1:
        return a[0][0]
    if n == 2:
        return a[0][0] * a[1][1] - a[0][1] * a[1][0]
    return (a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]))


def _solve(a: list[list[Node]], b: list[Node]) -> list[Node]:
    """``a^-1 b``: by Cramer's rule for n <= ``CRAMER_MAX`` (a few products; less accurate than
    pivoted elimination when ``a`` is ill-conditioned), else by the ``solve`` op (LU with
    pivoting); a singular ``a`` gives inf/nan, which the final test turns into nan."""
    n = len(a)
    if n == 1:
        return [b[0] / a[0][0]]
    if n > CRAMER_MAX:
        return _entries(decompositions.solve(stack([stack(row) for row in a]), stack(b)))
    det = _det(a)
    return [_det([[b[i] if j == k else a[i][j] for j in range(n)] for i in range(n)]) / det for k in range(n)]
