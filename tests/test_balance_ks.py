"""KS statistics and effective sample sizes of the balance table against R (stats::ks.test over
the data and over Matching::Match's matched pairs; tests/data/balance_ks_reference.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from impact.estimators.matching.balance import balance_table, effective_sample_size, ks_statistic, ks_statistics

DATA = Path(__file__).parent / "data"
REF = json.loads((DATA / "balance_ks_reference.json").read_text())


@pytest.fixture(scope="module")
def nsw_cps():
    nsw = pd.read_csv(DATA / "nsw_mixtape.csv")
    d = pd.concat([nsw[nsw["treat"] == 1], pd.read_csv(DATA / "cps_mixtape.csv")], ignore_index=True)
    return d[REF["covariates"]].to_numpy(float), d["treat"].to_numpy() == 1


def test_ks_before_and_after_matching_equal_r(nsw_cps):
    x, d = nsw_cps
    w = np.zeros(len(d))
    w[d] = 1.0
    np.add.at(w, np.asarray(REF["index_control"]) - 1, 1.0)  # frequency weights of the matched pairs
    np.testing.assert_allclose(ks_statistic(x, d), [REF["ks_before"][c] for c in REF["covariates"]], atol=1e-12)
    np.testing.assert_allclose(ks_statistic(x, d, w), [REF["ks_after"][c] for c in REF["covariates"]], atol=1e-12)
    ess_t, ess_c = effective_sample_size(w, d)
    assert ess_t == pytest.approx(REF["n_treated"]) and ess_c == pytest.approx(REF["ess_control"], rel=1e-12)
    bal = balance_table(x, d, REF["covariates"], weights=w).set_index("covariate")
    assert bal.loc["re74", "ks_before"] == pytest.approx(REF["ks_before"]["re74"])
    assert bal.loc["age", "ks_after"] == pytest.approx(REF["ks_after"]["age"])


def test_ks_is_the_largest_gap_of_the_weighted_distributions():
    """Ties step together; a 0/1 column gives the gap of its means; zero weights drop rows."""
    x = np.array([[1.0, 0], [1.0, 1], [2.0, 1], [3.0, 0], [3.0, 1], [9.0, 0]])
    d = np.array([True, True, True, False, False, False])
    # F1 jumps 2/3 at 1 and 1/3 at 2; F0 1/3 at 3 ... at v=2: F1 = 1, F0 = 0
    assert ks_statistic(x, d)[0] == pytest.approx(1.0)
    assert ks_statistic(x, d)[1] == pytest.approx(abs(2 / 3 - 1 / 3))
    w = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.0])  # the control at 9 gets no weight
    assert ks_statistic(x, d, w)[1] == pytest.approx(abs(2 / 3 - 1 / 2))
    assert effective_sample_size(np.array([1.0, 1, 1, 2, 2, 0]), d) == (pytest.approx(3.0), pytest.approx(2.0))


def test_one_sort_for_several_weights_equals_each_alone_and_ks_can_be_left_out():
    """``ks_statistics`` sorts each column once for all weight vectors; a row of zero weight between
    weighted rows does not change the maximum. ``balance_table(ks=False)`` differs only in NaN KS."""
    rng = np.random.default_rng(5)
    n = 4000
    x = np.column_stack([rng.integers(0, 6, n).astype(float), rng.normal(size=n).round(1), rng.integers(0, 2, n)])
    d = rng.random(n) < 0.3
    w = rng.integers(0, 4, n) * (rng.random(n) < 0.6).astype(float)
    both = ks_statistics(x, d, [None, w])
    for k, ww in enumerate([None, np.asarray(w, float)]):
        keep = np.ones(n, bool) if ww is None else ww > 0  # the weighted rows alone
        alone = ks_statistic(x[keep], d[keep], None if ww is None else ww[keep])
        np.testing.assert_allclose(both[k], alone, rtol=0, atol=1e-14)
        # the definition itself: both distribution functions evaluated at every value of the weighted rows
        wk = np.ones(n) if ww is None else ww
        for j in range(x.shape[1]):
            v = np.unique(x[keep, j])
            below = x[:, j][:, None] <= v[None, :]
            f1 = (wk * d) @ below / (wk * d).sum()
            f0 = (wk * ~d) @ below / (wk * ~d).sum()
            assert both[k, j] == pytest.approx(np.abs(f1 - f0).max(), abs=1e-12)
    w0 = w.copy()
    w0[d] = 0.0  # no weighted treated: NaN, not an error
    assert np.isnan(ks_statistics(x, d, [w0])).all()
    full, lean = balance_table(x, d, list("abc"), weights=w), balance_table(x, d, list("abc"), weights=w, ks=False)
    ks_cols = ["ks_before", "ks_after"]
    assert lean[ks_cols].isna().all().all() and not full[ks_cols].isna().any().any()
    pd.testing.assert_frame_equal(full.drop(columns=ks_cols), lean.drop(columns=ks_cols))
