"""Tiers: what answers the calls of each role ("value", "value_and_grad") of a function, and
the background compiles that replace an interpreter by compiled code.

Each role's entry is one of: ``Lazy`` (compiles on its first call: backends other
than "auto"), ``Interpreted`` ("auto": the Python interpreter of the instruction
array answers until the compiled kernel is ready), ``TensorEntry`` (functions of
tensors: shapes checked on every call; the NumPy module under "auto" until Numba's
kernel is ready), or, once made, the compiled kernel itself (the fast path).

Under "auto", once calls have spent ``COMPILE_AFTER_SECONDS`` interpreted, Numba's
code is compiled by a child process (``worker``) that stores it in the disk cache,
then loaded here: Numba's compile in this process would hold the GIL and slow the
calls it is meant to speed up. Without a usable cache it is compiled in a thread;
so is the llvm target's (LLVM releases the GIL: ``IN_PROCESS_STATEMENTS``).

>>> import compiler as cc
>>> x = cc.Symbol("x")
>>> fn = cc.compile(x * x, [x])
>>> type(fn._value).__name__, fn(3.0), fn.ready
('Interpreted', 9.0, False)
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import warnings
import weakref

import numpy as np

from . import arguments, batch, cache, forks, interpreter, lazy  # noqa: F401 - forks: its fork hooks
from .batch import SLOT
from .code import python_batch
from .flat import Cancelled, shutting_down

_NUMBERS = (int, float, np.floating, np.integer)
ROLES = tuple(SLOT)
# "auto" starts compiling a function once its calls have spent this long interpreted: a
# script that makes a few calls never compiles (nor waits at exit for a compile), a loop
# compiles after a bounded delay, as a ski-rental rule would.
COMPILE_AFTER_SECONDS = 0.05
# An llvm schedule compiles in the background thread here, whatever its size, rather than in a
# child process: the work is mostly inside LLVM, which releases the GIL (and shares a big
# schedule's parts with a helper process of its own, ``llvm_parts``), while a child first imports the
# package and rebuilds the function (reverse pass, schedule): the 10,000-op gradient reached
# compiled code in 4.4-5.1 s in a thread against 7.9-8.4 s through a child, on a loaded machine
# (issue 28). Numba, whose type inference is Python holding the GIL, compiles in a child.
IN_PROCESS_STATEMENTS: int | None = None  # None: every llvm schedule; else the largest one


class Lazy:
    """Stands in for a scalar kernel until its first call compiles it."""

    def __init__(self, owner, role: str):
        self.owner, self.role = owner, role

    def __call__(self, *args):
        owner = self.owner
        owner._tiers.called.add(self.role)
        kernel = owner._code.kernel(self.role)
        setattr(owner, SLOT[self.role], kernel)
        return kernel(*args)


class Interpreted:
    """Answers the scalar calls of one role with the Python interpreter
    (``interpreter.run_python``) until the compiled kernel, made in the background,
    takes its place."""

    def __init__(self, owner, role: str):
        self.owner, self.role, self.elapsed = owner, role, 0.0  # seconds spent interpreted
        self.n_in = len(owner.inputs)

    def __call__(self, *args):
        if len(args) != self.n_in:
            raise TypeError("argument count")  # the checked slow path explains
        for a in args:
            if type(a) is not float and not isinstance(a, _NUMBERS):
                raise TypeError("not a number")  # arrays and the rest: the checked slow path
        owner = self.owner
        owner._tiers.called.add(self.role)
        try:
            values = [float(a) for a in args]
        except OverflowError:
            raise TypeError("an int beyond float range") from None  # the checked slow path explains
        start = time.perf_counter()
        r = interpreter.run_python(owner._code.program(self.role), values)
        self.elapsed += time.perf_counter() - start
        if self.elapsed >= COMPILE_AFTER_SECONDS:
            owner._tiers.compile_in_background(self.role)
        n = len(owner.outputs)
        if self.role == "value":
            return r[0] if not owner._many else tuple(r)
        if not owner._many:
            return r[0], tuple(r[1:])
        return tuple(r[:n]), np.array(r[n:]).reshape(n, len(owner.wrt))


class TensorEntry:
    """Calls of one role of a function of tensors: shapes checked on every call, then the
    compiled kernel (or, under "auto" until it is ready, the NumPy module)."""

    def __init__(self, owner, role: str):
        self.owner, self.role, self.elapsed = owner, role, 0.0
        self.compiled = None  # the Numba kernel, once made
        self.fast = None      # its entry for one point of float64 arrays, if it has one (``tensor_entry``)
        self.driver = None    # its compiled batch loop, once made
        self.batched = False  # whether batches were asked for (then the driver is compiled too)

    @property
    def ready(self) -> bool:
        if self.owner.backend == "python":
            return True
        return self.compiled is not None and (self.driver is not None or not self.batched)

    def __call__(self, *args):
        fast = self.fast  # the compiled kernel's own entry: one point of float64 arrays, else TypeError
        if fast is not None:
            try:
                return fast(*args)
            except TypeError:
                pass
        owner, role = self.owner, self.role
        owner._tiers.called.add(role)
        if role == "value_and_grad":
            owner._require_wrt()
        arrays, n = arguments.check_arguments(args, owner.inputs)
        if n is not None:
            return self._batch(arrays, n)
        return arguments.result(self.run(arrays))

    def run(self, arrays: list):
        """The kernel's own result at one point, for arguments already checked and converted."""
        owner, role = self.owner, self.role
        kernel = self.compiled
        # (loops on llvm compile at the first call, in well under a second: the NumPy module's
        # loops, in Python, would be slower than that after a few calls)
        if kernel is None and owner.requested_backend == "auto" and not owner._llvm_loops:
            code = owner._code
            kernel = code.numpy_function(code.module.entries[role])
            start = time.perf_counter()
            with np.errstate(all="ignore"):
                out = kernel(*arrays)
            self.elapsed += time.perf_counter() - start
            if self.elapsed >= COMPILE_AFTER_SECONDS:
                owner._tiers.compile_in_background(role)
            return out
        if kernel is None:
            kernel = self.compiled = owner._code.kernel(role)
            self.fast = getattr(kernel, "fast", None)
        if owner.backend in ("numba", "llvm"):  # never warns (its NumPy blocks run under np.errstate)
            return kernel(*arrays)
        with np.errstate(all="ignore"):
            return kernel(*arrays)

    def _batch(self, arrays, n):
        owner, role = self.owner, self.role
        self.batched = True
        if self.driver is None and owner.requested_backend == "auto" and not owner._llvm_loops:
            # the NumPy module's loop, in Python, while Numba compiles the parallel one
            code = owner._code
            driver = python_batch(code.numpy_function(code.module.batch[role]))
            start = time.perf_counter()
            out = batch.tensor_batch(owner, role, arrays, n, driver)
            self.elapsed += time.perf_counter() - start
            if self.elapsed >= COMPILE_AFTER_SECONDS:
                owner._tiers.compile_in_background(role, batch=True)
            return out
        if self.driver is None:
            self.driver = owner._code.batch_driver(role)
        return batch.tensor_batch(owner, role, arrays, n, self.driver)


