"""Tensor front-end: array inputs, reductions and running sums and products.

Expressions may have a shape: ``cc.Tensor("W", (2, 16))`` is a float64 input
of that shape, NumPy arrays mix in as constants, and every scalar function
(``cc.tanh``, ``+``, ``cc.where`` ...) applies elementwise with NumPy
broadcasting. Shapes are checked when the expression is built: a mismatch is
a ``ShapeError`` (a ``ValueError``) naming the shapes. Reshaping and joins are
in ``arrays``, indexing in ``indexing``, products in ``linalg``.

>>> import compiler as cc
>>> W, x = cc.Tensor("W", (2, 3)), cc.Tensor("x", (3,))
>>> (W @ x).shape, cc.sum(W, axis=0).shape, W.T.shape
((2,), (3,), (3, 2))

The same functions are methods (``W.sum(axis=0)``, ``W.reshape(3, 2)``,
``x.softmax()``) and work on eager ``cc.Value`` arrays.
"""

from __future__ import annotations

import builtins
import math
from typing import Optional, Union

from .. import ir
from ..errors import ShapeError
from ..ir import Node
from ..ir import shapes as _shapes
from .arrays import broadcast_to, concatenate, reshape, transpose
from .dispatch import call as _build, operand as _node
from .indexing import getitem
from .scalar import abs as abs_, exp, log, sqrt, where

AxisLike = Optional[Union[int, tuple[int, ...]]]


def Tensor(name: str, shape, dtype: str = "float64") -> Node:
    """A tensor input of fixed ``shape`` and precision ``dtype`` ("float64", "float32" or "complex128");
    the same name, shape and dtype give the same node.

    >>> Tensor("X", (256, 2), dtype="float32").shape
    (256, 2)
    """
    return ir.symbol(name, ir.check_shape(shape, f"the shape of Tensor {name!r}"), dtype)


def _reduce(op_name: str, x, axis, keepdims: bool):
    x = _node(x, f"the operand of {op_name}")
    axes = _shapes.normalize_axes(axis, len(x.shape), op_name)
    if not axes:
        return x
    if op_name in ("amax", "amin") and any(x.shape[a] == 0 for a in axes):
        raise ShapeError(f"{op_name[1:]}: reduction over an axis of size 0 (shape {x.shape}) has no value")
    return _build(op_name, x, params=(axes, bool(keepdims)))


# --- reductions ---

def sum(x, axis: AxisLike = None, keepdims: bool = False):  # noqa: A001 - mirrors np.sum
    """Sum over ``axis`` (all axes by default), as ``np.sum``.

    >>> sum(Tensor("A", (2, 3)), axis=1, keepdims=True).shape
    (2, 1)
    """
    return _reduce("sum", x, axis, keepdims)


def mean(x, axis: AxisLike = None, keepdims: bool = False):
    """Mean over ``axis`` (all axes by default), as ``np.mean``."""
    x = _node(x, "the operand of mean")
    axes = _shapes.normalize_axes(axis, len(x.shape), "mean")
    count = math.prod(x.shape[a] for a in axes)
    return _reduce("sum", x, axes, keepdims) / float(count)


def max(x, axis: AxisLike = None, keepdims: bool = False):  # noqa: A001 - mirrors np.max
    """Largest element over ``axis``; the adjoint is shared equally by tied maxima."""
    return _reduce("amax", x, axis, keepdims)


def min(x, axis: AxisLike = None, keepdims: bool = False):  # noqa: A001 - mirrors np.min
    """Smallest element over ``axis``; the adjoint is shared equally by tied minima."""
    return _reduce("amin", x, axis, keepdims)


def var(x, axis: AxisLike = None, keepdims: bool = False, ddof: int = 0):
    """Variance over ``axis``: ``sum((x - mean)**2) / (n - ddof)``, computed as ``np.var`` does."""
    x = _node(x, "the operand of var")
    axes = _shapes.normalize_axes(axis, len(x.shape), "var")
    count = math.prod(x.shape[a] for a in axes)
    d = x - mean(x, axes, keepdims=True)
    return _reduce("sum", d * d, axes, keepdims) / float(builtins.max(count - ddof, 0))


def std(x, axis: AxisLike = None, keepdims: bool = False, ddof: int = 0):
    """Standard deviation, ``sqrt(var(x))`` (its derivative is nan where the variance is 0)."""
    return sqrt(var(x, axis, keepdims, ddof))


