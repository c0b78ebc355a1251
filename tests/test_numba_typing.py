"""``runtime.numba_typing``: Numba's typing of operators answers exactly as before, only sooner."""

from __future__ import annotations

import operator

import pytest

numba = pytest.importorskip("numba")
from numba.core import types  # noqa: E402
from numba.core.registry import cpu_target  # noqa: E402
from numba.core.typing import npydecl  # noqa: E402

from compiler.runtime import numba_typing  # noqa: E402

ARRAY = types.Array(types.float64, 1, "C")
OPERANDS = [types.float64, types.float32, types.int64, types.complex128, types.boolean, ARRAY,
            types.Array(types.int32, 2, "A"), types.Optional(ARRAY), types.Optional(types.float64),
            types.UniTuple(types.float64, 2)]


def test_every_operator_answers_as_numba_itself():
    assert numba_typing.install() and numba_typing.install()  # once, then already in place
    patched = npydecl.NumpyRulesArrayOperator.generic
    original = patched.__wrapped__
    context = cpu_target.typing_context
    context.refresh()
    for op in npydecl.NumpyRulesArrayOperator._op_map:
        template = type("T", (npydecl.NumpyRulesArrayOperator,), dict(key=op))(context)
        for a in OPERANDS:
            for b in OPERANDS:
                want = _answer(original, template, (a, b))
                assert _answer(patched, template, (a, b)) == want, (op, a, b)
    # the scalar case answers at once: no NumPy loop search
    template = type("T", (npydecl.NumpyRulesArrayOperator,), dict(key=operator.mul))(context)
    assert patched(template, (types.float64, types.float64), {}) is None
    assert patched(template, (ARRAY, types.float64), {}) is not None


def _answer(generic, template, args):
    try:
        return ("sig", generic(template, args, {}))
    except Exception as e:  # noqa: BLE001 - an error is an answer too: the same one
        return ("error", type(e))
