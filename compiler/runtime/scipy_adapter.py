"""SciPy's view of a compiled function: one flat vector ``x`` of every ``wrt`` input.

``fn.scipy(*data)`` binds the inputs that are not ``wrt`` (the data) and gives
``fun``, ``jac``, ``hess`` and ``hessp`` of ``x`` in the shapes
``scipy.optimize.minimize`` and ``least_squares`` expect; the ``wrt`` inputs
(scalars and tensors of any shape) are laid out one after the other in
``x``, each in C order. Derivatives come from the compiled kernels: the
gradient, ``hvp``, and the colour-compressed ``sparse_hessian``/``sparse_jacobian``
(dense on request).

>>> import numpy as np, compiler as cc
>>> from scipy.optimize import minimize
>>> p, t, y = cc.Tensor("p", (2,)), cc.Tensor("t", (4,)), cc.Tensor("y", (4,))
>>> loss = cc.sum((p[0] * cc.exp(-p[1] * t) - y) ** 2)
>>> fn = cc.compile(loss, [p, t, y], wrt=[p], backend="python")
>>> t_data = np.array([0.0, 1.0, 2.0, 3.0])
>>> a = fn.scipy(t_data, 2.0 * np.exp(-0.5 * t_data))
>>> res = minimize(a.fun, a.x0([1.0, 1.0]), jac=a.jac, hess=a.hess, method="trust-exact")
>>> np.round(a.unflatten(res.x)["p"], 4)
array([2. , 0.5])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ArgumentError, ShapeError


class Layout:
    """Where each ``wrt`` input lives in the flat vector ``x``: ``names``, ``shapes``, ``sizes``,
    ``n`` (the length of ``x``)."""

    def __init__(self, names: list[str], shapes: list[tuple]):
        self.names, self.shapes = list(names), [tuple(s) for s in shapes]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)
        self.n = int(self.offsets[-1])

    def flatten(self, values, what: str = "x0") -> np.ndarray:
        """One value per ``wrt`` input (of its shape; a scalar broadcasts) as one flat float64 vector."""
        values = list(values)
        if len(values) != len(self.names):
            raise ArgumentError(f"{what}: expected {len(self.names)} value(s), one per variable "
                                f"({', '.join(self.names)}), in this order; got {len(values)}")
        parts = []
        for name, shape, value in zip(self.names, self.shapes, values):
            array = np.asarray(value, dtype=np.float64)
            if array.shape != shape:
                if array.ndim:
                    raise ShapeError(f"{what}: variable {name!r} has shape {shape}, got {array.shape}")
                array = np.full(shape, float(array))
            parts.append(array.ravel())
        return np.concatenate(parts) if parts else np.zeros(0)

    def split(self, x) -> list:
        """The flat vector cut into one value per ``wrt`` input (a float for a scalar)."""
        x = self.check(x)
        out = []
        for shape, lo, hi in zip(self.shapes, self.offsets[:-1], self.offsets[1:]):
            out.append(x[lo:hi].reshape(shape) if shape else float(x[lo]))
        return out

    def unflatten(self, x) -> dict[str, Any]:
        """``{name: value}`` of a flat vector: arrays of each variable's shape, floats for scalars."""
        return {name: (v.copy() if isinstance(v, np.ndarray) else v)
                for name, v in zip(self.names, self.split(x))}

    def check(self, x, what: str = "x") -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.n,):
            raise ShapeError(f"{what} must be a flat vector of {self.n} entries (the variables "
                             f"{', '.join(f'{n}{s}' for n, s in zip(self.names, self.shapes))} one after the "
                             f"other, in C order), got shape {x.shape}")
        return x

    def ravel(self, parts) -> np.ndarray:
        """Per-variable results (floats or arrays) as one flat vector."""
        return np.concatenate([np.ravel(np.asarray(p, dtype=np.float64)) for p in parts]) if parts else np.zeros(0)


