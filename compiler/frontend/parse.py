"""Expressions from text, read safely: ``parse("sin(x)*y + x**2")``.

Python's own parser (``ast.parse``) reads the text and the tree is walked
with an explicit stack. Only numbers, names, ``+ - * / **``, comparisons
inside ``where()`` and calls of the library's functions are accepted;
anything else is a ``ParseError`` that shows the offending piece under a
caret. Nothing in the text is ever evaluated, imported or looked up in Python:
names become symbols, calls become ops of the op table.

Python's parser cannot hand over a tree thousands of levels deep (a flat sum
of 100,000 terms is one, as it nests to the left); such text is read again by
``tokens._parse_tokens``, a small operator-precedence parser of the accepted grammar
that builds the same tree without recursion.
"""

from __future__ import annotations

import ast
import math
import warnings
from typing import Any, Mapping

from .. import ir
from ..errors import ParseError
from ..ir import Node
from ..ir.gc_pause import gc_paused
from ..ir.ops import FUNCTIONS, OPS
from .dispatch import as_expr
from .source import (_ALLOWED, MAX_TERMS, MAX_TEXT_LENGTH, _checked, _error, _error_at,  # noqa: F401
                     _quote, _Source, _syntax_error)


CONSTANTS = {"pi": math.pi, "e": math.e}


_ARITY = {name: OPS[name].arity for name in FUNCTIONS}
_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}
_COMPARISONS = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge"}
_SIGNS = (ast.USub, ast.UAdd)
_ACCEPTED = (ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call)



# The roles of a node on the walk's stack.
_VALUE, _CONDITION, _BUILD = 0, 1, 2


def parse(text: str, symbols: Mapping[str, Any] | None = None, *, strict: bool = False) -> Node:
    """The expression written in ``text``, built from the library's functions.

    Accepted: numbers (read as float64: ``1e999`` is inf; an integer beyond
    float range is a ``ParseError``), names, ``pi`` and ``e``, unary ``- +``,
    ``+ - * / **``, the functions of ``ops.FUNCTIONS`` with their number of
    arguments, and one comparison ``< <= > >=`` as the condition of
    ``where(cond, a, b)``. Anything else, text longer than
    ``MAX_TEXT_LENGTH`` characters and text of more than ``MAX_TERMS`` names
    and numbers, raises ``ParseError``; a non-str is a
    ``TypeError``. Blanks around the text are ignored. Nothing in the text
    is evaluated.

    Each name becomes ``Symbol(name)``, spelled as written, unless
    ``symbols=`` (name -> expression, number or SymPy expression) maps it to
    something else; a name missing from ``symbols=`` is still ``Symbol(name)``
    (as SymPy's ``parse_expr`` does with ``local_dict``). A mapping entry ``pi``
    or ``e`` takes the place of the constant, one named after a function is a
    ``ValueError``. ``strict=True`` makes ``symbols=`` a whitelist, for text
    from untrusted sources: a name not in it (besides ``pi`` and ``e``) is a
    ``ParseError``.

    >>> parse("sin(x)*y + x**2")
    y * sin(x) + x ** 2.0
    >>> parse("a*y", symbols={"a": 2.0})
    y * 2.0
    """
    if not isinstance(text, str):
        raise TypeError(f"parse() takes the expression as a str, got {type(text).__name__}")
    if not isinstance(strict, bool):
        raise TypeError(f"parse() takes strict=True or False, got {type(strict).__name__}")
    names = _symbol_table(symbols)
    if strict and names is None:
        names = {}  # strict with no symbols=: no name is allowed, only pi and e
    source = _Source(_checked(text))
    with gc_paused():  # the trees and nodes made here hold no cycles; a long text makes many
        return _parse(text, source, names, strict)


def _parse(text: str, source: _Source, names: dict[str, Node] | None, strict: bool) -> Node:
    try:
        # Python's parser warns of "invalid decimal literal" and the like; such text is refused anyway
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            tree = ast.parse(source.body, mode="eval")
    except SyntaxError as e:
        raise _syntax_error(source, e) from None
    except (ValueError, OverflowError) as e:
        raise _error(text, "unreadable text", str(e)) from None
    except (RecursionError, MemoryError):
        tree = None  # too deep for Python's parser to hand over: read it again without recursion
    if tree is None:
        try:
            from .tokens import _parse_tokens  # only deep text needs it: imported then
            tree = _parse_tokens(source)
        except MemoryError:
            raise _error(text, "expression too large", "out of memory while reading it") from None
    return _Builder(source, names, strict).build(tree)


