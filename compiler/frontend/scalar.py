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

import math
import re
import sys
from typing import Any, Union

from .. import ir
from ..ir import Node, ops
from .dispatch import call as _call

Number = Union[int, float]
ExprLike = Union[Node, Number]


def Symbol(name: str, dtype: str = "float64") -> Node:
    """A scalar input variable of precision ``dtype`` ("float64", "float32" or "complex128": see
    ``docs/guide/precision.md``, ``docs/guide/complex.md``). The same name and dtype always give
    the same symbol.

    Any string is a valid name (``"a b"``, ``"lambda"``); generated code uses
    a sanitized identifier and keeps the original only in a comment.

    >>> Symbol("x") is Symbol("x")
    True
    """
    return ir.symbol(name, (), dtype)


MAX_RANGE = 1_000_000  # symbols one range may make; more inputs than this want a cc.Tensor
# SymPy's range syntax, as far as symbols() reads it: a prefix, then start:end in digits (all
# the digits before the ':' are the start, 0 if there are none; the end is excluded) or in
# letters of one case (the end included).
_NUMBER_RANGE = re.compile(r"([^:\\]*[^0-9:\\])([0-9]*):([0-9]+)")
_LETTER_RANGE = re.compile(r"([^:\\]*)([a-z]:[a-z]|[A-Z]:[A-Z])")
_RANGES = "x0:10 (x0 ... x9), x:3 (x0, x1, x2), a:d (a, b, c, d)"


def symbols(names: str, dtype: str = "float64") -> Any:  # a Node or a tuple of Nodes: Any, so `x, y = ...` type-checks
    """Several symbols from names separated by spaces or commas (one name gives one symbol).

    SymPy's ranges give a tuple: ``"x0:3"`` or ``"x:3"`` is ``x0, x1, x2``, and
    ``"a:c"`` is ``a, b, c``; any other name with a ``:`` is a ``ValueError``
    (``Symbol`` takes any name). ``dtype`` is every symbol's precision ("float64", "float32" or
    "complex128").

    >>> x, y = symbols("x y")
    >>> symbols("x0:3")
    (x0, x1, x2)
    """
    if not isinstance(names, str):
        raise TypeError(f"symbols() takes a str of names separated by spaces or commas, got {type(names).__name__}")
    parts = [p for p in names.replace(",", " ").split() if p]
    if not parts:
        raise ValueError("symbols() got no names")
    where = (lambda i: f" (name {i} of {names!r:.80})") if len(parts) > 1 else (lambda i: "")
    made = tuple(ir.symbol(n, (), dtype) for i, p in enumerate(parts, 1) for n in _range_names(p, where(i)))
    return made[0] if len(parts) == 1 and ":" not in parts[0] else made


def _range_names(name: str, where: str) -> list[str]:
    """The names ``name`` stands for in ``symbols()``: itself, or the names of its range."""
    if ":" not in name:
        return [name]
    number, letter = _NUMBER_RANGE.fullmatch(name), _LETTER_RANGE.fullmatch(name)
    if number:
        prefix, first, last = number[1], number[2] or "0", number[3]
        # a start or end of 40 digits is beyond any range; int() of thousands would refuse
        start, stop = (int(first), int(last)) if len(first) + len(last) < 40 else (0, MAX_RANGE + 1)
        made: range | list[str] = range(start, stop)
        example = f"{prefix}{start}:{start + 3} is {', '.join(f'{prefix}{start + i}' for i in range(3))}"
    elif letter:
        prefix, (first, last) = letter[1], letter[2].split(":")
        made = [chr(c) for c in range(ord(first), ord(last) + 1)]
        a = "a" if first.islower() else "A"
        example = f"{prefix}{a}:{chr(ord(a) + 2)} is {', '.join(prefix + chr(ord(a) + i) for i in range(3))}"
    else:
        raise ValueError(f"symbols(): {name!r:.80}{where} has a ':' but is not one of SymPy's ranges that "
                         f"symbols() reads: {_RANGES}; for one symbol with this name, use cc.Symbol({name!r:.80})")
    if not made:
        raise ValueError(f"symbols(): the range {name!r:.80}{where} is empty; its end must come after its "
                         f"start ({example})")
    if len(made) > MAX_RANGE:
        raise ValueError(f"symbols(): the range {name!r:.80}{where} makes more than {MAX_RANGE:,} symbols; "
                         "for that many inputs use cc.Tensor(name, shape)")
    return [f"{prefix}{i}" for i in made]


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
conj = _unary("conj", """Complex conjugate (the value itself for a real one); np.conj.

    >>> z = Symbol("z", dtype="complex128")
    >>> conj(z).op, conj(conj(z)) is z
    ('conj', True)
    """)
