"""Train a small MLP on the two-moons data set and plot its decision boundary.

    python examples/train_moons.py                    # 400 Adam steps, writes moons.png (about 1 s)
    python examples/train_moons.py --steps 100 --optimizer sgd --plot out.png

The loss (binary cross-entropy on logits, written with the stable softplus)
and its gradient with respect to every weight compile once to one function;
each step calls it with the current weights and the data, then the optimizer
updates the weights. Prints the loss as it falls and the final accuracy.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the nn kit beside this file

import compiler as cc  # noqa: E402
from nn import MLP, SGD, Adam  # noqa: E402


def two_moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of two interleaved half circles with Gaussian noise; labels 0 and 1."""
    angle = rng.uniform(0.0, np.pi, n)
    label = rng.integers(0, 2, n)
    x = np.where(label == 0, np.cos(angle), 1.0 - np.cos(angle))
    y = np.where(label == 0, np.sin(angle), 0.5 - np.sin(angle))
    points = np.stack([x, y], axis=1) + rng.normal(0.0, noise, (n, 2))
    return points, label.astype(np.float64).reshape(n, 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--points", type=int, default=256)
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--plot", default="moons.png", help="where to save the decision boundary ('' for none)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    data, labels = two_moons(args.points, 0.1, rng)
    model = MLP([2, 16, 16, 1], activation=cc.tanh, rng=rng)
    params = model.parameters()

    X = cc.Tensor("X", data.shape)
    y = cc.Tensor("y", labels.shape)
    logits = model(X)
    loss = cc.mean(cc.softplus(logits) - y * logits)   # cross-entropy of sigmoid(logits)
    t0 = time.perf_counter()
    step = cc.compile(loss, params + [X, y], wrt=params, backend=args.backend)
    print(f"built the loss and its gradient in {time.perf_counter() - t0:.2f} s "
          f"({len(step.plan['value_and_grad'].statements)} statements; no machine code yet)")
    if args.backend not in ("auto", "python"):  # compile now, so that the steps below time only steps
        t0 = time.perf_counter()
        step.wait()
        print(f"compiled by {step.backend} in {time.perf_counter() - t0:.2f} s")

    values = model.values()
    optimizer = Adam(values, lr=0.02) if args.optimizer == "adam" else SGD(values, lr=0.5, momentum=0.9)
    losses = []
    t0 = time.perf_counter()
    for k in range(args.steps):
        value, grads = step.value_and_grad(*values, data, labels)
        optimizer.step(grads)
        losses.append(value)
        if k % max(1, args.steps // 8) == 0 or k == args.steps - 1:
            print(f"step {k:4d}  loss {value:.4f}")
    elapsed = time.perf_counter() - t0

    predict = cc.compile(cc.sigmoid(logits), params + [X], backend=args.backend)
    accuracy = float(np.mean((predict(*values, data) > 0.5) == (labels > 0.5)))
    print(f"{args.steps} steps in {elapsed:.2f} s ({elapsed / max(1, args.steps) * 1e6:.0f} us per step); "
          f"loss {losses[0]:.4f} -> {losses[-1]:.4f}; training accuracy {accuracy:.1%}")
    if args.backend == "auto":  # the first steps ran NumPy code while Numba compiled in the background
        print(f"steps answered at the end by: {step.tier}")

    if args.plot:
        plot(args.plot, model, values, data, labels, args.backend)
    return 0


def plot(path: str, model: MLP, values: list, data: np.ndarray, labels: np.ndarray, backend: str) -> None:
    """Save the decision boundary over a grid, with the training points, as a PNG."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return
    side = 120
    gx, gy = np.meshgrid(np.linspace(-1.6, 2.6, side), np.linspace(-1.1, 1.6, side))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    G = cc.Tensor("grid", grid.shape)
    probability = cc.compile(cc.sigmoid(model(G)), model.parameters() + [G], backend=backend)
    p = probability(*values, grid).reshape(side, side)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.contourf(gx, gy, p, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.7)
    ax.contour(gx, gy, p, levels=[0.5], colors="k", linewidths=1.5)
    ax.scatter(data[:, 0], data[:, 1], c=labels.ravel(), cmap="RdBu", edgecolors="k", s=18)
    ax.set_title("MLP 2-16-16-1 (tanh) on two moons: decision boundary")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"decision boundary saved to {path}")


if __name__ == "__main__":
    sys.exit(main())
