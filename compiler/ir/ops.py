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
``Value`` API is built from ``fmt`` itself (see ``evaluate``), so folding,
eager evaluation and generated code share one definition of every op.

Adding an op is adding one entry to ``OPS``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from . import shapes
from .node import apply, constant

SQRT_PI_INV_2 = 2.0 / math.sqrt(math.pi)  # d/dx erf(x) = 2/sqrt(pi) * exp(-x^2)


def _is_const(node, value) -> bool:
    return node.op == "const" and not node.shape and node.value == value and not isinstance(node.value, bool)


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
    Op("erf", 1, "np.float64(math.erf({0}))",  # numpy has no erf; on arrays a helper loops
       lambda args, out, g: (g * (SQRT_PI_INV_2 * (-(args[0] * args[0])).exp()),),
       lambda sp, a: sp.erf(a), llvm=_call("erf"), array_fmt="_erf({0})"),
    # piecewise functions; the derivative at a kink follows PyTorch: relu'(0) = 0, abs'(0) = 0
    Op("abs", 1, "np.abs({0})", lambda args, out, g: (g * apply("sign", args[0]),),
       lambda sp, a: sp.Abs(a), llvm=_call("llvm.fabs.f64")),
    Op("sign", 1, "np.sign({0})", _no_grad(1), lambda sp, a: sp.sign(a), llvm=_llvm_sign),
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
]


# --- tensor ops: the shape changes, static params (``Node.params``) say how ---
#
# Each entry: its shape rule (a ShapeError at build time), its NumPy
# implementation (constant folding, eager Values) and its derivative rule as IR.
# The code generator spells them (``codegen``: one printer method per op).

def reshape(x, shape: tuple):
    return apply("reshape", x, params=(tuple(shape),)) if tuple(shape) != x.shape else x


def broadcast_to(x, shape: tuple):
    return apply("broadcast_to", x, params=(tuple(shape),)) if tuple(shape) != x.shape else x


def transpose(x, perm: tuple):
    return apply("transpose", x, params=(tuple(perm),)) if tuple(perm) != tuple(range(len(perm))) else x


def reduce_sum(x, axes: tuple, keepdims: bool = False):
    return apply("sum", x, params=(tuple(axes), bool(keepdims))) if axes else x


def sum_to(x, shape: tuple):
    """``x`` summed over the axes along which ``shape`` was broadcast to ``x.shape`` (adjoints of broadcasts)."""
    if x.shape == shape:
        return x
    lead = len(x.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + k for k, d in enumerate(shape) if d == 1 and x.shape[lead + k] != 1)
    return reshape(apply("sum", x, params=(axes, True)) if axes else x, shape)


def _keepdims_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if k in axes else d for k, d in enumerate(shape))


def _vjp_sum(args, out, g):
    (x,), (axes, _) = args, out.params
    return (broadcast_to(reshape(g, _keepdims_shape(x.shape, axes)), x.shape),)


def _vjp_extremum(args, out, g):
    # the adjoint is shared equally by the elements that reach the extremum (as for maximum)
    (x,), (axes, _) = args, out.params
    keep = _keepdims_shape(x.shape, axes)
    hit = apply("eq", x, reshape(out, keep))
    count = apply("sum", where(hit, 1.0, 0.0), params=(axes, True))
    return (where(hit, reshape(g, keep) / count, 0.0),)


def _vjp_transpose(args, out, g):
    perm = out.params[0]
    inverse = tuple(sorted(range(len(perm)), key=perm.__getitem__))
    return (transpose(g, inverse),)


def _swap_last(x):
    perm = tuple(range(len(x.shape) - 2)) + (len(x.shape) - 1, len(x.shape) - 2)
    return transpose(x, perm)


def _vjp_matmul(args, out, g):
    a, b = args
    # promote 1-D operands as matmul does, use the 2-D rule, then undo the promotion
    a2 = reshape(a, (1,) + a.shape) if len(a.shape) == 1 else a
    b2 = reshape(b, b.shape + (1,)) if len(b.shape) == 1 else b
    g2 = reshape(g, shapes.matmul_shape(a2.shape, b2.shape))
    da = sum_to(apply("matmul", g2, _swap_last(b2)), a2.shape)
    db = sum_to(apply("matmul", _swap_last(a2), g2), b2.shape)
    return (reshape(da, a.shape), reshape(db, b.shape))


def _vjp_concatenate(args, out, g):
    axis, = out.params
    parts, start = [], 0
    for a in args:
        size = a.shape[axis]
        index = tuple(("slice", start, start + size, 1) if k == axis else ("slice", 0, d, 1)
                      for k, d in enumerate(g.shape))
        parts.append(apply("getitem", g, params=(index,)))
        start += size
    return tuple(parts)


def _python_index(index: tuple) -> tuple:
    """A normalized index (``shapes.normalize_index``) as the tuple NumPy takes."""
    return tuple(None if it[0] == "new" else it[1] if it[0] == "int" else _python_slice(*it[1:]) for it in index)


def _python_slice(start: int, stop: int, step: int) -> slice:
    """A resolved slice (``slice.indices``) as a slice again: a reversed range that runs past
    index 0 resolves to stop -1, which Python would read as the last element."""
    return slice(start, None if step < 0 and stop < 0 else stop, step)


