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

from .scalar import (Symbol, abs, acos, asin, atan, atan2, cos, cosh, erf, exp, expm1,  # noqa: F401
                     log, log1p, maximum, minimum, relu, sigmoid, sign, sin, sinh, softplus, sqrt,
                     symbols, tan, tanh, where)
from .tensors import (Tensor, broadcast_to, concatenate, getitem, log_softmax, logsumexp, matmul,  # noqa: F401
                      max, mean, min, reshape, softmax, stack, stop_gradient, sum, take, transpose)
from .sympy_bridge import from_sympy, to_sympy  # noqa: F401
