"""The analyses a study runs: the phase 1 follow-up and one analysis per design.

Each analysis reads the run context (:class:`impact.study.runner.StudyRun`), calls the
public functions of the outcome, design and estimator stages, puts every table through
disclosure control, draws its figures and adds a report section. Estimates go to
``results.json`` in the shared tidy layout (:data:`impact.estimators.results.ESTIMATE_COLUMNS`).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd
import polars as pl

from impact.report.disclosure import DisclosureRules, protect_curves, protect_table
from impact.report.i18n import label, t
from impact.report.render import ReportSection, frame_to_table, save_figure

MAX_ROWS_SHOWN = 15


def rules_of(run) -> DisclosureRules:
    r = run.cfg.report
    return DisclosureRules(min_count=r.min_cell, min_payers=r.min_payers, dominance=r.dominance, rounding=r.rounding)


# ---------------------------------------------------------------------------------------
# Phase 1: placement follow-up
# ---------------------------------------------------------------------------------------


def followup_analysis(run) -> int:
    """Placement follow-up tables by each grouping, placement curves and Kaplan-Meier curves."""
    from impact import plots
    from impact.study.followup import group_table, km_curves, payer_stats, placement_curves

    cfg, lang = run.cfg, run.lang
    units = run.population.units
    if cfg.unit.kind != "service_spell":
        units = units.with_columns(pl.lit(0.0).alias("cost_eur")) if "cost_eur" not in units.columns else units
    horizons = cfg.outcomes.horizons
    rules = rules_of(run)
    by_list = [b for b in cfg.outcomes.by if b in units.columns]
    pstats = {}
    if "earnings" in cfg.outcomes.measures or "relative_earnings" in cfg.outcomes.measures:
        pstats = payer_stats(run.con, run.tables["earnings_reports"], units, by_list)
    sec = ReportSection(key="followup", title=t("followup", lang))
    n_tables = 0
    for by in by_list:
        raw = group_table(units, by, horizons, payer_stats=pstats.get(by))
        counts = [c for c in raw.columns if c.startswith(("n_obs_", "placed_n_"))]
        pt = protect_table(raw, by, count="n", rules=rules, earnings=["mean_earnings", "mean_rel_earnings"],
                           count_columns=counts, name=f"followup_by_{by}")
        pub = pt.table
        run.publish(f"followup_by_{by}", pub)
        n_tables += 1
        sec.tables.append(_followup_table(pub, by, horizons, cfg, lang, pt.notes))
        small = int((pub["suppressed"] == "primary").sum())
        if small:
            run.warnings.append(
                f"{label(by, lang)}: {small} group(s) have fewer than {rules.min_count} units; their figures are "
                f"suppressed{' (and ' + str(pt.n_secondary) + ' more to protect them)' if pt.n_secondary else ''}.")
        if by == by_list[0]:
            _followup_estimates(run, pub, by, horizons)
            tot = pub[pub[by] == "Total"].iloc[0]
            run.extra["followup_total"] = tot.to_dict()
            run.headline = _headline(pub, by, horizons, lang)
    # figures by the first grouping
    if by_list:
        g = by_list[0]
        lo, hi = cfg.outcomes.window_months
        curves = placement_curves(run.con, run.panel, units, g, (max(lo, -12), min(hi, 24)), run.outcomes.last_month)
        curves = protect_curves(curves, "group", at_risk="n", rules=rules, name="placement_curves")
        curves["group"] = curves["group"].map(lambda v: label(v, lang))
        run.publish("placement_curves", curves)
        fig = plots.band_lines(curves, "month", "share", "ci_lower", "ci_upper", group="group", vline=0, percent=True,
                               xlabel=t("month_since_end", lang), ylabel=t("share_employed", lang))
        sec.figures.append(save_figure(fig, run.figures_dir, "placement_by_month", t("placement_curve", lang)))
        if "time_to_employment" in cfg.outcomes.measures:
            km = km_curves(units, g, max_month=24)
            km = protect_curves(km, "group", at_risk="n_at_risk", rules=rules, name="km_curves")
            km["group"] = km["group"].map(lambda v: label(v, lang))
            run.publish("km_time_to_employment", km)
            fig = plots.band_lines(km, "month", "survival", "ci_lower", "ci_upper", group="group", step=True,
                                   percent=True, xlabel=t("month_since_end", lang), ylabel=t("share_not_employed", lang))
            sec.figures.append(save_figure(fig, run.figures_dir, "kaplan_meier", t("km_curve", lang)))
    run.sections.append(sec)
    return n_tables


def _followup_table(pub: pd.DataFrame, by: str, horizons, cfg, lang: str, notes: list[str]):
    body = pub[pub[by] != "Total"].sort_values("n", ascending=False, na_position="last")
    shown = body.head(MAX_ROWS_SHOWN)
    df = pd.concat([shown, pub[pub[by] == "Total"]], ignore_index=True)
    cols: list[tuple] = [(by, label(by, lang), "text"), ("n", t("n", lang), "int")]
    for h in horizons:
        cols.append((f"placed_{h}m", t("placed_h", lang, h=h), "pct", (f"placed_{h}m_lo", f"placed_{h}m_hi")))
    if "time_to_employment" in cfg.outcomes.measures and "median_months" in df:
        cols.append(("median_months", t("median_months", lang), "num0"))
    if "relative_earnings" in cfg.outcomes.measures and "mean_rel_earnings" in df:
        cols.append(("mean_rel_earnings", t("rel_earnings", lang), "num2"))
    if "earnings" in cfg.outcomes.measures and "mean_earnings" in df:
        cols.append(("mean_earnings", t("mean_earnings", lang), "num0"))
    if "cost" in cfg.outcomes.measures and cfg.unit.kind == "service_spell":
        h = 6 if 6 in horizons else horizons[-1]
        cols.append((f"cost_per_placement_{h}m", t("cost_per_placement", lang, h=h), "num0"))
    n = list(notes)
    if len(body) > MAX_ROWS_SHOWN:
        n.append(f"{MAX_ROWS_SHOWN} largest of {len(body)} groups shown; all in tables/followup_by_{by}.csv.")
    cap = f"{t('followup', lang)} {t('by', lang)} {label(by, lang).lower()}"
    return frame_to_table(df, cols, cap, lang, n, name=f"followup_by_{by}")


def _headline(pub: pd.DataFrame, by: str, horizons, lang: str):
    tot = pub[pub[by] == "Total"]
    cols: list[tuple] = [(by, label(by, lang), "text"), ("n", t("n", lang), "int")]
    for h in horizons:
        cols.append((f"placed_{h}m", t("placed_h", lang, h=h), "pct", (f"placed_{h}m_lo", f"placed_{h}m_hi")))
    if "cost_per_participant" in tot:
        cols.append(("cost_per_participant", t("cost_per_participant", lang), "num0"))
    return frame_to_table(tot, cols, t("key_results", lang), lang)


def _followup_estimates(run, pub: pd.DataFrame, by: str, horizons) -> None:
    rows = []
    for r in pub.to_dict("records"):
        for h in horizons:
            p, n = r.get(f"placed_{h}m"), r.get(f"n_obs_{h}m")
            se = float(np.sqrt(p * (1 - p) / n)) if p is not None and n and np.isfinite(p) and np.isfinite(n) and n > 0 else np.nan
            rows.append({"outcome": f"placed_{h}m", "estimand": "share placed (descriptive)", "horizon": h,
                         "estimate": p, "std_error": se, "ci_lower": r.get(f"placed_{h}m_lo"),
                         "ci_upper": r.get(f"placed_{h}m_hi"), "p_value": np.nan, "n_treated": n,
                         "n_controls": np.nan, "group_by": by, "group": r[by]})
    run.add_estimates(pd.DataFrame(rows), "followup", "descriptive")


# ---------------------------------------------------------------------------------------
# Shared helpers for the effect analyses
# ---------------------------------------------------------------------------------------


def person_month(run) -> pl.DataFrame:
    """The outcome stage's person x month panel in memory (collected once, for the design builders)."""
    if "person_month" not in run.extra:
        p = run.panel
        run.extra["person_month"] = p.select(p.person_id, p.month, p.employed, p.subsidised,
                                             earnings=p.earnings_eur).to_polars()
    return run.extra["person_month"]


def protected_histogram(score: np.ndarray, group: np.ndarray, min_count: int, bins: int = 30) -> pd.DataFrame:
    """Score histogram by group with bins under the minimum count removed (disclosure control)."""
    ok = np.isfinite(score)
    score, group = score[ok], group[ok]
    edges = np.linspace(score.min(), score.max(), bins + 1) if score.size else np.array([0.0, 1.0])
    rows = []
    for gname in np.unique(group):  # two groups
        c, _ = np.histogram(score[group == gname], bins=edges)
        dens = c / max(c.sum(), 1) / np.diff(edges)
        keep = c >= min_count
        rows.append(pd.DataFrame({"group": gname, "left": edges[:-1][keep], "right": edges[1:][keep],
                                  "n": c[keep], "density": dens[keep]}))
    return pd.concat(rows, ignore_index=True)


