"""Independent oracles the tests share (not a test module: pytest collects test_*.py only)."""

from __future__ import annotations

import numpy as np


def fd(f, point, h=1e-6):
    """Central finite differences of a scalar function of several floats."""
    out = []
    for k in range(len(point)):
        up, down = list(point), list(point)
        up[k] += h
        down[k] -= h
        out.append((f(*up) - f(*down)) / (2 * h))
    return np.array(out)
