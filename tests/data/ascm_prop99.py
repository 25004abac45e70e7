"""Reference numbers of the ridge-augmented synthetic control on California's Proposition 99 for
tests/test_ascm_golden.py, from pysyncon's AugSynth (a Python implementation of R augsynth's ridge ASCM:
cross-validated ridge penalty, residualised covariates; R augsynth needs packages Debian does not ship).

Outcome-only fit and a fit with covariates residualised (lnincome, retprice, age15to24, beer averaged
over 1970-1988, missing values skipped): average effect over 1989-2000, ridge penalty, weights.

Run in the peer environment (see benchmarks/requirements-peers-sdid.txt):
    benchmarks/.peers-sdid/bin/python tests/data/ascm_prop99.py   # writes tests/data/ascm_prop99.json
"""

import json
import platform
import sys
from importlib.metadata import version
from pathlib import Path

import pandas as pd
from pysyncon import AugSynth, Dataprep

HERE = Path(__file__).parent


def main() -> None:
    df = pd.read_csv(HERE / "smoking.csv")
    controls = sorted(s for s in df.state.unique() if s != "California")
    pre, post = list(range(1970, 1989)), list(range(1989, 2001))
    out = {}
    for name, preds, resid in (("outcome_only", None, False),
                               ("residualized", ["lnincome", "retprice", "age15to24", "beer"], True)):
        dp = Dataprep(foo=df, predictors=preds or ["cigsale"], predictors_op="mean", time_predictors_prior=pre,
                      dependent="cigsale", unit_variable="state", time_variable="year",
                      treatment_identifier="California", controls_identifier=controls, time_optimize_ssr=pre)
        m = AugSynth()
        m.fit(dataprep=dp, use_covariates=preds is not None, residualize=resid)
        Z0, Z1 = dp.make_outcome_mats(time_period=post)
        synth = Z0 @ m.W
        att = float((Z1 - synth).mean())
        out[name] = {"att": att, "lambda": float(m.lambda_), "weights": dict(zip(Z0.columns.astype(str), map(float, m.W))),
                     "scm_weights": dict(zip(Z0.columns.astype(str), map(float, m.synw)))}
    out["versions"] = {"python": sys.version.split()[0], "platform": platform.platform(),
                       **{p: version(p) for p in ("pysyncon", "numpy", "scipy", "pandas")}}
    (HERE / "ascm_prop99.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
