"""Difference-in-differences designs: long panels for :func:`impact.estimators.did.att_gt`.

Two designs built from the outcome tables (the person x month earnings and employment
panel of :func:`impact.outcomes.earnings_panel`, which lists only months with earnings, and
the ``persons`` and ``service_spells`` registers):

* :func:`person_month_panel`: persons x months, employment and earnings, with the cohort =
  the month of each person's first entry into a service (0 = no entry in the window). The
  estimand of CS-DiD on it is the effect of entering the service in month g on the
  entrants of month g, relative to persons who have not (yet) entered.
* :func:`area_month_panel`: employment areas x months, the area's employment rate
  (employed persons / persons living in the area) and mean earnings, with the cohort = the
  month an area-level reform starts (0 = no reform).

Everything is polars joins; no Python loop over persons, areas or months.
"""

from __future__ import annotations

import polars as pl

from impact.errors import DesignError
from impact.months import pl_month_index

PERSON_COVARIATES = ("age", "female", "educ_basic", "educ_tertiary", "lang_other", "lang_sv")


def _need(df: pl.DataFrame, cols: list[str], name: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DesignError(f"{name} table lacks columns {missing}; it has {df.columns}")


def _month_range(panel: pl.DataFrame, months: tuple[int, int] | None) -> tuple[int, int]:
    if months is not None:
        lo, hi = int(months[0]), int(months[1])
    else:
        lo, hi = int(panel["month"].min()), int(panel["month"].max())
    if hi <= lo:
        raise DesignError(f"the month window must hold at least two months, got {lo}..{hi}")
    return lo, hi


def person_covariates(persons: pl.DataFrame, ref_year: int) -> pl.DataFrame:
    """Time-invariant person covariates: age in ``ref_year``, sex, education and language dummies."""
    _need(persons, ["person_id", "birth_year", "sex", "education", "language"], "persons")
    return persons.select(
        "person_id",
        age=(pl.lit(ref_year) - pl.col("birth_year")).cast(pl.Float64),
        female=(pl.col("sex") == "F").cast(pl.Int8),
        educ_basic=(pl.col("education") == "basic").cast(pl.Int8),
        educ_tertiary=(pl.col("education") == "tertiary").cast(pl.Int8),
        lang_other=(pl.col("language") == "other").cast(pl.Int8),
        lang_sv=(pl.col("language") == "sv").cast(pl.Int8),
    )


def person_month_panel(
    panel: pl.DataFrame,
    service_spells: pl.DataFrame,
    persons: pl.DataFrame,
    *,
    service_type: str | None = None,
    months: tuple[int, int] | None = None,
    population: pl.DataFrame | None = None,
    earnings_col: str = "earnings_eur",
) -> pl.DataFrame:
    """Balanced person x month panel around service entry (cohort = month of first entry).

    Parameters
    ----------
    panel : polars DataFrame
        Person x month outcomes (``person_id``, ``month``, ``employed``, ``earnings_col``);
        months absent from it are months without earnings and without employment.
    service_spells : polars DataFrame
        ``person_id``, ``service_type``, ``start_date``.
    persons : polars DataFrame
        The persons register (for the covariates).
    service_type : str, optional
        Only entries into this service type define the cohort (default: any service).
    months : (first, last), optional
        Month-index window (default: the panel's range).
    population : polars DataFrame, optional
        ``person_id`` of the persons to include (default: every person in ``persons``).

    Returns
    -------
    polars DataFrame
        ``person_id, month, cohort, employed, earnings`` plus the covariates of
        :func:`person_covariates`; ``cohort`` is the month index of the first entry, 0 when
        the person does not enter within the window (entries after it count as never).
    """
    _need(panel, ["person_id", "month", "employed", earnings_col], "person x month panel")
    _need(service_spells, ["person_id", "service_type", "start_date"], "service_spells")
    lo, hi = _month_range(panel, months)
    spells = service_spells
    if service_type is not None:
        spells = spells.filter(pl.col("service_type") == service_type)
        if spells.height == 0:
            raise DesignError(f"no service spells of type {service_type!r}")
    entry = spells.group_by("person_id").agg(cohort=pl_month_index(pl.col("start_date").min()))
    who = (population if population is not None else persons).select("person_id").unique()
    grid = who.join(pl.DataFrame({"month": pl.int_range(lo, hi + 1, eager=True).cast(panel.schema["month"])}), how="cross")
    out = (
        grid.join(panel.select("person_id", "month", "employed", pl.col(earnings_col).alias("earnings")),
                  on=["person_id", "month"], how="left")
        .join(entry, on="person_id", how="left")
        .with_columns(
            employed=pl.col("employed").fill_null(False).cast(pl.Int8),
            earnings=pl.col("earnings").fill_null(0.0).cast(pl.Float64),
            cohort=pl.when(pl.col("cohort").is_between(lo, hi)).then(pl.col("cohort")).otherwise(0).cast(pl.Int64),
        )
        .join(person_covariates(persons, lo // 12), on="person_id", how="left")
        .sort("person_id", "month")
    )
    early = out.filter((pl.col("cohort") == lo) & (pl.col("month") == lo)).height
    if early:  # entering in the first month leaves no pre-period: such persons are not in the design
        out = out.filter(pl.col("cohort") != lo)
    return out


def area_month_panel(
    panel: pl.DataFrame,
    persons: pl.DataFrame,
    reforms: pl.DataFrame,
    *,
    months: tuple[int, int] | None = None,
    area_col: str = "employment_area",
    earnings_col: str = "earnings_eur",
) -> pl.DataFrame:
    """Area x month panel of employment rates for area-level reforms.

    Parameters
    ----------
    panel : polars DataFrame
        Person x month outcomes (``person_id``, ``month``, ``employed``, ``earnings_col``).
    persons : polars DataFrame
        ``person_id`` and ``area_col`` (persons live in one area).
    reforms : polars DataFrame
        ``area`` (same codes as ``area_col``) and ``start_month`` (month index or date) of
        each reform area; areas not listed never adopt.

    Returns
    -------
    polars DataFrame
        ``area, month, persons, employed, employment_rate, mean_earnings, cohort`` with
        ``employment_rate = employed persons / persons living in the area`` and ``cohort``
        the reform's start month (0: no reform).
    """
    _need(panel, ["person_id", "month", "employed", earnings_col], "person x month panel")
    _need(persons, ["person_id", area_col], "persons")
    _need(reforms, ["area", "start_month"], "reforms")
    lo, hi = _month_range(panel, months)
    if reforms.schema["start_month"] in (pl.Date, pl.Datetime):
        reforms = reforms.with_columns(start_month=pl_month_index("start_month"))
    dup = reforms.group_by("area").len().filter(pl.col("len") > 1)
    if dup.height:
        raise DesignError(f"areas with more than one reform start: {dup['area'].to_list()[:5]}")
    areas = persons.group_by(area_col).agg(persons=pl.len()).rename({area_col: "area"})
    unknown = reforms.join(areas, on="area", how="anti")
    if unknown.height:
        raise DesignError(f"reform areas not found among the persons' {area_col}: {unknown['area'].to_list()[:5]}")
    p = (
        panel.filter(pl.col("month").is_between(lo, hi))
        .join(persons.select("person_id", pl.col(area_col).alias("area")), on="person_id", how="inner")
        .group_by("area", "month")
        .agg(employed=pl.col("employed").cast(pl.Int64).sum(), earnings=pl.col(earnings_col).sum())
    )
    grid = areas.join(pl.DataFrame({"month": pl.int_range(lo, hi + 1, eager=True).cast(panel.schema["month"])}), how="cross")
    return (
        grid.join(p, on=["area", "month"], how="left")
        .join(reforms.select("area", cohort=pl.col("start_month").cast(pl.Int64)), on="area", how="left")
        .with_columns(
            employed=pl.col("employed").fill_null(0),
            employment_rate=pl.col("employed").fill_null(0) / pl.col("persons"),
            mean_earnings=pl.col("earnings").fill_null(0.0) / pl.col("persons"),
            cohort=pl.col("cohort").fill_null(0),
        )
        .drop("earnings")
        .sort("area", "month")
    )
