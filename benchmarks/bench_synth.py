"""Benchmark: synthetic control (nested V) against pysyncon, on the same specifications.

Cases
* ``prop99``: Proposition 99 (ADH 2010 specification), one nested fit;
* ``prop99_placebo``: the full in-space placebo (39 fits; ours on 2 worker processes);
* ``donors300``: a factor-model panel with 300 donors x 40 periods (30 pre), predictors = 4
  covariates averaged over the pre-period plus the outcome in 3 pre-period years.

Wall and CPU seconds are both recorded: on a shared, overloaded machine (load average far
above the 2 cores) CPU seconds are the comparable number. Ours runs in this process (after one warm-up fit, so numba's compiled code is loaded); pysyncon
runs in a subprocess of the peer venv ``benchmarks/.peers-synth``
(``benchmarks/requirements-peers-synth.txt``) with a time cap, with its defaults
(``optim_method="Nelder-Mead"``, ``optim_initial="equal"``). Where it stops (time cap, error) is
recorded with what it returned. The pre-period fit (MSPE over the fit window) is compared.

    .venv/bin/python benchmarks/bench_synth.py                 # all cases, cap 900 s per peer run
    .venv/bin/python benchmarks/bench_synth.py --cap 120       # shorter cap

Writes benchmarks/results/bench_synth.json (atomically) and prints a table.
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
sys.path.insert(0, str(ROOT))
PEER_PY = ROOT / "benchmarks/.peers-synth/bin/python"

from impact.estimators import synth  # noqa: E402

PROP99 = dict(
    predictors=[("lnincome", (1980, 1988), "mean"), ("retprice", (1980, 1988), "mean"),
                ("age15to24", (1980, 1988), "mean")],
    special_predictors=[("beer", (1984, 1988), "mean"), ("cigsale", 1975, "mean"), ("cigsale", 1980, "mean"),
                        ("cigsale", 1988, "mean")],
    fit_window=(1970, 1988),
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


DONORS300 = dict(
    predictors=[(f"x{j}", (1, 30), "mean") for j in range(1, 5)],
    special_predictors=[("y", 10, "mean"), ("y", 20, "mean"), ("y", 30, "mean")],
    fit_window=(1, 30),
)


PEER_SCRIPT = textwrap.dedent(
    r'''
    import json, sys, time
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
    units = case["units"]
    treated = case["treated"]
    controls = [u for u in units if u != treated]
    t = time.perf_counter()
    s = Synth()
    s.fit(dataprep=prep(treated, controls))
    secs = time.perf_counter() - t
    w = s.W
    Z0, Z1 = prep(treated, controls).make_outcome_mats(time_period=case["fit"])
    mspe = float(np.mean((Z1.to_numpy() - Z0.to_numpy() @ np.asarray(w)) ** 2))  # equals loss_V
    out = {"fit_seconds": secs, "fit_mspe": mspe, "loss_V": float(s.loss_V),
           "weights": {str(k): float(v) for k, v in zip(controls, np.asarray(w)) if v > 1e-3}}
    print("RESULT " + json.dumps(out), flush=True)
    if case.get("placebo"):
        t = time.perf_counter()
        done = 0
        for u in controls:  # in-space placebo, as pysyncon's PlaceboTest does (serially)
            Synth().fit(dataprep=prep(u, [c for c in controls if c != u]))
            done += 1
            print("PLACEBO " + json.dumps({"done": done, "seconds": time.perf_counter() - t}), flush=True)
    '''
)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_peer(case: dict, cap: float) -> dict:
    """Run pysyncon in the peer venv with a time cap; parse what it printed before stopping."""
    if not PEER_PY.exists():
        return {"status": "peer venv missing (see requirements-peers-synth.txt)"}
    t = time.perf_counter()
    c0 = _children_cpu()
    try:
        proc = subprocess.run([str(PEER_PY), "-c", PEER_SCRIPT, json.dumps(case)], capture_output=True, text=True,
                              timeout=cap)
        out, status = proc.stdout, ("ok" if proc.returncode == 0 else f"error: {proc.stderr.strip()[-300:]}")
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        status = f"stopped at the time cap ({cap:.0f} s)"
    res: dict = {"status": status, "wall_seconds": time.perf_counter() - t, "cpu_seconds": _children_cpu() - c0}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            res.update(json.loads(line[7:]))
        if line.startswith("PLACEBO "):
            res["placebo_progress"] = json.loads(line[8:])
    return res


def ours(df: pl.DataFrame, unit: str, time_col: str, outcome: str, treated, t0, spec: dict, placebo: bool) -> dict:
    t, c = time.perf_counter(), _self_cpu()
    res = synth.synthetic_control(df, unit=unit, time=time_col, outcome=outcome, treated=treated,
                                  treatment_time=t0, **spec)
    out = {"fit_seconds": time.perf_counter() - t, "fit_cpu_seconds": _self_cpu() - c, "fit_mspe": res.fit_mspe,
           "weights": {str(k): float(v) for k, v in res.weights.items() if v > 1e-3},
           "n_evaluations": res.info["n_evaluations"]}
    if placebo:
        t, c, cc = time.perf_counter(), _self_cpu(), _children_cpu()
        pr = res.placebo(n_jobs=2)
        out.update(placebo_seconds=time.perf_counter() - t,
                   placebo_cpu_seconds=_self_cpu() - c + _children_cpu() - cc,
                   placebo_rank=pr.rank, placebo_n=pr.n_units,
                   placebo_p=pr.p_value)
    return out


def peer_case(df: pl.DataFrame, unit: str, time_col: str, outcome: str, treated, spec: dict, csv: Path,
              placebo: bool) -> dict:
    preds = spec["predictors"]
    windows = {tuple(p[1]) for p in preds}
    assert len(windows) == 1, "pysyncon takes one window for the ordinary predictors"
    w = windows.pop()
    special = []
    for v, win, agg in spec["special_predictors"]:
        years = list(range(win[0], win[1] + 1)) if isinstance(win, tuple) else [win]
        special.append([v, years, agg])
    fw = spec["fit_window"]
    df.write_csv(csv)
    units = df.get_column(unit).unique(maintain_order=True).to_list()
    return {"csv": str(csv), "predictors": [p[0] for p in preds], "time_predictors_prior": list(range(w[0], w[1] + 1)),
            "special": special, "outcome": outcome, "unit": unit, "time": time_col, "units": units,
            "treated": treated, "fit": list(range(fw[0], fw[1] + 1)), "placebo": placebo}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cap", type=float, default=900.0, help="time cap (s) of each pysyncon run")
    ap.add_argument("--skip-peer", action="store_true")
    args = ap.parse_args()
    smoking = pl.read_csv(ROOT / "tests/data/smoking.csv")
    panel300 = donor_panel()
    # warm-up: load numba's cached machine code (compiles once per environment)
    t = time.perf_counter()
    ours(smoking, "state", "year", "cigsale", "California", 1989, {**PROP99}, placebo=False)
    warm = time.perf_counter() - t
    results: dict = {"machine": {"cpus": os.cpu_count(), "load_avg_start": os.getloadavg()}, "warmup_seconds": warm}
    results["prop99"] = {"ours": ours(smoking, "state", "year", "cigsale", "California", 1989, PROP99, placebo=True)}
    results["donors300"] = {"ours": ours(panel300, "unit", "time", "y", 0, 31, DONORS300, placebo=False)}
    if not args.skip_peer:
        with tempfile.TemporaryDirectory() as tmp:
            c = peer_case(smoking, "state", "year", "cigsale", "California", PROP99, Path(tmp) / "smoking.csv", True)
            results["prop99"]["pysyncon"] = run_peer(c, args.cap)
            c = peer_case(panel300, "unit", "time", "y", 0, DONORS300, Path(tmp) / "p300.csv", False)
            results["donors300"]["pysyncon"] = run_peer(c, args.cap)
    results["machine"]["load_avg_end"] = os.getloadavg()
    out = ROOT / "benchmarks/results/bench_synth.json"
    out.parent.mkdir(exist_ok=True)
    tmpf = out.with_name(f".{out.name}.tmp")
    tmpf.write_text(json.dumps(results, indent=2, default=str))
    os.replace(tmpf, out)
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
