"""Loops in the IR: one ``scan`` node holding its body, and ``item`` nodes that pick its results.

A ``scan`` runs a closed sub-graph, its ``Body``, ``length`` times::

    carry = init
    for t in range(length):            # reversed(range(length)) with ``reverse``
        carry, y = body(carry, xs[t], params)
        ys[t] = y; history[t] = carry_before_step

Its operands are the initial carries, the sequences ``xs`` (sliced along their
first axis) and the loop's parameters (values from outside the body, read by
every step); the body sees them through placeholder symbols of its own, so it
depends on nothing outside and two identical loops are one node (hash-consing).
A scan node is a tuple (``dtype == "tuple"``); ``item(scan, k)`` is its k-th
result: the final carries, then the stacked ``ys`` (a leading axis of
``length``), then the ``history`` of each carry (its value before each step:
what the reverse pass reads; the generated loop stores it only where it is used).

>>> from compiler import ir
>>> c, x = ir.symbol("c"), ir.symbol("x")
>>> body = Body(carries=(c,), xs=(), params=(x,), new_carries=(c * x,), ys=())
>>> final = item(scan(body, [ir.constant(2.0)], [], [ir.symbol("a")], length=3), 0)
>>> final.shape, final.args[0].dtype
((), 'tuple')
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ShapeError
from .node import Node, apply, constant

#: the largest loop folded at build time when all its operands are constants
FOLD_MAX_STEPS = 100_000


@dataclass(frozen=True, eq=False)
class Body:
    """A loop's body: placeholders in (carries, slices of xs, params), nodes out (new carries, ys)."""
    carries: tuple
    xs: tuple
    params: tuple
    new_carries: tuple
    ys: tuple
    index: Node | None = None  # the step's number t as a float, where the body reads it (fori_loop)
    # a hint: a bool of the body such that, once it is true, the step leaves the carries as they
    # are, and so every later step: the generated loop may stop there (a converged solve)
    until: Node | None = None

    def __post_init__(self):
        for old, new in zip(self.carries, self.new_carries):
            if old.shape != new.shape or new.dtype != "float":
                raise ShapeError(f"a loop's step must return a carry of the shape it takes: "
                                 f"{_describe(old)} in, {_describe(new)} out")

    @property
    def inputs(self) -> tuple:
        return self.carries + self.xs + self.params + ((self.index,) if self.index is not None else ())

    @property
    def outputs(self) -> tuple:
        return self.new_carries + self.ys

    def _key(self) -> tuple:
        return (tuple(n.id for n in self.inputs), tuple(n.id for n in self.outputs),
                len(self.carries), len(self.xs), self.until.id if self.until is not None else None)

    def __eq__(self, other):
        return isinstance(other, Body) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self) -> str:  # structural and the same in every process: part of the node's skey
        h = 0
        for n in self.inputs + self.outputs:
            h = zlib.crc32(n.skey.to_bytes(8, "little"), h)
        return (f"Body(carries={len(self.carries)}, xs={len(self.xs)}, params={len(self.params)}, "
                f"ys={len(self.ys)}, structure={h:08x})")


def _describe(node: Node) -> str:
    kind = "a scalar" if not node.shape else f"shape {node.shape}"
    return kind if node.dtype == "float" else f"{kind} of {node.dtype}"


def scan(body: Body, init: Sequence[Node], xs: Sequence[Node], params: Sequence[Node], length: int,
         reverse: bool = False) -> Node:
    """The ``scan`` node of ``body`` on these operands (checked against its placeholders)."""
    init, xs, params = list(init), list(xs), list(params)
    for what, given, slots in (("carry", init, body.carries), ("parameter", params, body.params)):
        for k, (a, p) in enumerate(zip(given, slots)):
            if a.shape != p.shape:
                raise ShapeError(f"loop {what} {k}: the body takes {_describe(p)}, got {_describe(a)}")
    for k, (a, p) in enumerate(zip(xs, body.xs)):
        if a.shape != (length,) + p.shape:
            raise ShapeError(f"loop sequence {k} must have shape {(length,) + p.shape} ({length} steps of "
                             f"{p.shape}), got {a.shape}")
    if (len(init), len(xs), len(params)) != (len(body.carries), len(body.xs), len(body.params)):
        raise ValueError("the loop's operands do not match its body's placeholders")
    return apply("scan", *init, *xs, *params, params=(body, int(length), bool(reverse)))


