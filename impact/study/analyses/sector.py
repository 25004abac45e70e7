"""Sector contrast: risk-set matching of a service with the employer sectors of the treatment group
and, separately, with those of the comparison group; and the difference of the two effects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl

from impact.estimators.results import tidy_estimates
from impact.report.render import ReportSection
from impact.report.wording import label, text
from impact.study.analyses import matching, robustness
from impact.study.analyses.effects import estimates_publication
from impact.study.context import AnalysisResult, StudyContext, TruthRequest


@dataclass(frozen=True)
class SectorFacts:
    """The facts of the two matching analyses (treatment and comparison sectors)."""

    groups: tuple[matching.MatchingFacts, ...]


def run(ctx: StudyContext, done: tuple = ()) -> AnalysisResult:
    """Dynamic matching for each sector group and the difference of their effects."""
    cfg, lang = ctx.cfg, ctx.lang
    st = cfg.treatment.service_type
    parts = []
    for g, sectors in (("treatment", cfg.treatment.employer_sectors), ("comparison", cfg.comparison.employer_sectors)):
        services = matching.treated_services(ctx, sectors=tuple(sectors))
        title = f"{label(st, lang)}, {text(f'sector_{g}', lang)}"
        r = matching.run_group(ctx, services, f"sector_{g}", f"sector_{g}", title, sectors=tuple(sectors))
        parts.append(r)
    a, b = (p.estimates.frame for p in parts)
    m = a.merge(b, on=["outcome", "horizon"], suffixes=("_a", "_b"))
    diff = pd.DataFrame({"outcome": m["outcome"], "estimand": "difference of ATTs (private - public/third sector)",
                         "horizon": m["horizon"], "estimate": m["estimate_a"] - m["estimate_b"],
                         "std_error": np.sqrt(m["std_error_a"] ** 2 + m["std_error_b"] ** 2),
                         "n_treated": m["n_treated_a"], "n_controls": m["n_treated_b"]})
    diff = tidy_estimates(diff)
    diff.insert(0, "estimator", "difference of risk-set matching ATTs")
    diff.insert(0, "analysis", "sector_difference")
    # the difference rests on both groups' treated persons (and their comparison persons)
    mem_a, mem_b = (p.estimates.members.drop("analysis").unique() for p in parts)
    both = pl.concat([mem_a, mem_b]).unique()
    diff["horizon"] = diff["horizon"].astype(float)
    keys = diff[["analysis", "outcome", "horizon"]].astype(str)
    mem_d = pl.from_pandas(keys).join(both.with_columns(pl.col("horizon").cast(pl.String)), on=["outcome", "horizon"])
    frames = [p.estimates.frame for p in parts] + [diff]
    members = pl.concat([p.estimates.members for p in parts] + [mem_d.select(parts[0].estimates.members.columns)],
                        how="vertical_relaxed")
    payers = [p.estimates.payers for p in parts if p.estimates.payers is not None]
    if payers:  # the difference's earnings rest on both groups' payers
        payers.append(pl.concat(payers).with_columns(analysis=pl.lit("sector_difference")))
    est = estimates_publication("estimates_sector", pd.concat(frames, ignore_index=True), members,
                                pl.concat(payers) if payers else None)
    tables = {k: v for p in parts for k, v in p.tables.items()}
    return AnalysisResult(name="sector", estimates=est, tables=tables, figures=tuple(f for p in parts for f in p.figures),
                          flows=tuple(f for p in parts for f in p.flows), notices=tuple(n for p in parts for n in p.notices),
                          facts=SectorFacts(groups=tuple(p.facts for p in parts)),
                          truth=(*(t for p in parts for t in p.truth),
                                 TruthRequest("difference", None, ("sector_difference",),
                                              {"of": ("sector_treatment", "sector_comparison")})),
                          checks=tuple(c for p in parts for c in p.checks))


def write(res, page) -> None:
    """One subsection per sector group, and their difference."""
    lang = page.lang
    sec = ReportSection(key="effects", title=text("effects", lang))
    for f in res.facts.groups:
        matching.write_group(res, page, f, sec)
    dsub = ReportSection(key="sector_difference", title=text("sector_difference_title", lang))
    dsub.tables += matching.effect_tables(res.estimates, page, analysis="sector_difference")
    dsub.paragraphs.append(text("sector_difference_text", lang))
    sec.subsections.append(dsub)
    page.add_section(sec)
    robustness.write(res, page)
    for f in res.facts.groups:
        page.cost(res, f"{f.key}_cost")
