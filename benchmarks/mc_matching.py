"""Monte Carlo: coverage of 95 % confidence intervals of the matching estimators.

Design (smaller than the registers so that 200 replications take a few minutes): n units,
three covariates, a logit selection model, a non-linear outcome with heterogeneous effects
tau(x) = 1 + 0.5 x1. The target is the population ATT (computed once from a large draw).
Reported for each estimator: bias, SD of the estimates, mean standard error, coverage.

Run: ``.venv/bin/python benchmarks/mc_matching.py [--reps 200] [--n 2000]``
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20260)
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
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
    path = Path(__file__).parent / "results"
    path.mkdir(exist_ok=True)
    tmp = path / "mc_matching.json.tmp"
    tmp.write_text(json.dumps({"truth": truth, "reps": args.reps, "n": args.n, "results": out}, indent=1))
    tmp.replace(path / "mc_matching.json")


if __name__ == "__main__":
    main()