real = _unary("real", "Real part (complex -> real; a real value is itself); np.real, ``z.real``.")
imag = _unary("imag", "Imaginary part (complex -> real; 0 for a real value); np.imag, ``z.imag``.")


def angle(z: ExprLike) -> Node:
    """Argument of a complex number in (-pi, pi] (complex -> real); np.angle, SymPy's arg. Of a
    real value: 0 or pi (``atan2(0, x)``, derivative 0).

    >>> angle(Symbol("z", dtype="complex128"))
    angle(z)
    """
    return _call("angle", z)
relu = _unary("relu", "max(x, 0); relu'(0) = 0.")
sigmoid = _unary("sigmoid", "1 / (1 + exp(-x)), without overflow for any x.")
softplus = _unary("softplus", "log(1 + exp(x)), without overflow for any x.")
erf = _unary("erf", "The error function.")
log2 = _unary("log2", "Base-2 logarithm (nan for x < 0, -inf at 0).")
log10 = _unary("log10", "Base-10 logarithm (nan for x < 0, -inf at 0).")
exp2 = _unary("exp2", "2**x.")
cbrt = _unary("cbrt", "Cube root (negative for x < 0; derivative inf at 0).")
asinh = _unary("asinh", "Inverse hyperbolic sine (np.arcsinh).")
acosh = _unary("acosh", "Inverse hyperbolic cosine (np.arccosh; nan for x < 1).")
atanh = _unary("atanh", "Inverse hyperbolic tangent (np.arctanh; +-inf at +-1, nan beyond).")
floor = _unary("floor", "The largest integer <= x. Piecewise constant: derivative 0 (at the jumps too).")
ceil = _unary("ceil", "The smallest integer >= x. Piecewise constant: derivative 0 (at the jumps too).")
rint = _unary("rint", "The nearest integer, ties to even (np.rint). Piecewise constant: derivative 0.")


def atan2(y: ExprLike, x: ExprLike):
    """The angle of the point (x, y), as ``math.atan2(y, x)``."""
    return _call("atan2", y, x)


def maximum(a: ExprLike, b: ExprLike):
    """The larger of a and b; at a tie the adjoint is split equally (as PyTorch and JAX)."""
    return _call("maximum", a, b)


def minimum(a: ExprLike, b: ExprLike):
    """The smaller of a and b; at a tie the adjoint is split equally."""
    return _call("minimum", a, b)


def hypot(a: ExprLike, b: ExprLike):
    """``sqrt(a**2 + b**2)`` without overflow or underflow; its derivative at the origin is 0
    (``hypot(x, 0)`` is ``abs(x)``, and ``abs'(0) = 0``)."""
    return _call("hypot", a, b)


def logaddexp(a: ExprLike, b: ExprLike):
    """``log(exp(a) + exp(b))`` without overflow, as ``np.logaddexp``."""
    return _call("logaddexp", a, b)


def logaddexp2(a: ExprLike, b: ExprLike):
    """``log2(2**a + 2**b)`` without overflow, as ``np.logaddexp2``."""
    return _call("logaddexp2", a, b)


def mod(a: ExprLike, b: ExprLike):
    """The remainder of ``a / b`` with the sign of ``b``: Python's ``a % b``, ``np.mod``.
    d/da is 1, d/db is ``-floor_divide(a, b)`` (away from the jumps)."""
    return _call("mod", a, b)


remainder = mod


def floor_divide(a: ExprLike, b: ExprLike):
    """``floor(a / b)`` as Python's ``a // b`` and ``np.floor_divide``; derivative 0."""
    return _call("floordiv", a, b)


