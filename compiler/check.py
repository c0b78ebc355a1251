"""``gradcheck``: the compiled gradient against central finite differences."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .runtime import CompiledFunction

_DEFAULT_STEP = np.finfo(float).eps ** (1 / 3)  # balances truncation and rounding error


@dataclass
class GradcheckResult:
    """Compiled (``analytic``) and finite-difference (``numeric``) Jacobians, shape (n_out, n_wrt).

    ``errors[i, j] = |analytic - numeric| / max(1, |analytic|, |numeric|)``;
    ``max_error`` is the worst; ``ok`` is ``max_error <= tol``.
    """
    analytic: np.ndarray
    numeric: np.ndarray
    errors: np.ndarray
    max_error: float
    tol: float

    @property
    def ok(self) -> bool:
        return bool(self.max_error <= self.tol)

    def __repr__(self) -> str:
        verdict = "ok" if self.ok else "MISMATCH"
        return f"GradcheckResult({verdict}: worst relative error {self.max_error:.3g}, tolerance {self.tol:.3g})"


def gradcheck(fn: CompiledFunction, *point, step: float | None = None,
              tol: float = 1e-6) -> GradcheckResult:
    """Compare ``fn``'s gradient at ``point`` with central finite differences.

    The point has one number (or, for a tensor input, one array of its shape) per
    input. Jacobian columns follow ``fn.wrt``, each tensor flattened in C order;
    each column costs two calls of ``fn``.

    >>> import compiler as cc
    >>> x, y = cc.symbols("x y")
    >>> r = cc.gradcheck(cc.compile(cc.sin(x) * y, [x, y], backend="python"), 0.5, 2.0)
    >>> r.ok
    True
    """
    if not isinstance(fn, CompiledFunction):
        raise TypeError(f"gradcheck needs a compiled function (cc.compile / cc.jit), got {type(fn).__name__}")
    if len(point) != len(fn.inputs):
        raise TypeError(f"gradcheck: expected a point of {len(fn.inputs)} value(s) "
                        f"({', '.join(n.name for n in fn.inputs)}), got {len(point)}")  # type: ignore[misc]
    x0 = [_coordinate(v, n) for v, n in zip(point, fn.inputs)]
    grads = fn.grad(*x0)
    rows = grads if fn._many else (grads,)
    analytic = np.array([np.concatenate([np.ravel(np.asarray(g, dtype=float)) for g in row]) for row in rows])
    position = {n.id: i for i, n in enumerate(fn.inputs)}
    numeric = np.empty_like(analytic)
    column = 0
    for w in fn.wrt:
        i = position[w.id]
        for k in range(int(np.prod(w.shape, dtype=np.int64))):
            h = step or _DEFAULT_STEP
            up, down = _moved(x0, i, k, h), _moved(x0, i, k, -h)
            width = np.ravel(up[i])[k] - np.ravel(down[i])[k]
            numeric[:, column] = (_values(fn, up) - _values(fn, down)) / width
            column += 1
    errors = np.abs(analytic - numeric) / np.maximum(1.0, np.maximum(np.abs(analytic), np.abs(numeric)))
    errors = np.where(np.isnan(errors), np.inf, errors)
    return GradcheckResult(analytic, numeric, errors, float(errors.max(initial=0.0)), tol)


def _coordinate(value, node):
    """A point's value for input ``node``: a float, or a float64 array of its shape."""
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"gradcheck: input {node.name!r} needs a number, got {type(value).__name__}") from exc
    if array.shape != node.shape:
        raise ValueError(f"gradcheck checks one point: input {node.name!r} needs shape {node.shape}, "
                         f"got {array.shape}")
    return float(array) if not node.shape else array


def _moved(x0: list, i: int, k: int, step: float) -> list:
    """``x0`` with element ``k`` of input ``i`` moved by ``step * max(1, |x|)``."""
    out = list(x0)
    if not np.shape(x0[i]):
        out[i] = x0[i] + step * max(1.0, abs(x0[i]))
        return out
    moved = np.array(x0[i])
    flat = moved.reshape(-1)
    flat[k] += step * max(1.0, abs(flat[k]))
    out[i] = moved
    return out


def _values(fn: CompiledFunction, args: list) -> np.ndarray:
    return np.atleast_1d(np.asarray(fn(*args), dtype=float)).ravel()
