"""`python -m compiler bench`: the compile suite end to end (JSON, PNG), the core suite at tiny sizes, the
command line, the other suites."""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import pickle
import subprocess
import sys

import pytest

import compiler as cc
from compiler.bench import SUITES, compile_suite, core
from compiler.bench.batch import expression
from compiler.bench.common import MismatchError
from compiler.bench.graphs import random_graph, random_graph_casadi

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HAS_CASADI = importlib.util.find_spec("casadi") is not None
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def _bench(args: list[str], tmp_path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, COMPILER_CACHE_DIR=str(tmp_path / "cache"))
    return subprocess.run([sys.executable, "-m", "compiler", "bench", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.slow  # a bench suite (18 s): the slow tier
def test_compile_suite_json_and_plot(tmp_path):
    out_json, out_png = tmp_path / "out.json", tmp_path / "out.png"
    plot = ["--plot", str(out_png)] if HAS_MATPLOTLIB else []
    run = _bench(["compile", "--sizes", "100", "--quick", "--loop-models", "lorenz", "--pendulum-links", "0",
                  "--json", str(out_json), *plot],
                 tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "## compile (quick)" in run.stdout and "time to first gradient" in run.stdout
    assert "load from other processes" in run.stdout

    data = json.loads(out_json.read_text())
    rows = [r for r in data["rows"] if r["suite"] == "compile" and "model" not in r["extra"]]
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
    assert cached["auto (cold)"]["backend"] == "llvm"  # scalar functions: llvm under auto (main, issue 28)
    assert cached["llvm (warm)"]["compiled_at_first_call"]

    # the Lorenz scan: llvm cold and warm beside JAX (the routes agree, or the suite fails)
    loops = {r["method"]: r["extra"] for r in data["rows"] if "model" in r["extra"]}
    assert set(loops) == {"llvm (cold)", "llvm (warm)", "jax"} and "loop model" in run.stdout
    assert loops["llvm (cold)"]["backend"] == "llvm" and loops["llvm (cold)"]["ttfg"] > 0
    assert loops["llvm (warm)"]["value"] == pytest.approx(loops["jax"]["value"], rel=1e-9)

    if HAS_MATPLOTLIB:
        assert out_png.read_bytes()[:8] == PNG_SIGNATURE


def test_loop_plan():
    assert compile_suite.loop_plan(quick=True, loop_models=["lorenz"]) == [
        ("lorenz", "llvm", "cold"), ("lorenz", "llvm", "warm"), ("lorenz", "jax", "-")]
    full = compile_suite.loop_plan(quick=False)
    assert ("lotka-volterra", "numba", "cold") in full and ("mlp", "llvm", "cold") in full and len(full) == 16
    assert ("lotka-volterra-tensor", "llvm", "cold") in full  # the ode suite's fit, tensor inputs
    assert compile_suite.loop_plan(quick=False, loop_models=[]) == []


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


def test_pendulum_model_is_the_same_function_in_casadi_and_sympy(tmp_path):
    """The compile suite's SymPy model (one link: quick), measured in this process on llvm and
    CasADi: both give SymPy's own values of F and its Jacobian; the table shows both rows."""
    pytest.importorskip("casadi")
    sp = pytest.importorskip("sympy")
    from compiler.bench import compile_pendulum
    from compiler.bench.common import Row
    path = str(tmp_path / "pendulum.pickle")
    compile_pendulum.derive(1, path)
    with open(path, "rb") as f:
        symbols, F, J = pickle.load(f)
    assert F.shape == (2, 1) and J.shape == (2, 4)
    x0 = compile_pendulum.point(len(symbols))
    exact = [float(v) for v in list(F.subs(dict(zip(symbols, x0))).evalf(30))
             + list(J.subs(dict(zip(symbols, x0))).evalf(30))]
    rows = []
    for route in ("llvm", "casadi"):
        r = compile_pendulum.measure(route, path, 1, 0.001)
        assert r["values"] == pytest.approx(exact, rel=1e-12, abs=1e-12)
        assert r["values_compiled"] == r["values"] and r["ttfg"] > 0
        rows.append(Row("compile", r["model"], route, r["per_call"], None, r["ttfg"], extra={**r, "cache": "-"}))
    assert all(compile_pendulum.is_row(r) for r in rows)
    text = compile_pendulum.table(rows)
    assert "pendulum-1" in text and "casadi" in text and "/ CasADi's" in text
    assert [p[0] for p in compile_pendulum.plan(2)][:2] == ["auto", "auto"] and compile_pendulum.plan(0) == []
    assert sp  # (SymPy made the model)


def test_random_graph_is_the_same_function_in_casadi():
    ca = pytest.importorskip("casadi")
    (f, xs), (g, x) = random_graph(400, seed=5), random_graph_casadi(400, seed=5)
    point = [0.3 - 0.1 * i for i in range(len(xs))]
    ours = cc.compile(f, xs, backend="python").value_and_grad(*point)
    value, grad = ca.Function("g", [x], [g, ca.gradient(g, x)])(point)
    assert ours[0] == pytest.approx(float(value), rel=1e-12)
    assert list(ours[1]) == pytest.approx(list(grad.full().ravel()), rel=1e-9, abs=1e-12)


# the core suite at tiny sizes; the python backend: nothing of the compiler's to compile
TINY = core.Config(call_repeats=3, call_min_time=0.001, n_batch=200, batch_repeats=3, batch_min_time=0.001,
                   n_python=50, n_memory=1_000, backend="python")


def _sympy_peer_for_numpy(returns, error=0.0):
    """The core suite's SymPy peer without its Numba compiles (seconds each): the same derivatives,
    lambdified for NumPy; ``error`` is added to the last point's d/dz."""
    sp = pytest.importorskip("sympy")
    x, y, z = sp.symbols("x y z")
    f = expression(sp)(x, y, z)
    g = sp.lambdify((x, y, z), returns([f, sp.diff(f, x), sp.diff(f, y), sp.diff(f, z)]), "numpy")

    def loop(X, Y, Z, out, gx, gy, gz):
        for dst, src in zip((out, gx, gy, gz), g(X, Y, Z)):
            dst[:] = src
        gz[-1] += error
    return loop, 0.0


def test_core_suite_tables_agreement_and_child(tmp_path, monkeypatch):
    """Every row of the three sections, and mismatches fail the suite. A few seconds: tiny sizes,
    NumPy in place of the SymPy peers' Numba loops, no JAX."""
    monkeypatch.setattr(core, "sympy_peer", _sympy_peer_for_numpy)
    monkeypatch.setattr(core, "optional", lambda name: None)
    # the memory process must not import the caller's files: a json.py here would stop it
    (tmp_path / "json.py").write_text("raise SystemExit('imported from the working directory')\n")
    monkeypatch.chdir(tmp_path)
    steps = []
    rows = core.run(True, lambda: steps.append(1), config=TINY)
    assert len(steps) == core.steps(True) == 3

    text = core.table(rows)
    for line in ("### 1. Per call", "| compiler, python: fn.value_and_grad(a, b, c, f) ",
                 "| hand-written @numba.njit ", "diagnostic: the same, @numba.njit(error_model='numpy')",
                 '| compiler, backend="python" ', "(target <= 1.3: ", "JIT speedup, python backend",
                 "### 2. Batch: value and gradient (x, y, z) at 200 points",
                 "| sympy lambdify (tuple) + njit, prange, preallocated out ",
                 "| sympy lambdify (list) + njit, prange, preallocated out ",
                 '| compiler, backend="python" (50 points, scaled) ', "jax: skipped",
                 "max |difference|: python 0.0e+00, sympy_tuple ", "### 3. Peak memory",
                 "at 1,000 points (python, fresh process)", "| **RSS beyond inputs + outputs** "):
        assert line in text, line
    assert text.count("load from other processes") == 2  # per call and batch

    by = {(r.extra["section"], r.extra["key"]): r for r in rows}
    assert set(by) == {("per_call", k) for k in ("compiler", "hand", "hand_opts", "python", "empty")} | \
        {("batch", k) for k in ("compiler", "sympy_tuple", "sympy_list", "python")} | {("memory", "compiler")}
    for (section, key), r in by.items():
        if section != "memory":
            assert len(r.extra["timing"]["per_call"]) == 3 and r.seconds > 0, (section, key)
    assert by["per_call", "hand"].extra["vs_hand"] == 1.0
    assert set(by["batch", "compiler"].extra["max_abs_diff"]) == {"python", "sympy_tuple", "sympy_list"}
    mem = by["memory", "compiler"].extra
    assert mem["n"] == 1_000 and mem["output_bytes"] == 4 * 8 * 1_000 and mem["input_bytes"] == 3 * 8 * 1_000
    json.loads(json.dumps([r.as_dict() for r in rows]))  # --json writes these

    monkeypatch.setattr(core, "sympy_peer", functools.partial(_sympy_peer_for_numpy, error=1e-6))
    with pytest.raises(MismatchError, match=r"sympy \(tuple\) against the compiler: 1 of 800 values"):
        core.batch(TINY)
    monkeypatch.setattr(core, "neuron", lambda m: lambda a, b, c, f: m.tanh((c + a * b) * f) * (1 + 1e-6))
    with pytest.raises(MismatchError, match="neuron: compiler against hand-written"):
        core.per_call(TINY)


def test_bench_help_and_bad_suite(tmp_path):
    assert "core" in SUITES
    ok = _bench(["--help"], tmp_path)
    assert ok.returncode == 0 and "--quick" in ok.stdout and "compile" in ok.stdout and "core" in ok.stdout
    assert "--sizes N,N" in ok.stdout  # (docs/benchmarks.md runs the compile suite at one size)
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
    assert {"compiler (auto: llvm)", "eager tape (micrograd-style)", 'compiler, backend="python"'} <= methods
    assert out_png.read_bytes()[:8] == PNG_SIGNATURE
    for heading in ("## calls", "## batch", "## mlp"):
        assert heading in run.stdout


@pytest.mark.slow
def test_special_suite_quick(tmp_path):
    """The special suite: every function timed from Numba, LLVM (where it has a C function)
    and scipy.special's ufunc; about 30 s on 2 cores."""
    out_json = tmp_path / "bench.json"
    run = _bench(["special", "--quick", "--no-progress", "--json", str(out_json)], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = json.loads(out_json.read_text())["rows"]
    from compiler.bench import special_suite
    for name in special_suite.FUNCTIONS:
        methods = {r["method"] for r in rows if r["case"] == name and r["seconds"]}
        assert {"numba batch", "llvm batch", "scipy.special ufunc"} <= methods, name  # every one native now
    assert "## special" in run.stdout and "numba / scipy" in run.stdout


def test_nlp_solvers_take_turns():
    """The nlp suite's repeat solves: our native driver and CasADi alternate, the order rotated
    every round (each follows itself and the other alike); the cyipopt driver is timed on its
    own; ``after`` runs untimed; the ratio is the median of the rounds' ratios."""
    from compiler.bench import nlp_repeat
    calls = []

    def solve(name):
        return lambda: calls.append(name) or name

    out = nlp_repeat.compared({"native": solve("n"), "cyipopt": solve("y"),
                               "casadi": (solve("c"), lambda r: r.upper())}, 4)
    assert calls == ["n", "c", "c", "n", "n", "c", "c", "n", "y", "y", "y", "y"]
    assert {k: len(v[0]) for k, v in out.items()} == {"native": 4, "casadi": 4, "cyipopt": 4}
    assert out["casadi"][1:] == ("c", ["C"] * 4) and out["native"][2] == []
    assert nlp_repeat.paired_ratio([1.0, 2.0, 10.0], [1.0, 4.0, 5.0]) == 1.0  # (the medians' ratio: 0.5)
