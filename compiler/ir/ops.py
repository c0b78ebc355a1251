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
* ``simplify``: the exact identities applied at construction (``x*1 -> x``),
* ``llvm``: its lowering for the native target, with ``fmt``'s NumPy semantics,
* ``numba_fmt``: a spelling for Numba where Numba's own NumPy function differs.

The numeric implementation used for constant folding and for the eager
``Value`` API is built from ``fmt`` itself (see ``evaluate``), so folding,
eager evaluation and generated code share one definition of every op.

The elementwise ops are here; the tensor ops (shape rules, NumPy
implementations) are in ``tensor_ops``. Adding an op is adding one entry to
one of the two lists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .node import apply, constant

SQRT_PI_INV_2 = 2.0 / math.sqrt(math.pi)  # d/dx erf(x) = 2/sqrt(pi) * exp(-x^2)
LN2, LN10 = math.log(2.0), math.log(10.0)
LOG2E = 1.0 / LN2  # NumPy's NPY_LOG2E: log2(1 + t) is LOG2E * log1p(t) in np.logaddexp2


def _is_const(node, value) -> bool:
    # (a complex 0j is no identity: x + 0j is complex, as in NumPy)
    return node.op == "const" and not node.shape and node.value == value and type(node.value) is float


def where(cond, a, b):
    return apply("where", cond, a, b)


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
    # --- tensors ---
    array_fmt: Optional[str] = None      # the spelling on NumPy arrays, where ``fmt`` is scalar-only
    # the spelling in Numba-compiled code, where Numba's version of the NumPy function differs
    # (a helper function of ``codegen.helpers``, printed into the module)
    numba_fmt: Optional[str] = None
    params: Optional[tuple] = None       # names of the static params (``("axes", "keepdims")``)
    shape_rule: Optional[Callable] = None  # (operand shapes, params) -> shape; None: broadcast
    # a tensor op's NumPy implementation (params as keywords): constant folding, eager Values
    impl: Optional[Callable] = None
    code: int = 0  # a small number of its own (set below): part of the intern keys of its nodes

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
        return apply("neg", b)
    return None


def _simplify_mul(a, b):
    for x, y in ((a, b), (b, a)):
        if _is_const(x, 1.0):
            return y
        if _is_const(x, -1.0):
            return apply("neg", y)
    return None


def _simplify_div(a, b):
    if _is_const(b, 1.0):
        return a
    if _is_const(b, -1.0):
        return apply("neg", a)
    return None


def _simplify_neg(a):
    return a.args[0] if a.op == "neg" else None


def _simplify_pow(a, b):
    if _is_const(b, 1.0):
        return a
    if _is_const(b, 0.0):  # pow(x, 0) == 1 for every x, nan included
        return constant(1.0)
    return None


def _simplify_where(c, a, b):
    if c.op == "const":
        mask = np.asarray(c.value)
        if mask.all():
            return a
        if not mask.any():
            return b
    if a is b:
        return a
    return None


# --- derivative rules: (operands, output, adjoint) -> contribution per operand ---

def _vjp_pow(args, out, g):
    a, b = args
    if _complex.is_complex(out) and b.op != "const":  # (no mask: comparisons of complex values refuse)
        return (g * (b * a ** (b - 1.0)), g * (out * a.log()))
    if b.op == "const":
        c = b.value
        return (g * (c * a ** (c - 1.0)), None)
    # The masks follow PyTorch: d/da is 0 where b == 0, d/db is 0 where a == 0.
    # d/da is masked only where a == 0 too (elsewhere b * a**(b-1) is 0 at b == 0
    # already), so that its own derivative in b, a Hessian entry, stays exact.
    da_raw = b * a ** (b - 1.0)
    da = where(apply("eq", a, 0.0), where(apply("eq", b, 0.0), 0.0, da_raw), da_raw)
    db = where(apply("eq", a, 0.0), 0.0, out * a.log())
    return (g * da, g * db)


def _vjp_maximum(args, out, g):
    # Ties split the adjoint equally between both operands (as PyTorch and JAX do).
    a, b = args
    tie = apply("eq", a, b)
    half = 0.5 * g
    return (where(a > b, g, where(tie, half, 0.0)), where(b > a, g, where(tie, half, 0.0)))


