"""Threads per batch call (``runtime.threads``): the cores free now, Numba's setting the ceiling."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import compiler as cc
from compiler.runtime import threads


def test_small_batches_run_on_one_thread():
    assert threads.for_points(threads.SERIAL_BELOW - 1, ceiling=8) == 1


@pytest.mark.parametrize("busy, expected", [(0.0, 4), (1.0, 4), (5.6, 2), (6.4, 2), (6.6, 1), (7.0, 1),
                                            (50.0, 1), (None, 4)])
def test_threads_are_the_free_cores_under_the_ceiling(monkeypatch, busy, expected):
    monkeypatch.setattr(threads, "_CPUS", 8)
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: busy)
    assert threads.for_points(10**6, ceiling=4) == expected


def test_turned_off_uses_the_ceiling(monkeypatch):
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: 50.0)
    monkeypatch.setenv("COMPILER_THREADS", "all")
    assert threads.for_points(10**6, ceiling=3) == 3


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat is Linux's")
def test_a_busy_child_process_is_seen_and_this_processs_own_work_is_not(monkeypatch):
    monkeypatch.setattr(threads, "_last", None)
    threads.busy_elsewhere()  # the first sample
    end = time.monotonic() + threads.WINDOW * 2
    while time.monotonic() < end:  # this process busy: its own time, not another's
        pass
    before = threads.busy_elsewhere()
    if before > 0.3 or (os.cpu_count() or 1) < 2:
        pytest.skip(f"other processes kept {before:.1f} cores busy: nothing to tell a child's load from")
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(threads.WINDOW * 4)
        threads.busy_elsewhere()
        time.sleep(threads.WINDOW * 4)
        assert threads.busy_elsewhere() > before + 0.5  # the child held about one core
    finally:
        child.kill()
        child.wait()


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
    monkeypatch.setattr(threads, "busy_elsewhere", lambda: (os.cpu_count() or 1) + 5.0)
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
    assert all(r.seconds > 0 and "the quiet one" in r.note for r in rows)
