"""Golden tests of the synthetic control against published results.

* Proposition 99 (Abadie, Diamond and Hainmueller 2010): donor weights, pre-period fit, gaps,
  placebo rank of California.
* Basque Country (Abadie and Gardeazabal 2003, R ``Synth``'s example): donor weights.
Data: tests/data/smoking.csv and tests/data/basque.csv (provenance in tests/data/README.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from impact.errors import DesignError
from impact.estimators import synth

DATA = Path(__file__).parent / "data"

PROP99_PREDICTORS = [
    ("lnincome", (1980, 1988), "mean"),
    ("retprice", (1980, 1988), "mean"),
    ("age15to24", (1980, 1988), "mean"),
]
PROP99_SPECIAL = [("beer", (1984, 1988), "mean"), ("cigsale", 1975), ("cigsale", 1980), ("cigsale", 1988)]
ADH_WEIGHTS = {"Utah": 0.334, "Nevada": 0.234, "Montana": 0.199, "Colorado": 0.164, "Connecticut": 0.069}


@pytest.fixture(scope="module")
def smoking() -> pl.DataFrame:
    return pl.read_csv(DATA / "smoking.csv")


@pytest.fixture(scope="module")
def prop99(smoking):
    return synth.synthetic_control(
        smoking, unit="state", time="year", outcome="cigsale", treated="California", treatment_time=1989,
        predictors=PROP99_PREDICTORS, special_predictors=PROP99_SPECIAL, fit_window=(1970, 1988),
    )


def test_prop99_weights(prop99):
    w = prop99.weights
    positive = set(w[w > 0.01].index)
    assert positive == set(ADH_WEIGHTS)
    for state, published in ADH_WEIGHTS.items():
        assert abs(w[state] - published) < 0.04, (state, w[state])
    assert w.sum() == pytest.approx(1.0, abs=1e-9)
    assert (w >= 0).all()
    assert prop99.v.sum() == pytest.approx(1.0)


def test_prop99_fit_and_gaps(prop99):
    assert prop99.pre_mspe <= 3.21
    assert prop99.pre_rmspe == pytest.approx(np.sqrt(prop99.pre_mspe))
    paths = prop99.paths.set_index("time")
    assert -27.0 < paths.loc[2000, "gap"] < -24.5
    assert -19.5 < prop99.att(1989, 2000) < -18.5
    assert prop99.att() == pytest.approx(prop99.att(1989, 2000))
    # the tidy estimates table carries the same numbers
    est = prop99.estimates
    assert est.loc[est["estimand"] == "ATT", "estimate"].iloc[0] == pytest.approx(prop99.att())
    assert (paths["treated"] - paths["synthetic"] - paths["gap"]).abs().max() < 1e-9
    # predictor balance: California's 1975 and 1980 sales are matched closely
    bal = prop99.predictor_balance.set_index("predictor")
    assert abs(bal.loc["cigsale (1975)", "treated"] - bal.loc["cigsale (1975)", "synthetic"]) < 1.0


def test_prop99_placebo_rank(prop99):
    pl_res = prop99.placebo(n_jobs=2)
    assert pl_res.n_units == 39
    assert pl_res.rank == 1
    assert pl_res.p_value == pytest.approx(1 / 39)
    top = pl_res.ratios.iloc[0]
    assert top["unit"] == "California" and bool(top["treated"])
    # pre-fit filters keep California first among fewer units
    f = pl_res.filtered.set_index("max_pre_mspe_ratio")
    assert (f["rank"] == 1).all()
    assert (f["n_units"] < 39).all() and (f["n_units"].diff().dropna() >= 0).all()
    assert f.loc[5.0, "p_value"] == pytest.approx(1 / f.loc[5.0, "n_units"])
    est = prop99.estimates
    assert est.loc[est["estimand"] == "ATT", "p_value"].iloc[0] == pytest.approx(1 / 39)
    band = pl_res.band(0.9)
    post = band[band["time"] >= 1989]
    gaps = prop99.paths.set_index("time")["gap"]
    # California's late gaps lie below the 90% placebo band
    assert (gaps.loc[post["time"].to_numpy()[-5:]].to_numpy() < post["lower"].to_numpy()[-5:]).all()


def test_prop99_leave_one_out_and_in_time(prop99):
    # shifting the ADH windows back by 4 years would need beer before 1984: a clear error
    with pytest.raises(DesignError, match="beer.*California"):
        prop99.in_time_placebo(1985)
    loo = prop99.leave_one_out(n_jobs=2)
    assert set(loo.summary["dropped"]) == set(ADH_WEIGHTS)
    # the effect survives dropping any single donor (ADH 2015 style robustness)
    assert (loo.summary["att"] < -15).all()
    # in-time placebo: reform moved to 1985, predictors measured before it (beer starts in 1984)
    it = prop99.in_time_placebo(
        1985,
        predictors=[(v, (1980, 1984)) for v in ("lnincome", "retprice", "age15to24")],
        special_predictors=[("beer", 1984), ("cigsale", 1975), ("cigsale", 1980), ("cigsale", 1984)],
    )
    assert it.treatment_time == 1985
    assert it.paths["time"].max() == 1988
    # the placebo "effect" in 1985-1988 (about -6 packs: California's sales were already
    # falling faster) is far smaller than the real effect after 1989 (about -19)
    assert it.att() < 0 and abs(it.att()) < 0.4 * abs(prop99.att())


BASQUE_PREDICTORS = [
    (c, (1964, 1969), "mean")
    for c in ["school.illit", "school.prim", "school.med", "school.high", "school.post.high", "invest"]
]
BASQUE_SPECIAL = (
    [("gdpcap", (1960, 1969), "mean")]
    + [(c, [1961, 1963, 1965, 1967, 1969], "mean") for c in [
        "sec.agriculture", "sec.energy", "sec.industry", "sec.construction", "sec.services.venta",
        "sec.services.nonventa"]]
    + [("popdens", 1969, "mean")]
)


@pytest.fixture(scope="module")
def basque() -> pl.DataFrame:
    return pl.read_csv(DATA / "basque.csv")


def _basque_fit(basque, **kw):
    # treated region 17, controls 2-16 and 18 (region 1 is Spain as a whole)
    donors = [float(r) for r in list(range(2, 17)) + [18]]
    return synth.synthetic_control(
        basque, unit="regionno", time="year", outcome="gdpcap", treated=17, treatment_time=1970,
        predictors=BASQUE_PREDICTORS, special_predictors=BASQUE_SPECIAL, fit_window=(1960, 1969),
        donors=donors, **kw,
    )


def test_basque_weights_as_r_synth(basque):
    # R Synth searches V from its two starts (equal weights and the regression-based start)
    res = _basque_fit(basque, n_random=0)
    w = res.weights
    assert w[10.0] == pytest.approx(0.8508, abs=0.01)  # Cataluna
    assert w[14.0] == pytest.approx(0.1492, abs=0.01)  # Madrid
    assert w.drop([10.0, 14.0]).max() < 0.01
    names = basque.filter(pl.col("regionno").is_in([10.0, 14.0])).select("regionname").unique().to_series().to_list()
    assert any("Catalu" in n for n in names) and any("Madrid" in n for n in names)


def test_basque_random_starts_fit_at_least_as_well(basque):
    # random starts are allowed to find a better local optimum of the nested problem
    r_synth = _basque_fit(basque, n_random=0)
    best = _basque_fit(basque)
    assert best.fit_mspe <= r_synth.fit_mspe + 1e-9
