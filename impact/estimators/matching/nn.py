"""Nearest-neighbour matching without quadratic cost.

Matches are returned as three aligned arrays (focal row, pool row, weight), the weights of
each matched focal unit summing to one. Two engines:

* **one-dimensional distances** (the propensity score or its logit): the pool is sorted
  once by (exact-matching cell, score) on an integer key, every focal unit finds its place
  by ``searchsorted`` and looks at ``k`` candidates on each side; all controls tied with
  the k-th nearest form a contiguous run of the sorted pool, found by two more searches.
* **Mahalanobis distance**: covariates are whitened (so Euclidean = Mahalanobis) and a
  KD-tree (``scipy.spatial.cKDTree``) answers k-nearest queries; exact-matching cells are
  separated by an offset coordinate far larger than any distance within a cell.

Matching *without* replacement is greedy (focal units in order of decreasing score, as
MatchIt's default): a compiled loop with "next free neighbour" pointers (path-compressed),
``O(n log n)`` overall, never ``O(n_treated * n_controls)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy.spatial import cKDTree

from impact.errors import DesignError

#: Largest number of (focal, pool) pairs ties="all" may produce before we refuse.
MAX_PAIRS = 60_000_000


@dataclass
class Matches:
    """Matched sets: ``focal[i]`` is matched to ``pool[i]`` with weight ``weight[i]``.

    Indices are positions in the arrays handed to the matcher. ``n_matched[f]`` is the
    size of focal unit ``f``'s matched set (0: unmatched, e.g. outside the caliper).
    """

    focal: np.ndarray
    pool: np.ndarray
    weight: np.ndarray
    n_matched: np.ndarray
    distance: np.ndarray

    def subset_focal(self, keep: np.ndarray) -> "Matches":
        m = keep[self.focal]
        return Matches(self.focal[m], self.pool[m], self.weight[m], np.where(keep, self.n_matched, 0), self.distance[m])


def _tol(v: np.ndarray) -> np.ndarray:
    return 1e-12 * (1.0 + np.abs(v))


def _expand(left: np.ndarray, right: np.ndarray, order: np.ndarray, sorted_score: np.ndarray, fscore: np.ndarray) -> Matches:
    counts = np.maximum(right - left, 0)
    total = int(counts.sum())
    if total > MAX_PAIRS:
        raise DesignError(
            f"ties='all' would create {total:,} matched pairs (many controls share the same distance); "
            "use ties='first' or add covariates that break the ties"
        )
    rep = np.repeat(np.arange(len(left)), counts)
    start = np.cumsum(counts) - counts
    pos = left[rep] + (np.arange(total) - start[rep])
    w = 1.0 / counts[rep]
    return Matches(rep, order[pos], w, counts, np.abs(sorted_score[pos] - fscore[rep]))


class _Identity:
    """Stands in for the rank table when there are no cells: keys are the scores themselves."""

    @staticmethod
    def rank(v: np.ndarray, side: str = "left") -> np.ndarray:
        return v


class _Ranks:
    def __init__(self, uniq: np.ndarray):
        self.uniq = uniq

    def rank(self, v: np.ndarray, side: str = "left") -> np.ndarray:
        return np.searchsorted(self.uniq, v, side)


def _is_sorted(v: np.ndarray) -> bool:
    return len(v) < 2 or bool(np.all(v[1:] >= v[:-1]))


def _sorted_pool(pscore: np.ndarray, pstrat: np.ndarray | None, fscore: np.ndarray):
    """Sort keys of the pool: the score itself without cells; with cells, exact integer keys
    ``cell * span + rank(score)`` so that one sorted array serves every cell."""
    if pstrat is None:
        if _is_sorted(pscore):
            return _Identity(), 0.0, pscore, np.arange(len(pscore))
        order = np.argsort(pscore, kind="stable")
        return _Identity(), 0.0, pscore[order], order
    uniq = np.unique(np.concatenate([pscore, fscore]))
    span = np.int64(len(uniq) + 1)
    pkey = pstrat.astype(np.int64) * span + np.searchsorted(uniq, pscore)
    order = np.argsort(pkey, kind="stable")
    return _Ranks(uniq), span, pkey[order], order


def _bounds(skey, fstrat, span, n):
    """First and one-past-last sorted position of each focal unit's cell."""
    if fstrat is None:
        return np.zeros(n, np.int64), np.full(n, len(skey), np.int64), 0
    base = fstrat * span
    return np.searchsorted(skey, base, "left"), np.searchsorted(skey, base + span, "left"), base


