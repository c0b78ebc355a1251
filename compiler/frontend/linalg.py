"""Products and linear algebra of expressions: ``@``, ``einsum``, ``tensordot``, ``dot`` and
friends, diagonals and triangles, ``cross`` and ``norm``.

``einsum`` (and ``tensordot``, ``dot``, ``inner``, built on it) lowers to the
ops ``@`` uses: each pair of operands becomes one ``matmul`` between reshapes
and transposes (batch labels as its batch axes), a product without a summed
label one broadcast ``*``, a repeated label a ``take`` of the diagonal, a label
of one operand alone a ``sum``. So ``einsum("ij,jk->ik", A, B)`` is the very
node ``A @ B``, and runs as fast.

>>> import compiler as cc
>>> A, B = cc.Tensor("A", (2, 3)), cc.Tensor("B", (3, 4))
>>> cc.einsum("ij,jk->ik", A, B) is A @ B
True
"""

from __future__ import annotations

import math
import operator

import numpy as np

from ..errors import ShapeError
from ..ir import shapes as _shapes
from .arrays import moveaxis, reshape, stack, transpose
from .dispatch import call as _build, operand as _node
from .indexing import getitem, take
from .scalar import abs as abs_, sqrt, where
from .tensors import max as max_, min as min_, sum as sum_

_ELLIPSIS = "..."


def matmul(a, b):
    """``a @ b`` as NumPy: 1-D and 2-D operands, and batches ``(..., m, k) @ (..., k, n)``
    with broadcast batch axes.

    >>> from compiler.frontend.tensors import Tensor
    >>> matmul(Tensor("A", (5, 2, 3)), Tensor("B", (3, 4))).shape
    (5, 2, 4)
    """
    return _build("matmul", a, b)


# --- einsum ---

def _letters(spec: str) -> list:
    out, k = [], 0
    while k < len(spec):
        if spec.startswith("...", k):
            out.append(_ELLIPSIS)
            k += 3
        elif spec[k].isalpha():
            out.append(ord(spec[k]))  # type: ignore[arg-type]
            k += 1
        else:
            raise ValueError(f"einsum: invalid subscript {spec[k]!r} in {spec!r} (letters and '...' only)")
    return out


def _sublist(items) -> list:
    out = []
    for s in items:
        if s is Ellipsis:
            out.append(_ELLIPSIS)
        else:
            out.append(operator.index(s))  # type: ignore[arg-type]
    return out


def _parse(args) -> tuple[list, list, list | None]:
    """(operands, their label lists, output labels or None for the implicit form)."""
    if isinstance(args[0], str):
        spec = args[0].replace(" ", "")
        operands = list(args[1:])
        ins, arrow, out = spec.partition("->")
        inputs = [_letters(s) for s in ins.split(",")]
        output = _letters(out) if arrow else None
    else:
        operands, inputs = list(args[0::2]), [_sublist(s) for s in args[1::2]]
        output = None
        if len(operands) > len(inputs):  # a last sublist without an operand: the output
            output = _sublist(operands.pop())
    if len(inputs) != len(operands):
        raise ValueError(f"einsum: {len(inputs)} subscripts for {len(operands)} operands")
    return operands, inputs, output


def _expand_ellipsis(labels: list, ndim: int, what: str) -> list:
    """The labels of one operand, its ``...`` as the negative labels -k..-1 (aligned from the right)."""
    if _ELLIPSIS not in labels:
        if len(labels) != ndim:
            raise ValueError(f"einsum: {what} has {ndim} dimension(s) but {len(labels)} subscript(s)")
        return labels
    k = labels.index(_ELLIPSIS)
    n = ndim - (len(labels) - 1)
    if n < 0:
        raise ValueError(f"einsum: {what} has more subscripts than dimensions")
    return labels[:k] + list(range(-n, 0)) + labels[k + 1:]


