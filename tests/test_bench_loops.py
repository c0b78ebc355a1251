"""The ``loops`` bench suite at tiny sizes: every method in its fresh process, the agreement check, the
unrolled graph's budget, the table (about 45 s on 2 cores: each child starts Numba and compiles, and JAX if installed)."""

from __future__ import annotations

import json

import pytest

from compiler.bench import SUITES, loops
from compiler.bench.common import MismatchError


@pytest.mark.slow
def test_loops_suite_at_tiny_sizes(tmp_path, monkeypatch):
    # the children must not import the caller's files: a json.py here would stop them
    (tmp_path / "json.py").write_text("raise SystemExit('imported from the working directory')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(loops, "MEMORY_T", 8)  # the size below: its "ys" kernels come from the shared cache
    monkeypatch.setattr(loops, "CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(loops, "REPEATS", 2)
    monkeypatch.setattr(loops, "MIN_TIME", 0.005)
    steps = []
    rows = loops.run(False, lambda: steps.append(1), sizes=[8])
    assert len(steps) == loops.steps(False, sizes=[8]) == len(loops.METHODS) + len(loops.MEMORY_CASES)

    timed = [r for r in rows if r.seconds is not None]
    by = {r.extra["method"]: r for r in timed}
    assert {"scan", "scan-sqrt", "unrolled", "unrolled-input"} <= set(by)
    for method, r in by.items():
        e = r.extra
        assert r.seconds > 0 and e["build"] >= 0 and e["first"] > 0 and e["ttfg"] >= e["build"], method
        assert e["grad"] == pytest.approx(by["scan"].extra["grad"], rel=1e-8, abs=1e-8), method
        assert e["vs_scan"] > 0
    assert by["scan"].extra["vs_scan"] == 1.0 and by["scan"].extra["backend"] == "numba"
    assert by["scan"].extra["ratio"] > 0 and by["scan"].extra["forward"] > 0
    assert by["unrolled"].extra["wait"] >= 0 and by["unrolled-input"].extra["statements"] > 0
    for skipped in (r for r in rows if r.seconds is None and not r.extra.get("memory")):
        assert skipped.note.startswith("not run"), skipped.note  # a peer that is not installed

    memory = {(r.extra["form"], r.extra["checkpoint"]): r.extra for r in rows if r.extra.get("memory")}
    assert set(memory) == {("ys", "all"), ("ys", "sqrt"), ("carry", "all"), ("carry", "sqrt")}
    assert all(m["T"] == 8 and m["input_bytes"] == 8 * 3 * 8 and m["peak_reset_ok"] for m in memory.values())
    reference = memory["ys", "all"]["value_and_grad"]
    for m in memory.values():  # the same loss, whatever the form and the strategy
        assert m["value_and_grad"] == pytest.approx(reference, rel=1e-10, abs=1e-10)

    text = loops.table(rows)
    for line in ("| T=8 ", "compiler: cc.scan, numba", 'checkpoint="sqrt"', "unrolled graph, data an input",
                 "Peak memory of one value_and_grad call at T=8", "gradient / forward",
                 'misfits summed in a 4th carry, checkpoint="sqrt"'):
        assert line in text, line
    json.loads(json.dumps([r.as_dict() for r in rows]))  # --json writes these
    assert SUITES["loops"].steps(True) == 3 * len(loops.METHODS) + len(loops.MEMORY_CASES)


def test_methods_that_disagree_fail_the_suite():
    ref = {"value": 2.0, "grad": [1.0, -3.0, 0.5, 0.0, 4.0, 1e3]}
    loops._check(10, "jax", ref, {"value": 2.0 + 1e-12, "grad": [1.0, -3.0, 0.5, 1e-9, 4.0, 1e3],
                                  "forward_value": 2.0})
    with pytest.raises(MismatchError, match="JAX.*gradient"):
        loops._check(10, "jax", ref, {"value": 2.0, "grad": [1.0, -3.0, 0.5, 0.0, 4.0, 1e3 * (1 + 1e-7)]})
    with pytest.raises(MismatchError, match="forward_value"):
        loops._check(10, "casadi", ref, {**ref, "forward_value": 2.1})


def test_unrolled_graph_runs_within_its_budget():
    last, stopped = {"unrolled": (100, 3.0)}, {}
    assert loops._unrolled_skip("unrolled", 1_000, False, last, stopped) is None  # about 30 s
    last["unrolled"] = (1_000, 90.0)
    note = loops._unrolled_skip("unrolled", 10_000, False, last, stopped)
    assert note.startswith("not run: estimated 900 s") and "unrolled" in stopped
    assert loops._unrolled_skip("unrolled", 100_000, False, last, stopped) == note  # stays stopped
    assert "--quick" in loops._unrolled_skip("unrolled", 10_000, True, {}, {})
    assert "--quick" in loops._unrolled_skip("unrolled-input", 100, True, {}, {})
