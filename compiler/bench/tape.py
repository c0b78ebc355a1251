"""The baseline: an eager tape engine in the style of micrograd, written here in plain Python.

Each operation computes its value at once and keeps a closure for its local
derivative; ``backward()`` orders the tape and runs the closures in reverse.
This is what the engines this project grows out of do on every call, and what
compiling the gradient once saves.

>>> x = Var(3.0)
>>> y = x * x + x
>>> y.backward()
>>> x.grad
7.0
"""

from __future__ import annotations

import math


class Var:
    __slots__ = ("data", "grad", "_back", "_prev")

    def __init__(self, data: float, prev: tuple = (), back=None):
        self.data, self.grad, self._prev, self._back = data, 0.0, prev, back

    def __add__(self, other):
        other = other if isinstance(other, Var) else Var(other)
        out = Var(self.data + other.data, (self, other))

        def back():
            self.grad += out.grad
            other.grad += out.grad
        out._back = back
        return out

    __radd__ = __add__

    def __mul__(self, other):
        other = other if isinstance(other, Var) else Var(other)
        out = Var(self.data * other.data, (self, other))

        def back():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._back = back
        return out

    __rmul__ = __mul__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-other if isinstance(other, Var) else -other)

    def __rsub__(self, other):
        return (-self) + other

    def __pow__(self, k: float):
        out = Var(self.data ** k, (self,))

        def back():
            self.grad += k * self.data ** (k - 1) * out.grad
        out._back = back
        return out

    def _unary(self, value: float, slope: float):
        out = Var(value, (self,))

        def back():
            self.grad += slope * out.grad
        out._back = back
        return out

    def sin(self):
        return self._unary(math.sin(self.data), math.cos(self.data))

    def cos(self):
        return self._unary(math.cos(self.data), -math.sin(self.data))

    def exp(self):
        e = math.exp(self.data)
        return self._unary(e, e)

    def log(self):
        return self._unary(math.log(self.data), 1.0 / self.data)

    def sqrt(self):
        r = math.sqrt(self.data)
        return self._unary(r, 0.5 / r)

    def tanh(self):
        t = math.tanh(self.data)
        return self._unary(t, 1.0 - t * t)

    def backward(self) -> None:
        order, seen, stack = [], set(), [(self, False)]
        while stack:  # iterative topological order
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node._prev)
        self.grad = 1.0
        for node in reversed(order):
            if node._back is not None:
                node._back()


def value_and_grad(f, *point: float):
    """``f`` on fresh Vars at ``point``, then its gradient: one eager forward and backward pass."""
    xs = [Var(p) for p in point]
    y = f(*xs)
    y.backward()
    return y.data, tuple(x.grad for x in xs)


class functions:
    """The math of the benchmark expressions, spelled for Vars (``cc``-style names)."""
    sin = staticmethod(lambda v: v.sin())
    cos = staticmethod(lambda v: v.cos())
    exp = staticmethod(lambda v: v.exp())
    log = staticmethod(lambda v: v.log())
    sqrt = staticmethod(lambda v: v.sqrt())
    tanh = staticmethod(lambda v: v.tanh())
