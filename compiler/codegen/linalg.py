"""Printer methods of the linear-algebra ops (``ir.linalg_ops``) and the helpers they call.

The NumPy dialect calls ``np.linalg`` (and SciPy's ``solve_triangular``) through
``_linalg``, which retries a batch matrix by matrix when NumPy raises, so that a
matrix that cannot be factored gives nan and the others their values. The Numba
dialect calls Numba's own ``np.linalg`` (LAPACK through SciPy) in jitted helpers
that catch the error per matrix; Numba has no triangular solve, so
``solve_triangular`` calls the BLAS ``dtrsm`` that ``scipy.linalg.cython_blas``
exports, by address (no ``objmode`` block, no Python per call).
"""

from __future__ import annotations

_MATRICES = '''def NAME(a):
    """FUNCTION of each matrix of a batch (..., n, n); nan for a matrix it cannot factor."""
    n = a.shape[-1]
    flat = np.ascontiguousarray(a).reshape((-1, n, n))
    out = np.empty((flat.shape[0],) + SHAPE)
    for k in range(flat.shape[0]):
        try:
            out[k] = FUNCTION(flat[k])
        except Exception:
            out[k] = np.nan
    return out.reshape(a.shape[:-2] + SHAPE)'''


def _matrices(name: str, function: str, shape: str) -> str:
    return _MATRICES.replace("NAME", name).replace("FUNCTION", function).replace("SHAPE", shape)


_SOLVE_TRIANGULAR = '''def _solve_triangular(a, b, lower, trans):
    """scipy.linalg.solve_triangular of each matrix of a batch (operands broadcast already);
    nan for a matrix with a zero on its diagonal."""
    import scipy.linalg
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    out = np.empty(b.shape)
    for index in np.ndindex(*b.shape[:-2]):
        try:
            out[index] = scipy.linalg.solve_triangular(a[index], b[index], lower=lower, trans=trans,
                                                       check_finite=False)
        except np.linalg.LinAlgError:
            out[index] = np.nan
    return out'''

_LSTSQ = '''def _lstsq(a, b):
    """np.linalg.lstsq(a, b, rcond=None)[0] of each matrix of a batch (operands broadcast already);
    nan where it fails."""
    m, n, k = a.shape[-2], a.shape[-1], b.shape[-1]
    fa = np.ascontiguousarray(a).reshape((-1, m, n))
    fb = np.ascontiguousarray(b).reshape((-1, m, k))
    out = np.empty((fa.shape[0], n, k))
    rcond = 2.220446049250313e-16 * max(m, n)  # NumPy's rcond=None
    for i in range(fa.shape[0]):
        try:
            out[i] = np.linalg.lstsq(fa[i], fb[i], rcond=rcond)[0]
        except Exception:
            out[i] = np.nan
    return out.reshape(b.shape[:-2] + (n, k))'''

