"""Staggered difference-in-differences (Callaway and Sant'Anna 2021) and a TWFE baseline.

``from impact.estimators import did``; ``res = did.att_gt(data, unit=..., time=..., group=...,
outcome=...)``; ``res.att_gt``, ``res.aggregate("dynamic")``, ``res.pretest()``; ``did.twfe(...)``.
"""

from impact.estimators.did._attgt import att_gt
from impact.estimators.did.results import AggregateResults, AttGtResults, Overall, Pretest
from impact.estimators.did.twfe import TwfeResults, twfe

__all__ = ["att_gt", "twfe", "AttGtResults", "AggregateResults", "Overall", "Pretest", "TwfeResults"]
