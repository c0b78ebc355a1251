"""What a special function's op entry says (``Special``), and the answer of a derivative rule
for an argument with no derivative (``NoDerivative``): shared by ``special`` and ``special_more``.

>>> Special("gammaln", 1, "gammaln", "gammaln", None, None).compiled
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from .node import apply


@dataclass(frozen=True)
class Special:
    """Where op ``name`` comes from: ``scipy`` ufunc, ``capi`` C function of cython_special
    (its ``double`` version; every one takes a trailing ``int skip_dispatch``), or None."""
    name: str
    arity: int
    scipy: str
    capi: Optional[str]
    vjp: Callable
    sympy: Callable
    #: how compiled code gets a ``double f(double..., int)`` where SciPy exports none of that
    #: form (``codegen.special_bind`` builds it): ("outputs", capi, n, k) is output k of a C
    #: function with n pointer outputs; ("integer", capi) converts the first operand to an
    #: integer (in the caller); ("ufunc", name, types, *constants) calls the function behind a
    #: ufunc of ``_special_ufuncs`` (or its inner loop on one element);
    #: ("composite",) is polygamma, written with other entries as SciPy writes it
    wrap: tuple = ()
    #: the plain Python/NumPy expression of operands {0}, {1}, ... ("" for scipy.special.<scipy>)
    python: str = ""

    @property
    def compiled(self) -> bool:
        """Whether compiled code (Numba, LLVM, the vm) can call it natively."""
        return self.capi is not None or bool(self.wrap)

    def python_expression(self, args: list[str]) -> str:
        """The expression of SciPy's ufunc (or of ``python``) on ``args``."""
        if self.python:
            return self.python.format(*args)
        return f"scipy.special.{self.scipy}({', '.join(args)})"


def _f(name, *args):
    return apply(name, *args)


class NoDerivative:
    """A vjp rule's answer for an operand with no derivative (or none in closed form): the
    reverse pass raises ``UnsupportedError`` with ``message`` if a derivative flows there."""
    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


def _constant_only(fn: str, arg: str, node):
    """The contribution to an argument that has no derivative: none for a constant there,
    else a ``NoDerivative`` (an error only where the derivative is asked for)."""
    if node.op == "const":
        return None
    return NoDerivative(f"{fn}: no derivative with respect to its argument {arg} (here {node!r:.60}); "
                        "it must not depend on the variables a derivative is taken in")


