"""Rearranging elements, as NumPy's functions of the same names: flips, rolls, rotations,
padding, tiling, repeats, differences, evenly spaced values and ``np.gradient``.

All are composed of a few ops (reversed slices, joins, broadcasts between
reshapes, ``take``): exact, as NumPy's own results, and a few nodes whatever
the size of the operand.

>>> import compiler as cc
>>> x = cc.Tensor("x", (3, 4))
>>> cc.rot90(x).shape, cc.repeat(x, 2, axis=0).shape, cc.diff(x, axis=1).shape
((4, 3), (6, 4), (3, 3))
"""

from __future__ import annotations

import math
import operator

import numpy as np

from ..errors import ShapeError
from ..ir import constant
from ..ir import shapes as _shapes
from .arrays import _axis_slice, broadcast_to, concatenate, moveaxis, reshape, transpose
from .dispatch import operand as _node
from .indexing import getitem, take
from .linalg import tensordot


def flip(x, axis=None):
    """``x`` reversed along ``axis`` (all axes by default), as ``np.flip``: one reversed slice."""
    x = _node(x, "the operand of flip")
    axes = _shapes.normalize_axes(axis, len(x.shape), "flip")
    return getitem(x, tuple(slice(None, None, -1) if k in axes else slice(None) for k in range(len(x.shape))))


def flipud(x):
    """``x`` reversed along the first axis (``np.flipud``)."""
    return flip(x, 0)


def fliplr(x):
    """``x`` reversed along the second axis (``np.fliplr``)."""
    x = _node(x, "the operand of fliplr")
    if len(x.shape) < 2:
        raise ValueError("fliplr: the operand must be at least 2-D")
    return flip(x, 1)


def roll(x, shift, axis=None):
    """``x`` shifted by ``shift`` along ``axis`` (of the flattened ``x`` by default), elements
    that leave at one end coming back at the other, as ``np.roll``: two slices joined."""
    x = _node(x, "the operand of roll")
    if axis is None:
        return reshape(roll(reshape(x, -1), shift, 0), x.shape)
    shifts, axes = np.broadcast_arrays(np.asarray(shift), np.asarray(axis))
    for s, a in zip(shifts.ravel().tolist(), axes.ravel().tolist()):
        a = _shapes.normalize_axis(a, len(x.shape), "roll")
        n = x.shape[a]
        s = s % n if n else 0
        if s:
            nd = len(x.shape)
            x = concatenate([getitem(x, _axis_slice(nd, a, slice(n - s, n))),
                             getitem(x, _axis_slice(nd, a, slice(0, n - s)))], axis=a)
    return x


def rot90(x, k: int = 1, axes=(0, 1)):
    """``x`` rotated by 90 degrees ``k`` times in the plane of ``axes`` (``np.rot90``)."""
    x = _node(x, "the operand of rot90")
    if len(axes) != 2:
        raise ValueError("rot90: len(axes) must be 2.")
    a, b = (_shapes.normalize_axis(t, len(x.shape), "rot90") for t in axes)
    if a == b:
        raise ValueError("rot90: axes must be different.")
    k %= 4
    if k == 0:
        return x
    if k == 2:
        return flip(flip(x, a), b)
    perm = list(range(len(x.shape)))
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(flip(x, b), tuple(perm)) if k == 1 else flip(transpose(x, tuple(perm)), b)


_PAD_BY_INDEX = ("edge", "wrap", "reflect", "symmetric")


