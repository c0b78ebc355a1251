"""The linear-algebra ops of the op table: solves, least squares, inverse, determinants, Cholesky, eigh.

Each works on the last two axes (square matrices) and broadcasts leading batch
axes as NumPy does. Reverse-mode rules are matrix calculus written as IR built
from these ops and ``matmul`` (Giles 2008; Murray 2016 for Cholesky), so
Hessians and forward mode follow as for every op.

A matrix the op cannot factor (singular for ``solve``/``inv``/``solve_triangular``,
not positive definite for ``cholesky``) gives nan for that matrix (JAX's
convention), in eager values, constant folding and every backend alike: a batch
never aborts half-written, and its nan points say which ones failed.

``cholesky`` and ``eigh_*`` read the lower triangle only, as NumPy does; their
gradients are therefore lower triangular (for a symmetric input built from
parameters, the chain rule gives the same derivatives as JAX's symmetrised ones).

>>> from compiler import ir
>>> A = ir.symbol("A", (4, 3, 3))
>>> solve(A, ir.symbol("B", (3, 2))).shape, det(A).shape
((4, 3, 2), (4,))
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from .node import apply, constant
from .ops import Op
from .tensor_ops import reshape, sum_to, transpose


def _swap(x):
    perm = tuple(range(len(x.shape) - 2)) + (len(x.shape) - 1, len(x.shape) - 2)
    return transpose(x, perm)


# --- shape rules ---

def _square(name: str, s: tuple) -> int:
    if len(s) < 2 or s[-1] != s[-2]:
        raise ShapeError(f"{name}: expected a square matrix (or a batch of them, shape (..., n, n)), got shape {s}")
    return s[-1]


def _solve_shape(name: str, a: tuple, b: tuple) -> tuple:
    _square(name, a)
    return _right_hand_side(name, a, b) + b[-2:]


def _lstsq_shape(a: tuple, b: tuple) -> tuple:
    if len(a) < 2:
        raise ShapeError(f"lstsq: expected a matrix (or a batch of them, shape (..., m, n)), got shape {a}")
    return _right_hand_side("lstsq", a, b) + (a[-1], b[-1])


def _right_hand_side(name: str, a: tuple, b: tuple) -> tuple:
    """The batch axes of matrices ``a`` (..., m, n) and right-hand sides ``b`` (..., m, k), broadcast."""
    if len(b) < 2 or b[-2] != a[-2]:
        raise ShapeError(f"{name}: the right-hand side must have shape (..., {a[-2]}, k) for a matrix of shape "
                         f"{a}, got {b}")
    try:
        return tuple(np.broadcast_shapes(a[:-2], b[:-2]))
    except ValueError:
        raise ShapeError(f"{name}: the batch axes of shapes {a} and {b} do not broadcast together") from None


# --- NumPy implementations: nan for a matrix that cannot be factored ---

def _per_matrix(fn, arrays, out_shape, core: int):
    """``fn`` on each batch element of ``arrays`` (broadcast), nan where it raises LinAlgError."""
    out = np.empty(out_shape)
    batch = out_shape[:len(out_shape) - core]
    for index in np.ndindex(*batch):
        parts = [np.broadcast_to(x, batch + x.shape[-2:])[index] for x in arrays]
        try:
            out[index] = fn(*parts)
        except np.linalg.LinAlgError:
            out[index] = np.nan
    return out


def _guarded(fn, shape_of, core: int):
    """NumPy's batched ``fn``; where it raises, each matrix again on its own (nan for the bad ones)."""
    def impl(*arrays):
        try:
            return np.asarray(fn(*arrays), dtype=np.float64)
        except np.linalg.LinAlgError:
            return _per_matrix(fn, arrays, shape_of(*[x.shape for x in arrays]), core)
    return impl


def _solve_np(a, b):
    """np.linalg.solve with both operands broadcast to one batch (NumPy 1.x reads a (n, k) right-hand
    side of a batch of matrices as a batch of vectors)."""
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return np.linalg.solve(np.broadcast_to(a, batch + a.shape[-2:]), np.broadcast_to(b, batch + b.shape[-2:]))


