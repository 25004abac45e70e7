"""Difference-in-differences designs: long panels for :func:`impact.estimators.did.att_gt`.

Designs built from the outcome tables (the person x month earnings and employment panel,
``compute_outcomes(con, open_registers(con, folder), cfg).person_month`` or
:func:`impact.outcomes.earnings_panel`, which lists only months with earnings: a month
absent from it is a month without earnings and without employment) and the registers
(``persons``, ``service_spells``, ``jobseeking_spells``). The outcome stage keeps only
the reports of persons with a job-seeking or service spell (exclusion rule
``person_without_spells``): a person without any spell is absent from its panel, so a
design over all residents (``person_month_panel`` without ``population``,
``area_month_panel``) would count such persons as never employed. Restrict the population
to persons with a spell, or use a panel covering everyone.

* :func:`person_month_panel`: persons x months, employment and earnings, with the cohort =
  the month of each person's first entry into a service (0 = no entry in the window). The
  estimand of CS-DiD on it is the effect of entering the service in month g on the
  entrants of month g, relative to persons who have not (yet) entered.
* :func:`risk_set_panel`: a stacked "join now vs not now" design around service entry. For
  each entry month g, the persons entering the service in g (first entry of the type) and
  a comparison set of persons job seeking at the same time who did not enter then (and may
  enter later); persons x calendar months. With ``att_gt(..., comparison_set="stack")`` the
  estimand is the 'not now' effect of entering in g on the entrants, by event time.
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
        With the outcome stage's panel, which covers only persons with a job-seeking or
        service spell, pass those persons.

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


def risk_set_panel(
    panel: pl.DataFrame,
    service_spells: pl.DataFrame,
    jobseeking_spells: pl.DataFrame,
    persons: pl.DataFrame,
    *,
    service_type: str,
    cohorts: tuple[int, int],
    pre: int = 6,
    post: int = 24,
    controls_per_treated: int | None = None,
    seed: int = 0,
    earnings_col: str = "earnings_eur",
    area_col: str = "employment_area",
    window_only: bool = False,
    elapsed_bands: tuple[int, ...] | None = None,
    comparison_at: str = "entry_month_end",
    elapsed: str = "spell",
    link_days: int = 7,
    before_month: int | None = None,
) -> pl.DataFrame:
    """Stacked risk-set panel: entrants of month g and job seekers who did not enter then.

    Why not :func:`person_month_panel`: services start only in job-seeking months, so an
    entry cohort is (nearly) all non-employed just before g while persons not (yet) entering
    are a mix of employed and job seekers. Their employment trends differ without any
    treatment (the pre-programme dip and the recovery after it), so parallel trends fail
    with never- or not-yet-treated comparisons. Here every cohort has its own comparison
    set, in the same state at the same time.

    For each cohort ``g`` in ``cohorts`` (month indexes, inclusive):

    * treated: persons whose *first* spell of ``service_type`` (in the register) starts in
      month ``g`` and who were job seeking on the last day of month ``g - 1``;
    * comparison set of ``g``: persons job seeking on the last days of months ``g - 1`` and
      ``g`` (one job-seeking spell), who start no service of any type in month ``g`` and
      have not started ``service_type`` before ``g``. They may enter later: the
      counterfactual is 'not now' (not entering in ``g``), not 'never'.

    Comparison persons must still be job seeking at the end of ``g``: an entrant of ``g`` was
    a job seeker through ``g`` in the world without the service (a service starts only in a
    job-seeking month), so a comparison person who leaves for work in ``g`` has no
    counterpart among the entrants.

    A person can be in several comparison sets (and treated in one): cluster by
    ``person_id``. Every unit (person x stack) is followed over the same calendar months
    ``min(g) - pre .. max(g) + post`` (a balanced panel).

    Estimand, with ``att_gt(d, unit="unit", time="month", group="cohort",
    outcome="employed", comparison_set="stack", cluster="person_id", covariates=[...])``:
    ATT(g, g + e) = E[Y_{g+e}(enter in g) - Y_{g+e}(not in g) | entrants of g], the
    'not now' effect by months since entry (lock-in months included), identified under
    parallel trends of entrants and comparison persons given the covariates (here both are
    job seekers with the same calendar month, so the pre-programme dip is shared). The
    truth is :func:`impact.simulate.truth.true_event_att` of the treated spells
    (``service_id`` column).

    Parameters
    ----------
    panel : polars DataFrame
        Person x month outcomes (``person_id``, ``month``, ``employed``, ``earnings_col``),
        e.g. ``compute_outcomes(...).person_month``; months absent from it are months
        without earnings and without employment. Leave out months whose pay is not yet
        fully reported at extraction (the outcome run's last month receives arrears pay
        later), or keep ``max(cohorts) + post`` before them.
    service_spells : polars DataFrame
        ``person_id``, ``service_id``, ``service_type``, ``start_date``.
    jobseeking_spells : polars DataFrame
        ``person_id``, ``start_date``, ``end_date`` (null: open), ``segment``.
    persons : polars DataFrame
        The persons register (covariates).
    service_type : str
        The service whose entry defines the cohorts.
    cohorts : (first, last)
        Entry months (month indexes) that form cohorts.
    pre, post : int
        Months followed before the first and after the last cohort.
    controls_per_treated : int, optional
        Keep a random sample of at most this many comparison persons per treated person of
        the same cohort and the same area (``area_col`` of ``persons``; seeded by ``seed``):
        exact matching on the area, whose service intensity and job-finding rate both
        differ, and a smaller panel. Default: every person at risk.
    elapsed_bands : tuple of int, optional
        With ``controls_per_treated``: sample the comparison persons also within the same band
        of months since the job-seeking spell started (at ``g``), bands starting at these
        values (e.g. ``(1, 2, ..., 13, 19, 25)``: exact months 1-12, then 13-18, 19-24, 25+).
        Employment before entry steps down in the month the spell started, so matching on it
        lines up the entrants' and comparison persons' pre-entry paths by design.
    window_only : bool
        Keep only the months ``g - pre .. g + post`` of each unit of stack ``g`` (an
        unbalanced stacked event-window panel, e.g. for TWFE or stacked regressions, in
        which every entrant is observed exactly ``post + 1`` months from entry).
    comparison_at : {"entry_month_end", "entry_month_start"}
        ``"entry_month_end"`` (default): comparison persons are job seeking on the last days
        of ``g - 1`` and ``g``; ``"entry_month_start"``: on the last day of ``g - 1`` only
        (those who leave job seeking during ``g`` stay in). The end-of-month rule is not
        conditioning on the future in the generator's world: there a service starts only in
        a month the person is job seeking throughout, and the entrants' 'not now' path stays
        job seeking through ``g`` (measured: the start-of-month rule puts the comparison
        persons' later employment 3-4 points above the entrants' true 'not now' path in months
        1-8 after entry; ``benchmarks/mc_populations.py``, docs/validation.md).
    elapsed : {"spell", "episode"}
        Months since the start of the register's job-seeking spell (default), or of the
        job-seeking episode (spells chained by services, as
        :func:`impact.designs.dynamic.risk_set_design`), for ``elapsed_months``, the
        elapsed-duration bands and ``emp_12m`` (employment in the 12 months before).
    link_days : int
        With ``elapsed="episode"``: a spell starting within this many days of the end of the
        chain so far continues the episode.
    before_month : int, optional
        Only the panel's months before this one are read (e.g. the incomplete last month of an
        extraction): the same as passing ``panel.filter(month < before_month)``, without that copy
        of a national panel.

    Returns
    -------
    polars DataFrame
        ``unit, person_id, stack, cohort, service_id, month, employed, earnings`` plus the
        covariates of :func:`person_covariates`, ``age_u25``, ``age_o50`` and, at the entry
        month ``stack``: ``elapsed_months`` (months since the start of the job-seeking
        spell), ``log_elapsed``, ``long_term`` (12+ months), ``emp_12m`` (months employed
        in the 12 months before the spell started) and segment dummies ``seg_01`` ..
        ``seg_05``. ``cohort`` is
        ``g`` for the treated and 0 for the comparison persons; ``stack`` is ``g`` for both.
    """
    _need(panel, ["person_id", "month", "employed", earnings_col], "person x month panel")
    _need(service_spells, ["person_id", "service_id", "service_type", "start_date"], "service_spells")
    _need(jobseeking_spells, ["person_id", "start_date", "end_date", "segment"], "jobseeking_spells")
    g0, g1 = int(cohorts[0]), int(cohorts[1])
    if g1 < g0:
        raise DesignError(f"cohorts must be (first, last) month indexes with first <= last, got {cohorts}")
    if pre < 1 or post < 0:
        raise DesignError(f"pre must be >= 1 and post >= 0 months, got pre={pre}, post={post}")
    if elapsed_bands is not None and controls_per_treated is None:
        raise DesignError("elapsed_bands needs controls_per_treated: the bands are cells of the sampled comparison "
                          "persons; without sampling every person at risk is kept")
    lo, hi = g0 - pre, g1 + post
    months_read = panel["month"] if before_month is None else panel["month"].filter(panel["month"] < before_month)
    if months_read.len() == 0:
        raise DesignError(f"the person x month panel has no month before {before_month}")
    pmin, pmax = int(months_read.min()), int(months_read.max())
    del months_read
    if lo < pmin - 12 or hi > pmax:
        raise DesignError(
            f"the window {lo}..{hi} (cohorts {g0}..{g1}, {pre} months before, {post} after) is not covered by the "
            f"person x month panel ({pmin}..{pmax})"
        )
    sp = service_spells.with_columns(sm=pl_month_index("start_date"))
    typ = sp.filter(pl.col("service_type") == service_type)
    if typ.height == 0:
        raise DesignError(f"no service spells of type {service_type!r}")
    first = typ.sort("start_date", "service_id").group_by("person_id").agg(
        first_m=pl.col("sm").first(), service_id=pl.col("service_id").first()
    )
    starts = sp.select("person_id", stack=pl.col("sm")).unique().with_columns(starts_any=pl.lit(True))
    # job seeking on the last day of month m: start <= that day and (open or end >= that day)
    if comparison_at not in ("entry_month_end", "entry_month_start"):
        raise DesignError(f"comparison_at must be 'entry_month_end' or 'entry_month_start', got {comparison_at!r}")
    if elapsed not in ("spell", "episode"):
        raise DesignError(f"elapsed must be 'spell' or 'episode', got {elapsed!r}")
    jss = jobseeking_spells
    if elapsed == "episode":
        from impact.designs.dynamic import episode_starts

        _need(jobseeking_spells, ["spell_id"], "jobseeking_spells")
        jss = jss.join(episode_starts(jobseeking_spells, service_spells, link_days), on="spell_id", how="left")
    else:
        jss = jss.with_columns(ep0=pl_month_index("start_date"))
    js = jss.select(
        "person_id", "segment", "ep0", s=pl_month_index("start_date"),
        e=pl.when(pl.col("end_date").is_null()).then(pl.lit(10**7))
        .when(pl.col("end_date") == pl.col("end_date").dt.month_end()).then(pl_month_index("end_date"))
        .otherwise(pl_month_index("end_date") - 1),  # last month whose last day is covered
    )
    # the stacks g in g0..g1 at which a spell is open on the last day of g - 1 (s <= g - 1 <= e),
    # each spell's in ascending order (as a cross join with the stacks, filtered, would give them
    # without its spells x stacks rows)
    at_risk = (
        js.with_columns(stack=pl.int_ranges(pl.max_horizontal(pl.col("s") + 1, pl.lit(g0)),
                                            pl.min_horizontal(pl.col("e") + 1, pl.lit(g1)) + 1, dtype=pl.Int32))
        .explode("stack", empty_as_null=False)
        .filter(pl.col("stack").is_not_null())
        .join(first, on="person_id", how="left")
        .filter(pl.col("first_m").is_null() | (pl.col("first_m") >= pl.col("stack")))
        .join(starts, on=["person_id", "stack"], how="left")
        .with_columns(treated=(pl.col("first_m") == pl.col("stack")).fill_null(False))
        .filter(pl.col("treated") | (pl.col("starts_any").is_null()
                                     & ((pl.col("e") >= pl.col("stack")) if comparison_at == "entry_month_end" else True)))
        .unique(["person_id", "stack"], keep="first", maintain_order=False)
    )
    if controls_per_treated is not None:
        _need(persons, ["person_id", area_col], "persons")
        at_risk = at_risk.join(persons.select("person_id", _area=pl.col(area_col)), on="person_id", how="left")
        cell = ["stack", "_area"]
        if elapsed_bands is not None:
            edges = sorted({int(b) for b in elapsed_bands})
            band = pl.lit(0)
            for b in edges:  # a handful of band edges
                band = band + (pl.col("stack") - pl.col("ep0") >= b).cast(pl.Int32)
            at_risk = at_risk.with_columns(_band=band)
            cell.append("_band")
        quota = at_risk.filter("treated").group_by(cell).agg(quota=pl.len() * int(controls_per_treated))
        comp = at_risk.filter(~pl.col("treated")).join(quota, on=cell, how="inner").sort(*cell, "person_id")
        comp = comp.filter(pl.int_range(pl.len()).shuffle(seed=seed).over(cell) < pl.col("quota")).drop("quota")
        at_risk = pl.concat([at_risk.filter("treated"), comp]).drop([c for c in cell if c.startswith("_")])
    if at_risk.filter("treated").height == 0:
        raise DesignError(f"nobody enters {service_type!r} from job seeking in months {g0}..{g1}")
    units = at_risk.sort("stack", "person_id").with_row_index("unit").select(
        pl.col("unit").cast(pl.Int64), "person_id", pl.col("stack").cast(pl.Int64),
        cohort=pl.when("treated").then(pl.col("stack")).otherwise(0).cast(pl.Int64),
        service_id=pl.when("treated").then(pl.col("service_id")).otherwise(None),
        elapsed_months=(pl.col("stack") - pl.col("ep0")).cast(pl.Int32), segment=pl.col("segment"),
        spell_start=pl.col("ep0").cast(pl.Int64),
    )
    # the panel rows of the units' persons in the months read (the whole panel is national-size)
    pan = panel.select("person_id", "month", "employed", pl.col(earnings_col).alias("earnings")) \
        .join(units.select("person_id").unique(), on="person_id", how="semi")
    if before_month is not None:
        pan = pan.filter(pl.col("month") < before_month)
    pan = pan.with_columns(pl.col("month").cast(pl.Int64))
    prior = (
        units.select("unit", "person_id", "spell_start")
        .join(pan.filter(pl.col("employed")).select("person_id", "month"), on="person_id", how="inner")
        .filter(pl.col("month").is_between(pl.col("spell_start") - 12, pl.col("spell_start") - 1))
        .group_by("unit").agg(emp_12m=pl.len().cast(pl.Float64))
    )
    units = units.join(prior, on="unit", how="left").with_columns(
        emp_12m=pl.col("emp_12m").fill_null(0.0),
        log_elapsed=pl.col("elapsed_months").cast(pl.Float64).log1p(),
        long_term=(pl.col("elapsed_months") >= 12).cast(pl.Int8),
        **{f"seg_{k:02d}": (pl.col("segment") == f"{k:02d}").cast(pl.Int8) for k in range(1, 6)},
    ).drop("segment", "spell_start")
    months = pl.DataFrame({"month": pl.int_range(lo, hi + 1, eager=True).cast(pl.Int64)})
    return (
        units.join(months, how="cross")
        .join(pan, on=["person_id", "month"], how="left")
        .with_columns(
            employed=pl.col("employed").fill_null(False).cast(pl.Int8),
            earnings=pl.col("earnings").fill_null(0.0).cast(pl.Float64),
        )
        .join(person_covariates(persons, lo // 12), on="person_id", how="left")
        .with_columns(age_u25=(pl.col("age") < 25).cast(pl.Int8), age_o50=(pl.col("age") > 50).cast(pl.Int8))
        .filter(pl.col("month").is_between(pl.col("stack") - pre, pl.col("stack") + post) if window_only else pl.lit(True))
        .sort("unit", "month")
    )


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
