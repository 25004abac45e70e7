"""Benchmark: synthetic control (nested V) against pysyncon, on the same specifications.

Cases
* ``prop99``: Proposition 99 (ADH 2010 specification), one nested fit;
* ``prop99_placebo``: the fit and the full in-space placebo (38 refits, each donor as treated,
  California out of every donor pool): ours on 2 worker processes and on 1 (pysyncon's loop is
  serial, as its ``PlaceboTest`` is);
* ``donors300``: a factor-model panel with 300 donors x 40 periods (30 pre), predictors = 4
  covariates averaged over the pre-period plus the outcome in 3 pre-period years.

Every contender runs in its own process through ``benchmarks/harness.py``: imports and reading
the data (CSV) are outside ``fit_s`` for all, ``process_s`` is the whole process (ours includes
loading or compiling its numba code on the first fit). pysyncon runs with its defaults
(``optim_method="Nelder-Mead"``, ``optim_initial="equal"``) from ``benchmarks/.peers-synth``
(``requirements-peers-synth.txt``). Every contender gets one BLAS thread (small matrices: a
second thread only spins; see ``THREADS``). Agreement: the pre-period fit (MSPE over the fit window;
lower is better, both minimise it over the same weights) and the largest weight difference.
Runs alternate and repeat until three agree within 10 %.

    .venv/bin/python benchmarks/bench_synth.py

Writes benchmarks/results/bench_synth.json (atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import harness as H  # noqa: E402

PROP99 = dict(
    predictors=[("lnincome", (1980, 1988), "mean"), ("retprice", (1980, 1988), "mean"),
                ("age15to24", (1980, 1988), "mean")],
    special_predictors=[("beer", (1984, 1988), "mean"), ("cigsale", 1975, "mean"), ("cigsale", 1980, "mean"),
                        ("cigsale", 1988, "mean")],
    fit_window=(1970, 1988),
)
DONORS300 = dict(
    predictors=[(f"x{j}", (1, 30), "mean") for j in range(1, 5)],
    special_predictors=[("y", 10, "mean"), ("y", 20, "mean"), ("y", 30, "mean")],
    fit_window=(1, 30),
)


def donor_panel(n_donors: int = 300, T: int = 40, T0: int = 30, seed: int = 5) -> pl.DataFrame:
    """Factor-model panel: outcome and 4 covariates for ``n_donors + 1`` units (unit 0 treated)."""
    rng = np.random.default_rng(seed)
    n = n_donors + 1
    f = np.cumsum(rng.normal(0, 1, size=(T, 4)), axis=0)
    lam = rng.uniform(0, 1, size=(n, 4))
    lam[0] = lam[1:6].mean(axis=0)  # the treated unit lies inside the donors' hull
    y = 10 + f @ lam.T + rng.normal(0, 0.3, size=(T, n))
    y[T0:, 0] += -2.0
    cov = lam @ rng.normal(0, 1, size=(4, 4)) + rng.normal(0, 0.05, size=(n, 4))
    d = {"unit": np.repeat(np.arange(n), T), "time": np.tile(np.arange(1, T + 1), n), "y": y.T.ravel()}
    for j in range(4):
        d[f"x{j + 1}"] = np.repeat(cov[:, j], T) + rng.normal(0, 0.01, size=n * T)
    return pl.DataFrame(d)


OURS = """
import polars as pl
from impact.estimators import synth
case = json.loads(sys.argv[1])
df = pl.read_csv(case["csv"])
spec = dict(predictors=[tuple(p[:1]) + (tuple(p[1]) if isinstance(p[1], list) else p[1],) + tuple(p[2:])
                        for p in case["spec"]["predictors"]],
            special_predictors=[tuple(p[:1]) + (tuple(p[1]) if isinstance(p[1], list) else p[1],) + tuple(p[2:])
                                for p in case["spec"]["special_predictors"]],
            fit_window=tuple(case["spec"]["fit_window"]))
