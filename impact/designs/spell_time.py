"""Inputs of the DiD designs that a study derives from its registers and options: the spell-time
panel and the entry months of the risk-set design."""

from __future__ import annotations

import polars as pl

from impact.errors import DesignError
from impact.months import month_label, pl_month_index


def subsample(ids: pl.Series, n_max: int) -> pl.Expr:
    """Deterministic subsample of about ``n_max`` of the units ``ids`` (by the hash of the person)."""
    n = ids.n_unique()
    if n <= n_max:
        return pl.lit(True)
    cut = int(n_max / n * 2**32)
    return (pl.col("person_id").hash(seed=20250101) % (2**32)) < cut


def spell_time_panel(spells: pl.DataFrame, services: pl.DataFrame, person_month: pl.DataFrame, service_type: str,
                     max_u: int, horizon: int, n_max: int, last_month: int) -> pl.DataFrame:
    """Job-seeking spells in months since the spell started, with the month the service starts.

    One row per spell and month t = 0..max_u + horizon since the spell's start month;
    ``cohort`` = the month t at which the service starts (1..max_u), 0 when it does not start
    within ``max_u`` months of the spell. Everyone is a new job seeker at t = 0, so the
    comparison is job seekers of the same unemployment duration who have not (yet) started
    the service, including those who leave for work (the DiD counterpart of the risk-set
    design). ``spells`` are the job-seeking spells of the study's population (with ``s0``, the
    start month); ``services`` the treatment's service spells.
    """
    sp = spells.select("person_id", "spell_id", "start_date", "end_date", pl_month_index("start_date").alias("s0"))
    sp = sp.filter(pl.col("s0") + max_u + horizon <= last_month)
    sv = services.filter(pl.col("service_type") == service_type).select("person_id",
                                                                        pl.col("start_date").alias("sv_start"))
    j = sp.join(sv, on="person_id", how="inner").filter(
        (pl.col("sv_start") >= pl.col("start_date")) &
        (pl.col("end_date").is_null() | (pl.col("sv_start") <= pl.col("end_date") + pl.duration(days=7))))
    first = j.group_by("spell_id").agg(pl_month_index(pl.col("sv_start").min()).alias("ms"))
    sp = sp.join(first, on="spell_id", how="left").with_columns(
        pl.when((pl.col("ms") - pl.col("s0")).is_between(1, max_u)).then(pl.col("ms") - pl.col("s0"))
        .otherwise(0).cast(pl.Int64).alias("cohort"))
    # spells that start the service at t = 0 or after max_u are neither cohort nor clean comparison: dropped
    sp = sp.filter((pl.col("cohort") > 0) | pl.col("ms").is_null())
    sp = sp.filter(subsample(sp["spell_id"], n_max))
    T = max_u + horizon
    grid = sp.with_columns(pl.int_ranges(0, T + 1, dtype=pl.Int32).alias("t")).explode("t").with_columns(
        (pl.col("s0") + pl.col("t")).cast(pl.Int32).alias("month"))
    pm = person_month.select("person_id", pl.col("month").cast(pl.Int32), "employed")
    out = grid.join(pm, on=["person_id", "month"], how="left").with_columns(
        pl.col("employed").fill_null(False).cast(pl.Int8))
    return out.select("spell_id", "person_id", "t", "cohort", "employed").sort("spell_id", "t")


def risk_set_cohorts(first_month: int, last_full: int, pre: int, post: int, n_cohorts: int,
                     month_range: tuple[int | None, int | None] = (None, None), cohorts_from: int | None = None,
                     cohorts_to: int | None = None) -> tuple[int, int]:
    """Entry months (month indexes) of the risk-set DiD.

    ``cohorts_from``/``cohorts_to`` when given; otherwise the last ``n_cohorts`` months whose
    ``post`` months of follow-up end by ``last_full`` (the last fully reported month) and that
    lie inside the population's months ``month_range``, with ``pre`` months of data before.

    Raises
    ------
    DesignError
        When the entry months leave no room for the window inside the data.
    """
    g1 = last_full - post
    if month_range[1] is not None:
        g1 = min(g1, month_range[1])
    g0 = g1 - n_cohorts + 1
    if month_range[0] is not None:
        g0 = max(g0, month_range[0])
    g0 = max(g0, first_month + pre)
    if cohorts_from is not None:
        g0 = cohorts_from
    if cohorts_to is not None:
        g1 = cohorts_to
    if g0 - pre < first_month or g1 + post > last_full or g1 < g0:
        raise DesignError(
            f"the risk-set DiD needs entry months with {pre} months before and {post} after (outcomes.window_months) "
            f"inside the outcome data ({month_label(first_month)}..{month_label(last_full)}); got cohorts "
            f"{month_label(g0)}..{month_label(g1)} (treatment.cohorts_from / cohorts_to, population.start_from / "
            "start_to, estimators.did.cohorts)")
    return g0, g1
