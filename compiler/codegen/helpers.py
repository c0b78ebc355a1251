"""Helper functions a generated module defines when it uses them, per dialect.

Neither NumPy nor Numba has ``erf`` on arrays, and Numba's ``np.floor_divide`` of
floats differs from NumPy's at infinities (``1.0 // -inf`` is -1.0 in NumPy and
in Python): the op table spells such ops with a helper (``ops.Op.numba_fmt``),
whose source is here. The helpers of the Numba dialect are jitted with the
kernels, except those of ``PYTHON_HELPERS``, which ``objmode`` blocks call; the
vm's interpreter (``vm.interpreter_source``) jits the scalar ones too.
"""

from __future__ import annotations

import re

from .linalg import LINALG_PYTHON_HELPERS, NUMBA_HELPERS as _LINALG_NUMBA, NUMPY_HELPERS as _LINALG_NUMPY

HELPERS = {
    "numba": {
        "_erf": '''def _erf(x):
    """math.erf of every element (NumPy has no erf)."""
    flat = np.ascontiguousarray(x).ravel()
    out = np.empty(flat.size)
    for k in range(flat.size):
        out[k] = math.erf(flat[k])
    return out.reshape(x.shape)''',
        "_product": '''def _product(a, b):
    """a @ b in blocks small enough (m * k * n <= 2**18) that OpenBLAS runs each on this thread:
    its worker threads stall for milliseconds while other processes hold the cores, and the
    points of a batch run in parallel already. Blocks of rows of a, or (a has fewer rows than
    columns: a transposed view, X.T @ dY) of the inner axis, their products summed."""
    m, k = a.shape
    n = b.shape[1]
    if min(m, k) * n > 2**12:  # a block of 64 rows (or inner slices) is past the budget: blocks would
        return np.ascontiguousarray(a) @ np.ascontiguousarray(b)  # be thin products; one BLAS call
    if m >= k:
        rows = max(1, 2**18 // max(1, k * n))
        out = np.empty((m, n), a.dtype)  # (a and b are of one precision: the printer sees to it)
        for i in range(0, m, rows):
            np.dot(np.ascontiguousarray(a[i:i + rows]), b, out[i:i + rows])
        return out
    inner = max(1, 2**18 // max(1, m * n))
    out = np.zeros((m, n), a.dtype)
    for p in range(0, k, inner):
        out += np.ascontiguousarray(a[:, p:p + inner]) @ np.ascontiguousarray(b[p:p + inner])
    return out''',
        "_quietly": '''def _quietly(ufunc, x):
    """A NumPy loop in an objmode block: nan/inf without warnings, as Numba's own loops give."""
    with np.errstate(all="ignore"):
        return ufunc(x)''',
        "_floor_divide": '''def _floor_divide(a, b):
    """np.floor_divide of two floats, by NumPy's own steps (npy_divmod): Numba's differs at inf."""
    if b == 0.0:
        return np.divide(a, b)
    mod = np.fmod(a, b)
    div = (a - mod) / b
    if mod != 0.0 and (b < 0.0) != (mod < 0.0):  # nan counts as nonzero, as in C
        div -= 1.0
    if div != 0.0:
        floor = np.floor(div)
        return floor + 1.0 if div - floor > 0.5 else floor
    return np.copysign(0.0, a / b)''',
        "_sign": '''def _sign(a):
    """np.sign: 0.0 at -0.0 as NumPy gives (Numba's gives -0.0); nan stays nan."""
    return np.sign(a) + 0.0''',
    },
    "numpy": {
        "_erf": '''_erf = np.vectorize(math.erf, otypes=[np.float64])  # NumPy has no erf''',
    },
}
HELPERS["numba"].update(_LINALG_NUMBA)
HELPERS["numpy"].update(_LINALG_NUMPY)
PYTHON_HELPERS = {"_quietly"} | LINALG_PYTHON_HELPERS
#: helpers of scalar ops (``Op.numba_fmt``): the vm's interpreter defines them too
SCALAR_HELPERS = ("_floor_divide", "_sign")

