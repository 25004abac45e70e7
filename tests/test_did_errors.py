"""Bad input to the staggered DiD estimator: clear DesignErrors naming the units or cohort."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from impact.errors import DesignError
from impact.estimators import did

DATA = Path(__file__).parent / "data"
KW = dict(unit="countyreal", time="year", group="first.treat", outcome="lemp")


@pytest.fixture(scope="module")
def mpdta() -> pl.DataFrame:
    return pl.read_csv(DATA / "mpdta.csv")


def test_treatment_switching_back(mpdta):
    d = mpdta.with_columns(treated=((pl.col("first.treat") > 0) & (pl.col("year") >= pl.col("first.treat"))).cast(pl.Int8))
    d = d.with_columns(
        treated=pl.when((pl.col("countyreal") == 17015) & (pl.col("year") == 2006)).then(0).otherwise(pl.col("treated"))
    )
    with pytest.raises(DesignError, match=r"switches back from 1 to 0 for 1 units: 17015"):
        did.att_gt(d, unit="countyreal", time="year", treatment="treated", outcome="lemp")


def test_group_changing_within_unit(mpdta):
    d = mpdta.with_columns(
        pl.when((pl.col("countyreal") == 8001) & (pl.col("year") == 2007)).then(0).otherwise(pl.col("first.treat")).alias("first.treat")
    )
    with pytest.raises(DesignError, match=r"first\.treat.*varies within unit.*8001"):
        did.att_gt(d, **KW)


def test_duplicate_unit_time_rows(mpdta):
    d = pl.concat([mpdta, mpdta.filter((pl.col("countyreal") == 8001) & (pl.col("year") == 2005))])
    with pytest.raises(DesignError, match=r"duplicate \(countyreal, year\) rows: 1 unit-periods appear more than once, units 8001"):
        did.att_gt(d, **KW)


def test_cohort_without_pre_period(mpdta):
    d = mpdta.with_columns(
        pl.when(pl.col("countyreal") == 8001).then(2003).otherwise(pl.col("first.treat")).alias("first.treat")
    )
    with pytest.raises(DesignError, match=r"cohort\(s\) first treated at 2003 have no pre-treatment period.*8001"):
        did.att_gt(d, **KW)
    # with one period of anticipation the 2004 cohort has no clean pre-period either
    with pytest.raises(DesignError, match=r"2004 have no pre-treatment period"):
        did.att_gt(mpdta, **KW, anticipation=1)


@pytest.mark.parametrize(
    "expr, match",
    [
        (pl.col("year").cast(pl.Float64) + 0.5, r"time column 'year' must hold integer periods or dates; non-integer values: 2003\.5"),
        (pl.col("year").cast(pl.Utf8) + "Q1", r"time column 'year' must hold integer periods or dates, got dtype String"),
    ],
)
def test_time_not_integer_or_date(mpdta, expr, match):
    with pytest.raises(DesignError, match=match):
        did.att_gt(mpdta.with_columns(expr.alias("year")), **KW)


def test_covariate_varying_within_unit(mpdta):
    d = mpdta.with_columns(
        pl.when(pl.col("countyreal").is_in([8001, 8019]) & (pl.col("year") == 2006)).then(pl.col("lpop") + 1).otherwise(pl.col("lpop")).alias("lpop")
    )
    with pytest.raises(DesignError, match=r"'lpop' varies within unit for 2 units.*time-invariant.*8001, 8019"):
        did.att_gt(d, **KW, covariates=["lpop"])


def test_other_bad_inputs(mpdta):
    with pytest.raises(DesignError, match=r"columns not found.*'nope'"):
        did.att_gt(mpdta, **{**KW, "outcome": "nope"})
    with pytest.raises(DesignError, match="no never-treated units"):
        did.att_gt(mpdta.filter(pl.col("first.treat") > 0), **KW)
    with pytest.raises(DesignError, match="control_group must be one of"):
        did.att_gt(mpdta, **KW, control_group="nevertreated")
    with pytest.raises(DesignError, match="outcome column 'lemp' has 1 missing values for units 8001"):
        did.att_gt(mpdta.with_columns(pl.when((pl.col("countyreal") == 8001) & (pl.col("year") == 2004)).then(None).otherwise(pl.col("lemp")).alias("lemp")), **KW)
    with pytest.raises(DesignError, match="exactly one of group"):
        did.att_gt(mpdta, unit="countyreal", time="year", outcome="lemp")


def test_unbalanced_panel_is_balanced_with_a_note(mpdta):
    d = mpdta.filter(~((pl.col("countyreal") == 8001) & (pl.col("year") == 2005)))
    r = did.att_gt(d, **KW)
    assert r.info["units"] == 499
    assert any("8001" in n and "dropped" in n for n in r.notes)


def test_cells_without_overlap_are_dropped_with_a_note(mpdta):
    # z separates cohort 2004 from every other unit: its propensity model has no overlap
    d = mpdta.with_columns(z=(pl.col("first.treat") == 2004).cast(pl.Float64) + 0.001 * (pl.col("countyreal") % 7))
    r = did.att_gt(d, **KW, covariates=["z"])
    assert 2004 not in set(r.att_gt["group"]) and {2006, 2007} <= set(r.att_gt["group"])
    assert any(n.startswith("cohort 2004, periods 2004, 2005, 2006, 2007: not estimated") and "overlap" in n for n in r.notes)
    assert np.isfinite(r.aggregate("simple").overall.estimate)


def test_time_varying_covariates_at_the_base_period():
    """covariates_at='base_period': each ATT(g, t) uses the covariate's value in its base period (R did).

    Check: every cell equals the estimate with the covariate frozen at that cell's base period."""
    import numpy as np
    import pandas as pd

    from impact.estimators import did

    d = pd.read_csv(Path(__file__).parent / "data" / "mpdta.csv")
    rng = np.random.default_rng(0)
    d["x"] = d["lpop"] + 0.3 * rng.normal(size=len(d))  # varies within county
    with pytest.raises(DesignError, match="covariates_at='base_period'"):
        did.att_gt(d, unit="countyreal", time="year", group="first.treat", outcome="lemp", covariates=["x"])
    r = did.att_gt(d, unit="countyreal", time="year", group="first.treat", outcome="lemp", covariates=["x"],
                   covariates_at="base_period", method="dr")
    assert any("base period" in n for n in r.notes)
    for row in r.att_gt.itertuples():
        frozen = d.merge(d.loc[d.year == row.base_period, ["countyreal", "x"]], on="countyreal", suffixes=("_t", ""))
        one = did.att_gt(frozen, unit="countyreal", time="year", group="first.treat", outcome="lemp",
                         covariates=["x"], method="dr")
        ref = one.att_gt.set_index(["group", "time"]).loc[(row.group, row.time)]
        assert row.att == pytest.approx(ref["att"], abs=1e-10)
        assert row.std_error == pytest.approx(ref["std_error"], abs=1e-10)


