"""Tensor front-end: array inputs, reductions, linear algebra, reshaping and indexing.

Expressions may have a shape: ``cc.Tensor("W", (2, 16))`` is a float64 input
of that shape, NumPy arrays mix in as constants, and every scalar function
(``cc.tanh``, ``+``, ``cc.where`` ...) applies elementwise with NumPy
broadcasting. Shapes are checked when the expression is built: a mismatch is
a ``ShapeError`` (a ``ValueError``) naming the shapes.

>>> import compiler as cc
>>> W, x = cc.Tensor("W", (2, 3)), cc.Tensor("x", (3,))
>>> (W @ x).shape, cc.sum(W, axis=0).shape, W.T.shape
((2,), (3,), (3, 2))

The same functions are methods (``W.sum(axis=0)``, ``W.reshape(3, 2)``,
``x.softmax()``) and work on eager ``cc.Value`` arrays.
"""

from __future__ import annotations

import math
from typing import Sequence

from .. import ir
from ..errors import ShapeError
from ..ir import Node
from ..ir import shapes as _shapes
from .dispatch import EAGER, call as _build, eager_of, operand as _node
from .scalar import abs as abs_, exp, log, where

AxisLike = "int | tuple[int, ...] | None"


def Tensor(name: str, shape) -> Node:
    """A tensor input of fixed ``shape`` (float64); the same name and shape give the same node.

    >>> Tensor("X", (256, 2)).shape
    (256, 2)
    """
    return ir.symbol(name, ir.check_shape(shape, f"the shape of Tensor {name!r}"))


def _operands(xs: Sequence, what: str) -> list:
    """The operands of a join as nodes, or all lifted to an eager type when one of them is one."""
    xs = list(xs)
    rules = eager_of(xs)
    if rules is not None:
        return [x if type(x) in EAGER else rules.lift(x) for x in xs]
    return [_node(x, f"{what} operand {i}") for i, x in enumerate(xs)]


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


# --- linear algebra and reshaping ---

def matmul(a, b):
    """``a @ b`` as NumPy: 1-D and 2-D operands, and batches ``(..., m, k) @ (..., k, n)``
    with broadcast batch axes.

    >>> matmul(Tensor("A", (5, 2, 3)), Tensor("B", (3, 4))).shape
    (5, 2, 4)
    """
    return _build("matmul", a, b)


def reshape(x, *shape):
    """``x`` with a new shape of the same size (one ``-1`` is inferred), as ``np.reshape``."""
    x = _node(x, "the operand of reshape")
    if len(shape) == 1 and not isinstance(shape[0], int):
        shape = shape[0]
    new = _shapes.resolve_reshape(x.shape, shape)
    return _build("reshape", x, params=(new,)) if new != x.shape else x


def transpose(x, *axes):
    """``x`` with its axes permuted (reversed by default), as ``np.transpose``."""
    x = _node(x, "the operand of transpose")
    if len(axes) == 1 and (axes[0] is None or not isinstance(axes[0], int)):
        axes = axes[0]
    ndim = len(x.shape)
    if axes is None or axes == ():
        perm = tuple(reversed(range(ndim)))
    else:
        perm = tuple(_shapes.normalize_axis(a, ndim, "transpose") for a in axes)
        _shapes.transpose_shape(x.shape, perm)
    return _build("transpose", x, params=(perm,)) if perm != tuple(range(ndim)) else x


def broadcast_to(x, shape):
    """``x`` broadcast to ``shape``, as ``np.broadcast_to``."""
    x = _node(x, "the operand of broadcast_to")
    shape = ir.check_shape(shape, "broadcast_to shape")
    return _build("broadcast_to", x, params=(shape,)) if shape != x.shape else x


def concatenate(xs: Sequence, axis: int = 0):
    """Join tensors along an existing ``axis``, as ``np.concatenate``."""
    nodes = _operands(xs, "concatenate")
    if not nodes:
        raise ValueError("concatenate needs at least one tensor")
    ndim = len(nodes[0].shape)
    if ndim == 0:
        raise ShapeError("concatenate: scalars cannot be concatenated (use cc.stack)")
    axis = _shapes.normalize_axis(axis, ndim, "concatenate")
    if len(nodes) == 1:
        return nodes[0]
    return _build("concatenate", *nodes, params=(axis,))


