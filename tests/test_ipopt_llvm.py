"""IPOPT's callbacks on the llvm route (``codegen.llvm_ipopt``: our LLVM IR, kernels unrolled
inside) against the Numba cfuncs, cyipopt on NumPy and the published optima; a cached start in
a fresh process that never imports Numba; the routes' choice.

The Numba route compiles once (HS071, module fixture); the other problems run on the llvm route
(milliseconds of LLVM each) against cyipopt driving the NumPy evaluators (nothing compiled).
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

import compiler as cc
from compiler.bench.hock_schittkowski import PROBLEMS
from compiler.codegen import llvm_ipopt
from compiler.errors import ArgumentError, UnsupportedError
from compiler.optimize.native import llvm_route, native_callbacks
from compiler.runtime.ipopt import library

pytestmark = pytest.mark.skipif(not library.find_library().ok, reason="no libipopt (the solvers extra)")

OPTIONS = {"tol": 1e-8}
HS071 = PROBLEMS["hs071"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _solve(problem, hs, **kw):
    return problem.solve(list(hs.x0), **hs.bounds(), options=OPTIONS, **kw)


def _same(a, b, rtol=1e-10):
    """The same solve: status, iterations, optimum, point and every multiplier."""
    assert a.status == b.status and a.iterations == b.iterations
    assert a.fun == pytest.approx(b.fun, rel=rtol, abs=1e-14)
    for name in ("x", "g", "mult_g", "mult_x_L", "mult_x_U"):
        assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.fixture(scope="module")
def hs071_routes():
    """HS071 with a parameter p (objective ``p f + log p``: p = -1 makes every value NaN) on both routes."""
    made = {}
    for route in ("llvm", "numba"):
        x, p = cc.Tensor("x", (4,)), cc.Symbol("p")
        items = [x[i] for i in range(4)]
        problem = cc.nlp(p * HS071.f(items) + cc.log(p), x, g=HS071.g(items), params=[p], backend="numba")
        assert native_callbacks(problem, True, route=route).route == route
        made[route] = problem
    return made


def test_llvm_route_is_the_numba_route_to_the_last_bits(hs071_routes):
    llvm, numba = (_solve(hs071_routes[r], HS071, params=[1.0], driver="native") for r in ("llvm", "numba"))
    _same(llvm, numba, rtol=1e-15)
    assert np.array_equal(llvm.x, numba.x) and np.array_equal(llvm.mult_g, numba.mult_g)
    assert llvm.callback_calls == numba.callback_calls and llvm.fun == pytest.approx(HS071.optimum, rel=1e-7)
    assert "callbacks: llvm" in repr(hs071_routes["llvm"]) and "callbacks: numba" in repr(hs071_routes["numba"])


@pytest.mark.parametrize("name", ["hs001", "hs006", "hs035", "hs039", "hs040", "hs043", "hs076", "hs100"])
def test_hock_schittkowski_on_the_llvm_route(name):
    """Each problem's optimum, iterations and multipliers as cyipopt gives them on NumPy."""
    hs = PROBLEMS[name]
    problem = hs.nlp("numba")
    native = _solve(problem, hs, driver="native")
    assert repr(problem).endswith("callbacks: llvm)")
    reference = _solve(hs.nlp("python"), hs, driver="cyipopt")
    assert native.status == 0
    _same(native, reference)
    assert native.fun == pytest.approx(hs.optimum, rel=1e-7, abs=1e-7)
    assert native.callback_calls == reference.callback_calls


def test_parameters_limited_memory_and_tensor_pieces():
    """Tensor parameters, slices and sums on the llvm route; the quasi-Newton mode (no Hessian)."""
    x, target = cc.Tensor("x", (5,)), cc.Tensor("t", (5,))
    f = cc.sum((x - target) ** 2) + cc.sum(x[1:] * x[:-1])
    g = [cc.sum(x[:3]), x[4] - x[0] ** 2]
    kw = dict(cl=[1.0, 0.0], cu=[1.0, np.inf], params=[np.arange(5.0)], options=OPTIONS)
    problem = cc.nlp(f, x, g=g, params=[target], backend="numba")
    for options in (OPTIONS, {**OPTIONS, "hessian_approximation": "limited-memory"}):
        native = problem.solve(np.zeros(5), **{**kw, "options": options}, driver="native")
        reference = cc.nlp(f, x, g=g, params=[target], backend="python").solve(
            np.zeros(5), **{**kw, "options": options}, driver="cyipopt")
        assert native.success and repr(problem).endswith("callbacks: llvm)")
        _same(native, reference, rtol=1e-9)
    assert "hessian" not in native.callback_calls


