"""Tensors in the IR: every op's gradient against finite differences (backend "python"),
the Numba dialect against the NumPy dialect, PyTorch as an oracle, Hessians, batches,
build-time and call-time errors, the eager Value API on arrays, stop_gradient, and the
generated source.

Cost: most checks run the python backend (the generated NumPy code, no compile). The Numba
dialect is checked on 18 small programs (``NUMBA_PROGRAMS``) that together use every op,
each compiled once and compared with the NumPy dialect at several points; see the comment
above them for why they are small rather than one big function.

The tests under "regressions" pin bugs that this file found (each fixed).
"""

from __future__ import annotations

import ast
import builtins
import math
import warnings
import zlib

import numpy as np
import pytest

import compiler as cc
from compiler import ir
from compiler.ir import ops
from compiler.ir.special import SPECIAL as SPECIAL_FUNCTIONS
from compiler.runtime import tiers
from compiler.runtime.code import Code
from compiler import value as value_module

# --- helpers ---


def T(name, *shape):
    return cc.Tensor(name, shape)


def rng_for(label: str) -> np.random.Generator:
    """A generator seeded by a label: each test draws the same numbers whatever runs before it."""
    return np.random.default_rng(zlib.crc32(label.encode()))


def W(*shape):
    """Distinct constant weights of ``shape``: a permuted or mis-broadcast gradient shows."""
    n = math.prod(shape)
    return (np.arange(1.0, n + 1.0) / n + 0.5).reshape(shape)


def fd_gradient(f, args, k, eps=1e-6):
    """Central differences of the scalar ``f(*args)`` in every element of ``args[k]``."""
    x = np.array(args[k], dtype=np.float64)
    g = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        points = []
        for step in (eps, -eps):
            moved = x.copy()
            moved[idx] += step
            points.append(list(args[:k]) + [moved if x.shape else float(moved)] + list(args[k + 1:]))
        g[idx] = (f(*points[0]) - f(*points[1])) / (2 * eps)
    return g if x.shape else float(g)


def assert_gradients_match_fd(fn, args, rtol=1e-6, atol=1e-7, what=""):
    """``fn.value_and_grad`` against central differences of ``fn`` in every element of every input."""
    value, grads = fn.value_and_grad(*args)
    assert np.ndim(value) == 0 and math.isfinite(value), what
    assert len(grads) == len(fn.wrt)
    for k, w in enumerate(fn.wrt):
        assert np.shape(grads[k]) == w.shape, (what, w.name)
        position = fn.inputs.index(w)
        np.testing.assert_allclose(grads[k], fd_gradient(fn, args, position), rtol=rtol, atol=atol,
                                   err_msg=f"d/d{w.name} of {what}")
    return value, grads


def close(a, b, rtol=1e-12, atol=1e-13, what=""):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def restricted_import(name, globals=None, locals=None, fromlist=(), level=0):
    """``__import__`` that lets generated code import only math, numpy and numba."""
    if name.split(".")[0] not in ("math", "numpy", "numba"):
        raise ImportError(f"generated code imported {name!r}")
    return builtins.__import__(name, globals, locals, fromlist, level)


def exec_source(source: str) -> dict:
    """Run a generated module alone: its own namespace, only math/numpy/numba importable."""
    tree = ast.parse(source)
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"math", "numpy", "numba"}, imported
    namespace = {"__builtins__": {**vars(builtins), "__import__": restricted_import}, "__name__": "generated"}
    exec(compile(source, "<generated>", "exec"), namespace)  # noqa: S102 - the library's own output
    return namespace


# --- the case table: (id, input shapes, build(*inputs) -> scalar loss, sampling range) ---

class Case:
    def __init__(self, id, shapes, build, low=-1.5, high=1.5, exact=None):
        self.id, self.shapes, self.build = id, [tuple(s) for s in shapes], build
        self.low, self.high = low, high
        self.exact = exact  # the gradients as a function of the arguments, where differences cannot tell

    def inputs(self, prefix="t"):
        return [cc.Tensor(f"{prefix}{k}", s) for k, s in enumerate(self.shapes)]

    def args(self):
        rng = rng_for(self.id)
        return [rng.uniform(self.low, self.high, s) if s else float(rng.uniform(self.low, self.high))
                for s in self.shapes]

    def param(self):
        return pytest.param(self, id=self.id)


CASES: list[Case] = []


def add(id, shapes, build, low=-1.5, high=1.5, exact=None):
    CASES.append(Case(id, shapes, build, low, high, exact))


# every elementwise function on a tensor, as a function and as a method
UNARY = ["exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos", "atan",
         "log1p", "expm1", "abs", "relu", "sigmoid", "softplus", "erf"]
DOMAIN = {"log": (0.2, 2.0), "sqrt": (0.2, 2.0), "log1p": (-0.5, 2.0), "asin": (-0.9, 0.9),
          "acos": (-0.9, 0.9), "tan": (-1.2, 1.2)}
for _f in UNARY:
    _lo, _hi = DOMAIN.get(_f, (-1.5, 1.5))
    add(f"{_f}", [(2, 3)], (lambda f: lambda a: cc.sum(getattr(cc, f)(a) * W(2, 3)))(_f), _lo, _hi)
    add(f"{_f} method (4,)", [(4,)], (lambda f: lambda a: cc.sum(getattr(a, f)() * W(4)))(_f), _lo, _hi)
    add(f"{_f} of a batched (2,1,3) tensor, summed", [(2, 1, 3)],
        (lambda f: lambda a: cc.sum(getattr(cc, f)(a * 0.9)))(_f), _lo, _hi)
add("sign (derivative 0)", [(2, 3)], lambda a: cc.sum(cc.sign(a) * a * W(2, 3)))
add("neg", [(2, 3)], lambda a: cc.sum(-a * W(2, 3)) + cc.sum(-(a * a)))
add("numpy ufuncs on tensors", [(3, 4)],
    lambda a: cc.sum(np.sin(a) * np.exp(a * 0.5) + np.tanh(a) * W(3, 4) + np.arctan2(a, 2.0) + abs(a)))

# binary ops, in every broadcasting position
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "rsub": lambda a, b: b - a,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 0.5),
    "rdiv": lambda a, b: (b * b + 0.5) / (a * a + 0.25),
    "pow tensor exponent": lambda a, b: (a * a + 0.5) ** b,
    "pow constant exponent": lambda a, b: (a * b) ** 3 + (b * b + 1.0) ** -1.5 + a ** 2,
    "atan2": lambda a, b: cc.atan2(a, b + 2.5) + cc.atan2(b, a - 2.5),
    "maximum": lambda a, b: cc.maximum(a, b),
    "minimum": lambda a, b: cc.minimum(a, b),
    "where <": lambda a, b: cc.where(a < b, a * b, a - b),
    "where <=": lambda a, b: cc.where(a <= b, cc.sin(a), b * b),
    "where >": lambda a, b: cc.where(a > b, a, 2.0 * b),
    "where >=": lambda a, b: cc.where(a >= 0.1, a * a, b),
}
PAIRS = {"(3,1) (1,4)": [(3, 1), (1, 4)], "(4,) (3,4)": [(4,), (3, 4)], "scalar tensor": [(), (3, 4)],
         "tensor scalar": [(3, 4), ()], "(2,3) (2,3)": [(2, 3), (2, 3)], "(2,1,4) (3,1)": [(2, 1, 4), (3, 1)]}
for _name, _op in BINARY.items():
    for _pname, _shapes in PAIRS.items():
        add(f"{_name} {_pname}", _shapes, (lambda op: lambda a, b: cc.sum(cc.tanh(op(a, b)) * 1.5))(_op))

# NumPy constants and Python numbers on either side
C4, C34, C31, C234 = W(4), W(3, 4) - 1.0, W(3, 1) + 0.25, W(2, 3, 4)
add("python numbers on either side", [(3, 4)],
    lambda a: cc.sum(2.0 - a + (a + 1.5) * 0.5 + 1.0 / (a * a + 1.0) + 2.0 ** a + a ** 2.0 - a / 3.0 + 3.0 * a))
add("constant arrays on either side", [(3, 4)],
    lambda a: cc.sum(C4 + a * C31 + C34 * a - (C31 - a) / C4 + C4 / (a * a + 1.0) + (a - C34) ** 2
                     + 2.0 ** a + (a * a + 0.5) ** C31))
add("constant broadcasts the tensor up", [(3, 4)], lambda a: cc.sum(cc.sin(a * C234 + C234)))
add("constant arrays in functions", [(3, 4)],
    lambda a: cc.sum(cc.maximum(a, C34) + cc.minimum(C4, a) + cc.atan2(C34, a + 2.5)
                     + cc.where(a > C4 - 1.0, C31, a) + cc.where(C34 <= a, a, C4)))
add("comparison with a constant on the left", [(3, 4)], lambda a: cc.sum(cc.where(np.zeros(4) < a, a * a, -a)))

# reductions: every axis form, keepdims both ways
REDUCTIONS = {"sum": cc.sum, "mean": cc.mean, "max": cc.max, "min": cc.min, "logsumexp": cc.logsumexp}
AXES = [None, 0, 1, -1, -3, (0, 2), (-1, 0), (2, 0, 1), ()]
for _rname, _red in REDUCTIONS.items():
    for _axis in AXES:
        for _keep in (False, True):
            add(f"{_rname} axis={_axis} keepdims={_keep}", [(2, 3, 4)],
                (lambda red, axis, keep: lambda a: cc.sum(cc.sin(2.0 * red(a, axis=axis, keepdims=keep))))(
                    _red, _axis, _keep))
add("reduction methods", [(2, 3, 4)],
    lambda a: cc.sum(a.sum(axis=1) ** 2) + cc.sum(a.mean(-1, True) * a) + cc.sum(a.max(axis=(0, 1)) ** 3)
    + cc.sum(a.min(0) * 2.0) + a.logsumexp() + cc.sum(a.logsumexp(axis=2, keepdims=True) ** 2))
add("reductions of reductions", [(2, 3, 4)],
    lambda a: cc.sum(cc.max(cc.sum(a * a, axis=0), axis=-1) * cc.min(cc.mean(a, axis=2), axis=0)))
add("reduction of a scalar", [()], lambda s: cc.sum(s * s) + cc.mean(s) + cc.max(s) * cc.min(s) + cc.logsumexp(s))

# softmax family
for _axis in (-1, 0, 1, -2):
    add(f"softmax axis={_axis}", [(3, 4)], (lambda ax: lambda a: cc.sum(cc.softmax(a, axis=ax) * W(3, 4)))(_axis))
    add(f"log_softmax axis={_axis}", [(3, 4)],
        (lambda ax: lambda a: cc.sum(cc.log_softmax(a, axis=ax) * W(3, 4)))(_axis))
add("softmax 3-D and methods", [(2, 3, 4)],
    lambda a: cc.sum(a.softmax() * W(2, 3, 4)) + cc.sum(a.log_softmax(axis=1) ** 2)
    + cc.sum(cc.softmax(a, axis=0) * cc.log_softmax(a, axis=0)))

# matmul: 1-D, 2-D, batches with broadcast batch axes, constants on either side
MATMUL = {
    "(3,4)@(4,2)": [(3, 4), (4, 2)],
    "(4,)@(4,2)": [(4,), (4, 2)],
    "(3,4)@(4,)": [(3, 4), (4,)],
    "(4,)@(4,)": [(4,), (4,)],
    "(2,1,3,4)@(5,4,2)": [(2, 1, 3, 4), (5, 4, 2)],
    "(4,)@(2,4,3)": [(4,), (2, 4, 3)],
    "(2,3,4)@(4,)": [(2, 3, 4), (4,)],
    "(2,3,4)@(4,2)": [(2, 3, 4), (4, 2)],
    "(3,4)@(2,4,5)": [(3, 4), (2, 4, 5)],
    "(1,3,4)@(2,4,2)": [(1, 3, 4), (2, 4, 2)],
}
for _name, _shapes in MATMUL.items():
    add(f"matmul {_name}", _shapes, lambda a, b: cc.sum(cc.tanh(a @ b) * 1.3))
