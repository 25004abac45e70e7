"""The first page of an effect study: the headline effects with their intervals, the comparison,
the estimand, the synthetic truth, and (with several designs) why their numbers differ.

:func:`headline` reads the disclosed estimates of the run (nothing else) and returns the table
and the sentences of the summary ("Summary" / "Tiivistelmä"). The headline rows are the
employment effects at the longest horizon of each matching analysis, the DiD's average over the
event window and the synthetic control's ATT; every number passed disclosure control.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from impact.months import month_label
from impact.report.render import ReportTable, frame_to_table
from impact.report.wording import label, text, translate

#: The analyses whose rows are headline effects, and the sentence of each one's estimand.
HEADLINE = {"dynamic_matching": "estimand_head_matching", "sector_treatment": "estimand_head_matching",
            "sector_comparison": "estimand_head_matching", "sector_difference": "estimand_head_sector",
            "did_overall": "estimand_head_did", "synthetic_control": "estimand_head_synth"}


def _when(row: Any, cfg: Any, facts: dict, lang: str) -> str:
    a = row["analysis"]
    if a == "did_overall":
        d = facts.get("did")
        return text("when_did", lang, post=getattr(d, "post", "")) if d is not None else ""
    if a == "synthetic_control":
        s = facts.get("synth")
        return text("when_synth", lang, month=getattr(s, "policy_month", "")) if s is not None else ""
    return text("when_matching", lang, h=int(row["horizon"]))


def headline(cfg: Any, results: list, lang: str, fmt) -> tuple[ReportTable | None, list[str]]:
    """The headline table and the summary sentences of an effect study (None, [] for a descriptive one)."""
    horizon = max(cfg.outcomes.horizons)
    facts = {r.name: r.facts for r in results}
    tables, sentences = [], []
    marks_all, frames = [], []
    for r in results:
        if r.estimates is None or not len(r.estimates.frame):
            continue
        f = r.estimates.frame
        out = f["outcome"].astype(str)
        keep = f["analysis"].isin(list(HEADLINE)) & ~out.str.startswith("earnings") & (
            (out == f"employed_h{horizon}") | f["analysis"].isin(["did_overall", "synthetic_control"]))
        if not keep.any():
            continue
        frames.append(f[keep])
        marks_all.append(r.estimates.marks.reindex(index=f.index[keep], columns=f.columns).astype(object).fillna(""))
    if not frames:
        return None, []
    rows = pd.concat(frames)
    marks = pd.concat(marks_all)
    rows = rows.reset_index(drop=True)
    marks = marks.reset_index(drop=True)
    rows["what"] = [label(a, lang) for a in rows["analysis"]]
    rows["when"] = [_when(r, cfg, facts, lang) for r in rows.to_dict("records")]
    has_truth = "truth" in rows and rows["truth"].notna().any()
    cols: list[tuple] = [("what", text("analysis_head", lang), "text"), ("when", text("when_head", lang), "text"),
                         ("estimate", text("estimate", lang), "pp", ("ci_lower", "ci_upper")),
                         ("p_value", text("p_value", lang), "p")]
    if has_truth:
        cols.append(("truth", text("truth", lang), "pp"))
    # the comparison rows the estimate used (matched controls with weight), not the pool they came from
    if "n_controls_used" in rows:
        rows["n_comparison"] = rows["n_controls_used"].where(rows["n_controls_used"].notna(), rows["n_controls"])
        marks["n_comparison"] = marks.get("n_controls_used", "")
    else:
        rows["n_comparison"], marks["n_comparison"] = rows["n_controls"], marks.get("n_controls", "")
    cols += [("n_treated", text("n_treated", lang), "int"), ("n_comparison", text("n_controls_used_head", lang), "int")]
    table = frame_to_table(rows, cols, text("headline_caption", lang), lang, [text("headline_note", lang)],
                           name="headline_effects", marks=marks)
    service = label(cfg.treatment.service_type, lang).lower() if cfg.treatment.service_type else ""
    for r, m in zip(rows.to_dict("records"), marks.to_dict("records")):
        if m.get("estimate"):
            sentences.append(text("headline_suppressed", lang, what=r["what"], mark=m["estimate"]))
            continue
        lo, hi = r.get("ci_lower"), r.get("ci_upper")
        sig = lo == lo and hi == hi and (lo > 0 or hi < 0)
        pv = fmt("p", r.get("p_value"))
        s = text("headline_effect", lang, what=r["what"], when=r["when"], estimate=fmt("pp", r["estimate"]),
                 lo=fmt("pp", lo), hi=fmt("pp", hi), p=f"p < {pv[1:]}" if pv.startswith("<") else f"p = {pv}",
                 verdict=text("headline_significant" if sig else "headline_not_significant", lang))
        if has_truth and r.get("truth") == r.get("truth") and r.get("truth") is not None:
            covered = lo == lo and hi == hi and lo <= r["truth"] <= hi
            s += " " + text("headline_truth", lang, truth=fmt("pp", r["truth"]),
                            covered=text("truth_inside" if covered else "truth_outside", lang))
        sentences.append(s)
    kinds = list(dict.fromkeys(HEADLINE[a] for a in rows["analysis"]))
    comp = cfg.comparison.kind
    if f"comparison_head_{comp}" in _keys():
        sentences.append(text(f"comparison_head_{comp}", lang, service=service))
    for k in kinds:
        kw = {}
        if k == "estimand_head_did" and facts.get("did") is not None:
            d = facts["did"]
            kw = dict(post=d.post, first=month_label(d.cohorts[0]) if d.cohorts else "",
                      last=month_label(d.cohorts[1]) if d.cohorts else "")
            if not d.cohorts:
                k = "estimand_head_did_spell"
        elif k == "estimand_head_synth" and facts.get("synth") is not None:
            kw = dict(area=facts["synth"].area, month=facts["synth"].policy_month)
        elif k == "estimand_head_matching":
            est = next((r.estimates.frame for r in results if r.estimates is not None and
                        "estimand_text" in r.estimates.frame), None)
            kw = dict(estimand=translate(str(est["estimand_text"].iloc[0]), lang) if est is not None and len(est)
                      else "", service=service)
        sentences.append(text(k, lang, **kw))
    if "estimand_head_matching" in kinds and "estimand_head_did" in kinds:
        sentences.append(text("reconcile_matching_did", lang, h=horizon, post=getattr(facts.get("did"), "post", "")))
    return table, sentences


def _keys() -> set[str]:
    from impact.report.wording import WORDS

    return set(WORDS)