def _vjp_minimum(args, out, g):
    a, b = args
    tie = apply("eq", a, b)
    half = 0.5 * g
    return (where(a < b, g, where(tie, half, 0.0)), where(b < a, g, where(tie, half, 0.0)))


def _vjp_atan2(args, out, g):
    y, x = args
    r = x * x + y * y
    return (g * x / r, -(g * y) / r)


def _vjp_hypot(args, out, g):
    # hypot(x, 0) is |x|: at the origin the derivative is 0, as abs'(0) = 0 (PyTorch's convention)
    # The quotients divide by a safe ``out`` (1 at the origin), not ``out`` itself: the branch
    # where() drops still gets differentiated, and 0 * inf there would make every higher
    # derivative at the origin nan (Hessian, hvp and sparse Hessian alike).
    a, b = args
    origin = apply("eq", out, 0.0)
    safe = where(origin, 1.0, out)
    return (where(origin, 0.0, g * (a / safe)), where(origin, 0.0, g * (b / safe)))


def _vjp_logaddexp(scale):
    # d/da log(e**a + e**b) = sigmoid(a - b): finite for every finite a, b (no exp(a - out) overflow)
    def vjp(args, out, g):
        a, b = args
        return (g * ((a - b) * scale).sigmoid(), g * ((b - a) * scale).sigmoid())
    return vjp


def _floor_divide(a, b):
    return apply("floordiv", a, b)


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


def _llvm_logaddexp(base2: bool):
    """np.logaddexp (np.logaddexp2): a tie gives a + log(2) (a + 1), so inf and -inf stay themselves."""
    def lower(e, a, b):
        d = e.binary("fsub", a, b)

        def tail(high, t):  # high + log(1 + e**t) (log2(1 + 2**t)), t <= 0
            log = e.call("log1p", e.call("llvm.exp2.f64" if base2 else "llvm.exp.f64", t))
            return e.binary("fadd", high, e.binary("fmul", e.const(LOG2E), log) if base2 else log)
        zero = e.const(0.0)
        apart = e.select(e.fcmp("ogt", d, zero), tail(a, e.neg(d)),
                         e.select(e.fcmp("ole", d, zero), tail(b, d), d))  # d is nan: nan
        return e.select(e.fcmp("oeq", a, b), e.binary("fadd", a, e.const(1.0 if base2 else LN2)), apart)
    return lower


def _llvm_divmod(e, a, b):
    """NumPy's divmod of floats (npy_divmod): the floor quotient and the remainder with the sign of b."""
    zero, one = e.const(0.0), e.const(1.0)
    fmod = e.binary("frem", a, b)  # C's fmod
    nonzero = e.fcmp("une", fmod, zero)  # nan counts, as in C's `if (mod)`
    adjust = e.logic("and", nonzero, e.logic("xor", e.fcmp("olt", b, zero), e.fcmp("olt", fmod, zero)))
    mod = e.select(nonzero, e.select(adjust, e.binary("fadd", fmod, b), fmod), e.call("llvm.copysign.f64", zero, b))
    div = e.binary("fdiv", e.binary("fsub", a, fmod), b)
    div = e.select(adjust, e.binary("fsub", div, one), div)
    floor = e.call("llvm.floor.f64", div)
    floor = e.select(e.fcmp("ogt", e.binary("fsub", div, floor), e.const(0.5)), e.binary("fadd", floor, one), floor)
    quotient = e.binary("fdiv", a, b)
    floor = e.select(e.fcmp("une", div, zero), floor, e.call("llvm.copysign.f64", zero, quotient))
    by_zero = e.fcmp("oeq", b, zero)
    return e.select(by_zero, quotient, floor), e.select(by_zero, fmod, mod)


