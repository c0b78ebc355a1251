"""SymPy in and out: ``from_sympy`` and ``to_sympy``.

``to_sympy`` uses each op's ``sympy`` entry in the op table. ``from_sympy``
maps SymPy's classes back to ops; SymPy is imported only when used.

>>> import sympy as sp, compiler as cc
>>> x = sp.Symbol("x")
>>> cc.from_sympy(sp.sin(x) ** 2)
sin(x) ** 2.0
"""

from __future__ import annotations

import sys
from typing import Sequence

from .. import ir
from ..errors import UnsupportedError
from ..ir import Node, dtypes
from ..ir.ops import OPS


def to_sympy(expr: Node | Sequence[Node]):
    """The SymPy expression of ``expr`` (a list for a list); symbols keep their names.

    >>> import compiler as cc
    >>> x = cc.Symbol("x")
    >>> cc.to_sympy(cc.exp(x) * x)
    x*exp(x)
    """
    import sympy as sp
    many = isinstance(expr, (list, tuple))
    roots = [ir.as_node(e) for e in (expr if many else [expr])]
    done: dict[int, object] = {}
    for node in ir.topo_order(roots):
        if node.shape or node.op not in ("const", "var") and OPS[node.op].sympy is None:
            what = f"tensor of shape {node.shape}" if node.shape else f"{node.op!r} op"
            raise UnsupportedError(f"to_sympy: a {what} has no SymPy counterpart here "
                                   "(SymPy conversion covers scalar expressions)")
        if node.op == "const":
            v = node.value
            done[node.id] = (sp.true if v else sp.false) if isinstance(v, bool) else _sympy_number(sp, v)  # type: ignore[arg-type]
        elif node.op == "var":
            complex_symbol = node.params == (dtypes.COMPLEX,)
            done[node.id] = _APPLIED.get(node.name) or (  # type: ignore[arg-type]
                sp.Symbol(node.name, complex=True) if complex_symbol else sp.Symbol(node.name))
        else:
            done[node.id] = OPS[node.op].sympy(sp, *(done[a.id] for a in node.args))  # type: ignore[misc]
    result = [done[r.id] for r in roots]
    return result if many else result[0]


def _sympy_number(sp, v: float | complex):
    if isinstance(v, complex):
        return _sympy_number(sp, v.real) + sp.I * _sympy_number(sp, v.imag)
    if v != v:
        return sp.nan
    if v in (float("inf"), float("-inf")):
        return sp.oo if v > 0 else -sp.oo
    if v == int(v) and abs(v) < 2**53:
        return sp.Integer(int(v))
    return sp.Float(v, 17)


#: applied undefined functions (``q0(t)``, ``Derivative(q0(t), t)``) met by ``from_sympy``, by the
#: name of the symbol that stands for them: ``to_sympy`` gives them back
_APPLIED: dict[str, object] = {}
#: terms up to which a finite Sum or Product is unrolled (each term is a copy of its body)
MAX_UNROLLED_TERMS = 10_000


def _function_table(sp):
    """SymPy function class -> op name, for the one-argument and fixed-arity functions."""
    from sympy.codegen import cfunctions
    table = {sp.exp: "exp", sp.log: "log", sp.sin: "sin", sp.cos: "cos", sp.tan: "tan",
             sp.tanh: "tanh", sp.sinh: "sinh", sp.cosh: "cosh", sp.asin: "asin", sp.acos: "acos",
             sp.atan: "atan", sp.atan2: "atan2", sp.Abs: "abs", sp.sign: "sign", sp.erf: "erf",
             cfunctions.log1p: "log1p", cfunctions.expm1: "expm1", cfunctions.log2: "log2",
             cfunctions.log10: "log10", cfunctions.exp2: "exp2", cfunctions.hypot: "hypot",
             sp.asinh: "asinh", sp.acosh: "acosh", sp.atanh: "atanh", sp.floor: "floor",
             sp.ceiling: "ceil", sp.Mod: "mod",
             sp.re: "real", sp.im: "imag", sp.conjugate: "conj", sp.arg: "angle"}
    comparisons = {sp.StrictLessThan: "lt", sp.LessThan: "le", sp.StrictGreaterThan: "gt",
                   sp.GreaterThan: "ge", sp.Equality: "eq"}
    return table, comparisons


