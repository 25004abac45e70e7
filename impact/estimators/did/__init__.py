"""Staggered difference-in-differences (Callaway and Sant'Anna 2021) and a TWFE baseline.

``from impact.estimators import did``; ``res = did.att_gt(data, unit=..., time=..., group=...,
outcome=...)``; ``res.att_gt``, ``res.aggregate("dynamic")``, ``res.pretest()``; ``did.twfe(...)``, ``did.twfe_weights(...)``;
``did.placebo_in_time(data, ..., shift=k)`` (refutation: cohorts moved k periods earlier);
``did.honest_bounds(res.aggregate("dynamic"), method="relative_magnitude")`` (Rambachan-Roth bounds
under bounded violations of parallel trends; needs ``base_period="universal"``).
"""

from impact.estimators.did._attgt import att_gt
from impact.estimators.did.honest import EventStudy, EventStudyLike, HonestBounds, event_study, honest_bounds
from impact.estimators.did.placebo import PlaceboResults, placebo_in_time
from impact.estimators.did.results import AggregateResults, AttGtResults, Overall, Pretest
from impact.estimators.did.twfe import TwfeResults, twfe, twfe_weights

__all__ = ["att_gt", "honest_bounds", "HonestBounds", "EventStudy", "EventStudyLike", "event_study", "twfe", "twfe_weights", "placebo_in_time", "PlaceboResults", "AttGtResults", "AggregateResults", "Overall", "Pretest", "TwfeResults"]
