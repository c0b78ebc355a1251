"""The IR: a hash-consed DAG of nodes with shapes, and the one table of ops.

Takes: nothing from the rest of the package (it imports only ``errors``).
Gives: ``Node`` (immutable, interned: the same op on the same operands is the
same object), ``apply`` (the one way nodes are made: checks, shape rules,
identities, constant folding), ``constant``/``symbol``, the op table
``ops.OPS`` (spelling, derivative rule, SymPy counterpart, LLVM lowering of
every op), shape rules (``shapes``), and iterative graph walks, listings and
serialization (``graph``).

>>> from compiler import ir
>>> x = ir.symbol("x")
>>> print(ir.format_ir([ir.apply("sin", x)]))
%0 = var x
%1 = sin %0
return %1
"""

from . import node  # noqa: I001 - first: ops and graph build on it
from .node import (SCALAR, Node, _is_real_scalar, apply, as_node, broadcast_shapes, check_shape,  # noqa: F401
                   constant, refuse_foreign_array, symbol)
from .graph import (format_const, format_ir, free_symbols, from_table, short_str, substitute, to_table,  # noqa: F401
                    topo_order)
from . import custom, evaluate, extern, ops, shapes  # noqa: F401
