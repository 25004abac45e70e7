"""Benchmark: raw earnings reports -> person x month panel -> all unit outcomes.

Three implementations of the same definitions (docs/outcomes.md), each in its own
subprocess (wall time and peak RSS measured per process), in one run:

* ``ibis``   - the package: Ibis expressions on embedded DuckDB (impact.outcomes);
* ``polars`` - a hand-written polars version (lazy, streaming engine; explode + equi-join for
  the bounded windows, ``join_asof`` for first employment and the return to job-seeking);
* ``pandas`` - the deliberately simple reference of the tests (tests/reference_outcomes.py),
  run under a time cap and a memory cap; where the full size passes the memory cap, it also
  runs on ``--pandas-blocks`` blocks of persons, one process each, and the block times are
  summed (``pandas_blocks``: the reference's work, each block with its own segment baseline).

Usage::

    .venv/bin/python benchmarks/bench_outcomes.py [--data /work/bench_data/1m_v11] [--subset 100000]
        [--pandas-cap 900] [--pandas-mem-gib 16] [--pandas-blocks 10] [--check]

``--subset N`` also runs all three on the first N persons (written once beside the data).
``--check`` compares the polars version's outcomes with the package's on the smallest data.
Results go to benchmarks/results/bench_outcomes.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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
# Workers (each runs in its own process)
# ---------------------------------------------------------------------------------------


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run_ibis(folder: Path, times: dict) -> dict:
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
    res = compute_outcomes(con, tables, cfg, person_month_path=None, collect_person_month=False)
    # the connection and the opening of the registers count as panel time
    times["panel_s"] = time.perf_counter() - t0 - res.timings["outcomes"][0]
    times["panel_cpu_s"] = time.process_time() - c0 - res.timings["outcomes"][1]
    times["outcomes_s"], times["outcomes_cpu_s"] = res.timings["outcomes"]
    times["outcome_steps_s"] = {k.split("/")[1]: v[0] for k, v in res.timings.items() if k.startswith("outcomes/")}
    times["panel_rows"] = int(res.panel.count().to_pyarrow().as_py())
    return {"service_outcomes": res.service_outcomes, "spell_outcomes": res.spell_outcomes,
            "panel": res.panel.to_polars() if times.get("_keep") else None}


def run_pandas(folder: Path, times: dict) -> dict:
    import polars as pl

    from impact.outcomes import OutcomeConfig
    from tests.reference_outcomes import reference_outcomes

    cfg = OutcomeConfig(**CFG_KW)
    t0 = time.perf_counter()
    frames = {n: pl.read_parquet(folder / f"{n}.parquet") for n in
              ("persons", "jobseeking_spells", "service_spells", "earnings_reports")}
    extraction = cfg.extraction_date or frames["earnings_reports"]["payment_date"].max()
    out = reference_outcomes(frames, cfg, extraction)
    times["total_only_s"] = time.perf_counter() - t0
    return out


def worker(impl: str, folder: str, result_file: str) -> None:
    times: dict = {}
    t0 = time.perf_counter()
    fn = {"ibis": run_ibis, "polars": polars_outcomes, "pandas": run_pandas}[impl]
    out = fn(Path(folder), times)
    times["total_s"] = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    times["cpu_s"] = ru.ru_utime + ru.ru_stime  # all threads; wall time is noisy under shared load
    times["load_average"] = os.getloadavg()
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
    hwm_kb = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                  if line.startswith("VmHWM:"))
    times["peak_rss_gib"] = hwm_kb / 2**20
    so = out["service_outcomes"]
    times["service_units"] = int(len(so))
    times["spell_units"] = int(len(out["spell_outcomes"]))
    Path(result_file).write_text(json.dumps(times))


def run_in_subprocess(impl: str, folder: Path, cap_s: float, mem_gib: float | None) -> dict:
    """Run one implementation in a child process; kill it past ``cap_s`` or past ``mem_gib`` of RSS
    (polled from /proc: an address-space rlimit would count the allocators' virtual reservations)."""
    res_file = Path(f"/tmp/bench_outcomes_{impl}_{os.getpid()}.json")
    res_file.unlink(missing_ok=True)
    cmd = [sys.executable, __file__, "--worker", impl, "--data", str(folder), "--result", str(res_file)]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    killed = capped = None
    while p.poll() is None:
        time.sleep(0.5)
        try:
            rss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{p.pid}/status").read_text().splitlines()
                          if line.startswith("VmRSS:"))
            peak = max(peak, rss_kb / 2**20)
        except (OSError, StopIteration):
            pass
        if time.perf_counter() - t0 > cap_s:
            killed, capped = f"capped at {cap_s:g} s", "time"
        elif mem_gib and peak > mem_gib:
            killed, capped = f"capped at {mem_gib:g} GiB RSS", "memory"
        if killed:
            p.kill()
            p.wait()
            return {"status": killed, "capped": capped, "wall_s": time.perf_counter() - t0,
                    "peak_rss_seen_gib": round(peak, 2)}
    wall = time.perf_counter() - t0
    err = p.stderr.read() if p.stderr else ""
    if p.returncode != 0 or not res_file.exists():
        tail = err.strip().splitlines()[-1:] or [f"exit status {p.returncode}"]
        return {"status": "failed", "wall_s": wall, "error": tail[0][:300], "peak_rss_seen_gib": round(peak, 2)}
    r = json.loads(res_file.read_text())
    r.update(status="ok", process_wall_s=wall)
    return r


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


