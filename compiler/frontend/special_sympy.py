"""SymPy's special functions (``gamma``, ``besselj``, ...) as the op table's special ops.

Most are one op each (``special_table``); a few are written with them, as SymPy's
``SciPyPrinter`` writes them (``uppergamma(a, x) = gamma(a) * gammaincc(a, x)``).

>>> import sympy as sp, compiler as cc
>>> cc.from_sympy(sp.loggamma(sp.Symbol("x")))
gammaln(x)
"""

from __future__ import annotations

from .. import ir
from ..errors import UnsupportedError
from ..ir import Node


def special_table(sp) -> dict:
    """SymPy class -> op name of the special functions that are one op each (same operands)."""
    return {sp.gamma: "gamma", sp.loggamma: "gammaln", sp.beta: "beta", sp.binomial: "binom",
            sp.RisingFactorial: "poch", sp.erfc: "erfc", sp.erfinv: "erfinv", sp.erfcinv: "erfcinv",
            sp.besselj: "jv", sp.bessely: "yv", sp.besseli: "iv", sp.besselk: "kv", sp.Ei: "expi",
            sp.expint: "expn", sp.elliptic_k: "ellipk", sp.legendre: "legendre", sp.chebyshevt: "chebyt",
            sp.chebyshevu: "chebyu", sp.laguerre: "laguerre", sp.assoc_laguerre: "genlaguerre",
            sp.gegenbauer: "gegenbauer"}


def _apply(name, *args):
    return ir.apply(name, *args)


def convert_special(sp, e, args: list[Node]) -> Node | None:
    """The IR of special function ``e`` (its operands ``args`` converted already), or None."""
    if isinstance(e, sp.polygamma):
        n, x = args
        return _apply("digamma", x) if n.op == "const" and n.value == 0.0 else _apply("polygamma", n, x)
    if isinstance(e, sp.elliptic_e):
        if len(args) != 1:
            raise UnsupportedError(f"SymPy elliptic_e with {len(args)} arguments (the incomplete integral) "
                                   "is not supported; the complete one, elliptic_e(m), is")
        return _apply("ellipe", args[0])
    if isinstance(e, sp.zeta):
        if len(args) != 1:
            raise UnsupportedError("SymPy zeta with 2 arguments (Hurwitz's) is not supported; zeta(x) is")
        return ir.apply("add", 1.0, _apply("zetac", args[0]))
    if isinstance(e, sp.factorial):
        return _apply("gamma", ir.apply("add", args[0], 1.0))
    if isinstance(e, sp.FallingFactorial):  # x (x-1) ... (x-k+1) = poch(x - k + 1, k)
        x, k = args
        return _apply("poch", ir.apply("add", ir.apply("sub", x, k), 1.0), k)
    if isinstance(e, (sp.uppergamma, sp.lowergamma)):  # Gamma(a) times SciPy's regularized integral
        a, x = args
        regularized = "gammaincc" if isinstance(e, sp.uppergamma) else "gammainc"
        return ir.apply("mul", _apply("gamma", a), _apply(regularized, a, x))
    if isinstance(e, sp.assoc_legendre):  # SymPy's (n, m, x) is SciPy's lpmv(m, n, x), phase included
        n, m, x = args
        return _apply("lpmv", m, n, x)
    for cls, name in special_table(sp).items():
        if isinstance(e, cls):
            return _apply(name, *args)
    return None


#: SymPy functions written with special ops (not one op each), for ``supported_sympy``
COMPOSED_NAMES = ("zeta", "polygamma", "digamma", "elliptic_e", "factorial", "FallingFactorial", "uppergamma",
                  "lowergamma", "assoc_legendre")
