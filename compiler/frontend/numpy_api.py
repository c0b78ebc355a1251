"""Expressions as NumPy duck arrays: NumPy's protocols and the ndarray methods on ``Node``.

* ``__array_ufunc__``: ``np.sin(x)``, ``np.add(a, x)``, ``np.add.reduce(x)``,
  ``np.multiply.outer(x, y)`` build IR (``UFUNCS``).
* ``__array_function__`` (NEP 18): ``np.sum(x)``, ``np.einsum(...)``,
  ``np.linalg.norm(x)`` call the library's implementation (``numpy_functions``
  lists them); any other NumPy function raises ``TypeError`` at the call,
  naming it -- never an array of Python objects holding nodes.
* ``__array__`` raises ``TypeError``: ``np.array([x, y])`` and ``np.asarray(x)``
  would make such arrays (``np.stack([x, y])`` is the way).
* ``out=None``, ``dtype=None`` (or float64) and ``where=True`` are accepted, as
  NumPy passes them on; anything else is a ``TypeError`` (expressions are
  immutable: there is no ``out`` to write to).

>>> import numpy as np, compiler as cc
>>> X = cc.Tensor("X", (3, 4))
>>> np.sum(X, axis=0).shape, np.einsum("ij->j", X) is np.sum(X, axis=0)
((4,), True)
"""

from __future__ import annotations

import sys

import numpy as np

from ..errors import UnsupportedFunctionError
from ..ir import Node, refuse_foreign_array
from . import arrays, linalg, scalar, special, special_more, tensors
from .dispatch import EAGER, call as _call, operand as _operand

_NO = np._NoValue  # NumPy's "argument not given"


def _check(what: str, out=None, dtype=None, where=True, **unknown) -> None:
    """Refuse NumPy keywords that have no meaning for an expression (and any not known here)."""
    if unknown:
        raise TypeError(f"{what}: keyword argument(s) {', '.join(sorted(unknown))} not supported on symbolic "
                        "expressions")
    if out is not None and not (isinstance(out, tuple) and all(o is None for o in out)):
        raise TypeError(f"{what}: out= is not supported: expressions are immutable; use the returned expression")
    if dtype is not None and np.dtype(dtype) != np.float64:
        raise TypeError(f"{what}: dtype={dtype!r} is not supported: expressions are float64")
    if not (where is True or isinstance(where, np.bool_) and where
            or isinstance(where, np.ndarray) and where.shape == () and where.dtype == bool and where[()]):
        raise TypeError(f"{what}: where= is not supported (use cc.where(mask, x, neutral) on the operand)")


# --- ufuncs ---

def _same(x):
    return x


def _binary(op):
    return lambda a, b: _call(op, a, b)


UFUNCS = {
    "add": _binary("add"), "subtract": _binary("sub"), "multiply": _binary("mul"), "divide": _binary("div"),
    "true_divide": _binary("div"), "power": _binary("pow"), "float_power": _binary("pow"),
    "negative": lambda a: _call("neg", a), "positive": _same, "conjugate": scalar.conj, "reciprocal": scalar.reciprocal,
    "exp": scalar.exp, "exp2": scalar.exp2, "expm1": scalar.expm1, "log": scalar.log, "log2": scalar.log2,
    "log10": scalar.log10, "log1p": scalar.log1p, "sqrt": scalar.sqrt, "cbrt": scalar.cbrt, "square": scalar.square,
    "sin": scalar.sin, "cos": scalar.cos, "tan": scalar.tan, "arcsin": scalar.asin, "arccos": scalar.acos,
    "arctan": scalar.atan, "arctan2": scalar.atan2, "sinh": scalar.sinh, "cosh": scalar.cosh, "tanh": scalar.tanh,
    "arcsinh": scalar.asinh, "arccosh": scalar.acosh, "arctanh": scalar.atanh, "hypot": scalar.hypot,
    "deg2rad": scalar.deg2rad, "radians": scalar.deg2rad, "rad2deg": scalar.rad2deg, "degrees": scalar.rad2deg,
    "absolute": scalar.abs, "fabs": scalar.abs, "sign": scalar.sign, "floor": scalar.floor, "ceil": scalar.ceil,
    "rint": scalar.rint, "trunc": scalar.trunc, "maximum": scalar.maximum, "minimum": scalar.minimum,
    "fmax": scalar.fmax, "fmin": scalar.fmin, "logaddexp": scalar.logaddexp, "logaddexp2": scalar.logaddexp2,
    "remainder": scalar.mod, "floor_divide": scalar.floor_divide,
    "divmod": lambda a, b: (scalar.floor_divide(a, b), scalar.mod(a, b)),
    "less": _binary("lt"), "less_equal": _binary("le"), "greater": _binary("gt"), "greater_equal": _binary("ge"),
    "equal": _binary("eq"), "matmul": linalg.matmul,
    "vecdot": lambda a, b: tensors.sum(a * b, -1),
    "matvec": lambda m, v: arrays.squeeze(linalg.matmul(m, arrays.expand_dims(v, -1)), -1),
    "vecmat": lambda v, m: arrays.squeeze(linalg.matmul(arrays.expand_dims(v, -2), m), -2),
}
UFUNCS.update({"logical_and": special.logical_and, "logical_or": special.logical_or,
               "logical_xor": special.logical_xor, "logical_not": special.logical_not,
               "not_equal": lambda a, b: special.logical_not(_call("eq", a, b)), "heaviside": special.heaviside})
