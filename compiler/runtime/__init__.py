"""The runtime: compiled functions, their tiers and targets, batches and the disk cache.

Takes: expressions and their inputs (``compile``), IR derivatives (``ad``) and
generated code (``codegen``). Gives: ``CompiledFunction`` objects that run it.
This is the only stage that starts Numba, llvmlite or processes.

``compile()`` takes expressions and their inputs, runs the reverse pass and
the code generator, and returns a ``CompiledFunction``. Machine code is made
on the first call of each entry point (value, gradient, batch), once, by one
of the targets of the same schedule:

* ``"numba"``: the generated Python source, JIT-compiled by Numba (lowest
  call overhead; Numba's compile grows to minutes on big graphs);
* ``"llvm"``: the schedule printed as LLVM IR and compiled by llvmlite in
  parts (seconds for 10,000 ops);
* ``"vm"``: the schedule assembled into an instruction array for an
  interpreter compiled once: no per-graph compile at all;
* ``"python"``: the generated source, not compiled (debugging, baseline);
* ``"auto"`` (default): tiered. Scalar calls are answered at once by a
  Python interpreter of the instruction array (``interpreter.run_python``: no
  compile at all), tensor calls by the NumPy dialect of the generated code; once the
  calls have spent ``COMPILE_AFTER_SECONDS`` interpreted, the compiled code
  is made in the background (``"llvm"`` for scalars, ``"numba"`` for tensors
  and loops) and takes over when ready: by a child
  process that stores it in the disk cache, so that the calls meanwhile keep
  the GIL (a thread compiling here would slow them several times), then
  loaded; in a thread when there is no usable cache.
  Batches wait for the compiled code; ``fn.wait()`` compiles now and blocks.

Modules: ``function`` (compile, CompiledFunction), ``entries`` (its per-call
closures), ``tiers`` (what answers
each call; background compiles), ``code`` (the generated module, kernels and
batch drivers), ``flat`` (the llvm and vm targets), ``llvm`` (llvmlite),
``interpreter`` (the instruction-array interpreters), ``simd`` (whether batches
run on vector units: glibc's libmvec and the CPU's width), ``native_batch`` (the
batch loops of machine code, scalar and vector),
``arguments`` and ``batch`` (checked calls), ``cache``, ``cache_files`` and
``numba_cache`` (the disk cache: entries, its directory, Numba's files in it,
verified), ``worker`` (the child process of a background compile), ``forks``
(``os.fork`` while a thread compiles), ``derivatives`` (jvp, jacobian, hvp, the
colour-compressed sparse derivatives), ``scipy_adapter`` (``fn.scipy``: one flat
vector for ``scipy.optimize``), ``reduce`` and ``dask_batch`` (``reduce=`` in
bounded memory; Dask arrays in and out), ``per_process`` (one build of a
function per process, however many tasks bring it).

Compiled code is kept in the on-disk cache (``runtime.cache``), keyed by a
hash of what was generated, so a second process never compiles it again.
"""

from .function import BACKENDS, HESSIAN_MAX_SIZE, CompiledFunction, compile  # noqa: F401
