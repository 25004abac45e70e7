"""Matching on a risk-set design (:class:`impact.designs.dynamic.RiskSetDesign`)."""

from __future__ import annotations

from typing import Any, Sequence

from impact.estimators.matching.core import match
from impact.estimators.matching.results import MatchingResults


def match_design(design: Any, data: Any = None, covariates: Sequence[str] | None = None,
                 exact: Sequence[str] | None = None, **kwargs: Any) -> MatchingResults:
    """Nearest-neighbour propensity-score matching on a risk-set design (ATT within its exact cells).

    Estimand: the design's (``design.estimand``), e.g. the ATT of starting the service in month
    u of job seeking rather than not then. ``data``, ``covariates`` and ``exact`` default to the
    design's own (a study passes its population's rows and its chosen covariates); other keyword
    arguments go to :func:`impact.estimators.matching.match` (default ``k=5``). Persons recur
    across risk sets, so the variance is clustered by the design's person column.
    """
    kw = dict(k=5, exact=list(exact if exact is not None else design.exact), cluster=design.cluster,
              horizons=design.horizons)
    kw.update(kwargs)
    res = match(design.data if data is None else data, treatment="treated", outcome=design.outcomes,
                covariates=list(covariates if covariates is not None else design.covariates), **kw)
    res.estimand_note = design.estimand
    res.info["design"] = f"risk-set matching ({design.comparison}, outcomes from the service {design.origin})"
    res.notes.append("controls recur across risk sets (and can be treated later): the standard errors are "
                     f"clustered by {design.cluster!r} (the Abadie-Imbens variance plus within-person covariances; "
                     "vce='bootstrap' re-matches person-clustered resamples instead)")
    return res
