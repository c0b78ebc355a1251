"""The tensor ops of the op table: ops whose shape changes, with static params (``Node.params``).

Each entry: its shape rule (a ShapeError at build time, ``shapes``), its NumPy
implementation (constant folding, eager Values) and its derivative rule as IR.
The code generator spells them (``codegen``: one printer method per op). The
scalar ops and the ``Op`` record are in ``ops``, which gathers both tables into
``OPS``.

>>> from compiler import ir
>>> a = ir.symbol("a", (2, 3))
>>> cumsum(a, 1).shape, triangle(a, 0, upper=False).params
((2, 3), (0, False))
"""

from __future__ import annotations

import numpy as np

from . import shapes
from .node import apply
from .ops import Op, where


def reshape(x, shape: tuple):
    return apply("reshape", x, params=(tuple(shape),)) if tuple(shape) != x.shape else x


def broadcast_to(x, shape: tuple):
    return apply("broadcast_to", x, params=(tuple(shape),)) if tuple(shape) != x.shape else x


def transpose(x, perm: tuple):
    return apply("transpose", x, params=(tuple(perm),)) if tuple(perm) != tuple(range(len(perm))) else x


def reduce_sum(x, axes: tuple, keepdims: bool = False):
    return apply("sum", x, params=(tuple(axes), bool(keepdims))) if axes else x


def sum_to(x, shape: tuple):
    """``x`` summed over the axes along which ``shape`` was broadcast to ``x.shape`` (adjoints of broadcasts)."""
    if x.shape == shape:
        return x
    lead = len(x.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + k for k, d in enumerate(shape) if d == 1 and x.shape[lead + k] != 1)
    return reshape(apply("sum", x, params=(axes, True)) if axes else x, shape)


def _keepdims_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if k in axes else d for k, d in enumerate(shape))


def _vjp_sum(args, out, g):
    (x,), (axes, _) = args, out.params
    return (broadcast_to(reshape(g, _keepdims_shape(x.shape, axes)), x.shape),)


def _vjp_extremum(args, out, g):
    # the adjoint is shared equally by the elements that reach the extremum (as for maximum)
    (x,), (axes, _) = args, out.params
    keep = _keepdims_shape(x.shape, axes)
    hit = apply("eq", x, reshape(out, keep))
    count = apply("sum", where(hit, 1.0, 0.0), params=(axes, True))
    return (where(hit, reshape(g, keep) / count, 0.0),)


def _vjp_transpose(args, out, g):
    perm = out.params[0]
    inverse = tuple(sorted(range(len(perm)), key=perm.__getitem__))
    return (transpose(g, inverse),)


def _swap_last(x):
    perm = tuple(range(len(x.shape) - 2)) + (len(x.shape) - 1, len(x.shape) - 2)
    return transpose(x, perm)


def _vjp_matmul(args, out, g):
    a, b = args
    # promote 1-D operands as matmul does, use the 2-D rule, then undo the promotion
    a2 = reshape(a, (1,) + a.shape) if len(a.shape) == 1 else a
    b2 = reshape(b, b.shape + (1,)) if len(b.shape) == 1 else b
    g2 = reshape(g, shapes.matmul_shape(a2.shape, b2.shape))
    da = sum_to(apply("matmul", g2, _swap_last(b2)), a2.shape)
    db = sum_to(apply("matmul", _swap_last(a2), g2), b2.shape)
    return (reshape(da, a.shape), reshape(db, b.shape))


def _vjp_concatenate(args, out, g):
    axis, = out.params
    parts, start = [], 0
    for a in args:
        size = a.shape[axis]
        index = tuple(("slice", start, start + size, 1) if k == axis else ("slice", 0, d, 1)
                      for k, d in enumerate(g.shape))
        parts.append(apply("getitem", g, params=(index,)))
        start += size
    return tuple(parts)


def _python_index(index: tuple) -> tuple:
    """A normalized index (``shapes.normalize_index``) as the tuple NumPy takes."""
    return tuple(None if it[0] == "new" else it[1] if it[0] == "int" else _python_slice(*it[1:]) for it in index)


def _python_slice(start: int, stop: int, step: int) -> slice:
    """A resolved slice (``slice.indices``) as a slice again: a reversed range that runs past
    index 0 resolves to stop -1, which Python would read as the last element."""
    return slice(start, None if step < 0 and stop < 0 else stop, step)


def _index_put(g, index, shape):
    out = np.zeros(shape, dtype=np.float64)
    out[_python_index(index)] = g
    return out


def _take(x, axis, indices, index_shape):
    return np.take(x, np.array(indices, dtype=np.int64).reshape(index_shape), axis=axis)


def _scatter_add(g, axis, indices, index_shape, shape):
    out = np.zeros(shape, dtype=np.float64)
    idx = np.array(indices, dtype=np.int64).reshape(index_shape)
    np.add.at(out, (slice(None),) * axis + (idx,), g)
    return out


def cumsum(x, axis: int, reverse: bool = False):
    """Running sums along ``axis`` (from the last element backwards when ``reverse``)."""
    return apply("cumsum", x, params=(axis, bool(reverse)))


