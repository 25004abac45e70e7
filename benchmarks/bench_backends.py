"""Benchmark: the outcome stage on embedded DuckDB vs local Spark, in one run.

Both backends run the same Ibis expressions (impact.outcomes.compute_outcomes) on the same
register folder; each in its own subprocess so that wall time and peak memory (RSS of the
Python process and its children, i.e. Spark's JVM) are measured per backend. Spark's JVM
start-up is timed separately from the outcome stage. The person x month panel is written to
Parquet by the backend (not collected); the unit tables come back as polars, and the script
checks that the two backends' unit tables agree.

Usage::

    .venv/bin/python benchmarks/bench_backends.py [--data /work/bench_data/200k]
        [--persons 200000] [--seed 1] [--spark-master local[2]] [--cap 3600]

If ``--data`` does not exist it is generated with ``impact simulate`` first. Results go to
``benchmarks/results/bench_backends.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPARK_CONF = {"spark.driver.memory": "6g", "spark.sql.shuffle.partitions": "8"}


def worker(backend: str, folder: Path, out: Path, master: str) -> dict:
    """Run the outcome stage once on ``backend``; returns timings and table sizes."""
    import polars as pl

    from impact.backends import connect, open_register_tables
    from impact.outcomes import OutcomeConfig, compute_outcomes

    t0 = time.perf_counter()
    settings = {"master": master, "app_name": "impact-bench", "conf": SPARK_CONF} if backend == "pyspark" else None
    con = connect(backend, settings)
    startup = time.perf_counter() - t0
    t1 = time.perf_counter()
    tables = open_register_tables(con, folder)
    res = compute_outcomes(con, tables, OutcomeConfig(), person_month_path=out / "person_month.parquet",
                           collect_person_month=False)
    stage = time.perf_counter() - t1
    res.service_outcomes.write_parquet(out / "service_outcomes.parquet")
    res.spell_outcomes.write_parquet(out / "spell_outcomes.parquet")
    pm = out / "person_month.parquet"
    n_pm = pl.scan_parquet(pm / "*.parquet" if pm.is_dir() else pm).select(pl.len()).collect().item()
    if backend == "pyspark":
        con._session.stop()
    return {"backend": backend, "startup_s": round(startup, 2), "outcome_stage_s": round(stage, 2),
            "total_s": round(startup + stage, 2), "person_month_rows": n_pm,
            "service_rows": res.service_outcomes.height, "spell_rows": res.spell_outcomes.height}


def run_child(backend: str, folder: Path, out: Path, master: str, cap: float) -> dict:
    """Run :func:`worker` in a subprocess; adds wall time and peak RSS (incl. the JVM)."""
    result = out / "result.json"
    cmd = [sys.executable, __file__, "--worker", backend, "--data", str(folder), "--out", str(out),
           "--spark-master", master, "--result", str(result)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=cap)
    except subprocess.TimeoutExpired:
        return {"backend": backend, "error": f"over the {cap:.0f} s cap"}
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        return {"backend": backend, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    r = json.loads(result.read_text())
    r["wall_s"] = round(wall, 2)
    # ru_maxrss of children is the largest single child (python or the JVM it forked), in KiB
    r["peak_rss_gib"] = round(max(peak, before) / 2**20, 2)
    return r


def compare(a: Path, b: Path) -> dict:
    """Largest differences between two backends' unit tables (sorted by key)."""
    import numpy as np
    import polars as pl

    out = {}
    for name, key in (("service_outcomes", "service_id"), ("spell_outcomes", "spell_id")):
        x = pl.read_parquet(a / f"{name}.parquet").sort(key)
        y = pl.read_parquet(b / f"{name}.parquet").sort(key)
        if x.shape != y.shape or x.columns != y.columns:
            out[name] = f"shape {x.shape} vs {y.shape}"
            continue
        worst, ndiff = 0.0, 0
        for c in x.columns:
            if x[c].dtype.is_float():
                d = np.abs(x[c].fill_null(np.nan).to_numpy() - y[c].fill_null(np.nan).to_numpy())
                d = d[~np.isnan(d)]
                worst = max(worst, float(d.max()) if d.size else 0.0)
            elif not x[c].dtype.is_temporal():
                ndiff += int(((x[c] != y[c].cast(x[c].dtype)).fill_null(False)
                              | (x[c].is_null() != y[c].is_null())).sum())
        out[name] = {"rows": x.height, "non_float_cells_differing": ndiff, "max_abs_float_diff": worst}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="/work/bench_data/200k")
    ap.add_argument("--persons", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--spark-master", default="local[2]")
    ap.add_argument("--cap", type=float, default=3600.0, help="time cap per backend (s)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--worker", default=None)
    ap.add_argument("--result", default=None)
    args = ap.parse_args()
    folder = Path(args.data)
    if args.worker:
        r = worker(args.worker, folder, Path(args.out), args.spark_master)
        Path(args.result).write_text(json.dumps(r))
        return
    if not (folder / "earnings_reports.parquet").exists():
        print(f"generating {folder} ({args.persons:,} persons, seed {args.seed}) ...", flush=True)
        subprocess.run([sys.executable, "-m", "impact.cli", "simulate", "--persons", str(args.persons),
                        "--seed", str(args.seed), "--out", str(folder)], check=True)
    import polars as pl

    size = {t: pl.scan_parquet(folder / f"{t}.parquet").select(pl.len()).collect().item()
            for t in ("persons", "jobseeking_spells", "service_spells", "earnings_reports")}
    size["bytes_parquet"] = sum(p.stat().st_size for p in folder.glob("*.parquet"))
    print(f"data {folder}: {size}", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_backends_") as tmp:
        outs = {}
        for backend in ("duckdb", "pyspark"):
            out = Path(tmp) / backend
            out.mkdir()
            r = run_child(backend, folder, out, args.spark_master, args.cap)
            print(json.dumps(r), flush=True)
            results.append(r)
            outs[backend] = out
        agree = compare(outs["duckdb"], outs["pyspark"]) if all("error" not in r for r in results) else None
    d, s = results
    ratio = (round(s["outcome_stage_s"] / d["outcome_stage_s"], 1)
             if "error" not in d and "error" not in s else None)
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "data": str(folder), "sizes": size,
              "machine": f"{os.cpu_count()} cores; load average at end {os.getloadavg()[0]:.1f}",
              "spark_master": args.spark_master, "spark_conf": SPARK_CONF, "results": results,
              "spark_over_duckdb_outcome_stage": ratio, "agreement": agree}
    path = ROOT / "benchmarks" / "results" / "bench_backends.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: report[k] for k in ("spark_over_duckdb_outcome_stage", "agreement")}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
