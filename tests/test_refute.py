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


# ---------------------------------------------------------------------------------------------------------------
# Synthetic-control placebo tests and the report section built from the refuters' numbers
# ---------------------------------------------------------------------------------------------------------------


def _synth_panel(effect: float, seed: int = 5):
    """20 units x 40 periods from a two-factor model; unit 'T' gets ``effect`` from period 30 on."""
    import polars as pl

    rng = np.random.default_rng(seed)
    n, T, t0 = 20, 40, 30
    f = rng.normal(size=(T, 2)).cumsum(0) * 0.3
    lam = rng.uniform(0.5, 1.5, size=(n, 2))
    y = 10 + f @ lam.T + rng.normal(scale=0.15, size=(T, n))
    y[t0:, 0] += effect
    units = ["T"] + [f"D{i:02d}" for i in range(1, n)]
    return pl.DataFrame({"unit": np.repeat(units, T), "time": np.tile(np.arange(T), n), "y": y.T.ravel()}), t0


@pytest.mark.parametrize("effect", [2.0, 0.0])
def test_synth_checks(effect):
    from impact.estimators import synth
    from impact.estimators.refute import synth_checks

    df, t0 = _synth_panel(effect)
    res = synth.synthetic_control(df, unit="unit", time="time", outcome="y", treated="T", treatment_time=t0)
    pl_ = res.placebo(n_jobs=1)
    tab = synth_checks(res, pl_, res.in_time_placebo(t0 - 10), res.leave_one_out(n_jobs=1)).set_index("check")
    space = tab[tab.index.str.startswith("in-space placebo (rank")].iloc[0]
    assert space["refuted"] == pytest.approx(pl_.p_value)  # the row carries the placebo's own p-value
    inter = tab.loc["permutation interval excludes zero"]
    assert inter["estimate"] == pytest.approx(res.att())
    intime = tab[tab.index.str.startswith("in-time placebo")].iloc[0]
    assert intime["passed"]  # no effect before the real treatment in either case
    if effect:
        assert space["passed"] and inter["passed"] and pl_.p_value == pytest.approx(1 / 20)
        assert tab[tab.index.str.startswith("leave one donor out")]["passed"].all()
    else:
        assert not space["passed"] and not inter["passed"]


def test_robustness_section_shows_the_refuters_numbers(observables):
    """The report section's table is made of the refuters' own numbers (formatted), with flags and readings."""
    from types import SimpleNamespace

    from impact.report.render import ReportDoc, fmt_pp, render_html
    from impact.study.sections import robustness_section

    _, r = observables
    info = {"horizon": 12, "outcome": "y", "matching_estimate": r.estimate, "matching_ci": (0.3, 0.7),
            "ipw_estimate": r.estimate, "ipw_se": r.std_error, "reproduced": r.reproduced, "rows": 3000,
            "n_treated": 900, "sensitivity": r.sensitivity, "notes": r.notes}
    run = SimpleNamespace(lang="en", extra={"robustness": [
        dict(analysis="dynamic_matching", title="Training", kind="matching", table=r.table, info=info)]})
    sec = robustness_section(run)
    assert sec.title == "How robust is this?"
    sub = sec.subsections[0]
    tab = sub.tables[0]
    assert [row[0] for row in tab.rows] == r.table["check"].tolist()
    for row, rec in zip(tab.rows, r.table.to_dict("records")):
        assert row[3] == fmt_pp(rec["refuted"]) and row[2] == fmt_pp(rec["estimate"])
        assert row[4] == ("\u2713 passed" if rec["passed"] else "\u2717 failed") and row[5]
    assert len(sub.tables[1].rows) == len(r.sensitivity)
    html = render_html(ReportDoc(lang="en", title="t", question="q", sections=[sec]))
    assert "How robust is this?" in html and "flag-pass" in html
    assert fmt_pp(r.table.loc[0, "refuted"]) in html


def test_did_placebo_in_time_row():
    """The placebo-in-time row passes with parallel pre-trends and fails when treated units drift up before."""
    import polars as pl

    from impact.estimators import did
    from impact.estimators.refute import did_placebo_in_time

    rng = np.random.default_rng(6)
    n, T = 600, 10
    g = np.where(rng.random(n) < 0.5, 7, 0)
    unit, t, gg = np.repeat(np.arange(n), T), np.tile(np.arange(1, T + 1), n), np.repeat(g, T)
    base = rng.normal(size=n).repeat(T)
    for trend, ok in ((0.0, True), (0.5, False)):
        y = base + 0.1 * t + trend * t * (gg > 0) + 1.0 * ((gg > 0) & (t >= gg)) + rng.normal(scale=0.5, size=n * T)
        df = pl.DataFrame({"id": unit, "t": t, "g": gg, "y": y})
        row = did_placebo_in_time(df, unit="id", time="t", group="g", outcome="y", shift=2).iloc[0]
        pr = did.placebo_in_time(df, unit="id", time="t", group="g", outcome="y", shift=2)
        assert row["refuted"] == pytest.approx(pr.overall.estimate) and row["passed"] == pr.covers_zero == ok
