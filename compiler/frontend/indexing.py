"""Indexing expressions as NumPy indexes arrays: ``x[...]``, ``take`` and friends.

Basic indexes (ints, slices, ``None``, ``...``) are one ``getitem`` node. An
advanced index -- integer arrays (several broadcast together), lists, constant
boolean masks, and ints beside them -- becomes one ``take`` on the indexed axes
merged into one (a reshape), with NumPy's rule for where the new axes land:
in place when the advanced indexes are next to each other, first otherwise.
The adjoint of ``take`` adds back at repeated positions (scatter-add).
Indexes are constants: an index computed from an expression has no static
shape, so it is a ``TypeError`` (use ``cc.where``).

>>> import compiler as cc
>>> x = cc.Tensor("x", (5, 6, 7))
>>> x[3, 2:, [1, 3]].shape, x[[0, 1], [2, 3]].shape, x[:, [0, 1], None].shape
((2, 4), (2, 7), (5, 2, 1, 7))
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ShapeError
from ..ir import Node, refuse_foreign_array
from ..ir import shapes as _shapes
from .dispatch import EAGER, call as _build, operand as _node


def _reshape(x, shape: tuple):
    return _build("reshape", x, params=(tuple(shape),)) if tuple(shape) != x.shape else x


def _transpose(x, perm: tuple):
    return _build("transpose", x, params=(tuple(perm),)) if tuple(perm) != tuple(range(len(perm))) else x


def take(x, indices, axis: int | None = 0):
    """Elements of ``x`` at integer ``indices`` along ``axis`` (of the flattened ``x`` for
    ``axis=None``; repeats allowed), as ``np.take``; the adjoint adds back at those positions."""
    x = _node(x, "the operand of take")
    if axis is None:
        x, axis = _reshape(x, (math.prod(x.shape),)), 0
    if not x.shape:
        raise ShapeError("take: a scalar has no axis to index")
    axis = _shapes.normalize_axis(axis, len(x.shape), "take")
    flat, ishape = _shapes.check_indices(_index_array(indices), x.shape[axis], axis)
    return _build("take", x, params=(axis, flat, ishape))


def getitem(x, index):
    """``x[index]``: ints, slices, ``None``, ``...``, integer arrays (broadcast together) and
    constant boolean masks, with NumPy's rules."""
    x = _node(x, "the indexed expression")
    if not x.shape:
        raise IndexError("a scalar expression cannot be indexed")
    items = list(index) if isinstance(index, tuple) else [index]
    for it in items:
        if isinstance(it, Node) or type(it) in EAGER:
            raise TypeError(f"an index must be a constant (ints, slices, integer arrays, boolean masks), got "
                            f"the expression {it!r:.60}: a data-dependent index has no static shape; "
                            "use cc.where(condition, x, 0.0) or cc.take with constant indices")
    if not any(_is_array(it) for it in items):
        normalized = _shapes.normalize_index(x.shape, index)
        trivial = all(it[0] == "slice" and it[1:] == (0, d, 1) for it, d in zip(normalized, x.shape))
        if trivial and len(normalized) == len(x.shape):
            return x
        return _build("getitem", x, params=(normalized,))
    return _advanced(x, items)


def _is_array(item) -> bool:
    return isinstance(item, (list, np.ndarray)) or (isinstance(item, tuple))


def _index_array(item) -> np.ndarray:
    refuse_foreign_array(item, "an index array")
    arr = np.asarray(item)
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iub":
        raise IndexError(f"an index array must hold integers or booleans, got dtype {arr.dtype}")
    if arr.dtype.kind == "b" and arr.ndim == 0:
        raise IndexError("a scalar boolean index (x[True]) is not supported; use x[None] or cc.where")
    return arr