#: Ops whose array form the Numba dialect may compute with glibc's vector math (libmvec): the
#: runtime says which of them this machine has (``Printer(vector_math=...)``, from ``runtime.simd``);
#: the op's name is the C function's. Each agrees with NumPy on nan, +-inf,
#: +-0, subnormals and the overflow edges, and within 4 ulp elsewhere (tests/test_vector_math.py).
VECTOR_MATH_OPS = ("exp", "log", "sin", "cos", "tan", "tanh", "sinh", "cosh", "asin", "acos", "atan",
                   "log1p", "expm1")

# The helpers of the vector path (Numba dialect only). _libmvec is an intrinsic: one call of a
# libmvec function on WIDTH doubles; _vector_<op> is NumPy's ufunc in plain Python, and a loop
# of those calls (and libm for the last few elements) in compiled code. Their sources begin with
# a comment, not "def": the Numba dialect does not jit them as functions (module._jitted).
_LIBMVEC = '''# glibc's vector math (libmvec.so.1): compiled kernels call its functions, WIDTH doubles a
# call, through _libmvec; loading the library lets their machine code find them
import llvmlite.binding
import llvmlite.ir
from numba.core import cgutils
from numba.extending import intrinsic, overload

llvmlite.binding.load_library_permanently("libmvec.so.1")


@intrinsic
def _libmvec(typingctx, name, out, x, k):
    """out[k:k + WIDTH] = f(x[k:k + WIDTH]) by one call of libmvec's function ``name``, a string
    literal ("_ZGVdN4v_tanh" is tanh on 4 doubles); 1-D contiguous arrays. Compiled code only."""
    def codegen(context, builder, signature, args):
        vector = llvmlite.ir.VectorType(llvmlite.ir.DoubleType(), WIDTH)
        f = cgutils.get_or_insert_function(builder.module, llvmlite.ir.FunctionType(vector, [vector]),
                                           name.literal_value)

        def at(array, array_type):  # &array[k], as a pointer to WIDTH doubles
            data = context.make_array(array_type)(context, builder, array).data
            return builder.bitcast(builder.gep(data, [args[3]]), vector.as_pointer())
        builder.store(builder.call(f, [builder.load(at(args[2], x), align=8)]), at(args[1], out), align=8)
        return context.get_dummy_value()
    if isinstance(name, numba.types.StringLiteral):
        return numba.types.void(name, out, x, k), codegen'''

_VECTOR_OP = '''# UFUNC of an array: libmvec's NAME, WIDTH elements a call, in compiled kernels;
# NumPy's loop where this module runs as plain Python
def _vector_OP(x):
    with np.errstate(all="ignore"):
        return UFUNC(x)


@overload(_vector_OP)
def _vector_OP_compiled(x):
    def compiled(x):
        flat = np.ascontiguousarray(x).ravel()
        out = np.empty(flat.size)
        n = flat.size - flat.size % WIDTH
        for k in range(0, n, WIDTH):
            _libmvec("NAME", out, flat, k)
        for k in range(n, flat.size):  # the last few: libm, as in Numba's own loops
            out[k] = UFUNC(flat[k])
        return out.reshape(x.shape)
    return compiled'''


def vector_helpers(op: str, ufunc: str, name: str) -> dict[str, str]:
    """The helpers that compute ``ufunc`` (``"np.tanh"``) of an array by libmvec's function
    ``name`` (``"_ZGVdN4v_tanh"``: tanh on 4 doubles, AVX2): {helper's name: its source}."""
    width = re.match(r"_ZGV[a-z]N(\d+)v_", name).group(1)
    function = _VECTOR_OP.replace("UFUNC", ufunc).replace("NAME", name).replace("OP", op)
    return {"_libmvec": _LIBMVEC.replace("WIDTH", width),
            f"_vector_{op}": function.replace("WIDTH", width)}


