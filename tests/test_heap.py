"""The runtime keeps freed arrays in the heap (runtime/heap.py): glibc's malloc thresholds are
raised once a tensor function's kernel loads, and $COMPILER_MALLOC=0 leaves them alone."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

CHILD = """
import numpy as np, compiler as cc
from compiler.runtime import heap
assert not heap._state, "raised before any tensor kernel loaded"
x = cc.Tensor("x", (3,))
fn = cc.compile(cc.sum(x * x), [x], backend="python")
fn(np.ones(3))
print(heap._state)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="glibc's mallopt only")
@pytest.mark.parametrize("setting, expected", [("", "[True]"), ("0", "[False]")])
def test_thresholds_raised_when_tensor_code_runs(setting, expected):
    env = dict(os.environ, COMPILER_MALLOC=setting)
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=120,
                         cwd=os.path.dirname(__file__))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected
