"""The flat targets, llvm and vm: a kernel that reads its inputs from an array and writes
its outputs (values, then the Jacobian row by row) to an array, for one point or a batch.

>>> from compiler import ir
>>> from compiler.codegen import vm
>>> x = ir.symbol("x")
>>> target = vm_target(vm.assemble([x], [ir.apply("neg", x)], [x, ir.apply("neg", x)]))
>>> target.scalar_call(False, 1, 0, "value")(2.0)
-2.0
"""

from __future__ import annotations

import os
import sys
import threading

import numpy as np

from ..codegen import Schedule
from . import cache, forks
from ..ir.gc_pause import gc_paused

FLAT_TARGETS = ("llvm", "vm")


class Cancelled(Exception):
    """A compile stopped because the interpreter is exiting."""


# Set at exit (``tiers``): compiles stop at their next checkpoint (an LLVM part).
shutting_down = threading.Event()


class FlatTarget:
    """A kernel that reads its inputs from an array and writes its outputs (values, then the
    Jacobian row by row) to an array: the llvm and vm targets."""

    def __init__(self, n_in: int, n_out: int, scalar, batch, native=None):
        self.n_in, self.n_out = n_in, n_out
        self.scalar, self.batch = scalar, batch  # scalar(x, out); batch(arrays, strides, out2d)
        self.native = native  # (ctypes function, scratch size) of machine code: a faster scalar path
        self.externs = False  # whether the kernel calls a user's function (cc.extern)
        self.rerun = None  # a user's function (cc.extern) is called: see ``guard``

    def scalar_call(self, many: bool, n_values: int, k: int, role: str):
        n_in, n_out, scalar = self.n_in, self.n_out, self.scalar
        shape = _shaper(many, n_values, k, role)
        call = self._native_call(shape, many, n_values, k, role) if self.native is not None else None
        if call is None:
            def call(*args):
                if len(args) != n_in:
                    raise TypeError("argument count")  # the checked slow path explains
                try:
                    x = np.array(args, dtype=np.float64)
                except (TypeError, ValueError, OverflowError):
                    raise TypeError("not numbers") from None
                if x.ndim != 1:
                    raise TypeError("arrays")  # the slow path runs the batch
                out = np.empty(n_out)
                scalar(x, out)
                return shape(out.tolist())
        return call if self.rerun is None else self._checked(call, shape)

    def _native_call(self, shape, many: bool, n_values: int, k: int, role: str):
        """One point through a CPython function made for the kernel (``native_entry``: about 0.2 us
        a call), or else through ctypes buffers of this thread (about 1.5 us: no NumPy array per
        call)."""
        from . import native_entry
        if native_entry.supported():
            if role == "value":
                return native_entry.entry(self.kernel, "all" if many else "one")
            if not many:
                return native_entry.entry(self.kernel, "value_and_grad")
            flat = native_entry.entry(self.kernel, "all")
            return lambda *args: shape(flat(*args))
        import ctypes
        n_in, n_out = self.n_in, self.n_out
        cfunc, n_scratch = self.native
        local = threading.local()

        def buffers():
            x, out, s = (ctypes.c_double * n_in)(), (ctypes.c_double * n_out)(), (ctypes.c_double * n_scratch)()
            local.b = (x, out, s, ctypes.addressof(x), ctypes.addressof(out), ctypes.addressof(s))
            return local.b

        def call(*args):
            if len(args) != n_in:
                raise TypeError("argument count")  # the checked slow path explains
            b = getattr(local, "b", None) or buffers()
            try:
                b[0][:] = args
            except (TypeError, ValueError, OverflowError):
                raise TypeError("not numbers") from None  # arrays, ints beyond float range: the slow path
            cfunc(b[3], b[4], 1, b[5])
            return shape(b[1][:])
        return call

    def guard(self, python_kernel) -> None:
        """For a kernel that calls a user's function (``cc.extern``): a call during which its cfunc
        caught an exception (``extern_cfunc.ERRORS`` changed) runs again in Python, point by point,
        with the kernel ``python_kernel()`` returns (the generated source, calling the Python
        function): that raises the user's own exception. (The count is per process: a call that only
        overlapped another thread's error gets the Python function's results, which are right too.)"""
        from .extern_cfunc import ERRORS

        def rerun(point) -> list:
            with np.errstate(all="ignore"):
                result = python_kernel()(*map(np.float64, point))
            return [float(v) for v in np.hstack(_flatten(result))]
        self.rerun, batch = rerun, self.batch

        def guarded_batch(arrays, strides, out):
            before = int(ERRORS[0])
            batch(arrays, strides, out)
            if ERRORS[0] != before:
                for i in range(out.shape[1]):
                    out[:, i] = rerun([a[i * s] for a, s in zip(arrays, strides)])
        self.batch = guarded_batch

    def _checked(self, call, shape):
        from .extern_cfunc import ERRORS
        rerun = self.rerun

        def checked(*args):
            before = int(ERRORS[0])
            r = call(*args)
            return r if ERRORS[0] == before else shape(list(rerun(args)))
        return checked