def einsum(*args, optimize=None):
    """Einstein summation, as ``np.einsum``: ``"ij,jk->ik"``, batched (``"bij,bjk->bik"``),
    repeated labels (``"ii->i"``, ``"ii"``), ``...``, the implicit form (``"ij,jk"``) and
    the interleaved one (``einsum(A, [0, 1], B, [1, 2], [0, 2])``). ``optimize`` is accepted
    and ignored: operands are contracted in pairs, smallest intermediate first."""
    if not args:
        raise ValueError("einsum: no subscripts given")
    operands, inputs, output = _parse(args)
    nodes = [_node(x, f"einsum operand {i}") for i, x in enumerate(operands)]
    labels = [_expand_ellipsis(lab, len(x.shape), f"operand {i}") for i, (lab, x) in enumerate(zip(inputs, nodes))]
    n_ell = max([-min([lb for lb in lab if isinstance(lb, int) and lb < 0] or [0]) for lab in labels] or [0])
    if output is None:
        counts = {}
        for lab in labels:
            for lb in lab:
                counts[lb] = counts.get(lb, 0) + 1
        output = list(range(-n_ell, 0)) + sorted(lb for lb, c in counts.items() if c == 1 and lb >= 0)
    elif _ELLIPSIS in output:
        k = output.index(_ELLIPSIS)
        output = output[:k] + list(range(-n_ell, 0)) + output[k + 1:]
    elif n_ell:
        raise ValueError("einsum: output has more dimensions than subscripts given in einstein sum, but no "
                         "'...' ellipsis provided to broadcast the extra dimensions.")
    return einsum_labels(nodes, labels, output)


def einsum_labels(nodes: list, labels: list, output: list):
    """``einsum`` of ``nodes`` whose axes carry the (hashable) ``labels``, giving ``output``'s."""
    if len(set(output)) != len(output):
        raise ValueError(f"einsum: an output label appears twice: {output}")
    sizes: dict = {}  # a label's size; 1 broadcasts against any other
    for lab, x in zip(labels, nodes):
        for lb, d in zip(lab, x.shape):
            old = sizes.get(lb)
            if old is None or old == 1:
                sizes[lb] = d
            elif d not in (1, old):
                raise ShapeError(f"einsum: a label is {old} long in one operand and {d} in another "
                                 f"(shapes {', '.join(str(n.shape) for n in nodes)})")
    missing = [lb for lb in output if lb not in sizes]
    if missing:
        raise ValueError("einsum: an output label appears in no operand")
    work = []
    for i, (x, lab) in enumerate(zip(nodes, labels)):
        others = set(output).union(*[set(m) for j, m in enumerate(labels) if j != i])
        work.append(_prepare(x, list(lab), others, sizes))
    while len(work) > 1:
        i, j = _cheapest_pair(work, output, sizes)
        (a, la), (b, lb) = work[i], work[j]
        rest = [w for k, w in enumerate(work) if k not in (i, j)]
        keep = set(output).union(*[set(m) for _, m in rest])
        work = rest + [_contract(a, la, b, lb, keep, sizes)]
    x, lab = work[0]
    extra = tuple(k for k, lb in enumerate(lab) if lb not in output)
    if extra:
        x = sum_(x, extra)
        lab = [lb for lb in lab if lb in output]
    return transpose(x, tuple(lab.index(lb) for lb in output)) if x.shape else x


def _prepare(x, lab: list, others: set, sizes: dict):
    """One operand: size-1 axes that broadcast dropped, repeated labels to their diagonal,
    labels of this operand alone summed."""
    squeeze = [k for k, lb in enumerate(lab) if x.shape[k] == 1 and sizes[lb] != 1]
    if squeeze:
        x = reshape(x, tuple(d for k, d in enumerate(x.shape) if k not in squeeze))
        lab = [lb for k, lb in enumerate(lab) if k not in squeeze]
    for lb in list(dict.fromkeys(lab)):
        axes = [k for k, m in enumerate(lab) if m == lb]
        if len(axes) > 1:
            n = x.shape[axes[0]]
            rest = [k for k in range(len(lab)) if k not in axes]
            merged = reshape(transpose(x, tuple(rest + axes)), tuple(x.shape[k] for k in rest) + (n ** len(axes),))
            step = sum(n ** p for p in range(len(axes)))
            x = take(merged, np.arange(n) * step, axis=len(rest))
            lab = [lab[k] for k in rest] + [lb]
    alone = tuple(k for k, lb in enumerate(lab) if lb not in others)
    if alone:
        x = sum_(x, alone)
        lab = [lb for k, lb in enumerate(lab) if k not in alone]
    return x, lab


