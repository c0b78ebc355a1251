"""The examples run as the README shows them, and do what they say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(script: str, *args: str, timeout: int = 300) -> str:
    out = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                         timeout=timeout, cwd=EXAMPLES, env=dict(os.environ))
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_quickstart_runs():
    assert _run("quickstart.py")


def test_train_moons_loss_falls_and_plot_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "moons.png"
    text = _run("train_moons.py", "--steps", "150", "--plot", str(plot))
    first, last = map(float, re.search(r"loss ([0-9.]+) -> ([0-9.]+)", text).groups())
    accuracy = float(re.search(r"training accuracy ([0-9.]+)%", text).group(1))
    assert last < 0.2 * first and accuracy >= 95.0, text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_moons_with_sgd_and_no_plot():
    text = _run("train_moons.py", "--steps", "60", "--optimizer", "sgd", "--plot", "")
    first, last = map(float, re.search(r"loss ([0-9.]+) -> ([0-9.]+)", text).groups())
    assert last < first


def test_readme_tour_runs_as_written(tmp_path):
    """The first code block of the README's tour, run as it stands (in a scratch directory:
    it writes f_module.py), then its results checked against NumPy."""
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    tour = readme[readme.index("## Tour"):]
    code = re.search(r"```python\n(.*?)```", tour, re.S).group(1)
    script = tmp_path / "tour.py"
    script.write_text(code + "\nimport json\nprint(json.dumps([fn(1.0, 2.0), list(fn.grad(1.0, 2.0)),"
                      " float(abs(gx - (np.cos(X) * Y + 2 * X)).max())]))\n", encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env=dict(os.environ))
    assert out.returncode == 0, out.stderr[-3000:]
    import json
    import math
    value, grad, batch_error = json.loads(out.stdout.strip().splitlines()[-1])
    assert value == pytest.approx(math.sin(1.0) * 2.0 + 1.0, rel=1e-15)
    assert grad == pytest.approx([math.cos(1.0) * 2.0 + 2.0, math.sin(1.0)], rel=1e-15)
    assert batch_error < 1e-12
    assert (tmp_path / "f_module.py").exists()
