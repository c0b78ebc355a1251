"""Number types (precisions) of values: a small table, promotion, and inference over a graph.

A node's ``dtype`` says what *kind* of value it is (``"float"``, ``"bool"``, ``"tuple"``);
its precision is one of ``DTYPES`` here. Inputs carry a precision (a float32 symbol keeps
``("float32",)`` as its ``params``; float64, the default, keeps none, so every existing graph
is unchanged), constants carry none: like Python floats under NumPy 2's rules they are
*weak* and take the precision of what they meet. Every other node's precision is the
promotion of its operands' (``infer``), so the reverse pass of a float32 graph is float32
without being told. A precision is one row of the table, with its rank in promotion and
its spelling in each target; complex128 is the row of kind ``"complex"``: a complex constant
(``1j``) is complex128, the ops of ``REAL_OF_COMPLEX`` (``abs``, ``real``, ``imag``,
``angle``) give the real precision of their operand's, and only the ops of ``COMPLEX_OPS``
take a complex operand (``check_complex``: comparisons, ``floor``, ``maximum`` refuse).

>>> import compiler as cc
>>> x = cc.Symbol("x", dtype="float32")
>>> precision(x * 1.5), precision(x * cc.Symbol("y"))
('float32', 'float64')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..errors import UnsupportedError


@dataclass(frozen=True)
class DType:
    """One precision: its name, NumPy type, LLVM IR type, bytes, and rank in promotion."""
    name: str
    numpy: type
    llvm: str
    itemsize: int
    rank: int  # promotion takes the higher rank (NumPy's float32 + float64 -> float64)
    kind: str = "real"  # "complex" for complex128: conversions from complex to real refuse
    real: str = "float64"  # the precision of its real and imaginary parts (itself for a real one)


DTYPES: dict[str, DType] = {
    "float32": DType("float32", np.float32, "float", 4, 1, real="float32"),
    "float64": DType("float64", np.float64, "double", 8, 2, real="float64"),
    "complex128": DType("complex128", np.complex128, "{ double, double }", 16, 3, "complex", "float64"),
}
DEFAULT = "float64"
_ALIASES = {"float": "float64", "double": "float64", "single": "float32", "f4": "float32", "f8": "float64",
            "complex": "complex128", "c16": "complex128", "cdouble": "complex128"}
COMPLEX = "complex128"
#: ops whose result is real when their operand is complex (the real precision of the operand's)
REAL_OF_COMPLEX = frozenset({"abs", "real", "imag", "angle"})
#: ops of the graph that take complex operands; any other refuses one (``check_complex``).
#: (``where`` selects between complex values by a real condition, as NumPy's does.)
COMPLEX_OPS = frozenset({"add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "sin", "cos", "tan",
                         "sinh", "cosh", "tanh", "conj", "real", "imag", "abs", "angle", "where",
                         "stop_gradient", "sum", "reshape", "transpose", "broadcast_to", "matmul",
                         "concatenate", "getitem", "take", "index_put", "scatter_add", "cumsum", "triangle"})
#: ops that are not holomorphic in a complex operand (a holomorphic Jacobian refuses them)
NOT_HOLOMORPHIC = frozenset({"conj", "real", "imag", "abs", "angle"})


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
        raise TypeError(f"{what} must be one of {sorted(DTYPES)}, got {dtype!r:.80}")
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
                # a complex constant is complex128 (NumPy 2 would make float32 * 1j complex64,
                # a precision this table does not have); a real one is weak
                known[node.id] = COMPLEX if _complex_value(node.value) else None
            else:
                p = promote(*(known[a.id] for a in node.args if a.dtype != "bool"))
                known[node.id] = DTYPES[p].real if p and node.op in REAL_OF_COMPLEX else p
    return known


def _complex_value(value) -> bool:
    return isinstance(value, complex) or isinstance(value, np.ndarray) and value.dtype.kind == "c"


class _Seen:
    """Whether any complex symbol or constant was made in this process: until one is, no
    check of ``check_complex`` walks a graph (float graphs pay nothing for complex ones)."""
    complex = False


seen = _Seen()
_cache: dict = {}  # node id -> precision, for ``is_complex`` (ids are never reused)
_CACHE_LIMIT = 1_000_000


def is_complex(node) -> bool:
    """Whether ``node``'s value is complex (its precision is of kind "complex").

    >>> import compiler as cc
    >>> z = cc.Symbol("z", dtype="complex128")
    >>> is_complex(z * 2.0), is_complex(abs(z))
    (True, False)
    """
    if not seen.complex:
        return False
    if len(_cache) > _CACHE_LIMIT:
        _cache.clear()
    p = _cache.get(node.id)
    if p is None and node.id not in _cache:
        p = infer([node], _cache)[node.id]
    return p is not None and DTYPES[p].kind == "complex"


def check_complex(op_name: str, args, describe) -> None:
    """Refuse a complex operand of an op outside ``COMPLEX_OPS``, naming the op and the operand
    (``describe(node)`` prints it), with an ``UnsupportedError``."""
    if not seen.complex or op_name in COMPLEX_OPS:
        return
    for k, a in enumerate(args):
        if is_complex(a):
            what = ("comparisons order real numbers only" if op_name in ("lt", "le", "gt", "ge", "eq")
                    else "it is defined for real numbers only")
            raise UnsupportedError(
                f"{op_name} of a complex value: operand {k + 1} ({describe(a)}) is complex128, and {what}; "
                "take cc.real(...), cc.imag(...), cc.abs(...) or cc.angle(...) of it first")


def precision(node) -> str:
    """The precision of ``node``'s value (float64 for constants alone)."""
    return infer([node])[node.id] or DEFAULT


def graph_precision(outputs: Iterable) -> str:
    """The precision of a function's outputs together: their promotion."""
    known = infer(outputs)
    return promote(*(known[o.id] for o in outputs)) or DEFAULT