def run_pandas_blocks(folder: Path, k: int, cap_s: float, mem_gib: float | None) -> dict:
    """The pandas reference on ``k`` person blocks, one process each, one after another.

    For a data size whose single run exceeds the memory cap. Each block computes its own
    segment baseline (the same operations on a k-th of the persons, so its values differ from
    the whole population's): this times the reference's work, not its exact result, and
    favours it (each block's frames are smaller and more cache-friendly than the whole).
    """
    blocks = [run_in_subprocess("pandas", f, cap_s, mem_gib) for f in make_blocks(folder, k)]
    ok = all(b.get("status") == "ok" for b in blocks)
    r = {"status": "ok" if ok else "failed", "blocks": k, "block_runs": blocks}
    if ok:
        r.update(total_s=sum(b["total_s"] for b in blocks), cpu_s=sum(b["cpu_s"] for b in blocks),
                 process_wall_s=sum(b["process_wall_s"] for b in blocks),
                 peak_rss_gib=max(b["peak_rss_gib"] for b in blocks),
                 service_units=sum(b["service_units"] for b in blocks),
                 spell_units=sum(b["spell_units"] for b in blocks))
    return r


def make_subset(folder: Path, n: int) -> Path:
    """``folder``'s persons with ids up to ``n``."""
    return _extract(folder, folder.parent / f"{folder.name}_sub{n // 1000}k", -(2**62), n)


