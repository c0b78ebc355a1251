"""complex128 (issue 31): values, PyTorch-convention gradients, holomorphic Jacobians, refusals.

Random graphs of the complex ops are written once as small programs (nested tuples) and
interpreted four ways: as expressions of this library, as NumPy complex arithmetic (the value
oracle, and the function that central finite differences of the real and imaginary parts
differentiate: PyTorch's convention by definition), as SymPy expressions (differentiated exactly
for holomorphic Jacobians) and, where installed, as PyTorch and JAX computations. The broad
part runs on the python backend; Numba compiles one module-scoped set.
"""

from __future__ import annotations

import cmath
import math
import random

import numpy as np
import pytest
import sympy as sp

import compiler as cc
from compiler.ir import dtypes

Z1, Z2 = cc.symbols("z1 z2", dtype="complex128")
X = cc.Symbol("x")
INPUTS = [Z1, Z2, X]
SZ1, SZ2 = sp.symbols("z1 z2", complex=True)
SX = sp.Symbol("x", real=True)

HOLOMORPHIC_UNARY = ("neg", "exp", "sin", "cos", "tan", "sinh", "cosh", "tanh", "log", "sqrt")
BINARY = ("add", "sub", "mul", "div", "powc")
REAL_OF = ("abs2", "abs", "real", "imag", "angle")
N_GRAPHS = 24
H = 1e-6  # finite-difference step


def random_program(rng: random.Random, depth: int, holomorphic: bool):
    """A random expression over z1, z2, x as nested tuples."""
    if depth == 0 or rng.random() < 0.2:
        return rng.choice([("z1",), ("z2",), ("x",), ("const", complex(rng.uniform(-1, 1), rng.uniform(-1, 1))),
                           ("const", rng.uniform(0.5, 1.5))])
    r = rng.random()
    if r < 0.4:
        op = rng.choice(HOLOMORPHIC_UNARY + (() if holomorphic else ("conj",)))
        return (op, random_program(rng, depth - 1, holomorphic))
    op = rng.choice(BINARY)
    if op == "powc":
        return (op, random_program(rng, depth - 1, holomorphic), rng.choice([2.0, 3.0, -1.0, 0.5]))
    return (op, random_program(rng, depth - 1, holomorphic), random_program(rng, depth - 1, holomorphic))


