"""Core benchmark: compiled value-and-gradient against hand-written Numba, SymPy and JAX.

Run from anywhere (it imports ``compiler`` from the work tree it sits in)::

    python benchmarks/core.py            # full run, about a minute on 2 cores
    python benchmarks/core.py --quick    # smaller sizes and repeats, under a minute
    python benchmarks/core.py --json results.json

Three measurements, side by side in one process (the third in a subprocess):

1. Per call. ``fn.value_and_grad(a, b, c, f)`` of the neuron ``tanh((c + a*b)*f)``
   beside a hand-written ``@numba.njit`` function returning the same
   ``(v, (da, db, dc, df))``, and beside the ``backend="python"`` build of the
   same generated source (the JIT speedup).
2. Batch. Value and gradient of a 3-input expression over many points:
   ``fn.value_and_grad(X, Y, Z)`` beside a ``numba.prange`` loop over an
   njit-compiled ``sympy.lambdify`` of the value and the three derivatives
   (lambdify returning a tuple, and the list of the plain recipe), beside
   ``jax.jit(jax.vmap(jax.value_and_grad(f)))`` in float64 when JAX is
   installed, and beside the python backend on a smaller batch. All methods
   must agree (``np.allclose``) or the script exits 1.
3. Peak memory of ``fn.value_and_grad(X, Y, Z)`` at 10,000,000 points
   (1,000,000 with ``--quick``), in a fresh subprocess: peak RSS (VmHWM, reset
   just before the call) minus the RSS before the call (inputs already
   resident) minus the output arrays, and the tracemalloc peak of
   Python/NumPy allocations during a second call.

Timing is timeit-style: each case is calibrated to a loop count whose repeat
lasts at least ``min_time``; repeats of the cases in a comparison are
interleaved (round-robin) so that drift in machine speed hits all of them
alike. Reported: the median per-call time of each case and, for every
comparison, the median over rounds of the ratio within a round (a paired
ratio: on a VM whose speed drifts by tens of percent it is far steadier than
a ratio of medians). Numba and JAX compile on the first call, so every case
is called once (and its compile time recorded) before any timing.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
import timeit
import tracemalloc
from dataclasses import asdict, dataclass
from pathlib import Path

# Measure the work tree this script belongs to, not some installed copy.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numba  # noqa: E402
import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402

import compiler as cc  # noqa: E402
from compiler.bench.common import OtherLoad  # noqa: E402
from compiler.bench.common import machine_info as common_machine_info  # noqa: E402

NEURON_POINT = (0.4, 0.8, 1.0, -1.5)  # a, b, c, f
CALL_RATIO_TARGET = 1.3               # compiler / hand-written, per call
MEMORY_TARGET_MB = 50.0               # beyond inputs + outputs
# Agreement between methods: the same math in float64, so differences are a
# few ulps of libm / XLA transcendental implementations.
RTOL, ATOL = 1e-10, 1e-12


@dataclass
class Config:
    call_repeats: int     # repeats of each per-call case
    call_min_time: float  # seconds one repeat of a per-call case lasts at least
    n_batch: int          # points of the batch benchmark
    batch_repeats: int
    batch_min_time: float
    n_python: int         # points for the (slow) python backend batch
    n_memory: int         # points of the peak memory measurement


FULL = Config(call_repeats=25, call_min_time=0.1, n_batch=1_000_000, batch_repeats=15,
              batch_min_time=0.2, n_python=10_000, n_memory=10_000_000)
QUICK = Config(call_repeats=7, call_min_time=0.03, n_batch=200_000, batch_repeats=5,
               batch_min_time=0.05, n_python=1_000, n_memory=1_000_000)


# --------------------------------------------------------------------------- timing

@dataclass
class Timing:
    name: str
    loops: int              # calls per repeat
    per_call: list[float]   # seconds per call, one entry per repeat

    @property
    def median(self) -> float:
        return statistics.median(self.per_call)

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median: how noisy the repeats were."""
        if len(self.per_call) < 4:
            return (max(self.per_call) - min(self.per_call)) / self.median
        q = statistics.quantiles(self.per_call, n=4)
        return (q[2] - q[0]) / self.median

    def ratio_to(self, other: "Timing") -> float:
        """Median over rounds of self / other, both timed in the same interleaved rounds."""
        if len(self.per_call) != len(other.per_call):
            raise ValueError("a paired ratio needs timings from the same rounds")
        return statistics.median(a / b for a, b in zip(self.per_call, other.per_call))

    def as_dict(self) -> dict:
        return {"name": self.name, "loops": self.loops, "median_s": self.median,
                "spread": self.spread, "per_call_s": self.per_call}


