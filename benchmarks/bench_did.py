"""Benchmark: staggered DiD (Callaway-Sant'Anna ATT(g,t), doubly robust) against Python peers.

Data: ``units x periods`` balanced panel, 12 cohorts plus never-treated units, heterogeneous
dynamic effects, one time-invariant covariate that shifts trends and selection. Ours runs
in this process (time from a polars table to the ATT(g,t) table with analytic SEs and the
dynamic aggregation); peers (csdid, differences, diff-diff) run in subprocesses of the peer
venv ``benchmarks/.peers-did`` (``benchmarks/requirements-peers-did.txt``), each with a time
cap; where a peer stops (time cap, memory, error) is recorded. Point estimates are compared
cell by cell.

    .venv/bin/python benchmarks/bench_did.py               # 2M rows and 24M rows
    .venv/bin/python benchmarks/bench_did.py --sizes small # quick check

Writes benchmarks/results/bench_did.json (atomically) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
PEER_PY = ROOT / "benchmarks/.peers-did/bin/python"
SIZES = {"small": (20_000, 10), "2M": (100_000, 20), "24M": (1_000_000, 24)}


def make_panel(n_units: int, n_periods: int, n_cohorts: int = 12, seed: int = 1) -> pl.DataFrame:
    """Balanced panel with staggered adoption and heterogeneous dynamic effects."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n_units)
    first = 3
    cohorts = np.linspace(first + 1, n_periods, n_cohorts).round().astype(int)
    # selection on x: higher x, more likely treated and earlier
    p_treat = 1 / (1 + np.exp(-(0.3 + 0.5 * x)))
    treated = rng.random(n_units) < p_treat
    which = np.clip((rng.random(n_units) * n_cohorts - 0.8 * x).astype(int), 0, n_cohorts - 1)
    g = np.where(treated, cohorts[which], 0)
    alpha = rng.normal(size=n_units) + 0.5 * x
    t = np.arange(1, n_periods + 1)
    lam = 0.1 * t
    e = t[None, :] - g[:, None]
    on = (g[:, None] > 0) & (e >= 0)
    # effect grows with exposure and differs by cohort
    effect = np.where(on, (0.5 + 0.1 * e) * (1 + 0.05 * (g[:, None] - first)), 0.0)
    y = alpha[:, None] + lam[None, :] + 0.2 * x[:, None] * t[None, :] / n_periods + effect
    y += rng.normal(scale=1.0, size=y.shape)
    return pl.DataFrame({
        "id": np.repeat(np.arange(n_units, dtype=np.int64), n_periods),
        "period": np.tile(t.astype(np.int64), n_units),
        "g": np.repeat(g.astype(np.int64), n_periods),
        "x": np.repeat(x, n_periods),
        "y": y.ravel(),
    })


def run_ours(df: pl.DataFrame, covariate: bool) -> dict:
    from impact.estimators import did

    t0 = time.perf_counter()
    res = did.att_gt(df, unit="id", time="period", group="g", outcome="y",
                     covariates=["x"] if covariate else None, method="dr")
    t1 = time.perf_counter()
    dyn = res.aggregate("dynamic")
    t2 = time.perf_counter()
    tab = res.att_gt
    return {
        "seconds": t2 - t0, "att_gt_seconds": t1 - t0, "aggregate_seconds": t2 - t1,
        "cells": len(tab), "group": tab["group"].tolist(), "time": tab["time"].tolist(),
        "att": tab["att"].tolist(), "se": tab["std_error"].tolist(),
        "dynamic_overall": dyn.overall.estimate,
    }


PEER_CODE = {
    "csdid": """
        from csdid.att_gt import ATTgt
        kw = dict(xformla="y~x") if COV else {}
        a = ATTgt(yname="y", gname="g", idname="id", tname="period", data=df, control_group=["nevertreated"], **kw)
        a = a.fit(est_method="dr", bstrap=False)
        r = a.results
        out = dict(group=[int(v) for v in r["group"]], time=[int(v) for v in r["year"]], att=[float(v) for v in r["att"]],
                   se=[float(v) for v in r["se"]])
    """,
    "differences": """
        from differences import ATTgt
        d = df.copy(); d["g"] = d["g"].where(d["g"] > 0)  # differences: NaN = never treated
        d = d.set_index(["id", "period"])
        a = ATTgt(data=d, cohort_column="g")
        a.fit(formula="y ~ x" if COV else "y", est_method="dr", control_group="never_treated", progress_bar=False)
        r = a.results().reset_index()
        r.columns = ["_".join(str(x) for x in c if x) if isinstance(c, tuple) else c for c in r.columns]
        out = dict(group=[int(v) for v in r["cohort"]], time=[int(v) for v in r["time"]],
                   att=[float(v) for v in r["ATTgtElements_ATT"]], se=[float(v) for v in r["ATTgtElements_analytic_std_error"]])
    """,
    "diff-diff": """
        from diff_diff import CallawaySantAnna
        cs = CallawaySantAnna(control_group="never_treated", estimation_method="dr", n_bootstrap=0)
        kw = dict(covariates=["x"]) if COV else {}
        r = cs.fit(df, outcome="y", unit="id", time="period", first_treat="g", **kw)
        gt = r.group_time_effects
        keys = sorted(gt)
        out = dict(group=[int(k[0]) for k in keys], time=[int(k[1]) for k in keys],
                   att=[float(gt[k]["effect"]) for k in keys], se=[float(gt[k]["se"]) for k in keys])
    """,
}

