"""Inputs and Python-port reference numbers for tests/test_honest_golden.py (Medicaid expansion, HonestDiD README).

1. The TWFE event study of the HonestDiD README, ``feols(dins ~ i(year, D, ref = 2013) | stfips + year,
   cluster = "stfips")`` on tests/data/ehec_data.csv (years < 2016, the 2015 cohort dropped), estimated with
   pyfixest, whose default clustered covariance (small-sample adjustment with non-nested fixed effects)
   is fixest's: coefficients and covariance are the inputs of HonestDiD in the README.
2. The Python port ``honestdid`` on the same inputs, for the methods that draw no random numbers
   (conditional tests, relative magnitudes and smoothness); its simulated methods use numpy's generator,
   not R's, and are not compared.

Run in the peer environment (never the project venv):
    python3 -m uv venv -p 3.11 benchmarks/.peers-sdid
    python3 -m uv pip install -p benchmarks/.peers-sdid -r benchmarks/requirements-peers-sdid.txt
    benchmarks/.peers-sdid/bin/python tests/data/honest_medicaid.py   # writes tests/data/honest_medicaid.json (minutes)
    benchmarks/.peers-sdid/bin/python tests/data/honest_medicaid.py --inputs-only   # coefficients and covariance only
"""

import json
import platform
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pyfixest as pf
import torch

import honestdid as hd

HERE = Path(__file__).parent


def main(inputs_only: bool = False) -> None:
    df = pd.read_csv(HERE / "ehec_data.csv")
    d = df[(df.year < 2016) & (df.yexp2.isna() | (df.yexp2 != 2015))].copy()
    d["D"] = (d.yexp2 == 2014).astype(int)
    fit = pf.feols("dins ~ i(year, D, ref=2013) | stfips + year", data=d, vcov={"CRV1": "stfips"})
    beta, sigma = fit.coef().to_numpy(), np.asarray(fit._vcov)
    tb, ts = torch.tensor(beta, dtype=torch.float64), torch.tensor(sigma, dtype=torch.float64)
    l_avg = torch.tensor([0.5, 0.5], dtype=torch.float64)
    out = {"event_times": [-6, -5, -4, -3, -2, 0, 1], "beta": beta.tolist(), "sigma": sigma.tolist()}
    if inputs_only:  # the coefficients and covariance only (seconds; the port's numbers take long)
        out["versions"] = {"python": sys.version.split()[0], **{p: version(p) for p in ("pyfixest", "numpy", "pandas")}}
        (HERE / "honest_medicaid.json").write_text(json.dumps(out, indent=1) + "\n")
        return

    def table(res):
        return {"m": res.iloc[:, -1].astype(float).tolist(), "lb": res["lb"].astype(float).tolist(),
                "ub": res["ub"].astype(float).tolist()}

    kw = dict(betahat=tb, sigma=ts, numPrePeriods=5, numPostPeriods=2)
    out["rm_conditional_e1"] = table(hd.createSensitivityResults_relativeMagnitudes(
        **kw, Mbarvec=[0.0, 0.5, 1.0, 1.5, 2.0], method="Conditional"))
    out["rm_conditional_avg"] = table(hd.createSensitivityResults_relativeMagnitudes(
        **kw, Mbarvec=[0.0, 1.0, 2.0], method="Conditional", l_vec=l_avg))
    out["sd_conditional_avg"] = table(hd.createSensitivityResults(
        **kw, Mvec=[0.0, 0.01, 0.02], method="Conditional", l_vec=l_avg))
    out["versions"] = {"python": sys.version.split()[0], "platform": platform.platform(),
                       **{p: version(p) for p in ("honestdid", "pyfixest", "numpy", "scipy", "cvxpy", "torch")}}
    (HERE / "honest_medicaid.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main(inputs_only="--inputs-only" in sys.argv)
