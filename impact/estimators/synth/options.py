"""Options of synthetic control and of the statistical peer groups (``[estimators.synth]``,
``[estimators.peer_groups]``). The months before and after the reform are
``outcomes.window_months``."""

from __future__ import annotations

from dataclasses import dataclass

from impact.options import option

SYNTH = ("synth",)
#: Estimators the area comparison can put beside the synthetic control.
COMPARE = ("sdid", "ascm", "did")


@dataclass(frozen=True)
class SynthOptions:
    """``[estimators.synth]``: synthetic control for the reformed area."""

    predictors: str = option("outcome_only", "What the synthetic area must reproduce before the reform: the "
                             "monthly employment rate only, or also the areas' structure (size, pre-reform rate, "
                             "foreign-language, education and long-term unemployment shares).", kind="str",
                             choices=("outcome_only", "structural"), applies=SYNTH)
    placebo: bool = option(True, "In-space placebos: refit with each donor as if it were reformed (permutation "
                           "p-value and the interval).", kind="bool", applies=SYNTH)
    in_time_placebo: bool = option(True, "In-time placebo: pretend the reform came 12 months earlier (needs 24 "
                                   "months before the reform).", kind="bool", applies=SYNTH)
    poor_fit_ratio: float = option(5.0, "Placebo areas whose pre-reform MSPE exceeds this many times the reformed "
                                   "area's are shown apart in the RMSPE-ratio histogram and left out of the "
                                   "good-fit placebo p-value (Abadie et al. 2010; SCtools' mspe.limit).",
                                   kind="float", lo=1.0, hi=1000.0, applies=SYNTH)
    leave_one_out: bool = option(False, "Refit leaving out each donor with positive weight in turn.", kind="bool",
                                 applies=SYNTH)
    compare: tuple[str, ...] = option(COMPARE, "Estimators reported beside the synthetic control on the same area "
                                      "panel, with the diagnostics that explain their differences: synthetic DiD "
                                      "('sdid', Arkhangelsky et al. 2021), ridge-augmented synthetic control ('ascm', "
                                      "Ben-Michael et al. 2021, jackknife+ interval) and plain DiD ('did'; both DiDs "
                                      "with synthdid's placebo standard errors); [] for none.", kind="str_list",
                                      choices=COMPARE, nonempty=False, applies=SYNTH)


@dataclass(frozen=True)
class PeerGroupOptions:
    """``[estimators.peer_groups]``: the reformed area's statistical peers among the donors."""

    k: int = option(8, "Number of peer areas.", kind="int", lo=1, hi=44, applies=SYNTH)
    metric: str = option("mahalanobis", "Distance between areas on their structural covariates.", kind="str",
                         choices=("mahalanobis", "propensity"), applies=SYNTH)


#: Keys that [estimators.synth] no longer accepts, and where their setting went.
MOVED = {
    "pre_months": "the months before the reform are outcomes.window_months[0] (e.g. window_months = [-36, 24])",
    "post_months": "the months after the reform are outcomes.window_months[1] (e.g. window_months = [-36, 24])",
}