def solve_triangular_impl(a, b, lower: bool, trans: bool):
    """``scipy.linalg.solve_triangular`` over a batch; nan where a diagonal element is zero."""
    from scipy.linalg import solve_triangular as st

    shape = _solve_shape("solve_triangular", a.shape, b.shape)
    return _per_matrix(lambda x, y: st(x, y, lower=lower, trans=int(trans), check_finite=False), (a, b), shape, 2)


def lstsq_impl(a, b):
    """``np.linalg.lstsq(a, b, rcond=None)[0]`` of each matrix of a batch (NumPy's takes one)."""
    return _per_matrix(lambda x, y: np.linalg.lstsq(x, y, rcond=None)[0], (a, b), _lstsq_shape(a.shape, b.shape), 2)


# --- builders ---

def solve(a, b):
    """X with ``a @ X = b``; ``b`` has shape (..., n, k)."""
    return apply("solve", a, b)


def inv(a):
    return apply("inv", a)


def det(a):
    return apply("det", a)


def solve_triangular(a, b, lower: bool, trans: bool = False):
    """X with ``a @ X = b`` (``a.T @ X = b`` when ``trans``), reading one triangle of ``a``."""
    return apply("solve_triangular", a, b, params=(bool(lower), bool(trans)))


def _phi(x):
    """The lower triangle of ``x`` with its diagonal halved (Murray 2016's Phi)."""
    # triangles, not a mask constant: an n x n constant would be printed into the generated module
    below = apply("triangle", x, params=(-1, False))
    diagonal = apply("triangle", apply("triangle", x, params=(0, False)), params=(0, True))
    return below + 0.5 * diagonal


def _matrix_of(g, batch_shape):
    return reshape(g, tuple(batch_shape) + (1, 1))


# --- reverse-mode rules ---

def _vjp_solve(args, out, g):
    a, b = args
    gb = solve(_swap(a), g)                      # A^-T g
    ga = -apply("matmul", gb, _swap(out))       # -A^-T g X^T
    return sum_to(ga, a.shape), sum_to(gb, b.shape)


def _vjp_lstsq(args, out, g):
    # x = A^+ b. A tall (m >= n, full column rank): x = (A^T A)^-1 A^T b, so with z = (A^T A)^-1 g,
    # b_bar = A z and A_bar = r z^T - A z x^T (r = b - A x). A wide (m < n, full row rank): the
    # least-norm x = A^T w, w = (A A^T)^-1 b, so with y = (A A^T)^-1 A g, b_bar = y and
    # A_bar = w g^T - y x^T - w (A^T y)^T. At a rank-deficient matrix the least-norm solution is not
    # differentiable: its Gram matrix is singular, and these solves give nan or large numbers.
    a, b = args
    at = _swap(a)
    if a.shape[-2] >= a.shape[-1]:
        z = solve(apply("matmul", at, a), g)
        az = apply("matmul", a, z)
        r = b - apply("matmul", a, out)
        ga = apply("matmul", r, _swap(z)) - apply("matmul", az, _swap(out))
        return sum_to(ga, a.shape), sum_to(az, b.shape)
    gram = apply("matmul", a, at)
    w = solve(gram, b)
    y = solve(gram, apply("matmul", a, g))
    ga = (apply("matmul", w, _swap(g)) - apply("matmul", y, _swap(out))
          - apply("matmul", w, _swap(apply("matmul", at, y))))
    return sum_to(ga, a.shape), sum_to(y, b.shape)


def _vjp_inv(args, out, g):
    yt = _swap(out)
    return (-apply("matmul", apply("matmul", yt, g), yt),)


def _vjp_det(args, out, g):
    return (_matrix_of(g * out, out.shape) * _swap(inv(args[0])),)


def _vjp_logabsdet(args, out, g):
    return (_matrix_of(g, out.shape) * _swap(inv(args[0])),)


def _vjp_solve_triangular(args, out, g):
    a, b = args
    lower, trans = out.params
    gb = solve_triangular(a, g, lower, not trans)
    full = apply("matmul", gb, _swap(out)) if not trans else apply("matmul", out, _swap(gb))
    ga = -apply("triangle", full, params=(0, not lower))  # only the triangle read
    return sum_to(ga, a.shape), sum_to(gb, b.shape)


