"""cc.parse: expressions read from text, safely, with errors that point into the text."""

import ast
import functools
import math
import operator
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from unittest import mock

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import compiler as cc
from compiler import ir
from compiler.ir import ops
from compiler.frontend.parse import MAX_TEXT_LENGTH, _Builder, _checked, _Source, parse_point
from compiler.frontend.tokens import _parse_tokens

x, y, z = cc.symbols("x y z")
c = ir.constant
FUZZ_EXAMPLES = int(os.environ.get("COMPILER_FUZZ_EXAMPLES", "300"))
PARSE_MODULE = sys.modules["compiler.frontend.parse"]
SENTINEL = os.path.join(tempfile.mkdtemp(prefix="compiler-parse-test-"), "SENTINEL")
DEEP = 100_000
FAST = 0.5  # seconds: "instant"
SLOW = 20.0  # seconds: a generous bound for 100,000-term texts (about 2.5 s here)


def parse_error(text, **kwargs) -> cc.ParseError:
    with pytest.raises(cc.ParseError) as info:
        cc.parse(text, **kwargs)
    return info.value


# --- what it accepts ---

def test_issue_example_is_the_same_node():
    assert cc.parse("sin(x)*y + x**2") is cc.sin(x) * y + x**2
    parsed = cc.compile(cc.parse("sin(x)*y + x**2"), [x, y], backend="python")
    built = cc.compile(cc.sin(x) * y + x**2, [x, y], backend="python")
    assert parsed.value_and_grad(0.5, 2.0) == built.value_and_grad(0.5, 2.0)


@pytest.mark.parametrize("text, expected", [
    ("x - y - z", (x - y) - z),
    ("x / y / z", (x / y) / z),
    ("x ** y ** z", x ** (y ** z)),
    ("-x ** 2", -(x ** 2)),
    ("2 ** -x", 2 ** (-x)),
    ("-x * y", (-x) * y),
    ("x * -y + z", x * (-y) + z),
    ("+x", x),
    ("--x", x),
    ("- - -x", -x),
    ("x * (y + z)", x * (y + z)),
    ("1e3 * x", 1000.0 * x),
    ("0x10 * x + 1_000", 16.0 * x + 1000.0),
    ("3 * x", 3.0 * x),
    ("(x\n + y)", x + y),
    ("  x + y", x + y),
    ("\n\t x + y\n  \n\t", x + y),
    ("x + y  # a comment", x + y),
    ("x + \\\n y", x + y),
    ("1 / 0 + x", math.inf + x),
])
def test_operators_and_precedence(text, expected):
    assert cc.parse(text) is expected


@pytest.mark.parametrize("symbol, compare", [("<", operator.lt), ("<=", operator.le),
                                             (">", operator.gt), (">=", operator.ge)])
def test_comparisons_inside_where(symbol, compare):
    assert cc.parse(f"where(x {symbol} y, x, 2*y)") is cc.where(compare(x, y), x, 2 * y)
    assert cc.parse(f"where((x + 1 {symbol} y), x, y)") is cc.where(compare(x + 1, y), x, y)


def test_constant_condition_folds():
    assert cc.parse("where(1 < 2, x, y)") is x
    assert cc.parse("where(2 < 1, x, y)") is y


@pytest.mark.parametrize("name", ops.FUNCTIONS)
def test_every_function(name):
    arity = ops.OPS[name].arity
    if name == "where":
        assert cc.parse("where(x > y, x, y)") is cc.where(x > y, x, y)
        return
    operands, texts = [x, y * 2, x + 1][:arity], ["x", "y*2", "x+1"][:arity]
    # an op's name in text; the function of the same name where cc has one (cc.chebyshevt is
    # SymPy's name of the op chebyt)
    build = getattr(cc, name, None) or (lambda *a: cc.ir.apply(name, *a))
    assert cc.parse(f"{name}({', '.join(texts)})") is build(*operands)


def test_constants_pi_and_e():
    assert cc.parse("pi").value == math.pi
    assert cc.parse("e * x") is math.e * x
    assert cc.parse("exp(1) - e").value == pytest.approx(0.0, abs=1e-15)
    # a symbols= entry takes the place of the constant
    assert cc.parse("e * x", symbols={"e": z, "x": x}) is z * x
    assert cc.parse("pi * x", symbols={"x": y}) is math.pi * y


