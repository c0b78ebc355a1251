"""What a compiled function generated, to read or keep: its Python source, a standalone
module, its LLVM IR (a base class of ``CompiledFunction``, which gives ``module``, ``_code``,
``_tensor``, ``backend`` and ``wrt``).

>>> import compiler as cc
>>> x = cc.Symbol("x")
>>> "def value(x):" in cc.compile(x * x, [x], backend="python").source
True
"""

from __future__ import annotations

import os

from .. import codegen


class GeneratedSource:
    """The generated module of a compiled function and the ways to keep it."""

    @property
    def source(self) -> str:
        """The generated module: readable, self-contained Python (imports math, numpy, numba)."""
        return self.module.source

    def standalone_source(self, jit: bool = True) -> str:
        """``source`` as a module to keep: with ``jit``, Numba compiles its kernels when it is
        imported (the generated code of the python backend stays plain NumPy)."""
        return codegen.standalone(self.module, jit and self.module.kernels and not
                                  (self._tensor and self.backend == "python"))

    def save(self, path, *, jit: bool = True) -> str:
        """Write ``standalone_source(jit)`` to ``path`` (a ``.py`` file): a module that needs only
        math, NumPy and Numba, to import and call anywhere. Returns the path.

        >>> import compiler as cc, tempfile, os
        >>> x = cc.Symbol("x")
        >>> path = cc.compile(x * x, [x], backend="python").save(os.path.join(tempfile.mkdtemp(), "sq.py"))
        """
        path = os.fspath(path)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.standalone_source(jit))
        return path

    @property
    def llvm_ir(self) -> str:
        """The LLVM IR of the value and gradient (the value alone without ``wrt``) that batches
        run: the vector kernel and its loop over points where batches use vector math
        (``cc.simd_info()``), else the one-point kernel of the llvm target.

        >>> import compiler as cc
        >>> x = cc.Symbol("x")
        >>> "define void @kernel" in cc.compile(cc.exp(x), [x], backend="llvm").llvm_ir
        True
        """
        return self._code.llvm_ir("value_and_grad" if self.wrt else "value")
