"""A user's code of every kind of entry point, for mypy (tests/test_typing.py): the public API's
names, signatures and return types as a type checker sees them from the installed package
(``py.typed``). Never run: the tests that run these calls are elsewhere."""

from __future__ import annotations

import numpy as np

import compiler as cc


def _client() -> None:
    x, y = cc.symbols("x y")
    X = cc.Tensor("X", (3,))
    f: cc.Expr = cc.sin(x) * y + x**2 + cc.where(x > 0, x, -x) + cc.sum(cc.exp(X))
    fn: cc.CompiledFunction = cc.compile(f, [x, y, X], wrt=[x, y], backend="python")
    fn(1.0, 2.0, np.ones(3))
    fn.grad(1.0, 2.0, np.ones(3))
    fn.value_and_grad(1.0, 2.0, np.ones(3))
    fn.hessian(1.0, 2.0, np.ones(3))
    fn.jvp(1.0, 2.0, np.ones(3), v=(1.0, 0.0))
    fn.wait()
    one: cc.CompiledFunction = cc.compile(f, [x, y, X], wrt=x)   # one input alone
    one.grad(1.0, 2.0, np.ones(3))
    source: str = fn.source
    info: cc.CacheInfo = cc.cache_info()
    simd: cc.SimdInfo = cc.simd_info()
    check: cc.GradcheckResult = cc.gradcheck(fn, 1.0, 2.0, np.ones(3))
    parsed: cc.Expr = cc.parse("sin(a) * b", symbols={"a": x}, strict=False)
    g = cc.jit(lambda t: t * 2.0)
    a = cc.Value(3.0)
    (a * a + a).backward()
    problem: cc.NLP = cc.nlp(x**2 + y**2, [x, y], g=[x + y - 1.0])
    carry, ys = cc.scan(lambda c, u: (c * u, c), x, X)
    del one, source, info, simd, check, parsed, g, problem, carry, ys
    try:
        cc.compile(f, [x])
    except cc.CompilerError as e:
        message: str = str(e)
        del message
