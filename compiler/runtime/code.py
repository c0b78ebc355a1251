"""The code of one compiled function, for its backend: the generated Python module
(defined function by function, JIT-compiled by Numba for "numba"), its scalar kernels
and batch drivers, and the llvm and vm targets (``flat``). Made on first use, once.

>>> import compiler as cc
>>> x = cc.Symbol("x")
>>> code = Code(cc.compile(x * x, [x], backend="python"))
>>> code.kernel("value_and_grad")(3.0)
(9.0, (6.0,))
"""

from __future__ import annotations

import builtins
import collections
import hashlib
import os
import sys
import threading
import types
import weakref

import numpy as np

from .. import codegen
from ..errors import UnsupportedError
from ..codegen import vm
from . import arguments, cache, extern, forks, heap, lazy, simd  # noqa: F401 - forks: its fork hooks
from .flat import FLAT_TARGETS, FlatTarget, native_target, tensor_batch_driver, tensor_call, vm_target
from ..ir.gc_pause import gc_paused
from ..ir.special import PYTHON_ONLY

VECTOR_BACKENDS = ("numba", "llvm")  # whose scalar batches run on vector units where they can
_JIT_OPTIONS = dict(error_model="numpy")  # nan/inf like NumPy, never an exception
# Batch drivers release the GIL; scalar kernels keep it: nogil costs more per
# call than the kernel of a small expression, and a thread gains nothing from it there.
_BATCH_OPTIONS = dict(error_model="numpy", nogil=True, parallel=True)


