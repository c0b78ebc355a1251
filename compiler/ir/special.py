"""The special functions of the op table: one op each, computed by ``scipy.special``.

Every target calls SciPy's own implementation, never one of ours: the Python and NumPy
code calls the ufunc (``scipy.special.gammaln``), compiled code (Numba, LLVM, the vm)
calls the C function that ``scipy.special.cython_special`` exports, by address. Each
entry says which: its ``scipy`` ufunc name and its ``cython_special`` C function (``capi``).
Where SciPy exports none of the form ``double f(double...)``, the entry's ``wrap`` says how
a small wrapper calls SciPy's code all the same (``special_more``, ``codegen.special_bind``);
an entry with neither would run on the Python targets and in Numba's object mode only.

An op prints as ``_sf_<name>(x)``: a helper of the generated module (``codegen.helpers``)
that is SciPy's ufunc in plain Python and the C function in compiled code.

Derivative rules are IR in terms of other entries (``gamma' = gamma * digamma``). An
argument with no closed-form derivative (a Bessel function's order) or a discrete one (the
``n`` of ``polygamma``) must be constant where a derivative is taken: the rule raises
``UnsupportedError`` naming the function and the argument otherwise.

>>> from compiler import ir
>>> ir.apply("gammaln", ir.symbol("x"))
gammaln(x)
"""

from __future__ import annotations

import functools
import math

from .node import apply
from .special_base import NoDerivative, Special, _constant_only, _f  # noqa: F401  (NoDerivative: ad's)
from .special_more import SPECIALS_MORE

SQRT_PI_2 = math.sqrt(math.pi) / 2.0  # d/dx erfinv(x) = sqrt(pi)/2 * exp(erfinv(x)**2)
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
#: the prefix of the symbols under which compiled code finds cython_special's C functions
SYMBOL_PREFIX = "scipy_special_"


def _exp(x):
    return apply("exp", x)


def _digamma(x):
    return _f("digamma", x)


# --- derivative rules: (operands, output, adjoint) -> contribution per operand ---

def _vjp_polygamma(args, out, g):
    n, x = args
    return (_constant_only("polygamma", "n (the order, an integer)", n), g * _f("polygamma", n + 1.0, x))


def _vjp_beta(args, out, g):
    a, b = args
    both = _digamma(a + b)
    return (g * (out * (_digamma(a) - both)), g * (out * (_digamma(b) - both)))


def _vjp_bessel(name, sign_low, sign_high, scale):
    """d/dx C_v(x) = scale * (sign_low * C_{v-1}(x) + sign_high * C_{v+1}(x)) (DLMF 10.6.1, 10.29.1)."""
    def vjp(args, out, g):
        v, x = args
        low, high = _f(name, v - 1.0, x), _f(name, v + 1.0, x)
        return (_constant_only(name, "v (the order)", v), g * (scale * (sign_low * low + sign_high * high)))
    return vjp


def _vjp_gammainc(sign):
    """d/dx P(a, x) = x**(a-1) e**-x / Gamma(a) (and minus that for Q), in logs: no overflow."""
    def vjp(args, out, g):
        a, x = args
        density = _exp((a - 1.0) * apply("log", x) - x - _f("gammaln", a))
        return (_constant_only("gammainc" if sign > 0 else "gammaincc", "a", a), g * (sign * density))
    return vjp


def _vjp_poch(args, out, g):
    x, m = args  # poch(x, m) = Gamma(x + m) / Gamma(x)
    top = _digamma(x + m)
    return (g * (out * (top - _digamma(x))), g * (out * top))


def _vjp_binom(args, out, g):
    n, k = args  # binom(n, k) = Gamma(n + 1) / (Gamma(k + 1) Gamma(n - k + 1))
    rest = _digamma(n - k + 1.0)
    return (g * (out * (_digamma(n + 1.0) - rest)), g * (out * (rest - _digamma(k + 1.0))))


def _vjp_expn(args, out, g):
    n, x = args  # E_n'(x) = -E_{n-1}(x) (DLMF 8.19.13); SciPy's E_0(x) is e**-x / x
    return (_constant_only("expn", "n (an integer)", n), -(g * _f("expn", n - 1.0, x)))


def _vjp_ellipk(args, out, g):
    m, = args  # dK/dm = (E - (1 - m) K) / (2 m (1 - m))
    return (g * ((_f("ellipe", m) - (1.0 - m) * out) / (2.0 * m * (1.0 - m))),)


def _vjp_ellipe(args, out, g):
    m, = args  # dE/dm = (E - K) / (2 m)
    return (g * ((out - _f("ellipk", m)) / (2.0 * m)),)


# orthogonal polynomials: the degree n is discrete; d/dx lowers the degree (DLMF 18.9.15-19)
def _vjp_degree(fn, derivative, params=()):
    """``derivative(n, *rest)``: d/dx of ``fn``; ``params`` names the other discrete/parameter operands."""
    def vjp(args, out, g):
        n, rest = args[0], args[1:]
        d = apply("where", apply("eq", n, 0.0), 0.0, derivative(n, *rest))
        others = [_constant_only(fn, p, a) for p, a in zip(params, rest[:-1])]
        return (_constant_only(fn, "n (the degree)", n), *others, g * d)
    return vjp


