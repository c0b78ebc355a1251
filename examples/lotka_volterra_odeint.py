# %% [markdown]
# # Fitting an ODE with an adaptive solver: Lotka–Volterra with `cc.odeint`
#
# Run: `python examples/lotka_volterra_odeint.py [--plot PATH] [--backend python|numba|auto]`.
# The same fit as `lotka_volterra.py` (which steps RK4 in a `cc.scan`), with the solver chosen by
# tolerance instead of a step count: Dormand–Prince 5(4) with dense output at the observation
# times, inside the compiled loss; the gradient in the 4 rates and the 2 initial populations
# comes from the forward sensitivities. The data are made by SciPy's `solve_ivp` (DOP853).

# %%
import argparse
import time

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import minimize

import compiler as cc

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--plot", default="", help="where to draw data, truth and fit ('' for none)")
parser.add_argument("--backend", default="python", help="python (no compile, the default), numba or auto")
args = parser.parse_args()
NAMES = ["alpha", "beta", "delta", "gamma", "x0", "y0"]
times = np.linspace(0.0, 20.0, 101)
truth = np.array([1.1, 0.4, 0.1, 0.4, 10.0, 5.0])


def reference(p):
    a, b, c, d, x, y = p
    return solve_ivp(lambda t, s: [a * s[0] - b * s[0] * s[1], c * s[0] * s[1] - d * s[1]], (0.0, 20.0), [x, y],
                     method="DOP853", rtol=1e-11, atol=1e-11, t_eval=times).y.T


data = reference(truth) + np.random.default_rng(0).normal(0.0, 0.5, (times.size, 2))

# %% [markdown]
# ## The loss: the solution at the observation times is one node of the graph

# %%
p = cc.Tensor("p", (6,))
observed = cc.Tensor("observed", data.shape)


def rates(y, t, alpha, beta, delta, gamma):
    return cc.stack([alpha * y[0] - beta * y[0] * y[1], delta * y[0] * y[1] - gamma * y[1]])


Y = cc.odeint(rates, cc.stack([p[4], p[5]]), times, p[0], p[1], p[2], p[3], method="dopri5", rtol=1e-8, atol=1e-8)
fn = cc.compile(cc.mean((Y - observed) ** 2), [p, observed], wrt=p, backend=args.backend)

# %%
start = np.array([0.8, 0.3, 0.15, 0.6, data[0, 0], data[0, 1]])
t0 = time.perf_counter()
fit = minimize(fn.value_and_grad, start, args=(data,), jac=True, method="L-BFGS-B", bounds=[(1e-3, None)] * 6)
print(f"fit in {time.perf_counter() - t0:.2f} s, {fit.nit} iterations, {fit.nfev} gradients: loss {fit.fun:.6f}")
print("parameter   truth      fit")
for name, true, found in zip(NAMES, truth, fit.x):
    print(f"{name:<9} {true:8.4f} {found:8.4f}")
assert fit.success and np.allclose(fit.x, truth, rtol=0.05), fit.x

# %%
if args.plot:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fine = cc.compile(Y, [p], backend="python")
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for k, (label, color) in enumerate((("prey x", "C0"), ("predators y", "C3"))):
        ax.plot(times, data[:, k], ".", color=color, alpha=0.4, ms=4, label=f"{label}: data")
        ax.plot(times, fine(fit.x)[:, k], "-", color=color, lw=2.4, alpha=0.8, label=f"{label}: fit")
        ax.plot(times, reference(truth)[:, k], "--", color="black", lw=0.9, label="truth" if k == 0 else None)
    ax.set_xlabel("t")
    ax.set_ylabel("population")
    ax.set_title("Lotka–Volterra fitted through cc.odeint (Dormand–Prince, forward sensitivities)")
    ax.legend(ncol=3, fontsize=8)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=90)
    print(f"plotted to {args.plot}")
