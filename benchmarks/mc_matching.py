"""Monte Carlo: coverage of 95 % confidence intervals of the matching estimators.

Design (smaller than the registers so that 200 replications take a few minutes): n units,
three covariates, a logit selection model, a non-linear outcome with heterogeneous effects
tau(x) = 1 + 0.5 x1. The target is the population ATT (computed once from a large draw).
Reported for each estimator: bias, SD of the estimates, mean standard error, coverage.

Run: ``.venv/bin/python benchmarks/mc_matching.py [--reps 200] [--n 2000]``; the risk-set design's coverage
on synthetic registers: ``.venv/bin/python benchmarks/mc_matching.py --dynamic 10000 --reps 20`` (one full
register per replication: slow, so few replications; the ``dynamic_design*`` entries of mc_matching.json).
The adequately powered Monte Carlo of the risk-set design (>= 250 replications per scenario and horizon,
issue #4 and the matching rows of issue #8) is ``benchmarks/validate_matching.py``
(``results/mc_dynamic_matching.json``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from impact.estimators import matching


def draw(n: int, rng: np.random.Generator) -> pd.DataFrame:
    x = rng.normal(size=(n, 3))
    lin = -1.2 + 0.8 * x[:, 0] - 0.5 * x[:, 1] + 0.3 * x[:, 2]
    d = rng.random(n) < 1 / (1 + np.exp(-lin))
    tau = 1.0 + 0.5 * x[:, 0]
    y = 1 + x[:, 0] + 0.5 * x[:, 1] ** 2 + 0.5 * x[:, 2] + tau * d + rng.normal(scale=1.0 + 0.5 * np.abs(x[:, 0]), size=n)
    return pd.DataFrame({"d": d.astype(float), "y": y, "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "tau": tau})


def population_att(rng: np.random.Generator, n: int = 2_000_000) -> float:
    df = draw(n, rng)
    return float(df.loc[df.d == 1, "tau"].mean())


ESTIMATORS = {
    "psm_k5_ai2016": lambda df: matching.match(df, "d", "y", ["x1", "x2", "x3"], k=5),
    "psm_k5_ai_noadj": lambda df: matching.match(df, "d", "y", ["x1", "x2", "x3"], k=5, ps_adjust=False),
    "psm_k1_ai2016": lambda df: matching.match(df, "d", "y", ["x1", "x2", "x3"], k=1),
    "maha_k4_ai": lambda df: matching.match(df, "d", "y", ["x1", "x2", "x3"], k=4, method="mahalanobis"),
    "ipw": lambda df: matching.ipw(df, "d", "y", ["x1", "x2", "x3"]),
    "aipw": lambda df: matching.aipw(df, "d", "y", ["x1", "x2", "x3"]),
}


def dynamic_coverage(reps: int, persons: int, seed: int, scenario: str = "default", bias_adjust: bool = False) -> dict:
    """Coverage of the risk-set design's 95 % CIs of the true 'not now' ATT of training
    (3, 6, 12 months after the end) over ``reps`` synthetic registers of ``persons`` persons
    (seeds ``seed``, ``seed + 1``, ...), with the generator's true employment panel."""
    import os
    import shutil
    import tempfile

    import polars as pl

    from impact.designs.dynamic import risk_set_design

    from impact.estimators.matching.design import match_design
    from impact.simulate import simulate

    rows = []
    tmp = tempfile.mkdtemp(prefix="mc_dynamic_")
    try:
        for r in range(reps):  # replications
            folder = os.path.join(tmp, f"rep{r}")
            simulate(scenario, persons=persons, seed=seed + r, out=folder, workers=1)
            read = lambda n: pl.read_parquet(os.path.join(folder, f"{n}.parquet"))  # noqa: E731
            panel = read("truth/person_month").with_columns(pl.col("month").cast(pl.Int32))
            des = risk_set_design(read("jobseeking_spells"), read("service_spells"), read("persons"), panel,
                                  horizons=(3, 6, 12), max_controls=50, employed="employed", earnings="earnings")
            est = match_design(des, bias_adjust=bias_adjust).estimates.set_index("outcome")
            eff = read("truth/service_effects").filter(pl.col("service_type") == "training")
            tr = des.data.filter(pl.col("treated") == 1).select("person_id", pl.col("ms").cast(pl.Int32))
            tt = tr.join(eff, left_on=["person_id", "ms"], right_on=["person_id", "start_month"]).group_by("h").agg(
                att=(pl.col("employed_1") - pl.col("employed_0")).cast(pl.Float64).mean())
            tt = dict(zip(tt["h"].to_list(), tt["att"].to_list()))
            for h in (3, 6, 12):
                e = est.loc[f"employed_h{h}"]
                rows.append(dict(rep=r, h=h, estimate=e["estimate"], se=e["std_error"], truth=tt[h],
                                 covered=bool(e["ci_lower"] <= tt[h] <= e["ci_upper"])))
            shutil.rmtree(folder, ignore_errors=True)
            print(f"rep {r}: " + ", ".join(f"h={x['h']} {x['estimate']:.4f} ({x['se']:.4f}) truth {x['truth']:.4f}"
                                          for x in rows[-3:]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    df = pd.DataFrame(rows)
    df["err"] = df["estimate"] - df["truth"]
    summ = df.groupby("h").agg(reps=("rep", "size"), bias=("err", "mean"), sd_error=("err", "std"),
                               mean_se=("se", "mean"), coverage=("covered", "mean")).reset_index()
    print(summ.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return {"scenario": scenario, "persons": persons, "reps": reps, "seed": seed, "bias_adjust": bias_adjust,
            "by_horizon": summ.to_dict(orient="records")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20260)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--dynamic", type=int, default=0, metavar="PERSONS",
                    help="instead: coverage of the risk-set design on --reps registers of PERSONS persons")
    ap.add_argument("--bias-adjust", action="store_true", help="with --dynamic: Abadie-Imbens (2011) bias correction")
    args = ap.parse_args()
    path = Path(__file__).parent / "results"
    path.mkdir(exist_ok=True)
    if args.dynamic:
        res = dynamic_coverage(args.reps, args.dynamic, args.seed, bias_adjust=args.bias_adjust)
        old = json.loads((path / "mc_matching.json").read_text()) if (path / "mc_matching.json").exists() else {}
        old["dynamic_design" + ("_bias_adjusted" if args.bias_adjust else "")] = res
        tmp = path / "mc_matching.json.tmp"
        tmp.write_text(json.dumps(old, indent=1))
        tmp.replace(path / "mc_matching.json")
        return
    rng = np.random.default_rng(args.seed)
    truth = population_att(rng)
    names = args.only or list(ESTIMATORS)
    rows = {k: [] for k in names}
    t0 = time.perf_counter()
    for _ in range(args.reps):  # replications
        df = draw(args.n, rng)
        for name in names:
            e = ESTIMATORS[name](df).estimates.iloc[0]
            rows[name].append((e["estimate"], e["std_error"], e["ci_lower"] <= truth <= e["ci_upper"]))
    out = []
    for name, r in rows.items():
        a = np.array(r, dtype=float)
        out.append({"estimator": name, "bias": a[:, 0].mean() - truth, "sd": a[:, 0].std(ddof=1),
                    "mean_se": a[:, 1].mean(), "coverage": a[:, 2].mean()})
    res = pd.DataFrame(out)
    print(f"truth ATT = {truth:.4f}; {args.reps} replications of n = {args.n}; {time.perf_counter() - t0:.1f} s")
    print(res.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    old = json.loads((path / "mc_matching.json").read_text()) if (path / "mc_matching.json").exists() else {}
    tmp = path / "mc_matching.json.tmp"
    tmp.write_text(json.dumps({"truth": truth, "reps": args.reps, "n": args.n, "results": out,
                               **{k: v for k, v in old.items() if k.startswith("dynamic_design")}},
                              indent=1))
    tmp.replace(path / "mc_matching.json")


if __name__ == "__main__":
    main()
