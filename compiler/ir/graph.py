"""Graph walks over the IR (all iterative), listings, and serialization by structure.

>>> import compiler as cc
>>> x = cc.Symbol("x")
>>> [n.op for n in topo_order([cc.sin(x) * x])]
['var', 'sin', 'mul']
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence, overload

from . import ops as _ops
from .node import Node, apply, constant, symbol


@overload
def topo_order(roots: Iterable[Node], limit: None = None, exclude: set[int] | dict | None = None) -> list[Node]: ...
@overload
def topo_order(roots: Iterable[Node], limit: int, exclude: set[int] | dict | None = None) -> list[Node] | None: ...
def topo_order(roots: Iterable[Node], limit: int | None = None,
               exclude: set[int] | dict | None = None) -> list[Node] | None:
    """All nodes reachable from ``roots``, each after its operands.

    With ``limit``, returns None as soon as more than ``limit`` nodes are found.
    Nodes whose id is in ``exclude`` are neither listed nor looked through.
    The order is a depth-first post-order (operands in their order, roots in
    theirs): it depends on the graph's structure only, never on when a node was
    made, so the same graph gives the same reverse pass, schedule and generated
    source in every process, whatever it built before (and so one disk-cache
    entry).
    """
    done = set(exclude) if exclude else set()
    out: list[Node] = []
    append = out.append
    for root in roots:
        if root.id in done:
            continue
        done.add(root.id)
        stack = [(root, iter(root.args))]
        while stack:  # iterative: graphs are 100,000 deep
            node, operands = stack[-1]
            for a in operands:
                if a.id not in done:
                    done.add(a.id)
                    stack.append((a, iter(a.args)))
                    break
            else:
                stack.pop()
                append(node)
                if limit is not None and len(out) > limit:
                    return None
    return out


def free_symbols(roots: Iterable[Node]) -> list[Node]:
    """The variable nodes the roots depend on, in order of first appearance."""
    return [n for n in topo_order(roots) if n.op == "var"]


def format_const(value) -> str:
    """A constant as Python source text (``np.inf``/``np.nan`` for non-finite; arrays as ``np.array``)."""
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, complex):  # 2j where that is exact, else complex(re, im) (nan and inf parts too)
        if value.real == 0.0 and math.copysign(1.0, value.real) > 0 and 0.0 < value.imag < math.inf:
            return repr(value)
        return f"complex({format_const(value.real)}, {format_const(value.imag)})"
    if not isinstance(value, float):
        return _format_array(value)
    if math.isnan(value):
        return "np.nan"
    if math.isinf(value):
        return "np.inf" if value > 0 else "(-np.inf)"
    text = repr(value)
    return f"({text})" if text.startswith("-") else text


def _format_array(array) -> str:
    """``np.array([...])`` reproducing ``array`` exactly (float repr round-trips)."""
    def item(v):
        if array.dtype.kind == "b":
            return repr(bool(v))
        if array.dtype.kind == "c":
            return format_const(complex(v))
        return format_const(float(v)).strip("()")
    rows = [item(v) for v in array.ravel().tolist()]
    flat = "[" + ", ".join(rows) + "]"
    dtype = {"b": "np.bool_", "c": "np.complex128"}.get(array.dtype.kind, "np.float64")
    if array.ndim == 1:
        return f"np.array({flat}, dtype={dtype})"
    return f"np.array({flat}, dtype={dtype}).reshape({array.shape})"


def _const_label(node: Node) -> str:
    """How a constant reads in listings: a number, or an array summary."""
    if not node.shape:
        return format_const(node.value)
    if node.value.size <= 4:
        return "[" + ", ".join(format_const(float(v)) if node.dtype == "float" else repr(bool(v))
                               for v in node.value.ravel().tolist()) + f"]{{{_shape_text(node.shape)}}}"
    return f"array{{{_shape_text(node.shape)}}}"


def _shape_text(shape: tuple) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"


def _params_text(node: Node) -> str:
    if node.params is None:
        return ""
    names = _ops.OPS[node.op].params or ()
    return " " + " ".join(f"{k}={v!r}" for k, v in zip(names, node.params))


def format_ir(outputs: Sequence[Node], names: dict | None = None) -> str:
    """A readable listing of the graph: one line per node, operands first; a loop's body is
    listed under it, indented.

    >>> import compiler as cc
    >>> x = cc.Symbol("x")
    >>> print(format_ir([cc.sin(x) * x]))
    %0 = var x
    %1 = sin %0
    %2 = mul %0 %1
    return %2
    """
    lines = _listing(outputs, "%", "")
    return "\n".join(lines)


def _listing(outputs: Sequence[Node], prefix: str, indent: str, label: dict | None = None) -> list[str]:
    label = {} if label is None else label
    lines = []
    count = 0
    for node in topo_order(outputs):
        if node.id in label:
            continue
        if node.op == "const":
            label[node.id] = _const_label(node)
            continue
        label[node.id] = f"{prefix}{count}"
        count += 1
        if node.op == "var":
            body = f"var {node.name!a}" if not node.name.isidentifier() else f"var {node.name}"
            body += f" {node.params[0]}" if node.params else ""  # its precision, if not float64
        elif node.op == "scan":
            body = " ".join(["scan"] + [label[a.id] for a in node.args]) + \
                f" length={node.params[1]}" + (" reverse" if node.params[2] else "")
        elif node.op == "item":
            body = f"item {label[node.args[0].id]} {node.params[0]}"
        elif node.op == "custom":  # a function with its own derivative rule, by name
            rule = node.params[0]
            body = " ".join([f"custom {rule.name}"] + [label[a.id] for a in node.args]) + \
                f"  ({'vjp' if rule.cotangents is not None else 'jvp'} rule)"
        elif node.op == "extern":  # a user's compiled function, by name
            from .extern import label as extern_label
            body = " ".join([f"extern {extern_label(node)}"] + [label[a.id] for a in node.args])
        else:
            body = " ".join([node.op] + [label[a.id] for a in node.args]) + _params_text(node)
        kind = [node.dtype] if node.dtype != "float" else []
        if node.shape:
            kind.append(_shape_text(node.shape))
        suffix = f"  : {' '.join(kind)}" if kind else ""
        lines.append(f"{indent}{label[node.id]} = {body}{suffix}")
        if node.op == "scan":
            lines.extend(_body_listing(node, label[node.id], indent + "    "))
    lines.append(indent + "return " + ", ".join(label[o.id] for o in outputs))
    return lines


def _body_listing(loop: Node, name: str, indent: str) -> list[str]:
    """A scan's body: its placeholders named after its operands, then its nodes."""
    body = loop.params[0]
    inner: dict[int, str] = {}
    prefix = name + "."
    heads = []
    for what, nodes in (("carries", body.carries), ("xs[t]", body.xs), ("params", body.params)):
        if nodes:
            names = []
            for k, p in enumerate(nodes):
                inner[p.id] = f"{prefix}{what[0]}{k}"
                names.append(inner[p.id] + (f"{{{_shape_text(p.shape)}}}" if p.shape else ""))
            heads.append(f"{what} {', '.join(names)}")
    lines = [f"{indent}body of {name} ({'; '.join(heads)}):"]
    listed = _listing(body.outputs, prefix, indent, inner)
    carried = ", ".join(inner.get(n.id, "?") for n in body.new_carries)
    ys = ", ".join(inner.get(n.id, "?") for n in body.ys)
    listed[-1] = f"{indent}next carries {carried or '-'}; ys {ys or '-'}"
    return lines + listed


