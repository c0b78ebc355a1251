"""The llvm target's index: the disk-cache entry of a schedule found from its structure, before
(and instead of) printing its LLVM IR.

The object code is stored under the hash of its LLVM IR (``flat.native_target``), so finding it
meant printing the IR first: about a fifth of a warm start of the 10,000-op gradient. This index
maps a key made from the schedule itself (every node's op, parameters, shape, type, constant
value and operands by position, the outputs by position) and from the source of the modules
that turn a schedule into IR and machine code (``ir/``, ``codegen/``, the llvm runtime) to that
entry, with what loading it needs (sizes, the declarations that bind scipy.special's symbols).
A schedule the key cannot describe exactly (loops, a user's function, a parameter without an
exact text) has no index entry and takes the usual way.

>>> from compiler import ir
>>> from compiler.codegen import schedule
>>> x = ir.symbol("x")
>>> print(describe([x], schedule([ir.apply("sin", x) * 2.0], None)["value"]).split(b"\\0")[0].decode())
('sin', '', (), 'float')
('const', '', (), 'float')
('mul', '', (), 'float')
constants
in float float64 ()
2 () float 0x1.0000000000000p+1
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ..codegen.llvm import NativeModule
from ..ir import Node
from ..ir.dtypes import of_symbol
from . import cache

KIND = "idx"  # the entries' suffix (the cache counts them with the llvm target's object code)
_IDENTITY = re.compile(r" at 0x[0-9a-f]+")  # a repr naming an object by address: no exact text


@functools.cache
def emitter_digest() -> str:
    """A hash of the modules whose code decides a schedule's IR and how it is loaded: a change to
    any of them (a new op lowering, another part size) gives every index key anew."""
    package = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    files = sorted((package / "ir").glob("*.py")) + sorted((package / "codegen").glob("*.py")) + [
        package / "runtime" / name for name in ("llvm.py", "llvm_parts.py", "flat.py", "llvm_index.py")]
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def describe(inputs: Sequence[Node], plan) -> bytes | None:
    """The schedule ``plan`` of a kernel of ``inputs`` as bytes that determine its LLVM IR, or
    None when some node has no exact description here (then the IR itself is the key): the
    distinct node kinds (op, parameters, shape, type) as text, then per node its kind, its
    operands by position and its constant, and the outputs by position."""
    position: dict[int, int] = {}
    kinds: dict[tuple, int] = {}
    codes: list[int] = []  # per node: kind, number of operands, their positions
    constants: list[str] = []
    for n in inputs:
        position[n.id] = len(position)
        constants.append(f"in {n.dtype} {of_symbol(n)} {n.shape}")

    def add(n: Node) -> bool:
        """Describe ``n`` (its operands described before it); False when it cannot be."""
        if n.op in ("var", "scan") or n.op.startswith("extern"):
            return False  # an input not listed, a loop (its own emitter), a user's function
        if n.op == "const":
            value = _value_text(n.value)
            if value is None:
                return False
            constants.append(f"{len(position)} {n.shape} {n.dtype} {value}")
        # (by the parameters' text: 1, 1.0 and True are one dict key, and may print apart)
        kind = (n.op, repr(n.params) if n.params is not None else "", n.shape, n.dtype)
        if kind not in kinds:
            if _IDENTITY.search(kind[1]):
                return False
            kinds[kind] = len(kinds)
        for a in n.args:  # a constant operand or output may be outside the schedule's nodes
            if a.id not in position and not (a.op == "const" and add(a)):
                return False
        codes.append(kinds[kind])
        codes.append(len(n.args))
        codes.extend(position[a.id] for a in n.args)
        position[n.id] = len(position)
        return True
    for n in list(plan.nodes) + list(plan.outputs):
        if n.id not in position and not add(n):
            return None
    codes.append(-1)
    codes.extend(position[o.id] for o in plan.outputs)
    text = "\n".join([repr(k) for k in kinds] + ["constants"] + constants).encode()
    return text + b"\0" + np.asarray(codes, dtype="<i8").tobytes()


def _value_text(value) -> str | None:
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, np.ndarray):
        return f"{value.dtype.str}{value.shape}{value.tobytes().hex()}"
    return None


def key(fingerprint: str, inputs: Sequence[Node], plan) -> str | None:
    """The index key of ``plan`` on this machine (``fingerprint``), or None (see ``describe``)."""
    text = describe(inputs, plan)
    return None if text is None else cache.entry_key("llvm index", fingerprint, emitter_digest(), text)


def load(index_key: str) -> tuple[str, NativeModule] | None:
    """The object code's key and what loading it needs, if this schedule was indexed."""
    payload = cache.load(index_key, KIND)
    if payload is None:
        return None
    try:
        meta = json.loads(payload)
        module = NativeModule(["\n".join(meta["declarations"])], meta["n_in"], meta["n_out"], meta["n_scratch"],
                              io=meta["io"])
        return meta["key"], module
    except (ValueError, KeyError, TypeError):  # an entry of another format: the usual way
        return None


def store(index_key: str, object_key: str, module: NativeModule) -> None:
    """Index the object code ``object_key`` of ``module`` (a scalar kernel, no user's functions)."""
    if module.externs or module.width != 1:
        return
    declarations = [line for line in module.text.splitlines() if line.startswith("declare ")]
    meta = {"key": object_key, "n_in": module.n_in, "n_out": module.n_out, "n_scratch": module.n_scratch,
            "io": module.io, "declarations": declarations}
    cache.store(index_key, KIND, json.dumps(meta).encode())
