"""Optimisation: nonlinear programs for IPOPT, built on compiled derivatives.

Takes: expressions (objective, constraints) and their variables and parameters.
Gives: an ``NLP`` with its compiled values, sparse constraint Jacobian and sparse
Hessian of the Lagrangian (``problem``), and IPOPT runs (``ipopt``): through its C interface
with compiled callbacks (``native``, ``runtime.ipopt``), or through cyipopt.
SciPy's adapter is ``CompiledFunction.scipy`` (``runtime.scipy_adapter``).

>>> import compiler as cc
>>> x = cc.Symbol("x")
>>> cc.nlp((x - 3) ** 2, x, backend="python").n
1
"""

from .ipopt import NLPResult  # noqa: F401
from .native import NLPInfo, nlp_info  # noqa: F401
from .problem import NLP, nlp  # noqa: F401
from .root import root  # noqa: F401
