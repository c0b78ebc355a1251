"""The benchmark charts: speedup over the eager tape, time against batch size, compile time
against graph size (log-log), drawn with matplotlib into one PNG."""

from __future__ import annotations

from collections import defaultdict


def require_matplotlib() -> str | None:
    """None when matplotlib can draw here; otherwise what to install."""
    try:
        import matplotlib  # noqa: F401 - only whether it imports
    except ImportError:
        return "--plot needs matplotlib: pip install 'adjoint-compiler[bench]'"
    return None


def plot(result: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = result["rows"]
    panels = [p for p in (_speedups, _batch, _graphs) if p(None, rows)]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 6.4), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        panel(ax, rows)
    m = result["machine"]
    fig.suptitle(f"adjoint-compiler benchmarks — {m['cpu']}, {m['cores']} cores", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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


def _graphs(ax, rows) -> bool:
    """Log-log: time to first gradient (solid) and to compiled code (dashed) against graph size."""
    series = defaultdict(list)
    for r in rows:
        if r.suite == "graphs" and r.seconds:
            series[r.method].append((r.size, r.extra["ttfg"], r.extra["ttfg"] + r.extra["ready"]))
    if ax is None:
        return bool(series)
    for method, pts in series.items():
        pts.sort()
        line, = ax.loglog([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"{method}: first gradient")
        if any(p[2] > p[1] * 1.05 for p in pts):
            ax.loglog([p[0] for p in pts], [p[2] for p in pts], "s--", color=line.get_color(),
                      label=f"{method}: compiled code")
    ax.set_xlabel("ops in the random graph")
    ax.set_ylabel("seconds (fresh process)")
    ax.set_title("time to first gradient and to compiled code")
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    ax.grid(True, which="both", alpha=0.3)
    return True
