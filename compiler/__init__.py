"""compiler: symbolic math compiled to reverse-mode (adjoint) code, run by Numba.

>>> import compiler as cc
>>> x, y = cc.symbols("x y")
>>> fn = cc.compile(cc.sin(x) * y + x**2, [x, y], backend="python")
>>> fn.grad(0.0, 2.0)
(2.0, 0.0)

Pipeline: front-end (``frontend``, ``sympy_bridge``, ``tracing``, ``value``)
-> IR (``ir``, ``ops``) -> reverse pass (``reverse``) -> code generation
(``codegen``) -> runtime and JIT (``runtime``).
"""

from . import ir  # noqa: F401  (first: ops builds on it)
from .errors import (ArgumentError, CompilerError, ParseError, ShapeError, TracingError,  # noqa: F401
                     UnsupportedError)
from .frontend import (Symbol, abs, acos, asin, atan, atan2, cos, cosh, erf, exp, expm1,  # noqa: F401
                       log, log1p, maximum, minimum, relu, sigmoid, sign, sin, sinh, softplus,
                       sqrt, symbols, tan, tanh, where)
from .ir import Node as Expr  # noqa: F401
from .tensors import (Tensor, broadcast_to, concatenate, log_softmax, logsumexp, matmul, max,  # noqa: F401
                      mean, min, reshape, softmax, stack, stop_gradient, sum, take, transpose)
from .runtime import CompiledFunction, compile  # noqa: F401
from .cache import CacheInfo, CacheWarning, cache_info, clear_cache  # noqa: F401,E402

__version__ = "0.1.0"
from .check import GradcheckResult, gradcheck  # noqa: F401,E402
from .sympy_bridge import from_sympy, to_sympy  # noqa: F401,E402
from .tracing import jit  # noqa: E402,F401
from .value import Value  # noqa: E402,F401
from .parse import parse  # noqa: E402,F401  (shadows the module; `from compiler.parse import parse_point` works)
