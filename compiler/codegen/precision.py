"""Precisions in the printed Python source (both dialects): float32 where the graph says so.

The source computes in the precision ``ir.dtypes`` infers for each node, and lets the
target's own arithmetic do the rest: NumPy 2 and Numba keep ``float32 * float32`` in
float32 and promote ``float32 * float64`` to float64, as ``ir.dtypes.promote`` does. Three
things need saying in the source, and only in a function with a float32 input:

* an input arrives as float64 (the kernels' signatures, the batch arrays) and is rounded
  once, at the top of the kernel: ``x = np.float32(x)``;
* a constant where it meets a float32 value is spelled ``np.float32(1.5)`` (Numba would
  read the literal ``1.5`` as a float64 and promote the product);
* a call whose result would be a double (``math.exp`` in plain Python, a SciPy special
  function, which SciPy offers in double only) is rounded: ``np.float32(math.exp(x))``.
  Numba's ``math.exp`` of a float32 is already float32 (``expf``): rounding it is free.

>>> import compiler as cc
>>> x = cc.Symbol("x", dtype="float32")
>>> "np.float32(1.5)" in cc.compile(x * 1.5, [x], backend="python").source
True
"""

from __future__ import annotations

import re

from .. import ir
from ..ir import Node, dtypes

_CALL = re.compile(r"[\w.]\(")  # a fmt that calls a function (``math.exp({0})``), not an operator


class PrecisionPrinting:
    """The printer's part that spells precisions; a graph of float64 only prints as before."""

    _precisions: dict | None = None
    narrow_inputs = False  # whether an input is float32 (else the source is exactly as before)
    _inputs_precision: str | None = None

    def precision(self, node: Node) -> str | None:
        """``node``'s precision (None: a constant). A result of constants alone that is not
        folded (``where(x > 0, 1.0, 0.0)`` of the reverse pass) has the inputs' precision."""
        if self._precisions is None:
            if not self.narrow_inputs:  # (set by the Printer) float64 alone: nothing to infer
                return None if node.op == "const" else dtypes.DEFAULT
            self._precisions = {}
        known = self._precisions
        if node.id not in known:
            dtypes.infer([node], known)
        value = known[node.id]
        if value is None and node.op != "const":
            return self._inputs_precision
        return value

    def meets(self, node: Node) -> str | None:
        """The precision in which ``node``'s operands meet (a comparison's too)."""
        return dtypes.promote(*(self.precision(a) for a in node.args if a.dtype != "bool"))

    def narrow(self, node: Node) -> bool:
        """Whether ``node``'s operands meet in float32."""
        return self.meets(node) == "float32"

    def typed_atoms(self, node: Node, atoms: list) -> list:
        """``atoms`` with the constants among ``node``'s operands spelled in its precision."""
        if not self.narrow(node):
            return atoms
        return [self.const32(a) if a.op == "const" and a.dtype != "bool" else t
                for t, a in zip(atoms, node.args)]

    def const32(self, a: Node) -> str:
        """Constant ``a`` rounded to float32: ``np.float32(1.5)``, or a float32 module constant."""
        if a.shape:
            text = ir.format_const(a.value).replace("dtype=np.float64", "dtype=np.float32")
            return self.constant((a.id, "float32"), text, "C")  # type: ignore[attr-defined]
        return f"np.float32({ir.format_const(a.value).strip('()')})"

    def rounded(self, node: Node, text: str, fmt: str, element: bool = False) -> str:
        """``text`` (a scalar, or one ``element`` of an array in a loop) rounded to float32
        where it is a call that may return a double."""
        if node.dtype == "float" and (element or not node.shape) and self.precision(node) == "float32" \
                and _CALL.search(fmt):
            return f"np.float32({text})"
        return text

    def float_name(self, node: Node) -> str:
        """NumPy's name of ``node``'s number type (``float64`` unless float32 or complex128)."""
        p = self.precision(node)
        return p if p in ("float32", dtypes.COMPLEX) else "float64"

    def alloc(self, node: Node) -> str:
        """The ``dtype=`` argument of an array allocated for ``node`` (none for float64)."""
        p = self.precision(node)
        return f", dtype=np.{p}" if p in ("float32", dtypes.COMPLEX) else ""

    def zero(self, node: Node, text: str = "0.0") -> str:
        """A start value (of a sum, a running sum) in ``node``'s precision."""
        p = self.precision(node)
        return f"np.float32({text})" if p == "float32" else f"complex({text})" if p == dtypes.COMPLEX else text

    def same_precision(self, node: Node, *atoms: str) -> list[str]:
        """Operands of a product in one precision (Numba's ``np.dot`` takes no mix): narrower
        ones raised to float64 or complex128 where they meet one, as NumPy would."""
        meets = self.meets(node)
        if meets not in ("float64", dtypes.COMPLEX):
            return list(atoms)
        return [f"{t}.astype(np.{meets})" if self.precision(a) not in (meets, None) else t
                for t, a in zip(atoms, node.args)]

    def entry_casts(self, params) -> list[str]:
        """Lines that round the float32 inputs among ``params`` once, on entry."""
        self._inputs_precision = dtypes.promote(*(dtypes.of_symbol(p) for p in params if p.op == "var"))
        lines = []
        for p in params:
            if p.op == "var" and dtypes.of_symbol(p) == "float32":
                name = self.atom(p)  # type: ignore[attr-defined]
                lines.append(f"    {name} = {name}.astype(np.float32)" if p.shape
                             else f"    {name} = np.float32({name})")
        if lines:
            lines.insert(0, "    # float32 inputs: rounded once, here")
        return lines
