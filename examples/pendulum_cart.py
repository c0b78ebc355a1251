"""An n-link pendulum on a cart from ``sympy.physics.mechanics``, integrated with ``M(q)^-1 F(q, u)`` compiled.

Kane's method gives the equations of motion as SymPy matrices in dynamicsymbols: the mass
matrix ``M(q)`` and the forcing ``F(q, u)``, with ``M u' = F``. Both go into one compiled
function, ``u' = np.linalg.solve(M, F)`` (the linear-algebra ``solve`` op, LU with pivoting, in
compiled code), whose inputs are the coordinates and speeds. SciPy's ``solve_ivp`` integrates
it; with no friction and no applied force the energy is conserved, which the script checks
(and the right-hand side is checked against SymPy's own ``lambdify`` with NumPy's solve).

    python examples/pendulum_cart.py                    # 3 links, plot pendulum_cart.png
    python examples/pendulum_cart.py --links 5 --plot ""
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp
from sympy.physics import mechanics as me

import compiler as cc


def equations(links: int, masses: float = 1.0, length: float = 1.0, gravity: float = 9.81):
    """(q, u, M, F, energy): coordinates (cart position, link angles from the downward vertical),
    speeds, the mass matrix and forcing of Kane's method (``M u' = F``), and the total energy,
    with numbers for the masses, lengths and gravity."""
    q = me.dynamicsymbols(f"q:{links + 1}")
    u = me.dynamicsymbols(f"u:{links + 1}")
    t = me.dynamicsymbols._t
    N = me.ReferenceFrame("N")
    origin = me.Point("O")
    origin.set_vel(N, 0)
    cart = origin.locatenew("P0", q[0] * N.x)
    cart.set_vel(N, u[0] * N.x)
    particles = [me.Particle("cart", cart, masses)]
    forces = [(cart, -masses * gravity * N.y)]
    kinematics = [q[0].diff(t) - u[0]]
    previous = cart
    for i in range(1, links + 1):
        frame = N.orientnew(f"B{i}", "Axis", [q[i], N.z])
        frame.set_ang_vel(N, u[i] * N.z)
        point = previous.locatenew(f"P{i}", -length * frame.y)
        point.v2pt_theory(previous, N, frame)
        particles.append(me.Particle(f"bob{i}", point, masses))
        forces.append((point, -masses * gravity * N.y))
        kinematics.append(q[i].diff(t) - u[i])
        previous = point
    kane = me.KanesMethod(N, q_ind=q, u_ind=u, kd_eqs=kinematics)
    kane.kanes_equations(particles, forces)
    speeds = dict(zip([qi.diff(t) for qi in q], u))
    kinetic = sum(p.kinetic_energy(N) for p in particles).subs(speeds)
    potential = sum(masses * gravity * p.point.pos_from(origin).dot(N.y) for p in particles)
    return q, u, kane.mass_matrix, kane.forcing.subs(speeds), kinetic + potential


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--plot", default="pendulum_cart.png", help="where to save the plot ('' for none)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    q, u, M, F, energy = equations(args.links)
    states = list(q) + list(u)
    derived = time.perf_counter()
    accelerations = np.linalg.solve(cc.from_sympy(M), cc.from_sympy(F))  # u' = M^-1 F, an expression
    rhs = cc.compile(accelerations, states)
    total = cc.compile(energy, states, backend="python")
    rhs(*np.zeros(len(states)))  # the compile happens here
    compiled = time.perf_counter()
    print(f"{args.links} links: Kane's equations in {derived - start:.1f} s (SymPy), "
          f"M^-1 F built and first called in {compiled - derived:.1f} s")

    # the right-hand side against SymPy's lambdify of M and F, solved by NumPy
    rng = np.random.default_rng(0)
    M_np, F_np = sp.lambdify(states, M, "numpy"), sp.lambdify(states, F, "numpy")
    for _ in range(5):
        x = rng.normal(size=len(states))
        expected = np.linalg.solve(np.asarray(M_np(*x), float), np.asarray(F_np(*x), float))
        assert np.allclose(np.ravel(rhs(*x)), np.ravel(expected), rtol=1e-10, atol=1e-12)
    print("right-hand side agrees with sympy.lambdify + np.linalg.solve at 5 random states")

    n = len(q)

    def f(t, y):
        return np.concatenate([y[n:], np.ravel(rhs(*y))])
    y0 = np.zeros(2 * n)
    y0[1:n] = np.linspace(2.0, 1.0, n - 1)  # the links raised, released at rest
    times = np.linspace(0.0, args.seconds, 501)
    solution = solve_ivp(f, (0.0, args.seconds), y0, method="DOP853", t_eval=times, rtol=1e-10, atol=1e-10)
    energies = np.array([total(*y) for y in solution.y.T])
    drift = np.max(np.abs(energies - energies[0])) / abs(energies[0])
    print(f"integrated {args.seconds:g} s with DOP853 in {solution.nfev} right-hand-side calls; "
          f"relative energy drift {drift:.1e}")
    assert solution.success and drift < 1e-6

    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(times, solution.y[0], label="cart position")
        for i in range(1, n):
            ax.plot(times, solution.y[i], label=f"angle {i}")
        ax.set_xlabel("t (s)")
        ax.legend(loc="upper right", fontsize="small")
        ax.set_title(f"{args.links}-link pendulum on a cart (energy drift {drift:.0e})")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
        print(f"plot saved to {args.plot}")


if __name__ == "__main__":
    main()
