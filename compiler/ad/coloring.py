"""Colourings of sparsity patterns, and where each derivative is read from the compressed ones.

Data only (NumPy and plain Python). Two colourings, both greedy in
largest-first order (ties in index order, which suits banded patterns):

* ``columns``: a distance-2 colouring of the columns of a Jacobian pattern (two
  columns that share a row get different colours). ``J @ S`` with ``S[j, c] = 1``
  where column ``j`` has colour ``c`` then holds every entry once:
  ``J[i, j] = (J @ S)[i, colour[j]]``. Rows are ``columns`` of the transpose.
  (The ``*_recovery`` functions index the compressed results colour by colour:
  ``(J @ S).T``, one contiguous row per colour, as the sweeps give them.)
* ``star``: a star colouring of a symmetric (Hessian) pattern (Gebremedhin,
  Manne and Pothen, SIAM Review 2005: a distance-1 colouring in which every path
  on four vertices uses three colours), read back directly: every ``H[i, j]`` is
  ``(H @ S)[i, colour[j]]`` or ``(H @ S)[j, colour[i]]`` (``star_recovery`` says
  which). A tridiagonal Hessian takes 3 colours, an arrowhead 2.

Each vertex keeps its forbidden colours as one integer bit mask, updated when a
neighbour is coloured, so a vertex of high degree (a dense row, the hub of an
arrowhead) costs its degree once, not its degree for each of its neighbours:
time is about the number of nonzeros times the number of colours.

No library fits both: NetworkX's ``greedy_color`` colours a graph at distance 1
(the column intersection graph would give the Jacobian colouring, at about 4x
the time of ``columns`` at 10^5 columns, most of it building the graph); there is
no star colouring in NetworkX or SciPy.

>>> import numpy as np, scipy.sparse as sp
>>> tridiagonal = sp.csr_matrix(np.eye(6) + np.eye(6, k=1) + np.eye(6, k=-1))
>>> star(tridiagonal).tolist(), columns(tridiagonal).tolist()
([2, 0, 1, 0, 2, 0], [2, 0, 1, 2, 0, 1])
"""

from __future__ import annotations

import numpy as np


class ColorLimit(ValueError):
    """A colouring stopped as soon as it needed more than its ``limit`` of colours."""


def _check_limit(c: int, limit: int | None) -> None:
    if limit is not None and c >= limit:
        raise ColorLimit(f"the colouring needs more than {limit} colours")


def _largest_first(degree: np.ndarray) -> list[int]:
    return np.argsort(-degree, kind="stable").tolist()


def _lowest_free(mask: int) -> int:
    """The smallest colour whose bit is not set in ``mask``."""
    return ((~mask) & (mask + 1)).bit_length() - 1


def columns(pattern, limit: int | None = None) -> np.ndarray:
    """A distance-2 colouring of the columns of a sparse ``pattern`` (any scipy.sparse form):
    columns sharing a row get different colours. One colour per column, from 0. Beyond
    ``limit`` colours: ``ColorLimit``, at once."""
    csc = pattern.tocsc()
    n_rows, n_cols = csc.shape
    rows_of = csc.indices.tolist()
    starts = csc.indptr.tolist()
    used = [0] * n_rows  # bit mask per row: the colours of its columns coloured so far
    colour = [0] * n_cols
    for j in _largest_first(np.diff(csc.indptr)):
        rows = rows_of[starts[j]:starts[j + 1]]
        mask = 0
        for r in rows:
            mask |= used[r]
        c = _lowest_free(mask)
        _check_limit(c, limit)
        colour[j] = c
        bit = 1 << c
        for r in rows:
            used[r] |= bit
    return np.array(colour, dtype=np.int64)


