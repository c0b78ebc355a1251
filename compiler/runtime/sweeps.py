"""Every sweep of a derivative in one kernel, for graphs whose sweeps share costly work.

Takes: a compiled function whose graph holds a custom function (``cc.odeint``,
``cc.root``). Gives: its Jacobian's rows or columns, or its Hessian's columns, as the
outputs of one derived function. The rule of a custom function has a part that does not
depend on the seed (an odeint's sensitivity solve, a root's factorization); in one graph,
hash-consing makes it one node, computed once per call, where a batch of single sweeps
(``derivatives.jacobian`` of other graphs) computes it once per sweep.

>>> import numpy as np, compiler as cc
>>> k = cc.Tensor("k", (2,))
>>> y = cc.odeint(lambda y, t, a, b: cc.stack([-a * y[0], -b * y[1]]), cc.stack([1.0, 1.0]), [0.0, 1.0], k[0], k[1])
>>> fn = cc.compile(y[1], [k], wrt=k, backend="python")
>>> J = fn.jacobian(np.array([1.0, 2.0]))                    # diag(-exp(-k)), one sensitivity solve
>>> bool(np.allclose(J, np.diag(-np.exp([-1.0, -2.0])), atol=1e-7))
True
"""

from __future__ import annotations

import math

import numpy as np

from .. import ir
from ..ad import forward, reverse
from ..ir import Node
from . import derivatives  # (which calls this module; used at call time only)

ONE_KERNEL_SWEEPS = 16  # jacobian of a graph with a custom function: up to this many sweeps in one kernel


def holds_custom(fn) -> bool:
    """Whether the graph holds a custom function (``cc.odeint``, ``cc.root``), whose rule's costly
    part (the sensitivity solve, the factorization) is the same for every seed."""
    return derivatives._cached(fn, "holds custom",
                               lambda: any(n.op == "custom" for n in ir.topo_order(fn.outputs)))


def _unit_seeds(shapes: list[tuple]) -> list[list[Node]]:
    """One list of constants per stacked element of ``shapes``: its unit vector, cut by shape."""
    return [[ir.constant(b[k]) if s else ir.constant(float(b[k])) for b, s in zip(batches, shapes)]
            for batches in [derivatives._unit_batches(shapes)] for k in range(sum(map(math.prod, shapes)))]


def jacobian_function(fn, by_rows: bool):
    """Every row (``by_rows``: reverse sweeps) or every column (forward sweeps) of the Jacobian
    as the outputs of one function of ``fn``'s inputs, one sweep after the other. Work the
    sweeps share is done once: a custom function's rule (an odeint's sensitivity solve) does
    not depend on the seed, and hash-consing makes it one node; a batch of sweeps (``jacobian``
    of other graphs) would redo it per sweep."""
    def build():
        order = ir.topo_order(fn.outputs)
        if by_rows:
            flat = []
            for seed in _unit_seeds([o.shape for o in fn.outputs]):
                seeded = [(o, u) for o, u in zip(fn.outputs, seed) if np.any(u.value)]  # (zeros: no sweep)
                flat += reverse.vjp([o for o, _ in seeded], [u for _, u in seeded], fn.wrt, order)
        else:
            columns = forward.jvp_many(fn.outputs, fn.wrt, _unit_seeds([w.shape for w in fn.wrt]), order)
            flat = [t for col in columns for t in col]
        title = f"Jacobian ({'rows' if by_rows else 'columns'} in one kernel)"
        return derivatives._derived_function(fn, flat, [], title)
    return derivatives._cached(fn, f"jacobian {'rows' if by_rows else 'columns'}", build)


def hessian_function(fn):
    """Every column ``H @ e_k`` of a scalar output's Hessian as the outputs of one function (forward
    over reverse): a custom function's second-order rule runs once (see ``jacobian_function``)."""
    def build():
        columns = forward.jvp_many(fn._jac[0], fn.wrt, _unit_seeds([w.shape for w in fn.wrt]))
        flat = [c for col in columns for c in col]
        return derivatives._derived_function(fn, flat, [], "Hessian (columns in one kernel)")
    return derivatives._cached(fn, "hessian columns", build)
