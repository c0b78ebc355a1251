"""The llvm target's one-point entry (runtime/native_entry.py): a CPython function made with LLVM
that reads the numbers, calls the kernel and builds the result. Its answers against the python
backend's; what it turns away (arrays, bools, huge ints, wrong counts) reaches the checked path."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import compiler as cc
from compiler.runtime import native_entry

pytestmark = pytest.mark.skipif(not native_entry.supported(), reason="CPython's float layout only")
x, y, z = cc.symbols("x y z")
ONE = cc.sin(x) * y + cc.exp(z / (1.0 + x * x))
MANY = [ONE, x * y * z, cc.log(1.0 + y * y)]


@pytest.fixture(scope="module")
def pairs():
    """(llvm, python) twins of a one-output and a three-output function, derivatives wrt x and z."""
    return [(cc.compile(e, [x, y, z], wrt=[x, z], backend=b1), cc.compile(e, [x, y, z], wrt=[x, z], backend=b2))
            for e in (ONE, MANY) for b1, b2 in [("llvm", "python")]]


def test_values_and_gradients_as_the_python_backend(pairs):
    rng = np.random.default_rng(7)
    for fast, slow in pairs:
        for point in rng.normal(size=(20, 3)):
            args = [float(v) for v in point]
            assert fast(*args) == pytest.approx(slow(*args), rel=1e-13)
            (v, g), (v2, g2) = fast.value_and_grad(*args), slow.value_and_grad(*args)
            assert v == pytest.approx(v2, rel=1e-13)
            np.testing.assert_allclose(np.asarray(g, float), np.asarray(g2, float), rtol=1e-12)
            assert type(v) is type(v2) and np.shape(g) == np.shape(g2)


def test_what_it_takes_and_what_it_turns_away(pairs):
    one, _ = pairs[0]
    assert one(1, np.float64(2.0), 3) == one(1.0, 2.0, 3.0)  # ints and float subclasses, exactly
    batch = one(np.array([1.0, 2.0]), 2.0, 3.0)  # an array: the batch
    assert batch.shape == (2,) and batch[1] == one(2.0, 2.0, 3.0)
    with pytest.raises(TypeError, match="expected 3 argument"):
        one(1.0, 2.0)
    assert one(True, 2.0, 3.0) == one(1.0, 2.0, 3.0)  # a bool: the checked path, as on every backend
    with pytest.raises(cc.ArgumentError, match="beyond float64 range"):
        one(10 ** 400, 2.0, 3.0)


def test_scratch_from_the_heap_and_lifetimes(monkeypatch):
    """A kernel whose scratch is past STACK_SCRATCH takes it from PyMem_Malloc; functions freed in any
    order leave the others' entries working."""
    monkeypatch.setattr(native_entry, "STACK_SCRATCH", -1)
    fns = [cc.compile(ONE * k, [x, y, z], backend="llvm") for k in range(1, 9)]
    expected = [fn(0.3, 0.4, 0.5) for fn in fns]
    del fns[::2], expected[::2]
    gc.collect()
    assert [fn(0.3, 0.4, 0.5) for fn in fns] == expected
    assert fns[0].value_and_grad(0.3, 0.4, 0.5)[0] == expected[0]


def test_many_results_are_boxed_by_a_loop():
    """More results than ``UNROLLED_RESULTS``: the entry's tuples are built by a loop (value, and
    the gradient of value_and_grad), the same numbers in the same order as the python backend's."""
    n = native_entry.UNROLLED_RESULTS + 9
    outputs = [cc.sin(x * (k + 1)) * y + z ** 2 / (k + 1) for k in range(n)]
    fast = cc.compile(outputs, [x, y, z], backend="llvm")
    slow = cc.compile(outputs, [x, y, z], backend="python")
    for p in [(0.3, -1.1, 2.0), (1.5, 0.25, -0.75)]:
        assert fast(*p) == pytest.approx(slow(*p), rel=1e-14, abs=1e-15)
        (v, g), (vs, gs) = fast.value_and_grad(*p), slow.value_and_grad(*p)
        assert v == pytest.approx(vs, rel=1e-14, abs=1e-15) and len(v) == n and np.shape(g) == (n, 3)
        np.testing.assert_allclose(g, gs, rtol=1e-13, atol=1e-15)
    assert type(fast._value).__name__ == "builtin_function_or_method"  # the native entry answers
    with pytest.raises(TypeError, match="expected 3 argument"):
        fast(1.0, 2.0)
    single = cc.compile(outputs, [x, y, z], wrt=y, backend="llvm")  # one gradient per output
    np.testing.assert_allclose(single.grad(0.3, -1.1, 2.0), [np.sin(0.3 * (k + 1)) for k in range(n)], rtol=1e-14)
