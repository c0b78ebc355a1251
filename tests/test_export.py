"""fn.save: a standalone module that imports and runs without the compiler package."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import compiler as cc

x, y = cc.symbols("x y")

_CHILD = textwrap.dedent("""
    import json, sys
    sys.modules["compiler"] = None          # the package must not be needed
    sys.path.insert(0, {directory!r})
    import numpy as np
    import {module} as m
    v, g = m.value_and_grad({args})
    print(json.dumps([float(v), [np.asarray(gi).tolist() for gi in g]]))
""")


def _run_saved(tmp_path, fn, name: str, args_text: str, jit: bool = True):
    fn.save(tmp_path / f"{name}.py", jit=jit)
    code = _CHILD.format(directory=str(tmp_path), module=name, args=args_text)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("jit", [True, False])
def test_saved_scalar_module_gives_the_same_numbers(tmp_path, jit):
    fn = cc.compile(cc.sin(x) * y + cc.sigmoid(x * y), [x, y])
    v, g = _run_saved(tmp_path, fn, f"scalar_{int(jit)}", "1.25, -0.5", jit)
    want_v, want_g = fn.value_and_grad(1.25, -0.5)
    assert v == pytest.approx(want_v, rel=1e-14) and g == pytest.approx(list(want_g), rel=1e-14)
    text = (tmp_path / f"scalar_{int(jit)}.py").read_text()
    assert ("numba.njit" in text.split('"""', 2)[2]) == jit
    assert "import compiler" not in text


def test_saved_tensor_module(tmp_path):
    W = cc.Tensor("W", (2, 3))
    fn = cc.compile(cc.sum(cc.tanh(W) ** 2) + cc.logsumexp(W), [W], backend="python")
    v, (g,) = _run_saved(tmp_path, fn, "tensor", "np.arange(6.0).reshape(2, 3) / 5")
    want_v, (want_g,) = fn.value_and_grad(np.arange(6.0).reshape(2, 3) / 5)
    assert v == pytest.approx(want_v, rel=1e-14)
    np.testing.assert_allclose(g, want_g, rtol=1e-14)