# The Numba dialect's: the Python version above where the module runs as plain Python, BLAS's
# dtrsm in compiled code. Its source begins with a comment: the module does not jit it itself.
_SOLVE_TRIANGULAR_NUMBA = """# scipy.linalg.solve_triangular: SciPy's in plain Python, BLAS's dtrsm (scipy.linalg.cython_blas,
# bound by address under a symbol name, as cached machine code finds it) in compiled code
import llvmlite.binding
from numba.extending import get_cython_function_address, overload

llvmlite.binding.add_symbol("cython_blas_dtrsm", get_cython_function_address("scipy.linalg.cython_blas", "dtrsm"))
_dtrsm = numba.types.ExternalFunction("cython_blas_dtrsm", numba.types.void(*[numba.types.voidptr] * 11))


""" + _SOLVE_TRIANGULAR + '''


@numba.njit
def _trsm(a, b, out, lower, trans):
    """out = a^-1 b (a^-T b if trans) for one triangular C-ordered matrix a and b of shape (n, k).
    BLAS is column-major: it sees a as a.T and b as b.T, so it solves out.T a.T = b.T (side R),
    or, for one column, a.T.T out = b (side L); nan for a zero on the diagonal."""
    n, k = b.shape
    for i in range(n):
        if a[i, i] == 0.0:
            out[:] = np.nan
            return
    out[:] = b
    flags = np.empty(4, np.uint8)  # side, uplo, transa, diag: BLAS's characters
    flags[0] = ord("L") if k == 1 else ord("R")
    flags[1] = ord("U") if lower else ord("L")
    flags[2] = ord("N") if (k == 1) == bool(trans) else ord("T")
    flags[3] = ord("N")
    sizes = np.empty(4, np.int32)  # m, n, lda, ldb of BLAS's column-major view
    if k == 1:
        sizes[0], sizes[1], sizes[2], sizes[3] = n, 1, n, n
    else:
        sizes[0], sizes[1], sizes[2], sizes[3] = k, n, n, k
    one = np.ones(1)
    _dtrsm(flags[0:].ctypes, flags[1:].ctypes, flags[2:].ctypes, flags[3:].ctypes, sizes[0:].ctypes,
           sizes[1:].ctypes, one.ctypes, a.ctypes, sizes[2:].ctypes, out.ctypes, sizes[3:].ctypes)


@overload(_solve_triangular)
def _solve_triangular_compiled(a, b, lower, trans):
    vector = b.ndim == 1

    def compiled(a, b, lower, trans):
        n = a.shape[-1]
        k = 1 if vector else b.shape[-1]
        fa = np.ascontiguousarray(a).reshape((-1, n, n))
        fb = np.ascontiguousarray(b).reshape((-1, n, k))
        out = np.empty(fb.shape)
        for i in range(fa.shape[0]):
            _trsm(fa[i], fb[i], out[i], lower, trans)
        return out.reshape(b.shape)
    return compiled'''

NUMBA_HELPERS = {
    "_solve": '''def _solve(a, b):
    """np.linalg.solve of each matrix of a batch (operands broadcast already); nan where singular."""
    n, k = b.shape[-2], b.shape[-1]
    fa = np.ascontiguousarray(a).reshape((-1, n, n))
    fb = np.ascontiguousarray(b).reshape((-1, n, k))
    out = np.empty(fb.shape)
    for i in range(fa.shape[0]):
        try:
            out[i] = np.linalg.solve(fa[i], fb[i])
        except Exception:
            out[i] = np.nan
    return out.reshape(b.shape)''',
    "_lstsq": _LSTSQ,
    "_inv": _matrices("_inv", "np.linalg.inv", "(n, n)"),
    "_cholesky": _matrices("_cholesky", "np.linalg.cholesky", "(n, n)"),
    "_eigh_values": _matrices("_eigh_values", "np.linalg.eigvalsh", "(n,)"),
    "_eigh_vectors": _matrices("_eigh_vectors", "_eigenvectors", "(n, n)"),
    "_eigenvectors": '''def _eigenvectors(a):
    return np.linalg.eigh(a)[1]''',
    "_det": _matrices("_det", "np.linalg.det", "()"),
    "_logabsdet": _matrices("_logabsdet", "_slogdet_log", "()"),
    "_slogdet_sign": _matrices("_slogdet_sign", "_slogdet_first", "()"),
    "_slogdet_log": '''def _slogdet_log(a):
    return np.linalg.slogdet(a)[1]''',
    "_slogdet_first": '''def _slogdet_first(a):
    return np.linalg.slogdet(a)[0]''',
    "_solve_triangular": _SOLVE_TRIANGULAR_NUMBA,
}

