"""The ``show`` and ``eval`` commands: expression text in, generated code or numbers out.

Expression text goes through the safe parser (``cc.parse``: never ``eval``);
the inputs are the expression's names in order of first appearance. A bad
expression or argument exits with status 2 and one line on stderr.

    python -m compiler show "sin(x)*y + x**2" --wrt x,y
    python -m compiler eval "sin(x)*y + x**2" --at x=1.5,y=2 --grad --json
"""

from __future__ import annotations

import argparse
import json
import math
import sys

USAGE_ERROR = 2  # exit status of a bad expression or argument (as argparse uses)


class UsageError(Exception):
    """A mistake in the command line: reported as one line, exit status 2."""


def _names(text: str | None, what: str) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError(f"{what} names no symbols")
    return names


def _compile(args: argparse.Namespace, backend: str):
    """Parse ``args.expression`` and compile it; inputs in order of first appearance."""
    import compiler as cc
    from compiler import ir
    expr = cc.parse(args.expression)
    # the parser makes each symbol at its first appearance in the text: creation order is text order
    inputs = sorted((n for n in ir.topo_order([expr]) if n.op == "var"), key=lambda n: n.id)
    by_name = {n.name: n for n in inputs}
    wrt = None
    wanted = _names(getattr(args, "wrt", None), "--wrt")
    if wanted is not None:
        unknown = [w for w in wanted if w not in by_name]
        if unknown:
            raise UsageError(f"--wrt names {', '.join(unknown)}, which the expression does not use "
                             f"(its symbols: {', '.join(by_name) or 'none'})")
        wrt = [by_name[w] for w in wanted]
    return cc.compile(expr, inputs, wrt=wrt, backend=backend, progress=False), inputs


def _highlighted(source: str) -> str:
    """``source`` with terminal colours when stdout is a terminal and Pygments is installed."""
    if not sys.stdout.isatty():
        return source
    try:
        from pygments import highlight
        from pygments.formatters import TerminalFormatter
        from pygments.lexers import PythonLexer
    except ImportError:
        return source
    return highlight(source, PythonLexer(), TerminalFormatter())


def run_show(args: argparse.Namespace) -> int:
    fn, _ = _compile(args, args.backend)
    if args.ir:
        text = fn.ir
    elif args.llvm:
        text = fn.llvm_ir
    elif args.output:
        path = fn.save(args.output)
        print(f"wrote {path}: a module that needs only math, numpy and numba "
              f"(value, value_and_grad and their batch drivers)")
        return 0
    else:
        text = _highlighted(fn.source)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from compiler.frontend.parse import parse_point
    point = parse_point(args.at or "")
    fn, inputs = _compile(args, "auto")
    missing = [n.name for n in inputs if n.name not in point]
    if missing:
        raise UsageError(f"--at gives no value for {', '.join(missing)} (give every symbol: "
                         f"{', '.join(n.name for n in inputs)})")
    extra = [k for k in point if k not in {n.name for n in inputs}]
    if extra:
        raise UsageError(f"--at gives {', '.join(extra)}, which the expression does not use")
    values = [point[n.name] for n in inputs]
    result: dict = {"value": fn(*values)}
    if args.grad or args.hessian:
        if not inputs:
            raise UsageError("the expression has no symbols to differentiate with respect to")
        result["grad"] = dict(zip((n.name for n in inputs), fn.grad(*values)))
    if args.hessian:
        result["hessian"] = fn.hessian(*values).tolist()
    if args.json:
        print(json.dumps(_jsonable(result)))
    else:
        print(f"value = {result['value']!r}")
        for name, g in result.get("grad", {}).items():
            print(f"d/d{name} = {g!r}")
        if "hessian" in result:
            names = [n.name for n in inputs]
            print("hessian (rows and columns: " + ", ".join(names) + ")")
            for row in result["hessian"]:
                print("  " + "  ".join(f"{v!r:>24}" for v in row))
    return 0


def _jsonable(obj):
    """JSON has no nan/inf: they are written as the strings "nan", "inf", "-inf"."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if obj != obj else "inf" if obj > 0 else "-inf"
    return obj


def guarded(run):
    """Run a command; the user's mistakes become one line on stderr and exit status 2."""
    def wrapper(args: argparse.Namespace) -> int:
        from compiler.errors import CompilerError
        try:
            return run(args)
        except (UsageError, CompilerError, ValueError, TypeError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            print(f"error: {first}", file=sys.stderr)
            return USAGE_ERROR
    return wrapper


def add_show_command(commands: argparse._SubParsersAction) -> None:
    show = commands.add_parser(
        "show", help="print the generated source (or IR) of an expression",
        description="Print the Python source generated for the value and reverse-mode gradient of "
                    "EXPR (syntax-highlighted on a terminal), its IR, or write it as a standalone module.")
    show.add_argument("expression", metavar="EXPR", help='the expression, e.g. "sin(x)*y + x**2"')
    show.add_argument("--wrt", metavar="X,Y", help="differentiate with respect to these symbols (default: all)")
    show.add_argument("--backend", choices=["python", "numba"], default="numba",
                      help="the dialect of the source (they differ for tensors only; default numba)")
    show.add_argument("--ir", action="store_true", help="print the IR graph instead of the source")
    show.add_argument("--llvm", action="store_true",
                      help="print the LLVM IR that batches run (vector code where `python -m compiler info` "
                           "says simd) instead of the source")
    show.add_argument("-o", "--output", metavar="FILE",
                      help="write a standalone module (needs only math, numpy, numba) to FILE")
    show.set_defaults(run=guarded(run_show), parser=show)


def add_eval_command(commands: argparse._SubParsersAction) -> None:
    ev = commands.add_parser(
        "eval", help="evaluate an expression, its gradient and Hessian at a point",
        description="Evaluate EXPR at a point; with --grad its gradient, with --hessian its Hessian "
                    "(with respect to every symbol, in order of first appearance).")
    ev.add_argument("expression", metavar="EXPR", help='the expression, e.g. "sin(x)*y + x**2"')
    ev.add_argument("--at", metavar="X=1.5,Y=2", help="the value of every symbol")
    ev.add_argument("--grad", action="store_true", help="also print the gradient")
    ev.add_argument("--hessian", action="store_true", help="also print the Hessian (and the gradient)")
    ev.add_argument("--json", action="store_true", help="print one JSON object (nan/inf as strings)")
    ev.set_defaults(run=guarded(run_eval), parser=ev)
