"""Area-level inputs of the synthetic control and the statistical peer groups."""

from __future__ import annotations

import polars as pl

#: Structural covariates of an area (the TE2024 financing criteria and more).
AREA_COVARIATES = ("log_persons", "employment_rate_pre", "foreign_language_share", "tertiary_share", "basic_share",
                   "long_term_share")


def area_covariates(panel: pl.DataFrame, persons: pl.DataFrame, spells: pl.DataFrame, t0: int) -> pl.DataFrame:
    """Structural covariates of each area before the reform month ``t0``.

    ``panel`` is the area x month panel (:func:`impact.designs.did_panels.area_month_panel`);
    ``persons`` and ``spells`` the population's persons and job-seeking spells. Returns ``area``
    and :data:`AREA_COVARIATES`.
    """
    pre = panel.filter(pl.col("month") < t0)
    emp = pre.group_by("area").agg(pl.col("employment_rate").mean().alias("employment_rate_pre"),
                                   pl.col("persons").max().alias("persons"))
    comp = persons.group_by("employment_area").agg(
        (pl.col("language") == "other").mean().alias("foreign_language_share"),
        (pl.col("education") == "tertiary").mean().alias("tertiary_share"),
        (pl.col("education") == "basic").mean().alias("basic_share"),
    ).rename({"employment_area": "area"})
    sp = spells.join(persons.select("person_id", "employment_area"), on="person_id").with_columns(
        ((pl.col("end_date").fill_null(pl.date(2100, 1, 1)) - pl.col("start_date")).dt.total_days() > 365).alias("ltu"))
    ltu = sp.group_by("employment_area").agg(pl.col("ltu").mean().alias("long_term_share")).rename(
        {"employment_area": "area"})
    return emp.join(comp, on="area").join(ltu, on="area", how="left").with_columns(
        pl.col("persons").cast(pl.Float64).log().alias("log_persons")).sort("area")
