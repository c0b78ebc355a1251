"""The native target's machine code: LLVM IR (``codegen.llvm``) compiled by llvmlite for
this CPU, in parts, to object files (what the disk cache keeps) and loaded for calls.

>>> len(host_fingerprint().split("|"))
7
"""

from __future__ import annotations

import ctypes
import functools
import os
import struct
import threading

import numpy as np

from ..codegen.helpers import HELPERS
from ..codegen.llvm import CHUNK, NativeModule
from ..ir.special import SPECIALS, SYMBOL_PREFIX

OPT_LEVEL = 2       # LLVM optimization level of the native target (its code generator's)
# A scalar kernel of this many parts or more (straight-line code, one block per part) runs
# instcombine alone (``LIGHT``) instead of a whole IR pipeline before the code generator (still
# at ``OPT_LEVEL``): on the 10^4-op gradient the O1 pipeline cost 0.4-0.5 s of 1.5 s and
# instcombine 0.07-0.09 s, for the same time per call (39.0 against 39.3 us) -- the schedule is
# folded and shared already, and the code generator combines and schedules within each block
# -- but without instcombine a 1,000-variable Rosenbrock's ``pow(x, 2.0)`` stayed a call (65
# against 21 us). A vector batch's loop lost 20% at O1, and loops need ``mem2reg``: those keep O2.
LARGE_PARTS = 3
LIGHT = -1  # a pass level: instcombine alone
LARGE_LEVEL = LIGHT
# ... and their code generator runs at this level (LLVM's "Less": no post-RA scheduling): 8-15%
# less CPU on the 10^4-op kernels than at O2, the same time per call (39.9 against 39.6 us).
LARGE_CODEGEN = 1
_large_machine = None  # the target machine of those
_SIGNATURE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p)
_init_lock = threading.Lock()


def _fresh_lock_after_fork() -> None:  # a fork while another thread held it: fresh in the child
    global _init_lock
    _init_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_lock_after_fork)
_target_machine = None


def _new_target_machine(llvm, opt: int = OPT_LEVEL):
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(),
                                        opt=opt, jit=True)


def _large_target_machine(llvm):
    """The target machine of large scalar kernels (``LARGE_CODEGEN``), made once."""
    global _large_machine
    with _init_lock:
        if _large_machine is None:
            _large_machine = _new_target_machine(llvm, LARGE_CODEGEN)
    return _large_machine


def _llvm():
    """llvmlite's binding layer, initialized once, and a target machine for this CPU."""
    global _target_machine
    import llvmlite.binding as llvm
    with _init_lock:
        if _target_machine is None:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            _target_machine = _new_target_machine(llvm)
    return llvm, _target_machine


def host_fingerprint() -> str:
    """What compiled object code depends on: triple, CPU, features, LLVM version (for cache keys)."""
    llvm, _ = _llvm()
    return "|".join([llvm.get_process_triple(), llvm.get_host_cpu_name(),
                     llvm.get_host_cpu_features().flatten(), ".".join(map(str, llvm.llvm_version_info)),
                     f"O{OPT_LEVEL}", f"{_level_name(LARGE_LEVEL)},cg{LARGE_CODEGEN}>={LARGE_PARTS}", f"chunk{CHUNK}"])


def compile_objects(module: NativeModule, progress=None, helper=None) -> list[bytes]:
    """Optimize and compile each part to a relocatable object file (what the disk cache stores).

    ``progress``, if given, is called with the number of parts done after each one. ``helper``
    is a child process started for this compile (``llvm_parts.start``), if the caller has one.
    """
    from . import llvm_parts
    llvm, tm = _llvm()
    large = module.width == 1 and len(module.texts) >= LARGE_PARTS
    level, codegen = (LARGE_LEVEL, LARGE_CODEGEN) if large else (OPT_LEVEL, OPT_LEVEL)
    if large:
        tm = _large_target_machine(llvm)
    texts = module.texts
    # a helper process takes parts from the end while this one takes them from the start
    # (``llvm_parts``), when a core is idle
    if helper is None:
        helper = llvm_parts.start(len(texts))
    if helper is not None:
        helper.send(texts, llvm.get_process_triple(), llvm.get_host_cpu_name(),
                    llvm.get_host_cpu_features().flatten(), codegen, level)
    objects: list = [None] * len(texts)
    try:
        done = 0
        for k in range(len(texts)):
            if helper is not None and helper.has_claimed(k):
                break  # the helper has the rest
            objects[k] = _compile_part(llvm, tm, texts[k], level)
            done += 1
            if progress is not None:
                progress(done)
        for j in range(done, len(texts)):
            if objects[j] is None:
                obj = helper.result(j) if helper is not None else None
                if obj is None:  # the helper failed: compiled here (the same bytes)
                    if helper is not None:
                        helper.report_failure()
                    obj = _compile_part(llvm, tm, texts[j], level)
                objects[j] = obj
            if progress is not None:
                progress(j + 1)
    finally:
        if helper is not None:
            helper.stop()
    return objects