@numba.njit(cache=True)
def _radix_argsort(bits):
    """Stable argsort of float64 values given as their uint64 bit patterns (no NaN): least
    significant digit first, six passes of 11 bits on keys that order like the floats."""
    n = len(bits)
    top = np.uint64(1) << np.uint64(63)
    key = np.empty(n, np.uint64)
    for i in range(n):
        u = bits[i]
        if u == top:  # -0.0 sorts with +0.0
            u = np.uint64(0)
        key[i] = ~u if u & top else u | top
    R, NB = 6, 2048
    mask = np.uint64(NB - 1)
    hist = np.zeros((R, NB), np.int64)
    for i in range(n):
        k = key[i]
        for r in range(R):
            hist[r, (k >> np.uint64(11 * r)) & mask] += 1
    idx = np.arange(n)
    key2 = np.empty(n, np.uint64)
    idx2 = np.empty(n, np.int64)
    for r in range(R):
        h = hist[r]
        if h.max() == n:  # every key has the same digit here: nothing to do
            continue
        pos = np.empty(NB, np.int64)
        s = 0
        for b in range(NB):
            pos[b] = s
            s += h[b]
        sh = np.uint64(11 * r)
        for i in range(n):
            k = key[i]
            b = (k >> sh) & mask
            p = pos[b]
            key2[p] = k
            idx2[p] = idx[i]
            pos[b] = p + 1
        key, key2 = key2, key
        idx, idx2 = idx2, idx
    return idx


def argsort_stable(v: np.ndarray) -> np.ndarray:
    """``np.argsort(v, kind="stable")`` for a 1-d float array (the same permutation), by radix
    sort for large arrays (about twice as fast)."""
    v = np.ascontiguousarray(v, dtype=np.float64)
    if len(v) < 2048 or np.isnan(v).any():  # (radix sort is the faster from about a thousand values)
        return np.argsort(v, kind="stable")
    return _radix_argsort(v.view(np.uint64))


@dataclass
class Runs:
    """k nearest neighbours with all ties on a scalar score, as runs of the sorted pool.

    In one dimension the pool units within a distance of a focal unit are contiguous once
    the pool is sorted (within its exact-matching cell), so the matched set of focal unit
    ``f`` is ``order[left[f]:right[f]]``: sums over matched sets are differences of prefix
    sums, and the number of times a pool unit is used is a cumulative sum of +-1/count.
    """

    left: np.ndarray
    right: np.ndarray
    order: np.ndarray  # sorted position -> pool index
    sscore: np.ndarray  # pool scores in sorted order
    identity: bool = False  # the pool came sorted (order is 0..n-1): no gathers needed

    @property
    def counts(self) -> np.ndarray:
        return self.right - self.left

    def run_sums(self, v: np.ndarray) -> np.ndarray:
        """Sum of ``v`` (pool-indexed, (npool,) or (npool, q)) over every focal unit's run."""
        vs = v if self.identity else v[self.order]
        c = np.zeros((len(vs) + 1,) + vs.shape[1:])
        np.cumsum(vs, axis=0, out=c[1:])
        return c[self.right] - c[self.left]

    def coverage(self, a: np.ndarray) -> np.ndarray:
        """Per sorted pool position: the sum of ``a`` over the focal units whose run covers it
        (so that ``sum_f a_f * run_sum_f(v) = v[order] @ coverage(a)``)."""
        m = len(self.order) + 1
        diff = np.bincount(self.left, weights=a, minlength=m) - np.bincount(self.right, weights=a, minlength=m)
        return np.cumsum(diff)[:-1]

    def used(self, npool: int, power: int = 1) -> np.ndarray:
        """Per pool unit: sum over the focal units that use it of (1/count)^power (K, K')."""
        cnt = self.counts
        cov = self.coverage(np.where(cnt > 0, 1.0 / np.maximum(cnt, 1), 0.0) ** power)
        if self.identity:
            return cov
        out = np.empty(npool)
        out[self.order] = cov
        return out


