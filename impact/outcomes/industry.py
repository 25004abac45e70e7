"""Industry of the employer of the first job after a service (``payers``, TOL 2008 sections).

The **first employer** of a completed service is found in the month of the first open-market
employment after its end (the outcome stage's ``months_to_employment``, not censored): among
the person's valid wage report rows (latest version of each report, not cancelled, income
type 101 or 2xx, not subsidised, positive, not a recovery) whose pay period covers that
month, the payer with the largest amount. Its industry comes from ``payers``; ``(unknown)``
when the payer is not there or its industry is null.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import polars as pl

from impact.outcomes.panel import month_expr
from impact.registers.schema import WAGE_INCOME_TYPES


def valid_wage_rows(reports: ir.Table) -> ir.Table:
    """Wage rows of the latest, not cancelled version of each report (non-subsidised, positive)."""
    r = reports
    later = r.filter(r.version > 1)
    later = later.group_by(_lp=later.payer_id, _lr=later.report_ref).aggregate(_lv=later.version.max())
    r = r.left_join(later, [r.payer_id == later._lp, r.report_ref == later._lr])
    keep = (r.version >= r._lv.fill_null(r.version)) & (r.action != "cancel") & r.income_type.isin(
        list(WAGE_INCOME_TYPES)) & ~r.subsidised & (r.amount_eur > 0)
    if "recovery" in r.columns:
        keep = keep & ~r.recovery.fill_null(False)
    r = r.filter(keep)
    return r.select(w_person=r.person_id, payer_id=r.payer_id, amount=r.amount_eur,
                    m0=month_expr(r.pay_period_start), m1=month_expr(r.pay_period_end))


def industry_units(tables: dict[str, ir.Table], service_outcomes: pl.DataFrame) -> pl.DataFrame:
    """Per service employed after its end: ``first_month``, ``first_payer_industry``."""
    u = (service_outcomes.filter(pl.col("censored").not_() & pl.col("months_to_employment").is_not_null())
         .select("service_id", "person_id", "service_type",
                 (pl.col("end_month") + pl.col("months_to_employment")).cast(pl.Int32).alias("first_month")))
    if u.height == 0:
        return u.with_columns(pl.lit(None, pl.String).alias("first_payer_industry"))
    ut = ibis.memtable(u)
    w = valid_wage_rows(tables["earnings_reports"])
    j = ut.join(w, [ut.person_id == w.w_person, w.m0 <= ut.first_month, w.m1 >= ut.first_month])
    per = j.group_by([j.service_id, j.payer_id]).aggregate(s=j.amount.sum())
    win = ibis.window(group_by=per.service_id, order_by=[ibis.desc(per.s), per.payer_id])
    top = per.mutate(_rn=ibis.row_number().over(win))
    top = top.filter(top._rn == 0).select(t_service=top.service_id, t_payer=top.payer_id)
    py = tables["payers"].select(p_payer=tables["payers"].payer_id, p_ind=tables["payers"].industry)
    x = ut.left_join(top, ut.service_id == top.t_service)
    x = x.left_join(py, x.t_payer == py.p_payer)
    res = x.select("service_id", "person_id", "service_type", "first_month",
                   first_payer_industry=x.p_ind.fill_null("(unknown)"))
    return res.order_by("service_id").to_polars()


def industry_tables(units: pl.DataFrame, persons: ir.Table, service_outcomes: pl.DataFrame,
                    min_count: int) -> dict[str, pl.DataFrame]:
    """Placements by industry of the employer, overall and by service type, and who they are.

    ``industry_by_service``: per service type (and Total) and industry: ``n`` placements,
    ``share`` of the service type's placements, the share of the service type's completed
    services placed in that industry, and the placed persons' female share, foreign-language
    share, basic-education share and mean age at the first employed month.
    """
    pr = persons.select("person_id", "sex", "language", "education", "birth_year").to_polars()
    u = units.join(pr, on="person_id", how="left").with_columns(
        (pl.col("first_month") // 12 - pl.col("birth_year").cast(pl.Int32)).alias("age"))
    u = pl.concat([u, u.with_columns(pl.lit("Total").alias("service_type"))])
    completed = service_outcomes.filter(pl.col("end_month").is_not_null()).select("service_type")
    completed = pl.concat([completed, completed.with_columns(pl.lit("Total").alias("service_type"))])
    nsvc = completed.group_by("service_type").agg(pl.len().alias("n_completed"))
    g = (u.group_by("service_type", pl.col("first_payer_industry").alias("industry"))
         .agg(pl.len().alias("n"), pl.col("person_id").n_unique().alias("n_persons"),
              (pl.col("sex") == "F").mean().alias("female_share"),
              (pl.col("language") == "other").mean().alias("foreign_language_share"),
              (pl.col("education") == "basic").mean().alias("basic_education_share"),
              pl.col("age").mean().alias("mean_age")))
    g = g.join(nsvc, on="service_type", how="left").with_columns(
        (pl.col("n") / pl.col("n").sum().over("service_type")).alias("share_of_placements"),
        (pl.col("n") / pl.col("n_completed")).alias("share_of_completed"),
        suppress=pl.col("n_persons") < min_count)
    return {"industry_by_service": g.sort("service_type", "industry")}