def pad(x, pad_width, mode: str = "constant", **kwargs):
    """``x`` padded, as ``np.pad``: mode ``"constant"`` (``constant_values``) joins blocks of the
    constant; ``"edge"``, ``"wrap"``, ``"reflect"`` and ``"symmetric"`` (``reflect_type``) are one
    ``take`` per axis (an odd ``reflect_type``: a product with a small constant matrix at each
    end, since it makes new values). Statistic modes
    (``"mean"``, ``"maximum"``, ...) and ``"linear_ramp"`` are not supported (``TypeError``)."""
    x = _node(x, "the operand of pad")
    nd = len(x.shape)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (nd, 2)).tolist() if nd else []
    if any(w < 0 for pair in widths for w in pair):
        raise ValueError("pad: index can't contain negative values")
    if mode == "constant":
        unknown = set(kwargs) - {"constant_values"}
        values = np.broadcast_to(np.asarray(kwargs.get("constant_values", 0.0), dtype=np.float64), (nd, 2))
    elif mode in _PAD_BY_INDEX:
        unknown = set(kwargs) - ({"reflect_type"} if mode in ("reflect", "symmetric") else set())
    else:
        raise TypeError(f"np.pad mode {mode!r} is not supported on symbolic expressions; supported modes: "
                        f"'constant', {', '.join(repr(m) for m in _PAD_BY_INDEX)}")
    if unknown:
        raise TypeError(f"pad: unsupported keyword argument(s) for mode {mode!r}: {sorted(unknown)}")
    for axis, (before, after) in enumerate(widths):
        if not before and not after:
            continue
        if mode == "constant":
            blocks = [broadcast_to(float(value), x.shape[:axis] + (width,) + x.shape[axis + 1:])
                      for width, value in ((before, values[axis][0]), (after, values[axis][1]))]
            x = concatenate([b for b, w in ((blocks[0], before), (x, 1), (blocks[1], after)) if w], axis=axis)
        else:
            if x.shape[axis] == 0:
                raise ValueError(f"pad: can't extend empty axis {axis} using modes other than 'constant' or 'empty'")
            x = _pad_linear(x, axis, before, after, mode, kwargs)
    return x


def _pad_linear(x, axis: int, before: int, after: int, mode: str, kwargs: dict):
    """``x`` padded along ``axis`` in a mode whose padding is linear in ``x``: the rows of
    ``np.pad`` applied to the identity say what each element is. Where every row is one 1
    (edge, wrap, even reflections) the pad is a ``take``; an odd reflection computes new values
    (``2 * edge - x``, again and again for wide pads), so its blocks are products with small
    constant matrices, over the few elements they read."""
    n = x.shape[axis]
    rows = np.pad(np.eye(n), ((before, after), (0, 0)), mode=mode, **kwargs)  # type: ignore[call-overload]
    ones = (rows != 0).sum(axis=1) == 1
    if ones.all() and (rows.max(axis=1) == 1.0).all():
        return take(x, rows.argmax(axis=1), axis)
    blocks = []
    for part in (rows[:before], None, rows[n + before:]):
        if part is None:
            blocks.append(x)
        elif len(part):
            used = np.flatnonzero(np.any(part != 0, axis=0))
            mixed = tensordot(constant(part[:, used]), take(x, used, axis), ([1], [axis]))
            blocks.append(moveaxis(mixed, 0, axis))
    return concatenate(blocks, axis=axis)


def tile(x, reps):
    """``x`` repeated ``reps`` times along each axis (``np.tile``): a broadcast between reshapes."""
    x = _node(x, "the operand of tile")
    reps = (operator.index(reps),) if isinstance(reps, (int, np.integer)) else tuple(operator.index(r) for r in reps)
    d = max(len(x.shape), len(reps))
    shape = (1,) * (d - len(x.shape)) + x.shape
    reps = (1,) * (d - len(reps)) + reps
    x = reshape(x, shape)
    if all(r == 1 for r in reps):
        return x
    spread = reshape(x, tuple(v for s in shape for v in (1, s)))
    wide = broadcast_to(spread, tuple(v for r, s in zip(reps, shape) for v in (r, s)))
    return reshape(wide, tuple(r * s for r, s in zip(reps, shape)))


def repeat(x, repeats, axis: int | None = None):
    """Each element of ``x`` repeated along ``axis`` (of the flattened ``x`` by default), as
    ``np.repeat``: a broadcast between reshapes, or a ``take`` for one count per element."""
    x = _node(x, "the operand of repeat")
    if axis is None:
        x, axis = reshape(x, -1), 0
    axis = _shapes.normalize_axis(axis, len(x.shape), "repeat")
    counts = np.asarray(repeats)
    if counts.dtype.kind not in "iu" or (counts < 0).any():
        raise ValueError(f"repeat: repeats must be non-negative integers, got {repeats!r:.60}")
    if counts.size != 1:
        return take(x, np.repeat(np.arange(x.shape[axis]), counts), axis)
    r = int(counts.ravel()[0])
    if r == 1:
        return x
    inner = x.shape[:axis + 1] + (1,) + x.shape[axis + 1:]
    wide = broadcast_to(reshape(x, inner), x.shape[:axis + 1] + (r,) + x.shape[axis + 1:])
    return reshape(wide, x.shape[:axis] + (x.shape[axis] * r,) + x.shape[axis + 1:])


