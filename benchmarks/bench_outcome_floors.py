"""Benchmark: what bounds the outcome stage on DuckDB (issue #3's "what bounds it").

Times, on one register folder and on the package's own DuckDB connection, the parts of the
work that no formulation of the same definitions can skip, each on its own:

* ``read``: decoding the 14 report columns the panel reads (every value touched once);
* ``read_without_report_ref``: the same without the payer's report reference (a string);
* ``allocate``: the drop rules and the month allocation (:func:`impact.outcomes.panel.allocated_rows`),
  materialised in memory (the input of the next two);
* ``group_by_sum``: the person x month aggregation of the allocated rows with one sum;
* ``group_by_panel``: the same with the panel's three aggregates (earnings, subsidised
  earnings, first work day);
* ``placement_join``: the formulation the issue measured, on the materialised panel: every
  unit with an end joined on person with ``month BETWEEN end + 1 AND end + 12``, placement
  flags at 1, 3, 6 and 12 months and the earnings sum (a fraction of the outcome stage).

Usage::

    .venv/bin/python benchmarks/bench_outcome_floors.py [--data /work/bench_data/1m]

Results go to benchmarks/results/bench_outcome_floors.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PANEL_COLUMNS = ("payer_id", "report_ref", "version", "action", "income_type", "payment_date", "person_id",
                 "amount_eur", "subsidised", "recovery", "pay_period_start", "pay_period_end",
                 "earning_period_start", "earning_period_end")


def _decode(col: str) -> str:
    """An aggregate that decodes every value of ``col`` (``count`` alone may read only metadata)."""
    if col == "report_ref":
        return "sum(length(report_ref))"
    if col == "action":
        return "count(*) FILTER (action = 'cancel')"
    return f"max({col})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/bench_data/1m")
    ap.add_argument("--memory-limit", default="5GB")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "bench_outcome_floors.json"))
    args = ap.parse_args()

    from impact.backends import connect, materialise
    from impact.outcomes import pipeline as P
    from impact.outcomes.config import OutcomeConfig
    from impact.outcomes.io import open_registers

    data = Path(args.data)
    missing = [n for n in ("earnings_reports", "persons", "jobseeking_spells", "service_spells")
               if not (data / f"{n}.parquet").exists()]
    if missing:
        raise SystemExit(f"{data}: no {', '.join(n + '.parquet' for n in missing)}; generate the registers with "
                         f"`impact simulate --persons 1000000 --out {data}`")
    con = connect("duckdb", {"memory_limit": args.memory_limit})
    raw = con.con
    steps: dict[str, dict] = {}

    def timed(name: str, run) -> object:
        w, c = time.perf_counter(), time.process_time()
        out = run()
        steps[name] = {"wall_s": round(time.perf_counter() - w, 2), "cpu_s": round(time.process_time() - c, 2),
                       "load_1min": round(os.getloadavg()[0], 2)}
        print(name, steps[name], flush=True)
        return out

    reports = f"'{data / 'earnings_reports.parquet'}'"
    n_rows = raw.sql(f"SELECT count(*) FROM {reports}").fetchall()[0][0]
    for name, cols in (("read", PANEL_COLUMNS), ("read_without_report_ref", [c for c in PANEL_COLUMNS if c != "report_ref"])):
        timed(name, lambda cols=cols: raw.sql(f"SELECT {', '.join(_decode(c) for c in cols)} FROM {reports}").fetchall())

    tables = open_registers(con, data)
    cfg = OutcomeConfig()
    first, last, latest = P.data_range(tables)
    plan = P.plan_outcomes(tables, cfg, latest, first, last)
    alloc = plan.allocated_rows()
    timed("allocate", lambda: materialise(con, alloc, "floor_alloc"))
    n_alloc = raw.sql("SELECT count(*) FROM floor_alloc").fetchall()[0][0]
    timed("group_by_sum", lambda: raw.sql(
        "SELECT count(*) FROM (SELECT person_id, month, sum(amount) FROM floor_alloc GROUP BY ALL)").fetchall())
    timed("group_by_panel", lambda: raw.execute(
        "CREATE TEMP TABLE floor_panel AS SELECT person_id, month, sum(amount) AS earnings, "
        "sum(CASE WHEN subsidised THEN amount ELSE 0 END) AS subsidised_eur, "
        "min(CASE WHEN wage AND NOT subsidised THEN work_day END) AS first_work_day "
        "FROM floor_alloc GROUP BY person_id, month"))
    raw.execute("DROP TABLE floor_alloc")
    n_panel = raw.sql("SELECT count(*) FROM floor_panel WHERE month >= 0").fetchall()[0][0]
    floor = cfg.employment_floor_eur - 0.005
    raw.execute(f"CREATE TEMP TABLE floor_pm AS SELECT person_id, month, earnings, "
                f"earnings - subsidised_eur >= {floor} AS employed FROM floor_panel WHERE month >= 0")
    mi = "(year(end_date) * 12 + month(end_date) - 1)::INT"
    raw.execute(f"CREATE TEMP TABLE floor_units AS "
                f"SELECT service_id AS unit, person_id, {mi} AS e FROM '{data / 'service_spells.parquet'}' "
                f"WHERE end_date IS NOT NULL UNION ALL "
                f"SELECT spell_id, person_id, {mi} FROM '{data / 'jobseeking_spells.parquet'}' WHERE end_date IS NOT NULL")
    n_units = raw.sql("SELECT count(*) FROM floor_units").fetchall()[0][0]
    flags = ", ".join(f"bool_or(employed AND month = e + {h}) AS p{h}" for h in (1, 3, 6, 12))
    timed("placement_join", lambda: raw.sql(
        f"SELECT count(*) FROM (SELECT unit, {flags}, sum(earnings) AS earn FROM floor_units u JOIN floor_pm p "
        f"ON u.person_id = p.person_id AND p.month BETWEEN u.e + 1 AND u.e + 12 GROUP BY unit)").fetchall())

    result = {"benchmark": "outcome_floors", "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "folder": str(data), "cpu_count": os.cpu_count(), "memory_limit": args.memory_limit,
              "report_rows": n_rows, "allocated_rows": n_alloc, "panel_rows": n_panel, "units_with_end": n_units,
              "steps": steps}
    out = Path(args.results)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, out)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
