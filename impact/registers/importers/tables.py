"""Ibis helpers shared by the importers: refusing rows, translating codes, deduplicating spells.

Every function takes and returns Ibis table expressions, so the same mapping runs on the
staged files in embedded DuckDB and on tables in a warehouse. Rows carry ``_src_file``
(index of the source) and ``_src_row`` (1-based row, or the XML line) so that a refusal names
where the first offending row is.
"""

from __future__ import annotations

import gc
import weakref

from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import polars as pl
from ibis import _

from impact.registers.importers.log import ImportLog, Where


@dataclass
class Produced:
    """A kind's output: tables to write (name -> expression) and its entry in the folder summary."""

    tables: dict[str, ir.Table]
    entry: dict[str, Any]

#: The open-end marker of the job-seeker register's spells (11.11.2222).
OPEN_END = "2222-11-11"


#: Temporary tables no expression refers to any more, dropped at the next :func:`materialise`.
_UNUSED: list[tuple[weakref.ref, str]] = []


def _drop_unused() -> None:
    gc.collect()  # expressions in reference cycles
    while _UNUSED:
        ref, name = _UNUSED.pop()
        con = ref()
        if con is None:  # the connection is gone, and its temporary tables with it
            continue
        try:
            con.raw_sql(f'DROP TABLE IF EXISTS "{name}"').fetchall()  # fetched: DuckDB refuses work until then
        except Exception:  # noqa: BLE001 - the connection is closed: its temporary tables are gone with it
            pass


def materialise(t: ir.Table) -> ir.Table:
    """Compute ``t`` once into a temporary table of its backend (DuckDB, Snowflake); else ``t``.

    The mappings are chains of joins and windows; computed once per step, later steps (and
    the counts of the log) compile and run against a plain table instead of the whole chain.
    A step's table is dropped once no expression refers to it (at 1 M persons every copy of
    the 104 M earnings rows kept to the end filled the disk with DuckDB's spill files).
    """
    import uuid

    try:
        con = t._find_backend()
    except Exception:  # noqa: BLE001 - an unbound expression: nothing to compute yet
        return t
    if getattr(con, "name", "") not in ("duckdb", "snowflake"):
        return t
    _drop_unused()
    name = f"impact_import_{uuid.uuid4().hex[:12]}"
    out = con.create_table(name, t, temp=True)
    # deferred: a finaliser may run in the middle of another query of the same connection
    # (a weak reference: the list must not keep a finished import's connection and its tables alive)
    weakref.finalize(out.op(), _UNUSED.append, (weakref.ref(con), name))
    return out


def _where(files: list[str], row: dict[str, Any], column: str | None, line: bool = False) -> Where:
    f = files[int(row["_src_file"])] if row.get("_src_file") is not None else "?"
    r = int(row["_src_row"]) if row.get("_src_row") is not None else None
    return Where(f, line=r, column=column) if line else Where(f, row=r, column=column)


def refuse_rows(t: ir.Table, bad: ir.BooleanValue, reason: str, expected: str, log: ImportLog, files: list[str],
                column: str | None = None, value: str | None = None, line: bool = False) -> ir.Table:
    """Refuse the rows where ``bad`` is true: an error naming the first (strict) or counted and dropped."""
    bad = bad.fill_null(False)
    flagged = t.filter(bad)
    n = int(flagged.count().to_pyarrow().as_py())
    if not n:
        return t
    cols = ["_src_file", "_src_row"] + ([value] if value else [])
    first = flagged.order_by(["_src_file", "_src_row"]).select(*cols).limit(1).to_pyarrow().to_pylist()[0]
    log.refuse(reason, n, _where(files, first, column, line), expected, first.get(value) if value else None)
    return t.filter(~bad)


def code_table(codes: dict[str, Any], dtype: str = "string") -> ir.Table:
    """A lookup (``_code``, ``_value``) of a code list; numeric codes also match without leading zeros."""
    src, dst = [], []
    for k, v in codes.items():
        variants = {k}
        if k.isdigit():
            variants.add(str(int(k)))
        for var in variants:
            src.append(var)
            dst.append(v)
    pdt = {"string": pl.String, "int8": pl.Int8, "int64": pl.Int64, "boolean": pl.Boolean}[dtype]
    return ibis.memtable(pl.DataFrame({"_code": src, "_value": dst}, schema={"_code": pl.String, "_value": pdt}))