# scipy.special's functions are ufuncs too (scipy.special.gammaln(X)); erf is NumPy-less
UFUNCS.update(special.SCIPY_UFUNCS, erf=scalar.erf)
UFUNCS.update(special_more.SCIPY_UFUNCS)
_REDUCE = {"add": tensors.sum, "multiply": tensors.prod, "maximum": tensors.max, "minimum": tensors.min,
           "logaddexp": tensors.logsumexp}
_ACCUMULATE = {"add": tensors.cumsum, "multiply": tensors.cumprod}
_UFUNC_HINTS = {
    **dict.fromkeys(("isnan", "isinf", "isfinite", "signbit"),
                    "conditions are comparisons (x < y, x >= 0, np.equal) used in cc.where(condition, a, b)"),
    **dict.fromkeys(("bitwise_and", "bitwise_or", "bitwise_xor", "invert", "left_shift", "right_shift", "gcd",
                     "lcm"), "expressions are float64: no integer operations"),
    "fmod": "np.remainder (np.mod, %) has the sign of the divisor; np.fmod is not supported",
}


def _operands_known(inputs) -> bool:
    return all(isinstance(a, (Node, np.ndarray, np.generic, int, float, list, tuple)) or type(a) in EAGER
               for a in inputs)


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    if not _operands_known(inputs):
        return NotImplemented
    name = ufunc.__name__
    what = f"numpy.{name}" + ("" if method == "__call__" else f".{method}")
    for harmless in ("casting", "order", "subok"):  # no meaning for float64 expressions
        kwargs.pop(harmless, None)
    if kwargs.get("signature") is None:
        kwargs.pop("signature", None)
    inputs = [arrays.asarray(a) if isinstance(a, (list, tuple)) else a for a in inputs]
    if method == "__call__":
        fn = UFUNCS.get(name)
        if fn is None:
            _unsupported(what, _UFUNC_HINTS.get(name, ""))
        _check(what, **kwargs)
        return fn(*inputs)
    if method == "reduce" and name in _REDUCE:
        (x,) = inputs
        axis, keepdims, initial = kwargs.pop("axis", 0), kwargs.pop("keepdims", False), kwargs.pop("initial", _NO)
        _check(what, **kwargs)
        return _with_initial(name, x, axis, keepdims, initial)
    if method == "accumulate" and name in _ACCUMULATE:
        (x,) = inputs
        axis = kwargs.pop("axis", 0)
        _check(what, **kwargs)
        return _ACCUMULATE[name](x, axis)
    if method == "outer" and name in UFUNCS and ufunc.nin == 2:
        _check(what, **kwargs)
        a, b = (_operand(t, f"an operand of {what}") for t in inputs)
        return UFUNCS[name](arrays.reshape(a, a.shape + (1,) * len(b.shape)), b)
    _unsupported(what, "reduce: add, multiply, maximum, minimum, logaddexp; accumulate: add, multiply; "
                       "outer: the binary ufuncs")


