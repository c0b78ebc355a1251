"""Loops in the IR (issue 15): ``cc.scan`` and ``cc.fori_loop``, their derivatives and their errors.

Every model below is written once, as a function of a namespace ``m`` (its math functions
and its ``scan``/``fori_loop``), and run by three engines:

* ``CC``: this library (``cc.scan``, compiled);
* ``Unrolled``: SymPy, the loop unrolled by a plain Python ``for`` (the exact oracle: SymPy
  differentiates the unrolled expression);
* ``Jax``: ``jax.lax.scan`` / ``jax.lax.fori_loop`` in float64 (where JAX is installed).

Derivatives are also checked against central finite differences of the compiled function.
The python backend carries the broad checks; the numba backend a focused set. Compiled functions
and SymPy oracles are made once per test session (``compiled``, ``sympy_oracle``): Numba costs
about a second per compiled function, SymPy's derivatives of unrolled loops about as much.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import sympy as sp

import compiler as cc
from compiler import ir
from compiler.codegen import llvm_loops


# --- trees (tuples and lists of leaves), for the reference loops ---

def _tree_map(f, *trees):
    if isinstance(trees[0], (tuple, list)):
        return type(trees[0])(_tree_map(f, *subs) for subs in zip(*trees))
    return f(*trees)


def _leaves(tree) -> list:
    if isinstance(tree, (tuple, list)):
        return [leaf for sub in tree for leaf in _leaves(sub)]
    return [tree]


# --- the three engines ---

class CC:
    """This library."""
    name = "cc"

    def __init__(self, checkpoint: str = "all"):
        self.checkpoint = checkpoint

    sin, cos, exp, tanh, sum, dot = (staticmethod(f) for f in (cc.sin, cc.cos, cc.exp, cc.tanh, cc.sum, cc.dot))

    def scan(self, step, init, xs=None, length=None, reverse=False):
        return cc.scan(step, init, xs, length, reverse=reverse, checkpoint=self.checkpoint)

    def fori_loop(self, lower, upper, body, init):
        return cc.fori_loop(lower, upper, body, init, checkpoint=self.checkpoint)


def _elementwise(f):
    vec = np.vectorize(f, otypes=[object])
    return lambda v: vec(v) if isinstance(v, np.ndarray) else f(v)


class Unrolled:
    """SymPy, the loop unrolled in Python: scan's meaning written out, step by step."""
    name = "sympy"
    sin, cos, exp, tanh = (_elementwise(f) for f in (sp.sin, sp.cos, sp.exp, sp.tanh))
    dot = staticmethod(np.dot)

    @staticmethod
    def sum(v):
        return np.sum(v) if isinstance(v, np.ndarray) else v

    @staticmethod
    def scan(step, init, xs=None, length=None, reverse=False):
        n = length if length is not None else len(_leaves(xs)[0])
        carry, ys = init, [None] * n
        for t in (reversed(range(n)) if reverse else range(n)):
            x = _tree_map(lambda a: a[t], xs) if xs is not None else None
            carry, ys[t] = step(carry, x)
        if not n or ys[0] is None:
            return carry, None
        return carry, _tree_map(lambda *per_step: np.array(per_step, dtype=object), *ys)

    @staticmethod
    def fori_loop(lower, upper, body, init):
        carry = init
        for i in range(lower, upper):
            carry = body(sp.Integer(i), carry)
        return carry


class Floats(Unrolled):
    """The same unrolled loop on floats and NumPy arrays (a fast reference for long loops)."""
    name = "floats"
    sin, cos, exp, tanh = np.sin, np.cos, np.exp, np.tanh

    @staticmethod
    def fori_loop(lower, upper, body, init):
        carry = init
        for i in range(lower, upper):
            carry = body(i, carry)
        return carry


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


class Jax:
    """``jax.lax.scan`` in float64."""
    name = "jax"

    def __init__(self):
        jax = _jax()
        jnp = jax.numpy
        self.sin, self.cos, self.exp, self.tanh, self.sum, self.dot = (
            jnp.sin, jnp.cos, jnp.exp, jnp.tanh, jnp.sum, jnp.dot)
        self._lax = jax.lax

    def scan(self, step, init, xs=None, length=None, reverse=False):
        return self._lax.scan(step, init, xs, length=length, reverse=reverse)

    def fori_loop(self, lower, upper, body, init):
        return self._lax.fori_loop(lower, upper, body, init)


# --- the models: one scalar output each ---

W2, W3, W4, W5 = (np.arange(1.0, n + 1.0) / n for n in (2, 3, 4, 5))  # make the order of ys matter


def m_scalar_carry(m, a, b, xs):
    """A scalar carry, one sequence, stacked ys."""
    def step(c, x):
        return m.sin(a * c) + b * x, c * c
    final, ys = m.scan(step, 0.3, xs=xs)
    return final + m.sum(ys * W5)


def m_tuple_carry(m, a, b, p0):
    """A tuple carry (a symplectic-Euler pendulum), no xs, a tuple of ys."""
    h = 0.1

    def step(c, _):
        p, q = c
        p = p + h * a * q
        return (p, q - h * b * m.sin(p)), (p * q, q * q)
    (p, q), (pq, qq) = m.scan(step, (p0, 1.0), length=4)
    return p * q + m.sum(pq) + m.sum(qq * W4)


def m_tensor_carry(m, a, v, c0, xs):
    """A tensor carry of shape (3,), a sequence of rows (4, 3), a tensor parameter, scalar ys."""
    def step(c, x):
        new = m.tanh(a * c + x * v)
        return new, m.sum(new * c)
    final, ys = m.scan(step, c0, xs=xs)
    return m.sum(final * v) + m.sum(ys * W3)


def m_mixed(m, a, v, c0, xs):
    """A carry (tensor, scalar) and ys (scalar, tensor): ys stacked as (4,) and (4, 3)."""
    def step(carry, x):
        vec, s = carry
        new = m.tanh(a * vec + x * v)
        return (new, s + m.sum(new * vec)), (s, new)
    (vec, s), (ss, vecs) = m.scan(step, (c0, 0.5), xs=xs)
    return m.sum(vec * v) + s + m.sum(ss * W3) + m.sum(vecs * vecs)


