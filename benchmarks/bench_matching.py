"""Benchmark: propensity-score nearest-neighbour matching on one million rows (about 10 % treated,
10 covariates) against causalml's ``NearestNeighborMatch`` and dowhy's propensity-score matching.

Every contender runs in its own process through ``benchmarks/harness.py``: imports and reading
the Parquet file are outside ``fit_s`` for all, ``process_s`` is the whole process. The peers do
less than our full estimator, so ours is also timed doing exactly their work:

* ``ours``: logit + 1:5 matching with replacement (all ties) + Abadie-Imbens standard error with
  the 2016 adjustment for the estimated score + balance table (``impact.estimators.matching.match``);
* ``ours_k5_no_se``: logit + 1:5 matching + ATT + balance table without the Kolmogorov-Smirnov
  columns (causalml's ``create_table_one`` gives means, SDs and SMDs), no standard error
  (causalml's work), from the package's own steps (``fit_propensity``, ``knn_1d_runs``,
  ``balance_table(..., ks=False)``);
* ``ours_k1_no_se``: logit + 1:1 matching + ATT, no standard error, no balance (dowhy's work);
* ``causalml``: sklearn's unpenalised logit, ``NearestNeighborMatch(ratio=5, replace=True)``,
  ATT as the difference of matched means, ``create_table_one``; no standard error
  (``benchmarks/.peers-matching``, ``requirements-peers-matching.txt``: causalml cannot be
  installed beside dowhy's scipy);
* ``dowhy``: ``backdoor.propensity_score_matching`` (sklearn's L2-penalised logit, 1 neighbour,
  no standard error, no balance), from the project's own venv.

Agreement: each ATT against ours (and the point-only variants against ``ours`` exactly).
Runs alternate and repeat until three agree within 10 %.

    .venv/bin/python benchmarks/bench_matching.py [--n 1000000]

Writes benchmarks/results/bench_matching.json (atomically).
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
sys.path.insert(0, str(HERE))
import harness as H  # noqa: E402

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


_OURS_STEPS = """
        x = df.select(covs).to_numpy(); d = df["d"].to_numpy() == 1; y = df["y"].to_numpy()
        ps = fit_propensity(x, d, covs)
        r = knn_1d_runs(ps.score[d], ps.score[~d], K)
        cnt = r.counts
        ok = cnt > 0
        att = float(np.mean(y[d][ok] - r.run_sums(y[~d])[ok] / cnt[ok]))