def test_sample_se_covers_the_sample_effect():
    """sample_se: against the average effect of the treated units themselves, the population standard
    error is too small when the treated units' own outcome changes hardly vary (in a service: lock-in);
    the sample-ATT standard error is right. 120 two-period panels: sd of the z-scores ~1 with the sample
    s.e., ~1.8 with the population s.e."""
    rng = np.random.default_rng(5)
    z_pop, z_s = [], []
    for _ in range(120):
        n = 600
        x = rng.normal(size=n)
        treat = rng.random(n) < 0.3
        y0 = x + rng.normal(size=n)
        e = rng.normal(size=n)
        dy0 = 0.5 * x + e
        dy1 = 0.5 * x + 1.0  # the treated's own change: no noise (as employment while in a service)
        y1 = y0 + np.where(treat, dy1, dy0)
        satt = float(np.mean((dy1 - dy0)[treat]))
        d = pl.DataFrame({"id": np.tile(np.arange(n), 2), "t": np.repeat([1, 2], n), "x": np.tile(x, 2),
                          "g": np.tile(np.where(treat, 2, 0), 2), "y": np.r_[y0, y1]})
        r = did.att_gt(d, unit="id", time="t", group="g", outcome="y", covariates=["x"], method="reg", sample_se=True)
        row = r.att_gt.iloc[0]
        z_pop.append((row["att"] - satt) / row["std_error"])
        z_s.append((row["att"] - satt) / row["std_error_sample"])
    assert 0.8 < np.std(z_s) < 1.2, np.std(z_s)
    assert np.std(z_pop) > 1.5, np.std(z_pop)
    agg = r.aggregate("dynamic")
    assert "std_error_sample" in agg.estimates and np.isfinite(agg.overall.std_error_sample)