NUMPY_HELPERS = {
    "_linalg": '''def _linalg(function, shape, core, *arrays):
    """function (np.linalg) of a batch of matrices; where it raises (a singular or not positive
    definite matrix), each matrix on its own: nan for the ones it cannot factor."""
    try:
        return function(*arrays)
    except np.linalg.LinAlgError:
        out = np.empty(shape)
        for index in np.ndindex(*shape[:len(shape) - core]):
            try:
                out[index] = function(*[x[index] for x in arrays])
            except np.linalg.LinAlgError:
                out[index] = np.nan
        return out''',
    "_solve_triangular": _SOLVE_TRIANGULAR,
    "_lstsq": _LSTSQ,
}
#: helpers of the Numba dialect that run as plain Python (objmode)
LINALG_PYTHON_HELPERS: set = set()

_NUMPY_FUNCTIONS = {"inv": ("np.linalg.inv", 2), "cholesky": ("np.linalg.cholesky", 2),
                    "eigh_values": ("np.linalg.eigvalsh", 1), "eigh_vectors": ("(lambda m: np.linalg.eigh(m)[1])", 2)}


class LinalgPrinting:
    """Printer methods of the linear-algebra ops (the printer provides ``helper``, ``dialect``)."""

    def _broadcast(self, node, atoms) -> list[str]:
        """The operands broadcast to the result's batch axes (static shapes: only where needed)."""
        batch = node.shape[:-2]
        out = []
        for atom, arg in zip(atoms, node.args):
            full = batch + arg.shape[-2:]
            out.append(atom if arg.shape == full else f"np.broadcast_to({atom}, {full})")
        return out

    def _print_solve(self, node, a, b):
        a, b = self._broadcast(node, (a, b))
        if self.dialect == "numpy":
            return f"{self.helper('_linalg')}(np.linalg.solve, {node.shape}, 2, {a}, {b})"
        return f"{self.helper('_solve')}({a}, {b})"

    def _print_lstsq(self, node, a, b):
        batch = node.shape[:-2]
        a, b = [atom if arg.shape[:-2] == batch else f"np.broadcast_to({atom}, {batch + arg.shape[-2:]})"
                for atom, arg in zip((a, b), node.args)]
        return f"{self.helper('_lstsq')}({a}, {b})"

    def _unary(self, node, a, op: str):
        if self.dialect == "numpy":
            function, core = _NUMPY_FUNCTIONS[op]
            return f"{self.helper('_linalg')}({function}, {node.shape}, {core}, {a})"
        return f"{self.helper('_' + op)}({a})"

    def _print_inv(self, node, a):
        return self._unary(node, a, "inv")

    def _print_cholesky(self, node, a):
        return self._unary(node, a, "cholesky")

    def _print_eigh_values(self, node, a):
        return self._unary(node, a, "eigh_values")

    def _print_eigh_vectors(self, node, a):
        if self.dialect == "numba":
            self.helper("_eigenvectors")
        return self._unary(node, a, "eigh_vectors")

    def _determinant(self, node, a, numpy_text: str, helper: str, scalar: str):
        if self.dialect == "numpy":
            return numpy_text.format(a)
        if not node.shape:  # one matrix: Numba's own function
            return scalar.format(f"np.ascontiguousarray({a})")
        return f"{self.helper(helper)}({a})"

    def _print_det(self, node, a):
        return self._determinant(node, a, "np.linalg.det({})", "_det", "np.linalg.det({})")

    def _print_logabsdet(self, node, a):
        if self.dialect == "numba" and node.shape:
            self.helper("_slogdet_log")
        return self._determinant(node, a, "np.linalg.slogdet({})[1]", "_logabsdet", "np.linalg.slogdet({})[1]")

    def _print_slogdet_sign(self, node, a):
        if self.dialect == "numba" and node.shape:
            self.helper("_slogdet_first")
        return self._determinant(node, a, "np.linalg.slogdet({})[0]", "_slogdet_sign", "np.linalg.slogdet({})[0]")

    def _print_solve_triangular(self, node, a, b):
        a, b = self._broadcast(node, (a, b))
        lower, trans = node.params
        return f"{self.helper('_solve_triangular')}({a}, {b}, {lower}, {int(trans)})"
