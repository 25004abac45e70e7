"""Benchmark: staggered DiD (Callaway-Sant'Anna ATT(g,t), doubly robust, analytic standard errors)
against the Python peers csdid, differences and diff-diff.

Data: ``units x periods`` balanced panel, 12 cohorts plus never-treated units, heterogeneous
dynamic effects, one time-invariant covariate that shifts trends and selection; written once
to Parquet. Every contender (ours too) runs in its own process through ``benchmarks/harness.py``:
imports and reading the Parquet file are outside ``fit_s`` for all (ours reads it into polars,
the peers into pandas, each its own input format); ``process_s`` is the whole process. The
work is the same for all: ATT(g,t) of every cohort and period with never-treated comparisons
(varying base period) and analytic standard errors, no bootstrap, no aggregation. Peers come
from ``benchmarks/.peers-did`` (``requirements-peers-did.txt``, created by the harness). Runs
alternate and repeat until three agree within 10 % (see the harness); the ATT(g,t) and their
standard errors are compared cell by cell with ours.

    .venv/bin/python benchmarks/bench_did.py                    # 2M and 24M rows
    .venv/bin/python benchmarks/bench_did.py --sizes small      # quick check

Writes benchmarks/results/bench_did.json (atomically).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import harness as H  # noqa: E402

SIZES = {"small": (20_000, 10), "2M": (100_000, 20), "24M": (1_000_000, 24)}
PEER_PACKAGES = {"csdid": "csdid", "differences": "differences", "diff-diff": "diff-diff"}


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


# Each contender: (venv, imports and data loading, the fit; it leaves ``out`` with the cells).
CONTENDERS = {
    "ours": ("main", """
        import polars as pl
        from impact.estimators import did
        df = pl.read_parquet(PATH)
    """, """
        res = did.att_gt(df, unit="id", time="period", group="g", outcome="y",
                         covariates=["x"] if COV else None, method="dr")
        tab = res.att_gt
        out = dict(group=tab["group"].tolist(), time=tab["time"].tolist(), att=tab["att"].tolist(),
                   se=tab["std_error"].tolist())
    """),
    "csdid": ("did", """
        import pandas as pd
        from csdid.att_gt import ATTgt
        df = pd.read_parquet(PATH)
    """, """
        kw = dict(xformla="y~x") if COV else {}
        a = ATTgt(yname="y", gname="g", idname="id", tname="period", data=df, control_group=["nevertreated"], **kw)
        a = a.fit(est_method="dr", bstrap=False)
        r = a.results
        out = dict(group=[int(v) for v in r["group"]], time=[int(v) for v in r["year"]],
                   att=[float(v) for v in r["att"]], se=[float(v) for v in r["se"]])
    """),
    "differences": ("did", """
        import pandas as pd
        from differences import ATTgt
        df = pd.read_parquet(PATH)
    """, """
        d = df.copy(); d["g"] = d["g"].where(d["g"] > 0)  # differences: NaN = never treated
        d = d.set_index(["id", "period"])
        a = ATTgt(data=d, cohort_column="g")
        a.fit(formula="y ~ x" if COV else "y", est_method="dr", control_group="never_treated", progress_bar=False)
        r = a.results().reset_index()
        r.columns = ["_".join(str(x) for x in c if x) if isinstance(c, tuple) else c for c in r.columns]
        out = dict(group=[int(v) for v in r["cohort"]], time=[int(v) for v in r["time"]],
                   att=[float(v) for v in r["ATTgtElements_ATT"]],
                   se=[float(v) for v in r["ATTgtElements_analytic_std_error"]])
    """),
    "diff-diff": ("did", """
        import pandas as pd
        from diff_diff import CallawaySantAnna
        df = pd.read_parquet(PATH)
    """, """
        cs = CallawaySantAnna(control_group="never_treated", estimation_method="dr", n_bootstrap=0)
        kw = dict(covariates=["x"]) if COV else {}
        r = cs.fit(df, outcome="y", unit="id", time="period", first_treat="g", **kw)
        gt = r.group_time_effects
        keys = sorted(gt)
        out = dict(group=[int(k[0]) for k in keys], time=[int(k[1]) for k in keys],
                   att=[float(gt[k]["effect"]) for k in keys], se=[float(gt[k]["se"]) for k in keys])
    """),
}

SCRIPT = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import harness as H
PATH, COV = sys.argv[1], sys.argv[2] == "1"
{load}
with H.Timer() as t:
{fit}
H.finish({{"fit_s": t.wall, "fit_cpu_s": t.cpu, "cells": len(out["att"])}})
H.output_path("cells.json").write_text(json.dumps(out))
"""