def test_symbols_are_made_from_names_as_written():
    assert cc.parse("theta_1 + θ") is cc.Symbol("theta_1") + cc.Symbol("θ")
    assert cc.parse("match + case + _") is cc.Symbol("match") + cc.Symbol("case") + cc.Symbol("_")
    # Python would normalize the micro sign to mu; the name is kept as written
    assert cc.parse("\u00b5").name == "\u00b5"
    assert cc.parse("\u00b5", symbols={"\u00b5": x}) is x


def test_symbols_mapping():
    assert cc.parse("a*b + c", symbols={"a": x, "b": y * 2, "c": 1.5}) is x * (y * 2) + 1.5
    assert cc.parse("a + 1", symbols={"a": sp.Symbol("x")}) is x + 1
    assert cc.parse("a", symbols={"a": sp.sin(sp.Symbol("y"))}) is cc.sin(y)


def test_names_missing_from_symbols_are_new_symbols():
    """symbols= maps some names to your symbols; any other name is cc.Symbol(name), as without it."""
    assert cc.parse("x*y", symbols={"x": z}) is z * cc.Symbol("y")
    assert cc.parse("a*y", symbols={"a": x}) is x * cc.Symbol("y")     # the README's example
    assert cc.parse("a + zz", symbols={"a": x}) is x + cc.Symbol("zz")
    assert cc.parse("a * pi", symbols={}) is cc.Symbol("a") * math.pi


def test_strict_makes_symbols_a_whitelist():
    assert cc.parse("a * pi + e", symbols={"a": x}, strict=True) is x * math.pi + math.e
    e = parse_error("a + zz", symbols={"a": x}, strict=True)
    assert (e.column, e.piece) == (5, "zz")
    assert "unknown name at column 5" in str(e) and "`zz` is not in symbols= (a)" in str(e)
    assert "strict=True" in str(e)
    e = parse_error("1 + y", strict=True)  # no symbols=: no name is allowed
    assert (e.column, e.piece) == (5, "y") and "not in symbols= (empty)" in str(e)
    with pytest.raises(TypeError, match="strict=True or False"):
        cc.parse("x", strict="yes")


@pytest.mark.parametrize("symbols, error", [
    ([("x", x)], TypeError),
    ({1: x}, TypeError),
    ({"sin": x}, ValueError),
    ({"c": x < 1}, TypeError),
    ({"c": "text"}, TypeError),
    ({"c": object()}, TypeError),
])
def test_bad_symbols_mapping(symbols, error):
    with pytest.raises(error):
        cc.parse("x", symbols=symbols)


def test_numbers_are_floats():
    assert cc.parse("7").value == 7.0 and isinstance(cc.parse("7").value, float)
    assert cc.parse("2**1000").value == 2.0**1000
    assert cc.parse("1e999").value == math.inf
    assert cc.parse("-1e999").value == -math.inf
    assert cc.parse("10**400").value == math.inf  # float power, folded
    e = parse_error("1" + "0" * 400 + " + x")
    assert e.column == 1 and "number too large" in str(e) and "float64" in str(e)
    assert "syntax error" in str(parse_error("1" * 5000))  # Python's own limit on integer digits


@pytest.mark.parametrize("text", ["9**9**9", "10**10**10", "(9**9)**9**9", "2**2**2**2**2**2"])
def test_huge_powers_are_instant(text):
    start = time.perf_counter()
    value = cc.parse(text).value
    assert time.perf_counter() - start < FAST
    assert value == math.inf or value == 2.0 ** 65536.0


# --- what it refuses, and where ---

ALLOWED = "expressions may use numbers, names, + - * / **, comparisons inside where(), and the functions: exp, "

