"""Tensors in memory on the llvm loops target: views, elementwise ops and sums as loops.

``codegen.llvm_loops`` unrolls a tensor outside the loops into scalars: one instruction per
number, which LLVM's code generation pays for superlinearly in one basic block (the ODE fit's
sensitivities against its data: about 8,000 instructions, most of its compile). Where an
operand is already in memory (a loop's stacked results, a tensor input, a constant), this
module keeps the result there instead:

* a view (``reshape``, ``getitem`` by slices and numbers, ``transpose``, ``broadcast_to``) is
  the same memory with other strides: NumPy computes them on an array of the numbers'
  addresses, and the view stays a ``Buffer`` where those addresses are affine;
* an elementwise op is one loop nest writing a new buffer (operands broadcast by zero strides);
* a sum over axes is one loop nest accumulating into a buffer of the kept axes;
* a ``concatenate`` along the first axis stores its unrolled parts and copies its buffers.

Everything else reads the numbers (``_Printer.value`` loads them), as before.

>>> import numpy as np
>>> strides_of(np.arange(12).reshape(3, 4)[:, 1:3])
(1, (4, 1))
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..ir import Node
from ..ir.ops import OPS
from .llvm_tensor_printer import contiguous

#: the fewest numbers a result needs to become a loop (smaller ones unroll: no loop overhead)
LOOP_MIN = 64
_VIEWS = frozenset({"reshape", "getitem", "transpose", "broadcast_to"})


def _size(n: Node) -> int:
    return int(np.prod(n.shape, dtype=np.int64))


def offsets(nodes) -> list[int]:
    """Where each of ``nodes`` starts in the kernel's flat ``in`` (or ``out``): its numbers in C order."""
    at, out = 0, []
    for n in nodes:
        out.append(at)
        at += _size(n)
    return out


def strides_of(addresses: np.ndarray) -> tuple[int, tuple] | None:
    """(offset, strides) with ``addresses[i] == offset + sum(i_d * strides_d)``, or None."""
    if addresses.size == 0:
        return None
    offset = int(addresses.reshape(-1)[0])
    strides = []
    for d, n in enumerate(addresses.shape):
        if n == 1:
            strides.append(0)
            continue
        at = [0] * addresses.ndim
        at[d] = 1
        strides.append(int(addresses[tuple(at)]) - offset)
    grid = np.indices(addresses.shape).reshape(addresses.ndim, -1) if addresses.ndim else np.zeros((0, 1), int)
    expected = offset + np.dot(np.asarray(strides, dtype=np.int64), grid) if addresses.ndim else np.array([offset])
    if not np.array_equal(expected, addresses.reshape(-1)):
        return None
    return offset, tuple(strides)


def addresses(buf) -> np.ndarray:
    """The address (in numbers from ``buf.base``) of each number of ``buf``, as an array of its shape."""
    if not buf.shape:
        return np.array(buf.offset, dtype=np.int64)
    grid = np.indices(buf.shape, dtype=np.int64)
    return buf.offset + np.tensordot(np.asarray(buf.strides, dtype=np.int64), grid, axes=1)


c_strides = contiguous  # (the strides of a C-ordered shape, in numbers)


def try_op(pr, env: dict, node: Node):
    """``node`` computed in memory (a ``Buffer``), or None where it unrolls as before."""
    from .llvm_loops import Buffer
    if not node.shape or node.dtype == "bool" or int(np.prod(node.shape)) < LOOP_MIN and node.op != "sum":
        return None
    ins = [env.get(a.id) for a in node.args]
    if not any(isinstance(v, Buffer) for v in ins):
        return None
    op = OPS[node.op]
    kw = dict(zip(op.params or (), node.params or ()))
    if node.op in _VIEWS:
        buf = ins[0]
        if node.op == "getitem" and any(k[0] not in ("int", "slice") for k in kw["index"]):
            return None
        viewed = op.impl(addresses(buf), **kw)
        found = strides_of(np.asarray(viewed))
        if found is None or tuple(np.shape(viewed)) != tuple(node.shape):
            return None
        return Buffer(found[0], tuple(node.shape), buf.base, found[1])
    if node.op == "sum":
        axes = kw["axes"]
        if not isinstance(ins[0], Buffer) or axes is None or not node.shape:
            return None
        return _sum(pr, ins[0], tuple(axes), tuple(node.shape), bool(kw.get("keepdims")))
    if node.op == "concatenate" and kw.get("axis") == 0:
        return _concatenate(pr, env, node)
    if op.llvm is not None and op.impl is None and all(a.dtype != "bool" for a in node.args):
        return _elementwise(pr, env, node)
    return None


