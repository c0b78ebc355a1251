"""The llvm and vm targets against the python backend, and the on-disk cache of compiled code.

All targets print the same schedule; here every op is checked to give the
same value and gradient in each (a few ulps: libm and NumPy may round
differently), at ordinary points and at nan, inf, signed zeros and
subnormals, for one point and for a batch.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import compiler as cc
from compiler.codegen import llvm as llvm_target
from compiler.ir import ops
from compiler.ir.special import PYTHON_ONLY, SPECIAL as SPECIAL_FUNCTIONS
from compiler.runtime import flat, tiers
from compiler.bench.graphs import random_graph  # noqa: F401 - the workers import it from here

x, y, z = cc.symbols("x y z")
TARGETS = ("llvm", "vm")

# one expression per op (comparisons through where), each with its own output
EXPRESSIONS = []
for _name in ops.SCALAR_OPS:
    _op = ops.OPS[_name]
    if _name in ("const", "var"):
        continue
    if _name in PYTHON_ONLY or _name == "zetac":  # no C function (none now), no derivative (zetac): both
        continue  # in test_special_functions
    if _name == "lambertw":  # W_k(x): the branch k (discrete) is the second operand
        EXPRESSIONS.append(cc.ir.apply(_name, x, 0.0))
    elif _name in SPECIAL_FUNCTIONS and _op.arity > 1:  # the first operands constant: orders and degrees are discrete
        EXPRESSIONS.append(cc.ir.apply(_name, *(2.0, 0.5, 1.5)[:_op.arity - 1], x))  # (jacobi: four)
    elif _name in ops.LOGICAL_OPS:  # conditions of conditions
        EXPRESSIONS.append(cc.where(cc.ir.apply(_name, *(x > y, y <= z)[:_op.arity]), x * y, x - y))
    elif _op.result == "bool":
        EXPRESSIONS.append(cc.where(cc.ir.apply(_name, x, y), x * y, x - y))
    elif _name == "where":
        EXPRESSIONS.append(cc.where(x > z, x * x, y + z))
    else:
        EXPRESSIONS.append(cc.ir.apply(_name, *(x, y, z)[:_op.arity]))

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-310, -1e-310, 1e300, -1e300, 710.0,
           np.inf, -np.inf, np.nan]


def _grid(n=400, seed=1):
    rng = np.random.default_rng(seed)
    pts = rng.choice(SPECIAL, size=(n, 3))
    pts[: n // 2] = rng.uniform(-3, 3, size=(n // 2, 3))
    return pts


def _close(got, want, what):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    same_nan = np.isnan(got) == np.isnan(want)
    with np.errstate(all="ignore"):
        ok = (got == want) | (np.abs(got - want) <= 1e-13 * np.abs(want) + 1e-300) | (np.isnan(got) & np.isnan(want))
    bad = np.argwhere(~(ok & same_nan))
    assert bad.size == 0, f"{what}: first mismatches at {bad[:5].tolist()}: got {got[tuple(bad[0])]}, want {want[tuple(bad[0])]}"


@pytest.fixture(scope="module")
def every_op():
    fns = {b: cc.compile(EXPRESSIONS, [x, y, z], backend=b) for b in ("python",) + TARGETS}
    return fns


@pytest.mark.parametrize("target", TARGETS)
def test_every_op_agrees_with_python_batch(every_op, target):
    pts = _grid()
    X, Y, Z = pts.T.copy()
    v_ref, j_ref = every_op["python"].value_and_grad(X, Y, Z)
    v, j = every_op[target].value_and_grad(X, Y, Z)
    _close(v, v_ref, f"{target} values")
    _close(j, j_ref, f"{target} Jacobian")
    # broadcasting a scalar against arrays
    _close(every_op[target](X, 0.5, Z), every_op["python"](X, 0.5, Z), f"{target} broadcast")


@pytest.mark.parametrize("target", TARGETS)
def test_every_op_agrees_with_python_one_point(every_op, target):
    for p in _grid(40, seed=2):
        v_ref, j_ref = every_op["python"].value_and_grad(*p)
        v, j = every_op[target].value_and_grad(*p)
        _close(v, v_ref, f"{target} values at {p}")
        _close(j, j_ref, f"{target} Jacobian at {p}")


@pytest.fixture(scope="module")
def big():
    f, xs = random_graph(1500)
    return f, xs, cc.compile(f, xs, backend="python")


@pytest.mark.parametrize("target", TARGETS)
def test_large_graph_in_parts(big, target):
    f, xs, ref = big
    fn = cc.compile(f, xs, backend=target)
    plan = fn.module.plan["value_and_grad"]
    assert len(plan.statements) > 2 * llvm_target.CHUNK  # several LLVM parts, values through scratch
    rng = np.random.default_rng(0)
    for p in rng.uniform(-1, 1, size=(3, 8)):
        v, g = fn.value_and_grad(*p)
        v_ref, g_ref = ref.value_and_grad(*p)
        assert abs(v - v_ref) <= 1e-12 * (1 + abs(v_ref))
        np.testing.assert_allclose(g, g_ref, rtol=1e-11, atol=1e-12)
    P = rng.uniform(-1, 1, size=(8, 300))
    v, g = fn.value_and_grad(*P)
    v_ref, g_ref = ref.value_and_grad(*P)
    np.testing.assert_allclose(v, v_ref, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(np.array(g), np.array(g_ref), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("target", TARGETS)
def test_hessian_and_several_outputs(target):
    f = [cc.sin(x) * y + x ** 2 * z, cc.exp(-x * y) + cc.log1p(z * z)]
    fn, ref = cc.compile(f, [x, y, z], backend=target), cc.compile(f, [x, y, z], backend="python")
    np.testing.assert_allclose(fn.hessian(0.3, -1.2, 2.0), ref.hessian(0.3, -1.2, 2.0), rtol=1e-13)
    v, j = fn.value_and_grad(0.3, -1.2, 2.0)
    assert isinstance(v, tuple) and j.shape == (2, 3)
    X = np.linspace(-1, 1, 7)
    h = fn.hessian(X, 0.5, X)
    assert h.shape == (7, 2, 3, 3)
    np.testing.assert_allclose(h, ref.hessian(X, 0.5, X), rtol=1e-13)


def test_auto_picks_llvm_for_scalars_and_lowered_tensors(big):
    assert cc.compile(x * y, [x, y]).backend == "llvm"
    f, xs, _ = big
    fn = cc.compile(f, xs)
    assert fn.backend == "llvm" and fn.requested_backend == "auto"
    W = cc.Tensor("W", (2,))
    assert cc.compile(cc.sum(W * W), [W]).backend == "llvm"  # tensors of the ops llvm lowers (llvm_tensor)
    assert cc.compile(cc.sum(cc.take(W, [1, 0])), [W]).backend == "numba"  # the others


@pytest.mark.parametrize("target", TARGETS)
def test_bad_arguments_still_checked(target):
    fn = cc.compile(cc.sin(x) * y, [x, y], backend=target)
    with pytest.raises(TypeError, match="expected 2 argument"):
        fn(1.0)
    with pytest.raises(TypeError, match="'y'"):
        fn(1.0, "a")
    with pytest.raises(ValueError, match="shape"):
        fn(np.ones(3), np.ones(4))


# --- the on-disk cache of compiled code, across processes ---

_WORKER = textwrap.dedent("""
    import json, sys, numpy as np, compiler as cc
    from compiler.runtime import llvm as llvm_target
    sys.path.insert(0, {tests!r})
    from test_targets import random_graph
    if {forbid_compile}:
        def refuse(*a, **k):
            raise AssertionError("compiled although the cache holds this function")
        llvm_target.compile_objects = refuse
    f, xs = random_graph(600)
    fn = cc.compile(f, xs, backend={backend!r})
    v, g = fn.value_and_grad(*np.linspace(-1, 1, 8))
    hits = None
    if {backend!r} == "numba":
        disp = fn._code.load("value_and_grad")["value_and_grad"]
        hits = sum(disp.stats.cache_hits.values())
    print(json.dumps([v, list(g), hits]))