def _index_put(g, index, shape):
    out = np.zeros(shape, dtype=np.float64)
    out[_python_index(index)] = g
    return out


def _take(x, axis, indices, index_shape):
    return np.take(x, np.array(indices, dtype=np.int64).reshape(index_shape), axis=axis)


def _scatter_add(g, axis, indices, index_shape, shape):
    out = np.zeros(shape, dtype=np.float64)
    idx = np.array(indices, dtype=np.int64).reshape(index_shape)
    np.add.at(out, (slice(None),) * axis + (idx,), g)
    return out


def _tensor_op(name, arity, params, shape_rule, impl, vjp, result="float", simplify=None):
    return Op(name, arity, "", vjp, params=params, shape_rule=shape_rule, impl=impl, result=result,
              simplify=simplify)


def _no_axes(x, params):  # a reduction over no axes is the identity
    axes, keepdims = params
    return x if not axes else None


def _simplify_reshape(x, params):
    if x.op == "reshape":  # reshape of a reshape: one reshape
        return reshape(x.args[0], params[0])
    return None


def _simplify_transpose(x, params):
    if x.op == "transpose":  # transposes compose
        inner = x.args[0]
        perm = tuple(x.params[0][p] for p in params[0])
        return transpose(inner, perm)
    return None


_TENSOR_OPS = [
    _tensor_op("sum", 1, ("axes", "keepdims"),
               lambda s, p: shapes.reduce_shape(s[0], p[0], p[1]),
               lambda x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims), _vjp_sum, simplify=_no_axes),
    _tensor_op("amax", 1, ("axes", "keepdims"),
               lambda s, p: shapes.reduce_shape(s[0], p[0], p[1]),
               lambda x, axes, keepdims: np.max(x, axis=axes, keepdims=keepdims), _vjp_extremum,
               simplify=_no_axes),
    _tensor_op("amin", 1, ("axes", "keepdims"),
               lambda s, p: shapes.reduce_shape(s[0], p[0], p[1]),
               lambda x, axes, keepdims: np.min(x, axis=axes, keepdims=keepdims), _vjp_extremum,
               simplify=_no_axes),
    _tensor_op("reshape", 1, ("shape",), lambda s, p: shapes.reshape_shape(s[0], p[0]),
               lambda x, shape: np.reshape(x, shape), lambda args, out, g: (reshape(g, args[0].shape),),
               simplify=_simplify_reshape),
    _tensor_op("transpose", 1, ("perm",), lambda s, p: shapes.transpose_shape(s[0], p[0]),
               lambda x, perm: np.transpose(x, perm), _vjp_transpose, simplify=_simplify_transpose),
    # its adjoint is g itself: the reverse pass sums every adjoint back to its operand's shape
    _tensor_op("broadcast_to", 1, ("shape",), lambda s, p: shapes.broadcast_to_shape(s[0], p[0]),
               lambda x, shape: np.broadcast_to(x, shape).copy(), lambda args, out, g: (g,)),
    _tensor_op("matmul", 2, None, lambda s, p: shapes.matmul_shape(s[0], s[1]),
               lambda a, b: np.matmul(a, b), _vjp_matmul),
    _tensor_op("concatenate", -1, ("axis",), lambda s, p: shapes.concatenate_shape(s, p[0]),
               lambda *xs, axis: np.concatenate(xs, axis=axis), _vjp_concatenate),
    _tensor_op("getitem", 1, ("index",), lambda s, p: shapes.index_shape(s[0], p[0]),
               lambda x, index: x[_python_index(index)],
               lambda args, out, g: (apply("index_put", g, params=(out.params[0], args[0].shape)),)),
    # zeros of ``shape`` with g written at ``index``: the adjoint of getitem
    _tensor_op("index_put", 1, ("index", "shape"), lambda s, p: p[1], _index_put,
               lambda args, out, g: (apply("getitem", g, params=(out.params[0],)),)),
    _tensor_op("take", 1, ("axis", "indices", "index_shape"),
               lambda s, p: shapes.take_shape(s[0], p[0], p[2]), _take,
               lambda args, out, g: (apply("scatter_add", g, params=out.params + (args[0].shape,)),)),
    # zeros of ``shape`` with g added at ``indices`` along ``axis``: the adjoint of take
    _tensor_op("scatter_add", 1, ("axis", "indices", "index_shape", "shape"), lambda s, p: p[3], _scatter_add,
               lambda args, out, g: (apply("take", g, params=out.params[:3]),)),
]


OPS: dict[str, Op] = {}
for _op in _OPS:
    OPS[_op.name] = _op
for _op in _TENSOR_OPS:
    OPS[_op.name] = _op
for _k, _op in enumerate(OPS.values()):
    object.__setattr__(_op, "code", _k)
assert len(OPS) < 256  # the code takes the low 8 bits of an intern key
#: ops of the scalar targets (llvm, vm, the interpreter): elementwise ops on scalars
SCALAR_OPS = tuple(op.name for op in _OPS)

#: Functions a user can call (``cc.sin``); internal ops (``sign``, ``eq``) are usable too.
FUNCTIONS = ("exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos",
             "atan", "atan2", "log1p", "expm1", "abs", "relu", "sigmoid", "softplus", "erf",
             "maximum", "minimum", "where", "sign")
