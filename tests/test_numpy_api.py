"""NumPy's API on symbolic expressions (issue 18), checked against NumPy, JAX and differences.

The systematic cases of autograd's ``tests/test_systematic.py`` and
``tests/test_numpy.py`` (HIPS/autograd), ported: each case is a function of a
NumPy-like module and its inputs, called with ``numpy`` on symbolic tensors
(so every call goes through NumPy's own protocols, ``__array_ufunc__`` and
``__array_function__``), with ``numpy`` on arrays, and with ``jax.numpy`` on
float64 arrays. A case holds all the argument combinations of an autograd
check, so one compile covers them.

In every run, each case's compiled ``backend="python"`` function must give
NumPy's values, a gradient of a random projection of the outputs (every
column of the Jacobian, as autograd's VJP check) that central differences
confirm element by element, and a Hessian-vector product that differences of
the gradient confirm (autograd checks second order too); a sample of the
cases is checked against JAX's values and gradients. The slow tests check
every case against JAX: values, gradients and Hessian-vector products
(compiling JAX's references is most of their time).

What autograd tests and this library does not support is on the documented
list (the README's table) and raises ``TypeError`` at the call
(``test_unsupported_raises_type_error_at_the_call``); a property test calls
every NumPy function and ufunc with expressions and finds no object array.
The compiled target (numba) runs a focused subset.
"""

from __future__ import annotations

import itertools
import math
import operator as op
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import compiler as cc
from compiler import ir

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_disable_most_optimizations", True)  # the references compile in a third of the time
jnp = jax.numpy

RTOL_VALUE, RTOL_GRAD, RTOL_HVP = 1e-12, 1e-10, 1e-9
PAGE = Path(__file__).resolve().parents[1] / "docs" / "guide" / "numpy-functions.md"  # (the README's section once)


# --- the case table ---

class Spec:
    """An input: its shape and where its values are drawn (uniform in ``lims``, or normal)."""

    def __init__(self, shape, lims=None):
        self.shape, self.lims = tuple(shape), lims

    def draw(self, rng):
        if self.lims is None:
            return rng.normal(size=self.shape) if self.shape else float(rng.normal())
        lo, hi = self.lims  # autograd's transform: lo + u * (hi - lo), so hi < lo is fine
        u = rng.uniform(size=self.shape) if self.shape else float(rng.uniform())
        return lo + u * (hi - lo)


def R(*shape):
    return Spec(shape)


def U(lims, *shape):
    return Spec(shape, lims)


class Case:
    def __init__(self, id, fn, specs, ref=None, hvp=True):
        self.id, self.fn, self.specs = id, fn, list(specs)
        self.ref = ref or fn  # the JAX side, where jax.numpy spells a function otherwise
        self.hvp = hvp

    def args(self):
        rng = np.random.default_rng(zlib.crc32(self.id.encode()))
        return [s.draw(rng) for s in self.specs]


CASES: list[Case] = []


def case(id, fn, specs, **kw):
    CASES.append(Case(id, fn, specs, **kw))


