"""Options of the difference-in-differences analysis as a study config sets them (``[estimators.did]``).

The event window (months before and after entry) is ``outcomes.window_months`` and the
comparison (not yet / never treated) is ``comparison.kind``: each is set in one place only.
"""

from __future__ import annotations

from dataclasses import dataclass

from impact.options import option

DESIGNS = ("risk_set", "spell_time")
DID = ("did",)


@dataclass(frozen=True)
class DidOptions:
    """``[estimators.did]``: the staggered DiD design and its estimator.

    ``design = "risk_set"`` (default): each month's first-time entrants against job seekers
    who did not start then ('join now vs not now'), a stacked design
    (:func:`impact.designs.did_panels.risk_set_panel`); ``"spell_time"``: cohorts by the month
    of the job-seeking spell in which the service starts, not-yet-treated spells as comparison.
    """

    design: str = option("risk_set", "The DiD design: stacked risk sets around entry ('join now vs not now') or "
                         "cohorts in months since the job-seeking spell started.", kind="str", choices=DESIGNS,
                         applies=DID)
    cohorts: int = option(24, "Risk-set design: number of entry months (the last ones whose follow-up lies inside "
                          "the data), unless treatment.cohorts_from / cohorts_to name them.", kind="int", lo=1, hi=120,
                          applies=DID)
    controls_per_treated: int = option(3, "Risk-set design: comparison persons sampled per entrant (same month, "
                                       "area and months of unemployment).", kind="int", lo=1, hi=100, applies=DID)
    method: str = option("reg", "Estimator of each group-time effect: outcome regression, inverse probability "
                         "weighting or doubly robust.", kind="str", choices=("dr", "ipw", "reg"), applies=DID)
    anticipation: int = option(0, "Months before entry in which an effect may already show (the base period moves "
                               "back by as many months).", kind="int", lo=0, hi=12, applies=DID)
    base_period: str = option("varying", "Base period of the pre-entry effects: the month before each one "
                              "('varying') or the month before entry ('universal').", kind="str",
                              choices=("varying", "universal"), applies=DID)
    bootstrap: bool = option(True, "Multiplier bootstrap (999 draws, seeded) for the simultaneous confidence band "
                             "of the event study; false: pointwise intervals only.", kind="bool", applies=DID)
    cluster: str = option("person_id", "Cluster of the standard errors: persons (who recur across entry months), "
                          "employment areas, or none (the design's own units).", kind="str",
                          choices=("none", "person_id", "employment_area"), applies=DID)
    twfe: bool = option(False, "Also estimate the static two-way fixed-effects regression and say where it "
                        "differs from the group-time estimate.", kind="bool", applies=DID)
    sample_units: int = option(20_000, "Spell-time design: job-seeking spells in the (deterministic) subsample.",
                               kind="int", lo=100, hi=10_000_000, applies=DID)

    @property
    def cluster_column(self) -> str | None:
        return None if self.cluster == "none" else self.cluster


#: Keys that [estimators.did] no longer accepts, and where their setting went.
MOVED = {
    "pre_months": "the months before entry are outcomes.window_months[0] (e.g. window_months = [-12, 24])",
    "max_event_time": "the months after entry are outcomes.window_months[1] (e.g. window_months = [-12, 24])",
    "control_group": "the comparison is comparison.kind ('not_yet_treated' or 'never_treated')",
}
