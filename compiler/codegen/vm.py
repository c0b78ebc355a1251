"""The interpreter target: a schedule as a flat instruction array, run by one Numba function.

Nothing is compiled per graph: ``assemble`` turns a schedule into integer
arrays in microseconds per statement, and the interpreter (compiled once,
then loaded from Numba's on-disk cache) runs any of them. It trades run time
(a few ns of dispatch per instruction) for zero compile time, so it answers
the first call of a huge graph at once while the native code compiles.

Registers: ``[inputs | constants | one per instruction]``; instruction ``k``
is ``(opcode, a, b, c)`` and writes register ``n_in + n_const + k``. The
interpreter's source is printed from the op table (each op's ``fmt``, the
same text as the generated Python), so the two targets share semantics.
"""

from __future__ import annotations

import hashlib
import math
import sys
import tempfile
import threading
import types
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from .ir import Node
from .ops import OPS, SCALAR_OPS, evaluate

OPCODES = {name: k for k, name in enumerate(n for n in SCALAR_OPS if n not in ("const", "var"))}
BLOCK = 64  # points per block of the batch loop (one register file per block)


@dataclass
class Program:
    """A schedule assembled for the interpreters."""
    instructions: list    # (opcode, a, b, c) per instruction: operand registers, 0 where unused
    consts: list          # constants, loaded after the inputs
    outs: list            # register of each output
    n_in: int

    @property
    def n_registers(self) -> int:
        return self.n_in + len(self.consts) + len(self.instructions)

    @cached_property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(code, consts, outs)`` as the Numba interpreter takes them: int64 (n, 4), float64, int64."""
        code = np.array(self.instructions, dtype=np.int64).reshape(len(self.instructions), 4)
        return code, np.array(self.consts, dtype=np.float64), np.array(self.outs, dtype=np.int64)


def assemble(inputs: Sequence[Node], outputs: Sequence[Node], nodes: Sequence[Node]) -> Program:
    """The instructions computing ``outputs`` from ``inputs``: ``nodes`` is the schedule
    (``codegen.Schedule.nodes``); its inputs and constants are registers, not instructions."""
    n_in = len(inputs)
    reg = {n.id: i for i, n in enumerate(inputs)}
    consts = [n for n in nodes if n.op == "const"]
    for j, c in enumerate(consts):
        reg[c.id] = n_in + j
    k = n_in + len(consts)
    instructions = []
    push = instructions.append
    for node in nodes:
        args = node.args
        if not args:
            continue
        if len(args) == 1:
            push((OPCODES[node.op], reg[args[0].id], 0, 0))
        elif len(args) == 2:
            push((OPCODES[node.op], reg[args[0].id], reg[args[1].id], 0))
        else:
            push((OPCODES[node.op], *[reg[a.id] for a in args]))
        reg[node.id] = k
        k += 1
    return Program(instructions, [float(c.value) for c in consts], [reg[n.id] for n in outputs], n_in)


# --- the Python interpreter: no compile at all, for the first calls ---

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


# --- the interpreter's source, printed from the op table ---

def _operation(name: str) -> str:
    op = OPS[name]
    if name == "where":  # its condition is a register holding 1.0 or 0.0
        text = op.fmt.format("(a != 0.0)", "b", "c")
    else:
        text = op.fmt.format("a", "b", "c")
    return f"1.0 if {text} else 0.0" if op.result == "bool" else text


def interpreter_source() -> str:
    """The module text of the interpreter (the same for every graph)."""
    branches = []
    for name, code in OPCODES.items():
        keyword = "if" if code == 0 else "elif"
        branches.append(f"        {keyword} op == {code}:  # {name}\n            r = {_operation(name)}")
    dispatch = "\n".join(branches)
    return f'''"""Generated by compiler.vm from the op table: the interpreter of assembled schedules."""
import math

import numba
import numpy as np

_JIT = dict(error_model="numpy", nogil=True, cache=True)


@numba.njit(**_JIT)
def run(code, consts, regs, n_in):
    """Execute ``code``; ``regs[:n_in]`` holds the inputs."""
    base = n_in + consts.shape[0]
    for j in range(consts.shape[0]):
        regs[n_in + j] = consts[j]
    for k in range(code.shape[0]):
        op = code[k, 0]
        a = regs[code[k, 1]]
        b = regs[code[k, 2]]
        c = regs[code[k, 3]]
{dispatch}
        else:
            r = np.nan
        regs[base + k] = r


@numba.njit(**_JIT)
def call(code, consts, outs, x, out):
    """One point: inputs ``x``, outputs written to ``out``."""
    regs = np.empty(x.shape[0] + consts.shape[0] + code.shape[0])
    regs[:x.shape[0]] = x
    run(code, consts, regs, x.shape[0])
    for k in range(outs.shape[0]):
        out[k] = regs[outs[k]]


@numba.njit(parallel=True, error_model="numpy", nogil=True, cache=True)
def batch(code, consts, outs, arrays, strides, out):
    """Many points: ``arrays[j][i * strides[j]]`` is input j at point i; output k to ``out[k, i]``."""
    n = out.shape[1]
    n_in = len(arrays)
    n_blocks = (n + {BLOCK} - 1) // {BLOCK}
    for blk in numba.prange(n_blocks):
        regs = np.empty(n_in + consts.shape[0] + code.shape[0])
        for i in range(blk * {BLOCK}, min(n, (blk + 1) * {BLOCK})):
            for j in range(n_in):
                regs[j] = arrays[j][i * strides[j]]
            run(code, consts, regs, n_in)
            for k in range(outs.shape[0]):
                out[k, i] = regs[outs[k]]
'''


_module = None
_module_lock = threading.Lock()


def interpreter():
    """The interpreter module, written to the cache directory so Numba can cache its machine code."""
    global _module
    with _module_lock:
        if _module is None:
            from . import cache
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
