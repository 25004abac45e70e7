"""Dynamic (risk-set) matching: starting a service now vs not now, on the study's population.

The design is :func:`impact.designs.dynamic.risk_set_design` (earnings outcomes: open-market pay,
subsidised pay excluded, as the synthetic truth counts it); the study's population rules
then keep the risk-set rows whose person meets them in the risk month (treated and comparison
rows alike), treated rows left without a comparison row in their exact cell are counted and
dropped, and :func:`impact.estimators.matching.design.match_design` estimates on what is left.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import polars as pl

from impact import plots
from impact.designs.dynamic import RiskSetDesign, risk_set_design
from impact.designs.population import FlowBuilder
from impact.estimators.matching.design import match_design
from impact.months import pl_month_index
from impact.report.render import ReportSection
from impact.report.wording import covariate_label, label, text, translate
from impact.study.analyses import balance, robustness, subgroups
from impact.study.analyses.effects import (cost_publication, earnings_payers, estimates_publication, label_outcome,
                                           per_row_members, persons_frame)
from impact.study.context import AnalysisResult, FigureSpec, Notice, StudyContext, TruthRequest


@dataclass(frozen=True)
class MatchingFacts:
    """Person-free facts of one matching analysis for its report section."""

    key: str  # table prefix
    analysis: str  # the estimates' analysis name
    title: str
    service_type: str
    estimand: str
    exact: tuple[str, ...]
    covariates: tuple[str, ...]
    k: int
    method: str
    sectors: tuple[int, ...] | None = None
    subgroups: dict | None = None  # outcome, horizon and equal-effect tests of the subgroup table


def treated_services(ctx: StudyContext, sectors: tuple[int, ...] | None = None) -> pl.DataFrame:
    """The services that count as the treatment: type, subtype and employer sectors of ``[treatment]``."""
    t = ctx.cfg.treatment
    sv = ctx.services.filter(pl.col("service_type") == t.service_type)
    if t.subtype is not None:
        sv = sv.filter(pl.col("subtype") == t.subtype)
    sectors = sectors if sectors is not None else t.employer_sectors
    if sectors:
        sv = sv.filter(pl.col("employer_sector").is_in(list(sectors)))
    return sv


def population_services(ctx: StudyContext, services: pl.DataFrame) -> pl.DataFrame:
    """The treatment's services that the population rules allow (by the month they start)."""
    return ctx.population.restrict(services.with_columns(pl_month_index("start_date").alias("_start_month")),
                                   "_start_month").drop("_start_month")


def build_design(ctx: StudyContext, services: pl.DataFrame) -> RiskSetDesign:
    """The risk-set design of the study for ``services`` (the treatment's service spells)."""
    cfg = ctx.cfg
    m = cfg.estimator("matching")
    h = cfg.design.history_months
    return risk_set_design(ctx.spells, services, ctx.persons, ctx.person_month, service_type=cfg.treatment.service_type,
                           horizons=cfg.outcomes.sorted_horizons, origin="end",
                           comparison="never" if cfg.comparison.kind == "never_treated" else "not_yet",
                           grace=cfg.comparison.grace_months, max_elapsed=cfg.treatment.max_elapsed_months,
                           history=(h, 2 * h), first_month=ctx.first_paid_month, last_month=ctx.last_month,
                           max_controls=m.max_controls_per_cell,
                           subsidised_earnings="subsidised_eur")


