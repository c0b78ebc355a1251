"""The public API is typed for its users (PEP 561): ``compiler/py.typed`` ships, and mypy, as
configured in pyproject.toml (``[tool.mypy]``: which modules are checked and why), reports no
error — the package's ``__init__`` and ``tests/typing_client.py``, a user's code calling every
kind of entry point, included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_package_says_it_is_typed():
    assert (ROOT / "compiler" / "py.typed").exists()
    assert 'compiler = ["py.typed"]' in (ROOT / "pyproject.toml").read_text(encoding="utf-8"), \
        "py.typed must be package data, or the wheel leaves it out"


def test_mypy_finds_no_error_in_the_public_api():
    pytest.importorskip("mypy", reason="mypy is in the test extra: pip install '.[test]'")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, f"mypy (pyproject.toml's [tool.mypy]):\n{run.stdout[-6000:]}{run.stderr[-2000:]}"


def test_mypy_checks_every_module_that_defines_a_public_name():
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11's tomllib reads pyproject.toml")
    import types

    import compiler as cc

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    checked = set(config["files"])
    defining = set()
    for name in cc.__all__:
        obj = getattr(cc, name)
        module = obj.__name__ if isinstance(obj, types.ModuleType) else obj.__module__
        path = Path(*module.split("."))
        defining.add((path / "__init__.py" if (ROOT / path).is_dir() else path.with_suffix(".py")).as_posix())
    missing = sorted(defining - checked)
    assert not missing, f"pyproject.toml [tool.mypy] files: add {missing} (they define public names)"
