"""Escape hatches suite: what ``cc.extern``, ``cc.custom_jvp`` and ``cc.root`` cost beside
the code one would write by hand.

    python -m compiler bench escape [--quick]

Cases, each a paired ratio over interleaved repeats (medians, compile excluded):

* ``extern``: a user's ``numba.njit`` function of two scalars (and its gradient)
  called through ``cc.extern`` over a batch of 10^6 points, beside a hand-written
  ``njit`` loop calling the same function (one thread each: a batch that calls a
  user's function runs on one thread, so that its exceptions are raised). Target: 1x.
  The same through the llvm target (``numba.cfunc`` called by address from the vector batch,
  lane by lane), on one thread too (``one_thread``);
* ``custom_jvp``: ``log1pexp(x) * y`` with a custom jvp rule, value and gradient over
  10^6 points, beside the same expression written inline. Target: 1x;
* ``root``: Kepler's equation solved by ``cc.root`` (``max_iter=10``) over 10^5
  parameter sets, beside a hand-written Numba Newton loop (10 iterations at most,
  stopping at the same tolerance; ``prange`` as the generated batch). Target: within 1.5x.
"""

from __future__ import annotations

import math

import numba
import numpy as np

import compiler as cc

from .common import MismatchError, Row, first_call, measure, one_thread

SUITE = "escape"
POINTS = 1_000_000
ROOT_POINTS = 100_000
NEWTON_STEPS = 10
TOL = 1e-10


@numba.njit
def bump(x, y):
    return math.exp(-x * x) * math.sin(y) + x * y


@numba.njit
def bump_grad(x, y):
    e = math.exp(-x * x)
    return (-2.0 * x * e * math.sin(y) + y, e * math.cos(y) + x)


@numba.njit
def _by_hand(xs, ys, out):
    for i in range(xs.shape[0]):
        out[i] = bump(xs[i], ys[i])


@numba.njit
def _by_hand_grad(xs, ys, out, gx, gy):
    for i in range(xs.shape[0]):
        out[i] = bump(xs[i], ys[i])
        gx[i], gy[i] = bump_grad(xs[i], ys[i])


@numba.njit(parallel=True)
def _kepler_by_hand(es, ms, out):
    for i in numba.prange(es.shape[0]):
        e, m = es[i], ms[i]
        E = m
        ok = False
        for _ in range(NEWTON_STEPS):
            r = E - e * math.sin(E) - m
            if abs(r) <= TOL:
                ok = True
                break
            E -= r / (1.0 - e * math.cos(E))
        if not ok:
            ok = abs(E - e * math.sin(E) - m) <= TOL
        out[i] = E if ok else np.nan


def check_close(what: str, reference, candidate, rtol: float) -> None:
    """Raise ``MismatchError`` unless the arrays agree to ``rtol`` (of the largest magnitude), nan
    where the other has nan (a solve that did not converge)."""
    reference, candidate = np.asarray(reference, dtype=float), np.asarray(candidate, dtype=float)
    scale = np.nanmax(np.abs(reference))
    if reference.shape != candidate.shape or not np.all(np.isclose(candidate, reference, rtol=0, atol=rtol * scale,
                                                                   equal_nan=True)):
        raise MismatchError(f"{what}: the methods disagree beyond a relative {rtol:g}")


def steps(quick: bool) -> int:
    return 3


def _row(case: str, method: str, timing, size: int, ready: float | None, note: str = "", **extra) -> Row:
    return Row(SUITE, case, method, timing.median, size, ready, timing.spread, note, extra)


