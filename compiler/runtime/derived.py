"""What ``fn.wait()`` compiles besides the entry points: the derived functions made so far for
the derivative methods (``jvp``, ``hvp``, ``hessian``, ``jacobian``, the sparse derivatives),
and those named up front (``fn.wait("sparse_hessian")``), built here without being called.

>>> import compiler as cc
>>> x = cc.Symbol("x")
>>> fn = cc.compile(x * x, [x], backend="python")
>>> prepare(fn, "hvp"); sorted(derived_functions(fn))
['hvp']
"""

from __future__ import annotations

import math

from .derivatives import (_cached, _require_derivative_wrt, hessian_sparsity, hvp_function, jvp_function,
                          sparse_evaluator, vjp_function)

#: The names ``fn.wait(*names)`` takes: each builds the derived functions its method calls.
PREPARABLE = ("grad", "hessian", "hvp", "jvp", "vjp", "jacobian", "sparse_jacobian", "sparse_hessian")


def prepare(fn, name: str) -> None:
    """Build (without calling) the derived functions that ``fn.<name>(...)`` calls, so that
    ``fn.wait(name)`` compiles them now and the method's first call runs compiled code."""
    if name not in PREPARABLE:
        raise ValueError(f"wait() takes the names of derivative methods to compile up front, one of "
                         f"{', '.join(PREPARABLE)}; got {name!r}")
    if name == "grad":
        fn._require_wrt()
    elif name == "hessian":
        if fn._tensor and any(w.shape for w in fn.wrt):
            hvp_function(fn)
        else:
            fn.grad_fn
    elif name in ("hvp", "jvp", "vjp"):
        {"hvp": hvp_function, "jvp": jvp_function, "vjp": vjp_function}[name](fn)
    elif name == "jacobian":
        _require_derivative_wrt(fn)
        if not fn._tensor:
            fn._require_wrt()
        else:
            m = sum(math.prod(o.shape) for o in fn.outputs)
            n = sum(math.prod(w.shape) for w in fn.wrt)
            (vjp_function if m <= n else jvp_function)(fn)
    else:
        of = name[len("sparse_"):]
        if of == "hessian" and (fn._many or fn.outputs[0].shape):
            hessian_sparsity(fn)  # raises, pointing to the Jacobian
        _cached(fn, f"{of} values", lambda: sparse_evaluator(fn, of))


def derived_functions(fn) -> dict:
    """The compiled functions made for ``fn``'s derivative methods so far, by what they are
    (``"gradient"``, ``"jvp"``, ``"compressed hessian"``, ...)."""
    found = {}
    if fn._grad_fn is not None:
        found["gradient"] = fn._grad_fn
    for key, kept in fn.__dict__.get("_derived", {}).items():
        kept = kept[0] if isinstance(kept, tuple) and kept else kept
        if isinstance(kept, type(fn)):
            found[key] = kept
    return found
