"""Runtime: compile generated code, check arguments, run kernels and batch drivers.

``compile()`` takes expressions and their inputs, runs the reverse pass and
the code generator, and returns a ``CompiledFunction``. Machine code is made
on the first call of each entry point (value, gradient, batch), once, by one
of the targets of the same schedule:

* ``"numba"``: the generated Python source, JIT-compiled by Numba (lowest
  call overhead; Numba's compile grows to minutes on big graphs);
* ``"llvm"``: the schedule printed as LLVM IR and compiled by llvmlite in
  parts (seconds for 10,000 ops);
* ``"vm"``: the schedule assembled into an instruction array for an
  interpreter compiled once: no per-graph compile at all;
* ``"python"``: the generated source, not compiled (debugging, baseline);
* ``"auto"`` (default): tiered. Scalar calls are answered at once by a
  Python interpreter of the instruction array (``vm.run_python``: no compile
  at all), tensor calls by the NumPy dialect of the generated code; once the
  calls have spent ``COMPILE_AFTER_SECONDS`` interpreted, the compiled code
  is made in the background (``"numba"`` up to ``AUTO_NUMBA_MAX`` statements
  and for tensors, ``"llvm"`` above) and takes over when ready: by a child
  process that stores it in the disk cache, so that the calls meanwhile keep
  the GIL (a thread compiling here would slow them several times), then
  loaded; in a thread when there is no usable cache.
  Batches wait for the compiled code; ``fn.wait()`` compiles now and blocks.

Compiled code is kept in the on-disk cache (``compiler.cache``), keyed by a
hash of what was generated, so a second process never compiles it again.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import gc
import hashlib
import math
import os
import sys
import threading
import time
import types
import warnings
import weakref
from typing import Sequence

import numpy as np

from . import cache, codegen, ir, ops, reverse, tensor_calls, vm
from .errors import ArgumentError, ShapeError, UnsupportedError
from .ir import Node

BACKENDS = ("auto", "numba", "llvm", "vm", "python")
HESSIAN_MAX_SIZE = 2000  # wrt elements up to which hessian() of tensors forms the matrix
AUTO_NUMBA_MAX = 300  # statements of the gradient kernel up to which "auto" picks numba
_JIT_OPTIONS = dict(error_model="numpy")  # nan/inf like NumPy, never an exception
# Batch drivers release the GIL; scalar kernels keep it: nogil costs more per
# call than the kernel of a small expression, and a thread gains nothing from it there.
_BATCH_OPTIONS = dict(error_model="numpy", nogil=True, parallel=True)


def _as_outputs(expr) -> tuple[list[Node], bool]:
    if isinstance(expr, (list, tuple)):
        if not expr:
            raise ValueError("compile() got an empty list of expressions")
        items, many = list(expr), True
    else:
        items, many = [expr], False
    nodes = [ir.as_node(e, f"expression {i}") for i, e in enumerate(items)]
    for i, n in enumerate(nodes):
        if n.dtype != "float":
            raise TypeError(f"expression {i} is a comparison ({n!r}); compile a number, "
                            "for example cc.where(condition, 1.0, 0.0)")
    return nodes, many


def _as_symbols(seq, what: str) -> list[Node]:
    if isinstance(seq, (Node, str)) or not hasattr(seq, "__iter__"):
        raise TypeError(f"{what} must be a list of symbols, got {type(seq).__name__}")
    nodes = []
    for i, s in enumerate(seq):
        node = ir.as_node(s, f"{what}[{i}]") if not isinstance(s, (int, float)) else None
        if node is None or node.op != "var":
            raise TypeError(f"{what}[{i}] must be a symbol (cc.Symbol or sympy.Symbol), got {s!r:.80}")
        nodes.append(node)
    seen = set()
    for i, n in enumerate(nodes):
        if n.id in seen:
            raise ValueError(f"{what}[{i}] {n.name!r} is listed twice")
        seen.add(n.id)
    return nodes


@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic garbage collector: IR graphs hold no cycles, and on graphs
    of 10^5 nodes its full collections cost more than the compile itself."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class CompiledFunction:
    """Value, gradient and Hessian of expressions, compiled once and called many times.

    Arguments are numbers (one point) or 1-D arrays of equal length (many
    points, run by a parallel batch loop); scalars broadcast against arrays.

    >>> import compiler as cc
    >>> x, y = cc.symbols("x y")
    >>> fn = cc.compile(x * y + x, [x, y], backend="python")
    >>> fn(2.0, 3.0), fn.grad(2.0, 3.0)
    (8.0, (4.0, 2.0))
    """

    def __init__(self, outputs: Sequence[Node], inputs: Sequence[Node], wrt: Sequence[Node],
                 backend: str = "auto", many: bool = False,
                 max_statements: int | None = codegen.DEFAULT_MAX_STATEMENTS, title: str = "",
                 progress: bool = True):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.outputs, self.inputs, self.wrt = list(outputs), list(inputs), list(wrt)
        self._many, self._max_statements, self._progress = many, max_statements, progress
        self._labels: dict = {}
        with gc_paused():
            order = ir.topo_order(self.outputs)
            listed = {n.id for n in self.inputs}
            missing = [n.name for n in order if n.op == "var" and n.id not in listed]
            if missing:
                raise ValueError(f"the expression uses symbol(s) {missing} that are not in inputs "
                                 f"{[n.name for n in self.inputs]}")
            self._jac = reverse.jacobian(self.outputs, self.wrt, self._labels, order) if self.wrt else None
            self.plan = codegen.schedule(self.outputs, self._jac, order)
        self._title = title
        self._module: codegen.Module | None = None
        self._numpy_module: codegen.Module | None = None
        self.requested_backend = backend
        # tensors run as NumPy code (backend "python") or Numba: the llvm and vm targets are scalar
        self._tensor = any(n.shape for n in self.inputs) or any(n.shape for n in order)
        if self._tensor and backend in _FLAT_TARGETS:
            raise UnsupportedError(f"backend {backend!r} compiles scalar expressions; this one has tensors "
                                   "(use backend 'auto', 'numba' or 'python')")
        if backend == "auto":
            size = len(self.plan.get("value_and_grad", self.plan["value"]).statements)
            backend = "numba" if size <= AUTO_NUMBA_MAX or self._tensor else "llvm"
        self.backend = backend
        self._targets: dict = {}  # role -> _FlatTarget (llvm, vm)
        self._drivers: dict = {}  # role -> the batch loop, once made
        self._programs: dict = {}  # role -> vm.Program
        self._input_names = [n.name for n in self.inputs]
        self._namespace: dict | None = None
        self._lock = threading.RLock()
        self._grad_fn: CompiledFunction | None = None
        self._compiling: dict[str, threading.Thread] = {}  # role -> background compile ("auto")
        self._called: set[str] = set()  # the roles called so far (what ``ready`` is about)
        self._compile_error: BaseException | None = None
        # The scalar fast paths, replaced by the compiled kernel once it exists: "auto"
        # interprets the first calls while it compiles; the other backends compile at once.
        # Tensor functions keep one entry per role, which checks shapes on every call.
        first = _TensorEntry if self._tensor else _Interpreted if self.requested_backend == "auto" else _Lazy
        self._value = first(self, "value")
        self._vg = first(self, "value_and_grad")
        self._bind_fast_paths()

    def _bind_fast_paths(self) -> None:
        """``value_and_grad`` and ``grad`` as closures in the instance: no bound-method object
        per call, 10-50 ns less than a method (measured on the neuron, a 250 ns kernel)."""
        slow = self._slow

        def value_and_grad(*args):
            try:
                return self._vg(*args)
            except TypeError:
                return slow("value_and_grad", args)

        def grad(*args):
            try:
                return self._vg(*args)[1]
            except TypeError:
                return slow("value_and_grad", args)[1]
        for fast, method in ((value_and_grad, CompiledFunction.value_and_grad), (grad, CompiledFunction.grad)):
            fast.__doc__, fast.__qualname__ = method.__doc__, method.__qualname__
            setattr(self, method.__name__, fast)

    @property
    def module(self) -> codegen.Module:
        """The generated Python module (printed on first use: the llvm and vm targets do not need it)."""
        with self._lock:
            if self._module is None:
                dialect = "numpy" if self._tensor and self.backend == "python" else "numba"
                self._module = self._generate(dialect)
            return self._module

    def _generate(self, dialect: str) -> codegen.Module:
        with gc_paused():
            return codegen.generate(self.inputs, self.outputs, self.wrt, self._jac, self._labels,
                                    self._max_statements, self._title, self.plan, dialect)

    def _numpy_function(self, name: str):
        """Function ``name`` of the NumPy-dialect module, run by plain Python: what "auto"
        runs for tensors while Numba compiles (NumPy needs no compile)."""
        with self._lock:
            if self._numpy_module is None:
                module = self._module if self.backend == "python" else self._generate("numpy")
                namespace = {"__name__": "compiler_generated_numpy"}
                exec(builtins.compile(module.source, "<compiler-generated numpy>", "exec"), namespace)  # noqa: S102
                self._numpy_module, self._numpy_namespace = module, namespace
            return self._numpy_namespace[name]

    # --- pickling: by structure; the new process compiles (or loads from the disk cache) ---

    def __reduce__(self):
        table = ir.to_table(self.outputs + self.inputs + self.wrt)
        return (_unpickle, (table, len(self.outputs), len(self.inputs), self.requested_backend, self._many,
                            self._max_statements, self._title, self._progress))

    # --- what was generated ---

    @property
    def source(self) -> str:
        """The generated module: readable, self-contained Python (imports math, numpy, numba)."""
        return self.module.source

    def standalone_source(self, jit: bool = True) -> str:
        """``source`` as a module to keep: with ``jit``, Numba compiles its kernels when it is
        imported (the generated code of the python backend stays plain NumPy)."""
        return codegen.standalone(self.module, jit and self.module.kernels and not
                                  (self._tensor and self.backend == "python"))

    def save(self, path, *, jit: bool = True) -> str:
        """Write ``standalone_source(jit)`` to ``path`` (a ``.py`` file): a module that needs only
        math, NumPy and Numba, to import and call anywhere. Returns the path.

        >>> import compiler as cc, tempfile, os
        >>> x = cc.Symbol("x")
        >>> path = cc.compile(x * x, [x], backend="python").save(os.path.join(tempfile.mkdtemp(), "sq.py"))
        """
        path = os.fspath(path)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.standalone_source(jit))
        return path

    @property
    def ir(self) -> str:
        """A listing of the IR graph of the outputs (see also ``fn.grad_fn.ir``)."""
        return ir.format_ir(self.outputs)

    def __repr__(self) -> str:
        names = ", ".join(self._input_names)
        return f"<CompiledFunction of ({names}), {len(self.outputs)} output(s), backend={self.backend!r}>"

    def __str__(self) -> str:
        return repr(self) + "\n" + self.ir

    # --- calling ---

    # The scalar fast path is a bare try: Numba's dispatcher, compiled for float64
    # only, rejects anything else with a TypeError, and only then are the
    # arguments checked (and arrays sent to the batch driver). Keyword arguments
    # are not taken: accepting them costs more than the kernel itself here.

    def __call__(self, *args):
        """The value: a float (a tuple of floats for several outputs), or arrays for array arguments."""
        try:
            return self._value(*args)
        except TypeError:
            return self._slow("value", args)

    def value_and_grad(self, *args):
        """``(value, gradient)``; the gradient is a tuple over ``wrt`` (a Jacobian array for several outputs)."""
        try:
            return self._vg(*args)
        except TypeError:
            return self._slow("value_and_grad", args)

    def grad(self, *args):
        """The gradient over ``wrt``: a tuple of floats (of arrays for a batch); for several
        outputs the Jacobian, shape ``(n_out, n_wrt)`` (``(n, n_out, n_wrt)`` for a batch)."""
        return self.value_and_grad(*args)[1]

    def hessian(self, *args):
        """Second derivatives over ``wrt`` (reverse-over-reverse): ``(n_wrt, n_wrt)``;
        ``(n_out, n_wrt, n_wrt)`` for several outputs; a leading batch axis for arrays.

        With tensors (one output, one point): blocks ``H[i][j]`` of shape
        ``wrt[i].shape + wrt[j].shape`` (one array when there is one ``wrt``),
        computed as ``hvp`` of every unit vector. For many parameters use ``hvp``.
        """
        if self._tensor and any(w.shape for w in self.wrt):
            return self._tensor_hessian(args)
        gfn = self.grad_fn
        jac = gfn.grad(*args)  # (n_out*n_wrt, n_wrt) or (n, n_out*n_wrt, n_wrt)
        if isinstance(jac, tuple):  # a graph with tensors, scalar wrt: rows of per-wrt gradients
            jac = np.asarray(jac if len(gfn.outputs) > 1 else (jac,), dtype=np.float64)
            if jac.ndim == 3:  # (rows, n_wrt, n): the batch axis first
                jac = np.moveaxis(jac, 2, 0)
        k = len(self.wrt)
        shape = (k, k) if not self._many else (len(self.outputs), k, k)
        return jac.reshape(jac.shape[:-2] + shape)

    def hvp(self, *args, v):
        """The Hessian-vector product ``H @ v`` of a scalar output, without forming ``H``:
        ``v`` has one array per ``wrt`` input (a tuple; a bare array when there is one),
        the result likewise. Cost: about two gradients (reverse-over-reverse).

        >>> import compiler as cc
        >>> x, y = cc.symbols("x y")
        >>> cc.compile(x * x * y, [x, y], backend="python").hvp(1.0, 3.0, v=(1.0, 0.0))
        (6.0, 2.0)
        """
        if self._many:
            raise ValueError("hvp is defined for one scalar output; compile each output on its own")
        single = len(self.wrt) == 1 and not isinstance(v, (tuple, list))
        vs = (v,) if single else tuple(v)
        if len(vs) != len(self.wrt):
            raise ArgumentError(f"v must have one entry per wrt input ({', '.join(w.name for w in self.wrt)}), "
                                f"got {len(vs)}")
        out = self.hvp_fn.grad(*args, *vs)
        return out[0] if single else out

    @property
    def hvp_fn(self) -> "CompiledFunction":
        """``sum(grad * v)`` as a compiled function of the inputs and ``v``: its ``grad`` is ``H @ v``."""
        with self._lock:
            if getattr(self, "_hvp_fn", None) is None:
                self._require_wrt()
                taken = {n.name for n in self.inputs}
                directions = []
                for w in self.wrt:
                    name = f"v[{w.name}]"
                    while name in taken:
                        name += "'"
                    taken.add(name)
                    directions.append(ir.symbol(name, w.shape))
                total = None
                for g, d in zip(self._jac[0], directions):
                    term = ops.reduce_sum(g * d, tuple(range(len(d.shape)))) if d.shape else g * d
                    total = term if total is None else total + term
                self._hvp_fn = CompiledFunction([total], self.inputs + directions, self.wrt,
                                                self.requested_backend, max_statements=self._max_statements,
                                                title="Hessian-vector product", progress=self._progress)
            return self._hvp_fn

    def _tensor_hessian(self, args):
        if self._many:
            raise ValueError("the Hessian of tensors is defined for one scalar output")
        if len(args) != len(self.inputs):
            raise ArgumentError(self._count_message(len(args)))
        for a, node in zip(args, self.inputs):
            if np.ndim(a) != len(node.shape):
                raise ShapeError(f"hessian of a function of tensors is taken at one point: input "
                                 f"{node.name!r} needs shape {node.shape}, got {np.shape(a)} (for a batch, "
                                 "call it point by point or use fn.hvp)")
        sizes = [math.prod(w.shape) for w in self.wrt]
        total = sum(sizes)
        if total > HESSIAN_MAX_SIZE:
            raise ValueError(f"the Hessian would be {total} x {total}; use fn.hvp(..., v=...) for "
                             f"Hessian-vector products (limit HESSIAN_MAX_SIZE = {HESSIAN_MAX_SIZE})")
        basis = np.eye(total)
        vs, at = [], 0
        for w, size in zip(self.wrt, sizes):
            vs.append(basis[:, at:at + size].reshape((total,) + w.shape))
            at += size
        columns = self.hvp_fn.grad(*args, *vs)  # a batch: column c of H, per wrt block
        flat = np.concatenate([c.reshape(total, -1) for c in columns], axis=1)  # rows: unit vectors
        blocks, row = [], 0
        for wi, si in zip(self.wrt, sizes):
            line, col = [], 0
            for wj, sj in zip(self.wrt, sizes):
                line.append(flat[col:col + sj, row:row + si].T.reshape(wi.shape + wj.shape))
                col += sj
            blocks.append(tuple(line))
            row += si
        return blocks[0][0] if len(self.wrt) == 1 else tuple(blocks)

    @property
    def grad_fn(self) -> "CompiledFunction":
        """The gradient as a compiled function of the same inputs (its ``grad`` is the Hessian)."""
        with self._lock:
            if self._grad_fn is None:
                self._require_wrt()
                flat = [g for row in self._jac for g in row]
                self._grad_fn = CompiledFunction(flat, self.inputs, self.wrt, self.requested_backend,
                                                 many=True, max_statements=self._max_statements,
                                                 title="gradient", progress=self._progress)
            return self._grad_fn

    # --- compiling ---

    @property
    def ready(self) -> bool:
        """True when the entry points called so far (value, value-and-gradient) run compiled
        code; ``"auto"`` interprets until then. After ``wait()``, every entry point does."""
        roles = [r for r in ("value", "value_and_grad") if r in self._called] or ["value"]
        return all(_is_compiled(getattr(self, _SLOT[r])) for r in roles)

    def wait(self) -> "CompiledFunction":
        """Compile every entry point now, if not done yet, and return when the code is ready.

        With ``backend="auto"``, calls are answered by an interpreter while the
        compiled code is made in the background; ``wait()`` is for when the
        next calls must be the fast ones (a benchmark, a latency-bound loop).

        >>> import compiler as cc
        >>> x = cc.Symbol("x")
        >>> cc.compile(x * x, [x], backend="python").wait().ready
        True
        """
        roles = ("value", "value_and_grad") if self.wrt else ("value",)
        self._called.update(roles)
        for role in roles:
            for key in (role, f"{role} batch"):
                thread = self._compiling.get(key)
                if thread is not None:
                    thread.join()
            if self._compile_error is not None:
                raise self._compile_error
            entry = getattr(self, _SLOT[role])
            if not _is_compiled(entry):
                driver = self._batch_driver(role) if isinstance(entry, _TensorEntry) and entry.batched else None
                self._install(role, self._kernel(role), driver)
        return self

    def _install(self, role: str, kernel, driver=None) -> None:
        """Make the compiled ``kernel`` (and batch ``driver``) answer the calls of ``role``."""
        entry = getattr(self, _SLOT[role])
        if isinstance(entry, _TensorEntry):
            entry.compiled = kernel
            if driver is not None:
                entry.driver = driver
        else:
            setattr(self, _SLOT[role], kernel)

    def _compile_in_background(self, role: str, batch: bool = False) -> None:
        """Start compiling ``role`` (with its batch driver if ``batch``) in a thread, once;
        calls go on being interpreted meanwhile."""
        key = f"{role} batch" if batch else role
        with _background_lock:
            if key in self._compiling or _shutting_down.is_set():
                return
            thread = threading.Thread(target=self._background, args=(role, batch), daemon=True,
                                      name=f"compiler: {key} of {self._title[:40]}")
            self._compiling[key] = thread
            _background.add(thread)
            thread.start()

    def _background(self, role: str, batch: bool = False) -> None:
        try:
            # compiled by another process into the disk cache, then loaded here: a compile
            # in this process would hold the GIL and slow the calls it is meant to speed up
            # (without a usable cache, or if the child fails, it is compiled here after all)
            self._compile_in_subprocess(role, batch)
            if _shutting_down.is_set():
                return
            kernel = self._kernel(role, progress=False)
            driver = self._batch_driver(role) if batch else None
        except _Cancelled:
            return
        except BaseException as exc:  # kept for wait(); calls stay interpreted, never wrong
            self._compile_error = exc
            warnings.warn(f"compiling {self!r} failed ({type(exc).__name__}: {exc}); its calls "
                          "are interpreted; fn.wait() raises the error", RuntimeWarning)
            return
        finally:
            with _background_lock:
                _background.discard(threading.current_thread())
        self._install(role, kernel, driver)

    def _in_disk_cache(self, role: str, batch: bool = False) -> bool:
        """Whether the compiled code of ``role`` is in the disk cache already (then loading it
        here beats starting a process); for llvm, the target is loaded on the way."""
        if self.backend == "llvm":
            with self._lock:
                if role not in self._targets:
                    target = _native_target(self.inputs, self.plan[role], role, False, compile=False)
                    if target is None:
                        return False
                    self._targets[role] = target
            return True
        if self.backend == "numba":
            directory = cache.ensure_dir("numba")
            if directory is None:
                return False
            path, _ = _source_file(self.module.source, True)
            stem = os.path.splitext(os.path.basename(path))[0]
            names = os.listdir(directory)
            entries = [self.module.entries[role]] + ([self.module.batch[role]] if batch else [])
            return all(any(name.startswith(f"{stem}.{entry}-") and name.endswith(".nbi") for name in names)
                       for entry in entries)
        return False

    def _compile_in_subprocess(self, role: str, batch: bool = False) -> bool:
        """Compile ``role`` in a child process that stores the code in the disk cache; True
        when it did (the cache is usable, the child succeeded) or the code is cached already."""
        if self.backend not in ("numba", "llvm") or cache.ensure_dir("numba") is None \
                or os.environ.get("COMPILER_COMPILE_IN_SUBPROCESS", "1") == "0":
            return False
        if self._in_disk_cache(role, batch):
            return True
        import pickle
        import subprocess
        try:
            payload = pickle.dumps(self)
            child = subprocess.Popen([sys.executable, "-m", "compiler.compile_worker", role]
                                     + (["--batch"] if batch else []),
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except (OSError, pickle.PicklingError, RecursionError):
            return False
        with _background_lock:
            _children.add(child)
        try:
            child.communicate(payload)  # waits without the GIL
        finally:
            with _background_lock:
                _children.discard(child)
        return child.returncode == 0

    def _program(self, role: str):
        """The schedule of ``role`` assembled for the interpreters (``vm``), made once."""
        program = self._programs.get(role)
        if program is None:
            if role == "value_and_grad":
                self._require_wrt()
            plan = self.plan[role]
            with gc_paused():
                program = self._programs[role] = vm.assemble(self.inputs, plan.outputs, plan.nodes)
        return program

    def _require_wrt(self):
        if not self.wrt:
            shaped = [o.shape for o in self.outputs if o.shape]
            if shaped:
                raise ShapeError(f"this function has an output of shape {shaped[0]}: gradients are of "
                                 "scalar outputs (reduce it, for example with cc.sum or cc.mean)")
            raise ValueError("this function has no inputs to differentiate with respect to")

    # --- the slow path: argument checks, conversion, batches ---

    def _slow(self, role: str, args: tuple):
        if self._tensor:  # its entry checks every call; this repeats the check to raise its error
            return getattr(self, _SLOT[role])(*args)
        if role == "value_and_grad":
            self._require_wrt()
        if len(args) != len(self._input_names):
            raise ArgumentError(self._count_message(len(args)))
        arrays, n = _check_arguments(args, self._input_names)
        if n is None:  # every argument is a number
            kernel = self._value if role == "value" else self._vg
            return kernel(*[float(a[0]) for a in arrays])
        return self._run_batch(role, arrays, n)

    def _count_message(self, given: int) -> str:
        names = ", ".join(self._input_names)
        return f"expected {len(self._input_names)} argument(s) ({names}), in this order; got {given}"

    def _tensor_batch(self, role: str, arrays: list[np.ndarray], n: int, driver=None):
        """A batch of a function of tensors: outputs get a leading axis of length n; ``driver``
        is the batch loop to run (the compiled one by default)."""
        shapes = [o.shape for o in self.outputs]
        outs = [np.empty((n,) + s) for s in shapes]
        grads = [np.empty((n,) + w.shape) for _ in self.outputs for w in self.wrt] \
            if role == "value_and_grad" else []
        strides = [0 if a.shape[0] == 1 else 1 for a in arrays]
        if n:
            (driver or self._batch_driver(role))(*arrays, *strides, *outs, *grads)
        values = outs[0] if not self._many else tuple(outs)
        if role == "value":
            return values
        k = len(self.wrt)
        rows = [tuple(grads[i * k:(i + 1) * k]) for i in range(len(self.outputs))]
        return values, rows[0] if not self._many else tuple(rows)

    def _run_batch(self, role: str, arrays: list[np.ndarray], n: int):
        n_out, k = len(self.outputs), len(self.wrt)
        if self.backend in _FLAT_TARGETS:
            target = self._target(role)
            flat = np.empty((target.n_out, n))
            if n:
                strides = np.array([0 if a.shape[0] == 1 else 1 for a in arrays], dtype=np.int64)
                target.batch(tuple(arrays), strides, flat)
            if role == "value":
                return flat[0] if not self._many else tuple(flat)
            if not self._many:
                return flat[0], tuple(flat[1:])
            return tuple(flat[:n_out]), np.ascontiguousarray(flat[n_out:].reshape(n_out, k, n).transpose(2, 0, 1))
        out = np.empty((n_out, n))
        strides = [0 if a.shape[0] == 1 else 1 for a in arrays]
        if role == "value":
            if n:
                self._batch_driver("value")(*arrays, *strides, out)
            return out[0] if not self._many else tuple(out)
        grad = np.empty((k, n)) if not self._many else np.empty((n, n_out, k))
        if n:
            self._batch_driver("value_and_grad")(*arrays, *strides, out, grad)
        if not self._many:
            return out[0], tuple(grad)
        return tuple(out), grad

    # --- compiling on first use ---

    def _load(self, name: str) -> dict:
        """The namespace of the generated module, with function ``name`` defined (and JIT-wrapped)."""
        with self._lock:
            namespace = self._namespace
            if namespace is None:
                self._filename, cached = _source_file(self.module.source, self.backend == "numba")
                module, new = _generated_module(self._filename, self.backend, self)
                namespace = module.__dict__
                if new:
                    exec(builtins.compile(self.module.header, self._filename, "exec"), namespace)  # noqa: S102
                self._namespace, self._numba_cache = namespace, cached
            if name not in namespace:
                # Only the functions in use are defined: Python's own compile of a
                # huge generated function is not free. Blank lines in front keep the
                # line numbers of the file (Numba's disk cache names functions by them).
                text = self.module.pieces[name]
                line = self.module.source.count("\n", 0, self.module.source.index(text))
                with gc_paused():
                    code = builtins.compile("\n" * line + text, self._filename, "exec")
                exec(code, namespace)  # noqa: S102
                if self.backend == "numba":
                    import numba
                    for fname in self.module.kernels:
                        if fname in namespace and not hasattr(namespace[fname], "py_func"):
                            namespace[fname] = numba.njit(cache=self._numba_cache, **_JIT_OPTIONS)(namespace[fname])
            return namespace

    def _kernel(self, role: str, progress: bool | None = None):
        """The scalar kernel of ``role``, compiled for float64 arguments only."""
        if role == "value_and_grad":
            self._require_wrt()
        if self.backend in _FLAT_TARGETS:
            return self._target(role, progress).scalar_call(self._many, len(self.outputs), len(self.wrt), role)
        name = self.module.entries[role]
        fn = self._load(name)[name]
        if self.backend == "python":
            fn = _python_kernel(fn, len(self.inputs)) if not self._tensor else _numpy_kernel(fn)
        else:
            with self._lock:
                if not fn.signatures:
                    fn.compile(tensor_calls.numba_types([n.shape for n in self.inputs]))
                    fn.disable_compile()  # other argument types go to the checked slow path
                    if not self._tensor:
                        _refuse_arrays_at_once(fn)
        if self._tensor:
            return fn
        if role == "value_and_grad" and self._many:
            return _with_jacobian_array(fn)
        return fn

    def _batch_driver(self, role: str):
        driver = self._drivers.get(role)
        if driver is not None:  # every batch call comes here: made once
            return driver
        with self._lock:
            self._kernel(role)
            name = self.module.batch[role]
            namespace = self._load(name)
            driver = namespace[name]
            if self.backend == "numba" and not hasattr(driver, "signatures"):
                import numba
                driver = numba.njit(cache=self._numba_cache, **_BATCH_OPTIONS)(driver)
                if self._tensor:
                    shapes = [n.shape for n in self.inputs]
                    outs = [o.shape for o in self.outputs]
                    if role == "value_and_grad":
                        outs += [w.shape for _ in self.outputs for w in self.wrt]
                    sig = (tensor_calls.numba_types(shapes, batch=True) + (numba.int64,) * len(shapes)
                           + tensor_calls.numba_types(outs, batch=True))
                else:
                    arr = numba.float64[::1]
                    sig = [arr] * len(self.inputs) + [numba.int64] * len(self.inputs) + [numba.float64[:, ::1]]
                    if role == "value_and_grad":
                        sig.append(numba.float64[:, ::1] if not self._many else numba.float64[:, :, ::1])
                driver.compile(tuple(sig))
                driver.disable_compile()
                namespace[name] = driver
            elif self.backend == "python":
                driver = _python_batch(driver)
            self._drivers[role] = driver
            return driver


    def _target(self, role: str, progress: bool | None = None) -> "_FlatTarget":
        """The llvm or vm build of ``role``, made (or loaded from the disk cache) on first use."""
        with self._lock:
            target = self._targets.get(role)
            if target is None:
                if role == "value_and_grad":
                    self._require_wrt()
                progress = self._progress if progress is None else progress
                if self.backend == "llvm":
                    target = _native_target(self.inputs, self.plan[role], role, progress)
                else:
                    target = _vm_target(self._program(role))
                self._targets[role] = target
            return target


_FLAT_TARGETS = ("llvm", "vm")
_GENERATED_FORMAT = 2  # in the cached file names: a new scheme of module names misses old entries
_modules: dict[str, list] = {}  # module name -> [module, number of functions using it]
_modules_lock = threading.Lock()


def _generated_module(filename: str, backend: str, owner) -> tuple[types.ModuleType, bool]:
    """The module that runs the generated source of ``filename`` for ``backend``, registered in
    ``sys.modules`` while functions use it, and whether it is new. Numba finds a function's
    globals by its module's name (its disk cache, so the name is a hash; and the object-mode
    blocks of tensor kernels). Functions of one source and backend share it."""
    name = "compiler_generated_" + hashlib.sha256(f"{backend}:{filename}".encode()).hexdigest()[:16]
    with _modules_lock:
        entry = _modules.get(name)
        new = entry is None
        if new:
            module = types.ModuleType(name)
            module.__file__ = filename
            entry = _modules[name] = [module, 0]
            sys.modules[name] = module
        entry[1] += 1
    weakref.finalize(owner, _release_module, name)
    return entry[0], new


def _release_module(name: str) -> None:
    with _modules_lock:
        entry = _modules.get(name)
        if entry is not None:
            entry[1] -= 1
            if entry[1] == 0:
                del _modules[name]
                sys.modules.pop(name, None)


def _source_file(source: str, numba_cache: bool) -> tuple[str, bool]:
    """A file name for the generated module; with the disk cache, the module is written there
    so that Numba caches its machine code beside it. Returns (path, Numba may cache)."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    directory = cache.ensure_dir("numba") if numba_cache else None
    if directory is None:
        return f"<compiler-generated {digest}>.py", False
    path = directory / f"gen{_GENERATED_FORMAT}_{digest}.py"
    try:
        if not path.exists() or path.read_text() != source:
            tmp = path.with_name(f".tmp-{digest}-{os.getpid()}-{threading.get_ident()}.py")
            tmp.write_text(source)
            tmp.replace(path)
    except OSError:
        return f"<compiler-generated {digest}>.py", False
    return str(path), True


