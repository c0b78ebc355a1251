"""``runtime.lazy``: a function compiled before on the llvm target starts from the disk cache
without the reverse pass or the schedule, gives the eager path's results bit for bit, derives
what else is asked for (source, plan, Hessian, batches), never takes another graph's entry, and
falls back to the full compile when an entry is corrupted or gone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import compiler as cc
from compiler.ad import reverse
from compiler.runtime import lazy, llvm_index

x, y, z = cc.symbols("x y z")
POINT = (0.3, -1.2, 2.5)
ROOT = Path(__file__).resolve().parents[1]


def _expr(k: float = 2.0):
    return cc.tanh(x * y + k) * cc.exp(-z * z) + cc.sin(x - z) / (1.0 + y * y)


def _no_reverse_pass(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("ran the reverse pass although the cache holds this function")
    monkeypatch.setattr(reverse, "jacobian", refuse)


# --- a fresh process on a warm cache (the point of it all) ---

_SCRIPT = textwrap.dedent("""
    import json, sys
    import compiler as cc
    from compiler.ad import reverse
    from compiler.bench.graphs import random_graph
    from compiler.runtime import lazy
    calls = []
    jacobian = reverse.jacobian
    reverse.jacobian = lambda *a, **k: calls.append(1) or jacobian(*a, **k)
    out, xs = random_graph(400, seed=7)
    fn = cc.compile(out, xs, backend=sys.argv[1], progress=False)
    point = [0.1 + 0.1 * i for i in range(len(xs))]
    first = fn.value_and_grad(*point)
    tier = fn.tier
    fn.wait()
    after = fn.value_and_grad(*point), fn(*point)
    reverse_passes = len(calls)
    source = fn.source  # derived on demand
    hexed = lambda vg: [vg[0].hex(), [g.hex() for g in vg[1]]]
    print(json.dumps({"hit": fn._lazy.hit, "reverse_passes": reverse_passes, "tier": tier,
                      "first": hexed(first), "after": hexed(after[0]), "value": after[1].hex(),
                      "source": source, "statements": len(fn.plan["value_and_grad"].statements)}))
