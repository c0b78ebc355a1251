"""Record which tests are slow, for the quick tier (``python -m pytest -m quick``).

Reads pytest's ``--durations=0`` report on stdin and writes ``tests/durations.json``: the
tests (and fixture setups) that took at least ``QUICK_MAX`` seconds, which ``conftest.py``
leaves out of the quick tier. Run it on a quiet machine after adding slow tests::

    python -m pytest -q -p no:cacheprovider --durations=0 | python tests/durations.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

QUICK_MAX = 0.5  # seconds: a test (its call or its setup) at least this long is not quick
OUT = Path(__file__).with_name("durations.json")


def main() -> None:
    slow: dict[str, float] = {}
    for line in sys.stdin:
        m = re.match(r"\s*([\d.]+)s (call|setup|teardown)\s+(\S.*?)\s*$", line)
        if m and float(m.group(1)) >= QUICK_MAX:
            node = m.group(3)
            slow[node] = round(max(slow.get(node, 0.0), float(m.group(1))), 2)
    OUT.write_text(json.dumps(dict(sorted(slow.items())), indent=1) + "\n")
    print(f"{len(slow)} tests of {QUICK_MAX} s or more written to {OUT}")


if __name__ == "__main__":
    main()
