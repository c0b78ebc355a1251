"""A warm start without the reverse pass: a compiled function found in the disk cache from the
structure of its forward graph, its reverse pass and schedule made only when something needs them.

Takes: a ``CompiledFunction`` being made, and the topological order of its outputs. Gives: its
``Start`` — the key of the function (every node's op, parameters, type, constant value and operands
by position, the inputs, ``wrt`` and outputs by position, the options, the class, and a digest of
the modules that turn a graph into kernels) and, when a process compiled the same function before
on this machine, the llvm index keys of its kernels (``llvm_index``: the object code and what
loading it needs). The kernels then load at the first call (or ``fn.wait()``) without
``reverse.jacobian`` and ``codegen.schedule``; ``plan``, ``_jac`` and what is printed from them
(``fn.source``, ``fn.llvm_ir``, derived functions, vector batches, the interpreter) are made on
first use by ``derive`` (``Derived``), with the results the eager path gives.

Only scalar graphs on the llvm target (requested "llvm" or "auto") start lazily; graphs with
tensors, loops, custom derivative rules or a user's functions have no key and are made at once.

>>> import compiler as cc
>>> x = cc.Symbol("x")
>>> fn = cc.compile(cc.sin(x) * 2.0, [x], backend="python")
>>> fn._lazy.key is None, "plan" in fn.__dict__  # (not the llvm target: no key, derived at once)
(True, True)
"""

from __future__ import annotations

import array
import functools
import hashlib
import json
import sys
import threading
from pathlib import Path
from typing import Any, Generic, TypeVar

from .. import codegen, ir
from ..ad import reverse
from ..errors import UnsupportedError
from ..ir import Node
from ..ir.gc_pause import gc_paused
from . import cache

KIND = "lazy"  # the entries' suffix (counted with the llvm target's object code by ``cache_info``)
FORMAT = 1     # in every key: a new payload format misses the old entries
# the classes whose functions start lazily (a float32 or complex function has other kernels)
CLASSES = ("compiler.runtime.function.CompiledFunction", "compiler.runtime.shaped.ShapedFunction")
_REFUSED = ("scan", "custom", "item")  # a loop (its own emitter), a custom rule (user code)
T = TypeVar("T")
_counts = {"derived": 0}  # reverse passes made by ``derive`` in this process (tests)
_counts_lock = threading.Lock()


class Derived(Generic[T]):
    """A ``CompiledFunction`` attribute made by the reverse pass and the schedule (``derive``) on
    first use. Not a data descriptor: once ``derive`` set it on the instance, reads of it no
    longer come here."""

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, fn: Any, owner: Any = None) -> T:
        if fn is None:
            return self
        with fn._lock:
            if self.name not in fn.__dict__:
                derive(fn, ir.topo_order(fn.outputs))
        return fn.__dict__[self.name]


def derive(fn, order: list) -> list:
    """The reverse pass (``fn._jac``, or ``fn._no_derivative``), custom functions lowered
    (``fn._printed``, ``fn._notes``) and the schedule (``fn.plan``) of ``fn``; returns the
    topological order of what is printed (``order``, the outputs', unless a custom function was
    lowered)."""
    with _counts_lock:
        _counts["derived"] += 1
    labels: dict = {}
    with gc_paused():
        # a gradient is of scalar outputs; others have jacobian() and jvp() (derivatives.py)
        scalar = not any(o.shape for o in fn.outputs)
        no_derivative: UnsupportedError | None = None
        try:
            jac = reverse.jacobian(fn.outputs, fn.wrt, labels, order) if fn.wrt and scalar else None
        except UnsupportedError as e:  # an input in a discrete argument (polygamma's n): values only
            jac, no_derivative = None, e
            labels.clear()
        # the code generators print a custom function's primal body (its rule served the AD above)
        notes: dict = {}  # id of an inlined custom function's value -> a comment naming it
        printed = ir.custom.lower_derivatives(fn.outputs, jac, notes)
        if printed[0] is not fn.outputs:
            order = ir.topo_order(printed[0])
        plan = codegen.schedule(*printed, order)
    fn.__dict__.update(_labels=labels, _jac=jac, _no_derivative=no_derivative, _notes=notes, _printed=printed,
                       plan=plan)
    return order