def first_entry(owner, role: str):
    """The entry that answers the first calls of ``role``."""
    if owner._tensor:
        return TensorEntry(owner, role)
    if owner.requested_backend == "auto" and not owner._llvm_loops:  # (the interpreter has no loops)
        # compiled before: the kernel from the disk cache answers from the first call
        return lazy.Cached(owner, role) if owner._lazy.hit else Interpreted(owner, role)
    return Lazy(owner, role)


def is_compiled(entry) -> bool:
    if isinstance(entry, lazy.Cached):  # the disk cache looked at: its kernel, or the interpreter
        entry = entry.resolve()
    if isinstance(entry, TensorEntry):
        return entry.ready
    return not isinstance(entry, (Interpreted, Lazy))


class Tiers:
    """The compiles of one function (``fn``): which roles were called, the background
    compiles under way, and installing compiled code in place of an interpreter."""

    def __init__(self, fn):
        self.fn = fn
        self.called: set[str] = set()  # the roles called so far (what ``ready`` is about)
        self.compiling: dict[str, threading.Thread] = {}  # role (or "role batch") -> its compile
        self.error: BaseException | None = None  # a background compile's failure, for wait()
        _live.add(self)

    def ready(self) -> bool:
        roles = [r for r in ROLES if r in self.called] or ["value"]
        return all(is_compiled(getattr(self.fn, SLOT[r])) for r in roles)

    def wait(self) -> None:
        """Compile every role now (joining background compiles under way)."""
        fn = self.fn
        roles = ROLES if fn._lazy.has_gradient() else ("value",)  # a gradient: of scalar outputs
        self.called.update(roles)
        for role in roles:
            for key in (role, f"{role} batch"):
                thread = self.compiling.get(key)
                if thread is not None:
                    thread.join()
            if self.error is not None:
                raise self.error
            entry = getattr(fn, SLOT[role])
            if not is_compiled(entry):
                driver = fn._code.batch_driver(role) if isinstance(entry, TensorEntry) and entry.batched else None
                self.install(role, fn._code.kernel(role), driver)

    def install(self, role: str, kernel, driver=None) -> None:
        """Make the compiled ``kernel`` (and batch ``driver``) answer the calls of ``role``."""
        entry = getattr(self.fn, SLOT[role])
        if isinstance(entry, TensorEntry):
            entry.compiled = kernel
            entry.fast = getattr(kernel, "fast", None)
            if driver is not None:
                entry.driver = driver
        else:
            setattr(self.fn, SLOT[role], kernel)

    def compile_in_background(self, role: str, batch: bool = False) -> None:
        """Start compiling ``role`` (with its batch driver if ``batch``) in a thread, once;
        calls go on being interpreted meanwhile."""
        key = f"{role} batch" if batch else role
        with _background_lock:
            if key in self.compiling or shutting_down.is_set():
                return
            thread = threading.Thread(target=self._background, args=(role, batch), daemon=True,
                                      name=f"compiler: {key} of {self.fn._title[:40]}")
            self.compiling[key] = thread
            _background.add(thread)
            thread.start()

    def _background(self, role: str, batch: bool = False) -> None:
        code = self.fn._code
        try:
            # compiled by another process into the disk cache, then loaded here (without a
            # usable cache, or if the child fails, it is compiled here after all)
            self._compile_in_subprocess(role, batch)
            if shutting_down.is_set():
                return
            kernel = code.kernel(role, progress=False)
            driver = code.batch_driver(role) if batch else None
        except Cancelled:
            return
        except BaseException as exc:  # kept for wait(); calls stay interpreted, never wrong
            self.error = exc
            warnings.warn(f"compiling {self.fn!r} failed ({type(exc).__name__}: {exc}); its calls "
                          "are interpreted; fn.wait() raises the error", RuntimeWarning)
            return
        finally:
            with _background_lock:
                _background.discard(threading.current_thread())
        self.install(role, kernel, driver)

    def _compile_in_subprocess(self, role: str, batch: bool = False) -> bool:
        """Compile ``role`` in a child process that stores the code in the disk cache; True
        when it did (the cache is usable, the child succeeded) or the code is cached already."""
        fn = self.fn
        if fn.backend not in ("numba", "llvm") or fn._extern or cache.ensure_dir("numba") is None \
                or os.environ.get("COMPILER_COMPILE_IN_SUBPROCESS", "1") == "0":
            return False
        if fn.backend == "llvm" and (IN_PROCESS_STATEMENTS is None
                                     or len(fn.plan[role].statements) <= IN_PROCESS_STATEMENTS):
            return False  # (compiled, or loaded from the cache, by the thread that called this)
        if fn._code.in_disk_cache(role, batch):
            return True
        import pickle
        import subprocess
        try:
            payload = pickle.dumps(fn)
        except (pickle.PicklingError, RecursionError):
            return False
        with _background_lock:
            if shutting_down.is_set():  # the exit handler has run, or is running: start nothing
                return False
            try:
                # the cache dir as this process resolved it (a relative one means the first working dir)
                env = {**os.environ, "COMPILER_CACHE_DIR": str(cache.cache_dir())}
                child = subprocess.Popen(child_command(role, batch), stdin=subprocess.PIPE,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
            except OSError:
                return False
            # registered under the lock the exit handler takes after setting shutting_down: either it
            # sees this child and stops it, or this thread saw the flag and started none
            _children.add(child)
        try:
            child.communicate(payload)  # waits without the GIL
        finally:
            with _background_lock:
                _children.discard(child)
        return child.returncode == 0


# The folder that holds this package: the child of a compile imports the package from there, never
# from the working directory (where a folder named "compiler" may be the user's own).
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# What the child runs: ``python -c`` puts the working directory first on sys.path (unless -P or
# PYTHONSAFEPATH left it out): it is replaced by this package's folder before anything is imported.
_CHILD = ("import sys; root = sys.argv[1]; "
          "getattr(sys.flags, 'safe_path', False) or sys.path.pop(0); sys.path.insert(0, root); "
          "from compiler.runtime.worker import main; sys.exit(main(sys.argv[2:], root))")


def child_command(role: str, batch: bool) -> list[str]:
    """The command line of the child process that compiles ``role`` (and its batch driver)."""
    return ([sys.executable, "-c", _CHILD, _PACKAGE_ROOT, role, str(os.getpid())]
            + (["--batch"] if batch else []))


_background: set = set()            # live background compile threads
_children: set = set()              # compile processes of background compiles
_background_lock = threading.Lock()
_live: weakref.WeakSet = weakref.WeakSet()  # every function's Tiers (a fork resets their locks)


@atexit.register
def _stop_background_compiles() -> None:
    """At exit, stop the compile processes, let in-process compiles stop at their next
    checkpoint (an LLVM part) and wait for them: a thread inside LLVM while the process
    tears LLVM down could crash it. A compile thread that starts its child after this
    ran sees ``shutting_down`` first (see ``_compile_in_subprocess``)."""
    shutting_down.set()
    with _background_lock:
        children, threads = list(_children), list(_background)
    for child in children:
        child.kill()
    for thread in threads:
        thread.join()


def _reset_after_fork() -> None:
    """In a forked child only the forking thread lives on (``forks``: the fork waited for
    the compiles under way): the background threads are gone, a lock one of them held is
    held forever, their children are the parent's. Fresh locks, no compile under way; the
    next call or ``fn.wait()`` compiles here."""
    global _background_lock
    _background_lock = threading.Lock()
    _background.clear()
    _children.clear()
    for tiers in list(_live):
        tiers.compiling.clear()
        tiers.fn._lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
