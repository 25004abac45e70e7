"""Which service for whom: a learned allocation rule and its honest gain, on the study's population.

The multi-service risk-set design (:func:`impact.designs.multi_service.multi_service_design`)
is built on the registers; the study's population rules then keep the design rows whose
person meets them in the decision month (rows with a start and rows without alike), and
:func:`impact.estimators.policy.targeting.service_targeting` learns the rule on one half of
the persons and estimates its value on the other. On synthetic registers every gain carries
the generator's truth (each participant's true effect of every service,
:func:`impact.simulate.policy_truth.arm_effects`), so the report's check of intervals against
the truth covers the rule's gains.

Every published number rests on distinct persons of the evaluation half: the estimates and
costs on its participants (and its rows without a start), the allocation on the persons
given each service today and under the rule, the leaves and tree nodes on their
participants, the fairness table on each group and its parts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import polars as pl

from impact import plots
from impact.designs.multi_service import POLICY_FEATURES
from impact.designs.population import FlowBuilder
from impact.estimators.policy.evaluate import AND_WORD, KEEP, OR_WORD
from impact.estimators.policy.targeting import TRUTH_COVARIATES, service_targeting
from impact.report.disclosure import CELL, Group, Publication
from impact.report.wording import label, text
from impact.study.analyses.effects import earnings_payers, estimates_publication, persons_frame
from impact.study.context import AnalysisResult, FigureSpec, Notice, StudyContext

ANALYSIS = "targeting"
@dataclass(frozen=True)
class TargetingFacts:
    """Person-free facts of the targeting analysis for its report section."""

    services: tuple[str, ...]
    outcome: str
    horizon: int
    depth: int
    capacity: str
    keep_today: bool
    features: tuple[str, ...]
    best_single: str
    split: float
    folds: int
    clip: float
    clipped_any: bool
    max_elapsed: int
    truth: bool


def feature_labels(lang: str) -> dict:
    """The policy features described in ``lang`` (for the rule's conditions and the tree)."""
    out: dict = {OR_WORD: (text("tgt_or", lang), "", ()), AND_WORD: (text("and_join", lang).strip(), "", ())}
    for f, (_, kind, levels) in POLICY_FEATURES.items():
        names = tuple(text(f"tgt_level_{f}_{i}", lang) for i in range(len(levels)))
        if kind == "yes/no":
            names = (text("no", lang), text("yes", lang))
        out[f] = (text(f"tgt_feature_{f}", lang), kind, names)
    return out


def action_label(a: str, lang: str) -> str:
    return text("tgt_keep", lang) if a == KEEP else text("tgt_none", lang) if a == "none" else label(a, lang)


def _restrict(ctx: StudyContext, flow: FlowBuilder):
    """The population's rules on the design rows (at the decision month), counted in the flow."""
    seg = ctx.spells.select("spell_id", pl.col("segment").alias("_segment"))

    def restrict(d: pl.DataFrame) -> pl.DataFrame:
        part = pl.col("participant")
        d = d.with_row_index("_rid")
        flow.add("flow_design_rows", d.filter(part))
        d = ctx.population.restrict(d.join(seg, on="spell_id", how="left"), "m", segment="_segment")
        flow.add("flow_population_rows", d.filter(part))
        return d.drop("_segment")
    return restrict


def _counts(frame: pl.DataFrame, keys: list[str], parts: dict[str, pl.Expr]) -> pl.DataFrame:
    """Distinct persons of each part (``keys, part, n``) of the rows of ``frame``."""
    out = [frame.filter(e).group_by(keys).agg(n=pl.col("person_id").n_unique()).with_columns(part=pl.lit(p))
           for p, e in parts.items()]
    return pl.concat([o.select(*[pl.col(k).cast(pl.String) for k in keys], "part", "n") for o in out])


def _members(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """The persons behind each cell (part ``cell``) of the rows of ``frame``."""
    return frame.select(*[pl.col(k).cast(pl.String) for k in keys], pl.lit(CELL).alias("part"),
                        pl.col("person_id").cast(pl.Int64)).unique()


def run(ctx: StudyContext, done: tuple = ()) -> AnalysisResult:
    """Learn the allocation rule on the study's population and estimate its gain (issue #22)."""
    from impact.simulate.policy_truth import arm_effects

    cfg, lang = ctx.cfg, ctx.lang
    o = dataclasses.replace(cfg.estimator("targeting"), min_cell=ctx.rules.min_cell,
                            max_elapsed=cfg.treatment.max_elapsed_months)
    flow = FlowBuilder(ANALYSIS, unit="_rid")
    truth = None
    td = ctx.truth_dir
    if td is not None and (td / "service_effects.parquet").exists() and o.outcome == "employed":
        def truth(rows, arms, h):
            return arm_effects(td, rows, arms, h, TRUTH_COVARIATES)
    tt = service_targeting(ctx.spells, ctx.services, ctx.persons, ctx.person_month, o, truth=truth,
                           restrict=_restrict(ctx, flow), labels=feature_labels(lang), last_month=ctx.last_month)
    res, a = tt.results, tt.results.assignment
    arms = list(res.info["actions"])[: len(tt.design["arms"])]
    names = list(res.info["actions"])
    d = tt.data.select("_rid", "person_id", "m", "arm", "participant", *o.fairness_groups).with_columns(
        pi=pl.Series(a["rule"]), action=pl.Series(a["action"]), leaf=pl.Series(a["leaf"] + 1),
        evaluation=pl.Series(a["evaluation"]))
    ev = d.filter(pl.col("evaluation"))
    evp = ev.filter(pl.col("participant"))
    lrp = d.filter(~pl.col("evaluation") & pl.col("participant"))
    flow.add("flow_evaluation_half", evp)
    rule = " | ".join(f"{c} -> {x}" for c, x in zip(res.leaves["conditions"], res.leaves["action"]))
    ctx.log(f"  targeting: {res.info['participants']:,} starts ({res.info['participants_evaluation']:,} in the "
            f"evaluation half), rule: {rule}")
    ctx.log("  targeting stages (wall / CPU seconds): " + ", ".join(
        f"{k} {v:.1f} / {tt.timings.get(k + '_cpu', float('nan')):.1f}" for k, v in tt.timings.items()
        if not k.endswith("_cpu")))

    # estimates: values and gains over the evaluation half's participants
    outcome = f"{o.outcome}_h{o.horizon}"
    est = tt.gain[["estimand", "estimate", "std_error", "ci_lower", "ci_upper", "p_value", "truth", "n_treated",
                   "n_controls"]].copy()
    est.insert(0, "outcome", outcome)
    est.insert(0, "estimator", "policy tree")
    est.insert(0, "analysis", ANALYSIS)
    est["horizon"] = float(o.horizon)
    keys = ["analysis", "estimand", "outcome", "horizon"]
    parts = {"treated": evp, "controls": ev.filter(~pl.col("participant"))}
    part_names: tuple[str, ...] = ("treated", "controls")
    payers = None
    if o.outcome == "employed":
        y = tt.data.select(pl.col(outcome).alias("_y")).with_columns(evaluation=pl.Series(a["evaluation"]),
                                                                     participant=tt.data["participant"],
                                                                     person_id=tt.data["person_id"])
        yp = y.filter(pl.col("evaluation") & pl.col("participant"))
        parts.update(employed=yp.filter(pl.col("_y") > 0.5), not_employed=yp.filter(pl.col("_y") <= 0.5))
        part_names += ("employed", "not_employed")
    persons = persons_frame(parts)
    kf = pl.from_pandas(est[keys].astype(str))
    members = kf.join(persons, how="cross")
    if o.outcome == "earnings":
        rows = pl.concat([ev.select("person_id", (pl.col("m").cast(pl.Int64) + o.horizon).alias("month"))
                          .with_columns(**{k: pl.lit(v) for k, v in r.items()}) for r in kf.to_dicts()])
        payers = earnings_payers(ctx, rows)
    pub_est = estimates_publication(f"estimates_{ANALYSIS}", est, members, payers, parts=part_names,
                                    keys=tuple(keys))
    tables: dict[str, Publication] = {}

    # costs: extra cost per participant, extra placements per 1,000, cost per additional placement
    cost = tt.costs.copy()
    cm = pl.DataFrame({"comparison": cost["comparison"].tolist()}).join(
        persons.filter(pl.col("part").is_in(["treated", "controls"])), how="cross")
    cm = pl.concat([cm, cm.filter(pl.col("part") == "treated").with_columns(part=pl.lit(CELL))])
    vals = tuple(c for c in cost.columns if c not in ("comparison", "note"))
    tables["targeting_costs"] = Publication("targeting_costs", cost, slices=("comparison",), members=cm.unique(),
                                            groups=(Group(vals, parts=("treated", "controls")),), keep=("note",))

    # allocation: per arm, today and under the rule
    alloc = tt.allocation.copy()
    arm_name = pl.DataFrame({"_a": list(range(len(arms))), "arm_name": arms})
    e_l = evp.join(arm_name, left_on="arm", right_on="_a").rename({"arm_name": "today"}).join(
        arm_name, left_on="pi", right_on="_a").rename({"arm_name": "rule"})
    l_l = lrp.join(arm_name, left_on="arm", right_on="_a").rename({"arm_name": "today"}).join(
        arm_name, left_on="pi", right_on="_a").rename({"arm_name": "rule"})
    am = pl.DataFrame({"arm": arms}).join(evp.select("person_id"), how="cross").select(
        "arm", pl.lit(CELL).alias("part"), pl.col("person_id").cast(pl.Int64)).unique()
    def persons_by(frame: pl.DataFrame, col: str, part: str) -> pl.DataFrame:
        return frame.group_by(pl.col(col).alias("arm")).agg(n=pl.col("person_id").n_unique()).select(
            "arm", pl.lit(part).alias("part"), "n")
    pc = pl.concat([persons_by(e_l, "today", "today"), persons_by(e_l, "rule", "rule"),
                    persons_by(e_l.filter(pl.col("action") == len(arms)), "rule", "kept"),
                    persons_by(l_l, "today", "today_learning"), persons_by(l_l, "rule", "rule_learning")])
    tables["targeting_allocation"] = Publication(
        "targeting_allocation", alloc, slices=("arm",), members=am, part_counts=pc,
        groups=(Group(("participants_today", "persons_today", "cost_per_start_eur"), parts=("today",)),
                Group(("participants_rule", "persons_rule"), parts=("rule",)), Group(("kept_today",), parts=("kept",)),
                Group(("capacity_learning",), parts=("today_learning",)),
                Group(("rule_learning",), parts=("rule_learning",))))

    # the rule's leaves and the tree (figure data)
    leaves = tt.leaves.drop(columns=["suppressed"]).copy()
    today_cols = [c for c in leaves.columns if c.startswith("today_")]
    lparts = {f"today_{arms[b]}": pl.col("arm") == b for b in range(1, len(arms))}
    lparts.update({f"not_{arms[b]}": pl.col("arm") != b for b in range(1, len(arms))})
    lpc = _counts(evp, ["leaf"], lparts)
    n_all = evp["person_id"].n_unique()
    outside = evp.group_by("leaf").agg(n=pl.col("person_id").n_unique()).select(
        pl.col("leaf").cast(pl.String), pl.lit("outside").alias("part"), (n_all - pl.col("n")).alias("n"))
    groups = [Group((c,), parts=(c, f"not_{c.removeprefix('today_')}")) for c in today_cols]
    groups.append(Group(("share_of_participants",), parts=("outside",)))
    tables["targeting_leaves"] = Publication("targeting_leaves", leaves, slices=("leaf",),
                                             members=_members(evp, ["leaf"]),
                                             part_counts=pl.concat([lpc, outside]), groups=tuple(groups),
                                             keep=("conditions", "action"))
    nodes = tt.tree.copy()
    under = _leaves_under(nodes)
    nm = pl.concat([_members(evp.filter(pl.col("leaf").is_in(ls)).with_columns(node=pl.lit(str(n))), ["node"])
                    for n, ls in under.items()]).unique()
    nout = pl.DataFrame({"node": [str(n) for n in under], "part": "outside",
                         "n": [n_all - evp.filter(pl.col("leaf").is_in(ls))["person_id"].n_unique()
                               for ls in under.values()]})
    nodes["action"] = nodes["action"].map(lambda x: action_label(x, lang) if x else x)
    nodes = nodes.drop(columns=[c for c in ("leaf",) if c in nodes])
    tables["targeting_tree"] = Publication("targeting_tree", nodes, slices=("node",), members=nm, part_counts=nout,
                                           groups=(Group(("share_of_participants",), parts=("outside",)),),
                                           keep=("parent", "branch", "depth", "is_leaf", "split", "action"))
    figures = (FigureSpec("targeting_tree", text("tgt_tree_caption", lang, min_cell=ctx.rules.min_cell),
                          "targeting_tree", partial(_draw_tree, lang=lang)),)

    # fairness: who gains and who loses a service, by group
    if len(tt.fairness):
        fair = tt.fairness.drop(columns=["suppressed"]).copy()
        fparts = {"withdrawn": pl.col("action") == 0, "not_withdrawn": pl.col("action") != 0,
                  "changed": pl.col("pi") != pl.col("arm"), "unchanged": pl.col("pi") == pl.col("arm")}
        for b in range(1, len(arms)):
            for when, col in (("today", "arm"), ("rule", "pi")):
                fparts[f"{arms[b]}_{when}"] = pl.col(col) == b
                fparts[f"not_{arms[b]}_{when}"] = pl.col(col) != b
        long = pl.concat([evp.select("person_id", "arm", "pi", "action", pl.lit(g).alias("group_var"),
                                     pl.col(g).cast(pl.String).alias("group")) for g in o.fairness_groups])
        fgroups = [Group(tuple(c for c in fair.columns if c.startswith(("share_withdrawn", "persons_withdrawn",
                                                                         "effect_withdrawn"))),
                         parts=("withdrawn", "not_withdrawn")),
                   Group(("share_changed",), parts=("changed", "unchanged"))]
        fgroups += [Group((f"share_{arms[b]}_{w}",), parts=(f"{arms[b]}_{w}", f"not_{arms[b]}_{w}"))
                    for b in range(1, len(arms)) for w in ("today", "rule")]
        tables["targeting_fairness"] = Publication(
            "targeting_fairness", fair, slices=("group_var", "group"), members=_members(long, ["group_var", "group"]),
            part_counts=_counts(long, ["group_var", "group"], fparts), groups=tuple(fgroups),
            keep=("flag", "flag_significant"))
    tables["targeting_clipping"] = _clipping(tt, d, o.clip)
    notices = []
    clipped = bool(tt.clipping["clipped"].sum() > 0)
    facts = TargetingFacts(services=tuple(o.services), outcome=o.outcome, horizon=o.horizon, depth=o.depth,
                           capacity=o.capacity, keep_today=o.keep_today, features=tuple(tt.design["features"]),
                           best_single=res.info["best_single_service"], split=o.split, folds=o.folds, clip=o.clip,
                           clipped_any=clipped, max_elapsed=o.max_elapsed, truth=truth is not None)
    if clipped:
        notices.append(Notice(text("tgt_clipped", lang, clip=o.clip), level="borderline"))
    notices += _truth_misses(tt, lang)
    return AnalysisResult(name=ANALYSIS, estimates=pub_est, tables=tables, figures=figures, flows=(flow.build(),),
                          notices=tuple(notices), facts=facts)


def _clipping(tt, d: pl.DataFrame, clip: float) -> Publication:
    """Rows whose propensity was clipped, by arm (each arm's cell: the persons of its rows; a positive
    clipped count also needs min_cell persons clipped and not clipped). The largest weight is one
    row's value and is not published."""
    sc = tt.scores
    w = sc.arm
    cl = np.where(w == 0, sc.p_participate > 1 - clip,
                  sc.q[np.arange(len(w)), np.maximum(w, 1) - 1] < clip)
    names = pl.DataFrame({"arm": list(sc.arms)}).with_row_index("_a").with_columns(pl.col("_a").cast(pl.Int64))
    rows = d.select("person_id", "arm").with_columns(_c=pl.Series(cl)).join(names.rename({"arm": "name"}),
                                                                            left_on="arm", right_on="_a")
    # a count of clipped rows rests on the persons clipped and not clipped; a zero count describes the
    # nuisance model, not a person, and needs the arm's cell only
    frame = tt.clipping.drop(columns=["max_weight"]).assign(_some=lambda f: f["clipped"] > 0)
    return Publication("targeting_clipping", frame, slices=("arm",),
                       members=_members(rows.drop("arm").rename({"name": "arm"}), ["arm"]),
                       part_counts=_counts(rows.drop("arm").rename({"name": "arm"}), ["arm"],
                                           {"clipped": pl.col("_c"), "not_clipped": ~pl.col("_c")}),
                       groups=(Group(("clipped", "share_clipped"), parts=("clipped", "not_clipped"), rows="_some"),),
                       keep=("weight",))


def _truth_misses(tt, lang: str) -> list[Notice]:
    """A warning for each service effect and leaf gain whose interval misses the synthetic truth (the
    estimates' own misses are found by :func:`impact.study.truth.truth_notices`)."""
    out = []
    for tab, col, lo, hi, what in ((tt.allocation, "truth_effect", "effect_ci_lower", "effect_ci_upper", "arm"),
                                   (tt.leaves, "truth_gain", "gain_ci_lower", "gain_ci_upper", "leaf")):
        t = tab[tab[col].notna() & ((tab[col] < tab[lo]) | (tab[col] > tab[hi]))]
        for r in t.to_dict("records"):
            name = (text("tgt_miss_effect", lang, service=label(r["arm"], lang)) if what == "arm"
                    else text("tgt_miss_leaf", lang, leaf=r["leaf"]))
            out.append(Notice(text("tgt_truth_miss", lang, what=name)))
    return out


def _leaves_under(nodes: pd.DataFrame) -> dict[int, list[int]]:
    """Node -> the leaf numbers under it (a tree of depth 2 at most: a handful of nodes)."""
    kids: dict[int, list[int]] = {}
    for r in nodes.itertuples():
        if r.parent >= 0:
            kids.setdefault(int(r.parent), []).append(int(r.node))
    leaf_no = dict(zip(nodes["node"].astype(int), nodes["leaf"]))

    def walk(n: int) -> list[int]:
        return [int(leaf_no[n])] if n not in kids else [x for k in kids[n] for x in walk(k)]
    return {int(n): walk(int(n)) for n in nodes["node"]}


def _draw_tree(df: pd.DataFrame, lang: str):
    return plots.policy_tree_figure(df, persons_label=text("tgt_persons", lang),
                                    colors={text("tgt_none", lang): "#9e9e9e"},
                                    share_label=text("tgt_of_participants", lang))
