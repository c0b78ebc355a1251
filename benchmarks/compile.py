"""The compile-time benchmark: ``python benchmarks/compile.py [--quick] [--json FILE] [--plot FILE.png]``
is ``python -m compiler bench compile ...`` (see compiler/bench/compile_suite.py)."""
import sys

from compiler.bench import main

sys.exit(main(["compile", *sys.argv[1:]]))