HOSTILE = [
    # text, column, piece, words of the message
    ("__import__('os').system('id')", 1, "__import__('os').system", "attribute access"),
    ("().__class__", 1, "().__class__", "attribute access"),
    ("().__class__.__bases__[0].__subclasses__()", 1, "().__class__.__bases__[0].__subclasses__", "attribute access"),
    ("x + y.real", 5, "y.real", "attribute access"),
    ("x[0]", 1, "x[0]", "subscript"),
    ("lambda: 1", 1, "lambda: 1", "lambda"),
    ("[x for x in y]", 1, "[x for x in y]", "comprehension"),
    ("sin(x for x in y)", 4, "(x for x in y)", "comprehension"),
    ("{x: 1 for x in y}", 1, "{x: 1 for x in y}", "comprehension"),
    ("f'{x}'", 1, "f'{x}'", "f-string"),
    ("'abc'", 1, "'abc'", "string"),
    ("b'abc' + x", 1, "b'abc'", "bytes"),
    ("sin(*x)", 5, "*x", "starred argument"),
    ("(y := 1)", 2, "y := 1", "assignment expression"),
    ("x and y", 1, "x and y", "boolean operator and"),
    ("x or y", 1, "x or y", "boolean operator or"),
    ("not x", 1, "not x", "boolean operator not"),
    ("x == y", 1, "x == y", "comparison =="),
    ("x != y", 1, "x != y", "comparison !="),
    ("x is y", 1, "x is y", "comparison is"),
    ("x in y", 1, "x in y", "comparison in"),
    ("where(x == 1, x, y)", 7, "x == 1", "comparison =="),
    ("x | y", 1, "x | y", "operator |"),
    ("x & y", 1, "x & y", "operator &"),
    ("x ^ y", 1, "x ^ y", "operator ^"),
    ("~x", 1, "~x", "operator ~"),
    ("x << 2", 1, "x << 2", "operator <<"),
    ("x >> 2", 1, "x >> 2", "operator >>"),
    ("x // 2", 1, "x // 2", "operator //"),
    ("x % 2", 1, "x % 2", "operator %"),
    ("x @ y", 1, "x @ y", "operator @"),
    ("foo(x)", 1, "foo", "unknown function"),
    ("eval('1')", 1, "eval", "unknown function"),
    ("exec('import os')", 1, "exec", "unknown function"),
    ("open('/etc/passwd')", 1, "open", "unknown function"),
    ("(x + 1)(2)", 1, "(x + 1)(2)", "`x + 1` is not a function"),
    ("sin(x)(y)", 1, "sin(x)(y)", "`sin(x)` is not a function"),
    ("sin(x=1)", 5, "x=1", "keyword argument"),
    ("maximum(x, **y)", 12, "**y", "** unpacking"),
    ("__builtins__", 1, "__builtins__", "reserved name"),
    ("x + __import__", 5, "__import__", "reserved name"),
    ("__import__('os')", 1, "__import__", "reserved name"),
    ("x if y else z", 1, "x if y else z", "conditional expression"),
    ("(x, y)", 1, "(x, y)", "tuple"),
    ("[x]", 1, "[x]", "list"),
    ("{x}", 1, "{x}", "set"),
    ("{x: y}", 1, "{x: y}", "dict"),
    ("True + x", 1, "True", "boolean"),
    ("None", 1, "None", "constant"),
    ("...", 1, "...", "constant"),
    ("2j * x", 1, "2j", "complex number"),
    ("await x", 1, "await x", "await"),
    ("x[1:2]", 1, "x[1:2]", "subscript"),
    # the functions, and comparisons, used wrongly
    ("sin + 1", 1, "sin", "sin is a function; call it as sin(...)"),
    ("atan2(x)", 1, "atan2(x)", "atan2() takes 2 arguments, got 1"),
    ("sin(x, y)", 1, "sin(x, y)", "sin() takes 1 argument, got 2"),
    ("where(x < 1, x)", 1, "where(x < 1, x)", "where() takes 3 arguments, got 2"),
    ("x + exp()", 5, "exp()", "exp() takes 1 argument, got 0"),
    ("x < 1", 1, "x < 1", "comparison outside where()"),
    ("where(x < 1, x < 2, y)", 14, "x < 2", "comparison outside where()"),
    ("where(x, 1, 2)", 7, "x", "where() needs a comparison"),
    ("where(sin(x), 1, 2)", 7, "sin(x)", "where() needs a comparison"),
    ("where(x < y < z, 1, 2)", 7, "x < y < z", "chained comparison"),
    ("x < y < z", 1, "x < y < z", "chained comparison"),
]


@pytest.mark.parametrize("text, column, piece, words", HOSTILE)
def test_hostile_input_is_refused_with_its_column(text, column, piece, words):
    e = parse_error(text)
    assert isinstance(e, cc.CompilerError) and isinstance(e, ValueError)
    assert (e.text, e.line, e.column, e.piece) == (text, 1, column, piece)
    message = str(e)
    assert f"at column {column}: " in message and words in message
    assert f"`{piece}`" in message or f"{piece} is a function" in message
    shown, caret = message.splitlines()[-2:]
    assert shown == "    " + text and caret == "    " + " " * (column - 1) + "^" * len(piece)


