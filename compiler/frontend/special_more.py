"""More special functions of expressions (``ir.special_more``): sine and cosine integrals,
Fresnel and Airy functions, Hurwitz's zeta, Lambert's W, the incomplete beta function,
Jacobi and Hermite polynomials. SciPy's names, with SymPy's as aliases; SciPy's functions of
several results (``sici``, ``fresnel``, ``airy``) give a tuple, as SciPy does.

>>> import compiler as cc
>>> x = cc.Symbol("x")
>>> round(cc.compile(cc.lambertw(x), [x], backend="python")(1.0), 10)  # the omega constant
0.5671432904
"""

from __future__ import annotations

import math

from ..errors import UnsupportedError
from ..ir import Node
from .dispatch import call as _call
from .scalar import ExprLike


def si(x: ExprLike):
    """The sine integral Si(x) = integral of sin(t)/t from 0 to x. Derivative sin(x)/x."""
    return _call("si", x)


def ci(x: ExprLike):
    """The cosine integral Ci(x) (nan for x < 0, as SciPy). Derivative cos(x)/x."""
    return _call("ci", x)


def shi(x: ExprLike):
    """The hyperbolic sine integral Shi(x). Derivative sinh(x)/x."""
    return _call("shi", x)


def chi(x: ExprLike):
    """The hyperbolic cosine integral Chi(x) (nan for x < 0). Derivative cosh(x)/x."""
    return _call("chi", x)


def fresnels(x: ExprLike):
    """The Fresnel integral S(x) = integral of sin(pi t**2 / 2) from 0 to x."""
    return _call("fresnels", x)


def fresnelc(x: ExprLike):
    """The Fresnel integral C(x) = integral of cos(pi t**2 / 2) from 0 to x."""
    return _call("fresnelc", x)


def airyai(x: ExprLike):
    """The Airy function Ai(x). Derivative airyaiprime(x)."""
    return _call("airyai", x)


def airyaiprime(x: ExprLike):
    """Ai'(x). Derivative x Ai(x)."""
    return _call("airyaiprime", x)


def airybi(x: ExprLike):
    """The Airy function Bi(x). Derivative airybiprime(x)."""
    return _call("airybi", x)


def airybiprime(x: ExprLike):
    """Bi'(x). Derivative x Bi(x)."""
    return _call("airybiprime", x)


def sici(x: ExprLike):
    """``(Si(x), Ci(x))``, as ``scipy.special.sici``."""
    return si(x), ci(x)


def shichi(x: ExprLike):
    """``(Shi(x), Chi(x))``, as ``scipy.special.shichi``."""
    return shi(x), chi(x)


def fresnel(x: ExprLike):
    """``(S(x), C(x))``, as ``scipy.special.fresnel``."""
    return fresnels(x), fresnelc(x)


def airy(x: ExprLike):
    """``(Ai, Ai', Bi, Bi')`` at x, as ``scipy.special.airy``."""
    return airyai(x), airyaiprime(x), airybi(x), airybiprime(x)


def hurwitz_zeta(s: ExprLike, q: ExprLike):
    """Hurwitz's zeta(s, q) = sum of (k + q)**-s over k >= 0 (SciPy: s > 1). Derivative in q
    -s zeta(s + 1, q); none in s (none in closed form)."""
    return _call("zeta", s, q)


def _integer(value, fn: str, what: str):
    """A constant ``what`` of ``fn`` must be an integer (a symbolic one is checked when run: nan)."""
    v = value.value if isinstance(value, Node) and value.op == "const" else value
    if isinstance(v, (int, float)) and not (math.isfinite(v) and float(v) == round(v)):
        raise UnsupportedError(f"{fn}: {what} must be an integer; got {v!r}")


def lambertw(x: ExprLike, k: ExprLike = 0):
    """Lambert's W_k(x) on its real branches: k = 0 (x >= -1/e) and k = -1 (-1/e <= x < 0);
    nan where W is not real, or where a variable k is not an integer. Derivative W / (x (1 + W));
    none in k."""
    _integer(k, "lambertw", "the branch k")
    return _call("lambertw", x, k)


def betainc(a: ExprLike, b: ExprLike, x: ExprLike):
    """The regularized incomplete beta function I_x(a, b) (SymPy's betainc_regularized(a, b, 0, x)).
    Derivative in x x**(a-1) (1-x)**(b-1) / B(a, b); none in a, b (none in closed form)."""
    return _call("betainc", a, b, x)


def betaln(a: ExprLike, b: ExprLike):
    """log|B(a, b)|."""
    return _call("betaln", a, b)


def eval_jacobi(n: ExprLike, alpha: ExprLike, beta: ExprLike, x: ExprLike):
    """The Jacobi polynomial P_n^(alpha, beta)(x) (SciPy's version for a real degree n)."""
    return _call("jacobi", n, alpha, beta, x)


def eval_hermite(n: ExprLike, x: ExprLike):
    """The (physicists') Hermite polynomial H_n(x) of integer degree n: a constant n that is not
    an integer is refused; a variable one gives nan where it is not an integer."""
    _integer(n, "hermite", "the degree n")
    return _call("hermite", n, x)


def cosm1(x: ExprLike):
    """cos(x) - 1, exact near 0."""
    return _call("cosm1", x)


def powm1(x: ExprLike, y: ExprLike):
    """x**y - 1, exact where x**y is near 1."""
    return _call("powm1", x, y)


# SymPy's names
Si, Ci, Shi, Chi, LambertW, jacobi, hermite = si, ci, shi, chi, lambertw, eval_jacobi, eval_hermite

#: scipy.special's ufuncs by their ``__name__`` (``scipy.special.sici(X)`` gives a tuple)
SCIPY_UFUNCS = {"sici": sici, "shichi": shichi, "fresnel": fresnel, "airy": airy, "betainc": betainc,
                "betaln": betaln, "eval_jacobi": eval_jacobi, "eval_hermite": eval_hermite, "cosm1": cosm1,
                "powm1": powm1,
                # the ufuncs behind SciPy's Python functions zeta(x, q) and lambertw(z, k, tol)
                "_zeta": hurwitz_zeta, "_lambertw": lambda z, k, tol: lambertw(z, k)}
