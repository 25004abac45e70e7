"""Pieces shared by the effect analyses: the persons and payers behind an estimate, the tables
of effects, cost per additional placement."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import polars as pl

from impact.report.disclosure import CELL, Group, Publication
from impact.report.wording import text
from impact.study.context import StudyContext

#: Columns of a tidy estimate that describe no person (never suppressed).
KEEP = ("analysis", "estimator", "estimand", "interval", "label", "group", "group_by")
# (std_error_sample: the sample-effect standard error of synthetic runs, suppressed with its estimate)
ESTIMATE = ("estimate", "std_error", "ci_lower", "ci_upper", "p_value", "band_lower", "band_upper", "truth",
            "std_error_sample")


def persons_frame(parts: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """``part, person_id`` from person frames by part, plus part ``cell`` (all of them)."""
    frames = [df.select(pl.lit(p).alias("part"), pl.col("person_id").cast(pl.Int64)) for p, df in parts.items()]
    allp = pl.concat(frames).select(pl.lit(CELL).alias("part"), "person_id")
    return pl.concat([*frames, allp]).unique()


def per_row_members(frame: pd.DataFrame, keys: list[str], persons: pl.DataFrame) -> pl.DataFrame:
    """The same persons (``part, person_id``) behind every row of ``frame`` (keyed by ``keys``)."""
    k = pl.from_pandas(frame[keys].astype(str).drop_duplicates())
    return k.join(persons, how="cross")


def estimates_publication(name: str, frame: pd.DataFrame, members: pl.DataFrame,
                          payers: pl.DataFrame | None = None, parts: tuple[str, ...] = ("treated", "controls"),
                          keys: tuple[str, ...] = ("analysis", "outcome", "horizon")) -> Publication:
    """Tidy effect estimates, one cell per row (``keys``), each resting on its treated and comparison
    persons (``members``: keys as strings, part, person_id) and, for earnings, on the payers of
    their earnings (``payers``: keys, payer_id, amount)."""
    f = frame.copy()
    f["_earnings"] = f["outcome"].astype(str).str.startswith("earnings")
    cols = tuple(c for c in (*ESTIMATE, "n_treated", "n_controls", "n_controls_used") if c in f)
    groups = [Group(cols, parts=parts)]
    if payers is not None:
        groups.append(Group(cols, earnings=True, rows="_earnings"))
    return Publication(name=name, frame=f, slices=keys, members=members, payers=payers, groups=tuple(groups),
                       keep=tuple(c for c in f.columns if c not in keys and c not in cols and not c.startswith("_")))


def earnings_payers(ctx: StudyContext, rows: pl.DataFrame) -> pl.DataFrame:
    """The payers of the earnings behind each estimate: ``rows`` has the estimate's keys as strings,
    ``person_id`` and ``month`` (the outcome month); wages paid in that month by each payer.

    Returns the keys, ``payer_id`` and ``amount`` (one range join in the backend)."""
    keys = [c for c in rows.columns if c not in ("person_id", "month")]
    ut = ibis.memtable(rows.with_row_index("_k").to_arrow())
    r = ctx.tables["earnings_reports"]
    r = r.filter((r.action != "cancel") & (r.amount_eur > 0))
    r = r.select(r_person=r.person_id, payer_id=r.payer_id, amount=r.amount_eur,
                 r_month=(r.payment_date.year().cast("int32") * 12 + r.payment_date.month().cast("int32") - 1))
    j = ut.join(r, [ut.person_id == r.r_person, ut.month == r.r_month])
    out = j.group_by(["_k", "payer_id"]).aggregate(amount=j.amount.sum()).to_polars()
    lab = rows.with_row_index("_k").select("_k", *keys)
    return out.join(lab, on="_k").group_by(*keys, "payer_id").agg(pl.col("amount").sum())


def cost_publication(name: str, analysis: str, est: pd.DataFrame, services: pl.DataFrame) -> Publication:
    """Cost per additional placement = cost per participant / effect on placement (where the effect is > 0).

    Cost per participant is the mean cost of the population's services of the treatment; it
    rests on their persons. The interval is the effect's interval carried through the ratio (the
    cost is a mean over all participants, its sampling error negligible beside the effect's):
    [cost / upper, cost / lower] when the lower limit is above zero; with a lower limit at or below
    zero more placements may cost without bound, and the upper limit is not defined."""
    c = services["cost_eur"].drop_nulls()
    cpp = float(c.mean()) if c.len() else float("nan")
    rows = []
    for r in est[est["outcome"].astype(str).str.startswith("employed_h")].to_dict("records"):
        eff, lo = r["estimate"], r["ci_lower"]
        ok = eff is not None and np.isfinite(eff) and eff > 0
        hi = r["ci_upper"]
        sig = bool(lo is not None and np.isfinite(lo) and lo > 0)
        rows.append({"analysis": analysis, "horizon": int(r["horizon"]), "cost_per_participant": cpp, "effect": eff,
                     "cost_per_additional_placement": cpp / eff if ok else np.nan,
                     "cost_ci_lower": cpp / hi if ok and hi is not None and np.isfinite(hi) and hi > 0 else np.nan,
                     "cost_ci_upper": cpp / lo if ok and sig else np.nan, "significant": sig})
    frame = pd.DataFrame(rows)
    persons = services.select(pl.lit(CELL).alias("part"), pl.col("person_id").cast(pl.Int64)).unique()
    return Publication(name=name, frame=frame, slices=("analysis", "horizon"),
                       members=per_row_members(frame, ["analysis", "horizon"], persons), keep=("significant",))


def label_outcome(outcome: str, lang: str) -> str:
    if str(outcome).startswith("employed"):
        return text("outcome_employed", lang)
    if str(outcome).startswith("earnings"):
        return text("outcome_earnings", lang)
    return str(outcome)
