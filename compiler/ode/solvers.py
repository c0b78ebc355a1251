"""The adaptive integrators as IR: one step of Dormand–Prince 5(4) or of Rodas4, and the loop that drives them.

Everything here works on lists of scalar nodes (the state's entries): the
generated loop body is straight-line scalar code, with no array made per step.
The driver is two loops (``drive``):

* an outer ``scan`` over the output times ``t[1:]``, whose ``ys`` are the
  solution there, and
* inside it, a ``fori_loop`` of at most ``max_steps`` attempted steps that
  stops (``Body.until``: the generated loop ``break``s) once the state has
  reached the output time or the solve has failed.

The carry is ``(t, h, err_old, steps, status, rejected, *y, *f(y), *dense)``, and
``stiff, calm`` at its end with ``switch``:
Dormand–Prince steps past an output time and interpolates there with its dense
output (``dense`` holds the last accepted step's start, size and 5 polynomial
coefficients per entry);
Rodas4 shortens the step that would pass it and lands on it (no ``dense``).

``status``: 0 ok, 1 ``max_steps`` attempted steps used up, 2 step size below
the floor ``16 eps max(|t|, |t_end - t_0|)`` (non-finite stages shrink the step
until this), 3 the initial state or its derivative not finite, 6 handed over
(``switch``: Dormand–Prince found the problem stiff). From a failure on, the
state is ``nan``.

Stiffness detection (``switch``, for ``method="auto"``) is Hairer's test of
dopri5.f, at every accepted step (dopri5.f's default: every 1000th until one
trips): ``h |f(y_1) - f(y_s)| / |y_1 - y_s|`` (``y_s``
the sixth stage, also at ``t + h``) estimates ``h |lambda|`` of the dominant
eigenvalue; above ``STIFF_RATIO`` (3.25, the edge of the method's stability
region on the negative real axis) the step size is held by stability, not
accuracy. ``stiff`` counts such steps, reset after 6 in a row that are not;
at ``STIFF_TRIPS`` (15) the solve stops with status 6 and its state, so that
Rodas4 goes on from there (``ode._solve``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .. import ir
from ..frontend import fori_loop, logical_and, logical_not, logical_or, maximum, minimum, scan, sqrt, stack, where
from ..ir import Node

STATUS = {0: "ok", 1: "max_steps attempted steps used up", 2: "step size fell below the floor",
          3: "the initial state or its derivative is not finite", 4: "not run (\"auto\" chose the other method)",
          5: "the output times do not increase (or are not finite)",
          6: "handed over (\"auto\": Dormand–Prince found the problem stiff, Rodas4 goes on)"}
# what a one-point call's IntegrationWarning says per status, of the failure body [status, t, steps]
FAILURE_TEXT = ("", "max_steps was used up ({2:.0f} attempted steps) at t = {1:.6g}: raise max_steps, or use "
                "method=\"rodas4\" if the problem is stiff",
                "the step size fell below its floor at t = {1:.6g} (a singularity, or a state or derivative that "
                "is not finite there)",
                "the initial state or its derivative is not finite (t = {1:.6g})", "not run",
                "the output times do not increase or are not finite (the solve had reached t = {1:.6g})",
                "handed over to rodas4 at t = {1:.6g}")
FLOOR = 16 * np.finfo(float).eps  # the smallest step, relative to the time span and to |t|
HEAD = 6  # t, h, err_old, steps, status, rejected
STIFF_RATIO = 3.25  # h |lambda| above which a Dormand–Prince step is limited by stability (dopri5.f)
STIFF_TRIPS = 15  # such steps (without 6 calm ones in a row between them) before "auto" hands over (dopri5.f)

# Dormand–Prince 5(4) (Hairer, Nørsett & Wanner, Solving ODEs I, II.5; dopri5.f): nodes, stages,
# the error weights (5th minus 4th order) and Shampine's dense output
DP_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
DP_A = ((), (1 / 5,), (3 / 40, 9 / 40), (44 / 45, -56 / 15, 32 / 9),
        (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
        (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
        (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84))
DP_E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)
DP_D = (-12715105075 / 11282082432, 0.0, 87487479700 / 32700410799, -10690763975 / 1880347072,
        701980252875 / 199316789632, -1453857185 / 822651844, 69997945 / 29380423)

# Rodas4 (Hairer & Wanner, Solving ODEs II, IV.7; the form of rodas.f): W = I/(gamma h) - J,
# W k_i = f(t + alpha_i h, y + sum_j a_ij k_j) + sum_j c_ij k_j / h + h gamma_i f_t
RO_GAMMA = 0.25
RO_ALPHA = (0.0, 0.386, 0.21, 0.63, 1.0, 1.0)
RO_GAMMAS = (0.25, -0.1043, 0.1035, -0.3620000000000023e-01, 0.0, 0.0)
RO_A = ((), (1.544,), (0.9466785280815826, 0.2557011698983284),
        (3.314825187068521, 2.896124015972201, 0.9986419139977817),
        (1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950),
        (1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 1.0))
RO_C = ((), (-5.6688,), (-2.430093356833875, -0.2063599157091915),
        (-0.1073529058151375, -9.594562251023355, -20.47028614809616),
        (7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160),
        (8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136, -6.058818238834054))
# the new state is the last stage's point plus k_6 (stiffly accurate); k_6 is the error estimate


class Method:
    """One adaptive method: its step, its order (for the controller) and whether it has dense output."""
    name = ""
    order = 5
    dense = False  # whether the step gives dense output (t_old, h and 5 coefficients per entry)


class DormandPrince(Method):
    name, order, dense = "dopri5", 5, True

    def __init__(self, f: Callable):
        self.f = f

    def step(self, t, h, y, fy):
        """(y1, f(y1), the error vector, the dense-output coefficients, the stiffness estimate
        h |lambda|) of one step from (t, y)."""
        k = [fy]
        for s in range(1, 7):
            point = [yi + h * _dot(DP_A[s], [kj[i] for kj in k]) for i, yi in enumerate(y)]
            if s == 5:
                y_s = point  # the sixth stage, at t + h too: Hairer's stiffness test compares it with y1
            k.append(self.f(point, t + DP_C[s] * h))
        y1 = [yi + h * _dot(DP_A[6], [kj[i] for kj in k]) for i, yi in enumerate(y)]
        num = _dot([1.0] * len(y), [(a - b) * (a - b) for a, b in zip(k[6], k[5])])
        den = _dot([1.0] * len(y), [(a - b) * (a - b) for a, b in zip(y1, y_s)])
        ratio = where(den > 0.0, abs(h) * sqrt(num / maximum(den, 1e-300)), 0.0)
        err = [h * _dot(DP_E, [kj[i] for kj in k]) for i in range(len(y))]
        dense = []
        for i, (yi, y1i) in enumerate(zip(y, y1)):
            diff = y1i - yi
            bspl = h * k[0][i] - diff
            dense += [yi, diff, bspl, diff - h * k[6][i] - bspl, h * _dot(DP_D, [kj[i] for kj in k])]
        return y1, k[6], err, [t, h] + dense, ratio

    @staticmethod
    def interpolate(dense, theta):
        """The state at ``t_old + theta h`` from the last step's coefficients."""
        theta1 = 1.0 - theta
        return [r[0] + theta * (r[1] + theta1 * (r[2] + theta * (r[3] + theta1 * r[4])))
                for r in (dense[5 * i:5 * i + 5] for i in range(len(dense) // 5))]


class Rodas4(Method):
    name, order, dense = "rodas4", 4, False

    def __init__(self, f: Callable, linearize: Callable, solve: Callable):
        self.f, self.linearize, self.solve = f, linearize, solve

    def step(self, t, h, y, fy):
        jac, f_t = self.linearize(y, t)
        n = len(y)
        w = [[(1.0 / (RO_GAMMA * h) if i == j else 0.0) - jac[i][j] for j in range(n)] for i in range(n)]
        k: list[list[Node]] = []
        for s in range(6):
            if s == 0:
                fs = fy
            else:
                point = [yi + _dot(RO_A[s], [kj[i] for kj in k]) for i, yi in enumerate(y)]
                fs = self.f(point, t + RO_ALPHA[s] * h)
            rhs = [fs[i] + _dot(RO_C[s], [kj[i] for kj in k]) / h
                   + (h * RO_GAMMAS[s] * f_t[i] if RO_GAMMAS[s] and f_t is not None else 0.0) for i in range(n)]
            k.append(self.solve(w, rhs))
        y1 = [yi + _dot(RO_A[5], [kj[i] for kj in k[:5]]) + k[5][i] for i, yi in enumerate(y)]
        return y1, self.f(y1, t + h), k[5], [], None


def _dot(coefficients, values):
    terms = [c * v for c, v in zip(coefficients, values) if c != 0.0]
    if not terms:
        return 0.0
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _rms(values: list) -> Node:
    return sqrt(_dot([1.0] * len(values), [v * v for v in values]) / len(values))


def _finite(v) -> Node:
    return abs(v) < np.inf


def initial_step(f, t0, y0, f0, span, order, rtol, atol) -> Node:
    """Hairer's starting step (hinit of dopri5.f): from the sizes of y0, f(y0) and an
    estimate of the second derivative, so that the first step's error is about the tolerance."""
    scale = [atol + rtol * abs(y) for y in y0]
    d0 = _rms([y / s for y, s in zip(y0, scale)])
    d1 = _rms([fy / s for fy, s in zip(f0, scale)])
    h0 = where(logical_or(d0 < 1e-5, d1 < 1e-5), 1e-6, 0.01 * d0 / maximum(d1, 1e-300))
    h0 = minimum(h0, span)
    f1 = f([y + h0 * fy for y, fy in zip(y0, f0)], t0 + h0)
    d2 = _rms([(a - b) / s for a, b, s in zip(f1, f0, scale)]) / h0
    big = maximum(d1, d2)
    h1 = where(big <= 1e-15, maximum(1e-6, h0 * 1e-3), (0.01 / maximum(big, 1e-300)) ** (1.0 / (order + 1)))
    h = minimum(minimum(100 * h0, h1), span)
    return where(_finite(h), h, span * 1e-6)


def drive(method: Method, f, y0: list, times: Node, rtol: float, atol: float, max_steps: int,
          skip: Node | None = None, switch: bool = False, start: Node | None = None):
    """The solution at ``times[1:]`` (a node of shape (T-1, n), or (T-1,) for one entry), the
    final carry's head (t, h, err_old, steps, status, ...) and its state, as lists of nodes.
    Where ``skip`` holds, the solve does nothing (status 4: "auto" chose the other method; each
    interval's loop stops at its first test). ``switch``: stop with status 6 where the problem
    turns stiff (the module's docstring). ``start``: the time to start from, with ``y0`` the
    state there (a hand-over; ``times[0]`` by default); output times before it give that state."""
    n = len(y0)
    t0, t_end = times[0], times[times.shape[0] - 1]
    span = abs(t_end - t0)
    if start is not None:
        t0 = start
    f0 = f(y0, t0)
    h0 = initial_step(f, t0, y0, f0, abs(t_end - t0), method.order, rtol, atol)
    ok = _finite(_dot([1.0] * (2 * n), [abs(v) for v in y0 + f0]))
    status0 = where(ok, 0.0, 3.0)
    if skip is not None:
        status0 = where(skip, 4.0, status0)
    zero = ir.constant(0.0)
    dense = [zero] * (5 * n + 2 if method.dense else 0)
    switch = switch and isinstance(method, DormandPrince)  # (the stiffness test is Dormand–Prince's)
    counters = [zero, zero] if switch else []  # only where used: two idle carries cost ~20% of a small solve
    init = tuple([t0, h0, ir.constant(1e-4), zero, status0, zero] + y0 + f0 + dense + counters)

    def interval(carry, x):
        before, target = x
        # output times given as a tensor are checked here (constant ones when the node is built):
        # not increasing, or not finite, is a failure (status 5), never an extrapolated value
        status = where(logical_or(carry[4] > 0.0, logical_not(before < target)),
                       where(carry[4] > 0.0, carry[4], 5.0), 0.0)
        carry = tuple(carry[:4]) + (status,) + tuple(carry[5:])

        def attempt(_, c):
            return _attempt(method, f, c, target, n, rtol, atol, max_steps, span, switch)
        carry = _stopping(fori_loop(0, max_steps, attempt, carry))
        out = _output(method, carry, target, n)
        return carry, (stack(out) if n > 1 else out[0])

    final, ys = scan(interval, init, xs=(times[:-1], times[1:]))
    return ys, list(final[:HEAD]), list(final[HEAD:HEAD + n])


def _attempt(method: Method, f, c, target, n, rtol, atol, max_steps, span, switch):
    """One attempted step: accepted or rejected (error control), the next step size (controller),
    the status; the carry unchanged once the target is reached or the solve failed."""
    t, h, err_old, steps, status, rejected = c[:HEAD]
    y, fy = list(c[HEAD:HEAD + n]), list(c[HEAD + n:HEAD + 2 * n])
    dense = list(c[HEAD + 2 * n:len(c) - 2 if switch else len(c)])
    done = logical_or(status > 0.0, t >= target)
    clip = not method.dense  # no dense output: land on the output time
    h_try = minimum(h, target - t) if clip else h
    y1, f1, err_vec, new_dense, ratio = method.step(t, h_try, y, fy)
    scale = [atol + rtol * maximum(abs(a), abs(b)) for a, b in zip(y, y1)]
    err = _rms([e / s for e, s in zip(err_vec, scale)])
    accept = err <= 1.0  # nan: rejected, and the step shrinks
    # the step-size controller: Hairer's PI controller for Dormand–Prince (beta = 0.04), the
    # classic one (the error's 1/order power) for Rodas4; at most 5x larger (6x) or 5x smaller
    safe_err = where(_finite(err), maximum(err, 1e-10), 1e10)
    if method.dense:
        beta = 0.04
        fac11 = safe_err ** (0.2 - 0.75 * beta)
        grow = minimum(5.0, maximum(0.1, fac11 / err_old ** beta / 0.9))
        h_new = where(accept, h_try / grow, h_try / minimum(5.0, fac11 / 0.9))
    else:
        fac = minimum(6.0, maximum(0.2, 0.9 * safe_err ** (-1.0 / method.order)))
        h_new = h_try * fac
        h_new = where(logical_and(accept, h_try < h), maximum(h_new, h), h_new)  # a shortened step says little
    h_new = where(logical_and(accept, rejected > 0.0), minimum(h_new, h_try), h_new)
    floor = FLOOR * maximum(abs(t), span)
    steps1 = steps + 1.0
    status1 = where(h_new < floor, 2.0, where(steps1 >= max_steps, 1.0, 0.0))
    t1 = where(accept, where(h >= target - t, target, t + h_try) if clip else t + h_try, t)
    status1 = where(logical_and(accept, t1 >= target), 0.0, status1)
    counters = []
    if switch:  # Hairer's stiffness test (module docstring)
        stiff, calm = c[-2:]
        limited = logical_and(accept, ratio > STIFF_RATIO)
        calm = where(limited, 0.0, where(accept, calm + 1.0, calm))
        stiff = where(limited, stiff + 1.0, where(calm >= 6.0, 0.0, stiff))
        # (not on a step that reaches the output time: its interpolated output stays Dormand–Prince's)
        status1 = where(logical_and(stiff >= STIFF_TRIPS, t1 < target), 6.0, status1)
        counters = [stiff, calm]
    new = [t1, h_new, where(accept, maximum(err, 1e-4), err_old), steps1, status1, where(accept, 0.0, 1.0)]
    new += [where(accept, a, b) for a, b in zip(y1 + f1 + new_dense, y + fy + dense)] + counters
    return tuple(where(done, old, value) for old, value in zip(c, new))


def _output(method: Method, c, target, n) -> list:
    """The state at ``target``: the carry's (Rodas4 lands there) or the dense output of the last
    accepted step (Dormand–Prince: ``dense`` is ``[t_old, h, coefficients...]``); nan after a failure."""
    status = c[4]
    y = list(c[HEAD:HEAD + n])
    if method.dense:
        t_old, h_old, coefficients = c[HEAD + 2 * n], c[HEAD + 2 * n + 1], list(c[HEAD + 2 * n + 2:HEAD + 7 * n + 2])
        y = method.interpolate(coefficients, (target - t_old) / h_old)
    return [where(status > 0.0, np.nan, v) for v in y]


def _stopping(carry):
    """The attempts loop's result, its body told that it may stop once done (``Body.until``):
    every carry is ``where(done, old, new)``, so once ``done`` holds nothing changes. The hint
    is ``done`` of the step's new carries: the loop stops right after the step that reaches
    the output time (``done`` of the old ones would cost one more step per interval)."""
    from ..ir import loops
    loop = carry[0].args[0]
    body = loop.params[0]
    step = body.new_carries[0]
    if step.op != "where" or step.args[0].dtype != "bool":
        raise AssertionError("odeint: the attempts loop lost its stopping test")
    done_next = ir.substitute([step.args[0]], {c.id: n for c, n in zip(body.carries, body.new_carries)})[0]
    body = loops.Body(body.carries, body.xs, body.params, body.new_carries, body.ys, body.index, done_next)
    node = loops.scan(body, *loops.operands(loop), *loop.params[1:])
    return tuple(loops.item(node, k) for k in range(len(carry)))
