"""Sensitivity plot of honest event-study bounds (Rambachan and Roth 2023).

Takes the table of ``HonestBounds.sensitivity_table()`` (columns ``m``, ``lower``, ``upper``,
``kind``: ``"original"`` for the interval under exact parallel trends, else the robust sets)
and draws one interval per value of ``Mbar`` / ``M`` beside the original one, as HonestDiD's
``createSensitivityPlot``; the breakdown value (where the sets first include zero) is marked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from impact.plots.style import figure, finish


def sensitivity_plot(
    table: pd.DataFrame,
    breakdown: float | None = None,
    method: str = "relative_magnitude",
    xlabel: str | None = None,
    ylabel: str = "effect",
    title: str | None = None,
    original_label: str = "original (parallel trends)",
    robust_label: str = "robust",
    breakdown_label: str = "breakdown",
    percent: bool = False,
    original_tick: str = "PT",
) -> Figure:
    """Robust confidence sets against the size of the allowed violation, with the original interval.

    ``sensitivity_plot(bounds.sensitivity_table(), bounds.breakdown, bounds.method)``.
    """
    d = table.copy()
    orig = d[d["kind"] == "original"]
    rob = d[d["kind"] != "original"].sort_values("m")
    ms = rob["m"].to_numpy(dtype=float)
    gap = float(np.min(np.diff(ms))) if len(ms) > 1 else max(float(ms[0]) if len(ms) else 1.0, 1.0) * 0.25
    x_orig = (ms.min() if len(ms) else 0.0) - gap
    fig, ax = figure(3.8, 6.5)
    if len(orig):
        o = orig.iloc[0]
        ax.errorbar([x_orig], [(o["lower"] + o["upper"]) / 2], yerr=[[(o["upper"] - o["lower"]) / 2]] * 2, fmt="none",
                    ecolor="C3", capsize=4, linewidth=2, label=original_label)
    if len(rob):
        mid = (rob["lower"] + rob["upper"]) / 2
        half = (rob["upper"] - rob["lower"]) / 2
        ax.errorbar(ms, mid, yerr=[half, half], fmt="none", ecolor="C0", capsize=4, linewidth=2, label=robust_label)
    ax.axhline(0, color="black", linewidth=0.8)
    if len(orig) and len(ms) <= 12:  # the original interval's tick says what it is, not an m it does not have
        ax.set_xticks([x_orig, *ms])
        ax.set_xticklabels([original_tick, *[f"{v:.3g}" for v in ms]])
    if breakdown is not None and np.isfinite(breakdown) and breakdown > 0:
        ax.axvline(breakdown, color="grey", linestyle="--", linewidth=1, label=f"{breakdown_label} {breakdown:.2g}")
    ax.set_xlabel(xlabel or ("Mbar (post violations relative to the largest pre-period one)"
                             if method == "relative_magnitude" else "M (change in the slope of the violation per period)"))
    if percent:
        import matplotlib.ticker as mticker

        ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=1))
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    return finish(fig, ax, title)
