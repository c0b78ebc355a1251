"""Loops on the llvm target (``codegen.llvm_loops``): values and gradients against the python
backend (the same schedule printed as a NumPy/Python loop), finite differences, SciPy's
``solve_ivp`` and closed forms; what is refused, and what "auto" picks."""

import math

import numpy as np
import pytest

import compiler as cc
from compiler.codegen import llvm, llvm_buffers
from compiler.errors import UnsupportedError
from oracles import fd


def _pair(expr, inputs):
    """The same graph on llvm and on the python backend."""
    return cc.compile(expr, inputs, backend="llvm"), cc.compile(expr, inputs, backend="python")


def _agree(pair, *point, rtol=1e-12, fd_rtol=1e-6):
    fast, ref = pair
    assert fast.backend == "llvm"
    v, g = fast.value_and_grad(*point)
    rv, rg = ref.value_and_grad(*point)
    assert math.isfinite(v) and v == pytest.approx(rv, rel=rtol, abs=1e-300)
    np.testing.assert_allclose(g, rg, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(g, fd(ref, point), rtol=fd_rtol, atol=1e-7)  # an oracle of its own
    assert fast(*point) == pytest.approx(rv, rel=rtol)
    return v, g


a, b = cc.symbols("a b")


def test_scan_with_ys_and_sequences():
    xs = np.linspace(0.0, 1.0, 9)
    (c1, c2), ys = cc.scan(lambda c, x: ((c[0] + a * cc.sin(c[1]) * x, c[1] * b + 0.1), c[0] * c[1]),
                           (0.5, 0.3), xs=xs)
    _agree(_pair(cc.sum(ys ** 2) + c1 * c2, [a, b]), 0.7, 0.9)


def test_reverse_scan_and_sqrt_checkpoints_closed_form():
    # c_{k+1} = a c_k + x_k, visited last to first: a closed form to check against
    xs = np.arange(1.0, 6.0)
    final, _ = cc.scan(lambda c, x: (a * c + x, None), b, xs=xs, reverse=True, checkpoint="sqrt")
    fast, ref = _pair(final * final, [a, b])
    v, _ = _agree((fast, ref), 0.8, 1.5)
    c = 1.5
    for x in xs[::-1]:
        c = 0.8 * c + x
    assert v == pytest.approx(c * c, rel=1e-13)


def test_fori_loop_reads_its_index():
    total = cc.fori_loop(0, 20, lambda i, c: c + cc.cos(i * a) * b, 0.0)
    v, _ = _agree(_pair(total, [a, b]), 0.3, 2.0)
    assert v == pytest.approx(sum(math.cos(i * 0.3) * 2.0 for i in range(20)), rel=1e-13)


def test_nested_scans():
    def outer(c, _):
        inner, ys = cc.scan(lambda d, x: (d * a + x * c, d), c, xs=np.array([0.1, 0.2, 0.3]))
        return inner + cc.sum(ys) * b, inner
    final, ys = cc.scan(outer, 0.5, length=4)
    _agree(_pair(final + cc.sum(ys), [a, b]), 0.6, 0.2)


def test_root_stops_early():
    x = cc.root(lambda x, a: x ** 3 + x - a, 1.0, a)
    v, g = _agree(_pair(x * b, [a, b]), 3.0, 2.0, fd_rtol=1e-5)
    assert v / 2.0 == pytest.approx(1.2134116627622296, rel=1e-12)  # the real root of x^3 + x - 3


def _lv(y, t, a, b, c, d):
    return cc.stack([a * y[0] - b * y[0] * y[1], c * y[0] * y[1] - d * y[1]])


def test_odeint_dopri5_fit():
    from scipy.integrate import solve_ivp
    p = list(cc.symbols("p0 p1 p2 p3 x0 y0"))
    t = np.linspace(0.0, 3.0, 7)
    data = np.column_stack([np.linspace(1, 2, 7), np.linspace(2, 1, 7)])
    Y = cc.odeint(_lv, cc.stack([p[4], p[5]]), t, *p[:4], method="dopri5", rtol=1e-10, atol=1e-10)
    point = (1.0, 0.5, 0.4, 0.9, 1.2, 0.8)
    v, _ = _agree(_pair(cc.sum((Y - data) ** 2), p), *point, rtol=1e-11, fd_rtol=1e-5)
    q = point
    sol = solve_ivp(lambda s, y: [q[0] * y[0] - q[1] * y[0] * y[1], q[2] * y[0] * y[1] - q[3] * y[1]],
                    (0, 3), q[4:], t_eval=t, rtol=1e-12, atol=1e-12, method="DOP853")
    assert v == pytest.approx(np.sum((sol.y.T - data) ** 2), rel=1e-7)


def test_odeint_stiff_rodas4():
    k1, k2, k3 = cc.symbols("k1 k2 k3")

    def rhs(y, t, k1, k2, k3):
        return cc.stack([-k1 * y[0] + k3 * y[1] * y[2], k1 * y[0] - k2 * y[1] ** 2 - k3 * y[1] * y[2],
                         k2 * y[1] ** 2])
    Y = cc.odeint(rhs, cc.stack([1.0, 0.0, 0.0]), [0.0, 10.0], k1, k2, k3, method="rodas4", rtol=1e-8,
                  atol=1e-12)
    _agree(_pair(Y[1, 0] + 1e4 * Y[1, 1], [k1, k2, k3]), 0.04, 3e7, 1e4, rtol=1e-9, fd_rtol=1e-4)


def test_auto_picks_llvm_for_loops_and_numba_stays():
    final, _ = cc.scan(lambda c, _: (c * a + b, None), 1.0, length=5)
    fn = cc.compile(final, [a, b])
    assert fn.backend == "llvm"
    assert fn.value_and_grad(2.0, 1.0) == (63.0, (pytest.approx(129.0), 31.0))
    assert cc.compile(final, [a, b], backend="numba").backend == "numba"  # (not called: no Numba compile)


def test_refused_with_the_backends_that_work():
    v = cc.Tensor("v", (300,))
    final, _ = cc.scan(lambda c, _: (c * a, None), v, length=3)  # a tensor carry of 300 numbers
    with pytest.raises(UnsupportedError, match=r"carries a tensor of shape \(300,\).*256.*'numba'"):
        cc.compile(cc.sum(final), [a, v], backend="llvm")
    assert cc.compile(cc.sum(final), [a, v]).backend == "numba"  # "auto" keeps numba for it
    w = cc.Tensor("w", (2,), dtype="float32")
    small, _ = cc.scan(lambda c, _: (c * a, None), w, length=3)
    with pytest.raises(UnsupportedError, match="float32.*'numba'"):
        cc.compile(cc.sum(small), [a, w], backend="llvm")
    X = cc.Tensor("X", (60_000,))  # a long input: read in place as a loop's xs or summed, never unrolled
    final, _ = cc.scan(lambda c, x: (c * a + x, None), 0.0, xs=X)
    long = cc.compile(final + cc.sum(X), [a, X], wrt=[a])
    assert long.backend == "llvm"
    xs = np.random.default_rng(2).normal(size=60_000)
    c = dc = 0.0
    for x in xs:  # the recurrence and its derivative in a, by hand
        c, dc = 0.5 * c + x, c + 0.5 * dc
    value, (grad,) = long.value_and_grad(0.5, xs)
    assert value == pytest.approx(c + xs.sum(), rel=1e-12) and grad == pytest.approx(dc, rel=1e-12)
    with pytest.raises(UnsupportedError, match=r"'mul' reads input 'X' of shape \(60000,\).*'numba'"):
        cc.compile(final + cc.sum(X * X), [a, X], backend="llvm")
    assert cc.compile(final + cc.sum(X * X), [a, X]).backend == "numba"
    scalar, _ = cc.scan(lambda c, _: (c * a, None), 1.0, length=3)
    with pytest.raises(UnsupportedError, match="vm"):
        cc.compile(scalar, [a], backend="vm")


def test_batch_of_points_matches_one_point_at_a_time():
    final, ys = cc.scan(lambda c, x: (c * a + x * b, c), 1.0, xs=np.arange(5.0))
    fast, ref = _pair(final + cc.sum(ys), [a, b])
    A = np.linspace(0.1, 0.9, 5)
    values, (ga, gb) = fast.value_and_grad(A, 2.0)
    for k, x in enumerate(A):
        v, g = ref.value_and_grad(x, 2.0)
        assert values[k] == pytest.approx(v, rel=1e-14) and (ga[k], gb[k]) == pytest.approx(g, rel=1e-14)


def test_long_loops_stay_loops_and_big_unrolled_tensors_are_refused():
    n = 100_000  # the sum of the ys and its adjoint (one number broadcast) are loops, not 1e5 statements
    final, ys = cc.scan(lambda c, _: (c * a + b, c), 0.0, length=n)
    fn = cc.compile(cc.sum(ys) + final, [a, b], backend="llvm")
    v, g = fn.value_and_grad(0.5, 1.0)
    assert v == pytest.approx(2.0 * n - 4.0 * (1 - 0.5 ** n) + 2.0 * (1 - 0.5 ** n), rel=1e-12)  # c_k = 2 - 2^(1-k)
    np.testing.assert_allclose(g, cc.compile(cc.sum(ys) + final, [a, b], backend="python").grad(0.5, 1.0),
                               rtol=1e-12)
    squares = cc.sum(ys ** 2)  # 1e5 squares outside the loop would be unrolled: refused
    with pytest.raises(UnsupportedError, match=r"'pow' reads a loop's results of shape \(100000,\)"):
        cc.compile(squares, [a, b], backend="llvm")
    with pytest.raises(UnsupportedError, match=r"shape \(100000,\) outside the loops \(op 'mul'\).*50,000"):
        cc.compile(cc.sum(np.arange(n) * final), [a, b], backend="llvm")
    assert cc.compile(squares, [a, b]).backend == "numba"
    with pytest.raises(UnsupportedError, match=r"'getitem' reads a loop's results of shape \(100000,\)"):
        cc.compile(ys[-1], [a, b], backend="llvm")


# --- tensor inputs, outputs and carries (flat in the kernel's ``in`` and ``out``) ---

def _agree_tensors(fast, ref, *point, rtol=1e-12, fd_rtol=1e-6, h=1e-6):
    """Value and gradient (in the first input, a tensor) on llvm and python, and the gradient
    against central differences of the python backend's value."""
    assert fast.backend == "llvm"
    v, (g,) = fast.value_and_grad(*point)
    rv, (rg,) = ref.value_and_grad(*point)
    assert math.isfinite(v) and v == pytest.approx(rv, rel=rtol)
    np.testing.assert_allclose(g, rg, rtol=rtol, atol=1e-12)
    q = np.asarray(point[0], dtype=float)
    fd_g = np.empty_like(q)
    for j in np.ndindex(q.shape):
        step = h * max(1.0, abs(q[j]))
        up, down = q.copy(), q.copy()
        up[j] += step
        down[j] -= step
        fd_g[j] = (ref(up, *point[1:]) - ref(down, *point[1:])) / (2 * step)
    np.testing.assert_allclose(g, fd_g, rtol=fd_rtol, atol=1e-7)
    assert fast(*point) == pytest.approx(rv, rel=rtol)
    return v, g


def test_scan_over_a_tensor_input_with_tensor_params_and_a_tensor_carry():
    q = cc.Tensor("q", (3,))
    data = cc.Tensor("data", (40, 3))  # the scan's xs: read in place, row by row

    def step(state, row):  # state: a (3,) tensor carry
        new = state + 0.05 * cc.stack([q[0] * (state[1] - state[0]), state[0] * (q[1] - state[2]) - state[1],
                                       state[0] * state[1] - q[2] * state[2]])
        return new, cc.sum((new - row) ** 2)
    final, errors = cc.scan(step, cc.stack([1.0, 1.0, 1.0]), xs=data)
    expr = cc.sum(errors) + cc.sum(final * q)
    fast = cc.compile(expr, [q, data], wrt=[q])
    ref = cc.compile(expr, [q, data], wrt=[q], backend="python")
    assert fast.backend == "llvm"  # "auto" picks llvm for tensor inputs and small tensor carries
    rows = np.random.default_rng(1).normal(size=(40, 3))
    _agree_tensors(fast, ref, np.array([10.0, 28.0, 8 / 3]) / 4, rows, fd_rtol=1e-5)
    with pytest.raises(cc.ShapeError, match=r"'data'.*\(40, 3\)"):  # the tensor entry checks shapes
        fast(np.ones(3), np.ones((39, 3)))
    # a batch of parameter sets (the data shared) equals one point at a time
    Q = np.array([[2.5, 7.0, 0.6], [2.0, 6.0, 0.7], [3.0, 5.0, 0.5]])
    values, (grads,) = fast.value_and_grad(Q, rows)
    for k in range(3):
        v, (g,) = ref.value_and_grad(Q[k], rows)
        assert values[k] == pytest.approx(v, rel=1e-12)
        np.testing.assert_allclose(grads[k], g, rtol=1e-11, atol=1e-12)


def test_tensor_output_of_stacked_ys_and_final_tensor_carry():
    q = cc.Tensor("q", (2,))
    final = cc.fori_loop(0, 6, lambda i, c: c * q + i, cc.stack([1.0, 2.0]))  # a (2,) carry and output
    last, ys = cc.scan(lambda c, _: (c * q[0] + q[1], c), 0.5, length=300)  # ys: 300 numbers in memory
    fast = cc.compile([final, ys, last], [q], backend="llvm")
    ref = cc.compile([final, ys, last], [q], backend="python")
    point = np.array([0.9, 0.3])
    for got, want in zip(fast(point), ref(point)):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    c = np.array([1.0, 2.0])
    for i in range(6):  # the closed loop by hand
        c = c * point + i
    np.testing.assert_allclose(fast(point)[0], c, rtol=1e-14)
    one = cc.compile(final, [q], backend="llvm")  # the Jacobian of the tensor carry
    np.testing.assert_allclose(one.jacobian(point)[0], cc.compile(final, [q], backend="python").jacobian(point)[0],
                               rtol=1e-12)


def test_root_early_exit_with_tensor_params():
    q = cc.Tensor("q", (2,))
    x = cc.root(lambda x, a: x ** 3 + x - a, 1.0, q[0])  # a solve that leaves its loop once converged
    expr = x * q[1] + cc.sum(q ** 2)
    fast, ref = cc.compile(expr, [q], wrt=[q]), cc.compile(expr, [q], wrt=[q], backend="python")
    v, g = _agree_tensors(fast, ref, np.array([3.0, 2.0]), fd_rtol=1e-5)
    r = 1.2134116627622296  # the real root of x^3 + x - 3
    assert v == pytest.approx(2 * r + 13.0, rel=1e-12)
    assert g[0] == pytest.approx(2.0 / (3 * r * r + 1) + 6.0, rel=1e-10)  # implicit function: dx/da = 1/(3x^2+1)


def test_odeint_fit_with_a_tensor_of_parameters_and_data():
    from scipy.integrate import solve_ivp
    p, observed = cc.Tensor("p", (6,)), cc.Tensor("observed", (7, 2))
    t = np.linspace(0.0, 3.0, 7)
    Y = cc.odeint(_lv, cc.stack([p[4], p[5]]), t, p[0], p[1], p[2], p[3], method="dopri5", rtol=1e-10, atol=1e-10)
    expr = cc.sum((Y - observed) ** 2)
    fast, ref = cc.compile(expr, [p, observed], wrt=[p]), cc.compile(expr, [p, observed], wrt=[p], backend="python")
    data = np.column_stack([np.linspace(1, 2, 7), np.linspace(2, 1, 7)])
    q = np.array([1.0, 0.5, 0.4, 0.9, 1.2, 0.8])
    v, _ = _agree_tensors(fast, ref, q, data, rtol=1e-11, fd_rtol=1e-5)
    sol = solve_ivp(lambda s, y: [q[0] * y[0] - q[1] * y[0] * y[1], q[2] * y[0] * y[1] - q[3] * y[1]],
                    (0, 3), q[4:], t_eval=t, rtol=1e-12, atol=1e-12, method="DOP853")
    assert v == pytest.approx(np.sum((sol.y.T - data) ** 2), rel=1e-7)


def test_odeint_stiff_with_a_tensor_of_rates_and_a_tensor_output():
    k = cc.Tensor("k", (3,))

    def rhs(y, t, k1, k2, k3):
        return cc.stack([-k1 * y[0] + k3 * y[1] * y[2], k1 * y[0] - k2 * y[1] ** 2 - k3 * y[1] * y[2],
                         k2 * y[1] ** 2])
    Y = cc.odeint(rhs, cc.stack([1.0, 0.0, 0.0]), [0.0, 10.0], k[0], k[1], k[2], method="rodas4", rtol=1e-8,
                  atol=1e-12)
    fast, ref = cc.compile(Y[-1], [k]), cc.compile(Y[-1], [k], backend="python")
    assert fast.backend == "llvm"
    K = np.array([0.04, 3e7, 1e4])
    np.testing.assert_allclose(fast(K), ref(K), rtol=1e-12)
    assert fast(K).sum() == pytest.approx(1.0, rel=1e-9)  # mass is conserved
    (J,) = fast.jacobian(K)
    np.testing.assert_allclose(J, ref.jacobian(K)[0], rtol=1e-9, atol=1e-20)
    h = 1e-6 * K[0]  # d/dk1 by central differences
    np.testing.assert_allclose(J[:, 0], (ref(K + [h, 0, 0]) - ref(K - [h, 0, 0])) / (2 * h), rtol=1e-4, atol=1e-12)


def test_tensors_in_memory_views_elementwise_loops_and_sums(monkeypatch):
    # operands in memory (a tensor input, a loop's stacked ys) of 64 numbers or more stay there:
    # views by strides, elementwise ops and sums over axes as loops (``llvm_buffers``)
    X, w = cc.Tensor("X", (20, 8)), cc.Tensor("w", (8,))
    last, ys = cc.scan(lambda c, row: (c * 0.5 + cc.sum(row * w), row * c), 1.0, xs=X)  # ys: (20, 8)
    parts = [
        cc.sum((X - ys) ** 2 * w, axis=0),                    # broadcast (8,) against (20, 8), sum over rows
        cc.sum(cc.transpose(X)[::2, 1:] * 3.0, axis=1),       # a strided view of the input
        cc.sum(cc.reshape(ys, (10, 16)) * cc.reshape(X, (10, 16)), axis=(0,)),
        cc.sum(cc.concatenate([cc.reshape(w, (1, 8)), ys], axis=0) * cc.sin(last), axis=0),
    ]
    expr = sum(cc.sum(p * p) for p in parts) + last
    fast = cc.compile(expr, [w, X], wrt=[w])
    ref = cc.compile(expr, [w, X], wrt=[w], backend="python")
    rng = np.random.default_rng(3)
    _agree_tensors(fast, ref, rng.normal(size=8) * 0.3, rng.normal(size=(20, 8)), rtol=1e-11, fd_rtol=1e-5)
    plan = fast.plan["value_and_grad"]
    size = llvm.emit(fast.inputs, plan.outputs, plan.statements).text.count("\n")
    monkeypatch.setattr(llvm_buffers, "LOOP_MIN", 10 ** 9)  # every tensor unrolled, as before
    assert size < 0.6 * llvm.emit(fast.inputs, plan.outputs, plan.statements).text.count("\n")
