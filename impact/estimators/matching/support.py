"""Common support: overlap summary and trimming rules on the propensity score."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from impact.errors import DesignError


def crump_alpha(score: np.ndarray) -> float:
    """Crump, Hotz, Imbens and Mitnik (2009) optimal trimming threshold.

    Keep ``alpha <= e <= 1 - alpha``: alpha = 0 when ``max g <= 2 mean g`` with
    ``g = 1/(e(1-e))``, otherwise ``1/(alpha(1-alpha)) = gamma`` solves
    ``gamma = 2 E[g | g <= gamma]``.
    """
    g = np.sort(1.0 / (score * (1.0 - score)))
    if g[-1] <= 2.0 * g.mean():
        return 0.0
    cm = np.cumsum(g) / np.arange(1, len(g) + 1)
    g_next = np.append(g[1:], np.inf)
    # on [g_j, g_j+1) the conditional mean is cm[j]: the root is gamma = 2 cm[j] if it lies there
    j = np.flatnonzero((g <= 2.0 * cm) & (2.0 * cm < g_next))
    gamma = 2.0 * cm[j[0]] if len(j) else g[-1]
    return float(0.5 - np.sqrt(max(0.25 - 1.0 / gamma, 0.0)))


def trim_mask(score: np.ndarray, d: np.ndarray, rule: Any) -> tuple[np.ndarray, dict]:
    """Rows to keep under a trimming rule, and a description of what was done.

    ``rule``: ``None`` (keep all), ``"minmax"`` (drop units outside the score range of the
    other group: [max(min_T, min_C), min(max_T, max_C)]), ``"crump"`` (Crump et al. 2009),
    or ``(lo, hi)`` (keep ``lo <= e <= hi``).
    """
    if rule is None:
        return np.ones(len(score), bool), {"rule": None}
    if isinstance(rule, str) and rule.lower() in ("minmax", "min-max", "min_max"):
        lo = max(score[d].min(), score[~d].min())
        hi = min(score[d].max(), score[~d].max())
        desc = {"rule": "minmax"}
    elif isinstance(rule, str) and rule.lower() == "crump":
        a = crump_alpha(score)
        lo, hi = a, 1 - a
        desc = {"rule": "crump", "alpha": a}
    elif isinstance(rule, (tuple, list)) and len(rule) == 2:
        lo, hi = float(rule[0]), float(rule[1])
        if not 0 <= lo < hi <= 1:
            raise DesignError(f"trim=(lo, hi) needs 0 <= lo < hi <= 1, got {rule}")
        desc = {"rule": f"({lo:g}, {hi:g})"}
    else:
        raise DesignError(f"trim must be None, 'minmax', 'crump' or a (lo, hi) pair, got {rule!r}")
    keep = (score >= lo) & (score <= hi)
    desc.update(lower=float(lo), upper=float(hi), dropped_treated=int((~keep & d).sum()),
                dropped_controls=int((~keep & ~d).sum()))
    if not (keep & d).any() or not (keep & ~d).any():
        raise DesignError(
            f"no overlap: trimming to [{lo:.4g}, {hi:.4g}] leaves {int((keep & d).sum())} treated and "
            f"{int((keep & ~d).sum())} controls"
        )
    return keep, desc


def _sorted_quantiles(s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantiles of an ascending array, by linear interpolation (numpy's default method)."""
    pos = q * (len(s) - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, len(s) - 1)
    t = pos - lo
    a, b = s[lo], s[hi]
    return np.where(t >= 0.5, b - (b - a) * (1 - t), a + (b - a) * t)


def overlap_summary(score: np.ndarray, d: np.ndarray, order: np.ndarray | None = None) -> pd.DataFrame:
    """Score distribution by group and how many units lie outside the other group's range.

    ``order`` (optional) sorts ``score`` ascending; it spares the quantiles their sorting."""
    if order is None:
        order = np.argsort(score, kind="stable")
    ss, ds = score[order], d[order]
    groups = {True: ss[ds], False: ss[~ds]}  # ascending scores of each group
    rows = []
    for name, g in (("treated", True), ("control", False)):
        s, o = groups[g], groups[not g]
        p01, p25, med, p75, p99 = _sorted_quantiles(s, np.array([0.01, 0.25, 0.5, 0.75, 0.99]))
        # units outside [min, max] of the other group: two binary searches in the sorted scores
        outside = int(np.searchsorted(s, o[0], "left") + len(s) - np.searchsorted(s, o[-1], "right"))
        rows.append({
            "group": name, "n": len(s), "min": s[0], "p01": p01, "p25": p25, "median": med, "p75": p75,
            "p99": p99, "max": s[-1], "n_outside_other_range": outside,
        })
    return pd.DataFrame(rows)


def check_overlap(score: np.ndarray, d: np.ndarray) -> None:
    """Raise DesignError when the score ranges of treated and controls do not overlap at all."""
    if score[d].min() > score[~d].max() or score[d].max() < score[~d].min():
        raise DesignError(
            f"no overlap: treated scores lie in [{score[d].min():.4g}, {score[d].max():.4g}], controls in "
            f"[{score[~d].min():.4g}, {score[~d].max():.4g}]"
        )
