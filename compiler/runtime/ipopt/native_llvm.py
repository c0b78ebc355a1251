"""IPOPT's callbacks on the llvm route: the module ``codegen.llvm_ipopt`` prints, compiled by
llvmlite to object code kept in the disk cache, and loaded with no Numba in the process.

A problem of a structure already compiled (here or in an earlier process) loads its callbacks'
object code from the disk cache (key: the module's text and this CPU): nothing is compiled
and Numba is not imported, so a fresh process reaches ``IpoptSolve`` without Numba's start.

>>> Loaded.__name__
'Loaded'
"""

from __future__ import annotations

import ctypes
import math
import threading
from typing import Callable, NamedTuple

from .. import cache, forks
from .. import llvm as runtime_llvm
from . import layout as slots

#: up to this many unrolled values, LLVM compiles the callbacks in well under a second (HS071:
#: ~0.2 s on a loaded machine): backend "auto" compiles them for a new structure's first solve
#: instead of solving it through cyipopt while Numba compiles the kernels in the background
COMPILE_AT_ONCE = 5_000
NAMES = ("eval_f", "eval_grad_f", "eval_g", "eval_jac_g", "eval_h", "intermediate")
_bound = threading.Lock()
_clock_bound = False


class Function:
    """One callback: the address of its machine code (what ``CreateIpoptProblem`` takes), and
    the engine that holds that code (kept alive as long as the callback is)."""
    __slots__ = ("address", "owner")

    def __init__(self, address: int, owner: "Loaded"):
        self.address, self.owner = address, owner


class Loaded:
    """The callbacks' machine code in an MCJIT engine (kept alive with this object):
    ``functions`` by name, and whether it came from the disk cache (``loaded``)."""

    def __init__(self, objects: list[bytes], loaded: bool):
        llvm, _ = runtime_llvm._llvm()
        _bind_clock(llvm)
        with runtime_llvm._init_lock:
            empty = llvm.parse_assembly("")
            empty.triple = llvm.get_process_triple()
            self._engine = llvm.create_mcjit_compiler(empty, runtime_llvm._new_target_machine(llvm))
            for obj in objects:
                self._engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
            self._engine.finalize_object()
            self.functions = {name: Function(self._engine.get_function_address(name), self) for name in NAMES}
        missing = [name for name, f in self.functions.items() if not f.address]
        if missing:
            raise RuntimeError(f"the IPOPT callbacks' object code has no {missing}")
        self.loaded = loaded


def _bind_clock(llvm) -> None:
    """``clock_gettime``'s address in this process, for the callbacks' timing (once)."""
    global _clock_bound
    with _bound:
        if not _clock_bound:
            address = ctypes.cast(ctypes.CDLL(None).clock_gettime, ctypes.c_void_p).value
            llvm.add_symbol("clock_gettime", address)
            _clock_bound = True


def has_clock() -> bool:
    try:
        ctypes.CDLL(None).clock_gettime
    except (OSError, AttributeError, TypeError):
        return False
    return True


class NotCached(Exception):
    """``build(..., cached_only=True)`` found no object code to load."""


def build(key: str, text, cached_only: bool = False) -> Loaded:
    """The callbacks of the module ``text()`` prints (made only when needed: its ``key``,
    ``codegen.llvm_ipopt.fingerprint``, finds a cached build without it): loaded from the disk
    cache, else compiled (at LLVM's O2) and stored. ``cached_only``: raise ``NotCached`` rather
    than compile."""
    llvm, tm = runtime_llvm._llvm()
    key = cache.entry_key("llvm-ipopt", runtime_llvm.host_fingerprint(), key)
    blob = cache.load(key, "o")
    if blob is not None:
        try:
            with forks.compiling():
                return Loaded(runtime_llvm.unpack(blob), loaded=True)
        except Exception:  # a verified entry this LLVM cannot load: compile anew
            pass
    if cached_only:
        raise NotCached(key)
    module = text()
    with forks.compiling():
        objects = [runtime_llvm._compile_part(llvm, tm, module, runtime_llvm.OPT_LEVEL)]
    cache.store(key, "o", runtime_llvm.pack(objects))
    return Loaded(objects, loaded=False)