def combos(id, f, *arg_lists, ref=None, hvp=True, **kwarg_lists):
    """autograd's ``combo_check``: ``f`` on every combination of the arguments and keywords,
    as one case (each argument choice one input; the outputs joined)."""
    specs = [s for choices in arg_lists for s in choices]
    bounds = np.cumsum([0] + [len(c) for c in arg_lists])
    keywords = [dict(zip(kwarg_lists, values)) for values in itertools.product(*kwarg_lists.values())]

    def build(function):
        def call(xnp, *xs):
            groups = [xs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
            return [function(xnp, *args, **kw) for args in itertools.product(*groups) for kw in keywords]
        return call
    CASES.append(Case(id, build(f), specs, build(ref) if ref else None, hvp))


def L(xnp, items):
    """A list index as written for expressions; an array for JAX (which refuses lists under jit)."""
    return items if xnp is np else np.asarray(items)


def _np(name):
    return lambda xnp, *a, **k: getattr(xnp, name)(*a, **k)


# stat_check: reductions over every axis form, keepdims both ways
for _name in ("max", "mean", "min", "sum", "prod", "var", "std"):
    combos(f"stat {_name} scalar", _np(_name), [U((-2, 2)), R()])
    combos(f"stat {_name}", _np(_name), [R(3), R(2, 3), R(1, 3)], axis=[None, 0], keepdims=[True, False])
    combos(f"stat {_name} 2-D", _np(_name), [R(2, 3), R(1, 3)], axis=[None, 0, 1], keepdims=[True, False])


# unary_ufunc_check: a scalar, (2,), (3, 2) and (1, 2), in the function's domain
def _unary(name, lims=(-2.0, 2.0), f=None, ref=None):
    shapes = [(), (2,), (3, 2), (1, 2)]
    combos(f"ufunc {name}", f or _np(name), [U(lims, *s) for s in shapes], ref=ref)


for _name, _lims in [("sin", None), ("abs", (0.1, 4.0)), ("absolute", (0.1, 4.0)), ("arccosh", (1.1, 4.0)),
                     ("arcsinh", (-0.9, 0.9)), ("arctanh", (-0.9, 0.9)), ("ceil", (-1.5, 1.5)), ("cos", None),
                     ("cosh", None), ("deg2rad", None), ("exp", None), ("exp2", None), ("expm1", None),
                     ("fabs", None), ("floor", (-1.5, 1.5)), ("log", (0.2, 2.0)), ("log10", (0.2, 2.0)),
                     ("log1p", (0.2, 2.0)), ("log2", (0.2, 2.0)), ("radians", None), ("sign", None),
                     ("sinh", None), ("sqrt", (1.0, 3.0)), ("square", None), ("tan", (-1.1, 1.1)), ("tanh", None),
                     ("real", None), ("imag", None), ("conj", None), ("conjugate", None), ("angle", None),
                     # beyond autograd's list: the other new ufuncs
                     ("cbrt", (0.1, 3.0)), ("rint", (-1.4, 1.4)), ("trunc", (-1.5, 1.5)),
                     ("reciprocal", (0.5, 2.0)), ("negative", None), ("positive", None), ("arcsin", (-0.9, 0.9)),
                     ("arccos", (-0.9, 0.9)), ("arctan", None)]:
    _unary(_name, _lims or (-2.0, 2.0))
_unary("degrees", f=lambda xnp, x: xnp.degrees(x) / 50.0)
_unary("rad2deg", f=lambda xnp, x: xnp.rad2deg(x) / 50.0)
_unary("fix", (-1.5, 1.5), f=_np("fix"), ref=lambda xnp, x: xnp.trunc(x))  # jax.numpy has no fix
_unary("real_if_close", f=lambda xnp, x: np.real_if_close(x), ref=lambda xnp, x: xnp.real(x))
_unary("round", f=lambda xnp, x: xnp.round(x * 10.0, 1) + xnp.round(x))
_unary("nan_to_num", f=lambda xnp, x: xnp.nan_to_num(x) * 2.0)


# binary_ufunc_check: every pair of a scalar, (2,), (3, 2) and (1, 2); and autograd's lims
def _binary(name, f=None, lims_a=(-2.0, 2.0), lims_b=(-2.0, 2.0), ref=None):
    shapes = [(), (2,), (3, 2), (1, 2)]
    combos(f"binary {name}", f or _np(name), [U(lims_a, *s) for s in shapes], [U(lims_b, *s) for s in shapes],
           ref=ref)


_binary("add")
_binary("logaddexp")
_binary("logaddexp2")
_binary("remainder", lims_a=(-0.9, 0.9), lims_b=(0.7, 1.9))
_binary("true_divide", lims_b=(0.8, 1.2))
_binary("mod", lims_b=(0.8, 2.1))
_binary("true_divide neg", _np("true_divide"), lims_b=(-0.3, -2.0))
_binary("mod neg", _np("mod"), lims_b=(-0.3, -2.0))
_binary("op.mul", lambda xnp, a, b: op.mul(a, b))
_binary("op.add", lambda xnp, a, b: op.add(a, b))
_binary("op.sub", lambda xnp, a, b: op.sub(a, b))
_binary("op.mod", lambda xnp, a, b: op.mod(a, b), lims_b=(0.3, 2.0))
_binary("op.mod neg", lambda xnp, a, b: op.mod(a, b), lims_b=(-0.3, -2.0))
# beyond autograd's list
_binary("hypot")
_binary("arctan2", lims_b=(0.3, 2.0))
_binary("power", lims_a=(0.3, 2.0))
_binary("op.floordiv", lambda xnp, a, b: op.floordiv(a, b) * a, lims_b=(0.3, 2.0))
_binary("floor_divide", lambda xnp, a, b: xnp.floor_divide(a, b) * b, lims_b=(-2.0, -0.3))
_binary("subtract")
_binary("multiply")
_binary("divide", lims_b=(0.5, 2.0))

# maximum/minimum/fmax/fmin: random operands (no ties)
for _name in ("maximum", "fmax", "minimum", "fmin"):
    combos(_name, _np(_name), [R(1), R(1, 4), R(3, 4)], [R(1), R(1, 4), R(3, 4)])


# --- test_systematic's misc tests ---

combos("transpose", _np("transpose"), [R(2, 3, 4)],
       axes=[None, [0, 1, 2], [0, 2, 1], [2, 0, 1], [2, 1, 0], [1, 0, 2], [1, 2, 0]])
combos("moveaxis", _np("moveaxis"), [R(2, 3, 4)], source=[0, 1, 2], destination=[0, 1, 2])
combos("repeat", _np("repeat"), [R(2, 3, 4), R(3, 1)], repeats=[0, 1, 2], axis=[None, 0, 1])
combos("diff", _np("diff"), [R(5, 5), R(5, 5, 5)], n=[1, 2], axis=[0, 1])
combos("diff 1", _np("diff"), [R(1), R(1, 1)], axis=[0])
combos("diff 2", _np("diff"), [R(1, 1), R(3, 1)], axis=[1])
combos("gradient", _np("gradient"), [R(5, 5), R(5, 5, 5)], axis=[None, 0, 1, -1])
combos("gradient 2", _np("gradient"), [R(5, 5, 5)], axis=[(0, 1), (0, -1)])
combos("tile 1", _np("tile"), [R(2, 1, 3, 1)], reps=[(1, 4, 1, 2)])
combos("tile 2", _np("tile"), [R(1, 2)], reps=[(1, 2), (2, 3), (3, 2, 1)])
combos("tile 3", _np("tile"), [R(1)], reps=[(2,), 2])
combos("kron", _np("kron"), [R(5, 5), R(4, 4), R(5), R(5, 1), R(1, 5), R()],
       [R(3, 3), R(2, 2), R(3), R(1, 3), R(3, 1), R()], hvp=False)
combos("inner", _np("inner"), [U((1.5, 1.5)), R(3), R(2, 3)], [U((0.3, 0.3)), R(3), R(4, 3)])
combos("dot", _np("dot"), [U((1.5, 1.5)), R(3), R(2, 3), R(2, 2, 3)], [U((0.3, 0.3)), R(3), R(3, 4), R(2, 3, 4)])
combos("outer", _np("outer"), [R(3)], [R(3)])
combos("matmul", _np("matmul"), [R(3), R(2, 3), R(2, 2, 3)], [R(3), R(3, 4), R(2, 3, 4)])
combos("matmul broadcast", _np("matmul"), [R(1, 2, 2)], [R(3, 2, 1)])
combos("tensordot 1", _np("tensordot"), [R(1, 3), R(2, 3, 2)], [R(3), R(3, 1), R(3, 4, 2)], axes=[[(1,), (0,)]])
combos("tensordot 2", _np("tensordot"), [R(3), R(3, 1), R(3, 4, 2)], [R(1, 3), R(2, 3, 2)], axes=[[(0,), (1,)]])
combos("tensordot 3", _np("tensordot"), [R(2, 3), R(2, 3, 4)], [R(1, 2, 3), R(2, 2, 3, 4)],
       axes=[[(0, 1), (1, 2)], [(1, 0), (2, 1)]])
combos("tensordot 4", _np("tensordot"), [R(2, 2), R(4, 2, 2)], [R(2, 2), R(2, 2, 4)], axes=[1, 2])
combos("tensordot 5", _np("tensordot"), [R(4)], [R()], axes=[0])
combos("tensordot 6", _np("tensordot"), [R(2, 6)], [R(6, 3)], axes=[[[-1], [0]]])
combos("tensordot 7", _np("tensordot"), [R(2, 6)], [R(6, 3)], axes=[[-1, 0]])
combos("tensordot 8", _np("tensordot"), [R(2)], [R(2, 2)], axes=[[0, 1]])
combos("atleast_1d", _np("atleast_1d"), [U((1.2, 1.2)), R(1), R(7), R(1, 4), R(2, 4), R(2, 4, 5)])
combos("atleast_2d", _np("atleast_2d"), [U((1.2, 1.2)), R(1), R(7), R(1, 4), R(2, 4), R(2, 4, 5)])
combos("atleast_3d", _np("atleast_3d"), [U((1.2, 1.2)), R(1), R(7), R(1, 4), R(2, 4), R(2, 4, 5), R(2, 4, 3, 5)])
for _id, _spec, _shapes in [
        ("transpose", "ij->ji", [[R(1, 1), R(4, 4), R(3, 4)]]),
        ("matmult", "ij,jk->ik", [[R(2, 3)], [R(3, 4)]]),
        ("matmult broadcast", "...ij,...jk->...ik", [[R(2, 3), R(2, 2, 3)], [R(3, 4), R(2, 3, 4)]]),
        ("matmult broadcast leadzero", "...ij,...jk->...ik", [[R(0, 2, 3)], [R(0, 3, 4)]]),
        ("covsum", "ijk,lji->lki", [[R(3, 4, 4)], [R(4, 4, 3)]]),
        ("ellipses", "...jk,...lj->...lk", [[R(4, 4), R(3, 4, 4)], [R(4, 4), R(3, 4, 4)]]),
        ("ellipses elementwise", "...,...->...", [[R(4, 4), R(3, 4, 4)], [R(4, 4), R(3, 4, 4)]]),
        ("ellipses tail", "jk...,lj...->lk...", [[R(3, 2), R(3, 2, 4)], [R(2, 3), R(2, 3, 4)]]),
        ("ellipses center", "j...k,lj...->lk...", [[R(2, 2), R(2, 2, 2)], [R(2, 2), R(2, 2, 2)]]),
        ("three args", "ijk,lji,lli->lki", [[R(3, 4, 4)], [R(4, 4, 3)], [R(4, 4, 3)]]),
        ("naked sum", "k,nk->", [[R(5)], [R(10, 5)]]),
        ("naked sum2", "abcd->bd", [[R(3, 2, 3, 2)]]),
        ("naked sum ellipsis", "...k,...nk->...", [[R(3, 5)], [R(3, 10, 5)]]),
        ("no output indices", "ij,k", [[R(3, 4)], [R(3)]]),
        ("batched", "bij,bjk->bik", [[R(5, 2, 3)], [R(5, 3, 4)]]),
        ("diagonal trace", "ii->i", [[R(4, 4)]]),
        ("trace", "ii", [[R(4, 4)]]),
        ("bilinear", "i,ij,j->", [[R(3)], [R(3, 4)], [R(4)]])]:
    combos(f"einsum {_id}", (lambda s: lambda xnp, *xs: xnp.einsum(s, *xs))(_spec), *_shapes)
combos("einsum2 transpose", lambda xnp, a: xnp.einsum(a, (0, 1), (1, 0)), [R(1, 1), R(4, 4), R(3, 4)])
combos("einsum2 matmult", lambda xnp, a, b: xnp.einsum(a, (0, 1), b, (1, 2), (0, 2)), [R(2, 3)], [R(3, 4)])
combos("einsum2 matmult broadcast",
       lambda xnp, a, b: xnp.einsum(a, (Ellipsis, 0, 1), b, (Ellipsis, 1, 2), (Ellipsis, 0, 2)),
       [R(2, 3), R(2, 2, 3)], [R(3, 4), R(2, 3, 4)])
combos("einsum2 covsum", lambda xnp, a, b: xnp.einsum(a, (0, 1, 2), b, (3, 1, 0), (3, 2, 0)), [R(3, 4, 4)],
       [R(4, 4, 3)])
combos("einsum2 three args", lambda xnp, a, b, c: xnp.einsum(a, (0, 1, 2), b, (3, 1, 0), c, (3, 3, 0), (3, 2, 0)),
       [R(3, 4, 4)], [R(4, 4, 3)], [R(4, 4, 3)])
combos("trace", _np("trace"), [R(5, 5), R(4, 5), R(5, 4), R(3, 4, 5)], offset=[-1, 0, 1])
combos("diag", _np("diag"), [R(5, 5)], k=[-1, 0, 1])
combos("diag flat", _np("diag"), [R(5)], k=[-1, 0, 1])
for _name in ("tril", "triu"):
    combos(_name, _np(_name), [R(5, 5)], k=[-1, 0, 1])
    combos(f"{_name} 3-D", _np(_name), [R(5, 5, 4)], k=[-1, 0, 1])
combos("swapaxes", _np("swapaxes"), [R(3, 4, 5)], axis1=[0, 1, 2], axis2=[0, 1, 2])
combos("rollaxis", _np("rollaxis"), [R(2, 3, 4)], axis=[0, 1, 2], start=[0, 1, 2])
combos("cross", _np("cross"), [R(3, 3)], [R(3, 3)], axisa=[-1, 0, 1], axisb=[-1, 0, 1], axisc=[-1, 0, 1])
combos("cross axis", _np("cross"), [R(3, 3)], [R(3, 3)], axis=[-1, 0, 1])
combos("vsplit 2-D", _np("vsplit"), [R(4, 8)], indices_or_sections=[4, [1, 2]])
combos("vsplit 3-D", _np("vsplit"), [R(4, 4, 4)], indices_or_sections=[2, [1, 2]])
combos("hsplit 2-D", _np("hsplit"), [R(4, 8)], indices_or_sections=[4, [1, 2]])
combos("hsplit 3-D", _np("hsplit"), [R(4, 4, 4)], indices_or_sections=[2, [1, 2]])
combos("dsplit 3-D", _np("dsplit"), [R(4, 4, 4)], indices_or_sections=[2, [1, 2]])
combos("split 1-D", _np("split"), [R(1), R(7)], indices_or_sections=[1], axis=[0])
combos("split 2-D", _np("split"), [R(4, 8)], indices_or_sections=[4, [1, 2]], axis=[0, 1])
combos("split 3-D", _np("split"), [R(4, 4, 4)], indices_or_sections=[2, [1, 2]], axis=[0, 1, 2])
combos("array_split 1-D", _np("array_split"), [R(1), R(7)], indices_or_sections=[1, 3], axis=[0])
combos("array_split 2-D", _np("array_split"), [R(7, 7)], indices_or_sections=[4, [3, 5]], axis=[0, 1])
combos("array_split 3-D", _np("array_split"), [R(7, 7, 7)], indices_or_sections=[4, [3, 5]], axis=[0, 1, 2])
case("concatenate list", lambda xnp, a, b: xnp.concatenate((a, b), axis=0), [R(1), R(3)])
case("concatenate tuple", lambda xnp, a, b: xnp.concatenate([a, b], axis=0), [R(1), R(3)])
combos("concatenate 2-D", lambda xnp, a, b, axis: xnp.concatenate((a, b), axis=axis), [R(2, 2)], [R(2, 2)],
       axis=[0, 1])
combos("concatenate 3-D", lambda xnp, a, b, axis: xnp.concatenate((a, b), axis=axis), [R(2, 2, 2)], [R(2, 2, 2)],
       axis=[0, 1, 2])
for _name, _one, _pair in [("vstack", R(2), (R(2), R(2))), ("hstack", R(2), (R(2), R(2))),
                           ("column_stack", R(2), (R(2), R(2)))]:
    case(f"{_name} 1-D", (lambda n: lambda xnp, a, b, c: [getattr(xnp, n)(a), getattr(xnp, n)((b, c))])(_name),
         [_one, *_pair])
case("vstack 2-D", lambda xnp, a, b, c: [xnp.vstack(a), xnp.vstack((b, c))], [R(2, 3), R(2, 4), R(1, 4)])
case("vstack 3-D", lambda xnp, a, b, c: [xnp.vstack(a), xnp.vstack((b, c))], [R(2, 3, 4), R(2, 3, 4), R(5, 3, 4)])
case("hstack 2-D", lambda xnp, a, b, c: [xnp.hstack(a), xnp.hstack((b, c))], [R(3, 2), R(3, 4), R(3, 5)])
case("hstack 3-D", lambda xnp, a, b, c: [xnp.hstack(a), xnp.hstack((b, c))], [R(2, 3, 4), R(2, 1, 4), R(2, 5, 4)])
case("column_stack 2-D", lambda xnp, a, b, c: [xnp.column_stack(a), xnp.column_stack((b, c))],
     [R(2, 2), R(2, 2), R(2, 2)])
combos("stack 1-D", lambda xnp, a, b, c, axis: [xnp.stack((a,), axis), xnp.stack((b, c), axis)],
       [R(2)], [R(2)], [R(2)], axis=[0, 1])
_MASKS = [np.random.default_rng(k).normal(size=(3, 4, 5)) > 0 for k in range(3)]
combos("select", lambda xnp, a, b, c, default: xnp.select(_MASKS, [a, b, c], default),
       [R(3, 4, 5)], [R(3, 4, 5)], [R(3, 4, 5)], default=[0.0, 1.1])
combos("pad", lambda xnp, a, width: xnp.pad(a, width, "constant"), [R(2, 2)],
       width=[0, 3, (3,), (3, 2), ((3, 2),), ((1, 2), (3, 4)), ((0, 0), (0, 0))])
combos("pad modes", lambda xnp, a, width, mode: xnp.pad(a, width, mode), [R(3, 4)],
       width=[((2, 3), (1, 0)), 5], mode=["edge", "wrap", "reflect", "symmetric"])
case("pad constant values", lambda xnp, a: xnp.pad(a, ((1, 2), (2, 1)), constant_values=((1.5, -2.0), (0.5, 3.0))),
     [R(2, 3)])

# --- test_numpy's tests ---

case("dot mat vec", lambda xnp, m, v: xnp.dot(m, v), [R(10, 11), R(11)])
case("dot mat mat.T", lambda xnp, a, b: xnp.dot(a, b.T), [R(10, 11), R(10, 11)])
case("dot vec mat", lambda xnp, v, m: xnp.dot(v, m), [R(10), R(10, 11)])
case("dot vec vec", lambda xnp, a, b: xnp.dot(a, b), [R(11), R(11)])
combos("dot with floats", _np("dot"), [R(10, 11), R(10), R()], [R()])
combos("dot floats with", _np("dot"), [R()], [R(10, 11), R(10)])
case("outer of transposes", lambda xnp, a, b: xnp.outer(a.T, b.T), [R(11), R(11)])
for _name in ("max", "min", "sum", "mean"):
    case(f"{_name} axis 1", (lambda n: lambda xnp, x: getattr(xnp, n)(x, axis=1))(_name), [R(3, 4, 5)])
    case(f"{_name} axis keepdims", (lambda n: lambda xnp, x: getattr(xnp, n)(x, axis=1, keepdims=True))(_name),
         [R(3, 4, 5)])
case("sum axis tuple", lambda xnp, x: xnp.sum(x, axis=(1, 2)), [R(10, 11, 7)])
_BASE = np.abs(np.random.default_rng(5).normal(size=5)) + 0.5
for _name in ("sum", "prod", "max", "min"):  # NumPy's reductions hand out=None on: plain numpy on a box
    case(f"plain numpy {_name} on an expression",
         (lambda n: lambda xnp, a: getattr(xnp, n)(xnp.exp(a) * _BASE))(_name), [U((0.7, 0.7))])
case("flipud", lambda xnp, x: xnp.flipud(x), [R(10, 11)])
case("fliplr", lambda xnp, x: xnp.fliplr(x), [R(10, 11)])
case("rot90", lambda xnp, x: [xnp.rot90(x), xnp.rot90(x, 2), xnp.rot90(x, -1)], [R(10, 11)])
case("rot90 axes", lambda xnp, x: [xnp.rot90(x, 1, (1, 2)), xnp.rot90(x, 3, (2, 0))], [R(2, 3, 4)])
combos("cumsum", lambda xnp, x, axis: xnp.cumsum(x, axis=axis), [R(10, 11)], axis=[0, 1, None])
case("cumsum 1-D", lambda xnp, x: xnp.cumsum(x), [R(10)])
combos("cumprod", lambda xnp, x, axis: xnp.cumprod(x, axis=axis), [U((0.5, 1.5), 6, 5)], axis=[0, 1, None])
case("non-numpy sum", lambda xnp, x, y: sum([x, y]), [R(10, 11), R(10, 11)])
case("mean of a stack", lambda xnp, x: xnp.mean(xnp.stack([x, x + 2])), [R()])
case("std of a stack", lambda xnp, x: xnp.std(xnp.stack([x, x + 2])), [R()])
case("index ints", lambda xnp, x: x[3, 0, 1], [R(5, 6, 4)])
case("index slice", lambda xnp, x: x[::-1, 2:4, :], [R(5, 6, 4)])
case("index lists", lambda xnp, x: x[L(xnp, [0, 1, 2]), :, :], [R(5, 6, 4)])
case("index mixed", lambda xnp, x: x[3, 2:, L(xnp, [1, 3])], [R(5, 6, 4)])
case("vector slice", lambda xnp, x: x[2:4], [R(5)])
case("index slice fanout", lambda xnp, x: x[::-1, 2:4, :] + x[::-1, 3:5, :], [R(5, 6, 4)])
case("index multiple slices", lambda xnp, x: x[2:6][1:3], [R(7)])
case("reshape method", lambda xnp, x: [x.reshape((5 * 4, 6)), x.reshape(5 * 4, 6)], [R(5, 6, 4)])
case("reshape call", lambda xnp, x: xnp.reshape(x, (5 * 4, 6)), [R(5, 6, 4)])
case("ravel", lambda xnp, x: [x.ravel(), xnp.ravel(x), x.flatten()], [R(5, 6, 4)])
case("append list", lambda xnp, b: xnp.append(L(xnp, [1.0, 2.0, 3.0]), b), [R()])
case("append arrays", lambda xnp, a, b: xnp.append(a, b), [R(3), R()])
case("append 2-D", lambda xnp, a, b: xnp.append(a, b, axis=0), [R(2, 3), R(1, 3)])
_C564 = np.random.default_rng(7).normal(size=(5, 6, 4))
case("concatenate with constants", lambda xnp, x: [xnp.concatenate((_C564, x)), xnp.concatenate((_C564, x, _C564)),
                                                    xnp.concatenate((_C564[:4, :, :2], x[:, :, :2]), 1)], [R(4, 6, 4)])
for _shape, _offset in [((10, 11), 3), ((11, 10), -4), ((5, 6, 4, 3), 2)]:
    case(f"trace {_shape} offset {_offset}", (lambda o: lambda xnp, x: xnp.trace(x, offset=o))(_offset), [R(*_shape)])
case("diag of a matrix", lambda xnp, x: xnp.diag(x), [R(10, 10)])
case("transpose .T", lambda xnp, x: x.T, [R(8, 8)])
case("roll", lambda xnp, x: [xnp.roll(x, 2, axis=1), xnp.roll(x, -7), xnp.roll(x, (1, 2), axis=(0, 1))], [R(4, 5)])
case("triu tril k", lambda xnp, x: [xnp.triu(x, k=2), xnp.tril(x, k=2)], [R(5, 5)])
case("clip", lambda xnp, x: xnp.clip(x, a_min=0.1, a_max=1.1), [R(5, 5)], ref=lambda xnp, x: xnp.clip(x, 0.1, 1.1))
case("clip one side", lambda xnp, x: [xnp.clip(x, None, 0.3), xnp.clip(x, -0.2, None), x.clip(-0.5, 0.5)], [R(5, 5)])
case("prod 1", lambda xnp, x: xnp.prod(x), [U((0.1, 0.5), 2, 3)])
case("prod 2", lambda xnp, x: [xnp.prod(x, axis=0), xnp.prod(x, axis=0, keepdims=True)], [U((0.1, 2.0), 2, 3)])
case("prod 4", lambda xnp, x: xnp.prod(x), [U((0.1, 1.5), 7)])
_ZERO_MASK = np.array([[1.0, 0.0, 1.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0, 1.0], [1.0] * 5])
case("prod with zeros", lambda xnp, x: xnp.prod(x * _ZERO_MASK, axis=1), [R(3, 5)])
case("stack of expressions", lambda xnp, x: [xnp.stack([x, x * 1.0, x + 2.5]),
                                               xnp.stack([xnp.stack([x, x * 1.0, x + 2.5]),
                                                          xnp.stack([x ** 2, x, x / 2.0])])],
     [U((3.0, 3.0))])
case("stack of arrays", lambda xnp, x: [xnp.stack([x, x]), xnp.stack([xnp.stack([2 * x, x + 1]), xnp.stack([x, x])])],
     [R(3, 2)])
combos("var ddof", _np("var"), [R(3), R(3, 4), R(1, 3)], axis=[None], keepdims=[True, False], ddof=[0, 1])
combos("var ddof 2", _np("var"), [R(3, 4), R(1, 3)], axis=[None, 1], keepdims=[True, False], ddof=[2])
combos("std ddof", _np("std"), [R(3), R(3, 4), R(1, 3)], axis=[None], keepdims=[True, False], ddof=[0, 1])
combos("std ddof 2", _np("std"), [R(3, 4), R(1, 3)], axis=[None, 1], keepdims=[True, False], ddof=[2])
_COND = np.random.default_rng(3).normal(size=(4, 5)) > 0
case("where", lambda xnp, x, y: xnp.where(_COND, x, y), [R(4, 5), R(4, 5)])
case("squeeze", lambda xnp, x: [xnp.squeeze(x), x.squeeze(), xnp.squeeze(x, 1)], [R(5, 1, 4)])
case("repeat axes", lambda xnp, a, b, c, d: [xnp.repeat(a, 2, axis=1), xnp.repeat(a, 1, axis=1),
                                              xnp.repeat(b, 2, axis=0), xnp.repeat(c, 2, axis=0),
                                              xnp.repeat(d, 1, axis=0), xnp.repeat(b, np.array([1, 0, 2]), 1)],
     [R(5, 3, 4), R(5, 3), R(5), R(5, 1)])
case("expand_dims", lambda xnp, x: [xnp.expand_dims(x, 2), xnp.expand_dims(x, (0, -1))], [R(5, 1, 4)])
case("tensordot by position", lambda xnp, x: xnp.tensordot(x * np.ones((2, 2)), x * np.ones((2, 2)), 2), [R()])
case("multi index", lambda xnp, x: [xnp.sum(x[L(xnp, [0, 0])]), xnp.sum(x[L(xnp, [0, 1, 0])])], [R(3)])
case("index dot slices", lambda xnp, x: xnp.dot(x[:2], x[2:]), [R(4)])
case("diagonal", lambda xnp, d: xnp.diagonal(d, axis1=-1, axis2=-2), [R(3, 4, 4)])
case("nan_to_num of inf", lambda xnp, x: xnp.sum(xnp.sin(xnp.nan_to_num(x + np.array([0.0, np.nan, np.inf, -np.inf])))),
     [R(4)])
case("max equal values", lambda xnp, x: [xnp.max(xnp.stack([x, x])), xnp.maximum(x, x)], [U((1.0, 1.0))])
case("max equal values 2-D",
     lambda xnp, x: xnp.max(xnp.stack([xnp.stack([x, x]), xnp.stack([x, x * 0 + 0.5])]), axis=1),
     [U((1.0, 1.0))])
case("min 3-way equality",
     lambda xnp, x: xnp.min(xnp.stack([xnp.stack([x, x, x]), xnp.stack([x, x * 0 + 0.5, x * 0 + 0.5])]),
                                                   axis=0), [U((-1.0, -1.0))])
for _num in (0, 1, 5):
    case(f"linspace {_num}", (lambda n: lambda xnp, a, b: xnp.linspace(a, b, n))(_num), [U((1.2, 1.2)), U((3.4, 3.4))])
case("linspace equal ends", lambda xnp, a: xnp.linspace(a, a, 4), [U((1.2, 1.2))])
case("astype", lambda xnp, x: xnp.sin(x.astype("float64")), [R(3)])
case("gradient 1-D 2-D 3-D", lambda xnp, a, b, c: [xnp.gradient(a), xnp.gradient(b), xnp.gradient(c, axis=(0, -1))],
     [R(10), R(10, 10), R(10, 10, 10)])
def _edge_order_2(xnp, f, h, axis):  # jax.numpy.gradient has no edge_order: NumPy's formulas, written out
    f = xnp.moveaxis(f, axis, 0)
    inner = (f[2:] - f[:-2]) / (2.0 * h)
    first = (-1.5 / h) * f[:1] + (2.0 / h) * f[1:2] + (-0.5 / h) * f[2:3]
    last = (0.5 / h) * f[-3:-2] + (-2.0 / h) * f[-2:-1] + (1.5 / h) * f[-1:]
    return xnp.moveaxis(xnp.concatenate([first, inner, last]), 0, axis)


case("gradient edge order 2", lambda xnp, a: xnp.gradient(a, 0.5, 2.0, edge_order=2), [R(6, 5)],
     ref=lambda xnp, a: [_edge_order_2(xnp, a, 0.5, 0), _edge_order_2(xnp, a, 2.0, 1)])
# advanced indexing beyond autograd's
case("index arrays broadcast", lambda xnp, x: [x[L(xnp, [0, 1]), L(xnp, [2, 3])], x[L(xnp, [[0], [1]]), L(xnp, [0, 2])],
                                               x[-1, L(xnp, [0, -1]), 1:3]], [R(5, 6, 4)])
case("index mixed placement", lambda xnp, x: [x[:, L(xnp, [0, 1]), None], x[..., L(xnp, [0, 1])],
                                               x[L(xnp, [0, 1]), :, L(xnp, [2, 3])],
                                               x[1:, L(xnp, [0, 0]), L(xnp, [3, 1])]],
     [R(5, 6, 4)])
_MASK = np.random.default_rng(9).normal(size=(5, 6)) > 0
case("index boolean masks", lambda xnp, x: [x[_MASK], x[:, _MASK[0]], x[_MASK[:, 0], 1:]], [R(5, 6, 4)])
case("index repeated positions", lambda xnp, x: x[L(xnp, [0, 0, 2, 0]), L(xnp, [1, 1, 1, 3])] * 2.0, [R(3, 4)])
case("take delete compress extract", lambda xnp, x: [xnp.take(x, np.array([2, 0, 2]), axis=1),
                                                       xnp.take(x, np.array([5, 0])),
                                                       xnp.delete(x, np.array([0, 2]), axis=1),
                                                       xnp.compress(np.array([True, False, True]), x, axis=1),
                                                       xnp.extract(_MASK[:3, :4], x)], [R(3, 4)],
     ref=lambda xnp, x: [xnp.take(x, np.array([2, 0, 2]), axis=1), xnp.take(x, np.array([5, 0])), x[:, 1::2],
                         x[:, ::2], xnp.ravel(x)[np.flatnonzero(_MASK[:3, :4])]])  # jax.numpy's need concrete masks
case("flip all", lambda xnp, x: [xnp.flip(x), xnp.flip(x, (0, 2))], [R(2, 3, 4)])
case("norms", lambda xnp, x, v: [xnp.linalg.norm(x), xnp.linalg.norm(x, "fro"), xnp.linalg.norm(x, 1),
                                 xnp.linalg.norm(x, -1), xnp.linalg.norm(x, np.inf), xnp.linalg.norm(x, -np.inf),
                                 xnp.linalg.norm(x, axis=1), xnp.linalg.norm(x, 3, axis=0, keepdims=True),
                                 xnp.linalg.norm(v), xnp.linalg.norm(v, 1), xnp.linalg.norm(v, np.inf),
                                 xnp.linalg.norm(v, 0.5)], [R(3, 4), R(5)])
case("kron 3-D", lambda xnp, a, b: xnp.kron(a, b), [R(2, 1, 3), R(3, 2)])
case("vdot inner 1-D", lambda xnp, a, b: [xnp.vdot(a, b), xnp.inner(a[0], b[1])], [R(2, 3), R(2, 3)])
case("average ptp", lambda xnp, x: [xnp.average(x, axis=0, weights=np.arange(1.0, 4.0)), xnp.ptp(x, axis=1),
                                    xnp.average(x)], [R(3, 4)])
case("cumulative_sum", lambda xnp, x: [xnp.cumulative_sum(x, axis=1, include_initial=True),
                                       xnp.cumulative_sum(x[0])], [R(3, 4)])
case("ufunc reduce accumulate outer",
     lambda xnp, x, y: [xnp.add.reduce(x), xnp.multiply.reduce(x, axis=1), xnp.maximum.reduce(x, axis=None),
                        xnp.add.accumulate(x, axis=1), xnp.multiply.outer(x[0], y), xnp.logaddexp.reduce(y)],
     [R(3, 4), R(2)], ref=lambda xnp, x, y: [jnp.sum(x, 0), jnp.prod(x, 1), jnp.max(x), jnp.cumsum(x, 1),
                                            jnp.outer(x[0], y), jax.scipy.special.logsumexp(y)])
case("matrix_power", lambda xnp, a: [xnp.linalg.matrix_power(a, 3), xnp.linalg.matrix_power(a, 0)], [R(3, 3)])
case("vecdot matvec matrix_transpose", lambda xnp, a, v: [xnp.vecdot(a, v), xnp.matvec(a, v), xnp.matrix_transpose(a)],
     [R(2, 3, 4), R(4)])

assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


# --- running a case ---

def _flat(xnp, out):
    if isinstance(out, (list, tuple)):
        return xnp.concatenate([xnp.ravel(_flat(xnp, o)) for o in out]) if out else xnp.zeros(0)
    return xnp.ravel(out)


class Prepared:
    """A case's inputs, arguments, symbolic output, output weights and a direction in the inputs."""

    def __init__(self, c: Case):
        self.case, self.args = c, c.args()
        self.inputs = [cc.Tensor(f"a{k}", s.shape) for k, s in enumerate(c.specs)]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. a ComplexWarning: nothing may pass through NumPy itself
            self.out = _flat(np, c.fn(np, *self.inputs))
        rng = np.random.default_rng(zlib.crc32(c.id.encode()) + 1)
        self.weights = rng.normal(size=self.out.shape)
        self.direction = [rng.normal(size=np.shape(a)) if np.shape(a) else float(rng.normal()) for a in self.args]


CHUNK = 24  # cases per jax.jit: one XLA compile for many small cases costs far less than one each
_PREPARED: dict[str, Prepared] = {}
_JAX: dict[tuple, object] = {}
# The cases checked against JAX in every run (one or two of each family); the others against NumPy's
# values and central differences in every run, and against JAX too in the slow tests. (Compiling
# the JAX references is most of the time: about 0.3 s a case.)
SAMPLE_IDS = ["stat prod 2-D", "stat var", "stat std", "ufunc arcsinh", "ufunc cbrt", "ufunc floor",
              "binary logaddexp2", "binary mod neg", "binary hypot", "binary op.floordiv", "fmax", "dot", "tensordot 3",
              "einsum covsum", "einsum three args", "einsum2 matmult broadcast", "einsum diagonal trace", "trace",
              "diag flat", "tril 3-D", "cross", "pad modes", "cumprod", "index mixed placement",
              "index boolean masks", "norms", "gradient edge order 2", "repeat", "rot90 axes", "select",
              "linspace 5", "kron 3-D", "prod with zeros"]
SAMPLE = [c for c in CASES if c.id in SAMPLE_IDS]
assert len(SAMPLE) == len(SAMPLE_IDS)


def prepared(c: Case) -> Prepared:
    if c.id not in _PREPARED:
        _PREPARED[c.id] = Prepared(c)
    return _PREPARED[c.id]


def jax_reference(c: Case, pool: list, hvp: bool = False) -> tuple:
    """JAX's values, gradient of the weighted outputs (and Hessian-vector product along the
    case's direction), computed for the case's chunk of ``pool`` in one jitted call (a case
    JAX refuses under jit is computed alone, and its own error raised)."""
    key = (c.id, hvp)
    if key not in _JAX:
        start = pool.index(c) // CHUNK * CHUNK
        chunk = [prepared(d) for d in pool[start:start + CHUNK] if (d.id, hvp) not in _JAX]
        try:
            _jax_chunk(chunk, hvp)
        except Exception:  # noqa: BLE001 - one case JAX refuses: the others alone
            for p in chunk:
                try:
                    _jax_chunk([p], hvp)
                except Exception as exc:  # noqa: BLE001
                    _JAX[(p.case.id, hvp)] = exc
    result = _JAX[key]
    if isinstance(result, Exception):
        raise result
    return result


def _jax_chunk(chunk: list, hvp: bool) -> None:
    def every(all_args, all_dirs):
        results = []
        for p, xs, ds in zip(chunk, all_args, all_dirs):
            def loss(*xs, p=p):
                return jnp.sum(_flat(jnp, p.case.ref(jnp, *xs)) * p.weights)
            grad = jax.grad(loss, argnums=tuple(range(len(xs))))
            second = jax.jvp(grad, tuple(xs), tuple(ds))[1] if hvp else None
            results.append((_flat(jnp, p.case.ref(jnp, *xs)), grad(*xs), second))
        return results
    out = jax.jit(every)([[jnp.asarray(a) for a in p.args] for p in chunk],
                         [[jnp.asarray(d) for d in p.direction] for p in chunk])
    for p, (value, grads, second) in zip(chunk, out):
        _JAX[(p.case.id, hvp)] = (np.asarray(value), [np.asarray(g) for g in grads],
                                  None if second is None else [np.asarray(h) for h in second])


def _close(got, want, rtol, what):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    scale = max(1.0, float(np.max(np.abs(want[np.isfinite(want)])))) if np.isfinite(want).any() else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=what)


