"""compiler: symbolic math compiled to reverse-mode (adjoint) code, run by Numba.

>>> import compiler as cc
>>> x, y = cc.symbols("x y")
>>> fn = cc.compile(cc.sin(x) * y + x**2, [x, y], backend="python")
>>> fn.grad(0.0, 2.0)
(2.0, 0.0)

The pipeline, one subpackage per stage, data flowing one way:
``frontend`` (symbols, tensors, text, SymPy) -> ``ir`` (the DAG and the op
table) -> ``ad`` (the reverse pass) -> ``codegen`` (schedule, Python source,
LLVM IR, instruction array) -> ``runtime`` (compile, tiers, targets, batches,
disk cache); ``value`` (the eager API), ``jit`` (tracing), ``check`` and
``optimize`` (IPOPT problems) are built on ``compile``. This module is the public API and nothing else.
"""

from ._version import __version__  # noqa: F401
from . import ir  # noqa: F401
from .errors import (ArgumentError, CacheError, CompilerError, IntegrationWarning, ParseError,  # noqa: F401
                     ResourceError, ShapeError, TracingError, UnsupportedError, UnsupportedFunctionError)
from .frontend import (Symbol, abs, acos, acosh, angle, asin, asinh, atan, atan2, atanh,  # noqa: F401
                       broadcast_to, conj, imag, real,
                       cbrt, ceil, clip, concatenate, cos, cosh, cumprod, cumsum, custom_jvp, custom_vjp, diag,
                       diagonal, diff, dot,
                       einsum, erf, exp, extern, exp2, expand_dims, expm1, flip, floor, floor_divide, fori_loop, from_sympy,
                       hypot,
                       inner, kron, log, log1p, log2, log10, log_softmax, logaddexp, logaddexp2, logsumexp,
                       matmul, max, maximum, mean, min, minimum, mod, moveaxis, norm, numpy_functions, outer,
                       pad, prod, ravel, relu, repeat, reshape, rint, roll, rot90, sigmoid, sign, sin, sinh,
                       scan, softmax, softplus, sqrt, square, squeeze, stack, std, stop_gradient, sum, swapaxes,
                       symbols, take, tan, tanh, tensordot, Tensor, tile, to_sympy, trace, transpose, tril,
                       triu, var, where)
from .frontend.special import (Ei, assoc_laguerre, assoc_legendre, besseli, besselj, besselk, bessely,  # noqa: F401
                               beta, binom, chebyshevt, chebyshevu, digamma, ellipe, ellipk, elliptic_e,
                               elliptic_k, erfc, erfcinv, erfinv, eval_chebyt, eval_chebyu, eval_gegenbauer,
                               eval_genlaguerre, eval_laguerre, eval_legendre, expi, expn, gamma, gammainc,
                               gammaincc, gammaln, gegenbauer, heaviside, iv, jv, kv, laguerre, legendre,
                               logical_and, logical_not, logical_or, logical_xor, loggamma, lpmv, poch,
                               polygamma, psi, yv, zeta, zetac)
from .frontend.special_more import (  # noqa: F401
    Chi, Ci, LambertW, Shi, Si, airy, airyai, airyaiprime, airybi, airybiprime, betainc, betaln,
    chi, ci, cosm1, eval_hermite, eval_jacobi, fresnel, fresnelc, fresnels, hermite, hurwitz_zeta,
    jacobi, lambertw, powm1, shi, shichi, si, sici)
from .frontend import decompositions as linalg  # noqa: F401 - cc.linalg.solve_triangular, cho_solve, ...
from .frontend.parse import parse  # noqa: F401
from .ir import Node as Expr  # noqa: F401
from .runtime import CompiledFunction, compile  # noqa: F401
from .runtime.cache import CacheInfo, CacheWarning, cache_info, clear_cache  # noqa: F401
from .runtime.simd import SimdInfo, info as simd_info  # noqa: F401
from .check import GradcheckResult, gradcheck  # noqa: F401
from .jit import jit  # noqa: F401
from .optimize import NLP, NLPInfo, NLPResult, nlp, nlp_info, root  # noqa: F401
from .ode import odeint  # noqa: F401
from .value import Value  # noqa: F401

# The public API: what `from compiler import *` gives, what the API reference documents and
# what type checkers take as re-exported (tests/test_docs.py keeps it equal to the names above).
__all__ = [
    "abs", "acos", "acosh", "airy", "airyai", "airyaiprime", "airybi", "airybiprime", "angle",
    "conj", "imag", "real",
    "ArgumentError", "asin", "asinh", "assoc_laguerre", "assoc_legendre", "atan", "atan2", "atanh",
    "besseli", "besselj", "besselk", "bessely", "beta", "betainc", "betaln", "binom",
    "broadcast_to", "cache_info", "CacheError", "CacheInfo", "CacheWarning", "cbrt", "ceil",
    "chebyshevt", "chebyshevu", "Chi", "chi", "Ci", "ci", "clear_cache", "clip", "compile",
    "CompiledFunction", "CompilerError", "concatenate", "cos", "cosh", "cosm1", "cumprod", "cumsum",
    "custom_jvp", "custom_vjp", "diag", "diagonal", "diff", "digamma", "dot", "Ei", "einsum",
    "ellipe", "ellipk", "elliptic_e", "elliptic_k", "erf", "erfc", "erfcinv", "erfinv",
    "eval_chebyt", "eval_chebyu", "eval_gegenbauer", "eval_genlaguerre", "eval_hermite",
    "eval_jacobi", "eval_laguerre", "eval_legendre", "exp", "exp2", "expand_dims", "expi", "expm1",
    "expn", "Expr", "extern", "flip", "floor", "floor_divide", "fori_loop", "fresnel", "fresnelc",
    "fresnels", "from_sympy", "gamma", "gammainc", "gammaincc", "gammaln", "gegenbauer",
    "gradcheck", "GradcheckResult", "heaviside", "hermite", "hurwitz_zeta", "hypot", "inner",
    "IntegrationWarning", "iv",
    "jacobi", "jit", "jv", "kron", "kv", "laguerre", "LambertW", "lambertw", "legendre", "linalg",
    "log", "log10", "log1p", "log2", "log_softmax", "logaddexp", "logaddexp2", "loggamma",
    "logical_and", "logical_not", "logical_or", "logical_xor", "logsumexp", "lpmv", "matmul", "max",
    "maximum", "mean", "min", "minimum", "mod", "moveaxis", "NLP", "nlp", "NLPInfo", "nlp_info", "NLPResult", "norm",
    "numpy_functions", "odeint", "outer", "pad", "parse", "ParseError", "poch", "polygamma",
    "powm1", "prod", "psi", "ravel", "relu", "repeat", "reshape", "ResourceError", "rint", "roll",
    "root", "rot90", "scan", "ShapeError", "Shi", "shi", "shichi", "Si", "si", "sici", "sigmoid",
    "sign", "simd_info", "SimdInfo", "sin", "sinh", "softmax", "softplus", "sqrt", "square",
    "squeeze", "stack", "std", "stop_gradient", "sum", "swapaxes", "Symbol", "symbols", "take",
    "tan", "tanh", "Tensor", "tensordot", "tile", "to_sympy", "trace", "TracingError", "transpose",
    "tril", "triu", "UnsupportedError", "UnsupportedFunctionError", "Value", "var", "where", "yv",
    "zeta", "zetac",
]
