"""The synthetic truth beside each estimate, and a warning where an interval misses it.

:func:`attach_truth` is a pure function of an :class:`~impact.study.context.AnalysisResult`
and the registers' ``truth/`` folder: it returns a new result whose estimates (and event-study
table) carry a ``truth`` column, computed over exactly the treated units of the estimate.
:func:`truth_notices` reads the disclosed estimates and returns a warning for every interval
that excludes the truth (the report's first page shows them).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from impact.report.render import FORMATTERS
from impact.report.wording import label, text
from impact.study.context import AnalysisResult, Notice, TruthRequest


def _matching(req: TruthRequest, truth_dir: Path) -> dict[tuple[str, float], float]:
    """Mean of ``employed_1 - employed_0`` ('not now') and of the earnings difference over the treated
    rows of the design (same person and service start month), h months after the service's end."""
    from impact.simulate.truth import load_effects

    if not (truth_dir / "service_effects.parquet").exists() or req.params.get("estimand", "ATT") != "ATT":
        return {}
    eff = load_effects(truth_dir).filter(pl.col("service_type") == req.params["service_type"]).select(
        "person_id", pl.col("start_month").cast(pl.Int32), "h", "employed_1", "employed_0", "earnings_1",
        "earnings_0").collect()
    tr = eff.join(req.keys, on=["person_id", "start_month"], how="semi").group_by("h").agg(
        (pl.col("employed_1").cast(pl.Float64) - pl.col("employed_0").cast(pl.Float64)).mean().alias("emp"),
        (pl.col("earnings_1") - pl.col("earnings_0")).mean().alias("earn"))
    out = {(f"employed_h{r['h']}", float(r["h"])): r["emp"] for r in tr.iter_rows(named=True)}
    out.update({(f"earnings_h{r['h']}", float(r["h"])): r["earn"] for r in tr.iter_rows(named=True)})
    return out


def _did(req: TruthRequest, truth_dir: Path) -> dict[tuple[str, float], float]:
    """True ATT(e) ('not now') of the design's entrants, e = 0..post, and their mean (horizon NaN)."""
    from impact.simulate.truth import true_event_att

    if not (truth_dir / "service_participation.parquet").exists():
        return {}
    post = int(req.params["post"])
    tr = true_event_att(truth_dir, req.keys, event_times=list(range(0, post + 1)))
    att = dict(zip(tr["event_time"].to_list(), tr["att_employed"].to_list()))
    out = {("employed", float(e)): v for e, v in att.items()}
    vals = [att[e] for e in range(post + 1) if e in att]
    out[("employed", np.nan)] = float(np.mean(vals)) if vals else np.nan
    return out


def _synth(req: TruthRequest, truth_dir: Path) -> dict[tuple[str, float], float]:
    """True effect of the reform on the treated area's employment rate by month since the reform, and its mean."""
    p = truth_dir / "area_month.parquet"
    if not p.exists():
        return {}
    t0, last = req.params["t0"], req.params["last"]
    tr = pl.read_parquet(p).filter((pl.col("employment_area") == req.keys) & (pl.col("month") >= t0) &
                                   (pl.col("month") <= last))
    out = {("employment_rate", float(int(m) - t0)): float(e) for m, e in zip(tr["month"], tr["effect_rate"])}
    out[("employment_rate", np.nan)] = float(tr["effect_rate"].mean()) if tr.height else np.nan
    return out


_KINDS = {"matching": _matching, "did": _did, "synth": _synth}


def _difference(req: TruthRequest, frame: pd.DataFrame) -> dict[tuple[str, float], float]:
    """The truth of a difference of two analyses' effects: the difference of their truths."""
    if "truth" not in frame:
        return {}
    a, b = req.params["of"]
    t = frame.set_index(["analysis", "outcome", "horizon"])["truth"]
    out = {}
    for (an, o, h), v in t.items():
        if an == a and (b, o, h) in t.index:
            out[(o, float(h))] = v - t[(b, o, h)]
    return out


def _with_truth(frame: pd.DataFrame, analyses: tuple[str, ...], tmap: dict) -> pd.DataFrame:
    f = frame.copy()
    old = f["truth"] if "truth" in f else pd.Series(np.nan, index=f.index)
    mine = f["analysis"].isin(analyses) if "analysis" in f else pd.Series(True, index=f.index)
    keys = zip(f["outcome"].astype(str), f["horizon"].astype(float))
    new = [tmap.get((o, h) if h == h else (o, np.nan), tmap.get((o, np.nan)) if h != h else np.nan) for o, h in keys]
    f["truth"] = np.where(mine, new, old)
    return f


