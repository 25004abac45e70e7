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
from impact.errors import DesignError
from impact.estimators.policy.evaluate import PolicyResults, learn_policy
from impact.estimators.policy.scores import dr_scores
from impact.estimators.policy.tree import code_features

#: Covariates the truth regressions condition on (design columns; see :mod:`impact.simulate.policy_truth`).
TRUTH_COVARIATES = ("age", "female", "educ_basic", "educ_tertiary", "lang_sv", "lang_other", "u", "segment_01",
                    "segment_02", "segment_03", "segment_04", "segment_05", "emp_1_12", "earn_1_12", "emp_pre_spell_12")

#: The limits of the analysis in plain words (report section), English and Finnish.
LIMITS = {
    "en": ("The rule is learned from past allocation: it can only recommend services to groups that received them "
           "in the data, and its gains assume that the effects measured under today's practice would hold if the "
           "services were reallocated. The effects are those of services at today's scale: moving many more people "
           "into one service could change its content, its queues and its effect, and could displace other job "
           "seekers, which the estimate does not include. The comparison is with starting nothing in the same month "
           "(people could start a service later), and it rests on the assumption that the registers record "
           "everything that drove both the choice of service and employment; where caseworkers knew more, the "
           "estimates are biased. The gain is estimated on persons the rule was not learned from, but the rule is "
           "one of many that fit the data almost equally well: the tree shows a direction for discussion, not an "
           "instruction for individual decisions."),
    "fi": ("Sääntö on opittu aiemmista palveluvalinnoista: se voi suositella palveluja vain ryhmille, jotka ovat "
           "aineistossa niitä saaneet, ja sen hyödyt olettavat, että nykykäytännössä mitatut vaikutukset säilyisivät, "
           "jos palvelut jaettaisiin toisin. Vaikutukset ovat nykyisen laajuisten palvelujen vaikutuksia: jos "
           "huomattavasti useampi ohjattaisiin samaan palveluun, sen sisältö, jonot ja vaikutus voisivat muuttua ja "
           "se voisi syrjäyttää muita työnhakijoita, mitä arvio ei sisällä. Vertailukohtana on, ettei samana "
           "kuukautena aloiteta mitään palvelua (palvelun voi aloittaa myöhemmin), ja arvio nojaa oletukseen, että "
           "rekisterit kattavat kaiken, mikä vaikutti sekä palvelun valintaan että työllistymiseen; jos "
           "virkailijat tiesivät enemmän, arviot ovat harhaisia. Hyöty arvioidaan henkilöillä, joiden tiedoista "
           "sääntöä ei opittu, mutta sääntö on yksi monista lähes yhtä hyvin aineistoon sopivista: puu näyttää "
           "suunnan keskustelulle, ei ohjetta yksittäisiin päätöksiin."),
}


@dataclass(frozen=True)
class TargetingOptions:
    """Options of the targeting analysis (defaults in one place).

    ``services``: the arms besides no service; ``horizon``: months after the start month;
    ``outcome``: ``"employed"`` (share in open-market work) or ``"earnings"``; ``depth``,
    ``min_cell``, ``capacity``, ``keep``: the rule (:func:`~impact.estimators.policy.evaluate.learn_policy`);
    ``n_folds``, ``split``, ``clip``, ``nuisance_max_rows``: the scores (:func:`~impact.estimators.policy.scores.dr_scores`;
    ``split``: the share of persons the rule is learned on, the rest evaluate it);
    ``max_controls``, ``max_elapsed``: the design; ``features``: policy covariates (None: all of
    :data:`~impact.designs.multi_service.POLICY_FEATURES` that vary); ``groups``: fairness groups.
    """

    services: tuple[str, ...] = DEFAULT_SERVICES
    horizon: int = 12
    outcome: str = "employed"
    depth: int = 2
    min_cell: int = 10
    capacity: str | None = "today"
    keep: bool = True
    n_folds: int = 5
    split: float = 0.5
    clip: float = 0.02
    nuisance_max_rows: int | None = 60_000
    max_controls: int | None = 20
    max_elapsed: int = 24
    features: tuple[str, ...] | None = None
    groups: tuple[str, ...] = GROUP_COLUMNS
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
        bad = [g for g in self.groups if g not in GROUP_COLUMNS]
        if bad:
            raise DesignError(f"unknown fairness groups {bad}; allowed: {list(GROUP_COLUMNS)}")


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
    limits: dict[str, str] = field(default_factory=lambda: dict(LIMITS))


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
                      employed: str = "employed", earnings: str = "earnings") -> TargetingTables:
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
                                  max_elapsed=o.max_elapsed, max_controls=o.max_controls, seed=o.seed,
                                  employed=employed, earnings=earnings)
    lap("design")
    d = design.data
    outcome = f"{o.outcome}_h{o.horizon}"
    scores = dr_scores(d, outcome, design.arms, design.covariates, design.categorical, cluster=design.cluster,
                       n_folds=o.n_folds, clip=o.clip, nuisance_max_rows=o.nuisance_max_rows, seed=o.seed,
                       split=o.split)
    lap("scores")
    feats = [f for f in (o.features or tuple(POLICY_FEATURES)) if f in design.features]
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
    res = learn_policy(scores, coded, costs, depth=o.depth, min_cell=o.min_cell, capacity=o.capacity, keep=o.keep,
                       groups={g: d[g].to_numpy() for g in o.groups}, labels=POLICY_FEATURES, truth=tau,
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
                           results=res)
