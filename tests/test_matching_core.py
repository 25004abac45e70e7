"""Unit tests of the matching engines against brute force, and of the estimator's pieces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from impact.errors import DesignError
from impact.estimators import matching
from impact.estimators.matching import nn
from impact.estimators.matching.support import crump_alpha


def _brute_1d(f, p, k, ties="all", fs=None, ps=None, cal=np.inf):
    out = []
    for i in range(len(f)):
        ok = np.ones(len(p), bool) if fs is None else ps == fs[i]
        dist = np.where(ok, np.abs(p - f[i]), np.inf)
        if not np.isfinite(dist).any():
            out.append(set())
            continue
        srt = np.sort(dist[np.isfinite(dist)])
        kth = srt[min(k, len(srt)) - 1]
        # equal distances up to float noise are ties (|0.37 - 0.35| vs |0.39 - 0.37|)
        sel = np.flatnonzero((dist <= kth + 1e-12) & (dist <= cal)) if ties == "all" else \
            np.argsort(dist, kind="stable")[:k][np.sort(dist)[:k] <= cal]
        out.append(set(sel.tolist()))
    return out


def _sets(m: nn.Matches, nf: int):
    s = [set() for _ in range(nf)]
    for f, p in zip(m.focal, m.pool):
        s[f].add(int(p))
    return s


@pytest.mark.parametrize("k", [1, 3, 5])
def test_knn_1d_matches_brute_force_with_ties(k):
    rng = np.random.default_rng(k)
    p = np.round(rng.random(400), 2)  # many exact ties
    f = np.round(rng.random(120), 2)
    m = nn.knn_1d(f, p, k=k, ties="all")
    assert _sets(m, len(f)) == _brute_1d(f, p, k)
    assert np.allclose(np.bincount(m.focal, weights=m.weight), 1.0)


def test_knn_1d_cells_and_caliper():
    rng = np.random.default_rng(3)
    p, f = rng.random(500), rng.random(150)
    ps, fs = rng.integers(0, 7, 500), rng.integers(0, 7, 150)
    m = nn.knn_1d(f, p, k=2, fstrat=fs, pstrat=ps, caliper=0.01)
    assert _sets(m, len(f)) == _brute_1d(f, p, 2, fs=fs, ps=ps, cal=0.01)
    assert (m.n_matched == 0).any()  # the caliper leaves some unmatched


def test_first_tie_keeps_exactly_k():
    p = np.array([0.1, 0.2, 0.2, 0.2, 0.9])
    m = nn.knn_1d(np.array([0.2]), p, k=2, ties="first")
    assert len(m.pool) == 2 and set(m.pool) <= {1, 2, 3}
    m_all = nn.knn_1d(np.array([0.2]), p, k=2, ties="all")
    assert set(m_all.pool) == {1, 2, 3} and np.allclose(m_all.weight, 1 / 3)


def _brute_greedy(f, p, order):
    used = np.zeros(len(p), bool)
    out = np.full(len(f), -1)
    for i in order:
        dist = np.where(used, np.inf, np.abs(p - f[i]))
        j = int(np.argmin(dist))
        if np.isfinite(dist[j]):
            out[i] = j
            used[j] = True
    return out


def test_greedy_without_replacement_equals_brute_force():
    rng = np.random.default_rng(11)
    p, f = rng.random(300), rng.random(100)
    m = nn.knn_1d_without(f, p, k=1, order="largest")
    got = np.full(len(f), -1)
    got[m.focal] = m.pool
    want = _brute_greedy(f, p, np.argsort(-f, kind="stable"))
    # identical distances (ties between a left and a right neighbour) may resolve differently
    assert np.allclose(np.abs(p[got] - f), np.abs(p[want] - f))
    assert len(np.unique(m.pool)) == len(m.pool)  # no control used twice


def test_without_replacement_scales_linearly():
    import time

    rng = np.random.default_rng(0)
    times = []
    for n in (100_000, 400_000):
        p, f = rng.random(n), rng.random(n // 10)
        nn.knn_1d_without(f[:10], p[:100], k=1)  # compile
        t = time.perf_counter()
        nn.knn_1d_without(f, p, k=2)
        times.append(time.perf_counter() - t)
    # quadratic would be 16x; allow generous noise on a shared machine
    assert times[1] < 10 * times[0] + 0.5


def test_mahalanobis_matches_brute_force():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 3))
    x[:, 2] = np.round(x[:, 2])  # ties
    z = nn.whiten(x)
    d = np.zeros(300, bool)
    d[:80] = True
    m = nn.knn_maha(z[d], z[~d], k=2, ties="all")
    cov_inv = np.linalg.inv(np.cov(x, rowvar=False))
    diff = x[d][:, None, :] - x[~d][None, :, :]
    dist = np.sqrt(np.einsum("ijk,kl,ijl->ij", diff, cov_inv, diff))
    want = [set(np.flatnonzero(r <= np.sort(r)[1] + 1e-9).tolist()) for r in dist]
    assert _sets(m, 80) == want
    mw = nn.knn_maha(z[d], z[~d], k=1, replace=False)
    assert len(np.unique(mw.pool)) == len(mw.pool) == 80


@pytest.mark.parametrize("k", [1, 3, 7])
@pytest.mark.parametrize("npool", [4, 60])
def test_knn_means_equal_brute_force_with_repeated_rows(k, npool):
    """Mean over the k nearest rows (Euclidean, ties kept), repeated rows counted as often as they occur."""
    rng = np.random.default_rng(k * 100 + npool)
    fx = rng.integers(0, 3, size=(50, 2)).astype(float)
    px = rng.integers(0, 3, size=(npool, 2)).astype(float)
    pv = rng.normal(size=(npool, 2))
    dist = np.sqrt(((fx[:, None, :] - px[None, :, :]) ** 2).sum(axis=2))
    near = dist <= np.sort(dist, axis=1)[:, min(k, npool) - 1][:, None]
    want = near @ pv / near.sum(axis=1)[:, None]
    np.testing.assert_allclose(nn.knn_means(fx, px, pv, k=k), want, rtol=1e-12, atol=1e-12)


def _score_adjustment_data() -> pd.DataFrame:
    rng = np.random.default_rng(8)
    n = 600
    x = rng.normal(size=(n, 2))
    x[:, 1] = np.round(x[:, 1])
    d = rng.random(n) < 1 / (1 + np.exp(-(x[:, 0] - 0.5 * x[:, 1])))
    y = x[:, 0] + x[:, 1] ** 2 + d * (1 + x[:, 0]) + rng.normal(size=n)
    return pd.DataFrame({"d": d.astype(int), "c": (~d).astype(int), "y": y, "x0": x[:, 0], "x1": x[:, 1]})


@pytest.mark.parametrize("vce", ["ai", "ai-score"])
def test_estimated_score_adjustment_of_the_atc_is_the_att_with_labels_swapped(vce):
    df = _score_adjustment_data()
    atc = matching.match(df, "d", "y", ["x0", "x1"], estimand="ATC", k=2, vce=vce).estimates.iloc[0]
    att = matching.match(df, "c", "y", ["x0", "x1"], estimand="ATT", k=2, vce=vce).estimates.iloc[0]
    assert atc["estimate"] == pytest.approx(-att["estimate"], rel=1e-10)
    assert atc["std_error"] == pytest.approx(att["std_error"], rel=1e-8)


def test_ai_score_differs_from_stata_only_in_the_atts_derivative_term():
    """vce='ai-score': the same ATE, and an ATT s.e. near Stata's formula's (same population quantity)."""
    df = _score_adjustment_data()
    fits = {(est, vce): matching.match(df, "d", "y", ["x0", "x1"], estimand=est, vce=vce)
            for est in ("ATE", "ATT") for vce in ("ai", "ai-score")}
    se = {key: r.estimates["std_error"].iloc[0] for key, r in fits.items()}
    assert se["ATE", "ai-score"] == se["ATE", "ai"]
    assert se["ATT", "ai-score"] != se["ATT", "ai"]
    assert se["ATT", "ai-score"] == pytest.approx(se["ATT", "ai"], rel=0.02)
    assert "given the score" in fits["ATT", "ai-score"].info["vce"]
    assert "as Stata teffects psmatch" in fits["ATT", "ai"].info["vce"]


def test_att_atc_ate_by_hand():
    df = pd.DataFrame({"d": [1, 1, 0, 0, 0], "y": [10.0, 20.0, 1.0, 2.0, 4.0], "s": [0.2, 0.6, 0.21, 0.5, 0.65]})
    r = matching.match(df, "d", "y", [], propensity="s", estimand="ATT", k=1)
    # treated 0.2 -> control 0.21 (y=1); treated 0.6 -> 0.65 (y=4, dist .05) vs 0.5 (dist .1)
    assert r.estimates.estimate.iloc[0] == pytest.approx(((10 - 1) + (20 - 4)) / 2)
    r = matching.match(df, "d", "y", [], propensity="s", estimand="ATC", k=1)
    # controls 0.21 -> 0.2 (10), 0.5 -> 0.6 (20), 0.65 -> 0.6 (20)
    assert r.estimates.estimate.iloc[0] == pytest.approx(((10 - 1) + (20 - 2) + (20 - 4)) / 3)
    r = matching.match(df, "d", "y", [], propensity="s", estimand="ATE", k=1)
    assert r.estimates.estimate.iloc[0] == pytest.approx((9 + 16 + 9 + 18 + 16) / 5)


def test_atc_counts_the_treated_units_used_as_matches():
    """An ATC's treated units are the pool: n_treated counts them (not 0), *_used the ones carrying weight."""
    df = pd.DataFrame({"d": [1, 1, 1, 0, 0, 0], "y": [10.0, 20.0, 30.0, 1.0, 2.0, 4.0],
                       "s": [0.2, 0.6, 0.9, 0.21, 0.5, 0.65]})
    e = matching.match(df, "d", "y", [], propensity="s", estimand="ATC", k=1).estimates.iloc[0]
    assert (e["n_treated"], e["n_controls"]) == (3, 3)
    assert e["n_treated_used"] == 2  # 0.21 -> 0.2; 0.5 and 0.65 -> 0.6; 0.9 is nobody's match
    assert e["n_controls_used"] == 3