def test_tensor_ops_unrolled():
    """Reshape, a constant matrix product, strided slices, concatenation, exp, sin, tanh and a
    quotient, with a matrix parameter: the llvm route's solve is cyipopt's on NumPy."""
    x, p = cc.Tensor("x", (6,)), cc.Tensor("p", (2, 3))
    a = np.arange(12.0).reshape(4, 3) / 10
    f = (cc.sum(cc.exp(0.1 * cc.reshape(x, (2, 3))) * p) + cc.sum((a @ x[:3]) ** 2) + cc.sum(cc.sin(x[::2]))
         + cc.sum(1 / (1 + x ** 2)))
    g = [cc.sum(cc.concatenate([x[:2], x[4:]]) ** 2), x[0] * x[5] - cc.tanh(x[2])]
    kw = dict(lb=-2.0, ub=3.0, cl=[1.0, -1.0], cu=[4.0, 1.0], params=[np.arange(6.0).reshape(2, 3) / 5],
              options=OPTIONS)
    problem = cc.nlp(f, x, g=g, params=[p], backend="numba")
    native = problem.solve(np.full(6, 0.3), **kw, driver="native")
    reference = cc.nlp(f, x, g=g, params=[p], backend="python").solve(np.full(6, 0.3), **kw, driver="cyipopt")
    assert repr(problem).endswith("callbacks: llvm)") and native.success
    _same(native, reference, rtol=1e-9)


@pytest.mark.parametrize("case", ["maximum", "where", "where of a reshape, reversed"])
def test_conditions_on_tensors_unrolled(case):
    """Tensors of comparisons (``cc.where``, the derivative of ``cc.maximum``) on the llvm route:
    the same iterates as cyipopt on NumPy, to the last bit."""
    x = cc.Tensor("x", (4,))
    square = cc.reshape(x, (2, 2))
    f = {"maximum": cc.sum(cc.maximum(x, 0.5) ** 2) + cc.sum((x - 2) ** 2),
         "where": cc.sum((x - 2) ** 2 * cc.where(x > 0, 1.0, 2.0)),
         "where of a reshape, reversed": cc.sum(cc.where(square > 0, square ** 2, 0.0)[::-1]) + cc.sum((x - 1) ** 2),
         }[case]
    kw = dict(lb=-2.0, ub=3.0, options=OPTIONS)
    problem = cc.nlp(f, x, backend="numba")
    native = problem.solve(np.full(4, 0.3), **kw, driver="native")
    reference = cc.nlp(f, x, backend="python").solve(np.full(4, 0.3), **kw, driver="cyipopt")
    assert repr(problem).endswith("callbacks: llvm)") and native.success
    _same(native, reference, rtol=1e-12)
    assert np.array_equal(native.x, reference.x)


def test_nan_gives_ipopts_status_and_the_points(hs071_routes):
    llvm, numba = (_solve(hs071_routes[r], HS071, params=[-1.0], driver="native") for r in ("llvm", "numba"))
    cy = _solve(hs071_routes["llvm"], HS071, params=[-1.0], driver="cyipopt")
    assert llvm.status == numba.status == cy.status < 0 and not llvm.success
    assert [w for w, _ in llvm.nonfinite] == [w for w, _ in numba.nonfinite] and llvm.nonfinite[0][0] == "objective"
    assert_allclose(llvm.nonfinite[0][1], cy.nonfinite[0][1], rtol=1e-15)
    assert len(llvm.nonfinite) <= 10 and llvm.callback_calls == numba.callback_calls


def test_a_user_callback_stops_the_llvm_route(hs071_routes):
    seen: dict = {"llvm": [], "numba": []}
    for route, values in seen.items():
        def stop(iteration, objective, **stats):
            values.append(objective)
            return iteration < 2
        result = _solve(hs071_routes[route], HS071, params=[1.0], callback=stop, driver="native")
        assert result.status == 5 and result.iterations == 2 and len(values) == 3  # IPOPT's User_Requested_Stop
    assert seen["llvm"] == seen["numba"] and all(np.isfinite(seen["llvm"]))


def test_callbacks_time_themselves(hs071_routes):
    result = _solve(hs071_routes["llvm"], HS071, params=[1.0], driver="native")
    assert set(result.callback_seconds) == {"objective", "gradient", "constraints", "jacobian", "hessian"}
    assert all(0 < s < result.solve_seconds for s in result.callback_seconds.values())
    assert all(0 < result.callback_first_seconds[k] <= s for k, s in result.callback_seconds.items())


def test_what_the_llvm_route_refuses_goes_to_numba():
    x = cc.Tensor("x", (3,))
    special = cc.nlp(cc.sum(cc.gamma(x + 2.0)), x, backend="numba")
    key, _, why, _ = llvm_route(special, {"objective": (special.objective_fn, "value")}, _no_jacobian(), None)
    assert key is None and "gamma" in why
    with pytest.raises(UnsupportedError, match="llvm route cannot"):
        native_callbacks(special, True, route="llvm")
    wavy = cc.nlp(cc.sum(cc.real(cc.exp(1j * x))) + cc.sum(x ** 2), x, backend="numba")
    kernels = {"objective": (wavy.objective_fn, "value")}
    assert "complex" in llvm_route(wavy, kernels, _no_jacobian(), None).why
    with pytest.raises(ValueError, match="route must be one of"):
        native_callbacks(special, True, route="vm")


