"""Nearest-neighbour matching estimators of the ATT, ATC and ATE.

Estimand (ATT, the default): ``E[Y(1) - Y(0) | D = 1]``, estimated by
``(1/N1) sum_{i: D=1} (Y_i - sum_j w_ij Y_j)`` where ``w_ij`` spreads weight equally over
the matched controls of treated unit ``i`` (its k nearest, all ties kept by default).
ATC swaps the roles; ATE averages the imputed ``Y(1) - Y(0)`` over everyone.

Standard errors (``vce="ai"``, default, as Stata ``teffects`` and R ``Matching``): Abadie
and Imbens (2006) for the population estimand, ties entering through ``K_j`` (weighted times
used) and ``K'_j`` (sum of squared weights), with the conditional variance of each unit the
sample variance of its outcome and those of its ``J`` nearest units of the same group (ties
kept; Stata ``vce(robust, nn(J))``, R ``Var.calc=J``); when matching on an estimated logit
score (with replacement, no exact cells), the Abadie and Imbens (2016) adjustment for the
first-step estimation is added as Stata ``teffects psmatch`` computes it (for the ATT and ATC
its derivative term needs the other group's outcome at each unit's covariates: a
nearest-neighbour search on the covariates, the costliest step at scale).
``vce="ai2006"``: the same with the conditional variance of Abadie and Imbens (2006,
eq. 14), ``J/(J+1) (Y_i - mean of the J neighbours)^2``.
``sample_se=True`` adds ``std_error_sample``, the standard error of the *sample* effect (the
average of ``Y(1) - Y(0)`` over exactly the matched focal units, what a simulation's truth is):
``(1/N1^2) [sum_i sigma0^2(X_i) + sum_j K_j^2 sigma^2(X_j)]`` for the ATT (:func:`_sample_variance`).
``vce="bootstrap"`` resamples clusters (persons: the same person may appear as a control in
several risk sets), re-fits the score and re-matches in every draw.

Bias correction (``bias_adjust``, Abadie and Imbens 2011, as Stata ``biasadj()`` and R
``BiasAdjust=TRUE``): each imputed outcome is moved by ``beta_w' (X_i - X_j)`` with ``beta_w``
the least-squares slope of Y on the adjustment covariates among the units of group ``w``
that serve as matches, weighted by the number of times each is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from impact.errors import DesignError, EstimationError
from impact.estimators.inference import normal_ci, p_value, z_critical
from impact.estimators.matching import nn
from impact.estimators.matching._input import Prepared, numeric_column, prepare, to_polars
from impact.estimators.matching.balance import balance_table, effective_sample_size
from impact.estimators.matching.propensity import PropensityModel, fit_propensity
from impact.estimators.matching.results import MatchingResults
from impact.estimators.matching.support import check_overlap, overlap_summary, trim_mask
from impact.estimators.results import tidy_estimates

ESTIMAND_NOTES = {
    "ATT": "average effect on the treated, E[Y(1) - Y(0) | D = 1]",
    "ATC": "average effect on the untreated (controls), E[Y(1) - Y(0) | D = 0]",
    "ATE": "average effect in the whole sample, E[Y(1) - Y(0)]",
}


@dataclass
class _Spec:
    method: str
    k: int
    replace: bool
    ties: str
    caliper: float | None
    distance: str
    var_neighbours: int


@dataclass
class _Fit:
    """Matching on one sample: matches in both directions that the estimand needs."""

    att: nn.Matches | None  # focal = treated rows, pool = control rows (global indices)
    atc: nn.Matches | None
    metric: np.ndarray  # (n,) scalar score used for matching, or (n, q) whitened covariates
    caliper_abs: float | None


@dataclass
class _RunMatches:
    """Matched sets of a 1-d match with replacement and all ties, kept as runs of the sorted
    pool (:class:`nn.Runs`): imputations and match counts come from prefix sums, without
    expanding the (focal, pool) pairs. Indices ``focal`` and ``pool`` are global rows."""

    runs: nn.Runs
    focal: np.ndarray
    pool: np.ndarray
    n: int
    _used: tuple | None = None

    @property
    def n_matched(self) -> np.ndarray:
        nm = np.zeros(self.n, np.int64)
        nm[self.focal] = self.runs.counts
        return nm

    def sums(self, v: np.ndarray) -> np.ndarray:
        """Sum of ``v`` (global rows) over each focal unit's matched set, in ``focal`` order."""
        return self.runs.run_sums(v[self.pool])


# --------------------------------------------------------------------------------------
# matching in one direction
# --------------------------------------------------------------------------------------


def _to_global(m: nn.Matches, fidx: np.ndarray, pidx: np.ndarray, n: int) -> nn.Matches:
    nm = np.zeros(n, np.int64)
    nm[fidx] = m.n_matched
    return nn.Matches(fidx[m.focal], pidx[m.pool], m.weight, nm, m.distance)


def _reweight(m: nn.Matches, keep: np.ndarray, n: int) -> nn.Matches:
    f, p, dist = m.focal[keep], m.pool[keep], m.distance[keep]
    cnt = np.bincount(f, minlength=n)
    return nn.Matches(f, p, 1.0 / cnt[f], cnt, dist)


def _direction(
    focal: np.ndarray, pool: np.ndarray, metric: np.ndarray, strata: np.ndarray | None, spec: _Spec,
    caliper_abs: float | None, logit: np.ndarray | None, logit_width: float | None, k: int | None = None,
    ties: str | None = None, replace: bool | None = None,
) -> nn.Matches:
    """Match ``focal`` rows to ``pool`` rows (global index arrays)."""
    n = len(metric)
    k = spec.k if k is None else k
    ties = spec.ties if ties is None else ties
    replace = spec.replace if replace is None else replace
    fs = None if strata is None else strata[focal]
    ps = None if strata is None else strata[pool]
    if metric.ndim == 1 and replace and ties == "all" and logit_width is None:
        r = nn.knn_1d_runs(metric[focal], metric[pool], k=k, caliper=caliper_abs, fstrat=fs, pstrat=ps)
        return _RunMatches(r, focal, pool, n)
    if metric.ndim == 1:
        if replace:
            m = nn.knn_1d(metric[focal], metric[pool], k=k, ties=ties, caliper=caliper_abs, fstrat=fs, pstrat=ps)
        else:
            m = nn.knn_1d_without(metric[focal], metric[pool], k=k, caliper=caliper_abs, fstrat=fs, pstrat=ps)
    else:
        m = nn.knn_maha(metric[focal], metric[pool], k=k, ties=ties, caliper=caliper_abs, fstrat=fs, pstrat=ps,
                        replace=replace)
    g = _to_global(m, focal, pool, n)
    if logit_width is not None and logit is not None:  # caliper on the logit score while matching on the score
        keep = np.abs(logit[g.focal] - logit[g.pool]) <= logit_width
        if not keep.all():
            g = _reweight(g, keep, n)
    return g