def check(folder: Path) -> None:
    """The polars version gives the package's outcomes (same definitions) on ``folder``."""
    import numpy as np
    import polars as pl

    a = run_ibis(folder, {})
    b = polars_outcomes(folder, {})
    for name, key in (("service_outcomes", "service_id"), ("spell_outcomes", "spell_id")):
        x, y = a[name].sort(key), b[name].sort(key)
        assert x.height == y.height, (name, x.height, y.height)
        for c in x.columns:
            if c not in y.columns or x[c].dtype.is_temporal():
                continue
            xv, yv = x[c], y[c]
            if xv.dtype.is_float():
                xa, ya = xv.cast(pl.Float64).to_numpy(), yv.cast(pl.Float64).to_numpy()
                assert np.array_equal(np.isnan(xa), np.isnan(ya)), (name, c)
                ok = ~np.isnan(xa)
                assert np.allclose(xa[ok], ya[ok], rtol=1e-9, atol=1e-9), (name, c)
            else:
                conv = (lambda v: v.cast(pl.Int64).to_list()) if xv.dtype == pl.Boolean or yv.dtype == pl.Boolean \
                    else (lambda v: v.to_list())
                bad = sum(1 for p, q in zip(conv(xv), conv(yv)) if p != q)
                assert bad == 0, (name, c, bad)
    print(f"check: polars version equals the package on {folder}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/work/bench_data/1m_v11")
    ap.add_argument("--subset", type=int, default=100_000)
    ap.add_argument("--pandas-cap", type=float, default=900.0)
    ap.add_argument("--pandas-mem-gib", type=float, default=16.0)
    ap.add_argument("--cap", type=float, default=1200.0, help="time cap for the ibis and polars runs")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--skip-full-pandas", action="store_true")
    ap.add_argument("--pandas-blocks", type=int, default=10,
                    help="if the full-size pandas run hits the memory cap, run it on this many person blocks")
    ap.add_argument("--impls", default="ibis,polars,pandas")
    ap.add_argument("--sizes", default="subset,full")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "bench_outcomes.json"))
    ap.add_argument("--worker", default=None)
    ap.add_argument("--result", default=None)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.data, args.result)
        return
    folder = Path(args.data)
    if not (folder / "earnings_reports.parquet").exists():
        raise SystemExit(f"{folder}: no registers; generate with `impact simulate --persons 1000000 --out {folder}`")
    import polars as pl

    sizes = []
    if args.subset and "subset" in args.sizes:
        sizes.append(("subset", make_subset(folder, args.subset)))
    if "full" in args.sizes:
        sizes.append(("full", folder))
    if args.check:
        check(sizes[0][1])
    results = {"benchmark": "outcomes", "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "cpu_count": os.cpu_count(), "runs": {}}
    for label, f in sizes:
        rows = pl.scan_parquet(f / "earnings_reports.parquet").select(pl.len()).collect().item()
        persons = pl.scan_parquet(f / "persons.parquet").select(pl.len()).collect().item()
        entry = {"folder": str(f), "persons": persons, "earnings_rows": rows}
        for impl in args.impls.split(","):
            if impl == "pandas" and label == "full" and args.skip_full_pandas:
                entry[impl] = {"status": "skipped"}
                continue
            cap = args.pandas_cap if impl == "pandas" else args.cap
            entry[impl] = run_in_subprocess(impl, f, cap, args.pandas_mem_gib if impl == "pandas" else None)
            print(label, impl, json.dumps(entry[impl]), flush=True)
            if impl == "pandas" and entry[impl].get("capped") == "memory" and args.pandas_blocks > 1:
                entry["pandas_blocks"] = run_pandas_blocks(f, args.pandas_blocks, cap, args.pandas_mem_gib)
                print(label, "pandas_blocks", json.dumps({k: v for k, v in entry["pandas_blocks"].items()
                                                          if k != "block_runs"}), flush=True)
        ib = entry.get("ibis", {})
        for impl in ("polars", "pandas", "pandas_blocks"):
            if impl not in entry:
                continue
            o = entry[impl]
            if ib.get("status") == "ok" and o.get("status") == "ok":
                entry[f"{impl}_over_ibis_total"] = round(o["total_s"] / ib["total_s"], 2)
            elif ib.get("status") == "ok" and o.get("capped") == "time":
                # stopped by the time cap: its run time so far is a lower bound
                entry[f"{impl}_over_ibis_total"] = f"> {o['wall_s'] / ib['total_s']:.1f}"
            elif ib.get("status") == "ok":  # stopped by the memory cap, failed or skipped: no ratio
                entry[f"{impl}_over_ibis_total"] = f"none ({o.get('status')})"
        entry["load_average_at_end"] = os.getloadavg()
        results["runs"][label] = entry
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, default=str))
    os.replace(tmp, out)
    print(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