def _vjp_cholesky(args, out, g):
    # Murray 2016: S = L^-T Phi(L^T gL) L^-1; the input's lower triangle gets Phi(S + S^T)
    lo = out
    p = _phi(apply("matmul", _swap(lo), apply("triangle", g, params=(0, False))))
    z = solve_triangular(lo, p, True, True)              # L^-T P
    s = _swap(solve_triangular(lo, _swap(z), True, True))  # (L^-T Z^T)^T = Z L^-1
    return (_phi(s + _swap(s)),)


def _vjp_eigh_values(args, out, g):
    v = apply("eigh_vectors", args[0])
    s = apply("matmul", v * reshape(g, g.shape[:-1] + (1,) + g.shape[-1:]), _swap(v))  # V diag(g) V^T
    return (_phi(s + s),)


def _vjp_eigh_vectors(args, out, g):
    # dV = V (F o (V^T dA V)) with F_ij = 1 / (w_j - w_i) off the diagonal (infinite when two
    # eigenvalues coincide: the eigenvectors' derivative does not exist there)
    v, w = out, apply("eigh_values", args[0])
    n = w.shape[-1]
    gap = reshape(w, w.shape[:-1] + (1, n)) - reshape(w, w.shape[:-1] + (n, 1))
    f = constant(1.0 - np.eye(n)) / (gap + constant(np.eye(n)))  # (n x n constants: eigh is for small n)
    s = apply("matmul", apply("matmul", v, f * apply("matmul", _swap(v), g)), _swap(v))
    return (_phi(s + _swap(s)),)


def _linalg_op(name, arity, shape_rule, impl, vjp, params=None):
    return Op(name, arity, "", vjp, params=params, shape_rule=shape_rule, impl=impl)


def _square_shape(name):
    def rule(s, p):
        _square(name, s[0])
        return s[0]
    return rule


def _batch_of(name):
    return lambda s, p: _square_shape(name)(s, p)[:-2]


def _same(shape):
    return shape


def _slogdet_sign(a):
    return np.linalg.slogdet(a)[0]


def _slogdet_log(a):
    return np.linalg.slogdet(a)[1]


LINALG_OPS = [
    _linalg_op("solve", 2, lambda s, p: _solve_shape("solve", s[0], s[1]),
               _guarded(_solve_np, lambda a, b: _solve_shape("solve", a, b), 2),
               _vjp_solve),
    _linalg_op("lstsq", 2, lambda s, p: _lstsq_shape(s[0], s[1]), lstsq_impl, _vjp_lstsq),
    _linalg_op("inv", 1, _square_shape("inv"), _guarded(np.linalg.inv, _same, 2), _vjp_inv),
    _linalg_op("det", 1, _batch_of("det"), lambda a: np.asarray(np.linalg.det(a), dtype=np.float64), _vjp_det),
    # slogdet as two ops: the sign (piecewise constant: no derivative) and log |det|
    _linalg_op("slogdet_sign", 1, _batch_of("slogdet"), _slogdet_sign, lambda args, out, g: (None,)),
    _linalg_op("logabsdet", 1, _batch_of("slogdet"), _slogdet_log, _vjp_logabsdet),
    _linalg_op("cholesky", 1, _square_shape("cholesky"),
               _guarded(np.linalg.cholesky, _same, 2), _vjp_cholesky),
    _linalg_op("solve_triangular", 2, lambda s, p: _solve_shape("solve_triangular", s[0], s[1]),
               solve_triangular_impl, _vjp_solve_triangular, params=("lower", "trans")),
    # eigh as two ops: eigenvalues (ascending) and eigenvectors (columns)
    _linalg_op("eigh_values", 1, lambda s, p: _square_shape("eigh")(s, p)[:-1],
               _guarded(np.linalg.eigvalsh, lambda a: a[:-1], 1), _vjp_eigh_values),
    _linalg_op("eigh_vectors", 1, _square_shape("eigh"),
               _guarded(lambda a: np.linalg.eigh(a)[1], _same, 2), _vjp_eigh_vectors),
]
