"""Special suite: nanoseconds per element of each special function, one thread.

For each function of ``ir.special``: this library's batch of ``f(x)`` compiled by Numba
and by LLVM (both call scipy.special's C code by address, directly or through the
wrappers of ``codegen.special_bind``) beside scipy.special's
own ufunc loop into a preallocated array, on the same data. Then the gradient of two
models of loggamma and digamma against their value.
"""

from __future__ import annotations

import numpy as np

from .common import Row, one_thread, table, timed

SUITE = "special"
# name -> (expression of x, scipy.special's call on (X, out), the inputs' range)
FUNCTIONS = {
    "gamma": (lambda cc, x: cc.gamma(x), lambda s, X, o: s.gamma(X, out=o), (0.1, 20)),
    "gammaln": (lambda cc, x: cc.gammaln(x), lambda s, X, o: s.gammaln(X, out=o), (0.1, 100)),
    "digamma": (lambda cc, x: cc.digamma(x), lambda s, X, o: s.psi(X, out=o), (0.1, 100)),
    "polygamma(1, x)": (lambda cc, x: cc.polygamma(1.0, x), lambda s, X, o: np.copyto(o, s.polygamma(1, X)),
                        (0.1, 100)),
    "beta(x, 2.5)": (lambda cc, x: cc.beta(x, 2.5), lambda s, X, o: s.beta(X, 2.5, out=o), (0.1, 20)),
    "gammainc(2.5, x)": (lambda cc, x: cc.gammainc(2.5, x), lambda s, X, o: s.gammainc(2.5, X, out=o), (0.1, 20)),
    "erfc": (lambda cc, x: cc.erfc(x), lambda s, X, o: s.erfc(X, out=o), (-3, 3)),
    "erfinv": (lambda cc, x: cc.erfinv(x), lambda s, X, o: s.erfinv(X, out=o), (-0.99, 0.99)),
    "erfcinv": (lambda cc, x: cc.erfcinv(x), lambda s, X, o: s.erfcinv(X, out=o), (0.01, 1.99)),
    "jv(1.5, x)": (lambda cc, x: cc.jv(1.5, x), lambda s, X, o: s.jv(1.5, X, out=o), (0.1, 30)),
    "yv(1.5, x)": (lambda cc, x: cc.yv(1.5, x), lambda s, X, o: s.yv(1.5, X, out=o), (0.1, 30)),
    "iv(1.5, x)": (lambda cc, x: cc.iv(1.5, x), lambda s, X, o: s.iv(1.5, X, out=o), (0.1, 30)),
    "kv(1.5, x)": (lambda cc, x: cc.kv(1.5, x), lambda s, X, o: s.kv(1.5, X, out=o), (0.1, 30)),
    "expi": (lambda cc, x: cc.expi(x), lambda s, X, o: s.expi(X, out=o), (-5, 5)),
    "ellipk": (lambda cc, x: cc.ellipk(x), lambda s, X, o: s.ellipk(X, out=o), (-5, 0.99)),
    "ellipe": (lambda cc, x: cc.ellipe(x), lambda s, X, o: s.ellipe(X, out=o), (-5, 0.99)),
    "legendre(5, x)": (lambda cc, x: cc.legendre(5.0, x), lambda s, X, o: s.eval_legendre(5.0, X, out=o), (-1, 1)),
    # through the wrappers of ir.special_more (pointer outputs, an integer degree, a ufunc's inner loop)
    "zeta(2.5, x)": (lambda cc, x: cc.zeta(2.5, x), lambda s, X, o: s.zeta(2.5, X, out=o), (0.1, 20)),
    "lambertw": (lambda cc, x: cc.lambertw(x), lambda s, X, o: np.copyto(o, s.lambertw(X).real), (-0.3, 20)),
    "Si (sici)": (lambda cc, x: cc.Si(x), lambda s, X, o: s.sici(X, out=(o, np.empty_like(o))), (-20, 20)),
    "fresnels (fresnel)": (lambda cc, x: cc.fresnels(x), lambda s, X, o: s.fresnel(X, out=(o, np.empty_like(o))),
                           (-5, 5)),
    "airyai (airy)": (lambda cc, x: cc.airyai(x), lambda s, X, o: s.airy(X, out=(o, *np.empty((3, o.size)))),
                      (-10, 5)),
    "betainc(2, 3, x)": (lambda cc, x: cc.betainc(2.0, 3.0, x), lambda s, X, o: s.betainc(2.0, 3.0, X, out=o), (0, 1)),
    "hermite(5, x)": (lambda cc, x: cc.hermite(5, x), lambda s, X, o: s.eval_hermite(5, X, out=o), (-3, 3)),
    "jacobi(5, 0.5, 1.5, x)": (lambda cc, x: cc.jacobi(5.0, 0.5, 1.5, x),
                               lambda s, X, o: s.eval_jacobi(5.0, 0.5, 1.5, X, out=o), (-1, 1)),
}
# (a ufunc of several outputs writes all of them: the library computes them too, and keeps one)
METHODS = ("numba batch", "llvm batch", "scipy.special ufunc")
# models whose gradient is timed against their value (the bound: 2.5x)
MODELS = {
    "loggamma model: gammaln(x * y) + x * gammaln(y)": lambda cc, x, y: cc.gammaln(x * y) + x * cc.gammaln(y),
    "digamma model: digamma(x) * y + digamma(x + y)": lambda cc, x, y: cc.digamma(x) * y + cc.digamma(x + y),
}


