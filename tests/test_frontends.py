"""Front-ends: SymPy in and out, @cc.jit tracing, the eager Value API, gradcheck, NumPy ufuncs."""

import math
import re

import numpy as np
import pytest
import sympy as sp

import compiler as cc
from compiler import value as value_module

x, y = cc.symbols("x y")


# --- SymPy ---

def test_compile_sympy_directly():
    X, Y = sp.symbols("x y")
    expr = sp.sin(X) * Y + sp.exp(X) / (1 + Y**2) + sp.sqrt(X) + sp.Max(X, Y)
    fn = cc.compile(expr, [X, Y], backend="python")
    exact = [expr, sp.diff(expr, X), sp.diff(expr, Y)]
    for a, b in [(0.3, 1.7), (2.0, 0.5)]:
        v, g = fn.value_and_grad(a, b)
        ref = [float(e.subs({X: a, Y: b}).evalf(30)) for e in exact]
        np.testing.assert_allclose([v, *g], ref, rtol=1e-13)


def test_round_trip():
    e = cc.where(x > 1, cc.log1p(x) * cc.erf(y), cc.atan2(y, x) ** 3) + cc.relu(x) - cc.expm1(-y)
    back = cc.from_sympy(cc.to_sympy(e))
    a = cc.compile(e, [x, y], backend="python")
    b = cc.compile(back, [x, y], backend="python")
    for p in [(0.5, 0.25), (2.0, -1.5)]:
        assert a(*p) == pytest.approx(b(*p), rel=1e-14)
        np.testing.assert_allclose(a.grad(*p), b.grad(*p), rtol=1e-13)


def test_from_sympy_forms():
    X = sp.Symbol("x")
    assert cc.from_sympy(sp.sqrt(X)) is cc.sqrt(x)
    assert cc.from_sympy(1 / X) is 1.0 / x
    assert cc.from_sympy(sp.pi * X) is math.pi * x
    assert cc.from_sympy(sp.Piecewise((X, X > 0), (-X, True))) is cc.where(x > 0, x, -x)
    assert cc.from_sympy(sp.Min(X, 2, sp.Symbol("y"))).op == "minimum"
    assert cc.from_sympy(3).value == 3.0


def test_from_sympy_unsupported_names_function_and_lists_supported():
    X = sp.Symbol("x")
    with pytest.raises(cc.UnsupportedError, match=r"SymPy function hyper .* supported: .*sin"):
        cc.from_sympy(sp.hyper([1], [2], X) + 1)
    with pytest.raises(cc.UnsupportedError, match="final"):
        cc.from_sympy(sp.Piecewise((X, X > 0)))
    # complex numbers are complex128 constants now (issue 31; tests/test_complex.py)
    assert cc.ir.dtypes.precision(cc.from_sympy(sp.I * X)) == "complex128"


@pytest.mark.parametrize("names", ["x0:10", "x:3", "a:d", "A:C", "x2:5", "x10:12", "x y0:2 z", "xa:c",
                                   "a1b2:4", "θ0:2", "x:1", "p0:2, q:s"])
def test_symbols_reads_sympys_ranges(names):
    made = cc.symbols(names)
    assert isinstance(made, tuple)
    assert [s.name for s in made] == [str(s) for s in sp.symbols(names)]
    assert made == tuple(cc.Symbol(str(s)) for s in sp.symbols(names))