def make_timer(stmt: str, namespace: dict) -> timeit.Timer:
    """A timer of ``stmt`` exactly as a user writes it; names resolve as globals of ``namespace``."""
    return timeit.Timer(stmt, globals=namespace)


def calibrate(timer: timeit.Timer, min_time: float) -> int:
    """The loop count (1, 2, 5, 10, 20, ...) for which one repeat lasts at least ``min_time``."""
    number = 1
    while True:
        for k in (1, 2, 5):
            if timer.timeit(number * k) >= min_time:
                return number * k
        number *= 10


def bench(cases: dict[str, timeit.Timer], repeats: int, min_time: float) -> dict[str, Timing]:
    """Median per-call time of each case; repeats interleaved round-robin across cases."""
    loops = {name: calibrate(t, min_time) for name, t in cases.items()}
    results = {name: Timing(name, loops[name], []) for name in cases}
    for _ in range(repeats):
        for name, timer in cases.items():
            results[name].per_call.append(timer.timeit(loops[name]) / loops[name])
    return results


def first_call(func, *args):
    """``func(*args)`` and the seconds it took: on a fresh JIT function, mostly the compile."""
    t0 = time.perf_counter()
    out = func(*args)
    return out, time.perf_counter() - t0


# --------------------------------------------------------------------------- helpers

def machine_info() -> dict:
    """The bench package's machine description, with the Numba thread count of this run."""
    return {**common_machine_info(), "numba_threads": numba.config.NUMBA_NUM_THREADS}


def import_jax():
    """JAX with float64 enabled, or None and the reason it is unavailable."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # do not probe for accelerators
    try:
        import jax
        import jax.numpy as jnp
    except Exception as exc:  # not installed, or a broken install: skip with a note
        return None, None, f"{type(exc).__name__}: {exc}"
    jax.config.update("jax_enable_x64", True)
    return jax, jnp, None


def check_close(what: str, reference, candidate) -> float:
    """Fail loudly unless ``candidate`` matches ``reference``; return the max abs difference."""
    ref = np.asarray(reference, dtype=np.float64)
    got = np.asarray(candidate, dtype=np.float64)
    if ref.shape != got.shape:
        raise SystemExit(f"MISMATCH {what}: shape {got.shape} != {ref.shape}")
    if not np.allclose(got, ref, rtol=RTOL, atol=ATOL):
        bad = ~np.isclose(got, ref, rtol=RTOL, atol=ATOL)
        i = np.flatnonzero(bad.ravel())[0]
        raise SystemExit(f"MISMATCH {what}: {bad.sum()} of {bad.size} values differ beyond "
                         f"rtol={RTOL}, atol={ATOL}; first at flat index {i}: "
                         f"{float(got.ravel()[i])!r} != {float(ref.ravel()[i])!r}")
    return float(np.max(np.abs(got - ref))) if ref.size else 0.0


def fmt_ns(seconds: float) -> str:
    return f"{seconds * 1e9:,.0f}"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table, columns padded to line up in a terminal."""
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep] + [line(r) for r in rows])


# --------------------------------------------------------------------------- 1. per call

@numba.njit
def neuron_by_hand(a, b, c, f):
    """tanh((c + a*b)*f) and its gradient, written out by hand."""
    s = c + a * b
    t = math.tanh(s * f)
    dz = 1.0 - t * t  # d tanh(z) / dz
    ds = dz * f
    return t, (ds * b, ds * a, ds, dz * s)


