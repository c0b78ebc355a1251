"""``nondiff_argnums`` of ``cc.custom_jvp`` / ``cc.custom_vjp`` (issue 26), with JAX's conventions:
static Python values passed first to the rule. Checked against JAX's own ``custom_jvp`` /
``custom_vjp`` of the same rules, closed forms and central differences.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

import compiler as cc
from oracles import fd

x, y = cc.symbols("x y")


# JAX's documented example: a function argument, not differentiated, passed first to the rule
@functools.partial(cc.custom_jvp, nondiff_argnums=(0,))
def app(f, v):
    return f(v)


@app.defjvp
def _app_jvp(f, primals, tangents):
    (v,), (t,) = primals, tangents
    return app(f, v), 2.0 * t   # on purpose not f's derivative: the rule is what counts


@functools.partial(cc.custom_vjp, nondiff_argnums=(0,))
def app_vjp(f, v):
    return f(v)


app_vjp.defvjp(lambda f, v: (f(v), v), lambda f, v, g: (5.0 * g * v,))


# an int and a string in the middle and at the end: x**n with its closed-form derivative
@functools.partial(cc.custom_jvp, nondiff_argnums=(1, 2))
def power(v, n, mode, w):
    return v ** n * w if mode == "times" else v ** n + w


@power.defjvp
def _power_jvp(n, mode, primals, tangents):
    (v, w), (tv, tw) = primals, tangents
    d = n * v ** (n - 1)
    if mode == "times":
        return power(v, n, mode, w), d * w * tv + v ** n * tw
    return power(v, n, mode, w), d * tv + tw


def test_function_argument_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    @functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
    def japp(f, v):
        return f(v)

    @japp.defjvp
    def _(f, primals, tangents):
        return japp(f, primals[0]), 2.0 * tangents[0]

    @functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
    def japp_vjp(f, v):
        return f(v)
    japp_vjp.defvjp(lambda f, v: (f(v), v), lambda f, v, g: (5.0 * g * v,))

    by_jvp = cc.compile(app(cc.sin, x * x), [x], backend="python")
    by_vjp = cc.compile(app_vjp(cc.exp, x) * x, [x], backend="python")
    for v in (-1.3, 0.2, 2.5):
        assert by_jvp(v) == pytest.approx(math.sin(v * v), rel=1e-15)
        assert by_jvp.grad(v)[0] == pytest.approx(float(jax.grad(lambda u: japp(jnp.sin, u * u))(v)), rel=1e-15)
        assert by_vjp.grad(v)[0] == pytest.approx(float(jax.grad(lambda u: japp_vjp(jnp.exp, u) * u)(v)), rel=1e-15)


def test_static_ints_and_strings_select_their_own_rule():
    cubed = cc.compile(power(x, 3, "times", y), [x, y], backend="python")
    squared = cc.compile(power(x, 2, "plus", y), [x, y], backend="python")
    for v, w in ((1.5, 0.5), (-0.7, 2.0)):
        assert cubed(v, w) == pytest.approx(v ** 3 * w, rel=1e-15)
        assert cubed.grad(v, w) == pytest.approx((3 * v * v * w, v ** 3), rel=1e-14)
        assert squared.grad(v, w) == pytest.approx((2 * v, 1.0), rel=1e-14)
        assert squared.grad(v, w) == pytest.approx(fd(squared, [v, w]), rel=1e-7)
        # second derivatives differentiate the rule: d2/dv2 (v^3 w) = 6 v w
        assert cubed.hessian(v, w) == pytest.approx(np.array([[6 * v * w, 3 * v * v], [3 * v * v, 0.0]]), rel=1e-13)
    # one rule per static value (3 and 3.0 are different keys), none per call
    assert len(power._rules) == 2
    power(x, 3, "times", y)
    assert len(power._rules) == 2
    power(x, 3.0, "times", y)
    assert len(power._rules) == 3


def test_nondiff_on_numba_and_forward_mode():
    fn = cc.compile(power(x, 3, "times", y) + app(cc.cos, y), [x, y], backend="numba")
    v, w = 0.8, 1.7
    assert fn.grad(v, w) == pytest.approx((3 * v * v * w, v ** 3 + 2.0), rel=1e-14)
    value, tangent = fn.jvp(v, w, v=(1.0, 0.0))
    assert tangent == pytest.approx(3 * v * v * w, rel=1e-14) and value == pytest.approx(fn(v, w), rel=1e-15)


def test_nondiff_mistakes_are_explained():
    with pytest.raises(TypeError, match="nondiff_argnums must be argument positions"):
        cc.custom_jvp(lambda n, v: v, nondiff_argnums=("n",))
    with pytest.raises(TypeError, match="argument 1 is in nondiff_argnums, so it must be a static Python value.*got an expression"):
        power(x, x, "times", y)  # an expression where a static value is expected
    with pytest.raises(TypeError, match="argument 1 is in nondiff_argnums.*got an array"):
        power(x, np.array([2.0]), "times", y)
    with pytest.raises(TypeError, match="must be hashable.*list"):
        power(x, 2, ["times"], y)
    with pytest.raises(TypeError, match="nondiff_argnums=\\(2,\\) names argument 2.*2 argument"):
        cc.custom_jvp(lambda v, w, n: v, nondiff_argnums=(2,))(x, y)
    bad = functools.partial(cc.custom_vjp, nondiff_argnums=(0,))(lambda n, v: v * n)
    bad.defvjp(lambda n, v: (v * n, None), lambda n, res, g: (g * n, g))  # one cotangent too many
    with pytest.raises(TypeError, match="1 cotangent.*not in nondiff_argnums"):
        bad(3, x)