with H.Timer() as t:
    res = synth.synthetic_control(df, unit=case["unit"], time=case["time"], outcome=case["outcome"],
                                  treated=case["treated"], treatment_time=case["t0"], **spec)
    if case["placebo"]:
        pr = res.placebo(n_jobs=case["n_jobs"])
out = {"fit_mspe": float(res.fit_mspe), "weights": {str(k): float(v) for k, v in res.weights.items() if v > 1e-3}}
if case["placebo"]:
    out.update(placebo_rank=int(pr.rank), placebo_n=int(pr.n_units))
"""

PYSYNCON = """
import numpy as np, pandas as pd
from pysyncon import Dataprep, Synth
case = json.loads(sys.argv[1])
df = pd.read_csv(case["csv"])
def prep(treated, controls):
    return Dataprep(
        foo=df, predictors=case["predictors"], predictors_op="mean",
        time_predictors_prior=case["time_predictors_prior"],
        special_predictors=[tuple(s) for s in case["special"]],
        dependent=case["outcome"], unit_variable=case["unit"], time_variable=case["time"],
        treatment_identifier=treated, controls_identifier=controls,
        time_optimize_ssr=case["fit"])
controls = [u for u in case["units"] if u != case["treated"]]
with H.Timer() as t:
    s = Synth()
    s.fit(dataprep=prep(case["treated"], controls))
    if case["placebo"]:  # in-space placebo, serially, as pysyncon's PlaceboTest does
        for i, u in enumerate(controls):
            Synth().fit(dataprep=prep(u, [c for c in controls if c != u]))
            H.progress(placebo_fits_done=i + 1, of=len(controls), seconds=t.elapsed())
Z0, Z1 = prep(case["treated"], controls).make_outcome_mats(time_period=case["fit"])
w = np.asarray(s.W)
out = {"fit_mspe": float(np.mean((Z1.to_numpy() - Z0.to_numpy() @ w) ** 2)), "loss_V": float(s.loss_V),
       "weights": {str(k): float(v) for k, v in zip(controls, w) if v > 1e-3}}
"""

SCRIPT = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import harness as H
{body}
H.finish({{"fit_s": t.wall, "fit_cpu_s": t.cpu, **out}})
"""

# One BLAS thread for every contender: the problems are small matrices, where a second BLAS
# thread only spins (pysyncon's Prop 99 fit: 24 CPU-s with one thread, 105 with the default two,
# measured under load), which would make the comparison a test of the machine's load.
THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

NOTES = {
    "ours": "nested V (R Synth's formulation); placebo refits on 2 worker processes",
    "ours_1_process": "the same, placebo refits in one process (pysyncon's resources)",
    "pysyncon": "defaults: Nelder-Mead from equal V; placebo refits serially",
}


def _case_json(df: pl.DataFrame, unit: str, time_col: str, outcome: str, treated, t0, spec: dict, csv: Path,
               placebo: bool, n_jobs: int) -> dict:
    """One case for both contenders (ours reads ``spec``; pysyncon its own layout of it)."""
    df.write_csv(csv)
    preds = spec["predictors"]
    windows = {tuple(p[1]) for p in preds}
    assert len(windows) == 1, "pysyncon takes one window for the ordinary predictors"
    w = windows.pop()
    special = []
    for v, win, agg in spec["special_predictors"]:
        years = list(range(win[0], win[1] + 1)) if isinstance(win, tuple) else [win]
        special.append([v, years, agg])
    fw = spec["fit_window"]
    return {"csv": str(csv), "unit": unit, "time": time_col, "outcome": outcome, "treated": treated, "t0": t0,
            "spec": spec, "placebo": placebo, "n_jobs": n_jobs,
            "predictors": [p[0] for p in preds], "time_predictors_prior": list(range(w[0], w[1] + 1)),
            "special": special, "units": df.get_column(unit).unique(maintain_order=True).to_list(),
            "fit": list(range(fw[0], fw[1] + 1))}


