"""The person x month earnings and employment panel, as Ibis expressions.

From Incomes Register earnings reports (one row = one income type on one report version):

1. keep the latest version of each report (``payer_id``, ``report_ref``); drop the report if
   that version is a cancellation;
2. keep the configured income types (holiday compensation 234 spread or excluded);
3. drop rows of persons with no job-seeking or service spell (counted);
4. allocate each row's amount to calendar months: to the payment month, or pro rata by days
   over its pay period / earnings period (equi-joins against small month and span tables).
   Recovery rows (negative amounts) carry the recovered pay's period and original payment
   date, so allocating them nets them against the period they recover;
5. sum per person and month; employment and subsidised status from the configured rule. The
   rows a rule drops are counted in the same aggregation (:func:`earnings_panel_with_counts`).

Only constructs that every Ibis SQL backend compiles are used: CASE, equi-joins, group-by. Nothing here
names DuckDB: the functions take Ibis table expressions of any backend.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import polars as pl

from impact.months import month_index
from impact.outcomes.config import OutcomeConfig

EPOCH = dt.date(1970, 1, 1)

#: Order matters: a dropped row is counted under the first rule it meets.
REPORT_RULES = (
    ("superseded_version", "earnings_reports", "row of a report version replaced by a later version of the same report reference"),
    ("cancelled_report", "earnings_reports", "row of a report whose latest version is a cancellation"),
    ("income_type_not_counted", "earnings_reports", "income type outside the configured earnings income types"),
    ("holiday_compensation_excluded", "earnings_reports", "holiday compensation (234) with holiday_compensation = 'exclude'"),
    ("paid_after_extraction", "earnings_reports", "payment date after the extraction date"),
    ("period_end_before_start", "earnings_reports", "pay (or earnings) period ending before it starts: no month to allocate to"),
    ("outside_month_range", "earnings_reports", "period (or payment) outside the run's month range (data_start to extraction)"),
    ("person_without_spells", "earnings_reports", "report for a person with no job-seeking or service spell"),
)


def month_expr(d: ir.DateValue) -> ir.IntegerValue:
    """Integer month index ``year * 12 + month - 1`` of a date expression."""
    return d.year().cast("int32") * 12 + d.month().cast("int32") - 1


def month_table(first: int, last: int) -> ir.Table:
    """Month table: ``month`` index, ``first_day`` and ``last_day`` as days since 1970-01-01."""
    return ibis.memtable(_month_frame(first, last))


def _month_frame(first: int, last: int) -> pl.DataFrame:
    months = list(range(first, last + 1))
    starts = [(dt.date(m // 12, m % 12 + 1, 1) - EPOCH).days for m in range(first, last + 2)]
    return pl.DataFrame({"month": months, "first_day": starts[:-1], "last_day": [s - 1 for s in starts[1:]]},
                        schema={"month": pl.Int32, "first_day": pl.Int32, "last_day": pl.Int32})


def span_offsets(max_span: int) -> ir.Table:
    """Pairs (``span``, ``k``) for ``span`` in 0..max_span and ``k`` in 0..span.

    Built in the backend from two small ranges (a cross join and a filter), so compiled SQL
    inlines only ``max_span + 1`` constants, not the quadratic table.
    """
    n = pl.DataFrame({"v": list(range(max_span + 1))}, schema={"v": pl.Int32})
    spans = ibis.memtable(n).select(span="v")
    ks = ibis.memtable(n).select(k="v")
    pairs = spans.cross_join(ks)
    return pairs.filter(pairs.k <= pairs.span)


def in_block(person_id: ir.IntegerValue, persons: tuple[int | None, int | None]) -> ir.BooleanValue:
    """``person_id`` in the block ``(first, last)`` of ids (``None``: open end; the block open
    at the start also holds null ids, so that blocks covering every id leave no row out)."""
    lo, hi = persons
    conds = ([person_id >= lo] if lo is not None else []) + ([person_id <= hi] if hi is not None else [])
    if not conds:
        return ibis.literal(True)
    cond = conds[0] if len(conds) == 1 else conds[0] & conds[1]
    return cond | person_id.isnull() if lo is None else cond


def later_versions(reports: ir.Table) -> ir.Table:
    """Latest version (``_lv``) of every report reference (``_lp`` payer, ``_lr`` reference) with more than one.

    Most references have only version 1, so the maximum is taken over the few rows with
    version > 1 (a small group-by, joined back on the reference) instead of a window or
    group-by over every row: same result, a fraction of the hashing.
    """
    later = reports.filter(reports.version > 1)
    return later.group_by(_lp=later.payer_id, _lr=later.report_ref).aggregate(_lv=later.version.max())


def _report_rules(reports: ir.Table, cfg: OutcomeConfig, spell_persons: ir.Table | None,
                  extraction_date: dt.date | None,
                  months: tuple[int, int] | None = None, persons: tuple[int, int] | None = None,
                  later: ir.Table | None = None) -> tuple[ir.Table, list[tuple[str, ir.BooleanValue]]]:
    """Reports joined with what the drop rules need, and the rules as (name, predicate) in order.

    ``spell_persons``: one column ``person_id``, persons with at least one spell (``None``: keep
    all persons). ``extraction_date``: rows paid after it are dropped (``None``: no such rule).
    ``months``: the (first, last) month range of the run; rows whose period (or payment, under
    payment allocation) falls outside it are dropped and counted.
    A row is dropped by the first rule it meets. ``persons``: only the rows of persons with ids
    in this (first, last) range (a block of the panel); ``later``: :func:`later_versions` of all
    the reports, materialised once for all blocks (``None``: computed here from ``reports``).

    The returned table has the columns the allocation reads: ``person_id``, ``amount_eur``,
    ``subsidised``, ``_wage`` and the period as ``_d0``/``_d1`` (first and last day, days
    since 1970-01-01) and ``_m0``/``_m1`` (their month indexes).
    """
    # The versions of a reference are looked up among all the reports, also for a block of persons.
    later = later_versions(reports) if later is None else later
    if persons is not None:
        reports = reports.filter(in_block(reports.person_id, persons))
        if spell_persons is not None:
            spell_persons = spell_persons.filter(in_block(spell_persons.person_id, persons))
    r = _with_period(reports, cfg)
    r = r.left_join(later, [r.payer_id == later._lp, r.report_ref == later._lr])
    if spell_persons is not None:
        sp = spell_persons.select(_sp_person=spell_persons.person_id).distinct()
        r = r.left_join(sp, r.person_id == sp._sp_person)
        has_spell = r._sp_person.notnull()
    else:
        has_spell = ibis.literal(True)
    rules = [
        ("superseded_version", r.version < r._lv),
        ("cancelled_report", r.action == "cancel"),
        ("income_type_not_counted", ~r.income_type.isin(list(cfg.income_types))),
    ]
    if cfg.holiday_compensation == "exclude":
        rules.append(("holiday_compensation_excluded", r.income_type == cfg.holiday_compensation_type))
    if extraction_date is not None:
        rules.append(("paid_after_extraction", r.payment_date > ibis.literal(extraction_date)))
    if cfg.allocation != "payment":
        rules.append(("period_end_before_start", r._d1 < r._d0))
    if months is not None:
        first_day = (dt.date(months[0] // 12, months[0] % 12 + 1, 1) - EPOCH).days
        after_last = (dt.date((months[1] + 1) // 12, (months[1] + 1) % 12 + 1, 1) - EPOCH).days
        rules.append(("outside_month_range", (r._d0 < first_day) | (r._d1 >= after_last)))
    rules.append(("person_without_spells", ~has_spell))
    return r, rules


def _with_period(reports: ir.Table, cfg: OutcomeConfig) -> ir.Table:
    """The report columns the panel reads, with the allocation period as day and month indexes.

    Computed in one projection straight on the reports, below the joins, so each date is
    converted once per row; later steps read the integer columns (an engine may otherwise
    re-evaluate the period's CASE expression in every place it is used).
    """
    r = reports
    if cfg.allocation == "payment":
        start = end = _payment_date(r)
    else:
        start, end = _period(r, cfg)
    d0 = start.epoch_days().cast("int32")
    d1 = end.epoch_days().cast("int32")
    return r.select(
        "payer_id", "report_ref", "version", "action", "income_type", "payment_date", "person_id", "amount_eur",
        subsidised=r.subsidised.fill_null(False), _wage=~_recovery(r) & (r.amount_eur > 0),
        _d0=d0, _d1=d1, _m0=month_expr(start), _m1=month_expr(end))


def allocate(coded: ir.Table, cfg: OutcomeConfig, months: tuple[int, int]) -> ir.Table:
    """Allocate report rows to calendar months; dropped rows become counting pseudo rows.

    ``coded`` (from :func:`_report_rules`) has ``person_id``, ``amount_eur``, ``subsidised``,
    ``_wage``, the period's ``_d0``/``_d1``/``_m0``/``_m1`` and ``rule_code`` (null: the row is
    kept; ``i``: dropped by the i-th rule). ``months`` is the (first, last) month index every
    kept period lies in.

    Returns one row per (report row, month) with ``person_id``, ``month``, ``amount``
    (pro-rata share of ``amount_eur``), ``subsidised``, ``wage`` (a positive, non-recovery
    row: can show work), ``work_day`` (first day of the month the row's period covers, days
    since 1970-01-01; null under payment allocation) and ``last_week`` (the period overlaps
    the month's last seven days). A dropped row gives one row with a null ``person_id``,
    ``month = -1 - rule_code`` and ``amount`` 1, so the panel's aggregation also counts it.

    Kept and dropped rows travel one pipeline (no union of two reads of the reports), and
    every period, of one month or many, is spread by equi-joins: on its span against a small
    table of (span, offset) pairs, then on the month. No range join over the month table.
    Under payment allocation the period is the payment day: one month, the whole amount.
    """
    r = coded
    kept = r.rule_code.isnull()
    pseudo = (-1 - r.rule_code).cast("int32")
    p = r.select(person_id=ibis.cases((kept, r.person_id), else_=ibis.null("int64")),
                 amount_eur=ibis.cases((kept, r.amount_eur), else_=1.0),
                 subsidised=kept & r.subsidised, wage=kept & r._wage,
                 d0=ibis.cases((kept, r._d0), else_=0), d1=ibis.cases((kept, r._d1), else_=0),
                 m0=ibis.cases((kept, r._m0), else_=pseudo),
                 span=ibis.cases((kept, r._m1 - r._m0), else_=0).cast("int32"))
    first, last = months
    offs = span_offsets(last - first)
    j = p.join(offs, p.span == offs.span)
    j = j.select(*[c for c in p.columns if c != "span"], alloc_month=(j.m0 + j.k).cast("int32"))
    j = j.select(*j.columns)  # a plain projection: Ibis 12 cannot join straight onto a joined select
    mt = _month_table_with_pseudo(first, last, len(REPORT_RULES))
    j = j.join(mt, j.alloc_month == mt.month)
    lo = ibis.greatest(j.d0, j.first_day)
    hi = ibis.least(j.d1, j.last_day)
    days = (hi - lo + 1).cast("float64")
    total = (j.d1 - j.d0 + 1).cast("float64")
    if cfg.allocation == "payment":  # a payment date says nothing about the days worked
        work_day, last_week = ibis.null("int32"), ibis.literal(False)
    else:
        work_day, last_week = lo.cast("int32"), hi >= j.last_day - 6
    return j.select(person_id=j.person_id, month=j.month.cast("int32"), amount=j.amount_eur * days / total,
                    subsidised=j.subsidised, wage=j.wage, work_day=work_day, last_week=last_week)


def _recovery(r: ir.Table) -> ir.BooleanValue:
    return r.recovery.fill_null(False) if "recovery" in r.columns else ibis.literal(False)


def _payment_date(r: ir.Table) -> ir.DateValue:
    """The date a row is allocated to under payment allocation (a recovery: its original payment)."""
    if "orig_payment_date" not in r.columns:
        return r.payment_date
    return ibis.cases((_recovery(r), r.orig_payment_date.fill_null(r.payment_date)), else_=r.payment_date)


def _period(r: ir.Table, cfg: OutcomeConfig) -> tuple[ir.DateValue, ir.DateValue]:
    """(start, end) of the period a row is allocated over: earnings period where given, else pay period."""
    start, end = r.pay_period_start, r.pay_period_end
    if cfg.allocation == "earning_period" and {"earning_period_start", "earning_period_end"} <= set(r.columns):
        has_ep = r.earning_period_start.notnull() & r.earning_period_end.notnull()
        start = ibis.cases((has_ep, r.earning_period_start), else_=r.pay_period_start)
        end = ibis.cases((has_ep, r.earning_period_end), else_=r.pay_period_end)
    return start, end


def _month_range(months: object) -> tuple[int, int]:
    """``months`` as (first, last) month indexes, or a clear error."""
    ok = (isinstance(months, tuple) and len(months) == 2
          and all(isinstance(m, int) and not isinstance(m, bool) for m in months) and months[0] <= months[1])
    if not ok:
        raise TypeError(f"earnings panel: months must be a (first, last) pair of month indexes "
                        f"(year * 12 + month - 1) with first <= last, got {months!r}")
    return months


def _month_table_with_pseudo(first: int, last: int, n_rules: int) -> ir.Table:
    """:func:`month_table` plus one row per pseudo month ``-1 - rule`` (a one-day period on day 0)."""
    pseudo = pl.DataFrame({"month": [-1 - i for i in range(n_rules)], "first_day": [0] * n_rules,
                           "last_day": [0] * n_rules}, schema={"month": pl.Int32, "first_day": pl.Int32, "last_day": pl.Int32})
    return ibis.memtable(pl.concat([_month_frame(first, last), pseudo]))


def allocated_rows(reports: ir.Table, cfg: OutcomeConfig, months: tuple[int, int],
                   spell_persons: ir.Table | None = None,
                   extraction_date: dt.date | None = None, *, persons: tuple[int, int] | None = None,
                   later: ir.Table | None = None) -> ir.Table:
    """Report rows with the drop rules applied and allocated to months (:func:`allocate`).

    What :func:`earnings_panel_with_counts` sums per person and month: one row per kept report
    row and month it is allocated to, and one counting pseudo row per dropped report row.
    ``persons`` and ``later``: a block of persons (see :func:`earnings_panel_with_counts`).
    """
    months = _month_range(months)
    r, rules = _report_rules(reports, cfg, spell_persons, extraction_date, months, persons, later)
    # A rule whose predicate is null (a missing value) does not fire: CASE WHEN treats null as false.
    code = ibis.cases(*[(pred, i) for i, (_, pred) in enumerate(rules)], else_=ibis.null("int32"))
    return allocate(r.mutate(rule_code=code), cfg, months)


def earnings_panel_with_counts(reports: ir.Table, cfg: OutcomeConfig, months: tuple[int, int],
                               spell_persons: ir.Table | None = None,
                               extraction_date: dt.date | None = None, *, persons: tuple[int, int] | None = None,
                               later: ir.Table | None = None) -> ir.Table:
    """The panel and the exclusion counts in one pass over the reports.

    ``months``: (first, last) month index; every pay and earnings period must lie in it
    (:func:`data_months` gives it). Kept rows are allocated and summed per person and month;
    each dropped row becomes a pseudo row with a null ``person_id``, ``month = -1 - rule
    number`` and an amount of 1, so the same aggregation counts the dropped rows per rule
    (one read of the reports instead of two). :func:`split_panel` separates the two;
    materialise this table first.

    ``persons``: only the persons with ids in this (first, last) range, a block of the panel
    (:func:`in_block`): the blocks of disjoint ranges covering every id, stacked, are the panel
    (their pseudo rows add up to the counts). ``later``: :func:`later_versions` of all the reports, materialised
    once and shared by the blocks (``None``: computed from ``reports``).
    """
    a = allocated_rows(reports, cfg, months, spell_persons, extraction_date, persons=persons, later=later)
    open_wage = a.wage & ~a.subsidised
    aggs = dict(earnings_eur=a.amount.sum(), subsidised_eur=ibis.cases((a.subsidised, a.amount), else_=0.0).sum(),
                first_work_day=ibis.cases((open_wage, a.work_day), else_=ibis.null("int32")).min())
    if cfg.employment_rule != "floor":  # the last-week flags only where the rule reads them
        aggs.update(lw_open=ibis.cases((open_wage & a.last_week, 1), else_=0).max(),
                    lw_sub=ibis.cases((a.wage & a.subsidised & a.last_week, 1), else_=0).max())
    g = a.group_by(["person_id", "month"]).aggregate(**aggs)
    # No rounding (ROUND differs between engines: half-even vs half-away-from-zero); the floor
    # is compared with half a cent of tolerance for pro-rata float error.
    earn = g.earnings_eur
    sub = g.subsidised_eur
    open_eur = g.earnings_eur - g.subsidised_eur
    floor = cfg.employment_floor_eur - 0.005
    if cfg.employment_rule == "floor":
        employed, subsidised = open_eur >= floor, sub >= floor
    elif cfg.employment_rule == "last_week":
        employed, subsidised = g.lw_open == 1, g.lw_sub == 1
    else:
        employed, subsidised = (open_eur >= floor) | (g.lw_open == 1), (sub >= floor) | (g.lw_sub == 1)
    return g.select(person_id=g.person_id, month=g.month.cast("int32"), earnings_eur=earn, subsidised_eur=sub,
                    employed=employed, subsidised=subsidised, first_work_day=g.first_work_day)


def split_panel(combined: ir.Table, rule_names: list[str]) -> tuple[ir.Table, ir.Table]:
    """(panel, exclusions) from :func:`earnings_panel_with_counts`'s table (or its blocks, stacked)."""
    panel = combined.filter(combined.month >= 0)
    c = combined.filter(combined.month < 0)
    c = c.group_by("month").aggregate(n=c.earnings_eur.sum())
    name = ibis.cases(*[(c.month == -1 - i, n) for i, n in enumerate(rule_names)], else_=ibis.null("string"))
    return panel, c.select(rule=name, rows=c.n.round().cast("int64"))


def rule_names(reports: ir.Table, cfg: OutcomeConfig, spell_persons: ir.Table | None,
               extraction_date: dt.date | None, months: tuple[int, int] | None = None) -> list[str]:
    """Names of the report drop rules in force, in the order they are applied."""
    return [name for name, _ in _report_rules(reports, cfg, spell_persons, extraction_date, months)[1]]


def earnings_panel(reports: ir.Table, cfg: OutcomeConfig, months: tuple[int, int],
                   spell_persons: ir.Table | None = None,
                   extraction_date: dt.date | None = None) -> tuple[ir.Table, ir.Table]:
    """Person x month earnings and employment panel.

    Returns
    -------
    panel
        One row per person and month with any allocated amount: ``person_id``, ``month``
        (integer index), ``earnings_eur``, ``subsidised_eur``, ``employed``
        (open-market employment by the configured rule), ``subsidised`` (the same rule on
        subsidised earnings), ``first_work_day`` (first day of the month covered by an
        open-market wage period, days since 1970-01-01; null under payment allocation).
        Months absent from the panel have no earnings and no employment.
    exclusions
        ``rule``, ``rows``: report rows dropped by each rule.

    Both read :func:`earnings_panel_with_counts`; materialise that once (as the pipeline
    does) rather than executing the two expressions separately.
    """
    combined = earnings_panel_with_counts(reports, cfg, months, spell_persons, extraction_date)
    return split_panel(combined, rule_names(reports, cfg, spell_persons, extraction_date, months))


#: The report dates that bound the month range: (first-month columns, last-month columns).
_RANGE_COLUMNS = (("payment_date", "pay_period_start", "earning_period_start", "orig_payment_date"),
                  ("payment_date", "pay_period_end", "earning_period_end"))


def data_months(reports: ir.Table) -> tuple[int, int, dt.date]:
    """(first month, last month, latest payment date) of the earnings reports' periods and dates."""
    r = reports
    aggs = {}
    for i, cols in enumerate(_RANGE_COLUMNS):
        for c in cols:
            if c in r.columns:
                aggs[f"{c}_{i}"] = r[c].min() if i == 0 else r[c].max()
    row = r.aggregate(**aggs).to_polars().row(0, named=True)
    rng = {c: (row.get(f"{c}_0"), row.get(f"{c}_1")) for cols in _RANGE_COLUMNS for c in cols if c in r.columns}
    return months_of_range(rng)


def months_of_range(date_range: dict[str, tuple[dt.date | None, dt.date | None]]) -> tuple[int, int, dt.date]:
    """:func:`data_months` from the (min, max) of each report date column (absent or null: unknown)."""
    latest = date_range.get("payment_date", (None, None))[1]
    if latest is None:
        from impact.errors import RegisterValidationError
        raise RegisterValidationError("earnings_reports: no rows; the panel needs at least one report")
    firsts = [date_range[c][0] for c in _RANGE_COLUMNS[0] if c in date_range]
    lasts = [date_range[c][1] for c in _RANGE_COLUMNS[1] if c in date_range]
    first = min(month_index(d) for d in firsts if d is not None)
    last = max(month_index(d) for d in lasts if d is not None)
    return first, last, latest


def last_complete_month(extraction_date: dt.date) -> int:
    """Last calendar month that ends on or before the extraction date."""
    return month_index(extraction_date + dt.timedelta(days=1)) - 1
