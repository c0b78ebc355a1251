"""IR nodes: interning, constants, symbols, and ``apply``, the one way nodes are made.

A ``Node`` is an op from ``ops.OPS`` applied to operand nodes. Nodes are
immutable and interned: building the same op on the same operands twice
returns the same node, so common subexpressions are shared by construction.
Constants are folded and exact identities (``x + 0``, ``x * 1``, ``x ** 1``,
``--x``) are applied when a node is built.

Every node records its ``shape`` (``()`` for scalars, a tuple of ints for a
tensor; elementwise ops broadcast as NumPy does), its ``dtype`` (``"float"``,
or ``"bool"`` for comparisons) and the static ``params`` of ops that have
them (the axes of a sum, the shape of a reshape). Every graph walk here is
iterative, so a chain 100,000 nodes deep is fine.

Nodes are also the user's expression objects: their operators
(``x * y + 1``) and methods (``x.exp()``) are installed by ``frontend``.
"""

from __future__ import annotations

import itertools
import math
import threading
import weakref
import zlib
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from ..errors import ShapeError, TracingError

SCALAR: tuple = ()

# The intern table: key -> weak reference to the node. A node that nobody
# holds any more is dropped from the table by its reference's callback. The
# key of a unary or binary op without params is one int (op code, operand ids:
# ids stay below 2**40), of anything else a tuple.
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
            del _interned[ref.key]  # type: ignore[union-attr]


_serial = itertools.count()


class Node:
    """One IR node; also the user-facing symbolic expression.

    >>> import compiler as cc
    >>> x = cc.Symbol("x")
    >>> (x * 2 + 1) is (x * 2 + 1)   # hash-consed
    True
    """

    # above SymPy's Expr (10.0): ``sympy_expr * node`` calls ``node.__rmul__``, so an expression
    # of both kinds is a Node in either order (SymPy would otherwise try float(node))
    _op_priority = 20.0
    __slots__ = ("op", "args", "value", "name", "shape", "dtype", "params", "id", "skey", "__weakref__")

    op: str
    args: tuple
    value: object  # the number (or read-only float64 array) of a "const" node
    name: str | None  # the user's name of a "var" node
    shape: tuple  # () for a scalar
    dtype: str
    params: tuple | None  # static parameters of the op (axes, a shape, an index), part of its identity
    id: int  # creation serial: unique, increasing along any topological order
    skey: int  # structural hash: equal for equal structure in every process (orders commutative operands)

    # Identity semantics: ``==`` is not overloaded, so nodes are usable as dict
    # keys and ``x == y`` is ``x is y``. Symbolic comparisons are < <= > >=.
    __hash__ = object.__hash__

    if TYPE_CHECKING:  # for type checkers: what the front-end installs on Node at import
        # (operators: frontend/scalar.py; NumPy's methods, indexing, @: frontend/numpy_signatures.py)
        def __getattr__(self, name: str) -> Any: ...
        def __add__(self, other: Any) -> Node: ...
        def __radd__(self, other: Any) -> Node: ...
        def __sub__(self, other: Any) -> Node: ...
        def __rsub__(self, other: Any) -> Node: ...
        def __mul__(self, other: Any) -> Node: ...
        def __rmul__(self, other: Any) -> Node: ...
        def __truediv__(self, other: Any) -> Node: ...
        def __rtruediv__(self, other: Any) -> Node: ...
        def __pow__(self, other: Any) -> Node: ...
        def __rpow__(self, other: Any) -> Node: ...
        def __mod__(self, other: Any) -> Node: ...
        def __rmod__(self, other: Any) -> Node: ...
        def __floordiv__(self, other: Any) -> Node: ...
        def __rfloordiv__(self, other: Any) -> Node: ...
        def __divmod__(self, other: Any) -> tuple[Node, Node]: ...
        def __rdivmod__(self, other: Any) -> tuple[Node, Node]: ...
        def __matmul__(self, other: Any) -> Node: ...
        def __rmatmul__(self, other: Any) -> Node: ...
        def __lt__(self, other: Any) -> Node: ...
        def __le__(self, other: Any) -> Node: ...
        def __gt__(self, other: Any) -> Node: ...
        def __ge__(self, other: Any) -> Node: ...
        def __neg__(self) -> Node: ...
        def __pos__(self) -> Node: ...
        def __abs__(self) -> Node: ...
        def __getitem__(self, index: Any) -> Node: ...
        def __len__(self) -> int: ...
        def __iter__(self) -> Iterator[Node]: ...
        maximum: Any
        minimum: Any
        __array_ufunc__: Any
        __array_function__: Any
        __array__: Any

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

    # Pickling is by structure; interning restores sharing.
    def __reduce__(self):
        return (_rebuild, (to_table([self]),))