def contender_run(name: str, case: dict, cap: float, outs: dict) -> dict:
    body = PYSYNCON if name == "pysyncon" else OURS
    venv = "synth" if name == "pysyncon" else "main"
    if name == "ours_1_process":
        case = {**case, "n_jobs": 1}
    r = H.run([str(H.python_of(venv)), "-c", SCRIPT.format(body=textwrap.dedent(body)), json.dumps(case)], cap_s=cap,
              env=THREADS)
    shutil.rmtree(r.pop("outdir"), ignore_errors=True)
    if r["status"] == "ok":
        outs[name] = r
    return r


def agreement(ours: dict, peer: dict) -> dict:
    keys = set(ours["weights"]) | set(peer["weights"])
    return {"fit_mspe_ours": ours["fit_mspe"], "fit_mspe_peer": peer["fit_mspe"],
            "peer_mspe_over_ours": peer["fit_mspe"] / ours["fit_mspe"],
            "max_abs_weight_diff": max(abs(ours["weights"].get(k, 0.0) - peer["weights"].get(k, 0.0)) for k in keys)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="*", default=["prop99", "prop99_placebo", "donors300"])
    ap.add_argument("--cap", type=float, default=7200.0, help="time cap (s) of each run")
    ap.add_argument("--results", default=str(HERE / "results" / "bench_synth.json"))
    ap.add_argument("--merge", action="store_true", help="keep the other cases of an existing results file")
    args = ap.parse_args()
    versions = {"ours": H.python_versions(sys.executable, ["impact", "numpy", "numba", "scipy", "polars"]),
                "pysyncon": H.python_versions(H.ensure_venv("synth"), ["pysyncon", "numpy", "scipy", "pandas"])}
    versions["ours_1_process"] = versions["ours"]
    results = {"benchmark": "synth", "machine": {**H.machine(), "thread_env": THREADS}, "versions": versions,
               "notes": NOTES,
               "what": "fit = the fit (and placebos) on data in memory (imports and CSV reading outside); "
                       "process = whole process", "cases": []}
    old = Path(args.results)
    if args.merge and old.exists():
        prev = json.loads(old.read_text())
        if "cases" in prev:  # the earlier run's other cases, with its machine record
            results["cases"] = [c for c in prev["cases"] if c["case"] not in args.cases]
            results["earlier_runs"] = [*prev.get("earlier_runs", []), prev["machine"]]
    smoking = pl.read_csv(ROOT / "tests/data/smoking.csv")
    with tempfile.TemporaryDirectory(dir=HERE) as tmp:
        cases = {
            "prop99": lambda: _case_json(smoking, "state", "year", "cigsale", "California", 1989, PROP99,
                                         Path(tmp) / "smoking.csv", False, 2),
            "prop99_placebo": lambda: _case_json(smoking, "state", "year", "cigsale", "California", 1989, PROP99,
                                                 Path(tmp) / "smoking.csv", True, 2),
            "donors300": lambda: _case_json(donor_panel(), "unit", "time", "y", 0, 31, DONORS300,
                                            Path(tmp) / "p300.csv", False, 2),
        }
        for name in args.cases:
            case = cases[name]()
            contenders = ["ours", "ours_1_process", "pysyncon"] if case["placebo"] else ["ours", "pysyncon"]
            print(name, flush=True)
            outs: dict = {}
            runs = H.repeat({c: (lambda c=c: contender_run(c, case, args.cap, outs)) for c in contenders})
            agree = {c: agreement(outs["ours"], outs[c]) for c in outs if c != "ours" and "ours" in outs}
            results["cases"].append({"case": name, "contenders": runs, "agreement": agree})
            H.write_json(Path(args.results), results)
    results["machine"]["load_at_end"] = list(os.getloadavg())
    H.write_json(Path(args.results), results)
    for c in results["cases"]:
        print(c["case"], {k: (v["summary"].get("fit_s"), v["summary"].get("status")) for k, v in c["contenders"].items()},
              c["agreement"])


if __name__ == "__main__":
    main()
