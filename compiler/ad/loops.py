"""The reverse-mode rule of a loop: the adjoint of a ``scan`` is a ``scan`` running backwards.

Given the adjoints of a loop's results (final carries ``ct``, stacked ``ys``,
carry histories), the adjoint loop runs the body's vector-Jacobian product at
each step, from the last to the first::

    a, q = ct, 0                      # carry adjoints; sums of the parameters' adjoints
    for t in reversed(range(T)):
        da, dx, dp = vjp(body at (history[t], xs[t], params), seeds (a, dys[t]))
        a, q = da + dhistory[t], q + dp
        dxs[t] = dx
    -> adjoints of init (a), of the params (q), of xs (dxs)

It reads the primal loop's carry history (which the generated primal loop
stores because it is used) and is an ordinary ``scan``: the reverse pass
applied to it again gives second derivatives, and forward mode (derived from
this rule by transposition, ``ad.forward``) works through loops too. Only the
operands the adjoint body reads become operands, so a linear adjoint loop does
not depend on its own history.

>>> import compiler as cc
>>> a = cc.Symbol("a")
>>> final, _ = cc.scan(lambda c, _: (c * a, None), 1.0, length=3)
>>> cc.compile(final, [a], backend="python").grad(2.0)
(12.0,)
"""

from __future__ import annotations

import math
import os
from typing import Sequence

from .. import ir
from ..errors import ResourceError
from ..ir import Node, loops

#: the most bytes the arrays of a loop's length (stored carries, stacked ys, the sequences an
#: adjoint loop reads and writes) may take in one derivative; above, ``check_loop_memory``
#: refuses and points to checkpoint="sqrt" ($COMPILER_LOOP_MEMORY overrides, in bytes)
MAX_HISTORY_BYTES = 2 ** 30


def scan_vjp(loop: Node, adjoints: dict[int, Node], needed: Sequence[bool]) -> list[Node | None]:
    """The contributions of a scan to its operands' adjoints, given ``{result index: adjoint}``;
    only for the operands ``needed`` marks (None for the others): an adjoint loop that sums
    what nobody asked for may read values (its own history) that the caller must not depend on."""
    from . import reverse
    body, length, backwards = loop.params
    nc, nx, ny = len(body.carries), len(body.xs), len(body.ys)
    init, xs, params = loops.operands(loop)
    tag = f"adjoint of scan {loop.skey & 0xFFFFFFFF:08x}"
    want_x = [k for k in range(nx) if needed[nc + k]]
    want_p = [k for k in range(len(params)) if needed[nc + nx + k]]
    a = [ir.symbol(f"<{tag} carry {i}>", c.shape) for i, c in enumerate(body.carries)]
    q = [ir.symbol(f"<{tag} sum {k}>", body.params[k].shape) for k in want_p]
    ys_seeded = [j for j in range(ny) if nc + j in adjoints]
    history_seeded = [i for i in range(nc) if nc + ny + i in adjoints]
    e_y = [ir.symbol(f"<{tag} dy {j}>", body.ys[j].shape) for j in ys_seeded]
    e_h = [ir.symbol(f"<{tag} dhistory {i}>", body.carries[i].shape) for i in history_seeded]
    wrt = list(body.carries) + [body.xs[k] for k in want_x] + [body.params[k] for k in want_p]
    grads = reverse.vjp(list(body.new_carries) + [body.ys[j] for j in ys_seeded], a + e_y, wrt)
    d_carry, d_x, d_p = grads[:nc], grads[nc:nc + len(want_x)], grads[nc + len(want_x):]
    for i, e in zip(history_seeded, e_h):  # the history at t is the carry going into step t
        d_carry[i] = d_carry[i] + e
    new_carries = d_carry + [s + g for s, g in zip(q, d_p)]
    read = {n.id for n in ir.topo_order(new_carries + d_x) if n.op == "var"}
    # the sequences the adjoint body reads, each with its placeholder there
    sequences = ([(c, loops.item(loop, nc + ny + i)) for i, c in enumerate(body.carries)]
                 + list(zip(body.xs, xs))
                 + [(e, adjoints[nc + j]) for e, j in zip(e_y, ys_seeded)]
                 + [(e, adjoints[nc + ny + i]) for e, i in zip(e_h, history_seeded)])
    sequences = [(p, s) for p, s in sequences if p.id in read]
    bound = [(p, v) for p, v in zip(body.params, params) if p.id in read]
    index = body.index if body.index is not None and body.index.id in read else None  # the same t
    adjoint_body = loops.Body(tuple(a + q), tuple(p for p, _ in sequences), tuple(p for p, _ in bound),
                              tuple(new_carries), tuple(d_x), index)
    start = [adjoints.get(i, _zeros(c)) for i, c in enumerate(body.carries)] + [_zeros(p) for p in q]
    back = loops.scan(adjoint_body, start, [s for _, s in sequences], [v for _, v in bound], length,
                      reverse=not backwards)
    out: list[Node | None] = [loops.item(back, i) if needed[i] else None for i in range(nc)]
    out += [None] * (nx + len(params))
    for j, k in enumerate(want_x):
        out[nc + k] = loops.item(back, nc + len(q) + j)
    for j, k in enumerate(want_p):
        out[nc + nx + k] = loops.item(back, nc + j)
    return out