""")


def _run(backend: str, cache_dir: Path) -> dict:
    env = {**os.environ, "COMPILER_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(ROOT)}
    env.pop("COMPILER_CACHE", None)
    done = subprocess.run([sys.executable, "-c", _SCRIPT, backend], env=env, capture_output=True, text=True,
                          timeout=300, cwd=str(ROOT))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", ["llvm", "auto"])
def test_a_warm_process_answers_from_the_cache_without_the_reverse_pass(tmp_path, backend):
    cold = _run(backend, tmp_path / "cache")
    warm = _run(backend, tmp_path / "cache")
    assert not cold["hit"] and cold["reverse_passes"] == 1
    assert warm["hit"] and warm["reverse_passes"] == 0, "the warm start ran the reverse pass"
    assert warm["tier"] == "llvm"  # under "auto" too: the cached kernel answers the first call
    # bit for bit the cold process's compiled results, from the first call on
    assert warm["first"] == cold["after"] and warm["after"] == cold["after"] and warm["value"] == cold["value"]
    assert warm["source"] == cold["source"] and warm["statements"] == cold["statements"]


# --- in one process: a second function of the same graph is a warm start ---

@pytest.mark.parametrize("backend", ["llvm", "auto"])
def test_lazy_function_matches_the_eager_one(fresh_cache, monkeypatch, backend):
    eager = cc.compile(_expr(), [x, y, z], backend=backend).wait()
    assert not eager._lazy.hit and "plan" in eager.__dict__
    with monkeypatch.context() as m:
        _no_reverse_pass(m)
        fn = cc.compile(_expr(), [x, y, z], backend=backend)
        assert fn._lazy.hit and "plan" not in fn.__dict__
        assert fn.value_and_grad(*POINT) == eager.value_and_grad(*POINT)
        assert fn(*POINT) == eager(*POINT)
        assert fn.grad(*POINT) == eager.grad(*POINT)
        fn.wait()
        assert fn.ready and fn.tier == "llvm" and "plan" not in fn.__dict__
    # derived on demand: the same source, schedule, Hessian, batches and Jacobian
    assert fn.source == eager.source
    assert [n.op for n in fn.plan["value_and_grad"].statements] == \
        [n.op for n in eager.plan["value_and_grad"].statements]
    np.testing.assert_array_equal(fn.hessian(*POINT), eager.hessian(*POINT))
    xs = np.linspace(-1.0, 1.0, 5)
    np.testing.assert_array_equal(fn(xs, 0.5, xs), eager(xs, 0.5, xs))
    assert fn.jvp(*POINT, v=(1.0, 0.0, 2.0)) == eager.jvp(*POINT, v=(1.0, 0.0, 2.0))


def test_a_lazy_function_derives_before_anything_needs_its_schedule(fresh_cache, monkeypatch):
    cc.compile(_expr(), [x, y, z], backend="llvm").wait()
    fn = cc.compile(_expr(), [x, y, z], backend="llvm")
    before = lazy.derived_count()
    assert fn._lazy.hit and fn.plan["value"].statements and lazy.derived_count() == before + 1
    assert fn._jac is not None and lazy.derived_count() == before + 1  # once, not per attribute
    want = cc.compile(_expr(), [x, y, z], backend="python").value_and_grad(*POINT)
    np.testing.assert_allclose(fn.value_and_grad(*POINT)[1], want[1], rtol=1e-13)


def test_value_only_and_several_outputs_start_lazily(fresh_cache, monkeypatch):
    outs = [x * y, cc.exp(z) - x]
    for kwargs in ({"wrt": []}, {}, {"wrt": y}):
        eager = cc.compile(outs, [x, y, z], backend="llvm", **kwargs).wait()
        with monkeypatch.context() as m:
            _no_reverse_pass(m)
            fn = cc.compile(outs, [x, y, z], backend="llvm", **kwargs)
            assert fn._lazy.hit
            assert fn(*POINT) == eager(*POINT)
            if kwargs.get("wrt") != []:
                np.testing.assert_array_equal(fn.grad(*POINT), eager.grad(*POINT))
            fn.wait()
    with pytest.raises(ValueError, match="no inputs to differentiate"):
        fn = cc.compile(outs, [x, y, z], backend="llvm", wrt=[])
        fn.grad(*POINT)  # the eager path's error, after deriving


# --- never another graph's entry ---

def _variants():
    """Functions that differ from the first only in a constant, an op, the operands' order, the
    inputs, ``wrt``, the outputs' form, the dtype or the backend."""
    base = cc.sin(x) * y - z
    return {
        "base": (base, [x, y, z], None, "llvm"),
        "constant": (cc.sin(x) * y - z + 2.0, [x, y, z], None, "llvm"),
        "other constant": (cc.sin(x) * y - z + 2.0000000000000004, [x, y, z], None, "llvm"),
        "op": (cc.cos(x) * y - z, [x, y, z], None, "llvm"),
        "operands": (z - cc.sin(x) * y, [x, y, z], None, "llvm"),
        "inputs' order": (base, [y, x, z], None, "llvm"),
        "wrt": (base, [x, y, z], [x, z], "llvm"),
        "wrt order": (base, [x, y, z], [z, x], "llvm"),
        "one wrt alone": (base, [x, y, z], x, "llvm"),
        "one wrt listed": (base, [x, y, z], [x], "llvm"),
        "list of outputs": ([base], [x, y, z], None, "llvm"),
        "backend": (base, [x, y, z], None, "auto"),
    }


def test_graphs_that_differ_never_share_an_entry(fresh_cache):
    keys = {}
    for name, (expr, inputs, wrt, backend) in _variants().items():
        fn = cc.compile(expr, inputs, wrt, backend=backend)
        assert fn._lazy.key is not None, name
        keys[name] = fn._lazy.key
        fn.wait()
    assert len(set(keys.values())) == len(keys), keys
    # each found again is its own function: its own numbers, never another's
    for name, (expr, inputs, wrt, backend) in _variants().items():
        fn = cc.compile(expr, inputs, wrt, backend=backend)
        want = cc.compile(expr, inputs, wrt, backend="python")
        assert fn._lazy.hit, name
        np.testing.assert_allclose(np.ravel(fn.value_and_grad(*POINT)[1]),
                                   np.ravel(want.value_and_grad(*POINT)[1]), rtol=1e-13, err_msg=name)
        np.testing.assert_allclose(fn(*POINT), want(*POINT), rtol=1e-13, err_msg=name)


def test_float32_and_other_backends_have_no_key(fresh_cache):
    assert cc.compile(cc.sin(x) * y, [x, y], dtype="float32")._lazy.key is None
    assert cc.compile(cc.sin(x) * y, [x, y], backend="vm")._lazy.key is None
    assert cc.compile(cc.sin(x) * y, [x, y], backend="numba")._lazy.key is None
    t = cc.Tensor("t", (3,))
    assert cc.compile(cc.sum(cc.sin(t)), [t], backend="llvm")._lazy.key is None