def bench_per_call(cfg: Config) -> dict:
    a, b, c, f = cc.symbols("a b c f")
    expr = cc.tanh((c + a * b) * f)

    t0 = time.perf_counter()
    fn = cc.compile(expr, [a, b, c, f])
    codegen_s = time.perf_counter() - t0
    fn_py = cc.compile(expr, [a, b, c, f], backend="python")

    # "auto" answers its first calls interpreted while it compiles: compile now (the JIT time)
    _, jit_s = first_call(fn.wait)
    ours = fn.value_and_grad(*NEURON_POINT)
    hand, hand_jit_s = first_call(neuron_by_hand, *NEURON_POINT)
    py = fn_py.value_and_grad(*NEURON_POINT)
    flat = lambda r: [r[0], *r[1]]  # noqa: E731
    check_close("neuron: compiler vs hand-written", flat(hand), flat(ours))
    check_close("neuron: python backend vs hand-written", flat(hand), flat(py))

    ns = dict(zip("abcf", NEURON_POINT), fn=fn, fn_py=fn_py, neuron_by_hand=neuron_by_hand)
    cases = {
        "compiler": make_timer("fn.value_and_grad(a, b, c, f)", ns),
        "hand": make_timer("neuron_by_hand(a, b, c, f)", ns),
        "python": make_timer("fn_py.value_and_grad(a, b, c, f)", ns),
        "empty": make_timer("pass", ns),  # the timeit loop itself, included in every case
    }
    # Diagnostic: the same hand-written function under the library's own JIT
    # options (a private detail, so skipped if it moves). The gap between it and
    # the hand-written row is the cost of those options; the gap between it and
    # the compiler row is the Python wrapper around the kernel.
    options = getattr(getattr(cc, "runtime", None), "_JIT_OPTIONS", None)
    if isinstance(options, dict):
        ns["hand_opts"] = numba.njit(**options)(neuron_by_hand.py_func)
        check_close("neuron: hand-written with the library's options", flat(hand),
                    flat(ns["hand_opts"](*NEURON_POINT)))
        cases["hand_opts"] = make_timer("hand_opts(a, b, c, f)", ns)
    timings = bench(cases, cfg.call_repeats, cfg.call_min_time)
    return {"timings": timings, "library_jit_options": options,
            "vs_hand": {k: t.ratio_to(timings["hand"]) for k, t in timings.items()},
            "ratio": timings["compiler"].ratio_to(timings["hand"]),
            "jit_speedup": timings["python"].ratio_to(timings["compiler"]),
            "compile": {"cc.compile (reverse pass + codegen)": codegen_s,
                        "compiler: first value_and_grad (Numba JIT)": jit_s,
                        "hand-written: first call (Numba JIT)": hand_jit_s}}


