"""Staggered difference-in-differences (Callaway and Sant'Anna 2021) and a TWFE baseline.

``from impact.estimators import did``; ``res = did.att_gt(data, unit=..., time=..., group=...,
outcome=...)``; ``res.att_gt``, ``res.aggregate("dynamic")``, ``res.pretest()``; ``did.twfe(...)``, ``did.twfe_weights(...)``;
``did.placebo_in_time(data, ..., shift=k)`` (refutation: cohorts moved k periods earlier).
"""

from impact.estimators.did._attgt import att_gt
from impact.estimators.did.placebo import PlaceboResults, placebo_in_time
from impact.estimators.did.results import AggregateResults, AttGtResults, Overall, Pretest
from impact.estimators.did.twfe import TwfeResults, twfe, twfe_weights

__all__ = ["att_gt", "twfe", "twfe_weights", "placebo_in_time", "PlaceboResults", "AttGtResults", "AggregateResults", "Overall", "Pretest", "TwfeResults"]