# --- composed from the ops above: exact (NumPy computes them the same way) ---

def square(x: ExprLike):
    """``x * x`` (``np.square``)."""
    return _call("mul", x, x)


def fmax(a: ExprLike, b: ExprLike):
    """The larger of a and b, ignoring a nan (``np.fmax``); a tie gives ``a`` its sign, as NumPy,
    and splits the adjoint as ``maximum`` does."""
    return where(_call("eq", b, b), where(_call("eq", a, a), maximum(b, a), b), a)


def fmin(a: ExprLike, b: ExprLike):
    """The smaller of a and b, ignoring a nan (``np.fmin``)."""
    return where(_call("eq", b, b), where(_call("eq", a, a), minimum(b, a), b), a)


def deg2rad(x: ExprLike):
    """Degrees to radians: ``x * (pi / 180)``, as ``np.deg2rad`` computes it."""
    return _call("mul", x, math.pi / 180.0)


def rad2deg(x: ExprLike):
    """Radians to degrees: ``x * (180 / pi)``, as ``np.rad2deg`` computes it."""
    return _call("mul", x, 180.0 / math.pi)


def trunc(x: ExprLike):
    """The integer part of x, towards 0 (``np.trunc``; -0.0 for -1 < x < 0); derivative 0."""
    return where(_call("lt", x, 0.0), ceil(x), floor(x))


def reciprocal(x: ExprLike):
    """``1 / x``."""
    return _call("div", 1.0, x)


def clip(x: ExprLike, lo=None, hi=None):
    """``x`` limited to ``[lo, hi]`` (either may be None), as ``np.clip``; at a bound the
    derivative is x's (PyTorch's ``clamp``: 1 at the bound, where JAX gives 1/2)."""
    if lo is None and hi is None:
        raise ValueError("clip: give lo, hi or both (np.clip: one of a_min and a_max must be given)")
    out = x
    if lo is not None:
        out = where(_call("lt", out, lo), lo, out)
    if hi is not None:
        out = where(_call("gt", out, hi), hi, out)
    return out


def nan_to_num(x: ExprLike, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None):
    """``x`` with nan, inf and -inf replaced by numbers (the largest finite floats by default),
    as ``np.nan_to_num``; where replaced, the derivative is 0."""
    big = sys.float_info.max
    out = where(_call("eq", x, x), x, float(nan))
    out = where(_call("eq", x, math.inf), big if posinf is None else float(posinf), out)
    return where(_call("eq", x, -math.inf), -big if neginf is None else float(neginf), out)


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


for _dunder, _op in (("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "div"), ("pow", "pow"),
                     ("mod", "mod"), ("floordiv", "floordiv")):
    _fwd, _rev = _binary_methods(_op)
    setattr(Node, f"__{_dunder}__", _fwd)
    setattr(Node, f"__r{_dunder}__", _rev)

for _dunder, _op in (("lt", "lt"), ("le", "le"), ("gt", "gt"), ("ge", "ge")):
    setattr(Node, f"__{_dunder}__", _binary_methods(_op)[0])

Node.__neg__ = lambda self: ir.apply("neg", self)
Node.__pos__ = lambda self: self
Node.__abs__ = lambda self: ir.apply("abs", self)
Node.__divmod__ = lambda self, other: (_call("floordiv", self, other), _call("mod", self, other))
Node.__rdivmod__ = lambda self, other: (_call("floordiv", other, self), _call("mod", other, self))

_METHODS = ("exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos", "atan",
            "log1p", "expm1", "abs", "sign", "relu", "sigmoid", "softplus", "erf", "log2", "log10", "exp2",
            "cbrt", "asinh", "acosh", "atanh", "floor", "ceil", "rint")
for _name in _METHODS:
    setattr(Node, _name, (lambda op_name: lambda self: ir.apply(op_name, self))(_name))
Node.maximum = lambda self, other: ir.apply("maximum", self, other)
Node.minimum = lambda self, other: ir.apply("minimum", self, other)

assert set(_METHODS) <= set(ops.OPS)