def report_per_call(r: dict) -> str:
    t = r["timings"]

    def row(name: str, key: str) -> list[str]:
        return [name, fmt_ns(t[key].median), f"{t[key].spread:.1%}", f"{r['vs_hand'][key]:.2f}x"]

    rows = [row("compiler, numba: fn.value_and_grad(a, b, c, f)", "compiler"),
            row("hand-written @numba.njit", "hand")]
    if "hand_opts" in t:
        opts = ", ".join(f"{k}={v!r}" for k, v in sorted(r["library_jit_options"].items()))
        rows.append(row(f"  diagnostic: the same, @numba.njit({opts})", "hand_opts"))
    rows.append(row('compiler, backend="python"', "python"))
    verdict = "met" if r["ratio"] <= CALL_RATIO_TARGET else "NOT met"
    lines = [
        "## 1. Per call: value and gradient of tanh((c + a*b)*f) at a, b, c, f = "
        + ", ".join(map(str, NEURON_POINT)),
        "",
        table(["method", "ns/call (median)", "spread (IQR)", "vs hand-written (paired)"], rows),
        "",
        f"ratio compiler / hand-written: {r['ratio']:.2f} (target <= {CALL_RATIO_TARGET}: {verdict})",
        f"JIT speedup, python backend / numba backend: {r['jit_speedup']:,.0f}x",
        f"timeit loop overhead (empty statement), included in each row: {fmt_ns(t['empty'].median)} ns",
        "compile (once, excluded from timings): "
        + "; ".join(f"{k} {v * 1e3:,.1f} ms" for k, v in r["compile"].items()),
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- 2. batch

def batch_expr(m):
    """The batch benchmark's expression, spelled with the functions of module ``m``."""
    def f(x, y, z):
        return (m.exp(-(x**2 + y**2)) * m.sin(3 * z) + m.log(1 + x**2 * y**2)
                + m.tanh(x * y * z) + m.sqrt(1 + z**2) * m.cos(x - y))
    return f


def batch_inputs(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return tuple(rng.uniform(-2.0, 2.0, n) for _ in range(3))


def sympy_peer(returns):
    """njit(parallel) prange loop over an njit-compiled lambdify of value and gradient.

    ``returns`` is ``tuple`` or ``list``: the container lambdify returns. With a
    list, Numba builds a heap-allocated list for every point; a tuple stays in
    registers, so the tuple build is the stronger (and headline) peer.
    """
    t0 = time.perf_counter()
    x, y, z = sp.symbols("x y z")
    f = batch_expr(sp)(x, y, z)
    exprs = [f, sp.diff(f, x), sp.diff(f, y), sp.diff(f, z)]
    scalar = numba.njit(sp.lambdify((x, y, z), returns(exprs), modules="math", cse=True))

    @numba.njit(parallel=True)
    def batch(X, Y, Z, out, gx, gy, gz):
        for i in numba.prange(X.shape[0]):
            r = scalar(X[i], Y[i], Z[i])
            out[i] = r[0]
            gx[i] = r[1]
            gy[i] = r[2]
            gz[i] = r[3]

    return batch, time.perf_counter() - t0


def jax_peer(jax, jnp):
    """Value and the three partials at every point: one jitted XLA computation."""
    f = batch_expr(jnp)
    return jax.jit(jax.vmap(jax.value_and_grad(f, argnums=(0, 1, 2))))


def bench_batch(cfg: Config, jax, jnp) -> dict:
    n = cfg.n_batch
    X, Y, Z = batch_inputs(n)
    small = tuple(a[:cfg.n_python] for a in (X, Y, Z))
    x, y, z = cc.symbols("x y z")
    expr = batch_expr(cc)(x, y, z)
    compile_s: dict[str, float] = {}

    t0 = time.perf_counter()
    fn = cc.compile(expr, [x, y, z])
    compile_s["compiler: cc.compile (reverse pass + codegen)"] = time.perf_counter() - t0
    fn_py = cc.compile(expr, [x, y, z], backend="python")
    ours, compile_s["compiler: first batch call (Numba JIT: kernel + prange driver)"] = \
        first_call(fn.value_and_grad, X, Y, Z)
    ours = np.vstack([ours[0], *ours[1]])  # rows: value, d/dx, d/dy, d/dz

    py_v, py_g = fn_py.value_and_grad(*small)
    max_diff = {"python backend": check_close("batch: python backend vs compiler",
                                              ours[:, :cfg.n_python], np.vstack([py_v, *py_g]))}

    outs = np.empty((4, n))  # the SymPy peers write into these, preallocated once
    peers = {}
    for kind in (tuple, list):
        name = kind.__name__
        batch, compile_s[f"sympy ({name}): diff + lambdify"] = sympy_peer(kind)
        outs[:] = np.nan
        _, compile_s[f"sympy ({name}): first call (Numba JIT)"] = first_call(batch, X, Y, Z, *outs)
        max_diff[f"sympy ({name})"] = check_close(f"batch: sympy ({name}) vs compiler", ours, outs)
        peers[name] = batch

    ns = dict(fn=fn, fn_py=fn_py, X=X, Y=Y, Z=Z, Xs=small[0], Ys=small[1], Zs=small[2],
              sympy_tuple=peers["tuple"], sympy_list=peers["list"],
              out=outs[0], gx=outs[1], gy=outs[2], gz=outs[3])
    cases = {
        "compiler": make_timer("fn.value_and_grad(X, Y, Z)", ns),
        # ~100x slower per point: a smaller batch, scaled per point in the report
        "python": make_timer("fn_py.value_and_grad(Xs, Ys, Zs)", ns),
        "sympy_tuple": make_timer("sympy_tuple(X, Y, Z, out, gx, gy, gz)", ns),
        "sympy_list": make_timer("sympy_list(X, Y, Z, out, gx, gy, gz)", ns),
    }
    if jax is not None:
        vg = jax_peer(jax, jnp)
        # device_put once: JAX's best case, inputs already in its own buffers
        JX, JY, JZ = (jax.device_put(a) for a in (X, Y, Z))
        t0 = time.perf_counter()
        jv, jg = jax.block_until_ready(vg(JX, JY, JZ))
        compile_s["jax: first call (trace + XLA compile)"] = time.perf_counter() - t0
        max_diff["jax"] = check_close("batch: jax vs compiler", ours, np.vstack([jv, *jg]))
        # JAX dispatches asynchronously: wait for the value and all three gradients
        ns.update(vg=vg, JX=JX, JY=JY, JZ=JZ, block=jax.block_until_ready)
        cases["jax"] = make_timer("block(vg(JX, JY, JZ))", ns)
    timings = bench(cases, cfg.batch_repeats, cfg.batch_min_time)
    points = {k: cfg.n_python if k == "python" else n for k in timings}
    # paired ratio of time per point, against the compiler
    vs = {k: t.ratio_to(timings["compiler"]) * n / points[k] for k, t in timings.items()}
    return {"n": n, "timings": timings, "vs_compiler_per_point": vs, "compile": compile_s,
            "max_abs_diff": max_diff, "threading_layer": numba.threading_layer(),
            "jax_version": jax.__version__ if jax is not None else None}


def report_batch(r: dict, cfg: Config, jax_note: str | None) -> str:
    t, n = r["timings"], r["n"]

    def row(name: str, key: str, points: int) -> list[str]:
        per_point = t[key].median / points
        vs = r["vs_compiler_per_point"][key]
        return [name, fmt_ms(per_point * n), f"{per_point * 1e9:,.1f}", f"{t[key].spread:.1%}",
                f"{vs:,.2f}x"]

    rows = [row("compiler, numba: fn.value_and_grad(X, Y, Z)", "compiler", n),
            row("sympy lambdify (tuple) + njit, prange, preallocated out", "sympy_tuple", n),
            row("sympy lambdify (list) + njit, prange, preallocated out", "sympy_list", n)]
    if "jax" in t:
        rows.append(row("jax.jit(vmap(value_and_grad)), float64", "jax", n))
    rows.append(row(f"compiler, backend=\"python\" ({cfg.n_python:,} points, scaled)", "python",
                    cfg.n_python))
    expr = "exp(-(x**2 + y**2))*sin(3*z) + log(1 + x**2*y**2) + tanh(x*y*z) + sqrt(1 + z**2)*cos(x - y)"
    lines = [
        f"## 2. Batch: value and gradient (x, y, z) at {n:,} points, float64",
        f"f = {expr}",
        "",
        table(["method", f"ms per {n:,} points", "ns/point", "spread (IQR)", "vs compiler (paired)"],
              rows),
        "",
        f"JIT speedup, python backend / numba backend, per point: "
        f"{r['vs_compiler_per_point']['python']:,.0f}x",
        f"numba threading layer: {r['threading_layer']}, threads: {numba.config.NUMBA_NUM_THREADS}",
        ("the compiler and jax allocate their outputs on every call (jax inputs are device_put "
         "once, before timing)" if "jax" in t else "the compiler allocates its outputs on every call")
        + "; the sympy loops write into arrays allocated once.",
        "agreement with the compiler (np.allclose, rtol={}, atol={}), max |difference|: {}".format(
            RTOL, ATOL, ", ".join(f"{k} {v:.1e}" for k, v in r["max_abs_diff"].items())),
    ]
    if jax_note:
        lines.append(f"jax: skipped ({jax_note})")
    lines.append("compile (once, excluded from timings):")
    lines += [f"  {k}: {v * 1e3:,.1f} ms" for k, v in r["compile"].items()]
    return "\n".join(lines)


# --------------------------------------------------------------------------- 3. peak memory

def _proc_status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        return int(re.search(rf"^{field}:\s+(\d+) kB", fh.read(), re.M).group(1))


def memory_child(n: int) -> dict:
    """Runs in a fresh process: peak memory of one batch value_and_grad at ``n`` points."""
    x, y, z = cc.symbols("x y z")
    fn = cc.compile(batch_expr(cc)(x, y, z), [x, y, z])
    fn.value_and_grad(*batch_inputs(16))  # JIT kernel and driver: their memory is not the call's
    X, Y, Z = batch_inputs(n)             # inputs generated, so resident
    in_bytes = X.nbytes + Y.nbytes + Z.nbytes
    gc.collect()

    # Peak RSS of the call alone: writing 5 to clear_refs resets VmHWM (the peak
    # RSS, which getrusage's ru_maxrss also reads) to the current RSS.
    before_kb = _proc_status_kb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        reset = _proc_status_kb("VmHWM") <= before_kb + 1024
    except OSError:
        reset = False
    v, g = fn.value_and_grad(X, Y, Z)
    peak_kb = _proc_status_kb("VmHWM")
    out_bytes = v.nbytes + sum(a.nbytes for a in g)
    del v, g
    gc.collect()

    # NumPy reports its data allocations to tracemalloc; this counts the
    # outputs and any temporary arrays, not Numba's own (NRT) allocations.
    tracemalloc.start()
    v, g = fn.value_and_grad(X, Y, Z)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"n": n, "input_bytes": in_bytes, "output_bytes": out_bytes,
            "rss_before_bytes": before_kb * 1024, "rss_peak_bytes": peak_kb * 1024,
            "peak_reset_ok": reset,
            "rss_overhead_bytes": (peak_kb - before_kb) * 1024 - out_bytes,
            "tracemalloc_peak_bytes": traced_peak,
            "tracemalloc_overhead_bytes": traced_peak - out_bytes}


def bench_memory(cfg: Config) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", str(cfg.n_memory)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(ROOT))
    if proc.returncode != 0:
        raise SystemExit(f"memory subprocess failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report_memory(m: dict) -> str:
    mb = lambda b: f"{b / 2**20:,.1f} MB"  # noqa: E731
    verdict = "met" if m["rss_overhead_bytes"] < MEMORY_TARGET_MB * 2**20 else "NOT met"
    rows = [["inputs (3 arrays)", mb(m["input_bytes"])],
            ["outputs (value + 3 gradients)", mb(m["output_bytes"])],
            ["RSS before the call (inputs resident)", mb(m["rss_before_bytes"])],
            ["peak RSS during the call", mb(m["rss_peak_bytes"])],
            ["**RSS beyond inputs + outputs**", mb(m["rss_overhead_bytes"])],
            ["tracemalloc peak during the call (NumPy/Python)", mb(m["tracemalloc_peak_bytes"])],
            ["tracemalloc beyond outputs", mb(m["tracemalloc_overhead_bytes"])]]
    lines = [
        f"## 3. Peak memory: fn.value_and_grad(X, Y, Z) at {m['n']:,} points (fresh subprocess)",
        "",
        table(["quantity", "size"], rows),
        "",
        f"RSS beyond inputs + outputs: {mb(m['rss_overhead_bytes'])} "
        f"(target < {MEMORY_TARGET_MB:.0f} MB: {verdict})",
        "method: peak RSS is VmHWM from /proc/self/status, reset to the current RSS just before "
        "the call (write 5 to /proc/self/clear_refs), after Numba compiled on a small batch; "
        "overhead = peak - RSS before - output bytes. tracemalloc (second call) sees NumPy array "
        "data and Python objects, not Numba's internal allocations.",
    ]
    if not m["peak_reset_ok"]:
        lines.append("WARNING: the peak RSS could not be reset; the peak may include earlier use.")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main

def to_jsonable(obj):
    if isinstance(obj, Timing):
        return obj.as_dict()
    if isinstance(obj, dict):
        return {k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    return obj


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and repeats (< 1 minute)")
    parser.add_argument("--json", metavar="FILE", help="also write all results (every repeat) as JSON")
    parser.add_argument("--memory-child", type=int, metavar="N", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child is not None:
        print(json.dumps(memory_child(args.memory_child)))
        return 0

    cfg = QUICK if args.quick else FULL
    started = time.perf_counter()
    info = machine_info()
    jax, jnp, jax_note = import_jax()
    info["jax"] = jax.__version__ if jax is not None else None
    print("# compiler core benchmark" + (" (--quick)" if args.quick else ""))
    print(f"machine: {info['cpu']}; {info['cores']} cores ({info['usable_cores']} usable); "
          f"numba threads: {info['numba_threads']}; {info['platform']}")
    print(f"versions: python {info['python']}, numba {info['numba']}, numpy {info['numpy']}, "
          f"sympy {info['sympy']}, jax {info['jax'] or 'not installed'}")
    print(f"timing: median over repeats; per call {cfg.call_repeats} repeats of >= "
          f"{cfg.call_min_time} s; batch {cfg.batch_repeats} repeats of >= {cfg.batch_min_time} s; "
          "warm-up and compile excluded")
    print(flush=True)

    load = {"per_call": OtherLoad(), "batch": OtherLoad()}
    with load["per_call"]:
        per_call = bench_per_call(cfg)
    print(report_per_call(per_call), load["per_call"].note(), sep="\n", end="\n\n", flush=True)
    with load["batch"]:
        batch = bench_batch(cfg, jax, jnp)
    print(report_batch(batch, cfg, jax_note), load["batch"].note(), sep="\n", end="\n\n", flush=True)
    memory = bench_memory(cfg)
    print(report_memory(memory), end="\n\n")
    print(f"total wall time: {time.perf_counter() - started:,.1f} s")

    if args.json:
        results = {"machine": info, "mode": "quick" if args.quick else "full", "config": asdict(cfg),
                   "per_call": per_call, "batch": batch, "memory": memory,
                   "load": {k: v.as_dict() for k, v in load.items()},
                   "targets": {"call_ratio": CALL_RATIO_TARGET, "memory_mb": MEMORY_TARGET_MB},
                   "jax_note": jax_note}
        Path(args.json).write_text(json.dumps(to_jsonable(results), indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
