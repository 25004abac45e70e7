"""A second reference case for the conditional (ARP) honest sets: 4 pre- and 3 post-periods, the average
effect, computed by the Python port ``honestdid`` 0.1.1 (no random numbers enter the conditional tests).

The event study is generated here (numpy seed 5): a random covariance ``(L L') 1e-4`` and coefficients
0.04 after treatment plus normal noise. Run in the peer environment:
    benchmarks/.peers-sdid/bin/python tests/data/honest_port_small.py   # writes honest_port_small.json
(The committed JSON was written from this script's printed tables, 6 decimals, while the machine was too
busy for the full-precision run; re-running it replaces them by full precision.)
"""

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

import honestdid as hd

HERE = Path(__file__).parent


def inputs() -> dict:
    rng = np.random.default_rng(5)
    npre, npost = 4, 3
    T = npre + npost
    L = rng.normal(size=(T, T)) * 0.3 + np.eye(T)
    V = (L @ L.T) * 1e-4
    e = np.array([x for x in range(-npre - 1, npost) if x != -1])
    beta = np.where(e >= 0, 0.04, 0.0) + rng.multivariate_normal(np.zeros(T), V)
    return {"event_times": e.tolist(), "beta": beta.tolist(), "sigma": V.tolist()}


def main() -> None:
    out = inputs()
    b = torch.tensor(out["beta"], dtype=torch.float64)
    V = torch.tensor(out["sigma"], dtype=torch.float64)
    l_vec = torch.tensor([1 / 3, 1 / 3, 1 / 3], dtype=torch.float64)
    kw = dict(betahat=b, sigma=V, numPrePeriods=4, numPostPeriods=3, l_vec=l_vec)
    rm = hd.createSensitivityResults_relativeMagnitudes(**kw, Mbarvec=[0.5, 1.0], method="Conditional")
    sd = hd.createSensitivityResults(**kw, Mvec=[0.0, 0.005], method="Conditional")
    out["rm_conditional_avg"] = {"m": [0.5, 1.0], "lb": rm["lb"].tolist(), "ub": rm["ub"].tolist()}
    out["sd_conditional_avg"] = {"m": [0.0, 0.005], "lb": sd["lb"].tolist(), "ub": sd["ub"].tolist()}
    out["versions"] = {p: version(p) for p in ("honestdid", "numpy", "torch", "cvxpy")}
    (HERE / "honest_port_small.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