def effects_table(est: pd.DataFrame, lang: str, caption: str, truth: bool = False):
    """Report table of effect estimates on placement (percentage points) by horizon."""
    cols: list[tuple] = [("label", t("outcome", lang), "text"), ("horizon", t("horizon", lang), "int"),
                         ("estimate", t("estimate", lang), "pp", ("ci_lower", "ci_upper")),
                         ("std_error", t("std_error", lang), "pp"), ("p_value", t("p_value", lang), "p"),
                         ("n_treated", t("n_treated", lang), "int"), ("n_controls", t("n_controls", lang), "int")]
    if truth and "truth" in est:
        cols.insert(3, ("truth", t("truth", lang), "pp"))
    return frame_to_table(est, cols, caption, lang)


def matching_diagnostics(run, res, key: str, title: str) -> tuple[list, list[str]]:
    """Love plot, score overlap and balance warnings of a matching result."""
    from impact import plots

    lang = run.lang
    figs, warns = [], []
    if res.balance is not None:
        bal = res.balance
        fig = res.love_plot()
        figs.append(save_figure(fig, run.figures_dir, f"{key}_love_plot",
                                f"{title}: absolute standardised mean differences before and after matching "
                                "(dashed line: 0.1)." if lang == "en" else
                                f"{title}: vakioidut keskiarvoerot ennen ja jälkeen kaltaistuksen (katkoviiva 0,1)."))
        bad = bal.loc[bal.get("smd_flag", pd.Series(False, index=bal.index)).astype(bool), "covariate"].tolist()
        if bad:
            warns.append(f"{title}: covariates still imbalanced after matching (|SMD| > 0.1): {', '.join(bad)}. "
                         "Estimates may be biased." if lang == "en" else
                         f"{title}: epätasapainoiset muuttujat kaltaistuksen jälkeen (|SMD| > 0,1): {', '.join(bad)}.")
        vbad = bal.loc[bal.get("vr_flag", pd.Series(False, index=bal.index)).astype(bool), "covariate"].tolist()
        if vbad:
            warns.append(f"{title}: variance ratios outside [0.5, 2] after matching: {', '.join(vbad)}.")
        run.publish(f"{key}_balance", bal)
    if res.score is not None and res.treated is not None:
        h = protected_histogram(np.asarray(res.score, float), np.where(np.asarray(res.treated) > 0, "treated", "control"),
                                run.cfg.report.min_cell)
        run.publish(f"{key}_overlap", h)
        fig = plots.binned_histogram(h, xlabel="propensity score")
        figs.append(save_figure(fig, run.figures_dir, f"{key}_overlap",
                                f"{title}: propensity score overlap, treated and comparison rows (bins with fewer "
                                f"than {run.cfg.report.min_cell} persons not shown)." if lang == "en" else
                                f"{title}: kaltaistuspisteiden päällekkäisyys."))
    return figs, warns


def _label_outcome(outcome: str, lang: str) -> str:
    if outcome.startswith("employed_h"):
        return "In open-market work" if lang == "en" else "Avoimilla työmarkkinoilla"
    if outcome.startswith("earnings_h"):
        return "Monthly earnings (EUR)" if lang == "en" else "Kuukausiansiot (EUR)"
    return outcome


def cost_rows(run, est: pd.DataFrame, cost_per_participant: float, analysis: str) -> list[dict]:
    """Cost per additional placement = cost per participant / effect on placement (where the effect is > 0)."""
    rows = []
    for r in est[est["outcome"].str.startswith("employed_h")].to_dict("records"):
        eff, lo = r["estimate"], r["ci_lower"]
        ok = eff is not None and np.isfinite(eff) and eff > 0
        rows.append({"analysis": analysis, "horizon": int(r["horizon"]), "cost_per_participant": cost_per_participant,
                     "effect": eff, "cost_per_additional_placement": cost_per_participant / eff if ok else np.nan,
                     "significant": bool(lo is not None and np.isfinite(lo) and lo > 0)})
    return rows


def _cost_per_participant(run, services: pl.DataFrame) -> float:
    c = services["cost_eur"].drop_nulls()
    return float(c.mean()) if c.len() else float("nan")


# ---------------------------------------------------------------------------------------
# Dynamic (risk-set) matching
# ---------------------------------------------------------------------------------------


def _matching_kwargs(run) -> dict:
    spec = run.cfg.estimator("matching")
    o = dict(spec.options) if spec else {}
    kw: dict[str, Any] = {"k": o.get("k", 5), "replace": o.get("replace", True), "method": o.get("method", "propensity"),
                          "estimand": o.get("estimand", "ATT"), "ties": o.get("ties", "all")}
    if "caliper" in o:
        kw["caliper"] = o["caliper"]
    if "trim" in o:
        kw["trim"] = o["trim"]
    if o.get("se") == "bootstrap":
        kw["vce"] = "bootstrap"
    return kw


def _run_dynamic(run, services: pl.DataFrame, key: str, title: str, analysis: str) -> tuple[pd.DataFrame, Any, Any]:
    from impact.designs.dynamic import risk_set_design

    cfg = run.cfg
    f = run.frames
    design = risk_set_design(f["jobseeking_spells"], services, f["persons"], person_month(run),
                             service_type=cfg.treatment.service_type, horizons=cfg.outcomes.horizons, origin="end",
                             comparison="not_yet" if cfg.comparison.kind != "never_treated" else "never",
                             grace=cfg.comparison.grace_months, max_elapsed=cfg.treatment.max_elapsed_months,
                             last_month=run.outcomes.last_month)
    res = design.estimate(**_matching_kwargs(run))
    treated = design.data.filter(pl.col("treated") > 0).select("person_id", pl.col("ms").cast(pl.Int32).alias("start_month"))
    run.extra.setdefault("treated_keys", {})[analysis] = treated.unique()
    est = res.estimates.copy()
    est["label"] = est["outcome"].map(lambda o: _label_outcome(o, run.lang))
    est["estimand_text"] = design.estimand
    run.add_estimates(est.drop(columns=["label"]), analysis, "risk-set matching")
    _keep_for_robustness(run, analysis, title, "matching", design=design, est=est)
    return est, res, design


def dynamic_analysis(run) -> str:
    """Dynamic matching (join now vs wait) and, when configured, staggered DiD on the same service."""
    cfg, lang = run.cfg, run.lang
    st = cfg.treatment.service_type
    services = run.frames["service_spells"]
    title = label(st, lang)
    sec = ReportSection(key="effects", title=t("effects", lang))
    msg = []
    if cfg.estimator("matching"):
        est, res, design = _run_dynamic(run, services, "matching", title, "dynamic_matching")
        sub = ReportSection(key="matching", title=("Dynamic matching: starting now vs waiting" if lang == "en"
                                                   else "Dynaaminen kaltaistus: aloitus nyt vai myöhemmin"))
        sub.paragraphs.append(f"Estimand: {design.estimand}." if lang == "en" else f"Estimoitava suure: {design.estimand}.")
        sub.paragraphs.append(
            f"{int(design.info['treated']):,} treated risk-set rows and {design.info['rows'] - design.info['treated']:,} "
            f"comparison rows, exact cells on {', '.join(design.exact)}; {_matching_kwargs(run)['k']} nearest neighbours "
            "on the propensity score." if lang == "en" else
            f"{int(design.info['treated']):,} osallistujaa ja {design.info['rows'] - design.info['treated']:,} "
            "vertailuriviä.")
        run.extra["effects_main"] = est
        run.extra["effects_key"] = "dynamic_matching"
        figs, warns = matching_diagnostics(run, res, "matching", title)
        sub.warnings.extend(warns)
        run.warnings.extend(warns)
        sub.figures.extend(figs)
        run.extra.setdefault("effect_sections", []).append(("dynamic_matching", sub, est))
        sec.subsections.append(sub)
        cpp = _cost_per_participant(run, services.filter(pl.col("service_type") == st))
        run.extra.setdefault("cost_rows", []).extend(cost_rows(run, est, cpp, "dynamic_matching"))
        msg.append(f"matching {len(est)} estimates")
    if cfg.estimator("did"):
        m = did_analysis(run, sec)
        msg.append(m)
    run.sections.append(sec)
    return ", ".join(msg)


