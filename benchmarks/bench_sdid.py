"""Benchmark: our synthetic DiD against diff-diff's ``SyntheticDiD``, and honest bounds on a 24-period event study.

Panel: 300 units x 60 periods from a two-factor model (numpy seed 20261206), 30 units treated
from period 41 (40 pre-, 20 post-periods). Both implementations follow R synthdid (the same
regularisation, Frank-Wolfe stopping rule and sparsification); each run fits the estimate with

* the jackknife standard error (deterministic: both must print the same digits), and
* the placebo standard error, 200 draws with ``seed`` 1 (both draw permutations from numpy's
  ``default_rng(seed)``, so their digits agree too).

``fit`` times are measured inside the process after a warm-up fit (imports and numba's compile
cache loaded); ``process`` times are whole ``python -c`` processes (import, read the panel,
one fit with the jackknife), started alternately ours / diff-diff, ``--rounds`` times each,
under ``flock /work/locks/bench`` with the load average recorded before each run.

Honest bounds: a 24-period event study (12 pre, 12 post; the covariance of an AR(1)-like
design), ``honest_bounds(..., method="relative_magnitude")`` with the defaults (C-LF,
``Mbar`` 0..2, breakdown search) and ``method="smoothness"`` (FLCI), first and second call in a
fresh process, wall-clock and CPU time (``--honest-only`` runs just this part).

Run (peers in a separate venv, never the project's)::

    python3 -m uv venv -p 3.11 benchmarks/.peers-sdid
    python3 -m uv pip install -p benchmarks/.peers-sdid -r benchmarks/requirements-peers-sdid.txt
    flock /work/locks/bench .venv/bin/python benchmarks/bench_sdid.py --rounds 3

Writes ``benchmarks/results/bench_sdid.json`` (atomically).
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
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "benchmarks" / ".peers-sdid" / "bin" / "python"
OURS = ROOT / ".venv" / "bin" / "python"


def make_panel(path: Path, n: int = 300, t: int = 60, n_tr: int = 30, t0: int = 41) -> None:
    rng = np.random.default_rng(20261206)
    load = rng.normal(size=(n, 2))
    fac = np.cumsum(rng.normal(size=(t, 2)), axis=0)
    y = rng.normal(scale=2, size=n)[:, None] + np.cumsum(rng.normal(scale=0.5, size=t))[None, :] + load @ fac.T
    y += rng.normal(scale=0.8, size=(n, t))
    tr = np.arange(n) >= n - n_tr
    per = np.arange(1, t + 1)
    y += np.where(tr[:, None] & (per[None, :] >= t0), 1.0, 0.0)
    pd.DataFrame({"unit": np.repeat([f"u{i:03d}" for i in range(n)], t), "period": np.tile(per, n),
                  "y": y.ravel(), "treated": np.repeat(tr.astype(int), t)}).to_parquet(path)


OURS_CODE = r"""
import json, sys, time, pandas as pd
t_start = time.perf_counter()
from impact.estimators import synth
df = pd.read_parquet(sys.argv[1])
tr = sorted(df.loc[df.treated == 1, "unit"].unique())
def fit(se):
    return synth.synthetic_did(df, "unit", "period", "y", tr, 41, se=se, replications=200, seed=1, comparison_se=False)
if sys.argv[2] == "process":
    r = fit("jackknife")
    print(json.dumps({"att": r.estimate, "se": r.std_error, "process_s": time.perf_counter() - t_start}))
else:
    fit("jackknife")  # warm-up: numba cache, imports
    out = {}
    for se in ("jackknife", "placebo"):
        t = time.perf_counter(); r = fit(se); out[se] = {"att": r.estimate, "se": r.std_error, "fit_s": time.perf_counter() - t}
    t = time.perf_counter(); r = fit(None); out["none"] = {"att": r.estimate, "fit_s": time.perf_counter() - t}
    out["weights"] = sorted(r.unit_weights[r.unit_weights > 0].round(10).items())[:5]
    print(json.dumps(out))
"""

PEER_CODE = r"""
import json, sys, time, warnings
t_start = time.perf_counter()
warnings.simplefilter("ignore")
import pandas as pd
from diff_diff import SyntheticDiD
df = pd.read_parquet(sys.argv[1])
def fit(vm):
    return SyntheticDiD(variance_method=vm, n_bootstrap=200, seed=1).fit(df, outcome="y", treatment="treated", unit="unit",
                                                                          time="period", post_periods=list(range(41, 61)))
if sys.argv[2] == "process":
    r = fit("jackknife")
    print(json.dumps({"att": r.att, "se": r.se, "process_s": time.perf_counter() - t_start}))
else:
    fit("jackknife")
    out = {}
    for vm in ("jackknife", "placebo"):
        t = time.perf_counter(); r = fit(vm); out[vm] = {"att": r.att, "se": r.se, "fit_s": time.perf_counter() - t}
    print(json.dumps(out))