def m_matrix(m, A, c0):
    """A linear-tanh recurrence c <- tanh(A c): a matrix parameter read by every step."""
    def step(c, _):
        return m.tanh(m.dot(A, c)), None
    final, _ = m.scan(step, c0, length=2)
    return m.sum(final * final)


def m_several_xs(m, a, u, w):
    """Two sequences as a tuple; the step returns y=None."""
    def step(c, x):
        ui, wi = x
        return c * ui + m.cos(wi * a), None
    final, ys = m.scan(step, 1.0, xs=(u, w))
    assert ys is None
    return final


def m_outer_expression(m, a, b, c0):
    """The step reads an expression built outside it (exp(a) * b), and a free symbol."""
    k = m.exp(a) * b

    def step(c, _):
        return c * k + m.cos(c) * a, None
    final, _ = m.scan(step, c0, length=5)
    return final * final


def m_reverse(m, a, xs):
    """reverse=True: the steps run from the last x; ys[t] is still step t's output."""
    def step(c, x):
        return m.sin(c) * a + x, c * x
    final, ys = m.scan(step, 0.5, xs=xs, reverse=True)
    return final + m.sum(ys * W5)


def m_nested(m, a, b, xs):
    """A scan inside a step: the inner loop reads the outer carry and the outer parameters."""
    def outer(c, _):
        def inner(d, x):
            return d * c + x * a, d
        d, ds = m.scan(inner, b, xs=xs)
        return m.sin(d) + c * b, m.sum(ds)
    final, ys = m.scan(outer, 0.4, length=2)
    return final + m.sum(ys * W2)


def m_fori(m, a, b):
    """fori_loop from 0: the index in arithmetic."""
    return m.fori_loop(0, 5, lambda i, c: c * a + i * b + m.sin(i * c), 0.2)


def m_fori_offset(m, a, b):
    """fori_loop with lower/upper offsets (3..6, and -2..0)."""
    first = m.fori_loop(3, 7, lambda i, c: c * m.cos(a) + i * i * b, 1.0)
    return first + m.fori_loop(-2, 1, lambda i, c: c * a + i, b)


def m_swap(m, a, u, xs):
    """Tensor carries that swap, a carry taken from the sequence, a parameter as y."""
    def step(c, x):
        p, q = c
        return (q * a, x + p), (x, a)
    (p, q), (ys, ya) = m.scan(step, (u, u * 2.0), xs=xs)
    return m.sum(p * p) + m.sum(q) + m.sum(ys * ys) + m.sum(ya * W3)


def m_constant_carry(m, a, b):
    """A carry the step sets to a constant, a constant y, a y that is a carry."""
    def step(c, _):
        return (1.0, c[0] * a), (1.0, c[1])
    (p, q), (y1, y2) = m.scan(step, (a, b), length=3)
    return p + q * a + m.sum(y1) + m.sum(y2 * y2 * W3)


def m_identity_carry(m, a, xs):
    """A carry the step returns unchanged."""
    def step(c, x):
        return c, m.sum(x) * c
    c, ys = m.scan(step, a * a, xs=xs)
    return c + m.sum(ys * W3)


def m_parameter_carry(m, a, u):
    """Carries that become parameters (a scalar and a tensor read from outside)."""
    def step(c, _):
        return (a, u), c[1] * c[0]
    (p, q), ys = m.scan(step, (0.5, u * u), length=3)
    return p + m.sum(q) + m.sum(ys * ys)


def m_nested_reverse(m, a, u, xs):
    """A reverse scan inside a reverse scan; the inner one reads the outer carry and slice."""
    def outer(c, x):
        d, ds = m.scan(lambda d, y: (m.sin(d * y + c), d * a), x[0] * a, xs=u, reverse=True)
        return c * d + m.sum(x), ds
    c, ys = m.scan(outer, a, xs=xs, reverse=True)
    return c + m.sum(ys * ys)


def m_fori_tensor(m, a, u):
    """fori_loop over a tensor carry."""
    return m.sum(m.fori_loop(1, 4, lambda i, c: m.sin(c * a * i) + u, u))


def m_list_carry(m, a, u, xs):
    """A list carry [scalar, tensor] and a sequence of rows."""
    def step(c, x):
        return [c[0] * a + x[0], c[1] + x * c[0]], None
    c, _ = m.scan(step, [a, u], xs=xs)
    return c[0] + m.sum(c[1] * c[1])


@dataclass(frozen=True)
class Case:
    model: Callable
    shapes: tuple  # the inputs' shapes, in order (names are the model's parameters)
    seed: int = 0

    @property
    def name(self) -> str:
        return self.model.__name__[2:]

    @property
    def names(self) -> list[str]:
        return list(self.model.__code__.co_varnames[1:1 + len(self.shapes)])

    def point(self, seed: int | None = None) -> list:
        rng = np.random.default_rng(self.seed if seed is None else seed)
        return [float(rng.uniform(-0.9, 0.9)) if not s else rng.uniform(-0.9, 0.9, s) for s in self.shapes]


CASES = {c.name: c for c in [
    Case(m_scalar_carry, ((), (), (5,))),
    Case(m_tuple_carry, ((), (), ())),
    Case(m_tensor_carry, ((), (3,), (3,), (3, 3))),
    Case(m_mixed, ((), (3,), (3,), (3, 3))),
    Case(m_matrix, ((3, 3), (3,))),
    Case(m_several_xs, ((), (5,), (5,))),
    Case(m_outer_expression, ((), (), ())),
    Case(m_reverse, ((), (5,))),
    Case(m_nested, ((), (), (3,))),
    Case(m_fori, ((), ())),
    Case(m_fori_offset, ((), ())),
    Case(m_swap, ((), (3,), (3, 3))),
    Case(m_constant_carry, ((), ())),
    Case(m_identity_carry, ((), (3, 2))),
    Case(m_parameter_carry, ((), (3,))),
    Case(m_nested_reverse, ((), (2,), (3, 2))),
    Case(m_fori_tensor, ((), (3,))),
    Case(m_list_carry, ((), (2,), (3, 2))),
]}
SCALAR_CASES = [n for n, c in CASES.items() if not any(c.shapes)]