def _d_lpmv(m, v, x):
    # (x^2 - 1) dP/dx = v x P_v^m - (v + m) P_{v-1}^m (DLMF 14.10.5): singular at x = +-1
    return (v * x * _f("lpmv", m, v, x) - (v + m) * _f("lpmv", m, v - 1.0, x)) / ((x - 1.0) * (x + 1.0))


def _vjp_lpmv(args, out, g):
    m, v, x = args
    return (_constant_only("lpmv", "m (the order)", m), _constant_only("lpmv", "v (the degree)", v),
            g * _d_lpmv(m, v, x))


def _sympy(name):
    return lambda sp, *args: getattr(sp, name)(*args)


SPECIALS = [
    # the gamma family
    Special("gamma", 1, "gamma", "__pyx_fuse_1gamma",
            lambda a, out, g: (g * (out * _digamma(a[0])),), _sympy("gamma")),
    Special("gammaln", 1, "gammaln", "gammaln",  # log|Gamma(x)|: SymPy's loggamma on x > 0
            lambda a, out, g: (g * _digamma(a[0]),), _sympy("loggamma")),
    Special("digamma", 1, "psi", "__pyx_fuse_1psi",
            lambda a, out, g: (g * _f("polygamma", 1.0, a[0]),), _sympy("digamma")),
    # SciPy's polygamma is a Python function of Hurwitz's zeta, not exported to C: compiled code
    # computes it as SciPy does, (-1)**(n+1) gamma(n+1) zeta(n+1, x), and digamma(x) for n = 0
    Special("polygamma", 2, "polygamma", None, _vjp_polygamma, _sympy("polygamma"), wrap=("composite",)),
    Special("beta", 2, "beta", "beta", _vjp_beta, _sympy("beta")),
    Special("poch", 2, "poch", "poch", _vjp_poch, _sympy("RisingFactorial")),
    Special("binom", 2, "binom", "binom", _vjp_binom, _sympy("binomial")),
    Special("gammainc", 2, "gammainc", "gammainc", _vjp_gammainc(1.0),
            lambda sp, a, x: sp.lowergamma(a, x) / sp.gamma(a)),
    Special("gammaincc", 2, "gammaincc", "gammaincc", _vjp_gammainc(-1.0),
            lambda sp, a, x: sp.uppergamma(a, x) / sp.gamma(a)),
    # error functions
    Special("erfc", 1, "erfc", "__pyx_fuse_1erfc",
            lambda a, out, g: (-(g * (TWO_OVER_SQRT_PI * _exp(-(a[0] * a[0])))),), _sympy("erfc")),
    Special("erfinv", 1, "erfinv", "__pyx_fuse_0erfinv",
            lambda a, out, g: (g * (SQRT_PI_2 * _exp(out * out)),), _sympy("erfinv")),
    Special("erfcinv", 1, "erfcinv", "erfcinv",
            lambda a, out, g: (-(g * (SQRT_PI_2 * _exp(out * out))),), _sympy("erfcinv")),
    # Bessel functions of real order v
    Special("jv", 2, "jv", "__pyx_fuse_1jv", _vjp_bessel("jv", 1.0, -1.0, 0.5), _sympy("besselj")),
    Special("yv", 2, "yv", "__pyx_fuse_1yv", _vjp_bessel("yv", 1.0, -1.0, 0.5), _sympy("bessely")),
    Special("iv", 2, "iv", "__pyx_fuse_1iv", _vjp_bessel("iv", 1.0, 1.0, 0.5), _sympy("besseli")),
    Special("kv", 2, "kv", "__pyx_fuse_1kv", _vjp_bessel("kv", 1.0, 1.0, -0.5), _sympy("besselk")),
    # exponential integrals, elliptic integrals
    Special("expi", 1, "expi", "__pyx_fuse_1expi", lambda a, out, g: (g * (_exp(a[0]) / a[0]),), _sympy("Ei")),
    Special("expn", 2, "expn", "__pyx_fuse_0expn", _vjp_expn, _sympy("expint")),
    Special("ellipk", 1, "ellipk", "ellipk", _vjp_ellipk, _sympy("elliptic_k")),
    Special("ellipe", 1, "ellipe", "ellipe", _vjp_ellipe, _sympy("elliptic_e")),
    # Riemann's zeta minus 1 (exact where zeta is near 1); no closed-form derivative
    Special("zetac", 1, "zetac", "zetac", lambda a, out, g: (_constant_only("zetac (Riemann's zeta - 1)", "x", a[0]),),
            lambda sp, x: sp.zeta(x) - 1),
    # orthogonal polynomials of degree n (any real n, as SciPy's double versions)
    Special("legendre", 2, "eval_legendre", "__pyx_fuse_0_1eval_legendre",
            _vjp_degree("legendre", lambda n, x: _f("gegenbauer", n - 1.0, 1.5, x)), _sympy("legendre")),
    Special("chebyt", 2, "eval_chebyt", "__pyx_fuse_0_1eval_chebyt",
            _vjp_degree("chebyt", lambda n, x: n * _f("chebyu", n - 1.0, x)), _sympy("chebyshevt")),
    Special("chebyu", 2, "eval_chebyu", "__pyx_fuse_0_1eval_chebyu",
            _vjp_degree("chebyu", lambda n, x: 2.0 * _f("gegenbauer", n - 1.0, 2.0, x)), _sympy("chebyshevu")),
    Special("laguerre", 2, "eval_laguerre", "__pyx_fuse_0_1eval_laguerre",
            _vjp_degree("laguerre", lambda n, x: -_f("genlaguerre", n - 1.0, 1.0, x)), _sympy("laguerre")),
    Special("genlaguerre", 3, "eval_genlaguerre", "__pyx_fuse_0_1eval_genlaguerre",
            _vjp_degree("genlaguerre", lambda n, a, x: -_f("genlaguerre", n - 1.0, a + 1.0, x), ("alpha",)),
            _sympy("assoc_laguerre")),
    Special("gegenbauer", 3, "eval_gegenbauer", "__pyx_fuse_0_1eval_gegenbauer",
            _vjp_degree("gegenbauer", lambda n, a, x: 2.0 * a * _f("gegenbauer", n - 1.0, a + 1.0, x), ("alpha",)),
            _sympy("gegenbauer")),
    Special("lpmv", 3, "lpmv", "lpmv", _vjp_lpmv, lambda sp, m, v, x: sp.assoc_legendre(v, m, x)),
]
SPECIALS += SPECIALS_MORE
SPECIAL = {s.name: s for s in SPECIALS}
#: ops that only the Python targets and Numba run (no C function to call by address): none now
PYTHON_ONLY = frozenset(s.name for s in SPECIALS if not s.compiled)
#: the plain Python functions the ``python`` expressions of the entries use
PYTHON_PRELUDE = '''import numpy as np
import scipy.special


def _sf_real(w):
    """A complex result of SciPy's where it is real, nan where it is not."""
    return np.where(np.imag(w) == 0, np.real(w), np.nan)[()]


def _sf_integer_degree(f, n, x):
    """SciPy's ``f(n, x)`` of an integer n (a degree, a branch); nan where n is not an integer."""
    n, x = np.asarray(n, dtype=float), np.asarray(x, dtype=float)
    whole = np.isfinite(n) & (n == np.round(n)) & (np.abs(n) < 2.0**63)  # as compiled code's int64
    with np.errstate(invalid="ignore"):
        return np.where(whole, f(np.where(whole, n, 0).astype(np.int64), x), np.nan)[()]'''