_PRECEDENCE = {"<": 0, "<=": 0, ">": 0, ">=": 0, "==": 0, "+": 1, "-": 1, "*": 2, "/": 2, "%": 2, "//": 2,
               "neg": 3, "**": 4}
_MAX_STR = 400  # longer expressions print as a summary
_MAX_STR_NODES = 200


def short_str(node: Node) -> str:
    """Infix text of a small expression, or a summary of a large one (never recursive)."""
    OPS = _ops.OPS
    text: dict[int, tuple[str, int]] = {}
    atom = 9
    nodes = topo_order([node], limit=_MAX_STR_NODES)
    if nodes is None:
        return f"<{node.op} expression of more than {_MAX_STR_NODES} nodes>"
    for n in nodes:
        if n.op == "const":
            text[n.id] = (_const_label(n).replace("np.", ""), atom)
        elif n.op == "var":
            text[n.id] = (n.name if n.name.isidentifier() else ascii(n.name), atom)
        else:
            op = OPS[n.op]
            parts = [text[a.id] for a in n.args]
            if op.infix:
                p = _PRECEDENCE[op.infix]
                left = parts[0][0] if parts[0][1] >= p else f"({parts[0][0]})"
                # right operand: same precedence needs parens except for ** (right-assoc)
                rp = parts[1][1] > p or (parts[1][1] == p and op.infix == "**")
                right = parts[1][0] if rp else f"({parts[1][0]})"
                if op.infix == "**" and parts[0][1] == p:
                    left = f"({parts[0][0]})"
                s, prec = f"{left} {op.infix} {right}", p
            elif n.op == "scan":
                s, prec = f"scan({', '.join(p[0] for p in parts)}; {n.params[1]} steps)", atom
            elif n.op == "item":
                s, prec = f"{parts[0][0]}[{n.params[0]}]", atom
            elif n.op == "custom":  # a function with its own derivative rule: by its name
                s, prec = f"{n.params[0].name}({', '.join(p[0] for p in parts)})", atom
            elif n.op == "extern":  # a user's compiled function: by its name
                from .extern import label
                s, prec = f"{label(n)}({', '.join(p[0] for p in parts)})", atom
            elif n.op == "neg":
                s, prec = "-" + (parts[0][0] if parts[0][1] > 3 else f"({parts[0][0]})"), 3
            else:
                extra = [f"{k}={v!r}" for k, v in zip(op.params or (), n.params or ())]
                s, prec = f"{n.op}({', '.join([p[0] for p in parts] + extra)})", atom
            if len(s) > _MAX_STR:
                return f"<{node.op} expression of {len(nodes)} nodes>"
            text[n.id] = (s, prec)
    return text[node.id][0]


