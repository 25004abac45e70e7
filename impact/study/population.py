"""The study population: evaluation units with their attributes, filtered, with an exclusions flow.

Starts from the outcome stage's unit table (service spells or job-seeking spells), adds the
person's attributes and the segment of the job-seeking spell the unit falls in, then
applies the config's population rules one at a time. Every rule is counted (units and
persons removed) for the report's exclusions flow.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from impact.errors import DesignError
from impact.study.config import StudyConfig


@dataclass
class Population:
    """The filtered unit table and the flow of exclusions."""

    units: pl.DataFrame
    flow: list[dict]  # step, units, persons, removed_units, removed_persons
    kind: str


def _row(step: str, df: pl.DataFrame, prev: dict | None) -> dict:
    n, p = df.height, df["person_id"].n_unique() if df.height else 0
    return {"step": step, "units": n, "persons": p,
            "removed_units": (prev["units"] - n) if prev else 0, "removed_persons": (prev["persons"] - p) if prev else 0}


def add_attributes(units: pl.DataFrame, persons: pl.DataFrame, spells: pl.DataFrame,
                   services: pl.DataFrame | None, kind: str) -> pl.DataFrame:
    """Person attributes, age at the reference date, and the segment / elapsed duration of the spell."""
    p = persons.select("person_id", "birth_year", "sex", "education", "language", "employment_area",
                       pl.col("municipality").alias("home_municipality"))
    u = units.join(p, on="person_id", how="left")
    ref = "start_date"
    u = u.with_columns((pl.col(ref).dt.year().cast(pl.Int32) - pl.col("birth_year").cast(pl.Int32)).alias("age"))
    if kind == "service_spell":
        if services is not None:
            extra = [c for c in ("subtype", "employer_sector") if c in services.columns and c not in u.columns]
            if extra:
                u = u.join(services.select("service_id", *extra), on="service_id", how="left")
        # the job-seeking spell the service started in: latest spell start on or before the service start
        sp = spells.select("person_id", pl.col("start_date").alias("spell_start"), pl.col("end_date").alias("spell_end"),
                           "segment", "status_at_start", "spell_id").sort("spell_start")
        u = u.sort("start_date").join_asof(sp, left_on="start_date", right_on="spell_start", by="person_id", check_sortedness=False,
                                           strategy="backward")
        inside = pl.col("spell_end").is_null() | (pl.col("spell_end") >= pl.col("start_date"))
        u = u.with_columns(
            pl.when(inside).then(pl.col("segment")).otherwise(None).alias("segment"),
            pl.when(inside).then(
                (pl.col("start_date").dt.year().cast(pl.Int32) * 12 + pl.col("start_date").dt.month().cast(pl.Int32))
                - (pl.col("spell_start").dt.year().cast(pl.Int32) * 12 + pl.col("spell_start").dt.month().cast(pl.Int32))
            ).otherwise(None).alias("elapsed_months"),
        ).sort("service_id")
    return u


def build_population(units: pl.DataFrame, cfg: StudyConfig, persons: pl.DataFrame, spells: pl.DataFrame,
                     services: pl.DataFrame | None, outcome_exclusions: pl.DataFrame | None = None,
                     n_registered: tuple[int, int] | None = None) -> Population:
    """Apply the population rules of the config, counting each rule.

    Parameters
    ----------
    units : the outcome stage's unit table (``service_outcomes`` or ``spell_outcomes``).
    n_registered : (units, persons) in the registers before the outcome stage's own rules.
    """
    kind = cfg.unit.kind
    u = add_attributes(units, persons, spells, services, kind)
    flow: list[dict] = []
    label = "service spells" if kind == "service_spell" else "job-seeking spells"
    if n_registered is not None:
        flow.append({"step": f"All {label} in the registers", "units": n_registered[0], "persons": n_registered[1],
                     "removed_units": 0, "removed_persons": 0})
    prev = flow[-1] if flow else None
    flow.append(_row(f"With outcomes (outcome-stage rules: ongoing or invalid units dropped)", u, prev))
    pop = cfg.population

    def step(name: str, cond: pl.Expr) -> None:
        nonlocal u
        u = u.filter(cond)
        flow.append(_row(name, u, flow[-1]))

    date_col = "end_date" if kind == "service_spell" else "start_date"
    if kind == "service_spell" and cfg.unit.service_types:
        step(f"Service type in {', '.join(cfg.unit.service_types)}", pl.col("service_type").is_in(list(cfg.unit.service_types)))
    if kind == "service_spell" and pop.completed_only:
        step("Service completed before the extraction date", pl.col("end_date").is_not_null())
    if pop.start_from is not None:
        step(f"{'Ended' if kind == 'service_spell' else 'Started'} on or after {pop.start_from}",
             pl.col(date_col) >= pop.start_from)
    if pop.start_to is not None:
        step(f"{'Ended' if kind == 'service_spell' else 'Started'} on or before {pop.start_to}",
             pl.col(date_col) <= pop.start_to)
    if pop.age_min is not None or pop.age_max is not None:
        lo, hi = pop.age_min or 0, pop.age_max or 200
        step(f"Age {lo}-{hi} at the start", pl.col("age").is_between(lo, hi))
    if pop.areas:
        step(f"Employment area in {', '.join(pop.areas)}", pl.col("employment_area").is_in(list(pop.areas)))
    if pop.segments:
        step(f"Segment in {', '.join(pop.segments)}", pl.col("segment").is_in(list(pop.segments)))
    if pop.languages:
        step(f"Language in {', '.join(pop.languages)}", pl.col("language").is_in(list(pop.languages)))
    if pop.sexes:
        step(f"Sex in {', '.join(pop.sexes)}", pl.col("sex").is_in(list(pop.sexes)))
    if u.height == 0:
        rules = "; ".join(f"{r['step']}: {r['units']:,} left" for r in flow)
        raise DesignError(f"the population rules of the study leave no {label}: {rules}")
    return Population(units=u, flow=flow, kind=kind)


def age_band(age: pl.Expr, bands: tuple[int, ...] = (0, 25, 30, 40, 50, 60)) -> pl.Expr:
    """Label of the age band (e.g. '25-29', '60+')."""
    e = pl.lit(None, dtype=pl.String)
    for i, lo in enumerate(bands):
        hi = bands[i + 1] - 1 if i + 1 < len(bands) else None
        lab = f"{lo}-{hi}" if hi is not None else f"{lo}+"
        if lo == 0:
            lab = f"<{bands[1]}"
        e = pl.when(age >= lo).then(pl.lit(lab)).otherwise(e)
    return e


def today_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
