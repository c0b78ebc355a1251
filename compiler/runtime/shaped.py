"""Outputs that are containers of scalars (a SymPy ``Matrix``, ``cc.stack`` of scalars, an array
literal), compiled as the list of their entries and given back in their shapes.

A Matrix of scalar expressions is no tensor computation: compiled as a tensor it would go the
Numba tensor path (10 s for the 10-link pendulum's forcing and Jacobian); as its entries, every
scalar target compiles it (llvm in a fraction of a second). ``ShapedFunction`` is the
``CompiledFunction`` of the entries (``fn.outputs``, ``fn.source``: the flat list, in C order)
whose calls reshape the results: the value of an output of shape ``S`` is an array of shape
``S`` (a leading axis for a batch of points), its gradient the Jacobian ``S + (n_wrt,)`` (as for
a list of scalar outputs), ``jacobian`` the blocks ``S + wrt.shape`` of the tensor path.

>>> import sympy as sp, compiler as cc
>>> x, y = sp.symbols("x y")
>>> fn = cc.compile(sp.Matrix([[x * y, x], [y, 2]]), [x, y], backend="python")
>>> fn(2.0, 3.0)
array([[6., 2.],
       [3., 2.]])
>>> fn.grad(2.0, 3.0).shape
(2, 2, 2)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..ir import Node
from ..ir.containers import elements
from . import per_process
from .function import CompiledFunction

#: entries above which a container stays a tensor (one Numba loop, not one statement per entry)
MAX_ENTRIES = 100_000


def container_outputs(outputs: Sequence[Node], inputs: Sequence[Node]) -> list[np.ndarray] | None:
    """Each output's scalar entries (object arrays of its shape), when some output is a container
    of scalars and none is a real tensor computation; ``None`` otherwise (the tensor path)."""
    if not any(o.shape for o in outputs) or any(n.shape for n in inputs):
        return None
    found = []
    for o in outputs:
        entries = elements(o)
        if entries is None:
            return None
        found.append(entries)
    return found if sum(e.size for e in found) <= MAX_ENTRIES else None


class ShapedFunction(CompiledFunction):
    """The compiled entries of container outputs, called as the outputs themselves (see the module).

    ``shapes`` are the outputs' shapes; ``outputs`` the flat entries, in C order, one output
    after the other."""

    derived_class = CompiledFunction  # the class of its jvp, hvp, ... functions: of the flat entries

    def __init__(self, entries: list[np.ndarray], shaped_many: bool, inputs: Sequence[Node],
                 wrt: Sequence[Node], *options):
        self.shapes = [e.shape for e in entries]
        self._shaped_many = shaped_many
        sizes = np.cumsum([0] + [e.size for e in entries]).tolist()
        self._bounds = list(zip(sizes[:-1], sizes[1:]))
        flat = [n for e in entries for n in e.ravel()]
        super().__init__(flat, inputs, wrt, *options[:1], True, *options[1:])  # many: one result per entry
        flat_vg = self.value_and_grad  # the closures ``entries.bind`` set: reshape what they give

        def value_and_grad(*args, reduce=None):
            value, grad = flat_vg(*args, reduce=reduce)
            return self._values(value), self._derivative(grad, 1 if self._single else 2)

        def grad(*args, reduce=None):
            return value_and_grad(*args, reduce=reduce)[1]
        for fast, method in ((value_and_grad, CompiledFunction.value_and_grad), (grad, CompiledFunction.grad)):
            fast.__doc__, fast.__qualname__ = method.__doc__, method.__qualname__
            fast.__signature__ = self._signature  # type: ignore[attr-defined]
            setattr(self, method.__name__, fast)
        self._flat_vg = flat_vg

    def __call__(self, *args, reduce=None):
        return self._values(super().__call__(*args, reduce=reduce))

    def hessian(self, *args):
        """As ``CompiledFunction.hessian``, each output's block ``S + (n_wrt, n_wrt)``."""
        return self._derivative(super().hessian(*args), 1 if self._single else 3)

    def jvp(self, *args, v):
        """As ``CompiledFunction.jvp``: the outputs and their tangents, in the outputs' shapes."""
        value, tangent = super().jvp(*args, v=v)
        return self._values(value), self._values(tangent)

    def jacobian(self, *args):
        """Blocks ``J[i][j]`` of shape ``outputs[i].shape + wrt[j].shape`` (a leading axis for a
        batch), as for a function of tensors."""
        grad = np.asarray(self._flat_vg(*args)[1], dtype=np.float64)
        batch = grad.ndim > (1 if self._single else 2)
        if self._single:  # (n_out[, ...]) -> one wrt column
            grad = grad[..., None]
        columns = [self._split(grad[..., j], 1 if batch else 0) for j in range(grad.shape[-1])]
        if not self._shaped_many:
            columns = [(c,) for c in columns]
        blocks = tuple(tuple(col[i] for col in columns) for i in range(len(self.shapes)))
        if self._single:
            blocks = tuple(row[0] for row in blocks)
        return blocks if self._shaped_many else blocks[0]

    def __reduce__(self):
        table, *rest = super().__reduce__()[1]
        return (_unpickle, (table, self.shapes, self._shaped_many, *rest))

    # --- the results in the outputs' shapes ---

    def _values(self, flat):
        """One result per entry (floats, or arrays of a batch's points) as the outputs."""
        if isinstance(flat[0], float):  # one point (or a reduced batch): the fast way to an array
            return self._split(np.fromiter(flat, np.float64, len(flat)), 0)
        values = np.asarray(flat, dtype=np.float64)  # (n_entries, n)
        return self._split(np.moveaxis(values, 0, -1), 1)

    def _derivative(self, flat, point_ndim: int):
        """A derivative whose entry axis is the first (one point: ``point_ndim`` axes) or the
        second (a batch) cut into the outputs."""
        flat = np.asarray(flat, dtype=np.float64)
        return self._split(flat, 1 if flat.ndim > point_ndim else 0)

    def _split(self, flat: np.ndarray, axis: int):
        """``flat``'s entry axis ``axis`` cut into the outputs, each reshaped to its shape there."""
        flat = np.asarray(flat, dtype=np.float64)
        outs = []
        for shape, (a, b) in zip(self.shapes, self._bounds):
            piece = flat[(slice(None),) * axis + (slice(a, b),)]
            piece = piece.reshape(flat.shape[:axis] + shape + flat.shape[axis + 1:])
            outs.append(float(piece) if piece.ndim == 0 else piece)
        return tuple(outs) if self._shaped_many else outs[0]


def _unpickle(table, shapes, shaped_many, n_out, n_in, *rest) -> CompiledFunction:
    return per_process.unpickled((table, shapes, shaped_many, n_out, n_in, *rest), _build)


def _build(table, shapes, shaped_many, n_out: int, n_in: int, backend: str, many: bool, *options) -> ShapedFunction:
    from .. import ir
    nodes = ir.from_table(table)
    flat, inputs, wrt = nodes[:n_out], nodes[n_out:n_out + n_in], nodes[n_out + n_in:]
    entries, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape, dtype=np.int64))
        box = np.empty(size, dtype=object)
        box[:] = [None] * size
        for i, n in enumerate(flat[start:start + size]):
            box[i] = n
        entries.append(box.reshape(shape))
        start += size
    return ShapedFunction(entries, shaped_many, inputs, wrt, backend, *options)
