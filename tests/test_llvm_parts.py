"""A large llvm compile shared with a helper process (``runtime.llvm_parts``): the same object
files as one process makes, and a failing helper changes nothing."""

import numpy as np
import pytest

import compiler as cc
from compiler.codegen import llvm as codegen_llvm
from compiler.runtime import llvm, llvm_parts


@pytest.fixture(scope="module")
def module():
    xs = list(cc.symbols(" ".join(f"x{i}" for i in range(12))))
    terms = [cc.sin(xs[i % 12] * xs[(i * 5 + 1) % 12] + 0.001 * i) for i in range(700)]
    fn = cc.compile(sum(terms), xs, backend="python")
    plan = fn.plan["value_and_grad"]
    return fn, codegen_llvm.emit(fn.inputs, plan.outputs, plan.statements, chunk=300)


def test_a_helper_process_gives_the_objects_one_process_gives(module, monkeypatch):
    fn, mod = module
    assert len(mod.texts) >= llvm_parts.MIN_PARTS
    monkeypatch.setenv("COMPILER_LLVM_PROCESSES", "1")
    alone = llvm.compile_objects(mod)
    monkeypatch.setenv("COMPILER_LLVM_PROCESSES", "2")
    started = []
    real = llvm_parts.start
    monkeypatch.setattr(llvm_parts, "start", lambda *a: started.append(1) or real(*a))
    shared = llvm.compile_objects(mod)
    assert started and shared == alone
    kernel = llvm.NativeKernel(shared, mod)
    point = np.linspace(-1.0, 1.0, 12)
    out, scratch = np.empty(13), np.empty(kernel.n_scratch)
    kernel.cfunc(point.ctypes.data, out.ctypes.data, 1, scratch.ctypes.data)
    value, grad = fn.value_and_grad(*point)
    assert out[0] == pytest.approx(value, rel=1e-13) and np.allclose(out[1:], grad, rtol=1e-12)


def test_a_helper_that_fails_leaves_the_compile_to_this_process(module, monkeypatch):
    _, mod = module
    monkeypatch.setenv("COMPILER_LLVM_PROCESSES", "1")
    alone = llvm.compile_objects(mod)
    monkeypatch.setenv("COMPILER_LLVM_PROCESSES", "2")
    monkeypatch.setattr(llvm_parts, "_CHILD", "import sys; sys.exit(3)")
    assert llvm.compile_objects(mod) == alone