def _simplify_logic(name):
    """and/or/xor with a constant operand: the other operand, its negation or a constant."""
    def simplify(*args):
        consts = [a for a in args if a.op == "const" and not a.shape]
        if len(args) == 1 or not consts:
            return None
        c = bool(consts[0].value)
        other = args[1] if args[0] is consts[0] else args[0]
        if name == "logical_and":
            return other if c else constant(False)
        if name == "logical_or":
            return constant(True) if c else other
        return apply("logical_not", other) if c else other  # xor
    return simplify


def _llvm_not(e, a):  # xor with the flag "true" (an fcmp that always holds) of the emitter's width
    return e.logic("xor", a, e.fcmp("true", e.const(0.0), e.const(0.0)))


def _logical(name, fmt, array_fmt, sympy_name, instruction):
    """A Boolean connective of conditions (comparisons): no derivative, a flag as result."""
    return Op(name, 2, fmt, vjp=_no_grad(2), sympy=lambda sp, a, b: getattr(sp, sympy_name)(a, b),
              simplify=_simplify_logic(name), result="bool", commutative=True,
              llvm=lambda e, a, b: e.logic(instruction, a, b), array_fmt=array_fmt)


def _no_grad(n):
    return lambda args, out, g: (None,) * n


def _comparison(name, symbol, sympy_name, fcmp):
    return Op(name, 2, "{0} %s {1}" % symbol, vjp=_no_grad(2),
              sympy=lambda sp, a, b: getattr(sp, sympy_name)(a, b),
              result="bool", infix=symbol, llvm=lambda e, a, b: e.fcmp(fcmp, a, b))


