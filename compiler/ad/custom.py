"""The reverse-mode rule of a ``custom`` node: the user's own rule, on the node's operands.

A vjp rule (``custom_vjp``) is its cotangent bodies with the placeholders
replaced by the operands and the incoming adjoint. A jvp rule (``custom_jvp``)
is linear in its tangents, so its transpose is one reverse sweep of the
tangent body with respect to the tangent placeholders (exact, and checked:
a tangent left in the result means the rule was not linear). Either way the
result is ordinary IR in the operands: the reverse pass applied to it again
gives second derivatives through the rule, and forward mode (``ad.forward``,
by transposition) works too.

>>> import compiler as cc
>>> @cc.custom_vjp
... def f(x):
...     return cc.sin(x)
>>> f.defvjp(lambda x: (cc.sin(x), x), lambda x, g: (g * 2.0,))
>>> x = cc.Symbol("x")
>>> cc.compile(f(x), [x], backend="python").grad(0.5)
(2.0,)
"""

from __future__ import annotations

import weakref

from .. import ir
from ..errors import CompilerError
from ..ir import Node
from ..ir.custom import Rule

# jvp rule -> (g placeholder, cotangents), for as long as the rule lives
_transposed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def vjp(node: Node, g: Node) -> list[Node | None]:
    """The contributions of a ``custom`` node to its operands' adjoints, given its adjoint ``g``."""
    rule: Rule = node.params[0]
    if rule.cotangents is not None:
        placeholder, cotangents = rule.g, rule.cotangents
    else:
        placeholder, cotangents = transpose(rule)
    mapping = {p.id: a for p, a in zip(rule.inputs, node.args)}
    mapping[placeholder.id] = g
    if rule.output is not None:  # the rule reads the value itself (an implicit function's solution)
        mapping[rule.output.id] = node
    present = [c for c in cotangents if isinstance(c, Node)]
    values = iter(ir.substitute(present, mapping))
    return [next(values) if isinstance(c, Node) else c for c in cotangents]  # None, or a NoDerivative


def transpose(rule: Rule) -> tuple[Node, tuple]:
    """A jvp rule as a vjp rule: (the cotangent placeholder, one cotangent body per input)."""
    from . import reverse
    if rule not in _transposed:
        g = ir.symbol(f"<{rule.name} cotangent>", rule.primal.shape)
        cotangents = reverse.vjp([rule.tangent_out], [g], list(rule.tangents))
        tangents = {t.id for t in rule.tangents}
        if any(n.id in tangents for n in ir.topo_order(cotangents)):
            raise CompilerError(f"{rule.name}: the jvp rule's tangent output is not linear in the tangents "
                                "(it multiplies tangents together or applies a function to one); a jvp rule "
                                "returns J @ tangents")
        _transposed[rule] = (g, tuple(cotangents))
    return _transposed[rule]
