"""The generated module: kernels, batch drivers and a header, printed for one dialect.

>>> from compiler import ir
>>> x = ir.symbol("x")
>>> module = generate([x], [ir.apply("sin", x)], [x], [[ir.apply("cos", x)]])
>>> module.entries
{'value': 'value', 'value_and_grad': 'value_and_grad'}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..ir import Node
from .names import comment_text
from .numpy_printer import NumPyPrinter
from .python import PYTHON_HELPERS, Kernel, Printer
from .schedule import DEFAULT_MAX_STATEMENTS, Schedule, schedule


def _jitted(p: Printer) -> list[str]:
    """The functions of the module that Numba compiles: the kernels and the helpers they call."""
    return p.functions + [name for name, text in p.helpers.items()
                          if text.startswith("def ") and name not in PYTHON_HELPERS]


def tensor_batch_driver(p: Printer, kernel: str, n_out: int, n_wrt: int | None) -> str:
    """The batch loop of a tensor function: input j of point i is ``x_j[i * s_j]`` (a scalar or
    an array), output k goes to ``out_k[i]``, gradient j of output k to ``grad_k_j[i]``."""
    arrays = [p.node_name[i] for i in p._input_ids]
    if not hasattr(p, "_strides"):
        p._strides = [p.names.claim(f"s_{a}") for a in arrays]
    call = ", ".join(f"{a}[i * {s}]" for a, s in zip(arrays, p._strides))
    names = p.__dict__.setdefault("_driver_names", {})  # out0, grad0_1, ...: never an input's name
    for wanted in [f"out{k}" for k in range(n_out)] + [f"grad{k}_{j}" for k in range(n_out)
                                                       for j in range(n_wrt or 0)]:
        if wanted not in names:
            names[wanted] = p.names.claim(wanted)
    outs = [names[f"out{k}"] for k in range(n_out)]
    grads = [[names[f"grad{k}_{j}"] for j in range(n_wrt or 0)] for k in range(n_out)]
    body = []
    if n_wrt is None:
        body.append(f"r = {kernel}(CALL)")
        body += [f"{outs[0]}[i] = r"] if p.single else [f"{o}[i] = r[{k}]" for k, o in enumerate(outs)]
    else:
        body.append(f"v, g = {kernel}(CALL)")
        if p.single:
            body.append(f"{outs[0]}[i] = v")
            body += [f"{gr}[i] = g[{j}]" for j, gr in enumerate(grads[0])]
        else:
            body += [f"{o}[i] = v[{k}]" for k, o in enumerate(outs)]
            body += [f"{gr}[i] = g[{k}][{j}]" for k in range(n_out) for j, gr in enumerate(grads[k])]
    loop = [f"for i in numba.prange({outs[0]}.shape[0]):"] + ["    " + b for b in body]
    lines = [f"def {kernel}_batch({', '.join(arrays + p._strides + outs + sum(grads, []))}):"]
    if arrays and p._scalar_inputs:
        # every input an array of points (the usual call): unit strides the compiler can see
        # (x[i], not x[i * s_x]: 18% of a loop calling a user's function, measured)
        unit = ", ".join(f"{a}[i]" for a in arrays)
        lines += [f"    if {' and '.join(f'{s} == 1' for s in p._strides)}:"]
        lines += ["        " + line.replace("CALL", unit) for line in loop] + ["        return"]
    lines += ["    " + line.replace("CALL", call) for line in loop]
    return "\n".join(lines)


@dataclass
class Module:
    """Generated source and the names of what it defines."""
    source: str
    kernels: list[str]        # every function to JIT as a scalar kernel (parts included)
    entries: dict[str, str]   # role ("value", "value_and_grad") -> function name
    batch: dict[str, str]     # role -> batch driver name
    header: str = ""          # imports, constants, helpers; with ``pieces``, lets the runtime define
    #                           one function at a time
    pieces: dict = field(default_factory=dict)  # function name -> its source text (parts included)
    plan: dict = field(default_factory=dict)    # role -> Schedule: what the other targets compile
    # module-level name -> (ir.extern.Extern, "f" | "grad" | "hessian" | "jvp", argument shapes): a user's function
    # the runtime binds before defining the functions that call it
    externs: dict = field(default_factory=dict)


def generate(inputs: Sequence[Node], outputs: Sequence[Node], wrt: Sequence[Node],
             jac: list[list[Node]] | None, labels: dict | None = None,
             max_statements: int | None = DEFAULT_MAX_STATEMENTS, title: str = "",
             plan: dict[str, Schedule] | None = None, dialect: str = "numba", many: bool = False,
             vector_math: dict[str, str] | None = None, notes: dict | None = None) -> Module:
    """Print the module for ``outputs`` of ``inputs`` and, if given, the Jacobian ``jac`` wrt ``wrt``.

    ``plan`` is ``schedule(outputs, jac)`` when the caller has it already;
    ``dialect`` is ``"numba"`` or ``"numpy"`` (they differ only for tensor ops); ``many``: the
    outputs were given as a list, so even one is returned in a tuple (as every target does);
    ``vector_math``: the vector functions of glibc's libmvec that the Numba dialect may call on
    arrays, by op (``{"tanh": "_ZGVdN4v_tanh"}``; the runtime knows which this machine has);
    ``notes``: a comment to print above the statement of some nodes (``{node id: text}``).
    """
    p = (NumPyPrinter if dialect == "numpy" else Printer)(inputs, max_statements, labels, vector_math)
    p.notes = notes or {}
    # as the runtime decides (``CompiledFunction._tensor``): loops and a user's functions take its tensor path
    tensor = any(n.shape for n in inputs) or any(n.shape or n.op in ("scan", "extern")
                                                 for sched in (plan or {}).values() for n in sched.statements)
    single = p.single = len(outputs) == 1 and not many
    out_ret = outputs[0] if single else tuple(outputs)
    plan = plan if plan is not None else schedule(outputs, jac)
    pieces = {"value": p.kernel(Kernel("value", inputs, out_ret, "Forward sweep: the value.",
                                       plan["value"].sections))}
    entries, batch = {"value": "value"}, {"value": "value_batch"}
    if jac is not None:
        grad_ret = tuple(jac[0]) if single else tuple(tuple(row) for row in jac)
        pieces["value_and_grad"] = p.kernel(Kernel(
            "value_and_grad", inputs, (out_ret, grad_ret),
            "Forward sweep, then the adjoint sweep in reverse order: value, gradient.",
            plan["value_and_grad"].sections))
        entries["value_and_grad"] = "value_and_grad"
    driver = (lambda *a: tensor_batch_driver(p, *a[:1], *a[2:])) if tensor else p.batch_driver
    pieces["value_batch"] = driver("value", len(inputs), len(outputs), None)
    if jac is not None:
        pieces["value_and_grad_batch"] = driver("value_and_grad", len(inputs), len(outputs), len(wrt))
        batch["value_and_grad"] = "value_and_grad_batch"
    header = _header(p, inputs, outputs, wrt, jac is not None, title)
    source = "\n\n\n".join([header] + list(pieces.values())) + "\n"
    return Module(source, _jitted(p), entries, batch, header, pieces, plan, getattr(p, "externs", {}))


def _header(p: Printer, inputs, outputs, wrt, with_grad: bool, title: str) -> str:
    ins = ", ".join(p.atom(n) for n in inputs)
    lines = ['"""Generated by compiler: value and reverse-mode gradient kernels.',
             "",
             "Plain Python as printed; the numba backend wraps each function of KERNELS in",
             "numba.njit(error_model='numpy') and each batch driver in numba.njit(parallel=True).",
             "Call with numpy.float64 numbers for NumPy semantics (nan/inf, never an exception).",
             '"""']
    # user text only ever appears in these one-line comments, escaped
    if title:
        lines.append(f"# {comment_text(title)}")
    lines.append(f"# inputs: {ins}; outputs: {len(outputs)}")
    if with_grad:
        lines.append("# gradient with respect to: " + ", ".join(p.atom(n) for n in wrt))
    if p.input_comments:
        lines += ["# inputs renamed to valid identifiers:"] + p.input_comments
    for name, (fn, which, _) in getattr(p, "externs", {}).items():
        lines.append(f"# {name}: {'the function' if which == 'f' else 'the ' + which + ' of'} "
                     f"cc.extern {comment_text(fn.name)} (bound by the runtime: Numba's dispatcher, or its py_func)")
    lines += ["import math", "", "import numba", "import numpy as np", "",
              f"KERNELS = {_jitted(p)!r}"]
    if p.constants:
        lines += [""] + [f"{name} = {text}" for name, text in p.constants.items()]
    for text in p.helpers.values():
        lines += ["", "", text]
    return "\n".join(lines)


def standalone(module: Module, jit: bool) -> str:
    """The module's source, with (``jit``) a footer that compiles its functions with Numba on
    import, as the numba backend does: the kernels with ``njit``, the batch drivers in parallel."""
    if not jit:
        return module.source
    drivers = sorted(set(module.batch.values()))
    footer = f'''

# --- compiled by Numba when this module is imported (delete this block to run plain Python) ---
for _name in KERNELS:
    globals()[_name] = numba.njit(error_model="numpy", cache=True)(globals()[_name])
for _name in {drivers!r}:
    globals()[_name] = numba.njit(error_model="numpy", nogil=True, parallel=True, cache=True)(globals()[_name])
del _name
'''
    return module.source + footer
