"""The on-disk cache: round trips, keys, permissions, corruption, concurrency, the command line."""

import contextlib
import errno
import importlib.metadata
import os
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import platformdirs
import pytest

import compiler
from compiler.runtime import cache
from compiler.runtime.cache import CacheWarning

PAYLOAD = b"def f(x):\n    return x\n\x00\xff" * 10
OTHER_UID = 65534  # "nobody"
needs_root = pytest.mark.skipif(os.getuid() != 0, reason="only root can chown a file to another user")


@pytest.fixture(autouse=True)
def root(tmp_path, monkeypatch):
    """A fresh cache dir per test, the cache enabled, and no warning remembered from other tests."""
    path = tmp_path / "cache"
    monkeypatch.setenv("COMPILER_CACHE_DIR", str(path))
    monkeypatch.delenv("COMPILER_CACHE", raising=False)
    monkeypatch.setattr(cache, "_warned", set())
    cache._environment.cache_clear()
    yield path
    cache._environment.cache_clear()


def stored(part: str = "src", kind: str = "py", payload: bytes = PAYLOAD) -> tuple[str, Path]:
    key = cache.entry_key(part)
    assert cache.store(key, kind, payload) is True
    return key, cache.entry_path(key, kind)


@contextlib.contextmanager
def no_warnings():
    """Any warning inside is an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --- round trip, keys --------------------------------------------------------------------------

def test_round_trip_and_misses(root):
    key, path = stored()
    assert path == root / key[:2] / f"{key}.py"
    assert cache.load(key, "py") == PAYLOAD
    assert cache.load(key, "o") is None                      # another kind of the same key
    assert cache.load(cache.entry_key("other"), "py") is None  # a key never stored
    assert cache.store(key, "o", b"") and cache.load(key, "o") == b""


def test_cache_dir_is_read_from_the_environment_on_every_call(root, tmp_path, monkeypatch):
    assert cache.cache_dir() == root
    monkeypatch.setenv("COMPILER_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert cache.cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("COMPILER_CACHE_DIR")
    assert cache.cache_dir() == Path(platformdirs.user_cache_dir("adjoint-compiler"))


def test_key_parts_cannot_run_together():
    k = cache.entry_key
    assert len(k("a")) == 64 and k("a") == k("a")
    assert k("a") != k("b")
    assert k("ab", "c") != k("a", "bc")
    assert k() != k("")
    assert k("a", "b") != k("b", "a")
    with pytest.raises(TypeError):
        k(1)


@pytest.mark.parametrize("what", ["format", "python", "package", "numpy", "numba", "llvmlite"])
def test_versions_are_part_of_the_key(what, monkeypatch):
    before = cache.entry_key("src")
    if what == "format":
        monkeypatch.setattr(cache, "FORMAT_VERSION", cache.FORMAT_VERSION + 1)
    elif what == "python":
        monkeypatch.setattr(sys, "version", sys.version + " (another build)")
    elif what == "package":
        monkeypatch.setattr(compiler._version, "__version__", "999.0")
    else:
        real = importlib.metadata.version
        monkeypatch.setattr(importlib.metadata, "version", lambda d: "999.0" if d == what else real(d))
    cache._environment.cache_clear()
    assert cache.entry_key("src") != before


@pytest.mark.parametrize("key, kind", [("A" * 64, "py"), ("ab", "py"), ("../" + "a" * 61, "py"),
                                       ("a" * 64, ""), ("a" * 64, "py/.."), ("a" * 64, "a.b"),
                                       ("a" * 64, "x" * 17)])
def test_bad_key_or_kind_is_a_value_error(key, kind):
    for call in (lambda: cache.entry_path(key, kind), lambda: cache.load(key, kind),
                 lambda: cache.store(key, kind, b"x")):
        with pytest.raises(ValueError):
            call()


# --- permissions ---------------------------------------------------------------------------------

def test_directories_are_user_only(root):
    _, path = stored()
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    sub = cache.ensure_dir("numba")
    assert sub == root / "numba" and stat.S_IMODE(os.stat(sub).st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_entry_writable_by_others_is_ignored(mode):
    key, path = stored()
    os.chmod(path, 0o644)  # readable by others is fine
    assert cache.load(key, "py") == PAYLOAD
    os.chmod(path, mode)
    with pytest.warns(CacheWarning, match="writable by group or others"):
        assert cache.load(key, "py") is None


def test_entry_that_is_a_symlink_is_ignored():
    _, target = stored("a")                     # a valid entry: following the link would return it
    key = cache.entry_key("b")
    link = cache.entry_path(key, "py")
    link.parent.mkdir(mode=0o700, exist_ok=True)
    link.symlink_to(target)
    with pytest.warns(CacheWarning, match="symlink"):
        assert cache.load(key, "py") is None


def test_entry_that_is_a_fifo_is_ignored_without_blocking():
    key = cache.entry_key("src")
    path = cache.entry_path(key, "py")
    path.parent.mkdir(parents=True, mode=0o700)
    os.mkfifo(path, 0o600)  # opening a FIFO for reading blocks until a writer comes, unless O_NONBLOCK
    with pytest.warns(CacheWarning, match="not a regular file"):
        assert cache.load(key, "py") is None


@needs_root
def test_entry_owned_by_another_user_is_ignored():
    key, path = stored()
    os.chmod(path, 0o644)  # readable, so the owner check (not the open) is what refuses it
    os.chown(path, OTHER_UID, -1)
    with pytest.warns(CacheWarning, match="owned by uid"):
        assert cache.load(key, "py") is None


def test_entry_warning_is_given_once(recwarn):
    key, path = stored()
    os.chmod(path, 0o666)
    for _ in range(3):
        assert cache.load(key, "py") is None
    assert len([w for w in recwarn if w.category is CacheWarning]) == 1


def unusable_by_mode(root, tmp_path):
    root.mkdir(mode=0o700)
    os.chmod(root, 0o777)


def unusable_by_symlink(root, tmp_path):
    (tmp_path / "real").mkdir(mode=0o700)
    root.symlink_to(tmp_path / "real")


def unusable_by_owner(root, tmp_path):
    if os.getuid() != 0:
        pytest.skip("only root can chown a directory to another user")
    root.mkdir(mode=0o700)
    os.chown(root, OTHER_UID, -1)


@pytest.mark.parametrize("make, reason", [(unusable_by_mode, "writable by group or others"),
                                          (unusable_by_symlink, "symlink"),
                                          (unusable_by_owner, "owned by uid")])
def test_unsafe_cache_dir_is_never_used(root, tmp_path, recwarn, make, reason):
    make(root, tmp_path)
    key = cache.entry_key("src")
    assert cache.store(key, "py", PAYLOAD) is False
    assert cache.store(key, "py", PAYLOAD) is False
    assert cache.load(key, "py") is None
    assert cache.ensure_dir("numba") is None
    assert not any(p.is_file() for p in root.rglob("*"))   # nothing was written into it
    (warning,) = [w for w in recwarn if w.category is CacheWarning]
    assert str(root) in str(warning.message) and reason in str(warning.message)
    info = cache.cache_info()
    assert not info.usable and reason in info.reason


def test_read_only_cache_dir_loads_but_does_not_store(root, recwarn):
    key, _ = stored("old")
    os.chmod(root, 0o500)
    try:
        try:
            (root / "probe").touch()
            pytest.skip("permission bits are not enforced here (root)")
        except PermissionError:
            pass
        for i in range(3):
            assert cache.store(cache.entry_key(f"new{i}"), "py", PAYLOAD) is False
        assert cache.load(key, "py") == PAYLOAD
        assert cache.ensure_dir("numba") is None
        assert not cache.cache_info().usable
    finally:
        os.chmod(root, 0o700)
    (warning,) = [w for w in recwarn if w.category is CacheWarning]
    assert "not writable" in str(warning.message) and str(root) in str(warning.message)
    assert "in memory only" in str(warning.message)


def test_failed_write_leaves_no_temp_file_and_warns_once(root, monkeypatch, recwarn):
    """A disk that fills up mid-write (this runs as root too, unlike the read-only test)."""
    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(cache.os, "fsync", disk_full)
    key = cache.entry_key("src")
    for _ in range(3):
        assert cache.store(key, "py", PAYLOAD) is False
    assert [p for p in root.rglob("*") if p.is_file()] == []
    (warning,) = [w for w in recwarn if w.category is CacheWarning]
    assert "not writable (No space left on device)" in str(warning.message)
    monkeypatch.undo()
    assert cache.load(key, "py") is None


# --- corruption, atomicity, concurrency -----------------------------------------------------------

CORRUPTIONS = {
    "truncated": lambda data: data[:-5],
    "truncated in header": lambda data: data[:20],
    "empty": lambda data: b"",
    "flipped payload byte": lambda data: data[:-3] + bytes([data[-3] ^ 1]) + data[-2:],
    "flipped digest byte": lambda data: data[:10] + bytes([data[10] ^ 1]) + data[11:],
    "no magic": lambda data: data[len(cache.MAGIC):],
    "wrong magic": lambda data: b"ADJCC\x00\x02\x00" + data[len(cache.MAGIC):],
    "appended byte": lambda data: data + b"\x00",
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_corrupted_entry_is_a_miss_and_deleted(corrupt):
    key, path = stored()
    path.write_bytes(corrupt(path.read_bytes()))
    with no_warnings():
        assert cache.load(key, "py") is None
    assert not path.exists()


def test_store_leaves_no_temp_files():
    key, path = stored()
    assert cache.store(key, "py", PAYLOAD + b"more")  # replacing an entry
    assert os.listdir(path.parent) == [path.name]
    assert cache.load(key, "py") == PAYLOAD + b"more"


WRITER = """
import sys
from compiler.runtime import cache
key, payload = sys.argv[1], bytes(range(256)) * 256
for _ in range(50):
    assert cache.store(key, "o", payload)
    assert cache.load(key, "o") == payload
