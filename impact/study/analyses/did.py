"""Staggered difference-in-differences on the study's population, by ``estimators.did.design``.

* ``risk_set`` (default): for each entry month g, first-time entrants against comparison
  persons job seeking at the same time who did not start then ('join now vs not now';
  :func:`impact.designs.did_panels.risk_set_panel`), estimated with
  ``att_gt(..., comparison_set="stack")``;
* ``spell_time``: cohorts by the month of the job-seeking spell in which the service starts
  (:func:`impact.designs.spell_time.spell_time_panel`).

Both keep only the units the population rules allow in their comparison month (the entry
month, the spell's start), the event window is ``outcomes.window_months``, the comparison is
``comparison.kind``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from impact import plots
from impact.designs.did_panels import risk_set_panel
from impact.designs.options import month_to_index
from impact.designs.population import FlowBuilder
from impact.designs.spell_time import risk_set_cohorts, spell_time_panel
from impact.errors import DesignError
from impact.months import month_label
from impact.report.render import ReportSection
from impact.report.wording import covariate_label, label, text
from impact.study.analyses import did_aggregate, honest, robustness
from impact.study.analyses.effects import estimates_publication, per_row_members, persons_frame
from impact.study.analyses.matching import population_services, treated_services
from impact.study.context import AnalysisResult, FigureSpec, Notice, StudyContext, TruthRequest

#: Covariates of the risk-set DiD: columns of impact.designs.did_panels.risk_set_panel plus the
#: interactions of :func:`history_by_start`; segment 00 and language fi are the references.
RISK_SET_COVARIATES = ("age_u25", "age_o50", "female", "educ_basic", "educ_tertiary", "lang_other", "log_elapsed",
                       "long_term", "emp_12m", "seg_01", "seg_02", "seg_03", "seg_04", "hist_el1", "hist_el2",
                       "hist_el3", "hist_el4_6", "hist_el7_12")
#: Bands of months since the job-seeking episode started (register spells chained by services, as
#: the matching design counts them) within which the comparison persons are sampled (exact months
#: 1-12, then 13-18, 19-24, 25-36, 37+). Counted from the register spell instead, an entrant whose
#: spell restarted after an earlier service was compared with persons fresh into job seeking, and
#: the DiD ran high after month 13 (across-population Monte Carlo, docs/validation.md).
RISK_SET_ELAPSED_BANDS = (*range(1, 14), 19, 25, 37)


@dataclass(frozen=True)
class DidFacts:
    """Person-free facts of the DiD for its report section."""

    design: str
    service_type: str
    pre: int
    post: int
    cohorts: tuple[int, int] | None = None
    left_out: tuple[int, ...] = ()
    covariates: tuple[str, ...] = ()
    not_adjusted: tuple[str, ...] = ()
    controls_per_treated: int = 0
    max_u: int = 0
    pretest: dict | None = None
    twfe_note: str | None = None
    adjust: tuple[str, ...] = ()  # [design] covariates, by name
    honest: Any = None  # honest.HonestFacts: the honest bounds computed


def history_by_start(d: pl.DataFrame) -> pl.DataFrame:
    """Prior employment (``emp_12m``) interacted with 1, 2, 3, 4-6 and 7-12 months since the spell started.

    Employment before entry steps down in the month the job-seeking spell started, by as much
    as the person was employed before it, and entrants have less prior employment than the
    job seekers they are compared with. So in each pre-entry month only the persons whose
    spell started then carry the prior-employment difference; a single prior-employment term
    spreads it over all months and leaves pre-trends (and a failing placebo in time).
    """
    e, h = pl.col("elapsed_months"), pl.col("emp_12m")
    return d.with_columns(hist_el1=h * (e == 1), hist_el2=h * (e == 2), hist_el3=h * (e == 3),
                          hist_el4_6=h * e.is_between(4, 6), hist_el7_12=h * e.is_between(7, 12))


def _segment(units: pl.DataFrame) -> pl.Expr:
    e = pl.lit("00")
    for k in range(5, 0, -1):
        if f"seg_{k:02d}" in units.columns:
            e = pl.when(pl.col(f"seg_{k:02d}") == 1).then(pl.lit(f"{k:02d}")).otherwise(e)
    return e


def _pretest(res: Any, min_e: float | None, lang: str) -> tuple[dict | None, list[Notice]]:
    try:
        pt = res.pretest() if min_e is None else res.pretest(min_e=min_e)
    except Exception as e:  # noqa: BLE001 - a design without pre-periods simply has no test
        return {"error": str(e)}, []
    info = {"statistic": float(pt.statistic), "df": int(pt.df), "p_value": float(pt.p_value), "min_e": min_e}
    notes = []
    if pt.p_value < 0.05:
        notes.append(Notice(text("pretrend_fail", lang, p=f"{pt.p_value:.3f}")))
    elif pt.p_value < 0.10:
        notes.append(Notice(text("pretrend_borderline", lang, p=f"{pt.p_value:.3f}"), level="borderline"))
    return info, notes


def run(ctx: StudyContext, done: tuple = ()) -> AnalysisResult:
    """The DiD of the study's DiD design."""
    if ctx.cfg.estimator("did").design == "spell_time":
        return run_spell_time(ctx)
    return run_risk_set(ctx)


