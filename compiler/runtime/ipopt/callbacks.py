"""IPOPT's five callbacks as C functions (Numba ``cfunc``s) that call the compiled kernels directly.

Each callback's C signature is the one of ``IpStdCInterface.h`` (``Eval_F_CB``, ``Eval_Grad_F_CB``,
``Eval_G_CB``, ``Eval_Jac_G_CB``, ``Eval_H_CB``, and ``Intermediate_CB`` for the iteration count);
their source is generated per problem (the parameters' count and shapes, the colourings' sizes
are written in as literals) and reads everything that changes between solves from one context
array whose address IPOPT passes as ``user_data`` (``Slot``): the parameters bound once per
solve, the seeds and gather indices of the compressed derivatives, the structures, and the
statistics the callbacks keep (time, calls, non-finite results) in a float64 array.

>>> "def eval_f(n, x, new_x, obj_value, data):" in callback_source(Layout(3, 0, (), 0, 0, 0, 0, 1, 0))
True
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import sys
import time
import types as types_module

import numba
import numpy as np
from numba import types
from llvmlite import ir as llvmir
from numba.core import cgutils
from numba.core.ccallback import CFunc
from numba.core.sigutils import normalize_signature
from numba.core.extending import intrinsic

from .layout import (KEEP_NONFINITE, NAMES, STAT_CALLS, STAT_FIRST, STAT_NONFINITE,  # noqa: F401
                     STAT_NONFINITE_WHICH, STAT_SECONDS, STATS_SIZE, Layout, Slot)

_STATS, _NONFINITE_X = Slot.STATS, Slot.NONFINITE_X  # (Numba reads module globals)


@intrinsic
def _f64_pointer(typingctx, address):
    """The address (an int64 of the context) as a ``double*``."""
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))
    return types.CPointer(types.float64)(types.int64), codegen


@intrinsic
def _i64_pointer(typingctx, address):
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))
    return types.CPointer(types.int64)(types.int64), codegen


@intrinsic
def _is_null(typingctx, pointer):
    """Whether a pointer IPOPT passed is NULL (it asks for a structure with ``values`` NULL)."""
    def codegen(context, builder, signature, args):
        return builder.icmp_unsigned("==", builder.ptrtoint(args[0], context.get_value_type(types.intp)),
                                     context.get_constant(types.intp, 0))
    return types.boolean(pointer), codegen


def _register_clock() -> bool:
    """Give LLVM the address of libc's ``clock_gettime`` in this process (the callbacks name the
    symbol, so code loaded from the disk cache finds it here too); False where there is none."""
    try:
        address = ctypes.cast(ctypes.CDLL(None).clock_gettime, ctypes.c_void_p).value
    except (OSError, AttributeError, TypeError):
        return False
    import llvmlite.binding as llvm
    llvm.add_symbol("clock_gettime", address)
    return True


_HAS_CLOCK = _register_clock()
_MONOTONIC = getattr(time, "CLOCK_MONOTONIC", 1)


@intrinsic
def _clock(typingctx):
    """Seconds of the monotonic clock: ``clock_gettime`` into a ``struct timespec`` (two 64-bit
    fields on the 64-bit platforms wheels are made for)."""
    def codegen(context, builder, signature, args):
        i64, i32 = llvmir.IntType(64), llvmir.IntType(32)
        spec = cgutils.alloca_once(builder, llvmir.ArrayType(i64, 2))
        fnty = llvmir.FunctionType(i32, [i32, spec.type])
        clock = cgutils.get_or_insert_function(builder.module, fnty, "clock_gettime")
        builder.call(clock, [i32(_MONOTONIC), spec])
        zero = i32(0)
        sec = builder.load(builder.gep(spec, [zero, zero]))
        nsec = builder.load(builder.gep(spec, [zero, i32(1)]))
        double = llvmir.DoubleType()
        return builder.fadd(builder.sitofp(sec, double),
                            builder.fmul(builder.sitofp(nsec, double), double(1e-9)))
    return types.float64(), codegen


if _HAS_CLOCK:
    @numba.njit(cache=False)
    def _now(context):
        return _clock()
else:  # no clock: the callbacks' times read 0
    @numba.njit(cache=False)
    def _now(context):
        return 0.0


@numba.njit(cache=False)
def _record(context, which, start, finite, x):
    """Count one call of callback ``which``: its time, and the point if its result was not finite."""
    stats = numba.carray(_f64_pointer(context[_STATS]), (STATS_SIZE,))
    seconds = _now(context) - start
    stats[STAT_SECONDS + which] += seconds
    if stats[STAT_CALLS + which] == 0:
        stats[STAT_FIRST + which] = seconds
    stats[STAT_CALLS + which] += 1
    if not finite:
        k = int(stats[STAT_NONFINITE])
        if k < KEEP_NONFINITE:
            n = x.shape[0]
            kept = numba.carray(_f64_pointer(context[_NONFINITE_X]), (KEEP_NONFINITE * n,))
            kept[k * n:(k + 1) * n] = x
            stats[STAT_NONFINITE_WHICH + k] = which
        stats[STAT_NONFINITE] = k + 1


@numba.njit(cache=False)
def _all_finite(values):
    for v in values:
        if not math.isfinite(v):
            return False
    return True


@numba.njit(cache=False)
def _copy_structure(context, rows_slot, cols_slot, i_row, j_col, nnz):
    rows = numba.carray(_i64_pointer(context[rows_slot]), (nnz,))
    cols = numba.carray(_i64_pointer(context[cols_slot]), (nnz,))
    r, c = numba.carray(i_row, (nnz,)), numba.carray(j_col, (nnz,))
    for k in range(nnz):
        r[k], c[k] = rows[k], cols[k]


@numba.njit(cache=False)
def _gather(parts, index, values, nnz, length):
    """``values[k]`` = entry ``index[k]`` of the compressed result (its parts one after the other)."""
    for k in range(nnz):
        at = index[k]
        values[k] = parts[at // length][at % length]


def _params_code(shapes: tuple, indent: str = "    ") -> tuple[str, str]:
    """Lines that unpack the parameter buffer, and the argument list they make."""
    lines, names, at = [], [], 0
    size = sum(math.prod(s) for s in shapes)
    if shapes:
        lines.append(f"{indent}p = numba.carray(_f64_pointer(context[{Slot.PARAMS}]), ({size},))")
    for i, shape in enumerate(shapes):
        k = math.prod(shape)
        if not shape:
            lines.append(f"{indent}p{i} = p[{at}]")
        elif len(shape) == 1:
            lines.append(f"{indent}p{i} = p[{at}:{at + k}]")
        else:
            lines.append(f"{indent}p{i} = p[{at}:{at + k}].reshape({shape})")
        names.append(f"p{i}")
        at += k
    return "\n".join(lines), "".join(f", {name}" for name in names)


def _seeds_code(slot: int, colors: int, part: int, name: str) -> tuple[str, str]:
    if not colors:
        return "", ""
    line = f"    {name} = numba.carray(_f64_pointer(context[{slot}]), ({colors * part},))"
    return line, "".join(f", {name}[{c * part}:{(c + 1) * part}]" for c in range(colors))


def callback_source(layout: Layout) -> str:
    """The Python source of the callbacks of a problem of ``layout`` (compiled as cfuncs)."""
    n, m = layout.n, layout.m
    params, args = _params_code(layout.param_shapes)
    head = f"""\
    context = numba.carray(data, ({Slot.SIZE},))
    start = _now(context)
    xs = numba.carray(x, ({n},))
{params}"""
    jac_seeds, jac_args = _seeds_code(Slot.JAC_SEEDS, layout.jac_colors, layout.jac_seed, "seeds")
    hess_seeds, hess_args = _seeds_code(Slot.HESS_SEEDS, layout.hess_colors, n, "seeds")
    if layout.jac_colors:
        wrap = "(parts,)" if layout.jac_single else "parts"
        jac_values = f"""\
    parts = jacobian(xs{args}{jac_args})
    index = numba.carray(_i64_pointer(context[{Slot.JAC_INDEX}]), ({layout.jac_nnz},))
    _gather({wrap}, index, out, {layout.jac_nnz}, {layout.jac_part})"""
    else:
        jac_values = "    out[:] = 0.0"
    if layout.hess_colors:
        wrap = "(parts,)" if layout.hess_single else "parts"
        lam = f"numba.carray(lam, ({m},))" if m else "np.zeros(0)"
        hess_values = f"""\
    parts = hessian(xs{args}, obj_factor, {lam}{hess_args})
    index = numba.carray(_i64_pointer(context[{Slot.HESS_INDEX}]), ({layout.hess_nnz},))
    _gather({wrap}, index, out, {layout.hess_nnz}, {layout.hess_part})"""
    else:
        hess_values = "    out[:] = 0.0"
    return f"""\
