"""Loops on the llvm target: a schedule with ``scan`` nodes printed as one LLVM function.

``codegen.llvm`` prints straight-line scalar schedules; this module prints those
that hold loops (``cc.scan``, ``cc.fori_loop``, ``cc.odeint`` and the reverse
loops their gradients make, ``ad.loops``), as ``codegen.loops`` does for Python:

* a loop's scalar carries live in ``alloca`` slots (LLVM's ``mem2reg`` makes them
  phi nodes); its step number is an ``i64`` counter, counted down with ``reverse``;
* its stacked ``ys`` and a carry's ``history`` (what the reverse pass reads) are
  written to ``scratch`` at a dynamic row, as are sequences ``xs`` made outside it;
* a body's ``until`` (a converged solve, ``fori_loop``'s early exit) leaves the loop,
  unless the loop fills ys or a history, whose later rows the remaining steps write;
* tensors outside loops (a scan's stacked results, the misfit of ``odeint``'s output
  against data, their adjoints) are unrolled into scalars: a NumPy array of SSA values
  (``Val``), so NumPy's own reshapes, slices and sums print the instructions.

* tensor inputs and outputs are flat in ``in`` and ``out`` (each one's numbers in C order, one
  after another); an input stays in memory, as a loop's ys do (``llvm_buffers``: views, loops);
  a tensor carry of up to ``CARRY_MAX`` numbers has a slot per number.

Refused (``UnsupportedError`` naming the backends that work): larger tensor carries, float32,
and ops with no scalar form here (matmul of unrolled tensors is fine; linear algebra,
``amax``, user functions are not). The kernel has ``codegen.llvm``'s C signature.

>>> import compiler as cc
>>> a = cc.Symbol("a")
>>> final, _ = cc.scan(lambda c, _: (c * a, None), 1.0, length=3)
>>> cc.compile(final, [a], backend="llvm")(2.0)
8.0
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import UnsupportedError
from ..ir import Node, dtypes, loops
from ..ir.evaluate import _array_functions, _namespace
from ..ir.ops import OPS
from . import llvm, llvm_buffers
from .llvm_buffers import _size, offsets

# ops on unrolled tensors that NumPy computes on arrays of ``Val`` (the rest: refused)
_STRUCTURAL = frozenset({"sum", "reshape", "transpose", "broadcast_to", "matmul", "concatenate", "getitem",
                         "index_put", "take", "scatter_add", "cumsum"})
_WORKS = "use backend 'numba' (or 'auto' or 'python')"
#: the most numbers a tensor outside the loops may hold: it is unrolled into that many scalars
UNROLL_MAX = 50_000
#: the most numbers a loop's tensor carry may hold: a slot (a register, after ``mem2reg``) each
CARRY_MAX = 256


def has_loops(statements: Sequence[Node]) -> bool:
    return any(n.op == "scan" for n in statements)


def refusal(inputs: Sequence[Node], outputs: Sequence[Node], order: Sequence[Node]) -> str | None:
    """Why the llvm target cannot compile this graph with loops (None: it can)."""
    if any(dtypes.of_symbol(n) != "float64" for n in inputs if n.op == "var"):
        return "its loops compile in float64 only (float32 inputs run on Numba)"
    for n in outputs:
        if n.shape and n.op not in ("item", "var") and _size(n) > UNROLL_MAX:
            return (f"an output of shape {n.shape} (op {n.op!r}): llvm unrolls tensors outside the loops "
                    f"into scalars, up to {UNROLL_MAX:,} numbers")
    seen: set = set()
    stack = [n for n in order if n.op == "scan"]
    while stack:
        node = stack.pop()
        if node.id in seen:
            continue
        seen.add(node.id)
        body = node.params[0]
        for c in body.carries:
            if _size(c) > CARRY_MAX:
                return (f"a loop carries a tensor of shape {c.shape}: llvm compiles carries of up to "
                        f"{CARRY_MAX} numbers (each one a register)")
        stack += [n for n in loops.body_order(body) if n.op == "scan"]
    for n in order:
        if n.op in ("custom", "extern") or (n.op not in _STRUCTURAL and n.op not in ("const", "var", "scan", "item")
                                            and OPS[n.op].llvm is None):
            return f"op {n.op!r} has no llvm form in a function with loops"
        if n.dtype == "bool" and n.shape:
            return "a tensor of bools"
        for x in n.args:  # a loop's long stacked results and long inputs are read in place
            if x.op not in ("item", "var") or _size(x) <= UNROLL_MAX or (n.op == "sum" and not n.shape):
                continue
            _, xs, params = loops.operands(n) if n.op == "scan" else ((), (), ())
            if n.op == "scan" and (x.op == "item" or (any(x is s for s in xs) and not any(x is p for p in params))):
                continue  # (a long input: as a loop's sequence xs, read row by row)
            what = "a loop's results" if x.op == "item" else f"input {x.name!r}"
            return (f"op {n.op!r} reads {what} of shape {x.shape}: llvm reads so many numbers "
                    f"only in a sum over all of them or as a loop's sequence")
        # (a loop's stacked results stay in memory, as do inputs, constants and a number broadcast)
        if n.shape and n.op not in ("item", "const", "broadcast_to", "var") and _size(n) > UNROLL_MAX:
            return (f"a tensor of shape {n.shape} outside the loops (op {n.op!r}): llvm unrolls such tensors "
                    f"into scalars, up to {UNROLL_MAX:,} numbers")
    return None


class Val:
    """An SSA value in an unrolled tensor: NumPy's sums and products of them print instructions."""
    __slots__ = ("e", "name")

    def __init__(self, e: llvm.Emitter, name: str):
        self.e, self.name = e, name

    def _op(self, instruction, other, swap=False):
        a, b = self.name, _atom(self.e, other)
        return Val(self.e, self.e.binary(instruction, b, a) if swap else self.e.binary(instruction, a, b))

    __add__ = lambda self, other: self._op("fadd", other)  # noqa: E731
    __radd__ = lambda self, other: self._op("fadd", other, True)  # noqa: E731
    __sub__ = lambda self, other: self._op("fsub", other)  # noqa: E731
    __rsub__ = lambda self, other: self._op("fsub", other, True)  # noqa: E731
    __mul__ = lambda self, other: self._op("fmul", other)  # noqa: E731
    __rmul__ = lambda self, other: self._op("fmul", other, True)  # noqa: E731

    def __neg__(self):
        return Val(self.e, self.e.neg(self.name))


