"""A one-point entry to a native kernel as a CPython function: no ctypes, no NumPy per call.

The llvm target's kernel is machine code with the C signature
``kernel(double *x, double *out, int64 stride, double *scratch)``. Calling it
through ctypes costs about 1.5 us a call (filling ctypes buffers, the foreign
call, reading the results back). Here a few lines of LLVM IR make a function
with CPython's ``METH_FASTCALL`` signature that reads its arguments straight
from the float objects, calls the kernel by address and builds the result
(a float, a tuple of floats, or ``(value, (gradient...))``), and
``PyCFunction_NewEx`` turns it into a Python callable.

Arguments it does not take — anything but a float (or a subclass, such as
``numpy.float64``, which keeps a float's layout) or an int a double holds, or
the wrong count — raise ``TypeError``, which the caller answers by its checked
slow path (arrays, batches, and the messages that explain a mistake).

>>> import compiler as cc
>>> x, y = cc.symbols("x y")
>>> fn = cc.compile(x * y + 1.0, [x, y], backend="llvm")
>>> fn(2.0, 3.0), fn.value_and_grad(2, 3.0)
(7.0, (7.0, (3.0, 2.0)))
"""

from __future__ import annotations

import ctypes
import sys

STACK_SCRATCH = 8192     # scratch doubles kept on the stack; more come from PyMem_Malloc
# Results up to this many are boxed by straight-line code; more by a loop, whose compile does not
# grow with them (the 10-link pendulum's 253 unrolled: 85-120 ms to compile in every process)
UNROLLED_RESULTS = 32
METH_FASTCALL = 0x0080   # methodobject.h
KIND = "entry"           # its object code's suffix in the cache (counted with the llvm target's)


class _MethodDef(ctypes.Structure):  # PyMethodDef (methodobject.h)
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p), ("ml_flags", ctypes.c_int),
                ("ml_doc", ctypes.c_char_p)]


def supported() -> bool:
    """CPython on a 64-bit platform whose float objects hold their double at offset 16."""
    return (sys.implementation.name == "cpython" and ctypes.sizeof(ctypes.c_void_p) == 8
            and not hasattr(sys, "gettotalrefcount")  # a debug build's objects have a longer head
            and ctypes.c_double.from_address(id(1.5) + 16).value == 1.5)


def entry(kernel, shape: str):
    """A Python callable of ``kernel.n_in`` numbers calling the machine code of ``kernel`` (a
    ``runtime.llvm.NativeKernel``). ``shape`` says what it returns of the kernel's ``n_out``
    results: "one" (the first, a float), "all" (a tuple) or "value_and_grad" (``(out[0], (out[1],
    ...))``). The callable keeps the kernel, its own machine code and its method definition alive
    (they are its ``__self__``)."""
    from . import cache
    from . import llvm as native
    llvm, _ = native._llvm()
    _register_symbols(llvm)
    text = _ir(kernel.n_in, kernel.n_out, kernel.n_scratch, shape)
    # the same text in every process (no address in it): its object code is cached like a kernel's
    key = cache.entry_key("llvm entry", native.host_fingerprint(), text)
    obj = cache.load(key, KIND)
    with native._init_lock:  # (as the kernels' engines are made)
        engine = None
        if obj is not None:
            try:
                engine = _engine(llvm, native, obj)
            except Exception:  # a verified entry LLVM cannot load (another LLVM build): compiled anew
                engine = None
        if engine is None:
            module = llvm.parse_assembly(text)
            module.triple = llvm.get_process_triple()
            obj = native._new_target_machine(llvm).emit_object(module)
            cache.store(key, KIND, obj)
            engine = _engine(llvm, native, obj)
        ctypes.c_void_p.from_address(engine.get_global_value_address("target")).value = kernel.address
        method = _MethodDef(b"kernel", engine.get_function_address("entry"), METH_FASTCALL, None)
    new = ctypes.pythonapi.PyCFunction_NewEx
    new.argtypes, new.restype = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object], ctypes.py_object
    return new(ctypes.addressof(method), (kernel, engine, method), None)


def _engine(llvm, native, obj: bytes):
    """An execution engine of its own (it frees its machine code with it) holding ``obj``, linked."""
    empty = llvm.parse_assembly("")
    empty.triple = llvm.get_process_triple()
    engine = llvm.create_mcjit_compiler(empty, native._new_target_machine(llvm))
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    return engine