def run_risk_set(ctx: StudyContext) -> AnalysisResult:
    """Stacked 'join now vs not now' DiD around the entry into the service.

    Estimand: ATT(e), the average effect on the entrants of joining in g rather than not then
    ('not now'), e months after the entry month (the months in the service, the lock-in,
    included), and their mean over e = 0..post. Entry months with fewer than ``min_cell``
    entrants or comparison persons are left out (disclosure control).
    """
    from impact.estimators import did

    cfg, lang = ctx.cfg, ctx.lang
    o = cfg.estimator("did")
    st = cfg.treatment.service_type
    pre, post = -cfg.outcomes.window_months[0], cfg.outcomes.window_months[1]
    t = cfg.treatment
    g0, g1 = risk_set_cohorts(ctx.first_paid_month, ctx.last_month - 1, pre, post, o.cohorts,
                              cfg.population.month_range,
                              month_to_index(t.cohorts_from) if t.cohorts_from else None,
                              month_to_index(t.cohorts_to) if t.cohorts_to else None)
    k = o.controls_per_treated
    with ctx.step("did: risk-set panel"):
        d = risk_set_panel(ctx.person_month, ctx.services, ctx.spells, ctx.persons, service_type=st, cohorts=(g0, g1),
                           pre=pre, post=post, controls_per_treated=k, seed=0, earnings_col="earnings",
                           elapsed_bands=RISK_SET_ELAPSED_BANDS, elapsed="episode", before_month=ctx.last_month)
    d = history_by_start(d)
    units = d.select("unit", "person_id", "stack", "cohort", "service_id", "elapsed_months",
                     *[c for c in d.columns if c.startswith("seg_")]).unique("unit")
    flow = FlowBuilder("did", unit="_u")
    entrants = lambda u: u.filter(pl.col("cohort") > 0).with_columns(_u=pl.col("unit"))  # noqa: E731
    pop_sv = population_services(ctx, treated_services(ctx))
    flow.add("flow_treated_services", pop_sv.with_columns(_u=pl.col("service_id")))
    flow.add("flow_did_entrants", entrants(units))
    keep = ctx.population.restrict(units.with_columns(_seg=_segment(units)), "stack", segment="_seg")
    keep = keep.filter(pl.col("elapsed_months") <= t.max_elapsed_months)
    if t.subtype is not None or t.employer_sectors:
        ok = treated_services(ctx).select("service_id")
        keep = keep.filter((pl.col("cohort") == 0) | pl.col("service_id").is_in(ok["service_id"].implode()))
    flow.add("flow_population_rows", entrants(keep))
    mc = ctx.rules.min_cell
    sizes = keep.group_by("stack").agg(n_t=pl.col("person_id").filter(pl.col("cohort") > 0).n_unique(),
                                       n_c=pl.col("person_id").filter(pl.col("cohort") == 0).n_unique())
    small = sorted(sizes.filter((pl.col("n_t") < mc) | (pl.col("n_c") < mc))["stack"].to_list())
    keep = keep.filter(~pl.col("stack").is_in(small))
    flow.add("flow_did_cohorts", entrants(keep), min_cell=mc)
    if keep.height == 0:
        raise DesignError(f"no entry month {month_label(g0)}..{month_label(g1)} has {mc} or more entrants into {st} "
                          f"and {mc} comparison persons in the study population (disclosure.min_cell)")
    d = d.join(keep.select("unit"), on="unit", how="semi")
    spread = d.filter(pl.col("cohort") == 0).unique("unit").group_by("stack").agg(
        [pl.col(c).cast(pl.Float64).std().fill_null(0.0).alias(c) for c in RISK_SET_COVARIATES])
    wanted = cfg.design.did_columns(list(RISK_SET_COVARIATES))
    covs = [c for c in wanted if spread[c].min() > 0]
    not_adjusted = [c for c in wanted if c not in covs]
    cl = o.cluster_column
    if cl == "employment_area":
        d = d.join(ctx.persons.select("person_id", "employment_area"), on="person_id", how="left")
    opts = dict(comparison_set="stack", cluster=cl, covariates=covs, method=o.method)
    keys = dict(unit="unit", time="month", group="cohort", outcome="employed")
    ctx.log(f"  did: {keep.filter(pl.col('cohort') > 0).height:,} entrants, {keep.filter(pl.col('cohort') == 0).height:,} "
            "comparison units")
    with ctx.step(f"did: group-time effects ({o.method})"):
        # synthetic registers: also the standard errors of the entrants' own average effect, which the truth
        # check uses (the truth is that average; impact.study.truth.truth_notices)
        res = did.att_gt(d, **keys, anticipation=o.anticipation, base_period=o.base_period, **opts,
                         sample_se=ctx.truth_dir is not None)
    with ctx.step("did: event study" + (" and multiplier bootstrap (999 draws)" if o.bootstrap else "")):
        agg = res.aggregate("dynamic", min_e=-pre, max_e=post, bootstrap=o.bootstrap, n_boot=999, seed=0)
    # the sample-ATT influence rows serve the event study's truth check only (just aggregated): the
    # aggregations, placebo and honest refits below need the room (about 1 GiB each at a million persons)
    res.psi_sample = res.psi_counterfactual = None
    est_groups = set(res.att_gt["group"].astype(float).tolist())
    used = keep.filter(pl.col("stack").cast(pl.Float64).is_in(list(est_groups)))
    flow.add("flow_did_used", entrants(used))
    n_treated, n_controls = int((used["cohort"] > 0).sum()), int((used["cohort"] == 0).sum())
    es = agg.estimates.drop(columns=[c for c in ("horizon",) if c in agg.estimates]).rename(
        columns={"event_time": "horizon"})
    tidy = es.assign(outcome="employed", estimand="event-study ATT(e): joining now vs not yet, months since entry",
                     n_treated=n_treated, n_controls=n_controls)
    tidy.insert(0, "estimator", "callaway_santanna (stacked risk sets)")
    tidy.insert(0, "analysis", "did_event_study")
    ov = agg.overall
    overall = pd.DataFrame([{"analysis": "did_overall", "estimator": "callaway_santanna (stacked risk sets)",
                             "outcome": "employed", "estimand": f"average ATT(e) over e = 0..{post} months since entry",
                             "horizon": np.nan, **ov.to_dict(), "n_treated": n_treated, "n_controls": n_controls,
                             **({"std_error_sample": ov.std_error_sample} if "std_error_sample" in tidy else {})}])
    frames = [tidy, overall]
    twfe_note = None
    if o.twfe:
        tw = res.compare_twfe(d, **keys, cluster=cl)
        row = tw.estimates.iloc[[0]].assign(analysis="did_twfe", estimator="two-way fixed effects", outcome="employed",
                                            horizon=np.nan, n_treated=n_treated, n_controls=n_controls)
        frames.append(row)
        twfe_note = tw.notes[-1] if tw.notes else None
    est = pd.concat(frames, ignore_index=True)
    persons = persons_frame({"treated": used.filter(pl.col("cohort") > 0), "controls": used.filter(pl.col("cohort") == 0)})
    est["horizon"] = est["horizon"].astype(float)
    members = per_row_members(est, ["analysis", "outcome", "horizon"], persons)
    pretest, notices = _pretest(res, -pre, lang)
    n_cohorts = keep.filter(pl.col("cohort") > 0)["stack"].n_unique()
    if len(est_groups) < n_cohorts:  # cohorts the estimator could not fit (notes in res.notes)
        notices.append(Notice(text("did_cohorts_not_estimated", lang, method=o.method, k=n_cohorts - len(est_groups),
                                   m=n_cohorts)))
    ev = tidy.sort_values("horizon")[[c for c in ("analysis", "outcome", "horizon", "estimate", "std_error", "ci_lower",
                                                  "ci_upper", "band_lower", "band_upper", "n_treated", "n_controls")
                                      if c in tidy]]
    tables = {"did_event_study": estimates_publication("did_event_study", ev, per_row_members(
        ev.assign(horizon=ev["horizon"].astype(float)), ["analysis", "outcome", "horizon"], persons))}
    with ctx.step("did: group and calendar aggregations"):
        at, afig = did_aggregate.run(res, used, post, lang)
    tables.update(at)
    with ctx.step("did: robustness checks"):
        rt, checks = robustness.did_checks(ctx, "did", res, ov, d, keys, opts, persons, min_e=-pre)
    tables.update(rt)
    del res  # its influence functions: the honest refit below makes its own
    hfig, hfacts = _honest(ctx, o, agg, lambda: did.att_gt(d, **keys, anticipation=o.anticipation,
                                                              base_period="universal", **opts
                                                              ).aggregate("dynamic", min_e=-pre, max_e=post),
                           post, persons, tables, notices, lang)
    hfig = [*afig, *hfig]
    facts = DidFacts(design="risk_set", service_type=st, pre=pre, post=post, cohorts=(g0, g1), left_out=tuple(small),
                     covariates=tuple(covs), not_adjusted=tuple(not_adjusted), controls_per_treated=k, pretest=pretest,
                     twfe_note=twfe_note, adjust=tuple(cfg.design.covariates), honest=hfacts)
    fig = FigureSpec("did_event_study", text("event_study_caption", lang), "did_event_study",
                     partial(_draw_event_study, lang=lang, xlabel=text("months_since_entry", lang)))
    ids = used.filter(pl.col("cohort") > 0).select("service_id").unique()
    return AnalysisResult(name="did", estimates=estimates_publication("estimates_did", est, members), tables=tables,
                          figures=(fig, *hfig), flows=(flow.build(),), notices=tuple(notices), facts=facts,
                          checks=(checks,),
                          truth=(TruthRequest("did", ids, ("did_event_study", "did_overall"), {"post": post}),))


