"""SIMD suite: nanoseconds per element of each transcendental op, one thread.

For each op: this library's batch on vector units (``f(x)`` compiled, glibc's
libmvec where ``cc.simd_info()`` says so), its scalar loop (``simd=False``: the
C library's scalar functions) and NumPy's ufunc into a preallocated array.
Then the batch suite's expression (value and 3 gradients): the measured time
per point beside the sum of its calls' times from this table (how close the
kernel is to what its vector-math calls alone cost).
"""

from __future__ import annotations

import numpy as np

from .common import Row, one_thread, table, timed

SUITE = "simd"
# op -> (this library's function, NumPy's, the inputs' range)
OPS = {
    "exp": ("exp", np.exp, (-3, 3)), "log": ("log", np.log, (0.1, 10)), "sin": ("sin", np.sin, (-3, 3)),
    "cos": ("cos", np.cos, (-3, 3)), "tan": ("tan", np.tan, (-1.5, 1.5)), "tanh": ("tanh", np.tanh, (-3, 3)),
    "sinh": ("sinh", np.sinh, (-3, 3)), "cosh": ("cosh", np.cosh, (-3, 3)), "asin": ("asin", np.arcsin, (-0.9, 0.9)),
    "acos": ("acos", np.arccos, (-0.9, 0.9)), "atan": ("atan", np.arctan, (-3, 3)),
    "log1p": ("log1p", np.log1p, (0.1, 10)), "expm1": ("expm1", np.expm1, (-3, 3)),
    "erf": ("erf", None, (-3, 3)), "sqrt": ("sqrt", np.sqrt, (0.1, 10)),
    "pow": ("pow", np.power, (0.1, 10)), "atan2": ("atan2", np.arctan2, (-3, 3)),
}
METHODS = ("vector kernel", "scalar kernel (simd=False)", "NumPy ufunc")


def _function(cc, op, x, y):
    if op == "pow":
        return x ** (y * 0.25 + 0.1)  # a non-integer exponent: the library's pow
    if op == "atan2":
        return cc.atan2(x, y)
    return getattr(cc, OPS[op][0])(x)


def run(quick: bool, progress) -> list[Row]:
    import compiler as cc
    from .batch import expression
    n = 100_000 if quick else 1_000_000
    repeats, min_time = (3, 0.02) if quick else (7, 0.1)
    rng = np.random.default_rng(0)
    x, y = cc.symbols("x y")
    rows: list[Row] = []
    with one_thread():  # per core: the batch loop's threads would halve every figure alike
        costs: dict[str, float] = {}
        for op, (_, ufunc, (lo, hi)) in OPS.items():
            X, Y = rng.uniform(lo, hi, n), rng.uniform(-3, 3, n)
            expr = _function(cc, op, x, y)
            vec = cc.compile(expr, [x, y], backend="llvm", progress=False)
            sca = cc.compile(expr, [x, y], backend="llvm", progress=False, simd=False)
            out = np.empty(n)
            cases = {METHODS[0]: lambda: vec(X, Y), METHODS[1]: lambda: sca(X, Y)}
            if ufunc is not None:
                binary = op in ("pow", "atan2")
                cases[METHODS[2]] = ((lambda: ufunc(X, Y * 0.25 + 0.1 if op == "pow" else Y, out)) if binary
                                     else (lambda: ufunc(X, out)))
            for f in (vec, sca):
                f(X[:8], Y[:8])  # compiled before timing
            if not np.allclose(vec(X, Y), sca(X, Y), rtol=1e-14, atol=0):
                raise AssertionError(f"simd: {op} differs between the vector and the scalar kernel")
            for method, (seconds, spread) in timed(cases, repeats, min_time).items():
                rows.append(Row(SUITE, op, method, seconds, n, None, spread))
                if method == METHODS[0]:
                    costs[op] = seconds / n
            progress()
        rows.append(_expression_row(cc, expression, costs, n, rng, repeats, min_time))
    progress()
    return rows


def _expression_row(cc, expression, costs, n, rng, repeats, min_time) -> Row:
    """The batch suite's expression, one thread: measured, and the sum of its calls' costs."""
    x, y, z = cc.symbols("x y z")
    fn = cc.compile(expression(cc)(x, y, z), [x, y, z], progress=False)
    X, Y, Z = (rng.uniform(-2, 2, n) for _ in range(3))
    fn.value_and_grad(X[:8], Y[:8], Z[:8])
    (seconds, spread), = timed({"m": lambda: fn.value_and_grad(X, Y, Z)}, repeats, min_time).values()
    calls: dict[str, int] = {}
    for node in fn.plan["value_and_grad"].statements:
        small_power = node.op == "pow" and node.args[1].op == "const" and node.args[1].value in (2.0, 3.0, 4.0, -1.0)
        if node.op in costs and not small_power:
            calls[node.op] = calls.get(node.op, 0) + 1
    floor = sum(costs[op] * k for op, k in calls.items())
    listed = ", ".join(f"{k} {op}" for op, k in sorted(calls.items()))
    return Row(SUITE, "batch expression (value + 3 gradients)", METHODS[0], seconds, n, None, spread,
               extra={"floor": floor, "calls": listed})


def table_of(rows: list[Row]) -> str:
    """ns per element per op and method; then the expression against its calls' floor."""
    body, tail = [], []
    for op in OPS:
        by = {r.method: r.seconds / r.size for r in rows if r.case == op and r.seconds}
        if not by:
            continue
        vec = by.get(METHODS[0])
        cells = [f"{by[m] * 1e9:.2f}" if m in by else "-" for m in METHODS]
        ratios = [f"{by[m] / vec:.1f}x" if vec and m in by else "-" for m in METHODS[1:]]
        body.append([op] + cells + ratios)
    for r in rows:
        if "floor" in r.extra:
            per = r.seconds / r.size
            tail.append(f"{r.case}, one thread: {per * 1e9:.1f} ns per point. Its calls ({r.extra['calls']}), "
                        f"each timed alone above (with its own loads and stores), add up to "
                        f"{r.extra['floor'] * 1e9:.1f} ns: the kernel takes {per / r.extra['floor']:.2f}x "
                        f"the time of its vector-math calls")
    head = ["op", "vector kernel (ns/element)", "scalar kernel (ns/element)", "NumPy ufunc (ns/element)",
            "scalar / vector", "NumPy / vector"]
    return "\n".join([table(head, body), "one thread; inputs in each op's usual range", *tail])


def panel(ax, rows) -> bool:
    """Bars: ns per element of each op, per method (log scale)."""
    ops = [op for op in OPS if any(r.case == op and r.seconds for r in rows if r.suite == SUITE)]
    if ax is None:
        return bool(ops)
    width = 0.27
    for k, method in enumerate(METHODS):
        values = []
        for op in ops:
            r = next((r for r in rows if r.suite == SUITE and r.case == op and r.method == method), None)
            values.append(r.seconds / r.size * 1e9 if r is not None and r.seconds else 0.0)
        ax.bar([i + (k - 1) * width for i in range(len(ops))], values, width, label=method)
    ax.set_xticks(range(len(ops)), ops, rotation=45)
    ax.set_yscale("log")
    ax.set_ylabel("ns per element (one thread)")
    ax.set_title("vector math per op")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    return True