def _match_sample(d: np.ndarray, metric: np.ndarray, strata, spec: _Spec, estimand: str, logit, logit_width,
                  caliper_abs, both: bool = False, order: np.ndarray | None = None) -> _Fit:
    if metric.ndim == 1:  # index arrays in score order: the matcher then never sorts
        order = np.argsort(metric, kind="stable") if order is None else order
        t_idx, c_idx = order[d[order]], order[~d[order]]
    else:
        t_idx, c_idx = np.flatnonzero(d), np.flatnonzero(~d)
    att = atc = None
    if estimand in ("ATT", "ATE") or both:
        att = _direction(t_idx, c_idx, metric, strata, spec, caliper_abs, logit, logit_width)
    if estimand in ("ATC", "ATE") or both:
        atc = _direction(c_idx, t_idx, metric, strata, spec, caliper_abs, logit, logit_width)
    return _Fit(att, atc, metric, caliper_abs)


# --------------------------------------------------------------------------------------
# point estimates and Abadie-Imbens variance
# --------------------------------------------------------------------------------------


def _impute(m, y: np.ndarray) -> np.ndarray:
    """sum_j w_ij y_j for every row (0 where unmatched), for each outcome column."""
    n = len(m.n_matched)
    if isinstance(m, _RunMatches):
        out = np.zeros((n, y.shape[1]))
        cnt = m.runs.counts
        ok = cnt > 0
        out[m.focal[ok]] = m.sums(y)[ok] / cnt[ok, None]
        return out
    return np.column_stack([np.bincount(m.focal, weights=m.weight * y[m.pool, j], minlength=n) for j in range(y.shape[1])])


def _used(m, n: int) -> tuple[np.ndarray, np.ndarray]:
    """K (weighted number of times each row is used as a match) and K' (sum of squared weights)."""
    if isinstance(m, _RunMatches):
        if m._used is None:  # needed several times (variance, weights, balance): computed once
            K, K2 = np.zeros(n), np.zeros(n)
            K[m.pool] = m.runs.used(len(m.pool))
            K2[m.pool] = m.runs.used(len(m.pool), power=2)
            m._used = (K, K2)
        return m._used
    return np.bincount(m.pool, weights=m.weight, minlength=n), np.bincount(m.pool, weights=m.weight**2, minlength=n)


def _bias_term(m, d_pool: np.ndarray, y: np.ndarray, x: np.ndarray, n: int) -> np.ndarray:
    """Abadie and Imbens (2011) bias correction of the imputed outcomes of the focal rows:
    ``beta' (X_i - sum_j w_ij X_j)`` with ``beta`` from a linear regression of Y on X among
    the rows of the pool group, weighted by the number of times each is used (K)."""
    K = _used(m, n)[0]
    g = d_pool & (K > 0)
    Z = np.column_stack([np.ones(int(g.sum())), x[g]])
    sw = np.sqrt(K[g])
    beta = np.linalg.lstsq(Z * sw[:, None], y[g] * sw[:, None], rcond=None)[0][1:]
    xm = _impute(m, x)
    return (x - xm) @ beta


def _unit_effects(fit: _Fit, d: np.ndarray, y: np.ndarray, estimand: str, x: np.ndarray | None = None):
    """Imputed Y(1), Y(0), the rows that count for the estimand, and the estimate; with ``x``
    the imputations get the Abadie-Imbens (2011) regression bias correction."""
    n = len(d)
    y1 = np.where(d[:, None], y, np.nan)
    y0 = np.where(~d[:, None], y, np.nan)
    if fit.att is not None:
        imp = _impute(fit.att, y)
        if x is not None:
            imp = imp + _bias_term(fit.att, ~d, y, x, n)
        y0 = np.where(d[:, None], imp, y0)
    if fit.atc is not None:
        imp = _impute(fit.atc, y)
        if x is not None:
            imp = imp + _bias_term(fit.atc, d, y, x, n)
        y1 = np.where(~d[:, None], imp, y1)
    matched = np.zeros(n, bool)
    if fit.att is not None:
        matched |= d & (fit.att.n_matched > 0)
    if fit.atc is not None:
        matched |= ~d & (fit.atc.n_matched > 0)
    if estimand == "ATT":
        rows = d & matched
    elif estimand == "ATC":
        rows = ~d & matched
    else:
        rows = matched
    if not rows.any():
        raise DesignError(f"no unit could be matched for the {estimand} (caliper too narrow or no overlap)")
    tau_i = y1 - y0
    return y1, y0, rows, tau_i[rows].mean(axis=0)


def _local_moments(todo: np.ndarray, pool: np.ndarray, metric, strata, spec: _Spec, k: int, yc: np.ndarray, n: int):
    """Count, sum and sum of squares of ``yc`` over the ``k`` rows of ``pool`` nearest to each row of
    ``todo`` (within its cell of ``strata`` when given; all rows tied with the k-th kept), in ``todo`` order."""
    sub = _Spec(spec.method, k, True, "all", None, spec.distance, spec.var_neighbours)
    m = _direction(todo, pool, metric, strata, sub, None, None, None, k=k, ties="all", replace=True)
    if isinstance(m, _RunMatches):
        return m.runs.counts.astype(float), m.sums(yc), m.sums(yc**2)
    cnt = np.bincount(m.focal, minlength=n).astype(float)[todo]
    s1 = np.column_stack([np.bincount(m.focal, weights=yc[m.pool, j], minlength=n)[todo] for j in range(yc.shape[1])])
    s2 = np.column_stack([np.bincount(m.focal, weights=yc[m.pool, j] ** 2, minlength=n)[todo]
                          for j in range(yc.shape[1])])
    return cnt, s1, s2


