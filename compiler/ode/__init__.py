"""ODEs inside the graph: ``odeint(rhs, y0, t, *params)``, adaptive and stiff, with forward sensitivities.

Takes: a right-hand side ``rhs(y, t, *params)`` built from expressions (traced
once), the initial state, the output times and the parameters.
Gives: one ``custom`` node (``ir.custom``) of shape ``(len(t),) + y0.shape``.
Its value is the whole adaptive solve as loops in the generated code
(``solvers``: Dormand–Prince 5(4) with dense output, or Rodas4 with the exact
Jacobian); its derivative rule is the forward sensitivities ``S = d y / d theta``
(``theta``: the non-constant parameters' entries, and y0 when it, or t, is not
constant), the solution of ``S' = J S + f_theta``, ``S(t_0) = d y0 / d theta``,
solved with ``y`` as one augmented ``odeint`` (error control on ``S`` too, as
CVODES does), and contracted with the incoming adjoint:
``theta_bar = sum_k S_k^T Y_bar_k``. That rule is itself an ``odeint``, so a
second derivative recurses (``derivatives=2``).

>>> import compiler as cc
>>> k = cc.Symbol("k")
>>> y = cc.odeint(lambda y, t, k: -k * y, 1.0, [0.0, 1.0], k)
>>> fn = cc.compile(y[1], [k], backend="python")
>>> round(fn(0.5), 8), round(fn.grad(0.5)[0], 7)    # exp(-k), -exp(-k)
(0.60653066, -0.6065307)
"""

from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from .. import ir
from ..errors import ShapeError, TracingError, UnsupportedError
from ..frontend import (concatenate, expand_dims, logical_not, logical_or, maximum, reshape, scan,
                        stop_gradient, where)
from ..frontend import sum as asum
from ..ir import Node
from ..ir.custom import Rule, custom
from ..ir.special import NoDerivative
from ..optimize.root import _solve as dense_solve
from . import solvers
from .system import System, as_state, entries, vector

METHODS = ("auto", "dopri5", "rodas4")
DEFAULT_MAX_STEPS = 100_000
STIFF = 1000.0  # "auto": stiff when the span holds more than this many of the fastest initial time scale
_depth = threading.local()


def odeint(rhs: Callable, y0, t, *params, method: str = "auto", rtol: float = 1e-8, atol: float = 1e-10,
           max_steps: int = DEFAULT_MAX_STEPS, derivatives: int = 1, full_output: bool = False):
    """The solution of ``y' = rhs(y, t, *params)``, ``y(t[0]) = y0``, at the times ``t``: an
    expression of shape ``(len(t),) + y0.shape`` whose derivatives with respect to ``y0``,
    ``t`` and ``params`` are the forward sensitivities (``derivatives``: the highest order
    available; 2 for Hessians). ``method``: ``"dopri5"`` (Dormand–Prince 5(4)), ``"rodas4"``
    (stiff: Rosenbrock with the exact Jacobian) or ``"auto"`` (Rodas4 if stiff at the start,
    else Dormand–Prince until its stiffness test trips, then Rodas4). A failed solve gives ``nan``
    from the failure on; ``full_output=True`` returns ``(y, info)`` with ``info =
    [status, attempted steps]`` (status 0 ok, see ``solvers.STATUS``); a one-point call of a
    compiled function whose solve failed warns (``cc.IntegrationWarning``).

    >>> import compiler as cc
    >>> a = cc.Symbol("a")
    >>> y = cc.odeint(lambda y, t, a: cc.stack([y[1], -a * y[0]]), cc.stack([1.0, 0.0]), [0.0, 1.0, 2.0], a)
    >>> y.shape
    (3, 2)
    """
    return _odeint(rhs, y0, t, params, method, rtol, atol, max_steps, derivatives, full_output, 0)


