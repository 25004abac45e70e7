"""Secondary suppression: complete a pattern of suppressed cells so that none can be recovered.

The published totals (margins) are assumed known to an attacker, even when a table does not
show them. Each line of a one- or two-way table (cells and their margin) is one linear
equation; a suppressed value is safe when no combination of the equations determines it.
:func:`secondary_suppression` adds the smallest complementary cells until an exact audit
(linear algebra over the margin equations) finds no determined cell;
:func:`chain_suppression` does the same for a flow of exclusions (left before = left after +
removed, step by step).
"""

from __future__ import annotations

import numpy as np

from impact.errors import DisclosureError


def _lines(shape: tuple[int, int]) -> list[np.ndarray]:
    """Index sets (flat) of every line of a grid whose last row and column are the margins.

    Each line is (interior cells..., margin cell); the grand total is the margin of the
    margin row and of the margin column.
    """
    r, c = shape
    idx = np.arange(r * c).reshape(r, c)
    lines = []
    if c > 1:
        lines += [idx[i, :] for i in range(r)]  # each row: cells ..., row total
    if r > 1:
        lines += [idx[:, j] for j in range(c)]  # each column: cells ..., column total
    return lines


def _recoverable(sup: np.ndarray, lines: list[np.ndarray], known_margins: np.ndarray) -> np.ndarray:
    """Suppressed cells whose value is determined exactly by the published cells.

    Each line gives one linear equation: sum(interior) - margin = 0. Published cells are
    constants; suppressed cells are unknowns (a margin absent from the table is known to
    the attacker: ``known_margins``). An unknown ``x_j`` is determined iff the unit vector
    ``e_j`` lies in the row space of the equations' matrix over the unknowns.
    """
    unknown = np.flatnonzero(sup & ~known_margins)
    if unknown.size == 0:
        return np.zeros(0, dtype=int)
    pos = {u: k for k, u in enumerate(unknown)}
    rows = []
    for line in lines:
        coef = np.zeros(unknown.size)
        for k, cell in enumerate(line):
            if cell in pos:
                coef[pos[cell]] = -1.0 if k == len(line) - 1 else 1.0
        if coef.any():
            rows.append(coef)
    if not rows:
        return np.zeros(0, dtype=int)
    return unknown[_fixed(np.vstack(rows))]


def _fixed(a: np.ndarray) -> np.ndarray:
    """Columns of ``a`` (unknowns) whose value the equations ``a x = b`` fix: the unit vector lies in the row space."""
    rank = np.linalg.matrix_rank(a)
    out = []
    for k in range(a.shape[1]):
        e = np.zeros(a.shape[1])
        e[k] = 1.0
        if np.linalg.matrix_rank(np.vstack([a, e])) == rank:
            out.append(k)
    return np.array(out, dtype=int)


def secondary_suppression(
    counts: np.ndarray,
    primary: np.ndarray,
    present: np.ndarray | None = None,
) -> np.ndarray:
    """Complete a suppression pattern so that no suppressed cell can be recovered.

    Parameters
    ----------
    counts : (r, c) cell sizes; the last row and column are the margins (totals). For a
        one-way table pass shape (k + 1, 1): k cells and the total.
    primary : (r, c) bool, the cells suppressed by the primary rules.
    present : (r, c) bool, cells the table actually publishes (a margin that is not in the
        table is still assumed known to the attacker and cannot be suppressed).

    Returns
    -------
    (r, c) bool mask of all suppressed cells (primary and secondary).
    """
    counts = np.asarray(counts, dtype=float)
    sup = np.asarray(primary, dtype=bool).copy()
    present = np.ones_like(sup) if present is None else np.asarray(present, dtype=bool)
    shape = counts.shape
    if shape[1] == 1:
        shape2 = (shape[0], 1)
    else:
        shape2 = shape
    lines = _lines(shape2) if shape[1] > 1 else [np.arange(shape[0])]
    flat_sup = sup.ravel()
    # complement cost: the cell size; zero cells protect nothing, so they come last
    flat_n = np.where(counts.ravel() > 0, counts.ravel(), np.inf)
    known = ~present.ravel()  # absent margins: known, never suppressible
    flat_sup &= ~known
    for _ in range(flat_sup.size + 1):
        changed = False
        # 1) every line with exactly one suppressed cell gets its smallest complement
        for line in lines:
            s = flat_sup[line]
            if s.sum() == 1:
                cand = line[~s & ~known[line]]
                if cand.size == 0:
                    continue
                interior = cand[cand != line[-1]] if cand.size > 1 else cand
                pick = interior[np.argmin(flat_n[interior])]
                flat_sup[pick] = True
                changed = True
        if changed:
            continue
        # 2) exact audit; fix the first recoverable cell through one of its lines
        rec = _recoverable(flat_sup, lines, known)
        if rec.size == 0:
            break
        cell = rec[0]
        best = None
        for line in lines:
            if cell in line:
                cand = line[~flat_sup[line] & ~known[line]]
                if cand.size and (best is None or flat_n[cand].min() < flat_n[best]):
                    best = cand[np.argmin(flat_n[cand])]
        if best is None:
            raise DisclosureError("cannot protect the table: a suppressed cell is determined by known totals "
                                  "and no complementary cell is left; publish a coarser table")
        flat_sup[best] = True
    return flat_sup.reshape(shape)




def _determined(sup: np.ndarray, eqs: np.ndarray) -> np.ndarray:
    """Suppressed cells whose value the equations (rows of ``eqs`` over all cells) fix exactly."""
    unknown = np.flatnonzero(sup)
    if unknown.size == 0 or eqs.size == 0:
        return np.zeros(0, dtype=int)
    a = eqs[:, unknown]
    a = a[np.abs(a).sum(1) > 0]
    if a.size == 0:
        return np.zeros(0, dtype=int)
    return unknown[_fixed(a)]


def linear_suppression(values: np.ndarray, primary: np.ndarray, eqs: np.ndarray,
                       known: np.ndarray | None = None) -> np.ndarray:
    """Complete ``primary`` so that no suppressed cell is fixed by the linear equations ``eqs``.

    Parameters
    ----------
    values : (n,) published values (the smallest complement is suppressed first).
    primary : (n,) bool, cells suppressed by the primary rules.
    eqs : (m, n) coefficients; each row is an equation ``eqs[i] @ values == 0`` the attacker knows.
    known : (n,) bool, cells the attacker knows from elsewhere (published in another table):
        never suppressed, and constants of the equations.

    Raises
    ------
    DisclosureError
        When a suppressed cell stays determined with every other cell suppressed.
    """
    known = np.zeros(np.asarray(primary).size, bool) if known is None else np.asarray(known, bool)
    sup = np.asarray(primary, bool).copy() & ~known
    eqs = np.asarray(eqs, float).reshape(-1, sup.size)
    cost = np.where(np.asarray(values, float) > 0, np.asarray(values, float), np.inf)
    for _ in range(sup.size + 1):  # each round suppresses one more cell
        det = _determined(sup, eqs)
        if det.size == 0:
            return sup
        cell = det[0]
        touching = eqs[np.abs(eqs[:, cell]) > 0]
        cand = np.flatnonzero((np.abs(touching).sum(0) > 0) & ~sup & ~known)
        if cand.size == 0:
            raise DisclosureError("cannot protect the flow: a suppressed count is fixed by the published ones and no "
                                  "complementary count is left")
        sup[cand[np.argmin(cost[cand])]] = True
    return sup
