"""Compiled functions of complex values: the targets that compute them, arguments, derivatives.

A graph holding a complex value anywhere (a ``complex128`` input, a constant ``1j``) is a
``ComplexFunction``, made by ``CompiledFunction`` itself (``CompiledFunction.__new__``). Its
kernels are the printed Python source, run by NumPy (``backend="python"``) or compiled by Numba
(``"numba"``, and ``"auto"``), both of which compute in complex128 natively; the llvm target and
the vm compute in double only and refuse by name. Batches of scalar functions (1-D arrays of
points) run on Numba's parallel loop of the module.

Derivatives (``docs/guide/complex.md``):

* ``grad`` of a real-valued output follows PyTorch's convention: the entry of a complex input
  z = x + iy is dL/dx + i dL/dy (so ``z -= lr * grad`` descends), of a real input dL/dx; the
  gradient of a complex-valued output is refused;
* ``jvp`` and ``jacobian`` give the complex derivative f'(z) of a holomorphic function (JAX's
  ``holomorphic=True``); ``conj``, ``abs``, ``real``, ``imag`` and ``angle`` of a complex value
  are refused there (``ad.reverse.holomorphic_jacobian``);
* Hessians are not offered.

>>> import compiler as cc
>>> z = cc.Symbol("z", dtype="complex128")
>>> fn = cc.compile(cc.abs(z) ** 2, [z], backend="python")
>>> fn.grad(1 + 2j)
((2+4j),)
"""

from __future__ import annotations

import builtins
from typing import Sequence

import numpy as np

from .. import codegen, ir
from ..ad import reverse
from ..errors import ArgumentError, ShapeError, UnsupportedError
from ..ir import Node, dtypes
from . import derivatives
from .function import CompiledFunction

WORKING_BACKENDS = "'auto', 'numba' or 'python'"


def has_complex(outputs: Sequence[Node], inputs: Sequence[Node]) -> bool:
    """Whether any input, or any value of the graph of ``outputs``, is complex."""
    if not dtypes.seen.complex:
        return False
    if any(dtypes.of_symbol(n) == dtypes.COMPLEX for n in inputs if n.op == "var"):
        return True
    return dtypes.COMPLEX in dtypes.infer(list(outputs)).values()


def convert(value, node: Node, position: int):
    """An argument for input ``node``: a complex128 or float64 number or array; a complex value
    for a real input is an ``ArgumentError`` naming it (its imaginary part would be lost)."""
    where = f"argument {node.name!r} (position {position + 1})"
    complex_input = dtypes.of_symbol(node) == dtypes.COMPLEX
    if isinstance(value, (str, bytes)) or value is None:
        raise ArgumentError(f"{where} must be numbers (shape {node.shape}), got {type(value).__name__}")
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists, objects NumPy cannot take
        raise ArgumentError(f"{where} must be numbers (shape {node.shape}), got {type(value).__name__}") from exc
    if array.dtype.kind == "c" and not complex_input:
        raise ArgumentError(f"{where} is complex ({array.dtype}), but input {node.name!r} is real "
                            f"({dtypes.of_symbol(node)}): its imaginary part would be lost; declare it "
                            "cc.Symbol(name, dtype='complex128') or pass its real part")
    if array.dtype.kind not in "biufc":
        raise ArgumentError(f"{where} must hold numbers, got an array of dtype {array.dtype}")
    return array.astype(np.complex128 if complex_input else np.float64, copy=False)