def _advanced(x, items: list):
    """NumPy's advanced indexing: basic indexing first, then one ``take`` on the merged axes."""
    expanded: list[tuple] = []  # ("new",) | ("slice", slice) | ("array", int array), one per index position
    for it in items:
        if it is None:
            expanded.append(("new", None))
        elif it is Ellipsis:
            expanded.append(("ellipsis", None))
        elif isinstance(it, slice):
            expanded.append(("slice", it))
        elif isinstance(it, (int, np.integer)) and not isinstance(it, bool):
            expanded.append(("array", np.asarray(it, dtype=np.int64)))  # beside arrays, ints are arrays
        elif _is_array(it):
            arr = _index_array(it)
            if arr.dtype.kind == "b":  # a mask stands for the integer arrays of its True positions
                expanded.extend(("array", a, arr.shape) for a in np.nonzero(arr))
            else:
                expanded.append(("array", arr.astype(np.int64)))
        else:
            raise IndexError(f"unsupported index {it!r:.60}: use ints, slices, None, ..., "
                             "integer arrays or constant boolean masks")
    n_axes = sum(1 for e in expanded if e[0] in ("slice", "array"))
    ellipses = [k for k, e in enumerate(expanded) if e[0] == "ellipsis"]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_axes > len(x.shape):
        raise IndexError(f"too many indices for a tensor of shape {x.shape}: {n_axes} given")
    fill = [("slice", slice(None))] * (len(x.shape) - n_axes)
    if ellipses:
        expanded[ellipses[0]:ellipses[0] + 1] = fill
    else:
        expanded += fill
    _check_masks(x.shape, expanded)
    # the basic part, with every advanced position a full slice; where the arrays land in it
    basic, positions, arrays, axis = [], [], [], 0  # type: ignore[var-annotated]
    for e in expanded:
        if e[0] == "new":
            basic.append(None)  # type: ignore[arg-type]
            continue
        if e[0] == "array":
            flat, shape = _shapes.check_indices(e[1], x.shape[axis], axis)
            positions.append(len(basic))
            arrays.append(np.array(flat, dtype=np.int64).reshape(shape))
            basic.append(slice(None))
        else:
            basic.append(e[1])
        axis += 1
    y = getitem(x, tuple(basic))
    try:
        arrays = np.broadcast_arrays(*arrays)  # type: ignore[assignment]
    except ValueError:
        shapes = " ".join(str(a.shape) for a in arrays)
        raise IndexError(f"shape mismatch: indexing arrays could not be broadcast together with shapes "
                         f"{shapes}") from None
    sizes = tuple(y.shape[p] for p in positions)
    flat = np.ravel_multi_index(tuple(arrays), sizes) if sizes else np.zeros(arrays[0].shape, np.int64)  # type: ignore[assignment]
    adjacent = positions == list(range(positions[0], positions[0] + len(positions)))
    if not adjacent:  # NumPy puts the broadcast axes first
        rest = [k for k in range(len(y.shape)) if k not in positions]
        y = _transpose(y, tuple(positions) + tuple(rest))
        positions = list(range(len(positions)))
    first = positions[0]
    merged = _reshape(y, y.shape[:first] + (math.prod(sizes),) + y.shape[positions[-1] + 1:])
    return _build("take", merged, params=(first, tuple(int(i) for i in flat.ravel()), flat.shape))  # type: ignore[attr-defined]


def _check_masks(shape: tuple, expanded: list) -> None:
    """A boolean mask must have the shape of the axes it indexes (as NumPy requires)."""
    axis, k = 0, 0
    while k < len(expanded):
        e = expanded[k]
        if e[0] == "new":
            k += 1
            continue
        if e[0] == "array" and len(e) == 3:
            mask_shape = e[2]
            covered = shape[axis:axis + len(mask_shape)]
            if covered != mask_shape:
                raise IndexError(f"boolean index of shape {mask_shape} does not match the indexed axes "
                                 f"of shape {covered} (tensor of shape {shape}, from axis {axis})")
            axis += len(mask_shape)
            k += len(mask_shape)
            continue
        axis += 1
        k += 1


def compress(condition, x, axis: int | None = None):
    """The slices of ``x`` along ``axis`` where the constant ``condition`` is true (``np.compress``)."""
    cond = np.asarray(condition, dtype=bool).ravel()
    return take(x, np.flatnonzero(cond), axis)


def extract(condition, x):
    """The elements of ``x`` where the constant ``condition`` is true, flattened (``np.extract``)."""
    x = _node(x, "the operand of extract")
    return take(_reshape(x, (math.prod(x.shape),)), np.flatnonzero(np.asarray(condition, dtype=bool).ravel()))


def delete(x, obj, axis: int | None = None):
    """``x`` without the positions ``obj`` (ints, a slice or a boolean mask) along ``axis``
    (``np.delete``): a ``take`` of the others."""
    x = _node(x, "the operand of delete")
    if axis is None:
        x, axis = _reshape(x, (math.prod(x.shape),)), 0
    axis = _shapes.normalize_axis(axis, len(x.shape), "delete")
    keep = np.ones(x.shape[axis], dtype=bool)
    keep[obj] = False
    return take(x, np.flatnonzero(keep), axis)