def _cheapest_pair(work: list, output: list, sizes: dict) -> tuple[int, int]:
    best = None
    for i in range(len(work)):
        for j in range(i + 1, len(work)):
            keep = set(output).union(*[set(m) for k, (_, m) in enumerate(work) if k not in (i, j)])
            result = (set(work[i][1]) | set(work[j][1])) & keep
            cost = math.prod(sizes[lb] for lb in result)
            if best is None or cost < best[0]:
                best = (cost, i, j)
    return best[1], best[2]  # type: ignore[index]


def _contract(a, la: list, b, lb: list, keep: set, sizes: dict):
    """The product of two operands summed over their shared labels that are not kept."""
    batch = [m for m in la if m in lb and m in keep]
    summed = [m for m in la if m in lb and m not in keep]
    a_free = [m for m in la if m not in lb]
    b_free = [m for m in lb if m not in la]
    dims = [sizes[m] for m in batch]
    a_dims, b_dims = [sizes[m] for m in a_free], [sizes[m] for m in b_free]
    a = transpose(a, tuple(la.index(m) for m in batch + a_free + summed)) if a.shape else a
    b = transpose(b, tuple(lb.index(m) for m in batch + summed + b_free)) if b.shape else b
    if not summed:  # no sum: a broadcast product (an outer product is one *)
        a = reshape(a, tuple(dims + a_dims + [1] * len(b_free)))
        b = reshape(b, tuple(dims + [1] * len(a_free) + b_dims))
        return a * b, batch + a_free + b_free
    k = math.prod(sizes[m] for m in summed)
    m, n = math.prod(a_dims), math.prod(b_dims)
    # 1-D operands where no batch or free axis needs the second: the products `@` makes itself
    a = reshape(a, tuple(dims + ([m, k] if batch or a_free else [k])))
    b = reshape(b, tuple(dims + ([k, n] if batch or b_free else [k])))
    product = matmul(a, b)
    return reshape(product, tuple(dims + a_dims + b_dims)), batch + a_free + b_free


# --- products built on einsum ---

def tensordot(a, b, axes=2):
    """Sum of products over ``axes`` of ``a`` and ``b`` (``np.tensordot``): the last ``axes``
    axes of ``a`` with the first of ``b``, or two lists of axes."""
    a, b = _node(a, "tensordot operand 0"), _node(b, "tensordot operand 1")
    na, nb = len(a.shape), len(b.shape)
    if isinstance(axes, (int, np.integer)):
        n = operator.index(axes)
        ax_a, ax_b = list(range(na - n, na)), list(range(n))
    else:
        ax_a, ax_b = ([operator.index(t) for t in np.atleast_1d(s).tolist()] for s in axes)
    if len(ax_a) != len(ax_b):
        raise ValueError("tensordot: the two lists of axes must have one length")
    ax_a = [_shapes.normalize_axis(t, na, "tensordot") for t in ax_a]
    ax_b = [_shapes.normalize_axis(t, nb, "tensordot") for t in ax_b]
    for p, q in zip(ax_a, ax_b):
        if a.shape[p] != b.shape[q]:
            raise ShapeError(f"tensordot: shape-mismatch for sum: axis {p} of {a.shape} and axis {q} of {b.shape}")
    la = [("a", k) for k in range(na)]
    lb = [("b", k) for k in range(nb)]
    for p, q in zip(ax_a, ax_b):
        lb[q] = la[p]
    out = [m for k, m in enumerate(la) if k not in ax_a] + [m for k, m in enumerate(lb) if k not in ax_b]
    return einsum_labels([a, b], [la, lb], out)


