"""Persistent on-disk cache of compiled code, safe to share between processes.

An entry is ``<cache_dir>/<key[:2]>/<key>.<kind>``: a magic header, the sha256
of the payload, then the payload. A corrupted or truncated entry is deleted
and reads as a miss; an entry this user does not own, that others can write,
or that is a symlink is ignored, so no unverified or foreign bytes are ever
returned. Writes go to a temporary file that is renamed into place, so readers
never see a partial entry and concurrent writers of one key both succeed.

Where it lives: ``$COMPILER_CACHE_DIR`` if set, else the user cache directory
(``~/.cache/adjoint-compiler`` on Linux). ``COMPILER_CACHE=0`` (or ``off``,
``false``, ``no``) turns it off. A directory that is not private to this user
(other owner, group/other writable, a symlink) is never used, and a read-only
one is only read; each such problem gives one ``CacheWarning`` per process,
and functions are then compiled in memory only.

From the command line: ``python -m compiler cache info`` and ``... cache clear``.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import importlib.metadata
import os
import re
import stat
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .. import _version

__all__ = ["CacheInfo", "CacheKind", "CacheWarning", "cache_dir", "cache_info", "clear_cache", "ensure_dir",
           "entry_key", "entry_path", "load", "store"]

FORMAT_VERSION = 1  # bump when the meaning of a payload changes: old entries then never hit
MAGIC = b"ADJCC\x00\x01\x00"
_DIGEST_SIZE = hashlib.sha256().digest_size
_PRIVATE_DIR_MODE = 0o700
_FOREIGN_WRITE_BITS = stat.S_IWGRP | stat.S_IWOTH  # 0o022
_KEY_RE = re.compile(r"[0-9a-f]{64}")
_KIND_RE = re.compile(r"[A-Za-z0-9]{1,16}")
_SUBDIR_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_OFF_VALUES = {"0", "off", "false", "no"}
_TEMP_PREFIX = ".tmp-"

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


class CacheWarning(UserWarning):
    """The cache, or one entry of it, cannot be used safely; compilation goes on without it."""


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


def cache_dir() -> Path:
    """The cache directory: ``$COMPILER_CACHE_DIR``, else the platform's user cache dir (not created)."""
    return Path(os.environ.get("COMPILER_CACHE_DIR") or platformdirs.user_cache_dir("adjoint-compiler"))


def _enabled() -> bool:
    return os.environ.get("COMPILER_CACHE", "").strip().lower() not in _OFF_VALUES


def _warn_once(topic: str, path: Path, message: str) -> None:
    with _warned_lock:
        if (topic, str(path)) in _warned:
            return
        _warned.add((topic, str(path)))
    warnings.warn(message, CacheWarning, stacklevel=3)


def _foreign(st: os.stat_result) -> str | None:
    """Why a file or directory with this stat is not private to this user ("it is <reason>"), or None."""
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        return f"owned by uid {st.st_uid}, not by this user (uid {os.getuid()})"
    if st.st_mode & _FOREIGN_WRITE_BITS:
        return f"writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def _private_dir(path: Path) -> str | None:
    """Create ``path`` user-only if missing; return why it must not be used, or None."""
    try:
        os.makedirs(path, mode=_PRIVATE_DIR_MODE, exist_ok=True)
        st = os.lstat(path)
    except OSError as e:
        return f"cannot create {path}: {e.strerror or e}"
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symlink"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    reason = _foreign(st)
    return None if reason is None else f"{path} is {reason}"


def _root() -> Path | None:
    """The cache dir, ready to read, or None (after one warning) when it must not be used."""
    if not _enabled():
        return None
    root = cache_dir()
    reason = _private_dir(root)
    if reason is not None:
        _warn_once("unusable", root, f"compiler cache at {root} is not used: {reason}; "
                                     "functions are compiled in memory only")
        return None
    return root


def _not_writable(root: Path, reason: str) -> None:
    _warn_once("not writable", root, f"compiler cache at {root} is not writable ({reason}); "
                                     "functions are compiled in memory only")


@functools.lru_cache(maxsize=None)
def _environment() -> tuple[str, ...]:
    """Everything besides the caller's parts that a compiled entry depends on."""
    versions = [f"format={FORMAT_VERSION}", f"python={sys.version}", f"adjoint-compiler={_version.__version__}"]
    for dist in ("numpy", "numba", "llvmlite"):
        try:
            versions.append(f"{dist}={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{dist}=absent")
    return tuple(versions)


def entry_key(*parts: str | bytes) -> str:
    """The key of an entry: sha256 (hex) of the library versions and ``parts``.

    Example: ``entry_key(source, "numba")`` for the code compiled from ``source``;
    a new Python, NumPy, Numba, llvmlite or compiler version gives a new key.
    """
    h = hashlib.sha256()
    for part in (*_environment(), *parts):
        if isinstance(part, str):
            part = part.encode()
        elif not isinstance(part, bytes):
            raise TypeError(f"entry_key parts must be str or bytes, got {type(part).__name__}")
        h.update(len(part).to_bytes(8, "little"))  # length prefix: ("ab", "c") != ("a", "bc")
        h.update(part)
    return h.hexdigest()


