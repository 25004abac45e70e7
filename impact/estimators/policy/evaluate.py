"""Learning a service-allocation rule and estimating, honestly, what it would gain.

Rules. A depth-limited policy tree over interpretable covariates assigns each of today's
participants one arm (a service, or none); each service may be given to at most as many
participants as today (its capacity), and every leaf holds at least ``min_cell`` persons so
the rule itself can be published. The tree is found by exact search
(:func:`impact.estimators.policy.tree.capacity_tree`) on the doubly robust scores of
:mod:`impact.estimators.policy.scores`.

Honest evaluation. The persons are split at random into a learning half and an evaluation
half, each with its own cross-fitted scores (:func:`~impact.estimators.policy.scores.dr_scores`
with ``split``). The rule (and the best single service) is learned on the learning half only
and published; its value is estimated on the evaluation half,
``V(pi) = sum_{i in E} Gamma_i(pi(X_i)) / #participants in E``, where the rule is a fixed
function independent of the evaluation half's data, so the usual influence-function interval
is valid. Each value is a ratio of sums over rows, with influence function
``psi_i = (a_i - V b_i) n / #participants`` (``a_i`` the row's contribution, ``b_i`` its
participant indicator); differences of values have the differences of those, and standard
errors sum them within persons (a person recurs across risk months).

Why not K-fold cross-fitting of the learning (learn on K-1 folds, score the K-th, in turn):
its fold rules share most of their data, so each fold's evaluation noise also steered the
other folds' rules and the folds' errors are positively correlated; the interval that treats
the fold rules as fixed was too narrow (``benchmarks/mc_policy.py``: SD of the error 1.5
times the standard error, coverage about 0.8 on ``heterogeneous``).

Costs. Each service's cost per start is its mean observed cost among today's participants
(``costs``); a rule's cost per participant is the mean over participants of the cost of
the service it assigns (0 for none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from impact.errors import DesignError
from impact.estimators.inference import influence_se, normal_ci, p_value, z_critical
from impact.estimators.policy.scores import PolicyScores
from impact.estimators.policy.tree import (CodedFeatures, PairHistograms, PolicyTree, action_sizes,
                                           capacity_tree)
from impact.estimators.results import EstimationResults, tidy_estimates

#: Feature description: label, kind ("number", "yes/no", "ordered") and level names (a yes/no
#: feature's two names are the words for no and yes). The entry :data:`OR_WORD` gives the word
#: that joins levels (default "or") and :data:`AND_WORD` the word that joins a leaf's conditions
#: (default "and"), so a report in another language can describe the rule.
FeatureLabels = Mapping[str, tuple[str, str, Sequence[str]]]
OR_WORD, AND_WORD = "_or", "_and"


@dataclass
class PolicyResults(EstimationResults):
    """Learned rule, its honest value against the alternatives, and who gains or loses.

    ``estimates``: values (share employed among today's participants of the evaluation
    half) and gains, with ``per_1000`` (additional persons in work per 1,000 participants)
    and ``truth`` where given. ``costs``: cost per participant and per additional placement of each comparison.
    ``allocation``: per arm, today's and the rule's number of participants, capacity, cost
    and effect. ``leaves``: the published rule's leaves. ``fairness``: by group.
    ``tree_nodes``: the published tree as a node table (for drawing).
    """

    costs: pd.DataFrame = field(default_factory=pd.DataFrame)
    allocation: pd.DataFrame = field(default_factory=pd.DataFrame)
    leaves: pd.DataFrame = field(default_factory=pd.DataFrame)
    fairness: pd.DataFrame = field(default_factory=pd.DataFrame)
    tree_nodes: pd.DataFrame = field(default_factory=pd.DataFrame)
    clipping: pd.DataFrame = field(default_factory=pd.DataFrame)
    tree: PolicyTree | None = None
    assignment: dict[str, np.ndarray] = field(default_factory=dict)

    def summary(self) -> str:
        cols = ["estimand", "estimate", "std_error", "ci_lower", "ci_upper", "per_1000"] + \
            (["truth"] if "truth" in self.estimates else [])
        parts = [f"{type(self).__name__}: {self.method}", "", self.estimates[cols].to_string(index=False),
                 "", "Published rule:"]
        parts += [f"  {r.conditions or '(everyone)'} -> {r.action} ({r.persons} persons)"
                  for r in self.leaves.itertuples()]
        parts += ["", "Costs:", self.costs.to_string(index=False)]
        parts += [""] + [f"Note: {n}" for n in self.notes]
        return "\n".join(parts)


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def describe(feature: str, value: float, left: bool, labels: FeatureLabels | None = None,
             next_value: float | None = None) -> str:
    """Plain-words condition of one side of a split ``feature <= value`` (left) or ``>`` (right)."""
    label, kind, levels = (labels or {}).get(feature, (feature, "number", ()))
    if kind == "yes/no":
        no, yes = levels if len(levels) == 2 else ("no", "yes")
        return f"{label}: {no if left else yes}"
    if kind == "ordered" and levels:
        c = int(round(value))
        side = levels[: c + 1] if left else levels[c + 1:]
        word = (labels or {}).get(OR_WORD, ("or",))[0]
        return f"{label}: {f' {word} '.join(side)}"
    if not left and next_value is not None and float(value).is_integer() and float(next_value).is_integer():
        return f"{label} >= {next_value:g}"
    return f"{label} {'<=' if left else '>'} {value:g}"


def _ratio(num: np.ndarray, part: np.ndarray) -> tuple[float, np.ndarray]:
    """``sum(num) / sum(part)`` and its influence function (``theta_hat - theta ~ mean(psi)``)."""
    n_p = part.sum()
    est = float(num.sum() / n_p)
    return est, (num - est * part) * (len(part) / n_p)


def _row_reward(G: np.ndarray, a: np.ndarray) -> np.ndarray:
    return G[np.arange(len(a)), a]


def _persons(cluster: np.ndarray, mask: np.ndarray) -> int:
    return int(len(np.unique(cluster[mask]))) if mask.any() else 0


def _small(part: int, whole: int, min_cell: int) -> bool:
    """A sub-count (or its complement in the whole) of 1 .. min_cell - 1 persons: not publishable."""
    return 0 < part < min_cell or 0 < whole - part < min_cell


@dataclass
class _Est:
    """Estimates with influence functions, in the order they are added."""

    names: list[str] = field(default_factory=list)
    est: list[float] = field(default_factory=list)
    psi: list[np.ndarray] = field(default_factory=list)
    truth: list[float] = field(default_factory=list)

    def add(self, name: str, est: float, psi: np.ndarray, truth: float = np.nan) -> None:
        self.names.append(name)
        self.est.append(est)
        self.psi.append(psi)
        self.truth.append(truth)

    def table(self, cluster: np.ndarray, level: float) -> pd.DataFrame:
        se = influence_se(np.column_stack(self.psi), cluster)
        lo, hi = normal_ci(self.est, se, level)
        return pd.DataFrame({"estimand": self.names, "estimate": self.est, "std_error": se, "ci_lower": lo,
                             "ci_upper": hi, "p_value": p_value(self.est, se), "truth": self.truth})


# ---------------------------------------------------------------------------------------
# learning
# ---------------------------------------------------------------------------------------


def fit_rule(hist: PairHistograms, features: CodedFeatures, capacity: np.ndarray, depth: int, min_leaf: float,
             cluster: np.ndarray | None = None, participant: np.ndarray | None = None, min_persons: int = 0,
             max_tries: int = 12, channel: np.ndarray | None = None) -> PolicyTree:
    """Exact capacity-constrained tree; when ``min_persons`` is given, refit with larger leaves
    until every leaf holds at least that many distinct persons among the participants."""
    leaf_min = float(min_leaf)
    for _ in range(max_tries):  # a few refits at most
        tree = capacity_tree(hist, features.names, features.values, capacity, depth=depth, min_leaf=leaf_min,
                             channel=channel)
        if not min_persons:
            return tree
        leaf = tree.leaf_index(features.codes)
        small = [k for k in range(len(tree.leaves())) if _persons(cluster, participant & (leaf == k)) < min_persons]
        if not small:
            return tree
        leaf_min = np.ceil(leaf_min * 1.5)
    raise DesignError(f"no rule found whose leaves all hold at least {min_persons} persons")


#: Name of the action that keeps each participant's current service.
KEEP = "today's service"


def learn_policy(
    scores: PolicyScores,
    features: CodedFeatures,
    costs: np.ndarray,
    depth: int = 2,
    min_cell: int = 10,
    capacity: str | None = "today",
    keep: bool = True,
    groups: Mapping[str, np.ndarray] | None = None,
    labels: FeatureLabels | None = None,
    truth: np.ndarray | None = None,
    level: float = 0.95,
) -> PolicyResults:
    """Learn the allocation rule on the learning half and evaluate it on the evaluation half
    against today's allocation, no service and the best single service.

    Parameters
    ----------
    scores
        :func:`~impact.estimators.policy.scores.dr_scores` of the design rows with ``split``
        (``scores.half``: 0 learns, 1 evaluates).
    features
        The policy covariates of the same rows, coded (:func:`~impact.estimators.policy.tree.code_features`).
    costs
        Cost per start of each arm (``costs[0]`` = 0 for no service), in euros.
    depth, min_cell
        Tree depth (1 or 2) and the smallest number of persons (participants) in a leaf.
    capacity
        ``"today"``: each service at most as many participants as today (in the learning
        half); None: no limit.
    keep
        Offer the leaf action "today's service" (each participant keeps the service she
        started; it uses the capacity of that service), so a rule can change the allocation
        of some groups and leave the rest to today's practice.
    groups
        Group label arrays for the fairness table (e.g. sex, language, age band, area).
    labels
        Plain-words descriptions of the features (:data:`impact.designs.multi_service.POLICY_FEATURES`).
    truth
        Optional n x arms matrix of each row's true effect of each arm vs none (the
        generator's); gives the ``truth`` column (evaluation-half participants are used).
    """
    G, part, y, w, cl = scores.rewards, scores.participant, scores.y, scores.arm, scores.cluster
    n, A = G.shape
    if features.codes.shape[0] != n:
        raise DesignError(f"features have {features.codes.shape[0]} rows, the scores {n}")
    costs = np.asarray(costs, dtype=float)
    if costs.shape != (A,):
        raise DesignError(f"costs must give one number per arm ({A}), got shape {costs.shape}")
    if capacity not in ("today", None):
        raise DesignError(f"capacity must be 'today' or None, got {capacity!r}")
    if truth is not None and np.asarray(truth).shape != (n, A):
        raise DesignError(f"truth must be an n x arms matrix ({n} x {A}), got shape {np.asarray(truth).shape}")
    half = np.zeros(n, dtype=np.int64) if scores.half is None else scores.half
    learn, ev = half == 0, half == 1
    if not (learn & part).any() or not (ev & part).any():
        raise DesignError("learn_policy needs scores with a learning and an evaluation half (dr_scores(split=...))")
    names = list(scores.arms) + ([KEEP] if keep else [])
    # rewards of the actions: the arms' scores, and for "today's service" the observed outcome
    R = np.column_stack([G, part * y]) if keep else G
    usage = np.zeros((n, A))
    usage[np.arange(n), w] = part
    channel = np.r_[np.arange(A), [-1] if keep else []].astype(np.int64)
    cap = np.bincount(w[learn & part], minlength=A).astype(float)
    cap[0] = np.inf
    if capacity is None:
        cap[:] = np.inf
    lf = features.take(np.flatnonzero(learn))
    hist = PairHistograms.build(lf.codes, features.levels, R[learn], part[learn].astype(float), usage=usage[learn])
    tree = fit_rule(hist, lf, cap, depth, min_cell, cl[learn], part[learn], min_cell, channel=channel)
    act = tree.predict(features.codes)
    pi = np.where(act == A, w, act) if keep else act  # the service each row's participant gets
    leaf = tree.leaf_index(features.codes)
    best_arm = 1 + int(np.argmax(G[learn, 1:].sum(0)))
    best = np.full(n, best_arm, dtype=np.int64)

    pe = part & ev  # evaluation-half participants: every value and contrast is over them
    tau = None if truth is None else np.where(pe[:, None], np.asarray(truth, dtype=float), 0.0)
    n_e = pe.sum()

    def tr_(a: np.ndarray, b: np.ndarray | None = None) -> float:
        if tau is None:
            return np.nan
        v = _row_reward(tau, a) - (0 if b is None else _row_reward(tau, b))
        return float(v[pe].sum() / n_e)

    E = _Est()
    v_today, p_today = _ratio(ev * part * y, pe)
    v_rule, p_rule = _ratio(ev * _row_reward(R, act), pe)
    v_none, p_none = _ratio(ev * G[:, 0], pe)
    v_best, p_best = _ratio(ev * _row_reward(G, best), pe)
    zero = np.zeros(n, dtype=np.int64)
    E.add("value: today's allocation", v_today, p_today)
    E.add("value: learned rule", v_rule, p_rule)
    E.add("value: no service", v_none, p_none)
    E.add(f"value: best single service ({scores.arms[best_arm]})", v_best, p_best)
    E.add("gain: rule vs today", v_rule - v_today, p_rule - p_today, tr_(pi, w))
    E.add("gain: rule vs no service", v_rule - v_none, p_rule - p_none, tr_(pi, zero))
    E.add("gain: rule vs best single service", v_rule - v_best, p_rule - p_best, tr_(pi, best))
    E.add("effect: best single service vs no service", v_best - v_none, p_best - p_none, tr_(best, zero))
    E.add("effect: today's allocation vs no service", v_today - v_none, p_today - p_none, tr_(w, zero))
    est = E.table(cl, level)
    est["per_1000"] = np.where(est["estimand"].str.startswith("value"), np.nan, 1000 * est["estimate"])
    est.insert(0, "outcome", scores.outcome)
    est["n_treated"] = int(n_e)
    est["n_controls"] = int((ev & ~part).sum())
    est = tidy_estimates(est, level)

    # costs per participant and per additional placement
    def cost_of(a: np.ndarray) -> float:
        return float(costs[a][pe].sum() / n_e)

    c = {"today": cost_of(w), "rule": cost_of(pi), "none": 0.0, "best": cost_of(best)}
    gain_of = dict(zip(est["estimand"], zip(est["estimate"], est["std_error"])))
    rows = []
    for name, a, b, key in (("rule vs today", "rule", "today", "gain: rule vs today"),
                            ("rule vs no service", "rule", "none", "gain: rule vs no service"),
                            ("today vs no service", "today", "none", "effect: today's allocation vs no service"),
                            ("best single service vs no service", "best", "none",
                             "effect: best single service vs no service"),
                            ("rule vs best single service", "rule", "best", "gain: rule vs best single service")):
        rows.append(_cost_row(name, c[a] - c[b], *gain_of[key], level))
    cost_tab = pd.DataFrame(rows)

    allocation = _allocation(scores, ev, learn, pi, act, costs, cap, tau, level, keep)
    leaves = _leaves(tree, leaf, scores, ev, R, names, labels, features, tau, level, min_cell)
    nodes = _nodes(tree, leaf, scores, ev, names, labels, features)
    fair = _fairness({k: v for k, v in (groups or {}).items()}, scores, ev, R, act, pi, min_cell, level)
    notes = list(scores.notes) + [
        f"rule: exact search over policy trees of depth {depth} on {len(features.names)} covariates "
        f"({', '.join(features.names)}); leaves of at least {min_cell} persons; "
        + ("each service given to at most as many participants as today" if capacity else "no capacity limit")
        + (f"; a leaf may keep today's service ('{KEEP}')" if keep else ""),
        f"honest evaluation: the rule is learned on a random half of the persons ({_persons(cl, learn):,}) and its "
        f"gains are estimated on the other half ({_persons(cl, ev):,}), whose scores no model of the first half saw",
        "population: today's participants (the same persons are served; the rule decides which service, or none); "
        "values are shares employed " + scores.outcome.replace("employed_h", "").replace("earnings_h", "")
        + " months after the month the service would start",
    ]
    binned = [nm for nm, b in zip(features.names, features.binned) if b]
    if binned:
        notes.append(f"covariates cut into quantile bins for the search: {binned}")
    over = [scores.arms[a] for a in range(1, A) if (pe & (pi == a)).sum() > (pe & (w == a)).sum()]
    if capacity and over:
        notes.append(f"in the evaluation half the rule gives {', '.join(over)} to more participants than today "
                     "(capacities were met in the learning half; the halves differ by chance)")
    info = {"participants": int(part.sum()), "participants_learning": int((part & learn).sum()),
            "participants_evaluation": int(n_e), "rows": int(n), "persons": _persons(cl, np.ones(n, bool)),
            "depth": depth, "min_cell": min_cell, "best_single_service": scores.arms[best_arm],
            "objective_learning": float(tree.objective / (part & learn).sum()), "actions": names}
    return PolicyResults(
        estimates=est, method="policy tree (exact search, capacity as today) on doubly robust scores",
        level=level, notes=notes, info=info, costs=cost_tab, allocation=allocation, leaves=leaves, fairness=fair,
        tree_nodes=nodes, clipping=scores.clipping, tree=tree,
        assignment={"rule": pi, "action": act, "best_single": best, "leaf": leaf, "evaluation": ev,
                    "participant": part})


def _cost_row(name: str, dcost: float, gain: float, se: float, level: float) -> dict:
    """Extra cost per participant, extra placements per 1,000 participants and cost per extra placement.

    The cost per additional placement is ``dcost / gain`` when both are positive; its interval
    maps the gain's interval (unbounded above when the gain's interval reaches zero).
    """
    z = z_critical(level)
    lo, hi = gain - z * se, gain + z * se
    ratio = lo_r = hi_r = np.nan
    if dcost > 0 and gain > 0:
        ratio = dcost / gain
        lo_r = dcost / hi
        hi_r = dcost / lo if lo > 0 else np.inf
    return {"comparison": name, "extra_cost_per_participant_eur": dcost, "extra_placements_per_1000": 1000 * gain,
            "ci_lower_per_1000": 1000 * lo, "ci_upper_per_1000": 1000 * hi,
            "cost_per_additional_placement_eur": ratio, "ci_lower_eur": lo_r, "ci_upper_eur": hi_r,
            "note": ("fewer placements" if gain <= 0 else "saves money and places more" if dcost <= 0 else "")}


def _allocation(scores: PolicyScores, ev, learn, pi, act, costs, cap, tau, level, keep) -> pd.DataFrame:
    """Per arm (evaluation half unless said): participants today and under the rule (and how many
    keep today's service), the capacity the rule was learned with (learning half), cost per
    start, and the estimated effect vs none among the participants."""
    G, part, w, cl = scores.rewards, scores.participant, scores.arm, scores.cluster
    A = G.shape[1]
    pe = part & ev
    rows = []
    psis, ests = [], []
    for a in range(A):  # a handful of arms
        est, psi = _ratio(ev * (G[:, a] - G[:, 0]), pe)
        ests.append(est)
        psis.append(psi)
        rows.append({"arm": scores.arms[a], "participants_today": int((pe & (w == a)).sum()),
                     "persons_today": _persons(cl, pe & (w == a)),
                     "participants_rule": int((pe & (pi == a)).sum()),
                     "persons_rule": _persons(cl, pe & (pi == a)),
                     "kept_today": int((pe & (pi == a) & (act == A)).sum()) if keep else 0,
                     "capacity_learning": np.nan if np.isinf(cap[a]) else int(cap[a]),
                     "rule_learning": int((part & learn & (pi == a)).sum()),
                     "cost_per_start_eur": float(costs[a]),
                     "truth_effect": np.nan if tau is None else float(tau[pe, a].mean())})
    se = influence_se(np.column_stack(psis), cl)
    lo, hi = normal_ci(ests, se, level)
    out = pd.DataFrame(rows)
    at = list(out.columns).index("cost_per_start_eur")
    for k, (nm, v) in enumerate((("effect_vs_none", ests), ("effect_std_error", se), ("effect_ci_lower", lo),
                                 ("effect_ci_upper", hi))):
        out.insert(at + k, nm, v)
    return out


def _conditions(tree: PolicyTree, labels, features: CodedFeatures) -> list[list[str]]:
    out: list[list[str]] = []

    def walk(nd, conds):
        if nd.is_leaf:
            out.append(conds)
            return
        vals = features.values[nd.feature]
        nm = features.names[nd.feature]
        nxt = vals[nd.threshold + 1] if nd.threshold + 1 < len(vals) else None
        walk(nd.left, conds + [describe(nm, vals[nd.threshold], True, labels)])
        walk(nd.right, conds + [describe(nm, vals[nd.threshold], False, labels, nxt)])
    walk(tree.root, [])
    return out


def _leaves(tree: PolicyTree, leaf, scores: PolicyScores, ev, R, names, labels, features, tau, level,
            min_cell) -> pd.DataFrame:
    """The rule's leaves in the evaluation half: conditions, action, persons, today's mix of
    services and the estimated gain of the leaf's action over today's allocation in the leaf."""
    G, part, w, y, cl = scores.rewards, scores.participant, scores.arm, scores.y, scores.cluster
    A = G.shape[1]
    conds = _conditions(tree, labels, features)
    rows, psis, ests = [], [], []
    for k, lf in enumerate(tree.leaves()):  # at most four leaves
        m = (leaf == k) & ev
        pm = part & m
        a = lf.action
        est, psi = _ratio(m * (R[:, a] - part * y), pm)
        ests.append(est)
        psis.append(psi)
        row = {"leaf": k + 1, "conditions": f" {(labels or {}).get(AND_WORD, ('and',))[0]} ".join(conds[k]),
               "action": names[a],
               "persons": _persons(cl, pm), "participants": int(pm.sum()),
               "share_of_participants": float(pm.sum() / (part & ev).sum())}
        for b in range(1, A):
            sel = pm & (w == b)
            row[f"today_{scores.arms[b]}"] = (np.nan if _small(_persons(cl, sel), row["persons"], min_cell)
                                              else float(sel.sum() / max(pm.sum(), 1)))
        if tau is None:
            row["truth_gain"] = np.nan
        else:
            arm = w[pm] if a == A else np.full(pm.sum(), a)
            row["truth_gain"] = float((tau[pm, arm] - tau[pm, w[pm]]).mean())
        rows.append(row)
    se = influence_se(np.column_stack(psis), cl)
    out = pd.DataFrame(rows)
    out["gain_vs_today"] = ests
    out["gain_std_error"] = se
    lo, hi = normal_ci(ests, se, level)
    out["gain_ci_lower"], out["gain_ci_upper"] = lo, hi
    out["suppressed"] = out["persons"] < min_cell
    return out


def _nodes(tree: PolicyTree, leaf, scores: PolicyScores, ev, names, labels, features) -> pd.DataFrame:
    """The tree as a node table: id, parent, ``branch`` (the condition leading to the node),
    ``split`` (the feature a split node asks about) or ``action`` (leaves), persons (evaluation half)."""
    part, cl = scores.participant, scores.cluster
    codes = features.codes
    rows: list[dict] = []
    counter = [0]

    def walk(nd, parent, branch, mask, depth):
        nid = len(rows)
        row = {"node": nid, "parent": parent, "branch": branch, "depth": depth, "is_leaf": nd.is_leaf,
               "persons": _persons(cl, part & mask), "participants": int((part & mask).sum()),
               "split": "", "action": ""}
        rows.append(row)
        if nd.is_leaf:
            row["action"] = names[nd.action]
            row["leaf"] = counter[0] + 1
            counter[0] += 1
            return
        vals = features.values[nd.feature]
        nm = features.names[nd.feature]
        nxt = vals[nd.threshold + 1] if nd.threshold + 1 < len(vals) else None
        row["split"] = (labels or {}).get(nm, (nm,))[0]
        go = codes[:, nd.feature] <= nd.threshold
        walk(nd.left, nid, describe(nm, vals[nd.threshold], True, labels), mask & go, depth + 1)
        walk(nd.right, nid, describe(nm, vals[nd.threshold], False, labels, nxt), mask & ~go, depth + 1)
    walk(tree.root, -1, "", ev, 0)
    out = pd.DataFrame(rows)
    out["share_of_participants"] = out["participants"] / (part & ev).sum()
    return out


def _fairness(groups: Mapping[str, np.ndarray], scores: PolicyScores, ev: np.ndarray, R: np.ndarray,
              action: np.ndarray, pi: np.ndarray, min_cell: int, level: float) -> pd.DataFrame:
    """Who gains and who loses a service under the published rule, by group (evaluation half).

    Per group: persons, the share of its participants whose service the rule withdraws or
    changes, the estimated effect of today's services (vs none) in the group, the estimated
    gain of the rule in the group, and the estimated effect of today's services among the
    participants the rule withdraws services from. ``flag``: the rule withdraws services
    from at least ``min_cell`` persons of a group whose estimated effect among them is
    positive. Cells (and sub-counts) under ``min_cell`` persons are suppressed.
    """
    G, part, w, y, cl = scores.rewards, scores.participant, scores.arm, scores.y, scores.cluster
    n = len(part)
    out, psis, keys = [], [], []
    for var, lab in groups.items():
        lab = np.asarray(lab).astype(str)
        if len(lab) != n:
            raise DesignError(f"fairness group '{var}' has {len(lab)} labels for {n} rows")
        for g in sorted(set(lab[part & ev])):  # a few dozen groups at most
            m = (lab == g) & ev
            pm = part & m
            wd = m & (action == 0)  # the region where the rule gives no service (participants in it lose theirs)
            pw = part & wd
            persons, p_w = _persons(cl, pm), _persons(cl, pw)
            row = {"group_var": var, "group": g, "persons": persons, "participants": int(pm.sum()),
                   "share_withdrawn": float(pw.sum() / pm.sum()), "share_changed": float((pm & (pi != w)).sum() / pm.sum()),
                   "persons_withdrawn": p_w}
            for a in range(1, G.shape[1]):
                for when, arm in (("today", w), ("rule", pi)):
                    sel = pm & (arm == a)
                    # a share whose persons (or the rest of the group) are fewer than min_cell is not published
                    row[f"share_{scores.arms[a]}_{when}"] = (np.nan if _small(_persons(cl, sel), persons, min_cell)
                                                            else float(sel.sum() / pm.sum()))
            for name, num, den in (("effect_today", m * (part * y - G[:, 0]), pm),
                                   ("gain_rule", m * (_row_reward(R, action) - part * y), pm),
                                   ("effect_withdrawn", wd * (part * y - G[:, 0]), pw)):
                if den.sum() == 0:
                    row[name] = np.nan
                    psis.append(np.zeros(n))
                else:
                    row[name], psi = _ratio(num, den)
                    psis.append(psi)
                keys.append((len(out), name))
            out.append(row)
    if not out:
        return pd.DataFrame()
    se = influence_se(np.column_stack(psis), cl)
    tab = pd.DataFrame(out)
    for (i, name), s in zip(keys, se):
        tab.loc[i, f"{name}_std_error"] = s
    z = z_critical(level)
    for name in ("effect_today", "gain_rule", "effect_withdrawn"):
        tab[f"{name}_ci_lower"] = tab[name] - z * tab[f"{name}_std_error"]
        tab[f"{name}_ci_upper"] = tab[name] + z * tab[f"{name}_std_error"]
    tab["flag"] = (tab["persons_withdrawn"] >= min_cell) & (tab["effect_withdrawn"] > 0)
    tab["flag_significant"] = tab["flag"] & (tab["effect_withdrawn_ci_lower"] > 0)
    # disclosure: groups under min_cell persons are suppressed; so are sub-counts under it
    small = tab["persons"] < min_cell
    sub = pd.Series([_small(int(a), int(b), min_cell) for a, b in zip(tab["persons_withdrawn"], tab["persons"])],
                    index=tab.index)
    wcols = ["share_withdrawn", "persons_withdrawn"] + [c for c in tab.columns if c.startswith("effect_withdrawn")]
    val_cols = [c for c in tab.columns if c not in ("group_var", "group", "flag", "flag_significant")]
    tab.loc[sub, wcols] = np.nan
    tab.loc[small, val_cols] = np.nan
    tab["suppressed"] = small
    tab.loc[small | sub, ["flag", "flag_significant"]] = False
    return tab
