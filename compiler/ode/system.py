"""The user's right-hand side, traced once: ``f(y, t, *params)`` and its exact derivatives as IR.

``System`` calls ``rhs`` once on placeholder symbols; every evaluation (one per
stage) substitutes the stage's entries into that graph, and the Jacobians the
stiff method and the sensitivities need (``d f / d y``, ``d f / d t``,
``d f / d params``) are reverse sweeps of it, also built once. Entries of the
state are scalar nodes: ``stack(entries)[i]`` folds back to the entry, so a
right-hand side that indexes ``y[i]`` compiles to scalar code.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .. import ir
from ..ad import reverse
from ..errors import ShapeError
from ..frontend import stack
from ..ir import Node


def entries(v: Node) -> list[Node]:
    """The scalar entries of a scalar or a 1-D vector."""
    return fold([v[i] for i in range(v.shape[0])]) if v.shape else [v]


def vector(values: list[Node], shape: tuple) -> Node:
    return stack(values) if shape else values[0]


def as_state(value, shape: tuple, what: str) -> Node:
    """``value`` (an expression, or a tuple or list of scalars) as a state of ``shape``."""
    if isinstance(value, (tuple, list)):
        value = stack([ir.as_node(v, what) for v in value])
    node = ir.as_node(value, what)
    if node.shape != shape or node.dtype != "float":
        raise ShapeError(f"odeint: {what} has shape {node.shape}{'' if node.dtype == 'float' else ' of ' + node.dtype}"
                         f"; the state has shape {shape} (the shape of y0)")
    return node


def fold(outputs: list[Node]) -> list[Node]:
    """``outputs`` with ``stack([a, b, ...])[k]`` replaced by the k-th entry (the IR keeps the
    array otherwise, and the generated loop body would build one per stage)."""
    new: dict[int, Node] = {}
    for n in ir.topo_order(outputs):
        args = [new[a.id] for a in n.args]
        if n.op == "getitem" and _picks_entry(args[0], n.params[0]):
            part = args[0].args[n.params[0][0][1]]
            new[n.id] = part.args[0]
        elif all(a is b for a, b in zip(args, n.args)):
            new[n.id] = n
        else:
            new[n.id] = ir.apply(n.op, *args, params=n.params)
    return [new[o.id] for o in outputs]


def _picks_entry(a: Node, index) -> bool:
    return (a.op == "concatenate" and a.params[0] == 0 and len(index) == 1 and index[0][0] == "int"
            and 0 <= index[0][1] < len(a.args) and all(p.op == "reshape" and p.shape == (1,) and not p.args[0].shape
                                                        for p in a.args))


class System:
    """``rhs`` traced on placeholders ``(y, t, *params)`` of the given shapes; ``tag`` names them.
    The state is a stack of scalar placeholders, one per entry, and ``y[i]`` in ``rhs`` folds to
    the i-th: the derivatives are reverse sweeps of scalar graphs (no array per sweep)."""

    def __init__(self, rhs: Callable, shape: tuple, param_shapes: list[tuple], tag: str):
        self.shape = shape
        self.ys = [ir.symbol(f"{tag} y{i}>") for i in range(shape[0] if shape else 1)]
        self.t = ir.symbol(f"{tag} t>")
        self.q = [ir.symbol(f"{tag} q{k}>", s) for k, s in enumerate(param_shapes)]
        out = as_state(rhs(vector(self.ys, shape), self.t, *self.q), shape, "the derivative rhs returns")
        self.f = fold(entries(out))
        self._rows = None

    def placeholders(self) -> list[Node]:
        return [*self.ys, self.t, *self.q]

    def _map(self, y: list[Node], t: Node, params: list[Node]) -> dict:
        return {**{s.id: ir.as_node(v, "y") for s, v in zip(self.ys, y)}, self.t.id: ir.as_node(t, "t"),
                **{q.id: p for q, p in zip(self.q, params)}}

    def __call__(self, y: list[Node], t: Node, params: list[Node]) -> list[Node]:
        return fold(ir.substitute(self.f, self._map(y, t, params)))

    def rows(self) -> list[list[Node]]:
        """Per entry i of f: ``[d f_i/d y_0, ..., d f_i/d t, d f_i/d q_0, ...]`` on the placeholders."""
        if self._rows is None:
            self._rows = [fold(reverse.vjp([fi], [ir.constant(1.0)], self.placeholders())) for fi in self.f]
        return self._rows

    def linearize(self, y: list[Node], t: Node, params: list[Node]) -> tuple[list[list[Node]], list[Node] | None]:
        """``(J, f_t)`` at ``(y, t)``: ``J[i][j] = d f_i / d y_j`` and ``d f / d t`` (None when f
        does not read t)."""
        n = len(self.ys)
        rows = self.rows()
        f_t = [r[n] for r in rows]
        reads_t = any(v.op != "const" for v in f_t)
        flat = [v for r in rows for v in r[:n]] + f_t
        values = fold(ir.substitute(flat, self._map(y, t, params)))
        jac = [values[i * n:(i + 1) * n] for i in range(n)]
        return jac, (values[n * n:] if reads_t else None)

    def param_jacobian(self, y: list[Node], t: Node, params: list[Node], which: list[int]) -> list[list[Node]]:
        """``[d f_i / d (entries of params[k] for k in which)]`` per i, at ``(y, t)``."""
        n = len(self.ys)
        rows = self.rows()
        flat = []
        for r in rows:
            for k in which:
                d = r[n + 1 + k]
                flat += entries(_flat(d)) if d.shape else [d]
        values = fold(ir.substitute(flat, self._map(y, t, params)))
        width = len(values) // len(rows)
        return [values[i * width:(i + 1) * width] for i in range(len(rows))]


def _flat(v: Node) -> Node:
    return ir.apply("reshape", v, params=((int(np.prod(v.shape)),),)) if len(v.shape) != 1 else v
