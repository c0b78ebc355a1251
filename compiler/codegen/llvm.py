"""The native target: a scheduled kernel printed as LLVM IR, compiled with llvmlite.

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

import ctypes
import struct
import threading
from dataclasses import dataclass
from typing import Sequence

from .ir import Node
from .ops import OPS

CHUNK = 1000        # statements per LLVM function
OPT_LEVEL = 2       # LLVM optimization level of the native target

_SIGNATURE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p)
_init_lock = threading.Lock()
_target_machine = None


def _new_target_machine(llvm):
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(),
                                        opt=OPT_LEVEL, jit=True)


def _llvm():
    """llvmlite's binding layer, initialized once, and a target machine for this CPU."""
    global _target_machine
    import llvmlite.binding as llvm
    with _init_lock:
        if _target_machine is None:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            _target_machine = _new_target_machine(llvm)
    return llvm, _target_machine


def host_fingerprint() -> str:
    """What compiled object code depends on: triple, CPU, features, LLVM version (for cache keys)."""
    llvm, _ = _llvm()
    return "|".join([llvm.get_process_triple(), llvm.get_host_cpu_name(),
                     llvm.get_host_cpu_features().flatten(), ".".join(map(str, llvm.llvm_version_info)),
                     f"O{OPT_LEVEL}", f"chunk{CHUNK}"])


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


def compile_objects(module: NativeModule, progress=None) -> list[bytes]:
    """Optimize and compile each part to a relocatable object file (what the disk cache stores).

    ``progress``, if given, is called with the number of parts done after each one.
    """
    llvm, tm = _llvm()
    objects = []
    for k, text in enumerate(module.texts):
        mod = llvm.parse_assembly(text)
        mod.triple = llvm.get_process_triple()
        pto = llvm.create_pipeline_tuning_options(speed_level=OPT_LEVEL)
        pb = llvm.create_pass_builder(tm, pto)
        pb.getModulePassManager().run(mod, pb)
        objects.append(tm.emit_object(mod))
        if progress is not None:
            progress(k + 1)
    return objects


def pack(objects: list[bytes]) -> bytes:
    """Object files as one byte string: a count, the lengths, the bytes."""
    head = struct.pack(f"<Q{len(objects)}Q", len(objects), *map(len, objects))
    return head + b"".join(objects)


def unpack(blob: bytes) -> list[bytes]:
    (n,) = struct.unpack_from("<Q", blob)
    sizes = struct.unpack_from(f"<{n}Q", blob, 8)
    objects, at = [], 8 + 8 * n
    for size in sizes:
        objects.append(blob[at:at + size])
        at += size
    if at != len(blob):
        raise ValueError("malformed object bundle")
    return objects


class NativeKernel:
    """Machine code loaded from object files: ``address`` of ``kernel`` and a ctypes handle."""

    def __init__(self, objects: list[bytes], module: NativeModule):
        llvm, _ = _llvm()
        with _init_lock:
            empty = llvm.parse_assembly("")
            empty.triple = llvm.get_process_triple()
            # the engine owns (and frees) its target machine: one of its own
            self._engine = llvm.create_mcjit_compiler(empty, _new_target_machine(llvm))
            for obj in objects:
                self._engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
            self._engine.finalize_object()
            self.address = self._engine.get_function_address("kernel")
        if not self.address:
            raise RuntimeError("compiled object has no 'kernel' symbol")
        self.n_in, self.n_out, self.n_scratch = module.n_in, module.n_out, module.n_scratch
        self.cfunc = _SIGNATURE(self.address)
