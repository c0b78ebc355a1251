"""The Python printer's reductions and running sums, as loops over the operand's elements
(the Numba dialect; a mixin of ``python.Printer``, which gives ``_loops``, ``names``,
``alloc`` and ``zero``).

>>> import compiler as cc
>>> a = cc.Tensor("a", (2, 3))
>>> "+=" in cc.compile(cc.sum(a, axis=0)[0], [a], backend="numba").source  # (printed, not compiled)
True
"""

from __future__ import annotations


class ReductionPrinting:
    """``sum``, ``amax``, ``amin`` over axes and ``cumsum`` along one, printed as loop nests."""

    def _reduction_lines(self, node, name, x, start: str, update) -> list[str]:
        """A reduction over ``node.params`` axes as loops: every element of ``x`` visited once,
        ``update(accumulator, element)`` the line that folds it in."""
        axes, keepdims = node.params
        shape = node.args[0].shape
        index, heads, pad = self._loops(shape)
        kept = [i if k not in axes else "0" for k, i in enumerate(index)] if keepdims else \
            [i for k, i in enumerate(index) if k not in axes]
        element = f"{x}[{', '.join(index)}]"
        if node.shape:
            target = f"{name}[{', '.join(kept)}]"
            return ([f"{name} = np.full({node.shape}, {start}{self.alloc(node)})"] + heads
                    + [pad + update(target, element)])
        return [f"{name} = {start}"] + heads + [pad + update(name, element)]

    def _lines_sum(self, node, name, x):
        return self._reduction_lines(node, name, x, self.zero(node), lambda acc, e: f"{acc} += {e}")

    def _lines_amax(self, node, name, x):  # nan wins, as in np.max
        return self._reduction_lines(node, name, x, "-np.inf",
                                     lambda acc, e: f"{acc} = {e} if ({e} > {acc} or {e} != {e}) else {acc}")

    def _lines_amin(self, node, name, x):
        return self._reduction_lines(node, name, x, "np.inf",
                                     lambda acc, e: f"{acc} = {e} if ({e} < {acc} or {e} != {e}) else {acc}")

    def _lines_cumsum(self, node, name, x):
        """Running sums: a loop over the other axes, an accumulator along the axis."""
        axis, reverse = node.params
        n = node.shape[axis]
        index, heads, pad = self._loops(node.shape[:axis] + node.shape[axis + 1:])
        j, total = self.names.fresh("j"), self.names.fresh("s")
        at = ", ".join(index[:axis] + [j] + index[axis:])
        steps = f"range({n - 1}, -1, -1)" if reverse else f"range({n})"
        return ([f"{name} = np.empty({node.shape}{self.alloc(node)})"] + heads
                + [f"{pad}{total} = {self.zero(node)}", f"{pad}for {j} in {steps}:",
                   f"{pad}    {total} += {x}[{at}]", f"{pad}    {name}[{at}] = {total}"])