def _compiled(p: Prepared):
    return cc.compile(np.sum(p.out * p.weights), p.inputs, backend="python")


FD_ELEMENTS = 60  # elements of the inputs differenced one by one (a random choice of them beyond)


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_against_numpy_and_differences(c: Case):
    """NumPy's own values (the function on arrays); the gradient of the weighted outputs against
    central differences, element by element; the Hessian-vector product against differences of
    the gradient."""
    p = prepared(c)
    args, direction = p.args, p.direction
    assert isinstance(p.out, cc.Expr) and len(p.out.shape) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # std of one element: NumPy warns
        want = np.asarray(_flat(np, c.fn(np, *args)), dtype=float)
    _close(cc.compile(p.out, p.inputs, backend="python")(*args), want, RTOL_VALUE, f"{c.id}: values")
    fn = _compiled(p)
    value, grads = fn.value_and_grad(*args)
    eps = 1e-6
    rng = np.random.default_rng(zlib.crc32(c.id.encode()) + 3)
    positions = [(k, i) for k, a in enumerate(args) for i in np.ndindex(np.shape(a))]
    if len(positions) > FD_ELEMENTS:
        positions = [positions[j] for j in rng.choice(len(positions), FD_ELEMENTS, replace=False)]
    for k, i in positions:
        moved = [[np.array(a, dtype=float) for a in args] for _ in range(2)]
        for m, step in zip(moved, (eps, -eps)):
            m[k][i] += step
        numeric = (fn(*[m if np.shape(m) else float(m) for m in moved[0]])
                   - fn(*[m if np.shape(m) else float(m) for m in moved[1]])) / (2 * eps)
        exact = float(np.asarray(grads[k])[i])
        if not math.isfinite(exact):  # std where the variance is 0: nan, as JAX gives (test_sample_against_jax)
            assert "std" in c.id, f"{c.id}: d/d input {k}{i} is {exact}"
            continue
        assert numeric == pytest.approx(exact, rel=1e-5, abs=1e-6 * (1.0 + abs(value))), \
            f"{c.id}: d/d input {k}{i} against differences"
    if c.hvp and all(np.isfinite(np.asarray(g)).all() for g in grads):
        up = [a + eps * d for a, d in zip(args, direction)]
        down = [a - eps * d for a, d in zip(args, direction)]
        for k, (h, g_up, g_down) in enumerate(zip(fn.hvp(*args, v=tuple(direction)), fn.grad(*up), fn.grad(*down))):
            numeric = (np.asarray(g_up) - np.asarray(g_down)) / (2 * eps)
            np.testing.assert_allclose(h, numeric, rtol=1e-5, atol=1e-5 * (1.0 + np.max(np.abs(h), initial=0.0)),
                                       err_msg=f"{c.id}: Hessian-vector product, input {k}, against differences")


