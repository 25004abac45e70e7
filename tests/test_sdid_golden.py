"""Golden tests of synthetic difference-in-differences against R synthdid (0.0.9).

* California Proposition 99 (tests/data/sdid_prop99.json, from sdid_prop99.R): the paper's Table 1,
  SDID -15.6 (8.4), SC -19.6 (9.9), DID -27.3 (17.7), placebo standard errors with
  ``set.seed(12345)``; unit and time weights.
* A factor-model panel with five treated units (sdid_panel.json, from sdid_panel.R): jackknife,
  bootstrap and placebo standard errors of all three estimators; staggered adoption as the
  average of R's per-cohort estimates weighted by treated unit-periods.
With ``rng="R"`` the replications use R's draws, so the standard errors equal R's to rounding.
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
P99 = json.loads((DATA / "sdid_prop99.json").read_text())
PANEL = json.loads((DATA / "sdid_panel.json").read_text())


@pytest.fixture(scope="module")
def smoking() -> pl.DataFrame:
    return pl.read_csv(DATA / "smoking.csv")


@pytest.fixture(scope="module")
def prop99(smoking):
    return synth.synthetic_did(smoking, unit="state", time="year", outcome="cigsale", treated="California",
                               treatment_time=1989, se="placebo", seed=12345, rng="R")


def test_prop99_table1(prop99):
    comp = prop99.comparison.set_index("estimator")
    for key, name in (("sdid", "synthetic DiD"), ("sc", "synthetic control"), ("did", "DiD")):
        assert comp.loc[name, "estimate"] == pytest.approx(P99[key]["estimate"], abs=1e-9)
        assert comp.loc[name, "std_error"] == pytest.approx(P99[key]["se_placebo"], abs=1e-8)
    # the paper's Table 1, as printed
    assert [f"{comp.loc[n, 'estimate']:.1f}" for n in ("synthetic DiD", "synthetic control", "DiD")] == \
        ["-15.6", "-19.6", "-27.3"]
    assert [f"{comp.loc[n, 'std_error']:.1f}" for n in ("synthetic DiD", "synthetic control", "DiD")] == \
        ["8.4", "9.9", "17.7"]
    assert prop99.estimate == comp.loc["synthetic DiD", "estimate"]
    assert prop99.sc_estimate == comp.loc["synthetic control", "estimate"]
    assert prop99.did_estimate == comp.loc["DiD", "estimate"]
    # synthdid's vignette: "95% CI (-32.00, 0.80)"
    ci = prop99.conf_int().iloc[0]
    assert (f"{ci['lower']:.2f}", f"{ci['upper']:.2f}") == ("-32.00", "0.80")


def test_prop99_weights(prop99):
    assert list(prop99.unit_weights.index) == P99["units"][:P99["N0"]]
    np.testing.assert_allclose(prop99.unit_weights.to_numpy(), P99["sdid"]["omega"], atol=1e-10)
    np.testing.assert_allclose(prop99.time_weights.to_numpy(), P99["sdid"]["lambda"], atol=1e-10)
    np.testing.assert_allclose(prop99._fits["sc"][0].omega, P99["sc"]["omega"], atol=1e-10)
    assert prop99.time_weights.index[-1] == 1988 and prop99.unit_weights.sum() == pytest.approx(1.0)
    d = prop99.diagnostics
    assert d["n_units_positive"] == int((np.array(P99["sdid"]["omega"]) > 0).sum())
    assert d["n_periods_positive"] == 3


def test_prop99_plot_data(prop99):
    tr = prop99.trends()
    assert len(tr) == 31 and tr["post"].sum() == 12
    assert tr.loc[~tr["post"], "time_weight"].sum() == pytest.approx(1.0)
    # the estimate is the post-period gap to the shifted control, averaged
    post = tr[tr["post"]]
    assert (post["treated"] - post["control_shifted"]).mean() == pytest.approx(prop99.estimate, abs=1e-9)
    uc = prop99.unit_contributions()
    assert (uc["estimate"] * uc["weight"]).sum() == pytest.approx(prop99.estimate, abs=1e-9)


def test_numpy_draws_close_to_r(smoking):
    res = synth.synthetic_did(smoking, "state", "year", "cigsale", "California", 1989, se="placebo", seed=1,
                              comparison_se=False)
    # 200 placebo draws: the Monte Carlo spread is large (R's draws with seeds 1-6 give 8.9-10.1; the
    # published seed 12345 gives 8.37), so numpy's draws agree only in size
    assert res.std_error == pytest.approx(P99["sdid"]["se_placebo"], rel=0.35)
    assert np.isnan(res.comparison.iloc[1]["std_error"])


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    return pl.read_csv(DATA / "sdid_panel.csv")


@pytest.mark.parametrize("se", ["jackknife", "bootstrap", "placebo"])
def test_several_treated_standard_errors(panel, se):
    d = panel.filter(pl.col("cohort").is_in([0, 17]))
    treated = sorted(d.filter(pl.col("cohort") == 17)["unit"].unique().to_list())
    res = synth.synthetic_did(d, "unit", "period", "y", treated, 17, se=se, replications=100, seed=7, rng="R")
    comp = res.comparison.set_index("estimator")
    for key, name in (("sdid", "synthetic DiD"), ("sc", "synthetic control"), ("did", "DiD")):
        assert comp.loc[name, "estimate"] == pytest.approx(PANEL[key]["estimate"], abs=1e-9)
        assert comp.loc[name, "std_error"] == pytest.approx(PANEL[key][f"se_{se}"], abs=1e-9), name


def test_staggered_adoption(panel):
    treated = sorted(panel.filter(pl.col("cohort") > 0)["unit"].unique().to_list())
    coh = dict(panel.filter(pl.col("cohort") > 0).select("unit", "cohort").unique().iter_rows())
    res = synth.synthetic_did(panel, "unit", "period", "y", treated, coh, se="jackknife")
    c = res.cohorts.set_index("cohort")
    for g in (17, 20):
        r = PANEL[f"cohort_{g}"]
        assert c.loc[g, "estimate"] == pytest.approx(r["estimate"], abs=1e-9)
        assert (c.loc[g, "n_treated"], c.loc[g, "n_post"]) == (r["n_treated"], r["n_post"])
    w = np.array([PANEL[f"cohort_{g}"]["n_treated"] * PANEL[f"cohort_{g}"]["n_post"] for g in (17, 20)], dtype=float)
    want = w @ [PANEL["cohort_17"]["estimate"], PANEL["cohort_20"]["estimate"]] / w.sum()
    assert res.estimate == pytest.approx(want, abs=1e-9)
    assert res.std_error > 0 and res.cohorts["weight"].sum() == pytest.approx(1.0)
    pl_res = synth.synthetic_did(panel, "unit", "period", "y", treated, coh, se="placebo", replications=30,
                                 comparison_se=False)
    assert pl_res.std_error > 0 and len(pl_res.replications) == 30


def test_bad_input(smoking, panel):
    with pytest.raises(DesignError, match="at least two treated units"):
        synth.synthetic_did(smoking, "state", "year", "cigsale", "California", 1989, se="bootstrap")
    with pytest.raises(DesignError, match="two treated units in every adoption cohort"):
        synth.synthetic_did(smoking, "state", "year", "cigsale", "California", 1989, se="jackknife",
                            comparison_se=False)
    with pytest.raises(DesignError, match="unit 'Utah' has no row for period 1975"):
        synth.synthetic_did(smoking.filter(~((pl.col("state") == "Utah") & (pl.col("year") == 1975))),
                            "state", "year", "cigsale", "California", 1989)
    with pytest.raises(DesignError, match="treated unit 'Atlantis'"):
        synth.synthetic_did(smoking, "state", "year", "cigsale", "Atlantis", 1989)
    with pytest.raises(DesignError, match="treatment time 2030"):
        synth.synthetic_did(smoking, "state", "year", "cigsale", "California", 2030)
    with pytest.raises(DesignError, match="se must be one of"):
        synth.synthetic_did(smoking, "state", "year", "cigsale", "California", 1989, se="wild")
