"""IPOPT's callbacks as one LLVM module of our own: the C functions of ``IpStdCInterface.h``
with the problem's kernels printed inside them (``runtime.ipopt.native_llvm`` compiles it).

Each callback (``eval_f``, ``eval_grad_f``, ``eval_g``, ``eval_jac_g``, ``eval_h``,
``intermediate``) has IPOPT's C signature (``Index`` and ``Bool`` are ``i32``, ``Number``
``double``) and reads what changes between solves from the context array that IPOPT passes
as ``user_data`` (``runtime.ipopt.layout.Slot``: the parameters, the statistics, the kept
non-finite points). Its kernel's schedule is printed in its body with tensors unrolled into
scalars (``codegen.llvm_loops``' printer): ``x`` is read where IPOPT passes it, the
parameters from their buffer, the colourings' seeds are constants, and each stored
Jacobian or Hessian entry is written straight to IPOPT's ``values`` (the gather of the
compressed sweep is printed, not looped). The sparsity structures are constant arrays.
Each callback times itself and counts non-finite results as the Numba cfuncs do.

>>> "define i32 @intermediate(" in glue_text()
True
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..ir import Node, dtypes
from ..ir.ops import OPS
from ..ir.special import SPECIAL
from . import llvm, llvm_loops

#: the most scalar values a callback's kernel may unroll to (its function's size for LLVM):
#: beyond it the Numba cfuncs serve (their kernels keep loops over arrays)
MAX_UNROLLED = 60_000
_CLOCK_MONOTONIC = getattr(time, "CLOCK_MONOTONIC", 1)


@dataclass(frozen=True)
class Kernel:
    """One callback's kernel: its schedule (``inputs``, ``outputs``, ``statements``) and where
    each input is read: ``"x"``, ``"params"`` (at an offset), ``"lambda"``, ``"obj_factor"``,
    or a constant array (a seed)."""
    inputs: Sequence[Node]
    outputs: Sequence[Node]
    statements: Sequence[Node]
    sources: dict  # node id -> ("x" | "params" | "lambda", offset) | ("obj_factor", 0) | ("const", array)


def unrolled(kernels: Sequence[Kernel]) -> int:
    """How many scalar values the kernels unroll to (what LLVM's time grows with)."""
    return sum(int(np.prod(n.shape)) if n.shape else 1 for k in kernels for n in k.statements)


def refusal(kernels: Sequence[Kernel]) -> str | None:
    """Why these kernels cannot be printed as unrolled LLVM (None: they can)."""
    for k in kernels:
        for n in k.statements:
            if n.op in ("scan", "custom", "extern"):
                return f"op {n.op!r} (loops and user functions run on the Numba route)"
            if dtypes.is_complex(n):
                return f"a complex value (op {n.op!r}): the llvm route computes in float64"
            if n.op in SPECIAL:  # (its C function's address is bound per process: the Numba route does it)
                return f"scipy.special's {n.op!r}"
            if n.op not in llvm_loops._STRUCTURAL and n.op != "item" and OPS[n.op].llvm is None:
                return f"op {n.op!r} has no llvm form"
            # (tensors of bools are fine here: unrolled, each is i1 values; no loop stores them)
        if any(n.op == "var" and dtypes.of_symbol(n) != "float64" for n in k.inputs):
            return "a float32 input (the llvm callbacks compute in float64)"
    total = unrolled(kernels)
    if total > MAX_UNROLLED:
        return f"its kernels unroll to {total:,} scalar values (the llvm route takes up to {MAX_UNROLLED:,})"
    return None


@functools.cache
def _printers_hash() -> bytes:
    """What the printed text depends on besides the graphs: the code of the IR (its op table and
    the lowerings it holds) and of the LLVM printers, hashed once per process."""
    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    ir_dir = os.path.join(here, "..", "ir")
    paths = sorted(os.path.join(ir_dir, f) for f in os.listdir(ir_dir) if f.endswith(".py"))
    paths += sorted(os.path.join(here, f) for f in os.listdir(here) if f.startswith("llvm") and f.endswith(".py"))
    for path in paths:
        with open(path, "rb") as f:
            h.update(os.path.basename(path).encode() + b"\0" + f.read())
    return h.digest()


def _exact(value) -> str:
    """A value's full text for a key (NumPy's repr abridges large arrays)."""
    if isinstance(value, np.ndarray):
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return f"array {value.dtype.str} {value.shape} {digest}"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_exact(v) for v in value) + ")"
    return repr(value)