class Eval:
    """The operations of a program in one world (this library, NumPy, SymPy, torch, JAX)."""

    def __init__(self, leaves, fns):
        self.leaves, self.fns = leaves, fns

    def __call__(self, p):
        if p[0] in self.leaves:
            return self.leaves[p[0]]
        if p[0] == "const":
            return self.fns["const"](p[1])
        if p[0] == "powc":
            return self(p[1]) ** self.fns["const"](p[2])
        args = [self(a) for a in p[1:]]
        if p[0] in ("add", "sub", "mul", "div"):
            a, b = args
            return {"add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b, "div": lambda: a / b}[p[0]]()
        if p[0] == "neg":
            return -args[0]
        return self.fns[p[0]](*args)


def _names(module, **renames):
    fns = {name: getattr(module, renames.get(name, name)) for name in
           ("exp", "sin", "cos", "tan", "sinh", "cosh", "tanh", "log", "sqrt", "conj", "abs", "real", "imag", "angle")}
    fns["abs2"] = lambda a: fns["abs"](a) ** 2
    return fns


def cc_eval(p):
    fns = {**_names(cc), "const": lambda c: c}
    return Eval({"z1": Z1, "z2": Z2, "x": X}, fns)(p)


def np_eval(p, z1, z2, x):
    fns = {**_names(np), "const": lambda c: c}
    with np.errstate(all="ignore"):
        return Eval({"z1": np.complex128(z1), "z2": np.complex128(z2), "x": np.float64(x)}, fns)(p)


def sp_eval(p):
    fns = {**_names(sp, conj="conjugate", abs="Abs", real="re", imag="im", angle="arg"),
           "const": lambda c: sp.Float(c) if isinstance(c, float) else sp.Float(c.real) + sp.I * sp.Float(c.imag)}
    return Eval({"z1": SZ1, "z2": SZ2, "x": SX}, fns)(p)


def reducer(rng: random.Random, p):
    """A real-valued function of a complex program."""
    return (rng.choice(REAL_OF), p)


def random_point(rng: random.Random):
    return complex(rng.uniform(-1, 1), rng.uniform(-1, 1)), complex(rng.uniform(-1, 1), rng.uniform(-1, 1)), \
        rng.uniform(0.2, 1.2)


def central_gradient(f, z1, z2, x):
    """dL/dx + i dL/dy for z1, z2, and dL/dx for x, by central differences of ``f``."""
    def d(shift):
        return (f(*shift(H)) - f(*shift(-H))) / (2 * H)
    g1 = d(lambda h: (z1 + h, z2, x)) + 1j * d(lambda h: (z1 + 1j * h, z2, x))
    g2 = d(lambda h: (z1, z2 + h, x)) + 1j * d(lambda h: (z1, z2 + 1j * h, x))
    return g1, g2, d(lambda h: (z1, z2, x + h))


def _well_conditioned(values) -> bool:
    return all(np.isfinite(v) and abs(v) < 1e4 for v in values)


def _programs(seed: int, holomorphic: bool):
    rng = random.Random(seed)
    out = []
    while len(out) < N_GRAPHS:
        p = random_program(rng, 3, holomorphic)
        point = random_point(rng)
        value = np_eval(p, *point)
        if not np.iscomplexobj(value) or not _well_conditioned([value]):
            continue
        out.append((p, point, rng))
    return out


# --- values ---

@pytest.mark.parametrize("k", range(N_GRAPHS))
def test_random_graph_value_against_numpy(k):
    p, point, _ = _programs(1, holomorphic=False)[k]
    fn = cc.compile(cc_eval(p), INPUTS, backend="python")
    got, expected = fn(*point), np_eval(p, *point)
    assert isinstance(got, complex)
    assert cmath.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-14), (p, got, expected)


# --- gradients: PyTorch's convention is what finite differences of x and y give ---

@pytest.mark.parametrize("k", range(N_GRAPHS))
def test_random_graph_gradient_against_finite_differences(k):
    p, point, rng = _programs(2, holomorphic=False)[k]
    q = reducer(rng, p)
    fn = cc.compile(cc_eval(q), INPUTS, backend="python")
    value, grad = fn.value_and_grad(*point)
    assert isinstance(value, float) and isinstance(grad[0], complex) and isinstance(grad[2], float)
    expected = central_gradient(lambda *a: float(np_eval(q, *a)), *point)
    assert value == pytest.approx(float(np_eval(q, *point)), rel=1e-12, abs=1e-14)
    scale = max(1.0, *(abs(e) for e in expected))
    for g, e in zip(grad, expected):
        assert abs(g - e) <= 1e-6 * scale, (q, grad, expected)


def test_abs_squared_gradient_is_2z_and_descends():
    z = cc.Symbol("z", dtype="complex128")
    fn = cc.compile(cc.abs(z) ** 2, [z], backend="python")
    assert fn.grad(1.5 - 0.5j) == (3 - 1j,)  # PyTorch: z.grad = 2z
    w = 1 + 1j
    for _ in range(50):  # z -= lr * grad descends to the minimum at 0
        w -= 0.1 * fn.grad(w)[0]
    assert abs(w) < 1e-4


def test_real_input_of_a_complex_graph_gets_a_real_gradient():
    fn = cc.compile(cc.real(cc.exp(1j * X)), [X], backend="python")
    value, (g,) = fn.value_and_grad(0.3)
    assert value == pytest.approx(math.cos(0.3)) and isinstance(g, float)
    assert g == pytest.approx(-math.sin(0.3), rel=1e-14)


def test_kinks_at_the_origin_follow_pytorch():
    z = cc.Symbol("z", dtype="complex128")
    assert cc.compile(cc.abs(z), [z], backend="python").grad(0j) == (0j,)
    assert cc.compile(cc.angle(z), [z], backend="python").grad(0j) == (0j,)


