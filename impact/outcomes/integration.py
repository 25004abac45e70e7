"""Integration (koto) path: time from the integration plan to work, and koto area rates.

* **Integration units**: each person's first plan of type ``integration_plan``; time to
  employment = months from the plan month to the first open-market employed month after
  it (censored at the last complete month), as for job-seeking spells.
* **Koto rates** per employment area and cross-section month (default: every December):
  among the persons of the registers aged 15-64 that year, *workforce* = employed (the panel)
  or unemployed (inside a job-seeking spell that month and not employed). Reported for all
  and for foreign-language persons (``language = 'other'``): the foreign-language share of
  the workforce, the employment rate (employed / persons) and the unemployment rate
  (unemployed / workforce). The population is the register population (people who were job
  seekers at some point), not the whole resident population.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import polars as pl

from impact.outcomes.panel import month_expr


def integration_units(tables: dict[str, ir.Table], panel: ir.Table, last_month: int) -> pl.DataFrame:
    """First integration plan per person with months to employment and censoring."""
    ip = tables["integration_plans"]
    ip = ip.filter(ip.plan_type == "integration_plan")
    first = ip.group_by(person_id=ip.person_id).aggregate(plan_date=ip.plan_date.min())
    first = first.mutate(plan_month=month_expr(first.plan_date))
    first = first.filter(first.plan_month <= last_month)
    e = panel.filter(panel.employed & (panel.month <= last_month)).select(_p=panel.person_id, _m=panel.month)
    j = first.join(e, [first.person_id == e._p, e._m > first.plan_month])
    fe = j.group_by(_q=j.person_id).aggregate(_first=j._m.min())
    p = tables["persons"].select(_pp=tables["persons"].person_id, employment_area=tables["persons"].employment_area,
                                 sex=tables["persons"].sex)
    u = first.left_join(fe, first.person_id == fe._q).left_join(p, first.person_id == p._pp)
    found = u._first.notnull()
    u = u.select("person_id", "plan_date", "plan_month", "employment_area", "sex",
                 months_to_employment=ibis.cases((found, u._first - u.plan_month),
                                                 else_=ibis.literal(last_month) - u.plan_month).cast("int32"),
                 censored=~found)
    return u.order_by("person_id").to_polars()


def integration_tables(units: pl.DataFrame, min_count: int) -> dict[str, pl.DataFrame]:
    """Kaplan-Meier curve overall, medians by area and overall (``suppress`` under ``min_count``)."""
    from impact.outcomes.tables import kaplan_meier  # (imports scipy.stats: only when needed)

    if units.height == 0:
        return {}
    curves, med_all = kaplan_meier(units)
    _, med = kaplan_meier(units, by="employment_area")
    med_all = med_all.with_columns(pl.lit("Total").alias("employment_area")).select(med.columns)
    med = pl.concat([med, med_all], how="vertical_relaxed").with_columns(suppress=pl.col("n") < min_count)
    return {"integration_km": curves.with_columns(suppress=pl.col("n_risk") < min_count),
            "integration_median_by_area": med}


def december_months(panel: ir.Table, last_month: int) -> tuple[int, ...]:
    """December of every year from the first month of earnings data to the last complete month."""
    first = panel.month.min().to_pyarrow().as_py()
    y0 = int(first) // 12 if first is not None else last_month // 12
    return tuple(y * 12 + 11 for y in range(y0, last_month // 12 + 1) if int(first or 0) <= y * 12 + 11 <= last_month)


def koto_rates(tables: dict[str, ir.Table], panel: ir.Table, months: tuple[int, ...], min_count: int) -> pl.DataFrame:
    """Koto metrics per employment area and month (one range join for unemployment, one
    equi-join for employment, one group-by)."""
    ms = ibis.memtable(pl.DataFrame({"month": list(months)}, schema={"month": pl.Int32}))
    p = tables["persons"]
    pm = p.cross_join(ms)
    age = (pm.month // 12).cast("int32") - pm.birth_year.cast("int32")
    pm = pm.filter((age >= 15) & (age <= 64)).select(k_person=pm.person_id, k_month=pm.month,
                                                     employment_area=pm.employment_area,
                                                     foreign=pm.language == "other")
    e = panel.filter(panel.employed).select(e_person=panel.person_id, e_month=panel.month)
    s = tables["jobseeking_spells"]
    big = 10**6
    sp = s.select(s_person=s.person_id, s0=month_expr(s.start_date),
                  s1=ibis.cases((s.end_date.notnull(), month_expr(s.end_date)), else_=big))
    js = sp.join(ms, [ms.month >= sp.s0, ms.month <= sp.s1])
    js = js.group_by(u_person=js.s_person, u_month=js.month).aggregate(_one=js.count())
    j = pm.left_join(e, [pm.k_person == e.e_person, pm.k_month == e.e_month])
    j = j.left_join(js, [j.k_person == js.u_person, j.k_month == js.u_month])
    emp = j.e_person.notnull()
    unemp = j.u_person.notnull() & ~emp
    g = j.group_by(employment_area=j.employment_area, month=j.k_month).aggregate(
        persons=j.count(),
        employed=ibis.cases((emp, 1), else_=0).sum(),
        unemployed=ibis.cases((unemp, 1), else_=0).sum(),
        fl_persons=ibis.cases((j.foreign, 1), else_=0).sum(),
        fl_employed=ibis.cases((j.foreign & emp, 1), else_=0).sum(),
        fl_unemployed=ibis.cases((j.foreign & unemp, 1), else_=0).sum(),
    ).to_polars()
    cnt = ["persons", "employed", "unemployed", "fl_persons", "fl_employed", "fl_unemployed"]
    tot = g.group_by("month").agg([pl.col(c).sum() for c in cnt]).with_columns(pl.lit("Total").alias("employment_area"))
    g = pl.concat([g.sort("employment_area", "month"), tot.select(g.columns).sort("month")], how="vertical_relaxed")
    wf = pl.col("employed") + pl.col("unemployed")
    fwf = pl.col("fl_employed") + pl.col("fl_unemployed")
    return g.with_columns(
        workforce=wf, fl_workforce=fwf,
        fl_share_of_workforce=pl.when(wf > 0).then(fwf / wf),
        employment_rate=pl.col("employed") / pl.col("persons"),
        unemployment_rate=pl.when(wf > 0).then(pl.col("unemployed") / wf),
        fl_employment_rate=pl.when(pl.col("fl_persons") > 0).then(pl.col("fl_employed") / pl.col("fl_persons")),
        fl_unemployment_rate=pl.when(fwf > 0).then(pl.col("fl_unemployed") / fwf),
        suppress=pl.col("persons") < min_count, fl_suppress=pl.col("fl_persons") < min_count,
    )
