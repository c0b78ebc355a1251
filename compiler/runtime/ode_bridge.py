"""``fn.ode(*params)``: a compiled right-hand side as ``scipy.integrate.solve_ivp`` calls it.

``fn`` is ``cc.compile(f, [y, t, *params])`` with ``f`` of the state's shape
(``y`` a 1-D vector, ``t`` a scalar); ``ode`` binds the parameters and gives
``fun(t, y)`` and ``jac(t, y) = d f / d y`` (dense, or ``scipy.sparse`` of
``jac_sparsity`` with ``sparse=True``, from the library's sparsity pass and a
coloured compressed Jacobian), in SciPy's argument order.

>>> import numpy as np, compiler as cc
>>> y, t, k = cc.Tensor("y", (2,)), cc.Symbol("t"), cc.Symbol("k")
>>> fn = cc.compile(cc.stack([y[1], -k * y[0]]), [y, t, k], backend="python")
>>> fun, jac = fn.ode(4.0)
>>> fun(0.0, np.array([1.0, 0.0])).tolist(), jac(0.0, np.array([1.0, 0.0])).tolist()
([0.0, -4.0], [[0.0, 1.0], [-4.0, 0.0]])
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError


class OdeFunctions:
    """``fun`` and ``jac`` for ``solve_ivp`` (unpacks as ``fun, jac``), and ``jac_sparsity``."""

    def __init__(self, fn, params: tuple, sparse: bool = False):
        from .function import CompiledFunction
        if len(fn.inputs) != 2 + len(params):
            raise TypeError(f"fn.ode: fn takes {len(fn.inputs)} inputs (y, t, *params); got {len(params)} "
                            f"parameter value(s) for the {max(0, len(fn.inputs) - 2)} parameter input(s)")
        y, t = fn.inputs[0], fn.inputs[1]
        if len(y.shape) != 1 or t.shape:
            raise ShapeError(f"fn.ode: the first input is the state (a 1-D vector) and the second the time "
                             f"(a scalar); got shapes {y.shape} and {t.shape}")
        if len(fn.outputs) != 1 or fn.outputs[0].shape != y.shape:
            raise ShapeError(f"fn.ode: fn must return the derivative, of the state's shape {y.shape}; it returns "
                             f"shape(s) {[o.shape for o in fn.outputs]}")
        self.fn, self.params, self.sparse = fn, tuple(params), bool(sparse)
        self._n = y.shape[0]
        same = [w.id for w in fn.wrt] == [y.id]
        self._jf = fn if same else CompiledFunction(fn.outputs, fn.inputs, [y], backend=fn.requested_backend)

    def __iter__(self):
        return iter((self.fun, self.jac))

    def fun(self, t, y) -> np.ndarray:
        """``f(y, t, *params)`` as a 1-D array."""
        return np.asarray(self.fn(np.asarray(y, dtype=float), float(t), *self.params), dtype=float)

    def jac(self, t, y):
        """``d f / d y`` at ``(t, y)``: an (n, n) array, or ``scipy.sparse`` with ``sparse=True``."""
        args = (np.asarray(y, dtype=float), float(t), *self.params)
        if self.sparse:
            return self._jf.sparse_jacobian(*args).tocsc()
        return np.reshape(np.asarray(self._jf.jacobian(*args), dtype=float), (self._n, self._n))

    @property
    def jac_sparsity(self):
        """The structural pattern of ``d f / d y`` (``solve_ivp(..., jac_sparsity=...)``)."""
        return self._jf.jacobian_sparsity()
