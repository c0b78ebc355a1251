"""What every benchmark suite shares: timing, the machine's description, load, tables, peers.

Timing is timeit-style: a case is calibrated to a loop count whose repeat lasts
at least ``min_time``, repeats of the cases compared are interleaved (so that a
drift in machine speed hits them alike), and the median per call is reported.
Warm-up (a JIT's compile) happens before any timing and is reported apart.
A case is a function of no arguments, or a ``timeit.Timer``: the statement as a
user writes it, timed without a function call around it.

Suites that measure in a fresh process start it with ``run_module``: never from
the caller's working directory, whose files a child must not import.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from dataclasses import dataclass, field
from typing import Callable

QUIET_SHARE = 0.05  # other load (share of the machine) above which a note says times are inflated
PROBE_TIMEOUT = 60  # seconds for a child to start and find the package
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # holds compiler/

Case = Callable[[], object] | timeit.Timer


@dataclass
class Row:
    """One measured method of one case: seconds per call (median), and what it cost to get ready."""
    suite: str
    case: str
    method: str
    seconds: float | None          # per call (per batch for batch cases); None: not run
    size: int | None = None        # points of a batch, ops of a graph
    compile_seconds: float | None = None
    spread: float | None = None    # interquartile range / median of the repeats
    note: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def _runner(case: Case) -> Callable[[int], float]:
    """The seconds ``number`` runs of ``case`` take, as a function of ``number``."""
    if isinstance(case, timeit.Timer):
        return case.timeit  # the statement itself, in timeit's loop (garbage collector paused)

    def run(number: int) -> float:
        t0 = time.perf_counter()
        for _ in range(number):
            case()
        return time.perf_counter() - t0
    return run


def calibrate(case: Case, min_time: float) -> int:
    """The loop count (1, 2, 5, 10, 20, ...) for which one repeat lasts at least ``min_time``."""
    run = _runner(case)
    number = 1
    while True:
        for k in (1, 2, 5):
            if run(number * k) >= min_time:
                return number * k
        number *= 10


@dataclass
class Timing:
    """Every repeat of one timed case: ``loops`` calls per repeat, seconds per call of each."""
    loops: int
    per_call: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.per_call)

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median (the range, under 4 repeats): the noise."""
        xs = self.per_call
        if len(xs) < 4:
            return (max(xs) - min(xs)) / self.median
        q = statistics.quantiles(xs, n=4)
        return (q[2] - q[0]) / self.median

    def ratio_to(self, other: "Timing") -> float:
        """Median over repeats of self / other: a paired ratio, for cases timed interleaved."""
        if len(self.per_call) != len(other.per_call):
            raise ValueError("a paired ratio needs timings of the same interleaved repeats")
        return statistics.median(a / b for a, b in zip(self.per_call, other.per_call))

    def as_dict(self) -> dict:
        return {"loops": self.loops, "median": self.median, "spread": self.spread, "per_call": self.per_call}


def measure(cases: dict[str, Case], repeats: int, min_time: float,
            interleave: bool = True) -> dict[str, Timing]:
    """Every repeat of each case, each repeat a calibrated loop of at least ``min_time``;
    repeats interleaved (so that a drift in machine speed hits the cases alike) or, with
    ``interleave=False``, each case's repeats together: libraries whose thread pools spin
    after a call, such as BLAS and PyTorch, slow each other down when interleaved."""
    loops = {name: calibrate(case, min_time) for name, case in cases.items()}
    runners = {name: _runner(case) for name, case in cases.items()}
    out = {name: Timing(loops[name], []) for name in cases}
    order = [name for _ in range(repeats) for name in cases] if interleave else \
        [name for name in cases for _ in range(repeats)]
    for name in order:
        out[name].per_call.append(runners[name](loops[name]) / loops[name])
    return out


def timed(cases: dict[str, Case], repeats: int, min_time: float,
          interleave: bool = True) -> dict[str, tuple[float, float]]:
    """Median seconds per call and relative spread of each case (``measure`` in short)."""
    return {name: (t.median, t.spread) for name, t in measure(cases, repeats, min_time, interleave).items()}


@contextlib.contextmanager
def one_thread():
    """Numba's parallel loops on one thread inside the block (per-core figures, as a ufunc loop's),
    its count restored after."""
    import numba
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(threads)


def first_call(fn: Callable, *args):
    """``fn(*args)`` and the seconds it took (on a fresh JIT function: mostly its compile)."""
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


