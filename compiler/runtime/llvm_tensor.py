"""Tensor kernels on the llvm target: the LLVM IR of ``codegen.llvm_tensor`` compiled by
llvmlite (object code kept in the disk cache), bound to BLAS, and called on NumPy arrays.

``TensorKernel(fn, role)`` is what a function of tensors calls on ``backend="llvm"``. Its
``fast`` entry (``tensor_entry``) takes one point of arrays of the kernel's precision straight
from the caller; what it turns away comes to ``__call__``, which takes the arguments
``arguments.check_arguments`` checked (C-contiguous float64 arrays of the inputs' shapes), converts them once to float32 for a float32 graph, allocates the
outputs and calls the machine code with arrays of pointers. The result has the Numba
kernel's structure: the value (a tuple of values with ``many``), and for
``value_and_grad`` the gradient arrays with it.

>>> import numpy as np, compiler as cc
>>> x = cc.Tensor("x", (3,))
>>> fn = cc.compile(cc.sum(x * x), [x], backend="llvm")
>>> fn.value_and_grad(np.arange(3.0))
(5.0, (array([0., 2., 4.]),))
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import threading

import numpy as np

from ..codegen import llvm_tensor as codegen
from ..ir import dtypes
from ..ir.gc_pause import gc_paused
from . import cache, forks, llvm, simd

_SIGNATURE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
_BATCH = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                          ctypes.c_int64, ctypes.c_void_p)
_FORMAT = "tensor2"
TENSOR_OPT_LEVEL = 3  # LLVM's pipeline for tensor kernels: few statements, loops that pay for O3  # in the cache key: a new kernel layout misses old entries


@functools.cache
def blas_address(name: str) -> int:
    """The address of BLAS function ``name`` (``dgemm``) in SciPy's ``cython_blas``, as Numba finds it."""
    capsule = _cython_blas().__pyx_capi__[name]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return get_pointer(capsule, get_name(capsule))


@functools.cache
def _cython_blas():
    """SciPy's ``cython_blas`` module; loaded from its file when ``scipy.linalg`` is not imported yet:
    the package's ``__init__`` took 1.15 s of the MLP's 1.45 s from a warm cache (its extension
    module alone needs only NumPy)."""
    import importlib.util
    import sys
    module = sys.modules.get("scipy.linalg.cython_blas")
    if module is not None:
        return module
    scipy = importlib.util.find_spec("scipy")
    found = glob.glob(os.path.join(os.path.dirname(scipy.origin or ""), "linalg", "cython_blas*"))
    spec = importlib.util.spec_from_file_location("scipy.linalg.cython_blas", found[0]) if found else None
    if spec is None or spec.loader is None:  # another layout: through the package
        from scipy.linalg import cython_blas
        return cython_blas
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def module_of(fn, role: str) -> codegen.TensorModule:
    """The LLVM IR of ``role``: elementwise loops on vectors where this machine has vector math."""
    plan = fn.plan[role]
    info = simd.info(fn)
    if info.available and any(dtypes.of_symbol(n) == "float32" for n in fn.inputs):
        info = info.for_float32()
    with gc_paused():
        return codegen.emit(fn.inputs, plan.outputs, plan.statements, width=info.width if info.available else 1,
                            mangle=info.vector_function if info.available else None)


def _key(module: codegen.TensorModule) -> str:
    return cache.entry_key("llvm", _FORMAT, llvm.host_fingerprint(), module.text)


def _compile(text: str) -> bytes:
    """Object code of one module: LLVM's O3 pipeline with both vectorizers (loop nests gain from them)."""
    lib, tm = llvm._llvm()
    mod = lib.parse_assembly(text)
    mod.triple = lib.get_process_triple()
    options = lib.create_pipeline_tuning_options(speed_level=TENSOR_OPT_LEVEL)
    options.loop_vectorization = options.slp_vectorization = True
    pb = lib.create_pass_builder(tm, options)
    pb.getModulePassManager().run(mod, pb)
    return tm.emit_object(mod)


def in_disk_cache(fn, role: str) -> bool:
    return cache.load(_key(module_of(fn, role)), "o") is not None