def run_spell_time(ctx: StudyContext) -> AnalysisResult:
    """Staggered DiD in months since the start of the job-seeking spell (cohort = month the service starts).

    Units are job-seeking spells of the population (a deterministic subsample of at most
    ``sample_units``), followed from their start; cohort g = the month of the spell in which the
    service starts (up to ``treatment.max_elapsed_months``); the comparison is the spells not
    yet (or never, by ``comparison.kind``) treated at the same duration. Treated spells are
    unemployed until g by construction, so the pre-trend test usually rejects.
    """
    from impact.estimators import did
    from impact.months import pl_month_index

    cfg, lang = ctx.cfg, ctx.lang
    o = cfg.estimator("did")
    st = cfg.treatment.service_type
    before, after = cfg.outcomes.window_months
    max_u = cfg.treatment.max_elapsed_months
    spells = ctx.population.restrict(ctx.spells.with_columns(pl_month_index("start_date").alias("s0")), "s0",
                                     segment="segment")
    flow = FlowBuilder("did", unit="spell_id")
    flow.add("flow_spells", spells)
    panel = spell_time_panel(spells, treated_services(ctx), ctx.person_month, st, max_u, after, o.sample_units,
                             ctx.last_month)
    if panel.height == 0:
        raise DesignError(f"no job-seeking spells in which {st} starts within {max_u} months (with {after} months "
                          "of follow-up inside the data)")
    flow.add("flow_spell_panel", panel.unique("spell_id"))
    cl = o.cluster_column
    if cl == "employment_area":
        panel = panel.join(ctx.persons.select("person_id", "employment_area"), on="person_id", how="left")
    control = "never_treated" if cfg.comparison.kind == "never_treated" else "not_yet_treated"
    opts = dict(control_group=control, method=o.method, cluster=cl)
    keys = dict(unit="spell_id", time="t", group="cohort", outcome="employed")
    res = did.att_gt(panel, **keys, anticipation=o.anticipation, base_period=o.base_period, bootstrap=o.bootstrap,
                     seed=0, **opts)
    agg = res.aggregate("dynamic", min_e=before, max_e=after)
    es = agg.estimates.copy()
    if "event_time" in es:
        es = es.drop(columns=[c for c in ("horizon",) if c in es]).rename(columns={"event_time": "horizon"})
    tidy = es.assign(outcome="employed", estimand="event-study ATT(e), months since start")
    n_treated = panel.filter(pl.col("cohort") > 0)["spell_id"].n_unique()
    tidy["n_treated"] = tidy["n_treated"].fillna(n_treated) if "n_treated" in tidy else n_treated
    tidy["n_controls"] = np.nan  # the comparison at each month is the spells not yet treated then: no single count
    tidy.insert(0, "estimator", "callaway_santanna")
    tidy.insert(0, "analysis", "did_event_study")
    ov = agg.overall
    overall = pd.DataFrame([{"analysis": "did_overall", "estimator": "callaway_santanna", "outcome": "employed",
                             "estimand": "average ATT over event times 0..max", "horizon": np.nan, **ov.to_dict(),
                             "n_treated": n_treated, "n_controls": np.nan}])
    est = pd.concat([tidy, overall], ignore_index=True)
    est["horizon"] = est["horizon"].astype(float)
    u = panel.unique("spell_id")
    persons = persons_frame({"treated": u.filter(pl.col("cohort") > 0), "controls": u.filter(pl.col("cohort") == 0)})
    members = per_row_members(est, ["analysis", "outcome", "horizon"], persons)
    pretest, notices = _pretest(res, None, lang)
    ev = tidy.sort_values("horizon")[[c for c in ("analysis", "outcome", "horizon", "estimate", "std_error", "ci_lower",
                                                  "ci_upper", "n_treated") if c in tidy]]
    tables = {"did_event_study": estimates_publication("did_event_study", ev, per_row_members(
        ev.assign(horizon=ev["horizon"].astype(float)), ["analysis", "outcome", "horizon"], persons))}
    rt, checks = robustness.did_checks(ctx, "did", res, ov, panel, keys, opts, persons)
    tables.update(rt)
    del res  # its influence functions: the honest refit below makes its own
    hfig, hfacts = _honest(ctx, o, agg, lambda: did.att_gt(panel, **keys, anticipation=o.anticipation,
                                                              base_period="universal", bootstrap=False, seed=0, **opts
                                                              ).aggregate("dynamic", min_e=before, max_e=after),
                           after, persons, tables, notices, lang)
    facts = DidFacts(design="spell_time", service_type=st, pre=-before, post=after, max_u=max_u, pretest=pretest,
                     honest=hfacts)
    fig = FigureSpec("did_event_study", text("event_study_caption_spell", lang), "did_event_study",
                     partial(_draw_event_study, lang=lang, xlabel=text("months_since_start", lang)))
    return AnalysisResult(name="did", estimates=estimates_publication("estimates_did", est, members), tables=tables,
                          figures=(fig, *hfig), flows=(flow.build(),), notices=tuple(notices), facts=facts,
                          checks=(checks,))


