"""Numba's on-disk cache of the generated modules and of the vm interpreter, kept under the
cache's guarantees.

Numba's own cache pickles an index (``.nbi``) and the compiled code (``.nbc``) beside the
source file and trusts whatever it finds there: a truncated or zeroed file makes every
later process fail, and it needs the source file to exist when a function is compiled
(``cannot cache function ...: no locator available`` once the cache dir was cleared).
``VerifiedCache`` replaces it on the dispatchers the runtime makes:

* files are written and read by ``cache.write_file`` / ``cache.read_file``: atomically,
  with a sha256 header over the file's name and contents, checked before anything is
  unpickled; a file that does not verify (or that Numba cannot rebuild) is deleted and
  the function is compiled again;
* where they go does not depend on the source file: ``<dir of the module>/__pycache__``,
  made (user-only) again when it was removed; the source stamp is the module's file name,
  which holds the hash of its text;
* a write that fails (a full disk) gives one ``CacheWarning`` and the compiled code is
  kept in memory only.
"""

from __future__ import annotations

import glob
import os
import pickle
import sys

import numba
from numba.core.caching import (
    CompileResultCacheImpl,
    FunctionCache,
    IndexDataCacheFile,
    NullCache,
    _CacheLocator,
)

from . import cache, forks

PYCACHE = "__pycache__"
forks.ensure_registered()  # Numba compiles in this process from now on: a fork waits for them


class _Skip(OSError):
    """No cache folder to write to (the cache became unusable): the code stays in memory."""


class _Locator(_CacheLocator):
    """Where Numba's files of a function of a module in the cache dir go: ``__pycache__`` beside it."""

    def __init__(self, py_func, sub: str):
        self._py_file = py_func.__code__.co_filename
        self._lineno = py_func.__code__.co_firstlineno
        self._sub = sub
        self._path = os.path.join(os.path.dirname(self._py_file), PYCACHE)

    def ensure_cache_path(self):
        made = cache.ensure_dir(self._sub, PYCACHE)
        if made is None or str(made) != self._path:  # unusable now, or the cache moved since
            raise _Skip(f"no cache folder at {self._path}")

    def get_cache_path(self):
        return self._path

    def get_source_stamp(self):
        return os.path.basename(self._py_file)

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):  # not used: _Impl makes its locator itself
        return None


class _Impl(CompileResultCacheImpl):
    """Numba's cache of compile results, with ``_Locator`` whatever Numba's configuration says."""

    def __init__(self, py_func, sub: str):
        self._lineno = py_func.__code__.co_firstlineno
        self._locator = _Locator(py_func, sub)
        modname = os.path.splitext(os.path.basename(py_func.__code__.co_filename))[0]
        self._filename_base = self.get_filename_base(f"{modname}.{py_func.__qualname__}",
                                                     getattr(sys, "abiflags", ""))


class _VerifiedFile(IndexDataCacheFile):
    """Numba's index and data files, through ``cache.read_file`` and ``cache.write_file``."""

    def _load_index(self):
        payload = cache.read_file(self._index_path, self._index_name)
        if payload is None:
            return {}
        try:
            version, stamp, overloads = pickle.loads(payload)  # noqa: S301 - verified, written by us
        except Exception:  # verified but unreadable (another Python): of no use
            cache.discard(self._index_path)
            return {}
        if version != self._version or stamp != self._source_stamp:
            return {}
        return overloads

    def _save_index(self, overloads):
        payload = pickle.dumps((self._version, self._source_stamp, overloads), protocol=-1)
        cache.write_file(self._index_path, self._index_name, payload)

    def _load_data(self, name):
        payload = cache.read_file(self._data_path(name), name)
        if payload is None:
            raise FileNotFoundError(name)  # IndexDataCacheFile.load: a miss
        return pickle.loads(payload)  # noqa: S301 - verified, written by us

    def _save_data(self, name, data):
        cache.write_file(self._data_path(name), name, self._dump(data))


class VerifiedCache(FunctionCache):
    """A Numba dispatcher's disk cache under the guarantees of ``cache`` (see the module)."""

    def __init__(self, py_func, sub: str):
        self._name = repr(py_func)
        self._py_func = py_func
        self._impl = _Impl(py_func, sub)
        self._cache_path = self._impl.locator.get_cache_path()
        self._cache_file = _VerifiedFile(cache_path=self._cache_path, filename_base=self._impl.filename_base,
                                         source_stamp=self._impl.locator.get_source_stamp())
        self.enable()

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except Exception:  # verified files Numba cannot rebuild (another LLVM): compile again
            cache.discard(self._cache_file._index_path)
            return None

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except _Skip:
            pass
        except OSError as e:  # cache.write_file reports its own failures; this is anything else
            cache.write_failed(e)


def attach(dispatcher, sub: str | None):
    """Give ``dispatcher`` a ``VerifiedCache`` of the cache folder ``sub`` ("numba", "vm"), or
    no disk cache at all (``sub`` None); returns the dispatcher."""
    dispatcher._cache = VerifiedCache(dispatcher.py_func, sub) if sub is not None else NullCache()
    return dispatcher


def has_index(directory, stem: str, function: str) -> bool:
    """Whether a verified, current index of ``function`` of the module ``stem`` is in
    ``directory/__pycache__`` (the code is in the disk cache: loading it beats compiling)."""
    pattern = os.path.join(glob.escape(os.path.join(str(directory), PYCACHE)), f"{glob.escape(stem)}.{function}-*.nbi")
    for path in glob.glob(pattern):
        payload = cache.read_file(path, os.path.basename(path))
        if payload is None:
            continue
        try:
            version, stamp, overloads = pickle.loads(payload)  # noqa: S301 - verified, written by us
        except Exception:
            continue
        if version == numba.__version__ and stamp == f"{stem}.py" and overloads:
            return True
    return False
