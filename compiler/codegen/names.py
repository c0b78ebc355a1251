"""Names in generated code: valid, unique identifiers from any user text.

User text reaches generated code only as a sanitized identifier or as an
escaped one-line comment, never as code.

>>> t = NameTable(); t.claim("x"), t.claim("x"), t.fresh("v")
('x', 'x_1', 'v0')
"""

from __future__ import annotations

import hashlib
import keyword
import re

# Longer identifiers are cut, and end with a hash of the whole name, so they stay unique (Numba's
# LLVM names break beyond about 1,000 characters: "redefinition of argument").
MAX_IDENTIFIER = 64
_HASH_DIGITS = 8

_RESERVED = {"np", "math", "numba", "i", "n", "r", "v", "g", "out", "grad", "value", "value_and_grad",
             "value_batch", "value_and_grad_batch", "KERNELS", "BATCH_DRIVERS", "True", "False", "None"}


class NameTable:
    """Unique, valid Python identifiers for the generated module."""

    def __init__(self):
        self.taken: set[str] = set(_RESERVED)
        self._counters: dict[str, int] = {}

    def claim(self, wanted: str) -> str:
        name = sanitize(wanted)
        if name in self.taken:
            k = 1
            while f"{name}_{k}" in self.taken:
                k += 1
            name = f"{name}_{k}"
        self.taken.add(name)
        return name

    def fresh(self, prefix: str) -> str:
        k = self._counters.get(prefix, 0)
        while f"{prefix}{k}" in self.taken:
            k += 1
        self._counters[prefix] = k + 1
        self.taken.add(f"{prefix}{k}")
        return f"{prefix}{k}"


def sanitize(name: str) -> str:
    """A valid ASCII identifier derived from any string (user text never reaches code), at most
    ``MAX_IDENTIFIER`` characters (and a keyword's ``_``).

    >>> sanitize("x); import os #"), sanitize("lambda"), sanitize("a b"), len(sanitize("a" * 5000))
    ('x_import_os', 'lambda_', 'a_b', 64)
    """
    text = re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_")
    if not text:
        text = "arg"
    if text[0].isdigit():
        text = "_" + text
    if len(text) > MAX_IDENTIFIER:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_DIGITS]
        text = f"{text[:MAX_IDENTIFIER - _HASH_DIGITS - 1]}_{digest}"
    if keyword.iskeyword(text) or keyword.issoftkeyword(text) or text in _RESERVED:
        text += "_"
    return text


def comment_text(text: str) -> str:
    """User text made safe for a one-line comment (ASCII escapes, no line breaks)."""
    return ascii(text)[1:-1]
