"""Reference numbers of statsmodels' TreatmentEffect (IPW and AIPW) for tests/test_weighting_golden.py.

    .venv/bin/python tests/data/teffects_reference.py [/path/to/cattaneo2.csv]

statsmodels' ``TreatmentEffect`` estimates Stata ``teffects``' estimators by GMM with the same
moment conditions and reports the same sandwich standard errors: with a probit treatment model
on Stata's birthweight example it reproduces Stata's printed output to every digit (the check
in section 2 below, against stata_teffects_cattaneo2.json). The logit numbers are the golden
numbers for impact.estimators.matching.ipw / aipw (logit only).

Writes tests/data/teffects_reference.json: for each data set, IPW ATE and ATT (Hajek
normalised weights) and AIPW ATE, with the outcome model's and the treatment model's
covariates the same list.

Data 1 (always): the NSW experiment, Dehejia-Wahba sample (nsw_mixtape.csv, 185 treated, 260
controls); re78 on treat; covariates age, educ, black, hisp, marr, nodegree, re74 and re75 in
thousands (k74, k75: statsmodels' GMM step fails on the information matrix with earnings in
dollars; the estimates do not depend on the covariates' scale). (On the CPS comparison group
the scores of most comparison units are numerically 0 and statsmodels' GMM stops away from
the solution of the moment conditions; DRDID is the reference there.)
Data 2 (if the path is given): cattaneo2, bweight on mbsmoke; covariates mmarried, mage, fbaby,
medu (the treatment model of the Stata example).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels
import statsmodels.api as sm
from statsmodels.treatment.treatment_effects import TreatmentEffect

HERE = Path(__file__).parent


def effects(y: np.ndarray, t: np.ndarray, X: pd.DataFrame, Xo: pd.DataFrame | None = None, link=sm.Logit) -> dict:
    Xc = sm.add_constant(X.astype(float))
    Xoc = Xc if Xo is None else sm.add_constant(Xo.astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = link(t, Xc).fit(disp=False, tol=1e-12, maxiter=200)
        te = TreatmentEffect(sm.OLS(y, Xoc), t, results_select=sel)
        out = {}
        for name, r in (("ipw_ATE", te.ipw(return_results=True, effect_group="all", disp=False)),
                        ("ipw_ATT", te.ipw(return_results=True, effect_group=1, disp=False)),
                        ("aipw_ATE", te.aipw(return_results=True, disp=False))):
            out[name] = {"estimate": float(r.effect[0]), "se": float(r.sd[0])}
    return out


def main() -> None:
    out = {"statsmodels_version": statsmodels.__version__, "numpy_version": np.__version__}
    d = pd.read_csv(HERE / "nsw_mixtape.csv")
    d = d.assign(k74=d.re74 / 1000, k75=d.re75 / 1000)
    cov = ["age", "educ", "black", "hisp", "marr", "nodegree", "k74", "k75"]
    out["nsw"] = effects(d.re78.to_numpy(float), d.treat.to_numpy(), d[cov])
    if len(sys.argv) > 1:
        b = pd.read_csv(sys.argv[1])
        y, t = b.bweight.to_numpy(float), b.mbsmoke.to_numpy()
        tm, om = ["mmarried", "mage", "fbaby", "medu"], ["mmarried", "mage", "prenatal1", "fbaby"]
        out["cattaneo2"] = effects(y, t, b[tm])
        # 2. the check: probit and the example's two covariate lists give Stata's printed numbers
        stata = json.loads((HERE / "stata_teffects_cattaneo2.json").read_text())["estimates"]
        probit = effects(y, t, b[tm], b[om], link=sm.Probit)
        for k, v in probit.items():
            s = stata[f"{k}_probit"]
            print(f"cattaneo2 probit {k}: statsmodels {v['estimate']:.4f} ({v['se']:.5f}), Stata printed "
                  f"{s['estimate']} ({s['se']})")
        out["cattaneo2_probit_check"] = probit
    (HERE / "teffects_reference.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
