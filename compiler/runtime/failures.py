"""Failures a value cannot name: a custom function whose evaluation failed (an ``odeint`` out of
steps) gives ``nan``; after a one-point call that returned ``nan``, its status says why.

Takes: a compiled function whose graph holds custom functions with a ``failure`` body
(``ir.custom.Rule``: ``[code, ...]``, code 0 when fine). Gives: its one-point calls
(``fn(...)``, ``value_and_grad``, ``grad``) warn with ``IntegrationWarning`` when the
value holds ``nan`` and a status says a solve failed, naming the failure and the time
reached. The success path pays one ``nan`` test of the value; the status is computed by a
function of its own (compiled as ``fn`` is, on the first failure), never in the kernel.
Batches do not warn: ``odeint(..., full_output=True)`` gives the status per point.

>>> import warnings, compiler as cc
>>> k = cc.Symbol("k")
>>> fn = cc.compile(cc.odeint(lambda y, t, k: k * y * y, 1.0, [0.0, 2.0], k)[1], [k], backend="python")
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     value = fn(1.0)                          # y' = y^2 blows up at t = 1
>>> value, caught[0].category.__name__
(nan, 'IntegrationWarning')
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import ir
from ..errors import IntegrationWarning


def watched(order: list) -> list:
    """The custom nodes of a graph (in topological order) that report failures."""
    return [n for n in order if n.op == "custom" and n.params[0].failure is not None]


class Watched:
    """Mixed into ``CompiledFunction`` (``watch``): one-point calls check for failures."""

    def __call__(self, *args, reduce=None):
        value = super().__call__(*args, reduce=reduce)
        if reduce is None:
            check(self, args, value)
        return value


_types: dict[type, type] = {}


def _watched_type(base: type) -> type:
    """``base`` with ``Watched`` mixed in (one class per base, named as it is)."""
    if base not in _types:
        _types[base] = type(base.__name__, (Watched, base), {"__doc__": base.__doc__, "__module__": base.__module__})
    return _types[base]


def watch(fn) -> None:
    """Make ``fn``'s one-point calls report failures (its class gains ``Watched``; its
    ``value_and_grad`` and ``grad``, closures in the instance, are wrapped)."""
    if not isinstance(fn, Watched):
        fn.__class__ = _watched_type(type(fn))
    fast = fn.value_and_grad

    def value_and_grad(*args, reduce=None):
        result = fast(*args, reduce=reduce)
        if reduce is None:
            check(fn, args, result[0])
        return result

    def grad(*args, reduce=None):
        return value_and_grad(*args, reduce=reduce)[1]
    for new, old in ((value_and_grad, fast), (grad, fn.grad)):
        new.__doc__, new.__qualname__ = old.__doc__, old.__qualname__
        setattr(new, "__signature__", fn._signature)  # help() shows the inputs
        setattr(fn, old.__name__, new)


def _has_nan(value) -> bool:
    """Whether ``value`` (a float, an array, a tuple of them) holds nan, cheaply: an array's sum is
    nan (or inf - inf: then the status is computed and says nothing failed). Anything else (a
    Dask result of a batch) is not looked at."""
    if isinstance(value, float):
        return value != value
    if type(value) is np.ndarray:
        return math.isnan(value.sum())
    if type(value) is tuple:
        return any(_has_nan(v) for v in value)
    return False


def _one_point(fn, args: tuple) -> bool:
    return len(args) == len(fn.inputs) and all(np.ndim(a) == len(n.shape) for a, n in zip(args, fn.inputs))


def check(fn, args: tuple, value) -> None:
    """Warn for each failed solve when a one-point ``value`` holds ``nan`` (measured: about 2 us
    a call when it does not, on a value of 300 entries)."""
    if not _has_nan(value) or not _one_point(fn, args):
        return
    for message in reports(fn, args):
        warnings.warn(message, IntegrationWarning, stacklevel=3)


def reports(fn, args: tuple) -> list[str]:
    """What failed at this point: one sentence per failed custom function of ``fn``."""
    nodes = fn.__dict__.get("_watched") or []
    if not nodes:
        return []
    status = _status_function(fn, nodes)
    values = status(*args)
    out = []
    for node, value in zip(nodes, values):
        entries = [float(v) for v in np.ravel(value)]
        code = int(entries[0]) if math.isfinite(entries[0]) else 0
        if code <= 0:
            continue
        rule = node.params[0]
        what = rule.failure_text[code].format(*entries) if code < len(rule.failure_text) else f"status {code}"
        out.append(f"{rule.name} failed: {what}; its outputs are nan from there (pass full_output=True to "
                   "odeint for the status as a value, per point in batches)")
    return out


def _status_function(fn, nodes: list):
    """The failure bodies of ``nodes`` on their arguments, as one function of ``fn``'s inputs
    (a tuple, one array per node), compiled as ``fn`` is and kept with it."""
    with fn._lock:
        kept = fn.__dict__.setdefault("_derived", {})
        if "failure status" not in kept:
            from .function import CompiledFunction
            bodies = [ir.substitute([n.params[0].failure], dict(zip([p.id for p in n.params[0].inputs], n.args)))[0]
                      for n in nodes]
            kept["failure status"] = CompiledFunction(bodies, fn.inputs, [], fn.requested_backend, many=True,
                                                      title="failure status", progress=False)
        return kept["failure status"]
