"""Expressions from text, read safely: ``parse("sin(x)*y + x**2")``.

Python's own parser (``ast.parse``) reads the text and the tree is walked
with an explicit stack. Only numbers, names, ``+ - * / **``, comparisons
inside ``where()`` and calls of the library's functions are accepted;
anything else is a ``ParseError`` that shows the offending piece under a
caret. Nothing in the text is ever evaluated, imported or looked up in Python:
names become symbols, calls become ops of the op table.

Python's parser cannot hand over a tree thousands of levels deep (a flat sum
of 100,000 terms is one, as it nests to the left); such text is read again by
``_parse_tokens``, a small operator-precedence parser of the accepted grammar
that builds the same tree without recursion.
"""

from __future__ import annotations

import ast
import keyword
import math
import re
import unicodedata
import warnings
from typing import Any, Mapping, NamedTuple

from . import ir
from .errors import ParseError
from .ir import Node
from .ops import FUNCTIONS, OPS

#: Longer text is refused before it is parsed.
MAX_TEXT_LENGTH = 1_000_000

CONSTANTS = {"pi": math.pi, "e": math.e}

MAX_SHOWN_LINE = 200  # a longer line is shown in an error as an excerpt around the column
EXCERPT_CONTEXT = 40  # characters shown on each side of the error in such an excerpt
MAX_QUOTED = 60  # a longer piece is shortened in the message (ParseError.piece keeps it whole)

_ARITY = {name: OPS[name].arity for name in FUNCTIONS}
_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}
_COMPARISONS = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge"}
_SIGNS = (ast.USub, ast.UAdd)
_ACCEPTED = (ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call)

_ALLOWED = ("expressions may use numbers, names, + - * / **, comparisons inside where(), "
            "and the functions: " + ", ".join(FUNCTIONS))

_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # the line breaks of Python's tokenizer
_BLANKS = " \t\f\r\n"  # around the text: Python's parser calls them an indent; eval() strips them

# The roles of a node on the walk's stack.
_VALUE, _CONDITION, _BUILD = 0, 1, 2


def parse(text: str, symbols: Mapping[str, Any] | None = None) -> Node:
    """The expression written in ``text``, built from the library's functions.

    Accepted: numbers (read as float64: ``1e999`` is inf; an integer beyond
    float range is a ``ParseError``), names, ``pi`` and ``e``, unary ``- +``,
    ``+ - * / **``, the functions of ``ops.FUNCTIONS`` with their number of
    arguments, and one comparison ``< <= > >=`` as the condition of
    ``where(cond, a, b)``. Anything else, and text longer than
    ``MAX_TEXT_LENGTH`` characters, raises ``ParseError``; a non-str is a
    ``TypeError``. Blanks around the text are ignored. Nothing in the text
    is evaluated.

    Each name becomes ``Symbol(name)``, spelled as written. With ``symbols=``
    (name -> expression, number or SymPy expression) a name is looked up there
    and a name missing from it is a ``ParseError``; a mapping entry ``pi`` or
    ``e`` takes the place of the constant, one named after a function is a
    ``ValueError``.

    >>> parse("sin(x)*y + x**2")
    y * sin(x) + x ** 2.0
    """
    if not isinstance(text, str):
        raise TypeError(f"parse() takes the expression as a str, got {type(text).__name__}")
    names = _symbol_table(symbols)
    source = _Source(_checked(text))
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
            tree = _parse_tokens(source)
        except MemoryError:
            raise _error(text, "expression too large", "out of memory while reading it") from None
    return _Builder(source, names).build(tree)


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


# --- the text and its positions ---

def _checked(text: str, empty_ok: bool = False) -> str:
    """Refuse, before parsing, what Python's parser must not be given or would misreport."""
    if len(text) > MAX_TEXT_LENGTH:
        raise ParseError(f"text too long: {len(text):,} characters, the limit is MAX_TEXT_LENGTH = "
                         f"{MAX_TEXT_LENGTH:,}", text=text)
    if not empty_ok and not text.strip():
        raise ParseError("empty expression: the text has nothing to parse", text=text)
    null = text.find("\0")
    if null >= 0:
        raise _error_at(text, null, "\0", "null character", "text cannot contain a null character (\\0)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise _error_at(text, e.start, text[e.start], "invalid character",
                        f"lone surrogate {text[e.start]!a} is not a character") from None
    return text