add("cc.matmul and constants on either side", [(3, 4)],
    lambda a: cc.sum(cc.sin(cc.matmul(a, C4))) + cc.sum(cc.sin(W(2, 3) @ a)) + cc.sum(cc.matmul(C34.T, a) * 0.5)
    + cc.sum((a @ W(4, 2)) ** 2) + cc.sum(cc.sin(C4 @ a.T)))
add("matmul chain", [(3, 4), (4, 4), (4,)], lambda a, b, c: cc.sum(cc.tanh(a @ b @ b) @ c) + c @ b @ c)

# transposes, reshapes, broadcast_to
add(".T of 2-D", [(3, 4)], lambda a: cc.sum(a.T * W(4, 3)))
add(".T of 3-D", [(2, 3, 4)], lambda a: cc.sum(cc.sin(a.T) * W(4, 3, 2)))
add(".T of 1-D", [(4,)], lambda a: cc.sum(a.T * W(4)))
add("transpose perms", [(2, 3, 4)],
    lambda a: cc.sum(cc.transpose(a, (1, 0, 2)) * W(3, 2, 4)) + cc.sum(cc.transpose(a, (-1, 0, 1)) ** 2 * W(4, 2, 3))
    + cc.sum(a.transpose(2, 0, 1) * W(4, 2, 3)) + cc.sum(cc.transpose(a) * W(4, 3, 2)))
add("transposes compose", [(2, 3, 4)],
    lambda a: cc.sum(cc.transpose(cc.transpose(a, (1, 2, 0)), (1, 2, 0)) * W(4, 2, 3))
    + cc.sum(cc.transpose(cc.transpose(a, (1, 2, 0)), (2, 0, 1)) * W(2, 3, 4)))
add("reshape", [(2, 3, 4)],
    lambda a: cc.sum(a.reshape(-1) * W(24)) + cc.sum(cc.sin(a.reshape(4, -1)) * W(4, 6))
    + cc.sum(cc.reshape(a, (6, 4)) ** 2 * W(6, 4)) + cc.sum(a.reshape((3, 2, 4)).T * W(4, 2, 3))
    + cc.sum(a.reshape(2, 12).reshape(8, 3) * W(8, 3)))
add("reshape to and from a scalar", [(1, 1), ()],
    lambda a, s: a.reshape(()) * s + cc.sum(cc.reshape(s, (1, 1)) * W(1, 1)) + cc.sum(a.reshape(1) ** 2))
add("broadcast_to", [(3, 1), (4,), ()],
    lambda a, b, s: cc.sum(cc.broadcast_to(a, (2, 3, 4)) * W(2, 3, 4)) + cc.sum(cc.sin(cc.broadcast_to(b, (3, 4))) * W(3, 4))
    + cc.sum(cc.broadcast_to(s, (2, 3)) * W(2, 3)))

# concatenate and stack, negative axes included
add("concatenate", [(2, 3), (2, 2), (2, 3)],
    lambda a, b, c: cc.sum(cc.sin(cc.concatenate([a, b, c], axis=-1)) * W(2, 8))
    + cc.sum(cc.concatenate([a, c], axis=0) ** 2 * W(4, 3)) + cc.sum(cc.concatenate([a.T, c.T], axis=-2) * W(6, 2))
    + cc.sum(cc.concatenate([a, np.ones((1, 3))], axis=0) * W(3, 3)) + cc.sum(cc.concatenate([b], axis=1) * b))
add("concatenate 3-D", [(2, 3, 4), (2, 1, 4)],
    lambda a, b: cc.sum(cc.tanh(cc.concatenate([a, b, a], axis=-2)) * W(2, 7, 4)))
add("stack", [(2, 3), (2, 3)],
    lambda a, b: cc.sum(cc.stack([a, b], axis=0) * W(2, 2, 3)) + cc.sum(cc.stack([a, b, a], axis=-1) ** 2 * W(2, 3, 3))
    + cc.sum(cc.sin(cc.stack([a, b], axis=1)) * W(2, 2, 3)) + cc.sum(cc.stack([b, a], axis=-2) * W(2, 2, 3)))
add("stack of scalars", [(), ()], lambda s, t: cc.sum(cc.stack([s, t, s * t]) * W(3)))

# basic indexing: ints, slices, None, ...
add("slicing", [(4, 5)],
    lambda a: cc.sum(a[1:3, ::2] ** 2 * W(2, 3)) + cc.sum(a[-1] * W(5)) + a[0, 0] * a[2, -1]
    + cc.sum(a[None, :, 1] * W(1, 4)) + cc.sum(a[..., 3] * a[::-1, 0]) + cc.sum(a[:, 3:0:-2] * W(4, 2))
    + cc.sum(a[1:, None, :-1] * W(3, 1, 4)) + cc.sum(a[2:2] * 5.0) + cc.sum(a[np.int64(1)] * W(5)))
add("slicing 3-D with ellipsis", [(2, 3, 4)],
    lambda a: cc.sum(a[..., 1:] * W(2, 3, 3)) + cc.sum(a[1, ..., None] * W(3, 4, 1)) + cc.sum(a[:, -1, ::3] * W(2, 2))
    + cc.sum(a[None, ..., None][0, 1] * W(3, 4, 1)))
add("reversed slices (non-constant adjoint)", [(5,)],
    lambda a: cc.sum(a[::-1] ** 2 * W(5)) + cc.sum(a[-2::-1] ** 2 * W(4)) + cc.sum(a[4::-2] ** 2))
add("iteration and len", [(3, 2)], lambda a: sum(r * r * float(len(a)) for r in a)[1] + cc.sum(list(a)[0] * W(2)))

# integer-array indexing (adjoint: scatter-add), repeats and negative indices included
add("integer-array indexing with repeats", [(4, 3)],
    lambda a: cc.sum(a[[0, 2, 2]] ** 2 * W(3, 3)) + cc.sum(a[:, np.array([1, 1, 0])] * W(4, 3))
    + cc.sum(a[[-1, 0, -1]] * W(3, 3)) + cc.sum(a[np.array([[0, 1], [3, 3]])] * W(2, 2, 3)))
add("take", [(2, 3, 4)],
    lambda a: cc.sum(cc.take(a, [3, 0, 3], axis=-1) ** 2 * W(2, 3, 3))
    + cc.sum(cc.take(a, np.array([[2, 2], [0, 1]]), axis=1) * W(2, 2, 2, 4)) + cc.sum(cc.take(a, [1], axis=0) * W(1, 3, 4)))
add("take 1-D with repeats", [(5,)], lambda a: cc.sum(cc.take(a, np.array([4, 4, 4, 0])) ** 3))

# NumPy's further ufuncs, running sums and triangles (tests/test_numpy_api.py tests them against JAX)
add("log2 log10 exp2 cbrt asinh acosh atanh", [(2, 3)],
    lambda a: cc.sum(cc.log2(a) * W(2, 3) + cc.log10(a) + cc.exp2(a) * a + cc.cbrt(a) + cc.asinh(a) * W(2, 3)
                     + cc.acosh(a + 1.5) + cc.atanh(a * 0.4)), 0.2, 2.0)
add("hypot logaddexp logaddexp2", [(2, 3), (3,)],
    lambda a, b: cc.sum(cc.hypot(a, b) * W(2, 3) + cc.logaddexp(a, b) + cc.logaddexp2(b, a) * a))
