"""Command line: ``python -m compiler <command>`` (installed as ``adjoint-compiler``).

Commands: ``show`` (the generated source or IR of an expression, or a
standalone module), ``eval`` (value, gradient, Hessian at a point), ``bench`` (the benchmark
suites: ``compiler.bench``), ``cache
info`` (where the compiled-code cache is, what it holds) and ``cache clear``
(empty it). A new command is one ``_add_<name>_command``
function appended to ``_COMMANDS``; each imports what it needs when it runs,
so the command line starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable


def _cache_info(args: argparse.Namespace) -> int:
    from compiler.runtime.cache import cache_info

    info = cache_info()
    print(info)
    if not info.usable:
        print(f"not used: {info.reason}")
    return 0


def _cache_clear(args: argparse.Namespace) -> int:
    from compiler.runtime.cache import cache_dir, cache_info, clear_cache

    try:
        removed = clear_cache()
    except OSError as e:  # not a cache (CacheError), a read-only cache, or files of another user
        print(f"cannot clear the cache: {e}", file=sys.stderr)
        return 1
    print(f"removed {removed} file{'s' if removed != 1 else ''} from {cache_dir()}")
    left = cache_info().other.files
    if left:
        print(f"left {left} file{'s' if left != 1 else ''} that the cache did not write")
    return 0


def _add_cache_command(commands: argparse._SubParsersAction) -> None:
    cache = commands.add_parser("cache", help="inspect or empty the on-disk cache of compiled code",
                                description="The on-disk cache of compiled code. Its directory is "
                                            "$COMPILER_CACHE_DIR if set; COMPILER_CACHE=0 turns it off.")
    cache.set_defaults(parser=cache)
    actions = cache.add_subparsers(title="actions", metavar="ACTION")
    info = actions.add_parser("info", help="print where the cache is, its files and their size by kind",
                              description="Print where the cache is, how many files and bytes it holds "
                                          "of each kind (llvm object code, Numba's cache of the generated "
                                          "modules, the vm interpreter), and why it is not used if it is not.")
    info.set_defaults(run=_cache_info)
    clear = actions.add_parser("clear", help="remove the files the cache wrote",
                               description="Remove the files the cache wrote (compiled code, generated "
                                           "modules, Numba's files, cut-off writes) and its emptied folders; "
                                           "other files stay. A directory that is not private to this user, "
                                           "or that holds other files and no CACHEDIR.TAG of this library, is "
                                           "refused (exit status 1).")
    clear.set_defaults(run=_cache_clear)


def _info(args: argparse.Namespace) -> int:
    import numba
    import llvmlite.binding as llvm
    from compiler.runtime.cache import cache_info
    from compiler.runtime.simd import info
    simd = info()
    print(f"batches of scalar functions: {simd.path} ({simd.reason})")
    print(f"CPU: {llvm.get_host_cpu_name()}, LLVM {'.'.join(map(str, llvm.llvm_version_info))}, "
          f"Numba {numba.__version__}, {numba.config.NUMBA_NUM_THREADS} threads")
    print(cache_info())
    from compiler import nlp_info
    print(nlp_info())
    return 0


def _add_info_command(commands: argparse._SubParsersAction) -> None:
    info = commands.add_parser("info", help="print which batch path (SIMD or scalar) runs here, and why",
                               description="Print whether batches run on vector units (glibc's libmvec, "
                                           "the CPU's vector width) or the scalar loop and why, the CPU, "
                                           "the JIT versions, the cache summary and which IPOPT library "
                                           "and driver cc.nlp uses.")
    info.set_defaults(run=_info, parser=info)


def _add_show_command(commands: argparse._SubParsersAction) -> None:
    from compiler.cli import add_show_command
    add_show_command(commands)


def _add_eval_command(commands: argparse._SubParsersAction) -> None:
    from compiler.cli import add_eval_command
    add_eval_command(commands)


def _add_bench_command(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser(
        "bench", help="benchmark the compiled code against baselines and peers",
        description="Time value and gradient per call, in batches and for an MLP step, and how fast "
                    "random graphs of 100 to 100,000 ops give a first gradient and compiled code "
                    "(fresh processes, cold and warm cache), beside the eager tape engine, "
                    "backend='python', Numba and the peers that are installed (SymPy, JAX, PyTorch, "
                    "CasADi). Prints markdown tables; --json and --plot keep the results.")
    from compiler.bench import add_arguments  # light: the suites import their peers when they run
    add_arguments(bench)
    bench.set_defaults(run=_bench, parser=bench)


def _bench(args: argparse.Namespace) -> int:
    from compiler.bench import run_command
    return run_command(args)


_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_show_command, _add_eval_command, _add_bench_command, _add_cache_command, _add_info_command]


def _parser() -> argparse.ArgumentParser:
    script = os.path.basename(sys.argv[0])
    prog = "python -m compiler" if script in ("__main__.py", "-c", "") else script
    parser = argparse.ArgumentParser(prog=prog,
                                     description="adjoint-compiler: symbolic math compiled to "
                                                 "reverse-mode code, run by Numba.")
    parser.set_defaults(parser=parser)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in _COMMANDS:
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Example: ``main(["cache", "info"])`` prints the cache summary and returns 0;
    ``main([])`` prints the help and returns 2.
    """
    args = _parser().parse_args(argv)
    if not hasattr(args, "run"):  # a command (or action) is missing: say what there is
        args.parser.print_help(sys.stderr)
        return 2
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