def supported_sympy() -> list[str]:
    """Names of the SymPy functions and classes ``from_sympy`` understands."""
    import sympy as sp
    table, comparisons = _function_table(sp)
    names = {c.__name__ for c in table} | {c.__name__ for c in comparisons}
    names |= {"Add", "Mul", "Pow", "sqrt", "Max", "Min", "Piecewise", "Symbol", "Number", "pi", "E",
              "Matrix", "ImmutableMatrix", "Array", "AppliedUndef", "Derivative (of an applied function)",
              "Sum", "Product", "Ne"} | set(_COMPOSED) | set(_LOGIC)
    from .special_sympy import COMPOSED_NAMES, special_table
    names |= {c.__name__ for c in special_table(sp)} | set(COMPOSED_NAMES)
    return sorted(names)


def from_sympy(expr) -> Node:
    """The IR of a SymPy expression. Unsupported functions raise ``UnsupportedError``.

    >>> import sympy as sp, compiler as cc
    >>> cc.from_sympy(sp.Max(sp.Symbol("x"), 0))
    maximum(0.0, x)
    """
    if isinstance(expr, Node):
        return expr
    sympy = sys.modules.get("sympy")  # a SymPy object exists only once SymPy is imported
    if sympy is not None and isinstance(expr, (sympy.MatrixBase, sympy.NDimArray)):
        return _from_array(sympy, expr)
    if sympy is None or not isinstance(expr, sympy.Basic):
        if isinstance(expr, (bool, int, float)) or type(expr).__module__ == "numpy" and hasattr(expr, "dtype"):
            return ir.as_node(expr, "from_sympy's argument")
        # never sympify: it evaluates text (and other objects' reprs) as Python
        raise TypeError(f"from_sympy takes a SymPy expression, got {type(expr).__name__}: {expr!r:.80}"
                        + ("; read text with cc.parse(text)" if isinstance(expr, (str, bytes)) else ""))
    import sympy as sp
    table, comparisons = _function_table(sp)
    numbers = _constant_subtrees(sp, expr)
    # Keyed by id (the tree holds every object): SymPy's hash and its predicates (is_number,
    # free_symbols) recurse down the tree, and a tree built with evaluate=False may be
    # thousands deep.
    done: dict[int, Node] = {}
    stack = [(expr, False)]
    while stack:  # iterative post-order over the SymPy tree
        e, ready = stack.pop()
        if id(e) in done:
            continue
        children = _children(sp, e, numbers)
        if not ready:
            stack.append((e, True))
            stack.extend((a, False) for a in children if id(a) not in done)
            continue
        done[id(e)] = _convert(sp, e, [done[id(a)] for a in children], table, comparisons, numbers)
    return done[id(expr)]


# A constant subtree at most this deep is evaluated by SymPy (exactly, then rounded once);
# deeper ones are built and folded op by op, since SymPy's evaluation recurses.
_EXACT_DEPTH = 40


def _constant_subtrees(sp, expr) -> set[int]:
    """The ids of the subtrees of ``expr`` that hold no symbol (numbers, ``pi``, ``sqrt(2) + 1``)
    and are shallow enough to be evaluated by SymPy: SymPy's ``is_number``, computed without
    recursion."""
    from sympy.core.function import AppliedUndef
    leaves = (sp.Number, sp.NumberSymbol, sp.core.numbers.ImaginaryUnit)
    depth: dict[int, int] = {}  # id -> height, for constant subtrees only
    seen: set[int] = set()
    stack = [(expr, False)]
    while stack:
        e, ready = stack.pop()
        if id(e) in seen:
            continue
        if isinstance(e, leaves):
            depth[id(e)] = 0
            seen.add(id(e))
        elif not ready:
            stack.append((e, True))
            stack.extend((a, False) for a in e.args if id(a) not in seen)
        else:
            seen.add(id(e))
            constant = (isinstance(e, sp.Expr) and e.args and not isinstance(e, (sp.Symbol, AppliedUndef))
                        and all(id(a) in depth for a in e.args))
            if constant:
                depth[id(e)] = 1 + max(depth[id(a)] for a in e.args)
    return {k for k, d in depth.items() if d <= _EXACT_DEPTH}


def _from_array(sp, m) -> Node:
    """A SymPy Matrix or Array as a tensor expression of its shape."""
    from .arrays import asarray
    if m.shape == ():
        return from_sympy(m[()])
    if 0 in m.shape:
        raise UnsupportedError(f"a SymPy {type(m).__name__} of shape {m.shape} has no elements")
    def convert(item):
        return [convert(i) for i in item] if isinstance(item, list) else from_sympy(item)
    return asarray(convert(m.tolist()))


def _is_applied(sp, e) -> bool:
    """``f(t)`` of an undefined ``f`` (``dynamicsymbols``), or its derivative ``Derivative(f(t), t)``."""
    from sympy.core.function import AppliedUndef
    if isinstance(e, sp.Derivative):
        return isinstance(e.expr, AppliedUndef)
    return isinstance(e, AppliedUndef)