def _against_jax(c: Case, pool: list):
    p = prepared(c)
    value_ref, grads_ref, _ = jax_reference(c, pool)
    _close(cc.compile(p.out, p.inputs, backend="python")(*p.args), value_ref, RTOL_VALUE, f"{c.id}: values")
    _, grads = _compiled(p).value_and_grad(*p.args)
    for k, (g, want) in enumerate(zip(grads, grads_ref)):
        _close(g, want, RTOL_GRAD, f"{c.id}: d/d input {k} against JAX")


@pytest.mark.parametrize("c", SAMPLE, ids=[c.id for c in SAMPLE])
def test_sample_against_jax(c: Case):
    _against_jax(c, SAMPLE)


@pytest.mark.slow
@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_against_jax(c: Case):
    _against_jax(c, CASES)


@pytest.mark.slow
@pytest.mark.parametrize("c", [c for c in CASES if c.hvp], ids=[c.id for c in CASES if c.hvp])
def test_hessian_vector_product_against_jax(c: Case):
    p = prepared(c)
    _, _, hvp_ref = jax_reference(c, [d for d in CASES if d.hvp], hvp=True)
    for k, (h, want) in enumerate(zip(_compiled(p).hvp(*p.args, v=tuple(p.direction)), hvp_ref)):
        _close(h, want, RTOL_HVP, f"{c.id}: Hessian-vector product, input {k}, against JAX")


