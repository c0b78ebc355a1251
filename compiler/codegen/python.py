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
import math
import re
from dataclasses import dataclass, field
from typing import Sequence

from . import ir
from .ir import Node
from .ops import OPS

DEFAULT_MAX_STATEMENTS = 500  # lines per generated function before the schedule is split
# Transcendental ops that the Numba dialect hands to NumPy's vectorized loops (an objmode
# block) on arrays of at least NUMPY_VECTOR_MIN_SIZE elements: Numba calls libm once per
# element (about 9 ns for tanh here), NumPy's SIMD loops take about 2 ns, and an objmode
# block costs about 5 us.
NUMPY_VECTOR_OPS = {"exp", "log", "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos", "atan",
                    "log1p", "expm1"}
NUMPY_VECTOR_MIN_SIZE = 2048
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
    """Prints kernels and batch drivers for one module; shares names across its functions.

    This printer writes the Numba dialect: NumPy calls that Numba compiles, and
    small helper functions (printed into the module) where Numba has no
    equivalent. ``NumPyPrinter`` writes the same program for plain NumPy.
    Tensor ops print through ``_print_<op>`` (an expression) or
    ``_lines_<op>`` (statements) methods.
    """

    dialect = "numba"

    def __init__(self, inputs: Sequence[Node], max_statements: int | None = DEFAULT_MAX_STATEMENTS,
                 labels: dict | None = None):
        self.constants: dict[str, str] = {}  # module-level name -> its definition (arrays, index arrays)
        self._constant_names: dict[object, str] = {}
        self.helpers: dict[str, str] = {}    # helper functions in use -> their source
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
            if node.shape:
                return self.constant(node.id, ir.format_const(node.value), "C")
            return ir.format_const(node.value)
        return self.node_name[node.id]

    def constant(self, key, text: str, prefix: str) -> str:
        """The module-level name of a constant array (defined once in the module header)."""
        name = self._constant_names.get(key)
        if name is None:
            name = self._constant_names[key] = self.names.fresh(prefix)
            self.constants[name] = text
        return name

    def helper(self, name: str) -> str:
        self.helpers.setdefault(name, _HELPERS[self.dialect][name])
        return name

    def expression(self, node: Node) -> str:
        atoms = [self.atom(a) for a in node.args]
        special = getattr(self, f"_print_{node.op}", None)
        if special is not None:
            return special(node, *atoms)
        op = OPS[node.op]
        if op.array_fmt and (node.shape or any(a.shape for a in node.args)):
            if "_erf(" in op.array_fmt:
                self.helper("_erf")
            return op.array_fmt.format(*atoms)
        return op.fmt.format(*atoms)

    def statement(self, node: Node) -> list[str]:
        """The lines that define ``node`` (one, except for ops that build an array in place)."""
        name = self.node_name[node.id]
        special = getattr(self, f"_lines_{node.op}", None)
        if special is not None:
            return special(node, name, *(self.atom(a) for a in node.args))
        if node.op in NUMPY_VECTOR_OPS and math.prod(node.shape) >= NUMPY_VECTOR_MIN_SIZE \
                and self.dialect == "numba":
            # NumPy's SIMD loop beats a libm call per element several times over on big
            # arrays; objmode hands it the array (in plain Python it does nothing)
            layout = ", ".join([":"] * (len(node.shape) - 1) + ["::1"])
            ufunc = OPS[node.op].fmt.split("(")[0]  # "np.log({0})" -> np.log
            return [f'with numba.objmode({name}="float64[{layout}]"):',
                    f"    {name} = {self.helper('_quietly')}({ufunc}, {self.atom(node.args[0])})"]
        return [f"{name} = {self.expression(node)}"]

    # --- tensor ops (Numba dialect) ---

    def _loops(self, shape: tuple) -> tuple[list[str], list[str], str]:
        """Fresh index names for a loop nest over ``shape``, its ``for`` lines, and the body's indent."""
        index = [self.names.fresh("i") for _ in shape]
        heads = ["    " * depth + f"for {i} in range({d}):" for depth, (i, d) in enumerate(zip(index, shape))]
        return index, heads, "    " * len(shape)

    def _reduction_lines(self, node, name, x, start: str, update) -> list[str]:
        """A reduction over ``node.params`` axes as loops: every element of ``x`` visited once,
        ``update(accumulator, element)`` the line that folds it in."""
        axes, keepdims = node.params
        shape = node.args[0].shape
        index, heads, pad = self._loops(shape)
        kept = [i if k not in axes else "0" for k, i in enumerate(index)] if keepdims else \
            [i for k, i in enumerate(index) if k not in axes]
        element = f"{x}[{', '.join(index)}]"
        if node.shape:
            target = f"{name}[{', '.join(kept)}]"
            return [f"{name} = np.full({node.shape}, {start})"] + heads + [pad + update(target, element)]
        return [f"{name} = {start}"] + heads + [pad + update(name, element)]

    def _lines_sum(self, node, name, x):
        return self._reduction_lines(node, name, x, "0.0", lambda acc, e: f"{acc} += {e}")

    def _lines_amax(self, node, name, x):  # nan wins, as in np.max
        return self._reduction_lines(node, name, x, "-np.inf",
                                     lambda acc, e: f"{acc} = {e} if ({e} > {acc} or {e} != {e}) else {acc}")

    def _lines_amin(self, node, name, x):
        return self._reduction_lines(node, name, x, "np.inf",
                                     lambda acc, e: f"{acc} = {e} if ({e} < {acc} or {e} != {e}) else {acc}")

    def _print_reshape(self, node, x):
        if not node.args[0].shape:
            return f"np.full({node.shape}, {x})"
        if not node.shape:
            return f"np.ascontiguousarray({x}).ravel()[0]"
        return f"np.ascontiguousarray({x}).reshape({node.shape})"

    def _print_transpose(self, node, x):
        perm = node.params[0]
        return f"{x}.T" if perm == (1, 0) else f"np.transpose({x}, {perm})"

    def _print_broadcast_to(self, node, x):
        if not node.args[0].shape:
            return f"np.full({node.shape}, {x})"
        return f"np.broadcast_to({x}, {node.shape})"

    def _print_matmul(self, node, a, b):
        return f"{a} @ {b}"  # 1-D and 2-D operands; batches: _lines_matmul

    def _lines_matmul(self, node, name, a, b):
        sa, sb = node.args[0].shape, node.args[1].shape
        if len(sa) <= 2 and len(sb) <= 2:
            return [f"{name} = {a} @ {b}"]
        # a loop over the batch axes, one 2-D (or 1-D) product per batch element
        batch = node.shape[:-2] if len(sa) > 1 and len(sb) > 1 else node.shape[:-1]
        index, heads, pad = self._loops(batch)

        def operand(atom, shape):
            own = shape[:-2] if len(shape) > 1 else ()
            lead = len(batch) - len(own)
            at = [index[lead + k] if d != 1 else "0" for k, d in enumerate(own)]
            return f"{atom}[{', '.join(at)}]" if at else atom
        return ([f"{name} = np.empty({node.shape})"] + heads
                + [f"{pad}{name}[{', '.join(index)}] = {operand(a, sa)} @ {operand(b, sb)}"])

    def _print_concatenate(self, node, *xs):
        return f"np.concatenate(({', '.join(xs)},), axis={node.params[0]})"

    def _print_getitem(self, node, x):
        from .shapes import index_text
        return f"{x}[{index_text(node.params[0])}]"

    def _lines_index_put(self, node, name, g):
        from .shapes import index_text
        index, shape = node.params
        placed = tuple(it for it in index if it[0] != "new")
        axes = [it for it in index if it[0] != "int"]  # one per axis of the adjoint g
        target = tuple(d for it, d in zip(axes, node.args[0].shape) if it[0] != "new")
        value = g
        if len(placed) != len(index) and node.args[0].shape:  # drop the size-1 axes that None added
            value = f"np.ascontiguousarray({g}).reshape({target})"
        return [f"{name} = np.zeros({shape})", f"{name}[{index_text(placed)}] = {value}"]

    def _index_array(self, node) -> str:
        axis, indices, ishape = node.params[:3]
        text = f"np.array({list(indices)!r}, dtype=np.int64)"
        return self.constant(("index", indices), text, "I")

    def _print_take(self, node, x):
        axis, indices, ishape = node.params
        idx = self._index_array(node)
        lead = ":, " * axis
        if len(ishape) == 1:
            return f"{x}[{lead}{idx}]"
        return f"np.ascontiguousarray({x}[{lead}{idx}]).reshape({node.shape})"

    def _lines_scatter_add(self, node, name, g):
        axis, indices, ishape, shape = node.params
        idx = self._index_array(node)
        k, flat = self.names.fresh("k"), self.names.fresh("g")
        lead = ":, " * axis
        size = len(indices)
        grouped = shape[:axis] + (size,) + shape[axis + 1:]
        return [f"{name} = np.zeros({shape})",
                f"{flat} = np.ascontiguousarray({g}).reshape({grouped})",
                f"for {k} in range({size}):",
                f"    {name}[{lead}{idx}[{k}]] += {flat}[{lead}{k}]"]

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
            body = self._body(statements, {n.id for n in _flatten(k.returns)})
            text = "\n".join(head + body + [f"    return {ret}"])
        else:
            text = self._split(k, head, statements, ret)
        self.functions.append(k.name)
        self.entries.append(k.name)
        return text

    def _body(self, statements, live_after: set[int]) -> list[str]:
        """The statements' lines; ``live_after`` holds the ids read after them (returned values)."""
        lines = []
        groups = self._fusion_groups([node for _, node in statements], live_after) \
            if self.dialect == "numba" else {}
        done: set[int] = set()
        for comment, node in statements:
            if comment:
                lines.append(f"    # {comment}")
            if node.id in done:
                continue
            group = groups.get(node.id)
            if group is not None:
                members, stored = group
                lines.extend(f"    {line}" for line in self._fused_loop(members, stored))
                done.update(m.id for m in members)
            else:
                lines.extend(f"    {line}" for line in self.statement(node))
        return lines

    # --- fusion: a run of elementwise ops on one shape becomes one loop nest (Numba dialect) ---

    def _fusable(self, node: Node) -> bool:
        op = OPS[node.op]
        return (bool(node.shape) and op.impl is None and op.shape_rule is None and node.args != ()
                and not (node.op in NUMPY_VECTOR_OPS and math.prod(node.shape) >= NUMPY_VECTOR_MIN_SIZE))

    def _fusion_groups(self, nodes: list[Node], live_after: set[int]) -> dict[int, tuple]:
        """Runs of consecutive fusable statements of one shape: first member's id -> (members,
        members whose array is needed outside the run)."""
        consumers: dict[int, set[int]] = {}
        for node in nodes:
            for a in node.args:
                consumers.setdefault(a.id, set()).add(node.id)
        groups: dict[int, tuple] = {}
        run: list[Node] = []

        def flush():
            if run:
                ids = {m.id for m in run}
                stored = [m for m in run if m.id in live_after or consumers.get(m.id, set()) - ids]
                groups[run[0].id] = (list(run), stored)
                run.clear()
        for node in nodes:
            if self._fusable(node) and (not run or node.shape == run[0].shape):
                run.append(node)
            else:
                flush()
                if self._fusable(node):
                    run.append(node)
        flush()
        return groups

    def _fused_loop(self, members: list[Node], stored: list[Node]) -> list[str]:
        """One loop nest computing ``members`` element by element with their scalar ``fmt``;
        the ``stored`` ones are written to arrays of the loop's shape."""
        shape = members[0].shape
        index = [self.names.fresh("i") for _ in shape]
        scalar = {m.id: self.names.claim(self.node_name[m.id] + "_") for m in members}
        stored_ids = {m.id for m in stored}

        def element(a: Node) -> str:
            if a.id in scalar:
                return scalar[a.id]
            atom = self.atom(a)
            if not a.shape:
                return atom
            lead = len(shape) - len(a.shape)
            at = [index[lead + k] if d != 1 else "0" for k, d in enumerate(a.shape)]
            return f"{atom}[{', '.join(at)}]"
        names = ", ".join(self.node_name[m.id] for m in members)
        lines = [f"# one loop for {names}: elementwise on {shape}, no temporary arrays"]
        lines += [f"{self.node_name[m.id]} = np.empty({shape}{', dtype=np.bool_' if m.dtype == 'bool' else ''})"
                  for m in stored]
        for depth, (i, d) in enumerate(zip(index, shape)):
            lines.append("    " * depth + f"for {i} in range({d}):")
        pad = "    " * len(shape)
        at = ", ".join(index)
        for m in members:
            text = OPS[m.op].fmt.format(*(element(a) for a in m.args))
            if m.id in stored_ids:
                lines.append(f"{pad}{scalar[m.id]} = {text}")
                lines.append(f"{pad}{self.node_name[m.id]}[{at}] = {scalar[m.id]}")
            else:
                lines.append(f"{pad}{scalar[m.id]} = {text}")
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
            parts.append("\n".join([f"def {name}({', '.join(args)}):"] + self._body(chunk, needed_later[c])
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


class NumPyPrinter(Printer):
    """The same program for plain NumPy (``backend="python"``): NumPy's own reductions,
    matmul and scatter-add, which run vectorized without a compiler."""

    dialect = "numpy"
    _lines_sum = _lines_amax = _lines_amin = _lines_matmul = None  # NumPy's own, as expressions

    def _reduction(self, node, x, function: str) -> str:
        axes, keepdims = node.params
        if len(axes) == len(node.args[0].shape) and not keepdims:
            return f"{function}({x})"
        return f"{function}({x}, axis={axes}, keepdims={keepdims})"

    def _print_sum(self, node, x):
        return self._reduction(node, x, "np.sum")

    def _print_amax(self, node, x):
        return self._reduction(node, x, "np.max")

    def _print_amin(self, node, x):
        return self._reduction(node, x, "np.min")

    def _print_reshape(self, node, x):
        if not node.shape:
            return f"np.reshape({x}, -1)[0]"
        return f"np.reshape({x}, {node.shape})"

    def _print_matmul(self, node, a, b):
        return f"{a} @ {b}"

    def _print_take(self, node, x):
        axis, indices, ishape = node.params
        idx = self._index_array(node)
        if len(ishape) != 1:
            idx = f"{idx}.reshape({ishape})"
        return f"np.take({x}, {idx}, axis={axis})"

    def _lines_scatter_add(self, node, name, g):
        axis, indices, ishape, shape = node.params
        idx = self._index_array(node)
        if len(ishape) != 1:
            idx = f"{idx}.reshape({ishape})"
        lead = "slice(None), " * axis
        return [f"{name} = np.zeros({shape})", f"np.add.at({name}, ({lead}{idx},), {g})"]


# Helper functions a module defines when it uses them, per dialect: neither NumPy nor
# Numba has erf on arrays. Those in PYTHON_HELPERS stay plain Python (the others are
# jitted with the kernels): objmode blocks call them.
_HELPERS = {
    "numba": {
        "_erf": '''def _erf(x):
    """math.erf of every element (NumPy has no erf)."""
    flat = np.ascontiguousarray(x).ravel()
    out = np.empty(flat.size)
    for k in range(flat.size):
        out[k] = math.erf(flat[k])
    return out.reshape(x.shape)''',
        "_quietly": '''def _quietly(ufunc, x):
    """A NumPy loop in an objmode block: nan/inf without warnings, as Numba's own loops give."""
    with np.errstate(all="ignore"):
        return ufunc(x)''',
    },
    "numpy": {
        "_erf": '''_erf = np.vectorize(math.erf, otypes=[np.float64])  # NumPy has no erf''',
    },
}
PYTHON_HELPERS = {"_quietly"}


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
    lines = [f"def {kernel}_batch({', '.join(arrays + p._strides + outs + sum(grads, []))}):",
             f"    for i in numba.prange({outs[0]}.shape[0]):"]
    if n_wrt is None:
        lines.append(f"        r = {kernel}({call})")
        lines += [f"        {outs[0]}[i] = r"] if n_out == 1 else [f"        {o}[i] = r[{k}]" for k, o in enumerate(outs)]
    else:
        lines.append(f"        v, g = {kernel}({call})")
        if n_out == 1:
            lines.append(f"        {outs[0]}[i] = v")
            lines += [f"        {gr}[i] = g[{j}]" for j, gr in enumerate(grads[0])]
        else:
            lines += [f"        {o}[i] = v[{k}]" for k, o in enumerate(outs)]
            lines += [f"        {gr}[i] = g[{k}][{j}]" for k in range(n_out) for j, gr in enumerate(grads[k])]
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
             plan: dict[str, Schedule] | None = None, dialect: str = "numba") -> Module:
    """Print the module for ``outputs`` of ``inputs`` and, if given, the Jacobian ``jac`` wrt ``wrt``.

    ``plan`` is ``schedule(outputs, jac)`` when the caller has it already;
    ``dialect`` is ``"numba"`` or ``"numpy"`` (they differ only for tensor ops).
    """
    p = (NumPyPrinter if dialect == "numpy" else Printer)(inputs, max_statements, labels)
    tensor = any(n.shape for n in inputs) or any(n.shape for sched in (plan or {}).values()
                                                 for n in sched.statements)
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
    driver = (lambda *a: tensor_batch_driver(p, *a[:1], *a[2:])) if tensor else p.batch_driver
    pieces["value_batch"] = driver("value", len(inputs), len(outputs), None)
    if jac is not None:
        pieces["value_and_grad_batch"] = driver("value_and_grad", len(inputs), len(outputs), len(wrt))
        batch["value_and_grad"] = "value_and_grad_batch"
    header = _header(p, inputs, outputs, wrt, jac is not None, title)
    source = "\n\n\n".join([header] + list(pieces.values())) + "\n"
    return Module(source, _jitted(p), entries, batch, header, pieces, plan)


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
