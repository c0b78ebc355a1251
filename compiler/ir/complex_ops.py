"""The ops of complex values: ``conj``, ``real``, ``imag``, ``angle``, and ``abs``'s rule.

Their rules are in PyTorch's convention, the one ``ad.reverse`` carries adjoints in: for a real
L, the adjoint of z = x + iy is dL/dx + i dL/dy (2 dL/dz-bar). A holomorphic op (``exp``,
``mul``) keeps its real rule, which ``ad.reverse`` conjugates around; these ops are not
holomorphic (they need conj(z)), so each has its rule written out: conj, real and imag are
R-linear (adjoints conj(g), real(g), i * real(g)); abs and angle are atan2 and hypot of x, y.

>>> import compiler as cc
>>> z = cc.Symbol("z", dtype="complex128")
>>> cc.conj(cc.conj(z)) is z, cc.real(cc.Symbol("x")).op
(True, 'var')
"""

from __future__ import annotations

import numpy as np

from .dtypes import is_complex
from .node import apply, constant


def where(cond, a, b):
    return apply("where", cond, a, b)


def vjp_abs(args, out, g):
    (a,) = args
    if not is_complex(a):
        return (g * apply("sign", a),)
    # |z| = sqrt(x**2 + y**2): dL/dx + i dL/dy = g * z / |z|; 0 at the origin (PyTorch's choice)
    origin = apply("eq", out, 0.0)
    return (where(origin, 0.0, g * (a / where(origin, 1.0, out))),)


def _vjp_angle(args, out, g):
    (a,) = args  # complex: the angle of a real value is atan2(0, x) (``_simplify_angle``)
    # atan2(y, x): dL/dx + i dL/dy = g * (-y + i x) / |z|**2 = g * i z / |z|**2; 0 at the origin
    r2 = apply("real", a * apply("conj", a))
    origin = apply("eq", r2, 0.0)
    return (where(origin, 0.0, g * (1j * a / where(origin, 1.0, r2))),)


def _simplify_conj(a):
    if a.op == "conj":
        return a.args[0]
    if not is_complex(a):
        return a
    # conj(conj(u) + conj(v)) is u + v: a sum of conjugated adjoints (a shared node's) reads plainly
    if a.op in ("add", "sub", "neg") and all(b.op == "conj" or not is_complex(b) for b in a.args):
        return apply(a.op, *(apply("conj", b) for b in a.args))
    return None


def _simplify_real(a):
    return None if is_complex(a) else a


def _simplify_imag(a):
    if is_complex(a):
        return None
    return constant(np.zeros(a.shape)) if a.shape else constant(0.0)


def _simplify_angle(a):  # of a real value: 0 or pi, an op every target has (derivative 0)
    return None if is_complex(a) else apply("atan2", 0.0, a)


def complex_ops(Op) -> list:
    """The op entries (``Op`` is ``ops.Op``)."""
    return [
        Op("conj", 1, "np.conj({0})", lambda args, out, g: (apply("conj", g),), lambda sp, a: sp.conjugate(a),
           _simplify_conj),
        Op("real", 1, "np.real({0})", lambda args, out, g: (apply("real", g),), lambda sp, a: sp.re(a),
           _simplify_real),
        Op("imag", 1, "np.imag({0})", lambda args, out, g: (1j * apply("real", g),), lambda sp, a: sp.im(a),
           _simplify_imag),
        Op("angle", 1, "np.angle({0})", _vjp_angle, lambda sp, a: sp.arg(a), _simplify_angle),
    ]
