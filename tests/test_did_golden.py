"""Golden tests of the staggered DiD estimator on mpdta (Callaway and Sant'Anna 2021).

Reference values: R `did` 2.5 as quoted in issue 5 (no covariates and doubly robust with
lpop, never-treated controls); the other configurations against csdid (a port of R `did`),
stored in tests/data/did_peer_values.json by benchmarks/did_peer_reference.py.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from impact.estimators import did
from impact.estimators.did._twoperiod import ipt_fit, panel_2x2, rcs_2x2

DATA = Path(__file__).parent / "data"
KW = dict(unit="countyreal", time="year", group="first.treat", outcome="lemp")


@pytest.fixture(scope="module")
def mpdta() -> pl.DataFrame:
    return pl.read_csv(DATA / "mpdta.csv")


@pytest.fixture(scope="module")
def nocov(mpdta):
    return did.att_gt(mpdta, **KW)


@pytest.fixture(scope="module")
def dr_lpop(mpdta):
    return did.att_gt(mpdta, **KW, covariates=["lpop"], method="dr")


def cell(res, g, t, col="att"):
    tab = res.att_gt
    return float(tab.loc[(tab["group"] == g) & (tab["time"] == t), col].iloc[0])


def test_no_covariates_never_treated(nocov):
    assert cell(nocov, 2004, 2004) == pytest.approx(-0.0105032462, abs=1e-6)
    assert cell(nocov, 2004, 2004, "std_error") == pytest.approx(0.0232510364, abs=1e-6)
    assert cell(nocov, 2004, 2006) == pytest.approx(-0.1372587389, abs=1e-6)
    assert cell(nocov, 2007, 2004) == pytest.approx(0.0305066556, abs=1e-6)
    expected = {
        "simple": (-0.0399512752, 0.0120340128),
        "group": (-0.0310182822, 0.0124460593),
        "dynamic": (-0.0772398215, 0.0199649891),
        "calendar": (-0.0417004321, 0.0159718519),
    }
    for kind, (est, se) in expected.items():
        o = nocov.aggregate(kind).overall
        assert o.estimate == pytest.approx(est, abs=1e-6), kind
        assert o.std_error == pytest.approx(se, abs=1e-6), kind
    dyn = nocov.aggregate("dynamic").estimates
    assert float(dyn.loc[dyn["event_time"] == 2, "estimate"].iloc[0]) == pytest.approx(-0.1372587389, abs=1e-6)
    pt = nocov.pretest()
    assert pt.p_value == pytest.approx(0.16812, abs=5e-6)
    assert pt.df == 5


def test_doubly_robust_lpop(dr_lpop):
    assert cell(dr_lpop, 2004, 2004) == pytest.approx(-0.0145296683, abs=1e-6)
    assert cell(dr_lpop, 2004, 2004, "std_error") == pytest.approx(0.0221291572, abs=1e-6)
    s = dr_lpop.aggregate("simple").overall
    assert (s.estimate, s.std_error) == pytest.approx((-0.0417517721, 0.0115028382), abs=1e-6)
    d = dr_lpop.aggregate("dynamic").overall
    assert (d.estimate, d.std_error) == pytest.approx((-0.0803539497, 0.0189575572), abs=1e-6)
    assert dr_lpop.pretest().p_value == pytest.approx(0.23267, abs=5e-6)


def test_multiplier_bootstrap(nocov, dr_lpop):
    for res in (nocov, dr_lpop):
        for kind in ("simple", "dynamic", "group"):
            a = res.aggregate(kind)
            b = res.aggregate(kind, bootstrap=True, n_boot=999, seed=20240501)
            assert b.overall.std_error == pytest.approx(a.overall.std_error, rel=0.15)
            np.testing.assert_allclose(b.estimates["std_error"], a.estimates["std_error"], rtol=0.15)
    dyn = nocov.aggregate("dynamic", bootstrap=True, n_boot=999, seed=7)
    assert 2.3 < dyn.crit_uniform < 2.9
    assert (dyn.estimates["band_upper"] - dyn.estimates["band_lower"] > dyn.estimates["ci_upper"] - dyn.estimates["ci_lower"]).all()
    # the same bootstrap on the cells gives a simultaneous band over ATT(g,t)
    cells = did.att_gt(pl.read_csv(DATA / "mpdta.csv"), **KW, bootstrap=True, seed=3)
    assert cells.crit_uniform > 1.96
    np.testing.assert_allclose(cells.att_gt["std_error"], nocov.att_gt["std_error"], rtol=0.15)


PEERS = json.loads((DATA / "did_peer_values.json").read_text())


def _variant(mpdta: pl.DataFrame, name: str) -> pl.DataFrame:
    if name == "full":
        return mpdta
    if name == "weighted":
        return mpdta.with_columns(wt=1.0 + pl.col("countyreal") % 3)
    if name == "no2004":
        return mpdta.filter(pl.col("first.treat") != 2004)
    if name == "rcs":
        return mpdta.with_row_index("rid")
    if name == "unbalanced":  # the rows dropped by benchmarks/did_peer_reference.py
        drop = np.random.default_rng(5).choice(mpdta.height, size=250, replace=False)
        keep = np.ones(mpdta.height, dtype=bool)
        keep[drop] = False
        return mpdta.filter(pl.Series(keep))
    raise KeyError(name)


@pytest.mark.parametrize("name", sorted(PEERS["configs"]))
def test_against_csdid(mpdta, name):
    c = PEERS["configs"][name]
    kw, fit = c["att_gt_kwargs"], c["fit"]
    panel = kw.get("panel", True)
    res = did.att_gt(
        _variant(mpdta, c["variant"]),
        unit="countyreal" if panel else None, time="year", group="first.treat", outcome="lemp",
        control_group="not_yet_treated" if kw["control_group"][0] == "notyettreated" else "never_treated",
        covariates=["lpop"] if kw.get("xformla") else None, method=fit["est_method"],
        base_period=fit.get("base_period", "varying"), anticipation=kw.get("anticipation", 0),
        weights=kw.get("weights_name"), panel=panel, allow_unbalanced_panel=kw.get("allow_unbalanced_panel", False),
    )
    tab = res.att_gt
    assert tab["group"].tolist() == c["att_gt"]["group"]
    assert tab["time"].tolist() == c["att_gt"]["time"]
    np.testing.assert_allclose(tab["att"], c["att_gt"]["att"], atol=1e-8)
    se_ref = np.array([np.nan if s is None else s for s in c["att_gt"]["se"]])
    np.testing.assert_allclose(tab["std_error"], se_ref, atol=1e-8)
    for kind, ref in c["aggregate"].items():
        agg = res.aggregate(kind)
        assert agg.overall.estimate == pytest.approx(ref["overall_att"], abs=1e-8), kind
        assert agg.overall.std_error == pytest.approx(ref["overall_se"], abs=1e-8), kind
        if kind != "simple":
            np.testing.assert_allclose(agg.estimates["estimate"], ref["att_egt"], atol=1e-8)


def _finite_difference_if(fun, w, idx, n):
    base = fun(w)
    out = []
    for i in idx:
        w2 = w.copy()
        w2[i] += 1e-6
        out.append((fun(w2) - base) / 1e-6 * n)
    return np.array(out)


@pytest.mark.parametrize("method", ["dr", "ipw", "reg", "dr_improved"])
def test_panel_influence_function_is_the_derivative(mpdta, method):
    """The influence function equals the derivative of the estimate in the weight of each unit."""
    d = mpdta.filter(pl.col("first.treat").is_in([0, 2006])).sort("countyreal", "year").to_pandas()
    wide = d.pivot(index="countyreal", columns="year", values="lemp")
    first = d.groupby("countyreal").first()
    dY = (wide[2006] - wide[2005]).to_numpy()[:, None]
    D = (first["first.treat"] == 2006).to_numpy().astype(float)
    X = np.column_stack([np.ones(len(D)), first["lpop"].to_numpy()])
    w = np.ones(len(D))
    att, inf = panel_2x2(dY, D, w, X, method)
    idx = [0, 3, 17, 100, 200, len(D) - 1]
    num = _finite_difference_if(lambda ww: panel_2x2(dY, D, ww, X, method)[0][0], w, idx, len(D))
    np.testing.assert_allclose(inf[idx, 0], num, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", ["dr", "ipw", "reg"])
def test_rcs_influence_function_is_the_derivative(mpdta, method):
    d = mpdta.filter(pl.col("year").is_in([2003, 2004]) & pl.col("first.treat").is_in([0, 2004])).to_pandas()
    y = d["lemp"].to_numpy()
    post = (d["year"] == 2004).to_numpy().astype(float)
    D = (d["first.treat"] == 2004).to_numpy().astype(float)
    X = np.column_stack([np.ones(len(y)), d["lpop"].to_numpy()])
    w = np.ones(len(y))
    att, inf = rcs_2x2(y, post, D, w, X, method)
    idx = [0, 5, 50, 300, 600, len(y) - 1]
    num = _finite_difference_if(lambda ww: rcs_2x2(y, post, D, ww, X, method)[0], w, idx, len(y))
    np.testing.assert_allclose(inf[idx], num, rtol=1e-4, atol=1e-6)


def test_improved_dr_balances_covariates(mpdta):
    first = mpdta.group_by("countyreal").first().filter(pl.col("first.treat").is_in([0, 2007]))
    D = (first["first.treat"] == 2007).to_numpy().astype(float)
    X = np.column_stack([np.ones(len(D)), first["lpop"].to_numpy()])
    w = np.ones(len(D))
    ps = ipt_fit(X, D, w)
    odds = ps / (1 - ps)
    # exact balance: odds-weighted comparison units reproduce the treated covariate totals
    np.testing.assert_allclose(X.T @ (w * (1 - D) * odds), X.T @ (w * D), rtol=1e-9)


def test_improved_dr_on_mpdta(mpdta, nocov, dr_lpop):
    imp = did.att_gt(mpdta, **KW, covariates=["lpop"], method="dr_improved")
    ref = PEERS["differences_dr_ipt_lpop"]  # differences' "dr-ipt" (Sant'Anna-Zhao improved DR)
    tab = imp.att_gt.set_index(["group", "time"]).loc[list(zip(ref["group"], ref["time"]))]
    np.testing.assert_allclose(tab["att"], ref["att"], atol=1e-6)
    np.testing.assert_allclose(tab["std_error"], ref["se"], atol=1e-6)
    # same estimand, consistent under the same models: close to the traditional DR on this data
    np.testing.assert_allclose(imp.att_gt["att"], dr_lpop.att_gt["att"], atol=5e-3)
    # without covariates every method is the unconditional DiD
    for m in ("dr_improved", "ipw", "reg"):
        r = did.att_gt(mpdta, **KW, method=m)
        np.testing.assert_allclose(r.att_gt["att"], nocov.att_gt["att"], atol=1e-12)
        np.testing.assert_allclose(r.att_gt["std_error"], nocov.att_gt["std_error"], atol=1e-12)


def test_treatment_indicator_and_dates_and_pandas_give_the_same(mpdta, nocov):
    d = mpdta.with_columns(treated=((pl.col("first.treat") > 0) & (pl.col("year") >= pl.col("first.treat"))).cast(pl.Int8))
    r = did.att_gt(d, unit="countyreal", time="year", treatment="treated", outcome="lemp")
    np.testing.assert_allclose(r.att_gt["att"], nocov.att_gt["att"], atol=1e-12)
    # yearly periods given as dates are counted in months: same cells, times in months
    dd = mpdta.with_columns(
        date=pl.date(pl.col("year"), 1, 1),
        gdate=pl.when(pl.col("first.treat") > 0).then(pl.date(pl.col("first.treat"), 1, 1)),
    )
    rd = did.att_gt(dd.to_pandas(), unit="countyreal", time="date", group="gdate", outcome="lemp")
    np.testing.assert_allclose(rd.att_gt["att"], nocov.att_gt["att"], atol=1e-12)
    assert rd.att_gt["time"].iloc[0] == dt.date(2004, 1, 1).year * 12
    assert rd.aggregate("simple").overall.estimate == pytest.approx(nocov.aggregate("simple").overall.estimate, abs=1e-12)


def test_cluster_robust_standard_errors(mpdta, nocov, monkeypatch):
    d = mpdta.with_columns(state=pl.col("countyreal") // 1000)
    r = did.att_gt(d, **KW, cluster="state")
    np.testing.assert_allclose(r.att_gt["att"], nocov.att_gt["att"], atol=1e-12)
    state = (mpdta.group_by("countyreal").first().sort("countyreal")["countyreal"] // 1000).to_numpy()
    psi = nocov.psi
    sums = pd.DataFrame(psi).groupby(state).sum().to_numpy()
    np.testing.assert_allclose(r.att_gt["std_error"], np.sqrt((sums**2).sum(0)) / psi.shape[0], rtol=1e-10)
    # the cluster sums formed a few columns at a time (as for a national stacked DiD's thousands of cells)
    # give the same standard errors to the last bit
    from impact.estimators import inference

    monkeypatch.setattr(inference, "_SE_BLOCK_BYTES", 8 * len(np.unique(state)) * 2)
    r_b = did.att_gt(d, **KW, cluster="state")
    np.testing.assert_array_equal(r_b.att_gt["std_error"], r.att_gt["std_error"])
    # clustering on the unit itself is the default
    r_u = did.att_gt(mpdta, **KW, cluster="countyreal")
    np.testing.assert_allclose(r_u.att_gt["std_error"], nocov.att_gt["std_error"], rtol=1e-12)


def test_twfe_baseline(mpdta, nocov):
    tw = did.twfe(mpdta, **KW)
    # independent check: double-demeaned regression on the balanced panel
    p = mpdta.to_pandas()
    D = ((p["first.treat"] > 0) & (p["year"] >= p["first.treat"])).astype(float)

    def within(v):
        return v - v.groupby(p["countyreal"]).transform("mean") - v.groupby(p["year"]).transform("mean") + v.mean()

    dd, yy = within(D), within(p["lemp"])
    assert tw.estimates["estimate"].iloc[0] == pytest.approx(float(dd @ yy / (dd @ dd)), abs=1e-10)
    es = did.twfe(mpdta, **KW, event_study=True)
    assert set(es.estimates["horizon"]) == {-4, -3, -2, 0, 1, 2, 3}
    cmp = nocov.compare_twfe(mpdta, **KW)
    assert cmp.info["cs_simple_att"] == pytest.approx(-0.0399512752, abs=1e-6)


def test_summary_and_tables(nocov):
    s = nocov.summary()
    assert "Pre-trend Wald test" in s and "2004" in s
    a = nocov.aggregate("group")
    assert list(a.estimates["group"]) == [2004, 2006, 2007]
    assert {"estimate", "std_error", "ci_lower", "ci_upper"} <= set(a.estimates.columns)
    assert a.overall["estimate"] == a.overall.estimate
    assert "Overall ATT (group)" in a.summary()
    recs = a.to_records()
    assert recs[0]["estimand"] == "ATT(g)"
    with pytest.raises(Exception, match="aggregation kind"):
        nocov.aggregate("weekly")
    cal = nocov.aggregate("calendar").estimates
    assert list(cal["time"]) == [2004, 2005, 2006, 2007]
    bal = nocov.aggregate("dynamic", balance_e=1).estimates
    assert bal["event_time"].max() == 1
    lim = nocov.aggregate("dynamic", min_e=-1, max_e=2).estimates
    assert list(lim["event_time"]) == [-1, 0, 1, 2]
