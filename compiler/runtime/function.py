"""``compile()`` and ``CompiledFunction``: the user-facing API of a compiled function.

The function keeps what the user calls (value, gradient, Hessian, ``hvp``,
source, ``save``, ``wait``) and delegates the rest: ``code.Code`` makes its
kernels and drivers, ``tiers`` decides what answers each call and compiles in
the background, ``batch`` runs checked calls and batches.

>>> import compiler as cc
>>> x = cc.Symbol("x")
>>> cc.compile(x * x, [x], backend="python").grad(3.0)
(6.0,)
"""

from __future__ import annotations

import inspect
import threading
from typing import Callable, Sequence

import numpy as np

from .. import codegen, ir
from ..ad import loops as ad_loops
from ..codegen import llvm_loops, llvm_tensor
from ..errors import ShapeError, UnsupportedError
from ..ir import Node
from ..ir.special import PYTHON_ONLY
from . import batch, derivatives, derived, entries, failures, lazy, per_process, tiers
from .compile_args import _as_outputs, _as_symbols, _is_one_symbol
from .code import Code
from .flat import FLAT_TARGETS
from .generated import GeneratedSource
from ..ir.gc_pause import gc_paused

BACKENDS = ("auto", "numba", "llvm", "vm", "python")
HESSIAN_MAX_SIZE = derivatives.HESSIAN_MAX_SIZE  # wrt elements up to which hessian() of tensors forms it


