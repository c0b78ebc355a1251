"""Elementwise ops of a tensor kernel (``codegen.llvm_tensor``), fused along chains.

An elementwise op whose result is read once, by another elementwise op (or a sum, max or
min) over the same shape, and is not an output, is not stored: its consumer's loop computes
it at each index, from its own operands (``Fused``). The MLP's gradient ``dh * (1 - h * h)``
is then one loop nest instead of three, with no temporaries; ``tanh(h @ W + b)`` one loop
after the product. Broadcast operands keep their zero strides; each number is computed by
the same operations in the same order as unfused, so the results are identical.

>>> from compiler.codegen.llvm_tensor_printer import View
>>> aligned(View("%x", 0, (1,), (3,)), (2, 3))
(0, 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..ir import Node
from ..ir.ops import OPS
from .llvm_tensor_printer import Printer, View

READERS = frozenset({"sum", "amax", "amin"})  # reductions whose operand can be computed in their loop
FUSE = True  # False: every elementwise op its own loop nest (for measuring what fusion gives)


@dataclass(frozen=True)
class Fused:
    """An elementwise op computed where it is read: ``node`` on the operands ``args``."""
    node: Node
    args: tuple
    value: str = ""  # (never a number: those are SSA values already)

    @property
    def shape(self) -> tuple:
        return self.node.shape


def fused(statements: Sequence[Node], outputs: Sequence[Node], elementwise) -> dict[int, int]:
    """The elementwise statements computed in their reader's loop: node id -> the position of
    the statement that finally computes it (its reader, or its reader's reader ...).
    ``elementwise(node)`` says whether a statement is an elementwise op of this kernel."""
    if not FUSE:
        return {}
    readers: dict[int, list] = {}
    for k, n in enumerate(statements):
        for a in n.args:
            readers.setdefault(a.id, []).append(k)
    kept = {o.id for o in outputs}
    out: dict[int, int] = {}
    for k in range(len(statements) - 1, -1, -1):  # readers first: a chain resolves to its end
        n = statements[k]
        found = readers.get(n.id, [])
        if not n.shape or n.id in kept or len(found) != 1 or not elementwise(n):
            continue
        reader = statements[found[0]]
        if not ((elementwise(reader) and reader.shape == n.shape)
                or (reader.op in READERS and reader.args[0].id == n.id)):
            continue
        out[n.id] = out.get(reader.id, found[0])
    return out


def aligned(x, shape: tuple) -> tuple:
    """``x``'s strides for reading it broadcast to ``shape`` (NumPy's rules: axes aligned on the right)."""
    if x.value:
        return (0,) * len(shape)
    if isinstance(x, Fused):  # the same shape as its reader, read at the reader's index
        return _identity(shape)
    lead = len(shape) - len(x.shape)
    return tuple(0 if d < lead or x.shape[d - lead] == 1 != shape[d] else x.strides[d - lead]
                 for d in range(len(shape)))


def _identity(shape: tuple) -> tuple:
    return (1,) * len(shape)  # (only its last entry is looked at: "contiguous along the last axis")


def load(p: Printer, x, ix, strides: tuple, flag: bool) -> str:
    """The number of ``x`` (a view or a ``Fused`` op) at ``ix``."""
    if isinstance(x, Fused):
        return _compute(p, p.e, x, ix, vector=False)
    return x.value if x.value else p.load(x, ix, strides, flag=flag)


def vector_load(p: Printer, x, ix, strides: tuple, flag: bool) -> str:
    if isinstance(x, Fused):
        return _compute(p, p.v, x, ix, vector=True)
    return p.vector_load(x, ix, strides, flag)


def strides_of(x) -> tuple:
    """How ``x`` is read at an index of its own shape."""
    return _identity(x.shape) if isinstance(x, Fused) else x.strides


def in_vectors(x, strides: tuple) -> bool:
    """Whether ``x`` can be read ``width`` numbers at a time along the last axis."""
    if isinstance(x, Fused):
        return all(in_vectors(a, aligned(a, x.shape)) for a in x.args)
    return bool(x.value) or strides[-1] in (0, 1)


def _compute(p: Printer, emitter, x: Fused, ix, vector: bool) -> str:
    lower = OPS[x.node.op].llvm
    assert lower is not None
    values = []
    for a, operand in zip(x.args, x.node.args):
        s = aligned(a, x.shape)
        flag = operand.dtype == "bool"
        values.append(vector_load(p, a, ix, s, flag) if vector else load(p, a, ix, s, flag))
    return lower(emitter, *values)


def elementwise(p: Printer, node: Node, args: list, buffer) -> View:
    """``node`` as one loop nest over its shape (its ``Fused`` operands computed in it)."""
    lower = OPS[node.op].llvm
    assert lower is not None  # (``refusal`` let no other op through)
    flags = [a.dtype == "bool" for a in node.args]
    if not node.shape:  # numbers: as in a scalar kernel
        return View(value=lower(p.e, *[v.value for v in args]))
    out = buffer(node)
    strides = [aligned(a, node.shape) for a in args]

    def body(ix):
        values = [load(p, a, ix, s, f) for a, s, f in zip(args, strides, flags)]
        p.store(lower(p.e, *values), out, ix, flag=node.dtype == "bool")
    # the innermost axis in vectors where every operand is contiguous or constant along it
    if p.v is not None and node.shape[-1] >= p.v.width and all(in_vectors(a, s) for a, s in zip(args, strides)):
        def vector_body(ix):
            values = [vector_load(p, a, ix, s, f) for a, s, f in zip(args, strides, flags)]
            p.vector_store(lower(p.v, *values), out, ix, flag=node.dtype == "bool")
        p.vector_loops(node.shape, p.v.width, vector_body, body)
    else:
        p.loops(node.shape, body)
    return out
