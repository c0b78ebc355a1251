"""The files of the cache directory: what ``cache_info`` counts and ``clear_cache`` removes.

The cache writes entries (``<key[:2]>/<key>.<kind>``), the generated modules and the vm
interpreter (``numba/``, ``vm/``), Numba's files beside them (``__pycache__``) and, for a
moment, temporary files; a directory it uses carries its ``CACHEDIR.TAG``. Anything else
there is someone else's: counted as "other", never removed.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from ..errors import CacheError
from .cache import (
    _KEY_RE,
    _KIND_RE,
    _TEMP_PREFIX,
    MARKER,
    _enabled,
    _foreign,
    _private_dir,
    cache_dir,
)

# The files the cache writes, by folder (paths relative to the cache dir); cache_info and clear_cache go by these.
_OWN_FILES = {
    "numba": re.compile(r"gen\d+_[0-9a-f]+\.py"),  # the generated modules (code._source_file)
    "vm": re.compile(r"vm_[0-9a-f]+\.py"),          # the vm interpreter (interpreter.interpreter)
}
_NUMBA_FILE_RE = re.compile(r"[^/]+\.nb[ic]")  # Numba's index and data files, in <numba|vm>/__pycache__
_NUMBA_TEMP_RE = re.compile(r"[^/]+\.nb[ic]\.tmp\.[0-9a-f]+")  # a cut-off write of Numba's own writer


@dataclass(frozen=True)
class CacheKind:
    """The files of one kind in the cache: how many, and their bytes."""
    files: int = 0
    size_bytes: int = 0


# What each kind of file is, by where it lives in the cache dir: "llvm" the entries of store()
# (<key[:2]>/<key>.o), "numba" and "vm" the files under ensure_dir("numba") and ensure_dir("vm")
# (modules, and Numba's cache beside them: .nbi index and .nbc files), "other" the rest.
KINDS = {
    "llvm": "object code of the llvm target",
    "numba": "generated modules, Numba's index and machine code",
    "vm": "the vm interpreter, Numba's index and machine code",
    "other": "temporary files of cut-off writes, files put there by hand",
}


@dataclass(frozen=True)
class CacheInfo:
    """What ``cache_info()`` reports: every file under the cache dir, counted and sized by kind.

    ``files`` and ``size_bytes`` count them all; ``llvm``, ``numba``, ``vm``
    and ``other`` split them by kind (see ``KINDS``). ``usable`` is True when
    entries are both loaded and stored; ``reason`` says why not. ``str()``
    reads "cache at PATH: N files, X.Y MB", then a line per kind.
    """
    path: Path
    files: int
    size_bytes: int
    usable: bool
    reason: str | None = None
    llvm: CacheKind = CacheKind()
    numba: CacheKind = CacheKind()
    vm: CacheKind = CacheKind()
    other: CacheKind = CacheKind()

    @property
    def entries(self) -> int:
        """The number of files: the name of ``files`` before they were counted by kind."""
        return self.files

    def __str__(self) -> str:
        lines = [f"cache at {self.path}: {self.files} file{'s' if self.files != 1 else ''}, "
                 f"{_size(self.size_bytes)}"]
        for name, what in KINDS.items():
            kind = getattr(self, name)
            if name != "other" or kind.files:
                lines.append(f"  {name:<6}{kind.files:>7} file{'s' if kind.files != 1 else ' '}"
                             f"{_size(kind.size_bytes):>10}  {what}")
        return "\n".join(lines)


def _size(n: int) -> str:
    """Bytes for people: "512 B", "12.3 kB", "37.3 MB", "1.2 GB" (powers of 1000)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _walk(root: Path):
    """``os.walk`` of ``root``, deepest first, symlinks not followed (nothing when root is one)."""
    return os.walk(root, topdown=False) if root.is_dir() and not root.is_symlink() else ()


def _own_kind(root: Path, dirpath: str, name: str) -> str | None:
    """Which of ``KINDS`` the file ``name`` in ``dirpath`` is, as a file the cache writes ("temp"
    for a cut-off write); None for any other file (the label, or a file put there by hand)."""
    parts = Path(dirpath).relative_to(root).parts
    temp = name.startswith(_TEMP_PREFIX)
    if len(parts) == 1 and re.fullmatch(r"[0-9a-f]{2}", parts[0]):
        key, _, kind = name.partition(".")
        if key[:2] == parts[0] and _KEY_RE.fullmatch(key) and _KIND_RE.fullmatch(kind):
            return "llvm"
        return "temp" if temp else None
    if parts[:1] not in (("numba",), ("vm",)):
        return None
    top = parts[0]
    if len(parts) == 1:
        return top if _OWN_FILES[top].fullmatch(name) else "temp" if temp else None
    if parts[1:] == ("__pycache__",):
        if _NUMBA_FILE_RE.fullmatch(name):
            return top
        return "temp" if temp or _NUMBA_TEMP_RE.fullmatch(name) else None
    return None