add("floor ceil rint % //", [(2, 3), (3,)],
    lambda a, b: cc.sum((cc.floor(a) + cc.ceil(b) + cc.rint(a * 3.0) + 1.0) * a * b + a % (b * b + 0.5)
                        + (a // (b + 2.0)) * b), exact=lambda a, b: [
        (np.floor(a) + np.ceil(b) + np.rint(a * 3.0) + 1.0) * b + 1.0 + b * 0.0,
        np.sum((np.floor(a) + np.ceil(b) + np.rint(a * 3.0) + 1.0) * a, axis=0)
        - np.sum(np.floor_divide(a, b * b + 0.5), axis=0) * 2 * b + np.sum(np.floor_divide(a, b + 2.0), axis=0)])
add("cumsum", [(3, 4)],
    lambda a: cc.sum(cc.cumsum(a, axis=1) ** 2 * W(3, 4)) + cc.sum(cc.sin(cc.cumsum(a, axis=0)) * W(3, 4))
    + cc.sum(cc.cumsum(a) * W(12)))
add("tril triu", [(3, 4), (2, 3, 3)],
    lambda a, b: cc.sum(cc.tril(a) ** 2 * W(3, 4)) + cc.sum(cc.sin(cc.triu(a, 1)) * W(3, 4))
    + cc.sum(cc.triu(b, -1) * cc.tril(b, 1) * W(2, 3, 3)))

# stop_gradient, repeated use of one tensor
add("stop_gradient", [(2, 3)],
    lambda a: cc.sum(cc.stop_gradient(a) * a) + cc.sum(cc.stop_gradient(a * a) * W(2, 3))
    + cc.sum(cc.sin(cc.stop_gradient(a)) * cc.tanh(a)),
    exact=lambda x: [x + np.sin(x) * (1.0 - np.tanh(x) ** 2)])  # finite differences see through stop_gradient
add("repeated use", [(3, 3)],
    lambda a: cc.sum(a * a) + cc.sum(a @ a.T) + cc.sum(a[0] + a[1]) + cc.sum(a[0] * a[1]) + cc.sum(a + a.T)
    + cc.sum(a) * cc.sum(a * W(3, 3)))

# a small network: everything at once
add("mlp", [(5, 3), (3, 4), (4,), (4, 2), (2,)],
    lambda X, W1, b1, W2, b2: cc.mean((cc.tanh(X @ W1 + b1) @ W2 + b2 - 0.5) ** 2)
    + cc.sum(cc.log_softmax(cc.relu(X @ W1) @ W2, axis=-1)[:, [1, 1, 0]]))

CASE_IDS = [c.id for c in CASES]
assert len(set(CASE_IDS)) == len(CASE_IDS), "case ids must be unique"


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_gradient_matches_finite_differences(case):
    inputs = case.inputs()
    expr = case.build(*inputs)
    assert expr.shape == ()
    fn = cc.compile(expr, inputs, backend="python")
    if case.exact is None:
        assert_gradients_match_fd(fn, case.args(), what=case.id)
    else:
        _, grads = fn.value_and_grad(*case.args())
        for g, want in zip(grads, case.exact(*case.args())):
            close(g, want, rtol=1e-14)


def _ops_in(nodes):
    return {n.op for n in ir.topo_order(nodes)}


# The special functions of scipy.special and Boolean logic, elementwise on a tensor (their
# accuracy against mpmath is test_special_functions'; zetac has no derivative in closed form)
SPECIAL_OPS = sorted(n for n in SPECIAL_FUNCTIONS if n != "zetac")


def _special_and_logic(a):
    t = a * 0.3 + 0.2  # inside every function's domain for a in [0.1, 0.9]
    def special(n):  # the discrete operands constant (lambertw's branch is its second)
        return ir.apply(n, t, 0.0) if n == "lambertw" else ir.apply(n, *(2.0, 0.5, 1.5)[:ops.OPS[n].arity - 1], t)
    total = sum(special(n) * (k + 1.0) for k, n in enumerate(SPECIAL_OPS))
    inside = cc.logical_and(a > 0.3, cc.logical_not(a > 0.7))
    either = cc.logical_or(cc.logical_xor(a > 0.2, a > 0.5), a > 0.8)
    return cc.sum(total + cc.where(inside, a * a, -a) + cc.where(either, 2.0 * a, a))


add("special functions and logic", [(2, 3)], _special_and_logic, 0.1, 0.9)


def test_cases_cover_every_op():
    """Every tensor op and every elementwise op appears in some case's value or gradient graph."""
    seen = set()
    for case in CASES:
        inputs = case.inputs()
        expr = case.build(*inputs)
        seen |= _ops_in([expr] + cc.compile(expr, inputs, backend="python")._jac[0])
    elementwise = set(ops.SCALAR_OPS) - {"const", "var", "eq", "zetac"}  # eq: only in max/min adjoints
    elementwise -= {"conj", "real", "imag", "angle"}  # complex values: tests/test_complex.py
    tensor_ops = {op.name for op in ops._TENSOR_OPS}
    assert elementwise - seen == set()
    assert tensor_ops - seen == set()
    assert "eq" in seen


# --- the Numba dialect against the NumPy dialect ---
#
# Numba's compile time grows faster than the size of a function (35 reduction and softmax
# cases of the table as ONE function: 135 s; one function each: 25 s), and much of it goes to
# the first use of a NumPy function on a new array type (np.transpose(x, perm) of a 3-D or 4-D
# array: ~3.5 s; a loop of 2-D `@` on slices: ~4 s). So the Numba dialect is checked on 18
# small programs that together use every op and every spelling of the Numba printer, each
# compiled once and compared with the NumPy dialect at several points, special values included.

def _ties(x):
    """``x`` rounded to halves: many tied maxima and minima."""
    return np.round(np.asarray(x) * 2.0) / 2.0


NUMBA_PROGRAMS: list[Case] = []
SPECIAL = np.array([[-1.0, 0.0, 1e308, -0.0, np.inf, np.nan, -2.5, 0.5, -np.inf, 3.0, 1e-310, 0.75]]).reshape(2, 6)


def numba_program(id, shapes, build, low=-1.5, high=1.5, points=()):
    case = Case(f"numba {id}", shapes, build, low, high)
    case.points = points  # functions of the random arguments: more points to compare at
    NUMBA_PROGRAMS.append(case)


U1, U2 = ["exp", "log", "sqrt", "sin", "cos", "tan", "tanh"], ["sinh", "cosh", "asin", "acos", "atan", "log1p", "expm1"]
U3 = ["abs", "relu", "sigmoid", "softplus", "erf", "sign"]
C2134, C542 = W(2, 1, 3, 4) - 1.0, W(5, 4, 2) - 1.0
numba_program("unary 1", [(2, 3)], lambda a: cc.sum(sum(getattr(cc, f)(a) * (k + 1.0) for k, f in enumerate(U1))), 0.2, 1.2)
numba_program("unary 2", [(2, 3)], lambda a: cc.sum(sum(getattr(cc, f)(a) * (k + 1.0) for k, f in enumerate(U2))), -0.9, 0.9)
numba_program("unary 3", [(2, 3)], lambda a: cc.sum(sum(getattr(cc, f)(a) * (k + 1.0) * a for k, f in enumerate(U3)) - a),
              points=[lambda a: [np.array([[0.0, -1.0, 2.0], [3.0, 0.0, -0.5]])]])
numba_program("arithmetic broadcast", [(3, 1), (1, 4)],
              lambda a, b: cc.sum(a + b * 2.0 + (a - b) * a * b + a / (b * b + 0.5) - (-a) ** 3))
numba_program("pow atan2 maximum minimum", [(3, 1), (4,)],
              lambda a, b: cc.sum((a * a + 0.5) ** b + cc.atan2(a, b + 2.5) + cc.maximum(a, b) + 2.0 * cc.minimum(a, b)),
              points=[lambda a, b: [np.array([[0.5], [1.0], [-1.0]]), np.array([0.5, 0.0, 1.0, -1.0])]])
numba_program("where and comparisons", [(), (3, 4)],
              lambda s, b: cc.sum(cc.where(s < b, s * b, b) + cc.where(b <= 0.1, b * b, s)
                                  + cc.where(b > s, cc.sin(b), 0.0) + cc.where(s >= b, 2.0 * s, b)))
numba_program("constants and numbers", [(3, 4)],
              lambda a: cc.sum(C4 + a * C31 + C34 * a - (C31 - a) / C4 + C4 / (a * a + 1.0) + (a - C34) ** 2 + 2.0 ** a
                               + (a * a + 0.5) ** C31 + 1.0 / (a * a + 1.0) - a / 3.0))
numba_program("sum mean", [(2, 3, 4)],
              lambda a: cc.sum(cc.sin(cc.sum(a, axis=(0, 2)))) + cc.sum(cc.sum(a, axis=-1, keepdims=True) * a)
              + cc.sum(a) * cc.mean(a, axis=1)[0, 0] + cc.sum(cc.mean(a, axis=(0, 1), keepdims=True) ** 2))
numba_program("max min with ties", [(2, 3, 4)],
              lambda a: cc.sum(cc.max(a, axis=-1) ** 2) + cc.sum(cc.min(a, axis=(0, 2), keepdims=True) * W(1, 3, 1))
              + cc.max(a) * cc.min(a), points=[lambda a: [_ties(a)]])
numba_program("softmax family", [(3, 4)],
              lambda a: cc.sum(cc.softmax(a) * W(3, 4)) + cc.sum(cc.log_softmax(a, axis=0) * W(3, 4))
              + cc.sum(cc.logsumexp(a, axis=1) ** 2) + cc.logsumexp(a),
              points=[lambda a: [LARGE], lambda a: [-LARGE], lambda a: [_ties(a)]])
numba_program("matmul 1-D and 2-D", [(3, 4), (4, 2), (4,)],
              lambda a, b, c: cc.sum(cc.tanh(a @ b)) + cc.sum(cc.sin(c @ b)) + cc.sum(cc.sin(a @ c)) + cc.sin(c @ c))
# batch axes (2, 1) broadcast against (5,) with a constant 4-D operand (a tensor one would bring
# 4-D np.transpose into the gradient: seconds more of Numba compile), and a 3-D tensor-tensor batch
numba_program("matmul batches", [(5, 4, 2), (1, 3, 4)],
              lambda b, c: cc.sum(cc.sin(C2134 @ b)) + cc.sum(cc.tanh(c @ b)))
numba_program("matmul 1-D with N-D", [(4,), (2, 4, 3)],
              lambda a, b: cc.sum(cc.tanh(a @ b)) + cc.sum(cc.sin(cc.transpose(b, (0, 2, 1)) @ a)))
numba_program("transpose reshape", [(2, 3, 4)],
              lambda a: cc.sum(cc.sin(cc.transpose(a, (2, 0, 1)).reshape(4, -1)) * W(4, 6)) + cc.sum(a.T * W(4, 3, 2))
              + cc.sum(a[0].T ** 2 * W(4, 3)))
numba_program("broadcast_to and scalar reshapes", [(3, 1), (), (1, 1)],
              lambda a, s, c: cc.sum(cc.broadcast_to(a, (2, 3, 4)) * W(2, 3, 4)) + cc.sum(cc.broadcast_to(s, (2, 3)) * W(2, 3))
              + c.reshape(()) * s + cc.sum(cc.reshape(s, (1, 1)) * c))
numba_program("concatenate stack", [(2, 3), (2, 2)],
              lambda a, b: cc.sum(cc.sin(cc.concatenate([a, b, a], axis=-1)) * W(2, 8))
              + cc.sum(cc.stack([b, b * b], axis=-1) ** 2 * W(2, 2, 2)))
numba_program("slicing", [(4, 5)],
              lambda a: cc.sum(a[1:3, ::2] ** 2 * W(2, 3)) + cc.sum(a[-1] * a[0]) + a[0, 0] * a[2, -1]
              + cc.sum(a[None, :, 1] ** 2) + cc.sum(a[..., 3] * a[::-1, 0]) + cc.sum(a[:, 3:0:-2] ** 2))
numba_program("integer-array indexing", [(4, 3)],
              lambda a: cc.sum(a[[0, 2, 2]] ** 2 * W(3, 3)) + cc.sum(a[:, np.array([1, 1, 0])] ** 2 * W(4, 3))
              + cc.sum(cc.take(a, np.array([[0, 1], [3, 3]])) ** 2 * W(2, 2, 3)))
numba_program("special functions and logic", [(2, 3)], _special_and_logic, 0.1, 0.9)
numba_program("further ufuncs, cumsum, tril/triu", [(3, 4), (4,)],
              lambda a, b: cc.sum(cc.log2(a * a + 1.0) + cc.log10(a * a + 2.0) + cc.exp2(a) + cc.cbrt(a) * b
                                  + cc.asinh(a) + cc.acosh(a * a + 1.5) + cc.atanh(a * 0.3) + cc.hypot(a, b)
                                  + cc.logaddexp(a, b) + cc.logaddexp2(a, b) + (cc.floor(a) + cc.ceil(b)) * a
                                  + cc.rint(b) * a + a % (b + 2.0) + (a // (b + 2.0)) * b)
              + cc.sum(cc.cumsum(a, axis=1) ** 2 * W(3, 4)) + cc.sum(cc.tril(a, 1) * cc.triu(a) * W(3, 4)),
              points=[lambda a, b: [np.array([[0.0, -1.0, 2.0, 0.5], [3.0, 0.0, -0.5, 1.0], [1e-3, 2.5, -2.5, 3.0]]),
                                    np.array([0.0, -0.5, 1.5, 2.0])]])
# (stop_gradient: inside logsumexp; arrays of 2,048 elements and more, whose transcendental
# functions go to NumPy through numba.objmode: test_auto_runs_numpy_first_then_numba)


@pytest.mark.parametrize("case", [c.param() for c in NUMBA_PROGRAMS])
def test_numba_dialect_agrees_with_numpy_dialect(case):
    inputs = case.inputs()
    expr = case.build(*inputs)
    python = cc.compile(expr, inputs, backend="python")
    numba = cc.compile(expr, inputs, backend="numba")
    args = case.args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumbaPerformanceWarning: '@' on non-contiguous arrays
        for point in [args] + [p(*args) for p in case.points]:
            value, grads = python.value_and_grad(*point)
            numba_value, numba_grads = numba.value_and_grad(*point)
            assert math.isfinite(value) and numba_value == pytest.approx(value, rel=1e-12, abs=1e-13)
            for k, (g, ng) in enumerate(zip(grads, numba_grads)):
                assert np.shape(ng) == np.shape(g) == inputs[k].shape
                scale = max(1.0, float(np.max(np.abs(g))))
                close(ng, g, rtol=1e-12, atol=1e-13 * scale, what=f"{case.id}, input {k}")
        # nan, inf, -0.0 and out-of-domain inputs: the same nan/inf positions, the same numbers
        special = [np.resize(SPECIAL, shape) if shape else float(SPECIAL[0, 0]) for shape in case.shapes]
        value, grads = python.value_and_grad(*special)
        numba_value, numba_grads = numba.value_and_grad(*special)
        np.testing.assert_allclose(numba_value, value, rtol=1e-12)
        for g, ng in zip(grads, numba_grads):
            np.testing.assert_allclose(ng, g, rtol=1e-12, atol=1e-13)
    assert_gradients_match_fd(python, args, what=case.id)  # and the NumPy dialect's gradient is right


def test_numba_programs_use_every_op():
    seen = set()
    for case in NUMBA_PROGRAMS:
        inputs = case.inputs()
        expr = case.build(*inputs)
        seen |= _ops_in([expr] + cc.compile(expr, inputs, backend="python")._jac[0])
    every = set(ops.SCALAR_OPS) | {op.name for op in ops._TENSOR_OPS}
    every -= {"conj", "real", "imag", "angle"}  # complex values: tests/test_complex.py (numba too)
    assert every - seen == {"const", "var", "zetac"} - seen


# --- specific behaviours ---

def test_broadcast_gradient_shapes_follow_the_inputs():
    """The adjoint of a broadcast operand is summed back to exactly its own shape."""
    for sa, sb in [((3, 1), (1, 4)), ((4,), (3, 4)), ((), (3, 4)), ((3, 4), ()), ((1,), (2, 1, 3))]:
        a, b = T("a", *sa), T("b", *sb)
        fn = cc.compile(cc.sum(a * b), [a, b], backend="python")
        A, B = np.full(sa, 2.0) if sa else 2.0, np.full(sb, 3.0) if sb else 3.0
        _, (ga, gb) = fn.value_and_grad(A, B)
        out = np.broadcast_shapes(sa, sb)
        assert np.shape(ga) == sa and np.shape(gb) == sb
        close(ga, np.full(sa, 3.0 * math.prod(out) / max(1, math.prod(sa))))
        close(gb, np.full(sb, 2.0 * math.prod(out) / max(1, math.prod(sb))))


def test_reduction_shapes_match_numpy():
    x = np.arange(24.0).reshape(2, 3, 4)
    a = T("a", 2, 3, 4)
    for name, ref in [("sum", np.sum), ("mean", np.mean), ("max", np.max), ("min", np.min)]:
        for axis in AXES:
            for keep in (False, True):
                expr = getattr(cc, name)(a, axis=axis, keepdims=keep)
                want = ref(x, axis=axis, keepdims=keep)
                assert expr.shape == np.shape(want), (name, axis, keep)
                got = cc.compile(expr, [a], backend="python")(x)
                close(got, want, rtol=1e-15, what=f"{name} {axis} {keep}")


def test_repeated_index_scatter_adds():
    a = T("a", 4)
    _, (g,) = cc.compile(cc.sum(a[[0, 2, 2]]), [a], backend="python").value_and_grad(np.zeros(4))
    np.testing.assert_array_equal(g, [1.0, 0.0, 2.0, 0.0])
    b = T("b", 2, 3)
    _, (g,) = cc.compile(cc.sum(b[:, [2, 2, 2, 0]] * np.array([1.0, 2.0, 3.0, 4.0])), [b],
                         backend="python").value_and_grad(np.zeros((2, 3)))
    np.testing.assert_array_equal(g, [[4.0, 0.0, 6.0], [4.0, 0.0, 6.0]])
    _, (g,) = cc.compile(cc.sum(cc.take(a, np.array([[3, 3], [3, -1]]))), [a], backend="python").value_and_grad(np.zeros(4))
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.0, 4.0])


def test_max_min_ties_share_the_gradient():
    a = T("a", 3)
    fn = cc.compile(cc.max(a), [a], backend="python")
    _, (g,) = fn.value_and_grad(np.array([1.0, 3.0, 3.0]))
    np.testing.assert_array_equal(g, [0.0, 0.5, 0.5])
    _, (g,) = cc.compile(cc.min(a), [a], backend="python").value_and_grad(np.array([2.0, 2.0, 2.0]))
    close(g, [1 / 3, 1 / 3, 1 / 3], rtol=1e-15)
    b = T("b", 2, 3)
    x = np.array([[1.0, 3.0, 3.0], [5.0, 0.0, 5.0]])
    _, (g,) = cc.compile(cc.sum(cc.max(b, axis=-1, keepdims=True) * np.array([[1.0], [10.0]])), [b],
                         backend="python").value_and_grad(x)
    np.testing.assert_array_equal(g, [[0.0, 0.5, 0.5], [5.0, 0.0, 5.0]])
    _, (g,) = cc.compile(cc.sum(cc.min(b, axis=0)), [b], backend="python").value_and_grad(
        np.array([[1.0, 0.0, 2.0], [1.0, 4.0, 2.0]]))
    np.testing.assert_array_equal(g, [[0.5, 1.0, 0.5], [0.5, 0.0, 0.5]])
    _, (g,) = cc.compile(cc.max(b), [b], backend="python").value_and_grad(x)  # a tie across rows
    np.testing.assert_array_equal(g, [[0.0, 0.0, 0.0], [0.5, 0.0, 0.5]])
    # elementwise maximum/minimum split a tie too
    c = T("c", 3)
    _, (ga, gc) = cc.compile(cc.sum(cc.maximum(a, c) + 2.0 * cc.minimum(a, c)), [a, c], backend="python") \
        .value_and_grad(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 4.0]))
    np.testing.assert_array_equal(ga, [1.5, 1.0, 2.0])
    np.testing.assert_array_equal(gc, [1.5, 2.0, 1.0])