# --- what is not supported: a TypeError at the call, naming the function ---

X3 = cc.Tensor("X3", (3, 3))
UNSUPPORTED = {  # name in the README's list -> a call with an expression
    "sort": lambda x: np.sort(x), "partition": lambda x: np.partition(x, 1), "argsort": lambda x: np.argsort(x),
    "argmax": lambda x: np.argmax(x), "median": lambda x: np.median(x), "percentile": lambda x: np.percentile(x, 50),
    "nonzero": lambda x: np.nonzero(x), "unique": lambda x: np.unique(x),
    "where": lambda x: np.where(x > 0),  # one argument: indices
    "array": lambda x: np.array([x, x]), "asarray": lambda x: np.asarray(x),
    "mean": lambda x: np.mean([x, x + 2.0]),  # a list of expressions: NumPy converts it first
    "r_": lambda x: np.r_[x, x], "c_": lambda x: np.c_[x, x], "int64": lambda x: np.int64(x[0, 0]),
    "eig": lambda x: np.linalg.eig(x), "qr": lambda x: np.linalg.qr(x),
    "svd": lambda x: np.linalg.svd(x), "pinv": lambda x: np.linalg.pinv(x),
    "nuc": lambda x: np.linalg.norm(x, "nuc"), "fft": lambda x: np.fft.fft(x), "isnan": lambda x: np.isnan(x),
    "fmod": lambda x: np.fmod(x, 2.0),  # (np.logical_* and np.not_equal are conditions: test_sympy_structures)
    "mean=": lambda x: np.var(x, mean=0.0),
    "astype": lambda x: x.astype(np.float32), "out=": lambda x: np.sum(x, out=np.empty(())),
    "where=": lambda x: np.sum(x, where=np.eye(3, dtype=bool)), "dtype=": lambda x: np.sum(x, dtype=np.int64),
    "pad": lambda x: np.pad(x, 1, mode="mean"), "cross": lambda x: np.cross(x[:, :2], x[:, :2]),
    "matrix_power": lambda x: np.linalg.matrix_power(x, -1), "reduceat": lambda x: np.add.reduceat(x, [0, 1]),
    "gradient": lambda x: np.gradient(x, np.arange(3.0)), "cumsum": lambda x: np.cumsum(x, out=np.empty(9)),
}


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_raises_type_error_at_the_call(name):
    with pytest.raises(TypeError) as info:
        UNSUPPORTED[name](X3)
    assert str(info.value)  # a message, naming what was refused
    base = name.rstrip("=_")
    if name not in ("r_", "c_", "int64", "mean", "array", "asarray"):
        assert base in str(info.value), (name, str(info.value))


