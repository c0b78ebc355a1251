"""The special functions SciPy exports to C only in another form than ``double f(double...)``:
pairs of results through pointers (``sici``, ``fresnel``, ``airy``), an integer degree
(``eval_hermite``), a ufunc with no C export at all (Hurwitz's ``zeta``, ``lambertw``), or
none (``polygamma``, written with ``zeta`` as SciPy writes it). Each entry's ``wrap`` says how
compiled code gets a ``double f(double..., int)`` of it (``codegen.special_bind`` builds that
small function in LLVM IR); its value is still SciPy's own code, called by address.

>>> from compiler import ir
>>> ir.apply("si", ir.symbol("x"))
si(x)
"""

from __future__ import annotations

import math

from .node import apply
from .special_base import Special, _constant_only, _f

HALF_PI = math.pi / 2.0  # Fresnel integrals: S'(x) = sin(pi x**2 / 2)
LAMBERTW_TOL = 1e-8      # scipy.special.lambertw's default tolerance


def _sympy(name):
    return lambda sp, *args: getattr(sp, name)(*args)


def _ratio(top, x, at_zero: float):
    """``top / x``, and ``at_zero`` (its limit) at x = 0."""
    return apply("where", apply("eq", x, 0.0), at_zero, top / x)


# --- derivative rules: (operands, output, adjoint) -> contribution per operand ---

def _vjp_zeta(args, out, g):
    s, q = args  # d/dq zeta(s, q) = -s zeta(s + 1, q); in s none in closed form
    return (_constant_only("zeta (Hurwitz's)", "s", s), -(g * (s * _f("zeta", s + 1.0, q))))


def _vjp_lambertw(args, out, g):
    x, k = args  # W' = W / (x (1 + W)) = exp(-W) / (1 + W): the same, and finite (1) at x = 0
    return (g * (apply("exp", -out) / (1.0 + out)), _constant_only("lambertw", "k (the branch)", k))


def _vjp_betainc(args, out, g):
    a, b, x = args  # dI/dx = x**(a-1) (1-x)**(b-1) / B(a, b), in logs
    log_density = (a - 1.0) * apply("log", x) + (b - 1.0) * apply("log1p", -x) - _f("betaln", a, b)
    why = "a or b (none in closed form)"
    return (_constant_only("betainc", why, a), _constant_only("betainc", why, b), g * apply("exp", log_density))


def _vjp_jacobi(args, out, g):
    n, a, b, x = args  # d/dx P_n^(a,b)(x) = (n + a + b + 1)/2 P_{n-1}^(a+1,b+1)(x) (DLMF 18.9.15)
    d = 0.5 * (n + a + b + 1.0) * _f("jacobi", n - 1.0, a + 1.0, b + 1.0, x)
    d = apply("where", apply("eq", n, 0.0), 0.0, d)
    return (_constant_only("jacobi", "n (the degree)", n), _constant_only("jacobi", "alpha", a),
            _constant_only("jacobi", "beta", b), g * d)


def _vjp_hermite(args, out, g):
    n, x = args  # H_n' = 2 n H_{n-1} (DLMF 18.9.25)
    d = apply("where", apply("eq", n, 0.0), 0.0, 2.0 * n * _f("hermite", n - 1.0, x))
    return (_constant_only("hermite", "n (the degree)", n), g * d)


def _unary(derivative):
    return lambda args, out, g: (g * derivative(args[0]),)


def _pair(name, scipy, capi, n, k, vjp, sympy_name):
    return Special(name, 1, scipy, None, _unary(vjp), _sympy(sympy_name), wrap=("outputs", capi, n, k),
                   python=f"scipy.special.{scipy}({{0}})[{k}]")


SPECIALS_MORE = [
    Special("zeta", 2, "zeta", None, _vjp_zeta, _sympy("zeta"), wrap=("ufunc", "_zeta", "dd->d")),
    # the real branches k = 0 (x >= -1/e) and k = -1 (-1/e <= x < 0); nan where W is not real
    Special("lambertw", 2, "lambertw", None, _vjp_lambertw, _sympy("LambertW"),
            wrap=("ufunc", "_lambertw", "Dld->D", LAMBERTW_TOL), python="_sf_integer_degree(lambda k, x: _sf_real(scipy.special.lambertw(x, k)), {1}, {0})"),
    _pair("si", "sici", "__pyx_fuse_1sici", 2, 0, lambda x: _ratio(apply("sin", x), x, 1.0), "Si"),
    _pair("ci", "sici", "__pyx_fuse_1sici", 2, 1, lambda x: apply("cos", x) / x, "Ci"),
    _pair("shi", "shichi", "__pyx_fuse_1shichi", 2, 0, lambda x: _ratio(apply("sinh", x), x, 1.0), "Shi"),
    _pair("chi", "shichi", "__pyx_fuse_1shichi", 2, 1, lambda x: apply("cosh", x) / x, "Chi"),
    _pair("fresnels", "fresnel", "__pyx_fuse_1fresnel", 2, 0, lambda x: apply("sin", HALF_PI * (x * x)), "fresnels"),
    _pair("fresnelc", "fresnel", "__pyx_fuse_1fresnel", 2, 1, lambda x: apply("cos", HALF_PI * (x * x)), "fresnelc"),
    _pair("airyai", "airy", "__pyx_fuse_1airy", 4, 0, lambda x: _f("airyaiprime", x), "airyai"),
    _pair("airyaiprime", "airy", "__pyx_fuse_1airy", 4, 1, lambda x: x * _f("airyai", x), "airyaiprime"),
    _pair("airybi", "airy", "__pyx_fuse_1airy", 4, 2, lambda x: _f("airybiprime", x), "airybi"),
    _pair("airybiprime", "airy", "__pyx_fuse_1airy", 4, 3, lambda x: x * _f("airybi", x), "airybiprime"),
    # the regularized incomplete beta function I_x(a, b) (SymPy's betainc_regularized(a, b, 0, x))
    Special("betainc", 3, "betainc", "__pyx_fuse_0betainc", _vjp_betainc,
            lambda sp, a, b, x: sp.betainc_regularized(a, b, 0, x)),
    Special("betaln", 2, "betaln", "betaln",
            lambda args, out, g: (g * (_f("digamma", args[0]) - _f("digamma", args[0] + args[1])),
                                  g * (_f("digamma", args[1]) - _f("digamma", args[0] + args[1]))),
            lambda sp, a, b: sp.log(sp.beta(a, b))),
    Special("jacobi", 4, "eval_jacobi", "__pyx_fuse_0_1eval_jacobi", _vjp_jacobi, _sympy("jacobi")),
    # SciPy's Hermite polynomial takes an integer degree: nan for a degree that is not one
    Special("hermite", 2, "eval_hermite", None, _vjp_hermite, _sympy("hermite"), wrap=("integer", "eval_hermite"),
            python="_sf_integer_degree(scipy.special.eval_hermite, {0}, {1})"),
    # cos(x) - 1 and x**y - 1, exact near 0 (SymPy's codegen nodes cosm1, powm1)
    Special("cosm1", 1, "cosm1", "cosm1", _unary(lambda x: -apply("sin", x)), lambda sp, x: sp.cos(x) - 1),
    Special("powm1", 2, "powm1", "__pyx_fuse_0powm1",
            lambda args, out, g: (g * (args[1] * apply("pow", args[0], args[1] - 1.0)),
                                  g * ((out + 1.0) * apply("log", args[0]))),
            lambda sp, x, y: x**y - 1),
]
