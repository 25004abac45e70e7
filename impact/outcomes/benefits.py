"""Benefit transitions around a service, from ``benefit_reports``.

* **Benefit of a month**: each payment is allocated to calendar months pro rata by days of
  its period (as earnings by pay period); the person's benefit in the month is the type with
  the largest amount allocated to it (ties: the order of :data:`BENEFIT_ORDER`); ``none`` when
  nothing is allocated. Recoveries (negative amounts) net against their period.
* **Transition of a service**: the benefit in the month before the service's start month
  (*before*) and in month end + h (*after*, h = 6 and 12 by default). *Before* is null when
  that month precedes the first month of benefit data, *after* when month end + h passes the
  last complete month.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import polars as pl

from impact.outcomes.panel import month_expr, month_table

#: Benefit categories in tie-break order, ``none`` for a month without benefit.
BENEFIT_ORDER = ("earnings_related_allowance", "basic_allowance", "labour_market_subsidy", "startup_grant", "other")
NONE = "none"


def benefit_months(benefits: ir.Table, first_month: int, last_month: int) -> ir.Table:
    """Person x month benefit: ``person_id``, ``month``, ``benefit`` (one row per month with a benefit)."""
    b = benefits
    p = b.select(person_id=b.person_id, benefit_type=b.benefit_type, amount=b.amount_eur,
                 d0=b.period_start.epoch_days().cast("int32"), d1=b.period_end.epoch_days().cast("int32"),
                 m0=month_expr(b.period_start), m1=month_expr(b.period_end))
    months = month_table(first_month, last_month)
    single = p.filter(p.m0 == p.m1)
    multi = p.filter(p.m0 != p.m1)

    def shares(j: ir.Table) -> ir.Table:
        days = (ibis.least(j.d1, j.last_day) - ibis.greatest(j.d0, j.first_day) + 1).cast("float64")
        return j.select(person_id=j.person_id, month=j.month.cast("int32"), benefit_type=j.benefit_type,
                        amount=j.amount * days / (j.d1 - j.d0 + 1).cast("float64"))

    a = shares(single.join(months, single.m0 == months.month)).union(
        shares(multi.join(months, [months.month >= multi.m0, months.month <= multi.m1])))
    g = a.group_by(["person_id", "month", "benefit_type"]).aggregate(amount=a.amount.sum())
    g = g.filter(g.amount > 0.005)
    w = ibis.window(group_by=[g.person_id, g.month])
    g = g.mutate(_max=g.amount.max().over(w))
    top = g.filter(g.amount >= g._max - 1e-9)
    rank = ibis.cases(*[(top.benefit_type == t, i) for i, t in enumerate(BENEFIT_ORDER)], else_=len(BENEFIT_ORDER))
    top = top.mutate(_rank=rank)
    best = top.group_by(["person_id", "month"]).aggregate(_r=top._rank.min())
    back = ibis.cases(*[(best._r == i, t) for i, t in enumerate(BENEFIT_ORDER)], else_="other")
    return best.select("person_id", "month", benefit=back)


def benefit_units(tables: dict[str, ir.Table], service_outcomes: pl.DataFrame, last_month: int,
                  horizons: tuple[int, ...] = (6, 12)) -> pl.DataFrame:
    """Per completed service: ``benefit_before`` and ``benefit_{h}m`` (see the module docstring)."""
    b = tables["benefit_reports"]
    r = b.aggregate(f=b.period_start.min(), l=b.period_end.max()).to_polars().row(0, named=True)
    cols = ["service_id", "person_id", "service_type", "start_month", "end_month"]
    units = service_outcomes.select(cols).filter(pl.col("end_month").is_not_null())
    if r["f"] is None or units.height == 0:
        return units.with_columns(pl.lit(None, pl.String).alias("benefit_before"),
                                  *[pl.lit(None, pl.String).alias(f"benefit_{h}m") for h in horizons])
    first = r["f"].year * 12 + r["f"].month - 1
    bm = benefit_months(b, first, max(last_month, r["l"].year * 12 + r["l"].month - 1))
    u = ibis.memtable(units.with_columns(pl.col("start_month").cast(pl.Int32), pl.col("end_month").cast(pl.Int32)))
    out = u
    offsets = {"before": (u.start_month - 1)} | {f"{h}m": u.end_month + h for h in horizons}
    for key, at in offsets.items():
        x = bm.select(**{f"p_{key}": bm.person_id, f"m_{key}": bm.month, f"b_{key}": bm.benefit})
        out = out.left_join(x, [out.person_id == x[f"p_{key}"], (at if key == "before" else
                                                                  out.end_month + int(key[:-1])) == x[f"m_{key}"]])
    sel = {"benefit_before": ibis.cases((out.start_month - 1 >= first, out.b_before.fill_null(NONE)),
                                        else_=ibis.null("string"))}
    for h in horizons:
        sel[f"benefit_{h}m"] = ibis.cases((out.end_month + h <= last_month, out[f"b_{h}m"].fill_null(NONE)),
                                          else_=ibis.null("string"))
    return out.select(*cols, **sel).order_by("service_id").to_polars()


def transition_table(units: pl.DataFrame, horizons: tuple[int, ...], min_count: int) -> pl.DataFrame:
    """Transition counts before -> after by service type and horizon (units with both observed).

    Columns: ``service_type`` (and ``Total``), ``horizon``, ``before``, ``after``, ``n``,
    ``n_before`` (units with that benefit before, observed at the horizon), ``share`` =
    n / n_before, ``suppress`` (n or n_before under ``min_count``; n = 0 cells are not listed).
    """
    parts = []
    for h in horizons:  # a couple of horizons
        u = units.filter(pl.col("benefit_before").is_not_null() & pl.col(f"benefit_{h}m").is_not_null())
        u = pl.concat([u, u.with_columns(pl.lit("Total").alias("service_type"))])
        g = (u.group_by("service_type", pl.col("benefit_before").alias("before"), pl.col(f"benefit_{h}m").alias("after"))
             .agg(pl.len().alias("n"), pl.col("person_id").n_unique().alias("n_persons")))
        g = g.with_columns(pl.lit(h).cast(pl.Int32).alias("horizon"),
                           pl.col("n").sum().over("service_type", "before").alias("n_before"))
        parts.append(g)
    schema = {"service_type": pl.String, "before": pl.String, "after": pl.String, "n": pl.UInt32,
              "n_persons": pl.UInt32, "horizon": pl.Int32, "n_before": pl.UInt32}
    t = pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame(schema=schema)
    return (t.with_columns((pl.col("n") / pl.col("n_before")).alias("share"),
                           suppress=(pl.col("n_persons") < min_count) | (pl.col("n_before") < min_count))
            .select("service_type", "horizon", "before", "after", "n", "n_persons", "n_before", "share", "suppress")
            .sort("service_type", "horizon", "before", "after"))