def restrict_design(ctx: StudyContext, design: RiskSetDesign, extra_exact: list[str], flow: FlowBuilder,
                    estimand: str = "ATT", lost: list | None = None) -> tuple[pl.DataFrame, list[str]]:
    """The design rows the population allows, without treated rows that lost their comparison rows
    (appended to ``lost`` when given: the common-support loss of the exact cells)."""
    seg = ctx.spells.select("spell_id", pl.col("segment").alias("_segment"))
    d = design.data.with_row_index("_rid").join(seg, on="spell_id", how="left")
    tr = pl.col("treated") > 0
    flow.add("flow_design_rows", d.filter(tr))
    d = ctx.population.restrict(d, "m", segment="_segment").drop("_segment")
    flow.add("flow_population_rows", d.filter(tr))
    exact = [*design.exact, *[c for c in extra_exact if c not in design.exact]]
    cells = d.group_by(exact).agg(_nc=(pl.col("treated") <= 0).sum(), _nt=tr.sum())
    # treated rows need comparison rows in their cell; for an effect on the comparison persons (ATC, ATE)
    # comparison rows need treated rows in theirs too (the design keeps no cell without both for the ATT)
    keep_ctl = pl.lit(True) if estimand == "ATT" else pl.col("_nt") > 0
    d = d.join(cells, on=exact, how="left")
    if lost is not None:
        lost.append(d.filter(tr & (pl.col("_nc") == 0)).select("person_id"))
    d = d.filter(pl.when(tr).then(pl.col("_nc") > 0).otherwise(keep_ctl))
    d = d.drop("_nc", "_nt")
    flow.add("flow_with_comparison", d.filter(tr))
    return d, exact


