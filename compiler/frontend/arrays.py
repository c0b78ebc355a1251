"""Shapes and joins of expressions, as NumPy's functions of the same names.

Each is one op (``reshape``, ``transpose``, ``broadcast_to``, ``concatenate``,
``getitem``, ``take``) or a few, composed: ``flip`` is a reversed slice,
``roll`` two slices joined, ``tile`` and ``repeat`` a broadcast between two
reshapes, ``pad`` joins blocks of the constant (other modes are a ``take`` of
the indices NumPy's ``pad`` gives ``arange(n)``). None of them copies per
element: a function of a ``(1000, 1000)`` expression is a few nodes.

>>> import compiler as cc
>>> x = cc.Tensor("x", (2, 3))
>>> cc.tile(x, (2, 1)).shape, cc.pad(x, 1).shape, cc.roll(x, 1, axis=1).shape
((4, 3), (4, 5), (2, 3))
"""

from __future__ import annotations

import operator
from typing import Sequence

import numpy as np

from .. import ir
from ..errors import ShapeError
from ..ir import shapes as _shapes
from .dispatch import EAGER, call as _build, eager_of, operand as _node
from .indexing import getitem


def _operands(xs: Sequence, what: str) -> list:
    """The operands of a join as nodes, or all lifted to an eager type when one of them is one."""
    xs = [asarray(x) if isinstance(x, (list, tuple)) else x for x in xs]
    rules = eager_of(xs)
    if rules is not None:
        return [x if type(x) in EAGER else rules.lift(_constant(x)) for x in xs]
    return [_node(x, f"{what} operand {i}") for i, x in enumerate(xs)]


def _constant(x):
    """The numbers of a constant expression (a constant, or one broadcast), for an eager join."""
    if isinstance(x, ir.Node) and x.op == "broadcast_to" and x.args[0].op == "const":
        return np.broadcast_to(x.args[0].value, x.shape).copy()
    return x.value if isinstance(x, ir.Node) and x.op == "const" else x


def asarray(x):
    """``x`` as one expression: nested lists or tuples of expressions and numbers are stacked
    (``np.array([x, y])`` is a ``TypeError``: NumPy would make an array of Python objects)."""
    if not isinstance(x, (list, tuple)):
        return _node(x, "the operand")
    parts = [asarray(p) for p in x]
    if all(not isinstance(p, ir.Node) or p.op == "const" for p in parts) and not eager_of(parts):
        return ir.constant(np.array([p.value if isinstance(p, ir.Node) else p for p in parts], dtype=np.float64))
    return stack(parts)


def _axis_slice(ndim: int, axis: int, piece: slice) -> tuple:
    return (slice(None),) * axis + (piece,) + (slice(None),) * (ndim - axis - 1)


# --- reshaping ---

def reshape(x, *shape, order: str = "C"):
    """``x`` with a new shape of the same size (one ``-1`` is inferred), as ``np.reshape``;
    ``order="F"`` reads and writes the elements in column-major order."""
    x = _node(x, "the operand of reshape")
    if len(shape) == 1 and _shapes.as_int(shape[0]) is None:
        shape = shape[0]
    new = _shapes.resolve_reshape(x.shape, shape)
    if order == "F":
        return transpose(reshape(transpose(x), tuple(reversed(new))))
    if order not in ("C", "A"):
        raise ValueError(f"reshape: order must be 'C', 'F' or 'A', got {order!r}")
    return _build("reshape", x, params=(new,)) if new != x.shape else x


def ravel(x, order: str = "C"):
    """``x`` as a 1-D expression (``np.ravel``; ``x.flatten()`` is the same). An expression has
    no memory layout, so ``order="K"`` (memory order) and ``"A"`` read it as a C-ordered array."""
    if order not in ("C", "F", "A", "K"):
        raise ValueError(f"ravel: order must be 'C', 'F', 'A' or 'K', got {order!r}")
    return reshape(x, -1, order="C" if order == "K" else order)


def transpose(x, *axes):
    """``x`` with its axes permuted (reversed by default), as ``np.transpose``."""
    x = _node(x, "the operand of transpose")
    if len(axes) == 1 and (axes[0] is None or _shapes.as_int(axes[0]) is None):
        axes = axes[0]
    ndim = len(x.shape)
    if axes is None or axes == ():
        perm = tuple(reversed(range(ndim)))
    else:
        perm = tuple(_shapes.normalize_axis(a, ndim, "transpose") for a in axes)
        _shapes.transpose_shape(x.shape, perm)
    return _build("transpose", x, params=(perm,)) if perm != tuple(range(ndim)) else x