@pytest.mark.parametrize("names, message", [
    ("x:", "not one of SymPy's ranges"),
    (":3", "not one of SymPy's ranges"),         # SymPy: symbols named 0, 1, 2
    ("0:3", "not one of SymPy's ranges"),
    ("x1:3y", "not one of SymPy's ranges"),      # SymPy: x1y, x2y
    ("x(0:3)", "not one of SymPy's ranges"),
    ("x:y:z", "not one of SymPy's ranges"),
    ("a:D", "not one of SymPy's ranges"),        # SymPy: a ... z, A ... D
    (r"x\:3", "not one of SymPy's ranges"),      # SymPy: the one symbol x:3
    ("x5:2", "the range 'x5:2' is empty"),
    ("u d:a", "the range 'd:a' (name 2 of 'u d:a') is empty"),
    ("x0:10000000", "more than 1,000,000 symbols"),
    pytest.param("x0:" + "9" * 5000, "more than 1,000,000 symbols", id="x0:9...9 of 5000 digits"),
])
def test_symbols_refuses_other_names_with_a_colon(names, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        cc.symbols(names)
    assert cc.Symbol(names).name == names    # one symbol of any name is still cc.Symbol's


def test_symbols_without_ranges_is_unchanged():
    assert cc.symbols("x") is x and cc.symbols("x, y") == (x, y)


# --- @cc.jit ---

def test_jit_traces_once():
    calls = []

    @cc.jit(backend="python")
    def f(x, y):
        calls.append(1)
        return cc.exp(-x * y) + x

    assert isinstance(f, cc.CompiledFunction) and f.__name__ == "f"
    assert f(1.0, 2.0) == pytest.approx(math.exp(-2.0) + 1.0)
    assert f.grad(1.0, 2.0) == pytest.approx((-2.0 * math.exp(-2.0) + 1.0, -math.exp(-2.0)))
    assert "def value_and_grad(x, y):" in f.source
    f(3.0, 4.0)
    assert len(calls) == 1


def test_jit_numba_and_wrt():
    @cc.jit(wrt=["w"])
    def loss(w, data):
        return (w * data - 1.0) ** 2

    assert loss.grad(2.0, 3.0) == (2 * (2.0 * 3.0 - 1.0) * 3.0,)
    X = np.linspace(0, 1, 11)
    np.testing.assert_allclose(loss.grad(2.0, X)[0], 2 * (2.0 * X - 1.0) * X, rtol=1e-15)


def test_jit_control_flow_error_points_to_where():
    with pytest.raises(cc.TracingError, match=r"cc\.where"):
        @cc.jit
        def f(x):
            if x > 0:
                return x
            return -x
    with pytest.raises(cc.TracingError, match=r"cc\.sin, not math\.sin"):
        @cc.jit
        def g(x):
            return math.sin(x)
    with pytest.raises(TypeError, match="named scalar parameters"):
        @cc.jit
        def h(*xs):
            return xs[0]
    with pytest.raises(ValueError, match="not parameters"):
        cc.jit(lambda a: a, wrt=["b"])


def test_jit_multiple_outputs_and_numpy_functions():
    @cc.jit(backend="python")
    def f(a, b):
        return np.sin(a) * b, np.maximum(a, b) + np.float64(2.0) * a

    assert f(0.5, 1.0) == pytest.approx((math.sin(0.5), 1.0 + 1.0))
    assert f.grad(0.5, 1.0).shape == (2, 2)


# --- the eager Value API ---

@pytest.fixture
def python_values(monkeypatch):
    monkeypatch.setattr(cc.Value, "backend", "python")


def test_value_basic(python_values):
    a = cc.Value(3.0)
    y = a * a + a
    assert y.data == 12.0
    y.backward()
    assert a.grad == 7.0
    y.backward()
    assert a.grad == 14.0          # accumulates
    y.zero_grad()
    assert a.grad == 0.0 and y.grad == 0.0


def test_value_grad_none_counts_as_zero(python_values):
    """PyTorch's habit: `p.grad = None` resets a gradient; backward() then sets it afresh."""
    a = cc.Value(3.0)
    w = cc.Value(np.array([[1.0, 2.0], [3.0, 4.0]]))
    loss = (w * a).sum()
    a.grad = w.grad = loss.grad = None
    loss.backward()
    assert a.grad == 10.0 and loss.grad == 1.0
    np.testing.assert_array_equal(w.grad, np.full((2, 2), 3.0))
    loss.backward()                # and accumulates from there, as before
    assert a.grad == 20.0
    np.testing.assert_array_equal(w.grad, np.full((2, 2), 6.0))
    w.grad = None
    loss.backward()
    np.testing.assert_array_equal(w.grad, np.full((2, 2), 3.0))


def test_value_micrograd_reference(python_values):
    """The sanity check of micrograd's README, against its published numbers."""
    a = cc.Value(-4.0)
    b = cc.Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    assert g.data == pytest.approx(24.7041, abs=1e-4)
    g.backward()
    assert a.grad == pytest.approx(138.8338, abs=1e-4)
    assert b.grad == pytest.approx(645.5773, abs=1e-4)


def test_value_intermediate_grads_and_repeated_subexpressions(python_values):
    p = cc.Value(2.0)
    q = p * p
    r = p * p             # the same computation again: its own node, its own grad
    s = q * 3 + r
    s.backward()
    assert (q.grad, r.grad, p.grad, s.grad) == (3.0, 1.0, 16.0, 1.0)


def test_value_neuron(python_values):
    a, b, c, f = cc.Value(0.4), cc.Value(0.8), cc.Value(1.0), cc.Value(-1.5)
    n = (c + a * b) * f
    out = n.tanh()
    out.backward()
    t = math.tanh((1.0 + 0.32) * -1.5)
    assert out.data == pytest.approx(t, rel=1e-15)
    assert n.grad == pytest.approx(1 - t * t, rel=1e-14)
    assert a.grad == pytest.approx((1 - t * t) * -1.5 * 0.8, rel=1e-14)
    assert cc.exp(a).data == pytest.approx(math.exp(0.4))   # library functions take Values too


def test_value_cache_compiles_each_structure_once():
    value_module._programs.clear()
    w = cc.Value(0.5)
    for step in range(20):  # a training loop: the same graph rebuilt with new numbers
        xi = 0.1 * step
        loss = (w * xi - 1.0) ** 2
        loss.backward()
        w.data -= 0.1 * w.grad
        w.grad = 0.0
    assert len(value_module._programs) == 1
    program, _ = next(iter(value_module._programs.values()))
    assert program.backend == "llvm" and program.requested_backend == "auto"
    # the first step's gradient, independently: d/dw (w*0 - 1)^2 = 0, so w moved only later
    assert w.data != 0.5


def test_value_errors(python_values):
    with pytest.raises(TypeError, match="real number"):
        cc.Value("a")
    with pytest.raises(TypeError, match="must be a Value, a real number"):
        cc.Value(1.0) + "a"
    with pytest.raises(TypeError, match="condition of where must be a comparison"):
        cc.where(cc.Value(1.0), 1.0, 2.0)
    with pytest.raises(ValueError, match="backward.. needs a scalar Value"):
        cc.Value(np.ones(3)).backward()


# --- gradcheck ---

def test_gradcheck_passes_and_detects_a_wrong_gradient(monkeypatch):
    fn = cc.compile([cc.sin(x) * y, cc.sigmoid(x * y)], [x, y], backend="python")
    result = cc.gradcheck(fn, 0.3, -1.2)
    assert result.ok and result.max_error < 1e-8 and result.analytic.shape == (2, 2)
    bad = cc.compile(cc.sin(x) * y, [x, y], backend="python")
    monkeypatch.setattr(bad, "grad", lambda *a: (1.0, 2.0))  # a wrong gradient must be caught
    assert not cc.gradcheck(bad, 0.3, -1.2).ok
    with pytest.raises(TypeError, match="expected a point of 2"):
        cc.gradcheck(fn, 1.0)
