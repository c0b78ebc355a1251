"""What one process keeps of the compiled functions it receives by pickling, and counts.

A function travels by structure (``CompiledFunction.__reduce__``): the process
that unpickles it builds it again and compiles or loads its machine code. A
Dask worker unpickles the same function once per task; ``unpickled`` keeps the
functions it built, keyed by a hash of their structure and settings, so that a
process builds (and compiles, or loads from the disk cache) each function once,
never per task. ``stats()`` counts, for this process: pickles received, functions
built, batch loops compiled and batch loops loaded from the disk cache.

>>> import pickle, compiler as cc
>>> x = cc.Symbol("x")
>>> fn = cc.compile(x * x, [x], backend="python")
>>> pickle.loads(pickle.dumps(fn)) is pickle.loads(pickle.dumps(fn))
True
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import pickle
import threading

KEPT_FUNCTIONS = 64  # functions a process keeps (least recently used first out)
# Numba threads of one chunk's batch loop under Dask: Dask runs chunks in parallel (worker
# processes, threads), so one thread each is what avoids oversubscription; $COMPILER_DASK_THREADS
# sets another number (0: Numba's default, all cores).
CHUNK_THREADS = 1

_kept: collections.OrderedDict = collections.OrderedDict()  # key -> CompiledFunction
_lock = threading.Lock()
_counts = collections.Counter()
_made: dict = {}  # (function key, role) -> "compiled" or "loaded"


def structure_key(state: tuple) -> str:
    """A hash of what ``CompiledFunction.__reduce__`` sends: equal keys, equal functions."""
    return hashlib.sha256(pickle.dumps(state, protocol=4)).hexdigest()


def unpickled(state: tuple, build):
    """The function of ``state`` built by ``build(*state)``, once per process."""
    key = structure_key(state)
    with _lock:
        _counts["unpickled"] += 1
        fn = _kept.get(key)
        if fn is not None:
            _kept.move_to_end(key)
            return fn
    fn = build(*state)  # outside the lock: building may take long; two threads may both build once
    fn._structure_key = key
    with _lock:
        fn = _kept.setdefault(key, fn)
        _kept.move_to_end(key)
        _counts["built"] += 1
        while len(_kept) > KEPT_FUNCTIONS:
            _kept.popitem(last=False)
    return fn


def key_of(fn) -> str:
    """The structure key of ``fn`` (computed once)."""
    key = fn.__dict__.get("_structure_key")
    if key is None:
        key = fn._structure_key = structure_key(fn.__reduce__()[1])
    return key


def stats() -> dict:
    """This process's counts: ``unpickled`` (functions received), ``built`` (of them, built here:
    the others were kept from an earlier task), ``compiled`` and ``loaded`` (batch loops of a
    function and role made under Dask: compiled by Numba, or loaded from the disk cache)."""
    with _lock:
        return {k: _counts[k] for k in ("unpickled", "built", "compiled", "loaded")}


def _reset_counts() -> None:
    """Zero the counts (tests, benchmarks); the functions kept stay."""
    with _lock:
        _counts.clear()
        _made.clear()


@contextlib.contextmanager
def chunk_call(fn, role: str):
    """Run one Dask chunk of ``fn``: with ``CHUNK_THREADS`` Numba threads, and counting the
    first batch loop of ``(fn, role)`` this process makes (compiled, or loaded from disk)."""
    code = fn._code
    fresh = role not in code._drivers and role not in code._targets and role not in code._vectors
    threads = _chunk_threads() if fn.backend == "numba" else 0
    before = None
    if threads:
        import numba
        before = numba.get_num_threads()
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        if before is not None:
            import numba
            numba.set_num_threads(before)
    if fresh:
        _note_made(fn, role)


def _reset_after_fork() -> None:
    """In a forked child, a thread that held the lock is gone: a fresh lock."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _chunk_threads() -> int:
    try:
        return int(os.environ.get("COMPILER_DASK_THREADS", CHUNK_THREADS))
    except ValueError:
        return CHUNK_THREADS


def _note_made(fn, role: str) -> None:
    driver = fn._code._drivers.get(role)
    stats = getattr(driver, "stats", None)  # a Numba dispatcher's: cache hits and misses per signature
    how = "compiled"
    if stats is not None and sum(stats.cache_hits.values()) and not sum(stats.cache_misses.values()):
        how = "loaded"
    machine_code = fn._code._vectors.get(role) or fn._code._targets.get(role)  # llvm: vector or scalar
    if driver is None and getattr(machine_code, "loaded", False):
        how = "loaded"
    key = (key_of(fn), role)
    with _lock:
        if key not in _made:
            _made[key] = how
            _counts[how] += 1
