"""The generator's truth: true average effects on the treated from ``truth/``.

``truth/service_effects.parquet`` has one row per realised service spell and horizon
h = 1..24 months after the service's end month, with the person's potential outcomes:

- ``employed_1`` / ``earnings_1`` / ``subsidised_1``: with the service (the realised path);
- ``employed_0`` / ``earnings_0`` / ``subsidised_0``: 'not now': the person does not start
  this service in that month, stays in the same job-seeking spell under the no-service
  dynamics and may still start a service later in the spell (the next arrival of the same
  selection process), and everything after follows the same rules as for everyone else;
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
    for k, v in filters.items():
        if k not in cols:
            raise ConfigError(f"unknown truth column '{k}'; columns: {cols}")
        lf = lf.filter(pl.col(k) == v)
    groups = [] if by is None else ([by] if isinstance(by, str) else list(by))
    for g in groups:
        if g not in cols:
            raise ConfigError(f"unknown grouping column '{g}'; columns: {cols}")
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
    for k, v in filters.items():
        if k not in cols:
            raise ConfigError(f"unknown truth column '{k}'; columns: {cols}")
        lf = lf.filter(pl.col(k) == v)
    groups = [] if by is None else ([by] if isinstance(by, str) else list(by))
    for g in groups:
        if g not in cols:
            raise ConfigError(f"unknown grouping column '{g}'; columns: {cols}")
    aggs = [pl.len().alias("n_months"), pl.col("service_id").n_unique().alias("n"),
            (pl.col("employed_1") - pl.col(f"employed_{suffix}")).cast(pl.Float64).mean().alias("att_employed"),
            pl.col("lockin_configured").mean().alias("lockin_configured")]
    res = lf.group_by(groups).agg(aggs).sort(groups) if groups else lf.select(aggs)
    return res.collect()
