"""Refutation with dowhy: dowhy reproduces the toolkit's weighting ATT, the placebo treatment
gives ~0, a random common cause leaves the estimate in its interval, and the sensitivity
analysis flags an estimate produced by an unobserved confounder as fragile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from impact.errors import DesignError
from impact.estimators import matching
from impact.estimators.refute import refute_ipw


def draw(n: int, tau: float, conf_u: float, seed: int) -> pd.DataFrame:
    """Selection on x1, x2 and (with conf_u > 0) an unobserved u that also raises the outcome."""
    rng = np.random.default_rng(seed)
    x1, x2, u = rng.normal(size=(3, n))
    d = rng.random(n) < 1 / (1 + np.exp(-(-1 + 0.7 * x1 - 0.4 * x2 + conf_u * u)))
    y = 1 + x1 + 0.5 * x2 + conf_u * u + tau * d + rng.normal(size=n)
    return pd.DataFrame({"d": d.astype(int), "y": y, "x1": x1, "x2": x2})


@pytest.fixture(scope="module")
def observables():
    df = draw(3000, 0.5, 0.0, 1)
    return df, refute_ipw(df, "d", "y", ["x1", "x2"], n_simulations=8)


def test_dowhy_reproduces_the_toolkit_estimate(observables):
    df, r = observables
    tk = matching.ipw(df, "d", "y", ["x1", "x2"]).estimates["estimate"].iloc[0]
    assert r.reproduced == pytest.approx(tk, abs=1e-9) and r.estimate == pytest.approx(tk, abs=1e-12)
    assert abs(r.estimate - 0.5) < 2.5 * r.std_error  # and the estimate is right


def test_refuters_on_a_valid_design(observables):
    _, r = observables
    t = r.table.set_index("check")
    assert abs(t.loc["placebo treatment (permuted)", "refuted"]) < 2 * r.std_error
    assert abs(t.loc["random common cause", "refuted"] - r.estimate) < 1.96 * r.std_error
    assert abs(t.loc["data subset (80%)", "refuted"] - r.estimate) < 1.96 * r.std_error
    assert t["passed"].all(), r.table
    # the sensitivity grid moves the estimate towards zero as the hidden confounder grows
    assert r.sensitivity["estimate"].is_monotonic_decreasing


def test_unobserved_confounder_is_flagged_fragile():
    df = draw(3000, 0.0, 0.3, 2)  # no effect; a hidden u makes one appear
    r = refute_ipw(df, "d", "y", ["x1", "x2"], n_simulations=4)
    assert r.estimate - 1.96 * r.std_error > 0  # a spurious 'significant' effect
    t = r.table.set_index("check")
    assert not t.loc["unobserved common cause", "passed"], r.sensitivity
    assert t.loc["placebo treatment (permuted)", "passed"]  # the placebo cannot see it


def test_bad_input():
    with pytest.raises(DesignError, match="lacks columns"):
        refute_ipw(draw(200, 0.5, 0.0, 3), "d", "y", ["x1", "nope"])


def test_did_pretrend_row():
    import polars as pl

    from impact.estimators import did
    from impact.estimators.refute import did_checks

    rng = np.random.default_rng(4)
    n, T = 400, 8
    g = np.where(rng.random(n) < 0.5, 5, 0)
    unit = np.repeat(np.arange(n), T)
    t = np.tile(np.arange(1, T + 1), n)
    gg = np.repeat(g, T)
    base = rng.normal(size=n).repeat(T)
    for trend, ok in ((0.0, True), (0.4, False)):  # trend: treated units drift up before the reform
        y = base + 0.1 * t + trend * t * (gg > 0) + 1.0 * ((gg > 0) & (t >= gg)) + rng.normal(scale=0.5, size=n * T)
        df = pl.DataFrame({"id": unit, "t": t, "g": gg, "y": y})
        row = did_checks(did.att_gt(df, unit="id", time="t", group="g", outcome="y")).iloc[0]
        assert row["passed"] == ok, row.to_dict()
