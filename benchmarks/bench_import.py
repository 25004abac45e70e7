"""Benchmark: importing real-layout register data (``impact import``).

Two parts, each step in its own subprocess (wall time, process CPU time of all its threads and peak resident
memory, ``VmHWM``, of that process alone; on a loaded shared machine the CPU time is the
comparable number):

* ``xml``: Incomes Register XML throughput and memory against the file size. The generator's
  earnings reports of ``--persons`` persons are written as ONE ``WageReportsFromIR`` file of
  about 1 GB, plus prefixes of about 0.25 and 0.5 GB (the same reports, fewer of them). On
  each: the streaming reader with the XSD check (transactions per second, peak memory), and on
  the 1 GB file the whole ``import_registers("ir-xml", ...)`` (reader, mapping, Parquet).
  Memory must not grow with the file: compare the peaks of the three sizes.
* ``fiona``: the 1 M-person registers (``--data``, written by ``impact simulate``) in the
  FIONA layout as Parquet and as SAS data sets (``--formats``), imported as a researcher
  would: ``fiona-jobseekers`` then ``fiona-incomes`` into one folder.

Heavy: run under ``flock /work/locks/bigmem nice -n 10``. The load average is recorded before
and after each step (the machine is shared). Results: ``benchmarks/results/bench_import.json`` (``xml``, and ``fiona_<register folder name>``).

Usage::

    .venv/bin/python benchmarks/bench_import.py xml [--persons 11500] [--work /tmp/bench_import]
    .venv/bin/python benchmarks/bench_import.py fiona --data /work/bench_data/1m [--formats parquet,sas]
        [--memory 8GB] [--work /tmp/bench_import]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bench_import.json"
sys.path.insert(0, str(ROOT))


def _vmhwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _child(step: str, args: dict) -> dict:
    """Run one step in a fresh interpreter; returns its JSON result with load averages."""
    before = _load()
    t0 = time.perf_counter()
    cmd = [sys.executable, __file__, "_step", step, json.dumps(args)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res.update(step=step, wall_s_outer=round(time.perf_counter() - t0, 1), load_before=before, load_after=_load())
    print(json.dumps(res), flush=True)
    return res


# -- steps (run in the child) -----------------------------------------------------------------

def step_read_xml(a: dict) -> dict:
    from impact.registers.importers.ir_xml import XmlReader
    from impact.registers.importers.log import ImportLog
    from impact.registers.importers.mapping import load_mapping

    f = Path(a["file"])
    log = ImportLog("ir-xml", [str(f)], strict=True)
    r = XmlReader(Path(a["staging"]), load_mapping("ir_2022_synthetic", "ir-xml"), log, [str(f)],
                  schema_check=a["schema_check"])
    t0, c0 = time.perf_counter(), time.process_time()
    r.read(f, 0)
    r.close()
    s, c = time.perf_counter() - t0, time.process_time() - c0
    return {"file_gb": round(f.stat().st_size / 1e9, 3), "schema_check": a["schema_check"], "reports": r.reports,
            "transactions": r.transactions, "seconds": round(s, 1), "cpu_seconds": round(c, 1),
            "transactions_per_s": round(r.transactions / s), "transactions_per_cpu_s": round(r.transactions / c),
            "mb_per_s": round(f.stat().st_size / 1e6 / s, 1), "mb_per_cpu_s": round(f.stat().st_size / 1e6 / c, 1),
            "peak_rss_mb": round(_vmhwm_mb())}


def step_import(a: dict) -> dict:
    from impact.registers.importers import import_registers

    t0, c0 = time.perf_counter(), time.process_time()
    steps = []
    for kind, sources, opts in a["imports"]:
        t1, c1 = time.perf_counter(), time.process_time()
        res = import_registers(kind, sources, a["out"], duckdb_memory=a.get("memory"), **opts)
        steps.append({"kind": kind, "seconds": round(time.perf_counter() - t1, 1),
                      "cpu_seconds": round(time.process_time() - c1, 1), "rows": res.rows})
    return {"seconds": round(time.perf_counter() - t0, 1), "cpu_seconds": round(time.process_time() - c0, 1),
            "steps": steps, "peak_rss_mb": round(_vmhwm_mb())}


def step_write_fiona(a: dict) -> dict:
    from impact.simulate.layouts import write_layout

    t0 = time.perf_counter()
    files = write_layout(a["data"], "fiona", a["out"], a["fmt"])
    size = sum(f.stat().st_size for f in files)
    return {"files": len(files), "gb": round(size / 1e9, 2), "seconds": round(time.perf_counter() - t0, 1),
            "peak_rss_mb": round(_vmhwm_mb())}


def step_write_xml(a: dict) -> dict:
    import numpy as np
    import polars as pl

    from impact.simulate.layout_xml import NS_WAGE, SIGNATURE, _head, _write, business_ids, personal_ids, \
        wage_reports_xml
    from impact.simulate.layouts import read_native

    reg, extraction = read_native(a["native"])
    er = reg["earnings_reports"].collect()
    persons = personal_ids(reg["persons"])
    payers = business_ids(np.concatenate([er["payer_id"].unique().to_numpy(), [1, 2]]))
    rep = wage_reports_xml(er, persons, payers).sort("report_id")
    lens = rep.select(pl.col("xml").str.len_bytes().cum_sum())["xml"].to_numpy()
    out = {}
    for gb in a["sizes"]:
        n = int(np.searchsorted(lens, gb * 1e9)) + 1
        path = Path(a["work"]) / f"wage_reports_{gb}gb.xml"
        part = rep.head(n)
        _write(path, _head("wrfir", NS_WAGE, "WageReportsFromIR", 300, 2016, extraction, part.height), part["xml"],
               "</Reports>\n" + SIGNATURE + "</wrfir:WageReportsFromIR>\n")
        out[str(gb)] = {"file": str(path), "reports": part.height, "gb": round(path.stat().st_size / 1e9, 3)}
    return {"files": out, "peak_rss_mb": round(_vmhwm_mb())}


STEPS = {"read_xml": step_read_xml, "import": step_import, "write_fiona": step_write_fiona,
         "write_xml": step_write_xml}


# -- parts --------------------------------------------------------------------------------------

def part_xml(args: argparse.Namespace) -> dict:
    from impact.simulate import simulate

    work = Path(args.work)
    native = work / f"native_{args.persons}"
    if not (native / "truth" / "run.toml").exists():
        simulate(persons=args.persons, seed=1, out=native)
    sizes = [float(x) for x in args.sizes.split(",")]
    files = _child("write_xml", {"native": str(native), "work": str(work), "sizes": sizes})["files"]
    out = {"persons": args.persons, "files": files, "read": [], "import": None}
    for gb in sizes:
        f = files[str(gb)]["file"]
        for check in (True, False) if gb == max(sizes) else (True,):
            out["read"].append(_child("read_xml", {"file": f, "staging": str(work / f"stage_{gb}_{check}"),
                                                   "schema_check": check}))
    big = files[str(max(sizes))]["file"]
    out["import"] = _child("import", {"out": str(work / "imported_xml"), "memory": args.memory,
                                      "imports": [["ir-xml", [big], {"mapping": "ir_2022_synthetic"}]]})
    return out


def part_fiona(args: argparse.Namespace) -> dict:
    data = Path(args.data)
    work = Path(args.work)
    out = {"data": str(data), "formats": {}}
    for fmt in args.formats.split(","):
        lay = work / f"fiona_{fmt}"
        if not (lay / "layout.json").exists():
            wrote = _child("write_fiona", {"data": str(data), "out": str(lay), "fmt": fmt})
        else:
            wrote = {"reused": str(lay)}
        ext = {"parquet": "parquet", "sas": "sas7bdat", "stata": "dta", "csv": "csv"}[fmt]
        js = sorted(str(p) for p in (lay / "tem_tyonhakija").iterdir()) + \
            sorted(str(p) for p in (lay / "tem_tyonhaku").iterdir()) + [str(lay / f"service_costs.{ext}")]
        inc = sorted(str(p) for p in (lay / "tax_incomes").iterdir()) + \
            sorted(str(p) for p in (lay / "tax_benefit").iterdir())
        imp = _child("import", {"out": str(work / f"imported_{fmt}"), "memory": args.memory, "imports": [
            ["fiona-jobseekers", js, {"areas": str(lay / "employment_areas.csv")}],
            ["fiona-incomes", inc, {"mapping": "tax_incomes_002_synthetic"}]]})
        out["formats"][fmt] = {"write_layout": wrote, "import": imp}
    return out


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "_step":
        print(json.dumps(STEPS[sys.argv[2]](json.loads(sys.argv[3]))))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("part", choices=["xml", "fiona"])
    p.add_argument("--persons", type=int, default=11500, help="xml: persons whose reports make the files")
    p.add_argument("--sizes", default="0.25,0.5,1.0", help="xml: file sizes in GB")
    p.add_argument("--data", default="/work/bench_data/1m", help="fiona: generated 1 M-person register folder")
    p.add_argument("--formats", default="parquet,sas", help="fiona: layouts' file formats")
    p.add_argument("--memory", default="8GB", help="DuckDB memory limit of the imports")
    p.add_argument("--work", default="/tmp/bench_import", help="scratch folder")
    args = p.parse_args()
    Path(args.work).mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    res = part_xml(args) if args.part == "xml" else part_fiona(args)
    res.update(started=started, cores=os.cpu_count())
    allres = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    # one record per register folder for the FIONA part (20 k, 100 k and 1 M persons side by side)
    allres[args.part if args.part == "xml" else f"fiona_{Path(args.data).name}"] = res
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(allres, indent=1))
    tmp.replace(RESULTS)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
