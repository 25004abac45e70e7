"""Benchmark: raw earnings reports -> person x month panel -> all unit outcomes.

Three implementations of the same definitions (docs/outcomes.md), each run in its own process
through ``benchmarks/harness.py`` (same memory cap, CPU and peak memory per process, load
recorded, runs alternating and repeated until three agree within 10 %):

* ``ibis``   - the package on embedded DuckDB (impact.outcomes), 5 GB limit: the panel from the
  registers' prepared layout where the folder has one (impact.registers.prepared), then the
  Ibis expressions of the outcome stage;
* ``ibis_registers`` - the same with the panel from the Ibis expressions (the reference path);
* ``polars`` - a hand-written polars version (lazy, streaming engine; explode + equi-join for
  the bounded windows, ``join_asof`` for first employment and the return to job-seeking);
* ``pandas`` - the deliberately simple reference of the tests (tests/reference_outcomes.py);
  where one process passes the memory cap it runs on ``--pandas-blocks`` blocks of persons,
  one process each, with the block times summed (``pandas_blocks``).

Every run writes its unit tables, and each implementation's are compared cell by cell with the
package's (integers, booleans and nulls exactly, floats to 1e-9): the check is part of every
run, recorded beside the times, and the script fails if any unit differs.

Usage::

    .venv/bin/python benchmarks/bench_outcomes.py [--data /work/bench_data/1m]
        [--subsets 20000,100000] [--sizes subsets,full] [--impls ibis,polars,pandas]

Results go to benchmarks/results/bench_outcomes.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

CFG_KW: dict = {}  # the default outcome config


# ---------------------------------------------------------------------------------------
# The hand-written polars version
# ---------------------------------------------------------------------------------------


def polars_outcomes(folder: Path, stage_times: dict) -> dict:
    import polars as pl

    from impact.months import month_index
    from impact.outcomes import OutcomeConfig
    from impact.outcomes.panel import last_complete_month

    cfg = OutcomeConfig(**CFG_KW)
    t0 = time.perf_counter()
    rep = pl.scan_parquet(folder / "earnings_reports.parquet")
    sv_all = pl.scan_parquet(folder / "service_spells.parquet")
    sp_all = pl.scan_parquet(folder / "jobseeking_spells.parquet")
    persons = pl.scan_parquet(folder / "persons.parquet")
    latest_pay = rep.select(pl.col("payment_date").max()).collect().item()
    extraction = cfg.extraction_date or latest_pay
    last = last_complete_month(extraction)
    x = pl.lit(extraction)

    def mi(c):
        e = pl.col(c) if isinstance(c, str) else c
        return e.dt.year().cast(pl.Int32) * 12 + e.dt.month().cast(pl.Int32) - 1

    spell_persons = pl.concat([sv_all.select("person_id"), sp_all.select("person_id")]).unique()
    latest = rep.group_by("payer_id", "report_ref").agg(pl.col("version").max().alias("latest"))
    r = (rep.join(latest, on=["payer_id", "report_ref"])
         .filter((pl.col("version") == pl.col("latest")) & (pl.col("action") != "cancel")
                 & pl.col("income_type").is_in(list(cfg.income_types)))
         .join(spell_persons, on="person_id", how="semi"))
    if cfg.holiday_compensation == "exclude":
        r = r.filter(pl.col("income_type") != 234)
    has_ep = pl.col("earning_period_start").is_not_null() & pl.col("earning_period_end").is_not_null()
    start = pl.when(has_ep).then(pl.col("earning_period_start")).otherwise(pl.col("pay_period_start"))
    end = pl.when(has_ep).then(pl.col("earning_period_end")).otherwise(pl.col("pay_period_end"))
    wage = (~pl.col("recovery").fill_null(False)) & (pl.col("amount_eur") > 0)
    epoch = pl.date(1970, 1, 1)
    r = r.select("person_id", "amount_eur", "subsidised", wage.alias("wage"),
                 (start - epoch).dt.total_days().cast(pl.Int32).alias("d0"),
                 (end - epoch).dt.total_days().cast(pl.Int32).alias("d1"),
                 mi(start).alias("m0"), mi(end).alias("m1"))
    r = r.with_columns(month=pl.int_ranges("m0", pl.col("m1") + 1, dtype=pl.Int32)).explode("month")
    r = r.with_columns(
        first=(pl.date(pl.col("month") // 12, pl.col("month") % 12 + 1, 1) - epoch).dt.total_days().cast(pl.Int32),
    ).with_columns(
        last=((pl.date(pl.col("month") // 12, pl.col("month") % 12 + 1, 1).dt.offset_by("1mo") - epoch)
              .dt.total_days().cast(pl.Int32) - 1))
    lo = pl.max_horizontal("d0", "first")
    hi = pl.min_horizontal("d1", "last")
    r = r.with_columns(amount=pl.col("amount_eur") * (hi - lo + 1) / (pl.col("d1") - pl.col("d0") + 1),
                       work_day=lo, last_week=hi >= pl.col("last") - 6)
    open_wage = pl.col("wage") & ~pl.col("subsidised")
    g = r.group_by("person_id", "month").agg(
        earnings_eur=pl.col("amount").sum(),
        subsidised_eur=pl.when(pl.col("subsidised")).then(pl.col("amount")).otherwise(0.0).sum(),
        first_work_day=pl.when(open_wage).then(pl.col("work_day")).min(),
    )
    floor = cfg.employment_floor_eur - 0.005
    panel = g.with_columns(employed=(pl.col("earnings_eur") - pl.col("subsidised_eur")) >= floor,
                           subsidised=pl.col("subsidised_eur") >= floor)
    panel = panel.collect(engine="streaming")
    stage_times["panel_s"] = time.perf_counter() - t0
    stage_times["panel_cpu_s"] = _cpu()

    t1 = time.perf_counter()
    P = panel.lazy().filter(pl.col("month") <= last)
    E = P.filter(pl.col("employed")).select("person_id", "month", "first_work_day").sort("month")
    W = cfg.max_window
    pers = persons.collect()

    # segment baseline B[g, m]
    seg = list(cfg.segment_by)
    other = [c for c in seg if c != "age_band"]

    def band(age):
        e = pl.lit(cfg.age_bands[0])
        for b in cfg.age_bands[1:]:
            e = pl.when(age >= b).then(pl.lit(b)).otherwise(e)
        return e.cast(pl.Int32)

    mins = [sv_all.select(pl.col("start_date").min()).collect().item(),
            sp_all.select(pl.col("start_date").min()).collect().item()]
    first_month = min(month_index(d) for d in mins if d is not None)
    first_month = min(first_month, panel["month"].min()) - 1
    months = pl.DataFrame({"month": list(range(first_month, last + 1))}, schema={"month": pl.Int32}).lazy()
    years = months.select((pl.col("month") // 12).alias("year")).unique()
    counts = (pers.lazy().join(years, how="cross")
              .with_columns(age_band=band(pl.col("year") - pl.col("birth_year").cast(pl.Int32)))
              .group_by("year", *seg).agg(n=pl.len()))
    sums = (P.filter(pl.col("month") >= first_month).join(pers.lazy(), on="person_id")
            .with_columns(age_band=band(pl.col("month") // 12 - pl.col("birth_year").cast(pl.Int32)))
            .group_by("month", *seg).agg(s=pl.col("earnings_eur").sum()))
    B = (counts.join(months.with_columns(year=pl.col("month") // 12), on="year")
         .join(sums, on=["month", *seg], how="left")
         .select(*seg, "month", base=pl.col("s").fill_null(0.0) / pl.col("n")))

    def units_outcomes(u: pl.LazyFrame, from_start: bool) -> pl.LazyFrame:
        u = u.with_columns(end_month=mi("end_date"), start_month=mi("start_date"), unit=pl.col("unit_id"))
        ue = (u.filter(pl.col("end_month").is_not_null())
              .select("unit", "person_id", "end_month", rel=pl.int_ranges(1, W + 1, dtype=pl.Int32)).explode("rel")
              .with_columns(month=pl.col("end_month") + pl.col("rel"))
              .join(P.select("person_id", "month", "employed", "earnings_eur"), on=["person_id", "month"],
                    how="inner"))
        aggs = [pl.col("employed").filter(pl.col("rel") == h).any().alias(f"w_emp{h}") for h in cfg.horizons]
        aggs += [(pl.col("employed") & (pl.col("rel") <= h)).sum().alias(f"w_nemp{h}")
                 for h in sorted({h for _, h in cfg.k_of_h})]
        aggs += [pl.col("earnings_eur").filter((pl.col("rel") >= a) & (pl.col("rel") <= b)).sum().alias(f"w_earn{a}_{b}")
                 for a, b in cfg.earnings_windows]
        win = ue.group_by("unit").agg(aggs)

        def first_emp(col: str, name: str) -> pl.LazyFrame:
            left = (u.filter(pl.col(col).is_not_null())
                    .select("unit", "person_id", key=(pl.col(col) + 1).cast(pl.Int32)).sort("key"))
            return (left.join_asof(E.rename({"month": "em"}), left_on="key", right_on="em", by="person_id",
                                   strategy="forward")
                    .select("unit", pl.col("em").alias(f"{name}_month"), pl.col("first_work_day").alias(f"{name}_day"),
                            pl.col("person_id").alias(f"{name}_person")))

        fe = first_emp("end_month", "fe")
        out = u.join(win, on="unit", how="left").join(fe, on="unit", how="left")
        if from_start:
            out = out.join(first_emp("start_month", "fs"), on="unit", how="left")
        # return: first new spell starting after the first employed month after the end
        left = (fe.filter(pl.col("fe_month").is_not_null())
                .select("unit", pl.col("fe_person").alias("person_id"), "fe_month",
                        key=(pl.col("fe_month") + 1).cast(pl.Int32)).sort("key"))
        ret = (left.join_asof(sp_start.sort("s_month"), left_on="key", right_on="s_month", by="person_id",
                              strategy="forward").select("unit", "s_month"))
        out = out.join(ret, on="unit", how="left")
        # baseline: explode the window months and join B on (segment, month)
        pc = pers.lazy().select("person_id", "birth_year", *other)
        uc = (u.filter(pl.col("end_month").is_not_null()).select("unit", "person_id", "end_month", "end_date")
              .join(pc, on="person_id")
              .with_columns(age_band=band(pl.col("end_date").dt.year().cast(pl.Int32)
                                          - pl.col("birth_year").cast(pl.Int32))))
        for a, b in cfg.earnings_windows:
            bw = (uc.select("unit", *seg, "end_month", k=pl.int_ranges(a, b + 1, dtype=pl.Int32)).explode("k")
                  .with_columns(month=pl.col("end_month") + pl.col("k"))
                  .join(B, on=[*seg, "month"], how="inner")
                  .group_by("unit").agg((pl.col("base").sum() / (b - a + 1)).alias(f"b{a}_{b}"),
                                        pl.len().alias(f"bn{a}_{b}")))
            out = out.join(bw, on="unit", how="left")
        e = pl.col("end_month")

        def obs(h):
            return e.is_not_null() & (e + h <= last)

        cols = [pl.when(obs(h)).then(pl.col(f"w_emp{h}").fill_null(False)).alias(f"placed_{h}m") for h in cfg.horizons]
        cols += [pl.when(obs(h)).then(pl.col(f"w_nemp{h}").fill_null(0) >= k).alias(f"employed_{k}_of_{h}m")
                 for k, h in cfg.k_of_h]
        for a, b in cfg.earnings_windows:
            earn = pl.when(obs(b)).then(pl.col(f"w_earn{a}_{b}").fill_null(0.0) / (b - a + 1))
            base = pl.when(earn.is_not_null() & (pl.col(f"bn{a}_{b}") == b - a + 1)).then(pl.col(f"b{a}_{b}"))
            cols += [earn.alias(f"earnings_{a}_{b}m"), base.alias(f"baseline_{a}_{b}m"),
                     pl.when(base > 1e-6).then(earn / base).alias(f"rel_earnings_{a}_{b}m")]
        for mcol, dcol, sfx, key in (("end_month", "end_date", "", "fe"),
                                     *((("start_month", "start_date", "_from_start", "fs"),) if from_start else ())):
            found = pl.col(f"{key}_month").is_not_null()
            cols += [pl.when(found).then(pl.col(f"{key}_month") - pl.col(mcol))
                     .when(pl.col(mcol).is_not_null()).then(last - pl.col(mcol)).cast(pl.Int32)
                     .alias(f"months_to_employment{sfx}"),
                     pl.when(pl.col(mcol).is_not_null()).then(~found).alias(f"censored{sfx}"),
                     pl.when(found).then(pl.col(f"{key}_day") - (pl.col(dcol) - epoch).dt.total_days())
                     .cast(pl.Int32).alias(f"days_to_employment{sfx}")]
        f = pl.col("fe_month")
        cols += [pl.when(f.is_not_null() & (f + w <= last)).then(pl.col("s_month").is_not_null()
                                                                   & (pl.col("s_month") <= f + w))
                 .alias(f"returned_{w}m") for w in cfg.return_windows]
        return out.select(*[c for c in u.collect_schema().names() if c not in ("unit",)], *cols)

    svc = (sv_all.filter((pl.col("start_date") <= x) & pl.col("end_date").is_not_null() & (pl.col("end_date") <= x))
           .select("service_id", "person_id", "service_type", "start_date", "end_date", "end_reason", "provider_id",
                   "course_id", "cost_eur").with_columns(unit_id=pl.col("service_id")))
    spl = (sp_all.filter((pl.col("start_date") <= x) & (pl.col("end_date").is_null() | (pl.col("end_date") <= x)))
           .with_columns(unit_id=pl.col("spell_id")))
    sp_start = spl.select("person_id", s_month=mi("start_date"))
    so = units_outcomes(svc, False).collect(engine="streaming")
    spo = units_outcomes(spl, True).collect(engine="streaming")
    stage_times["outcomes_s"] = time.perf_counter() - t1
    stage_times["outcomes_cpu_s"] = _cpu() - stage_times["panel_cpu_s"]
    return {"panel": panel, "service_outcomes": so.sort("service_id"), "spell_outcomes": spo.sort("spell_id")}


# ---------------------------------------------------------------------------------------
# Workers (each runs in its own process, started by benchmarks/harness.py)
# ---------------------------------------------------------------------------------------


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run_ibis(folder: Path, times: dict, panel_source: str = "auto") -> dict:
    from impact.backends import connect
    from impact.outcomes import OutcomeConfig
    from impact.outcomes.io import open_registers
    from impact.outcomes.pipeline import compute_outcomes

    cfg = OutcomeConfig(**CFG_KW)
    t0, c0 = time.perf_counter(), time.process_time()
    # The package's own connection (its settings), under the 6 GiB target: spilling to disk
    # past it (the default limit, 80 % of RAM, lets a shared machine's OOM killer step in first).
    # BENCH_DUCKDB_MEMORY=default: the package's default (no limit set).
    limit = os.environ.get("BENCH_DUCKDB_MEMORY", "5GB")
    settings = {"temp_directory": str(folder.parent / "duckdb_tmp")}
    if limit != "default":
        settings["memory_limit"] = limit
    times["duckdb_memory_limit"] = limit
    con = connect("duckdb", settings)
    tables = open_registers(con, folder)
    # Exactly the package's outcome stage (no person_month write: the other two keep it in memory).
    res = compute_outcomes(con, tables, cfg, person_month_path=None, collect_person_month=False,
                           panel_source=panel_source)
    # the connection and the opening of the registers count as panel time
    times["panel_s"] = time.perf_counter() - t0 - res.timings["outcomes"][0]
    times["panel_cpu_s"] = time.process_time() - c0 - res.timings["outcomes"][1]
    times["outcomes_s"], times["outcomes_cpu_s"] = res.timings["outcomes"]
    times["outcome_steps_s"] = {k.split("/")[1]: v[0] for k, v in res.timings.items() if k.startswith("outcomes/")}
    times["panel_blocks"] = res.panel_blocks
    times["panel_source"] = res.panel_source
    times["panel_steps_s"] = {k.split("/")[1]: v[0] for k, v in res.timings.items() if k.startswith("panel/")}
    return {"service_outcomes": res.service_outcomes, "spell_outcomes": res.spell_outcomes}


def run_pandas(folder: Path, times: dict) -> dict:
    import polars as pl

    from impact.outcomes import OutcomeConfig
    from tests.reference_outcomes import reference_outcomes

    cfg = OutcomeConfig(**CFG_KW)
    frames = {n: pl.read_parquet(folder / f"{n}.parquet") for n in
              ("persons", "jobseeking_spells", "service_spells", "earnings_reports")}
    extraction = cfg.extraction_date or frames["earnings_reports"]["payment_date"].max()
    return reference_outcomes(frames, cfg, extraction)


def run_ibis_registers(folder: Path, times: dict) -> dict:
    """The package with the panel from the Ibis expressions (the reference path; no prepared layout)."""
    return run_ibis(folder, times, panel_source="registers")


IMPLS = {"ibis": run_ibis, "ibis_registers": run_ibis_registers, "polars": polars_outcomes, "pandas": run_pandas}


def worker(impl: str, folder: str) -> None:
    """One timed run in this process: imports first, then the stage from the register files
    (reading them included, for every implementation) to the unit tables in memory."""
    import harness as H
    import polars as pl

    import impact.outcomes.pipeline  # noqa: F401  (imports outside the timed stage, for all three)
    import pandas  # noqa: F401
    import tests.reference_outcomes  # noqa: F401

    if os.environ.get("BENCH_EXTRACTION_DATE"):  # the same extraction date for all three (see main)
        CFG_KW["extraction_date"] = dt.date.fromisoformat(os.environ["BENCH_EXTRACTION_DATE"])
    times: dict = {}
    with H.Timer() as t:
        out = IMPLS[impl](Path(folder), times)
    H.finish({"fit_s": t.wall, "fit_cpu_s": t.cpu, **times, "service_units": len(out["service_outcomes"]),
              "spell_units": len(out["spell_outcomes"])})
    for name in ("service_outcomes", "spell_outcomes"):
        df = out[name]
        df = df if isinstance(df, pl.DataFrame) else pl.from_pandas(df)
        df.write_parquet(H.output_path(f"{name}.parquet"))


def _extract(folder: Path, target: Path, lo: int, hi: int) -> Path:
    """The register tables the benchmark reads, for person ids ``lo``..``hi``, in ``target``
    (written once, beside the data; moved into place when complete)."""
    import polars as pl

    if not (target / "persons.parquet").exists():
        tmp = target.with_name(target.name + ".partial")
        tmp.mkdir(parents=True, exist_ok=True)
        for name in ("persons", "jobseeking_spells", "service_spells", "earnings_reports"):
            (pl.scan_parquet(folder / f"{name}.parquet").filter(pl.col("person_id").is_between(lo, hi))
             .sink_parquet(tmp / f"{name}.parquet"))
        os.replace(tmp, target)
    return target


def make_blocks(folder: Path, k: int) -> list[Path]:
    """``folder``'s persons in ``k`` blocks of consecutive person ids, one register folder each."""
    import polars as pl

    lo, hi = pl.scan_parquet(folder / "persons.parquet").select(
        pl.col("person_id").min(), pl.col("person_id").max().alias("hi")).collect().row(0)
    size = -(-(hi - lo + 1) // k)
    return [_extract(folder, folder.parent / f"{folder.name}_block{b + 1}of{k}", lo + b * size, lo + (b + 1) * size - 1)
            for b in range(k)]


def make_subset(folder: Path, n: int) -> Path:
    """``folder``'s persons with ids up to ``n`` (a delivery of its own: with its prepared layout)."""
    from impact.registers.prepared import layout_status, prepare_reports

    sub = _extract(folder, folder.parent / f"{folder.name}_sub{n // 1000}k", -(2**62), n)
    if layout_status(sub)[0] is None:
        prepare_reports(sub)
    return sub


def prepare_record(folder: Path) -> dict | None:
    """The prepared layout's cost and shape, from its ``layout.json`` (None: the folder has none that is fresh)."""
    from impact.registers.prepared import layout_status

    layout, why = layout_status(folder)
    if layout is None:
        return {"status": why}
    i = layout.info
    return {"status": why, "prepare_s": i["prepare_s"], "prepare_cpu_s": i["prepare_cpu_s"],
            "blocks": len(i["blocks"]), "rows": i["rows"], "written_utc": i["written_utc"], "counts": i["counts"]}


def _compare(x, y) -> dict:
    """Cells of two unit tables (same key order) that differ: integers, booleans and nulls exactly,
    floats to 1e-9 (relative or absolute). Returns ``{column: differing cells}`` (empty: equal)."""
    import numpy as np
    import polars as pl

    if x.height != y.height:
        return {"rows": abs(x.height - y.height)}
    bad = {}
    for c in x.columns:
        if c not in y.columns or x[c].dtype.is_temporal():
            continue
        xv, yv = x[c], y[c]
        if xv.dtype.is_float() or yv.dtype.is_float():
            xa, ya = xv.cast(pl.Float64).to_numpy(), yv.cast(pl.Float64).to_numpy()
            n = int(np.sum(np.isnan(xa) != np.isnan(ya)))
            ok = ~np.isnan(xa) & ~np.isnan(ya)
            n += int(np.sum(~np.isclose(xa[ok], ya[ok], rtol=1e-9, atol=1e-9)))
        else:
            if xv.dtype == pl.Boolean or yv.dtype == pl.Boolean:
                xv, yv = xv.cast(pl.Int64), yv.cast(pl.Int64)
            n = int(xv.ne_missing(yv.cast(xv.dtype)).sum())
        if n:
            bad[c] = n
    return bad


UNIT_KEYS = {"service_outcomes": "service_id", "spell_outcomes": "spell_id"}
# a block computes its own segment baseline (the reference's work on a tenth of the persons)
_BLOCK_OWN = ("baseline_", "rel_earnings_")


def agreement(ours: dict, other: dict, skip: tuple[str, ...] = ()) -> dict:
    """Unit tables of another implementation against the package's, cell by cell (see :func:`_compare`)."""
    out = {}
    for name, key in UNIT_KEYS.items():
        x = ours[name].sort(key)
        y = other[name].sort(key)
        y = y.drop([c for c in y.columns if c.startswith(skip)]) if skip else y
        out[name] = {"rows": x.height, "columns_compared": len([c for c in x.columns if c in y.columns]),
                     "differing_cells": _compare(x, y)}
    return out


def _read_outputs(outdir: str | Path) -> dict | None:
    import polars as pl

    files = {n: Path(outdir) / f"{n}.parquet" for n in UNIT_KEYS}
    return {n: pl.read_parquet(f) for n, f in files.items()} if all(f.exists() for f in files.values()) else None


def impl_run(impl: str, folder: Path, cap: float, outputs: dict) -> dict:
    """One run of ``impl`` on ``folder`` in its own process; its unit tables kept in ``outputs[impl]``."""
    import harness as H

    r = H.run([sys.executable, __file__, "--worker", impl, "--data", str(folder)], cap_s=cap)
    if r["status"] == "ok":
        outputs[impl] = _read_outputs(r["outdir"])
    shutil.rmtree(r.pop("outdir"), ignore_errors=True)
    return r


def blocks_run(blocks: list[Path], cap: float, outputs: dict) -> dict:
    """The pandas reference on person blocks, one process each, one after another: one run.

    For a size whose single pandas process passes the memory cap. Each block computes its own
    segment baseline (the same operations on a k-th of the persons, so its values differ from
    the whole population's): this times the reference's work, not its exact result, and
    favours it (each block's frames are smaller than the whole). Times and CPU are summed,
    memory is the largest block's.
    """
    import polars as pl

    parts: list[dict] = []
    tables: dict = {n: [] for n in UNIT_KEYS}
    for f in blocks:
        part: dict = {}
        r = impl_run("pandas", f, cap, part)
        parts.append(r)
        if r["status"] != "ok":
            return {**r, "blocks": len(blocks), "failed_block": str(f)}
        for n in UNIT_KEYS:
            tables[n].append(part["pandas"][n])
    outputs["pandas_blocks"] = {n: pl.concat(v, how="diagonal_relaxed") for n, v in tables.items()}
    r = {"status": "ok", "blocks": len(blocks), "load_before": parts[0]["load_before"],
         "load_after": parts[-1]["load_after"], "peak_rss_gib": max(p["peak_rss_gib"] for p in parts),
         "block_fit_s": [p["fit_s"] for p in parts]}
    for k in ("fit_s", "fit_cpu_s", "process_s", "wall_s", "cpu_s"):
        r[k] = sum(p[k] for p in parts)
    r["service_units"] = sum(p["service_units"] for p in parts)
    r["spell_units"] = sum(p["spell_units"] for p in parts)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/work/bench_data/1m")
    ap.add_argument("--subsets", default="20000,100000", help="also run on the first N persons (comma-separated)")
    ap.add_argument("--sizes", default="subsets,full")
    ap.add_argument("--impls", default="ibis,polars,pandas")
    ap.add_argument("--cap", type=float, default=7200.0, help="time cap of one run")
    ap.add_argument("--pandas-blocks", type=int, default=10,
                    help="where a single pandas process passes the memory cap, run it on this many person blocks")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "bench_outcomes.json"))
    ap.add_argument("--merge", action="store_true",
                    help="keep the other sizes' cases of an existing results file (run sizes separately)")
    ap.add_argument("--worker", default=None)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.data)
        return
    import harness as H
    import polars as pl

    folder = Path(args.data)
    if not (folder / "earnings_reports.parquet").exists():
        raise SystemExit(f"{folder}: no registers; generate with `impact simulate --persons 1000000 --seed 1 "
                         f"--out {folder}`")
    sizes = []
    if "subsets" in args.sizes:
        sizes += [(f"{int(n) // 1000}k", make_subset(folder, int(n))) for n in args.subsets.split(",") if n]
    if "full" in args.sizes:
        sizes.append(("full", folder))
    impls = args.impls.split(",")
    # the extraction date comes from the delivery (never from the data): delivery.toml, or for
    # registers generated before manifests existed the generator's record (truth/run.toml);
    # the subsets are cut from this folder and share it
    import tomllib

    for f in (folder / "delivery.toml", folder / "truth" / "run.toml"):
        if f.exists():
            os.environ["BENCH_EXTRACTION_DATE"] = str(tomllib.loads(f.read_text())["extraction_date"])
            break
    versions = H.python_versions(sys.executable, ["impact", "duckdb", "ibis-framework", "polars", "pandas", "numpy"])
    results = {"benchmark": "outcomes", "machine": H.machine(), "versions": {k: versions for k in [*impls, "pandas_blocks"]},
               "notes": NOTES, "what": WHAT, "cases": []}
    old = Path(args.results)
    if args.merge and old.exists():
        prev = json.loads(old.read_text())
        if "cases" in prev:  # the earlier run's cases of other sizes, with its machine record
            labels = {label for label, _ in sizes}
            results["cases"] = [c for c in prev["cases"] if c["size"] not in labels]
            results["earlier_runs"] = [*prev.get("earlier_runs", []), prev["machine"]]
            results["versions"] = {**prev.get("versions", {}), **results["versions"]}
    disagree = []
    for label, f in sizes:
        rows = pl.scan_parquet(f / "earnings_reports.parquet").select(pl.len()).collect().item()
        persons = pl.scan_parquet(f / "persons.parquet").select(pl.len()).collect().item()
        print(f"{label}: {persons:,} persons, {rows:,} report rows", flush=True)
        outputs: dict = {}
        runs = H.repeat({i: (lambda i=i: impl_run(i, f, args.cap, outputs)) for i in impls})
        if "pandas" in runs and runs["pandas"]["summary"]["status"] == "memory cap" and args.pandas_blocks > 1:
            blocks = make_blocks(f, args.pandas_blocks)
            runs.update(H.repeat({"pandas_blocks": lambda: blocks_run(blocks, args.cap, outputs)}))
        agree = {}
        if "ibis" in outputs:
            for i in outputs:
                if i != "ibis":
                    agree[i] = agreement(outputs["ibis"], outputs[i], _BLOCK_OWN if i == "pandas_blocks" else ())
                    bad = {n: v["differing_cells"] for n, v in agree[i].items() if v["differing_cells"]}
                    if bad:
                        disagree.append(f"{label} {i}: {bad}")
        results["cases"].append({"case": f"{label} ({persons:,} persons, {rows / 1e6:.1f} M report rows)",
                                 "size": label, "folder": str(f), "persons": persons, "earnings_rows": rows,
                                 "contenders": runs, "agreement": agree, "prepared_layout": prepare_record(f)})
        H.write_json(Path(args.results), results)
    results["machine"]["load_at_end"] = list(os.getloadavg())
    results["disagreements"] = disagree
    H.write_json(Path(args.results), results)
    for c in results["cases"]:
        print(c["case"], {k: (v["summary"].get("fit_s"), v["summary"].get("status")) for k, v in c["contenders"].items()})
    if disagree:
        raise SystemExit("the implementations differ from the package: " + "; ".join(disagree))
    print("every implementation equals the package on every unit it computed", flush=True)


NOTES = {
    "ibis": "the package as a run uses it: embedded DuckDB (memory_limit 5GB); the panel from the registers' prepared "
            "layout (impact.outcomes.panel_blocks) when the folder has a fresh one (see panel_source), else the Ibis "
            "expressions; the prepare step (once per delivery) is recorded per case under prepared_layout",
    "ibis_registers": "the package with the panel from the Ibis expressions (panel_source='registers'; person blocks "
                      "where the reports allow): the reference path, as before the prepared layout",
    "polars": "hand-written polars (lazy, streaming engine), no memory setting",
    "pandas": "the tests' pandas reference (tests/reference_outcomes.py), one process",
    "pandas_blocks": "the pandas reference on 10 person blocks, one process each; times summed, memory of the "
                     "largest block; each block its own segment baseline (baseline_* and rel_earnings_* not compared)",
}
WHAT = ("fit = raw register files -> person x month panel -> all unit outcomes in memory (reading the files "
        "included, imports outside); process = whole process")


if __name__ == "__main__":
    main()