# --- flat vectors of the inputs ---

def _flat(values) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in values])


def _unflat(z: np.ndarray, shapes) -> list:
    out, k = [], 0
    for s in shapes:
        size = math.prod(s)
        piece = z[k:k + size]
        out.append(float(piece[0]) if not s else piece.reshape(s).copy())
        k += size
    return out


def _hessian_matrix(h, shapes) -> np.ndarray:
    """``fn.hessian``'s answer as one matrix over the flat inputs."""
    if all(not s for s in shapes):
        return np.asarray(h, dtype=float)
    sizes = [math.prod(s) for s in shapes]
    return np.block([[np.reshape(h[i][j], (sizes[i], sizes[j])) for j in range(len(shapes))]
                     for i in range(len(shapes))])


def _close(got, want, rtol=1e-9, atol=1e-10):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=rtol, atol=atol)


# --- the oracles ---

_MATH = {sp.sin: math.sin, sp.cos: math.cos, sp.exp: math.exp, sp.tanh: math.tanh}


def _evaluate(exprs, env: dict) -> np.ndarray:
    """SymPy expressions at a point, each shared subexpression once (the unrolled loop's
    expressions are DAGs: printed as trees, as lambdify does, they are exponentially long)."""
    memo: dict = {}

    def ev(e):
        r = memo.get(e)
        if r is None:
            if e.is_Symbol:
                r = env[e]
            elif e.is_Number:
                r = float(e)
            elif e.is_Add:
                r = math.fsum(ev(a) for a in e.args)
            elif e.is_Mul:
                r = math.prod(ev(a) for a in e.args)
            elif e.is_Pow:
                r = ev(e.base) ** ev(e.exp)
            else:
                r = _MATH[e.func](ev(e.args[0]))
            memo[e] = r
        return r
    return np.array([ev(e) for e in exprs], dtype=float)


#: the cases whose full Hessian SymPy derives in well under a second (the others' Hessians are
#: checked against finite differences of the gradient, and against JAX)
SYMPY_HESSIAN = {"tuple_carry", "several_xs", "outer_expression", "reverse", "fori", "fori_offset",
                 "constant_carry", "identity_carry", "parameter_carry", "list_carry"}


class SympyOracle:
    """The exact value, gradient (and Hessian) of the unrolled loop, at any flat point."""

    def __init__(self, case: Case):
        symbols, args = [], []
        for name, shape in zip(case.names, case.shapes):
            if not shape:
                s = sp.Symbol(name)
                symbols.append(s)
                args.append(s)
            else:
                block = sp.symbols(f"{name}_0:{math.prod(shape)}")
                symbols.extend(block)
                args.append(np.array(block, dtype=object).reshape(shape))
        self.symbols = symbols
        self.expr = sp.sympify(case.model(Unrolled, *args))
        self.gradient = [sp.diff(self.expr, s) for s in symbols]
        self.has_hessian = case.name in SYMPY_HESSIAN
        if self.has_hessian:
            n = len(symbols)
            self._hess = [[None] * n for _ in range(n)]
            for i in range(n):
                for j in range(i, n):
                    self._hess[i][j] = self._hess[j][i] = sp.diff(self.gradient[i], symbols[j])

    def value(self, *z) -> float:
        return float(_evaluate([self.expr], dict(zip(self.symbols, z)))[0])

    def grad(self, *z) -> np.ndarray:
        return _evaluate(self.gradient, dict(zip(self.symbols, z)))

    def hessian(self, *z) -> np.ndarray:
        n = len(self.symbols)
        return _evaluate([h for row in self._hess for h in row], dict(zip(self.symbols, z))).reshape(n, n)


_ORACLES: dict = {}


def sympy_oracle(name: str) -> SympyOracle:
    if name not in _ORACLES:
        _ORACLES[name] = SympyOracle(CASES[name])
    return _ORACLES[name]