def _level_name(level: int) -> str:
    return "instcombine" if level == LIGHT else f"O{level}"


def _compile_part(llvm, tm, text: str, level: int) -> bytes:
    mod = llvm.parse_assembly(text)
    mod.triple = llvm.get_process_triple()
    optimize(llvm, tm, mod, level)
    return tm.emit_object(mod)


def optimize(llvm, tm, mod, level: int) -> None:
    """Run LLVM's pipeline of ``level`` (0-3) on ``mod``, or instcombine alone (``LIGHT``).
    (``llvm_parts``'s child runs this function's source: keep it self-contained.)"""
    if level == LIGHT:
        pm = llvm.create_new_module_pass_manager()
        pm.add_instruction_combine_pass()
        pm.run(mod, llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=0)))
    else:
        pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=level))
        pb.getModulePassManager().run(mod, pb)


def pack(objects: list[bytes]) -> bytes:
    """Object files as one byte string: a count, the lengths, the bytes."""
    head = struct.pack(f"<Q{len(objects)}Q", len(objects), *map(len, objects))
    return head + b"".join(objects)


def unpack(blob: bytes) -> list[bytes]:
    (n,) = struct.unpack_from("<Q", blob)
    sizes = struct.unpack_from(f"<{n}Q", blob, 8)
    objects, at = [], 8 + 8 * n
    for size in sizes:
        objects.append(blob[at:at + size])
        at += size
    if at != len(blob):
        raise ValueError("malformed object bundle")
    return objects


def bind_special_functions(llvm, text: str) -> None:
    """Give the symbols of scipy.special's C functions that ``text`` (LLVM IR) declares their
    addresses in this process (cython_special's exports, or the wrappers that
    ``codegen.special_bind`` makes; they differ from process to process, so machine code from
    the disk cache is bound again here)."""
    if SYMBOL_PREFIX not in text:
        return
    for s in SPECIALS:
        if s.compiled and f"@{SYMBOL_PREFIX}{s.name}(" in text:
            _binder()["_sf_symbol"](s.name, s.arity, ("capi", s.capi) if s.capi is not None else s.wrap)


@functools.cache
def _binder() -> dict:
    """The namespace of the generated modules' ``_sf_bind`` helper (one source for both)."""
    import numba  # noqa: F401 - the helper's numba.types, and llvmlite's initialization
    namespace: dict = {"numba": numba, "np": np}
    exec(HELPERS["numba"]["_sf_bind"], namespace)  # noqa: S102 - the library's own helper text
    return namespace


class NativeKernel:
    """Machine code loaded from object files: ``address`` of ``kernel`` and a ctypes handle."""

    def __init__(self, objects: list[bytes], module: NativeModule):
        llvm, _ = _llvm()
        externs = {}
        if module.externs:  # a user's functions (cc.extern): their cfuncs, compiled in this process
            from . import extern_cfunc
            externs = {symbol: extern_cfunc.address(*spec) for symbol, spec in module.externs.items()}
        with _init_lock:
            empty = llvm.parse_assembly("")
            empty.triple = llvm.get_process_triple()
            # the engine owns (and frees) its target machine: one of its own
            self._engine = llvm.create_mcjit_compiler(empty, _new_target_machine(llvm))
            bind_special_functions(llvm, module.text)
            for symbol, address in externs.items():  # (bound again by each kernel: another function may
                llvm.add_symbol(symbol, address)      # have the same fingerprint, other global values)
            for obj in objects:
                self._engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
            self._engine.finalize_object()
            self.address = self._engine.get_function_address("kernel")
            # the loop over points of a vector kernel (``codegen.llvm``), 0 in a scalar one
            self.batch_address = self._engine.get_function_address("batch")
        if not self.address:
            raise RuntimeError("compiled object has no 'kernel' symbol")
        self.n_in, self.n_out, self.n_scratch = module.n_in, module.n_out, module.n_scratch
        self.cfunc = _SIGNATURE(self.address)
