"""Benchmark: propensity score + 1:5 nearest-neighbour matching + standard errors + balance
on one million rows (about 10 % treated, 10 covariates), beside causalml's
``NearestNeighborMatch`` and dowhy's propensity-score matching on the same data.

Each contender runs in its own subprocess (so peak memory is its own); the time is the
estimation only (data already in memory, imports done). causalml cannot be installed beside
dowhy (scipy cap), so it runs from ``benchmarks/.peers-matching`` (see
``requirements-peers-matching.txt``); it is skipped with a note when that venv is absent.

Run: ``.venv/bin/python benchmarks/bench_matching.py [--n 1000000] [--baseline DIR]``

``--baseline DIR`` also times the toolkit from another source tree (a directory holding an
``impact`` package, e.g. ``git archive <commit> impact | tar -x -C DIR``) as
``impact_baseline``, so that before/after timings come from the same run. Each result
records the 1-minute load average just before it ran (``load_avg``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS_PY = HERE / ".peers-matching" / "bin" / "python"
COVS = [f"x{j}" for j in range(10)]


def make_data(n: int, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 10))
    x[:, 5:8] = (x[:, 5:8] > 0.3).astype(float)  # three binary covariates
    beta = np.array([0.5, -0.4, 0.3, 0.2, -0.2, 0.4, -0.3, 0.2, 0.1, -0.1])
    lin = -2.45 + x @ beta
    d = rng.random(n) < 1 / (1 + np.exp(-lin))
    y = 1.0 + x @ (beta * 2) + 0.5 * x[:, 0] ** 2 + d * (1.0 + 0.5 * x[:, 1]) + rng.normal(size=n)
    return pl.DataFrame({"d": d.astype(np.float64), "y": y, **{c: x[:, j] for j, c in enumerate(COVS)}})


OURS = r"""
import json, resource, sys, time
import polars as pl
from impact.estimators import matching
df = pl.read_parquet(sys.argv[1])
covs = [c for c in df.columns if c.startswith("x")]
# warm the compiled helpers on a small sample (numba compiles once per process if not cached)
matching.match(df.head(20000), "d", "y", covs, k=5)
matching.match(df.head(20000), "d", "y", covs, k=1, replace=False)
out = {}
t = time.perf_counter()
r = matching.match(df, "d", "y", covs, k=5)
out["seconds"] = time.perf_counter() - t
e = r.estimates.iloc[0]
out["att"], out["se"] = float(e.estimate), float(e.std_error)
out["max_abs_smd_after"] = float(r.balance.smd_after.abs().max())
t = time.perf_counter()
r1 = matching.match(df, "d", "y", covs, k=5, ps_adjust=False)
out["seconds_without_2016_adjustment"] = time.perf_counter() - t
t = time.perf_counter()
r2 = matching.match(df, "d", "y", covs, k=1, replace=False, ps_adjust=False)
out["seconds_without_replacement_1to1"] = time.perf_counter() - t
out["att_without_replacement"] = float(r2.estimates.estimate.iloc[0])
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT" + json.dumps(out))
"""

DOWHY = r"""
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from dowhy import CausalModel
df = pd.read_parquet(sys.argv[1])
covs = [c for c in df.columns if c.startswith("x")]
df["d"] = df["d"].astype(bool)
out = {}
t = time.perf_counter()
model = CausalModel(data=df, treatment="d", outcome="y", common_causes=covs)
est = model.estimate_effect(model.identify_effect(proceed_when_unidentifiable=True),
                            method_name="backdoor.propensity_score_matching", target_units="att")
