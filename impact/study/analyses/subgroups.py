"""For whom does it work: the matching design's effect by sex, age band, language, duration of
unemployment and service line (:func:`impact.estimators.heterogeneity.heterogeneous_effects`).

Estimand per subgroup: the ATT of starting the service in month u rather than not then (the
matching design's 'join now vs wait'), among the design's treated rows in the subgroup, for the
headline outcome (open-market employment at the longest horizon); doubly robust scores with
cross-fitted boosting nuisances, standard errors clustered on the person, one Wald test per
variable that its subgroups have the same effect. Every subgroup cell rests on its own treated
and comparison persons: a subgroup with fewer than ``min_cell`` of either is suppressed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from impact.report.disclosure import CELL
from impact.report.wording import text
from impact.study.analyses.effects import estimates_publication

#: Subgroup variables (columns of :func:`impact.estimators.heterogeneity.dynamic_segments`).
SEGMENTS = ("sex", "age_band", "language", "duration_band", "segment")
#: Cross-fitting folds (5: the split's own noise is about 0.15 standard errors, see the estimator).
FOLDS = 5
#: Rows each nuisance model is fitted on at most (a random subsample, named in the estimator's notes).
NUISANCE_ROWS = 20_000


def run(ctx: Any, data: pl.DataFrame, outcome: str, horizon: float, covariates: list[str], exact: list[str],
        key: str) -> tuple[dict, dict]:
    """The subgroup table ``{key}_subgroups`` (and its equal-effect tests in the facts)."""
    from impact.estimators.heterogeneity import dynamic_segments, heterogeneous_effects

    d = dynamic_segments(data)
    segs = [s for s in SEGMENTS if s in d.columns]
    cats = [c for c in exact if c in d]
    # only the columns the estimator uses (it puts the rows in its own order: a copy of what it is given)
    d = d.select(list(dict.fromkeys(["treated", outcome, *covariates, *cats, *segs, "person_id"])))
    res = heterogeneous_effects(d, "treated", outcome, covariates, segs, categorical=cats,
                                cluster="person_id", horizon=horizon, n_folds=FOLDS, forest=False, seed=0,
                                nuisance_max_rows=NUISANCE_ROWS,
                                level=1 - ctx.cfg.report.alpha)
    e = res.estimates
    e = e[e["segment_var"] != "all"].reset_index(drop=True)
    f = e[["segment_var", "segment", "estimate", "std_error", "ci_lower", "ci_upper", "p_value", "n_treated",
           "n_controls"]].copy()
    f.insert(0, "outcome", outcome)
    # the persons behind each subgroup: its treated rows' and its comparison rows' persons
    # (distinct before the long form: a person is a comparison row in many months)
    m = d.select(pl.col("person_id").cast(pl.Int64), pl.when(pl.col("treated") > 0).then(pl.lit("treated"))
                 .otherwise(pl.lit("controls")).alias("part"), *[pl.col(s).cast(pl.String) for s in segs]).unique()
    m = m.unpivot(index=["person_id", "part"], on=segs, variable_name="segment_var", value_name="_value").unique()
    m = m.rename({"_value": "segment"}).select("segment_var", "segment", "part", "person_id")
    m = pl.concat([m, m.select("segment_var", "segment", "person_id").unique().select(
        "segment_var", "segment", part=pl.lit(CELL), person_id="person_id")])
    tests = {r["segment_var"]: (float(r["wald"]), int(r["df"]), float(r["p_value"])) for r in res.tests.to_dict("records")}
    return ({f"{key}_subgroups": estimates_publication(f"{key}_subgroups", f, m, keys=("segment_var", "segment"))},
            {"outcome": outcome, "horizon": horizon, "tests": tests})


def _value_label(var: str, value: str, lang: str) -> str:
    if var == "segment":
        return text("sub_segment_value", lang, code="00" if value == "reference" else value)
    if var == "duration_band":
        return text("sub_months", lang, band=value.replace("-", "\u2013"))
    if var == "age_band":
        return value.replace("-", "\u2013")
    return text(f"sub_{var}_{value}", lang)


def write(res: Any, page: Any, sub: Any, key: str, info: dict | None) -> None:
    """The subsection 'For whom does it work' of a matching analysis."""
    name = f"{key}_subgroups"
    if info is None or name not in res.tables:
        return
    lang = page.lang
    d = res.tables[name]
    f = d.frame.assign(var=[text(f"sub_var_{v}", lang) for v in d.frame["segment_var"]],
                       value=[_value_label(v, str(s), lang) for v, s in zip(d.frame["segment_var"], d.frame["segment"])])
    cols = [("var", text("sub_variable", lang), "text"), ("value", text("sub_group", lang), "text"),
            ("estimate", text("estimate", lang), "pp", ("ci_lower", "ci_upper")),
            ("std_error", text("std_error", lang), "pp"), ("n_treated", text("n_treated", lang), "int"),
            ("n_controls", text("n_controls", lang), "int")]
    tests = "; ".join(text("sub_test", lang, var=text(f"sub_var_{v}", lang), chi2=page.fmt("num1", t[0]), df=t[1],
                           p=page.fmt("p", t[2])) for v, t in info["tests"].items())
    sub.paragraphs.append(text("sub_text", lang, h=int(info["horizon"]), min_cell=page.rules.min_cell, tests=tests))
    first = {"reference": "", "<25": "0", "0-5": "0", "6-11": "1"}  # natural order of the bands, the reference first
    rows = sorted(f.index, key=lambda i: (SEGMENTS.index(f.at[i, "segment_var"]) if f.at[i, "segment_var"] in SEGMENTS
                                          else 99, first.get(str(f.at[i, "segment"]), str(f.at[i, "segment"]))))
    sub.tables.append(page.table(d, cols, text("sub_caption", lang), frame=f, rows=rows, name=name))
    if not np.isfinite(pd.to_numeric(d.frame["estimate"], errors="coerce")).all():
        sub.paragraphs.append(text("sub_suppressed", lang, min_cell=page.rules.min_cell))


__all__ = ["run", "write", "SEGMENTS"]
