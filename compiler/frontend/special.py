"""Special functions of expressions, as ``scipy.special`` names them (``cc.gammaln(x)``), with
SymPy's names as aliases (``cc.besselj(v, x)`` is ``cc.jv(v, x)``), and Boolean logic of
conditions. Each computes SciPy's function on every backend (``ir.special``).

>>> import compiler as cc
>>> x = cc.Symbol("x")
>>> cc.compile(cc.gammaln(x), [x], backend="python").grad(1.0)[0]  # digamma(1) = -Euler's gamma
-0.5772156649015329
"""

from __future__ import annotations

from .dispatch import call as _call
from .scalar import ExprLike


def _fn(op_name: str, doc: str, arity: int):
    if arity == 1:
        def fn(x: ExprLike):
            return _call(op_name, x)
    elif arity == 2:
        def fn(a: ExprLike, x: ExprLike):  # type: ignore[misc]
            return _call(op_name, a, x)
    else:
        def fn(a: ExprLike, b: ExprLike, x: ExprLike):  # type: ignore[misc]
            return _call(op_name, a, b, x)
    fn.__name__ = fn.__qualname__ = op_name
    fn.__doc__ = doc
    return fn


gamma = _fn("gamma", "Gamma(x); poles (inf/nan as SciPy) at 0, -1, -2, ... Derivative gamma * digamma.", 1)
gammaln = _fn("gammaln", "log|Gamma(x)| (SymPy's loggamma for x > 0). Derivative digamma(x).", 1)
digamma = _fn("digamma", "psi(x) = Gamma'(x)/Gamma(x). Derivative polygamma(1, x).", 1)
polygamma = _fn("polygamma", "polygamma(n, x): the n-th derivative of digamma; n an integer (no "
                "derivative in n). Computed as SciPy does: (-1)**(n+1) gamma(n+1) zeta(n+1, x).", 2)
beta = _fn("beta", "B(a, b) = Gamma(a) Gamma(b) / Gamma(a + b).", 2)
poch = _fn("poch", "The rising factorial (x)_m = Gamma(x + m) / Gamma(x) (SymPy's RisingFactorial).", 2)
binom = _fn("binom", "The binomial coefficient of real n, k (SymPy's binomial).", 2)
gammainc = _fn("gammainc", "The regularized lower incomplete gamma P(a, x); no derivative in a.", 2)
gammaincc = _fn("gammaincc", "The regularized upper incomplete gamma Q(a, x); no derivative in a.", 2)
erfc = _fn("erfc", "1 - erf(x), accurate where erf(x) is near 1.", 1)
erfinv = _fn("erfinv", "The inverse of erf on (-1, 1); +-inf at +-1, nan beyond.", 1)
erfcinv = _fn("erfcinv", "The inverse of erfc on (0, 2).", 1)
jv = _fn("jv", "The Bessel function J_v(x) of real order v (no derivative in v).", 2)
yv = _fn("yv", "The Bessel function Y_v(x) of real order v (no derivative in v).", 2)
iv = _fn("iv", "The modified Bessel function I_v(x) of real order v (no derivative in v).", 2)
kv = _fn("kv", "The modified Bessel function K_v(x) of real order v (no derivative in v).", 2)
expi = _fn("expi", "The exponential integral Ei(x).", 1)
expn = _fn("expn", "The generalized exponential integral E_n(x) of integer n (SymPy's expint).", 2)
ellipk = _fn("ellipk", "The complete elliptic integral of the first kind K(m) (parameter m = k**2).", 1)
zetac = _fn("zetac", "Riemann's zeta(x) - 1 (no derivative: none in closed form).", 1)
ellipe = _fn("ellipe", "The complete elliptic integral of the second kind E(m).", 1)
eval_legendre = _fn("legendre", "The Legendre polynomial P_n(x) (no derivative in n).", 2)
eval_chebyt = _fn("chebyt", "The Chebyshev polynomial T_n(x) (no derivative in n).", 2)
eval_chebyu = _fn("chebyu", "The Chebyshev polynomial U_n(x) (no derivative in n).", 2)
eval_laguerre = _fn("laguerre", "The Laguerre polynomial L_n(x) (no derivative in n).", 2)
eval_genlaguerre = _fn("genlaguerre", "The generalized Laguerre polynomial L_n^alpha(x).", 3)
eval_gegenbauer = _fn("gegenbauer", "The Gegenbauer polynomial C_n^alpha(x).", 3)
lpmv = _fn("lpmv", "The associated Legendre function P_v^m(x), Condon-Shortley phase included.", 3)

# SymPy's names
loggamma, psi = gammaln, digamma
besselj, bessely, besseli, besselk = jv, yv, iv, kv
Ei, legendre, chebyshevt, chebyshevu, laguerre = expi, eval_legendre, eval_chebyt, eval_chebyu, eval_laguerre
assoc_laguerre, gegenbauer, elliptic_k, elliptic_e = eval_genlaguerre, eval_gegenbauer, ellipk, ellipe


def zeta(x: ExprLike, q: ExprLike | None = None):
    """Riemann's zeta function (SymPy's zeta(x)): ``1 + zetac(x)``; with ``q``, Hurwitz's
    zeta(x, q) (``cc.hurwitz_zeta``), as ``scipy.special.zeta(x, q)``."""
    if q is not None:
        return _call("zeta", x, q)
    return _call("add", 1.0, zetac(x))


def assoc_legendre(n: ExprLike, m: ExprLike, x: ExprLike):
    """SymPy's assoc_legendre(n, m, x): ``lpmv(m, n, x)``."""
    return lpmv(m, n, x)


def logical_and(a, b):
    """Both conditions hold (``cc.where(cc.logical_and(x > 0, y > 0), ...)``)."""
    return _call("logical_and", a, b)


def logical_or(a, b):
    """Either condition holds."""
    return _call("logical_or", a, b)


def logical_xor(a, b):
    """Exactly one of the conditions holds."""
    return _call("logical_xor", a, b)


def logical_not(a):
    """The condition does not hold."""
    return _call("logical_not", a)


def heaviside(x: ExprLike, h0: ExprLike = 0.5):
    """``np.heaviside(x, h0)``: 0 below 0, 1 above, ``h0`` at 0 (SymPy's default 1/2), nan at nan."""
    at_zero = _call("where", _call("eq", x, 0.0), h0, x)
    return _call("where", _call("gt", x, 0.0), 1.0, _call("where", _call("lt", x, 0.0), 0.0, at_zero))


#: scipy.special's ufuncs by their ``__name__``: ``scipy.special.gammaln(X)`` on an expression
SCIPY_UFUNCS = {"gamma": gamma, "gammaln": gammaln, "psi": digamma, "beta": beta, "poch": poch, "binom": binom,
                "gammainc": gammainc, "gammaincc": gammaincc, "erfc": erfc, "erfinv": erfinv, "erfcinv": erfcinv,
                "jv": jv, "yv": yv, "iv": iv, "kv": kv, "expi": expi, "expn": expn, "ellipk": ellipk,
                "ellipe": ellipe, "zetac": zetac, "eval_legendre": eval_legendre, "eval_chebyt": eval_chebyt,
                "eval_chebyu": eval_chebyu, "eval_laguerre": eval_laguerre, "eval_genlaguerre": eval_genlaguerre,
                "eval_gegenbauer": eval_gegenbauer, "lpmv": lpmv}
