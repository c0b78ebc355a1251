"""Automatic differentiation as IR-to-IR passes.

Takes: IR outputs and the inputs to differentiate with respect to.
Gives: IR for their derivatives, built with the op table's rules
(``ir.ops.OPS[op].vjp``), so a derivative is an ordinary graph that the same
passes can differentiate again (a Hessian is reverse-over-reverse, an ``hvp``
forward-over-reverse); and, as data, the structural sparsity of Jacobians and
Hessians and their colourings. Modules: ``reverse`` (reverse mode), ``forward``
(forward mode, derived from the vjp rules by linearise-and-transpose),
``sparsity`` (patterns, element by element) and ``coloring`` (distance-2 and
star colourings, and where each derivative is read from compressed sweeps).

>>> from compiler import ir
>>> from compiler.ad import reverse
>>> x = ir.symbol("x")
>>> reverse.jacobian([ir.apply("sin", x)], [x])[0][0]
cos(x)
"""
