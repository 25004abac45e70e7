"""Public job brokerage (julkinen työnvälitys): job offers, candidate searches, vacancies.

Definitions (``docs/outcomes.md``, "Job offers and candidate searches"):

* an **offer** is a unit with origin the calendar month of ``offer_date``; ``employed_{h}m``
  is open-market employment (the outcome stage's rule) in month offer month + h, null when
  that month passes the last complete month;
* a **candidate-search** unit is an offer with a ``search_id`` (the person proposed in the
  search), with the search's result code;
* the **share of vacancies filled** counts vacancies closed by the extraction date
  (``close_date`` not null and on or before it): filled / closed.

The offer units are built in the backend (Ibis); the group tables are polars group-bys on
the unit table.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import polars as pl

from impact.outcomes.events import employed_after, group_counts
from impact.outcomes.panel import month_expr


def offer_units(tables: dict[str, ir.Table], panel: ir.Table, last_month: int,
                horizons: tuple[int, ...] = (1, 3, 6)) -> pl.DataFrame:
    """One row per job offer: offer, person, result code, employer, search, area, industry and
    ``employed_{h}m`` for each horizon (offers after the last complete month are dropped)."""
    o = tables["job_offers"]
    p = tables["persons"].select(_pp=tables["persons"].person_id, employment_area=tables["persons"].employment_area)
    cols = dict(offer_id=o.offer_id, person_id=o.person_id, offer_date=o.offer_date, vacancy_id=o.vacancy_id,
                employer_id=o.employer_id, result_code=o.result_code,
                search_id=o.search_id if "search_id" in o.columns else ibis.null("int64"),
                offer_month=month_expr(o.offer_date))
    u = o.select(**cols)
    u = u.filter(u.offer_month <= last_month)
    u = u.left_join(p, u.person_id == p._pp).drop("_pp")
    if "payers" in tables:
        py = tables["payers"].select(_py=tables["payers"].payer_id, employer_industry=tables["payers"].industry)
        u = u.left_join(py, u.employer_id == py._py).drop("_py")
    else:
        u = u.mutate(employer_industry=ibis.null("string"))
    return employed_after(u, panel, "offer_month", horizons, last_month, "offer_id").order_by("offer_id").to_polars()


def offer_tables(units: pl.DataFrame, horizons: tuple[int, ...], min_count: int) -> dict[str, pl.DataFrame]:
    """Employment after a job offer by result code, employment area, employer industry and employer."""
    u = units.with_columns(pl.col("result_code").fill_null("(no result)"))
    out = {f"offers_by_{b}": group_counts(u, [b], horizons, min_count)
           for b in ("result_code", "employment_area", "employer_industry")}
    by_emp = group_counts(u.with_columns(pl.col("employer_id").cast(pl.String).alias("employer")), ["employer"],
                          horizons, min_count)
    out["offers_by_employer"] = by_emp  # aggregates per employer: outcome files only, never the report
    return out


def search_tables(offer_units: pl.DataFrame, searches: pl.DataFrame, horizons: tuple[int, ...],
                  min_count: int) -> dict[str, pl.DataFrame]:
    """Employment of the persons proposed in candidate searches, by the search's result code and
    area; and per area the share of searches whose vacancy was filled with a proposed person."""
    s = searches.select("search_id", pl.col("result_code").fill_null("(no result)").alias("search_result"),
                        "persons_proposed")
    u = offer_units.filter(pl.col("search_id").is_not_null()).join(s, on="search_id", how="inner")
    out = {f"searches_by_{b}": group_counts(u, [b], horizons, min_count)
           for b in ("search_result", "employment_area")}
    # search level: area of the search = area of its proposed persons (one area per vacancy)
    sa = u.group_by("search_id").agg(pl.col("employment_area").first(), pl.col("search_result").first())
    agg = [pl.len().alias("n_searches"), (pl.col("search_result") == "01").sum().alias("n_filled_by_proposed"),
           (pl.col("search_result").is_in(["01", "02"])).sum().alias("n_filled")]
    by = sa.group_by("employment_area").agg(agg).sort("employment_area")
    tot = sa.select(agg).with_columns(pl.lit("Total").alias("employment_area")).select(by.columns)
    t = pl.concat([by, tot], how="vertical_relaxed").with_columns(
        (pl.col("n_filled_by_proposed") / pl.col("n_searches")).alias("share_filled_by_proposed"),
        suppress=pl.col("n_searches") < min_count)
    out["searches_filled_by_area"] = t
    return out


def vacancy_tables(vacancies: ir.Table, extraction_date: dt.date, min_count: int) -> dict[str, pl.DataFrame]:
    """Share of vacancies filled, by employment area and by year closed (closed vacancies only)."""
    v = vacancies
    closed = v.filter(v.close_date.notnull() & (v.close_date <= ibis.literal(extraction_date)))
    out = {}
    for name, key in (("employment_area", closed.employment_area),
                      ("year_closed", closed.close_date.year().cast("string"))):
        g = closed.group_by(group=key).aggregate(n_vacancies=closed.count(),
                                                 n_filled=ibis.cases((closed.filled, 1), else_=0).sum())
        df = g.to_polars().rename({"group": name}).sort(name)
        tot = df.select(pl.lit("Total").alias(name), pl.col("n_vacancies").sum(), pl.col("n_filled").sum())
        df = pl.concat([df, tot], how="vertical_relaxed").with_columns(
            (pl.col("n_filled") / pl.col("n_vacancies")).alias("share_filled"),
            suppress=pl.col("n_vacancies") < min_count)
        out[f"vacancies_by_{name}"] = df
    return out
