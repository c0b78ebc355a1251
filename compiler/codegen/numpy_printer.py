"""The NumPy dialect of the Python printer: what ``backend="python"`` runs for tensors."""

from __future__ import annotations

from .python import Printer


class NumPyPrinter(Printer):
    """The same program for plain NumPy (``backend="python"``): NumPy's own reductions,
    matmul and scatter-add, which run vectorized without a compiler."""

    dialect = "numpy"
    _lines_sum = _lines_amax = _lines_amin = _lines_matmul = _lines_cumsum = None  # NumPy's own, as expressions

    def _reduction(self, node, x, function: str) -> str:
        axes, keepdims = node.params
        if len(axes) == len(node.args[0].shape) and not keepdims:
            return f"{function}({x})"
        return f"{function}({x}, axis={axes}, keepdims={keepdims})"

    def _print_sum(self, node, x):
        return self._reduction(node, x, "np.sum")

    def _print_amax(self, node, x):
        return self._reduction(node, x, "np.max")

    def _print_amin(self, node, x):
        return self._reduction(node, x, "np.min")

    def _print_reshape(self, node, x):
        if not node.shape:
            return f"np.reshape({x}, -1)[0]"
        return f"np.reshape({x}, {node.shape})"

    def _print_cumsum(self, node, x):
        axis, reverse = node.params
        if reverse:  # the running sums from the last element back
            return f"np.flip(np.cumsum(np.flip({x}, {axis}), axis={axis}), {axis})"
        return f"np.cumsum({x}, axis={axis})"

    def _print_matmul(self, node, a, b):
        return f"{a} @ {b}"

    def _print_take(self, node, x):
        axis, indices, ishape = node.params
        idx = self._index_array(node)
        if len(ishape) != 1:
            idx = f"{idx}.reshape({ishape})"
        return f"np.take({x}, {idx}, axis={axis})"

    def _lines_scatter_add(self, node, name, g):
        axis, indices, ishape, shape = node.params
        idx = self._index_array(node)
        if len(ishape) != 1:
            idx = f"{idx}.reshape({ishape})"
        lead = "slice(None), " * axis
        return [f"{name} = np.zeros({shape})", f"np.add.at({name}, ({lead}{idx},), {g})"]
