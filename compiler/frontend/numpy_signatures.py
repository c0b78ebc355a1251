"""NumPy's functions, with NumPy's signatures, on expressions; and the ndarray methods.

Each entry takes the arguments NumPy's function takes (positional or by
keyword: NEP 18 hands them over as the caller wrote them), refuses those that
have no meaning for an expression (``numpy_api._check``) and calls the
library's function. ``numpy_api`` holds the protocols that route calls here.

>>> import numpy as np, compiler as cc
>>> x = cc.Tensor("x", (2, 3))
>>> np.var(x, axis=1, ddof=1).shape, x.ravel().shape, np.linalg.norm(x).shape
((2,), (6,), ())
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import UnsupportedError
from ..ir import Node, dtypes
from ..ir import shapes as _shapes
from . import arrays, indexing, linalg, manipulation, scalar, tensors
from .dispatch import operand as _node
from .numpy_api import _NO, _check, implements

_linalg = np.linalg


def _given(value, default):
    return default if value is _NO else value


def _extremum(reduce, combine):
    def fn(a, axis=None, out=None, keepdims=False, initial=_NO, where=True):
        _check(f"numpy.{reduce.__name__}", out=out, where=where)
        if initial is not _NO and initial is not None:
            return with_initial(reduce, combine, a, axis, keepdims, float(initial))
        return reduce(a, axis, keepdims)
    return fn


def with_initial(reduce, combine, a, axis, keepdims: bool, initial: float):
    """``combine(reduce(a), initial)``; over an empty axis the reduction has no elements, so the
    result is ``initial`` itself (as ``np.max(empty, initial=3.0)``)."""
    a = _node(arrays.asarray(a), f"the operand of numpy.{reduce.__name__}")
    axes = _shapes.normalize_axes(axis, len(a.shape), f"numpy.{reduce.__name__}")
    if any(a.shape[k] == 0 for k in axes):
        return arrays.broadcast_to(initial, _shapes.reduce_shape(a.shape, axes, bool(keepdims)))
    return combine(reduce(a, axes, keepdims), initial)


# --- reductions ---

@implements(np.sum)
def _sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NO, where=True):
    _check("numpy.sum", out=out, dtype=dtype, where=where)
    result = tensors.sum(arrays.asarray(a), axis, keepdims)
    return result if initial is _NO else result + float(initial)


@implements(np.prod)
def _prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NO, where=True):
    _check("numpy.prod", out=out, dtype=dtype, where=where)
    result = tensors.prod(arrays.asarray(a), axis, keepdims)
    return result if initial is _NO else result * float(initial)


@implements(np.mean)
def _mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    _check("numpy.mean", out=out, dtype=dtype, where=where)
    return tensors.mean(arrays.asarray(a), axis, keepdims)


implements(np.max, getattr(np, "amax", None))(_extremum(tensors.max, scalar.maximum))
implements(np.min, getattr(np, "amin", None))(_extremum(tensors.min, scalar.minimum))


def _spread(function):
    def fn(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True, mean=_NO, correction=_NO):
        _check(f"numpy.{function.__name__}", out=out, dtype=dtype, where=where)
        if mean is not _NO:
            raise TypeError(f"numpy.{function.__name__}: mean= is not supported on symbolic expressions")
        return function(arrays.asarray(a), axis, keepdims, _given(correction, ddof))
    return fn


implements(np.var)(_spread(tensors.var))
implements(np.std)(_spread(tensors.std))


@implements(np.ptp)
def _ptp(a, axis=None, out=None, keepdims=False):
    _check("numpy.ptp", out=out)
    return tensors.max(a, axis, keepdims) - tensors.min(a, axis, keepdims)


@implements(np.average)
def _average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    a = arrays.asarray(a)
    if weights is None:
        avg = tensors.mean(a, axis, keepdims)
        total = arrays.broadcast_to(float(a.size // max(avg.size, 1)), avg.shape)
    else:
        w = arrays.asarray(weights)
        if w.shape != a.shape:  # 1-D weights along one axis, as NumPy
            if axis is None or len(w.shape) != 1:
                raise TypeError("numpy.average: weights of another shape than a need a single axis")
            w = arrays.reshape(w, tuple(d if k == axis % len(a.shape) else 1 for k, d in enumerate(a.shape)))
        total = tensors.sum(arrays.broadcast_to(w, a.shape), axis, keepdims)
        avg = tensors.sum(a * w, axis, keepdims) / total
    return (avg, total) if returned else avg


@implements(np.cumsum)
def _cumsum(a, axis=None, dtype=None, out=None):
    _check("numpy.cumsum", out=out, dtype=dtype)
    return tensors.cumsum(a, axis)


@implements(np.cumprod)
def _cumprod(a, axis=None, dtype=None, out=None):
    _check("numpy.cumprod", out=out, dtype=dtype)
    return tensors.cumprod(a, axis)


def _cumulative(function, neutral):
    def fn(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
        _check(f"numpy.cumulative_{function.__name__[3:]}", out=out, dtype=dtype)
        x = _node(x, "the operand")
        if axis is None and len(x.shape) > 1:
            raise ValueError("axis must be specified for multi-dimensional arrays")
        result = function(x, 0 if axis is None else axis)
        if include_initial:
            ax = 0 if axis is None else axis % len(x.shape)
            start = arrays.broadcast_to(neutral, x.shape[:ax] + (1,) + x.shape[ax + 1:])
            result = arrays.concatenate([start, result], axis=ax)
        return result
    return fn


implements(getattr(np, "cumulative_sum", None))(_cumulative(tensors.cumsum, 0.0))
implements(getattr(np, "cumulative_prod", None))(_cumulative(tensors.cumprod, 1.0))


# --- elementwise functions that are not ufuncs ---

@implements(np.clip)
def _clip(a, a_min=_NO, a_max=_NO, out=None, *, min=_NO, max=_NO, **kwargs):  # noqa: A002 - NumPy's names
    _check("numpy.clip", out=out, dtype=kwargs.pop("dtype", None), where=kwargs.pop("where", True))
    lo, hi = _given(min, _given(a_min, None)), _given(max, _given(a_max, None))
    return scalar.clip(a, lo, hi)


@implements(np.round, getattr(np, "around", None))
def _round(a, decimals=0, out=None):
    _check("numpy.round", out=out)
    if _shapes.as_int(decimals) is None:
        raise TypeError(f"numpy.round: decimals must be an integer, got {type(decimals).__name__}: {decimals!r}")
    decimals = _shapes.as_int(decimals)
    if decimals == 0:
        return scalar.rint(a)
    scale = 10.0 ** abs(decimals)  # NumPy's own steps: rint(a * 10**d) / 10**d
    return scalar.rint(a * scale) / scale if decimals > 0 else scalar.rint(a / scale) * scale


@implements(np.fix)
def _fix(x, out=None):
    _check("numpy.fix", out=out)
    return scalar.trunc(x)


@implements(np.where)
def _where(condition, x=_NO, y=_NO):
    if x is _NO or y is _NO:
        raise TypeError("np.where(condition) with one argument gives data-dependent indices: not supported "
                        "on symbolic expressions; np.where(condition, x, y) is")
    return scalar.where(condition, x, y)


@implements(np.select)
def _select(condlist, choicelist, default=0):
    out = default
    for cond, choice in reversed(list(zip(condlist, choicelist))):
        out = scalar.where(cond, choice, out)
    return out


@implements(np.nan_to_num)
def _nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    return scalar.nan_to_num(x, nan, posinf, neginf)


@implements(np.real)
def _real(val):
    return scalar.real(val)


@implements(np.real_if_close)
def _real_if_close(val, tol=100):
    val = _node(val, "the operand of real_if_close")
    if dtypes.is_complex(val):  # whether the imaginary part is small is known only at run time
        raise UnsupportedError("numpy.real_if_close of a complex expression: its type would depend on the "
                               "values; take np.real(...) (or cc.real) explicitly")
    return val


@implements(np.imag)
def _imag(val):
    return scalar.imag(val)


@implements(np.angle)
def _angle(z, deg=False):
    angle = scalar.angle(z)
    return scalar.rad2deg(angle) if deg else angle


def _like(fill):
    def fn(a, dtype=None, order="K", subok=True, shape=None, **kwargs):
        _check("numpy.zeros_like", dtype=dtype)
        a = _node(a, "the operand")
        return arrays.broadcast_to(float(fill(kwargs)), a.shape if shape is None else tuple(np.atleast_1d(shape)))
    return fn


implements(np.zeros_like, np.empty_like)(_like(lambda k: 0.0))
implements(np.ones_like)(_like(lambda k: 1.0))


@implements(np.full_like)
def _full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, **kwargs):
    return _like(lambda k: fill_value)(a, dtype, order, subok, shape)


@implements(np.shape)
def _shape(a):
    return _node(a, "the operand").shape


@implements(np.ndim)
def _ndim(a):
    return len(_node(a, "the operand").shape)


@implements(np.size)
def _size(a, axis=None):
    shape = _node(a, "the operand").shape
    return math.prod(shape) if axis is None else shape[axis]


@implements(np.copy)
def _copy(a, order="K", subok=False):
    return a


# --- shapes, joins, rearrangements, indexing, products: the same signatures as NumPy's ---

@implements(np.reshape)
def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    return arrays.reshape(a, shape if shape is not None else newshape, order=order)


@implements(np.concatenate, getattr(np, "concat", None))
def _concatenate(arrays_, axis=0, out=None, *, dtype=None, casting="same_kind"):
    _check("numpy.concatenate", out=out, dtype=dtype)
    return arrays.concatenate(arrays_, axis)


@implements(np.stack)
def _stack(arrays_, axis=0, out=None, *, dtype=None, casting="same_kind"):
    _check("numpy.stack", out=out, dtype=dtype)
    return arrays.stack(arrays_, axis)


def _joins(function):
    def fn(tup, *, dtype=None, casting="same_kind"):
        _check(f"numpy.{function.__name__}", dtype=dtype)
        return function(tup)
    return fn


implements(np.vstack, getattr(np, "row_stack", None))(_joins(arrays.vstack))
implements(np.hstack)(_joins(arrays.hstack))
implements(np.dstack)(arrays.dstack)
implements(np.column_stack)(arrays.column_stack)


@implements(np.take)
def _take(a, indices, axis=None, out=None, mode="raise"):
    _check("numpy.take", out=out)
    if mode != "raise":
        raise TypeError(f"numpy.take: mode={mode!r} is not supported (out-of-range indices raise)")
    return indexing.take(a, indices, axis)


@implements(np.compress)
def _compress(condition, a, axis=None, out=None):
    _check("numpy.compress", out=out)
    return indexing.compress(condition, a, axis)


@implements(np.einsum)
def _einsum(*operands, out=None, optimize=False, **kwargs):
    _check("numpy.einsum", out=out, dtype=kwargs.pop("dtype", None))
    return linalg.einsum(*operands)


@implements(np.dot)
def _dot(a, b, out=None):
    _check("numpy.dot", out=out)
    return linalg.dot(a, b)


@implements(np.outer)
def _outer(a, b, out=None):
    _check("numpy.outer", out=out)
    return linalg.outer(a, b)


@implements(np.trace)
def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    _check("numpy.trace", out=out, dtype=dtype)
    return linalg.trace(a, offset, axis1, axis2)


@implements(np.diff)
def _diff(a, n=1, axis=-1, prepend=_NO, append=_NO):
    return manipulation.diff(a, n, axis, _given(prepend, None), _given(append, None))


@implements(np.linspace)
def _linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, **kwargs):
    _check("numpy.linspace", dtype=dtype)
    return manipulation.linspace(start, stop, num, endpoint, retstep, axis)


@implements(_linalg.norm)
def _norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - NumPy's name
    return linalg.norm(x, ord, axis, keepdims)


@implements(getattr(_linalg, "vector_norm", None))
def _vector_norm(x, /, *, axis=None, keepdims=False, ord=2):  # noqa: A002
    x = _node(x, "the operand of vector_norm")
    if axis is None:
        return linalg.norm(arrays.reshape(x, -1), ord, 0, False) if not keepdims else \
            arrays.reshape(linalg.norm(arrays.reshape(x, -1), ord, 0), (1,) * len(x.shape))
    return linalg.norm(x, ord, axis, keepdims)


@implements(getattr(_linalg, "matrix_norm", None))
def _matrix_norm(x, /, *, keepdims=False, ord="fro"):  # noqa: A002
    return linalg.norm(x, ord, (-2, -1), keepdims)


@implements(_linalg.matrix_power)
def _matrix_power(a, n):
    a = _node(a, "the operand of matrix_power")
    if n < 0:
        raise TypeError("np.linalg.matrix_power with a negative power needs an inverse: not supported")
    if n == 0:
        return arrays.broadcast_to(np.eye(a.shape[-1]), a.shape)
    result, base = None, a
    while n:  # binary powering: log2(n) products
        if n & 1:
            result = base if result is None else linalg.matmul(result, base)
        n >>= 1
        if n:
            base = linalg.matmul(base, base)
    return result


@implements(getattr(_linalg, "matrix_transpose", None), getattr(np, "matrix_transpose", None))
def _matrix_transpose(x, /):
    return arrays.swapaxes(x, -1, -2)


@implements(getattr(_linalg, "vecdot", None))
def _linalg_vecdot(x1, x2, /, *, axis=-1):
    return tensors.sum(x1 * x2, axis)


def _plain(*pairs):
    """NumPy functions whose signature is the library function's own."""
    for np_function, function in pairs:
        if np_function is not None:
            implements(np_function)(function)


