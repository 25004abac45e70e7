"""``match(..., sample_se=True)``: the standard error of the sample ATT, and the truth check that uses it.

The sample ATT is the average of ``Y(1) - Y(0)`` over exactly the matched treated units (what a
simulation's truth is); ``tau_hat - tau_sample = (1/N1) [sum_i Y_i(0) - sum_j K_j Y_j]``, variance
``(1/N1^2) [sum_i sigma0^2(X_i) + sum_j K_j^2 sigma^2(X_j)]`` (plus within-cluster covariances).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from impact.estimators import matching
from impact.study.truth import check_interval, truth_notices


def _hand_case() -> pd.DataFrame:
    # a known score (no logit, no 2016 adjustment), one neighbour, conditional variances from the unit
    # and one other (J = 1): T1 (0.20) is matched to C1 (0.21), T2 (0.60) to C4 (0.62)
    return pd.DataFrame({
        "unit": ["T1", "T2", "C1", "C2", "C3", "C4", "C5"],
        "d": [1, 1, 0, 0, 0, 0, 0],
        "p": [0.20, 0.60, 0.21, 0.23, 0.26, 0.62, 0.65],
        "y": [4.0, 12.0, 1.0, 3.0, 20.0, 5.0, 9.0],
        "x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "person": ["a", "b", "c", "d", "e", "f", "g"],
    })


def test_sample_se_exact_formula_on_a_hand_case():
    df = _hand_case()
    r = matching.match(df, treatment="d", outcome="y", covariates=["x"], propensity="p", k=1, sample_se=True)
    row = r.estimates.iloc[0]
    # estimate ((4 - 1) + (12 - 5)) / 2 = 5
    assert row["estimate"] == pytest.approx(5.0, abs=1e-12)
    # population (Abadie-Imbens): [sum_i (tau_i - tau)^2 + sum_j (K_j^2 - K'_j) s2_j] / N1^2 = [(3-5)^2 + (7-5)^2 + 0] / 4
    assert row["std_error"] == pytest.approx(np.sqrt(8 / 4), rel=1e-12)
    # sample: s0^2 of T1 from its J + 1 = 2 nearest controls C1, C2: var(1, 3) = 2; of T2 from C4, C5: var(5, 9) = 8;
    # the used controls' own s^2 from themselves and their nearest control: C1 with C2 (2), C4 with C5 (8), K = 1
    # each: V = [2 + 8 + 1^2 * 2 + 1^2 * 8] / 2^2 = 5 (the far control C3, y = 20, enters nowhere)
    assert row["std_error_sample"] == pytest.approx(np.sqrt(5.0), rel=1e-12)
    # published numbers unchanged; the column only when asked
    plain = matching.match(df, treatment="d", outcome="y", covariates=["x"], propensity="p", k=1)
    assert "std_error_sample" not in plain.estimates
    cols = ["estimate", "std_error", "ci_lower", "ci_upper", "p_value"]
    pd.testing.assert_frame_equal(plain.estimates[cols], r.estimates[cols], check_exact=True)


def test_sample_se_with_reused_controls_and_exact_cells():
    # T1 and T2 share their match C1 (K = 2): its variance enters with K^2 = 4 (the population variance has
    # K^2 - K' = 4 - 2 = 2); exact cells keep T3 to cell B, where its nearest controls are C3, C4
    df = pd.DataFrame({"d": [1, 1, 1, 0, 0, 0, 0], "p": [0.30, 0.32, 0.31, 0.31, 0.35, 0.29, 0.50],
                       "cell": ["A", "A", "B", "A", "A", "B", "B"], "y": [2.0, 6.0, 1.0, 0.0, 4.0, 3.0, 7.0],
                       "x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    r = matching.match(df, treatment="d", outcome="y", covariates=["x"], propensity="p", k=1, exact="cell",
                       sample_se=True).estimates.iloc[0]
    # matches: T1 (0.30) -> C1 (0.31); T2 (0.32) -> C1; T3 (0.31, cell B) -> C3 (0.29)
    assert r["estimate"] == pytest.approx(((2 - 0) + (6 - 0) + (1 - 3)) / 3, abs=1e-12)
    s0 = [8.0, 8.0, 8.0]  # T1, T2: var(C1, C2) = var(0, 4); T3: var(C3, C4) = var(3, 7)
    s_used = {"C1": (2, 8.0), "C3": (1, 8.0)}  # (K, s2): C1 with C2, C3 with C4
    v = (sum(s0) + sum(k**2 * s for k, s in s_used.values())) / 9
    assert r["std_error_sample"] == pytest.approx(np.sqrt(v), rel=1e-12)
    tau_i = np.array([2.0, 6.0, -2.0])
    v_pop = (((tau_i - tau_i.mean()) ** 2).sum() + (2**2 - 2) * 8.0 + 0 * 8.0) / 9
    assert r["std_error"] == pytest.approx(np.sqrt(v_pop), rel=1e-12)


def test_sample_se_clustered_adds_the_same_within_cluster_covariances():
    rng = np.random.default_rng(3)
    n = 400
    x = rng.normal(size=n)
    d = rng.random(n) < 1 / (1 + np.exp(-x))
    df = pd.DataFrame({"d": d.astype(int), "x": x, "y": x + rng.normal(size=n) + d * rng.normal(1, 2, n),
                       "person": rng.integers(0, 150, n)})
    kw = dict(treatment="d", outcome="y", covariates=["x"], k=3, ps_adjust=False, sample_se=True)
    a = matching.match(df, **kw).estimates.iloc[0]
    b = matching.match(df, cluster="person", **kw).estimates.iloc[0]
    assert b["std_error"] != pytest.approx(a["std_error"], rel=1e-6)  # the clusters matter here
    assert b["std_error_sample"] ** 2 - a["std_error_sample"] ** 2 == pytest.approx(
        b["std_error"] ** 2 - a["std_error"] ** 2, rel=1e-9)


def test_sample_se_atc_is_the_att_with_the_labels_swapped():
    df = _hand_case().assign(p=lambda f: 1 - f["p"])
    att = matching.match(df, treatment="d", outcome="y", covariates=["x"], propensity="p", k=1,
                         sample_se=True).estimates.iloc[0]
    atc = matching.match(df.assign(d=1 - df["d"]), treatment="d", outcome="y", covariates=["x"],
                         propensity=1 - df["p"], k=1, estimand="ATC", sample_se=True).estimates.iloc[0]
    assert atc["estimate"] == pytest.approx(-att["estimate"], abs=1e-12)
    assert atc["std_error_sample"] == pytest.approx(att["std_error_sample"], rel=1e-12)


def test_sample_se_is_nan_where_it_is_not_derived():
    rng = np.random.default_rng(5)
    x = rng.normal(size=300)
    df = pd.DataFrame({"d": (rng.random(300) < 1 / (1 + np.exp(-x))).astype(int), "x": x, "y": x + rng.normal(size=300)})
    boot = matching.match(df, treatment="d", outcome="y", covariates=["x"], k=2, vce="bootstrap", n_boot=20,
                          sample_se=True)
    adj = matching.match(df, treatment="d", outcome="y", covariates=["x"], k=2, sample_se=True)  # 2016 adjustment
    for r in (boot, adj):
        assert np.isnan(r.estimates["std_error_sample"]).all() and any("std_error_sample" in n for n in r.notes)
        assert np.isfinite(r.estimates["std_error"]).all()


def test_sample_se_covers_the_sample_effect_where_the_population_se_is_conservative():
    """Strongly heterogeneous effects: against the treated units' own average effect the population
    standard error is far too wide (sd(z) < 0.8), the sample one about right."""
    rng = np.random.default_rng(11)
    z_pop, z_s = [], []
    for _ in range(150):
        n = 600
        x = rng.normal(size=n)
        e = 1 / (1 + np.exp(1.0 - x))
        d = rng.random(n) < e
        y0 = 0.5 * x + rng.normal(size=n)
        tau = rng.normal(1.0, 3.0, n)
        df = pd.DataFrame({"d": d.astype(int), "x": x, "y": np.where(d, y0 + tau, y0)})
        # a known score; conditional variances from 4 outcomes each (J = 3): with J = 1 the few heavily reused
        # comparison units' variances rest on 2 outcomes each and the standard error is itself noisy
        r = matching.match(df, treatment="d", outcome="y", covariates=["x"], k=4, propensity=e, var_neighbours=3,
                           sample_se=True).estimates.iloc[0]
        satt = tau[d].mean()
        z_pop.append((r["estimate"] - satt) / r["std_error"])
        z_s.append((r["estimate"] - satt) / r["std_error_sample"])
    assert np.std(z_pop, ddof=1) < 0.7
    assert 0.85 < np.std(z_s, ddof=1) < 1.15
    assert 0.90 <= np.mean(np.abs(z_s) <= 1.96) <= 0.99


def test_truth_check_of_a_matching_estimate_uses_its_sample_se():
    """The study's truth check reads ``std_error_sample`` of the matching's estimates table: a truth outside
    the published interval but inside the sample-effect interval is no warning, and the warning says which
    interval was checked where one is."""
    df = _hand_case()
    r = matching.match(df, treatment="d", outcome="y", covariates=["x"], propensity="p", k=1, sample_se=True)
    est = r.estimates.assign(analysis="dynamic_matching", outcome="earnings_h12", horizon=12.0)
    # estimate 5, published s.e. sqrt(2) (interval +-2.77), sample s.e. sqrt(5) (+-4.38)
    lo, hi, used = check_interval(est)
    assert used.all() and hi[0] == pytest.approx(5 + 1.959964 * np.sqrt(5), rel=1e-6)
    assert truth_notices(est.assign(truth=8.5), "en") == []
    assert len(truth_notices(est.drop(columns="std_error_sample").assign(truth=8.5), "en")) == 1
    miss = truth_notices(est.assign(truth=10.0), "en")
    assert len(miss) == 1 and "own average effect" in miss[0].text


def test_sample_se_is_suppressed_with_its_estimate():
    """An earnings cell that breaks the payer rule publishes neither its estimate nor its sample s.e."""
    import polars as pl

    from impact.report.disclosure import DisclosureRules, disclose
    from impact.study.analyses.effects import estimates_publication, per_row_members, persons_frame

    est = pd.DataFrame({"analysis": "dynamic_matching", "outcome": ["employed_h3", "earnings_h3"], "horizon": 3.0,
                        "estimate": [0.02, 50.0], "std_error": [0.01, 20.0], "ci_lower": [0.0, 10.0],
                        "ci_upper": [0.04, 90.0], "p_value": [0.05, 0.01], "std_error_sample": [0.009, 18.0],
                        "n_treated": 12, "n_controls": 12})
    persons = persons_frame({"treated": pl.DataFrame({"person_id": list(range(12))}),
                             "controls": pl.DataFrame({"person_id": list(range(12, 24))})})
    members = per_row_members(est, ["analysis", "outcome", "horizon"], persons)
    payers = pl.DataFrame({"analysis": "dynamic_matching", "outcome": "earnings_h3", "horizon": "3.0",
                           "payer_id": [1, 2, 3, 4, 5], "amount": [960.0, 10.0, 10.0, 10.0, 10.0]})  # one payer 96 %
    out = disclose(estimates_publication("estimates_x", est, members, payers), DisclosureRules()).frame
    assert out["std_error_sample"].iloc[0] == 0.009 and out["estimate"].iloc[0] == 0.02
    assert np.isnan(out["std_error_sample"].iloc[1]) and np.isnan(out["estimate"].iloc[1])
