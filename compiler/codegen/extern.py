"""Calls of a user's functions (``extern`` nodes) in generated source.

Each distinct callable (a function, its gradient, Hessian or jvp) gets a
module-level name (``q``, ``q_grad``) listed in ``printer.externs``; the
runtime binds the name to the Numba dispatcher (compiled code) or to its
Python function before the module's functions are defined.

>>> import compiler as cc
>>> x = cc.Symbol("x")
>>> def q(x): return 2.0 * x
>>> source = cc.compile(cc.extern(q)(x) + 1.0, [x], wrt=[], backend="python").source
>>> [line.strip() for line in source.splitlines() if " = q(" in line]
['v0 = q(x)']
"""

from __future__ import annotations

from ..ir import Node
from .names import sanitize


def call(printer, node: Node, atoms) -> str:
    """The call expression of an ``extern`` node."""
    fn, part = node.params
    which = part[0] if part else "f"
    externs = printer.__dict__.setdefault("externs", {})  # name -> (Extern, which callable, argument shapes)
    name = next((n for n, (e, w, _) in externs.items() if e is fn and w == which), None)
    if name is None:
        name = printer.names.claim(sanitize("_" + fn.name + ("" if which == "f" else "_" + which)))
        externs[name] = (fn, which, tuple(a.shape for a in node.args))
    if which == "jvp":
        units = ["1.0" if j == part[1] else "0.0" for j in range(len(atoms))]
        return f"{name}({', '.join(list(atoms) + units)})"
    return f"{name}({', '.join(atoms)})" + "".join(f"[{k}]" for k in part[1:])
