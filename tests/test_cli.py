"""The command line, end to end in subprocesses: exit codes, output, JSON, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "compiler", *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ))


def test_help_on_every_command():
    for args in ([], ["show"], ["eval"], ["cache"]):
        out = cli(*args, "--help")
        assert out.returncode == 0 and "usage:" in out.stdout, args
    assert cli().returncode == 2  # no command: the help, on stderr


def test_eval_value_gradient_hessian_json():
    out = cli("eval", "sin(x)*y + x**2", "--at", "x=1.5,y=2", "--hessian", "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    import math
    assert r["value"] == pytest.approx(math.sin(1.5) * 2 + 2.25, rel=1e-15)
    assert r["grad"]["x"] == pytest.approx(math.cos(1.5) * 2 + 3.0, rel=1e-15)
    assert r["grad"]["y"] == pytest.approx(math.sin(1.5), rel=1e-15)
    assert r["hessian"][1][1] == 0.0 and r["hessian"][0][1] == pytest.approx(math.cos(1.5), rel=1e-15)


def test_eval_nan_and_inf_in_json():
    r = json.loads(cli("eval", "log(x) + 1/y", "--at", "x=-1,y=0", "--json").stdout)
    assert r["value"] == "nan"
    r = json.loads(cli("eval", "1/y", "--at", "y=0", "--grad", "--json").stdout)
    assert r["value"] == "inf" and r["grad"]["y"] == "-inf"


def test_eval_plain_output():
    out = cli("eval", "x*x", "--at", "x=3", "--grad")
    assert out.returncode == 0 and out.stdout.split() == ["value", "=", "9.0", "d/dx", "=", "6.0"]


def test_show_source_ir_and_module(tmp_path):
    out = cli("show", "tanh(x*y) + x", "--wrt", "x")
    assert out.returncode == 0 and "def value_and_grad(x, y):" in out.stdout
    assert "\x1b[" not in out.stdout  # piped: no colours
    assert "# gradient with respect to: x" in out.stdout
    out = cli("show", "tanh(x*y)", "--ir")
    assert out.stdout.splitlines()[-1] == "return %3"
    target = tmp_path / "mod.py"
    out = cli("show", "exp(-x*x)", "-o", str(target))
    assert out.returncode == 0 and target.exists()
    code = f"import sys; sys.modules['compiler'] = None; sys.path.insert(0, {str(tmp_path)!r}); " \
           "import mod; print(mod.value_and_grad(1.0))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "-0.73575888" in run.stdout, run.stderr


@pytest.mark.parametrize("args, message", [
    (["eval", "__import__('os').system('id')", "--at", "x=1"], "attribute access"),
    (["eval", "().__class__", "--at", "x=1"], "column"),
    (["eval", "x + ", "--at", "x=1"], "column"),
    (["eval", "x + y", "--at", "x=1"], "no value for y"),
    (["eval", "x", "--at", "x=1,z=2"], "does not use"),
    (["eval", "x", "--at", "x=one"], "column"),
    (["eval", "foo(x)", "--at", "x=1"], "foo"),
    (["show", "x*y", "--wrt", "q"], "does not use"),
    (["show", "lambda: 1"], "lambda"),
])
def test_bad_input_exits_2_with_one_line(args, message):
    out = cli(*args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
