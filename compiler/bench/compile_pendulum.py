"""The compile suite's SymPy model: the n-link pendulum on a cart's forcing vector F and its
Jacobian, given to ``cc.compile`` as SymPy matrices, in a fresh process per route.

    python -m compiler.bench.compile_pendulum ROUTE MODEL.pickle [REPEATS [MIN_TIME]]
    python -m compiler.bench.compile_pendulum --derive LINKS MODEL.pickle

Kane's method (``sympy.physics.mechanics``, as ``examples/pendulum_cart.py``) gives the forcing
``F(q, u)`` (``links + 1`` rows); its Jacobian ``J = F.jacobian([q, u])`` is SymPy's. Deriving
them takes SymPy seconds (about 8 for 10 links), so ``--derive`` does it once and pickles
``(symbols, F, J)`` with plain symbols for the coordinates and speeds; each measurement loads
it before the clock starts. ROUTE is ``auto``, ``llvm``, ``vm``, ``numba`` (values only:
``wrt=[]``) or ``casadi`` (the same SymPy expressions made CasADi SX by ``lambdify``, then a
``Function``). Prints one JSON line: the seconds from the SymPy matrices to the first result
(``ttfg``: conversion, ``cc.compile`` and the first call), then to compiled code (``ready``:
``fn.wait()``), the median per call, every value of the first call and of the compiled code,
the number of statements and what compiled them.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time

from .common import BenchmarkError, Row, check_close, fmt_time, optional, run_module, table as markdown_table

ROUTES = ("auto", "llvm", "vm", "numba", "casadi")
LINKS = 10                  # the suite's model (issue 28's goal: < 2 s to compiled code on every backend)
QUICK_LINKS = 3             # with --quick (SymPy derives 10 links in about 8 s)
RTOL = 1e-9                 # every route's values against the first route's
TIMEOUT = 900               # seconds per process
SUITE = "compile"


def derive(links: int, path: str) -> None:
    """Kane's equations of ``links`` links on a cart; ``(symbols, F, J)`` pickled to ``path``."""
    import sympy as sp
    from sympy.physics import mechanics as me
    q, u = me.dynamicsymbols(f"q:{links + 1}"), me.dynamicsymbols(f"u:{links + 1}")
    N, origin = me.ReferenceFrame("N"), me.Point("O")
    origin.set_vel(N, 0)
    cart = origin.locatenew("C", q[0] * N.x)
    cart.set_vel(N, u[0] * N.x)
    particles, forces, kinematics = [me.Particle("cart", cart, 1.0)], [(cart, -9.81 * N.y)], [q[0].diff() - u[0]]
    previous = cart
    for i in range(1, links + 1):
        frame = N.orientnew(f"B{i}", "Axis", [q[i], N.z])
        frame.set_ang_vel(N, u[i] * N.z)
        point = previous.locatenew(f"P{i}", -1.0 * frame.y)
        point.v2pt_theory(previous, N, frame)
        particles.append(me.Particle(f"bob{i}", point, 1.0))
        forces.append((point, -9.81 * N.y))
        kinematics.append(q[i].diff() - u[i])
        previous = point
    kane = me.KanesMethod(N, q_ind=q, u_ind=u, kd_eqs=kinematics)
    kane.kanes_equations(particles, forces)
    states = list(q) + list(u)
    plain = sp.symbols([f"q{i}" for i in range(links + 1)] + [f"u{i}" for i in range(links + 1)])
    speeds = {qi.diff(): ui for qi, ui in zip(q, u)}
    F = kane.forcing.subs(speeds).xreplace(dict(zip(states, plain)))
    with open(path, "wb") as f:
        pickle.dump((list(plain), F, F.jacobian(plain)), f)


def point(n: int) -> list[float]:
    """The state every route is evaluated at (angles and speeds of order 1)."""
    return [0.2 + 0.6 * i / max(1, n - 1) for i in range(n)]


def measure(route: str, path: str, repeats: int, min_time: float) -> dict:
    import numpy as np

    from .common import measure as time_calls
    with open(path, "rb") as f:
        symbols, F, J = pickle.load(f)
    x0 = point(len(symbols))
    if route == "casadi":
        import casadi as ca
        import sympy as sp
        t0 = time.perf_counter()
        x = ca.SX.sym("x", len(symbols))
        functions = {"sin": ca.sin, "cos": ca.cos, "tan": ca.tan, "sqrt": ca.sqrt, "exp": ca.exp, "log": ca.log}
        to_sx = sp.lambdify(symbols, list(F) + list(J), modules=[functions, "math"])
        entries = to_sx(*[x[i] for i in range(len(symbols))])
        fn_ca = ca.Function("pendulum", [x], [ca.vertcat(*[ca.SX(e) for e in entries])])
        first = fn_ca(x0)
        t1 = time.perf_counter()
        values, ready = [float(v) for v in np.asarray(first).ravel()], 0.0
        compiled, call = values, lambda: fn_ca(x0)  # noqa: E731
        backend, statements = f"casadi {ca.__version__} SX", None
    else:
        import compiler as cc
        t0 = time.perf_counter()
        fn = cc.compile([F, J], symbols, wrt=[], backend=route, progress=False)
        f, j = fn(*x0)
        t1 = time.perf_counter()
        fn.wait()
        ready = time.perf_counter() - t1
        values = [float(v) for v in np.concatenate([np.ravel(f), np.ravel(j)])]
        fc, jc = fn(*x0)
        compiled = [float(v) for v in np.concatenate([np.ravel(fc), np.ravel(jc)])]
        call = lambda: fn(*x0)  # noqa: E731
        backend, statements = fn.backend, len(fn.plan["value"].statements)
    timing = time_calls({"call": call}, repeats, min_time)["call"]
    return {"route": route, "model": f"pendulum-{len(symbols) // 2 - 1}", "ttfg": t1 - t0, "ready": ready,
            "per_call": timing.median, "timing": timing.as_dict(), "values": values, "values_compiled": compiled,
            "backend": backend, "statements": statements}