def attach_truth(result: AnalysisResult, truth_dir: Path | None) -> AnalysisResult:
    """A copy of ``result`` with the truth beside every estimate it has one for (no truth folder: unchanged)."""
    if truth_dir is None or not result.truth or result.estimates is None:
        return result
    est = result.estimates
    tables = dict(result.tables)
    for req in result.truth:  # a difference comes after the truths it subtracts
        tmap = _difference(req, est.frame) if req.kind == "difference" else _KINDS[req.kind](req, truth_dir)
        if not tmap:
            continue
        est = dataclasses.replace(est, frame=_with_truth(est.frame, req.analyses, tmap))
        for name, pub in tables.items():  # event-study tables repeat their estimates
            f = pub.frame
            if {"analysis", "outcome", "horizon"} <= set(f.columns) and f["analysis"].isin(req.analyses).any():
                tables[name] = dataclasses.replace(pub, frame=_with_truth(pub.frame, req.analyses, tmap))
    return dataclasses.replace(result, estimates=est, tables=tables)


def check_interval(estimates: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The interval each estimate's truth is checked against, and which rows use the sample-ATT standard error.

    The published interval (``ci_lower``, ``ci_upper``) is for the population effect. Where a
    row also has ``std_error_sample`` (the standard error of the treated units' own average
    effect: ``att_gt(..., sample_se=True)`` of the risk-set DiD, ``match(..., sample_se=True)`` of the
    dynamic matching), the truth, which is that
    average, is checked against ``estimate +- c * std_error_sample`` with the published
    interval's critical value ``c = (ci_upper - ci_lower) / (2 * std_error)``.
    """
    lo, hi = estimates["ci_lower"].to_numpy(float), estimates["ci_upper"].to_numpy(float)
    if "std_error_sample" not in estimates:
        return lo, hi, np.zeros(len(lo), bool)
    se_s = estimates["std_error_sample"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        crit = (hi - lo) / (2 * estimates["std_error"].to_numpy(float))
    use = np.isfinite(se_s) & np.isfinite(crit) & (se_s > 0)
    est = estimates["estimate"].to_numpy(float)
    return np.where(use, est - crit * se_s, lo), np.where(use, est + crit * se_s, hi), use


def truth_notices(estimates: pd.DataFrame, lang: str) -> list[Notice]:
    """A warning for each analysis and outcome whose intervals exclude the synthetic truth (at which horizons).

    The intervals are those of :func:`check_interval` (the sample-ATT interval where the estimate has one)."""
    if estimates is None or "truth" not in estimates or not estimates["truth"].notna().any():
        return []
    e = estimates.dropna(subset=["truth", "ci_lower", "ci_upper"])
    lo, hi, sample = check_interval(e)
    e = e.assign(_family=e["outcome"].astype(str).str.replace(r"_h\d+$", "", regex=True), _lo=lo, _hi=hi,
                 _sample=sample)
    miss = e[(e["truth"] < e["_lo"]) | (e["truth"] > e["_hi"])]
    out = []
    for (an, outcome), g in miss.groupby(["analysis", "_family"], sort=False):
        n_all = int(((e["analysis"] == an) & (e["_family"] == outcome)).sum())
        hs = [("" if h != h else f"{int(h)}") for h in g["horizon"]]
        r = g.iloc[0]
        # in the unit of the effect tables: shares as percentage points, money in euros
        kind = "pp" if str(outcome).startswith("employ") else "num0" if str(outcome).startswith("earnings") else "num3"
        num = lambda x: FORMATTERS[kind](x, lang)  # noqa: E731
        msg = text("truth_miss", lang, analysis=label(an, lang), outcome=label(outcome, lang), k=len(g), n=n_all,
                   horizons=", ".join(h for h in hs if h) or text("overall", lang), estimate=num(r["estimate"]),
                   lo=num(r["_lo"]), hi=num(r["_hi"]), truth=num(r["truth"]))
        msg += " " + text("truth_check_sample", lang) if r["_sample"] else ""
        out.append(Notice(msg + _band_check(e[(e["analysis"] == an) & (e["_family"] == outcome)], lang)))
    return out


def _band_check(rows: pd.DataFrame, lang: str) -> str:
    """Whether the simultaneous band of an event study (``band_lower``/``band_upper``) covers the truth.

    Pointwise 95 % intervals at many correlated horizons miss a true value somewhere far more
    often than 5 % of the time; the band holds 95 % for all horizons together.
    """
    if not {"band_lower", "band_upper"} <= set(rows.columns):
        return ""
    b = rows.dropna(subset=["band_lower", "band_upper"])
    if len(b) < 2:
        return ""
    out = b[(b["truth"] < b["band_lower"]) | (b["truth"] > b["band_upper"])]
    if out.empty:
        return " " + text("truth_band_covers", lang, n=len(b))
    return " " + text("truth_band_misses", lang, k=len(out), n=len(b),
                      horizons=", ".join(f"{int(h)}" for h in out["horizon"] if h == h))
