"""Golden tests of the matching estimators on the NSW experiment and the CPS-1 comparison group.

Published numbers: experimental difference in means 1,794.34 (Dehejia-Wahba sample);
Stata ``teffects psmatch (re78) (treat <DW logit>, logit), atet nn(5)`` ATT 1,725.08
(Cunningham, *Causal Inference: The Mixtape*, ch. 5). Data: tests/data/README.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from impact.estimators import matching

DATA = Path(__file__).parent / "data"
DW = ["age", "age2", "age3", "educ", "educ2", "marr", "nodegree", "black", "hisp", "re74", "re75", "u74", "u75",
      "educ_re74"]


def _read(name: str) -> pd.DataFrame:
    df = pd.read_csv(DATA / name)
    num = [c for c in df.columns if c != "data_id"]
    df[num] = df[num].astype("float64")
    return df


def _dw(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["age2"], df["age3"] = df.age**2, df.age**3
    df["educ2"] = df.educ**2
    df["u74"], df["u75"] = (df.re74 == 0).astype(float), (df.re75 == 0).astype(float)
    df["educ_re74"] = df.educ * df.re74
    return df


@pytest.fixture(scope="module")
def nsw() -> pd.DataFrame:
    return _read("nsw_mixtape.csv")


@pytest.fixture(scope="module")
def cps(nsw) -> pd.DataFrame:
    return _dw(pd.concat([nsw[nsw.treat == 1], _read("cps_mixtape.csv")], ignore_index=True))


@pytest.fixture(scope="module")
def psm5(cps):
    return matching.match(cps, treatment="treat", outcome="re78", covariates=DW, k=5)


def test_experimental_difference_in_means(nsw):
    diff = nsw.loc[nsw.treat == 1, "re78"].mean() - nsw.loc[nsw.treat == 0, "re78"].mean()
    assert round(diff, 2) == 1794.34


def test_psm_nn5_att_matches_stata_teffects(psm5):
    row = psm5.estimates.iloc[0]
    assert round(row["estimate"], 2) == 1725.08
    assert row["estimand"] == "ATT" and row["n_treated"] == 185 and row["n_controls"] == 15992
    # the same matches from a polars frame
    assert psm5.estimates.columns[:10].tolist() == [
        "outcome", "estimand", "horizon", "estimate", "std_error", "ci_lower", "ci_upper", "p_value", "n_treated",
        "n_controls"]
    assert "n_controls_used" in psm5.estimates


def test_polars_input_gives_the_same_estimate(cps, psm5):
    r = matching.match(pl.from_pandas(cps), treatment="treat", outcome="re78", covariates=DW, k=5)
    assert r.estimates["estimate"].iloc[0] == pytest.approx(psm5.estimates["estimate"].iloc[0], abs=1e-9)


def test_logit_coefficients_are_the_mle(psm5, cps):
    """Score equations hold at the fitted coefficients (unpenalised MLE, converged)."""
    ps = psm5.propensity
    X = np.column_stack([np.ones(len(cps)), cps[DW].to_numpy()])
    grad = X.T @ (cps.treat.to_numpy() - ps.score)
    scale = np.abs(X).max(axis=0) * len(cps)
    assert np.all(np.abs(grad) / scale < 1e-8)


def test_one_to_one_ties_change_the_estimate_as_documented(cps):
    """DESIGN 'known pitfalls': 1:1 matching with all ties (Stata) gives about 730."""
    r = matching.match(cps, treatment="treat", outcome="re78", covariates=DW, k=1)
    assert round(r.estimates["estimate"].iloc[0], 2) == 730.38


def test_balance_flags_what_one_to_one_matching_leaves_unbalanced(cps, psm5):
    r1 = matching.match(cps, treatment="treat", outcome="re78", covariates=DW, k=1)
    b1 = r1.balance.set_index("covariate")
    flagged = set(b1.index[b1.smd_flag | b1.vr_flag])
    # before matching everything but hisp is badly unbalanced (|SMD| > 0.8)
    assert (b1.drop(index="hisp").smd_before.abs() > 0.8).all()
    # 1:1 leaves education, degree, ethnicity and 1974 unemployment unbalanced
    assert flagged == {"educ", "educ2", "nodegree", "hisp", "u74"}
    assert b1.loc["educ", "smd_after"] == pytest.approx(-0.2258, abs=5e-4)
    # flags are exactly the threshold rules
    assert (b1.smd_flag == (b1.smd_after.abs() > 0.1)).all()
    # 1:5 balances all but u75
    b5 = psm5.balance.set_index("covariate")
    assert set(b5.index[~b5.balanced]) == {"u75"}
    # the SMD uses the treated SD (ATT), the same before and after
    sd_t = cps.loc[cps.treat == 1, "age"].std()
    assert b5.loc["age", "smd_before"] == pytest.approx(
        (cps.loc[cps.treat == 1, "age"].mean() - cps.loc[cps.treat == 0, "age"].mean()) / sd_t)


@pytest.mark.slow
def test_ai_standard_error_agrees_with_bootstrap(cps, psm5):
    """No published Abadie-Imbens SE for this specification is available to us: compare the
    analytic SE with a unit bootstrap of the whole procedure (re-fitted logit, re-matched)."""
    boot = matching.match(cps, treatment="treat", outcome="re78", covariates=DW, k=5, vce="bootstrap", n_boot=150,
                          seed=1)
    se_ai = psm5.estimates["std_error"].iloc[0]
    se_bs = boot.estimates["std_error"].iloc[0]
    assert boot.estimates["estimate"].iloc[0] == psm5.estimates["estimate"].iloc[0]
    assert 0.75 < se_ai / se_bs < 1.33, (se_ai, se_bs)


def test_weighting_cross_checks_close_to_experimental_benchmark(cps):
    r_ipw = matching.ipw(cps, treatment="treat", outcome="re78", covariates=DW)
    r_dr = matching.aipw(cps, treatment="treat", outcome="re78", covariates=DW)
    for r in (r_ipw, r_dr):
        row = r.estimates.iloc[0]
        assert row["ci_lower"] < 1794.34 < row["ci_upper"]
        assert 300 < row["std_error"] < 2000
    # weights reproduce the Hajek formula directly
    e = r_ipw.score
    t = cps.treat.to_numpy() == 1
    w = e[~t] / (1 - e[~t])
    direct = cps.re78[t].mean() - np.sum(w * cps.re78[~t]) / w.sum()
    assert r_ipw.estimates["estimate"].iloc[0] == pytest.approx(direct)


def test_several_outcomes_in_one_pass(cps, psm5):
    df = cps.assign(employed78=(cps.re78 > 0).astype(float))
    r = matching.match(df, treatment="treat", outcome=["re78", "employed78"], covariates=DW, k=5,
                       horizons={"re78": 12, "employed78": 12})
    assert r.estimates["outcome"].tolist() == ["re78", "employed78"]
    assert r.estimates["estimate"].iloc[0] == pytest.approx(psm5.estimates["estimate"].iloc[0])
    assert r.estimates["std_error"].iloc[0] == pytest.approx(psm5.estimates["std_error"].iloc[0])
    assert r.estimates["horizon"].tolist() == [12, 12]


def test_summary_and_plots(psm5):
    text = psm5.summary()
    assert "1,725.1" in text and "Balance" in text and "Overlap" in text
    from impact import plots

    fig = plots.love_plot(psm5.love_plot_data())
    assert len(fig.axes[0].get_yticklabels()) == len(DW)
    fig2 = plots.overlap_plot(psm5.overlap_plot_data())
    assert len(fig2.axes[0].patches) == 80


def test_mahalanobis_matching_on_experimental_sample(nsw):
    """Matching within the experiment should land near the experimental difference."""
    r = matching.match(nsw, treatment="treat", outcome="re78", covariates=["age", "educ", "re74", "re75"],
                       method="mahalanobis", k=4, estimand="ATE")
    row = r.estimates.iloc[0]
    assert row["ci_lower"] < 1794.34 < row["ci_upper"]
    assert 1200 < row["estimate"] < 2400
