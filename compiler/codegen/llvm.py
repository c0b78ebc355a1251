"""The native target's code: a scheduled kernel printed as LLVM IR text (``runtime.llvm``
compiles it with llvmlite).

Numba spends 1.5-2 ms per generated statement in its front end; LLVM itself
needs a few microseconds. This target prints the *same* schedule as the
Python source (``codegen.statements``) straight to LLVM IR text and lets
llvmlite optimize and compile it to machine code: a 10,000-op gradient
compiles in seconds instead of a minute.

Every kernel has the C signature::

    void kernel(const double *in, double *out, int64_t stride, double *scratch)

``out[k * stride]`` receives output ``k`` (stride 1 for one point, the batch
length when a batch driver writes row ``k`` of a ``(n_out, n)`` array).
Long schedules are split into ``part<k>`` functions of at most
``CHUNK`` statements, since LLVM's cost grows faster than linearly with the
size of one block; values that cross parts go through ``scratch``.

Each op's lowering is its ``llvm`` entry in ``ops.OPS``: a function of an
``Emitter`` and its operand values, with the NumPy semantics of the op's
``fmt`` (nan/inf, never a trap). Tests check that both targets agree.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Sequence

from ..ir import Node
from ..ir.ops import OPS

CHUNK = 1000        # statements per LLVM function

def _double(value: float) -> str:
    """An exact LLVM double literal (hex of the IEEE bits)."""
    return "0x%016X" % struct.unpack("<Q", struct.pack("<d", float(value)))[0]


class Emitter:
    """Appends instructions to one LLVM function; values are SSA names (or literals)."""

    def __init__(self, declared: set):
        self.lines: list[str] = []
        self.declared = declared
        self._n = 0

    def _fresh(self) -> str:
        self._n += 1
        return f"%t{self._n}"

    def const(self, value: float) -> str:
        return _double(value)

    def binary(self, instruction: str, a: str, b: str) -> str:
        r = self._fresh()
        self.lines.append(f"  {r} = {instruction} double {a}, {b}")
        return r

    def neg(self, a: str) -> str:
        r = self._fresh()
        self.lines.append(f"  {r} = fneg double {a}")
        return r

    def call(self, function: str, *args: str) -> str:
        self.declared.add((function, len(args)))
        r = self._fresh()
        params = ", ".join(f"double {a}" for a in args)
        self.lines.append(f"  {r} = call double @{function}({params})")
        return r

    def fcmp(self, cond: str, a: str, b: str) -> str:
        r = self._fresh()
        self.lines.append(f"  {r} = fcmp {cond} double {a}, {b}")
        return r

    def logic(self, instruction: str, a: str, b: str) -> str:
        """``and``/``or``/``xor`` of two flags (``fcmp`` results)."""
        r = self._fresh()
        self.lines.append(f"  {r} = {instruction} i1 {a}, {b}")
        return r

    def select(self, c: str, a: str, b: str) -> str:
        r = self._fresh()
        self.lines.append(f"  {r} = select i1 {c}, double {a}, double {b}")
        return r

    # memory
    def load(self, base: str, index: int) -> str:
        p, r = self._fresh(), self._fresh()
        self.lines.append(f"  {p} = getelementptr inbounds double, ptr {base}, i64 {index}")
        self.lines.append(f"  {r} = load double, ptr {p}")
        return r

    def store(self, value: str, base: str, index: int | str) -> None:
        p = self._fresh()
        self.lines.append(f"  {p} = getelementptr inbounds double, ptr {base}, i64 {index}")
        self.lines.append(f"  store double {value}, ptr {p}")

    def to_double(self, flag: str) -> str:
        return self.select(flag, _double(1.0), _double(0.0))

    def to_flag(self, value: str) -> str:
        return self.fcmp("une", value, _double(0.0))


@dataclass
class NativeModule:
    """The LLVM IR of one kernel, one module per part (compiled one by one) and the entry."""
    texts: list[str]
    n_in: int
    n_out: int
    n_scratch: int

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


def emit(inputs: Sequence[Node], outputs: Sequence[Node], statements: Sequence[Node],
         chunk: int = CHUNK) -> NativeModule:
    """LLVM IR of ``kernel``: ``statements`` (a schedule) computing ``outputs`` from ``inputs``."""
    slot_in = {n.id: i for i, n in enumerate(inputs)}
    chunks = [statements[i:i + chunk] for i in range(0, len(statements), chunk)]
    part_of = {}
    for c, nodes in enumerate(chunks):
        for node in nodes:
            part_of[node.id] = c
    out_positions: dict[int, list[int]] = {}
    for k, node in enumerate(outputs):
        out_positions.setdefault(node.id, []).append(k)
    # values read by a later part go through scratch
    scratch: dict[int, int] = {}
    for c, nodes in enumerate(chunks):
        for node in nodes:
            for a in node.args:
                src = part_of.get(a.id)
                if src is not None and src != c and a.id not in scratch:
                    scratch[a.id] = len(scratch)

    declared: set = set()
    functions: list[str] = []
    for c, nodes in enumerate(chunks):
        e = Emitter(declared)
        local: dict[int, str] = {}

        def value(a: Node) -> str:
            if a.op == "const":
                return _double(1.0 if a.value is True else 0.0 if a.value is False else a.value)
            v = local.get(a.id)
            if v is None:
                if a.op == "var":
                    v = e.load("%in", slot_in[a.id])
                else:
                    v = e.load("%s", scratch[a.id])
                    if a.dtype == "bool":
                        v = e.to_flag(v)
                local[a.id] = v
            return v

        for node in nodes:
            r = OPS[node.op].llvm(e, *[value(a) for a in node.args])
            local[node.id] = r
            as_double = None
            if node.id in scratch or node.id in out_positions:
                as_double = e.to_double(r) if node.dtype == "bool" else r
            if node.id in scratch:
                e.store(as_double, "%s", scratch[node.id])
            for k in out_positions.get(node.id, ()):
                e.store(as_double, "%out", _out_index(e, k))
        functions.append(_module_text(declared, [
            f"define void @part{c}(ptr noalias %in, ptr noalias %out, i64 %stride, ptr noalias %s) "
            f"nounwind {{\nentry:\n" + "\n".join(e.lines) + "\n  ret void\n}"]))
        declared = set()
    # the entry: run the parts, then write outputs that are inputs or constants
    e = Emitter(declared)
    calls = [f"  call void @part{c}(ptr %in, ptr %out, i64 %stride, ptr %s)" for c in range(len(chunks))]
    for k, node in enumerate(outputs):
        if node.id in part_of:
            continue
        if node.op == "var":
            v = e.load("%in", slot_in[node.id])
        else:
            v = _double(1.0 if node.value is True else 0.0 if node.value is False else node.value)
        e.store(v, "%out", _out_index(e, k))
    parts = [f"declare void @part{c}(ptr, ptr, i64, ptr) nounwind" for c in range(len(chunks))]
    functions.append(_module_text(declared, parts + [
        "define void @kernel(ptr noalias %in, ptr noalias %out, i64 %stride, ptr noalias %s) "
        "nounwind {\nentry:\n" + "\n".join(calls + e.lines) + "\n  ret void\n}"]))
    return NativeModule(functions, len(inputs), len(outputs), max(1, len(scratch)))


def _module_text(declared: set, definitions: list[str]) -> str:
    decls = [f"declare double @{name}({', '.join(['double'] * arity)}) nounwind"
             for name, arity in sorted(declared)]
    return "\n\n".join(decls + definitions) + "\n"


def _out_index(e: Emitter, k: int) -> str:
    r = e._fresh()
    e.lines.append(f"  {r} = mul i64 %stride, {k}")
    return r
