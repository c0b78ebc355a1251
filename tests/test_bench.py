"""`python -m compiler bench`: the compile suite end to end (JSON, PNG), the command line, the other suites."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys

import pytest

import compiler as cc
from compiler.bench import compile_suite
from compiler.bench.common import MismatchError
from compiler.bench.graphs import random_graph, random_graph_casadi

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HAS_CASADI = importlib.util.find_spec("casadi") is not None
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def _bench(args: list[str], tmp_path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, COMPILER_CACHE_DIR=str(tmp_path / "cache"))
    return subprocess.run([sys.executable, "-m", "compiler", "bench", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_compile_suite_json_and_plot(tmp_path):
    out_json, out_png = tmp_path / "out.json", tmp_path / "out.png"
    plot = ["--plot", str(out_png)] if HAS_MATPLOTLIB else []
    run = _bench(["compile", "--sizes", "100", "--quick", "--json", str(out_json), *plot], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "## compile (quick)" in run.stdout and "time to first gradient" in run.stdout
    assert "load from other processes" in run.stdout

    data = json.loads(out_json.read_text())
    rows = [r for r in data["rows"] if r["suite"] == "compile"]
    (one_time,) = [r for r in rows if r["seconds"] is None]
    assert one_time["method"] == "vm (one-time)" and one_time["compile_seconds"] > 0
    measured = [r for r in rows if r["seconds"] is not None]
    expected = {"auto (cold)", "auto (warm)", "llvm (cold)", "llvm (warm)", "vm", "numba (cold)",
                "numba-naive (cold)"} | ({"casadi"} if HAS_CASADI else set())
    assert {r["method"] for r in measured} == expected
    assert len(measured) == len(expected) and {r["size"] for r in measured} == {100}

    reference = measured[0]["extra"]
    for r in measured:
        e = r["extra"]
        for key in ("build", "ttfg", "per_call", "process_seconds"):
            assert e[key] > 0 and math.isfinite(e[key]), (r["method"], key, e[key])
        assert e["ready"] >= 0 and e["ttfg"] >= e["build"] + e["compile"] - 1e-9
        assert r["seconds"] == e["per_call"] and r["compile_seconds"] == e["ttfg"]
        assert len(e["timing"]["per_call"]) == compile_suite.QUICK_REPEATS  # every repeat is kept
        assert all(t > 0 for t in e["timing"]["per_call"])
        if e["route"] != "casadi":
            assert e["statements"] == reference["statements"] > 0
        for key in ("value", "value_compiled"):
            assert e[key] == pytest.approx(reference["value"], rel=1e-9), (r["method"], key)
        assert e["grad"] == pytest.approx(reference["grad"], rel=1e-9, abs=1e-12), r["method"]
    cached = {r["method"]: r["extra"] for r in measured}
    assert cached["auto (cold)"]["backend"] == "numba"  # 100 ops: small enough for Numba
    assert cached["llvm (warm)"]["compiled_at_first_call"]

    if HAS_MATPLOTLIB:
        assert out_png.read_bytes()[:8] == PNG_SIGNATURE


def test_plan_sizes_and_numba_limit():
    quick = compile_suite.plan(quick=True, casadi=False)
    assert sorted({m.ops for m in quick}) == [100, 1_000, 10_000]
    assert {m.ops for m in quick if m.route.startswith("numba")} == {100}
    full = compile_suite.plan(quick=False, casadi=True)
    assert sorted({m.ops for m in full}) == [100, 1_000, 10_000, 100_000]
    assert {m.ops for m in full if m.route.startswith("numba")} == {100, 1_000}
    assert {m.ops for m in full if m.route == "casadi"} == {100, 1_000, 10_000, 100_000}
    more = compile_suite.plan(quick=False, sizes=[10_000], numba_max_ops=10_000, casadi=False)
    assert [m.label for m in more] == ["auto (cold)", "auto (warm)", "llvm (cold)", "llvm (warm)", "vm",
                                       "numba (cold)", "numba-naive (cold)"]


def test_routes_that_disagree_fail_loudly():
    ref = {"route": "auto", "value": 1.0, "grad": [1.0, -2.0]}
    m = compile_suite.Measurement(100, "llvm", "cold")
    close = {"value": 1.0 + 1e-12, "value_compiled": 1.0, "grad": [1.0, -2.0], "grad_compiled": [1.0, -2.0]}
    compile_suite._check_agrees(m, close, ref)
    with pytest.raises(MismatchError, match="llvm \\(cold\\) against auto, grad_compiled"):
        compile_suite._check_agrees(m, {**close, "grad_compiled": [1.0, -2.001]}, ref)
    with pytest.raises(MismatchError, match="value"):
        compile_suite._check_agrees(m, {**close, "value": math.nan}, ref)


def test_random_graph_is_the_same_function_in_casadi():
    ca = pytest.importorskip("casadi")
    (f, xs), (g, x) = random_graph(400, seed=5), random_graph_casadi(400, seed=5)
    point = [0.3 - 0.1 * i for i in range(len(xs))]
    ours = cc.compile(f, xs, backend="python").value_and_grad(*point)
    value, grad = ca.Function("g", [x], [g, ca.gradient(g, x)])(point)
    assert ours[0] == pytest.approx(float(value), rel=1e-12)
    assert list(ours[1]) == pytest.approx(list(grad.full().ravel()), rel=1e-9, abs=1e-12)


def test_bench_help_and_bad_suite(tmp_path):
    ok = _bench(["--help"], tmp_path)
    assert ok.returncode == 0 and "--quick" in ok.stdout and "compile" in ok.stdout
    assert "--sizes" not in ok.stdout  # an option for tests and experiments, not in the help
    bad = _bench(["nope"], tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown suite nope")


@pytest.mark.slow
def test_other_suites_quick_json_and_plot(tmp_path):
    """The per-call, batch and MLP suites: about 40 s on 2 cores."""
    pytest.importorskip("matplotlib")
    out_json, out_png = tmp_path / "bench.json", tmp_path / "bench.png"
    run = _bench(["calls", "batch", "mlp", "--quick", "--no-progress", "--json", str(out_json),
                  "--plot", str(out_png)], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    data = json.loads(out_json.read_text())
    assert {r["suite"] for r in data["rows"]} == {"calls", "batch", "mlp"}
    for r in data["rows"]:
        if r["seconds"] is not None:
            assert r["seconds"] > 0 and math.isfinite(r["seconds"]), r
    methods = {r["method"] for r in data["rows"]}
    assert {"compiler (Numba)", "eager tape (micrograd-style)", 'compiler, backend="python"'} <= methods
    assert out_png.read_bytes()[:8] == PNG_SIGNATURE
    for heading in ("## calls", "## batch", "## mlp"):
        assert heading in run.stdout
