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
import sys
import tempfile
import threading
import types
from pathlib import Path


from ..codegen.vm import OPCODES, Program, interpreter_source
from ..ir.evaluate import evaluate
from ..ir.ops import OPS
from . import cache


def _maximum(a, b):  # np.maximum on floats: nan from either side; at a tie, b (as NumPy gives)
    return a if (a > b or a != a) else b


def _minimum(a, b):
    return a if (a < b or a != a) else b


def _sign(a):  # np.sign: nan stays nan, both zeros give 0.0
    return 1.0 if a > 0.0 else -1.0 if a < 0.0 else 0.0 if a == 0.0 else a


class _MathNamespace:
    """What the op table's ``fmt`` templates call ``np``, on Python floats: the ``math``
    functions (the C library's, as compiled code calls them), far cheaper than NumPy's
    scalar ufuncs. A domain or overflow error raises here and the NumPy version answers."""
    exp, log, sqrt, sin, cos, tan = math.exp, math.log, math.sqrt, math.sin, math.cos, math.tan
    tanh, sinh, cosh, log1p, expm1 = math.tanh, math.sinh, math.cosh, math.log1p, math.expm1
    arcsin, arccos, arctan, arctan2 = math.asin, math.acos, math.atan, math.atan2
    abs, float64 = abs, float
    maximum, minimum, sign = staticmethod(_maximum), staticmethod(_minimum), staticmethod(_sign)


# ``a ** b`` on floats returns a complex number for a < 0 and fractional b: math.pow raises instead
_PYTHON_OVERRIDES = {"pow": "math.pow({0}, {1})"}
_PARAMS = ("a", "b", "c")


def _python_step(name: str):
    """``(fast, exact)`` implementations of op ``name``, both called with three registers."""
    op = OPS[name]
    text = _PYTHON_OVERRIDES.get(name, op.fmt).format(*_PARAMS[:op.arity])
    fast = eval(f"lambda a, b, c: {text}", {"np": _MathNamespace, "math": math})  # noqa: S307 - library text
    args = ", ".join(_PARAMS[:op.arity])
    exact = eval(f"lambda a, b, c: evaluate({name!r}, {args})", {"evaluate": evaluate})  # noqa: S307
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
    for op, a, b, c in program.instructions:
        try:
            push(fast[op](regs[a], regs[b], regs[c]))
        except _FALLBACK_ERRORS:
            push(exact[op](regs[a], regs[b], regs[c]))
    return [float(regs[k]) for k in program.outs]



_module = None
_module_lock = threading.Lock()


def interpreter():
    """The interpreter module, written to the cache directory so Numba can cache its machine code."""
    global _module
    with _module_lock:
        if _module is None:
            source = interpreter_source()
            digest = hashlib.sha256(source.encode()).hexdigest()[:16]
            directory = cache.ensure_dir("vm")
            if directory is None:
                directory = Path(tempfile.mkdtemp(prefix="compiler-vm-"))
            path = directory / f"vm_{digest}.py"
            try:
                current = path.read_text() if path.exists() else None
            except OSError:
                current = None
            if current != source:  # absent, or not what this version prints: (re)write it
                tmp = path.with_name(f".tmp-{digest}-{threading.get_ident()}.py")
                tmp.write_text(source)
                tmp.replace(path)
            # Execute the text printed here, not what the file holds now; the file
            # only names the code for Numba's cache (which lives beside it).
            name = f"compiler_vm_{digest}"
            module = types.ModuleType(name)
            module.__file__ = str(path)
            sys.modules[name] = module
            exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 - library text
            _module = module
    return _module
