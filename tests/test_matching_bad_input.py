"""Bad input to the matching estimators gives a clear error naming the culprit, never a NaN."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from impact.errors import DesignError
from impact.estimators import matching


@pytest.fixture
def df() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 600
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    d = (rng.random(n) < 1 / (1 + np.exp(-(-0.5 + x1)))).astype(float)
    return pd.DataFrame({"d": d, "y": x1 + d + rng.normal(size=n), "x1": x1, "x2": x2,
                         "area": rng.choice(["A", "B", "C"], n), "pid": np.arange(n) // 2})


def test_constant_covariate_is_named(df):
    with pytest.raises(DesignError, match="covariate 'k' is constant"):
        matching.match(df.assign(k=3.0), "d", "y", ["x1", "k"])


def test_perfect_separation_is_named(df):
    sep = df.assign(z=np.where(df.d == 1, 1.0 + df.x2.abs(), -1.0 - df.x2.abs()))
    with pytest.raises(DesignError, match=r"perfect separation.*'?z"):
        matching.match(sep, "d", "y", ["x1", "z"])


def test_quasi_separation_by_a_dummy_is_named(df):
    q = df.assign(flag=0.0)
    q.loc[q.index[(q.d == 1)][:5], "flag"] = 1.0  # only treated have flag = 1
    with pytest.raises(DesignError, match=r"perfect separation.*flag=1.*only treated"):
        matching.match(q, "d", "y", ["x1", "flag"])


def test_collinear_covariate_is_named(df):
    with pytest.raises(DesignError, match="covariate 'x3' is a linear combination"):
        matching.match(df.assign(x3=2 * df.x1 - df.x2), "d", "y", ["x1", "x2", "x3"])


def test_no_controls_in_an_exact_stratum_is_named(df):
    bad = df.copy()
    bad.loc[(bad.area == "C"), "d"] = 1.0
    with pytest.raises(DesignError, match=r"\[area=C\] has no controls"):
        matching.match(bad, "d", "y", ["x1"], exact="area")


def test_no_overlap(df):
    no = df.copy()
    no["s"] = np.where(no.d == 1, 0.9, 0.1)
    with pytest.raises(DesignError, match="no overlap"):
        matching.match(no, "d", "y", ["x1"], propensity="s")
    with pytest.raises(DesignError, match="no overlap"):
        matching.match(df, "d", "y", ["x1"], trim=(0.999, 1.0))


def test_missing_values_are_named_with_rows(df):
    m = df.copy()
    m.loc[[3, 17], "x2"] = np.nan
    with pytest.raises(DesignError, match=r"covariate column 'x2' has 2 missing.*rows 3, 17"):
        matching.match(m, "d", "y", ["x1", "x2"])
    with pytest.raises(DesignError, match=r"outcome column 'y' has 1 missing"):
        matching.ipw(pl.from_pandas(df).with_columns(pl.when(pl.col("pid") == 4).then(None).otherwise(pl.col("y"))
                                                     .alias("y")).head(9).vstack(pl.from_pandas(df).slice(9)),
                     "d", "y", ["x1"])


def test_missing_exact_column_values(df):
    m = df.astype({"area": object})
    m.loc[5, "area"] = None
    with pytest.raises(DesignError, match="exact-matching column 'area' has missing values"):
        matching.match(m, "d", "y", ["x1"], exact="area")


def test_bad_treatment_and_columns(df):
    with pytest.raises(DesignError, match="must be 0/1"):
        matching.match(df.assign(d=df.d * 2), "d", "y", ["x1"])
    with pytest.raises(DesignError, match="has no controls"):
        matching.match(df.assign(d=1.0), "d", "y", ["x1"])
    with pytest.raises(DesignError, match="'nope' is not in the data"):
        matching.match(df, "d", "y", ["nope"])
    with pytest.raises(DesignError, match="estimand must be"):
        matching.match(df, "d", "y", ["x1"], estimand="LATE")
    with pytest.raises(DesignError, match="ties must be"):
        matching.match(df, "d", "y", ["x1"], ties="random")


def test_caliper_that_matches_nobody_is_an_error_not_nan(df):
    with pytest.raises(DesignError, match="no unit could be matched"):
        matching.match(df, "d", "y", ["x1"], caliper=1e-12, distance="logit")


def test_estimates_are_finite_everywhere(df):
    for kw in (dict(), dict(estimand="ATE"), dict(estimand="ATC"), dict(replace=False), dict(caliper=0.2),
               dict(method="mahalanobis", exact="area"), dict(trim="crump"), dict(trim="minmax", refit=True)):
        r = matching.match(df, "d", "y", ["x1", "x2"], **kw)
        assert np.isfinite(r.estimates[["estimate", "std_error", "ci_lower", "ci_upper"]].to_numpy()).all(), kw