_MASK = (1 << 64) - 1
_crc32 = zlib.crc32
_OP_HASH: dict[str, int] = {}  # crc32 of each op name


def _structural_key(op: str, args: tuple, value, name, shape: tuple = (), params=None) -> int:
    """A process-independent 64-bit hash of a node's structure (str hashes are salted per process)."""
    if op == "var":
        h = zlib.crc32(name.encode("utf-8", "surrogatepass")) | (1 << 40)
        if shape:
            h = ((h * 0x100000001B3) ^ zlib.crc32(repr(shape).encode())) & _MASK
    elif op == "const":
        text = repr(value) if not shape else _array_digest(value)
        h = zlib.crc32(text.encode()) | (2 << 40)
    else:
        h = zlib.crc32(op.encode())
        for a in args:
            h = ((h * 0x100000001B3) ^ a.skey) & _MASK  # FNV-style mixing
    if params is not None:
        h = ((h * 0x100000001B3) ^ zlib.crc32(repr(params).encode())) & _MASK
    return h


def _new(op: str, args: tuple, value, name, dtype: str, shape: tuple = SCALAR, params=None) -> Node:
    node = object.__new__(Node)
    node.op, node.args, node.value, node.name = op, args, value, name
    node.shape, node.dtype, node.params = shape, dtype, params
    node.id = next(_serial)
    if args and params is None:  # _structural_key, inlined: this runs once per node built
        h = _OP_HASH.get(op)
        if h is None:
            h = _OP_HASH[op] = _crc32(op.encode())
        for a in args:
            h = ((h * 0x100000001B3) ^ a.skey) & _MASK
        node.skey = h
    else:
        node.skey = _structural_key(op, args, value, name, shape, params)
    return node


def _intern(key, op: str, args: tuple, value, name, dtype: str, shape: tuple = SCALAR,
            params=None) -> Node:
    ref = _interned.get(key)
    if ref is not None:
        node = ref()
        if node is not None:
            return node
    node = _new(op, args, value, name, dtype, shape, params)
    ref = _KeyedRef(node, key)
    held = _interned.setdefault(key, ref)  # atomic: of two threads making one node, one wins
    if held is ref:
        return node
    other = held()
    if other is not None:
        return other
    with _intern_lock:  # a dead node's entry, not yet dropped by its callback: replace it
        held = _interned.get(key)
        other = held() if held is not None else None
        if other is not None:
            return other
        _interned[key] = ref
    return node


MASKED_HINT = ("the mask would be ignored: pass a.filled(value) (or a.data to use the masked values "
               "as they are)")
MATRIX_HINT = ("np.matrix has its own rules (`*` is a matrix product, every result 2-D) that expressions do "
               "not follow: pass np.asarray(m), and write the product as m @ x")


def refuse_foreign_array(value, what: str = "an operand") -> None:
    """A masked array or an ``np.matrix`` is a ``TypeError`` that says why: each is an ndarray
    whose meaning (its mask, its product) would be silently lost if used as its numbers."""
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{what} is a masked array; {MASKED_HINT}")
    if isinstance(value, np.matrix):
        raise TypeError(f"{what} is an np.matrix; {MATRIX_HINT}")


