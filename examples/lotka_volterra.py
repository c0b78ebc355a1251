# %% [markdown]
# # Fitting an ODE with a loop: Lotka–Volterra, RK4 over 10,000 steps as one `cc.scan`
#
# Run: `python examples/lotka_volterra.py [--steps 10000] [--sets 10000] [--plot PATH]`
# (about 10 s on 2 cores: 8.2 s measured with an empty cache; the plot goes to
# lotka_volterra.png in the working directory), or `--quick` for a short run (1,000 parameter
# sets); cells marked `# %%` open as a notebook in Jupyter with jupytext, in VS Code and in Spyder.
#
# Prey `x` and predators `y`: `x' = alpha x - beta x y`, `y' = delta x y - gamma y`. From
# noisy observations of both populations at every step, recover the four rates and the
# initial populations by minimising the mean squared misfit of an RK4 simulation, with its
# exact gradient. The simulation is one loop node (`cc.scan`): the graph holds one RK4
# step, whatever the number of steps, and the compiled code is a `for` loop and its adjoint.
# Then the gradient at 10,000 parameter sets in one batch call (`--sets`): each set runs the
# whole loop.

# %%
import argparse
import time

import numpy as np
from scipy.optimize import minimize

import compiler as cc

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--steps", type=int, default=10_000, help="RK4 steps (default 10,000)")
parser.add_argument("--sets", type=int, default=10_000, help="parameter sets of the batch call (default 10,000)")
parser.add_argument("--quick", action="store_true", help="a short run: 1,000 parameter sets")
parser.add_argument("--plot", default="lotka_volterra.png",
                    help="where to draw data, truth and fit (default lotka_volterra.png in the working "
                         "directory; '' for none)")
args = parser.parse_args()
T, h = args.steps, 20.0 / args.steps          # the time span [0, 20]: about two periods
sets = 1_000 if args.quick else args.sets
NAMES = ["alpha", "beta", "delta", "gamma", "x0", "y0"]

# %% [markdown]
# ## One RK4 step, in plain Python: it runs on floats and on expressions alike

# %%
def rates(x, y, alpha, beta, delta, gamma):
    return alpha * x - beta * x * y, delta * x * y - gamma * y


def rk4(state, theta):
    k1 = rates(*state, *theta)
    k2 = rates(*(s + 0.5 * h * k for s, k in zip(state, k1)), *theta)
    k3 = rates(*(s + 0.5 * h * k for s, k in zip(state, k2)), *theta)
    k4 = rates(*(s + h * k for s, k in zip(state, k3)), *theta)
    return tuple(s + h / 6 * (a + 2 * b + 2 * c + d) for s, a, b, c, d in zip(state, k1, k2, k3, k4))


def simulate(p):
    """The trajectory ``(T, 2)`` of the parameters ``p`` (rates, then the initial state), in NumPy."""
    state, out = (p[4], p[5]), np.empty((T, 2))
    for t in range(T):
        state = rk4(state, p[:4])
        out[t] = state
    return out

# %% [markdown]
# ## Synthetic data: the true trajectory plus noise (fixed seed)

# %%
truth = np.array([1.1, 0.4, 0.1, 0.4, 10.0, 5.0])
rng = np.random.default_rng(0)
data = simulate(truth) + rng.normal(0.0, 0.5, (T, 2))

# %% [markdown]
# ## The loss: a scan over the data rows, its carry the state `(x, y)`

# %%
p = cc.Tensor("p", (6,))                       # alpha, beta, delta, gamma, x0, y0
observed = cc.Tensor("observed", (T, 2))


def step(state, row):
    new = rk4(state, (p[0], p[1], p[2], p[3]))
    return new, (new[0] - row[0]) ** 2 + (new[1] - row[1]) ** 2


_, misfits = cc.scan(step, (p[4], p[5]), xs=observed)
loss = cc.mean(misfits)
fn = cc.compile(loss, [p, observed], wrt=p, backend="numba")
print(f"{T:,} RK4 steps; generated source: {len(fn.source.splitlines())} lines")

# %% [markdown]
# ## Fit with the exact gradient (L-BFGS-B; `fn.value_and_grad` gives SciPy `(f, g)` with `jac=True`)

# %%
start = np.array([0.8, 0.3, 0.15, 0.6, data[0, 0], data[0, 1]])
t0 = time.perf_counter()
fit = minimize(fn.value_and_grad, start, args=(data,), jac=True, method="L-BFGS-B", bounds=[(1e-3, None)] * 6)
seconds = time.perf_counter() - t0
print(f"fit in {seconds:.2f} s (the first call compiles), {fit.nit} iterations, {fit.nfev} gradients: "
      f"loss {fit.fun:.6f} (at the truth: {fn(truth, data):.6f})")
print("parameter   truth      fit")
for name, true, found in zip(NAMES, truth, fit.x):
    print(f"{name:<9} {true:8.4f} {found:8.4f}")
assert fit.success and np.allclose(fit.x, truth, rtol=0.05), fit.x

# %%
if args.plot:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    times = h * np.arange(1, T + 1)
    fitted, every = simulate(fit.x), max(1, T // 400)
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for k, (label, color) in enumerate((("prey x", "C0"), ("predators y", "C3"))):
        ax.plot(times[::every], data[::every, k], ".", color=color, alpha=0.35, ms=3, label=f"{label}: data")
        ax.plot(times, fitted[:, k], "-", color=color, lw=2.6, alpha=0.8, label=f"{label}: fit")
        ax.plot(times, simulate(truth)[:, k], "--", color="black", lw=0.9, label="truth" if k == 0 else None)
    ax.set_xlabel("t")
    ax.set_ylabel("population")
    ax.set_title(f"Lotka–Volterra, {T:,} RK4 steps in one cc.scan, fitted with its exact gradient")
    ax.legend(ncol=3, fontsize=8)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=90)
    print(f"data, truth and fit plotted to {args.plot}")

# %% [markdown]
# ## The gradient at many parameter sets in one call
#
# An argument with one more leading axis than its input is a batch: `p` of shape
# `(sets, 6)` runs the whole loop once per row, in parallel over the cores; the data
# (shape `(T, 2)`, the input's own) is shared.

# %%
sets_p = truth * (1.0 + 0.1 * rng.standard_normal((sets, 6)))
fn.value_and_grad(sets_p[:2], data)              # compiles the batch kernel
t0 = time.perf_counter()
values, grads = fn.value_and_grad(sets_p, data)
seconds = time.perf_counter() - t0
print(f"gradient at {sets:,} parameter sets x {T:,} steps in one batch call: {seconds:.2f} s "
      f"({seconds / sets * 1e6:.1f} us per set); values {values.shape}, gradients {grads.shape}")
assert np.allclose(grads[0], fn.grad(sets_p[0], data), rtol=1e-10, atol=1e-12)