class Code:
    """What runs the calls of one ``CompiledFunction`` (``fn``): its modules, kernels, drivers."""

    def __init__(self, fn):
        self.fn = fn
        self._module: codegen.Module | None = None
        self._numpy_module: codegen.Module | None = None
        self._shared: _SharedModule | None = None  # the module of the generated source, shared
        self._targets: dict = {}   # role -> FlatTarget (llvm, vm)
        self._vectors: dict = {}   # role -> FlatTarget of the vector batch (``simd``), or None
        self._drivers: dict = {}   # role -> the batch loop, once made
        self._programs: dict = {}  # role -> vm.Program

    @property
    def module(self) -> codegen.Module:
        """The generated Python module (printed on first use: the llvm and vm targets do not need it)."""
        with self.fn._lock:
            if self._module is None:
                dialect = "numpy" if self.fn._tensor and self.fn.backend == "python" else "numba"
                self._module = self.generate(dialect)
            return self._module

    def generate(self, dialect: str) -> codegen.Module:
        vector_math = _vector_math() if dialect == "numba" and self.fn._tensor and self.fn._simd else None
        with gc_paused():
            outputs, jac = self.fn._printed  # custom functions inlined (``ir.custom.lower``)
            return codegen.generate(self.fn.inputs, outputs, self.fn.wrt, jac, self.fn._labels,
                                    self.fn._max_statements, self.fn._title, self.fn.plan, dialect, self.fn._many,
                                    vector_math, notes=self.fn._notes)

    def numpy_function(self, name: str):
        """Function ``name`` of the NumPy-dialect module, run by plain Python: what "auto"
        runs for tensors while Numba compiles (NumPy needs no compile)."""
        with self.fn._lock:
            if self._numpy_module is None:
                module = self._module if self.fn.backend == "python" else self.generate("numpy")
                namespace = {"__name__": "compiler_generated_numpy"}
                exec(builtins.compile(module.source, "<compiler-generated numpy>", "exec"), namespace)  # noqa: S102
                namespace.update(extern.bind(module.externs, compiled=False))
                self._numpy_module, self._numpy_namespace = module, namespace
            return self._numpy_namespace[name]

    def in_disk_cache(self, role: str, batch: bool = False) -> bool:
        """Whether the compiled code of ``role`` is in the disk cache already (then loading it
        here beats starting a process); for llvm, the target is loaded on the way."""
        if self.fn.backend == "llvm" and self.fn._tensor:
            from . import llvm_tensor
            return role in self._targets or llvm_tensor.in_disk_cache(self.fn, role)
        if self.fn.backend == "llvm":
            with self.fn._lock:
                if role not in self._targets:
                    target = native_target(self.fn.inputs, self.fn.plan[role], role, False, compile=False)
                    if target is None:
                        return False
                    self._targets[role] = self._guarded(target, role)
            return True
        if self.fn.backend == "numba":
            from . import numba_cache
            path, cached = _source_file(self.module.source, True)
            if not cached:
                return False
            stem = os.path.splitext(os.path.basename(path))[0]
            entries = [self.module.entries[role]] + ([self.module.batch[role]] if batch else [])
            return all(numba_cache.has_index(os.path.dirname(path), stem, entry) for entry in entries)
        return False

    def program(self, role: str):
        """The schedule of ``role`` assembled for the interpreters (``vm``), made once."""
        program = self._programs.get(role)
        if program is None:
            if role == "value_and_grad":
                self.fn._require_wrt()
            plan = self.fn.plan[role]
            with gc_paused():
                program = self._programs[role] = vm.assemble(self.fn.inputs, plan.outputs, plan.nodes)
        return program

    def shared(self) -> "_SharedModule":
        """The module of the generated source, shared with every function of the same source."""
        with self.fn._lock:
            if self._shared is None:
                module = self.module
                # (not in Numba's disk cache when it calls a user's function: that code may change)
                filename, cached = _source_file(module.source, self.fn.backend == "numba" and not module.externs)
                self._shared = _acquire_module(filename, self.fn.backend, module.header, cached, self)
            return self._shared

    def load(self, name: str) -> dict:
        """The namespace of the generated module, with function ``name`` defined (and JIT-wrapped).

        Lock order: the function's lock, then the shared module's (other functions of the
        same source define, wrap and compile in the same namespace).
        """
        with self.fn._lock:
            shared = self.shared()
            module = self.module
            with shared.lock:
                namespace = shared.namespace
                if module.externs:  # a user's functions the source calls: bound before it is compiled
                    namespace.update(extern.bind(module.externs, compiled=self.fn.backend == "numba"))
                if name not in namespace:
                    # Only the functions in use are defined: Python's own compile of a
                    # huge generated function is not free. Blank lines in front keep the
                    # line numbers of the file (Numba's disk cache names functions by them).
                    text = module.pieces[name]
                    line = module.source.count("\n", 0, module.source.index(text))
                    with gc_paused():
                        code = builtins.compile("\n" * line + text, shared.filename, "exec")
                    exec(code, namespace)  # noqa: S102
                if self.fn.backend == "numba":  # (every time: a fork may have cut a wrapping short)
                    for fname in module.kernels:
                        if fname in namespace and not hasattr(namespace[fname], "py_func"):
                            namespace[fname] = shared.jit(namespace[fname], _JIT_OPTIONS)
            return namespace

    def kernel(self, role: str, progress: bool | None = None):
        """The scalar kernel of ``role``, compiled for float64 arguments only."""
        if role == "value_and_grad":
            self.fn._require_wrt()
        if self.fn._tensor:
            heap.keep_freed_arrays()  # its arrays, freed after each call, stay in the heap for the next
        if self.fn._llvm_tensor and self.fn.backend == "llvm":  # loop nests and BLAS (``llvm_tensor``)
            return self.tensor_kernel(role)
        if self.fn.backend in FLAT_TARGETS and self.fn._tensor:  # loops on llvm, of tensor arguments
            return tensor_call(self.target(role, progress), self.fn, role)
        if self.fn.backend in FLAT_TARGETS:
            return self.target(role, progress).scalar_call(self.fn._many, len(self.fn.outputs), len(self.fn.wrt), role)
        name = self.module.entries[role]
        fn = self.load(name)[name]
        if self.fn.backend == "python":
            fn = _python_kernel(fn, len(self.fn.inputs)) if not self.fn._tensor else _numpy_kernel(fn)
        else:
            with self.fn._lock, self.shared().lock:
                if not fn.signatures:
                    fn.compile(arguments.numba_types([n.shape for n in self.fn.inputs]))
                    fn.disable_compile()  # other argument types go to the checked slow path
                    if not self.fn._tensor:
                        _refuse_arrays_at_once(fn)
        if self.fn._tensor:
            return fn
        if role == "value_and_grad" and self.fn._many:
            return _with_jacobian_array(fn)
        return fn

    def tensor_kernel(self, role: str):
        """The llvm target's kernel of a function of tensors (``runtime.llvm_tensor``), made once."""
        from . import llvm_tensor
        with self.fn._lock:
            return self._targets.get(role) or self._targets.setdefault(role, llvm_tensor.TensorKernel(self.fn, role))

    def batch_driver(self, role: str):
        driver = self._drivers.get(role)
        if driver is not None:  # every batch call comes here: made once
            return driver
        if self.fn._llvm_tensor and self.fn.backend == "llvm":  # its loop over points, beside the kernel
            return self._drivers.setdefault(role, self.tensor_kernel(role).batch_driver())
        if self.fn.backend in FLAT_TARGETS and self.fn._tensor:  # loops on llvm, of tensor arguments
            return self._drivers.setdefault(role, tensor_batch_driver(self.target(role), self.fn, role))
        with self.fn._lock:
            self.kernel(role)
            name = self.module.batch[role]
            namespace = self.load(name)
            shared = self.shared()
        with self.fn._lock, shared.lock:
            driver = namespace[name]
            if self.fn.backend == "numba" and not hasattr(driver, "signatures"):
                import numba
                # an exception raised in a parallel loop is lost (the point keeps what the output
                # held): a batch that calls a user's function, which may raise, runs on one thread
                options = dict(_BATCH_OPTIONS, parallel=False) if self.fn._extern else _BATCH_OPTIONS
                driver = shared.jit(driver, options)
                if self.fn._tensor:
                    shapes = [n.shape for n in self.fn.inputs]
                    outs = [o.shape for o in self.fn.outputs]
                    if role == "value_and_grad":
                        outs += [w.shape for _ in self.fn.outputs for w in self.fn.wrt]
                    sig = (arguments.numba_types(shapes, batch=True) + (numba.int64,) * len(shapes)
                           + arguments.numba_types(outs, batch=True))
                else:  # inputs are read-only views (arguments.check_scalar_arguments): never written
                    arr = numba.types.Array(numba.float64, 1, "C", readonly=True)
                    sig = [arr] * len(self.fn.inputs) + [numba.int64] * len(self.fn.inputs) + [numba.float64[:, ::1]]
                    if role == "value_and_grad":
                        sig.append(numba.float64[:, ::1] if not self.fn._many else numba.float64[:, :, ::1])
                driver.compile(tuple(sig))
                driver.disable_compile()
                namespace[name] = driver
            elif self.fn.backend == "python":
                driver = python_batch(driver)
            self._drivers[role] = driver
            return driver

    def vector_target(self, role: str) -> FlatTarget | None:
        """The vector batch of ``role``, made on first use; None where batches of this function
        stay scalar: tensors, the python and vm backends, ``simd=False``, or no vector math
        on this machine (``simd.info()``)."""
        if role in self._vectors:
            return self._vectors[role]
        with self.fn._lock:
            if role not in self._vectors:
                self._vectors[role] = None
                fn = self.fn
                # (a function SciPy exports no C function of, polygamma, keeps the batch in Numba)
                if fn._simd and not fn._tensor and not fn._llvm_loops and fn.backend in VECTOR_BACKENDS and \
                        not any(n.op in PYTHON_ONLY for n in fn.plan[role].statements):
                    info = simd.info(fn)
                    if info.available:
                        if role == "value_and_grad":
                            fn._require_wrt()
                        self._vectors[role] = self._guarded(
                            native_target(fn.inputs, fn.plan[role], role, fn._progress, simd=info), role)
            return self._vectors[role]

    def _guarded(self, target: FlatTarget, role: str) -> FlatTarget:
        """``target``; if it calls a user's cfunc (``cc.extern``), guarded (``FlatTarget.guard``)."""
        if target.externs:
            target.guard(lambda: self.numpy_function(self.module.entries[role]))
        return target

    def llvm_ir(self, role: str) -> str:
        """The LLVM IR of ``role``: the vector kernel where batches use it, else the scalar one."""
        from ..codegen import llvm as codegen_llvm
        fn = self.fn
        if fn._tensor and fn._llvm_tensor:
            from . import llvm_tensor
            return llvm_tensor.module_of(fn, role).text
        if fn._tensor:
            raise UnsupportedError(f"llvm_ir: this function of tensors runs on backend {fn.backend!r}, not llvm "
                                   "(LLVM IR is made for scalar expressions, and for tensors on backend 'llvm' "
                                   "or 'auto' where llvm lowers every op); see fn.source")
        info = simd.info(fn)
        vector = fn._simd and fn.backend in VECTOR_BACKENDS and info.available
        plan = fn.plan[role]
        with gc_paused():
            module = codegen_llvm.emit(fn.inputs, plan.outputs, plan.statements,
                                       width=info.width if vector else 1,
                                       mangle=info.vector_function if vector else None)
        return module.text

    def target(self, role: str, progress: bool | None = None) -> FlatTarget:
        """The llvm or vm build of ``role``, made (or loaded from the disk cache) on first use."""
        with self.fn._lock:
            target = self._targets.get(role)
            if target is None:
                if role == "value_and_grad":
                    self.fn._require_wrt()
                progress = self.fn._progress if progress is None else progress
                if self.fn.backend == "llvm":  # (from the cache without a schedule, when it can: ``lazy``)
                    target = self._guarded(lazy.llvm_target(self.fn, role, progress), role)
                else:
                    target = vm_target(self.program(role))
                self._targets[role] = target
            return target