def sector_analysis(run) -> str:
    """Pay subsidy by employer sector: dynamic matching for each sector group, and their difference."""
    cfg, lang = run.cfg, run.lang
    st = cfg.treatment.service_type
    services = run.frames["service_spells"].filter(pl.col("service_type") == st)
    groups = [("treatment", cfg.treatment.employer_sectors), ("comparison", cfg.comparison.employer_sectors)]
    names = {"treatment": "private firms" if lang == "en" else "yritykset",
             "comparison": "public and third sector" if lang == "en" else "julkinen ja kolmas sektori"}
    sec = ReportSection(key="effects", title=t("effects", lang))
    ests = {}
    for g, sectors in groups:
        sv = services.filter(pl.col("employer_sector").is_in(list(sectors)))
        title = f"{label(st, lang)}, {names[g]}"
        est, res, design = _run_dynamic(run, sv, f"sector_{g}", title, f"sector_{g}")
        est["group"] = names[g]
        ests[g] = est
        sub = ReportSection(key=f"sector_{g}", title=title)
        sub.paragraphs.append(
            f"Employer sectors {', '.join(map(str, sectors))}: {int(design.info['treated']):,} participants compared with "
            f"job seekers at the same elapsed duration who did not start this kind of pay subsidy then. "
            f"Estimand: {design.estimand}." if lang == "en" else
            f"Työnantajasektorit {', '.join(map(str, sectors))}: {int(design.info['treated']):,} osallistujaa.")
        figs, warns = matching_diagnostics(run, res, f"sector_{g}", title)
        sub.figures.extend(figs)
        sub.warnings.extend(warns)
        run.warnings.extend(warns)
        run.extra.setdefault("effect_sections", []).append((f"sector_{g}", sub, est))
        sec.subsections.append(sub)
        cpp = _cost_per_participant(run, sv)
        run.extra.setdefault("cost_rows", []).extend(cost_rows(run, est, cpp, f"sector_{g}"))
    # difference between the two effects (independent samples apart from shared controls: conservative SE)
    a, b = ests["treatment"], ests["comparison"]
    m = a.merge(b, on=["outcome", "horizon"], suffixes=("_a", "_b"))
    diff = pd.DataFrame({"outcome": m["outcome"], "estimand": "difference of ATTs (private - public/third sector)",
                         "horizon": m["horizon"], "estimate": m["estimate_a"] - m["estimate_b"],
                         "std_error": np.sqrt(m["std_error_a"] ** 2 + m["std_error_b"] ** 2),
                         "n_treated": m["n_treated_a"], "n_controls": m["n_treated_b"]})
    from impact.estimators.results import tidy_estimates

    diff = tidy_estimates(diff)
    run.add_estimates(diff, "sector_difference", "difference of risk-set matching ATTs")
    both = pd.concat([ests["treatment"], ests["comparison"]], ignore_index=True)
    run.extra["effects_main"] = both
    run.extra["effects_key"] = "sector"
    dsub = ReportSection(key="sector_difference", title="Private minus public and third sector" if lang == "en"
                         else "Yritykset miinus julkinen ja kolmas sektori")
    dd = diff.copy()
    dd["label"] = dd["outcome"].map(lambda o: _label_outcome(o, lang))
    dsub.tables.append(effects_table(dd[dd["outcome"].str.startswith("employed_h")], lang,
                                     "Difference of the two effects (percentage points)" if lang == "en" else
                                     "Vaikutusten erotus (%-yksikköä)"))
    dsub.paragraphs.append("The standard error of the difference adds the two variances; it ignores the covariance "
                           "from shared comparison persons, so the interval is approximate." if lang == "en" else
                           "Erotuksen keskivirhe on laskettu summaamalla varianssit (likimääräinen).")
    sec.subsections.append(dsub)
    run.sections.append(sec)
    return f"{len(both)} estimates in two sector groups"


def _subsample(ids: pl.Series, n_max: int) -> pl.Expr:
    """Deterministic subsample of units (hash of the id), about ``n_max`` of them."""
    n = ids.n_unique()
    if n <= n_max:
        return pl.lit(True)
    cut = int(n_max / n * 2**32)
    return (pl.col("person_id").hash(seed=20250101) % (2**32)) < cut


def spell_time_panel(run, service_type: str, max_u: int, horizon: int, n_max: int) -> pl.DataFrame:
    """Job-seeking spells in months since the spell started, with the month the service starts.

    One row per spell and month t = 0..max_u + horizon since the spell's start month;
    ``cohort`` = the month t at which the service starts (1..max_u), 0 when it does not start
    within ``max_u`` months of the spell. Everyone is a new job seeker at t = 0, so the
    comparison is job seekers of the same unemployment duration who have not (yet) started
    the service, including those who leave for work (the DiD counterpart of the risk-set
    design). Calendar-month entry cohorts would instead compare new job seekers with people
    not yet unemployed (the pre-programme dip).
    """
    from impact.months import pl_month_index

    f = run.frames
    sp = f["jobseeking_spells"].select("person_id", "spell_id", "start_date", "end_date",
                                       pl_month_index("start_date").alias("s0"))
    sp = sp.filter(pl.col("s0") + max_u + horizon <= run.outcomes.last_month)
    if run.cfg.population.start_from is not None:
        from impact.months import month_index

        sp = sp.filter(pl.col("s0") >= month_index(run.cfg.population.start_from))
    sv = f["service_spells"].filter(pl.col("service_type") == service_type).select(
        "person_id", pl.col("start_date").alias("sv_start"))
    j = sp.join(sv, on="person_id", how="inner").filter(
        (pl.col("sv_start") >= pl.col("start_date")) &
        (pl.col("end_date").is_null() | (pl.col("sv_start") <= pl.col("end_date") + pl.duration(days=7))))
    first = j.group_by("spell_id").agg(pl_month_index(pl.col("sv_start").min()).alias("ms"))
    sp = sp.join(first, on="spell_id", how="left").with_columns(
        pl.when((pl.col("ms") - pl.col("s0")).is_between(1, max_u)).then(pl.col("ms") - pl.col("s0"))
        .otherwise(0).cast(pl.Int64).alias("cohort"))
    # spells that start the service at t = 0 or after max_u are neither cohort nor clean comparison: dropped
    sp = sp.filter((pl.col("cohort") > 0) | pl.col("ms").is_null())
    sp = sp.filter(_subsample(sp["spell_id"].alias("person_id"), n_max))
    T = max_u + horizon
    grid = sp.with_columns(pl.int_ranges(0, T + 1, dtype=pl.Int32).alias("t")).explode("t").with_columns(
        (pl.col("s0") + pl.col("t")).cast(pl.Int32).alias("month"))
    pm = person_month(run).select("person_id", pl.col("month").cast(pl.Int32), "employed")
    out = grid.join(pm, on=["person_id", "month"], how="left").with_columns(
        pl.col("employed").fill_null(False).cast(pl.Int8))
    return out.select("spell_id", "person_id", "t", "cohort", "employed").sort("spell_id", "t")


def did_analysis(run, sec) -> str:
    """Staggered DiD on the treatment's service, by ``estimators.did.design``: the stacked
    'join now vs not now' risk-set design (default, :func:`_did_risk_set`) or the spell-time
    design (:func:`_did_spell_time`)."""
    if run.cfg.estimator("did").options.get("design", "risk_set") == "spell_time":
        return _did_spell_time(run, sec)
    return _did_risk_set(run, sec)


#: Covariates of the risk-set DiD: columns of impact.designs.did_panels.risk_set_panel plus the
#: interactions of :func:`_history_by_start`; segment 00 and language fi are the references.
RISK_SET_COVARIATES = ("age_u25", "age_o50", "female", "educ_basic", "educ_tertiary", "lang_other", "log_elapsed",
                       "long_term", "emp_12m", "seg_01", "seg_02", "seg_03", "seg_04", "hist_el1", "hist_el2",
                       "hist_el3", "hist_el4_6", "hist_el7_12")
#: Bands of months since the job-seeking spell started within which the comparison persons are
#: sampled (exact months 1-12, then 13-18, 19-24, 25-36, 37+).
RISK_SET_ELAPSED_BANDS = (*range(1, 14), 19, 25, 37)


def _history_by_start(d: pl.DataFrame) -> pl.DataFrame:
    """Prior employment (``emp_12m``) interacted with 1, 2, 3, 4-6 and 7-12 months since the spell started.

    Employment before entry steps down in the month the job-seeking spell started, by as much
    as the person was employed before it, and entrants have less prior employment than the
    job seekers they are compared with. So in each pre-entry month only the persons whose
    spell started then carry the prior-employment difference; a single prior-employment term
    spreads it over all months and leaves pre-trends (and a failing placebo in time). The
    comparison persons are sampled with the same months since the start
    (:data:`RISK_SET_ELAPSED_BANDS`), so the start timing itself is balanced by design.
    """
    e, h = pl.col("elapsed_months"), pl.col("emp_12m")
    return d.with_columns(hist_el1=h * (e == 1), hist_el2=h * (e == 2), hist_el3=h * (e == 3),
                          hist_el4_6=h * e.is_between(4, 6), hist_el7_12=h * e.is_between(7, 12))


