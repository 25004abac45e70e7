"""Which service for whom: the whole targeting analysis as one function of the register frames.

``service_targeting(spells, services, persons, panel, options)`` builds the multi-service
risk-set design, the doubly robust scores, learns and evaluates the allocation rule and
returns tidy tables for a report section (the gain with its interval and, on synthetic
registers, the truth; costs; the allocation; the rule's leaves; fairness by group; the tree
as a node table for :func:`impact.plots.policy.policy_tree_figure`). The study layer calls it
with the study's population and passes ``truth`` when the registers are synthetic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import polars as pl

from impact.designs.multi_service import DEFAULT_SERVICES, GROUP_COLUMNS, POLICY_FEATURES, multi_service_design
from impact.errors import ConfigError, DesignError
from impact.estimators.policy.evaluate import FeatureLabels, PolicyResults, learn_policy
from impact.estimators.policy.scores import PolicyScores, dr_scores
from impact.estimators.policy.tree import code_features
from impact.options import option
from impact.registers.schema import SERVICE_TYPES

#: Covariates the truth regressions condition on (design columns; see :mod:`impact.simulate.policy_truth`).
TRUTH_COVARIATES = ("age", "female", "educ_basic", "educ_tertiary", "lang_sv", "lang_other", "u", "segment_01",
                    "segment_02", "segment_03", "segment_04", "segment_05", "emp_1_12", "earn_1_12", "emp_pre_spell_12")

#: The analyses that read ``[estimators.targeting]``.
TARGETING = ("targeting",)


@dataclass(frozen=True)
class TargetingOptions:
    """``[estimators.targeting]``: which service for whom (a learned allocation rule and its gain).

    The config keys are the fields declared with :func:`impact.options.option`; the rest are set by
    the caller (the study sets ``min_cell`` from ``[disclosure]`` and ``max_elapsed`` from
    ``treatment.max_elapsed_months``). ``nuisance_max_rows``: the largest random subsample each
    nuisance model is fitted on (:func:`~impact.estimators.policy.scores.dr_scores`); ``seed``: the
    comparison rows' sample, the halves and the folds.
    """

    services: tuple[str, ...] = option(DEFAULT_SERVICES, "The services compared with starting none (each at least 20 "
                                       "starts in the design).", kind="str_list", choices=tuple(SERVICE_TYPES),
                                       applies=TARGETING)
    outcome: str = option("employed", "Outcome: in open-market work (employed) or earnings, horizon months after the "
                          "month a service starts.", kind="str", choices=("employed", "earnings"), applies=TARGETING)
    horizon: int = option(12, "Months after the start month at which the outcome is measured.", kind="int", lo=1,
                          hi=36, applies=TARGETING)
    depth: int = option(2, "Depth of the policy tree (exact search).", kind="int", lo=1, hi=2, applies=TARGETING)
    capacity: str = option("today", "today: each service to at most as many participants as today; none: no limit.",
                           kind="str", choices=("today", "none"), applies=TARGETING)
    keep_today: bool = option(True, "A leaf may keep today's service (the rule changes the allocation of some groups "
                              "only).", kind="bool", applies=TARGETING)
    features: tuple[str, ...] | None = option(None, "Characteristics the rule may split on.", kind="str_list",
                                              choices=tuple(POLICY_FEATURES), applies=TARGETING,
                                              default_text="all that vary")
    fairness_groups: tuple[str, ...] = option(GROUP_COLUMNS, "Groups of the fairness table (who gains and who loses a "
                                              "service).", kind="str_list", choices=GROUP_COLUMNS, applies=TARGETING)
    folds: int = option(5, "Cross-fitting folds of persons for the doubly robust scores (within each half).",
                        kind="int", lo=2, hi=10, applies=TARGETING)
    split: float = option(0.5, "Share of persons the rule is learned on; the others evaluate it.", kind="float",
                          lo=0.2, hi=0.8, applies=TARGETING)
    clip: float = option(0.02, "Propensities are clipped at this value (the report counts the clipped rows).",
                         kind="float", lo=0.0, hi=0.2, applies=TARGETING)
    max_controls_per_cell: int | None = option(20, "Keep at most this many rows without a start per exact cell "
                                               "(elapsed month, quarter, area; a reproducible random sample).",
                                               kind="int", lo=1, hi=100_000, applies=TARGETING)
    min_cell: int = 10
    nuisance_max_rows: int | None = 60_000
    max_elapsed: int = 24
    seed: int = 0
    level: float = 0.95

    def __post_init__(self) -> None:
        if self.outcome not in ("employed", "earnings"):
            raise DesignError(f"targeting outcome must be 'employed' or 'earnings', got {self.outcome!r}")
        if not 1 <= int(self.horizon) <= 36:
            raise DesignError(f"targeting horizon must be 1..36 months after the start, got {self.horizon!r}")
        unknown = [f for f in (self.features or ()) if f not in POLICY_FEATURES]
        if unknown:
            raise DesignError(f"unknown policy features {unknown}; allowed: {list(POLICY_FEATURES)}")
        bad = [g for g in self.fairness_groups if g not in GROUP_COLUMNS]
        if bad:
            raise DesignError(f"unknown fairness groups {bad}; allowed: {list(GROUP_COLUMNS)}")
        if self.capacity not in ("today", "none"):
            raise DesignError(f"targeting capacity must be 'today' or 'none', got {self.capacity!r}")

    def check(self, path: str) -> None:
        if len(set(self.services)) < 2:
            raise ConfigError(f"{path}.services = {list(self.services)} is not allowed: expected at least two "
                              "distinct services")


#: ``truth(rows, arms, horizon) -> n x arms``: true effects vs none of the design's participant rows
#: (synthetic registers only).
TruthFunction = Callable[[pl.DataFrame, Sequence[str], int], np.ndarray]


@dataclass
class TargetingTables:
    """Tidy tables of the targeting analysis (see the module docstring)."""

    gain: pd.DataFrame
    costs: pd.DataFrame
    allocation: pd.DataFrame
    leaves: pd.DataFrame
    fairness: pd.DataFrame
    tree: pd.DataFrame
    clipping: pd.DataFrame
    design: dict
    notes: list[str]
    warnings: list[str]
    timings: dict[str, float]
    results: PolicyResults
    #: the design rows the rule was learned and evaluated on (after ``restrict``), in the scores' order
    data: pl.DataFrame | None = None
    scores: PolicyScores | None = None


def fairness_warnings(res: PolicyResults) -> list[str]:
    """One warning when the rule withdraws services from groups whose estimated effect of
    today's services is positive (the groups listed by variable; many areas are counted)."""
    fair = res.fairness
    if not len(fair) or not fair["flag"].fillna(False).astype(bool).any():
        return []
    flagged = fair[fair["flag"].fillna(False).astype(bool)]
    parts = []
    for var, g in flagged.groupby("group_var", sort=False):
        n_all = int((fair["group_var"] == var).sum())
        sig = g[g["flag_significant"].astype(bool)]["group"].tolist()
        names = ", ".join(g["group"].astype(str)) if len(g) <= 6 else f"{len(g)} of {n_all}"
        parts.append(f"{var}: {names}" + (f" (significantly for {', '.join(map(str, sig))})"
                                          if sig and len(g) <= 6 else f" ({len(sig)} significantly)" if sig else ""))
    a = res.assignment
    ev, part = a["evaluation"], res.info.get("participants_evaluation")
    withdrawn = int(((a["action"] == 0) & ev & a["participant"]).sum())
    return [f"the rule gives no service to {withdrawn:,} of {part:,} participants (evaluation half), in groups whose "
            f"estimated effect of today's services is positive: {'; '.join(parts)}"]