def test_unsupported_syntax_message_lists_what_is_allowed():
    message = str(parse_error("().__class__"))
    head = "unsupported syntax at column 1: attribute access `().__class__` is not allowed; "
    assert message.startswith(head + ALLOWED)
    assert ", ".join(ops.FUNCTIONS) in message


@pytest.mark.parametrize("text, column, piece", [
    ("x y", 3, "y"),
    ("é + (", 5, "("),  # characters, not UTF-8 bytes
    ("x +", 4, None),
    ("x)", 2, ")"),
    ("αβγ + +* 2", 8, "*"),
])
def test_syntax_errors_carry_the_column(text, column, piece):
    e = parse_error(text)
    assert "syntax error" in str(e) and (e.column, e.piece) == (column, piece)


def test_columns_count_characters_and_lines():
    e = parse_error("αβγ + x.y")
    assert (e.column, e.piece) == (7, "x.y")
    assert str(e).splitlines()[-1] == "    " + " " * 6 + "^^^"
    e = parse_error("(x\n + y.z)")
    assert (e.line, e.column, e.piece) == (2, 4, "y.z")
    assert "at line 2, column 4" in str(e) and str(e).splitlines()[-2:] == ["     + y.z)", "       ^^^"]
    e = parse_error("\n\n   é + ().a")
    assert (e.line, e.column, e.piece) == (3, 8, "().a")
    e = parse_error("(x +\r\n y.z)")
    assert (e.line, e.column) == (2, 2)


def test_long_line_shows_an_excerpt():
    text = "x + " * 100 + "y.z" + " + x" * 50
    e = parse_error(text)
    assert (e.column, e.piece) == (401, "y.z")
    shown, caret = str(e).splitlines()[-2:]
    assert len(shown) < 100 and shown.startswith("    ...") and shown.endswith("...")
    assert shown[caret.index("^"):].startswith("y.z") and caret.endswith("^^^")


def test_bad_text_before_parsing(monkeypatch):
    for bad in (b"x", None, 1, ["x"]):
        with pytest.raises(TypeError):
            cc.parse(bad)
    for empty in ("", "   ", "\n\t\n"):
        assert "empty expression" in str(parse_error(empty))
    e = parse_error("x + \0")
    assert (e.column, e.piece) == (5, "\0") and "null character" in str(e)
    e = parse_error("x + \ud800")
    assert (e.column, e.piece) == (5, "\ud800") and "surrogate" in str(e)
    # too long: refused without parsing
    monkeypatch.setattr(PARSE_MODULE.ast, "parse", mock.Mock(side_effect=AssertionError("parsed")))
    e = parse_error("x" * (MAX_TEXT_LENGTH + 1))
    assert "too long" in str(e) and "MAX_TEXT_LENGTH" in str(e) and "1,000,000" in str(e)


def test_python_parser_warnings_are_not_shown():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for text in ("1if x else 2", "2(x)", "x is 1", "'\\d'"):
            parse_error(text)


def test_parse_error_attributes():
    assert issubclass(cc.ParseError, cc.CompilerError) and issubclass(cc.ParseError, ValueError)
    e = parse_error("x ** ")
    assert e.text == "x ** " and isinstance(e.column, int)
    assert parse_error("").column is None and parse_error("").piece is None


# --- safety ---

