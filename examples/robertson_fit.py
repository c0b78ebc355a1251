# %% [markdown]
# # A stiff fit: Robertson's rate constants from noisy concentrations, with `cc.odeint(method="rodas4")`
#
# Run: `python examples/robertson_fit.py [--plot PATH] [--backend python|numba|auto]`.
# Robertson's kinetics (`A -> B` at k1, `2B -> B + C` at k2, `B + C -> A + C` at k3) span time
# scales from 1e-8 to 1e5: an explicit method needs millions of steps, Rodas4 (a Rosenbrock
# method using the exact Jacobian, compiled from the same expression) a few hundred. The rates
# are fitted in log space by `scipy.optimize.least_squares`, whose Jacobian of the residuals
# comes from the solver's forward sensitivities (`fn.jacobian`). Data: SciPy's Radau solution
# at tight tolerances plus 1% noise.

# %%
import argparse
import time

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import least_squares

import compiler as cc

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--plot", default="", help="where to draw data and fit ('' for none)")
parser.add_argument("--backend", default="python", help="python (no compile, the default), numba or auto")
args = parser.parse_args()
times = np.concatenate([[0.0], np.logspace(-4, 4, 17)])
truth = np.array([0.04, 3e7, 1e4])


def reference(k):
    def f(t, y):
        return [-k[0] * y[0] + k[2] * y[1] * y[2], k[0] * y[0] - k[1] * y[1] ** 2 - k[2] * y[1] * y[2],
                k[1] * y[1] ** 2]
    return solve_ivp(f, (0.0, times[-1]), [1.0, 0.0, 0.0], method="Radau", rtol=1e-11, atol=1e-14,
                     t_eval=times).y.T


rng = np.random.default_rng(0)
clean = reference(truth)
data = clean * (1.0 + 0.01 * rng.standard_normal(clean.shape))
scale = np.maximum(np.abs(clean).max(axis=0), 1e-30)  # residuals relative to each species' size

# %% [markdown]
# ## The residuals: log rates in, the scaled misfit of A, B and C out

# %%
logk = cc.Tensor("logk", (3,))
observed = cc.Tensor("observed", data.shape)


def robertson(y, t, k1, k2, k3):
    return cc.stack([-k1 * y[0] + k3 * y[1] * y[2], k1 * y[0] - k2 * y[1] ** 2 - k3 * y[1] * y[2],
                     k2 * y[1] ** 2])


k = cc.exp(logk)
Y = cc.odeint(robertson, cc.stack([1.0, 0.0, 0.0]), times, k[0], k[1], k[2], method="rodas4", rtol=1e-8,
              atol=1e-14)
residuals = cc.ravel((Y[1:] - observed[1:]) / scale)
fn = cc.compile(residuals, [logk, observed], wrt=logk, backend=args.backend)

# %%
start = np.log(truth) + np.array([0.5, -0.7, 0.6])
t0 = time.perf_counter()
fit = least_squares(lambda q: fn(q, data), start, jac=lambda q: np.reshape(fn.jacobian(q, data), (-1, 3)))
print(f"fit in {time.perf_counter() - t0:.2f} s, {fit.nfev} solves, {fit.njev} Jacobians")
for name, true, found in zip(("k1", "k2", "k3"), truth, np.exp(fit.x)):
    print(f"{name}  truth {true:10.4g}  fit {found:10.4g}")
assert fit.success and np.allclose(np.exp(fit.x), truth, rtol=0.05), np.exp(fit.x)

# %%
if args.plot:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fitted = reference(np.exp(fit.x))
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for j, (label, factor) in enumerate((("A", 1.0), ("B x 1e4", 1e4), ("C", 1.0))):
        ax.semilogx(times[1:], data[1:, j] * factor, "o", ms=4, color=f"C{j}", label=f"{label}: data")
        ax.semilogx(times[1:], fitted[1:, j] * factor, "-", color=f"C{j}", label=f"{label}: fit")
    ax.set_xlabel("t")
    ax.set_ylabel("concentration")
    ax.set_title("Robertson's kinetics, rates fitted through cc.odeint (Rodas4, sensitivities)")
    ax.legend(ncol=3, fontsize=8)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=90)
    print(f"plotted to {args.plot}")
