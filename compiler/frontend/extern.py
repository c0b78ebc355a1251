"""``cc.extern``: a user's own ``numba.njit`` function of scalars (or arrays) as an op of expressions.

>>> import compiler as cc
>>> def q(x, y):                       # a numba.njit function in practice
...     return x * y
>>> def q_grad(x, y):
...     return (y, x)
>>> Q = cc.extern(q, grad=q_grad)
>>> x, y = cc.symbols("x y")
>>> Q(x * x, y) * cc.sin(y)
q(x * x, y) * sin(y)
"""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np

from .. import ir
from ..ir import Node
from ..ir.extern import Extern


class ExternFunction:
    """What ``cc.extern`` returns: calling it on expressions builds an ``extern`` node."""

    def __init__(self, handle: Extern, arity: int | None, nondiff_argnums: tuple = ()):
        self.handle, self.arity, self.nondiff = handle, arity, nondiff_argnums
        self.__name__ = handle.name
        self._handles: dict = {}  # static arguments -> their Extern (one op per value)

    def __call__(self, *args) -> Node:
        name = self.handle.name
        if self.arity is not None and len(args) != self.arity:
            raise TypeError(f"extern function {name} takes {self.arity} argument(s), got {len(args)}")
        if self.nondiff and self.nondiff[-1] >= len(args):
            raise TypeError(f"extern function {name}: nondiff_argnums={self.nondiff} names argument "
                            f"{self.nondiff[-1]}, but it was called with {len(args)} argument(s)")
        static = []
        for k in self.nondiff:
            v = args[k]
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"extern function {name}: argument {k} is in nondiff_argnums, so it must be a "
                                f"Python int (passed to every call as is, never differentiated), got "
                                f"{type(v).__name__}")
            static.append((k, int(v)))
        handle = self.handle
        if static:
            handle = self._handles.setdefault(tuple(static), handle.with_static(tuple(static)))
        nodes = [ir.as_node(a, f"argument {k} of {name}") for k, a in enumerate(args) if k not in self.nondiff]
        if not nodes:
            raise TypeError(f"extern function {name}: every argument is in nondiff_argnums; "
                            "a constant needs no extern node (call the function itself)")
        for k, a in enumerate(nodes):
            if a.dtype != "float":
                raise TypeError(f"extern function {name}: argument {k} is a comparison; arguments are numbers")
        return ir.apply("extern", *nodes, params=(handle, ()))

    def __repr__(self) -> str:
        return f"<cc.extern {self.handle.name}>"


def extern(f: Callable, grad: Callable | None = None, jvp: Callable | None = None,
           hessian: Callable | None = None, nondiff_argnums: tuple = ()) -> ExternFunction:
    """Wrap a ``numba.njit`` function of scalars (or arrays) returning a float: ``grad`` returns the
    tuple of its partial derivatives (each of its argument's shape), ``jvp(*x, *tangents)`` its
    directional derivative (used when there is no ``grad``: one call per partial), ``hessian`` a
    tuple of rows (``jvp`` and ``hessian``: of scalar arguments). Without them, differentiating
    through it raises (never finite differences). The numba target calls the dispatcher; the
    python backend and the first calls under "auto" call its Python function (``py_func``);
    the llvm target calls a ``numba.cfunc`` of it, by address.

    ``nondiff_argnums``: positions of integer arguments (a number of panels, an order) given as
    Python ints: every call passes them as they are (int64 in Numba), they are never
    differentiated, and ``grad``/``hessian`` (and ``jvp``'s tangents) are of the other arguments
    only. ``grad`` and the others still take every argument, as ``f`` does.
    """
    if isinstance(nondiff_argnums, int):
        nondiff_argnums = (nondiff_argnums,)
    if not all(isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in nondiff_argnums):
        raise TypeError(f"cc.extern: nondiff_argnums must be argument positions (ints >= 0), got {nondiff_argnums!r}")
    for what, fn in (("f", f), ("grad", grad), ("jvp", jvp), ("hessian", hessian)):
        if fn is None and what != "f":
            continue
        if not callable(fn):
            raise TypeError(f"cc.extern: {what} must be a function (a numba.njit function), got {type(fn).__name__}")
    py = getattr(f, "py_func", f)
    try:
        params = inspect.signature(py).parameters.values()
        arity = None if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params) else len(params)
    except (TypeError, ValueError):
        arity = None
    return ExternFunction(Extern(f, grad, hessian, jvp), arity, tuple(sorted(set(nondiff_argnums))))
