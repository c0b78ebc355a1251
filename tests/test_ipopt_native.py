"""The native IPOPT driver (C callbacks calling the compiled kernels) against the cyipopt path,
CasADi + IPOPT and the published optima of Hock and Schittkowski's problems; the library choice.

One problem is compiled for the quick tier (HS071 with a parameter, shared by a module fixture:
its kernels and callbacks compile once); the collection and van der Pol run in the slow tier.
"""

import os
import time

import numpy as np
import pytest
from numpy.testing import assert_allclose

import compiler as cc
from compiler.bench.hock_schittkowski import PROBLEMS
from compiler.errors import ArgumentError, SolverNotFoundError
from compiler.optimize.native import native_callbacks
from compiler.runtime.ipopt import library

pytestmark = pytest.mark.skipif(not library.find_library().ok, reason="no libipopt (the solvers extra)")

HS071 = PROBLEMS["hs071"]
OPTIONS = {"tol": 1e-8}


def _hs071_scaled(backend: str):
    """HS071 with its objective ``p * f + log(p)``: p = 1 is HS071 itself, p = -1 makes every
    objective value NaN, p = 2 doubles it (the same minimiser)."""
    x, p = cc.Tensor("x", (4,)), cc.Symbol("p")
    items = [x[i] for i in range(4)]
    return cc.nlp(p * HS071.f(items) + cc.log(p), x, g=HS071.g(items), params=[p], backend=backend)


@pytest.fixture(scope="module")
def hs071():
    problem = _hs071_scaled("numba")
    problem.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], driver="native")  # compiles once
    return problem


def _both(problem, **kw):
    args = dict(x0=list(HS071.x0), **HS071.bounds(), params=[1.0], options=OPTIONS)
    args.update(kw)
    return problem.solve(**args, driver="native"), problem.solve(**args, driver="cyipopt")


def test_same_optimum_and_iterations_as_cyipopt(hs071):
    native, cy = _both(hs071)
    assert native.status == cy.status == 0 and native.message.startswith("Solve_Succeeded")
    assert native.iterations == cy.iterations
    assert native.fun == pytest.approx(HS071.optimum, rel=1e-7)
    assert native.fun == pytest.approx(cy.fun, rel=1e-12)
    assert_allclose(native.x, cy.x, atol=1e-9)
    assert_allclose(native.g, cy.g, rtol=1e-10)
    assert_allclose(native.mult_g, cy.mult_g, rtol=1e-6, atol=1e-9)
    assert set(native.callback_calls) == {"objective", "gradient", "constraints", "jacobian", "hessian"}
    assert native.callback_calls == cy.callback_calls
    assert all(s >= 0 for s in native.callback_seconds.values()) and native.nonfinite == []


def test_the_same_ipopt_build_gives_the_same_iterates(hs071, monkeypatch):
    """cyipopt-wheels' own libipopt through the native driver: the cyipopt path's numbers to the last bits."""
    pytest.importorskip("cyipopt")
    monkeypatch.setenv(library.ENV, "cyipopt")
    native, cy = _both(hs071)
    assert native.iterations == cy.iterations and native.status == cy.status
    assert_allclose(native.x, cy.x, rtol=1e-14)


def test_a_repeated_solve_gives_the_same_iterates(hs071):
    """The IPOPT problem kept from a solve of the same bounds and options serves the next one."""
    first = hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options=OPTIONS)
    again = hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options=OPTIONS)
    other = hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options={**OPTIONS, "max_iter": 3})
    assert again.iterations == first.iterations and np.array_equal(again.x, first.x)
    assert other.status == -1 and other.iterations == 3  # other options: a problem of its own


def test_bounds_and_options_changed_between_solves_take_effect(hs071):
    """The kept IPOPT problem serves only the same bounds and options: tighter bounds give
    cyipopt's answer for them, the first bounds again give the first solve's iterates to the
    last bit, and an options dict changed after a solve is read as it is now."""
    first = hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options=OPTIONS)
    tight = {**HS071.bounds(), "ub": [4.5, 4.5, 4.5, 4.5]}  # HS071's x[1] = 4.743 at the optimum
    native, cy = _both(hs071, **tight)
    assert native.status == cy.status == 0 and native.iterations == cy.iterations
    assert native.x[1] == pytest.approx(4.5, abs=1e-7) and native.fun > first.fun
    assert_allclose(native.x, cy.x, atol=1e-9)
    again = hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options=OPTIONS)
    assert np.array_equal(again.x, first.x) and again.iterations == first.iterations
    options = dict(OPTIONS)
    hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options=options)
    options["max_iter"] = 2
    stopped = hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options=options)
    assert stopped.status == -1 and stopped.iterations == 2


