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
            sp.gegenbauer: "gegenbauer", sp.Si: "si", sp.Ci: "ci", sp.Shi: "shi", sp.Chi: "chi",
            sp.fresnels: "fresnels", sp.fresnelc: "fresnelc", sp.airyai: "airyai", sp.airybi: "airybi",
            sp.airyaiprime: "airyaiprime", sp.airybiprime: "airybiprime", sp.jacobi: "jacobi"}


def _codegen_nodes() -> dict:
    """SymPy's codegen functions that SciPyPrinter prints (``sympy.codegen.scipy_nodes``)."""
    from sympy.codegen import scipy_nodes
    return {scipy_nodes.cosm1: "cosm1", scipy_nodes.powm1: "powm1"}


def _integer_constant(fn: str, what: str, node: Node) -> None:
    if node.op == "const" and node.value != round(node.value):
        raise UnsupportedError(f"SymPy {fn}: {what} must be an integer; got {node.value!r}")


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
    if isinstance(e, sp.zeta):  # Riemann's as 1 + zetac (SciPy's zeta(s, q) wants s > 1); Hurwitz's
        return _apply("zeta", *args) if len(args) == 2 else ir.apply("add", 1.0, _apply("zetac", args[0]))
    if isinstance(e, sp.LambertW):
        k = args[1] if len(args) == 2 else ir.constant(0.0)
        _integer_constant("LambertW", "the branch k", k)
        return _apply("lambertw", args[0], k)
    if isinstance(e, sp.hermite):
        _integer_constant("hermite", "the degree n", args[0])
        return _apply("hermite", *args)
    if isinstance(e, (sp.betainc_regularized, sp.betainc)):  # I_x2(a, b) - I_x1(a, b), times B(a, b) unregularized
        a, b, x1, x2 = args
        upper = _apply("betainc", a, b, x2)
        part = upper if x1.op == "const" and x1.value == 0.0 else ir.apply("sub", upper, _apply("betainc", a, b, x1))
        return part if isinstance(e, sp.betainc_regularized) else ir.apply("mul", _apply("beta", a, b), part)
    if isinstance(e, (sp.bernoulli, sp.harmonic)):
        if len(args) != 1:
            raise UnsupportedError(f"SymPy {type(e).__name__} of 2 arguments (the polynomial or the generalized "
                                   "numbers) is not supported; of one, it is")
        n, = args
        if isinstance(e, sp.harmonic):  # as SciPyPrinter writes it: digamma(n + 1) + Euler's constant
            return ir.apply("add", _apply("digamma", ir.apply("add", n, 1.0)), float(sp.EulerGamma.evalf(20)))
        riemann = ir.apply("add", 1.0, _apply("zetac", ir.apply("sub", 1.0, n)))  # B_n = -n zeta(1 - n)
        return ir.apply("where", ir.apply("eq", n, 0.0), 1.0, ir.apply("mul", ir.apply("neg", n), riemann))
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
    for cls, name in (special_table(sp) | _codegen_nodes()).items():
        if isinstance(e, cls):
            return _apply(name, *args)
    return None


#: SymPy functions written with special ops (not one op each), for ``supported_sympy``
COMPOSED_NAMES = ("zeta", "polygamma", "digamma", "elliptic_e", "factorial", "FallingFactorial", "uppergamma",
                  "lowergamma", "assoc_legendre", "LambertW", "hermite", "betainc", "betainc_regularized",
                  "bernoulli", "harmonic", "cosm1", "powm1")
