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


def gradcheck(fn: CompiledFunction, *point: float, step: float | None = None,
              tol: float = 1e-6) -> GradcheckResult:
    """Compare ``fn``'s gradient at ``point`` with central finite differences.

    >>> import compiler as cc
    >>> x, y = cc.symbols("x y")
    >>> r = cc.gradcheck(cc.compile(cc.sin(x) * y, [x, y], backend="python"), 0.5, 2.0)
    >>> r.ok
    True
    """
    if not isinstance(fn, CompiledFunction):
        raise TypeError(f"gradcheck needs a compiled function (cc.compile / cc.jit), got {type(fn).__name__}")
    x0 = [float(v) for v in point]
    if len(x0) != len(fn.inputs):
        raise TypeError(f"gradcheck: expected a point of {len(fn.inputs)} number(s) "
                        f"({', '.join(n.name for n in fn.inputs)}), got {len(x0)}")
    analytic = np.atleast_2d(np.asarray(fn.grad(*x0), dtype=float))
    position = {n.id: i for i, n in enumerate(fn.inputs)}
    numeric = np.empty_like(analytic)
    for j, w in enumerate(fn.wrt):
        i = position[w.id]
        h = (step or _DEFAULT_STEP) * max(1.0, abs(x0[i]))
        up, down = list(x0), list(x0)
        up[i] += h
        down[i] -= h
        numeric[:, j] = (np.atleast_1d(fn(*up)) - np.atleast_1d(fn(*down))) / (up[i] - down[i])
    errors = np.abs(analytic - numeric) / np.maximum(1.0, np.maximum(np.abs(analytic), np.abs(numeric)))
    errors = np.where(np.isnan(errors), np.inf, errors)
    return GradcheckResult(analytic, numeric, errors, float(errors.max(initial=0.0)), tol)
