"""The random graph of the compile benchmark, for this library and for CasADi.

``n_inputs`` inputs; each new op takes its two operands among the previous
``window`` values (uniformly) and is one of ``a+b``, ``a-b``, ``a*b*0.5``,
``sin(a)``, ``exp(-a*a)``, ``tanh(a)`` (uniformly); the output is the sum of
the last 8 values. The random choices do not depend on the library, so one
seed gives the same function in both.

>>> f, xs = random_graph(100)
>>> len(xs), f.shape
(8, ())
"""

from __future__ import annotations

import random

N_INPUTS = 8
WINDOW = 50
N_SUMMED = 8  # the output is the sum of this many last values


def _build(n_ops: int, seed: int, inputs: list, window: int, sin, exp, tanh):
    rng = random.Random(seed)
    vals = list(inputs)
    for _ in range(n_ops):
        a, b = rng.choice(vals[-window:]), rng.choice(vals[-window:])
        kind = rng.randrange(6)
        if kind == 0:
            v = a + b
        elif kind == 1:
            v = a - b
        elif kind == 2:
            v = a * b * 0.5
        elif kind == 3:
            v = sin(a)
        elif kind == 4:
            v = exp(-a * a)
        else:
            v = tanh(a)
        vals.append(v)
    out = vals[-N_SUMMED]
    for v in vals[-N_SUMMED + 1:]:
        out = out + v
    return out


def random_graph(n_ops: int, seed: int = 0, n_inputs: int = N_INPUTS, window: int = WINDOW):
    """``(output, inputs)`` of the random graph with ``n_ops`` ops, as this library's expressions."""
    import compiler as cc
    xs = [cc.Symbol(f"x{i}") for i in range(n_inputs)]
    return _build(n_ops, seed, xs, window, cc.sin, cc.exp, cc.tanh), xs


def random_graph_casadi(n_ops: int, seed: int = 0, n_inputs: int = N_INPUTS, window: int = WINDOW):
    """``(output, x)`` of the same graph as CasADi SX; ``x`` is the vector of the inputs.

    >>> import pytest; ca = pytest.importorskip("casadi")
    >>> import compiler as cc
    >>> (f, xs), (g, x) = random_graph(300, seed=3), random_graph_casadi(300, seed=3)
    >>> point = [0.1 * (i + 1) for i in range(8)]
    >>> ours = cc.compile(f, xs, backend="python")(*point)
    >>> theirs = float(ca.Function("g", [x], [g])(point))
    >>> abs(ours - theirs) <= 1e-12 * abs(theirs)
    True
    """
    import casadi as ca
    x = ca.SX.sym("x", n_inputs)
    return _build(n_ops, seed, [x[i] for i in range(n_inputs)], window, ca.sin, ca.exp, ca.tanh), x
