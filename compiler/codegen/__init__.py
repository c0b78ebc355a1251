"""Code generation: scheduled IR printed for each target.

Takes: IR outputs and their derivative IR (from ``ad``).
Gives: text and data, never machine code — ``schedule`` (the order of
evaluation, shared by every target), ``module``/``python`` (readable,
self-contained Python source in a Numba dialect and a NumPy dialect;
``names`` keeps user text out of code), ``llvm`` (LLVM IR text) and ``vm``
(an instruction array and its interpreter's source). Compiling and running
any of it is the ``runtime``'s job: nothing here imports Numba or llvmlite.

>>> from compiler import ir
>>> from compiler.codegen import generate
>>> x = ir.symbol("x")
>>> source = generate([x], [ir.apply("sin", x)], [x], [[ir.apply("cos", x)]]).pieces["value_and_grad"]
>>> for line in source.splitlines()[2:]: print(line)
    # forward sweep
    v0 = np.sin(x)
    # adjoint sweep
    a0 = np.cos(x)
    return v0, (a0,)
"""

from .names import sanitize  # noqa: F401
from .schedule import DEFAULT_MAX_STATEMENTS, Schedule, schedule  # noqa: F401

_PRINTED = ("Module", "generate", "standalone")


def __getattr__(name: str):
    """The printers (``module``) load on first use: ``import compiler`` does not need them."""
    if name in _PRINTED:
        from . import module
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
