"""Core suite, part 3: the peak memory of one batch ``fn.value_and_grad(X, Y, Z)``, in a fresh process.

    python -m compiler.bench.core_memory N [--backend B]    # prints one JSON line

The child compiles the batch expression of ``batch.py``, runs it on 16 points
(Numba compiles the kernel and its parallel driver: their memory is not the
call's), makes its N-point inputs resident, then measures one call: the peak
RSS (VmHWM, reset to the current RSS just before the call by writing 5 to
/proc/self/clear_refs) minus the RSS before it, minus the output arrays; and,
during a second call, the tracemalloc peak of Python and NumPy allocations
(which sees the outputs and any temporary arrays, not Numba's own).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import sys
import tracemalloc

import numpy as np

from .common import BenchmarkError, run_module, table

MODULE = "compiler.bench.core_memory"
TARGET_MB = 50.0       # RSS beyond inputs + outputs
CHILD_TIMEOUT = 1800   # seconds; 10,000,000 points take about 10 s on 2 cores
RESET_SLACK_KB = 1024  # the peak counts as reset when it is within this of the current RSS
MB = 2 ** 20


def inputs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The batch's x, y, z: uniform in [-2, 2]."""
    rng = np.random.default_rng(seed)
    return tuple(rng.uniform(-2.0, 2.0, n) for _ in range(3))


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        return int(re.search(rf"^{field}:\s+(\d+) kB", fh.read(), re.M).group(1))


def measure(n: int, backend: str = "auto") -> dict:
    """In the child: the memory of one batch call at ``n`` points, in bytes."""
    import compiler as cc

    from .batch import expression
    x, y, z = cc.symbols("x y z")
    fn = cc.compile(expression(cc)(x, y, z), [x, y, z], backend=backend)
    fn.value_and_grad(*inputs(16))  # compiles the kernel and the driver
    X, Y, Z = inputs(n)
    in_bytes = X.nbytes + Y.nbytes + Z.nbytes
    gc.collect()

    before_kb = _status_kb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # VmHWM := VmRSS (getrusage's ru_maxrss reads the same peak)
        reset = _status_kb("VmHWM") <= before_kb + RESET_SLACK_KB
    except OSError:
        reset = False
    v, g = fn.value_and_grad(X, Y, Z)
    peak_kb = _status_kb("VmHWM")
    out_bytes = v.nbytes + sum(a.nbytes for a in g)
    del v, g
    gc.collect()

    tracemalloc.start()
    fn.value_and_grad(X, Y, Z)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"n": n, "backend": fn.backend, "package": cc.__file__, "input_bytes": in_bytes,
            "output_bytes": out_bytes, "rss_before_bytes": before_kb * 1024, "rss_peak_bytes": peak_kb * 1024,
            "peak_reset_ok": reset, "rss_overhead_bytes": (peak_kb - before_kb) * 1024 - out_bytes,
            "tracemalloc_peak_bytes": traced_peak, "tracemalloc_overhead_bytes": traced_peak - out_bytes}


def run(n: int, backend: str = "auto") -> dict:
    """``measure(n, backend)`` in a fresh process (``common.run_module``); raises ``BenchmarkError``
    when it fails or imported another copy of the package than this process."""
    import compiler as cc
    out = run_module(MODULE, [str(n), "--backend", backend], timeout=CHILD_TIMEOUT)
    if out.returncode != 0:
        raise BenchmarkError(f"core suite: the memory process failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if os.path.realpath(result["package"]) != os.path.realpath(cc.__file__):
        raise BenchmarkError(f"core suite: the memory process measured {result['package']}, not {cc.__file__}")
    return result


def report(m: dict) -> str:
    """The memory section of the core suite's report."""
    mb = lambda b: f"{b / MB:,.1f} MB"  # noqa: E731
    verdict = "met" if m["rss_overhead_bytes"] < TARGET_MB * MB else "NOT met"
    rows = [["inputs (3 arrays)", mb(m["input_bytes"])],
            ["outputs (value + 3 gradients)", mb(m["output_bytes"])],
            ["RSS before the call (inputs resident)", mb(m["rss_before_bytes"])],
            ["peak RSS during the call", mb(m["rss_peak_bytes"])],
            ["**RSS beyond inputs + outputs**", mb(m["rss_overhead_bytes"])],
            ["tracemalloc peak during the call (NumPy/Python)", mb(m["tracemalloc_peak_bytes"])],
            ["tracemalloc beyond outputs", mb(m["tracemalloc_overhead_bytes"])]]
    lines = [f"### 3. Peak memory: fn.value_and_grad(X, Y, Z) at {m['n']:,} points "
             f"({m['backend']}, fresh process)", "",
             table(["quantity", "size"], rows), "",
             f"RSS beyond inputs + outputs: {mb(m['rss_overhead_bytes'])} (target < {TARGET_MB:.0f} MB: {verdict})",
             "method: peak RSS is VmHWM from /proc/self/status, reset to the current RSS just before the call "
             "(write 5 to /proc/self/clear_refs), after Numba compiled on a small batch; overhead = peak - RSS "
             "before - output bytes. tracemalloc (second call) sees NumPy array data and Python objects, not "
             "Numba's internal allocations."]
    if not m["peak_reset_ok"]:
        lines.append("WARNING: the peak RSS could not be reset; the peak may include earlier use.")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int, help="points of the batch")
    parser.add_argument("--backend", default="auto", help="the backend of cc.compile (default: auto)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.n, args.backend)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