@numba.njit(cache=True)
def _runs_sorted(fs, ss, k, cal, left, right):
    """Runs of :func:`knn_1d_runs` for sorted focal and pool scores without cells: the k-th
    distance by two pointers from the insertion point (which only moves forwards), then the
    run's ends (all ties, a 1e-12 relative tolerance, at most ``cal`` away) by galloping
    searches outwards from it."""
    m = len(ss)
    j = 0
    for i in range(len(fs)):
        f = fs[i]
        while j < m and ss[j] < f:
            j += 1
        lft = j - 1
        rgt = j
        kth = np.inf
        for _ in range(k):
            dl = f - ss[lft] if lft >= 0 else np.inf
            dr = ss[rgt] - f if rgt < m else np.inf
            if dl == np.inf and dr == np.inf:
                break
            if dl <= dr:
                kth = dl
                lft -= 1
            else:
                kth = dr
                rgt += 1
        reach = min(kth, cal)
        if not reach < np.inf:
            left[i] = j
            right[i] = j
            continue
        t = 1e-12 * (1.0 + abs(f)) + 1e-12 * (1.0 + abs(reach))
        lo_t = f - reach - t
        hi_t = f + reach + t
        # first index with ss >= lo_t, searching down from j
        hi = j
        lo = j - 1
        step = 1
        while lo >= 0 and ss[lo] >= lo_t:
            hi = lo
            lo = hi - step
            step *= 2
        if lo < -1:
            lo = -1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ss[mid] >= lo_t:
                hi = mid
            else:
                lo = mid
        left[i] = hi
        # first index with ss > hi_t, searching up from j
        lo = j - 1
        hi = j
        step = 1
        while hi < m and ss[hi] <= hi_t:
            lo = hi
            hi = lo + step
            step *= 2
        if hi > m:
            hi = m
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ss[mid] > hi_t:
                hi = mid
            else:
                lo = mid
        right[i] = hi


def knn_1d_runs(
    fscore: np.ndarray,
    pscore: np.ndarray,
    k: int = 1,
    caliper: float | None = None,
    fstrat: np.ndarray | None = None,
    pstrat: np.ndarray | None = None,
) -> Runs:
    """The k nearest pool units of every focal unit and all units tied with the k-th
    (Stata ``teffects``), with replacement, as runs of the sorted pool (see :class:`Runs`).
    Pool units farther than ``caliper`` are dropped (an empty run: unmatched)."""
    fscore = np.asarray(fscore, dtype=float)
    pscore = np.asarray(pscore, dtype=float)
    fstrat = None if fstrat is None else np.asarray(fstrat, np.int64)
    pstrat = None if pstrat is None else np.asarray(pstrat, np.int64)
    if (fstrat is None) != (pstrat is None):
        raise ValueError("give cells for both focal and pool units or for neither")
    nf = len(fscore)
    # queries in sorted order make every searchsorted below walk memory forwards (much faster)
    if fstrat is None:
        fo = None if _is_sorted(fscore) else np.argsort(fscore, kind="stable")
    else:
        fo = np.lexsort((fscore, fstrat))
    if fo is not None:
        fscore = fscore[fo]
        fstrat = None if fstrat is None else fstrat[fo]
    ranks, span, skey, order = _sorted_pool(pscore, pstrat, fscore)
    ident = pstrat is None and skey is pscore  # (the pool came sorted)
    sscore = pscore if ident else pscore[order]
    lo, hi, base = _bounds(skey, fstrat, span, nf)
    cal = np.inf if caliper is None else float(caliper)
    if fstrat is None:  # both sorted: one merge-like pass
        left, right = np.empty(nf, np.int64), np.empty(nf, np.int64)
        _runs_sorted(fscore, sscore, int(k), cal, left, right)
        if fo is not None:
            lf, rf = np.empty_like(left), np.empty_like(right)
            lf[fo], rf[fo] = left, right
            left, right = lf, rf
        return Runs(left, right, order, sscore, ident)
    else:
        pos = np.searchsorted(skey, base + ranks.rank(fscore), "left")
        cand = pos[:, None] + np.arange(-k, k)[None, :]
        valid = (cand >= lo[:, None]) & (cand < hi[:, None])
        candc = np.clip(cand, 0, max(len(sscore) - 1, 0))
        dist = np.where(valid, np.abs(sscore[candc] - fscore[:, None]) if len(sscore) else np.inf, np.inf)
        kk = min(k, dist.shape[1]) - 1
        kth = np.partition(dist, kk, axis=1)[:, kk] if dist.shape[1] else np.full(nf, np.inf)
        # fewer than k candidates in the cell: take all there are
        nvalid = valid.sum(axis=1)
        short = (nvalid < k) & (nvalid > 0)
        if short.any():
            kth[short] = np.where(valid[short], dist[short], -np.inf).max(axis=1)
    reach = np.minimum(kth, cal)
    ok = np.isfinite(reach)
    reach = np.where(ok, reach, 0.0)
    t = _tol(fscore) + _tol(reach)
    if isinstance(ranks, _Identity):
        left = np.searchsorted(skey, fscore - reach - t, "left")
        right = np.searchsorted(skey, fscore + reach + t, "right")
    else:
        rlo = ranks.rank(fscore - reach - t, "left")
        rhi = ranks.rank(fscore + reach + t, "right")
        left = np.searchsorted(skey, base + rlo, "left")
        right = np.searchsorted(skey, base + rhi, "left")
    left = np.maximum(left, lo)
    right = np.maximum(np.minimum(right, hi), left)
    right = np.where(ok, right, left)
    if fo is not None:
        lf, rf = np.empty_like(left), np.empty_like(right)
        lf[fo], rf[fo] = left, right
        left, right = lf, rf
    return Runs(left, right, order, sscore, ident)


