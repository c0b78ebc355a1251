"""Small matrix products as loop nests in the tensor kernel (``codegen.llvm_tensor``), in vectors.

``C = A @ B`` (``A`` of shape (m, k), ``B`` (k, n), ``n`` a multiple of the vector width): for
each pair of rows of ``C`` and each block of columns, the block's accumulators stay in vector
registers while ``k`` runs: one number of ``A`` broadcast, one vector of ``B``'s row, a
multiply-add per accumulator. ``B``'s rows are read as vectors (a transposed ``B`` is copied
once, contiguously); ``A`` is read one number at a time, so a transposed ``A`` costs nothing.

Each number of ``C`` sums its ``k`` products in order, from ``k = 0``, as a loop in Python
would: the result differs from BLAS's (which adds in blocks) by rounding only.

Why: BLAS's ``dgemm`` on the MLP's products (256x64 @ 64x64 and its transposes) spends its
time packing and dispatching for sizes this small; see ``docs/benchmarks.md`` (MLP).
"""

from __future__ import annotations

from .llvm_tensor_printer import Printer, View

# Products of at most this many multiply-adds are loop nests; larger ones call BLAS (its cache
# blocking pays off where the operands leave the caches).
LOOP_PRODUCT = 1 << 22
ROWS = 2  # rows of C per step: each vector of B read serves both


def fits(p: Printer, a: View, b: View) -> bool:
    """Whether ``a @ b`` (matrices) is computed here: vector math available, ``n`` whole vectors."""
    if p.v is None or len(a.shape) != 2 or len(b.shape) != 2:
        return False
    (m, k), n = a.shape, b.shape[1]
    return n % p.v.width == 0 and 0 < m * n * k <= LOOP_PRODUCT


def product(p: Printer, a: View, b: View, out: View) -> None:
    """``out = a @ b`` by loop nests (``fits`` said yes); ``out`` contiguous."""
    v = p.v
    assert v is not None
    (m, k), n = a.shape, b.shape[1]
    if b.strides[1] != 1:  # rows of B as vectors: a contiguous copy first
        copy = p.temp(b.shape)
        p.loops(b.shape, lambda ix: p.store(p.load(b, ix), copy, ix))
        b = copy
    vectors = n // v.width
    # accumulators per block: half the vector registers (32 with 64-byte vectors, else 16)
    budget = 16 if v.width * (4 if v.single else 8) >= 64 else 8
    per_block = max(1, min(vectors, budget // ROWS))
    whole = m - m % ROWS
    for first in range(0, vectors, per_block):
        count = min(per_block, vectors - first)
        if whole:
            _block(p, a, b, out, ROWS, whole, 0, first, count)
        if whole < m:
            _block(p, a, b, out, 1, m, whole, first, count)


def _block(p: Printer, a: View, b: View, out: View, rows: int, stop: int, start: int, first: int,
           count: int) -> None:
    """Rows ``start .. stop`` of ``out`` (``rows`` at a time), vectors ``first .. first + count``
    of their columns."""
    v = p.v
    assert v is not None
    width, k = v.width, a.shape[1]
    acc = [[p.slot(v.T) for _ in range(count)] for _ in range(rows)]
    row_counter = p.slot("i64")
    p.emit(f"  store i64 {start}, ptr {row_counter}")

    def over_rows(i):
        at = [i] + [_plus(p, i, r) for r in range(1, rows)]
        for slots in acc:
            for s in slots:
                p.emit(f"  store {v.T} zeroinitializer, ptr {s}")
        k_counter = p.slot("i64")
        p.emit(f"  store i64 0, ptr {k_counter}")

        def over_k(kk):
            numbers = [p._splat(p.load(a, [row, kk]), p.F, v.T) for row in at]
            for j in range(count):
                column = str((first + j) * width)
                vector = p.vector_load(b, [kk, column], (b.strides[0], 1), False)
                for r in range(rows):
                    old = _load(p, acc[r][j])
                    p.emit(f"  store {v.T} {v.binary('fadd', old, v.binary('fmul', numbers[r], vector))}, "
                           f"ptr {acc[r][j]}")
        p.count(k_counter, k, 1, over_k)
        for r in range(rows):
            for j in range(count):
                column = str((first + j) * width)
                p.vector_store(_load(p, acc[r][j]), out, [at[r], column])
    p.count(row_counter, stop, rows, over_rows)


def _plus(p: Printer, i: str, r: int) -> str:
    s = p.fresh()
    p.emit(f"  {s} = add nuw nsw i64 {i}, {r}")
    return s


def _load(p: Printer, slot: str) -> str:
    r = p.fresh()
    p.emit(f"  {r} = load {p.v.T}, ptr {slot}")  # type: ignore[union-attr]
    return r

