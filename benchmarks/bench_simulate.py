"""Benchmark of the synthetic-register generator at national scale.

Generates the default scenario for 1,000,000 persons (ten years of registers) and records
wall time, peak memory (resident set of the process tree, sampled every 0.2 s, plus
``getrusage`` maxima) and the row count of every table. Target: < 5 minutes and < 12 GiB
on a 2-core machine.

    .venv/bin/python benchmarks/bench_simulate.py [--persons 1000000] [--workers 2] [--out DIR] [--note TEXT]

Results are appended to ``benchmarks/results/bench_simulate.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import threading
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from impact.simulate import simulate  # noqa: E402


class PeakRSS(threading.Thread):
    """Samples the summed RSS of this process and its children."""

    def __init__(self, interval: float = 0.2):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self._halt.is_set():
            total = 0
            try:
                procs = [me] + me.children(recursive=True)
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            self.peak = max(self.peak, total)
            time.sleep(self.interval)

    def stop(self) -> None:
        self._halt.set()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--out", default="/tmp/impact_bench_simulate")
    ap.add_argument("--keep", action="store_true", help="keep the generated folder")
    ap.add_argument("--note", default="", help="free text stored with the result (code version, conditions)")
    args = ap.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    mon = PeakRSS()
    mon.start()
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    summary = simulate(scenario=args.scenario, persons=args.persons, seed=args.seed, out=out, workers=args.workers)
    wall = time.perf_counter() - t0
    mon.stop()
    rows = {}
    size = {}
    for f in sorted(list(out.glob("*.parquet")) + list((out / "truth").glob("*.parquet"))):
        name = str(f.relative_to(out))
        rows[name] = pq.ParquetFile(f).metadata.num_rows
        size[name] = f.stat().st_size
    ru = resource.getrusage(resource.RUSAGE_SELF)
    rc = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ru.ru_utime + ru.ru_stime + rc.ru_utime + rc.ru_stime
    ru_self = ru.ru_maxrss / 2**20
    ru_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    res = {
        "benchmark": "simulate",
        "scenario": args.scenario,
        "persons": args.persons,
        "workers": args.workers,
        "wall_seconds": round(wall, 1),
        "cpu_seconds_all_processes": round(cpu, 1),
        "cpu_seconds_main": round(ru.ru_utime + ru.ru_stime, 1),
        "peak_rss_tree_gib": round(mon.peak / 2**30, 2),
        "maxrss_main_gib": round(ru_self, 2),
        "maxrss_largest_child_gib": round(ru_child, 2),
        "rows": rows,
        "bytes": size,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": load_start,
        "load_average_at_end": os.getloadavg(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if args.note:
        res["note"] = args.note
    print(summary)
    print(json.dumps(res, indent=2))
    rdir = Path(__file__).resolve().parent / "results"
    rdir.mkdir(exist_ok=True)
    with open(rdir / "bench_simulate.json", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(res) + "\n")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
