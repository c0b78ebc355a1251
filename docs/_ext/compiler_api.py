"""The ``compiler-api`` directive: autodoc entries for names of ``compiler.__all__``.

``:names: a b c`` documents those names (in that order); ``:rest:`` documents every name of
``compiler.__all__`` that no earlier ``compiler-api`` directive of the page did, so a name added
to the API appears in the reference without editing the page.
"""

from __future__ import annotations

import types

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

import compiler

# Classes whose methods are the API (documented with their members).
WITH_MEMBERS = {"CompiledFunction", "NLP", "NLPResult", "Value", "CacheInfo", "SimdInfo", "GradcheckResult"}


def _entry(name: str) -> list[str]:
    """One name's autodoc directive, in reStructuredText (autodoc's output is reST)."""
    obj = getattr(compiler, name)
    options: list[str] = []
    if isinstance(obj, types.ModuleType):
        kind, options = "automodule", ["   :members:"]
    elif isinstance(obj, type) and issubclass(obj, BaseException):
        kind = "autoexception"
    elif isinstance(obj, type):
        kind, options = "autoclass", ["   :members:"] if name in WITH_MEMBERS else []
    else:
        kind = "autofunction"
    return [f".. {kind}:: compiler.{name}", *options, ""]


class CompilerApi(SphinxDirective):
    has_content = False
    option_spec = {"names": directives.unchanged, "rest": directives.flag}

    def run(self):
        done: set[str] = self.env.temp_data.setdefault("compiler_api_done", set())
        if "rest" in self.options:
            names = [n for n in compiler.__all__ if n not in done]
        else:
            names = self.options.get("names", "").split()
            unknown = [n for n in names if n not in compiler.__all__]
            if unknown:
                raise self.error(f"compiler-api: not in compiler.__all__: {', '.join(unknown)}")
        done.update(names)
        # autodoc writes reStructuredText; the page is Markdown (MyST): an eval-rst fence holds it.
        text = StringList()
        source = self.get_source_info()[0]
        for line in ["```{eval-rst}", *(line for name in names for line in _entry(name)), "```"]:
            text.append(line, source)
        container = nodes.container()
        self.state.nested_parse(text, self.content_offset, container)
        return container.children


def setup(app):
    app.add_directive("compiler-api", CompilerApi)
    return {"version": "1", "parallel_read_safe": True}
