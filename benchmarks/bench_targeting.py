"""Time the whole targeting analysis (issue #22) on a register folder, stage by stage.

Calls :func:`impact.estimators.policy.targeting.service_targeting` directly (the study layer
will call the same function) on the registers and the outcome stage's person x month panel,
with the generator's truth when the folder has one, and writes the stage times, the load
average, the peak memory and the headline numbers to a JSON file.

Run (the default registers: ``impact simulate --persons 200000`` and ``impact outcomes``)::

    flock /work/locks/bigmem flock /work/locks/bench .venv/bin/python benchmarks/bench_targeting.py \\
        synthetic_data/default_200000_20250101 synthetic_data/default_200000_20250101_outcomes \\
        --out benchmarks/results/bench_targeting.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impact.estimators.policy.targeting import TRUTH_COVARIATES, TargetingOptions, service_targeting  # noqa: E402
from impact.simulate.policy_truth import arm_effects  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("registers")
    ap.add_argument("outcomes", help="folder with the outcome stage's person_month.parquet")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    reg = Path(a.registers)
    frames = {n: pl.read_parquet(reg / f"{n}.parquet") for n in ("persons", "jobseeking_spells", "service_spells")}
    panel = pl.read_parquet(Path(a.outcomes) / "person_month.parquet",
                            columns=["person_id", "month", "employed", "earnings_eur"]).rename(
        {"earnings_eur": "earnings"})
    t_read = time.perf_counter() - t0
    truth_dir = reg / "truth"
    truth = None
    if (truth_dir / "service_effects.parquet").exists():
        def truth(rows, arms, h):
            return arm_effects(truth_dir, rows, arms, h, TRUTH_COVARIATES)
    out = service_targeting(frames["jobseeking_spells"], frames["service_spells"], frames["persons"], panel,
                            TargetingOptions(), truth=truth)
    total = time.perf_counter() - t0
    g = out.gain.set_index("estimand")
    res = {
        "registers": str(reg), "persons": frames["persons"].height, "design_rows": out.results.info["rows"],
        "participants": out.results.info["participants"],
        "seconds": {"read": t_read, **out.timings, "total_with_read": total},
        "load_average_start": load0, "load_average_end": os.getloadavg(),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "gain_rule_vs_today": {k: float(g.loc["gain: rule vs today", k]) for k in ("estimate", "std_error", "ci_lower",
                                                                                   "ci_upper", "truth")},
        "rule": [f"{r.conditions} -> {r.action}" for r in out.leaves.itertuples()],
        "warnings": out.warnings,
    }
    tmp = Path(a.out).with_suffix(".tmp")
    tmp.write_text(json.dumps(res, indent=1, default=str))
    tmp.replace(a.out)
    print(json.dumps(res, indent=1, default=str))


if __name__ == "__main__":
    main()
