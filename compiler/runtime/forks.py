"""``os.fork()`` while a thread of this process compiles.

A fork copies the process with only the forking thread: a compile running in another
thread is cut in the middle, with its locks held forever (Numba's, the function's, a
module being imported) and Numba's dispatcher state half-made. So a fork waits until no
machine code is being made in this process (Numba compiles, and the llvm target's, which
register with ``compiling``), and no new compile starts until it is done; the child then
starts with fresh locks and no compile under way (``code`` and ``tiers`` reset their own
state in the child), and compiles again what it needs.

>>> with compiling():
...     pass
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading


class _Guard:
    """How many in-process compiles run; a fork waits for none and holds new ones off."""

    def __init__(self):
        self.condition = threading.Condition()
        self.active = 0
        self.forking = False


_guard = _Guard()


@contextlib.contextmanager
def compiling():
    """Mark an in-process compile (of machine code that is not Numba's): a fork waits for it."""
    ensure_registered()
    guard = _guard
    with guard.condition:
        while guard.forking:
            guard.condition.wait()
        guard.active += 1
    try:
        yield
    finally:
        with guard.condition:
            guard.active -= 1
            guard.condition.notify_all()


def _numba_lock():
    module = sys.modules.get("numba.core.compiler_lock")
    return None if module is None else module.global_compiler_lock


def _before() -> None:
    guard = _guard
    guard.condition.acquire()  # held across the fork: no compile starts meanwhile
    guard.forking = True       # (nor while this waits, which lets go of the condition's lock)
    while guard.active:
        guard.condition.wait()
    lock = _numba_lock()
    if lock is not None:
        lock.acquire()  # waits for the Numba compile under way, if any


def _after_in_parent() -> None:
    lock = _numba_lock()
    if lock is not None:
        lock.release()
    _guard.forking = False
    _guard.condition.notify_all()
    _guard.condition.release()


def _after_in_child() -> None:
    global _guard
    _guard = _Guard()
    lock = _numba_lock()
    if lock is not None:
        lock._lock = threading.RLock()


_registered = False
_register_lock = threading.Lock()


def ensure_registered() -> None:
    """Install the fork hooks, once, before the first compile of this process (a fork before
    any compile has nothing to wait for; ``import compiler`` stays light).

    Fork hooks run the "before" ones last registered first: ``logging``, imported here
    first, has its hook (which takes logging's lock) run after this one, so a compile the
    fork waits for may still log (Numba's first compile imports modules that call getLogger).
    """
    global _registered
    if _registered or not hasattr(os, "register_at_fork"):
        return
    with _register_lock:
        if not _registered:
            import logging  # noqa: F401 - see above
            os.register_at_fork(before=_before, after_in_parent=_after_in_parent, after_in_child=_after_in_child)
            _registered = True