def run_group(ctx: StudyContext, services: pl.DataFrame, key: str, analysis: str, title: str,
              sectors: tuple[int, ...] | None = None) -> AnalysisResult:
    """Risk-set matching for one group of treatment services (``services``: the treatment's service
    spells); its estimates, tables and checks.

    Without a subtype or sector restriction the design sees every service spell (other services
    chain job-seeking spells into episodes); with one it sees the treatment's services only."""
    cfg, lang = ctx.cfg, ctx.lang
    opts = cfg.estimator("matching")
    pop_services = population_services(ctx, services)
    flow = FlowBuilder(key, unit="_rid")
    flow.add("flow_treated_services", pop_services.rename({"service_id": "_rid"}))
    restricted = sectors is not None or cfg.treatment.subtype is not None or bool(cfg.treatment.employer_sectors)
    with ctx.step(f"{key}: risk sets (design)"):
        design = build_design(ctx, services if restricted else ctx.services)
        covs = cfg.design.matching_columns(design.covariates)
        extra = cfg.design.exact_columns(design.data.columns)
        lost: list = []
        data, exact = restrict_design(ctx, design, extra, flow, opts.estimand, lost)
        # the population's rows are all that is estimated on: the full table is not kept beside them
        design = dataclasses.replace(design, data=data)
    covs = [c for c in covs if data[c].n_unique() > 1]  # the population can make a covariate constant
    ctx.log(f"  {key}: {int((data['treated'] > 0).sum()):,} treated rows, {int((data['treated'] <= 0).sum()):,} "
            "comparison rows")
    with ctx.step(f"{key}: {opts.method} matching, k = {opts.k}, standard errors"):
        # synthetic registers: also the standard errors of the treated rows' own average effect, which the truth
        # check uses (the truth is that average; impact.study.truth.check_interval)
        res = match_design(design, data=data, covariates=covs, exact=exact, **opts.match_kwargs(),
                           sample_se=ctx.truth_dir is not None)
    w = np.asarray(res.weights)
    is_t = np.asarray(res.treated, bool)
    used = data.with_columns(_w=pl.Series(w), _t=pl.Series(is_t)).filter(pl.col("_w") > 0)
    flow.add("flow_matched", used.filter(pl.col("_t")))
    est = res.estimates.copy()
    est.insert(0, "estimator", "risk-set matching")
    est.insert(0, "analysis", analysis)
    est["estimand_text"] = design.estimand
    treated_p, control_p = used.filter(pl.col("_t")), used.filter(~pl.col("_t"))
    persons = persons_frame({"treated": treated_p, "controls": control_p})
    keys = ["analysis", "outcome", "horizon"]
    est["horizon"] = est["horizon"].astype(float)
    members = per_row_members(est, keys, persons)
    rows = []
    for o, h in zip(est["outcome"], est["horizon"]):  # a handful of outcomes
        if str(o).startswith("earnings"):
            mo = (pl.col("m") + pl.col("length") + int(h)).alias("month")
            rows.append(used.select("person_id", mo).unique().with_columns(
                analysis=pl.lit(analysis), outcome=pl.lit(str(o)), horizon=pl.lit(str(h))))
    with ctx.step(f"{key}: payers behind the earnings estimates"):
        payers = earnings_payers(ctx, pl.concat(rows)) if rows else None
    tables = {f"{key}_balance": balance.balance_publication(f"{key}_balance", res, used),
              f"{key}_support": balance.support_publication(f"{key}_support", res, data, lost[0] if lost else None)}
    figures = [FigureSpec(f"{key}_love_plot", text("love_caption", lang, title=title), f"{key}_balance",
                          partial(balance.draw_love, lang=lang))]
    if res.score is not None:
        tables[f"{key}_overlap"] = balance.overlap_publication(f"{key}_overlap", res, data)
        figures.append(FigureSpec(f"{key}_overlap", text("overlap_caption", lang, title=title,
                                                          min_cell=ctx.rules.min_cell), f"{key}_overlap",
                                  partial(balance.draw_overlap, lang=lang)))
    tables[f"{key}_cost"] = cost_publication(f"{key}_cost", analysis, est, pop_services)
    notices = []
    bal = res.balance
    if bal is not None:
        bad = bal.loc[bal.get("smd_flag", pd.Series(False, index=bal.index)).astype(bool), "covariate"].tolist()
        if bad:
            notices.append(Notice(text("imbalance", lang, title=title,
                                       covariates=", ".join(covariate_label(c, lang) for c in bad))))
        vbad = bal.loc[bal.get("vr_flag", pd.Series(False, index=bal.index)).astype(bool), "covariate"].tolist()
        if vbad:
            notices.append(Notice(text("variance_ratio", lang, title=title,
                                       covariates=", ".join(covariate_label(c, lang) for c in vbad)),
                                  level="borderline"))
    truth_keys = treated_p.select("person_id", pl.col("ms").cast(pl.Int32).alias("start_month")).unique()
    # the headline fit (score, covariate matrix, matches, weights) is published: its arrays are not
    # kept beside the re-estimations below
    del res, w, is_t, used, treated_p, control_p
    with ctx.step(f"{key}: robustness checks"):
        chk = robustness.matching_checks(ctx, design, data, covs, exact, analysis, persons, title)
    checks = ()
    if chk is not None:
        tables.update(chk[0])
        checks = (chk[1],)
    sub_info = None
    if sectors is None and opts.subgroups:  # the sector contrast's groups are subgroups already
        emp = [o for o in design.outcomes if o.startswith("employed_h")]
        outcome = max(emp, key=lambda o: design.horizons[o])
        with ctx.step(f"{key}: effects by subgroup (doubly robust, {subgroups.FOLDS} folds)"):
            st, sub_info = subgroups.run(ctx, data, outcome, float(design.horizons[outcome]), covs, exact, key)
        tables.update(st)
    facts = MatchingFacts(key=key, analysis=analysis, title=title, service_type=cfg.treatment.service_type,
                          estimand=design.estimand, exact=tuple(exact), covariates=tuple(covs), k=opts.k,
                          method=opts.method, sectors=sectors, subgroups=sub_info)
    truth = TruthRequest("matching", truth_keys, (analysis,), {"service_type": cfg.treatment.service_type,
                                                               "estimand": opts.estimand})
    return AnalysisResult(name=key, estimates=estimates_publication(f"estimates_{key}", est, members, payers),
                          tables=tables, figures=tuple(figures), flows=(flow.build(),), notices=tuple(notices),
                          truth=(truth,), facts=facts, checks=checks)


def run(ctx: StudyContext, done: tuple = ()) -> AnalysisResult:
    """Dynamic matching of the treatment's service (join now vs wait)."""
    st = ctx.cfg.treatment.service_type
    return run_group(ctx, treated_services(ctx), "matching", "dynamic_matching", label(st, ctx.lang))


# ---------------------------------------------------------------------------------------
# Report section
# ---------------------------------------------------------------------------------------