def derived_count() -> int:
    """How many reverse passes ``derive`` made in this process (what a warm start avoids)."""
    return _counts["derived"]


class Start:
    """A function's disk-cache entry for lazy starts: its ``key`` (None: this function has none)
    and, after a hit, the index keys of the kernels (``roles``) made for this machine
    (``fingerprint``) and whether it has a gradient."""

    def __init__(self, fn, order: list):
        self.fn = fn
        self.roles: dict[str, str] = {}
        self.fingerprint: str | None = None
        self.gradient = False
        self._loaded: dict = {}  # role -> its target loaded by ``load`` (None: it could not be)
        self.key = _key(fn, order)
        self.hit = False
        if self.key is not None:
            payload = cache.load(self.key, KIND)
            if payload is not None:
                self.hit = self._read(payload)

    def _read(self, payload: bytes) -> bool:
        try:
            meta = json.loads(payload)
            if meta["format"] != FORMAT or not isinstance(meta["roles"], dict) or not meta["roles"]:
                return False
            roles, fingerprint, gradient = dict(meta["roles"]), str(meta["fingerprint"]), bool(meta["gradient"])
        except (ValueError, KeyError, TypeError):  # another format: made the usual way
            return False
        if not all(isinstance(k, str) and k in ("value", "value_and_grad") for k in roles):
            return False
        self.roles, self.fingerprint, self.gradient = roles, fingerprint, gradient
        return True

    def waiting(self) -> bool:
        """Whether the function is not derived yet (its reverse pass and schedule not made)."""
        return self.hit and "plan" not in self.fn.__dict__

    def has_gradient(self) -> bool:
        """Whether ``fn`` has a gradient (scalar outputs, a ``wrt``), without deriving it."""
        return self.gradient if self.waiting() else self.fn._jac is not None

    def load(self, role: str) -> bool:
        """Load the llvm target of ``role`` from its index entry, for ``cached_target``; False when
        it cannot be (not recorded, made for another machine, its entry gone or unusable)."""
        if role not in self._loaded:
            index_key = self.roles.get(role)
            target = None
            if index_key is not None:
                from . import llvm
                from .flat import native_target
                if self.fingerprint == llvm.host_fingerprint():
                    target = native_target(self.fn.inputs, None, role, False, index_key=index_key)
            self._loaded[role] = target
        return self._loaded[role] is not None

    def cached_target(self, role: str):
        """The llvm target of ``role`` from the disk cache (``load``), or None."""
        self.load(role)
        return self._loaded.pop(role)

    def record(self, role: str, target) -> None:
        """Remember the index key of ``role``'s llvm ``target`` in this function's entry."""
        index_key = getattr(target, "index_key", None)
        fn = self.fn
        if self.key is None or index_key is None or target.externs or fn._no_derivative is not None:
            return
        from . import llvm
        fingerprint = llvm.host_fingerprint()
        if self.fingerprint != fingerprint:  # (an entry of another machine: replaced)
            self.roles, self.fingerprint = {}, fingerprint
        if self.roles.get(role) == index_key:
            return
        self.roles[role] = index_key
        self.gradient = fn._jac is not None
        meta = {"format": FORMAT, "fingerprint": fingerprint, "gradient": self.gradient, "roles": self.roles}
        cache.store(self.key, KIND, json.dumps(meta, sort_keys=True).encode())


def llvm_target(fn, role: str, progress: bool):
    """The llvm target of scalar ``role``: from the function's lazy entry, else made from its
    schedule (loaded through the llvm index, or compiled) and recorded in that entry."""
    from .flat import native_target
    start: Start = fn._lazy
    target = start.cached_target(role) if start.hit else None
    if target is None:
        target = native_target(fn.inputs, fn.plan[role], role, progress)
        start.record(role, target)
    return target


