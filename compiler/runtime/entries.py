"""The per-call entry points of a compiled function, bound in the instance.

``bind(fn)`` sets ``fn.value_and_grad`` and ``fn.grad`` as closures in the
instance: no bound-method object per call, 10-50 ns less than a method
(measured on the neuron, a 250 ns kernel). Each calls the role's fast entry
(``fn._vg``: the kernel once compiled) and sends what it turns away (arrays,
Dask arrays, ``reduce=``) to ``batch.checked_call``.

>>> import compiler as cc
>>> x, y = cc.symbols("x y")
>>> fn = cc.compile(x * y, [x, y], wrt=x, backend="python")
>>> fn.value_and_grad(2.0, 3.0), signature(["x", "x'"])
((6.0, 3.0), <Signature (x, x_2, /)>)
"""

from __future__ import annotations

import inspect

from .. import codegen
from . import batch


def bind(fn) -> None:
    """``fn.value_and_grad`` and ``fn.grad`` as closures in the instance (the fast path)."""
    def slow(role, args, how=None):  # arrays, Dask arrays, reduce= (batch, dask_batch, reduce)
        return batch.checked_call(fn, role, args, how)

    if not fn._single:
        def value_and_grad(*args, reduce=None):
            if reduce is None:
                try:
                    return fn._vg(*args)
                except TypeError:
                    return slow("value_and_grad", args)
            return slow("value_and_grad", args, reduce)

        def grad(*args, reduce=None):
            if reduce is None:
                try:
                    return fn._vg(*args)[1]
                except TypeError:
                    return slow("value_and_grad", args)[1]
            return slow("value_and_grad", args, reduce)[1]
    else:  # one wrt given alone: its derivative itself, not a 1-tuple
        def value_and_grad(*args, reduce=None):
            if reduce is None:
                try:
                    value, g = fn._vg(*args)
                except TypeError:
                    value, g = slow("value_and_grad", args)
            else:
                value, g = slow("value_and_grad", args, reduce)
            return value, only(g, fn._many)

        def grad(*args, reduce=None):
            return value_and_grad(*args, reduce=reduce)[1]
    cls = type(fn)
    for fast, method in ((value_and_grad, cls.value_and_grad), (grad, cls.grad)):
        fast.__doc__, fast.__qualname__ = method.__doc__, method.__qualname__
        fast.__signature__ = fn._signature  # help() shows the inputs, positional only (reduce=: the doc)
        setattr(fn, method.__name__, fast)


def signature(input_names: list[str]) -> inspect.Signature:
    """The inputs as positional parameters, named as identifiers (``x[1]`` -> ``x_1``; names
    that would then repeat, ``a`` and ``a'``, get a number)."""
    names: list[str] = []
    for n in input_names:
        name, k = codegen.sanitize(n), 2
        while name in names:
            name, k = f"{codegen.sanitize(n)}_{k}", k + 1
        names.append(name)
    return inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_ONLY) for n in names])


def only(gradient, many: bool):
    """The gradient of the one ``wrt`` input out of its per-input level."""
    if not many:
        return gradient[0]
    if isinstance(gradient, tuple):  # rows of tensor gradients
        return tuple(row[0] for row in gradient)
    return gradient[..., 0]  # the Jacobian array of scalar outputs