def _same_group_variance(d, y, metric, strata, spec: _Spec, need: np.ndarray | None = None,
                         resid: np.ndarray | None = None, order: np.ndarray | None = None,
                         formula: str = "sample", other: bool = False) -> np.ndarray:
    """Conditional variance of Y at each row from its J nearest rows of the same group
    (self excluded when finding them; all rows tied with the J-th kept).

    ``formula="sample"`` (``vce="ai"``; Stata ``teffects`` ``vce(robust, nn(J))`` and R ``Matching``
    ``Var.calc=J``): the sample variance (divisor count - 1) of the row's outcome together
    with its neighbours' outcomes. ``formula="mean_dev"`` (``vce="ai2006"``; Abadie and Imbens 2006, eq. 14):
    ``J_i/(J_i+1) (Y_i - mean of the neighbours)^2``. Only rows in ``need`` (default all)
    are computed; the others are 0. When ``resid`` is given (an (n, m) array of zeros) it
    receives ``Y_i - mean of the neighbours`` (used by the cluster covariance).

    ``other=True``: the variance of the row's *missing* potential outcome instead, the sample
    variance of the outcomes of the J + 1 rows of the other group nearest to it (ties kept),
    the same number of outcomes as the estimate for a row of that group (``formula`` and
    ``resid`` do not apply). Both look within the row's exact cell first and in its whole
    group where the cell has fewer than two rows to use.
    """
    n = len(d)
    J = spec.var_neighbours
    s2 = np.full((n, y.shape[1]), np.nan)
    need = np.ones(n, bool) if need is None else need
    if order is None:
        order = np.argsort(metric, kind="stable") if metric.ndim == 1 else np.arange(n)
    yc = y - y.mean(axis=0)  # (centred: the sums of squares below lose no digits)
    for g in (d, ~d):  # two groups
        mine = order[g[order]]
        idx = order[~g[order]] if other else mine
        if len(idx) < 2 or not need[mine].any():
            continue
        for st in ([strata, None] if strata is not None else [None]):
            todo = mine[np.isnan(s2[mine, 0]) & need[mine]]
            if not len(todo):
                break
            # the J + 1 nearest rows of the group with all ties: the row itself (distance 0) and
            # its J nearest others (other=True: the J + 1 nearest of the other group)
            cnt, s1, s2_ = _local_moments(todo, idx, metric, st, spec, J + 1, yc, n)
            ok = cnt > 1  # the row and at least one neighbour (other=True: two rows of the other group)
            c = cnt[ok, None]
            if other or formula == "sample":
                s2[todo[ok]] = np.maximum(s2_[ok] - s1[ok] ** 2 / c, 0.0) / (c - 1)
                if other:
                    continue
            dev = yc[todo[ok]] - (s1[ok] - yc[todo[ok]]) / (c - 1)  # Y_i - mean of the neighbours
            if formula != "sample":
                s2[todo[ok]] = (c - 1) / c * dev**2
            if resid is not None:
                resid[todo[ok]] = dev
    return np.nan_to_num(s2, nan=0.0)


def _ai_variance(fit: _Fit, d, y, rows, y1, y0, tau, s2, estimand) -> np.ndarray:
    n = len(d)
    tau_i = (y1 - y0)[rows] - tau
    if estimand == "ATT":
        K, K2 = _used(fit.att, n)
        extra = (K**2 - K2)[:, None] * s2
        nf = rows.sum()
    elif estimand == "ATC":
        K, K2 = _used(fit.atc, n)
        extra = (K**2 - K2)[:, None] * s2
        nf = rows.sum()
    else:
        Ka, K2a = _used(fit.att, n)
        Kc, K2c = _used(fit.atc, n)
        K, K2 = Ka + Kc, K2a + K2c
        extra = np.where(rows, K**2 + 2 * K - K2, 0.0)[:, None] * s2
        nf = rows.sum()
    return ((tau_i**2).sum(axis=0) + extra.sum(axis=0)) / nf**2


def _times_used(fit: _Fit, n: int, estimand: str) -> np.ndarray:
    """K of every row: the weighted number of times it serves as a match for the estimand's focal rows."""
    if estimand == "ATT":
        return _used(fit.att, n)[0]
    if estimand == "ATC":
        return _used(fit.atc, n)[0]
    return _used(fit.att, n)[0] + _used(fit.atc, n)[0]


def _sample_variance(fit: _Fit, d, rows, s2, s2_miss, estimand) -> np.ndarray:
    """Variance of the estimate around the *sample* effect of its focal rows (``sample_se=True``),
    without the within-cluster covariances (:func:`_cluster_covariance` adds the same ones as to the
    population variance).

    ATT: the truth is ``(1/N1) sum_i (Y_i(1) - Y_i(0))`` over the matched treated rows, so
    ``tau_hat - tau_sample = (1/N1) [sum_i Y_i(0) - sum_j K_j Y_j]`` (their observed outcomes
    cancel): with independent rows and the matching bias ignored its variance is
    ``(1/N1^2) [sum_i sigma0^2(X_i) + sum_j K_j^2 sigma^2(X_j)]``, ``K_j`` the weighted number of
    times comparison row ``j`` is used. ``sigma0^2(X_i)`` (``s2_miss``) is the variance of the
    treated row's missing untreated outcome, estimated from the comparison rows nearest to it;
    ``sigma^2(X_j)`` (``s2``) as in the population variance. It has neither the heterogeneity of
    the effects nor the treated rows' own outcome variance, which the Abadie-Imbens population
    variance holds in its ``(Y_i - Yhat0_i - tau)^2`` terms. ATC: the roles swapped; ATE: every
    matched row contributes its missing outcome's variance, every row used as a match ``K^2 sigma^2``.
    """
    n = len(d)
    K = _times_used(fit, n, estimand)
    nf = rows.sum()
    return (np.where(rows[:, None], s2_miss, 0.0).sum(axis=0) + ((K**2)[:, None] * s2).sum(axis=0)) / nf**2


def _cluster_covariance(fit: _Fit, d, y, rows, y1, y0, tau, resid, cl, estimand) -> np.ndarray:
    """Within-cluster covariances missing from the Abadie-Imbens variance when units of
    one cluster (a person) appear in several rows (risk sets).

    The estimator is linear in the outcomes: ``tau_hat - tau = (1/N) sum_r psi_r`` with
    ``psi_r = Y_r - Y0_hat_r - tau`` for a focal row (ATT) and ``-K_r e_r`` for a control
    used ``K_r`` times as a match (``e_r`` its deviation from the conditional mean, estimated
    by ``Y_r`` minus the mean of its nearest rows of the same group, unbiased for
    covariances between rows). The Abadie-Imbens variance holds the squares; this adds
    ``(1/N^2) sum_c [(sum_{r in c} psi_r)^2 - sum_{r in c} psi_r^2]``.
    """
    n = len(d)
    _, g = np.unique(np.asarray(cl), return_inverse=True)
    g = g.ravel()
    K = _times_used(fit, n, estimand)
    # a control used as a match enters with -K (ATT), a treated unit with +K (ATC)
    psi = np.where(rows[:, None], (y1 - y0) - tau, 0.0) + (np.where(d, 1.0, -1.0) * K)[:, None] * resid
    nf = rows.sum()
    out = np.empty(y.shape[1])
    for j in range(y.shape[1]):  # a handful of outcomes
        s = np.bincount(g, weights=psi[:, j])
        out[j] = ((s**2).sum() - (psi[:, j] ** 2).sum()) / nf**2
    return out