def _flatten(result) -> list:
    """Nested tuples of numbers and arrays as one list of arrays, in order."""
    if isinstance(result, tuple):
        return [a for r in result for a in _flatten(r)]
    return [np.ravel(result)]


def _shaper(many: bool, n_values: int, k: int, role: str):
    """What a call of ``role`` returns, from the flat outputs (values, then the Jacobian by rows)."""
    def shape(r: list):
        if role == "value":
            return r[0] if not many else tuple(r)
        if not many:
            return r[0], tuple(r[1:])
        return tuple(r[:n_values]), np.array(r[n_values:]).reshape(n_values, k)
    return shape


def progress_bar(total: int, what: str, enabled: bool):
    """A tqdm bar on stderr that appears only if the work takes more than a second."""
    if not enabled or os.environ.get("COMPILER_PROGRESS", "1").lower() in ("0", "off", "false", "no"):
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc=what, unit="part", delay=1.0, file=sys.stderr, leave=False)


def native_target(inputs, plan: Schedule | None, role: str, progress: bool, module=None,
                   compile: bool = True, simd=None, index_key: str | None = None) -> FlatTarget | None:
    """The llvm build of ``plan``: loaded from the disk cache, else compiled (or, without
    ``compile``, None). ``module`` is its LLVM IR when the caller has it already.
    ``index_key`` is the schedule's ``llvm_index`` key when the caller has it (a lazy start:
    ``plan`` may then be None, and a miss is None).

    With ``simd`` (a ``simd.SimdInfo`` on the "simd" path), the build is the vector
    kernel of its width, and the target has only a batch (``vector_batch``).
    """
    from ..codegen import llvm as codegen_llvm  # the llvm target's modules: imported when used
    from . import llvm, llvm_index, llvm_parts
    width = simd.width if simd is not None else 1
    fingerprint = llvm.host_fingerprint() + ("" if simd is None else "|" + simd.key())
    # a scalar kernel seen before is found by its schedule's structure, without printing its IR
    if index_key is None and module is None and simd is None:
        index_key = llvm_index.key(fingerprint, inputs, plan)
    indexed = llvm_index.load(index_key) if index_key is not None else None
    helper = None  # a helper process for a large compile (``llvm_parts``), started early
    if indexed is not None:
        key, module = indexed
    elif plan is None:
        return None
    else:
        if module is None:
            if compile and index_key is not None:  # not indexed: cold; the child starts while this
                helper = llvm_parts.start(len(plan.statements) // codegen_llvm.CHUNK + 2)  # prints the IR
            try:
                with gc_paused():
                    module = codegen_llvm.emit(inputs, plan.outputs, plan.statements, width=width,
                                               mangle=simd.vector_function if simd is not None else None)
            except BaseException:
                if helper is not None:
                    helper.stop()
                raise
        key = cache.entry_key("llvm", fingerprint, *module.texts)
    kernel = None
    blob = cache.load(key, "o")
    if blob is not None and helper is not None:  # (compiled before under another index key)
        helper.stop()
        helper = None
    loaded = blob is not None
    if blob is not None:
        try:
            with forks.compiling():
                kernel = llvm.NativeKernel(llvm.unpack(blob), module)
        except Exception:  # a verified entry LLVM cannot load (another LLVM build): compile anew
            kernel = None
    if kernel is None and indexed is not None:  # indexed, but its object code is gone or unusable:
        if plan is None:
            return None
        with gc_paused():                        # the usual way, from the IR
            module = codegen_llvm.emit(inputs, plan.outputs, plan.statements)
        return native_target(inputs, plan, role, progress, module, compile, simd)
    if kernel is None and not compile:
        return None
    if kernel is None:
        loaded = False
        what = f"compiling {role} (llvm" + (f", {simd.isa} vectors)" if simd is not None else ")")
        bar = progress_bar(len(module.texts), what, progress)

        def part_done(k: int) -> None:
            if bar is not None:
                bar.update(1)
            if shutting_down.is_set():
                raise Cancelled()
        try:
            with forks.compiling():  # a fork waits for it
                objects = llvm.compile_objects(module, part_done, helper)
        finally:
            if bar is not None:
                bar.close()
        cache.store(key, "o", llvm.pack(objects))
        with forks.compiling():
            kernel = llvm.NativeKernel(objects, module)
    if index_key is not None and indexed is None:
        llvm_index.store(index_key, key, module)
    cfunc, address, n_scratch = kernel.cfunc, kernel.address, kernel.n_scratch
    if simd is not None:
        loop = kernel.batch_address

        def vector_batch(arrays, strides, out):
            forks.ensure_registered()
            from . import native_batch
            # a number shared by every point: ``width`` copies, read as one vector
            arrays = tuple(a if s else _copies(a[0], width) for a, s in zip(arrays, strides))
            native_batch.vector_batch(loop, address, n_scratch, width, arrays, strides, out)
        target = FlatTarget(len(inputs), module.n_out, None, vector_batch)
        target.io = module.io  # float32: the batch's arrays are float32 (``batch.run_batch``)
        target.kernel, target.module, target.loaded = kernel, module, loaded
        target.externs = bool(module.externs)
        return target

    def scalar(x, out):
        s = np.empty(n_scratch)
        cfunc(x.ctypes.data, out.ctypes.data, 1, s.ctypes.data)

    def batch(arrays, strides, out):
        forks.ensure_registered()  # (Numba compiles the loop on its first call)
        from . import native_batch  # Numba: imported when a batch first needs it
        native_batch.batch(address, n_scratch, arrays, strides, out)

    target = FlatTarget(len(inputs), module.n_out, scalar, batch, native=(cfunc, n_scratch))
    target.kernel = kernel  # keeps the machine code alive
    target.externs = bool(module.externs)  # (then ``guard`` must be called before it is used)
    target.loaded = loaded  # from the disk cache (per_process counts it)
    target.index_key = index_key  # where the index finds it (``lazy`` records it)
    return target


def tensor_call(target: FlatTarget, fn, role: str):
    """The one-point kernel of a function of tensors on the llvm target (its loops: ``codegen.llvm_loops``):
    each argument's numbers go into ``in`` in C order, one after another; ``out``'s numbers come back
    as the tensor kernels return them (floats and arrays; with the gradient, one per ``wrt``)."""
    cfunc, n_scratch = target.native
    n_in, n_out = target.kernel.n_in, target.kernel.n_out
    split = _splitter(fn, role)

    def run(*arrays):
        x = np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.empty(0)
        if x.size != n_in:  # (the tensor entry checked the shapes: this is the kernel's own guard)
            raise ValueError(f"the llvm kernel takes {n_in} numbers, got {x.size}")
        x = np.ascontiguousarray(x, dtype=np.float64)
        out, s = np.empty(n_out), np.empty(n_scratch)
        cfunc(x.ctypes.data, out.ctypes.data, 1, s.ctypes.data)
        return split(out)
    return run


def tensor_batch_driver(target: FlatTarget, fn, role: str):
    """The batch loop of a function of tensors on the llvm target, with the tensor batch drivers'
    signature (``batch.tensor_batch``): the numbers the points share once, those that vary as rows
    (``native_batch.batch_rows``: parallel over points)."""
    n_inputs = len(fn.inputs)
    address, n_scratch = target.kernel.address, target.kernel.n_scratch

    def run(*args):
        arrays, strides, outs = args[:n_inputs], args[n_inputs:2 * n_inputs], args[2 * n_inputs:]
        n = outs[0].shape[0]
        shared, varying, where, at = [], [], [], 0
        for a, stride in zip(arrays, strides):
            size = int(np.prod(a.shape[1:], dtype=np.int64))
            shared.append(np.ravel(a[0]))
            if stride:  # this argument's numbers differ from point to point
                varying.append(np.reshape(a, (n, size)))
                where.extend(range(at, at + size))
            at += size
        result = np.empty((target.kernel.n_out, n))
        forks.ensure_registered()
        from . import native_batch
        rows = np.hstack(varying) if varying else np.empty((n, 0))
        native_batch.batch_rows(address, n_scratch, np.concatenate(shared), np.ascontiguousarray(rows),
                                np.array(where, dtype=np.int64), result)
        at = 0
        for dest in outs:  # the values, then the gradients: the kernel's outputs in order
            size = int(np.prod(dest.shape[1:], dtype=np.int64))
            dest[...] = result[at:at + size].T.reshape(dest.shape)
            at += size
    return run


def _splitter(fn, role: str):
    """``split(flat)``: the kernel's flat outputs as the tensor kernels return them: the value (a tuple
    of several), then the gradient's rows."""
    shapes = [o.shape for o in fn.outputs]
    if role == "value_and_grad":
        shapes += [w.shape for _ in fn.outputs for w in fn.wrt]
    n_o, k = len(fn.outputs), len(fn.wrt)

    def split(flat: np.ndarray):
        pieces, at = [], 0
        for shape in shapes:
            size = int(np.prod(shape, dtype=np.int64))
            block = flat[at:at + size]
            at += size
            pieces.append(float(block[0]) if not shape else block.reshape(shape).copy())
        value = pieces[0] if not fn._many else tuple(pieces[:n_o])
        if role == "value":
            return value
        rows = [tuple(pieces[n_o + i * k:n_o + (i + 1) * k]) for i in range(n_o)]
        return value, rows[0] if not fn._many else tuple(rows)
    return split


def _copies(value: float, width: int) -> np.ndarray:
    """``width`` copies of ``value``, read-only as the other arrays of a batch (one Numba type)."""
    a = np.full(width, value)  # (of value's dtype: float32 for a float32 kernel)
    a.flags.writeable = False
    return a


def vm_target(program) -> FlatTarget:
    from . import interpreter
    interp = interpreter.interpreter()
    code, consts, outs = program.arrays

    def scalar(x, out):
        interp.call(code, consts, outs, x, out)

    def batch(arrays, strides, out):
        interp.batch(code, consts, outs, arrays, strides, out)

    target = FlatTarget(program.n_in, len(outs), scalar, batch)
    target.program = program
    return target


