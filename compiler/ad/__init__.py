"""Automatic differentiation as IR-to-IR passes.

Takes: IR outputs and the inputs to differentiate with respect to.
Gives: IR for their derivatives, built with the op table's rules
(``ir.ops.OPS[op].vjp``), so a derivative is an ordinary graph that the same
passes can differentiate again (a Hessian is reverse-over-reverse). Today:
``reverse`` (reverse mode); forward mode and sparsity are to land here.

>>> from compiler import ir
>>> from compiler.ad import reverse
>>> x = ir.symbol("x")
>>> reverse.jacobian([ir.apply("sin", x)], [x])[0][0]
cos(x)
"""
