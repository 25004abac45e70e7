"""Statistical disclosure control: the one module every published number passes through.

Rules (the data permit; Statistics Finland FIONA output checking, ``reference/domain.md`` §5;
thresholds in :mod:`impact.permit`, set by ``[disclosure]``):

* **persons, not rows**: a cell is counted in DISTINCT PERSONS (and an earnings cell also in
  distinct payers), never in spells, risk-set rows or reports. A table to publish comes as a
  :class:`Publication`: its values plus the persons behind each cell (``members``);
* **threshold and complement**: every number whose cell has fewer than ``min_cell`` persons is
  suppressed; so is every share, sub-count, mean or curve point whose part of the cell or
  whose complement in its row is under the minimum (placed and not placed, events and
  non-events, employed and unemployed, treated and comparison persons): a share of 0 of 16
  or 16 of 16 discloses every member's outcome;
* **earnings**: at least ``min_payers`` distinct payers and no payer above ``dominance`` of the
  cell's sum;
* **secondary suppression**: totals are assumed known to an attacker; further cells are
  suppressed until no suppressed value follows from the published ones
  (:mod:`impact.report.suppression`). A flow of exclusions is published with the same rule:
  a small difference becomes a suppressed pair, not two exact totals (:func:`disclose_flow`);
* **rounding** of published counts to a base (optional);
* **no identifiers**: a table with a person-level identifier column is refused outright.

:func:`disclose` returns the published frame, the marks of every value (``..`` suppressed by
disclosure control, ``–`` not defined, ``.`` no observations) and ``cells``: the persons
behind each published cell (table, cell, person_id), kept in memory for the differencing
ledger and never written to the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import polars as pl

from impact.errors import ConfigError, DisclosureError
from impact.options import option
from impact.permit import MAX_DOMINANCE, MIN_CELL, MIN_PAYERS
from impact.report.suppression import linear_suppression, secondary_suppression

#: Columns that identify persons, spells, reports or payers; never published.
IDENTIFIER_COLUMNS = frozenset({
    "person_id", "service_id", "spell_id", "report_id", "report_ref", "payer_id", "unit_id", "hetu",
    "ssn", "henkilotunnus", "employer_id", "y_tunnus",
})
TOTAL = "Total"
SUPPRESSED, UNDEFINED, EMPTY = "..", "\u2013", "."
#: The marks of a published value and what they mean (the legend under every table).
MARKS = {SUPPRESSED: "suppressed", UNDEFINED: "undefined", EMPTY: "empty"}
CELL = "cell"
# the persons behind published cells (:func:`_published_cells`, the differencing ledger's input)
CELLS_SCHEMA = {"table": pl.Categorical, "cell": pl.Categorical, "person_id": pl.Int64}


@dataclass(frozen=True)
class DisclosureRules:
    """``[disclosure]``: the thresholds of disclosure control (defaults: the data permit's rules).

    Weaker values than the permit's (:mod:`impact.permit`) are refused unless ``override_reason``
    says why; the report prints the reason.
    """

    min_cell: int = option(MIN_CELL, "Smallest number of distinct persons behind a published number (and behind "
                           "its complement in the row: placed and not placed, employed and not employed).",
                           kind="int", lo=3, hi=1000)
    min_payers: int = option(MIN_PAYERS, "Earnings cells: smallest number of distinct payers.", kind="int", lo=1,
                             hi=100)
    dominance: float = option(MAX_DOMINANCE, "Earnings cells: largest share of the cell's earnings one payer may "
                              "hold.", kind="float", lo=0.5, hi=1.0)
    rounding: int = option(0, "Round published counts to this base (0: no rounding).", kind="int", lo=0, hi=100)
    override_reason: str | None = option(None, "Why weaker rules than the permit's are used (required for them; "
                                         "printed in the report).", kind="str", informational=True)

    def check(self, path: str) -> None:
        weaker = []
        if self.min_cell < MIN_CELL:
            weaker.append(f"{path}.min_cell = {self.min_cell} (permit: at least {MIN_CELL})")
        if self.min_payers < MIN_PAYERS:
            weaker.append(f"{path}.min_payers = {self.min_payers} (permit: at least {MIN_PAYERS})")
        if self.dominance > MAX_DOMINANCE:
            weaker.append(f"{path}.dominance = {self.dominance} (permit: at most {MAX_DOMINANCE})")
        if weaker and not (self.override_reason or "").strip():
            raise ConfigError(f"{'; '.join(weaker)} is below the data permit's rules: refused unless "
                              f"{path}.override_reason = \"...\" says why (the report prints it)")
        if self.override_reason is not None and not weaker:
            raise ConfigError(f"{path}.override_reason is given but every rule meets the permit: remove it")


@dataclass(frozen=True)
class Group:
    """Value columns published together and the parts of the cell they rest on.

    ``parts``: each must hold at least ``min_cell`` distinct persons (e.g. ``placed_6m`` and
    ``not_placed_6m`` for the share placed at 6 months: the part and its complement).
    ``count``: the additive count behind the group for secondary suppression (default: the
    table's count). ``earnings``: the payer rules apply (needs ``Publication.payers``).
    ``obs``: the part whose absence means "no observations" (mark ``.``). ``rows``: a boolean
    column of the frame (named ``_...``, never published) selecting the rows the group's rules
    apply to (e.g. the earnings estimates among all estimates).
    """

    columns: tuple[str, ...]
    parts: tuple[str, ...] = ()
    count: str | None = None
    earnings: bool = False
    obs: str | None = None
    rows: str | None = None  # a boolean frame column: the rows this group's rules apply to (None: all)


@dataclass(frozen=True)
class Publication:
    """A table (or figure data) to publish, with the persons behind each of its cells.

    Attributes
    ----------
    frame : one row per cell: the key columns (``slices`` and ``dims``; margins carry
        :data:`TOTAL` in a dimension) and the values.
    dims : zero, one or two dimension columns with margins (secondary suppression runs over them).
    slices : columns splitting the frame into independent tables (e.g. horizon, outcome).
    count : additive count column of each cell (units; the margin equations); None: no margins.
    members : polars ``key columns (as strings), part, person_id``: the persons behind each
        cell (part ``"cell"``) and each part of it.
    part_counts : polars ``key columns, part, n``: distinct persons of parts not in ``members``.
    groups : value columns with their own parts (shares, means, sub-counts).
    payers : polars ``key columns, payer_id, amount``: the payers behind earnings groups.
    keep : columns never suppressed (labels, months; they describe no person).
    kind : ``"table"``; ``"curve"`` (points, no margins); ``"step_curve"`` (Kaplan-Meier: a point
        is kept only when at least ``min_cell`` persons had their event since the last kept one;
        the last slice is the time axis, the others name the curve; the first part of a group
        counts the events, any further part must hold ``min_cell`` at every point, e.g. the
        curve's residual degrees of freedom).
    """

    name: str
    frame: pd.DataFrame
    dims: tuple[str, ...] = ()
    slices: tuple[str, ...] = ()
    count: str | None = None
    members: pl.DataFrame | None = None
    part_counts: pl.DataFrame | None = None
    groups: tuple[Group, ...] = ()
    payers: pl.DataFrame | None = None
    keep: tuple[str, ...] = ()
    kind: str = "table"
    counts: tuple[str, ...] = ()  # further count columns (rounded like ``count``)

    @property
    def keys(self) -> list[str]:
        return [*self.slices, *self.dims]


@dataclass(frozen=True)
class Disclosed:
    """A publication after disclosure control.

    ``frame``: the publishable values (suppressed: NaN); ``marks``: for every value column the
    mark of each row (``""`` published, ``..``, ``–``, ``.``); ``cells``: the persons behind each
    published cell (``table``, ``cell``, ``person_id``; memory only, never written).
    """

    name: str
    frame: pd.DataFrame
    marks: pd.DataFrame
    cells: pl.DataFrame = field(repr=False)
    notes: tuple[str, ...] = ()
    n_suppressed: int = 0

    def mark(self, row: int, column: str) -> str:
        return self.marks[column].iloc[row] if column in self.marks else ""


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
# Members: the persons behind the cells
# ---------------------------------------------------------------------------------------


def cell_members(units: pl.DataFrame, dims: list[str], parts: dict[str, pl.Expr] | None = None,
                 total: bool = True, person: str = "person_id") -> pl.DataFrame:
    """The persons behind each cell of a group-by table of ``units`` (and its :data:`TOTAL` margin).

    ``parts`` maps a part name to a boolean expression over ``units`` (e.g. ``placed_6m`` ->
    ``pl.col("placed_6m") == True``); every unit is in part ``"cell"``. Returns the dims (as
    strings, nulls as ``"(unknown)"``), ``part`` and ``person_id``, one row per distinct person.
    """
    parts = {CELL: pl.lit(True), **(parts or {})}
    u = units.select(*[pl.col(d).cast(pl.String).fill_null("(unknown)") for d in dims], pl.col(person).alias("person_id"),
                     *[e.fill_null(False).alias(f"_part_{k}") for k, e in parts.items()])
    levels = [u]
    if total and dims:
        levels += [u.with_columns(pl.lit(TOTAL).alias(d)) for d in dims] if len(dims) == 1 else [
            u.with_columns(pl.lit(TOTAL).alias(dims[0])), u.with_columns(pl.lit(TOTAL).alias(dims[1])),
            u.with_columns(pl.lit(TOTAL).alias(dims[0]), pl.lit(TOTAL).alias(dims[1]))]
    long = pl.concat(levels).unpivot(index=[*dims, "person_id"], on=[f"_part_{k}" for k in parts],
                                     variable_name="part", value_name="_in")
    return (long.filter(pl.col("_in")).with_columns(pl.col("part").str.strip_prefix("_part_"))
            .select(*dims, "part", "person_id").unique())


def _norm(v) -> str:
    """A key value as text: missing as ``(unknown)``, whole numbers without a decimal part (3.0 and "3.0" -> "3")."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "(unknown)"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    s = str(v)
    return s[:-2] if s.endswith(".0") and s[:-2].lstrip("-").isdigit() else s


def _key_strings(df: pd.DataFrame | pl.DataFrame, keys: list[str]) -> list[str]:
    """The key of each row (``col=value|col=value``), the same for a frame and for its members."""
    if isinstance(df, pl.DataFrame):
        cols = [df[k].to_list() for k in keys]
    else:
        cols = [df[k].tolist() for k in keys]
    return ["|".join(f"{k}={_norm(v)}" for k, v in zip(keys, vals)) for vals in zip(*cols)] if keys else [""] * len(df)


def _key_expr(keys: list[str]) -> pl.Expr:
    """The key string of :func:`_key_strings` as a polars expression (vectorised over members)."""
    if not keys:
        return pl.lit("")
    return pl.concat_str([pl.lit(f"{k}=") + pl.col(k).cast(pl.String).fill_null("(unknown)")
                          .str.replace(r"^(-?\d+)\.0$", "${1}") for k in keys], separator="|")


def _part_counts(pub: Publication) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    keys = pub.keys
    if pub.members is not None and pub.members.height:
        c = pub.members.group_by([*keys, "part"]).agg(pl.col("person_id").n_unique().alias("n"))
        for k, p, n in zip(_key_strings(c, keys), c["part"].to_list(), c["n"].to_list()):
            out[(k, p)] = int(n)
    if pub.part_counts is not None and pub.part_counts.height:
        c = pub.part_counts
        for k, p, n in zip(_key_strings(c, keys), c["part"].to_list(), c["n"].to_list()):
            out[(k, p)] = int(n)
    return out


def _payer_rule(pub: Publication, rules: DisclosureRules) -> dict[tuple[str, str | None], bool]:
    """(key, part) -> True where the earnings of the cell break the payer rules (part None when the
    payers frame has no ``part`` column)."""
    if pub.payers is None:
        return {}
    keys = pub.keys
    by = [*keys, "part"] if "part" in pub.payers.columns else keys
    per = pub.payers.group_by([*by, "payer_id"]).agg(pl.col("amount").sum())
    agg = per.group_by(by if by else pl.lit(1)).agg(n=pl.len(), top=pl.col("amount").max(), tot=pl.col("amount").sum())
    bad = (agg["n"] < rules.min_payers) | (agg["top"] > rules.dominance * agg["tot"])
    parts = agg["part"].to_list() if "part" in agg.columns else [None] * agg.height
    return dict(zip(zip(_key_strings(agg, keys), parts), bad.to_list()))


# ---------------------------------------------------------------------------------------
# Disclosure of a publication
# ---------------------------------------------------------------------------------------


def _grid_pattern(frame: pd.DataFrame, dims: tuple[str, ...], counts: np.ndarray, primary: np.ndarray) -> np.ndarray:
    """Secondary suppression of one slice over its dims (margins labelled TOTAL)."""
    if not dims or not primary.any():
        return primary.copy()
    levels = []
    for d in dims:
        vals = [v for v in pd.unique(frame[d]) if v != TOTAL]
        levels.append(vals + [TOTAL])
    r = frame[dims[0]].map({v: i for i, v in enumerate(levels[0])}).to_numpy().astype(int)
    c = (frame[dims[1]].map({v: i for i, v in enumerate(levels[1])}).to_numpy().astype(int) if len(dims) == 2
         else np.zeros(len(frame), int))
    shape = (len(levels[0]), len(levels[1]) if len(dims) == 2 else 1)
    grid_n, present, prim = np.zeros(shape), np.zeros(shape, bool), np.zeros(shape, bool)
    grid_n[r, c], present[r, c], prim[r, c] = counts, True, primary
    if len(dims) == 1 and not present[-1, 0]:
        grid_n[-1, 0] = grid_n[:-1, 0].sum()
    elif len(dims) == 2:
        grid_n[:-1, -1] = np.where(~present[:-1, -1], grid_n[:-1, :-1].sum(1), grid_n[:-1, -1])
        grid_n[-1, :-1] = np.where(~present[-1, :-1], grid_n[:-1, :-1].sum(0), grid_n[-1, :-1])
        if not present[-1, -1]:
            grid_n[-1, -1] = grid_n[:-1, :-1].sum()
    sup = secondary_suppression(grid_n, prim & present, present) & present
    return sup[r, c]


def _sliced(frame: pd.DataFrame, slices: tuple[str, ...]) -> list[np.ndarray]:
    if not slices:
        return [np.arange(len(frame))]
    return [np.asarray(ix) for ix in frame.groupby(list(slices), sort=False, dropna=False).indices.values()]


def _steps_kept(events: np.ndarray, at_risk: np.ndarray, m: int) -> np.ndarray:
    """Kaplan-Meier points to keep: the first, then each point with at least ``m`` events since the last
    kept one, counted both up to the point and before it (the survival ratio and the at-risk difference
    of two published points each reveal one of those sums), and ``m`` still at risk."""
    cum = np.cumsum(events)
    before = cum - events  # events before each point
    keep = np.zeros(len(events), bool)
    if not len(events) or at_risk[0] < m:
        return keep
    keep[0], last = True, 0
    while True:  # one step per kept point (at most events / m of them)
        i = max(int(np.searchsorted(cum, cum[last] + m)), int(np.searchsorted(before, before[last] + m)), last + 1)
        if i >= len(events) or at_risk[i] < m:
            return keep
        keep[i], last = True, i


def disclose(pub: Publication, rules: DisclosureRules) -> Disclosed:
    """Apply disclosure control to one publication (see the module docstring for the rules).

    Raises
    ------
    DisclosureError
        For identifier columns, duplicated cells, or an earnings group without payers.
    """
    df = pub.frame.reset_index(drop=True).copy()
    check_no_identifiers(df, pub.name)
    keys = pub.keys
    for col in keys:
        if col not in df:
            raise DisclosureError(f"{pub.name}: key column {col!r} missing (have {', '.join(map(str, df.columns))})")
    if keys and df.duplicated(keys).any():
        dup = df.loc[df.duplicated(keys, keep=False), keys].head(3).to_dict("records")
        raise DisclosureError(f"{pub.name}: more than one row per cell of {keys}, e.g. {dup}")
    if any(g.earnings for g in pub.groups) and pub.payers is None:
        raise DisclosureError(f"{pub.name}: an earnings value needs the payers behind it (Publication.payers)")
    m = rules.min_cell
    kstr = _key_strings(df, keys)
    counts = _part_counts(pub)
    n_cell = np.array([counts.get((k, CELL), 0) for k in kstr], float)
    value_cols = [c for c in df.columns if c not in keys and c not in pub.keep and not str(c).startswith("_")]
    grouped = {c for g in pub.groups for c in g.columns}
    n = len(df)
    cell_primary = (n_cell < m) & ~((n_cell == 0) & df[value_cols].isna().all(axis=1).to_numpy()) if n else np.zeros(0, bool)
    base_count = (df[pub.count].to_numpy(float) if pub.count else n_cell)
    cell_sup = np.zeros(n, bool)
    for ix in _sliced(df, pub.slices):
        dims = pub.dims if pub.kind == "table" and pub.count else ()
        cell_sup[ix] = _grid_pattern(df.iloc[ix], dims, base_count[ix], cell_primary[ix])
    payer_bad = _payer_rule(pub, rules)
    group_sup: dict[int, np.ndarray] = {}
    for gi, g in enumerate(pub.groups):
        prim = cell_sup.copy()
        for p in g.parts:
            prim |= np.array([counts.get((k, p), 0) < m for k in kstr], bool)
        if g.earnings:
            part = g.parts[0] if pub.payers is not None and "part" in pub.payers.columns else None
            prim |= np.array([payer_bad.get((k, part), True) for k in kstr], bool)
        if g.rows is not None:
            prim = np.where(df[g.rows].to_numpy(bool), prim, cell_sup)
        if pub.kind == "step_curve":
            ev = np.array([counts.get((k, g.parts[0]), 0) for k in kstr], float) if g.parts else np.zeros(n)
            risk = n_cell
            keep = np.zeros(n, bool)
            for ix in _sliced(df, pub.slices[:-1]):  # one curve per group, its points in time order
                ix = ix[np.argsort(df[pub.slices[-1]].to_numpy()[ix], kind="stable")]
                keep[ix] = _steps_kept(ev[ix], risk[ix], m)
            prim = cell_sup | ~keep
            for p in g.parts[1:]:  # further parts of the whole curve (its residual degrees of freedom)
                prim |= np.array([counts.get((k, p), 0) < m for k in kstr], bool)
        gcount = df[g.count].to_numpy(float) if g.count else base_count
        sup = np.zeros(n, bool)
        for ix in _sliced(df, pub.slices):
            dims = pub.dims if pub.kind == "table" and (g.count or pub.count) else ()
            sup[ix] = _grid_pattern(df.iloc[ix], dims, gcount[ix], prim[ix])
        group_sup[gi] = sup
    # values and marks
    marks = pd.DataFrame("", index=df.index, columns=value_cols)
    for c in value_cols:
        hide = cell_sup.copy()
        for gi, g in enumerate(pub.groups):
            if c in g.columns:
                hide |= group_sup[gi]
        if c not in grouped and pub.kind == "step_curve":
            hide |= np.logical_or.reduce([group_sup[gi] for gi in group_sup]) if group_sup else False
        isna = df[c].isna().to_numpy()
        empty = np.zeros(n, bool)
        for g in pub.groups:
            if c in g.columns and g.obs:
                empty = np.array([counts.get((k, g.obs), 0) == 0 for k in kstr], bool)
        marks[c] = np.where(hide, SUPPRESSED, np.where(isna & (empty | (n_cell == 0)), EMPTY,
                                                       np.where(isna, UNDEFINED, "")))
        if hide.any():
            if pd.api.types.is_numeric_dtype(df[c]):
                df[c] = df[c].astype(float)
            else:
                df[c] = df[c].astype(object)
            df.loc[hide, c] = np.nan
    if rules.rounding and rules.rounding > 1:
        b = rules.rounding
        for c in {pub.count, *pub.counts, *(g.count for g in pub.groups)} - {None}:
            if c in df:
                df[c] = np.round(df[c].astype(float) / b) * b
    df = df.drop(columns=[c for c in df.columns if str(c).startswith("_")])
    cells = _published_cells(pub, kstr, cell_sup, group_sup)
    n_sup = int((marks == SUPPRESSED).to_numpy().sum())
    notes = []
    if cell_sup.any():
        notes.append(f"{int(cell_primary.sum())} cell(s) under {m} persons suppressed, "
                     f"{int((cell_sup & ~cell_primary).sum())} more to protect them from subtraction")
    partial = sum(int((s & ~cell_sup).sum()) for s in group_sup.values())
    if partial:
        notes.append(f"{partial} further value group(s) withheld: a share, mean or sub-count resting on fewer than "
                     f"{m} persons (or its complement), an earnings cell with fewer than {rules.min_payers} payers or "
                     f"one payer above {rules.dominance:.0%}, or protecting such values")
    return Disclosed(name=pub.name, frame=df, marks=marks, cells=cells, notes=tuple(notes), n_suppressed=n_sup)


def _published_cells(pub: Publication, kstr: list[str], cell_sup: np.ndarray,
                     group_sup: dict[int, np.ndarray]) -> pl.DataFrame:
    """``table, cell, person_id`` of every published cell and published part (for the differencing ledger),
    each person once per cell.

    ``table`` and ``cell`` are categorical: a national study publishes some 70 million person-cells,
    whose key strings would take several GiB (the key of each cell is made once, not once per person).
    """
    if pub.members is None or not pub.members.height:
        return pl.DataFrame(schema=CELLS_SCHEMA)
    hidden = cell_sup.copy()
    if pub.kind == "step_curve" and group_sup:  # a Kaplan-Meier point shows nothing unless it is kept
        hidden |= np.logical_or.reduce(list(group_sup.values()))
    shown_parts = {(k, CELL) for k, s in zip(kstr, hidden) if not s}
    for gi, g in enumerate(pub.groups):
        shown_parts |= {(k, p) for k, s in zip(kstr, group_sup[gi]) if not s for p in g.parts}
    shown = sorted(shown_parts)
    ok = pl.DataFrame({"_k": [k for k, _ in shown], "part": [p for _, p in shown],
                       "cell": [k if p == CELL else f"{k}|part={p}" for k, p in shown]},
                      schema={"_k": pl.String, "part": pl.String, "cell": pl.String})
    # the members' distinct key values get their key string; the members then join on those columns
    combos = pub.members.select(*pub.keys, "part").unique().with_columns(_k=_key_expr(pub.keys))
    combos = combos.join(ok, on=["_k", "part"]).select(*pub.keys, "part", pl.col("cell").cast(pl.Categorical))
    out = pub.members.join(combos, on=[*pub.keys, "part"], nulls_equal=True)
    return out.select(pl.lit(pub.name).cast(pl.Categorical).alias("table"), "cell",
                      pl.col("person_id").cast(pl.Int64)).unique()


# ---------------------------------------------------------------------------------------
# Flows of exclusions
# ---------------------------------------------------------------------------------------


def disclose_flow(name: str, steps: pd.DataFrame, members: pl.DataFrame, rules: DisclosureRules) -> Disclosed:
    """A flow of exclusions (``steps``: units, persons left and removed_units, removed_persons,
    affected_persons per step) under the same rule as a table.

    A step that removes units of fewer than ``min_cell`` persons (but some) has its removed
    counts suppressed, and so many more counts that none follows from ``left before = left
    after + removed``. The first and the last counts left are taken as known (the registers'
    sizes and the sample's size are published elsewhere), so the small difference becomes a
    suppressed pair of steps, never two exact totals. Counts left under ``min_cell`` persons
    are suppressed too.
    """
    d = steps.reset_index(drop=True).copy()
    m = rules.min_cell
    k = len(d)
    out = d.copy()
    marks = pd.DataFrame("", index=d.index, columns=["units", "persons", "removed_units", "removed_persons"])
    affected = d["affected_persons"].to_numpy(float)
    small_left = d["persons"].to_numpy(float) < m
    small_rem = (affected > 0) & (affected < m)
    eqs = []
    for i in range(1, k):
        e = np.zeros(2 * k)
        e[i - 1], e[i], e[k + i] = 1.0, -1.0, -1.0
        eqs.append(e)
    eqs_a = np.array(eqs) if eqs else np.zeros((0, 2 * k))
    known = np.zeros(2 * k, bool)
    known[0] = known[k - 1] = True
    known[k] = True  # the first step removes nothing
    known[:k] &= ~small_left
    pattern = None
    for left, rem in (("units", "removed_units"), ("persons", "removed_persons")):
        vals = np.r_[d[left].to_numpy(float), d[rem].to_numpy(float)]
        prim = np.r_[small_left, small_rem]
        sup = linear_suppression(vals, prim if pattern is None else prim | pattern, eqs_a, known)
        pattern = sup if pattern is None else pattern | sup
    for left, rem in (("units", "removed_units"), ("persons", "removed_persons")):
        for col, s in ((left, pattern[:k]), (rem, pattern[k:])):
            out[col] = out[col].astype(float)
            out.loc[s, col] = np.nan
            marks.loc[s, col] = SUPPRESSED
    if rules.rounding and rules.rounding > 1:
        for c in ("units", "persons", "removed_units", "removed_persons"):
            out[c] = np.round(out[c] / rules.rounding) * rules.rounding
    ok_steps = [int(s) for s, v in zip(out["step"], ~pattern[:k]) if v]
    ok_removed = [int(s) for s, v in zip(out["step"], ~pattern[k:]) if v]
    cells = members.filter(((pl.col("part") == "left") & pl.col("step").is_in(ok_steps)) |
                           ((pl.col("part") == "removed") & pl.col("step").is_in(ok_removed)))
    keys = cells.select("step", "part").unique().with_columns(
        (pl.lit("step=") + pl.col("step").cast(pl.String) + pl.lit("|part=") + pl.col("part"))
        .cast(pl.Categorical).alias("cell"))  # one key string per cell, not per person
    cells = cells.join(keys, on=["step", "part"]).select(pl.lit(name).cast(pl.Categorical).alias("table"), "cell",
                                                         pl.col("person_id").cast(pl.Int64)).unique()
    n_sup = int((marks == SUPPRESSED).to_numpy().sum())
    notes = (f"{n_sup} count(s) suppressed: a step that removes fewer than {m} persons is shown as a suppressed pair "
             "with another step",) if n_sup else ()
    return Disclosed(name=name, frame=out.drop(columns=["affected_persons"]), marks=marks, cells=cells, notes=notes,
                     n_suppressed=n_sup)