def used_in(text: str, dialect: str) -> list[str]:
    """The helpers of ``dialect`` that ``text`` calls (a special function's after the
    binding code they share). The printers ask it of an op's template once per statement:
    the answer is kept per template (a million-statement module asked it a million times)."""
    key = (text, dialect, len(HELPERS[dialect]))
    names = _used.get(key)
    if names is None:
        names = [name for name in HELPERS[dialect] if re.search(rf"(?<![\w.]){name}\(", text)]
        if any(name.startswith("_sf_") for name in names):
            names.insert(0, "_sf_bind")
        _used[key] = names
    return list(names)


_used: dict = {}  # (template, dialect, number of helpers) -> the helpers it calls


# --- the special functions (``ir.special``): scipy.special's, from every dialect ---

_SF_NATIVE = '''# scipy.special.SCIPY: the ufunc in plain Python; in compiled code, HOW
_c_NAME = _sf_bind("NAME", ARITY, HOW)


PYTHON


@overload(_sf_NAME)
def _sf_NAME_compiled(ARGS):
    return _sf_compiled(_c_NAME, ARGS)'''

# SciPy exports no C function: compiled code calls SciPy in object mode (numbers only)
_SF_OBJECT = '''# scipy.special.SCIPY (a Python function of SciPy's, no C function): in object mode when compiled
PYTHON


@overload(_sf_NAME)
def _sf_NAME_compiled(ARGS):
    if all(isinstance(t, numba.types.Number) for t in (ARGS)):
        def scalar(ARGS):
            with numba.objmode(r="float64"):
                r = float(_sf_NAME(ARGS))
            return r
        return scalar'''


def _special_helpers() -> None:
    from ..ir.special import PYTHON_PRELUDE, SPECIAL, SPECIALS, SYMBOL_PREFIX, python_source
    from .special_bind import BIND_SOURCE
    uses = [(n, SPECIAL[n].arity, _how(SPECIAL[n])) for n in ("zeta", "gamma", "digamma")]
    HELPERS["numba"]["_sf_bind"] = BIND_SOURCE.replace("SYMBOL", SYMBOL_PREFIX).replace("NEEDS", repr(uses)) + \
        "\n\n\n" + PYTHON_PRELUDE.split("\n\n\n", 1)[1]
    HELPERS["numpy"]["_sf_bind"] = PYTHON_PRELUDE
    for s in SPECIALS:
        args = "x" if s.arity == 1 else ", ".join("abde"[:s.arity])
        python = python_source(s).rstrip("\n") if s.python else \
            f"def _sf_{s.name}({args}):\n    return scipy.special.{s.scipy}({args})"
        text = (_SF_NATIVE if s.compiled else _SF_OBJECT).replace("PYTHON", python).replace("SCIPY", s.scipy)
        text = text.replace("HOW", _describe(_how(s)), 1).replace("HOW", repr(_how(s)))
        text = text.replace("ARITY", str(s.arity)).replace("ARGS", args)
        HELPERS["numba"][f"_sf_{s.name}"] = text.replace("NAME", s.name)
        HELPERS["numpy"][f"_sf_{s.name}"] = python_source(s) if s.python else \
            f"_sf_{s.name} = scipy.special.{s.scipy}"


def _describe(how: tuple) -> str:
    """What a generated module's comment says of ``how`` (``codegen.special_bind``)."""
    kind, *rest = how
    return {"capi": lambda: f"cython_special's C function {rest[0]}",
            "outputs": lambda: f"result {rest[2]} of the {rest[1]} results of cython_special's {rest[0]}",
            "integer": lambda: f"cython_special's {rest[0]}, its degree converted to an integer here",
            "ufunc": lambda: f"the function behind SciPy's ufunc {rest[0]} ({rest[1]}), or its inner loop",
            "composite": lambda: "(-1)**(n+1) gamma(n+1) zeta(n+1, x), as SciPy computes it"}[kind]()


def _how(s) -> tuple:
    """How compiled code calls special function ``s`` (``codegen.special_bind``)."""
    return ("capi", s.capi) if s.capi is not None else s.wrap


_special_helpers()
