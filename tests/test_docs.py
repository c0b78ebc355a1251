"""The documentation site builds and holds together: Sphinx builds docs/ with warnings as errors
(a broken reference or link between pages is a warning), every relative link of README.md and
of the pages reaches a file and, for `page.md#anchor`, a heading of it, and the API reference
documents every name of ``compiler.__all__``, which is the package's whole public namespace.
(The pages' code blocks run in test_readme.py; the typing of the public API: test_typing.py.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

import compiler as cc

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts)]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
BUILD_SECONDS = 120  # the build takes 8-50 s on 2 cores (50 s while others held the machine)


def _prose(text: str) -> str:
    """The text outside fenced blocks and inline code (links there are examples, not links)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def _slug(title: str) -> str:
    """A heading's anchor as MyST makes it (``myst_heading_anchors``; GitHub's rule)."""
    title = re.sub(r"`([^`]*)`", r"\1", title.strip())
    return re.sub(r"[^\w\- ]", "", title.lower().replace(" ", "-"))


def _anchors(page: Path) -> set[str]:
    return {_slug(m) for m in re.findall(r"^#{1,6} (.+)$", _prose(page.read_text(encoding="utf-8")), re.MULTILINE)}


def _links() -> list[tuple[str, Path, str]]:
    found = []
    for page in PAGES:
        for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
            if not re.match(r"[a-z]+:", target):  # http:, https:, mailto: are not checked offline
                found.append((page.relative_to(ROOT).as_posix(), page, target))
    return found


LINKS = _links()


def test_links_between_pages_resolve():
    assert len(LINKS) > 40, "the README links into the docs"
    broken = []
    for name, page, target in LINKS:
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{name}: {target} (no {resolved.relative_to(ROOT) if ROOT in resolved.parents else resolved})")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{name}: {target} (no heading #{anchor} in {path or 'the page'})")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_guide_page_is_reachable_from_the_readme():
    """Two clicks from the front page: the README links to every page of the guide, or to the
    index whose toctree lists (or globs) them."""
    readme = {(ROOT / t.partition("#")[0]).resolve() for name, _, t in LINKS if name == "README.md"}
    for page in (DOCS / "guide").glob("*.md"):
        assert page.resolve() in readme or "guide/*" in (DOCS / "index.md").read_text(encoding="utf-8"), page


def test_all_is_the_public_namespace():
    """``compiler.__all__`` names every public name of the package (the reference documents
    exactly these); the subpackages are not API, except ``cc.linalg``."""
    public = {n for n in dir(cc) if not n.startswith("_")
              and (not isinstance(getattr(cc, n), types.ModuleType) or n == "linalg")}
    missing, extra = sorted(public - set(cc.__all__)), sorted(set(cc.__all__) - public)
    assert not missing, f"compiler/__init__.py: add to __all__ (and so to the API reference): {missing}"
    assert not extra, f"compiler.__all__ names what the package does not have: {extra}"
    assert len(cc.__all__) == len(set(cc.__all__))
    undocumented = [n for n in cc.__all__ if not (getattr(cc, n).__doc__ or "").strip()]
    assert not undocumented, f"public names without a docstring (help() and the reference would be empty): {undocumented}"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, float]:
    pytest.importorskip("sphinx", reason="the docs build needs the docs extra: pip install '.[docs]'")
    pytest.importorskip("myst_parser", reason="the docs build needs the docs extra: pip install '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html",
                          str(DOCS), str(out)], capture_output=True, text=True, timeout=BUILD_SECONDS * 3,
                         cwd=ROOT, env=env, check=False)
    seconds = time.perf_counter() - start
    assert run.returncode == 0, f"sphinx-build -W failed:\n{run.stderr[-6000:]}"
    return out, seconds


def test_the_site_builds_with_warnings_as_errors(site):
    out, seconds = site
    assert seconds < BUILD_SECONDS, f"the docs build took {seconds:.0f} s"
    for page in PAGES[1:]:
        html = out / page.relative_to(DOCS).with_suffix(".html")
        assert html.exists(), f"{page.relative_to(ROOT)} is not in the site (a toctree must list it)"
        assert "index.html" in html.read_text(encoding="utf-8")


def test_the_api_reference_documents_every_public_name_from_its_docstring(site):
    """The reference is the docstrings ``help(cc.name)`` shows: each name has its entry, with the
    docstring's first words."""
    out, _ = site
    html = (out / "api.html").read_text(encoding="utf-8")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).replace("&#39;", "'").replace("’", "'")
    for name in cc.__all__:
        assert f'id="compiler.{name}"' in html or f'id="module-compiler.{name}"' in html, f"cc.{name}: no entry"
    for name in ("compile", "CompiledFunction", "gradcheck", "nlp", "where", "symbols"):
        words = re.sub(r"``?|\*", "", getattr(cc, name).__doc__.strip().split("\n")[0]).split()[:4]
        assert " ".join(words) in text, f"cc.{name}: its docstring's {' '.join(words)!r} is not on the page"
