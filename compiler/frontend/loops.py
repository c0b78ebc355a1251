"""Loops: ``scan`` and ``fori_loop``, with JAX's meaning, traced once into one IR node.

``step(carry, x) -> (carry, y)`` is called once, on placeholder symbols; what
it builds is the loop's body (``ir.loops.Body``). Values from outside that the
step reads (parameters) become operands of the loop, so they get gradients.
Carries, xs and ys are scalars, tensors, or tuples and lists of them.

>>> import compiler as cc
>>> a = cc.Symbol("a")
>>> final, ys = cc.scan(lambda c, x: (c * a + x, c), 1.0, xs=cc.Tensor("xs", (4,)))
>>> final.shape, ys.shape
((), (4,))
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from typing import Callable

import numpy as np

from .. import ir
from ..errors import ShapeError, TracingError
from ..ir import Node, loops

CHECKPOINTS = ("all", "sqrt")
_depth = threading.local()  # how many scans are being traced in this thread (nested steps)
_tracing = threading.local()  # the placeholders of the steps being traced: a stack of (ids, index)
_TRACES = itertools.count(1)  # each trace's placeholders get a number of their own (then renamed)
_PLACEHOLDER = re.compile(r"^<scan\d+\.\d+ (carry|x|index)\b")


def scan(step: Callable, init, xs=None, length: int | None = None, *, reverse: bool = False,
         checkpoint: str = "all"):
    """Loop ``step(carry, x) -> (carry, y)`` over ``xs`` (sliced along their first axis) or
    ``length`` times; return the final carry and the stacked ``y``s (a leading axis of the
    number of steps; None where ``step`` returns None).

    The reverse pass stores every carry (``checkpoint="all"``), or one every
    ``sqrt(length)`` steps and recomputes the others (``"sqrt"``: O(sqrt(length))
    memory for about one more forward sweep).

    >>> import compiler as cc
    >>> x = cc.Symbol("x")
    >>> final, _ = cc.scan(lambda c, _: (c * x, None), 1.0, length=3)
    >>> cc.compile(final, [x], backend="python").value_and_grad(2.0)
    (8.0, (12.0,))
    """
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"checkpoint must be one of {CHECKPOINTS}, got {checkpoint!r}")
    init_leaves, init_tree = _flatten(init, "init")
    xs_leaves, xs_tree = _flatten(xs, "xs") if xs is not None else ([], None)
    for k, leaf in enumerate(xs_leaves):
        if not leaf.shape:
            raise ShapeError(f"xs[{k}] is a scalar: a loop's xs are sliced along their first axis")
    steps = {leaf.shape[0] for leaf in xs_leaves}
    if length is not None:
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
            raise ValueError(f"length must be a non-negative int, got {length!r}")
        if steps and steps != {int(length)}:
            raise ShapeError(f"length={length} disagrees with xs, whose first axes are {sorted(steps)}")
    elif not steps:
        raise ValueError("scan needs xs to slice, or length= for a loop without xs")
    elif len(steps) > 1:
        raise ShapeError(f"the xs of one loop must have the same first axis, got {sorted(steps)}")
    n = int(length) if length is not None else steps.pop()
    if checkpoint == "sqrt" and n > 3:
        return _scan_sqrt(step, init, xs, n, reverse)
    return _scan(step, init_leaves, init_tree, xs_leaves, xs_tree, n, reverse)


def fori_loop(lower: int, upper: int, body: Callable, init, *, checkpoint: str = "all"):
    """``body(i, carry) -> carry`` for ``i`` from ``lower`` to ``upper - 1``; the final carry.
    ``i`` is the step's index as a number (an expression: use it in arithmetic, not in ``if``).

    >>> import compiler as cc
    >>> x = cc.Symbol("x")
    >>> cc.compile(cc.fori_loop(0, 4, lambda i, c: c + i * x, 0.0), [x], backend="python")(1.0)
    6.0
    """
    for what, v in (("lower", lower), ("upper", upper)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"fori_loop: {what} must be an int (the number of steps is fixed when the "
                            f"loop is built), got {v!r}")
    n = max(0, int(upper) - int(lower))
    start = float(lower)
    if checkpoint == "sqrt":  # the loop is split in segments: the step's number travels as a carry
        (_, final), _ = scan(lambda c, _: ((c[0] + 1.0, body(c[0], c[1])), None), (start, init), length=n,
                             checkpoint=checkpoint)
        return final
    final, _ = scan(lambda c, _: (body(_index() + start, c), None), init, length=n, checkpoint=checkpoint)
    return final


def _index() -> Node:
    """The step number of the loop being traced (a placeholder of its body)."""
    return _tracing.stack[-1][1]


def _refuse_escaped(outputs: list[Node], placeholders: list[Node]) -> None:
    """A placeholder of another loop's step (kept in a Python variable past its trace) is a
    ``TracingError``: hash-consed by name, it would silently become this loop's own carry."""
    live = {p.id for p in placeholders}
    for ids, _ in getattr(_tracing, "stack", []):  # enclosing steps: their values are parameters here
        live |= ids
    for node in ir.free_symbols(outputs):
        if node.id not in live and _PLACEHOLDER.match(node.name):  # type: ignore[arg-type]
            kind = _PLACEHOLDER.match(node.name).group(1)  # type: ignore[arg-type, union-attr]
            raise TracingError(f"this scan's step uses {node.name!r}, the {kind} of another scan's step "
                               "that escaped it (kept in a Python variable, a list or a closure): a step's "
                               "values exist only inside that step; take what a loop computes from its "
                               "results (the final carry or the ys)")


