"""The text of an expression: checks before parsing, positions, and error messages
that show the piece, its line and column, and a caret.

>>> _Source("  x + 1 ").body
'x + 1'
"""

from __future__ import annotations

import re

from ..errors import ParseError
from ..ir.ops import FUNCTIONS

#: Longer text is refused before it is parsed.
MAX_TEXT_LENGTH = 1_000_000
#: Text of more terms (names and numbers) is refused before it is parsed: every term is a node
#: to build, about 10 us each, so 200,000 terms take seconds (and a 1 MB sum would take 10 s or more).
MAX_TERMS = 200_000
_TERM = re.compile(r"[\w.]+")  # a run of name or number characters (counted, so some are function names)

MAX_SHOWN_LINE = 200  # a longer line is shown in an error as an excerpt around the column
EXCERPT_CONTEXT = 40  # characters shown on each side of the error in such an excerpt
MAX_QUOTED = 60  # a longer piece is shortened in the message (ParseError.piece keeps it whole)

_ALLOWED = ("expressions may use numbers, names, + - * / **, comparisons inside where(), "
            "and the functions: " + ", ".join(FUNCTIONS))

_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # the line breaks of Python's tokenizer
_BLANKS = " \t\f\r\n"  # around the text: Python's parser calls them an indent; eval() strips them


def _checked(text: str, empty_ok: bool = False) -> str:
    """Refuse, before parsing, what Python's parser must not be given or would misreport."""
    if len(text) > MAX_TEXT_LENGTH:
        raise ParseError(f"text too long: {len(text):,} characters, the limit is MAX_TEXT_LENGTH = "
                         f"{MAX_TEXT_LENGTH:,}", text=text)
    if not empty_ok and not text.strip():
        raise ParseError("empty expression: the text has nothing to parse", text=text)
    if len(text) > MAX_TERMS:  # (fewer characters cannot hold more terms)
        terms = len(_TERM.findall(text))
        if terms > MAX_TERMS:
            raise ParseError(f"expression too large: about {terms:,} terms (names and numbers), the limit is "
                             f"MAX_TERMS = {MAX_TERMS:,}; build larger expressions in Python (for example "
                             "with sum() over symbols, or cc.Tensor for many inputs)", text=text)
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