def _atom(e: llvm.Emitter, x) -> str:
    if isinstance(x, Val):
        return x.name
    if isinstance(x, str):
        return x
    if isinstance(x, (bool, np.bool_)):
        return "true" if x else "false"
    return e.const(float(x))


class Buffer:
    """A tensor in memory: ``shape`` doubles from double ``offset`` on (a loop's ys, a history, an
    input), C-ordered or at ``strides`` (a view: ``llvm_buffers``)."""

    def __init__(self, offset: int, shape: tuple, base: str = "%s", strides: tuple | None = None):
        self.offset, self.shape, self.base = offset, shape, base  # base: scratch, in, or a global constant
        self.strides = strides if strides is not None else llvm_buffers.c_strides(shape)

    @property
    def contiguous(self) -> bool:
        return all(s == c for s, c, n in zip(self.strides, llvm_buffers.c_strides(self.shape), self.shape) if n > 1)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


class _Printer:
    def __init__(self, inputs):
        self.e = llvm.Emitter(set())
        self.allocas: list[str] = []
        self.n_scratch = 0
        self._labels = 0
        self.slot_in = {n.id: at for n, at in zip(inputs, offsets(inputs))}  # where each input starts in ``in``
        self.globals: list[str] = []  # constant sequences (data a loop reads), as LLVM constants
        self.constants: dict[int, Buffer] = {}  # const node id -> its LLVM constant

    def label(self, what: str) -> str:
        self._labels += 1
        return f"{what}{self._labels}"

    def buffer(self, shape: tuple) -> Buffer:
        b = Buffer(self.n_scratch, tuple(shape))
        self.n_scratch += max(1, b.size)
        return b

    def ptr(self, buffer: Buffer, row: str | None = None) -> str:
        """The address of ``buffer``'s row ``row`` (an i64 value; None: its start)."""
        e = self.e
        at = e._fresh()
        if row is None:
            e.lines.append(f"  {at} = getelementptr inbounds double, ptr {buffer.base}, i64 {buffer.offset}")
            return at
        inner = max(1, buffer.size // buffer.shape[0]) if buffer.shape and buffer.shape[0] else 1
        off, p = e._fresh(), e._fresh()
        e.lines.append(f"  {off} = mul i64 {row}, {inner}")
        e.lines.append(f"  {at} = add i64 {off}, {buffer.offset}")
        e.lines.append(f"  {p} = getelementptr inbounds double, ptr {buffer.base}, i64 {at}")
        return p

    # --- values ---

    def value(self, env: dict, a: Node):
        """``a``'s value: an SSA name (a scalar) or an object array of ``Val`` (a tensor)."""
        v = env.get(a.id)
        if v is None:
            e = self.e
            if a.op == "const":
                if a.shape:
                    v = np.vectorize(lambda x: Val(e, _atom(e, x)), otypes=[object])(np.asarray(a.value))
                else:
                    v = _atom(e, a.value)
                    if a.dtype != "bool" and v in ("true", "false"):
                        v = e.const(1.0 if v == "true" else 0.0)
            elif a.op == "var":
                v = e.load("%in", self.slot_in[a.id])
            else:
                raise AssertionError(f"value of {a.op} read before it is computed")
            env[a.id] = v
        if isinstance(v, Buffer):  # read as numbers, outside a loop's sequence
            v = env[a.id] = self.materialize(v)
        return v

    def materialize(self, buf: Buffer) -> np.ndarray:
        flat = [Val(self.e, self.e.load(buf.base, int(k))) for k in np.ravel(llvm_buffers.addresses(buf))]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(buf.shape)

    def statement(self, env: dict, node: Node, items: dict) -> None:
        e = self.e
        if node.op == "item":
            return  # its scan defines it
        if node.op == "scan":
            self.scan(env, node, items.get(node.id, {}))
            return
        in_memory = llvm_buffers.try_op(self, env, node)  # a view, or a loop writing memory
        if in_memory is not None:
            env[node.id] = in_memory
            return
        if node.op == "sum" and not node.shape and isinstance(env.get(node.args[0].id), Buffer) and \
                env[node.args[0].id].contiguous:
            env[node.id] = self.total(env[node.args[0].id])  # a loop, not one add per element
            return
        if node.op in _STRUCTURAL or (node.shape and node.op != "const"):
            env[node.id] = self.tensor_op(env, node)
            return
        args = [self.value(env, a) for a in node.args]
        env[node.id] = OPS[node.op].llvm(e, *args)

    def tensor_op(self, env: dict, node: Node):
        e = self.e
        args = []
        for a in node.args:
            v = self.value(env, a)
            args.append(np.asarray(Val(e, v), dtype=object) if isinstance(v, str) else v)
        op = OPS[node.op]
        if node.op in _STRUCTURAL:
            kw = dict(zip(op.params or (), node.params or ()))
            if node.op == "index_put":
                out = np.full(kw["shape"], Val(e, e.const(0.0)), dtype=object)
                from ..ir.tensor_ops import _python_index
                # (a 0-d array of one number is stored as that number, not as an array in the array)
                out[_python_index(kw["index"])] = args[0].item() if args[0].ndim == 0 else args[0]
                result = out
            elif op.impl is not None:
                result = op.impl(*args, **kw)
            else:
                fn = _array_functions.get(node.op)
                if fn is None:
                    body = (op.array_fmt or op.fmt).format(*[f"a{i}" for i in range(op.arity)])
                    fn = _array_functions[node.op] = eval(  # noqa: S307 - library text
                        f"lambda {', '.join(f'a{i}' for i in range(op.arity))}: {body}", _namespace(body))
                result = fn(*args)
        else:  # elementwise: the scalar lowering at each point of the broadcast operands
            parts = np.broadcast_arrays(*args)
            result = np.empty(node.shape, dtype=object)
            for index in np.ndindex(*node.shape):
                result[index] = Val(e, op.llvm(e, *[_atom(e, p[index]) for p in parts]))
        result = np.asarray(result, dtype=object)
        if node.op == "broadcast_to" and result.size > 1 and not any(result.strides):
            return result  # one number everywhere: a view (``_to_buffer`` fills memory with a loop)
        if result.shape != tuple(node.shape):
            raise UnsupportedError(f"llvm: op {node.op!r} of shape {node.shape} unrolled to {result.shape}; {_WORKS}")
        if not node.shape:
            return _atom(e, result.reshape(()).item())
        return np.vectorize(lambda x: x if isinstance(x, Val) else Val(e, _atom(e, x)), otypes=[object])(result)

    # --- loops ---

    def scan(self, env: dict, node: Node, items: dict) -> None:
        e = self.e
        body, length, reverse = node.params
        nc, nx, ny = len(body.carries), len(body.xs), len(body.ys)
        init, xs, params = loops.operands(node)
        slots = []  # per carry, one slot per number (a tensor carry: its numbers in C order)
        for p, a in zip(body.carries, init):
            mine = []
            for v in self.numbers(self.value(env, a), p.shape):
                slot = f"%carry{self.label('')}"
                self.allocas.append(f"  {slot} = alloca double")
                e.lines.append(f"  store double {v}, ptr {slot}")
                mine.append(slot)
            slots.append(mine)
        seqs = []
        for x in xs:
            v = env.get(x.id)
            if x.op == "const":
                v = self.constants.get(x.id)
                if v is None:
                    v = self.constants[x.id] = self.constant(np.asarray(x.value, dtype=float))
            elif not isinstance(v, Buffer) or not v.contiguous:  # (a view: its rows copied)
                v = self._to_buffer(self.value(env, x))
            seqs.append(v)
        outside = [self.value(env, a) for a in params]  # (before the loop: values it reads at every step)
        ys = {j: self.buffer(items[nc + j].shape) for j in range(ny) if nc + j in items}
        history = {i: self.buffer(items[nc + ny + i].shape) for i in range(nc) if nc + ny + i in items}
        stop = body.until is not None and not ys and not history
        counter = f"%i{self.label('')}"
        self.allocas.append(f"  {counter} = alloca i64")
        e.lines.append(f"  store i64 0, ptr {counter}")
        head, step, done = self.label("head"), self.label("step"), self.label("done")
        i, more = e._fresh(), e._fresh()
        e.lines += [f"  br label %{head}", f"{head}:", f"  {i} = load i64, ptr {counter}",
                    f"  {more} = icmp slt i64 {i}, {length}", f"  br i1 {more}, label %{step}, label %{done}",
                    f"{step}:"]
        t = i
        if reverse:
            t = e._fresh()
            e.lines.append(f"  {t} = sub i64 {length - 1}, {i}")
        scope = dict(env)
        for p, mine in zip(body.carries, slots):
            scope[p.id] = self.load_slots(mine, p.shape)
        for k, buf in history.items():
            row = self.ptr(buf, t)
            for j, v in enumerate(self.numbers(scope[body.carries[k].id], body.carries[k].shape)):
                e.store(v, row, j)
        for p, buf in zip(body.xs, seqs):
            row = self.ptr(buf, t)
            if p.shape:
                size = int(np.prod(p.shape))
                flat = np.empty(size, dtype=object)
                flat[:] = [Val(e, e.load(row, k)) for k in range(size)]
                scope[p.id] = flat.reshape(p.shape)
            else:
                scope[p.id] = e.load(row, 0)
        for p, v in zip(body.params, outside):
            scope[p.id] = v
        if body.index is not None:
            scope[body.index.id] = k = e._fresh()
            e.lines.append(f"  {k} = sitofp i64 {t} to double")
        roots = list(body.new_carries) + [body.ys[j] for j in ys] + ([body.until] if stop else [])
        placeholders = {p.id for p in body.inputs}
        order = [n for n in loops.body_order(body, roots) if n.op not in ("var",) and n.id not in placeholders]
        inner_items: dict = {}
        for n in order:
            if n.op == "item":
                inner_items.setdefault(n.args[0].id, {})[n.params[0]] = n
        for n in order:
            if n.op != "const":
                self.statement(scope, n, inner_items)
        for j, buf in ys.items():
            y = self.value(scope, body.ys[j])
            row = self.ptr(buf, t)
            for k, v in enumerate(np.ravel(np.asarray(y, dtype=object)) if not isinstance(y, str) else [y]):
                e.store(_atom(e, v), row, k)
        news = [self.numbers(self.value(scope, n), n.shape) for n in body.new_carries]
        for mine, vs in zip(slots, news):
            for slot, v in zip(mine, vs):
                e.lines.append(f"  store double {v}, ptr {slot}")
        nxt = e._fresh()
        e.lines.append(f"  {nxt} = add i64 {i}, 1")
        e.lines.append(f"  store i64 {nxt}, ptr {counter}")
        if stop:  # converged: the remaining steps change nothing
            e.lines.append(f"  br i1 {self.value(scope, body.until)}, label %{done}, label %{head}")
        else:
            e.lines.append(f"  br label %{head}")
        e.lines.append(f"{done}:")
        for k, n in items.items():
            if k < nc:
                env[n.id] = self.load_slots(slots[k], body.carries[k].shape)
            elif k < nc + ny:
                env[n.id] = ys[k - nc]
            else:
                env[n.id] = history[k - nc - ny]

    def numbers(self, value, shape: tuple) -> list[str]:
        """A value's numbers as atoms, in C order (a scalar: itself; a tensor: broadcast to ``shape``)."""
        if isinstance(value, str) and not shape:
            return [value]
        arr = np.broadcast_to(np.asarray(Val(self.e, value) if isinstance(value, str) else value, dtype=object), shape)
        return [_atom(self.e, v) for v in arr.ravel()]

    def load_slots(self, slots: list[str], shape: tuple):
        """The numbers in ``slots``: a scalar's SSA name, or a tensor as an array of ``Val``."""
        e = self.e
        names = []
        for slot in slots:
            c = e._fresh()
            e.lines.append(f"  {c} = load double, ptr {slot}")
            names.append(c)
        if not shape:
            return names[0]
        out = np.empty(len(names), dtype=object)
        out[:] = [Val(e, c) for c in names]
        return out.reshape(shape)

    def counted(self, n: int):
        """A loop ``for k in range(n)`` about the lines emitted inside ``with``: yields ``k`` (i64)."""
        return _Counted(self, n)

    def total(self, buf: Buffer) -> str:
        """The sum of a buffer's numbers, in order (as NumPy's pairwise sum is not: they may differ
        in the last bits)."""
        e = self.e
        acc = f"%acc{self.label('')}"
        self.allocas.append(f"  {acc} = alloca double")
        e.lines.append(f"  store double {e.const(0.0)}, ptr {acc}")
        base = self.ptr(buf)
        with self.counted(buf.size) as k:
            p, x, old, new = e._fresh(), e._fresh(), e._fresh(), e._fresh()
            e.lines += [f"  {p} = getelementptr inbounds double, ptr {base}, i64 {k}", f"  {x} = load double, ptr {p}",
                        f"  {old} = load double, ptr {acc}", f"  {new} = fadd double {old}, {x}",
                        f"  store double {new}, ptr {acc}"]
        r = e._fresh()
        e.lines.append(f"  {r} = load double, ptr {acc}")
        return r

    def constant(self, values: np.ndarray) -> Buffer:
        """A constant sequence as an LLVM global (not one store per number)."""
        name = f"@data{len(self.globals)}"
        flat = values.ravel()
        self.globals.append(f"{name} = private unnamed_addr constant [{max(1, flat.size)} x double] ["
                            + ", ".join(f"double {llvm._double(v)}" for v in (flat if flat.size else [0.0])) + "]")
        return Buffer(0, values.shape, name)

    def _to_buffer(self, value) -> Buffer:
        """A sequence made outside a loop, stored for the loop to read row by row."""
        arr = np.asarray(value, dtype=object)
        buf = self.buffer(arr.shape)
        base = self.ptr(buf)
        flat = arr.ravel()
        first = _atom(self.e, flat[0]) if flat.size else None
        if flat.size > 1 and (not any(arr.strides) or all(_atom(self.e, v) == first for v in flat)):
            with self.counted(flat.size) as k:  # one number everywhere (a broadcast): a loop fills it
                self.e.store(first, base, k)
            return buf
        for k, v in enumerate(arr.ravel()):
            self.e.store(_atom(self.e, v), base, k)
        return buf


class _Counted:
    def __init__(self, printer: _Printer, n: int):
        self.p, self.n = printer, n

    def __enter__(self) -> str:
        p, e = self.p, self.p.e
        self.slot = f"%k{p.label('')}"
        p.allocas.append(f"  {self.slot} = alloca i64")
        self.head, step, self.done = p.label("head"), p.label("step"), p.label("done")
        self.k, more = e._fresh(), e._fresh()
        e.lines += [f"  store i64 0, ptr {self.slot}", f"  br label %{self.head}", f"{self.head}:",
                    f"  {self.k} = load i64, ptr {self.slot}", f"  {more} = icmp slt i64 {self.k}, {self.n}",
                    f"  br i1 {more}, label %{step}, label %{self.done}", f"{step}:"]
        return self.k

    def __exit__(self, *exc) -> None:
        e = self.p.e
        nxt = e._fresh()
        e.lines += [f"  {nxt} = add i64 {self.k}, 1", f"  store i64 {nxt}, ptr {self.slot}",
                    f"  br label %{self.head}", f"{self.done}:"]


def emit(inputs: Sequence[Node], outputs: Sequence[Node], statements: Sequence[Node]) -> llvm.NativeModule:
    """LLVM IR of ``kernel`` (``codegen.llvm``'s signature) for a schedule holding loops: one function."""
    why = refusal(inputs, outputs, statements)
    if why is not None:
        raise UnsupportedError(f"backend 'llvm' cannot compile this function with loops: {why}; {_WORKS}")
    pr = _Printer(inputs)
    e = pr.e
    # a tensor input stays in ``in`` (a loop reads its rows there); read as numbers, it is loaded once
    env: dict = {n.id: Buffer(pr.slot_in[n.id], n.shape, "%in") for n in inputs if n.shape}
    items: dict = {}
    for n in statements:
        if n.op == "item":
            items.setdefault(n.args[0].id, {})[n.params[0]] = n
    for n in statements:
        pr.statement(env, n, items)
    for node, at in zip(outputs, offsets(outputs)):  # output k's numbers at out[(at + j) * stride]
        v = env.get(node.id)
        if isinstance(v, Buffer) and v.size > 1 and v.contiguous:  # in memory (a loop's ys, an input): copied by a loop
            base = pr.ptr(v)
            with pr.counted(v.size) as j:
                p, x, where, index = e._fresh(), e._fresh(), e._fresh(), e._fresh()
                e.lines += [f"  {p} = getelementptr inbounds double, ptr {base}, i64 {j}",
                            f"  {x} = load double, ptr {p}", f"  {where} = add i64 {j}, {at}",
                            f"  {index} = mul i64 {where}, %stride"]
                e.store(x, "%out", index, index_doubles=True)
            continue
        v = pr.value(env, node)
        if node.dtype == "bool":
            v = e.to_double(v)
        for j, x in enumerate(pr.numbers(v, node.shape)):
            e.store(x, "%out", llvm._out_index(e, at + j), index_doubles=True)
    text = ("define void @kernel(ptr noalias %in, ptr noalias %out, i64 %stride, ptr noalias %s) nounwind {\n"
            "entry:\n" + "\n".join(pr.allocas + e.lines) + "\n  ret void\n}")
    n_in, n_out = sum(map(_size, inputs)), sum(map(_size, outputs))  # numbers: tensors flat, in C order
    return llvm.NativeModule([llvm._module_text(e.declared, pr.globals + [text])], n_in, n_out,
                             max(1, pr.n_scratch), {})