def risk_set_cohorts(run, pre: int, post: int, n_cohorts: int) -> tuple[int, int]:
    """Entry months (month indexes) of the risk-set DiD.

    ``treatment.cohorts_from``/``cohorts_to`` when given; otherwise the last ``n_cohorts``
    months whose ``post`` months of follow-up end before the last (incompletely reported)
    month of the outcome stage and that start on or before ``population.start_to``.
    """
    from impact.errors import DesignError
    from impact.months import month_index
    from impact.study.config import month_to_index

    cfg = run.cfg
    tr, pop = cfg.treatment, cfg.population
    last_full = run.outcomes.last_month - 1  # the last month's arrears pay is reported later
    first = int(person_month(run)["month"].min())
    g1 = last_full - post
    if pop.start_to is not None:
        g1 = min(g1, month_index(pop.start_to))
    g0 = g1 - n_cohorts + 1
    if pop.start_from is not None:
        g0 = max(g0, month_index(pop.start_from))
    g0 = max(g0, first + pre)
    if tr.cohorts_from:
        g0 = month_to_index(tr.cohorts_from)
    if tr.cohorts_to:
        g1 = month_to_index(tr.cohorts_to)
    if g0 - pre < first or g1 + post > last_full or g1 < g0:
        from impact.months import month_label

        raise DesignError(
            f"the risk-set DiD needs entry months with {pre} months before (estimators.did.pre_months) and {post} "
            f"after (outcomes.window_months / estimators.did.max_event_time) inside the outcome data "
            f"({month_label(first)}..{month_label(last_full)}); got cohorts {month_label(g0)}..{month_label(g1)} "
            "(treatment.cohorts_from / cohorts_to, population.start_from / start_to)")
    return g0, g1


def _did_risk_set(run, sec) -> str:
    """Stacked 'join now vs not now' DiD around the entry into the service.

    Design (:func:`impact.designs.did_panels.risk_set_panel`): for each entry month g (the
    cohorts of :func:`risk_set_cohorts`), the persons whose first spell of the service starts
    in g, job seeking at the end of g - 1, against a random comparison set of up to
    ``controls_per_treated`` persons per entrant of the same month and employment area who
    were job seeking at the ends of g - 1 and g and started no service in g (they may start
    later). Estimator: ``att_gt(..., comparison_set="stack")``, outcome regression on the
    covariates of :data:`RISK_SET_COVARIATES`, standard errors clustered by person.

    Estimand: ATT(e), the average effect on the entrants of joining in g rather than not
    then ('not now'), e months after the entry month (e = 0..post; the months in the service,
    the lock-in, included), and their mean over e = 0..post. Cohorts with fewer than
    ``report.min_cell`` entrants or comparison persons are left out (disclosure control).
    """
    from impact.designs.did_panels import risk_set_panel
    from impact.errors import DesignError
    from impact.estimators import did
    from impact.months import month_label

    cfg, lang = run.cfg, run.lang
    o = dict(cfg.estimator("did").options)
    st = cfg.treatment.service_type
    post = int(min(cfg.outcomes.window_months[1], o.get("max_event_time", cfg.outcomes.window_months[1])))
    pre = int(o.get("pre_months", min(-cfg.outcomes.window_months[0], 12)))
    if post < 1 or pre < 1:
        raise DesignError(f"the risk-set DiD needs at least one month before and after entry; got {pre} before "
                          f"(estimators.did.pre_months) and {post} after (outcomes.window_months)")
    g0, g1 = risk_set_cohorts(run, pre, post, int(o.get("cohorts", 24)))
    k = int(o.get("controls_per_treated", 3))
    f = run.frames
    pm = person_month(run).filter(pl.col("month") < run.outcomes.last_month)
    d = risk_set_panel(pm, f["service_spells"], f["jobseeking_spells"], f["persons"], service_type=st,
                       cohorts=(g0, g1), pre=pre, post=post, controls_per_treated=k, seed=0, earnings_col="earnings",
                       elapsed_bands=RISK_SET_ELAPSED_BANDS)
    d = _history_by_start(d)
    # disclosure control: every cohort has at least min_cell entrants and min_cell comparison persons
    mc = cfg.report.min_cell
    sizes = d.select("unit", "stack", "cohort").unique().group_by("stack").agg(
        n_t=(pl.col("cohort") > 0).sum(), n_c=(pl.col("cohort") == 0).sum())
    small = sizes.filter((pl.col("n_t") < mc) | (pl.col("n_c") < mc))["stack"].to_list()
    if small:
        d = d.filter(~pl.col("stack").is_in(small))
    if d.height == 0:
        raise DesignError(f"no entry month {month_label(g0)}..{month_label(g1)} has {mc} or more entrants into {st} "
                          f"and {mc} comparison persons (report.min_cell)")
    # a covariate constant within a comparison set makes that cohort's outcome regression singular
    spread = d.filter(pl.col("cohort") == 0).unique("unit").group_by("stack").agg(
        [pl.col(c).cast(pl.Float64).std().fill_null(0.0).alias(c) for c in RISK_SET_COVARIATES])
    covs = [c for c in RISK_SET_COVARIATES if spread[c].min() > 0]
    not_adjusted = [c for c in RISK_SET_COVARIATES if c not in covs]
    cl = "person_id"
    if o.get("cluster") == "employment_area":
        d = d.join(f["persons"].select("person_id", "employment_area"), on="person_id", how="left")
        cl = "employment_area"
    opts = dict(comparison_set="stack", cluster=cl, covariates=covs, method=o.get("method", "reg"))
    keys = dict(unit="unit", time="month", group="cohort", outcome="employed")
    res = did.att_gt(d, **keys, anticipation=o.get("anticipation", 0), base_period=o.get("base_period", "varying"),
                     **opts)
    agg = res.aggregate("dynamic", min_e=-pre, max_e=post, bootstrap=True, n_boot=999, seed=0)
    units = d.select("unit", "person_id", "stack", "cohort", "service_id").unique()
    est_groups = set(res.att_gt["group"].astype(float).tolist())
    used = units.filter(pl.col("stack").cast(pl.Float64).is_in(list(est_groups)))
    n_treated = int((used["cohort"] > 0).sum())
    n_controls = int((used["cohort"] == 0).sum())
    n_persons = used["person_id"].n_unique()
    es = agg.estimates.drop(columns=[c for c in ("horizon",) if c in agg.estimates]).rename(
        columns={"event_time": "horizon"})
    tidy = es.assign(outcome="employed", estimand="event-study ATT(e): joining now vs not yet, months since entry",
                     n_treated=n_treated, n_controls=n_controls)
    truth = _did_truth(run, used, post)
    if truth is not None:
        tidy["truth"] = tidy["horizon"].map(truth)
    run.add_estimates(tidy, "did_event_study", "callaway_santanna (stacked risk sets)")
    ov = agg.overall
    overall = pd.DataFrame([{"outcome": "employed", "estimand": f"average ATT(e) over e = 0..{post} months since entry",
                             "horizon": np.nan, **ov.to_dict(), "n_treated": n_treated, "n_controls": n_controls}])
    if truth is not None:
        overall["truth"] = float(np.mean([truth[e] for e in range(post + 1) if e in truth]))
    run.add_estimates(overall, "did_overall", "callaway_santanna (stacked risk sets)")
    run.extra["did_design"] = {"design": "risk_set", "cohorts": (g0, g1), "pre": pre, "post": post,
                               "left_out": small, "n_treated": n_treated, "n_controls": n_controls,
                               "covariates": covs, "not_adjusted": not_adjusted}
    _keep_for_robustness(run, "did_overall", "Difference-in-differences: joining now vs not yet" if lang == "en" else
                         "Erotusten erotus: aloitus nyt vai ei nyt", "did", res=res, overall=ov, panel=d,
                         keys=keys, opts=opts, pretest_min_e=-pre)
    sub = ReportSection(key="did", title=("Difference-in-differences: joining now vs not yet (event study)"
                                          if lang == "en" else "Erotusten erotus: aloitus nyt vai ei nyt"))
    lab = label(st, lang).lower()
    left = (f" Entry months with fewer than {mc} entrants or comparison persons are left out "
            f"({', '.join(month_label(int(m)) for m in small)})." if small else "")
    sub.paragraphs.append(
        f"For each entry month from {month_label(g0)} to {month_label(g1)}, the job seekers who started "
        f"{lab} for the first time that month ({n_treated:,} entrants) are compared with up to {k} job seekers per "
        f"entrant from the same employment area, unemployed equally long, who were job seeking in the same month "
        f"but did not start any service then ({n_controls:,} comparison persons; {n_persons:,} distinct persons, "
        f"since a job seeker can be a comparison person in several months and join later). Employment is followed "
        f"month by month from {pre} months before to {post} months after the entry month, adjusted for age, sex, "
        "education, language, segment, months of unemployment and employment in the year before the spell (also "
        "by how recently the spell started)" + (f", except {', '.join(not_adjusted)} (constant among the comparison "
                                                f"persons of some entry month)" if not_adjusted else "") + ". "
        f"Average effect over months 0-{post} since entry: {100 * ov.estimate:+.1f} pp "
        f"[{100 * ov.ci_lower:+.1f}, {100 * ov.ci_upper:+.1f}]. The effect counts from the entry month, so the "
        "months in the service (lock-in, when participants search less) come first; the comparison persons may "
        "start the service later, so this is the effect of joining now rather than not yet ('not now'), not "
        "of never joining." + left if lang == "en" else
        f"{n_treated:,} aloittajaa ja {n_controls:,} vertailuhenkilöä; keskimääräinen vaikutus {100 * ov.estimate:+.1f} "
        f"%-yks. kuukausina 0-{post} aloituksesta (lukkiutumisvaikutus mukana).")
    _pretest_paragraph(run, sub, res, lang, min_e=-pre)
    from impact import plots

    dd = tidy.sort_values("horizon")
    fig = plots.event_study_plot(dd, x="horizon", truth="truth" if truth is not None else None,
                                 xlabel="Months since entry" if lang == "en" else "Kuukautta aloituksesta",
                                 ylabel="Effect on employment" if lang == "en" else "Vaikutus työllisyyteen")
    sub.figures.append(save_figure(fig, run.figures_dir, "did_event_study",
                                   "Event study: effect of joining now rather than not yet on open-market employment, "
                                   "by months since the entry month (0 = entry month), with 95% pointwise intervals "
                                   "and the simultaneous band; months before entry test parallel trends"
                                   + ("; red: the true effect in the simulation." if truth is not None else ".")
                                   if lang == "en" else "Tapahtumatutkimus: vaikutus kuukausittain aloituksesta."))
    pub_cols = [c for c in ("horizon", "estimate", "std_error", "ci_lower", "ci_upper", "band_lower", "band_upper",
                            "n_treated", "n_controls", "truth") if c in dd]
    run.publish("did_event_study", dd[pub_cols])
    sec.subsections.append(sub)
    return f"did (risk set) {len(tidy)} event times, {n_treated} entrants"