def test_results_of_solves_are_independent(hs071):
    """Each result owns its arrays: a later solve (which reuses the IPOPT problem) or a change
    to one result leaves another as it was."""
    a = hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options=OPTIONS)
    kept = {k: getattr(a, k).copy() for k in ("x", "g", "mult_g", "mult_x_L", "mult_x_U")}
    b = hs071.solve(list(HS071.x0), **HS071.bounds(), params=[2.0], options=OPTIONS)
    for name, value in kept.items():
        assert np.array_equal(getattr(a, name), value), name
        assert not np.shares_memory(getattr(a, name), getattr(b, name)), name
    b.x[:] = 0.0
    assert np.array_equal(a.x, kept["x"])
    assert a.g.shape == b.g.shape == (2,) and a.mult_x_L.shape == (4,) and a.fun != b.fun


def test_bounds_check_refuses_exactly_the_impossible_bounds():
    """The two-operation check (hi - lo >= 0) against the plain predicate, on every pair of
    special values: it raises exactly when a bound is NaN, lo = +inf, hi = -inf or lo > hi."""
    from compiler.optimize.ipopt import _check_bounds
    values = [-np.inf, -1e308, -1.0, 0.0, 1.0, 1e308, np.inf, np.nan]
    for lo in values:
        for hi in values:
            for pad in (0, 2):  # alone, and after good entries (the index in the message)
                lower, upper = np.array([0.0] * pad + [lo]), np.array([1.0] * pad + [hi])
                bad = np.isnan(lo) or np.isnan(hi) or lo == np.inf or hi == -np.inf or lo > hi
                if bad:
                    with pytest.raises(ArgumentError, match=f"index {pad}"):
                        _check_bounds(lower, upper, ("lb", "ub"))
                else:
                    _check_bounds(lower, upper, ("lb", "ub"))
    _check_bounds(np.zeros(0), np.zeros(0), ("cl", "cu"))  # no constraints


def test_a_solved_problem_pickles(hs071):
    """The C callbacks are left out of the pickle and made again (loaded from the disk cache)."""
    import pickle
    again = pickle.loads(pickle.dumps(hs071))
    res = again.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options=OPTIONS)
    assert res.status == 0 and res.fun == pytest.approx(HS071.optimum, rel=1e-7)


def test_parameters_are_bound_per_solve(hs071):
    res = hs071.solve(list(HS071.x0), **HS071.bounds(), params=[2.0], options=OPTIONS)
    assert res.fun == pytest.approx(2 * HS071.optimum + np.log(2.0), rel=1e-7)
    base = hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options=OPTIONS)
    assert_allclose(res.x, base.x, atol=1e-6)


def test_tensor_parameters_and_a_linear_constraint():
    """Parameters of shapes (3,), (2, 3) and () read from the per-solve buffer; the KKT condition
    grad f + J^T lambda = 0 checked by hand (the Jacobian of A @ x is A)."""
    x, p, A, s = cc.Tensor("x", (3,)), cc.Tensor("p", (3,)), cc.Tensor("A", (2, 3)), cc.Symbol("s")
    problem = cc.nlp(s * cc.sum((x - p) ** 2), x, g=[A @ x], params=[p, A, s], backend="numba")
    target, matrix = np.array([1.0, 2.0, 3.0]), np.array([[1.0, 1.0, 1.0], [1.0, -1.0, 0.0]])
    args = dict(cl=[-np.inf, 0.5], cu=[1.0, 0.5], params=[target, matrix, 2.0], options=OPTIONS)
    native = problem.solve(np.zeros(3), **args, driver="native")
    cy = problem.solve(np.zeros(3), **args, driver="cyipopt")
    assert native.status == cy.status == 0 and native.iterations == cy.iterations
    assert_allclose(native.x, cy.x, atol=1e-9)
    assert_allclose(matrix @ native.x, [1.0, 0.5], atol=1e-7)  # both constraints active
    assert_allclose(2 * 2.0 * (native.x - target) + matrix.T @ native.mult_g, 0.0, atol=1e-6)