def _odeint(rhs, y0, t, params, method, rtol, atol, max_steps, derivatives, full_output, block: int):
    """``odeint``; ``block`` > 0: the system is a sensitivity system whose Jacobian is block lower
    triangular with ``block x block`` blocks, the diagonal ones all equal (``_block_solve``)."""
    if method not in METHODS:
        raise ValueError(f"odeint: method must be one of {METHODS}, got {method!r}")
    for what, v in (("rtol", rtol), ("atol", atol)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or not np.isfinite(v):
            raise ValueError(f"odeint: {what} must be a positive number, got {v!r}")
    for what, v in (("max_steps", max_steps), ("derivatives", derivatives)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < (1 if what == "max_steps" else 0):
            raise ValueError(f"odeint: {what} must be a{' positive' if what == 'max_steps' else ' non-negative'} "
                             f"int, got {v!r}")
    y0 = as_state(y0, _shape_of(y0), "y0")
    if len(y0.shape) > 1 or (y0.shape and y0.shape[0] < 1):
        raise UnsupportedError(f"odeint: the state is a scalar or a 1-D vector (flatten a matrix of states); "
                               f"y0 has shape {y0.shape}")
    times = _times(t)
    args = [ir.as_node(p, f"parameter {k} of odeint") for k, p in enumerate(params)]
    depth = getattr(_depth, "value", 0) + 1
    _depth.value = depth
    try:
        rule, info = _rule(rhs, y0, times, args, method, float(rtol), float(atol), int(max_steps),
                           derivatives, depth, block)
    finally:
        _depth.value = depth - 1
    node = custom(rule, [y0, times, *args])
    if not full_output:
        return node
    mapping = {p.id: a for p, a in zip(rule.inputs, [y0, times, *args])}
    return node, stop_gradient(ir.substitute([info], mapping)[0])


def _shape_of(y0) -> tuple:
    if isinstance(y0, (tuple, list)):
        return (len(y0),)
    return ir.as_node(y0, "y0").shape


def _times(t) -> Node:
    """The output times as a 1-D node; constant ones must increase strictly (checked here)."""
    if not isinstance(t, Node):
        values = np.asarray(t, dtype=float)
        if values.ndim != 1 or values.size < 1:
            raise ShapeError(f"odeint: t must be a 1-D array of output times, got shape {values.shape}")
        if not np.all(np.isfinite(values)):
            raise ValueError("odeint: the output times t must be finite")
        if np.any(np.diff(values) <= 0):
            k = int(np.argmax(np.diff(values) <= 0))
            raise ValueError(f"odeint: the output times must increase strictly; t[{k}] = {values[k]!r} and "
                             f"t[{k + 1}] = {values[k + 1]!r}")
        return ir.constant(values)
    if len(t.shape) != 1 or t.shape[0] < 1 or t.dtype != "float":
        raise ShapeError(f"odeint: t must be a 1-D tensor of output times, got shape {t.shape}")
    return t


def _rule(rhs, y0: Node, times: Node, args: list[Node], method: str, rtol, atol, max_steps, derivatives, depth,
          block):
    tag = f"<odeint#{depth}"  # by depth alone: the same solve gets the same names (and cache key) in every process
    y0p = ir.symbol(f"{tag} y0>", y0.shape)
    tp = ir.symbol(f"{tag} t>", times.shape)
    ps = [ir.symbol(f"{tag} p{k}>", a.shape) for k, a in enumerate(args)]
    system = System(rhs, y0.shape, [a.shape for a in args], tag)
    outside = [n.name for n in ir.free_symbols(system.f) if n.id not in {p.id for p in system.placeholders()}]
    if outside:
        raise TracingError(f"odeint: rhs reads {outside} from outside its arguments; pass them as params "
                           "(odeint(rhs, y0, t, *params)) so the solution's derivatives include them")
    n_times = times.shape[0]
    y_start = entries(y0p)
    if n_times == 1:
        primal, failure = expand_dims(y0p, 0), ir.constant(np.zeros(3))
    else:
        primal, failure = _solve(system, y_start, tp, ps, method, rtol, atol, max_steps, block)
    info = vector([failure[0], failure[2]], (2,))  # full_output's [status, attempted steps]
    if depth > derivatives:
        message = (f"odeint: this solve was built with derivatives={derivatives} (derivatives of higher order "
                   "trace further sensitivity systems); pass a larger derivatives= to odeint")
        cotangents = tuple(NoDerivative(message) for _ in range(2 + len(args)))
        return Rule("odeint", (y0p, tp, *ps), primal, g=ir.symbol(f"{tag} g>", primal.shape),
                    cotangents=cotangents, failure=failure,
                    failure_text=solvers.FAILURE_TEXT), info
    g = ir.symbol(f"{tag} g>", primal.shape)
    out = ir.symbol(f"{tag} out>", primal.shape)
    cotangents = _sensitivity_rule(rhs, system, y0, times, args, y0p, tp, ps, g, out, method, rtol, atol,
                                   max_steps, derivatives)
    return Rule("odeint", (y0p, tp, *ps), primal, g=g, cotangents=cotangents, output=out, failure=failure,
                failure_text=solvers.FAILURE_TEXT), info


def _solve(system: System, y_start, tp, ps, method, rtol, atol, max_steps, block):
    """The primal body: the solution rows (T, ...) and [status, time reached, attempted steps]."""
    f = lambda y, t: system(y, t, ps)  # noqa: E731

    def rodas(skip=None, start=None, y=y_start):
        solve = (lambda a, b: _block_solve(a, b, block)) if block else _linear_solve
        m = solvers.Rodas4(f, lambda y, t: system.linearize(y, t, ps), solve)
        return solvers.drive(m, f, y, tp, rtol, atol, max_steps, skip=skip, start=start)
    if method == "dopri5":
        ys, head, _ = solvers.drive(solvers.DormandPrince(f), f, y_start, tp, rtol, atol, max_steps)
    elif method == "rodas4":
        ys, head, _ = rodas()
    else:
        # "auto": Rodas4 from the start where the initial test says stiff; else Dormand–Prince,
        # which stops where its stiffness test trips (status 6), and Rodas4 goes on from its state
        jac, _ = system.linearize(y_start, tp[0], ps)
        norm = _max([_sum_abs(row) for row in jac])
        stiff = norm * abs(tp[tp.shape[0] - 1] - tp[0]) > STIFF
        ys_d, head_d, y_d = solvers.drive(solvers.DormandPrince(f), f, y_start, tp, rtol, atol, max_steps,
                                          skip=stiff, switch=True)
        handed = logical_or(stiff, head_d[4] >= 6.0)  # (skipped: Dormand–Prince left y0 at t_0 as it was)
        ys_r, head_r, _ = rodas(skip=logical_not(handed), start=head_d[0], y=y_d)
        targets = expand_dims(tp[1:], 1) if system.shape else tp[1:]
        ys = where(targets > where(handed, head_d[0], np.inf), ys_r, ys_d)  # Rodas4's rows: after the hand-over
        head = [where(handed, a, b) for a, b in zip(head_r, head_d)]
        head[3] = head_d[3] + head_r[3]  # the attempted steps of both
    y0row = expand_dims(vector(y_start, system.shape), 0)
    return concatenate([y0row, ys], axis=0), vector([head[4], head[0], head[3]], (3,))


def _sum_abs(row):
    total = abs(row[0])
    for v in row[1:]:
        total = total + abs(v)
    return total


def _max(values):
    best = values[0]
    for v in values[1:]:
        best = maximum(best, v)
    return best


def _linear_solve(a, b):
    """``a^-1 b`` for lists of entries: ``cc.root``'s (Cramer's rule up to 3 unknowns, else LU)."""
    return dense_solve(a, b)


def _block_solve(a, b, m: int):
    """``a^-1 b`` for the matrix of a sensitivity system, ``[[D, 0, ...], [L_1, D, 0, ...], ...]``
    (``D = I/(gamma h) - J``, ``L_j`` from ``d (J s_j + f_theta_j) / d y``; every other block is
    zero): by blocks, ``x_0 = D^-1 b_0``, ``x_j = D^-1 (b_j - L_j x_0)``, each a small solve with
    ``D`` (CVODES's staggered corrector does the same). Exact: only the known zeros are skipped."""
    d = [row[:m] for row in a[:m]]
    x0 = _linear_solve(d, b[:m])
    out = list(x0)
    for j in range(1, len(b) // m):
        rows = range(j * m, (j + 1) * m)
        rhs = [b[i] - sum(a[i][c] * x0[c] for c in range(m)) for i in rows]
        out += _linear_solve(d, rhs)
    return out


def _sensitivity_rule(rhs, system, y0, times, args, y0p, tp, ps, g, out, method, rtol, atol, max_steps,
                      derivatives):
    """The vjp rule: per argument, ``sum_k S_k^T g_k`` from the augmented solve (None for constants)."""
    n = len(system.f)
    diff_params = [k for k, a in enumerate(args) if a.op != "const"]
    want_y0 = y0.op != "const" or times.op != "const"
    widths = [int(np.prod(args[k].shape)) for k in diff_params]
    n_p = sum(widths)
    n_theta = n_p + (n if want_y0 else 0)
    if n_theta == 0 and times.op == "const":
        return tuple([None] * (2 + len(args)))
    # constants stay constants in the augmented solve (its own sensitivities skip them)
    start = y0p if y0.op != "const" else y0
    params = [p if a.op != "const" else a for p, a in zip(ps, args)]
    cot_y0 = cot_p = None
    flat_g = reshape(g, (times.shape[0], n))
    if n_theta:
        s0 = [0.0] * (n * n_theta)
        if want_y0:
            for i in range(n):
                s0[(n_p + i) * n + i] = 1.0  # S is stored by columns: S[i][j] at j * n + i
        aug_y0 = vector(entries(start) + [ir.constant(v) for v in s0], (n + n * n_theta,))

        def augmented(big, t, *qs):
            values = entries(big)
            y, s = values[:n], values[n:]
            jac, _ = system.linearize(y, t, list(qs))
            f_q = system.param_jacobian(y, t, list(qs), diff_params) if diff_params else [[] for _ in range(n)]
            fy = system(y, t, list(qs))
            ds = []
            for j in range(n_theta):
                for i in range(n):
                    v = f_q[i][j] if j < n_p else 0.0
                    for m in range(n):
                        v = v + jac[i][m] * s[j * n + m]
                    ds.append(v)
            return vector(fy + ds, (n + n * n_theta,))
        solution = _odeint(augmented, aug_y0, tp, params, method, rtol, atol, max_steps, derivatives, False, n)
        sens = reshape(solution[:, n:], (times.shape[0], n_theta, n))
        theta_bar = asum(expand_dims(flat_g, 1) * sens, axis=(0, 2))
        cot_p, at = [], 0
        for k, w in zip(diff_params, widths):
            piece = theta_bar[at] if not args[k].shape else reshape(theta_bar[at:at + w], args[k].shape)
            cot_p.append((k, piece))
            at += w
        if want_y0:
            phi_bar = theta_bar[n_p:]
            cot_y0 = phi_bar if y0.shape else phi_bar[0]
    cotangents = [cot_y0 if y0.op != "const" else None, None] + [None] * len(args)
    for k, piece in cot_p or []:
        cotangents[2 + k] = piece
    if times.op != "const":
        cotangents[1] = _time_cotangent(system, y0p, tp, ps, flat_g, out, cot_y0, n)
    return tuple(cotangents)


def _time_cotangent(system, y0p, tp, ps, flat_g, out, cot_y0, n):
    """``t_bar``: ``g_k . f(Y_k, t_k)`` for k >= 1 (an output time moves its row along the
    solution) and ``-(sum_k>=1 g_k^T Phi_k) f(y0, t_0)`` for t_0 (the start moves every row)."""
    rows = reshape(out, (tp.shape[0], n))

    def along(c, x):
        row, time, gk = x
        fk = system(entries(row), time, ps)
        total = gk[0] * fk[0]
        for i in range(1, n):
            total = total + gk[i] * fk[i]
        return c, total
    _, moved = scan(along, 0.0, xs=(rows, tp, flat_g))
    f0 = system(entries(y0p), tp[0], ps)
    phi_bar = entries(cot_y0) if n > 1 else [cot_y0]
    start = -sum((phi_bar[i] - flat_g[0, i]) * f0[i] for i in range(n))
    return concatenate([expand_dims(start, 0), moved[1:]], axis=0)