def _ir(n_in: int, n_out: int, n_scratch: int, shape: str) -> str:
    """The LLVM IR of ``entry``: read the numbers, call the kernel (at the address ``@target``
    holds), build the result."""
    on_stack = n_scratch <= STACK_SCRATCH
    lines = [f"define ptr @entry(ptr %self, ptr %args, i64 %nargs) {{",
             f"  %count = icmp eq i64 %nargs, {n_in}",
             "  br i1 %count, label %start, label %refuse",
             "start:",
             f"  %x = alloca [{max(n_in, 1)} x double]",
             f"  %out = alloca [{max(n_out, 1)} x double]"]
    if on_stack:
        lines.append(f"  %scratch = alloca [{max(n_scratch, 1)} x double]")
    else:
        lines.append(f"  %scratch = call ptr @PyMem_Malloc(i64 {8 * n_scratch})")
    lines.append("  br label %read0")
    for j in range(n_in):  # each argument into x[j], or refused
        lines += [f"read{j}:",
                  f"  %a{j}.at = getelementptr ptr, ptr %args, i64 {j}",
                  f"  %a{j} = load ptr, ptr %a{j}.at",
                  f"  %x{j} = getelementptr double, ptr %x, i64 {j}",
                  f"  %r{j} = call i32 @read(ptr %a{j}, ptr %x{j})",
                  f"  %bad{j} = icmp ne i32 %r{j}, 0",
                  f"  br i1 %bad{j}, label %free_refuse, label %read{j + 1}"]
    lines += [f"read{n_in}:",
              "  %kernel = load ptr, ptr @target",
              "  call void %kernel(ptr %x, ptr %out, i64 1, ptr %scratch)"]
    if not on_stack:
        lines.append("  call void @PyMem_Free(ptr %scratch)")
    unrolled = n_out <= UNROLLED_RESULTS
    lines += [f"  %o{k}.at = getelementptr double, ptr %out, i64 {k}\n  %o{k} = load double, ptr %o{k}.at"
              for k in range(n_out if unrolled else 1)]
    if shape == "one":
        lines.append("  %result = call ptr @PyFloat_FromDouble(double %o0)")
    elif shape == "all":
        lines += _tuple("%result", [f"%o{k}" for k in range(n_out)]) if unrolled else _tuple_loop("result", 0, n_out)
    else:
        lines += _tuple("%grad", [f"%o{k}" for k in range(1, n_out)]) if unrolled else _tuple_loop("grad", 1, n_out - 1)
        lines += ["  %value = call ptr @PyFloat_FromDouble(double %o0)",
                  "  %result = call ptr @PyTuple_New(i64 2)",
                  "  call i32 @PyTuple_SetItem(ptr %result, i64 0, ptr %value)",
                  "  call i32 @PyTuple_SetItem(ptr %result, i64 1, ptr %grad)"]
    lines += ["  ret ptr %result",
              "free_refuse:"]
    if not on_stack:
        lines.append("  call void @PyMem_Free(ptr %scratch)")
    lines += ["  br label %refuse",
              "refuse:  ; the caller's checked path says what was wrong",
              "  call void @PyErr_SetString(ptr @TypeError, ptr @message)",
              "  ret ptr null",
              "}"]
    return _symbols("\n".join(_HEAD + lines + _READ))


def _tuple(name: str, values: list[str]) -> list[str]:
    lines = [f"  {name} = call ptr @PyTuple_New(i64 {len(values)})"]
    for k, v in enumerate(values):
        item = f"{name}.{k}"
        lines += [f"  {item} = call ptr @PyFloat_FromDouble(double {v})",
                  f"  call i32 @PyTuple_SetItem(ptr {name}, i64 {k}, ptr {item})"]
    return lines