"""

HONEST_CODE = r"""
import json, sys, time
t_start = time.perf_counter()
import numpy as np
from impact.estimators.did.honest import EventStudy, honest_bounds
e = np.array([x for x in range(-13, 12) if x != -1])
T = len(e)
idx = np.arange(T)
V = 0.03 ** 2 * (0.5 ** np.abs(idx[:, None] - idx[None, :]))
rng = np.random.default_rng(3)
beta = np.where(e >= 0, 0.05, 0.0) + 0.002 * e + rng.multivariate_normal(np.zeros(T), V)
es = EventStudy(e, beta, V)
out = {"import_s": time.perf_counter() - t_start}
for method in ("relative_magnitude", "smoothness"):
    for k in ("first", "second"):
        t, c = time.perf_counter(), time.process_time()
        r = honest_bounds(es, method, target="average")
        out[f"{method}_{k}_s"], out[f"{method}_{k}_cpu_s"] = time.perf_counter() - t, time.process_time() - c
    out[f"{method}_breakdown"] = r.breakdown
    out[f"{method}_table"] = r.table[["m", "lower", "upper"]].round(6).values.tolist()
out["process_s"] = time.perf_counter() - t_start
print(json.dumps(out))
"""


def run(py: Path, code: str, *args: str) -> tuple[dict, float, float]:
    load = os.getloadavg()[0]
    t = time.perf_counter()
    p = subprocess.run([str(py), "-c", code, *args], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(p.stdout.strip().splitlines()[-1]), time.perf_counter() - t, load


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_sdid.json"))
    ap.add_argument("--honest-only", action="store_true", help="only the honest-bounds timing (merged into --out)")
    args = ap.parse_args()
    if args.honest_only:
        hb, hwall, hload = run(OURS, HONEST_CODE)
        out = Path(args.out)
        res = json.loads(out.read_text()) if out.exists() else {}
        res["honest_24_periods"] = {**hb, "process_wall_s": hwall, "load_before": hload}
        t = out.with_name(f".{out.name}.tmp")
        t.write_text(json.dumps(res, indent=1, default=str) + "\n")
        os.replace(t, out)
        print(json.dumps(res["honest_24_periods"], indent=1))
        return
    if not PEER.exists():
        sys.exit(f"peer venv missing: {PEER} (see the module docstring)")
    tmp = Path(tempfile.mkdtemp(prefix="bench_sdid_"))
    panel = tmp / "panel.parquet"
    make_panel(panel)
    res: dict = {"panel": "300 units x 60 periods, 30 treated from period 41", "rounds": []}
    for r in range(args.rounds):  # alternate A/B in one session
        row = {}
        for name, py, code in (("ours", OURS, OURS_CODE), ("diff_diff", PEER, PEER_CODE)):
            fit, wall, load = run(py, code, str(panel), "fit")
            proc, pwall, pload = run(py, code, str(panel), "process")
            row[name] = {"fit": fit, "fit_process_wall_s": wall, "load_before_fit": load, "process": proc,
                         "process_wall_s": pwall, "load_before_process": pload}
        res["rounds"].append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    hb, hwall, hload = run(OURS, HONEST_CODE)
    res["honest_24_periods"] = {**hb, "process_wall_s": hwall, "load_before": hload}
    med = lambda k, f: float(np.median([f(r[k]) for r in res["rounds"]]))  # noqa: E731
    res["summary"] = {
        "att": {k: res["rounds"][0][k]["fit"]["jackknife"]["att"] for k in ("ours", "diff_diff")},
        "se_jackknife": {k: res["rounds"][0][k]["fit"]["jackknife"]["se"] for k in ("ours", "diff_diff")},
        "se_placebo_seed1": {k: res["rounds"][0][k]["fit"]["placebo"]["se"] for k in ("ours", "diff_diff")},
        "fit_jackknife_s": {k: med(k, lambda x: x["fit"]["jackknife"]["fit_s"]) for k in ("ours", "diff_diff")},
        "fit_placebo_s": {k: med(k, lambda x: x["fit"]["placebo"]["fit_s"]) for k in ("ours", "diff_diff")},
        "process_s": {k: med(k, lambda x: x["process_wall_s"]) for k in ("ours", "diff_diff")},
        "ours_fit_no_se_s": med("ours", lambda x: x["fit"]["none"]["fit_s"]),
        "load_average": [r[k]["load_before_fit"] for r in res["rounds"] for k in ("ours", "diff_diff")],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t = out.with_name(f".{out.name}.tmp")
    t.write_text(json.dumps(res, indent=1, default=str) + "\n")
    os.replace(t, out)
    print(json.dumps(res["summary"], indent=1))


if __name__ == "__main__":
    main()
