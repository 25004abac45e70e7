"""Inference shared by every estimator family.

Estimators express their sampling uncertainty through influence functions: an ``n x k``
matrix ``psi`` with ``theta_hat - theta ~= psi.mean(axis=0)`` (one row per independent
unit). From it follow analytic (optionally cluster-robust) standard errors, multiplier
bootstrap draws and simultaneous confidence bands. Nothing here loops over units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


def z_critical(level: float = 0.95) -> float:
    """Two-sided standard-normal critical value for a confidence level."""
    return float(stats.norm.ppf(0.5 + level / 2.0))


def normal_ci(estimate, std_error, level: float = 0.95, crit: float | None = None):
    """Pointwise (or, with ``crit``, simultaneous) normal confidence interval."""
    c = z_critical(level) if crit is None else crit
    est = np.asarray(estimate, dtype=float)
    se = np.asarray(std_error, dtype=float)
    return est - c * se, est + c * se


def p_value(estimate, std_error):
    """Two-sided p-value of H0: parameter = 0 under normality."""
    est = np.asarray(estimate, dtype=float)
    se = np.asarray(std_error, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(est / se)
    return 2.0 * stats.norm.sf(z)


def _cluster_matrix(cluster: np.ndarray):
    """The sparse (clusters x n) indicator matrix of ``cluster`` (its product with ``psi`` sums rows within
    clusters: much faster than np.add.at on wide psi)."""
    from scipy import sparse

    _, inv = np.unique(np.asarray(cluster), return_inverse=True)
    inv = inv.ravel()
    return sparse.csr_matrix((np.ones(len(inv)), (inv, np.arange(len(inv)))), shape=(inv.max() + 1, len(inv)))


def _cluster_sums(psi: np.ndarray, cluster: np.ndarray | None) -> np.ndarray:
    """Sum the influence rows within clusters (identity when ``cluster`` is None)."""
    if cluster is None:
        return psi
    return np.asarray(_cluster_matrix(cluster) @ psi)


#: Bytes of cluster sums formed at a time by :func:`influence_se`
_SE_BLOCK_BYTES = 64 * 2**20


def influence_vcov(psi: np.ndarray, cluster: np.ndarray | None = None, small_sample: bool = False) -> np.ndarray:
    """Covariance matrix of ``theta_hat`` from influence functions.

    ``V = (1/n^2) sum_c s_c s_c'`` with ``s_c`` the sum of ``psi`` over cluster ``c``
    (each unit its own cluster by default). ``small_sample`` multiplies by ``G/(G-1)``.
    """
    psi = np.atleast_2d(np.asarray(psi, dtype=float))
    if psi.shape[0] == 1 and psi.ndim == 2 and psi.shape[1] > 1 and cluster is not None and len(cluster) != 1:
        psi = psi.T
    n = psi.shape[0]
    s = _cluster_sums(psi, cluster)
    g = s.shape[0]
    v = s.T @ s / n**2
    if small_sample and g > 1:
        v *= g / (g - 1)
    return v


def influence_se(psi: np.ndarray, cluster: np.ndarray | None = None, small_sample: bool = False) -> np.ndarray:
    """Standard errors (the square root of the diagonal of :func:`influence_vcov`)."""
    psi = np.asarray(psi, dtype=float)
    if psi.ndim == 1:
        psi = psi[:, None]
    # only the diagonal of influence_vcov: O(n k) instead of O(n k^2) for many parameters
    n, k = psi.shape
    if cluster is None:
        g, var = n, np.einsum("ij,ij->j", psi, psi) / n**2
    else:
        # the cluster sums a block of columns at a time: the (clusters x k) sums of a stacked DiD's
        # thousands of group-time cells would take several GiB at a million persons (psi itself is
        # mostly untouched zero pages: each unit enters the cells of its own stack only)
        S = _cluster_matrix(cluster)
        g, var = S.shape[0], np.empty(k)
        step = max(1, _SE_BLOCK_BYTES // (8 * S.shape[0]))
        for j in range(0, k, step):
            sj = np.asarray(S @ psi[:, j:j + step])
            var[j:j + step] = np.einsum("ij,ij->j", sj, sj)
        var /= n**2
    if small_sample and g > 1:
        var *= g / (g - 1)
    return np.sqrt(var)


@dataclass(frozen=True)
class BootstrapResult:
    """Multiplier-bootstrap output for ``k`` parameters."""

    draws: np.ndarray  # (B, k) draws of theta* - theta_hat
    std_error: np.ndarray  # (k,) bootstrap standard errors (IQR-based, as R `did`)
    crit_uniform: float  # critical value of the simultaneous band over the k parameters


def multiplier_bootstrap(
    psi: np.ndarray,
    n_boot: int = 999,
    cluster: np.ndarray | None = None,
    rng: np.random.Generator | int | None = None,
    level: float = 0.95,
    weights: str = "mammen",
    chunk: int = 100,
) -> BootstrapResult:
    """Multiplier bootstrap of ``theta_hat`` from influence functions.

    Each draw is ``(1/n) sum_c v_c s_c`` with i.i.d. multipliers ``v_c`` (Mammen's two-point
    or Rademacher) over clusters ``c``. Standard errors are the normalised inter-quartile
    range of the draws, ``(q75 - q25) / (z75 - z25)``; the simultaneous-band critical value is
    the ``level`` quantile of ``max_j |draw_j| / se_j`` (Callaway and Sant'Anna 2021).
    """
    psi = np.asarray(psi, dtype=float)
    if psi.ndim == 1:
        psi = psi[:, None]
    n = psi.shape[0]
    s = _cluster_sums(psi, cluster)
    g = s.shape[0]
    rng = np.random.default_rng(rng)
    draws = np.empty((n_boot, psi.shape[1]))
    if weights == "mammen":
        sq5 = np.sqrt(5.0)
        a, b = (1 - sq5) / 2, (1 + sq5) / 2
        pa = (sq5 + 1) / (2 * sq5)
    for start in range(0, n_boot, chunk):  # chunks bound memory at chunk * G doubles
        m = min(chunk, n_boot - start)
        if weights == "mammen":
            v = np.where(rng.random((m, g)) < pa, a, b)
        elif weights == "rademacher":
            v = rng.choice(np.array([-1.0, 1.0]), size=(m, g))
        else:
            raise ValueError(f"weights must be 'mammen' or 'rademacher', got {weights!r}")
        draws[start : start + m] = v @ s / n
    q75, q25 = np.quantile(draws, [0.75, 0.25], axis=0)
    se = (q75 - q25) / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
    ok = se > np.sqrt(np.finfo(float).eps) * 10
    if ok.any():
        tstat = np.abs(draws[:, ok]) / se[ok]
        crit = float(np.quantile(tstat.max(axis=1), level))
    else:
        crit = float("nan")
    se = np.where(ok, se, np.nan)
    return BootstrapResult(draws=draws, std_error=se, crit_uniform=crit)


def wald_test(estimate: np.ndarray, vcov: np.ndarray) -> tuple[float, int, float]:
    """Wald test of H0: all parameters are zero. Returns (statistic, df, p-value)."""
    est = np.asarray(estimate, dtype=float)
    v = np.asarray(vcov, dtype=float)
    stat = float(est @ np.linalg.pinv(v) @ est)
    df = int(np.linalg.matrix_rank(v))
    return stat, df, float(stats.chi2.sf(stat, df))
