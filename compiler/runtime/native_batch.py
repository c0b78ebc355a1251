"""The batch loop of the native target: one Numba function for every kernel, compiled once.

A native kernel is machine code at an address, with the C signature of
``llvm_target``. This parallel loop calls it through that address, so no
per-graph Numba compile is needed, and Numba caches the loop on disk.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir as lir
from numba import types
from numba.extending import intrinsic

BLOCK = 64  # points per block (one input buffer and one scratch buffer per block)


@intrinsic
def _call_kernel(typingctx, address, x, out, offset, stride, scratch):
    """kernel(&x[0], &out.flat[offset], stride, &scratch[0]) for the kernel at ``address``."""
    sig = types.void(address, x, out, offset, stride, scratch)

    def codegen(context, builder, signature, args):
        address_v, x_v, out_v, offset_v, stride_v, scratch_v = args
        ptr = lir.DoubleType().as_pointer()
        fnty = lir.FunctionType(lir.VoidType(), [ptr, ptr, lir.IntType(64), ptr])
        fn = builder.inttoptr(address_v, fnty.as_pointer())
        # (float32 arrays for a float32 vector kernel: its pointers are the same)
        x_data = builder.bitcast(context.make_array(signature.args[1])(context, builder, x_v).data, ptr)
        out_data = builder.bitcast(context.make_array(signature.args[2])(context, builder, out_v).data, ptr)
        s_data = context.make_array(signature.args[5])(context, builder, scratch_v).data
        builder.call(fn, [x_data, builder.gep(out_data, [offset_v]), stride_v, s_data])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(parallel=True, nogil=True, cache=True)
def batch(address, n_scratch, arrays, strides, out):
    """Point i: ``arrays[j][i * strides[j]]`` in, output k to ``out[k, i]``."""
    n = out.shape[1]
    n_in = len(arrays)
    n_blocks = (n + BLOCK - 1) // BLOCK
    for blk in numba.prange(n_blocks):
        x = np.empty(n_in)
        scratch = np.empty(n_scratch)
        for i in range(blk * BLOCK, min(n, (blk + 1) * BLOCK)):
            for j in range(n_in):
                x[j] = arrays[j][i * strides[j]]
            _call_kernel(address, x, out, i, n, scratch)


@numba.njit(parallel=True, nogil=True, cache=True)
def batch_rows(address, n_scratch, shared, varying, where, out):
    """Point i: ``shared`` (the numbers every point shares), with ``varying[i, j]`` at ``where[j]``,
    in; output k to ``out[k, i]``. (A function of tensors: its arguments' numbers flat, one compiled
    loop whatever their count, where a tuple of one array per number would be one per count.)"""
    n = out.shape[1]
    n_blocks = (n + BLOCK - 1) // BLOCK
    for blk in numba.prange(n_blocks):
        x = shared.copy()
        scratch = np.empty(n_scratch)
        for i in range(blk * BLOCK, min(n, (blk + 1) * BLOCK)):
            for j in range(where.size):
                x[where[j]] = varying[i, j]
            _call_kernel(address, x, out, i, n, scratch)


VECTOR_BLOCK = 256  # points per block of the vector loop (a multiple of every width)


@intrinsic
def _call_loop(typingctx, address, pointers, strides, out, n, start, stop, scratch):
    """batch(&pointers[0], &strides[0], &out[0, 0], n, start, stop, &scratch[0]) at ``address``."""
    sig = types.void(address, pointers, strides, out, n, start, stop, scratch)

    def codegen(context, builder, signature, args):
        address_v, pointers_v, strides_v, out_v, n_v, start_v, stop_v, scratch_v = args
        ptr = lir.DoubleType().as_pointer()
        i64 = lir.IntType(64)
        fnty = lir.FunctionType(lir.VoidType(), [ptr, ptr, ptr, i64, i64, i64, ptr])
        fn = builder.inttoptr(address_v, fnty.as_pointer())
        data = [context.make_array(signature.args[k])(context, builder, v).data
                for k, v in ((1, pointers_v), (2, strides_v), (3, out_v), (7, scratch_v))]
        data = [builder.bitcast(d, ptr) for d in data]
        builder.call(fn, [data[0], data[1], data[2], n_v, start_v, stop_v, data[3]])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(parallel=True, nogil=True, cache=True)
def vector_batch(loop, address, n_scratch, width, arrays, strides, out):
    """The vector loop at ``loop`` on blocks of points; the last points of the batch (fewer
    than ``width``) go through the kernel at ``address``, padded with the last point, and only
    theirs are kept. A stride of 0 needs ``width`` copies of the shared number."""
    n_out, n = out.shape
    n_in = len(arrays)
    pointers = np.empty(max(1, n_in), dtype=np.int64)
    for j in range(n_in):
        pointers[j] = arrays[j].ctypes.data
    n_blocks = (n + VECTOR_BLOCK - 1) // VECTOR_BLOCK
    for blk in numba.prange(n_blocks):
        scratch = np.empty(max(1, n_scratch) * width)
        start, stop = blk * VECTOR_BLOCK, min(n, (blk + 1) * VECTOR_BLOCK)
        full = start + (stop - start) // width * width
        _call_loop(loop, pointers, strides, out, n, start, full, scratch)
        if full < stop:
            x = np.empty(n_in * width, out.dtype)  # (float32 for a float32 kernel)
            tail = np.empty((n_out, width), out.dtype)
            for j in range(n_in):
                a, s = arrays[j], strides[j]
                for lane in range(width):
                    x[j * width + lane] = a[min(full + lane, stop - 1) * s]
            _call_kernel(address, x, tail, 0, width, scratch)
            for k in range(n_out):
                for lane in range(stop - full):
                    out[k, full + lane] = tail[k, lane]
