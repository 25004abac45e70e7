"""The person x month panel from the prepared layout: one compiled pass per person block.

The same panel as :func:`impact.outcomes.panel.earnings_panel_with_counts` (the reference; the
warehouse and Spark backends run it), computed on embedded DuckDB runs from the prepared layout
(:mod:`impact.registers.prepared`: versions resolved, cancellations dropped, dates as day
numbers, rows in person blocks). Each block's rows are read and merged into a dense
(person in block x month) grid in one pass (:func:`_accumulate`): the config's drop rules in the
panel's order (income types, holiday compensation, paid after the extraction date, period
ending before it starts, outside the month range, person without spells; each dropped row
counted under the first rule it meets), the allocation of each row to the months of its period
pro rata by days (``amount * days / total``, as the reference), and per person-month the sums,
the first open-market work day and the last-week flags. A block's persons are consecutive
(their index in the block), so no hash table is needed; blocks run on two threads (the pass
releases the GIL). The grid's cells with an allocated row are the panel's rows, in person
order, which the outcome stage's range joins read fastest.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from impact.outcomes.config import OutcomeConfig
from impact.registers.prepared import COLUMNS, NOT_NULL, PreparedLayout, layout_status

log = logging.getLogger("impact.outcomes")

EPOCH = dt.date(1970, 1, 1)
_NULL_DAY = np.iinfo(np.int32).min
_NO_DAY = np.iinfo(np.int32).max
#: Rule slots of the pass (:data:`impact.outcomes.panel.REPORT_RULES` after the two the layout applied).
PASS_RULES = ("income_type_not_counted", "holiday_compensation_excluded", "paid_after_extraction",
              "period_end_before_start", "outside_month_range", "person_without_spells")
_ALLOCATION = {"payment": 0, "pay_period": 1, "earning_period": 2}
_RULE = {"floor": 0, "last_week": 1, "floor_or_last_week": 2}
PANEL_SCHEMA = pa.schema([("person_id", pa.int64()), ("month", pa.int32()), ("earnings_eur", pa.float64()),
                          ("subsidised_eur", pa.float64()), ("employed", pa.bool_()), ("subsidised", pa.bool_()),
                          ("first_work_day", pa.int32())])


@numba.njit(cache=True, nogil=True)
def _accumulate(ix, itype, amount, sub, rec, pd0, pd1, ed0, ed1, paid, opaid, n_persons, month_first_day,
                counted, holiday_type, extraction_day, allocation, has_spell):  # pragma: no cover - compiled
    """One pass over a block's rows into dense (person, month) grids; dropped rows counted per rule slot.

    Days are int32 day numbers (null: ``_NULL_DAY``); ``holiday_type`` < 0: holiday compensation
    kept; ``extraction_day`` = ``_NO_DAY``: no extraction rule. ``month_first_day`` has one more
    entry than there are months (the first day after the last month).
    """
    n_months = len(month_first_day) - 1
    size = n_persons * n_months
    earn = np.zeros(size)
    sube = np.zeros(size)
    fwd = np.full(size, 2147483647, np.int32)  # first open-market work day
    lw = np.zeros(size, np.uint8)  # bit 1: an open-market wage period covers the last week; bit 2: subsidised
    hit = np.zeros(size, np.bool_)
    drops = np.zeros(6, np.int64)
    first_day, after_last = month_first_day[0], month_first_day[n_months]
    for i in range(len(ix)):
        t = itype[i]
        if t < 0 or t >= len(counted) or not counted[t]:
            drops[0] += 1
            continue
        if t == holiday_type:
            drops[1] += 1
            continue
        if paid[i] > extraction_day:
            drops[2] += 1
            continue
        if allocation == 0:  # the payment day (a recovery: its original payment day where given)
            d0 = opaid[i] if (rec[i] and opaid[i] != -2147483648) else paid[i]
            d1 = d0
        elif allocation == 2 and ed0[i] != -2147483648 and ed1[i] != -2147483648:
            d0, d1 = ed0[i], ed1[i]
        else:
            d0, d1 = pd0[i], pd1[i]
        if allocation != 0 and d1 < d0:
            drops[3] += 1
            continue
        if d0 < first_day or d1 >= after_last:
            drops[4] += 1
            continue
        p = ix[i]
        if not has_spell[p]:
            drops[5] += 1
            continue
        a, b = 0, n_months  # the month of d0: month_first_day[a] <= d0 < month_first_day[a + 1]
        while b - a > 1:
            mid = (a + b) // 2
            if month_first_day[mid] <= d0:
                a = mid
            else:
                b = mid
        total = float(d1 - d0 + 1)
        wage = (not rec[i]) and amount[i] > 0
        m = a
        while m < n_months and month_first_day[m] <= d1:
            last_day = month_first_day[m + 1] - 1
            lo = max(d0, month_first_day[m])
            hi = min(d1, last_day)
            share = amount[i] * float(hi - lo + 1) / total
            k = p * n_months + m
            hit[k] = True
            earn[k] += share
            if sub[i]:
                sube[k] += share
            if wage and allocation != 0:
                if not sub[i]:
                    if lo < fwd[k]:
                        fwd[k] = lo
                    if hi >= last_day - 6:
                        lw[k] |= 1
                elif hi >= last_day - 6:
                    lw[k] |= 2
            m += 1
    return earn, sube, fwd, lw, hit, drops


def month_first_days(first: int, last: int) -> np.ndarray:
    """First day (days since 1970-01-01) of months ``first`` .. ``last + 1`` (month indexes)."""
    # month index m is year m // 12, month m % 12 + 1; datetime64[M] counts months from 1970-01
    months = np.arange(first, last + 2) - 1970 * 12
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int32)


def supported(layout: PreparedLayout, cfg: OutcomeConfig) -> str | None:
    """Why the compiled pass cannot give the reference's panel for this layout (``None``: it can)."""
    nulls = [c for c in NOT_NULL if layout.info["counts"].get(f"null_{c}", 0)]
    if nulls:
        return f"the earnings reports have nulls in {nulls} (the registers path defines what they do)"
    return None


