"""Tensor kernels on the llvm target: a schedule of arrays printed as one LLVM function.

``codegen.llvm`` prints scalar schedules; this module prints those whose values are
tensors of static shape (``runtime.llvm_tensor`` compiles and calls them):

* every tensor value is a *view*: a buffer, an offset and one stride per axis (in
  numbers). Reshapes (of contiguous buffers), transposes, broadcasts and basic
  indexing (``x[1:, 0]``) make a new view of the same buffer: index arithmetic, no copy;
* an elementwise op is a loop nest over its shape whose body is the op's scalar lowering
  (``ops.OPS[op].llvm``, the same ``Emitter`` as scalar kernels), reading each operand
  through its view (a broadcast axis has stride 0); one read once by another elementwise op
  of its shape (or a reduction) is computed in that op's loop instead (``llvm_fusion``);
* ``sum``/``amax``/``amin`` over axes accumulate into their result in one loop nest
  over the operand; a reduction to a number accumulates in a stack slot;
* ``matmul`` of small matrices whose columns are whole vectors is a register-blocked loop
  nest (``llvm_matmul``); other products of matrices and vectors call BLAS (``dgemm``/``dgemv``, ``sgemm``/``sgemv``
  in float32, through ``scipy.linalg.cython_blas``): a transposed operand is BLAS's
  ``'T'`` flag on the same buffer, never a copy;
* ``concatenate``, ``cumsum`` and ``triu``/``tril`` are loop nests of their own (``_OTHERS``);
* numbers (shape ``()``) are SSA values, as in scalar kernels.

The kernel's C signature, and its loop over the points of a batch (``_batch``)::

    void kernel(ptr *in, ptr *out, ptr scratch)
    void batch(ptr *in, i64 *steps, ptr *out, i64 *out_steps, i64 n, ptr scratch)

``in[j]`` points at input ``j`` (contiguous, in the graph's precision), ``out[k]`` at output
``k`` (written contiguously), ``scratch`` at the intermediate buffers (``n_scratch`` numbers,
reused once their last reader has run). Refused with a reason (``refusal``): ops with no
lowering here (linear algebra, loops, user functions, ``take``/``scatter_add``), batched
matmul, float32 mixed with float64.

>>> import compiler as cc
>>> W = cc.Tensor("W", (2, 3))
>>> fn = cc.compile(cc.sum(cc.tanh(W.T @ W)), [W], backend="llvm")
>>> round(fn(__import__("numpy").eye(2, 3)), 6)
1.523188
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..ir import Node, dtypes
from ..ir.ops import OPS
from . import llvm_fusion, llvm_matmul
from .llvm_fusion import aligned as _aligned
from .llvm import _module_text
from .llvm_tensor_printer import ALIGN, BLAS_PREFIX, Printer, View, contiguous

VIEWS = frozenset({"reshape", "transpose", "broadcast_to", "getitem"})
REDUCTIONS = frozenset({"sum", "amax", "amin"})
# OpenBLAS computes a product of at most this many multiply-adds on the calling thread
# (SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD); above, it hands parts to its threads. A product of
# up to SMALL_PRODUCT multiply-adds is called in blocks of rows under that threshold: on a loaded
# 2-core machine each hand-off to a BLAS thread waited milliseconds (the MLP step: 30-60 ms per call
# against 0.3 ms with every product on one thread), while such products take tens of microseconds.
ONE_THREAD = 65536 * 4
SMALL_PRODUCT = 1 << 22


def refusal(inputs: Sequence[Node], outputs: Sequence[Node], statements: Sequence[Node]) -> str | None:
    """Why the llvm target cannot compile this tensor schedule (None: it can)."""
    kinds = {dtypes.of_symbol(n) for n in inputs if n.op == "var"}
    if len(kinds) > 1:
        return "it mixes float32 and float64 inputs (llvm computes a tensor graph in one precision)"
    for n in statements:
        if n.op in ("scan", "custom", "extern", "item"):
            return f"op {n.op!r} (loops and user functions on tensors run on Numba)"
        if n.op == "matmul" and (len(n.args[0].shape) > 2 or len(n.args[1].shape) > 2):
            return "a batched matmul (operands of more than 2 axes)"
        if n.op not in VIEWS and n.op not in REDUCTIONS and n.op not in _OTHERS and OPS[n.op].llvm is None:
            return f"op {n.op!r} has no llvm tensor lowering yet"
        if n.op in ("getitem", "index_put") and any(item[0] not in ("int", "slice", "new") for item in _params(n)[0]):
            return "an index that is not ints, slices and None"
    return None


def _params(node: Node) -> tuple:
    return tuple(node.params or ())


@dataclass
class TensorModule:
    """The LLVM IR of one tensor kernel and what its caller needs to know."""
    text: str
    in_shapes: list
    out_shapes: list
    n_scratch: int
    precision: str
    blas: set = field(default_factory=set)  # the BLAS functions it calls (``dgemm``, ...)


def _blas_layout(view: View) -> tuple[str, int] | None:
    """BLAS's view of a row-major matrix view: ``("N", ld)`` (rows contiguous), ``("T", ld)``
    (columns contiguous: a transpose), or None (needs a contiguous copy)."""
    rows, cols = view.shape
    s0, s1 = view.strides
    if s1 == 1 and (s0 >= cols or rows == 1) and s0 != 0:
        return "N", max(1, s0, cols)
    if s0 == 1 and (s1 >= rows or cols == 1) and s1 != 0:
        return "T", max(1, s1, rows)
    return None


def emit(inputs: Sequence[Node], outputs: Sequence[Node], statements: Sequence[Node], width: int = 1,
         mangle=None) -> TensorModule:
    """LLVM IR of ``kernel`` computing ``outputs`` from ``inputs`` by the schedule ``statements``.

    With ``width`` > 1, elementwise loops run that many numbers per step along their last axis,
    calling the vector math functions ``mangle(name, arity)`` names (as ``codegen.llvm``'s batches do).
    """
    precision = "float32" if inputs and all(dtypes.of_symbol(n) == "float32" for n in inputs) else "float64"
    p = Printer(precision, width, mangle)
    e = p.e
    views: dict[int, Any] = {}  # a View, or a Fused op (computed in its reader's loop: ``llvm_fusion``)
    owner: dict[int, int] = {}  # node id -> the node whose scratch buffer it views
    for j, n in enumerate(inputs):
        slot, base = p.fresh(), p.fresh()
        p.emit(f"  {slot} = getelementptr inbounds ptr, ptr %in, i64 {j}")
        p.emit(f"  {base} = load ptr, ptr {slot}")
        if n.shape:
            views[n.id] = View(base, 0, contiguous(n.shape), n.shape)
        else:
            r = p.fresh()
            p.emit(f"  {r} = load {p.F}, ptr {base}")
            views[n.id] = View(value=r)
    out_base = []
    for k in range(len(outputs)):
        slot, base = p.fresh(), p.fresh()
        p.emit(f"  {slot} = getelementptr inbounds ptr, ptr %out, i64 {k}")
        p.emit(f"  {base} = load ptr, ptr {slot}")
        out_base.append(base)
    # an output computed here is written straight into its (first) output buffer
    direct: dict[int, int] = {}
    for k, o in enumerate(outputs):
        if o.shape and o.op not in VIEWS and o.op not in ("var", "const") and o.id not in direct:
            direct[o.id] = k
    # the last statement that reads each scratch buffer (through any view of it)
    # elementwise ops computed in their reader's loop: their operands are read there
    fused = llvm_fusion.fused(statements, outputs, lambda n: _is_elementwise(n, direct))
    position = {n.id: k for k, n in enumerate(statements)}
    last: dict[int, int] = {}
    for k, n in enumerate(statements):
        if n.op in VIEWS and n.args[0].id in position:
            owner[n.id] = owner.get(n.args[0].id, n.args[0].id)
        for a in n.args:
            if a.id in position:
                last[owner.get(a.id, a.id)] = max(fused.get(n.id, k), last.get(owner.get(a.id, a.id), -1))
    kept = {owner.get(o.id, o.id) for o in outputs}  # read again at the end, by the output copies
    scratch = p.scratch
    held: dict[int, tuple] = {}  # owner id -> (offset, size)
    by_last: dict[int, list] = {}
    for node_id, k in last.items():
        if node_id not in kept:
            by_last.setdefault(k, []).append(node_id)

    def view_of(a: Node) -> View:
        if a.id not in views and a.op == "const":
            if isinstance(a.value, np.ndarray) and a.value.ndim:
                views[a.id] = p.constant(a.value)
            else:
                v = a.value
                number = e.const(1.0 if v is True else 0.0 if v is False else float(v))  # type: ignore[arg-type]
                views[a.id] = View(value=e.to_flag(number) if a.dtype == "bool" else number)
        return views[a.id]

    def buffer(node: Node) -> View:
        if node.id in direct:
            return View(out_base[direct[node.id]], 0, contiguous(node.shape), node.shape)
        size = math.prod(node.shape)
        offset = scratch.take(size)
        held[node.id] = (offset, size)
        return View("%s", offset, contiguous(node.shape), node.shape)

    for k, node in enumerate(statements):
        args = [view_of(a) for a in node.args]
        if node.id in fused:  # computed in its reader's loop
            views[node.id] = llvm_fusion.Fused(node, tuple(args))
        elif node.op in VIEWS:
            views[node.id] = _view(p, node, args[0])
        elif node.op in REDUCTIONS:
            views[node.id] = _reduce(p, node, args[0], buffer)
        elif node.op in _OTHERS:
            views[node.id] = _OTHERS[node.op](p, node, args, buffer)
        else:
            views[node.id] = llvm_fusion.elementwise(p, node, args, buffer)
        for dead in by_last.get(k, ()):
            if dead in held:
                scratch.give(*held.pop(dead))
    # outputs not written in place: copied (numbers stored)
    for k, o in enumerate(outputs):
        if direct.get(o.id) == k:
            continue
        v = view_of(o)
        target = View(out_base[k], 0, contiguous(o.shape), o.shape)
        if not o.shape:
            value = p.load(v, [])
            p.store(value, target, [], flag=o.dtype == "bool")
            continue
        p.loops(o.shape, lambda ix, v=v, target=target: p.store(p.load(v, ix), target, ix))
    body = "\n".join(p.allocas + e.lines)
    define = ("define void @kernel(ptr noalias %in, ptr noalias %out, ptr noalias %s) nounwind {\n"
              f"entry:\n{body}\n  ret void\n}}")
    declared = set(e.declared)
    blas = [f"declare void @{BLAS_PREFIX}{name}({', '.join(['ptr'] * (13 if 'gemm' in name else 11))}) nounwind"
            for name in sorted(p.blas)]
    text = "\n\n".join(p.globals + blas) + "\n\n" + _module_text(declared, [define, _batch(len(inputs),
                                                                                           len(outputs))])
    return TensorModule(text, [n.shape for n in inputs], [o.shape for o in outputs], max(ALIGN, scratch.top),
                        precision, set(p.blas))


def _batch(n_in: int, n_out: int) -> str:
    """``batch``: ``kernel`` on points ``0 .. n - 1``, where point ``i`` of argument ``j`` starts
    ``i * steps[j]`` bytes after ``in[j]`` (0 for an argument shared by every point), and so on
    for the outputs with ``out_steps``."""
    lines = ["define void @batch(ptr noalias %in, ptr noalias %steps, ptr noalias %out, "
             "ptr noalias %out_steps, i64 %n, ptr noalias %s) nounwind {", "entry:",
             f"  %pin = alloca ptr, i64 {max(1, n_in)}", f"  %pout = alloca ptr, i64 {max(1, n_out)}",
             "  br label %head", "head:", "  %i = phi i64 [ 0, %entry ], [ %next, %body ]",
             "  %more = icmp slt i64 %i, %n", "  br i1 %more, label %body, label %done", "body:"]
    for side, count, bases, steps in (("in", n_in, "%in", "%steps"), ("out", n_out, "%out", "%out_steps")):
        for j in range(count):
            lines += [f"  %{side}b{j}p = getelementptr inbounds ptr, ptr {bases}, i64 {j}",
                      f"  %{side}b{j} = load ptr, ptr %{side}b{j}p",
                      f"  %{side}s{j}p = getelementptr inbounds i64, ptr {steps}, i64 {j}",
                      f"  %{side}s{j} = load i64, ptr %{side}s{j}p",
                      f"  %{side}o{j} = mul i64 %i, %{side}s{j}",
                      f"  %{side}a{j} = getelementptr inbounds i8, ptr %{side}b{j}, i64 %{side}o{j}",
                      f"  %{side}d{j} = getelementptr inbounds ptr, ptr %p{side}, i64 {j}",
                      f"  store ptr %{side}a{j}, ptr %{side}d{j}"]
    lines += ["  call void @kernel(ptr %pin, ptr %pout, ptr %s)", "  %next = add i64 %i, 1", "  br label %head",
              "done:", "  ret void", "}"]
    return "\n".join(lines)


def _is_elementwise(node: Node, direct: dict) -> bool:
    """An elementwise op of tensors, which this kernel lowers by ``llvm_fusion.elementwise``."""
    return (bool(node.shape) and node.op not in VIEWS and node.op not in REDUCTIONS and node.op not in _OTHERS
            and node.op not in ("var", "const") and node.id not in direct)


def _view(p: Printer, node: Node, x: View) -> View:
    """A reshape, transpose, broadcast or basic index: the same numbers seen through other strides."""
    if x.value:  # a number seen as a tensor: a one-number buffer, broadcast
        if not node.shape:
            return x
        slot = p.slot(p.F)
        p.emit(f"  store {p.F} {x.value}, ptr {slot}")
        return View(slot, 0, (0,) * len(node.shape), node.shape)
    if node.op == "reshape":
        # every buffer here is contiguous, except views: a view of a view is copied first
        if x.strides != contiguous(x.shape):
            copy = p.temp(x.shape)
            p.loops(x.shape, lambda ix: p.store(p.load(x, ix), copy, ix))
            x = copy
        view = View(x.base, x.offset, contiguous(node.shape), node.shape)
    elif node.op == "transpose":
        perm = _params(node)[0]
        view = View(x.base, x.offset, tuple(x.strides[d] for d in perm), node.shape)
    elif node.op == "broadcast_to":
        view = View(x.base, x.offset, _aligned(x, node.shape), node.shape)
    else:
        view = _indexed(x, _params(node)[0], node.shape)
    if not node.shape:  # one number of the buffer
        return View(value=p.load(view, [], flag=node.dtype == "bool"))
    return view


def _indexed(x: View, index: tuple, shape: tuple) -> View:
    """The view ``x[index]`` of a basic index: ``("int", i)``, ``("slice", start, stop, step)``,
    ``("new",)`` per position (``shapes.normalize_index``)."""
    offset, strides, axis = x.offset, [], 0
    for item in index:
        if item[0] == "new":
            strides.append(0)
            continue
        offset += item[1] * x.strides[axis]
        if item[0] == "slice":
            strides.append(item[3] * x.strides[axis])
        axis += 1
    return View(x.base, offset, tuple(strides), shape)


def _index_put(p: Printer, node: Node, g: View, buffer) -> View:
    """Zeros of the node's shape with ``g`` written at ``index`` (getitem's adjoint)."""
    index, _ = _params(node)
    out = buffer(node)
    p.loops(node.shape, lambda ix: p.store(p.e.const(0.0), out, ix))
    target = _indexed(out, index, node.args[0].shape)
    if not target.shape:
        p.store(p.load(g, []), target, [])
    else:
        p.loops(target.shape, lambda ix: p.store(p.load(g, ix, _aligned(g, target.shape)), target, ix))
    return out


def _reduce(p: Printer, node: Node, x: View, buffer) -> View:
    """``sum``/``amax``/``amin`` over ``axes``: one pass over ``x`` accumulating into the result."""
    axes, _ = _params(node)
    e = p.e
    start = {"sum": 0.0, "amax": -math.inf, "amin": math.inf}[node.op]
    if x.value:  # a number: its own sum, max and min
        return x
    kept = tuple(d for d in range(len(x.shape)) if d not in axes)
    kept_strides = contiguous(tuple(x.shape[d] for d in kept))
    to_out = [0] * len(x.shape)  # the result's strides along x's axes (0 along reduced ones)
    for d, s in zip(kept, kept_strides):
        to_out[d] = s
    if node.shape:
        out = buffer(node)
        p.loops(node.shape, lambda ix: p.store(e.const(start), out, ix))
        acc_view = View(out.base, out.offset, tuple(to_out), x.shape)
    else:
        slot = p.slot(p.F)
        p.emit(f"  store {p.F} {e.const(start)}, ptr {slot}")
        acc_view = View(slot, 0, (0,) * len(x.shape), x.shape)

    def combine(em, acc, value):
        if node.op == "sum":
            return em.binary("fadd", acc, value)
        # NumPy's max and min propagate nan: take x when it is nan or beyond the accumulator
        beyond = em.fcmp("ogt" if node.op == "amax" else "olt", value, acc)
        return em.select(em.logic("or", beyond, em.fcmp("uno", value, value)), value, acc)

    strides = llvm_fusion.strides_of(x)  # (x: a view, or an elementwise op computed here)

    def body(ix):
        p.store(combine(e, p.load(acc_view, ix), llvm_fusion.load(p, x, ix, strides, False)), acc_view, ix)
    # a kept last axis, contiguous in x: its numbers accumulate in vectors (each into its own result)
    if p.v is not None and to_out[-1] == 1 and strides[-1] == 1 and llvm_fusion.in_vectors(x, strides) \
            and x.shape[-1] >= p.v.width:
        def vector_body(ix):
            acc = p.vector_load(acc_view, ix, acc_view.strides, False)
            p.vector_store(combine(p.v, acc, llvm_fusion.vector_load(p, x, ix, strides, False)), acc_view, ix)
        p.vector_loops(x.shape, p.v.width, vector_body, body)
    else:
        p.loops(x.shape, body)
    if node.shape:
        return out
    return View(value=p.load(View(slot), []))


def _matmul(p: Printer, node: Node, args: list, buffer) -> View:
    """BLAS for matrices and matrix-vector products; a loop for a dot product of vectors."""
    a, b = args
    e = p.e
    if len(a.shape) == 1 and len(b.shape) == 1:
        slot = p.slot(p.F)
        p.emit(f"  store {p.F} {e.const(0.0)}, ptr {slot}")
        acc = View(slot, 0, (0,), a.shape)

        def body(ix):
            p.store(e.binary("fadd", p.load(acc, ix), e.binary("fmul", p.load(a, ix), p.load(b, ix))), acc, ix)
        p.loops(a.shape, body)
        return View(value=p.load(View(slot), []))
    if llvm_matmul.fits(p, a, b):  # small products: loop nests in vectors (``llvm_matmul``)
        out = buffer(node)
        llvm_matmul.product(p, a, b, out)
        return out
    a, b = (_blas_ready(p, v) for v in (a, b))
    out = buffer(node)
    one, zero = ("float" if e.single else "double", e.const(1.0)), ("float" if e.single else "double", e.const(0.0))
    i32 = lambda v: ("i32", str(v))  # noqa: E731
    char = lambda c: ("i8", str(ord(c)))  # noqa: E731
    if len(a.shape) == 2 and len(b.shape) == 2:
        # row-major C = A @ B is column-major C^T = B^T @ A^T: BLAS reads each row-major buffer as its transpose
        (m, k), n = a.shape, b.shape[1]
        (ta, lda), (tb, ldb) = _blas_layout(a), _blas_layout(b)  # type: ignore[misc]
        rows = m
        if ONE_THREAD < m * n * k <= SMALL_PRODUCT and n * k <= ONE_THREAD:
            rows = ONE_THREAD // (n * k)  # blocks of rows that OpenBLAS computes on this thread
        for start in range(0, m, rows):
            block = min(rows, m - start)  # row ``start`` of A: ``start * lda`` on, or ``start`` on when transposed
            a_rows = View(a.base, a.offset + start * (lda if ta == "N" else 1), a.strides, (block, k))
            c_rows = View(out.base, out.offset + start * n, out.strides, (block, n))
            p.blas_call("gemm", [char(tb), char(ta), i32(n), i32(block), i32(k), one, ("ptr", p.pointer(b)),
                                 i32(ldb), ("ptr", p.pointer(a_rows)), i32(lda), zero, ("ptr", p.pointer(c_rows)),
                                 i32(max(1, n))])
        return out
    matrix, vector = (a, b) if len(a.shape) == 2 else (b, a)
    how, ld = _blas_layout(matrix)  # type: ignore[misc]
    rows, cols = matrix.shape
    # the buffer as BLAS sees it: (cols, rows) column-major for "N", (rows, cols) for "T"
    mem_rows, mem_cols = (cols, rows) if how == "N" else (rows, cols)
    # A @ x needs A (the memory's transpose for "N"); x @ B needs B^T (the memory itself for "N")
    flag = ("T" if how == "N" else "N") if matrix is a else ("N" if how == "N" else "T")
    inc = vector.strides[0] if vector.strides[0] > 0 else 1
    p.blas_call("gemv", [char(flag), i32(mem_rows), i32(mem_cols), one, ("ptr", p.pointer(matrix)), i32(ld),
                         ("ptr", p.pointer(vector)), i32(inc), zero, ("ptr", p.pointer(out)), i32(1)])
    return out


def _blas_ready(p: Printer, v: View) -> View:
    """``v`` if BLAS can read it in place, else a contiguous copy (a broadcast, a strided slice)."""
    if (len(v.shape) == 2 and _blas_layout(v) is not None) or (len(v.shape) == 1 and v.strides[0] > 0):
        return v
    copy = p.temp(v.shape)
    p.loops(v.shape, lambda ix: p.store(p.load(v, ix), copy, ix))
    return copy


def _concatenate(p: Printer, node: Node, args: list, buffer) -> View:
    """Each operand copied into its slice of the result along ``axis``."""
    (axis,) = _params(node)
    out = buffer(node)
    start = 0
    for a, operand in zip(args, node.args):
        part = View(out.base, out.offset + start * out.strides[axis], out.strides, operand.shape)
        if math.prod(operand.shape):
            p.loops(operand.shape, lambda ix, a=a, part=part: p.store(p.load(a, ix, _aligned(a, part.shape)),
                                                                      part, ix))
        start += operand.shape[axis]
    return out


def _triangle(p: Printer, node: Node, args: list, buffer) -> View:
    """``np.triu(x, k)`` (``upper``) or ``np.tril(x, k)``: x where ``j - i >= k`` (``<= k``), else 0."""
    k, upper = _params(node)
    (x,) = args
    out = buffer(node)

    def body(ix):
        d, keep = p.fresh(), p.fresh()
        p.emit(f"  {d} = sub i64 {ix[-1]}, {ix[-2]}")
        p.emit(f"  {keep} = icmp {'sge' if upper else 'sle'} i64 {d}, {int(k)}")
        p.store(p.e.select(keep, p.load(x, ix, _aligned(x, node.shape)), p.e.const(0.0)), out, ix)
    p.loops(node.shape, body)
    return out


def _cumsum(p: Printer, node: Node, args: list, buffer) -> View:
    """Running sums along ``axis`` (from the far end when ``reverse``): each number adds the one
    before it along the axis, which an earlier iteration of that axis's loop wrote."""
    axis, reverse = _params(node)
    (x,) = args
    out = buffer(node)
    last = node.shape[axis] - 1

    def body(ix):
        at = list(ix)
        if reverse:  # position last - i
            at[axis] = p.fresh()
            p.emit(f"  {at[axis]} = sub i64 {last}, {ix[axis]}")
        first, before, safe = p.fresh(), p.fresh(), p.fresh()
        p.emit(f"  {first} = icmp eq i64 {ix[axis]}, 0")
        p.emit(f"  {before} = {'add' if reverse else 'sub'} i64 {at[axis]}, 1")
        p.emit(f"  {safe} = select i1 {first}, i64 {at[axis]}, i64 {before}")  # (a valid address)
        previous = p.e.select(first, p.e.const(0.0), p.load(out, at[:axis] + [safe] + at[axis + 1:]))
        p.store(p.e.binary("fadd", previous, p.load(x, at, _aligned(x, node.shape))), out, at)
    p.loops(node.shape, body)
    return out


# tensor ops with a lowering of their own beside views, reductions and elementwise ops
_OTHERS = {"matmul": _matmul,
           "index_put": lambda p, node, args, buffer: _index_put(p, node, args[0], buffer),
           "concatenate": _concatenate, "triangle": _triangle, "cumsum": _cumsum}
