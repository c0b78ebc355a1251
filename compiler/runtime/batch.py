"""Calls that leave the fast path: checked arguments, then one point or a batch.

A scalar function's batch takes 1-D arrays (numbers are shared by every point)
and runs the compiled parallel loop; a tensor function's batch takes a leading
axis on its inputs.

>>> import numpy as np, compiler as cc
>>> x = cc.Symbol("x")
>>> fn = cc.compile(x * x, [x], backend="python")
>>> checked_call(fn, "value", (np.array([1.0, 2.0]),))
array([1., 4.])
"""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError
from . import arguments, dask_batch, threads
from .flat import FLAT_TARGETS

SLOT = {"value": "_value", "value_and_grad": "_vg"}  # the attribute holding each role's fast path


def checked_call(fn, role: str, args: tuple, how: str | None = None):
    """A call that the fast path turned away: arguments checked, then one point or a batch;
    Dask arguments and ``reduce=how`` (not None) go to ``dask_batch`` and ``reduce``."""
    if how is not None or dask_batch.has_dask(args):
        return dask_batch.route(fn, role, args, how)
    if fn._tensor:  # its entry checks every call; this repeats the check to raise its error
        return getattr(fn, SLOT[role])(*args)
    if role == "value_and_grad":
        fn._require_wrt()
    if len(args) != len(fn._input_names):
        raise ArgumentError(count_message(fn, len(args)))
    # a function of float32 inputs takes them as float32 (converted once, here)
    single = getattr(fn, "dtype_inputs", None) == "float32"
    arrays, n = arguments.check_scalar_arguments(args, fn._input_names, np.float32 if single else np.float64)
    if n is None:  # every argument is a number
        kernel = fn._value if role == "value" else fn._vg
        return kernel(*[float(a[0]) for a in arrays])
    return run_batch(fn, role, arrays, n)


def count_message(fn, given: int) -> str:
    names = ", ".join(fn._input_names)
    return f"expected {len(fn._input_names)} argument(s) ({names}), in this order; got {given}"


def tensor_batch(fn, role: str, arrays: list[np.ndarray], n: int, driver=None):
    """A batch of a function of tensors: outputs get a leading axis of length n; ``driver``
    is the batch loop to run (the compiled one by default)."""
    shapes = [o.shape for o in fn.outputs]
    outs = [np.empty((n,) + s) for s in shapes]
    grads = [np.empty((n,) + w.shape) for _ in fn.outputs for w in fn.wrt] \
        if role == "value_and_grad" else []
    strides = [0 if a.shape[0] == 1 else 1 for a in arrays]
    if n:
        run = driver or fn._code.batch_driver(role)
        with threads.batch(n):
            run(*arrays, *strides, *outs, *grads)
    values = outs[0] if not fn._many else tuple(outs)
    if role == "value":
        return values
    k = len(fn.wrt)
    rows = [tuple(grads[i * k:(i + 1) * k]) for i in range(len(fn.outputs))]
    return values, rows[0] if not fn._many else tuple(rows)


def run_batch(fn, role: str, arrays: list[np.ndarray], n: int):
    """A batch of a scalar function: 1-D arrays (length 1 for shared numbers) in, arrays out."""
    n_out, k = len(fn.outputs), len(fn.wrt)
    target = fn._code.vector_target(role) if n else None
    if target is None and fn.backend in FLAT_TARGETS:
        target = fn._code.target(role)
    if target is not None:
        io = np.dtype(getattr(target, "io", "float64"))  # a float32 vector kernel reads and writes float32
        arrays = _as_dtype(arrays, io)
        flat = np.empty((target.n_out, n), io)
        if n:
            strides = np.array([0 if a.shape[0] == 1 else 1 for a in arrays], dtype=np.int64)
            with threads.batch(n):
                target.batch(tuple(arrays), strides, flat)
        if role == "value":
            return flat[0] if not fn._many else tuple(flat)
        if not fn._many:
            return flat[0], tuple(flat[1:])
        return tuple(flat[:n_out]), np.ascontiguousarray(flat[n_out:].reshape(n_out, k, n).transpose(2, 0, 1))
    out = np.empty((n_out, n))
    arrays = _as_dtype(arrays, np.dtype(np.float64))  # (the scalar loops are compiled for float64)
    strides = [0 if a.shape[0] == 1 else 1 for a in arrays]
    if role == "value":
        if n:
            driver = fn._code.batch_driver("value")
            with threads.batch(n):
                driver(*arrays, *strides, out)
        return out[0] if not fn._many else tuple(out)
    grad = np.empty((k, n)) if not fn._many else np.empty((n, n_out, k))
    if n:
        driver = fn._code.batch_driver("value_and_grad")
        with threads.batch(n):
            driver(*arrays, *strides, out, grad)
    if not fn._many:
        return out[0], tuple(grad)
    return tuple(out), grad


def _as_dtype(arrays: list, dtype: np.dtype) -> list:
    """``arrays`` in ``dtype``, read-only as every array of a batch (one Numba type for all)."""
    out = []
    for a in arrays:
        if a.dtype != dtype:
            a = a.astype(dtype)
            a.flags.writeable = False
        out.append(a)
    return out