def fingerprint(kernels: dict, *parts) -> str:
    """A key of the module ``module_text`` would print for ``kernels`` (name -> Kernel or None)
    and ``parts`` (sizes, structures), made without printing it: every node of each schedule
    (op, operands, value, shape, params), where each input is read, and the printers' code.
    A process that finds this key in the disk cache loads the machine code with no text made."""
    h = hashlib.sha256(_printers_hash())
    for name in sorted(kernels):
        k = kernels[name]
        h.update(f"|kernel {name}|".encode())
        if k is None:
            continue
        index: dict = {}

        def row(n: Node) -> None:
            if n.id not in index:
                index[n.id] = len(index)
                h.update(f"{n.op} {[index[a.id] for a in n.args]} {_exact(n.value)} {n.shape} {n.dtype} "
                         f"{_exact(n.params)} {_exact(k.sources.get(n.id))};".encode())
        for n in k.inputs:
            row(n)
        for n in list(k.statements) + list(k.outputs):
            for a in n.args:  # (constants and inputs, where a statement first reads them)
                row(a)
            row(n)
        h.update(f"out {[index[o.id] for o in k.outputs]}".encode())
    for part in parts:
        h.update(_exact(part).encode() + b";")
    return h.hexdigest()


class _Body(llvm_loops._Printer):
    """``llvm_loops``' printer, reading inputs from the callbacks' pointers instead of ``%in``."""

    def __init__(self, kernel: Kernel):
        super().__init__([])
        self.sources = kernel.sources

    def value(self, env: dict, a: Node):
        if a.op == "var" and a.id not in env:
            env[a.id] = self._input(a)
        return super().value(env, a)

    def _input(self, a: Node):
        e = self.e
        where, at = self.sources[a.id]
        if where == "const":
            values = np.asarray(at, dtype=float).reshape(a.shape)
            return np.vectorize(lambda v: llvm_loops.Val(e, e.const(float(v))), otypes=[object])(values) \
                if a.shape else e.const(float(values))
        if where == "obj_factor":
            return "%obj_factor"
        base = "%params" if where == "params" else f"%{where}"
        if not a.shape:
            return e.load(base, at)
        flat = np.empty(int(np.prod(a.shape)), dtype=object)
        flat[:] = [llvm_loops.Val(e, e.load(base, at + k)) for k in range(flat.size)]
        return flat.reshape(a.shape)

    def run(self, kernel: Kernel) -> list[str]:
        """Print the schedule; the outputs' numbers, flat, one after the other."""
        env: dict = {}
        for n in kernel.statements:
            self.statement(env, n, {})
        flat: list[str] = []
        for node in kernel.outputs:
            v = self.value(env, node)
            if isinstance(v, str):
                flat.append(v)
            else:
                flat += [llvm_loops._atom(self.e, x) for x in np.ravel(np.asarray(v, dtype=object))]
        return flat


def _structure(name: str, values: np.ndarray) -> str:
    ints = np.asarray(values, dtype=np.int64).ravel()
    body = ", ".join(f"i32 {int(v)}" for v in ints) if ints.size else "i32 0"
    return f"@{name} = private unnamed_addr constant [{max(1, ints.size)} x i32] [{body}]"


def _callback(name: str, params: str, which: int, kernel: Kernel, n: int, store, count: int, slot: int,
              structure: tuple[str, str, int] | None = None) -> tuple[set, str]:
    """One callback: time it, read the parameters' buffer (the address in context ``slot``),
    print the kernel, ``store`` its numbers (``store(e, flat)``: where they go; returns the
    pointer to check for finiteness)."""
    body = _Body(kernel)
    e = body.e
    flat = body.run(kernel)
    out = store(e, flat)
    head = [f"define i32 @{name}({params}) nounwind {{", "entry:"]
    if structure is not None:  # IPOPT asks for the structure with values NULL
        rows, cols, nnz = structure
        head += ["  %ask = icmp eq ptr %values, null", "  br i1 %ask, label %structure, label %compute",
                 "structure:",
                 f"  call void @llvm.memcpy.p0.p0.i64(ptr %i_row, ptr @{rows}, i64 {4 * nnz}, i1 false)",
                 f"  call void @llvm.memcpy.p0.p0.i64(ptr %j_col, ptr @{cols}, i64 {4 * nnz}, i1 false)",
                 "  ret i32 1", "compute:"]
    head += ["  %start = call double @cc_now()",
             f"  %params.slot = getelementptr inbounds i64, ptr %data, i64 {slot}",
             "  %params.int = load i64, ptr %params.slot", "  %params = inttoptr i64 %params.int to ptr"]
    tail = [f"  %finite = call i1 @cc_finite(ptr {out}, i64 {count})",
            f"  call void @cc_record(ptr %data, i64 {which}, double %start, i1 %finite, ptr %x, i64 {n})",
            "  ret i32 1", "}"]
    return e.declared, "\n".join(head + body.allocas + e.lines + tail)