def _ps_adjustment(ps: PropensityModel, d, y, tau, estimand, spec: _Spec, L: int,
                   order: np.ndarray | None = None, derivative: str = "covariates") -> np.ndarray:
    """Abadie and Imbens (2016) adjustment of the variance for an estimated logit score, as
    Stata ``teffects psmatch`` computes it (manual entry ``teffects nnmatch``, Methods and
    formulas, "PSM, ATE, and ATET variance adjustment").

    ATE (Theorem 1): ``- c' I^-1 c / N`` with
    ``c = (1/N) sum_i f_i [cov_i(X, Y | 1) / e_i + cov_i(X, Y | 0) / (1 - e_i)]``, ``f = e (1 - e)``,
    ``I`` the average logit information and ``cov_i(X, Y | w)`` the sample covariance over the
    ``L`` units of group ``w`` nearest to unit ``i`` on the score (unit ``i`` itself counting
    as one of its own group's; ties kept).

    ATT (Theorem 2): ``(- c_t' I^-1 c_t + g' I^-1 g) / N`` with, over all units ``i``,

    * ``c_t = (1/N1) sum_i X_i f_i (ytilde1_i - ytilde0_i - tau_t)
      + (1/N1) sum_i [f_i cov_i(X, Y | 1) + e_i^2 cov_i(X, Y | 0)]``, ``ytilde_w`` the mean
      outcome of the ``L`` units of group ``w`` nearest on the score (the unit itself excluded);
    * ``g = (1/N1) sum_i X_i f_i ((2 D_i - 1)(Y_i - ybar_i) - tau_t)``, the derivative of the
      ATT with respect to the logit coefficients, ``ybar_i`` the mean outcome of the ``spec.k``
      units of the other group nearest to ``i`` in the logit's covariates by Euclidean
      distance on the unscaled covariates (ties kept), as Stata: the derivative needs
      ``E[Y(w) | X]`` at the covariates, not given the score.

    ``derivative="score"`` (``vce="ai-score"``) estimates the same derivative without the
    search on the covariates, from its decomposition given the score,
    ``g = (1/N1) sum_i f_i [X_i (ytilde1_i - ytilde0_i - tau_t) + cov_i(X, Y | 1) - cov_i(X, Y | 0)]``
    (the local means and covariances of ``c_t``): consistent for the same quantity, not Stata's number.

    ATC: the ATT with the labels swapped (score ``1 - e``). ``order`` sorts the score.
    """
    n = len(d)
    e = ps.score
    f = e * (1 - e)
    if ps.information is not None:
        info = ps.information
    else:
        X = ps.design
        info = (X * f[:, None]).T @ X / n
    try:
        info_inv = np.linalg.inv(info)
    except np.linalg.LinAlgError as exc:
        raise EstimationError("singular logit information in the Abadie-Imbens (2016) adjustment") from exc
    # c = sum_i v_i cov_i(X, Y | e, group) over all units i, with the local covariances from
    # the L nearest units of the group. Those form a run of the group's sorted scores, so
    # sum_i a_i (sum over i's run of V) = V' coverage(a): one matrix-vector product per
    # group and outcome, no per-unit covariance matrices. X and Y are centred first.
    order = np.argsort(e, kind="stable") if order is None else order
    es, fs = e[order], f[order]
    yc = y - y.mean(axis=0)  # (centring Y is enough: cov(X, Y) = E[X Yc] - E[X] E[Yc])
    n1, n0 = d.sum(), (~d).sum()
    if estimand == "ATE":
        v = {1: fs / es / n, 0: fs / (1 - es) / n}
    elif estimand == "ATT":
        v = {1: fs / n1, 0: fs * es / (1 - es) / n1}
    else:  # ATC: the ATT with the labels swapped (score 1 - e, sign of the effect flipped)
        v = {1: fs * (1 - es) / es / n0, 0: fs / n0}
    sign, nf = (1.0, n1) if estimand == "ATT" else (-1.0, n0)
    vs = [v] if estimand == "ATE" or derivative != "score" else [v, {1: fs / nf, 0: -fs / nf}]
    # per row r of either group: u_r = Yc_r * coverage(a)_r - coverage(a * ybar)_r, so that
    # c = X' u is one matrix-vector product over all rows (one u per set of weights v)
    us = [np.zeros((n, y.shape[1])) for _ in vs]
    ytil = {}  # (ATT, ATC) local mean outcome of each group around every unit, the unit left out
    for w, g in ((1, d), (0, ~d)):
        pool = order[g[order]]
        runs = nn.knn_1d_runs(es, e[pool], k=L)
        cnt = runs.counts.astype(float)
        inv = 1.0 / np.maximum(cnt, 1)
        psort = pool[runs.order]  # (runs.order is the identity here: the pool is already sorted)
        ybar = runs.run_sums(yc[pool]) * inv[:, None]
        for v_, u in zip(vs, us):
            a = v_[w] * cnt / np.maximum(cnt - 1, 1) * inv  # v_i * (small-sample factor) / count
            cov_a = runs.coverage(a)
            for j in range(y.shape[1]):
                u[psort, j] = yc[psort, j] * cov_a - runs.coverage(a * ybar[:, j])
        if estimand != "ATE":
            ytil[w] = np.empty_like(yc)
            ytil[w][order] = ybar
            # a unit of the group: its L nearest others (the L + 1 nearest with itself, less itself)
            own = nn.knn_1d_runs(e[pool], e[pool], k=L + 1)
            c_own = own.counts.astype(float)[:, None]
            ytil[w][pool] = (own.run_sums(yc[pool]) - yc[pool]) / np.maximum(c_own - 1, 1)
    m = y.shape[1]
    if estimand == "ATE":
        c = ps.design_t_dot(us[0]).T  # X' u, X = [1, covariates]
        return np.array([-c[j] @ info_inv @ c[j] / n for j in range(m)])
    local = f[:, None] * (ytil[1] - ytil[0] - tau)
    if derivative == "score":
        xt = ps.design_t_dot(np.concatenate([us[0], local, us[1]], axis=1))
        c = xt[:, :m].T + sign * xt[:, m:2 * m].T / nf
        grs = sign * (xt[:, m:2 * m].T / nf + xt[:, 2 * m:].T)
    else:
        # outcome of the other group at each unit's covariates: nearest units on the covariates
        ybar_x = np.empty_like(yc)
        ybar_x[d] = nn.knn_means(ps.x[d], ps.x[~d], yc[~d], k=spec.k)
        ybar_x[~d] = nn.knn_means(ps.x[~d], ps.x[d], yc[d], k=spec.k)
        t_sign = np.where(d, 1.0, -1.0)[:, None]
        # X' [u, f (ytilde1 - ytilde0 - tau), f (+-(Y - ybar_x) - tau)] in one pass over the covariates
        xt = ps.design_t_dot(np.concatenate([us[0], local, f[:, None] * (t_sign * (yc - ybar_x) - tau)], axis=1))
        c = xt[:, :m].T + sign * xt[:, m:2 * m].T / nf
        grs = sign * xt[:, 2 * m:].T / nf
    return np.array([(-c[j] @ info_inv @ c[j] + grs[j] @ info_inv @ grs[j]) / n for j in range(m)])