def _with_initial(name: str, x, axis, keepdims, initial):
    if initial is _NO or initial is None:
        return _REDUCE[name](x, axis, keepdims)
    combine = {"add": _binary("add"), "multiply": _binary("mul"), "maximum": scalar.maximum,
               "minimum": scalar.minimum, "logaddexp": scalar.logaddexp}[name]
    from .numpy_signatures import with_initial
    return with_initial(_REDUCE[name], combine, x, axis, keepdims, float(initial))


# --- NumPy functions ---

HANDLED: dict = {}


def implements(*functions):
    """Register the decorated function as the implementation of NumPy's ``functions``."""
    def register(fn):
        for f in functions:
            if f is not None:
                HANDLED[f] = fn
        return fn
    return register


def _unsupported(what: str, hint: str = ""):
    raise UnsupportedFunctionError(
        f"{what} is not supported on symbolic expressions{'; ' + hint if hint else ''}. The NumPy "
        "functions that are: cc.numpy_functions() (and the docs page docs/guide/numpy-functions.md)")


_HINTS = {
    **dict.fromkeys(("sort", "argsort", "partition", "argpartition", "median", "percentile", "quantile",
                     "nanmedian", "nanpercentile", "nanquantile", "msort", "sort_complex", "lexsort"),
                    "sorting and order statistics have no derivative rule here"),
    **dict.fromkeys(("argmax", "argmin", "nonzero", "argwhere", "flatnonzero", "unique", "searchsorted",
                     "count_nonzero", "nanargmax", "nanargmin", "unique_values", "unique_counts"),
                    "the result is data-dependent integers or shapes; cc.max, cc.min and cc.where give values"),
    **dict.fromkeys(("array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray", "copyto", "fill"),
                    "an expression is not an array of numbers; np.stack([x, y]) joins expressions"),
    **dict.fromkeys(("pinv", "eig", "eigvals", "svd", "svdvals", "qr", "matrix_rank", "cond",
                     "tensorinv", "tensorsolve"),
                    "of the decompositions and solvers, solve, lstsq, inv, det, slogdet, cholesky, eigh and eigvalsh "
                    "are (cc.linalg adds solve_triangular, cho_factor, cho_solve)"),
    **dict.fromkeys(("allclose", "isclose", "array_equal", "array_equiv", "any", "all"),
                    "a symbolic expression has no value to compare yet: compile it and compare the numbers"),
}


def _array_function(self, func, types, args, kwargs):
    if not all(issubclass(t, (Node, np.ndarray)) for t in types):
        return NotImplemented
    fn = HANDLED.get(func)
    if fn is None:
        name = getattr(func, "__name__", repr(func))
        module = getattr(func, "__module__", "numpy") or "numpy"
        module = "numpy.linalg" if "linalg" in module else "numpy.fft" if "fft" in module else "numpy"
        _unsupported(f"{module}.{name}", _HINTS.get(name, ""))
    return fn(*args, **kwargs)


def _no_array(self, dtype=None, copy=None):
    # ``masked + x`` converts x inside numpy.ma (it never defers to x's reflected operator):
    # say that the masked array is what is refused, as every other position does
    if sys._getframe(1).f_globals.get("__name__") == "numpy.ma.core":
        refuse_foreign_array(np.ma.masked_array(()), "an operand")
    raise UnsupportedFunctionError(
        f"symbolic expression {self!r:.60} cannot become a NumPy array of numbers (np.array, np.asarray, or a "
        "NumPy function that converts its operands): it has no value until compiled. Join expressions with "
        "np.stack / cc.stack; use the library's functions (cc.numpy_functions()) on them")


def numpy_functions() -> list[str]:
    """The NumPy functions and ufuncs that work on expressions (``np.sum(x)``, ``np.sin(x)``),
    by their NumPy names. Any other raises ``TypeError`` when called with an expression."""
    names = set()
    for f in HANDLED:
        module = "numpy.linalg." if "linalg" in (getattr(f, "__module__", "") or "") else "numpy."
        names.add(module + f.__name__)
    names |= {f"numpy.{u}" for u in UFUNCS}
    return sorted(names)


Node.__array_ufunc__ = _array_ufunc
Node.__array_function__ = _array_function
Node.__array__ = _no_array

from . import numpy_signatures as _signatures  # noqa: E402,F401 - fills HANDLED, installs the methods
