"""Loops suite: RK4 on the Lorenz system as one ``cc.scan``, beside the unrolled graph, JAX and CasADi.

    python -m compiler bench loops [--quick]
    python -m compiler.bench.loops METHOD T [--repeats R] [--min-time S]   # one measurement, one JSON line
    python -m compiler.bench.loops memory T --checkpoint all|sqrt [--loss ys|carry]   # peak memory of one call

The model: ``(x, y, z)' = (sigma (y - x), x (rho - z) - y, x y - beta z)`` with
``sigma = 10``, ``rho = 28``, ``beta = 8/3``, RK4 steps of ``dt = 0.001``; the loss is
the sum over the ``T`` steps of the squared differences of the state against
``data`` (a ``T x 3`` input); value and gradient with respect to the 3
parameters and the initial state (6 numbers). ``T`` = 10^2, 10^3, 10^4, 10^5
(``--quick``: up to 10^4).

The initial state is the equilibrium ``C+ = (sqrt(beta (rho - 1)), sqrt(beta (rho - 1)), rho - 1)``
and the data that state 1% off plus Gaussian noise (sd 0.1, seed 0): on the
chaotic attractor (from ``(1, 1, 1)``, say) rounding differences grow like
``e^(0.9 t)``, and at ``T = 10^5`` (``t = 100``) two correct implementations
differ in the value's third digit, so no two could be checked against each
other; near ``C+`` they grow like ``e^(0.094 t)`` and every method agrees to
1e-13 (JAX's gradient at 10^5: 7e-14). The work per step is the same whatever the state.

Methods, each in a fresh process on an empty cache directory of its own
(``common.run_module``):

* ``scan``: ``cc.scan`` with a tuple carry, ``backend="numba"``: graph build and
  ``cc.compile``, the first ``value_and_grad`` (Numba compiles the kernel), per
  call ``value_and_grad`` and the value alone (the forward simulation), and their
  paired ratio (target: within 4x);
* ``scan-sqrt``: the same with ``checkpoint="sqrt"``;
* ``unrolled``: the same RK4 written with a Python ``for`` loop (no scan),
  ``backend="auto"``, then ``fn.wait()``; the data as constants (a scalar graph,
  which "auto" hands to the llvm target) and, as a second method, the data an
  input (a tensor graph: Numba, minutes already at 10^2: not with ``--quick``). Run
  while the estimate (the previous ``T``'s time, scaled linearly) stays within
  ``UNROLLED_BUDGET`` (10 minutes), never beyond 10^3 with ``--quick``, and
  stopped at the budget;
* ``jax``: ``jax.jit(jax.value_and_grad(loss))`` of a ``jax.lax.scan`` in float64,
  and ``jax.jit(loss)`` for the forward alone (skipped if JAX is not installed);
* ``casadi``: the RK4 step as an SX ``casadi.Function``, ``mapaccum`` over ``T``,
  the loss and a ``Function`` of it and its ``gradient`` (skipped without CasADi).

Every method's value and gradient must agree with ``scan``'s to ``RTOL`` before
its times count, or the suite fails. Then, at ``T = MEMORY_T`` (10^6), each in a
fresh process, the peak RSS of one ``value_and_grad`` call with ``checkpoint="all"``
and ``"sqrt"`` (as ``core_memory`` measures it: VmHWM reset just before the call),
the misfits as the scan's ys (``T`` floats whatever the strategy) and summed in a
fourth carry (nothing of length ``T`` but the stored carries).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable

import numpy as np

from .common import BenchmarkError, Row, check_close, fmt_time, optional, run_module
from .common import table as markdown_table

SUITE = "loops"
MODULE = "compiler.bench.loops"
SIGMA, RHO, BETA, DT = 10.0, 28.0, 8.0 / 3.0, 0.001
SIZES = (100, 1_000, 10_000, 100_000)
QUICK_SIZES = (100, 1_000, 10_000)
MEMORY_T = 1_000_000
MEMORY_CASES = (("ys", "all"), ("ys", "sqrt"), ("carry", "all"), ("carry", "sqrt"))  # (loss form, checkpoint)
MMAP_THRESHOLD = 65_536  # bytes: fixed, so that every big array is mapped and unmapped (see memory)
RTOL = 1e-8
REPEATS, MIN_TIME = 7, 0.2              # per-call timing in each child: repeats, seconds per repeat at least
QUICK_REPEATS, QUICK_MIN_TIME = 3, 0.05
UNROLLED_BUDGET = 600.0                 # seconds: the unrolled graph runs where it is expected to finish in this
UNROLLED_QUICK_MAX_T = 1_000
CHILD_TIMEOUT = 1800.0
CACHE_DIR: str | None = None            # None: each child on an empty cache of its own (cold); else shared (tests)
MB = 2 ** 20

# method -> (label in the table, what it needs installed)
METHODS = {
    "scan": ("compiler: cc.scan, numba", None),
    "scan-sqrt": ('compiler: cc.scan, numba, checkpoint="sqrt"', None),
    "unrolled": ("compiler: unrolled graph, data as constants, auto + wait", None),
    "unrolled-input": ("compiler: unrolled graph, data an input, auto + wait", None),
    "jax": ("JAX: jit(value_and_grad) of lax.scan", "jax"),
    "casadi": ("CasADi: SX step, mapaccum, gradient", "casadi"),
}
UNROLLED = ("unrolled", "unrolled-input")


def sizes_of(quick: bool, sizes: list[int] | None = None) -> list[int]:
    return list(sizes) if sizes else list(QUICK_SIZES if quick else SIZES)


def steps(quick: bool, sizes: list[int] | None = None) -> int:
    """Progress steps of ``run``: one per size and method (run or skipped), and one per memory process."""
    return len(sizes_of(quick, sizes)) * len(METHODS) + len(MEMORY_CASES)


# --- the model, in any library's numbers ---

def lorenz(x, y, z, sigma, rho, beta):
    return sigma * (y - x), x * (rho - z) - y, x * y - beta * z


def rk4(state: tuple, sigma, rho, beta) -> tuple:
    """One RK4 step of ``DT``; the same operations, in the same order, for every library."""
    def shifted(h, k):
        return tuple(s + h * d for s, d in zip(state, k))
    k1 = lorenz(*state, sigma, rho, beta)
    k2 = lorenz(*shifted(0.5 * DT, k1), sigma, rho, beta)
    k3 = lorenz(*shifted(0.5 * DT, k2), sigma, rho, beta)
    k4 = lorenz(*shifted(DT, k3), sigma, rho, beta)
    return tuple(s + DT / 6 * (a + 2 * b + 2 * c + d) for s, a, b, c, d in zip(state, k1, k2, k3, k4))


def misfit(state: tuple, row) -> object:
    """The squared difference of a state against one row of the data."""
    return (state[0] - row[0]) ** 2 + (state[1] - row[1]) ** 2 + (state[2] - row[2]) ** 2


def equilibrium() -> tuple[float, float, float]:
    e = math.sqrt(BETA * (RHO - 1.0))
    return (e, e, RHO - 1.0)


def point() -> list[float]:
    """The 6 numbers the gradient is taken against: sigma, rho, beta, x0, y0, z0."""
    return [SIGMA, RHO, BETA, *equilibrium()]


def data(T: int) -> np.ndarray:
    """``T x 3`` observations: the equilibrium 1% off, plus noise of sd 0.1 (seed 0)."""
    rng = np.random.default_rng(0)
    return 1.01 * np.array(equilibrium()) + 0.1 * rng.standard_normal((T, 3))


# --- the methods, in the child ---

def _scan_loss(cc, T: int, checkpoint: str = "all", form: str = "ys"):
    """The loss as one scan: the misfits as the loop's ys, summed (``form="ys"``, the suite's), or
    summed in a fourth carry (``form="carry"``: nothing of length ``T`` but the stored carries)."""
    sigma, rho, beta, x0, y0, z0 = params = cc.symbols("sigma rho beta x0 y0 z0")
    D = cc.Tensor("data", (T, 3))
    if form == "carry":
        def step(carry, row):
            new = rk4(carry[:3], sigma, rho, beta)
            return (*new, carry[3] + misfit(new, row)), None
        (*_, total), _ = cc.scan(step, (x0, y0, z0, 0.0), xs=D, checkpoint=checkpoint)
        return total, list(params), D

    def step(state, row):
        new = rk4(state, sigma, rho, beta)
        return new, misfit(new, row)
    _, ys = cc.scan(step, (x0, y0, z0), xs=D, checkpoint=checkpoint)
    return cc.sum(ys), list(params), D


def _time(cases: dict, repeats: int, min_time: float) -> dict:
    from .common import measure
    timings = measure(cases, repeats, min_time)
    out = {name: {"median": t.median, "spread": t.spread, "per_call": t.per_call} for name, t in timings.items()}
    if "grad" in timings and "forward" in timings:
        out["ratio"] = timings["grad"].ratio_to(timings["forward"])  # paired: repeats interleaved
    return out


def _compiler_scan(T: int, repeats: int, min_time: float, checkpoint: str) -> dict:
    import compiler as cc
    values = (*point(), data(T))
    t0 = time.perf_counter()
    loss, params, D = _scan_loss(cc, T, checkpoint)
    fn = cc.compile(loss, params + [D], wrt=params, backend="numba", progress=False)
    t1 = time.perf_counter()
    value, grad = fn.value_and_grad(*values)
    t2 = time.perf_counter()
    forward = fn(*values)
    t3 = time.perf_counter()
    timing = _time({"grad": lambda: fn.value_and_grad(*values), "forward": lambda: fn(*values)},
                   repeats, min_time)
    return {"build": t1 - t0, "first": t2 - t1, "first_forward": t3 - t2, "timing": timing,
            "value": float(value), "grad": [float(g) for g in grad], "forward_value": float(forward),
            "backend": fn.backend, "source_lines": len(fn.source.splitlines())}


def _unrolled(T: int, repeats: int, min_time: float, as_input: bool) -> dict:
    import compiler as cc
    observed = data(T)
    t0 = time.perf_counter()
    sigma, rho, beta, x0, y0, z0 = params = list(cc.symbols("sigma rho beta x0 y0 z0"))
    if as_input:
        D = cc.Tensor("data", (T, 3))
        rows = [(D[t, 0], D[t, 1], D[t, 2]) for t in range(T)]
    else:
        rows = observed.tolist()
    state, loss = (x0, y0, z0), 0.0
    for t in range(T):
        state = rk4(state, sigma, rho, beta)
        loss = loss + misfit(state, rows[t])
    inputs = params + ([D] if as_input else [])
    fn = cc.compile(loss, inputs, wrt=params, backend="auto", progress=False)
    t1 = time.perf_counter()
    values = (*point(), observed) if as_input else tuple(point())
    value, grad = fn.value_and_grad(*values)
    t2 = time.perf_counter()
    fn.wait()
    t3 = time.perf_counter()
    value_compiled, grad_compiled = fn.value_and_grad(*values)
    timing = _time({"grad": lambda: fn.value_and_grad(*values)}, repeats, min_time)
    return {"build": t1 - t0, "first": t2 - t1, "wait": t3 - t2, "timing": timing, "value": float(value),
            "grad": [float(g) for g in grad], "value_compiled": float(value_compiled),
            "grad_compiled": [float(g) for g in grad_compiled], "backend": fn.backend,
            "statements": len(fn.plan["value_and_grad"].statements)}


def measure(method: str, T: int, repeats: int, min_time: float) -> dict:
    """In the child: one method at ``T`` steps."""
    if method == "scan":
        out = _compiler_scan(T, repeats, min_time, "all")
    elif method == "scan-sqrt":
        out = _compiler_scan(T, repeats, min_time, "sqrt")
    elif method in UNROLLED:
        out = _unrolled(T, repeats, min_time, as_input=method == "unrolled-input")
    elif method in ("jax", "casadi"):
        from . import loops_peers  # imported in the child that runs them
        out = getattr(loops_peers, f"run_{method}")(T, repeats, min_time)
    else:
        raise ValueError(f"unknown method {method!r}")
    import compiler as cc
    return {**out, "method": method, "T": T, "package": cc.__file__,
            "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def _status_kb(field: str) -> int:
    import re
    with open("/proc/self/status") as fh:
        return int(re.search(rf"^{field}:\s+(\d+) kB", fh.read(), re.MULTILINE).group(1))


def memory(T: int, checkpoint: str, form: str = "ys") -> dict:
    """In the child: the RSS high-water mark of one ``value_and_grad`` call at ``T`` steps, the kernel
    compiled by a first call (the length is part of the graph), VmHWM reset just before it. The
    parent sets ``MALLOC_MMAP_THRESHOLD_``: else glibc raises its threshold when the first call frees
    its big arrays, keeps the second call's on its heap, and the peak shows nothing."""
    import compiler as cc
    loss, params, D = _scan_loss(cc, T, checkpoint, form)
    fn = cc.compile(loss, params + [D], wrt=params, backend="numba", progress=False)
    values = (*point(), data(T))
    fn.value_and_grad(*values)  # compiles
    gc.collect()
    before_kb = _status_kb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # VmHWM := VmRSS
        reset = _status_kb("VmHWM") <= before_kb + 1024
    except OSError:
        reset = False
    v, g = fn.value_and_grad(*values)
    peak_kb = _status_kb("VmHWM")
    return {"T": T, "checkpoint": checkpoint, "form": form, "value_and_grad": [float(v), *map(float, g)],
            "package": cc.__file__, "input_bytes": values[-1].nbytes,
            "rss_before_bytes": before_kb * 1024, "rss_peak_bytes": peak_kb * 1024,
            "rss_overhead_bytes": (peak_kb - before_kb) * 1024, "peak_reset_ok": reset}