# --------------------------------------------------------------------------------------
# the public function
# --------------------------------------------------------------------------------------


def _score_and_metric(prep: Prepared, keep, method, ps_model, propensity, distance):
    full = bool(keep.all())  # no trimming: no copies of the covariates
    d, x = (prep.d, prep.x) if full else (prep.d[keep], prep.x[keep])
    stats = prep.stats if full else None
    ps = None
    if propensity is not None:
        e = np.asarray(propensity, dtype=float)[keep]
        if np.any((e <= 0) | (e >= 1)) or not np.isfinite(e).all():
            raise DesignError("a given propensity score must lie strictly between 0 and 1 and have no missing values")
        score, lin = e, np.log(e / (1 - e))
    elif method == "propensity":
        if x.shape[1] == 0:
            raise DesignError("propensity-score matching needs covariates (or a given score)")
        ps = fit_propensity(x, d, prep.covariates, ps_model, stats=stats)
        score, lin = ps.score, ps.linear
    else:  # Mahalanobis: a score only for the overlap diagnostics, if one can be fitted
        try:
            ps = fit_propensity(x, d, prep.covariates, ps_model, stats=stats)
            score, lin = ps.score, ps.linear
        except (DesignError, EstimationError):
            ps, score, lin = None, None, None
    if method == "propensity":
        metric = score if distance == "score" else lin
    elif method == "mahalanobis":
        if x.shape[1] == 0:
            raise DesignError("Mahalanobis matching needs covariates")
        metric = nn.whiten(x, prep.covariates)
    else:
        raise DesignError(f"method must be 'propensity' or 'mahalanobis', got {method!r}")
    return ps, score, lin, metric


def match(
    data: Any,
    treatment: str,
    outcome: str | Sequence[str],
    covariates: Sequence[str],
    method: str = "propensity",
    k: int = 1,
    replace: bool = True,
    caliper: float | None = None,
    exact: str | Sequence[str] | None = None,
    estimand: str = "ATT",
    ties: str = "all",
    trim: Any = None,
    refit: bool = False,
    distance: str = "score",
    ps_model: str = "logit",
    propensity: str | np.ndarray | None = None,
    vce: str | None = "ai",
    var_neighbours: int | None = None,
    ps_adjust: bool = True,
    cluster: str | None = None,
    n_boot: int = 199,
    seed: int | None = 0,
    level: float = 0.95,
    horizons: dict[str, Any] | None = None,
    s_d_denom: str | None = None,
    bias_adjust: bool | Sequence[str] = False,
    diagnostics: bool = True,
    sample_se: bool = False,
) -> MatchingResults:
    """Nearest-neighbour matching estimate of the ATT (default), ATC or ATE.

    Parameters
    ----------
    data
        pandas or polars DataFrame, one row per unit (or per unit and risk set).
    treatment, outcome, covariates
        Column names; ``outcome`` may be a list (all outcomes share one matching).
    method
        ``"propensity"`` (nearest neighbours on the score; ``distance="score"`` as Stata
        ``teffects psmatch`` or ``"logit"``) or ``"mahalanobis"`` (on the covariates).
    k, replace, ties
        Number of neighbours; with/without replacement (without: greedy, largest score
        first, ties ignored); ``"all"`` keeps every control tied with the k-th nearest.
    caliper
        Propensity matching: maximum distance in standard deviations of the logit score;
        Mahalanobis matching: maximum Mahalanobis distance. Unmatched focal units are
        dropped (the estimand becomes the effect on the matched; see ``notes``).
    exact
        Column(s) defining cells within which matching is exact.
    estimand
        ``"ATT"``, ``"ATC"`` or ``"ATE"``.
    trim, refit
        Common-support trimming (``None``, ``"minmax"``, ``"crump"``, ``(lo, hi)``) on the
        score; ``refit=True`` re-estimates the score on the trimmed sample.
    propensity
        A column (or array) with a known or externally estimated score instead of the logit.
    vce
        ``"ai"`` (Abadie-Imbens with the conditional variance of Stata ``teffects`` and R
        ``Matching``: the sample variance of a unit and its ``var_neighbours`` nearest units
        of the same group), ``"ai2006"`` (Abadie-Imbens with the conditional variance of their
        2006 paper, eq. 14), ``"bootstrap"`` (clusters from ``cluster``, re-matching) or ``None``
        (point estimates only: no standard errors, as the refutation's re-fits use it).
        With an estimated logit score both Abadie-Imbens variants add the Abadie and Imbens
        (2016) adjustment as Stata ``teffects psmatch`` computes it (unless ``ps_adjust=False``);
        for the ATT/ATC its derivative term needs a nearest-neighbour search on the covariates,
        slow with many continuous covariates and many rows. ``"ai-score"``: as ``"ai"`` but
        that derivative estimated from local means and covariances given the score (no search
        on the covariates; consistent for the same quantity, not Stata's number).
        With ``cluster`` (e.g. persons recurring across risk sets) the Abadie-Imbens variance
        adds the within-cluster covariances of the linearised estimator.
    var_neighbours
        ``J`` of the conditional variance (Stata ``vce(robust, nn(J))``). Default: Stata's
        defaults, 2 for Mahalanobis matching (``teffects nnmatch``) and 1 for propensity-score
        matching (``teffects psmatch``: the unit and one other), with which the estimated-score
        adjustment uses the unit and its ``J`` nearest units of each group.
    bias_adjust
        Abadie and Imbens (2011) bias correction of the imputed outcomes by a linear
        regression on covariates among the units used as matches (weighted by the times
        used): ``True`` adjusts on the matching covariates, a list of columns on those
        (Stata ``biasadj(varlist)``, R ``Match(Z=...)``). No Abadie-Imbens (2016) score
        adjustment then.
    diagnostics
        ``False``: no balance table and no overlap summary (the estimates are the same).
    sample_se
        Also a standard error for the *sample* effect, the average of ``Y(1) - Y(0)`` over
        exactly the focal units matched (what a simulation's truth is), in the column
        ``std_error_sample``; the published ``std_error`` (the population estimand's) is unchanged.
        ATT: ``tau_hat - tau_sample = (1/N1) [sum_i Y_i(0) - sum_j K_j Y_j]``, variance
        ``V_s = (1/N1^2) [sum_i sigma0^2(X_i) + sum_j K_j^2 sigma^2(X_j)]`` plus the same
        within-cluster covariances as the population variance (``K_j``: weighted times comparison
        unit ``j`` is used). ``sigma0^2(X_i)`` of a treated unit is the sample variance of the
        outcomes of its ``var_neighbours + 1`` nearest comparison units (ties kept, within its exact
        cell), ``sigma^2(X_j)`` as in ``vce``. The population variance has instead
        ``sum_i (Y_i - Yhat0_i - tau)^2 + sum_j (K_j^2 - K'_j) sigma^2(X_j)``, which adds the treated
        units' own outcome variance and the heterogeneity of their effects. Abadie-Imbens ``vce``
        only, and not with the 2016 estimated-score adjustment (then NaN, with a note).

    Returns
    -------
    MatchingResults
    """
    _check_options(estimand, k, distance)
    df = to_polars(data)
    prop_arr = None
    if isinstance(propensity, str):
        prop_arr = numeric_column(df, propensity, "propensity score")
    elif propensity is not None:
        prop_arr = np.asarray(propensity, dtype=float)
    prep = prepare(df, treatment, outcome, covariates, exact=exact, cluster=cluster, horizon=horizons)
    res = match_prepared(prep, method=method, k=k, replace=replace, caliper=caliper, estimand=estimand, ties=ties,
                         trim=trim, refit=refit, distance=distance, ps_model=ps_model, propensity=prop_arr, vce=vce,
                         var_neighbours=var_neighbours, ps_adjust=ps_adjust, n_boot=n_boot, seed=seed, level=level,
                         s_d_denom=s_d_denom, bias_adjust=_bias_covariates(df, prep, bias_adjust),
                         diagnostics=diagnostics, sample_se=sample_se)
    res.info["exact"] = exact
    return res