def item(loop: Node, k: int) -> Node:
    """Result ``k`` of a scan: a final carry, stacked ys, or the history of a carry."""
    body, length, _ = loop.params
    nc, ny = len(body.carries), len(body.ys)
    if k < nc:
        node = body.new_carries[k]
        shape = node.shape
    elif k < nc + ny:
        shape = (length,) + body.ys[k - nc].shape
    elif k < 2 * nc + ny:
        shape = (length,) + body.carries[k - nc - ny].shape
    else:
        raise IndexError(f"a scan with {nc} carries and {ny} ys has no result {k}")
    return apply("item", loop, params=(int(k), shape))


def operands(loop: Node) -> tuple[list, list, list]:
    """A scan's operands: (initial carries, xs, params)."""
    body = loop.params[0]
    nc, nx = len(body.carries), len(body.xs)
    return list(loop.args[:nc]), list(loop.args[nc:nc + nx]), list(loop.args[nc + nx:])


def body_order(body: Body, roots: Sequence[Node] | None = None) -> list[Node]:
    """The body's nodes (or those ``roots`` need), operands first: placeholders and constants too."""
    from .graph import topo_order
    return topo_order(body.outputs if roots is None else roots)


# --- constant folding: a loop whose operands are all constants runs at build time ---

def run(loop: Node, values: Sequence) -> list:
    """Every result of ``loop`` on operand ``values`` (numbers and arrays), as NumPy computes them."""
    from .evaluate import evaluate_array
    body, length, reverse = loop.params
    nc, nx = len(body.carries), len(body.xs)
    carries = [np.asarray(v, dtype=float) for v in values[:nc]]
    xs = [np.asarray(v, dtype=float) for v in values[nc:nc + nx]]
    params = values[nc + nx:]
    order = body_order(body)
    ys = [np.empty((length,) + y.shape) for y in body.ys]
    history = [np.empty((length,) + c.shape) for c in body.carries]
    steps = range(length - 1, -1, -1) if reverse else range(length)
    for t in steps:
        env = {p.id: v for p, v in zip(body.carries, carries)}
        env.update({p.id: x[t] for p, x in zip(body.xs, xs)})
        env.update({p.id: v for p, v in zip(body.params, params)})
        if body.index is not None:
            env[body.index.id] = float(t)
        for node in order:
            if node.id in env:
                continue
            if node.op == "const":
                env[node.id] = node.value
            elif node.op == "var":
                raise ValueError(f"a loop body reads {node.name!r}, which is not one of its placeholders")
            elif node.op == "item":
                env[node.id] = run(node.args[0], [env[a.id] for a in node.args[0].args])[node.params[0]]
            elif node.op != "scan":
                env[node.id] = evaluate_array(node.op, node.params, [env[a.id] for a in node.args])
        for k, c in enumerate(carries):
            history[k][t] = c
        for k, y in enumerate(body.ys):
            ys[k][t] = env[y.id]
        carries = [np.asarray(env[n.id], dtype=float) for n in body.new_carries]
    results = [c if c.shape else float(c) for c in carries] + ys + history
    return results


def _fold_item(loop: Node, params) -> Node | None:
    """``item`` of a scan whose operands are all constants: the constant it computes."""
    if loop.op != "scan" or any(a.op != "const" for a in loop.args) or loop.params[1] > FOLD_MAX_STEPS:
        return None
    return constant(run(loop, [a.value for a in loop.args])[params[0]])


def _scan_shape(shapes, params):
    return ()


def _item_shape(shapes, params):
    return params[1]


def _no_rule(*_):
    raise AssertionError("the AD passes handle loops themselves (ad.loops)")


def loop_ops():
    """The table entries of ``scan`` and ``item`` (``ops.OPS``)."""
    from .ops import Op
    return [Op("scan", -1, "", _no_rule, params=("body", "length", "reverse"), shape_rule=_scan_shape,
               result="tuple"),
            Op("item", 1, "", _no_rule, params=("index", "shape"), shape_rule=_item_shape,
               simplify=lambda loop, params: _fold_item(loop, params))]
