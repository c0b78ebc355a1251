"""Functions with a derivative rule of their own: one ``custom`` node holding closed bodies.

A ``custom`` node stands for ``f(x_1, ..., x_n)`` where ``f`` was traced once on
placeholder symbols (its ``Rule``): the primal body (``primal``, an expression
in the placeholders ``inputs``) and a derivative rule, either

* a vector-Jacobian product (``custom_vjp``): ``cotangents[i]``, an expression in
  ``inputs``, the cotangent placeholder ``g`` and, where given, the placeholder
  ``output`` of the function's own value (None: no gradient), or
* a Jacobian-vector product (``custom_jvp``): ``tangent_out``, an expression in
  ``inputs`` and the tangent placeholders ``tangents``, linear in the tangents
  (``ad.custom`` transposes it into a vjp).

The node's operands are the arguments; the bodies depend on nothing outside
(they are in its params, as a loop's body is), so two calls on the same
arguments are one node. The reverse pass uses the rule (``ad.custom``); the
code generators never see the node: ``lower`` inlines the primal body first.

>>> from compiler import ir
>>> x, g = ir.symbol("<x>"), ir.symbol("<g>")
>>> rule = Rule("twice", (x,), x * 2.0, g=g, cotangents=(g * 3.0,))
>>> node = custom(rule, [ir.symbol("a")])
>>> node, lower([node])[0]
(twice(a), a * 2.0)
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Sequence

from ..errors import ShapeError
from .node import Node, apply


@dataclass(frozen=True, eq=False)
class Rule:
    """A custom function traced on placeholders: its primal body and its derivative rule."""
    name: str
    inputs: tuple                    # placeholders of the arguments
    primal: Node                     # the value, in terms of ``inputs``
    g: Node | None = None            # vjp rule: the cotangent placeholder (the primal's shape)
    cotangents: tuple | None = None  # vjp rule: per input, in terms of inputs and g (None: no gradient;
    #                                  a ``special.NoDerivative``: an error where a derivative flows)
    tangents: tuple | None = None    # jvp rule: tangent placeholders (the inputs' shapes)
    tangent_out: Node | None = None  # jvp rule: in terms of inputs and tangents, linear in tangents
    output: Node | None = None       # vjp rule: a placeholder of the node's own value, which it may read
    failure: Node | None = None      # a 1-D body in ``inputs`` whose entry 0 is a failure code (0: none),
    #                                  evaluated after a one-point call that gave nan (``runtime.failures``)
    failure_text: tuple = ()         # per code: what failed, a format string of the body's entries ({1})

    def __post_init__(self):
        if (self.cotangents is None) == (self.tangent_out is None):
            raise ValueError("a custom rule is a vjp rule (g, cotangents) or a jvp rule (tangents, tangent_out)")
        if self.cotangents is not None:
            for k, (x, c) in enumerate(zip(self.inputs, self.cotangents)):
                if isinstance(c, Node) and c.shape != x.shape:
                    raise ShapeError(f"{self.name}: the backward rule returns a cotangent of shape {c.shape} "
                                     f"for argument {k}, which has shape {x.shape}")
        elif self.tangent_out.shape != self.primal.shape:
            raise ShapeError(f"{self.name}: the jvp rule returns a tangent of shape {self.tangent_out.shape}; "
                             f"the function's value has shape {self.primal.shape}")

    @property
    def nodes(self) -> tuple:
        """Every placeholder and output of the bodies (for keys and walks)."""
        extra = (self.g, *(c for c in self.cotangents if isinstance(c, Node))) if self.cotangents is not None \
            else (*self.tangents, self.tangent_out)
        own = (self.output,) if self.output is not None else ()
        return (*self.inputs, self.primal, *extra, *own)

    def _key(self) -> tuple:
        layout = tuple(c is None for c in self.cotangents) if self.cotangents is not None else "jvp"
        return (self.name, tuple(n.id for n in self.nodes), layout, self.output is not None)

    def __eq__(self, other):
        return isinstance(other, Rule) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self) -> str:  # structural, the same in every process: part of the node's skey
        h = zlib.crc32(self.name.encode("utf-8", "surrogatepass"))
        for n in self.nodes:
            h = zlib.crc32(n.skey.to_bytes(8, "little"), h)
        return f"Rule({self.name}, {'vjp' if self.cotangents is not None else 'jvp'}, structure={h:08x})"


def custom(rule: Rule, args: Sequence[Node]) -> Node:
    """The ``custom`` node of ``rule`` on ``args`` (checked against its placeholders)."""
    args = list(args)
    if len(args) != len(rule.inputs):
        raise TypeError(f"{rule.name} takes {len(rule.inputs)} argument(s), got {len(args)}")
    for k, (a, p) in enumerate(zip(args, rule.inputs)):
        if a.shape != p.shape or a.dtype != "float":
            raise ShapeError(f"{rule.name}: argument {k} was traced with shape {p.shape}, got shape {a.shape}"
                             f"{'' if a.dtype == 'float' else ' of ' + a.dtype}")
    return apply("custom", *args, params=(rule,))


def inline(rule: Rule, args: Sequence[Node]) -> Node:
    """The primal body of ``rule`` on ``args`` (itself possibly holding custom nodes)."""
    from .graph import substitute
    return substitute([rule.primal], {p.id: a for p, a in zip(rule.inputs, args)})[0]


def lower(outputs: Sequence[Node], origins: dict | None = None) -> list[Node]:
    """``outputs`` with every ``custom`` node replaced by its primal body, loop bodies included:
    what the code generators print (the rule only matters to the derivative passes). With
    ``origins``, it receives ``{id of the inlined value: the custom call it computes}``."""
    if not _built:
        return list(outputs)
    from . import loops
    from .graph import topo_order
    order = topo_order(outputs)
    if not any(n.op in ("custom", "scan") for n in order):
        return list(outputs)
    new: dict[int, Node] = {}
    for n in order:
        args = [new[a.id] for a in n.args]
        if n.op == "custom":
            new[n.id] = lower([inline(n.params[0], args)], origins)[0]
            if origins is not None and new[n.id].op not in ("const", "var"):
                origins.setdefault(new[n.id].id, n)
        elif n.op == "scan":
            body = n.params[0]
            hint = (body.until,) if body.until is not None else ()
            outs = lower(body.outputs + hint, origins)
            if any(a is not b for a, b in zip(outs, body.outputs + hint)):
                nc, ny = len(body.carries), len(body.ys)
                body = loops.Body(body.carries, body.xs, body.params, tuple(outs[:nc]), tuple(outs[nc:nc + ny]),
                                  body.index, outs[-1] if hint else None)
            new[n.id] = apply("scan", *args, params=(body,) + n.params[1:])
        elif all(a is b for a, b in zip(args, n.args)):
            new[n.id] = n
        else:
            new[n.id] = apply(n.op, *args, params=n.params)
    return [new[o.id] for o in outputs]


def _shape(shapes, params):
    return params[0].primal.shape


# Whether any custom node was built in this process (``apply`` asks ``_fold`` of each one):
# until then, lowering a graph has nothing to do and skips its walk (a second on 10^5 nodes).
_built = False


def _fold(*args, params):
    """All operands constant: the value is the primal body's, folded."""
    global _built
    _built = True
    return inline(params[0], args) if all(a.op == "const" for a in args) else None


def _no_rule(*_):
    raise AssertionError("the AD passes handle custom rules themselves (ad.custom)")


def custom_ops():
    """The table entry of ``custom`` (``ops.OPS``)."""
    from .ops import Op
    return [Op("custom", -1, "", _no_rule, params=("rule",), shape_rule=_shape, simplify=_fold)]


def lower_derivatives(outputs: list, jac: list | None, notes: dict) -> tuple[list, list | None]:
    """Outputs and Jacobian (rows of nodes, or None) lowered together (the same lists when nothing
    changes); ``notes`` receives ``{node id: comment}`` naming each inlined custom function."""
    from .graph import short_str
    flat = [g for row in jac for g in row] if jac is not None else []
    origins: dict = {}
    lowered = lower(outputs + flat, origins)
    notes.update({k: f"{short_str(n)}: the value of custom function {n.params[0].name} (the gradient uses its "
                     "rule)" for k, n in origins.items()})
    if all(a is b for a, b in zip(lowered, outputs + flat)):
        return outputs, jac
    outs, rest = lowered[:len(outputs)], lowered[len(outputs):]
    k = len(jac[0]) if jac else 0
    return outs, ([rest[i * k:(i + 1) * k] for i in range(len(jac))] if jac is not None else None)