def test_crump_alpha_rule():
    e = np.linspace(0.001, 0.999, 2001)
    a = crump_alpha(e)
    g = 1 / (e * (1 - e))
    gamma = 1 / (a * (1 - a))
    assert gamma == pytest.approx(2 * g[g <= gamma].mean(), rel=1e-3)
    assert crump_alpha(np.full(100, 0.5)) == 0.0


def test_trim_refit_and_notes():
    rng = np.random.default_rng(2)
    n = 3000
    x = rng.normal(size=n)
    d = (rng.random(n) < 1 / (1 + np.exp(-2.5 * x))).astype(float)
    df = pd.DataFrame({"d": d, "y": x + d + rng.normal(size=n), "x": x})
    r = matching.match(df, "d", "y", ["x"], trim=(0.1, 0.9), refit=True)
    kept = np.isfinite(r.score)
    assert 0 < (~kept).sum() < n and "trimmed" in r.notes[0]
    assert r.info["n_trimmed"] == (~kept).sum()
    r2 = matching.match(df, "d", "y", ["x"], trim="crump")
    assert r2.extra["trim"]["rule"] == "crump" and r2.extra["trim"]["alpha"] > 0


def test_cluster_bootstrap_close_to_ai_for_independent_units():
    rng = np.random.default_rng(9)
    n = 1500
    x = rng.normal(size=(n, 2))
    d = (rng.random(n) < 1 / (1 + np.exp(-(-1 + x[:, 0])))).astype(float)
    df = pd.DataFrame({"d": d, "y": x[:, 0] + x[:, 1] + d + rng.normal(size=n), "x1": x[:, 0], "x2": x[:, 1],
                       "pid": np.arange(n) // 3})
    ai = matching.match(df, "d", "y", ["x1", "x2"], k=5)
    bs = matching.match(df, "d", "y", ["x1", "x2"], k=5, vce="bootstrap", cluster="pid", n_boot=60, seed=4)
    assert bs.estimates.estimate.iloc[0] == ai.estimates.estimate.iloc[0]
    assert 0.6 < bs.estimates.std_error.iloc[0] / ai.estimates.std_error.iloc[0] < 1.6
    assert bs.extra["n_ok"] == 60


@pytest.mark.parametrize("cells", [False, True])
def test_runs_sums_and_match_counts_equal_the_matched_pairs(cells):
    """Prefix-sum summaries of the 1-d runs (imputed means, K, K') equal those of the
    expanded (focal, pool) pairs, with ties, cells and a caliper; unsorted focal units."""
    rng = np.random.default_rng(7)
    f = np.round(rng.random(400), 2)  # many ties
    p = np.round(rng.random(900), 2)
    fs = rng.integers(0, 3, 400) if cells else None
    ps = rng.integers(0, 3, 900) if cells else None
    v = rng.normal(size=(900, 2))
    for k, cal in ((1, None), (4, None), (3, 0.015)):
        r = nn.knn_1d_runs(f, p, k=k, caliper=cal, fstrat=fs, pstrat=ps)
        m = nn.knn_1d(f, p, k=k, ties="all", caliper=cal, fstrat=fs, pstrat=ps)
        assert np.array_equal(r.counts, m.n_matched)
        sums = np.column_stack([np.bincount(m.focal, weights=v[m.pool, j], minlength=400) for j in range(2)])
        assert np.allclose(r.run_sums(v), sums)
        for power in (1, 2):
            assert np.allclose(r.used(900, power), np.bincount(m.pool, weights=m.weight**power, minlength=900))
        assert _sets(m, 400) == _brute_1d(f, p, k, "all", fs, ps, np.inf if cal is None else cal)


def _recurring_controls(rng, n_t: int, n_c: int, cells: int, person_sd: float) -> pd.DataFrame:
    """Risk-set-like data: treated persons appear once; control persons appear in every cell
    (as in risk sets at successive durations), with a persistent person effect."""
    pid_t = np.arange(n_t)
    pid_c = np.arange(n_t, n_t + n_c)
    a = rng.normal(scale=person_sd, size=n_t + n_c)
    pid = np.concatenate([pid_t, np.repeat(pid_c, cells)])
    cell = np.concatenate([rng.integers(0, cells, n_t), np.tile(np.arange(cells), n_c)])
    d = np.concatenate([np.ones(n_t), np.zeros(n_c * cells)])
    x = rng.normal(size=len(d)) + 0.5 * d
    y = a[pid] + x + 1.0 * d + rng.normal(size=len(d))
    return pd.DataFrame({"pid": pid, "cell": cell, "d": d, "x": x, "y": y})


def test_person_clustered_ai_se_accounts_for_recurring_controls():
    """Monte Carlo: with control persons recurring across cells, the Abadie-Imbens SE that
    ignores it understates the spread of the estimates; clustering by person fixes it."""
    rng = np.random.default_rng(11)
    est, se_cl, se_iid = [], [], []
    for _ in range(80):  # 80 replications, each with 60 control persons in 6 cells
        df = _recurring_controls(rng, n_t=150, n_c=60, cells=6, person_sd=3.0)
        r = matching.match(df, "d", "y", ["x"], k=4, exact="cell", cluster="pid").estimates.iloc[0]
        r0 = matching.match(df, "d", "y", ["x"], k=4, exact="cell").estimates.iloc[0]
        assert r.estimate == r0.estimate
        est.append(r.estimate), se_cl.append(r.std_error), se_iid.append(r0.std_error)
    sd = np.std(est, ddof=1)
    assert 0.85 < np.mean(se_cl) / sd < 1.25, (np.mean(se_cl), sd)
    assert np.mean(se_iid) / sd < 0.85, (np.mean(se_iid), sd)


def test_bias_adjustment_removes_the_bias_of_coarse_matches():
    """Abadie-Imbens (2011) bias correction: with few controls and a steep linear outcome,
    1:1 matches leave covariate gaps that bias the ATT; the regression correction removes it."""
    rng = np.random.default_rng(3)
    n1, n0 = 400, 400
    x = np.concatenate([rng.normal(1.0, 1.0, n1), rng.normal(0.0, 1.0, n0)])
    d = np.concatenate([np.ones(n1), np.zeros(n0)])
    y = 5.0 * x + 2.0 * d + rng.normal(scale=0.1, size=n1 + n0)
    df = pd.DataFrame({"d": d, "x": x, "y": y})
    raw = matching.match(df, "d", "y", ["x"], k=1, method="mahalanobis").estimates.iloc[0]
    adj = matching.match(df, "d", "y", ["x"], k=1, method="mahalanobis", bias_adjust=True).estimates.iloc[0]
    assert abs(adj.estimate - 2.0) < 0.02
    assert abs(raw.estimate - 2.0) > 5 * abs(adj.estimate - 2.0)


def test_radix_argsort_is_numpys_stable_argsort():
    rng = np.random.default_rng(11)
    v = rng.normal(size=120_000) * 10.0 ** rng.integers(-300, 300, 120_000)
    v[:2000] = np.round(v[:2000], 0)  # many exact ties (and zeros of both signs)
    v[2000:2100] = -0.0
    v[2100:2110] = [np.inf, -np.inf] * 5
    got = nn.argsort_stable(v)
    assert np.array_equal(got, np.argsort(v, kind="stable"))
    e = 1 / (1 + np.exp(-rng.normal(size=200_000)))  # scores in (0, 1)
    assert np.array_equal(nn.argsort_stable(e), np.argsort(e, kind="stable"))


def test_column_statistics_and_fused_logit_against_plain_numpy():
    from impact.estimators.matching._colstats import column_stats
    from impact.estimators.matching.balance import balance_table

    rng = np.random.default_rng(5)
    n = 30_000
    x = np.column_stack([rng.normal(50.0, 2.0, n), rng.integers(0, 4, n).astype(float), rng.random(n) < 0.3])
    d = rng.random(n) < 1 / (1 + np.exp(-(-1.0 + 0.3 * (x[:, 0] - 50) + 0.2 * x[:, 1])))
    st = column_stats(x, d)
    for g, m in ((1, d), (0, ~d)):
        assert np.allclose(st.mean_g[g], x[m].mean(axis=0), rtol=1e-13)
        assert np.allclose(st.var_g()[g], x[m].var(axis=0, ddof=1), rtol=1e-11)
        assert np.array_equal(st.lo_g[g], x[m].min(axis=0)) and np.array_equal(st.hi_g[g], x[m].max(axis=0))
    assert st.levels[0] is None and st.levels[1].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert st.level_counts[1].sum() == n and st.binary.tolist() == [False, False, True]
    # the one-pass logit (C- or Fortran-ordered input) is the MLE: the score equations hold
    for xx in (x, np.asfortranarray(x)):
        ps = matching.fit_logit(xx, d, ["a", "b", "c"])
        X = ps.design
        assert np.abs(X.T @ (d - ps.score)).max() < 1e-8 * n
        assert np.allclose(ps.information, (X * (ps.score * (1 - ps.score))[:, None]).T @ X / n, rtol=1e-10)
        assert np.allclose(ps.design_t_dot(d - 0.5), X.T @ (d - 0.5))
    # balance from the statistics equals the plain weighted formulas
    w = np.where(d, 1.0, rng.integers(0, 3, n).astype(float))
    bal = balance_table(x, d, ["a", "b", "c"], weights=w)
    m0 = (w[~d, None] * x[~d]).sum(axis=0) / w[~d].sum()
    assert np.allclose(bal.mean_control_after, m0, rtol=1e-12)
    assert np.allclose(bal.mean_treated_before, x[d].mean(axis=0), rtol=1e-13)
    assert bal.type.tolist() == ["continuous", "continuous", "binary"]


def test_separation_by_a_middle_level_of_a_discrete_covariate_is_named():
    rng = np.random.default_rng(2)
    n = 3000
    lev = rng.integers(0, 3, n).astype(float)
    d = rng.random(n) < 0.3
    lev[d & (lev == 1)] = 0.0  # level 1 only among controls
    df = pd.DataFrame({"d": d.astype(float), "y": rng.normal(size=n), "x": rng.normal(size=n), "lev": lev})
    with pytest.raises(DesignError, match=r"perfect separation.*lev=1 \(quasi-complete: only controls"):
        matching.match(df, "d", "y", ["x", "lev"])