def translate(t: ir.Table, column: str, codes: dict[str, Any], out: str, code_list: str, log: ImportLog,
              files: list[str], dtype: str = "string", missing: Any = ..., null_ok: bool = False) -> ir.Table:
    """Add ``out`` = the contract value of ``t[column]`` through the code list ``codes``.

    A code not in the list is refused (an error naming the code and the first row, or
    counted, logged under ``codes_not_in_mapping`` and dropped). A null code gives
    ``missing`` when one is given, stays null when ``null_ok``, else is refused.
    """
    lut = code_table(codes, dtype)
    j = t.left_join(lut, t[column] == lut._code)
    unmapped = j[column].notnull() & j._code.isnull()
    per_code = j.filter(unmapped).group_by(column).aggregate(n=_.count()).to_pyarrow().to_pylist()
    for r in per_code:
        log.unseen(code_list, r[column], r["n"])
    j = refuse_rows(j, unmapped, f"unmapped_code_{code_list}", f"code not in the mapping's {code_list} list "
                    f"(known: {sorted(codes)[:30]}); add it to the mapping or pass --lenient", log, files,
                    column, value=column)
    value = j._value
    if missing is not ...:
        value = ibis.cases((j[column].isnull(), ibis.literal(missing, type=dtype)), else_=value)
    elif not null_ok:
        j = refuse_rows(j, j[column].isnull(), f"missing_{code_list}", f"a {code_list} code is required", log,
                        files, column)
        value = j._value
    return materialise(j.mutate(**{out: value}).drop("_code", "_value"))


def open_end(end: ir.DateValue) -> ir.DateValue:
    """The end date with the open-end marker 11.11.2222 (or any date from 2222 on) as null."""
    return ibis.cases((end >= ibis.date(OPEN_END), ibis.null("date")), else_=end)


def dedupe_spells(t: ir.Table, keys: list[str], log: ImportLog, what: str) -> ir.Table:
    """One row per spell (``keys``, e.g. person, start and measure) across yearly deliveries.

    The job-seeker register's yearly deliveries (from 2023) repeat a spell that was open at the
    end of a year: first with the open-end marker (already turned into a null ``end``), then
    with its real end. Per spell the row kept is a closed one over an open one and, among
    several, the one from the latest delivery (source order). Counted: spells delivered open
    and later closed, exact duplicate deliveries, and closed versions that disagree.
    """
    t = materialise(t)
    grp = t.group_by(keys).aggregate(
        _n=t.count(), _open=t.end.isnull().sum(), _ends=t.end.nunique())
    stats = grp.aggregate(
        merged=(grp._open > 0).ifelse((grp._n > grp._open).cast("int64"), 0).sum(),
        dup=(grp._n - 1).sum(),
        conflict=(grp._ends > 1).cast("int64").sum(),
    ).to_pyarrow().to_pylist()[0]
    log.count(f"{what}_open_then_closed", int(stats["merged"] or 0),
              f"{what}: a spell delivered open (11.11.2222) and again closed; the closed one is kept")
    log.count(f"{what}_conflicting_end", int(stats["conflict"] or 0),
              f"{what}: the same spell delivered closed with different end dates; the latest delivery is kept")
    log.count(f"{what}_duplicate_rows", int(stats["dup"] or 0),
              f"{what}: rows of a spell delivered more than once (open then closed, or the same delivery "
              "again); one row per spell kept")
    order = [t.end.isnull().cast("int8"), ibis.desc(t._src_file), ibis.desc(t._src_row)]
    rn = ibis.row_number().over(group_by=[t[k] for k in keys], order_by=order)
    return materialise(t.mutate(_rn=rn).filter(lambda x: x._rn == 0).drop("_rn"))


def as_of(left: ir.Table, right: ir.Table, on: str, date: str, key: str, value_cols: list[str],
          prefix: str) -> ir.Table:
    """Each ``left`` row with the ``right`` row of the same ``on`` whose [start, end] covers ``left[date]``.

    Among several covering rows the one starting last wins; without one the values are null.
    A range join plus a window (no ASOF join: Ibis cannot compile those for Spark). ``key`` is a
    unique column of ``left``; ``right`` has ``on``, ``start``, ``end`` (null: open) and
    ``value_cols``, which come back as ``prefix + name``.
    """
    r = right.select(_on=right[on], _s=right.start, _e=right.end,
                     **{f"{prefix}{c}": right[c] for c in value_cols})
    j = left.left_join(r, [left[on] == r._on, r._s <= left[date], (r._e.isnull() | (r._e >= left[date]))])
    rn = ibis.row_number().over(group_by=j[key], order_by=ibis.desc(j._s))
    j = j.mutate(_rn=rn).filter(lambda x: x._rn == 0)
    return j.drop("_rn", "_on", "_s", "_e")


__all__ = ["OPEN_END", "as_of", "materialise", "code_table", "dedupe_spells", "open_end", "refuse_rows", "translate"]