def knn_1d(
    fscore: np.ndarray,
    pscore: np.ndarray,
    k: int = 1,
    ties: str = "all",
    caliper: float | None = None,
    fstrat: np.ndarray | None = None,
    pstrat: np.ndarray | None = None,
) -> Matches:
    """k nearest pool units of every focal unit on a scalar score, with replacement.

    ``ties="all"`` keeps every pool unit whose distance equals the k-th smallest (Stata
    ``teffects``); ``ties="first"`` keeps exactly ``k`` (lowest sorted position first).
    Pool units farther than ``caliper`` are dropped; a focal unit with none left is unmatched.
    Matched pairs come grouped by focal unit (in no particular focal order).
    """
    fscore = np.asarray(fscore, dtype=float)
    pscore = np.asarray(pscore, dtype=float)
    if ties == "all":
        r = knn_1d_runs(fscore, pscore, k, caliper, fstrat, pstrat)
        return _expand(r.left, r.right, r.order, r.sscore, fscore)
    if ties != "first":
        raise DesignError(f"ties must be 'all' or 'first', got {ties!r}")
    if fstrat is None:
        fo = None if _is_sorted(fscore) else np.argsort(fscore, kind="stable")
    else:
        fo = np.lexsort((fscore, np.asarray(fstrat)))
        if np.all(fo[1:] > fo[:-1]):
            fo = None
    if fo is not None:
        m = knn_1d(fscore[fo], pscore, k, ties, caliper, None if fstrat is None else np.asarray(fstrat)[fo], pstrat)
        nm = np.empty_like(m.n_matched)
        nm[fo] = m.n_matched
        return Matches(fo[m.focal], m.pool, m.weight, nm, m.distance)
    nf = len(fscore)
    fstrat = None if fstrat is None else np.asarray(fstrat, np.int64)
    pstrat = None if pstrat is None else np.asarray(pstrat, np.int64)
    if (fstrat is None) != (pstrat is None):
        raise ValueError("give cells for both focal and pool units or for neither")
    ranks, span, skey, order = _sorted_pool(pscore, pstrat, fscore)
    sscore = pscore[order]
    lo, hi, base = _bounds(skey, fstrat, span, nf)
    pos = np.searchsorted(skey, base + ranks.rank(fscore), "left")
    cand = pos[:, None] + np.arange(-k, k)[None, :]
    valid = (cand >= lo[:, None]) & (cand < hi[:, None])
    candc = np.clip(cand, 0, max(len(sscore) - 1, 0))
    dist = np.where(valid, np.abs(sscore[candc] - fscore[:, None]) if len(sscore) else np.inf, np.inf)
    cal = np.inf if caliper is None else float(caliper)
    idx = np.argsort(dist, axis=1, kind="stable")[:, :k]
    dk = np.take_along_axis(dist, idx, axis=1)
    keep = np.isfinite(dk) & (dk <= cal)
    counts = keep.sum(axis=1)
    rows = np.repeat(np.arange(nf), counts)
    ppos = np.take_along_axis(cand, idx, axis=1)[keep]
    return Matches(rows, order[ppos], 1.0 / counts[rows], counts, dk[keep])


