"""The op table: every operation of the IR, defined once.

Each ``Op`` entry carries everything the passes need to know about one op:

* ``arity`` and ``result`` (``"float"`` or ``"bool"``),
* ``fmt``: how it prints in generated source (a template over its operands),
* ``vjp``: its derivative rule, *written as IR construction*: given the
  operands, the op's own output node and the incoming adjoint ``g``, it
  returns one contribution per operand (``None`` where the op is not
  differentiable in that operand). Because the rule builds IR, the reverse
  pass can be applied to its own output (Hessians are reverse-over-reverse),
* ``sympy``: its SymPy counterpart, used by ``to_sympy`` and by the tests'
  SymPy oracle,
* ``simplify``: the exact identities applied at construction (``x*1 -> x``).

The numeric implementation used for constant folding and for the eager
``Value`` API is built from ``fmt`` itself (see ``_numeric``), so folding,
eager evaluation and generated code share one definition of every op.

Adding an op is adding one entry to ``OPS``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from . import ir

SQRT_PI_INV_2 = 2.0 / math.sqrt(math.pi)  # d/dx erf(x) = 2/sqrt(pi) * exp(-x^2)


def _is_const(node, value) -> bool:
    return node.op == "const" and node.value == value and not isinstance(node.value, bool)


def where(cond, a, b):
    return ir.apply("where", cond, a, b)


@dataclass(frozen=True)
class Op:
    name: str
    arity: int
    fmt: str
    vjp: Optional[Callable] = None
    sympy: Optional[Callable] = None
    simplify: Optional[Callable] = None
    result: str = "float"
    commutative: bool = False
    infix: Optional[str] = None  # operator symbol for readable printing of expressions
    numeric: Optional[Callable] = None
    # LLVM lowering for the native target: (emitter, *operand values) -> value; see llvm_target.py
    llvm: Optional[Callable] = None

    def __repr__(self) -> str:
        return f"Op({self.name})"


# --- identities applied when a node is built (all exact in IEEE arithmetic) ---

def _simplify_add(a, b):
    if _is_const(b, 0.0):
        return a
    if _is_const(a, 0.0):
        return b
    return None


def _simplify_sub(a, b):
    if _is_const(b, 0.0):
        return a
    if _is_const(a, 0.0):
        return ir.apply("neg", b)
    return None


def _simplify_mul(a, b):
    for x, y in ((a, b), (b, a)):
        if _is_const(x, 1.0):
            return y
        if _is_const(x, -1.0):
            return ir.apply("neg", y)
    return None


def _simplify_div(a, b):
    if _is_const(b, 1.0):
        return a
    if _is_const(b, -1.0):
        return ir.apply("neg", a)
    return None


def _simplify_neg(a):
    return a.args[0] if a.op == "neg" else None


def _simplify_pow(a, b):
    if _is_const(b, 1.0):
        return a
    if _is_const(b, 0.0):  # pow(x, 0) == 1 for every x, nan included
        return ir.constant(1.0)
    return None


def _simplify_where(c, a, b):
    if c.op == "const":
        return a if c.value else b
    if a is b:
        return a
    return None


# --- derivative rules: (operands, output, adjoint) -> contribution per operand ---

def _vjp_pow(args, out, g):
    a, b = args
    if b.op == "const":
        c = b.value
        return (g * (c * a ** (c - 1.0)), None)
    # The masks follow PyTorch: d/da is 0 where b == 0, d/db is 0 where a == 0.
    # d/da is masked only where a == 0 too (elsewhere b * a**(b-1) is 0 at b == 0
    # already), so that its own derivative in b, a Hessian entry, stays exact.
    da_raw = b * a ** (b - 1.0)
    da = where(ir.apply("eq", a, 0.0), where(ir.apply("eq", b, 0.0), 0.0, da_raw), da_raw)
    db = where(ir.apply("eq", a, 0.0), 0.0, out * a.log())
    return (g * da, g * db)


def _vjp_maximum(args, out, g):
    # Ties split the adjoint equally between both operands (as PyTorch and JAX do).
    a, b = args
    tie = ir.apply("eq", a, b)
    half = 0.5 * g
    return (where(a > b, g, where(tie, half, 0.0)), where(b > a, g, where(tie, half, 0.0)))


def _vjp_minimum(args, out, g):
    a, b = args
    tie = ir.apply("eq", a, b)
    half = 0.5 * g
    return (where(a < b, g, where(tie, half, 0.0)), where(b < a, g, where(tie, half, 0.0)))


def _vjp_atan2(args, out, g):
    y, x = args
    r = x * x + y * y
    return (g * x / r, -(g * y) / r)


# --- LLVM lowerings (llvm_target.Emitter): the same NumPy semantics as ``fmt`` ---

def _bin(instruction):
    return lambda e, a, b: e.binary(instruction, a, b)


def _call(function):
    return lambda e, *args: e.call(function, *args)


def _llvm_maximum(e, a, b):  # np.maximum: nan in either operand gives nan
    return e.select(e.fcmp("uno", a, a), a, e.select(e.fcmp("oge", a, b), a, b))


def _llvm_minimum(e, a, b):
    return e.select(e.fcmp("uno", a, a), a, e.select(e.fcmp("ole", a, b), a, b))


def _llvm_sign(e, a):  # np.sign: nan stays nan, -0.0 and 0.0 give 0.0
    zero = e.const(0.0)
    neg = e.select(e.fcmp("olt", a, zero), e.const(-1.0), e.select(e.fcmp("oeq", a, zero), zero, a))
    return e.select(e.fcmp("ogt", a, zero), e.const(1.0), neg)


def _llvm_sigmoid(e, a):  # the two branches of ``fmt`` share exp(-|a|): one call
    t = e.call("llvm.exp.f64", e.neg(e.call("llvm.fabs.f64", a)))
    d = e.binary("fadd", e.const(1.0), t)
    return e.select(e.fcmp("oge", a, e.const(0.0)), e.binary("fdiv", e.const(1.0), d), e.binary("fdiv", t, d))


def _llvm_softplus(e, a):
    t = e.call("log1p", e.call("llvm.exp.f64", e.neg(e.call("llvm.fabs.f64", a))))
    return e.binary("fadd", t, _llvm_maximum(e, a, e.const(0.0)))


def _no_grad(n):
    return lambda args, out, g: (None,) * n


def _comparison(name, symbol, sympy_name, fcmp):
    return Op(name, 2, "{0} %s {1}" % symbol, vjp=_no_grad(2),
              sympy=lambda sp, a, b: getattr(sp, sympy_name)(a, b),
              result="bool", infix=symbol, llvm=lambda e, a, b: e.fcmp(fcmp, a, b))


def _cfunction(name):
    def build(sp, a):
        from sympy.codegen import cfunctions
        return getattr(cfunctions, name)(a)
    return build


_OPS = [
    # leaves: printed by the code generator itself
    Op("const", 0, ""),
    Op("var", 0, ""),
    # arithmetic
    Op("add", 2, "{0} + {1}", lambda args, out, g: (g, g),
       lambda sp, a, b: a + b, _simplify_add, commutative=True, infix="+", llvm=_bin("fadd")),
    Op("sub", 2, "{0} - {1}", lambda args, out, g: (g, -g),
       lambda sp, a, b: a - b, _simplify_sub, infix="-", llvm=_bin("fsub")),
    Op("mul", 2, "{0} * {1}", lambda args, out, g: (g * args[1], g * args[0]),
       lambda sp, a, b: a * b, _simplify_mul, commutative=True, infix="*", llvm=_bin("fmul")),
    Op("div", 2, "{0} / {1}", lambda args, out, g: (g / args[1], -(g * out) / args[1]),
       lambda sp, a, b: a / b, _simplify_div, infix="/", llvm=_bin("fdiv")),
    Op("neg", 1, "-{0}", lambda args, out, g: (-g,), lambda sp, a: -a, _simplify_neg, llvm=lambda e, a: e.neg(a)),
    Op("pow", 2, "{0} ** {1}", _vjp_pow, lambda sp, a, b: a ** b, _simplify_pow, infix="**", llvm=_call("llvm.pow.f64")),
    # elementary functions
    Op("exp", 1, "np.exp({0})", lambda args, out, g: (g * out,), lambda sp, a: sp.exp(a), llvm=_call("llvm.exp.f64")),
    Op("log", 1, "np.log({0})", lambda args, out, g: (g / args[0],), lambda sp, a: sp.log(a), llvm=_call("llvm.log.f64")),
    Op("sqrt", 1, "np.sqrt({0})", lambda args, out, g: (0.5 * g / out,), lambda sp, a: sp.sqrt(a), llvm=_call("llvm.sqrt.f64")),
    Op("sin", 1, "np.sin({0})", lambda args, out, g: (g * args[0].cos(),), lambda sp, a: sp.sin(a), llvm=_call("llvm.sin.f64")),
    Op("cos", 1, "np.cos({0})", lambda args, out, g: (-(g * args[0].sin()),), lambda sp, a: sp.cos(a), llvm=_call("llvm.cos.f64")),
    Op("tan", 1, "np.tan({0})", lambda args, out, g: (g * (1.0 + out * out),), lambda sp, a: sp.tan(a), llvm=_call("tan")),
    # 1 - tanh**2 as PyTorch and JAX: no second transcendental call; exact to a few ulps of 1
    Op("tanh", 1, "np.tanh({0})", lambda args, out, g: (g * (1.0 - out * out),), lambda sp, a: sp.tanh(a), llvm=_call("tanh")),
    Op("sinh", 1, "np.sinh({0})", lambda args, out, g: (g * args[0].cosh(),), lambda sp, a: sp.sinh(a), llvm=_call("sinh")),
    Op("cosh", 1, "np.cosh({0})", lambda args, out, g: (g * args[0].sinh(),), lambda sp, a: sp.cosh(a), llvm=_call("cosh")),
    Op("asin", 1, "np.arcsin({0})", lambda args, out, g: (g / (1.0 - args[0] * args[0]).sqrt(),),
       lambda sp, a: sp.asin(a), llvm=_call("asin")),
    Op("acos", 1, "np.arccos({0})", lambda args, out, g: (-g / (1.0 - args[0] * args[0]).sqrt(),),
       lambda sp, a: sp.acos(a), llvm=_call("acos")),
    Op("atan", 1, "np.arctan({0})", lambda args, out, g: (g / (1.0 + args[0] * args[0]),),
       lambda sp, a: sp.atan(a), llvm=_call("atan")),
    Op("atan2", 2, "np.arctan2({0}, {1})", _vjp_atan2, lambda sp, y, x: sp.atan2(y, x), llvm=_call("atan2")),
    # log1p/expm1 keep full precision near 0; numpy's versions are accurate everywhere
    Op("log1p", 1, "np.log1p({0})", lambda args, out, g: (g / (1.0 + args[0]),), _cfunction("log1p"), llvm=_call("log1p")),
    Op("expm1", 1, "np.expm1({0})", lambda args, out, g: (g * args[0].exp(),), _cfunction("expm1"), llvm=_call("expm1")),
    Op("erf", 1, "np.float64(math.erf({0}))",  # numpy has no erf; the cast keeps numpy semantics downstream
       lambda args, out, g: (g * (SQRT_PI_INV_2 * (-(args[0] * args[0])).exp()),),
       lambda sp, a: sp.erf(a), llvm=_call("erf")),
    # piecewise functions; the derivative at a kink follows PyTorch: relu'(0) = 0, abs'(0) = 0
    Op("abs", 1, "np.abs({0})", lambda args, out, g: (g * ir.apply("sign", args[0]),),
       lambda sp, a: sp.Abs(a), llvm=_call("llvm.fabs.f64")),
    Op("sign", 1, "np.sign({0})", _no_grad(1), lambda sp, a: sp.sign(a), llvm=_llvm_sign),
    Op("relu", 1, "np.maximum({0}, 0.0)", lambda args, out, g: (where(args[0] > 0.0, g, 0.0),),
       lambda sp, a: sp.Max(a, 0), llvm=lambda e, a: _llvm_maximum(e, a, e.const(0.0))),
    # A dedicated op rather than 1/(1+exp(-x)): the branch keeps exp from overflowing.
    Op("sigmoid", 1, "(1.0 / (1.0 + np.exp(-{0})) if {0} >= 0.0 else np.exp({0}) / (1.0 + np.exp({0})))",
       lambda args, out, g: (g * (out * (-args[0]).sigmoid()),), lambda sp, a: 1 / (1 + sp.exp(-a)), llvm=_llvm_sigmoid),
    # log(1 + exp(x)) written so that exp never overflows
    Op("softplus", 1, "np.log1p(np.exp(-np.abs({0}))) + np.maximum({0}, 0.0)",
       lambda args, out, g: (g * args[0].sigmoid(),), lambda sp, a: sp.log(1 + sp.exp(a)), llvm=_llvm_softplus),
    Op("maximum", 2, "np.maximum({0}, {1})", _vjp_maximum, lambda sp, a, b: sp.Max(a, b), llvm=_llvm_maximum),
    Op("minimum", 2, "np.minimum({0}, {1})", _vjp_minimum, lambda sp, a, b: sp.Min(a, b), llvm=_llvm_minimum),
    # selection and comparisons
    Op("where", 3, "{1} if {0} else {2}",
       lambda args, out, g: (None, where(args[0], g, 0.0), where(args[0], 0.0, g)),
       lambda sp, c, a, b: sp.Piecewise((a, c), (b, True)), _simplify_where, llvm=lambda e, c, a, b: e.select(c, a, b)),
    _comparison("lt", "<", "StrictLessThan", "olt"),
    _comparison("le", "<=", "LessThan", "ole"),
    _comparison("gt", ">", "StrictGreaterThan", "ogt"),
    _comparison("ge", ">=", "GreaterThan", "oge"),
    _comparison("eq", "==", "Eq", "oeq"),
]


def _numeric(op: Op) -> Callable:
    """The op's scalar implementation, made from its own source template.

    The template is library text, never user text. Evaluating it on
    ``numpy.float64`` operands gives exactly the semantics of the generated
    code (nan/inf as NumPy gives them, never an exception).
    """
    params = [f"a{i}" for i in range(op.arity)]
    body = op.fmt.format(*params)
    return eval(f"lambda {', '.join(params)}: {body}", {"np": np, "math": math})  # noqa: S307


OPS: dict[str, Op] = {}
for _op in _OPS:
    if _op.arity:
        object.__setattr__(_op, "numeric", _numeric(_op))
    OPS[_op.name] = _op

#: Functions a user can call (``cc.sin``); internal ops (``sign``, ``eq``) are usable too.
FUNCTIONS = ("exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos",
             "atan", "atan2", "log1p", "expm1", "abs", "relu", "sigmoid", "softplus", "erf",
             "maximum", "minimum", "where", "sign")


def evaluate(name: str, *values) -> float | bool:
    """Apply op ``name`` to numbers with the semantics of the generated code.

    >>> evaluate("log", -1.0)
    nan
    """
    with np.errstate(all="ignore"):
        result = OPS[name].numeric(*(np.float64(v) for v in values))
    if OPS[name].result == "bool":
        return bool(result)
    return float(result)
