"""Data-parallel reductions: ``fn(*args, reduce="sum")`` and ``fn.value_and_grad(*args, reduce=...)``.

The value summed (or averaged) over the points of a batch, and the gradient of
that sum with respect to the ``wrt`` inputs shared by every point (parameters),
as a loss over a dataset needs it. In this process the batch runs in chunks of
at most ``CHUNK_BYTES`` of results, each by the compiled batch loop, and the
chunks' sums are added: memory stays bounded whatever the number of points, and
no per-point gradient of the whole batch is ever allocated. On Dask arrays the
same chunk sums are made on the workers and added by a tree reduction
(``dask_batch``).

A ``wrt`` input given as an array of points has a gradient per point (the
derivative of the sum with respect to each point's value), not one to reduce:
it is an ``ArgumentError`` that names it (compile with ``wrt=`` the shared
inputs, or call without ``reduce`` for per-point gradients).

>>> import numpy as np, compiler as cc
>>> w, x = cc.symbols("w x")
>>> fn = cc.compile(w * x, [w, x], wrt=[w], backend="python")
>>> fn.value_and_grad(2.0, np.array([1.0, 2.0, 3.0]), reduce="sum")
(12.0, (6.0,))
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ArgumentError
from . import batch

REDUCTIONS = ("sum", "mean")
CHUNK_BYTES = 1 << 23  # results (values and gradients) of one chunk: 8 MB
MIN_CHUNK, MAX_CHUNK = 1 << 10, 1 << 20  # points per chunk


class Leaf:
    """One array of a result, of ``shape`` per point (a float for ``()``)."""

    def __init__(self, shape: tuple):
        self.shape = tuple(shape)
        self.size = math.prod(self.shape)

    def __repr__(self) -> str:
        return f"Leaf{self.shape}"


def structure(fn, role: str):
    """The form of ``fn``'s result of ``role`` (nested tuples of ``Leaf``), per point, as the
    checked path gives it (before a ``wrt`` given alone drops its tuple level)."""
    k, outs = len(fn.wrt), [Leaf(o.shape) for o in fn.outputs]
    values = outs[0] if not fn._many else tuple(outs)
    if role == "value":
        return values
    if not fn._tensor:
        grads = tuple(Leaf(()) for _ in range(k)) if not fn._many else Leaf((len(outs), k))
    else:
        rows = [tuple(Leaf(w.shape) for w in fn.wrt) for _ in outs]
        grads = rows[0] if not fn._many else tuple(rows)
    return values, grads


def leaves(tree) -> list:
    if isinstance(tree, tuple):
        return [x for t in tree for x in leaves(t)]
    return [tree]


def rebuild(tree, items: list):
    """``tree`` with its leaves replaced, in order, by ``items``."""
    it = iter(items)

    def build(t):
        return tuple(build(x) for x in t) if isinstance(t, tuple) else next(it)
    return build(tree)


def check_how(how) -> None:
    if how not in REDUCTIONS:
        raise ArgumentError(f"reduce must be one of {REDUCTIONS} (or None: no reduction), got {how!r:.60}"
                            " (or the call got one positional argument too many)")


def is_batched(fn, node, a) -> bool:
    """Whether argument ``a`` of input ``node`` has a leading axis of points."""
    return len(np.shape(a)) == len(node.shape) + 1


def require_shared_wrt(fn, args: tuple, how: str) -> None:
    """A ``wrt`` input given as an array of points is refused under ``reduce`` (see the module)."""
    wrt = {w.id for w in fn.wrt}
    for i, (node, a) in enumerate(zip(fn.inputs, args)):
        if node.id in wrt and is_batched(fn, node, a):
            shared = [w.name for w in fn.wrt if not any(
                n.id == w.id and is_batched(fn, n, b) for n, b in zip(fn.inputs, args))]
            raise ArgumentError(
                f"reduce={how!r} sums the gradient with respect to inputs shared by every point, but wrt "
                f"input {node.name!r} (position {i + 1}) is an array of points (shape {np.shape(a)}): its "
                f"gradient is per point. Compile with wrt={shared} (the shared inputs), or call without "
                "reduce for per-point gradients")


def batch_size(fn, args: tuple) -> int | None:
    sizes = [np.shape(a)[0] for node, a in zip(fn.inputs, args) if is_batched(fn, node, a)]
    longer = [s for s in sizes if s != 1]
    return (longer or sizes or [None])[0]


def chunk_points(fn, role: str) -> int:
    """Points per chunk: ``CHUNK_BYTES`` of results, within ``MIN_CHUNK`` ... ``MAX_CHUNK``."""
    per_point = 8 * sum(leaf.size for leaf in leaves(structure(fn, role)))
    return max(MIN_CHUNK, min(MAX_CHUNK, CHUNK_BYTES // max(per_point, 1)))


def reduced(fn, role: str, args: tuple, how: str):
    """``role``'s result over the batch of NumPy ``args``, summed (or averaged) over the points,
    computed in chunks in this process."""
    check_how(how)
    if len(args) != len(fn.inputs):
        raise ArgumentError(batch.count_message(fn, len(args)))
    if role == "value_and_grad":
        fn._require_wrt()
        require_shared_wrt(fn, args, how)
    n = batch_size(fn, args)
    if n is None:  # one point: its own sum and mean
        return batch.checked_call(fn, role, args)
    tree = structure(fn, role)
    sums = chunk_sums(fn, role, args, tree)
    if how == "mean":
        sums = [s / n for s in sums] if n else [np.full_like(s, np.nan) for s in sums]
    return rebuild(tree, [float(s) if leaf.shape == () else s for s, leaf in zip(sums, leaves(tree))])


def chunk_sums(fn, role: str, args: tuple, tree=None) -> list[np.ndarray]:
    """The sums over the points of ``args`` of each leaf of ``role``'s result, in chunks."""
    tree = structure(fn, role) if tree is None else tree
    sums = [np.zeros(leaf.shape) for leaf in leaves(tree)]
    n = batch_size(fn, args)
    if n is None:
        part = batch.checked_call(fn, role, args)
        return [s + np.asarray(x, dtype=np.float64) for s, x in zip(sums, leaves(part))]
    arrays = [np.asarray(a) if is_batched(fn, node, a) and np.shape(a)[0] != 1 else a
              for node, a in zip(fn.inputs, args)]
    cut = [is_batched(fn, node, a) and np.shape(a)[0] != 1 for node, a in zip(fn.inputs, args)]
    step = chunk_points(fn, role)
    for start in range(0, n, step):
        chunk = [a[start:start + step] if c else a for a, c in zip(arrays, cut)]
        part = batch.checked_call(fn, role, tuple(chunk))
        for s, x in zip(sums, leaves(part)):
            s += np.sum(x, axis=0)
    return sums
