"""Binding a user's functions (``cc.extern``) into a generated module.

Compiled code (the numba target) calls the Numba dispatcher itself, so Numba
links the user's compiled function into the kernel; plain Python (the python
backend, the first calls under "auto") calls its Python function. A function
that Numba cannot compile for float arguments, or that returns something
other than a number, is refused here with the user's own function named,
before it can surface as a typing error inside a generated kernel.

>>> from compiler.ir.extern import Extern
>>> def q(x): return 2.0 * x
>>> bind({"_q": (Extern(q), "f", 1)}, compiled=False)["_q"](3.0)
6.0
"""

from __future__ import annotations

from ..errors import CompilerError, UnsupportedError

_checked: set[tuple] = set()  # (dispatcher, which, arity) already compiled and checked


def bind(externs: dict, compiled: bool) -> dict:
    """``{module-level name: callable}`` for the ``externs`` of a generated module."""
    out = {}
    for name, (fn, which, arity) in externs.items():
        function = fn.f if which == "f" else getattr(fn, which)
        if compiled:
            if not hasattr(function, "py_func"):
                raise UnsupportedError(
                    f"cc.extern: the {_what(which)}{fn.name} is a plain Python function; the numba target calls "
                    "it from compiled code, so it must be a numba.njit function (or use backend='python')")
            check(fn, which, arity)
            out[name] = function
        else:
            out[name] = getattr(function, "py_func", function)
    return out


def check(fn, which: str, arity: int) -> None:
    """Compile ``which`` of ``fn`` for float64 arguments and check what it returns."""
    import numba
    from numba.core import types
    function = fn.f if which == "f" else getattr(fn, which)
    key = (function, which, arity)
    if key in _checked or not hasattr(function, "py_func"):
        return
    n = arity * 2 if which == "jvp" else arity
    signature = (types.float64,) * n
    try:
        function.compile(signature)
    except numba.core.errors.TypingError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CompilerError(f"cc.extern: Numba cannot compile the {_what(which)}{fn.name} for {n} float "
                            f"argument(s): {first}") from None
    returned = function.overloads[signature].signature.return_type
    expected = {"f": "a number", "jvp": "a number", "grad": f"a tuple of {arity} numbers",
                "hessian": f"a tuple of {arity} tuples of {arity} numbers"}[which]
    if not _returns(returned, which, arity, types):
        raise CompilerError(f"cc.extern: the {_what(which)}{fn.name} returns {returned}; expected {expected}")
    _checked.add(key)


def _returns(t, which: str, arity: int, types) -> bool:
    if which in ("f", "jvp"):
        return isinstance(t, (types.Float, types.Integer))
    if not isinstance(t, types.BaseTuple) or len(t) != arity:
        return False
    inner = "f" if which == "grad" else "grad"
    return all(_returns(e, inner, arity, types) for e in t)


def _what(which: str) -> str:
    return "function " if which == "f" else f"{which} of "
