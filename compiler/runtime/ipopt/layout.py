"""What both routes of IPOPT callbacks share, with nothing compiled: the context array that
IPOPT passes as ``user_data`` (``Slot``), the statistics array the callbacks fill, and the sizes
a problem's callbacks are written for (``Layout``). The driver reads these without starting
Numba or LLVM (``callbacks``: Numba cfuncs; ``native_llvm``: LLVM IR of our own).

>>> Slot.SIZE, STATS_SIZE
(12, 26)
"""

from __future__ import annotations

from dataclasses import dataclass

# What the callbacks count, in this order in the statistics array (seconds, first call, calls).
NAMES = ("objective", "gradient", "constraints", "jacobian", "hessian")
KEEP_NONFINITE = 10  # points kept where a callback gave a non-finite number


class Slot:
    """Positions in the context array (int64) that ``user_data`` points to."""
    PARAMS, STATS, NONFINITE_X, ITERATIONS = 0, 1, 2, 3
    JAC_SEEDS, JAC_INDEX, JAC_ROWS, JAC_COLS = 4, 5, 6, 7
    HESS_SEEDS, HESS_INDEX, HESS_ROWS, HESS_COLS = 8, 9, 10, 11
    SIZE = 12


# The statistics array (float64): per callback its seconds, its first call's seconds, its calls;
# then the count of non-finite results and, per kept one, which callback gave it.
STAT_SECONDS, STAT_FIRST, STAT_CALLS = 0, 5, 10
STAT_NONFINITE = 15
STAT_NONFINITE_WHICH = 16
STATS_SIZE = STAT_NONFINITE_WHICH + KEEP_NONFINITE


@dataclass(frozen=True)
class Layout:
    """The sizes the callbacks are written for: ``n`` variables, ``m`` constraints, the
    parameters' ``param_shapes``, the Jacobian's and Hessian's ``*_nnz`` stored entries, their
    colours and the length of each colour's compressed part; ``jac_single``/``hess_single``:
    the compressed kernel returns one array (one colour), not a tuple."""
    n: int
    m: int
    param_shapes: tuple
    jac_nnz: int
    jac_colors: int
    hess_nnz: int
    hess_colors: int
    jac_part: int  # entries per colour: m for forward sweeps (columns), n for reverse ones (rows)
    hess_part: int
    jac_seed: int = 0  # entries of each colour's seed: n for forward sweeps, m for reverse ones
    jac_single: bool = False
    hess_single: bool = False
