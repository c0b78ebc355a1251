"""Building expressions: symbols, Python operators, and the function library.

Every function here builds IR through ``dispatch.call`` (``ir.apply``, or an
eager computation when an operand is of a registered eager type such as
``cc.Value``). The same
functions are installed as methods (``x.exp()``, ``x.relu()``) and as NumPy
ufunc overrides (``np.sin(x)``).

>>> import compiler as cc
>>> x, y = cc.symbols("x y")
>>> cc.sin(x) * y + x**2
y * sin(x) + x ** 2.0
"""

from __future__ import annotations

from typing import Union

from .. import ir
from ..ir import Node, ops
from .dispatch import call as _call

Number = Union[int, float]
ExprLike = Union[Node, Number]


def Symbol(name: str) -> Node:
    """A scalar input variable. The same name always gives the same symbol.

    Any string is a valid name (``"a b"``, ``"lambda"``); generated code uses
    a sanitized identifier and keeps the original only in a comment.

    >>> Symbol("x") is Symbol("x")
    True
    """
    return ir.symbol(name)


def symbols(names: str) -> Node | tuple[Node, ...]:
    """Several symbols from names separated by spaces or commas (one name gives one symbol).

    >>> x, y = symbols("x y")
    """
    if not isinstance(names, str):
        raise TypeError(f"symbols() takes a str of names separated by spaces or commas, got {type(names).__name__}")
    parts = [p for p in names.replace(",", " ").split() if p]
    if not parts:
        raise ValueError("symbols() got no names")
    made = tuple(ir.symbol(p) for p in parts)
    return made[0] if len(made) == 1 else made


def _unary(op_name: str, doc: str):
    def fn(x):
        return _call(op_name, x)
    fn.__name__ = fn.__qualname__ = op_name
    fn.__doc__ = doc
    return fn


exp = _unary("exp", "e**x.")
log = _unary("log", "Natural logarithm (nan for x < 0, -inf at 0).")
sqrt = _unary("sqrt", "Square root (nan for x < 0).")
sin = _unary("sin", "Sine.")
cos = _unary("cos", "Cosine.")
tan = _unary("tan", "Tangent.")
tanh = _unary("tanh", "Hyperbolic tangent.")
sinh = _unary("sinh", "Hyperbolic sine.")
cosh = _unary("cosh", "Hyperbolic cosine.")
asin = _unary("asin", "Arcsine (nan outside [-1, 1]).")
acos = _unary("acos", "Arccosine (nan outside [-1, 1]).")
atan = _unary("atan", "Arctangent.")
log1p = _unary("log1p", "log(1 + x), accurate near 0.")
expm1 = _unary("expm1", "exp(x) - 1, accurate near 0.")
abs = _unary("abs", "Absolute value; abs'(0) = 0.")  # noqa: A001 - cc.abs mirrors np.abs
sign = _unary("sign", "Sign (-1, 0 or 1; derivative 0).")
relu = _unary("relu", "max(x, 0); relu'(0) = 0.")
sigmoid = _unary("sigmoid", "1 / (1 + exp(-x)), without overflow for any x.")
softplus = _unary("softplus", "log(1 + exp(x)), without overflow for any x.")
erf = _unary("erf", "The error function.")


def atan2(y: ExprLike, x: ExprLike):
    """The angle of the point (x, y), as ``math.atan2(y, x)``."""
    return _call("atan2", y, x)


def maximum(a: ExprLike, b: ExprLike):
    """The larger of a and b; at a tie the adjoint is split equally (as PyTorch and JAX)."""
    return _call("maximum", a, b)


def minimum(a: ExprLike, b: ExprLike):
    """The smaller of a and b; at a tie the adjoint is split equally."""
    return _call("minimum", a, b)


def where(cond, a: ExprLike, b: ExprLike):
    """``a`` where ``cond`` holds, else ``b``; ``cond`` is a comparison such as ``x > 0``.

    Both branches are evaluated (as in NumPy and JAX); the gradient flows
    only through the selected one.

    >>> x = Symbol("x")
    >>> where(x > 0, x, 0.5 * x)
    where(x > 0.0, x, x * 0.5)
    """
    return _call("where", cond, a, b)


# --- operators and methods on Node ---

def _binary_methods(op_name):
    apply = ir.apply

    def forward(self, other):
        if type(other) is Node:  # the common case, kept short: graphs of 10^5 nodes go through here
            return apply(op_name, self, other)
        return _call(op_name, self, other)

    def reflected(self, other):
        return _call(op_name, other, self)
    return forward, reflected


for _dunder, _op in (("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "div"), ("pow", "pow")):
    _fwd, _rev = _binary_methods(_op)
    setattr(Node, f"__{_dunder}__", _fwd)
    setattr(Node, f"__r{_dunder}__", _rev)

for _dunder, _op in (("lt", "lt"), ("le", "le"), ("gt", "gt"), ("ge", "ge")):
    setattr(Node, f"__{_dunder}__", _binary_methods(_op)[0])

Node.__neg__ = lambda self: ir.apply("neg", self)
Node.__pos__ = lambda self: self
Node.__abs__ = lambda self: ir.apply("abs", self)

_METHODS = ("exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos", "atan",
            "log1p", "expm1", "abs", "sign", "relu", "sigmoid", "softplus", "erf")
for _name in _METHODS:
    setattr(Node, _name, (lambda op_name: lambda self: ir.apply(op_name, self))(_name))
Node.maximum = lambda self, other: ir.apply("maximum", self, other)
Node.minimum = lambda self, other: ir.apply("minimum", self, other)

# NumPy ufuncs applied to expressions build IR: np.sin(x) is cc.sin(x).
UFUNC_OPS = {
    "add": "add", "subtract": "sub", "multiply": "mul", "divide": "div", "true_divide": "div",
    "negative": "neg", "power": "pow", "exp": "exp", "log": "log", "sqrt": "sqrt", "sin": "sin",
    "cos": "cos", "tan": "tan", "tanh": "tanh", "sinh": "sinh", "cosh": "cosh", "arcsin": "asin",
    "arccos": "acos", "arctan": "atan", "arctan2": "atan2", "log1p": "log1p", "expm1": "expm1",
    "absolute": "abs", "sign": "sign", "maximum": "maximum", "minimum": "minimum",
    "less": "lt", "less_equal": "le", "greater": "gt", "greater_equal": "ge", "matmul": "matmul",
}


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    op_name = UFUNC_OPS.get(ufunc.__name__)
    if method != "__call__" or kwargs or op_name is None:
        return NotImplemented
    return _call(op_name, *inputs)


Node.__array_ufunc__ = _array_ufunc
assert set(_METHODS) <= set(ops.OPS)
