"""Municipal tax revenue from the employment effect of a service, against its cost ([metrics] tax)."""

from __future__ import annotations

from pathlib import Path
import polars as pl

from impact.report.disclosure import Publication, cell_members
from impact.report.wording import label, text
from impact.study.context import StudyContext


def _from_design(ctx: StudyContext, done: tuple) -> tuple[pl.DataFrame | None, str]:
    """This study's estimated effects on monthly earnings (only those resting on min_cell treated and
    comparison persons each, as their publication will)."""
    st = ctx.cfg.treatment.service_type
    for r in done:  # the analyses before this one
        pub = r.estimates
        if pub is None or st is None or r.name not in ("matching", "sector"):
            continue
        e = pub.frame[pub.frame["outcome"].astype(str).str.startswith("earnings_h") & pub.frame["std_error"].notna()]
        if e.empty:
            continue
        an = e["analysis"].iloc[0]
        e = e[e["analysis"] == an]
        m = pub.members
        sizes = m.filter(pl.col("analysis") == an).group_by("part").agg(pl.col("person_id").n_unique())
        small = sizes.filter(pl.col("person_id") < ctx.rules.min_cell).height
        if small:
            return None, text("tax_design_small", ctx.lang, min_cell=ctx.rules.min_cell)
        df = pl.DataFrame({"service_type": st, "horizon": e["horizon"].astype(int).to_numpy(),
                           "estimate": e["estimate"].astype(float).to_numpy(),
                           "std_error": e["std_error"].astype(float).to_numpy()})
        return df, text("tax_design_source", ctx.lang, analysis=an, service=label(st, ctx.lang).lower())
    return None, text("tax_no_design", ctx.lang)


def _from_source(ctx: StudyContext, src: str, done: tuple) -> tuple[pl.DataFrame | None, str]:
    from impact.outcomes.tax import truth_earnings_effects

    if src == "truth":
        tdir = ctx.truth_dir
        if tdir is None or not (tdir / "service_effects.parquet").exists():
            return None, text("tax_no_truth", ctx.lang)
        return truth_earnings_effects(tdir), text("tax_truth_source", ctx.lang)
    if src == "design":
        return _from_design(ctx, done)
    p = Path(src)
    if not p.is_absolute() and ctx.cfg.path and not p.exists():
        p = Path(ctx.cfg.path).parent / p
    if not p.exists():
        return None, text("tax_file_missing", ctx.lang, file=src)
    try:
        df = pl.read_csv(p).select(pl.col("service_type").cast(pl.String), pl.col("horizon").cast(pl.Int64),
                                   pl.col("estimate").cast(pl.Float64), pl.col("std_error").cast(pl.Float64))
    except pl.exceptions.PolarsError as e:
        return None, text("tax_file_bad", ctx.lang, file=p.name, why=str(e).splitlines()[0])
    return df, text("tax_file_source", ctx.lang, file=p.name)


def tax_effects(ctx: StudyContext, done: tuple) -> tuple[pl.DataFrame | None, str]:
    """Earnings effects behind the tax estimate (column ``source``) and a phrase naming the sources:
    the sources of ``metrics.tax_effects`` in order, each service type from the first that has it."""
    frames, phrases, why = [], [], []
    for src in ctx.cfg.metrics.tax_effects:  # one to three sources
        df, phrase = _from_source(ctx, src, done)
        if df is None:
            why.append(phrase)
            continue
        have = set(pl.concat(frames)["service_type"].unique()) if frames else set()
        df = df.filter(~pl.col("service_type").is_in(list(have)))
        if df.height:
            frames.append(df.select("service_type", "horizon", "estimate", "std_error").with_columns(
                pl.lit(src).alias("source")))
            phrases.append(phrase)
    if not frames:
        return None, "; ".join(why)
    return pl.concat(frames, how="vertical_relaxed"), "; ".join(phrases)


def tax_publications(ctx: StudyContext, base: pl.DataFrame, services: pl.DataFrame,
                     done: tuple) -> tuple[dict[str, Publication], tuple[str, str, str | None]]:
    """The tax tables (by service, by area for the largest service, by year) with the persons behind them."""
    from impact.outcomes.tax import tax_revenue

    mc = ctx.cfg.metrics
    effects, source = tax_effects(ctx, done)
    if effects is None:
        return {}, ("", source, None)
    rev = tax_revenue(base, effects.drop("source"), years=mc.tax_years, taxable_share=mc.taxable_share)
    if rev.height == 0:
        return {}, ("", text("tax_no_pairs", ctx.lang), None)
    rev = rev.join(effects.select("service_type", "source").unique(), on="service_type", how="left")
    last = rev.filter(pl.col("year") == mc.tax_years).to_pandas()
    u = services.filter(pl.col("end_month").is_not_null()).select("person_id", "service_type").join(
        ctx.persons.select("person_id", "employment_area"), on="person_id", how="left").with_columns(
        pl.col("employment_area").cast(pl.String).fill_null("(unknown)"))
    by_st = cell_members(u, ["service_type"])
    out = {}
    per_service = last[last["employment_area"] == "Total"].drop(columns=["employment_area"])
    out["tax_revenue_by_service"] = Publication("tax_revenue_by_service", per_service, dims=("service_type",), count="n",
                                                members=by_st, keep=("source",))
    st = per_service.sort_values("n", ascending=False)["service_type"].iloc[0] if len(per_service) else None
    if st is not None:
        by_area = last[last["service_type"] == st].drop(columns=["service_type"])
        mem = cell_members(u.filter(pl.col("service_type") == st) if st != "Total" else u, ["employment_area"])
        out["tax_revenue_by_area"] = Publication("tax_revenue_by_area", by_area, dims=("employment_area",), count="n",
                                                 members=mem, keep=("source",))
    years = rev.filter(pl.col("employment_area") == "Total").drop("employment_area").with_columns(
        pl.col("year").cast(pl.String)).to_pandas()
    ym = pl.concat([by_st.with_columns(year=pl.lit(str(y))) for y in range(1, mc.tax_years + 1)])
    out["tax_revenue_by_year"] = Publication("tax_revenue_by_year", years, dims=("service_type",), slices=("year",),
                                             count="n", members=ym.select("year", "service_type", "part", "person_id"),
                                             keep=("source",))
    return out, (source, "", st)


__all__ = ["tax_effects", "tax_publications"]
