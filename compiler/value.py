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
>>> y.backward(backend="python")   # default: cc.Value.backend, "numba"
>>> a.grad, y.data
(7.0, 12.0)
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from . import ir, ops, reverse
from .runtime import CompiledFunction

_CACHE_SIZE = 256  # compiled adjoint programs kept, least recently used dropped first
_programs: "OrderedDict[tuple, CompiledFunction]" = OrderedDict()
_programs_lock = threading.Lock()


class Value:
    """A scalar that records the operations applied to it.

    Attributes: ``data`` (its number), ``grad`` (d root / d this value after
    ``root.backward()``, accumulated across calls until ``zero_grad()``).
    """

    __slots__ = ("data", "grad", "_op", "_prev", "label")
    backend: str = "numba"  # backend of the compiled adjoint programs (class-wide default)

    def __init__(self, data: float, label: str = ""):
        if isinstance(data, Value):
            data = data.data
        try:
            self.data = float(data)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"Value needs a real number, got {type(data).__name__}: {data!r:.80}") from exc
        self.grad = 0.0
        self._op: str | None = None
        self._prev: tuple = ()
        self.label = label

    @classmethod
    def _apply(cls, op_name: str, *args) -> "Value":
        op = ops.OPS[op_name]
        if op.result != "float" or op_name == "where":
            raise TypeError(f"{op_name} is not available on eager Values; compare .data "
                            "or build a symbolic expression with cc.symbols and cc.where")
        prev = []
        for i, a in enumerate(args):
            if isinstance(a, Value):
                prev.append(a)
            elif op_name == "pow" and i == 1 and isinstance(a, (int, float)):
                prev.append(float(a))  # a constant exponent belongs to the structure
            elif isinstance(a, (int, float)) or ir._is_real_scalar(a):
                prev.append(Value(float(a)))
            else:
                raise TypeError(f"operand {i + 1} of {op_name} must be a Value or a real number, "
                                f"got {type(a).__name__}")
        out = cls.__new__(cls)
        out.data = ops.evaluate(op_name, *(p.data if isinstance(p, Value) else p for p in prev))
        out.grad, out._op, out._prev, out.label = 0.0, op_name, tuple(prev), ""
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
        """Add d self / d v to ``v.grad`` for every value ``v`` this one was computed from."""
        order = self._topo()
        index = {id(v): i for i, v in enumerate(order)}
        leaves = [v for v in order if v._op is None]
        key = tuple((v._op, tuple(index[id(p)] if isinstance(p, Value) else ("const", p) for p in v._prev))
                    if v._op else None for v in order)
        program = _program(key, backend or self.backend)
        grads = program(*(v.data for v in leaves), *([0.0] * (len(program.inputs) - len(leaves))))
        if not isinstance(grads, tuple):
            grads = (grads,)
        for v, g in zip(order, grads):
            v.grad += g

    def zero_grad(self) -> None:
        """Set ``grad`` to 0 for this value and every value it was computed from."""
        for v in self._topo():
            v.grad = 0.0


def _program(key: tuple, backend: str) -> CompiledFunction:
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
    nodes, leaf_iter = [], iter(leaves)
    for i, k in enumerate(key):
        if k is None:
            node = next(leaf_iter)
        else:
            op_name, args = k
            node = ir.apply(op_name, *(nodes[a] if isinstance(a, int) else a[1] for a in args))
        if perturb and i in perturb:
            node = node + perturb[i]
        nodes.append(node)
    return nodes


def _build_program(key: tuple, backend: str) -> CompiledFunction:
    """Compile d root / d (every recorded value) as a function of the leaf numbers.

    Interning may map two recorded values to one IR node (``a*b`` computed
    twice); each such repeat gets a zero-valued perturbation input of its own
    (``node + δ``), so that its adjoint is the one micrograd would give it.
    """
    n_leaves = sum(1 for k in key if k is None)
    leaves = [ir.symbol(f"leaf{i}") for i in range(n_leaves)]
    plain = _replay(key, leaves, None)
    counts: dict[int, int] = {}
    for n in plain:
        counts[n.id] = counts.get(n.id, 0) + 1
    shared = [i for i, n in enumerate(plain) if counts[n.id] > 1]
    perturbations = [ir.symbol(f"repeat{k}") for k in range(len(shared))]
    nodes = _replay(key, leaves, dict(zip(shared, perturbations))) if shared else plain
    assert len({n.id for n in nodes}) == len(nodes), "recorded values must map to distinct IR nodes"
    root = nodes[-1]
    inputs = leaves + perturbations
    order = ir.topo_order([root])
    adj = reverse.adjoints(root, order, reverse.depends_on(order, inputs))
    zero = ir.constant(0.0)
    grads = [adj.get(n.id, zero) for n in nodes]
    return CompiledFunction(grads, inputs, [], backend, many=True, title="adjoints of a Value graph")


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
