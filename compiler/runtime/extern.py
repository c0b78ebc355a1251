"""Binding a user's functions (``cc.extern``) into a generated module.

Compiled code (the numba target) calls the Numba dispatcher itself, so Numba
links the user's compiled function into the kernel; plain Python (the python
backend, the first calls under "auto") calls its Python function. A function
that Numba cannot compile for float arguments, or that returns something
other than a number, is refused here with the user's own function named,
before it can surface as a typing error inside a generated kernel.

>>> from compiler.ir.extern import Extern
>>> def q(x): return 2.0 * x
>>> bind({"_q": (Extern(q), "f", ((),))}, compiled=False)["_q"](3.0)
6.0
"""

from __future__ import annotations

from ..errors import CompilerError, UnsupportedError

_checked: set[tuple] = set()  # (dispatcher, which, arity) already compiled and checked


def bind(externs: dict, compiled: bool) -> dict:
    """``{module-level name: callable}`` for the ``externs`` of a generated module."""
    out = {}
    for name, (fn, which, shapes) in externs.items():
        function = fn.f if which == "f" else getattr(fn, which)
        if compiled:
            if not hasattr(function, "py_func"):
                raise UnsupportedError(
                    f"cc.extern: the {_what(which)}{fn.name} is a plain Python function; the numba target calls "
                    "it from compiled code, so it must be a numba.njit function (or use backend='python')")
            check(fn, which, shapes)
            out[name] = function
        else:
            out[name] = getattr(function, "py_func", function)
    return out


def check(fn, which: str, shapes: tuple) -> None:
    """Compile ``which`` of ``fn`` for float64 arguments of ``shapes`` (int64 for its static ones)
    and check what it returns."""
    import numba
    from numba.core import types
    function = fn.f if which == "f" else getattr(fn, which)
    key = (function, which, shapes, tuple(k for k, _ in fn.static))
    if key in _checked or not hasattr(function, "py_func"):
        return
    arity = len(shapes)
    operands = tuple(types.Array(types.float64, len(s), "A") if s else types.float64 for s in shapes)
    signature = tuple(t if isinstance(t, types.Type) else types.int64 for t in fn.arguments(list(operands)))
    signature += operands if which == "jvp" else ()
    n = len(signature)
    try:
        function.compile(signature)
    except numba.core.errors.TypingError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CompilerError(f"cc.extern: Numba cannot compile the {_what(which)}{fn.name} for {n} "
                            f"argument(s) {signature}: {first}") from None
    returned = function.overloads[signature].signature.return_type
    expected = {"f": "a number", "jvp": "a number", "grad": f"a tuple of {arity} partials (each of its argument's shape)",
                "hessian": f"a tuple of {arity} tuples of {arity} numbers"}[which]
    if not _returns(returned, which, arity, types, shapes):
        raise CompilerError(f"cc.extern: the {_what(which)}{fn.name} returns {returned}; expected {expected}")
    _checked.add(key)


def _returns(t, which: str, arity: int, types, shapes: tuple) -> bool:
    if which in ("f", "jvp"):
        return isinstance(t, (types.Float, types.Integer))
    if not isinstance(t, types.BaseTuple) or len(t) != arity:
        return False
    if which == "grad":  # a number per scalar argument, an array of its dimensions per array argument
        return all(isinstance(e, types.Array) and e.ndim == len(s) if s else isinstance(e, (types.Float, types.Integer))
                   for e, s in zip(t, shapes))
    return all(_returns(e, "grad", arity, types, shapes) for e in t)


def _what(which: str) -> str:
    return "function " if which == "f" else f"{which} of "