def stack(xs: Sequence, axis: int = 0):
    """Join tensors of one shape along a new ``axis``, as ``np.stack``."""
    nodes = _operands(xs, "stack")
    if not nodes:
        raise ValueError("stack needs at least one tensor")
    shape = nodes[0].shape
    for i, n in enumerate(nodes):
        if n.shape != shape:
            raise ShapeError(f"stack: all tensors must have one shape; operand 0 has shape {shape}, "
                             f"operand {i} has shape {n.shape}")
    axis = _shapes.normalize_axis(axis, len(shape) + 1, "stack")
    expanded = shape[:axis] + (1,) + shape[axis:]
    parts = [reshape(n, expanded) for n in nodes]
    return parts[0] if len(parts) == 1 else _build("concatenate", *parts, params=(axis,))


def take(x, indices, axis: int = 0):
    """Elements of ``x`` at integer ``indices`` along ``axis`` (repeats allowed), as ``np.take``;
    the adjoint adds back at those positions (scatter-add)."""
    x = _node(x, "the operand of take")
    if not x.shape:
        raise ShapeError("take: a scalar has no axis to index")
    axis = _shapes.normalize_axis(axis, len(x.shape), "take")
    flat, ishape = _shapes.check_indices(indices, x.shape[axis], axis)
    return _build("take", x, params=(axis, flat, ishape))


def getitem(x, index):
    """``x[index]``: ints, slices, ``None``, ``...``, or one integer array with full slices elsewhere."""
    x = _node(x, "the indexed expression")
    if not x.shape:
        raise IndexError("a scalar expression cannot be indexed")
    items = index if isinstance(index, tuple) else (index,)
    arrays = [k for k, it in enumerate(items) if _is_index_array(it)]
    if arrays:
        if len(arrays) > 1 or any(not _full_slice(it) for k, it in enumerate(items) if k != arrays[0]) \
                or any(it is None or it is Ellipsis for it in items):
            raise IndexError("integer-array indexing takes one index array with full slices before it "
                             "(x[idx], x[:, idx]); use cc.take for the general case")
        return take(x, _as_index_array(items[arrays[0]]), axis=arrays[0])
    normalized = _shapes.normalize_index(x.shape, index)
    trivial = all(it[0] == "slice" and it[1:] == (0, d, 1) for it, d in zip(normalized, x.shape))
    if trivial and len(normalized) == len(x.shape):
        return x
    return _build("getitem", x, params=(normalized,))


def _is_index_array(item) -> bool:
    import numpy as np
    if isinstance(item, np.ndarray):
        if item.dtype.kind == "b":
            raise IndexError("boolean masks select a data-dependent number of elements; "
                             "use cc.where(mask, x, 0.0) instead")
        return True
    return isinstance(item, list)


def _as_index_array(item):
    import numpy as np
    arr = np.asarray(item)
    if arr.dtype.kind == "b":
        raise IndexError("boolean masks select a data-dependent number of elements; use cc.where(mask, x, 0.0)")
    if arr.size == 0:
        arr = arr.astype(np.int64)
    return arr


def _full_slice(item) -> bool:
    return isinstance(item, slice) and item == slice(None)


# --- methods and operators on expressions ---

def _install_methods() -> None:
    Node.sum = lambda self, axis=None, keepdims=False: sum(self, axis, keepdims)
    Node.mean = lambda self, axis=None, keepdims=False: mean(self, axis, keepdims)
    Node.max = lambda self, axis=None, keepdims=False: max(self, axis, keepdims)
    Node.min = lambda self, axis=None, keepdims=False: min(self, axis, keepdims)
    Node.logsumexp = lambda self, axis=None, keepdims=False: logsumexp(self, axis, keepdims)
    Node.softmax = lambda self, axis=-1: softmax(self, axis)
    Node.log_softmax = lambda self, axis=-1: log_softmax(self, axis)
    Node.reshape = reshape
    Node.transpose = transpose
    Node.T = property(lambda self: transpose(self))
    Node.ndim = property(lambda self: len(self.shape))
    Node.size = property(lambda self: math.prod(self.shape))
    Node.__getitem__ = getitem
    Node.__matmul__ = lambda self, other: matmul(self, other)
    Node.__rmatmul__ = lambda self, other: matmul(other, self)

    def length(self):
        if not self.shape:
            raise TypeError("len() of a scalar expression")
        return self.shape[0]

    def iterate(self):
        if not self.shape:
            raise TypeError("iteration over a scalar expression")
        return (getitem(self, k) for k in range(self.shape[0]))
    Node.__len__ = length
    Node.__iter__ = iterate


_install_methods()