class _FlatTarget:
    """A kernel that reads its inputs from an array and writes its outputs (values, then the
    Jacobian row by row) to an array: the llvm and vm targets."""

    def __init__(self, n_in: int, n_out: int, scalar, batch, native=None):
        self.n_in, self.n_out = n_in, n_out
        self.scalar, self.batch = scalar, batch  # scalar(x, out); batch(arrays, strides, out2d)
        self.native = native  # (ctypes function, scratch size) of machine code: a faster scalar path

    def scalar_call(self, many: bool, n_values: int, k: int, role: str):
        n_in, n_out, scalar = self.n_in, self.n_out, self.scalar
        if self.native is not None:
            return self._native_call(many, n_values, k, role)

        def call(*args):
            if len(args) != n_in:
                raise TypeError("argument count")  # the checked slow path explains
            try:
                x = np.array(args, dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError("not numbers") from None
            if x.ndim != 1:
                raise TypeError("arrays")  # the slow path runs the batch
            out = np.empty(n_out)
            scalar(x, out)
            r = out.tolist()
            if role == "value":
                return r[0] if not many else tuple(r)
            if not many:
                return r[0], tuple(r[1:])
            return tuple(r[:n_values]), out[n_values:].reshape(n_values, k)
        return call

    def _native_call(self, many: bool, n_values: int, k: int, role: str):
        """One point through ctypes buffers of this thread: no NumPy array per call (about
        1.5 us instead of 5)."""
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
            except (TypeError, ValueError):
                raise TypeError("not numbers") from None  # arrays and the rest: the slow path
            cfunc(b[3], b[4], 1, b[5])
            r = b[1][:]
            if role == "value":
                return r[0] if not many else tuple(r)
            if not many:
                return r[0], tuple(r[1:])
            return tuple(r[:n_values]), np.array(r[n_values:]).reshape(n_values, k)
        return call


def _progress_bar(total: int, what: str, enabled: bool):
    """A tqdm bar on stderr that appears only if the work takes more than a second."""
    if not enabled or os.environ.get("COMPILER_PROGRESS", "1").lower() in ("0", "off", "false", "no"):
        return None
    from tqdm import tqdm
    return tqdm(total=total, desc=what, unit="part", delay=1.0, file=sys.stderr, leave=False)


def _native_target(inputs, plan: codegen.Schedule, role: str, progress: bool, module=None,
                   compile: bool = True) -> _FlatTarget | None:
    """The llvm build of ``plan``: loaded from the disk cache, else compiled (or, without
    ``compile``, None). ``module`` is its LLVM IR when the caller has it already."""
    from . import llvm_target
    if module is None:
        with gc_paused():
            module = llvm_target.emit(inputs, plan.outputs, plan.statements)
    key = cache.entry_key("llvm", llvm_target.host_fingerprint(), *module.texts)
    kernel = None
    blob = cache.load(key, "o")
    if blob is not None:
        try:
            kernel = llvm_target.NativeKernel(llvm_target.unpack(blob), module)
        except Exception:  # a verified entry LLVM cannot load (another LLVM build): compile anew
            kernel = None
    if kernel is None and not compile:
        return None
    if kernel is None:
        bar = _progress_bar(len(module.texts), f"compiling {role} (llvm)", progress)

        def part_done(k: int) -> None:
            if bar is not None:
                bar.update(1)
            if _shutting_down.is_set():
                raise _Cancelled()
        try:
            objects = llvm_target.compile_objects(module, part_done)
        finally:
            if bar is not None:
                bar.close()
        cache.store(key, "o", llvm_target.pack(objects))
        kernel = llvm_target.NativeKernel(objects, module)
    cfunc, address, n_scratch = kernel.cfunc, kernel.address, kernel.n_scratch

    def scalar(x, out):
        s = np.empty(n_scratch)
        cfunc(x.ctypes.data, out.ctypes.data, 1, s.ctypes.data)

    def batch(arrays, strides, out):
        from . import native_batch  # Numba: imported when a batch first needs it
        native_batch.batch(address, n_scratch, arrays, strides, out)

    target = _FlatTarget(len(inputs), module.n_out, scalar, batch, native=(cfunc, n_scratch))
    target.kernel = kernel  # keeps the machine code alive
    return target


def _vm_target(program) -> _FlatTarget:
    interp = vm.interpreter()
    code, consts, outs = program.arrays

    def scalar(x, out):
        interp.call(code, consts, outs, x, out)

    def batch(arrays, strides, out):
        interp.batch(code, consts, outs, arrays, strides, out)

    target = _FlatTarget(program.n_in, len(outs), scalar, batch)
    target.program = program
    return target


_NUMBERS = (int, float, np.floating, np.integer)
_SLOT = {"value": "_value", "value_and_grad": "_vg"}  # the attribute holding each role's fast path
# "auto" starts compiling a function once its calls have spent this long interpreted: a
# script that makes a few calls never compiles (nor waits at exit for a compile), a loop
# compiles after a bounded delay, as a ski-rental rule would.
COMPILE_AFTER_SECONDS = 0.05


class _Lazy:
    """Stands in for a scalar kernel until its first call compiles it."""

    def __init__(self, owner: CompiledFunction, role: str):
        self.owner, self.role = owner, role

    def __call__(self, *args):
        self.owner._called.add(self.role)
        kernel = self.owner._kernel(self.role)
        setattr(self.owner, _SLOT[self.role], kernel)
        return kernel(*args)


class _Interpreted:
    """Answers the scalar calls of one role with the Python interpreter (``vm.run_python``)
    until the compiled kernel, made in a background thread, takes its place."""

    def __init__(self, owner: CompiledFunction, role: str):
        self.owner, self.role, self.elapsed = owner, role, 0.0  # seconds spent interpreted
        self.n_in = len(owner.inputs)

    def __call__(self, *args):
        if len(args) != self.n_in:
            raise TypeError("argument count")  # the checked slow path explains
        for a in args:
            if type(a) is not float and not isinstance(a, _NUMBERS):
                raise TypeError("not a number")  # arrays and the rest: the checked slow path
        owner = self.owner
        owner._called.add(self.role)
        start = time.perf_counter()
        r = vm.run_python(owner._program(self.role), [float(a) for a in args])
        self.elapsed += time.perf_counter() - start
        if self.elapsed >= COMPILE_AFTER_SECONDS:
            owner._compile_in_background(self.role)
        n = len(owner.outputs)
        if self.role == "value":
            return r[0] if not owner._many else tuple(r)
        if not owner._many:
            return r[0], tuple(r[1:])
        return tuple(r[:n]), np.array(r[n:]).reshape(n, len(owner.wrt))


class _TensorEntry:
    """Calls of one role of a function of tensors: shapes checked on every call, then the
    compiled kernel (or, under "auto" until it is ready, the NumPy module)."""

    def __init__(self, owner: CompiledFunction, role: str):
        self.owner, self.role, self.elapsed = owner, role, 0.0
        self.compiled = None  # the Numba kernel, once made
        self.driver = None    # its compiled batch loop, once made
        self.batched = False  # whether batches were asked for (then the driver is compiled too)

    @property
    def ready(self) -> bool:
        if self.owner.backend == "python":
            return True
        return self.compiled is not None and (self.driver is not None or not self.batched)

    def __call__(self, *args):
        owner, role = self.owner, self.role
        owner._called.add(role)
        if role == "value_and_grad":
            owner._require_wrt()
        arrays, n = tensor_calls.check_arguments(args, owner.inputs)
        if n is not None:
            return self._batch(arrays, n)
        kernel = self.compiled
        if kernel is None and owner.requested_backend == "auto":
            kernel = owner._numpy_function(owner.module.entries[role])
            start = time.perf_counter()
            with np.errstate(all="ignore"):
                out = tensor_calls.result(kernel(*arrays))
            self.elapsed += time.perf_counter() - start
            if self.elapsed >= COMPILE_AFTER_SECONDS:
                owner._compile_in_background(role)
            return out
        if kernel is None:
            kernel = self.compiled = owner._kernel(role)
        if owner.backend == "numba":  # never warns (its NumPy blocks run under np.errstate)
            return tensor_calls.result(kernel(*arrays))
        with np.errstate(all="ignore"):
            return tensor_calls.result(kernel(*arrays))


    def _batch(self, arrays, n):
        owner, role = self.owner, self.role
        self.batched = True
        if self.driver is None and owner.requested_backend == "auto":
            # the NumPy module's loop, in Python, while Numba compiles the parallel one
            driver = _python_batch(owner._numpy_function(owner.module.batch[role]))
            start = time.perf_counter()
            out = owner._tensor_batch(role, arrays, n, driver)
            self.elapsed += time.perf_counter() - start
            if self.elapsed >= COMPILE_AFTER_SECONDS:
                owner._compile_in_background(role, batch=True)
            return out
        if self.driver is None:
            self.driver = owner._batch_driver(role)
        return owner._tensor_batch(role, arrays, n, self.driver)


def _is_compiled(entry) -> bool:
    if isinstance(entry, _TensorEntry):
        return entry.ready
    return not isinstance(entry, (_Interpreted, _Lazy))


def _numpy_kernel(fn):
    def run(*args):
        with np.errstate(all="ignore"):
            return fn(*args)
    return run


class _Cancelled(Exception):
    """A background compile stopped because the interpreter is exiting."""


_background: set = set()            # live background compile threads
_background_lock = threading.Lock()
_shutting_down = threading.Event()


_children: set = set()               # compile processes of background compiles


@atexit.register
def _stop_background_compiles() -> None:
    """At exit, stop the compile processes, let in-process compiles stop at their next
    checkpoint (an LLVM part) and wait for them: a thread inside LLVM while the process
    tears LLVM down could crash it."""
    _shutting_down.set()
    with _background_lock:
        children, threads = list(_children), list(_background)
    for child in children:
        child.kill()
    for thread in threads:
        thread.join()


def _refuse_arrays_at_once(dispatcher) -> None:
    """Make a scalar kernel's Numba dispatcher turn arrays away in about a microsecond.

    A batch call tries the scalar kernel first (that keeps one-point calls fast); on
    arrays, Numba would look for new conversions and then explain the mismatch, typing
    every argument in Python twice: ~50 µs per call, more than a 1,000-point batch takes.
    Numbers keep Numba's conversions (ints, bools, float32). Both hooks are Numba's
    dispatcher methods; if a release renames them, this only stops saving the time.
    """
    search = dispatcher._search_new_conversions

    def search_unless_arrays(*args, **kws):
        for a in args:
            if type(a) is np.ndarray:
                return False
        return search(*args, **kws)

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
        with np.errstate(all="ignore"):
            return _to_python(fn(*(np.float64(a) for a in args)))
    return run


def _python_batch(driver):
    def run(*args):
        with np.errstate(all="ignore"):
            driver(*args)
    return run


def _to_python(result):
    if isinstance(result, tuple):
        return tuple(_to_python(r) for r in result)
    return float(result)


def _unpickle(table, n_out: int, n_in: int, backend: str, many: bool, max_statements, title: str,
              progress: bool) -> CompiledFunction:
    nodes = ir.from_table(table)
    outputs, inputs, wrt = nodes[:n_out], nodes[n_out:n_out + n_in], nodes[n_out + n_in:]
    return CompiledFunction(outputs, inputs, wrt, backend, many, max_statements, title, progress)


def _check_arguments(args: tuple, names: list[str]) -> tuple[list[np.ndarray], int | None]:
    """Each argument as a float64 1-D array (length 1 for numbers) and the batch length, or None."""
    arrays, n, n_from = [], None, None
    for i, (a, name) in enumerate(zip(args, names)):
        where = f"argument {name!r} (position {i + 1})"
        if isinstance(a, (bool, int, float, np.number)) and not isinstance(a, (complex, np.complexfloating)):
            arrays.append(np.array([a], dtype=np.float64))
            continue
        if isinstance(a, (str, bytes, complex, np.complexfloating)) or a is None:
            raise ArgumentError(f"{where} must be a real number or a 1-D array of them, got {type(a).__name__}")
        try:
            arr = np.asarray(a)
        except Exception as exc:  # ragged lists and other objects numpy cannot take
            raise ArgumentError(f"{where} must be a real number or a 1-D array of them, got {type(a).__name__}") from exc
        if arr.dtype.kind not in "biuf":
            raise ArgumentError(f"{where} must hold real numbers, got an array of dtype {arr.dtype}")
        if arr.ndim == 0:
            arrays.append(arr.astype(np.float64).reshape(1))
            continue
        if arr.ndim != 1:
            raise ShapeError(f"{where} must be a number or a 1-D array, got an array of shape {arr.shape}")
        arrays.append(np.ascontiguousarray(arr, dtype=np.float64))
        if arr.shape[0] != 1 or n is None:
            if n is None or n == 1:
                n, n_from = arr.shape[0], (name, arr.shape)
            elif arr.shape[0] != n:
                raise ShapeError(f"array arguments have incompatible lengths: {n_from[0]!r} has shape "
                                 f"{n_from[1]} and {name!r} has shape {arr.shape}")
    return arrays, n


def compile(expr, inputs: Sequence, wrt: Sequence | None = None, *, backend: str = "auto",
            max_statements: int | None = codegen.DEFAULT_MAX_STATEMENTS, progress: bool = True
            ) -> CompiledFunction:
    """Compile ``expr`` (an expression, a SymPy expression, or a list of them) as a function of ``inputs``.

    Derivatives are taken with respect to ``wrt`` (default: all inputs). An
    input the expression does not use has derivative 0. ``backend`` is one of
    ``BACKENDS`` (see the module docstring); ``progress=False`` silences the
    progress bar that a compile longer than a second shows on stderr.

    >>> import compiler as cc
    >>> x, y = cc.symbols("x y")
    >>> fn = cc.compile(cc.sin(x) * y, [x, y], backend="python")
    >>> fn.value_and_grad(0.0, 2.0)
    (0.0, (2.0, 0.0))
    """
    outputs, many = _as_outputs(expr)
    ins = _as_symbols(inputs, "inputs")
    if wrt is None:
        # the default: every input, when there is a gradient to take (scalar outputs)
        wrt_nodes = ins if not any(o.shape for o in outputs) else []
    else:
        wrt_nodes = _as_symbols(wrt, "wrt")
        for i, w in enumerate(wrt_nodes):
            if w.id not in {n.id for n in ins}:
                raise ValueError(f"wrt[{i}] {w.name!r} is not one of the inputs {[n.name for n in ins]}")
    title = ", ".join(ir.short_str(o) for o in outputs)
    return CompiledFunction(outputs, ins, wrt_nodes, backend, many, max_statements, title[:200], progress)