_F = "i32 %n, ptr noalias %x, i32 %new_x, ptr noalias %{out}, ptr noalias %data"


def _stores(pointer: str):
    def store(e, flat):
        for k, v in enumerate(flat):
            e.store(v, pointer, k)
        return pointer
    return store


def _gather(index: np.ndarray):
    """values[k] = the compressed results' entry ``index[k]`` (printed: no index array, no loop)."""
    def store(e, flat):
        for k, at in enumerate(np.asarray(index, dtype=np.int64)):
            e.store(flat[int(at)], "%values", k)
        return "%values"
    return store


def module_text(n: int, m: int, objective: Kernel, gradient: Kernel, constraints: Kernel | None,
                jacobian: Kernel | None, jac: tuple, hessian: Kernel | None, hess: tuple, slots: dict) -> str:
    """The LLVM module of the six callbacks. ``jac``/``hess``: (rows, cols, index) of the stored
    entries (``index``: each one's position in the compressed kernel's flat results); a missing
    kernel (no colours, or no constraints) writes zeros; ``slots``: ``runtime.ipopt.layout``'s
    offsets (``PARAMS``, ``STATS``, ``NONFINITE_X``, ``ITERATIONS``, ``STAT_*``, ``KEEP``)."""
    declared: set = set()
    functions = [glue_text(slots)]
    empty = Kernel([], [], [], {})
    at = slots["PARAMS"]

    def add(declarations_and_text):
        declared.update(declarations_and_text[0])
        functions.append(declarations_and_text[1])

    add(_callback("eval_f", _F.format(out="obj_value"), 0, objective, n, _stores("%obj_value"), 1, at))
    add(_callback("eval_grad_f", _F.format(out="grad_f"), 1, _only_gradient(gradient), n, _stores("%grad_f"), n,
                  at))
    add(_callback("eval_g", "i32 %n, ptr noalias %x, i32 %new_x, i32 %m, ptr noalias %g, ptr noalias %data", 2,
                  constraints or empty, n, _zeros_or(constraints, _stores("%g"), "%g", m), m, at))
    rows, cols, index = jac
    functions += [_structure("jac_rows", rows), _structure("jac_cols", cols)]
    add(_callback("eval_jac_g", "i32 %n, ptr noalias %x, i32 %new_x, i32 %m, i32 %nele_jac, ptr noalias %i_row, "
                  "ptr noalias %j_col, ptr noalias %values, ptr noalias %data", 3, jacobian or empty, n,
                  _zeros_or(jacobian, _gather(index), "%values", len(rows)), len(rows), at,
                  ("jac_rows", "jac_cols", len(rows))))
    h_rows, h_cols, h_index = hess
    functions += [_structure("hess_rows", h_rows), _structure("hess_cols", h_cols)]
    add(_callback("eval_h", "i32 %n, ptr noalias %x, i32 %new_x, double %obj_factor, i32 %m, ptr noalias %lambda, "
                  "i32 %new_lambda, i32 %nele_hess, ptr noalias %i_row, ptr noalias %j_col, ptr noalias %values, "
                  "ptr noalias %data", 4, hessian or empty, n,
                  _zeros_or(hessian, _gather(h_index), "%values", len(h_rows)), len(h_rows), at,
                  ("hess_rows", "hess_cols", len(h_rows))))
    return llvm._module_text(declared, functions)


def _only_gradient(kernel: Kernel) -> Kernel:
    """The value-and-gradient schedule, writing only the gradient (LLVM drops the rest it can)."""
    return Kernel(kernel.inputs, kernel.outputs[1:], kernel.statements, kernel.sources)


def _zeros_or(kernel: Kernel | None, store, pointer: str, count: int):
    """``store`` when there is a kernel, else zeros at every one of ``count`` entries (a constraint
    function of no nonzero Jacobian entry's colour, a Lagrangian linear in x)."""
    if kernel is not None:
        return store

    def zeros(e, flat):
        for k in range(count):
            e.store(e.const(0.0), pointer, k)
        return pointer
    return zeros