class TensorKernel:
    """The machine code of one role of a function of tensors, called on NumPy arrays."""

    def __init__(self, fn, role: str):
        module = module_of(fn, role)
        key = _key(module)
        blob = cache.load(key, "o")
        objects = None
        if blob is not None:
            try:
                objects = llvm.unpack(blob)
                self._load(module, objects)
            except Exception:  # an entry this LLVM cannot load: compiled anew
                objects = None
        if objects is None:
            with forks.compiling():  # a fork waits for it
                objects = [_compile(module.text)]
            cache.store(key, "o", llvm.pack(objects))
            self._load(module, objects)
        self.module = module
        self.dtype = np.float32 if module.precision == "float32" else np.float64
        self.n_out = len(fn.outputs)
        self.n_wrt = len(fn.wrt) if role == "value_and_grad" else 0
        self.many = fn._many
        self._local = threading.local()  # each thread's scratch buffer
        self.fast = self._fast_entry()

    def _fast_entry(self):
        """The kernel's CPython entry for arrays of its precision (``tensor_entry``), or None: its callers
        go to the checked path (``__call__``) for what it turns away with ``TypeError``."""
        from . import tensor_entry
        if not tensor_entry.supported():
            return None
        n, k = self.n_out, self.n_wrt
        values = tuple(range(n)) if self.many else 0
        spec = values
        if k:
            rows = tuple(tuple(range(n + i * k, n + (i + 1) * k)) for i in range(n))
            spec = (values, rows if self.many else rows[0])
        return tensor_entry.entry(self._address, self.module.in_shapes, self.module.out_shapes,
                                  self.module.n_scratch, spec, self.module.precision)

    def _load(self, module: codegen.TensorModule, objects: list) -> None:
        lib, _ = llvm._llvm()
        with llvm._init_lock:
            empty = lib.parse_assembly("")
            empty.triple = lib.get_process_triple()
            self._engine = lib.create_mcjit_compiler(empty, llvm._new_target_machine(lib))
            llvm.bind_special_functions(lib, module.text)
            for name in module.blas:
                lib.add_symbol(codegen.BLAS_PREFIX + name, blas_address(name))
            for obj in objects:
                self._engine.add_object_file(lib.ObjectFileRef.from_data(obj))
            self._engine.finalize_object()
            address = self._engine.get_function_address("kernel")
            batch = self._engine.get_function_address("batch")
        if not address or not batch:
            raise RuntimeError("compiled tensor kernel has no 'kernel' or 'batch' symbol")
        self._address = address
        self._cfunc = _SIGNATURE(address)
        self._batch = _BATCH(batch)

    def outputs(self, *arrays):
        """The flat outputs (values, then the gradient row by row) of one call."""
        dtype = self.dtype
        # (numbers come as floats; a float32 kernel reads float32: converted once)
        arrays = [a if type(a) is np.ndarray and a.dtype == dtype else np.ascontiguousarray(a, dtype)
                  for a in arrays]
        ins = np.array([a.ctypes.data for a in arrays] or [0], dtype=np.uintp)
        outs = [np.empty(shape, dtype) for shape in self.module.out_shapes]
        pointers = np.array([o.ctypes.data for o in outs], dtype=np.uintp)
        self._cfunc(ins.ctypes.data, pointers.ctypes.data, self._scratch().ctypes.data)
        return outs

    def __call__(self, *arrays):
        outs = self.outputs(*arrays)
        n, k = self.n_out, self.n_wrt
        values = tuple(outs[:n]) if self.many else outs[0]
        if not k:
            return values
        rows = [tuple(outs[n + i * k:n + (i + 1) * k]) for i in range(n)]
        return values, (tuple(rows) if self.many else rows[0])

    def batch_driver(self):
        """The loop over the points of a batch in machine code (``batch.tensor_batch``'s driver
        signature: arrays with a leading axis, their strides 0 or 1 in points, the outputs)."""
        n_in, dtype = len(self.module.in_shapes), self.dtype

        def run(*args):
            arrays = [np.ascontiguousarray(a, dtype) for a in args[:n_in]]
            strides, outs = args[n_in:2 * n_in], args[2 * n_in:]
            n = outs[0].shape[0]
            # a float32 kernel writes float32 rows, copied into the float64 outputs after
            mine = [o if o.dtype == dtype else np.empty(o.shape, dtype) for o in outs]
            ins = np.array([a.ctypes.data for a in arrays] or [0], dtype=np.uintp)
            steps = np.array([s * a[0].nbytes for a, s in zip(arrays, strides)] or [0], dtype=np.int64)
            pointers = np.array([o.ctypes.data for o in mine], dtype=np.uintp)
            out_steps = np.array([o[0].nbytes if n else 0 for o in mine], dtype=np.int64)
            scratch = self._scratch()
            self._batch(ins.ctypes.data, steps.ctypes.data, pointers.ctypes.data, out_steps.ctypes.data, n,
                        scratch.ctypes.data)
            for o, m in zip(outs, mine):
                if o is not m:
                    o[...] = m
        return run

    def _scratch(self) -> np.ndarray:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = np.empty(self.module.n_scratch, self.dtype)
        return scratch