class CompiledFunction(GeneratedSource):
    """Value, gradient and Hessian of expressions, compiled once and called many times.

    Arguments are numbers (one point) or 1-D arrays of equal length (many
    points, run by a parallel batch loop); scalars broadcast against arrays.
    They are positional, in the order of ``inputs``.

    ``backend`` is the target the code compiles to (under "auto", the one it
    will switch to), ``requested_backend`` what was asked for, ``tier`` what
    answers calls now, ``ready`` whether compiled code does.

    >>> import compiler as cc
    >>> x, y = cc.symbols("x y")
    >>> fn = cc.compile(x * y + x, [x, y], backend="python")
    >>> fn(2.0, 3.0), fn.grad(2.0, 3.0)
    (8.0, (4.0, 2.0))
    """

    # made by the reverse pass and the schedule, at once or on first use (a warm start: ``lazy``)
    plan: lazy.Derived[dict] = lazy.Derived()
    _jac: lazy.Derived[list | None] = lazy.Derived()  # rows of nodes: one per output
    _labels: lazy.Derived[dict] = lazy.Derived()
    _printed: lazy.Derived[tuple] = lazy.Derived()  # (outputs, jac): custom functions lowered
    _notes: lazy.Derived[dict] = lazy.Derived()
    _no_derivative: lazy.Derived[UnsupportedError | None] = lazy.Derived()  # why it has no gradient
    __wrapped__: Callable  # set by @cc.jit: the traced Python function
    __name__: str  # set by @cc.jit: that function's name
    dtype = "float64"  # the outputs' precision (a function of float32 inputs: ``precision``)

    def __new__(cls, outputs, inputs, *rest, **options):  # float32 inputs: a Float32Function
        from .complex import ComplexFunction, has_complex
        from .precision import Float32Function, has_float32
        if cls is CompiledFunction and has_complex(outputs, inputs):  # complex values: a ComplexFunction
            return object.__new__(ComplexFunction)
        return object.__new__(Float32Function if cls is CompiledFunction and has_float32(inputs) else cls)

    def __init__(self, outputs: Sequence[Node], inputs: Sequence[Node], wrt: Sequence[Node],
                 backend: str = "auto", many: bool = False,
                 max_statements: int | None = codegen.DEFAULT_MAX_STATEMENTS, title: str = "",
                 progress: bool = True, single: bool = False, simd: bool = True):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.outputs, self.inputs, self.wrt = list(outputs), list(inputs), list(wrt)
        self._many, self._max_statements, self._progress = many, max_statements, progress
        self._simd = bool(simd)  # batches of a scalar function may run on vector units (``simd``)
        # ``wrt`` given as one input, not a list: derivatives drop the per-input level
        self._single = bool(single) and len(self.wrt) == 1
        self._lock = threading.RLock()
        with gc_paused():
            order = ir.topo_order(self.outputs)
            self._watched = failures.watched(order)  # custom functions that report failures (odeint)
            listed = {n.id for n in self.inputs}
            missing = [n.name for n in order if n.op == "var" and n.id not in listed]
            if missing:
                raise ValueError(f"the expression uses symbol(s) {missing} that are not in inputs "
                                 f"{[n.name for n in self.inputs]}")
        self.requested_backend = backend
        # compiled before (on the llvm target): the kernels load from the disk cache without the
        # reverse pass and the schedule, made on first use if ever (``lazy``)
        self._lazy = lazy.Start(self, order)
        if not self._lazy.hit:
            order = lazy.derive(self, order)
        self._title = title
        # tensors run as NumPy code (backend "python") or Numba: the llvm and vm targets are scalar
        # (so do loops: the scalar targets have no loop)
        self._tensor = any(n.shape for n in self.inputs) or any(n.shape or n.op == "scan" for n in order)
        # a user's function (cc.extern): NumPy tier first, then Numba; the flat targets cannot call it
        self._extern = ir.extern.called(order)
        if self._extern and backend == "vm":
            raise UnsupportedError("backend 'vm' cannot call a cc.extern function (a user's Numba "
                                   "function); use backend 'auto' or 'numba' (it calls the compiled function), "
                                   "'llvm' (it calls its cfunc) or 'python' (it calls its Python function)")
        # the llvm target calls a cfunc of the user's function (scalar arguments); the others run it
        # as a function of tensors, whose NumPy tier ("auto", "python") calls its Python function
        self._tensor = self._tensor or (self._extern and backend != "llvm")
        # loops the llvm target compiles (``codegen.llvm_loops``: float64, small tensor carries; tensor
        # inputs and outputs are flat in its ``in`` and ``out``) in well under a second, where Numba's front
        # end takes seconds to a minute; "auto" picks it. Tensor arguments keep the tensor entry (shapes
        # checked on every call), which calls the kernel through ``flat.tensor_call``.
        self._llvm_loops = False
        loop_refusal: str | None = "the vm target has no loops"
        if any(n.op == "scan" for n in order) and not self._extern and backend != "vm":
            loop_refusal = llvm_loops.refusal(self.inputs, self.outputs,
                                              [n for p in self.plan.values() for n in p.statements])
            self._llvm_loops = loop_refusal is None and backend in ("llvm", "auto")
            if self._llvm_loops:
                self._tensor = any(n.shape for n in self.inputs) or any(n.shape for n in self.outputs)
        if self._tensor and backend in FLAT_TARGETS and any(n.op == "scan" for n in order) and not self._llvm_loops:
            raise UnsupportedError(f"backend {backend!r} cannot compile this function's loop (cc.scan, cc.fori_loop, "
                                   f"cc.odeint): {loop_refusal}; use backend 'auto' or 'numba' (its loop "
                                   "compiles to machine code) or 'python'")
        # tensors of the ops ``codegen.llvm_tensor`` lowers: loop nests and BLAS on the llvm target
        self._llvm_tensor = False
        if self._tensor and not self._llvm_loops and backend in ("llvm", "auto"):
            tensor_refusal = llvm_tensor.refusal(self.inputs, self.outputs,
                                                 [n for p in self.plan.values() for n in p.statements])
            self._llvm_tensor = tensor_refusal is None and not self._extern
            if backend == "llvm" and not self._llvm_tensor:
                raise UnsupportedError(f"backend 'llvm' cannot compile this function of tensors: {tensor_refusal}; "
                                       "use backend 'auto' or 'numba' (or 'python')")
        if self._tensor and backend in FLAT_TARGETS and not self._llvm_loops and not self._llvm_tensor:
            raise UnsupportedError(f"backend {backend!r} compiles scalar expressions; this one has tensors "
                                   "(use backend 'auto', 'numba' or 'python')")
        # functions SciPy exports no C function of (``ir.special``), in the value or a derivative
        # (a lazy start's entry was recorded by this function compiled on llvm: none)
        python_only = [] if self._lazy.hit else \
            sorted({n.op for p in self.plan.values() for n in p.statements} & PYTHON_ONLY)
        if python_only and backend in FLAT_TARGETS:
            raise UnsupportedError(f"backend {backend!r} cannot call {', '.join(python_only)} (scipy.special "
                                   "exports no C function of it; a derivative may use it: digamma' is "
                                   "polygamma(1, x)): use backend 'auto', 'numba' or 'python'")
        if backend == "auto":
            # scalars: llvm compiles in milliseconds, its entry is the cheapest call (native_entry) and its
            # machine code goes with its function (Numba's stays); loops with scalar carries compile on llvm
            # too (``codegen.llvm_loops``), and tensors of the ops it lowers (``codegen.llvm_tensor``): the MLP
            # step is machine code in 0.2-0.5 s against Numba's 8-13 s, per call within the loaded machine's
            # noise of Numba's (docs/benchmarks.md); other tensor graphs compile with Numba
            backend = "llvm" if self._llvm_loops or (self._llvm_tensor and not python_only) else \
                "numba" if self._tensor or python_only else "llvm"
        self.backend = backend
        self._input_names = [n.name for n in self.inputs]
        self._grad_fn: CompiledFunction | None = None
        self._loop_memory_checked = False  # whether the gradient may run (``_require_wrt``)
        self._code = Code(self)     # the generated modules, kernels, drivers and targets
        self._tiers = tiers.Tiers(self)  # what was called, background compiles
        # The entry of each role, replaced by the compiled kernel once it exists: "auto"
        # interprets the first calls while it compiles; the other backends compile at once.
        # Tensor functions keep one entry per role, which checks shapes on every call.
        self._value = tiers.first_entry(self, "value")
        self._vg = tiers.first_entry(self, "value_and_grad")
        entries.bind(self)  # value_and_grad and grad: closures in the instance
        if self._watched:
            failures.watch(self)

    @property
    def _signature(self) -> inspect.Signature:
        """The inputs as positional parameters, named as identifiers (see ``entries.signature``)."""
        return entries.signature(self._input_names)  # type: ignore[arg-type]

    @property
    def module(self) -> codegen.Module:
        """The generated Python module (printed on first use: the llvm and vm targets do not need it)."""
        return self._code.module

    # --- pickling: by structure; the new process compiles (or loads from the disk cache) ---

    def __reduce__(self):
        table = ir.to_table(self.outputs + self.inputs + self.wrt)
        return (_unpickle, (table, len(self.outputs), len(self.inputs), self.requested_backend, self._many,
                            self._max_statements, self._title, self._progress, self._single, self._simd))

    def __dask_tokenize__(self):  # Dask's name for it: its structure (graph keys repeat across calls)
        return per_process.key_of(self)

    @property
    def ir(self) -> str:
        """A listing of the IR graph of the outputs (see also ``fn.grad_fn.ir``)."""
        return ir.format_ir(self.outputs)

    @property
    def tier(self) -> str:
        """What answers calls now: ``"interpreter"`` or ``"numpy"`` (the first calls under
        "auto", while nothing is compiled), else the compiled target (``fn.backend``).

        >>> import compiler as cc
        >>> x = cc.Symbol("x")
        >>> cc.compile(x * x, [x]).tier
        'interpreter'
        """
        if self.backend == "python" or self.ready:
            return self.backend
        if self.requested_backend == "auto" and not self._llvm_loops:  # (loops on llvm: compiled at the first call)
            return "numpy" if self._tensor else "interpreter"
        return "not compiled yet"

    def __repr__(self) -> str:
        names = ", ".join(self._input_names)  # type: ignore[arg-type]
        if self.requested_backend == "auto":
            tier = self.tier
            state = (f"compiled: {tier!r}" if tier == self.backend
                     else f"{self.backend!r}, compiled on the first call" if self._llvm_loops
                     else f"{tier} now, {self.backend!r} once compiled")
            backend = f"backend='auto' ({state})"
        else:
            backend = f"backend={self.backend!r}" + ("" if self.ready else " (compiles on first call)")
        derived = [f"{name}: {tier}" for name, tier in self.tiers.items() if name != "value"]
        also = f"; derived functions: {', '.join(derived)}" if derived else ""
        return f"<CompiledFunction of ({names}), {len(self.outputs)} output(s), {backend}{also}>"

    def __str__(self) -> str:
        return repr(self) + "\n" + self.ir

    # --- calling ---

    # The scalar fast path is a bare try: Numba's dispatcher, compiled for float64
    # only, rejects anything else with a TypeError, and only then are the
    # arguments checked (and arrays sent to the batch driver). Keyword arguments
    # are not taken: accepting them costs more than the kernel itself here.

    def __call__(self, *args, reduce=None):
        """The value: a float (a tuple of floats for several outputs), or arrays for array arguments
        (NumPy or Dask: see ``dask_batch``); with ``reduce="sum"`` or ``"mean"``, its sum or mean
        over the points of the batch (see ``reduce``).

        Arguments are positional, in the order of the inputs (other keywords are not taken:
        they would cost more than a small kernel's whole call)."""
        if reduce is None:
            try:
                return self._value(*args)
            except TypeError:
                return batch.checked_call(self, "value", args)
        return batch.checked_call(self, "value", args, reduce)

    def value_and_grad(self, *args, reduce=None):
        """``(value, gradient)``: see ``grad`` for the gradient's form. With ``reduce="sum"`` (or
        ``"mean"``): the value summed over the batch points and the gradient of that sum with
        respect to the ``wrt`` inputs shared by every point, in bounded memory (``reduce``)."""
        return batch.checked_call(self, "value_and_grad", args, reduce)  # (replaced by entries.bind)

    def grad(self, *args, reduce=None):
        """The gradient: one entry per ``wrt`` input, in order, each of that input's shape (a
        float for a scalar; a leading batch axis for a batch), as a tuple; or the entry
        itself when ``wrt`` was given as one input (``wrt=p``, not ``[p]``), so that
        ``scipy.optimize.minimize(fn.value_and_grad, x0, jac=True, hess=fn.hessian)`` works.
        For several scalar outputs: the Jacobian, shape ``(n_out, n_wrt)`` (``(n, n_out,
        n_wrt)`` for a batch; ``(n_out,)`` for one ``wrt`` given alone)."""
        return self.value_and_grad(*args, reduce=reduce)[1]

    def hessian(self, *args):
        """Second derivatives over ``wrt`` (reverse-over-reverse): ``(n_wrt, n_wrt)``;
        ``(n_out, n_wrt, n_wrt)`` for several outputs; a leading batch axis for arrays.

        With tensors (one output, one point): blocks ``H[i][j]`` of shape
        ``wrt[i].shape + wrt[j].shape``, computed as ``hvp`` of every unit vector
        (for many parameters use ``hvp`` or ``sparse_hessian``). As for ``grad``, a
        ``wrt`` given as one input gives the block ``H[0][0]`` itself.
        """
        if self._tensor and any(w.shape for w in self.wrt):
            return derivatives.tensor_hessian(self, args)
        gfn = self.grad_fn
        jac = gfn.grad(*args)  # (n_out*n_wrt, n_wrt) or (n, n_out*n_wrt, n_wrt)
        if isinstance(jac, tuple):  # a graph with tensors, scalar wrt: rows of per-wrt gradients
            jac = np.asarray(jac, dtype=np.float64)  # (the gradient function has a list of outputs)
            if jac.ndim == 3:  # (rows, n_wrt, n): the batch axis first
                jac = np.moveaxis(jac, 2, 0)
        k = len(self.wrt)
        shape = (k, k) if not self._many else (len(self.outputs), k, k)
        hessian = jac.reshape(jac.shape[:-2] + shape)
        if self._single:
            hessian = hessian[..., 0, 0]
            return float(hessian) if hessian.ndim == 0 else hessian
        return hessian

    def hvp(self, *args, v):
        """The Hessian-vector product ``H @ v`` of a scalar output, without forming ``H``:
        ``v`` has one entry per ``wrt`` input, of its shape (a tuple; the entry itself when
        ``wrt`` was given as one input), the result likewise. Cost: about two gradients
        (forward-over-reverse: the tangent of the gradient, see ``derivatives``).

        >>> import compiler as cc
        >>> x, y = cc.symbols("x y")
        >>> cc.compile(x * x * y, [x, y], backend="python").hvp(1.0, 3.0, v=(1.0, 0.0))
        (6.0, 2.0)
        """
        return derivatives.hvp(self, args, v)

    @property
    def hvp_fn(self) -> "CompiledFunction":
        """``H @ v`` as a compiled function of the inputs and ``v`` (one output per ``wrt``)."""
        return derivatives.hvp_function(self)

    @property
    def grad_fn(self) -> "CompiledFunction":
        """The gradient as a compiled function of the same inputs (its ``grad`` is the Hessian)."""
        with self._lock:
            if self._grad_fn is None:
                self._require_wrt()
                flat = [g for row in self._jac for g in row]  # type: ignore[union-attr]
                self._grad_fn = CompiledFunction(flat, self.inputs, self.wrt, self.requested_backend,
                                                 many=True, max_statements=self._max_statements,
                                                 title="gradient", progress=self._progress, simd=self._simd)
            return self._grad_fn

    # --- forward mode, Jacobians and sparse derivatives (the machinery: derivatives.py) ---

    def jvp(self, *args, v):
        """``(value, J @ v)``: the outputs and their derivative along ``v`` by forward mode (one
        tangent per ``wrt`` input, of its shape; the entry itself for a ``wrt`` given alone).
        Batches of points or of tangents take a leading axis, as in every call.

        >>> import compiler as cc
        >>> x, y = cc.symbols("x y")
        >>> cc.compile(x * y, [x, y], backend="python").jvp(2.0, 3.0, v=(1.0, 0.0))
        (6.0, 3.0)
        """
        return derivatives.jvp(self, args, v)

    def jacobian(self, *args):
        """The Jacobian of outputs of any shape: blocks ``J[i][j]`` of shape ``outputs[i].shape +
        wrt[j].shape`` (one output: the row of blocks; a ``wrt`` alone: the block itself), by
        reverse or forward sweeps, whichever are fewer (one point; scalar graphs take batches)."""
        return derivatives.jacobian(self, args)

    def jacobian_sparsity(self):
        """The structural pattern of the Jacobian, a boolean ``scipy.sparse.csr_matrix``: a row per
        output element, a column per ``wrt`` element (each in C order, one after the other)."""
        return derivatives.jacobian_sparsity(self).copy()

    def hessian_sparsity(self):
        """The structural pattern of the Hessian of the one scalar output (``wrt`` by ``wrt``)."""
        return derivatives.hessian_sparsity(self).copy()

    def coloring(self, of: str | None = None):
        """The colouring behind ``sparse_hessian`` (``of="hessian"``, the default for one scalar
        output) or ``sparse_jacobian`` (``of="jacobian"``): ``.n_colors`` sweeps give it all."""
        return derivatives.coloring(self, of)

    def sparse_jacobian(self, *args):
        """The Jacobian at one point as a ``scipy.sparse.csr_matrix`` of ``jacobian_sparsity()``,
        from one kernel call that makes every colour's compressed sweep."""
        return derivatives.sparse_jacobian(self, args)

    def sparse_hessian(self, *args):
        """The Hessian at one point as a ``scipy.sparse.csr_matrix`` of ``hessian_sparsity()``,
        from one kernel call of ``coloring().n_colors`` Hessian-vector products."""
        return derivatives.sparse_hessian(self, args)

    def scipy(self, *data, sparse: bool = False):
        """This function as SciPy sees it: ``fun``, ``jac``, ``hess``, ``hessp`` of one flat vector
        of the ``wrt`` inputs, the other inputs bound to ``data`` (in input order). ``x0(...)``
        flattens a start, ``unflatten(x)`` names a solution; ``sparse=True`` gives ``hess`` (and a
        residual's ``jac``) as ``scipy.sparse`` matrices. See ``runtime.scipy_adapter``.
        """
        from .scipy_adapter import ScipyAdapter
        return ScipyAdapter(self, data, sparse)

    def ode(self, *params, sparse: bool = False):
        """``fun(t, y)`` and ``jac(t, y)`` for ``scipy.integrate.solve_ivp`` from ``fn = cc.compile(f, [y,
        t, *params])``, the parameters bound (``sparse=True``: ``jac`` in ``scipy.sparse``, and
        ``.jac_sparsity``). See ``runtime.ode_bridge``."""
        from .ode_bridge import OdeFunctions
        return OdeFunctions(self, params, sparse)

    # --- compiling ---

    @property
    def ready(self) -> bool:
        """True when the entry points called so far (value, value-and-gradient) run compiled
        code; ``"auto"`` interprets until then. After ``wait()``, every entry point does."""
        return self._tiers.ready()

    def wait(self, *also: str) -> "CompiledFunction":
        """Compile every entry point now, and every derived function made so far (the kernels
        of ``jvp``, ``hvp``, ``hessian``, ``jacobian``, ``sparse_jacobian``, ``sparse_hessian``
        that were called), if not done yet, and return when the code is ready. ``also`` names
        derivative methods whose functions to make and compile now, before their first call
        (``fn.wait("sparse_hessian", "jvp")``: an optimiser's first iterations then run
        compiled code).

        With ``backend="auto"``, calls are answered by an interpreter while the
        compiled code is made in the background; ``wait()`` is for when the
        next calls must be the fast ones (a benchmark, a latency-bound loop).

        >>> import compiler as cc
        >>> x = cc.Symbol("x")
        >>> cc.compile(x * x, [x], backend="python").wait("hessian").tiers
        {'value': 'python', 'gradient': 'python'}
        """
        for name in also:
            derived.prepare(self, name)
        self._tiers.wait()
        for made in derived.derived_functions(self).values():
            made.wait()
        return self

    @property
    def tiers(self) -> dict:
        """What answers each function's calls now (as ``tier``): this function's
        (``"value"``) and every derived function made so far, by what it computes."""
        found = {"value": self.tier}
        found.update((name, made.tier) for name, made in derived.derived_functions(self).items())
        return found

    def _require_wrt(self):
        """A gradient can be run: it exists (scalar outputs, a ``wrt``) and its loops' arrays fit
        in the loop memory limit (checked at its first run, not at compile time: a function
        whose value alone is called never needs them)."""
        if self._lazy.waiting() and self._lazy.gradient:  # (a warm start's gradient kernel: no loops)
            return
        if self._no_derivative is not None:
            raise UnsupportedError(f"{self._no_derivative} (pass wrt= without that input)")
        if self._loop_memory_checked:
            return
        if self._jac is None:
            shaped = [o.shape for o in self.outputs if o.shape]
            if shaped:
                raise ShapeError(f"this function has an output of shape {shaped[0]}: gradients are of "
                                 "scalar outputs (reduce it, for example with cc.sum or cc.mean; "
                                 "fn.jacobian and fn.jvp take outputs of any shape)")
            raise ValueError("this function has no inputs to differentiate with respect to")
        if any(n.op == "scan" for n in self.plan["value_and_grad"].nodes):
            ad_loops.check_loop_memory(self.plan["value_and_grad"].outputs)
        self._loop_memory_checked = True