def test_the_unsupported_list_is_documented():
    section = PAGE.read_text(encoding="utf-8")
    for name in UNSUPPORTED:
        assert f"`{name.rstrip('=')}" in section or name.rstrip("=") in section, name


def test_unsupported_names_the_function_and_the_list():
    with pytest.raises(cc.UnsupportedFunctionError, match=r"numpy\.sort is not supported.*cc\.numpy_functions"):
        np.sort(X3)
    with pytest.raises(TypeError, match=r"numpy\.linalg\.svd .*solvers"):
        np.linalg.svd(X3)
    with pytest.raises(TypeError, match=r"np\.stack"):
        np.array([X3, X3])
    names = cc.numpy_functions()
    assert {"numpy.einsum", "numpy.linalg.norm", "numpy.sum", "numpy.log2", "numpy.tril"} <= set(names)
    assert "numpy.sort" not in names


# --- no NumPy function returns an object array for an expression ---

def _numpy_callables():
    found = {}
    for module, prefix in ((np, "numpy"), (np.linalg, "numpy.linalg"), (np.fft, "numpy.fft")):
        for name in dir(module):
            f = getattr(module, name, None)
            if name.startswith(("_", "save")) or not callable(f) or isinstance(f, type):  # save*: files
                continue
            if isinstance(f, np.ufunc) or hasattr(f, "_implementation") or name in (
                    "array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray", "fromiter",
                    "vectorize", "frompyfunc", "iterable", "isscalar", "ndim", "shape"):
                found[f"{prefix}.{name}"] = f
    return found


