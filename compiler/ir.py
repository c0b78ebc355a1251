"""The IR: a hash-consed DAG of nodes.

A ``Node`` is an op from ``ops.OPS`` applied to operand nodes. Nodes are
immutable and interned: building the same op on the same operands twice
returns the same node, so common subexpressions are shared by construction.
Constants are folded and exact identities (``x + 0``, ``x * 1``, ``x ** 1``,
``--x``) are applied when a node is built.

Every node records its ``shape`` (``()`` for scalars) and ``dtype``
(``"float"`` or ``"bool"`` for comparisons). Every graph walk here is
iterative, so a chain 100,000 nodes deep is fine.

Nodes are also the user's expression objects: they overload Python's
operators (``x * y + 1``) and have methods (``x.exp()``), defined in
``frontend``.
"""

from __future__ import annotations

import itertools
import math
import threading
import weakref
import zlib
from typing import Iterable, Sequence

from .errors import TracingError

SCALAR: tuple = ()

# The intern table: key -> weak reference to the node. A node that nobody
# holds any more is dropped from the table by its reference's callback.
# The lock is reentrant: an allocation made while holding it can start a
# garbage collection whose dead nodes run ``_drop`` in this same thread.
_interned: dict = {}
_intern_lock = threading.RLock()


class _KeyedRef(weakref.ref):
    __slots__ = ("key",)

    def __new__(cls, node, key):
        self = super().__new__(cls, node, _drop)
        self.key = key
        return self
    # no __init__: weakref.ref's own only parses (node, key), as the weakref module's KeyedRef relies on


def _drop(ref) -> None:
    with _intern_lock:
        if _interned.get(ref.key) is ref:
            del _interned[ref.key]


_serial = itertools.count()


class Node:
    """One IR node; also the user-facing symbolic expression.

    >>> import compiler as cc
    >>> x = cc.Symbol("x")
    >>> (x * 2 + 1) is (x * 2 + 1)   # hash-consed
    True
    """

    __slots__ = ("op", "args", "value", "name", "shape", "dtype", "id", "skey", "__weakref__")

    op: str
    args: tuple
    value: object  # the number of a "const" node
    name: str | None  # the user's name of a "var" node
    shape: tuple
    dtype: str
    id: int  # creation serial: unique, increasing along any topological order
    skey: int  # structural hash: equal for equal structure in every process (orders commutative operands)

    # Identity semantics: ``==`` is not overloaded, so nodes are usable as dict
    # keys and ``x == y`` is ``x is y``. Symbolic comparisons are < <= > >=.
    __hash__ = object.__hash__

    def __bool__(self):
        raise TracingError(
            f"the truth value of symbolic expression {short_str(self)} is not known while "
            "building the graph (Python `if`, `while`, `and`, `or` or `not` on a traced value); "
            "use cc.where(condition, value_if_true, value_if_false) instead")

    def __float__(self):
        raise TracingError(
            f"symbolic expression {short_str(self)} has no numeric value yet; "
            "use the library's functions (cc.sin, not math.sin) and cc.compile it to evaluate")

    __int__ = __index__ = __complex__ = __float__

    def __repr__(self) -> str:
        return short_str(self)

    # Pickling is by structure (issue 5 builds on this); interning restores sharing.
    def __reduce__(self):
        return (_rebuild, (to_table([self]),))


_MASK = (1 << 64) - 1
_crc32 = zlib.crc32
_OP_HASH: dict[str, int] = {}  # crc32 of each op name


def _structural_key(op: str, args: tuple, value, name) -> int:
    """A process-independent 64-bit hash of a node's structure (str hashes are salted per process)."""
    if op == "var":
        h = zlib.crc32(name.encode("utf-8", "surrogatepass")) | (1 << 40)
    elif op == "const":
        h = zlib.crc32(repr(value).encode()) | (2 << 40)
    else:
        h = zlib.crc32(op.encode())
        for a in args:
            h = ((h * 0x100000001B3) ^ a.skey) & _MASK  # FNV-style mixing
    return h


def _new(op: str, args: tuple, value, name, dtype: str) -> Node:
    node = object.__new__(Node)
    node.op, node.args, node.value, node.name = op, args, value, name
    node.shape, node.dtype = SCALAR, dtype
    node.id = next(_serial)
    if args:  # _structural_key, inlined: this runs once per node built
        h = _OP_HASH.get(op)
        if h is None:
            h = _OP_HASH[op] = _crc32(op.encode())
        for a in args:
            h = ((h * 0x100000001B3) ^ a.skey) & _MASK
        node.skey = h
    else:
        node.skey = _structural_key(op, args, value, name)
    return node


def _intern(key: tuple, op: str, args: tuple, value, name, dtype: str) -> Node:
    ref = _interned.get(key)
    if ref is not None:
        node = ref()
        if node is not None:
            return node
    with _intern_lock:
        ref = _interned.get(key)
        node = ref() if ref is not None else None
        if node is None:
            node = _new(op, args, value, name, dtype)
            _interned[key] = _KeyedRef(node, key)
    return node


