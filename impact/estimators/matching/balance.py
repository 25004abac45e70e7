"""Covariate balance à la R ``cobalt``: standardised mean differences, variance ratios,
Kolmogorov-Smirnov statistics and effective sample sizes.

The standardising SD is fixed by the estimand and computed once in the *unadjusted*
sample (as cobalt does), so that before/after differences are on the same scale:
treated SD for the ATT, control SD for the ATC, ``sqrt((s1^2 + s0^2)/2)`` for the ATE.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

from impact.estimators.matching._colstats import _BLOCK, ColumnStats, column_stats

SMD_THRESHOLD = 0.1
VR_BOUNDS = (0.5, 2.0)


@numba.njit(cache=True)
def _weighted_sums(x, d, w, shift, sw, sww, s1, s2):
    """Per group (row 0 controls, row 1 treated): sum of weights, of squared weights, and of
    ``w (x - shift)`` and ``w (x - shift)^2`` per column; rows with zero weight are skipped."""
    n, p = x.shape
    for i in range(n):
        wi = w[i]
        if wi == 0.0:
            continue
        g = 1 if d[i] else 0
        sw[g] += wi
        sww[g] += wi * wi
        for j in range(p):
            c = x[i, j] - shift[j]
            t = wi * c
            s1[g, j] += t
            s2[g, j] += t * c


def _weighted_mean_var(x: np.ndarray, d: np.ndarray, w: np.ndarray, shift: np.ndarray):
    """(2, p) weighted means and variances by group (controls, treated), with the "reliability
    weights" correction (cobalt's col_w_sd), from one pass over the rows."""
    n, p = x.shape
    sw, sww = np.zeros(2), np.zeros(2)
    s1, s2 = np.zeros((2, p)), np.zeros((2, p))
    for s in range(0, n, _BLOCK):  # partial sums per block stay accurate
        b1, b2 = np.zeros((2, p)), np.zeros((2, p))
        _weighted_sums(x[s : s + _BLOCK], d[s : s + _BLOCK], w[s : s + _BLOCK], shift, sw, sww, b1, b2)
        s1 += b1
        s2 += b2
    with np.errstate(invalid="ignore", divide="ignore"):
        mc = s1 / sw[:, None]
        denom = sw - sww / sw
        v = np.maximum(s2 - sw[:, None] * mc**2, 0.0) / np.where(denom > 0, denom, np.nan)[:, None]
    return mc + shift, v


def ks_statistic(x: np.ndarray, d: np.ndarray, w: np.ndarray | None = None,
                 binary: np.ndarray | None = None) -> np.ndarray:
    """Weighted two-sample Kolmogorov-Smirnov statistic per column (cobalt's ``col_w_ks``).

    ``max_v |F_1(v) - F_0(v)|`` with ``F_g`` the empirical distribution of the column in group ``g``
    under weights ``w`` (normalised to sum to one within each group; ``None``: all ones). A 0/1
    column's statistic is the absolute difference of its weighted means. Rows of zero (or
    negative) weight do not enter. One sort per continuous column, no loop over rows.
    """
    return ks_statistics(x, d, [w], binary)[0]


def ks_statistics(x: np.ndarray, d: np.ndarray, weights: list[np.ndarray | None],
                  binary: np.ndarray | None = None) -> np.ndarray:
    """:func:`ks_statistic` under each of several weight vectors, ``(len(weights), p)``.

    The columns are sorted once for all weight vectors: a row of weight zero adds nothing to the
    cumulative difference, so evaluating ``F_1 - F_0`` at its value as well gives a value the
    difference already takes, and the maximum is that of the weighted rows alone.
    """
    x = np.asarray(x, float)
    d = np.asarray(d, bool)
    out = np.full((len(weights), x.shape[1]), np.nan)
    diffs, rows = [], []
    for i, w in enumerate(weights):
        w = np.ones(len(d)) if w is None else np.where(np.asarray(w, float) > 0, w, 0.0)
        s1, s0 = w[d].sum(), w[~d].sum()
        if s1 > 0 and s0 > 0:
            diffs.append(np.where(d, w / s1, -w / s0))
            rows.append(i)
    if not rows:
        return out
    diff = np.vstack(diffs)
    if binary is None:
        binary = np.array([np.isin(np.unique(x[:, j]), (0.0, 1.0)).all() for j in range(x.shape[1])], bool)
    if binary.any():
        out[np.ix_(rows, np.flatnonzero(binary))] = np.abs(diff @ x[:, binary])
    for j in np.flatnonzero(~binary):  # one sort per continuous covariate; the order within ties does not matter
        order = np.argsort(x[:, j])
        xs = x[order, j]
        last = np.append(xs[1:] != xs[:-1], True)  # the step of F at a value comes after all its ties
        for r, dr in zip(rows, diff):
            out[r, j] = np.abs(np.cumsum(dr[order])[last]).max()
    return out