# --------------------------------------------------------------------------------------
# Greedy matching without replacement (compiled; O(n log n) with path-compressed pointers)
# --------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _find(ptr, i):
    root = i
    while ptr[root] != root:
        root = ptr[root]
    while ptr[i] != root:  # path compression
        nxt = ptr[i]
        ptr[i] = root
        i = nxt
    return root


@numba.njit(cache=True)
def _greedy_1d(forder, pos, lo, hi, fscore, sscore, k, cal, out_pool, out_dist):
    m = len(sscore)
    # right[j]: first free slot >= j (m = none); left[j+1]: last free slot <= j, as index+1 (0 = none)
    right = np.arange(m + 1)
    left = np.arange(m + 1)
    for r in range(k):
        for t in range(len(forder)):
            f = forder[t]
            if r > 0 and out_pool[f, r - 1] < 0:
                continue
            p = pos[f]
            j_r = _find(right, p) if p <= m else m
            j_l = _find(left, p) - 1 if p <= m else -1
            best = -1
            bd = np.inf
            if j_r < hi[f] and j_r < m:
                best = j_r
                bd = abs(sscore[j_r] - fscore[f])
            if j_l >= lo[f] and j_l >= 0:
                dl = abs(sscore[j_l] - fscore[f])
                if dl <= bd:
                    best = j_l
                    bd = dl
            if best >= 0 and bd <= cal:
                out_pool[f, r] = best
                out_dist[f, r] = bd
                right[best] = best + 1
                left[best + 1] = best


def knn_1d_without(
    fscore: np.ndarray,
    pscore: np.ndarray,
    k: int = 1,
    caliper: float | None = None,
    fstrat: np.ndarray | None = None,
    pstrat: np.ndarray | None = None,
    order: str = "largest",
) -> Matches:
    """Greedy k:1 matching without replacement on a scalar score.

    Focal units are processed in ``order`` (``"largest"`` score first, ``"smallest"``,
    or ``"data"``) and take the nearest free pool unit; with ``k > 1`` this is repeated
    in k rounds (each round gives every focal unit at most one more match).
    """
    fscore = np.asarray(fscore, dtype=float)
    pscore = np.asarray(pscore, dtype=float)
    nf = len(fscore)
    fstrat = None if fstrat is None else np.asarray(fstrat, np.int64)
    pstrat = None if pstrat is None else np.asarray(pstrat, np.int64)
    ranks, span, skey, porder = _sorted_pool(pscore, pstrat, fscore)
    sscore = pscore[porder]
    lo, hi, base = _bounds(skey, fstrat, span, nf)
    pos = np.searchsorted(skey, base + ranks.rank(fscore), "left")
    pos = np.clip(pos, lo, hi)
    if order == "largest":
        forder = np.argsort(-fscore, kind="stable")
    elif order == "smallest":
        forder = np.argsort(fscore, kind="stable")
    else:
        forder = np.arange(nf)
    out_pool = np.full((nf, k), -1, np.int64)
    out_dist = np.full((nf, k), np.inf)
    cal = np.inf if caliper is None else float(caliper)
    _greedy_1d(forder.astype(np.int64), pos.astype(np.int64), lo.astype(np.int64), hi.astype(np.int64),
               fscore, sscore, int(k), cal, out_pool, out_dist)
    keep = out_pool >= 0
    counts = keep.sum(axis=1)
    rows = np.repeat(np.arange(nf), counts)
    return Matches(rows, porder[out_pool[keep]], 1.0 / counts[rows], counts, out_dist[keep])


