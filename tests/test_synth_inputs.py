"""Synthetic control: bad input gives a clear DesignError; solver and variants behave as documented."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from impact.errors import DesignError
from impact.estimators import synth
from impact.estimators.synth.solver import simplex_lsq

DATA = Path(__file__).parent / "data"
PRED = [("lnincome", (1980, 1988)), ("retprice", (1980, 1988))]
SPECIAL = [("cigsale", 1975), ("cigsale", 1988)]


@pytest.fixture(scope="module")
def smoking() -> pl.DataFrame:
    return pl.read_csv(DATA / "smoking.csv")


def _fit(df, **kw):
    args = dict(unit="state", time="year", outcome="cigsale", treated="California", treatment_time=1989,
                predictors=PRED, special_predictors=SPECIAL, n_random=0)
    args.update(kw)
    return synth.synthetic_control(df, **args)


def test_treated_unit_missing(smoking):
    with pytest.raises(DesignError, match="Atlantis"):
        _fit(smoking, treated="Atlantis")


def test_unbalanced_panel(smoking):
    df = smoking.filter(~((pl.col("state") == "Utah") & (pl.col("year") == 1980)))
    with pytest.raises(DesignError, match=r"unbalanced.*Utah.*1980"):
        _fit(df)


def test_duplicate_rows(smoking):
    df = pl.concat([smoking, smoking.filter((pl.col("state") == "Ohio") & (pl.col("year") == 1975))])
    with pytest.raises(DesignError, match=r"duplicate.*Ohio.*1975"):
        _fit(df)


def test_predictor_window_outside_data(smoking):
    with pytest.raises(DesignError, match=r"beer.*1960"):
        _fit(smoking, special_predictors=[("beer", (1960, 1965))])
    with pytest.raises(DesignError, match=r"cigsale.*1965"):
        _fit(smoking, special_predictors=[("cigsale", 1965)])


def test_predictor_window_after_treatment(smoking):
    with pytest.raises(DesignError, match=r"retprice.*1989.*pre-treatment"):
        _fit(smoking, predictors=[("retprice", (1985, 1990))])


def test_donor_with_missing_predictor(smoking):
    df = smoking.with_columns(
        pl.when((pl.col("state") == "Nevada") & (pl.col("year") == 1985)).then(None)
        .otherwise(pl.col("lnincome")).alias("lnincome")
    )
    with pytest.raises(DesignError, match=r"lnincome.*Nevada.*1985"):
        _fit(df)
    # as R Synth: aggregate over the observed periods when asked to
    res = _fit(df, missing_predictors="skip")
    assert np.isfinite(res.pre_rmspe)
    # a predictor never observed in its window for a unit is an error even then
    df2 = smoking.with_columns(
        pl.when(pl.col("state") == "Nevada").then(None).otherwise(pl.col("lnincome")).alias("lnincome"))
    with pytest.raises(DesignError, match=r"lnincome.*Nevada"):
        _fit(df2, missing_predictors="skip")


def test_missing_outcome(smoking):
    df = smoking.with_columns(
        pl.when((pl.col("state") == "Iowa") & (pl.col("year") == 1995)).then(None).otherwise(pl.col("cigsale"))
        .alias("cigsale"))
    with pytest.raises(DesignError, match=r"cigsale.*Iowa.*1995"):
        _fit(df)


def test_fewer_than_two_donors(smoking):
    with pytest.raises(DesignError, match=r"California.*1 donor.*Utah.*at least two"):
        _fit(smoking, donors=["Utah"])
    with pytest.raises(DesignError, match="Narnia"):
        _fit(smoking, donors=["Utah", "Narnia"])


def test_unknown_column(smoking):
    with pytest.raises(DesignError, match="tobacco_tax"):
        _fit(smoking, predictors=[("tobacco_tax", (1980, 1988))])


def test_simplex_lsq_matches_qp_solver():
    cp = pytest.importorskip("cvxpy")
    rng = np.random.default_rng(3)
    for _ in range(25):
        k, J = rng.integers(2, 12), rng.integers(2, 40)
        A = rng.normal(size=(k, J)) * rng.uniform(0.1, 10)
        b = rng.normal(size=k) * 3
        w = simplex_lsq(A, b)
        x = cp.Variable(J)
        cp.Problem(cp.Minimize(cp.sum_squares(A @ x - b)), [x >= 0, cp.sum(x) == 1]).solve(solver="CLARABEL")
        assert w.min() >= 0 and w.sum() == pytest.approx(1.0, abs=1e-12)
        f_ours, f_qp = np.sum((A @ w - b) ** 2), np.sum((A @ x.value - b) ** 2)
        assert f_ours <= f_qp + 1e-7 * max(1.0, f_qp)


def test_outcome_only_minimises_pre_mspe(smoking):
    cp = pytest.importorskip("cvxpy")
    res = _fit(smoking, predictors=None, special_predictors=None)
    assert res.method.startswith("synthetic control (outcome-only")
    wide = smoking.filter(pl.col("year") < 1989).pivot(on="state", index="year", values="cigsale").sort("year")
    y1 = wide["California"].to_numpy()
    donors = list(res.weights.index)
    Y0 = wide.select(donors).to_numpy()
    x = cp.Variable(len(donors))
    cp.Problem(cp.Minimize(cp.sum_squares(Y0 @ x - y1)), [x >= 0, cp.sum(x) == 1]).solve(solver="CLARABEL")
    mspe_qp = float(np.mean((Y0 @ x.value - y1) ** 2))
    assert res.pre_mspe == pytest.approx(mspe_qp, rel=1e-5)
    assert len(res.v) == 19  # one weight per pre-period outcome


def test_fixed_v_and_pandas_input(smoking):
    res = _fit(smoking.to_pandas(), v=[1, 1, 1, 1])
    assert res.v.to_numpy() == pytest.approx(np.full(4, 0.25))
    assert res.info["n_evaluations"] == 1


def test_att_window_checks(smoking):
    res = _fit(smoking, predictors=None, special_predictors=None)
    with pytest.raises(DesignError, match="before the treatment time"):
        res.att(1985, 1990)
    assert res.att(1995, 2000) == pytest.approx(res.paths.query("time >= 1995")["gap"].mean())


def test_plots(smoking):
    res = _fit(smoking, predictors=None, special_predictors=None)
    from impact import plots

    figs = [plots.synth_paths(res.paths, res.treated, res.treatment_time), plots.synth_gap(res.paths, res.treatment_time)]
    assert all(f.axes for f in figs)
