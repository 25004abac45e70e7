"""Noise-scaled placebo interval for the synthetic-control ATT.

Estimand: the average post-period effect of one treated unit, ``theta = mean_{t >= T0}
alpha_t`` (several treated units: the mean of their ``theta``).

The in-space placebo interval ``ATT -/+ q(|placebo ATT|)`` treats the donors' placebo ATTs as
draws of the treated unit's estimation error. That holds only if every unit's gap is equally
noisy; units that are rates of populations of different size are not (Ferman and Pinto 2017
on heteroskedastic placebo tests): with donors smaller than the treated unit the interval is
too wide, with larger donors too narrow. Standardising by the pre-period RMSPE (Abadie,
Diamond and Hainmueller 2010's ratio idea) corrects the scale with a biased yardstick: the
pre-period fit is in-sample, and how much noise the weights absorb differs between units.

Here each unit's gap is standardised by a noise scale that does not come from its own fit:

* ``v_i``: the variance over the pre-period of the unit's month-to-month change after
  removing the common change (the cross-unit median change of that period): the unit's
  idiosyncratic noise level;
* the gap of unit ``i`` with weights ``w`` is ``Y_i - sum_k w_k Y_k``, so its noise scale is
  ``s_i = sqrt(v_i + sum_k w_k^2 v_k)`` (treated unit: its weights; placebo ``j``: the
  weights of its placebo fit);
* ``z_j = ATT_j / s_j`` over the placebos; standard error ``se = s_1 * SD(z)``; interval
  ``ATT -/+ t_{J-1} se``.

Assumption (besides those of the synthetic control): units differ in the level of their
noise but not in its time structure (same persistence), so that the standardised placebo
ATTs are draws from the distribution of the treated unit's standardised error. This is the
case for rates of populations of different sizes driven by the same individual dynamics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from impact.errors import DesignError


@dataclass(frozen=True)
class ScaledPlacebo:
    """Standardised placebo ATTs of one treated unit: ``z`` (one per placebo), the treated
    unit's noise scale ``scale`` and ``att``; for pooling, its own noise variance and the
    donors (labels) with their weights and noise variances."""

    att: float
    scale: float
    z: np.ndarray
    own_var: float = float("nan")
    donor_labels: np.ndarray | None = None
    donor_weights: np.ndarray | None = None
    donor_vars: np.ndarray | None = None


def noise_variance(Y_pre: np.ndarray) -> np.ndarray:
    """Idiosyncratic noise variance of each column of a pre-period outcome matrix (T0 x units):
    variance of its period-to-period change minus the cross-unit median change."""
    if Y_pre.shape[0] < 3:
        raise DesignError(f"the noise-scaled placebo interval needs at least 3 pre-treatment periods, got {Y_pre.shape[0]}")
    d = np.diff(Y_pre, axis=0)
    d = d - np.median(d, axis=1, keepdims=True)
    return d.var(axis=0, ddof=1)


def gap_scale(v: np.ndarray, unit: int, weights: np.ndarray) -> float:
    """Noise scale of the gap ``Y_unit - Y @ weights`` (``weights`` over all columns, 0 on the unit)."""
    return float(np.sqrt(v[unit] + np.sum(weights**2 * v)))


def scaled_placebo(att: float, v: np.ndarray, unit: int, weights: np.ndarray, placebo_units: np.ndarray,
                   placebo_weights: np.ndarray, placebo_atts: np.ndarray, labels: np.ndarray | None = None
                   ) -> ScaledPlacebo:
    """Standardise the placebo ATTs (rows of ``placebo_weights`` are the placebo fits' weights
    over all columns) and return them with the treated unit's scale (``labels``: the column
    names, kept for pooling several treated units that share donors)."""
    s1 = gap_scale(v, unit, weights)
    s = np.array([gap_scale(v, int(u), w) for u, w in zip(placebo_units, placebo_weights)])  # J placebos
    bad = ~(s > 0)
    if bad.any() or not s1 > 0:
        raise DesignError("a unit's outcome does not change over the pre-period (noise scale 0); "
                          "the noise-scaled placebo interval is undefined")
    pos = weights > 0
    return ScaledPlacebo(float(att), s1, np.asarray(placebo_atts, dtype=float) / s, float(v[unit]),
                         None if labels is None else np.asarray(labels)[pos], weights[pos], v[pos])


def pooled_scale(sp: list[ScaledPlacebo]) -> float:
    """Noise scale of the mean gap of several treated units whose synthetic controls share
    donors: ``(1/U) sqrt(sum_u v_u + sum_k (sum_u w_uk)^2 v_k)`` (a shared donor's noise
    enters every synthetic unit that uses it)."""
    own = sum(p.own_var for p in sp)
    wsum: dict = {}
    vk: dict = {}
    for p in sp:  # a handful of treated units
        for lab, w, v in zip(p.donor_labels, p.donor_weights, p.donor_vars):
            wsum[lab] = wsum.get(lab, 0.0) + w
            vk.setdefault(lab, []).append(v)
    shared = sum(wsum[k] ** 2 * float(np.mean(vk[k])) for k in wsum)
    return float(np.sqrt(own + shared)) / len(sp)


def interval(sp: list[ScaledPlacebo], level: float = 0.95, n_draws: int = 4000, seed: int = 0) -> dict:
    """Interval for the mean ATT of one or several treated units.

    One unit: ``se = s_1 SD(z)``. Several: ``se = s_pool x RMS_u SD(z_u)`` with ``s_pool``
    from :func:`pooled_scale`, which counts a donor shared by several synthetic controls once
    with its summed weight (treating the units' errors as independent understates the spread
    of their mean by about 15 % in the validation harness). Critical value from Student's t
    with ``min J - 1`` degrees of freedom.
    Returns ``estimate, std_error, ci_lower, ci_upper, p_value, df``.
    """
    if not (0 < level < 1):
        raise DesignError(f"level must be in (0, 1), got {level}")
    if min(p.z.size for p in sp) < 3:
        raise DesignError("the noise-scaled placebo interval needs at least 3 placebo units")
    est = float(np.mean([p.att for p in sp]))
    if len(sp) == 1:
        se = sp[0].scale * float(np.std(sp[0].z, ddof=1))
    elif all(p.donor_labels is not None for p in sp):
        se = pooled_scale(sp) * float(np.sqrt(np.mean([np.var(p.z, ddof=1) for p in sp])))
    else:  # no donor labels: treat the units' errors as independent
        rng = np.random.default_rng(seed)
        d = np.mean([p.scale * p.z[rng.integers(p.z.size, size=n_draws)] for p in sp], axis=0)
        se = float(np.std(d, ddof=1))
    df = min(p.z.size for p in sp) - 1
    crit = float(stats.t.ppf(0.5 + level / 2, df))
    p = float(2 * stats.t.sf(abs(est) / se, df)) if se > 0 else float("nan")
    return {"estimate": est, "std_error": se, "ci_lower": est - crit * se, "ci_upper": est + crit * se,
            "p_value": p, "df": df}


INTERVAL_METHODS = ("scaled_placebo", "placebo", "conformal")


def conformal_or_reject(results, method: str, estimate: float, level: float) -> dict | None:
    """The ``"conformal"`` row of ``att_interval`` (None for the other known methods).

    Shared by the single and pooled synthetic controls: the conformal interval carries no
    standard error and is not written onto the ATT row. An unknown ``method`` is a DesignError.
    """
    if method not in INTERVAL_METHODS:
        raise DesignError(f"att_interval method must be one of {list(INTERVAL_METHODS)}, got {method!r}")
    if method != "conformal":
        return None
    r = results.conformal(level=level)
    return {"estimate": estimate, "std_error": float("nan"), "ci_lower": r.ci_lower, "ci_upper": r.ci_upper,
            "p_value": r.p_value, "method": method}
