"""A user's own compiled function as an op: ``extern`` nodes call it by reference.

``Extern`` holds a user's ``numba.njit`` function of scalars (or arrays) returning a float
(``f``), and optionally its gradient (``grad``: the tuple of partial
derivatives) and Hessian (``hessian``: a tuple of rows). A node
``extern(x, y; fn, part)`` is ``f(x, y)`` (``part == ()``), ``grad(x, y)[k]``
(``part == ("grad", k)``), ``hessian(x, y)[i][j]`` (``("hessian", i, j)``) or
``jvp(x, y, e_k)`` (``("jvp", k)``: a partial from a jvp function of (x, y, tx, ty)).
The derivative rule of each part is the next part; without it, differentiating
raises. The IR knows nothing of Numba: the code generators print a call of a
module-level name, and the runtime binds it to the dispatcher (compiled code)
or to its Python function (interpreted tiers).

>>> from compiler import ir
>>> def q(x, y): return x * y
>>> node = ir.apply("extern", ir.symbol("a"), 2.0, params=(Extern(q), ()))
>>> node
q(a, 2.0)
"""

from __future__ import annotations

import hashlib
import importlib

from ..errors import CompilerError


class Extern:
    """A user's function (and its derivatives), by reference; pickled by its import path.

    ``static``: ``(position, int)`` pairs, arguments that are not differentiated (``nondiff_argnums``):
    every call passes them, the node's operands are the other arguments, and ``grad``, ``hessian``
    and the tangents of ``jvp`` are of those others only.
    """

    def __init__(self, f, grad=None, hessian=None, jvp=None, name: str | None = None, static: tuple = ()):
        self.f, self.grad, self.hessian, self.jvp = f, grad, hessian, jvp
        self.name = name or getattr(f, "__name__", "extern")
        self.static = tuple(static)
        self.fingerprint = _fingerprint(f, grad, hessian, jvp, static=self.static)

    def with_static(self, static: tuple) -> "Extern":
        """The same functions, called with the non-differentiated arguments ``static``."""
        return Extern(self.f, self.grad, self.hessian, self.jvp, self.name, static)

    def arguments(self, values: list) -> list:
        """The arguments of a call, in the user's order: ``values`` (the operands) with the static
        ones inserted at their positions."""
        out = list(values)
        for position, value in self.static:
            out.insert(position, value)
        return out

    def function(self, part: tuple):
        """The callable of ``part`` (``f``, ``grad``, ``hessian`` or ``jvp``)."""
        return self.f if not part else getattr(self, part[0])

    def _all(self) -> tuple:
        return (self.f, self.grad, self.hessian, self.jvp)

    def __eq__(self, other):
        return isinstance(other, Extern) and self._all() == other._all() and self.static == other.static

    def __hash__(self):
        return hash((tuple(id(f) for f in self._all()), self.static))

    def __repr__(self) -> str:  # the same in every process (part of the node's skey); changes with the code
        return f"Extern({self.name}, {self.fingerprint})"

    def __reduce__(self):
        paths = []
        for what, fn in zip(("f", "grad", "hessian", "jvp"), self._all()):
            if fn is None:
                paths.append(None)
                continue
            module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
            found = _lookup(module, qualname) if module and module != "__main__" else None
            if found is not fn:
                import pickle
                where = "in __main__" if module == "__main__" else "inside a function" if "<locals>" in qualname \
                    else f"as {module}.{qualname}"
                raise pickle.PicklingError(
                    f"cc.extern: {what} function {qualname or fn!r} is defined {where}, which another process "
                    "cannot import; define it at the top level of an importable module to use processes or Dask")
            paths.append((module, qualname))
        return (_from_paths, (tuple(paths), self.name, self.static))


def _lookup(module: str, qualname: str):
    try:
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        return obj
    except (ImportError, AttributeError):
        return None


def _from_paths(paths, name, static=()):
    fs = [None if p is None else _lookup(*p) for p in paths]
    for p, fn in zip(paths, fs):
        if p is not None and fn is None:
            raise CompilerError(f"cc.extern: cannot import {p[0]}.{p[1]} in this process")
    return Extern(*fs, name=name, static=static)