@pytest.mark.parametrize("method", ["dr", "ipw", "reg"])
def test_sample_se_without_covariates_is_the_two_sample_formula_of_the_comparison_changes(method):
    """Without covariates the error against the sample ATT is the treated units' mean counterfactual
    change minus the comparison units' mean change, both drawn from the comparison units' distribution:
    se = s_c * sqrt(1/n_t + 1/n_c) (s_c with ddof=1), whatever the treated units' own changes are."""
    rng = np.random.default_rng(1)
    n, n_t = 50, 15
    treat = np.arange(n) < n_t
    y0 = rng.normal(size=n)
    y1 = y0 + rng.normal(size=n)
    ses = []
    for flat in (False, True):  # the treated units' observed change: noisy, or the same for all
        y1t = np.where(treat, y0 + 0.3, y1) if flat else y1
        d = pl.DataFrame({"id": np.tile(np.arange(n), 2), "t": np.repeat([1, 2], n),
                          "g": np.tile(np.where(treat, 2, 0), 2), "y": np.r_[y0, y1t]})
        r = did.att_gt(d, unit="id", time="t", group="g", outcome="y", method=method, sample_se=True)
        ses.append(float(r.att_gt["std_error_sample"].iloc[0]))
    dyc = (y1 - y0)[~treat]
    assert ses[0] == pytest.approx(dyc.std(ddof=1) * np.sqrt(1 / n_t + 1 / (n - n_t)), rel=1e-10)
    assert ses[1] == pytest.approx(ses[0], rel=1e-10)


@pytest.mark.parametrize("method", ["reg", "dr", "ipw"])
def test_sample_se_covers_the_sample_effect_with_few_comparison_units_per_covariate(method):
    """Event study, lock-in: the treated units' observed outcome is flat for three periods after entry
    while their counterfactual path is a noisy, persistent series; few comparison units per covariate
    (60 for 9 covariates), so that in-sample residuals understate the errors (HC2 corrects it). Against
    the sample's own average effect the z-scores of every event time and of their mean have sd ~1 with
    the sample-ATT standard error (200 panels: MC s.e. of an sd ~0.05; a t with ~50 degrees of freedom
    has sd 1.02); the population one is too small (~1.5) in the flat periods."""
    rng = np.random.default_rng(11)
    n_t, n_c, k, T = 30, 60, 9, 6  # periods 1..6, entry in period 3
    z_s, z_pop = [], []
    for _ in range(200):
        n = n_t + n_c
        X = rng.normal(size=(n, k))
        treat = np.arange(n) < n_t
        shock = np.cumsum(rng.normal(size=(n, T)), axis=1)  # persistent: paths correlated across periods
        y0 = X @ np.full(k, 0.3)[:, None] * np.arange(1, T + 1)[None, :] / T + shock
        y1 = y0.copy()
        y1[treat, 2:] = y0[treat, 1:2] - 1.0  # in the service: the outcome stays at its level before entry, minus 1
        y = np.where(treat[:, None], y1, y0)
        satt = (y1 - y0)[treat][:, 2:].mean(axis=0)
        frame = {"id": np.repeat(np.arange(n), T), "t": np.tile(np.arange(1, T + 1), n),
                 "g": np.repeat(np.where(treat, 3, 0), T), "y": y.ravel()}
        frame.update({f"x{j}": np.repeat(X[:, j], T) for j in range(k)})
        r = did.att_gt(pl.DataFrame(frame), unit="id", time="t", group="g", outcome="y",
                       covariates=[f"x{j}" for j in range(k)], method=method, sample_se=True)
        agg = r.aggregate("dynamic")
        post = agg.estimates[agg.estimates["event_time"] >= 0]
        z_s.append(np.r_[(post["estimate"] - satt) / post["std_error_sample"],
                         (agg.overall.estimate - satt.mean()) / agg.overall.std_error_sample])
        z_pop.append(np.r_[(post["estimate"] - satt) / post["std_error"],
                           (agg.overall.estimate - satt.mean()) / agg.overall.std_error])
    sd_s, sd_pop = np.std(z_s, axis=0, ddof=1), np.std(z_pop, axis=0, ddof=1)
    assert np.all((sd_s > 0.85) & (sd_s < 1.2)), sd_s
    assert np.all(sd_pop > 1.3), sd_pop


@pytest.mark.parametrize("method", ["dr", "ipw", "reg"])
def test_covariate_without_variation_among_the_comparison_units_is_aliased(mpdta, method):
    """As R lm/glm alias a covariate that does not vary in the regression sample: z is 0 for every
    never-treated county, so each cohort is estimated without it, with a note (before: the
    regression was singular in every cohort and no cell was estimated)."""
    d = mpdta.with_columns(z=pl.when(pl.col("first.treat") == 0).then(0.0).otherwise(pl.col("lpop")))
    r = did.att_gt(d, **KW, covariates=["lpop", "z"], method=method)
    ref = did.att_gt(d, **KW, covariates=["lpop"], method=method)
    np.testing.assert_allclose(r.att_gt["att"], ref.att_gt["att"], rtol=1e-10)
    np.testing.assert_allclose(r.att_gt["std_error"], ref.att_gt["std_error"], rtol=1e-10)
    assert sum("covariate(s) z left out" in n for n in r.notes) == 3  # one per cohort
