"""A one-point entry to a tensor kernel (``llvm_tensor``) as a CPython function: NumPy arrays in,
fresh arrays out, without ctypes or Python code per call.

``TensorKernel`` called from Python spent about 45 us of the MLP step's 270 us around its
225 us of machine code: the argument checks (``arguments.check_arguments``), a ``.ctypes``
object per array to find its numbers, the arrays of pointers, the output arrays and the
copies ``arguments.result`` makes. Here a few lines of LLVM IR make a ``METH_FASTCALL``
function (as ``native_entry`` does for scalar kernels) that, for each argument, checks in
place what the kernel needs (an exact ``numpy.ndarray`` of float64, C-contiguous and
aligned, of the input's shape; a float or an int for a number), allocates the outputs with
NumPy's own ``PyArray_New`` (fresh arrays every call: nothing a caller holds is written
again), calls the kernel with the GIL released and builds the result (floats for numbers).

Anything else — a batch, a list, float32 or a strided view, a subclass, the wrong count —
raises ``TypeError``, which the caller answers by its checked path (conversions, batches,
and the messages that explain a mistake).

The kernel's scratch memory is one buffer shared by the calls, taken with an atomic flag; a
call that finds it taken (another thread is in the kernel) allocates its own for that call.

>>> import numpy as np, compiler as cc
>>> x = cc.Tensor("x", (3,))
>>> fn = cc.compile(cc.sum(x * x), [x], backend="llvm")
>>> fn.value_and_grad(np.arange(3.0))
(5.0, (array([0., 2., 4.]),))
"""

from __future__ import annotations

import ctypes
import functools
import math
import re

import numpy as np

from . import native_entry

NPY_DOUBLE = 12                 # NumPy's type number of float64 (ndarraytypes.h)
C_CONTIGUOUS_ALIGNED = 0x101    # NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED
# PyArrayObject_fields (ndarraytypes.h): where each field of an array object is, in bytes
DATA, ND, DIMENSIONS, DESCR, FLAGS = 16, 24, 32, 56, 64
PYARRAY_TYPE, PYARRAY_NEW = 2, 93  # their places in NumPy's C API table (__multiarray_api.h)


@functools.cache
def supported() -> bool:
    """``native_entry.supported()``, and NumPy's array objects laid out as this module reads them."""
    if not native_entry.supported():
        return False
    a = np.ones((3, 5))[:, 1:]
    at = id(a)

    def field(offset, kind):
        return kind.from_address(at + offset).value
    try:
        return (field(DATA, ctypes.c_void_p) == a.ctypes.data and field(ND, ctypes.c_int) == 2
                and field(DESCR, ctypes.c_void_p) == id(a.dtype) == id(np.dtype(np.float64))
                and (field(FLAGS, ctypes.c_int) & C_CONTIGUOUS_ALIGNED) == 0x100  # aligned, not contiguous
                and ctypes.cast(field(DIMENSIONS, ctypes.c_void_p), ctypes.POINTER(ctypes.c_int64))[1] == 4
                and _api(PYARRAY_TYPE) == id(np.ndarray))
    except Exception:  # another NumPy: the checked path
        return False


@functools.cache
def _api(index: int) -> int:
    """Entry ``index`` of NumPy's C API table (what ``import_array()`` gives a C extension)."""
    import importlib
    try:
        module = importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:  # NumPy 1.x
        module = importlib.import_module("numpy.core._multiarray_umath")
    capsule = module._ARRAY_API
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    table = get(capsule, None)
    return ctypes.cast(table, ctypes.POINTER(ctypes.c_void_p))[index]


