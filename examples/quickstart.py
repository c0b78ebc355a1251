"""Quickstart: build an expression, compile it once, call it many times.

Run: python examples/quickstart.py   (about 1 s on 2 cores, empty cache)
"""

import time

import numpy as np

import compiler as cc

# 1. Build: operators and library functions on symbols make an IR graph.
x, y = cc.symbols("x y")
f = cc.sin(x) * y + x**2

# 2. Compile: reverse-mode pass + code generation; Numba JIT on first call.
fn = cc.compile(f, [x, y])

print("f(1, 2)        =", fn(1.0, 2.0))
print("grad f(1, 2)   =", fn.grad(1.0, 2.0))
print("hessian f(1, 2)=\n", fn.hessian(1.0, 2.0))
print("gradcheck      :", cc.gradcheck(fn, 1.0, 2.0))

# 3. Read what was generated.
print("\n--- generated source (value_and_grad) ---")
src = fn.source
print(src[src.index("def value_and_grad("):src.index("def value_batch(")].rstrip())

# 4. Many points at once: 1-D arrays run a parallel Numba loop.
X, Y = np.random.default_rng(0).random((2, 1_000_000))
fn.value_and_grad(X[:10], Y[:10])  # compiles the batch driver
t = time.perf_counter()
v, (gx, gy) = fn.value_and_grad(X, Y)
print(f"\nvalue and gradient at {len(X):,} points in {1e3 * (time.perf_counter() - t):.1f} ms")

# 5. The same from a plain Python function, and from SymPy.
@cc.jit
def g(a, b):
    return cc.exp(-a * b) + a

print("jit:  g(1, 2) =", g(1.0, 2.0), " grad =", g.grad(1.0, 2.0))

import sympy as sp  # noqa: E402

a, b = sp.symbols("a b")
h = cc.compile(sp.atan2(b, a) * sp.exp(a), [a, b], backend="python")
print("sympy: grad =", h.grad(1.0, 1.0))

# 6. The eager micrograd-style API, backed by compiled adjoint programs.
w = cc.Value(3.0)
loss = w * w + w
loss.backward()
print("Value: loss =", loss.data, " dloss/dw =", w.grad)
