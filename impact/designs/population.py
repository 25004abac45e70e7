"""The study population: the rules of ``[population]`` and ``[unit]``, applied once, for every analysis.

:func:`build_population` starts from the outcome stage's unit table (service spells or
job-seeking spells), adds the person's attributes and the segment of the job-seeking spell
the unit falls in, and applies the rules one at a time, counting each (units, persons, and
the persons whose units a rule removed) in a :class:`Flow`.

Every analysis takes its sample from the same rules: :meth:`Population.restrict` keeps the
rows of an event table (risk-set rows of a matching design, the entrants and comparison
persons of a DiD, person-months of an area panel, job offers, ...) whose person meets the
rules at the row's month: the dates (on the start: a service's start, a spell's start, the
month in which treated and comparison persons are compared), the age in that year, the
employment area, language, sex and the segment of the job-seeking spell.

Everything is polars joins; no loop over persons.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
import polars as pl

from impact.errors import ConfigError, DesignError
from impact.months import month_index, pl_month_index
from impact.options import option
from impact.registers.schema import LANGUAGES, SEGMENTS, SERVICE_TYPES, SEXES

UNIT_KINDS = ("service_spell", "jobseeking_spell")
#: A service belongs to the job-seeking spell that is open when it starts or that ended at most this many
#: days before (the register closes a spell when a service starts; the risk-set designs link the same way).
LINK_DAYS = 7


@dataclass(frozen=True)
class PopulationOptions:
    """``[population]``: who and when; every analysis of the study keeps only what these rules allow."""

    start_from: Any = option(None, "First start date: service spells and job-seeking spells by their start date; "
                             "effect designs by the month in which treated and comparison persons are compared; "
                             "synthetic control by the months of the area panel.", kind="date")
    start_to: Any = option(None, "Last start date (see start_from).", kind="date")
    age_min: int | None = option(None, "Youngest age (in the calendar year of the start or comparison month).",
                                 kind="int", lo=15, hi=100)
    age_max: int | None = option(None, "Oldest age (as age_min).", kind="int", lo=15, hi=100)
    areas: tuple[str, ...] | None = option(None, "Employment areas of residence (persons register).", kind="str_list")
    segments: tuple[str, ...] | None = option(None, "Service-need segments of the job-seeking spell.", kind="str_list",
                                              choices=tuple(SEGMENTS))
    languages: tuple[str, ...] | None = option(None, "Languages.", kind="str_list", choices=LANGUAGES)
    sexes: tuple[str, ...] | None = option(None, "Sexes.", kind="str_list", choices=SEXES)

    def check(self, path: str) -> None:
        if self.start_from and self.start_to and self.start_to < self.start_from:
            raise ConfigError(f"{path}.start_to = {self.start_to} is before {path}.start_from = {self.start_from}: "
                              "expected start_from <= start_to")
        if self.age_min is not None and self.age_max is not None and self.age_max < self.age_min:
            raise ConfigError(f"{path}.age_max = {self.age_max} is below {path}.age_min = {self.age_min}")

    @property
    def month_range(self) -> tuple[int | None, int | None]:
        """The dates as month indexes (designs that compare persons month by month use whole months)."""
        return (None if self.start_from is None else month_index(self.start_from),
                None if self.start_to is None else month_index(self.start_to))

    @property
    def restricts_persons(self) -> bool:
        return any(x is not None for x in (self.age_min, self.age_max, self.areas, self.segments, self.languages,
                                           self.sexes))


#: Keys that [population] no longer accepts.
MOVED = {"completed_only": "the outcome stage follows completed units only (an ongoing service or spell has no "
                           "outcomes yet); remove the key"}


@dataclass(frozen=True)
class UnitOptions:
    """``[unit]``: the evaluation unit of the follow-up."""

    kind: str = option("service_spell", "Follow-up of service spells (months after the service ended) or of "
                       "job-seeking spells (after the spell ended).", kind="str", choices=UNIT_KINDS,
                       applies=("followup",))
    service_types: tuple[str, ...] | None = option(None, "Service types of the follow-up (default: every type); an "
                                                   "effect study's treatment.service_type must be among them.",
                                                   kind="str_list", choices=tuple(SERVICE_TYPES), applies=("followup",))

    def check(self, path: str) -> None:
        if self.kind == "jobseeking_spell" and self.service_types:
            raise ConfigError(f"{path}.service_types is only allowed with {path}.kind = 'service_spell'")


# ---------------------------------------------------------------------------------------
# The flow of exclusions
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    """Steps from the registers to a sample, each counted in units and distinct persons.

    ``steps`` (pandas): ``step`` (0, 1, ...), ``key`` (wording catalogue key of the step's text),
    ``params`` (dict for the text), ``units``, ``persons`` (left after the step),
    ``removed_units``, ``removed_persons`` (persons with no unit left), ``affected_persons``
    (distinct persons who lost a unit: the persons behind the removed count).
    ``members``: ``step``, ``part`` ("left" or "removed"), ``person_id`` -- the persons behind
    each published count (for disclosure control; never published).
    """

    name: str
    steps: pd.DataFrame
    members: pl.DataFrame = field(repr=False)

    def last(self) -> dict:
        return self.steps.iloc[-1].to_dict()


class FlowBuilder:
    """Collects the steps of a :class:`Flow` from successive versions of a unit table."""

    def __init__(self, name: str, unit: str | None = None):
        self.name = name
        self.unit = unit
        self.rows: list[dict] = []
        self.members: list[pl.DataFrame] = []
        self._prev: pl.DataFrame | None = None

    def _ids(self, df: pl.DataFrame) -> pl.DataFrame:
        cols = ["person_id"] + ([self.unit] if self.unit and self.unit in df.columns else [])
        return df.select(cols)

    def add(self, key: str, df: pl.DataFrame, **params: Any) -> None:
        """Record the sample after a step (``df`` has ``person_id``; units are its rows)."""
        ids = self._ids(df)
        persons = ids.select("person_id").unique()
        row = {"step": len(self.rows), "key": key, "params": params, "units": ids.height, "persons": persons.height,
               "removed_units": 0, "removed_persons": 0, "affected_persons": 0}
        self.members.append(persons.with_columns(step=pl.lit(row["step"], pl.Int32), part=pl.lit("left")))
        if self._prev is not None:
            prev_persons = self._prev.select("person_id").unique()
            gone = prev_persons.join(persons, on="person_id", how="anti")
            if self.unit and self.unit in ids.columns and self.unit in self._prev.columns:
                removed = self._prev.join(ids.select(self.unit), on=self.unit, how="anti")
            else:
                removed = gone
            affected = removed.select("person_id").unique()
            row.update(removed_units=self._prev.height - ids.height, removed_persons=gone.height,
                       affected_persons=affected.height)
            self.members.append(affected.with_columns(step=pl.lit(row["step"], pl.Int32), part=pl.lit("removed")))
        self.rows.append(row)
        self._prev = ids

    def build(self) -> Flow:
        members = (pl.concat([m.select("step", "part", pl.col("person_id").cast(pl.Int64)) for m in self.members])
                   if self.members else pl.DataFrame(schema={"step": pl.Int32, "part": pl.String,
                                                             "person_id": pl.Int64}))
        return Flow(name=self.name, steps=pd.DataFrame(self.rows), members=members)


# ---------------------------------------------------------------------------------------
# The population
# ---------------------------------------------------------------------------------------


def add_attributes(units: pl.DataFrame, persons: pl.DataFrame, spells: pl.DataFrame,
                   services: pl.DataFrame | None, kind: str) -> pl.DataFrame:
    """Person attributes, age at the start, the start month and the segment / elapsed months of the spell."""
    p = persons.select("person_id", "birth_year", "sex", "education", "language", "employment_area",
                       pl.col("municipality").alias("home_municipality"))
    u = units.join(p, on="person_id", how="left")
    u = u.with_columns((pl.col("start_date").dt.year().cast(pl.Int32) - pl.col("birth_year").cast(pl.Int32)).alias("age"),
                       pl_month_index("start_date").alias("start_month"))
    if kind == "service_spell":
        if services is not None:
            extra = [c for c in ("subtype", "employer_sector") if c in services.columns and c not in u.columns]
            if extra:
                u = u.join(services.select("service_id", *extra), on="service_id", how="left")
        # the job-seeking spell the service started in (or right after): latest spell start on or before the
        # service start, open then or ended at most LINK_DAYS before
        sp = spells.select("person_id", pl.col("start_date").alias("spell_start"), pl.col("end_date").alias("spell_end"),
                           "segment", "status_at_start", "spell_id").sort("spell_start")
        u = u.sort("start_date").join_asof(sp, left_on="start_date", right_on="spell_start", by="person_id",
                                           check_sortedness=False, strategy="backward")
        inside = pl.col("spell_end").is_null() | (pl.col("spell_end") + pl.duration(days=LINK_DAYS) >= pl.col("start_date"))
        u = u.with_columns(
            pl.when(inside).then(pl.col("segment")).otherwise(None).alias("segment"),
            pl.when(inside).then(pl.col("start_month") - pl_month_index("spell_start")).otherwise(None)
            .alias("elapsed_months"),
        ).sort("service_id")
    return u


@dataclass(frozen=True)
class Population:
    """The study population: its units (the follow-up's sample), its flow, and the rules.

    ``persons`` holds the attributes of every person with a unit in the registers;
    ``spells`` the job-seeking spells (for the segment of an event).
    """

    units: pl.DataFrame
    flow: Flow
    kind: str
    options: PopulationOptions
    persons: pl.DataFrame = field(repr=False)
    spells: pl.DataFrame = field(repr=False)

    def person_filter(self, prefix: str = "") -> pl.Expr:
        """The rules on fixed person attributes (area, language, sex) as a polars expression
        (on the columns ``prefix + employment_area``, ...)."""
        o = self.options
        e = pl.lit(True)
        for col, allowed in (("employment_area", o.areas), ("language", o.languages), ("sex", o.sexes)):
            if allowed:
                e &= pl.col(prefix + col).is_in(list(allowed))
        return e

    def allowed_persons(self) -> pl.DataFrame:
        """``person_id`` of the persons whose fixed attributes meet the rules."""
        return self.persons.filter(self.person_filter()).select("person_id")

    def segment_at(self, events: pl.DataFrame, month: str) -> pl.Series:
        """Segment of the job-seeking spell open at the end of the month before ``month`` (null if none)."""
        sp = self.spells.select("person_id", pl.col("segment").alias("_seg"), _s=pl_month_index("start_date"),
                                _e=pl.when(pl.col("end_date").is_null()).then(pl.lit(2**30))
                                .otherwise(pl_month_index(pl.col("end_date") + pl.duration(days=1)))).sort("_s")
        ev = events.select("person_id", (pl.col(month).cast(pl.Int32) - 1).alias("_m")).with_row_index("_r")
        j = ev.sort("_m").join_asof(sp.with_columns(pl.col("_s").cast(pl.Int32)), left_on="_m", right_on="_s",
                                    by="person_id", strategy="backward", check_sortedness=False)
        j = j.with_columns(pl.when(pl.col("_e") > pl.col("_m")).then(pl.col("_seg")).otherwise(None).alias("_seg"))
        return j.sort("_r")["_seg"]

    def restrict(self, events: pl.DataFrame, month: str, segment: str | None = None,
                 dates: bool = True) -> pl.DataFrame:
        """Rows of ``events`` (``person_id`` and the month index column ``month``) that meet the rules.

        Dates apply to whole months; the age is the one in the month's calendar year; the
        segment is the column ``segment`` if given, else the job-seeking spell open at the end
        of the previous month. ``dates=False`` leaves the dates out (an area panel sets its
        months itself).
        """
        o = self.options
        m0, m1 = o.month_range
        keep = pl.lit(True)
        if dates and m0 is not None:
            keep &= pl.col(month) >= m0
        if dates and m1 is not None:
            keep &= pl.col(month) <= m1
        out = events.filter(keep)
        if not (o.restricts_persons and out.height):
            return out
        attrs = self.persons.select("person_id", "birth_year", "employment_area", "language", "sex")
        tmp = out.with_row_index("_pr").join(attrs.rename({c: f"_p_{c}" for c in attrs.columns if c != "person_id"}),
                                              on="person_id", how="left")
        cond = self.person_filter(prefix="_p_")
        age = pl.col(month).cast(pl.Int32) // 12 - pl.col("_p_birth_year").cast(pl.Int32)
        if o.age_min is not None:
            cond &= age >= o.age_min
        if o.age_max is not None:
            cond &= age <= o.age_max
        if o.segments:
            seg = pl.col(segment) if segment is not None else pl.Series("_seg", self.segment_at(tmp, month))
            tmp = tmp.with_columns(_p_seg=seg)
            cond &= pl.col("_p_seg").is_in(list(o.segments))
        return tmp.filter(cond).sort("_pr").drop([c for c in tmp.columns if c.startswith("_p")])


def build_population(units: pl.DataFrame, unit: UnitOptions, options: PopulationOptions, persons: pl.DataFrame,
                     spells: pl.DataFrame, services: pl.DataFrame | None,
                     registered: pl.DataFrame | None = None) -> Population:
    """Apply the population rules to the outcome stage's unit table, counting each rule.

    Parameters
    ----------
    units : the outcome stage's unit table (``service_outcomes`` or ``spell_outcomes``).
    registered : the units in the registers before the outcome stage's own rules (``person_id`` and the
        unit's id), the flow's first step.

    Raises
    ------
    DesignError
        When the rules leave no unit (the message lists what each rule left).
    """
    kind = unit.kind
    uid = "service_id" if kind == "service_spell" else "spell_id"
    u = add_attributes(units, persons, spells, services, kind)
    flow = FlowBuilder("population", unit=uid)
    what = "service spells" if kind == "service_spell" else "job-seeking spells"
    if registered is not None:
        flow.add(f"flow_registers_{kind}", registered)
    flow.add("flow_with_outcomes", u)
    o = options

    def step(key: str, cond: pl.Expr, **params: Any) -> None:
        nonlocal u
        u = u.filter(cond)
        flow.add(key, u, **params)

    if kind == "service_spell" and unit.service_types:
        step("flow_service_types", pl.col("service_type").is_in(list(unit.service_types)),
             types=", ".join(unit.service_types))
    if o.start_from is not None:
        step("flow_start_from", pl.col("start_date") >= o.start_from, date=o.start_from.isoformat())
    if o.start_to is not None:
        step("flow_start_to", pl.col("start_date") <= o.start_to, date=o.start_to.isoformat())
    if o.age_min is not None or o.age_max is not None:
        lo, hi = o.age_min or 0, o.age_max or 200
        step("flow_age", pl.col("age").is_between(lo, hi), lo=lo, hi=hi)
    if o.areas:
        step("flow_areas", pl.col("employment_area").is_in(list(o.areas)), areas=", ".join(o.areas))
    if o.segments:
        step("flow_segments", pl.col("segment").is_in(list(o.segments)), segments=", ".join(o.segments))
    if o.languages:
        step("flow_languages", pl.col("language").is_in(list(o.languages)), languages=", ".join(o.languages))
    if o.sexes:
        step("flow_sexes", pl.col("sex").is_in(list(o.sexes)), sexes=", ".join(o.sexes))
    if u.height == 0:
        rules = "; ".join(f"{r['key']}: {r['units']:,} left" for r in flow.rows)
        raise DesignError(f"the population rules of the study leave no {what}: {rules}")
    attrs = add_person_attributes(persons)
    return Population(units=u, flow=flow.build(), kind=kind, options=o, persons=attrs, spells=spells)


def add_person_attributes(persons: pl.DataFrame) -> pl.DataFrame:
    """The person columns the population rules read."""
    return persons.select("person_id", "birth_year", "sex", "education", "language", "employment_area")


def with_options(pop: Population, **changes: Any) -> Population:
    """A copy of ``pop`` with other rules (for tests and sensitivity checks)."""
    return replace(pop, options=replace(pop.options, **changes))


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