def steps(quick: bool) -> int:
    return len(FUNCTIONS) + len(MODELS)


def run(quick: bool, progress) -> list[Row]:
    import scipy.special
    import compiler as cc
    n = 100_000 if quick else 1_000_000
    repeats, min_time = (3, 0.02) if quick else (5, 0.1)
    rng = np.random.default_rng(0)
    x, y = cc.symbols("x y")
    rows: list[Row] = []
    with one_thread():  # per core, as the ufunc loop
        for name, (build, ufunc, (lo, hi)) in FUNCTIONS.items():
            X = rng.uniform(lo, hi, n)
            out = np.empty(X.size)
            expr = build(cc, x)
            cases = {METHODS[0]: cc.compile(expr, [x], backend="numba", progress=False)}
            cases[METHODS[1]] = cc.compile(expr, [x], backend="llvm", progress=False)
            for f in cases.values():
                if not np.allclose(f(X[:64]), (ufunc(scipy.special, X[:64], out[:64]), out[:64])[1],
                                   rtol=1e-15, atol=0, equal_nan=True):
                    raise AssertionError(f"special: {name} differs from scipy.special")
            calls = {m: (lambda f: lambda: f(X))(f) for m, f in cases.items()}
            calls[METHODS[2]] = lambda: ufunc(scipy.special, X, out)
            for method, (seconds, spread) in timed(calls, repeats, min_time).items():
                rows.append(Row(SUITE, name, method, seconds, X.size, None, spread))
            progress()
        for name, build in MODELS.items():
            X, Y = rng.uniform(0.5, 20, n), rng.uniform(0.5, 20, n)
            fn = cc.compile(build(cc, x, y), [x, y], backend="numba", progress=False)
            fn(X[:8], Y[:8]), fn.value_and_grad(X[:8], Y[:8])
            for method, (seconds, spread) in timed({"value": lambda: fn(X, Y),
                                                    "value and gradient": lambda: fn.value_and_grad(X, Y)},
                                                   repeats, min_time).items():
                rows.append(Row(SUITE, name, method, seconds, n, None, spread))
            progress()
    return rows


def table_of(rows: list[Row]) -> str:
    """ns per element per function and method, the ratio to SciPy's loop; the models' gradients."""
    body = []
    for name in FUNCTIONS:
        by = {r.method: r.seconds / r.size for r in rows if r.case == name and r.seconds}
        if not by:
            continue
        ref = by.get(METHODS[2])
        cells = [f"{by[m] * 1e9:.1f}" if m in by else "-" for m in METHODS]
        ratios = [f"{by[m] / ref:.2f}x" if ref and m in by else "-" for m in METHODS[:2]]
        body.append([name] + cells + ratios)
    head = ["function", "numba (ns/element)", "llvm (ns/element)", "scipy ufunc (ns/element)",
            "numba / scipy", "llvm / scipy"]
    tail = []
    for name in MODELS:
        by = {r.method: r.seconds / r.size for r in rows if r.case == name and r.seconds}
        if len(by) == 2:
            tail.append(f"{name}: value {by['value'] * 1e9:.1f} ns/point, value and gradient "
                        f"{by['value and gradient'] * 1e9:.1f} ns/point ({by['value and gradient'] / by['value']:.2f}x)")
    return "\n".join([table(head, body), "one thread; inputs in each function's usual range", *tail])
