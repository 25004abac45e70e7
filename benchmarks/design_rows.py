"""How large the risk-set matching table of ``studies/training_effect.toml`` gets, from the registers alone.

The design (:func:`impact.designs.dynamic.risk_set_design`, outcomes from the service end) has a
comparison row per (spell at risk, risk month, service length of a treated row in its exact
cell): the same comparison spell is repeated once per distinct service length in its cell. This
counts those rows without the panel (no history, no outcomes), block by block as the design
does, so that the table's size can be read before a run tries to hold it:

    .venv/bin/python benchmarks/design_rows.py /work/bench_data/1m

``--first-month``/``--last-month`` are the person x month panel's first and last month index
(the defaults are those of the 1 M registers: the design's ``first_risk_month - 24`` and
``last_month``). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial

import polars as pl

from impact.designs import dynamic as D


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("registers")
    ap.add_argument("--first-month", type=int, default=24183)
    ap.add_argument("--last-month", type=int, default=24311)
    ap.add_argument("--horizon", type=int, default=12, help="longest outcome horizon (months)")
    ap.add_argument("--history", type=int, default=24, help="longest history window (months)")
    ap.add_argument("--max-elapsed", type=int, default=24)
    a = ap.parse_args()
    t = time.perf_counter()
    sp = pl.read_parquet(f"{a.registers}/jobseeking_spells.parquet")
    sv = pl.read_parquet(f"{a.registers}/service_spells.parquet")
    per = pl.read_parquet(f"{a.registers}/persons.parquet")
    lm = a.last_month
    s = D._spells_with_first_start(sp, sv, "training", 7, lm + 1)
    rows_of = partial(D._risk_rows, per=D._person_columns(per), m_lo=a.first_month + a.history,
                      max_elapsed=a.max_elapsed, comparison="not_yet", grace=0, window=None)
    tr = rows_of(s.filter(pl.col("ms").is_not_null()))[0].filter(pl.col("treated"))
    ex3 = ["u", "quarter", "employment_area"]
    cells3 = tr.select(ex3).unique()
    lengths = tr.filter(pl.col("me").is_not_null()).select(*ex3, length=pl.col("me") - pl.col("ms")).unique()
    n_ctl, n_spell_months = 0, 0
    for lo, hi in D._blocks(s, None):  # the design's person blocks
        r = rows_of(s.filter(pl.col("person_id").is_between(lo, hi)))[0].join(cells3, on=ex3, how="semi") \
            .filter(~pl.col("treated"))
        n_spell_months += r.height
        n_ctl += r.select("m", *ex3).join(lengths, on=ex3).filter(pl.col("m") + pl.col("length") + a.horizon
                                                                   <= lm).height
    n_tr = tr.filter(pl.col("me").is_not_null() & (pl.col("me") + a.horizon <= lm)).height
    print(json.dumps({"registers": a.registers, "persons": per.height, "treated_rows": n_tr,
                      "comparison_spell_months": n_spell_months, "comparison_rows": n_ctl,
                      "exact_cells": lengths.height, "seconds": round(time.perf_counter() - t, 1)}))


if __name__ == "__main__":
    main()
