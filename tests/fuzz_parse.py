"""Coverage-guided fuzzing of ``cc.parse`` and ``parse_point`` with atheris (not a pytest module).

    pip install atheris
    python tests/fuzz_parse.py -max_total_time=60      # any libFuzzer flags; a corpus directory too

An input fails the run if ``parse`` gives anything but an expression or a
``ParseError`` (or ``parse_point`` anything but a dict or a ``ParseError``),
if it calls ``os.system`` or ``subprocess.Popen``, or if the token reader
(the path of text too deep for Python's parser) and Python's parser disagree
on whether it is an expression, and which. Without atheris this prints a note and exits 0. Importing this file
does nothing (pytest imports it for doctests).
"""

import os
import subprocess
import sys

# Pieces of the grammar and of attacks: token soups built from them reach deep paths quickly.
TOKENS = ["x", "y", "1", "2.5", "1e400", "0x1F", "1j", "+", "-", "*", "/", "**", "(", ")", ",", "<", "<=",
          "==", "sin(", "where(", "atan2(", "maximum(", "foo(", ".", "[", "]", "{", "}", ":", "=", ":=",
          "__import__", "__class__", "'s'", "f'{x}'", "lambda", "not ", " and ", " if ", " for ", "%", "//",
          "@", "~", "True", "None", "...", "pi", "e", "\n", "#", "\\\n", "é", "\t", " ", "\r", "*x", "9**9**9"]


def _side_effect(*args, **kwargs):
    raise AssertionError(f"side effect while parsing: {args!r}")


def main() -> int:
    try:
        import atheris
    except ImportError:
        print("atheris is not installed (pip install atheris): nothing to fuzz")
        return 0
    with atheris.instrument_imports(include=["compiler"]):
        import compiler as cc
        from compiler.frontend.parse import _Builder, _checked, _Source, parse_point
        from compiler.frontend.tokens import _parse_tokens

    def by_tokens(text):
        """What parse gives when the token reader reads the text instead of Python's parser."""
        try:
            source = _Source(_checked(text))
            return _Builder(source, None).build(_parse_tokens(source))
        except cc.ParseError:
            return None

    os.system = subprocess.Popen = _side_effect

    def fuzz_one_input(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        mode = fdp.ConsumeIntInRange(0, 2)  # text, token soup, point
        if mode == 1:
            text = "".join(TOKENS[fdp.ConsumeIntInRange(0, len(TOKENS) - 1)]
                           for _ in range(fdp.ConsumeIntInRange(0, 60)))
        else:
            text = fdp.ConsumeUnicode(fdp.remaining_bytes())  # surrogates included
        if mode == 2:
            try:
                assert isinstance(parse_point(text), dict)
            except cc.ParseError:
                pass
            return
        try:
            result = cc.parse(text)
        except cc.ParseError:
            result = None
        assert result is None or isinstance(result, cc.Expr)
        tokens = by_tokens(text)
        assert tokens is result, f"token reader disagrees on {text!r}: {tokens!r} vs {result!r}"

    atheris.Setup(sys.argv, fuzz_one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main())
