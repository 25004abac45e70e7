"""Statistical peer groups of areas, and a flag for development worse than comparable areas.

* :func:`peer_groups`: for every area its ``k`` nearest peers on standardised structural
  covariates (labour force, working-age population, unemployment and long-term unemployment
  rates, foreign-language share, industry mix, education, urban/rural...), by Mahalanobis
  distance, or by the distance between linear propensity scores when there is a "treatment"
  (pilot participation; peers are then drawn from the untreated areas only).
* :func:`development_flags`: for each area, a synthetic control built from its peers only
  (outcome-only, V = identity over the pre-period) and placebo fits of every peer against
  the others. The area is flagged "development significantly worse than comparable areas"
  when its average post-period gap is worse than ``min_gap`` **and** its standardised gap
  (mean post gap / pre-period RMSPE) ranks among the worst: one-sided placebo
  ``p = rank / (k + 1) <= alpha``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
import polars as pl

from impact.errors import DesignError
from impact.estimators.synth.prep import build_panel, to_polars
from impact.estimators.synth.solver import fit_outcome_only


@dataclass
class PeerGroups:
    """Peers of every area.

    ``peers``: long table (unit, rank, peer, distance). ``table``: one row per area with its
    outcome, the median outcome of its peers and the difference (when ``outcome`` was given),
    and the peer list.
    """

    peers: pd.DataFrame
    table: pd.DataFrame
    method: str
    k: int
    unit: str

    def peers_of(self, unit: Any) -> list:
        """The ``k`` peers of ``unit``, nearest first."""
        p = self.peers[self.peers["unit"] == unit]
        if p.empty:
            raise DesignError(f"unit {unit!r} has no peer group (not in column {self.unit!r})")
        return p.sort_values("rank")["peer"].tolist()

    def donor_pool(self, unit: Any) -> list:
        """Synthetic-control donor pool of ``unit``: its peers."""
        return self.peers_of(unit)


def _covariate_matrix(df: pl.DataFrame, unit: str, covariates: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in [unit, *covariates] if c not in df.columns]
    if missing:
        raise DesignError(f"column(s) {missing} not found; the table has {df.columns}")
    dup = df.group_by(unit).len().filter(pl.col("len") > 1)
    if dup.height:
        raise DesignError(
            f"peer_groups needs one row per unit; unit {dup.row(0)[0]!r} has {dup.row(0)[1]} rows "
            "(aggregate the panel to one row per area first)"
        )
    X = df.select([pl.col(c).cast(pl.Float64, strict=False) for c in covariates]).to_numpy()
    units = df.get_column(unit).to_numpy()
    bad = np.argwhere(np.isnan(X))
    if bad.size:
        i, j = bad[0]
        raise DesignError(f"covariate {covariates[j]!r} is missing (or not numeric) for unit {units[i]!r}")
    sd = X.std(axis=0, ddof=1)
    if np.any(sd == 0):
        raise DesignError(f"covariate {covariates[int(np.nonzero(sd == 0)[0][0])]!r} is constant across the units")
    return units, (X - X.mean(axis=0)) / sd


def peer_groups(
    data: Any,
    unit: str,
    covariates: Sequence[str],
    k: int = 5,
    method: str = "mahalanobis",
    treatment: str | None = None,
    outcome: str | None = None,
) -> PeerGroups:
    """Nearest statistical peers of every area.

    Parameters
    ----------
    data : one row per area (polars or pandas) with the structural covariates.
    unit : area identifier column; ``covariates`` : structural covariates (standardised here).
    k : number of peers per area.
    method : ``"mahalanobis"`` (distance on the standardised covariates with their inverse
        correlation matrix) or ``"propensity"`` (absolute difference of the logit of a
        logistic-regression propensity score of ``treatment``).
    treatment : optional 0/1 column (e.g. pilot participation); peers are drawn from the
        untreated areas only. Required for ``method="propensity"``.
    outcome : optional column compared with the peer median in ``table``.
    """
    if method not in ("mahalanobis", "propensity"):
        raise DesignError(f"method must be 'mahalanobis' or 'propensity', got {method!r}")
    df = to_polars(data)
    units, Z = _covariate_matrix(df, unit, covariates)
    n = units.size
    if treatment is not None:
        if treatment not in df.columns:
            raise DesignError(f"treatment column {treatment!r} not found")
        d = df.get_column(treatment).cast(pl.Float64, strict=False).to_numpy()
        if np.isnan(d).any() or not np.isin(d, (0.0, 1.0)).all():
            raise DesignError(f"treatment column {treatment!r} must be 0/1 without missing values")
        cand = d == 0
    else:
        if method == "propensity":
            raise DesignError("method='propensity' needs a treatment column")
        cand = np.ones(n, dtype=bool)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise DesignError(f"k must be a positive integer, got {k!r}")
    if k > cand.sum() - 1:
        raise DesignError(f"k = {k} peers requested but only {int(cand.sum())} candidate areas exist")
    if method == "mahalanobis":
        S = np.cov(Z, rowvar=False)
        L = np.linalg.cholesky(np.linalg.pinv(np.atleast_2d(S)) + 1e-12 * np.eye(Z.shape[1]))
        Y = Z @ L  # Euclidean distance of Y = Mahalanobis distance of Z
        sq = np.einsum("ij,ij->i", Y, Y)
        D = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * Y @ Y.T, 0.0))
    else:
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6, max_iter=1000).fit(Z, d.astype(int))
        lp = lr.decision_function(Z)
        D = np.abs(lp[:, None] - lp[None, :])
    D = np.where(cand[None, :], D, np.inf)
    np.fill_diagonal(D, np.inf)
    nn = np.argsort(D, axis=1, kind="stable")[:, :k]
    dist = np.take_along_axis(D, nn, axis=1)
    peers = pd.DataFrame({
        "unit": np.repeat(units, k), "rank": np.tile(np.arange(1, k + 1), n),
        "peer": units[nn].ravel(), "distance": dist.ravel(),
    })
    table = pd.DataFrame({"unit": units, "peers": [list(r) for r in units[nn]]})
    if treatment is not None:
        table.insert(1, treatment, d.astype(int))
    if outcome is not None:
        if outcome not in df.columns:
            raise DesignError(f"outcome column {outcome!r} not found")
        y = df.get_column(outcome).cast(pl.Float64, strict=False).to_numpy()
        if np.isnan(y).any():
            raise DesignError(f"outcome {outcome!r} is missing for unit {units[int(np.argmax(np.isnan(y)))]!r}")
        med = np.median(y[nn], axis=1)
        table.insert(1, outcome, y)
        table.insert(2, "peer_median", med)
        table.insert(3, "difference", y - med)
    return PeerGroups(peers=peers, table=table, method=method, k=k, unit=unit)


def development_flags(
    panel: Any,
    unit: str,
    time: str,
    outcome: str,
    since: Any,
    peers: PeerGroups,
    units: Sequence | None = None,
    higher_is_better: bool = True,
    alpha: float = 0.10,
    min_gap: float = 0.0,
) -> pd.DataFrame:
    """Flag areas whose development since ``since`` is significantly worse than their peers'.

    For each area: an outcome-only synthetic control from its peers over ``t < since``, the
    mean gap over ``t >= since``, and placebo fits of every peer (donors: the other peers).
    The standardised gap ``s = mean post gap / pre-period RMSPE`` (sign flipped when lower
    outcomes are better) is ranked among the ``k + 1`` values; one-sided
    ``p = #{s_j <= s_area} / (k + 1)``. Flag: ``p <= alpha`` and the gap is worse than
    ``min_gap`` (in outcome units).

    Returns one row per area: unit, gap, pre_rmspe, standardised_gap, rank, n_units, p_value,
    flag.
    """
    areas = list(peers.table["unit"]) if units is None else list(units)
    need = set(areas) | set(peers.peers.loc[peers.peers["unit"].isin(areas), "peer"])
    all_units = list(dict.fromkeys([*areas, *sorted(need - set(areas), key=str)]))
    sp = build_panel(panel, unit, time, outcome, all_units, {all_units[0]: since}, None, None, None)
    post = sp.times >= since
    if not post.any():
        raise DesignError(f"no periods at or after since={since!r}")
    Y = sp.Y
    Zpre = Y[~post]
    sign = 1.0 if higher_is_better else -1.0
    rows = []
    for a in areas:  # one small fit per area and peer (areas are tens to hundreds)
        group = [sp.col(a)] + [sp.col(p) for p in peers.peers_of(a)]
        s = np.empty(len(group))
        gaps = np.empty(len(group))
        pre = np.empty(len(group))
        for i, c in enumerate(group):
            others = np.array([g for g in group[1:] if g != c], dtype=np.int64)
            f = fit_outcome_only(Zpre, c, others)
            gap = Y[:, c] - Y[:, others] @ f.w
            pre[i] = np.sqrt(np.mean(gap[~post] ** 2))
            gaps[i] = gap[post].mean()
            s[i] = sign * gaps[i] / max(pre[i], 1e-12 * (1 + abs(gaps[i])))
        rank = int(np.sum(s <= s[0]))
        p = rank / len(group)
        worse = sign * gaps[0] <= -abs(min_gap) if min_gap else sign * gaps[0] < 0
        rows.append({"unit": a, "gap": gaps[0], "pre_rmspe": pre[0], "standardised_gap": s[0], "rank": rank,
                     "n_units": len(group), "p_value": p, "flag": bool(worse and p <= alpha)})
    return pd.DataFrame(rows)