def cache_info() -> CacheInfo:
    """Where the cache is, how many files and bytes of each kind it holds, and whether it is used.

    Every file under the cache dir is counted (its ``CACHEDIR.TAG`` label aside).
    Example: ``print(cache_info())`` prints "cache at /home/me/.cache/adjoint-compiler: 25 files,
    37.3 MB" and a line per kind (llvm, numba, vm; other when there are such files).
    """
    root = cache_dir()
    if _enabled():
        reason = _private_dir(root)
    else:
        reason = f"disabled by COMPILER_CACHE={os.environ['COMPILER_CACHE']}"
    if reason is None and not os.access(root, os.W_OK):
        reason = "read-only: entries are loaded but not stored"
    counts = {name: [0, 0] for name in KINDS}  # files, bytes
    for dirpath, _, filenames in _walk(root):
        for name in filenames:
            if name == MARKER and Path(dirpath) == root:
                continue
            try:
                size = os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:  # removed meanwhile by another process
                continue
            kind = _own_kind(root, dirpath, name)
            count = counts[kind if kind in counts else "other"]
            count[0] += 1
            count[1] += size
    kinds = {name: CacheKind(files, size) for name, (files, size) in counts.items()}
    return CacheInfo(root, sum(k.files for k in kinds.values()), sum(k.size_bytes for k in kinds.values()),
                     reason is None, reason, **kinds)


def _labelled(root: Path) -> bool:
    try:
        with open(root / MARKER, "rb") as f:
            return b"adjoint-compiler" in f.read(4096)
    except OSError:
        return False


def clear_cache() -> int:
    """Remove the files the cache wrote (and its emptied folders); return how many were removed.

    Example: ``clear_cache()`` returns 12 for the cache above, then 0. Only the cache's
    own files go: entries, generated modules, Numba's files beside them, cut-off writes;
    anything else stays. Raises ``CacheError`` (an ``OSError``), removing nothing, when
    the directory is not private to this user (the cache does not use it either), or
    when it holds other files and no ``CACHEDIR.TAG`` of this library (then it is not a
    cache: ``COMPILER_CACHE_DIR`` points somewhere else). Symlinks are not followed.
    """
    root = cache_dir()
    if not os.path.lexists(root):
        return 0
    st = os.lstat(root)
    reason = ("a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory" if not stat.S_ISDIR(st.st_mode)
              else _foreign(st))
    if reason is not None:
        raise CacheError(f"the cache at {root} is not cleared: it is {reason}, so the library does not use it "
                         "either; expected a directory private to this user (mode 700)")
    own, foreign = [], []
    for dirpath, _, filenames in _walk(root):
        for name in filenames:
            kind = _own_kind(root, dirpath, name)
            if kind is not None:
                own.append(os.path.join(dirpath, name))
            elif not (name == MARKER and Path(dirpath) == root):
                foreign.append(os.path.relpath(os.path.join(dirpath, name), root))
    if foreign and not _labelled(root):
        shown = ", ".join(sorted(foreign)[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise CacheError(f"{root} is not cleared: it does not look like a compiler cache (no {MARKER} of "
                         f"adjoint-compiler) and it holds files the cache did not write: {shown}; "
                         "check COMPILER_CACHE_DIR")
    removed = 0
    for path in own:
        try:
            os.unlink(path)
            removed += 1
        except FileNotFoundError:  # removed meanwhile by another process
            pass
    for dirpath, dirnames, _ in _walk(root):  # the cache's folders, once empty
        for name in dirnames:
            sub = Path(dirpath) / name
            rel = sub.relative_to(root).parts
            if (len(rel) == 1 and (re.fullmatch(r"[0-9a-f]{2}", name) or name in _OWN_FILES)) or \
                    (len(rel) == 2 and rel[0] in _OWN_FILES and name == "__pycache__"):
                try:
                    if not sub.is_symlink():
                        os.rmdir(sub)
                except OSError:  # not empty: other files, or refilled meanwhile
                    pass
    return removed