def _const_key(value) -> tuple:
    if isinstance(value, bool):
        return ("const", bool, value)
    return ("const", float, float(value).hex())  # hex keeps -0.0 apart from 0.0


def constant(value: float | bool) -> Node:
    """The constant node of a number (floats are stored as float64)."""
    if isinstance(value, bool):
        return _intern(_const_key(value), "const", (), value, None, "bool")
    value = float(value)
    return _intern(_const_key(value), "const", (), value, None, "float")


def symbol(name: str) -> Node:
    """The variable node named ``name``; the same name gives the same node."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"a symbol name must be a non-empty str, got {name!r}")
    return _intern(("var", name), "var", (), None, name, "float")


def as_node(x, what: str = "operand") -> Node:
    """Convert a number (or a node) to a node; anything else is a TypeError."""
    if isinstance(x, Node):
        return x
    if isinstance(x, (bool, int, float)) or _is_real_scalar(x):
        if isinstance(x, bool):
            return constant(x)
        return constant(float(x))
    converted = _from_foreign(x)
    if converted is not None:
        return converted
    raise TypeError(f"{what} must be a symbolic expression or a real number, got {type(x).__name__}: {x!r:.80}")


def _is_real_scalar(x) -> bool:
    import numpy as np
    return isinstance(x, (np.floating, np.integer, np.bool_)) or (
        isinstance(x, np.ndarray) and x.shape == () and x.dtype.kind in "biuf")


def _from_foreign(x):
    """SymPy expressions are accepted wherever a node is (converted on the fly)."""
    import sys
    sympy = sys.modules.get("sympy")
    if sympy is not None and isinstance(x, sympy.Basic):
        from .sympy_bridge import from_sympy
        return from_sympy(x)
    return None


def apply(op_name: str, *operands) -> Node:
    """Build (or find) the node ``op_name(*operands)``: the one way nodes are made.

    Operands may be nodes or numbers. Checks operand kinds, applies the op's
    identities, folds constants, then interns.
    """
    op = _OPS[op_name]
    if len(operands) != op.arity:
        raise TypeError(f"{op_name} takes {op.arity} operand(s), got {len(operands)}")
    args = operands
    folded = True  # all operands constant
    for a in operands:
        if type(a) is not Node:
            args = tuple(as_node(a, f"operand {i + 1} of {op_name}") for i, a in enumerate(operands))
            break
    for a in args:
        if a.dtype != "float" or op_name == "where":
            _check_dtypes(op_name, args)
            break
    if op.simplify is not None:
        simpler = op.simplify(*args)
        if simpler is not None:
            return simpler
    for a in args:
        if a.op != "const":
            folded = False
            break
    if folded:
        return constant(_ops.evaluate(op_name, *[a.value for a in args]))
    if len(args) == 1:
        key = (op_name, args[0].id)
    elif len(args) == 2:
        a, b = args
        if op.commutative and _after(a, b):
            args = (b, a)  # a+b and b+a are one node (exact: IEEE + and * commute)
        key = (op_name, args[0].id, args[1].id)
    else:
        key = (op_name,) + tuple([a.id for a in args])
    return _intern(key, op_name, args, None, None, op.result)


def _after(a: Node, b: Node) -> bool:
    """Canonical order of commutative operands: by structure, constants last (``x * 2.0``)."""
    if (a.op == "const") != (b.op == "const"):
        return a.op == "const"
    return a.skey > b.skey or (a.skey == b.skey and a.id > b.id)


def _check_dtypes(op_name: str, args: tuple) -> None:
    if op_name == "where":
        if args[0].dtype != "bool":
            raise TypeError(f"the condition of where must be a comparison (x < y, ...), got {short_str(args[0])}")
        rest = args[1:]
    else:
        rest = args
    for a in rest:
        if a.dtype == "bool":
            raise TypeError(
                f"comparison {short_str(a)} used as a number in {op_name}; comparisons are "
                "conditions: use cc.where(condition, value_if_true, value_if_false)")


# --- graph walks (all iterative) ---

def topo_order(roots: Iterable[Node], limit: int | None = None,
               exclude: set[int] | dict | None = None) -> list[Node] | None:
    """All nodes reachable from ``roots``, each after its operands.

    With ``limit``, returns None as soon as more than ``limit`` nodes are found.
    Nodes whose id is in ``exclude`` are neither listed nor looked through.
    The order is by creation (``Node.id``): a node is always made after its
    operands, so sorting the reachable nodes by id is a topological order, and
    finding them needs no post-order bookkeeping.
    """
    found: dict[int, Node] = {}
    if exclude:
        found.update(dict.fromkeys(exclude))
    stack = list(roots)
    pop, push = stack.pop, stack.extend
    while stack:
        node = pop()
        if node.id in found:
            continue
        found[node.id] = node
        if limit is not None and len(found) > limit:
            return None
        push(node.args)
    if exclude:
        return [n for n in (found[k] for k in sorted(found)) if n is not None]
    return [found[k] for k in sorted(found)]


def free_symbols(roots: Iterable[Node]) -> list[Node]:
    """The variable nodes the roots depend on, in order of first appearance."""
    return [n for n in topo_order(roots) if n.op == "var"]


def format_const(value) -> str:
    """A constant as Python source text (``np.inf``/``np.nan`` for non-finite)."""
    if isinstance(value, bool):
        return repr(value)
    if math.isnan(value):
        return "np.nan"
    if math.isinf(value):
        return "np.inf" if value > 0 else "(-np.inf)"
    text = repr(value)
    return f"({text})" if text.startswith("-") else text


def format_ir(outputs: Sequence[Node], names: dict | None = None) -> str:
    """A readable listing of the graph: one line per node, operands first.

    >>> import compiler as cc
    >>> x = cc.Symbol("x")
    >>> print(format_ir([cc.sin(x) * x]))
    %0 = var x
    %1 = sin %0
    %2 = mul %0 %1
    return %2
    """
    label: dict[int, str] = {}
    lines = []
    for node in topo_order(outputs):
        if node.op == "const":
            label[node.id] = format_const(node.value)
            continue
        label[node.id] = f"%{len(lines)}"
        if node.op == "var":
            body = f"var {node.name!a}" if not node.name.isidentifier() else f"var {node.name}"
        else:
            body = " ".join([node.op] + [label[a.id] for a in node.args])
        suffix = "" if node.dtype == "float" else f"  : {node.dtype}"
        lines.append(f"{label[node.id]} = {body}{suffix}")
    lines.append("return " + ", ".join(label[o.id] for o in outputs))
    return "\n".join(lines)


_PRECEDENCE = {"<": 0, "<=": 0, ">": 0, ">=": 0, "==": 0, "+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "**": 4}
_MAX_STR = 400  # longer expressions print as a summary
_MAX_STR_NODES = 200


def short_str(node: Node) -> str:
    """Infix text of a small expression, or a summary of a large one (never recursive)."""
    OPS = _ops.OPS
    text: dict[int, tuple[str, int]] = {}
    atom = 9
    nodes = topo_order([node], limit=_MAX_STR_NODES)
    if nodes is None:
        return f"<{node.op} expression of more than {_MAX_STR_NODES} nodes>"
    for n in nodes:
        if n.op == "const":
            text[n.id] = (format_const(n.value).replace("np.", ""), atom)
        elif n.op == "var":
            text[n.id] = (n.name if n.name.isidentifier() else ascii(n.name), atom)
        else:
            op = OPS[n.op]
            parts = [text[a.id] for a in n.args]
            if op.infix:
                p = _PRECEDENCE[op.infix]
                left = parts[0][0] if parts[0][1] >= p else f"({parts[0][0]})"
                # right operand: same precedence needs parens except for ** (right-assoc)
                rp = parts[1][1] > p or (parts[1][1] == p and op.infix == "**")
                right = parts[1][0] if rp else f"({parts[1][0]})"
                if op.infix == "**" and parts[0][1] == p:
                    left = f"({parts[0][0]})"
                s, prec = f"{left} {op.infix} {right}", p
            elif n.op == "neg":
                s, prec = "-" + (parts[0][0] if parts[0][1] > 3 else f"({parts[0][0]})"), 3
            else:
                s, prec = f"{n.op}({', '.join(p[0] for p in parts)})", atom
            if len(s) > _MAX_STR:
                return f"<{node.op} expression of {len(nodes)} nodes>"
            text[n.id] = (s, prec)
    return text[node.id][0]


# --- serialization by structure ---

def to_table(outputs: Sequence[Node]) -> tuple:
    """The graph as a flat tuple of (op, operand indices, value, name) rows, and the output indices."""
    index: dict[int, int] = {}
    rows = []
    for n in topo_order(outputs):
        index[n.id] = len(rows)
        rows.append((n.op, tuple(index[a.id] for a in n.args), n.value, n.name))
    return tuple(rows), tuple(index[o.id] for o in outputs)


def from_table(table: tuple) -> list[Node]:
    """Rebuild the nodes of ``to_table`` (interning restores sharing)."""
    rows, outs = table
    nodes: list[Node] = []
    for op, operands, value, name in rows:
        if op == "const":
            nodes.append(constant(value))
        elif op == "var":
            nodes.append(symbol(name))
        else:
            nodes.append(apply(op, *(nodes[i] for i in operands)))
    return [nodes[i] for i in outs]


def _rebuild(table: tuple) -> Node:
    return from_table(table)[0]


# At the end: ops builds its derivative rules with this module's apply.
from . import ops as _ops  # noqa: E402

_OPS = _ops.OPS
