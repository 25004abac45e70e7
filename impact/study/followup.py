"""Phase 1 placement follow-up tables for a study: by group, with intervals, ready for disclosure.

Inputs are the outcome stage's unit table (one row per service spell or job-seeking spell,
from :func:`impact.outcomes.compute_outcomes`) and, for the month-by-month curves, the
materialised person x month panel in the Ibis backend. Everything here is a group-by over
units (polars) or a range join in the backend; no loop over people or months.
"""

from __future__ import annotations

import math

import ibis
import numpy as np
import pandas as pd
import polars as pl
from statistics import NormalDist

TOTAL = "Total"


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


def _agg_exprs(horizons: tuple[int, ...], earn_col: str | None, rel_col: str | None) -> list[pl.Expr]:
    e: list[pl.Expr] = [pl.len().alias("n")]
    for h in horizons:
        c = f"placed_{h}m"
        e += [pl.col(c).is_not_null().sum().alias(f"n_obs_{h}m"), pl.col(c).cast(pl.Int64).sum().alias(f"k_{h}m"),
              pl.col("cost_eur").filter(pl.col(c).is_not_null()).sum().alias(f"cost_obs_{h}m")]
    e += [pl.col("cost_eur").sum().alias("cost_sum")]
    if earn_col:
        e += [pl.col(earn_col).mean().alias("mean_earnings")]
    if rel_col:
        e += [pl.col(rel_col).mean().alias("mean_rel_earnings")]
    e += [(~pl.col("censored")).sum().alias("n_employed_ever")]
    return e


def group_table(units: pl.DataFrame, by: str, horizons: tuple[int, ...], earn_window: str = "1_12m",
                payer_stats: pl.DataFrame | None = None) -> pd.DataFrame:
    """Placement follow-up by one grouping column, with a Total row.

    Columns: ``by``, ``n`` (units), per horizon ``placed_{h}m`` (share of units observed at
    h who are in the open labour market in month h), its Wilson interval and the number
    observed; ``median_months`` (Kaplan-Meier median time to employment); mean earnings and
    earnings relative to the segment baseline over months 1-12; cost per placement at each
    horizon (total cost of the group's services / placements at h).
    """
    earn_col = f"earnings_{earn_window}" if f"earnings_{earn_window}" in units.columns else None
    rel_col = f"rel_earnings_{earn_window}" if f"rel_earnings_{earn_window}" in units.columns else None
    u = units.with_columns(pl.col(by).cast(pl.String).fill_null("(unknown)"))
    parts = u.group_by(by).agg(_agg_exprs(horizons, earn_col, rel_col)).sort(by)
    tot = u.select(_agg_exprs(horizons, earn_col, rel_col)).with_columns(pl.lit(TOTAL).alias(by))
    g = pl.concat([parts, tot.select(parts.columns)], how="vertical_relaxed").to_pandas()
    out = pd.DataFrame({by: g[by], "n": g["n"]})
    for h in horizons:
        k, n = g[f"k_{h}m"].to_numpy(float), g[f"n_obs_{h}m"].to_numpy(float)
        lo, hi = wilson(k, n)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"placed_{h}m"] = k / n
            out[f"placed_{h}m_lo"], out[f"placed_{h}m_hi"] = lo, hi
            out[f"n_obs_{h}m"] = n
            out[f"placed_n_{h}m"] = k
            out[f"cost_per_placement_{h}m"] = np.where(k > 0, g[f"cost_obs_{h}m"].to_numpy(float) / k, np.nan)
    km = km_medians(u, by)
    out = out.merge(km, on=by, how="left")
    if earn_col:
        out["mean_earnings"] = g["mean_earnings"].to_numpy()
    if rel_col:
        out["mean_rel_earnings"] = g["mean_rel_earnings"].to_numpy()
    out["cost_per_participant"] = g["cost_sum"].to_numpy(float) / g["n"].to_numpy(float)
    if payer_stats is not None and by in payer_stats.columns:
        ps = payer_stats.to_pandas()
        out = out.merge(ps[[by, "n_payers", "top_payer_share"]], on=by, how="left")
    return out


