"""The release artefacts work: ``.ci/smoke`` builds the sdist and the wheel and installs each in
a fresh virtual environment, where the package imports, compiles and differentiates (slow tier:
``python -m pytest -m slow tests/test_release.py``; 65 s here with pip's cache warm, 2.4 minutes for
``bash .ci/smoke`` on a loaded machine)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_sdist_and_wheel_install_and_run_in_fresh_venvs():
    pytest.importorskip("build", reason="python -m pip install build")
    if shutil.which("bash") is None:
        pytest.skip("the smoke script is a bash script")
    run = subprocess.run(["bash", str(ROOT / ".ci" / "smoke")], capture_output=True, text=True, timeout=1200,
                         env=dict(os.environ, PYTHON=sys.executable), check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for artefact in ("-py3-none-any.whl", ".tar.gz"):
        assert any(artefact in line and "differentiates" in line for line in run.stdout.splitlines()), run.stdout
