"""'How robust is this?': refutation checks of each effect analysis, and their report subsection.

Matching: the headline matching estimate itself re-estimated on altered data (placebo treatment
permuted within the exact cells, random common cause, data subset; seeded) and the
hidden-confounder bounds (:func:`impact.estimators.refute.refute_design`). DiD: the pre-trend test over the event window and the placebo in
time. Synthetic control: in-space and in-time placebos and leave-one-out.

Each row gets one verdict (:func:`verdict`): passed, failed, borderline (a test's p-value between
the configured ``report.alpha`` and 0.10) or not applicable (the hidden-confounder bound of an
estimate that is not significant). Every failed and every borderline check goes to the first
page's warnings box.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from impact.report.disclosure import Group, Publication
from impact.report.render import FORMATTERS, ReportSection, ReportTable
from impact.report.wording import covariate_label, text, translate
from impact.study.analyses.effects import per_row_members, persons_frame
from impact.study.context import Notice, StudyContext

#: Rows of a design table for the hidden-confounder bounds of the weighting estimate
#: (:func:`refutation_sample`: all treated rows up to half of it, the rest a reproducible random
#: sample of the comparison rows).
MAX_ROWS = 30_000
#: Re-estimations per check of the headline matching estimate (each one a full matching run on
#: the study's design rows) and the seed of their draws.
MATCHING_SIMULATIONS = 3
SEED = 0
#: A check whose p-value lies between ``report.alpha`` and this is borderline.
BORDERLINE_UPPER = 0.10
VERDICTS = ("pass", "borderline", "fail", "na")


@dataclass(frozen=True)
class Checks:
    """The refutation checks of one analysis (their table is ``tables[table]``)."""

    kind: str  # matching | did | synth
    table: str
    title: str
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def refutation_sample(data: pl.DataFrame, outcome: str, covariates: list[str], max_rows: int = MAX_ROWS,
                      seed: int = 0) -> tuple[pl.DataFrame, list[str]]:
    """The design rows and numeric confounders for the dowhy refutation of a risk-set design.

    Confounders: the design's covariates plus the exact-matching variables made numeric
    (elapsed months ``u``, the treated's service length, the calendar year as indicators and
    the employment area as indicators for areas with at least 30 treated and 30 comparison
    rows; smaller areas share the reference). Constant columns are dropped.
    """
    tr = data.filter(pl.col("treated") > 0)
    co = data.filter(pl.col("treated") <= 0)
    n_t = min(tr.height, max_rows // 2)
    tr = tr.sample(n_t, seed=seed) if n_t < tr.height else tr
    n_c = min(co.height, max_rows - n_t)
    co = co.sample(n_c, seed=seed + 1) if n_c < co.height else co
    df = pl.concat([tr, co], how="vertical_relaxed")
    extra: list[pl.Expr] = [pl.col("u").cast(pl.Float64).alias("elapsed_u")]
    if "length" in df.columns:
        extra.append(pl.col("length").cast(pl.Float64).alias("service_length"))
    df = df.with_columns(*extra, _year=pl.col("m") // 12)
    years = sorted(df["_year"].unique().to_list())[1:]
    dums = [(pl.col("_year") == y).cast(pl.Float64).alias(f"year_{y}") for y in years]
    if "employment_area" in df.columns:
        cnt = df.group_by("employment_area").agg(nt=(pl.col("treated") > 0).sum(), nc=(pl.col("treated") <= 0).sum())
        big = sorted(cnt.filter((pl.col("nt") >= 30) & (pl.col("nc") >= 30))["employment_area"].to_list())[1:]
        dums += [(pl.col("employment_area") == a).cast(pl.Float64).alias(f"area_{a}") for a in big]
    df = df.with_columns(dums)
    covs = [c for c in dict.fromkeys(["elapsed_u", "service_length", *covariates,
                                      *[e.meta.output_name() for e in dums]]) if c in df.columns]
    covs = [c for c in covs if df[c].cast(pl.Float64).std() > 0]
    out = df.select(pl.col("treated").cast(pl.Int64), pl.col(outcome).cast(pl.Float64), "person_id",
                    *[pl.col(c).cast(pl.Float64) for c in covs])
    return out, covs


def _publication(name: str, tab: pd.DataFrame, persons: pl.DataFrame) -> Publication:
    tab = tab.reset_index(drop=True)
    if "p_value" not in tab:
        tab["p_value"] = np.nan
    tab.insert(0, "row", np.arange(len(tab)))
    return Publication(name=name, frame=tab, slices=("row",), members=per_row_members(tab, ["row"], persons),
                       groups=(Group(tuple(c for c in tab.columns if c not in ("row", "check", "expectation",
                                                                                "passed")), parts=("treated",
                                                                                                   "controls")),),
                       keep=("check", "expectation", "passed"))


def matching_checks(ctx: StudyContext, design: Any, data: pl.DataFrame, covariates: list[str], exact: list[str],
                    analysis: str, persons: pl.DataFrame, title: str) -> tuple[dict[str, Publication], Checks] | None:
    """Refutation of the headline matching estimate (employment at the longest horizon).

    :func:`impact.estimators.refute.refute_design` re-runs the study's own matching estimator
    (the same rows, covariates, exact cells and options as the headline) on altered copies of
    the rows: placebo treatment permuted within the exact cells, a random common cause, 80 %
    of the persons; plus the partial-R2 bounds for a hidden confounder. Seeded and in a
    canonical row order, so the same data and config give the same table. Returns the tables
    and the facts, or None when the design has fewer treated rows than the minimum cell."""
    from impact.estimators.refute import refute_design

    key = f"{analysis}_robustness"
    if int((data["treated"] > 0).sum()) < ctx.rules.min_cell:
        return None
    emp = [o for o in design.outcomes if o.startswith("employed_h")]
    outcome = max(emp, key=lambda o: design.horizons[o])
    h = int(design.horizons[outcome])
    kw = {k: v for k, v in ctx.cfg.estimator("matching").match_kwargs().items() if k != "vce"}
    title = text("robustness_matching_title", ctx.lang, title=title)
    try:
        r = refute_design(design, outcome, data=data, covariates=covariates, exact=exact,
                          n_simulations=MATCHING_SIMULATIONS, seed=SEED, level=1 - ctx.cfg.report.alpha, **kw)
    except Exception as exc:  # noqa: BLE001 - one failing refuter must not sink the report
        return {}, Checks("matching", key, title, error=f"{type(exc).__name__}: {exc}")
    tab = r.table.copy()
    tab["std_error"] = r.std_error
    cols = ["check", "estimate", "std_error", "refuted", "p_value", "passed", "expectation"]
    tables = {key: _publication(key, tab.reindex(columns=cols).round(
        {"estimate": 8, "std_error": 8, "refuted": 8, "p_value": 8}), persons)}
    sens = r.sensitivity
    if sens is not None and len(sens):
        tables[f"{analysis}_sensitivity"] = _publication(f"{analysis}_sensitivity", sens.copy(), persons)
    info = {"horizon": h, "outcome": outcome, "estimate": r.estimate, "se": r.std_error,
            "rows": data.height, "treated": int((data["treated"] > 0).sum()), "draws": MATCHING_SIMULATIONS,
            "seed": SEED, "notes": list(r.notes),
            "sensitivity": f"{analysis}_sensitivity" if sens is not None and len(sens) else None}
    return tables, Checks("matching", key, title, info=info)


def did_checks(ctx: StudyContext, analysis: str, res: Any, overall: Any, panel: pl.DataFrame, keys: dict,
               opts: dict, persons: pl.DataFrame, min_e: float | None = None) -> tuple[dict[str, Publication], Checks]:
    """Pre-trend test over the event window and the placebo in time of a DiD."""
    from impact.estimators.refute import did_checks as pretrend, did_placebo_in_time

    key = f"{analysis}_robustness"
    level = 1 - ctx.cfg.report.alpha
    rows = [pretrend(res, level=level, min_e=min_e)]
    err = None
    try:
        pit = did_placebo_in_time(panel, **keys, shift=3, **{"level": level, **opts})
    except Exception as exc:  # noqa: BLE001 - a refuter that cannot run is reported, not fatal
        pit, err = None, f"{type(exc).__name__}: {exc}"
    if pit is not None:
        rows.append(pit)
    tab = pd.concat(rows, ignore_index=True)
    tab["estimate"] = float(overall.estimate)
    tab["std_error"] = np.nan
    tab = tab.reindex(columns=["check", "estimate", "std_error", "refuted", "p_value", "passed", "expectation"])
    return ({key: _publication(key, tab, persons)},
            Checks("did", key, text("robustness_did_title", ctx.lang),
                   info={"placebo_in_time": pit is not None, "placebo_error": err, "estimate": float(overall.estimate)}))


def synth_checks(ctx: StudyContext, res: Any, placebo: Any, loo: Any, in_time: bool, pre: int,
                 persons: pl.DataFrame, area: str) -> tuple[dict[str, Publication], Checks]:
    """Synthetic-control placebo tests: in space, in time (12 months earlier), leave one out."""
    from impact.estimators.refute import synth_checks as checks
    from impact.months import month_label

    key = "synthetic_control_robustness"
    it, err = None, None
    if in_time and pre >= 24:
        times = res.paths["time"].to_numpy()
        tp = res.treatment_time - 12
        if (times == tp).any():
            try:
                it = res.in_time_placebo(tp)
            except Exception as exc:  # noqa: BLE001 - reported in the section
                err = f"{type(exc).__name__}: {exc}"
    tab = checks(res, placebo, it, loo, level=1 - ctx.cfg.report.alpha, time_label=lambda m: month_label(int(m)),
                 max_pre_mspe_ratio=ctx.cfg.estimator("synth").poor_fit_ratio)
    tab["std_error"] = np.nan
    tab = tab.reindex(columns=["check", "estimate", "std_error", "refuted", "p_value", "passed", "expectation"])
    return ({key: _publication(key, tab, persons)},
            Checks("synth", key, text("robustness_synth_title", ctx.lang, area=area),
                   info={"estimate": float(res.att()), "in_time_error": err}))


# ---------------------------------------------------------------------------------------
# Warnings and the report subsection
# ---------------------------------------------------------------------------------------


def verdict(row: dict, alpha: float) -> str:
    """One check's verdict: "na" when it does not apply (``passed`` missing), "borderline" when its
    test's p-value lies strictly between ``alpha`` and :data:`BORDERLINE_UPPER` (a placebo that
    barely fails to stand out, a pre-trend test that barely passes), else "pass" or "fail"."""
    ok = row.get("passed")
    if ok is None or ok != ok:
        return "na"
    p = row.get("p_value")
    if p is not None and p == p and alpha < float(p) < BORDERLINE_UPPER:
        return "borderline"
    return "pass" if bool(ok) else "fail"


def notices(tab: pd.DataFrame, title: str, lang: str, alpha: float) -> list[Notice]:
    """A warning for every failed check and a borderline notice for every borderline one."""
    out = []
    for r in tab.to_dict("records"):
        v = verdict(r, alpha)
        if v == "fail":
            out.append(Notice(text("check_failed", lang, title=title, check=translate(r["check"], lang))))
        elif v == "borderline":
            out.append(Notice(text("check_borderline", lang, title=title, check=translate(r["check"], lang),
                                   p=FORMATTERS["p"](float(r["p_value"]), lang),
                                   alpha=FORMATTERS["p"](alpha, lang)), level="borderline"))
    return out


def _reading(check: str, passed: bool, lang: str, v: str = "") -> str:
    if v in ("borderline", "na"):
        return text(f"rob_reading_{v}", lang)
    for key in ("placebo treatment", "random common cause", "data subset", "unobserved common cause",
                "DiD pre-trends", "DiD placebo in time", "in-space placebo", "permutation interval", "in-time placebo",
                "leave one donor out"):
        if check.startswith(key):
            return text(f"reading_{key.replace(' ', '_').replace('-', '_')}_{'pass' if passed else 'fail'}", lang)
    return ""


def _check_value(check: str, value: Any, page) -> str:
    if check.startswith("DiD pre-trends"):
        return "chi2 " + page.fmt("num1", value)
    if check.startswith("in-space placebo"):
        return "p = " + page.fmt("p", value)
    return page.fmt("pp", value)


def check_table(d, page, caption: str) -> ReportTable:
    """The verdict table of one analysis; effects, thresholds and intervals in one unit (pp)."""
    lang = page.lang
    alpha = page.cfg.report.alpha
    pp = partial(page.fmt, "pp")
    rows = []
    for r in d.frame.to_dict("records"):
        v = verdict(r, alpha)
        rows.append([translate(r["check"], lang), translate(r["expectation"], lang, value=pp), pp(r["estimate"]),
                     _check_value(r["check"], r["refuted"], page), text(f"rob_{v}", lang),
                     _reading(r["check"], v == "pass", lang, v)])
    header = [text(k, lang) for k in ("rob_check", "rob_expected", "rob_original", "rob_refuted", "rob_result",
                                      "rob_reading")]
    return ReportTable(caption=caption, header=header, rows=rows, align=["l", "l", "r", "r", "l", "l"],
                       name="robustness", notes=page.legend(d))


def write(res, page) -> None:
    """The analysis's subsections of 'How robust is this?' (and their warnings)."""
    for c in res.checks:
        _write_one(res, c, page)


