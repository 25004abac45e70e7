"""The study runner's DiD: the design key of [estimators.did] and the event-window pre-trend test.

The end-to-end check of the default risk-set design against the generator's truth is in
tests/test_study_effects.py (training_effect study); the design itself is verified in
tests/test_did_registers.py.
"""

from __future__ import annotations

import copy

import numpy as np
import polars as pl
import pytest

from impact.errors import ConfigError, DesignError
from impact.study.config import parse_config

from tests.test_study_config import BASE as CONFIG_BASE

BASE = {**{k: v for k, v in CONFIG_BASE.items() if k != "report"},
        "estimators": {"matching": {"k": 5}, "did": {"method": "reg"}}}


def _cfg(did: dict):
    raw = copy.deepcopy(BASE)
    raw["estimators"]["did"] = did
    return parse_config(raw)


def test_risk_set_is_the_default_design_and_spell_time_is_available():
    assert _cfg({}).estimator("did").design == "risk_set"
    c = _cfg({"design": "spell_time", "sample_units": 500})
    assert c.estimator("did").design == "spell_time" and c.estimator("did").sample_units == 500
    c = _cfg({"design": "risk_set", "cohorts": 12, "controls_per_treated": 5})
    assert c.estimator("did").cohorts == 12 and c.outcomes.window_months == (-12, 24)


@pytest.mark.parametrize("did, must_contain", [
    ({"design": "calendar"}, ["estimators.did.design", "'calendar'", "risk_set, spell_time"]),
    # keys that moved: the comparison is comparison.kind, the window outcomes.window_months
    ({"control_group": "never_treated"}, ["estimators.did.control_group", "comparison.kind"]),
    ({"pre_months": 6}, ["estimators.did.pre_months", "outcomes.window_months"]),
    ({"max_event_time": 12}, ["estimators.did.max_event_time", "outcomes.window_months"]),
    ({"sample_units": 500}, ["estimators.did.sample_units", "'spell_time' only"]),
    ({"design": "spell_time", "cohorts": 6}, ["estimators.did.cohorts", "'risk_set' only", "'spell_time'"]),
    ({"controls_per_treated": 0}, ["estimators.did.controls_per_treated", "0"]),
])
def test_did_design_errors_name_the_key(did, must_contain):
    with pytest.raises(ConfigError) as e:
        _cfg(did)
    for s in must_contain:
        assert s in str(e.value), f"{s!r} not in {e.value}"


def test_pretest_over_the_event_window():
    """Treated units drift until g - 3 only: the test over all pre-periods rejects, the one
    over the two months before the start does not (min_e keeps the cells with t - g >= min_e)."""
    from impact.estimators import did
    from impact.estimators.refute import did_checks

    rng = np.random.default_rng(11)
    n, T, g0 = 1000, 10, 8
    g = np.where(rng.random(n) < 0.5, g0, 0)
    t = np.tile(np.arange(1, T + 1), n)
    gg = np.repeat(g, T)
    drift = 0.3 * np.minimum(t, g0 - 3) * (gg > 0)  # rises until g - 3, flat from there
    y = rng.normal(size=n).repeat(T) + 0.1 * t + drift + 0.5 * ((gg > 0) & (t >= gg)) + rng.normal(scale=0.5, size=n * T)
    res = did.att_gt(pl.DataFrame({"id": np.repeat(np.arange(n), T), "t": t, "g": gg, "y": y}),
                     unit="id", time="t", group="g", outcome="y", method="reg")
    full, win = res.pretest(), res.pretest(min_e=-2)
    assert full.df == g0 - 2 and win.df == 2  # varying base: pre cells t = 2 .. g - 1
    assert full.p_value < 1e-6 and win.p_value > 0.01
    rows = did_checks(res, min_e=-2)
    assert bool(rows["passed"].iloc[0]) and "e = -2..-1" in rows["check"].iloc[0]
    assert not bool(did_checks(res)["passed"].iloc[0]) and rows["refuted"].iloc[0] == pytest.approx(win.statistic)


def test_risk_set_comparisons_sampled_within_elapsed_bands():
    """elapsed_bands: every comparison person of a cohort has the months since the spell start
    of some entrant of that cohort and area (here exact months), at most controls_per_treated
    per entrant; without it the comparison set mixes other durations."""
    import datetime as dt

    from impact.designs.did_panels import risk_set_panel
    from impact.months import month_index

    g = month_index(dt.date(2020, 7, 1))
    n = 80
    el = np.r_[[1, 1, 5, 5], np.arange(n - 4) % 10 + 1]  # months since the spell started, at g
    starts = [dt.date(2020, 7, 1) - dt.timedelta(days=31 * int(k) - 15) for k in el]
    starts = [dt.date(s.year, s.month, 1) for s in starts]
    persons = pl.DataFrame({"person_id": np.arange(n), "birth_year": 1980, "sex": "F", "education": "basic",
                            "language": "fi", "employment_area": "EA01"})
    js = pl.DataFrame({"person_id": np.arange(n), "start_date": starts, "end_date": [None] * n, "segment": "01"},
                      schema_overrides={"end_date": pl.Date})
    sv = pl.DataFrame({"person_id": [0, 1, 2, 3], "service_id": [1, 2, 3, 4], "service_type": "training",
                       "start_date": dt.date(2020, 7, 10)})
    panel = pl.DataFrame({"person_id": np.arange(n), "month": g - 20, "employed": True, "earnings_eur": 2000.0})
    panel = pl.concat([panel, panel.with_columns(month=pl.lit(g + 6))])
    kw = dict(service_type="training", cohorts=(g, g), pre=3, post=2, controls_per_treated=2, seed=0)
    d = risk_set_panel(panel, sv, js, persons, elapsed_bands=tuple(range(1, 14)), **kw)
    u = d.select("unit", "cohort", "elapsed_months").unique()
    treated, comp = u.filter(pl.col("cohort") > 0), u.filter(pl.col("cohort") == 0)
    assert sorted(treated["elapsed_months"].to_list()) == [1, 1, 5, 5]  # the design measures what was generated
    assert comp.height == 8 and comp.group_by("elapsed_months").len().sort("elapsed_months").rows() == [(1, 4), (5, 4)]
    free = risk_set_panel(panel, sv, js, persons, **kw).select("unit", "cohort", "elapsed_months").unique()
    assert free.filter(pl.col("cohort") == 0).height == 8
    assert not free.filter(pl.col("cohort") == 0)["elapsed_months"].is_in([1, 5]).all()
    with pytest.raises(DesignError, match="elapsed_bands needs controls_per_treated"):
        risk_set_panel(panel, sv, js, persons, elapsed_bands=(1, 2), **{**kw, "controls_per_treated": None})