def dot(a, b):
    """``np.dot``: ``*`` for a scalar, ``@`` for 1-D and 2-D operands, else a sum over the
    last axis of ``a`` and the second-to-last of ``b``."""
    a, b = _node(a, "dot operand 0"), _node(b, "dot operand 1")
    if not a.shape or not b.shape:
        return a * b
    if len(a.shape) <= 2 and len(b.shape) <= 2 or len(b.shape) == 1:
        return matmul(a, b)
    return tensordot(a, b, ([-1], [-2]))


def vdot(a, b):
    """The dot product of the flattened operands (``np.vdot``)."""
    return matmul(reshape(a, -1), reshape(b, -1))


def inner(a, b):
    """Sum of products over the last axes (``np.inner``; ``*`` for a scalar)."""
    a, b = _node(a, "inner operand 0"), _node(b, "inner operand 1")
    if not a.shape or not b.shape:
        return a * b
    return tensordot(a, b, ([-1], [-1]))


def outer(a, b):
    """``a.ravel()[:, None] * b.ravel()[None, :]`` (``np.outer``): one broadcast product."""
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))


def kron(a, b):
    """The Kronecker product (``np.kron``): one broadcast product between reshapes."""
    a, b = _node(a, "kron operand 0"), _node(b, "kron operand 1")
    nd = max(len(a.shape), len(b.shape))
    sa = (1,) * (nd - len(a.shape)) + a.shape
    sb = (1,) * (nd - len(b.shape)) + b.shape
    if not nd:
        return a * b
    spread = reshape(a, tuple(v for s in sa for v in (s, 1))) * reshape(b, tuple(v for t in sb for v in (1, t)))
    return reshape(spread, tuple(s * t for s, t in zip(sa, sb)))


# --- diagonals and triangles ---