@contextlib.contextmanager
def _nest(pr, shape: tuple):
    """Loops over every index of ``shape``: yields one i64 name per axis."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(pr.counted(n)) for n in shape]


def _address(pr, buf, index: list[str], axes: list[int] | None = None) -> str:
    """The pointer to ``buf``'s number at ``index`` (i64 names), its axes ``axes`` of the nest."""
    e = pr.e
    at = str(buf.offset)
    for k, stride in zip(index if axes is None else [index[a] for a in axes], buf.strides):
        if stride:
            m, s = e._fresh(), e._fresh()
            e.lines += [f"  {m} = mul i64 {k}, {stride}", f"  {s} = add i64 {at}, {m}"]
            at = s
    p = e._fresh()
    e.lines.append(f"  {p} = getelementptr inbounds double, ptr {buf.base}, i64 {at}")
    return p


def _in_memory(pr, value, shape: tuple):
    """An operand as a ``Buffer`` broadcast to ``shape`` (zero strides), or an atom (one number)."""
    from .llvm_loops import Buffer, Val, _atom
    if isinstance(value, str):
        return value
    if not isinstance(value, Buffer):
        arr = np.asarray(value, dtype=object)
        if arr.size == 1:
            return _atom(pr.e, arr.reshape(-1)[0])
        if all(not isinstance(v, Val) for v in arr.reshape(-1)):  # numbers: an LLVM constant
            value = pr.constant(np.asarray(arr, dtype=float))
        else:
            value = pr._to_buffer(arr)
    lead = len(shape) - len(value.shape)
    strides = [0] * lead + [s if n != 1 else 0 for s, n in zip(value.strides, value.shape)]
    return Buffer(value.offset, shape, value.base, tuple(strides))


def _elementwise(pr, env: dict, node: Node):
    from .llvm_loops import Buffer
    e = pr.e
    shape = tuple(node.shape)
    operands = []
    for a in node.args:
        v = env.get(a.id)
        operands.append(_in_memory(pr, v if v is not None else pr.value(env, a), shape))
    out = pr.buffer(shape)
    out.strides = c_strides(shape)
    with _nest(pr, shape) as index:
        atoms = []
        for v in operands:
            atoms.append(e.load(_address(pr, v, index), 0) if isinstance(v, Buffer) else v)
        e.store(OPS[node.op].llvm(e, *atoms), _address(pr, out, index), 0)
    return out


def _sum(pr, buf, axes: tuple, shape: tuple, keepdims: bool):
    from .llvm_loops import Buffer
    e = pr.e
    axes = tuple(a % len(buf.shape) for a in axes)
    kept = [d for d in range(len(buf.shape)) if d not in axes]
    out = pr.buffer(shape)
    out.strides = c_strides(shape)
    # ``out`` seen with the input's axes: a summed axis has stride 0 (every number adds to one place)
    strides = [0 if d in axes else out.strides[d if keepdims else kept.index(d)] for d in range(len(buf.shape))]
    into = Buffer(out.offset, buf.shape, out.base, tuple(strides))
    with _nest(pr, shape) as index:
        e.store(e.const(0.0), _address(pr, out, index), 0)
    with _nest(pr, buf.shape) as index:
        x = e.load(_address(pr, buf, index), 0)
        p = _address(pr, into, index)
        old = e.load(p, 0)
        e.store(e.binary("fadd", old, x), p, 0)
    return out


def _concatenate(pr, env: dict, node: Node):
    from .llvm_loops import Buffer, _atom
    e = pr.e
    out = pr.buffer(tuple(node.shape))
    out.strides = c_strides(tuple(node.shape))
    row = 0
    for a in node.args:
        v = env.get(a.id)
        part = Buffer(out.offset + row * out.strides[0], tuple(a.shape), out.base, out.strides)
        if isinstance(v, Buffer):
            with _nest(pr, tuple(a.shape)) as index:
                e.store(e.load(_address(pr, v, index), 0), _address(pr, part, index), 0)
        else:
            flat = np.asarray(pr.value(env, a) if v is None else v, dtype=object)
            flat = np.broadcast_to(flat, a.shape)
            for i in np.ndindex(*a.shape):
                at = part.offset + sum(k * s for k, s in zip(i, part.strides))
                e.store(_atom(e, flat[i]), out.base, at)
        row += a.shape[0]
    return out