def _fingerprint(*fns, static: tuple = ()) -> str:
    """A digest of the functions' names and bytecode (and the static arguments): a changed function
    is another op."""
    h = hashlib.sha256(repr(static).encode())
    for fn in fns:
        py = getattr(fn, "py_func", fn)
        code = getattr(py, "__code__", None)
        h.update(repr((getattr(py, "__module__", None), getattr(py, "__qualname__", None))).encode())
        if code is not None:
            h.update(code.co_code)
            h.update(repr(code.co_consts).encode())
    return h.hexdigest()[:12]


def _shape(shapes, params):
    """A value and a jvp are numbers; partial ``k`` has argument k's shape; a Hessian entry is a number
    (of scalar arguments only)."""
    part = params[1]
    return tuple(shapes[part[1]]) if part and part[0] == "grad" else ()


def _vjp(args, node, g):
    fn, part = node.params
    from .node import apply
    n = len(args)
    if not part:
        if fn.grad is None and fn.jvp is None:
            raise CompilerError(f"cannot differentiate the extern function {fn.name}: it was given no gradient "
                                f"(cc.extern({fn.name}, grad=...), an njit function returning the tuple of its "
                                f"{n} partial derivatives, or jvp=...); for values only, compile with wrt=[]")
        which = "grad" if fn.grad is not None else "jvp"  # jvp: one call per partial, a unit tangent each
        if which == "jvp" and any(a.shape for a in args):
            raise CompilerError(f"cannot differentiate the extern function {fn.name} through its jvp: it takes "
                                "arrays (a partial per element would be a call each); give it grad=...")
        return [g * apply("extern", *args, params=(fn, (which, k))) for k in range(n)]
    if part[0] in ("grad", "jvp"):
        if any(a.shape for a in args):
            raise CompilerError(f"cannot take second derivatives of the extern function {fn.name}: it takes "
                                "arrays (its hessian is of scalar arguments only)")
        if fn.hessian is None:
            raise CompilerError(f"cannot take second derivatives of the extern function {fn.name}: it was given "
                                f"no Hessian (cc.extern({fn.name}, grad=..., hessian=...), an njit function "
                                "returning a tuple of rows)")
        return [g * apply("extern", *args, params=(fn, ("hessian", part[1], j))) for j in range(n)]
    raise CompilerError(f"cannot take third derivatives of the extern function {fn.name}")


def _fold(*args, params):
    """All operands constant: the value, by the Python function (``py_func``) on floats."""
    if any(a.op != "const" or a.shape for a in args):
        return None
    from .node import constant
    fn, part = params
    values = [float(a.value) for a in args]
    return constant(float(call(fn, getattr(fn.function(part), "py_func", fn.function(part)), part, values)))


def call(fn: Extern, function, part: tuple, values: list):
    """``part`` of the extern function ``fn`` at ``values`` (its operands), ``function`` being the
    callable of the part."""
    if part and part[0] == "jvp":
        return function(*fn.arguments(values), *(float(j == part[1]) for j in range(len(values))))
    result = function(*fn.arguments(values))
    for k in part[1:]:
        result = result[k]
    return result


def label(node) -> str:
    """How an extern node reads in expressions: ``q``, ``q.grad[k]``, ``q.hessian[i][j]`` (``q[1=64]``
    with a static argument 64 at position 1)."""
    fn, part = node.params
    static = "[" + ", ".join(f"{k}={v}" for k, v in fn.static) + "]" if fn.static else ""
    return fn.name + static + ("" if not part else f".{part[0]}" + "".join(f"[{k}]" for k in part[1:]))


def extern_ops():
    """The table entry of ``extern`` (``ops.OPS``)."""
    from .ops import Op
    return [Op("extern", -1, "", _vjp, params=("function", "part"), shape_rule=_shape, simplify=_fold)]


def called(order) -> bool:
    """Whether the nodes of ``order`` (loop bodies included) call a user's function."""
    from .loops import body_order
    return any(n.op == "extern" or (n.op == "scan" and called(body_order(n.params[0]))) for n in order)
