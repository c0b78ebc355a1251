"""The instruction array: a schedule assembled for an interpreter, and that interpreter's source.

Nothing is compiled per graph: ``assemble`` turns a schedule into integer
arrays in microseconds per statement, and the interpreter (compiled once,
then loaded from Numba's on-disk cache) runs any of them. It trades run time
(a few ns of dispatch per instruction) for zero compile time, so it answers
the first call of a huge graph at once while the native code compiles.

Registers: ``[inputs | constants | one per instruction]``; instruction ``k``
is ``(opcode, a, b, c)`` and writes register ``n_in + n_const + k``. An op of
four operands (``jacobi``) is two instructions: ``carry`` copies its fourth
operand into its own register, and the op, next, reads it there. The
interpreter's source is printed from the op table (each op's ``fmt``, the
same text as the generated Python), so the two targets share semantics.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

import numpy as np

from ..ir import Node
from ..ir.ops import OPS, SCALAR_OPS
from ..ir.special import PYTHON_ONLY
from .helpers import HELPERS, SCALAR_HELPERS, used_in

#: the instruction before an op of four operands: its register holds that op's fourth operand
CARRY = "carry"
OPCODES = {name: k for k, name in enumerate([n for n in SCALAR_OPS if n not in ("const", "var")] + [CARRY])}
BLOCK = 64  # points per block of the batch loop (one register file per block)


@dataclass
class Program:
    """A schedule assembled for the interpreters."""
    instructions: list    # (opcode, a, b, c) per instruction: operand registers, 0 where unused
    consts: list          # constants, loaded after the inputs
    outs: list            # register of each output
    n_in: int
    carries: bool = False  # whether an op of four operands (and its ``carry``) is among them

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
        elif len(args) == 3:
            push((OPCODES[node.op], *[reg[a.id] for a in args]))
        else:  # the fourth operand into the carry's register, read there by the op just after
            push((OPCODES[CARRY], reg[args[3].id], 0, 0))
            k += 1
            push((OPCODES[node.op], *[reg[a.id] for a in args[:3]]))
        reg[node.id] = k
        k += 1
    return Program(instructions, [float(c.value) for c in consts], [reg[n.id] for n in outputs], n_in,
                   any(len(n.args) > 3 for n in nodes))


# --- the interpreter's source, printed from the op table ---

def _operation(name: str) -> str:
    if name == CARRY:
        return "a"
    op = OPS[name]
    if name in PYTHON_ONLY:  # SciPy has no C function for it: the vm target refuses it (runtime.function)
        return "np.nan"
    fmt = op.numba_fmt or op.fmt
    if name == "where":  # its condition is a register holding 1.0 or 0.0
        text = fmt.format("(a != 0.0)", "b", "c")
    else:  # (a fourth operand: in the register of the carry just before)
        text = fmt.format("a", "b", "c", "regs[base + k - 1]")
    return f"1.0 if {text} else 0.0" if op.result == "bool" else text


def interpreter_source() -> str:
    """The module text of the interpreter (the same for every graph)."""
    branches = []
    for name, code in OPCODES.items():
        keyword = "if" if code == 0 else "elif"
        branches.append(f"        {keyword} op == {code}:  # {name}\n            r = {_operation(name)}")
    dispatch = "\n".join(branches)
    helpers = "".join(f"\n\n@numba.njit(**_JIT)\n{HELPERS['numba'][name]}\n" for name in SCALAR_HELPERS)
    # scipy.special's C functions (``ir.special``): bound at import, overloaded for compiled code
    special = [n for n in used_in(" ".join(OPS[n].fmt for n in OPCODES if n in OPS and n not in PYTHON_ONLY),
                                  "numba")]
    helpers += "".join(f"\n\n{HELPERS['numba'][name]}\n" for name in special)
    return f'''"""Generated by compiler.codegen.vm from the op table: the interpreter of assembled schedules."""
import math

import numba
import numpy as np

_JIT = dict(error_model="numpy", nogil=True, cache=True)
{helpers}

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