_GENERATED_FORMAT = 2  # in the cached file names: a new scheme of module names misses old entries
# Modules no function uses any more are kept for this many sources more (least recently used
# first out): a function compiled again later (a service rebuilding the same expression) finds its
# machine code at once. Numba never frees machine code, so a module dropped from here releases
# only its Python objects; keeping it costs little and saves a compile plus another copy.
KEPT_MODULES = 128
_modules: dict[str, "_SharedModule"] = {}  # module name -> the module (in use, or kept)
_idle: collections.OrderedDict = collections.OrderedDict()  # names of the kept modules, oldest first
# Reentrant: a garbage collection inside can run a function's finalizer, which releases its module.
_modules_lock = threading.RLock()


def _vector_math() -> dict[str, str]:
    """The vector functions of glibc's libmvec that tensor kernels may call on arrays, by op
    (``{"tanh": "_ZGVdN4v_tanh", ...}``; ``codegen.helpers.VECTOR_MATH_OPS``): none where
    ``simd.info()`` finds no vector math, or where Numba compiles for another CPU than this one
    ($NUMBA_CPU_NAME: its vectors might not be passed in the registers those functions take)."""
    import numba

    from ..codegen.helpers import VECTOR_MATH_OPS
    info = simd.info()
    if not info.available or numba.config.CPU_NAME or numba.config.CPU_FEATURES:
        return {}
    names = {op: info.vector_function(op, 1) for op in VECTOR_MATH_OPS}
    return {op: name for op, name in names.items() if name is not None}