def eval_f(n, x, new_x, obj_value, data):
{head}
    value = objective(xs{args})
    obj_value[0] = value
    _record(context, 0, start, math.isfinite(value), xs)
    return 1


def eval_grad_f(n, x, new_x, grad_f, data):
{head}
    out = numba.carray(grad_f, ({n},))
    out[:] = objective_and_gradient(xs{args})[1][0]
    _record(context, 1, start, _all_finite(out), xs)
    return 1


def eval_g(n, x, new_x, m, g, data):
{head}
    out = numba.carray(g, ({m},))
{"    out[:] = constraints(xs" + args + ")" if m else ""}
    _record(context, 2, start, _all_finite(out), xs)
    return 1


def eval_jac_g(n, x, new_x, m, nele_jac, i_row, j_col, values, data):
    if _is_null(values):
        context = numba.carray(data, ({Slot.SIZE},))
        _copy_structure(context, {Slot.JAC_ROWS}, {Slot.JAC_COLS}, i_row, j_col, min(nele_jac, {layout.jac_nnz}))
        return 1
{head}
    out = numba.carray(values, ({layout.jac_nnz},))
{jac_seeds}
{jac_values}
    _record(context, 3, start, _all_finite(out), xs)
    return 1


def eval_h(n, x, new_x, obj_factor, m, lam, new_lambda, nele_hess, i_row, j_col, values, data):
    if _is_null(values):
        context = numba.carray(data, ({Slot.SIZE},))
        _copy_structure(context, {Slot.HESS_ROWS}, {Slot.HESS_COLS}, i_row, j_col, min(nele_hess, {layout.hess_nnz}))
        return 1
{head}
    out = numba.carray(values, ({layout.hess_nnz},))
{hess_seeds}
{hess_values}
    _record(context, 4, start, _all_finite(out), xs)
    return 1


