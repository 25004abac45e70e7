"""The placement follow-up (phase 1): outcome tables by group, placement and Kaplan-Meier curves.

The numbers come from :mod:`impact.outcomes.tables`, the same implementation ``impact
outcomes`` writes its summary tables with; this module says what is published and which
persons stand behind each cell.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import polars as pl

from impact import plots
from impact.designs.population import age_band
from impact.outcomes.tables import (TOTAL, follow_up_parts, group_table, km_persons, kaplan_meier,
                                    outcome_columns, payer_amounts, placement_curves)
from impact.report.disclosure import CELL, Group, Publication, cell_members
from impact.report.render import ReportSection
from impact.report.wording import label, text
from impact.study.context import AnalysisResult, FigureSpec, StudyContext

MAX_ROWS_SHOWN = 15


@dataclass(frozen=True)
class FollowupFacts:
    """Person-free facts of the follow-up for its report section."""

    by: tuple[str, ...]
    horizons: tuple[int, ...]
    measures: tuple[str, ...]
    kind: str
    earnings_windows: tuple[str, ...]
    k_of_h: tuple[str, ...]
    returned: tuple[str, ...]
    window: tuple[int, int]


def follow_up_units(ctx: StudyContext) -> pl.DataFrame:
    """The population's units with every grouping column of ``outcomes.by`` (age band, municipality)."""
    u = ctx.population.units
    extra = [age_band(pl.col("age")).alias("age_band")] if "age" in u.columns else []
    if "municipality" not in u.columns and "home_municipality" in u.columns:
        extra.append(pl.col("home_municipality").alias("municipality"))
    return u.with_columns(extra)


def _columns(measures: tuple[str, ...], horizons: tuple[int, ...], oc: dict, service: bool) -> list[Group]:
    """The value groups of a follow-up table for the configured measures."""
    groups = []
    if "placement" in measures:
        for h in horizons:
            c = f"placed_{h}m"
            cols = (c, f"{c}_lo", f"{c}_hi", f"n_{c}", f"n_obs_{c}") + (
                (f"cost_per_placement_{h}m",) if service and "cost" in measures else ())
            groups.append(Group(cols, parts=(f"obs:{c}", f"yes:{c}", f"no:{c}"), count=f"n_obs_{c}", obs=f"obs:{c}"))
    for measure, key in (("k_of_h", "k_of_h"), ("return_to_jobseeking", "returned")):
        if measure in measures:
            for c in oc[key]:
                groups.append(Group((c, f"{c}_lo", f"{c}_hi", f"n_{c}", f"n_obs_{c}"),
                                    parts=(f"obs:{c}", f"yes:{c}", f"no:{c}"), count=f"n_obs_{c}", obs=f"obs:{c}"))
    for w in oc["earnings"]:
        cols = ((f"mean_earnings_{w}",) if "earnings" in measures else ()) + (
            (f"mean_rel_earnings_{w}",) if "relative_earnings" in measures else ())
        if cols:
            groups.append(Group(cols + (f"n_obs_earnings_{w}",), parts=(f"earn:{w}",), count=f"n_obs_earnings_{w}",
                                earnings=True, obs=f"earn:{w}"))
    if service and "cost" in measures:
        groups.append(Group(("cost_per_participant", *(f"cost_per_placement_{h}m" for h in horizons)),
                            parts=("cost",)))
    if "time_to_employment" in measures:
        groups.append(Group(("median_months", "median_months_lo", "median_months_hi", "n_employed_after"),
                            parts=("employed", "not_employed")))
    return groups


def unit_payers(ctx: StudyContext, units: pl.DataFrame, windows: tuple[str, ...]) -> dict[str, pl.DataFrame]:
    """Per earnings window, the wages each payer paid to each unit's person (one backend join each)."""
    out = {}
    for w in windows:  # one or two earnings windows
        a, b = (int(x) for x in w.removesuffix("m").split("_"))
        out[w] = payer_amounts(ctx.tables["earnings_reports"], units.filter(pl.col(f"earnings_{w}").is_not_null()), (a, b))
    return out