def _cfunction(name):
    def build(sp, *args):
        from sympy.codegen import cfunctions
        return getattr(cfunctions, name)(*args)
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
    Op("erf", 1, "np.float64(math.erf({0}))",  # numpy has no erf; on arrays a helper loops
       lambda args, out, g: (g * (SQRT_PI_INV_2 * (-(args[0] * args[0])).exp()),),
       lambda sp, a: sp.erf(a), llvm=_call("erf"), array_fmt="_erf({0})"),
    # piecewise functions; the derivative at a kink follows PyTorch: relu'(0) = 0, abs'(0) = 0
    Op("abs", 1, "np.abs({0})", lambda args, out, g: _complex.vjp_abs(args, out, g), lambda sp, a: sp.Abs(a),
       llvm=_call("llvm.fabs.f64")),  # (of a complex value too: ``complex_ops``)
    Op("sign", 1, "np.sign({0})", _no_grad(1), lambda sp, a: sp.sign(a), llvm=_llvm_sign, numba_fmt="_sign({0})"),
    Op("relu", 1, "np.maximum({0}, 0.0)", lambda args, out, g: (where(args[0] > 0.0, g, 0.0),),
       lambda sp, a: sp.Max(a, 0), llvm=lambda e, a: _llvm_maximum(e, a, e.const(0.0))),
    # A dedicated op rather than 1/(1+exp(-x)): the branch keeps exp from overflowing.
    Op("sigmoid", 1, "(1.0 / (1.0 + np.exp(-{0})) if {0} >= 0.0 else np.exp({0}) / (1.0 + np.exp({0})))",
       lambda args, out, g: (g * (out * (-args[0]).sigmoid()),), lambda sp, a: 1 / (1 + sp.exp(-a)),
       llvm=_llvm_sigmoid,  # on arrays: exp(x - softplus(x)), no branch and no overflow
       array_fmt="np.exp(np.minimum({0}, 0.0) - np.log1p(np.exp(-np.abs({0}))))"),
    # log(1 + exp(x)) written so that exp never overflows
    Op("softplus", 1, "np.log1p(np.exp(-np.abs({0}))) + np.maximum({0}, 0.0)",
       lambda args, out, g: (g * args[0].sigmoid(),), lambda sp, a: sp.log(1 + sp.exp(a)), llvm=_llvm_softplus),
    Op("maximum", 2, "np.maximum({0}, {1})", _vjp_maximum, lambda sp, a, b: sp.Max(a, b), llvm=_llvm_maximum),
    Op("minimum", 2, "np.minimum({0}, {1})", _vjp_minimum, lambda sp, a, b: sp.Min(a, b), llvm=_llvm_minimum),
    # more of NumPy's ufuncs (log2, log10, exp2, hypot, cbrt: SymPy's C functions)
    Op("log2", 1, "np.log2({0})", lambda args, out, g: (g / (args[0] * LN2),), _cfunction("log2"),
       llvm=_call("llvm.log2.f64")),
    Op("log10", 1, "np.log10({0})", lambda args, out, g: (g / (args[0] * LN10),), _cfunction("log10"),
       llvm=_call("llvm.log10.f64")),
    Op("exp2", 1, "np.exp2({0})", lambda args, out, g: (g * (out * LN2),), _cfunction("exp2"),
       llvm=_call("llvm.exp2.f64")),
    # 1/sqrt(1 + x*x) would overflow to 0 past |x| = 1e154; hypot does not
    Op("asinh", 1, "np.arcsinh({0})", lambda args, out, g: (g / apply("hypot", args[0], 1.0),),
       lambda sp, a: sp.asinh(a), llvm=_call("asinh")),
    # (x - 1)(x + 1) rather than x*x - 1: exact near x = 1, no overflow for large x
    Op("acosh", 1, "np.arccosh({0})",
       lambda args, out, g: (g / ((args[0] - 1.0).sqrt() * (args[0] + 1.0).sqrt()),),
       lambda sp, a: sp.acosh(a), llvm=_call("acosh")),
    Op("atanh", 1, "np.arctanh({0})", lambda args, out, g: (g / ((1.0 - args[0]) * (1.0 + args[0])),),
       lambda sp, a: sp.atanh(a), llvm=_call("atanh")),
    Op("cbrt", 1, "np.cbrt({0})", lambda args, out, g: (g / (3.0 * (out * out)),),
       lambda sp, a: sp.sign(a) * sp.Abs(a) ** sp.Rational(1, 3), llvm=_call("cbrt")),
    Op("hypot", 2, "np.hypot({0}, {1})", _vjp_hypot, _cfunction("hypot"),
       llvm=_call("hypot")),
    Op("logaddexp", 2, "np.logaddexp({0}, {1})", _vjp_logaddexp(1.0),
       lambda sp, a, b: sp.log(sp.exp(a) + sp.exp(b)), llvm=_llvm_logaddexp(False)),
    Op("logaddexp2", 2, "np.logaddexp2({0}, {1})", _vjp_logaddexp(LN2),
       lambda sp, a, b: sp.log(2 ** a + 2 ** b) / sp.log(2), llvm=_llvm_logaddexp(True)),
    # rounding: piecewise constant, derivative 0 (also at the jumps, where none exists)
    Op("floor", 1, "np.floor({0})", _no_grad(1), lambda sp, a: sp.floor(a), llvm=_call("llvm.floor.f64")),
    Op("ceil", 1, "np.ceil({0})", _no_grad(1), lambda sp, a: sp.ceiling(a), llvm=_call("llvm.ceil.f64")),
    Op("rint", 1, "np.rint({0})", _no_grad(1), None, llvm=_call("llvm.rint.f64")),  # ties to even
    # Python's % and // on floats (NumPy's too): the remainder has the sign of the divisor
    Op("mod", 2, "np.remainder({0}, {1})", lambda args, out, g: (g, -(g * _floor_divide(*args))),
       lambda sp, a, b: sp.Mod(a, b), infix="%", llvm=lambda e, a, b: _llvm_divmod(e, a, b)[1]),
    Op("floordiv", 2, "np.floor_divide({0}, {1})", _no_grad(2), lambda sp, a, b: sp.floor(a / b),
       infix="//", llvm=lambda e, a, b: _llvm_divmod(e, a, b)[0], numba_fmt="_floor_divide({0}, {1})"),
    # the identity, with no derivative: numerically stable forms (logsumexp) hold a shift constant
    Op("stop_gradient", 1, "{0}", _no_grad(1), None, llvm=lambda e, a: a),
    # selection and comparisons
    Op("where", 3, "{1} if {0} else {2}",
       lambda args, out, g: (None, where(args[0], g, 0.0), where(args[0], 0.0, g)),
       lambda sp, c, a, b: sp.Piecewise((a, c), (b, True)), _simplify_where,
       llvm=lambda e, c, a, b: e.select(c, a, b), array_fmt="np.where({0}, {1}, {2})"),
    _comparison("lt", "<", "StrictLessThan", "olt"),
    _comparison("le", "<=", "LessThan", "ole"),
    _comparison("gt", ">", "StrictGreaterThan", "ogt"),
    _comparison("ge", ">=", "GreaterThan", "oge"),
    _comparison("eq", "==", "Eq", "oeq"),
    # Boolean logic of conditions (SymPy's And, Or, Xor, Not in a Piecewise or cc.where)
    _logical("logical_and", "{0} and {1}", "np.logical_and({0}, {1})", "And", "and"),
    _logical("logical_or", "{0} or {1}", "np.logical_or({0}, {1})", "Or", "or"),
    _logical("logical_xor", "{0} != {1}", "np.logical_xor({0}, {1})", "Xor", "xor"),
    Op("logical_not", 1, "not {0}", _no_grad(1), lambda sp, a: sp.Not(a),
       lambda a: a.args[0] if a.op == "logical_not" else None,
       result="bool", llvm=_llvm_not, array_fmt="np.logical_not({0})"),
]
#: ops whose operands are conditions (flags), not numbers
LOGICAL_OPS = frozenset({"logical_and", "logical_or", "logical_xor", "logical_not"})


