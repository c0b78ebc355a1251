"""A small operator-precedence parser of the accepted grammar, for text whose nesting
would make Python's own parser recurse too deep: it gives the same ``ast`` tree.

>>> import ast
>>> ast.dump(_parse_tokens(_Source("-x**2")).body)[:15]
'UnaryOp(op=USub'
"""

from __future__ import annotations

import ast
import keyword
import re
import unicodedata
from typing import NamedTuple

from ..errors import ParseError
from .source import _ALLOWED, _Source, _error, _quote

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
# The common tokens inside a line, cut as the character-by-character code below cuts them (an ASCII
# name or plain number not followed by more of one, an operator not the start of a longer one):
# one regular expression for them makes long flat texts several times faster to read.
_FAST = re.compile(r"(?P<blank>[ \t]+)"
                   r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?![0-9A-Za-z_]|[^\x00-\x7f])"
                   r"|(?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)(?![0-9A-Za-z_.]|[^\x00-\x7f])"
                   r"|(?P<op>\*\*|\*|/(?!/)|\+|-(?!>)|\(|\)|,|[<>]=|<(?![<=])|>(?![>=]))")


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
            if not fresh:
                match = _FAST.match(line, pos)
                if match is not None:
                    kind, end = match.lastgroup, match.end()
                    if kind != "blank":
                        text = match.group()
                        if text == "(":
                            depth += 1
                        elif text == ")":
                            depth = max(0, depth - 1)
                        yield _Token(kind, text, row, pos, end)
                    pos = end
                    continue
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


_LOAD = ast.Load()


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
        self._ascii: dict[int, bool] = {}  # row -> whether it is ASCII

    def _bytes(self, row: int, column: int) -> tuple[int, int]:
        """(row, character column) -> (row, byte column), going forward along the line."""
        ascii_row = self._ascii.get(row)
        if ascii_row is None:
            ascii_row = self._ascii[row] = self.source.lines[row - 1].isascii()
        if ascii_row:  # one byte per character
            return row, column
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
            name = ast.Name(id=text if text.isascii() else unicodedata.normalize("NFKC", text), ctx=_LOAD)
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
