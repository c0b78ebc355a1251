"""Persistent on-disk cache of compiled code, safe to share between processes.

An entry is ``<cache_dir>/<key[:2]>/<key>.<kind>``: a magic header, the sha256
of the entry's name and its payload, then the payload. A corrupted or truncated
entry, or one copied over another's name, is deleted and reads as a miss; an
entry this user does not own, that others can write, or that is a symlink is
ignored, so no unverified or foreign bytes are ever returned. Writes go to a
temporary file that is renamed into place, so readers never see a partial entry
and concurrent writers of one key both succeed. Numba's own files (its cache of
the generated modules) are written and checked the same way (``numba_cache``),
with ``read_file`` and ``write_file``.

Where it lives: ``$COMPILER_CACHE_DIR`` if set (a relative path is resolved once,
against the working directory of the first use), else the user cache directory
(``~/.cache/adjoint-compiler`` on Linux). ``COMPILER_CACHE=0`` (or ``off``,
``false``, ``no``) turns it off. A directory that is not private to this user
(other owner, group/other writable, a symlink) is never used, and a read-only
one is only read; each such problem gives one ``CacheWarning`` per process,
and functions are then compiled in memory only. A directory in use is labelled
with a ``CACHEDIR.TAG`` (the Cache Directory Tagging convention, so backup tools
skip it); ``clear_cache`` removes only the files the cache writes, and refuses a
directory that is not private or that holds other files and no such label.

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
from pathlib import Path

import platformdirs

from .. import _version

__all__ = ["CacheInfo", "CacheKind", "CacheWarning", "cache_dir", "cache_info", "clear_cache", "ensure_dir",
           "entry_key", "entry_path", "load", "read_file", "store", "write_file"]

# bump when the meaning of a payload changes: old entries then never hit (2: digests cover the entry's name)
FORMAT_VERSION = 2
MAGIC = b"ADJCC\x00\x01\x00"
_DIGEST_SIZE = hashlib.sha256().digest_size
_PRIVATE_DIR_MODE = 0o700
_FOREIGN_WRITE_BITS = stat.S_IWGRP | stat.S_IWOTH  # 0o022
_KEY_RE = re.compile(r"[0-9a-f]{64}")
_KIND_RE = re.compile(r"[A-Za-z0-9]{1,16}")
_SUBDIR_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_OFF_VALUES = {"0", "off", "false", "no"}
_TEMP_PREFIX = ".tmp-"
MARKER = "CACHEDIR.TAG"  # the label of a directory the cache uses (https://bford.info/cachedir/)
_MARKER_TEXT = ("Signature: 8a477f597d28d172789f06886806bc55\n"
                "# This file is a cache directory tag created by adjoint-compiler (python -m compiler cache info).\n"
                "# For information about cache directory tags see https://bford.info/cachedir/\n")

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def _fresh_lock_after_fork() -> None:  # a fork while another thread held it: fresh in the child
    global _warned_lock
    _warned_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_lock_after_fork)


class CacheWarning(UserWarning):
    """The cache, or one entry of it, cannot be used safely; compilation goes on without it."""


_resolved: dict[str, Path] = {}  # $COMPILER_CACHE_DIR as given -> the absolute path it meant at first use


def cache_dir() -> Path:
    """The cache directory: ``$COMPILER_CACHE_DIR``, else the platform's user cache dir (not created).

    Always absolute: a relative ``$COMPILER_CACHE_DIR`` is resolved against the working
    directory the first time this process sees that value, so a later ``os.chdir``
    neither moves the cache nor splits it in two.
    """
    given = os.environ.get("COMPILER_CACHE_DIR") or ""
    path = _resolved.get(given)
    if path is None:
        path = Path(os.path.abspath(os.path.expanduser(given or platformdirs.user_cache_dir("adjoint-compiler"))))
        path = _resolved.setdefault(given, path)
    return path


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
    if not os.path.exists(root / MARKER):
        _write_atomic(root / MARKER, _MARKER_TEXT.encode())  # best effort: a read-only cache has none
    return root


def _write_atomic(path: Path, data: bytes) -> str | None:
    """Write ``data`` to ``path`` through a temporary file renamed into place; why not, or None.
    A failed write (a full disk) leaves no temporary file behind."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)  # mode 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: readers see the old file or the new one, whole
        return None
    except OSError as e:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        return e.strerror or str(e)


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
    return read_file(path, path.name) if _root() is not None else None


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
    return write_file(path, path.name, payload)


def _digest(name: str, payload: bytes) -> bytes:
    """What a file's header holds: the sha256 of its name and payload, so that a valid file
    copied over another's name does not verify."""
    return hashlib.sha256(name.encode("utf-8", "surrogateescape") + b"\0" + payload).digest()


def read_file(path: Path | str, name: str) -> bytes | None:
    """The payload of the file at ``path`` written by ``write_file(path, name, ...)``, or None.

    A missing file is None; one that is a symlink, not a regular file, not this user's or
    writable by others is ignored (one ``CacheWarning``); one that does not verify (cut
    off, corrupted, or written under another ``name``) is deleted.
    """
    root = cache_dir()
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
        reason = "not a regular file" if not stat.S_ISREG(st.st_mode) else _foreign(st)  # type: ignore[assignment]
        if reason is not None:
            _warn_once("entry", root, f"compiler cache entry {path} is ignored: it is {reason}")
            return None
        data = f.read()
    header = len(MAGIC) + _DIGEST_SIZE
    payload = data[header:]
    if data[:len(MAGIC)] != MAGIC or data[len(MAGIC):header] != _digest(name, payload):
        discard(path)  # truncated, corrupted or misplaced: it can never verify, so it goes
        return None
    return payload


def write_file(path: Path | str, name: str, payload: bytes) -> bool:
    """Write ``payload`` to ``path`` (in a private directory of the cache) with its header,
    atomically; True when written. A failure (a full disk) leaves no temporary file and
    gives one ``CacheWarning``: the caller goes on without the cache."""
    reason = _write_atomic(Path(path), MAGIC + _digest(name, payload) + payload)
    if reason is not None:
        _not_writable(cache_dir(), reason)
    return reason is None


def write_failed(error: OSError) -> None:
    """Report a write to the cache that failed (one ``CacheWarning`` per process)."""
    _not_writable(cache_dir(), error.strerror or str(error))


def discard(path: Path | str) -> None:
    """Remove a cache file that must not be used (if it is still there)."""
    try:
        os.unlink(path)
    except OSError:
        pass


def ensure_dir(sub: str, *more: str) -> Path | None:
    """A writable user-only subdirectory ``sub`` (then ``more``, one level each) of the cache
    dir, or None when there is none (made again if it was removed meanwhile).

    Example: ``ensure_dir("numba")`` for code that writes its own files there,
    ``ensure_dir("numba", "__pycache__")`` for Numba's files beside them.
    """
    for part in (sub, *more):
        if not isinstance(part, str) or not _SUBDIR_RE.fullmatch(part):
            raise ValueError(f"cache subdirectory must be one plain name, got {part!r:.80}")
    root = _root()
    if root is None:
        return None
    path = root
    for part in (sub, *more):
        path = path / part
        reason = _private_dir(path)
        if reason is None and not os.access(path, os.W_OK):
            reason = f"{path} is read-only"
        if reason is not None:
            _not_writable(root, reason)
            return None
    return path


# What is in the directory (cache_info, clear_cache) lives beside: re-exported here, the API's home.
from .cache_files import KINDS, CacheInfo, CacheKind, cache_info, clear_cache  # noqa: E402,F401