def intermediate(alg_mod, iter_count, obj_value, inf_pr, inf_du, mu, d_norm, regularization_size,
                 alpha_du, alpha_pr, ls_trials, data):
    context = numba.carray(data, ({Slot.SIZE},))
    context[{Slot.ITERATIONS}] = iter_count
    return 1
"""


_I, _D = types.intc, types.float64
_P, _IP, _DATA = types.CPointer(types.float64), types.CPointer(types.intc), types.CPointer(types.int64)
SIGNATURES = {  # IpStdCInterface.h: Index and Bool are int, Number is double, user_data a pointer
    "eval_f": _I(_I, _P, _I, _P, _DATA),
    "eval_grad_f": _I(_I, _P, _I, _P, _DATA),
    "eval_g": _I(_I, _P, _I, _I, _P, _DATA),
    "eval_jac_g": _I(_I, _P, _I, _I, _I, _IP, _IP, _P, _DATA),
    "eval_h": _I(_I, _P, _I, _D, _I, _P, _I, _I, _IP, _IP, _P, _DATA),
    "intermediate": _I(_I, _I, _D, _D, _D, _D, _D, _D, _D, _D, _I, _DATA),
}


with open(__file__, "rb") as _file:
    _THIS_SOURCE = hashlib.sha256(_file.read()).hexdigest()[:16]


def _identity(requests: dict) -> str:
    """What the compiled callbacks contain besides their own text: this module's helpers and each
    kernel's generated module (its file name is the hash of its source), written into the
    callbacks' source so that the disk cache never serves code of other kernels."""
    lines = [f"# callbacks module {_THIS_SOURCE}"]
    for name, (fn, role) in sorted(requests.items()):
        lines.append(f"# {name}: {os.path.basename(fn._code.shared().filename)} {fn._code.module.entries[role]}")
    return "\n".join(lines) + "\n"