# The ops of complex values (``complex_ops``: conj, real, imag, angle) are scalar ops too.
from . import complex_ops as _complex  # noqa: E402
_OPS += _complex.complex_ops(Op)

# The special functions (``special``: scipy.special's) are scalar ops like the ones above.
from .special import special_ops as _special_ops  # noqa: E402
_OPS += _special_ops(Op)

# The tensor ops (``tensor_ops``) build on ``Op`` and ``where`` above.
from .tensor_ops import (TENSOR_OPS as _TENSOR_OPS, broadcast_to, reduce_sum, reshape, sum_to,  # noqa: E402,F401
                         transpose)

OPS: dict[str, Op] = {}
for _op in _OPS:
    OPS[_op.name] = _op
for _op in _TENSOR_OPS:
    OPS[_op.name] = _op
from .linalg_ops import LINALG_OPS as _LINALG_OPS  # noqa: E402 - linear algebra builds on Op too
for _op in _LINALG_OPS:
    OPS[_op.name] = _op
from .loops import loop_ops as _loop_ops  # noqa: E402 - loops build on Op too
for _op in _loop_ops():
    OPS[_op.name] = _op
from .custom import custom_ops as _custom_ops  # noqa: E402 - custom rules build on Op too
for _op in _custom_ops():
    OPS[_op.name] = _op
from .extern import extern_ops as _extern_ops  # noqa: E402 - and calls of a user's functions
for _op in _extern_ops():
    OPS[_op.name] = _op
for _k, _op in enumerate(OPS.values()):
    object.__setattr__(_op, "code", _k)
assert len(OPS) < 256  # the code takes the low 8 bits of an intern key
#: ops of the scalar targets (llvm, vm, the interpreter): elementwise ops on scalars
SCALAR_OPS = tuple(op.name for op in _OPS)

#: Functions a user can call (``cc.sin``); internal ops (``sign``, ``eq``) are usable too.
FUNCTIONS = ("exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos",
             "atan", "atan2", "log1p", "expm1", "abs", "relu", "sigmoid", "softplus", "erf",
             "maximum", "minimum", "where", "sign", "log2", "log10", "exp2", "cbrt", "asinh", "acosh",
             "atanh", "hypot", "logaddexp", "logaddexp2", "floor", "ceil", "rint", "mod",
             "conj", "real", "imag", "angle",
             "gamma", "gammaln", "digamma", "polygamma", "beta", "poch", "binom", "gammainc", "gammaincc",
             "erfc", "erfinv", "erfcinv", "jv", "yv", "iv", "kv", "expi", "expn", "ellipk", "ellipe", "zetac",
             "legendre", "chebyt", "chebyu", "laguerre", "genlaguerre", "gegenbauer", "lpmv")
