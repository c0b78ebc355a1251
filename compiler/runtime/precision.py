"""Compiled functions of float32 inputs: which targets compute them, and the type of what they return.

A graph with a float32 input (``cc.Symbol("x", dtype="float32")``, ``cc.compile(...,
dtype="float32")``) is a ``Float32Function``, made by ``CompiledFunction`` itself
(``CompiledFunction.__new__``), so a gradient function, a pickled function and an ``hvp``
function of it are float32 too. Its kernels are the printed Python source, which computes in
float32 (``codegen.precision``), run as plain Python or by Numba; the llvm target and its
vector batches (``simd``: 16 floats per AVX-512 instruction) compute in float32 when every
input is float32 (``codegen.llvm``). The vm computes in double only, so it is refused by
name, and "auto" does not interpret scalar calls with it: it compiles them with Numba.

Results have the outputs' precision (``ir.dtypes.graph_precision``): numbers as NumPy
scalars (``np.float32``), arrays of that dtype. Arguments go through the same checks as
ever (complex or text is an ``ArgumentError``) and are converted once, without a warning: to
float32 for the vector batches, which read float32 arrays; else to float64, rounded to
float32 on entry to the kernel (the Numba and scalar llvm kernels take doubles).

>>> import compiler as cc
>>> x = cc.Symbol("x", dtype="float32")
>>> fn = cc.compile(x * 0.1, [x], backend="python")
>>> fn.dtype, type(fn(1.0)).__name__
('float32', 'float32')
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import ir
from ..errors import UnsupportedError
from ..ir import Node, dtypes
from .function import CompiledFunction


def has_float32(inputs: Sequence[Node]) -> bool:
    """Whether any input is float32 (then the function is a ``Float32Function``)."""
    return any(n.op == "var" and dtypes.of_symbol(n) == "float32" for n in inputs)


def as_dtype(outputs: list, inputs: list, wrt: list, dtype) -> tuple[list, list, list]:
    """The graph with every input of precision ``dtype`` (``cc.compile(..., dtype=)``):
    inputs are replaced by symbols of the same names and shapes in that precision."""
    name = dtypes.check_dtype(dtype, "compile()'s dtype")
    swap = {n.id: ir.symbol(n.name, n.shape, name) for n in inputs}
    if all(swap[n.id] is n for n in inputs):
        return outputs, inputs, wrt
    new = ir.substitute(outputs, swap)
    return list(new), [swap[n.id] for n in inputs], [swap.get(w.id, w) for w in wrt]


def cast(value, numpy_type):
    """``value`` (a number, an array, or tuples of them) in ``numpy_type``."""
    if isinstance(value, tuple):
        return tuple([cast(v, numpy_type) for v in value])
    if isinstance(value, np.ndarray):
        return value.astype(numpy_type, copy=False)
    if isinstance(value, (float, int, np.floating)):
        return numpy_type(value)
    return value


class Float32Function(CompiledFunction):
    """A compiled function with float32 inputs (see the module docstring)."""

    dtype: str  # the outputs' precision: "float32", or "float64" where a float64 input promotes them

    def __init__(self, outputs, inputs, wrt, backend: str = "auto", many: bool = False,
                 max_statements: int | None = CompiledFunction.__init__.__defaults__[1],  # type: ignore[index]
                 title: str = "", progress: bool = True, single: bool = False, simd: bool = True):
        # the llvm target (and the vector batches, which it makes) computes a graph in one
        # precision: float32 when every input is float32 and no user's function (cc.extern) is called
        order = ir.topo_order(list(outputs))
        pure = all(dtypes.of_symbol(n) == "float32" for n in inputs) and not ir.extern.called(order)
        self.dtype_inputs = "float32" if pure else "mixed"
        if backend == "vm" or backend == "llvm" and not pure:
            why = "computes in float64 only" if backend == "vm" else \
                "computes a graph of float32 inputs only (no float64 input, no cc.extern)"
            raise UnsupportedError(f"backend {backend!r} {why}; this function has float32 inputs: use backend "
                                   "'auto', 'numba' or 'python' (they compute in float32), or compile with "
                                   "dtype='float64' (or dtype='float32')")
        self.dtype = dtypes.graph_precision(outputs)
        self._type = dtypes.DTYPES[self.dtype].numpy
        # "auto" would interpret scalar calls in float64 (the vm) first: straight to Numba
        scalar = not any(n.shape or n.op == "scan" for n in order + list(inputs))
        super().__init__(outputs, inputs, wrt, "numba" if backend == "auto" and scalar else backend,
                         many, max_statements, title, progress, single, simd=simd and pure)
        fast_vg, fast_grad = self.value_and_grad, self.grad  # (entries.bind's closures)
        self.value_and_grad = lambda *args, reduce=None: cast(fast_vg(*args, reduce=reduce), self._type)
        self.grad = lambda *args, reduce=None: cast(fast_grad(*args, reduce=reduce), self._type)

    def __call__(self, *args, reduce=None):
        return cast(super().__call__(*args, reduce=reduce), self._type)

    def hessian(self, *args):
        return cast(super().hessian(*args), self._type)

    def hvp(self, *args, v):
        return cast(super().hvp(*args, v=v), self._type)

    def jvp(self, *args, v):
        return cast(super().jvp(*args, v=v), self._type)

    def jacobian(self, *args):
        return cast(super().jacobian(*args), self._type)
