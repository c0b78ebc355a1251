"""Structural sparsity: which elements of the ``wrt`` inputs each output element depends on.

Data only: the pattern is propagated element by element through the graph, one
node at a time in topological order, without forming any dense matrix. A
node's pattern has one row per element (C order) listing the ``wrt`` elements
(the Jacobian's columns: the inputs' elements one after the other) it depends
on. Scalar nodes hold a ``frozenset`` (graphs of many scalars stay cheap);
tensor nodes hold a CSR pair ``(indptr, indices)`` and each tensor op says, as
index arrays, which operand elements each of its elements reads
(``_dependencies``): elementwise ops and broadcasting, slicing and integer
indexing, ``take`` and its adjoint, reductions, ``cumsum``, ``reshape``,
``transpose``, ``concatenate``, triangles, ``matmul`` (a constant operand's zeros are used: a sparse
constant matrix gives a sparse pattern) and ``where`` (not its condition).
An operand whose vjp rule gives no contribution (comparisons, ``sign``,
``stop_gradient``, a condition) is not a dependence, so the pattern is that of
the derivatives the reverse pass computes. An op the module does not know is
taken as dense in its operands (conservative).

Cost: about the total size of the patterns (sorting where rows merge), so time
and memory are near-linear in the graph size times the row width. A pattern
that would exceed ``MAX_NONZEROS`` raises before it is allocated.

>>> import compiler as cc
>>> x = cc.Tensor("x", (4,))
>>> print(jacobian_pattern([x[1:] - x[:-1] ** 2], [x]).toarray().astype(int))
[[1 1 0 0]
 [0 1 1 0]
 [0 0 1 1]]
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .. import ir
from ..errors import ShapeError, UnsupportedError
from ..ir import Node
from ..ir.ops import OPS
from ..ir.special import NoDerivative
from . import reverse

MAX_NONZEROS = 100_000_000  # entries of one node's pattern (~1.6 GB while rows are merged)
_EMPTY = frozenset()


def jacobian_pattern(outputs: Sequence[Node], wrt: Sequence[Node], max_nonzeros: int = MAX_NONZEROS):
    """The structural Jacobian of ``outputs`` with respect to ``wrt`` as a boolean
    ``scipy.sparse.csr_matrix``: one row per output element (the outputs one after the
    other, each in C order), one column per ``wrt`` element likewise."""
    import scipy.sparse as sp
    n_cols = sum(math.prod(w.shape) for w in wrt)
    rows = _propagate(outputs, wrt, n_cols, max_nonzeros)
    indptrs, indices, at = [np.zeros(1, np.int64)], [], 0
    for out in outputs:
        indptr, index = _as_csr(rows.get(out.id), math.prod(out.shape))
        indptrs.append(indptr[1:] + at)
        indices.append(index)
        at += len(index)
    indptr = np.concatenate(indptrs)
    index = np.concatenate(indices) if indices else np.zeros(0, np.int64)
    n_rows = len(indptr) - 1
    return sp.csr_matrix((np.ones(len(index), dtype=bool), index, indptr), shape=(n_rows, n_cols))


def hessian_pattern(output: Node, gradient: Sequence[Node], wrt: Sequence[Node],
                    max_nonzeros: int = MAX_NONZEROS):
    """The structural Hessian of the scalar ``output``: the Jacobian pattern of its
    ``gradient`` (the reverse pass's IR, one entry per ``wrt``), made symmetric."""
    if output.shape:
        raise ShapeError(f"the Hessian is of a scalar output; this one has shape {output.shape} "
                         "(for its first derivatives use jacobian_sparsity)")
    pattern = jacobian_pattern(gradient, wrt, max_nonzeros)
    return (pattern + pattern.T).tocsr()


# --- the propagation ---

def _propagate(outputs: Sequence[Node], wrt: Sequence[Node], n_cols: int, limit: int) -> dict:
    order = ir.topo_order(outputs)
    dep = reverse.depends_on(order, wrt)
    rows: dict[int, object] = {}
    offset = 0
    for w in wrt:
        size = math.prod(w.shape)
        rows[w.id] = (frozenset((offset,)) if not w.shape else
                      (np.arange(size + 1, dtype=np.int64), np.arange(offset, offset + size, dtype=np.int64)))
        offset += size
    uses: dict[int, int] = {}  # how many nodes still read each pattern: freed after the last
    for node in order:
        for a in node.args:
            uses[a.id] = uses.get(a.id, 0) + 1
    keep = {o.id for o in outputs}
    for node in order:
        if node.id in dep and node.op == "scan":  # a loop: each result may read every input it has
            rows[node.id] = _loop_rows(node, rows)
        elif node.id in dep and node.args and node.dtype == "float":
            rows[node.id] = _node_rows(node, rows, n_cols, limit)
        for a in node.args:
            uses[a.id] -= 1
            if not uses[a.id] and a.id not in keep:
                rows.pop(a.id, None)
    return rows


def _loop_rows(node: Node, rows: dict) -> frozenset | None:
    """The columns any operand of a loop reads (conservative: the body is not looked into)."""
    out: set[int] = set()
    for a in node.args:
        p = rows.get(a.id)
        if p is not None:
            out |= p if isinstance(p, frozenset) else set(_as_csr(p, 1)[1].tolist())
    return frozenset(out) if out else None


def _node_rows(node: Node, rows: dict, n_cols: int, limit: int):
    live = [k for k in _differentiable(node) if rows.get(node.args[k].id) is not None]
    if not live:
        return None
    if not node.shape and OPS[node.op].shape_rule is None:  # a scalar op of scalars: sets
        if len(live) == 1:
            return rows[node.args[live[0]].id]
        out = set()
        for k in live:
            p = rows[node.args[k].id]
            out |= p if isinstance(p, frozenset) else set(_as_csr(p, 1)[1].tolist())
        return frozenset(out)
    if node.op == "reshape":  # the same elements in the same (C) order
        p = rows[node.args[0].id]
        return p if (node.shape == ()) == isinstance(p, frozenset) else _same_rows(p, node)
    parts = []
    for k, targets, sources in _dependencies(node, live, limit):
        parts.append((_as_csr(rows[node.args[k].id], math.prod(node.args[k].shape)), targets, sources))
    result = _gather(math.prod(node.shape), n_cols, parts, node, limit)
    if not node.shape:
        return frozenset(result[1].tolist())
    return result


def _same_rows(p, node: Node):
    if isinstance(p, frozenset):
        return _as_csr(p, 1)
    return frozenset(p[1].tolist())


def _as_csr(p, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A pattern as ``(indptr, indices)`` with ``size`` rows (None: no dependence at all)."""
    if p is None:
        return np.zeros(size + 1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if isinstance(p, frozenset):
        return np.array([0, len(p)], dtype=np.int64), np.array(sorted(p), dtype=np.int64)
    return p


_PROBED: dict[tuple, tuple[int, ...]] = {}


def _differentiable(node: Node) -> tuple[int, ...]:
    """The operands ``node``'s derivative flows to. Elementwise ops are asked once per op: their
    vjp rule, built on fresh symbols, gives ``None`` for an operand it does not differentiate."""
    float_args = tuple(k for k, a in enumerate(node.args) if a.dtype in ("float", "tuple"))  # (a loop's item)
    op = OPS[node.op]
    if op.shape_rule is not None or op.vjp is None:
        return float_args
    key = (node.op, tuple(a.dtype for a in node.args))
    known = _PROBED.get(key)
    if known is None:
        probes = [ir.symbol(f"sparsity probe {k}") for k in range(len(node.args))]
        args = [p if a.dtype == "float" else apply_lt(p) for p, a in zip(probes, node.args)]
        out = ir.apply(node.op, *args)
        try:
            contributions = op.vjp(tuple(args), out, ir.symbol("sparsity probe g"))
            known = tuple(k for k in float_args if contributions[k] is not None
                          and not isinstance(contributions[k], NoDerivative))
        except Exception:  # a rule that needs a particular operand: every float operand counts
            known = float_args
        _PROBED[key] = known
    return known


def apply_lt(a: Node) -> Node:
    return ir.apply("lt", a, 0.0)


def _ids(shape: tuple) -> np.ndarray:
    return np.arange(math.prod(shape), dtype=np.int64).reshape(shape)


def _dependencies(node: Node, live: list[int], limit: int):
    """For each live operand ``k``: ``(k, targets, sources)``, meaning element ``targets[i]`` of
    ``node`` reads element ``sources[i]`` of operand ``k`` (``targets`` None: element ``i``
    reads ``sources[i]``, and -1 reads nothing)."""
    op, args, params = node.op, node.args, node.params
    spec = OPS[op]
    if spec.shape_rule is None:  # elementwise, with NumPy broadcasting
        for k in live:
            yield k, None, np.broadcast_to(_ids(args[k].shape), node.shape).ravel()
    elif op in ("transpose", "broadcast_to", "getitem", "take"):
        yield 0, None, np.asarray(spec.impl(_ids(args[0].shape), *params)).ravel()
    elif op in ("sum", "amax", "amin"):
        axes = params[0]
        keep = tuple(1 if k in axes else d for k, d in enumerate(args[0].shape))
        yield 0, np.broadcast_to(_ids(keep), args[0].shape).ravel(), np.arange(math.prod(args[0].shape))
    elif op == "concatenate":
        offsets = np.cumsum([0] + [math.prod(a.shape) for a in args])
        joined = np.concatenate([_ids(a.shape) + offsets[k] for k, a in enumerate(args)], axis=params[0]).ravel()
        which = np.searchsorted(offsets, joined, side="right") - 1
        for k in live:
            yield k, None, np.where(which == k, joined - offsets[k], -1)
    elif op in ("index_put", "triangle"):  # some elements read one element, the others none
        placed = spec.impl(_ids(args[0].shape) + 1.0, *params)  # 0 where nothing is read
        yield 0, None, placed.astype(np.int64).ravel() - 1
    elif op == "cumsum":  # element i along the axis reads elements 0..i (i..end when reversed)
        axis, backwards = params
        ids = np.moveaxis(_ids(args[0].shape), axis, -1)
        length = ids.shape[-1]
        _check(ids.size * (length + 1) // 2, node, limit, "dependences")
        later, earlier = np.tril_indices(length)
        i, j = (earlier, later) if backwards else (later, earlier)
        ids = ids.reshape(math.prod(ids.shape[:-1]), length)  # (not -1: the shape may hold a 0)
        yield 0, ids[:, i].ravel(), ids[:, j].ravel()
    elif op == "scatter_add":  # element i of g is added into element take(out ids)[i]
        axis, indices, index_shape, shape = params
        yield 0, OPS["take"].impl(_ids(shape), axis, indices, index_shape).ravel(), np.arange(math.prod(args[0].shape))
    elif op == "matmul":
        yield from _matmul_dependencies(node, live, limit)
    else:  # an op this module does not know: every element reads every element (conservative)
        size = math.prod(node.shape)
        for k in live:
            n = math.prod(args[k].shape)
            _check(size * n, node, limit, "dependences")
            yield k, np.repeat(np.arange(size), n), np.tile(np.arange(n), size)


def _matmul_dependencies(node: Node, live: list[int], limit: int):
    """``out[..., i, j]`` reads ``a[..., i, :]`` and ``b[..., :, j]``, except where the other
    operand is a constant zero."""
    a, b = node.args
    a2 = a.shape if len(a.shape) > 1 else (1,) + a.shape
    b2 = b.shape if len(b.shape) > 1 else b.shape + (1,)
    batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    m, inner, n = a2[-2], a2[-1], b2[-1]
    full = batch + (m, n, inner)
    _check(math.prod(full), node, limit, "dependences")
    targets = np.broadcast_to(_ids(batch + (m, n))[..., None], full).ravel()
    ids_a = np.broadcast_to(_ids(a.shape).reshape(a2)[..., :, None, :], full)
    ids_b = np.broadcast_to(np.swapaxes(_ids(b.shape).reshape(b2), -1, -2)[..., None, :, :], full)
    for k, ids, other, other2 in ((0, ids_a, b, b2), (1, ids_b, a, a2)):
        if k not in live:
            continue
        sources, t = ids.ravel(), targets
        if other.op == "const":  # a zero of the constant operand cuts the dependence
            values = np.asarray(other.value).reshape(other2)
            values = (values[..., None, :, :].swapaxes(-1, -2) if k == 0 else values[..., :, None, :])
            nonzero = np.broadcast_to(values != 0, full).ravel()
            sources, t = sources[nonzero], t[nonzero]
        yield k, t, sources


def _check(count: int, node: Node, limit: int, what: str) -> None:
    if count > limit:
        raise UnsupportedError(
            f"the sparsity pattern is too large: {node.op} of shape {node.shape} has an estimated "
            f"{count:,} {what} (limit {limit:,}); its Jacobian is dense or nearly so: use jacobian, "
            "hessian or hvp instead of the sparse forms")


def _gather(size: int, n_cols: int, parts: list, node: Node, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``node``: the union, per element, of the operand rows its elements read."""
    expanded = []
    estimate = 0
    for (indptr, indices), targets, sources in parts:
        valid = sources >= 0
        if not valid.all():
            sources = sources[valid]
            targets = np.flatnonzero(valid) if targets is None else targets[valid]
        lengths = indptr[sources + 1] - indptr[sources]
        expanded.append((indptr, indices, targets, sources, lengths))
        estimate += int(lengths.sum())
    _check(estimate, node, limit, "nonzeros")
    if len(expanded) == 1 and expanded[0][2] is None:  # one operand, element for element: no merging
        indptr, indices, _, sources, lengths = expanded[0]
        new_indptr = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(lengths, out=new_indptr[1:])
        return new_indptr, indices[_ranges(indptr[sources], lengths)]
    keys = []
    for indptr, indices, targets, sources, lengths in expanded:
        if targets is None:
            targets = np.arange(len(sources), dtype=np.int64)
        cols = indices[_ranges(indptr[sources], lengths)]
        keys.append(np.repeat(targets.astype(np.int64), lengths) * n_cols + cols)
    key = np.sort(np.concatenate(keys)) if keys else np.zeros(0, np.int64)
    if len(key) > 1:  # (np.unique hashes first: several times slower on these arrays)
        key = key[np.concatenate(([True], key[1:] != key[:-1]))]
    row, col = np.divmod(key, n_cols) if n_cols else (key, key)
    new_indptr = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=size), out=new_indptr[1:])
    return new_indptr, col


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, lengths)])``, vectorized."""
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    shift = np.repeat(starts - (ends - lengths), lengths)
    return np.arange(total, dtype=np.int64) + shift
