"""Matching estimators: nearest-neighbour matching on the propensity score or Mahalanobis
distance, inverse probability weighting and doubly robust (AIPW) estimates, with
balance and overlap diagnostics.

``from impact.estimators import matching``; then ``matching.match(...)``,
``matching.ipw(...)``, ``matching.aipw(...)``.
"""

from impact.estimators.matching.balance import balance_table, love_plot_data
from impact.estimators.matching.core import match
from impact.estimators.matching.propensity import PropensityModel, fit_logit, fit_propensity
from impact.estimators.matching.results import MatchingResults
from impact.estimators.matching.support import crump_alpha, overlap_summary, trim_mask
from impact.estimators.matching.weighting import aipw, ipw

__all__ = [
    "match", "ipw", "aipw", "MatchingResults", "balance_table", "love_plot_data", "PropensityModel", "fit_logit",
    "fit_propensity", "crump_alpha", "overlap_summary", "trim_mask",
]
