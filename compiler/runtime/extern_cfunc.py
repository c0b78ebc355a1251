"""A user's functions (``cc.extern``) as C functions for the llvm target: a ``numba.cfunc`` of
each callable (the value, the gradient, the Hessian, the jvp), called by address.

A cfunc cannot hand a Python exception to its caller: Numba's own wrapper prints it as
"unraisable" and returns 0.0, a silent wrong number. Ours catches it in compiled code, counts it
in ``ERRORS`` and returns nan; the caller (``flat.FlatTarget``) sees the count change and runs the
call again with the Python function, which raises the user's own exception.

>>> import ctypes
>>> from compiler.ir.extern import Extern
>>> import numba
>>> twice = numba.njit(lambda x: 2.0 * x)
>>> ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)(address(Extern(twice), "f", 1))(3.0)
6.0
"""

from __future__ import annotations

import builtins
import math
import threading

import numba
import numpy as np
from llvmlite import ir as lir
from numba.core import types
from numba.extending import intrinsic

from ..errors import UnsupportedError
from .extern import _what, check

ERRORS = np.zeros(1, dtype=np.int64)  # exceptions the cfuncs of this process caught, so far
_cfuncs: dict = {}  # (Extern, which, arity) -> its numba.cfunc (its machine code lives as long)
# one cfunc per key, ever: a second one made by another thread would be freed while a kernel
# bound to its address still calls it
_lock = threading.Lock()


@intrinsic
def _count_error(typingctx, address):
    """``*(int64 *) address += 1``: ``ERRORS[0]``, which compiled code may not write as a global."""
    def codegen(context, builder, signature, args):
        p = builder.inttoptr(args[0], lir.IntType(64).as_pointer())
        builder.store(builder.add(builder.load(p), lir.Constant(lir.IntType(64), 1)), p)
        return context.get_dummy_value()
    return types.void(address), codegen


def address(fn, which: str, arity: int) -> int:
    """The address of the C function that ``codegen.extern.llvm`` declares for ``which`` of ``fn``:
    ``double f(double, ...)`` (``jvp``: the point, then the tangent), or ``void g(double *out,
    double, ...)`` writing the tuple of a gradient (a Hessian's rows one after another)."""
    key = (fn, which, arity)
    with _lock:
        return _made(fn, which, arity, key).address


def _made(fn, which: str, arity: int, key: tuple):
    made = _cfuncs.get(key)
    if made is None:
        function = fn.f if which == "f" else getattr(fn, which)
        if not hasattr(function, "py_func"):
            raise UnsupportedError(
                f"cc.extern: the {_what(which)}{fn.name} is a plain Python function; the llvm target calls a "
                "C function made of it, so it must be a numba.njit function (or use backend='python')")
        check(fn, which, ((),) * arity)  # (with int64 for the static arguments)
        namespace = {"function": function, "count_error": _count_error, "ERRORS": ERRORS.ctypes.data,
                     "nan": math.nan}
        # our own template, of argument names a0, a1, ...: no user text
        source = _wrapper_source(which, arity, fn.static)
        exec(builtins.compile(source, f"<cc.extern {which} of {fn.name}>", "exec"),
             namespace)  # noqa: S102
        double = numba.float64
        signature = (numba.void(numba.types.CPointer(double), *[double] * arity) if which in ("grad", "hessian")
                     else double(*[double] * (2 * arity if which == "jvp" else arity)))
        made = _cfuncs[key] = numba.cfunc(signature)(namespace["wrapper"])
    return made


def _wrapper_source(which: str, arity: int, static: tuple) -> str:
    """The wrapper's source: ``arity`` operands ``a0, a1, ...`` (and ``static``'s ints, as literals,
    at their positions)."""
    args = [f"a{k}" for k in range(arity)]
    called = list(args)
    for position, value in static:
        called.insert(position, repr(int(value)))
    if which in ("f", "jvp"):
        given = args + ([f"t{k}" for k in range(arity)] if which == "jvp" else [])
        called += given[arity:]
        return (f"def wrapper({', '.join(given)}):\n    try:\n        return float(function({', '.join(called)}))\n"
                "    except Exception:\n        count_error(ERRORS)\n        return nan\n")
    entries = [f"[{k}]" for k in range(arity)] if which == "grad" else \
        [f"[{i}][{j}]" for i in range(arity) for j in range(arity)]
    stores = "".join(f"        out[{k}] = r{e}\n" for k, e in enumerate(entries))
    fails = "".join(f"        out[{k}] = nan\n" for k in range(len(entries)))
    return (f"def wrapper(out, {', '.join(args)}):\n    try:\n        r = function({', '.join(called)})\n{stores}"
            f"    except Exception:\n        count_error(ERRORS)\n{fails}")
