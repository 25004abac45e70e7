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
    sw = w.sum()
    m = (w[:, None] * x).sum(axis=0) / sw
    # weighted variance with the "reliability weights" correction (cobalt's col_w_sd)
    denom = sw - (w**2).sum() / sw
    v = (w[:, None] * (x - m) ** 2).sum(axis=0) / (denom if denom > 0 else np.nan)
    return m, v


def sd_denominator(x: np.ndarray, d: np.ndarray, estimand: str = "ATT", s_d_denom: str | None = None) -> np.ndarray:
    """Standardising SD per covariate: ``"treated"``, ``"control"`` or ``"pooled"`` (default by estimand)."""
    which = s_d_denom or {"ATT": "treated", "ATC": "control", "ATE": "pooled"}[estimand]
    v1 = x[d].var(axis=0, ddof=1)
    v0 = x[~d].var(axis=0, ddof=1)
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
    binary = np.array([np.isin(np.unique(x[:, j]), (0.0, 1.0)).all() for j in range(x.shape[1])])
    sd = sd_denominator(x, d, estimand, s_d_denom)
    m1, v1 = _wmean_var(x[d], np.ones(d.sum()))
    m0, v0 = _wmean_var(x[~d], np.ones((~d).sum()))
    out = pd.DataFrame({
        "covariate": covariates,
        "type": np.where(binary, "binary", "continuous"),
        "mean_treated_before": m1,
        "mean_control_before": m0,
        "smd_before": (m1 - m0) / sd,
        "vr_before": np.where(binary, np.nan, v1 / v0),
    })
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        wt, wc = w[d], w[~d]
        a1, u1 = _wmean_var(x[d][wt > 0], wt[wt > 0])
        a0, u0 = _wmean_var(x[~d][wc > 0], wc[wc > 0])
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
