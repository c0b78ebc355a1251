"""How compiled code reaches scipy.special: the source of ``_sf_bind``, a helper of every
generated module that calls a special function (``ir.special``), also run by the llvm
target (``runtime.llvm``) to bind the same symbols.

Each special function is a C function ``double scipy_special_<name>(double..., int)`` found
under that symbol name. Where ``cython_special`` exports one of that form, the symbol is its
address. Where SciPy's C function has another form, a few lines of LLVM IR, compiled once
per process with llvmlite, make one of it that calls SciPy's by address (``Special.wrap``):

- ``("outputs", capi, n, k)``: ``sici``-like functions that write n results through pointers;
  the wrapper returns result k;
- ``("integer", capi)``: a first operand of C type ``long`` (``eval_hermite``'s degree): the
  symbol is the C function itself, its caller converts the degree (inline: a constant degree is
  checked once), nan where the double is not an integer below 2**63 in magnitude;
- ``("ufunc", name, types, *constants)``: a function SciPy exports to no C caller at all
  (Hurwitz's ``zeta``, ``lambertw``): the xsf function its ufunc's inner loop calls, read from
  the loop's data where that checks out (``_sf_kernel``), else the inner loop itself on one
  element (complex operands get imaginary part 0, a complex result is nan where it is not real);
- ``("composite",)``: polygamma, computed as ``scipy.special.polygamma`` does.

The wrappers live as long as the process (their addresses are in machine code): one registry
per process, shared by every generated module.

>>> "def _sf_bind" in BIND_SOURCE
True
"""

