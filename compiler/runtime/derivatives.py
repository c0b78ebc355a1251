"""Derivatives beyond the gradient: forward mode, Jacobians of outputs of any shape,
Hessian-vector products, sparsity patterns and compressed sparse Jacobians and Hessians.

Each entry point builds its derivative as IR (``ad.forward``, ``ad.reverse``) and
compiles it as a new ``CompiledFunction`` of the same inputs and its directions,
made once per function and kept: it runs in every tier and target, and takes
batches, as the function itself does. ``CompiledFunction``'s methods of the same
names delegate here.

* ``jvp``: the value and ``J @ v``, one tangent per ``wrt`` input (forward mode).
* ``hvp``: ``H @ v`` as forward-over-reverse (the tangent of the gradient); it
  measured faster than reverse-over-reverse, the gradient of ``<gradient, v>``,
  on every case tried (chained Rosenbrock 10^5 as a tensor: 300 against 564 us;
  the MLP of the README: 182 against 205 us; Rosenbrock-100 in scalars: 10.6
  against 11.5 us; random graphs of 10^3 and 10^4 ops: 10.6 against 11.8 us, 111
  against 119 us), so ``hessian`` of tensors (``hvp`` of every unit vector) is too.
  The Hessian of a scalar graph stays one kernel of the symbolic Hessian.
* ``jacobian``: blocks ``J[i][j]`` of shape ``outputs[i].shape + wrt[j].shape``,
  by rows (reverse mode, a batch of unit cotangents) when the outputs have fewer
  elements than the ``wrt`` inputs, else by columns (forward mode), as
  ``jax.jacrev``/``jacfwd`` choose. A graph holding a custom function (an odeint)
  puts every sweep in one kernel instead (``sweeps``): its rule's costly part (the
  sensitivity solve) is then computed once, not once per row; so does the Hessian
  of tensors of such a graph.
* ``jacobian_sparsity``/``hessian_sparsity`` (``ad.sparsity``), ``coloring``
  (``ad.coloring``), and ``sparse_jacobian``/``sparse_hessian``: one call of a
  kernel that computes every colour's compressed column (or row), read back into
  a ``scipy.sparse.csr_matrix`` of the pattern.

>>> import numpy as np, compiler as cc
>>> x = cc.Tensor("x", (3,))
>>> fn = cc.compile(x[1:] * x[:-1], [x], wrt=x, backend="python")
>>> fn.jvp(np.array([1.0, 2.0, 3.0]), v=np.array([1.0, 0.0, 0.0]))
(array([2., 6.]), array([2., 0.]))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import ir
from ..ad import coloring as _coloring
from ..ad import forward, loops, reverse, sparsity
from ..errors import ArgumentError, ShapeError
from ..ir import Node
from .arguments import check_arguments
from . import sweeps
from .tiers import TensorEntry

# A reverse sweep (a row of a Jacobian) against a forward one (a column): measured 2.0x on the
# compressed Jacobian of a collocation problem's constraints (bench nlp, N = 10^4).
REVERSE_SWEEP_COST = 2.0
DENSE_MAX_ENTRIES = 50_000_000  # entries of a dense Jacobian (400 MB) before sparse_jacobian is suggested
HESSIAN_MAX_SIZE = 2000  # wrt elements up to which hessian() of tensors forms the matrix


def _cached(fn, key: str, build):
    """``build()`` once per function, kept with it (derived functions, patterns, colourings)."""
    with fn._lock:
        kept = fn.__dict__.setdefault("_derived", {})
        if key not in kept:
            kept[key] = build()
        return kept[key]


def _derived_function(fn, outputs: list[Node], extra_inputs: list[Node], title: str):
    """``outputs`` as a function of ``fn``'s inputs and ``extra_inputs``, compiled as ``fn`` is
    (refused first if its loops' arrays exceed the loop memory limit: ``ad.loops``)."""
    loops.check_loop_memory(outputs, f"the {title}")
    kind = getattr(type(fn), "derived_class", type(fn))  # (a Matrix's entries: a plain list of outputs)
    return kind(outputs, fn.inputs + list(extra_inputs), [], fn.requested_backend, many=True,
                    max_statements=fn._max_statements, title=title, progress=fn._progress, simd=fn._simd)


def _as_tuple(result) -> tuple:
    return result if isinstance(result, tuple) else (result,)


def _directions(fn, prefix: str, dtype: str | None = None) -> list[Node]:
    """One symbol per ``wrt`` input, of its shape (and ``dtype``: else the default precision),
    named ``prefix[name]`` (primes added until no input has the name)."""
    taken = {n.name for n in fn.inputs}
    out = []
    for w in fn.wrt:
        name = f"{prefix}[{w.name}]"
        while name in taken:
            name += "'"
        taken.add(name)
        out.append(ir.symbol(name, w.shape, dtype or "float64"))
    return out


def _require_derivative_wrt(fn) -> None:
    if not fn.wrt:
        raise ValueError("this function has no inputs to differentiate with respect to")


def _require_scalar_output(fn, what: str, instead: str) -> None:
    fn._require_wrt()  # (its errors: an output of shape S, no inputs)
    if fn._many:
        raise ShapeError(f"{what} is of one scalar output; this function has {len(fn.outputs)} outputs "
                         f"(compile each on its own, or use {instead})")


def tangents(fn, v) -> tuple:
    """``v`` as one tangent per ``wrt`` input (the entry itself when ``wrt`` was given alone),
    each checked against that input's shape; a batch of tangents has a leading axis."""
    if fn._single:
        vs = (v,)
    elif not isinstance(v, (tuple, list)):
        raise ArgumentError(f"v must be a tuple with one entry per wrt input "
                            f"({', '.join(w.name for w in fn.wrt)}), got {type(v).__name__}; "
                            "compile with wrt=<one input> (not a list) to pass it alone")
    else:
        vs = tuple(v)
    if len(vs) != len(fn.wrt):
        raise ArgumentError(f"v must have one entry per wrt input ({', '.join(w.name for w in fn.wrt)}), "
                            f"got {len(vs)}")
    for t, w in zip(vs, fn.wrt):
        if type(t) is float and not w.shape:
            continue
        shape = np.shape(t)
        batch = (shape[1:] == w.shape) if fn._tensor else (len(shape) == 1 and not w.shape)
        if shape != w.shape and not batch:
            raise ShapeError(f"the tangent v of wrt input {w.name!r} must have shape {w.shape} (or "
                             f"{'(n,) + ' + str(w.shape) if fn._tensor else '(n,)'} for a batch), "
                             f"got shape {shape}")
    return vs


# --- forward mode ---

def jvp_function(fn):
    """The values and tangents of ``fn``'s outputs, as a function of its inputs and one tangent
    per ``wrt`` input (``v[name]``)."""
    def build():
        _require_derivative_wrt(fn)
        directions = _directions(fn, "v")
        tangent = forward.jvp(fn.outputs, fn.wrt, directions)
        return _derived_function(fn, fn.outputs + tangent, directions, "Jacobian-vector product")
    return _cached(fn, "jvp", build)


def jvp(fn, args: tuple, v) -> tuple:
    vs = tangents(fn, v)
    jf = jvp_function(fn)
    if not fn._tensor and "jvp" not in fn.__dict__:
        fn.jvp = _fast_jvp(fn, jf)  # the next calls skip this function and the checks
    result = jf(*args, *vs)
    n = len(fn.outputs)
    if not fn._many:
        return result[0], result[1]
    return tuple(result[:n]), tuple(result[n:])


def _fast_jvp(fn, jf):
    """``fn.jvp`` of a scalar function as a closure in the instance: a point and tangents of
    floats go straight to the kernel's fast path (about 1 us less per call than the checked path)."""
    n, k, many, single = len(fn.outputs), len(fn.wrt), fn._many, fn._single

    def fast_jvp(*args, v):
        try:  # the kernel turns away anything but floats (arrays: a batch, the checked path)
            if single:
                result = jf._value(*args, v)
            elif type(v) is tuple and len(v) == k:
                result = jf._value(*args, *v)
            else:
                return jvp(fn, args, v)
        except TypeError:
            return jvp(fn, args, v)
        if not many:
            return result[0], result[1]
        return result[:n], result[n:]
    fast_jvp.__doc__ = type(fn).jvp.__doc__
    fast_jvp.__signature__ = fn._signature
    return fast_jvp


def hvp_function(fn):
    """``H @ v`` (one entry per ``wrt`` input) as a function of the inputs and ``v``:
    forward-over-reverse, the tangent of the gradient."""
    def build():
        _require_scalar_output(fn, "hvp", "jacobian")
        directions = _directions(fn, "v")
        product = forward.jvp(fn._jac[0], fn.wrt, directions)
        return _derived_function(fn, product, directions, "Hessian-vector product")
    return _cached(fn, "hvp", build)


def hvp(fn, args: tuple, v):
    if fn._many:
        raise ValueError("hvp is defined for one scalar output; compile each output on its own")
    out = _as_tuple(hvp_function(fn)(*args, *tangents(fn, v)))
    return out[0] if fn._single else out


def _one_point(fn, args: tuple, what: str) -> None:
    if len(args) != len(fn.inputs):
        from .batch import count_message
        raise ArgumentError(count_message(fn, len(args)))
    for a, node in zip(args, fn.inputs):
        if np.ndim(a) != len(node.shape):
            raise ShapeError(f"{what} is taken at one point: input {node.name!r} needs shape {node.shape}, "
                             f"got {np.shape(a)} (for a batch, call it point by point)")


def _unit_batches(shapes: list[tuple]) -> list[np.ndarray]:
    """The unit vectors of the stacked elements of ``shapes``, as one batch per shape."""
    sizes = [math.prod(s) for s in shapes]
    total = sum(sizes)
    basis, at, out = np.eye(total), 0, []
    for s, size in zip(shapes, sizes):
        out.append(np.ascontiguousarray(basis[:, at:at + size]).reshape((total,) + s))
        at += size
    return out


def tensor_hessian(fn, args: tuple):
    """Blocks ``H[i][j]`` of shape ``wrt[i].shape + wrt[j].shape``: ``hvp`` of every unit vector,
    in one batch."""
    if fn._many:
        raise ValueError("the Hessian of tensors is defined for one scalar output")
    _one_point(fn, args, "hessian of a function of tensors")
    sizes = [math.prod(w.shape) for w in fn.wrt]
    total = sum(sizes)
    if total > HESSIAN_MAX_SIZE:
        raise ValueError(f"the Hessian would be {total} x {total}; use fn.hvp(..., v=...) for "
                         f"Hessian-vector products or fn.sparse_hessian (limit HESSIAN_MAX_SIZE = "
                         f"{HESSIAN_MAX_SIZE})")
    if total <= sweeps.ONE_KERNEL_SWEEPS and sweeps.holds_custom(fn):  # every column in one call
        flat = np.concatenate([np.ravel(c) for c in _as_tuple(sweeps.hessian_function(fn)(*args))])
        flat = flat.reshape(total, total)
    else:
        columns = _as_tuple(hvp_function(fn)(*args, *_unit_batches([w.shape for w in fn.wrt])))
        # row k: H @ e_k (sizes, not -1: a shape may hold a 0)
        flat = np.concatenate([c.reshape(total, size) for c, size in zip(columns, sizes)], axis=1)
    blocks = _blocks(flat.T, [w.shape for w in fn.wrt], [w.shape for w in fn.wrt])
    return blocks[0][0] if fn._single else blocks


# --- dense Jacobians ---

def _blocks(matrix: np.ndarray, row_shapes: list[tuple], col_shapes: list[tuple]) -> tuple:
    """``matrix`` (stacked rows by stacked columns) cut into blocks ``row_shape + col_shape``."""
    blocks, r = [], 0
    for rs in row_shapes:
        line, c, rn = [], 0, math.prod(rs)
        for cs in col_shapes:
            cn = math.prod(cs)
            block = matrix[r:r + rn, c:c + cn].reshape(rs + cs)
            line.append(float(block) if not block.ndim else np.ascontiguousarray(block))
            c += cn
        blocks.append(tuple(line))
        r += rn
    return tuple(blocks)


def vjp_function(fn):
    """``sum_i <u_i, d outputs[i] / d wrt>`` (one entry per ``wrt`` input) as a function of the
    inputs and one cotangent ``u[name]`` per output: one reverse sweep."""
    def build():
        _require_derivative_wrt(fn)
        taken = {n.name for n in fn.inputs}
        seeds = forward.fresh_symbols([o.shape for o in fn.outputs], taken, "u")
        return _derived_function(fn, reverse.vjp(fn.outputs, seeds, fn.wrt), seeds, "vector-Jacobian product")
    return _cached(fn, "vjp", build)


def jacobian(fn, args: tuple):
    """Blocks ``J[i][j]`` of shape ``outputs[i].shape + wrt[j].shape`` (the rule of the form of
    derivatives drops the output level for one output, the wrt level for a ``wrt`` alone)."""
    _require_derivative_wrt(fn)
    out_shapes, wrt_shapes = [o.shape for o in fn.outputs], [w.shape for w in fn.wrt]
    if not fn._tensor:  # scalars: the gradient kernel holds the whole Jacobian (and takes batches)
        grad = np.asarray(fn.grad(*args), dtype=np.float64)
        if fn._many:  # (n_out, n_wrt), or (n, n_out, n_wrt) for a batch; (n_out[, n]) for a wrt alone
            grad = np.moveaxis(grad, 0, -1) if grad.ndim == (2 if fn._single else 3) else grad
            grad = grad[:, None] if fn._single else grad
        else:  # (n_wrt[, n]); a wrt alone: a float or (n,)
            grad = grad[None, None] if fn._single else grad[None]
        blocks = tuple(tuple(float(g) if not np.ndim(g) else g for g in row) for row in grad)
    else:
        _one_point(fn, args, "the Jacobian of a function of tensors")
        m, n = sum(map(math.prod, out_shapes)), sum(map(math.prod, wrt_shapes))
        if m * n > DENSE_MAX_ENTRIES:
            raise ValueError(f"the Jacobian would be {m:,} x {n:,}; use fn.sparse_jacobian (or fn.jvp) "
                             f"(limit DENSE_MAX_ENTRIES = {DENSE_MAX_ENTRIES:,})")
        if min(m, n) <= sweeps.ONE_KERNEL_SWEEPS and sweeps.holds_custom(fn):  # every sweep in one call
            flat = np.concatenate([np.ravel(r) for r in _as_tuple(sweeps.jacobian_function(fn, m <= n)(*args))])
            matrix = flat.reshape(m, n) if m <= n else flat.reshape(n, m).T
        elif m <= n:  # rows: one reverse sweep per output element
            rows = _as_tuple(vjp_function(fn)(*args, *_unit_batches(out_shapes)))
            matrix = np.concatenate([r.reshape(m, math.prod(s)) for r, s in zip(rows, wrt_shapes)], axis=1)
        else:  # columns: one forward sweep per wrt element
            cols = _as_tuple(jvp_function(fn)(*args, *_unit_batches(wrt_shapes)))[len(fn.outputs):]
            matrix = np.concatenate([c.reshape(n, math.prod(s)) for c, s in zip(cols, out_shapes)], axis=1).T
        blocks = _blocks(matrix, out_shapes, wrt_shapes)
    if fn._single:
        blocks = tuple(row[0] for row in blocks)
    return blocks if fn._many else blocks[0]


# --- sparsity, colouring, compressed evaluation ---

@dataclass(frozen=True)
class Coloring:
    """A colouring of a derivative's sparsity pattern: ``kind`` is ``"columns"`` (forward sweeps,
    ``J @ S``), ``"rows"`` (reverse sweeps, ``S^T J``) or ``"star"`` (the symmetric Hessian,
    forward-over-reverse ``H @ S``); ``n_colors`` sweeps give every nonzero of ``pattern``."""
    kind: str
    n_colors: int
    colors: np.ndarray  # the colour of each column (row, Hessian variable)
    pattern: object     # the scipy.sparse CSR pattern
    index: np.ndarray   # where each stored entry of the pattern is read in the compressed result

    def __repr__(self) -> str:
        m, n = self.pattern.shape
        sweeps = f"{self.n_colors} sweep{'s' if self.n_colors != 1 else ''}"
        return (f"Coloring({self.kind!r}, n_colors={self.n_colors}: {sweeps} instead of "
                f"{n if self.kind != 'rows' else m} for a {m} x {n} pattern with {self.pattern.nnz} nonzeros)")


def jacobian_sparsity(fn):
    _require_derivative_wrt(fn)
    return _cached(fn, "jacobian pattern", lambda: sparsity.jacobian_pattern(fn.outputs, fn.wrt))


def hessian_sparsity(fn):
    if fn._many or fn.outputs[0].shape:
        shape = fn.outputs[0].shape if not fn._many else f"{len(fn.outputs)} outputs"
        raise ShapeError(f"hessian_sparsity is of one scalar output, this function has {shape}; "
                         "for the pattern of its first derivatives use fn.jacobian_sparsity()")
    _require_derivative_wrt(fn)
    return _cached(fn, "hessian pattern", lambda: sparsity.hessian_pattern(fn.outputs[0], fn._jac[0], fn.wrt))


def coloring(fn, of: str | None = None, max_colors: int | None = None) -> Coloring:
    """The colouring of the Hessian (``of="hessian"``, the default for one scalar output) or of
    the Jacobian (``of="jacobian"``: by columns, or by rows when they need under half the colours).
    With ``max_colors``, a colouring that needs more stops at once (``ad.coloring.ColorLimit``)."""
    of = of or ("hessian" if not fn._many and not fn.outputs[0].shape else "jacobian")
    if of == "hessian":
        def build():
            pattern = hessian_sparsity(fn)
            colors = _coloring.star(pattern, max_colors)
            return Coloring("star", _count(colors, pattern), colors, pattern, _coloring.star_recovery(pattern, colors))
        return _cached(fn, "hessian coloring", build)
    if of != "jacobian":
        raise ValueError(f"coloring(of=...) takes 'hessian' or 'jacobian', got {of!r}")

    def build():
        pattern = jacobian_sparsity(fn)
        widest_row = int(np.diff(pattern.indptr).max(initial=0))
        widest_col = int(np.bincount(pattern.indices, minlength=pattern.shape[1]).max(initial=0))
        # Each side needs at least as many colours as its widest line. Forward sweeps (columns)
        # unless reverse sweeps (rows), dearer each, are clearly fewer.
        if widest_row > 2 * REVERSE_SWEEP_COST * widest_col:
            return _rows(pattern, max_colors)
        try:
            colors = _coloring.columns(pattern, max_colors)
        except _coloring.ColorLimit:
            return _rows(pattern, max_colors)
        n_colors = _count(colors, pattern)
        if REVERSE_SWEEP_COST * widest_col < n_colors:
            try:  # (stopped as soon as it is no better)
                rows = _rows(pattern, n_colors)
                if REVERSE_SWEEP_COST * rows.n_colors < n_colors:
                    return rows
            except _coloring.ColorLimit:
                pass
        return Coloring("columns", n_colors, colors, pattern, _coloring.column_recovery(pattern, colors))
    return _cached(fn, "jacobian coloring", build)


def _rows(pattern, max_colors: int | None) -> Coloring:
    colors = _coloring.columns(pattern.T, max_colors)
    return Coloring("rows", _count(colors, pattern), colors, pattern, _coloring.row_recovery(pattern, colors))


def _count(colors: np.ndarray, pattern) -> int:
    """Sweeps needed: none for an empty pattern (nothing to recover), else one per colour."""
    return int(colors.max()) + 1 if len(colors) and pattern.nnz else 0


def _split(vector: np.ndarray, shapes: list[tuple]) -> list:
    """A stacked vector cut into one array (a float for a scalar) per shape."""
    out, at = [], 0
    for s in shapes:
        size = math.prod(s)
        piece = vector[at:at + size]
        out.append(piece.reshape(s) if s else float(piece[0]))
        at += size
    return out


def _seed_nodes(values: list, shapes: list[tuple], prefix: str, taken: set[str]) -> tuple[list, list]:
    """The seeds of one colour as IR: constants for scalars (zeros prune the sweep), symbols
    for tensors (a big constant array would be printed into the source); and the new inputs."""
    symbols = iter(forward.fresh_symbols([s for s in shapes if s], taken, prefix))
    nodes, inputs = [], []
    for value, shape in zip(values, shapes):
        if not shape:
            nodes.append(ir.constant(float(value)))
        else:
            symbol = next(symbols)
            nodes.append(symbol)
            inputs.append(symbol)
    return nodes, inputs


def _compressed_function(fn, col: Coloring):
    """The function of the inputs and the tensor seeds that gives every colour's compressed
    derivative in one call, and the seed arrays to call it with."""
    seeds = _coloring.seed_matrix(col.colors, col.n_colors)
    taken = {n.name for n in fn.inputs}
    side = [o.shape for o in fn.outputs] if col.kind == "rows" else [w.shape for w in fn.wrt]
    directions, inputs, arrays = [], [], []
    for c in range(col.n_colors):
        values = _split(seeds[c], side)
        nodes, new = _seed_nodes(values, side, f"seed{c}", taken)
        directions.append(nodes)
        inputs += new
        arrays += [np.asarray(v) for v, s in zip(values, side) if s]
    if col.kind == "star":
        outputs = forward.jvp_many(fn._jac[0], fn.wrt, directions)
    elif col.kind == "columns":
        outputs = forward.jvp_many(fn.outputs, fn.wrt, directions)
    else:
        order = ir.topo_order(fn.outputs)
        outputs = []
        for seed in directions:  # (an output seeded with a constant 0 is left out of its sweep)
            seeded = [(o, u) for o, u in zip(fn.outputs, seed) if u.op != "const" or u.value != 0.0]
            outputs.append(reverse.vjp([o for o, _ in seeded], [u for _, u in seeded], fn.wrt, order))
    flat = [node for per_colour in outputs for node in per_colour]
    title = f"compressed {'Hessian' if col.kind == 'star' else 'Jacobian'} ({col.n_colors} colours)"
    return _derived_function(fn, flat, inputs, title), arrays


def _sparse(fn, args: tuple, of: str):
    """``sparse_jacobian``/``sparse_hessian`` (``of``) at one point: the user's arguments checked,
    the entries from ``sparse_evaluator``, the ``scipy.sparse`` matrix of the pattern."""
    import scipy.sparse as sp
    _one_point(fn, args, f"sparse_{of}")
    # tensor kernels take checked arrays; a scalar graph's kernel (constant seeds) takes the arguments
    arrays = check_arguments(args, fn.inputs)[0] if fn._tensor else list(args)
    data = _cached(fn, f"{of} values", lambda: sparse_evaluator(fn, of))(arrays)
    pattern = coloring(fn, of).pattern
    return sp.csr_matrix((data, pattern.indices.copy(), pattern.indptr.copy()), shape=pattern.shape)


def sparse_evaluator(fn, of: str, keep: np.ndarray | None = None):
    """``values(arrays)``: the entries of the sparse Jacobian/Hessian (``of``) in the CSR order of
    its pattern (``keep``: only those positions), from arguments already checked and converted
    (one array or float per input, in order). For solvers that call it many times at points of
    their own (IPOPT): one kernel call and one gather, nothing else per call."""
    kernel, seeds, index, _ = compressed(fn, of, keep)
    if kernel is None:
        return lambda arrays: np.zeros(len(index))
    entry = kernel._value
    call = entry.run if isinstance(entry, TensorEntry) else (lambda arrays: kernel(*arrays))

    def values(arrays: list) -> np.ndarray:
        return np.concatenate([np.ravel(r) for r in _as_tuple(call(arrays + seeds))]).take(index)
    return values


def compressed(fn, of: str, keep: np.ndarray | None = None):
    """``(function, seeds, index, coloring)``: the compiled function of every colour's compressed
    sweep (None without colours), the seed arrays it takes after ``fn``'s inputs, and where each
    stored entry (``keep``: of those positions) is in its results laid one after the other."""
    col = coloring(fn, of)
    index = col.index if keep is None else col.index[keep]
    if not col.n_colors:
        return None, [], index, col
    kernel, seeds = _cached(fn, f"compressed {of}", lambda: _compressed_function(fn, col))
    return kernel, seeds, index, col


def sparse_jacobian(fn, args: tuple):
    return _sparse(fn, args, "jacobian")


def sparse_hessian(fn, args: tuple):
    if fn._many or fn.outputs[0].shape:
        hessian_sparsity(fn)  # raises, pointing to the Jacobian
    return _sparse(fn, args, "hessian")

