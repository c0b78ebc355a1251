"""Finding, loading and checking IPOPT's shared library (``libipopt``) for its C interface.

Where it looks, in order (the first that loads and passes the version check is used):

1. ``COMPILER_IPOPT_LIB``: a path to the library, or one of the sources below by name
   (``casadi``, ``cyipopt``, ``system``); nothing else is tried then;
2. ``casadi``: the library in CasADi's wheel (IPOPT 3.14.19 with MUMPS 5.8 and METIS when
   measured: the faster linear solver);
3. ``cyipopt``: the library bundled by ``cyipopt-wheels`` (``cyipopt_wheels.libs``);
4. ``system``: ``ctypes.util.find_library("ipopt")``.

The library must export IPOPT's C interface (``IpStdCInterface.h``) of IPOPT 3.14 or later:
``GetIpoptVersion`` (3.14.12 on) is asked before anything else is called; before it, a
library that exports 3.14's ``GetIpoptCurrentIterate`` is taken as 3.14 (its release read
from the file name: cyipopt-wheels' ``libipopt-*.so.3.14.11``).

>>> find_library("nowhere").ok
False
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import importlib.util
import os
import re
import sys
from dataclasses import dataclass

from ...errors import SolverNotFoundError

ENV = "COMPILER_IPOPT_LIB"
SOURCES = ("casadi", "cyipopt", "system")
MIN_VERSION = (3, 14, 0)  # GetIpoptVersion and the C interface's present signatures
EXTRA = 'pip install "adjoint-compiler[solvers]"'
_PATTERNS = {"linux": ("libipopt*.so*",), "darwin": ("libipopt*.dylib",), "win32": ("ipopt*.dll", "libipopt*.dll")}


@dataclass(frozen=True)
class Found:
    """What ``find_library`` found: ``source`` (``casadi``, ``cyipopt``, ``system``, or a path
    given in ``COMPILER_IPOPT_LIB``), the file ``path``, IPOPT's ``version``, and ``why`` when
    nothing usable was found (``ok`` False)."""
    source: str
    path: str | None
    version: tuple | None = None
    why: str = ""

    @property
    def ok(self) -> bool:
        return self.version is not None

    def __str__(self) -> str:
        if not self.ok:
            return f"no usable libipopt ({self.why})"
        return f"IPOPT {'.'.join(map(str, self.version))} from {self.source} ({self.path})"


def _package_dir(name: str) -> str | None:
    """The folder of an installed package, without importing it (CasADi takes ~0.3 s to import)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def candidates(source: str) -> list[str]:
    """The library files ``source`` offers (newest name first), none if it is not installed."""
    patterns = _PATTERNS.get(sys.platform, _PATTERNS["linux"])
    if source == "casadi":
        folder = _package_dir("casadi")
    elif source == "cyipopt":
        folder = _package_dir("cyipopt")
        folder = folder and os.path.join(os.path.dirname(folder), "cyipopt_wheels.libs")
    elif source == "system":
        name = ctypes.util.find_library("ipopt")
        return [name] if name else []
    else:
        raise ValueError(f"unknown IPOPT source {source!r}; expected one of {SOURCES}")
    if not folder or not os.path.isdir(folder):
        return []
    found = sorted({p for pattern in patterns for p in glob.glob(os.path.join(glob.escape(folder), pattern))},
                   key=len)  # libipopt.so before libipopt.so.3.14.19: the same file, the shortest name
    return [p for p in found if not p.endswith((".la", ".a"))]


def _version(lib) -> tuple[int, int, int]:
    get = lib.GetIpoptVersion
    get.argtypes = [ctypes.POINTER(ctypes.c_int)] * 3
    get.restype = None
    major, minor, release = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    get(ctypes.byref(major), ctypes.byref(minor), ctypes.byref(release))
    return major.value, minor.value, release.value


def _preload_beside(path: str) -> None:
    """Load the libraries in ``path``'s folder that load (a wheel repaired by auditwheel renames
    them and gives libipopt no search path to its MUMPS and BLAS: once loaded, they are found by
    their names). Repeated while that makes more of them load."""
    others = [p for p in glob.glob(os.path.join(glob.escape(os.path.dirname(path)), "*.so*"))
              if os.path.basename(p) != os.path.basename(path)]
    while others:
        left = []
        for other in others:
            try:
                ctypes.CDLL(other)
            except OSError:
                left.append(other)
        if len(left) == len(others):
            return
        others = left


def _try(source: str, path: str):
    """``(Found, the loaded library or None)`` for one file."""
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        if source != "cyipopt":  # (only a wheel's own folder is loaded wholesale)
            return Found(source, path, why=f"{path} does not load: {sys.exc_info()[1]}"), None
        _preload_beside(path)
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            return Found(source, path, why=f"{path} does not load: {e}"), None
    if not hasattr(lib, "IpoptSolve"):
        return Found(source, path, why=f"{path} exports no IpoptSolve: it is not IPOPT"), None
    if hasattr(lib, "GetIpoptVersion"):
        version = _version(lib)
    elif hasattr(lib, "GetIpoptCurrentIterate"):  # 3.14.0 to 3.14.11: 3.14's interface, no version function
        release = re.search(r"\.3\.14\.(\d+)$", path)
        version = (3, 14, int(release.group(1)) if release else 0)
    else:
        return Found(source, path, why=f"{path} is IPOPT before 3.14 (no GetIpoptCurrentIterate)"), None
    if version < MIN_VERSION or version[0] != MIN_VERSION[0]:
        return Found(source, path, why=f"{path} is IPOPT {'.'.join(map(str, version))}; the C interface "
                                       f"is called as in {MIN_VERSION[0]}.{MIN_VERSION[1]} to "
                                       f"{MIN_VERSION[0]}.x"), None
    return Found(source, path, version), lib


_loaded: dict = {}  # the choice -> (Found, library): a library is loaded once per process


def find_library(choice: str | None = None):
    """The library to call, as ``Found`` (``.ok`` False and ``.why`` when there is none).
    ``choice``: a source name or a path; by default ``COMPILER_IPOPT_LIB``, else every source."""
    return load(choice)[0]


def load(choice: str | None = None):
    """``(Found, ctypes library or None)`` for ``choice`` (see ``find_library``), kept per process."""
    choice = choice if choice is not None else os.environ.get(ENV) or None
    if choice in _loaded:
        return _loaded[choice]
    if choice is not None and choice not in SOURCES:
        if not os.path.exists(choice):
            result = (Found(choice, choice, why=f"{ENV}={choice!r} names no file (nor one of {SOURCES})"), None)
        else:
            result = _try(choice, choice)
    else:
        tried = []
        result = None
        for source in ([choice] if choice else SOURCES):
            paths = candidates(source)
            if not paths:
                tried.append(f"{source}: not installed")
            for path in paths:
                found, lib = _try(source, path)
                if lib is not None:
                    result = (found, lib)
                    break
                tried.append(found.why)
            if result:
                break
        if result is None:
            result = (Found(choice or "none", None, why="; ".join(tried)), None)
    _loaded[choice] = result
    return result


def require(choice: str | None = None):
    """The loaded library, or a ``SolverNotFoundError`` saying what was tried and what to install."""
    found, lib = load(choice)
    if lib is None:
        raise SolverNotFoundError(f"no usable IPOPT library: {found.why}. Install the solvers extra: {EXTRA} "
                                  f"(or point {ENV} at a libipopt of version 3.14 or later)")
    return found, lib