def entry(address: int, in_shapes: list, out_shapes: list, n_scratch: int, spec, precision: str = "float64"):
    """A Python callable of ``len(in_shapes)`` arguments calling the tensor kernel at ``address``
    (``kernel(ptr *in, ptr *out, ptr scratch)``, of ``precision``). ``spec`` is the result's structure:
    an output's index, or a tuple of specs (``(0, (1, 2))``: the value and a 2-tuple gradient).

    A float32 kernel takes float32 arrays; it writes its outputs after its own scratch, and they
    are widened into the float64 arrays the caller gets (as the checked path gives them)."""
    from . import llvm as native
    llvm, _ = native._llvm()
    size = 4 if precision == "float32" else 8
    kernel_bytes = -(-size * n_scratch // 64) * 64
    narrow = sum(math.prod(s) for s in out_shapes if s) if size == 4 else 0  # float32 outputs, widened after
    scratch = np.empty(max(1, (kernel_bytes + 4 * narrow) // 8 + 1))
    busy = np.zeros(1, np.int32)  # 1 while a call uses ``scratch``
    text = _ir(address, in_shapes, out_shapes, scratch.ctypes.data, 8 * scratch.size, busy.ctypes.data, spec,
               kernel_bytes if size == 4 else None)
    with native._init_lock:
        module = llvm.parse_assembly(text)
        module.triple = llvm.get_process_triple()
        engine = llvm.create_mcjit_compiler(module, native._new_target_machine(llvm))
        engine.finalize_object()
        method = native_entry._MethodDef(b"kernel", engine.get_function_address("entry"),
                                         native_entry.METH_FASTCALL, None)
    new = ctypes.pythonapi.PyCFunction_NewEx
    new.argtypes, new.restype = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object], ctypes.py_object
    return new(ctypes.addressof(method), (engine, method, scratch, busy), None)


def _ir(address: int, in_shapes: list, out_shapes: list, scratch: int, scratch_bytes: int, busy: int,
        spec, narrow_at: int | None = None) -> str:
    """The LLVM IR of ``entry``; ``narrow_at``: a float32 kernel, its outputs at this byte of scratch."""
    n_in, n_out = len(in_shapes), len(out_shapes)
    single = narrow_at is not None
    lines = [f"define ptr @entry(ptr %self, ptr %args, i64 %nargs) {{",
             f"  %count = icmp eq i64 %nargs, {n_in}",
             "  br i1 %count, label %start, label %refuse",
             "start:",
             f"  %in = alloca [{max(n_in, 1)} x ptr]",
             f"  %out = alloca [{max(n_out, 1)} x ptr]",
             f"  %x = alloca [{max(n_in, 1)} x double]",
             f"  %xs = alloca [{max(n_in, 1)} x float]",
             f"  %numbers = alloca [{max(n_out, 1)} x {'float' if single else 'double'}]",
             "  br label %arg0"]
    for j, shape in enumerate(in_shapes):
        lines += [f"arg{j}:",
                  f"  %a{j}.at = getelementptr ptr, ptr %args, i64 {j}",
                  f"  %a{j} = load ptr, ptr %a{j}.at",
                  f"  %in{j} = getelementptr ptr, ptr %in, i64 {j}"]
        if not shape:  # a number: read into x[j] (``native_entry``'s rules), its address into in[j]
            lines += [f"  %x{j} = getelementptr double, ptr %x, i64 {j}",
                      f"  %r{j} = call i32 @read(ptr %a{j}, ptr %x{j})",
                      f"  %bad{j} = icmp ne i32 %r{j}, 0",
                      f"  br i1 %bad{j}, label %refuse, label %arg{j}.read",
                      f"arg{j}.read:"]
            if single:  # (rounded to float32, as the checked path converts it)
                lines += [f"  %x{j}.d = load double, ptr %x{j}",
                          f"  %x{j}.f = fptrunc double %x{j}.d to float",
                          f"  %xs{j} = getelementptr float, ptr %xs, i64 {j}",
                          f"  store float %x{j}.f, ptr %xs{j}",
                          f"  store ptr %xs{j}, ptr %in{j}"]
            else:
                lines.append(f"  store ptr %x{j}, ptr %in{j}")
            lines.append(f"  br label %arg{j + 1}")
            continue
        lines += [f"  %a{j}.type.at = getelementptr i8, ptr %a{j}, i64 8",
                  f"  %a{j}.type = load ptr, ptr %a{j}.type.at",
                  f"  %a{j}.is = icmp eq ptr %a{j}.type, @PyArray_Type",
                  f"  br i1 %a{j}.is, label %arg{j}.head, label %refuse",
                  f"arg{j}.head:"]
        for name, offset, kind in (("nd", ND, "i32"), ("descr", DESCR, "ptr"), ("flags", FLAGS, "i32")):
            lines += [f"  %a{j}.{name}.at = getelementptr i8, ptr %a{j}, i64 {offset}",
                      f"  %a{j}.{name} = load {kind}, ptr %a{j}.{name}.at"]
        lines += [f"  %a{j}.ok1 = icmp eq i32 %a{j}.nd, {len(shape)}",
                  f"  %a{j}.ok2 = icmp eq ptr %a{j}.descr, @{'float32' if single else 'float64'}",
                  f"  %a{j}.bits = and i32 %a{j}.flags, {C_CONTIGUOUS_ALIGNED}",
                  f"  %a{j}.ok3 = icmp eq i32 %a{j}.bits, {C_CONTIGUOUS_ALIGNED}",
                  f"  %a{j}.ok12 = and i1 %a{j}.ok1, %a{j}.ok2",
                  f"  %a{j}.ok = and i1 %a{j}.ok12, %a{j}.ok3",
                  f"  br i1 %a{j}.ok, label %arg{j}.dims, label %refuse",
                  f"arg{j}.dims:",  # (the dimensions are read once the count of them is known)
                  f"  %a{j}.dims.at = getelementptr i8, ptr %a{j}, i64 {DIMENSIONS}",
                  f"  %a{j}.dims = load ptr, ptr %a{j}.dims.at"]
        ok = "true"
        for d, size in enumerate(shape):
            lines += [f"  %a{j}.d{d}.at = getelementptr i64, ptr %a{j}.dims, i64 {d}",
                      f"  %a{j}.d{d} = load i64, ptr %a{j}.d{d}.at",
                      f"  %a{j}.e{d} = icmp eq i64 %a{j}.d{d}, {size}",
                      f"  %a{j}.all{d} = and i1 {ok}, %a{j}.e{d}"]
            ok = f"%a{j}.all{d}"
        lines += [f"  %a{j}.data.at = getelementptr i8, ptr %a{j}, i64 {DATA}",
                  f"  %a{j}.data = load ptr, ptr %a{j}.data.at",
                  f"  store ptr %a{j}.data, ptr %in{j}",
                  f"  br i1 {ok}, label %arg{j + 1}, label %refuse"]
    lines.append(f"arg{n_in}:")
    dims = []  # each array output's shape, a constant array of i64
    made: list[str] = []  # the arrays made so far (released if a later one fails)
    for k, shape in enumerate(out_shapes):
        lines.append(f"  %out{k} = getelementptr ptr, ptr %out, i64 {k}")
        if not shape:
            lines += [f"  %n{k} = getelementptr {'float' if single else 'double'}, ptr %numbers, i64 {k}",
                      f"  store ptr %n{k}, ptr %out{k}"]
            continue
        dims.append(f"@dims{k} = private constant [{len(shape)} x i64] [{', '.join(f'i64 {s}' for s in shape)}]")
        lines += [f"  %o{k} = call ptr @PyArray_New(ptr @PyArray_Type, i32 {len(shape)}, ptr @dims{k}, "
                  f"i32 {NPY_DOUBLE}, ptr null, ptr null, i32 0, i32 0, ptr null)",
                  f"  %o{k}.null = icmp eq ptr %o{k}, null",
                  f"  br i1 %o{k}.null, label %fail{k}, label %made{k}",
                  f"fail{k}:  ; NumPy has set the error (MemoryError): the arrays made before go"]
        lines += [f"  call void @Py_DecRef(ptr {m})" for m in made]
        lines += ["  ret ptr null",
                  f"made{k}:",
                  f"  %o{k}.data.at = getelementptr i8, ptr %o{k}, i64 {DATA}",
                  f"  %o{k}.data = load ptr, ptr %o{k}.data.at",
                  f"  store ptr %o{k}.data, ptr %out{k}"]
        made.append(f"%o{k}")
    widen = []  # a float32 kernel: its array outputs in scratch, then widened into the arrays
    at = narrow_at or 0
    for k, shape in enumerate(out_shapes):
        if single and shape:
            widen.append((k, at, math.prod(shape)))
            at += 4 * math.prod(shape)
    lines += ["  br label %acquire",
              "acquire:",
              "  %won = cmpxchg ptr @busy, i32 0, i32 1 acquire monotonic",
              "  %shared = extractvalue { i32, i1 } %won, 1",
              "  br i1 %shared, label %run, label %own",
              "own:  ; another thread is in the kernel: scratch of this call's own",
              f"  %mine = call ptr @PyMem_RawMalloc(i64 {scratch_bytes})",
              "  %none = icmp eq ptr %mine, null",
              "  br i1 %none, label %no_memory, label %run",
              "no_memory:"]
    lines += [f"  call void @Py_DecRef(ptr {m})" for m in made]
    lines += ["  %e = call ptr @PyErr_NoMemory()",
              "  ret ptr null",
              "run:",
              "  %scratch = phi ptr [ @scratch, %acquire ], [ %mine, %own ]",
              "  %state = call ptr @PyEval_SaveThread()"]
    for k, at, _ in widen:
        lines += [f"  %w{k} = getelementptr i8, ptr %scratch, i64 {at}", f"  store ptr %w{k}, ptr %out{k}"]
    lines.append(f"  call void inttoptr (i64 {address} to ptr)(ptr %in, ptr %out, ptr %scratch)")
    before = "run"
    for k, _, count in widen:
        lines += _widen(f"w{k}", f"%w{k}", f"%o{k}.data", count, before)
        before = f"w{k}.done"
    lines += ["  call void @PyEval_RestoreThread(ptr %state)",
              "  br i1 %shared, label %give_back, label %free",
              "free:",
              "  call void @PyMem_RawFree(ptr %scratch)",
              "  br label %box",
              "give_back:",
              "  store atomic i32 0, ptr @busy release, align 4",
              "  br label %box",
              "box:"]
    result = _build(spec, out_shapes, lines, single)
    lines += [f"  ret ptr {result}",
              "refuse:  ; the caller's checked path says what was wrong",
              "  call void @PyErr_SetString(ptr @TypeError, ptr @message)",
              "  ret ptr null",
              "}"]
    text = "\n".join(native_entry._HEAD + dims + lines + native_entry._READ)
    return _addresses(text, scratch, busy)


def _widen(name: str, source: str, target: str, count: int, before: str) -> list[str]:
    """A loop storing the ``count`` floats at ``source`` as doubles at ``target`` (entered from
    the block ``before``)."""
    return [f"  br label %{name}.head",
            f"{name}.head:",
            f"  %{name}.i = phi i64 [ 0, %{before} ], [ %{name}.next, %{name}.body ]",
            f"  %{name}.more = icmp slt i64 %{name}.i, {count}",
            f"  br i1 %{name}.more, label %{name}.body, label %{name}.done",
            f"{name}.body:",
            f"  %{name}.from = getelementptr float, ptr {source}, i64 %{name}.i",
            f"  %{name}.f = load float, ptr %{name}.from",
            f"  %{name}.d = fpext float %{name}.f to double",
            f"  %{name}.to = getelementptr double, ptr {target}, i64 %{name}.i",
            f"  store double %{name}.d, ptr %{name}.to",
            f"  %{name}.next = add nuw nsw i64 %{name}.i, 1",
            f"  br label %{name}.head",
            f"{name}.done:"]


def _build(spec, out_shapes: list, lines: list, single: bool = False, name: str = "%result") -> str:
    """Append the lines that make ``spec``'s Python object; its SSA name."""
    if isinstance(spec, int):
        if out_shapes[spec]:
            return f"%o{spec}"  # (a new reference, which the tuple takes)
        if single:
            lines += [f"  {name}.f = load float, ptr %n{spec}", f"  {name}.v = fpext float {name}.f to double"]
        else:
            lines.append(f"  {name}.v = load double, ptr %n{spec}")
        lines.append(f"  {name} = call ptr @PyFloat_FromDouble(double {name}.v)")
        return name
    lines.append(f"  {name} = call ptr @PyTuple_New(i64 {len(spec)})")
    for k, item in enumerate(spec):
        value = _build(item, out_shapes, lines, single, f"{name}.{k}")
        lines.append(f"  call i32 @PyTuple_SetItem(ptr {name}, i64 {k}, ptr {value})")
    return name


_API = native_entry._API + ("PyEval_SaveThread", "PyEval_RestoreThread", "PyMem_RawMalloc", "PyMem_RawFree",
                            "Py_DecRef", "PyErr_NoMemory")


def _addresses(text: str, scratch: int, busy: int) -> str:
    """``text`` with the C API, NumPy's, the objects compared with and this entry's buffers by address."""
    values = {name: ctypes.cast(getattr(ctypes.pythonapi, name), ctypes.c_void_p).value for name in _API}
    values.update(PyFloat_Type=id(float), PyLong_Type=id(int), TypeError=id(TypeError),
                  PyArray_Type=_api(PYARRAY_TYPE), PyArray_New=_api(PYARRAY_NEW), float64=id(np.dtype(np.float64)), float32=id(np.dtype(np.float32)),
                  scratch=scratch, busy=busy)
    return re.sub(r"@(\w+)", lambda m: f"inttoptr (i64 {values[m.group(1)]} to ptr)" if m.group(1) in values
                  else m.group(0), text)
