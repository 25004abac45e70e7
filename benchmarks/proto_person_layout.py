"""Prototype of the layout that would bring the outcome stage to about 10 s at 1 M persons
(``docs/outcomes.md`` §8, "A layout for 10 s"): its critical step, the person x month panel.

Two steps, timed separately:

``prepare`` (once per delivery, at import): the raw earnings reports -> one Parquet file per
block of persons (``--blocks``, person-id ranges), with what every run would otherwise redo
already done: the latest version of each report reference kept and cancelled reports dropped
(the one string join), and dates as integer day numbers. Config-dependent rules (income types,
holiday compensation, extraction date, persons without spells) are left to the run.

``panel`` (every run): each block file is read and merged into a dense person x month grid of
that block, in one compiled pass over its rows (the rows of a person are in one block, so a
block's grid is small and the aggregation needs no hash table): the drop rules, the allocation
of every period to its months pro rata by days, and the sums per person and month. Blocks run
on all cores (one worker process per core). ``--check FOLDER`` compares the prototype's panel
with the package's on a (small) register folder: every person-month, earnings to 1e-6 EUR.

    .venv/bin/python benchmarks/proto_person_layout.py prepare --data /work/bench_data/1m --out /work/bench_data/1m_layout
    .venv/bin/python benchmarks/proto_person_layout.py panel --layout /work/bench_data/1m_layout --data /work/bench_data/1m
    .venv/bin/python benchmarks/proto_person_layout.py check --data /work/bench_data/1m_sub100k

Writes benchmarks/results/proto_person_layout.json (the ``panel`` and ``prepare`` timings).
Default outcome config only (earnings-period allocation, the floor rule); a prototype, not a
second implementation of the stage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

EPOCH = dt.date(1970, 1, 1)
COLS = ("person_id", "income_type", "amount_eur", "subsidised", "recovery", "pd0", "pd1", "ed0", "ed1", "paid")


def prepare(data: Path, out: Path, blocks: int) -> dict:
    """Latest versions, no cancellations, integer days; one Parquet file per person block."""
    import duckdb

    con = duckdb.connect(config={"memory_limit": "5GB", "preserve_insertion_order": "false",
                                 "temp_directory": str(out.parent / "duckdb_tmp")})
    src = str(data / "earnings_reports.parquet")
    lo, hi = con.execute(f"SELECT min(person_id), max(person_id) FROM read_parquet('{src}')").fetchone()
    size = -(-(hi - lo + 1) // blocks)
    out.mkdir(parents=True, exist_ok=True)
    t, c = time.perf_counter(), time.process_time()
    days = "CAST(date_diff('day', DATE '1970-01-01', {}) AS INT)"
    con.execute(f"""
        COPY (
          WITH r AS (SELECT * FROM read_parquet('{src}')),
          later AS (SELECT payer_id, report_ref, max(version) AS lv FROM r WHERE version > 1 GROUP BY ALL)
          SELECT r.person_id, r.income_type, r.amount_eur, coalesce(r.subsidised, false) AS subsidised,
                 coalesce(r.recovery, false) AS recovery,
                 {days.format('r.pay_period_start')} AS pd0, {days.format('r.pay_period_end')} AS pd1,
                 {days.format('r.earning_period_start')} AS ed0, {days.format('r.earning_period_end')} AS ed1,
                 {days.format('r.payment_date')} AS paid,
                 CAST((r.person_id - {lo}) // {size} AS INT) AS block
          FROM r LEFT JOIN later l ON r.payer_id = l.payer_id AND r.report_ref = l.report_ref
          WHERE (l.lv IS NULL OR r.version >= l.lv) AND r.action <> 'cancel'
        ) TO '{out}' (FORMAT parquet, PARTITION_BY (block), OVERWRITE_OR_IGNORE, COMPRESSION snappy)""")
    info = {"prepare_s": time.perf_counter() - t, "prepare_cpu_s": time.process_time() - c, "blocks": blocks,
            "block_size": size, "first_person": lo}
    (out / "layout.json").write_text(json.dumps(info))
    return info


def _accumulate():
    import numba

    @numba.njit(cache=True)
    def accumulate(pid, itype, amount, sub, rec, pd0, pd1, ed0, ed1, lo_person, n_persons, m_first, n_months,
                   counted, has_spell, month_first_day):
        """One pass over a block's rows into dense (person, month) grids; drop counts per rule."""
        earn = np.zeros(n_persons * n_months)
        sube = np.zeros(n_persons * n_months)
        fwd = np.full(n_persons * n_months, 2**31 - 1, np.int32)
        hit = np.zeros(n_persons * n_months, np.bool_)  # some row allocated to the person-month
        drops = np.zeros(4, np.int64)  # income type, period end before start, outside range, no spell
        for i in range(len(pid)):
            if not counted[itype[i]]:
                drops[0] += 1
                continue
            if ed0[i] >= 0 and ed1[i] >= 0:
                d0, d1 = ed0[i], ed1[i]
            else:
                d0, d1 = pd0[i], pd1[i]
            if d1 < d0:
                drops[1] += 1
                continue
            if d0 < month_first_day[0] or d1 >= month_first_day[n_months]:
                drops[2] += 1
                continue
            p = pid[i] - lo_person
            if not has_spell[p]:
                drops[3] += 1
                continue
            # the months of the period: binary search of d0, then walk forward
            a, b = 0, n_months
            while b - a > 1:
                mid = (a + b) // 2
                if month_first_day[mid] <= d0:
                    a = mid
                else:
                    b = mid
            total = d1 - d0 + 1
            wage_open = (not rec[i]) and amount[i] > 0 and not sub[i]
            m = a
            while m < n_months and month_first_day[m] <= d1:
                lo_d = max(d0, month_first_day[m])
                hi_d = min(d1, month_first_day[m + 1] - 1)
                share = amount[i] * (hi_d - lo_d + 1) / total
                k = p * n_months + m
                hit[k] = True
                earn[k] += share
                if sub[i]:
                    sube[k] += share
                if wage_open and lo_d < fwd[k]:
                    fwd[k] = lo_d
                m += 1
        return earn, sube, fwd, hit, drops

    return accumulate


def panel_block(args: tuple) -> dict:
    """The panel of one block file: dense grids -> (person, month) rows with any allocated amount."""
    import pyarrow.parquet as pq

    path, lo_person, n_persons, m_first, n_months, counted, spell_persons, floor, detail = args
    t, c = time.perf_counter(), time.process_time()
    tab = pq.read_table(path, columns=list(COLS))
    col = {n: tab.column(n).to_numpy(zero_copy_only=False) for n in COLS if n not in ("ed0", "ed1")}
    for n in ("ed0", "ed1"):  # null earnings period -> -1
        col[n] = tab.column(n).fill_null(-1).to_numpy()
    t_read = time.perf_counter() - t
    has_spell = np.zeros(n_persons, np.bool_)
    sp = spell_persons[(spell_persons >= lo_person) & (spell_persons < lo_person + n_persons)] - lo_person
    has_spell[sp] = True
    firsts = np.array([(dt.date(m // 12, m % 12 + 1, 1) - EPOCH).days for m in range(m_first, m_first + n_months + 1)],
                      np.int32)
    acc = _accumulate()
    earn, sube, fwd, hit, drops = acc(col["person_id"], col["income_type"].astype(np.int64), col["amount_eur"],
                                 col["subsidised"], col["recovery"], col["pd0"], col["pd1"], col["ed0"], col["ed1"],
                                 lo_person, n_persons, m_first, n_months, counted, has_spell, firsts)
    keys = np.flatnonzero(hit)  # the panel's person-months: some row allocated there (even summing to 0)
    return {"rows_read": len(col["person_id"]), "read_s": t_read, "s": time.perf_counter() - t,
            "cpu_s": time.process_time() - c, "drops": drops.tolist(), "panel_rows": int(len(keys)),
            "employed": int(((earn - sube)[keys] >= floor).sum()),
            "earnings_total": float(earn.sum()),
            "detail": (lo_person + keys // n_months, m_first + keys % n_months, earn[keys], sube[keys]) if detail else None}


def run_panel(layout: Path, data: Path, workers: int, detail: bool = False) -> tuple[dict, list[dict]]:
    import polars as pl

    from impact.months import month_index
    from impact.outcomes import OutcomeConfig

    cfg = OutcomeConfig()
    info = json.loads((layout / "layout.json").read_text())
    t, c = time.perf_counter(), time.process_time()
    sp = pl.concat([pl.scan_parquet(data / "service_spells.parquet").select("person_id"),
                    pl.scan_parquet(data / "jobseeking_spells.parquet").select("person_id")]).unique().collect()
    spell_persons = sp["person_id"].to_numpy()
    counted = np.zeros(1000, np.bool_)
    counted[list(cfg.income_types)] = True
    files = sorted(layout.glob("block=*/*.parquet"), key=lambda f: int(f.parent.name.split("=")[1]))
    m_first, m_last = month_index(dt.date(2014, 1, 1)), month_index(dt.date(2026, 12, 1))
    n_months = m_last - m_first + 1
    jobs = []
    for f in files:
        b = int(f.parent.name.split("=")[1])
        lo = info["first_person"] + b * info["block_size"]
        jobs.append((str(f), lo, info["block_size"], m_first, n_months, counted, spell_persons,
                     cfg.employment_floor_eur - 0.005, detail))
    _accumulate()  # compile (or load from the cache) once in the parent
    with ProcessPoolExecutor(workers) as ex:
        parts = list(ex.map(panel_block, jobs))
    return {"panel_s": time.perf_counter() - t, "parent_cpu_s": time.process_time() - c, "workers": workers,
            "block_cpu_s": sum(p["cpu_s"] for p in parts), "block_read_s": sum(p["read_s"] for p in parts),
            "rows_read": sum(p["rows_read"] for p in parts), "panel_rows": sum(p["panel_rows"] for p in parts),
            "employed_person_months": sum(p["employed"] for p in parts),
            "earnings_total": sum(p["earnings_total"] for p in parts),
            "drops": np.sum([p["drops"] for p in parts], axis=0).tolist()}, parts


def check(data: Path, tmp: Path) -> dict:
    """The prototype's panel against the package's on ``data`` (person-months, earnings, employment)."""
    import polars as pl

    from impact.backends import connect
    from impact.outcomes import compute_outcomes
    from impact.outcomes.io import open_registers

    prepare(data, tmp, 4)
    summary, parts = run_panel(tmp, data, 2, detail=True)
    con = connect("duckdb")
    res = compute_outcomes(con, open_registers(con, data), person_month_path=None, collect_person_month=True)
    pm = res.person_month
    want = {"panel_rows": pm.height, "employed_person_months": int(pm["employed"].sum()),
            "earnings_total": float(pm["earnings_eur"].sum())}
    got = {k: summary[k] for k in want}
    mine = pl.DataFrame({n: np.concatenate([p["detail"][i] for p in parts]) for i, n in
                         enumerate(("person_id", "month", "e", "s"))}).with_columns(pl.col("month").cast(pl.Int32))
    j = pm.join(mine, on=["person_id", "month"], how="full", coalesce=True)
    cells = {"person_months_only_in_one": int(j.filter(pl.col("e").is_null() | pl.col("earnings_eur").is_null()).height),
             "max_abs_earnings_diff": float((j["e"] - j["earnings_eur"]).abs().max()),
             "max_abs_subsidised_diff": float((j["s"] - j["subsidised_eur"]).abs().max())}
    ok = (cells["person_months_only_in_one"] == 0 and cells["max_abs_earnings_diff"] <= 1e-6
          and cells["max_abs_subsidised_diff"] <= 1e-6 and got["panel_rows"] == want["panel_rows"] and got["employed_person_months"] == want["employed_person_months"]
          and abs(got["earnings_total"] - want["earnings_total"]) <= 1e-6 * max(1.0, abs(want["earnings_total"])))
    return {"folder": str(data), "prototype": got, "package": want, "cell_by_cell": cells, "equal": bool(ok),
            "package_exclusions": res.exclusions.filter(pl.col("table") == "earnings_reports").to_dicts(),
            "prototype_drops": dict(zip(["income_type_not_counted", "period_end_before_start", "outside_month_range",
                                         "person_without_spells"], summary["drops"]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("step", choices=["prepare", "panel", "check"])
    ap.add_argument("--data", default="/work/bench_data/1m")
    ap.add_argument("--out", default="/work/bench_data/1m_layout")
    ap.add_argument("--layout", default="/work/bench_data/1m_layout")
    ap.add_argument("--blocks", type=int, default=16)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--results", default=str(HERE / "results" / "proto_person_layout.json"))
    args = ap.parse_args()
    res_path = Path(args.results)
    results = json.loads(res_path.read_text()) if res_path.exists() else {}
    load = os.getloadavg()
    if args.step == "prepare":
        r = prepare(Path(args.data), Path(args.out), args.blocks)
    elif args.step == "panel":
        r, _ = run_panel(Path(args.layout), Path(args.data), args.workers)
    else:
        import tempfile
        with tempfile.TemporaryDirectory(dir=Path(args.data).parent) as tmp:
            r = check(Path(args.data), Path(tmp) / "layout")
    r.update(load_before=load, load_after=os.getloadavg(), date_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    results.setdefault(args.step, []).append(r)
    res_path.parent.mkdir(parents=True, exist_ok=True)
    tmpf = res_path.with_name(f".{res_path.name}.tmp")
    tmpf.write_text(json.dumps(results, indent=1, default=str))
    os.replace(tmpf, res_path)
    print(json.dumps(r, indent=1, default=str))


if __name__ == "__main__":
    main()