class OtherLoad:
    """CPU the rest of the machine used while a section ran (a context manager).

    /proc/stat busy time of all CPUs minus this process's and its children's own
    CPU time, as a share of the machine's capacity over the wall time; and the
    VM's steal time. Other work on a small machine inflates absolute times.
    """

    share: float | None = None  # other processes' CPU / (wall time * cores)
    steal: float | None = None

    def __enter__(self):
        self._start = self._sample()
        return self

    def __exit__(self, *exc):
        end = self._sample()
        if self._start is not None and end is not None:
            wall, busy, steal, own = (e - s for e, s in zip(end, self._start))
            capacity = wall * (os.cpu_count() or 1)
            self.share = max(0.0, busy - own) / capacity
            self.steal = steal / capacity

    @staticmethod
    def _sample():
        try:
            with open("/proc/stat") as fh:
                fields = list(map(int, fh.readline().split()[1:9]))
        except (OSError, ValueError):
            return None
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields
        hz = os.sysconf("SC_CLK_TCK")
        own = sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                    resource.getrusage(resource.RUSAGE_CHILDREN)))
        return time.perf_counter(), (user + nice + system + irq + softirq) / hz, steal / hz, own

    def as_dict(self) -> dict:
        return {"other_processes_cpu_share": self.share, "steal_share": self.steal}

    def note(self) -> str:
        if self.share is None:
            return "load from other processes: unknown (no /proc/stat)"
        text = f"load from other processes: {self.share:.0%} of the machine"
        if self.steal:
            text += f" (VM steal {self.steal:.0%})"
        quiet = self.share <= QUIET_SHARE and (self.steal or 0.0) <= QUIET_SHARE
        return text + ("" if quiet else " (not quiet: absolute times are inflated)")


def machine_info() -> dict:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            m = re.search(r"^model name\s*:\s*(.+)$", fh.read(), re.M)
            cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    info = {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "python": platform.python_version(),
            "platform": platform.platform()}
    for name in ("numpy", "numba", "llvmlite", "sympy", "jax", "torch", "casadi"):
        info[name] = package_version(name)
    return info


def package_version(name: str) -> str | None:
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def optional(name: str):
    """The module ``name``, or None when it is not installed (or fails to import)."""
    if name == "jax":
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    try:
        module = __import__(name)
    except Exception:  # absent or broken: that peer is skipped with a note
        return None
    if name == "jax":
        module.config.update("jax_enable_x64", True)
    if name == "torch":
        module.set_num_threads(os.cpu_count() or 1)
    return module


def run_module(module: str, args: list[str], env: dict | None = None,
               timeout: float | None = None) -> subprocess.CompletedProcess:
    """``python -m module args`` in a fresh process, its output captured as text.

    The child starts in an empty directory of its own: ``-m`` puts the working
    directory first on the import path, and the caller's files must not be
    imported. It imports this very copy of the package: when a child would not
    find it by itself (this process found it through its working directory or
    an entry it added to ``sys.path``), its directory goes first on
    ``PYTHONPATH``. ``env`` (default: this process's) is the child's environment.
    """
    env = dict(os.environ if env is None else env)
    cwd = tempfile.mkdtemp(prefix="compiler-bench-child-")
    try:
        if _child_finds(env, cwd) != os.path.realpath(os.path.join(PACKAGE_ROOT, "compiler", "__init__.py")):
            env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                              env=env, cwd=cwd, timeout=timeout)
    finally:
        shutil.rmtree(cwd, ignore_errors=True)


_PROBE = "import importlib.util as u; s = u.find_spec('compiler'); print(s.origin if s else '')"
_found: dict[tuple, str] = {}  # what _PROBE printed, per environment


def _child_finds(env: dict, cwd: str) -> str:
    """The file a child started in ``cwd`` with ``env`` imports as ``compiler`` (found, not run)."""
    key = (env.get("PYTHONPATH"), env.get("PYTHONHOME"), env.get("PYTHONNOUSERSITE"))
    if key not in _found:
        probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, cwd=cwd,
                               timeout=PROBE_TIMEOUT)
        origin = probe.stdout.strip()
        _found[key] = os.path.realpath(origin) if probe.returncode == 0 and origin else ""
    return _found[key]


class BenchmarkError(Exception):
    """A measurement failed: the results of the run are not valid."""


class MismatchError(BenchmarkError):
    """Two methods that must compute the same numbers do not."""


def check_close(what: str, reference, candidate, rtol: float) -> None:
    """Raise ``MismatchError`` unless ``candidate`` equals ``reference`` to ``rtol`` (relative to
    the largest magnitude of ``reference``: the components of a gradient differ in scale)."""
    ref = [float(v) for v in (reference if isinstance(reference, (list, tuple)) else [reference])]
    got = [float(v) for v in (candidate if isinstance(candidate, (list, tuple)) else [candidate])]
    if len(ref) != len(got):
        raise MismatchError(f"{what}: {len(got)} numbers, expected {len(ref)}")
    scale = max((abs(v) for v in ref), default=0.0)
    for i, (r, g) in enumerate(zip(ref, got)):
        if not abs(g - r) <= rtol * scale:  # nan fails too
            raise MismatchError(f"{what}: {g!r} at position {i}, expected {r!r} (relative tolerance {rtol:g})")


def fmt_time(seconds: float | None) -> str:
    """Seconds in the unit that reads best: ns, us, ms or s."""
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:,.3g} {unit}" if unit != "s" or seconds < 100 else f"{seconds:,.0f} s"
    return f"{seconds * 1e9:,.3g} ns"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table, padded to line up in a terminal."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])