_plain((np.ravel, arrays.ravel), (np.transpose, lambda a, axes=None: arrays.transpose(a, axes)),
       (getattr(np, "permute_dims", None), lambda a, axes=None: arrays.transpose(a, axes)),
       (np.moveaxis, arrays.moveaxis), (np.swapaxes, arrays.swapaxes), (np.rollaxis, arrays.rollaxis),
       (np.broadcast_to, lambda array, shape, subok=False: arrays.broadcast_to(array, shape)),
       (np.broadcast_arrays, lambda *args, subok=False: arrays.broadcast_arrays(*args)),
       (np.squeeze, arrays.squeeze), (np.expand_dims, arrays.expand_dims), (np.atleast_1d, arrays.atleast_1d),
       (np.atleast_2d, arrays.atleast_2d), (np.atleast_3d, arrays.atleast_3d), (np.split, arrays.split),
       (np.array_split, arrays.array_split), (np.vsplit, arrays.vsplit), (np.hsplit, arrays.hsplit),
       (np.dsplit, arrays.dsplit), (np.append, arrays.append), (np.flip, manipulation.flip),
       (np.flipud, manipulation.flipud), (np.fliplr, manipulation.fliplr), (np.roll, manipulation.roll),
       (np.rot90, manipulation.rot90), (np.pad, manipulation.pad), (np.tile, manipulation.tile),
       (np.repeat, manipulation.repeat), (np.gradient, manipulation.gradient), (np.extract, indexing.extract),
       (np.delete, indexing.delete), (np.vdot, linalg.vdot), (np.inner, linalg.inner), (np.kron, linalg.kron),
       (np.tensordot, linalg.tensordot), (np.diagonal, linalg.diagonal), (np.diag, linalg.diag),
       (np.diagflat, linalg.diagflat), (np.tril, linalg.tril), (np.triu, linalg.triu), (np.cross, linalg.cross),
       (getattr(_linalg, "outer", None), linalg.outer), (getattr(_linalg, "tensordot", None), linalg.tensordot),
       (getattr(_linalg, "cross", None), linalg.cross),
       (getattr(_linalg, "trace", None), lambda x, /, *, offset=0, dtype=None: linalg.trace(x, offset, -2, -1)),
       (getattr(_linalg, "diagonal", None), lambda x, /, *, offset=0: linalg.diagonal(x, offset, -2, -1)))


