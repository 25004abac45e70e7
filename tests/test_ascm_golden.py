"""Golden tests of the ridge-augmented synthetic control.

* augsynth's vignette ("Single Outcome AugSynth", Kansas 2012 tax cuts; tests/data/kansas.csv from
  augsynth's ``data(kansas)``): synthetic control (``progfunc = "None"``): average ATT -0.0294,
  L2 imbalance 0.083, 79.5 % better than uniform weights, 7 donors with weights 0.053-0.301; ridge
  ASCM: -0.0401, L2 imbalance 0.062, 84.7 %, estimated bias 0.011, largest weight 0.316; ridge ASCM
  with covariates appended: -0.0609, L2 imbalance 0.054, 86.6 %.
* Proposition 99 against pysyncon's AugSynth (tests/data/ascm_prop99.json, ascm_prop99.py): the
  cross-validated penalty and the average effect; residualised covariates at pysyncon's penalty
  (its penalty grid starts one step above augsynth's, see tests/data/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from impact.errors import DesignError
from impact.estimators import synth

DATA = Path(__file__).parent / "data"
REF = json.loads((DATA / "ascm_prop99.json").read_text())


@pytest.fixture(scope="module")
def kansas() -> pl.DataFrame:
    return pl.read_csv(DATA / "kansas.csv").with_columns(
        log_revstate=pl.col("revstatecapita").log(), log_revlocal=pl.col("revlocalcapita").log(),
        log_wage=pl.col("avgwklywagecapita").log())


@pytest.fixture(scope="module")
def kansas_fit(kansas):
    return synth.augmented_synthetic_control(kansas, "fips", "year_qtr", "lngdpcapita", treated=20,
                                             treatment_time=2012.25)


def test_kansas_vignette(kansas_fit):
    a = kansas_fit
    d = a.diagnostics
    assert f"{a.att():.4f}" == "-0.0401"
    assert f"{d['l2_imbalance']:.3f}" == "0.062" and f"{1 - d['scaled_l2_imbalance']:.1%}" == "84.7%"
    assert f"{d['estimated_bias']:.3f}" == "0.011"
    assert f"{a.weights.abs().max():.3f}" == "0.316" and (a.weights != 0).sum() == 49
    # the synthetic control it augments (augsynth with progfunc = "None")
    assert f"{d['att_scm']:.4f}" == "-0.0294"
    assert f"{d['l2_imbalance_scm']:.3f}" == "0.083" and f"{1 - d['scaled_l2_imbalance_scm']:.1%}" == "79.5%"
    w = a.scm_weights[a.scm_weights > 0]
    assert len(w) == 7 and (f"{w.min():.3f}", f"{w.max():.3f}") == ("0.053", "0.301")
    assert a.weights.sum() == pytest.approx(1.0)
    # the augmentation is the change from the synthetic control's estimate
    assert d["att_scm"] - a.att() == pytest.approx(d["estimated_bias"])


def test_kansas_vignette_covariates(kansas):
    c = synth.augmented_synthetic_control(
        kansas, "fips", "year_qtr", "lngdpcapita", 20, 2012.25, residualize=False,
        covariates=["lngdpcapita", "log_revstate", "log_revlocal", "log_wage", "estabscapita", "emplvlcapita"])
    assert f"{c.att():.4f}" == "-0.0609"
    assert f"{c.diagnostics['l2_imbalance']:.3f}" == "0.054"
    assert f"{1 - c.diagnostics['scaled_l2_imbalance']:.1%}" == "86.6%"


def test_prop99_against_pysyncon():
    df = pl.read_csv(DATA / "smoking.csv")
    a = synth.augmented_synthetic_control(df, "state", "year", "cigsale", "California", 1989)
    ref = REF["outcome_only"]
    assert a.ridge == pytest.approx(ref["lambda"], rel=1e-9)
    assert a.att() == pytest.approx(ref["att"], abs=1e-4)
    w = np.array([ref["weights"][str(k)] for k in a.weights.index])
    np.testing.assert_allclose(a.weights.to_numpy(), w, atol=1e-5)
    ref = REF["residualized"]
    r = synth.augmented_synthetic_control(df, "state", "year", "cigsale", "California", 1989, ridge=ref["lambda"],
                                          covariates=["lnincome", "retprice", "age15to24", "beer"])
    assert r.att() == pytest.approx(ref["att"], abs=1e-4)
    w = np.array([ref["weights"][str(k)] for k in r.weights.index])
    np.testing.assert_allclose(r.weights.to_numpy(), w, atol=1e-5)
    # residualised covariates are balanced exactly
    assert r.diagnostics["covariate_l2_imbalance"] < 1e-8


def test_jackknife_plus(kansas_fit):
    j = kansas_fit.interval("jackknife+")
    assert list(j["time"].iloc[-1:]) == ["average"] and len(j) == 17
    assert (j["ci_lower"] < j["estimate"]).all() and (j["estimate"] < j["ci_upper"]).all()
    assert j.iloc[-1]["estimate"] == pytest.approx(kansas_fit.att())
    # the vignette's conformal intervals are about as wide (0.024-0.05); jackknife+ over 89 periods
    assert 0.02 < (j["ci_upper"] - j["ci_lower"]).median() < 0.08


def test_conformal_prop99():
    df = pl.read_csv(DATA / "smoking.csv")
    a = synth.augmented_synthetic_control(df, "state", "year", "cigsale", "California", 1989)
    c = a.interval("conformal", n_perm=200, grid_size=20, permutation="block")
    assert len(c) == 13 and c["p_value"].between(0, 1).all()
    post = c.iloc[:-1]
    assert (post["ci_lower"] <= post["estimate"] + 1e-9).all() and (post["estimate"] <= post["ci_upper"] + 1e-9).all()
    assert c.iloc[-1]["p_value"] <= 0.1  # a large effect over 12 years


def test_bad_input(kansas):
    with pytest.raises(DesignError, match="one treatment time"):
        synth.augmented_synthetic_control(kansas, "fips", "year_qtr", "lngdpcapita", [20, 1],
                                          {20: 2012.25, 1: 2013.0})
    with pytest.raises(DesignError, match="ridge must be positive"):
        synth.augmented_synthetic_control(kansas, "fips", "year_qtr", "lngdpcapita", 20, 2012.25, ridge=0)
    with pytest.raises(DesignError, match="column 'nope'"):
        synth.augmented_synthetic_control(kansas, "fips", "year_qtr", "lngdpcapita", 20, 2012.25, covariates=["nope"])
    with pytest.raises(DesignError, match="interval method"):
        synth.augmented_synthetic_control(kansas, "fips", "year_qtr", "lngdpcapita", 20, 2012.25).interval("bootstrap")