def _honest(ctx: StudyContext, o: Any, agg: Any, refit: Any, post: int, persons: pl.DataFrame, tables: dict,
            notices: list, lang: str) -> tuple[list, Any]:
    """The honest bounds of ``estimators.did.honest`` (none: nothing), their tables added to ``tables``."""
    if not o.honest:
        return [], None
    with ctx.step(f"did: honest bounds ({', '.join(o.honest)})"):
        ht, hfig, hfacts, hnotes = honest.run(agg, o.base_period, refit, o.honest, post, persons, lang)
    tables.update(ht)
    notices += hnotes
    return hfig, hfacts


def _draw_event_study(df: pd.DataFrame, lang: str, xlabel: str):
    d = df.dropna(subset=["estimate"]).sort_values("horizon")
    return plots.event_study_plot(d, x="horizon", truth="truth" if "truth" in d and d["truth"].notna().any() else None,
                                  xlabel=xlabel, ylabel=text("effect_on_employment", lang), percent=True)


# ---------------------------------------------------------------------------------------
# Report section
# ---------------------------------------------------------------------------------------


def write(res, page) -> None:
    from impact.study.analyses.matching import effect_tables

    f: DidFacts = res.facts
    lang = page.lang
    sub = ReportSection(key="did", title=text(f"did_title_{f.design}", lang))
    e = res.estimates.frame
    ov = e[e["analysis"] == "did_overall"]
    o = ov.iloc[0] if len(ov) else None
    val = lambda c: page.fmt("pp", o[c]) if o is not None else page.fmt("pp", None)  # noqa: E731
    if f.design == "risk_set":
        left = text("did_left_out", lang, min_cell=page.rules.min_cell,
                    months=", ".join(month_label(int(m)) for m in f.left_out)) if f.left_out else ""
        adj = (text("did_not_adjusted", lang, cols=", ".join(covariate_label(c, lang) for c in f.not_adjusted))
               if f.not_adjusted else "")
        sub.paragraphs.append(text("did_risk_set_text", lang, g0=month_label(f.cohorts[0]), g1=month_label(f.cohorts[1]),
                                   service=label(f.service_type, lang).lower(),
                                   treated=page.fmt("int", o["n_treated"] if o is not None else None),
                                   controls=page.fmt("int", o["n_controls"] if o is not None else None),
                                   k=f.controls_per_treated, pre=f.pre, post=f.post, not_adjusted=adj,
                                   covariates=", ".join(covariate_label(c, lang) for c in f.adjust if c != "prior_earnings"),
                                   estimate=val("estimate"), lo=val("ci_lower"), hi=val("ci_upper")) + left)
    else:
        sub.paragraphs.append(text("did_spell_time_text", lang, treated=page.fmt("int", o["n_treated"] if o is not None
                                                                                  else None),
                                   service=label(f.service_type, lang).lower(), max_u=f.max_u, post=f.post,
                                   estimate=val("estimate"), lo=val("ci_lower"), hi=val("ci_upper")))
    pt = f.pretest
    if pt and "error" not in pt:
        which = text("pretest_all", lang) if pt["min_e"] is None else text("pretest_window", lang, k=-int(pt["min_e"]))
        sub.paragraphs.append(text("pretest_text", lang, which=which, chi2=page.fmt("num1", pt["statistic"]),
                                   df=pt["df"], p=page.fmt("p", pt["p_value"])))
    elif pt:
        sub.paragraphs.append(text("pretest_none", lang, why=pt["error"]))
    if f.twfe_note:
        sub.paragraphs.append(f.twfe_note)
    honest.write(res, page, sub)
    sub.tables += effect_tables(res.estimates, page, analysis="did_overall")
    did_aggregate.write(res, page, sub)
    sub.tables.append(page.flow_table(res.flows["did"], text("flow_caption_did", lang)))
    sub.figures += page.figures_of(res)
    sub.warnings += [n.text for n in res.notices]
    page.add_subsection("effects", sub)
    robustness.write(res, page)
