"""Reference values for tests/test_did_golden.py from the csdid port of R `did` (peer venv only).

Run with the peer environment (benchmarks/.peers-did, see requirements-peers-did.txt):

    benchmarks/.peers-did/bin/python benchmarks/did_peer_reference.py

Writes tests/data/did_peer_values.json: for each configuration on mpdta, csdid's ATT(g,t)
(estimates and analytic standard errors) and the four aggregations (overall estimate and
analytic standard error). These are reference numbers produced by an independent
implementation; they are not produced by `impact`. The "improved" doubly robust estimator
(not in csdid) is taken from `differences` (est_method="dr-ipt").
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
from csdid.att_gt import ATTgt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def mpdta_variants() -> dict[str, pd.DataFrame]:
    df = pd.read_csv(ROOT / "tests/data/mpdta.csv")
    rng = np.random.default_rng(5)
    unbal = df.drop(index=rng.choice(len(df), size=250, replace=False)).reset_index(drop=True)
    w = df.assign(wt=1.0 + (df["countyreal"] % 3))
    no2004 = df[df["first.treat"] != 2004].reset_index(drop=True)
    rcs = df.assign(countyreal=np.arange(len(df)))  # each row its own sampling unit
    return {"full": df, "unbalanced": unbal, "weighted": w, "no2004": no2004, "rcs": rcs}


CONFIGS = {
    # name: (data variant, kwargs for ATTgt, fit kwargs)
    "nyt_nocov": ("full", dict(control_group=["notyettreated"]), dict(est_method="dr")),
    "nyt_dr_lpop": ("full", dict(control_group=["notyettreated"], xformla="lemp~lpop"), dict(est_method="dr")),
    "ipw_lpop": ("full", dict(control_group=["nevertreated"], xformla="lemp~lpop"), dict(est_method="ipw")),
    "reg_lpop": ("full", dict(control_group=["nevertreated"], xformla="lemp~lpop"), dict(est_method="reg")),
    "universal_nocov": ("full", dict(control_group=["nevertreated"]), dict(est_method="dr", base_period="universal")),
    "universal_dr_lpop": ("full", dict(control_group=["nevertreated"], xformla="lemp~lpop"), dict(est_method="dr", base_period="universal")),
    "antic1_nocov": ("no2004", dict(control_group=["nevertreated"], anticipation=1), dict(est_method="dr")),
    "weighted_dr_lpop": ("weighted", dict(control_group=["nevertreated"], xformla="lemp~lpop", weights_name="wt"), dict(est_method="dr")),
    "rcs_nocov": ("rcs", dict(control_group=["nevertreated"], panel=False), dict(est_method="dr")),
    "rcs_dr_lpop": ("rcs", dict(control_group=["nevertreated"], panel=False, xformla="lemp~lpop"), dict(est_method="dr")),
    "rcs_ipw_lpop": ("rcs", dict(control_group=["nevertreated"], panel=False, xformla="lemp~lpop"), dict(est_method="ipw")),
    "rcs_reg_lpop": ("rcs", dict(control_group=["notyettreated"], panel=False, xformla="lemp~lpop"), dict(est_method="reg")),
    "unbalanced_dr_lpop": ("unbalanced", dict(control_group=["nevertreated"], xformla="lemp~lpop", allow_unbalanced_panel=True), dict(est_method="dr")),
}


def run(name: str, variant: pd.DataFrame, kw: dict, fit_kw: dict) -> dict:
    a = ATTgt(yname="lemp", gname="first.treat", idname="countyreal", tname="year", data=variant, **kw)
    a = a.fit(bstrap=False, **fit_kw)
    r = a.results
    out = {
        "att_gt": {
            "group": [int(x) for x in r["group"]],
            "time": [int(x) for x in r["year"]],
            "att": [float(x) for x in r["att"]],
            "se": [None if not np.isfinite(x) else float(x) for x in np.asarray(r["se"], dtype=float)],
        },
        "aggregate": {},
    }
    for kind in ["simple", "group", "dynamic", "calendar"]:
        a.aggte(kind, bstrap=False)
        out["aggregate"][kind] = {
            "overall_att": float(a.atte["overall_att"]),
            "overall_se": float(a.atte["overall_se"]),
            "egt": [float(x) for x in np.atleast_1d(a.atte["egt"])] if a.atte["egt"] is not None else None,
            "att_egt": [float(x) for x in np.atleast_1d(a.atte["att_egt"])] if a.atte["att_egt"] is not None else None,
        }
    return out


def main() -> None:
    variants = mpdta_variants()
    res = {
        "provenance": (
            f"csdid {version('csdid')} (Python port of R did), pandas {version('pandas')}, numpy {version('numpy')}; "
            "produced by benchmarks/did_peer_reference.py on tests/data/mpdta.csv (lemp on year, countyreal, first.treat; "
            "covariate lpop); analytic standard errors (bstrap=False). Data variants: unbalanced = 250 rows dropped with "
            "numpy default_rng(5).choice(len, 250, replace=False); weighted = weights 1 + countyreal % 3; no2004 = cohort 2004 dropped; rcs = every row its own unit (countyreal replaced by the row number), panel=False."
        ),
        "configs": {},
    }
    for name, (var, kw, fit_kw) in CONFIGS.items():
        try:
            res["configs"][name] = {"variant": var, "att_gt_kwargs": {k: v for k, v in kw.items()}, "fit": fit_kw, **run(name, variants[var], kw, fit_kw)}
            print("ok", name, file=sys.stderr)
        except Exception as exc:  # record and go on: a peer failure is information
            res["configs"][name] = {"error": repr(exc)}
            print("FAILED", name, repr(exc), file=sys.stderr)
    # the "improved" doubly robust estimator (IPT propensity score) is not in csdid: differences' dr-ipt
    try:
        from differences import ATTgt as DiffATTgt

        d = variants["full"].assign(g=lambda x: x["first.treat"].where(x["first.treat"] > 0)).set_index(["countyreal", "year"])
        a = DiffATTgt(data=d, cohort_column="g")
        a.fit(formula="lemp ~ lpop", est_method="dr-ipt", control_group="never_treated", progress_bar=False)
        t = a.results().reset_index()
        t.columns = ["_".join(str(x) for x in c if x) if isinstance(c, tuple) else c for c in t.columns]
        res["differences_dr_ipt_lpop"] = {
            "provenance": f"differences {version('differences')}, ATTgt(cohort_column=g).fit('lemp ~ lpop', est_method='dr-ipt', control_group='never_treated')",
            "group": [int(x) for x in t["cohort"]], "time": [int(x) for x in t["time"]],
            "att": [float(x) for x in t["ATTgtElements_ATT"]], "se": [float(x) for x in t["ATTgtElements_analytic_std_error"]],
        }
        print("ok differences dr-ipt", file=sys.stderr)
    except Exception as exc:
        res["differences_dr_ipt_lpop"] = {"error": repr(exc)}
        print("FAILED differences dr-ipt", repr(exc), file=sys.stderr)
    path = ROOT / "tests/data/did_peer_values.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(res, indent=1))
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
