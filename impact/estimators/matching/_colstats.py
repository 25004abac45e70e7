"""Column statistics of a covariate matrix in one pass, shared by the input checks, the
propensity logit and the balance table.

For every column: the number of non-finite values, the range overall and within each
treatment group, count, sum and sum of squares within each group (of the values shifted by
the first row, so that variances do not cancel catastrophically), the distinct values with
their counts by group while there are at most :data:`MAX_LEVELS` of them. Reading the
(n, p) matrix once, block by block, replaces a dozen strided column passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

#: A column with at most this many distinct values is treated as discrete (levels checked one by one).
MAX_LEVELS = 10
#: Rows per block of the blocked passes (here, in balance and in propensity).
_BLOCK = 8192


@numba.njit(cache=True)
def _scan(x, d, shift, lo, hi, lo_g, hi_g, s1, s2, nbad, levels, lev_n, nlev):
    """Accumulate the statistics of rows ``x`` (one block, in cache) into the output arrays.

    ``lo_g``/``hi_g``/``s1``/``s2`` are (2, p): row 0 controls, row 1 treated; ``levels`` is
    (p, MAX_LEVELS) with counts ``lev_n`` (2, p, MAX_LEVELS); ``nlev[j] > MAX_LEVELS`` marks a
    column with more levels than that. Column by column, with the accumulators in registers."""
    n, p = x.shape
    for j in range(p):
        sh = shift[j]
        lo0, lo1, hi0, hi1 = lo_g[0, j], lo_g[1, j], hi_g[0, j], hi_g[1, j]
        a0 = a1 = q0 = q1 = 0.0
        bad = 0
        for i in range(n):
            v = x[i, j]
            if not np.isfinite(v):
                bad += 1
                continue
            c = v - sh
            if d[i]:
                lo1 = min(lo1, v)
                hi1 = max(hi1, v)
                a1 += c
                q1 += c * c
            else:
                lo0 = min(lo0, v)
                hi0 = max(hi0, v)
                a0 += c
                q0 += c * c
        lo_g[0, j], lo_g[1, j], hi_g[0, j], hi_g[1, j] = lo0, lo1, hi0, hi1
        lo[j] = min(lo[j], min(lo0, lo1))
        hi[j] = max(hi[j], max(hi0, hi1))
        s1[0, j] += a0
        s1[1, j] += a1
        s2[0, j] += q0
        s2[1, j] += q1
        nbad[j] += bad
        m = nlev[j]
        if m > MAX_LEVELS or bad:
            continue
        for i in range(n):  # distinct values while there are at most MAX_LEVELS
            v = x[i, j]
            g = 1 if d[i] else 0
            k = 0
            while k < m and levels[j, k] != v:
                k += 1
            if k == m:
                if m == MAX_LEVELS:
                    m += 1
                    break
                levels[j, m] = v
                m += 1
            lev_n[g, j, k] += 1
        nlev[j] = m


@dataclass
class ColumnStats:
    """One-pass statistics of an (n, p) covariate matrix split by a treatment indicator."""

    n: np.ndarray  # (2,) rows per group: controls, treated
    nonfinite: np.ndarray  # (p,) count of NaN/inf per column
    lo: np.ndarray  # (p,) minimum
    hi: np.ndarray  # (p,) maximum
    lo_g: np.ndarray  # (2, p) minimum by group
    hi_g: np.ndarray  # (2, p) maximum by group
    mean_g: np.ndarray  # (2, p) mean by group
    ss_g: np.ndarray  # (2, p) sum of squared deviations from the group mean
    mean: np.ndarray  # (p,) mean
    ss: np.ndarray  # (p,) sum of squared deviations from the mean
    levels: list[np.ndarray | None]  # per column: sorted distinct values if at most MAX_LEVELS
    level_counts: list[np.ndarray | None]  # per column: (2, L) counts of those values by group

    @property
    def binary(self) -> np.ndarray:
        """Columns whose values are all 0 or 1."""
        return np.array([lv is not None and bool(np.all((lv == 0.0) | (lv == 1.0))) for lv in self.levels], bool)

    def var_g(self, ddof: int = 1) -> np.ndarray:
        """(2, p) variances by group (controls, treated)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.ss_g / np.where(self.n - ddof > 0, self.n - ddof, np.nan)[:, None]


def column_stats(x: np.ndarray, d: np.ndarray) -> ColumnStats:
    """Statistics of the columns of ``x`` (float64, (n, p)) overall and by ``d`` (bool, (n,))."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    d = np.ascontiguousarray(d, dtype=np.bool_)
    n, p = x.shape
    shift = x[0].copy() if n else np.zeros(p)
    shift[~np.isfinite(shift)] = 0.0
    lo, hi = np.full(p, np.inf), np.full(p, -np.inf)
    lo_g, hi_g = np.full((2, p), np.inf), np.full((2, p), -np.inf)
    s1, s2 = np.zeros((2, p)), np.zeros((2, p))
    nbad = np.zeros(p, np.int64)
    levels = np.zeros((p, MAX_LEVELS))
    lev_n = np.zeros((2, p, MAX_LEVELS), np.int64)
    nlev = np.zeros(p, np.int64)
    for s in range(0, n, _BLOCK):  # blocks: partial sums stay accurate and the rows stay in cache
        xb = x[s : s + _BLOCK]
        b1, b2 = np.zeros((2, p)), np.zeros((2, p))
        _scan(xb, d[s : s + _BLOCK], shift, lo, hi, lo_g, hi_g, b1, b2, nbad, levels, lev_n, nlev)
        s1 += b1
        s2 += b2
    ng = np.array([n - int(d.sum()), int(d.sum())])
    with np.errstate(invalid="ignore", divide="ignore"):
        m_g = s1 / ng[:, None]  # group means of the shifted values (NaN for an empty group)
        ss_g = np.maximum(s2 - ng[:, None] * m_g**2, 0.0)
        m = s1.sum(axis=0) / max(n, 1)
        ss = np.maximum(s2.sum(axis=0) - n * m**2, 0.0)
    lv, lc = [], []
    for j in range(p):  # a handful of columns
        k = int(nlev[j])
        if k > MAX_LEVELS:
            lv.append(None)
            lc.append(None)
            continue
        o = np.argsort(levels[j, :k])
        lv.append(levels[j, :k][o])
        lc.append(lev_n[:, j, :k][:, o])
    return ColumnStats(n=ng, nonfinite=nbad, lo=lo, hi=hi, lo_g=lo_g, hi_g=hi_g, mean_g=m_g + shift, ss_g=ss_g,
                       mean=m + shift, ss=ss, levels=lv, level_counts=lc)