def diff(x, n: int = 1, axis: int = -1, prepend=None, append=None):
    """The ``n``-th differences along ``axis`` (``np.diff``): ``x[1:] - x[:-1]``, ``n`` times."""
    x = _node(x, "the operand of diff")
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n!r}")
    if not x.shape:
        raise ValueError("diff requires input that is at least one dimensional")
    nd = len(x.shape)
    axis = _shapes.normalize_axis(axis, nd, "diff")
    if prepend is not None or append is not None:
        parts = []
        for extra, at_end in ((prepend, False), (append, True)):
            if extra is None:
                continue
            extra = _node(extra, "diff prepend/append")
            if not extra.shape:
                extra = broadcast_to(extra, x.shape[:axis] + (1,) + x.shape[axis + 1:])
            parts.append((at_end, extra))
        x = concatenate([e for end, e in parts if not end] + [x] + [e for end, e in parts if end], axis=axis)
    for _ in range(n):
        m = x.shape[axis]
        x = getitem(x, _axis_slice(nd, axis, slice(1, m))) - getitem(x, _axis_slice(nd, axis, slice(0, max(m - 1, 0))))
    return x


def linspace(start, stop, num: int = 50, endpoint: bool = True, retstep: bool = False, axis: int = 0):
    """``num`` evenly spaced values from ``start`` to ``stop`` (expressions), as ``np.linspace``
    computes them: ``start + arange(num) * step``, the last one ``stop`` itself."""
    start, stop = _node(start, "linspace start"), _node(stop, "linspace stop")
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    div = num - 1 if endpoint else num
    delta = stop - start
    shape = np.broadcast_shapes(start.shape, stop.shape)
    steps = np.arange(num, dtype=np.float64).reshape((-1,) + (1,) * len(shape))
    step = delta / float(div) if div > 0 else delta * math.nan
    if num == 1 or div <= 0:
        y = broadcast_to(start, (num,) + shape) if num else broadcast_to(0.0, (0,) + shape)
    else:
        y = steps * step + start
        if endpoint:
            y = concatenate([getitem(y, slice(0, num - 1)), reshape(broadcast_to(stop, shape), (1,) + shape)])
    if axis != 0:
        y = moveaxis(y, 0, axis)
    return (y, step) if retstep else y


def gradient(f, *varargs, axis=None, edge_order: int = 1):
    """``np.gradient`` with uniform spacing (one number per axis, or one for all): central
    differences inside, one-sided ones of order ``edge_order`` (1 or 2) at the ends."""
    f = _node(f, "the operand of gradient")
    nd = len(f.shape)
    if axis is None:
        axes = tuple(range(nd))
    else:  # in the order given, as NumPy returns them
        axes = tuple(_shapes.normalize_axis(a, nd, "gradient") for a in np.atleast_1d(axis).tolist())
    if any(np.ndim(v) for v in varargs):
        raise TypeError("np.gradient with coordinate arrays is not supported on symbolic expressions; "
                        "give one spacing number per axis")
    spacing = [float(v) for v in varargs] if len(varargs) > 1 else [float(varargs[0]) if varargs else 1.0] * len(axes)
    if len(spacing) != len(axes):
        raise TypeError("invalid number of arguments")
    if edge_order not in (1, 2):
        raise ValueError("'edge_order' greater than 2 not supported")
    out = []
    for a, h in zip(axes, spacing):
        n = f.shape[a]
        if n < edge_order + 1:
            raise ValueError("Shape of array too small to calculate a numerical gradient, "
                             "at least (edge_order + 1) elements are required.")

        def at(i, j=None, a=a, n=n):  # f[i:j] along the axis, or the one element f[i]
            return getitem(f, _axis_slice(nd, a, slice(i, j) if j is not None else slice(i % n, i % n + 1)))
        inner = (at(2, n) - at(0, n - 2)) / (2.0 * h)
        if edge_order == 1:
            first, last = (at(1) - at(0)) / h, (at(-1) - at(-2)) / h
        else:
            first = (-1.5 / h) * at(0) + (2.0 / h) * at(1) + (-0.5 / h) * at(2)
            last = (0.5 / h) * at(n - 3) + (-2.0 / h) * at(n - 2) + (1.5 / h) * at(n - 1)
        out.append(concatenate([first, inner, last], axis=a))
    if not out:
        raise ShapeError("gradient of a scalar")
    return out[0] if len(out) == 1 else out
