"""The eager ``Value`` API of the micrograd-style engines, backed by the compiler.

Each operation computes its number at once (``.data``) and records how.
``backward()`` turns the recorded graph into IR, compiles its adjoint program
once per graph *structure* and runs it: leaf numbers are parameters of the
compiled program, so a loop that rebuilds the same graph with new numbers
compiles once.

Plain numbers mixed into an expression become leaves too (as in micrograd),
except an exponent (``v ** 2``), which is part of the structure.

>>> import compiler as cc
>>> a = cc.Value(3.0)
>>> y = a * a + a
>>> y.backward(backend="python")   # default: cc.Value.backend, "auto"
>>> a.grad, y.data
(7.0, 12.0)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from . import frontend, ir
from .ad import reverse
from .errors import ShapeError
from .frontend.dispatch import register_eager
from .ir import evaluate, ops
from .runtime import CompiledFunction

_CACHE_SIZE = 256  # compiled adjoint programs kept, least recently used dropped first
_programs: "OrderedDict[tuple, tuple[CompiledFunction, list[int]]]" = OrderedDict()
_programs_lock = threading.Lock()


class Value:
    """A number or a NumPy array that records the operations applied to it.

    Attributes: ``data`` (its number, or float64 array), ``grad`` (d root / d
    this value after ``root.backward()``, of the same shape, accumulated
    across calls until ``zero_grad()``; ``grad = None`` counts as zero, as in
    PyTorch).

    >>> import numpy as np
    >>> a = Value(np.array([1.0, 2.0]))
    >>> loss = (a * a).sum()
    >>> loss.backward(backend="python")
    >>> a.grad
    array([2., 4.])
    """

    __slots__ = ("data", "grad", "_op", "_prev", "_params", "label")
    data: Any  # a float or a float64 array
    grad: Any  # of the same shape
    __array_ufunc__ = None  # ndarray <op> Value defers to Value's reflected operator
    backend: str = "auto"  # backend of the compiled adjoint programs (class-wide default)

    if TYPE_CHECKING:  # for type checkers: the operators and methods installed below the class
        def __getattr__(self, name: str) -> Any: ...
        def __add__(self, other: Any) -> Value: ...
        def __radd__(self, other: Any) -> Value: ...
        def __sub__(self, other: Any) -> Value: ...
        def __rsub__(self, other: Any) -> Value: ...
        def __mul__(self, other: Any) -> Value: ...
        def __rmul__(self, other: Any) -> Value: ...
        def __truediv__(self, other: Any) -> Value: ...
        def __rtruediv__(self, other: Any) -> Value: ...
        def __pow__(self, other: Any) -> Value: ...
        def __rpow__(self, other: Any) -> Value: ...
        def __matmul__(self, other: Any) -> Value: ...
        def __rmatmul__(self, other: Any) -> Value: ...
        def __neg__(self) -> Value: ...
        def __abs__(self) -> Value: ...
        def __getitem__(self, index: Any) -> Value: ...
        sum: Any
        mean: Any
        max: Any
        min: Any
        logsumexp: Any
        softmax: Any
        log_softmax: Any
        reshape: Any
        transpose: Any
        T: Any

    def __init__(self, data, label: str = ""):
        if isinstance(data, Value):
            data = data.data
        self.data = _as_data(data)
        self.grad = _zeros_like(self.data)
        self._op: str | None = None
        self._prev: tuple = ()
        self._params = None
        self.label = label

    @property
    def shape(self) -> tuple:
        return np.shape(self.data)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @classmethod
    def _apply(cls, op_name: str, *args, params=None) -> "Value":
        op = ops.OPS[op_name]
        prev: list[Value | float] = []
        for i, a in enumerate(args):
            if isinstance(a, np.ndarray):
                ir.refuse_foreign_array(a, f"operand {i + 1} of {op_name}")
            if isinstance(a, Value):
                prev.append(a)
            elif op_name == "pow" and i == 1 and isinstance(a, (int, float)):
                prev.append(float(a))  # a constant exponent belongs to the structure
            elif op_name == "where" and i == 0 and _is_bool(a):
                # a condition computed on .data: data (a 0/1 leaf compared with 1/2), not
                # structure, so that a loop whose mask changes every step compiles once
                prev.append(cls._apply("gt", Value(np.asarray(a, dtype=np.float64)), 0.5))
            elif isinstance(a, (int, float, np.ndarray)) or ir._is_real_scalar(a):
                prev.append(Value(a))
            else:
                raise TypeError(f"operand {i + 1} of {op_name} must be a Value, a real number or a "
                                f"NumPy array, got {type(a).__name__}")
        values = [p.data if isinstance(p, Value) else p for p in prev]
        shapes = [np.shape(v) for v in values]
        if op_name == "where" and not (isinstance(values[0], bool) or np.asarray(values[0]).dtype == bool):
            raise TypeError("the condition of where must be a comparison (x < y, ...), got a number; "
                            "on eager Values compare .data, or build the condition with cc functions")
        if op.shape_rule is not None:
            op.shape_rule(shapes, params)  # a ShapeError here, as for symbolic expressions
        elif any(shapes):
            ir.broadcast_shapes(op_name, shapes)
        if params is None and not any(shapes):
            data = evaluate.evaluate(op_name, *values)
        else:
            data = evaluate.evaluate_array(op_name, params, values)
        out = cls.__new__(cls)
        out.data, out.grad = data, _zeros_like(data)
        out._op, out._prev, out._params, out.label = op_name, tuple(prev), params, ""
        return out

    def __repr__(self) -> str:
        return f"Value(data={self.data!r}, grad={self.grad!r})"

    # --- the recorded graph ---

    def _topo(self) -> list["Value"]:
        order, seen = [], {id(self)}
        stack = [(self, iter(self._values(self)))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, iter(self._values(child))))
                    break
            else:
                stack.pop()
                order.append(node)
        return order

    @staticmethod
    def _values(v: "Value"):
        return [p for p in v._prev if isinstance(p, Value)]

    def backward(self, backend: str | None = None) -> None:
        """Add d self / d v to ``v.grad`` for every value ``v`` this one was computed from.

        ``self`` must be a number (reduce an array first: ``.sum()``, ``.mean()``).
        """
        if np.shape(self.data):
            raise ShapeError(f"backward() needs a scalar Value, this one has shape {np.shape(self.data)}; "
                             "reduce it first (.sum() or .mean())")
        if isinstance(self.data, bool):
            raise TypeError("backward() of a comparison: differentiate a number")
        order = self._topo()
        index = {id(v): i for i, v in enumerate(order)}
        leaves = [v for v in order if v._op is None]
        key = tuple((v._op, v._params, tuple(index[id(p)] if isinstance(p, Value) else ("const", p)
                                             for p in v._prev))
                    if v._op else ("leaf", np.shape(v.data)) for v in order)
        program, grad_positions = _program(key, backend or self.backend)
        extra = [np.zeros(n.shape) if n.shape else 0.0 for n in program.inputs[len(leaves):]]
        grads = program(*(v.data for v in leaves), *extra)
        if not isinstance(grads, tuple):
            grads = (grads,)
        for position, g in zip(grad_positions, grads):
            v = order[position]
            # None is zero, as in PyTorch (whose habit is `p.grad = None` to reset a gradient)
            v.grad = (_zeros_like(v.data) if v.grad is None else v.grad) + g

    def zero_grad(self) -> None:
        """Set ``grad`` to 0 for this value and every value it was computed from."""
        for v in self._topo():
            v.grad = _zeros_like(v.data)


def _is_bool(x) -> bool:
    return isinstance(x, (bool, np.bool_)) or isinstance(x, np.ndarray) and x.dtype == bool


def _as_data(data):
    ir.refuse_foreign_array(data, "the data of a Value")
    if isinstance(data, np.ndarray) and data.ndim:
        if data.dtype.kind not in "biuf":
            raise TypeError(f"Value needs real numbers, got an array of dtype {data.dtype}")
        return np.array(data, dtype=np.float64)
    try:
        return float(data)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Value needs a real number or a NumPy array, got {type(data).__name__}: "
                        f"{data!r:.80}") from exc


def _zeros_like(data):
    if isinstance(data, np.ndarray):
        return np.zeros(data.shape) if data.dtype != bool else 0.0
    return 0.0


def _program(key: tuple, backend: str) -> tuple[CompiledFunction, list[int]]:
    with _programs_lock:
        program = _programs.get((key, backend))
        if program is not None:
            _programs.move_to_end((key, backend))
            return program
    program = _build_program(key, backend)
    with _programs_lock:
        _programs[(key, backend)] = program
        while len(_programs) > _CACHE_SIZE:
            _programs.popitem(last=False)
    return program


def _replay(key: tuple, leaves: list, perturb: dict | None) -> list:
    """IR node of every recorded value; ``perturb`` maps a position to its δ symbol."""
    nodes, leaf_iter = [], iter(leaves)  # type: ignore[var-annotated]
    for i, k in enumerate(key):
        if k[0] == "leaf":
            node = next(leaf_iter)
        else:
            op_name, params, args = k
            node = ir.apply(op_name, *(nodes[a] if isinstance(a, int) else a[1] for a in args), params=params)
        if perturb and i in perturb:
            node = node + perturb[i]
        nodes.append(node)
    return nodes


def _build_program(key: tuple, backend: str) -> tuple[CompiledFunction, list[int]]:
    """Compile d root / d (every recorded number) as a function of the leaf data; and the
    positions (in the recorded order) of the values whose gradients it returns.

    Interning may map two recorded values to one IR node (``a*b`` computed
    twice); each such repeat gets a zero-valued perturbation input of its own
    (``node + δ``), so that its adjoint is the one micrograd would give it.
    """
    leaves = [ir.symbol(f"leaf{i}", k[1]) for i, k in enumerate(k for k in key if k[0] == "leaf")]
    plain = _replay(key, leaves, None)
    counts: dict[int, int] = {}
    for n in plain:
        counts[n.id] = counts.get(n.id, 0) + 1
    shared = [i for i, n in enumerate(plain) if counts[n.id] > 1 and n.dtype == "float"]
    perturbations = [ir.symbol(f"repeat{k}", plain[i].shape) for k, i in enumerate(shared)]
    nodes = _replay(key, leaves, dict(zip(shared, perturbations))) if shared else plain
    root = nodes[-1]
    inputs = leaves + perturbations
    order = ir.topo_order([root])
    adj = reverse.adjoints(root, order, reverse.depends_on(order, inputs))
    positions = [i for i, n in enumerate(nodes) if n.dtype == "float"]
    grads = []
    for i in positions:
        n = nodes[i]
        g = adj.get(n.id)
        grads.append(g if g is not None else ir.constant(np.zeros(n.shape)) if n.shape else ir.constant(0.0))
    program = CompiledFunction(grads, inputs, [], backend, many=True, title="adjoints of a Value graph")
    return program, positions


# operators and methods: the op table's functions, computed eagerly
def _binary(op_name):
    return (lambda self, other: Value._apply(op_name, self, other),
            lambda self, other: Value._apply(op_name, other, self))


for _dunder, _op in (("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "div"), ("pow", "pow")):
    _fwd, _rev = _binary(_op)
    setattr(Value, f"__{_dunder}__", _fwd)
    setattr(Value, f"__r{_dunder}__", _rev)
Value.__neg__ = lambda self: Value._apply("neg", self)
Value.__abs__ = lambda self: Value._apply("abs", self)
for _name in ("exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos", "atan",
              "log1p", "expm1", "abs", "relu", "sigmoid", "softplus", "erf"):
    setattr(Value, _name, (lambda op_name: lambda self: Value._apply(op_name, self))(_name))


# the tensor functions are methods too (computed eagerly through the dispatch table below)
Value.sum = lambda self, axis=None, keepdims=False: frontend.sum(self, axis, keepdims)
Value.mean = lambda self, axis=None, keepdims=False: frontend.mean(self, axis, keepdims)
Value.max = lambda self, axis=None, keepdims=False: frontend.max(self, axis, keepdims)
Value.min = lambda self, axis=None, keepdims=False: frontend.min(self, axis, keepdims)
Value.logsumexp = lambda self, axis=None, keepdims=False: frontend.logsumexp(self, axis, keepdims)
Value.softmax = lambda self, axis=-1: frontend.softmax(self, axis)
Value.log_softmax = lambda self, axis=-1: frontend.log_softmax(self, axis)
Value.reshape = frontend.reshape
Value.transpose = frontend.transpose
Value.T = property(lambda self: frontend.transpose(self))
Value.__getitem__ = frontend.getitem
Value.__matmul__ = lambda self, other: frontend.matmul(self, other)
Value.__rmatmul__ = lambda self, other: frontend.matmul(other, self)

# cc.sin(v), cc.where(mask, v, w), cc.concatenate([v, array]) ... compute eagerly on Values
register_eager(Value, Value._apply, Value)
