"""``compile()``'s arguments checked: the expressions, the inputs and ``wrt``.

>>> import compiler as cc
>>> _as_symbols(cc.symbols("x y"), "inputs")
[x, y]
"""

from __future__ import annotations

import sys

from ..frontend.dispatch import as_expr
from ..ir import Node


def _as_outputs(expr) -> tuple[list[Node], bool]:
    if isinstance(expr, (list, tuple)):
        if not expr:
            raise ValueError("compile() got an empty list of expressions")
        items, many = list(expr), True
    else:
        items, many = [expr], False
    nodes = [as_expr(e, f"expression {i}") for i, e in enumerate(items)]
    for i, n in enumerate(nodes):
        if n.dtype != "float":
            raise TypeError(f"expression {i} is a comparison ({n!r}); compile a number, "
                            "for example cc.where(condition, 1.0, 0.0)")
    return nodes, many


def _as_symbols(seq, what: str) -> list[Node]:
    if isinstance(seq, (Node, str)) or not hasattr(seq, "__iter__"):
        raise TypeError(f"{what} must be a list of symbols, got {type(seq).__name__}: {seq!r:.80}"
                        + (" (make symbols with cc.symbols(...))" if isinstance(seq, str) else ""))
    nodes = []
    for i, s in enumerate(seq):
        node = as_expr(s, f"{what}[{i}]") if not isinstance(s, (int, float, str)) else None
        if node is None or node.op != "var":
            hint = (f"; names are not symbols: make them with cc.symbols({s!r}) and pass those"
                    if isinstance(s, str) else "")
            raise TypeError(f"{what}[{i}] must be a symbol (cc.Symbol, cc.Tensor or sympy.Symbol), "
                            f"got {s!r:.80}{hint}")
        nodes.append(node)
    seen = set()
    for i, n in enumerate(nodes):
        if n.id in seen:
            raise ValueError(f"{what}[{i}] {n.name!r} is listed twice")
        seen.add(n.id)
    return nodes


def _is_one_symbol(x) -> bool:
    """Whether ``wrt`` names one input (a symbol, not a list of them)."""
    if isinstance(x, Node):
        return True
    sympy = sys.modules.get("sympy")
    if sympy is None:
        return False
    from sympy.core.function import AppliedUndef  # q0(t), Derivative(q0(t), t): inputs too
    return isinstance(x, (sympy.Symbol, AppliedUndef)) or isinstance(x, sympy.Derivative) and \
        isinstance(x.expr, AppliedUndef)
