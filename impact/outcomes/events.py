"""Outcomes after an event month (a job offer, a candidate search, a plan) and their group counts."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import polars as pl


def employed_after(units: ir.Table, panel: ir.Table, origin: str, horizons: tuple[int, ...], last_month: int,
                   key: str) -> ir.Table:
    """``employed_{h}m`` of each unit: open-market employed in month ``origin + h``.

    One range join of the units against the employed months of the panel; null where
    ``origin + h`` passes ``last_month`` (not observed), never false.
    """
    H = max(horizons)
    u = units.select(_k=units[key], _p=units.person_id, _o=units[origin])
    e = panel.filter(panel.employed & (panel.month <= last_month)).select(_ep=panel.person_id, _em=panel.month)
    j = u.join(e, [u._p == e._ep, e._em >= u._o + 1, e._em <= u._o + H])
    rel = j._em - j._o
    agg = j.group_by(_a=j._k).aggregate(**{f"_e{h}": ibis.cases((rel == h, 1), else_=0).max() for h in horizons})
    out = units.left_join(agg, units[key] == agg._a)
    cols = {f"employed_{h}m": ibis.cases((out[origin] + h <= last_month, out[f"_e{h}"].fill_null(0) == 1),
                                         else_=ibis.null("boolean")) for h in horizons}
    return out.select(*units.columns, **cols)


def group_counts(units: pl.DataFrame, by: list[str], horizons: tuple[int, ...], min_count: int,
                 person: str = "person_id", prefix: str = "employed") -> pl.DataFrame:
    """Employment shares after an event by group: ``n`` (events), ``n_persons``, and per horizon
    ``n_obs_{h}m``, ``n_{prefix}_{h}m`` and ``{prefix}_{h}m`` (share of the observed);
    ``suppress`` where ``n_persons`` < ``min_count``. A ``Total`` row (by = "Total") is added."""
    aggs: list[pl.Expr] = [pl.len().alias("n"), pl.col(person).n_unique().alias("n_persons")]
    for h in horizons:
        c = f"{prefix}_{h}m"
        aggs += [pl.col(c).is_not_null().sum().alias(f"n_obs_{h}m"), pl.col(c).cast(pl.Int64).sum().alias(f"n_{c}"),
                 pl.col(c).cast(pl.Float64).mean().alias(c)]
    u = units.with_columns([pl.col(b).cast(pl.String).fill_null("(unknown)") for b in by])
    g = u.group_by(by).agg(aggs).sort(by)
    tot = u.select(aggs).with_columns([pl.lit("Total").alias(b) for b in by])
    g = pl.concat([g, tot.select(g.columns)], how="vertical_relaxed")
    return g.with_columns(suppress=pl.col("n_persons") < min_count)