def _zeros(node: Node) -> Node:
    from .reverse import zeros_like
    return zeros_like(node)


def history_limit() -> int:
    try:
        return int(os.environ.get("COMPILER_LOOP_MEMORY", MAX_HISTORY_BYTES))
    except ValueError:
        return MAX_HISTORY_BYTES


#: ops whose result may be a view of their operand (no array of its own)
_VIEWS = ("var", "const", "broadcast_to", "reshape", "transpose", "getitem")


def loop_buffers(roots: Sequence[Node]) -> list[tuple[str, int, int]]:
    """Every array of a loop's length that evaluating ``roots`` allocates, as ``(kind, steps,
    bytes)``: the stacked ys and carry histories a loop stores (those read), the sequences it
    reads (an adjoint loop reads the adjoints of the ys) and any other array computed with a
    leading axis of a loop's length. Inputs, constants and views are not counted; a loop inside
    a body counts once (its arrays live one outer step at a time). Temporaries are summed as if
    all were alive at once: an estimate from above."""
    out: list[tuple[str, int, int]] = []
    pending = [list(roots)]
    while pending:
        order = ir.topo_order(pending.pop())
        scans = [n for n in order if n.op == "scan"]
        lengths = {n.params[1] for n in scans}
        read = {x.id for n in scans for x in loops.operands(n)[1]}
        for node in order:
            if node.op in _VIEWS or node.op == "scan" or not node.shape or node.shape[0] not in lengths:
                continue
            kind = "arrays computed from them"
            if node.op == "item" and node.args[0].op == "scan":
                body, k = node.args[0].params[0], node.params[0]
                kind = "stacked ys" if k < len(body.carries) + len(body.ys) else "stored carries"
            elif node.id in read:
                kind = "sequences read"
            out.append((kind, node.shape[0], 8 * math.prod(node.shape)))
        pending += [list(n.params[0].new_carries) + list(n.params[0].ys) for n in scans]
    return out


def check_loop_memory(roots: Sequence[Node], what: str = "the gradient") -> None:
    """Refuse, before anything is allocated, a derivative whose arrays of a loop's length
    (``loop_buffers``) add up to more than the limit (``$COMPILER_LOOP_MEMORY``, 1 GiB)."""
    buffers = loop_buffers(roots)
    total, limit = sum(b for _, _, b in buffers), history_limit()
    if total <= limit:
        return
    length = max(buffers, key=lambda b: b[2])[1]
    kinds = {}
    for kind, _, size in buffers:
        kinds[kind] = kinds.get(kind, 0) + size
    parts = ", ".join(f"{kind} {_bytes(size)}" for kind, size in kinds.items())
    segment = math.isqrt(max(length - 1, 0)) + 1
    raise ResourceError(
        f"{what} through a loop of {length:,} steps would allocate {_bytes(total)} in arrays of "
        f"the loops' lengths ({parts}), above the limit of {_bytes(limit)} ($COMPILER_LOOP_MEMORY). "
        f"Use checkpoint=\"sqrt\" in cc.scan or cc.fori_loop (about {2 * segment:,} stored carries, for "
        "one more forward sweep), reduce the ys inside the step (a carry that sums them), or raise the limit")


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"
