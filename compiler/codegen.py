"""Code generation: scheduled IR -> readable, self-contained Python source.

The module this prints needs only ``math``, ``numpy`` and ``numba``:

* ``value(x, y)``: the forward sweep, one line per IR node;
* ``value_and_grad(x, y)``: the forward sweep, then the adjoint sweep in
  reverse order, returning ``value, (d/dx, d/dy)``;
* ``value_batch`` / ``value_and_grad_batch``: drivers that loop over points
  with ``numba.prange`` and write into preallocated output arrays.

Kernels work on scalar locals only (Numba compiles array indexing far more
slowly). A long schedule is split into ``<kernel>_part<k>`` functions of at
most ``max_statements`` lines that pass live values as arguments and return
values. Printing is a small visitor: each op's spelling is its ``fmt``
template in ``ops.OPS``.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from typing import Sequence

from . import ir
from .ir import Node
from .ops import OPS

DEFAULT_MAX_STATEMENTS = 500  # lines per generated function before the schedule is split
_RESERVED = {"np", "math", "numba", "i", "n", "r", "v", "g", "out", "grad", "value", "value_and_grad",
             "value_batch", "value_and_grad_batch", "KERNELS", "BATCH_DRIVERS", "True", "False", "None"}


class NameTable:
    """Unique, valid Python identifiers for the generated module."""

    def __init__(self):
        self.taken: set[str] = set(_RESERVED)
        self._counters: dict[str, int] = {}

    def claim(self, wanted: str) -> str:
        name = sanitize(wanted)
        if name in self.taken:
            k = 1
            while f"{name}_{k}" in self.taken:
                k += 1
            name = f"{name}_{k}"
        self.taken.add(name)
        return name

    def fresh(self, prefix: str) -> str:
        k = self._counters.get(prefix, 0)
        while f"{prefix}{k}" in self.taken:
            k += 1
        self._counters[prefix] = k + 1
        self.taken.add(f"{prefix}{k}")
        return f"{prefix}{k}"


def sanitize(name: str) -> str:
    """A valid ASCII identifier derived from any string (user text never reaches code).

    >>> sanitize("x); import os #"), sanitize("lambda"), sanitize("a b")
    ('x_import_os', 'lambda_', 'a_b')
    """
    text = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_")
    if not text:
        text = "arg"
    if text[0].isdigit():
        text = "_" + text
    if keyword.iskeyword(text) or keyword.issoftkeyword(text) or text in _RESERVED:
        text += "_"
    return text


def comment_text(text: str) -> str:
    """User text made safe for a one-line comment (ASCII escapes, no line breaks)."""
    return ascii(text)[1:-1]


@dataclass
class Kernel:
    """One generated function: its name, parameters and (nested) return structure of nodes."""
    name: str
    params: Sequence[Node]
    returns: object  # a Node, or a tuple (possibly nested) of Nodes
    doc: str = ""
    sections: list = field(default_factory=list)  # [(comment, [nodes])] in schedule order


def _flatten(returns) -> list[Node]:
    if isinstance(returns, Node):
        return [returns]
    flat = []
    for r in returns:
        flat.extend(_flatten(r))
    return flat


class Printer:
    """Prints kernels and batch drivers for one module; shares names across its functions."""

    def __init__(self, inputs: Sequence[Node], max_statements: int | None = DEFAULT_MAX_STATEMENTS,
                 labels: dict | None = None):
        self.names = NameTable()
        self.node_name: dict[int, str] = {}
        self.labels = labels or {}
        self.max_statements = max_statements or 10**12
        self.input_comments = []
        self._input_ids = [n.id for n in inputs]
        for node in inputs:
            name = self.names.claim(node.name)
            self.node_name[node.id] = name
            if name != node.name:
                self.input_comments.append(f"#   {name}: input {comment_text(node.name)!r}")
        self.functions: list[str] = []  # every generated kernel function, parts included
        self.entries: list[str] = []     # the kernels' names, in order

    # --- expressions ---

    def atom(self, node: Node) -> str:
        if node.op == "const":
            return ir.format_const(node.value)
        return self.node_name[node.id]

    def expression(self, node: Node) -> str:
        return OPS[node.op].fmt.format(*(self.atom(a) for a in node.args))

    def name_of(self, node: Node, forward: bool) -> str:
        name = self.node_name.get(node.id)
        if name is None:
            primal = self.labels.get(node.id)
            if not forward and primal is not None and primal.id in self.node_name:
                name = self.names.claim("d" + self.node_name[primal.id])
            else:
                name = self.names.fresh("v" if forward else "a")
            self.node_name[node.id] = name
        return name

    def returns_text(self, returns) -> str:
        if isinstance(returns, Node):
            return self.atom(returns)
        inner = ", ".join(self.returns_text(r) for r in returns)
        return f"({inner},)" if len(returns) == 1 else f"({inner})"

    # --- functions ---

    def kernel(self, k: Kernel) -> str:
        """Print a kernel; a long one becomes a driver calling ``<name>_part<i>`` functions."""
        params = [self.atom(p) for p in k.params]
        statements: list[tuple[str | None, Node]] = []
        for comment, nodes in k.sections:
            first = True
            for node in nodes:
                if node.op in ("const", "var"):
                    continue
                statements.append((comment if first else None, node))
                first = False
        forward_ids = {n.id for n in (k.sections[0][1] if k.sections else [])}
        for _, node in statements:
            self.name_of(node, node.id in forward_ids)
        ret = self.returns_text(k.returns)
        ret = ret[1:-1] if isinstance(k.returns, tuple) and len(k.returns) > 1 else ret
        head = [f"def {k.name}({', '.join(params)}):"]
        if k.doc:
            head.append(f'    """{k.doc}"""')
        if len(statements) <= self.max_statements:
            body = self._body(statements)
            text = "\n".join(head + body + [f"    return {ret}"])
        else:
            text = self._split(k, head, statements, ret)
        self.functions.append(k.name)
        self.entries.append(k.name)
        return text

    def _body(self, statements) -> list[str]:
        lines = []
        for comment, node in statements:
            if comment:
                lines.append(f"    # {comment}")
            lines.append(f"    {self.node_name[node.id]} = {self.expression(node)}")
        return lines

    def _split(self, k: Kernel, head: list[str], statements, ret: str) -> str:
        size = self.max_statements
        chunks = [statements[i:i + size] for i in range(0, len(statements), size)]
        defined_in = {}
        for c, chunk in enumerate(chunks):
            for _, node in chunk:
                defined_in[node.id] = c
        # which chunk's values are needed after that chunk
        needed_later: list[set[int]] = [set() for _ in chunks]
        uses: list[list[int]] = []
        for c, chunk in enumerate(chunks):
            used = []
            seen = set()
            for _, node in chunk:
                for a in node.args:
                    if a.op == "const" or a.id in seen:
                        continue
                    src = defined_in.get(a.id)
                    if src is None or src < c:
                        seen.add(a.id)
                        used.append(a.id)
                        if src is not None:
                            needed_later[src].add(a.id)
            uses.append(used)
        for node in _flatten(k.returns):
            src = defined_in.get(node.id)
            if src is not None:
                needed_later[src].add(node.id)
        parts, calls = [], []
        for c, chunk in enumerate(chunks):
            name = self.names.claim(f"{k.name}_part{c}")
            args = [self.node_name[i] for i in uses[c]]
            live = [self.node_name[node.id] for _, node in chunk if node.id in needed_later[c]]
            out = ", ".join(live) + ("," if len(live) == 1 else "")
            parts.append("\n".join([f"def {name}({', '.join(args)}):"] + self._body(chunk)
                                   + [f"    return {out}" if live else "    return None"]))
            self.functions.append(name)
            calls.append(f"    {out} = {name}({', '.join(args)})" if live else f"    {name}({', '.join(args)})")
        main = "\n".join(head + calls + [f"    return {ret}"])
        return "\n\n\n".join(parts + [main])

    def batch_driver(self, kernel: str, n_in: int, n_out: int, n_wrt: int | None) -> str:
        """A ``prange`` loop calling ``kernel`` per point; scalars broadcast through stride 0."""
        arrays = [self.node_name[i] for i in self._input_ids]
        if not hasattr(self, "_strides"):
            self._strides = [self.names.claim(f"s_{a}") for a in arrays]
        strides = self._strides
        call = ", ".join(f"{a}[i * {s}]" for a, s in zip(arrays, strides))
        params = arrays + strides + ["out"] + (["grad"] if n_wrt is not None else [])
        lines = [f"def {kernel}_batch({', '.join(params)}):",
                 "    for i in numba.prange(out.shape[1]):"]
        if n_wrt is None:
            if n_out == 1:
                lines.append(f"        out[0, i] = {kernel}({call})")
            else:
                lines.append(f"        r = {kernel}({call})")
                lines += [f"        out[{k}, i] = r[{k}]" for k in range(n_out)]
        else:
            lines.append(f"        v, g = {kernel}({call})")
            if n_out == 1:
                lines.append("        out[0, i] = v")
                lines += [f"        grad[{j}, i] = g[{j}]" for j in range(n_wrt)]
            else:
                lines += [f"        out[{k}, i] = v[{k}]" for k in range(n_out)]
                lines += [f"        grad[i, {k}, {j}] = g[{k}][{j}]" for k in range(n_out) for j in range(n_wrt)]
        return "\n".join(lines)


@dataclass
class Module:
    """Generated source and the names of what it defines."""
    source: str
    kernels: list[str]        # every function to JIT as a scalar kernel (parts included)
    entries: dict[str, str]   # role ("value", "value_and_grad") -> function name
    batch: dict[str, str]     # role -> batch driver name
    header: str = ""          # the imports; with ``pieces``, lets the runtime define one function at a time
    pieces: dict = field(default_factory=dict)  # function name -> its source text (parts included)
    plan: dict = field(default_factory=dict)    # role -> Schedule: what the other targets compile


@dataclass
class Schedule:
    """The order of evaluation of one kernel, shared by every target (Python, LLVM, interpreter)."""
    outputs: list[Node]   # flat: the values, then the Jacobian row by row
    sections: list        # [(comment, [nodes])]: the forward sweep, then the adjoint sweep

    @property
    def nodes(self) -> list[Node]:
        """Every node in order, inputs and constants included."""
        return [n for _, nodes in self.sections for n in nodes]

    @property
    def statements(self) -> list[Node]:
        """The nodes that compute something, in order (inputs and constants are not statements)."""
        return [n for _, nodes in self.sections for n in nodes if n.op not in ("const", "var")]


def schedule(outputs: Sequence[Node], jac: list[list[Node]] | None,
             forward: list[Node] | None = None) -> dict[str, Schedule]:
    """Role (``"value"``, ``"value_and_grad"``) -> its schedule: primal nodes, then adjoint nodes.

    ``forward`` is ``ir.topo_order(outputs)`` when the caller has it already.
    """
    forward = forward if forward is not None else ir.topo_order(outputs)
    plan = {"value": Schedule(list(outputs), [("forward sweep", forward)])}
    if jac is not None:
        flat = [x for row in jac for x in row]
        adjoint = ir.topo_order(flat, exclude={n.id for n in forward})
        plan["value_and_grad"] = Schedule(list(outputs) + flat,
                                          [("forward sweep", forward), ("adjoint sweep", adjoint)])
    return plan


def generate(inputs: Sequence[Node], outputs: Sequence[Node], wrt: Sequence[Node],
             jac: list[list[Node]] | None, labels: dict | None = None,
             max_statements: int | None = DEFAULT_MAX_STATEMENTS, title: str = "",
             plan: dict[str, Schedule] | None = None) -> Module:
    """Print the module for ``outputs`` of ``inputs`` and, if given, the Jacobian ``jac`` wrt ``wrt``.

    ``plan`` is ``schedule(outputs, jac)`` when the caller has it already.
    """
    p = Printer(inputs, max_statements, labels)
    single = len(outputs) == 1
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
    pieces["value_batch"] = p.batch_driver("value", len(inputs), len(outputs), None)
    if jac is not None:
        pieces["value_and_grad_batch"] = p.batch_driver("value_and_grad", len(inputs), len(outputs), len(wrt))
        batch["value_and_grad"] = "value_and_grad_batch"
    header = _header(p, inputs, outputs, wrt, jac is not None, title)
    source = "\n\n\n".join([header] + list(pieces.values())) + "\n"
    return Module(source, p.functions, entries, batch, header, pieces, plan)


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
    lines += ["import math", "", "import numba", "import numpy as np", "",
              f"KERNELS = {p.functions!r}"]
    return "\n".join(lines)