class Route(NamedTuple):
    """A problem's callbacks on the llvm route: the disk cache's ``key`` (None: refused, ``why``),
    ``text()`` prints the module, ``unrolled`` scalar values in its kernels."""
    key: str | None
    text: Callable[[], str] | None
    why: str
    unrolled: int = 0


def prepare(n: int, m: int, params: list, sigma, lam, kernels: dict, jacobian, hessian) -> Route:
    """The ``Route`` of a problem's callbacks: the fingerprint that keys the disk cache
    (``codegen.llvm_ipopt.fingerprint``) and a function that prints the module; or why not. ``kernels``: name -> ``(CompiledFunction, role)`` (as for the
    Numba route); ``params``, ``sigma``, ``lam``: the input nodes of the parameters, the
    objective's factor and the multipliers; ``jacobian``/``hessian``: ``driver.Derivative``."""
    from ...codegen import llvm_ipopt
    if not has_clock():
        return Route(None, None, "no clock_gettime in this process")
    offsets, at = {}, 0
    for node in params:
        offsets[node.id] = at
        at += math.prod(node.shape)

    def kernel(name: str, role: str = "value", seeds=()):
        if name not in kernels:
            return None
        fn = kernels[name][0]
        if role == "value_and_grad":
            fn._require_wrt()
        plan = fn.plan[role]
        sources: dict = {}
        k_seed = 0
        for i, node in enumerate(fn.inputs):
            if i == 0:
                sources[node.id] = ("x", 0)
            elif node.id in offsets:
                sources[node.id] = ("params", offsets[node.id])
            elif node.id == sigma.id:
                sources[node.id] = ("obj_factor", 0)
            elif node.id == lam.id:
                sources[node.id] = ("lambda", 0)
            else:  # a colour's seed: a constant of the structure
                sources[node.id] = ("const", seeds[k_seed])
                k_seed += 1
        return llvm_ipopt.Kernel(fn.inputs, plan.outputs, plan.statements, sources)

    made = {"objective": kernel("objective"), "gradient": kernel("objective_and_gradient", "value_and_grad"),
            "constraints": kernel("constraints"), "jacobian": kernel("jacobian", seeds=jacobian.seeds),
            "hessian": kernel("hessian", seeds=hessian.seeds if hessian is not None else ())}
    why = llvm_ipopt.refusal([k for k in made.values() if k is not None])
    if why is not None:
        return Route(None, None, why)
    S = slots.Slot
    where = {"PARAMS": S.PARAMS, "STATS": S.STATS, "NONFINITE_X": S.NONFINITE_X, "ITERATIONS": S.ITERATIONS,
             "STAT_SECONDS": slots.STAT_SECONDS, "STAT_FIRST": slots.STAT_FIRST, "STAT_CALLS": slots.STAT_CALLS,
             "STAT_NONFINITE": slots.STAT_NONFINITE, "STAT_NONFINITE_WHICH": slots.STAT_NONFINITE_WHICH,
             "KEEP": slots.KEEP_NONFINITE}
    jac = (jacobian.rows, jacobian.cols, jacobian.index)
    hess = (hessian.rows, hessian.cols, hessian.index) if hessian is not None else ((), (), ())
    key = llvm_ipopt.fingerprint(made, n, m, jac, hess, sorted(where.items()))

    def text() -> str:
        return llvm_ipopt.module_text(n, m, made["objective"], made["gradient"], made["constraints"],
                                      made["jacobian"], jac, made["hessian"], hess, where)
    return Route(key, text, "", llvm_ipopt.unrolled([k for k in made.values() if k is not None]))
