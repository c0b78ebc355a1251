"""The interpreters of assembled schedules (``codegen.vm``): in Python, for the first calls
of "auto" (no compile at all), and in Numba, compiled once per machine (the "vm" target).

The Python interpreter calls the ``math`` functions (the C library's, as compiled
code does) and NumPy where ``math`` would raise, so its numbers are the compiled code's.

>>> from compiler import ir
>>> from compiler.codegen import vm
>>> x = ir.symbol("x")
>>> run_python(vm.assemble([x], [ir.apply("neg", x)], [x, ir.apply("neg", x)]), [2.0])
[-2.0]
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import threading
import types
from pathlib import Path


from ..codegen.vm import CARRY, OPCODES, Program, interpreter_source
from ..ir.evaluate import evaluate
from ..ir.ops import OPS
from . import cache


def _maximum(a, b):  # np.maximum on floats: nan from either side; at a tie, b (as NumPy gives)
    return a if (a > b or a != a) else b


def _minimum(a, b):
    return a if (a < b or a != a) else b


def _sign(a):  # np.sign: nan stays nan, both zeros give 0.0
    return 1.0 if a > 0.0 else -1.0 if a < 0.0 else 0.0 if a == 0.0 else a


def _zero_signed(r, a):  # math.floor/ceil/round give an int: 0 loses the sign NumPy keeps (ceil(-0.5) is -0.0)
    return r if r != 0.0 else math.copysign(0.0, a)


def _logaddexp(a, b, base2=False):  # np.logaddexp(2), by NumPy's steps: a tie gives a + log 2 (a + 1)
    if a == b:
        return a + (1.0 if base2 else _LN2)
    d = a - b
    if d != d:
        return d
    high, t = (a, -d) if d > 0 else (b, d)
    return high + (_LOG2E * math.log1p(_exp2(t)) if base2 else math.log1p(math.exp(t)))


_LN2, _LOG2E = math.log(2.0), 1.0 / math.log(2.0)
_exp2 = getattr(math, "exp2", lambda a: math.pow(2.0, a))  # Python < 3.11 has no math.exp2
_cbrt = getattr(math, "cbrt", lambda a: math.copysign(abs(a) ** (1.0 / 3.0), a))


class _MathNamespace:
    """What the op table's ``fmt`` templates call ``np``, on Python floats: the ``math``
    functions (the C library's, as compiled code calls them), far cheaper than NumPy's
    scalar ufuncs. A domain or overflow error raises here and the NumPy version answers."""
    exp, log, sqrt, sin, cos, tan = math.exp, math.log, math.sqrt, math.sin, math.cos, math.tan
    tanh, sinh, cosh, log1p, expm1 = math.tanh, math.sinh, math.cosh, math.log1p, math.expm1
    arcsin, arccos, arctan, arctan2 = math.asin, math.acos, math.atan, math.atan2
    abs, float64 = abs, float
    maximum, minimum, sign = staticmethod(_maximum), staticmethod(_minimum), staticmethod(_sign)
    log2, log10, exp2, cbrt, hypot = math.log2, math.log10, staticmethod(_exp2), staticmethod(_cbrt), math.hypot
    arcsinh, arccosh, arctanh = math.asinh, math.acosh, math.atanh
    floor = staticmethod(lambda a: _zero_signed(float(math.floor(a)), a))
    ceil = staticmethod(lambda a: _zero_signed(float(math.ceil(a)), a))
    rint = staticmethod(lambda a: _zero_signed(float(round(a)), a))  # round: ties to even, as rint
    logaddexp = staticmethod(_logaddexp)
    logaddexp2 = staticmethod(lambda a, b: _logaddexp(a, b, True))
    # Python's % and // on floats are NumPy's (a zero divisor raises: NumPy answers)
    remainder, floor_divide = staticmethod(lambda a, b: a % b), staticmethod(lambda a, b: a // b)


# ``a ** b`` on floats returns a complex number for a < 0 and fractional b: math.pow raises instead
_PYTHON_OVERRIDES = {"pow": "math.pow({0}, {1})"}
_PARAMS = ("a", "b", "c", "d")


def _python_step(name: str):
    """``(fast, exact)`` implementations of op ``name``, both called with three registers (and
    the register of the carry before it, ``d``; ``codegen.vm``)."""
    if name == CARRY:
        return (lambda a, b, c, d=None: a), (lambda a, b, c, d=None: a)
    op = OPS[name]
    text = _PYTHON_OVERRIDES.get(name, op.fmt).format(*_PARAMS[:op.arity])
    names = {"np": _MathNamespace, "math": math}
    if "_sf_" in text:  # scipy.special's ufunc on a Python float: nan/inf as compiled code gives
        from ..ir.special import lazy_scipy_functions
        names.update(lazy_scipy_functions())
    fast = eval(f"lambda a, b, c, d=None: {text}", names)  # noqa: S307 - library text
    args = ", ".join(_PARAMS[:op.arity])
    exact = eval(f"lambda a, b, c, d=None: evaluate({name!r}, {args})", {"evaluate": evaluate})  # noqa: S307
    return fast, exact


_FAST, _EXACT = zip(*(_python_step(name) for name in OPCODES))
_FALLBACK_ERRORS = (ArithmeticError, ValueError)  # math's domain and overflow errors


def run_python(program: Program, args) -> list:
    """Run ``program`` on one point in plain Python: the outputs, as Python floats.

    NumPy semantics throughout: an op that ``math`` refuses (``log(-1)``,
    ``1/0``, overflow) is recomputed by its NumPy version (nan, inf).
    """
    regs = [*args, *program.consts]
    push = regs.append
    fast, exact = _FAST, _EXACT
    if program.carries:  # an op of four operands: its fourth in the carry's register, the last one
        for op, a, b, c in program.instructions:
            try:
                push(fast[op](regs[a], regs[b], regs[c], regs[-1]))
            except _FALLBACK_ERRORS:
                push(exact[op](regs[a], regs[b], regs[c], regs[-1]))
        return [float(regs[k]) for k in program.outs]
    for op, a, b, c in program.instructions:
        try:
            push(fast[op](regs[a], regs[b], regs[c]))
        except _FALLBACK_ERRORS:
            push(exact[op](regs[a], regs[b], regs[c]))
    return [float(regs[k]) for k in program.outs]



_module = None
_module_lock = threading.Lock()


def _fresh_lock_after_fork() -> None:  # a fork while another thread held it: fresh in the child
    global _module_lock
    _module_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_lock_after_fork)


def interpreter():
    """The interpreter module. With a usable cache it is written there, and Numba keeps its
    machine code beside it (verified: ``numba_cache``); without one it is compiled in memory
    and nothing is left on disk."""
    global _module
    with _module_lock:
        if _module is None:
            source = interpreter_source()
            digest = hashlib.sha256(source.encode()).hexdigest()[:16]
            directory = cache.ensure_dir("vm")
            path = _written(directory / f"vm_{digest}.py", source) if directory is not None else None
            name = f"compiler_vm_{digest}"
            module = types.ModuleType(name)
            if path is not None:
                # Execute the text printed here, not what the file holds now; the file
                # only names the code for Numba's cache (which lives beside it).
                module.__file__ = str(path)
                exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 - library text
            else:  # Numba's cache=True needs a file: compiled without it
                filename = f"<compiler-vm {digest}>"
                module.__file__ = filename
                exec(compile(source.replace("cache=True", "cache=False"), filename, "exec"),  # noqa: S102
                     module.__dict__)
            from . import numba_cache
            for value in list(module.__dict__.values()):
                if hasattr(value, "py_func") and hasattr(value, "_cache"):  # the Numba dispatchers
                    numba_cache.attach(value, "vm" if path is not None else None)
            sys.modules[name] = module
            _module = module
    return _module


def _written(path: Path, source: str) -> Path | None:
    """``path`` holding ``source`` (written if absent or different), or None when it cannot be
    written (a full disk: then no cut-off file stays)."""
    tmp = path.with_name(f".tmp-{path.stem}-{os.getpid()}-{threading.get_ident()}.py")
    try:
        if not path.exists() or path.read_text() != source:
            tmp.write_text(source)
            tmp.replace(path)
        return path
    except OSError as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        cache.write_failed(e)
        return None