def test_limited_memory_uses_no_hessian(hs071):
    native, cy = _both(hs071, options={"hessian_approximation": "limited-memory", **OPTIONS})
    assert native.success and "hessian" not in native.callback_calls
    assert native.iterations == cy.iterations
    assert native.fun == pytest.approx(HS071.optimum, rel=1e-6)


def test_a_callback_stops_the_solve(hs071):
    for driver in ("native", "cyipopt"):
        seen = []

        def stop(iteration, objective, **stats):
            seen.append((iteration, objective, stats["inf_pr"]))
            return iteration < 3
        res = hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], callback=stop, driver=driver)
        assert res.status == 5 and res.iterations == 3, driver  # IPOPT's User_Requested_Stop
        assert [s[0] for s in seen] == [0, 1, 2, 3]
        assert all(np.isfinite(s[1]) and s[2] >= 0 for s in seen)


def test_an_error_in_the_callback_is_raised(hs071):
    def broken(iteration, objective, **stats):
        raise KeyError("from the callback")
    for driver in ("native", "cyipopt"):
        with pytest.raises(KeyError, match="from the callback"):
            hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], callback=broken, driver=driver)


def test_verbose_prints_a_line_per_iteration(hs071, capsys):
    res = hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], verbose=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:2] == ["iter", "objective"]
    assert len(lines) == res.iterations + 2  # the header, iterations 0 to the last
    assert float(lines[-1].split()[1]) == pytest.approx(res.fun, rel=1e-6)


def test_nan_from_the_callbacks_reports_ipopts_status(hs071):
    native, cy = _both(hs071, params=[-1.0])  # log(-1): every objective value is NaN
    assert native.status == cy.status and native.status < 0 and not native.success
    assert native.nonfinite and native.nonfinite[0][0] == "objective"
    assert_allclose(native.nonfinite[0][1], cy.nonfinite[0][1], rtol=1e-15)  # x0 pushed inside the bounds
    assert np.all(native.nonfinite[0][1] > HS071.lb) and np.all(native.nonfinite[0][1] < HS071.ub)


def test_auto_loads_compiled_evaluators(hs071):
    """backend="auto", a structure solved before (its callbacks, kernels linked in, are in the
    disk cache): the first solve loads them and runs natively."""
    t0 = time.perf_counter()
    problem = _hs071_scaled("auto")
    made = time.perf_counter()
    native_callbacks(problem, True)
    ready = time.perf_counter()
    res = problem.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options=OPTIONS)
    assert res.status == 0 and res.fun == pytest.approx(HS071.optimum, rel=1e-7)
    assert res.message.startswith("Solve_Succeeded")  # the native driver's message: it ran
    assert ready - made < 2.0, f"callbacks of a cached structure took {ready - made:.2f} s (graph {made - t0:.2f} s)"


def test_auto_solves_a_new_structure_first_through_cyipopt(monkeypatch, tmp_path):
    """backend="auto", a structure whose callbacks are neither made nor in the disk cache: the
    first solve starts at once through cyipopt (nothing compiled before IPOPT starts), unless
    its callbacks are small enough for the llvm route to compile at once."""
    pytest.importorskip("cyipopt")
    from compiler.runtime.ipopt import native_llvm
    x = cc.Tensor("x", (3,))
    f, g = cc.sum((x - 2.5) ** 4) + x[0] * x[2], [x[0] + x[1]]
    monkeypatch.setenv("COMPILER_CACHE_DIR", str(tmp_path))  # (a structure the disk cache has not)
    monkeypatch.setattr(native_llvm, "COMPILE_AT_ONCE", 0)  # (as for callbacks of many values)
    problem = cc.nlp(f, x, g=g, backend="auto")
    t0 = time.perf_counter()
    res = problem.solve([0.0, 0.0, 0.0], cl=[1.0], cu=[np.inf], options=OPTIONS)
    assert res.success and not res.message.startswith("Solve_Succeeded")  # cyipopt's own message
    assert "_native" not in problem.__dict__ or not problem.__dict__["_native"]
    assert time.perf_counter() - t0 < 20.0
    monkeypatch.setattr(native_llvm, "COMPILE_AT_ONCE", 5_000)
    small = cc.nlp(f, x, g=g, backend="auto")
    again = small.solve([0.0, 0.0, 0.0], cl=[1.0], cu=[np.inf], options=OPTIONS)
    assert again.message.startswith("Solve_Succeeded") and repr(small).endswith("callbacks: llvm)")
    assert again.iterations == res.iterations and again.fun == pytest.approx(res.fun, rel=1e-10)