def central_difference(f, z: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d f / d z by central differences (f of a flat point, scalar or 1-D values)."""
    cols = []
    for k in range(len(z)):
        e = np.zeros_like(z)
        e[k] = h
        cols.append((np.asarray(f(z + e), dtype=float) - np.asarray(f(z - e), dtype=float)) / (2 * h))
    return np.array(cols).T


_COMPILED: dict = {}


def compiled(name: str, backend: str = "python", checkpoint: str = "all") -> cc.CompiledFunction:
    """The case compiled once per (backend, checkpoint) in this test session."""
    key = (name, backend, checkpoint)
    if key not in _COMPILED:
        case = CASES[name]
        inputs = [cc.Symbol(n) if not s else cc.Tensor(n, s) for n, s in zip(case.names, case.shapes)]
        _COMPILED[key] = cc.compile(case.model(CC(checkpoint), *inputs), inputs, backend=backend)
    return _COMPILED[key]


def check_against_sympy(name: str, backend: str = "python", checkpoint: str = "all", *, level: str = "second"):
    """At a point, against the SymPy oracle (its Hessian where SymPy derives it cheaply) and
    central differences: value_and_grad (``level="vg"``), or value, grad, value_and_grad, jvp,
    hessian and hvp (``"second"``)."""
    case, fn, oracle = CASES[name], compiled(name, backend, checkpoint), sympy_oracle(name)
    point = case.point()
    z = _flat(point)
    want_value, want_grad = oracle.value(*z), oracle.grad(*z)
    value, grad = fn.value_and_grad(*point)
    _close(value, want_value)
    _close(_flat(grad), want_grad)
    if level == "vg":
        return
    _close(fn(*point), want_value)
    _close(_flat(fn.grad(*point)), want_grad)
    _close(central_difference(lambda p: fn(*_unflat(p, case.shapes)), z), want_grad, rtol=1e-6, atol=1e-7)
    v = np.random.default_rng(7).normal(size=z.shape)
    vs = tuple(_unflat(v, case.shapes))
    value, tangent = fn.jvp(*point, v=vs)
    _close(value, want_value)
    _close(tangent, want_grad @ v, rtol=1e-8, atol=1e-9)
    hessian = _hessian_matrix(fn.hessian(*point), case.shapes)
    fd_h = central_difference(lambda p: _flat(fn.grad(*_unflat(p, case.shapes))), z)
    _close(hessian, fd_h, rtol=1e-5, atol=1e-6)
    _close(hessian, hessian.T, rtol=1e-12, atol=1e-12)
    hvp = _flat(fn.hvp(*point, v=vs))
    _close(hvp, fd_h @ v, rtol=1e-5, atol=1e-6)
    if oracle.has_hessian:
        want_h = oracle.hessian(*z)
        _close(hessian, want_h, rtol=1e-8, atol=1e-9)
        _close(hvp, want_h @ v, rtol=1e-8, atol=1e-9)


# --- every model on the python backend: value and all derivatives against SymPy and FD ---

@pytest.mark.parametrize("name", list(CASES))
def test_value_and_derivatives_against_sympy_and_finite_differences(name):
    check_against_sympy(name)


# --- against JAX (jax.lax.scan) ---

@pytest.fixture(scope="module")
def jax_engine():
    return Jax()


@pytest.mark.parametrize("name", list(CASES))
def test_value_gradient_hvp_and_jvp_against_jax(name, jax_engine):
    jax = _jax()
    case, fn = CASES[name], compiled(name)
    point = case.point(seed=11)
    z = _flat(point)

    def f(zz):
        args, k = [], 0
        for s in case.shapes:
            size = math.prod(s)
            args.append(zz[k] if not s else zz[k:k + size].reshape(s))
            k += size
        return case.model(jax_engine, *args)

    @jax.jit
    def reference(zz, vv):
        value, tangent = jax.jvp(f, (zz,), (vv,))
        return value, jax.grad(f)(zz), tangent, jax.jvp(jax.grad(f), (zz,), (vv,))[1]
    v = np.random.default_rng(3).normal(size=z.shape)
    want_value, want_grad, want_tangent, want_hvp = (np.asarray(r) for r in reference(z, v))
    vs = tuple(_unflat(v, case.shapes))
    _close(fn(*point), want_value)
    _close(_flat(fn.grad(*point)), want_grad)
    _close(fn.jvp(*point, v=vs)[1], want_tangent, rtol=1e-8, atol=1e-9)
    _close(_flat(fn.hvp(*point, v=vs)), want_hvp, rtol=1e-8, atol=1e-9)
    _close(_hessian_matrix(fn.hessian(*point), case.shapes) @ v, want_hvp, rtol=1e-8, atol=1e-9)


# --- batches over parameter sets: a 1-D array for a scalar input ---

@pytest.mark.parametrize("name", ["scalar_carry", "tuple_carry", "tensor_carry", "fori"])
def test_batch_over_a_scalar_parameter_gives_one_value_per_point(name):
    case, fn, oracle = CASES[name], compiled(name), sympy_oracle(name)
    point = case.point()
    first = np.array([-0.7, 0.1, 0.45, 0.8])
    values = fn(first, *point[1:])
    assert np.shape(values) == (4,)
    vb, gb = fn.value_and_grad(first, *point[1:])
    for k, a in enumerate(first):
        z = _flat([a] + point[1:])
        _close(values[k], oracle.value(*z))
        _close(vb[k], oracle.value(*z))
        _close(_flat([g[k] for g in gb]), oracle.grad(*z))


# --- the numba backend: a focused set, compiled once ---

@pytest.mark.parametrize("name,checkpoint", [("mixed", "all"), ("tuple_carry", "all"),
                                             ("scalar_carry", "sqrt")])  # 5 steps: 1 segment of 3, a tail of 2
def test_numba_backend_value_and_derivatives(name, checkpoint):
    check_against_sympy(name, "numba", checkpoint, level="second" if name == "tuple_carry" else "vg")


def test_numba_batch_and_hessian_batch_of_a_loop():
    case, fn, oracle = CASES["tuple_carry"], compiled("tuple_carry", "numba"), sympy_oracle("tuple_carry")
    point = case.point()
    bs = np.array([0.2, -0.5, 0.9])
    values, (ga, gb, gp) = fn.value_and_grad(*point[:1], bs, *point[2:])
    hs = fn.hessian(*point[:1], bs, *point[2:])
    assert hs.shape == (3, 3, 3)
    for k, b in enumerate(bs):
        z = _flat([point[0], b, point[2]])
        _close(values[k], oracle.value(*z))
        _close([ga[k], gb[k], gp[k]], oracle.grad(*z))
        _close(hs[k], oracle.hessian(*z), rtol=1e-8, atol=1e-9)


# --- stacked ys as the function's output: the Jacobian ---

def test_stacked_ys_as_output_jacobian_against_sympy():
    a, xs = cc.Symbol("a"), cc.Tensor("xs", (4,))
    _, ys = cc.scan(lambda c, x: (cc.sin(c * a) + x, c * x), 0.3, xs=xs)
    fn = cc.compile(ys, [a, xs], backend="python")
    A, X = sp.Symbol("A"), sp.symbols("X0:4")
    c, want = sp.Float(0.3), []
    for x in X:
        want.append(c * x)
        c = sp.sin(c * A) + x
    symbols = [A, *X]
    point = [0.7, np.array([0.1, -0.2, 0.3, 0.5])]
    env = dict(zip(symbols, _flat(point)))
    _close(fn(*point), _evaluate(want, env), rtol=1e-13)
    jac = np.array([_evaluate([sp.diff(y, s) for s in symbols], env) for y in want])
    ja, jx = fn.jacobian(*point)
    _close(np.column_stack([ja, jx]), jac, rtol=1e-12, atol=1e-14)
    value, tangent = fn.jvp(*point, v=(1.0, np.zeros(4)))
    _close(tangent, jac[:, 0], rtol=1e-12, atol=1e-14)


# --- the llvm backend (codegen.llvm_loops): every case of scalar inputs and carries ---

def _llvm_compiles(name: str) -> bool:
    fn = compiled(name)
    return llvm_loops.refusal(fn.inputs, fn.outputs, ir.topo_order(fn.outputs)) is None


LLVM_CASES = [name for name in CASES if _llvm_compiles(name)]


@pytest.mark.parametrize("name", LLVM_CASES)
def test_llvm_backend_value_and_derivatives(name):
    check_against_sympy(name, "llvm", level="second")


@pytest.mark.parametrize("checkpoint", ["all", "sqrt"])
def test_auto_backend_runs_a_scalar_loop_on_llvm(checkpoint):
    fn = compiled("tuple_carry", "auto", checkpoint)
    assert fn.backend == "llvm"  # machine code in well under a second, where Numba's front end takes seconds
    check_against_sympy("tuple_carry", "auto", checkpoint, level="vg")


def test_auto_backend_runs_a_tensor_loop_on_llvm():
    case = CASES["tensor_carry"]
    inputs = [cc.Symbol(n) if not s else cc.Tensor(n, s) for n, s in zip(case.names, case.shapes)]
    fn = cc.compile(case.model(CC(), *inputs), inputs, backend="auto")
    assert fn.backend == "llvm" and fn.tier == "not compiled yet"  # tensor arguments, a (3,) carry
    assert "'llvm', compiled on the first call" in repr(fn)
    point = case.point(seed=4)
    oracle = sympy_oracle("tensor_carry")
    want = oracle.value(*_flat(point))
    _close(fn(*point), want)
    assert fn.ready and fn.tier == "llvm"
    _close(_flat(fn.grad(*point)), oracle.grad(*_flat(point)))


def test_stop_gradient_and_several_outputs_inside_a_step_against_jax(jax_engine):
    jax = _jax()
    jnp = jax.numpy
    a, xs = cc.Symbol("a"), cc.Tensor("xs", (4,))
    point = [0.7, np.array([0.1, -0.2, 0.3, 0.5])]

    def model(m, stop, a, xs):
        def step(c, x):
            return c ** 2 * 0.5 + stop(c) * a / (1.0 + x * x), c / (2.0 + a)
        c, ys = m.scan(step, 0.3, xs=xs)
        return [c, m.sum(ys)]
    fn = cc.compile(model(CC(), cc.stop_gradient, a, xs), [a, xs], backend="python")
    want = jax.jacrev(lambda a, xs: jnp.stack(model(jax_engine, jax.lax.stop_gradient, a, xs)), argnums=(0, 1))(
        *point)
    _close(fn(*point), model(Floats, lambda c: c, *point), rtol=1e-13)
    (da0, dx0), (da1, dx1) = fn.jacobian(*point)
    _close([da0, da1], np.asarray(want[0]), rtol=1e-12)
    _close(np.stack([dx0, dx1]), np.asarray(want[1]), rtol=1e-12, atol=1e-15)


# --- checkpoint="sqrt" gives what checkpoint="all" gives ---

def _scan_model(n: int, reverse: bool):
    """A scan of n steps with a tuple carry, xs, a tuple of ys, parameters."""
    def model(m, a, b, xs):
        def step(c, x):
            p, q = c
            return (m.sin(p * a) + x * q, q * b + 0.1 * x), (p * x, q)
        (p, q), (y1, y2) = m.scan(step, (0.3, 1.0), xs=xs, reverse=reverse)
        w = np.linspace(0.5, 1.5, n)
        return p + q + m.sum(y1 * w) + m.sum(y2 * w * w)
    return model


def _fori_model(n: int):
    def model(m, a, b, xs):
        return m.fori_loop(2, 2 + n, lambda i, c: m.cos(c * a) + i * b * 0.01, 0.2) + m.sum(xs)
    return model


def _compile_model(model, n: int, checkpoint: str, backend="python"):
    a, b, xs = cc.Symbol("a"), cc.Symbol("b"), cc.Tensor("xs", (n,))
    return cc.compile(model(CC(checkpoint), a, b, xs), [a, b, xs], backend=backend)


@pytest.mark.parametrize("kind", ["scan", "scan reverse", "fori"])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 17, 100])
def test_sqrt_checkpoint_matches_all(n, kind):
    model = _fori_model(n) if kind == "fori" else _scan_model(n, reverse=kind == "scan reverse")
    point = [0.7, 0.9, np.random.default_rng(n).uniform(-1, 1, n)]
    full = _compile_model(model, n, "all")
    sqrt = _compile_model(model, n, "sqrt")
    value, grad = full.value_and_grad(*point)
    value_s, grad_s = sqrt.value_and_grad(*point)
    _close(value_s, value, rtol=1e-12, atol=1e-12)
    for g, gs in zip(grad, grad_s):
        _close(gs, g, rtol=1e-11, atol=1e-12)
    # and against an independent oracle: the loop run by Python and differentiated numerically
    assert value == pytest.approx(model(Floats, *point), rel=1e-12)
    z = _flat(point)
    fd = central_difference(lambda p: float(model(Floats, *_unflat(p, [(), (), (n,)]))), z)
    _close(_flat(grad_s), fd, rtol=1e-6, atol=1e-7)
    if n in (5, 17):  # second derivatives through the checkpointed loop (a loop of loops)
        _close(_hessian_matrix(sqrt.hessian(*point), [(), (), (n,)]),
               _hessian_matrix(full.hessian(*point), [(), (), (n,)]), rtol=1e-10, atol=1e-11)


def test_sqrt_checkpoint_against_jax_at_100_steps(jax_engine):
    jax = _jax()
    model = _scan_model(100, reverse=True)
    point = [0.7, 0.9, np.random.default_rng(5).uniform(-1, 1, 100)]
    fn = _compile_model(model, 100, "sqrt")
    want_value, want_grad = jax.value_and_grad(lambda a, b, xs: model(jax_engine, a, b, xs), argnums=(0, 1, 2))(
        *point)
    value, grad = fn.value_and_grad(*point)
    _close(value, want_value, rtol=1e-12)
    for g, w in zip(grad, want_grad):
        _close(g, np.asarray(w), rtol=1e-10, atol=1e-12)


# --- T = 0 and T = 1 ---

@pytest.mark.parametrize("checkpoint", ["all", "sqrt"])
def test_zero_steps_return_init_and_a_zero_gradient(checkpoint):
    a, c0 = cc.symbols("a c0")
    v = cc.Tensor("v", (3,))
    (final, vec), _ = cc.scan(lambda c, _: ((c[0] * a, c[1] * a), None), (c0, v), length=0, checkpoint=checkpoint)
    fn = cc.compile(final + cc.sum(vec * vec), [a, c0, v], backend="python")
    vv = np.array([0.5, -1.0, 2.0])
    value, (ga, gc, gv) = fn.value_and_grad(1.7, 0.3, vv)
    assert value == pytest.approx(0.3 + float(vv @ vv), rel=1e-15)
    assert ga == 0.0
    assert gc == 1.0
    _close(gv, 2 * vv)
    # a fori_loop with upper <= lower runs no step
    fn0 = cc.compile(cc.fori_loop(4, 2, lambda i, c: c * a + i, c0, checkpoint=checkpoint), [a, c0], backend="python")
    assert fn0.value_and_grad(1.7, 0.3) == (0.3, (0.0, 1.0))


def test_zero_steps_with_xs_and_ys():
    a = cc.Symbol("a")
    xs = cc.Tensor("xs", (0,))
    final, ys = cc.scan(lambda c, x: (c * a + x, c * x), 2.0 * a, xs=xs)
    assert ys.shape == (0,)
    fn = cc.compile(final + cc.sum(ys), [a, xs], backend="python")
    value, (ga, gx) = fn.value_and_grad(1.5, np.zeros(0))
    assert value == 3.0 and ga == 2.0 and gx.shape == (0,)


def test_one_step():
    a, b = cc.symbols("a b")
    xs = cc.Tensor("xs", (1,))
    final, ys = cc.scan(lambda c, x: (cc.sin(c * a) + x * b, c * c), b, xs=xs)
    fn = cc.compile(final + cc.sum(ys), [a, b, xs], backend="python")
    A, B, X = sp.symbols("A B X")
    expr = sp.sin(B * A) + X * B + B * B
    at = {A: 0.4, B: -1.3, X: 0.25}
    value, (ga, gb, gx) = fn.value_and_grad(0.4, -1.3, np.array([0.25]))
    assert value == pytest.approx(float(expr.subs(at)), rel=1e-14)
    _close([ga, gb, gx[0]], [float(sp.diff(expr, s).subs(at)) for s in (A, B, X)], rtol=1e-13)


# --- the IR: hash-consing, listing, source, pickling, constant folding ---

def test_identical_scans_built_twice_are_one_node():
    a = cc.Symbol("a")
    xs = cc.Tensor("xs", (4,))

    def build(k=2.0):
        return cc.scan(lambda c, x: (c * a + x * k, c), 1.0, xs=xs)
    f1, ys1 = build()
    f2, ys2 = build()
    assert f1 is f2 and ys1 is ys2
    assert f1.args[0] is f2.args[0] and f1.args[0].op == "scan"
    f3, _ = build(3.0)  # another body: another node
    assert f3 is not f1 and f3.args[0] is not f1.args[0]
    f4, _ = cc.scan(lambda c, x: (c * a + x * 2.0, c), 1.0, xs=xs, reverse=True)
    assert f4.args[0] is not f1.args[0]
    with pytest.raises(cc.TracingError):  # a step that fails leaves no trace in the next builds
        cc.scan(lambda c, x: (c if c > x else -c, None), 1.0, xs=xs)
    f5, _ = build()
    assert f5 is f1


def test_identical_nested_scans_are_one_node():
    a, xs = cc.Symbol("a"), cc.Tensor("xs", (4,))

    def build():
        def outer(c, _):
            d, _ = cc.scan(lambda d, x: (d * c + x * a, None), a, xs=xs)
            return cc.sin(d), d
        return cc.scan(outer, 0.4, length=3)
    (f1, ys1), (f2, ys2) = build(), build()
    assert f1 is f2 and ys1 is ys2


def test_ir_listing_prints_the_body_indented():
    a = cc.Symbol("a")
    xs = cc.Tensor("xs", (4,))
    final, ys = cc.scan(lambda c, x: (cc.sin(c * a) + x, c * c), 1.0, xs=xs)
    text = cc.compile(final + cc.sum(ys), [a, xs], backend="python").ir
    lines = text.splitlines()
    scan_line = next(i for i, line in enumerate(lines) if " = scan " in line)
    assert "length=4" in lines[scan_line] and not lines[scan_line].startswith(" ")
    assert lines[scan_line + 1].startswith("    body of ")
    body = []
    for line in lines[scan_line + 1:]:
        if not line.startswith("    "):
            break
        body.append(line.strip())
    assert any(" = sin " in line for line in body)
    assert any(line.startswith("next carries") and "ys" in line for line in body)
    assert any(" = item " in line for line in lines if not line.startswith(" "))
    assert "sin" not in "".join(line for line in lines if not line.startswith(" "))  # the sin is in the body


def test_ir_listing_indents_a_nested_body_twice():
    a, xs = cc.Symbol("a"), cc.Tensor("xs", (4,))

    def outer(c, _):
        d, _ = cc.scan(lambda d, x: (cc.cos(d * c) + x * a, None), a, xs=xs)
        return d, None
    final, _ = cc.scan(outer, 0.4, length=3)
    lines = cc.compile(final, [a, xs], backend="python").ir.splitlines()
    assert sum(line.startswith("    body of ") for line in lines) == 1
    assert sum(line.startswith("        body of ") for line in lines) == 1
    assert any(line.startswith("        ") and " = cos " in line for line in lines)  # the inner body
    assert any(line.startswith("    ") and not line.startswith("        ") and " = scan " in line
               for line in lines)  # the inner loop, in the outer body


def test_source_has_a_readable_for_loop():
    fn = compiled("reverse")
    src = fn.source
    assert "for t" in src
    loop_lines = [line for line in src.splitlines() if line.strip().startswith("for t")]
    assert any("range(5)" in line for line in loop_lines)  # the forward loop
    assert any("range(4, -1, -1)" in line for line in loop_lines)  # reverse=True
    assert "# loop of 5 steps" in src
    compile(src, "<generated>", "exec")  # valid Python


@pytest.mark.parametrize("name", ["tensor_carry", "nested", "fori_offset"])
def test_pickled_loop_function_round_trips(name):
    case, fn = CASES[name], compiled(name)
    point = case.point(seed=2)
    again = pickle.loads(pickle.dumps(fn))
    assert again is not fn  # rebuilt from the pickled structure
    assert again(*point) == fn(*point)
    _close(_flat(again.grad(*point)), _flat(fn.grad(*point)), rtol=0, atol=0)
    assert again(*point) == pytest.approx(sympy_oracle(name).value(*_flat(point)), rel=1e-12)


def test_pickled_loop_function_in_a_fresh_process(tmp_path):
    case, fn = CASES["nested_reverse"], compiled("nested_reverse", checkpoint="sqrt")
    point = case.point(seed=5)
    (tmp_path / "fn.pkl").write_bytes(pickle.dumps((fn, point)))
    script = ("import json, pickle, sys, numpy as np\n"
              "fn, point = pickle.loads(open(sys.argv[1], 'rb').read())\n"
              "value, grad = fn.value_and_grad(*point)\n"
              "print(json.dumps([float(value), [float(x) for g in grad for x in np.ravel(g)]]))\n")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "fn.pkl")], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    value, grad = json.loads(out.stdout)
    want_value, want_grad = fn.value_and_grad(*point)
    assert value == want_value
    assert grad == list(_flat(want_grad))


def test_constant_loop_folds_at_build_time():
    xs = np.array([0.5, -1.0, 2.0, 0.25])
    final, ys = cc.scan(lambda c, x: (cc.sin(c) * 2.0 + x, c * x), 1.0, xs=xs)
    c, want_ys = 1.0, []
    for x in xs:  # the loop by hand
        want_ys.append(c * x)
        c = math.sin(c) * 2.0 + x
    for node in (final, ys):
        assert isinstance(node, ir.Node) and node.op == "const"
    assert final.value == pytest.approx(c, rel=1e-15)
    _close(ys.value, want_ys, rtol=1e-15)
    total = cc.fori_loop(1, 5, lambda i, c: c * i + 1.0, 0.0)
    want = 0.0
    for i in range(1, 5):
        want = want * i + 1.0
    assert total.op == "const" and total.value == want


@pytest.mark.parametrize("checkpoint", ["all", "sqrt"])
def test_constant_nested_reverse_loops_fold(checkpoint):
    xs = np.array([[0.5, 1.0], [-1.0, 0.3], [2.0, 0.1], [0.7, -0.4], [0.2, 0.9]])

    def model(m):
        def step(c, x):
            s, v = c
            d = m.fori_loop(1, 3, lambda i, e: e * x[0] + i * v[0], s)
            return (m.sin(d), v * 0.5 + x), (d, v)
        return m.scan(step, (0.2, np.array([1.0, -1.0])), xs=xs, reverse=True)
    (s, v), (ds, vs) = model(CC(checkpoint))
    (want_s, want_v), (want_ds, want_vs) = model(Floats)
    for got, want in ((s, want_s), (v, want_v), (ds, want_ds), (vs, want_vs)):
        assert got.op == "const"
        _close(got.value, np.asarray(want, dtype=float), rtol=1e-14)


def test_a_loop_with_a_symbolic_operand_does_not_fold():
    a = cc.Symbol("a")
    final, _ = cc.scan(lambda c, x: (c * a + x, None), 1.0, xs=np.arange(3.0))
    assert final.op == "item"


# --- bad input: clear errors ---

def test_carry_that_changes_shape_is_a_shape_error_naming_both():
    v = cc.Tensor("v", (3,))
    with pytest.raises(cc.ShapeError, match=r"(?s)shape \(3,\).*a scalar"):
        cc.scan(lambda c, _: (cc.sum(c), None), v, length=3)
    with pytest.raises(cc.ShapeError, match=r"(?s)a scalar.*shape \(3,\)"):
        cc.scan(lambda c, _: (c * v, None), 1.0, length=3)


def test_carry_that_changes_structure_is_a_shape_error():
    with pytest.raises(cc.ShapeError, match=r"(?s)tuple of 3.*tuple of 2"):
        cc.scan(lambda c, _: ((c[0], c[1], c[0]), None), (1.0, 2.0), length=3)
    with pytest.raises(cc.ShapeError, match="tuple of 2"):
        cc.scan(lambda c, _: (c[0], None), (1.0, 2.0), length=3)


def test_comparison_as_carry_is_an_error():
    a = cc.Symbol("a")
    with pytest.raises(cc.ShapeError, match="dtype") as info:
        cc.scan(lambda c, _: (c * a > 1.0, None), 1.0, length=3)
    assert "a scalar" in str(info.value)


def test_conditions_on_parameters_in_the_step():
    """A condition of outer values only (written in the step, or built outside and read by it)
    stays in the body; what it compares becomes the loop's parameters."""
    a = cc.Symbol("a")
    flag = a > 0
    for make in (lambda c: cc.where(a > 0, c * a, -c), lambda c: cc.where(flag, c * a, -c)):
        final, _ = cc.scan(lambda c, _: (make(c), None), 1.0, length=3)
        fn = cc.compile(final, [a], backend="python")
        for x in (2.0, -1.0):
            c, g = 1.0, 0.0  # the loop in Python, and its derivative in a
            for _ in range(3):
                c, g = (c * x, g * x + c) if x > 0 else (-c, -g)
            assert fn.value_and_grad(x) == (c, (g,))


def test_python_if_on_a_traced_value_in_the_step_points_to_where():
    a = cc.Symbol("a")

    def step(c, _):
        if c > a:
            return c - a, None
        return c + a, None
    with pytest.raises(cc.TracingError, match=r"cc\.where"):
        cc.scan(step, 1.0, length=3)
    with pytest.raises(cc.TracingError, match=r"cc\.where"):
        cc.fori_loop(0, 3, lambda i, c: c * 2.0 if i > 1 else c, 1.0)


def test_length_that_disagrees_with_xs_names_both():
    xs = cc.Tensor("xs", (5,))
    with pytest.raises(cc.ShapeError, match=r"(?s)length=4.*\[5\]"):
        cc.scan(lambda c, x: (c + x, None), 1.0, xs=xs, length=4)
    final, _ = cc.scan(lambda c, x: (c + x, None), 1.0, xs=xs, length=5)  # agreeing is fine
    assert final.shape == ()


def test_xs_with_different_first_axes():
    u, w = cc.Tensor("u", (4,)), cc.Tensor("w", (5, 2))
    with pytest.raises(cc.ShapeError, match=r"first axis.*\[4, 5\]"):
        cc.scan(lambda c, x: (c + x[0] + cc.sum(x[1]), None), 1.0, xs=(u, w))


def test_scalar_xs_is_a_shape_error():
    a = cc.Symbol("a")
    with pytest.raises(cc.ShapeError, match="scalar"):
        cc.scan(lambda c, x: (c + x, None), 1.0, xs=a)


def test_negative_length_and_missing_length():
    with pytest.raises(ValueError, match="non-negative"):
        cc.scan(lambda c, _: (c, None), 1.0, length=-1)
    with pytest.raises(ValueError, match="length="):
        cc.scan(lambda c, _: (c, None), 1.0)


def test_bogus_checkpoint():
    with pytest.raises(ValueError, match=r"checkpoint.*'bogus'"):
        cc.scan(lambda c, _: (c, None), 1.0, length=3, checkpoint="bogus")
    with pytest.raises(ValueError, match="checkpoint"):
        cc.fori_loop(0, 3, lambda i, c: c, 1.0, checkpoint="bogus")


def test_fori_loop_with_float_bounds_is_a_type_error():
    with pytest.raises(TypeError, match=r"lower must be an int.*0\.0"):
        cc.fori_loop(0.0, 3, lambda i, c: c, 1.0)
    with pytest.raises(TypeError, match="upper must be an int"):
        cc.fori_loop(0, 3.0, lambda i, c: c, 1.0)


def test_step_that_does_not_return_a_pair():
    with pytest.raises(TypeError, match=r"\(carry, y\)"):
        cc.scan(lambda c, _: c, 1.0, length=3)


def test_vm_refuses_loops_and_llvm_tensor_carries():
    a = cc.Symbol("a")
    final, _ = cc.scan(lambda c, _: (c * a, None), 1.0, length=3)
    with pytest.raises(cc.UnsupportedError, match="loop"):
        cc.compile(final, [a], backend="vm")
    final, _ = cc.scan(lambda c, _: (c * a, None), cc.broadcast_to(a, (257,)), length=3)
    with pytest.raises(cc.UnsupportedError, match=r"loop.*carries a tensor of shape \(257,\)"):
        cc.compile(cc.sum(final), [a], backend="llvm")


def test_gradient_history_above_the_limit_is_a_resource_error(monkeypatch):
    monkeypatch.setenv("COMPILER_LOOP_MEMORY", "1000")
    a = cc.Symbol("a")
    final, _ = cc.scan(lambda c, _: (cc.sin(c * a), None), 1.0, length=200)
    cc.compile(final, [a], wrt=[], backend="python")  # no gradient: no history, no error
    fn = cc.compile(final, [a], backend="python")  # the value runs; the gradient is refused at its first call
    c = 1.0
    for _ in range(200):
        c = math.sin(c * 0.9)
    assert fn(0.9) == pytest.approx(c, rel=1e-13)
    with pytest.raises(cc.ResourceError) as info:
        fn.grad(0.9)
    message = str(info.value)
    assert "200 steps" in message
    assert f"{200 * 8 / 1024:.1f} KiB" in message  # the estimate: 200 carries of 8 bytes
    assert 'checkpoint="sqrt"' in message
    # with sqrt checkpoints the same loop keeps few enough carries
    final_s, _ = cc.scan(lambda c, _: (cc.sin(c * a), None), 1.0, length=200, checkpoint="sqrt")
    fn = cc.compile(final_s, [a], backend="python")
    c = 1.0
    for _ in range(200):
        c = math.sin(c * 0.9)
    assert fn(0.9) == pytest.approx(c, rel=1e-13)


def test_a_hundred_million_steps_all_is_refused_but_sqrt_compiles():
    a = cc.Symbol("a")
    v = cc.Tensor("v", (3,))
    n = 10 ** 8
    final, _ = cc.scan(lambda c, _: (cc.sin(c * a), None), v, length=n)
    with pytest.raises(cc.ResourceError) as info:
        cc.compile(cc.sum(final), [a, v], backend="python").grad(0.5, np.ones(3))
    message = str(info.value)
    assert f"{n * 24 / 2 ** 30:.1f} GiB" in message and "100,000,000 steps" in message
    assert 'checkpoint="sqrt"' in message
    final_s, _ = cc.scan(lambda c, _: (cc.sin(c * a), None), v, length=n, checkpoint="sqrt")
    fn = cc.compile(cc.sum(final_s), [a, v], backend="python")  # built, not run
    assert fn.wrt and "for t" in fn.source
    # the same for a reverse scan, a length that is no square, and fori_loop
    final_r, _ = cc.scan(lambda c, _: (cc.sin(c * a), c[0]), v, length=n + 7, reverse=True, checkpoint="sqrt")
    cc.compile(cc.sum(final_r), [a, v], backend="python")
    cc.compile(cc.sum(cc.fori_loop(0, n, lambda i, c: cc.sin(c * a) + i, v, checkpoint="sqrt")), [a, v],
               backend="python")
    with pytest.raises(cc.ResourceError, match="checkpoint"):
        cc.compile(cc.sum(cc.fori_loop(0, n, lambda i, c: cc.sin(c * a) + i, v)), [a, v],
                   backend="python").value_and_grad(0.5, np.ones(3))
