"""Loops in generated source: a ``scan`` node printed as a ``for`` loop over its body.

The loop's results are plain variables named after its ``item`` nodes (which
print nothing themselves): the carries, updated in place step by step; the
stacked ``ys``; and a carry's history, stored only where something reads it
(the reverse pass). The body is printed in a scope of its own: its placeholders
are the loop's variables, its nodes get fresh names, so a node that appears in
two loops' bodies (a primal step recomputed in its adjoint loop) is computed in
each. Both dialects print the same loop (Numba compiles it; plain Python runs it).

>>> import compiler as cc
>>> a = cc.Symbol("a")
>>> final, _ = cc.scan(lambda c, _: (c * a, None), 1.0, length=3)
>>> "for t" in cc.compile(final, [a], backend="python").source
True
"""

from __future__ import annotations

from ..ir import Node, loops


def attach_items(printer, statements: list) -> list:
    """Drop ``item`` statements (the loop that makes them names them), recording each scan's
    items in ``printer.loop_items`` and naming them."""
    kept = []
    for comment, node in statements:
        if node.op == "item":
            printer.loop_items.setdefault(node.args[0].id, {})[node.params[0]] = node
            if node.id not in printer.node_name:
                printer.node_name[node.id] = printer.names.fresh("v")
            if comment and kept and kept[-1][0] is None:
                kept[-1] = (comment, kept[-1][1])
            continue
        kept.append((comment, node))
    return kept


def defined_by(printer, node: Node) -> list[Node]:
    """The nodes a statement defines: itself, and a loop's items."""
    if node.op != "scan":
        return [node]
    return [node] + list(printer.loop_items.get(node.id, {}).values())


def scan_lines(printer, node: Node, name: str, *atoms: str) -> list[str]:
    """The loop of a ``scan`` node, writing its used results to its items' names."""
    body, length, reverse = node.params
    nc, nx, ny = len(body.carries), len(body.xs), len(body.ys)
    items = printer.loop_items.get(node.id, {})
    names = printer.names
    t = names.fresh("t")
    carry = [printer.node_name[items[k].id] if k in items else names.fresh("c") for k in range(nc)]
    ys = {j: printer.node_name[items[nc + j].id] for j in range(ny) if nc + j in items}
    history = {i: printer.node_name[items[nc + ny + i].id] for i in range(nc) if nc + ny + i in items}
    steps = f"range({length - 1}, -1, -1)" if reverse else f"range({length})"
    what = [f"{nc} carr{'y' if nc == 1 else 'ies'}"] + ([f"{nx} sequence{'s' * (nx != 1)}"] if nx else []) \
        + ([f"ys {', '.join(ys.values())}"] if ys else []) + ([f"history {', '.join(history.values())}"]
                                                              if history else [])
    lines = [f"# loop of {length} steps{' (backwards)' if reverse else ''}: {'; '.join(what)}"]
    for k, (c, init) in enumerate(zip(body.carries, atoms[:nc])):
        if not c.shape and node.args[k].op == "const":  # a literal would be a Python float: 1.0 / 0.0 raises
            init = f"np.float64({init})"
        lines.append(f"{carry[k]} = {_copy(init) if c.shape else init}")
    for j, n in ys.items():
        lines.append(f"{n} = np.empty({(length,) + body.ys[j].shape})")
    for i, n in history.items():
        lines.append(f"{n} = np.empty({(length,) + body.carries[i].shape})")
    # the loop may stop once the body's ``until`` holds (the carries stay as they are from there),
    # unless it fills ys or a history, whose later rows the remaining steps write
    stop = body.until is not None and not ys and not history
    new_values, y_values, step_lines = _body_lines(printer, body, carry, atoms[nc:nc + nx], atoms[nc + nx:], t,
                                                   list(ys), stop)
    inside = [f"{n}[{t}] = {carry[i]}" for i, n in history.items()] + step_lines
    inside += [f"{n}[{t}] = {y_values[j]}" for j, n in ys.items()]
    updates = [_contiguous(v) if c.shape else v for v, c in zip(new_values, body.carries)]
    changed = [(c, v) for c, v in zip(carry, updates) if c != v]
    if changed:
        inside.append(f"{', '.join(c for c, _ in changed)} = {', '.join(v for _, v in changed)}")
    if stop:
        inside += [f"if {y_values['until']}:  # converged: the remaining steps change nothing", "    break"]
    return lines + [f"for {t} in {steps}:"] + ["    " + line for line in inside or ["pass"]]


def _body_lines(printer, body: loops.Body, carry: list[str], xs: tuple, params: tuple, t: str,
                used_ys: list[int], stop: bool = False) -> tuple[list[str], dict, list[str]]:
    """The body's statements in a scope of its own: (the new carries' atoms, the ys' atoms and,
    with ``stop``, the atom of ``body.until`` under "until", lines)."""
    outer_names, outer_items = printer.node_name, printer.loop_items
    printer.node_name = dict(outer_names)
    printer.loop_items = {}
    try:
        scope = printer.node_name
        lines = []
        for p, name in zip(body.carries, carry):
            scope[p.id] = name
        for p, seq in zip(body.xs, xs):
            scope[p.id] = printer.names.fresh("x")
            lines.append(f"{scope[p.id]} = {seq}[{t}]")
        for p, value in zip(body.params, params):
            scope[p.id] = value
        if body.index is not None:
            scope[body.index.id] = printer.names.fresh("k")
            lines.append(f"{scope[body.index.id]} = np.float64({t})")
        roots = list(body.new_carries) + [body.ys[j] for j in used_ys] + ([body.until] if stop else [])
        placeholders = {p.id for p in body.inputs}
        statements = [(None, n) for n in loops.body_order(body, roots)
                      if n.op not in ("const", "var") and n.id not in placeholders]
        for _, n in statements:
            if n.op != "item":
                scope[n.id] = printer.names.fresh("b")
        statements = attach_items(printer, statements)
        for _, n in statements:
            lines.extend(printer.statement(n))
        new_values = [printer.atom(n) for n in body.new_carries]
        y_values = {j: printer.atom(body.ys[j]) for j in used_ys}
        if stop:
            y_values["until"] = printer.atom(body.until)
        return new_values, y_values, lines
    finally:
        printer.node_name, printer.loop_items = outer_names, outer_items


def _copy(atom: str) -> str:
    return f"np.ascontiguousarray({atom}).copy()"


def _contiguous(atom: str) -> str:
    return f"np.ascontiguousarray({atom})"
