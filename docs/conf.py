"""Sphinx configuration: Markdown pages (MyST), the API reference from the docstrings.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html`` (tests/test_docs.py
runs it with warnings as errors).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # the checkout's package, not an installed copy

import compiler  # noqa: E402

project = "adjoint-compiler"
author = "the compiler developers"
copyright = "the compiler developers, MIT licence"  # noqa: A001 (Sphinx's name)
release = compiler.__version__
version = release

extensions = [
    "myst_parser",
    # The docstrings are plain reStructuredText (``code``, a doctest), with no Google or NumPy
    # sections: napoleon would only misread a property's "text: more text" as "type: text".
    "sphinx.ext.autodoc",
    "compiler_api",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3  # [text](page.md#a-heading) links resolve, and are checked

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"undoc-members": False}

html_theme = "alabaster"
html_title = f"compiler {release}"
html_theme_options = {"description": "symbolic math to reverse-mode code, run by Numba",
                      "fixed_sidebar": True, "page_width": "1240px", "sidebar_width": "240px"}


def _list_the_other_guide_pages(app, docname: str, source: list[str]) -> None:
    """The guide's toctree in index.md lists its pages in reading order, then ``guide/*``: that
    line becomes the pages not listed (a page added to docs/guide/ appears without editing the
    index), and goes when there are none (Sphinx warns of a glob that matches nothing)."""
    if docname != "index":
        return
    listed = set(re.findall(r"^guide/([\w-]+)$", source[0], re.MULTILINE))
    others = sorted(p.stem for p in (HERE / "guide").glob("*.md") if p.stem not in listed)
    source[0] = source[0].replace("\nguide/*\n", "".join(f"\nguide/{name}" for name in others) + "\n")


def setup(app):
    app.connect("source-read", _list_the_other_guide_pages)
