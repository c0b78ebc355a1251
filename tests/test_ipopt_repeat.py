"""Repeat native solves (``optimize.repeat``): what a problem's first native solve keeps must never
change an answer or an error. The oracle of each check is the full path, reached by the same call
with a ``callback`` given (which the repeat path leaves to it), or cyipopt for changed bounds.
"""

import threading

import numpy as np
import pytest
from numpy.testing import assert_allclose

import compiler as cc
from compiler.bench.hock_schittkowski import PROBLEMS
from compiler.errors import ArgumentError, ShapeError
from compiler.optimize.native import ROUTE_ENV
from compiler.runtime.ipopt import library

pytestmark = pytest.mark.skipif(not library.find_library().ok, reason="no libipopt (the solvers extra)")

HS071 = PROBLEMS["hs071"]
OPTIONS = {"tol": 1e-8}
FIELDS = ("x", "g", "mult_g", "mult_x_L", "mult_x_U")


@pytest.fixture(scope="module")
def hs071():
    """HS071 with its objective ``p * f + log(p)``, as in tests/test_ipopt_native.py (whose
    compiled kernels load from the disk cache), solved once natively: its repeat path is made."""
    x, p = cc.Tensor("x", (4,)), cc.Symbol("p")
    items = [x[i] for i in range(4)]
    problem = cc.nlp(p * HS071.f(items) + cc.log(p), x, g=HS071.g(items), params=[p], backend="numba")
    problem.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], driver="native")
    assert problem.__dict__.get("_repeat") is not None
    return problem


def _full(problem, *args, **kw):
    """The same solve through the full path (a callback sends it there)."""
    return problem.solve(*args, **kw, callback=lambda *a, **k: True)


def _same(a, b) -> None:
    assert (a.status, a.iterations, a.fun) == (b.status, b.iterations, b.fun)
    for name in FIELDS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.callback_calls == b.callback_calls and a.nonfinite == b.nonfinite == []


def test_repeat_solves_equal_the_full_path_after_any_change(hs071):
    """Parameters, bounds (given as lists, tuples, arrays or scalars, or left out) and options
    changed between solves, each compared to the full path's answer to the last bit."""
    x0 = list(HS071.x0)
    b = HS071.bounds()
    calls = [dict(params=[1.0], options=OPTIONS, **b),
             dict(params=[2.5], options=OPTIONS, **b),
             dict(params=[2.5], options={**OPTIONS, "hessian_approximation": "limited-memory"}, **b),
             dict(params=[1.0], options=OPTIONS, lb=np.ones(4), ub=5.0, cl=np.array([25.0, 40.0]), cu=b["cu"]),
             dict(params=[1.0], options=OPTIONS, **{**b, "ub": (4.5, 4.5, 4.5, 4.5)}),
             dict(params=[1.0], options={"tol": 1e-8, "max_iter": 4}, **b),
             dict(params=np.array([1.0]), **b),
             dict(params=[1.0], cl=b["cl"], cu=b["cu"]),
             dict(params=[1.0], options=OPTIONS, **b)]
    for kw in calls:
        repeat = hs071.solve(x0, **kw)
        _same(repeat, _full(hs071, x0, **kw))
        _same(hs071.solve(np.array(x0), **kw), repeat)
        _same(hs071.solve(tuple(x0), **kw), repeat)
    ints = hs071.solve([1, 5, 5, 1], params=[1.0], options=OPTIONS, **b)  # (HS071's x0 in integers)
    _same(ints, _full(hs071, x0, params=[1.0], options=OPTIONS, **b))
    limited = hs071.solve(x0, params=[1.0], options={**OPTIONS, "hessian_approximation": "limited-memory"}, **b)
    assert "hessian" not in limited.callback_calls and limited.status == 0


@pytest.mark.parametrize("kind", [np.array, list])
def test_bounds_changed_in_place_are_read_again(hs071, kind):
    """Bounds (an array, a list) changed after a solve: the next solve sees (and checks) its new values."""
    b = HS071.bounds()
    ub = kind([5.0] * 4)
    loose = hs071.solve(list(HS071.x0), **{**b, "ub": ub}, params=[1.0], options=OPTIONS)
    ub[1] = 4.5
    tight = hs071.solve(list(HS071.x0), **{**b, "ub": ub}, params=[1.0], options=OPTIONS)
    cy = hs071.solve(list(HS071.x0), **{**b, "ub": ub}, params=[1.0], options=OPTIONS, driver="cyipopt")
    assert tight.x[1] == pytest.approx(4.5, abs=1e-7) and tight.fun > loose.fun
    assert tight.iterations == cy.iterations and tight.fun == pytest.approx(cy.fun, rel=1e-12)
    ub[2] = 0.5  # below lb = 1
    with pytest.raises(ArgumentError, match=r"lb > ub at index 2: 1.0 > 0.5"):
        hs071.solve(list(HS071.x0), **{**b, "ub": ub}, params=[1.0], options=OPTIONS)