def _const_key(value) -> tuple:
    if isinstance(value, bool):
        return ("const", bool, value)
    if isinstance(value, complex):
        return ("const", complex, value.real.hex(), value.imag.hex())
    return ("const", float, float(value).hex())  # hex keeps -0.0 apart from 0.0


def _array_digest(value) -> str:
    import hashlib
    return hashlib.sha256(value.tobytes()).hexdigest()


def constant(value) -> Node:
    """The constant node of a number (floats are stored as float64, complex numbers as
    complex128: ``dtypes``) or of a NumPy array.

    An array becomes a read-only float64 (bool, complex128) copy; a 0-d array is a number.
    """
    if isinstance(value, bool):
        return _intern(_const_key(value), "const", (), value, None, "bool")
    if isinstance(value, (complex, np.complexfloating)):
        value = complex(value)
        _dtypes.seen.complex = True
        return _intern(_const_key(value), "const", (), value, None, "float")
    if not isinstance(value, (int, float)):
        if isinstance(value, (np.ndarray, np.generic)):
            refuse_foreign_array(value, "a constant array")
            array = np.asarray(value)
            if array.dtype.kind not in "biufc":
                raise TypeError(f"a constant array must hold real or complex numbers, got dtype {array.dtype}")
            if array.ndim == 0:
                kind = array.dtype.kind
                return constant(bool(array) if kind == "b" else complex(array) if kind == "c" else float(array))
            if array.dtype.kind == "c":
                _dtypes.seen.complex = True
            array = np.array(array, dtype=bool if array.dtype.kind == "b" else
                             np.complex128 if array.dtype.kind == "c" else np.float64)
            array.setflags(write=False)
            dtype = "bool" if array.dtype.kind == "b" else "float"
            key = ("const", "array", dtype, array.shape, _array_digest(array))
            return _intern(key, "const", (), array, None, dtype, array.shape)
    value = float(value)
    return _intern(_const_key(value), "const", (), value, None, "float")


def check_shape(shape, what: str = "shape") -> tuple:
    """``shape`` as a tuple of non-negative ints (an int is a 1-D shape); else a TypeError/ValueError."""
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"{what} must be a tuple of ints, got {type(shape).__name__}: {shape!r:.80}") from None
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int) and not hasattr(d, "__index__"):
            raise TypeError(f"{what} must be a tuple of ints, got {shape!r:.80}")
    dims = tuple(int(d) for d in dims)
    if any(d < 0 for d in dims):
        raise ValueError(f"{what} must not have negative sizes, got {dims}")
    return dims


