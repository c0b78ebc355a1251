"""Dask arrays in, Dask arrays out: batches and data-parallel reductions beyond one machine.

Every batch entry point of a compiled function (``fn(...)``, ``value_and_grad``,
``grad``, and ``jvp``/``hvp``, which call compiled functions) takes
``dask.array.Array`` arguments mixed with NumPy arrays and numbers. A call gives
lazy Dask arrays chunked as the arguments along the batch axis (the leading axis;
the other axes of a tensor input in one chunk): one task per chunk, which runs
the compiled batch loop (``da.apply_gufunc``). Chunks that disagree between
arguments are rechunked to a common chunking by Dask.

With ``reduce="sum"`` or ``"mean"`` (``reduce.py``), each chunk's task gives the
sums of its points only, and Dask adds them by a tree reduction: no per-point
result is kept. The reduced result is computed at once (with the active
``dask.distributed.Client``, if any) and returned as floats and NumPy arrays, the
form of the in-process reduction, so that ``scipy.optimize.minimize`` takes
``fn.value_and_grad(theta, X, y, reduce="sum")`` whatever ``X`` is.

A worker receives the function by structure (pickling) and builds it once per
process (``per_process``), loading its machine code from the disk cache or
compiling it; each chunk runs with one Numba thread (``per_process.CHUNK_THREADS``):
Dask's workers and threads are the parallelism.

Nothing here imports Dask unless a Dask array was given (it is an optional extra).
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ArgumentError, ShapeError
from . import batch, per_process, reduce
from .arguments import is_dask_array

INSTALL_HINT = 'pip install "adjoint-compiler[dask]"'
WORKER_HINT = ("the Dask workers could not load this library: install adjoint-compiler (the same version) "
               "in the workers' environment")
SPLIT_EVERY = 8  # chunk sums added per task of the tree reduction


def require_dask():
    """``dask.array``, or an ``ImportError`` that names the extra to install."""
    try:
        import dask
        import dask.array as da
    except ImportError as exc:
        raise ImportError(f"Dask arrays need the dask extra: {INSTALL_HINT} ({exc})") from exc
    del dask
    return da


def has_dask(args: tuple) -> bool:
    """Whether any argument is a Dask array (never imports Dask: none can be one unless
    ``dask.array`` was imported)."""
    return any(is_dask_array(a) for a in args)


def route(fn, role: str, args: tuple, how: str | None):
    """A call with Dask arguments or ``reduce``: mapped over chunks, or reduced."""
    if not has_dask(args):
        return reduce.reduced(fn, role, args, how)
    if how is not None:
        return reduce_call(fn, role, args, how)
    return map_call(fn, role, args)


def _prepare(fn, role: str, args: tuple) -> tuple[list, int | None]:
    """Arguments checked (shapes, known chunk sizes, real dtypes), batched tensor arguments in one
    chunk along their other axes; the batch size."""
    da = require_dask()
    if len(args) != len(fn.inputs):
        raise ArgumentError(batch.count_message(fn, len(args)))
    if role == "value_and_grad":
        fn._require_wrt()
    out, n, n_from = [], None, None
    for i, (node, a) in enumerate(zip(fn.inputs, args)):
        where = f"argument {node.name!r} (position {i + 1})"
        if isinstance(a, da.Array):
            if a.dtype.kind not in "biuf":
                raise ArgumentError(f"{where} must hold real numbers, got a Dask array of dtype {a.dtype}")
            if any(math.isnan(c) for axis in a.chunks for c in axis):
                raise ShapeError(f"{where} is a Dask array of unknown chunk sizes (shape {a.shape}): "
                                 "call .compute_chunk_sizes() on it (or give lengths) first")
        elif not isinstance(a, (int, float, np.number)) or isinstance(a, bool):
            a = np.asarray(a)
            if a.dtype.kind not in "biuf":
                raise ArgumentError(f"{where} must hold real numbers, got an array of dtype {a.dtype}")
        shape = np.shape(a)
        batched = reduce.is_batched(fn, node, a)
        if shape != node.shape and not (batched and shape[1:] == node.shape):
            raise ShapeError(f"{where} must have shape {node.shape} (or (n,) + {node.shape} for a batch of n "
                             f"points), got shape {shape}")
        if batched and shape[0] != 1:
            if n is not None and shape[0] != n:
                raise ShapeError(f"batch sizes differ: argument {n_from!r} has {n} points and {node.name!r} "
                                 f"has {shape[0]} (the leading axis is the batch)")
            n, n_from = shape[0], node.name
        elif batched:  # one point, shared by all: as a point
            a = a[0]
        out.append(a)
    return _align(fn, out, da), n


def _align(fn, args: list, da) -> list:
    """Batched arguments chunked alike along the batch axis: as the first Dask one (the others
    rechunked, NumPy ones cut so); the other axes of a tensor input in one chunk, and a shared
    (one point) Dask tensor in one chunk (every task reads all of it: ``apply_gufunc`` takes no
    core axis split in chunks)."""
    batched = [reduce.is_batched(fn, node, a) for node, a in zip(fn.inputs, args)]
    first = next((a for a, b in zip(args, batched) if b and isinstance(a, da.Array)), None)
    out = []
    for node, a, b in zip(fn.inputs, args, batched):
        if b and first is not None:
            whole = (-1,) * len(node.shape)
            a = a.rechunk((first.chunks[0],) + whole) if isinstance(a, da.Array) else \
                da.from_array(a, (first.chunks[0],) + whole)
        elif not b and isinstance(a, da.Array) and a.ndim:
            a = a.rechunk(-1)
        out.append(a)
    return out


def _core(letter: str, shape: tuple) -> str:
    return ",".join(f"{letter}{axis}" for axis in range(len(shape)))


def map_call(fn, role: str, args: tuple):
    """``role`` at every point of Dask arguments: lazy Dask arrays, one task per chunk."""
    da = require_dask()
    prepared, _ = _prepare(fn, role, args)
    tree = reduce.structure(fn, role)
    outs = reduce.leaves(tree)
    ins = ",".join(f"({_core(f'i{j}_', node.shape)})" for j, node in enumerate(fn.inputs))
    results = ",".join(f"({_core(f'o{j}_', leaf.shape)})" for j, leaf in enumerate(outs))
    sizes = {f"o{j}_{axis}": d for j, leaf in enumerate(outs) for axis, d in enumerate(leaf.shape)}
    dtypes = [np.float64] * len(outs)
    mapped = da.apply_gufunc(_Chunk(fn, role, len(outs) > 1), f"{ins}->{results}", *prepared,
                             output_dtypes=dtypes if len(outs) > 1 else dtypes[0], output_sizes=sizes,
                             allow_rechunk=False, vectorize=False)
    return reduce.rebuild(tree, list(mapped) if len(outs) > 1 else [mapped])


class _Chunk:
    """The task of one chunk: the checked batch call of ``role`` on its blocks, its results
    as a tuple of arrays (or the one array)."""

    def __init__(self, fn, role: str, several: bool):
        self.fn, self.role, self.several = fn, role, several
        self.__name__ = f"compiler_{role}"  # (no "-": apply_gufunc splits its keys there)

    def __dask_tokenize__(self):
        return ("compiler-chunk", per_process.key_of(self.fn), self.role, self.several)

    def __call__(self, *blocks):
        with per_process.chunk_call(self.fn, self.role):
            result = batch.checked_call(self.fn, self.role, blocks)
        arrays = [np.asarray(x, dtype=np.float64) for x in reduce.leaves(result)]
        return tuple(arrays) if self.several else arrays[0]


class _Sums:
    """The task of one chunk of a reduction: the sums of its points, one row ``(1, P)``."""

    def __init__(self, fn, role: str):
        self.fn, self.role = fn, role
        self.__name__ = f"compiler_{role}_sums"

    def __dask_tokenize__(self):
        return ("compiler-sums", per_process.key_of(self.fn), self.role)

    def __call__(self, *blocks):
        with per_process.chunk_call(self.fn, self.role):
            sums = reduce.chunk_sums(self.fn, self.role, blocks)
        return np.concatenate([s.ravel() for s in sums])[None, :]


def reduce_call(fn, role: str, args: tuple, how: str):
    """``role`` summed (or averaged) over the points of Dask arguments, by a tree reduction of
    per-chunk sums; computed, as floats and NumPy arrays (see the module)."""
    da = require_dask()
    import dask
    reduce.check_how(how)
    prepared, n = _prepare(fn, role, args)
    if role == "value_and_grad":
        reduce.require_shared_wrt(fn, args, how)
    if n is None:  # one point, given as Dask arrays
        return reduce.reduced(fn, role, tuple(dask.compute(*prepared)), how)
    tree = reduce.structure(fn, role)
    outs = reduce.leaves(tree)
    width = sum(leaf.size for leaf in outs)
    pairs = []
    for j, (node, a) in enumerate(zip(fn.inputs, prepared)):
        core = tuple(f"i{j}_{axis}" for axis in range(len(node.shape)))
        if np.ndim(a) == len(node.shape) + 1:  # batched
            if not isinstance(a, da.Array):
                a = da.from_array(a, chunks=(-1,) + (-1,) * len(node.shape))
            pairs += [a, ("n",) + core]
        elif isinstance(a, da.Array):
            pairs += [a.rechunk(-1) if a.ndim else a, core]
        else:
            pairs += [a, None]
    sums = da.blockwise(_Sums(fn, role), ("n", "p"), *pairs, dtype=np.float64, concatenate=True,
                        new_axes={"p": width}, adjust_chunks={"n": 1})
    total = sums.sum(axis=0, split_every=SPLIT_EVERY)
    try:
        (flat,) = dask.compute(total)
    except ImportError as exc:  # a worker without this library cannot unpickle the function
        if "compiler" in str(exc):
            raise ImportError(f"{WORKER_HINT} ({exc})") from exc
        raise
    if how == "mean":
        flat = flat / n if n else np.full_like(flat, np.nan)
    items, start = [], 0
    for leaf in outs:
        piece = flat[start:start + leaf.size]
        start += leaf.size
        items.append(float(piece[0]) if leaf.shape == () else piece.reshape(leaf.shape).copy())
    return reduce.rebuild(tree, items)
