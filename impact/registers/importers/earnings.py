"""From delivered earnings payment reports (any source) to the ``earnings_reports`` contract.

The XML importer and the FIONA importer both stage one row per transaction in the same raw
shape (:data:`RAW_EARNINGS`); :func:`finalise_earnings` maps it to the contract as Ibis
expressions:

1. income types must be codes of the official code list (else refused);
2. a report version delivered twice (same payer, report reference and version) is kept once;
3. versions are numbered 1, 2, ... per report reference in version order (a reference whose
   earlier versions are not in the import starts at 1, counted); the action is ``cancel`` for a
   cancelled report (ReportStatus 2), else ``new`` for the first version and ``replace`` after;
   a cancellation whose original is not in the import has nothing to cancel and is dropped;
4. ``report_id`` = delivered report version x 1000 + part, where part separates transactions
   of one report that share an income type (the contract's key is report_id and income type):
   a recovery beside ordinary pay, each earnings period of a transaction with several;
5. a recovery becomes a negative row (``recovery`` true) for the original pay period
   (``OrigPaymentPeriod``: first start, last end), ``orig_payment_date`` its payment date;
6. person and payer identifiers become integer ids through the key table.

``subsidised`` here is only what the report says (IncomeEarnerType 1); the import then adds
what the pay-subsidy spells say (:mod:`impact.registers.importers.subsidy`).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import polars as pl

from ibis import _

from impact.registers.importers.keys import KeyTable
from impact.registers.importers.log import ImportLog
from impact.registers.importers.tables import materialise, refuse_rows
from impact.registers.income_types import income_type_table
from impact.registers.schema import CONTRACTS

#: One row per delivered transaction (or earnings period of one), before the mapping.
RAW_EARNINGS: dict[str, pl.DataType] = {
    "_src_file": pl.Int32(), "_src_row": pl.Int64(), "report_seq": pl.Int64(),
    "person_ns": pl.String(), "person_src": pl.String(), "payer_ns": pl.String(), "payer_src": pl.String(),
    "report_ref": pl.String(), "version": pl.Int64(), "status": pl.Int64(),
    "payment_date": pl.Date(), "pay_period_start": pl.Date(), "pay_period_end": pl.Date(),
    "income_type": pl.Int64(), "amount": pl.Float64(), "part": pl.Int64(),
    "recovery": pl.Boolean(), "unjust_enrichment": pl.Boolean(), "no_money": pl.Boolean(), "one_off": pl.Boolean(),
    "earning_period_start": pl.Date(), "earning_period_end": pl.Date(),
    "orig_payment_date": pl.Date(), "orig_start": pl.Date(), "orig_end": pl.Date(),
    "subsidy_reported": pl.Boolean(),
}
MAX_PARTS = 1000


def finalise_earnings(raw: ir.Table, keys: KeyTable, log: ImportLog, files: list[str], vintage: str = "2022",
                      line_numbers: bool = True, versions: bool = True) -> ir.Table:
    """The ``earnings_reports`` contract table from staged raw transactions (see the module doc).

    ``versions=False``: every delivered report is its own version 1 (a source of valid latest
    versions only), so the version rules (step 2-3) are skipped.
    """
    table = income_type_table(vintage)
    raw = materialise(raw)
    t = refuse_rows(raw, ~raw.income_type.isin(list(table)), "unknown_income_type",
                    f"an income type (TransactionCode) of the {vintage} code list (101-420)", log, files,
                    "TransactionCode", value="income_type", line=line_numbers)
    t = refuse_rows(t, t.part >= MAX_PARTS, "too_many_parts",
                    f"at most {MAX_PARTS} transactions of one income type on one report", log, files,
                    "Transaction", line=line_numbers)
    neg_ok = [c for c, it in table.items() if it.negative_allowed]
    t = refuse_rows(t, (t.amount < 0) & ~t.recovery.fill_null(False) & ~t.income_type.isin(neg_ok),
                    "negative_amount", "a non-negative amount (the code list allows negative amounts only for "
                    f"{len(neg_ok)} income types; a recovery is reported as Recovery = true)", log, files,
                    "Amount", value="amount", line=line_numbers)
    if versions:
        reports = materialise(_report_versions(t, log))
        t = materialise(t.inner_join(reports, "report_seq"))
    else:
        t = t.mutate(_version=ibis.literal(1, "int64"), _action=ibis.literal("new"))
    t = t.mutate(_rec=t.recovery.fill_null(False))
    n_rec = t.filter(t._rec).count().to_pyarrow().as_py()
    n_rec_no_period = t.filter(t._rec & t.orig_start.isnull()).count().to_pyarrow().as_py()
    log.count("recovery_rows", n_rec, "recoveries: negative rows for the original pay period")
    log.count("recovery_without_original_period", n_rec_no_period,
              "recoveries without RecoveryData/OrigPaymentPeriods: kept on the report's own pay period")
    n_unjust = t.filter(t.unjust_enrichment.fill_null(False)).count().to_pyarrow().as_py()
    log.count("unjust_enrichment_rows", n_unjust, "transactions flagged UnjustEnrichment (kept, flag set)")
    t = keys.lookup(t, "person", "person_ns", "person_src", "person_id")
    t = keys.lookup(t, "payer", "payer_ns", "payer_src", "payer_id")
    rec = t._rec
    out = t.select(
        report_id=(t.report_seq * MAX_PARTS + t.part).cast("int64"),
        report_ref=t.report_ref, version=t._version.cast("int16"), action=t._action,
        person_id=t.person_id, payer_id=t.payer_id, payment_date=t.payment_date,
        pay_period_start=ibis.cases((rec & t.orig_start.notnull(), t.orig_start), else_=t.pay_period_start),
        pay_period_end=ibis.cases((rec & t.orig_end.notnull(), t.orig_end), else_=t.pay_period_end),
        earning_period_start=t.earning_period_start, earning_period_end=t.earning_period_end,
        income_type=t.income_type.cast("int16"), amount_eur=ibis.cases((rec, -t.amount.abs()), else_=t.amount),
        subsidised=t.subsidy_reported.fill_null(False),
        recovery=rec, orig_payment_date=ibis.cases((rec, t.orig_payment_date), else_=ibis.null("date")),
        unjust_enrichment=t.unjust_enrichment, no_money=t.no_money, one_off=t.one_off,
        subsidy_reported=t.subsidy_reported,
    )
    return out.select(*[c.name for c in CONTRACTS["earnings_reports"].columns])


def _report_versions(t: ir.Table, log: ImportLog) -> ir.Table:
    """Per delivered report version (``report_seq``): its contract ``_version`` and ``_action``.

    Reports are identified across versions by (payer, report reference). Drops duplicate
    deliveries of a version and cancellations whose original is not in the import.
    """
    r = materialise(t.group_by("report_seq").aggregate(
        payer_ns=t.payer_ns.first(), payer_src=t.payer_src.first(), report_ref=t.report_ref.first(),
        version=t.version.first(), status=t.status.first(), n=t.count()))
    ident = [_.payer_ns, _.payer_src, _.report_ref]
    # a version delivered more than once: keep its first delivery
    dup_rank = ibis.row_number().over(group_by=[*ident, _.version], order_by=_.report_seq)
    r = r.mutate(_dup=ibis.cases((_.version.isnull(), 0), else_=dup_rank))
    dropped = r.filter(r._dup > 0).aggregate(rows=_.n.sum()).to_pyarrow().to_pylist()[0]
    log.count("duplicate_report_version", int(dropped["rows"] or 0),
              "transactions of a report version delivered more than once (same payer, report reference and "
              "version); the first delivery is kept")
    r = materialise(r.filter(r._dup == 0))
    order = [_.version.fill_null(2**40), _.report_seq]
    r = r.mutate(_version=(ibis.row_number().over(group_by=ident, order_by=order) + 1),
                 _first=_.version.min().over(group_by=ident))
    renum = r.filter((r._first > 1) | r._first.isnull()).aggregate(n=_.n.sum())
    log.count("versions_renumbered", int(renum.to_pyarrow().to_pylist()[0]["n"] or 0),
              "transactions of a report whose earlier versions are not in this import (or carry no version): "
              "its versions are numbered 1, 2, ... in version and delivery order")
    cancelled = r.status.fill_null(1) == 2
    r = r.mutate(_action=ibis.cases((cancelled, "cancel"), (r._version == 1, "new"), else_="replace"))
    orphan = r._action.isin(["cancel"]) & (r._version == 1)
    n_orphan = r.filter(orphan).aggregate(n=_.n.sum()).to_pyarrow().to_pylist()[0]["n"] or 0
    log.count("cancellation_without_original", int(n_orphan),
              "transactions of a cancelled report whose earlier version is not in the import: nothing to cancel, "
              "dropped")
    r = r.filter(~orphan)
    return r.select("report_seq", "_version", "_action")


__all__ = ["RAW_EARNINGS", "finalise_earnings"]
