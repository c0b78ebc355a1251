"""Calling a compiled function of tensors: argument checks, batches, results.

An argument for an input of shape ``S`` is an array of shape ``S`` (one
point) or ``(n,) + S`` (a batch of ``n`` points); arguments of one point are
shared by every point of a batch. Results are Python floats for scalars and
fresh arrays (never views of the arguments) for tensors.

Arguments are never written: read-only arrays (``np.frombuffer``, a memmap opened
``"r"``, ``np.broadcast_to``, ``setflags(write=False)``) are taken as they are by
the batch loops of scalar functions, which are compiled for read-only arrays, and
copied for the kernels of tensor functions. A masked array is refused (its mask
would be silently dropped); an integer beyond float64 range is refused.

>>> import numpy as np
>>> from compiler import ir
>>> W = ir.symbol("W", (2, 3))
>>> arrays, n = check_arguments((np.ones((5, 2, 3)),), [W])
>>> n, arrays[0].shape
(5, (5, 2, 3))
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ArgumentError, ShapeError
from ..ir import Node


def check_arguments(args: tuple, inputs: Sequence[Node]) -> tuple[list[np.ndarray], int | None]:
    """Each argument as a C-contiguous float64 array, and the batch size (None for one point).

    In a batch, an argument of one point gets a leading axis of length 1 (its
    stride in the batch loop is 0).
    """
    _refuse_lazy(args)
    if len(args) != len(inputs):
        names = ", ".join(f"{n.name}{_shape_note(n.shape)}" for n in inputs)
        raise ArgumentError(f"expected {len(inputs)} argument(s) ({names}), in this order; got {len(args)}")
    arrays, batched = [], []
    n, n_from = None, None
    for i, (a, node) in enumerate(zip(args, inputs)):
        where = f"argument {node.name!r} (position {i + 1})"
        if isinstance(a, (str, bytes, complex, np.complexfloating)) or a is None:
            raise ArgumentError(f"{where} must be real numbers (shape {node.shape}), got {type(a).__name__}")
        _refuse_masked_or_huge(a, where)
        try:
            arr = np.asarray(a)
        except Exception as exc:  # ragged lists and objects NumPy cannot take
            raise ArgumentError(f"{where} must be real numbers (shape {node.shape}), "
                                f"got {type(a).__name__}") from exc
        if arr.dtype.kind not in "biuf":
            raise ArgumentError(f"{where} must hold real numbers, got an array of dtype {arr.dtype}"
                                + _HUGE_HINT * (arr.dtype.kind == "O"))
        shape = node.shape
        if arr.shape == shape:
            batched.append(False)
        elif arr.ndim == len(shape) + 1 and arr.shape[1:] == shape:
            batched.append(True)
            if n is None or n == 1:
                n, n_from = arr.shape[0], (node.name, arr.shape)
            elif arr.shape[0] not in (1, n):
                raise ShapeError(f"batch sizes differ: argument {n_from[0]!r} has shape {n_from[1]} and "
                                 f"{node.name!r} has shape {arr.shape} (the leading axis is the batch)")
        else:
            raise ShapeError(f"{where} must have shape {shape} (or (n,) + {shape} for a batch of n points), "
                             f"got shape {arr.shape}")
        # (np.ascontiguousarray would make a 0-d array 1-d); the kernels are compiled for
        # writable arrays (and never write them): a read-only one is copied
        if arr.ndim:
            arr = np.ascontiguousarray(arr, dtype=np.float64)
            arrays.append(arr if arr.flags.writeable else arr.copy())
        else:
            arrays.append(float(arr))
    if n is None:
        return arrays, None
    return [a if b else np.reshape(a, (1,) + np.shape(a)) for a, b in zip(arrays, batched)], n


def _shape_note(shape: tuple) -> str:
    return f": {shape}" if shape else ""


def result(value):
    """A kernel's output as the user gets it: floats, and arrays that are their own."""
    kind = type(value)
    if kind is tuple:
        return tuple([result(v) for v in value])
    if kind is np.ndarray and value.ndim:
        return np.array(value, dtype=np.float64)  # a copy: never a view of an argument or a constant
    return float(value)


def numba_types(shapes: Sequence[tuple], batch: bool = False) -> tuple:
    """Numba argument types: float64 for a scalar, a C-contiguous float64 array otherwise
    (one more axis in a batch)."""
    import numba
    out = []
    for shape in shapes:
        ndim = len(shape) + (1 if batch else 0)
        out.append(numba.types.Array(numba.float64, ndim, "C") if ndim else numba.float64)
    return tuple(out)