@pytest.mark.parametrize("module", ["parse", "source", "tokens", "dispatch"])
def test_the_module_never_evaluates_text(module):
    """No eval/exec/compile/__import__/getattr and no SymPy parsing anywhere in the text modules' code."""
    with open(sys.modules[f"compiler.frontend.{module}"].__file__, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert not called & {"eval", "exec", "compile", "__import__", "getattr", "setattr", "globals", "vars"}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not names & {"sympify", "parse_expr", "literal_eval", "eval", "exec"}


_EVENTS: list = []
_WATCHING: list = []


def _audit(event, args, get_ident=threading.get_ident):  # audit hooks cannot be removed: this one
    # records only while a test watches, and only the watching thread (another library's threads may
    # open files meanwhile); get_ident is bound now: at interpreter exit the module may be gone
    if _WATCHING and get_ident() in _WATCHING and event in ("exec", "import", "open", "os.system", "subprocess.Popen", "os.exec",
                               "os.posix_spawn", "os.spawn", "os.fork", "socket.connect"):
        _EVENTS.append((event, args))


sys.addaudithook(_audit)

ATTACKS = [
    f"__import__('os').system('touch {SENTINEL}')",
    f"exec(\"open('{SENTINEL}', 'w')\")",
    f"eval(\"__import__('os').system('touch {SENTINEL}')\")",
    f"open('{SENTINEL}', 'w')",
    f"().__class__.__base__.__subclasses__()[0]('touch {SENTINEL}')",
    f"[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0]('touch {SENTINEL}')",
    f"sin(x) + __import__('subprocess').run(['touch', '{SENTINEL}'])",
    f"{'-' * 20000}x + __import__('os').system('touch {SENTINEL}')",  # the token reader's path
]


# (ids by position: the texts name a fresh temporary directory, and test ids must be the same
# in every process that collects them, as pytest-xdist's workers do)
@pytest.mark.parametrize("text", ATTACKS, ids=[f"attack{i}" for i in range(len(ATTACKS))])
def test_attacks_have_no_side_effect(text):
    calls = mock.Mock(side_effect=AssertionError("side effect"))
    with mock.patch.object(os, "system", calls), mock.patch.object(os, "popen", calls), \
            mock.patch.object(subprocess, "Popen", calls):
        _WATCHING.append(threading.get_ident())
        try:
            with pytest.raises(cc.ParseError):
                cc.parse(text)
        finally:
            _WATCHING.pop()
    assert not calls.called and not os.path.exists(SENTINEL)
    assert _EVENTS == []


# --- size and depth ---

def timed(text):
    start = time.perf_counter()
    try:
        result = cc.parse(text)
    except cc.ParseError as e:
        result = e
    return result, time.perf_counter() - start


@pytest.mark.parametrize("text", [
    "(" * DEEP + "x" + ")" * DEEP,
    "-(" * DEEP + "x" + ")" * DEEP,
    "-(" * DEEP,
    "sin(" * DEEP + "x" + ")" * DEEP,
    "[" * DEEP,
    "not " * DEEP + "x",
    "x" + ".a" * DEEP,
    "x" + "()" * DEEP,
])
def test_deep_nesting_is_a_parse_error(text):
    result, seconds = timed(text)
    assert isinstance(result, cc.ParseError) and seconds < SLOW


@pytest.mark.parametrize("text, expected", [
    ("-" * DEEP + "x", x),
    ("-" * (DEEP + 1) + "x", -x),
    ("+" * DEEP + "x", x),
    ("-" * DEEP + "where(x < 1, sin(x,), 2)", cc.where(x < 1, cc.sin(x), 2.0)),
])
def test_long_sign_chains_are_read(text, expected):
    result, seconds = timed(text)
    assert result is expected and seconds < SLOW


def test_long_flat_sum_and_product():
    names = [f"x{i}" for i in range(DEEP)]
    symbols = [cc.Symbol(n) for n in names]
    result, seconds = timed(" + ".join(names))
    assert result is functools.reduce(operator.add, symbols) and seconds < SLOW
    result, seconds = timed(" * ".join(names[:80_000]))
    assert result is functools.reduce(operator.mul, symbols[:80_000]) and seconds < SLOW
    result, seconds = timed("**".join(names[:50_000]))
    assert result is functools.reduce(lambda a, b: b ** a, reversed(symbols[:50_000])) and seconds < SLOW


def test_long_flat_text_errors_point_into_it():
    flat = " + ".join(f"x{i}" for i in range(DEEP))
    e = parse_error(flat + " + a.b")
    assert (e.column, e.piece) == (len(flat) + 5, ".") and "attribute access" in str(e)
    e = parse_error("-" * DEEP + "x +")
    assert e.column == DEEP + 4 and "ends before the expression" in str(e)
    e = parse_error("-" * DEEP + "sin(x")
    assert (e.column, e.piece) == (DEEP + 4, "(") and "never closed" in str(e)
    e = parse_error("-" * DEEP + "x\n- y")
    assert (e.line, e.column) == (2, 1)
    e = parse_error("-" * DEEP + "where(x < y < z, 1, 2)")
    assert "chained comparison" in str(e)
    e = parse_error("-" * DEEP + "(x, y)")
    assert "tuple" in str(e)


# --- the token reader builds exactly Python's tree ---

def _expression_text(depth=4):
    atoms = st.sampled_from(["x", "y", "2", "3.5", "1e3", "0x1F", "1_000", "pi", "é", "sin(x)", "g()",
                             "atan2(x, y)", "where(x < y, 1, 2)", "f(x,)", "(sin)(x)", "1j"])
    signs = st.sampled_from(["-", "+", "- ", "+-"])
    binary = st.sampled_from([" + ", "-", " * ", "/", "**", " < ", "<=", ">", " >= "])
    return st.recursive(atoms, lambda inner: st.one_of(
        st.tuples(signs, inner).map("".join),
        st.tuples(inner, binary, inner).map("".join),
        inner.map(lambda t: f"({t})"),
        inner.map(lambda t: f"(\n{t} # note\n)"),
        st.tuples(st.sampled_from(["sin", "f", "atan2"]), st.lists(inner, max_size=3)).map(
            lambda p: f"{p[0]}({', '.join(p[1])})"),
    ), max_leaves=12)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(_expression_text())
def test_token_reader_matches_python_parser(text):
    tree = ast.parse(_Source(text).body, mode="eval")
    if any(isinstance(n, ast.Compare) and len(n.ops) > 1 for n in ast.walk(tree)):
        with pytest.raises(cc.ParseError, match="chained comparison"):
            _parse_tokens(_Source(text))
        return
    assert ast.dump(_parse_tokens(_Source(text)), include_attributes=True) == ast.dump(tree, include_attributes=True)


def _by_tokens(text):
    """What parse gives when the token reader reads the text instead of Python's parser (None: a ParseError)."""
    try:
        source = _Source(_checked(text))
        return _Builder(source, None).build(_parse_tokens(source))
    except cc.ParseError:
        return None


def _by_python(text):
    try:
        return cc.parse(text)
    except cc.ParseError:
        return None


@pytest.mark.parametrize("text", [
    "Ɽࠩ + x", "ༀྯྀྯ༤", "℘", "༤x", "x\u00a0+ y", "x\v+y", "\\\n  xx", "\\\nxx", "# c\n  x", "#c\n\n x",
    "\\\n\\\nx", "(\\\n  x)", "\\\n\x0cx", "\\\n\x0c x", "1\\", "1\\\n", "1\\\n\n+2", "x\\ y",
    "1.j", "1_j", "00", "0_0", "01", "1e", "0x", "1.5.", "1if x else 2", "sin(\n x)", "x\n#c", "x\n  y",
    "(x\n   + y)", "x +\\\n y", "2(x)", "(sin)(x)", "sin(x,)", "sin(,)", "sin()", "f(x)(y)", "x; y", "x, y",
    "'s'", "x$", "x?", "1" * 4301, "0b102", "0o8", "1__0", "x=1", "-", "()", "(x", "x)", "",
])
def test_token_reader_agrees_on_corner_cases(text):
    assert _by_tokens(text) is _by_python(text)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(st.one_of(st.text(), st.lists(st.sampled_from(
    ["x", "1", " ", "\t", "\f", "\n", "\\\n", "#", "(", ")", "+", "-", "**", "<", ",", "sin(", "é", "\u0f80",
     "\u00b5", "_", "0x", "e", ".", "j", "$", "'"]), max_size=30).map("".join)))
def test_token_reader_agrees_on_any_text(text):
    assert _by_tokens(text) is _by_python(text)


# --- parse gives what the operators give ---

_LEAVES = [("x", x), ("y", y), ("2.5", c(2.5)), ("0", c(0.0)), ("3", c(3.0)), ("1e300", c(1e300)), ("pi", c(math.pi))]
_BINARY = [("+", operator.add), ("-", operator.sub), ("*", operator.mul), ("/", operator.truediv), ("**", operator.pow)]
_COMPARE = [("<", operator.lt), ("<=", operator.le), (">", operator.gt), (">=", operator.ge)]


def _pairs():
    def extend(inner):
        binary = st.tuples(inner, st.sampled_from(_BINARY), inner).map(
            lambda p: (f"({p[0][0]}) {p[1][0]} ({p[2][0]})", p[1][1](p[0][1], p[2][1])))
        sign = st.tuples(st.sampled_from([("-", operator.neg), ("+", operator.pos)]), inner).map(
            lambda p: (f"{p[0][0]}({p[1][0]})", p[0][1](p[1][1])))
        unary = st.tuples(st.sampled_from([f for f in ops.FUNCTIONS if ops.OPS[f].arity == 1]), inner).map(
            lambda p: (f"{p[0]}({p[1][0]})", getattr(cc, p[0])(p[1][1])))
        two = st.tuples(st.sampled_from(["atan2", "maximum", "minimum"]), inner, inner).map(
            lambda p: (f"{p[0]}({p[1][0]}, {p[2][0]})", getattr(cc, p[0])(p[1][1], p[2][1])))
        where = st.tuples(st.sampled_from(_COMPARE), inner, inner, inner, inner).map(
            lambda p: (f"where(({p[1][0]}) {p[0][0]} ({p[2][0]}), {p[3][0]}, {p[4][0]})",
                       cc.where(p[0][1](p[1][1], p[2][1]), p[3][1], p[4][1])))
        return st.one_of(binary, sign, unary, two, where)
    return st.recursive(st.sampled_from(_LEAVES), extend, max_leaves=10)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(_pairs())
def test_parse_matches_the_operators(pair):
    text, expected = pair
    assert cc.parse(text) is expected


# --- fuzzing: a Node or a ParseError, never anything else, never a side effect ---

_TOKENS = ["x", "y", "1", "2.5", "1e400", "0x1F", "1j", "+", "-", "*", "/", "**", "(", ")", ",", "<", "<=",
           "==", "sin(", "where(", "atan2(", "maximum(", "foo(", ".", "[", "]", "{", "}", ":", "=", ":=",
           "__import__", "__class__", "'s'", "f'{x}'", "lambda", "not ", " and ", " if ", " else ", " for ",
           " in ", "%", "//", "@", "~", "True", "None", "...", "pi", "e", "\n", "#", "\\\n", "é", "\t", " ",
           "\0", "\r", "*x", "**y", "9**9**9", ";", "!", "$", "?", "`", '"', "\\", "\u00b5", "\u2028"]
_SOUPS = st.lists(st.sampled_from(_TOKENS), max_size=40).map("".join)


def _check_outcome(text):
    calls = mock.Mock(side_effect=AssertionError("side effect"))
    with mock.patch.object(os, "system", calls), mock.patch.object(subprocess, "Popen", calls):
        try:
            result = cc.parse(text)
        except cc.ParseError as e:
            assert e.column is None or (isinstance(e.column, int) and e.column >= 1)
        else:
            assert isinstance(result, cc.Expr)
    assert not calls.called


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(st.text())
def test_fuzz_arbitrary_text(text):
    _check_outcome(text)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_SOUPS, st.sampled_from(["", "-" * 4000]))
