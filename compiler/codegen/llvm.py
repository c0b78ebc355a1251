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

With ``width`` > 1 (``runtime.simd``), the same schedule is printed on
vectors of that many points (``<4 x double>``), with a ``batch`` function that
loops over the points: the batches' vector code, where a vector math library
provides the transcendental functions.

Each op's lowering is its ``llvm`` entry in ``ops.OPS``: a function of an
``Emitter`` and its operand values, with the NumPy semantics of the op's
``fmt`` (nan/inf, never a trap). Tests check that both targets agree.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Sequence

from ..ir import Node, dtypes
from ..ir.ops import OPS
from ..ir.special import SYMBOL_PREFIX
from . import extern

CHUNK = 1000        # statements per LLVM function
INTEGER_FIRST = "integer-first"  # a declared function's kind: double f(i64, double..., i32)


def _to_float32(value: float) -> float:
    """``value`` rounded to float32 (an LLVM ``float`` literal is a double it holds exactly)."""
    try:
        return struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:  # beyond float32's range: rounds to inf
        return math.copysign(math.inf, value)


def _double(value: float) -> str:
    """An exact LLVM double literal (hex of the IEEE bits)."""
    return "0x%016X" % struct.unpack("<Q", struct.pack("<d", float(value)))[0]


class Emitter:
    """Appends instructions to one LLVM function; values are SSA names (or literals).

    With ``width`` > 1 every value is a vector of that many points (``<4 x double>``):
    the same lowerings then print a vector kernel. ``mangle(name, arity)`` names the
    vector function of a C math function (glibc's ``_ZGVdN4v_exp``), or None: that
    call is then made lane by lane. Vector adds, subtracts and multiplies may fuse
    into FMAs (``contract``).

    With ``precision="float32"`` values are ``float`` (``<16 x float>``). A vector kernel's
    ``in`` and ``out`` then hold floats (float32 batches: half the memory traffic); a scalar
    kernel's keep the double ABI, converted where they are read and written. C math functions
    are their float versions (``tanhf``, ``llvm.exp.f32``, and the vector
    ``mangle`` gives ``_ZGVeN16v_expf``); SciPy's special functions, which are double only,
    compute in double and are rounded.
    """

    def __init__(self, declared: set, width: int = 1, mangle=None, precision: str = "float64"):
        self.lines: list[str] = []
        self.declared = declared
        self.width, self.mangle = width, mangle
        self.single = precision == "float32"
        self.F = "float" if self.single else "double"                 # a number's type
        self.T = self.F if width == 1 else f"<{width} x {self.F}>"    # a value's type
        self.W = "double" if width == 1 else f"<{width} x double>"    # a value in double
        self.io32 = self.single and width > 1
        self.D = self.T if self.io32 else self.W                      # a value as in and out hold it
        self.IO = self.F if self.io32 else "double"                   # a number of in and out
        self.B = "i1" if width == 1 else f"<{width} x i1>"            # a flag's type
        self._align = "" if width == 1 else ", align 8"  # numbers in a batch are 8-byte aligned
        self._n = 0

    def _fresh(self) -> str:
        self._n += 1
        return f"%t{self._n}"

    def const(self, value: float) -> str:
        text = _double(_to_float32(value) if self.single else value)
        if self.width == 1:
            return text
        return f"splat ({self.F} {text})"

    def binary(self, instruction: str, a: str, b: str) -> str:
        r = self._fresh()
        flags = " contract" if self.width > 1 and instruction in _CONTRACTS else ""
        self.lines.append(f"  {r} = {instruction}{flags} {self.T} {a}, {b}")
        return r

    def neg(self, a: str) -> str:
        r = self._fresh()
        self.lines.append(f"  {r} = fneg {self.T} {a}")
        return r

    def call(self, function: str, *args: str) -> str:
        if self.single and function.startswith(SYMBOL_PREFIX):  # SciPy's: double only
            wide = [self.convert(a, "fpext") for a in args]
            return self.convert(self._call_double(function, wide), "fptrunc")
        if self.width > 1:
            return self._vector_call(function, *args)
        function = self.scalar_name(function)
        self.declared.add((function, len(args), self.F))
        r = self._fresh()
        params = ", ".join(f"{self.F} {a}" for a in args) + _skip_dispatch(function)
        self.lines.append(f"  {r} = call {self.F} @{function}({params})")
        return r

    def scalar_name(self, function: str) -> str:
        """C's (or LLVM's) function of this precision: ``tanh`` -> ``tanhf``, ``llvm.exp.f64`` -> ``.f32``."""
        if not self.single or function.startswith(SYMBOL_PREFIX):
            return function
        return function[:-4] + ".f32" if function.startswith("llvm.") else function + "f"

    def convert(self, value: str, how: str) -> str:
        """``fpext`` a float value to double, or ``fptrunc`` a double one to float (same lanes)."""
        r = self._fresh()
        source, target = (self.T, self.W) if how == "fpext" else (self.W, self.T)
        self.lines.append(f"  {r} = {how} {source} {value} to {target}")
        return r

    def _call_double(self, function: str, args: list) -> str:
        """A double function on double values (lane by lane on vectors)."""
        saved = self.single, self.T, self.F
        self.single, self.T, self.F = False, self.W, "double"
        try:
            return self._lane_by_lane(function, args) if self.width > 1 else self.call(function, *args)
        finally:
            self.single, self.T, self.F = saved

    def call_integer_first(self, function: str, n: str, *rest: str) -> str:
        """``function(i64 n, double..., i32 0)`` of a double ``n`` (``eval_hermite``'s degree): nan
        where ``n`` is not an integer below 2**63 in magnitude (``codegen.special_bind``). Here in
        the kernel, not in a wrapper, so that LLVM checks a constant degree once."""
        if self.single:  # SciPy's function is double only: computed in double, rounded
            doubles = [self.convert(a, "fpext") for a in (n, *rest)]
            saved = self.single, self.T, self.F
            self.single, self.T, self.F = False, self.W, "double"
            try:
                r = self.call_integer_first(function, *doubles)
            finally:
                self.single, self.T, self.F = saved
            return self.convert(r, "fptrunc")
        if self.width > 1:  # lane by lane
            result = "poison"
            for lane in range(self.width):
                scalars = []
                for a in (n, *rest):
                    s = self._fresh()
                    self.lines.append(f"  {s} = extractelement {self.T} {a}, i32 {lane}")
                    scalars.append(s)
                v = Emitter(self.declared)
                v._n = self._n
                value = v.call_integer_first(function, *scalars)
                self.lines += v.lines
                self._n = v._n
                r = self._fresh()
                self.lines.append(f"  {r} = insertelement {self.T} {result}, double {value}, i32 {lane}")
                result = r
            return result
        self.declared.update({(function, 1 + len(rest), INTEGER_FIRST), ("llvm.fabs.f64", 1, "double"),
                              ("llvm.floor.f64", 1, "double")})
        size, floor, small, whole, ok, safe, m, v, r = (self._fresh() for _ in range(9))
        doubles = "".join(f", double {a}" for a in rest)
        self.lines += [f"  {size} = call double @llvm.fabs.f64(double {n})",
                       f"  {floor} = call double @llvm.floor.f64(double {n})",
                       f"  {small} = fcmp olt double {size}, {_double(2.0**63)}",
                       f"  {whole} = fcmp oeq double {floor}, {n}", f"  {ok} = and i1 {small}, {whole}",
                       f"  {safe} = select i1 {ok}, double {n}, double 0.0", f"  {m} = fptosi double {safe} to i64",
                       f"  {v} = call double @{function}(i64 {m}{doubles}, i32 0)",
                       f"  {r} = select i1 {ok}, double {v}, double {_double(math.nan)}"]
        return r

    def _vector_call(self, function: str, *args: str) -> str:
        base = function[5:-4] if function.startswith("llvm.") else function  # llvm.exp.f64 -> exp
        if base == "pow" and args[1] in self._small_powers():
            # a few products, as LLVM makes of the scalar pow(x, 2.0): the vector pow is slow
            # (and calls the scalar one lane by lane) for a negative base
            return self._small_powers()[args[1]](args[0])
        if base in _VECTOR_INSTRUCTIONS:
            name = f"llvm.{base}.v{self.width}{'f32' if self.single else 'f64'}"
        else:
            name = self.mangle(base, len(args)) if self.mangle is not None else None
        if name is None:  # no vector function: lane by lane, with the scalar one
            return self._lane_by_lane(function, args)
        self.declared.add((name, len(args), self.T))
        r = self._fresh()
        params = ", ".join(f"{self.T} {a}" for a in args)
        self.lines.append(f"  {r} = call {self.T} @{name}({params})")
        return r

    def _small_powers(self) -> dict:
        mul = lambda a, b: self.binary("fmul", a, b)  # noqa: E731
        return {self.const(2.0): lambda a: mul(a, a),
                self.const(3.0): lambda a: mul(mul(a, a), a),
                self.const(4.0): lambda a: (lambda sq: mul(sq, sq))(mul(a, a)),
                self.const(-1.0): lambda a: self.binary("fdiv", self.const(1.0), a)}

    def _lane_by_lane(self, function: str, args) -> str:
        function, F = self.scalar_name(function), self.F
        self.declared.add((function, len(args), F))
        result = "poison"
        for lane in range(self.width):
            scalars = []
            for a in args:
                s = self._fresh()
                self.lines.append(f"  {s} = extractelement {self.T} {a}, i32 {lane}")
                scalars.append(f"{F} {s}")
            v, r = self._fresh(), self._fresh()
            self.lines.append(f"  {v} = call {F} @{function}({', '.join(scalars)}{_skip_dispatch(function)})")
            self.lines.append(f"  {r} = insertelement {self.T} {result}, {F} {v}, i32 {lane}")
            result = r
        return result

    def fcmp(self, cond: str, a: str, b: str) -> str:
        r = self._fresh()
        self.lines.append(f"  {r} = fcmp {cond} {self.T} {a}, {b}")
        return r

    def logic(self, instruction: str, a: str, b: str) -> str:
        """``and``/``or``/``xor`` of two flags (``fcmp`` results)."""
        r = self._fresh()
        self.lines.append(f"  {r} = {instruction} {self.B} {a}, {b}")
        return r

    def select(self, c: str, a: str, b: str) -> str:
        r = self._fresh()
        self.lines.append(f"  {r} = select {self.B} {c}, {self.T} {a}, {self.T} {b}")
        return r

    # memory: ``index`` counts values (vectors), ``index_doubles`` counts doubles
    # (inputs and outputs are ``self.D``: doubles, except for a float32 vector kernel)
    def load(self, base: str, index: int) -> str:
        p, r = self._fresh(), self._fresh()
        unit = self.D if base == "%in" else self.T
        self.lines.append(f"  {p} = getelementptr inbounds {unit}, ptr {base}, i64 {index}")
        self.lines.append(f"  {r} = load {unit}, ptr {p}{self._align}")
        return self.convert(r, "fptrunc") if unit != self.T else r

    def store(self, value: str, base: str, index: int | str, index_doubles: bool = False) -> None:
        p = self._fresh()
        unit = self.IO if index_doubles else self.T
        if index_doubles and self.single and not self.io32:
            value = self.convert(value, "fpext")
        self.lines.append(f"  {p} = getelementptr inbounds {unit}, ptr {base}, i64 {index}")
        self.lines.append(f"  store {self.D if index_doubles else self.T} {value}, ptr {p}{self._align}")

    def to_double(self, flag: str) -> str:
        return self.select(flag, self.const(1.0), self.const(0.0))

    def to_flag(self, value: str) -> str:
        return self.fcmp("une", value, self.const(0.0))