# --------------------------------------------------------------------------------------
# Mahalanobis distance (KD-tree)
# --------------------------------------------------------------------------------------


def whiten(x: np.ndarray, names: list[str] | None = None) -> np.ndarray:
    """Linear map of the covariates under which Euclidean distance is Mahalanobis distance
    (inverse of the sample covariance matrix of the pooled sample, as Stata's ``metric(mahalanobis)``)."""
    x = np.asarray(x, dtype=float)
    cov = np.atleast_2d(np.cov(x, rowvar=False))
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError as exc:
        raise DesignError(
            "the covariance matrix of the matching covariates is singular (a covariate is constant or a linear "
            f"combination of others: {', '.join(names or [])}); drop it"
        ) from exc
    return np.linalg.solve(chol, (x - x.mean(axis=0)).T).T


def _with_cells(z: np.ndarray, strat: np.ndarray | None, big: float) -> np.ndarray:
    if strat is None:
        return z
    return np.column_stack([z, strat.astype(float) * big])


def knn_maha(
    fz: np.ndarray,
    pz: np.ndarray,
    k: int = 1,
    ties: str = "all",
    caliper: float | None = None,
    fstrat: np.ndarray | None = None,
    pstrat: np.ndarray | None = None,
    replace: bool = True,
) -> Matches:
    """k nearest neighbours in whitened covariates (Mahalanobis distance) by KD-tree."""
    if ties not in ("all", "first"):
        raise DesignError(f"ties must be 'all' or 'first', got {ties!r}")
    allz = np.vstack([fz, pz])
    big = 10.0 * float(np.sqrt(((allz.max(axis=0) - allz.min(axis=0)) ** 2).sum()) + 1.0)
    F = _with_cells(fz, fstrat, big)
    P = _with_cells(pz, pstrat, big)
    cal = np.inf if caliper is None else float(caliper)
    nf, npool = len(F), len(P)
    if not replace:
        return _maha_without(F, P, k, min(cal, big / 2))
    tree = cKDTree(P)
    kq = min(npool, k + (8 if ties == "all" else 0))
    dist, idx = tree.query(F, k=kq, workers=-1)
    dist, idx = dist.reshape(nf, kq), idx.reshape(nf, kq)
    kth = dist[:, min(k, kq) - 1]
    reach = np.minimum(np.minimum(kth, cal), big / 2)
    if ties == "all":
        sat = (dist[:, -1] <= reach + _tol(reach)) & (kq < npool)
        while sat.any():  # some rows have more ties than we asked for: ask again with more
            kq2 = min(npool, kq * 4)
            d2, i2 = tree.query(F[sat], k=kq2, workers=-1)
            d2, i2 = d2.reshape(-1, kq2), i2.reshape(-1, kq2)
            dist = np.pad(dist, ((0, 0), (0, kq2 - kq)), constant_values=np.inf)
            idx = np.pad(idx, ((0, 0), (0, kq2 - kq)), constant_values=npool)
            dist[sat], idx[sat] = d2, i2
            kq = kq2
            sat = sat & (dist[:, -1] <= reach + _tol(reach)) & (kq < npool)
        keep = dist <= (reach + _tol(reach))[:, None]
    else:
        dist, idx = dist[:, :k], idx[:, :k]
        keep = dist <= reach[:, None]
    keep &= idx < npool
    counts = keep.sum(axis=1)
    rows = np.repeat(np.arange(nf), counts)
    return Matches(rows, idx[keep], 1.0 / counts[rows], counts, dist[keep])


