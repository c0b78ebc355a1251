"""Sparse suite: structural sparsity, colouring and compressed derivatives, beside CasADi and JAX.

1. Sparse Hessian of the chained Rosenbrock ``sum(100 (x[1:] - x[:-1]^2)^2 + (1 - x[:-1])^2)``
   written with tensors, n = 10^3, 10^4, 10^5 (10^3, 10^4 with ``--quick``): this
   library's ``hessian_sparsity`` + ``coloring`` (setup), ``sparse_hessian`` per call
   (compiled, numba) and its ratio to one ``value_and_grad`` call, and the time from the
   expression to the first sparse Hessian (``backend="auto"``: answered by NumPy while the
   kernel compiles); CasADi's SX graph of n scalars (``casadi.hessian`` + ``Function``:
   setup; its VM per call); JAX's dense ``jit(hessian)`` where it fits in memory.
2. Sparse Jacobian of a banded residual (the 1-D Bratu problem, ``m = n``, 3 nonzeros per
   row) at the same sizes, against CasADi's ``jacobian`` and JAX's dense ``jit(jacfwd)``.
3. ``jvp`` per call beside ``value`` per call: the neuron, and a random graph of 10^4 ops
   (10^3 with ``--quick``): the forward sweep costs about one more evaluation.

Every method's numbers are checked against this library's before timing.
"""

from __future__ import annotations

import time

import numpy as np

import compiler as cc

from .common import Row, fmt_time, optional, table as markdown_table, timed
from .graphs import random_graph

SUITE = "sparse"
DENSE_FITS = 10_000  # JAX's dense Hessian/Jacobian is run up to this n (800 MB); beyond: "does not fit"
RTOL = 1e-9


def sizes(quick: bool) -> list[int]:
    return [1_000, 10_000] if quick else [1_000, 10_000, 100_000]


def steps(quick: bool) -> int:
    return 2 * len(sizes(quick)) + 2


def rosenbrock(x, m=None):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum() if m is None else \
        m.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def bratu(u, exp, concatenate, n: int, lam: float = 1.5):
    """The residual of -u'' = lam exp(u) on (0, 1), u(0) = u(1) = 0, by central differences."""
    h = 1.0 / (n + 1)
    padded = concatenate([np.zeros(1), u, np.zeros(1)])
    return (padded[2:] - 2.0 * padded[1:-1] + padded[:-2]) / h ** 2 + lam * exp(u)


def _check(what: str, reference, candidate) -> None:
    """Raise unless ``candidate`` equals ``reference``; sparse matrices are compared without densifying."""
    import scipy.sparse as sp

    if sp.issparse(reference) or sp.issparse(candidate):
        a, b = sp.csr_matrix(reference), sp.csr_matrix(candidate)
        scale = abs(a).max() if a.nnz else 1.0
        ok = a.shape == b.shape and abs(a - b).max() <= 2 * RTOL * scale
    else:
        a, b = np.asarray(reference, dtype=float), np.asarray(candidate, dtype=float)
        scale = np.abs(a).max() or 1.0
        ok = a.shape == b.shape and np.allclose(a, b, rtol=RTOL, atol=RTOL * scale)
    if not ok:
        raise AssertionError(f"{what}: the numbers differ from this library's")


def _ours(expr, x, point, sparse: str):
    """Our setup, first result and per-call callables for ``sparse`` ("hessian" or "jacobian")."""
    t0 = time.perf_counter()
    first = cc.compile(expr, [x], wrt=x)
    pattern = getattr(first, f"{sparse}_sparsity")()
    colors = first.coloring(sparse).n_colors
    t1 = time.perf_counter()
    getattr(first, f"sparse_{sparse}")(point)
    t2 = time.perf_counter()
    fn = cc.compile(expr, [x], wrt=x, backend="numba")
    call = getattr(fn, f"sparse_{sparse}")
    t3 = time.perf_counter()
    result = call(point)  # compiles the compressed kernel
    compile_seconds = time.perf_counter() - t3
    extra = {"setup": t1 - t0, "first": t2 - t0, "colors": colors, "nnz": int(pattern.nnz),
             "kernel_compile": compile_seconds}
    return result, fn, call, extra