class ComplexFunction(CompiledFunction):
    """A compiled function whose graph holds complex values (see the module docstring)."""

    dtype: str  # the outputs' precision: "complex128", or "float64" for a real-valued function

    def __init__(self, outputs, inputs, wrt, backend: str = "auto", many: bool = False,
                 max_statements: int | None = codegen.DEFAULT_MAX_STATEMENTS, title: str = "",
                 progress: bool = True, single: bool = False, simd: bool = True):
        if backend in ("llvm", "vm"):
            raise UnsupportedError(f"backend {backend!r} computes in float64 only, and this function has complex "
                                   f"values (complex128); use backend {WORKING_BACKENDS} (NumPy and Numba compute "
                                   "in complex128)")
        self._complex_outputs = [dtypes.is_complex(o) for o in outputs]
        self._grad_refusal: UnsupportedError | None = None
        for i, c in enumerate(self._complex_outputs):
            if c and wrt:
                self._grad_refusal = reverse.complex_output_refusal(i, outputs[i])
                break
        # the reverse pass (a gradient) is built for real-valued outputs only
        super().__init__(outputs, inputs, [] if self._grad_refusal else wrt, "python", many, max_statements,
                         title, progress, single, simd=False)
        self.wrt, self._single = list(wrt), bool(single) and len(wrt) == 1
        self.requested_backend = backend
        self.backend = "python" if backend == "python" else "numba"
        self.dtype = dtypes.graph_precision(outputs)
        self._namespace: dict | None = None
        self._derived: dict = {}  # "jvp" / "jacobian" -> ComplexFunction
        self.value_and_grad = self._value_and_grad  # (instead of entries.bind's float64 closures)
        self.grad = self._grad

    # --- the kernels ---

    def _kernels(self) -> dict:
        """The namespace of the generated module, its kernels and batch drivers JIT-wrapped for numba."""
        with self._lock:
            if self._namespace is None:
                module = self._code.generate("numba" if self.backend == "numba" or not self._tensor else "numpy")
                namespace: dict = {"__name__": "compiler_generated_complex"}
                exec(builtins.compile(module.source, "<compiler-generated complex>", "exec"), namespace)  # noqa: S102
                if self.backend == "numba":
                    import numba
                    for name in module.kernels:
                        namespace[name] = numba.njit(error_model="numpy")(namespace[name])
                    for name in module.batch.values():
                        namespace[name] = numba.njit(error_model="numpy", parallel=True)(namespace[name])
                self._namespace, self._batch_names = namespace, dict(module.batch)
            return self._namespace

    def _arguments(self, args: tuple) -> tuple[list, int | None]:
        """The converted arguments and the batch length (None for one point)."""
        if len(args) != len(self.inputs):
            names = ", ".join(n.name for n in self.inputs)  # type: ignore[misc]
            raise ArgumentError(f"expected {len(self.inputs)} argument(s) ({names}), in this order; got {len(args)}")
        arrays = [convert(a, n, i) for i, (a, n) in enumerate(zip(args, self.inputs))]
        n = None
        for a, node in zip(arrays, self.inputs):
            if a.shape == node.shape:
                continue
            if self._tensor or a.ndim != 1:
                raise ShapeError(f"argument {node.name!r} must have shape {node.shape}"
                                 + (" (or be a 1-D array of points)" if not self._tensor else
                                    " (batches of complex tensor functions are not supported)")
                                 + f", got shape {a.shape}")
            if n not in (None, 1) and a.shape[0] not in (1, n):
                raise ShapeError(f"array arguments have incompatible lengths: {n} and {a.shape[0]} "
                                 f"(argument {node.name!r})")
            n = a.shape[0] if n in (None, 1) else n
        return arrays, n

    def _run(self, role: str, args: tuple) -> tuple[bool, object]:
        """Whether it is a batch, and the kernel's result at one point or the batch's arrays
        (values ``(n_out, n)``, and the gradients' ``[(n_out * n_wrt, n)]``)."""
        namespace = self._kernels()
        arrays, n = self._arguments(args)
        kernel = namespace[role]
        if n is None:
            return False, kernel(*[a if a.ndim else a[()] for a in arrays])
        columns = [np.ascontiguousarray(a.reshape(1) if a.ndim == 0 else a) for a in arrays]  # (a number: stride 0)
        strides = [0 if a.shape[0] == 1 else 1 for a in columns]
        out = np.empty((len(self.outputs), n), dtype=np.complex128 if self.dtype == dtypes.COMPLEX else np.float64)
        extra = []
        if role == "value_and_grad":
            complex_wrt = any(dtypes.of_symbol(w) == dtypes.COMPLEX for w in self.wrt)
            extra = [np.empty((len(self.outputs) * len(self.wrt), n), np.complex128 if complex_wrt else np.float64)]
        if self.backend == "numba":
            namespace[self._batch_names[role]](*columns, *strides, out, *extra)
        else:  # plain Python: the scalar kernel point by point (the python backend is the reference)
            for i in range(n):
                result = kernel(*[c[i * s] for c, s in zip(columns, strides)])
                if role == "value":
                    out[:, i] = result if len(self.outputs) > 1 else [result]
                else:
                    out[:, i] = result[0] if len(self.outputs) > 1 else [result[0]]
                    extra[0][:, i] = np.ravel(result[1])
        return True, (out, extra)

    def _typed(self, value, node: Node):
        """A result for ``node`` as the user gets it: complex for a complex value, else float."""
        if dtypes.is_complex(node):
            return complex(value) if np.ndim(value) == 0 else np.asarray(value, dtype=np.complex128)
        value = np.real(value)  # (a real row of a complex batch array)
        return float(value) if np.ndim(value) == 0 else np.array(value, dtype=np.float64)

    def __call__(self, *args, reduce=None):
        if reduce is not None:
            raise UnsupportedError("reduce= is not offered for complex functions; sum the values yourself")
        batch, result = self._run("value", args)
        if batch:
            out = [self._typed(row, o) for row, o in zip(result[0], self.outputs)]
        else:
            values = result if self._many else (result,)
            out = [self._typed(v, o) for v, o in zip(values, self.outputs)]
        return tuple(out) if self._many else out[0]

    # --- derivatives ---

    def _value_and_grad(self, *args, reduce=None):
        """``(value, gradient)`` of a real-valued output, in PyTorch's convention (see the module)."""
        if self._grad_refusal is not None:
            raise self._grad_refusal
        self._require_wrt()
        if self._many or reduce is not None:
            raise UnsupportedError("the gradient of a complex function is offered for one real-valued output, "
                                   "without reduce=")
        batch, result = self._run("value_and_grad", args)
        if batch:
            value, grads = self._typed(result[0][0], self.outputs[0]), list(result[1][0])
        else:
            value, grads = self._typed(result[0], self.outputs[0]), list(result[1])
        typed = tuple(self._typed(g, w) for g, w in zip(grads, self.wrt))
        return value, (typed[0] if self._single else typed)

    def _grad(self, *args, reduce=None):
        return self._value_and_grad(*args, reduce=reduce)[1]

    def _holomorphic(self) -> list[list[Node]]:
        if self._tensor:
            raise UnsupportedError("jvp and jacobian of complex functions are offered for scalar graphs "
                                   "(no tensors) for now")
        if not self.wrt:
            raise UnsupportedError("jvp and jacobian need wrt inputs: cc.compile(expr, inputs, wrt=[...])")
        return reverse.holomorphic_jacobian(self.outputs, self.wrt)

    def _derived_function(self, key: str, build) -> "ComplexFunction":
        with self._lock:
            if key not in self._derived:
                outputs, inputs = build()
                self._derived[key] = ComplexFunction(outputs, inputs, [], self.requested_backend, many=True,
                                                     title=key, progress=self._progress)
            return self._derived[key]

    def jacobian(self, *args):
        """The complex derivative of holomorphic outputs, ``(n_out, n_wrt)`` complex (a row for one
        output; the number itself for one output and a ``wrt`` given alone), at one point."""
        def build():
            rows = self._holomorphic()
            return [ir.apply("add", j, ir.constant(0j)) for row in rows for j in row], self.inputs
        fn = self._derived_function("jacobian", build)
        values = np.array(fn(*args), dtype=np.complex128)
        if values.ndim != 1:
            raise ShapeError("jacobian of a complex function is taken at one point (numbers, not arrays)")
        J = values.reshape(len(self.outputs), len(self.wrt))
        if self._single and not self._many:
            return complex(J[0, 0])
        return J if self._many else J[0]

    def jvp(self, *args, v):
        """``(value, J @ v)`` with J the complex derivative of holomorphic outputs (JAX's
        ``holomorphic=True``); one tangent per ``wrt`` input (the number itself for a ``wrt`` alone)."""
        if not isinstance(v, (tuple, list, np.ndarray)) and not self._single:
            raise ArgumentError(f"v must be a tuple of one tangent per wrt input ({len(self.wrt)}), "
                                f"got {type(v).__name__}")
        tangents = (v,) if self._single and not isinstance(v, (tuple, list)) else tuple(v)
        if len(tangents) != len(self.wrt):
            raise ValueError(f"v must have one tangent per wrt input ({len(self.wrt)}), got {len(tangents)}")

        def build():
            rows = self._holomorphic()
            symbols = derivatives._directions(self, "tangent", dtypes.COMPLEX)
            outs = [ir.apply("add", o, ir.constant(0j)) for o in self.outputs]
            for row in rows:
                total = ir.constant(0j)
                for j, t in zip(row, symbols):
                    total = total + j * t
                outs.append(total)
            return outs, self.inputs + symbols
        fn = self._derived_function("jvp", build)
        result = fn(*args, *tangents)
        n = len(self.outputs)
        values = tuple(self._typed(r, o) for r, o in zip(result[:n], self.outputs))
        tangent = tuple(result[n:])
        return (values, tangent) if self._many else (values[0], tangent[0])

    def _refuse(self, what: str):
        raise UnsupportedError(f"{what} of a function of complex values is not offered yet; grad (of a "
                               "real-valued output), jvp and jacobian (of holomorphic outputs) are")

    def hessian(self, *args):
        self._refuse("hessian")

    def hvp(self, *args, v):
        self._refuse("hvp")

    @property
    def grad_fn(self):
        self._refuse("grad_fn")

    def wait(self, timeout=None):
        """Make the kernels now: the module is printed and wrapped; Numba compiles each kernel on
        its first call, for the argument types it meets (the disk cache does not keep them)."""
        self._kernels()
        return self
