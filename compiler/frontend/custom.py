"""Custom derivative rules, with JAX's decorators: ``custom_jvp`` and ``custom_vjp``.

The function and its rule are Python functions building expressions; each is
traced once per argument shapes, on placeholder symbols, into one ``Rule``
(``ir.custom``): calling the decorated function builds a ``custom`` node whose
value is the function's and whose derivatives come from the rule. Arguments
are scalars or tensors (expressions or numbers); the function returns one.

>>> import compiler as cc
>>> @cc.custom_jvp
... def log1pexp(x):
...     return cc.log(1.0 + cc.exp(x))
>>> @log1pexp.defjvp
... def _(primals, tangents):
...     (x,), (t,) = primals, tangents
...     return log1pexp(x), t * (1.0 - 1.0 / (1.0 + cc.exp(x)))
>>> x = cc.Symbol("x")
>>> cc.compile(log1pexp(x), [x], backend="python").grad(1000.0)
(1.0,)
"""

from __future__ import annotations

import functools
import threading
from typing import Callable

from .. import ir
from ..errors import CompilerError, ShapeError, TracingError
from ..ir import Node
from ..ir.custom import Rule, custom

_depth = threading.local()  # custom functions being traced in this thread (one inside another's body)


class _Custom:
    """What the two decorators share: tracing on placeholders, one rule per argument shapes (and
    values of the non-differentiable arguments)."""

    __name__: str  # set by functools.update_wrapper from the decorated function
    _trace: Callable

    def __init__(self, fun: Callable, nondiff_argnums: tuple = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        if isinstance(nondiff_argnums, int):
            nondiff_argnums = (nondiff_argnums,)
        if not all(isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in nondiff_argnums):
            raise TypeError(f"{self.__name__}: nondiff_argnums must be argument positions (ints >= 0), "
                            f"got {nondiff_argnums!r}")
        self.nondiff = tuple(sorted(set(nondiff_argnums)))
        self._rules: dict[tuple, Rule] = {}
        self._local = threading.local()  # .tracing: the shapes this thread is tracing (a rule calling f)

    def __call__(self, *args) -> Node:
        if len(args) <= len(self.nondiff):
            raise TypeError(f"{self.__name__}: a custom function takes at least one differentiable argument "
                            f"(nondiff_argnums={self.nondiff}), got {len(args)} argument(s)")
        if self.nondiff and self.nondiff[-1] >= len(args):
            raise TypeError(f"{self.__name__}: nondiff_argnums={self.nondiff} names argument "
                            f"{self.nondiff[-1]}, but it was called with {len(args)} argument(s)")
        static = tuple(args[k] for k in self.nondiff)
        key_static = self._static_key(static)
        nodes = [ir.as_node(a, f"argument {k} of {self.__name__}") for k, a in enumerate(args)
                 if k not in self.nondiff]
        for k, a in enumerate(nodes):
            if a.dtype != "float":
                raise TypeError(f"{self.__name__}: argument {k} is a comparison; arguments are numbers")
        key = (tuple(a.shape for a in nodes), key_static)
        tracing = self._local.__dict__.setdefault("tracing", set())
        if key in tracing:  # the rule calls the function itself (``ans = f(x)``): its value
            return self._primal(static, nodes)
        if key not in self._rules:
            depth = getattr(_depth, "value", 0) + 1
            _depth.value = depth
            tracing.add(key)
            try:
                self._rules[key] = self._trace(static, key[0], f"<{self.__name__}#{depth}")
            finally:
                _depth.value = depth - 1
                tracing.discard(key)
        return custom(self._rules[key], nodes)

    def _static_key(self, static: tuple) -> tuple:
        """The non-differentiable arguments as part of the trace key: Python values (ints, floats,
        strings, callables), hashable, compared by type and value (1 is not 1.0)."""
        for k, v in zip(self.nondiff, static):
            if isinstance(v, Node) or hasattr(v, "__array__"):
                raise TypeError(f"{self.__name__}: argument {k} is in nondiff_argnums, so it must be a static "
                                f"Python value (an int, float, string or function), got "
                                f"{'an expression' if isinstance(v, Node) else 'an array'}; "
                                "pass a value that varies as an ordinary argument (with a None cotangent)")
        key = tuple((type(v), v) for v in static)
        try:
            hash(key)
        except TypeError:
            k, v = next((k, v) for k, v in zip(self.nondiff, static) if not _hashable(v))
            raise TypeError(f"{self.__name__}: argument {k} is in nondiff_argnums, so it must be hashable "
                            f"(its value selects the traced rule), got an unhashable {type(v).__name__}") from None
        return key

    def _merged(self, static: tuple, dynamic) -> list:
        """The arguments in the user's order: the static values at ``nondiff_argnums``."""
        out, dyn, st = [], iter(dynamic), iter(static)
        for k in range(len(static) + len(dynamic)):
            out.append(next(st) if k in self.nondiff else next(dyn))
        return out

    def _primal(self, static: tuple, placeholders: list[Node]) -> Node:
        out = self.fun(*self._merged(static, placeholders))
        if isinstance(out, (tuple, list)):
            raise TypeError(f"{self.__name__} returns a {type(out).__name__}; a custom function returns one "
                            "expression (a scalar or a tensor)")
        out = ir.as_node(out, f"the value of {self.__name__}")
        if out.dtype != "float":
            raise TypeError(f"{self.__name__} returns a comparison; use cc.where to make it a number")
        return out

    def _closed(self, rule: Rule) -> Rule:
        """Refuse a function or rule that reads symbols it was not given: their derivatives would
        silently be missing (the rule sees only the arguments)."""
        own = {n.id for n in rule.inputs + (rule.g,) + (rule.tangents or ()) if n is not None}
        outside = [n.name for n in ir.topo_order([n for n in rule.nodes if n is not None])
                   if n.op == "var" and n.id not in own]
        if outside:
            raise TracingError(f"{self.__name__} (or its rule) reads {outside} from outside its arguments; "
                               "a custom function sees only what it is given: pass them as arguments")
        return rule


class custom_jvp(_Custom):
    """A function with its own Jacobian-vector product (JAX's ``jax.custom_jvp``).

    ``@f.defjvp`` registers ``rule(primals, tangents) -> (primal_out, tangent_out)``, linear
    in the tangents. Reverse mode transposes it (``ad.custom``); second derivatives
    differentiate the rule itself. See the module's example (``log1pexp``).

    ``nondiff_argnums``: positions of arguments that are static Python values (ints, floats,
    strings, functions; hashable), as in JAX: they are not differentiated, the rule gets them
    first, ``rule(*nondiff, primals, tangents)``, and ``primals`` holds the others. Use it as
    ``functools.partial(cc.custom_jvp, nondiff_argnums=(0,))``.
    """

    def __init__(self, fun: Callable, nondiff_argnums: tuple = ()):
        super().__init__(fun, nondiff_argnums)
        self.jvp: Callable | None = None

    def defjvp(self, jvp: Callable) -> Callable:
        """Register the jvp rule (usable as a decorator); returns it."""
        self.jvp, self._rules = jvp, {}
        return jvp

    def _trace(self, static: tuple, shapes: tuple, tag: str) -> Rule:
        if self.jvp is None:
            raise CompilerError(f"{self.__name__} has no jvp rule: define one with @{self.__name__}.defjvp")
        xs = [ir.symbol(f"{tag} x{k}>", s) for k, s in enumerate(shapes)]
        ts = [ir.symbol(f"{tag} t{k}>", s) for k, s in enumerate(shapes)]
        primal = self._primal(static, xs)
        out = self.jvp(*static, tuple(xs), tuple(ts))
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise TypeError(f"the jvp rule of {self.__name__} must return (primal_out, tangent_out), "
                            f"got {type(out).__name__}")
        tangent = ir.as_node(out[1], f"the tangent the jvp rule of {self.__name__} returns")
        if tangent.shape != primal.shape and not tangent.shape:  # a scalar (0.0) for a tensor value
            tangent = ir.apply("broadcast_to", tangent, params=(primal.shape,))
        return self._closed(Rule(self.__name__, tuple(xs), primal, tangents=tuple(ts), tangent_out=tangent))


class custom_vjp(_Custom):
    """A function with its own vector-Jacobian product (JAX's ``jax.custom_vjp``).

    ``f.defvjp(fwd, bwd)``: ``fwd(*args) -> (out, residuals)`` (residuals: an expression or a
    tuple or list of them), ``bwd(residuals, g) -> tuple`` of one cotangent per argument (None:
    no gradient). The value is ``f``'s. With ``nondiff_argnums`` (static Python values, as in
    JAX), ``fwd`` takes every argument, ``bwd(*nondiff, residuals, g)`` gets those first and returns
    the cotangents of the other arguments only.

    >>> import compiler as cc
    >>> @cc.custom_vjp
    ... def clip_gradient(lo, hi, x):
    ...     return x
    >>> clip_gradient.defvjp(lambda lo, hi, x: (x, (lo, hi)),
    ...                      lambda res, g: (None, None, cc.clip(g, res[0], res[1])))
    >>> x = cc.Symbol("x")
    >>> cc.compile(clip_gradient(-0.5, 0.5, 3.0 * x), [x], backend="python").grad(1.0)
    (1.5,)
    """

    def __init__(self, fun: Callable, nondiff_argnums: tuple = ()):
        super().__init__(fun, nondiff_argnums)
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """Register the forward function and the backward rule."""
        self.fwd, self.bwd, self._rules = fwd, bwd, {}

    def _trace(self, static: tuple, shapes: tuple, tag: str) -> Rule:
        if self.fwd is None:
            raise CompilerError(f"{self.__name__} has no vjp rule: define one with {self.__name__}.defvjp(fwd, bwd)")
        xs = [ir.symbol(f"{tag} x{k}>", s) for k, s in enumerate(shapes)]
        primal = self._primal(static, xs)
        out = self.fwd(*self._merged(static, xs))
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise TypeError(f"the fwd function of {self.__name__} must return (out, residuals), "
                            f"got {type(out).__name__}")
        leaves, rebuild = _flatten(out[1])
        values = [ir.as_node(v, f"residual {k} of {self.__name__}") for k, v in enumerate(leaves)]
        slots = [ir.symbol(f"{tag} r{k}>", v.shape) for k, v in enumerate(values)]
        g = ir.symbol(f"{tag} g>", primal.shape)
        cts = self.bwd(*static, rebuild(slots), g)  # type: ignore[misc]
        if not isinstance(cts, (tuple, list)) or len(cts) != len(xs):
            got = f"{len(cts)} values" if isinstance(cts, (tuple, list)) else type(cts).__name__
            which = f" not in nondiff_argnums={self.nondiff}" if self.nondiff else ""
            raise TypeError(f"the bwd rule of {self.__name__} must return a tuple of {len(xs)} cotangent(s), "
                            f"one per argument{which} (None for no gradient), got {got}")
        cotangents: list[Node | None] = []
        for k, (c, x) in enumerate(zip(cts, xs)):
            if c is None:
                cotangents.append(None)
                continue
            c = ir.as_node(c, f"cotangent {k} of {self.__name__}")
            if c.shape != x.shape and not c.shape:
                c = ir.apply("broadcast_to", c, params=(x.shape,))
            if c.shape != x.shape:
                raise ShapeError(f"the bwd rule of {self.__name__} returns a cotangent of shape {c.shape} for "
                                 f"argument {k}, which has shape {x.shape}")
            cotangents.append(c)
        # the residuals are the fwd function's expressions of the arguments
        present = [c for c in cotangents if c is not None]
        replaced = iter(ir.substitute(present, {s.id: v for s, v in zip(slots, values)}))
        cotangents = [next(replaced) if c is not None else None for c in cotangents]
        return self._closed(Rule(self.__name__, tuple(xs), primal, g=g, cotangents=tuple(cotangents)))


def _hashable(v) -> bool:
    try:
        hash(v)
        return True
    except TypeError:
        return False


def _flatten(tree) -> tuple[list, Callable]:
    """Residuals as leaves (tuples and lists are walked; None stays None) and how to rebuild them."""
    leaves: list = []

    def walk(t):
        if isinstance(t, (tuple, list)):
            return (type(t), [walk(s) for s in t])
        if t is None:
            return None
        leaves.append(t)
        return len(leaves) - 1

    shape = walk(tree)

    def rebuild(values):
        def build(t):
            if t is None:
                return None
            if isinstance(t, int):
                return values[t]
            kind, subs = t
            return kind(build(s) for s in subs)
        return build(shape)
    return leaves, rebuild
