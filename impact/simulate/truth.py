"""The generator's truth: true average effects on the treated from ``truth/``.

:func:`true_att` (by months after the service's end), :func:`true_lockin` (during it),
:func:`true_event_att` / :func:`true_event_paths` (by months since the start, lock-in and
after, the target of the staggered-entry event study).

``truth/service_effects.parquet`` has one row per realised service spell and horizon
h = 1..24 months after the service's end month, with the person's potential outcomes:

- ``employed_1`` / ``earnings_1`` / ``subsidised_1``: with the service (the realised path);
- ``employed_0`` / ``earnings_0`` / ``subsidised_0``: 'not now': the person does not start
  this service in that month, stays in the same job-seeking spell under the no-service
  dynamics and may still start a service later in the spell (the next arrivals of the same
  selection process, up to three per episode as in the realised world: without this one,
  the episode's fourth arrival may take place), and everything after follows the same
  rules as for everyone else;
- ``employed_never`` / ``earnings_never``: this service is removed and nothing takes its
  place in that spell (the configured effect ``tau_employed`` is defined against this).

Employment is open-market (non-subsidised) wage employment in the calendar month
``month = end_month + h``; earnings are the open-market wage earnings accrued in that month
(regular pay incl. side jobs, pro rata in a job's first month; no holiday bonus or
compensation, no subsidised pay).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from impact.errors import ConfigError

_COUNTERFACTUALS = {"not_now": "0", "never": "never"}


def _filter_and_group(lf: pl.LazyFrame, cols: list[str], filters: dict,
                      by: str | list[str] | None) -> tuple[pl.LazyFrame, list[str]]:
    """Apply ``column == value`` filters and check the grouping columns (clear errors for unknown ones)."""
    for k, v in filters.items():
        if k not in cols:
            raise ConfigError(f"unknown truth column '{k}'; columns: {cols}")
        lf = lf.filter(pl.col(k) == v)
    groups = [] if by is None else ([by] if isinstance(by, str) else list(by))
    for g in groups:
        if g not in cols:
            raise ConfigError(f"unknown grouping column '{g}'; columns: {cols}")
    return lf, groups


def load_effects(truth_dir: str | Path) -> pl.LazyFrame:
    """Lazy scan of ``truth/service_effects.parquet``."""
    path = Path(truth_dir) / "service_effects.parquet"
    if not path.exists():
        raise ConfigError(f"no truth file {path}; generate registers with `impact simulate` first")
    return pl.scan_parquet(path)


def true_att(truth_dir: str | Path, service_type: str | None = None, horizon: int | list[int] | None = None,
             by: str | list[str] | None = None, counterfactual: str = "not_now",
             observed_only: bool = False, **filters) -> pl.DataFrame:
    """True average effect on the treated, on employment and on earnings.

    Estimand: mean over realised service spells of the chosen type(s) of
    ``employed_1 - employed_0`` (and of earnings), h months after the service's end month.

    Parameters
    ----------
    truth_dir
        The ``truth/`` folder written by :func:`impact.simulate.simulate`.
    service_type
        One of the eight service types (None: all services pooled).
    horizon
        Months after the end month (1..24); an int, a list, or None for all.
    by
        Extra grouping columns, e.g. ``"segment"``, ``"employment_area"``, ``"variant"``,
        ``"female"`` (``h`` is always a group when several horizons are asked for).
    counterfactual
        ``"not_now"`` (default; the estimand of 'join now vs not now' dynamic matching) or
        ``"never"`` (no service in that spell; the scenario's configured effect).
    observed_only
        Keep only outcome months up to the extraction date.
    **filters
        Equality filters on other columns, e.g. ``segment="03"``.

    Returns
    -------
    polars.DataFrame
        One row per group: ``n`` (treated spells), ``att_employed``, ``att_earnings``,
        ``mean_employed_1``, ``mean_employed_0``, ``mean_earnings_1``, ``mean_earnings_0``,
        ``tau_configured`` (mean configured effect vs 'never').
    """
    if counterfactual not in _COUNTERFACTUALS:
        raise ConfigError(f"counterfactual must be one of {sorted(_COUNTERFACTUALS)}, got {counterfactual!r}")
    suffix = _COUNTERFACTUALS[counterfactual]
    lf = load_effects(truth_dir)
    cols = lf.collect_schema().names()
    if service_type is not None:
        lf = lf.filter(pl.col("service_type") == service_type)
    hs = None
    if horizon is not None:
        hs = [horizon] if isinstance(horizon, int) else list(horizon)
        bad = [h for h in hs if not 1 <= int(h) <= 24]
        if bad:
            raise ConfigError(f"horizon must be within 1..24 months after the end, got {bad}")
        lf = lf.filter(pl.col("h").is_in(hs))
    if observed_only:
        lf = lf.filter(pl.col("observed"))
    lf, groups = _filter_and_group(lf, cols, filters, by)
    if hs is None or len(hs) > 1:
        groups = ["h"] + [g for g in groups if g != "h"]
    aggs = [
        pl.len().alias("n"),
        (pl.col("employed_1") - pl.col(f"employed_{suffix}")).cast(pl.Float64).mean().alias("att_employed"),
        (pl.col("earnings_1") - pl.col(f"earnings_{suffix}")).mean().alias("att_earnings"),
        pl.col("employed_1").cast(pl.Float64).mean().alias("mean_employed_1"),
        pl.col(f"employed_{suffix}").cast(pl.Float64).mean().alias("mean_employed_0"),
        pl.col("earnings_1").mean().alias("mean_earnings_1"),
        pl.col(f"earnings_{suffix}").mean().alias("mean_earnings_0"),
        pl.col("tau_employed").mean().alias("tau_configured"),
    ]
    if groups:
        res = lf.group_by(groups).agg(aggs).sort(groups)
    else:
        res = lf.select(aggs)
    return res.collect()


def true_lockin(truth_dir: str | Path, service_type: str | None = None, by: str | list[str] | None = None,
                counterfactual: str = "not_now", **filters) -> pl.DataFrame:
    """True effect on open-market employment *during* participation (lock-in).

    Estimand: mean over participation months (r = 0..L-1 months after the start month) of
    realised services of ``employed_1 - employed_0`` (``truth/service_participation.parquet``).
    ``lockin_configured`` is the configured lock-in vs 'never' (NaN for pay subsidy and
    start-up grant, where open-market work is excluded during participation). A lock-in
    cannot exceed the counterfactual employment rate during participation: the true
    lock-in vs 'never' is max(lockin_configured, -mean(employed_never)) up to sampling.
    """
    if counterfactual not in _COUNTERFACTUALS:
        raise ConfigError(f"counterfactual must be one of {sorted(_COUNTERFACTUALS)}, got {counterfactual!r}")
    suffix = _COUNTERFACTUALS[counterfactual]
    path = Path(truth_dir) / "service_participation.parquet"
    if not path.exists():
        raise ConfigError(f"no truth file {path}; generate registers with `impact simulate` first")
    lf = pl.scan_parquet(path)
    cols = lf.collect_schema().names()
    if service_type is not None:
        lf = lf.filter(pl.col("service_type") == service_type)
    lf, groups = _filter_and_group(lf, cols, filters, by)
    aggs = [pl.len().alias("n_months"), pl.col("service_id").n_unique().alias("n"),
            (pl.col("employed_1") - pl.col(f"employed_{suffix}")).cast(pl.Float64).mean().alias("att_employed"),
            pl.col("lockin_configured").mean().alias("lockin_configured")]
    res = lf.group_by(groups).agg(aggs).sort(groups) if groups else lf.select(aggs)
    return res.collect()


def true_event_paths(truth_dir: str | Path, service_ids=None, *, service_type: str | None = None,
                     cohorts: tuple[int, int] | None = None, first_only: bool = False,
                     event_times: int | list[int] | None = None) -> pl.DataFrame:
    """Potential employment paths of realised service spells by event time (one row per spell x e).

    ``e = month - start_month`` runs over the participation months (``e = 0 .. L - 1``, from
    ``service_participation``) and the 24 months after the end month (``e = L - 1 + h``,
    from ``service_effects``), contiguously. Columns: ``service_id, person_id,
    service_type, start_month, month, event_time, employed_1, employed_0,
    employed_never``. Selection as in :func:`true_event_att`.
    """
    root = Path(truth_dir)
    path = root / "service_participation.parquet"
    if not path.exists():
        raise ConfigError(f"no truth file {path}; generate registers with `impact simulate` first")
    cols = ["service_id", "person_id", "service_type", "month", "employed_1", "employed_0", "employed_never"]
    during = pl.scan_parquet(path).with_columns(start_month=pl.col("month") - pl.col("r").cast(pl.Int32)).select(
        *cols, "start_month")
    after = load_effects(root).select(*cols, "start_month")
    lf = pl.concat([during, after], how="vertical_relaxed")
    if service_ids is not None:
        if isinstance(service_ids, pl.DataFrame):
            if "service_id" not in service_ids.columns:
                raise ConfigError(f"service_ids table needs a service_id column; it has {service_ids.columns}")
            ids = service_ids["service_id"]
        else:
            ids = pl.Series("service_id", list(service_ids) if not isinstance(service_ids, pl.Series) else service_ids)
        ids = ids.drop_nulls().cast(pl.Int64).unique()
        if len(ids) == 0:
            raise ConfigError("service_ids is empty")
        lf = lf.filter(pl.col("service_id").is_in(ids.implode()))
    if service_type is not None:
        lf = lf.filter(pl.col("service_type") == service_type)
    if first_only:
        lf = lf.filter(pl.col("start_month") == pl.col("start_month").min().over("person_id", "service_type"))
    if cohorts is not None:
        lf = lf.filter(pl.col("start_month").is_between(int(cohorts[0]), int(cohorts[1])))
    lf = lf.with_columns(event_time=(pl.col("month") - pl.col("start_month")).cast(pl.Int64))
    if event_times is not None:
        es = [event_times] if isinstance(event_times, int) else list(event_times)
        bad = [e for e in es if int(e) < 0]
        if bad:
            raise ConfigError(f"event times count months since the start (>= 0), got {bad}")
        lf = lf.filter(pl.col("event_time").is_in(es))
    out = lf.sort("service_id", "event_time").collect()
    if out.height == 0:
        raise ConfigError("no truth rows for the chosen spells / service type / cohorts / event times")
    return out


def true_event_att(truth_dir: str | Path, service_ids=None, *, service_type: str | None = None,
                   cohorts: tuple[int, int] | None = None, first_only: bool = False,
                   event_times: int | list[int] | None = None, counterfactual: str = "not_now") -> pl.DataFrame:
    """True effect on employment by event time e = months since the service's start month.

    Estimand: for the chosen realised service spells, the mean of
    ``employed_1 - employed_<counterfactual>`` in calendar month ``start_month + e``. For
    ``e = 0 .. L - 1`` (L = participation months; ``end_month = start_month + L - 1``) the
    rows come from ``service_participation`` (the lock-in), for ``e = L - 1 + h`` (h = 1..24)
    from ``service_effects``; so e covers the months in the service and the 24 months after
    its end, contiguously. Spells whose window does not reach e do not count at e.

    This is what the event study of :func:`impact.designs.did_panels.risk_set_panel` with
    ``att_gt(..., comparison_set="stack")`` estimates: its cohorts are the first spells of
    the type entered from job seeking in the cohort months, its comparison persons were
    job seeking then and did not start then but may start later, so its counterfactual is
    **'not now'** (``employed_0``). Its dynamic aggregation weights cohorts by their size,
    which with every cohort observed at every event time is the plain mean over spells
    computed here. ``counterfactual="never"`` (this spell removed, the other realised
    services kept) is the configured effect; 'never' and 'not now' differ by the effect of
    the services the 'not now' path starts later (its comparison persons enter services
    too), which grows with e. The calendar-time design of
    :func:`~impact.designs.did_panels.person_month_panel` (all persons, never- or
    not-yet-treated comparisons) targets 'never' in principle but does not identify it:
    entrants are job seekers just before entry, its comparison persons mostly are not (the
    pre-programme dip). The static TWFE coefficient is a weighted average of the
    person-month effects with weights that fall with e (:func:`impact.estimators.did.twfe_weights`),
    not this average.

    Parameters
    ----------
    truth_dir
        The ``truth/`` folder.
    service_ids
        The treated spells (a sequence, a polars Series or a DataFrame with ``service_id``),
        e.g. the treated units of the design. Alternatively select with the keywords:
    service_type, cohorts, first_only
        Spells of this type starting in months ``cohorts[0]..cohorts[1]`` (month indexes);
        ``first_only`` keeps each person's first spell of the type (first entry).
    event_times
        An int, a list, or None for all available.
    counterfactual
        ``"not_now"`` (default) or ``"never"``.

    Returns
    -------
    polars.DataFrame
        ``event_time, n, att_employed, mean_employed_1, mean_employed_0``, sorted by e.
    """
    if counterfactual not in _COUNTERFACTUALS:
        raise ConfigError(f"counterfactual must be one of {sorted(_COUNTERFACTUALS)}, got {counterfactual!r}")
    suffix = _COUNTERFACTUALS[counterfactual]
    paths = true_event_paths(truth_dir, service_ids, service_type=service_type, cohorts=cohorts,
                             first_only=first_only, event_times=event_times)
    return paths.group_by("event_time").agg(
        n=pl.col("service_id").n_unique(),
        att_employed=(pl.col("employed_1") - pl.col(f"employed_{suffix}")).cast(pl.Float64).mean(),
        mean_employed_1=pl.col("employed_1").cast(pl.Float64).mean(),
        mean_employed_0=pl.col(f"employed_{suffix}").cast(pl.Float64).mean(),
    ).sort("event_time")
