"""Diagnostics of a matching analysis as R ``cobalt`` and Stata ``tebalance``/``teffects overlap``
show them: covariate balance (group means, SMD, variance ratio, KS statistic, before and after
matching), sample sizes and common support (rows and persons kept and lost at each step, the
weights' effective sample size) and the propensity-score overlap of all rows beside that of the
matched sample (weighted by the matching weights).

The numbers come from the estimators layer (:func:`impact.estimators.matching.balance.balance_table`,
``MatchingResults.sample_sizes``); this module makes them disclosable tables and report parts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from impact import plots
from impact.report.disclosure import CELL, TOTAL, Group, Publication
from impact.report.wording import covariate_label, label, text

#: Steps of the sample-sizes table, in order (the margin, ``TOTAL``, is every row of the group).
STATUSES = ("no_comparison_cell", "off_support", "unmatched", "matched")


def balance_publication(name: str, res: Any, used: pl.DataFrame) -> Publication:
    """The balance table; a binary covariate's row also needs min_cell persons with and without it in
    each group (its mean would otherwise count them)."""
    bal = res.balance.copy()
    counts = []
    for grp, sel in (("treated", pl.col("_t")), ("controls", ~pl.col("_t"))):
        g = used.filter(sel)
        counts.append(pl.DataFrame({"covariate": bal["covariate"].astype(str).tolist(), "part": grp,
                                    "n": g["person_id"].n_unique()}))
        for c in bal["covariate"]:  # a few dozen covariates
            if c in g.columns and set(g[c].drop_nulls().unique().to_list()) <= {0, 1, 0.0, 1.0}:
                yes = g.filter(pl.col(c) == 1)["person_id"].n_unique()
                no = g.filter(pl.col(c) == 0)["person_id"].n_unique()
                counts.append(pl.DataFrame({"covariate": [c, c], "part": [f"{grp}_1", f"{grp}_0"], "n": [yes, no]}))
            else:
                counts.append(pl.DataFrame({"covariate": [c, c], "part": [f"{grp}_1", f"{grp}_0"],
                                            "n": [g["person_id"].n_unique()] * 2}))
    pc = pl.concat(counts, how="vertical_relaxed")
    pc = pl.concat([pc, pc.filter(pl.col("part") == "treated").with_columns(pl.lit(CELL).alias("part"))])
    cols = tuple(c for c in bal.columns if c != "covariate")
    return Publication(name=name, frame=bal, slices=("covariate",), part_counts=pc,
                       groups=(Group(cols, parts=("treated", "controls", "treated_1", "treated_0", "controls_1",
                                                  "controls_0")),))


def support_publication(name: str, res: Any, data: pl.DataFrame, lost: pl.DataFrame | None) -> Publication:
    """Sample sizes and common support by group: the design rows (and their persons) of the
    population, those lost for want of a comparison row in their exact cell (``lost``: the
    treated rows :func:`~impact.study.analyses.matching.restrict_design` dropped), trimmed off the
    score's support, left without a match or unused, and matched; ``ess``: Kish's effective sample
    size of the matching weights (``MatchingResults.sample_sizes``). Steps add up to the total
    (rows), so secondary suppression runs over them."""
    w = np.asarray(res.weights, float)
    t = np.asarray(res.treated, bool)
    score = np.asarray(res.score, float) if res.score is not None else np.zeros(len(w))
    status = np.where(w > 0, "matched", np.where(np.isnan(score), "off_support", "unmatched"))
    rows = data.select(pl.col("person_id").cast(pl.Int64)).with_columns(
        group=pl.Series(np.where(t, "treated", "control")), status=pl.Series(status))
    if lost is not None and lost.height:
        rows = pl.concat([rows, lost.select(pl.col("person_id").cast(pl.Int64)).with_columns(
            group=pl.lit("treated"), status=pl.lit("no_comparison_cell"))])
    cells = pl.concat([rows, rows.with_columns(status=pl.lit(TOTAL))])
    f = cells.group_by("group", "status").agg(rows=pl.len(), persons=pl.col("person_id").n_unique())
    full = pl.DataFrame({"group": [g for g in ("treated", "control") for _ in (*STATUSES, TOTAL)],
                         "status": [s for _ in range(2) for s in (*STATUSES, TOTAL)]})
    f = full.join(f, on=["group", "status"], how="left").with_columns(pl.col("rows", "persons").fill_null(0))
    f = f.filter(~((pl.col("group") == "control") & (pl.col("status") == "no_comparison_cell"))).to_pandas()
    ess = {"treated": np.nan, "control": np.nan}
    if res.sample_sizes is not None:
        ess = dict(zip(res.sample_sizes["group"], res.sample_sizes["ess"]))
    f["ess"] = [ess[g] if s == "matched" else np.nan for g, s in zip(f["group"], f["status"])]
    f[["rows", "persons"]] = f[["rows", "persons"]].astype(float).where(f["rows"] > 0)  # no rows: '.', not a small cell
    members = cells.select(pl.col("group", "status"), pl.lit(CELL).alias("part"), "person_id").unique()
    return Publication(name=name, frame=f, slices=("group",), dims=("status",), count="rows", counts=("persons",),
                       members=members)


def overlap_publication(name: str, res: Any, data: pl.DataFrame, bins: int = 30) -> Publication:
    """Propensity-score histograms by group, of all rows (``sample`` "all") and of the matched
    sample (``"matched"``: rows with weight, densities weighted by the matching weights, as
    cobalt's ``bal.plot(which = "both")``). Bins in distinct persons, each bin a cell of a one-way
    table whose total is the group (so a suppressed bin cannot be recovered)."""
    score = np.asarray(res.score, float)
    w = np.asarray(res.weights, float)
    ok = np.isfinite(score)
    grp = np.where(np.asarray(res.treated) > 0, "treated", "control")
    edges = np.linspace(score[ok].min(), score[ok].max(), bins + 1) if ok.any() else np.array([0.0, 1.0])
    b = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, bins - 1)
    pid = data["person_id"].to_numpy()
    frames = []
    for sample, sel, wt in (("all", ok, np.ones(len(w))), ("matched", ok & (w > 0), w)):
        frames.append(pl.DataFrame({"sample": sample, "group": grp[sel], "bin": b[sel].astype(str),
                                    "person_id": pid[sel], "w": wt[sel]}))
    d = pl.concat(frames)
    rows = d.group_by("sample", "group", "bin").agg(n=pl.len(), wsum=pl.col("w").sum()).with_columns(
        pl.col("bin").cast(pl.Int64))
    tot = d.group_by("sample", "group").agg(n=pl.len(), wsum=pl.col("w").sum()).with_columns(
        bin=pl.lit(None, pl.Int64)).sort("sample", "group")  # (group_by gives the groups in any order)
    f = pl.concat([rows.sort("sample", "group", "bin"), tot.select(rows.columns)]).to_pandas()
    f["left"] = [edges[int(x)] if x == x else np.nan for x in f["bin"]]
    f["right"] = [edges[int(x) + 1] if x == x else np.nan for x in f["bin"]]
    size = f.groupby(["sample", "group"])["wsum"].transform(lambda s: s.iloc[-1])
    f["density"] = f["wsum"] / size / (f["right"] - f["left"])
    f = f.drop(columns="wsum")
    f["bin"] = f["bin"].map(lambda x: TOTAL if x != x else str(int(x)))
    members = pl.concat([d.select("sample", "group", "bin", pl.lit(CELL).alias("part"), "person_id"),
                         d.select("sample", "group", pl.lit(TOTAL).alias("bin"), pl.lit(CELL).alias("part"),
                                  "person_id")])
    return Publication(name=name, frame=f, dims=("bin",), slices=("sample", "group"), count="n",
                       members=members.unique(), keep=("left", "right"))


def draw_love(df: pd.DataFrame, lang: str):
    from impact.estimators.matching.balance import love_plot_data

    d = love_plot_data(df.dropna(subset=["smd_after"]))
    d["covariate"] = d["covariate"].map(lambda c: covariate_label(c, lang))
    return plots.dot_plot(d, y="covariate", x="abs_smd", hue="stage", reference=0.1,
                          xlabel=text("abs_smd", lang))


def draw_overlap(df: pd.DataFrame, lang: str):
    d = df[df["bin"] != TOTAL].dropna(subset=["density"])
    if "sample" not in d:
        d = d.assign(sample="all")
    return plots.binned_histogram(d, xlabel=text("propensity_score", lang), panel="sample",
                                  panel_titles={"all": text("overlap_all", lang),
                                                "matched": text("overlap_matched", lang)},
                                  labels={"treated": text("plot_treated", lang), "control": text("plot_control", lang)})


def balance_table(d, page, title: str):
    """Covariate balance as cobalt/tebalance show it: group means, SMD and KS before and after
    matching, variance ratio after (continuous covariates), readable labels; flags beyond |SMD| 0.1
    or VR outside [0.5, 2]."""
    lang = page.lang
    f = d.frame.assign(label=d.frame["covariate"].map(lambda c: covariate_label(c, lang)))
    cols = [("label", text("covariate_head", lang), "text"),
            ("mean_treated_before", text("bal_mean_treated_before", lang), "num2"),
            ("mean_control_before", text("bal_mean_control_before", lang), "num2"),
            ("smd_before", text("bal_smd_before", lang), "num3"), ("ks_before", text("bal_ks_before", lang), "num3"),
            ("mean_treated_after", text("bal_mean_treated_after", lang), "num2"),
            ("mean_control_after", text("bal_mean_control_after", lang), "num2"),
            ("smd_after", text("bal_smd_after", lang), "num3"), ("vr_after", text("bal_vr_after", lang), "num2"),
            ("ks_after", text("bal_ks_after", lang), "num3")]
    return page.table(d, cols, text("balance_caption", lang, title=title), frame=f,
                      notes=[text("balance_note", lang)], name=d.name)


def support_table(d, page, title: str):
    """Sample sizes and common support (cobalt's sample sizes, Stata's teffects overlap counts):
    rows and persons by group and step, with the effective sample size of the matched rows."""
    lang = page.lang
    f = d.frame.assign(step=[text(f"support_{s if s != TOTAL else 'all'}", lang) for s in d.frame["status"]],
                       grp=[text("grp_treated" if g == "treated" else "grp_comparison", lang) for g in d.frame["group"]])
    order = {s: i for i, s in enumerate((TOTAL, *STATUSES))}
    rows = sorted(f.index, key=lambda i: (f.at[i, "group"] != "treated", order[f.at[i, "status"]]))
    cols = [("grp", text("group", lang), "text"), ("step", text("step", lang), "text"),
            ("rows", text("support_rows", lang), "int"), ("persons", label("persons", lang), "int"),
            ("ess", text("support_ess", lang), "num1")]
    return page.table(d, cols, text("support_caption", lang, title=title), rows=rows, frame=f,
                      notes=[text("support_note", lang)], name=d.name)


__all__ = ["balance_publication", "support_publication", "overlap_publication", "draw_love", "draw_overlap",
           "balance_table", "support_table"]
