"""examples/tour.ipynb runs from top to bottom (its stored outputs are from such a run)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "tour.ipynb"

# Run after the notebook, in its kernel: the labels of the chart's cases, as drawn.
TICKS = """
import json
print(json.dumps([t.get_text() for t in ax.get_xticklabels()]))
"""


@pytest.mark.slow  # (16 s: the slow tier; the README's tour, which it repeats, runs in test_readme)
def test_tour_notebook_executes(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    copy = tmp_path / "tour.ipynb"
    shutil.copy(NOTEBOOK, copy)
    nb = nbformat.read(copy, as_version=4)
    assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), "stored without outputs"
    nb.cells.append(nbformat.v4.new_code_cell(TICKS))
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "the speedup chart was not drawn"
    ticks = json.loads("".join(o["text"] for o in nb.cells[-1].outputs if o.get("name") == "stdout"))
    assert len(ticks) >= 2 and len(set(ticks)) == len(ticks), f"the chart's cases share a label: {ticks}"
