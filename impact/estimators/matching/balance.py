"""Covariate balance à la R ``cobalt``: standardised mean differences and variance ratios.

The standardising SD is fixed by the estimand and computed once in the *unadjusted*
sample (as cobalt does), so that before/after differences are on the same scale:
treated SD for the ATT, control SD for the ATC, ``sqrt((s1^2 + s0^2)/2)`` for the ATE.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SMD_THRESHOLD = 0.1
VR_BOUNDS = (0.5, 2.0)


def _wmean_var(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m, v = _wmean_var_many(x, w[:, None])
    return m[0], v[0]


def _wmean_var_many(x: np.ndarray, W: np.ndarray, xc: np.ndarray | None = None, xc2: np.ndarray | None = None):
    """Weighted means and variances of the columns of ``x`` under each weight column of
    ``W`` (n, g), with the "reliability weights" correction (cobalt's col_w_sd). Two
    matrix products on the centred data instead of one pass per group and statistic."""
    if xc is None:
        xc = x - x.mean(axis=0)
        xc2 = xc * xc
    sw = W.sum(axis=0)
    s1 = W.T @ xc
    s2 = W.T @ xc2
    with np.errstate(invalid="ignore", divide="ignore"):
        mc = s1 / sw[:, None]
        denom = sw - (W**2).sum(axis=0) / sw
        v = np.maximum(s2 - sw[:, None] * mc**2, 0.0) / np.where(denom > 0, denom, np.nan)[:, None]
    return mc + x.mean(axis=0), v


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
) -> pd.DataFrame:
    """Balance before and after adjustment.

    Parameters
    ----------
    x, d
        Covariates (n, p) and treatment indicator of the full (unadjusted) sample.
    weights
        Adjustment weights (matching frequency weights, IPW weights); ``None`` gives only
        the unadjusted columns.

    Returns
    -------
    DataFrame with one row per covariate: ``type`` (binary/continuous), means by group,
    ``smd_before``/``smd_after``, ``vr_before``/``vr_after`` (treated over control variance;
    not computed for binary covariates, as in cobalt), and the flags ``smd_flag`` (|SMD| >
    threshold) and ``vr_flag`` (variance ratio outside ``vr_bounds``), after adjustment when
    weights are given.
    """
    x = np.asarray(x, dtype=float)
    d = np.asarray(d, dtype=bool)
    binary = np.array([bool(np.all((x[:, j] == 0.0) | (x[:, j] == 1.0))) for j in range(x.shape[1])])
    # group means and variances before and after, all from two matrix products
    cols = [d, ~d]
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        cols += [np.where(d, w, 0.0), np.where(d, 0.0, w)]
    xc = x - x.mean(axis=0)
    means, variances = _wmean_var_many(x, np.column_stack(cols).astype(float), xc, xc * xc)
    m1, m0, v1, v0 = means[0], means[1], variances[0], variances[1]
    sd = _sd_from(v1, v0, estimand, s_d_denom)
    out = pd.DataFrame({
        "covariate": covariates,
        "type": np.where(binary, "binary", "continuous"),
        "mean_treated_before": m1,
        "mean_control_before": m0,
        "smd_before": (m1 - m0) / sd,
        "vr_before": np.where(binary, np.nan, v1 / v0),
    })
    if weights is not None:
        a1, a0, u1, u0 = means[2], means[3], variances[2], variances[3]
        out["mean_treated_after"] = a1
        out["mean_control_after"] = a0
        out["smd_after"] = (a1 - a0) / sd
        out["vr_after"] = np.where(binary, np.nan, u1 / u0)
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
