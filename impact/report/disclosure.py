"""Statistical disclosure control for every table a report publishes.

Rules (Statistics Finland FIONA output checking, ``reference/domain.md`` §5):

* **threshold**: a cell with fewer than ``min_count`` persons (default 10) is suppressed
  (all its values: count, rates, means);
* **earnings cells** (means or sums of wages) also need at least ``min_payers`` distinct
  payers (default 5) and no single payer above ``dominance`` (default 75 %) of the cell's
  sum, when the payer information is given (columns ``n_payers`` and ``top_payer_share``);
  such a cell keeps its count but loses its earnings values;
* **secondary suppression**: the published totals (margins) are assumed known to an
  attacker, even when the table itself does not show them. In any row or column of a
  one- or two-way table that holds a suppressed cell, at least two cells are suppressed
  (the smallest complementary cells are chosen), and an exact audit (linear algebra over
  the margin equations) adds further cells until no suppressed value is determined by the
  published ones;
* **rounding** of published counts to a base (optional);
* **no identifiers**: a table with a person-level identifier column (``person_id``,
  ``service_id``, ``spell_id``, ``report_id``, ...) is refused outright.

Tables are long pandas DataFrames: one row per cell, one or two dimension columns, a
count column and value columns. Margin rows (totals) carry ``total_label`` ("Total") in
a dimension column.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from impact.errors import DisclosureError

#: Columns that identify persons, spells, reports or payers; never published.
IDENTIFIER_COLUMNS = frozenset({
    "person_id", "service_id", "spell_id", "report_id", "report_ref", "payer_id", "unit_id", "hetu",
    "ssn", "henkilotunnus", "employer_id", "y_tunnus",
})

TOTAL = "Total"


@dataclass(frozen=True)
class DisclosureRules:
    """Thresholds of the disclosure control (defaults: FIONA wage-data rules)."""

    min_count: int = 10
    min_payers: int = 5
    dominance: float = 0.75
    rounding: int = 0  # round counts to this base; 0: no rounding


@dataclass
class ProtectedTable:
    """A table after disclosure control.

    Attributes
    ----------
    table : the publishable table (suppressed values are NaN, a ``suppressed`` column says
        why: "" published, "primary", "secondary", "earnings"); helper columns with payer
        information are removed.
    n_primary, n_secondary, n_earnings : how many cells each rule suppressed.
    """

    table: pd.DataFrame
    n_primary: int = 0
    n_secondary: int = 0
    n_earnings: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def n_suppressed(self) -> int:
        return self.n_primary + self.n_secondary


def check_no_identifiers(df: pd.DataFrame, name: str = "table") -> None:
    """Refuse a table holding person-level (or payer-level) identifiers.

    Raises
    ------
    DisclosureError
        Naming the table and the identifier columns.
    """
    cols = {str(c).lower() for c in df.columns}
    idx = {str(n).lower() for n in (df.index.names or []) if n is not None}
    bad = sorted((cols | idx) & IDENTIFIER_COLUMNS)
    if bad:
        raise DisclosureError(
            f"{name}: refusing to publish a table with identifier column(s) {', '.join(bad)}; "
            "aggregate to cells first (reports publish only counts, rates and means per cell)"
        )


# ---------------------------------------------------------------------------------------
# Secondary suppression on a grid
# ---------------------------------------------------------------------------------------


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
    a = np.vstack(rows)
    rank = np.linalg.matrix_rank(a)
    out = []
    for k, u in enumerate(unknown):
        e = np.zeros(unknown.size)
        e[k] = 1.0
        if np.linalg.matrix_rank(np.vstack([a, e])) == rank:
            out.append(u)
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


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------


def _grid(df: pd.DataFrame, dims: list[str], total_label: str):
    """Map a long table onto a grid with the margins last; returns (levels, (row, col) of each row)."""
    levels = []
    for d in dims:
        vals = [v for v in pd.unique(df[d]) if v != total_label]
        levels.append(vals + [total_label])
    if len(dims) == 1:
        levels.append([None])
        r = df[dims[0]].map({v: i for i, v in enumerate(levels[0])}).to_numpy()
        c = np.zeros(len(df), dtype=int)
    else:
        r = df[dims[0]].map({v: i for i, v in enumerate(levels[0])}).to_numpy()
        c = df[dims[1]].map({v: i for i, v in enumerate(levels[1])}).to_numpy()
    return levels, r.astype(int), c.astype(int)


def protect_table(
    df: pd.DataFrame,
    dims: list[str] | str,
    count: str = "n",
    rules: DisclosureRules | None = None,
    earnings: list[str] | tuple[str, ...] = (),
    count_columns: list[str] | tuple[str, ...] = (),
    payers: str = "n_payers",
    top_share: str = "top_payer_share",
    total_label: str = TOTAL,
    name: str = "table",
) -> ProtectedTable:
    """Apply primary and secondary suppression (and rounding) to a one- or two-way table.

    Parameters
    ----------
    df : long table, one row per cell (and optionally margin rows with ``total_label``).
    dims : the one or two dimension columns.
    count : the column with the number of persons in the cell.
    earnings : value columns that are earnings aggregates (dominance and payer rules).
    count_columns : further count columns (rounded like ``count``).
    payers, top_share : columns with the number of distinct payers and the largest payer's
        share of the cell's earnings sum (optional; removed from the output).

    Returns
    -------
    ProtectedTable
    """
    rules = rules or DisclosureRules()
    dims = [dims] if isinstance(dims, str) else list(dims)
    check_no_identifiers(df, name)
    if len(dims) not in (1, 2):
        raise DisclosureError(f"{name}: disclosure control handles one- or two-way tables; got dims {dims}")
    for col in [*dims, count]:
        if col not in df:
            raise DisclosureError(f"{name}: column {col!r} missing (have {', '.join(map(str, df.columns))})")
    out = df.reset_index(drop=True).copy()
    if out.duplicated(dims).any():
        dup = out.loc[out.duplicated(dims, keep=False), dims].head(3).to_dict("records")
        raise DisclosureError(f"{name}: more than one row per cell of {dims}, e.g. {dup}")
    n = out[count].to_numpy(dtype=float)
    levels, r, c = _grid(out, dims, total_label)
    shape = (len(levels[0]), len(levels[1]))
    grid_n = np.zeros(shape)
    present = np.zeros(shape, dtype=bool)
    grid_n[r, c] = n
    present[r, c] = True
    # margins absent from the table: derived from the cells (known to the attacker)
    if len(dims) == 1:
        if not present[-1, 0]:
            grid_n[-1, 0] = grid_n[:-1, 0].sum()
    else:
        miss_r = ~present[:-1, -1]
        grid_n[:-1, -1] = np.where(miss_r, grid_n[:-1, :-1].sum(1), grid_n[:-1, -1])
        miss_c = ~present[-1, :-1]
        grid_n[-1, :-1] = np.where(miss_c, grid_n[:-1, :-1].sum(0), grid_n[-1, :-1])
        if not present[-1, -1]:
            grid_n[-1, -1] = grid_n[:-1, :-1].sum()
    # cells absent from the table (empty combinations) are known zeros: treat as present, never suppress
    primary = (grid_n < rules.min_count) & present
    primary &= grid_n > 0  # a true zero is no person: nothing to protect
    sup = secondary_suppression(grid_n, primary, present)
    sup &= present
    cell_sup = sup[r, c]
    cell_primary = primary[r, c]

    # earnings: payer-count and dominance rules, then their own secondary pattern
    earn_cols = [e for e in earnings if e in out]
    e_sup = np.zeros(len(out), dtype=bool)
    if earn_cols:
        e_primary = np.zeros(len(out), dtype=bool)
        if payers in out:
            e_primary |= out[payers].fillna(0).to_numpy() < rules.min_payers
        if top_share in out:
            e_primary |= out[top_share].fillna(1.0).to_numpy() > rules.dominance
        grid_e = np.zeros(shape, dtype=bool)
        grid_e[r, c] = e_primary | cell_sup
        e_all = secondary_suppression(grid_n, grid_e & present, present)
        e_sup = e_all[r, c] & ~cell_sup
    value_cols = [col for col in out.columns if col not in dims and col not in (payers, top_share)]
    for col in value_cols:
        if pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].astype(float)
    out.loc[cell_sup, value_cols] = np.nan
    if earn_cols:
        out.loc[e_sup, earn_cols] = np.nan
    reason = np.where(cell_primary, "primary", np.where(cell_sup, "secondary", np.where(e_sup, "earnings", "")))
    out["suppressed"] = reason
    out = out.drop(columns=[x for x in (payers, top_share) if x in out])
    if rules.rounding and rules.rounding > 1:
        b = rules.rounding
        for col in [count, *count_columns]:
            if col in out:
                out[col] = np.round(out[col] / b) * b
    notes = []
    if cell_sup.any():
        notes.append(f"{int(cell_primary.sum())} cell(s) under {rules.min_count} persons suppressed, "
                     f"{int((cell_sup & ~cell_primary).sum())} more to protect them from subtraction")
    if e_sup.any():
        notes.append(f"earnings withheld in {int(e_sup.sum())} cell(s) (fewer than {rules.min_payers} payers or "
                     f"one payer above {rules.dominance:.0%} of the sum, or to protect such cells)")
    return ProtectedTable(table=out, n_primary=int(cell_primary.sum()), n_secondary=int((cell_sup & ~cell_primary).sum()),
                          n_earnings=int(e_sup.sum()), notes=notes)


def protect_curves(df: pd.DataFrame, group: str, at_risk: str = "n_at_risk", rules: DisclosureRules | None = None,
                   name: str = "figure data") -> pd.DataFrame:
    """Disclosure control for figure data (curves by group).

    Points whose risk set (or cell) has fewer than ``min_count`` persons are dropped, so a
    curve ends where it would describe fewer than the minimum; identifier columns refused.
    """
    rules = rules or DisclosureRules()
    check_no_identifiers(df, name)
    if at_risk not in df:
        raise DisclosureError(f"{name}: column {at_risk!r} with the number of persons behind each point is missing")
    keep = df[at_risk].to_numpy() >= rules.min_count
    return df.loc[keep].reset_index(drop=True)


def round_counts(x: np.ndarray | pd.Series, base: int) -> np.ndarray:
    """Round counts to the nearest multiple of ``base`` (no-op for base <= 1)."""
    x = np.asarray(x, dtype=float)
    return x if base <= 1 else np.round(x / base) * base
