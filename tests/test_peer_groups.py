"""Peer groups of areas and the 'development significantly worse than comparable areas' flag."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy.spatial.distance import mahalanobis

from impact.errors import DesignError
from impact.estimators import synth

COVS = ["labour_force", "unemployment_rate", "long_term_share", "foreign_share", "urban"]


def areas(n_per: int = 12, seed: int = 1) -> pl.DataFrame:
    """Three well-separated types of area (city, town, rural) with noisy structural covariates."""
    rng = np.random.default_rng(seed)
    centres = np.array([[200.0, 0.12, 0.40, 0.15, 1.0], [50.0, 0.09, 0.30, 0.06, 0.6], [10.0, 0.07, 0.35, 0.02, 0.1]])
    scale = np.array([20.0, 0.01, 0.03, 0.01, 0.05])
    X = np.vstack([c + rng.normal(0, 1, size=(n_per, 5)) * scale for c in centres])
    d = {"area": [f"EA{i:02d}" for i in range(3 * n_per)], **{c: X[:, j] for j, c in enumerate(COVS)}}
    d["type"] = np.repeat(["city", "town", "rural"], n_per)
    d["employment_rate"] = 0.6 + 0.05 * rng.normal(size=3 * n_per)
    d["pilot"] = (np.arange(3 * n_per) % 4 == 0).astype(int)
    return pl.DataFrame(d)


def test_mahalanobis_peers_match_bruteforce():
    df = areas()
    pg = synth.peer_groups(df, unit="area", covariates=COVS, k=5, outcome="employment_rate")
    X = df.select(COVS).to_numpy()
    Z = (X - X.mean(0)) / X.std(0, ddof=1)
    VI = np.linalg.inv(np.cov(Z, rowvar=False))
    units = df["area"].to_list()
    for i in (0, 13, 30):
        d = np.array([mahalanobis(Z[i], Z[j], VI) if j != i else np.inf for j in range(len(units))])
        expect = [units[j] for j in np.argsort(d)[:5]]
        assert pg.peers_of(units[i]) == expect
        got = pg.peers[pg.peers["unit"] == units[i]]["distance"].to_numpy()
        assert got == pytest.approx(np.sort(d)[:5], rel=1e-6)
    # peers are mostly of the same type of area (the pooled covariance whitens part of the
    # between-type differences, so a few cross-type peers are expected)
    types = dict(zip(units, df["type"].to_list()))
    same = [types[r.unit] == types[r.peer] for r in pg.peers.itertuples()]
    assert np.mean(same) >= 0.85
    # table: outcome against the peer median
    t = pg.table.set_index("unit")
    y = dict(zip(units, df["employment_rate"].to_list()))
    u = units[5]
    assert t.loc[u, "peer_median"] == pytest.approx(np.median([y[p] for p in pg.peers_of(u)]))
    assert t.loc[u, "difference"] == pytest.approx(y[u] - t.loc[u, "peer_median"])
    assert pg.donor_pool(u) == pg.peers_of(u)


def test_propensity_peers_are_untreated_and_nearest():
    df = areas()
    pg = synth.peer_groups(df, unit="area", covariates=COVS[:3], k=4, method="propensity", treatment="pilot")
    pilot = dict(zip(df["area"].to_list(), df["pilot"].to_list()))
    assert all(pilot[p] == 0 for p in pg.peers["peer"])
    assert (pg.peers.groupby("unit")["distance"].apply(lambda s: s.is_monotonic_increasing)).all()
    with pytest.raises(DesignError, match="treatment"):
        synth.peer_groups(df, unit="area", covariates=COVS, k=3, method="propensity")


def test_peer_group_bad_input():
    df = areas()
    bad = df.with_columns(pl.when(pl.col("area") == "EA07").then(None).otherwise(pl.col("urban")).alias("urban"))
    with pytest.raises(DesignError, match=r"urban.*EA07"):
        synth.peer_groups(bad, unit="area", covariates=COVS, k=3)
    with pytest.raises(DesignError, match="constant"):
        synth.peer_groups(df.with_columns(pl.lit(1.0).alias("urban")), unit="area", covariates=COVS, k=3)
    with pytest.raises(DesignError, match="k = 50"):
        synth.peer_groups(df, unit="area", covariates=COVS, k=50)
    with pytest.raises(DesignError, match="one row per unit"):
        synth.peer_groups(pl.concat([df, df.head(1)]), unit="area", covariates=COVS, k=3)
    with pytest.raises(DesignError, match="education"):
        synth.peer_groups(df, unit="area", covariates=COVS + ["education"], k=3)


def area_panel(decline: dict, T: int = 48, since: int = 36, seed: int = 2) -> pl.DataFrame:
    """Monthly employment rates of 36 areas from a factor model; ``decline`` area -> drop (rate points)."""
    df = areas()
    rng = np.random.default_rng(seed)
    types = df["type"].to_numpy()
    n = types.size
    f = np.cumsum(rng.normal(0, 0.004, size=(T, 3)), axis=0)
    load = np.zeros((n, 3))
    load[np.arange(n), pd.Series(types).map({"city": 0, "town": 1, "rural": 2}).to_numpy()] = 1.0
    load += rng.uniform(0, 0.3, size=(n, 3))
    y = 0.6 + f @ load.T + rng.normal(0, 0.002, size=(T, n))
    units = df["area"].to_list()
    for u, drop in decline.items():
        y[since:, units.index(u)] -= drop
    return pl.DataFrame({"area": np.repeat(units, T), "month": np.tile(np.arange(T), n), "employment_rate": y.T.ravel()})


def test_development_flag_combines_gap_and_rank():
    df = areas()
    panel = area_panel({"EA03": 0.03, "EA15": 0.0005})
    pg = synth.peer_groups(df, unit="area", covariates=COVS, k=11)
    flags = synth.development_flags(panel, unit="area", time="month", outcome="employment_rate", since=36,
                                    peers=pg, units=["EA03", "EA15", "EA20"], alpha=0.1, min_gap=0.01).set_index("unit")
    # a 3-point drop: worst among its 12-area comparison group, flagged
    assert flags.loc["EA03", "gap"] < -0.02
    assert flags.loc["EA03", "rank"] == 1 and flags.loc["EA03", "p_value"] == pytest.approx(1 / 12)
    assert bool(flags.loc["EA03", "flag"])
    # a tiny drop may rank low but is below the policy-relevant gap: not flagged
    assert not bool(flags.loc["EA15", "flag"])
    assert not bool(flags.loc["EA20", "flag"])
    # when lower values are better (unemployment), the same drop is an improvement
    inv = synth.development_flags(panel, unit="area", time="month", outcome="employment_rate", since=36,
                                  peers=pg, units=["EA03"], higher_is_better=False, alpha=0.1)
    assert not bool(inv["flag"].iloc[0])