def _kernels(requests: dict, compiled_now: bool) -> dict:
    """The Numba dispatchers of ``requests`` (name -> (function, role)): compiled (or loaded from
    the disk cache) when ``compiled_now``, else only defined (the callbacks' cached code holds
    their machine code already)."""
    if compiled_now:
        from . import compiled
        return dict(zip(requests, compiled(list(requests.values()))))
    return {name: fn._code.load(fn._code.module.entries[role])[fn._code.module.entries[role]]
            for name, (fn, role) in requests.items()}


class NotCached(Exception):
    """``compile_callbacks(..., cached_only=True)`` found no compiled callbacks to load."""


def compile_callbacks(layout: Layout, requests: dict, cached_only: bool = False) -> dict:
    """The cfuncs of ``layout``'s callbacks, by name, calling the kernels of ``requests`` (name ->
    ``(CompiledFunction, role)`` for ``objective``, ``objective_and_gradient``, ``constraints``,
    ``jacobian``, ``hessian``; those a problem has not are left out). Their machine code is kept
    in the disk cache (``numba_cache``) beside their source, whose name is the hash of the text:
    a problem of the same structure loads them, kernels included, without compiling anything.
    ``cached_only``: raise ``NotCached`` rather than compile."""
    from ..code import _source_file
    from ..numba_cache import VerifiedCache, has_index
    source = _identity(requests) + callback_source(layout)
    # (not kept when a kernel is not: one that calls a user's function, cc.extern, may change)
    keep = all(fn._code.shared().cache_folder is not None for fn, _ in requests.values())
    filename, cached = _source_file(source, keep)
    stem = os.path.splitext(os.path.basename(filename))[0]
    hit = cached and all(has_index(os.path.dirname(filename), stem, name) for name in SIGNATURES)
    if cached_only and not hit:
        raise NotCached(filename)
    kernels = _kernels(requests, compiled_now=not hit)
    # A module of its own, found by name: Numba rebuilds cached code's environment by importing it.
    name = "compiler_ipopt_callbacks_" + hashlib.sha256(source.encode()).hexdigest()[:16]
    module = sys.modules.get(name)
    if module is None:
        module = types_module.ModuleType(name)
        module.__file__ = filename
        module.__dict__.update({"numba": numba, "np": np, "math": math, "_f64_pointer": _f64_pointer,
                                "_i64_pointer": _i64_pointer, "_is_null": _is_null, "_now": _now,
                                "_record": _record, "_all_finite": _all_finite,
                                "_copy_structure": _copy_structure, "_gather": _gather,
                                **{k: v for k, v in kernels.items() if v is not None}})
        # generated from sizes and names, never from a user's text
        exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102
        sys.modules[name] = module
    namespace = module.__dict__
    made = {}
    for name, signature in SIGNATURES.items():
        function = CFunc(namespace[name], normalize_signature(signature), locals={}, options=dict(error_model="numpy"))
        if cached:
            function._cache = VerifiedCache(namespace[name], "numba")
        function.compile()
        made[name] = function
    return made
