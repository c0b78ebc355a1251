"""``runtime.llvm_index``: a warm cache finds a scalar kernel's object code from the schedule's
structure, without printing its LLVM IR, and never the code of another schedule."""

from __future__ import annotations

import numpy as np
import pytest

import compiler as cc
from compiler.codegen import llvm as codegen_llvm
from compiler.runtime import cache, llvm_index

a, b, c = cc.symbols("a b c")
POINT = (0.3, -1.2, 2.5)


def _expr(k: float):
    return cc.tanh(a * b + k) * cc.exp(-c * c) + cc.erf(a - c) / (1.0 + b * b)


def _no_emit(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("printed the LLVM IR although the index holds this schedule")
    monkeypatch.setattr(codegen_llvm, "emit", refuse)


def test_a_second_function_loads_by_structure_without_printing_ir(fresh_cache, monkeypatch):
    want = cc.compile(_expr(2.0), [a, b, c], backend="python").value_and_grad(*POINT)
    first = cc.compile(_expr(2.0), [a, b, c], backend="llvm").value_and_grad(*POINT)
    assert list(fresh_cache.rglob(f"*.{llvm_index.KIND}")) and list(fresh_cache.rglob("*.o"))
    np.testing.assert_allclose(first[1], want[1], rtol=1e-14)
    with monkeypatch.context() as m:
        _no_emit(m)
        again = cc.compile(_expr(2.0), [a, b, c], backend="llvm")
        assert again.value_and_grad(*POINT) == first
        assert again._code.target("value_and_grad").loaded
    # another constant is another schedule: printed, compiled, and its own numbers
    other = cc.compile(_expr(2.5), [a, b, c], backend="llvm").value_and_grad(*POINT)
    want_other = cc.compile(_expr(2.5), [a, b, c], backend="python").value_and_grad(*POINT)
    assert other[0] == pytest.approx(want_other[0], rel=1e-14) and other[0] != first[0]


def test_an_index_whose_object_code_is_gone_takes_the_usual_way(fresh_cache):
    first = cc.compile(_expr(1.0), [a, b, c], backend="llvm").value_and_grad(*POINT)
    for path in fresh_cache.rglob("*.o"):
        path.unlink()
    fn = cc.compile(_expr(1.0), [a, b, c], backend="llvm")
    assert fn.value_and_grad(*POINT) == first and not fn._code.target("value_and_grad").loaded
    assert list(fresh_cache.rglob("*.o"))  # compiled and stored again


def test_schedules_without_an_exact_description_have_no_key():
    fp = "machine"
    (total, _), ys = cc.scan(lambda carry, x: ((carry[0] * a + x, carry[1]), carry[0]), (1.0, 0.0),
                             xs=np.arange(3.0))
    loop = cc.compile(total + cc.sum(ys), [a], backend="python")
    assert llvm_index.key(fp, loop.inputs, loop.plan["value"]) is None
    plain = cc.compile(_expr(2.0), [a, b, c], backend="python")
    key = llvm_index.key(fp, plain.inputs, plain.plan["value"])
    assert key is not None and key != llvm_index.key(fp, plain.inputs, plain.plan["value_and_grad"])
    assert key != llvm_index.key("another machine", plain.inputs, plain.plan["value"])
    assert cache.load("0" * 64, llvm_index.KIND) is None