PEER_TEMPLATE = """
import json, sys, time, warnings, resource
warnings.filterwarnings("ignore")
import pandas as pd
COV = {cov}
df = pd.read_parquet({path!r})
t0 = time.perf_counter()
{body}
out["seconds"] = time.perf_counter() - t0
out["max_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
json.dump(out, open({outpath!r}, "w"))
"""


MEM_CAP_GIB = 12


def _limit_memory() -> None:
    """Address-space cap for a peer subprocess (the benchmark's 12 GiB budget)."""
    lim = MEM_CAP_GIB * 2**30
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))


def run_peer(name: str, path: Path, covariate: bool, cap: float) -> dict:
    if not PEER_PY.exists():
        return {"status": "not installed (benchmarks/.peers-did missing)"}
    with tempfile.TemporaryDirectory() as tmp:
        outpath = Path(tmp) / "out.json"
        code = PEER_TEMPLATE.format(cov=covariate, path=str(path), outpath=str(outpath),
                                    body=textwrap.dedent(PEER_CODE[name]))
        script = Path(tmp) / "peer.py"
        script.write_text(code)
        t0 = time.perf_counter()
        try:
            p = subprocess.run([str(PEER_PY), str(script)], capture_output=True, text=True, timeout=cap,
                               env={**os.environ, "OMP_NUM_THREADS": "2"}, preexec_fn=_limit_memory)
        except subprocess.TimeoutExpired:
            return {"status": f"stopped at the {cap:.0f} s time cap", "seconds": None}
        wall = time.perf_counter() - t0
        if p.returncode == -9:
            return {"status": f"killed by the system after {wall:.0f} s (SIGKILL: out of memory)", "seconds": None}
        if p.returncode != 0 or not outpath.exists():
            err = (p.stderr or "").strip().splitlines()
            if any("MemoryError" in e or "Unable to allocate" in e or "memory" in e.lower() for e in err[-3:]):
                return {"status": f"stopped at the {MEM_CAP_GIB} GiB memory cap after {wall:.0f} s: {err[-1][:200]}", "seconds": None}
            return {"status": f"failed (exit {p.returncode}): {err[-1] if err else ''}"[:300], "seconds": None, "wall": wall}
        out = json.loads(outpath.read_text())
        out["status"] = "ok"
        return out


def compare(ours: dict, peer: dict) -> dict:
    if peer.get("status") != "ok":
        return {}
    key = {(g, t): (a, s) for g, t, a, s in zip(ours["group"], ours["time"], ours["att"], ours["se"])}
    da, ds, n = 0.0, 0.0, 0
    for g, t, a, s in zip(peer["group"], peer["time"], peer["att"], peer["se"]):
        if (g, t) in key and np.isfinite(a):
            n += 1
            da = max(da, abs(key[(g, t)][0] - a))
            if np.isfinite(s) and np.isfinite(key[(g, t)][1]):
                ds = max(ds, abs(key[(g, t)][1] - s))
    return {"cells_compared": n, "max_abs_att_diff": da, "max_abs_se_diff": ds}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=["2M", "24M"], choices=list(SIZES))
    ap.add_argument("--peers", nargs="*", default=["csdid", "differences", "diff-diff"])
    ap.add_argument("--cap", type=float, default=240.0, help="time cap per peer run (seconds)")
    ap.add_argument("--cap-24m", type=float, default=None, help="time cap per peer run at 24M rows (default: --cap)")
    args = ap.parse_args()
    results = {"machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()}, "runs": []}
    workdir = ROOT / "benchmarks/results"
    workdir.mkdir(parents=True, exist_ok=True)
    for size in args.sizes:
        n_units, n_periods = SIZES[size]
        df = make_panel(n_units, n_periods)
        path = workdir / f"did_panel_{size}.parquet"
        df.write_parquet(path)
        for cov in (False, True):
            ours = run_ours(df, cov)
            row = {"size": size, "rows": df.height, "units": n_units, "periods": n_periods, "covariate": cov,
                   "ours_seconds": ours["seconds"], "ours_att_gt_seconds": ours["att_gt_seconds"], "cells": ours["cells"],
                   "ours_max_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, "peers": {}}
            print(f"{size:>4} cov={cov!s:5} ours {ours['seconds']:7.2f} s ({ours['cells']} cells)", flush=True)
            for peer in args.peers:
                cap = args.cap_24m if (size == "24M" and args.cap_24m) else args.cap
                pr = run_peer(peer, path, cov, cap)
                cmp = compare(ours, pr)
                row["peers"][peer] = {"status": pr.get("status"), "seconds": pr.get("seconds"),
                                      "max_rss_gib": pr.get("max_rss_gib"), **cmp}
                s = pr.get("seconds")
                print(f"      {peer:12s} {('%.2f s' % s) if s else pr.get('status')}  {cmp}", flush=True)
            row["load_average_after"] = os.getloadavg()
            results["runs"].append(row)
        path.unlink()
    out = workdir / "bench_did.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, out)
    print(json.dumps(results["runs"], indent=1))


if __name__ == "__main__":
    sys.exit(main())
