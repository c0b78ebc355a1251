"""The front-end: what users build expressions with.

Takes: user input — symbol names, Python operators on expressions, numbers
and NumPy arrays, SymPy expressions (``sympy_bridge``), expression text
(``parse``, read with ``ast``, never evaluated).
Gives: IR nodes (``compiler.ir``), built only through ``ir.apply``. It knows
nothing of derivatives, code or the runtime; eager types (``cc.Value``)
register themselves in ``dispatch`` rather than being imported here.

>>> import compiler as cc
>>> x, y = cc.symbols("x y")
>>> cc.sin(x) * y + x**2
y * sin(x) + x ** 2.0
"""

from .scalar import (Symbol, abs, angle, conj, imag, real,  # noqa: F401
                     acos, acosh, asin, asinh, atan, atan2, atanh, cbrt, ceil, clip, cos,  # noqa: F401
                     cosh, erf, exp, exp2, expm1, floor, floor_divide, hypot, log, log1p, log2, log10,
                     logaddexp, logaddexp2, maximum, minimum, mod, relu, rint, sigmoid, sign, sin, sinh,
                     softplus, sqrt, square, symbols, tan, tanh, where)
from .tensors import (Tensor, cumprod, cumsum, log_softmax, logsumexp, max, mean, min, prod, softmax,  # noqa: F401
                      std, stop_gradient, sum, var)
from .arrays import (broadcast_to, concatenate, expand_dims, moveaxis, ravel, reshape, squeeze, stack,  # noqa: F401
                     swapaxes, transpose)
from .loops import fori_loop, scan  # noqa: F401
from .custom import custom_jvp, custom_vjp  # noqa: F401
from .extern import extern  # noqa: F401
from .manipulation import diff, flip, pad, repeat, roll, rot90, tile  # noqa: F401
from .indexing import getitem, take  # noqa: F401
from .linalg import (diag, diagonal, dot, einsum, inner, kron, matmul, norm, outer, tensordot, trace,  # noqa: F401
                     tril, triu)
from . import decompositions  # noqa: F401 - np.linalg.solve & co. on expressions; cc.linalg
from .numpy_api import numpy_functions  # noqa: F401 - also makes expressions NumPy duck arrays
from .sympy_bridge import from_sympy, to_sympy  # noqa: F401
from .special_more import (  # noqa: F401
    Chi, Ci, LambertW, Shi, Si, airy, airyai, airyaiprime, airybi, airybiprime, betainc, betaln,
    chi, ci, cosm1, eval_hermite, eval_jacobi, fresnel, fresnelc, fresnels, hermite, hurwitz_zeta,
    jacobi, lambertw, powm1, shi, shichi, si, sici)
from .special import (Ei, assoc_laguerre, assoc_legendre, besseli, besselj, besselk, bessely, beta,  # noqa: F401
                      binom, chebyshevt, chebyshevu, digamma, ellipe, ellipk, elliptic_e, elliptic_k, erfc,
                      erfcinv, erfinv, eval_chebyt, eval_chebyu, eval_gegenbauer, eval_genlaguerre,
                      eval_laguerre, eval_legendre, expi, expn, gamma, gammainc, gammaincc, gammaln, gegenbauer,
                      heaviside, iv, jv, kv, laguerre, legendre, logical_and, logical_not, logical_or,
                      logical_xor, loggamma, lpmv, poch, polygamma, psi, yv, zeta, zetac)