def _check_options(estimand: str, k: int, distance: str) -> None:
    if estimand.upper() not in ESTIMAND_NOTES:
        raise DesignError(f"estimand must be ATT, ATC or ATE, got {estimand!r}")
    if k < 1:
        raise DesignError(f"k must be >= 1, got {k}")
    if distance not in ("score", "logit"):
        raise DesignError(f"distance must be 'score' or 'logit', got {distance!r}")


def match_prepared(
    prep: Prepared,
    *,
    method: str = "propensity",
    k: int = 1,
    replace: bool = True,
    caliper: float | None = None,
    estimand: str = "ATT",
    ties: str = "all",
    trim: Any = None,
    refit: bool = False,
    distance: str = "score",
    ps_model: str = "logit",
    propensity: np.ndarray | None = None,
    vce: str | None = "ai",
    var_neighbours: int | None = None,
    ps_adjust: bool = True,
    n_boot: int = 199,
    seed: int | None = 0,
    level: float = 0.95,
    s_d_denom: str | None = None,
    bias_adjust: bool | tuple[np.ndarray, list[str]] | None = False,
    diagnostics: bool = True,
    sample_se: bool = False,
) -> MatchingResults:
    """:func:`match` on the arrays of :func:`~impact.estimators.matching._input.prepare` (``prep``).

    Estimand and options as :func:`match` (its exact cells and cluster are ``prep``'s);
    ``propensity`` is an array (one score per row of ``prep``) and ``bias_adjust`` ``True``
    (the covariates) or the (n, q) array of the bias-correction covariates with their names.
    Re-estimations on altered samples (:meth:`Prepared.take`, :meth:`Prepared.with_treatment`,
    :meth:`Prepared.with_covariate`) use it without rebuilding the arrays from a table.
    """
    estimand = estimand.upper()
    _check_options(estimand, k, distance)
    prop_arr = None if propensity is None else np.asarray(propensity, dtype=float)
    cluster = prep.cluster_name
    if var_neighbours is None:
        var_neighbours = 1 if method == "propensity" else 2
    if int(var_neighbours) < 1:
        raise DesignError(f"var_neighbours must be >= 1, got {var_neighbours}")
    if vce not in ("ai", "ai-score", "ai2006", "bootstrap", None):
        raise DesignError(f"vce must be 'ai', 'ai-score', 'ai2006', 'bootstrap' or None, got {vce!r}")
    spec = _Spec(method, k, replace, ties, caliper, distance, int(var_neighbours))
    if not isinstance(bias_adjust, (bool, tuple)) and bias_adjust is not None:
        raise DesignError("match_prepared: bias_adjust must be True/False or an (array, names) pair")
    zb = bias_adjust if isinstance(bias_adjust, tuple) else _bias_covariates(None, prep, bias_adjust)
    notes: list[str] = []
    n_all = len(prep.d)
    keep = np.ones(n_all, bool)
    ps, score, lin, metric = _score_and_metric(prep, keep, method, ps_model, prop_arr, distance)
    trim_info: dict = {"rule": None}
    if trim is not None:
        if score is None:
            raise DesignError("trimming needs a propensity score")
        keep, trim_info = trim_mask(score, prep.d, trim)
        notes.append(f"trimmed by {trim_info['rule']}: dropped {trim_info['dropped_treated']} treated and "
                     f"{trim_info['dropped_controls']} controls outside [{trim_info['lower']:.4f}, {trim_info['upper']:.4f}]")
        if refit and prop_arr is None:
            ps, score, lin, metric = _score_and_metric(prep, keep, method, ps_model, None, distance)
        else:
            score, lin = score[keep], lin[keep]
            metric = metric[keep]
            if ps is not None:
                ps = _subset_ps(ps, keep)
    full = bool(keep.all())
    d, y = (prep.d, prep.y) if full else (prep.d[keep], prep.y[keep])
    xk = prep.x if full else prep.x[keep]
    strata = None if prep.strata is None else prep.strata[keep]
    cl = None if prep.cluster is None else prep.cluster[keep]
    if score is not None:
        check_overlap(score, d)
    _check_cells(d, strata, prep.strata_labels, estimand)
    logit_width = caliper_abs = None
    if caliper is not None:
        if method == "propensity":
            width = float(caliper) * float(np.std(lin, ddof=1))
            if distance == "logit":
                caliper_abs = width
            else:
                logit_width = width
        else:
            caliper_abs = float(caliper)
    if not replace and ties == "all":
        notes.append("matching without replacement is greedy (largest score first); ties are broken by sort order")
    adjust = (ps_adjust and vce != "bootstrap" and method == "propensity" and ps is not None and ps.kind == "logit"
              and replace and strata is None and prop_arr is None and zb is None)
    xb = None
    if zb is not None:
        xb = zb[0] if full else zb[0][keep]
        notes.append("imputed outcomes bias-corrected by a linear regression on " + ", ".join(zb[1])
                     + " (Abadie and Imbens 2011)")
    # one sort of the (1-d) metric serves every matching step below; the logit is monotone in
    # the score, so it also sorts the score for the 2016 adjustment
    order = nn.argsort_stable(metric) if metric.ndim == 1 else None
    fit = _match_sample(d, metric, strata, spec, estimand, lin, logit_width, caliper_abs, both=adjust, order=order)
    y1, y0, rows, tau = _unit_effects(fit, d, y, estimand, xb)
    n_focal = int(((d if estimand == "ATT" else ~d) if estimand != "ATE" else np.ones_like(d)).sum())
    if rows.sum() < n_focal:
        notes.append(f"{n_focal - int(rows.sum())} of {n_focal} focal units had no match within the caliper/cell and "
                     "are left out: the estimate is the effect on the matched units")
    if vce in ("ai", "ai-score", "ai2006"):
        # sigma^2 enters only through rows used as matches (K > 0)
        n_ = len(d)
        used = np.zeros(n_, bool)
        for m_ in (fit.att if estimand in ("ATT", "ATE") else None, fit.atc if estimand in ("ATC", "ATE") else None):
            if m_ is not None:
                used |= _used(m_, n_)[0] > 0
        resid = np.zeros_like(y) if cl is not None else None
        s2 = _same_group_variance(d, y, metric, strata, spec, need=used, resid=resid, order=order,
                                  formula="mean_dev" if vce == "ai2006" else "sample")
        var = _ai_variance(fit, d, y, rows, y1, y0, tau, s2, estimand)
        if sample_se:
            s2_miss = _same_group_variance(d, y, metric, strata, spec, need=rows, order=order, other=True)
            var_s = _sample_variance(fit, d, rows, s2, s2_miss, estimand)
        base = (f"Abadie-Imbens (2006), conditional variance from {spec.var_neighbours} same-group neighbour(s) "
                + ("(2006 paper, eq. 14)" if vce == "ai2006" else "(sample variance, as Stata teffects and R Matching)"))
        if cl is not None:
            cov_cl = _cluster_covariance(fit, d, y, rows, y1, y0, tau, resid, cl, estimand)
            var = var + cov_cl
            if sample_se:
                var_s = var_s + cov_cl
        if adjust:
            if rows.all() or estimand == "ATT" and rows[d].all() or estimand == "ATC" and rows[~d].all():
                by_score = vce == "ai-score" and estimand != "ATE"
                var = var + _ps_adjustment(ps, d, y, tau, estimand, spec, spec.var_neighbours + 1, order,
                                           derivative="score" if by_score else "covariates")
                if sample_se:  # derived for the population estimand; not carried over untested
                    var_s = np.full_like(var, np.nan)
                    notes.append("no sample-effect standard error (std_error_sample) with the Abadie-Imbens (2016) "
                                 "adjustment for an estimated score")
                vce_label = base + (" with the Abadie-Imbens (2016) adjustment for the estimated score"
                                    + ("; its derivative term from local means and covariances given the score "
                                       "(not Stata's estimate)" if by_score else ", as Stata teffects psmatch"))
            else:
                vce_label = base + "; no 2016 adjustment (some units unmatched)"
        else:
            vce_label = base + ("; score taken as known (no 2016 adjustment)" if method == "propensity" else "")
        if cl is not None:
            vce_label += f"; clustered by {cluster!r} (within-cluster covariances of the linearised estimator)"
        if np.any(var < 0):
            raise EstimationError("negative variance estimate after the estimated-score adjustment; use vce='bootstrap'")
        se = np.sqrt(var)
        # (within-person covariances can make it negative in a tiny sample: then none, and the truth check
        # falls back to the published interval)
        se_sample = np.sqrt(np.where(var_s < 0, np.nan, var_s)) if sample_se else None
        boot_info = {}
    elif vce == "bootstrap":
        se, boot_info = _bootstrap(prep, keep, cl, spec, estimand, ps_model, prop_arr, distance, caliper, n_boot, seed,
                                   None if zb is None else zb[0])
        vce_label = f"bootstrap ({boot_info['n_ok']} draws of {'clusters ' + repr(cluster) if cluster else 'units'})"
        notes.append("the bootstrap of nearest-neighbour matching with replacement can be inconsistent for fixed k "
                     "(Abadie and Imbens 2008); prefer k >= 5 or vce='ai' for unit-level data")
    else:  # point estimates only
        se, boot_info, vce_label = np.full(len(tau), np.nan), {}, "none (point estimates only)"
    if sample_se and vce not in ("ai", "ai-score", "ai2006"):
        se_sample = np.full(len(tau), np.nan)
        notes.append("sample-effect standard errors (std_error_sample) only with the Abadie-Imbens variance")
    # weights and balance
    n = len(d)
    w = np.zeros(n)
    if estimand == "ATT":
        w[rows] = 1.0
        w += _used(fit.att, n)[0]
    elif estimand == "ATC":
        w[rows] = 1.0
        w += _used(fit.atc, n)[0]
    else:
        w[rows] = 1.0 + _used(fit.att, n)[0][rows] + _used(fit.atc, n)[0][rows]
    # units that carry weight: focal units matched, and units of the other group used as matches
    carried = w > 0
    bal = balance_table(xk, d, prep.covariates, weights=w, estimand=estimand, s_d_denom=s_d_denom,
                        stats=prep.stats if full else None) if prep.x.shape[1] and diagnostics else None
    lo, hi = normal_ci(tau, se, level)
    est = pd.DataFrame({
        "outcome": prep.outcomes,
        "estimand": estimand,
        "horizon": [np.nan if h is None else h for h in prep.horizons],
        "estimate": tau,
        "std_error": se,
        "ci_lower": lo,
        "ci_upper": hi,
        "p_value": p_value(tau, se),
        # the focal group counts its matched units, the other group all its units (the pool);
        # *_used count the distinct units of each group that carry weight
        "n_treated": int((rows & d).sum()) if estimand != "ATC" else int(d.sum()),
        "n_controls": int((~d).sum()) if estimand == "ATT" else int((rows & ~d).sum()),
        "n_controls_used": int((carried & ~d).sum()),
        "n_treated_used": int((carried & d).sum()),
    })
    if sample_se:
        est["std_error_sample"] = se_sample
    full_score = None
    if score is not None:
        full_score = np.full(n_all, np.nan)
        full_score[keep] = score
    info = {
        "method": method, "k": k, "replace": replace, "ties": ties, "caliper": caliper,
        "distance": distance if method == "propensity" else "mahalanobis", "exact": prep.exact or None,
        "vce": vce_label,
        "n_obs": int(keep.sum()), "n_trimmed": int(n_all - keep.sum()), "trim": trim_info.get("rule"),
    }
    full_w = np.zeros(n_all)
    full_w[keep] = w
    ess = effective_sample_size(w, d)
    # cobalt's "sample sizes": rows before trimming, trimmed off the score's support, left without
    # weight (unmatched focal units, unused comparison units), carrying weight, and the weights' ESS
    sizes = pd.DataFrame({"group": ["treated", "control"], "all": [int(prep.d.sum()), int((~prep.d).sum())],
                          "off_support": [int((prep.d & ~keep).sum()), int((~prep.d & ~keep).sum())],
                          "unmatched": [int((d & ~carried).sum()), int((~d & ~carried).sum())],
                          "matched": [int((d & carried).sum()), int((~d & carried).sum())], "ess": list(ess)})
    res = MatchingResults(
        estimates=tidy_estimates(est, level),
        method=f"nearest-neighbour matching ({info['distance']}, k={k}, {'with' if replace else 'without'} replacement)",
        level=level, notes=notes, info=info, balance=bal,
        overlap=(overlap_summary(score, d, order if method == "propensity" else None)
                 if score is not None and diagnostics else None),
        score=full_score, treated=prep.d, weights=full_w, propensity=ps, matches=fit,
        estimand_note=ESTIMAND_NOTES[estimand], extra={"trim": trim_info, **boot_info}, sample_sizes=sizes,
    )
    return res


