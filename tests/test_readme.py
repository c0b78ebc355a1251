"""The README's and the docs' code is true: every Python block of README.md and of every page
under docs/ runs as written (a page's blocks in order, in one namespace), every excerpt of
generated source is what the library generates, every shell command is one the tests run, and
the claims of the Functions bullet (docs/guide/scalars-and-sympy.md) hold."""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import compiler as cc

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
# README.md, then every page of the docs (docs/_build holds a local build's copies)
PAGES = [README, *sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts)]


@dataclass(frozen=True)
class Block:
    page: str      # the page's path from the checkout's root
    line: int      # line of the opening fence
    lang: str      # the fence's info string: "python", "bash" or "" (a diagram, a listing)
    code: str
    section: str   # the "# " or "## " heading above it
    prose: str     # the paragraph just above it

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"


def _blocks(path: Path) -> list[Block]:
    page = path.relative_to(ROOT).as_posix()
    blocks, section, paragraph, fence, body, blank = [], "", [], None, [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if fence is not None:
            if line.startswith("```"):
                blocks.append(Block(page, fence[0], fence[1], "\n".join(body) + "\n", section, " ".join(paragraph)))
                fence, body, paragraph = None, [], []
            else:
                body.append(line)
        elif line.startswith("```"):
            fence = (number, line[3:].strip())
        elif line.startswith(("# ", "## ")):
            section, paragraph = line.split(" ", 1)[1].strip(), []
        elif not line.strip():
            blank = True
        else:
            paragraph = [*([] if blank else paragraph), line.strip()]
            blank = False
    assert fence is None, f"{page}:{fence[0]}: a code block is not closed"
    return blocks


BLOCKS = [b for path in PAGES for b in _blocks(path)]


def _program(page: str, section: str) -> Block:
    return next(b for b in BLOCKS if b.page == page and b.section == section and b.lang == "python")


# Excerpts of generated source: a phrase of the paragraph above the block -> the page and
# section whose program builds the function, and the expression (in that program's namespace)
# of its source. The program runs in a fresh process, as a reader's would: the numbering of
# the generated statements follows the order in which the process made the IR nodes.
EXCERPTS: dict[str, tuple[str, str, str]] = {
    "What the generated source looks like": ("docs/getting-started.md", "Tour", "fn.source"),
    "the Numba dialect (the MLP of *Tensors*": (
        "docs/guide/tensors.md", "Tensors", "cc.compile(loss, step.inputs, wrt=step.wrt, backend='numba').source"),
}


def _source_in_a_fresh_process(block: Block, expression: str, scratch: Path) -> str:
    driver = ("import sys\nns = {'__name__': '__main__'}\n"
              "exec(compile(sys.stdin.read(), 'page', 'exec'), ns)\n"
              f"sys.stdout.write(eval({expression!r}, ns))\n")
    out = subprocess.run([sys.executable, "-c", driver], input=block.code, capture_output=True, text=True,
                         cwd=scratch, timeout=300, check=False)
    assert out.returncode == 0, f"{block.name} does not run in a fresh process: {out.stderr[-2000:]}"
    return out.stdout


def _excerpt_of(block: Block) -> tuple[str, str, str] | None:
    return next((v for phrase, v in EXCERPTS.items() if phrase in block.prose), None)


PROGRAMS = [b for b in BLOCKS if b.lang == "python" and _excerpt_of(b) is None]
EXCERPT_BLOCKS = [b for b in BLOCKS if b.lang == "python" and _excerpt_of(b) is not None]
PAGES_WITH_PROGRAMS = sorted({b.page for b in PROGRAMS}, key=lambda p: (p != "README.md", p))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """Where the blocks run (the tour writes f_module.py)."""
    return tmp_path_factory.mktemp("pages")


def _run_page(page: str, scratch: Path) -> None:
    """The page's Python blocks in order, in one namespace (a page may build on its earlier
    blocks); tracebacks point at the page's own lines; each section's checks run right after
    the block they read."""
    ns: dict = {"__name__": "__main__"}
    for block in (b for b in PROGRAMS if b.page == page):
        code = compile("\n" * block.line + block.code, str(ROOT / page), "exec")
        here = os.getcwd()
        os.chdir(scratch)
        try:
            exec(code, ns)  # noqa: S102 (the docs' own code: running it is the test)
        except Exception as e:
            raise AssertionError(f"{block.name} (section {block.section!r}) does not run: "
                                 f"{type(e).__name__}: {e}") from e
        finally:
            os.chdir(here)
        if block.section in CHECKS and block is _program(page, block.section):  # the section's first program
            CHECKS[block.section](ns, scratch)
        if "simd_info" in block.code:
            _check_simd(ns)


def _check_tour(ns: dict, scratch: Path) -> None:
    fn, X, Y, gx = ns["fn"], ns["X"], ns["Y"], ns["gx"]
    assert fn(1.0, 2.0) == pytest.approx(math.sin(1.0) * 2.0 + 1.0, rel=1e-15)
    assert fn.grad(1.0, 2.0) == pytest.approx([math.cos(1.0) * 2.0 + 2.0, math.sin(1.0)], rel=1e-15)
    assert float(np.abs(gx - (np.cos(X) * Y + 2 * X)).max()) < 1e-12
    assert (scratch / "f_module.py").exists()


def _check_tensors(ns: dict, scratch: Path) -> None:
    params = [ns[k] for k in ("W1v", "b1v", "W2v", "b2v")]
    assert [g.shape for g in ns["grads"]] == [p.shape for p in params]
    W1v, b1v, W2v, b2v = params
    expected = np.mean((np.tanh(ns["Xv"] @ W1v + b1v) @ W2v + b2v - ns["yv"]) ** 2)
    assert ns["value"] == pytest.approx(expected, rel=1e-12)


def _check_simd(ns: dict) -> None:
    """*Batches on vector units*: the vector batch and the scalar loop agree; the IR is vector code."""
    fn, scalar, gx = ns["fn"], ns["scalar"], ns["gx"]
    X = np.linspace(0, 1, 1001)
    np.testing.assert_allclose(fn.grad(X, 0.5)[0], scalar.grad(X, 0.5)[0], rtol=1e-13)
    assert gx.shape == (1_000_000,)
    info = cc.simd_info()
    assert (f"<{info.width} x double>" in ns["text"]) == info.available


def _check_loops(ns: dict, scratch: Path) -> None:
    """*Loops*: the gradient against central differences, a symmetric Hessian, one gradient per
    parameter set in the batch."""
    loss, observed = ns["loss"], ns["observed"]
    point = [10.0, 28.0, 8 / 3]
    for k, g in enumerate((ns["d_sigma"], ns["d_rho"], ns["d_beta"])):
        h = 1e-6 * max(1.0, abs(point[k]))
        up, down = list(point), list(point)
        up[k] += h
        down[k] -= h
        fd = (loss(*up, observed) - loss(*down, observed)) / (2 * h)
        assert g == pytest.approx(fd, rel=1e-5)
    np.testing.assert_allclose(ns["H"], ns["H"].T, rtol=1e-10)
    assert ns["batch"][0].shape == (100,)
    assert ns["batch"][0][50] == pytest.approx(loss.grad(np.linspace(9, 11, 100)[50], 28.0, 8 / 3, observed)[0])


CHECKS: dict[str, Callable[[dict, Path], None]] = {"Tour": _check_tour, "Tensors": _check_tensors,
                                                  "Loops: `scan` and `fori_loop`": _check_loops}


@pytest.mark.parametrize("page", PAGES_WITH_PROGRAMS)
def test_python_blocks_run_as_written(page, scratch):
    """A page's blocks in order, in one fresh namespace: what a reader pastes, top to bottom."""
    _run_page(page, scratch)


def _normalised(line: str) -> str:
    return " ".join(line.split())


@pytest.mark.parametrize("block", EXCERPT_BLOCKS, ids=[b.name for b in EXCERPT_BLOCKS])
def test_generated_source_excerpt_is_generated(block, scratch):
    """Every line of the excerpt but `...` appears, in order, in the real source."""
    page, section, expression = _excerpt_of(block)
    source = _source_in_a_fresh_process(_program(page, section), expression, scratch)
    real = [_normalised(s) for s in source.splitlines()]
    at = 0
    for offset, line in enumerate(block.code.splitlines(), 1):
        want = _normalised(line)
        if not want or want in ("...", "…"):
            continue
        try:
            at = real.index(want, at) + 1
        except ValueError:
            pytest.fail(f"{block.name}: line {block.line + offset} of {block.page}, {line.strip()!r}, is not "
                        f"in the generated source (after the lines matched before it)")


def test_every_block_is_known():
    """A block is Python (run or checked above), shell (below) or a plain listing."""
    assert PROGRAMS and any(b.page == "README.md" for b in PROGRAMS)
    for phrase in EXCERPTS:
        matches = [b.name for b in EXCERPT_BLOCKS if phrase in b.prose]
        assert len(matches) == 1, f"the excerpt introduced by {phrase!r}: found at {matches} (update EXCERPTS)"
    for block in BLOCKS:
        assert block.lang in ("python", "bash", "") or block.lang.startswith("{"), \
            f"{block.name}: unknown block language {block.lang!r}"  # "{...}": a Sphinx directive


def _commands() -> list[tuple[str, list[str]]]:
    found = []
    for block in (b for b in BLOCKS if b.lang == "bash"):
        for offset, line in enumerate(block.code.splitlines(), 1):
            for command in line.split("#")[0].split("&&"):
                if command.strip():
                    found.append((f"{block.page}:{block.line + offset}", shlex.split(command)))
    return found


def test_shell_commands_are_run_by_the_tests():
    """The commands of the ```bash blocks are run elsewhere (test_examples, test_cli, test_bench,
    test_cache); here each must be one of those forms, and its subcommand's flags must exist."""
    tests_text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("test_*.py"))
    flags: dict[str, set[str]] = {}
    for where, argv in _commands():
        assert argv[0] == "python", f"{where}: {argv}"
        if argv[1:4] == ["-m", "pip", "install"] or argv[1:3] in (["-m", "pytest"], ["-m", "sphinx"]):
            continue  # the sphinx build: tests/test_docs.py
        if argv[1].startswith("examples/"):
            assert (ROOT / argv[1]).exists(), f"{where}: no {argv[1]}"
            assert Path(argv[1]).name in tests_text, f"{where}: no test runs {argv[1]}"
            continue
        assert argv[1:3] == ["-m", "compiler"], f"{where}: a command no test runs: {argv}"
        sub = argv[3]
        assert f'"{sub}"' in tests_text, f"{where}: no test runs `python -m compiler {sub}`"
        flags.setdefault(sub, set()).update(a.split("=")[0] for a in argv[4:] if a.startswith("-"))
    for sub, used in flags.items():
        out = subprocess.run([sys.executable, "-m", "compiler", sub, "--help"], check=False, capture_output=True,
                             text=True, timeout=120, cwd=ROOT, env=dict(os.environ))
        assert out.returncode == 0, out.stderr[-2000:]
        for flag in used:
            assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", out.stdout), \
                f"`python -m compiler {sub} {flag}` (README or docs): no such option in its --help"