def moveaxis(x, source, destination):
    """``x`` with the axes ``source`` moved to positions ``destination`` (``np.moveaxis``)."""
    x = _node(x, "the operand of moveaxis")
    ndim = len(x.shape)
    src = [_shapes.normalize_axis(a, ndim, "moveaxis") for a in np.atleast_1d(source).tolist()]
    dst = [_shapes.normalize_axis(a, ndim, "moveaxis") for a in np.atleast_1d(destination).tolist()]
    if len(src) != len(dst):
        raise ValueError("moveaxis: `source` and `destination` arguments must have the same number of elements")
    order = [a for a in range(ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, tuple(order))


def swapaxes(x, axis1: int, axis2: int):
    """``x`` with two axes exchanged (``np.swapaxes``)."""
    x = _node(x, "the operand of swapaxes")
    perm = list(range(len(x.shape)))
    a, b = (_shapes.normalize_axis(a, len(perm), "swapaxes") for a in (axis1, axis2))
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, tuple(perm))


def rollaxis(x, axis: int, start: int = 0):
    """``np.rollaxis``: axis ``axis`` moved to before position ``start``."""
    x = _node(x, "the operand of rollaxis")
    n = len(x.shape)
    axis = _shapes.normalize_axis(axis, n, "rollaxis")
    start = start + n if start < 0 else start
    if not 0 <= start <= n:
        raise ShapeError(f"rollaxis: start {start} is out of range for a tensor of {n} dimension(s)")
    return moveaxis(x, axis, start - 1 if axis < start else start)


def broadcast_to(x, shape):
    """``x`` broadcast to ``shape``, as ``np.broadcast_to``."""
    x = _node(x, "the operand of broadcast_to")
    shape = ir.check_shape(shape, "broadcast_to shape")
    return _build("broadcast_to", x, params=(shape,)) if shape != x.shape else x


def broadcast_arrays(*xs):
    """The operands broadcast to their common shape (``np.broadcast_arrays``)."""
    nodes = _operands(xs, "broadcast_arrays")
    shape = ir.broadcast_shapes("broadcast_arrays", [n.shape for n in nodes])
    return [broadcast_to(n, shape) for n in nodes]


def squeeze(x, axis=None):
    """``x`` without axes of size 1 (those of ``axis``, or all), as ``np.squeeze``."""
    x = _node(x, "the operand of squeeze")
    if axis is None:
        axes = [k for k, d in enumerate(x.shape) if d == 1]
    else:
        axes = _shapes.normalize_axes(axis, len(x.shape), "squeeze")
        if any(x.shape[a] != 1 for a in axes):
            raise ShapeError(f"squeeze: cannot select an axis to squeeze out which has size not equal to one "
                             f"(shape {x.shape}, axis {axis})")
    return reshape(x, tuple(d for k, d in enumerate(x.shape) if k not in axes))


def expand_dims(x, axis):
    """``x`` with axes of size 1 inserted at the positions ``axis`` (``np.expand_dims``)."""
    x = _node(x, "the operand of expand_dims")
    axes = _shapes.normalize_axes(axis, len(x.shape) + (1 if _shapes.as_int(axis) is not None else len(axis)), "expand_dims")
    dims = iter(x.shape)
    return reshape(x, tuple(1 if k in axes else next(dims) for k in range(len(x.shape) + len(axes))))


def _atleast(xs, ndim: int, where):
    out = []
    for x in xs:
        x = _node(asarray(x) if isinstance(x, (list, tuple)) else x, f"the operand of atleast_{ndim}d")
        out.append(reshape(x, where(x.shape)) if len(x.shape) < ndim else x)
    return out[0] if len(out) == 1 else out


def atleast_1d(*xs):
    """Each operand with at least one axis (``np.atleast_1d``)."""
    return _atleast(xs, 1, lambda s: (1,))


def atleast_2d(*xs):
    """Each operand with at least two axes: ``(n,)`` becomes ``(1, n)`` (``np.atleast_2d``)."""
    return _atleast(xs, 2, lambda s: (1,) * (2 - len(s)) + s)