def _unpickle(*state) -> CompiledFunction:
    """A pickled function, built once per process (``per_process``: Dask sends it with every task)."""
    return per_process.unpickled(state, _build)


def _build(table, n_out: int, n_in: int, backend: str, many: bool, max_statements, title: str,
           progress: bool, single: bool = False, simd: bool = True) -> CompiledFunction:
    nodes = ir.from_table(table)
    outputs, inputs, wrt = nodes[:n_out], nodes[n_out:n_out + n_in], nodes[n_out + n_in:]
    return CompiledFunction(outputs, inputs, wrt, backend, many, max_statements, title, progress, single, simd)


def compile(expr, inputs: Sequence, wrt: Sequence | Node | None = None, *, backend: str = "auto",
            max_statements: int | None = codegen.DEFAULT_MAX_STATEMENTS, progress: bool = True,
            simd: bool = True, dtype: str | None = None) -> CompiledFunction:
    """Compile ``expr`` (an expression, a SymPy expression, or a list of them) as a function of ``inputs``.

    Derivatives are taken with respect to ``wrt`` (default: all inputs), a list
    of inputs, or one input alone (``wrt=p``): then ``grad``, ``hessian`` and
    ``hvp`` give that input's derivative itself instead of a 1-tuple (see
    ``CompiledFunction.grad``). An input the expression does not use has
    derivative 0. ``backend`` is one of
    ``BACKENDS`` (see the module docstring); ``progress=False`` silences the
    progress bar that a compile longer than a second shows on stderr.
    ``simd=False`` keeps batches on the scalar loop where vector math would run
    them (see ``cc.simd_info()``). ``dtype="float32"`` compiles every input (so the whole
    graph) in float32 (``docs/guide/precision.md``).

    >>> import compiler as cc
    >>> x, y = cc.symbols("x y")
    >>> fn = cc.compile(cc.sin(x) * y, [x, y], backend="python")
    >>> fn.value_and_grad(0.0, 2.0)
    (0.0, (2.0, 0.0))
    """
    outputs, many = _as_outputs(expr)
    ins = _as_symbols(inputs, "inputs")
    single = False
    if wrt is None:
        wrt_nodes = ins  # the default: every input
    elif _is_one_symbol(wrt):
        wrt_nodes, single = _as_symbols([wrt], "wrt"), True
    else:
        wrt_nodes = _as_symbols(wrt, "wrt")
        for i, w in enumerate(wrt_nodes):
            if w.id not in {n.id for n in ins}:
                raise ValueError(f"wrt[{i}] {w.name!r} is not one of the inputs {[n.name for n in ins]}")
    title = ", ".join(ir.short_str(o) for o in outputs)
    if dtype is not None:  # (the title keeps the user's symbols: they print alike)
        from .precision import as_dtype
        outputs, ins, wrt_nodes = as_dtype(outputs, ins, wrt_nodes, dtype)
    from . import shaped  # a Matrix of scalars: its entries compile on every scalar target
    entries = shaped.container_outputs(outputs, ins) if dtype is None else None
    if entries is not None:
        return shaped.ShapedFunction(entries, many, ins, wrt_nodes, backend, max_statements, title[:200], progress,
                                     single, simd)
    return CompiledFunction(outputs, ins, wrt_nodes, backend, many, max_statements, title[:200], progress, single,
                            simd)
