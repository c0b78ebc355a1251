"""Number types (precisions) of values: a small table, promotion, and inference over a graph.

A node's ``dtype`` says what *kind* of value it is (``"float"``, ``"bool"``, ``"tuple"``);
its precision is one of ``DTYPES`` here. Inputs carry a precision (a float32 symbol keeps
``("float32",)`` as its ``params``; float64, the default, keeps none, so every existing graph
is unchanged), constants carry none: like Python floats under NumPy 2's rules they are
*weak* and take the precision of what they meet. Every other node's precision is the
promotion of its operands' (``infer``), so the reverse pass of a float32 graph is float32
without being told. A new precision (complex128 is next) is one more row of the table,
with its rank in promotion and its spelling in each target.

>>> import compiler as cc
>>> x = cc.Symbol("x", dtype="float32")
>>> precision(x * 1.5), precision(x * cc.Symbol("y"))
('float32', 'float64')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np


@dataclass(frozen=True)
class DType:
    """One precision: its name, NumPy type, LLVM IR type, bytes, and rank in promotion."""
    name: str
    numpy: type
    llvm: str
    itemsize: int
    rank: int  # promotion takes the higher rank (NumPy's float32 + float64 -> float64)
    kind: str = "real"  # "complex" for complex128 (not yet): conversions from complex to real refuse


DTYPES: dict[str, DType] = {
    "float32": DType("float32", np.float32, "float", 4, 1),
    "float64": DType("float64", np.float64, "double", 8, 2),
}
DEFAULT = "float64"
_ALIASES = {"float": "float64", "double": "float64", "single": "float32", "f4": "float32", "f8": "float64"}


def check_dtype(dtype, what: str = "dtype") -> str:
    """The name in ``DTYPES`` of ``dtype`` (a name, a NumPy type or dtype); a ``TypeError`` otherwise.

    >>> check_dtype(np.float32)
    'float32'
    """
    if isinstance(dtype, str):
        name = _ALIASES.get(dtype, dtype)
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = None
    if name not in DTYPES:
        raise TypeError(f"{what} must be one of {sorted(DTYPES)} (complex128 is planned), got {dtype!r:.80}")
    return name


def promote(*names: str | None) -> str | None:
    """The precision of a result from its operands' (None: weak, a constant)."""
    best = None
    for n in names:
        if n is not None and (best is None or DTYPES[n].rank > DTYPES[best].rank):
            best = n
    return best


def of_symbol(node) -> str:
    """The declared precision of an input (a ``var`` node)."""
    return node.params[0] if node.params else DEFAULT


def infer(nodes: Iterable, known: dict | None = None) -> dict:
    """``{node id: precision}`` for ``nodes`` and everything they depend on (None for a
    constant, or a result of constants only). Iterative: deep graphs are fine."""
    known = {} if known is None else known
    for root in nodes:
        if root.id in known:
            continue
        stack = [root]
        while stack:
            node = stack[-1]
            if node.id in known:
                stack.pop()
                continue
            pending = [a for a in node.args if a.id not in known]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            if node.op == "var":
                known[node.id] = of_symbol(node)
            elif node.op == "const":
                known[node.id] = None
            else:
                known[node.id] = promote(*(known[a.id] for a in node.args if a.dtype != "bool"))
    return known


def precision(node) -> str:
    """The precision of ``node``'s value (float64 for constants alone)."""
    return infer([node])[node.id] or DEFAULT


def graph_precision(outputs: Iterable) -> str:
    """The precision of a function's outputs together: their promotion."""
    known = infer(outputs)
    return promote(*(known[o.id] for o in outputs)) or DEFAULT