def glue_text(slots: dict | None = None) -> str:
    """The helpers every callback calls: the clock, the finiteness check, the statistics, and
    ``intermediate`` (the iteration count into the context)."""
    s = slots or {"PARAMS": 0, "STATS": 1, "NONFINITE_X": 2, "ITERATIONS": 3, "STAT_SECONDS": 0, "STAT_FIRST": 5,
                  "STAT_CALLS": 10, "STAT_NONFINITE": 15, "STAT_NONFINITE_WHICH": 16, "KEEP": 10}
    return f"""\
declare i32 @clock_gettime(i32, ptr)
declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)

define internal double @cc_now() nounwind {{
entry:
  %ts = alloca [2 x i64]
  %r = call i32 @clock_gettime(i32 {_CLOCK_MONOTONIC}, ptr %ts)
  %sec = load i64, ptr %ts
  %nsp = getelementptr inbounds i64, ptr %ts, i64 1
  %nsec = load i64, ptr %nsp
  %s = sitofp i64 %sec to double
  %ns = sitofp i64 %nsec to double
  %frac = fmul double %ns, 1.0e-9
  %t = fadd double %s, %frac
  ret double %t
}}

define internal i1 @cc_finite(ptr %v, i64 %count) nounwind {{
entry:
  br label %head
head:
  %k = phi i64 [0, %entry], [%k1, %body]
  %more = icmp slt i64 %k, %count
  br i1 %more, label %body, label %yes
body:
  %p = getelementptr inbounds double, ptr %v, i64 %k
  %x = load double, ptr %p
  %d = fsub double %x, %x
  %ok = fcmp ord double %d, 0.0
  %k1 = add i64 %k, 1
  br i1 %ok, label %head, label %no
yes:
  ret i1 1
no:
  ret i1 0
}}

define internal void @cc_record(ptr %data, i64 %which, double %start, i1 %finite, ptr %x, i64 %n) nounwind {{
entry:
  %now = call double @cc_now()
  %seconds = fsub double %now, %start
  %sp = getelementptr inbounds i64, ptr %data, i64 {s["STATS"]}
  %si = load i64, ptr %sp
  %stats = inttoptr i64 %si to ptr
  %ti = add i64 %which, {s["STAT_SECONDS"]}
  %tp = getelementptr inbounds double, ptr %stats, i64 %ti
  %t0 = load double, ptr %tp
  %t1 = fadd double %t0, %seconds
  store double %t1, ptr %tp
  %ci = add i64 %which, {s["STAT_CALLS"]}
  %cp = getelementptr inbounds double, ptr %stats, i64 %ci
  %c0 = load double, ptr %cp
  %first = fcmp oeq double %c0, 0.0
  br i1 %first, label %setfirst, label %count
setfirst:
  %fi = add i64 %which, {s["STAT_FIRST"]}
  %fp = getelementptr inbounds double, ptr %stats, i64 %fi
  store double %seconds, ptr %fp
  br label %count
count:
  %c1 = fadd double %c0, 1.0
  store double %c1, ptr %cp
  br i1 %finite, label %done, label %bad
bad:
  %kp = getelementptr inbounds double, ptr %stats, i64 {s["STAT_NONFINITE"]}
  %k0 = load double, ptr %kp
  %k = fptosi double %k0 to i64
  %room = icmp slt i64 %k, {s["KEEP"]}
  br i1 %room, label %keep, label %tally
keep:
  %xp = getelementptr inbounds i64, ptr %data, i64 {s["NONFINITE_X"]}
  %xi = load i64, ptr %xp
  %kept = inttoptr i64 %xi to ptr
  %off = mul i64 %k, %n
  %dst = getelementptr inbounds double, ptr %kept, i64 %off
  %bytes = mul i64 %n, 8
  call void @llvm.memcpy.p0.p0.i64(ptr %dst, ptr %x, i64 %bytes, i1 false)
  %wi = add i64 %k, {s["STAT_NONFINITE_WHICH"]}
  %wp = getelementptr inbounds double, ptr %stats, i64 %wi
  %wf = sitofp i64 %which to double
  store double %wf, ptr %wp
  br label %tally
tally:
  %k2 = fadd double %k0, 1.0
  store double %k2, ptr %kp
  br label %done
done:
  ret void
}}

define i32 @intermediate(i32 %alg_mod, i32 %iter_count, double %obj_value, double %inf_pr, double %inf_du, \
double %mu, double %d_norm, double %regularization_size, double %alpha_du, double %alpha_pr, i32 %ls_trials, \
ptr %data) nounwind {{
entry:
  %it = sext i32 %iter_count to i64
  %ip = getelementptr inbounds i64, ptr %data, i64 {s["ITERATIONS"]}
  store i64 %it, ptr %ip
  ret i32 1
}}"""
