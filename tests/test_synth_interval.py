"""Synthetic-control ATT intervals against a known truth (impact.estimators.synth.interval).

A linear factor model with AR(1) noise whose level differs by unit (the treated unit is
less noisy than the donors, as a large area among smaller ones): over repeated draws, the
noise-scaled placebo standard error matches the actual spread of the estimation error and
its intervals cover the truth, while the plain placebo spread overstates it about twice.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from impact.errors import DesignError
from impact.estimators import synth
from impact.estimators.synth.interval import noise_variance

T, T0, J = 60, 36, 24


def draw(seed: int, effect: float = 0.0, treated_sd: float = 0.3) -> pl.DataFrame:
    """Unit 'T' (noise sd ``treated_sd``) and J donors (noise sd 0.6-1.2), AR(1) noise (rho 0.6)
    around a three-factor structure; the treated loadings average three donors'. The effect
    ``effect`` is added from period ``T0`` on."""
    rng = np.random.default_rng(seed)
    f = np.cumsum(rng.normal(0, 0.5, size=(T, 3)), axis=0)
    lam = rng.uniform(0.3, 1.5, size=(J, 3))
    lam_t = lam[rng.choice(J, size=3, replace=False)].mean(axis=0)
    sd = np.concatenate([[treated_sd], np.linspace(0.6, 1.2, J)])
    e = np.zeros((T, J + 1))
    shocks = rng.normal(size=(T, J + 1)) * sd * np.sqrt(1 - 0.6**2)
    e[0] = rng.normal(size=J + 1) * sd
    for t in range(1, T):  # AR(1) over 60 periods
        e[t] = 0.6 * e[t - 1] + shocks[t]
    y = np.column_stack([f @ lam_t, f @ lam.T]) + e
    y[T0:, 0] += effect
    units = ["T"] + [f"D{j:02d}" for j in range(J)]
    return pl.DataFrame({"unit": np.repeat(units, T), "t": np.tile(np.arange(T), J + 1), "y": y.T.ravel()})


def fit(df: pl.DataFrame):
    return synth.synthetic_control(df, unit="unit", time="t", outcome="y", treated="T", treatment_time=T0)


@pytest.fixture(scope="module")
def reps():
    out = []
    for s in range(40):  # 40 draws of the factor model, each with J placebo refits
        res = fit(draw(100 + s, effect=1.0))
        r = res.att_interval("scaled_placebo")
        p = res.att_interval("placebo")
        out.append((r["estimate"] - 1.0, r["std_error"], r["ci_lower"] <= 1.0 <= r["ci_upper"], p["std_error"]))
    return np.array(out, dtype=float)


def test_scaled_placebo_se_matches_the_error_spread(reps):
    sd_err = reps[:, 0].std(ddof=1)
    ratio = reps[:, 1].mean() / sd_err
    assert 0.75 < ratio < 1.35, ratio
    # the plain placebo spread overstates it: the donors are 2-4 times noisier than the treated unit
    assert reps[:, 3].mean() / sd_err > 1.6


def test_scaled_placebo_covers(reps):
    assert reps[:, 2].mean() >= 0.85  # 95 % intervals, 40 draws
    assert abs(reps[:, 0].mean()) < 3 * reps[:, 0].std(ddof=1) / np.sqrt(len(reps))  # unbiased


def test_interval_sets_the_att_row_and_rejects_unknown_method():
    res = fit(draw(7, effect=3.0))
    r = res.att_interval()
    row = res.estimates[res.estimates["estimand"] == "ATT"].iloc[0]
    assert row["ci_lower"] == pytest.approx(r["ci_lower"]) and row["std_error"] == pytest.approx(r["std_error"])
    assert r["ci_lower"] > 0 and r["p_value"] < 0.05  # an effect of 3 against noise sd 0.3
    with pytest.raises(DesignError, match="scaled_placebo"):
        res.att_interval("bootstrap")


def test_noise_variance_removes_common_shocks():
    rng = np.random.default_rng(0)
    common = np.cumsum(rng.normal(0, 5, size=200))[:, None]
    Y = common + rng.normal(size=(200, 30)) * np.linspace(0.5, 2.0, 30)
    v = noise_variance(Y)
    # white noise: the variance of its change is 2 sd^2, whatever the (large) common shocks
    rel = v / (2 * np.linspace(0.5, 2.0, 30) ** 2)
    assert 0.8 < np.median(rel) < 1.25 and rel.min() > 0.5 and rel.max() < 2.0
    with pytest.raises(DesignError, match="3 pre-treatment periods"):
        noise_variance(Y[:2])


def test_pooled_scaled_interval():
    frames = [draw(50, effect=2.0).with_columns(pl.col("unit").str.replace("^T$", "T1"))]
    b = draw(51, effect=2.0).filter(pl.col("unit") == "T").with_columns(unit=pl.lit("T2"))
    df = pl.concat([frames[0], b])
    multi = synth.synthetic_control(df, unit="unit", time="t", outcome="y", treated=["T1", "T2"], treatment_time=T0)
    r = multi.att_interval()
    assert r["ci_lower"] < 2.0 < r["ci_upper"] and r["ci_lower"] > 0


def test_conformal_on_iid_noise():
    """With serially independent noise the conformal test is exact: the interval contains the
    constant effect and excludes zero when the effect is large."""
    rng = np.random.default_rng(3)
    f = np.cumsum(rng.normal(0, 0.5, size=(T, 2)), axis=0)
    lam = rng.uniform(0.3, 1.5, size=(J, 2))
    y = np.column_stack([f @ lam[:3].mean(axis=0), f @ lam.T]) + rng.normal(0, 0.3, size=(T, J + 1))
    y[T0:, 0] += 1.0
    units = ["T"] + [f"D{j:02d}" for j in range(J)]
    df = pl.DataFrame({"unit": np.repeat(units, T), "t": np.tile(np.arange(T), J + 1), "y": y.T.ravel()})
    res = fit(df)
    c = res.conformal()
    assert c.ci_lower < 1.0 < c.ci_upper and c.ci_lower > 0.5 and c.ci_upper < 1.5
    assert c.p_value < 0.05 and c.n_periods == T
    with pytest.raises(DesignError, match="smallest p-value"):
        synth.synthetic_control(df.filter(pl.col("t") >= 45), unit="unit", time="t", outcome="y", treated="T",
                                treatment_time=50).conformal()


def test_pooled_scale_counts_shared_donors_once():
    from impact.estimators.synth.interval import ScaledPlacebo, pooled_scale

    z = np.array([1.0, -1.0, 0.5])
    a = ScaledPlacebo(0.0, 1.0, z, 1.0, np.array(["D1", "D2"]), np.array([0.5, 0.5]), np.array([4.0, 2.0]))
    b = ScaledPlacebo(0.0, 1.0, z, 3.0, np.array(["D1"]), np.array([1.0]), np.array([4.0]))
    # own 1 + 3; D1 summed weight 1.5 (var 4), D2 0.5 (var 2): sqrt(4 + 9 + 0.5) / 2
    assert pooled_scale([a, b]) == pytest.approx(np.sqrt(13.5) / 2)