"""


def test_concurrent_writers_of_one_key_all_succeed():
    key = cache.entry_key("shared")
    procs = [subprocess.Popen([sys.executable, "-W", "error", "-c", WRITER, key],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()
    assert cache.load(key, "o") == bytes(range(256)) * 256
    assert os.listdir(cache.entry_path(key, "o").parent) == [f"{key}.o"]


def test_temp_file_of_a_killed_writer_is_never_read_and_is_cleared():
    key = cache.entry_key("src")
    sub = cache.entry_path(key, "py").parent
    sub.mkdir(parents=True, mode=0o700)
    (sub / ".tmp-k1ll3d").write_bytes(cache.MAGIC + b"\x01" * 12)  # cut off inside the digest
    assert cache.load(key, "py") is None
    info = cache.cache_info()
    assert info.other == cache.CacheKind(1, len(cache.MAGIC) + 12) and info.llvm.files == 0
    assert info.files == 1 and info.size_bytes == len(cache.MAGIC) + 12
    assert cache.clear_cache() == 1
    assert not (sub / ".tmp-k1ll3d").exists()


# --- switch, info, clear ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["0", "off", "false", "OFF", "no"])
def test_cache_can_be_switched_off(root, monkeypatch, value):
    key, _ = stored()
    monkeypatch.setenv("COMPILER_CACHE", value)
    with no_warnings():
        assert cache.load(key, "py") is None
        assert cache.store(cache.entry_key("new"), "py", PAYLOAD) is False
        assert cache.ensure_dir("numba") is None
    assert cache.cache_info().entries == 1    # nothing was added
    assert "COMPILER_CACHE" in cache.cache_info().reason
    monkeypatch.setenv("COMPILER_CACHE", "1")
    assert cache.load(key, "py") == PAYLOAD


def test_info_and_clear_count_files(root, tmp_path, monkeypatch):
    stored("a")
    stored("b")
    stored("a", kind="o", payload=b"xyz")
    (cache.ensure_dir("numba", "__pycache__") / "gen2_abc.value-18.py311.nbi").write_bytes(b"n" * 100)
    header = len(cache.MAGIC) + 32
    info = cache.cache_info()
    assert (info.path, info.files, info.usable, info.reason) == (root, 4, True, None)
    assert info.size_bytes == 2 * (header + len(PAYLOAD)) + header + 3 + 100
    assert str(info).splitlines()[0] == f"cache at {root}: 4 files, 723 B"
    assert cache.clear_cache() == 4
    assert root.is_dir() and os.listdir(root) == [cache.MARKER]  # the label stays: it is still a cache
    assert cache.clear_cache() == 0
    monkeypatch.setenv("COMPILER_CACHE_DIR", str(tmp_path / "missing"))
    assert cache.clear_cache() == 0


def test_info_counts_what_its_size_counts_by_kind(root):
    """Every file under the cache dir is counted, in the total and in one kind, with its bytes."""
    stored("a", kind="o")
    stored("b", kind="o", payload=b"xyz")
    numba, vm = cache.ensure_dir("numba"), cache.ensure_dir("vm")
    (numba / "__pycache__").mkdir()
    files = {
        numba / "gen2_abc.py": 1000, numba / "__pycache__" / "gen2_abc.value-18.py311.nbi": 200,
        numba / "__pycache__" / "gen2_abc.value-18.py311.1.nbc": 300_000,
        vm / "vm_0123.py": 5000, vm / ".tmp-0123-1.py": 7,             # a cut-off write of the vm module
        root / "ab" / ".tmp-k1ll3d": 11, root / "stray.txt": 13,
    }
    (root / "ab").mkdir(mode=0o700)
    for path, size in files.items():
        path.write_bytes(b"b" * size)
    on_disk = [p for p in root.rglob("*") if p.is_file() and p != root / cache.MARKER]
    info = cache.cache_info()
    assert info.files == info.entries == len(on_disk) == 9
    assert info.size_bytes == sum(p.stat().st_size for p in on_disk)
    header = len(cache.MAGIC) + 32
    assert info.llvm == cache.CacheKind(2, 2 * header + len(PAYLOAD) + 3)
    assert info.numba == cache.CacheKind(3, 301_200)
    assert info.vm == cache.CacheKind(1, 5000)
    assert info.other == cache.CacheKind(3, 7 + 11 + 13)
    assert sum(getattr(info, kind).files for kind in cache.KINDS) == info.files
    lines = str(info).splitlines()
    assert lines[0] == f"cache at {root}: 9 files, 306.6 kB"
    assert [line.split()[:3] for line in lines[1:]] == [
        ["llvm", "2", "files"], ["numba", "3", "files"], ["vm", "1", "file"], ["other", "3", "files"]]
    assert "301.2 kB  generated modules" in lines[2] and "5.0 kB  the vm interpreter" in lines[3]


def test_info_of_an_empty_cache_names_the_kinds_without_other(root):
    lines = str(cache.cache_info()).splitlines()
    assert lines[0] == f"cache at {root}: 0 files, 0 B"
    assert [line.split()[0] for line in lines[1:]] == ["llvm", "numba", "vm"]


def test_clear_does_not_follow_symlinks(root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"k")
    stored()
    (root / "link").symlink_to(outside)
    (root / "numba").mkdir(mode=0o700)
    (root / "numba" / "__pycache__").symlink_to(outside)  # a folder of the cache's name, as a link
    assert cache.clear_cache() == 1
    assert (outside / "keep").exists() and sorted(os.listdir(root)) == [cache.MARKER, "link", "numba"]


def test_ensure_dir_takes_one_plain_name():
    for bad in ["", ".", "..", "../x", "a/b", "/abs"]:
        with pytest.raises(ValueError):
            cache.ensure_dir(bad)


# --- command line --------------------------------------------------------------------------------

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compiler", *args], capture_output=True, text=True,
                          timeout=60)


def test_cli_info_and_clear(root):
    key, _ = stored("a")
    stored("b")
    info = run_cli("cache", "info")
    assert info.returncode == 0, info.stderr
    assert f"cache at {root}: 2 files" in info.stdout
    assert [line.split()[:3] for line in info.stdout.splitlines()[1:]] == [
        ["llvm", "2", "files"], ["numba", "0", "files"], ["vm", "0", "files"]]
    clear = run_cli("cache", "clear")
    assert clear.returncode == 0, clear.stderr
    assert "removed 2 files" in clear.stdout
    assert cache.load(key, "py") is None


def test_cli_help_and_usage_errors():
    assert run_cli().returncode == 2
    for args in (["--help"], ["cache", "--help"], ["cache", "info", "--help"], ["cache", "clear", "--help"]):
        assert run_cli(*args).returncode == 0, args


def test_cli_main_in_process(monkeypatch, capsys):
    from compiler.__main__ import main
    monkeypatch.setenv("COMPILER_CACHE", "off")
    assert main(["cache", "info"]) == 0
    assert "not used: disabled by COMPILER_CACHE" in capsys.readouterr().out
    assert main(["cache"]) == 2
    assert "info" in capsys.readouterr().err


def test_cli_clear_reports_a_failure(monkeypatch, capsys):
    from compiler.__main__ import main

    def denied():
        raise PermissionError(errno.EACCES, "Permission denied")
    monkeypatch.setattr(cache, "clear_cache", denied)
    assert main(["cache", "clear"]) == 1
    assert "cannot clear the cache" in capsys.readouterr().err