def test_same_as_casadi(hs071):
    ca = pytest.importorskip("casadi")
    options = {"tol": 1e-8, "print_level": 0, "sb": "yes"}
    solver = HS071.casadi(ca, options)
    out = solver(x0=list(HS071.x0), **HS071.casadi_bounds())
    res = hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options=options)
    assert res.iterations == solver.stats()["iter_count"]
    assert res.fun == pytest.approx(float(out["f"]), rel=1e-10)
    assert_allclose(res.x, np.asarray(out["x"]).ravel(), atol=1e-8)


def _ipopt_report(text: str) -> dict:
    """What IPOPT printed at print_level 5: the user-set options, the problem's statistics (sizes,
    nonzeros), each iteration's row and the evaluation counts."""
    lines = text.splitlines()
    start = lines.index("List of user-set options:")
    options = []
    for line in lines[start + 3:]:
        if " = " not in line:  # (the list ends at a blank line or IPOPT's banner)
            break
        options.append(line.split())
    sizes = [line.strip() for line in lines if line.strip().startswith(
        ("Number of nonzeros", "Total number of", "variables with", "inequality constraints with"))]
    iterations = [line.split() for line in lines if line[:4].strip().isdigit() and "e" in line]
    counts = [line for line in lines if line.startswith("Number of ") and "evaluations" in line]
    return {"options": options, "sizes": sizes, "iterations": iterations, "counts": counts}


def test_ipopt_runs_the_same_steps_as_under_casadi(hs071, capfd):
    """IPOPT's own report with the same options: the same user-set options (CasADi adds only
    linear_solver=mumps, this build's default), problem statistics, iterations, steps, line-search
    trials and regularisations, and the same numbers of evaluations: its time here and under
    CasADi is the same work (docs/guide/ipopt-native.md)."""
    ca = pytest.importorskip("casadi")
    options = {"tol": 1e-8, "print_level": 5, "sb": "yes", "print_user_options": "yes"}
    capfd.readouterr()
    hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options=options, driver="native")
    ours = _ipopt_report(capfd.readouterr().out)
    HS071.casadi(ca, options)(x0=list(HS071.x0), **HS071.casadi_bounds())
    theirs = _ipopt_report(capfd.readouterr().out)
    assert ["linear_solver", "=", "mumps", "yes"] in theirs["options"]
    assert ours["options"] == [o for o in theirs["options"] if o[0] != "linear_solver"]
    assert ours["sizes"] == theirs["sizes"] and len(ours["sizes"]) == 12
    assert ours["counts"] == theirs["counts"] and len(ours["counts"]) == 7
    assert len(ours["iterations"]) == len(theirs["iterations"]) == 9  # iterations 0 to 8
    for a, b in zip(ours["iterations"], theirs["iterations"]):
        # iter, lg(mu), lg(rg), alpha_pr with its step type, ls trials: to the printed digit
        assert [a[i] for i in (0, 4, 6, 8, 9)] == [b[i] for i in (0, 4, 6, 8, 9)]
        assert_allclose([float(a[i]) for i in (1, 2, 3, 5, 7)], [float(b[i]) for i in (1, 2, 3, 5, 7)],
                        rtol=1e-6, atol=1e-12)


def test_bad_driver_and_option(hs071):
    with pytest.raises(ArgumentError, match="driver must be one of"):
        hs071.solve(list(HS071.x0), params=[1.0], driver="fast")
    with pytest.raises(ArgumentError, match="no_such_option"):
        hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options={"no_such_option": 1}, driver="native")
    with pytest.raises(ArgumentError, match="must be a str, int or float"):
        hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options={"tol": [1e-8]}, driver="native")
    xs = [cc.Symbol(f"x{i}") for i in range(4)]
    interpreted = cc.nlp(HS071.f(xs), xs, backend="python")
    with pytest.raises(ArgumentError, match='backend="python" has no compiled kernels'):
        interpreted.solve(list(HS071.x0), driver="native")


# --- the library: where it is found, what is refused -------------------------------------------

def test_library_sources():
    found = library.find_library()
    assert found.ok and found.version >= library.MIN_VERSION and os.path.exists(found.path)
    if library.candidates("casadi"):
        casadi = library.find_library("casadi")
        assert found.source == "casadi" and casadi.version >= (3, 14, 12)  # from GetIpoptVersion
    if library.candidates("cyipopt"):
        assert library.find_library("cyipopt").version[:2] == (3, 14)
    assert "ipopt" in str(found).lower()