def _subset_ps(ps: PropensityModel, keep: np.ndarray) -> PropensityModel:
    return PropensityModel(kind=ps.kind, score=ps.score[keep], linear=ps.linear[keep], covariates=ps.covariates,
                           coef=ps.coef, x=None if ps.x is None else ps.x[keep],
                           information=None, iterations=ps.iterations, loglik=ps.loglik, info=ps.info)


def _bias_covariates(df, prep: Prepared, bias_adjust: bool | Sequence[str]) -> tuple[np.ndarray, list[str]] | None:
    """The (n, q) covariates of the bias correction and their names (None: no correction); columns
    by name come from ``df``."""
    if bias_adjust is False or bias_adjust is None:
        return None
    if bias_adjust is True:
        if prep.x.shape[1] == 0:
            raise DesignError("bias_adjust=True needs covariates (or give the columns: bias_adjust=[...])")
        return prep.x, list(prep.covariates)
    names = [bias_adjust] if isinstance(bias_adjust, str) else list(bias_adjust)
    if not names:
        raise DesignError("bias_adjust is an empty list: give the columns to adjust on, or True for the covariates")
    z = np.column_stack([numeric_column(df, c, "bias_adjust") for c in names])
    return z, names


def _check_cells(d: np.ndarray, strata: np.ndarray | None, labels: list[str] | None, estimand: str) -> None:
    """Every exact-matching cell with focal units must have units of the other group."""
    if strata is None:
        return
    nc = np.bincount(strata, weights=(~d).astype(float), minlength=len(labels))
    nt = np.bincount(strata, weights=d.astype(float), minlength=len(labels))
    problems = []
    if estimand in ("ATT", "ATE"):
        problems += [(s, "controls", int(nt[s])) for s in np.flatnonzero((nt > 0) & (nc == 0))]
    if estimand in ("ATC", "ATE"):
        problems += [(s, "treated", int(nc[s])) for s in np.flatnonzero((nc > 0) & (nt == 0))]
    if problems:
        txt = "; ".join(f"[{labels[s]}] has no {who} for its {cnt} units" for s, who, cnt in problems[:5])
        more = f" (and {len(problems) - 5} more cells)" if len(problems) > 5 else ""
        raise DesignError(f"exact matching impossible in {len(problems)} cell(s): {txt}{more}; "
                          "coarsen the exact-matching variables or drop these cells")


