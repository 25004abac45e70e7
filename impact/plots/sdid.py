"""Plots of synthetic difference-in-differences and of area estimators side by side.

* :func:`sdid_trends_plot`: the treated units' mean and the unit-weighted control path, the
  control path shifted to the treated units' time-weighted pre-period level (the
  counterfactual) and the time weights shaded under the pre-period (``SdidResults.trends()``);
* :func:`unit_weights_plot`: for each control unit, the difference-in-differences estimate
  against it alone, dot size by its unit weight, the SDID estimate as a line
  (``SdidResults.unit_contributions()``), as ``synthdid_units_plot``;
* :func:`estimator_comparison_plot`: estimates with intervals of several estimators (and the
  truth where known), from a tidy table such as ``AreaComparison.table``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from impact.plots.style import figure, finish, percent_axis


def sdid_trends_plot(
    trends: pd.DataFrame,
    treated_label: str = "treated",
    control_label: str = "synthetic control (unit weights)",
    shifted_label: str = "counterfactual (shifted control)",
    xlabel: str = "period",
    ylabel: str = "outcome",
    title: str | None = None,
    time_weights_label: str = "time weights",
) -> Figure:
    """Weighted trends with the time weights shaded (columns ``time``, ``treated``, ``control``,
    ``control_shifted``, ``time_weight``, ``post``)."""
    d = trends.sort_values("time")
    x = d["time"].to_numpy()
    fig, ax = figure(3.8, 6.5)
    ax.plot(x, d["treated"], color="C3", linewidth=2, label=treated_label)
    ax.plot(x, d["control"], color="C0", linewidth=1.2, label=control_label)
    ax.plot(x, d["control_shifted"], color="C0", linestyle="--", linewidth=1.2, label=shifted_label)
    post = d["post"].to_numpy(dtype=bool)
    if post.any():
        ax.axvline(x[np.flatnonzero(post)[0]], color="grey", linestyle=":", linewidth=1)
    tw = d["time_weight"].to_numpy(dtype=float)
    if tw.max() > 0:  # time weights as bars along the bottom of the panel
        lo, hi = ax.get_ylim()
        height = 0.25 * (hi - lo) * tw / tw.max()
        width = float(np.min(np.diff(x.astype(float)))) if len(x) > 1 else 1.0
        ax.bar(x[~post], height[~post], bottom=lo, width=0.8 * width, color="C2", alpha=0.35,
               label=time_weights_label)
        ax.set_ylim(lo, hi)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    return finish(fig, ax, title)


def unit_weights_plot(
    contributions: pd.DataFrame,
    estimate: float,
    xlabel: str = "control unit",
    ylabel: str = "difference-in-differences against the unit",
    title: str | None = None,
    max_labels: int = 40,
    weight_label: str = "unit weight > 0 (size: weight)",
    zero_label: str = "weight 0",
    estimate_label: str = "estimate",
) -> Figure:
    """Dot plot: one dot per control unit at its own DiD estimate, size by unit weight
    (weight 0: a cross); the horizontal line is the weighted average (the estimate)."""
    d = contributions.sort_values("unit")
    fig, ax = figure(3.8, max(6.5, 0.18 * len(d)))
    x = np.arange(len(d))
    w = d["weight"].to_numpy(dtype=float)
    pos = w > 0
    ax.scatter(x[pos], d["estimate"].to_numpy()[pos], s=20 + 600 * w[pos] / max(w.max(), 1e-12), color="C0",
               alpha=0.7, label=weight_label)
    ax.scatter(x[~pos], d["estimate"].to_numpy()[~pos], marker="x", color="0.6", s=15, label=zero_label)
    ax.axhline(estimate, color="C3", linewidth=1.5, label=estimate_label)
    ax.axhline(0, color="black", linewidth=0.6)
    if len(d) <= max_labels:
        ax.set_xticks(x)
        ax.set_xticklabels([str(u) for u in d["unit"]], rotation=90, fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    return finish(fig, ax, title)


def estimator_comparison_plot(
    table: pd.DataFrame,
    label: str = "estimator",
    estimate: str = "estimate",
    lower: str = "ci_lower",
    upper: str = "ci_upper",
    truth: str | None = "truth",
    ylabel: str = "effect",
    title: str | None = None,
    percent: bool = False,
    estimate_label: str = "estimate (interval)",
    truth_label: str = "truth",
) -> Figure:
    """Estimates and intervals of several estimators side by side; the truth (when the
    table has it) as a dashed line per estimator; ``percent``: the effects are differences of
    shares, shown in percentage points."""
    d = table.reset_index(drop=True)
    fig, ax = figure(3.6, 6.5)
    x = np.arange(len(d))
    est = d[estimate].to_numpy(dtype=float)
    lo, hi = d[lower].to_numpy(dtype=float), d[upper].to_numpy(dtype=float)
    has = np.isfinite(lo) & np.isfinite(hi)
    ax.errorbar(x[has], est[has], yerr=[est[has] - lo[has], hi[has] - est[has]], fmt="o", capsize=4, color="C0",
                label=estimate_label)
    ax.plot(x[~has], est[~has], "o", color="C0")
    if truth and truth in d and d[truth].notna().any():
        tv = d[truth].to_numpy(dtype=float)
        for i, v in enumerate(tv):
            if np.isfinite(v):
                ax.hlines(v, i - 0.3, i + 0.3, colors="C3", linestyles="--", label=truth_label if i == 0 else None)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels(d[label].astype(str))
    if percent:  # effects on a share: differences in percentage points
        percent_axis(ax, "y", signed=True, points=True)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    return finish(fig, ax, title)