def _scan(step, init_leaves, init_tree, xs_leaves, xs_tree, n: int, reverse: bool):
    depth = getattr(_depth, "value", 0) + 1
    tag, trace = f"scan{depth}", f"scan{depth}.{next(_TRACES)}"
    # placeholders of this trace alone (an escaped one is told apart), renamed after tracing to
    # names of the depth alone, so that identical loops stay one node
    traced = ([ir.symbol(f"<{trace} carry {k}>", leaf.shape) for k, leaf in enumerate(init_leaves)]
              + [ir.symbol(f"<{trace} x {k}>", leaf.shape[1:]) for k, leaf in enumerate(xs_leaves)]
              + [ir.symbol(f"<{trace} index>")])
    nc, nx = len(init_leaves), len(xs_leaves)
    stack = _tracing.__dict__.setdefault("stack", [])
    stack.append(({p.id for p in traced}, traced[-1]))
    _depth.value = depth
    try:
        out = step(_unflatten(init_tree, traced[:nc]),
                   _unflatten(xs_tree, traced[nc:nc + nx]) if xs_tree is not None else None)
    finally:
        _depth.value = depth - 1
        stack.pop()
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"a scan's step must return (carry, y) (y may be None), got {type(out).__name__}")
    new_leaves, new_tree = _flatten(out[0], "the carry the step returns")
    if new_tree != init_tree:
        raise ShapeError(f"the step returns a carry of structure {_show(new_tree)}; init has {_show(init_tree)}")
    for k, (old, new) in enumerate(zip(init_leaves, new_leaves)):
        if new.shape != old.shape or new.dtype != "float":
            raise ShapeError(f"carry {k}: the step takes {_kind(old)} and returns {_kind(new)}; a carry keeps "
                             f"its shape and dtype from step to step")
    y_leaves, y_tree = _flatten(out[1], "the y the step returns") if out[1] is not None else ([], None)
    for k, y in enumerate(y_leaves):
        if y.dtype != "float":
            raise TypeError(f"y {k} of the step is a comparison; ys are numbers (use cc.where)")
    new_leaves = [ir.apply("broadcast_to", c, params=(o.shape,)) if c.shape != o.shape else c
                  for c, o in zip(new_leaves, init_leaves)]
    _refuse_escaped(new_leaves + y_leaves, traced)
    carries = [ir.symbol(f"<{tag} carry {k}>", leaf.shape) for k, leaf in enumerate(init_leaves)]
    slices = [ir.symbol(f"<{tag} x {k}>", leaf.shape[1:]) for k, leaf in enumerate(xs_leaves)]
    index = ir.symbol(f"<{tag} index>")
    traced_out = ir.substitute(new_leaves + y_leaves, {t.id: c for t, c in zip(traced, carries + slices + [index])})
    params, outer = _close(carries + slices + [index], traced_out, tag)
    inner = ir.substitute(traced_out, {o.id: p for o, p in zip(outer, params)})
    read = {n.id for n in ir.topo_order(inner)}
    body = loops.Body(tuple(carries), tuple(slices), tuple(params), tuple(inner[:len(new_leaves)]),
                      tuple(inner[len(new_leaves):]), index if index.id in read else None)
    node = loops.scan(body, init_leaves, xs_leaves, outer, n, reverse)
    finals = [loops.item(node, k) for k in range(len(carries))]
    ys = [loops.item(node, len(carries) + k) for k in range(len(y_leaves))]
    return _unflatten(init_tree, finals), (_unflatten(y_tree, ys) if y_tree is not None else None)


