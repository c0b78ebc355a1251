"""Core suite: the core issue's measurements, as paired ratios.

1. Per call: ``fn.value_and_grad(a, b, c, f)`` of the neuron ``tanh((c + a*b)*f)``
   beside a hand-written ``@numba.njit`` function returning the same
   ``(v, (da, db, dc, df))``, beside that function under the library's JIT
   options (a diagnostic: the gap to the hand-written row is the cost of those
   options, the gap to the compiler's row the Python wrapper around the
   kernel), and beside the ``backend="python"`` build of the same generated
   source (the JIT speedup).
2. Batch: value and gradient of ``batch.py``'s expression at 1,000,000 points
   (200,000 with ``--quick``):
   ``fn.value_and_grad(X, Y, Z)`` beside a ``numba.prange`` loop over an
   njit-compiled SymPy ``lambdify`` of the value and the three derivatives
   (returning a tuple, and a list: the plain recipe), beside
   ``jax.jit(jax.vmap(jax.value_and_grad(f)))`` in float64 where JAX is
   installed, and beside the python backend on a smaller batch, scaled per
   point. Every method must agree with the compiler (``np.allclose``) before
   any timing, or the suite fails.
3. Peak memory of the batch call at 10,000,000 points (1,000,000 with
   ``--quick``), in a fresh process (``core_memory.py``).

Each statement is timed as a user writes it (a ``timeit.Timer``); each repeat
times every method of a section back to back, and a ratio is the median of the
per-repeat ratios (paired: on a VM whose speed drifts by tens of percent it is
far steadier than a ratio of medians). Numba and JAX compile on the first call,
so every method is called once, its compile time recorded, before any timing.
"""

from __future__ import annotations

import math
import time
import timeit
from dataclasses import asdict, dataclass
from typing import Callable

import numba
import numpy as np

import compiler as cc

from . import core_memory
from .batch import expression
from .common import MismatchError, OtherLoad, Row, first_call, fmt_time, measure, optional, table as markdown_table

SUITE = "core"
NEURON_POINT = (0.4, 0.8, 1.0, -1.5)  # a, b, c, f
CALL_RATIO_TARGET = 1.3               # compiler / hand-written, per call
# The options the library compiles its scalar kernels with, as the footer of a saved module
# (``fn.save``) writes them: the diagnostic row's hand-written function gets the same.
LIBRARY_JIT_OPTIONS = {"error_model": "numpy"}
# Agreement between methods: the same math in float64, so differences are a few ulps of the
# libm or XLA transcendental functions.
RTOL, ATOL = 1e-10, 1e-12
CALL_CASE = "per call: tanh((c + a*b)*f)"
BATCH_TEXT = "exp(-(x**2 + y**2))*sin(3*z) + log(1 + x**2*y**2) + tanh(x*y*z) + sqrt(1 + z**2)*cos(x - y)"


@dataclass(frozen=True)
class Config:
    call_repeats: int       # repeats of each per-call method
    call_min_time: float    # seconds one repeat of a per-call method lasts at least
    n_batch: int            # points of the batch
    batch_repeats: int
    batch_min_time: float
    n_python: int           # points of the (slow) python backend's batch
    n_memory: int           # points of the peak memory measurement
    backend: str = "auto"   # the compiler's backend ("python" in tests: nothing to compile)


FULL = Config(call_repeats=25, call_min_time=0.1, n_batch=1_000_000, batch_repeats=15,
              batch_min_time=0.2, n_python=10_000, n_memory=10_000_000)
QUICK = Config(call_repeats=7, call_min_time=0.03, n_batch=200_000, batch_repeats=5,
               batch_min_time=0.05, n_python=1_000, n_memory=1_000_000)


def steps(quick: bool) -> int:
    return 3  # per call, batch, memory


