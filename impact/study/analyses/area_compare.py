"""Synthetic control, synthetic DiD, augmented synthetic control and DiD side by side for the area
reform (``estimators.synth.compare``), part of the synthetic-control analysis.

All estimators run on the synthetic control's area x month panel (same treated area, donors and
months), so they differ only by the estimator; each row carries the diagnostics that explain
the differences (pre-period fit, concentration of the donor weights, extrapolation) and the
report turns them into a short "why they differ" paragraph. Every published number rests on
the employed and the not employed persons of the treated area and of each donor the estimator
gives weight (the fewest over the months).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from impact import plots
from impact.report.disclosure import CELL, Group, Publication
from impact.report.robustness_text import why_estimators_differ
from impact.report.wording import label, text

#: Estimator label (impact.estimators.synth.compare) -> the ``analysis`` of its row.
ANALYSES = {"synthetic control": "synthetic_control", "synthetic DiD": "synthetic_did",
            "augmented synthetic control": "augmented_synthetic_control", "DiD": "area_did"}
#: Diagnostics published with the estimates.
DIAGNOSTICS = ("pre_rmse", "max_weight", "effective_donors", "donors_used", "negative_weight", "augmentation")
VALUES = ("estimate", "std_error", "ci_lower", "ci_upper", "truth", *DIAGNOSTICS)
#: Weights below this count as zero (the estimators' own cut for "donors used").
USED = 1e-6


@dataclass(frozen=True)
class CompareFacts:
    """Person-free facts of the comparison: the estimators compared."""

    estimators: tuple[str, ...]
    left_out: tuple[str, ...] = ()  # donors left out of the comparison (disclosure control)


def _fewest(panel: pl.DataFrame, areas: list[str], part: str) -> pl.DataFrame:
    """Fewest employed (``{part}_emp``) and not employed (``{part}_not``) persons over ``areas`` and months."""
    p = panel.filter(pl.col("area").is_in(areas))
    emp, nemp = p["employed"].min(), (p["persons"] - p["employed"]).min()
    return pl.DataFrame({"part": [f"{part}_emp", f"{part}_not"], "n": [emp or 0, nemp or 0]},
                        schema={"part": pl.String, "n": pl.Int64})


def _row_counts(key: str, value: str, panel: pl.DataFrame, area: str, donors: list[str], size: int) -> pl.DataFrame:
    """Part counts of one published row: the treated area (``t``), its donors (``d``), the cell."""
    parts = [_fewest(panel, [area], "t"), _fewest(panel, donors, "d") if donors else
             pl.DataFrame({"part": ["d_emp", "d_not"], "n": [0, 0]}, schema={"part": pl.String, "n": pl.Int64}),
             pl.DataFrame({"part": [CELL], "n": [size]}, schema={"part": pl.String, "n": pl.Int64})]
    return pl.concat(parts).select(pl.lit(value).alias(key), "part", "n")


def run(data: pl.DataFrame, panel: pl.DataFrame, sc: Any, area: str, donors: list[str], t0: int, size: int,
        estimators: tuple[str, ...], min_cell: int, lang: str) -> tuple[dict[str, Publication], list, CompareFacts]:
    """The comparison's publications, figures and facts (``sc``: the analysis's synthetic control fit).

    Synthetic DiD and DiD give weight to nearly every donor, so the comparison keeps only the
    donors whose employed and not employed persons reach ``min_cell`` in every month (else none
    of its numbers could be published); when that drops a donor, the synthetic control is refitted
    on the same donors as the others."""
    from impact.estimators import synth

    small = panel.filter(pl.col("area").is_in(donors)).group_by("area").agg(
        lo=pl.min_horizontal(pl.col("employed").min(), (pl.col("persons") - pl.col("employed")).min()))
    left_out = sorted(small.filter(pl.col("lo") < min_cell)["area"].to_list())
    if left_out:
        donors = [d for d in donors if d not in left_out]
        sc = None
    cmp = synth.compare_area_estimators(data, "area", "month", "employment_rate", area, t0, donors=donors,
                                        estimators=("sc", *estimators), sc=sc, seed=0)
    t = cmp.table
    t = t.assign(analysis=t["estimator"].map(ANALYSES), outcome="employment_rate", horizon=np.nan,
                 augmentation=t["augmentation"] if "augmentation" in t else np.nan)
    t = t[["analysis", "estimator", "outcome", "horizon", "interval", "level_shift",
           *[c for c in VALUES if c in t]]].reset_index(drop=True)
    used = {ANALYSES[k]: [str(a) for a, w in v.items() if abs(w) > USED] for k, v in cmp.weights.items()}
    pc = pl.concat([_row_counts("analysis", a, panel, area, used[a], size) for a in t["analysis"]])
    tables = {"area_estimators": Publication(
        "area_estimators", t, slices=("analysis",), part_counts=pc,
        groups=(Group(tuple(c for c in VALUES), parts=("t_emp", "t_not", "d_emp", "d_not")),),
        keep=("estimator", "outcome", "horizon", "interval", "level_shift"))}
    figures = [_figure("area_estimators", "area_compare_caption", "area_estimators", _draw_comparison, lang, area)]
    facts = CompareFacts(estimators=tuple(t["estimator"]), left_out=tuple(left_out))
    if "sdid" in cmp.fits and "synthetic DiD" in cmp.weights:
        sd = cmp.fits["sdid"]
        tr = sd.trends("sdid")
        tr = tr.assign(month=tr["time"].astype(int), month_since=tr["time"].astype(int) - t0).drop(columns="time")
        tables["sdid_trends"] = _series(tr, panel, area, used["synthetic_did"], size)
        figures.append(_figure("sdid_trends", "sdid_trends_caption", "sdid_trends", _draw_trends, lang, area))
        uc = sd.unit_contributions("sdid").rename(columns={"unit": "area"})
        uc["area"] = uc["area"].astype(str)
        pc = pl.concat([_row_counts("area", a, panel, area, [a], size) for a in uc["area"]])
        tables["sdid_unit_weights"] = Publication(
            "sdid_unit_weights", uc, slices=("area",), part_counts=pc,
            groups=(Group(("estimate", "weight"), parts=("t_emp", "t_not", "d_emp", "d_not")),))
        figures.append(_figure("sdid_unit_weights", "sdid_units_caption", "sdid_unit_weights",
                               partial(_draw_units, estimate=float(sd.estimate)), lang, area))
    return tables, figures, facts


def _series(frame: pd.DataFrame, panel: pl.DataFrame, area: str, donors: list[str], size: int) -> Publication:
    """Monthly weighted trends: the treated area's mean rests on its persons, the others on the donors' too."""
    months = frame["month"].astype(str).tolist()
    pc = pl.concat([_row_counts("month", m, panel, area, donors, size) for m in months])
    return Publication("sdid_trends", frame, slices=("month",), part_counts=pc,
                       groups=(Group(("treated",), parts=("t_emp", "t_not")),
                               Group(("control", "control_shifted", "time_weight"),
                                     parts=("t_emp", "t_not", "d_emp", "d_not"))),
                       keep=("month_since", "post"))


def _figure(name: str, caption: str, table: str, draw: Any, lang: str, area: str):
    from impact.study.context import FigureSpec

    return FigureSpec(name, text(caption, lang, area=area), table, partial(draw, lang=lang, area=area))


def _draw_comparison(df: pd.DataFrame, lang: str, area: str):
    d = df.dropna(subset=["estimate"])
    d = d.assign(name=[textwrap.fill(label(e, lang), 16) for e in d["estimator"]])
    return plots.estimator_comparison_plot(d, label="name", ylabel=text("effect_on_employment", lang), percent=True,
                                           estimate_label=text("area_estimate_interval", lang),
                                           truth_label=text("truth", lang))


def _draw_trends(df: pd.DataFrame, lang: str, area: str):
    d = df.dropna(subset=["treated", "control", "control_shifted"]).rename(columns={"month_since": "time"})
    return plots.sdid_trends_plot(d.assign(time_weight=d["time_weight"].fillna(0.0)), treated_label=area,
                                  control_label=text("sdid_control", lang), shifted_label=text("sdid_shifted", lang),
                                  time_weights_label=text("sdid_time_weights", lang),
                                  xlabel=text("months_since_reform", lang), ylabel=text("employment_rate", lang))


def _draw_units(df: pd.DataFrame, lang: str, area: str, estimate: float):
    d = df.dropna(subset=["estimate", "weight"])
    return plots.unit_weights_plot(d.rename(columns={"area": "unit"}), estimate, xlabel=text("donor_area", lang),
                                   ylabel=text("sdid_unit_did", lang), weight_label=text("sdid_unit_weight", lang),
                                   zero_label=text("sdid_unit_zero", lang), estimate_label=label("synthetic DiD", lang))


def write(res, page, sub) -> None:
    """The comparison's table, its "why they differ" paragraph and truth warnings into the synthetic
    control's subsection ``sub`` (figures come with the analysis's)."""
    from impact.study.truth import truth_notices

    if "area_estimators" not in res.tables:
        return
    lang = page.lang
    d = res.tables["area_estimators"]
    f = d.frame
    sub.paragraphs.append(text("area_compare_text", lang, n=len(f) - 1,
                               others=_join([label(e, lang) for e in f["estimator"].iloc[1:]], lang)))
    pp = lambda v: page.fmt("pp", v)  # noqa: E731
    if res.facts.compare.left_out:
        sub.paragraphs.append(text("area_compare_left_out", lang, areas=", ".join(res.facts.compare.left_out),
                                   min_cell=page.rules.min_cell))
    ok = f.dropna(subset=["estimate", "pre_rmse"])
    if len(ok) >= 2:
        sub.paragraphs.append(why_estimators_differ(ok, lang, fmt=pp, size_fmt=lambda v: page.fmt("pp_abs", v)))
    cols = [("estimator", text("estimator", lang), "text"),
            ("estimate", text("estimate", lang), "pp", ("ci_lower", "ci_upper")),
            ("interval", text("interval_kind", lang), "text"), ("pre_rmse", text("pre_rmse", lang), "pp_abs"),
            ("max_weight", text("max_weight", lang), "num2"),
            ("effective_donors", text("effective_donors", lang), "num1"),
            ("negative_weight", text("negative_weight", lang), "num2")]
    if f["truth"].notna().any() if "truth" in f else False:
        cols.insert(2, ("truth", text("truth", lang), "pp"))
    sub.tables.append(page.table(d, cols, text("area_compare_caption", lang, area=res.facts.area),
                                 notes=[text("area_compare_note", lang)]))
    others = f[f["analysis"] != "synthetic_control"]
    page.notices += truth_notices(others, lang)


def _join(items: list[str], lang: str) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + text("and_join", lang) + items[-1]
