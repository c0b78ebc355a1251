"""`python -m compiler bench --quick`: runs end to end in under a minute, writes valid JSON and a PNG."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time

import pytest


def test_bench_quick_json_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out_json, out_png = tmp_path / "bench.json", tmp_path / "bench.png"
    env = dict(os.environ, COMPILER_CACHE_DIR=str(tmp_path / "cache"))
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "compiler", "bench", "--quick", "--no-progress",
                          "--json", str(out_json), "--plot", str(out_png)],
                         capture_output=True, text=True, env=env, timeout=600)
    elapsed = time.perf_counter() - t0
    assert run.returncode == 0, run.stderr[-3000:]
    assert elapsed < 120, f"bench --quick took {elapsed:.0f} s"  # the target is a minute; slack for CI
    data = json.loads(out_json.read_text())
    suites = {r["suite"] for r in data["rows"]}
    assert suites == {"calls", "batch", "mlp", "graphs"}
    for r in data["rows"]:
        if r["seconds"] is not None:
            assert r["seconds"] > 0 and math.isfinite(r["seconds"]), r
    methods = {r["method"] for r in data["rows"]}
    assert {"compiler (Numba)", "eager tape (micrograd-style)", 'compiler, backend="python"'} <= methods
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for heading in ("## calls", "## batch", "## mlp", "## graphs"):
        assert heading in run.stdout


def test_bench_help_and_bad_suite():
    ok = subprocess.run([sys.executable, "-m", "compiler", "bench", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "--quick" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "compiler", "bench", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown suite nope")