def star(pattern, limit: int | None = None) -> np.ndarray:
    """A star colouring of the symmetric sparse ``pattern`` (the diagonal is ignored); beyond
    ``limit`` colours, ``ColorLimit`` at once.

    Vertex ``v`` may not take the colour of a coloured neighbour ``w``, nor that of a
    coloured ``x`` two steps away through ``w`` when ``w`` is uncoloured (``mask[w]``
    holds those), nor when ``w`` is coloured and ``x`` has another neighbour of ``w``'s
    colour (the path ``v-w-x-y`` would be two-coloured).
    """
    csr = pattern.tocsr()
    n = csr.shape[0]
    if csr.shape[1] != n:
        raise ValueError(f"a star colouring is of a square (symmetric) pattern, got shape {csr.shape}")
    rows, cols = _off_diagonal(csr)
    counts = np.bincount(rows, minlength=n)
    indptr = np.concatenate(([0], np.cumsum(counts))).tolist()
    adjacent = cols.tolist()
    colour = [-1] * n
    mask = [0] * n   # colours forbidden to the neighbours of each vertex, by that vertex
    seen: dict[int, int] = {}  # (x, c) -> how many coloured neighbours of x have colour c
    for v in _largest_first(counts):
        near = adjacent[indptr[v]:indptr[v + 1]]
        forbidden = 0
        for w in near:
            forbidden |= mask[w]
            if colour[w] >= 0:
                forbidden |= 1 << colour[w]
        c = _lowest_free(forbidden)
        _check_limit(c, limit)
        colour[v] = c
        bit = 1 << c
        for x in near:  # v is now a coloured neighbour of x
            key = x * n + c
            k = seen.get(key, 0) + 1
            seen[key] = k
            cx = colour[x]
            if cx < 0:
                mask[x] |= bit
            elif k == 2:  # x now has two neighbours of colour c: those forbid x's colour
                xbit = 1 << cx
                for w in adjacent[indptr[x]:indptr[x + 1]]:
                    if colour[w] == c:
                        mask[w] |= xbit
        # (v's coloured neighbours all differ in colour -- the masks of uncoloured vertices
        # saw to it -- so v does not add its colour to a coloured neighbour's mask)
        own = 0  # v coloured: it forbids the colours of neighbours x that have another c-neighbour
        for x in near:
            if colour[x] >= 0 and seen.get(x * n + c, 0) >= 2:
                own |= 1 << colour[x]
        mask[v] = own
    return np.array(colour, dtype=np.int64)


def _off_diagonal(csr) -> tuple[np.ndarray, np.ndarray]:
    rows = np.repeat(np.arange(csr.shape[0], dtype=np.int64), np.diff(csr.indptr))
    cols = csr.indices.astype(np.int64)
    keep = rows != cols
    return rows[keep], cols[keep]


def column_recovery(pattern, colour: np.ndarray) -> np.ndarray:
    """For each stored entry of the CSR ``pattern`` (in order), its flat index in the compressed
    ``B = (J @ S).T`` of shape ``(n_colours, n_rows)``: ``J[i, j] = B[colour[j], i]``."""
    csr = pattern.tocsr()
    rows = np.repeat(np.arange(csr.shape[0], dtype=np.int64), np.diff(csr.indptr))
    return colour[csr.indices] * csr.shape[0] + rows


def row_recovery(pattern, colour: np.ndarray) -> np.ndarray:
    """For each stored entry of the CSR ``pattern``, its flat index in ``B = S^T J`` of shape
    ``(n_colours, n_cols)``: ``J[i, j] = B[colour[i], j]``."""
    csr = pattern.tocsr()
    rows = np.repeat(np.arange(csr.shape[0], dtype=np.int64), np.diff(csr.indptr))
    return colour[rows] * csr.shape[1] + csr.indices


def star_recovery(pattern, colour: np.ndarray) -> np.ndarray:
    """For each stored entry of the symmetric CSR ``pattern``, its flat index in ``B = (H @ S).T``
    of shape ``(n_colours, n)``: ``H[i, j] = B[colour[j], i]`` when ``j`` is ``i``'s only
    neighbour of that colour (always so on the diagonal), else ``B[colour[i], j]`` (a star
    colouring guarantees one of the two)."""
    csr = pattern.tocsr()
    n = csr.shape[0]
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(csr.indptr))
    cols = csr.indices.astype(np.int64)
    direct = colour[cols] * n + rows
    keys = np.where(rows != cols, direct, -1 - np.arange(len(direct)))  # the diagonal counts apart
    alone = _multiplicity(keys) == 1
    return np.where(alone, direct, colour[rows] * n + cols)


def _multiplicity(keys: np.ndarray) -> np.ndarray:
    """How often each element's value occurs in ``keys``."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    lengths = np.diff(np.append(starts, len(keys)))
    out = np.empty(len(keys), dtype=np.int64)
    out[order] = np.repeat(lengths, lengths)
    return out


def seed_matrix(colour: np.ndarray, n_colours: int | None = None) -> np.ndarray:
    """``S`` as rows: ``S[c]`` is the 0/1 vector of the elements of colour ``c``, shape
    ``(n_colours, len(colour))``."""
    n_colours = n_colours if n_colours is not None else (int(colour.max()) + 1 if len(colour) else 0)
    seeds = np.zeros((n_colours, len(colour)))
    seeds[colour, np.arange(len(colour))] = 1.0
    return seeds
