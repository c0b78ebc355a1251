"""IPOPT through its C interface, with compiled callbacks: no Python between IPOPT's steps.

Takes: the compiled functions of a nonlinear program (``optimize.problem``), its structures and
the IPOPT library installed (``library``: CasADi's, cyipopt-wheels', a system one). Gives: the
callbacks as C functions by one of two routes, ``native_llvm`` (the LLVM module that
``codegen.llvm_ipopt`` prints, compiled by llvmlite: no Numba) or ``callbacks`` (Numba
``cfunc``s that call the Numba kernels), both laid out by ``layout``; and a solve
(``driver.NativeCallbacks.solve``). ``compiled`` makes the kernels the Numba cfuncs call.
"""

from __future__ import annotations


def compiled(requests: list) -> list:
    """The Numba kernel of each ``(function, role)`` in ``requests``, compiled or loaded from the
    disk cache now. Functions of backend ``"auto"`` compile in child processes (the runtime's
    background compiles), all started before any is waited for: on two cores, two at once."""
    for fn, role in requests:
        if fn.requested_backend == "auto" and fn.backend == "numba":
            fn._tiers.compile_in_background(role)
    kernels = []
    for fn, role in requests:
        thread = fn._tiers.compiling.get(role)
        if thread is not None:
            thread.join()
        if fn._tiers.error is not None:
            raise fn._tiers.error
        kernel = fn._code.kernel(role)
        fn._tiers.install(role, kernel)  # the function's own calls run it too from now on
        kernels.append(kernel)
    return kernels
