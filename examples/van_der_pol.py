# %% [markdown]
# # Optimal control with IPOPT: the van der Pol oscillator
#
# Run: `python examples/van_der_pol.py [--N 1000] [--plot van_der_pol.png]` (about 1.6 s on 2
# cores, empty cache; needs the `solvers` extra: `pip install "adjoint-compiler[solvers]"`;
# cells marked `# %%` open as a notebook in Jupyter with jupytext, in VS Code and in Spyder).
#
# Steer `x1' = (1 - x2^2) x1 - x2 + u`, `x2' = x1` from `x(0) = (0, 1)` for 10 s with
# `|u| <= 1` and `x1 >= -0.25`, minimising the integral of `x1^2 + x2^2 + u^2`. Direct
# collocation (the trapezoidal rule on N intervals) turns it into a nonlinear program of
# `3 (N + 1)` variables and `2 N` equality constraints; `cc.nlp` compiles its objective,
# constraints, the sparse constraint Jacobian and the sparse Hessian of the Lagrangian,
# and IPOPT solves it.

# %%
import argparse

import numpy as np

import compiler as cc

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--N", type=int, default=1000, help="collocation intervals (default 1000)")
parser.add_argument("--plot", default="van_der_pol.png", help="where to draw the solution ('' for none)")
args = parser.parse_args()
N, T = args.N, 10.0
h = T / N

# %% [markdown]
# ## The trajectory as tensors, the dynamics as constraints

# %%
x1, x2, u = cc.Tensor("x1", (N + 1,)), cc.Tensor("x2", (N + 1,)), cc.Tensor("u", (N + 1,))
f1 = (1 - x2 ** 2) * x1 - x2 + u       # x1'
f2 = x1                                # x2'
cost = x1 ** 2 + x2 ** 2 + u ** 2
objective = h / 2 * cc.sum(cost[1:] + cost[:-1])
defects = [x1[1:] - x1[:-1] - h / 2 * (f1[1:] + f1[:-1]),     # trapezoidal rule: = 0
           x2[1:] - x2[:-1] - h / 2 * (f2[1:] + f2[:-1])]
problem = cc.nlp(objective, [x1, x2, u], g=defects)
print(problem)
rows, cols = problem.hessian_structure()
print(f"constraint Jacobian: {len(problem.jacobian_structure()[0]):,} nonzeros; "
      f"Hessian of the Lagrangian: {len(rows):,} in its lower triangle")

# %% [markdown]
# ## Bounds (the initial state as equal bounds), a start, and IPOPT

# %%
flat = problem.variables.flatten         # one value per variable (x1, x2, u): arrays or scalars
lb = flat([np.r_[0.0, np.full(N, -0.25)], np.r_[1.0, np.full(N, -np.inf)], -1.0])
ub = flat([np.r_[0.0, np.full(N, np.inf)], np.r_[1.0, np.full(N, np.inf)], 1.0])
x0 = np.clip(flat([0.0, 1.0, 0.0]), lb, ub)
result = problem.solve(x0, lb=lb, ub=ub)  # cl = cu = 0 by default: the defects vanish
print(f"{result.message}\nobjective {result.fun:.8f} in {result.iterations} iterations, "
      f"{result.solve_seconds:.2f} s in IPOPT, of which {sum(result.callback_seconds.values()):.3f} s "
      "in the compiled callbacks")
assert result.success

# %%
solution = result.unflatten()           # {"x1": array, "x2": array, "u": array}
if args.plot:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    time = np.linspace(0.0, T, N + 1)
    fig, (states, control) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    states.plot(time, solution["x1"], label="x1")
    states.plot(time, solution["x2"], label="x2")
    states.axhline(-0.25, color="0.5", ls="--", lw=1, label="x1 >= -0.25")
    states.legend()
    states.set_title(f"van der Pol, N = {N}: objective {result.fun:.5f}")
    control.step(time, solution["u"], where="post", color="C3")
    control.set_ylabel("u")
    control.set_xlabel("t")
    fig.tight_layout()
    fig.savefig(args.plot, dpi=90)
    print(f"solution plotted to {args.plot}")