def _did_truth(run, used: pl.DataFrame, post: int) -> dict[int, float] | None:
    """True ATT(e) ('not now') of the design's entrants, e = 0..post (synthetic registers only)."""
    truth_dir = run.registers_dir / "truth" if run.registers_dir is not None else None
    if truth_dir is None or not (truth_dir / "service_participation.parquet").exists():
        return None
    from impact.simulate.truth import true_event_att

    ids = used.filter(pl.col("cohort") > 0).select("service_id").unique()
    tr = true_event_att(truth_dir, ids, event_times=list(range(0, post + 1)))
    return dict(zip(tr["event_time"].to_list(), tr["att_employed"].to_list()))


def _pretest_paragraph(run, sub, res, lang: str, min_e: float | None = None) -> None:
    """The pre-trend Wald test as a paragraph (and a warning when it rejects)."""
    try:
        pt = res.pretest() if min_e is None else res.pretest(min_e=min_e)
    except Exception as e:  # noqa: BLE001 - a design without pre-periods simply has no test
        sub.paragraphs.append(f"No pre-trend test: {e}")
        return
    which = ("all pre-start effects zero" if min_e is None else
             f"all effects in the {-int(min_e)} months before entry zero, every entry month")
    sub.paragraphs.append(f"Pre-trend test ({which}): chi2 = {pt.statistic:.1f}, df = {pt.df}, "
                          f"p = {pt.p_value:.3f}." if lang == "en" else f"Esitrenditesti: p = {pt.p_value:.3f}.")
    run.extra["pretest"] = {"statistic": pt.statistic, "df": pt.df, "p_value": pt.p_value}
    if pt.p_value < 0.05:
        w = (f"Pre-trends: employment of the entrants already differed before the start (p = {pt.p_value:.3f}); "
             "the parallel-trends assumption of the DiD estimate is doubtful." if lang == "en" else
             f"Esitrendit: ryhmät erosivat jo ennen aloitusta (p = {pt.p_value:.3f}).")
        sub.warnings.append(w)
        run.warnings.append(w)


def _did_spell_time(run, sec) -> str:
    """Staggered DiD in months since the start of the job-seeking spell (cohort = month the service starts).

    Units are job-seeking spells (a deterministic subsample of at most ``sample_units``),
    followed from their start; cohort g = the month of the spell in which the service starts
    (up to ``max_elapsed_months``, at most 18); controls are the spells not (yet) treated at
    the same duration, including those that end in work. Estimand: the effect of starting the
    service in month g of the spell, by months since the start (event study), lock-in months
    included. Treated spells are unemployed until g by construction, so the pre-trend test
    usually rejects: the report then warns that the DiD estimate is not credible and the
    risk-set matching is the primary design.
    """
    from impact.estimators import did

    cfg, lang = run.cfg, run.lang
    o = dict(cfg.estimator("did").options)
    st = cfg.treatment.service_type
    max_u = min(cfg.treatment.max_elapsed_months, 18)
    after = cfg.outcomes.window_months[1]
    before = cfg.outcomes.window_months[0]
    panel = spell_time_panel(run, st, max_u, after, int(o.get("sample_units", 20_000)))
    if panel.height == 0:
        from impact.errors import DesignError

        raise DesignError(f"no job-seeking spells in which {st} starts within {max_u} months (with {after} months "
                          "of follow-up inside the data)")
    last = max_u + after
    res = did.att_gt(panel, unit="spell_id", time="t", group="cohort", outcome="employed",
                     control_group="not_yet_treated", method=o.get("method", "reg"),
                     anticipation=o.get("anticipation", 0), base_period=o.get("base_period", "varying"),
                     bootstrap=o.get("bootstrap", False), seed=0)
    max_e = o.get("max_event_time", after)
    agg = res.aggregate("dynamic", min_e=before, max_e=max_e)
    es = agg.estimates.copy()
    if "event_time" in es:
        es = es.drop(columns=[c for c in ("horizon",) if c in es]).rename(columns={"event_time": "horizon"})
    tidy = es.assign(outcome="employed", estimand="event-study ATT(e), months since start")
    for c in ("n_treated", "n_controls"):
        if c not in tidy:
            tidy[c] = np.nan
    n_units = panel["spell_id"].n_unique()
    n_treated = panel.filter(pl.col("cohort") > 0)["spell_id"].n_unique()
    tidy["n_treated"] = tidy["n_treated"].fillna(n_treated)
    # the comparison at each month is the spells not yet treated then: no single count
    run.add_estimates(tidy[[c for c in tidy.columns if c not in ("label",)]], "did_event_study", "callaway_santanna")
    ov = agg.overall
    overall = pd.DataFrame([{"outcome": "employed", "estimand": "average ATT over event times 0..max",
                             "horizon": np.nan, **ov.to_dict(), "n_treated": n_treated, "n_controls": np.nan}])
    run.add_estimates(overall, "did_overall", "callaway_santanna")
    _keep_for_robustness(run, "did_overall", "Staggered difference-in-differences" if lang == "en" else
                         "Porrastettu erotusten erotus", "did", res=res, overall=ov, panel=panel,
                         opts=dict(control_group="not_yet_treated", method=o.get("method", "reg")))
    sub = ReportSection(key="did", title=("Staggered difference-in-differences: event study" if lang == "en"
                                          else "Porrastettu erotusten erotus: tapahtumatutkimus"))
    sub.paragraphs.append(
        f"{n_units:,} job-seeking spells followed month by month from their start (months 0-{last}); in {n_treated:,} "
        f"of them {label(st, lang).lower()} starts in month 1-{max_u} of the spell (the cohorts); spells that have "
        "not (yet) started it at the same unemployment duration are the comparison. "
        f"Average effect over months 0-{max_e} "
        f"after the start: {100 * ov.estimate:+.1f} pp [{100 * ov.ci_lower:+.1f}, {100 * ov.ci_upper:+.1f}]. "
        "The effect is measured from the start, so the months in the service (lock-in) are included." if lang == "en"
        else f"{n_treated:,} henkilöä; keskimääräinen vaikutus {100 * ov.estimate:+.1f} %-yks.")
    _pretest_paragraph(run, sub, res, lang)
    from impact import plots

    d = tidy.sort_values("horizon")
    if hasattr(plots, "event_study_plot"):
        fig = plots.event_study_plot(d, x="horizon", xlabel="Months since the start" if lang == "en" else
                                     "Kuukautta aloituksesta",
                                     ylabel="Effect on employment" if lang == "en" else "Vaikutus työllisyyteen")
    else:
        fig = plots.band_lines(d, "horizon", "estimate", "ci_lower", "ci_upper", vline=-0.5, hline=0.0, percent=True,
                               xlabel="Months since the start", ylabel="Effect on employment")
    sub.figures.append(save_figure(fig, run.figures_dir, "did_event_study",
                                   "Event study: effect on open-market employment by months since the start, with "
                                   "95% pointwise confidence band (months before the start test parallel trends)."
                                   if lang == "en" else "Tapahtumatutkimus: vaikutus kuukausittain aloituksesta."))
    run.publish("did_event_study", d[[c for c in ("horizon", "estimate", "std_error", "ci_lower", "ci_upper")
                                      if c in d]])
    sec.subsections.append(sub)
    return f"did {len(tidy)} event times"


