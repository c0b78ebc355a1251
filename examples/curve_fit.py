# %% [markdown]
# # Fitting a curve with SciPy: exact derivatives, no hand-written adapters
#
# Run: `python examples/curve_fit.py [--plot curve_fit.png]` (about 1.3 s on 2 cores, empty cache;
# cells marked `# %%` open as a notebook in Jupyter with jupytext, in VS Code and in Spyder).
#
# The model `y = a exp(-b t) + c`, fitted to noisy data twice: as a least-squares problem
# (`scipy.optimize.least_squares` with the exact Jacobian of the residuals) and as the
# minimisation of the sum of squares (`scipy.optimize.minimize`, Newton's method with the
# exact Hessian). `fn.scipy(*data)` binds the data and hands SciPy one flat vector of the
# parameters.

# %%
import argparse

import numpy as np
from scipy.optimize import least_squares, minimize

import compiler as cc

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--plot", default="curve_fit.png", help="where to draw the fit ('' for none)")
args = parser.parse_args()

# %% [markdown]
# ## Data: 200 noisy samples of a known curve

# %%
rng = np.random.default_rng(1)
t_data = np.linspace(0.0, 4.0, 200)
truth = {"a": 2.5, "b": 1.3, "c": 0.5}
y_data = truth["a"] * np.exp(-truth["b"] * t_data) + truth["c"] + rng.normal(0.0, 0.05, t_data.size)

# %% [markdown]
# ## The model, its residuals and its loss

# %%
a, b, c = cc.symbols("a b c")
t, y = cc.Tensor("t", t_data.shape), cc.Tensor("y", y_data.shape)
residuals = a * cc.exp(-b * t) + c - y
loss = cc.sum(residuals ** 2)

# %% [markdown]
# ## Least squares with the exact Jacobian (200 x 3)

# %%
fit = cc.compile(residuals, [a, b, c, t, y], wrt=[a, b, c]).scipy(t_data, y_data)
start = fit.x0(1.0, 1.0, 0.0)                     # one flat vector: a, b, c
result = least_squares(fit.fun, start, jac=fit.jac, method="lm")
found = fit.unflatten(result.x)
print("least_squares:", {k: round(v, 3) for k, v in found.items()}, f"({result.nfev} evaluations)")

# %% [markdown]
# ## The same fit as a minimisation, Newton's method with the exact Hessian

# %%
newton = cc.compile(loss, [a, b, c, t, y], wrt=[a, b, c]).scipy(t_data, y_data)
result2 = minimize(newton.fun, start, jac=newton.jac, hess=newton.hess, method="trust-exact")
print("trust-exact:  ", {k: round(v, 3) for k, v in newton.unflatten(result2.x).items()},
      f"({result2.nit} iterations)")
assert np.allclose(result.x, result2.x, rtol=1e-5)
assert all(abs(found[k] - truth[k]) < 0.1 for k in truth)

# %%
if args.plot:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(t_data, y_data, ".", color="0.6", label="data")
    curve = found["a"] * np.exp(-found["b"] * t_data) + found["c"]
    ax.plot(t_data, curve, "C0", lw=2, label="fit: " + ", ".join(f"{k} = {v:.3f}" for k, v in found.items()))
    ax.set_xlabel("t")
    ax.set_ylabel("y")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.plot, dpi=90)
    print(f"fit plotted to {args.plot}")
