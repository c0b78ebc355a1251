"""The random graph of the large-graph benchmark, for this library and for CasADi.

8 inputs; each new op takes its two operands among the previous 50 values and
is one of ``a+b``, ``a-b``, ``a*b*0.5``, ``sin(a)``, ``exp(-a*a)``, ``tanh(a)``;
the output is the sum of the last 8 values. The same seed gives the same
function in both libraries (the random choices do not depend on the library).

>>> f, xs = random_graph(100)
>>> len(xs), f.shape
(8, ())
"""

from __future__ import annotations

import random

N_INPUTS = 8
WINDOW = 50


def _build(n_ops: int, seed: int, inputs: list, sin, exp, tanh):
    rng = random.Random(seed)
    vals = list(inputs)
    for _ in range(n_ops):
        a, b = rng.choice(vals[-WINDOW:]), rng.choice(vals[-WINDOW:])
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
    out = vals[-8]
    for v in vals[-7:]:
        out = out + v
    return out


def random_graph(n_ops: int, seed: int = 0):
    """``(output, inputs)`` of the random graph with ``n_ops`` ops, as this library's expressions."""
    import compiler as cc
    xs = list(cc.symbols(" ".join(f"x{i}" for i in range(N_INPUTS))))
    return _build(n_ops, seed, xs, cc.sin, cc.exp, cc.tanh), xs


def random_graph_casadi(n_ops: int, seed: int = 0):
    """``(output, x)`` of the same graph in CasADi's SX (``x`` is the 8-vector of inputs)."""
    import casadi as ca
    x = ca.SX.sym("x", N_INPUTS)
    return _build(n_ops, seed, [x[i] for i in range(N_INPUTS)], ca.sin, ca.exp, ca.tanh), x
