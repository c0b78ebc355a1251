"""Compile suite: how fast random graphs of 100 ... 100,000 ops give a first gradient and compiled code.

Every measurement is a fresh process (``worker.py``), so that nothing loaded
by an earlier one (Numba, a compiled function, a warm file cache of modules in
memory) helps it. Each runs on a cache directory this suite owns: "cold" is a
cache in which this graph was never compiled, "warm" a second process on the
same cache after the cold one.

Routes (``worker.ROUTES``): ``auto`` (the default: interpreted first calls,
compiled code when ready), ``llvm``, ``vm`` (an interpreter compiled once per
machine: a warm-up process compiles it first and its cost is reported apart;
per graph there is nothing to cache), ``numba`` (parts of 500 statements) and
``numba-naive`` (one function: ``max_statements=None``) up to
``NUMBA_MAX_OPS``, and CasADi's SX when it is installed.

Reported per size, route and cache state: the time to first gradient (graph
build + ``cc.compile`` + first ``value_and_grad`` call, after the imports;
CasADi: build + ``gradient`` + ``Function`` + first call), the time to
compiled code (that, then ``fn.wait()``: every entry point compiled), the
median time per call after that, and the number of gradient statements. All
routes must give the same value and gradient (``RTOL``), or the suite fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

from . import compile_pendulum
from .common import (BenchmarkError, Row, check_close, fmt_time, optional, run_module,
                     table as markdown_table)

SUITE = "compile"
SIZES = (100, 1_000, 10_000, 100_000)
QUICK_SIZES = (100, 1_000, 10_000)
NUMBA_MAX_OPS = 1_000       # Numba takes about a minute at 10,000 ops: --numba-max-ops 10000 for it
QUICK_NUMBA_MAX_OPS = 100
REPEATS, MIN_TIME = 7, 0.1  # per-call timing in each worker: repeats, seconds per repeat at least
QUICK_REPEATS, QUICK_MIN_TIME = 3, 0.02
RTOL = 1e-9                 # every route's value and gradient against the first route's
LOOP_RTOL, JAX_RTOL = 1e-9, 1e-5  # loop models: our routes against each other; JAX's solver steps differ
VM_WARMUP_OPS = 10          # the graph of the process that compiles the vm interpreter
WORKER_TIMEOUT = 3600       # seconds; a numba-naive compile of a big graph is the slowest
ROUTE_ORDER = ("auto", "llvm", "vm", "numba", "numba-naive", "casadi")


@dataclass(frozen=True)
class Measurement:
    ops: int
    route: str
    cache: str  # "cold", "warm", or "-": nothing of this graph is cached (vm, CasADi)

    @property
    def label(self) -> str:
        return self.route if self.cache == "-" else f"{self.route} ({self.cache})"


def plan(quick: bool, sizes: list[int] | None = None, numba_max_ops: int | None = None,
         casadi: bool = True) -> list[Measurement]:
    """Every measurement, in the order they run: by size, then route; cold before warm."""
    sizes = sizes or list(QUICK_SIZES if quick else SIZES)
    if numba_max_ops is None:
        numba_max_ops = QUICK_NUMBA_MAX_OPS if quick else NUMBA_MAX_OPS
    todo = []
    for n in sizes:
        todo += [Measurement(n, "auto", "cold"), Measurement(n, "auto", "warm"),
                 Measurement(n, "llvm", "cold"), Measurement(n, "llvm", "warm"), Measurement(n, "vm", "-")]
        if n <= numba_max_ops:
            todo += [Measurement(n, "numba", "cold"), Measurement(n, "numba-naive", "cold")]
        if casadi:
            todo.append(Measurement(n, "casadi", "-"))
    return todo


def steps(quick: bool, sizes: list[int] | None = None, numba_max_ops: int | None = None,
          loop_models: list[str] | None = None, pendulum_links: int | None = None) -> int:
    """Progress steps of ``run``: the vm warm-up, then one per measurement (and the pendulum's derivation)."""
    links = _links(quick, pendulum_links)
    return (1 + len(plan(quick, sizes, numba_max_ops, _has_casadi())) + len(loop_plan(quick, loop_models))
            + (1 + len(compile_pendulum.plan(links)) if links else 0))


LOOP_WORKER_TIMEOUT = 900   # seconds: Numba compiles the Lotka-Volterra gradient in about a minute


def is_loop_row(r: Row) -> bool:
    """A row of a loop model (the rest: random graphs and the pendulum)."""
    return "model" in r.extra and not compile_pendulum.is_row(r)


def loop_plan(quick: bool, loop_models: list[str] | None = None) -> list[tuple[str, str, str]]:
    """(model, route, cache) of the loop models (``compile_loops``): llvm cold and warm and JAX;
    Numba cold (what "auto" ran loops on before the llvm target compiled them) unless ``quick``."""
    from .compile_loops import MODELS
    todo = []
    for model in (MODELS if loop_models is None else loop_models):
        todo += [(model, "llvm", "cold"), (model, "llvm", "warm")] + ([] if quick else [(model, "numba", "cold")])
        todo.append((model, "jax", "-"))
    return todo


def run_loops(quick: bool, progress: Callable[[], None], root: str, loop_models: list[str] | None) -> list[Row]:
    """The loop models, each route in fresh processes; routes must agree (``LOOP_RTOL``)."""
    repeats, min_time = (QUICK_REPEATS, QUICK_MIN_TIME) if quick else (REPEATS, MIN_TIME)
    rows, reference = [], {}
    for model, route, state in loop_plan(quick, loop_models):
        cache = _cache_dir(root, f"loops-{model}-{route}")
        env = {k: v for k, v in os.environ.items() if k not in ("COMPILER_CACHE", "NUMBA_CACHE_DIR")}
        env.update(COMPILER_CACHE_DIR=cache, COMPILER_PROGRESS="0")
        t0 = time.perf_counter()
        out = run_module("compiler.bench.compile_loops", [model, route, str(repeats), str(min_time)], env=env,
                         timeout=LOOP_WORKER_TIMEOUT)
        if out.returncode != 0:
            raise BenchmarkError(f"compile suite: loop model {model} on {route} failed (exit {out.returncode}):\n"
                                 f"{out.stderr[-3000:]}")
        r = {**json.loads(out.stdout.strip().splitlines()[-1]), "process_seconds": time.perf_counter() - t0,
             "cache": state}
        ref = reference.setdefault(model, r)
        rtol = LOOP_RTOL if route != "jax" else JAX_RTOL
        check_close(f"compile suite, {model}: {route} against {ref['route']}, value", ref["value"], r["value"], rtol)
        check_close(f"compile suite, {model}: {route} against {ref['route']}, gradient", ref["grad"], r["grad"], rtol)
        label = route if state == "-" else f"{route} ({state})"
        rows.append(Row(SUITE, model, label, r["per_call"], None, r["ttfg"], r["timing"]["spread"], extra=r))
        progress()
    return rows


def run(quick: bool, progress: Callable[[], None], sizes: list[int] | None = None,
        numba_max_ops: int | None = None, loop_models: list[str] | None = None,
        pendulum_links: int | None = None) -> list[Row]:
    """Run the plan; return one row for the vm interpreter's one-time compile, then one per measurement.

    Raises ``BenchmarkError`` when a worker fails or routes disagree on a value or gradient.
    """
    repeats, min_time = (QUICK_REPEATS, QUICK_MIN_TIME) if quick else (REPEATS, MIN_TIME)
    root = tempfile.mkdtemp(prefix="compiler-bench-compile-")
    try:
        shared = _cache_dir(root, "shared")  # the vm interpreter's, compiled once as on a machine
        warmup = _worker("vm", VM_WARMUP_OPS, shared, 1, min_time)
        rows = [Row(SUITE, "vm interpreter", "vm (one-time)", None, compile_seconds=warmup["first"],
                    note="compiled once per machine, then loaded from the cache by every process",
                    extra={**warmup, "cache": "cold"})]
        progress()
        reference: dict[int, dict] = {}
        for m in plan(quick, sizes, numba_max_ops, _has_casadi()):
            cache = shared if m.route == "vm" else _cache_dir(root, f"{m.route}-{m.ops}")
            r = _worker(m.route, m.ops, cache, repeats, min_time)
            _check_agrees(m, r, reference.setdefault(m.ops, r))
            rows.append(Row(SUITE, f"{m.ops:,} ops", m.label, r["per_call"], m.ops, r["ttfg"],
                            r["timing"]["spread"], extra={**r, "cache": m.cache}))
            progress()
        rows += run_loops(quick, progress, root, loop_models)
        rows += compile_pendulum.run(progress, root, shared, _links(quick, pendulum_links), repeats, min_time)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return rows


def _links(quick: bool, pendulum_links: int | None) -> int:
    """Links of the pendulum model: as asked, else the default (0: none)."""
    if pendulum_links is not None:
        return pendulum_links
    return compile_pendulum.QUICK_LINKS if quick else compile_pendulum.LINKS


def _has_casadi() -> bool:
    return optional("casadi") is not None


def _cache_dir(root: str, name: str) -> str:
    path = os.path.join(root, name)
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _worker(route: str, n_ops: int, cache: str, repeats: int, min_time: float) -> dict:
    """One measurement in a fresh process on the cache directory ``cache``."""
    env = {k: v for k, v in os.environ.items() if k not in ("COMPILER_CACHE", "NUMBA_CACHE_DIR")}
    env.update(COMPILER_CACHE_DIR=cache, COMPILER_PROGRESS="0")
    t0 = time.perf_counter()
    try:
        out = run_module("compiler.bench.worker", [route, str(n_ops), str(repeats), str(min_time)], env=env,
                         timeout=WORKER_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"compile suite: {route} at {n_ops:,} ops took over {WORKER_TIMEOUT} s") from None
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise BenchmarkError(f"compile suite: {route} at {n_ops:,} ops failed (exit {out.returncode}):\n"
                             f"{out.stderr[-3000:]}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "process_seconds": wall}


def _check_agrees(m: Measurement, got: dict, ref: dict) -> None:
    """Fail loudly unless ``got`` (first call and compiled code) matches the reference route."""
    where = f"compile suite, {m.ops:,} ops: {m.label} against {ref['route']}"
    for key in ("value", "value_compiled"):
        check_close(f"{where}, {key}", ref["value"], got[key], RTOL)
    for key in ("grad", "grad_compiled"):
        check_close(f"{where}, {key}", ref["grad"], got[key], RTOL)


# --- the report ---

def table(rows: list[Row]) -> str:
    """The markdown table of the measurements, and a line on the vm interpreter's one-time cost."""
    body = []
    loop_rows = [r for r in rows if is_loop_row(r)]
    pendulum_rows = [r for r in rows if compile_pendulum.is_row(r)]
    rows = [r for r in rows if not is_loop_row(r) and not compile_pendulum.is_row(r)]
    casadi = {r.size: r for r in rows if r.extra.get("route") == "casadi"}
    for r in rows:
        if r.seconds is None:
            continue
        e, peer = r.extra, casadi.get(r.size)
        versus = peer is not None and r is not peer
        body.append([f"{r.size:,}", r.method, f"{e['statements']:,}" if e.get("statements") else "-",
                     fmt_time(e["ttfg"]), fmt_time(e["ttfg"] + e["ready"]), fmt_time(r.seconds),
                     f"{e['ttfg'] / peer.extra['ttfg']:.2f}x" if versus else "-",
                     f"{r.seconds / peer.seconds:.2f}x" if versus else "-", e.get("backend", "")])
    out = [markdown_table(["ops", "route (cache)", "gradient statements", "time to first gradient",
                           "time to compiled code", "per call", "first gradient / CasADi's",
                           "per call / CasADi's", "compiled by"], body)]
    for r in rows:
        if r.seconds is None:
            out.append(f"\nvm interpreter: compiled once per machine in {fmt_time(r.compile_seconds)} "
                       f"(first call of a process on an empty cache), not counted in the rows above.")
    out.append("time to first gradient: graph build + compile + first value_and_grad call, in a fresh process "
               "after its imports; time to compiled code: that, then fn.wait() (every entry point compiled); "
               "per call: median after that.")
    if loop_rows:
        out.append("\n" + loop_table(loop_rows))
    if pendulum_rows:
        out.append("\n" + compile_pendulum.table(pendulum_rows))
    return "\n".join(out)


def loop_table(rows: list[Row]) -> str:
    """The loop models: time to first gradient (cold: an empty cache) against JAX's jit."""
    jax = {r.case: r for r in rows if r.extra["route"] == "jax"}
    body = []
    for r in rows:
        e, peer = r.extra, jax.get(r.case)
        versus = peer is not None and r is not peer
        body.append([r.case, r.method, f"{e['statements']:,}" if e.get("statements") else "-", fmt_time(e["build"]),
                     fmt_time(e["ttfg"]), f"{e['ttfg'] / peer.extra['ttfg']:.2f}x" if versus else "-",
                     fmt_time(r.seconds), f"{r.seconds / peer.seconds:.2f}x" if versus else "-", e["backend"]])
    return "\n".join([markdown_table(["loop model", "route (cache)", "gradient statements", "graph build",
                                      "time to first gradient", "/ JAX's", "per call", "/ JAX's", "compiled by"],
                                     body),
                       "loop models: the Lorenz scan (RK4, 1,000 steps) and the Lotka-Volterra odeint fit "
                       "(dopri5, 151 output times), value and gradient in 6 numbers; mlp: the README's MLP "
                       "2-64-64-1 step (no loop), gradient in its 6 weight tensors; time to first gradient: "
                       "graph build + compile + first call in a fresh process on an empty cache (warm: a second "
                       "process on the same cache); JAX: jax.jit(jax.value_and_grad(loss)), its first call."])


# --- the chart ---

def panel(ax, rows: list[Row]) -> bool:
    """Log-log against graph size: time to first gradient (solid) and to compiled code (dashed,
    where it differs). With ``ax=None``, only whether there is something to draw."""
    series: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    one_time = None
    for r in rows:
        if r.suite != SUITE or is_loop_row(r) or compile_pendulum.is_row(r):
            continue
        if r.seconds is None:
            one_time = r.compile_seconds
            continue
        series[r.method].append((r.size, r.extra["ttfg"], r.extra["ttfg"] + r.extra["ready"]))
    if ax is None:
        return bool(series)
    import matplotlib
    palette = matplotlib.colormaps["tab20"].colors  # pairs: a dark colour (cold), its light one (warm)
    for method, pts in sorted(series.items(), key=lambda kv: _route_rank(kv[0])):
        pts.sort()
        sizes = [p[0] for p in pts]
        rank = _route_rank(method)[0]
        color = "black" if method == "casadi" else palette[(2 * rank + method.endswith("(warm)")) % len(palette)]
        ax.loglog(sizes, [p[1] for p in pts], "o-", color=color, label=f"{method}: first gradient")
        if any(p[2] > 1.05 * p[1] for p in pts):
            ax.loglog(sizes, [p[2] for p in pts], "s--", color=color, label=f"{method}: compiled code")
    if one_time:
        ax.axhline(one_time, color="grey", ls=":", lw=1, label="vm interpreter, once per machine")
    ax.set_xlabel("ops in the random graph")
    ax.set_ylabel("seconds, fresh process (after imports)")
    ax.set_title("time to first gradient (solid) and to compiled code (dashed)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    ax.grid(True, which="both", alpha=0.3)
    return True


def _route_rank(method: str) -> tuple[int, str]:
    route = method.split(" ")[0]
    return (ROUTE_ORDER.index(route) if route in ROUTE_ORDER else len(ROUTE_ORDER), method)