def _cumsum(x, axis, reverse):
    if reverse:
        return np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis)
    return np.cumsum(x, axis=axis)


def triangle(x, k: int, upper: bool):
    """``np.triu(x, k)`` (``upper``) or ``np.tril(x, k)``: zeros outside a triangle of the last two axes."""
    return apply("triangle", x, params=(int(k), bool(upper)))


def _tensor_op(name, arity, params, shape_rule, impl, vjp, result="float", simplify=None):
    return Op(name, arity, "", vjp, params=params, shape_rule=shape_rule, impl=impl, result=result,
              simplify=simplify)


def _no_axes(x, params):  # a reduction over no axes is the identity
    axes, keepdims = params
    return x if not axes else None


def _simplify_reshape(x, params):
    if x.op == "reshape":  # reshape of a reshape: one reshape
        return reshape(x.args[0], params[0])
    return None


def _simplify_transpose(x, params):
    if x.op == "transpose":  # transposes compose
        inner = x.args[0]
        perm = tuple(x.params[0][p] for p in params[0])
        return transpose(inner, perm)
    return None


TENSOR_OPS = [
    _tensor_op("sum", 1, ("axes", "keepdims"),
               lambda s, p: shapes.reduce_shape(s[0], p[0], p[1]),
               lambda x, axes, keepdims: np.sum(x, axis=axes, keepdims=keepdims), _vjp_sum, simplify=_no_axes),
    _tensor_op("amax", 1, ("axes", "keepdims"),
               lambda s, p: shapes.reduce_shape(s[0], p[0], p[1]),
               lambda x, axes, keepdims: np.max(x, axis=axes, keepdims=keepdims), _vjp_extremum,
               simplify=_no_axes),
    _tensor_op("amin", 1, ("axes", "keepdims"),
               lambda s, p: shapes.reduce_shape(s[0], p[0], p[1]),
               lambda x, axes, keepdims: np.min(x, axis=axes, keepdims=keepdims), _vjp_extremum,
               simplify=_no_axes),
    _tensor_op("reshape", 1, ("shape",), lambda s, p: shapes.reshape_shape(s[0], p[0]),
               lambda x, shape: np.reshape(x, shape), lambda args, out, g: (reshape(g, args[0].shape),),
               simplify=_simplify_reshape),
    _tensor_op("transpose", 1, ("perm",), lambda s, p: shapes.transpose_shape(s[0], p[0]),
               lambda x, perm: np.transpose(x, perm), _vjp_transpose, simplify=_simplify_transpose),
    # its adjoint is g itself: the reverse pass sums every adjoint back to its operand's shape
    _tensor_op("broadcast_to", 1, ("shape",), lambda s, p: shapes.broadcast_to_shape(s[0], p[0]),
               lambda x, shape: np.broadcast_to(x, shape).copy(), lambda args, out, g: (g,)),
    _tensor_op("matmul", 2, None, lambda s, p: shapes.matmul_shape(s[0], s[1]),
               lambda a, b: np.matmul(a, b), _vjp_matmul),
    _tensor_op("concatenate", -1, ("axis",), lambda s, p: shapes.concatenate_shape(s, p[0]),
               lambda *xs, axis: np.concatenate(xs, axis=axis), _vjp_concatenate),
    _tensor_op("getitem", 1, ("index",), lambda s, p: shapes.index_shape(s[0], p[0]),
               lambda x, index: x[_python_index(index)],
               lambda args, out, g: (apply("index_put", g, params=(out.params[0], args[0].shape)),)),
    # zeros of ``shape`` with g written at ``index``: the adjoint of getitem
    _tensor_op("index_put", 1, ("index", "shape"), lambda s, p: p[1], _index_put,
               lambda args, out, g: (apply("getitem", g, params=(out.params[0],)),)),
    _tensor_op("take", 1, ("axis", "indices", "index_shape"),
               lambda s, p: shapes.take_shape(s[0], p[0], p[2]), _take,
               lambda args, out, g: (apply("scatter_add", g, params=out.params + (args[0].shape,)),)),
    # zeros of ``shape`` with g added at ``indices`` along ``axis``: the adjoint of take
    _tensor_op("scatter_add", 1, ("axis", "indices", "index_shape", "shape"), lambda s, p: p[3], _scatter_add,
               lambda args, out, g: (apply("take", g, params=out.params[:3]),)),
    # the adjoint of a running sum is the running sum of g taken from the other end
    _tensor_op("cumsum", 1, ("axis", "reverse"), lambda s, p: shapes.cumsum_shape(s[0], p[0]), _cumsum,
               lambda args, out, g: (cumsum(g, out.params[0], not out.params[1]),)),
    # a mask of constant 0s and 1s: its own adjoint
    _tensor_op("triangle", 1, ("k", "upper"), lambda s, p: shapes.triangle_shape(s[0]),
               lambda x, k, upper: np.triu(x, k) if upper else np.tril(x, k),
               lambda args, out, g: (triangle(g, *out.params),)),
]