def service_targeting(spells: pl.DataFrame, services: pl.DataFrame, persons: pl.DataFrame, panel: pl.DataFrame,
                      options: TargetingOptions = TargetingOptions(), truth: TruthFunction | None = None,
                      employed: str = "employed", earnings: str = "earnings",
                      restrict: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
                      labels: FeatureLabels | None = None, last_month: int | None = None) -> TargetingTables:
    """Run the targeting analysis on register frames (the study's population).

    Parameters
    ----------
    spells, services, persons, panel
        ``jobseeking_spells``, ``service_spells``, ``persons`` and the person x month panel
        (columns ``employed`` and ``earnings`` named by the last two arguments).
    options
        :class:`TargetingOptions`.
    truth
        Optional function giving each design row's true effect of each arm (synthetic
        registers; e.g. built on :mod:`impact.simulate.policy_truth`); employment outcomes only.
    restrict
        Keeps the design rows the study's population allows (a function of the design table);
        applied before anything is estimated.
    labels
        Plain-words descriptions of the policy features (default: the English ones of
        :data:`~impact.designs.multi_service.POLICY_FEATURES`).
    last_month
        The last month with outcome data (outcomes after it are missing, not zero).

    Returns
    -------
    TargetingTables
    """
    o = options
    t0, c0 = time.perf_counter(), time.process_time()
    timings: dict[str, float] = {}
    clock = [t0, c0]

    def lap(stage: str) -> None:  # wall and CPU seconds of a stage
        t, c = time.perf_counter(), time.process_time()
        timings[stage], timings[f"{stage}_cpu"] = t - clock[0], c - clock[1]
        clock[:] = [t, c]
    design = multi_service_design(spells, services, persons, panel, service_types=o.services, horizons=(o.horizon,),
                                  max_elapsed=o.max_elapsed, max_controls=o.max_controls_per_cell, seed=o.seed,
                                  employed=employed, earnings=earnings, last_month=last_month)
    d = design.data
    if restrict is not None:
        d = restrict(d)
        counts = dict(d.filter(pl.col("participant")).group_by("arm").len().iter_rows())
        thin = [design.arms[k] for k in range(1, len(design.arms)) if counts.get(k, 0) < 20]
        if thin:
            raise DesignError(f"the study's population leaves services {thin} with fewer than 20 starts in the "
                              "design; drop them from estimators.targeting.services")
    lap("design")
    outcome = f"{o.outcome}_h{o.horizon}"
    scores = dr_scores(d, outcome, design.arms, design.covariates, design.categorical, cluster=design.cluster,
                       n_folds=o.folds, clip=o.clip, nuisance_max_rows=o.nuisance_max_rows, seed=o.seed,
                       split=o.split)
    lap("scores")
    feats = [f for f in (o.features or tuple(POLICY_FEATURES)) if f in design.features and d[f].n_unique() > 1]
    if not feats:
        raise DesignError("none of the policy features varies in the design")
    coded = code_features(d.select(feats).to_numpy(), feats)
    costs = np.zeros(len(design.arms))
    by_arm = dict(d.filter(pl.col("participant")).group_by("arm").agg(pl.col("cost_eur").mean()).iter_rows())
    for k in range(1, len(design.arms)):
        costs[k] = float(by_arm.get(k, 0.0) or 0.0)
    tau = None
    warnings: list[str] = []
    if truth is not None and o.outcome == "employed":
        lap("features")
        part = d["participant"].to_numpy()
        tau = np.zeros((d.height, len(design.arms)))  # only participants' truths count
        tau[part] = np.asarray(truth(d.filter(pl.col("participant")), design.arms, o.horizon), dtype=float)
        lap("truth")
    res = learn_policy(scores, coded, costs, depth=o.depth, min_cell=o.min_cell,
                       capacity=None if o.capacity == "none" else o.capacity, keep=o.keep_today,
                       groups={g: d[g].to_numpy() for g in o.fairness_groups}, labels=labels or POLICY_FEATURES,
                       truth=tau,
                       level=o.level)
    lap("learning")
    timings["total"], timings["total_cpu"] = time.perf_counter() - t0, time.process_time() - c0
    gain = res.estimates
    if tau is not None:
        miss = gain[gain["truth"].notna() & ((gain["truth"] < gain["ci_lower"]) | (gain["truth"] > gain["ci_upper"]))]
        warnings += [f"the true value of '{r.estimand}' ({r.truth:.4f}) lies outside the {o.level:.0%} interval "
                     f"[{r.ci_lower:.4f}, {r.ci_upper:.4f}]" for r in miss.itertuples()]
    elif truth is not None:
        res.notes.append("no synthetic truth for earnings outcomes (the generator's rule truth is for employment)")
    warnings += fairness_warnings(res)
    info = dict(design.info, estimand=design.estimand, outcome=outcome, features=feats, costs_per_start=dict(
        zip(design.arms, costs.tolist())))
    return TargetingTables(gain=gain, costs=res.costs, allocation=res.allocation, leaves=res.leaves,
                           fairness=res.fairness, tree=res.tree_nodes, clipping=res.clipping, design=info,
                           notes=[f"design: {design.estimand}"] + res.notes, warnings=warnings, timings=timings,
                           results=res, data=d, scores=scores)