def test_library_choice_refuses_what_is_not_ipopt(monkeypatch, tmp_path):
    monkeypatch.setenv(library.ENV, str(tmp_path / "missing.so"))
    assert not library.find_library().ok and library.ENV in library.find_library().why
    with pytest.raises(SolverNotFoundError, match="solvers"):
        library.require()
    from numba import _helperlib  # a shared library that is not IPOPT
    found = library.find_library(_helperlib.__file__)
    assert not found.ok and "IpoptSolve" in found.why
    garbage = tmp_path / "libipopt.so"
    garbage.write_bytes(b"not a library")
    found = library.find_library(str(garbage))
    assert not found.ok and "does not load" in found.why
    with pytest.raises(ValueError, match="unknown IPOPT source"):
        library.candidates("elsewhere")


def test_missing_library_falls_back_or_names_the_extra(hs071, monkeypatch, tmp_path):
    monkeypatch.setenv(library.ENV, str(tmp_path / "missing.so"))
    assert not cc.nlp_info().native
    with pytest.raises(SolverNotFoundError, match="solvers"):
        hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], driver="native")
    if library.candidates("cyipopt"):  # "auto": cyipopt runs it
        res = hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0])
        assert res.status == 0 and res.fun == pytest.approx(HS071.optimum, rel=1e-7)


def test_info_names_the_library(capsys):
    from compiler.__main__ import main
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "IPOPT" in out and str(library.find_library().version[0]) in out
    assert cc.nlp_info().native and "native" in str(cc.nlp_info())


# --- slow: the collection and van der Pol, against cyipopt and CasADi -----------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_hock_schittkowski(name):
    hs = PROBLEMS[name]
    problem = hs.nlp("numba")
    native = problem.solve(list(hs.x0), **hs.bounds(), options=OPTIONS, driver="native")
    cy = problem.solve(list(hs.x0), **hs.bounds(), options=OPTIONS, driver="cyipopt")
    assert native.status == cy.status == 0 and native.iterations == cy.iterations
    assert native.fun == pytest.approx(hs.optimum, rel=1e-7, abs=1e-7)
    assert native.fun == pytest.approx(cy.fun, rel=1e-10, abs=1e-14)
    ca = pytest.importorskip("casadi")
    solver = hs.casadi(ca, {**OPTIONS, "print_level": 0, "sb": "yes"})
    out = solver(x0=list(hs.x0), **hs.casadi_bounds())
    assert native.iterations == solver.stats()["iter_count"]
    assert native.fun == pytest.approx(float(out["f"]), rel=1e-10, abs=1e-14)


@pytest.mark.slow
def test_van_der_pol_native_against_cyipopt():
    from compiler.bench.nlp import OPTIONS as VDP, van_der_pol
    problem, x0, lb, ub = van_der_pol(100, "numba")
    native = problem.solve(x0, lb=lb, ub=ub, options=VDP, driver="native")
    cy = problem.solve(x0, lb=lb, ub=ub, options=VDP, driver="cyipopt")
    assert native.status == cy.status == 0 and native.iterations == cy.iterations
    assert native.fun == pytest.approx(cy.fun, rel=1e-10)


def test_import_starts_no_numba():
    """The native driver's modules start Numba: they are imported when a solve first needs them."""
    import subprocess
    import sys
    code = "import sys, compiler; print('numba' in sys.modules, 'llvmlite' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_auto_problem_on_llvm_kernels_takes_the_numba_route_through_numba_twins(monkeypatch, hs071):
    """"auto" compiles the problem's tensor graphs on llvm; the Numba route's cfuncs call Numba
    kernels, so they get the same functions on Numba (a problem the llvm route refuses, e.g. over
    its size limit, still solves natively)."""
    monkeypatch.setenv("COMPILER_IPOPT_ROUTE", "numba")
    problem = _hs071_scaled("auto")
    assert problem.objective_fn.backend == "llvm"
    native_callbacks(problem, True)
    res = problem.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options=OPTIONS, driver="native")
    ref = hs071.solve(list(HS071.x0), **HS071.bounds(), params=[1.0], options=OPTIONS, driver="native")
    assert repr(problem).endswith("callbacks: numba)") and res.message.startswith("Solve_Succeeded")
    assert res.iterations == ref.iterations
    assert_allclose(res.x, ref.x, rtol=1e-12)
