"""Which vector math this machine has: glibc's libmvec, its vector width, and why not.

A batch of a scalar function runs 2, 4 or 8 points per instruction when the
CPU has the vector unit (SSE4.2, AVX2 with FMA, AVX-512) and the C library
ships the matching vector functions (``libmvec.so.1``, glibc 2.22 and later:
``_ZGVdN4v_exp`` is ``exp`` on four doubles with AVX2). Everything else runs
the scalar batch loop, with no warning; ``info()`` says which and why.

``$COMPILER_SIMD=0`` (or ``cc.compile(..., simd=False)``) turns it off;
``$COMPILER_SIMD=2`` forces a narrower width than the CPU allows (tests use it).

>>> info().path in ("simd", "scalar")
True
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading
import dataclasses
from dataclasses import dataclass

LIBRARY = "libmvec.so.1"
# The vector variant of each width: glibc's name mangling (x86-64 vector ABI), the CPU
# features it needs (as LLVM names them), and its ISA's name for people.
ISAS = {8: ("e", ("avx512f",), "AVX-512"),
        4: ("d", ("avx2", "fma"), "AVX2"),
        2: ("b", ("sse4.2",), "SSE4.2")}
# What a width needs from the library: one function we call, to check it is there.
_PROBE = "_ZGV{letter}N{width}v_exp"


@dataclass(frozen=True)
class SimdInfo:
    """The batch path of this process: ``path`` is "simd" or "scalar"; ``reason`` says why."""
    path: str
    width: int            # doubles per vector (1 on the scalar path)
    isa: str              # "AVX2", ... or "" on the scalar path
    library: str          # the vector library's file, or ""
    reason: str

    @property
    def available(self) -> bool:
        return self.path == "simd"

    def mangled(self, name: str, arity: int) -> str:
        """glibc's vector function for ``name`` at this width: ``_ZGVdN4v_exp``, ``_ZGVdN4vv_pow``
        (``_ZGVeN16v_expf`` for float32: twice the lanes in the same registers)."""
        letter = ISAS[self.width // 2 if self.float32 else self.width][0]
        return f"_ZGV{letter}N{self.width}{'v' * arity}_{name}{'f' if self.float32 else ''}"

    float32: bool = False  # the variant for float32 kernels: ``for_float32()``

    def for_float32(self) -> "SimdInfo":
        """This path for float32 kernels: twice the lanes per instruction, the float functions."""
        if not self.available or self.float32:
            return self
        return dataclasses.replace(self, width=2 * self.width, float32=True,
                                   reason=self.reason.replace(f"{self.width} doubles", f"{2 * self.width} floats"))

    def vector_function(self, name: str, arity: int) -> str | None:
        """The vector function of C's ``name`` in the library, or None if it has none."""
        if not self.available:
            return None
        mangled = self.mangled(name, arity)
        return mangled if _has_symbol(self.library, mangled) else None

    def key(self) -> str:
        """What vector machine code depends on (part of the disk-cache key)."""
        return f"{self.path}|{self.width}|{self.isa}|{self.library}" + ("|float32" if self.float32 else "")


_lock = threading.Lock()
_symbols: dict = {}


def _has_symbol(library: str, name: str) -> bool:
    found = _symbols.get((library, name))
    if found is None:
        found = _symbols[library, name] = hasattr(ctypes.CDLL(library), name)
    return found

_info: SimdInfo | None = None


def _cpu_features() -> set[str]:
    import llvmlite.binding as llvm
    flags = llvm.get_host_cpu_features()
    return {name for name, on in flags.items() if on}


def _detect() -> SimdInfo:
    def scalar(reason: str) -> SimdInfo:
        return SimdInfo("scalar", 1, "", "", reason)
    setting = os.environ.get("COMPILER_SIMD", "").strip().lower()
    if setting in ("0", "off", "false", "no"):
        return scalar("turned off by COMPILER_SIMD=" + os.environ["COMPILER_SIMD"])
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return scalar(f"libmvec is glibc's library for x86-64 Linux; this is {platform.system()} "
                      f"{platform.machine()}")
    try:
        lib = ctypes.CDLL(LIBRARY)
    except OSError as e:
        return scalar(f"the C library has no vector math ({LIBRARY} not found: {e})")
    features = _cpu_features()
    widths = sorted(ISAS, reverse=True)
    if setting.isdigit() and int(setting) in ISAS:
        widths = [w for w in widths if w <= int(setting)]
    missing = []
    for width in widths:
        letter, needs, isa = ISAS[width]
        lacking = [f for f in needs if f not in features]
        if lacking:
            missing.append(f"{isa} needs {', '.join(lacking)}")
            continue
        if not hasattr(lib, _PROBE.format(letter=letter, width=width)):
            missing.append(f"{LIBRARY} has no {isa} functions")
            continue
        import llvmlite.binding as llvm
        llvm.load_library_permanently(LIBRARY)  # so that machine code finds its symbols
        return SimdInfo("simd", width, isa, LIBRARY, f"{isa}: {width} doubles per instruction, "
                        f"vector math from {LIBRARY}")
    return scalar("no usable vector unit: " + "; ".join(missing))


def info(fn=None) -> SimdInfo:
    """This process's batch path (detected once; ``reset()`` detects again); for compiled
    function ``fn`` of float32 inputs, its float32 variant."""
    global _info
    with _lock:
        if _info is None:
            _info = _detect()
    return _info.for_float32() if getattr(fn, "dtype_inputs", None) == "float32" else _info


def reset() -> None:
    """Forget the detected path (after changing ``$COMPILER_SIMD``)."""
    global _info
    with _lock:
        _info = None