# LLVM intrinsics that are vector instructions (no library call) at every width
_VECTOR_INSTRUCTIONS = frozenset({"fabs", "copysign", "floor", "ceil", "rint", "sqrt"})
_CONTRACTS = frozenset({"fadd", "fsub", "fmul"})


@dataclass
class NativeModule:
    """The LLVM IR of one kernel, one module per part (compiled one by one) and the entry."""
    texts: list[str]
    n_in: int
    n_out: int
    n_scratch: int
    # LLVM symbol -> (ir.extern.Extern, "f" | "grad" | "hessian" | "jvp", arity): a user's functions,
    # whose cfunc addresses ``runtime.llvm`` binds in each process
    externs: dict = field(default_factory=dict)
    width: int = 1  # points per kernel call: 1, or the vector width of a batch's vector kernel
    io: str = "float64"  # what ``in`` and ``out`` hold: float32 for a vector kernel of float32

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


def emit(inputs: Sequence[Node], outputs: Sequence[Node], statements: Sequence[Node],
         chunk: int = CHUNK, width: int = 1, mangle=None) -> NativeModule:
    """LLVM IR of ``kernel``: ``statements`` (a schedule) computing ``outputs`` from ``inputs``.

    With ``width`` > 1, the kernel computes that many points at once: ``in`` and
    ``scratch`` hold vectors, and output ``k`` of point ``l`` goes to
    ``out[k * stride + l]`` (see ``Emitter`` for ``mangle``).
    """
    if width == 1 and any(n.op == "scan" for n in statements):  # loops: one function (``llvm_loops``)
        from . import llvm_loops
        return llvm_loops.emit(inputs, outputs, statements)
    slot_in = {n.id: i for i, n in enumerate(inputs)}
    # a graph of float32 inputs only computes in float32 (a mixed one is not given to this target)
    precision = "float32" if inputs and all(dtypes.of_symbol(n) == "float32" for n in inputs) else "float64"
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
    parts: list[tuple[set, str]] = []  # (declarations, definition) of each part
    for c, nodes in enumerate(chunks):
        e = Emitter(declared, width, mangle, precision)
        local: dict[int, str] = {}

        def value(a: Node) -> str:
            if a.op == "const":
                return e.const(1.0 if a.value is True else 0.0 if a.value is False else a.value)
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
            if node.op == "extern":  # a user's function: the lowering needs the node's params
                r = extern.llvm(e, node, [value(a) for a in node.args])
            else:
                r = OPS[node.op].llvm(e, *[value(a) for a in node.args])
            local[node.id] = r
            as_double = None
            if node.id in scratch or node.id in out_positions:
                as_double = e.to_double(r) if node.dtype == "bool" else r
            if node.id in scratch:
                e.store(as_double, "%s", scratch[node.id])
            for k in out_positions.get(node.id, ()):
                e.store(as_double, "%out", _out_index(e, k), index_doubles=True)
        parts.append((declared, f"define void @part{c}(ptr noalias %in, ptr noalias %out, i64 %stride, "
                                f"ptr noalias %s) nounwind {{\nentry:\n" + "\n".join(e.lines) + "\n  ret void\n}"))
        declared = set()
    # the entry: run the parts, then write outputs that are inputs or constants
    e = Emitter(declared, width, mangle, precision)
    calls = [f"  call void @part{c}(ptr %in, ptr %out, i64 %stride, ptr %s)" for c in range(len(chunks))]
    for k, node in enumerate(outputs):
        if node.id in part_of:
            continue
        if node.op == "var":
            v = e.load("%in", slot_in[node.id])
        else:
            v = e.const(1.0 if node.value is True else 0.0 if node.value is False else node.value)
        e.store(v, "%out", _out_index(e, k), index_doubles=True)
    entry = ["define void @kernel(ptr noalias %in, ptr noalias %out, i64 %stride, ptr noalias %s) "
             "nounwind {\nentry:\n" + "\n".join(calls + e.lines) + "\n  ret void\n}"]
    if width > 1:
        entry.append(_batch_loop(e.D, width, len(inputs), e.IO))
    if width > 1 and len(parts) <= 1:  # one module: LLVM inlines the body into the loop
        merged = set(declared).union(*(d for d, _ in parts))
        functions = [_module_text(merged, [p for _, p in parts] + entry)]
    else:
        functions = [_module_text(d, [p]) for d, p in parts]
        declares = [f"declare void @part{c}(ptr, ptr, i64, ptr) nounwind" for c in range(len(chunks))]
        functions.append(_module_text(declared, declares + entry))
    externs = {}
    for node in statements:
        if node.op == "extern":
            fn, part = node.params
            which = part[0] if part else "f"
            externs[extern.symbol(fn, which, len(node.args))] = (fn, which, len(node.args))
    return NativeModule(functions, len(inputs), len(outputs), max(1, len(scratch)), externs, width,
                        "float32" if width > 1 and precision == "float32" else "float64")


