"""Helper functions a generated module defines when it uses them, per dialect.

Neither NumPy nor Numba has ``erf`` on arrays, and Numba's ``np.floor_divide`` of
floats differs from NumPy's at infinities (``1.0 // -inf`` is -1.0 in NumPy and
in Python): the op table spells such ops with a helper (``ops.Op.numba_fmt``),
whose source is here. The helpers of the Numba dialect are jitted with the
kernels, except those of ``PYTHON_HELPERS``, which ``objmode`` blocks call; the
vm's interpreter (``vm.interpreter_source``) jits the scalar ones too.
"""

from __future__ import annotations

import re

HELPERS = {
    "numba": {
        "_erf": '''def _erf(x):
    """math.erf of every element (NumPy has no erf)."""
    flat = np.ascontiguousarray(x).ravel()
    out = np.empty(flat.size)
    for k in range(flat.size):
        out[k] = math.erf(flat[k])
    return out.reshape(x.shape)''',
        "_quietly": '''def _quietly(ufunc, x):
    """A NumPy loop in an objmode block: nan/inf without warnings, as Numba's own loops give."""
    with np.errstate(all="ignore"):
        return ufunc(x)''',
        "_floor_divide": '''def _floor_divide(a, b):
    """np.floor_divide of two floats, by NumPy's own steps (npy_divmod): Numba's differs at inf."""
    if b == 0.0:
        return np.divide(a, b)
    mod = np.fmod(a, b)
    div = (a - mod) / b
    if mod != 0.0 and (b < 0.0) != (mod < 0.0):  # nan counts as nonzero, as in C
        div -= 1.0
    if div != 0.0:
        floor = np.floor(div)
        return floor + 1.0 if div - floor > 0.5 else floor
    return np.copysign(0.0, a / b)''',
    },
    "numpy": {
        "_erf": '''_erf = np.vectorize(math.erf, otypes=[np.float64])  # NumPy has no erf''',
    },
}
PYTHON_HELPERS = {"_quietly"}
#: helpers of scalar ops (``Op.numba_fmt``): the vm's interpreter defines them too
SCALAR_HELPERS = ("_floor_divide",)


def used_in(text: str, dialect: str) -> list[str]:
    """The helpers of ``dialect`` that ``text`` calls."""
    return [name for name in HELPERS[dialect] if re.search(rf"(?<![\w.]){name}\(", text)]