"""

# name -> (venv, imports and data loading, the fit leaving ``out``)
CONTENDERS = {
    "ours": ("main", """
        import polars as pl
        from impact.estimators import matching
        df = pl.read_parquet(PATH)
        covs = [c for c in df.columns if c.startswith("x")]
    """, """
        r = matching.match(df, "d", "y", covs, k=5)
        e = r.estimates.iloc[0]
        out = dict(att=float(e.estimate), se=float(e.std_error), max_abs_smd_after=float(r.balance.smd_after.abs().max()))
    """),
    "ours_k5_no_se": ("main", """
        import numpy as np, polars as pl
        from impact.estimators.matching.propensity import fit_propensity
        from impact.estimators.matching.nn import knn_1d_runs
        from impact.estimators.matching.balance import balance_table
        df = pl.read_parquet(PATH)
        covs = [c for c in df.columns if c.startswith("x")]
        K = 5
    """, _OURS_STEPS + """
        w = np.zeros(len(d)); w[d] = ok; w[~d] = r.used(int((~d).sum()))
        bal = balance_table(x, d, covs, weights=w, ks=False)  # causalml's table one has no KS statistics
        out = dict(att=att, max_abs_smd_after=float(bal.smd_after.abs().max()))
    """),
    "ours_k1_no_se": ("main", """
        import numpy as np, polars as pl
        from impact.estimators.matching.propensity import fit_propensity
        from impact.estimators.matching.nn import knn_1d_runs
        df = pl.read_parquet(PATH)
        covs = [c for c in df.columns if c.startswith("x")]
        K = 1
    """, _OURS_STEPS + """
        out = dict(att=att)
    """),
    "causalml": ("matching", """
        import numpy as np, pandas as pd
        from sklearn.linear_model import LogisticRegression
        from causalml.match import NearestNeighborMatch, create_table_one
        df = pd.read_parquet(PATH)
        covs = [c for c in df.columns if c.startswith("x")]
    """, """
        lr = LogisticRegression(penalty=None, max_iter=1000).fit(df[covs], df["d"])
        df["score"] = lr.predict_proba(df[covs])[:, 1]
        m = NearestNeighborMatch(replace=True, ratio=5, caliper=10.0, random_state=0)
        matched = m.match(data=df, treatment_col="d", score_cols=["score"])
        att = matched.loc[matched.d == 1, "y"].mean() - matched.loc[matched.d == 0, "y"].mean()
        bal = create_table_one(matched, "d", covs)
        out = dict(att=float(att), logit_iterations=int(lr.n_iter_[0]))
    """),
    "dowhy": ("main", """
        import pandas as pd
        from dowhy import CausalModel
        df = pd.read_parquet(PATH)
        covs = [c for c in df.columns if c.startswith("x")]
        df["d"] = df["d"].astype(bool)
    """, """
        model = CausalModel(data=df, treatment="d", outcome="y", common_causes=covs)
        est = model.estimate_effect(model.identify_effect(proceed_when_unidentifiable=True),
                                    method_name="backdoor.propensity_score_matching", target_units="att")
        out = dict(att=float(est.value))
    """),
}

NOTES = {
    "ours": "logit + 1:5 (all ties) + Abadie-Imbens SE with the 2016 adjustment + balance table",
    "ours_k5_no_se": "ours doing causalml's work: logit + 1:5 + ATT + balance table (means, SMD, variance ratios; "
                     "no KS), no SE",
    "ours_k1_no_se": "ours doing dowhy's work: logit + 1:1 + ATT, no SE, no balance",
    "causalml": "sklearn unpenalised logit (lbfgs, stops at its default tolerance), 1:5 with replacement, "
                "no SE; balance by create_table_one",
    "dowhy": "sklearn L2-penalised logit, 1 neighbour (no k), no SE, no balance table",
}
# which of ours does the same work as each peer (for the same-work ratio)
SAME_WORK = {"causalml": "ours_k5_no_se", "dowhy": "ours_k1_no_se"}

SCRIPT = """
import json, sys, warnings
warnings.filterwarnings("ignore")
import harness as H
PATH = sys.argv[1]
{load}
with H.Timer() as t:
{fit}
H.finish({{"fit_s": t.wall, "fit_cpu_s": t.cpu, **out}})
"""


def contender_run(name: str, path: Path, cap: float) -> dict:
    venv, load, fit = CONTENDERS[name]
    code = SCRIPT.format(load=textwrap.dedent(load), fit=textwrap.indent(textwrap.dedent(fit), "    "))
    py = H.python_of(venv)
    r = H.run([str(py), "-c", code, str(path)], cap_s=cap)
    shutil.rmtree(r.pop("outdir"), ignore_errors=True)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--contenders", nargs="*", default=list(CONTENDERS))
    ap.add_argument("--cap", type=float, default=7200.0)
    ap.add_argument("--results", default=str(HERE / "results" / "bench_matching.json"))
    args = ap.parse_args()
    ours_v = H.python_versions(sys.executable, ["impact", "numpy", "numba", "polars", "scipy"])
    versions = {c: ours_v for c in args.contenders if c.startswith("ours")}
    if "dowhy" in args.contenders:
        versions["dowhy"] = H.python_versions(sys.executable, ["dowhy", "scikit-learn", "numpy", "pandas"])
    if "causalml" in args.contenders:
        versions["causalml"] = H.python_versions(H.ensure_venv("matching"),
                                                 ["causalml", "scikit-learn", "numpy", "pandas"])
    df = make_data(args.n)
    d = df["d"].to_numpy() == 1
    truth = float(np.mean(1.0 + 0.5 * df["x1"].to_numpy()[d]))  # the sample ATT of this design
    results = {"benchmark": "matching", "machine": H.machine(), "versions": versions, "notes": NOTES,
               "same_work": SAME_WORK,
               "what": "fit = estimation on data in memory (imports and Parquet reading outside); "
                       "process = whole process", "cases": []}
    with tempfile.TemporaryDirectory(dir=HERE) as tmp:
        path = Path(tmp) / "data.parquet"
        df.write_parquet(path)
        runs = H.repeat({c: (lambda c=c: contender_run(c, path, args.cap)) for c in args.contenders})
    last = {c: next((r for r in reversed(v["runs"]) if r["status"] == "ok"), None) for c, v in runs.items()}
    ours = last.get("ours")
    agreement = {c: {"att": r["att"], "att_minus_ours": r["att"] - ours["att"] if ours else None,
                     "sample_att": truth}
                 for c, r in last.items() if r is not None and c != "ours"}
    results["cases"].append({"case": f"{args.n:,} rows, {int(d.sum()):,} treated, 10 covariates",
                             "rows": args.n, "treated": int(d.sum()), "sample_att": truth, "contenders": runs,
                             "agreement": agreement})
    results["machine"]["load_at_end"] = list(os.getloadavg())
    H.write_json(Path(args.results), results)
    print(json.dumps({c: v["summary"] for c, v in runs.items()}, indent=1, default=str))
    print(json.dumps(agreement, indent=1))


if __name__ == "__main__":
    main()
