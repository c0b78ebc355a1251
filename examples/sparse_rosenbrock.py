# %% [markdown]
# # Sparse Hessians by colouring: a chained Rosenbrock in 100,000 variables
#
# Run: `python examples/sparse_rosenbrock.py [--n 100000] [--plot rosenbrock_pattern.png]
# [--method Newton-CG|trust-constr]` (about 7 s on 2 cores, empty cache; cells marked `# %%`
# open as a notebook in Jupyter with jupytext, in VS Code and in Spyder).
#
# The chained Rosenbrock function couples each variable to its neighbours only:
# its Hessian is tridiagonal. A dense Hessian of 10^5 variables would be 80 GB;
# the sparse one has 3 x 10^5 nonzeros, and a star colouring reads all of them
# from 3 Hessian-vector products, computed in one call of one compiled kernel.

# %%
import argparse
import time

import numpy as np
from scipy.optimize import minimize, rosen, rosen_der, rosen_hess_prod

import compiler as cc

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--n", type=int, default=100_000, help="number of variables (default 10^5)")
parser.add_argument("--plot", default="rosenbrock_pattern.png", help="where to draw the pattern ('' for none)")
parser.add_argument("--method", default="Newton-CG", choices=["Newton-CG", "trust-constr"])
args = parser.parse_args()
n = args.n

# %% [markdown]
# ## The function, written with tensors

# %%
t0 = time.perf_counter()
x = cc.Tensor("x", (n,))
f = cc.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
fn = cc.compile(f, [x], wrt=x)  # wrt alone: derivatives are arrays, as SciPy wants them

# %% [markdown]
# ## Its sparsity pattern and colouring (structural: no numbers involved)

# %%
pattern = fn.hessian_sparsity()         # scipy.sparse, n x n, boolean
coloring = fn.coloring()                # a star colouring of the pattern
t1 = time.perf_counter()
print(f"n = {n:,}: Hessian pattern with {pattern.nnz:,} nonzeros, {coloring.n_colors} colours "
      f"({t1 - t0:.2f} s from the expression)")

# %%
if args.plot:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (whole, corner) = plt.subplots(1, 2, figsize=(10, 5))
    whole.spy(pattern, markersize=0.5)
    whole.set_title(f"Hessian pattern, {n:,} x {n:,}")
    corner.spy(pattern[:30, :30], markersize=4)
    corner.set_title("its top-left 30 x 30 corner")
    fig.tight_layout()
    fig.savefig(args.plot, dpi=90)
    print(f"pattern plotted to {args.plot}")

# %% [markdown]
# ## The sparse Hessian, checked against SciPy's own Rosenbrock

# %%
rng = np.random.default_rng(0)
point = rng.uniform(-1.0, 2.0, n)
H = fn.sparse_hessian(point)            # scipy.sparse.csr_matrix with that pattern
t2 = time.perf_counter()
value, gradient = fn.value_and_grad(point)
direction = rng.normal(size=n)
errors = [abs(value - rosen(point)) / abs(rosen(point)),
          np.abs(gradient - rosen_der(point)).max() / np.abs(rosen_der(point)).max(),
          np.abs(H @ direction - rosen_hess_prod(point, direction)).max()
          / np.abs(rosen_hess_prod(point, direction)).max()]
print(f"first sparse Hessian {t2 - t1:.2f} s after the colouring; relative error against SciPy: "
      f"value {errors[0]:.1e}, gradient {errors[1]:.1e}, Hessian {errors[2]:.1e}")
assert max(errors) < 1e-12

# %% [markdown]
# ## Newton's method with the sparse Hessian

# %%
x0 = np.full(n, 0.5)
options = {"xtol": 1e-12} if args.method == "Newton-CG" else {"gtol": 1e-8}
t3 = time.perf_counter()
result = minimize(fn.value_and_grad, x0, jac=True, hess=fn.sparse_hessian, method=args.method, options=options)
print(f"{args.method}: {result.nit} iterations in {time.perf_counter() - t3:.1f} s, f = {result.fun:.3g}, "
      f"max |x - 1| = {np.abs(result.x - 1.0).max():.1e} ({fn.tier} answers the calls now)")