def special_ops(Op) -> list:
    """The op table's entries of the special functions (``Op`` is ``ops.Op``)."""
    ops = []
    for s in SPECIALS:
        operands = ", ".join(f"{{{k}}}" for k in range(s.arity))
        llvm = None if not s.compiled else (lambda symbol: lambda e, *a: e.call(symbol, *a))(SYMBOL_PREFIX + s.name)
        if s.wrap[:1] == ("integer",):  # its degree converted in the kernel (codegen.special_bind)
            llvm = (lambda symbol: lambda e, *a: e.call_integer_first(symbol, *a))(SYMBOL_PREFIX + s.name)
        ops.append(Op(s.name, s.arity, f"_sf_{s.name}({operands})", s.vjp, s.sympy, llvm=llvm))
    return ops


def lazy_scipy_functions() -> dict:
    """As ``scipy_functions`` on numbers, giving Python floats (not NumPy's, whose nan warns in
    arithmetic); SciPy is imported at the first call of one of them."""
    def lazy(name):
        def call(*args):
            return float(scipy_functions()[name](*args))
        return call
    return {f"_sf_{s.name}": lazy(f"_sf_{s.name}") for s in SPECIALS}


def python_source(s: Special) -> str:
    """The plain Python function ``_sf_<name>`` of entry ``s`` (needs ``PYTHON_PRELUDE``)."""
    args = ["x"] if s.arity == 1 else list("abde"[:s.arity])
    return f"def _sf_{s.name}({', '.join(args)}):\n    return {s.python_expression(args)}\n"


@functools.cache
def scipy_functions() -> dict:
    """``{"_sf_<name>": its Python function}``: SciPy's ufunc (or ``python``), for evaluation in Python."""
    import scipy.special
    names: dict = {}
    exec(PYTHON_PRELUDE + "\n\n" + "\n\n".join(python_source(s) for s in SPECIALS if s.python), names)
    return {f"_sf_{s.name}": names[f"_sf_{s.name}"] if s.python else getattr(scipy.special, s.scipy)
            for s in SPECIALS}

