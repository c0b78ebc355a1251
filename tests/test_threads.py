"""Threads per batch call (``runtime.threads``): the cores free now, Numba's setting the ceiling."""

import os
import sys

import numpy as np
import pytest

import compiler as cc
from compiler.runtime import threads


def test_small_batches_run_on_one_thread():
    assert threads.for_points(threads.SERIAL_BELOW - 1, ceiling=8) == 1


@pytest.mark.parametrize("busy, expected", [(0, 4), (1, 4), (6, 2), (7, 1), (50, 1), (None, 4)])
def test_threads_are_the_free_cores_under_the_ceiling(monkeypatch, busy, expected):
    monkeypatch.setattr(threads, "_CPUS", 8)
    monkeypatch.setattr(threads, "running_elsewhere", lambda: busy)
    assert threads.for_points(10**6, ceiling=4) == expected


def test_turned_off_uses_the_ceiling(monkeypatch):
    monkeypatch.setattr(threads, "running_elsewhere", lambda: 50)
    monkeypatch.setenv("COMPILER_THREADS", "all")
    assert threads.for_points(10**6, ceiling=3) == 3


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/loadavg is Linux's")
def test_the_count_reads_the_kernels_runnable_threads():
    busy = threads.running_elsewhere()
    assert isinstance(busy, int) and 0 <= busy < 10_000


def test_a_loaded_machine_runs_the_batch_on_fewer_threads_with_the_same_result(monkeypatch):
    numba = pytest.importorskip("numba")
    x, y = cc.symbols("x y")
    fn = cc.compile(cc.sin(x) * y + x * x, [x, y], backend="numba", simd=False)
    a, b = np.linspace(-2, 2, 50_000), np.linspace(1, 3, 50_000)
    expected = np.sin(a) * b + a * a
    before = numba.get_num_threads()
    seen = []
    real = numba.set_num_threads
    monkeypatch.setattr(numba, "set_num_threads", lambda k: (seen.append(k), real(k)))
    monkeypatch.setattr(threads, "running_elsewhere", lambda: (os.cpu_count() or 1) + 5)
    value, (ga, gb) = fn.value_and_grad(a, b)
    np.testing.assert_allclose(value, expected, rtol=1e-14)
    np.testing.assert_allclose(ga, np.cos(a) * b + 2 * a, rtol=1e-13)
    if before > 1:
        assert seen == [1, before]  # one thread for the call, Numba's setting restored after
    assert numba.get_num_threads() == before


def test_shared_suite_runs_quick():
    from compiler.bench import SUITES, shared_load
    rows = shared_load.run(True, lambda: None)
    assert SUITES["shared"].steps(True) == 2 and len(rows) == 6
    assert all(r.seconds > 0 and "the quiet median" in r.note for r in rows)
