"""Tensors that only hold scalars: a SymPy ``Matrix``, ``cc.stack([...])``, an array literal.

Such a tensor is a container, not a tensor computation: its entries are scalar
expressions joined by ``concatenate``/``reshape``/``transpose`` (and constant
arrays). ``elements`` gives those entries in an array of its shape, so that the
scalar targets (llvm, vm) can compile them one by one; a real tensor op
(``matmul``, an elementwise op on a tensor, a tensor input) gives ``None``.

>>> import numpy as np
>>> from compiler import ir
>>> x = ir.symbol("x")
>>> col = ir.apply("concatenate", ir.apply("reshape", x, params=((1,),)), ir.constant(np.ones(1) * 2), params=(0,))
>>> [str(e) for e in elements(col)]
['x', '2.0']
"""

from __future__ import annotations

import numpy as np

from .node import Node, constant

#: the ops a container is made of: joins and moves of whole entries, nothing computed
JOINS = ("concatenate", "reshape", "transpose")


def elements(node: Node) -> np.ndarray | None:
    """The scalar entries of ``node`` as an object array of its shape (C order), or ``None``
    unless ``node`` is only scalars joined (``JOINS``) and constant arrays."""
    done: dict[int, np.ndarray] = {}
    for n in _tensors_below(node):
        if not n.shape:
            done[n.id] = _scalar(n)
        elif n.op == "const":
            done[n.id] = _boxed([constant(float(v)) for v in np.ravel(n.value)], n.shape)
        elif n.op not in JOINS or n.dtype != "float":
            return None
        elif n.op == "reshape":
            done[n.id] = done[n.args[0].id].reshape(n.shape)
        elif n.op == "transpose":
            done[n.id] = done[n.args[0].id].transpose(n.params[0])
        else:
            done[n.id] = np.concatenate([done[a.id] for a in n.args], axis=n.params[0])
    return done[node.id]


def _tensors_below(node: Node) -> list[Node]:
    """``node`` and the nodes it is joined from, operands first, not looking into scalar entries
    (a large Matrix's entries are whole graphs)."""
    order: list[Node] = []
    seen: set[int] = set()
    stack = [(node, False)]
    while stack:
        n, ready = stack.pop()
        if ready:
            order.append(n)
        elif n.id not in seen:
            seen.add(n.id)
            stack.append((n, True))
            if n.shape and n.op in JOINS:
                stack.extend((a, False) for a in n.args)
    return order


def _scalar(n: Node) -> np.ndarray:
    return _boxed([n], ())


def _boxed(nodes: list[Node], shape: tuple) -> np.ndarray:
    """Nodes in an object array of ``shape``, filled one by one (a node refuses ``np.array``)."""
    box = np.empty(len(nodes), dtype=object)
    for i, n in enumerate(nodes):
        box[i] = n
    return box.reshape(shape)