def _batch_loop(vector: str, width: int, n_in: int, number: str = "double") -> str:
    """``batch``: the kernel on points ``start, start + width, ... < stop`` (``stop - start`` a
    multiple of ``width``); input ``j`` of point ``i`` is ``arrays[j][i * strides[j]]``, where a
    stride of 0 (a number shared by all points) needs ``width`` copies of it."""
    head, body = [f"  %buf = alloca {vector}, i64 {max(1, n_in)}, align 32"], []
    for j in range(n_in):
        head += [f"  %ap{j} = getelementptr inbounds ptr, ptr %arrays, i64 {j}", f"  %a{j} = load ptr, ptr %ap{j}",
                 f"  %sp{j} = getelementptr inbounds i64, ptr %strides, i64 {j}", f"  %s{j} = load i64, ptr %sp{j}"]
        body += [f"  %o{j} = mul i64 %i, %s{j}", f"  %p{j} = getelementptr inbounds {number}, ptr %a{j}, i64 %o{j}",
                 f"  %v{j} = load {vector}, ptr %p{j}, align 8",
                 f"  %b{j} = getelementptr inbounds {vector}, ptr %buf, i64 {j}",
                 f"  store {vector} %v{j}, ptr %b{j}, align 8"]
    return "\n".join([
        "define void @batch(ptr noalias %arrays, ptr noalias %strides, ptr noalias %out, i64 %stride, "
        "i64 %start, i64 %stop, ptr noalias %s) nounwind {", "entry:", *head, "  br label %check", "check:",
        "  %i = phi i64 [ %start, %entry ], [ %next, %body ]", "  %more = icmp slt i64 %i, %stop",
        "  br i1 %more, label %body, label %done", "body:", *body,
        f"  %dest = getelementptr inbounds {number}, ptr %out, i64 %i",
        "  call void @kernel(ptr %buf, ptr %dest, i64 %stride, ptr %s)",
        f"  %next = add i64 %i, {width}", "  br label %check", "done:", "  ret void", "}"])


def _skip_dispatch(function: str) -> str:
    """cython_special's C functions (``ir.special``) take a last ``int skip_dispatch``: 0."""
    return ", i32 0" if function.startswith(SYMBOL_PREFIX) else ""


def _module_text(declared: set, definitions: list[str]) -> str:
    decls = [f"declare void @{name}(ptr{', double' * arity}) nounwind" if t == extern.OUT_POINTER else
             f"declare double @{name}(i64{', double' * (arity - 1)}, i32) nounwind" if t == INTEGER_FIRST else
             f"declare {t} @{name}({', '.join([t] * arity)}{_skip_dispatch(name).replace(' 0', '')}) nounwind"
             for name, arity, t in sorted(declared)]
    return "\n\n".join(decls + definitions) + "\n"


def _out_index(e: Emitter, k: int) -> str:
    r = e._fresh()
    e.lines.append(f"  {r} = mul i64 %stride, {k}")
    return r