class _Source:
    """The text, and the body given to the parser: the text without blanks around it.

    Parser positions are (line, UTF-8 byte column) in the body; errors report
    (line, character column), 1-based, in the text.
    """

    def __init__(self, text: str):
        self.text = text
        lead = len(text) - len(text.lstrip(_BLANKS))
        self.body = text[lead:].rstrip(_BLANKS)
        head = _LINE_BREAK.split(text[:lead])
        self.lead_lines, self.lead_columns = len(head) - 1, len(head[-1])
        self.lines = _LINE_BREAK.split(self.body)
        self._encoded: dict[int, bytes] = {}

    def line_bytes(self, lineno: int) -> bytes:
        found = self._encoded.get(lineno)
        if found is None:
            found = self._encoded[lineno] = self.lines[lineno - 1].encode("utf-8")
        return found

    def segment(self, node) -> str:
        """The text of a node (for a name: the name as written, before Python normalizes it)."""
        first, last = node.lineno, node.end_lineno
        if first == last:
            return self.line_bytes(first)[node.col_offset:node.end_col_offset].decode("utf-8", "replace")
        parts = [self.line_bytes(first)[node.col_offset:]]
        parts += [self.line_bytes(i) for i in range(first + 1, last)]
        parts.append(self.line_bytes(last)[:node.end_col_offset])
        return b"\n".join(parts).decode("utf-8", "replace")

    def place(self, lineno: int, column: int) -> tuple[int, int]:
        """Body (line, 1-based character column) -> text (line, column)."""
        return lineno + self.lead_lines, column + (self.lead_columns if lineno == 1 else 0)

    def error(self, problem: str, detail: str, node) -> ParseError:
        column = len(self.line_bytes(node.lineno)[:node.col_offset].decode("utf-8", "replace")) + 1
        return _error(self.text, problem, detail, *self.place(node.lineno, column), self.segment(node))


def _error(text: str, problem: str, detail: str, line: int | None = None, column: int | None = None,
           piece: str | None = None) -> ParseError:
    """A ParseError whose message shows the line of the problem with a caret under the piece."""
    lines = _LINE_BREAK.split(text)
    if column is None or line is None or line > len(lines):
        return ParseError(f"{problem}: {detail}", text=text, piece=piece)
    where = f"line {line}, column {column}" if len(lines) > 1 else f"column {column}"
    width = len(_LINE_BREAK.split(piece)[0]) if piece else 1
    return ParseError(f"{problem} at {where}: {detail}\n{_excerpt(lines[line - 1], column - 1, width)}",
                      text=text, line=line, column=column, piece=piece)


def _error_at(text: str, index: int, piece: str, problem: str, detail: str) -> ParseError:
    """A ParseError at character ``index`` of ``text``."""
    before = _LINE_BREAK.split(text[:index])
    return _error(text, problem, detail, len(before), len(before[-1]) + 1, piece)


def _excerpt(line: str, start: int, width: int) -> str:
    """The line (or the part of it around ``start``) and a caret line under ``width`` characters."""
    shown = "".join(c if c.isprintable() else (" " if c == "\t" else "?") for c in line)
    start = min(start, len(shown))
    width = max(1, min(width, len(shown) - start))
    if len(shown) > MAX_SHOWN_LINE:
        width = min(width, EXCERPT_CONTEXT)
        low, high = max(0, start - EXCERPT_CONTEXT), min(len(shown), start + width + EXCERPT_CONTEXT)
        prefix = "..." if low else ""
        shown = prefix + shown[low:high] + ("..." if high < len(shown) else "")
        start += len(prefix) - low
    return f"    {shown}\n    {' ' * start}{'^' * width}"


