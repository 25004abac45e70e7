"""Synthetic control's predictor balance (Synth's synth.tab) and the placebos with a poor pre-fit
set apart (SCtools' mspe.limit), on a small factor-model panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.test_refute import _synth_panel


@pytest.fixture(scope="module")
def fit():
    from impact.estimators import synth

    df, t0 = _synth_panel(1.0, n=12)
    res = synth.synthetic_control(df, unit="unit", time="time", outcome="y", treated="T", treatment_time=t0)
    return df.to_pandas(), t0, res


def test_predictor_balance_is_treated_synthetic_and_donor_mean(fit):
    df, t0, res = fit
    units = sorted(df["unit"].unique())
    cov = pd.DataFrame({"size": np.arange(len(units), dtype=float) + 1.0}, index=units)
    bal = res.balance_table(cov, period=lambda t: "early" if t < 15 else "late").set_index("predictor")
    pre = df[df["time"] < t0]
    wide = pre.pivot(index="time", columns="unit", values="y")
    donors = [u for u in units if u != "T"]
    w = res.weights.reindex(donors).to_numpy()
    row = bal.loc["outcome_pre"]
    assert row["treated"] == pytest.approx(wide["T"].mean())
    assert row["synthetic"] == pytest.approx((wide[donors].to_numpy() @ w).mean())
    assert row["donor_mean"] == pytest.approx(wide[donors].to_numpy().mean())
    assert row["gap"] == pytest.approx(row["treated"] - row["synthetic"])
    late = bal.loc["outcome_pre_late"]
    assert late["treated"] == pytest.approx(wide.loc[wide.index >= 15, "T"].mean())
    size = bal.loc["covariate_size"]
    assert size["treated"] == cov.loc["T", "size"] and size["synthetic"] == pytest.approx(w @ cov.loc[donors, "size"])
    assert size["donor_mean"] == pytest.approx(cov.loc[donors, "size"].mean())
    assert abs(row["gap"]) < abs(row["treated"] - row["donor_mean"])  # the weights do better than the plain mean


def test_poor_prefit_placebos_are_set_apart_and_left_out_of_the_p_value(fit):
    _, _, res = fit
    pl_ = res.placebo(n_jobs=1)
    n_all, p_all = pl_.pre_fit_filter(1e9)
    assert n_all == pl_.n_units and p_all == pytest.approx(pl_.p_value)
    tr = float(pl_.ratios.loc[pl_.ratios["treated"], "pre_mspe"].iloc[0])
    k = float(np.median(pl_.ratios["pre_mspe"]) / tr)  # about half of the placebos fit worse than k x
    poor = pl_.poor_fit(k)
    assert 0 < poor.sum() < pl_.n_units - 1 and not poor[pl_.ratios["treated"]].any()
    n_k, p_k = pl_.pre_fit_filter(k)
    kept = pl_.ratios[~poor]
    assert n_k == len(kept) == pl_.n_units - poor.sum()
    r_t = float(kept.loc[kept["treated"], "ratio"].iloc[0])
    assert p_k == pytest.approx((kept["ratio"] >= r_t).sum() / n_k)
    # the same numbers as the estimator's own table of filters (MSPE multiples)
    f = pl_.filtered.set_index("max_pre_mspe_ratio")
    assert pl_.pre_fit_filter(5.0) == (int(f.loc[5.0, "n_units"]), pytest.approx(f.loc[5.0, "p_value"]))
