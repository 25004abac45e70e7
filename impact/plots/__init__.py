"""Figures: one style and the plotting primitives of the reports and notebooks.

A leaf of the package: it imports nothing of the pipeline; estimators expose their data and the report
(or a notebook) draws it.
"""

from impact.plots.core import dot_plot, overlap_histogram, band_lines, estimate_bars, binned_histogram, event_study_plot, group_time_heatmap, highlight_lines, multi_lines
from impact.plots.honest import sensitivity_plot
from impact.plots.sdid import estimator_comparison_plot, sdid_trends_plot, unit_weights_plot

__all__ = ["dot_plot", "overlap_histogram", "band_lines", "estimate_bars", "binned_histogram", "event_study_plot", "group_time_heatmap", "highlight_lines", "multi_lines",
           "sensitivity_plot", "sdid_trends_plot", "unit_weights_plot", "estimator_comparison_plot"]