def effect_tables(d, page, analysis: str | None = None) -> list:
    """Effects on employment (pp) and on earnings (EUR) of one analysis, with the truth where known."""
    lang = page.lang
    f = d.frame
    rows = f.index if analysis is None else f.index[f["analysis"] == analysis]
    f = f.loc[rows].assign(label=f.loc[rows, "outcome"].map(lambda o: label_outcome(o, lang)))
    out = []
    for prefix, kind, cap in (("employed", "pp", "effect_employment_caption"), ("earnings", "num0",
                                                                                "effect_earnings_caption")):
        ix = list(f.index[f["outcome"].astype(str).str.startswith(prefix)])
        if not ix:
            continue
        cols: list[tuple] = [("label", text("outcome", lang), "text"), ("horizon", text("horizon", lang), "int"),
                             ("estimate", text("estimate", lang), kind, ("ci_lower", "ci_upper")),
                             ("std_error", text("std_error", lang), kind), ("p_value", text("p_value", lang), "p"),
                             ("n_treated", text("n_treated", lang), "int"), ("n_controls", text("n_controls", lang), "int")]
        if "truth" in f and f.loc[ix, "truth"].notna().any():
            cols.insert(3, ("truth", text("truth", lang), kind))
        out.append(page.table(d, cols, text(cap, lang), rows=ix, frame=f, name=f"effects_{prefix}"))
    return out


def effects_figure(d, page, name: str, caption_key: str = "effects_caption", analysis: str | None = None):
    """Bars of the employment effects by horizon (with the truth where known)."""
    f = d.frame if analysis is None else d.frame[d.frame["analysis"] == analysis]
    emp = f[f["outcome"].astype(str).str.startswith("employed_h")].dropna(subset=["estimate"])
    if emp.empty:
        return None
    has_truth = "truth" in emp and emp["truth"].notna().any()
    dd = emp.assign(h=emp["horizon"].map(lambda h: f"{int(h)} m"))
    fig = plots.estimate_bars(dd, "h", truth="truth" if has_truth else None, percent=True,
                              xlabel=text("month_since_end_service_spell", page.lang),
                              ylabel=text("effect_on_employment", page.lang))
    return page.save_figure(fig, name, text(caption_key, page.lang) + (text("truth_marker", page.lang)
                                                                       if has_truth else ""))


def write_group(res, page, f: MatchingFacts, sec: ReportSection) -> None:
    """The subsection of one matching analysis (also used by the sector contrast for each group)."""
    lang = page.lang
    sub = ReportSection(key=f.key, title=f.title if f.sectors else text("matching_title", lang))
    e = res.estimates
    mine = e.frame[e.frame["analysis"] == f.analysis]
    first = mine.iloc[0] if len(mine) else None
    sub.paragraphs.append(text("estimand_sentence", lang, estimand=translate(f.estimand, lang)))
    sub.paragraphs.append(text("matching_design", lang, treated=page.fmt("int", first["n_treated"] if first is not None
                                                                          else None),
                               controls=page.fmt("int", first["n_controls"] if first is not None else None),
                               exact=", ".join(covariate_label(c, lang) for c in f.exact), k=f.k,
                               method=text(f"method_{f.method}", lang)))
    sub.tables += effect_tables(e, page, analysis=f.analysis)
    fig = effects_figure(e, page, f"{f.key}_effects", analysis=f.analysis)
    if fig is not None:
        sub.figures.append(fig)
    sub.tables.append(page.flow_table(res.flows[f.key], text("flow_caption_matching", lang, title=f.title)))
    if f"{f.key}_balance" in res.tables:
        sub.tables.append(balance.balance_table(res.tables[f"{f.key}_balance"], page, f.title))
    if f"{f.key}_support" in res.tables:
        sub.tables.append(balance.support_table(res.tables[f"{f.key}_support"], page, f.title))
    sub.figures += page.figures_of(res, prefix=f.key)
    sub.warnings += [n.text for n in res.notices if n.text.startswith(f.title)]
    sec.subsections.append(sub)
    if f.subgroups is not None:
        who = ReportSection(key=f"{f.key}-subgroups", title=text("sub_title", lang))
        subgroups.write(res, page, who, f.key, f.subgroups)
        sec.subsections.append(who)


def write(res, page) -> None:
    sec = ReportSection(key="effects", title=text("effects", page.lang))
    write_group(res, page, res.facts, sec)
    page.add_section(sec)
    robustness.write(res, page)
    page.cost(res, f"{res.facts.key}_cost")