NOTES = {
    "ours": "ATT(g,t) with analytic (influence-function) standard errors; polars input",
    "csdid": "bstrap=False: analytic standard errors; pandas input",
    "differences": "analytic standard errors; pandas input indexed by (id, period)",
    "diff-diff": "n_bootstrap=0: analytic standard errors; pandas input; with a covariate its doubly robust "
                 "ATT(g,t) is another form of the estimator: the comparison units' weights p/(1-p) over the number "
                 "of treated (Horvitz-Thompson) with p clipped to [0.01, 0.99], where R's DRDID (and ours) divide "
                 "them by their sum (benchmarks/did_dr_normalisation.py)",
}


def contender_run(name: str, path: Path, cov: bool, cap: float, cells: dict) -> dict:
    venv, load, fit = CONTENDERS[name]
    code = SCRIPT.format(load=textwrap.dedent(load), fit=textwrap.indent(textwrap.dedent(fit), "    "))
    r = H.run([str(H.python_of(venv)), "-c", code, str(path), "1" if cov else "0"], cap_s=cap)
    f = Path(r["outdir"]) / "cells.json"
    if r["status"] == "ok" and f.exists():
        cells[name] = json.loads(f.read_text())
    shutil.rmtree(r.pop("outdir"), ignore_errors=True)
    return r


def compare(ours: dict, peer: dict) -> dict:
    """ATT(g,t) and standard errors of a peer against ours, cell by cell (matched on group and time)."""
    key = {(g, t): (a, s) for g, t, a, s in zip(ours["group"], ours["time"], ours["att"], ours["se"])}
    da, ds, n = 0.0, 0.0, 0
    for g, t, a, s in zip(peer["group"], peer["time"], peer["att"], peer["se"]):
        if (g, t) in key and np.isfinite(a):
            n += 1
            da = max(da, abs(key[(g, t)][0] - a))
            if np.isfinite(s) and np.isfinite(key[(g, t)][1]):
                ds = max(ds, abs(key[(g, t)][1] - s))
    return {"cells_ours": len(ours["att"]), "cells_peer": len(peer["att"]), "cells_compared": n,
            "max_abs_att_diff": da, "max_abs_se_diff": ds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["2M", "24M"], choices=list(SIZES))
    ap.add_argument("--contenders", nargs="*", default=list(CONTENDERS))
    ap.add_argument("--cap", type=float, default=7200.0, help="time cap per run (seconds)")
    ap.add_argument("--results", default=str(HERE / "results" / "bench_did.json"))
    ap.add_argument("--merge", action="store_true",
                    help="keep the other sizes' cases of an existing results file (run sizes separately)")
    args = ap.parse_args()
    versions = {"ours": H.python_versions(sys.executable, ["impact", "numpy", "polars", "scipy"])}
    if any(CONTENDERS[c][0] == "did" for c in args.contenders):
        py = H.ensure_venv("did")
        pv = H.python_versions(py, [*PEER_PACKAGES.values(), "numpy", "pandas", "scipy", "statsmodels"])
        versions.update({c: pv for c in args.contenders if c != "ours"})
    results = {"benchmark": "did", "machine": H.machine(), "versions": versions, "notes": NOTES,
               "what": "ATT(g,t), doubly robust, never-treated comparisons, analytic SEs; fit = estimation only "
                       "(imports and Parquet reading outside), process = whole process", "cases": []}
    old = Path(args.results)
    if args.merge and old.exists():
        prev = json.loads(old.read_text())
        if "cases" in prev:  # the earlier run's cases of other sizes, with their own machine record
            results["cases"] = [c for c in prev["cases"] if c["size"] not in args.sizes]
            results["earlier_runs"] = [*prev.get("earlier_runs", []), prev["machine"]]
            results["versions"] = {**prev.get("versions", {}), **versions}  # the kept cases' contenders too
    with tempfile.TemporaryDirectory(dir=HERE) as tmp:
        for size in args.sizes:
            n_units, n_periods = SIZES[size]
            path = Path(tmp) / f"did_panel_{size}.parquet"
            make_panel(n_units, n_periods).write_parquet(path)
            for cov in (False, True):
                print(f"{size} rows, covariate={cov}", flush=True)
                cells: dict = {}
                runs = H.repeat({c: (lambda c=c: contender_run(c, path, cov, args.cap, cells))
                                 for c in args.contenders})
                case = {"case": f"{size}{' + covariate' if cov else ''}", "size": size, "rows": n_units * n_periods,
                        "units": n_units, "periods": n_periods, "covariate": cov, "contenders": runs,
                        "agreement": {c: compare(cells["ours"], cells[c]) for c in cells if c != "ours" and "ours" in cells}}
                results["cases"].append(case)
                H.write_json(Path(args.results), results)
    results["machine"]["load_at_end"] = list(__import__("os").getloadavg())
    H.write_json(Path(args.results), results)
    for case in results["cases"]:
        print(case["case"], {c: (v["summary"].get("fit_s"), v["summary"].get("status")) for c, v in case["contenders"].items()},
              case["agreement"])


if __name__ == "__main__":
    main()
