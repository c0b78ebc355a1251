"""The printer of tensor kernels (``codegen.llvm_tensor``): views, scratch buffers, loop nests,
loads and stores through views (one number, or a vector of them), BLAS calls by pointer.

>>> contiguous((2, 3, 4))
(12, 4, 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .llvm import Emitter, _double, _to_float32

BLAS_PREFIX = "cc_blas_"  # an LLVM symbol of a BLAS function: this prefix and its name (``dgemm``)
ALIGN = 8  # numbers: every scratch buffer starts at a multiple of this many (a cache line in float64)

@dataclass(frozen=True)
class View:
    """A tensor as ``base[offset + sum(i_d * strides[d])]``; ``value`` for a number (an SSA value)."""
    base: str = ""
    offset: int = 0
    strides: tuple = ()
    shape: tuple = ()
    value: str = ""


def contiguous(shape: tuple) -> tuple:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


class Scratch:
    """First-fit allocation of buffers in ``scratch``, freed after their last reader."""

    def __init__(self):
        self.free: list = []  # [offset, size]
        self.top = 0

    def take(self, size: int) -> int:
        size = max(ALIGN, -(-size // ALIGN) * ALIGN)
        for block in self.free:
            if block[1] >= size:
                block[0], block[1] = block[0] + size, block[1] - size
                return block[0] - size
        self.top += size
        return self.top - size

    def give(self, offset: int, size: int) -> None:
        self.free.append([offset, max(ALIGN, -(-size // ALIGN) * ALIGN)])


class Printer:
    """Prints one kernel: loop nests, loads and stores through views, BLAS calls."""

    def __init__(self, precision: str, width: int = 1, mangle=None):
        self.e = Emitter(set(), 1, None, precision)
        self.F = self.e.F
        self.v: Emitter | None = None  # the same function's vector emitter (``width`` numbers a value)
        if width > 1:
            self.v = Emitter(self.e.declared, width, mangle, precision)
            self.v.lines, self.v._fresh = self.e.lines, self.e._fresh
        self.allocas: list[str] = []
        self.globals: list[str] = []
        self.blas: set = set()
        self._labels = 0
        self.scratch = Scratch()

    def temp(self, shape: tuple) -> View:
        """A contiguous buffer in scratch for a copy (kept to the end: copies are rare)."""
        return View("%s", self.scratch.take(math.prod(shape)), contiguous(shape), shape)

    def fresh(self) -> str:
        return self.e._fresh()

    def label(self) -> str:
        self._labels += 1
        return f"L{self._labels}"

    def emit(self, line: str) -> None:
        self.e.lines.append(line)

    def slot(self, type_: str) -> str:
        """A stack slot in the entry block (LLVM's mem2reg makes it a register)."""
        r = self.fresh()
        self.allocas.append(f"  {r} = alloca {type_}")
        return r

    def loops(self, shape: tuple, body, ix: tuple = ()) -> None:
        """A loop nest over ``shape`` (last axis innermost); ``body(indices)`` prints the body."""
        if not shape:
            body(list(ix))
            return
        counter = self.slot("i64")
        self.emit(f"  store i64 0, ptr {counter}")
        self.count(counter, shape[0], 1, lambda i: self.loops(shape[1:], body, ix + (i,)))

    def vector_loops(self, shape: tuple, width: int, vector_body, body) -> None:
        """``loops`` whose innermost axis runs ``width`` numbers per step (``vector_body``), then
        the rest one by one (``body``)."""
        def inner(ix):
            counter = self.slot("i64")
            self.emit(f"  store i64 0, ptr {counter}")
            whole = shape[-1] - shape[-1] % width
            if whole:
                self.count(counter, whole, width, lambda i: vector_body(ix + [i]))
            if whole < shape[-1]:  # (the counter goes on from ``whole``)
                self.count(counter, shape[-1], 1, lambda i: body(ix + [i]))
        self.loops(shape[:-1], inner)

    def count(self, counter: str, limit: int, step: int, body) -> None:
        """``while counter < limit: body(counter); counter += step``."""
        head, inner, done = self.label(), self.label(), self.label()
        i, more, n = self.fresh(), self.fresh(), self.fresh()
        self.emit(f"  br label %{head}")
        self.emit(f"{head}:")
        self.emit(f"  {i} = load i64, ptr {counter}")
        self.emit(f"  {more} = icmp slt i64 {i}, {limit}")
        self.emit(f"  br i1 {more}, label %{inner}, label %{done}")
        self.emit(f"{inner}:")
        body(i)
        self.emit(f"  {n} = add nuw nsw i64 {i}, {step}")
        self.emit(f"  store i64 {n}, ptr {counter}")
        self.emit(f"  br label %{head}")
        self.emit(f"{done}:")

    def address(self, view: View, indices: Sequence[str], strides: tuple | None = None) -> str:
        """A pointer to the number at ``indices`` of ``view`` (``strides``: the view's, aligned to them)."""
        strides = view.strides if strides is None else strides
        offset = str(view.offset)
        for i, s in zip(indices, strides):
            if s == 0:
                continue
            term = i
            if s != 1:
                term = self.fresh()
                self.emit(f"  {term} = mul nsw i64 {i}, {s}")
            total = self.fresh()
            self.emit(f"  {total} = add nsw i64 {offset}, {term}")
            offset = total
        p = self.fresh()
        self.emit(f"  {p} = getelementptr inbounds {self.F}, ptr {view.base}, i64 {offset}")
        return p

    def load(self, view: View, indices: Sequence[str], strides: tuple | None = None, flag: bool = False) -> str:
        if view.value:
            return view.value
        r = self.fresh()
        self.emit(f"  {r} = load {self.F}, ptr {self.address(view, indices, strides)}")
        return self.e.to_flag(r) if flag else r

    def vector_load(self, view: View, indices: Sequence[str], strides: tuple, flag: bool) -> str:
        """``width`` numbers from ``indices`` on along the last axis (stride 1, or 0: one number splat)."""
        v = self.v
        assert v is not None
        if view.value or strides[-1] == 0:
            scalar = view.value or self.load(view, indices, strides)
            if view.value and flag:  # a flag: splat as flags
                return self._splat(scalar, "i1", v.B)
            r = self._splat(scalar, self.F, v.T)
            return v.to_flag(r) if flag else r
        r = self.fresh()
        self.emit(f"  {r} = load {v.T}, ptr {self.address(view, indices, strides)}, align {self._size}")
        return v.to_flag(r) if flag else r

    def vector_store(self, value: str, view: View, indices: Sequence[str], flag: bool = False) -> None:
        v = self.v
        assert v is not None
        if flag:
            value = v.to_double(value)
        self.emit(f"  store {v.T} {value}, ptr {self.address(view, indices)}, align {self._size}")

    @property
    def _size(self) -> int:
        return 4 if self.e.single else 8

    def _splat(self, scalar: str, type_: str, vector: str) -> str:
        one, r = self.fresh(), self.fresh()
        width = self.v.width  # type: ignore[union-attr]
        self.emit(f"  {one} = insertelement {vector} poison, {type_} {scalar}, i32 0")
        self.emit(f"  {r} = shufflevector {vector} {one}, {vector} poison, <{width} x i32> zeroinitializer")
        return r

    def store(self, value: str, view: View, indices: Sequence[str], flag: bool = False) -> None:
        if flag:
            value = self.e.to_double(value)
        self.emit(f"  store {self.F} {value}, ptr {self.address(view, indices)}")

    def constant(self, value) -> View:
        """An array constant: an LLVM global of its numbers."""
        array = np.ascontiguousarray(value, dtype=np.float64)
        numbers = [_double(_to_float32(v) if self.e.single else v) for v in array.ravel().tolist()]
        name = f"@c{len(self.globals)}"
        self.globals.append(f"{name} = private unnamed_addr constant [{len(numbers)} x {self.F}] "
                            f"[{', '.join(f'{self.F} {v}' for v in numbers)}], align 16")
        return View(name, 0, contiguous(array.shape), array.shape)

    # --- BLAS (Fortran calling convention: every argument by pointer) ---

    def _by_pointer(self, type_: str, value: str) -> str:
        p = self.slot(type_)
        self.emit(f"  store {type_} {value}, ptr {p}")
        return p

    def blas_call(self, name: str, args: list) -> None:
        """``name`` (``gemm``/``gemv``) of this precision, on ``(type, value)`` arguments."""
        full = ("s" if self.e.single else "d") + name
        self.blas.add(full)
        pointers = [v if t == "ptr" else self._by_pointer(t, v) for t, v in args]
        self.emit(f"  call void @{BLAS_PREFIX}{full}({', '.join(f'ptr {p}' for p in pointers)})")

    def pointer(self, view: View) -> str:
        p = self.fresh()
        self.emit(f"  {p} = getelementptr inbounds {self.F}, ptr {view.base}, i64 {view.offset}")
        return p