def synth_analysis(run) -> str:
    """Synthetic control for the reformed area on the area x month employment rate, with placebos and peers."""
    from impact.designs.did_panels import area_month_panel
    from impact.estimators import synth
    from impact import plots
    from impact.study.config import month_to_index

    cfg, lang = run.cfg, run.lang
    o = dict(cfg.estimator("synth").options)
    area = cfg.treatment.area
    t0 = month_to_index(cfg.treatment.policy_month)
    pre, post = int(o.get("pre_months", 36)), int(o.get("post_months", 24))
    pm = person_month(run).rename({"earnings": "earnings_eur"})
    first = max(int(pm["month"].min()), t0 - pre)
    last = min(run.outcomes.last_month, t0 + post - 1)
    persons = run.frames["persons"]
    if area not in set(persons["employment_area"].unique().to_list()):
        from impact.errors import DesignError

        raise DesignError(f"treatment.area = {area!r} is not an employment area of the persons register")
    reforms = pl.DataFrame({"area": [area], "start_month": [t0]}, schema={"area": pl.String, "start_month": pl.Int64})
    panel = area_month_panel(pm, persons, reforms, months=(first, last))
    small = panel.filter(pl.col("persons") < cfg.report.min_cell)["area"].unique().to_list()
    excluded = set(cfg.comparison.exclude_areas or ()) | set(small)
    donors = list(cfg.comparison.donors) if cfg.comparison.donors else sorted(
        a for a in panel["area"].unique().to_list() if a != area and a not in excluded)
    peers_df = None
    try:
        has_peers = callable(getattr(synth, "peer_groups", None))
    except ImportError:  # the synth module announces peer_groups lazily; absent in this version
        has_peers = False
    if cfg.estimator("peer_groups") and has_peers:
        peers_df = _peer_groups(run, synth, panel, area, t0, donors)
        if cfg.comparison.donors_from_peers and peers_df is not None:
            donors = [d for d in peers_df["peer"].tolist() if d in donors] or donors
    data = panel.filter(pl.col("area").is_in([area, *donors])).select("area", "month", "employment_rate", "persons")
    res = synth.synthetic_control(data, unit="area", time="month", outcome="employment_rate", treated=area,
                                  treatment_time=t0, donors=donors)
    paths = res.paths.copy()
    paths["month_since"] = paths["time"] - t0
    att = res.att()
    sub = ReportSection(key="synth", title=("Synthetic control" if lang == "en" else "Synteettinen kontrolli"))
    placebo = None
    if o.get("placebo", True):
        placebo = res.placebo()
    est = res.estimates[res.estimates["estimand"] == "ATT"].copy()
    est["horizon"] = np.nan  # the whole post period (see the gap rows for months since the reform)
    if placebo is not None:
        # in-space placebo ATTs scaled by each area's noise level (calibrated in docs/validation.md;
        # the plain placebo spread is too wide when donors are smaller and noisier than the area)
        iv = res.att_interval("scaled_placebo")
        est["std_error"], est["ci_lower"], est["ci_upper"] = iv["std_error"], iv["ci_lower"], iv["ci_upper"]
        est["p_value"] = placebo.p_value  # the permutation (rank) test of the in-space placebos
        est["interval"] = "noise-scaled placebo: ATT +/- t(J-1) x SE of placebo ATTs rescaled to the area's noise"
    est["n_treated"] = float(panel.filter(pl.col("area") == area)["persons"].max())
    est["n_controls"] = float(len(donors))
    run.add_estimates(est, "synthetic_control", "synthetic_control")
    gaps = paths[paths["post"]][["time", "month_since", "gap"]].copy()
    gaps = gaps.assign(outcome="employment_rate", estimand="gap treated - synthetic", horizon=gaps["month_since"],
                       estimate=gaps["gap"], std_error=np.nan, ci_lower=np.nan, ci_upper=np.nan, p_value=np.nan,
                       n_treated=est["n_treated"].iloc[0], n_controls=float(len(donors)))
    run.add_estimates(gaps.drop(columns=["time", "month_since", "gap"]), "synthetic_control_gaps", "synthetic_control")
    w = res.weights[res.weights > 1e-4].sort_values(ascending=False)
    wt = pd.DataFrame({"area": w.index.astype(str), "weight": w.to_numpy()})
    run.publish("synth_weights", wt)
    run.publish("synth_paths", paths[["time", "month_since", "treated", "synthetic", "gap"]] if "treated" in paths
                else paths)
    pre_sd = float(paths.loc[~paths["post"], "treated"].std()) if "treated" in paths else float("nan")
    sub.paragraphs.append(
        f"Treated area {area}, reform from {cfg.treatment.policy_month}; {len(donors)} donor areas "
        f"({len(excluded)} excluded: other reformed areas or areas under {cfg.report.min_cell} persons); months "
        f"{first // 12}-{first % 12 + 1:02d} to {last // 12}-{last % 12 + 1:02d}. Pre-period RMSPE "
        f"{100 * res.pre_rmspe:.2f} pp; average gap after the reform {100 * att:+.2f} pp"
        + (f"; placebo p-value {placebo.p_value:.3f} (rank {placebo.rank} of {placebo.n_units})." if placebo else ".")
        if lang == "en" else
        f"Uudistusalue {area}; {len(donors)} vertailualuetta; keskimääräinen ero {100 * att:+.2f} %-yks."
        + (f" Placebo-p-arvo {placebo.p_value:.3f}." if placebo else ""))
    sub.tables.append(frame_to_table(wt.head(10), [("area", "Donor area" if lang == "en" else "Vertailualue", "text"),
                                                   ("weight", "Weight" if lang == "en" else "Paino", "num3")],
                                     "Donor weights (largest)" if lang == "en" else "Vertailualueiden painot", lang))
    run.extra["synth"] = {"att": att, "pre_rmspe": res.pre_rmspe, "area": area, "t0": t0, "first": first, "last": last}
    if pre_sd == pre_sd and res.pre_rmspe > 0.5 * pre_sd:
        wmsg = (f"Synthetic control: poor pre-reform fit (RMSPE {100 * res.pre_rmspe:.2f} pp is more than half the "
                f"month-to-month variation of {area}'s rate); the synthetic area may not show what would have "
                "happened without the reform." if lang == "en" else
                f"Synteettinen kontrolli: heikko sopivuus ennen uudistusta (RMSPE {100 * res.pre_rmspe:.2f} %-yks.).")
        sub.warnings.append(wmsg)
        run.warnings.append(wmsg)
    if placebo is not None and placebo.p_value > 0.1:
        wmsg = (f"Synthetic control: the effect is not distinguishable from placebo effects (p = {placebo.p_value:.2f})."
                if lang == "en" else f"Synteettinen kontrolli: vaikutus ei erotu placeboista (p = {placebo.p_value:.2f}).")
        sub.warnings.append(wmsg)
        run.warnings.append(wmsg)
    xl = "Months since the reform" if lang == "en" else "Kuukautta uudistuksesta"
    fig = plots.multi_lines(paths, "month_since", ["treated", "synthetic"], [area, "synthetic " + area if lang == "en"
                                                                            else "synteettinen " + area],
                            vline=-0.5, xlabel=xl, ylabel="Employment rate" if lang == "en" else "Työllisyysaste",
                            percent=True)
    sub.figures.append(save_figure(fig, run.figures_dir, "synth_paths",
                                   f"Employment rate of {area} and of its synthetic control." if lang == "en" else
                                   f"{area}: työllisyysaste ja synteettinen kontrolli."))
    run.extra["synth_paths"] = paths
    if placebo is not None:
        g = placebo.gaps.copy()
        g["month_since"] = g["time"] - t0
        fig = plots.highlight_lines(g, "month_since", "gap", "unit", area, vline=-0.5, hline=0.0, percent=True,
                                    xlabel=xl, ylabel="Gap (treated - synthetic)" if lang == "en" else "Ero",
                                    highlight_label=area, others_label="placebo areas" if lang == "en" else "placebot")
        sub.figures.append(save_figure(fig, run.figures_dir, "synth_placebo_gaps",
                                       f"Gap between {area} and its synthetic control (red) and the placebo gaps of the "
                                       "donor areas (grey)." if lang == "en" else "Ero ja placebo-erot."))
        run.publish("synth_placebo_ratios", placebo.ratios.rename(columns={"unit": "area"}))
    else:
        fig = plots.band_lines(paths.assign(lo=paths["gap"], hi=paths["gap"]), "month_since", "gap", "lo", "hi",
                               vline=-0.5, hline=0.0, percent=True, xlabel=xl, ylabel="Gap")
        sub.figures.append(save_figure(fig, run.figures_dir, "synth_gap", f"Gap between {area} and its synthetic control."))
    loo = None
    if o.get("leave_one_out", False) and (res.weights > 0).sum() >= 1 and len(donors) >= 3:
        loo = res.leave_one_out()
        sm = loo.summary
        sub.paragraphs.append(
            ("Leave-one-out: dropping each donor with positive weight in turn gives average gaps from "
             f"{100 * sm['att'].min():+.2f} to {100 * sm['att'].max():+.2f} pp.") if lang == "en" else
            f"Yksi kerrallaan pois: ero {100 * sm['att'].min():+.2f}...{100 * sm['att'].max():+.2f} %-yks.")
        run.publish("synth_leave_one_out", sm.rename(columns={"dropped": "area_dropped"}))
    _keep_for_robustness(run, "synthetic_control", f"Synthetic control, {area}" if lang == "en" else
                         f"Synteettinen kontrolli, {area}", "synth", res=res, placebo=placebo,
                         loo=loo,
                         in_time=o.get("in_time_placebo", True), pre=t0 - first)
    if peers_df is not None:
        _peer_section(run, sub, panel, peers_df, area, t0)
    elif cfg.estimator("peer_groups") and not has_peers:
        sub.paragraphs.append("Peer groups: not available in this version of impact.estimators.synth (no peer_groups "
                              "function)." if lang == "en" else "Vertaisryhmät eivät ole käytettävissä.")
    sec = ReportSection(key="effects", title=t("effects", lang), subsections=[sub])
    run.sections.append(sec)
    run.extra["synth_truth_fn"] = lambda: _synth_truth(run)
    return f"synthetic control on {len(donors)} donors"


