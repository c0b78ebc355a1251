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
    given = fn.arguments([str(a) for a in atoms])  # static arguments: int literals (``int``, never text)
    given = [a if isinstance(a, str) else repr(int(a)) for a in given]
    if which == "jvp":
        units = ["1.0" if j == part[1] else "0.0" for j in range(len(atoms))]
        return f"{name}({', '.join(given + units)})"
    return f"{name}({', '.join(given)})" + "".join(f"[{k}]" for k in part[1:])


# --- the llvm target: a call of the function's cfunc, by a symbol bound at load time ---

#: the type of a declared function that writes its results through a first ``ptr`` argument
#: (``void f(double *out, double x, ...)``): a gradient or a Hessian, whose tuple a C function
#: cannot return
OUT_POINTER = "out-pointer"


def symbol(fn, which: str, arity: int) -> str:
    """The LLVM symbol of ``which`` of the extern function ``fn`` (``runtime.extern`` binds it to a
    ``numba.cfunc``'s address in each process). The fingerprint changes with the user's code, so
    machine code in the disk cache never calls another version of it.

    >>> from compiler.ir.extern import Extern
    >>> def q(x): return x
    >>> symbol(Extern(q), "grad", 1).startswith("cc_extern_q_")
    True
    """
    return f"cc_extern_{sanitize(fn.name)}_{fn.fingerprint}_{which}{arity}"


def llvm(e, node: Node, values: list) -> str:
    """The LLVM lowering of an ``extern`` node (``codegen.llvm.Emitter`` ``e``, scalar operands
    ``values``): ``f`` and ``jvp`` return a double; ``grad`` and ``hessian`` write every entry to a
    stack buffer, of which the node reads its own: the partials of one point cost one call (the
    buffer is reused by the other partials of the same operands, in the same straight-line
    function). A vector kernel calls it lane by lane (a buffer per lane)."""
    fn, part = node.params
    which, n = (part[0] if part else "f"), len(values)
    name = symbol(fn, which, n)
    if which not in ("grad", "hessian"):
        from .llvm import _double
        units = [f"double {_double(float(j == part[1]))}" for j in range(n)] if which == "jvp" else []
        e.declared.add((name, n + len(units), "double"))

        def one(lane: int, scalars: list) -> str:
            r = e._fresh()
            e.lines.append(f"  {r} = call double @{name}({', '.join([f'double {a}' for a in scalars] + units)})")
            return r
        return _lanes(e, values, one)
    count, index = (n, part[1]) if which == "grad" else (n * n, part[1] * n + part[2])
    e.declared.add((name, n, OUT_POINTER))
    calls = e.__dict__.setdefault("extern_calls", {})  # (symbol, operands) -> its buffer, filled
    buffer = calls.get((name, tuple(values)))
    if buffer is None:
        buffer = calls[(name, tuple(values))] = e._fresh()
        e.lines.append(f"  {buffer} = alloca double, i64 {count * e.width}")
        for lane in range(e.width):
            _fill(e, name, buffer, lane * count, _extract(e, values, lane))

    def read(lane: int, scalars: list) -> str:
        p, r = e._fresh(), e._fresh()
        e.lines.append(f"  {p} = getelementptr inbounds double, ptr {buffer}, i64 {lane * count + index}")
        e.lines.append(f"  {r} = load double, ptr {p}")
        return r
    return _lanes(e, values, read, extract=False)


def _fill(e, name: str, buffer: str, offset: int, scalars: list) -> None:
    p = e._fresh()
    e.lines.append(f"  {p} = getelementptr inbounds double, ptr {buffer}, i64 {offset}")
    e.lines.append(f"  call void @{name}(ptr {p}, {', '.join(f'double {a}' for a in scalars)})")


def _extract(e, values: list, lane: int) -> list:
    """The scalars of ``lane`` of vector ``values`` (the values themselves in a scalar kernel)."""
    if e.width == 1:
        return list(values)
    scalars = []
    for a in values:
        s = e._fresh()
        e.lines.append(f"  {s} = extractelement {e.T} {a}, i32 {lane}")
        scalars.append(s)
    return scalars


def _lanes(e, values: list, one, extract: bool = True) -> str:
    """``one(lane, scalars)`` of a scalar kernel, or of each lane of a vector one, as a value."""
    if e.width == 1:
        return one(0, list(values))
    result = "poison"
    for lane in range(e.width):
        v, r = one(lane, _extract(e, values, lane) if extract else []), e._fresh()
        e.lines.append(f"  {r} = insertelement {e.T} {result}, double {v}, i32 {lane}")
        result = r
    return result
