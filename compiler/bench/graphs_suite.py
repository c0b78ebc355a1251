"""Graphs suite: compile time and per-call time of random graphs of 100 ... 100,000 ops.

Every measurement runs in a fresh process (``worker.py``) on a cache directory
this suite owns: "cold" is a cache where this graph was never compiled, "warm"
a second process on the same cache. Routes: "auto" (the default: interpreted
first calls, compiled code when ready), "llvm", "vm" (the interpreter, itself
compiled once per machine: that one-time cost is reported apart), "numba"
(parts of 500 statements) and "numba-naive" (one function), and CasADi when
installed. The time to first gradient is graph build + ``cc.compile`` + first
call; CasADi's is build + ``gradient`` + ``Function`` + first call.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from .common import Row, optional

SUITE = "graphs"
NUMBA_MAX_OPS = 1_000  # the Numba routes take about a minute at 10,000 ops (--slow includes them)


def _worker(route: str, n_ops: int, cache: str, quick: bool) -> dict:
    env = dict(os.environ, COMPILER_CACHE_DIR=cache, COMPILER_PROGRESS="0")
    repeats, min_time = ("3", "0.02") if quick else ("7", "0.1")
    out = subprocess.run([sys.executable, "-m", "compiler.bench.worker", route, str(n_ops), repeats, min_time],
                         capture_output=True, text=True, env=env, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"graphs: {route} at {n_ops} ops failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def plan(quick: bool, sizes: list[int] | None, slow: bool) -> list[tuple[int, str, str]]:
    """(ops, route, cache state) of every measurement, in order."""
    sizes = sizes or ([100, 1_000, 10_000] if quick else [100, 1_000, 10_000, 100_000])
    numba_max = 10_000 if slow else (100 if quick else NUMBA_MAX_OPS)
    todo = []
    for n in sizes:
        todo += [(n, "auto", "cold"), (n, "auto", "warm")]
        if not quick:
            todo += [(n, "llvm", "cold"), (n, "llvm", "warm")]
        todo.append((n, "vm", "warm"))
        if n <= numba_max:
            todo += [(n, "numba", "cold"), (n, "numba-naive", "cold")]
        todo.append((n, "casadi", "-"))
    return todo


def run(quick: bool, progress, sizes: list[int] | None = None, slow: bool = False) -> list[Row]:
    has_casadi = optional("casadi") is not None
    todo = [t for t in plan(quick, sizes, slow) if t[1] != "casadi" or has_casadi]
    root = tempfile.mkdtemp(prefix="compiler-bench-graphs-")
    rows: list[Row] = []
    try:
        shared = os.path.join(root, "vm")
        t0 = time.perf_counter()
        _worker("vm", 10, shared, True)  # compiles the interpreter once, as once per machine
        rows.append(Row(SUITE, "the vm interpreter, once per machine", "vm", None,
                        compile_seconds=time.perf_counter() - t0,
                        note="compiled by Numba and cached; every later process loads it"))
        values: dict[int, float] = {}
        for n, route, state in todo:
            cache = shared if route == "vm" else os.path.join(root, f"{route}-{n}")
            r = _worker(route, n, cache, quick)
            if n in values and abs(r["value"] - values[n]) > 1e-9 * abs(values[n]):
                raise AssertionError(f"graphs: {route} gives {r['value']} at {n} ops, others {values[n]}")
            values.setdefault(n, r["value"])
            method = route if state == "-" else f"{route} ({state})"
            rows.append(Row(SUITE, f"{n:,} ops", method, r["per_call"], n, r["ttfg"], extra=r))
            progress()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return rows


def steps(quick: bool, sizes: list[int] | None = None, slow: bool = False) -> int:
    return len(plan(quick, sizes, slow))