def check_scalar_arguments(args: tuple, names: list[str], dtype=np.float64) -> tuple[list[np.ndarray], int | None]:
    """Each argument as a read-only 1-D array of ``dtype`` (length 1 for numbers: the batch loops
    are compiled for read-only arrays, so that one of the caller's is never copied) and the
    batch length, or None. (A function of float32 inputs asks for float32: ``batch``.)"""
    _refuse_lazy(args)
    arrays, n, n_from = [], None, None
    for i, (a, name) in enumerate(zip(args, names)):
        where = f"argument {name!r} (position {i + 1})"
        if isinstance(a, (bool, int, float, np.number)) and not isinstance(a, (complex, np.complexfloating)):
            _refuse_masked_or_huge(a, where)
            arrays.append(_read_only(np.array([a], dtype=dtype)))
            continue
        if isinstance(a, (str, bytes, complex, np.complexfloating)) or a is None:
            raise ArgumentError(f"{where} must be a real number or a 1-D array of them, got {type(a).__name__}")
        _refuse_masked_or_huge(a, where)
        try:
            arr = np.asarray(a)
        except Exception as exc:  # ragged lists and other objects numpy cannot take
            raise ArgumentError(f"{where} must be a real number or a 1-D array of them, got {type(a).__name__}") from exc
        if arr.dtype.kind not in "biuf":
            raise ArgumentError(f"{where} must hold real numbers, got an array of dtype {arr.dtype}"
                                + _HUGE_HINT * (arr.dtype.kind == "O"))
        if arr.ndim == 0:
            arrays.append(_read_only(arr.astype(dtype).reshape(1)))
            continue
        if arr.ndim != 1:
            raise ShapeError(f"{where} must be a number or a 1-D array, got an array of shape {arr.shape}")
        arrays.append(_read_only(np.ascontiguousarray(arr, dtype=dtype)))
        if arr.shape[0] != 1 or n is None:
            if n is None or n == 1:
                n, n_from = arr.shape[0], (name, arr.shape)
            elif arr.shape[0] != n:
                raise ShapeError(f"array arguments have incompatible lengths: {n_from[0]!r} has shape "
                                 f"{n_from[1]} and {name!r} has shape {arr.shape}")
    return arrays, n


def _refuse_lazy(args: tuple) -> None:
    """Dask arrays are never converted here (that would compute them): a TypeError, which
    sends the fast paths' calls to ``batch.checked_call`` and so to ``dask_batch``."""
    if any(is_dask_array(a) for a in args):
        raise ArgumentError("Dask arrays are taken by the batch entry points (fn(...), value_and_grad, grad, "
                            "jvp, hvp, and their reduce=); this one computes at one point: pass NumPy arrays "
                            "(x.compute())")


def is_dask_array(a) -> bool:
    """Whether ``a`` is a ``dask.array.Array``, told by its type alone: never by reading
    ``dask.array`` out of ``sys.modules``, which another thread may still be importing (a
    partially initialized module has no ``Array`` yet: a Dask worker's first task)."""
    kind = type(a)
    return hasattr(kind, "__dask_graph__") and kind.__module__.startswith("dask.array")


_HUGE_HINT = " (an integer beyond float64 range, about 1.8e308, is not a float64)"


def _refuse_masked_or_huge(a, where: str) -> None:
    """A masked array (its mask would be silently dropped) or a Python int that no float64
    holds (``10**400``) is an ``ArgumentError`` that says so."""
    if isinstance(a, np.ma.MaskedArray):
        raise ArgumentError(f"{where} is a masked array; the mask would be ignored: pass "
                            "a.filled(value) (or a.data to use the masked values as they are)")
    if isinstance(a, int) and not isinstance(a, bool):
        try:
            float(a)
        except OverflowError:
            raise ArgumentError(f"{where} is an integer of {len(str(abs(a)))} digits, beyond float64 range "
                                "(about 1.8e308); pass float('inf') if that is what is meant") from None


def _read_only(arr: np.ndarray) -> np.ndarray:
    """A read-only view of ``arr`` (the array itself when it is read-only already)."""
    if arr.flags.writeable:
        arr = arr.view()
        arr.flags.writeable = False
    return arr
