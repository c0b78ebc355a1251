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
disk cache); ``value`` (the eager API), ``jit`` (tracing) and ``check`` are
built on ``compile``. This module is the public API and nothing else.
"""

from ._version import __version__  # noqa: F401
from . import ir  # noqa: F401
from .errors import (ArgumentError, CompilerError, ParseError, ShapeError, TracingError,  # noqa: F401
                     UnsupportedError)
from .frontend import (Symbol, abs, acos, asin, atan, atan2, broadcast_to, concatenate, cos,  # noqa: F401
                       cosh, erf, exp, expm1, from_sympy, log, log1p, log_softmax, logsumexp,
                       matmul, max, maximum, mean, min, minimum, relu, reshape, sigmoid, sign, sin,
                       sinh, softmax, softplus, sqrt, stack, stop_gradient, sum, symbols, take, tan,
                       tanh, Tensor, to_sympy, transpose, where)
from .frontend.parse import parse  # noqa: F401
from .ir import Node as Expr  # noqa: F401
from .runtime import CompiledFunction, compile  # noqa: F401
from .runtime.cache import CacheInfo, CacheWarning, cache_info, clear_cache  # noqa: F401
from .check import GradcheckResult, gradcheck  # noqa: F401
from .jit import jit  # noqa: F401
from .value import Value  # noqa: F401