out["seconds"] = time.perf_counter() - t
out["att"] = float(est.value)
out["note"] = "1 nearest neighbour (dowhy has no k), sklearn logit (L2), no standard error, no balance table"
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT" + json.dumps(out))
"""

CAUSALML = r"""
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
from causalml.match import NearestNeighborMatch, create_table_one
df = pd.read_parquet(sys.argv[1])
covs = [c for c in df.columns if c.startswith("x")]
out = {}
t = time.perf_counter()
lr = LogisticRegression(penalty=None, max_iter=1000).fit(df[covs], df["d"])
df["score"] = lr.predict_proba(df[covs])[:, 1]
m = NearestNeighborMatch(replace=True, ratio=5, caliper=10.0, random_state=0)
matched = m.match(data=df, treatment_col="d", score_cols=["score"])
att = matched.loc[matched.d == 1, "y"].mean() - matched.loc[matched.d == 0, "y"].mean()
bal = create_table_one(matched, "d", covs)
out["seconds"] = time.perf_counter() - t
out["att"] = float(att)
out["note"] = "1:5 with replacement on the score (sklearn unpenalised logit), no standard error; balance by create_table_one"
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT" + json.dumps(out))
"""


def run(python: Path | str, code: str, data: Path, timeout: int = 3600) -> dict:
    load = os.getloadavg()[0]
    t = time.perf_counter()
    p = subprocess.run([str(python), "-c", code, str(data)], capture_output=True, text=True, cwd=ROOT,
                       timeout=timeout)
    wall = time.perf_counter() - t
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT")]
    if p.returncode != 0 or not line:
        return {"error": (p.stderr or p.stdout)[-800:], "wall_seconds": wall, "load_avg": load}
    res = json.loads(line[0][6:])
    res["wall_seconds_incl_imports"] = wall
    res["load_avg"] = load
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--skip", nargs="*", default=[])
    ap.add_argument("--baseline", default=None, help="source tree of an earlier version to time beside this one")
    ap.add_argument("--baseline-label", default=None, help="what the baseline tree is (e.g. its commit)")
    args = ap.parse_args()
    df = make_data(args.n)
    truth = None
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(dir=HERE) as tmp:
        path = Path(tmp) / "data.parquet"
        df.write_parquet(path)
        if "ours" not in args.skip:
            results["impact"] = run(sys.executable, OURS, path)
        if args.baseline:
            tree = Path(args.baseline).resolve()
            if (tree / "impact").is_dir():
                # (python -c puts the working directory first on sys.path: the tree goes before it)
                pre = (f"import sys\nsys.path.insert(0, {str(tree)!r})\nimport impact\n"
                       f"assert impact.__file__.startswith({str(tree)!r})\n")
                results["impact_baseline"] = run(sys.executable, pre + OURS, path)
            else:
                results["impact_baseline"] = {"error": f"{tree}/impact not found"}
            results["impact_baseline"]["note"] = (f"the toolkit {args.baseline_label or 'from ' + str(tree)} "
                                                  "(before/after in one run)")
        if "dowhy" not in args.skip:
            results["dowhy"] = run(sys.executable, DOWHY, path)
        if "causalml" not in args.skip:
            if PEERS_PY.exists():
                results["causalml"] = run(PEERS_PY, CAUSALML, path)
            else:
                results["causalml"] = {"error": f"{PEERS_PY} not found: see requirements-peers-matching.txt"}
    # true ATT of this design: E[1 + 0.5 x1 | D = 1] in the sample
    x1 = df["x1"].to_numpy()
    truth = float(np.mean(1.0 + 0.5 * x1[df["d"].to_numpy() == 1]))
    print(f"n = {args.n:,} rows, {int(df['d'].sum()):,} treated, 10 covariates; sample ATT = {truth:.4f}")
    base = results.get("impact", {}).get("seconds")
    for name, r in results.items():
        if "error" in r:
            print(f"{name:9s} ERROR {r['error'][-300:]}")
            continue
        ratio = f"  ({r['seconds'] / base:.1f}x ours)" if base and name != "impact" else ""
        print(f"{name:9s} {r['seconds']:7.2f} s  peak RSS {r['peak_rss_mb']:7.0f} MB  ATT {r['att']:.4f}{ratio}")
        if name.startswith("impact"):
            print(f"          without the AI (2016) adjustment {r['seconds_without_2016_adjustment']:.2f} s; 1:1 without "
                  f"replacement {r['seconds_without_replacement_1to1']:.2f} s; SE {r['se']:.4f}; "
                  f"max |SMD| after {r['max_abs_smd_after']:.3f}")
    for name, r in results.items():  # ratios measured in this run (timings are noisy on a shared machine)
        if base and name != "impact" and "seconds" in r:
            r["seconds_ratio_to_ours"] = r["seconds"] / base
    old, new = results.get("impact_baseline", {}), results.get("impact", {})
    if "att" in old and "att" in new:  # a speed change must not move the estimates
        old["att_minus_ours"], old["se_minus_ours"] = old["att"] - new["att"], old["se"] - new["se"]
        print(f"baseline minus ours: ATT {old['att_minus_ours']:.3g}, SE {old['se_minus_ours']:.3g}")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    tmpf = out / "bench_matching.json.tmp"
    tmpf.write_text(json.dumps({"n": args.n, "sample_att": truth, "results": results}, indent=1))
    tmpf.replace(out / "bench_matching.json")


if __name__ == "__main__":
    main()
