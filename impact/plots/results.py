"""Named figures of the estimators' results, drawn from the data the results expose.

The results objects (:mod:`impact.estimators`) keep no plotting code: each function here takes
the data frame a result exposes (its balance table, paths, placebo gaps, ...) and draws it, so
the plotting stays a leaf that imports nothing of the pipeline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from impact.plots.core import band_lines, dot_plot, event_study_plot, highlight_lines, multi_lines, overlap_histogram


def love_plot(data: pd.DataFrame, threshold: float = 0.1, **kw) -> Figure:
    """Love plot: |SMD| by covariate before and after matching (``data``: covariate, stage, abs_smd,
    e.g. ``MatchingResults.love_plot_data()``), with the threshold line."""
    return dot_plot(data, y="covariate", x="abs_smd", hue="stage", reference=threshold,
                    xlabel=kw.pop("xlabel", "absolute standardised mean difference"), **kw)


def overlap_plot(data: pd.DataFrame, **kw) -> Figure:
    """Overlapping histograms of the propensity score by group (``MatchingResults.overlap_plot_data()``)."""
    return overlap_histogram(data, value="score", group="group", xlabel=kw.pop("xlabel", "propensity score"), **kw)


def event_study(estimates: pd.DataFrame, x: str = "event_time", **kw) -> Figure:
    """Event-study plot of aggregated DiD estimates (``AggregateResults.estimates`` of a dynamic aggregation)."""
    return event_study_plot(estimates, x=x, **kw)


def synth_paths(paths: pd.DataFrame, treated: str, treatment_time: float, ylabel: str = "", **kw) -> Figure:
    """Treated and synthetic outcome paths (``SynthResults.paths``), the treatment time marked."""
    return multi_lines(paths, "time", ["treated", "synthetic"], labels=[str(treated), f"synthetic {treated}"],
                       vline=treatment_time, ylabel=ylabel, **kw)


def synth_gap(paths: pd.DataFrame, treatment_time: float, ylabel: str = "gap", **kw) -> Figure:
    """Gap (treated minus synthetic) by period (``SynthResults.paths``)."""
    return multi_lines(paths, "time", ["gap"], labels=["gap"], vline=treatment_time, hline=0.0, ylabel=ylabel, **kw)


def placebo_gaps(gaps: pd.DataFrame, ratios: pd.DataFrame, treatment_time: float,
                 max_pre_mspe_ratio: float | None = None, **kw) -> Figure:
    """Placebo gaps of the donors (grey) and the treated unit's gap (highlighted), from
    ``PlaceboResults.gaps`` and ``.ratios``; placebos fitting more than ``max_pre_mspe_ratio``
    times worse before the treatment than the treated unit are left out."""
    g = gaps
    if max_pre_mspe_ratio is not None:
        tr = float(ratios.loc[ratios["treated"], "pre_mspe"].iloc[0])
        keep = ratios.loc[ratios["treated"] | (ratios["pre_mspe"] <= max_pre_mspe_ratio * tr), "unit"]
        g = g[g["unit"].isin(keep)]
    treated = ratios.loc[ratios["treated"], "unit"].iloc[0]
    return highlight_lines(g, "time", "gap", "unit", highlight=treated, vline=treatment_time, hline=0.0,
                           others_label="placebo (donor)", **kw)


def rmspe_ratios(ratios: pd.DataFrame, **kw) -> Figure:
    """Post/pre RMSPE ratios of all units, largest at the top (``PlaceboResults.ratios``)."""
    d = ratios.sort_values("ratio").assign(unit=lambda x: x["unit"].astype(str),
                                           role=lambda x: np.where(x["treated"], "treated", "placebo"))
    return dot_plot(d, y="unit", x="ratio", hue="role", order="data", xlabel="post/pre RMSPE ratio", **kw)


def leave_one_out(paths: pd.DataFrame, main: pd.DataFrame, treatment_time: float, **kw) -> Figure:
    """Treated path (highlighted) with the leave-one-out synthetic paths (grey), from
    ``LeaveOneOutResults.paths`` and ``.main``."""
    d = paths.rename(columns={"dropped": "series", "synthetic": "value"})[["series", "time", "value"]]
    d["series"] = "without " + d["series"].astype(str)
    tr = main[["time", "treated"]].rename(columns={"treated": "value"}).assign(series="treated")
    return highlight_lines(pd.concat([d, tr], ignore_index=True), "time", "value", "series", highlight="treated",
                           vline=treatment_time, others_label="synthetic, one donor left out", **kw)


def event_band(att_event: pd.DataFrame, band: pd.DataFrame | None = None, **kw) -> Figure:
    """Average gap by event time of several synthetic controls (``MultiSynthResults.att_event``), with
    the pooled placebo band (``placebo_results.band``) when given."""
    d = att_event.copy()
    if band is not None:
        d = d.merge(band[["event_time", "lower", "upper"]], on="event_time", how="left")
    else:
        d["lower"] = d["upper"] = d["estimate"]
    return band_lines(d, "event_time", "estimate", "lower", "upper", vline=-0.5, hline=0.0,
                      xlabel=kw.pop("xlabel", "periods since adoption"), ylabel=kw.pop("ylabel", "average gap"), **kw)