# --- in the compile suite: every route in fresh processes, cold and warm ---

def plan(links: int) -> list[tuple[str, str]]:
    """(route, cache) of the model's measurements: cold (an empty cache) before warm; the vm's
    interpreter is compiled once per machine (the suite's shared cache), CasADi caches nothing."""
    if not links:
        return []
    todo = [(r, c) for r in ("auto", "llvm", "numba") for c in ("cold", "warm")] + [("vm", "-")]
    return todo + ([("casadi", "-")] if optional("casadi") is not None else [])


def run(progress, root: str, shared: str, links: int, repeats: int, min_time: float) -> list[Row]:
    """Derive the model once, then each measurement of ``plan`` in a fresh process; every route's
    values must agree with the first one's (``RTOL``)."""
    if not links:
        return []
    model = os.path.join(root, f"pendulum-{links}.pickle")
    out = run_module("compiler.bench.compile_pendulum", ["--derive", str(links), model], timeout=TIMEOUT)
    if out.returncode != 0:
        raise BenchmarkError(f"compile suite: deriving the {links}-link pendulum failed:\n{out.stderr[-3000:]}")
    progress()
    rows, reference = [], None
    for route, state in plan(links):
        cache = shared if route == "vm" else os.path.join(root, f"pendulum-{route}")
        os.makedirs(cache, mode=0o700, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("COMPILER_CACHE", "NUMBA_CACHE_DIR")}
        env.update(COMPILER_CACHE_DIR=cache, COMPILER_PROGRESS="0")
        out = run_module("compiler.bench.compile_pendulum", [route, model, str(repeats), str(min_time)], env=env,
                         timeout=TIMEOUT)
        if out.returncode != 0:
            raise BenchmarkError(f"compile suite: the pendulum on {route} failed (exit {out.returncode}):\n"
                                 f"{out.stderr[-3000:]}")
        r = {**json.loads(out.stdout.strip().splitlines()[-1]), "cache": state}
        reference = reference or r
        for key in ("values", "values_compiled"):
            check_close(f"compile suite, pendulum: {route} against {reference['route']}, {key}",
                        reference["values"], r[key], RTOL)
        label = route if state == "-" else f"{route} ({state})"
        rows.append(Row(SUITE, r["model"], label, r["per_call"], None, r["ttfg"], r["timing"]["spread"], extra=r))
        progress()
    return rows


def is_row(r: Row) -> bool:
    return str(r.extra.get("model", "")).startswith("pendulum")


def table(rows: list[Row]) -> str:
    """The pendulum's rows: seconds from the SymPy matrices to the first result and to compiled code."""
    casadi = next((r for r in rows if r.extra["route"] == "casadi"), None)
    body = []
    for r in rows:
        e = r.extra
        versus = casadi is not None and r is not casadi
        body.append([r.case, r.method, f"{e['statements']:,}" if e.get("statements") else "-", fmt_time(e["ttfg"]),
                     fmt_time(e["ttfg"] + e["ready"]), f"{(e['ttfg'] + e['ready']) / casadi.extra['ttfg']:.2f}x"
                     if versus else "-", fmt_time(r.seconds), e["backend"]])
    return "\n".join([markdown_table(["model", "route (cache)", "statements", "time to first result",
                                      "time to compiled code", "/ CasADi's", "per call", "compiled by"], body),
                      "pendulum: the n-link pendulum on a cart's forcing F (n+1) and its SymPy Jacobian "
                      "(n+1 x 2n+2), given as SymPy matrices, values only (wrt=[]); times from the unpickled "
                      "SymPy matrices in a fresh process after its imports (CasADi: lambdify to SX, Function, "
                      "first call); warm: a second process on the same cache."])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m compiler.bench.compile_pendulum",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--derive", type=int, metavar="LINKS", help="derive the model and pickle it to PATH")
    parser.add_argument("route", help=f"one of {ROUTES} (with --derive: the path to write)")
    parser.add_argument("path", nargs="?", help="the pickled model")
    parser.add_argument("repeats", type=int, nargs="?", default=5)
    parser.add_argument("min_time", type=float, nargs="?", default=0.05, help="seconds per repeat, at least")
    args = parser.parse_args(argv)
    if args.derive:
        derive(args.derive, args.route)  # (the one positional is the path)
        return 0
    if args.route not in ROUTES or args.path is None:
        parser.error(f"ROUTE must be one of {ROUTES}, followed by the pickled model's path")
    print(json.dumps(measure(args.route, args.path, args.repeats, args.min_time)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
