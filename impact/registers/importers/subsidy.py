"""The ``subsidised`` flag of earnings reports, derived from pay-subsidy spells.

The Incomes Register has no reliable subsidised flag: a payer may mark the earner as
employed with state employment appropriations (IncomeEarnerType 1, complementary data that is
rarely given; kept as ``subsidy_reported``). A report row is therefore ``subsidised`` when the
report says so or when the same person has a pay-subsidy spell (service type ``pay_subsidy``)
overlapping the row's pay period and, where the placement record names the employer
(``pay_subsidy_employers``), the row's payer is that employer.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

#: Extra (non-contract) table: the employer each pay-subsidy spell names (YSIJOIT ``yrtun_s``).
EMPLOYERS_TABLE = "pay_subsidy_employers"

RULE = ("subsidised = the report's IncomeEarnerType 1 (employed with state employment appropriations) or a "
        "pay-subsidy spell of the same person overlapping the row's pay period, with the same employer where the "
        "placement record names one")


def derive_subsidised(earnings: ir.Table, services: ir.Table, employers: ir.Table | None) -> tuple[ir.Table, Any]:
    """Earnings with ``subsidised`` recomputed, and a table of counts (rows by reason).

    Returns the earnings expression (same columns) and an expression with one row of
    ``reported``, ``derived``, ``both`` and ``rows`` counts.
    """
    ps = services.filter(services.service_type == "pay_subsidy").select(
        "service_id", _p=services.person_id, _s=services.start_date, _e=services.end_date)
    if employers is not None:
        em = employers.select(_sid=employers.service_id, _emp=employers.payer_id)
        ps = ps.left_join(em, ps.service_id == em._sid).drop("_sid")
    else:
        ps = ps.mutate(_emp=ibis.null("int64"))
    e = earnings
    cond = [e.person_id == ps._p, ps._s <= e.pay_period_end, ps._e.isnull() | (ps._e >= e.pay_period_start),
            ps._emp.isnull() | (ps._emp == e.payer_id)]
    hits = e.join(ps, cond).select(_rid=e.report_id, _it=e.income_type).distinct()
    j = e.left_join(hits, [e.report_id == hits._rid, e.income_type == hits._it])
    reported = j.subsidy_reported.fill_null(False) if "subsidy_reported" in j.columns else ibis.literal(False)
    derived = j._rid.notnull()
    out = j.mutate(subsidised=reported | derived).select(*earnings.columns)
    counts = j.aggregate(rows=j.count(), reported=reported.cast("int64").sum(), derived=derived.cast("int64").sum(),
                         both=(reported & derived).cast("int64").sum())
    return out, counts


__all__ = ["EMPLOYERS_TABLE", "RULE", "derive_subsidised"]
