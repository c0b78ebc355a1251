"""Hardening (issue 17): each test reproduces one finding, as an attacker or a careless user
would meet it, and checks the behaviour the README's *Guarantees* promise.

Subprocesses are used where the finding is about processes (exit, fork, orphans, a
working directory, a fresh process reading the disk cache); everything else runs here,
with the python backend or the interpreter where compiling is not the point.
"""

from __future__ import annotations

import gc
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import weakref

import numpy as np
import pytest

import compiler as cc
from compiler.runtime import cache, code, interpreter, numba_cache

x, y = cc.symbols("x y")


def run_python(script: str, *, timeout: float = 120, cwd=None, env=None) -> subprocess.CompletedProcess:
    """``script`` run by a fresh interpreter from a file (so the working directory is not on
    its path), with this test's environment plus ``env``."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "script.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(script))
        return subprocess.run([sys.executable, path], capture_output=True, text=True, timeout=timeout,
                              cwd=cwd, env={**os.environ, **(env or {})})


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie nobody reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False


# --- 1. threads compiling functions of identical source -------------------------------------------

THREADS_COMPILING = """
    import sys, threading
    import numpy as np
    import compiler as cc
    x, y = cc.symbols("x y")
    errors, X = [], np.linspace(0.0, 1.0, 4)

    def work(k, barrier):
        try:
            barrier.wait()
            fn = cc.compile(cc.sin(x) * y + k * x ** 2 + 0.5, [x, y], backend=sys.argv[1])
            v, (gx, gy) = fn.value_and_grad(X, 2.0)
            assert np.allclose(v, np.sin(X) * 2.0 + k * X ** 2 + 0.5, rtol=1e-14, atol=0)
            assert np.allclose(gx, np.cos(X) * 2.0 + 2 * k * X, rtol=1e-14, atol=0)
        except Exception as e:
            errors.append(repr(e))
    for k in range(int(sys.argv[2])):
        barrier = threading.Barrier(8)
        threads = [threading.Thread(target=work, args=(k + 0.125, barrier)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    print(errors)
"""


@pytest.mark.parametrize("backend, rounds", [("python", 3), ("numba", 1)])
def test_threads_compiling_identical_sources_share_one_module_safely(backend, rounds, tmp_path):
    """Before: functions of one source shared a namespace but each had its own lock
    (AttributeError 'signatures', 'compilation disabled', NameError 'numba'). A fresh process:
    the first module's header imports Numba, which leaves the others a long window."""
    script = tmp_path / "threads.py"
    script.write_text(textwrap.dedent(THREADS_COMPILING))
    result = subprocess.run([sys.executable, str(script), backend, str(rounds)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- 2. no path from the public API evaluates text -------------------------------------------------

SENTINEL = os.path.join(tempfile.gettempdir(), f"compiler-hardening-{os.getpid()}")
HOSTILE = f"__import__('os').system('touch {SENTINEL}') + x"
_EVENTS: list = []
_WATCHING: list = []


def _audit(event, args):  # audit hooks cannot be removed: this one records only while a test watches
    if _WATCHING and event in ("exec", "compile", "os.system", "subprocess.Popen", "os.posix_spawn"):
        _EVENTS.append(event)


sys.addaudithook(_audit)


def test_from_sympy_refuses_text():
    """Before: it passed non-SymPy input to sympify, which runs it."""
    if os.path.exists(SENTINEL):
        os.unlink(SENTINEL)
    with pytest.raises(TypeError, match="cc.parse"):
        cc.from_sympy(HOSTILE)
    assert not os.path.exists(SENTINEL)
    assert cc.from_sympy(3).value == 3.0  # numbers are still numbers


def _attacks():
    fn = cc.compile(x * y, [x, y], backend="python")
    W = cc.Tensor("W", (2,))
    tfn = cc.compile(cc.sum(W * W), [W], backend="python")
    fn.grad(1.0, 1.0), fn(np.ones(2), 1.0), tfn(np.ones(2))  # its code made before the hook watches
    return {
        "from_sympy": lambda: cc.from_sympy(HOSTILE), "to_sympy": lambda: cc.to_sympy(HOSTILE),
        "compile": lambda: cc.compile(HOSTILE, [x]), "inputs": lambda: cc.compile(x, [HOSTILE]),
        "wrt": lambda: cc.compile(x, [x], wrt=[HOSTILE]), "operator": lambda: x + HOSTILE,
        "reflected": lambda: HOSTILE * x, "function": lambda: cc.sin(HOSTILE),
        "where": lambda: cc.where(x > 0, HOSTILE, x), "Value": lambda: cc.Value(HOSTILE) + 1.0,
        "call": lambda: fn(HOSTILE, 1.0), "grad": lambda: fn.grad(1.0, [HOSTILE]),
        "tensor call": lambda: tfn(HOSTILE), "gradcheck": lambda: cc.gradcheck(fn, HOSTILE, 1.0),
        "parse symbols": lambda: cc.parse("a + x", symbols={"a": HOSTILE}),
        "Symbol": lambda: cc.Symbol(HOSTILE) ** HOSTILE,
    }


@pytest.mark.parametrize("name", sorted(_attacks()))
def test_no_public_api_evaluates_text(name):
    """An audit hook sees no exec, compile or process start while hostile text goes through the API."""
    import sympy  # noqa: F401 - imported before watching: SymPy's own imports are not the point
    attack = _attacks()[name]
    if os.path.exists(SENTINEL):  # (left by an earlier failure)
        os.unlink(SENTINEL)
    _EVENTS.clear()
    _WATCHING.append(True)
    try:
        with pytest.raises((TypeError, ValueError)):
            attack()
    finally:
        _WATCHING.pop()
    assert _EVENTS == [] and not os.path.exists(SENTINEL)


def test_the_sympy_bridge_never_evaluates_text():
    import ast

    from compiler.frontend import sympy_bridge
    with open(sympy_bridge.__file__, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not names & {"sympify", "parse_expr", "eval", "exec", "literal_eval"}


# --- 3. read-only and masked arrays ----------------------------------------------------------------

SCALAR_BACKENDS = ["auto", "python", "numba", "llvm", "vm"]


@pytest.fixture(scope="module")
def scalar_fns():
    """One function per backend (compiled on first use, shared by the tests of this module)."""
    expr = cc.sin(x) * y + x ** 2 + 0.375
    return {b: cc.compile(expr, [x, y], backend=b) for b in SCALAR_BACKENDS}


def _read_only_arrays(tmp_path, values):
    flagged = values.copy()
    flagged.setflags(write=False)
    path = tmp_path / "points.f8"
    values.tofile(path)
    return {"setflags": flagged, "frombuffer": np.frombuffer(values.tobytes()),
            "memmap": np.memmap(path, dtype=np.float64, mode="r", shape=values.shape),
            "broadcast_to": np.broadcast_to(values[:1], values.shape)}


@pytest.mark.parametrize("backend", SCALAR_BACKENDS)
def test_read_only_arrays_in_every_backend(scalar_fns, backend, tmp_path):
    """Before: every compiled backend failed with Numba's 'No matching definition ... readonly array'."""
    fn = scalar_fns[backend]
    if backend == "auto":
        fn.wait()  # the compiled code, not the interpreter, is the point
    values = np.linspace(-1.0, 1.0, 7)
    for kind, ro in _read_only_arrays(tmp_path, values).items():
        plain = np.array(ro)
        v, (gx, _) = fn.value_and_grad(ro, ro)
        want_v, (want_gx, _) = fn.value_and_grad(plain, plain)
        np.testing.assert_array_equal(v, want_v, err_msg=kind)
        np.testing.assert_array_equal(gx, want_gx, err_msg=kind)
        np.testing.assert_array_equal(fn(ro, 2.0), fn(plain, 2.0), err_msg=kind)
        assert not ro.flags.writeable


@pytest.mark.parametrize("backend", ["numba", "auto", "python"])
def test_read_only_arrays_of_tensor_functions(backend, tmp_path):
    """Before: tensor functions under auto worked interpreted, then failed once compiled."""
    W = cc.Tensor("W", (2, 3))
    fn = cc.compile(cc.sum(cc.tanh(W) * W) + 0.25, [W], backend=backend)
    if backend == "auto":
        fn.wait()
    point = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
    batch = np.stack([point, 2 * point, -point])
    for ro in (np.frombuffer(point.tobytes()).reshape(2, 3), np.broadcast_to(point[:1], (2, 3))):
        v, g = fn.value_and_grad(ro)
        want_v, want_g = fn.value_and_grad(np.array(ro))
        assert v == want_v
        np.testing.assert_array_equal(g, want_g)
    ro = batch.copy()
    ro.setflags(write=False)
    np.testing.assert_array_equal(fn(ro), fn(batch))


def test_masked_arrays_are_refused_with_a_clear_error(scalar_fns):
    """Before: NumbaTypeError, or the mask silently dropped."""
    masked = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    with pytest.raises(cc.ArgumentError, match=r"'x' \(position 1\) is a masked array.*filled"):
        scalar_fns["python"](masked, 1.0)
    W = cc.Tensor("W", (2,))
    with pytest.raises(cc.ArgumentError, match="masked array"):
        cc.compile(cc.sum(W), [W], backend="python")(masked)


# --- 4. exit never waits for a compile process ------------------------------------------------------

def test_exit_stops_a_compile_child_started_after_the_exit_handler_ran():
    """Before: the exit handler took its list of children before the compile thread started
    its child, so the process waited for the whole compile (minutes for big functions; here
    a child that sleeps two minutes: the run times out)."""
    result = run_python("""
        import subprocess, sys, threading, time
        import compiler as cc
        starting = threading.Event()

        class SlowStart(subprocess.Popen):  # the exit handler runs while the child is being started
            def __init__(self, args, **kwargs):
                starting.set()
                time.sleep(1.0)
                super().__init__([sys.executable, "-c", "import time; time.sleep(120)"], **kwargs)

        subprocess.Popen = SlowStart
        x, y = cc.symbols("x y")
        fn = cc.compile(cc.sin(x) * y + 1.5 * x, [x, y], backend="numba")
        fn._tiers.compile_in_background("value")
        assert starting.wait(30)  # and the script ends: its exit must stop the child, not wait for it
    """, timeout=60)
    assert result.returncode == 0, result.stderr


# --- 5. cache clear touches only the cache's files ---------------------------------------------------

def test_cache_clear_refuses_a_folder_that_is_not_a_cache(tmp_path, monkeypatch):
    """Before: ``COMPILER_CACHE_DIR=. python -m compiler cache clear`` deleted the project."""
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "README").write_text("keep me")
    (project / "src" / "main.py").write_text("print('keep me')")
    os.chmod(project, 0o700)
    cli = subprocess.run([sys.executable, "-m", "compiler", "cache", "clear"], cwd=project, capture_output=True,
                         text=True, timeout=60, env={**os.environ, "COMPILER_CACHE_DIR": "."})
    assert cli.returncode == 1 and "does not look like a compiler cache" in cli.stderr
    assert "README" in cli.stderr and (project / "README").exists() and (project / "src" / "main.py").exists()

    monkeypatch.setenv("COMPILER_CACHE_DIR", str(project))
    with pytest.raises(cc.CacheError, match="CACHEDIR.TAG"):
        cc.clear_cache()
    # once the library used the folder (and labelled it), clear removes its files and only them
    key = cache.entry_key("hardening clear")
    assert cache.store(key, "o", b"object code")
    (project / "numba").mkdir(mode=0o700)
    (project / "numba" / "notes.txt").write_text("mine")
    assert cc.clear_cache() == 1
    assert sorted(p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()) == [
        "CACHEDIR.TAG", "README", "numba/notes.txt", "src/main.py"]


def test_cache_clear_refuses_a_folder_the_cache_refuses_to_use(tmp_path, monkeypatch):
    """Before: a world-writable folder the library ignores was emptied anyway."""
    shared = tmp_path / "shared"
    shared.mkdir()
    entry = shared / "ab" / ("ab" + "0" * 62 + ".o")
    entry.parent.mkdir()
    entry.write_bytes(b"someone's")
    os.chmod(shared, 0o777)
    monkeypatch.setenv("COMPILER_CACHE_DIR", str(shared))
    with pytest.raises(cc.CacheError, match="writable by group or others"):
        cc.clear_cache()
    assert entry.exists()


# --- 6, 12. Numba's cache files: verified, rebuilt, and found --------------------------------------

def test_corrupted_numba_cache_files_are_deleted_and_rebuilt(tmp_path, monkeypatch):
    """Before: a truncated or zeroed .nbi/.nbc made every later process fail (UnpicklingError,
    EOFError, LLVM bitcode parsing error), and the files stayed."""
    monkeypatch.setenv("COMPILER_CACHE_DIR", str(tmp_path / "cache"))
    expr_text = "cc.tanh(x) * y + 2.625 * x"
    fn = cc.compile(eval(expr_text), [x, y], backend="numba")  # noqa: S307 - the test's own text
    fn.wait()
    folder = tmp_path / "cache" / "numba" / "__pycache__"
    (index,) = folder.glob("*.value-*.nbi")
    (data,) = folder.glob("*.value_and_grad-*.nbc")
    index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])
    data.write_bytes(b"\0" * data.stat().st_size)
    result = run_python(f"""
        import compiler as cc
        x, y = cc.symbols("x y")
        fn = cc.compile({expr_text}, [x, y], backend="numba").wait()
        print(repr(fn(0.5, 2.0)), repr(fn.grad(0.5, 2.0)[0]))
    """)
    assert result.returncode == 0, result.stderr
    value, dx = map(float, result.stdout.split())
    assert value == pytest.approx(math.tanh(0.5) * 2 + 1.3125, rel=1e-14)
    assert dx == pytest.approx((1 - math.tanh(0.5) ** 2) * 2 + 2.625, rel=1e-14)
    for path in (index, data):  # written again, and verified
        assert cache.read_file(path, path.name) is not None


def test_numba_files_in_the_disk_cache_are_found():
    """Before: the warm cache was looked for in numba/ while Numba writes numba/__pycache__/, so
    every process started a compile child even when the code was cached."""
    expr = cc.exp(-x * y) + 3.125 * y
    fn = cc.compile(expr, [x, y], backend="numba", simd=False)  # Numba's batch loop, not the vector kernel
    assert not fn._code.in_disk_cache("value")
    fn.wait()
    fn.value_and_grad(np.ones(3), 1.0)
    again = cc.compile(expr, [x, y], backend="numba", simd=False)
    assert again._code.in_disk_cache("value") and again._code.in_disk_cache("value_and_grad", batch=True)


# --- 7. a full disk ----------------------------------------------------------------------------------

def test_a_full_disk_compiles_in_memory_with_one_warning(tmp_path):
    """Before: fn.wait() and batches raised OSError from Numba's cache code and left .tmp files.
    Here every file beyond 10 kB fails to be written, as on a nearly full disk."""
    folder = tmp_path / "cache"
    result = run_python("""
        import resource, signal, warnings
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write beyond the limit fails (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        import numpy as np
        import compiler as cc
        x, y = cc.symbols("x y")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fn = cc.compile(cc.tanh(x) * y + 7.25 * x, [x, y], backend="numba").wait()
            v, (gx, gy) = fn.value_and_grad(np.linspace(0.0, 1.0, 5), 2.0)
        assert abs(v[-1] - (np.tanh(1.0) * 2.0 + 7.25)) < 1e-12, v
        print(sum(issubclass(w.category, cc.CacheWarning) for w in caught))
    """, env={"COMPILER_CACHE_DIR": str(folder)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1"]
    leftovers = [p.name for p in folder.rglob("*") if ".tmp" in p.name]
    assert leftovers == []


# --- 8. the cache dir: removed under a live process, or given relative --------------------------------

def test_clearing_the_cache_under_a_live_process(tmp_path, monkeypatch):
    """Before: 'cannot cache function ...: no locator available' for every Numba function made after."""
    monkeypatch.setenv("COMPILER_CACHE_DIR", str(tmp_path / "cache"))
    fn = cc.compile(cc.cos(x) * y + 4.5 * y, [x, y], backend="numba")
    assert fn(0.0, 2.0) == 11.0
    assert cc.clear_cache() > 0
    _, (_, gy) = fn.value_and_grad(np.zeros(3), 2.0)  # another kernel and a batch loop, compiled now
    np.testing.assert_array_equal(gy, np.full(3, 5.5))
    other = cc.compile(cc.cos(x) * y + 5.5 * y, [x, y], backend="numba").wait()
    assert other(0.0, 1.0) == 6.5
    assert any((tmp_path / "cache" / "numba" / "__pycache__").glob("*.nbi"))  # cached again


def test_a_relative_cache_dir_is_resolved_once(tmp_path, monkeypatch):
    """Before: a relative COMPILER_CACHE_DIR followed the working directory (and split in two)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COMPILER_CACHE_DIR", f"relative-{tmp_path.name}")
    root = cache.cache_dir()
    assert root == tmp_path / f"relative-{tmp_path.name}" and root.is_absolute()
    key = cache.entry_key("relative")
    assert cache.store(key, "o", b"data")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert cache.cache_dir() == root and cache.load(key, "o") == b"data"


# --- 9. the compile child imports this package, not the working directory's ---------------------------

def test_the_compile_child_ignores_a_compiler_folder_in_the_working_directory(tmp_path, monkeypatch):
    """Before: the child ran `python -m ...` with the working directory first on sys.path."""
    sentinel = tmp_path / "decoy-was-imported"
    decoy = tmp_path / "compiler"
    decoy.mkdir()
    (decoy / "__init__.py").write_text(f"open({str(sentinel)!r}, 'w').close()\nraise ImportError('decoy')\n")
    monkeypatch.chdir(tmp_path)
    fn = cc.compile(cc.sin(x) * y + 9.875 * x, [x, y], backend="numba")
    assert fn._tiers._compile_in_subprocess("value") is True
    assert not sentinel.exists()
    assert fn._code.in_disk_cache("value")


# --- 10. fork while a thread compiles -----------------------------------------------------------------

def test_fork_during_a_threaded_compile():
    """Before: the child hung in fn.wait() on locks held by the parent's compiling thread."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    result = run_python("""
        import os, signal, sys, threading, time
        import compiler as cc
        n = 16
        xs = cc.symbols(f"x0:{n}")
        expr = sum(cc.sin(xs[i]) * cc.exp(xs[(i + 1) % n] * xs[(i + 2) % n]) for i in range(n))
        point = [0.01 * i for i in range(n)]
        want = cc.compile(expr, list(xs), backend="python")(*point)
        fn = cc.compile(expr, list(xs), backend="numba")
        compiling = threading.Thread(target=fn.wait)
        compiling.start()
        time.sleep(0.3)  # (a first Numba compile takes a second or more: Numba loads its registries)
        assert compiling.is_alive(), "the compile ended before the fork"
        pid = os.fork()
        if pid == 0:
            signal.alarm(60)  # a hang fails the test instead of stalling it
            try:
                ok = abs(fn.wait()(*point) - want) <= 1e-12 * abs(want)
            except BaseException:
                ok = False
            os._exit(0 if ok else 1)
        compiling.join()
        _, status = os.waitpid(pid, 0)
        print(status)
    """, env={"COMPILER_CACHE": "0"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0"]


# --- 11. long symbol names ------------------------------------------------------------------------------

def test_long_symbol_names_compile_and_save(tmp_path):
    """Before: names over ~1,020 characters broke Numba ('redefinition of argument')."""
    a, b = cc.Symbol("a" * 2000), cc.Symbol("a" * 1999 + "b")  # alike up to the last character
    fn = cc.compile(cc.sin(a) * b + a * a, [a, b], backend="numba")
    value, (da, db) = fn.value_and_grad(0.5, 2.0)
    assert (value, da, db) == pytest.approx((math.sin(0.5) * 2 + 0.25, math.cos(0.5) * 2 + 1.0, math.sin(0.5)),
                                            rel=1e-14)
    code_text = re.sub(r"#.*", "", fn.source.split('"""', 2)[2])  # (comments keep the names, escaped)
    assert max(map(len, re.findall(r"[A-Za-z_]\w*", code_text))) <= 70
    path = fn.save(tmp_path / "long_names.py")  # what `python -m compiler show ... -o` writes
    import importlib.util
    spec = importlib.util.spec_from_file_location("long_names", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.value_and_grad(0.5, 2.0)[0] == pytest.approx(math.sin(0.5) * 2 + 0.25, rel=1e-14)


# --- 13. cache entries are bound to their key ----------------------------------------------------------

def test_an_entry_copied_over_another_does_not_load(tmp_path, monkeypatch):
    """Before: the SHA-256 covered only the payload: B's valid entry under A's name gave B's code."""
    monkeypatch.setenv("COMPILER_CACHE_DIR", str(tmp_path / "cache"))
    a, b = cache.entry_key("function A"), cache.entry_key("function B")
    assert cache.store(a, "o", b"code of A") and cache.store(b, "o", b"code of B")
    shutil.copyfile(cache.entry_path(b, "o"), cache.entry_path(a, "o"))
    assert cache.load(a, "o") is None and not cache.entry_path(a, "o").exists()
    assert cache.load(b, "o") == b"code of B"


def test_swapped_llvm_entries_are_recompiled(tmp_path, monkeypatch):
    """Before: value and gradient object code swapped gave a zero gradient (or wrote past buffers)."""
    monkeypatch.setenv("COMPILER_CACHE_DIR", str(tmp_path / "cache"))
    expr = cc.sin(x) * y + 6.5 * x
    fn = cc.compile(expr, [x, y], backend="llvm")
    fn(0.5, 2.0), fn.value_and_grad(0.5, 2.0)
    first, second = sorted((tmp_path / "cache").glob("??/*.o"))
    data = first.read_bytes()
    first.write_bytes(second.read_bytes())
    second.write_bytes(data)
    again = cc.compile(expr, [x, y], backend="llvm")
    value, (dx, dy) = again.value_and_grad(0.5, 2.0)
    assert (value, dx, dy) == pytest.approx((math.sin(0.5) * 2 + 3.25, math.cos(0.5) * 2 + 6.5, math.sin(0.5)),
                                            rel=1e-14)
    assert again(0.5, 2.0) == pytest.approx(math.sin(0.5) * 2 + 3.25, rel=1e-14)


# --- 14. the compile child stops when its parent dies -----------------------------------------------------

def test_a_compile_child_stops_when_its_parent_is_killed():
    """Before: after SIGKILL of the parent the child compiled on as an orphan (~20 s)."""
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import os, signal, time
        import compiler as cc
        from compiler.runtime import tiers
        n = 100
        xs = cc.symbols(f"x0:{n}")
        expr = sum(cc.sin(xs[i]) * cc.exp(xs[(i + 1) % n] * xs[(i + 2) % n]) + 0.75 for i in range(n))
        fn = cc.compile(expr, list(xs), backend="numba")
        fn._tiers.compile_in_background("value_and_grad")
        while not tiers._children:
            time.sleep(0.01)
        print(next(iter(tiers._children)).pid, flush=True)
        time.sleep(1.5)  # the child is importing, or compiling
        os.kill(os.getpid(), signal.SIGKILL)
    """)], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.wait(timeout=60)
    deadline = time.monotonic() + 5.0
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    gone = not alive(child)
    if not gone:
        os.kill(child, 9)
    assert gone


# --- 15. memory of compiled functions ---------------------------------------------------------------

def test_a_dropped_function_releases_its_numba_dispatchers(monkeypatch):
    """Before: the dispatchers outlived `del fn` (a cycle through the array hook and the module)."""
    monkeypatch.setattr(code, "KEPT_MODULES", 0, raising=False)
    fn = cc.compile(cc.sin(x) * y + 8.125 * x, [x, y], backend="numba")
    fn.value_and_grad(np.linspace(0.0, 1.0, 8), 2.0)
    fn.value_and_grad(0.5, 2.0)
    name = fn._code.load("value_and_grad")["__name__"]  # the generated module
    refs = [weakref.ref(fn._code.load("value_and_grad")["value_and_grad"]),
            weakref.ref(fn._code.batch_driver("value_and_grad"))]
    del fn
    gc.collect()
    assert [r() for r in refs] == [None, None] and name not in sys.modules


def test_a_function_compiled_again_reuses_its_machine_code():
    """Numba never frees machine code: the same function made again must not add another copy."""
    def make():
        return cc.compile(cc.sin(x) * y + 8.875 * x, [x, y], backend="numba").wait()
    fn = make()
    kernel = weakref.ref(fn._code.load("value")["value"])
    del fn
    gc.collect()
    assert make()._code.load("value")["value"] is kernel()


# --- 16. a 1 MB expression text ---------------------------------------------------------------------

def test_a_megabyte_of_terms_is_refused_at_once():
    """Before: 26 s and 709 MB to parse "x+x+...+x" (1 MB)."""
    start = time.perf_counter()
    with pytest.raises(cc.ParseError, match="MAX_TERMS = 200,000"):
        cc.parse("x+" * 499_999 + "x")
    assert time.perf_counter() - start < 2.0


# --- 17. the vm without a cache ------------------------------------------------------------------------

def test_the_vm_without_a_cache_leaves_no_temporary_folder(tmp_path, monkeypatch):
    """Before: a /tmp/compiler-vm-* folder per process."""
    from numba.core.caching import NullCache
    source = interpreter.interpreter_source()
    import hashlib
    name = f"compiler_vm_{hashlib.sha256(source.encode()).hexdigest()[:16]}"
    if name in sys.modules:
        monkeypatch.setitem(sys.modules, name, sys.modules[name])  # put back afterwards
    monkeypatch.setattr(interpreter, "_module", None)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("COMPILER_CACHE", "0")
    module = interpreter.interpreter()
    assert list(tmp_path.iterdir()) == []
    assert isinstance(module.batch._cache, NullCache) and isinstance(module.run._cache, NullCache)


def test_the_vm_interpreter_uses_the_verified_cache(scalar_fns):
    module = interpreter.interpreter()
    assert isinstance(module.batch._cache, numba_cache.VerifiedCache)


# --- 18. argument edge cases ------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", SCALAR_BACKENDS)
def test_an_int_beyond_float_range_is_an_argument_error(scalar_fns, backend):
    """Before: OverflowError from the depths."""
    fn = scalar_fns[backend]
    for call in (lambda: fn(10 ** 400, 1.0), lambda: fn.grad(1.0, -10 ** 400),
                 lambda: fn(np.ones(2), 10 ** 400), lambda: fn([10 ** 400, 1], 1.0)):
        with pytest.raises(cc.ArgumentError, match="beyond float64 range"):
            call()
    W = cc.Tensor("W", (2,))
    with pytest.raises(cc.ArgumentError, match="beyond float64 range"):
        cc.compile(cc.sum(W) * x, [W, x], backend="python")(np.ones(2), 10 ** 400)


def test_a_boolean_in_arithmetic_says_it_is_a_condition():
    with pytest.raises(TypeError, match="the boolean True is used as a number in add; booleans and "
                                        "comparisons are conditions"):
        x + True


@pytest.mark.parametrize("backend", SCALAR_BACKENDS)
def test_square_root_by_pow_follows_c_pow_as_numpy_scalars_do(backend):
    """README: x ** 0.5 at -inf and -0.0 is C's pow (inf, 0.0), as NumPy scalars give; cc.sqrt is sqrt."""
    fn = cc.compile(x ** 0.5, [x], backend=backend)
    assert [fn(v) for v in (-math.inf, -0.0)] == [math.inf, 0.0]
    assert math.copysign(1.0, fn(-0.0)) == 1.0
    assert [float(np.float64(v) ** 0.5) for v in (-math.inf, -0.0)] == [math.inf, 0.0]