def _close(placeholders: list[Node], outputs: list[Node], tag: str) -> tuple[list[Node], list[Node]]:
    """The values from outside that the body reads (the largest subexpressions that do not
    depend on its placeholders, constants aside), and a placeholder of the body for each."""
    inside = {p.id for p in placeholders}
    order = ir.topo_order(outputs)
    for node in order:
        if node.id not in inside and any(a.id in inside for a in node.args):
            inside.add(node.id)
    used: dict[int, Node] = {}

    def read(a: Node) -> None:
        if a.id in inside or a.op == "const":
            return
        if a.dtype == "bool":  # a condition stays in the body; what it compares is read instead
            inside.add(a.id)
            for b in a.args:
                read(b)
        else:
            used.setdefault(a.id, a)
    for node in order:
        if node.id in inside:
            for a in node.args:
                read(a)
    for o in outputs:
        read(o)
    outer = sorted(used.values(), key=lambda n: n.id)
    params = [ir.symbol(f"<{tag} param {k}>", o.shape) for k, o in enumerate(outer)]
    return params, outer


def _scan_sqrt(step, init, xs, n: int, reverse: bool):
    """``scan`` with O(sqrt(n)) memory in the reverse pass: an outer loop over segments of
    ``k`` steps, each an inner loop; the outer loop's carries are the checkpoints."""
    k = _segment(n)
    m, rest = divmod(n, k)
    xs_leaves, xs_tree = _flatten(xs, "xs") if xs is not None else ([], None)
    def inner_step(c, seg):
        return scan(step, c, seg, length=k, reverse=reverse)

    head_xs = [_reshape(_rows(a, 0, m * k), (m, k) + a.shape[1:]) for a in xs_leaves]
    tail_xs = [_rows(a, m * k, n) for a in xs_leaves]
    seg = _unflatten(xs_tree, head_xs) if xs_tree is not None else None
    tail = _unflatten(xs_tree, tail_xs) if xs_tree is not None else None
    if not reverse:
        carry, ys_head = scan(inner_step, init, seg, length=m)
        if rest:
            carry, ys_tail = scan(step, carry, tail, length=rest)
        else:
            ys_tail = None
    else:  # the last steps first: the tail, then the segments from the last
        ys_tail = None
        carry = init
        if rest:
            carry, ys_tail = scan(step, carry, tail, length=rest, reverse=True)
        carry, ys_head = scan(inner_step, carry, seg, length=m, reverse=True)
    if ys_head is None:
        return carry, None
    head_leaves, tree = _flatten(ys_head, "ys")
    flat = [_reshape(y, (m * k,) + y.shape[2:]) for y in head_leaves]
    if ys_tail is not None:
        tail_leaves, _ = _flatten(ys_tail, "ys")
        flat = [ir.apply("concatenate", a, b, params=(0,)) for a, b in zip(flat, tail_leaves)]
    return carry, _unflatten(tree, flat)


def _segment(n: int) -> int:
    """Steps per segment: about sqrt(n), a divisor of n where one is near (no loop for the rest
    of the steps: a smaller program to compile)."""
    root = math.isqrt(n - 1) + 1
    for d in range(root, max(2, root // 2) - 1, -1):
        if n % d == 0:
            return d
    return root


def _rows(a: Node, start: int, stop: int) -> Node:
    whole = tuple(("slice", 0, d, 1) for d in a.shape[1:])
    return ir.apply("getitem", a, params=((("slice", start, stop, 1),) + whole,))


def _reshape(a: Node, shape: tuple) -> Node:
    return ir.apply("reshape", a, params=(tuple(shape),))


# --- carries and xs as trees: tuples and lists of leaves ---

def _flatten(tree, what: str) -> tuple[list[Node], object]:
    leaves: list[Node] = []

    def walk(t):
        if isinstance(t, (tuple, list)):
            return (type(t).__name__, tuple(walk(s) for s in t))
        if t is None:
            raise TypeError(f"{what} holds None; carries, xs and ys are numbers, arrays or expressions")
        leaves.append(ir.as_node(t, what))
        return "leaf"
    return leaves, walk(tree)


def _unflatten(tree, leaves: list[Node]):
    it = iter(leaves)

    def build(t):
        if t == "leaf":
            return next(it)
        kind, subs = t
        built = [build(s) for s in subs]
        return tuple(built) if kind == "tuple" else built
    return build(tree)


def _show(tree) -> str:
    if tree == "leaf":
        return "a value"
    kind, subs = tree
    return f"{kind} of {len(subs)} ({', '.join(_show(s) for s in subs)})"


def _kind(node: Node) -> str:
    shape = "a scalar" if not node.shape else f"shape {node.shape}"
    return shape if node.dtype == "float" else f"{shape} of {node.dtype}"