class _SharedModule:
    """The module that runs one generated source for one backend, registered in ``sys.modules``
    while it is in use or kept. Numba finds a function's globals by its module's name (its
    disk cache, so the name is a hash; and the object-mode blocks of tensor kernels).
    ``lock`` guards defining, wrapping and compiling its functions."""

    def __init__(self, name: str, filename: str, backend: str, cached: bool):
        self.name, self.filename, self.backend = name, filename, backend
        self.cache_folder = "numba" if cached else None  # where Numba's files go (None: nowhere)
        self.module = types.ModuleType(name)
        self.module.__file__ = filename
        self.namespace = self.module.__dict__
        self.lock = threading.RLock()
        self.users = 0
        self.dropped = False

    def jit(self, function, options: dict):
        """``function`` wrapped by Numba (``options``), with this module's verified disk cache."""
        import numba

        from . import numba_cache, numba_typing
        numba_typing.install()  # scalar operators typed without NumPy's loop search (same answers)
        return numba_cache.attach(numba.njit(**options)(function), self.cache_folder)


def _acquire_module(filename: str, backend: str, header: str, cached: bool, owner) -> _SharedModule:
    """The module of ``filename`` for ``backend``, its header run, with one more user (``owner``,
    released when it is collected)."""
    name = "compiler_generated_" + hashlib.sha256(f"{backend}:{filename}".encode()).hexdigest()[:16]
    with _modules_lock:
        shared = _modules.get(name)
        new = shared is None or shared.dropped
        if new:
            shared = _modules[name] = _SharedModule(name, filename, backend, cached)
            sys.modules[name] = shared.module
            shared.lock.acquire()  # no other function sees the module before its header ran
        shared.users += 1
        _idle.pop(name, None)
    if new:
        try:
            exec(builtins.compile(header, filename, "exec"), shared.namespace)  # noqa: S102
        finally:
            shared.lock.release()
    else:
        with shared.lock:  # waits for the header, if the function that made the module is running it
            pass
    weakref.finalize(owner, _release_module, name)
    return shared