def _bootstrap(prep, keep, cl, spec, estimand, ps_model, prop_arr, distance, caliper, n_boot, seed, zb=None):
    """Cluster bootstrap: resample clusters, re-fit the score, re-match, re-estimate."""
    rng = np.random.default_rng(seed)
    idx_keep = np.flatnonzero(keep)
    cl = np.arange(len(idx_keep)) if cl is None else cl
    _, inv = np.unique(cl, return_inverse=True)
    G = inv.max() + 1
    order = np.argsort(inv, kind="stable")
    starts = np.searchsorted(inv[order], np.arange(G))
    sizes = np.bincount(inv, minlength=G)
    draws, failed = [], 0
    for _b in range(n_boot):  # a loop over bootstrap draws, each fully vectorised
        pick = rng.integers(0, G, G)
        cnt = sizes[pick]
        pos = np.repeat(starts[pick], cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
        rows = idx_keep[order[pos]]
        sub = Prepared(d=prep.d[rows], y=prep.y[rows], x=prep.x[rows], outcomes=prep.outcomes,
                       covariates=prep.covariates, strata=None if prep.strata is None else prep.strata[rows],
                       strata_labels=prep.strata_labels, cluster=None, horizons=prep.horizons)
        try:
            if sub.d.all() or not sub.d.any():
                raise DesignError("degenerate draw")
            pa = None if prop_arr is None else prop_arr[rows]
            ps, score, lin, metric = _score_and_metric(sub, np.ones(len(rows), bool), spec.method, ps_model, pa, distance)
            lw = ca = None
            if caliper is not None:
                if spec.method == "propensity":
                    width = float(caliper) * float(np.std(lin, ddof=1))
                    ca, lw = (width, None) if distance == "logit" else (None, width)
                else:
                    ca = float(caliper)
            fit = _match_sample(sub.d, metric, sub.strata, spec, estimand, lin, lw, ca)
            draws.append(_unit_effects(fit, sub.d, sub.y, estimand, None if zb is None else zb[rows])[3])
        except (DesignError, EstimationError):
            failed += 1
    if len(draws) < max(10, n_boot // 2):
        raise EstimationError(f"bootstrap failed in {failed} of {n_boot} draws (degenerate resamples)")
    draws = np.asarray(draws)
    return draws.std(axis=0, ddof=1), {"n_ok": len(draws), "n_failed": failed, "boot_draws": draws}