def diagonal(x, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """The diagonal of the plane ``axis1, axis2`` as the last axis (``np.diagonal``): a ``take``."""
    x = _node(x, "the operand of diagonal")
    nd = len(x.shape)
    if nd < 2:
        raise ValueError("diag requires an array of at least two dimensions")
    a, b = (_shapes.normalize_axis(t, nd, "diagonal") for t in (axis1, axis2))
    if a == b:
        raise ValueError("axis1 and axis2 cannot be the same")
    rest = [k for k in range(nd) if k not in (a, b)]
    n1, n2 = x.shape[a], x.shape[b]
    r0, c0 = max(-offset, 0), max(offset, 0)
    length = max(0, min(n1 - r0, n2 - c0))
    merged = reshape(transpose(x, tuple(rest + [a, b])), tuple(x.shape[k] for k in rest) + (n1 * n2,))
    return take(merged, (np.arange(length) + r0) * n2 + np.arange(length) + c0, axis=len(rest))


def trace(x, offset: int = 0, axis1: int = 0, axis2: int = 1):
    """The sum of a diagonal (``np.trace``)."""
    return sum_(diagonal(x, offset, axis1, axis2), -1)


def diag(v, k: int = 0):
    """``np.diag``: the k-th diagonal of a 2-D ``v``, or the square matrix with a 1-D ``v`` on it
    (one scatter of ``v``: the adjoint takes the diagonal back)."""
    v = _node(v, "the operand of diag")
    if len(v.shape) == 2:
        return diagonal(v, k)
    if len(v.shape) != 1:
        raise ValueError("Input must be 1- or 2-d.")
    n = v.shape[0]
    size = n + abs(k)
    positions = (np.arange(n) + max(-k, 0)) * size + np.arange(n) + max(k, 0)
    placed = _build("scatter_add", v, params=(0, tuple(int(p) for p in positions), (n,), (size * size,)))
    return reshape(placed, (size, size))


def diagflat(v, k: int = 0):
    """``np.diagflat``: ``diag`` of the flattened ``v``."""
    return diag(reshape(v, -1), k)


def tril(x, k: int = 0):
    """``x`` with the elements above the k-th diagonal of its last two axes zeroed (``np.tril``)."""
    return _build("triangle", _node(x, "the operand of tril"), params=(operator.index(k), False))


def triu(x, k: int = 0):
    """``x`` with the elements below the k-th diagonal of its last two axes zeroed (``np.triu``)."""
    return _build("triangle", _node(x, "the operand of triu"), params=(operator.index(k), True))


def cross(a, b, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: int | None = None):
    """The cross product of 3-vectors along ``axisa``/``axisb`` (``np.cross``), products of
    components as NumPy computes them; 2-vectors (deprecated in NumPy 2) are not supported."""
    a, b = _node(a, "cross operand 0"), _node(b, "cross operand 1")
    if axis is not None:
        axisa = axisb = axisc = axis
    a = moveaxis(a, axisa, -1)
    b = moveaxis(b, axisb, -1)
    if a.shape[-1] != 3 or b.shape[-1] != 3:
        raise TypeError(f"np.cross of vectors of {a.shape[-1]} and {b.shape[-1]} components is not supported "
                        "on symbolic expressions (3-vectors only)")
    a0, a1, a2 = (getitem(a, (Ellipsis, k)) for k in range(3))
    b0, b1, b2 = (getitem(b, (Ellipsis, k)) for k in range(3))
    c = stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return moveaxis(c, -1, axisc)


# --- norms ---

def _root_of_squares(s):
    """``sqrt(s)`` whose derivative at ``s = 0`` is 0 (a norm at the origin, as PyTorch's)."""
    zero = _build("eq", s, 0.0)
    return where(zero, 0.0, sqrt(where(zero, 1.0, s)))


def norm(x, ord=None, axis=None, keepdims: bool = False):
    """``np.linalg.norm``: vector norms (``ord`` None or 2, 1, inf, -inf, 0, any p) and matrix
    norms (``"fro"``, 1, -1, inf, -inf). The 2-norm's derivative at the origin is 0 (PyTorch's
    choice). Norms that need singular values (``"nuc"``, matrix 2 and -2) raise ``TypeError``."""
    x = _node(x, "the operand of norm")
    nd = len(x.shape)
    if axis is None:
        if ord is None or (ord == "fro" and nd == 2) or (ord == 2 and nd == 1):
            out = _root_of_squares(sum_(x * x))
            return reshape(out, (1,) * nd) if keepdims else out
        if nd > 2:
            raise ValueError("Improper number of dimensions to norm.")
        axes = tuple(range(nd))
    else:
        axes = tuple(np.atleast_1d(axis).tolist())
    axes = tuple(_shapes.normalize_axis(a, nd, "norm") for a in axes)
    if len(axes) == 1:
        out = _vector_norm(x, ord, axes[0])
    elif len(axes) == 2:
        out = _matrix_norm(x, ord, *axes)
    else:
        raise ValueError("Improper number of dimensions to norm.")
    if keepdims:
        out = reshape(out, tuple(1 if k in axes else d for k, d in enumerate(x.shape)))
    return out


def _vector_norm(x, ord, axis: int):
    if ord is None or ord == 2:
        return _root_of_squares(sum_(x * x, axis))
    if ord == math.inf:
        return max_(abs_(x), axis)
    if ord == -math.inf:
        return min_(abs_(x), axis)
    if ord == 0:
        return sum_(where(_build("eq", x, 0.0), 0.0, 1.0), axis)
    if ord == 1:
        return sum_(abs_(x), axis)
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    return sum_(abs_(x) ** float(ord), axis) ** (1.0 / float(ord))


def _matrix_norm(x, ord, row: int, col: int):
    if row == col:
        raise ValueError("Duplicate axes given.")
    if ord is None or ord == "fro":
        return _root_of_squares(sum_(x * x, (row, col)))
    if ord in (1, -1):
        col -= col > row
        return (max_ if ord == 1 else min_)(sum_(abs_(x), row), col)
    if ord in (math.inf, -math.inf):
        row -= row > col
        return (max_ if ord > 0 else min_)(sum_(abs_(x), col), row)
    if ord in ("nuc", 2, -2):
        raise TypeError(f"np.linalg.norm with ord={ord!r} of a matrix needs singular values, which are not "
                        "supported on symbolic expressions")
    raise ValueError("Invalid norm order for matrices.")

