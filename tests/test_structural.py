"""The same graph prints the same source in every process, whatever the process built before
(issue 28: statements are ordered and named by the graph's structure, not by when nodes were
made), so a second process finds the first one's disk-cache entry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import compiler as cc
from compiler import ir

_PROCESS = textwrap.dedent("""
    import hashlib, json, sys
    import numpy as np, compiler as cc
    from compiler.runtime import llvm as llvm_target
    if {history!r} == "other":  # build other things first, some of them parts of what follows
        junk = [cc.Symbol(f"z{{k}}") * k for k in range(40)]
        y0, x0 = cc.symbols("y x")
        _ = cc.sin(x0) * cc.exp(y0) + y0 * x0 + cc.tanh(x0 * y0)
        W0 = cc.Tensor("w", (4,))
    if {forbid_compile!r}:
        def refuse(*a, **k):
            raise AssertionError("compiled although the cache holds this function")
        llvm_target.compile_objects = refuse
    x, y = cc.symbols("x y")
    f = cc.exp(y) * cc.sin(x) + x * y + cc.tanh(x * y) ** 2 + cc.sin(x) * cc.exp(y) * x
    fn = cc.compile(f, [x, y], backend="llvm")
    value, grad = fn.value_and_grad(0.3, -0.7)
    X, w = cc.Tensor("X", (3, 4)), cc.Tensor("w", (4,))
    g = cc.compile(cc.sum(cc.tanh(X @ w) * w[0]) + cc.sum(w * w), [X, w], wrt=w, backend="python")
    digest = lambda text: hashlib.sha256(text.encode()).hexdigest()
    print(json.dumps([digest(fn.source), digest(g.source), value, list(grad)]))
""")


def _process(tmp_path, history: str, forbid_compile: bool = False) -> list:
    env = dict(os.environ, COMPILER_CACHE_DIR=str(tmp_path / "cache"))
    code = _PROCESS.format(history=history, forbid_compile=forbid_compile)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_two_histories_print_one_source_and_share_one_cache_entry(tmp_path):
    first = _process(tmp_path, "plain")
    entries = sorted(p.name for p in (tmp_path / "cache").rglob("*.o"))
    assert entries
    # another history: the same sources, and the machine code is loaded, never compiled again
    assert _process(tmp_path, "other", forbid_compile=True) == first
    assert sorted(p.name for p in (tmp_path / "cache").rglob("*.o")) == entries


def test_topo_order_is_structural():
    """The order depends on operands and their order only (operands before their users)."""
    x, y = cc.symbols("x y")
    late = cc.cos(y)  # made before the sine: by creation order it would be listed first
    f = cc.sin(x) + late * 2.0
    order = ir.topo_order([f])
    pos = {n.id: k for k, n in enumerate(order)}
    assert all(pos[a.id] < pos[n.id] for n in order for a in n.args)
    assert [n.op for n in order] == [n.op for n in ir.topo_order([f.args[0] + f.args[1]])]
    first = f.args[0] if f.args[0].op == "sin" else f.args[1]
    assert pos[first.id] < pos[late.id] or f.args[0] is not first  # operands in their order
    deep = x
    for k in range(100_000):
        deep = deep + 1.0 if k % 2 else deep * 1.5
    assert len(ir.topo_order([deep])) == 100_000 + 3  # no recursion; every node once
    assert ir.topo_order([deep], limit=10) is None
    assert x not in ir.topo_order([f], exclude={x.id})


def test_wait_compiles_derived_functions_made_so_far_and_those_asked_for():
    """After ``wait()``, the derivative methods called before, and those named, answer from
    compiled code at their next (first) call (issue 28)."""
    import numpy as np
    x = cc.Tensor("x", (6,))
    f = cc.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    x0 = np.linspace(-1.0, 1.0, 6)
    fn = cc.compile(f, [x], wrt=x)  # "auto": NumPy code answers first
    expected = fn.sparse_hessian(x0).toarray()
    assert fn.tiers == {"value": "numpy", "compressed hessian": "numpy"}
    assert "derived functions: compressed hessian: numpy" in repr(fn)
    fn.wait()
    # (tensor kernels of these ops compile on llvm: ``codegen.llvm_tensor``)
    assert fn.tiers == {"value": "llvm", "compressed hessian": "llvm"}
    other = cc.compile(f * 1.0 + 0.0 * x[0], [x], wrt=x).wait("sparse_hessian", "jvp", "hessian")
    assert set(other.tiers.values()) == {"llvm"} and {"jvp", "hvp", "compressed hessian"} <= set(other.tiers)
    np.testing.assert_array_equal(other.sparse_hessian(x0).toarray(), expected)
    np.testing.assert_allclose(other.hessian(x0), expected, rtol=1e-13)
    try:
        other.wait("laplacian")
    except ValueError as e:
        assert "sparse_hessian" in str(e)
    else:
        raise AssertionError("an unknown name was taken")
