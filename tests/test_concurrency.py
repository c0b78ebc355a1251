"""Threads and processes: many threads compiling and calling at once, pickling, process pools."""

from __future__ import annotations

import math
import multiprocessing as mp
import pickle
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

import compiler as cc

x, y = cc.symbols("x y")


def _expr(k: int):
    # 80 distinct structures; k and k + 80 build the same expression (hash-consed: one node)
    c = float(k % 80 + 1)
    return cc.sin(c * x) * y + cc.exp(-x * x / c) + c * x ** 2


def _expected(k: int, a: float, b: float):
    c = float(k % 80 + 1)
    value = math.sin(c * a) * b + math.exp(-a * a / c) + c * a * a
    dx = c * math.cos(c * a) * b - 2 * a / c * math.exp(-a * a / c) + 2 * c * a
    dy = math.sin(c * a)
    return value, (dx, dy)


def _check(k: int, fn, a: float, b: float):
    value, grad = fn.value_and_grad(a, b)
    want_v, want_g = _expected(k, a, b)
    assert value == pytest.approx(want_v, rel=1e-12, abs=1e-12)
    assert grad == pytest.approx(want_g, rel=1e-11, abs=1e-11)


def test_eight_threads_compile_and_call_100_functions():
    """100 compiles (20 of them of an expression another thread compiles too), each called
    from 8 threads started together; a few are Numba- or LLVM-compiled or run as batches."""
    barrier = threading.Barrier(8)
    tasks = list(range(100))
    backends = {k: ("numba" if k % 25 == 3 else "llvm" if k % 25 == 7 else "auto") for k in tasks}

    def work(thread: int) -> int:
        barrier.wait()
        done = 0
        for k in tasks[thread::8]:
            fn = cc.compile(_expr(k), [x, y], backend=backends[k])
            for a, b in ((0.3, -1.2), (1.1, 0.4)):
                _check(k, fn, a, b)
            if k % 10 == 0:  # a batch: compiled code
                X = np.linspace(-1, 1, 64)
                v, (gx, gy) = fn.value_and_grad(X, 0.5)
                for i in (0, 31, 63):
                    want_v, want_g = _expected(k, X[i], 0.5)
                    assert v[i] == pytest.approx(want_v, rel=1e-12, abs=1e-12)
                    assert gx[i] == pytest.approx(want_g[0], rel=1e-11, abs=1e-11)
            done += 1
        return done

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(work, range(8))) == 100


def test_threads_share_one_function_through_its_compile():
    """One "auto" function called from 8 threads while its compiled code is made."""
    fn = cc.compile(_expr(5), [x, y])
    barrier = threading.Barrier(8)

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        barrier.wait()
        for a, b in rng.uniform(-1, 1, (300, 2)):
            _check(5, fn, a, b)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    assert fn.wait().ready
    _check(5, fn, 0.2, 0.7)


# --- processes ---

def test_compiled_functions_pickle_by_structure():
    cases = [cc.compile(_expr(3), [x, y], backend="python"),
             cc.compile([cc.sin(x) * y, x ** 2], [x, y], wrt=[x]),
             cc.compile(cc.sum(cc.tanh(cc.Tensor("W", (2, 3)))), [cc.Tensor("W", (2, 3))], backend="python")]
    args = [(0.3, -1.2), (0.3, -1.2), (np.linspace(0, 1, 6).reshape(2, 3),)]
    for fn, a in zip(cases, args):
        clone = pickle.loads(pickle.dumps(fn))
        assert clone.backend == fn.backend and clone.requested_backend == fn.requested_backend
        v1, g1 = fn.value_and_grad(*a)
        v2, g2 = clone.value_and_grad(*a)
        assert v1 == pytest.approx(v2, rel=1e-15)
        np.testing.assert_allclose(np.asarray(g1, dtype=float), np.asarray(g2, dtype=float), rtol=1e-15)
    jitted = cc.jit(lambda a, b: cc.exp(-a * b) + a)
    assert pickle.loads(pickle.dumps(jitted)).grad(0.0, 1.0) == jitted.grad(0.0, 1.0)


def _call_in_child(fn, a: float, b: float):
    return fn.value_and_grad(a, b)


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_process_pool_executor(method):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    fn = cc.compile(_expr(11), [x, y])
    points = [(0.1 * i, 1.0 - 0.2 * i) for i in range(6)]
    with ProcessPoolExecutor(2, mp_context=mp.get_context(method)) as pool:
        results = list(pool.map(_call_in_child, [fn] * len(points), *zip(*points)))
    for (a, b), (value, grad) in zip(points, results):
        want_v, want_g = _expected(11, a, b)
        assert value == pytest.approx(want_v, rel=1e-12, abs=1e-12)
        assert grad == pytest.approx(want_g, rel=1e-11, abs=1e-11)


def test_multiprocessing_pool_map_of_a_batch():
    fn = cc.compile(_expr(2), [x, y], backend="numba")
    chunks = [np.linspace(-1, 0, 50), np.linspace(0, 1, 50)]
    with mp.get_context("spawn").Pool(2) as pool:
        values = pool.starmap(fn, [(X, 0.0) for X in chunks])
    for X, v in zip(chunks, values):
        np.testing.assert_allclose(v, fn(X, 0.0), rtol=1e-14)


def test_batch_loops_release_the_gil():
    """The batch drivers are compiled nogil (benchmarks/threads.py shows two threads on two cores)."""
    fn = cc.compile(_expr(4), [x, y], backend="numba")
    fn.value_and_grad(np.linspace(0, 1, 8), 0.5)
    driver = fn._code.batch_driver("value_and_grad")
    assert driver.targetoptions.get("nogil") is True
    from compiler.runtime import interpreter, native_batch
    assert native_batch.batch.targetoptions.get("nogil") is True
    assert interpreter.interpreter().batch.targetoptions.get("nogil") is True