def test_the_route_chosen_by_the_environment(monkeypatch):
    hs = PROBLEMS["hs035"]
    monkeypatch.setenv("COMPILER_IPOPT_ROUTE", "llvm")
    problem = hs.nlp("numba")
    assert native_callbacks(problem, True).route == "llvm"
    monkeypatch.setenv("COMPILER_IPOPT_ROUTE", "cuda")
    with pytest.raises(ArgumentError, match="COMPILER_IPOPT_ROUTE must be one of"):
        native_callbacks(hs.nlp("numba"), True)


def test_a_failure_of_the_llvm_route_falls_back_to_numba(hs071_routes, monkeypatch):
    """Whatever goes wrong on the llvm route (here: LLVM given broken text) leaves the Numba route,
    with a warning naming the failure, and the same solve."""
    from compiler.runtime.ipopt import native_llvm
    broken = native_llvm.Route(f"never cached {os.getpid()} {id(monkeypatch)}", lambda: "define broken", "", 1)
    monkeypatch.setattr(native_llvm, "prepare", lambda *args: broken)
    x, p = cc.Tensor("x", (4,)), cc.Symbol("p")
    items = [x[i] for i in range(4)]
    problem = cc.nlp(p * HS071.f(items) + cc.log(p), x, g=HS071.g(items), params=[p], backend="numba")
    with pytest.warns(RuntimeWarning, match="llvm route failed.*parsing"):
        assert native_callbacks(problem, True).route == "numba"
    with pytest.raises(RuntimeError, match="parsing"):
        native_callbacks(cc.nlp(HS071.f(items), x, g=HS071.g(items), backend="numba"), True, route="llvm")
    ours = _solve(problem, HS071, params=[1.0], driver="native")
    assert np.array_equal(ours.x, _solve(hs071_routes["numba"], HS071, params=[1.0], driver="native").x)


def test_a_large_unroll_is_refused(monkeypatch):
    monkeypatch.setattr(llvm_ipopt, "MAX_UNROLLED", 2)
    problem = PROBLEMS["hs071"].nlp("numba")
    key, _, why, _ = llvm_route(problem, {"objective": (problem.objective_fn, "value")}, _no_jacobian(), None)
    assert key is None and "unroll" in why and "up to 2" in why


def _no_jacobian():
    from compiler.runtime.ipopt.driver import Derivative
    empty = np.zeros(0, int)
    return Derivative(empty, empty, [], empty)


def test_the_key_is_the_structure():
    """Equal problems give one key; another constant, another key (the text is never printed for it)."""
    def key(c):
        x = cc.Tensor("x", (2,))
        problem = cc.nlp((x[0] - c) ** 2 + x[1] ** 2, x, backend="numba")
        return llvm_route(problem, {"objective": (problem.objective_fn, "value")}, _no_jacobian(), None)[0]
    assert key(1.0) == key(1.0) != key(2.0)
    assert key(1.0) != key(1.0 + 2 ** -52)


_FRESH = """
import sys, time
sys.path.insert(0, {root!r})
import compiler as cc
from compiler.bench.hock_schittkowski import PROBLEMS
hs = PROBLEMS["hs071"]
t0 = time.perf_counter()
problem = hs.nlp({backend!r})
result = problem.solve(list(hs.x0), **hs.bounds(), options={{"tol": 1e-8}}, driver={driver!r})
print("cyipopt" in sys.modules, repr(problem), result.iterations, repr(result.fun), "numba" in sys.modules,
      time.perf_counter() - t0)
"""


def test_a_cached_fresh_process_starts_no_numba(tmp_path):
    """The second process finds the callbacks' object code in the disk cache: no Numba, same answer."""
    env = {**os.environ, "COMPILER_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-I", "-c", _FRESH.format(root=ROOT, backend=backend, driver=driver)],
                           env=env, capture_output=True, text=True, timeout=120)
            for backend, driver in (("numba", "native"), ("numba", "native"), ("auto", "auto"))]
    for run in runs:
        assert run.returncode == 0, run.stderr
    first, second, auto = (run.stdout.split() for run in runs)  # [cyipopt?, ..., "llvm)", iterations, f, numba?, s]
    assert second[-5] == "llvm)" and first[-4:-2] == second[-4:-2]
    assert second[-2] == "False"  # numba not imported
    # "auto" finds the cached callbacks before it would import cyipopt (and scipy.optimize: ~0.45 s)
    assert auto[-5] == "llvm)" and auto[-4:-2] == second[-4:-2] and auto[0] == "False" and auto[-2] == "False"
    assert float(second[-3]) == pytest.approx(HS071.optimum, rel=1e-7)
