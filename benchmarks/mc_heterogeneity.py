"""Coverage of segment-effect intervals (``impact.estimators.heterogeneity``) on the registers.

Cheap draws: one generated population (e.g. 200,000 persons) is split into K disjoint person
subsamples (by ``person_id`` hash); on each subsample the risk-set design is rebuilt from the
subsample's own registers and the segment effects are estimated and compared with the
generator's truth for the same treated rows (mean of ``employed_1 - employed_0`` h months after
the service end, by the design's segment labels).

Why this is valid: the generator draws persons independently given scenario-level settings
(area geography, the deterministic business cycle, service parameters), and nothing random is
shared between persons, so disjoint person subsamples are independent draws of a
``N/K``-person register conditional on those fixed settings. Both the estimand and the truth are
conditional on the same settings, so coverage across subsamples measures what coverage across
fresh seeds would (minus the seed-to-seed variation of fixed settings, which the truth follows
anyway).

``--split block`` uses the generator's blocks (consecutive person ids) instead: each block is
what a fresh run of ``block_size`` persons with that seed's geography gives. ``--configs 2x1,5x1``
compares cross-fitting settings (folds x repeats) on the same draws; the design's own matching ATT
is recorded too.

Run (heavy: take the lock), about 8-12 CPU-s per 20,000-person part:
``flock /work/notes/heavy.lock .venv/bin/python benchmarks/mc_heterogeneity.py DATA --parts 10 --out x.csv``
Each subsample appends its rows to ``--out`` (so a run can be split into several lock holds by
``--only``); ``--summarise x.csv [y.csv ...] --out results/mc_heterogeneity.md`` writes the coverage
tables (``benchmarks/results/mc_heterogeneity.{csv,md}`` hold the 2026-11-29 runs).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impact.designs.dynamic import risk_set_design  # noqa: E402

from impact.estimators.matching.design import match_design  # noqa: E402
from impact.estimators.heterogeneity import design_heterogeneity, dynamic_segments  # noqa: E402


def one_part(regs: dict[str, pl.DataFrame], eff: pl.DataFrame, h: int, max_controls: int,
             configs: list[tuple[int, int]]) -> list[dict]:
    design = risk_set_design(regs["jobseeking_spells"], regs["service_spells"], regs["persons"], regs["panel"],
                             horizons=(h,), max_controls=max_controls)
    out = f"employed_h{h}"
    seg = dynamic_segments(design.data).filter(pl.col("treated") > 0).select(
        "person_id", pl.col("ms").cast(pl.Int32), "sex", "long_term")
    j = seg.join(eff, left_on=["person_id", "ms"], right_on=["person_id", "start_month"], how="inner")
    assert j.height == seg.height
    j = j.with_columns(tau=pl.col("employed_1").cast(pl.Float64) - pl.col("employed_0").cast(pl.Float64),
                       all=pl.lit("all"))
    rows = []
    truth = {var: dict(j.group_by(var).agg(pl.col("tau").mean()).iter_rows()) for var in ("all", "sex", "long_term")}
    for folds, repeats in configs:  # a few estimator settings
        res = design_heterogeneity(design, out, ["sex", "long_term"], forest=False, n_folds=folds, n_repeats=repeats)
        for var, tr in truth.items():
            for r in res.segment(var).itertuples():
                rows.append(dict(estimator=f"dr_segment_f{folds}r{repeats}", segment_var=var, segment=r.segment,
                                 estimate=r.estimate, std_error=r.std_error, truth=tr[r.segment],
                                 n_treated=r.n_treated))
    m = match_design(design, k=5)
    mt = m.estimates.iloc[0]
    rows.append(dict(estimator="matching", segment_var="all", segment="all", estimate=float(mt["estimate"]),
                     std_error=float(mt["std_error"]), truth=float(j["tau"].mean()), n_treated=int(j.height)))
    return rows


def summarise(csvs: list[str], out_md: str) -> str:
    """Coverage table (per estimator setting x segment, and per population x split) as markdown, written atomically."""
    df = pl.concat([pl.read_csv(c) for c in csvs], how="vertical_relaxed").with_columns(
        z=(pl.col("estimate") - pl.col("truth")) / pl.col("std_error"),
        # one-part runs on freshly generated registers (one seed each) are pooled as "fresh draws"
        data=pl.when(pl.col("data").str.starts_with("fresh")).then(pl.lit("fresh 20k draws")).otherwise("data"),
        tag=pl.when(pl.col("data").str.starts_with("fresh")).then(pl.lit("one seed each")).otherwise("tag"))
    aggs = [pl.len().alias("draws"), (pl.col("estimate") - pl.col("truth")).mean().alias("bias"),
            (pl.col("estimate") - pl.col("truth")).std().alias("sd(est - truth)"), pl.col("std_error").mean().alias("mean s.e."),
            pl.col("z").mean().alias("mean z"), pl.col("z").std().alias("sd z"),
            (pl.col("z").abs() <= 1.96).mean().alias("coverage 95%"), pl.col("z").abs().max().alias("max |z|")]

    def md(t: pl.DataFrame) -> str:
        cols = t.columns
        rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in t.iter_rows():
            rows.append("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in r) + " |")
        return "\n".join(rows)

    by_seg = df.group_by("estimator", "segment_var", "segment").agg(aggs).sort("estimator", "segment_var", "segment")
    by_pop = df.group_by("data", "tag", "estimator").agg(aggs).sort("data", "tag", "estimator")
    text = "\n\n".join(["# Segment-effect intervals: coverage Monte Carlo", "By estimator setting and segment:",
                          md(by_seg), "By population and kind of draw:", md(by_pop)]) + "\n"
    tmp = Path(out_md).with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(out_md)
    return text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?")
    ap.add_argument("--summarise", nargs="+", default=None, help="CSV files to summarise into --out (markdown)")
    ap.add_argument("--parts", type=int, default=10)
    ap.add_argument("--only", type=str, default=None, help="comma-separated part numbers")
    ap.add_argument("--horizon", type=int, default=12)
    ap.add_argument("--max-controls", type=int, default=20)
    ap.add_argument("--configs", default="2x1,5x1,5x3", help="cross-fitting folds x repeats, comma-separated")
    ap.add_argument("--tag", default="")
    ap.add_argument("--split", choices=("hash", "block"), default="hash",
                    help="hash: persons spread over parts at random; block: consecutive person ids (the "
                         "generator's blocks of block_size persons), to show block-level shared randomness")
    ap.add_argument("--block-size", type=int, default=20_000)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.summarise:
        print(summarise(a.summarise, a.out))
        return
    root = Path(a.data)
    regs_all = {n: pl.read_parquet(root / f"{n}.parquet") for n in ("persons", "jobseeking_spells", "service_spells")}
    panel_all = pl.read_parquet(root / "truth" / "person_month.parquet", columns=["person_id", "month", "employed",
                                                                                   "earnings"])
    eff_all = pl.read_parquet(root / "truth" / "service_effects.parquet",
                              columns=["person_id", "service_type", "start_month", "h", "employed_1", "employed_0"]
                              ).filter((pl.col("service_type") == "training") & (pl.col("h") == a.horizon))
    key = (pl.col("person_id").hash(17) % a.parts) if a.split == "hash" else \
        ((pl.col("person_id") - 1) // a.block_size)
    part = lambda df: df.with_columns(_p=key.cast(pl.Int32))  # noqa: E731
    parts = range(a.parts) if a.only is None else [int(x) for x in a.only.split(",")]
    outp = Path(a.out)
    for k in parts:  # a handful of subsamples
        t0 = time.time()
        sub = {n: part(df).filter(pl.col("_p") == k).drop("_p") for n, df in regs_all.items()}
        sub["panel"] = part(panel_all).filter(pl.col("_p") == k).drop("_p")
        eff = part(eff_all).filter(pl.col("_p") == k).drop("_p")
        configs = [tuple(int(v) for v in c.split("x")) for c in a.configs.split(",")]
        rows = one_part(sub, eff, a.horizon, a.max_controls, configs)
        df = pl.DataFrame(rows).with_columns(part=pl.lit(k), data=pl.lit(root.name), tag=pl.lit(a.tag + a.split),
                                             seconds=pl.lit(time.time() - t0))
        if outp.exists():
            df = pl.concat([pl.read_csv(outp), df], how="vertical_relaxed")
        tmp = outp.with_suffix(".tmp")
        df.write_csv(tmp)
        tmp.replace(outp)
        print(k, f"{time.time() - t0:.1f}s", flush=True)


if __name__ == "__main__":
    main()