def run(quick: bool, progress) -> list[Row]:
    repeats, min_time = (3, 0.1) if quick else (7, 0.3)
    points, root_points = (POINTS // 10, ROOT_POINTS // 10) if quick else (POINTS, ROOT_POINTS)
    rng = np.random.default_rng(0)
    xs, ys = rng.uniform(-2, 2, points), rng.uniform(-2, 2, points)
    x, y, e, m = cc.symbols("x y e m")
    rows = []

    # a user's function, through cc.extern and by hand
    Q = cc.extern(bump, grad=bump_grad)
    fn = cc.compile(Q(x, y), [x, y], backend="numba")
    native = cc.compile(Q(x, y), [x, y], backend="llvm")
    out, gx, gy = np.empty(points), np.empty(points), np.empty(points)
    _, ready = first_call(fn.value_and_grad, xs, ys)
    first_call(fn, xs, ys)
    _, native_ready = first_call(native.value_and_grad, xs, ys)
    first_call(native, xs, ys)
    _by_hand(xs, ys, out)
    _by_hand_grad(xs, ys, out, gx, gy)
    for name, f in (("numba", fn), ("llvm", native)):
        check_close(f"extern value ({name})", out, f(xs, ys), 1e-15)
        check_close(f"extern gradient ({name})", np.array([gx, gy]), np.array(f.value_and_grad(xs, ys)[1]), 1e-15)
    with one_thread():
        t = measure({"cc.extern value": lambda: fn(xs, ys), "njit loop value": lambda: _by_hand(xs, ys, out),
                     "cc.extern (llvm) value": lambda: native(xs, ys),
                     "cc.extern value and gradient": lambda: fn.value_and_grad(xs, ys),
                     "cc.extern (llvm) value and gradient": lambda: native.value_and_grad(xs, ys),
                     "njit loop value and gradient": lambda: _by_hand_grad(xs, ys, out, gx, gy)}, repeats, min_time)
    case = f"extern: exp(-x^2) sin(y) + x y, {points:,} points"
    for what in ("value", "value and gradient"):
        for method, ready_s in ((f"cc.extern {what}", ready), (f"cc.extern (llvm) {what}", native_ready)):
            ratio = t[method].ratio_to(t[f"njit loop {what}"])
            rows.append(_row(case, method, t[method], points, ready_s,
                             f"{ratio:.2f}x the hand-written loop (target 1x)", ratio=ratio))
        rows.append(_row(case, f"njit loop {what}", t[f"njit loop {what}"], points, None))
    progress()

    # a custom jvp rule against the same expression inline
    @cc.custom_jvp
    def log1pexp(v):
        return cc.log(1.0 + cc.exp(v))

    @log1pexp.defjvp
    def _(primals, tangents):
        return log1pexp(primals[0]), tangents[0] * (1.0 - 1.0 / (1.0 + cc.exp(primals[0])))
    custom = cc.compile(log1pexp(x) * y, [x, y], backend="numba")
    inline = cc.compile(cc.log(1.0 + cc.exp(x)) * y, [x, y], backend="numba")
    _, ready = first_call(custom.value_and_grad, xs, ys)
    first_call(inline.value_and_grad, xs, ys)
    check_close("custom_jvp gradient", np.array(inline.value_and_grad(xs, ys)[1]),
                np.array(custom.value_and_grad(xs, ys)[1]), 1e-13)
    t = measure({"custom_jvp": lambda: custom.value_and_grad(xs, ys),
                 "inline": lambda: inline.value_and_grad(xs, ys)}, repeats, min_time)
    case = f"custom_jvp: log1pexp(x) y, value and gradient, {points:,} points"
    ratio = t["custom_jvp"].ratio_to(t["inline"])
    rows.append(_row(case, "custom_jvp rule", t["custom_jvp"], points, ready,
                     f"{ratio:.2f}x the inline expression (target 1x)", ratio=ratio))
    rows.append(_row(case, "inline expression", t["inline"], points, None))
    progress()

    # Newton's method in compiled code against a hand-written loop
    E = cc.root(lambda E, e, m: E - e * cc.sin(E) - m, m, e, m, max_iter=NEWTON_STEPS, tol=TOL)
    solve = cc.compile(E, [e, m], backend="numba")
    es, ms = rng.uniform(0.0, 0.9, root_points), rng.uniform(-3.0, 3.0, root_points)
    sol = np.empty(root_points)
    _, ready = first_call(solve, es, ms)
    _kepler_by_hand(es, ms, sol)
    check_close("root", sol, solve(es, ms), 1e-9)  # (cc.root polishes a converged point with one more step)
    t = measure({"cc.root": lambda: solve(es, ms), "njit Newton": lambda: _kepler_by_hand(es, ms, sol)},
                repeats, min_time)
    case = f"root: Kepler's equation, {NEWTON_STEPS} Newton steps at most, {root_points:,} parameter sets"
    ratio = t["cc.root"].ratio_to(t["njit Newton"])
    rows.append(_row(case, "cc.root", t["cc.root"], root_points, ready,
                     f"{ratio:.2f}x the hand-written Newton loop (target 1.5x)", ratio=ratio))
    rows.append(_row(case, "njit Newton loop", t["njit Newton"], root_points, None))
    grad_ready = first_call(solve.value_and_grad, es, ms)[1]
    t = measure({"g": lambda: solve.value_and_grad(es, ms)}, repeats, min_time)
    rows.append(_row(case, "cc.root value and gradient (IFT)", t["g"], root_points, grad_ready))
    progress()
    return rows