def parse_point(text: str) -> dict[str, float]:
    """Named values from text such as ``"x=1.5, y=2"`` (``inf``, ``-inf``, ``nan`` too).

    Names must be identifiers and appear once; values are read by ``float()``.
    Empty text gives ``{}``; anything else malformed is a ``ParseError``.

    >>> parse_point("x=1.5, y=-inf")
    {'x': 1.5, 'y': -inf}
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_point() takes a str such as 'x=1.5,y=2', got {type(text).__name__}")
    _checked(text, empty_ok=True)
    point: dict[str, float] = {}
    if not text.strip():
        return point
    at = 0  # where the current item starts in text
    for item in text.split(","):
        name, equals, value = item.partition("=")
        name_at = at + len(name) - len(name.lstrip())
        value_at = at + len(name) + 1 + len(value) - len(value.lstrip())
        name, value = name.strip(), value.strip()
        if not equals:
            raise _error_at(text, name_at, name, "expected name=value",
                            f"{_quote(name) if name else 'an empty item'} has no `=`; write a point as x=1.5,y=2")
        if not name.isidentifier():
            raise _error_at(text, name_at, name, "bad name", f"{_quote(name)} is not a name (an identifier)")
        if name in point:
            raise _error_at(text, name_at, name, "repeated name", f"{_quote(name)} is given twice")
        try:
            point[name] = float(value)
        except ValueError:
            raise _error_at(text, value_at, value, "bad number",
                            f"{_quote(value)} is not a number (inf, -inf and nan are)") from None
        at += len(item) + 1
    return point


def _symbol_table(symbols: Mapping[str, Any] | None) -> dict[str, Node] | None:
    if symbols is None:
        return None
    if not isinstance(symbols, Mapping):
        raise TypeError(f"symbols= takes a mapping of names to expressions, got {type(symbols).__name__}")
    table = {}
    for name, value in symbols.items():
        if not isinstance(name, str):
            raise TypeError(f"symbols= keys must be names (str), got {name!r}")
        if name in _ARITY:
            raise ValueError(f"symbols= key {name!r} is a function name; a name in the text cannot shadow a function")
        node = as_expr(value, f"symbols[{name!r}]")
        if node.dtype != "float":
            raise TypeError(f"symbols[{name!r}] is a comparison ({node}); a name stands for a number")
        table[name] = node
    return table


# --- the walk: syntax tree -> IR, with an explicit stack ---

_SYNTAX_NAMES = {
    "Attribute": "attribute access", "Subscript": "subscript", "Slice": "slice", "Lambda": "lambda",
    "ListComp": "comprehension", "SetComp": "comprehension", "DictComp": "comprehension",
    "GeneratorExp": "comprehension", "JoinedStr": "f-string", "FormattedValue": "f-string",
    "TemplateStr": "t-string", "Starred": "starred argument", "NamedExpr": "assignment expression (:=)",
    "IfExp": "conditional expression (write where(cond, a, b))", "Tuple": "tuple", "List": "list",
    "Set": "set", "Dict": "dict", "Await": "await", "Yield": "yield", "YieldFrom": "yield",
}
_OPERATOR_TEXT = {
    ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.BitOr: "|", ast.BitAnd: "&",
    ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>", ast.Not: "not", ast.Invert: "~",
    ast.And: "and", ast.Or: "or", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not",
    ast.In: "in", ast.NotIn: "not in",
}


def _describe(node) -> str:
    """What a rejected node is, in words."""
    kind = type(node)
    if kind is ast.Constant:
        value = node.value
        return {str: "string", bytes: "bytes", bool: "boolean", complex: "complex number"}.get(
            type(value), "constant")
    if kind in (ast.BinOp, ast.UnaryOp, ast.BoolOp):
        boolean = kind is ast.BoolOp or type(node.op) is ast.Not
        return ("boolean operator " if boolean else "operator ") + _OPERATOR_TEXT.get(type(node.op), "?")
    if kind is ast.Compare:
        rejected = [op for op in node.ops if type(op) not in _COMPARISONS]
        return "comparison " + _OPERATOR_TEXT.get(type(rejected[0]), "?")
    if kind is ast.keyword:
        return "keyword argument" if node.arg else "** unpacking"
    return _SYNTAX_NAMES.get(kind.__name__, kind.__name__)


class _Builder:
    def __init__(self, source: _Source, names: dict[str, Node] | None, strict: bool = False):
        self.source, self.names, self.strict = source, names, strict

    def build(self, tree: ast.Expression) -> Node:
        """Check every node before its operands (errors come in reading order), build after them."""
        values: list[Node] = []
        stack = [(tree.body, _VALUE)]
        while stack:
            node, role = stack.pop()
            if role == _BUILD:
                self._combine(node, values)
                continue
            kind = type(node)
            if kind not in _ACCEPTED:
                raise self._unsupported(node)
            if role == _CONDITION and kind is not ast.Compare:
                raise self.source.error("where() needs a comparison", (
                    f"the condition {_quote(self.source.segment(node))} of where(cond, a, b) must be a "
                    "comparison such as x > 0"), node)
            if kind is ast.Name:
                values.append(self._name(node))  # type: ignore[arg-type]
            elif kind is ast.Constant:
                values.append(self._number(node))  # type: ignore[arg-type]
            else:
                stack.append((node, _BUILD))
                stack.extend(reversed(self._operands(node, role)))
        return values.pop()

    def _operands(self, node, role: int) -> list:
        kind = type(node)
        if kind is ast.BinOp:
            if type(node.op) not in _BINARY:
                raise self._unsupported(node)
            return [(node.left, _VALUE), (node.right, _VALUE)]
        if kind is ast.UnaryOp:
            if type(node.op) not in _SIGNS:
                raise self._unsupported(node)
            return [(node.operand, _VALUE)]
        if kind is ast.Compare:
            if any(type(op) not in _COMPARISONS for op in node.ops):
                raise self._unsupported(node)
            piece = _quote(self.source.segment(node))
            if len(node.ops) > 1:
                raise self.source.error("chained comparison", (
                    f"{piece} is not allowed; one comparison per where(), nest where() to combine them"), node)
            if role != _CONDITION:
                raise self.source.error("comparison outside where()", (
                    f"{piece} is a condition: use it as where({self.source.segment(node)}, a, b)"), node)
            return [(node.left, _VALUE), (node.comparators[0], _VALUE)]
        return self._call_operands(node)

    def _call_operands(self, node: ast.Call) -> list:
        func = node.func
        if type(func) is not ast.Name:
            if type(func) not in _ACCEPTED:
                raise self._unsupported(func)
            raise self.source.error("unsupported syntax", (
                f"call {_quote(self.source.segment(node))} is not allowed: {_quote(self.source.segment(func))} "
                "is not a function; the functions are: " + ", ".join(FUNCTIONS)), node)
        name = self._check_reserved(func)
        if name not in _ARITY:
            raise self.source.error("unknown function", (
                f"{_quote(name)} is not one of the functions: " + ", ".join(FUNCTIONS)), func)
        for arg in node.args:
            if type(arg) is ast.Starred:
                raise self._unsupported(arg)
        if node.keywords:
            raise self._unsupported(node.keywords[0])
        arity = _ARITY[name]
        if len(node.args) != arity:
            raise self.source.error("wrong number of arguments", (
                f"{name}() takes {arity} argument{'s' if arity > 1 else ''}, got {len(node.args)}: "
                f"{_quote(self.source.segment(node))}"), node)
        roles = [_CONDITION, _VALUE, _VALUE] if name == "where" else [_VALUE] * arity
        return list(zip(node.args, roles))

    def _combine(self, node, values: list[Node]) -> None:
        kind = type(node)
        if kind is ast.BinOp:
            b = values.pop()
            values.append(self._apply(_BINARY[type(node.op)], node, values.pop(), b))
        elif kind is ast.UnaryOp:
            if type(node.op) is ast.USub:
                values.append(self._apply("neg", node, values.pop()))
        elif kind is ast.Compare:
            b = values.pop()
            values.append(self._apply(_COMPARISONS[type(node.ops[0])], node, values.pop(), b))
        else:
            name = self.source.segment(node.func)
            operands = values[len(values) - _ARITY[name]:]
            del values[len(values) - _ARITY[name]:]
            values.append(self._apply(name, node, *operands))

    def _apply(self, op_name: str, node, *operands) -> Node:
        try:
            return ir.apply(op_name, *operands)
        except (TypeError, ValueError) as e:  # the walk's checks should leave none; keep the promise anyway
            raise self.source.error("invalid expression", str(e), node) from None

    def _check_reserved(self, node: ast.Name) -> str:
        name = self.source.segment(node)
        if name.startswith("__") or node.id.startswith("__"):
            raise self.source.error("reserved name", f"{_quote(name)}: names starting with __ are not allowed", node)
        return name

    def _name(self, node: ast.Name) -> Node:
        name = self._check_reserved(node)
        if name in _ARITY:
            raise self.source.error("function used as a value", f"{name} is a function; call it as {name}(...)", node)
        if self.names is not None and name in self.names:
            return self.names[name]
        if name in CONSTANTS:
            return ir.constant(CONSTANTS[name])
        if self.strict:
            known = ", ".join(sorted(self.names)[:20]) + (", ..." if len(self.names) > 20 else "")  # type: ignore[arg-type]
            raise self.source.error("unknown name", (
                f"{_quote(name)} is not in symbols= ({known or 'empty'}); strict=True accepts only the names "
                "in symbols=, pi and e"), node)
        return ir.symbol(name)

    def _number(self, node: ast.Constant) -> Node:
        value = node.value
        if type(value) is int:
            try:
                value = float(value)
            except OverflowError:
                raise self.source.error("number too large", (
                    f"the integer {_quote(self.source.segment(node))} does not fit a float64 (at most about "
                    "1.8e308); write 1e999 for inf"), node) from None
        if type(value) is not float:
            raise self._unsupported(node)
        return ir.constant(value)

    def _unsupported(self, node) -> ParseError:
        piece = self.source.segment(node)
        detail = f"{_describe(node)} {_quote(piece)} is not allowed; {_ALLOWED}"
        return self.source.error("unsupported syntax", detail, node)


# --- reading without recursion: tokens -> the same syntax tree ---

