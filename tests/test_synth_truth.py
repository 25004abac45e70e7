"""Synthetic control against a known truth: staggered area-level reforms.

Two sources of truth:
* the project's synthetic registers (``impact.simulate``, scenarios ``area_reform`` and
  ``area_reform_null``, 80,000 persons): area x month employment rates with reforms in 15 of
  45 employment areas at three dates (effect ramping to +3 pp, or zero); the truth is
  ``truth/area_month.parquet`` (employed with and without the reform); marked slow (the
  generator runs twice);
* a self-contained linear factor model (area x month, known effect path), which isolates the
  estimator from the generator.
In both: the estimated event-time effect path lies within the placebo band around the
truth, and the pooled placebo p-value is small with an effect and large without.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from impact.estimators import synth


# --------------------------------------------------------------------------- factor model
def factor_panel(effect: float, seed: int = 7, n_units: int = 40, T: int = 60) -> tuple[pl.DataFrame, dict, np.ndarray]:
    """Area x month outcomes ``y = mu_i + lambda_i' f_t + eps`` with a staggered effect ramp.

    The treated areas' loadings are averages of three untreated areas' (a synthetic control
    exists in the population); noise sd 0.5.

    Treated areas 0..8 adopt at months 36, 42, 48 (three cohorts of three); the effect is
    ``effect * min(1, (e + 1) / 6)`` at event time ``e >= 0``. Returns (panel, T0 by unit,
    the true effect matrix (T x n)).
    """
    rng = np.random.default_rng(seed)
    f = np.cumsum(rng.normal(0, 0.6, size=(T, 3)), axis=0) + np.sin(np.arange(T)[:, None] / 6.0 + np.arange(3))
    lam = rng.uniform(0.2, 1.5, size=(n_units, 3))
    mu = rng.normal(50, 3, size=n_units)
    for i in range(9):  # treated areas resemble a few untreated ones (inside the donors' hull)
        pick = rng.choice(np.arange(9, n_units), size=3, replace=False)
        lam[i], mu[i] = lam[pick].mean(axis=0), mu[pick].mean()
    y = mu[None, :] + f @ lam.T + rng.normal(0, 0.5, size=(T, n_units))
    t0 = {f"A{i:02d}": 36 + 6 * (i // 3) for i in range(9)}
    tau = np.zeros((T, n_units))
    for i in range(9):
        e = np.arange(T) - t0[f"A{i:02d}"]
        tau[:, i] = np.where(e >= 0, effect * np.minimum(1.0, (e + 1) / 6.0), 0.0)
    y = y + tau
    units = [f"A{i:02d}" for i in range(n_units)]
    df = pl.DataFrame({"area": np.repeat(units, T), "month": np.tile(np.arange(T), n_units),
                       "rate": y.T.ravel()})
    return df, t0, tau


def _true_event_path(tau: np.ndarray, t0: dict) -> dict:
    out: dict[int, list] = {}
    for i, (u, s) in enumerate(t0.items()):
        for t in range(s, tau.shape[0]):
            out.setdefault(t - s, []).append(tau[t, i])
    return {e: float(np.mean(v)) for e, v in out.items()}


@pytest.fixture(scope="module", params=[3.0, 0.0], ids=["effect", "null"])
def factor_fit(request):
    df, t0, tau = factor_panel(request.param)
    res = synth.synthetic_control(df, unit="area", time="month", outcome="rate", treated=list(t0),
                                  treatment_time=t0)
    pr = res.placebo(n_jobs=2, n_draws=2000, level=0.95)
    return request.param, res, pr, _true_event_path(tau, t0)


def test_factor_model_effect_path_within_placebo_band(factor_fit):
    effect, res, pr, truth = factor_fit
    band = pr.band.set_index("event_time")
    est = res.att_event.set_index("event_time")["estimate"]
    post = [e for e in est.index if e >= 0]
    dev = np.array([est[e] - truth[e] for e in post])
    inside = (dev >= band.loc[post, "lower"].to_numpy()) & (dev <= band.loc[post, "upper"].to_numpy())
    assert inside.mean() >= 0.9, dev
    assert abs(res.att() - np.mean([truth[e] for e in post])) < 0.5 + 0.1 * effect


def test_factor_model_p_value(factor_fit):
    effect, res, pr, _ = factor_fit
    if effect > 0:
        assert pr.p_value < 0.05
        assert res.att(6) == pytest.approx(effect, abs=0.6)
    else:
        assert pr.p_value > 0.2
    est = res.estimates
    assert est.loc[est["estimand"] == "ATT", "p_value"].iloc[0] == pytest.approx(pr.p_value)
    assert set(res.att_event["event_time"]) >= set(range(0, 12))
    from impact import plots

    fig = plots.event_band(res.att_event, res.placebo_results.band if res.placebo_results is not None else None)
    assert fig.axes


# --------------------------------------------------------------------------- synthetic registers
# 80,000 persons: areas of ~110-23,000 persons; a 3 pp effect is then clearly detectable
REGISTER_PERSONS = 80_000


def area_month_panel(truth_dir) -> tuple[pl.DataFrame, dict, dict]:
    """Area x month employment rate (realised), reform dates, true effect by event time."""
    a = pl.read_parquet(truth_dir / "area_month.parquet").with_columns(
        (pl.col("employed_with") / pl.col("persons")).alias("employment_rate"))
    treated = a.filter(pl.col("reform_start_month").is_not_null())
    t0 = dict(treated.group_by("employment_area").agg(pl.col("reform_start_month").first()).iter_rows())
    truth = (treated.with_columns((pl.col("month") - pl.col("reform_start_month")).alias("e"))
             .filter(pl.col("e") >= 0).group_by("e").agg(pl.col("effect_rate").mean()).sort("e"))
    return a.select("employment_area", "month", "employment_rate"), t0, dict(truth.iter_rows())


@pytest.fixture(scope="module", params=["area_reform", "area_reform_null"])
def register_fit(request, tmp_path_factory):
    from impact.simulate.generate import simulate

    tmp = tmp_path_factory.mktemp(request.param)
    simulate(request.param, persons=REGISTER_PERSONS, seed=3, out=tmp / "data", workers=2)
    panel, t0, truth = area_month_panel(tmp / "data" / "truth")
    res = synth.synthetic_control(panel, unit="employment_area", time="month", outcome="employment_rate",
                                  treated=sorted(t0), treatment_time=t0)
    pr = res.placebo(n_jobs=2, n_draws=2000, level=0.95)
    return request.param, res, pr, truth


@pytest.mark.slow
def test_registers_effect_path_within_placebo_band(register_fit):
    kind, res, pr, truth = register_fit
    band = pr.band.set_index("event_time")
    est = res.att_event.set_index("event_time")["estimate"]
    post = [e for e in est.index if e >= 0 and e in truth]
    dev = np.array([est[e] - truth[e] for e in post])
    inside = (dev >= band.loc[post, "lower"].to_numpy()) & (dev <= band.loc[post, "upper"].to_numpy())
    assert inside.mean() >= 0.9


@pytest.mark.slow
def test_registers_p_value(register_fit):
    kind, res, pr, truth = register_fit
    if kind == "area_reform":  # effect ramping to +3 pp
        assert pr.p_value < 0.05
        assert 0.015 < res.att() < 0.045
    else:
        assert pr.p_value > 0.2
        assert max(abs(v) for v in truth.values()) == 0.0