NUMPY_CALLABLES = _numpy_callables()
_EXTRA = [0, 1, -1, 2, (0, 1), None, 1.5, np.ones(3), np.ones((2, 3)), True, "ij->j", [0, 1]]


def _object_arrays(result, depth=0) -> bool:
    if isinstance(result, np.ndarray):
        return result.dtype == object
    if isinstance(result, (list, tuple)) and depth < 4:
        return any(_object_arrays(r, depth + 1) for r in result)
    if isinstance(result, dict):
        return any(_object_arrays(r, depth + 1) for r in result.values())
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(sorted(NUMPY_CALLABLES)), st.sampled_from([(), (3,), (2, 3)]),
       st.lists(st.sampled_from(range(len(_EXTRA))), max_size=2), st.booleans(), st.booleans())
def test_no_numpy_function_returns_an_object_array(name, shape, extra, second, method):
    f = NUMPY_CALLABLES[name]
    x = cc.Tensor("x", shape)
    args = [_EXTRA[k] for k in extra]
    args = args[:1] + [x] + args[1:] if second and args else [x] + args
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if method and isinstance(f, np.ufunc) and f.nin == 2:
                result = f.outer(*args[:2]) if len(args) >= 2 else f.reduce(x)
            else:
                result = f(*args)
        except Exception:  # noqa: BLE001 - refusing (TypeError) or a wrong extra argument: both fine
            return
    assert not _object_arrays(result), f"{name}{tuple(map(type, args))} returned an object array"
    if isinstance(result, np.ndarray):
        assert result.dtype != object


# --- big tensors: a NumPy function is a few nodes, not one per element ---

def test_numpy_functions_on_a_million_elements_build_a_few_nodes():
    X = cc.Tensor("X", (1000, 1000))
    v = cc.Tensor("v", (1000,))
    calls = {
        "sum": lambda: np.sum(X, axis=0), "mean": lambda: np.mean(X), "max": lambda: np.max(X, axis=1),
        "var": lambda: np.var(X, axis=0), "std": lambda: np.std(X), "clip": lambda: np.clip(X, -1, 1),
        "tril": lambda: np.tril(X), "triu": lambda: np.triu(X, 3), "cumsum": lambda: np.cumsum(X, axis=1),
        "einsum": lambda: np.einsum("ij,jk->ik", X, X), "tensordot": lambda: np.tensordot(X, X, 1),
        "dot": lambda: np.dot(X, v), "outer": lambda: np.outer(v, v), "inner": lambda: np.inner(X, v),
        "trace": lambda: np.trace(X), "diag": lambda: np.diag(v), "diagonal": lambda: np.diagonal(X),
        "flip": lambda: np.flip(X), "roll": lambda: np.roll(X, 3, axis=1), "rot90": lambda: np.rot90(X),
        "pad": lambda: np.pad(X, 2), "pad reflect": lambda: np.pad(X, 2, mode="reflect"),
        "tile": lambda: np.tile(v, (3, 1)), "repeat": lambda: np.repeat(X, 2, axis=0), "squeeze": lambda: np.squeeze(X),
        "expand_dims": lambda: np.expand_dims(X, 1), "append": lambda: np.append(X, X), "diff": lambda: np.diff(X),
        "norm": lambda: np.linalg.norm(X), "concatenate": lambda: np.concatenate([X, X]),
        "stack": lambda: np.stack([X, X]), "swapaxes": lambda: np.swapaxes(X, 0, 1), "log2": lambda: np.log2(X),
        "hypot": lambda: np.hypot(X, X), "mod": lambda: X % 2.0, "index": lambda: X[[0, 5], [3, 3]],
        "mask": lambda: X[:, np.arange(1000) % 2 == 0], "prod": lambda: np.prod(X, axis=0),
        "cumprod": lambda: np.cumprod(v),
    }
    for name, call in calls.items():
        out = call()
        nodes = ir.topo_order([out])
        limit = 80 if name in ("prod", "cumprod") else 16  # log2(1000) levels of products
        assert len(nodes) <= limit, f"np.{name} of a (1000, 1000) expression built {len(nodes)} nodes"
        big = [n for n in nodes if n.op == "const" and n.shape and math.prod(n.shape) > 1000]
        assert not big, f"np.{name} made a constant of {big[0].shape}"


def test_einsum_tensordot_dot_are_the_products_of_matmul():
    A, B = cc.Tensor("A", (3, 4)), cc.Tensor("B", (4, 5))
    S, T = cc.Tensor("S", (6, 3, 4)), cc.Tensor("T", (6, 4, 5))
    a, b = cc.Tensor("a", (4,)), cc.Tensor("b", (4,))
    assert np.einsum("ij,jk->ik", A, B) is A @ B
    assert np.einsum("ij,jk", A, B) is A @ B
    assert np.einsum("bij,bjk->bik", S, T) is S @ T
    assert np.einsum("ij,kj->ik", A, B.T) is A @ B
    assert np.einsum("i,i->", a, b) is a @ b
    assert np.einsum("ij,j->i", A, a) is A @ a
    assert np.tensordot(A, B, 1) is A @ B
    assert np.tensordot(A, B, axes=([1], [0])) is A @ B
    assert np.dot(A, B) is A @ B and np.dot(a, b) is a @ b and A.dot(B) is A @ B
    assert np.inner(a, b) is a @ b
    assert np.matmul(A, B) is A @ B
    assert np.einsum("ij->j", A) is np.sum(A, axis=0)


