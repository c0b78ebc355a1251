"""Chart panels of the calls and batch suites (speedup over the eager tape; time against batch
size, log-log), drawn on a matplotlib Axes; ``compiler.bench.plot`` puts the panels side by side."""

from __future__ import annotations

from collections import defaultdict


def require_matplotlib() -> str | None:
    """None when matplotlib can draw here; otherwise what to install."""
    try:
        import matplotlib  # noqa: F401 - only whether it imports
    except ImportError:
        return "--plot needs matplotlib: pip install 'adjoint-compiler[bench]'"
    return None


def _speedups(ax, rows) -> bool:
    """Bars: speedup of each method over the eager tape, per case (calls, and the smallest batch)."""
    cases = defaultdict(dict)
    for r in rows:
        if r.suite == "calls" and r.seconds:
            cases[r.case][r.method] = r.seconds
    cases = {c: m for c, m in cases.items() if any(k.startswith("eager tape") for k in m)}
    if ax is None:
        return bool(cases)
    methods = [m for m in dict.fromkeys(k for ms in cases.values() for k in ms) if not m.startswith("eager")]
    width = 0.8 / max(1, len(methods))
    for j, method in enumerate(methods):
        xs, ys = [], []
        for i, (case, ms) in enumerate(cases.items()):
            tape = next(v for k, v in ms.items() if k.startswith("eager tape"))
            if method in ms:
                xs.append(i + (j - len(methods) / 2) * width + width / 2)
                ys.append(tape / ms[method])
        ax.bar(xs, ys, width, label=method)
    ax.set_yscale("log")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels([_short(c) for c in cases], fontsize=9)
    ax.set_ylabel("speedup over the eager tape engine (x)")
    ax.set_title("value + gradient per call: speedup over micrograd-style eager")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, frameon=False)
    return True


def _short(case: str) -> str:
    """A case's name, short enough for an axis label."""
    if case.startswith("neuron"):
        return "neuron"
    return case.replace(", ", " ").replace(" variables", "")


def _batch(ax, rows) -> bool:
    """Log-log: seconds per batch against its number of points, per method."""
    series = defaultdict(list)
    for r in rows:
        if r.suite == "batch" and r.seconds:
            series[r.method].append((r.size, r.seconds))
    if ax is None:
        return bool(series)
    for method, pts in series.items():
        pts.sort()
        ax.loglog([p[0] for p in pts], [p[1] for p in pts], "o-", label=method)
    ax.set_xlabel("points in the batch")
    ax.set_ylabel("seconds per batch (value + 3 gradients)")
    ax.set_title("batch evaluation")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    ax.grid(True, which="both", alpha=0.3)
    return True