def entry_path(key: str, kind: str) -> Path:
    """Where the entry ``key`` of ``kind`` (a short suffix such as "py" or "o") lives; not created."""
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ValueError(f"cache key must be 64 lowercase hex digits (from entry_key), got {key!r:.80}")
    if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
        raise ValueError(f"cache entry kind must be 1-16 letters or digits, got {kind!r:.80}")
    return cache_dir() / key[:2] / f"{key}.{kind}"


def load(key: str, kind: str) -> bytes | None:
    """The verified payload stored under ``key`` and ``kind``, or None on a miss.

    Example: ``load(entry_key(source), "py")`` after ``store`` of the same key
    returns the stored bytes, in this process or any later one.
    """
    path = entry_path(key, kind)
    root = _root()
    if root is None:
        return None
    try:
        # O_NONBLOCK: a FIFO planted in place of an entry must not hang the open
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as e:
        reason = "it is a symlink" if e.errno == errno.ELOOP else (e.strerror or str(e))
        _warn_once("entry", root, f"compiler cache entry {path} is ignored: {reason}")
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        reason = "not a regular file" if not stat.S_ISREG(st.st_mode) else _foreign(st)
        if reason is not None:
            _warn_once("entry", root, f"compiler cache entry {path} is ignored: it is {reason}")
            return None
        data = f.read()
    header = len(MAGIC) + _DIGEST_SIZE
    payload = data[header:]
    if data[:len(MAGIC)] != MAGIC or data[len(MAGIC):header] != hashlib.sha256(payload).digest():
        try:  # truncated or corrupted: it can never verify, so it goes
            os.unlink(path)
        except OSError:
            pass
        return None
    return payload


def store(key: str, kind: str, payload: bytes) -> bool:
    """Store ``payload`` under ``key`` and ``kind`` atomically; True when stored.

    Example: ``store(entry_key(source), "py", code)``. False (with one
    ``CacheWarning`` per process) when the cache is unusable or not writable.
    """
    path = entry_path(key, kind)
    root = _root()
    if root is None:
        return False
    reason = _private_dir(path.parent)
    if reason is not None:
        _not_writable(root, reason)
        return False
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)  # mode 0600
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + hashlib.sha256(payload).digest())
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: readers see the old entry or the new one, whole
        return True
    except OSError as e:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        _not_writable(root, e.strerror or str(e))
        return False


def ensure_dir(sub: str) -> Path | None:
    """A writable user-only subdirectory ``sub`` of the cache dir, or None when there is none.

    Example: ``ensure_dir("numba")`` for code that writes its own files there.
    """
    if not isinstance(sub, str) or not _SUBDIR_RE.fullmatch(sub):
        raise ValueError(f"cache subdirectory must be one plain name, got {sub!r:.80}")
    root = _root()
    if root is None:
        return None
    path = root / sub
    reason = _private_dir(path)
    if reason is None and not os.access(path, os.W_OK):
        reason = f"{path} is read-only"
    if reason is not None:
        _not_writable(root, reason)
        return None
    return path


def _walk(root: Path):
    """``os.walk`` of ``root``, deepest first, symlinks not followed (nothing when root is one)."""
    return os.walk(root, topdown=False) if root.is_dir() and not root.is_symlink() else ()


def _is_entry(root: Path, dirpath: str, name: str) -> bool:
    """Whether file ``name`` in ``dirpath`` is named as ``entry_path`` names entries (temp files are not)."""
    key, _, kind = name.partition(".")
    return (Path(dirpath) == root / key[:2] and _KEY_RE.fullmatch(key) is not None
            and _KIND_RE.fullmatch(kind) is not None)


def _kind(root: Path, dirpath: str, name: str) -> str:
    """Which of ``KINDS`` the file ``name`` in ``dirpath`` is."""
    if _is_entry(root, dirpath, name):
        return "llvm"
    top = Path(dirpath).relative_to(root).parts[:1]
    if top in (("numba",), ("vm",)) and not name.startswith(_TEMP_PREFIX):
        return top[0]
    return "other"


def cache_info() -> CacheInfo:
    """Where the cache is, how many files and bytes of each kind it holds, and whether it is used.

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
            try:
                size = os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:  # removed meanwhile by another process
                continue
            count = counts[_kind(root, dirpath, name)]
            count[0] += 1
            count[1] += size
    kinds = {name: CacheKind(files, size) for name, (files, size) in counts.items()}
    return CacheInfo(root, sum(k.files for k in kinds.values()), sum(k.size_bytes for k in kinds.values()),
                     reason is None, reason, **kinds)


def clear_cache() -> int:
    """Remove everything under the cache dir (not the dir itself); return the number of files removed.

    Example: ``clear_cache()`` returns 12 for the cache above, then 0. A cache
    dir that is a symlink is not followed, and nothing is removed.
    """
    root = cache_dir()
    removed = 0
    for dirpath, dirnames, filenames in _walk(root):
        for name in filenames:
            try:
                os.unlink(os.path.join(dirpath, name))
                removed += 1
            except FileNotFoundError:
                pass
        for name in dirnames:
            sub = os.path.join(dirpath, name)
            try:
                if os.path.islink(sub):
                    os.unlink(sub)
                else:
                    os.rmdir(sub)
            except OSError:  # refilled meanwhile by another process
                pass
    return removed