def symbol(name: str, shape: tuple = SCALAR, dtype: str = "float64") -> Node:
    """The variable node named ``name`` (of ``shape``, of precision ``dtype``: see ``dtypes``);
    the same name, shape and dtype give the same node."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"a symbol name must be a non-empty str, got {name!r}")
    shape = check_shape(shape) if shape else SCALAR
    dtype = _dtypes.check_dtype(dtype)
    # float64 (the default) keeps no params, so graphs without precisions are as they were
    params = None if dtype == _dtypes.DEFAULT else (dtype,)
    if _dtypes.DTYPES[dtype].kind == "complex":
        _dtypes.seen.complex = True
    key: tuple = ("var", name) if not shape else ("var", name, shape)
    if params is not None:
        key = key + params
    return _intern(key, "var", (), None, name, "float", shape, params)


def as_node(x, what: str = "operand") -> Node:
    """Convert a number, a NumPy array (or a node) to a node; anything else is a TypeError."""
    if isinstance(x, Node):
        return x
    if not isinstance(x, (bool, int, float)):
        refuse_foreign_array(x, what)
    if isinstance(x, (bool, int, float)) or _is_real_scalar(x):
        if isinstance(x, bool):
            return constant(x)
        return constant(float(x))
    if isinstance(x, (complex, np.complexfloating)):
        return constant(x)
    if isinstance(x, np.ndarray) and x.dtype.kind in "biufc":
        return constant(x)
    hint = ("; wrap a list in np.array(...)" if isinstance(x, (list, tuple))
            else "; parse text with cc.parse(...)" if isinstance(x, str) else "")
    raise TypeError(f"{what} must be a symbolic expression, a real number, a complex number or a NumPy array, "
                    f"got {type(x).__name__}: {x!r:.80}{hint}")


def _is_real_scalar(x) -> bool:
    return isinstance(x, (np.floating, np.integer, np.bool_)) or (
        isinstance(x, np.ndarray) and x.shape == () and x.dtype.kind in "biuf")


def apply(op_name: str, *operands, params: tuple | None = None) -> Node:
    """Build (or find) the node ``op_name(*operands)``: the one way nodes are made.

    Operands may be nodes, numbers or arrays; ``params`` are the op's static
    parameters (``ops.OPS[op_name].params`` names them). Checks operand kinds
    and shapes, applies the op's identities, folds constants, then interns.
    """
    op = _OPS[op_name]
    # The fast path: two float scalars, neither constant (no identity, no folding) -- most of
    # the nodes of a big graph and of its reverse pass are made here.
    if params is None and len(operands) == 2 and op.arity == 2 and op.shape_rule is None:
        a, b = operands
        if type(a) is Node and type(b) is Node and a.dtype == "float" and b.dtype == "float" \
                and op_name not in _LOGICAL and (op_name in _COMPLEX_OPS or not _dtypes.seen.complex) and not a.shape and not b.shape and a.op != "const" and b.op != "const":
            if op.commutative and _after(a, b):
                a, b = b, a
            key = op.code | a.id << 8 | (b.id + 1) << 48  # an int: no tuple for the GC to track
            ref = _interned.get(key)
            if ref is not None:
                node = ref()
                if node is not None:
                    return node
            return _intern(key, op_name, (a, b), None, None, op.result)
    if len(operands) != op.arity and (op.arity >= 0 or not operands):
        expected = op.arity if op.arity >= 0 else "at least 1"
        raise TypeError(f"{op_name} takes {expected} operand(s), got {len(operands)}")
    if (params is None) != (op.params is None):
        raise TypeError(f"{op_name} takes params {op.params}, got {params!r}")
    args = operands
    for a in operands:
        if type(a) is not Node:
            args = tuple(as_node(a, f"operand {i + 1} of {op_name}") for i, a in enumerate(operands))
            break
    for a in args:
        if a.dtype != "float" or op_name == "where" or op_name in _LOGICAL:
            _check_dtypes(op_name, args)
            break
    _dtypes.check_complex(op_name, args, short_str)
    shape = SCALAR
    if op.shape_rule is not None:
        shape = op.shape_rule([a.shape for a in args], params)
    else:
        for a in args:
            if a.shape:
                shape = broadcast_shapes(op_name, [a.shape for a in args])
                args = _unbroadcast_operands(args, shape)
                break
    if op.simplify is not None:
        simpler = op.simplify(*args) if params is None else op.simplify(*args, params=params)
        if simpler is not None:
            if simpler.shape != shape:  # an identity must not drop a broadcast (x * 1 with 1 an array)
                simpler = apply("broadcast_to", simpler, params=(shape,))
            return simpler
    for a in args:
        if a.op != "const" or op.result == "tuple":  # a loop folds through its items (``loops``)
            break
    else:
        if op_name == "broadcast_to":  # kept as the small value and its shape, not a big array
            return _intern((op_name, params, args[0].id), op_name, args, None, None, op.result, shape, params)
        values = [a.value for a in args]
        if shape or params is not None or any(a.shape for a in args):
            return constant(_evaluate.evaluate_array(op_name, params, values))
        return constant(_evaluate.evaluate(op_name, *values))
    if params is None:
        if len(args) == 1:
            key = op.code | args[0].id << 8
        elif len(args) == 2:
            a, b = args
            if op.commutative and _after(a, b):
                args = (b, a)  # a+b and b+a are one node (exact: IEEE + and * commute)
            key = op.code | args[0].id << 8 | (args[1].id + 1) << 48
        else:
            key = (op_name,) + tuple([a.id for a in args])  # type: ignore[assignment]
    else:
        key = (op_name, params) + tuple([a.id for a in args])  # type: ignore[assignment]
    return _intern(key, op_name, args, None, None, op.result, shape, params)


def _unbroadcast_operands(args: tuple, shape: tuple) -> tuple:
    """An elementwise op broadcasts by itself: an operand that is ``broadcast_to(z)``, or a
    constant array of one value, is replaced by ``z`` or that value when the result keeps
    its shape (``x * broadcast_to(1.0, S)`` is ``x * 1.0``, which is ``x``)."""
    out = list(args)
    for k in range(len(out)):
        while True:
            a = out[k]
            if a.op == "broadcast_to":
                smaller = a.args[0]
            elif a.op == "const" and a.shape and a.value.dtype.kind == "f" and a.value.size and \
                    (a.value == a.value.flat[0]).all() and not math.isnan(a.value.flat[0]):
                smaller = constant(float(a.value.flat[0]))
            else:
                break
            trial = out[:k] + [smaller] + out[k + 1:]
            if broadcast_shapes("", [t.shape for t in trial]) != shape:
                break
            out = trial
    return tuple(out)


def broadcast_shapes(op_name: str, shapes: Sequence[tuple]) -> tuple:
    """The NumPy broadcast of ``shapes``; a ``ShapeError`` naming the op and the shapes otherwise."""
    ndim = max(len(s) for s in shapes)
    out = []
    for k in range(ndim):
        size = 1
        for s in shapes:
            d = s[k - ndim + len(s)] if k - ndim + len(s) >= 0 else 1
            if d != 1:
                if size not in (1, d):
                    listed = " and ".join(str(tuple(s)) for s in shapes)
                    raise ShapeError(f"{op_name}: shapes {listed} do not broadcast together "
                                     f"(NumPy rules: sizes must match or be 1, from the last axis)")
                size = d
        out.append(size)
    return tuple(out)


def _after(a: Node, b: Node) -> bool:
    """Canonical order of commutative operands: by structure, constants last (``x * 2.0``)."""
    if (a.op == "const") != (b.op == "const"):
        return a.op == "const"
    return a.skey > b.skey or (a.skey == b.skey and a.id > b.id)


def _check_dtypes(op_name: str, args: tuple) -> None:
    if op_name in _LOGICAL:
        for a in args:
            if a.dtype != "bool":
                raise TypeError(f"{op_name} combines conditions (comparisons such as x > 0), "
                                f"got the number {short_str(a)}")
        return
    if op_name == "where":
        if args[0].dtype != "bool":
            raise TypeError(f"the condition of where must be a comparison (x < y, ...), got {short_str(args[0])}")
        rest = args[1:]
    else:
        rest = args
    for a in rest:
        if a.dtype == "bool":
            what = (f"the boolean {a.value} is" if a.op == "const" else f"comparison {short_str(a)} is")
            raise TypeError(
                f"{what} used as a number in {op_name}; booleans and comparisons are conditions: use "
                "cc.where(condition, value_if_true, value_if_false)" + (", or write 1.0 or 0.0 for a number"
                                                                        if a.op == "const" else ""))


# At the end: the op table builds its derivative rules with ``apply``, and the
# listings and serialization (``graph``) are built on ``Node``.
from . import dtypes as _dtypes  # noqa: E402
from . import evaluate as _evaluate  # noqa: E402
from . import ops as _ops  # noqa: E402
from .graph import _rebuild, short_str, to_table  # noqa: E402

_OPS = _ops.OPS
_LOGICAL = _ops.LOGICAL_OPS  # type: ignore[has-type]
_COMPLEX_OPS = _dtypes.COMPLEX_OPS
