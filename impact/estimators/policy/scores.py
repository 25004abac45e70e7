"""Doubly robust scores of every arm for the job seekers who start a service today.

Population and estimand. Rows are a multi-arm risk-set design
(:func:`impact.designs.multi_service.multi_service_design`): arm ``W = 0`` (no service
that month) or ``W = k`` (service k started). A rule reallocates services among **today's
participants** (``W > 0``; the same caseload, so the same number of people served), and
its value is ``V(pi) = E[Y(pi(X)) | W > 0]``, the share employed ``h`` months later had
each participant received ``pi(X)`` instead. For each row i and arm a the score is

``Gamma_i(a) = 1[W_i > 0] mu_a(X_i) + 1[W_i = a] omega_a(X_i) (Y_i - mu_a(X_i))``

with ``mu_a(X) = E[Y | X, W = a]``, ``omega_a = P(W > 0 | X) / P(W = a | X)``: for a
service ``1 / q_a(X)`` with ``q_a = P(W = a | X, W > 0)`` (which service, among
participants), for ``none`` the odds ``e(X) / (1 - e(X))`` of participating
(``e = P(W > 0 | X)``; the 'effect on the treated' weighting). Then
``sum_i Gamma_i(pi(X_i)) / #participants`` estimates ``V(pi)`` for any rule ``pi`` of the
covariates, and is doubly robust (consistent if either ``mu`` or the propensities are
right): ``E[1[W>0] mu_a + 1[W=a] omega_a (Y - mu_a) | X] = e(X) E[Y(a) | X]`` under
selection on ``X``. Non-participant rows enter only through the ``none`` correction.

Nuisances: histogram gradient boosting (as :mod:`impact.estimators.heterogeneity`),
cross-fitted over folds of persons; the exact cells of the design (elapsed month, quarter,
area) enter as categories. Propensities are clipped (``q_a >= clip``, ``e <= 1 - clip``)
and every clipped row is counted in :attr:`PolicyScores.clipping`.

Halves. With ``split`` the persons are divided at random into a learning half and an
evaluation half, and the nuisances are cross-fitted *within* each half (no model of one half
sees the other), so that a rule learned from the learning half's scores is independent of
the evaluation half's scores (:func:`impact.estimators.policy.evaluate.learn_policy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
import polars as pl

from impact.errors import DesignError
from impact.estimators.heterogeneity import _features, _folds, _subsample

_HGB = dict(max_iter=100, learning_rate=0.1, min_samples_leaf=50, early_stopping=True, validation_fraction=0.1,
            n_iter_no_change=10)


@dataclass
class PolicyScores:
    """Doubly robust scores (``rewards``: n rows x arms) and the nuisances behind them."""

    rewards: np.ndarray
    y: np.ndarray
    arm: np.ndarray
    participant: np.ndarray
    cluster: np.ndarray
    fold: np.ndarray
    arms: list[str]
    outcome: str
    mu: np.ndarray
    p_participate: np.ndarray
    q: np.ndarray
    clipping: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    half: np.ndarray | None = None  # 0: learning half, 1: evaluation half (see ``split``)

    @property
    def n_participants(self) -> int:
        return int(self.participant.sum())


def dr_scores(
    data: pl.DataFrame,
    outcome: str,
    arms: Sequence[str],
    covariates: Sequence[str],
    categorical: Sequence[str] = (),
    arm: str = "arm",
    cluster: str = "person_id",
    n_folds: int = 5,
    clip: float = 0.02,
    nuisance_max_rows: int | None = 100_000,
    seed: int = 0,
    n_threads: int | None = 1,
    split: float | None = 0.5,
) -> PolicyScores:
    """Cross-fitted doubly robust scores of each arm for today's participants.

    Parameters
    ----------
    data
        Multi-arm design table (one row per risk-set row), with ``arm`` coded 0 (none) ..
        ``len(arms) - 1``.
    outcome
        Outcome column (e.g. ``employed_h12``).
    arms
        Arm names (``arms[0]`` is no service).
    covariates, categorical
        Numeric confounders and categorical ones (exact cells) for the nuisance models.
    cluster
        Person column: folds are formed by person (a person's rows never straddle folds).
    n_folds, clip, nuisance_max_rows, seed
        Cross-fitting folds; propensity clipping; the largest random subsample each
        nuisance model is fitted on; seed of the folds and subsamples.
    n_threads
        OpenMP threads of the boosting fits (1: see :func:`impact.estimators.heterogeneity.heterogeneous_effects`).
    split
        Share of persons in the learning half (``half == 0``); the rest form the evaluation
        half (``half == 1``); each half is cross-fitted on its own. None: one group.
    """
    from impact.estimators._threads import threads

    args = (data, outcome, arms, covariates, categorical, arm, cluster, n_folds, clip, nuisance_max_rows, seed, split)
    with threads(n_threads):
        return _dr_scores(*args)


def _dr_scores(data, outcome, arms, covariates, categorical, arm, cluster, n_folds, clip, cap, seed,
               split) -> PolicyScores:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    arms = list(arms)
    A = len(arms)
    need = [outcome, arm, cluster, *covariates, *categorical]
    miss = [c for c in dict.fromkeys(need) if c not in data.columns]
    if miss:
        raise DesignError(f"policy scores: the design lacks columns {miss}")
    if not 0 < clip < 0.5:
        raise DesignError(f"policy scores: clip must be in (0, 0.5), got {clip!r}")
    if int(n_folds) != n_folds or n_folds < 2:
        raise DesignError(f"policy scores: n_folds must be an integer >= 2, got {n_folds!r}")
    if split is not None and not 0.1 <= split <= 0.9:
        raise DesignError(f"policy scores: split must be a share in [0.1, 0.9] (or None), got {split!r}")
    w = data[arm].cast(pl.Int64).to_numpy()
    if w.min() < 0 or w.max() >= A:
        raise DesignError(f"column '{arm}' must hold arm codes 0..{A - 1}, found {w.min()}..{w.max()}")
    y = data[outcome].cast(pl.Float64).to_numpy()
    if not np.isfinite(y).all():
        raise DesignError(f"outcome '{outcome}' has {int((~np.isfinite(y)).sum())} missing or non-finite values")
    counts = np.bincount(w, minlength=A)
    thin = [arms[a] for a in range(A) if counts[a] < 20]
    if thin:
        raise DesignError(f"policy scores need at least 20 rows in every arm; too few in {thin}")
    x, is_cat = _features(data, list(covariates), list(categorical))
    cl = data[cluster].to_numpy()
    part = w > 0
    n = len(y)
    rng = np.random.default_rng(seed)
    uniq, inv = np.unique(cl, return_inverse=True)
    inv = inv.ravel()
    half = np.zeros(n, dtype=np.int64)
    if split is not None:  # a random share of persons learns, the rest evaluates
        half = (rng.permutation(len(uniq)) >= int(round(split * len(uniq))))[inv].astype(np.int64)
    fold = np.empty(n, dtype=np.int64)
    for h in np.unique(half):  # folds of persons within each half
        m = half == h
        fold[m] = _folds(cl[m], n_folds, rng)
    kw = dict(_HGB, random_state=seed, categorical_features=is_cat if is_cat.any() else None)
    e = np.empty(n)
    q = np.empty((n, A - 1))
    mu = np.empty((n, A))
    for h in np.unique(half):  # each half on its own
        for f in range(n_folds):  # a handful of folds
            test = (half == h) & (fold == f)
            train = np.flatnonzero((half == h) & (fold != f))
            if (np.bincount(w[train], minlength=A) < 5).any():
                raise DesignError(f"policy scores: a cross-fitting fold leaves fewer than 5 rows of some arm to learn "
                                  f"from (arm counts {np.bincount(w, minlength=A).tolist()}); use fewer folds")
            tr = _subsample(train, cap, rng)
            e[test] = HistGradientBoostingClassifier(**kw).fit(x[tr], part[tr]).predict_proba(x[test])[:, 1]
            tp = _subsample(train[part[train]], cap, rng)
            clf = HistGradientBoostingClassifier(**kw).fit(x[tp], w[tp])
            qq = np.zeros((test.sum(), A - 1))
            qq[:, clf.classes_ - 1] = clf.predict_proba(x[test])
            q[test] = qq
            for a in range(A):  # a handful of arms
                ta = _subsample(train[w[train] == a], cap, rng)
                mu[test, a] = HistGradientBoostingRegressor(**kw).fit(x[ta], y[ta]).predict(x[test])
    qc = np.maximum(q, clip)
    ec = np.minimum(e, 1 - clip)
    omega = np.column_stack([ec / (1 - ec), 1.0 / qc])
    rewards = part[:, None] * mu
    idx = np.arange(n)
    rewards[idx, w] += omega[idx, w] * (y - mu[idx, w])
    rows = [dict(arm=arms[0], weight="e/(1-e) on no-service rows", rows=int((w == 0).sum()),
                 clipped=int(((w == 0) & (e > 1 - clip)).sum()), max_weight=float(omega[w == 0, 0].max()))]
    for a in range(1, A):
        m = w == a
        rows.append(dict(arm=arms[a], weight=f"1/q on {arms[a]} starts", rows=int(m.sum()),
                         clipped=int((m & (q[:, a - 1] < clip)).sum()), max_weight=float(omega[m, a].max())))
    clipping = pd.DataFrame(rows)
    clipping["share_clipped"] = clipping["clipped"] / clipping["rows"]
    notes = [f"doubly robust scores: boosting nuisances cross-fitted over {n_folds} folds of persons"
             + (" within each half" if split is not None else "") + "; "
             f"propensities clipped at q >= {clip} and e <= {1 - clip} ({int(clipping['clipped'].sum())} rows clipped)"]
    if cap is not None and n * (n_folds - 1) / n_folds > cap:
        notes.append(f"each nuisance model was fitted on a random subsample of at most {cap:,} rows")
    return PolicyScores(rewards=rewards, y=y, arm=w, participant=part, cluster=cl, fold=fold, arms=arms,
                        outcome=outcome, mu=mu, p_participate=e, q=q, clipping=clipping, notes=notes, half=half)
