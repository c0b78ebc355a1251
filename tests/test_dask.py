"""Dask arrays in, Dask arrays out; data-parallel reductions; workers that build a function once.

One ``LocalCluster`` of two single-threaded worker processes serves the tests that need
workers (one for the module, closed after it); every expression is small and compiled with Numba.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

import compiler as cc
from compiler.runtime import dask_batch, per_process, reduce

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
w, b, x, y = cc.symbols("w b x y")


@pytest.fixture(scope="module")
def client():  # (closed after this module: its threads must not run under later tests)
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None, silence_logs=40)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _loss(constant: float = 0.0):
    """A logistic-regression-like loss per point; ``constant`` makes a function no worker has seen."""
    return cc.softplus(-(w * x + b) * y) + constant * w * w


def _data(n=10_000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=n), np.sign(rng.normal(size=n))


def test_value_grad_and_mixed_arguments_match_numpy(client):
    fn = cc.compile(_loss(), [w, b, x, y], backend="numba")
    X, Y = _data()
    want_v, want_g = fn.value_and_grad(0.3, -0.2, X, Y)
    DX = da.from_array(X, chunks=2_500)
    got_v, got_g = fn.value_and_grad(0.3, -0.2, DX, Y)       # Dask, NumPy and floats mixed
    assert isinstance(got_v, da.Array) and got_v.chunks == DX.chunks
    np.testing.assert_allclose(got_v.compute(), want_v, rtol=1e-14)
    for g_got, g_want in zip(got_g, want_g):
        assert g_got.chunks == DX.chunks
        np.testing.assert_allclose(g_got.compute(), g_want, rtol=1e-14)
    np.testing.assert_allclose(fn(0.3, -0.2, DX, da.from_array(Y, chunks=3_000)).compute(), want_v, rtol=1e-14)
    np.testing.assert_allclose(fn.grad(0.3, -0.2, DX, Y)[2].compute(), want_g[2], rtol=1e-14)
    # an independent oracle for the gradient: central differences of the value
    h = 1e-6
    fd_w = (fn(0.3 + h, -0.2, DX, Y) - fn(0.3 - h, -0.2, DX, Y)).compute() / (2 * h)
    np.testing.assert_allclose(got_g[0].compute(), fd_w, rtol=1e-6, atol=1e-8)


def test_several_outputs_and_a_wrt_alone():
    fn = cc.compile([cc.sin(w * x), w * x * x], [w, x], backend="numba")
    X = np.linspace(-1, 1, 1_001)
    values, jac = fn.value_and_grad(0.7, da.from_array(X, chunks=300))
    want_values, want_jac = fn.value_and_grad(0.7, X)
    np.testing.assert_allclose(jac.compute(), want_jac, rtol=1e-14)
    np.testing.assert_allclose(values[1].compute(), want_values[1], rtol=1e-14)
    alone = cc.compile(_loss(), [w, b, x, y], wrt=w, backend="numba")
    Xd, Yd = _data(500)
    g = alone.grad(0.3, 0.1, da.from_array(Xd, chunks=100), Yd)
    np.testing.assert_allclose(g.compute(), alone.grad(0.3, 0.1, Xd, Yd), rtol=1e-14)


def test_tensor_functions_batch_over_the_leading_axis(client):
    W, v = cc.Tensor("W", (3, 2)), cc.Tensor("v", (3,))
    fn = cc.compile(cc.sum(cc.tanh(v @ W) * b), [W, v, b], wrt=[W, b], backend="numba")
    rng = np.random.default_rng(1)
    Wv, V = rng.normal(size=(3, 2)), rng.normal(size=(1_000, 3))
    want_v, want_g = fn.value_and_grad(Wv, V, 0.5)
    got_v, got_g = fn.value_and_grad(Wv, da.from_array(V, chunks=(250, 2)), 0.5)  # other axes: one chunk
    assert got_g[0].shape == (1_000, 3, 2) and got_v.chunks == ((250,) * 4,)
    np.testing.assert_allclose(got_v.compute(), want_v, rtol=1e-14)
    np.testing.assert_allclose(got_g[0].compute(), want_g[0], rtol=1e-14)
    np.testing.assert_allclose(got_g[1].compute(), want_g[1], rtol=1e-14)
    # the reduction: a parameter's gradient of its own shape, summed over the points
    sv, sg = fn.value_and_grad(Wv, da.from_array(V, chunks=(300, 3)), 0.5, reduce="sum")
    np.testing.assert_allclose(sv, want_v.sum(), rtol=1e-12)
    np.testing.assert_allclose(sg[0], want_g[0].sum(axis=0), rtol=1e-12)


def test_jvp_and_hvp_batch_on_dask():
    fn = cc.compile(cc.sin(w) * x ** 2, [w, x], backend="numba")
    W = np.linspace(0, 1, 700)
    DW = da.from_array(W, chunks=200)
    np.testing.assert_allclose(fn.jvp(DW, 2.0, v=(1.0, 0.5))[1].compute(), fn.jvp(W, 2.0, v=(1.0, 0.5))[1])
    np.testing.assert_allclose(fn.hvp(DW, 2.0, v=(1.0, 0.5))[0].compute(), fn.hvp(W, 2.0, v=(1.0, 0.5))[0])


@pytest.mark.parametrize("how", ["sum", "mean"])
def test_reduce_in_process_in_chunks_matches_the_full_batch(how, monkeypatch):
    monkeypatch.setattr(reduce, "CHUNK_BYTES", 1)  # MIN_CHUNK points a chunk: many chunks
    fn = cc.compile(_loss(), [w, b, x, y], wrt=[w, b], backend="numba")
    full = cc.compile(_loss(), [w, b, x, y], backend="numba")
    X, Y = _data(10_007)
    v, g = full.value_and_grad(0.3, -0.2, X, Y)
    agg = np.sum if how == "sum" else np.mean
    got_v, got_g = fn.value_and_grad(0.3, -0.2, X, Y, reduce=how)
    assert isinstance(got_v, float) and isinstance(got_g[0], float)
    np.testing.assert_allclose(got_v, agg(v), rtol=1e-12)
    np.testing.assert_allclose(got_g, (agg(g[0]), agg(g[1])), rtol=1e-12)
    assert fn(0.3, -0.2, X, Y, reduce=how) == pytest.approx(agg(v), rel=1e-12)
    assert fn.grad(0.3, -0.2, X, Y, reduce=how) == pytest.approx(got_g, rel=1e-15)
    # one point: its own sum and mean; the scalar fast path takes the keyword
    assert fn.value_and_grad(0.3, -0.2, 1.0, 1.0, reduce=how) == fn.value_and_grad(0.3, -0.2, 1.0, 1.0)


def test_reduce_on_the_cluster_is_a_tree_of_chunk_sums(client):
    fn = cc.compile(_loss(), [w, b, x, y], wrt=[w, b], backend="numba")
    X, Y = _data(20_000, seed=3)
    want = fn.value_and_grad(0.3, -0.2, X, Y, reduce="sum")
    DX, DY = da.from_array(X, chunks=1_000), da.from_array(Y, chunks=1_500)  # chunks disagree: rechunked
    got = fn.value_and_grad(0.3, -0.2, DX, DY, reduce="sum")
    assert got[0] == pytest.approx(want[0], rel=1e-12) and got[1] == pytest.approx(want[1], rel=1e-12)
    mean = fn.value_and_grad(0.3, -0.2, DX, Y, reduce="mean")
    assert mean[0] == pytest.approx(want[0] / 20_000, rel=1e-12)
    with pytest.raises(cc.ArgumentError, match=r"wrt input 'x' .* array of points"):
        cc.compile(_loss(), [w, b, x, y], backend="numba").value_and_grad(0.3, -0.2, DX, DY, reduce="sum")
    with pytest.raises(cc.ArgumentError, match="reduce must be one of"):
        fn.value_and_grad(0.3, -0.2, DX, DY, reduce="max")


def _stats(client) -> dict:
    return client.run(per_process.stats)


def test_one_build_and_one_compile_per_worker_process(client):
    client.run(per_process._reset_counts)
    fn = cc.compile(_loss(float(uuid.uuid4().int % 1000) + 0.5), [w, b, x, y], backend="numba")  # new to all
    X, Y = _data(40_000)
    v = fn(0.3, -0.2, da.from_array(X, chunks=1_000), Y).compute()   # 40 tasks on 2 workers
    np.testing.assert_allclose(v, fn(0.3, -0.2, X, Y), rtol=1e-14)
    stats = _stats(client)
    assert sum(s["unpickled"] for s in stats.values()) >= 40
    for s in stats.values():
        assert s["built"] <= 1 and s["compiled"] + s["loaded"] <= 1, stats
    assert sum(s["compiled"] + s["loaded"] for s in stats.values()) >= 1, stats


def test_a_worker_killed_mid_computation_is_replaced_and_the_result_is_right(client, tmp_path):
    fn = cc.compile(_loss(), [w, b, x, y], backend="numba")
    X, Y = _data(8_000)
    marker = str(tmp_path / "killed-once")

    def die_once(block, marker=marker):
        if block[0] == X[3_000] and not os.path.exists(marker):  # the 4th chunk, on its first attempt
            open(marker, "w").close()
            os._exit(1)
        return block
    DX = da.from_array(X, chunks=1_000).map_blocks(die_once, dtype=float)
    got = fn(0.3, -0.2, DX, Y).compute()
    assert os.path.exists(marker)
    np.testing.assert_allclose(got, fn(0.3, -0.2, X, Y), rtol=1e-14)
    total = fn(0.3, -0.2, DX, Y, reduce="sum")   # (the marker is there: no more deaths)
    assert total == pytest.approx(float(np.sum(fn(0.3, -0.2, X, Y))), rel=1e-12)


def test_the_disk_cache_survives_worker_restarts(client):
    fn = cc.compile(_loss(0.25), [w, b, x, y], backend="numba")
    X, Y = _data(4_000)
    DX = da.from_array(X, chunks=500)
    fn(0.3, -0.2, DX, Y).compute()   # compiled (or loaded) by the workers, stored in the disk cache
    client.restart()
    fresh = _stats(client)
    assert all(s["built"] == 0 for s in fresh.values())   # new processes
    np.testing.assert_allclose(fn(0.3, -0.2, DX, Y).compute(), fn(0.3, -0.2, X, Y), rtol=1e-14)
    stats = _stats(client)
    assert sum(s["loaded"] for s in stats.values()) >= 1 and all(s["compiled"] == 0 for s in stats.values()), stats


def test_chunks_run_with_one_numba_thread():
    import numba
    fn = cc.compile(w * x, [w, x], backend="numba")
    seen = []
    with per_process.chunk_call(fn, "value"):
        seen.append(numba.get_num_threads())
    assert seen == [1]


# --- bad input ---

def test_lengths_that_differ_name_both_arguments():
    fn = cc.compile(_loss(), [w, b, x, y], backend="numba")
    with pytest.raises(cc.ShapeError, match=r"'x' has 100 points and 'y' has 90"):
        fn(0.3, 0.1, da.ones(100, chunks=10), da.ones(90, chunks=10))


def test_unknown_chunk_sizes_are_a_clear_error():
    fn = cc.compile(_loss(), [w, b, x, y], backend="numba")
    X = da.from_array(np.arange(100.0), chunks=10)
    unknown = X[X > 50]   # chunk sizes: nan
    with pytest.raises(cc.ShapeError, match=r"argument 'x' \(position 3\) .* unknown chunk sizes"):
        fn(0.3, 0.1, unknown, 1.0)
    with pytest.raises(cc.ShapeError, match="unknown chunk sizes"):
        fn.value_and_grad(0.3, 0.1, unknown, 1.0, reduce="sum")


def test_an_error_inside_a_chunk_is_raised_at_compute_naming_the_input(client):
    fn = cc.compile(_loss(), [w, b, x, y], backend="numba")
    X = da.from_array(np.linspace(0, 1, 100), chunks=25)
    short = X.map_blocks(lambda block: block[:-1], dtype=float)   # lies about its chunk sizes
    lazy = fn(0.3, 0.1, short, X)
    with pytest.raises(cc.ShapeError, match=r"'x' has shape \(24,\) and 'y' has shape \(25,\)"):
        lazy.compute()


def test_wrong_tensor_shape_and_dtype_are_refused_when_the_graph_is_built():
    W = cc.Tensor("W", (3,))
    fn = cc.compile(cc.sum(W * b), [W, b], backend="numba")
    with pytest.raises(cc.ShapeError, match=r"argument 'W' \(position 1\) must have shape \(3,\)"):
        fn(da.ones((10, 4), chunks=5), 1.0)
    with pytest.raises(cc.ArgumentError, match="dtype"):
        fn(da.ones((10, 3), chunks=5, dtype=complex), 1.0)


def test_a_missing_dask_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(ImportError, match=re.escape('pip install "adjoint-compiler[dask]"')):
        dask_batch.require_dask()
    fn = cc.compile(w * x, [w, x], wrt=[w], backend="numba")   # and NumPy calls do not need Dask
    assert fn.value_and_grad(2.0, np.ones(3), reduce="sum") == (6.0, (3.0,))


def test_workers_without_this_library_get_a_hint(monkeypatch):
    import dask

    def no_library(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'compiler'")
    monkeypatch.setattr(dask, "compute", no_library)
    fn = cc.compile(_loss(), [w, b, x, y], wrt=[w, b], backend="numba")
    with pytest.raises(ImportError, match="install adjoint-compiler .* in the workers' environment"):
        fn.value_and_grad(0.3, 0.1, da.ones(10, chunks=5), 1.0, reduce="sum")


def test_the_likelihood_example_fits_a_million_points(client):
    out = subprocess.run([sys.executable, str(EXAMPLES / "dask_likelihood.py"), "--n", "1000000",
                          "--chunk", "250000", "--address", client.scheduler.address],
                         capture_output=True, text=True, timeout=240, cwd=EXAMPLES, env=dict(os.environ))
    assert out.returncode == 0, out.stderr[-3000:]
    fitted_w, fitted_b = map(float, re.search(r"fit: w = (-?[0-9.]+), b = (-?[0-9.]+)", out.stdout).groups())
    assert abs(fitted_w - 1.5) < 0.02 and abs(fitted_b + 0.7) < 0.02, out.stdout