# --- the ndarray methods ---

def _install_methods() -> None:
    # NumPy's positional order (axis, dtype, out, keepdims); a bool second is the library's own
    # older x.sum(axis, keepdims), which no NumPy call can mean (a bool is neither dtype nor out)
    def reduction(function, name):
        def method(self, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
            if isinstance(dtype, bool):
                dtype, keepdims = None, dtype
            _check(f"x.{name}()", out=out, dtype=dtype, where=kwargs.pop("where", True))
            if kwargs:
                raise TypeError(f"x.{name}(): unsupported keyword argument(s) {sorted(kwargs)}")
            return function(self, axis, keepdims)
        return method

    def extremum(function, name):
        def method(self, axis=None, out=None, keepdims=False, initial=_NO, where=True):
            if isinstance(out, bool):
                out, keepdims = None, out
            return _extremum(function, scalar.maximum if name == "max" else scalar.minimum)(
                self, axis, out, keepdims, initial, where)
        return method
    Node.sum = reduction(tensors.sum, "sum")
    Node.mean = reduction(tensors.mean, "mean")
    Node.prod = reduction(tensors.prod, "prod")
    Node.max = extremum(tensors.max, "max")
    Node.min = extremum(tensors.min, "min")
    Node.var = lambda self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw: \
        _spread(tensors.var)(self, axis, dtype, out, ddof, keepdims, **kw)
    Node.std = lambda self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw: \
        _spread(tensors.std)(self, axis, dtype, out, ddof, keepdims, **kw)
    Node.ptp = lambda self, axis=None, out=None, keepdims=False: _ptp(self, axis, out, keepdims)
    Node.cumsum = lambda self, axis=None, dtype=None, out=None: _cumsum(self, axis, dtype, out)
    Node.cumprod = lambda self, axis=None, dtype=None, out=None: _cumprod(self, axis, dtype, out)
    Node.clip = lambda self, min=None, max=None, out=None, **kw: _clip(self, min, max, out, **kw)  # noqa: A002
    Node.round = lambda self, decimals=0, out=None: _round(self, decimals, out)
    Node.__round__ = lambda self, ndigits=None: _round(self, 0 if ndigits is None else ndigits)
    Node.logsumexp = lambda self, axis=None, keepdims=False: tensors.logsumexp(self, axis, keepdims)
    Node.softmax = lambda self, axis=-1: tensors.softmax(self, axis)
    Node.log_softmax = lambda self, axis=-1: tensors.log_softmax(self, axis)
    Node.reshape = lambda self, *shape, order="C": arrays.reshape(self, *shape, order=order)
    Node.transpose = arrays.transpose
    Node.T = property(lambda self: arrays.transpose(self))
    Node.mT = property(lambda self: arrays.swapaxes(self, -1, -2))
    Node.ravel = lambda self, order="C": arrays.ravel(self, order)
    Node.flatten = lambda self, order="C": arrays.ravel(self, order)
    Node.squeeze = lambda self, axis=None: arrays.squeeze(self, axis)
    Node.swapaxes = arrays.swapaxes
    Node.repeat = lambda self, repeats, axis=None: manipulation.repeat(self, repeats, axis)
    Node.take = lambda self, indices, axis=None, out=None, mode="raise": _take(self, indices, axis, out, mode)
    Node.dot = lambda self, b, out=None: _dot(self, b, out)
    Node.trace = lambda self, offset=0, axis1=0, axis2=1, dtype=None, out=None: \
        _trace(self, offset, axis1, axis2, dtype, out)
    Node.diagonal = lambda self, offset=0, axis1=0, axis2=1: linalg.diagonal(self, offset, axis1, axis2)
    Node.conj = Node.conjugate = lambda self: scalar.conj(self)
    Node.real = property(lambda self: scalar.real(self))
    Node.imag = property(lambda self: scalar.imag(self))
    Node.copy = lambda self, order="C": self
    Node.astype = _astype
    Node.ndim = property(lambda self: len(self.shape))
    Node.size = property(lambda self: math.prod(self.shape))
    Node.__getitem__ = indexing.getitem
    Node.__matmul__ = lambda self, other: linalg.matmul(self, other)
    Node.__rmatmul__ = lambda self, other: linalg.matmul(other, self)

    def length(self):
        if not self.shape:
            raise TypeError("len() of a scalar expression")
        return self.shape[0]

    def iterate(self):
        if not self.shape:
            raise TypeError("iteration over a scalar expression")
        return (indexing.getitem(self, k) for k in range(self.shape[0]))
    Node.__len__ = length
    Node.__iter__ = iterate


def _astype(self, dtype, *args, **kwargs):
    if np.dtype(dtype) != np.float64:
        raise TypeError(f"x.astype({dtype!r}): expressions are float64 (integer and other casts are not supported)")
    return self


_install_methods()
