"""The placement follow-up from the unit-level outcome tables: one implementation for
``impact outcomes`` (its summary tables) and ``impact run`` (the report's follow-up).

Group tables (shares with Wilson intervals and their counts, Kaplan-Meier medians, mean
earnings, cost per placement), Kaplan-Meier curves, placement curves by month since the end,
and the payers behind earnings cells. Everything runs on evaluation-unit tables that have
already come back from the backend (polars group-bys), except the two range joins against the
person x month panel and the earnings reports, which run in the backend. No loop over units
or months.

Counts come in units (``n_units``; spells) and in distinct persons (``n_persons``), the unit of
disclosure control. :func:`follow_up_parts` names the parts of each cell (placed and not
placed, employed and not employed, ...) that the report's disclosure control counts.
"""

from __future__ import annotations

from statistics import NormalDist

import ibis
import numpy as np
import polars as pl
from scipy.stats import norm

from impact.errors import DesignError
from impact.outcomes.config import OutcomeConfig

TOTAL = "Total"
UNKNOWN = "(unknown)"


def wilson(k: np.ndarray, n: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial share k / n (vectorised; NaN where n = 0)."""
    k = np.asarray(k, float)
    n = np.asarray(n, float)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        den = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / den
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / den
    return centre - half, centre + half


def outcome_columns(units: pl.DataFrame, cfg: OutcomeConfig) -> dict[str, list[str]]:
    """The outcome columns of a unit table that the configuration defines (shares and earnings)."""
    cols = units.columns
    return {
        "placed": [f"placed_{h}m" for h in cfg.horizons if f"placed_{h}m" in cols],
        "k_of_h": [f"employed_{k}_of_{h}m" for k, h in cfg.k_of_h if f"employed_{k}_of_{h}m" in cols],
        "earnings": [f"{a}_{b}m" for a, b in cfg.earnings_windows if f"earnings_{a}_{b}m" in cols],
        "returned": [f"returned_{w}m" for w in cfg.return_windows if f"returned_{w}m" in cols],
    }


def follow_up_parts(units: pl.DataFrame, cfg: OutcomeConfig) -> dict[str, pl.Expr]:
    """The parts of a follow-up cell behind each published share and mean.

    For a share column ``x`` (placed at h, employed k of h, returned within w): ``obs:x`` (units
    observed), ``yes:x`` and ``no:x`` (its complement); for earnings over a window: ``earn:a_bm``;
    for the time to employment: ``employed`` (an employed month seen) and ``not_employed``; for
    the cost: ``cost`` (units with a cost above zero: a mean cost needs enough persons who had a
    cost; a mean of zeros would show every member's cost).
    """
    oc = outcome_columns(units, cfg)
    parts: dict[str, pl.Expr] = {}
    for c in [*oc["placed"], *oc["k_of_h"], *oc["returned"]]:
        parts[f"obs:{c}"] = pl.col(c).is_not_null()
        parts[f"yes:{c}"] = pl.col(c) == True  # noqa: E712 - null stays null
        parts[f"no:{c}"] = pl.col(c) == False  # noqa: E712
    for w in oc["earnings"]:
        parts[f"earn:{w}"] = pl.col(f"earnings_{w}").is_not_null()
    if "censored" in units.columns:
        parts["employed"] = ~pl.col("censored")
        parts["not_employed"] = pl.col("censored")
    if "cost_eur" in units.columns:
        parts["cost"] = pl.col("cost_eur") > 0
    return parts


def _aggs(units: pl.DataFrame, cfg: OutcomeConfig) -> list[pl.Expr]:
    oc = outcome_columns(units, cfg)
    aggs: list[pl.Expr] = [pl.len().alias("n_units")]
    if "person_id" in units.columns:
        aggs.append(pl.col("person_id").n_unique().alias("n_persons"))
    for c in [*oc["placed"], *oc["k_of_h"], *oc["returned"]]:
        aggs += [pl.col(c).is_not_null().sum().alias(f"n_obs_{c}"), pl.col(c).cast(pl.Int64).sum().alias(f"n_{c}"),
                 pl.col(c).cast(pl.Float64).mean().alias(c)]
    for w in oc["earnings"]:
        aggs += [pl.col(f"earnings_{w}").is_not_null().sum().alias(f"n_obs_earnings_{w}"),
                 pl.col(f"earnings_{w}").mean().alias(f"mean_earnings_{w}")]
        if f"rel_earnings_{w}" in units.columns:
            aggs.append(pl.col(f"rel_earnings_{w}").mean().alias(f"mean_rel_earnings_{w}"))
    if "censored" in units.columns:
        aggs.append((~pl.col("censored")).sum().alias("n_employed_after"))
    if "cost_eur" in units.columns:
        aggs.append(pl.col("cost_eur").sum().alias("cost_eur"))
        for c in oc["placed"]:
            aggs.append(pl.when(pl.col(c).is_not_null()).then(pl.col("cost_eur")).sum().alias(f"_cost_{c}"))
    return aggs


def group_table(units: pl.DataFrame, by: str | list[str], cfg: OutcomeConfig | None = None,
                total: bool = False) -> pl.DataFrame:
    """Outcome shares and means by group, each cell with its counts and a disclosure flag.

    For each share (placed at horizon h, employed k of h months, returned within w months):
    ``n_obs_x`` (units observed), ``n_x`` (of them, yes), ``x`` (the share) and its Wilson
    interval ``x_lo``, ``x_hi``; means of earnings and relative earnings over each earnings
    window; ``median_months`` (Kaplan-Meier median time to employment, with its interval) and
    ``n_employed_after``; with ``cost_eur``: total cost, ``cost_per_participant`` and
    ``cost_per_placement_{h}m`` = cost of the units observed at h / placements at h (null when
    there is no placement). ``n_units`` counts units, ``n_persons`` distinct persons;
    ``suppress`` flags cells under ``cfg.disclosure_min`` persons (units when there is no
    ``person_id``). ``total``: add a :data:`TOTAL` row.
    """
    cfg = cfg or OutcomeConfig()
    by = [by] if isinstance(by, str) else list(by)
    missing = [b for b in by if b not in units.columns]
    if missing:
        raise DesignError(f"group table: column(s) {missing} not in the unit table; have {units.columns}")
    u = units.with_columns([pl.col(b).cast(pl.String).fill_null(UNKNOWN) for b in by])
    aggs = _aggs(u, cfg)
    t = u.group_by(by).agg(aggs).sort(by)
    if total:
        tot = u.select(aggs).with_columns([pl.lit(TOTAL).alias(b) for b in by])
        t = pl.concat([t, tot.select(t.columns)], how="vertical_relaxed")
    oc = outcome_columns(u, cfg)
    shares = [*oc["placed"], *oc["k_of_h"], *oc["returned"]]
    lohi = []
    for c in shares:
        lo, hi = wilson(t[f"n_{c}"].to_numpy(), t[f"n_obs_{c}"].to_numpy())
        lohi += [pl.Series(f"{c}_lo", lo), pl.Series(f"{c}_hi", hi)]
    t = t.with_columns(lohi)
    if "cost_eur" in u.columns:
        t = t.with_columns([
            pl.when(pl.col(f"n_{c}") > 0).then(pl.col(f"_cost_{c}") / pl.col(f"n_{c}")).otherwise(None)
            .alias(f"cost_per_placement_{c.removeprefix('placed_')}") for c in oc["placed"]
        ]).drop([f"_cost_{c}" for c in oc["placed"]]).with_columns(
            cost_per_participant=pl.col("cost_eur") / pl.col("n_units"))
    if (len(by) == 1 and "months_to_employment" in u.columns and "censored" in u.columns
            and u["months_to_employment"].drop_nulls().len()):
        t = t.join(km_medians(u, by[0]), on=by, how="left")
    size = "n_persons" if "n_persons" in t.columns else "n_units"
    return t.with_columns(suppress=pl.col(size) < cfg.disclosure_min)


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


# ---------------------------------------------------------------------------------------
# Time to employment
# ---------------------------------------------------------------------------------------


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


def km_medians(units: pl.DataFrame, by: str) -> pl.DataFrame:
    """Kaplan-Meier median months to employment (``median_months``, ``_lo``, ``_hi``) per group and for the Total."""
    both = pl.concat([units, units.with_columns(pl.lit(TOTAL).alias(by))], how="vertical_relaxed")
    _, med = kaplan_meier(both.with_columns(pl.col(by).cast(pl.String)), by=by)
    return med.select(by, pl.col("median").cast(pl.Float64).alias("median_months"),
                      pl.col("median_lower").cast(pl.Float64).alias("median_months_lo"),
                      pl.col("median_upper").cast(pl.Float64).alias("median_months_hi"))


def km_persons(units: pl.DataFrame, by: str, max_month: int | None = None, duration: str = "months_to_employment",
               censored: str = "censored") -> tuple[pl.DataFrame, pl.DataFrame]:
    """Distinct persons at risk and with their event at each month of the Kaplan-Meier curves by group.

    Returns ``counts`` (``by, month, at_risk, events``: ``at_risk`` the persons with a unit still at
    risk at the month, ``events`` the persons whose employment begins then) and ``members``
    (``by, month, person_id``, months up to ``max_month``): the persons at risk behind each point
    (for disclosure control; never published).
    """
    u = units.filter(pl.col(duration).is_not_null()).select(pl.col(by).cast(pl.String).fill_null(UNKNOWN), "person_id",
                                                           pl.col(duration).alias("t"), pl.col(censored).alias("c"))
    months = u.select(by, "t").unique().rename({"t": "month"})
    last = u.group_by(by, "person_id").agg(pl.col("t").max().alias("tmax"))
    at_risk = months.join(last, on=by).filter(pl.col("tmax") >= pl.col("month")).select(by, "month", "person_id")
    risk = at_risk.group_by(by, "month").agg(at_risk=pl.len())
    ev = u.filter(~pl.col("c")).group_by(by, "t").agg(events=pl.col("person_id").n_unique()).rename({"t": "month"})
    counts = months.join(risk, on=[by, "month"], how="left").join(ev, on=[by, "month"], how="left").with_columns(
        pl.col("at_risk").fill_null(0), pl.col("events").fill_null(0)).sort(by, "month")
    members = at_risk.filter(pl.col("month") <= max_month) if max_month is not None else at_risk
    return counts, members


# ---------------------------------------------------------------------------------------
# Month-by-month placement and the payers behind earnings
# ---------------------------------------------------------------------------------------


def placement_curves(panel, units: pl.DataFrame, by: str, window: tuple[int, int], last_month: int,
                     first_month: int | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Share in open-market employment by month since the end of the unit, by group.

    A range join of the units against the employed months of the panel in the backend; the
    denominator at month r is the units whose month end + r is inside the data. Returns
    ``group, month`` (since the end), ``n`` (units observed), ``share`` and its Wilson
    interval, and in distinct persons ``n_persons`` (observed), ``employed_persons``,
    ``not_employed_persons``; and the members: ``group, month, part, person_id`` with part
    ``"observed"`` or ``"employed"``, the persons behind each point (for disclosure control;
    never published).
    """
    lo, hi = window
    uid = "service_id" if "service_id" in units.columns else "spell_id"
    u = units.select(pl.col(uid).alias("uid"), "person_id", "end_month",
                     pl.col(by).cast(pl.String).fill_null(UNKNOWN).alias("group")).filter(
        pl.col("end_month").is_not_null())
    first = int(u["end_month"].min()) + lo if first_month is None else first_month
    ut = ibis.memtable(u.select("uid", "person_id", "end_month").to_arrow())
    e = panel.filter(panel.employed).select(p_person=panel.person_id, p_month=panel.month)
    j = ut.join(e, [ut.person_id == e.p_person, e.p_month >= ut.end_month + lo, e.p_month <= ut.end_month + hi])
    emp = j.select(uid=j.uid, month=(j.p_month - j.end_month).cast("int32")).distinct().to_polars()
    rows = (u.with_columns(month=pl.int_ranges(lo, hi + 1, dtype=pl.Int32)).explode("month")
            .filter((pl.col("end_month") + pl.col("month")).is_between(first, last_month))
            .join(emp.with_columns(pl.lit(True).alias("_emp")), on=["uid", "month"], how="left")
            .with_columns(pl.col("_emp").fill_null(False)))
    out = rows.group_by("group", "month").agg(
        n=pl.len(), k=pl.col("_emp").sum(), n_persons=pl.col("person_id").n_unique(),
        employed_persons=pl.col("person_id").filter(pl.col("_emp")).n_unique(),
        not_employed_persons=pl.col("person_id").filter(~pl.col("_emp")).n_unique()).sort("group", "month")
    lo_, hi_ = wilson(out["k"].to_numpy(), out["n"].to_numpy())
    members = pl.concat([rows.select("group", "month", pl.lit("observed").alias("part"), "person_id"),
                         rows.filter("_emp").select("group", "month", pl.lit("employed").alias("part"), "person_id")]
                        ).unique()
    return (out.with_columns(share=pl.col("k") / pl.col("n"), ci_lower=pl.Series(lo_), ci_upper=pl.Series(hi_)).drop("k"),
            members)


def payer_amounts(reports, units: pl.DataFrame, window: tuple[int, int] = (1, 12)) -> pl.DataFrame:
    """Wages paid to each unit's person by each payer in months end+a..end+b (by payment date).

    ``uid, payer_id, amount``: one range join in the backend; the disclosure control of an
    earnings cell sums these by cell (distinct payers, the largest payer's share).
    """
    a, b = window
    uid = "service_id" if "service_id" in units.columns else "spell_id"
    u = units.select(pl.col(uid).alias("uid"), "person_id", "end_month").filter(pl.col("end_month").is_not_null())
    ut = ibis.memtable(u.to_arrow())
    r = reports.filter((reports.action != "cancel") & (reports.amount_eur > 0))
    r = r.select(r_person=r.person_id, payer_id=r.payer_id, amount=r.amount_eur,
                 r_month=(r.payment_date.year().cast("int32") * 12 + r.payment_date.month().cast("int32") - 1))
    j = ut.join(r, [ut.person_id == r.r_person, r.r_month >= ut.end_month + a, r.r_month <= ut.end_month + b])
    return j.group_by(["uid", "payer_id"]).aggregate(amount=j.amount.sum()).to_polars()
