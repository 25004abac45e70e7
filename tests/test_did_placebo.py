"""Placebo-in-time refuter of the staggered DiD: golden cells on mpdta, null and violated trends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from impact.errors import DesignError
from impact.estimators import did

MPDTA = Path(__file__).parent / "data" / "mpdta.csv"


@pytest.fixture(scope="module")
def mpdta():
    return pl.read_csv(MPDTA)


def test_mpdta_placebo_equals_pretreatment_cells(mpdta):
    kw = dict(unit="countyreal", time="year", group="first.treat", outcome="lemp")
    full = did.att_gt(mpdta, **kw).att_gt.set_index(["group", "time"])["att"]
    sizes = mpdta.filter(pl.col("year") == 2003).group_by("first.treat").len()
    n = dict(sizes.iter_rows())
    p1 = did.placebo_in_time(mpdta, **kw, shift=1)
    # shift 1: cohort 2006 placebo-starts in 2005, cohort 2007 in 2006 (cohort 2004 has no base period)
    want = (n[2006] * full[(2006, 2005)] + n[2007] * full[(2007, 2006)]) / (n[2006] + n[2007])
    assert p1.overall.estimate == pytest.approx(want, abs=1e-10)
    assert p1.overall.estimate == pytest.approx(-0.024459, abs=5e-6)
    assert p1.dropped_cohorts == [2004.0] and any("2004" in x for x in p1.notes)
    assert p1.covers_zero and p1.overall.ci_lower < 0 < p1.overall.ci_upper
    p2 = did.placebo_in_time(mpdta, **kw, shift=2)
    e = p2.estimates.set_index("horizon")["estimate"]
    assert e[0.0] == pytest.approx((n[2006] * full[(2006, 2004)] + n[2007] * full[(2007, 2005)]) / (n[2006] + n[2007]), abs=1e-10)
    # e = 1 is a long difference over two pre-periods: the sum of the two one-year cells
    long1 = (n[2006] * (full[(2006, 2004)] + full[(2006, 2005)]) + n[2007] * (full[(2007, 2005)] + full[(2007, 2006)])) / (n[2006] + n[2007])
    assert e[1.0] == pytest.approx(long1, abs=1e-10)
    assert p2.covers_zero
    nyt = did.placebo_in_time(mpdta, **kw, shift=1, control_group="not_yet_treated", method="reg")
    assert np.isfinite(nyt.overall.std_error) and nyt.covers_zero


def _panel(trend_gap: float, seed: int = 5) -> pl.DataFrame:
    """Staggered cohorts 7, 10, 13 (and never treated), dynamic effects after the start.

    ``trend_gap``: extra slope per period of the cohorts' untreated outcome (a violation of
    parallel trends when non-zero).
    """
    rng = np.random.default_rng(seed)
    n, T = 3000, 16
    g = rng.choice(np.array([0, 7, 10, 13]), size=n, p=[0.4, 0.2, 0.2, 0.2])
    t = np.arange(1, T + 1)
    e = t[None, :] - g[:, None]
    eff = np.where((g[:, None] > 0) & (e >= 0), -0.5 + 0.3 * e, 0.0)
    y = (rng.normal(size=n)[:, None] + 0.1 * t[None, :] + trend_gap * (g[:, None] > 0) * t[None, :]
         + eff + rng.normal(scale=0.5, size=(n, T)))
    return pl.DataFrame({"id": np.repeat(np.arange(n), T), "t": np.tile(t, n), "g": np.repeat(g, T), "y": y.ravel()})


def test_synthetic_placebo_null_and_violation():
    kw = dict(unit="id", time="t", group="g", outcome="y")
    ok = did.placebo_in_time(_panel(0.0), **kw, shift=3, method="reg")
    # parallel trends hold: the placebo is zero despite large dynamic effects after the start
    assert ok.covers_zero and abs(ok.overall.estimate) < 0.05, ok.summary()
    assert len(ok.estimates) == 4  # overall + e = 0, 1, 2
    bad = did.placebo_in_time(_panel(0.05), **kw, shift=3, method="reg")
    # treated cohorts trend 0.05 per period faster: placebo e = 0, 1, 2 -> 0.05, 0.10, 0.15
    assert not bad.covers_zero and bad.overall.estimate == pytest.approx(0.10, abs=0.03), bad.summary()


def test_placebo_bad_input(mpdta):
    kw = dict(unit="countyreal", time="year", group="first.treat", outcome="lemp")
    with pytest.raises(DesignError, match="shift must be a positive integer"):
        did.placebo_in_time(mpdta, **kw, shift=0)
    with pytest.raises(DesignError, match="no cohort has a period before its placebo start"):
        did.placebo_in_time(mpdta, **kw, shift=4)
    with pytest.raises(DesignError, match=r"columns not found.*'nope'"):
        did.placebo_in_time(mpdta, **{**kw, "outcome": "nope"})
    with pytest.raises(DesignError, match="anticipation"):
        did.placebo_in_time(mpdta, **kw, anticipation=1)


def test_placebo_moves_comparison_sets_with_their_cohorts():
    """Stacked designs: each comparison set is moved back with its cohort (cohort 6 -> 4)."""
    rng = np.random.default_rng(8)
    n, T = 900, 8
    g = rng.choice([0, 3, 6], size=n, p=[0.6, 0.2, 0.2])
    s = np.where(g > 0, g, rng.choice([3, 6], size=n))
    t = np.arange(1, T + 1)
    y = rng.normal(size=n)[:, None] + 0.2 * t + 0.3 * (s[:, None] == 6) * t + (g[:, None] > 0) * (t >= g[:, None]) \
        + rng.normal(size=(n, T))
    df = pl.DataFrame({"id": np.repeat(np.arange(n), T), "t": np.tile(t, n), "g": np.repeat(g, T),
                       "s": np.repeat(s, T), "y": y.ravel()})
    p = did.placebo_in_time(df, unit="id", time="t", group="g", outcome="y", shift=2, comparison_set="s", method="reg")
    # cohort 3 would start in period 1 (no base period): it and its comparison set are left out
    assert p.dropped_cohorts == [3.0]
    manual = did.att_gt(df.filter(pl.col("s") == 6).with_columns(g=pl.when(pl.col("g") > 0).then(pl.col("g") - 2).otherwise(0),
                                                                 s=pl.col("s") - 2),
                        unit="id", time="t", group="g", outcome="y", comparison_set="s", method="reg")
    want = manual.aggregate("simple", max_e=1).overall
    assert p.overall.estimate == pytest.approx(want.estimate, abs=1e-12)
    assert p.overall.std_error == pytest.approx(want.std_error, rel=1e-10)
    # the comparison set of cohort 6 trends faster, but only its own cohort is compared with it
    assert p.covers_zero


def test_placebo_reads_only_the_periods_its_cells_use(monkeypatch):
    """The re-estimation gets only the periods from the first moved base to the last one before a true start
    (a national stacked panel is several GB); its estimate is the one on all periods (the test above)."""
    import impact.estimators.did.placebo as placebo

    rng = np.random.default_rng(3)
    n, T = 300, 12
    g = rng.choice([0, 5, 7], size=n)
    df = pl.DataFrame({"id": np.repeat(np.arange(n), T), "t": np.tile(np.arange(1, T + 1), n), "g": np.repeat(g, T),
                       "y": rng.normal(size=n * T)})
    seen = {}

    def spy(d, **kw):
        seen["t"] = sorted(set(d["t"].to_list()))
        return did.att_gt(d, **kw)

    monkeypatch.setattr(placebo, "att_gt", spy)
    p = placebo.placebo_in_time(df, unit="id", time="t", group="g", outcome="y", shift=2, method="reg")
    assert seen["t"] == [2, 3, 4, 5, 6]  # cohort 5 -> 3 (base 2) .. cohort 7's last untreated period 6
    full = did.att_gt(df.with_columns(g=pl.when(pl.col("g") > 0).then(pl.col("g") - 2).otherwise(0)),
                      unit="id", time="t", group="g", outcome="y", method="reg").aggregate("simple", max_e=1).overall
    assert p.overall.estimate == pytest.approx(full.estimate, abs=1e-12)
    assert p.overall.std_error == pytest.approx(full.std_error, rel=1e-10)