class ScipyAdapter:
    """``fun``, ``jac``, ``hess``, ``hessp`` of one flat vector, for ``scipy.optimize``.

    For a scalar output: ``fun(x)`` a float, ``jac(x)`` the gradient ``(n,)``, ``hess(x)`` the
    Hessian ``(n, n)`` (a ``scipy.sparse.csr_matrix`` with ``sparse=True``), ``hessp(x, p)``.
    For a vector output (residuals for ``least_squares``): ``fun(x)`` the flat residuals ``(m,)``,
    ``jac(x)`` the Jacobian ``(m, n)`` (sparse with ``sparse=True``), ``jac_sparsity`` its pattern.
    """

    def __init__(self, fn, data: tuple, sparse: bool = False):
        from .batch import count_message
        wrt_ids = {w.id for w in fn.wrt}
        free = [n for n in fn.inputs if n.id not in wrt_ids]
        if len(data) != len(free):
            raise ArgumentError(f"fn.scipy(*data) binds the inputs that are not wrt: expected "
                                f"{len(free)} ({', '.join(n.name for n in free) or 'none'}), got {len(data)}"
                                + ("" if len(data) < len(fn.inputs) else f"; {count_message(fn, len(data))}"))
        for node, value in zip(free, data):
            if np.shape(value) != node.shape:
                raise ShapeError(f"fn.scipy: data input {node.name!r} has shape {node.shape}, "
                                 f"got {np.shape(value)}")
        self.fn, self.sparse = fn, bool(sparse)
        self.layout = Layout([w.name for w in fn.wrt], [w.shape for w in fn.wrt])
        self.n = self.layout.n
        self.scalar = not fn._many and not fn.outputs[0].shape
        self._data = dict(zip((n.id for n in free), data))
        self._slot = [fn.wrt.index(n) if n.id in wrt_ids else None for n in fn.inputs]

    def __repr__(self) -> str:
        kind = "scalar objective" if self.scalar else "residual vector"
        return (f"ScipyAdapter({kind} of x with {self.n} entries: "
                f"{', '.join(f'{n}{s}' for n, s in zip(self.layout.names, self.layout.shapes))})")

    # --- the vector x ---

    def x0(self, *values) -> np.ndarray:
        """A start as one flat vector: one value per ``wrt`` input (a scalar fills a tensor)."""
        return self.layout.flatten(values)

    def unflatten(self, x) -> dict[str, Any]:
        """``{name: value}`` of a solution vector."""
        return self.layout.unflatten(x)

    def args(self, x) -> list:
        """The compiled function's arguments at ``x``: the variables cut out of ``x``, the data bound."""
        parts = self.layout.split(x)
        return [parts[s] if s is not None else self._data[n.id] for n, s in zip(self.fn.inputs, self._slot)]

    # --- what SciPy calls ---

    def fun(self, x):
        """The objective (a float), or the flat residual vector of a vector output."""
        value = self.fn(*self.args(x))
        if self.scalar:
            return float(value)
        return self.layout.ravel(value if self.fn._many else (value,))

    def jac(self, x):
        """The gradient ``(n,)`` of a scalar output; the Jacobian ``(m, n)`` of a vector output."""
        args = self.args(x)
        if self.scalar:
            grad = self.fn.grad(*args)
            return self.layout.ravel((grad,) if self.fn._single else grad)
        matrix = self.fn.sparse_jacobian(*args)
        return matrix if self.sparse else matrix.toarray()

    @property
    def jac_sparsity(self):
        """The structural pattern of ``jac`` (``scipy.sparse``), for ``least_squares(jac_sparsity=...)``."""
        return self.fn.jacobian_sparsity()

    def hess(self, x):
        """The Hessian ``(n, n)`` of a scalar output (``csr_matrix`` with ``sparse=True``)."""
        if not self.scalar:
            raise ShapeError("hess is of a scalar objective; this function has a vector output "
                             "(use jac, the Jacobian, e.g. for least_squares)")
        matrix = self.fn.sparse_hessian(*self.args(x))
        return matrix if self.sparse else matrix.toarray()

    def hessp(self, x, p):
        """``hess(x) @ p`` without forming the Hessian (forward-over-reverse)."""
        v = self.layout.split(self.layout.check(p, "p"))
        product = self.fn.hvp(*self.args(x), v=v[0] if self.fn._single else tuple(v))
        return self.layout.ravel((product,) if self.fn._single else product)
