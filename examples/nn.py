"""A small neural-network kit on top of ``compiler``: layers, a multilayer perceptron, SGD and Adam.

Layers hold *symbolic* parameters (``cc.Tensor``) and the NumPy arrays of
their current values; calling a model on a symbolic input builds the
expression of its output. A loss built from it is compiled once
(``cc.compile(loss, params + data, wrt=params)``) and its ``value_and_grad``
is called at every step with the current values; an optimizer then updates
the arrays in place.

>>> import numpy as np, compiler as cc
>>> model = MLP([2, 8, 1], rng=np.random.default_rng(0))
>>> x = cc.Tensor("x", (5, 2))
>>> model(x).shape
(5, 1)
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

import compiler as cc


class Linear:
    """``x @ W + b`` with ``W`` of shape ``(n_in, n_out)``, initialized with Glorot's uniform rule."""

    def __init__(self, n_in: int, n_out: int, name: str, rng: np.random.Generator):
        self.W = cc.Tensor(f"{name}.W", (n_in, n_out))
        self.b = cc.Tensor(f"{name}.b", (n_out,))
        limit = np.sqrt(6.0 / (n_in + n_out))
        self.values = {self.W: rng.uniform(-limit, limit, (n_in, n_out)), self.b: np.zeros(n_out)}

    def __call__(self, x):
        return x @ self.W + self.b

    def parameters(self) -> list:
        return [self.W, self.b]


class MLP:
    """Linear layers of ``sizes`` with ``activation`` between them (none after the last)."""

    def __init__(self, sizes: Sequence[int], activation: Callable = cc.tanh,
                 rng: np.random.Generator | None = None):
        rng = rng if rng is not None else np.random.default_rng()
        self.layers = [Linear(a, b, f"layer{k}", rng) for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))]
        self.activation = activation

    def __call__(self, x):
        for k, layer in enumerate(self.layers):
            x = layer(x)
            if k < len(self.layers) - 1:
                x = self.activation(x)
        return x

    def parameters(self) -> list:
        """The symbolic parameters, in a fixed order (the order of ``values()``)."""
        return [p for layer in self.layers for p in layer.parameters()]

    def values(self) -> list[np.ndarray]:
        """The current value of each parameter: arrays the optimizers update in place."""
        return [layer.values[p] for layer in self.layers for p in layer.parameters()]


class SGD:
    """Gradient descent with optional momentum: ``v = m*v + g; p -= lr*v``."""

    def __init__(self, values: list[np.ndarray], lr: float = 0.1, momentum: float = 0.0):
        self.values, self.lr, self.momentum = values, lr, momentum
        self.velocity = [np.zeros_like(v) for v in values]

    def step(self, grads: Sequence[np.ndarray]) -> None:
        for p, g, v in zip(self.values, grads, self.velocity):
            v *= self.momentum
            v += g
            p -= self.lr * v


class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction."""

    def __init__(self, values: list[np.ndarray], lr: float = 0.01, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8):
        self.values, self.lr, self.eps = values, lr, eps
        self.b1, self.b2 = betas
        self.m = [np.zeros_like(v) for v in values]
        self.v = [np.zeros_like(v) for v in values]
        self.t = 0

    def step(self, grads: Sequence[np.ndarray]) -> None:
        self.t += 1
        c1, c2 = 1 - self.b1 ** self.t, 1 - self.b2 ** self.t
        for p, g, m, v in zip(self.values, grads, self.m, self.v):
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * g * g
            p -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)