BIND_SOURCE = '''# scipy.special from compiled code: the C functions of scipy.special.cython_special, bound by
# address under a symbol name (so that machine code cached on disk finds them in a new process),
# called by Numba as external functions; SciPy's ufuncs where this module runs as plain Python.
# Where SciPy's C function is not a double f(double..., int), a few lines of LLVM IR make one.
import ctypes
import struct
import sys
import types

import llvmlite.binding
import scipy.special
from numba.extending import get_cython_function_address, overload

_SF = sys.modules.setdefault("_scipy_special_symbols", types.ModuleType("_scipy_special_symbols"))
if not hasattr(_SF, "bound"):
    _SF.bound, _SF.engines = {}, []  # symbol -> address; the wrappers' engines, never freed


def _sf_capi(name):
    return get_cython_function_address("scipy.special.cython_special", name)


class _SfUfunc(ctypes.Structure):  # the head of NumPy's PyUFuncObject (numpy/ufuncobject.h)
    _fields_ = [("refcnt", ctypes.c_ssize_t), ("type", ctypes.c_void_p), ("nin", ctypes.c_int),
                ("nout", ctypes.c_int), ("nargs", ctypes.c_int), ("identity", ctypes.c_int),
                ("functions", ctypes.POINTER(ctypes.c_void_p)), ("data", ctypes.POINTER(ctypes.c_void_p)),
                ("ntypes", ctypes.c_int), ("reserved1", ctypes.c_int), ("name", ctypes.c_char_p)]


def _sf_loop(name, signature):
    """(inner loop, its data) of scipy.special's ufunc ``name`` for ``signature`` ("dd->d")."""
    import scipy.special._special_ufuncs as ufuncs
    ufunc = getattr(ufuncs, name)
    head = _SfUfunc.from_address(id(ufunc))
    if (head.name or b"").decode() != ufunc.__name__ or head.ntypes != ufunc.ntypes or head.nin != ufunc.nin:
        raise RuntimeError(f"scipy.special.{name}: NumPy's ufunc layout is not the one this module reads")
    k = ufunc.types.index(signature)
    return head.functions[k], head.data[k] or 0


class _SfDlInfo(ctypes.Structure):  # dladdr's answer (dlfcn.h)
    _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p), ("sname", ctypes.c_char_p),
                ("saddr", ctypes.c_void_p)]


def _sf_library_of(address):
    """The shared object that holds ``address`` (dladdr), or None where that is unknown."""
    try:
        dladdr = ctypes.CDLL(None).dladdr
    except (AttributeError, OSError, TypeError):  # (no dladdr: Windows)
        return None
    dladdr.argtypes, dladdr.restype = [ctypes.c_void_p, ctypes.POINTER(_SfDlInfo)], ctypes.c_int
    info = _SfDlInfo()
    return info.fname if address and dladdr(address, ctypes.byref(info)) else None


class _SfComplex(ctypes.Structure):  # std::complex<double> by value (two doubles, as C's struct)
    _fields_ = [("re", ctypes.c_double), ("im", ctypes.c_double)]


_SF_CTYPES = {"d": ctypes.c_double, "l": ctypes.c_long, "D": _SfComplex}
_SF_SAMPLES = {"d": (2.5, 0.75, 7.5, -0.2), "l": (0, -1, 0, -1), "D": (1.0, -0.2, 30.0, -0.3)}


def _sf_kernel(name, signature, constants):
    """The address of the C++ function that the inner loop of ``scipy.special._special_ufuncs``'
    ufunc ``name`` calls for ``signature``, or None. That loop (xsf's ``numpy.h``) pays a fixed
    cost on each call (its floating-point status check); its data is xsf's ``ufunc_data``:
    {const char *name; map_dims; int flags; the function}. Trusted only if the name is the ufunc's,
    both pointers are in the ufunc's shared object, and the function gives the ufunc's numbers."""
    import numpy as np
    import scipy.special._special_ufuncs as ufuncs
    ufunc = getattr(ufuncs, name)
    loop, data = _sf_loop(name, signature)
    if not data:
        return None
    words = (ctypes.c_void_p * 4).from_address(data)
    library = _sf_library_of(loop)
    if (ctypes.cast(words[0], ctypes.c_char_p).value != name.encode() or (words[2] or 0) >= 2**32
            or library is None or _sf_library_of(words[1]) != library or _sf_library_of(words[3]) != library):
        return None
    kinds = signature.replace("->", "")
    call = ctypes.CFUNCTYPE(_SF_CTYPES[kinds[-1]], *[_SF_CTYPES[k] for k in kinds[:-1]])(words[3])
    for j in range(len(_SF_SAMPLES["d"])):
        args = [_SF_SAMPLES[k][(j + 2 * i) % 4] for i, k in enumerate(kinds[:-1 - len(constants)])] + list(constants)
        want = complex(ufunc(*args))
        got = call(*[_SfComplex(a, 0.0) if k == "D" else a for a, k in zip(args, kinds)])
        got = complex(got.re, got.im) if kinds[-1] == "D" else complex(got)
        if not np.array_equal(np.array([got]), np.array([want]), equal_nan=True):
            return None
    return words[3]


def _sf_integer(j, value):
    """%i<j>: the double ``value`` as an i64 (saturated); %ok<j>: whether it is an integer below
    2**63 in magnitude (as the Python targets' ``_sf_integer_degree`` asks)."""
    return [f"  %i{j} = call i64 @llvm.fptosi.sat.i64.f64(double {value})", f"  %b{j} = sitofp i64 %i{j} to double",
            f"  %m{j} = call double @llvm.fabs.f64(double {value})", f"  %e{j} = fcmp oeq double %b{j}, {value}",
            f"  %l{j} = fcmp olt double %m{j}, 0x43E0000000000000", f"  %ok{j} = and i1 %e{j}, %l{j}"]


def _sf_kernel_ir(kernel, kinds, operands, whole):
    """The lines that call SciPy's function at address ``kernel`` directly (``_sf_kernel``)."""
    args, body = [], []
    for j, kind in enumerate(kinds[:-1]):
        value = operands[j]
        if kind == "d":
            args.append(f"double {value}")
        elif kind == "D":  # a complex operand of imaginary part 0: two doubles (x86-64 SysV, AArch64)
            args += [f"double {value}", "double 0.0"]
        else:
            body += _sf_integer(j, value)
            args.append(f"i64 %i{j}")
            whole.append(f"%ok{j}")
    if kinds[-1] != "D":
        return body + [f"  %v = call double inttoptr (i64 {kernel} to ptr)({', '.join(args)})"]
    # a complex result (returned in two registers, as the C ABI returns two doubles): its real
    # part where it is real
    return body + [f"  %w = call {{double, double}} inttoptr (i64 {kernel} to ptr)({', '.join(args)})",
                   "  %re = extractvalue {double, double} %w, 0", "  %im = extractvalue {double, double} %w, 1",
                   "  %real = fcmp oeq double %im, 0.0", "  %v = select i1 %real, double %re, double 0x7FF8000000000000"]


def _sf_ir(symbol, arity, how):
    """The LLVM IR of ``double symbol(double x0, ..., i32)`` computing SciPy's function ``how``."""
    params = ", ".join(f"double %x{j}" for j in range(arity))
    head = [f"define double @{symbol}({params}, i32 %skip) {{"]
    call = lambda address: f"inttoptr (i64 {address} to ptr)"  # noqa: E731
    if how[0] == "outputs":
        _, capi, n, k = how
        pointers = ", ".join(f"ptr %o{j}" for j in range(n))
        body = [f"  %o{j} = alloca double" for j in range(n)]
        body += [f"  call void {call(_sf_capi(capi))}(double %x0, {pointers})", f"  %r = load double, ptr %o{k}"]
    elif how[0] == "ufunc":
        _, name, signature, *constants = how
        kinds = signature.replace("->", "")
        whole = []
        hexed = ["0x%016X" % struct.unpack("<Q", struct.pack("<d", float(c)))[0] for c in constants]
        operands = [f"%x{j}" for j in range(arity)] + hexed  # (LLVM takes exact doubles only)
        kernel = _sf_kernel(name, signature, constants)
        if kernel:  # SciPy's function itself, without its loop's fixed cost on each element
            body = _sf_kernel_ir(kernel, kinds, operands, whole)
        else:  # the ufunc's inner loop on one element (strides 0)
            loop, data = _sf_loop(name, signature)
            body = [f"  %args = alloca [{len(kinds)} x ptr]", f"  %steps = alloca [{len(kinds)} x i64]",
                    "  %dims = alloca i64", "  store i64 1, ptr %dims"]
            for j, kind in enumerate(kinds):
                slot = {"d": "double", "D": "{double, double}", "l": "i64"}[kind]
                body += [f"  %a{j} = alloca {slot}", f"  %p{j} = getelementptr [{len(kinds)} x ptr], ptr %args, i64 0, i64 {j}",
                         f"  store ptr %a{j}, ptr %p{j}", f"  %s{j} = getelementptr [{len(kinds)} x i64], ptr %steps, i64 0, i64 {j}",
                         f"  store i64 0, ptr %s{j}"]
                if j == len(kinds) - 1:
                    continue
                value = operands[j]
                if kind == "d":
                    body.append(f"  store double {value}, ptr %a{j}")
                elif kind == "l":
                    body += _sf_integer(j, value) + [f"  store i64 %i{j}, ptr %a{j}"]
                    whole.append(f"%ok{j}")
                else:
                    body += [f"  %c{j} = insertvalue {{double, double}} {{double 0.0, double 0.0}}, double {value}, 0",
                             f"  store {{double, double}} %c{j}, ptr %a{j}"]
            out = len(kinds) - 1
            body.append(f"  call void {call(loop)}(ptr %args, ptr %dims, ptr %steps, ptr {call(data)})")
            if kinds[-1] == "D":  # a complex result: its real part where it is real
                body += [f"  %w = load {{double, double}}, ptr %a{out}", "  %re = extractvalue {double, double} %w, 0",
                         "  %im = extractvalue {double, double} %w, 1", "  %real = fcmp oeq double %im, 0.0",
                         "  %v = select i1 %real, double %re, double 0x7FF8000000000000"]
            else:
                body.append(f"  %v = load double, ptr %a{out}")
        ok = "true"
        for j, flag in enumerate(whole):  # an integer operand given a double that is no integer: nan
            body.append(f"  %all{j} = and i1 {ok}, {flag}")
            ok = f"%all{j}"
        body.append(f"  %r = select i1 {ok}, double %v, double 0x7FF8000000000000")
        head[:0] = ["declare i64 @llvm.fptosi.sat.i64.f64(double)", "declare double @llvm.fabs.f64(double)"]
    else:  # polygamma(n, x) = (-1)**(n+1) gamma(n+1) zeta(n+1, x); digamma(x) for n = 0
        head[:0] = ["declare double @scipy_special_zeta(double, double, i32)",
                    "declare double @scipy_special_gamma(double, i32)",
                    "declare double @scipy_special_digamma(double, i32)", "declare double @llvm.pow.f64(double, double)"]
        body = ["  %zero = fcmp oeq double %x0, 0.0", "  br i1 %zero, label %digamma, label %zeta",  # (one of them)
                "zeta:", "  %n1 = fadd double %x0, 1.0", "  %sign = call double @llvm.pow.f64(double -1.0, double %n1)",
                "  %g = call double @scipy_special_gamma(double %n1, i32 0)", "  %sg = fmul double %sign, %g",
                "  %z = call double @scipy_special_zeta(double %n1, double %x1, i32 0)",
                "  %f = fmul double %sg, %z", "  br label %done",
                "digamma:", "  %d = call double @scipy_special_digamma(double %x1, i32 0)", "  br label %done",
                "done:", "  %r = phi double [ %f, %zeta ], [ %d, %digamma ]"]
    return "\\n".join(head + body + ["  ret double %r", "}"]) + "\\n"


_SF_COMPOSITE_USES = NEEDS  # (name, arity, how) of the functions polygamma's IR calls


def _sf_symbol(name, arity, how):
    """Bind SYMBOL<name> (once per process) to SciPy's function ``how`` as double f(double..., int)."""
    symbol = "SYMBOL" + name
    if symbol not in _SF.bound:
        for needed in _SF_COMPOSITE_USES if how[0] == "composite" else []:
            _sf_symbol(*needed)
        if how[0] in ("capi", "integer"):  # (an integer first operand: its caller converts it)
            address = _sf_capi(how[1])
        else:
            llvmlite.binding.initialize_native_target()
            llvmlite.binding.initialize_native_asmprinter()
            module = llvmlite.binding.parse_assembly(_sf_ir(symbol, arity, how))
            machine = llvmlite.binding.Target.from_default_triple().create_target_machine(opt=2)
            engine = llvmlite.binding.create_mcjit_compiler(module, machine)
            engine.finalize_object()
            _SF.engines.append(engine)
            address = engine.get_function_address(symbol)
        llvmlite.binding.add_symbol(symbol, address)
        _SF.bound[symbol] = address
    return symbol


def _sf_bind(name, arity, how):
    """SciPy's function ``how`` as a Numba external function of ``arity`` doubles and an int."""
    symbol = _sf_symbol(name, arity, how)
    if how[0] == "integer":
        return _sf_integer_first(numba.types.ExternalFunction(
            symbol, numba.float64(numba.int64, *[numba.float64] * (arity - 1), numba.int32)))
    return numba.types.ExternalFunction(symbol, numba.float64(*[numba.float64] * arity, numba.int32))


def _sf_integer_first(external):
    """A C function ``double f(long n, double x, int)`` as one of doubles: nan where n is not an
    integer below 2**63 in magnitude (then never converted). Inlined into its caller, the check
    of a constant degree is made once, not per element."""
    @numba.njit(inline="always", error_model="numpy", nogil=True)
    def call(n, x, skip):
        if abs(n) < 9.223372036854775808e18 and np.floor(n) == n:
            return external(np.int64(n), x, skip)
        return np.nan
    return call


def _sf_compiled(c, *types):
    """The compiled version of a special function: C function ``c`` on numbers, or element by
    element on arrays (operands of equal shape, or a number and an array)."""
    arrays = [isinstance(t, numba.types.Array) for t in types]
    if len(types) == 1:
        if not arrays[0]:
            return lambda x: c(x, 0)

        def unary(x):
            flat = np.ascontiguousarray(x).ravel()
            out = np.empty(flat.size)
            for k in range(flat.size):
                out[k] = c(flat[k], 0)
            return out.reshape(x.shape)
        return unary
    if not any(arrays):
        if len(types) == 3:
            return lambda a, b, d: c(a, b, d, 0)
        if len(types) == 4:
            return lambda a, b, d, e: c(a, b, d, e, 0)
        return lambda a, b: c(a, b, 0)
    if len(types) > 2:  # (arrays of the 3- and 4-operand functions: the NumPy dialect computes them)
        return None
    if arrays[0] and arrays[1]:
        def both(a, b):
            fa, fb = np.ascontiguousarray(a).ravel(), np.ascontiguousarray(b).ravel()
            out = np.empty(fa.size)
            for k in range(fa.size):
                out[k] = c(fa[k], fb[k], 0)
            return out.reshape(a.shape)
        return both
    if arrays[0]:
        def left(a, b):
            fa = np.ascontiguousarray(a).ravel()
            out = np.empty(fa.size)
            for k in range(fa.size):
                out[k] = c(fa[k], b, 0)
            return out.reshape(a.shape)
        return left

    def right(a, b):
        fb = np.ascontiguousarray(b).ravel()
        out = np.empty(fb.size)
        for k in range(fb.size):
            out[k] = c(a, fb[k], 0)
        return out.reshape(b.shape)
    return right'''