def _synth_truth(run) -> None:
    """True effect of the reform on the treated area's employment rate, by month (area_month truth)."""
    p = run.registers_dir / "truth" / "area_month.parquet"
    sy = run.extra.get("synth")
    if not p.exists() or sy is None:
        return
    tr = pl.read_parquet(p).filter((pl.col("employment_area") == sy["area"]) & (pl.col("month") >= sy["t0"]) &
                                   (pl.col("month") <= sy["last"]))
    tmap = {("employment_rate", int(m) - sy["t0"]): float(e) for m, e in zip(tr["month"], tr["effect_rate"])}
    mean_truth = float(tr["effect_rate"].mean()) if tr.height else np.nan
    for df in run.estimates:
        if len(df) and (df["analysis"] == "synthetic_control_gaps").any():
            df["truth"] = [tmap.get((o, int(h)), np.nan) if a == "synthetic_control_gaps" else np.nan
                           for a, o, h in zip(df["analysis"], df["outcome"], df["horizon"].fillna(-999))]
        if len(df) and (df["analysis"] == "synthetic_control").any():
            df["truth"] = np.where((df["analysis"] == "synthetic_control") & (df["estimand"] == "ATT"), mean_truth, np.nan)
    run.extra["synth"]["truth_att"] = mean_truth


def _area_covariates(run, panel: pl.DataFrame, t0: int) -> pl.DataFrame:
    """Structural covariates of each area before the reform (the TE2024 financing criteria and more)."""
    persons = run.frames["persons"]
    spells = run.frames["jobseeking_spells"]
    pre = panel.filter(pl.col("month") < t0)
    emp = pre.group_by("area").agg(pl.col("employment_rate").mean().alias("employment_rate_pre"),
                                   pl.col("persons").max().alias("persons"))
    comp = persons.group_by("employment_area").agg(
        (pl.col("language") == "other").mean().alias("foreign_language_share"),
        (pl.col("education") == "tertiary").mean().alias("tertiary_share"),
        (pl.col("education") == "basic").mean().alias("basic_share"),
    ).rename({"employment_area": "area"})
    sp = spells.join(persons.select("person_id", "employment_area"), on="person_id").with_columns(
        ((pl.col("end_date").fill_null(pl.date(2100, 1, 1)) - pl.col("start_date")).dt.total_days() > 365).alias("ltu"))
    ltu = sp.group_by("employment_area").agg(pl.col("ltu").mean().alias("long_term_share")).rename(
        {"employment_area": "area"})
    return emp.join(comp, on="area").join(ltu, on="area", how="left").with_columns(
        pl.col("persons").cast(pl.Float64).log().alias("log_persons")).sort("area")


def _peer_groups(run, synth, panel: pl.DataFrame, area: str, t0: int, donors: list[str]) -> pd.DataFrame | None:
    """The treated area's statistical peers, drawn from the donor areas (reformed areas are not peers)."""
    covs = ["log_persons", "employment_rate_pre", "foreign_language_share", "tertiary_share", "basic_share",
            "long_term_share"]
    data = _area_covariates(run, panel, t0).filter(pl.col("area").is_in([area, *donors]))
    data = data.with_columns((pl.col("area") == area).cast(pl.Int8).alias("not_a_peer"))
    k = int(run.cfg.estimator("peer_groups").options.get("k", 8))
    method = run.cfg.estimator("peer_groups").options.get("metric", "mahalanobis")
    pg = synth.peer_groups(data.to_pandas(), unit="area", covariates=covs, k=k, method=method, treatment="not_a_peer")
    mine = pg.peers[pg.peers["unit"] == area].copy()
    run.extra["area_covariates"] = data
    run.publish("peer_group", mine.rename(columns={"unit": "area"}))
    return mine


def _peer_section(run, sub, panel: pl.DataFrame, peers: pd.DataFrame, area: str, t0: int) -> None:
    from impact import plots

    lang = run.lang
    ids = peers["peer"].astype(str).tolist()
    p = panel.filter(pl.col("area").is_in([area, *ids])).to_pandas()
    med = p[p["area"].isin(ids)].groupby("month")["employment_rate"].median().rename("peer_median")
    own = p[p["area"] == area].set_index("month")["employment_rate"].rename("treated")
    d = pd.concat([own, med], axis=1).reset_index()
    d["month_since"] = d["month"] - t0
    d["gap"] = d["treated"] - d["peer_median"]
    run.publish("peer_comparison", d)
    before = d.loc[d["month_since"] < 0, "gap"].mean()
    after = d.loc[d["month_since"] >= 0, "gap"].mean()
    sub.paragraphs.append(
        (f"Peer group of {area} ({len(ids)} areas nearest on size, pre-reform employment rate, foreign-language, "
         f"education and long-term unemployment shares): {', '.join(ids)}. Gap to the peer median: "
         f"{100 * before:+.2f} pp before the reform and {100 * after:+.2f} pp after it; the change, "
         f"{100 * (after - before):+.2f} pp, is a simple difference-in-differences against the peers.")
        if lang == "en" else
        f"Vertaisryhmä: {', '.join(ids)}; ero mediaaniin {100 * before:+.2f} → {100 * after:+.2f} %-yks.")
    run.extra["peer_did"] = after - before
    fig = plots.multi_lines(d, "month_since", ["treated", "peer_median"], [area, "peer median" if lang == "en" else
                                                                           "vertaisten mediaani"],
                            vline=-0.5, percent=True, xlabel="Months since the reform" if lang == "en" else
                            "Kuukautta uudistuksesta", ylabel="Employment rate" if lang == "en" else "Työllisyysaste")
    sub.figures.append(save_figure(fig, run.figures_dir, "peer_groups",
                                   f"{area} against the median of its statistical peer areas." if lang == "en" else
                                   f"{area} ja vertaisalueiden mediaani."))


# ---------------------------------------------------------------------------------------
# How robust is this? Refutation checks of every effect analysis (self-contained)
# ---------------------------------------------------------------------------------------

#: Rows of a design table the dowhy refuters run on (all treated rows up to half of it, the
#: rest a reproducible random sample of the comparison rows): dowhy refits the estimate
#: dozens of times, so the weighting estimate it refutes is re-estimated on this sample.
ROBUSTNESS_MAX_ROWS = 30_000
ROBUSTNESS_SIMULATIONS = 10


def _keep_for_robustness(run, analysis: str, title: str, kind: str, **objs: Any) -> None:
    run.extra.setdefault("robustness_inputs", []).append(dict(analysis=analysis, title=title, kind=kind, **objs))