def _children(sp, e, numbers: set[int]):
    if isinstance(e, sp.Piecewise):
        return [x for pair in e.args for x in pair]
    if isinstance(e, (sp.Symbol, sp.Number, sp.NumberSymbol)) or e is sp.true or e is sp.false or id(e) in numbers:
        return []
    if isinstance(e, (sp.Sum, sp.Product, sp.Derivative)) or any(isinstance(a, sp.Tuple) for a in e.args):
        return []  # converted whole (or refused by their own name, not by their limits' Tuple)
    from sympy.core.function import AppliedUndef
    if isinstance(e, AppliedUndef):
        return []
    return list(e.args)


def _convert(sp, e, args, table, comparisons, numbers: set[int]) -> Node:
    if isinstance(e, sp.Symbol):
        # a symbol declared complex (sp.Symbol("z", complex=True)) is a complex128 input
        complex_symbol = e.is_complex is True and e.is_extended_real is not True
        return ir.symbol(e.name, dtype=dtypes.COMPLEX if complex_symbol else dtypes.DEFAULT)
    if _is_applied(sp, e):  # an input that is a function of time: a symbol named as SymPy prints it
        name = str(e)
        _APPLIED[name] = e
        return ir.symbol(name)
    if isinstance(e, (sp.Sum, sp.Product)):
        return _unrolled(sp, e)
    if e is sp.true or e is sp.false:
        return ir.constant(bool(e))
    if id(e) in numbers:  # numbers and constant expressions (pi, sqrt(2), E + 1)
        if e.is_extended_real is False:  # I, 2 + 3*I, exp(I*pi/4): a complex constant
            value = complex(e)
            return ir.constant(value.real if value.imag == 0.0 else value)
        return ir.constant(float(e))
    if isinstance(e, sp.Add):
        return _chain("add", args)
    if isinstance(e, sp.Mul):
        return _chain("mul", args)
    if isinstance(e, sp.Pow):
        base, exponent = args
        if exponent.op == "const" and exponent.value == 0.5:
            return ir.apply("sqrt", base)
        if exponent.op == "const" and exponent.value == -1.0:
            return ir.apply("div", 1.0, base)
        if exponent.op == "const" and exponent.value == -0.5:
            return ir.apply("div", 1.0, ir.apply("sqrt", base))
        return ir.apply("pow", base, exponent)
    if isinstance(e, (sp.Max, sp.Min)):
        return _chain("maximum" if isinstance(e, sp.Max) else "minimum", args)
    if isinstance(e, sp.Piecewise):
        pairs = list(zip(args[0::2], args[1::2]))
        last_value, last_cond = pairs[-1]
        if not (last_cond.op == "const" and last_cond.value is True):
            raise UnsupportedError(f"Piecewise without a final (value, True) branch: {e}; "
                                   "every point needs a value")
        result = last_value
        for value, cond in reversed(pairs[:-1]):
            result = ir.apply("where", cond, value, result)
        return result
    for cls, name in comparisons.items():
        if isinstance(e, cls):
            return ir.apply(name, *args)
    if isinstance(e, sp.Unequality):
        return ir.apply("logical_not", ir.apply("eq", *args))
    for cls_name, build in _LOGIC.items():
        if isinstance(e, getattr(sp, cls_name)):
            return build(args)
    for cls_name, build in _COMPOSED.items():  # type: ignore[assignment]
        if isinstance(e, getattr(sp, cls_name)):
            return build(*args)
    from .special_sympy import convert_special
    special = convert_special(sp, e, args)
    if special is not None:
        return special
    for cls, name in table.items():
        if isinstance(e, cls):
            if len(args) != OPS[name].arity:
                raise UnsupportedError(f"SymPy {cls.__name__} with {len(args)} arguments is not supported")
            return ir.apply(name, *args)
    raise UnsupportedError(
        f"SymPy function {type(e).__name__} (in {str(e)[:80]}) is not supported; supported: "
        + ", ".join(supported_sympy()))


def _chain(op_name: str, args: list[Node]) -> Node:
    result = args[0]
    for a in args[1:]:
        result = ir.apply(op_name, result, a)
    return result