def run(quick: bool, progress: Callable[[], None], config: Config | None = None) -> list[Row]:
    """The three sections' rows. The first row of a section (the compiler's) holds in ``extra``
    what the section says beside its table: ratios, compile times, agreement, load.

    Raises ``MismatchError`` when a method does not agree with the compiler, and
    ``BenchmarkError`` when the memory process fails.
    """
    cfg = config or (QUICK if quick else FULL)
    rows: list[Row] = []
    for section in (per_call, batch):
        with OtherLoad() as load:
            mine = section(cfg)
        mine[0].extra["load"] = {"note": load.note(), **load.as_dict()}
        rows += mine
        progress()
    rows.append(memory(cfg))
    progress()
    return rows


def check_agrees(what: str, reference, candidate) -> float:
    """The largest absolute difference; raises ``MismatchError`` unless ``np.allclose`` holds."""
    ref, got = np.asarray(reference, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    if ref.shape != got.shape:
        raise MismatchError(f"{what}: shape {got.shape}, expected {ref.shape}")
    if not np.allclose(got, ref, rtol=RTOL, atol=ATOL):
        bad = ~np.isclose(got, ref, rtol=RTOL, atol=ATOL)
        i = np.flatnonzero(bad.ravel())[0]
        raise MismatchError(f"{what}: {bad.sum()} of {bad.size} values differ beyond rtol={RTOL}, atol={ATOL}; "
                            f"first at flat index {i}: {float(got.ravel()[i])!r}, expected {float(ref.ravel()[i])!r}")
    return float(np.max(np.abs(got - ref))) if ref.size else 0.0


def _timers(statements: dict[str, str], namespace: dict) -> dict[str, timeit.Timer]:
    """A timer of each statement exactly as a user writes it; names are globals of ``namespace``."""
    return {key: timeit.Timer(stmt, globals=namespace) for key, stmt in statements.items()}


# --- 1. per call ---

def neuron(m):
    """The neuron, spelled with the functions of the module ``m``."""
    return lambda a, b, c, f: m.tanh((c + a * b) * f)


@numba.njit
def neuron_by_hand(a, b, c, f):
    """tanh((c + a*b)*f) and its gradient, written out by hand."""
    s = c + a * b
    t = math.tanh(s * f)
    dz = 1.0 - t * t  # d tanh(z) / dz
    ds = dz * f
    return t, (ds * b, ds * a, ds, dz * s)


def _flat(result) -> list[float]:
    return [result[0], *result[1]]


def per_call(cfg: Config) -> list[Row]:
    """Rows: the compiler, hand-written, the diagnostic, the python backend, the empty statement."""
    a, b, c, f = cc.symbols("a b c f")
    expr = neuron(cc)(a, b, c, f)
    t0 = time.perf_counter()
    fn = cc.compile(expr, [a, b, c, f], backend=cfg.backend)
    codegen = time.perf_counter() - t0
    fn_py = cc.compile(expr, [a, b, c, f], backend="python")
    ready = {}
    _, ready["compiler"] = first_call(fn.wait)  # "auto" interprets first calls while it compiles: compile now
    hand_opts = numba.njit(**LIBRARY_JIT_OPTIONS)(neuron_by_hand.py_func)
    hand, ready["hand"] = first_call(neuron_by_hand, *NEURON_POINT)
    _, ready["hand_opts"] = first_call(hand_opts, *NEURON_POINT)
    for key, got in (("compiler", fn.value_and_grad(*NEURON_POINT)), ("python", fn_py.value_and_grad(*NEURON_POINT)),
                     ("hand_opts", hand_opts(*NEURON_POINT))):
        check_agrees(f"neuron: {key} against hand-written", _flat(hand), _flat(got))

    ns = dict(zip("abcf", NEURON_POINT), fn=fn, fn_py=fn_py, neuron_by_hand=neuron_by_hand, hand_opts=hand_opts)
    statements = {"compiler": "fn.value_and_grad(a, b, c, f)", "hand": "neuron_by_hand(a, b, c, f)",
                  "python": "fn_py.value_and_grad(a, b, c, f)",
                  "empty": "pass",  # timeit's loop itself, included in every row
                  "hand_opts": "hand_opts(a, b, c, f)"}
    timings = measure(_timers(statements, ns), cfg.call_repeats, cfg.call_min_time)
    options = ", ".join(f"{k}={v!r}" for k, v in sorted(LIBRARY_JIT_OPTIONS.items()))
    labels = {"compiler": f"compiler, {fn.backend}: fn.value_and_grad(a, b, c, f)",
              "hand": "hand-written @numba.njit",
              "hand_opts": f"  diagnostic: the same, @numba.njit({options})",
              "python": 'compiler, backend="python"',
              "empty": "timeit loop (empty statement)"}
    rows = [Row(SUITE, CALL_CASE, label, timings[k].median, None, ready.get(k), timings[k].spread,
                extra={"section": "per_call", "key": k, "statement": statements[k],
                       "vs_hand": timings[k].ratio_to(timings["hand"]), "timing": timings[k].as_dict()})
            for k, label in labels.items()]
    rows[0].extra.update(ratio=rows[0].extra["vs_hand"], target=CALL_RATIO_TARGET,
                         jit_speedup=timings["python"].ratio_to(timings["compiler"]), codegen_seconds=codegen,
                         library_jit_options=LIBRARY_JIT_OPTIONS, point=NEURON_POINT, backend=fn.backend,
                         config=asdict(cfg))
    return rows


def per_call_report(rows: list[Row]) -> str:
    by = {r.extra["key"]: r for r in rows}
    s = by["compiler"].extra
    body = [[r.method, fmt_time(r.seconds), f"{r.spread:.1%}", f"{r.extra['vs_hand']:.2f}x"]
            for r in rows if r.extra["key"] != "empty"]
    cfg = s["config"]
    compile_times = [f"cc.compile (reverse pass + codegen) {fmt_time(s['codegen_seconds'])}",
                     f"compiler: fn.wait() (the JIT) {fmt_time(by['compiler'].compile_seconds)}",
                     f"hand-written: first call (Numba JIT) {fmt_time(by['hand'].compile_seconds)}"]
    verdict = "met" if s["ratio"] <= s["target"] else "NOT met"
    return "\n".join([
        "### 1. Per call: value and gradient of tanh((c + a*b)*f) at a, b, c, f = " + ", ".join(map(str, s["point"])),
        "",
        markdown_table(["method", "time per call (median)", "spread (IQR)", "vs hand-written (paired)"], body),
        "",
        f"ratio compiler / hand-written: {s['ratio']:.2f} (target <= {s['target']}: {verdict})",
        f"JIT speedup, python backend / {s['backend']} backend: {s['jit_speedup']:,.0f}x",
        f"timeit loop overhead (empty statement), included in each row: {fmt_time(by['empty'].seconds)}",
        f"timing: median of {cfg['call_repeats']} repeats of >= {cfg['call_min_time']} s each, warm-up excluded",
        "compile (once, excluded from timings): " + "; ".join(compile_times),
        s["load"]["note"]])


# --- 2. batch ---

def sympy_peer(returns: type) -> tuple[Callable, float]:
    """An njit(parallel) ``prange`` loop over an njit-compiled lambdify of value and gradient, and the
    seconds of the diff and lambdify. ``returns`` (``tuple`` or ``list``) is the container lambdify
    returns: with a list Numba builds a heap-allocated list for every point, while a tuple stays in
    registers, so the tuple build is the stronger (headline) peer."""
    import sympy as sp
    t0 = time.perf_counter()
    x, y, z = sp.symbols("x y z")
    f = expression(sp)(x, y, z)
    scalar = numba.njit(sp.lambdify((x, y, z), returns([f, sp.diff(f, x), sp.diff(f, y), sp.diff(f, z)]),
                                    modules="math", cse=True))
    seconds = time.perf_counter() - t0

    @numba.njit(parallel=True)
    def loop(X, Y, Z, out, gx, gy, gz):
        for i in numba.prange(X.shape[0]):
            r = scalar(X[i], Y[i], Z[i])
            out[i] = r[0]
            gx[i] = r[1]
            gy[i] = r[2]
            gz[i] = r[3]
    return loop, seconds


def jax_peer(jax) -> Callable:
    """Value and the three partials at every point: one jitted XLA computation."""
    return jax.jit(jax.vmap(jax.value_and_grad(expression(jax.numpy), argnums=(0, 1, 2))))


def _threading_layer() -> str:
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel Numba code has run in this process
        return "not started"


def batch(cfg: Config) -> list[Row]:
    """Rows: the compiler, SymPy (tuple, list), JAX where installed, the python backend (scaled)."""
    n = cfg.n_batch
    X, Y, Z = core_memory.inputs(n)
    small = tuple(v[:cfg.n_python] for v in (X, Y, Z))
    x, y, z = cc.symbols("x y z")
    expr = expression(cc)(x, y, z)
    ready: dict[str, float] = {}
    t0 = time.perf_counter()
    fn = cc.compile(expr, [x, y, z], backend=cfg.backend)
    codegen = time.perf_counter() - t0
    fn_py = cc.compile(expr, [x, y, z], backend="python")
    ours, ready["compiler"] = first_call(fn.value_and_grad, X, Y, Z)
    ours = np.vstack([ours[0], *ours[1]])  # rows: value, d/dx, d/dy, d/dz
    py_v, py_g = fn_py.value_and_grad(*small)
    diffs = {"python": check_agrees("batch: python backend against the compiler", ours[:, :cfg.n_python],
                                    np.vstack([py_v, *py_g]))}

    outs = np.empty((4, n))  # the SymPy loops write into these, allocated once
    peers, lambdify = {}, {}
    for kind in (tuple, list):
        key = f"sympy_{kind.__name__}"
        peers[key], lambdify[key] = sympy_peer(kind)
        outs[:] = np.nan
        _, ready[key] = first_call(peers[key], X, Y, Z, *outs)
        diffs[key] = check_agrees(f"batch: sympy ({kind.__name__}) against the compiler", ours, outs)

    ns = dict(fn=fn, fn_py=fn_py, X=X, Y=Y, Z=Z, Xs=small[0], Ys=small[1], Zs=small[2], **peers,
              out=outs[0], gx=outs[1], gy=outs[2], gz=outs[3])
    statements = {"compiler": "fn.value_and_grad(X, Y, Z)",
                  "python": "fn_py.value_and_grad(Xs, Ys, Zs)",  # ~100x slower per point: a slice, scaled
                  "sympy_tuple": "sympy_tuple(X, Y, Z, out, gx, gy, gz)",
                  "sympy_list": "sympy_list(X, Y, Z, out, gx, gy, gz)"}
    jax = optional("jax")
    if jax is not None:
        vg = jax_peer(jax)
        JX, JY, JZ = (jax.device_put(v) for v in (X, Y, Z))  # once: JAX's best case, inputs in its buffers
        (jv, jg), ready["jax"] = first_call(lambda: jax.block_until_ready(vg(JX, JY, JZ)))
        diffs["jax"] = check_agrees("batch: jax against the compiler", ours, np.vstack([jv, *jg]))
        # JAX dispatches asynchronously: wait for the value and all three gradients
        ns.update(vg=vg, JX=JX, JY=JY, JZ=JZ, block=jax.block_until_ready)
        statements["jax"] = "block(vg(JX, JY, JZ))"
    timings = measure(_timers(statements, ns), cfg.batch_repeats, cfg.batch_min_time)

    labels = {"compiler": f"compiler, {fn.backend}: fn.value_and_grad(X, Y, Z)",
              "sympy_tuple": "sympy lambdify (tuple) + njit, prange, preallocated out",
              "sympy_list": "sympy lambdify (list) + njit, prange, preallocated out",
              "jax": "jax.jit(vmap(value_and_grad)), float64",
              "python": f'compiler, backend="python" ({cfg.n_python:,} points, scaled)'}
    rows = []
    for key in [k for k in labels if k in timings]:
        t, points = timings[key], cfg.n_python if key == "python" else n
        rows.append(Row(SUITE, f"batch: {n:,} points", labels[key], t.median * n / points, n, ready.get(key),
                        t.spread, f"measured on {points:,} points, scaled" if points != n else "",
                        extra={"section": "batch", "key": key, "statement": statements[key], "points": points,
                               "per_point": t.median / points, "timing": t.as_dict(),
                               "vs_compiler": t.ratio_to(timings["compiler"]) * n / points,
                               **({"lambdify_seconds": lambdify[key]} if key in lambdify else {})}))
    rows[0].extra.update(codegen_seconds=codegen, max_abs_diff=diffs, threading_layer=_threading_layer(),
                         numba_threads=numba.config.NUMBA_NUM_THREADS, jax=jax.__version__ if jax else None,
                         backend=fn.backend, config=asdict(cfg))
    return rows


def batch_report(rows: list[Row]) -> str:
    by = {r.extra["key"]: r for r in rows}
    s, n = by["compiler"].extra, by["compiler"].size
    cfg = s["config"]
    body = [[r.method, fmt_time(r.seconds), fmt_time(r.extra["per_point"]), f"{r.spread:.1%}",
             f"{r.extra['vs_compiler']:,.2f}x"] for r in rows]
    compile_times = [f"  compiler: cc.compile (reverse pass + codegen): {fmt_time(s['codegen_seconds'])}",
                     f"  compiler: first batch call (JIT: kernel + prange driver): "
                     f"{fmt_time(by['compiler'].compile_seconds)}"]
    for key in ("sympy_tuple", "sympy_list"):
        kind = key.split("_")[1]
        compile_times += [f"  sympy ({kind}): diff + lambdify: {fmt_time(by[key].extra['lambdify_seconds'])}",
                          f"  sympy ({kind}): first call (Numba JIT): {fmt_time(by[key].compile_seconds)}"]
    if "jax" in by:
        compile_times.append(f"  jax: first call (trace + XLA compile): {fmt_time(by['jax'].compile_seconds)}")
    lines = [
        f"### 2. Batch: value and gradient (x, y, z) at {n:,} points, float64",
        f"f = {BATCH_TEXT}",
        "",
        markdown_table(["method", f"time per {n:,} points", "per point", "spread (IQR)", "vs compiler (paired)"],
                       body),
        "",
        f"JIT speedup, python backend / {s['backend']} backend, per point: {by['python'].extra['vs_compiler']:,.0f}x",
        f"numba threading layer: {s['threading_layer']}, threads: {s['numba_threads']}",
        ("the compiler and jax allocate their outputs on every call (jax inputs are device_put once, before "
         "timing)" if "jax" in by else "the compiler allocates its outputs on every call")
        + "; the sympy loops write into arrays allocated once.",
        f"agreement with the compiler, checked before timing (np.allclose, rtol={RTOL}, atol={ATOL}), "
        "max |difference|: " + ", ".join(f"{k} {v:.1e}" for k, v in s["max_abs_diff"].items()),
    ]
    if s["jax"] is None:
        lines.append("jax: skipped (not installed, or it failed to import)")
    lines += [f"timing: median of {cfg['batch_repeats']} repeats of >= {cfg['batch_min_time']} s each, warm-up "
              "excluded", "compile (once, excluded from timings):", *compile_times, s["load"]["note"]]
    return "\n".join(lines)


# --- 3. memory ---

def memory(cfg: Config) -> Row:
    m = core_memory.run(cfg.n_memory, cfg.backend)
    return Row(SUITE, f"peak memory: {m['n']:,} points", "compiler: fn.value_and_grad(X, Y, Z)", None, m["n"],
               note="fresh process", extra={"section": "memory", "key": "compiler", **m})


# --- the report ---

def table(rows: list[Row]) -> str:
    """The three sections of the report, each a table and what it says beside it."""
    out = []
    for section, report in (("per_call", per_call_report), ("batch", batch_report),
                            ("memory", lambda mine: core_memory.report(mine[0].extra))):
        mine = [r for r in rows if r.extra.get("section") == section]
        if mine:
            out.append(report(mine))
    return "\n\n".join(out)
