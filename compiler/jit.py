"""``@cc.jit``: compile a plain Python function of scalars (or tensors) by tracing it once.

The function is called with one symbol per parameter (named after the
parameter); whatever it builds is compiled. Python control flow on a traced
value raises ``TracingError``, which points to ``cc.where``.

>>> import compiler as cc
>>> @cc.jit(backend="python")
... def f(x, y):
...     return cc.exp(-x * y) + x
>>> f(0.0, 1.0), f.grad(0.0, 1.0)
(1.0, (0.0, -0.0))
"""

from __future__ import annotations

import inspect
from typing import Callable, Sequence

from . import ir
from .runtime import CompiledFunction, compile


def trace(fn: Callable, names: Sequence[str] | None = None, shapes: dict | None = None):
    """Call ``fn`` on fresh symbols (of ``shapes[name]``, scalars by default); return (outputs, inputs)."""
    if names is None:
        params = list(inspect.signature(fn).parameters.values())
        for p in params:
            if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                raise TypeError(f"cc.jit traces functions of named scalar parameters; "
                                f"{fn.__name__} has parameter {p}")
        names = [p.name for p in params]
    shapes = shapes or {}
    unknown = [k for k in shapes if k not in names]
    if unknown:
        raise ValueError(f"shapes names {unknown}, which are not parameters of {fn.__name__} ({', '.join(names)})")
    inputs = [ir.symbol(n, ir.check_shape(shapes[n], f"the shape of {n!r}") if n in shapes else ()) for n in names]
    result = fn(*inputs)
    return result, inputs


def jit(fn: Callable | None = None, *, wrt: str | Sequence[str] | None = None, backend: str = "auto",
        shapes: dict | None = None, **options) -> CompiledFunction | Callable[[Callable], CompiledFunction]:
    """Trace ``fn`` once with symbolic arguments and compile it.

    Use as ``@cc.jit`` or ``@cc.jit(wrt=["x"], backend="python")``; ``wrt``
    names parameters (one name alone, ``wrt="x"``, as ``cc.compile(wrt=x)``);
    ``shapes={"W": (2, 3)}`` makes a parameter a tensor.
    The result is a ``CompiledFunction``.
    """
    def decorate(f: Callable) -> CompiledFunction:
        result, inputs = trace(f, shapes=shapes)
        by_name = {n.name: n for n in inputs}
        wrt_nodes = None
        if wrt is not None:
            names = [wrt] if isinstance(wrt, str) else list(wrt)
            unknown = [w for w in names if w not in by_name]
            if unknown:
                raise ValueError(f"wrt names {unknown} are not parameters of {f.__name__} "
                                 f"({', '.join(by_name)})")
            # one name alone (wrt="w") gives that input's derivative itself, as cc.compile(wrt=w)
            wrt_nodes = by_name[wrt] if isinstance(wrt, str) else [by_name[w] for w in names]
        compiled = compile(result, inputs, wrt_nodes, backend=backend, **options)
        compiled.__wrapped__ = f
        compiled.__doc__ = f.__doc__
        compiled.__name__ = f.__name__
        return compiled
    return decorate if fn is None else decorate(fn)