@pytest.mark.parametrize("change, error, match", [
    (dict(x0=[1.0, np.nan, 5.0, 1.0]), ArgumentError, r"x0 must be finite, got nan at index 1"),
    (dict(x0=np.array([1.0, 5.0, np.inf, 1.0])), ArgumentError, r"x0 must be finite, got inf at index 2"),
    (dict(x0=[1.0, 5.0, 5.0]), ShapeError, r"x0 must be a flat vector of 4 entries"),
    (dict(x0=[1.0, 5.0, 5.0, -np.inf]), ArgumentError, r"x0 must be finite, got -inf at index 3"),
    (dict(x0=[1.0, 5.0, 5.0, [1.0]]), ArgumentError, r"x0 must be real numbers"),
    (dict(x0=np.ones((2, 2))), ShapeError, r"x0 must be a flat vector of 4 entries"),
    (dict(x0=[1.0, 5.0, 5.0, 1j]), ArgumentError, r"x0 must be real numbers"),
    (dict(x0=np.ma.masked_array(np.ones(4))), ArgumentError, r"x0 must be real numbers, got MaskedArray"),
    (dict(x0=["1", "5", "5", "1"]), ArgumentError, r"x0 must be real numbers"),
    (dict(lb=np.array([1.0, np.nan, 1.0, 1.0])), ArgumentError, r"lb contains NaN at index 1"),
    (dict(lb=[1.0, 1.0, 6.0, 1.0]), ArgumentError, r"lb > ub at index 2"),
    (dict(lb=[1.0, np.nan, 1.0, 1.0]), ArgumentError, r"lb contains NaN at index 1"),
    (dict(lb=np.nan), ArgumentError, r"lb contains NaN at index 0"),
    (dict(ub=(5.0, 5.0, 5.0, 1j)), ArgumentError, r"ub must be real numbers"),
    (dict(ub=[5.0, 5.0, 5.0, [5.0]]), ArgumentError, r"ub must be real numbers"),
    (dict(ub=[5.0, 5.0]), ShapeError, r"ub has shape \(2,\); expected a scalar or 4 entries"),
    (dict(cl=[25.0, np.inf]), ArgumentError, r"cl is inf at index 1"),
    (dict(cu=[np.inf, -np.inf]), ArgumentError, r"cu is -inf at index 1"),
    (dict(cl=np.array([25.0, 40.0, 1.0])), ShapeError, r"cl has shape \(3,\)"),
    (dict(params=[]), ArgumentError, r"expected 1 parameter value\(s\) \(p\), got 0"),
    (dict(params=[np.nan]), ArgumentError, r"parameter 'p' \(position 1 of params\) must be finite"),
    (dict(params=[[1.0, 2.0]]), ShapeError, r"parameter 'p' \(position 1 of params\) has shape \(\)"),
    (dict(options={"tol": [1e-8]}), ArgumentError, r"must be a str, int or float"),
    (dict(options={"no_such_option": 1}), ArgumentError, r"no_such_option"),
])
def test_every_mistake_is_refused_on_the_repeat_path(hs071, change, error, match):
    """Each mistake after a good solve: the same error as the full path gives, and the next
    good solve is unharmed."""
    good = dict(x0=list(HS071.x0), **HS071.bounds(), params=[1.0], options=OPTIONS)
    before = hs071.solve(**good)
    with pytest.raises(error, match=match):
        hs071.solve(**{**good, **change})
    with pytest.raises(error, match=match):
        _full(hs071, **{**good, **change})
    _same(hs071.solve(**good), before)


def test_an_option_of_the_wrong_type_is_refused_after_the_right_one(hs071):
    """``max_iter`` 3 and 3.0 compare equal, but IPOPT takes an integer only."""
    res = hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options={"max_iter": 3})
    assert res.iterations == 3 and res.status == -1
    with pytest.raises(ArgumentError, match=r"IPOPT refused the option max_iter=3.0"):
        hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options={"max_iter": 3.0})


def test_huge_finite_x0_is_accepted(hs071):
    res = hs071.solve([1e308, 1e308, 1.0, 1.0], **HS071.bounds(), params=[1.0], options={**OPTIONS, "max_iter": 1})
    assert res.iterations <= 1


def test_results_never_share_memory_with_the_inputs_or_other_results(hs071):
    x0 = np.array(HS071.x0, dtype=np.float64)
    first = hs071.solve(x0, **HS071.bounds(), params=[1.0], options=OPTIONS)
    second = hs071.solve(x0, **HS071.bounds(), params=[1.0], options=OPTIONS)
    assert np.array_equal(x0, HS071.x0)  # (the start is copied, not written to)
    for name in FIELDS:
        assert not np.shares_memory(getattr(first, name), getattr(second, name)), name
        assert not np.shares_memory(getattr(first, name), x0), name
    assert np.array_equal(first.x, second.x)


def test_a_changed_environment_takes_the_full_path_again(hs071, monkeypatch):
    monkeypatch.setenv(ROUTE_ENV, "nonsense")
    with pytest.raises(ArgumentError, match=r"COMPILER_IPOPT_ROUTE must be one of"):
        hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options=OPTIONS)


def test_solves_in_threads_at_once_agree(hs071):
    """Two threads solving the same problem: each takes a block and an IPOPT problem of its own
    when the other holds the kept ones."""
    expected = hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options=OPTIONS)
    out: list = []

    def work():
        for _ in range(5):
            out.append(hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options=OPTIONS))
    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == 10
    for res in out:
        _same(res, expected)
    assert_allclose(expected.fun, HS071.optimum, rtol=1e-7)
