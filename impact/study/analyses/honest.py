"""Honest event-study bounds in the DiD analysis (``estimators.did.honest``): how much would parallel
trends have to fail to overturn the average effect after entry (Rambachan and Roth 2023)?

The bounds need every event-study coefficient relative to one reference month, so with
``estimators.did.base_period = "varying"`` the group-time effects are refitted with the universal
base period for them (the post-entry effects are the same; only the pre-entry coefficients
change meaning). Every published bound rests on the same treated and comparison persons as the
average effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import pandas as pd
import polars as pl

from impact import plots
from impact.errors import DesignError
from impact.report.disclosure import Group, Publication
from impact.report.robustness_text import breakdown_sentence
from impact.report.wording import text
from impact.study.analyses.effects import per_row_members
from impact.study.context import FigureSpec, Notice

LEVEL = 0.95
VALUES = ("estimate", "lower", "upper", "breakdown")


@dataclass(frozen=True)
class HonestFacts:
    """Person-free facts of the honest bounds: methods computed, whether the event study was refitted."""

    methods: tuple[str, ...]
    refitted: bool
    post: int
    failed: tuple[tuple[str, str], ...] = ()  # (method, why)


def run(agg: Any, base_period: str, refit: Callable[[], Any], methods: tuple[str, ...], post: int,
        persons: pl.DataFrame, lang: str) -> tuple[dict[str, Publication], list[FigureSpec], HonestFacts, list[Notice]]:
    """Bounds of the average effect over event times 0..post by each method in ``methods``.

    ``agg``: the analysis's event study (``att_gt(...).aggregate("dynamic")``); ``refit()``: the
    same with ``base_period="universal"`` (called when ``base_period`` is "varying");
    ``persons``: ``part, person_id`` of the estimate (parts treated, controls, cell).
    """
    from impact.estimators import did

    refitted = base_period != "universal"
    es = refit() if refitted else agg
    rows, failed, notices = [], [], []
    for method in methods:
        try:
            hb = did.honest_bounds(es, method=method, target="average", level=LEVEL)
        except DesignError as e:  # e.g. too few pre-entry months for smoothness
            failed.append((method, str(e)))
            notices.append(Notice(text("honest_failed", lang, method=method, why=e), level="borderline"))
            continue
        o = hb.original
        bd = float(hb.breakdown)
        rows.append({"method": method, "row": 0, "kind": "original", "m": np.nan, "estimate": o["estimate"],
                     "lower": o["lower"], "upper": o["upper"], "breakdown": bd})
        for i, r in enumerate(hb.table.itertuples(), start=1):
            rows.append({"method": method, "row": i, "kind": hb.inference, "m": float(r.m), "estimate": o["estimate"],
                         "lower": float(r.lower), "upper": float(r.upper), "breakdown": bd})
    facts = HonestFacts(methods=tuple(m for m in methods if m not in dict(failed)), refitted=refitted, post=post,
                        failed=tuple(failed))
    if not rows:
        return {}, [], facts, notices
    frame = pd.DataFrame(rows).assign(analysis="did_honest")
    members = per_row_members(frame, ["method", "row"], persons)
    pub = Publication("did_honest", frame, slices=("method", "row"), members=members,
                      groups=(Group(VALUES, parts=("treated", "controls")),), keep=("analysis", "kind", "m"))
    figures = [FigureSpec(f"did_honest_{m}", text("honest_caption", lang, what=text(f"honest_method_{m}", lang)),
                          "did_honest", partial(_draw, method=m, lang=lang)) for m in facts.methods]
    return {"did_honest": pub}, figures, facts, notices


def _draw(df: pd.DataFrame, method: str, lang: str):
    d = df[df["method"] == method].dropna(subset=["lower", "upper"])
    bd = d["breakdown"].dropna()
    return plots.sensitivity_plot(d[["m", "lower", "upper", "kind"]], breakdown=float(bd.iloc[0]) if len(bd) else None,
                                  method=method, xlabel=text(f"honest_xlabel_{method}", lang),
                                  ylabel=text("effect_on_employment", lang), original_label=text("honest_original", lang),
                                  robust_label=text("honest_robust", lang),
                                  breakdown_label=text("honest_breakdown_label", lang), percent=True,
                                  original_tick=text("honest_pt_tick", lang))


def write(res, page, sub) -> None:
    """The bounds' paragraph (the breakdown values in plain words) and table into the DiD subsection."""
    f: HonestFacts | None = getattr(res.facts, "honest", None)
    if f is None or "did_honest" not in res.tables:
        return
    lang = page.lang
    d = res.tables["did_honest"]
    t = d.frame
    sentences = []
    for method in f.methods:
        m = t[t["method"] == method]
        orig = m[m["kind"] == "original"]
        if orig.empty or orig[list(VALUES)].isna().to_numpy().any():
            continue  # suppressed by disclosure control
        o = orig.iloc[0]
        bounds = SimpleNamespace(original={"estimate": o["estimate"], "lower": o["lower"], "upper": o["upper"]},
                                 breakdown=o["breakdown"], method=method, table=m[m["kind"] != "original"], level=LEVEL)
        sentences.append(breakdown_sentence(bounds, lang, fmt=lambda v: page.fmt("pp", v),
                                            size_fmt=lambda v: page.fmt("pp_abs", v)))
    sub.paragraphs.append(text("honest_text", lang, post=f.post, level=int(round(100 * LEVEL)),
                               sentences=" ".join(dict.fromkeys(sentences))))
    if f.refitted:
        sub.paragraphs.append(text("honest_universal", lang))
    m_kind = {"relative_magnitude": "num2", "smoothness": "pp_abs"}
    shown = t.assign(what=[text(f"honest_method_{m}" if k != "original" else "honest_original", lang)
                           for m, k in zip(t["method"], t["kind"])],
                     m_shown=[None if k == "original" else page.fmt(m_kind[m], v)
                              for m, k, v in zip(t["method"], t["kind"], t["m"])])
    shown = shown[~((shown["kind"] == "original") & shown.duplicated("kind"))]  # parallel trends once
    cols = [("what", text("honest_restriction", lang), "text"), ("m_shown", text("honest_m", lang), "text"),
            ("lower", text("honest_lower", lang), "pp"), ("upper", text("honest_upper", lang), "pp")]
    sub.tables.append(page.table(d, cols, text("honest_title", lang), frame=shown))
