"""Synthetic control (Abadie and Gardeazabal 2003; Abadie, Diamond and Hainmueller 2010, 2015).

Estimand: for a treated unit with treatment at period ``T0``, the effect path
``alpha_t = Y_1t(1) - Y_1t(0)`` for ``t >= T0``, estimated by the gap
``Y_1t - sum_j w_j Y_jt`` between the treated unit and its synthetic control: donor weights
``w`` on the simplex that reproduce the treated unit's predictors, with predictor weights V
chosen so that the synthetic unit tracks the treated outcome over the fit window.

Conventions: the pre-treatment period is ``t < T0``, the post-treatment period is ``t >= T0``;
the fit window defaults to the whole pre-period; the average effect over a window is the mean
gap over its post-treatment periods. ``predictors=None`` gives the outcome-only variant
(V = identity over the fit-window outcomes, i.e. W minimises the pre-period MSPE directly).

Inference: by permutation (:meth:`SynthResults.placebo`): every donor is in turn given the
treatment; the treated unit's post/pre RMSPE ratio is ranked among all ``J + 1`` ratios and
``p = rank / (J + 1)``; and a confidence interval for the ATT (:meth:`SynthResults.att_interval`),
by default from the placebo ATTs standardised by each unit's noise scale
(:mod:`impact.estimators.synth.interval`), which stays calibrated when donors and treated unit
differ in noise level (a large area among small donors), unlike the plain spread of placebo
ATTs; the conformal interval of Chernozhukov, Wüthrich and Zhu (2021) is an option
(:meth:`SynthResults.conformal`). See docs/validation.md for their coverage.

Usage::

    from impact.estimators import synth
    res = synth.synthetic_control(df, unit="state", time="year", outcome="cigsale",
                                  treated="California", treatment_time=1989,
                                  predictors=[("lnincome", (1980, 1988)), ...])
    res.weights, res.v, res.pre_rmspe, res.paths, res.att(1989, 2000)
    ci = res.att_interval()     # estimate, std_error, ci_lower, ci_upper, p_value
    pl = res.placebo()          # pl.p_value, pl.ratios

Synthetic difference-in-differences (:mod:`impact.estimators.synth.sdid`) and the ridge-augmented
synthetic control (:mod:`impact.estimators.synth.augmented`)::

    sd = synth.synthetic_did(df, unit="state", time="year", outcome="cigsale", treated="California",
                             treatment_time=1989, se="placebo")   # sd.estimate, sd.std_error, sd.comparison
    asc = synth.augmented_synthetic_control(df, "state", "year", "cigsale", "California", 1989)
    asc.att(), asc.weights, asc.interval("jackknife+")
"""

from impact.estimators.synth.augmented import AscmResults, augmented_synthetic_control
from impact.estimators.synth.compare import AreaComparison, compare_area_estimators
from impact.estimators.synth.conformal import ConformalResults
from impact.estimators.synth.core import LeaveOneOutResults, PlaceboResults, SynthResults, synthetic_control
from impact.estimators.synth.multi import MultiSynthResults
from impact.estimators.synth.peers import PeerGroups, development_flags, peer_groups
from impact.estimators.synth.sdid import SdidResults, synthetic_did

__all__ = [
    "synthetic_control",
    "SynthResults",
    "PlaceboResults",
    "LeaveOneOutResults",
    "MultiSynthResults",
    "peer_groups",
    "PeerGroups",
    "development_flags",
    "ConformalResults",
    "synthetic_did",
    "SdidResults",
    "augmented_synthetic_control",
    "AscmResults",
    "compare_area_estimators",
    "AreaComparison",
]