def refutation_sample(data: pl.DataFrame, outcome: str, covariates: list[str], max_rows: int = ROBUSTNESS_MAX_ROWS,
                      seed: int = 0) -> tuple[pl.DataFrame, list[str]]:
    """The design rows and numeric confounders for the dowhy refutation of a risk-set design.

    Confounders: the design's covariates plus the exact-matching variables made numeric
    (elapsed months ``u``, the treated's service length, the calendar year as indicators and
    the employment area as indicators for areas with at least 30 treated and 30 comparison
    rows; smaller areas share the reference). Constant columns are dropped. Returns the
    sample (``treated`` 0/1, the outcome, ``person_id``, the confounders) and the confounder
    names.
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
    year = pl.col("m") // 12  # the risk month (calendar time of the comparison)
    df = df.with_columns(*extra, _year=year)
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


def matching_robustness(run, item: dict) -> tuple[pd.DataFrame, dict]:
    """dowhy refuters on the weighting ATT of a risk-set design, at the longest horizon."""
    from impact.estimators.refute import refute_ipw

    design, est = item["design"], item["est"]
    emp = [o for o in design.outcomes if o.startswith("employed_h")]
    outcome = max(emp, key=lambda o: design.horizons[o])
    h = int(design.horizons[outcome])
    sample, covs = refutation_sample(design.data, outcome, list(design.covariates))
    r = refute_ipw(sample, "treated", outcome, covs, n_simulations=ROBUSTNESS_SIMULATIONS, cluster="person_id")
    m = est[est["outcome"] == outcome].iloc[0]
    tab = r.table.copy()
    info = {"horizon": h, "outcome": outcome, "matching_estimate": float(m["estimate"]),
            "matching_ci": (float(m["ci_lower"]), float(m["ci_upper"])), "ipw_estimate": r.estimate,
            "ipw_se": r.std_error, "reproduced": r.reproduced, "rows": sample.height,
            "n_treated": int(sample["treated"].sum()), "sensitivity": r.sensitivity, "notes": r.notes}
    return tab, info


def did_robustness(run, item: dict) -> tuple[pd.DataFrame, dict]:
    """Pre-trend test and (when the DiD placebo module exists) the placebo in time."""
    from impact.estimators.refute import did_checks, did_placebo_in_time

    res, ov = item["res"], item["overall"]
    rows = [did_checks(res, min_e=item.get("pretest_min_e"))]
    pit = None
    keys = item.get("keys", dict(unit="spell_id", time="t", group="cohort", outcome="employed"))
    try:
        pit = did_placebo_in_time(item["panel"], **keys, shift=3, **item.get("opts", {}))
    except Exception as exc:  # noqa: BLE001 - a refuter that cannot run is reported, not fatal
        item["placebo_error"] = f"{type(exc).__name__}: {exc}"
    if pit is not None:
        rows.append(pit)
    tab = pd.concat(rows, ignore_index=True)
    tab["estimate"] = float(ov.estimate)
    return tab, {"placebo_in_time": pit is not None, "placebo_error": item.get("placebo_error"),
                 "estimate": float(ov.estimate)}


def synth_robustness(run, item: dict) -> tuple[pd.DataFrame, dict]:
    """Synthetic-control placebo tests: in space, in time (12 months earlier), leave one out."""
    from impact.estimators.refute import synth_checks

    res = item["res"]
    in_time = None
    if item.get("in_time") and item.get("pre", 0) >= 24:
        times = res.paths["time"].to_numpy()
        tp = res.treatment_time - 12
        if (times == tp).any():
            try:
                in_time = res.in_time_placebo(tp)
            except Exception as exc:  # noqa: BLE001 - reported in the section
                item["in_time_error"] = f"{type(exc).__name__}: {exc}"
    from impact.months import month_label

    tab = synth_checks(res, item.get("placebo"), in_time, item.get("loo"), time_label=lambda m: month_label(int(m)))
    return tab, {"estimate": float(res.att()), "in_time_error": item.get("in_time_error")}


ROBUSTNESS = {"matching": matching_robustness, "did": did_robustness, "synth": synth_robustness}


def robustness_analysis(run) -> str:
    """Run the refutation checks of every effect analysis of the run; results in
    ``run.extra["robustness"]`` (list of dicts with the table) and the published table
    ``robustness``. Analyses with fewer treated units than the minimum cell are skipped
    (their refits would describe fewer persons than disclosure control allows)."""
    out, frames = [], []
    for item in run.extra.get("robustness_inputs", []):  # a handful of analyses
        if item["kind"] == "matching" and int(item["design"].info.get("treated", 0)) < run.cfg.report.min_cell:
            continue
        try:
            tab, info = ROBUSTNESS[item["kind"]](run, item)
        except Exception as exc:  # noqa: BLE001 - one failing refuter must not sink the report
            out.append(dict(analysis=item["analysis"], title=item["title"], kind=item["kind"], table=None,
                            info={"error": f"{type(exc).__name__}: {exc}"}))
            continue
        out.append(dict(analysis=item["analysis"], title=item["title"], kind=item["kind"], table=tab, info=info))
        frames.append(tab.assign(analysis=item["analysis"], std_error=info.get("ipw_se", np.nan)))
    run.extra["robustness"] = out
    if frames:
        pub = pd.concat(frames, ignore_index=True)[["analysis", "check", "estimate", "std_error", "refuted", "passed",
                                                    "expectation"]]
        # dowhy orders the common causes through a set (PYTHONHASHSEED): round off last-digit noise
        run.publish("robustness", pub.round({"estimate": 8, "std_error": 8, "refuted": 8}))
    return f"robustness: {sum(len(f) for f in frames)} checks"


def _with_robustness(fn: Callable[[Any], str]) -> Callable[[Any], str]:
    def wrapped(run) -> str:
        msg = fn(run)
        return f"{msg}; {robustness_analysis(run)}"
    wrapped.__doc__ = fn.__doc__
    wrapped.__name__ = fn.__name__
    return wrapped


ANALYSES: dict[str, Callable[[Any], str]] = {
    "dynamic": _with_robustness(dynamic_analysis),
    "sector_contrast": _with_robustness(sector_analysis),
    "did_cohorts": _with_robustness(dynamic_analysis),
    "synthetic_control": _with_robustness(synth_analysis),
}


def attach_truth(run) -> str:
    """Attach the generator's true effects to the estimates (synthetic registers only).

    For a matching analysis the truth is the mean of ``employed_1 - employed_0`` ('not now'
    counterfactual) over exactly the treated rows of its design (same person and service
    start month), h months after the service's end month.
    """
    truth_dir = run.registers_dir / "truth"
    done = []
    keys = run.extra.get("treated_keys", {})
    if keys and (truth_dir / "service_effects.parquet").exists():
        from impact.simulate.truth import load_effects

        st = run.cfg.treatment.service_type
        eff = load_effects(truth_dir).filter(pl.col("service_type") == st).select(
            "person_id", pl.col("start_month").cast(pl.Int32), "h", "employed_1", "employed_0", "earnings_1",
            "earnings_0").collect()
        for analysis, tk in keys.items():
            tr = eff.join(tk, on=["person_id", "start_month"], how="semi").group_by("h").agg(
                (pl.col("employed_1").cast(pl.Float64) - pl.col("employed_0").cast(pl.Float64)).mean().alias("emp"),
                (pl.col("earnings_1") - pl.col("earnings_0")).mean().alias("earn"), pl.len().alias("n_truth"))
            tmap = {(f"employed_h{r['h']}", r["h"]): r["emp"] for r in tr.iter_rows(named=True)}
            tmap.update({(f"earnings_h{r['h']}", r["h"]): r["earn"] for r in tr.iter_rows(named=True)})
            _set_truth(run, analysis, tmap)
            done.append(analysis)
    synth_truth = run.extra.get("synth_truth_fn")
    if synth_truth is not None:
        synth_truth()
        done.append("synthetic_control")
    return ", ".join(done) or "nothing to compare"


def _set_truth(run, analysis: str, tmap: dict) -> None:
    for df in run.estimates:
        if len(df) and (df["analysis"] == analysis).any():
            df["truth"] = [tmap.get((o, h), np.nan) if a == analysis else (df["truth"].iloc[i] if "truth" in df else np.nan)
                           for i, (a, o, h) in enumerate(zip(df["analysis"], df["outcome"], df["horizon"]))]
    for key, sub, est in run.extra.get("effect_sections", []):
        if key == analysis:
            est["truth"] = [tmap.get((o, h), np.nan) for o, h in zip(est["outcome"], est["horizon"])]


def finish_effect_sections(run) -> None:
    """Effects table and figure at the top of each effect subsection (after the truth is attached)."""
    from impact import plots

    lang = run.lang
    for key, sub, est in run.extra.get("effect_sections", []):
        if getattr(sub, "extra_done", False):
            continue
        emp = est[est["outcome"].astype(str).str.startswith("employed_h")].copy()
        has_truth = "truth" in emp and emp["truth"].notna().any()
        tables = [effects_table(emp, lang, ("Effect on open-market employment (percentage points)" if lang == "en"
                                            else "Vaikutus avoimille työmarkkinoille sijoittumiseen (%-yksikköä)"),
                                truth=has_truth)]
        earn = est[est["outcome"].astype(str).str.startswith("earnings_h")].copy()
        if len(earn):
            cols: list[tuple] = [("label", t("outcome", lang), "text"), ("horizon", t("horizon", lang), "int"),
                                 ("estimate", t("estimate", lang), "num0", ("ci_lower", "ci_upper")),
                                 ("std_error", t("std_error", lang), "num0"), ("n_treated", t("n_treated", lang), "int")]
            if "truth" in earn and earn["truth"].notna().any():
                cols.insert(3, ("truth", t("truth", lang), "num0"))
            tables.append(frame_to_table(earn, cols, "Effect on monthly earnings (EUR)" if lang == "en" else
                                         "Vaikutus kuukausiansioihin (EUR)", lang))
        sub.tables = tables + sub.tables
        d = emp.assign(h=emp["horizon"].map(lambda h: f"{int(h)} m"))
        fig = plots.estimate_bars(d, "h", truth="truth" if has_truth else None, percent=True,
                                  xlabel=("Months after the service ended" if lang == "en" else
                                          "Kuukautta palvelun päättymisestä"),
                                  ylabel=("Effect on employment" if lang == "en" else "Vaikutus työllisyyteen"))
        sub.figures.insert(0, save_figure(fig, run.figures_dir, f"{key}_effects",
                                          ("Estimated effect with 95% confidence interval" + (
                                              "; x = true effect in the simulation" if has_truth else "") + ".")
                                          if lang == "en" else "Estimoitu vaikutus ja 95 %:n luottamusväli."))
        setattr(sub, "extra_done", True)