def test_fuzz_token_soup(text, prefix):
    _check_outcome(prefix + text)  # with the prefix, Python's parser gives up and the token reader reads it
    assert not os.path.exists(SENTINEL)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(st.text(alphabet=st.sampled_from("xy=,.-+1e5 \tinfa_\n")))
def test_fuzz_parse_point(text):
    try:
        point = parse_point(text)
    except cc.ParseError as e:
        assert e.column is None or e.column >= 1
    else:
        assert all(isinstance(k, str) and isinstance(v, float) for k, v in point.items())


# --- parse_point ---

def test_parse_point():
    assert parse_point("x=1.5,y=2") == {"x": 1.5, "y": 2.0}
    assert parse_point(" x = 1.5 , θ=-2e3 ") == {"x": 1.5, "θ": -2000.0}
    assert parse_point("a=inf, b=-inf") == {"a": math.inf, "b": -math.inf}
    assert math.isnan(parse_point("a=nan")["a"])
    assert parse_point("") == {} and parse_point("  ") == {}
    with pytest.raises(TypeError):
        parse_point(b"x=1")


@pytest.mark.parametrize("text, column, piece, words", [
    ("x=1,y", 5, "y", "expected name=value"),
    ("x=1,,y=2", 5, "", "expected name=value"),
    ("x=abc", 3, "abc", "bad number"),
    ("x=1, y = 2 3", 10, "2 3", "bad number"),
    ("1x=2", 1, "1x", "bad name"),
    ("x=1,x=2", 5, "x", "repeated name"),
    ("x=1\0", 4, "\0", "null character"),
])
def test_parse_point_errors(text, column, piece, words):
    with pytest.raises(cc.ParseError) as info:
        parse_point(text)
    assert (info.value.column, info.value.piece) == (column, piece) and words in str(info.value)
