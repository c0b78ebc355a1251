"""The schedule: the order of evaluation of each kernel, shared by every target
(the Python printers, LLVM IR, the instruction array).

>>> from compiler import ir
>>> x = ir.symbol("x")
>>> plan = schedule([ir.apply("sin", x)], [[ir.apply("cos", x)]])
>>> [n.op for n in plan["value_and_grad"].statements]
['sin', 'cos']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .. import ir
from ..ir import Node

DEFAULT_MAX_STATEMENTS = 500  # lines per generated function before the schedule is split
# Under that default, a kernel of up to this many statements stays one function: the live values
# passed between parts (arguments, returned tuples) cost Numba more than one function's size up to
# a few thousand statements (the 10-link pendulum's forcing and Jacobian, 1,300 statements: 2.7 s
# in one function, 4.6 s in parts of 500; the 1,000-op random gradient, 2,380: 3.5 s against 5.2 s);
# at 7,300 statements parts win (23 s against 34 s). Measured on 2 loaded cores, issue 28.
ONE_FUNCTION_UP_TO = 2_500


@dataclass
class Schedule:
    """The order of evaluation of one kernel, shared by every target (Python, LLVM, interpreter)."""
    outputs: list[Node]   # flat: the values, then the Jacobian row by row
    sections: list        # [(comment, [nodes])]: the forward sweep, then the adjoint sweep

    @property
    def nodes(self) -> list[Node]:
        """Every node in order, inputs and constants included."""
        return [n for _, nodes in self.sections for n in nodes]

    @property
    def statements(self) -> list[Node]:
        """The nodes that compute something, in order (inputs and constants are not statements)."""
        return [n for _, nodes in self.sections for n in nodes if n.op not in ("const", "var")]


def schedule(outputs: Sequence[Node], jac: list[list[Node]] | None,
             forward: list[Node] | None = None) -> dict[str, Schedule]:
    """Role (``"value"``, ``"value_and_grad"``) -> its schedule: primal nodes, then adjoint nodes.

    ``forward`` is ``ir.topo_order(outputs)`` when the caller has it already.
    """
    forward = forward if forward is not None else ir.topo_order(outputs)
    plan = {"value": Schedule(list(outputs), [("forward sweep", forward)])}
    if jac is not None:
        flat = [x for row in jac for x in row]
        adjoint = ir.topo_order(flat, exclude={n.id for n in forward})
        plan["value_and_grad"] = Schedule(list(outputs) + flat,
                                          [("forward sweep", forward), ("adjoint sweep", adjoint)])
    return plan
