"""Problems of Hock and Schittkowski's collection (Test Examples for Nonlinear Programming Codes,
1981), written from the book's statements: objective, constraints, bounds, the standard start
and the published optimum. Each is built for this library (``cc.nlp``) and for CasADi from the
same Python function of its variables, so both solve the same formulation.

>>> p = PROBLEMS["hs071"]
>>> p.n, p.m, p.optimum
(4, 2, 17.0140173)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

INF = np.inf


@dataclass(frozen=True)
class HS:
    """One problem: ``f(x)`` and ``g(x)`` (a list of expressions) of a sequence of variables
    (symbols of either library), bounds, the start ``x0`` and the published ``optimum``."""
    name: str
    n: int
    f: Callable
    g: Callable
    cl: tuple
    cu: tuple
    x0: tuple
    optimum: float
    lb: tuple | None = None
    ub: tuple | None = None

    @property
    def m(self) -> int:
        return len(self.cl)

    def bounds(self) -> dict:
        return {"lb": self.lb if self.lb is not None else -INF, "ub": self.ub if self.ub is not None else INF,
                "cl": list(self.cl), "cu": list(self.cu)}

    def nlp(self, backend: str = "auto"):
        """The problem as ``cc.nlp`` of one tensor ``x`` of ``n`` entries."""
        import compiler as cc
        x = cc.Tensor("x", (self.n,))
        items = [x[i] for i in range(self.n)]
        return cc.nlp(self.f(items), x, g=self.g(items) or None, backend=backend)

    def casadi(self, ca, options: dict):
        """The problem as CasADi's ``nlpsol("ipopt")`` of ``SX`` symbols."""
        x = ca.SX.sym("x", self.n)
        items = [x[i] for i in range(self.n)]
        g = self.g(items)
        problem = {"x": x, "f": self.f(items)}
        if g:
            problem["g"] = ca.vertcat(*g)
        return ca.nlpsol(self.name, "ipopt", problem, {"ipopt": dict(options), "print_time": False})

    def casadi_bounds(self) -> dict:
        lb = np.broadcast_to(self.bounds()["lb"], (self.n,)).astype(float)
        ub = np.broadcast_to(self.bounds()["ub"], (self.n,)).astype(float)
        out = {"lbx": lb, "ubx": ub}
        if self.m:
            out.update(lbg=np.array(self.cl, float), ubg=np.array(self.cu, float))
        return out


def _hs001(x):
    return 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2


def _hs035(x):
    return 9 - 8 * x[0] - 6 * x[1] - 4 * x[2] + 2 * x[0] ** 2 + 2 * x[1] ** 2 + x[2] ** 2 \
        + 2 * x[0] * x[1] + 2 * x[0] * x[2]


def _hs076(x):
    return x[0] ** 2 + 0.5 * x[1] ** 2 + x[2] ** 2 + 0.5 * x[3] ** 2 - x[0] * x[2] + x[2] * x[3] \
        - x[0] - 3 * x[1] + x[2] - x[3]


def _hs100(x):
    return (x[0] - 10) ** 2 + 5 * (x[1] - 12) ** 2 + x[2] ** 4 + 3 * (x[3] - 11) ** 2 + 10 * x[4] ** 6 \
        + 7 * x[5] ** 2 + x[6] ** 4 - 4 * x[5] * x[6] - 10 * x[5] - 8 * x[6]


def _hs100_g(x):
    return [127 - 2 * x[0] ** 2 - 3 * x[1] ** 4 - x[2] - 4 * x[3] ** 2 - 5 * x[4],
            282 - 7 * x[0] - 3 * x[1] - 10 * x[2] ** 2 - x[3] + x[4],
            196 - 23 * x[0] - x[1] ** 2 - 6 * x[5] ** 2 + 8 * x[6],
            -4 * x[0] ** 2 - x[1] ** 2 + 3 * x[0] * x[1] - 2 * x[2] ** 2 - 5 * x[5] + 11 * x[6]]


PROBLEMS = {p.name: p for p in [
    HS("hs001", 2, _hs001, lambda x: [], (), (), (-2.0, 1.0), 0.0, lb=(-INF, -1.5)),
    HS("hs006", 2, lambda x: (1 - x[0]) ** 2, lambda x: [10 * (x[1] - x[0] ** 2)], (0.0,), (0.0,),
       (-1.2, 1.0), 0.0),
    HS("hs035", 3, _hs035, lambda x: [3 - x[0] - x[1] - 2 * x[2]], (0.0,), (INF,), (0.5, 0.5, 0.5),
       1 / 9, lb=(0.0, 0.0, 0.0)),
    HS("hs039", 4, lambda x: -x[0], lambda x: [x[1] - x[0] ** 3 - x[2] ** 2, x[0] ** 2 - x[1] - x[3] ** 2],
       (0.0, 0.0), (0.0, 0.0), (2.0, 2.0, 2.0, 2.0), -1.0),
    HS("hs040", 4, lambda x: -x[0] * x[1] * x[2] * x[3],
       lambda x: [x[0] ** 3 + x[1] ** 2 - 1, x[0] ** 2 * x[3] - x[2], x[3] ** 2 - x[1]],
       (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.8, 0.8, 0.8, 0.8), -0.25),
    HS("hs043", 4, lambda x: x[0] ** 2 + x[1] ** 2 + 2 * x[2] ** 2 + x[3] ** 2 - 5 * x[0] - 5 * x[1] - 21 * x[2]
       + 7 * x[3],
       lambda x: [8 - x[0] ** 2 - x[1] ** 2 - x[2] ** 2 - x[3] ** 2 - x[0] + x[1] - x[2] + x[3],
                  10 - x[0] ** 2 - 2 * x[1] ** 2 - x[2] ** 2 - 2 * x[3] ** 2 + x[0] + x[3],
                  5 - 2 * x[0] ** 2 - x[1] ** 2 - x[2] ** 2 - 2 * x[0] + x[1] + x[3]],
       (0.0, 0.0, 0.0), (INF, INF, INF), (0.0, 0.0, 0.0, 0.0), -44.0),
    HS("hs071", 4, lambda x: x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2],
       lambda x: [x[0] * x[1] * x[2] * x[3], x[0] ** 2 + x[1] ** 2 + x[2] ** 2 + x[3] ** 2],
       (25.0, 40.0), (INF, 40.0), (1.0, 5.0, 5.0, 1.0), 17.0140173, lb=(1.0,) * 4, ub=(5.0,) * 4),
    HS("hs076", 4, _hs076,
       lambda x: [5 - x[0] - 2 * x[1] - x[2] - x[3], 4 - 3 * x[0] - x[1] - 2 * x[2] + x[3], x[1] + 4 * x[2] - 1.5],
       (0.0, 0.0, 0.0), (INF, INF, INF), (0.5, 0.5, 0.5, 0.5), -4.681818181, lb=(0.0,) * 4),
    HS("hs100", 7, _hs100, _hs100_g, (0.0,) * 4, (INF,) * 4, (1.0, 2.0, 0.0, 4.0, 0.0, 1.0, 1.0), 680.6300573),
]}