def _casadi(ca, n: int, kind: str, point):
    x = ca.SX.sym("x", n)
    t0 = time.perf_counter()
    if kind == "hessian":
        f = ca.sum1(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
        H, g = ca.hessian(f, x)
        F = ca.Function("h", [x], [H])
        base = ca.Function("vg", [x], [f, g])
    else:
        r = bratu(x, ca.exp, lambda parts: ca.vertcat(*[ca.DM(p) if isinstance(p, np.ndarray) else p
                                                         for p in parts]), n)
        F = ca.Function("j", [x], [ca.jacobian(r, x)])
        base = ca.Function("r", [x], [r])
    setup = time.perf_counter() - t0
    result = F(point)
    return result.sparse() if hasattr(result, "sparse") else result, F, base, setup


def _warm_up(kind: str, ca) -> None:
    """Run each library once on a tiny problem, so that "expression to first result" measures the
    problem and not a process's first use of the library (imports, Numba's own start-up)."""
    x, point = cc.Tensor("x", (10,)), np.linspace(0.1, 0.9, 10)
    expr = rosenbrock(x, cc) if kind == "hessian" else bratu(x, cc.exp, cc.concatenate, 10)
    _ours(expr, x, point, kind)
    if ca is not None:
        _casadi(ca, 10, kind, point)


def _jax_dense(jax, n: int, kind: str):
    jnp = jax.numpy
    if kind == "hessian":
        return jax.jit(jax.hessian(lambda z: rosenbrock(z, jnp)))
    return jax.jit(jax.jacfwd(lambda z: bratu(z, jnp.exp, jnp.concatenate, n)))


def run(quick: bool, progress) -> list[Row]:
    repeats, min_time = (3, 0.02) if quick else (9, 0.2)
    ca, jax = optional("casadi"), optional("jax")
    rows: list[Row] = []
    for kind in ("hessian", "jacobian"):
        _warm_up(kind, ca)
        for n in sizes(quick):
            rows += _sparse_case(kind, n, repeats, min_time, ca, jax)
            progress()
    for name, expr, inputs, point, backend in _jvp_cases(quick):
        fn = cc.compile(expr, inputs, backend=backend).wait()
        v = tuple(float(t) for t in np.linspace(-1.0, 1.0, len(point)))
        fn.jvp(*point, v=v)  # compiles the tangent kernel
        _check(f"{name} jvp value", fn(*point), fn.jvp(*point, v=v)[0])
        times = timed({"value": lambda: fn(*point), "jvp": lambda: fn.jvp(*point, v=v)}, repeats, min_time)
        for method, (seconds, spread) in times.items():
            note = f"{times['jvp'][0] / times['value'][0]:.2f}x the value" if method == "jvp" else ""
            rows.append(Row(SUITE, name, f"compiler {method} ({fn.backend})", seconds, len(point),
                            spread=spread, note=note))
        progress()
    return rows


def _sparse_case(kind: str, n: int, repeats: int, min_time: float, ca, jax) -> list[Row]:
    rng = np.random.default_rng(0)
    x = cc.Tensor("x", (n,))
    if kind == "hessian":
        expr, point, case = rosenbrock(x, cc), rng.uniform(-1.0, 2.0, n), f"sparse Hessian, chained Rosenbrock n={n:,}"
    else:
        expr, point = bratu(x, cc.exp, cc.concatenate, n), rng.uniform(0.0, 1.0, n)
        case = f"sparse Jacobian, Bratu residual n={n:,}"
    reference, fn, call, extra = _ours(expr, x, point, kind)
    base = fn.value_and_grad if kind == "hessian" else fn
    base(point)
    methods = {"compiler": lambda: call(point), "compiler, one " + ("value_and_grad" if kind == "hessian"
                                                                      else "value"): lambda: base(point)}
    setups = {"compiler": extra["setup"]}
    firsts = {"compiler": extra["first"]}
    notes = {"compiler": f"{extra['colors']} colours, {extra['nnz']:,} nonzeros; kernel compile "
                         f"{fmt_time(extra['kernel_compile'])}"}
    if ca is not None:
        result, F, cbase, setup = _casadi(ca, n, kind, point)
        _check(f"{case}: CasADi", reference, result)
        methods["CasADi (SX, Function VM)"] = lambda: F(point)
        methods["CasADi, one " + ("value and gradient" if kind == "hessian" else "value")] = lambda: cbase(point)
        setups["CasADi (SX, Function VM)"] = setup
        t0 = time.perf_counter()
        _casadi(ca, n, kind, point)
        firsts["CasADi (SX, Function VM)"] = time.perf_counter() - t0
    dense = f"JAX jit({'hessian' if kind == 'hessian' else 'jacfwd'}), dense"
    if jax is not None and n <= DENSE_FITS:
        t0 = time.perf_counter()
        g = _jax_dense(jax, n, kind)
        result = jax.block_until_ready(g(point))
        firsts[dense] = time.perf_counter() - t0
        _check(f"{case}: JAX", reference, np.asarray(result))
        methods[dense] = lambda: jax.block_until_ready(g(point))
    times = timed(methods, repeats, min_time, interleave=False)
    ours = times["compiler"][0]
    rows = []
    for method, (seconds, spread) in times.items():
        note = notes.get(method, "")
        if method != "compiler":
            note = (note + "; " if note else "") + f"{seconds / ours:.2f}x the compiler's time"
        rows.append(Row(SUITE, case, method, seconds, n, firsts.get(method), spread, note,
                        extra={"setup": setups.get(method)}))
    if jax is not None and n > DENSE_FITS:
        rows.append(Row(SUITE, case, dense, None, n, note=f"does not fit: {8 * n * n / 1e9:,.0f} GB dense"))
    return rows


def _jvp_cases(quick: bool):
    a, b, c, f = cc.symbols("a b c f")
    yield "jvp: neuron tanh((c + a*b)*f)", cc.tanh((c + a * b) * f), [a, b, c, f], (0.4, 0.8, 1.0, -1.5), "numba"
    ops = 1_000 if quick else 10_000
    expr, xs = random_graph(ops)
    point = tuple(float(t) for t in np.linspace(-0.5, 0.5, len(xs)))
    yield f"jvp: random graph of {ops:,} ops", expr, xs, point, "llvm"  # "auto"'s target at this size


def table(rows: list[Row]) -> str:
    body = []
    for case in dict.fromkeys(r.case for r in rows):
        for r in [r for r in rows if r.case == case]:
            setup = r.extra.get("setup") if r.extra else None
            body.append([case, r.method, fmt_time(r.seconds), fmt_time(setup), fmt_time(r.compile_seconds), r.note])
            case = ""
    return markdown_table(["case", "method", "per call", "setup (pattern + colouring / symbolic)",
                           "expression to first result", "note"], body)