def prod(x, axis: AxisLike = None, keepdims: bool = False):
    """Product over ``axis``, as ``np.prod``.

    Composed of ``*``: the axis is halved ``log2(n)`` times (a pairwise product tree), so the
    derivative needs no division and is exact where elements are 0. Rounding can differ from
    NumPy's in the last bits (a different order of the products).
    """
    x = _node(x, "the operand of prod")
    axes = _shapes.normalize_axes(axis, len(x.shape), "prod")
    if not axes:
        return x
    out_shape = _shapes.reduce_shape(x.shape, axes, keepdims)
    if any(x.shape[a] == 0 for a in axes):
        return broadcast_to(1.0, out_shape)  # the empty product
    kept = [a for a in range(len(x.shape)) if a not in axes]
    # the reduced axes last, as one axis
    flat = reshape(transpose(x, tuple(kept) + axes), tuple(x.shape[a] for a in kept) + (-1,))
    n = flat.shape[-1]
    size = 1 << (n - 1).bit_length()  # the next power of 2: pad with ones (exact: 1 * y is y)
    if size != n:
        flat = concatenate([flat, broadcast_to(1.0, flat.shape[:-1] + (size - n,))], axis=-1)
    while flat.shape[-1] > 1:
        half = flat.shape[-1] // 2
        flat = getitem(flat, (Ellipsis, slice(0, half))) * getitem(flat, (Ellipsis, slice(half, None)))
    return reshape(flat, out_shape)


def stop_gradient(x):
    """``x`` itself, with derivative 0: what flows through it is treated as a constant."""
    return _build("stop_gradient", x)


def logsumexp(x, axis: AxisLike = None, keepdims: bool = False):
    """``log(sum(exp(x)))`` over ``axis``, without overflow: the max is shifted out first.

    The shift is held by ``stop_gradient`` (the result does not depend on it),
    so derivatives of every order are those of the plain formula.
    """
    x = _node(x, "the operand of logsumexp")
    axes = _shapes.normalize_axes(axis, len(x.shape), "logsumexp")
    if not axes:
        return x
    m = stop_gradient(_reduce("amax", x, axes, True))
    m = stop_gradient(where(_build("lt", abs_(m), math.inf), m, 0.0))  # all -inf (or an inf): no shift
    out = log(_reduce("sum", exp(x - m), axes, True)) + m
    return out if keepdims else reshape(out, _shapes.reduce_shape(x.shape, axes, False))


def softmax(x, axis: int = -1):
    """``exp(x) / sum(exp(x))`` along ``axis``, computed as ``exp(x - logsumexp(x))``: no overflow."""
    return exp(x - logsumexp(x, axis=axis, keepdims=True))


def log_softmax(x, axis: int = -1):
    """``x - logsumexp(x)`` along ``axis``: the log of ``softmax``, accurate where softmax underflows."""
    return x - logsumexp(x, axis=axis, keepdims=True)


# --- running sums and products ---

def _along(x, axis, what: str):
    """``x`` and a non-negative axis; ``axis=None`` runs over the flattened ``x``, as NumPy."""
    x = _node(x, f"the operand of {what}")
    if axis is None:
        return reshape(x, -1), 0
    if not x.shape:
        raise ShapeError(f"{what}: a scalar has no axis {axis} (use axis=None)")
    return x, _shapes.normalize_axis(axis, len(x.shape), what)


def cumsum(x, axis: int | None = None):
    """Running sums along ``axis`` (of the flattened ``x`` by default), as ``np.cumsum``.
    One op; its adjoint is the running sum of the adjoint from the other end."""
    x, axis = _along(x, axis, "cumsum")
    return _build("cumsum", x, params=(axis, False))


def cumprod(x, axis: int | None = None):
    """Running products along ``axis`` (of the flattened ``x`` by default), as ``np.cumprod``.

    Composed of ``*`` as a log-depth scan (step k multiplies by the running products
    ``2**k`` places back): its derivative needs no division, so it is exact where
    elements are 0. The work is ``n log2(n)`` products, and rounding can differ from
    NumPy's sequential products in the last bits.
    """
    x, axis = _along(x, axis, "cumprod")
    n = x.shape[axis]
    shift = 1
    while shift < n:
        before = [slice(None)] * len(x.shape)
        before[axis] = slice(0, n - shift)
        ones = x.shape[:axis] + (shift,) + x.shape[axis + 1:]
        x = x * concatenate([broadcast_to(1.0, ones), getitem(x, tuple(before))], axis=axis)
        shift *= 2
    return x