def atleast_3d(*xs):
    """Each operand with at least three axes: ``(n,)`` becomes ``(1, n, 1)``, ``(m, n)``
    ``(m, n, 1)`` (``np.atleast_3d``)."""
    return _atleast(xs, 3, lambda s: (1, 1, 1) if not s else (1,) + s + (1,) if len(s) == 1 else s + (1,))


# --- joins and splits ---

def concatenate(xs: Sequence, axis: int | None = 0):
    """Join tensors along an existing ``axis`` (of the flattened tensors for ``axis=None``),
    as ``np.concatenate``."""
    nodes = _operands(xs, "concatenate")
    if not nodes:
        raise ValueError("concatenate needs at least one tensor")
    if axis is None:
        nodes, axis = [reshape(n, -1) for n in nodes], 0
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


def vstack(xs: Sequence):
    """Join along the first axis, 1-D operands as rows (``np.vstack``)."""
    return concatenate([atleast_2d(x) for x in _operands(xs, "vstack")], axis=0)


def hstack(xs: Sequence):
    """Join along the second axis (the first for 1-D operands), as ``np.hstack``."""
    parts = [atleast_1d(x) for x in _operands(xs, "hstack")]
    return concatenate(parts, axis=0 if len(parts[0].shape) == 1 else 1)


def dstack(xs: Sequence):
    """Join along the third axis (``np.dstack``)."""
    return concatenate([atleast_3d(x) for x in _operands(xs, "dstack")], axis=2)


def column_stack(xs: Sequence):
    """1-D operands as columns, joined along the second axis (``np.column_stack``)."""
    parts = [reshape(x, (-1, 1)) if len(x.shape) < 2 else x for x in _operands(xs, "column_stack")]
    return concatenate(parts, axis=1)


def array_split(x, indices_or_sections, axis: int = 0):
    """``x`` cut along ``axis`` into ``sections`` near-equal parts, or at the given indices
    (``np.array_split``): a list of slices."""
    x = _node(x, "the operand of split")
    axis = _shapes.normalize_axis(axis, len(x.shape), "split")
    n = x.shape[axis]
    sections = indices_or_sections
    if isinstance(sections, (int, np.integer)):
        count = operator.index(sections)
        if count <= 0:
            raise ValueError("number sections must be larger than 0.")
        each, extra = divmod(n, count)
        sizes = [each + 1] * extra + [each] * (count - extra)
        bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    else:
        bounds = [0] + [operator.index(i) for i in sections] + [n]
    return [getitem(x, _axis_slice(len(x.shape), axis, slice(a, b))) for a, b in zip(bounds[:-1], bounds[1:])]


def split(x, indices_or_sections, axis: int = 0):
    """``np.split``: as ``array_split``, but a number of sections must divide the axis."""
    x = _node(x, "the operand of split")
    n = x.shape[_shapes.normalize_axis(axis, len(x.shape), "split")]
    if isinstance(indices_or_sections, (int, np.integer)) and n % indices_or_sections:
        raise ValueError("array split does not result in an equal division")
    return array_split(x, indices_or_sections, axis)


def _split_along(x, sections, axis: int, least: int, name: str):
    x = _node(x, f"the operand of {name}")
    if len(x.shape) < least:
        raise ValueError(f"{name} only works on arrays of {least} or more dimensions")
    return split(x, sections, axis)


def vsplit(x, indices_or_sections):
    """``np.vsplit``: ``split`` along the first axis of an operand of 2 or more axes."""
    return _split_along(x, indices_or_sections, 0, 2, "vsplit")


def hsplit(x, indices_or_sections):
    """``np.hsplit``: ``split`` along the second axis (the first of a 1-D operand)."""
    x = _node(x, "the operand of hsplit")
    return _split_along(x, indices_or_sections, 1 if len(x.shape) > 1 else 0, 1, "hsplit")


def dsplit(x, indices_or_sections):
    """``np.dsplit``: ``split`` along the third axis."""
    return _split_along(x, indices_or_sections, 2, 3, "dsplit")


def append(x, values, axis: int | None = None):
    """``x`` with ``values`` joined at the end, flattened for ``axis=None`` (``np.append``)."""
    return concatenate([x, values], axis=axis)