def test_describe_tells_constants_apart_exactly():
    d = lambda k: lazy.describe([x * y * k], [x, y], [x, y], None)  # noqa: E731
    assert d(0.0) != d(-0.0) and d(0.1) != d(0.1 + 2 ** -56) and d(0.5) == d(0.5)
    assert lazy.describe([x * y], [x], [x], None) is None  # y is not an input: the eager path says so


# --- a corrupted or missing entry: the full compile ---

def _compiled_twice(monkeypatch, corrupt):
    first = cc.compile(_expr(1.5), [x, y, z], backend="llvm").wait()
    want = first.value_and_grad(*POINT), first(*POINT)
    corrupt()
    fn = cc.compile(_expr(1.5), [x, y, z], backend="llvm")
    assert (fn.value_and_grad(*POINT), fn(*POINT)) == want
    return fn


def test_a_corrupted_lazy_entry_is_a_miss(fresh_cache, monkeypatch):
    def corrupt():
        for path in fresh_cache.rglob(f"*.{lazy.KIND}"):
            path.write_bytes(path.read_bytes()[:-3] + b"xyz")
    fn = _compiled_twice(monkeypatch, corrupt)
    assert not fn._lazy.hit and "plan" in fn.__dict__
    assert list(fresh_cache.rglob(f"*.{lazy.KIND}"))  # written again


@pytest.mark.parametrize("gone", [llvm_index.KIND, "o"])
def test_a_missing_index_or_object_takes_the_full_compile(fresh_cache, monkeypatch, gone):
    def corrupt():
        for path in fresh_cache.rglob(f"*.{gone}"):
            path.unlink()
    fn = _compiled_twice(monkeypatch, corrupt)
    assert fn._lazy.hit and "plan" in fn.__dict__  # found, but its kernels were not: derived


def test_an_entry_of_another_machine_is_not_loaded(fresh_cache, monkeypatch):
    def corrupt():
        from compiler.runtime import cache
        for path in fresh_cache.rglob(f"*.{lazy.KIND}"):
            key = path.name.split(".")[0]
            meta = json.loads(cache.load(key, lazy.KIND))
            meta["fingerprint"] = "another machine"
            cache.store(key, lazy.KIND, json.dumps(meta).encode())
    fn = _compiled_twice(monkeypatch, corrupt)
    assert fn._lazy.hit and "plan" in fn.__dict__ and fn._lazy.fingerprint != "another machine"


def test_auto_interprets_when_the_cached_kernel_cannot_load(fresh_cache):
    cc.compile(_expr(0.5), [x, y, z], backend="auto").wait()
    for path in fresh_cache.rglob("*.o"):
        path.unlink()
    fn = cc.compile(_expr(0.5), [x, y, z], backend="auto")
    assert fn._lazy.hit
    want = cc.compile(_expr(0.5), [x, y, z], backend="python").value_and_grad(*POINT)
    got = fn.value_and_grad(*POINT)
    assert fn.tier == "interpreter"  # as on a cold cache: the interpreter while it compiles
    np.testing.assert_allclose(got[1], want[1], rtol=1e-13)
    fn.wait()
    assert fn.tier == "llvm"


def test_matrix_outputs_start_lazily(fresh_cache, monkeypatch):
    sp = pytest.importorskip("sympy")
    X, Y = sp.symbols("x y")
    M = sp.Matrix([[sp.sin(X) * Y, X + Y], [X * Y, sp.exp(X)]])
    eager = cc.compile(M, [x, y], backend="llvm").wait()
    with monkeypatch.context() as m:
        _no_reverse_pass(m)
        fn = cc.compile(M, [x, y], backend="llvm")
        assert type(fn).__name__ == "ShapedFunction" and fn._lazy.hit
        np.testing.assert_array_equal(fn(0.5, 2.0), eager(0.5, 2.0))
        np.testing.assert_array_equal(np.asarray(fn.grad(0.5, 2.0)), np.asarray(eager.grad(0.5, 2.0)))


def test_first_calls_from_threads_load_once_and_agree(fresh_cache):
    import threading
    cc.compile(_expr(3.0), [x, y, z], backend="auto").wait()
    want = cc.compile(_expr(3.0), [x, y, z], backend="llvm").value_and_grad(*POINT)
    fn = cc.compile(_expr(3.0), [x, y, z], backend="auto")
    before = lazy.derived_count()
    results, start = [], threading.Barrier(4)

    def call():
        start.wait()
        results.append(fn.value_and_grad(*POINT))
        _ = fn.plan  # derived once, whichever thread comes first
    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [want] * 4 and fn.tier == "llvm"
    assert lazy.derived_count() == before + 1