# The Functions bullet (docs/guide/scalars-and-sympy.md): sigmoid and softplus never overflow where the true result
# is finite; log1p and expm1 keep full precision near 0.
@pytest.mark.parametrize("backend", ["python", "auto"])
def test_functions_bullet_overflow_and_precision(backend):
    a, b, c, d = cc.symbols("a b c d")
    fn = cc.compile([cc.softplus(a), cc.sigmoid(b), cc.expm1(c), cc.log1p(d)], [a, b, c, d], backend=backend)
    for stage in ("first calls", "compiled") if backend == "auto" else ("first calls",):
        if stage == "compiled":
            fn.wait()
            assert fn.ready
        assert tuple(fn(1000.0, -1000.0, 1e-20, 1e-20)) == (1000.0, 0.0, 1e-20, 1e-20), stage
        assert tuple(fn(-1000.0, 1000.0, -1e-20, -1e-20)) == (0.0, 1.0, -1e-20, -1e-20), stage
        for big in (710.0, 745.0, 1e4, 1e308):
            for s in (big, -big):
                value = np.asarray(fn(s, s, 0.0, 0.0))
                grad = np.asarray(fn.grad(s, s, 0.0, 0.0))
                assert np.isfinite(value[:2]).all() and np.isfinite(grad).all(), (stage, s, value, grad)
                softplus = s if s > 0 else math.log1p(math.exp(s))
                assert value[0] == softplus and 0.0 <= value[1] <= 1.0, (stage, s, value)
