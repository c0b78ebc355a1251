"""SymPy's special functions (``gamma``, ``besselj``, ...) to and from the op table's special ops.

>>> import sympy as sp, compiler as cc
>>> cc.from_sympy(sp.loggamma(sp.Symbol("x")))
gammaln(x)
"""

from __future__ import annotations

from .. import ir
from ..ir import Node


def special_table(sp) -> dict:
    """SymPy class -> op name of the special functions that are one op each."""
    return {}


def convert_special(sp, e, args: list[Node]) -> Node | None:
    """The IR of special function ``e`` (operands ``args`` converted already), or None."""
    for cls, name in special_table(sp).items():
        if isinstance(e, cls):
            return ir.apply(name, *args)
    return None
