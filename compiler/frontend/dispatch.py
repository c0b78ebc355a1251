"""Where the front-end's functions meet operands that are not IR nodes.

``call(op, *args)`` builds ``ir.apply(op, *args)``; two kinds of operand
take another way:

* an *eager* type registered here (the ``cc.Value`` API registers itself
  when ``compiler.value`` is imported): the op is computed at once by that
  type's ``apply`` instead of being built as IR. The front-end never imports
  such a type; it only looks its ``type()`` up in this table.
* a SymPy expression: converted to IR first (``sympy_bridge.from_sympy``),
  so ``cc.sin(sympy.Symbol("x"))`` is ``cc.sin(cc.Symbol("x"))``.

>>> import compiler as cc
>>> x = cc.Symbol("x")
>>> call("mul", x, 2.0) is x * 2.0
True
"""

from __future__ import annotations

import sys
from typing import Any, Callable, NamedTuple

from .. import ir
from ..ir import Node


class Eager(NamedTuple):
    """How an eager type computes ops: ``apply(op_name, *args, params=None)`` returns an
    instance; ``lift(x)`` makes one of a number or an array (the operands of a join)."""
    apply: Callable[..., Any]
    lift: Callable[[Any], Any]


EAGER: dict[type, Eager] = {}


def register_eager(cls: type, apply: Callable[..., Any], lift: Callable[[Any], Any]) -> None:
    """Compute every front-end function eagerly when an operand is a ``cls``."""
    EAGER[cls] = Eager(apply, lift)


def eager_of(args) -> Eager | None:
    """The eager rules of the first eager operand in ``args``, or None."""
    for a in args:
        rules = EAGER.get(type(a))
        if rules is not None:
            return rules
    return None


def call(op_name: str, *args, params: tuple | None = None):
    """``op_name`` applied to ``args``: an IR node, or an eager result (see the module docstring)."""
    if EAGER:
        rules = eager_of(args)
        if rules is not None:
            return rules.apply(op_name, *args, params=params)
    for a in args:
        if type(a) is not Node and type(a) is not float and _foreign(a):
            args = tuple(as_expr(b, f"operand {i + 1} of {op_name}") for i, b in enumerate(args))
            break
    return ir.apply(op_name, *args, params=params)


def operand(x, what: str):
    """``x`` as an IR node (numbers, arrays and SymPy expressions are converted), or ``x``
    itself when it is of an eager type."""
    if type(x) in EAGER:
        return x
    return as_expr(x, what)


def as_expr(x, what: str = "operand") -> Node:
    """``x`` as an IR node: nodes, numbers, NumPy arrays and SymPy expressions; else a TypeError."""
    if type(x) is Node:
        return x
    if _foreign(x):
        from .sympy_bridge import from_sympy
        return from_sympy(x)
    return ir.as_node(x, what)


def _foreign(x) -> bool:
    """Whether ``x`` is a SymPy expression, Matrix or Array (SymPy is not imported to find out)."""
    sympy = sys.modules.get("sympy")
    return sympy is not None and isinstance(x, (sympy.Basic, sympy.MatrixBase, sympy.NDimArray))
