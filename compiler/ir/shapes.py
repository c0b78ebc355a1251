"""Shape rules of the tensor ops, and normalizing user arguments (axes, indices) into op params.

Pure functions of shapes: the IR calls them when it builds a node, so a shape
mistake is a ``ShapeError`` at build time, naming the op and the shapes.

>>> reduce_shape((2, 3, 4), (0, 2), keepdims=True)
(1, 3, 1)
>>> matmul_shape((5, 2, 3), (3, 4))
(5, 2, 4)
"""

from __future__ import annotations

import math
import operator
from typing import Sequence

from ..errors import ShapeError


def as_int(value):
    """``value`` as a Python int when it is an integer (a NumPy integer too, as NumPy takes them
    wherever an int is taken); None for anything else, booleans included."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return None
    if isinstance(value, int):
        return int(value)
    try:
        return operator.index(value) if hasattr(type(value), "__index__") else None
    except TypeError:
        return None


def normalize_axes(axis, ndim: int, what: str) -> tuple[int, ...]:
    """``axis`` (None, an int or a tuple of ints, negative from the end) as sorted non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if as_int(axis) is not None else axis
    try:
        axes = tuple(axes)
    except TypeError:
        raise TypeError(f"{what}: axis must be None, an int or a tuple of ints, got {axis!r}") from None
    out = []
    for a in axes:
        a = as_int(a)
        if a is None:
            raise TypeError(f"{what}: axis must be None, an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ShapeError(f"{what}: axis {a} is out of range for a tensor of {ndim} dimension(s)")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"{what}: axis {axis!r} names an axis twice")
    return tuple(sorted(out))


def normalize_axis(axis: int, ndim: int, what: str) -> int:
    if as_int(axis) is None:
        raise TypeError(f"{what}: axis must be an int, got {axis!r}")
    axis = as_int(axis)
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{what}: axis {axis} is out of range for a tensor of {ndim} dimension(s)")
    return axis % ndim


def reduce_shape(shape: tuple, axes: tuple, keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if k in axes else d for k, d in enumerate(shape))
    return tuple(d for k, d in enumerate(shape) if k not in axes)


def reshape_shape(shape: tuple, new: tuple) -> tuple:
    if math.prod(shape) != math.prod(new):
        raise ShapeError(f"reshape: cannot reshape a tensor of shape {shape} ({math.prod(shape)} elements) "
                         f"into shape {new} ({math.prod(new)} elements)")
    return new


def resolve_reshape(shape: tuple, new) -> tuple:
    """The target shape of ``reshape(x, new)`` with one ``-1`` allowed, as NumPy does."""
    new = (new,) if as_int(new) is not None else tuple(new)
    if any(as_int(d) is None for d in new):
        raise TypeError(f"reshape: the shape must be a tuple of ints, got {new!r}")
    new = tuple(as_int(d) for d in new)
    if new.count(-1) > 1 or any(d < -1 for d in new):
        raise ShapeError(f"reshape: invalid shape {new} (one -1 at most, no other negative sizes)")
    if -1 in new:
        known = math.prod(d for d in new if d != -1)
        total = math.prod(shape)
        if known == 0 or total % known:
            raise ShapeError(f"reshape: cannot reshape a tensor of shape {shape} into shape {new}")
        new = tuple(total // known if d == -1 else d for d in new)
    return reshape_shape(shape, new)


def transpose_shape(shape: tuple, perm: tuple) -> tuple:
    if sorted(perm) != list(range(len(shape))):
        raise ShapeError(f"transpose: axes {perm} are not a permutation of the {len(shape)} axes of shape {shape}")
    return tuple(shape[p] for p in perm)


def broadcast_to_shape(shape: tuple, target: tuple) -> tuple:
    if len(shape) > len(target) or any(
            d not in (1, t) for d, t in zip(shape[::-1], target[::-1])):
        raise ShapeError(f"broadcast_to: a tensor of shape {shape} cannot be broadcast to shape {target}")
    return target


def matmul_shape(a: tuple, b: tuple) -> tuple:
    """NumPy's ``a @ b``: 1-D operands are promoted and the added axis dropped; batch axes broadcast."""
    if not a or not b:
        raise ShapeError(f"matmul: operands must have at least one dimension, got shapes {a} and {b} "
                         "(use * for scalars)")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ShapeError(f"matmul: shapes {a} and {b} do not match: the last axis of the first ({a2[-1]}) "
                         f"must equal the {'only' if len(b) == 1 else 'second-to-last'} axis of the second "
                         f"({b2[-2]})")
    from .node import broadcast_shapes
    try:
        batch = broadcast_shapes("matmul", [a2[:-2], b2[:-2]])
    except ShapeError:
        raise ShapeError(f"matmul: the batch axes of shapes {a} and {b} do not broadcast together") from None
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def concatenate_shape(shapes: Sequence[tuple], axis: int) -> tuple:
    first = shapes[0]
    if not first:
        raise ShapeError("concatenate: scalars cannot be concatenated (stack them instead)")
    for s in shapes[1:]:
        if len(s) != len(first) or any(d != e for k, (d, e) in enumerate(zip(s, first)) if k != axis):
            listed = ", ".join(str(t) for t in shapes)
            raise ShapeError(f"concatenate: shapes {listed} differ outside axis {axis}")
    return first[:axis] + (sum(s[axis] for s in shapes),) + first[axis + 1:]


def cumsum_shape(shape: tuple, axis: int) -> tuple:
    if not 0 <= axis < len(shape):
        raise ShapeError(f"cumsum: axis {axis} is out of range for a tensor of shape {shape}")
    return shape


def triangle_shape(shape: tuple) -> tuple:
    if len(shape) < 2:
        raise ShapeError(f"tril/triu: a tensor of shape {shape} has no last two axes to take a triangle of")
    return shape


# --- indexing: x[...] with ints, slices, None and ... (integer arrays: frontend.indexing) ---

def normalize_index(shape: tuple, index) -> tuple:
    """A basic index (ints, slices, None, one Ellipsis) as a hashable tuple of
    ``("int", i)``, ``("slice", start, stop, step)`` (resolved against the axis size)
    and ``("new",)`` items, one per index position (axes not named are ``slice``)."""
    items = list(index) if isinstance(index, tuple) else [index]
    n_axes = sum(1 for it in items if it is not None and it is not Ellipsis)
    if items.count(Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_axes > len(shape):
        raise IndexError(f"too many indices for a tensor of shape {shape}: {n_axes} given")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items[at:at + 1] = [slice(None)] * (len(shape) - n_axes)
    else:
        items += [slice(None)] * (len(shape) - n_axes)
    out, axis = [], 0
    for it in items:
        if it is None:
            out.append(("new",))
            continue
        size = shape[axis]
        if isinstance(it, slice):
            for part in (it.start, it.stop, it.step):
                if part is not None and (isinstance(part, bool) or not isinstance(part, int)):
                    raise IndexError(f"slice bounds must be ints or None, got {it!r}")
            if it.step == 0:
                raise ValueError("slice step cannot be zero")
            out.append(("slice",) + it.indices(size))
        elif isinstance(it, int) and not isinstance(it, bool) or _is_int_scalar(it):
            i = int(it)
            if not -size <= i < size:
                raise IndexError(f"index {i} is out of bounds for axis {axis} with size {size}")
            out.append(("int", i % size))
        else:
            raise IndexError(f"unsupported index {it!r:.60}: use ints, slices, None, ..., "
                             "integer arrays or constant boolean masks")
        axis += 1
    return tuple(out)


def _is_int_scalar(x) -> bool:
    import numpy as np
    return isinstance(x, np.integer)


def index_shape(shape: tuple, index: tuple) -> tuple:
    out, axis = [], 0
    for it in index:
        if it[0] == "new":
            out.append(1)
            continue
        if it[0] == "slice":
            out.append(len(range(*it[1:])))
        axis += 1
    return tuple(out)


def index_text(index: tuple) -> str:
    """The index as Python source: ``1:3, ::2, 0, None``."""
    parts = []
    for it in index:
        if it[0] == "new":
            parts.append("None")
        elif it[0] == "int":
            parts.append(str(it[1]))
        else:
            start, stop, step = it[1:]
            parts.append(_slice_text(start, stop, step))
    return ", ".join(parts)


def _slice_text(start: int, stop: int, step: int) -> str:
    if step < 0 and stop < 0:  # resolved slice of a reversed range that runs past 0
        return f"{start}::{step}"
    text = f"{start}:{stop}"
    return text if step == 1 else f"{text}:{step}"


def take_shape(shape: tuple, axis: int, index_shape_: tuple) -> tuple:
    return shape[:axis] + index_shape_ + shape[axis + 1:]


def check_indices(indices, size: int, axis: int) -> tuple[tuple, tuple]:
    """An integer index array as (flat tuple of non-negative ints, its shape); IndexError if out of range."""
    import numpy as np
    arr = np.asarray(indices)
    if arr.dtype.kind not in "iu":
        raise IndexError(f"an index array must hold integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < -size or arr.max() >= size):
        bad = arr[(arr < -size) | (arr >= size)].ravel()[0]
        raise IndexError(f"index {int(bad)} is out of bounds for axis {axis} with size {size}")
    return tuple(int(i) % size for i in arr.ravel().tolist()), arr.shape