def _write_one(res, c: Checks, page) -> None:
    lang = page.lang
    sub = ReportSection(key=f"robustness-{c.table}", title=c.title)
    if c.error is not None or c.table not in res.tables:
        sub.warnings.append(f"{text('rob_not_run', lang)}: {c.error or ''}")
        page.notice(f"{c.title}: {text('rob_not_run', lang)}", level="borderline")
        page.robustness(sub)
        return
    d = res.tables[c.table]
    tab = d.frame
    info = c.info
    if c.kind == "matching":
        e = res.estimates.frame  # the matching estimate as published (after disclosure control)
        row = e[(e["outcome"] == info["outcome"]) & (e["analysis"] == c.table.removesuffix("_robustness"))]
        m_est, lo, hi = (row[k].iloc[0] if len(row) else float("nan") for k in ("estimate", "ci_lower", "ci_upper"))
        sub.paragraphs.append(text("rob_matching_text", lang, h=info["horizon"], rows=page.fmt("int", info["rows"]),
                                   treated=page.fmt("int", info["treated"]), matching=page.fmt("pp", m_est),
                                   lo=page.fmt("pp", lo), hi=page.fmt("pp", hi), draws=info["draws"],
                                   seed=info["seed"]))
    elif c.kind == "did" and not info.get("placebo_in_time"):
        sub.paragraphs.append(text("rob_did_no_placebo", lang, why=info.get("placebo_error") or ""))
    elif c.kind == "synth" and info.get("in_time_error"):
        sub.paragraphs.append(text("rob_synth_no_in_time", lang, why=info["in_time_error"]))
    alpha = page.cfg.report.alpha
    v = [verdict(r, alpha) for r in tab.to_dict("records")]
    bad = [translate(ch, lang) for ch, x in zip(tab["check"], v) if x == "fail"]
    border = [translate(ch, lang) for ch, x in zip(tab["check"], v) if x == "borderline"]
    said = ([text("rob_some_failed", lang, k=len(bad), n=len(tab), checks="; ".join(bad))] if bad else []) + \
        ([text("rob_some_borderline", lang, k=len(border), n=len(tab), checks="; ".join(border),
               alpha=page.fmt("p", alpha))] if border else [])
    sub.paragraphs.append(" ".join(said) or text("rob_all_passed", lang, n=v.count("pass")))
    if "na" in v:
        sub.paragraphs.append(text("rob_some_na", lang, k=v.count("na"), checks="; ".join(
            translate(ch, lang) for ch, x in zip(tab["check"], v) if x == "na")))
    sub.tables.append(check_table(d, page, text("rob_caption", lang, title=c.title)))
    for n in notices(tab, c.title, lang, alpha):
        page.notice(n.text, level=n.level)
    sens = info.get("sensitivity")
    if sens and sens in res.tables:
        sub.tables.append(_sensitivity_table(res.tables[sens], page))
    page.robustness(sub)


def _sensitivity_table(d, page) -> ReportTable:
    lang = page.lang
    header = [text(k, lang) for k in ("rob_sens_benchmark", "k", "rob_sens_r2_treatment", "rob_sens_r2_outcome",
                                      "rob_sens_estimate", "rob_sens_interval", "rob_explained")]
    rows = [[covariate_label(r["benchmark"], lang), page.fmt("num0", r["k"]), page.fmt("num4", r["r2_dz"]), page.fmt("num4", r["r2_yz"]),
             page.fmt("pp", r["adjusted_estimate"]), f"[{page.fmt('pp', r['ci_lower'])}, {page.fmt('pp', r['ci_upper'])}]",
             text("yes" if r["explained_away"] else "no", lang)] for r in d.frame.to_dict("records")]
    return ReportTable(caption=text("rob_sensitivity", lang), header=header, rows=rows,
                       align=["l", "r", "r", "r", "r", "r", "l"], name="robustness_sensitivity", notes=page.legend(d))


__all__ = ["Checks", "matching_checks", "did_checks", "synth_checks", "refutation_sample", "write", "notices",
           "verdict"]
