"""A second core for a large llvm compile: a helper process takes parts from the end while
this process takes them from the start, until they meet.

llvmlite serialises every call into LLVM behind one lock, so threads cannot share a
compile; a process can. When a kernel has ``MIN_PARTS`` parts or more and another core
is idle (``threads.busy_elsewhere``), a child process (``python -I``: it imports llvmlite
alone, never the working directory) is started, builds a target machine the same way, and
compiles the parts from the last one down, announcing each part before it starts it
(``claim``) and sending each object file as soon as it is made. This process compiles from
the first part up, stops at the first part the child has claimed, takes the rest from it,
and then stops it. The split follows the two processes' actual speed: a child that starts
late, or runs on a core another program also wants, takes fewer parts (a fixed half made the
slower process everyone's wait). Its start costs about 0.07 s of the child's time; the data
is written by a thread, so this process compiles meanwhile, and ``flat.native_target`` starts the
child before it prints the IR, so that its start overlaps that. If the child fails in any way,
this process compiles whatever it has not received: the result never depends on it (and the
object files are the same bytes either way). ``COMPILER_LLVM_PROCESSES=1`` never starts one,
``=2`` starts one whatever the load (tests).

>>> MIN_PARTS >= 2
True
"""

from __future__ import annotations

import inspect
import os
import pickle
import struct
import subprocess
import sys
import threading
import warnings

from .llvm import LIGHT, optimize

MIN_PARTS = 6
_warned = False  # a failed child was reported (once per process)
# The child: read (triple, cpu, features, codegen level, pass level, texts) from stdin; for the
# parts from the last one down, write b"C" + index (a claim), then b"O" + index + size + the
# object file. Its data is this process's own (no user text is executed); its passes are
# ``runtime.llvm.optimize``'s own source, so the two processes make the same object code.
_CHILD = f"""
import pickle, struct, sys
import llvmlite.binding as llvm
LIGHT = {LIGHT}
{inspect.getsource(optimize)}
llvm.initialize_native_target()
llvm.initialize_native_asmprinter()
triple, cpu, features, opt, level, texts = pickle.load(sys.stdin.buffer)
tm = llvm.Target.from_triple(triple).create_target_machine(cpu=cpu, features=features, opt=opt, jit=True)
out = sys.stdout.buffer
for k in range(len(texts) - 1, -1, -1):
    out.write(b"C" + struct.pack("<I", k))
    out.flush()
    mod = llvm.parse_assembly(texts[k])
    mod.triple = triple
    optimize(llvm, tm, mod, level)
    obj = tm.emit_object(mod)
    out.write(b"O" + struct.pack("<IQ", k, len(obj)) + obj)
    out.flush()
"""


class Helper:
    """A running child compiling the parts of one kernel from the end (see the module's text)."""

    def __init__(self, child: subprocess.Popen):
        self.child = child
        self.claimed: set[int] = set()      # parts the child has started
        self.objects: dict[int, bytes] = {}  # parts the child has finished
        self.ended = False                   # its output has ended (finished, failed or stopped)
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True, name="compiler: llvm helper output").start()

    def send(self, texts: list[str], triple: str, cpu: str, features: str, opt: int, level: int) -> None:
        """Give the child its work (written by a thread: this process compiles meanwhile)."""
        payload = pickle.dumps((triple, cpu, features, opt, level, texts))
        threading.Thread(target=self._write, args=(payload,), daemon=True, name="compiler: llvm helper input").start()

    def _write(self, payload: bytes) -> None:
        try:
            assert self.child.stdin is not None
            self.child.stdin.write(payload)
            self.child.stdin.close()
        except (OSError, ValueError):  # the child died, or was stopped: its parts are compiled here
            pass

    def _read(self) -> None:
        stream = self.child.stdout
        assert stream is not None
        try:
            while True:
                tag = stream.read(1)
                if tag == b"C":
                    (k,) = struct.unpack("<I", _exactly(stream, 4))
                    with self._changed:
                        self.claimed.add(k)
                elif tag == b"O":
                    k, size = struct.unpack("<IQ", _exactly(stream, 12))
                    obj = _exactly(stream, size)
                    with self._changed:
                        self.objects[k] = obj
                        self._changed.notify_all()
                else:  # the end, or something it should not have written: what came so far counts
                    break
        except (OSError, ValueError, struct.error):
            pass
        with self._changed:
            self.ended = True
            self._changed.notify_all()

    def has_claimed(self, k: int) -> bool:
        """Whether the child has started (or finished) part ``k``."""
        with self._changed:
            return k in self.claimed

    def result(self, k: int) -> bytes | None:
        """The child's object file of part ``k`` once it is made, or None if it never will be
        (the child ended without it: then this process compiles it)."""
        with self._changed:
            while k not in self.objects and not self.ended:
                self._changed.wait()
            return self.objects.get(k)

    def report_failure(self) -> None:
        """Say (once per process) that the child ended without parts it had to make: this
        process made them, so nothing but time is lost."""
        global _warned
        if _warned:
            return
        _warned = True
        try:
            code = self.child.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            code = None
        what = f"exited with code {code}" if code is not None else "wrote something unexpected"
        warnings.warn(f"the llvm helper process (runtime.llvm_parts) {what} before it sent every part it "
                      "took; this process compiled them (the same machine code, only later). "
                      "COMPILER_LLVM_PROCESSES=1 never starts the helper.", RuntimeWarning, stacklevel=3)

    def stop(self) -> None:
        """End the child (it may be on a part this process has made) and reap it."""
        try:
            self.child.kill()
        except OSError:
            pass
        self.child.wait()
        for stream in (self.child.stdin, self.child.stdout):  # (their threads end on the error)
            try:
                if stream is not None:
                    stream.close()
            except (OSError, ValueError):
                pass


def _exactly(stream, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ValueError("the helper's output ended inside a message")
    return data


def start(parts: int) -> Helper | None:
    """A child ready to compile a kernel of ``parts`` parts (``Helper.send`` gives it the texts; it
    imports llvmlite meanwhile), or None where it would not pay or cannot start."""
    from . import threads
    setting = os.environ.get("COMPILER_LLVM_PROCESSES", "").strip()
    if parts < MIN_PARTS or setting == "1":
        return None
    others = threads.busy_elsewhere()
    if setting != "2" and (os.cpu_count() or 1) - (others or 0.0) < 1.5:  # no idle core for it
        return None
    try:
        child = subprocess.Popen([sys.executable, "-I", "-c", _CHILD], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return None
    return Helper(child)
