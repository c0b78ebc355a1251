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
        x_data = context.make_array(signature.args[1])(context, builder, x_v).data
        out_data = context.make_array(signature.args[2])(context, builder, out_v).data
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
