"""The Python printer: scheduled IR -> readable, self-contained Python (the Numba dialect;
``numpy_printer`` holds the NumPy dialect, ``module`` assembles the module).

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

import math
from dataclasses import dataclass, field
from typing import Sequence

from .. import ir
from ..ir import Node, dtypes
from ..ir.ops import OPS
from .helpers import HELPERS, PYTHON_HELPERS, used_in, vector_helpers  # noqa: F401 - PYTHON_HELPERS: module.py
from . import extern, loops
from .indexing import IndexPrinting
from .linalg import LinalgPrinting
from .names import NameTable, comment_text
from .precision import PrecisionPrinting
from .reductions import ReductionPrinting
from .schedule import DEFAULT_MAX_STATEMENTS, ONE_FUNCTION_UP_TO

# Transcendental ops that the Numba dialect hands to NumPy's vectorized loops (an objmode
# block) on arrays of at least NUMPY_VECTOR_MIN_SIZE elements: Numba calls libm once per
# element (about 9 ns for tanh here), NumPy's SIMD loops take about 2 ns, and an objmode
# block costs about 5 us.
NUMPY_VECTOR_OPS = {"exp", "log", "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos", "atan",
                    "log1p", "expm1"}
NUMPY_VECTOR_MIN_SIZE = 2048
# With glibc's vector math (``Printer(vector_math=...)``) these ops call it from VECTOR_MATH_MIN_SIZE
# elements: 4 doubles a call (AVX2), no objmode (no GIL). Thin products (SMALL_PRODUCT) are loops.
VECTOR_MATH_MIN_SIZE = 64
SMALL_PRODUCT = 4


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


class Printer(IndexPrinting, LinalgPrinting, PrecisionPrinting, ReductionPrinting):
    """Prints kernels and batch drivers for one module; shares names across its functions.

    This printer writes the Numba dialect: NumPy calls that Numba compiles, and
    small helper functions (printed into the module) where Numba has no
    equivalent. ``NumPyPrinter`` writes the same program for plain NumPy.
    Tensor ops print through ``_print_<op>`` (an expression) or
    ``_lines_<op>`` (statements) methods.
    """

    dialect = "numba"
    single = True  # one output, not given as a list: kernels return it bare (generate() sets it)

    def __init__(self, inputs: Sequence[Node], max_statements: int | None = DEFAULT_MAX_STATEMENTS,
                 labels: dict | None = None, vector_math: dict[str, str] | None = None):
        # op -> libmvec's function for it on this machine ("tanh" -> "_ZGVdN4v_tanh"); none: scalar paths
        self.vector_math = dict(vector_math or {})
        self.constants: dict[str, str] = {}  # module-level name -> its definition (arrays, index arrays)
        self._constant_names: dict[object, str] = {}
        self.helpers: dict[str, str] = {}    # helper functions in use -> their source
        self.names = NameTable()
        self.node_name: dict[int, str] = {}
        self.labels = labels or {}
        self.max_statements = max_statements or 10**12
        self.input_comments = []
        self._input_ids = [n.id for n in inputs]
        self._scalar_inputs = all(not n.shape for n in inputs)  # (the batch driver's unit-stride loop)
        # (float32 or complex inputs, or complex constants: precisions are inferred and spelled)
        self.narrow_inputs = any(n.op == "var" and n.params for n in inputs) or dtypes.seen.complex
        for node in inputs:
            name = self.names.claim(node.name)
            self.node_name[node.id] = name
            if name != node.name:
                self.input_comments.append(f"#   {name}: input {comment_text(node.name)!r}")
        self.loop_items: dict[int, dict] = {}  # scan id -> {result index: item node} (``loops``)
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
        self.helpers.setdefault(name, HELPERS[self.dialect][name])
        return name

    def expression(self, node: Node) -> str:
        atoms = self.typed_atoms(node, [self.atom(a) for a in node.args])
        if node.op == "where" and not node.shape:
            # a branch that is a literal would be a Python float, not a float64, where the
            # source runs as plain Python (backend "python"): 1.0 / 0.0 would then raise
            atoms = [f"np.{self.float_name(node)}({t})" if a.op == "const" and k and not t.startswith("np.float")
                     else t for k, (t, a) in enumerate(zip(atoms, node.args))]
        special = getattr(self, f"_print_{node.op}", None)
        if special is not None:
            return special(node, *atoms)
        op = OPS[node.op]
        if op.array_fmt and (node.shape or any(a.shape for a in node.args)):
            return self.spelled(op.array_fmt, atoms)
        fmt = self.scalar_fmt(op)
        return self.rounded(node, self.spelled(fmt, atoms), fmt)

    def scalar_fmt(self, op) -> str:
        """How ``op`` reads on scalars in this dialect (``numba_fmt`` where Numba's NumPy differs)."""
        return op.numba_fmt if op.numba_fmt and self.dialect == "numba" else op.fmt

    def spelled(self, fmt: str, atoms) -> str:
        """``fmt`` with its operands, the helpers it calls defined in the module."""
        text = fmt.format(*atoms)
        for name in used_in(fmt, self.dialect):
            self.helper(name)
        return text

    def statement(self, node: Node) -> list[str]:
        """The lines that define ``node`` (one, except for ops that build an array in place)."""
        name = self.node_name[node.id]
        special = getattr(self, f"_lines_{node.op}", None)
        if special is not None:
            return special(node, name, *(self.atom(a) for a in node.args))
        path = self._array_math(node)
        if path is not None:
            ufunc = OPS[node.op].fmt.split("(")[0]  # "np.log({0})" -> np.log
            if path == "vector":  # glibc's vector math: 4 elements (AVX2) per call, in compiled code
                for helper, text in vector_helpers(node.op, ufunc, self.vector_math[node.op]).items():
                    self.helpers.setdefault(helper, text)
                return [f"{name} = _vector_{node.op}({self.atom(node.args[0])})"]
            # NumPy's SIMD loop beats a libm call per element several times over on big
            # arrays; objmode hands it the array (in plain Python it does nothing)
            layout = ", ".join([":"] * (len(node.shape) - 1) + ["::1"])
            return [f'with numba.objmode({name}="{self.float_name(node)}[{layout}]"):',
                    f"    {name} = {self.helper('_quietly')}({ufunc}, {self.atom(node.args[0])})"]
        return [f"{name} = {self.expression(node)}"]

    def _print_extern(self, node, *atoms):
        return extern.call(self, node, atoms)

    def _array_math(self, node: Node) -> str | None:
        """How the Numba dialect computes a transcendental op over an array: "vector" (libmvec),
        "numpy" (NumPy's loop, in objmode), or None (libm per element, in a loop nest)."""
        if self.dialect != "numba" or node.op not in NUMPY_VECTOR_OPS or not node.shape:
            return None
        if self.precision(node) == "float32":  # libmvec's double functions: not for float32 arrays
            return "numpy" if math.prod(node.shape) >= NUMPY_VECTOR_MIN_SIZE else None
        size = math.prod(node.shape)
        if size >= VECTOR_MATH_MIN_SIZE and node.op in self.vector_math:
            return "vector"
        return "numpy" if size >= NUMPY_VECTOR_MIN_SIZE else None

    # --- tensor ops (Numba dialect) ---

    def _loops(self, shape: tuple) -> tuple[list[str], list[str], str]:
        """Fresh index names for a loop nest over ``shape``, its ``for`` lines, and the body's indent."""
        index = [self.names.fresh("i") for _ in shape]
        heads = ["    " * depth + f"for {i} in range({d}):" for depth, (i, d) in enumerate(zip(index, shape))]
        return index, heads, "    " * len(shape)

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
        a, b = self.same_precision(node, a, b)
        sa, sb = node.args[0].shape, node.args[1].shape
        big = len(sa) == 2 and len(sb) == 2 and math.prod(sa) * sb[1] > 2**18  # multiply-adds
        if len(sa) == 2 and len(sb) == 2 and min(sa) <= SMALL_PRODUCT and sb[1] >= 8 and not big:
            # thin (X @ W1 of 2 inputs, X.T @ dX): rows of b scaled and added beat the BLAS call
            (m, k), n = sa, sb[1]
            (p, i), heads, pad = self._loops((k, m))
            j, scale = self.names.fresh("i"), self.names.fresh("s")
            return ([f"{name} = np.zeros({node.shape}{self.alloc(node)})"] + heads
                    + [f"{pad}{scale} = {a}[{i}, {p}]", f"{pad}for {j} in range({n}):",
                       f"{pad}    {name}[{i}, {j}] += {scale} * {b}[{p}, {j}]"])
        if big:
            return [f"{name} = {self.helper('_product')}({a}, {b})"]  # the BLAS, on this thread
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
        # (a transposed operand is a strided view: Numba's @ wants contiguous ones, and says so)
        return ([f"{name} = np.empty({node.shape}{self.alloc(node)})"] + heads
                + [f"{pad}{name}[{', '.join(index)}] = np.ascontiguousarray({operand(a, sa)}) "
                   f"@ np.ascontiguousarray({operand(b, sb)})"])

    def _print_concatenate(self, node, *xs):
        return f"np.concatenate(({', '.join(xs)},), axis={node.params[0]})"

    def _lines_scan(self, node, name, *atoms):
        return loops.scan_lines(self, node, name, *atoms)

    def _print_triangle(self, node, x):
        k, upper = node.params
        return f"np.{'triu' if upper else 'tril'}({x}, {k})"

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
        statements = loops.attach_items(self, statements)  # a loop names its results itself
        for _, node in statements:
            self.name_of(node, node.id in forward_ids)
        ret = self.returns_text(k.returns)
        ret = ret[1:-1] if isinstance(k.returns, tuple) and len(k.returns) > 1 else ret
        head = [f"def {k.name}({', '.join(params)}):"]
        if k.doc:
            head.append(f'    """{k.doc}"""')
        head += self.entry_casts(k.params)
        one_function = ONE_FUNCTION_UP_TO if self.max_statements == DEFAULT_MAX_STATEMENTS else self.max_statements
        if len(statements) <= one_function:
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
            note = self.__dict__.get("notes", {}).get(node.id)
            if note:  # where an inlined custom function's value is (``runtime`` names them)
                lines.append(f"    # {comment_text(note)}")
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
        if node.op == "triangle":  # elementwise too: a test of the loop's last two indices
            return True
        op = OPS[node.op]
        return (bool(node.shape) and op.impl is None and op.shape_rule is None and node.args != ()
                and self._array_math(node) is None)

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
            atom = self.const32(a) if a.op == "const" and a.dtype != "bool" and self.narrow(m) else self.atom(a)
            if not a.shape:
                return atom
            lead = len(shape) - len(a.shape)
            at = [index[lead + k] if d != 1 else "0" for k, d in enumerate(a.shape)]
            return f"{atom}[{', '.join(at)}]"
        names = ", ".join(self.node_name[m.id] for m in members)
        lines = [f"# one loop for {names}: elementwise on {shape}, no temporary arrays"]
        lines += [f"{self.node_name[m.id]} = np.empty({shape}"
                  f"{', dtype=np.bool_' if m.dtype == 'bool' else self.alloc(m)})" for m in stored]
        for depth, (i, d) in enumerate(zip(index, shape)):
            lines.append("    " * depth + f"for {i} in range({d}):")
        pad = "    " * len(shape)
        at = ", ".join(index)
        for m in members:
            if m.op == "triangle":  # np.tril(x, k) keeps x where j <= i + k, np.triu where j >= i + k
                k, upper = m.params
                offset = f" + {k}" if k > 0 else f" - {-k}" if k < 0 else ""
                keep = f"{index[-1]} {'>=' if upper else '<='} {index[-2]}{offset}"
                text = f"{element(m.args[0])} if {keep} else 0.0"
            else:
                fmt = self.scalar_fmt(OPS[m.op])
                text = self.rounded(m, self.spelled(fmt, [element(a) for a in m.args]), fmt, element=True)
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
                for defined in loops.defined_by(self, node):  # a loop defines its results too
                    defined_in[defined.id] = c
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
            live = [self.node_name[d.id] for _, node in chunk for d in loops.defined_by(self, node)
                    if d.id in needed_later[c]]
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
            if self.single:
                lines.append(f"        out[0, i] = {kernel}({call})")
            else:
                lines.append(f"        r = {kernel}({call})")
                lines += [f"        out[{k}, i] = r[{k}]" for k in range(n_out)]
        else:
            lines.append(f"        v, g = {kernel}({call})")
            if self.single:
                lines.append("        out[0, i] = v")
                lines += [f"        grad[{j}, i] = g[{j}]" for j in range(n_wrt)]
            else:
                lines += [f"        out[{k}, i] = v[{k}]" for k in range(n_out)]
                lines += [f"        grad[i, {k}, {j}] = g[{k}][{j}]" for k in range(n_out) for j in range(n_wrt)]
        return "\n".join(lines)