# --- the suite, in the parent ---

def _child(args: list[str], timeout: float, env_extra: dict | None = None) -> dict | None:
    """One child on a cache directory of its own; None when it ran out of ``timeout``."""
    cache = CACHE_DIR or tempfile.mkdtemp(prefix="compiler-bench-loops-")
    env = {k: v for k, v in os.environ.items() if k not in ("COMPILER_CACHE", "NUMBA_CACHE_DIR")}
    env.update(COMPILER_CACHE_DIR=cache, COMPILER_PROGRESS="0", **(env_extra or {}))
    t0 = time.perf_counter()
    try:
        out = run_module(MODULE, args, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    finally:
        if cache != CACHE_DIR:
            shutil.rmtree(cache, ignore_errors=True)
    if out.returncode != 0:
        raise BenchmarkError(f"loops suite: {' '.join(args)} failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    import compiler as cc
    if os.path.realpath(result["package"]) != os.path.realpath(cc.__file__):
        raise BenchmarkError(f"loops suite: the child measured {result['package']}, not {cc.__file__}")
    return {**result, "process_seconds": time.perf_counter() - t0}


def _check(T: int, method: str, reference: dict, got: dict) -> None:
    where = f"loops suite, T={T:,}: {METHODS[method][0]} against cc.scan"
    check_close(f"{where}, value", reference["value"], got["value"], RTOL)
    check_close(f"{where}, gradient", reference["grad"], got["grad"], RTOL)
    for key, ref in (("forward_value", "value"), ("value_compiled", "value")):
        if key in got:
            check_close(f"{where}, {key}", reference[ref], got[key], RTOL)
    if "grad_compiled" in got:
        check_close(f"{where}, grad_compiled", reference["grad"], got["grad_compiled"], RTOL)


def _ready_seconds(r: dict) -> float:
    """Seconds from the expression to compiled code (the unrolled graph: after fn.wait())."""
    return r["build"] + r["first"] + r.get("wait", 0.0)


def run(quick: bool, progress: Callable[[], None], sizes: list[int] | None = None) -> list[Row]:
    """Every method at every ``T``, then the memory of ``checkpoint="all"`` and ``"sqrt"`` at ``MEMORY_T``."""
    repeats, min_time = (QUICK_REPEATS, QUICK_MIN_TIME) if quick else (REPEATS, MIN_TIME)
    installed = {need: optional(need) is not None for _, need in METHODS.values() if need}
    rows: list[Row] = []
    last: dict[str, tuple[int, float]] = {}  # unrolled method -> (T, seconds to compiled code) of its last run
    stopped: dict[str, str] = {}             # unrolled method -> why it runs no more
    for T in sizes_of(quick, sizes):
        case = f"T={T:,}"
        reference = None
        for method, (label, need) in METHODS.items():
            skip = None
            if need and not installed[need]:
                skip = f"not run: {need} is not installed"
            elif method in UNROLLED:
                skip = _unrolled_skip(method, T, quick, last, stopped)
            if skip:
                rows.append(Row(SUITE, case, label, None, T, note=skip, extra={"method": method}))
                progress()
                continue
            timeout = UNROLLED_BUDGET if method in UNROLLED else CHILD_TIMEOUT
            r = _child([method, str(T), "--repeats", str(repeats), "--min-time", str(min_time)], timeout)
            if r is None:
                stopped[method] = f"not run: at T={T:,} it did not finish in {UNROLLED_BUDGET:.0f} s"
                rows.append(Row(SUITE, case, label, None, T, note=f"stopped: not finished in {UNROLLED_BUDGET:.0f} s "
                                "(build, compile, first call, wait, timing)", extra={"method": method}))
                progress()
                continue
            if reference is None:
                reference = r  # "scan" runs first
            else:
                _check(T, method, reference, r)
            if method in UNROLLED:
                last[method] = (T, _ready_seconds(r))
            rows.append(_row(case, T, method, r, reference))
            progress()
    for form, checkpoint in MEMORY_CASES:
        m = _child(["memory", str(MEMORY_T), "--checkpoint", checkpoint, "--loss", form], CHILD_TIMEOUT,
                   {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD)})
        if m is None:
            raise BenchmarkError(f"loops suite: the memory process ({form}, {checkpoint}) took over "
                                 f"{CHILD_TIMEOUT} s")
        label = ("misfits as ys, summed" if form == "ys" else "misfits summed in a 4th carry") + \
            f', checkpoint="{checkpoint}"'
        rows.append(Row(SUITE, f"memory, T={MEMORY_T:,}", label, None, MEMORY_T, extra={"memory": True, **m}))
        progress()
    return rows


def _unrolled_skip(method: str, T: int, quick: bool, last: dict, stopped: dict) -> str | None:
    if method in stopped:
        return stopped[method]
    if quick and method == "unrolled-input":
        return "not run with --quick: Numba compiles this graph for minutes"
    if quick and T > UNROLLED_QUICK_MAX_T:
        return f"not run with --quick beyond T={UNROLLED_QUICK_MAX_T:,}"
    if method in last:
        T0, seconds = last[method]
        estimate = seconds * T / T0
        if estimate > UNROLLED_BUDGET:
            stopped[method] = (f"not run: estimated {fmt_time(estimate)} to compiled code ({fmt_time(seconds)} "
                               f"at T={T0:,}, scaled linearly), over {UNROLLED_BUDGET:.0f} s")
            return stopped[method]
    return None


def _row(case: str, T: int, method: str, r: dict, reference: dict) -> Row:
    timing = r["timing"]
    per_call = timing["grad"]["median"]
    extra = {"method": method, **r, "per_call": per_call, "forward": timing.get("forward", {}).get("median"),
             "ratio": timing.get("ratio"), "vs_scan": per_call / reference["timing"]["grad"]["median"]}
    if method in UNROLLED:
        extra["compile"] = r["wait"]  # the first call was answered before compiled code was ready
        extra["ttfg"] = r["build"] + r["first"]
        note = f"{r['statements']:,} gradient statements, {r['backend']}; the first call before compiled code"
    else:
        extra["compile"] = max(0.0, r["first"] - per_call)
        extra["ttfg"] = r["build"] + r["first"]
        note = r["backend"]
        if method.startswith("scan"):
            note = f"generated source: {r['source_lines']:,} lines"
    return Row(SUITE, case, METHODS[method][0], per_call, T, extra["ttfg"], timing["grad"]["spread"], note, extra)


# --- the report ---

def table(rows: list[Row]) -> str:
    body = []
    for case in dict.fromkeys(r.case for r in rows if not r.extra.get("memory")):
        for r in [r for r in rows if r.case == case]:
            e = r.extra
            if r.seconds is None:
                body.append([case, r.method] + ["-"] * 7 + [r.note])
            else:
                ratio = e.get("ratio")
                body.append([case, r.method, fmt_time(e["build"]), fmt_time(e["compile"]), fmt_time(e["ttfg"]),
                             fmt_time(r.seconds), fmt_time(e.get("forward")), f"{ratio:.2f}x" if ratio else "-",
                             f"{e['vs_scan']:.2f}x", r.note])
            case = ""
    out = [markdown_table(["T", "method", "build", "compile", "expression to first gradient",
                           "per call (value and gradient)", "forward alone, per call", "gradient / forward",
                           "per call / cc.scan's", "note"], body),
           ("build: graph + cc.compile (JAX: jit wrapping; CasADi: SX step, mapaccum, gradient, Functions); compile: "
            "the first value_and_grad call minus a later one (the unrolled graph: fn.wait() after the first call, "
            "which the interpreter tiers answer); expression to first gradient: build + first call; per call: "
            "median of interleaved repeats, fresh process per method, empty cache; gradient / forward: paired "
            "ratio.")]
    memory = [r for r in rows if r.extra.get("memory")]
    if memory:
        mb = lambda b: f"{b / MB:,.1f} MB"  # noqa: E731
        lines = []
        for r in memory:
            e = r.extra
            # the state's 3 carries (a running sum's own history is not stored: no gradient reads it)
            stored = 3 * e["T"] if e["checkpoint"] == "all" else 3 * 2 * (math.isqrt(e["T"] - 1) + 1)
            lines.append([r.method, mb(e["input_bytes"]), mb(e["rss_before_bytes"]), mb(e["rss_peak_bytes"]),
                          mb(e["rss_overhead_bytes"]), f"{stored:,} floats ({mb(8 * stored)})"])
        T = memory[0].size
        out += ["", f"Peak memory of one value_and_grad call at T={T:,} (fresh process each):", "",
                markdown_table(["loss, checkpoint", "data (input)", "RSS before the call", "peak RSS during the call",
                                "peak beyond RSS before", "state carries stored (about)"], lines),
                (f"\"sqrt\": an outer loop over ~sqrt(T) = {math.isqrt(T - 1) + 1:,} segments, its carries the "
                 f"checkpoints, and each segment's carries while it is reversed. The misfits as ys are T floats "
                 f"({mb(8 * T)}) in either strategy. Peak RSS: VmHWM, reset just before the call (5 to "
                 f"/proc/self/clear_refs), the kernel compiled by a first call, malloc's mmap threshold fixed at "
                 f"{MMAP_THRESHOLD:,} bytes (every big array mapped, and unmapped when freed).")]
        if not all(r.extra["peak_reset_ok"] for r in memory):
            out.append("WARNING: the peak RSS could not be reset; the peaks may include earlier use.")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0])
    parser.add_argument("method", choices=[*METHODS, "memory"])
    parser.add_argument("T", type=int, help="steps")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--min-time", type=float, default=MIN_TIME, help="seconds per repeat, at least")
    parser.add_argument("--checkpoint", choices=("all", "sqrt"), default="all", help="memory: the strategy")
    parser.add_argument("--loss", choices=("ys", "carry"), default="ys", help="memory: where the misfits are summed")
    args = parser.parse_args(argv)
    if args.method == "memory":
        print(json.dumps(memory(args.T, args.checkpoint, args.loss)))
    else:
        print(json.dumps(measure(args.method, args.T, args.repeats, args.min_time)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