def substitute(outputs: Sequence[Node], replace: dict) -> list[Node]:
    """``outputs`` rebuilt with each node whose id is a key of ``replace`` replaced by its value.

    >>> from compiler import ir
    >>> x, y = ir.symbol("x"), ir.symbol("y")
    >>> [str(e) for e in substitute([ir.apply("sin", x)], {x.id: y})]
    ['sin(y)']
    """
    new: dict[int, Node] = {}
    for n in topo_order(outputs):
        if n.id in replace:
            new[n.id] = replace[n.id]
        elif not n.args:
            new[n.id] = n
        else:
            args = [new[a.id] for a in n.args]
            same = all(a is b for a, b in zip(args, n.args))
            new[n.id] = n if same else apply(n.op, *args, params=n.params)
    return [new[o.id] for o in outputs]


# --- serialization by structure ---

def to_table(outputs: Sequence[Node]) -> tuple:
    """The graph as a flat tuple of (op, operand indices, value, name, shape, params) rows,
    and the output indices."""
    index: dict[int, int] = {}
    rows = []
    for n in topo_order(outputs):
        index[n.id] = len(rows)
        rows.append((n.op, tuple(index[a.id] for a in n.args), n.value, n.name, n.shape, n.params))
    return tuple(rows), tuple(index[o.id] for o in outputs)


def from_table(table: tuple) -> list[Node]:
    """Rebuild the nodes of ``to_table`` (interning restores sharing)."""
    rows, outs = table
    nodes: list[Node] = []
    for op, operands, value, name, shape, params in rows:
        if op == "const":
            nodes.append(constant(value))
        elif op == "var":
            nodes.append(symbol(name, shape, *(params or ())))
        else:
            nodes.append(apply(op, *(nodes[i] for i in operands), params=params))
    return [nodes[i] for i in outs]


def _rebuild(table: tuple) -> Node:
    return from_table(table)[0]
