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

from .. import ir
from ..ir import Node
from ..ir.extern import Extern


class ExternFunction:
    """What ``cc.extern`` returns: calling it on expressions builds an ``extern`` node."""

    def __init__(self, handle: Extern, arity: int | None):
        self.handle, self.arity = handle, arity
        self.__name__ = handle.name

    def __call__(self, *args) -> Node:
        name = self.handle.name
        if self.arity is not None and len(args) != self.arity:
            raise TypeError(f"extern function {name} takes {self.arity} argument(s), got {len(args)}")
        nodes = [ir.as_node(a, f"argument {k} of {name}") for k, a in enumerate(args)]
        for k, a in enumerate(nodes):
            if a.dtype != "float":
                raise TypeError(f"extern function {name}: argument {k} is a comparison; arguments are numbers")
        return ir.apply("extern", *nodes, params=(self.handle, ()))

    def __repr__(self) -> str:
        return f"<cc.extern {self.handle.name}>"


def extern(f: Callable, grad: Callable | None = None, jvp: Callable | None = None,
           hessian: Callable | None = None) -> ExternFunction:
    """Wrap a ``numba.njit`` function of scalars (or arrays) returning a float: ``grad`` returns the
    tuple of its partial derivatives (each of its argument's shape), ``jvp(*x, *tangents)`` its
    directional derivative (used when there is no ``grad``: one call per partial), ``hessian`` a
    tuple of rows (``jvp`` and ``hessian``: of scalar arguments). Without them, differentiating
    through it raises (never finite differences). The numba target calls the dispatcher; the
    python backend and the first calls under "auto" call its Python function (``py_func``).
    """
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
    return ExternFunction(Extern(f, grad, hessian, jvp), arity)