def _release_module(name: str) -> None:
    dropped = []
    with _modules_lock:
        shared = _modules.get(name)
        if shared is None:
            return
        shared.users -= 1
        if shared.users > 0:
            return
        _idle[name] = None
        while len(_idle) > KEPT_MODULES:
            old = _modules.get(_idle.popitem(last=False)[0])
            if old is not None and old.users == 0:
                old.dropped = True
                del _modules[old.name]
                if sys.modules.get(old.name) is old.module:
                    del sys.modules[old.name]
                dropped.append(old)
    for old in dropped:
        # the dispatchers in it and Numba's environments of their code refer to each other
        old.namespace.clear()


def _reset_after_fork() -> None:
    """In a forked child, the threads that held these locks are gone: fresh locks."""
    global _modules_lock
    _modules_lock = threading.RLock()
    for shared in list(_modules.values()):
        shared.lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _source_file(source: str, numba_cache: bool) -> tuple[str, bool]:
    """A file name for the generated module; with the disk cache, the module is written there
    so that Numba caches its machine code beside it. Returns (path, Numba may cache)."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    directory = cache.ensure_dir("numba") if numba_cache else None
    if directory is None:
        return f"<compiler-generated {digest}>.py", False
    path = directory / f"gen{_GENERATED_FORMAT}_{digest}.py"
    tmp = path.with_name(f".tmp-{digest}-{os.getpid()}-{threading.get_ident()}.py")
    try:
        if not path.exists() or path.read_text() != source:
            tmp.write_text(source)
            tmp.replace(path)
    except OSError as e:  # a full disk: compiled in memory only, and no cut-off file stays
        try:
            tmp.unlink()
        except OSError:
            pass
        cache.write_failed(e)
        return f"<compiler-generated {digest}>.py", False
    return str(path), True




def _refuse_arrays_at_once(dispatcher) -> None:
    """Make a scalar kernel's Numba dispatcher turn arrays away in about a microsecond.

    A batch call tries the scalar kernel first (that keeps one-point calls fast); on
    arrays, Numba would look for new conversions and then explain the mismatch, typing
    every argument in Python twice: ~50 µs per call, more than a 1,000-point batch takes.
    Numbers keep Numba's conversions (ints, bools, float32). Both hooks are Numba's
    dispatcher methods; if a release renames them, this only stops saving the time.
    """
    search = type(dispatcher)._search_new_conversions
    ref = weakref.ref(dispatcher)  # the dispatcher holds these hooks: no cycle that outlives it

    def search_unless_arrays(*args, **kws):
        for a in args:
            if type(a) is np.ndarray:
                return False
        return search(ref(), *args, **kws)

    def mismatch(*args, **kws):
        raise TypeError("the scalar kernel takes numbers")  # the checked slow path explains
    dispatcher._search_new_conversions = search_unless_arrays
    dispatcher._explain_matching_error = mismatch


def _with_jacobian_array(kernel):
    def run(*args):
        value, jac = kernel(*args)
        return value, np.array(jac, dtype=np.float64)
    return run


def _python_kernel(fn, n_inputs: int):
    """The un-jitted kernel with NumPy semantics: float64 in, Python floats out."""
    def run(*args):
        if len(args) != n_inputs or not all(isinstance(a, (int, float, np.floating, np.integer)) for a in args):
            raise TypeError("not a scalar call")  # routed to the checked slow path
        try:
            values = [np.float64(a) for a in args]
        except OverflowError:  # an int beyond float range: the checked slow path explains
            raise TypeError("not a float64") from None
        with np.errstate(all="ignore"):
            return _to_python(fn(*values))
    return run


def python_batch(driver):
    def run(*args):
        with np.errstate(all="ignore"):
            driver(*args)
    return run


def _to_python(result):
    if isinstance(result, tuple):
        return tuple(_to_python(r) for r in result)
    return float(result)




def _numpy_kernel(fn):
    def run(*args):
        with np.errstate(all="ignore"):
            return fn(*args)
    return run