def _tuple_loop(name: str, first: int, count: int) -> list[str]:
    """``%name``: a tuple of ``out[first:first + count]`` as floats, built by a loop (its compile
    does not grow with ``count``)."""
    return [f"  %{name} = call ptr @PyTuple_New(i64 {count})",
            f"  %{name}.k = alloca i64",
            f"  store i64 0, ptr %{name}.k",
            f"  br label %{name}.head",
            f"{name}.head:",
            f"  %{name}.i = load i64, ptr %{name}.k",
            f"  %{name}.more = icmp slt i64 %{name}.i, {count}",
            f"  br i1 %{name}.more, label %{name}.body, label %{name}.done",
            f"{name}.body:",
            f"  %{name}.src = add i64 %{name}.i, {first}",
            f"  %{name}.at = getelementptr double, ptr %out, i64 %{name}.src",
            f"  %{name}.v = load double, ptr %{name}.at",
            f"  %{name}.item = call ptr @PyFloat_FromDouble(double %{name}.v)",
            f"  call i32 @PyTuple_SetItem(ptr %{name}, i64 %{name}.i, ptr %{name}.item)",
            f"  %{name}.next = add i64 %{name}.i, 1",
            f"  store i64 %{name}.next, ptr %{name}.k",
            f"  br label %{name}.head",
            f"{name}.done:"]


_HEAD = ['@message = private constant [35 x i8] c"not numbers, or not as many as are\\00"',
         "@target = global ptr null  ; the kernel's address, written when the entry is loaded", ""]

# The C API it calls and the objects it compares with, by names of this module's own (another
# library's engine may have registered a C API name for its own use), given their addresses in
# this process by ``_register_symbols``.
_API = ("PyLong_AsDouble", "PyErr_Occurred", "PyErr_Clear", "PyErr_SetString", "PyType_IsSubtype",
        "PyFloat_FromDouble", "PyTuple_New", "PyTuple_SetItem", "PyMem_Malloc", "PyMem_Free")
_OBJECTS = ("PyFloat_Type", "PyLong_Type", "TypeError")
_PREFIX = "adjcc_capi_"
_registered = False


def _symbols(text: str) -> str:
    """``text`` with each ``@<C API name>`` and ``@PyFloat_Type``/``@PyLong_Type``/``@TypeError``
    renamed with ``_PREFIX``, declared as external symbols."""
    import re
    names = _API + _OBJECTS
    text = re.sub(r"@(\w+)", lambda m: f"@{_PREFIX}{m.group(1)}" if m.group(1) in names else m.group(0), text)
    return text + "\n" + "\n".join(f"@{_PREFIX}{name} = external global i8" for name in names) + "\n"


def _register_symbols(llvm) -> None:
    """Give the names of ``_symbols`` their addresses in this process (once)."""
    global _registered
    if _registered:
        return
    values = {name: ctypes.cast(getattr(ctypes.pythonapi, name), ctypes.c_void_p).value for name in _API}
    values.update(PyFloat_Type=id(float), PyLong_Type=id(int), TypeError=id(TypeError))
    for name, address in values.items():
        llvm.add_symbol(_PREFIX + name, address)
    _registered = True


# read(o, slot): the double of a float (or a float subclass: its ob_fval is at offset 16 too) or of
# an int a double holds, stored at slot; 1 for anything else (bool is neither: refused)
_READ = ["",
         "define internal i32 @read(ptr %o, ptr %slot) {",
         "  %type.at = getelementptr i8, ptr %o, i64 8",
         "  %type = load ptr, ptr %type.at",
         "  %exact = icmp eq ptr %type, @PyFloat_Type",
         "  br i1 %exact, label %float, label %other",
         "float:",
         "  %value.at = getelementptr i8, ptr %o, i64 16",
         "  %value = load double, ptr %value.at",
         "  store double %value, ptr %slot",
         "  ret i32 0",
         "other:",
         "  %int = icmp eq ptr %type, @PyLong_Type",
         "  br i1 %int, label %long, label %subclass",
         "long:",
         "  %d = call double @PyLong_AsDouble(ptr %o)",
         "  %error = call ptr @PyErr_Occurred()",
         "  %failed = icmp ne ptr %error, null",
         "  br i1 %failed, label %overflow, label %long_ok",
         "long_ok:",
         "  store double %d, ptr %slot",
         "  ret i32 0",
         "overflow:",
         "  call void @PyErr_Clear()",
         "  ret i32 1",
         "subclass:",
         "  %sub = call i32 @PyType_IsSubtype(ptr %type, ptr @PyFloat_Type)",
         "  %is = icmp ne i32 %sub, 0",
         "  br i1 %is, label %float, label %refuse",
         "refuse:",
         "  ret i32 1",
         "}"]
