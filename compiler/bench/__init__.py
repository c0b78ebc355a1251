"""The benchmark suites behind ``python -m compiler bench``: how much faster the JIT makes the work.

    python -m compiler bench                      # every suite, several minutes on 2 cores
    python -m compiler bench compile --quick      # one suite, smaller and fewer repeats
    python -m compiler bench --json out.json --plot out.png

Suites (``SUITES``; adding one is one entry): ``calls`` (value and gradient of
small functions, per call), ``batch`` (1e3 ... 1e7 points), ``mlp`` (a small
network's training step), ``compile`` (time to first gradient and to compiled
code of random graphs of 100 ... 100,000 ops, each in a fresh process, cold
and warm cache), ``core`` (the core issue's measurements as paired ratios:
per call against hand-written Numba, a batch of 1e6 points, peak memory),
``sparse`` (sparse Hessians and Jacobians by colouring, and ``jvp``), ``nlp``
(IPOPT on an optimal control problem, beside CasADi and JAX), ``dask`` (10^8
points on a LocalCluster of worker processes, and ``reduce=``), ``loops``, ``escape``
(``cc.extern``, ``custom_jvp`` and ``cc.root`` beside hand-written Numba), ``linalg`` (a Gaussian
process's marginal likelihood and gradient through Cholesky, beside JAX and PyTorch).
Each case is timed beside its baselines (the eager tape engine,
``backend="python"``, Numba) and the peers that are installed (SymPy, JAX,
PyTorch, CasADi); medians over interleaved repeats, warm-up excluded, compile
times reported apart.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import textwrap
import time
from dataclasses import dataclass
from typing import Callable

from .common import BenchmarkError, OtherLoad, Row, fmt_time, machine_info, table

HELP_WIDTH = 79


@dataclass(frozen=True)
class Suite:
    """A benchmark suite: ``run(quick, progress, **options)`` returns its rows and calls
    ``progress()`` once per measurement, which ``steps(quick, **options)`` counts. ``options``
    names the command-line options it takes; ``table(rows)`` formats its rows (default: a
    timing table); ``panel(ax, rows)`` draws its chart on a matplotlib Axes, if it has one
    (``ax=None``: only whether there is something to draw)."""
    name: str
    help: str
    run: Callable[..., list[Row]]
    steps: Callable[..., int]
    options: tuple[str, ...] = ()
    table: Callable[[list[Row]], str] | None = None
    panel: Callable[..., bool] | None = None


def _lazy(ref: str) -> Callable:
    """The function ``"module.name"`` of this package, imported when first called: suites import
    Numba and their peers, and the command line must start fast."""
    module, name = ref.rsplit(".", 1)

    def call(*args, **kwargs):
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)(*args, **kwargs)
    call.__name__ = call.__qualname__ = name
    return call


def _simd_ops() -> dict:
    from .simd_ops import OPS
    return OPS


SUITES: dict[str, Suite] = {s.name: s for s in (
    Suite("calls", "value and gradient per call: neuron, Rosenbrock 2 and 100", _lazy("calls.run"),
          lambda quick: 3, panel=_lazy("plots._speedups")),
    Suite("batch", "value and gradient at 1e3 ... 1e7 points", _lazy("batch.run"),
          lambda quick: 3 if quick else 5, panel=_lazy("plots._batch")),
    Suite("shared", "batch calls while other processes keep all cores but one busy: median and p90 per call, "
                    "threads per call against all threads", _lazy("shared_load.run"), _lazy("shared_load.steps")),
    Suite("simd", "ns per element of each transcendental op, one thread: vector kernel, scalar kernel, "
                  "NumPy's ufunc; the batch expression against the floor of its calls",
          _lazy("simd_ops.run"), lambda quick: len(_simd_ops()) + 1, table=_lazy("simd_ops.table_of"),
          panel=_lazy("simd_ops.panel")),
    Suite("special", "ns per element of each special function (scipy.special's C functions called from Numba "
                     "and LLVM) beside scipy.special's ufunc loop, one thread; loggamma/digamma gradients",
          _lazy("special_suite.run"), _lazy("special_suite.steps"), table=_lazy("special_suite.table_of")),
    Suite("mlp", "an MLP's training step (value and gradient of the loss)", _lazy("mlp.run"), lambda quick: 1),
    Suite("compile", "time to first gradient and to compiled code of random graphs of 100 ... 100,000 ops "
                     "(fresh processes, cold and warm cache)",
          _lazy("compile_suite.run"), _lazy("compile_suite.steps"), options=("sizes", "numba_max_ops", "loop_models",
                                                                         "pendulum_links"),
          table=_lazy("compile_suite.table"), panel=_lazy("compile_suite.panel")),
    Suite("core", "the core issue's paired ratios: the neuron per call against hand-written Numba, 1e6 points "
                  "against SymPy + Numba and JAX, the peak memory of 1e7 points (fresh process)",
          _lazy("core.run"), _lazy("core.steps"), table=_lazy("core.table")),
    Suite("sparse", "sparse Hessians and Jacobians by colouring (chained Rosenbrock, a banded residual; 1e3 ... "
                    "1e5 variables) beside CasADi and JAX's dense ones, and jvp per call beside value",
          _lazy("sparse.run"), _lazy("sparse.steps"), table=_lazy("sparse.table")),
    Suite("nlp", "an optimal control problem (van der Pol, N = 100 ... 10,000) solved by IPOPT from this "
                 "library (native and cyipopt drivers), CasADi's nlpsol and JAX's dense derivatives; repeat "
                 "solves of Hock-Schittkowski problems and chained Rosenbrock beside CasADi",
          _lazy("nlp.run"), _lazy("nlp.steps"), table=_lazy("nlp.table")),
    Suite("dask", "1e8 points (1e7 with --quick) on a LocalCluster of 2 single-threaded worker processes: value "
                  "and gradient against the in-process batch, the reduce= form, peak memory and compiles per worker, "
                  "beside da.map_blocks over a SymPy-lambdified numba.njit function",
          _lazy("dask_suite.run"), _lazy("dask_suite.steps"), table=_lazy("dask_suite.table")),
    Suite("loops", "RK4 on the Lorenz system, T = 1e2 ... 1e5 steps, as one cc.scan (and checkpoint=\"sqrt\", its "
                   "peak memory at 1e6) beside the unrolled graph, JAX's lax.scan and CasADi's mapaccum",
          _lazy("loops.run"), _lazy("loops.steps"), options=("sizes",), table=_lazy("loops.table")),
    Suite("escape", "cc.extern beside a hand-written njit loop (1e6 points), a custom_jvp rule beside the inline "
                    "expression, cc.root (Kepler, 10 Newton steps, 1e5 points) beside a hand-written Newton loop",
          _lazy("escape.run"), _lazy("escape.steps")),
    Suite("linalg", "a Gaussian process's -log marginal likelihood and its gradient in 3 hyperparameters "
                    "(Cholesky, cho_solve), n = 200, 500, 2,000, beside jax.jit(value_and_grad) and PyTorch eager",
          _lazy("gp.run"), _lazy("gp.steps")),
    Suite("ode", "cc.odeint: a Lotka-Volterra fit's value and gradient beside JAX's odeint, Robertson's stiff "
                 "kinetics with sensitivities beside CasADi's CVODES, one solve and 1e4 beside solve_ivp",
          _lazy("ode_suite.run"), _lazy("ode_suite.steps")),
)}


def run(names: list[str], quick: bool, show_progress: bool = True, options: dict | None = None) -> dict:
    """Run the named suites; return ``{"machine", "rows", "load", "quick", "options", "seconds"}``.

    ``options`` holds the suites' own options (``Suite.options``); each suite gets those it names.
    """
    options = options or {}
    chosen = [SUITES[n] for n in names]
    own = {s.name: {k: options[k] for k in s.options if options.get(k) is not None} for s in chosen}
    bar = None
    if show_progress:
        from tqdm import tqdm
        total = sum(s.steps(quick, **own[s.name]) for s in chosen)
        bar = tqdm(total=total, desc="benchmarks", unit="step", file=sys.stderr, leave=False)
    step = (lambda: bar.update(1)) if bar is not None else (lambda: None)
    rows: list[Row] = []
    loads = {}
    t0 = time.perf_counter()
    try:
        for suite in chosen:
            if bar is not None:
                bar.set_description(f"benchmark {suite.name}")
            with OtherLoad() as load:
                rows += suite.run(quick, step, **own[suite.name])
            loads[suite.name] = {"note": load.note(), **load.as_dict()}
    finally:
        if bar is not None:
            bar.close()
    return {"machine": machine_info(), "rows": rows, "load": loads, "quick": quick, "options": own,
            "seconds": time.perf_counter() - t0}


def report(result: dict) -> str:
    """The results as markdown: one table per suite, the machine, the load."""
    m = result["machine"]
    skip = ("cpu", "cores", "usable_cores", "platform")
    versions = ", ".join(f"{k} {v}" for k, v in m.items() if k not in skip and v)
    out = [f"machine: {m['cpu']}, {m['cores']} cores ({m.get('usable_cores', m['cores'])} usable), "
           f"{m['platform']}", f"versions: {versions}", ""]
    rows = result["rows"]
    for suite in SUITES.values():
        mine = [r for r in rows if r.suite == suite.name]
        if not mine:
            continue
        out.append(f"## {suite.name}" + (" (quick)" if result["quick"] else ""))
        out.append((suite.table or _timing_table)(mine))
        out.append(result["load"].get(suite.name, {}).get("note", ""))
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


def plot(result: dict, path: str) -> bool:
    """Draw the chart of each suite that ran and has one, side by side, into the PNG ``path``;
    False when there is none to draw."""
    rows = result["rows"]
    panels = [s.panel for s in SUITES.values() if s.panel is not None and s.panel(None, rows)]
    if not panels:
        return False
    import matplotlib
    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(panels), figsize=(7.0 * len(panels), 7.5), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        panel(ax, rows)
    m = result["machine"]
    fig.suptitle(f"adjoint-compiler benchmarks — {m['cpu']}, {m['cores']} cores", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m compiler bench ARGS``; returns the exit status. Example: ``main(["compile", "--quick"])``."""
    parser = argparse.ArgumentParser(prog="python -m compiler bench", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run_command(parser.parse_args(argv))


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ops counts separated by commas, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive ops counts, got {text!r}")
    return sizes


def _loop_models(text: str) -> list[str]:
    from .compile_loops import MODELS
    models = [] if text.strip() == "none" else [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown loop model(s) {unknown}: expected some of {list(MODELS)} or 'none'")
    return models


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m compiler bench`` (and of ``main``)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keeps the list of suites a list
    if parser.description:
        parser.description = textwrap.fill(" ".join(parser.description.split()), HELP_WIDTH)
    parser.epilog = "suites:\n" + "\n".join(
        textwrap.fill(s.help, HELP_WIDTH, initial_indent=f"  {s.name:<9} ", subsequent_indent=" " * 12)
        for s in SUITES.values())
    parser.add_argument("suites", nargs="*", metavar="SUITE", help=f"suites to run (default: all): {', '.join(SUITES)}")
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes and fewer repeats (under a minute per suite on 2 cores)")
    parser.add_argument("--json", metavar="FILE", help="also write every result (every repeat) as JSON")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="also draw the charts (needs matplotlib: pip install 'adjoint-compiler[bench]')")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--numba-max-ops", type=int, metavar="N",
                        help="compile suite: the largest graph the numba routes compile (default 1000, "
                             "100 with --quick; 10000 takes about a minute)")
    parser.add_argument("--loop-models", type=_loop_models, metavar="M,M",
                        help="compile suite: the loop models to compile (default: all of lorenz,lotka-volterra,"
                             "lotka-volterra-tensor,mlp; "
                             "'none' for the random graphs only)")
    parser.add_argument("--pendulum-links", type=int, metavar="N",
                        help="compile suite: links of the SymPy pendulum model (default 10, 3 with --quick; 0 to skip it)")
    parser.add_argument("--sizes", type=_sizes, metavar="N,N",
                        help="compile suite: the sizes of its random graphs in ops (e.g. 10000; default "
                             "100,1000,10000,100000, with --quick 100,1000,10000)")


def run_command(args: argparse.Namespace) -> int:
    unknown = [s for s in args.suites if s not in SUITES]
    if unknown:
        print(f"error: unknown suite {', '.join(unknown)} (suites: {', '.join(SUITES)})", file=sys.stderr)
        return 2
    if args.plot:
        from .plots import require_matplotlib
        problem = require_matplotlib()
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    options = {"sizes": args.sizes, "numba_max_ops": args.numba_max_ops, "loop_models": args.loop_models,
               "pendulum_links": args.pendulum_links}
    try:
        result = run(args.suites or list(SUITES), args.quick, not args.no_progress, options)
    except BenchmarkError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(report(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**result, "rows": [r.as_dict() for r in result["rows"]]}, f, indent=1, default=str)
        print(f"results written to {args.json}")
    if args.plot:
        if plot(result, args.plot):
            print(f"charts written to {args.plot}")
        else:
            print("no chart: the suites that ran have none")
    return 0
