"""The reverse-mode pass: adjoints built as IR.

Walks the graph once in reverse topological order from a seeded output,
asks each node's op for its derivative rule (``ops.OPS[op].vjp``) and sums the
contributions where a node is shared. Nodes that do not depend on any of the
requested inputs are skipped. The result is ordinary IR, so the pass can be
applied to its own output: second derivatives are reverse-over-reverse.

>>> import compiler as cc
>>> x, y = cc.symbols("x y")
>>> jacobian([x * y + x], [x, y])
[[y + 1.0, x]]
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import ir
from ..errors import ShapeError, UnsupportedError
from ..ir import Node, dtypes
from ..ir.ops import OPS, sum_to
from ..ir.special import NoDerivative
from . import custom, loops


def depends_on(order: Sequence[Node], wrt: Sequence[Node]) -> set[int]:
    """Ids of the nodes in ``order`` (topological) that depend on any node of ``wrt``."""
    dep = {w.id for w in wrt}
    for node in order:
        if node.id not in dep and any(a.id in dep for a in node.args):
            dep.add(node.id)
    return dep


def adjoints(output: Node, order: Sequence[Node], dep: set[int], seed: Node | None = None) -> dict[int, Node]:
    """Adjoint of every node of ``order`` on a path from the wrt inputs to ``output``.

    ``order`` is a topological order containing ``output``'s graph and ``dep``
    the ids that depend on the wrt inputs (see ``depends_on``). Keys are node ids.
    """
    return propagate({output.id: seed if seed is not None else ir.constant(1.0)}, order, dep)


def seeded(outputs: Sequence[Node], seeds: Sequence[Node]) -> dict[int, Node]:
    """The starting adjoints of a sweep seeded at several outputs (a node listed twice adds up)."""
    adj: dict[int, Node] = {}
    for out, seed in zip(outputs, seeds):
        adj[out.id] = seed if out.id not in adj else adj[out.id] + seed
    return adj


# ops whose rules are linear in the adjoint with real coefficients and do not read their
# operands: conjugating around them changes nothing, so a complex node of them is not wrapped
_REAL_LINEAR = frozenset({"add", "sub", "neg", "where", "stop_gradient", "sum", "reshape", "transpose",
                          "broadcast_to", "concatenate", "getitem", "take", "index_put", "scatter_add",
                          "cumsum", "triangle"})


def _complex_rule(node: Node, g: Node, precisions: dict, holomorphic: bool) -> list:
    """The contributions of a node of a graph with complex values, in PyTorch's convention: a
    holomorphic op f passes conj(f'(z)) * g to z, which is its real rule (``g * f'(z)``)
    conjugated around: conj(rule(conj(g))). The ops of ``dtypes.NOT_HOLOMORPHIC`` have rules
    of their own (``ir.ops``); a holomorphic Jacobian refuses them."""
    complex_in = [dtypes.DTYPES[p].kind == "complex" if p else False for p in (precisions[a.id] for a in node.args)]
    if node.op in dtypes.NOT_HOLOMORPHIC and any(complex_in):
        if holomorphic:
            raise UnsupportedError(
                f"{node.op} is not holomorphic (it is no function of z alone: it needs conj(z) too), so a "
                f"complex Jacobian (jvp, jacobian) of a graph holding {node!r} does not exist; take the gradient "
                "of a real-valued function instead (grad gives dL/dx + i dL/dy)")
        return list(OPS[node.op].vjp(node.args, node, g))
    p = precisions.get(node.id)
    if p is None or dtypes.DTYPES[p].kind != "complex" or node.op in _REAL_LINEAR:
        return list(OPS[node.op].vjp(node.args, node, g))
    return [c if c is None else ir.apply("conj", c)
            for c in OPS[node.op].vjp(node.args, node, ir.apply("conj", g))]


def propagate(adj: dict[int, Node], order: Sequence[Node], dep: set[int],
              holomorphic: bool = False) -> dict[int, Node]:
    """Sweep ``order`` in reverse from the adjoints in ``adj`` (node id -> adjoint, updated in
    place and returned): every node's adjoint is complete when it is reached.

    A loop (``scan``) is a tuple: the adjoints of its ``item`` results are gathered, and its
    rule (``ad.loops``) gets them all at once.

    Complex values (``ir.dtypes``): the adjoint of a complex z is dL/dx + i dL/dy (PyTorch's
    convention), of a real x its real part, ``real(...)``. With ``holomorphic``, nothing is
    projected and the sweep seeded with 1 gives conj(f'(z)) (``jacobian``)."""
    precisions = dtypes.infer(order) if dtypes.seen.complex else None
    if precisions is not None and not any(p == dtypes.COMPLEX for p in precisions.values()):
        precisions = None  # a real graph: its rules as ever
    results: dict[int, dict[int, Node]] = {}  # scan id -> {result index: adjoint}
    for node in reversed(order):
        if node.op == "scan":
            if node.id not in dep or node.id not in results:
                continue
            contributions = loops.scan_vjp(node, results.pop(node.id), [a.id in dep for a in node.args])
        else:
            g = adj.get(node.id)
            if g is None or not node.args or node.id not in dep:
                continue
            if node.op == "item":
                gathered = results.setdefault(node.args[0].id, {})
                k = node.params[0]
                gathered[k] = g if k not in gathered else gathered[k] + g
                continue
            contributions = custom.vjp(node, g) if node.op == "custom" else \
                _complex_rule(node, g, precisions, holomorphic) if precisions is not None else \
                OPS[node.op].vjp(node.args, node, g)
        for arg, c in zip(node.args, contributions):
            if c is None or arg.id not in dep:
                continue
            if precisions is not None and not holomorphic and precisions[arg.id] != dtypes.COMPLEX:
                c = ir.apply("real", c)  # a real input of a complex op: dL/dx is real (no-op on a real c)
            if isinstance(c, NoDerivative):  # a discrete argument (polygamma's n) that depends on wrt
                raise UnsupportedError(c.message)
            if c.shape != arg.shape:  # the op broadcast this operand: sum the adjoint back to its shape
                c = sum_to(c, arg.shape)
            previous = adj.get(arg.id)
            adj[arg.id] = c if previous is None else previous + c
    return adj


def complex_output_refusal(index: int, output: Node) -> UnsupportedError:
    """The error of a gradient asked of a complex-valued output (as PyTorch and JAX refuse it)."""
    return UnsupportedError(
        f"output {index} ({output!r:.60}) is complex: a gradient is of a real-valued function; take "
        "cc.abs(...)**2 or cc.real(...) of it, or ask for the complex derivative of a holomorphic "
        "function with jvp or jacobian")


def holomorphic_jacobian(outputs: Sequence[Node], wrt: Sequence[Node],
                         order: Sequence[Node] | None = None) -> list[list[Node]]:
    """``J[i][j]`` = d outputs[i] / d wrt[j], the complex derivative of holomorphic outputs (JAX's
    ``holomorphic=True``): one reverse sweep per output seeded with 1 gives conj(f'), conjugated.
    An op that is not holomorphic in a complex operand (conj, abs, real, imag, angle) refuses.

    >>> import compiler as cc
    >>> z = cc.Symbol("z", dtype="complex128")
    >>> [[d]] = holomorphic_jacobian([z * z], [z])  # 2z
    >>> cc.compile(d, [z], backend="python")(1 + 2j)
    (2+4j)
    """
    order = order if order is not None else ir.topo_order(outputs)
    dep = depends_on(order, wrt)
    rows = []
    for out in outputs:
        adj = propagate({out.id: ir.constant(1.0)}, order, dep, holomorphic=True)
        rows.append([ir.apply("conj", adj[w.id]) if w.id in adj else zeros_like(w) for w in wrt])
    return rows


def jacobian(outputs: Sequence[Node], wrt: Sequence[Node], labels: dict | None = None,
             order: Sequence[Node] | None = None) -> list[list[Node]]:
    """``J[i][j]`` = d outputs[i] / d wrt[j], as IR (a constant 0 where independent).

    If ``labels`` is a dict, it receives ``{adjoint node id: primal node}`` for
    the total adjoint of each primal node, which the code generator uses to
    name it (``dv3`` is the adjoint of ``v3``). ``order`` is
    ``ir.topo_order(outputs)`` when the caller has it already.
    """
    order = order if order is not None else ir.topo_order(outputs)
    dep = depends_on(order, wrt)
    zero = ir.constant(0.0)
    rows = []
    zeros = {w.id: ir.constant(np.zeros(w.shape)) if w.shape else zero for w in wrt}  # unused inputs
    for out in outputs:
        if out.dtype != "float":
            raise TypeError(f"cannot differentiate comparison {out!r}; differentiate a number")
        if out.shape:
            raise ShapeError(f"cannot take the gradient of an output of shape {out.shape}: gradients are "
                             "of scalar outputs (reduce it first, for example cc.sum or cc.mean)")
        if dtypes.is_complex(out):
            raise complex_output_refusal(len(rows), out)
        adj = adjoints(out, order, dep)
        if labels is not None:
            by_id = {n.id: n for n in order}
            for primal_id, a in adj.items():
                if primal_id in by_id and a.op not in ("const", "var"):
                    labels.setdefault(a.id, by_id[primal_id])
        rows.append([adj.get(w.id, zeros[w.id]) for w in wrt])
    return rows


def zeros_like(node: Node) -> Node:
    """The constant 0 of ``node``'s shape: the derivative of what does not depend on it."""
    return ir.constant(np.zeros(node.shape)) if node.shape else ir.constant(0.0)


def vjp(outputs: Sequence[Node], seeds: Sequence[Node], wrt: Sequence[Node],
        order: Sequence[Node] | None = None) -> list[Node]:
    """``sum_i seeds[i] . d outputs[i] / d wrt[j]`` for each ``wrt[j]`` (of its shape), as IR: one
    reverse sweep seeded at every output at once (``seeds[i]`` has the shape of ``outputs[i]``).

    >>> import compiler as cc
    >>> x, u = cc.symbols("x u")
    >>> vjp([x * x], [u], [x])
    [x * u + x * u]
    """
    order = order if order is not None else ir.topo_order(outputs)
    adj = propagate(seeded(outputs, seeds), order, depends_on(order, wrt))
    return [adj.get(w.id, zeros_like(w)) for w in wrt]
