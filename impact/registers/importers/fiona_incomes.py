"""Statistics Finland's Incomes Register extracts (FIONA) -> earnings and benefit reports.

* ``TAX_INCOMES``: transactioninfo joined to report (``repId``) and delivery (``delId``): one
  contract row per transaction. The catalogue says the tables hold valid reports only, the
  latest version of each, so every report is imported as its own version 1 (``new``): the
  outcome stage's replacement and cancellation rules have nothing to do, and ``import_log.json``
  says ``reports = "valid_latest_only"`` (rows from a replacement version are counted).
* ``TAX_SUMINCOMES``: one row per year x month x payer x earner with one column per income
  type; each non-zero amount becomes a row whose pay period is the calendar month (the
  monthly file has no pay periods), paid on the month's last day.
* ``TAX_BENEFIT``: benefit payments through the mapping's ``[benefit_types]``.

The extraction date is the latest ``latauspvm`` of the delivery tables.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
from ibis import _

from impact.registers.importers.earnings import RAW_EARNINGS, finalise_earnings
from impact.registers.importers.log import ImportRefused
from impact.registers.importers.roles import role_tables
from impact.registers.importers.tables import materialise, refuse_rows, translate
from impact.registers.schema import CONTRACTS

ROLES = ("sumincomes", "delivery", "report", "transactioninfo", "benefit_delivery", "benefit_report",
         "benefit_transactioninfo")
_INCOMES = ("delivery", "report", "transactioninfo")
_BENEFITS = ("benefit_delivery", "benefit_report", "benefit_transactioninfo")
_IBIS_RAW = {"String": "string", "Int64": "int64", "Int32": "int32", "Float64": "float64", "Boolean": "boolean",
             "Date": "date"}


def run_fiona_incomes(ctx: Any) -> Any:
    from impact.registers.importers.tables import Produced

    t = role_tables(ctx, list(ROLES))
    ns = {**dict(ctx.mapping.get("namespaces", {})), **ctx.options.namespaces}
    have = set(t)
    tables: dict[str, ir.Table] = {}
    entry: dict[str, Any] = {"extraction_date": _extraction(t)}
    entry["extraction_date_from"] = "latauspvm (the date Statistics Finland extracted the data from the Incomes " \
                                    "Register), latest over the tables" if entry["extraction_date"] else None
    if have & set(_INCOMES) and "sumincomes" in have:
        raise ImportRefused("fiona-incomes: both TAX_INCOMES and TAX_SUMINCOMES given; they hold the same pay, "
                            "import one of them")
    raw = None
    if _complete(have, _INCOMES, "TAX_INCOMES"):
        raw = _tax_incomes(ctx, t, ns)
        entry.update(source_kind="fiona-incomes", reports="valid_latest_only",
                     reports_note="TAX_INCOMES holds valid reports only, the latest version of each (Statistics "
                                  "Finland removed replaced and cancelled reports); each is imported as version 1")
    elif "sumincomes" in have:
        raw = _sumincomes(ctx, t["sumincomes"], ns)
        entry.update(source_kind="fiona-sumincomes", reports="valid_latest_only",
                     reports_note="TAX_SUMINCOMES: monthly sums per payer and earner of valid reports; returns and "
                                  "unjust enrichment removed by Statistics Finland; pay periods are calendar months")
    benefits = None
    if _complete(have, _BENEFITS, "TAX_BENEFIT"):
        benefits = _tax_benefit(ctx, t, ns)
    ctx.keys.extend_from([x for x in (raw, benefits) if x is not None])
    if raw is not None:
        vintage = str(ctx.mapping.get("income_type_vintage", "2022"))
        tables["earnings_reports"] = finalise_earnings(raw, ctx.keys, ctx.log, ctx.files, vintage, line_numbers=False,
                                                       versions=False)  # valid latest versions only
    if benefits is not None:
        tables["benefit_reports"] = _benefit_rows(ctx, benefits)
        entry.setdefault("source_kind", "fiona-incomes")
    if not tables:
        raise ImportRefused("fiona-incomes: no TAX_INCOMES, TAX_SUMINCOMES or TAX_BENEFIT tables among the sources")
    return Produced(tables=tables, entry=entry)


def _complete(have: set[str], roles: tuple[str, ...], what: str) -> bool:
    """Whether the tables of ``what`` are among the sources; some of them but not all is an error."""
    missing = [r for r in roles if r not in have]
    if len(missing) == len(roles):
        return False
    if missing:
        raise ImportRefused(f"fiona-incomes: {what} needs its delivery, report and transactioninfo tables; "
                            f"missing {missing}")
    return True


def _extraction(t: dict[str, ir.Table]) -> str | None:
    dates = []
    for tab in t.values():
        if "extraction" in tab.columns:
            d = tab.extraction.max().to_pyarrow().as_py()
            if d is not None:
                dates.append(d)
    return max(dates).isoformat() if dates else None


def _seq(col: ir.StringValue, table: ir.Table) -> ir.IntegerValue:
    """An integer per report id: the id itself when every id is a whole number, else a dense rank."""
    bad = table.filter(col.notnull() & ~col.re_search(r"^[0-9]{1,15}$")).count().to_pyarrow().as_py()
    if not bad:
        return col.cast("int64")
    return (ibis.dense_rank().over(order_by=col) + 1).cast("int64")


def _payer(d: ir.Table, ns: dict) -> tuple[ir.Value, ir.Value]:
    cols = [(c, ns.get(c, c)) for c in ("payer", "payer_person", "payer_other") if c in d.columns]
    src = ibis.coalesce(*[d[c] for c, _n in cols])
    nsv = ibis.cases(*[(d[c].notnull(), n) for c, n in cols], else_=ibis.null("string"))
    return nsv, src


def _raw_columns(t: ir.Table, **cols: Any) -> ir.Table:
    """``t`` projected to the raw earnings shape (missing columns null)."""
    out = {}
    for name, dtype in RAW_EARNINGS.items():
        typ = _IBIS_RAW[type(dtype).__name__]
        v = cols[name] if name in cols else (t[name] if name in t.columns else ibis.null(typ))
        out[name] = v.cast(typ)
    return t.select(**out)


def _tax_incomes(ctx: Any, t: dict[str, ir.Table], ns: dict) -> ir.Table:
    log, files = ctx.log, ctx.files
    d, r, x = t["delivery"], t["report"], t["transactioninfo"]
    d = d.select(_del=d.delivery, **{c: d[c] for c in d.columns if c not in ("delivery", "_src_file", "_src_row",
                                                                             "extraction")})
    r = r.select(_rep=r.report, _rdel=r.delivery, person=r.person, person_other=r.person_other, version=r.version,
                 earner_type=r.earner_type)
    j = materialise(x.left_join(r, x.report == r._rep).left_join(d, _._rdel == d._del))
    j = refuse_rows(j, j._rep.isnull(), "transaction_without_report",
                    "a repId that is in the report table", log, files, "repId", value="report")
    j = refuse_rows(j, j._del.isnull(), "report_without_delivery", "a delId that is in the delivery table", log,
                    files, "delId", value="_rdel")
    pns = ibis.cases((j.person.notnull(), ns.get("person", "hid_e")),
                     (j.person_other.notnull(), ns.get("person_other", "other_s")), else_=ibis.null("string"))
    j = j.mutate(person_ns=pns, person_src=ibis.coalesce(j.person, j.person_other))
    j = refuse_rows(j, j.person_src.isnull(), "earner_without_id", "an income earner id (incomeEarnerHid_e or "
                    "incomeEarnerIdCode_s)", log, files, "incomeEarnerHid_e")
    payer_ns, payer_src = _payer(j, ns)
    j = j.mutate(payer_ns=payer_ns, payer_src=payer_src)
    j = refuse_rows(j, j.payer_src.isnull(), "payer_without_id", "a payer id (payerIdType1_s, payerhid_e or "
                    "payerOtherIdCode_s)", log, files, "payerIdType1_s")
    replaced = j.filter(j.version.fill_null(1) > 1).count().to_pyarrow().as_py()
    log.count("rows_of_replacement_versions", replaced, "rows of reports whose delivered version is a replacement "
              "(reportVersion > 1): imported as version 1, the only valid version in the extract")
    subsidy_codes = [str(c) for c in ctx.mapping.get("report.subsidy_earner_types", [])]
    # part: the number of an income type within a report. Nearly every report has each type once:
    # number only the few repeated ones (a window over every row would sort them all)
    key = ["report", "income_type"]
    rep = j.group_by(key).aggregate(_n=_.count()).filter(_._n > 1).select(key)
    multi = j.semi_join(rep, key)
    multi = multi.mutate(_part=ibis.row_number().over(group_by=[_.report, _.income_type],
                                                      order_by=[_._src_file, _._src_row]))
    j = j.anti_join(rep, key).mutate(_part=ibis.literal(0, "int64")).union(multi.mutate(_part=_._part.cast("int64")))
    return materialise(_raw_columns(
        j, report_seq=_seq(j.report, j), report_ref=j.report, version=ibis.literal(1), status=ibis.literal(1),
        part=j._part, recovery=j.recovery.fill_null(False),
        subsidy_reported=(j.earner_type.isin(subsidy_codes) if subsidy_codes else ibis.null("boolean"))))


def _sumincomes(ctx: Any, s: ir.Table, ns: dict) -> ir.Table:
    log, files = ctx.log, ctx.files
    types = {str(k): int(v) for k, v in dict(ctx.mapping.get("sumincomes_types")).items()}
    s = s.mutate(_row=ibis.row_number() + 1)
    s = refuse_rows(s, (s.month < 1) | (s.month > 12), "bad_month", "kuukausi 1-12", log, files, "kuukausi",
                    value="month")
    pns = {**ns, "payer_person": ns.get("sum_person", "shnro")}
    subsidy_codes = [str(c) for c in ctx.mapping.get("report.subsidy_earner_types", [])]
    parts = []
    for col, code in types.items():
        if col not in s.columns:
            continue
        p = s.filter(s[col].notnull() & (s[col] != 0))
        first = ibis.date(p.year.cast("int32"), p.month.cast("int32"), 1)
        last = first + ibis.interval(months=1) - ibis.interval(days=1)
        payer_ns, payer_src = _payer(p, pns)
        parts.append(_raw_columns(
            p, report_seq=p._row, report_ref=ibis.literal("S") + p._row.cast("string"), version=ibis.literal(1),
            status=ibis.literal(1), part=ibis.literal(0), person_ns=ibis.literal(ns.get("sum_person", "shnro")),
            person_src=p.person, payer_ns=payer_ns, payer_src=payer_src, payment_date=last, pay_period_start=first,
            pay_period_end=last, income_type=ibis.literal(code), amount=p[col], recovery=ibis.literal(False),
            subsidy_reported=(p.earner_type.isin(subsidy_codes) if subsidy_codes and "earner_type" in p.columns
                              else ibis.null("boolean"))))
    if not parts:
        raise ImportRefused("TAX_SUMINCOMES: none of the income-type columns of [sumincomes_types] found")
    u = parts[0]
    for x in parts[1:]:
        u = u.union(x)
    u = materialise(u)
    u = refuse_rows(u, u.payer_src.isnull(), "payer_without_id", "a payer id (payerIdCode_s, payerShnro or "
                    "payerOtherIdCode_s)", log, files, "payerIdCode_s")
    log.note("TAX_SUMINCOMES rows are monthly sums: each amount is allocated to its calendar month (pay period = "
             "the month); earnings periods, recoveries and unjust enrichment are not in this file")
    return u


def _tax_benefit(ctx: Any, t: dict[str, ir.Table], ns: dict) -> ir.Table:
    log, files = ctx.log, ctx.files
    d, r, x = t["benefit_delivery"], t["benefit_report"], t["benefit_transactioninfo"]
    d = d.select(_del=d.delivery, payment_date=d.payment_date, payer=d.payer)
    r = r.select(_rep=r.report, _rdel=r.delivery, person=r.person, version=r.version)
    j = materialise(x.left_join(r, x.report == r._rep).left_join(d, _._rdel == d._del))
    j = refuse_rows(j, j._rep.isnull(), "benefit_without_report", "a repId that is in the TAX_BENEFIT report table",
                    log, files, "repId", value="report")
    j = refuse_rows(j, j._del.isnull(), "benefit_report_without_delivery", "a delId that is in the TAX_BENEFIT "
                    "delivery table", log, files, "delId", value="_rdel")
    return j.mutate(person_ns=ibis.literal(ns.get("person", "hid_e")), person_src=j.person)


def _benefit_rows(ctx: Any, j: ir.Table) -> ir.Table:
    codes = {str(k): v for k, v in ctx.mapping.get("benefit_types", {}).items()}
    j = translate(j, "income_type", codes, "benefit_type", "benefit_types", ctx.log, ctx.files)
    rec = j.recovery.fill_null(False)
    start = ibis.cases((rec & j.orig_start.notnull(), j.orig_start), else_=j.period_start)
    end = ibis.cases((rec & j.orig_end.notnull(), j.orig_end), else_=j.period_end)
    j = ctx.keys.lookup(j.mutate(_s=start, _e=end, _rec=rec), "person", "person_ns", "person_src", "person_id")
    out = j.select(person_id=j.person_id, benefit_type=j.benefit_type, payment_date=j.payment_date,
                   period_start=j._s.fill_null(j.payment_date), period_end=j._e.fill_null(j.payment_date),
                   amount_eur=ibis.cases((j._rec, -j.amount.abs()), else_=j.amount))
    return out.select(*CONTRACTS["benefit_reports"].column_names)


__all__ = ["ROLES", "run_fiona_incomes"]
