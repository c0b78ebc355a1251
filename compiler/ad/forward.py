"""Forward mode: tangents built as IR, derived from the reverse-mode rules by transposition.

The op table holds one derivative rule per op, its vector-Jacobian product
(``ops.OPS[op].vjp``). A Jacobian-vector product needs no second table: the
reverse sweep seeded with a symbolic cotangent ``u`` gives ``J^T u`` for every
input, which is linear in ``u``; so ``s = sum_j <(J^T u)_j, v_j>`` is ``<u, J v>``,
and differentiating ``s`` with respect to ``u`` (reverse mode again, on the
linear graph) gives ``J v`` -- an expression in which ``u`` no longer appears,
since every vjp rule is linear in its cotangent. Every op with a vjp rule
therefore works in forward mode too, and the tangent graph costs about what the
reverse sweep costs (the transposition principle).

The same pass applied to a gradient is forward-over-reverse: ``jvp(gradient,
wrt, v)`` is a Hessian-vector product.

>>> import compiler as cc
>>> x, y, dx, dy = cc.symbols("x y dx dy")
>>> jvp([cc.sin(x) * y], [x, y], [dx, dy])
[dy * sin(x) + y * (dx * cos(x))]
"""

from __future__ import annotations

from typing import Sequence

from .. import ir
from ..errors import CompilerError
from ..ir import Node
from ..ir.ops import reduce_sum
from . import reverse

SEED_PREFIX = "cotangent"  # the symbolic seeds' names; they never reach the result


def fresh_symbols(shapes: Sequence[tuple], taken: set[str], prefix: str) -> list[Node]:
    """One new symbol per shape, named ``prefix[i]`` with primes added until no name of ``taken``
    is reused (symbols are interned by name: a clash would be the user's own symbol)."""
    out = []
    for i, shape in enumerate(shapes):
        name = f"{prefix}[{i}]"
        while name in taken:
            name += "'"
        taken.add(name)
        out.append(ir.symbol(name, shape))
    return out


def inner(a: Node, b: Node) -> Node:
    """``sum(a * b)`` over every axis (``a * b`` for scalars)."""
    product = a * b
    return reduce_sum(product, tuple(range(len(product.shape)))) if product.shape else product


def jvp(outputs: Sequence[Node], wrt: Sequence[Node], tangents: Sequence[Node],
        order: Sequence[Node] | None = None) -> list[Node]:
    """``d outputs[i] / d wrt . tangents`` for each output (of its shape), as IR.

    ``tangents[j]`` has the shape of ``wrt[j]`` (symbols, or any expression).
    ``order`` is ``ir.topo_order(outputs)`` when the caller has it already.
    """
    return jvp_many(outputs, wrt, [tangents], order)[0]


def jvp_many(outputs: Sequence[Node], wrt: Sequence[Node], directions: Sequence[Sequence[Node]],
             order: Sequence[Node] | None = None) -> list[list[Node]]:
    """``jvp`` for several directions (each one tangent per ``wrt``): the linearised reverse
    sweep is built once and transposed once per direction. One list of tangents per direction."""
    order = order if order is not None else ir.topo_order(outputs)
    taken = {n.name for n in order if n.op == "var"}
    for tangents in directions:
        if len(tangents) != len(wrt):
            raise ValueError(f"expected one tangent per wrt input ({len(wrt)}), got {len(tangents)}")
        taken.update(n.name for n in ir.topo_order(tangents) if n.op == "var")
    seeds = fresh_symbols([o.shape for o in outputs], taken, SEED_PREFIX)
    cotangents = reverse.vjp(outputs, seeds, wrt, order)  # J^T u: linear in the seeds
    results = []
    for tangents in directions:
        total = None
        for c, t in zip(cotangents, tangents):
            if c.op == "const" or _is_zero(t):  # an input the outputs do not depend on, a zero tangent
                continue
            term = inner(c, t)
            total = term if total is None else total + term
        if total is None:
            results.append([reverse.zeros_like(o) for o in outputs])
            continue
        results.append(reverse.vjp([total], [ir.constant(1.0)], seeds))  # d<u, J v>/du = J v
    _check_linear(results, seeds, order)
    return results


def _is_zero(node: Node) -> bool:
    return node.op == "const" and not node.shape and node.value == 0.0


def _check_linear(results: list[list[Node]], seeds: list[Node], order: Sequence[Node]) -> None:
    """The seeds must have cancelled out: a vjp rule that is not linear in its cotangent leaves
    them in, and the tangent would be wrong."""
    flat = [n for tangents in results for n in tangents]
    seen = {s.id for s in seeds}
    for node in ir.topo_order(flat, exclude={n.id for n in order}):
        if node.id in seen:
            raise CompilerError("forward mode: a vjp rule of the graph is not linear in its cotangent "
                                "(the transposed sweep still depends on the seed)")
