"""Test-wide setup: a private on-disk cache, so tests neither read nor fill the user's cache."""

import os
import tempfile

os.environ.setdefault("COMPILER_CACHE_DIR", tempfile.mkdtemp(prefix="compiler-test-cache-"))
os.environ.setdefault("COMPILER_PROGRESS", "0")


# --- the quick tier: `python -m pytest -m quick` (under 2 minutes on 2 cores) ---
# Every test but the slow ones and those tests/durations.json lists (a second or more on
# the last recording: `python tests/durations.py` says how to make it again).

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

_LONG = set(json.loads((Path(__file__).with_name("durations.json")).read_text()))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid not in _LONG and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.quick)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty disk cache of this test's own (its path, not yet created)."""
    monkeypatch.setenv("COMPILER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COMPILER_CACHE", raising=False)
    return tmp_path / "cache"