def _quote(piece: str) -> str:
    if len(piece) > MAX_QUOTED:
        piece = piece[:MAX_QUOTED // 2 - 3] + " ... " + piece[-(MAX_QUOTED // 2 - 3):]
    return f"`{piece}`" if piece.isprintable() else ascii(piece)


def _syntax_error(source: _Source, e: SyntaxError) -> ParseError:
    detail = e.msg or "invalid syntax"
    if not e.lineno or e.offset is None or e.offset < 0 or e.lineno > len(source.lines):
        return _error(source.text, "syntax error", detail)
    body_line = source.lines[e.lineno - 1]
    if e.offset == 0:  # Python's parser points nowhere when the text ends too early
        return _error(source.text, "syntax error", f"{detail} (the text ends before the expression does)",
                      *source.place(e.lineno, len(body_line) + 1))
    stop = e.end_offset if e.end_lineno == e.lineno and (e.end_offset or 0) > e.offset else e.offset + 1
    piece = body_line[e.offset - 1:stop - 1] or None
    return _error(source.text, "syntax error", detail, *source.place(e.lineno, e.offset), piece)


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
        node = ir.as_node(value, f"symbols[{name!r}]")
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
    def __init__(self, source: _Source, names: dict[str, Node] | None):
        self.source, self.names = source, names

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
                values.append(self._name(node))
            elif kind is ast.Constant:
                values.append(self._number(node))
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
        if self.names is not None:
            known = ", ".join(sorted(self.names)[:20]) + (", ..." if len(self.names) > 20 else "")
            raise self.source.error("unknown name", f"{_quote(name)} is not in symbols= ({known or 'empty'})", node)
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

_TOKEN_BINARY = {"+": (1, ast.Add), "-": (1, ast.Sub), "*": (2, ast.Mult), "/": (2, ast.Div), "**": (4, ast.Pow)}
_TOKEN_COMPARISONS = {"<": ast.Lt, "<=": ast.LtE, ">": ast.Gt, ">=": ast.GtE}
_SIGN_PRECEDENCE = 3  # -x*y is (-x)*y, -x**y is -(x**y)
_RIGHT_ASSOCIATIVE = 4  # the precedence of **
_TOKEN_NAMES = {
    ".": "attribute access", "[": "subscript or list", "]": "subscript or list", "{": "set or dict",
    "}": "set or dict", "=": "keyword argument", ":=": "assignment expression (:=)", ":": "slice or lambda",
    "...": "Ellipsis", "//": "operator //", "%": "operator %", "@": "operator @", "|": "operator |",
    "&": "operator &", "^": "operator ^", "~": "operator ~", "<<": "operator <<", ">>": "operator >>",
    "==": "comparison ==", "!=": "comparison !=", "->": "annotation", ";": "statement separator",
    "'": "string", '"': "string",
}
_DIGITS = r"[0-9](?:_?[0-9])*"
_NUMBER = re.compile(  # Python's numeric literals
    rf"0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+"
    rf"|(?:(?:{_DIGITS})?\.{_DIGITS}|{_DIGITS}\.?)(?:[eE][-+]?{_DIGITS})?[jJ]?")
_OPERATOR = re.compile(r"\*\*|//|<<|>>|\.\.\.|->|:=|[<>=!]=|[-+*/%@&|^~<>()\[\]{},:;.=!'\"]")


class _Token(NamedTuple):
    kind: str  # "name", "number", "op", "newline" (the end of the expression), "indent" or "other"
    text: str
    row: int
    start: int  # character columns in the row
    end: int


def _word_character(c: str) -> bool:
    """What Python's tokenizer takes into a name before checking it: ASCII letters, digits, _ and all non-ASCII."""
    return c.isalnum() or c == "_" if c.isascii() else True


def _tokens(lines: list[str]):
    """Python's tokens of the accepted grammar, as Python's own tokenizer cuts them; "other" for anything else.

    (Not the ``tokenize`` module: it cuts some names differently, ``ༀྯྀྯ༤`` for one.)
    """
    depth = 0  # of parentheses: a line break inside them is a blank
    fresh, indent = True, False  # no token yet on this logical line; blanks before the first one
    last = len(lines)
    for row, line in enumerate(lines, 1):
        pos, size = 0, len(line)
        continued = False
        while pos < size:
            c = line[pos]
            if c in " \t\f":
                indent = c != "\f"  # blanks since the last form feed (which resets Python's indent count)
                pos += 1
                continue
            if c == "#":
                break
            if c == "\\" and pos == size - 1 and (row < last - 1 or (row == last - 1 and lines[-1])):
                continued = True
                break
            if fresh and indent:
                yield _Token("indent", c, row, pos, pos + 1)
                return
            fresh = False
            if _word_character(c) and not (c.isascii() and c.isdigit()):
                end = pos + 1
                while end < size and _word_character(line[end]):
                    end += 1
                word = line[pos:end]
                if not word.isidentifier():  # Python points at the first character that breaks the name
                    bad = 0 if not word[0].isidentifier() else next(
                        i for i in range(1, len(word)) if not ("_" + word[i]).isidentifier())
                    yield _Token("other", word[bad], row, pos + bad, pos + bad + 1)
                    return
                yield _Token("name", word, row, pos, end)
            elif c.isdigit() or (c == "." and pos + 1 < size and line[pos + 1] in "0123456789"):
                match = _NUMBER.match(line, pos)
                end = match.end() if match else pos + 1
                if not match or (end < size and (_word_character(line[end]) or line[end] == ".")):
                    yield _Token("other", line[pos:end + 1], row, pos, end + 1)
                    return
                yield _Token("number", line[pos:end], row, pos, end)
            else:
                match = _OPERATOR.match(line, pos)
                end = match.end() if match else pos + 1
                kind = "op" if match else "other"
                if c == "(":
                    depth += 1
                elif c == ")":
                    depth = max(0, depth - 1)
                yield _Token(kind, line[pos:end], row, pos, end)
            pos = end
        if not continued and depth == 0:
            yield _Token("newline", "", row, size, size)
            fresh, indent = True, False


def _parse_tokens(source: _Source) -> ast.Expression:
    """The syntax tree ``ast.parse`` gives for accepted text (same nodes and positions), by shunting-yard."""
    reader = _TokenReader(source)
    for token in _tokens(source.lines):
        reader.feed(token)
    return reader.finish()


def _place(node, start: tuple, end: tuple):
    node.lineno, node.col_offset = start
    node.end_lineno, node.end_col_offset = end
    return node


class _TokenReader:
    """Operands are (node, start, end): the span includes the operand's own parentheses, the node's does not."""

    def __init__(self, source: _Source):
        self.source = source
        self.operands: list[tuple] = []
        # ("sign", op, start) ("binary", precedence, op) ("compare", op)
        # ("paren", token, start) ("call", token, callee operand, argument nodes)
        self.operators: list[tuple] = []
        self.expect_operand = True
        self.ended = False  # after the line break that ends the expression
        self.previous = ""
        self._row, self._char, self._byte = 0, 0, 0

    def _bytes(self, row: int, column: int) -> tuple[int, int]:
        """(row, character column) -> (row, byte column), going forward along the line."""
        if row != self._row or column < self._char:
            self._row, self._char, self._byte = row, 0, 0
        self._byte += len(self.source.lines[row - 1][self._char:column].encode("utf-8"))
        self._char = column
        return row, self._byte

    def _fail(self, token: _Token, problem: str, detail: str) -> ParseError:
        return _error(self.source.text, problem, detail, *self.source.place(token.row, token.start + 1), token.text)

    def _unexpected(self, token: _Token) -> ParseError:
        what = None
        if token.kind == "name" and keyword.iskeyword(token.text):
            what = f"keyword {token.text}"
        elif token.kind == "op":
            what = _TOKEN_NAMES.get(token.text)
        if what is None:
            return self._fail(token, "syntax error", f"unexpected {_quote(token.text)}")
        return self._fail(token, "unsupported syntax", f"{what} {_quote(token.text)} is not allowed; {_ALLOWED}")

    def feed(self, token: _Token) -> None:
        if token.kind == "indent":
            raise self._fail(token, "syntax error", "unexpected indent")
        if token.kind == "newline":
            self.ended = bool(self.operands or self.operators)  # else a blank line
            return
        if self.ended:
            raise self._fail(token, "syntax error", f"unexpected {_quote(token.text)} after the expression")
        text = token.text
        is_op = token.kind == "op"
        if self.expect_operand:
            self._operand(token, text, is_op)
        elif is_op and text in _TOKEN_BINARY:
            precedence, op = _TOKEN_BINARY[text]
            self._reduce(precedence, precedence == _RIGHT_ASSOCIATIVE)
            self.operators.append(("binary", precedence, op))
            self.expect_operand = True
        elif is_op and text in _TOKEN_COMPARISONS:
            self._reduce(0, True)  # stops at a pending comparison: Python would chain the two
            if self.operators and self.operators[-1][0] == "compare":
                raise self._fail(token, "chained comparison", (
                    "one comparison per where(); nest where() to combine conditions"))
            self.operators.append(("compare", _TOKEN_COMPARISONS[text]))
            self.expect_operand = True
        elif is_op and text == "(":
            self.operators.append(("call", token, self.operands.pop(), []))
            self.expect_operand = True
        elif is_op and text in (",", ")"):
            self._reduce(-1, False)
            frame = self.operators[-1] if self.operators else None
            if text == "," and (frame is None or frame[0] != "call"):
                raise self._fail(token, "unsupported syntax", f"tuple `,` is not allowed; {_ALLOWED}")
            if frame is None:
                raise self._unexpected(token)
            if frame[0] == "call":
                frame[3].append(self.operands.pop()[0])
            if text == ")":
                self._close(frame, token)
            else:
                self.expect_operand = True
        else:
            raise self._unexpected(token)
        self.previous = text

    def _operand(self, token: _Token, text: str, is_op: bool) -> None:
        if token.kind == "name" and not keyword.iskeyword(text):
            name = ast.Name(id=unicodedata.normalize("NFKC", text), ctx=ast.Load())
            self._push_leaf(name, token)
        elif token.kind == "number":
            self._push_leaf(ast.Constant(value=self._number(token)), token)
        elif is_op and text == "(":
            self.operators.append(("paren", token, self._bytes(token.row, token.start)))
        elif is_op and text in ("-", "+"):
            self.operators.append(("sign", ast.USub if text == "-" else ast.UAdd, self._bytes(token.row, token.start)))
        elif (is_op and text == ")" and self.operators and self.operators[-1][0] == "call"
              and self.previous in ("(", ",")):
            self._close(self.operators[-1], token)  # f() or f(a, b,)
        else:
            raise self._unexpected(token)

    def _push_leaf(self, node, token: _Token) -> None:
        start, end = self._bytes(token.row, token.start), self._bytes(token.row, token.end)
        self.operands.append((_place(node, start, end), start, end))
        self.expect_operand = False

    def _number(self, token: _Token):
        """The value Python gives the literal (int, float or complex)."""
        text = token.text
        lower = text.lower()
        try:
            if lower.endswith("j"):
                return complex(text)
            if lower.startswith(("0x", "0o", "0b")) or not any(c in lower for c in ".e"):
                return int(text, 0)  # refuses leading zeros (017) and more than 4300 digits, as Python does
            return float(text)
        except ValueError:
            raise self._fail(token, "syntax error", f"invalid number {_quote(text)}") from None

    def _close(self, frame: tuple, token: _Token) -> None:
        self.operators.pop()
        end = self._bytes(token.row, token.end)
        if frame[0] == "paren":
            node, _, _ = self.operands.pop()
            self.operands.append((node, frame[2], end))
        else:
            _, _, (func, start, _), args = frame
            call = _place(ast.Call(func=func, args=args, keywords=[]), start, end)
            self.operands.append((call, start, end))
        self.expect_operand = False

    def _reduce(self, precedence: int, right_associative: bool) -> None:
        """Apply the pending operators an incoming one of ``precedence`` must wait for (down to a parenthesis)."""
        operators = self.operators
        while operators and operators[-1][0] in ("sign", "binary", "compare"):
            top = operators[-1]
            bound = _SIGN_PRECEDENCE if top[0] == "sign" else top[1] if top[0] == "binary" else 0
            if bound < precedence or (bound == precedence and right_associative):
                return
            operators.pop()
            if top[0] == "sign":
                operand, _, end = self.operands.pop()
                start = top[2]
                node = ast.UnaryOp(op=top[1](), operand=operand)
            else:
                right, _, end = self.operands.pop()
                left, start, _ = self.operands.pop()
                node = (ast.BinOp(left=left, op=top[2](), right=right) if top[0] == "binary"
                        else ast.Compare(left=left, ops=[top[1]()], comparators=[right]))
            self.operands.append((_place(node, start, end), start, end))

    def finish(self) -> ast.Expression:
        frames = [entry for entry in self.operators if entry[0] in ("paren", "call")]
        if frames:
            raise self._fail(frames[-1][1], "syntax error", "`(` was never closed")
        if self.expect_operand:
            last = len(self.source.lines)
            raise _error(self.source.text, "syntax error", "the text ends before the expression does",
                         *self.source.place(last, len(self.source.lines[-1]) + 1))
        self._reduce(-1, False)
        return ast.Expression(body=self.operands.pop()[0])
