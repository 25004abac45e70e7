"""Validation of register folders against the data contracts.

:func:`validate_folder` checks a folder of Parquet/CSV files, :func:`validate_tables` a dict
of in-memory tables. Every problem found is reported (not only the first), each a
:class:`Problem` naming the file, the column, the first offending ids and what was
expected. Errors break the contracts of :mod:`impact.registers.schema`; warnings flag
what is legal but notable (ongoing spells, persons with earnings but no job-seeking spell).

Checks: missing file or column, wrong dtype, unparseable CSV value, null in a required
column, code not in its code list, non-finite number, duplicate key, end before start
(every ``date_ranges`` pair), overlapping job-seeking spells of one person, person missing
from ``persons``, negative service cost, negative earnings on a non-recovery row, action
and version that disagree, a replacement or cancellation whose ``report_ref`` has no
original; for the optional brokerage tables, links to tables that must hold the id
(:data:`~impact.registers.schema.FOREIGN_KEYS`: an offer's vacancy and search, a search's
vacancy; a vacancy's employer in ``payers`` is a warning; a link whose table is absent is
reported as not checked) and a negative ``persons_proposed``.

Checks that keep bad inputs from silently skewing results (issue 17; ``docs/disclosure.md``
§3): values outside the plausibility bounds of :mod:`impact.registers.schema` (amounts,
costs, birth years, every date within 1950..2100), rows dated after the extraction date of
the delivery (``delivery.toml``, :mod:`impact.registers.delivery`; errors, or warnings with
``after_extraction = "drop"``), persons born after it, the same Incomes Register report
(payer, report reference, version) under several report ids, one version submitted with two
actions, and area codes unknown to the delivery's ``areas`` classification (or, without it,
a municipality assigned to several employment areas).

Speed (1M persons, 73M earnings rows: about 15 s of CPU, under 1 GiB): each table is
scanned lazily with the streaming engine and all its row checks are counted in one pass;
only failing checks are scanned again for example ids. Null checks are skipped for Parquet
columns whose footer statistics prove them null-free. A key that strictly increases row by
row is unique, which a cheap streaming pass proves for files written in key order (the
hash-based duplicate search runs only otherwise). Overlaps are found by sorting spells by
person and start and comparing each start with the latest earlier end of the same person.
Replacements are matched to originals by streaming the table through an ``is_in`` filter
on the few later versions' refs. CSV text is parsed once and kept in memory. Validation
never raises a polars error: read failures become ``unreadable_file`` problems.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from impact.errors import RegisterValidationError
from impact.registers.read import (
    ID_COLUMNS,
    READ_ERRORS,
    ColumnPlan,
    Problem,
    expected_text,
    find_table_file,
    first_line,
    parquet_null_free,
    plan_columns,
    scan_raw,
    typed_exprs,
)
from impact.errors import ConfigError
from impact.registers.delivery import AFTER_EXTRACTION, DELIVERY_FILE, read_delivery
from impact.registers.schema import (
    AREA_COLUMNS,
    BIRTH_YEAR_MAX,
    CONTRACTS,
    DATE_MAX,
    DATE_MIN,
    FOREIGN_KEYS,
    TableContract,
)

__all__ = ["Problem", "ValidationReport", "validate_folder", "validate_tables"]

N_EXAMPLES = 5


# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------


@dataclass
class TableInfo:
    """What was found for one table: its file (None: absent) and row count (None: not read)."""

    name: str
    file: str | None
    n_rows: int | None = None


@dataclass
class ValidationReport:
    """Every problem found in a register folder (or a dict of tables).

    ``ok`` is true when there are no errors (warnings allowed).
    """

    source: str
    tables: dict[str, TableInfo] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """Readable text: row counts per table, then errors and warnings grouped by file."""
        lines = [f"Register folder: {self.source}", "Tables:"]
        width = max([len(n) for n in self.tables] + [5])
        fwidth = max([len(t.file or "") for t in self.tables.values()] + [5])
        for name, info in self.tables.items():
            if info.file is None:
                required = CONTRACTS[name].required if name in CONTRACTS else True
                status = "MISSING" if required else "absent (optional)"
                lines.append(f"  {name:<{width}}  {status}")
            else:
                rows = f"{info.n_rows:>12,} rows" if info.n_rows is not None else "  not read"
                lines.append(f"  {name:<{width}}  {info.file:<{fwidth}} {rows}")
        n_err, n_warn = len(self.errors), len(self.warnings)
        verdict = "OK" if self.ok else "FAILED"
        lines.append(f"Result: {verdict}: {n_err} error(s), {n_warn} warning(s) ({self.seconds:.1f} s)")
        for title, probs in (("Errors", self.errors), ("Warnings", self.warnings)):
            if not probs:
                continue
            lines.append(f"{title}:")
            by_file: dict[str, list[Problem]] = {}
            for p in probs:
                by_file.setdefault(p.file, []).append(p)
            for file, group in by_file.items():
                lines.append(f"  {file}")
                for p in group:
                    lines.append(f"    - {str(p)[len(file) + 2:]}")
        return "\n".join(lines)

    def raise_if_errors(self) -> None:
        """Raise one :class:`RegisterValidationError` carrying every error."""
        if not self.ok:
            raise RegisterValidationError(
                f"{self.source} does not meet the register data contracts: {len(self.errors)} error(s)\n"
                + "\n".join(f"  - {p}" for p in self.errors),
                self.errors,
            )

    def __str__(self) -> str:
        return self.summary()


@dataclass(frozen=True)
class _Options:
    """Checks that depend on the delivery: the extraction date and what to do with rows after it."""

    extraction_date: dt.date | None = None
    origin: str = ""  # where the date came from, for messages
    after_extraction: str = "error"


# ---------------------------------------------------------------------------------------
# Tables prepared for checking
# ---------------------------------------------------------------------------------------


@dataclass
class _Table:
    """One table ready for checks: typed lazy frame with conversion flags and raw copies."""

    name: str
    contract: TableContract
    file: str
    lf: pl.LazyFrame
    usable: set[str]
    plans: list[ColumnPlan]
    null_free: set[str] = field(default_factory=set)  # proven null-free by Parquet statistics

    @property
    def id_column(self) -> str:
        col = ID_COLUMNS[self.name]
        return col if col in self.usable else "row"


def _unreadable(table: str, file: str, exc: BaseException) -> Problem:
    return Problem(table, file, None, "unreadable_file", f"cannot read the file: {first_line(exc)}")


def _flag(name: str) -> str:
    return f"__failed_{name}"


def _raw(name: str) -> str:
    return f"__raw_{name}"


def _prepare(name: str, raw: pl.LazyFrame, fmt: str, file: str,
             null_free: set[str] | None = None) -> tuple[_Table | None, list[Problem]]:
    contract = CONTRACTS[name]
    try:
        schema = dict(raw.collect_schema())
    except READ_ERRORS as e:
        return None, [_unreadable(name, file, e)]
    plans, problems = plan_columns(contract, schema, fmt, file)
    exprs = typed_exprs(plans, contract, schema)
    for p in plans:
        if p.failed is not None and p.expr is not None:
            # the stored value is kept only where conversion failed (to show it in the message)
            exprs += [p.failed.alias(_flag(p.column.name)),
                      pl.when(p.failed).then(pl.col(p.column.name)).alias(_raw(p.column.name))]
    usable = {p.column.name for p in plans if p.expr is not None}
    lf = raw.select(exprs)
    if fmt == "csv":  # parse the text once, not once per pass
        try:
            lf = lf.collect().lazy()
        except READ_ERRORS as e:
            return None, problems + [_unreadable(name, file, e)]
    return _Table(name, contract, file, lf, usable, plans, null_free or set()), problems


# ---------------------------------------------------------------------------------------
# Row checks
# ---------------------------------------------------------------------------------------


@dataclass
class _Check:
    kind: str
    column: str | None
    cond: pl.Expr  # true on offending rows
    message: str
    severity: str = "error"
    values: pl.Expr | None = None  # offending values shown in the message


def _codes_text(codes: tuple) -> str:
    shown = [repr(c) if isinstance(c, str) else str(c) for c in codes]
    if len(shown) > 16:
        shown = shown[:14] + ["...", shown[-1]]
    return ", ".join(shown)


def _not_increasing(key: tuple[str, ...]) -> pl.Expr:
    """True where the key is not strictly above the previous row's (lexicographic order).

    Always true on the first row (no previous row) and where a key is null.
    """
    above = pl.lit(False)
    equal = pl.lit(True)
    for k in key:
        c, prev = pl.col(k), pl.col(k).shift(1)
        above = above | (equal & (c > prev))
        equal = equal & (c == prev)
    return ~above.fill_null(False)


def _duplicate_keys(t: _Table) -> list[Problem]:
    """Rows whose contract key is not unique.

    A key that strictly increases from row to row is unique: a cheap streaming pass proves
    it for files written in key order (a shift, run on its own: mixed into the main pass
    it keeps every column in memory). Otherwise the keys are grouped and counted.
    """
    key = list(t.contract.key)
    if not key or not set(key) <= t.usable:
        return []
    unordered = t.lf.select(_not_increasing(tuple(key)).sum()).collect(engine="streaming").item()
    if unordered <= 1:
        return []
    dups = (t.lf.filter(pl.all_horizontal(pl.col(key).is_not_null()))
            .group_by(key).agg(pl.len().alias("__n")).filter(pl.col("__n") > 1)
            .collect(engine="streaming").sort(key))
    if dups.height == 0:
        return []
    id_col = t.id_column
    if id_col in key:
        ids = dups.get_column(id_col).unique(maintain_order=True).head(N_EXAMPLES).to_list()
    else:
        base = t.lf.with_row_index("row", offset=1) if id_col == "row" else t.lf
        ids = (base.join(dups.head(N_EXAMPLES).lazy(), on=key, how="semi").select(id_col)
               .unique(maintain_order=True).head(N_EXAMPLES).collect().to_series().to_list())
    return [Problem(t.name, t.file, ", ".join(key), "duplicate_key",
                    f"duplicate key ({', '.join(key)}); each must identify one {t.contract.row}",
                    tuple(ids), int(dups.get_column("__n").sum()), "error", id_col)]


def _fmt(v: object) -> str:
    return f"{v:,.0f}" if isinstance(v, float) else str(v)


def _bound_checks(t: _Table, opts: _Options) -> list[_Check]:
    """Plausibility bounds of numbers and dates, and dates after the extraction date."""
    checks: list[_Check] = []
    x = opts.extraction_date
    for col in t.contract.columns:
        if col.name not in t.usable:
            continue
        c = pl.col(col.name)
        if isinstance(col.dtype, pl.Date):
            checks.append(_Check("date_out_of_range", col.name, (c < DATE_MIN) | (c > DATE_MAX),
                                 f"dates outside {DATE_MIN} .. {DATE_MAX}; expected a real date (an unknown date "
                                 "is empty, not a placeholder)", values=c))
            if x is not None and not col.may_follow_extraction:
                drop = opts.after_extraction == "drop"
                checks.append(_Check(
                    "after_extraction", col.name, (c > x) & (c <= DATE_MAX),
                    f"dated after the extraction date {x} ({opts.origin}); "
                    + ("left out of the outcomes and counted (after_extraction = 'drop')" if drop else
                       "expected dates up to the extraction date (or set after_extraction = 'drop' to leave "
                       "these rows out and count them)"),
                    severity="warning" if drop else "error", values=c))
        elif col.bounds is not None:
            lo, hi = col.bounds
            cond = pl.lit(False)
            if lo is not None:
                cond = cond | (c < lo)
            if hi is not None:
                cond = cond | (c > hi)
            rng = f"{_fmt(lo) if lo is not None else ''} .. {_fmt(hi) if hi is not None else ''}".strip()
            checks.append(_Check("implausible", col.name, cond & c.is_finite() if col.dtype.is_float() else cond,
                                 f"values outside the plausible range {rng}; expected {expected_text(col)} "
                                 "within it (a data error or a unit mix-up, e.g. cents)", values=c))
    if t.name == "persons" and "birth_year" in t.usable and x is not None:
        c = pl.col("birth_year")
        checks.append(_Check("born_after_extraction", "birth_year", (c > x.year) & (c <= BIRTH_YEAR_MAX),
                             f"birth year after the extraction date {x}; expected a year up to {x.year}",
                             values=c))
    return checks


def _row_checks(t: _Table, person_ids: pl.Series | None, seeker_ids: pl.Series | None,
                refs: dict | None = None, opts: _Options = _Options(), areas: dict | None = None) -> list[_Check]:
    checks: list[_Check] = []
    u = t.usable
    flagged = {p.column.name: p for p in t.plans if p.failed is not None and p.expr is not None}
    for name, plan in flagged.items():
        what = "parsed" if plan.failure_kind == "unparseable" else "converted without loss"
        checks.append(_Check(plan.failure_kind, name, pl.col(_flag(name)),
                             f"values cannot be {what} as {expected_text(plan.column)}",
                             values=pl.col(_raw(name))))
    for col in t.contract.columns:
        if col.name not in u:
            continue
        c = pl.col(col.name)
        if not col.nullable and col.name not in t.null_free:  # (skipping saves decoding e.g. report_ref)
            cond = c.is_null() & ~pl.col(_flag(col.name)) if col.name in flagged else c.is_null()
            checks.append(_Check("null", col.name, cond,
                                 f"null (empty) values in a required column; expected {expected_text(col)}"))
        if col.codes:
            checks.append(_Check("unknown_code", col.name, c.is_not_null() & ~c.is_in(list(col.codes)),
                                 f"values not in the code list; expected one of {_codes_text(col.codes)}",
                                 values=c))
        if col.dtype.is_float():
            checks.append(_Check("non_finite", col.name, c.is_not_null() & ~c.is_finite(),
                                 "values that are not finite (NaN or infinite); expected a finite number",
                                 values=c))
    checks += _bound_checks(t, opts)
    for start, end in t.contract.date_ranges:
        if start in u and end in u:
            checks.append(_Check("end_before_start", end, pl.col(end) < pl.col(start),
                                 f"{end} before {start}; expected {end} >= {start}",
                                 values=pl.format("{} < {}", pl.col(end), pl.col(start))))

    # table-specific rules
    if t.name in ("jobseeking_spells", "service_spells") and "end_date" in u:
        checks.append(_Check("ongoing", "end_date", pl.col("end_date").is_null(),
                             "spells ongoing at extraction (null end_date)", severity="warning"))
    if t.name == "jobseeking_spells" and {"end_date", "end_reason"} <= u:
        checks.append(_Check("no_end_reason", "end_reason",
                             pl.col("end_date").is_not_null() & pl.col("end_reason").is_null(),
                             "ended spells without an end_reason", severity="warning"))
        checks.append(_Check("end_reason_while_ongoing", "end_reason",
                             pl.col("end_date").is_null() & pl.col("end_reason").is_not_null(),
                             "ongoing spells (null end_date) with an end_reason", severity="warning"))
    if t.name == "service_spells" and "cost_eur" in u:
        checks.append(_Check("negative_cost", "cost_eur", pl.col("cost_eur") < 0,
                             "negative cost; expected cost_eur >= 0", values=pl.col("cost_eur")))
    if t.name == "earnings_reports":
        if "amount_eur" in u:
            recovery = pl.col("recovery").fill_null(False) if "recovery" in u else pl.lit(False)
            checks.append(_Check("negative_amount", "amount_eur", (pl.col("amount_eur") < 0) & ~recovery,
                                 "negative amount on a row that is not a recovery; expected amount_eur >= 0 "
                                 "unless recovery is true", values=pl.col("amount_eur")))
        if {"version", "action"} <= u:
            new = pl.col("action") == "new"
            checks.append(_Check("version_action", "version",
                                 (new & (pl.col("version") != 1)) | (~new & (pl.col("version") == 1)),
                                 "action and version disagree; expected version 1 exactly when action is 'new'",
                                 values=pl.format("{} v{}", pl.col("action"), pl.col("version"))))
    if t.name == "benefit_reports" and "amount_eur" in u:
        checks.append(_Check("negative_amount", "amount_eur", pl.col("amount_eur") < 0,
                             "negative benefit amounts (recoveries?)", severity="warning",
                             values=pl.col("amount_eur")))
    if t.name == "candidate_searches" and "persons_proposed" in u:
        checks.append(_Check("negative_count", "persons_proposed", pl.col("persons_proposed") < 0,
                             "negative number of persons proposed; expected persons_proposed >= 0",
                             values=pl.col("persons_proposed")))
    for (table, column), (ids, ref_table, ref_column, severity) in (refs or {}).items():
        if table == t.name and column in u:
            c = pl.col(column)
            checks.append(_Check(f"unknown_{ref_column.removesuffix('_id')}", column,
                                 c.is_not_null() & ~c.is_in(ids.implode()),
                                 f"{column} not in {ref_table}.{ref_column}; every {column} must be there",
                                 severity=severity, values=c))
    for (table, column), (codes, source) in (areas or {}).items():
        if table == t.name and column in u:
            c = pl.col(column)
            checks.append(_Check("unknown_area", column, c.is_not_null() & ~c.is_in(codes.implode()),
                                 f"{column} codes not in {source}; expected a code of the delivery's area "
                                 "classification", values=c))
    if t.name != "persons" and "person_id" in u:
        pid = pl.col("person_id")
        if person_ids is not None:
            unknown = pid.is_not_null() & ~pid.is_in(person_ids.implode())
            checks.append(_Check("unknown_person", "person_id", unknown,
                                 "person_id not in persons; every person must be in persons", values=pid))
        if seeker_ids is not None and t.name != "jobseeking_spells":
            no_spell = pid.is_not_null() & ~pid.is_in(seeker_ids.implode())
            checks.append(_Check("no_jobseeking_spell", "person_id", no_spell,
                                 "rows for persons with no job-seeking spell", severity="warning", values=pid))
    return checks


def _run_row_checks(t: _Table, checks: list[_Check]) -> tuple[int | None, list[Problem]]:
    """Count every check in one pass, then fetch example ids of the failing ones."""

    def count(conds: list[pl.Expr]) -> list[int]:
        aggs = [pl.len().alias("__n")] + [c.fill_null(False).sum().alias(f"__c{i}") for i, c in enumerate(conds)]
        return list(t.lf.select(aggs).collect(engine="streaming").row(0))

    try:
        n_rows, *counts = count([ch.cond for ch in checks])
    except READ_ERRORS as e:
        return None, [_unreadable(t.name, t.file, e)]
    failing = [(ch, n) for ch, n in zip(checks, counts) if n]
    frames, id_cols = [], []
    for ch, _ in failing:
        # rows whose id itself is at fault are shown by row number
        id_col = "row" if ch.column == t.id_column else t.id_column
        base = t.lf.with_row_index("row", offset=1) if id_col == "row" else t.lf
        bad = base.filter(ch.cond.fill_null(False))
        id_cols.append(id_col)
        frames.append(bad.select(pl.col(id_col)).unique(maintain_order=True).head(N_EXAMPLES))
        if ch.values is not None:
            frames.append(bad.select(ch.values.cast(pl.String).alias("v")).unique(maintain_order=True).head(N_EXAMPLES))
    try:
        results = iter(pl.collect_all(frames, engine="streaming")) if frames else iter(())
    except READ_ERRORS as e:
        return n_rows, [_unreadable(t.name, t.file, e)]
    problems = []
    for (ch, n), id_col in zip(failing, id_cols):
        ids = tuple(next(results).to_series().to_list())
        message = ch.message
        if ch.values is not None:
            vals = ", ".join(repr(v) if isinstance(v, str) else "null" for v in next(results).to_series().to_list())
            message += f"; found {vals}"
        problems.append(Problem(t.name, t.file, ch.column, ch.kind, message, ids, n, ch.severity, id_col))
    return n_rows, problems


# ---------------------------------------------------------------------------------------
# Checks across rows and tables
# ---------------------------------------------------------------------------------------


def _problem_from_rows(t: _Table, rows: pl.DataFrame, kind: str, column: str, message: str,
                       severity: str = "error") -> list[Problem]:
    if rows.height == 0:
        return []
    ids = tuple(rows.get_column(t.id_column).unique(maintain_order=True).head(N_EXAMPLES).to_list())
    return [Problem(t.name, t.file, column, kind, message, ids, rows.height, severity, t.id_column)]


def _overlaps(t: _Table) -> list[Problem]:
    """Job-seeking spells of one person that overlap.

    Spells are sorted by person and start; each start is compared with the latest end among
    the person's earlier spells (so a spell inside a long earlier spell is caught too). That
    running maximum per person is one global ``cum_max`` over ``person number * 2**23 +
    end day``: the person number (rank in the sorted order) dominates, so the maximum never
    leaks from one person to the next. A ``cum_max().over(person)`` does the same ten times
    slower. An ongoing spell (null end) counts as ending after every date.
    """
    if not {"person_id", "start_date", "end_date", "spell_id"} <= t.usable:
        return []
    span, offset = 2**23, 2**22  # day numbers (years -9500..13500) fit in [0, 2**23)

    def day(c: str) -> pl.Expr:  # absurd years beyond that are clipped, not wrapped
        return pl.col(c).cast(pl.Int64).clip(-offset, offset - 2) + offset

    person = pl.col("person_id")
    number = (person != person.shift(1)).fill_null(True).cum_sum().cast(pl.Int64)
    end_day = day("end_date").fill_null(span - 1)
    prev = (number * span + end_day).cum_max().shift(1)
    rows = (
        t.lf.select("person_id", "spell_id", "start_date", "end_date")
        .filter(person.is_not_null() & pl.col("start_date").is_not_null())
        .sort("person_id", "start_date", "spell_id")
        .with_columns(__number=number, __prev=prev)
        .filter(pl.col("__prev") // span == pl.col("__number"))  # an earlier spell of the same person
        .with_columns(__start=day("start_date"), __prev_end=pl.col("__prev") % span)
        .filter(pl.col("__start") <= pl.col("__prev_end"))
        .collect(engine="streaming")
    )
    overlap = rows.filter(pl.col("__start") < pl.col("__prev_end"))
    touch = rows.filter(pl.col("__start") == pl.col("__prev_end"))
    return _problem_from_rows(
        t, overlap, "overlapping_spells", "start_date",
        "spells overlap an earlier job-seeking spell of the same person (start_date before the earlier "
        "spell's end_date, or the earlier spell is ongoing); expected one spell at a time per person",
    ) + _problem_from_rows(
        t, touch, "touching_spells", "start_date",
        "spells start on the day an earlier spell of the same person ends", severity="warning")


_LATER = ("replace", "cancel")


def _later_versions(t: _Table) -> pl.DataFrame | None:
    """report_id and report_ref of the replacements and cancellations (few rows).

    The action filter is pushed into the scan, so report_ref is decoded for these rows only.
    """
    if not {"report_ref", "action", "report_id"} <= t.usable:
        return None
    return (t.lf.filter(pl.col("action").is_in(_LATER)).select("report_id", "report_ref")
            .collect(engine="streaming"))


def _orphan_versions(t: _Table, later: pl.DataFrame) -> list[Problem]:
    """Replacements / cancellations whose report_ref has no original ('new') report.

    A 'new' row of another version counts as the original here (version_action reports it).
    The large table streams through a filter on the 64-bit hashes of the later versions'
    refs (integer lookups: half the cost of string lookups, and a third of a semi join);
    the few candidates are then matched exactly, so a hash collision cannot hide an orphan.
    """
    refs = later.get_column("report_ref").unique()
    ref = pl.col("report_ref")
    candidates = (t.lf.filter((pl.col("action") == "new") & ref.hash().is_in(refs.hash().implode()))
                  .select("report_ref").collect(engine="streaming"))
    found = candidates.filter(ref.is_in(refs.implode())).unique()
    orphans = later.join(found, on="report_ref", how="anti")
    return _problem_from_rows(
        t, orphans, "no_original", "report_ref",
        "replacement or cancellation whose report_ref has no original report (action 'new', version 1)")


def _person_ids(t: _Table | None, column: str = "person_id") -> pl.Series | None:
    if t is None or column not in t.usable:
        return None
    try:
        return t.lf.select(pl.col(column).drop_nulls().unique()).collect(engine="streaming").to_series()
    except READ_ERRORS:
        return None  # reported by the table's own checks


def _foreign_keys(prepared: dict[str, _Table]) -> tuple[dict, list[Problem]]:
    """Id sets of the referenced tables of :data:`FOREIGN_KEYS` (both tables present), and a
    warning for each link that cannot be checked because the referenced table is absent."""
    refs, notes = {}, []
    for table, column, ref_table, ref_column, severity in FOREIGN_KEYS:
        t = prepared.get(table)
        if t is None or column not in t.usable:
            continue
        ids = _person_ids(prepared.get(ref_table), ref_column)
        if ids is None:
            notes.append(Problem(table, t.file, column, "not_checked",
                                 f"{column} not checked: table {ref_table} is absent", severity="warning"))
            continue
        refs[(table, column)] = (ids, ref_table, ref_column, severity)
    return refs, notes


def _area_codes(prepared: dict[str, _Table]) -> tuple[dict, list[Problem]]:
    """Known area codes per checked column (:data:`AREA_COLUMNS`), and the area problems.

    With the delivery's ``areas`` table, codes are known from it, and a person's employment
    area must be the area of their municipality. Without it, a municipality must map to one
    employment area among the persons, and a vacancy's area must be one of the persons' areas.
    """
    areas, persons = prepared.get("areas"), prepared.get("persons")
    out: dict = {}
    problems: list[Problem] = []
    if areas is not None and {"municipality", "employment_area"} <= areas.usable:
        try:
            amap = areas.lf.select("municipality", "employment_area").collect()
        except READ_ERRORS:
            return {}, []  # reported by the table's own checks
        for table, column, acol in AREA_COLUMNS:
            out[(table, column)] = (amap.get_column(acol).drop_nulls().unique(), f"areas.{acol}")
        if persons is not None and {"municipality", "employment_area"} <= persons.usable:
            p = persons.lf.select("person_id" if "person_id" in persons.usable else pl.lit(None).alias("person_id"),
                                  "municipality", "employment_area")
            bad = (p.join(amap.lazy().rename({"employment_area": "__area"}), on="municipality", how="inner")
                   .filter(pl.col("employment_area") != pl.col("__area")).collect())
            problems += _problem_from_rows(
                persons, bad, "area_mismatch", "employment_area",
                "employment_area is not the area of the person's municipality in the delivery's areas table")
        return out, problems
    if persons is None or not {"municipality", "employment_area"} <= persons.usable:
        return {}, []
    try:
        pairs = (persons.lf.group_by("municipality", "employment_area").agg(pl.len().alias("n"))
                 .collect(engine="streaming").drop_nulls())
    except READ_ERRORS:
        return {}, []
    split = pairs.filter(pl.len().over("municipality") > 1).sort("municipality", "n", descending=[False, True])
    if split.height:
        shown = "; ".join(
            f"{r['municipality']}: " + ", ".join(f"{a} ({n:,} person{'s' if n != 1 else ''})"
                                                 for a, n in zip(r["employment_area"], r["n"]))
            for r in split.group_by("municipality", maintain_order=True).agg("employment_area", "n")
            .head(N_EXAMPLES).iter_rows(named=True))
        problems.append(Problem("persons", persons.file, "employment_area", "area_mismatch",
                                f"municipalities assigned to several employment areas ({shown}); a municipality "
                                "belongs to one area (add the delivery's areas table to name the right one)",
                                n_rows=int(split.get_column("n").sum())))
    problems.append(Problem("areas", "areas.parquet", None, "not_checked",
                            "no areas table (the delivery's municipality -> employment area classification): area "
                            "codes are checked only for consistency between persons and the other tables",
                            severity="warning"))
    out[("vacancies", "employment_area")] = (pairs.get_column("employment_area").unique(), "persons.employment_area")
    out[("jobseeking_spells", "municipality")] = (pairs.get_column("municipality").unique(), "persons.municipality")
    return out, problems


def _submissions(t: _Table) -> list[Problem]:
    """Earnings reports submitted twice, or one version submitted with two actions.

    A report is identified by (payer_id, report_ref, version): two report_ids for it count its
    earnings twice (a duplicate submission), and a replacement and a cancellation with the
    same version leave the later state undecidable.
    """
    key = ["payer_id", "report_ref", "version"]
    if not set(key) | {"report_id", "action"} <= t.usable:
        return []
    # One streaming pass over a single 64-bit hash of (payer, reference, version) with the smallest
    # and largest report id: a hash holding two report ids is a candidate (two submissions of one
    # version, whatever their actions). The few candidates are then checked exactly; a hash
    # collision can only add a candidate, never hide one.
    rid, act = pl.col("report_id"), pl.col("action")
    h = (pl.col("report_ref").hash(seed=1) ^ pl.col("payer_id").hash(seed=2) ^ pl.col("version").hash(seed=3))
    cand = (t.lf.select(rid, h.alias("__h")).group_by("__h").agg(rid.min().alias("__lo"), rid.max().alias("__hi"))
            .filter(pl.col("__lo") != pl.col("__hi")).select("__h").collect(engine="streaming"))
    if cand.height == 0:
        return []
    g = (t.lf.filter(h.is_in(cand.get_column("__h").implode()))
         .select(*key, "report_id", "action").unique()
         .group_by(key).agg(rid.unique().sort().alias("ids"), act.unique().sort())
         .filter((pl.col("ids").list.len() > 1) | (pl.col("action").list.len() > 1))
         .collect().sort(key))
    if g.height == 0:
        return []
    problems = []
    conflict = g.filter(pl.col("action").list.len() > 1)
    dup = g.filter(pl.col("action").list.len() == 1)

    def shown(df: pl.DataFrame) -> str:
        return "; ".join(f"payer {r['payer_id']} report_ref {r['report_ref']!r} version {r['version']}: report_id "
                         + ", ".join(map(str, r["ids"]))
                         + (f" ({' and '.join(repr(a) for a in r['action'])})" if len(r["action"]) > 1 else "")
                         for r in df.head(3).iter_rows(named=True))

    if conflict.height:
        ids = tuple(conflict.get_column("ids").explode().unique(maintain_order=True).head(N_EXAMPLES).to_list())
        problems.append(Problem(t.name, t.file, "action", "conflicting_versions",
                                f"one report version submitted with different actions ({shown(conflict)}); "
                                "expected one action per (payer_id, report_ref, version)",
                                ids, int(conflict.get_column("ids").list.len().sum()), "error", "report_id"))
    if dup.height:
        ids = tuple(dup.get_column("ids").explode().unique(maintain_order=True).head(N_EXAMPLES).to_list())
        problems.append(Problem(t.name, t.file, "report_id", "duplicate_submission",
                                f"the same report (payer_id, report_ref, version) submitted under several "
                                f"report_ids ({shown(dup)}); its earnings would be counted twice. Expected one "
                                "report_id per submission", ids, int(dup.get_column("ids").list.len().sum()),
                                "error", "report_id"))
    return problems


# ---------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------


def _validate(report: ValidationReport, prepared: dict[str, _Table], opts: _Options = _Options()) -> None:
    persons = prepared.get("persons")
    person_ids = _person_ids(persons)
    seeker_ids = _person_ids(prepared.get("jobseeking_spells"))
    refs, notes = _foreign_keys(prepared)
    report.problems += notes
    areas, area_problems = _area_codes(prepared)
    report.problems += area_problems
    if opts.extraction_date is None and report.source != "tables in memory":
        report.problems.append(Problem("", DELIVERY_FILE, None, "no_extraction_date",
                                       f"no extraction date ({DELIVERY_FILE} absent, none given): dates after the "
                                       "extraction are not checked; a run will ask for the date",
                                       severity="warning"))
    for name, t in prepared.items():
        n_rows, problems = _run_row_checks(t, _row_checks(t, person_ids, seeker_ids, refs, opts, areas))
        report.tables[name].n_rows = n_rows
        if n_rows is not None:
            try:
                problems += _duplicate_keys(t)
                if name == "jobseeking_spells":
                    problems += _overlaps(t)
                if name == "earnings_reports":
                    later = _later_versions(t)
                    if later is not None and later.height:
                        problems += _orphan_versions(t, later)
                    problems += _submissions(t)
            except READ_ERRORS as e:
                problems.append(_unreadable(t.name, t.file, e))
            if n_rows == 0:
                problems.append(Problem(name, t.file, None, "empty_table", "the table has no rows",
                                        severity="warning"))
        report.problems += problems


def _options(extraction_date: dt.date | None, after_extraction: str, origin: str) -> _Options:
    if after_extraction not in AFTER_EXTRACTION:
        raise ConfigError(f"after_extraction = {after_extraction!r}; expected one of {list(AFTER_EXTRACTION)}")
    return _Options(extraction_date, origin, after_extraction)


def validate_folder(path: str | Path, raise_on_error: bool = True, extraction_date: dt.date | None = None,
                    after_extraction: str = "error") -> ValidationReport:
    """Check a register folder against the data contracts and report every problem.

    Parameters
    ----------
    path : folder with ``NAME.parquet`` or ``NAME.csv`` per table (``benefit_reports`` optional).
    raise_on_error : raise one :class:`RegisterValidationError` carrying every error found.
    extraction_date : the extraction date of the delivery (default: from the folder's
        ``delivery.toml``, see :mod:`impact.registers.delivery`); rows dated after it are errors.
    after_extraction : ``"error"`` (default) or ``"drop"``: rows after the extraction date are
        then warnings (the outcome stage leaves them out and counts them).

    Returns
    -------
    ValidationReport
        Row counts per table and every problem (errors and warnings); ``.summary()`` for text.
    """
    t0 = time.perf_counter()
    folder = Path(path)
    report = ValidationReport(str(folder))
    opts = _options(extraction_date, after_extraction, "given")
    if extraction_date is None and folder.is_dir():
        try:
            d = read_delivery(folder)
        except ConfigError as e:
            report.problems.append(Problem("", DELIVERY_FILE, None, "bad_manifest", str(e)))
            d = None
        if d is not None:
            opts = _options(d.extraction_date, after_extraction, f"{DELIVERY_FILE}")
    if not folder.is_dir():
        report.problems.append(Problem("", str(folder), None, "missing_folder",
                                       f"register folder {folder} does not exist or is not a folder"))
    else:
        prepared: dict[str, _Table] = {}
        for name, contract in CONTRACTS.items():
            file, notes = find_table_file(folder, name)
            report.tables[name] = TableInfo(name, file.name if file else None)
            report.problems += notes
            if file is None:
                if contract.required:
                    others = sorted(p.name for p in folder.glob(f"{name}.*"))
                    hint = f" (found {', '.join(others)}; only .parquet and .csv are read)" if others else ""
                    report.problems.append(Problem(name, f"{name}.parquet", None, "missing_file",
                                                   f"required table missing: no {name}.parquet or {name}.csv "
                                                   f"in {folder}{hint}"))
                continue
            try:
                raw = scan_raw(file)
            except READ_ERRORS as e:
                report.problems.append(Problem(name, file.name, None, "unreadable_file",
                                               f"cannot read {file}: {first_line(e)}"))
                continue
            if file.suffix == ".csv":
                t, problems = _prepare(name, raw, "csv", file.name)
            else:
                t, problems = _prepare(name, raw, "parquet", file.name, parquet_null_free(file))
            report.problems += problems
            if t is not None:
                prepared[name] = t
        _validate(report, prepared, opts)
    report.seconds = time.perf_counter() - t0
    if raise_on_error:
        report.raise_if_errors()
    return report


def validate_tables(
    tables: Mapping[str, pl.DataFrame | pl.LazyFrame], raise_on_error: bool = True,
    extraction_date: dt.date | None = None, after_extraction: str = "error",
) -> ValidationReport:
    """Check in-memory register tables (name -> frame) against the data contracts.

    Same checks as :func:`validate_folder`; problems name the table instead of a file.
    Frames must carry the contract dtypes (lossless widenings are accepted with a warning).
    """
    t0 = time.perf_counter()
    report = ValidationReport("tables in memory")
    opts = _options(extraction_date, after_extraction, "given")
    prepared: dict[str, _Table] = {}
    for name in tables:
        if name not in CONTRACTS:
            report.problems.append(Problem(name, name, None, "unknown_table",
                                           f"not a register table (expected {', '.join(CONTRACTS)}); ignored",
                                           severity="warning"))
    for name, contract in CONTRACTS.items():
        frame = tables.get(name)
        report.tables[name] = TableInfo(name, name if frame is not None else None)
        if frame is None:
            if contract.required:
                report.problems.append(Problem(name, name, None, "missing_table", "required table missing"))
            continue
        if not isinstance(frame, (pl.DataFrame, pl.LazyFrame)):
            report.problems.append(Problem(name, name, None, "unreadable_file",
                                           f"expected a polars DataFrame or LazyFrame, got {type(frame).__name__}"))
            continue
        t, problems = _prepare(name, frame.lazy(), "memory", name)
        report.problems += problems
        if t is not None:
            prepared[name] = t
    _validate(report, prepared, opts)
    report.seconds = time.perf_counter() - t0
    if raise_on_error:
        report.raise_if_errors()
    return report
