"""Figures: one style and the plotting primitives of the reports and notebooks.

A leaf of the package: it imports nothing of the pipeline; estimators expose their data and the report
(or a notebook) draws it (:mod:`impact.plots.results` for the named figures of each result).
"""

from impact.plots import style
from impact.plots.core import (band_lines, binned_histogram, dot_plot, estimate_bars, event_study_plot,
                               group_time_heatmap, highlight_lines, interval_dots, multi_lines, overlap_histogram)
from impact.plots.honest import sensitivity_plot
from impact.plots.policy import policy_tree_figure
from impact.plots.results import (event_band, event_study, leave_one_out, love_plot, overlap_plot, placebo_gaps,
                                  rmspe_histogram, rmspe_ratios, synth_gap, synth_paths)
from impact.plots.sdid import estimator_comparison_plot, sdid_trends_plot, unit_weights_plot

__all__ = ["style", "dot_plot", "overlap_histogram", "band_lines", "estimate_bars", "binned_histogram", "event_study_plot",
           "group_time_heatmap", "highlight_lines", "interval_dots", "multi_lines", "love_plot", "overlap_plot", "event_study",
           "synth_paths", "synth_gap", "placebo_gaps", "rmspe_ratios", "rmspe_histogram", "leave_one_out", "event_band",
           "sensitivity_plot", "sdid_trends_plot", "unit_weights_plot", "estimator_comparison_plot",
           "policy_tree_figure"]