""")


def _worker(tmp_path, backend, forbid_compile=False):
    env = dict(os.environ, COMPILER_CACHE_DIR=str(tmp_path / "cache"))
    code = _WORKER.format(tests=os.path.dirname(__file__), forbid_compile=forbid_compile, backend=backend)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def _run_worker(tmp_path, backend, forbid_compile=False):
    out = _worker(tmp_path, backend, forbid_compile)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_llvm_second_process_loads_from_cache(tmp_path):
    first = _run_worker(tmp_path, "llvm")
    entries = list((tmp_path / "cache").rglob("*.o"))
    assert entries, "no object file was cached"
    assert _run_worker(tmp_path, "llvm", forbid_compile=True) == first
    # a truncated entry fails its hash check: it is not loaded but compiled again
    for p in entries:
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
    refused = _worker(tmp_path, "llvm", forbid_compile=True)
    assert refused.returncode != 0 and "compiled although" in refused.stderr
    assert _run_worker(tmp_path, "llvm") == first
    assert _run_worker(tmp_path, "llvm", forbid_compile=True) == first


def test_numba_second_process_loads_from_cache(tmp_path):
    v1, g1, hits1 = _run_worker(tmp_path, "numba")
    v2, g2, hits2 = _run_worker(tmp_path, "numba")
    assert (v1, g1) == (v2, g2)
    assert hits1 == 0 and hits2 >= 1


def test_progress_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("COMPILER_PROGRESS", "1")
    assert flat.progress_bar(3, "x", enabled=False) is None
    bar = flat.progress_bar(3, "x", enabled=True)
    assert bar is not None and bar.delay == 1.0  # shown only past a second
    bar.close()
    monkeypatch.setenv("COMPILER_PROGRESS", "0")
    assert flat.progress_bar(3, "x", enabled=True) is None


# --- "auto": the Python interpreter answers first calls while the compiled code is made ---

@pytest.fixture
def interpreted_only(monkeypatch):
    """Compiled functions of backend "auto" that never leave the interpreter."""
    monkeypatch.setattr(tiers, "COMPILE_AFTER_SECONDS", math.inf)


def test_interpreter_agrees_with_python_on_every_op(every_op, interpreted_only):
    fn = cc.compile(EXPRESSIONS, [x, y, z])
    for p in _grid(120, seed=3):
        v_ref, j_ref = every_op["python"].value_and_grad(*p)
        v, j = fn.value_and_grad(*p)
        _close(v, v_ref, f"interpreter values at {p}")
        _close(j, j_ref, f"interpreter Jacobian at {p}")
        _close(fn(*p), every_op["python"](*p), f"interpreter value-only at {p}")
    assert not fn.ready  # all of it was interpreted


def test_interpreter_never_raises_where_math_would():
    # each of these raises in Python's math module; NumPy semantics give nan/inf
    cases = [(cc.log(x), -1.0, float("nan")), (1.0 / x, 0.0, float("inf")), (-1.0 / x, 0.0, float("-inf")),
             (cc.exp(x), 1000.0, float("inf")), (x ** 0.5, -4.0, float("nan")), (x ** y, 0.0, float("inf")),
             (cc.sin(x), float("inf"), float("nan")), (cc.asin(x), 2.0, float("nan")),
             (cc.cosh(x), 1000.0, float("inf")), (cc.log1p(x), -1.0, float("-inf"))]
    for expr, at, want in cases:
        fn = cc.compile(expr, [x, y])
        got = fn(at, -1.0)
        assert (np.isnan(got) and np.isnan(want)) or got == want, (expr, at, got)
        assert not fn.ready


def test_auto_interprets_first_then_switches_to_compiled_code(big, monkeypatch):
    f, xs, ref = big
    fn = cc.compile(f, xs)  # llvm once compiled
    p = list(np.linspace(-1, 1, 8))
    monkeypatch.setattr(tiers, "COMPILE_AFTER_SECONDS", math.inf)
    first = fn.value_and_grad(*p)
    assert not fn.ready and not fn._tiers.compiling  # calls under the threshold compile nothing
    monkeypatch.setattr(tiers, "COMPILE_AFTER_SECONDS", 0.0)
    fn.value_and_grad(*p)
    assert "value_and_grad" in fn._tiers.compiling  # past the threshold, a call starts the compile
    assert fn.wait() is fn and fn.ready
    compiled = fn.value_and_grad(*p)
    np.testing.assert_allclose(compiled[1], first[1], rtol=1e-13, atol=1e-15)
    assert compiled[0] == pytest.approx(first[0], rel=1e-14)
    v_ref, g_ref = ref.value_and_grad(*p)
    np.testing.assert_allclose(compiled[1], g_ref, rtol=1e-11, atol=1e-12)


def test_auto_batches_use_compiled_code_at_once():
    fn = cc.compile(cc.sin(x) * y, [x, y])
    X = np.linspace(0, 1, 5)
    v, (gx, gy) = fn.value_and_grad(X, 2.0)
    np.testing.assert_allclose(v, np.sin(X) * 2.0, rtol=1e-15)
    assert fn.wait().ready


def test_failed_background_compile_warns_and_keeps_interpreting(monkeypatch):
    fn = cc.compile(cc.tanh(x) * y, [x, y])
    monkeypatch.setattr(tiers, "COMPILE_AFTER_SECONDS", 0.0)

    def broken(role, progress=None):
        raise RuntimeError("simulated compiler failure")
    monkeypatch.setattr(fn._code, "kernel", broken)
    with pytest.warns(RuntimeWarning, match="simulated compiler failure"):
        fn(0.5, 2.0)
        fn(0.5, 2.0)
        fn._tiers.compiling["value"].join()
    assert fn(0.5, 2.0) == pytest.approx(np.tanh(0.5) * 2.0, rel=1e-15)  # still right, interpreted
    with pytest.raises(RuntimeError, match="simulated"):
        fn.wait()


def test_exit_during_background_compile_is_clean(tmp_path):
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        import compiler as cc
        from test_targets import random_graph
        f, xs = random_graph(4000)
        fn = cc.compile(f, xs)
        assert fn.backend == "llvm"
        cc.runtime.tiers.COMPILE_AFTER_SECONDS = 0.0
        fn.value_and_grad(*[0.1] * 8)   # starts compiling 4+ LLVM parts in the background
        time.sleep(0.2)
        print("exiting", flush=True)
    """)
    env = dict(os.environ, COMPILER_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "exiting" and "Traceback" not in out.stderr


@pytest.mark.parametrize("backend", ["python", "numba", "llvm", "vm", "auto"])
def test_a_list_of_one_output_gives_a_1_tuple_on_every_backend(backend):
    """A list of one expression is several outputs: the same forms as llvm/vm and the interpreter
    give (python and numba used to return the bare value, so "auto" changed form once compiled)."""
    a, b = cc.symbols("a b")
    fn = cc.compile([a * b - 1.0], [a, b], backend=backend)
    assert fn(2.0, 3.0) == (5.0,)
    value, jac = fn.value_and_grad(2.0, 3.0)
    assert value == (5.0,) and np.asarray(jac).tolist() == [[3.0, 2.0]]
    batch = fn(np.array([1.0, 2.0]), 3.0)
    assert isinstance(batch, tuple) and len(batch) == 1 and batch[0].tolist() == [2.0, 5.0]


@pytest.mark.parametrize("backend", ["python", "numba", "llvm", "vm"])
def test_sign_of_minus_zero_is_plus_zero_everywhere(backend):
    """NumPy's np.sign(-0.0) is 0.0; Numba's (the numba kernels and the vm's interpreter) was -0.0,
    which atan2 turned into -pi (found by test_fuzz)."""
    x = cc.Symbol("x")
    fn = cc.compile(cc.atan2(cc.sin(cc.sign(x)), cc.sign(x)), [x], backend=backend)
    assert fn(-0.0) == 0.0 and fn(np.array([-0.0, 0.0])).tolist() == [0.0, 0.0]
    assert not np.signbit(cc.compile(cc.sign(x), [x], backend=backend)(-0.0))