def _payers(units: pl.DataFrame, by: str, windows: list[str], amounts: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The payers behind each earnings cell: ``by, part, payer_id, amount`` (and the Total)."""
    uid = "service_id" if "service_id" in units.columns else "spell_id"
    out = []
    for w in windows:  # one or two earnings windows
        obs = units.filter(pl.col(f"earnings_{w}").is_not_null())
        pa = amounts[w]
        lab = obs.select(pl.col(uid).alias("uid"), pl.col(by).cast(pl.String).fill_null("(unknown)"))
        per = pa.join(lab, on="uid").select(by, "payer_id", "amount")
        out += [per.with_columns(part=pl.lit(f"earn:{w}")),
                per.with_columns(pl.lit(TOTAL).alias(by), part=pl.lit(f"earn:{w}"))]
    return pl.concat(out).select(by, "part", "payer_id", "amount")


def group_publication(ctx: StudyContext, units: pl.DataFrame, by: str, facts: FollowupFacts,
                      amounts: dict[str, pl.DataFrame]) -> Publication:
    """The follow-up table by one grouping, with the persons (and payers) behind its cells."""
    ocfg = dataclasses.replace(ctx.outcomes.config, horizons=facts.horizons)
    service = facts.kind == "service_spell"
    t = group_table(units, by, ocfg, total=True)
    oc = outcome_columns(units, ocfg)
    groups = _columns(facts.measures, facts.horizons, oc, service)
    cell_cols = ["n_units", "n_persons"] + (["cost_per_participant"] if service and "cost" in facts.measures else [])
    keep = list(dict.fromkeys([by, *cell_cols, *[c for g in groups for c in g.columns]]))
    frame = t.select([c for c in keep if c in t.columns]).to_pandas()
    members = cell_members(units, [by], follow_up_parts(units, ocfg))
    earn = [w for w in oc["earnings"] if any(g.earnings and f"earn:{w}" in g.parts for g in groups)]
    payers = _payers(units, by, earn, amounts) if earn else None
    groups = [dataclasses.replace(g, columns=tuple(c for c in g.columns if c in frame.columns)) for g in groups]
    return Publication(name=f"followup_by_{by}", frame=frame, dims=(by,), count="n_units", members=members,
                       groups=tuple(groups), payers=payers, counts=("n_persons",))


def estimates_publication(table: Publication, by: str, horizons: tuple[int, ...]) -> Publication:
    """The descriptive estimates (share placed at each horizon, by group) of the first grouping."""
    f = table.frame
    rows = []
    for h in horizons:
        c = f"placed_{h}m"
        if c not in f:
            continue
        p, n = f[c].to_numpy(float), f[f"n_obs_{c}"].to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            se = np.where(n > 0, np.sqrt(p * (1 - p) / n), np.nan)
        rows.append(pd.DataFrame({"analysis": "followup", "estimator": "descriptive", "outcome": c,
                                  "estimand": "share placed (descriptive)", "horizon": h, "estimate": p,
                                  "std_error": se, "ci_lower": f[f"{c}_lo"].to_numpy(float),
                                  "ci_upper": f[f"{c}_hi"].to_numpy(float), "p_value": np.nan, "n_treated": n,
                                  "n_controls": np.nan, "group_by": by, "group": f[by].astype(str).to_numpy()}))
    frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    mem = table.members
    parts = []
    for h in horizons:  # the persons observed at h form the cell of an estimate; placed and not placed its parts
        c = f"placed_{h}m"
        m = mem.filter(pl.col("part").is_in([f"obs:{c}", f"yes:{c}", f"no:{c}"])).with_columns(
            pl.col("part").replace({f"obs:{c}": CELL, f"yes:{c}": "yes", f"no:{c}": "no"}),
            outcome=pl.lit(c), horizon=pl.lit(str(h)))
        parts.append(m.rename({by: "group"}))
    members = pl.concat(parts).select("outcome", "horizon", "group", "part", "person_id") if parts else None
    return Publication(name="estimates_followup", frame=frame, dims=("group",), slices=("outcome", "horizon"),
                       count="n_treated", members=members, groups=(Group(("estimate", "std_error", "ci_lower",
                                                                           "ci_upper"), parts=("yes", "no")),),
                       keep=("analysis", "estimator", "estimand", "group_by", "p_value", "n_controls"))


def curves_publication(ctx: StudyContext, units: pl.DataFrame, by: str, window: tuple[int, int]) -> Publication:
    """Share in work by month since the end, by group (points: observed, employed and not employed persons)."""
    cur, mem = placement_curves(ctx.panel, units, by, window, ctx.last_month)
    members = mem.select("group", pl.col("month").cast(pl.String), pl.col("part").replace({"observed": CELL}),
                         "person_id")
    counts = pl.concat([cur.select("group", pl.col("month").cast(pl.String), pl.lit(p).alias("part"),
                                   pl.col(c).alias("n"))
                        for p, c in ((CELL, "n_persons"), ("employed", "employed_persons"),
                                     ("not_employed", "not_employed_persons"))])
    frame = cur.select("group", "month", "n", "share", "ci_lower", "ci_upper").to_pandas()
    return Publication(name="placement_curves", frame=frame, slices=("group", "month"), members=members,
                       part_counts=counts,
                       groups=(Group(("share", "ci_lower", "ci_upper"), parts=("employed", "not_employed")),),
                       kind="curve")


def km_publication(units: pl.DataFrame, by: str, max_month: int = 24,
                   name: str = "km_time_to_employment") -> Publication:
    """Kaplan-Meier curves of the time to employment by group; a point is published only when at
    least min_cell persons found work since the last published point (no single events shown),
    and a curve only when its persons outnumber its distinct times by min_cell (its residual
    degrees of freedom, part ``dof``: the rule of SACRO's ``acro.surv_func``, counted in persons;
    a curve with nearly one time per person comes close to listing the persons' times).

    ``units``: ``person_id``, ``by``, ``months_to_employment`` and ``censored``; the persons at
    risk at each point are its members.
    """
    u = units.with_columns(pl.col(by).cast(pl.String).fill_null("(unknown)"))
    curves, _ = kaplan_meier(u.filter(pl.col("months_to_employment").is_not_null()), by=by)
    pc, mem = km_persons(u, by, max_month)
    frame = (curves.filter(pl.col("month") <= max_month).select(pl.col(by).alias("group"), "month",
                                                               pl.col("n_risk").alias("n_at_risk"), "survival",
                                                               pl.col("lower").alias("ci_lower"),
                                                               pl.col("upper").alias("ci_upper")).to_pandas())
    counts = pl.concat([pc.select(pl.col(by).alias("group"), pl.col("month").cast(pl.String), pl.lit(CELL).alias("part"),
                                  pl.col("at_risk").cast(pl.Int64).alias("n")),
                        pc.select(pl.col(by).alias("group"), pl.col("month").cast(pl.String), pl.lit("event").alias("part"),
                                  pl.col("events").cast(pl.Int64).alias("n")),
                        pc.join(_km_dof(u, by), on=by).select(pl.col(by).alias("group"), pl.col("month").cast(pl.String),
                                                              pl.lit("dof").alias("part"), pl.col("dof").alias("n"))])
    members = mem.select(pl.col(by).alias("group"), pl.col("month").cast(pl.String), pl.lit(CELL).alias("part"),
                         "person_id")
    return Publication(name=name, frame=frame, slices=("group", "month"), members=members,
                       part_counts=counts,
                       groups=(Group(("n_at_risk", "survival", "ci_lower", "ci_upper"), parts=("event", "dof")),),
                       kind="step_curve")


def _km_dof(units: pl.DataFrame, by: str) -> pl.DataFrame:
    """Per curve, its residual degrees of freedom: distinct persons minus distinct times (``by, dof``)."""
    u = units.filter(pl.col("months_to_employment").is_not_null())
    return u.group_by(by).agg(dof=pl.col("person_id").n_unique().cast(pl.Int64)
                              - pl.col("months_to_employment").n_unique().cast(pl.Int64))


def _labelled(df: pd.DataFrame, lang: str) -> pd.DataFrame:
    return df.assign(group=df["group"].map(lambda v: label(v, lang))).dropna(subset=[c for c in ("share", "survival")
                                                                                     if c in df])


def run(ctx: StudyContext, done: tuple = ()) -> AnalysisResult:
    """The follow-up tables by each grouping of ``outcomes.by``, the placement and Kaplan-Meier curves."""
    cfg, lang = ctx.cfg, ctx.lang
    units = follow_up_units(ctx)
    ocfg = ctx.outcomes.config
    oc = outcome_columns(units, ocfg)
    opts = cfg.estimator("followup") or _default_followup()
    facts = FollowupFacts(by=cfg.outcomes.groupings(cfg.unit.kind), horizons=cfg.outcomes.sorted_horizons,
                          measures=cfg.outcomes.columns(cfg.unit.kind),
                          kind=cfg.unit.kind, earnings_windows=tuple(oc["earnings"]), k_of_h=tuple(oc["k_of_h"]),
                          returned=tuple(oc["returned"]), window=cfg.outcomes.window_months)
    amounts = unit_payers(ctx, units, facts.earnings_windows) if {"earnings", "relative_earnings"} & set(
        facts.measures) else {}
    tables = {f"followup_by_{by}": group_publication(ctx, units, by, facts, amounts) for by in facts.by}
    first = facts.by[0]
    estimates = estimates_publication(tables[f"followup_by_{first}"], first, facts.horizons)
    figures = []
    if "placement" in facts.measures:
        tables["placement_curves"] = curves_publication(ctx, units, first, facts.window)
        figures.append(FigureSpec("placement_by_month", text("placement_curve", lang), "placement_curves", partial(
            _draw_curve, lang=lang, y="share", step=False, ylabel=text("share_employed", lang),
            xlabel=text(f"month_since_end_{facts.kind}", lang))))
    if opts.km:
        tables["km_time_to_employment"] = km_publication(units, first)
        figures.append(FigureSpec("kaplan_meier", text("km_curve", lang), "km_time_to_employment", partial(
            _draw_curve, lang=lang, y="survival", step=True, ylabel=text("share_not_employed", lang),
            xlabel=text(f"month_since_end_{facts.kind}", lang))))
    return AnalysisResult(name="followup", estimates=estimates, tables=tables, figures=tuple(figures), facts=facts)


def _default_followup():
    from impact.outcomes.options import FollowupOptions

    return FollowupOptions()


def _draw_curve(df: pd.DataFrame, lang: str, y: str, step: bool, ylabel: str, xlabel: str):
    d = _labelled(df, lang)
    return plots.band_lines(d, "month", y, "ci_lower", "ci_upper", group="group", step=step, vline=None if step else 0,
                            percent=True, xlabel=xlabel, ylabel=ylabel)


# ---------------------------------------------------------------------------------------
# Report section
# ---------------------------------------------------------------------------------------


def table_columns(facts: FollowupFacts, by: str, df: pd.DataFrame, lang: str) -> list[tuple]:
    """The columns of a follow-up table in the report."""
    cols: list[tuple] = [(by, label(by, lang), "text"), ("n_units", text(f"n_{facts.kind}", lang), "int"),
                         ("n_persons", text("n_persons", lang), "int")]
    if "placement" in facts.measures:
        cols += [(f"placed_{h}m", text("placed_h", lang, h=h), "pct", (f"placed_{h}m_lo", f"placed_{h}m_hi"))
                 for h in facts.horizons]
    if "k_of_h" in facts.measures:
        cols += [(c, text("k_of_h", lang, k=c.split("_")[1], h=c.split("_")[3].removesuffix("m")), "pct")
                 for c in facts.k_of_h]
    if "return_to_jobseeking" in facts.measures:
        cols += [(c, text("returned_w", lang, w=c.split("_")[1].removesuffix("m")), "pct") for c in facts.returned]
    if "time_to_employment" in facts.measures:
        cols.append(("median_months", text("median_months", lang), "num0"))
    for w in facts.earnings_windows:
        a, b = w.removesuffix("m").split("_")
        if "relative_earnings" in facts.measures:
            cols.append((f"mean_rel_earnings_{w}", text("rel_earnings", lang, a=a, b=b), "num2"))
        if "earnings" in facts.measures:
            cols.append((f"mean_earnings_{w}", text("mean_earnings", lang, a=a, b=b), "num0"))
    if "cost" in facts.measures and facts.kind == "service_spell":
        h = 6 if 6 in facts.horizons else facts.horizons[-1]
        cols.append((f"cost_per_placement_{h}m", text("cost_per_placement", lang, h=h), "num0"))
    return [c for c in cols if c[0] in df.columns]


def write(res, page) -> None:
    """The follow-up section, the headline table and the first-page summary sentence."""
    f: FollowupFacts = res.facts
    lang = page.lang
    sec = ReportSection(key="followup", title=text("followup", lang))
    for by in f.by:
        d = res.tables[f"followup_by_{by}"]
        pub = d.frame
        body = pub[pub[by] != TOTAL].sort_values("n_units", ascending=False, na_position="last")
        order = list(body.index[:MAX_ROWS_SHOWN]) + list(pub.index[pub[by] == TOTAL])
        notes = []  # page.table adds the disclosure notes of d
        if len(body) > MAX_ROWS_SHOWN:
            notes.append(text("rows_shown", lang, n=MAX_ROWS_SHOWN, total=len(body), name=f"followup_by_{by}"))
        cap = text("followup_by", lang, by=label(by, lang).lower())
        sec.tables.append(page.table(d, table_columns(f, by, pub, lang), cap, rows=order, notes=notes,
                                     name=f"followup_by_{by}"))
        small = int((d.marks["n_units"] == "..").sum()) if "n_units" in d.marks else 0
        if small:
            page.notice(text("small_groups", lang, what=label(by, lang), n=small, min_cell=page.rules.min_cell),
                        level="borderline")
    sec.figures += page.figures_of(res)
    page.add_section(sec)
    d = res.tables[f"followup_by_{f.by[0]}"]
    tot_ix = list(d.frame.index[d.frame[f.by[0]] == TOTAL])
    cols = table_columns(f, f.by[0], d.frame, lang)
    cols = [c for c in cols if c[0] in (f.by[0], "n_units", "n_persons") or c[0].startswith("placed_")]
    if "cost" in f.measures and "cost_per_participant" in d.frame:
        cols.append(("cost_per_participant", text("cost_per_participant", lang), "num0"))
    page.headline(page.table(d, cols, text("key_results", lang), rows=tot_ix, name="headline"))
    tot = d.frame.loc[tot_ix[0]] if tot_ix else None
    if tot is not None and "placement" in f.measures:
        parts = [text("share_at", lang, share=page.fmt("pct", tot.get(f"placed_{h}m")), h=h) for h in f.horizons]
        page.summary(text(f"summary_followup_{f.kind}", lang, n=page.fmt("int", tot.get("n_units")),
                          persons=page.fmt("int", tot.get("n_persons")), shares=", ".join(parts)))