# --- holomorphic Jacobians against SymPy's exact derivatives ---

@pytest.mark.parametrize("k", range(N_GRAPHS // 2))
def test_random_holomorphic_jacobian_against_sympy(k):
    p, point, _ = _programs(3, holomorphic=True)[k]
    fn = cc.compile(cc_eval(p), INPUTS, wrt=[Z1, Z2], backend="python")
    J = fn.jacobian(*point)
    expr = sp_eval(p)
    subs = {SZ1: point[0], SZ2: point[1], SX: point[2]}
    for j, s in enumerate((SZ1, SZ2)):
        exact = complex(sp.diff(expr, s).evalf(30, subs=subs))
        assert cmath.isclose(J[j], exact, rel_tol=1e-9, abs_tol=1e-12), (p, j, J[j], exact)
    value, tangent = fn.jvp(*point, v=(0.25 - 1j, 2.0))
    assert cmath.isclose(tangent, J[0] * (0.25 - 1j) + J[1] * 2.0, rel_tol=1e-12, abs_tol=1e-12)
    assert cmath.isclose(value, complex(expr.evalf(30, subs=subs)), rel_tol=1e-12, abs_tol=1e-14)


def test_holomorphic_jacobian_of_a_real_input():
    fn = cc.compile(cc.exp(1j * X) * Z1, [X, Z1], backend="python")
    J = fn.jacobian(0.5, 2 + 1j)
    assert cmath.isclose(J[0], 1j * cmath.exp(0.5j) * (2 + 1j), rel_tol=1e-14)
    assert cmath.isclose(J[1], cmath.exp(0.5j), rel_tol=1e-14)


# --- promotion, conversion, types ---

def test_promotion_and_types():
    a = cc.Symbol("a", dtype="float32")
    assert dtypes.precision(a * Z1) == "complex128"
    assert dtypes.precision(X * 1j) == "complex128"       # a Python complex constant makes it complex
    assert dtypes.precision(cc.abs(Z1)) == "float64"      # complex -> real
    assert dtypes.precision(cc.abs(a)) == "float32"
    assert dtypes.precision(X + 0j) == "complex128"       # x + 0j is complex (not simplified away)
    fn = cc.compile(Z1 * X, [Z1, X], backend="python")
    assert fn.dtype == "complex128" and fn(2, 3) == 6 + 0j and isinstance(fn(2, 3), complex)
    out = fn(np.array([1, 2j]), 2.0)
    assert out.dtype == np.complex128 and np.array_equal(out, [2, 4j])
    assert cc.compile(cc.abs(Z1), [Z1], backend="python").dtype == "float64"
    y = cc.Symbol("y")
    f2 = cc.compile(y * y, [y], backend="python", dtype="complex128")  # the whole graph in complex128
    assert f2(1j) == -1 + 0j


def test_symbols_tensor_and_methods():
    u, v = cc.symbols("u v", dtype="complex128")
    T = cc.Tensor("T", (2,), dtype="complex128")
    assert dtypes.precision(T) == "complex128" and dtypes.precision(v) == "complex128"
    assert u.real.op == "real" and u.imag.op == "imag" and u.conj().op == "conj" and u.conjugate().op == "conj"
    assert np.conj(u).op == "conj" and np.real(u).op == "real" and np.imag(u).op == "imag"
    assert np.angle(u).op == "angle" and np.abs(u).op == "abs" and cc.angle(u).op == "angle"
    assert X.real is X and np.conj(X) is X and np.imag(X).value == 0.0  # of a real value


def test_sympy_bridge():
    e = sp.exp(sp.I * SZ1) + sp.re(SZ1) * sp.im(SZ2) + sp.conjugate(SZ1) * sp.Abs(SZ2) + sp.arg(SZ1) + (2 - 3 * sp.I)
    node = cc.from_sympy(e)
    assert dtypes.precision(node) == "complex128"
    fn = cc.compile(node, [cc.Symbol("z1", dtype="complex128"), cc.Symbol("z2", dtype="complex128")],
                    backend="python")
    z1, z2 = 0.3 - 0.7j, -1.1 + 0.4j
    exact = complex(e.evalf(30, subs={SZ1: z1, SZ2: z2}))
    assert cmath.isclose(fn(z1, z2), exact, rel_tol=1e-13)
    assert sp.simplify(cc.to_sympy(node) - e) == 0


def test_tensors_matmul_and_sum_gradient_against_finite_differences():
    W = cc.Tensor("W", (2, 3), dtype="complex128")
    v = cc.Tensor("v", (3,))
    L = cc.sum(cc.abs(W @ v + 1j) ** 2)
    fn = cc.compile(L, [W, v], backend="python")
    rng = np.random.default_rng(0)
    W0 = rng.normal(size=(2, 3)) + 1j * rng.normal(size=(2, 3))
    v0 = rng.normal(size=3)

    def f(Wa, va):
        return float(np.sum(np.abs(Wa @ va + 1j) ** 2))
    value, (gW, gv) = fn.value_and_grad(W0, v0)
    assert value == pytest.approx(f(W0, v0), rel=1e-13)
    assert gW.dtype == np.complex128 and gv.dtype == np.float64
    for idx in np.ndindex(2, 3):
        e = np.zeros((2, 3))
        e[idx] = H
        fd = (f(W0 + e, v0) - f(W0 - e, v0) + 1j * (f(W0 + 1j * e, v0) - f(W0 - 1j * e, v0))) / (2 * H)
        assert abs(gW[idx] - fd) < 1e-6 * max(1, abs(fd))
    for i in range(3):
        e = np.zeros(3)
        e[i] = H
        assert gv[i] == pytest.approx((f(W0, v0 + e) - f(W0, v0 - e)) / (2 * H), rel=1e-6, abs=1e-6)


# --- numba: one module-scoped set of compiled functions ---

NUMBA_LOSS = ("add", ("abs2", ("mul", ("exp", ("z1",)), ("tanh", ("conj", ("z2",))))),
              ("add", ("angle", ("div", ("sinh", ("z1",)), ("sqrt", ("z2",)))),
               ("add", ("real", ("mul", ("log", ("z1",)), ("powc", ("cos", ("z2",)), 3.0))),
                ("imag", ("mul", ("x",), ("add", ("tan", ("z1",)), ("sin", ("cosh", ("z2",)))))))))
NUMBA_HOLOMORPHIC = ("mul", ("exp", ("z1",)), ("add", ("powc", ("z2",), 2.0), ("mul", ("x",), ("sin", ("z1",)))))


@pytest.fixture(scope="module")
def numba_functions():
    loss = cc.compile(cc_eval(NUMBA_LOSS), INPUTS, backend="numba")
    holo = cc.compile(cc_eval(NUMBA_HOLOMORPHIC), INPUTS, wrt=[Z1, Z2], backend="numba")
    return loss, holo


def test_numba_tensors_match_the_python_backend():
    W = cc.Tensor("W", (2, 3), dtype="complex128")
    v = cc.Tensor("v", (3,))
    L = cc.sum(cc.abs(W @ v - 0.5j) ** 2) + cc.real(cc.sum(cc.exp(W)))
    rng = np.random.default_rng(2)
    point = (rng.normal(size=(2, 3)) + 1j * rng.normal(size=(2, 3)), rng.normal(size=3))
    got = cc.compile(L, [W, v], backend="numba").value_and_grad(*point)
    expected = cc.compile(L, [W, v], backend="python").value_and_grad(*point)
    assert got[0] == pytest.approx(expected[0], rel=1e-13)
    for g, e in zip(got[1], expected[1]):
        assert g.dtype == e.dtype and np.allclose(g, e, rtol=1e-13, atol=1e-14)


def test_pickled_function_is_complex_again():
    import pickle
    fn = cc.compile(cc.abs(Z1 * X) ** 2, [Z1, X], backend="python")
    again = pickle.loads(pickle.dumps(fn))
    assert type(again) is type(fn) and again.grad(1j, 2.0) == fn.grad(1j, 2.0)


def test_numba_value_gradient_and_batch(numba_functions):
    loss, _ = numba_functions
    point = (0.4 + 0.3j, 0.7 - 0.2j, 0.9)
    value, grad = loss.value_and_grad(*point)
    assert value == pytest.approx(float(np_eval(NUMBA_LOSS, *point)), rel=1e-13)
    expected = central_gradient(lambda *a: float(np_eval(NUMBA_LOSS, *a)), *point)
    for g, e in zip(grad, expected):
        assert abs(g - e) < 1e-6 * max(1, abs(e))
    rng = np.random.default_rng(1)
    Z = rng.uniform(0.2, 1, 50) + 1j * rng.uniform(0.2, 1, 50)
    values, (g1, g2, gx) = loss.value_and_grad(Z, 0.7 - 0.2j, 0.9)
    assert values.shape == (50,) and g1.dtype == np.complex128 and gx.dtype == np.float64
    for i in (0, 17, 49):
        v, g = loss.value_and_grad(Z[i], 0.7 - 0.2j, 0.9)
        assert values[i] == pytest.approx(v, rel=1e-14) and g1[i] == pytest.approx(g[0], rel=1e-13)
    assert np.allclose(loss(Z, 0.7 - 0.2j, 0.9), values, rtol=1e-14)


def test_numba_holomorphic_jacobian(numba_functions):
    _, holo = numba_functions
    point = (0.4 + 0.3j, 0.7 - 0.2j, 0.9)
    J = holo.jacobian(*point)
    expr = sp_eval(NUMBA_HOLOMORPHIC)
    subs = {SZ1: point[0], SZ2: point[1], SX: point[2]}
    for j, s in enumerate((SZ1, SZ2)):
        assert cmath.isclose(J[j], complex(sp.diff(expr, s).evalf(30, subs=subs)), rel_tol=1e-12)
    values = holo(np.array([point[0], 0.1j]), point[1], point[2])
    assert values.dtype == np.complex128 and cmath.isclose(values[0], holo(*point), rel_tol=1e-14)


# --- refusals: each names what was wrong ---

def test_comparisons_and_real_only_ops_refuse_complex_values():
    for build, name in ((lambda: Z1 < X, "lt"), (lambda: Z1 >= 0.0, "ge"), (lambda: cc.maximum(Z1, X), "maximum"),
                        (lambda: cc.floor(Z1), "floor"), (lambda: cc.where(Z1 > 0, Z1, 0.0), "gt"),
                        (lambda: cc.sigmoid(Z1 * 2.0), "sigmoid"), (lambda: cc.erf(Z2), "erf"),
                        (lambda: cc.atan2(Z1, X), "atan2")):
        with pytest.raises(cc.UnsupportedError, match=rf"^{name} of a complex value: operand \d \(.*z\d.*\) is complex128"):
            build()
    # a real condition selects between complex values, as in NumPy
    assert dtypes.precision(cc.where(X > 0, Z1, 0.0)) == "complex128"
    x_s = sp.Symbol("x")
    with pytest.raises(cc.UnsupportedError, match="gt of a complex value"):
        cc.from_sympy(sp.Piecewise((SZ1, SZ1 > 0), (0, True)))
    with pytest.raises(cc.UnsupportedError, match="maximum of a complex value"):
        cc.from_sympy(sp.Max(x_s, sp.I * x_s))


def test_argument_refusals():
    fn = cc.compile(Z1 * X, [Z1, X], backend="python")
    with pytest.raises(cc.ArgumentError, match=r"argument 'x' \(position 2\) is complex .* input 'x' is real"):
        fn(1j, 1j)
    with pytest.raises(cc.ArgumentError, match="argument 'z1'"):
        fn("1j", 1.0)
    real = cc.compile(X * X, [X], backend="python")
    with pytest.raises(cc.ArgumentError, match="real"):
        real(1j)


def test_derivative_refusals():
    f = cc.compile(Z1 * Z1, [Z1], backend="python")
    with pytest.raises(cc.UnsupportedError, match=r"output 0 .* is complex: a gradient is of a real-valued function; "
                                                   r"take cc.abs\(...\)\*\*2 or cc.real\(...\)"):
        f.grad(1j)
    for op in (cc.conj, cc.abs, cc.real, cc.imag, cc.angle):
        g = cc.compile(op(Z1) * Z1 + Z1, [Z1], backend="python")
        with pytest.raises(cc.UnsupportedError, match=rf"{op.__name__} is not holomorphic"):
            g.jacobian(1j)
        with pytest.raises(cc.UnsupportedError, match="not holomorphic"):
            g.jvp(1j, v=(1.0,))
    with pytest.raises(cc.ArgumentError, match="v must be a tuple of one tangent per wrt input"):
        g.jvp(1j, v=1.0)
    h = cc.compile(cc.abs(Z1) ** 2, [Z1], backend="python")
    with pytest.raises(cc.UnsupportedError, match="hessian of a function of complex values"):
        h.hessian(1j)


@pytest.mark.parametrize("backend", ["llvm", "vm"])
def test_flat_backends_refuse_and_auto_picks_one_that_works(backend):
    with pytest.raises(cc.UnsupportedError, match=rf"backend '{backend}' computes in float64 only.*'auto', 'numba' "
                                                  "or 'python'"):
        cc.compile(Z1 * 2.0, [Z1], backend=backend)
    assert cc.compile(Z1 * 2.0, [Z1]).backend == "numba"


# --- peers, where installed (CI has neither; the slow tier): PyTorch's gradient, JAX's holomorphic Jacobian ---

def _torch_eval(torch, p, z1, z2, x):
    fns = {**_names(torch), "const": lambda c: torch.tensor(c, dtype=torch.complex128 if isinstance(c, complex)
                                                            else torch.float64)}
    return Eval({"z1": z1, "z2": z2, "x": x}, fns)(p)


@pytest.mark.slow
def test_gradient_against_pytorch():
    torch = pytest.importorskip("torch")
    for p, point, rng in _programs(4, holomorphic=False)[:12]:
        q = reducer(rng, p)
        leaves = [torch.tensor(point[0], dtype=torch.complex128, requires_grad=True),
                  torch.tensor(point[1], dtype=torch.complex128, requires_grad=True),
                  torch.tensor(point[2], dtype=torch.float64, requires_grad=True)]
        out = _torch_eval(torch, q, *leaves)
        grads = torch.autograd.grad(out, leaves, allow_unused=True)
        expected = [complex(g) if g is not None else 0.0 for g in grads]
        value, grad = cc.compile(cc_eval(q), INPUTS, backend="python").value_and_grad(*point)
        assert value == pytest.approx(float(out.detach()), rel=1e-12, abs=1e-14)
        for g, e in zip(grad, expected):
            assert abs(g - e) <= 1e-10 * max(1.0, abs(e)), (q, grad, expected)


@pytest.mark.slow
def test_holomorphic_jacobian_and_grad_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    for p, point, _ in _programs(5, holomorphic=True)[:8]:
        def f(z1, z2, p=p, x=point[2]):
            return Eval({"z1": z1, "z2": z2, "x": x}, {**_names(jnp), "const": lambda c: c})(p)
        expected = jax.jacfwd(f, argnums=(0, 1), holomorphic=True)(jnp.complex128(point[0]), jnp.complex128(point[1]))
        J = cc.compile(cc_eval(p), INPUTS, wrt=[Z1, Z2], backend="python").jacobian(*point)
        for j in range(2):
            assert cmath.isclose(J[j], complex(expected[j]), rel_tol=1e-10, abs_tol=1e-12)
    # JAX's grad of a real-valued function is the conjugate of PyTorch's (ours)
    g = jax.grad(lambda z: jnp.abs(z) ** 2)(jnp.complex128(1.5 - 0.5j))
    assert complex(g) == (3 - 1j).conjugate()
    assert cc.compile(cc.abs(Z1) ** 2, [Z1], backend="python").grad(1.5 - 0.5j)[0] == complex(g).conjugate()