def effective_sample_size(w: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` of (treated, controls) under weights ``w``
    (cobalt's "Matched (ESS)" row; unweighted groups give their size)."""
    w = np.asarray(w, float)
    d = np.asarray(d, bool)

    def kish(v: np.ndarray) -> float:
        s2 = float((v * v).sum())
        return float(v.sum()) ** 2 / s2 if s2 > 0 else 0.0

    return kish(w[d]), kish(w[~d])


def sd_denominator(x: np.ndarray, d: np.ndarray, estimand: str = "ATT", s_d_denom: str | None = None) -> np.ndarray:
    """Standardising SD per covariate: ``"treated"``, ``"control"`` or ``"pooled"`` (default by estimand)."""
    return _sd_from(x[d].var(axis=0, ddof=1), x[~d].var(axis=0, ddof=1), estimand, s_d_denom)


def _sd_from(v1: np.ndarray, v0: np.ndarray, estimand: str, s_d_denom: str | None) -> np.ndarray:
    which = s_d_denom or {"ATT": "treated", "ATC": "control", "ATE": "pooled"}[estimand]
    if which == "treated":
        s = np.sqrt(v1)
    elif which == "control":
        s = np.sqrt(v0)
    elif which == "pooled":
        s = np.sqrt((v1 + v0) / 2)
    else:
        raise ValueError(f"s_d_denom must be 'treated', 'control' or 'pooled', got {which!r}")
    # a covariate constant within the reference group: fall back to the pooled SD
    return np.where(s > 0, s, np.sqrt((v1 + v0) / 2))


def balance_table(
    x: np.ndarray,
    d: np.ndarray,
    covariates: list[str],
    weights: np.ndarray | None = None,
    estimand: str = "ATT",
    s_d_denom: str | None = None,
    smd_threshold: float = SMD_THRESHOLD,
    vr_bounds: tuple[float, float] = VR_BOUNDS,
    stats: ColumnStats | None = None,
    ks: bool = True,
) -> pd.DataFrame:
    """Balance before and after adjustment.

    Parameters
    ----------
    x, d
        Covariates (n, p) and treatment indicator of the full (unadjusted) sample.
    weights
        Adjustment weights (matching frequency weights, IPW weights); ``None`` gives only
        the unadjusted columns.
    stats
        :func:`~impact.estimators.matching._colstats.column_stats` of ``x`` by ``d``, if
        already computed (the unadjusted columns come from them).
    ks
        Compute the Kolmogorov-Smirnov columns (one sort per continuous covariate, most of the
        table's time on millions of rows); ``False`` leaves them NaN.

    Returns
    -------
    DataFrame with one row per covariate: ``type`` (binary/continuous), means by group,
    ``smd_before``/``smd_after``, ``vr_before``/``vr_after`` (treated over control variance;
    not computed for binary covariates, as in cobalt), ``ks_before``/``ks_after`` (weighted
    Kolmogorov-Smirnov statistic, :func:`ks_statistic`; NaN with ``ks=False``), and the flags ``smd_flag`` (|SMD| >
    threshold) and ``vr_flag`` (variance ratio outside ``vr_bounds``), after adjustment when
    weights are given.
    """
    x = np.ascontiguousarray(x, dtype=float)
    d = np.ascontiguousarray(d, dtype=bool)
    if stats is None:
        stats = column_stats(x, d)
    binary = stats.binary
    v_g = stats.var_g(ddof=1)
    m1, m0, v1, v0 = stats.mean_g[1], stats.mean_g[0], v_g[1], v_g[0]
    sd = _sd_from(v1, v0, estimand, s_d_denom)
    out = pd.DataFrame({
        "covariate": covariates,
        "type": np.where(binary, "binary", "continuous"),
        "mean_treated_before": m1,
        "mean_control_before": m0,
        "smd_before": (m1 - m0) / sd,
        "vr_before": np.where(binary, np.nan, v1 / v0),
    })
    w = None if weights is None else np.ascontiguousarray(weights, dtype=float)
    wl = [None] if w is None else [None, w]
    kss = ks_statistics(x, d, wl, binary) if ks else np.full((len(wl), x.shape[1]), np.nan)
    out["ks_before"] = kss[0]
    if weights is not None:
        means, variances = _weighted_mean_var(x, d, w, stats.mean)
        a1, a0, u1, u0 = means[1], means[0], variances[1], variances[0]
        out["mean_treated_after"] = a1
        out["mean_control_after"] = a0
        out["smd_after"] = (a1 - a0) / sd
        out["vr_after"] = np.where(binary, np.nan, u1 / u0)
        out["ks_after"] = kss[1]
        smd, vr = out["smd_after"], out["vr_after"]
    else:
        smd, vr = out["smd_before"], out["vr_before"]
    out["smd_flag"] = smd.abs() > smd_threshold
    out["vr_flag"] = vr.notna() & ((vr < vr_bounds[0]) | (vr > vr_bounds[1]))
    out["balanced"] = ~(out["smd_flag"] | out["vr_flag"])
    return out


def love_plot_data(balance: pd.DataFrame) -> pd.DataFrame:
    """Long table for a love plot: covariate, stage (before/after), absolute SMD."""
    stages = [("before", "smd_before")] + ([("after", "smd_after")] if "smd_after" in balance else [])
    rows = [
        pd.DataFrame({"covariate": balance["covariate"], "stage": s, "abs_smd": balance[c].abs()}) for s, c in stages
    ]
    return pd.concat(rows, ignore_index=True)
