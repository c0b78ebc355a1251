"""How the Numba dialect prints the indexing ops (``getitem``, ``take``) and their adjoints
(``index_put``, ``scatter_add``): a part of ``python.Printer``, kept apart.

>>> import compiler as cc
>>> v = cc.Tensor("v", (4,))
>>> "v[1:3]" in cc.compile(cc.sum(v[1:3]), [v], backend="python").source
True
"""

from __future__ import annotations

from ..ir.shapes import index_text


class IndexPrinting:
    """Printer methods of the indexing ops (the printer provides ``names`` and ``constant``)."""

    def _print_getitem(self, node, x):
        return f"{x}[{index_text(node.params[0])}]"

    def _lines_index_put(self, node, name, g):
        index, shape = node.params
        placed = tuple(it for it in index if it[0] != "new")
        axes = [it for it in index if it[0] != "int"]  # one per axis of the adjoint g
        target = tuple(d for it, d in zip(axes, node.args[0].shape) if it[0] != "new")
        value = g
        if len(placed) != len(index) and node.args[0].shape:  # drop the size-1 axes that None added
            value = f"np.ascontiguousarray({g}).reshape({target})"
        return [f"{name} = np.zeros({shape})", f"{name}[{index_text(placed)}] = {value}"]

    def _index_array(self, node) -> str:
        axis, indices, ishape = node.params[:3]
        text = f"np.array({list(indices)!r}, dtype=np.int64)"
        return self.constant(("index", indices), text, "I")

    def _print_take(self, node, x):
        axis, indices, ishape = node.params
        idx = self._index_array(node)
        lead = ":, " * axis
        if len(ishape) == 1:
            return f"{x}[{lead}{idx}]"
        return f"np.ascontiguousarray({x}[{lead}{idx}]).reshape({node.shape})"

    def _lines_scatter_add(self, node, name, g):
        axis, indices, ishape, shape = node.params
        idx = self._index_array(node)
        k, flat = self.names.fresh("k"), self.names.fresh("g")
        lead = ":, " * axis
        size = len(indices)
        grouped = shape[:axis] + (size,) + shape[axis + 1:]
        return [f"{name} = np.zeros({shape})",
                f"{flat} = np.ascontiguousarray({g}).reshape({grouped})",
                f"for {k} in range({size}):",
                f"    {name}[{lead}{idx}[{k}]] += {flat}[{lead}{k}]"]
