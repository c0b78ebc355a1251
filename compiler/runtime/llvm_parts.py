"""A second core for a large llvm compile: a helper process compiles half of the parts.

llvmlite serialises every call into LLVM behind one lock, so threads cannot share a
compile; a process can. When a kernel has ``MIN_PARTS`` parts or more and another core
is idle (``threads.busy_elsewhere``), a child process (``python -I``: it imports llvmlite
alone, never the working directory) is started first, compiles every other part with a
target machine built the same way, and hands back the object files through a pipe, while
this process compiles the rest. Its start costs about 0.1 s; a 10^4-op gradient's 25 parts
take about 1.3 s on one core. If the child fails in any way, this process compiles its
parts too: the result never depends on it. ``COMPILER_LLVM_PROCESSES=1`` never starts
one, ``=2`` starts one whatever the load (tests).

>>> MIN_PARTS >= 2
True
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

MIN_PARTS = 6
# The child: read (triple, cpu, features, codegen level, pass level, texts) from stdin, write
# the objects' pickle to stdout. Its data is this process's own (no user text is executed).
_CHILD = """
import pickle, sys
import llvmlite.binding as llvm
triple, cpu, features, opt, level, texts = pickle.load(sys.stdin.buffer)
llvm.initialize_native_target()
llvm.initialize_native_asmprinter()
tm = llvm.Target.from_triple(triple).create_target_machine(cpu=cpu, features=features, opt=opt, jit=True)
objects = []
for text in texts:
    mod = llvm.parse_assembly(text)
    mod.triple = triple
    if level == -1:  # runtime.llvm.LIGHT: instcombine alone
        pm = llvm.create_new_module_pass_manager()
        pm.add_instruction_combine_pass()
        pm.run(mod, llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=0)))
    else:
        pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=level))
        pb.getModulePassManager().run(mod, pb)
    objects.append(tm.emit_object(mod))
pickle.dump(objects, sys.stdout.buffer)
"""


def start(texts: list[str], triple: str, cpu: str, features: str, opt: int, level: int):
    """A child compiling ``texts`` (a ``Popen``), or None where it would not pay or cannot start."""
    from . import threads
    setting = os.environ.get("COMPILER_LLVM_PROCESSES", "").strip()
    if len(texts) < MIN_PARTS // 2 or setting == "1":
        return None
    others = threads.busy_elsewhere()
    if setting != "2" and (os.cpu_count() or 1) - (others or 0.0) < 1.5:  # no idle core for it
        return None
    try:
        child = subprocess.Popen([sys.executable, "-I", "-c", _CHILD], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert child.stdin is not None
        child.stdin.write(pickle.dumps((triple, cpu, features, opt, level, texts)))
        child.stdin.close()
    except OSError:
        return None
    return child


def finish(child, count: int) -> list[bytes] | None:
    """The child's ``count`` objects, or None if it failed (then the caller compiles them)."""
    try:
        data = child.stdout.read()
        child.stdout.close()
        if child.wait() != 0:
            return None
        objects = pickle.loads(data)
    except Exception:  # a child that died, or wrote something else: compile here
        child.kill()
        return None
    if not isinstance(objects, list) or len(objects) != count or not all(isinstance(o, bytes) for o in objects):
        return None
    return objects