def _days(col: pa.ChunkedArray) -> np.ndarray:
    return col.fill_null(_NULL_DAY).to_numpy().astype(np.int32, copy=False)


def _block_panel(layout: PreparedLayout, block: dict, persons: np.ndarray, spell_persons: np.ndarray,
                 months: tuple[int, int], cfg: OutcomeConfig,
                 extraction: dt.date | None) -> tuple[pa.Table, np.ndarray]:
    """The panel rows of one block (person order) and its drop counts per rule slot."""
    # the columns this config reads (an unread period column is passed as a dummy, never indexed)
    skip = {"ed0", "ed1"} if cfg.allocation != "earning_period" else set()
    skip |= {"opaid"} if cfg.allocation != "payment" else set()
    tab = pq.read_table(layout.folder / block["file"], columns=[c for c in COLUMNS if c not in skip])
    col = {c: tab.column(c) if c not in skip else pa.chunked_array([[_NULL_DAY]], pa.int32()) for c in COLUMNS}
    has_spell = np.isin(persons, spell_persons)
    counted = np.zeros(1000, np.bool_)
    counted[list(cfg.income_types)] = True
    first_days = month_first_days(*months)
    extraction_day = (extraction - EPOCH).days if extraction is not None else _NO_DAY
    holiday = cfg.holiday_compensation_type if cfg.holiday_compensation == "exclude" else -1
    earn, sube, fwd, lw, hit, drops = _accumulate(
        col["ix"].to_numpy(), col["income_type"].to_numpy().astype(np.int64), col["amount_eur"].to_numpy(),
        col["subsidised"].to_numpy(), col["recovery"].to_numpy(), _days(col["pd0"]), _days(col["pd1"]),
        _days(col["ed0"]), _days(col["ed1"]), _days(col["paid"]), _days(col["opaid"]), len(persons), first_days,
        counted, holiday, extraction_day, _ALLOCATION[cfg.allocation], has_spell)
    del tab, col
    n_months = len(first_days) - 1
    keys = np.flatnonzero(hit)
    e, s = earn[keys], sube[keys]
    floor = cfg.employment_floor_eur - 0.005
    flags = lw[keys]
    open_floor, sub_floor = (e - s) >= floor, s >= floor
    if cfg.employment_rule == "floor":
        employed, subsidised = open_floor, sub_floor
    elif cfg.employment_rule == "last_week":
        employed, subsidised = (flags & 1) > 0, (flags & 2) > 0
    else:
        employed, subsidised = open_floor | ((flags & 1) > 0), sub_floor | ((flags & 2) > 0)
    f = fwd[keys]
    first_work = pa.array(f, pa.int32(), mask=(f == _NO_DAY) if cfg.allocation != "payment" else np.ones(len(f), bool))
    table = pa.Table.from_arrays(
        [pa.array(persons[keys // n_months]), pa.array((months[0] + keys % n_months).astype(np.int32)), pa.array(e),
         pa.array(s), pa.array(employed), pa.array(subsidised), first_work], schema=PANEL_SCHEMA)
    return table, drops


def prepared_panel(con: Any, layout: PreparedLayout, spell_persons: np.ndarray, months: tuple[int, int],
                   cfg: OutcomeConfig, extraction: dt.date | None, rule_names: list[str],
                   threads: int = 2) -> tuple[Any, pl.DataFrame]:
    """The panel as a temporary DuckDB table (persons in id order) and the report exclusion counts.

    ``months``, ``extraction`` and ``rule_names``: as the reference plan has them
    (:class:`impact.outcomes.pipeline.OutcomePlan`: its ``panel_inputs`` and ``rule_names``);
    ``spell_persons``: ids of the persons with a job-seeking or service spell.
    Returns (Ibis table of the panel, ``rule``/``rows`` of the rules in force that dropped rows).
    """
    name = f"impact_person_month_{uuid.uuid4().hex[:12]}"
    raw = con.con
    raw.execute(f"CREATE TEMP TABLE {name} (person_id BIGINT, month INTEGER, earnings_eur DOUBLE, "
                "subsidised_eur DOUBLE, employed BOOLEAN, subsidised BOOLEAN, first_work_day INTEGER)")
    persons = pl.read_parquet(layout.folder / "persons.parquet")
    by_block = {b: g["person_id"].to_numpy() for (b,), g in persons.group_by(["block"])}
    spell_persons = np.unique(spell_persons)
    drops = np.zeros(len(PASS_RULES), np.int64)

    def one(block: dict) -> tuple[pa.Table, np.ndarray]:
        return _block_panel(layout, block, by_block[block["block"]], spell_persons, months, cfg, extraction)

    view = f"_impact_block_{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max(1, threads)) as ex:
        for table, d in ex.map(one, layout.blocks):  # in block order: the table is in person order
            drops += d
            raw.register(view, table)
            raw.execute(f"INSERT INTO {name} SELECT * FROM {view}")
            raw.unregister(view)
    counts = dict(layout.info["counts"])
    counts.update(zip(PASS_RULES, drops.tolist()))
    rows = [(r, int(counts.get(r, 0))) for r in rule_names if counts.get(r, 0)]
    rep = pl.DataFrame(rows, schema={"rule": pl.String, "rows": pl.Int64}, orient="row")
    return con.table(name), rep


def fast_panel_layout(tables: Any, cfg: OutcomeConfig, backend: str) -> tuple[PreparedLayout | None, str]:
    """(the layout the compiled pass may use, or ``None``; why) for an outcome run.

    Only on embedded DuckDB, for register tables opened from a folder
    (:func:`impact.backends.open_registers`) whose earnings reports are the folder's, unfiltered,
    and only with a fresh layout (:func:`impact.registers.prepared.layout_status`).
    """
    if backend != "duckdb":
        return None, f"backend {backend!r}: the panel is the compiled query"
    folder = getattr(tables, "folder", None)
    opened = getattr(tables, "opened", None) or {}
    if folder is None or "earnings_reports" not in opened:
        return None, "register tables not opened from a folder"
    if not tables["earnings_reports"].equals(opened["earnings_reports"]):
        return None, "earnings_reports is not the register folder's table (filtered or replaced)"
    layout, why = layout_status(folder)
    if layout is None:
        return None, why
    reason = supported(layout, cfg)
    if reason is not None:
        return None, f"{why} not used: {reason}"
    return layout, why
