"""Group tables and Kaplan-Meier curves from the unit-level outcome tables (polars, vectorised).

These run on evaluation-unit tables that have already come back from the backend, so they
are plain polars: one group-by per dimension, no loop over units or months.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.stats import norm

from impact.errors import DesignError
from impact.outcomes.config import OutcomeConfig


def _outcome_columns(units: pl.DataFrame, cfg: OutcomeConfig) -> dict[str, list[str]]:
    cols = units.columns
    return {
        "placed": [f"placed_{h}m" for h in cfg.horizons if f"placed_{h}m" in cols],
        "k_of_h": [f"employed_{k}_of_{h}m" for k, h in cfg.k_of_h if f"employed_{k}_of_{h}m" in cols],
        "earnings": [c for a, b in cfg.earnings_windows for c in (f"earnings_{a}_{b}m", f"rel_earnings_{a}_{b}m")
                     if c in cols],
        "returned": [f"returned_{w}m" for w in cfg.return_windows if f"returned_{w}m" in cols],
    }


def group_table(units: pl.DataFrame, by: str | list[str], cfg: OutcomeConfig | None = None) -> pl.DataFrame:
    """Outcome shares and means by group, each cell with its counts and a disclosure flag.

    For each placement horizon h: ``n_obs_{h}m`` (units whose month end+h is observed),
    ``n_placed_{h}m`` and ``placed_{h}m`` (share of the observed); likewise for k-of-h and the
    return to job-seeking; means of earnings and relative earnings over the units where they
    are observed; with ``cost_eur`` (service tables): total cost and ``cost_per_placement_{h}m``
    = cost of the units observed at h / placements at h (null when no placement).
    ``suppress`` is true where ``n_units`` is under ``cfg.disclosure_min``.
    """
    cfg = cfg or OutcomeConfig()
    by = [by] if isinstance(by, str) else list(by)
    missing = [b for b in by if b not in units.columns]
    if missing:
        raise DesignError(f"group table: column(s) {missing} not in the unit table; have {units.columns}")
    oc = _outcome_columns(units, cfg)
    aggs: list[pl.Expr] = [pl.len().alias("n_units")]
    for c in [*oc["placed"], *oc["k_of_h"], *oc["returned"]]:
        aggs += [pl.col(c).is_not_null().sum().alias(f"n_obs_{c}"), pl.col(c).sum().alias(f"n_{c}"),
                 pl.col(c).cast(pl.Float64).mean().alias(c)]
    for c in oc["earnings"]:
        aggs += [pl.col(c).is_not_null().sum().alias(f"n_obs_{c}"), pl.col(c).mean().alias(f"mean_{c}")]
    if "months_to_employment" in units.columns and "censored" in units.columns:
        aggs.append((~pl.col("censored")).sum().alias("n_employed_after"))
    if "cost_eur" in units.columns:
        aggs.append(pl.col("cost_eur").sum().alias("cost_eur"))
        for c in oc["placed"]:
            aggs.append(pl.when(pl.col(c).is_not_null()).then(pl.col("cost_eur")).sum().alias(f"_cost_{c}"))
    t = units.group_by(by).agg(aggs)
    if "cost_eur" in units.columns:
        t = t.with_columns([
            pl.when(pl.col(f"n_{c}") > 0).then(pl.col(f"_cost_{c}") / pl.col(f"n_{c}")).otherwise(None)
            .alias(f"cost_per_placement_{c.removeprefix('placed_')}") for c in oc["placed"]
        ]).drop([f"_cost_{c}" for c in oc["placed"]])
    t = t.with_columns(suppress=pl.col("n_units") < cfg.disclosure_min)
    return t.sort(by, nulls_last=True)


def group_tables(units: pl.DataFrame, cfg: OutcomeConfig | None = None,
                 persons: pl.DataFrame | None = None) -> dict[str, pl.DataFrame]:
    """:func:`group_table` for each of ``cfg.group_tables`` present (area and municipality from
    ``persons`` when the unit table lacks them)."""
    cfg = cfg or OutcomeConfig()
    u = units
    need = [c for c in ("employment_area", "municipality") if c in cfg.group_tables and c not in u.columns]
    if need and persons is not None:
        u = u.join(persons.select("person_id", *need), on="person_id", how="left")
    return {d: group_table(u, d, cfg) for d in cfg.group_tables if d in u.columns}


def kaplan_meier(units: pl.DataFrame, by: str | list[str] | None = None, duration: str = "months_to_employment",
                 censored: str = "censored", level: float = 0.95) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Kaplan-Meier curves of time to employment and medians with confidence intervals, by group.

    Estimand: S(t) = P(no open-market employment by month t after the origin). Pointwise
    confidence intervals by Greenwood's variance on the log(-log) scale; the median's interval
    is Brookmeyer-Crowley's: the first months where the lower / upper band reaches 0.5.

    Returns
    -------
    curves
        Per group and month t with a death or censoring: ``n_risk``, ``events``, ``n_censored``,
        ``survival``, ``lower``, ``upper``, ``employed_share`` (1 - survival).
    medians
        Per group: ``n``, ``events``, ``median``, ``median_lower``, ``median_upper`` (null when
        the curve, or the band, never reaches 0.5).
    """
    by = [] if by is None else ([by] if isinstance(by, str) else list(by))
    for c in (*by, duration, censored):
        if c not in units.columns:
            raise DesignError(f"Kaplan-Meier: column {c!r} not in the unit table; have {units.columns}")
    u = units.filter(pl.col(duration).is_not_null() & pl.col(censored).is_not_null())
    if u.height == 0:
        raise DesignError("Kaplan-Meier: no unit with a duration (all null)")
    if (u[duration] < 0).any():
        raise DesignError(f"Kaplan-Meier: negative {duration!r} values")
    key = by or ["_all"]
    if not by:
        u = u.with_columns(_all=pl.lit("all"))
    z = float(norm.ppf(0.5 + level / 2))
    t = (u.group_by([*key, duration])
         .agg(events=(~pl.col(censored)).sum().cast(pl.Int64), n_at=pl.len().cast(pl.Int64))
         .sort([*key, duration]))
    t = t.with_columns(n_risk=(pl.col("n_at").sum() - pl.col("n_at").cum_sum() + pl.col("n_at")).over(key))
    t = t.with_columns(
        n_censored=pl.col("n_at") - pl.col("events"),
        survival=(1 - pl.col("events") / pl.col("n_risk")).cum_prod().over(key),
        _gw=pl.when(pl.col("n_risk") > pl.col("events"))
        .then(pl.col("events") / (pl.col("n_risk") * (pl.col("n_risk") - pl.col("events"))))
        .otherwise(0.0).cum_sum().over(key),
    )
    s = t["survival"].to_numpy()
    gw = t["_gw"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(s)
        se = np.sqrt(gw) / np.abs(logs)
        lower = s ** np.exp(z * se)
        upper = s ** np.exp(-z * se)
    inside = (s > 0) & (s < 1)
    lower = np.where(inside, lower, s)
    upper = np.where(inside, upper, s)
    curves = t.with_columns(lower=pl.Series(lower), upper=pl.Series(upper), employed_share=1 - pl.col("survival"))
    curves = curves.rename({duration: "month"}).drop("_gw", "n_at")

    def first_at_or_below(col: str, name: str) -> pl.DataFrame:
        return (curves.filter(pl.col(col) <= 0.5).group_by(key).agg(pl.col("month").min().alias(name)))

    med = (u.group_by(key).agg(n=pl.len(), events=(~pl.col(censored)).sum())
           .join(first_at_or_below("survival", "median"), on=key, how="left")
           .join(first_at_or_below("lower", "median_lower"), on=key, how="left")
           .join(first_at_or_below("upper", "median_upper"), on=key, how="left")
           .sort(key))
    if not by:
        curves, med = curves.drop("_all"), med.drop("_all")
    return curves, med
