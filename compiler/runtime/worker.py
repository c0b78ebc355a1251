"""The child process of a background compile (started by ``tiers.child_command``).

Reads a pickled ``CompiledFunction`` on stdin, compiles the kernel of ``ROLE``
(Numba or LLVM; with ``--batch`` its parallel batch loop too), which stores it
in the disk cache, and exits; the parent then loads it from the cache.
Compiling here keeps the parent's calls running at full speed meanwhile (a
compile in the parent would hold its GIL).

The child imports this package from the folder its parent gave (never from the
working directory), and stops as soon as its parent is gone (killed, or exited
without its exit handler): an orphan would compile for nobody.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading

PARENT_POLL_SECONDS = 0.2  # how often the child checks that its parent is alive (besides PDEATHSIG)
_PR_SET_PDEATHSIG = 1      # prctl option (linux/prctl.h): a signal when the parent dies
WRONG_PACKAGE = 3          # exit status: the package imported is not the parent's


def _die_with(parent: int) -> None:
    """Stop this process when ``parent`` (a pid) is gone."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the polling below still notices

    def watch() -> None:
        while True:
            if os.getppid() != parent:  # reparented: the parent died (also before prctl took effect)
                os._exit(1)
            threading.Event().wait(PARENT_POLL_SECONDS)
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="compiler: parent watch").start()


def main(argv: list[str], root: str | None = None) -> int:
    """``argv``: ROLE PARENT_PID [--batch]; ``root``: the folder the package must come from."""
    role, parent = argv[0], int(argv[1])
    _die_with(parent)
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the package's folder
    if root is not None and here != root:
        print(f"compile child: imported the compiler package from {here}, not from {root}", file=sys.stderr)
        return WRONG_PACKAGE
    fn = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - written by our own parent process
    fn._code.kernel(role, progress=False)
    if "--batch" in argv[2:]:
        fn._code.batch_driver(role)
    return 0
