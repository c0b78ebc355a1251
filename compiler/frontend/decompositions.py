"""Solves and decompositions of expressions, as NumPy and SciPy spell them (``cc.linalg``).

``np.linalg.solve/lstsq/inv/det/slogdet/cholesky/eigh/eigvalsh`` on expressions call
these (``__array_function__``); SciPy's ``solve_triangular``, ``cho_factor`` and
``cho_solve`` are here with SciPy's argument names. Leading batch axes broadcast
as in NumPy. A matrix that cannot be factored (singular, not positive definite)
gives nan for that matrix in compiled code, as in JAX (``ir.linalg_ops``).

>>> import numpy as np, compiler as cc
>>> K = cc.Tensor("K", (3, 3))
>>> y = cc.Tensor("y", (3,))
>>> c = cc.linalg.cho_factor(K, lower=True)
>>> (cc.linalg.cho_solve(c, y).shape, np.linalg.slogdet(K)[1].shape)
((3,), ())
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import ir
from ..errors import ShapeError
from . import tensors
from .arrays import reshape
from .dispatch import call as _build, operand as _node
from .numpy_api import implements

__all__ = ["solve", "lstsq", "inv", "det", "slogdet", "cholesky", "eigh", "eigvalsh", "solve_triangular",
           "cho_factor", "cho_solve"]


def _swap(x):
    return _build("transpose", x, params=(tuple(range(len(x.shape) - 2)) + (len(x.shape) - 1, len(x.shape) - 2),))


def _matrix(a, what: str):
    a = _node(a, what)
    if len(a.shape) < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"{what}: expected a square matrix (or a batch of them, shape (..., n, n)), "
                            f"got shape {a.shape}")
    return a


@implements(np.linalg.solve)
def solve(a, b):
    """X with ``a @ X = b``, as ``np.linalg.solve`` (NumPy 2): ``b`` of shape (n,) or (..., n, k).

    >>> import compiler as cc
    >>> solve(cc.Tensor("A", (2, 3, 3)), cc.Tensor("b", (3,))).shape
    (2, 3)
    """
    a, b = _matrix(a, "solve"), _node(b, "the right-hand side of solve")
    if len(b.shape) == 1:
        x = _build("solve", a, reshape(b, (b.shape[0], 1)))
        return reshape(x, x.shape[:-1])
    return _build("solve", a, b)


class LstsqResult(NamedTuple):
    """``np.linalg.lstsq``'s four results; the rank and singular values are numbers of the matrix's
    factorisation, not expressions: they are None."""
    x: object
    residuals: object
    rank: object
    s: object


@implements(np.linalg.lstsq)
def lstsq(a, b, rcond=None) -> LstsqResult:
    """The least-squares solution ``x`` minimising ``|a @ x - b|`` (the least-norm one for a wide or
    rank-deficient ``a``), as ``np.linalg.lstsq(a, b, rcond=None)``; ``b`` of shape (m,) or (..., m, k),
    leading batch axes broadcast (NumPy's takes one matrix). ``residuals`` is the sum of squared
    residuals per column for a tall ``a`` (m > n), an empty array otherwise (NumPy also gives an
    empty one for a rank-deficient ``a``: here it is the sum all the same). The derivatives are those
    of a full-rank ``a``; at a rank-deficient one the solution is not differentiable, and what the
    rule gives there (nan, or large numbers) has no meaning.

    >>> import numpy as np, compiler as cc
    >>> x, residuals, rank, s = np.linalg.lstsq(cc.Tensor("A", (5, 2)), cc.Tensor("b", (5,)), rcond=None)
    >>> x.shape, residuals.shape, rank
    ((2,), (1,), None)
    """
    if rcond is not None:
        raise ValueError(f"lstsq: only rcond=None (NumPy's default: machine precision times max(m, n)) is "
                         f"supported, got rcond={rcond!r}")
    a, b = _node(a, "lstsq"), _node(b, "the right-hand side of lstsq")
    if len(a.shape) < 2:
        raise ShapeError(f"lstsq: expected a matrix (or a batch of them, shape (..., m, n)), got shape {a.shape}")
    vector = len(b.shape) == 1
    if vector:
        b = reshape(b, (b.shape[0], 1))
    x = _build("lstsq", a, b)
    m, n = a.shape[-2:]
    if m > n:
        r = _build("matmul", a, x) - b
        residuals = tensors.sum(r * r, axis=-2)
    else:
        residuals = ir.constant(np.zeros(0))
    if vector:
        x = reshape(x, x.shape[:-1])
    return LstsqResult(x, residuals, None, None)


@implements(np.linalg.inv)
def inv(a):
    """The inverse of a square matrix (of each of a batch)."""
    return _build("inv", _matrix(a, "inv"))


@implements(np.linalg.det)
def det(a):
    """The determinant (of each matrix of a batch)."""
    return _build("det", _matrix(a, "det"))


class SlogdetResult(NamedTuple):
    sign: object
    logabsdet: object


@implements(np.linalg.slogdet)
def slogdet(a) -> SlogdetResult:
    """``(sign, log|det|)``, as ``np.linalg.slogdet``; the sign has no derivative."""
    a = _matrix(a, "slogdet")
    return SlogdetResult(_build("slogdet_sign", a), _build("logabsdet", a))


@implements(np.linalg.cholesky)
def cholesky(a, /, *, upper: bool = False):
    """The Cholesky factor L (``L @ L.T = a``) reading the lower triangle; ``upper``: U (``U.T @ U = a``)
    reading the upper one. nan for a matrix that is not positive definite."""
    a = _matrix(a, "cholesky")
    if upper:
        return _swap(_build("cholesky", _swap(a)))
    return _build("cholesky", a)


class EighResult(NamedTuple):
    eigenvalues: object
    eigenvectors: object


def _uplo(a, UPLO: str, what: str):
    if UPLO not in ("L", "U"):
        raise ValueError(f"{what}: UPLO must be 'L' or 'U', got {UPLO!r}")
    a = _matrix(a, what)
    return a if UPLO == "L" else _swap(a)  # the upper triangle of a is the lower one of a.T


@implements(np.linalg.eigh)
def eigh(a, UPLO: str = "L") -> EighResult:
    """Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix, as ``np.linalg.eigh``.
    The eigenvectors' derivative needs distinct eigenvalues (it is infinite or nan where two coincide);
    the eigenvalues' derivative exists always."""
    a = _uplo(a, UPLO, "eigh")
    return EighResult(_build("eigh_values", a), _build("eigh_vectors", a))


@implements(np.linalg.eigvalsh)
def eigvalsh(a, UPLO: str = "L"):
    """The eigenvalues (ascending) of a symmetric matrix."""
    return _build("eigh_values", _uplo(a, UPLO, "eigvalsh"))


_TRANS = {0: False, "N": False, 1: True, "T": True, 2: True, "C": True}


def solve_triangular(a, b, trans=0, lower: bool = False, unit_diagonal: bool = False,
                     overwrite_b: bool = False, check_finite: bool = True):
    """X with ``a @ X = b`` (``trans=1``: ``a.T @ X = b``) reading one triangle of ``a``, as
    ``scipy.linalg.solve_triangular`` (whose default is ``lower=False``). nan where ``a`` has a zero
    on its diagonal. ``overwrite_b`` and ``check_finite`` are accepted and ignored.

    >>> import compiler as cc
    >>> solve_triangular(cc.Tensor("L", (3, 3)), cc.Tensor("b", (3,)), lower=True).shape
    (3,)
    """
    if trans not in _TRANS:
        raise ValueError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    a, b = _matrix(a, "solve_triangular"), _node(b, "the right-hand side of solve_triangular")
    if unit_diagonal:  # the diagonal is read as ones
        n = a.shape[-1]
        a = a * ir.constant(1.0 - np.eye(n)) + ir.constant(np.eye(n))
    vector = len(b.shape) == 1
    x = _build("solve_triangular", a, reshape(b, (b.shape[0], 1)) if vector else b,
               params=(bool(lower), _TRANS[trans]))
    return reshape(x, x.shape[:-1]) if vector else x


def cho_factor(a, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True):
    """``(c, lower)`` for ``cho_solve``, as ``scipy.linalg.cho_factor``: c is the factor L (``lower``) or U,
    zero in its other triangle (SciPy leaves whatever was there; the solves never read it)."""
    c = cholesky(a, upper=not lower)
    return c, bool(lower)


def cho_solve(c_and_lower, b, overwrite_b: bool = False, check_finite: bool = True):
    """X with ``a @ X = b`` from ``cho_factor(a)``'s ``(c, lower)``, as ``scipy.linalg.cho_solve``:
    two triangular solves.

    >>> import compiler as cc
    >>> cho_solve(cho_factor(cc.Tensor("K", (3, 3))), cc.Tensor("B", (3, 2))).shape
    (3, 2)
    """
    try:
        c, lower = c_and_lower
    except (TypeError, ValueError):
        raise TypeError("cho_solve: the first argument must be the pair (c, lower) that cho_factor returns, "
                        f"got {type(c_and_lower).__name__}") from None
    lower = bool(lower)
    # lower: L L^T x = b, so L y = b then L^T x = y; upper: U^T U x = b, so U^T y = b then U x = y
    y = solve_triangular(c, b, trans=0 if lower else 1, lower=lower)
    return solve_triangular(c, y, trans=1 if lower else 0, lower=lower)