LARGE = np.array([[1000.0, 999.0, -1000.0, 998.5], [-1000.0, -999.5, -1001.0, -1000.0],
                  [1e3, 1e3, 1e3, -1e3]])


def _stable_reference(x, axis):
    m = x.max(axis=axis, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(axis=axis, keepdims=True)
    lse = m + np.log(s)
    return lse, e / s, x - lse


def _softmax_family(a):
    return [cc.sum(cc.logsumexp(a, axis=1) * np.array([1.0, 2.0, 3.0])),
            cc.sum(cc.softmax(a) * W(3, 4)),
            cc.sum(cc.log_softmax(a) * W(3, 4)),
            cc.sum(cc.logsumexp(a, axis=0, keepdims=True) * W(1, 4)) + cc.logsumexp(a),
            cc.sum(cc.softmax(a, axis=0) * W(3, 4))]


def _softmax_reference(x):
    lse1, sm1, lsm1 = _stable_reference(x, 1)
    lse0, sm0, _ = _stable_reference(x, 0)
    lse_all = _stable_reference(x.reshape(-1), 0)[0][0]
    weights = np.array([1.0, 2.0, 3.0])[:, None]
    values = [(lse1 * weights).sum(), (sm1 * W(3, 4)).sum(), (lsm1 * W(3, 4)).sum(),
              (lse0 * W(1, 4)).sum() + lse_all, (sm0 * W(3, 4)).sum()]
    # gradients: d logsumexp = softmax; d sum(softmax * w) = s * (w - sum(s * w)); d sum(log_softmax * w) = w - s * sum(w)
    w = W(3, 4)
    grads = [sm1 * weights,
             sm1 * (w - (sm1 * w).sum(axis=1, keepdims=True)),
             w - sm1 * w.sum(axis=1, keepdims=True),
             sm0 * W(1, 4) + np.exp(x - lse_all),
             sm0 * (w - (sm0 * w).sum(axis=0, keepdims=True))]
    return values, grads


def test_softmax_family_is_stable_at_large_inputs():
    # (the Numba dialect is compared with this one at the same inputs: "numba softmax family")
    a = T("a", 3, 4)
    fn = cc.compile(_softmax_family(a), [a], backend="python")
    for x in (LARGE, -LARGE, LARGE * 0.5 + 3.0):
        values, grads = fn.value_and_grad(x)
        want_values, want_grads = _softmax_reference(x)
        assert all(math.isfinite(v) for v in values)
        for k in range(len(values)):
            assert values[k] == pytest.approx(want_values[k], rel=1e-14, abs=1e-12), k
            assert np.isfinite(grads[k][0]).all()
            close(grads[k][0], want_grads[k], rtol=1e-13, atol=1e-13, what=f"output {k}")


def test_softmax_family_values_and_limits():
    a = T("a", 2, 3)
    x = np.array([[1000.0, 0.0, -np.inf], [-np.inf, -np.inf, -np.inf]])
    lse = cc.compile(cc.logsumexp(a, axis=1), [a], backend="python")(x)
    assert lse[0] == 1000.0 and lse[1] == -np.inf
    assert cc.compile(cc.logsumexp(a), [a], backend="python")(np.full((2, 3), -np.inf)) == -np.inf
    sm = cc.compile(cc.softmax(a), [a], backend="python")(x[:1].repeat(2, axis=0))
    np.testing.assert_array_equal(sm, [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    values = cc.compile(cc.softmax(a, axis=0), [a], backend="python")(np.array([[710.0, 0, 1], [709.0, 0, 1]]))
    close(values.sum(axis=0), np.ones(3), rtol=1e-15)
    assert cc.logsumexp(a, axis=1, keepdims=True).shape == (2, 1) and cc.logsumexp(a).shape == ()


def test_stop_gradient():
    a = T("a", 3)
    x = np.array([1.0, 2.0, 3.0])
    fn = cc.compile(cc.sum(cc.stop_gradient(a) * a), [a], backend="python")
    v, (g,) = fn.value_and_grad(x)
    assert v == 14.0
    np.testing.assert_array_equal(g, x)  # only the second factor is differentiated
    fn = cc.compile(cc.sum(cc.stop_gradient(a) ** 2), [a], backend="python")
    v, (g,) = fn.value_and_grad(x)
    assert v == 14.0 and g.shape == (3,)
    np.testing.assert_array_equal(g, np.zeros(3))
    np.testing.assert_array_equal(cc.compile(cc.stop_gradient(a), [a], backend="python")(x), x)
    # second order: stop_gradient(a) is a constant for the Hessian too
    H = cc.compile(cc.sum(cc.stop_gradient(a) * a * a), [a], wrt=a, backend="python").hessian(x)
    np.testing.assert_array_equal(H, np.diag(2.0 * x))
    s = cc.Symbol("s")
    assert cc.compile(cc.stop_gradient(s) * s, [s], backend="python").grad(3.0) == (3.0,)
    assert cc.compile(cc.stop_gradient(s * s), [s], backend="python").value_and_grad(3.0) == (9.0, (0.0,))


def test_unused_input_and_wrt_subset():
    a, b, data = T("a", 2, 3), T("b", 4), T("data", 2, 3)
    fn = cc.compile(cc.sum(a * data), [a, b, data], wrt=[a, b], backend="python")
    v, (ga, gb) = fn.value_and_grad(np.ones((2, 3)), np.ones(4), W(2, 3))
    assert v == pytest.approx(W(2, 3).sum())
    close(ga, W(2, 3), rtol=1e-15)
    np.testing.assert_array_equal(gb, np.zeros(4))
    gb[:] = 7.0  # results are the caller's own arrays
    np.testing.assert_array_equal(fn.value_and_grad(np.ones((2, 3)), np.ones(4), W(2, 3))[1][1], np.zeros(4))


def test_tensor_outputs_and_several_outputs():
    a, b = T("a", 2, 3), T("b", 3)
    x, y = rng_for("outputs").normal(size=(2, 3)), rng_for("outputs b").normal(size=3)
    fn = cc.compile([a * b, cc.sum(a, axis=0), cc.sum(a @ b)], [a, b], backend="python")
    p, s, m = fn(x, y)
    close(p, x * y, rtol=1e-15)
    close(s, x.sum(axis=0), rtol=1e-15)
    assert m == pytest.approx((x @ y).sum(), rel=1e-15)
    fn = cc.compile([cc.sum(a * a), cc.sum(a @ b)], [a, b], backend="python")
    values, rows = fn.value_and_grad(x, y)
    assert values[0] == pytest.approx((x * x).sum(), rel=1e-15)
    close(rows[0][0], 2 * x, rtol=1e-15)
    np.testing.assert_array_equal(rows[0][1], np.zeros(3))
    close(rows[1][0], np.broadcast_to(y, (2, 3)), rtol=1e-15)
    close(rows[1][1], x.sum(axis=0), rtol=1e-15)


def test_arguments_are_converted_and_never_modified():
    a = T("a", 2, 3)
    fn = cc.compile(cc.sum(a * a), [a], backend="python")
    x = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    before = x.copy()
    assert fn(x) == 55.0
    assert fn(np.arange(6).reshape(2, 3)) == 55.0  # integers become float64
    assert fn([[0, 1, 2], [3, 4, 5]]) == 55.0
    _, (g,) = fn.value_and_grad(x)
    np.testing.assert_array_equal(x, before)
    close(g, 2 * before, rtol=0)


def test_auto_runs_numpy_first_then_numba(monkeypatch):
    a = T("a", 64, 64)
    fn = cc.compile(cc.sum(cc.tanh(a @ a)), [a])
    monkeypatch.setattr(tiers, "COMPILE_AFTER_SECONDS", math.inf)
    x = rng_for("auto").uniform(-0.1, 0.1, (64, 64))
    first = fn.value_and_grad(x)
    assert not fn.ready
    fn.wait()
    assert fn.ready
    again = fn.value_and_grad(x)
    assert again[0] == pytest.approx(first[0], rel=1e-12)
    close(again[1][0], first[1][0], rtol=1e-11, atol=1e-14)
    # tanh of 4096 elements: glibc's vector math where there is one, else NumPy's SIMD loop
    assert "_vector_tanh(" in fn.source or "numba.objmode" in fn.source


def test_auto_batch_call_does_not_block_on_numba(monkeypatch):
    a = T("a", 3)
    fn = cc.compile(cc.sum(cc.sin(a) * a), [a])
    monkeypatch.setattr(tiers, "COMPILE_AFTER_SECONDS", math.inf)

    def no_compile(self, role, progress=None):
        raise AssertionError(f"Numba compile of {role!r} in the foreground")
    monkeypatch.setattr(Code, "kernel", no_compile)
    x = rng_for("auto batch").normal(size=(4, 3))
    v, (g,) = fn.value_and_grad(x)
    close(v, np.sum(np.sin(x) * x, axis=1))
    close(g, np.cos(x) * x + np.sin(x))
    assert not fn.ready
    # then, in the background (a child process fills the disk cache), the kernel and its loop
    monkeypatch.undo()
    monkeypatch.setattr(tiers, "COMPILE_AFTER_SECONDS", 0.0)
    fn.value_and_grad(x)
    fn._tiers.compiling["value_and_grad batch"].join()
    assert fn.ready and fn._vg.driver is not None
    v2, (g2,) = fn.value_and_grad(x)
    close(v2, v, rtol=1e-14)
    close(g2, g, rtol=1e-14)


# --- Hessians and Hessian-vector products ---

X_CONST = np.array([0.5, -1.0, 2.0])


def _hessian_function():
    Wt, b = T("W", 2, 3), T("b", 2)
    expr = (cc.sum(cc.tanh(Wt @ X_CONST + b) ** 2) + cc.sum(cc.softplus(Wt) * Wt) + cc.logsumexp(Wt)
            + cc.sum(b[[0, 0, 1]] ** 3) + cc.max(Wt * W(2, 3)))
    return cc.compile(expr, [Wt, b], backend="python")


def _flatten(*arrays):
    return np.concatenate([np.ravel(a) for a in arrays])


def test_hessian_blocks_match_finite_differences_and_are_symmetric():
    fn = _hessian_function()
    rng = rng_for("hessian")
    args = [rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, 2)]
    H = fn.hessian(*args)
    assert [[blk.shape for blk in row] for row in H] == [[(2, 3, 2, 3), (2, 3, 2)], [(2, 2, 3), (2, 2)]]
    full = np.block([[H[0][0].reshape(6, 6), H[0][1].reshape(6, 2)], [H[1][0].reshape(2, 6), H[1][1]]])
    close(full, full.T, rtol=0, atol=1e-14)

    def flat_grad(p):
        return _flatten(*fn.grad(p[:6].reshape(2, 3), p[6:]))
    p0 = _flatten(*args)
    numeric = np.array([(flat_grad(p0 + 1e-6 * e) - flat_grad(p0 - 1e-6 * e)) / 2e-6 for e in np.eye(8)])
    close(full, numeric, rtol=1e-6, atol=1e-7)


def test_hvp_equals_hessian_times_v():
    fn = _hessian_function()
    rng = rng_for("hvp")
    args = [rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, 2)]
    H = fn.hessian(*args)
    full = np.block([[H[0][0].reshape(6, 6), H[0][1].reshape(6, 2)], [H[1][0].reshape(2, 6), H[1][1]]])
    for _ in range(3):
        v = (rng.normal(size=(2, 3)), rng.normal(size=2))
        hv = fn.hvp(*args, v=v)
        assert hv[0].shape == (2, 3) and hv[1].shape == (2,)
        close(_flatten(*hv), full @ _flatten(*v), rtol=1e-12, atol=1e-13)
    # wrt given as one input: hessian is one array of shape S + S, hvp takes and gives a bare
    # array; given as a list of one, the same in the one-entry tuples of the general rule
    a = T("a", 2, 2)
    f = cc.sum(cc.exp(a) * a) + cc.sum(a @ a)
    single = cc.compile(f, [a], wrt=a, backend="python")
    listed = cc.compile(f, [a], backend="python")
    x = rng.uniform(-1, 1, (2, 2))
    Hs = single.hessian(x)
    assert Hs.shape == (2, 2, 2, 2)
    ((H11,),) = listed.hessian(x)
    close(H11, Hs, rtol=0, atol=0)
    v = rng.normal(size=(2, 2))
    close(single.hvp(x, v=v), np.tensordot(Hs, v, axes=2), rtol=1e-12, atol=1e-13)
    (hv,) = listed.hvp(x, v=(v,))
    close(hv, single.hvp(x, v=v), rtol=0, atol=0)
    with pytest.raises(TypeError, match="v must be a tuple with one entry per wrt input"):
        listed.hvp(x, v=v)
    g1 = single.grad(x)
    (g2,) = listed.grad(x)
    assert isinstance(g1, np.ndarray) and g1.shape == (2, 2)
    close(g1, g2, rtol=0, atol=0)
    close(Hs.reshape(4, 4), Hs.reshape(4, 4).T, rtol=0, atol=1e-14)


@pytest.mark.parametrize("case", [c.param() for c in CASES if c.exact is None])
def test_hessian_of_every_case_matches_differences_of_the_gradient(case):
    """Second derivatives through every op (reverse over reverse): symmetric, and equal to
    central differences of the gradient."""
    inputs = case.inputs()
    fn = cc.compile(case.build(*inputs), inputs, backend="python")
    args = case.args()
    sizes = [math.prod(s) for s in case.shapes]
    H = fn.hessian(*args)
    if not any(case.shapes):  # scalar inputs only: the scalar API's (n_wrt, n_wrt) matrix
        full = np.asarray(H)
        assert full.shape == (len(inputs), len(inputs))
    else:
        assert [[np.shape(b) for b in row] for row in H] == [[si + sj for sj in case.shapes] for si in case.shapes]
        full = np.block([[np.reshape(H[i][j], (sizes[i], sizes[j])) for j in range(len(inputs))]
                         for i in range(len(inputs))])
    close(full, full.T, rtol=0, atol=1e-12 * max(1.0, float(np.max(np.abs(full)))))

    def unflatten(p):
        out, at = [], 0
        for shape, size in zip(case.shapes, sizes):
            out.append(p[at:at + size].reshape(shape) if shape else float(p[at]))
            at += size
        return out

    def flat_grad(p):
        return _flatten(*fn.grad(*unflatten(p)))
    p0 = _flatten(*args)
    numeric = np.array([(flat_grad(p0 + 1e-5 * e) - flat_grad(p0 - 1e-5 * e)) / 2e-5 for e in np.eye(len(p0))])
    close(full, numeric, rtol=1e-5, atol=1e-6)


def test_hessian_and_hvp_errors():
    a, b = T("a", 2), T("b", 3)
    fn = cc.compile(cc.sum(a * a) * cc.sum(b), [a, b], backend="python")
    with pytest.raises(TypeError, match=r"one entry per wrt input \(a, b\), got 1"):
        fn.hvp(np.ones(2), np.ones(3), v=(np.ones(2),))
    with pytest.raises(ValueError, match=r"must have shape \(2,\).*got shape \(3,\)"):
        fn.hvp(np.ones(2), np.ones(3), v=(np.ones(3), np.ones(3)))
    with pytest.raises(ValueError):  # the Hessian of tensors is of one point
        fn.hessian(np.ones((4, 2)), np.ones(3))
    big = T("big", 50, 50)
    with pytest.raises(ValueError, match=r"2500 x 2500; use fn.hvp"):
        cc.compile(cc.sum(big * big), [big], backend="python").hessian(np.ones((50, 50)))
    many = cc.compile([cc.sum(a), cc.sum(b)], [a, b], backend="python")
    with pytest.raises(ValueError, match="one scalar output"):
        many.hessian(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="one scalar output"):
        many.hvp(np.ones(2), np.ones(3), v=(np.ones(2), np.ones(3)))
    # hvp at a batch of points (or of directions) is a batch of products
    hv = fn.hvp(np.ones((4, 2)), np.ones(3), v=(np.ones(2), np.zeros(3)))
    assert hv[0].shape == (4, 2) and hv[1].shape == (4, 3)
    close(hv[0], np.full((4, 2), 6.0), rtol=1e-15)


def test_hessian_with_scalar_and_tensor_wrt():
    a, s = T("a", 2, 3), cc.Symbol("s")
    fn = cc.compile(cc.sum(a * s * s * s) + cc.sum(a * a) * s, [a, s], backend="python")
    x = W(2, 3)
    (Haa, Has), (Hsa, Hss) = fn.hessian(x, 2.0)
    close(Haa.reshape(6, 6), 4.0 * np.eye(6), rtol=1e-15)
    close(Has, np.full((2, 3), 12.0) + 2 * x, rtol=1e-15)
    close(Hsa, Has, rtol=1e-15)
    assert float(Hss) == pytest.approx(6 * 2.0 * x.sum(), rel=1e-15)


@pytest.mark.parametrize("kind", ["tensor input, scalar wrt", "scalar inputs through stack"])
def test_hessian_of_a_tensor_graph_with_scalar_wrt(kind):
    s, t = cc.Symbol("s"), cc.Symbol("t")
    if kind == "tensor input, scalar wrt":
        a = T("a", 2, 3)
        fn = cc.compile(cc.sum(a * s * s * s), [a, s], wrt=[s], backend="python")
        H = fn.hessian(np.ones((2, 3)), 2.0)
        close(np.reshape(H, -1), [72.0], rtol=1e-15)  # d2/ds2 of 6 s^3 at s = 2
    else:
        fn = cc.compile(cc.sum(cc.stack([s, t, s * t]) ** 2), [s, t], backend="python")
        H = fn.hessian(1.0, 3.0)  # s^2 + t^2 + s^2 t^2
        close(H, [[2.0 + 2 * 9.0, 4 * 1.0 * 3.0], [4 * 1.0 * 3.0, 2.0 + 2 * 1.0]], rtol=1e-15)


# --- batches: a leading axis on the arguments ---

def _batch_function(backend="python"):
    Wt, x = T("W", 2, 3), T("x", 3)
    return cc.compile(cc.sum(cc.tanh(Wt @ x)) + cc.max(x) * cc.sum(Wt[:, [0, 0]]), [Wt, x], backend=backend)


def test_batch_matches_a_loop():
    fn = _batch_function()
    rng = rng_for("batch")
    Ws, xs = rng.normal(size=(5, 2, 3)), rng.normal(size=(5, 3))
    v, (gW, gx) = fn.value_and_grad(Ws, xs)
    assert v.shape == (5,) and gW.shape == (5, 2, 3) and gx.shape == (5, 3)
    values = fn(Ws, xs)
    for i in range(5):
        vi, (gWi, gxi) = fn.value_and_grad(Ws[i], xs[i])
        assert v[i] == pytest.approx(vi, rel=1e-14) and values[i] == pytest.approx(vi, rel=1e-14)
        close(gW[i], gWi, rtol=1e-14)
        close(gx[i], gxi, rtol=1e-14)


def test_batch_broadcasts_one_point_arguments():
    fn = _batch_function()
    rng = rng_for("batch broadcast")
    Ws, xs = rng.normal(size=(5, 2, 3)), rng.normal(size=(5, 3))
    v, (gW, gx) = fn.value_and_grad(Ws, xs[0])  # one x shared by the batch
    for i in range(5):
        vi, (gWi, gxi) = fn.value_and_grad(Ws[i], xs[0])
        assert v[i] == pytest.approx(vi, rel=1e-14)
        close(gx[i], gxi, rtol=1e-14)
    v2, _ = fn.value_and_grad(Ws[1], xs)  # the other way round
    assert v2.shape == (5,) and v2[3] == pytest.approx(fn(Ws[1], xs[3]), rel=1e-14)
    v3, _ = fn.value_and_grad(Ws[:1], xs)  # a batch of one broadcasts too
    assert v3.shape == (5,) and v3[2] == pytest.approx(fn(Ws[0], xs[2]), rel=1e-14)
    v4, (g4, _) = fn.value_and_grad(Ws[:0], xs[0])  # an empty batch
    assert v4.shape == (0,) and g4.shape == (0, 2, 3)


def test_batch_of_several_outputs_and_tensor_outputs():
    a, s = T("a", 3), cc.Symbol("s")
    fn = cc.compile([cc.sum(a) * s, cc.max(a * s)], [a, s], backend="python")
    A, S = rng_for("multi batch").normal(size=(4, 3)), np.array([1.0, -2.0, 0.5, 3.0])
    (v0, v1), rows = fn.value_and_grad(A, S)
    assert v0.shape == (4,) and rows[0][0].shape == (4, 3) and rows[1][1].shape == (4,)
    for i in range(4):
        (w0, w1), r = fn.value_and_grad(A[i], S[i])
        assert (v0[i], v1[i]) == (pytest.approx(w0, rel=1e-15), pytest.approx(w1, rel=1e-15))
        close(rows[1][0][i], r[1][0], rtol=1e-15)
    out = cc.compile(a * s, [a, s], backend="python")(A, S)
    close(out, A * S[:, None], rtol=1e-15)


def test_batch_sizes_that_differ_raise_naming_both_shapes():
    fn = _batch_function()
    with pytest.raises(ValueError, match=r"\(5, 2, 3\).*\(4, 3\)"):
        fn(np.zeros((5, 2, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"\(5, 2, 3\).*\(4, 3\)"):
        fn.value_and_grad(np.zeros((5, 2, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(7, 2, 2, 3\)"):  # two batch axes is not a batch
        fn(np.zeros((7, 2, 2, 3)), np.zeros(3))


def test_numba_batch_matches_python():
    """The parallel batch driver of the Numba dialect, on a scalar and a tensor input. The
    program is one of NUMBA_PROGRAMS: its kernel comes from the disk cache, only the driver
    is compiled (seconds, whatever the kernel)."""
    case = next(c for c in NUMBA_PROGRAMS if c.id == "numba where and comparisons")
    inputs = case.inputs()
    expr = case.build(*inputs)
    fn, ref = cc.compile(expr, inputs, backend="numba"), cc.compile(expr, inputs, backend="python")
    rng = rng_for("numba batch")
    S, B = rng.normal(size=6), rng.normal(size=(6, 3, 4))
    v, (gS, gB) = fn.value_and_grad(S, B)
    rv, (rS, rB) = ref.value_and_grad(S, B)
    assert v.shape == (6,) and gS.shape == (6,) and gB.shape == (6, 3, 4)
    for got, want in [(v, rv), (gS, rS), (gB, rB)]:
        close(got, want)
    v1, (gS1, gB1) = fn.value_and_grad(S, B[2])  # one point's tensor shared by the batch
    for i in (0, 5):
        wv, (wS, wB) = ref.value_and_grad(S[i], B[2])
        assert v1[i] == pytest.approx(wv, rel=1e-12)
        close(gB1[i], wB)
    close(fn(S[:1], B), ref(S[:1], B))
    close(fn(float(S[3]), B), ref(float(S[3]), B))  # a number shared by the batch


# --- errors at build time and at call time ---

def test_matmul_shape_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 5\)"):
        T("a", 2, 3) @ T("b", 4, 5)
    with pytest.raises(cc.ShapeError, match=r"\(3,\) and \(4,\)"):
        cc.matmul(T("a", 3), T("c", 4))
    with pytest.raises(ValueError, match=r"batch axes of shapes \(2, 3, 4\) and \(5, 4, 2\)"):
        T("a", 2, 3, 4) @ T("b", 5, 4, 2)
    with pytest.raises(ValueError, match="at least one dimension"):
        cc.matmul(cc.Symbol("s"), T("c", 3))


def test_elementwise_shape_errors():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\) do not broadcast"):
        T("a", 2, 3) + T("c", 4)
    with pytest.raises(cc.ShapeError, match=r"\(2, 3\).*\(3, 2\)"):
        T("a", 2, 3) * np.ones((3, 2))
    with pytest.raises(cc.ShapeError, match=r"\(3, 2\).*\(2, 3\)"):
        np.ones((3, 2)) - T("a", 2, 3)
    with pytest.raises(cc.ShapeError, match="broadcast"):
        cc.maximum(T("a", 2, 3), T("d", 2))
    with pytest.raises(cc.ShapeError, match="broadcast"):
        cc.where(T("a", 2, 3) > 0.0, T("d", 2), 1.0)
    with pytest.raises(cc.ShapeError, match="broadcast"):
        cc.broadcast_to(T("a", 2, 3), (3, 3))


@pytest.mark.parametrize("build, match", [
    (lambda a: cc.sum(a, axis=3), "axis 3 is out of range"),
    (lambda a: cc.mean(a, axis=-4), "axis -4 is out of range"),
    (lambda a: cc.max(a, axis=(0, 3)), "out of range"),
    (lambda a: cc.sum(a, axis=(1, -2)), "twice"),
    (lambda a: cc.min(a, axis=(0, 0)), "twice"),
    (lambda a: cc.logsumexp(a, axis=5), "out of range"),
    (lambda a: cc.softmax(a, axis=3), "out of range"),
    (lambda a: cc.log_softmax(a, axis=-4), "out of range"),
    (lambda a: cc.concatenate([a, a], axis=3), "out of range"),
    (lambda a: cc.stack([a, a], axis=4), "out of range"),
    (lambda a: cc.take(a, [0], axis=-4), "out of range"),
    (lambda a: cc.transpose(a, (0, 1, 1)), "permutation"),
    (lambda a: cc.transpose(a, (0, 1, 3)), "out of range"),
])
def test_bad_axes_raise(build, match):
    with pytest.raises(ValueError, match=match):
        build(T("a", 2, 3, 4))


def test_axis_of_the_wrong_type_raises_type_error():
    with pytest.raises(TypeError, match="axis"):
        cc.sum(T("a", 2, 3), axis=1.0)
    with pytest.raises(TypeError, match="axis"):
        cc.concatenate([T("a", 2, 3)] * 2, axis="0")


def test_reshape_and_join_errors():
    a = T("a", 2, 3)
    with pytest.raises(ValueError, match=r"cannot reshape .*\(2, 3\).*\(4, 2\)"):
        a.reshape(4, 2)
    with pytest.raises(ValueError, match="cannot reshape"):
        a.reshape(4, -1)
    with pytest.raises(ValueError, match="one -1"):
        a.reshape(-1, -1)
    with pytest.raises(ValueError, match=r"differ outside axis"):
        cc.concatenate([a, T("b", 3, 3)], axis=1)
    with pytest.raises(ValueError, match=r"one shape"):
        cc.stack([a, T("b", 3, 2)])
    with pytest.raises(ValueError, match="scalars cannot be concatenated"):
        cc.concatenate([cc.Symbol("s"), cc.Symbol("t")])


def test_indexing_errors():
    a = T("a", 2, 3)
    with pytest.raises(IndexError, match="out of bounds"):
        a[2]
    with pytest.raises(IndexError, match="index -3 is out of bounds for axis 0"):
        a[-3]
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 1"):
        a[:, 3]
    with pytest.raises(IndexError, match="index 5 is out of bounds"):
        a[[0, 5]]
    with pytest.raises(IndexError, match="out of bounds"):
        cc.take(a, np.array([0, -4]), axis=1)
    with pytest.raises(IndexError, match="too many indices"):
        a[0, 0, 0]
    with pytest.raises(IndexError, match=r"boolean index of shape \(3,\) does not match"):
        a[np.array([True, False, True])]
    with pytest.raises(IndexError, match="integers, got dtype bool"):
        cc.take(a, np.array([True, False]))
    with pytest.raises(IndexError, match="could not be broadcast together"):
        a[[0, 1], [0, 1, 2]]
    with pytest.raises(TypeError, match="an index must be a constant"):
        a[cc.Symbol("i")]
    with pytest.raises(IndexError, match="unsupported index"):
        a[0.5]
    with pytest.raises(IndexError, match="scalar"):
        cc.Symbol("s")[0]


def test_call_errors_name_the_input_and_both_shapes():
    a, b = T("a", 2, 3), T("b", 3)
    fn = cc.compile(cc.sum(a * b), [a, b], backend="python")
    with pytest.raises(ValueError, match=r"'b' \(position 2\) must have shape \(3,\).*got shape \(4,\)"):
        fn(np.ones((2, 3)), np.ones(4))
    with pytest.raises(ValueError, match=r"'a' \(position 1\) must have shape \(2, 3\).*got shape \(3, 2\)"):
        fn.value_and_grad(np.ones((3, 2)), np.ones(3))
    with pytest.raises(TypeError, match=r"expected 2 argument\(s\) \(a: \(2, 3\), b: \(3,\)\)"):
        fn(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"expected 2 argument"):
        fn.value_and_grad(np.ones((2, 3)), np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="'a' .*got str"):
        fn("x", np.ones(3))


def test_gradient_of_a_tensor_output_suggests_reducing():
    a = T("a", 3)
    listed = cc.compile(a * 2.0, [a], wrt=[a], backend="python")  # its Jacobian is fn.jacobian
    with pytest.raises(ValueError, match=r"cc\.sum or cc\.mean.*fn\.jacobian"):
        listed.grad(np.ones(3))
    fn = cc.compile(a * 2.0, [a], backend="python")
    with pytest.raises(ValueError, match=r"cc\.sum or cc\.mean"):
        fn.value_and_grad(np.ones(3))
    with pytest.raises(ValueError, match=r"cc\.sum or cc\.mean"):
        fn.grad(np.ones(3))
    assert fn(np.ones(3)).shape == (3,)


def test_scalar_only_backends_refuse_tensors():
    a = T("a", 3)
    with pytest.raises(cc.UnsupportedError, match="tensors"):
        cc.compile(cc.sum(a), [a], backend="vm")
    s = cc.Symbol("s")
    with pytest.raises(cc.UnsupportedError, match="tensors"):  # a tensor inside a scalar function
        cc.compile(cc.sum(cc.broadcast_to(s, (3,)) * W(3)), [s], backend="vm")


def test_llvm_compiles_the_tensor_ops_it_lowers_and_refuses_the_others():
    a, s = T("a", 3), cc.Symbol("s")
    x = np.array([1.0, -2.0, 0.5])
    assert cc.compile(cc.sum(a), [a], backend="llvm")(x) == pytest.approx(-0.5)
    w = W(3)  # a tensor inside a scalar function
    fn = cc.compile(cc.sum(cc.broadcast_to(s, (3,)) * w), [s], backend="llvm")
    assert fn(2.0) == pytest.approx(2.0 * float(np.sum(w)))
    with pytest.raises(cc.UnsupportedError, match="tensors: op 'take'"):
        cc.compile(cc.sum(cc.take(a, [2, 0])), [a], backend="llvm")


def test_extremum_of_an_empty_axis_raises():
    with pytest.raises(ValueError, match="size 0"):
        cc.max(T("e", 0, 3), axis=0)


# --- regressions: bugs this file found ---

def test_reversed_slice_with_a_constant_adjoint():
    a = T("a", 5)
    fn = cc.compile(cc.sum(a[::-1] * W(5)), [a], backend="python")
    _, (g,) = fn.value_and_grad(np.zeros(5))
    close(g, W(5)[::-1], rtol=0)


def test_int_then_none_index_gradient():
    a = T("a", 3, 4)  # (the Numba dialect prints the same wrong reshape)
    fn = cc.compile(cc.sum(a[0, None, :] ** 2) + cc.sum(a[1, ..., None] ** 3), [a], backend="python")
    x = W(3, 4)
    _, (g,) = fn.value_and_grad(x)
    want = np.zeros((3, 4))
    want[0] = 2 * x[0]
    want[1] = 3 * x[1] ** 2
    close(g, want, rtol=1e-15)


def test_constant_array_base_to_a_tensor_power():
    a = T("a", 4)
    fn = cc.compile(cc.sum(C4 ** a), [a], backend="python")
    assert_gradients_match_fd(fn, [W(4)], what="C4 ** a")


def test_where_with_a_constant_mask():
    a = T("a", 4)
    mask = np.array([True, False, True, False])
    fn = cc.compile(cc.sum(cc.where(mask, a * a, 3.0 * a)), [a], backend="python")
    v, (g,) = fn.value_and_grad(W(4))
    close(g, np.where(mask, 2 * W(4), 3.0), rtol=1e-15)


# --- the eager Value API on arrays ---

@pytest.fixture
def python_values(monkeypatch):
    monkeypatch.setattr(cc.Value, "backend", "python")


def test_value_issue_example(python_values):
    rng = rng_for("value issue")
    A, B = rng.normal(size=(2, 3)), rng.normal(size=(1, 3))
    a, b = cc.Value(A), cc.Value(B)
    loss = ((a + b).tanh() * (a + 2.0)).sum()
    assert loss.data == pytest.approx(float((np.tanh(A + B) * (A + 2.0)).sum()), rel=1e-15)
    loss.backward()
    assert a.grad.shape == (2, 3) and b.grad.shape == (1, 3)

    def f(A, B):
        return float((np.tanh(A + B) * (A + 2.0)).sum())
    ga, gb = fd_gradient(f, [A, B], 0), fd_gradient(f, [A, B], 1)
    close(a.grad, ga, rtol=1e-6, atol=1e-8)
    close(b.grad, gb, rtol=1e-6, atol=1e-8)
    loss.backward()  # gradients accumulate
    close(a.grad, 2 * ga, rtol=1e-6, atol=1e-8)
    close(b.grad, 2 * gb, rtol=1e-6, atol=1e-8)
    loss.zero_grad()
    assert a.grad.shape == (2, 3) and not a.grad.any() and not b.grad.any()
    loss.backward()
    close(a.grad, ga, rtol=1e-6, atol=1e-8)


def test_value_backward_of_an_array_raises(python_values):
    a = cc.Value(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"scalar Value.*\(2, 3\).*\.sum\(\) or \.mean\(\)"):
        (a * 2.0).backward()
    with pytest.raises(ValueError, match="scalar Value"):
        a.sum(axis=0).backward()


def test_value_agrees_with_the_compiled_function(python_values):
    """The same expressions eagerly on Values and compiled: same values and gradients."""
    rng = rng_for("value vs compiled")
    X, Wv, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=(2,))

    def build(X, Wt, b):
        logits = X @ Wt + b
        return (logits.log_softmax(axis=1)[[0, 1, 1, 3], :][:, 0].sum() + cc.softmax(logits, axis=0)[2:, 1].sum()
                + cc.max(logits, axis=-1, keepdims=True).mean() + cc.logsumexp(logits.T, axis=1).sum()
                + (cc.concatenate([X, X[:, :1]], axis=1) ** 2).mean() + cc.stack([b, b * b], axis=-1).reshape(-1)[1:].sum()
                + cc.take(X, [2, 2], axis=1).min() + X.T[1].sum()
                + cc.sum(cc.maximum(X, 0.1 * X) * cc.broadcast_to(b[:1], (4, 3))) + cc.transpose(Wt, (1, 0))[0, 1])
    vals = [cc.Value(X), cc.Value(Wv), cc.Value(b)]
    loss = build(*vals)
    loss.backward()
    ins = [T("X", 4, 3), T("Wt", 3, 2), T("b", 2)]
    fn = cc.compile(build(*ins), ins, backend="python")
    v, grads = fn.value_and_grad(X, Wv, b)
    assert loss.data == pytest.approx(v, rel=1e-13)
    for val, g in zip(vals, grads):
        assert val.grad.shape == g.shape
        close(val.grad, g, rtol=1e-12, atol=1e-14)
    assert_gradients_match_fd(fn, [X, Wv, b], what="value program")


def test_value_stop_gradient(python_values):
    x = np.array([1.0, -2.0, 3.0])
    a = cc.Value(x)
    loss = (cc.stop_gradient(a) * a).sum() + cc.stop_gradient(a * a).sum()
    assert cc.stop_gradient(a).data.tolist() == x.tolist()
    loss.backward()
    np.testing.assert_array_equal(a.grad, x)


def test_value_max_ties_and_repeated_indices(python_values):
    a = cc.Value(np.array([1.0, 3.0, 3.0]))
    a.max().backward()
    np.testing.assert_array_equal(a.grad, [0.0, 0.5, 0.5])
    b = cc.Value(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]))
    b.min(axis=-1, keepdims=True).sum().backward()
    np.testing.assert_array_equal(b.grad, [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    c = cc.Value(np.zeros(4))
    c[[0, 2, 2]].sum().backward()
    np.testing.assert_array_equal(c.grad, [1.0, 0.0, 2.0, 0.0])


def test_value_repeated_use_of_one_array(python_values):
    x = np.array([[1.0, 2.0], [3.0, -1.0]])
    a = cc.Value(x)
    ((a * a).sum() + (a @ a.T).sum() + (a[0] * a[1]).sum()).sum().backward()
    want = 2 * x + 2 * np.ones((2, 2)) @ x  # d sum(a * a) + d sum(a @ a.T)
    want[0] += x[1]
    want[1] += x[0]
    close(a.grad, want, rtol=1e-15)
    b = cc.Value(x)
    (b * b + b[0] * b[1]).sum().backward()  # the (2,) term is broadcast over both rows: counted twice
    close(b.grad, 2 * x + 2 * x[::-1], rtol=1e-15)


def test_value_intermediate_gradients(python_values):
    """Every recorded value gets its gradient, of its own shape, as in micrograd; one product
    computed twice gets two gradients (hash-consing merges them in the IR)."""
    A, B = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    a, b = cc.Value(A), cc.Value(B)
    c1, c2 = a * b, a * b
    (c1.sum() + (c2 * 2.0).sum()).backward()
    np.testing.assert_array_equal(c1.grad, np.ones(3))
    np.testing.assert_array_equal(c2.grad, np.full(3, 2.0))
    np.testing.assert_array_equal(a.grad, 3.0 * B)
    x, y = cc.Value(np.ones((2, 3))), cc.Value(np.ones(3))
    z = x + y
    (z * z).sum().backward()
    assert z.grad.shape == (2, 3) and y.grad.shape == (3,)
    np.testing.assert_array_equal(y.grad, np.full(3, 8.0))
    s, v = cc.Value(2.0), cc.Value(np.ones(3))
    (s * v * np.array([1.0, 2.0, 3.0])).sum().backward()
    assert s.grad == 6.0
    np.testing.assert_array_equal(v.grad, [2.0, 4.0, 6.0])


def test_value_cache_compiles_once_per_structure(python_values):
    value_module._programs.clear()
    rng = rng_for("value cache")
    w = cc.Value(rng.normal(size=(3, 2)))
    for step in range(6):  # a training loop: the same graph rebuilt with new numbers
        X = cc.Value(rng.normal(size=(4, 3)))
        loss = ((X @ w).tanh() - 0.5).mean() + (w * w).sum() * 0.01
        loss.backward()
        w.data = w.data - 0.1 * w.grad
        w.grad = np.zeros((3, 2))
    assert len(value_module._programs) == 1
    program, _ = next(iter(value_module._programs.values()))
    assert program.backend == "python"
    loss = ((cc.Value(np.ones((5, 3))) @ w).tanh() - 0.5).mean() + (w * w).sum() * 0.01  # another shape
    loss.backward()
    assert len(value_module._programs) == 2
    loss = ((cc.Value(np.zeros((5, 3))) @ w).tanh() - 0.5).mean() + (w * w).sum() * 0.01
    loss.backward()
    assert len(value_module._programs) == 2


def test_value_with_a_numpy_array_on_the_left(python_values):
    v = cc.Value(np.array([1.0, 2.0, 3.0]))
    out = np.array([1.0, 2.0, 3.0]) * v
    assert isinstance(out, cc.Value)
    out.sum().backward()
    np.testing.assert_array_equal(v.grad, [1.0, 2.0, 3.0])


def test_value_rmatmul_with_a_numpy_array(python_values):
    v = cc.Value(np.array([[1.0, 2.0], [3.0, 4.0]]))
    out = (np.array([1.0, -1.0]) @ v).sum()
    out.backward()
    np.testing.assert_array_equal(v.grad, [[1.0, 1.0], [-1.0, -1.0]])


@pytest.mark.parametrize("join", [cc.concatenate, cc.stack])
def test_value_join_with_a_numpy_array(python_values, join):
    v = cc.Value(np.array([[1.0, 2.0], [3.0, 4.0]]))
    out = join([v, np.ones((2, 2))], axis=0)
    assert isinstance(out, cc.Value)
    (out * out).sum().backward()
    np.testing.assert_array_equal(v.grad, 2 * v.data)


def test_value_reversed_slice(python_values):
    v = cc.Value(np.array([1.0, 2.0, 3.0]))
    r = v[::-1]
    np.testing.assert_array_equal(r.data, [3.0, 2.0, 1.0])


def test_value_where(python_values):
    X = cc.Value(np.array([1.0, -2.0, 3.0]))
    out = cc.where(X.data > 0.0, X * X, 0.1 * X).sum()
    out.backward()
    close(X.grad, [2.0, 0.1, 6.0], rtol=1e-15)


def test_value_where_mask_is_data_not_structure(python_values):
    """A mask that changes every step (a leaky ReLU written with where) compiles once."""
    value_module._programs.clear()
    rng = rng_for("value where loop")
    for _ in range(3):
        X = cc.Value(rng.normal(size=6))
        cc.where(X.data > 0.0, X * X, 0.1 * X).sum().backward()
        close(X.grad, np.where(X.data > 0, 2 * X.data, 0.1), rtol=1e-15)
    assert len(value_module._programs) == 1
    for x0, want in ((2.0, 4.0), (-1.0, 0.1)):  # a scalar Value: the condition is a Python bool
        x = cc.Value(x0)
        cc.where(x.data > 0, x * x, 0.1 * x).backward()
        assert x.grad == pytest.approx(want, rel=1e-15)


# --- generated source: readable, self-contained ---

def _source_function():
    a, b = T("a", 3, 4), T("b", 4)
    expr = (cc.sum(cc.erf(a) * b) + cc.max(a @ b) + cc.sum(a[:, [0, 0]]) + cc.sum(cc.softmax(a, axis=0) * W(3, 4))
            + cc.sum(cc.concatenate([a, b[None]], axis=0) ** 2) + cc.sum(a.T[1:, ::2]) + cc.mean(cc.sigmoid(a - b)))
    rng = rng_for("source")
    return expr, [a, b], (rng.normal(size=(3, 4)), rng.normal(size=4))


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_source_is_readable_and_self_contained(backend):
    """exec of ``fn.source`` alone gives the numbers of the compiled function. For "numba" the
    source is the Numba dialect, also valid plain Python: its functions are called un-jitted and
    compared with the python backend (the Numba-compiled dialect is compared with that above)."""
    expr, inputs, args = _source_function()
    fn = cc.compile(expr, inputs, backend=backend)
    source = fn.source
    assert "def value(a, b):" in source and "def value_and_grad(a, b):" in source
    assert "# forward sweep" in source and "# adjoint sweep" in source
    assert "numba.prange" in source  # the batch driver
    if backend == "python":  # NumPy's own reductions and scatter-add
        assert "np.max(" in source and "np.add.at(" in source
    else:  # explicit loops, which Numba compiles
        assert "np.max(" not in source and "np.add.at(" not in source and "for i0 in range(3):" in source
    namespace = exec_source(source)
    with np.errstate(all="ignore"):
        v, g = namespace["value_and_grad"](*args)   # the plain-Python functions, not jitted
        value = namespace["value"](*args)
    reference = fn if backend == "python" else cc.compile(expr, inputs, backend="python")
    want_v, want_g = reference.value_and_grad(*args)
    assert v == pytest.approx(want_v, rel=1e-13) and value == pytest.approx(want_v, rel=1e-13)
    for k in range(2):
        close(g[k], want_g[k], rtol=1e-12, atol=1e-14)
    # and the numbers are right: finite differences of the exec'd value function
    for k in range(2):
        close(g[k], fd_gradient(lambda *p: float(namespace["value"](*p)), list(args), k), rtol=1e-6, atol=1e-7)


def test_awkward_input_names():
    """Input names that are Python keywords, contain spaces, or equal names of the generated
    code (np, math, constants C0/I0, loop indices i0, helpers) are renamed in the source."""
    names = ["C0", "I0", "_erf", "np", "math", "numba", "i0", "dv0", "a0", "v0", "k0", "lambda", "a b", "s_x"]
    inputs = [T(n, 2, 3) for n in names]
    expr = sum(cc.sum(cc.erf(t) * W(2, 3) + cc.sum(t[[0, 1, 1]][:, ::2], axis=0)[0]) * (k + 1.0)
               for k, t in enumerate(inputs))
    rng = rng_for("names")
    args = [rng.normal(size=(2, 3)) for _ in names]
    fn = cc.compile(expr, inputs, backend="python")
    v, grads = fn.value_and_grad(*args)
    namespace = exec_source(fn.source)
    v2, g2 = namespace["value_and_grad"](*args)
    assert v2 == v
    for k in (0, 5, 11):
        close(grads[k], fd_gradient(fn, args, k), rtol=1e-6, atol=1e-7)
        close(g2[k], grads[k], rtol=0)
    values = fn(*[np.stack([a, 2 * a]) for a in args])  # the batch driver too
    assert values[0] == pytest.approx(v, rel=1e-15)


@pytest.mark.parametrize("name", ["out0", "grad0_0"])
def test_input_named_like_a_batch_driver_parameter(name):
    x = T(name, 3)
    fn = cc.compile(cc.sum(x * x), [x], backend="python")
    v, (g,) = fn.value_and_grad(np.ones((2, 3)))
    close(v, [3.0, 3.0])


def test_pickle_and_save_round_trip(tmp_path):
    import importlib.util
    import pickle
    expr, inputs, args = _source_function()
    fn = cc.compile(expr, inputs, backend="python")
    want_v, want_g = fn.value_and_grad(*args)
    again = pickle.loads(pickle.dumps(fn))
    v, g = again.value_and_grad(*args)
    assert v == want_v and again.backend == "python"
    close(g[0], want_g[0], rtol=0)
    path = fn.save(tmp_path / "tensor_module.py")
    spec = importlib.util.spec_from_file_location("tensor_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    v, g = module.value_and_grad(*args)
    assert v == want_v
    close(g[1], want_g[1], rtol=0)
    assert "a @ b" in fn.source or "@" in fn.source
    assert "matmul" in fn.ir and str(fn).startswith("<CompiledFunction of (a, b)")


# --- PyTorch as an independent oracle ---

def _t(torch, x, grad=True):
    return torch.tensor(x, dtype=torch.float64, requires_grad=grad)


def _check_against_torch(torch, expr_fn, torch_fn, shapes, label, rtol=1e-12):
    rng = rng_for(label)
    args = [rng.normal(size=s) for s in shapes]
    inputs = [T(f"x{k}", *s) for k, s in enumerate(shapes)]
    v, grads = cc.compile(expr_fn(*inputs), inputs, backend="python").value_and_grad(*args)
    targs = [_t(torch, x) for x in args]
    tv = torch_fn(*targs)
    tv.backward()
    assert v == pytest.approx(tv.item(), rel=rtol)
    for g, t in zip(grads, targs):
        scale = max(1.0, float(t.grad.abs().max()))
        close(g, t.grad.numpy(), rtol=rtol, atol=1e-14 * scale)


def test_torch_mlp_loss():
    torch = pytest.importorskip("torch")
    Y = rng_for("mlp targets").normal(size=(16, 2))

    def ours(X, W1, b1, W2, b2):
        return cc.mean((cc.tanh(X @ W1 + b1) @ W2 + b2 - Y) ** 2)

    def theirs(X, W1, b1, W2, b2):
        return ((torch.tanh(X @ W1 + b1) @ W2 + b2 - torch.tensor(Y)) ** 2).mean()
    _check_against_torch(torch, ours, theirs, [(16, 3), (3, 8), (8,), (8, 2), (2,)], "torch mlp")


def test_torch_softmax_cross_entropy():
    torch = pytest.importorskip("torch")
    n, c = 12, 5
    labels = rng_for("ce labels").integers(0, c, n)

    def ours(X, Wt, b):
        logp = cc.log_softmax(X @ Wt + b, axis=-1)
        return -cc.mean(logp.reshape(-1)[np.arange(n) * c + labels])  # integer-array indexing of the targets

    def theirs(X, Wt, b):
        return torch.nn.functional.cross_entropy(X @ Wt + b, torch.tensor(labels))
    _check_against_torch(torch, ours, theirs, [(n, 4), (4, c), (c,)], "torch ce")

    def ours_rows(X, Wt, b):  # the targets picked row by row (x[i][[label]]), stacked; x[:, idx] with a repeat
        logp = cc.log_softmax(X @ Wt + b)
        return -cc.sum(cc.stack([logp[i][[labels[i]]] for i in range(n)])) / n + cc.sum(cc.softmax(X @ Wt, axis=0)[:, [0, 0]])

    def theirs_rows(X, Wt, b):
        logp = torch.log_softmax(X @ Wt + b, dim=-1)
        return -logp[torch.arange(n), torch.tensor(labels)].mean() + torch.softmax(X @ Wt, dim=0)[:, [0, 0]].sum()
    _check_against_torch(torch, ours_rows, theirs_rows, [(n, 4), (4, c), (c,)], "torch ce rows")


def test_torch_batched_matmul_broadcast():
    torch = pytest.importorskip("torch")
    _check_against_torch(torch, lambda a, b, c: cc.sum(cc.tanh(a @ b)) + cc.sum(cc.sin(c @ b)) + cc.sum((a @ c[:, None]) ** 2),
                         lambda a, b, c: torch.tanh(a @ b).sum() + torch.sin(c @ b).sum() + ((a @ c[:, None]) ** 2).sum(),
                         [(2, 1, 3, 4), (5, 4, 2), (4,)], "torch bmm")
    _check_against_torch(torch, lambda a, b: cc.sin(a @ b) + cc.sum(cc.matmul(b, np.ones((2, 4, 3))) ** 2),
                         lambda a, b: torch.sin(a @ b) + (torch.matmul(b, torch.ones(2, 4, 3, dtype=torch.float64)) ** 2).sum(),
                         [(4,), (4,)], "torch 1-D matmul")


def test_torch_reductions_keepdims_negative_axes():
    torch = pytest.importorskip("torch")

    def ours(a):
        return (cc.sum(cc.sum(a, axis=-1, keepdims=True) * a) + cc.sum(cc.mean(a, axis=(0, -2)) ** 2)
                + cc.sum(cc.max(a, axis=-2) ** 2) + cc.sum(cc.min(a, axis=(-1, 0), keepdims=True) * a)
                + cc.sum(cc.logsumexp(a, axis=-1)) + cc.sum(cc.softmax(a, axis=-3) * a) + cc.sum(cc.log_softmax(a, axis=1) ** 2))

    def theirs(a):
        return ((a.sum(dim=-1, keepdim=True) * a).sum() + (a.mean(dim=(0, -2)) ** 2).sum()
                + (torch.amax(a, dim=-2) ** 2).sum() + (torch.amin(a, dim=(-1, 0), keepdim=True) * a).sum()
                + torch.logsumexp(a, dim=-1).sum() + (torch.softmax(a, dim=-3) * a).sum()
                + (torch.log_softmax(a, dim=1) ** 2).sum())
    _check_against_torch(torch, ours, theirs, [(2, 3, 4)], "torch reductions")


def test_torch_max_ties_and_indexing_with_repeats():
    torch = pytest.importorskip("torch")
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, -1.0], [0.5, 4.0, 4.0, 4.0]])
    a = T("a", 3, 4)
    expr = (cc.sum(cc.max(a, axis=1) * np.array([1.0, 2.0, 3.0])) + cc.max(a) + cc.sum(cc.min(a, axis=0, keepdims=True))
            + cc.sum(a[[0, 2, 2]] * W(3, 4)) + cc.sum(a[:, [3, 3, 1]] ** 2))
    v, (g,) = cc.compile(expr, [a], backend="python").value_and_grad(x)
    t = _t(torch, x)
    tv = ((torch.amax(t, dim=1) * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum() + torch.amax(t)
          + torch.amin(t, dim=0, keepdim=True).sum() + (t[[0, 2, 2]] * torch.tensor(W(3, 4))).sum() + (t[:, [3, 3, 1]] ** 2).sum())
    tv.backward()
    assert v == pytest.approx(tv.item(), rel=1e-14)
    close(g, t.grad.numpy(), rtol=1e-14, atol=1e-15)
    # torch.amax shares the gradient evenly between ties, as the library does
    t = _t(torch, np.array([1.0, 3.0, 3.0]))
    torch.amax(t).backward()
    np.testing.assert_array_equal(t.grad.numpy(), [0.0, 0.5, 0.5])


def test_torch_hessian():
    torch = pytest.importorskip("torch")
    a = T("a", 2, 3)
    x = rng_for("torch hessian").normal(size=(2, 3))
    H = cc.compile(cc.sum(cc.tanh(a @ X_CONST) ** 2) + cc.logsumexp(a * a) + cc.sum(cc.softmax(a) * W(2, 3)),
                   [a], wrt=a, backend="python").hessian(x)

    def f(t):
        return ((torch.tanh(t @ torch.tensor(X_CONST)) ** 2).sum() + torch.logsumexp((t * t).reshape(-1), 0)
                + (torch.softmax(t, -1) * torch.tensor(W(2, 3))).sum())
    want = torch.autograd.functional.hessian(f, torch.tensor(x)).numpy()
    close(H, want, rtol=1e-11, atol=1e-13)


# --- gradcheck and the Hessian at one point ---

def test_gradcheck_of_tensor_inputs():
    a, s = T("a", 2, 3), cc.Symbol("s")
    x = rng_for("gradcheck").normal(size=(2, 3))
    fn = cc.compile([cc.sum(cc.tanh(a) * s * s), cc.sum(a * a)], [a, s], backend="python")
    r = cc.gradcheck(fn, x, 1.5)
    assert r.ok and r.analytic.shape == (2, 7)
    close(r.analytic[1], np.concatenate([2 * x.ravel(), [0.0]]), rtol=1e-15)
    wrong = cc.compile(cc.sum(a * a), [a], backend="python")
    wrong._vg = lambda x: (0.0, (np.zeros((2, 3)),))  # a broken gradient is caught
    wrong._slow = lambda role, args: wrong._vg(*args)
    assert not cc.gradcheck(wrong, x).ok
    with pytest.raises(ValueError, match=r"one point: input 'a' needs shape \(2, 3\), got \(4, 2, 3\)"):
        cc.gradcheck(fn, np.ones((4, 2, 3)), 1.0)


def test_tensor_hessian_of_a_batch_names_the_input():
    a = T("a", 3)
    fn = cc.compile(cc.sum(a ** 3), [a], wrt=a, backend="python")
    close(fn.hessian(np.array([1.0, 2.0, 3.0])), np.diag([6.0, 12.0, 18.0]), rtol=1e-15)
    with pytest.raises(cc.ShapeError, match=r"input 'a' needs shape \(3,\), got \(5, 3\)"):
        fn.hessian(np.ones((5, 3)))


@pytest.mark.parametrize("shape", [(3,), (64, 64)], ids=["Numba loops", "NumPy objmode block"])
def test_compiled_tensor_calls_give_nan_without_warnings(shape):
    """Domain errors give nan/inf silently, as for scalars, in one call and in a batch (whose
    points run in Numba's worker threads): Numba's own loops never warn, and its NumPy
    (objmode) blocks run under np.errstate."""
    a = T("a", *shape)
    fn = cc.compile(cc.sum(cc.log(a) / (a - 1.0)), [a], backend="numba")
    x = np.full(shape, -1.0)
    x.flat[1] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v, (g,) = fn.value_and_grad(x)
        vs, (gs,) = fn.value_and_grad(np.stack([x, x]))
    assert np.isnan(v) and np.isnan(g.flat[0])
    assert np.isnan(vs).all() and np.isnan(gs[:, 0].flat[0])
    assert ("numba.objmode" in fn.source or "_vector_log(" in fn.source) == (len(shape) == 2)
