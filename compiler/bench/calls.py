"""Per-call suite: value and gradient of small functions, one point per call.

Cases: the neuron ``tanh((c + a*b)*f)``, Rosenbrock in 2 and in 100 variables.
Methods: this library (its compiled code under the default ``backend="auto"``: the
llvm target for these scalar functions; and ``backend="python"``),
the eager tape engine (``tape.py``), hand-written ``@numba.njit`` code, and
the peers that are installed: SymPy ``lambdify(cse=True)``, ``jax.jit``,
PyTorch autograd, CasADi.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from . import tape
from .common import Row, first_call, optional, timed

SUITE = "calls"


def neuron(m):
    return lambda a, b, c, f: m.tanh((c + a * b) * f)


def rosenbrock(n: int):
    def f(*x):
        total = 0.0
        for i in range(n - 1):
            total = total + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
        return total
    return f


def _rosen_hand():
    import numba

    @numba.njit
    def rosen(x):
        n = x.shape[0]
        g = np.zeros(n)
        v = 0.0
        for i in range(n - 1):
            t = x[i + 1] - x[i] * x[i]
            v += 100.0 * t * t + (1.0 - x[i]) ** 2
            g[i] += -400.0 * t * x[i] - 2.0 * (1.0 - x[i])
            g[i + 1] += 200.0 * t
        return v, g
    return rosen


def _neuron_hand():
    import numba

    @numba.njit
    def hand(a, b, c, f):
        s = c + a * b
        t = math.tanh(s * f)
        dz = 1.0 - t * t
        return t, (dz * f * b, dz * f * a, dz * f, dz * s)
    return hand


def cases(quick: bool) -> list[tuple[str, Callable, int, Callable | None]]:
    """(name, builder of the function from a math module, number of inputs, hand-written njit)."""
    return [("neuron tanh((c + a*b)*f)", lambda m: neuron(m), 4, _neuron_hand),
            ("Rosenbrock, 2 variables", lambda m: rosenbrock(2), 2, _rosen_hand),
            ("Rosenbrock, 100 variables", lambda m: rosenbrock(100), 100, _rosen_hand)]


def run(quick: bool, progress) -> list[Row]:
    import compiler as cc
    repeats, min_time = (5, 0.02) if quick else (15, 0.1)
    sp, jax, torch, ca = optional("sympy"), optional("jax"), optional("torch"), optional("casadi")
    rows: list[Row] = []
    for name, build, n, hand in cases(quick):
        point = [0.4, 0.8, 1.0, -1.5] if n == 4 else list(np.linspace(-1.2, 1.1, n))
        symbols = list(cc.symbols(" ".join(f"x{i}" for i in range(n))))
        expr = build(cc)(*symbols)
        methods: dict[str, Callable] = {}
        ready: dict[str, float] = {}

        fn = cc.compile(expr, symbols)
        ours = f"compiler (auto: {fn.backend})"
        _, ready[ours] = first_call(fn.wait)
        methods[ours] = lambda fn=fn: fn.value_and_grad(*point)
        reference = fn.value_and_grad(*point)
        py = cc.compile(expr, symbols, backend="python")
        methods['compiler, backend="python"'] = lambda py=py: py.value_and_grad(*point)
        f_tape = build(tape.functions)
        methods["eager tape (micrograd-style)"] = lambda: tape.value_and_grad(f_tape, *point)
        handed = hand()
        if n == 4:
            _, ready["hand-written @numba.njit"] = first_call(handed, *point)
            methods["hand-written @numba.njit"] = lambda: handed(*point)
        else:
            arr = np.array(point)
            _, ready["hand-written @numba.njit"] = first_call(handed, arr)
            methods["hand-written @numba.njit"] = lambda: handed(arr)
        if sp is not None:
            xs = sp.symbols(f"x0:{n}")
            f_sp = build(sp)(*xs)
            lam, ready["SymPy lambdify(cse)"] = first_call(
                lambda: sp.lambdify(xs, [f_sp] + [sp.diff(f_sp, x) for x in xs], "math", cse=True))
            methods["SymPy lambdify(cse)"] = lambda lam=lam: lam(*point)
        if jax is not None:
            f_jax = build(jax.numpy)
            vg = jax.jit(jax.value_and_grad(lambda *x: f_jax(*x), argnums=tuple(range(n))))
            _, ready["jax.jit(value_and_grad)"] = first_call(lambda: jax.block_until_ready(vg(*point)))
            methods["jax.jit(value_and_grad)"] = lambda vg=vg: jax.block_until_ready(vg(*point))
        if torch is not None:
            f_torch = build(torch)

            def torch_call():
                xs = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in point]
                y = f_torch(*xs)
                y.backward()
                return y.item(), [x.grad.item() for x in xs]
            methods["PyTorch autograd (eager)"] = torch_call
        if ca is not None:
            x = ca.SX.sym("x", n)
            f_ca = build(ca)(*[x[i] for i in range(n)])
            F = ca.Function("f", [x], [f_ca, ca.gradient(f_ca, x)])
            methods["CasADi Function (SX VM)"] = lambda F=F: F(point)
        _check(name, reference, methods)
        for method, (seconds, spread) in timed(methods, repeats, min_time).items():
            rows.append(Row(SUITE, name, method, seconds, n, ready.get(method), spread))
        progress()
    return rows


def _check(name: str, reference, methods: dict) -> None:
    """Every method computes the same value (a benchmark of wrong numbers measures nothing)."""
    want = reference[0]
    for method, call in methods.items():
        got = call()
        value = got[0]
        value = float(value.full()[0, 0]) if hasattr(value, "full") else float(value)
        if not math.isclose(value, want, rel_tol=1e-9, abs_tol=1e-12):
            raise AssertionError(f"{name}: {method} gives {value}, the compiler {want}")