def knn_means(fx: np.ndarray, px: np.ndarray, pv: np.ndarray, k: int = 1) -> np.ndarray:
    """Mean of ``pv`` (one row per pool row) over the ``k`` nearest pool rows of every focal row
    by Euclidean distance on ``fx`` / ``px`` as given, all pool rows tied with the k-th kept.

    Identical rows are collapsed first (a pool row repeated m times counts m times), so
    discrete covariates with many exact ties cost one KD-tree query per distinct row. Each
    query asks for ``k + 1`` distinct rows and only rows whose last one is still within the
    k-th unit's distance ask again (for four times as many).
    """
    pv = np.asarray(pv, dtype=float).reshape(len(px), -1)
    pu, pinv = np.unique(np.asarray(px, dtype=float), axis=0, return_inverse=True)
    fu, finv = np.unique(np.asarray(fx, dtype=float), axis=0, return_inverse=True)
    pinv, finv = pinv.ravel(), finv.ravel()
    mult = np.bincount(pinv, minlength=len(pu))
    sums = np.column_stack([np.bincount(pinv, weights=pv[:, j], minlength=len(pu)) for j in range(pv.shape[1])])
    tree = cKDTree(pu)
    todo, kq = np.arange(len(fu)), min(len(pu), k + 1)
    hit_f, hit_p = [], []
    while len(todo):
        dist, idx = tree.query(fu[todo], k=kq, workers=-1)
        dist, idx = dist.reshape(len(todo), kq), idx.reshape(len(todo), kq)
        cum = np.cumsum(mult[idx], axis=1)  # units within each distance (distances come sorted)
        pos = np.where(cum[:, -1] >= k, np.argmax(cum >= k, axis=1), kq - 1)
        kth = dist[np.arange(len(todo)), pos]
        reach = kth + _tol(kth)
        done = (dist[:, -1] > reach) | (kq >= len(pu))
        r, c = np.nonzero((dist <= reach[:, None]) & done[:, None])
        hit_f.append(todo[r])
        hit_p.append(idx[r, c])
        todo, kq = todo[~done], min(len(pu), kq * 4)
    f, p = np.concatenate(hit_f), np.concatenate(hit_p)
    cnt = np.bincount(f, weights=mult[p], minlength=len(fu))
    out = np.column_stack([np.bincount(f, weights=sums[p, j], minlength=len(fu)) for j in range(pv.shape[1])])
    return (out / cnt[:, None])[finv]


@numba.njit(cache=True)
def _greedy_lists(forder, cand, cdist, used, cal, out_pool, out_dist, r):
    for t in range(len(forder)):
        f = forder[t]
        if out_pool[f, r] >= 0:
            continue
        for c in range(cand.shape[1]):
            j = cand[f, c]
            if j < 0 or cdist[f, c] > cal:
                break
            if not used[j]:
                used[j] = True
                out_pool[f, r] = j
                out_dist[f, r] = cdist[f, c]
                break


def _maha_without(F: np.ndarray, P: np.ndarray, k: int, cal: float) -> Matches:
    nf, npool = len(F), len(P)
    used = np.zeros(npool, np.bool_)
    out_pool = np.full((nf, k), -1, np.int64)
    out_dist = np.full((nf, k), np.inf)
    forder = np.arange(nf)
    for r in range(k):
        pending = forder if r == 0 else forder[out_pool[forder, r - 1] >= 0]
        kq = 8
        while len(pending) and (~used).any():
            free = np.flatnonzero(~used)
            kq = min(kq, len(free))
            d, i = cKDTree(P[free]).query(F[pending], k=kq, workers=-1)
            d, i = d.reshape(-1, kq), i.reshape(-1, kq)
            cand = np.full((nf, kq), -1, np.int64)
            cdist = np.full((nf, kq), np.inf)
            cand[pending], cdist[pending] = free[i], d
            _greedy_lists(pending.astype(np.int64), cand, cdist, used, cal, out_pool, out_dist, r)
            # still unmatched although their candidate list was not exhausted by the caliper: ask for more
            again = pending[(out_pool[pending, r] < 0) & (cdist[pending, -1] <= cal)]
            if len(again) == len(pending) and kq >= len(free):
                break
            pending = again
            kq *= 4
    keep = out_pool >= 0
    counts = keep.sum(axis=1)
    rows = np.repeat(np.arange(nf), counts)
    return Matches(rows, out_pool[keep], 1.0 / counts[rows], counts, out_dist[keep])
