"""Numbers from the op table: each op evaluated with the semantics of the generated code,
built from its own ``fmt`` template (library text, never user text). Used by constant
folding, the eager ``Value`` API and the interpreter.

>>> evaluate("log", -1.0)
nan
>>> evaluate_array("sum", ((0,), False), [[1.0, 2.0]])
3.0
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .ops import OPS

_scalar_functions: dict[str, Callable] = {}


def _numeric(op) -> Callable:
    """The op's scalar implementation, made from its own source template.

    The template is library text, never user text. Evaluating it on
    ``numpy.float64`` operands gives exactly the semantics of the generated
    code (nan/inf as NumPy gives them, never an exception).
    """
    params = [f"a{i}" for i in range(op.arity)]
    body = op.fmt.format(*params)
    return eval(f"lambda {', '.join(params)}: {body}", _namespace(body))  # noqa: S307


def _namespace(body: str) -> dict:
    """The names an op's template calls: NumPy, math, and scipy.special's ufuncs (imported only
    for the special functions, ``_sf_<name>``)."""
    names = {"np": np, "math": math, "_erf": _erf_array}
    if "_sf_" in body:
        from .special import scipy_functions
        names.update(scipy_functions())
    return names


def evaluate(name: str, *values) -> float | complex | bool:
    """Apply op ``name`` to numbers with the semantics of the generated code."""
    fn = _scalar_functions.get(name)
    if fn is None:
        fn = _scalar_functions[name] = _numeric(OPS[name])
    with np.errstate(all="ignore"):
        result = fn(*(np.complex128(v) if isinstance(v, complex) else np.float64(v) for v in values))
    if OPS[name].result == "bool":
        return bool(result)
    return complex(result) if np.iscomplexobj(result) else float(result)


def _erf_array(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


_array_functions: dict = {}


def evaluate_array(name: str, params, values):
    """Apply op ``name`` (with ``params``) to numbers and arrays, as NumPy: constant folding and
    the eager Value API. A 0-d result is a Python number."""
    op = OPS[name]
    with np.errstate(all="ignore"):
        if op.impl is not None:
            result = op.impl(*values, **dict(zip(op.params or (), params or ())))
        else:
            fn = _array_functions.get(name)
            if fn is None:
                args = [f"a{i}" for i in range(op.arity)]
                body = (op.array_fmt or op.fmt).format(*args)
                fn = _array_functions[name] = eval(  # noqa: S307 - library text
                    f"lambda {', '.join(args)}: {body}", _namespace(body))
            result = fn(*(np.asarray(v, dtype=bool if isinstance(v, bool) else None) for v in values))
    result = np.asarray(result)
    if result.ndim == 0:
        kind = result.dtype.kind
        return bool(result) if kind == "b" else complex(result) if kind == "c" else float(result)
    return result