class Cached:
    """The first entry of a role under "auto" when the function's kernels are in the disk cache:
    the first call (or ``fn.ready``) loads the kernel and puts it in its place; if it cannot be
    loaded, the interpreter takes over, as for any function under "auto" (``tiers.Interpreted``)."""

    def __init__(self, owner, role: str):
        self.owner, self.role = owner, role

    def __call__(self, *args):
        return self.resolve()(*args)

    def resolve(self):
        """What answers this role now that the cache was looked at: the kernel or the interpreter."""
        from .batch import SLOT
        from .tiers import Interpreted
        owner, role = self.owner, self.role
        with owner._lock:
            entry = getattr(owner, SLOT[role])
            if entry is self:
                owner._tiers.called.add(role)
                loaded = owner._lazy.load(role)
                # (the kernel's target is the one just loaded: ``llvm_target`` takes it)
                entry = owner._code.kernel(role) if loaded else Interpreted(owner, role)
                setattr(owner, SLOT[role], entry)
        return entry


def _key(fn, order: list) -> str | None:
    """The key of ``fn``'s lazy entry, or None when it has none (see the module docstring)."""
    if f"{type(fn).__module__}.{type(fn).__qualname__}" not in CLASSES or \
            fn.requested_backend not in ("llvm", "auto") or cache._root() is None:
        return None
    text = describe(fn.outputs, fn.inputs, fn.wrt, order)
    if text is None:
        return None
    options = (f"{type(fn).__qualname__} backend={fn.requested_backend} many={fn._many} single={fn._single} "
               f"simd={fn._simd} max_statements={fn._max_statements}")
    return cache.entry_key("lazy start", str(FORMAT), package_digest(), options, text)


def describe(outputs, inputs, wrt, order: list) -> bytes | None:
    """The forward graph as bytes that determine everything compiled from it, or None when some
    node has no exact description here: the distinct node kinds (op, type, parameters) as text,
    each constant's exact value, then per node its kind and its operands by position (the inputs
    first), the outputs and ``wrt`` by position.

    >>> x, y = ir.symbol("x"), ir.symbol("y")
    >>> print(describe([ir.apply("sin", x) * 2.0], [x, y], [x], None).split(b"\\0")[0].decode())
    'sin'
    'const'
    'mul'
    constants
    3 0x1.0000000000000p+1
    """
    if order is None:
        order = ir.topo_order(outputs)
    position: dict[Node, int] = {}  # (nodes hash by identity)
    for n in inputs:
        if n.op != "var" or n.shape or n.params is not None or n in position:
            return None  # a tensor, a float32 or complex input, an input twice
        position[n] = len(position)
    kinds: dict = {}  # op (a float without parameters), else (op, type, parameters' text) -> its number
    codes = array.array("q")
    add, extend = codes.append, codes.extend
    constants: list[str] = []
    for n in order:
        op = n.op
        if op == "var":
            if n not in position:
                return None  # not an input: the eager path says so
            continue
        if n.shape:
            return None
        params = n.params
        kind = op if params is None and n.dtype == "float" else (op, n.dtype, repr(params))
        code = kinds.get(kind)
        if code is None:
            if op in _REFUSED or op.startswith("extern") or " at 0x" in repr(params):
                return None  # a loop, a user's function or rule, a parameter without an exact text
            code = kinds[kind] = len(kinds)
        if op == "const":
            value = n.value
            if type(value) is float:
                constants.append(f"{len(position)} {value.hex()}")
            elif type(value) is bool:
                constants.append(f"{len(position)} {value!r}")
            else:
                return None  # complex
        args = n.args
        if len(args) == 2:
            extend((code, 2, position[args[0]], position[args[1]]))
        else:
            add(code)
            add(len(args))
            extend([position[a] for a in args])
        position[n] = len(position)
    add(-1)
    extend([position[o] for o in outputs])
    add(-1)
    for w in wrt:
        if position.get(w, len(inputs)) >= len(inputs):
            return None
        add(position[w])
    if sys.byteorder != "little":
        codes.byteswap()
    text = "\n".join([repr(k) for k in kinds] + ["constants"] + constants).encode()
    return text + b"\0" + codes.tobytes()


@functools.cache
def package_digest() -> str:
    """A hash of the modules that turn a graph into kernels and load them (``ir``, ``ad``,
    ``codegen``, ``runtime``): any change to them gives every lazy entry a new key."""
    package = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for part in ("ir", "ad", "codegen", "runtime"):
        for path in sorted((package / part).rglob("*.py")):
            h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()
