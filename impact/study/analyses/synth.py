"""Synthetic control for an area reform, with placebos and statistical peer groups.

The area x month employment rates are computed over the study's population: the persons the
population rules allow at the reform month (area, language, sex, age and segment then), over
the months of ``outcomes.window_months`` around the reform (within the population's dates).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from impact import plots
from impact.designs.areas import AREA_COVARIATES, area_covariates
from impact.designs.did_panels import area_month_panel
from impact.designs.options import month_to_index
from impact.designs.population import FlowBuilder
from impact.errors import DesignError
from impact.months import month_label
from impact.report.disclosure import CELL, Group, Publication
from impact.report.render import ReportSection
from impact.report.wording import text
from impact.study.analyses import area_compare, robustness
from impact.study.context import AnalysisResult, FigureSpec, Notice, StudyContext, TruthRequest


@dataclass(frozen=True)
class SynthFacts:
    """Person-free facts of the synthetic control for its report section."""

    area: str
    policy_month: str
    first: int
    last: int
    n_donors: int
    n_excluded: int
    pre_rmspe: float
    att: float
    placebo_p: float | None
    placebo_rank: int | None
    placebo_units: int | None
    loo_range: tuple[float, float] | None
    peers: tuple[str, ...] = ()
    peer_did: tuple[float, float] | None = None
    predictors: str = "outcome_only"
    compare: Any = None  # area_compare.CompareFacts: estimators beside the synthetic control


def _area_counts(panel: pl.DataFrame, areas: list[str], prefix: str, key: str = "month") -> pl.DataFrame:
    """Fewest employed and not employed persons over ``areas`` in each month (parts ``{prefix}_emp``/``_not``)."""
    p = panel.filter(pl.col("area").is_in(areas)).group_by(key).agg(
        emp=pl.col("employed").min(), nemp=(pl.col("persons") - pl.col("employed")).min())
    return pl.concat([p.select(pl.col(key).cast(pl.String), pl.lit(f"{prefix}_emp").alias("part"), pl.col("emp").alias("n")),
                      p.select(pl.col(key).cast(pl.String), pl.lit(f"{prefix}_not").alias("part"),
                               pl.col("nemp").alias("n"))])


def _series_publication(name: str, frame: pd.DataFrame, panel: pl.DataFrame, treated: str, others: list[str],
                        size: int, a: str, b: str, cols_a: tuple, cols_b: tuple, cols_ab: tuple,
                        key: str = "month", keep: tuple[str, ...] = ("month_since", "time")) -> Publication:
    """Monthly series of the treated area (``a``) and of other areas (``b``: donors or peers): each
    point rests on the employed and the not employed persons of every area behind it. A row whose
    ``key`` is -1 (an average over the months after the reform) rests on the fewest of them."""
    pc = pl.concat([_area_counts(panel, [treated], a), _area_counts(panel, others, b) if others else
                    pl.DataFrame(schema={"month": pl.String, "part": pl.String, "n": pl.Int64})],
                   how="vertical_relaxed")
    months = frame[key].astype(str).unique().tolist()
    pc = pl.concat([pc, pl.DataFrame({"month": months, "part": CELL, "n": size})], how="vertical_relaxed")
    if "-1" in months:
        post = [m for m in months if m != "-1"]
        pc = pl.concat([pc, pc.filter(pl.col("month").is_in(post) & (pl.col("part") != CELL)).group_by("part").agg(
            pl.col("n").min()).select(pl.lit("-1").alias("month"), "part", "n")], how="vertical_relaxed")
    pc = pc.rename({"month": key})
    groups = [Group(cols_a, parts=(f"{a}_emp", f"{a}_not")), Group(cols_ab, parts=(f"{a}_emp", f"{a}_not", f"{b}_emp",
                                                                                   f"{b}_not"))]
    if cols_b:
        groups.insert(1, Group(cols_b, parts=(f"{b}_emp", f"{b}_not")))
    return Publication(name=name, frame=frame, slices=(key,), part_counts=pc, groups=tuple(groups),
                       keep=tuple(c for c in keep if c in frame))


def run(ctx: StudyContext, done: tuple = ()) -> AnalysisResult:
    """Synthetic control for the reformed area on the area x month employment rate, with placebos and peers."""
    from impact.estimators import synth

    cfg, lang = ctx.cfg, ctx.lang
    o = cfg.estimator("synth")
    area = cfg.treatment.area
    t0 = month_to_index(cfg.treatment.policy_month)
    pre, post = -cfg.outcomes.window_months[0], cfg.outcomes.window_months[1]
    pm = ctx.person_month.rename({"earnings": "earnings_eur"})
    first = max(int(pm["month"].min()), t0 - pre)
    last = min(ctx.last_month, t0 + post - 1)
    m0, m1 = cfg.population.month_range
    first, last = max(first, m0) if m0 is not None else first, min(last, m1) if m1 is not None else last
    if not first < t0 <= last:
        raise DesignError(f"synthetic control: the months {month_label(first)}..{month_label(last)} (outcomes."
                          f"window_months and population.start_from / start_to) leave no months before and after the "
                          f"reform {cfg.treatment.policy_month}")
    flow = FlowBuilder("synth")
    flow.add("flow_area_persons", ctx.persons)
    at_t0 = ctx.persons.select("person_id").with_columns(month=pl.lit(t0, pl.Int32))
    persons = ctx.persons.join(ctx.population.restrict(at_t0, "month", dates=False).select("person_id"),
                               on="person_id", how="semi")
    flow.add("flow_area_population", persons)
    if area not in set(persons["employment_area"].unique().to_list()):
        raise DesignError(f"treatment.area = {area!r} has no persons of the study population (persons register "
                          "employment_area)")
    reforms = pl.DataFrame({"area": [area], "start_month": [t0]}, schema={"area": pl.String, "start_month": pl.Int64})
    panel = area_month_panel(pm, persons, reforms, months=(first, last))
    mc = ctx.rules.min_cell
    small = panel.filter(pl.col("persons") < mc)["area"].unique().to_list()
    excluded = set(cfg.comparison.exclude_areas or ()) | set(small)
    donors = list(cfg.comparison.donors) if cfg.comparison.donors else sorted(
        a for a in panel["area"].unique().to_list() if a != area and a not in excluded)
    peers_df, cov = None, None
    if cfg.estimator("peer_groups") is not None or o.predictors == "structural":
        cov = area_covariates(panel, persons, ctx.spells, t0)
    if cfg.estimator("peer_groups") is not None:
        pg_opts = cfg.estimator("peer_groups")
        data = cov.filter(pl.col("area").is_in([area, *donors])).with_columns(
            (pl.col("area") == area).cast(pl.Int8).alias("not_a_peer"))
        pg = synth.peer_groups(data.to_pandas(), unit="area", covariates=list(AREA_COVARIATES), k=pg_opts.k,
                               method=pg_opts.metric, treatment="not_a_peer")
        peers_df = pg.peers[pg.peers["unit"] == area].copy()
        if cfg.comparison.donors_from_peers:
            donors = [d for d in peers_df["peer"].tolist() if d in donors] or donors
    data = panel.filter(pl.col("area").is_in([area, *donors])).select("area", "month", "employment_rate", "persons")
    predictors = None
    if o.predictors == "structural":
        data = data.join(cov.select("area", *[c for c in AREA_COVARIATES if c != "employment_rate_pre"]), on="area")
        predictors = ["employment_rate", *[c for c in AREA_COVARIATES if c != "employment_rate_pre"]]
    ctx.log(f"  synth: {area} against {len(donors)} donors, months {month_label(first)}..{month_label(last)}")
    with ctx.step("synth: weights of the synthetic area"):
        res = synth.synthetic_control(data, unit="area", time="month", outcome="employment_rate", treated=area,
                                      treatment_time=t0, donors=donors, predictors=predictors)
    paths = res.paths.copy()
    paths["month_since"] = paths["time"] - t0
    att = res.att()
    with ctx.step(f"synth: in-space placebos ({len(donors)} donors)" if o.placebo else "synth: no placebos"):
        placebo = res.placebo() if o.placebo else None
    est = res.estimates[res.estimates["estimand"] == "ATT"].copy()
    est["horizon"] = np.nan
    if placebo is not None:
        iv = res.att_interval("scaled_placebo")
        est["std_error"], est["ci_lower"], est["ci_upper"] = iv["std_error"], iv["ci_lower"], iv["ci_upper"]
        est["p_value"] = placebo.p_value
        est["interval"] = "noise-scaled placebo: ATT +/- t(J-1) x SE of placebo ATTs rescaled to the area's noise"
    size = int(panel.filter(pl.col("area") == area)["persons"].max())
    est["n_treated"], est["n_controls"] = float(size), float(len(donors))
    gaps = paths[paths["post"]][["time", "month_since", "gap"]].copy()
    gaps = gaps.assign(outcome="employment_rate", estimand="gap treated - synthetic", horizon=gaps["month_since"],
                       estimate=gaps["gap"], std_error=np.nan, ci_lower=np.nan, ci_upper=np.nan, p_value=np.nan,
                       n_treated=float(size), n_controls=float(len(donors)))
    est.insert(0, "estimator", "synthetic_control")
    est.insert(0, "analysis", "synthetic_control")
    gaps.insert(0, "estimator", "synthetic_control")
    gaps.insert(0, "analysis", "synthetic_control_gaps")
    allest = pd.concat([est, gaps.drop(columns=["month_since", "gap"])], ignore_index=True)
    allest["_month"] = np.where(allest["analysis"] == "synthetic_control_gaps", allest["time"], -1).astype(int)
    allest = allest.drop(columns=["time"])
    pos = [a for a, w in res.weights.items() if w > 1e-4]
    pub_est = _series_publication("estimates_synth", allest, panel, area, pos, size, "t", "s", ("n_treated",), (),
                                  ("estimate", "std_error", "ci_lower", "ci_upper", "n_controls", "truth"), key="_month",
                                  keep=("analysis", "estimator", "outcome", "estimand", "horizon", "p_value", "interval"))
    tables: dict[str, Publication] = {}
    w = res.weights[res.weights > 1e-4].sort_values(ascending=False)
    wt = pd.DataFrame({"area": w.index.astype(str), "weight": w.to_numpy()})
    area_sizes = panel.group_by("area").agg(n=pl.col("persons").max())
    tables["synth_weights"] = Publication("synth_weights", wt, slices=("area",), part_counts=area_sizes.select(
        "area", pl.lit(CELL).alias("part"), "n"))
    p = paths.rename(columns={"time": "month"})[["month", "month_since", "treated", "synthetic", "gap"]]
    if cov is None:
        cov = area_covariates(panel, persons, ctx.spells, t0)
    covs = cov.to_pandas().set_index("area")[[c for c in AREA_COVARIATES if c != "employment_rate_pre"]]
    bal = res.balance_table(covs, period=lambda m: month_label(int(m))[:4])
    tables["synth_balance"] = Publication("synth_balance", bal, slices=("predictor",), part_counts=pl.DataFrame(
        {"predictor": bal["predictor"].tolist(), "part": CELL, "n": size}))
    tables["synth_paths"] = _series_publication("synth_paths", p, panel, area, pos, size, "t", "s", ("treated",),
                                                ("synthetic",), ("gap",))
    figures = [FigureSpec("synth_paths", text("synth_paths_caption", lang, area=area), "synth_paths",
                          partial(_draw_paths, lang=lang, area=area))]
    notices = []
    pre_sd = float(paths.loc[~paths["post"], "treated"].std())
    if pre_sd == pre_sd and res.pre_rmspe > 0.5 * pre_sd:
        notices.append(Notice(text("synth_poor_fit", lang, rmspe=f"{100 * res.pre_rmspe:.2f}", area=area)))
    if placebo is not None:
        # its verdict (failed, borderline at report.alpha) is the in-space placebo row of the robustness checks
        g = placebo.gaps.copy().rename(columns={"time": "month"})
        g["month_since"] = g["month"] - t0
        g["unit"] = g["unit"].astype(str)
        cnt = panel.select(pl.col("area").alias("unit"), pl.col("month").cast(pl.String), "employed", "persons")
        pc = pl.concat([cnt.select("unit", "month", pl.lit("emp").alias("part"), pl.col("employed").alias("n")),
                        cnt.select("unit", "month", pl.lit("not").alias("part"),
                                   (pl.col("persons") - pl.col("employed")).alias("n")),
                        cnt.select("unit", "month", pl.lit(CELL).alias("part"), pl.col("persons").alias("n"))],
                       how="vertical_relaxed")
        gp = g[["unit", "month", "month_since", "gap"]]
        tables["synth_placebo_gaps"] = Publication("synth_placebo_gaps", gp, slices=("unit", "month"), part_counts=pc,
                                                   groups=(Group(("gap",), parts=("emp", "not")),),
                                                   keep=("month_since",))
        figures.append(FigureSpec("synth_placebo_gaps", text("synth_placebo_caption", lang, area=area),
                                  "synth_placebo_gaps", partial(_draw_placebos, lang=lang, area=area)))
        ratios = placebo.ratios.rename(columns={"unit": "area"})
        ratios["area"] = ratios["area"].astype(str)
        ratios["poor_fit"] = placebo.poor_fit(o.poor_fit_ratio).to_numpy()
        tables["synth_placebo_ratios"] = Publication("synth_placebo_ratios", ratios, slices=("area",),
                                                     part_counts=area_sizes.select("area", pl.lit(CELL).alias("part"),
                                                                                   "n"), keep=("treated", "poor_fit"))
        figures.append(FigureSpec("synth_rmspe_ratios", text("synth_ratio_caption", lang, area=area,
                                                             k=f"{o.poor_fit_ratio:g}"),
                                  "synth_placebo_ratios", partial(_draw_ratios, lang=lang, k=o.poor_fit_ratio)))
    loo = None
    if o.leave_one_out and (res.weights > 0).sum() >= 1 and len(donors) >= 3:
        loo = res.leave_one_out()
        sm = loo.summary.rename(columns={"dropped": "area_dropped"})
        sm["area_dropped"] = sm["area_dropped"].astype(str)
        tables["synth_leave_one_out"] = Publication("synth_leave_one_out", sm, slices=("area_dropped",),
                                                    part_counts=pl.DataFrame({"area_dropped": sm["area_dropped"].tolist(),
                                                                              "part": CELL, "n": size}))
    persons_area = persons.filter(pl.col("employment_area") == area).select(pl.lit("treated").alias("part"),
                                                                             "person_id")
    rt, checks = robustness.synth_checks(ctx, res, placebo, loo, o.in_time_placebo, t0 - first,
                                         pl.concat([persons_area, persons_area.with_columns(pl.lit("controls")
                                                                                            .alias("part")),
                                                    persons_area.with_columns(pl.lit(CELL).alias("part"))]), area)
    tables.update(rt)
    peer_did = None
    if peers_df is not None:
        peer_did = _peers(tables, figures, panel, peers_df, area, t0, lang)
    compared = None
    if o.compare:
        ctab, cfig, compared = area_compare.run(data, panel, res, area, donors, t0, size, o.compare, mc,
                                                   lang)
        tables.update(ctab)
        figures += cfig
    facts = SynthFacts(area=area, policy_month=cfg.treatment.policy_month, first=first, last=last, n_donors=len(donors),
                       n_excluded=len(excluded), pre_rmspe=float(res.pre_rmspe), att=float(att),
                       placebo_p=None if placebo is None else float(placebo.p_value),
                       placebo_rank=None if placebo is None else int(placebo.rank),
                       placebo_units=None if placebo is None else int(placebo.n_units),
                       loo_range=None if loo is None else (float(loo.summary["att"].min()),
                                                           float(loo.summary["att"].max())),
                       peers=tuple(peers_df["peer"].astype(str)) if peers_df is not None else (), peer_did=peer_did,
                       predictors=o.predictors, compare=compared)
    return AnalysisResult(name="synth", estimates=pub_est, tables=tables, figures=tuple(figures), flows=(flow.build(),),
                          notices=tuple(notices), facts=facts, checks=(checks,),
                          truth=(TruthRequest("synth", area, ("synthetic_control", "synthetic_control_gaps",
                                                              *area_compare.ANALYSES.values()),
                                              {"t0": t0, "last": last}),))


def _peers(tables: dict, figures: list, panel: pl.DataFrame, peers: pd.DataFrame, area: str, t0: int,
           lang: str) -> tuple[float, float]:
    ids = peers["peer"].astype(str).tolist()
    sizes = panel.group_by("area").agg(n=pl.col("persons").max())
    pk = peers.rename(columns={"unit": "area"}).assign(peer=lambda x: x["peer"].astype(str))
    tables["peer_group"] = Publication("peer_group", pk, slices=("peer",), part_counts=sizes.select(
        pl.col("area").alias("peer"), pl.lit(CELL).alias("part"), "n"), keep=("area", "rank"))
    p = panel.filter(pl.col("area").is_in([area, *ids])).to_pandas()
    med = p[p["area"].isin(ids)].groupby("month")["employment_rate"].median().rename("peer_median")
    own = p[p["area"] == area].set_index("month")["employment_rate"].rename("treated")
    d = pd.concat([own, med], axis=1).reset_index()
    d["month_since"] = d["month"] - t0
    d["gap"] = d["treated"] - d["peer_median"]
    size = int(panel.filter(pl.col("area") == area)["persons"].max())
    tables["peer_comparison"] = _series_publication("peer_comparison", d, panel, area, ids, size, "t", "p",
                                                    ("treated",), ("peer_median",), ("gap",))
    figures.append(FigureSpec("peer_groups", text("peer_caption", lang, area=area), "peer_comparison",
                              partial(_draw_peers, lang=lang, area=area)))
    before = d.loc[d["month_since"] < 0, "gap"].mean()
    after = d.loc[d["month_since"] >= 0, "gap"].mean()
    return float(before), float(after)


def _draw_paths(df: pd.DataFrame, lang: str, area: str):
    d = df.dropna(subset=["treated", "synthetic"])
    return plots.multi_lines(d, "month_since", ["treated", "synthetic"], [area, text("synthetic_of", lang, area=area)],
                             vline=-0.5, xlabel=text("months_since_reform", lang),
                             ylabel=text("employment_rate", lang), percent=True)


def _draw_placebos(df: pd.DataFrame, lang: str, area: str):
    d = df.dropna(subset=["gap"])
    return plots.highlight_lines(d, "month_since", "gap", "unit", area, vline=-0.5, hline=0.0, percent=True,
                                 xlabel=text("months_since_reform", lang), ylabel=text("gap_label", lang),
                                 highlight_label=area, others_label=text("placebo_areas", lang))


def _draw_ratios(df: pd.DataFrame, lang: str, k: float = 5.0):
    return plots.rmspe_histogram(df, unit="area", xlabel=text("rmspe_ratio", lang), max_pre_mspe_ratio=k)


def _draw_peers(df: pd.DataFrame, lang: str, area: str):
    d = df.dropna(subset=["treated", "peer_median"])
    return plots.multi_lines(d, "month_since", ["treated", "peer_median"], [area, text("peer_median", lang)],
                             vline=-0.5, percent=True, xlabel=text("months_since_reform", lang),
                             ylabel=text("employment_rate", lang))


# ---------------------------------------------------------------------------------------
# Report section
# ---------------------------------------------------------------------------------------


def _balance_table(d, page, area: str):
    """Predictor balance (Synth's synth.tab): the area, its synthetic control and the donor mean;
    shares in percent."""
    lang = page.lang
    f = d.frame
    share = ~f["predictor"].isin(["covariate_log_persons"])
    scaled = f.assign(**{c: f[c].where(~share, f[c] * 100) for c in ("treated", "synthetic", "donor_mean", "gap")})
    scaled["label"] = [text("pred_outcome_pre", lang) if p == "outcome_pre" else
                       text("pred_outcome_year", lang, year=p.rsplit("_", 1)[1]) if p.startswith("outcome_pre_") else
                       text(f"pred_{p.removeprefix('covariate_')}", lang) for p in f["predictor"]]
    cols = [("label", text("pred_head", lang), "text"), ("treated", area, "num2"),
            ("synthetic", text("synthetic_of", lang, area=area), "num2"),
            ("donor_mean", text("donor_mean", lang), "num2"), ("gap", text("pred_gap", lang), "num2")]
    return page.table(d, cols, text("synth_balance_caption", lang, area=area), frame=scaled,
                      notes=[text("synth_balance_note", lang)], name=d.name)


def write(res, page) -> None:
    f: SynthFacts = res.facts
    lang = page.lang
    sub = ReportSection(key="synth", title=text("synth_title", lang))
    e = res.estimates.frame
    a = e[e["analysis"] == "synthetic_control"]
    row = a.iloc[0] if len(a) else None
    placebo = (text("synth_placebo_text", lang, p=page.fmt("p", f.placebo_p), rank=f.placebo_rank, n=f.placebo_units)
               if f.placebo_p is not None else "")
    sub.paragraphs.append(text("synth_text", lang, area=f.area, month=f.policy_month, donors=f.n_donors,
                               excluded=f.n_excluded, min_cell=page.rules.min_cell, first=month_label(f.first),
                               last=month_label(f.last), rmspe=page.fmt("pp_abs", f.pre_rmspe),
                               att=page.fmt("pp", row["estimate"] if row is not None else None),
                               lo=page.fmt("pp", row["ci_lower"] if row is not None else None),
                               hi=page.fmt("pp", row["ci_upper"] if row is not None else None)) + placebo)
    if f.predictors == "structural":
        sub.paragraphs.append(text("synth_structural", lang))
    if f.loo_range is not None:
        sub.paragraphs.append(text("synth_loo", lang, lo=page.fmt("pp", f.loo_range[0]), hi=page.fmt("pp", f.loo_range[1])))
    if "truth" in a and a["truth"].notna().any():
        sub.paragraphs.append(text("synth_truth", lang, truth=page.fmt("pp", a["truth"].iloc[0])))
    if "synth_balance" in res.tables:
        sub.tables.append(_balance_table(res.tables["synth_balance"], page, f.area))
    w = res.tables["synth_weights"]
    sub.tables.append(page.table(w, [("area", text("donor_area", lang), "text"), ("weight", text("weight", lang), "num3")],
                                 text("donor_weights", lang), rows=list(w.frame.index[:10]), name="synth_weights"))
    if f.peers:
        before, after = f.peer_did
        sub.paragraphs.append(text("peer_text", lang, area=f.area, n=len(f.peers), peers=", ".join(f.peers),
                                   before=page.fmt("pp", before), after=page.fmt("pp", after),
                                   change=page.fmt("pp", after - before)))
    if f.compare is not None:
        area_compare.write(res, page, sub)
    sub.tables.append(page.flow_table(res.flows["synth"], text("flow_caption_synth", lang)))
    sub.figures += page.figures_of(res)
    sub.warnings += [n.text for n in res.notices]
    page.add_subsection("effects", sub)
    robustness.write(res, page)
