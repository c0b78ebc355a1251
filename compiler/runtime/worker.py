"""The child process of a background compile: ``python -m compiler.runtime.worker ROLE [--batch]``.

Reads a pickled ``CompiledFunction`` on stdin, compiles the kernel of ``ROLE``
(Numba or LLVM; with ``--batch`` its parallel batch loop too), which stores it
in the disk cache, and exits; the parent then
loads it from the cache. Compiling here keeps the parent's calls running at
full speed meanwhile (a compile in the parent would hold its GIL).
"""

from __future__ import annotations

import pickle
import sys


def main(argv: list[str]) -> int:
    role = argv[0]
    fn = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - written by our own parent process
    fn._code.kernel(role, progress=False)
    if "--batch" in argv[1:]:
        fn._code.batch_driver(role)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