def _unrolled(sp, e) -> Node:
    """A finite ``Sum``/``Product`` with integer limits, unrolled term by term (SymPy's Karr
    convention for an upper limit below the lower: ``Sum(f, (k, a, b)) = -Sum(f, (k, b+1, a-1))``)."""
    is_sum = isinstance(e, sp.Sum)
    what = type(e).__name__
    body, limits = e.function, list(e.limits)
    k, lo, hi = limits[-1]  # the outermost limit is the last; inner limits may depend on k
    rest = type(e)(body, *limits[:-1]) if len(limits) > 1 else body
    if not (lo.is_Integer and hi.is_Integer):
        raise UnsupportedError(f"SymPy {what} with limits ({k}, {lo}, {hi}) in {str(e)[:80]}: only finite sums "
                               "and products with integer limits are supported (they are unrolled)")
    lo, hi = int(lo), int(hi)
    inverted = hi < lo - 1
    if inverted:
        lo, hi = hi + 1, lo - 1
    if hi - lo + 1 > MAX_UNROLLED_TERMS:
        raise UnsupportedError(f"SymPy {what} over {hi - lo + 1} terms in {str(e)[:80]}: at most "
                               f"{MAX_UNROLLED_TERMS} are unrolled; write it with cc.fori_loop or a tensor sum")
    terms = [from_sympy(rest.subs(k, i)) for i in range(lo, hi + 1)]
    if not terms:
        return ir.constant(0.0 if is_sum else 1.0)
    result = _chain("add" if is_sum else "mul", terms)
    if inverted:
        result = ir.apply("neg", result) if is_sum else ir.apply("div", 1.0, result)
    return result


def _heaviside(x: Node, h0: Node) -> Node:
    """SymPy's Heaviside(x, H0): 1 above 0, 0 below, H0 at 0, nan at nan (as np.heaviside)."""
    return ir.apply("where", ir.apply("gt", x, 0.0), 1.0,
                    ir.apply("where", ir.apply("lt", x, 0.0), 0.0, ir.apply("where", ir.apply("eq", x, 0.0), h0, x)))


def _sinc(x: Node) -> Node:
    """SymPy's (unnormalized) sinc: sin(x)/x, 1 at 0 (where x is 1 in the unused branch, so
    that its derivative, 0 * (...), is not 0/0 = nan)."""
    zero = ir.apply("eq", x, 0.0)
    safe = ir.apply("where", zero, 1.0, x)
    return ir.apply("where", zero, 1.0, ir.apply("div", ir.apply("sin", safe), safe))


def _inv(x: Node) -> Node:
    return ir.apply("div", 1.0, x)


# SymPy functions written with the op table's (exact compositions; 1/f(x) is within an ulp or two of a
# dedicated function, and its derivative comes from the chain rule)
_COMPOSED = {
    "sec": lambda x: _inv(ir.apply("cos", x)), "csc": lambda x: _inv(ir.apply("sin", x)),
    "cot": lambda x: _inv(ir.apply("tan", x)), "sech": lambda x: _inv(ir.apply("cosh", x)),
    "csch": lambda x: _inv(ir.apply("sinh", x)), "coth": lambda x: _inv(ir.apply("tanh", x)),
    "acot": lambda x: ir.apply("atan", _inv(x)), "acoth": lambda x: ir.apply("atanh", _inv(x)),
    "asec": lambda x: ir.apply("acos", _inv(x)), "acsc": lambda x: ir.apply("asin", _inv(x)),
    "asech": lambda x: ir.apply("acosh", _inv(x)), "acsch": lambda x: ir.apply("asinh", _inv(x)),
    "sinc": _sinc, "Heaviside": lambda x, h0=None: _heaviside(x, 0.5 if h0 is None else h0),  # type: ignore[arg-type]
    "KroneckerDelta": lambda i, j: ir.apply("where", ir.apply("eq", i, j), 1.0, 0.0),
}


def _not(c: Node) -> Node:
    return ir.apply("logical_not", c)


_LOGIC = {
    "And": lambda args: _chain("logical_and", args),
    "Or": lambda args: _chain("logical_or", args),
    "Xor": lambda args: _chain("logical_xor", args),
    "Not": lambda args: _not(args[0]),
    "Nand": lambda args: _not(_chain("logical_and", args)),
    "Nor": lambda args: _not(_chain("logical_or", args)),
    "Implies": lambda args: ir.apply("logical_or", _not(args[0]), args[1]),
    "Equivalent": lambda args: _not(_chain("logical_xor", args)) if len(args) == 2 else
    _chain("logical_and", [_not(ir.apply("logical_xor", args[0], a)) for a in args[1:]]),
    "ITE": lambda args: ir.apply("logical_or", ir.apply("logical_and", args[0], args[1]),
                                 ir.apply("logical_and", _not(args[0]), args[2])),
}