def test_an_mlp_written_with_einsum_is_the_mlp_written_with_matmul():
    """The bench's MLP (``compiler.bench.mlp``): the same graph, so the same generated code."""
    from compiler.bench.mlp import SIZES, _forward
    params = []
    for k, (a, b) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        params += [cc.Tensor(f"W{k}", (a, b)), cc.Tensor(f"b{k}", (b,))]
    X, y = cc.Tensor("X", (256, SIZES[0])), cc.Tensor("y", (256, SIZES[-1]))
    losses = [np.mean((_forward(params, X, np.tanh, product) - y) ** 2)
              for product in (lambda h, w: h @ w, lambda h, w: np.einsum("bi,ij->bj", h, w))]
    assert losses[0] is losses[1]


# --- indexing: NumPy's shapes and values, for the index forms NumPy users write ---

INDEXES = [
    (0,), (slice(1, 3), -1), ([0, 1], [2, 3]), (3, slice(2, None), [1, 3]), (Ellipsis, [0, 1]),
    (slice(None), [0, 1], None), ([0], Ellipsis, [1]), ([[0], [1]], [0, 2]), ([0, 1], slice(None), [2, 3]),
    (None, [1, 2], None), (np.array([True, False, True, False, True]),), (slice(None), np.array([[0, 1], [2, 2]])),
    (np.arange(30).reshape(5, 6) % 3 == 0,), (slice(None, None, -1), [0, -1], 0), ([-1, 0], Ellipsis),
    (np.int64(2), [1]), ([], ), (slice(1, 4), [[1], [2]], [0, 3]),
]


@pytest.mark.parametrize("index", INDEXES, ids=[repr(i)[:40] for i in INDEXES])
def test_advanced_indexing_matches_numpy(index):
    x = cc.Tensor("x", (5, 6, 4))
    value = np.random.default_rng(4).normal(size=(5, 6, 4))
    out = x[index]
    want = value[index]
    assert out.shape == want.shape
    got = cc.compile(out, [x], backend="python")(value) if out.size else np.zeros(want.shape)
    np.testing.assert_array_equal(got, want)
    # the adjoint adds back at repeated positions, as np.add.at does
    weights = np.random.default_rng(5).normal(size=want.shape)
    _, (grad,) = cc.compile(np.sum(out * weights), [x], backend="python").value_and_grad(value)
    expected = np.zeros(value.shape)
    np.add.at(expected, index, weights)
    np.testing.assert_allclose(grad, expected, rtol=1e-15, atol=0)


# --- NumPy's keywords, the methods, the attributes ---

def test_numpy_keywords_out_dtype_where_are_accepted_at_their_defaults():
    x = cc.Tensor("x", (2, 3))
    assert np.sum(x, out=None) is cc.sum(x)
    assert np.sum(x, axis=0, dtype=np.float64, keepdims=True, where=True) is cc.sum(x, 0, keepdims=True)
    assert np.max(x, out=None, keepdims=False) is cc.max(x)
    assert np.mean(x, dtype=None, where=True) is cc.mean(x)
    assert np.prod(x, axis=1, out=None).shape == (2,)
    assert np.sin(x, out=None) is cc.sin(x) and np.add(x, 1.0, where=True, dtype=np.float64) is x + 1.0
    assert np.sum(x, initial=2.0) is cc.sum(x) + 2.0
    assert x.sum(0, None, None, True) is cc.sum(x, 0, keepdims=True)  # NumPy's positional order
    assert x.sum(0, True) is cc.sum(x, 0, keepdims=True)              # and the library's own
    assert x.max(1, None, True) is cc.max(x, 1, keepdims=True)


def test_the_methods_of_the_issue():
    x = cc.Tensor("x", (2, 1, 3))
    m = cc.Tensor("m", (3, 3))
    assert x.ravel() is x.flatten() is cc.reshape(x, -1)
    assert x.squeeze() is cc.reshape(x, (2, 3)) and x.squeeze(1) is x.squeeze()
    assert m.dot(m) is m @ m and x.swapaxes(0, 2).shape == (3, 1, 2)
    assert x.prod(axis=2).shape == (2, 1) and x.var(ddof=1).shape == () and x.std(axis=0).shape == (1, 3)
    assert x.clip(0.0, 1.0) is np.clip(x, 0.0, 1.0) and x.cumsum().shape == (6,)
    assert m.trace().shape == () and m.diagonal().shape == (3,) and x.round(1).shape == x.shape
    assert x.T.shape == (3, 1, 2) and x.mT.shape == (2, 3, 1) and x.real is x and x.conj() is x
    s = cc.Symbol("s")
    assert s.shape == () and s.ndim == 0 and s.size == 1 and len(m) == 3
    assert divmod(s, 2.0) == (s // 2.0, s % 2.0) and (5.0 % s).op == "mod" and (5.0 // s).op == "floordiv"


def test_eager_values_take_the_new_functions():
    v = cc.Value(np.arange(1.0, 7.0).reshape(2, 3))
    out = cc.prod(v) + cc.sum(cc.pad(v, 1)) + cc.einsum("ij,ij->", v, v) + cc.sum(v[[0, 1], [2, 0]])
    out.backward(backend="python")
    expected = 720.0 / v.data + 1.0 + 2 * v.data
    expected[0, 2] += 1.0
    expected[1, 0] += 1.0
    np.testing.assert_allclose(v.grad, expected, rtol=1e-13)


# --- the compiled target: a focused subset in Numba ---

def _numba_subset(x):
    return (np.sum(x[[0, 2, 2], [1, 3, 4]] ** 2) + np.sum(np.pad(x, ((1, 2), (0, 1)), mode="reflect") ** 2)
            + np.sum(np.diag(x[0]) ** 2) + np.prod(x[0] * 0.5 + 1.0) + np.sum(np.cumprod(x[1] * 0.3 + 1.0))
            + np.sum(np.log2(np.hypot(x, 1.0)) * (x % 0.7)))


def _numba_full(a, b, x):
    return (np.sum(np.einsum("bij,bjk->bik", a, b) ** 2) + np.sum(np.tensordot(a, b, ([1, 2], [2, 1])))
            + np.sum(x[1:, [0, 0]] * 2.0) + np.sum(np.tile(x, (2, 1)) * np.repeat(x, 2, axis=0))
            + np.sum(np.roll(x, 2, axis=1) * np.flip(x)) + np.var(x) + np.linalg.norm(x)
            + np.sum(np.kron(x[:2, :2], x[2:, 3:]) ** 2) + np.trace(x[:, :4]) + _numba_subset(x))


@pytest.mark.parametrize("build, shapes", [
    pytest.param(_numba_subset, [(4, 5)], id="subset"),
    pytest.param(_numba_full, [(2, 3, 4), (2, 4, 3), (4, 5)], id="full", marks=pytest.mark.slow)])
def test_numba_agrees_with_the_numpy_dialect(build, shapes):
    inputs = [cc.Tensor(f"t{k}", s) for k, s in enumerate(shapes)]
    loss = build(*inputs)
    rng = np.random.default_rng(11)
    args = [rng.normal(size=s) for s in shapes]
    want_value, want_grads = cc.compile(loss, inputs, backend="python").value_and_grad(*args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumbaPerformanceWarning: '@' on non-contiguous arrays
        value, grads = cc.compile(loss, inputs, backend="numba").value_and_grad(*args)
    assert value == pytest.approx(want_value, rel=1e-12)
    for g, want in zip(grads, want_grads):
        np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-12)