def kaplan_meier(time: np.ndarray, event: np.ndarray, level: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier estimate of the share still not employed by month since the origin.

    ``time`` is months to employment (or to censoring), ``event`` True when employment was
    observed. Greenwood variance on the log-log scale for the interval. Returns month,
    n_at_risk, events, survival, ci_lower, ci_upper.
    """
    t = np.asarray(time, dtype=np.int64)
    d = np.asarray(event, dtype=bool)
    if t.size == 0:
        return pd.DataFrame(columns=["month", "n_at_risk", "events", "survival", "ci_lower", "ci_upper"])
    m = int(t.max()) + 1
    deaths = np.bincount(t[d], minlength=m).astype(float)
    exits = np.bincount(t, minlength=m).astype(float)
    at_risk = t.size - np.concatenate([[0.0], np.cumsum(exits)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(at_risk > 0, deaths / at_risk, 0.0)
        s = np.cumprod(1 - q)
        gw = np.cumsum(np.where(at_risk > deaths, deaths / (at_risk * (at_risk - deaths)), 0.0))
        z = NormalDist().inv_cdf(0.5 + level / 2)
        lls = np.log(-np.log(s))
        half = z * np.sqrt(gw) / np.abs(np.log(s))
        lo = np.exp(-np.exp(lls + half))
        hi = np.exp(-np.exp(lls - half))
    lo = np.where(np.isfinite(lo), lo, s)
    hi = np.where(np.isfinite(hi), hi, s)
    return pd.DataFrame({"month": np.arange(m), "n_at_risk": at_risk, "events": deaths, "survival": s,
                         "ci_lower": lo, "ci_upper": hi})


def _median_from(km: pd.DataFrame, col: str) -> float:
    below = km.loc[km[col] <= 0.5, "month"]
    return float(below.iloc[0]) if len(below) else math.nan


def km_medians(units: pl.DataFrame, by: str) -> pd.DataFrame:
    """KM median months to employment (with interval) per group and for the Total."""
    rows = []
    groups = units.partition_by(by, as_dict=True) if by in units.columns else {}
    items = [(k[0] if isinstance(k, tuple) else k, g) for k, g in groups.items()] + [(TOTAL, units)]
    for key, g in items:  # one per group (a handful)
        g = g.filter(pl.col("months_to_employment").is_not_null())
        km = kaplan_meier(g["months_to_employment"].to_numpy(), ~g["censored"].to_numpy())
        rows.append({by: key, "median_months": _median_from(km, "survival"),
                     "median_months_lo": _median_from(km, "ci_lower"), "median_months_hi": _median_from(km, "ci_upper")})
    return pd.DataFrame(rows)


def km_curves(units: pl.DataFrame, by: str, max_month: int = 24) -> pd.DataFrame:
    """Tidy KM curves by group (group, month, n_at_risk, survival, ci_lower, ci_upper)."""
    out = []
    for key, g in units.partition_by(by, as_dict=True).items():
        g = g.filter(pl.col("months_to_employment").is_not_null())
        km = kaplan_meier(g["months_to_employment"].to_numpy(), ~g["censored"].to_numpy())
        km = km[km["month"] <= max_month]
        km.insert(0, "group", str(key[0] if isinstance(key, tuple) else key))
        out.append(km)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def placement_curves(con, panel, units: pl.DataFrame, by: str, window: tuple[int, int], last_month: int,
                     first_month: int | None = None) -> pd.DataFrame:
    """Share in open-market employment by month since the end of the unit, by group.

    A range join of the units against the employed months of the panel in the backend; the
    denominator at month r is the units whose month end + r is inside the data. Returns
    group, month (since end), n (observed units), share, ci_lower, ci_upper (Wilson).
    """
    lo, hi = window
    u = units.select(pl.col("service_id").alias("uid") if "service_id" in units.columns else pl.col("spell_id").alias("uid"),
                     "person_id", "end_month", pl.col(by).cast(pl.String).fill_null("(unknown)").alias("grp")
                     ).filter(pl.col("end_month").is_not_null())
    ut = ibis.memtable(u.to_arrow())
    e = panel.filter(panel.employed).select(p_person=panel.person_id, p_month=panel.month)
    j = ut.join(e, [ut.person_id == e.p_person, e.p_month >= ut.end_month + lo, e.p_month <= ut.end_month + hi])
    j = j.mutate(rel=j.p_month - j.end_month)
    cnt = j.group_by(["grp", "rel"]).aggregate(k=j.uid.nunique()).to_polars()
    # denominators: units observed at each relative month (vectorised over the window)
    rels = np.arange(lo, hi + 1)
    em = u["end_month"].to_numpy()
    grp = u["grp"].to_numpy()
    first_month = int(em.min()) + lo if first_month is None else first_month
    rows = []
    for gname in np.unique(grp):  # a handful of groups
        e_g = em[grp == gname]
        m = e_g[:, None] + rels[None, :]
        n = ((m <= last_month) & (m >= first_month)).sum(0)
        rows.append(pd.DataFrame({"group": gname, "month": rels, "n": n}))
    den = pd.concat(rows, ignore_index=True)
    c = cnt.to_pandas().rename(columns={"grp": "group", "rel": "month"})
    out = den.merge(c, on=["group", "month"], how="left").fillna({"k": 0})
    out = out[out["n"] > 0].copy()
    out["share"] = out["k"] / out["n"]
    out["ci_lower"], out["ci_upper"] = wilson(out["k"].to_numpy(), out["n"].to_numpy())
    return out.drop(columns=["k"]).reset_index(drop=True)


def payer_stats(con, reports, units: pl.DataFrame, groups: list[str], window: tuple[int, int] = (1, 12)) -> dict[str, pl.DataFrame]:
    """Payer information behind the earnings cells (for the dominance rule), per grouping.

    For each group value: the number of distinct payers of the units' wages paid in months
    end+a..end+b (by payment date), and the largest payer's share of the wage sum. One range
    join in the backend gives the wage sum per unit and payer; the groupings are polars
    group-bys on that (small) table.
    """
    a, b = window
    uid = "service_id" if "service_id" in units.columns else "spell_id"
    u = units.select(pl.col(uid).alias("uid"), "person_id", "end_month").filter(pl.col("end_month").is_not_null())
    ut = ibis.memtable(u.to_arrow())
    r = reports.filter((reports.action != "cancel") & (reports.amount_eur > 0))
    r = r.select(r_person=r.person_id, payer_id=r.payer_id, amount=r.amount_eur,
                 r_month=(r.payment_date.year().cast("int32") * 12 + r.payment_date.month().cast("int32") - 1))
    j = ut.join(r, [ut.person_id == r.r_person, r.r_month >= ut.end_month + a, r.r_month <= ut.end_month + b])
    per_unit = j.group_by(["uid", "payer_id"]).aggregate(s=j.amount.sum()).to_polars()
    out = {}
    for g in groups:  # a handful of groupings
        if g not in units.columns:
            continue
        lab = units.select(pl.col(uid).alias("uid"), pl.col(g).cast(pl.String).fill_null("(unknown)"))
        pu = per_unit.join(lab, on="uid", how="inner")
        per = pu.group_by(g, "payer_id").agg(pl.col("s").sum())
        res = per.group_by(g).agg(pl.col("payer_id").n_unique().alias("n_payers"), pl.col("s").max().alias("top"),
                                  pl.col("s").sum().alias("tot"))
        allp = pu.group_by("payer_id").agg(pl.col("s").sum())
        tot = pl.DataFrame({g: [TOTAL], "n_payers": [allp.height], "top": [allp["s"].max()], "tot": [allp["s"].sum()]},
                           schema={g: pl.String, "n_payers": res.schema["n_payers"], "top": pl.Float64, "tot": pl.Float64})
        df = pl.concat([res, tot], how="vertical_relaxed")
        out[g] = df.with_columns((pl.col("top") / pl.col("tot")).alias("top_payer_share")).select(g, "n_payers", "top_payer_share")
    return out
