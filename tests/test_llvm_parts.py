"""A large llvm compile shared with a helper process (``runtime.llvm_parts``): the same object
files as one process makes, both processes do their share, and a failing helper changes
nothing but the time (and says so once)."""

import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import compiler as cc
from compiler.codegen import llvm as codegen_llvm
from compiler.runtime import llvm, llvm_parts, threads


@pytest.fixture(scope="module")
def module():
    xs = list(cc.symbols(" ".join(f"x{i}" for i in range(12))))
    terms = [cc.sin(xs[i % 12] * xs[(i * 5 + 1) % 12] + 0.001 * i) for i in range(700)]
    fn = cc.compile(sum(terms), xs, backend="python")
    plan = fn.plan["value_and_grad"]
    return fn, codegen_llvm.emit(fn.inputs, plan.outputs, plan.statements, chunk=300)


@pytest.fixture(scope="module")
def alone(module):
    """The object files this process makes by itself (the reference)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("COMPILER_LLVM_PROCESSES", "1")
    try:
        return llvm.compile_objects(module[1])
    finally:
        mp.undo()


def test_a_helper_process_gives_the_objects_one_process_gives(module, alone, monkeypatch):
    fn, mod = module
    assert len(mod.texts) >= llvm_parts.MIN_PARTS
    monkeypatch.setenv("COMPILER_LLVM_PROCESSES", "2")
    helpers = []
    real = llvm_parts.start
    monkeypatch.setattr(llvm_parts, "start", lambda *a, **k: helpers.append(real(*a, **k)) or helpers[-1])
    # this process waits until the helper has made a part: it surely takes some from the end
    compile_part = llvm._compile_part

    def slow_compile_part(*a):
        deadline = time.monotonic() + 30
        while helpers and not helpers[0].objects and not helpers[0].ended and time.monotonic() < deadline:
            time.sleep(0.01)
        return compile_part(*a)
    monkeypatch.setattr(llvm, "_compile_part", slow_compile_part)
    shared = llvm.compile_objects(mod)
    assert shared == alone
    (helper,) = helpers
    made = sorted(helper.objects)
    assert made and made == list(range(len(mod.texts) - len(made), len(mod.texts)))  # from the end
    assert helper.child.returncode is not None  # stopped and reaped
    kernel = llvm.NativeKernel(shared, mod)
    point = np.linspace(-1.0, 1.0, 12)
    out, scratch = np.empty(13), np.empty(kernel.n_scratch)
    kernel.cfunc(point.ctypes.data, out.ctypes.data, 1, scratch.ctypes.data)
    value, grad = fn.value_and_grad(*point)
    assert out[0] == pytest.approx(value, rel=1e-13) and np.allclose(out[1:], grad, rtol=1e-12)


def test_a_helper_that_fails_leaves_the_compile_to_this_process(module, alone, monkeypatch):
    _, mod = module
    monkeypatch.setenv("COMPILER_LLVM_PROCESSES", "2")
    monkeypatch.setattr(llvm_parts, "_CHILD", "import sys; sys.exit(3)")
    assert llvm.compile_objects(mod) == alone


@pytest.mark.parametrize("child, said", [
    # it claims the last parts, then dies without sending them
    ("import struct, sys\nfor k in ({last}, {last} - 1, {last} - 2): sys.stdout.buffer.write(b'C' + struct.pack('<I', k))\n"
     "sys.stdout.flush(); sys.exit(5)", "exited with code 5"),
    # it claims a part, then writes what no helper writes
    ("import struct, sys, time\nsys.stdout.buffer.write(b'C' + struct.pack('<I', {last}) + b'?junk')\n"
     "sys.stdout.flush(); time.sleep(30)", "wrote something unexpected"),
])
def test_a_helper_that_dies_midway_is_reported_once_and_changes_nothing(module, alone, monkeypatch, child, said):
    _, mod = module
    last = len(mod.texts) - 1
    monkeypatch.setenv("COMPILER_LLVM_PROCESSES", "2")
    monkeypatch.setattr(llvm_parts, "_CHILD", child.format(last=last))
    monkeypatch.setattr(llvm_parts, "_warned", False)
    # (this process waits for the claims to come before it starts: then they surely count)
    real = llvm_parts.start

    def start(*a, **k):
        helper = real(*a, **k)
        deadline = time.monotonic() + 10
        while not helper.has_claimed(last) and time.monotonic() < deadline:
            time.sleep(0.01)
        return helper
    monkeypatch.setattr(llvm_parts, "start", start)
    with pytest.warns(RuntimeWarning, match=said) as caught:
        assert llvm.compile_objects(mod) == alone
    assert "COMPILER_LLVM_PROCESSES=1" in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process
        assert llvm.compile_objects(mod) == alone


def test_no_helper_when_told_or_when_small(monkeypatch):
    monkeypatch.setenv("COMPILER_LLVM_PROCESSES", "1")
    assert llvm_parts.start(100) is None
    monkeypatch.setenv("COMPILER_LLVM_PROCESSES", "2")
    assert llvm_parts.start(llvm_parts.MIN_PARTS - 1) is None


def test_a_helper_not_needed_is_stopped(monkeypatch):
    monkeypatch.setenv("COMPILER_LLVM_PROCESSES", "2")
    helper = llvm_parts.start(llvm_parts.MIN_PARTS)
    assert helper is not None
    helper.stop()
    assert helper.child.returncode is not None and helper.result(0) is None


def test_this_process_counts_its_ended_children_as_its_own_cpu():
    # an llvm helper's CPU time is this process's work, never "another core busy"
    before = threads._own_cpu()
    subprocess.run([sys.executable, "-I", "-c", "import time\nt = time.process_time()\n"
                    "while time.process_time() - t < 0.3: pass"], check=True)
    assert threads._own_cpu() - before >= 0.25


def test_large_scalar_kernels_skip_the_ir_pipeline_but_not_instcombine():
    # a kernel of LARGE_PARTS parts or more runs instcombine alone: pow(x, 2.0) still becomes a
    # multiply (a call would cost 3x per call on a Rosenbrock), and the results are O2's
    xs = list(cc.symbols(" ".join(f"x{i}" for i in range(40))))
    f = sum(100 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1 - xs[i]) ** 2 for i in range(39))
    fn = cc.compile(f, xs, backend="python")
    plan = fn.plan["value_and_grad"]
    mod = codegen_llvm.emit(fn.inputs, plan.outputs, plan.statements, chunk=60)
    assert len(mod.texts) >= llvm.LARGE_PARTS and "@llvm.pow.f64" in mod.text
    objects = llvm.compile_objects(mod)
    assert not any(b"pow" in obj for obj in objects)  # no call, no symbol
    kernel = llvm.NativeKernel(objects, mod)
    point = np.linspace(-1.2, 1.1, 40)
    out, scratch = np.empty(41), np.empty(kernel.n_scratch)
    kernel.cfunc(point.ctypes.data, out.ctypes.data, 1, scratch.ctypes.data)
    x = point
    value = np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    grad = np.zeros(40)
    grad[:-1] += -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    grad[1:] += 200 * (x[1:] - x[:-1] ** 2)
    assert out[0] == pytest.approx(value, rel=1e-13) and np.allclose(out[1:], grad, rtol=1e-12, atol=1e-12)


def test_a_large_function_compiles_with_the_helper_started_before_its_ir(monkeypatch, tmp_path):
    monkeypatch.setenv("COMPILER_CACHE_DIR", str(tmp_path))  # cold: nothing indexed yet
    monkeypatch.setenv("COMPILER_LLVM_PROCESSES", "2")
    helpers, emitted = [], []
    real_start, real_emit = llvm_parts.start, codegen_llvm.emit
    monkeypatch.setattr(llvm_parts, "start", lambda n: helpers.append((len(emitted), real_start(n))) or helpers[-1][1])
    monkeypatch.setattr(codegen_llvm, "emit", lambda *a, **k: emitted.append(1) or real_emit(*a, **k))
    compile_part = llvm._compile_part

    def compile_part_once_the_helper_made_one(*a):  # (so that it surely made some)
        deadline = time.monotonic() + 30
        while helpers and helpers[0][1] is not None and not helpers[0][1].objects \
                and not helpers[0][1].ended and time.monotonic() < deadline:
            time.sleep(0.01)
        return compile_part(*a)
    monkeypatch.setattr(llvm, "_compile_part", compile_part_once_the_helper_made_one)
    xs = list(cc.symbols(" ".join(f"x{i}" for i in range(10))))
    f = sum(cc.sin(xs[i % 10] * xs[(3 * i + 1) % 10] + 0.001 * i) * (1 + 0.01 * i) for i in range(2000))
    fn = cc.compile(f, xs, backend="llvm")
    point = np.linspace(-1.0, 1.0, 10)
    value, grad = fn.value_and_grad(*point)
    started, helper = helpers[0]
    assert started == 0 and helper is not None  # started before the IR was printed
    assert helper.objects and helper.child.returncode is not None  # it made parts, then was stopped
    ref = cc.compile(f, xs, backend="python")
    ref_value, ref_grad = ref.value_and_grad(*point)
    assert value == pytest.approx(ref_value, rel=1e-13) and np.allclose(grad, ref_grad, rtol=1e-12)
