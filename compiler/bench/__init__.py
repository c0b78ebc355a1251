"""The benchmark suites behind ``python -m compiler bench``: how much faster the JIT makes the work.

    python -m compiler bench                      # every suite, a few minutes on 2 cores
    python -m compiler bench calls batch --quick  # some suites, smaller and fewer repeats
    python -m compiler bench --json out.json --plot out.png

Suites (``SUITES``; adding one is one entry): ``calls`` (value and gradient of
small functions, per call), ``batch`` (1e3 ... 1e7 points), ``mlp`` (a small
network's training step), ``graphs`` (compile and call random graphs of 100 ...
100,000 ops). Each case is timed side by side with its baselines (the eager
tape engine, ``backend="python"``, Numba) and the peers that are installed
(SymPy, JAX, PyTorch, CasADi); medians over interleaved repeats, warm-up
excluded, compile times reported apart.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Callable

from .common import OtherLoad, Row, fmt_time, machine_info, table


@dataclass(frozen=True)
class Suite:
    name: str
    help: str
    run: Callable          # (quick, progress) -> list[Row]
    steps: Callable        # (quick) -> number of progress steps


def _suites() -> dict[str, Suite]:
    from . import batch, calls, graphs_suite, mlp
    return {
        "calls": Suite("calls", "value and gradient per call: neuron, Rosenbrock 2 and 100", calls.run,
                       lambda quick: 3),
        "batch": Suite("batch", "value and gradient at 1e3 ... 1e7 points", batch.run,
                       lambda quick: 3 if quick else 5),
        "mlp": Suite("mlp", "an MLP's training step (value and gradient of the loss)", mlp.run, lambda quick: 1),
        "graphs": Suite("graphs", "compile and call random graphs of 100 ... 100,000 ops", graphs_suite.run,
                        graphs_suite.steps),
    }


SUITE_NAMES = ("calls", "batch", "mlp", "graphs")


def run(names: list[str], quick: bool, show_progress: bool = True) -> dict:
    """Run the named suites; return ``{"machine", "rows", "load", "quick", "seconds"}``."""
    suites = _suites()
    total = sum(suites[n].steps(quick) for n in names)
    bar = None
    if show_progress:
        from tqdm import tqdm
        bar = tqdm(total=total, desc="benchmarks", unit="step", file=sys.stderr, leave=False)
    rows: list[Row] = []
    loads = {}
    t0 = time.perf_counter()
    try:
        for name in names:
            if bar is not None:
                bar.set_description(f"benchmark {name}")
            with OtherLoad() as load:
                rows += suites[name].run(quick, (lambda: bar.update(1)) if bar is not None else (lambda: None))
            loads[name] = load.note()
    finally:
        if bar is not None:
            bar.close()
    return {"machine": machine_info(), "rows": rows, "load": loads, "quick": quick,
            "seconds": time.perf_counter() - t0}


def report(result: dict) -> str:
    """The results as markdown: one table per suite, the machine, the load."""
    m = result["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m.items() if k not in ("cpu", "cores", "platform") and v)
    out = [f"machine: {m['cpu']}, {m['cores']} cores, {m['platform']}", f"versions: {versions}", ""]
    rows = result["rows"]
    for suite in SUITE_NAMES:
        mine = [r for r in rows if r.suite == suite]
        if not mine:
            continue
        out.append(f"## {suite}" + (" (quick)" if result["quick"] else ""))
        out.append(_graphs_table(mine) if suite == "graphs" else _timing_table(mine))
        out.append(result["load"].get(suite, ""))
        out.append("")
    out.append(f"total: {result['seconds']:.0f} s")
    return "\n".join(out)


def _timing_table(rows: list[Row]) -> str:
    body = []
    for case in dict.fromkeys(r.case for r in rows):
        group = [r for r in rows if r.case == case]
        ours = next((r.seconds for r in group if r.method.startswith("compiler (")), None)
        tape = next((r.seconds for r in group if r.method.startswith("eager tape")), None)
        for r in group:
            body.append([case, r.method, fmt_time(r.seconds),
                         f"{r.seconds / ours:.2f}x" if ours and r.seconds else "-",
                         f"{tape / r.seconds:,.0f}x" if tape and r.seconds else "-",
                         fmt_time(r.compile_seconds), r.note])
            case = ""
    return table(["case", "method", "time per call", "time / compiler's", "speedup over eager tape",
                  "compile / first call", "note"], body)


def _graphs_table(rows: list[Row]) -> str:
    body = []
    casadi = {r.size: r for r in rows if r.method == "casadi"}
    for r in rows:
        if r.seconds is None:
            body.append([r.case, r.method, "-", "-", fmt_time(r.compile_seconds), "-", "-", "-", r.note])
            continue
        e = r.extra
        peer = casadi.get(r.size)
        body.append([f"{r.size:,}", r.method, str(e.get("statements") or "-"), fmt_time(e["ttfg"]),
                     fmt_time(e["ttfg"] + e["ready"]), fmt_time(r.seconds),
                     f"{e['ttfg'] / peer.extra['ttfg']:.2f}x" if peer and r is not peer else "-",
                     f"{r.seconds / peer.seconds:.2f}x" if peer and r is not peer else "-", e.get("backend", "")])
    return table(["ops", "route", "gradient statements", "time to first gradient", "time to compiled code",
                  "per call", "first gradient / CasADi's", "per call / CasADi's", "note"], body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compiler bench", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run_command(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suites", nargs="*", metavar="SUITE",
                        help=f"suites to run (default: all): {', '.join(SUITE_NAMES)}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (under a minute)")
    parser.add_argument("--json", metavar="FILE", help="also write every result as JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="also draw the charts (needs matplotlib)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run_command(args: argparse.Namespace) -> int:
    unknown = [s for s in args.suites if s not in SUITE_NAMES]
    if unknown:
        print(f"error: unknown suite {', '.join(unknown)} (suites: {', '.join(SUITE_NAMES)})", file=sys.stderr)
        return 2
    if args.plot:
        from .plots import require_matplotlib
        problem = require_matplotlib()
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    result = run(args.suites or list(SUITE_NAMES), args.quick, not args.no_progress)
    print(report(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**result, "rows": [r.as_dict() for r in result["rows"]]}, f, indent=1, default=str)
        print(f"results written to {args.json}")
    if args.plot:
        from .plots import plot
        plot(result, args.plot)
        print(f"charts written to {args.plot}")
    return 0
