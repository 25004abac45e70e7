"""The report section of the targeting analysis (:mod:`impact.study.analyses.targeting`): the rule in
words and as a tree, the value of each allocation, the gains with their intervals and the truth,
additional persons in work per 1,000 participants and the cost per additional placement, the
allocation, the leaves, the fairness table with its flags, the clipping and the flow, and the
limits in plain words; all from the disclosed results."""

from __future__ import annotations

from impact.report.render import ReportSection
from impact.report.wording import label, text
from impact.study.analyses.targeting import ANALYSIS, TargetingFacts, action_label

#: The estimands of the rule's evaluation, by the start of their name, and their wording keys.
ESTIMANDS = (("value: today's allocation", "tgt_value_today"), ("value: learned rule", "tgt_value_rule"),
             ("value: no service", "tgt_value_none"), ("value: best single service", "tgt_value_best"),
             ("gain: rule vs today", "tgt_gain_today"), ("gain: rule vs no service", "tgt_gain_none"),
             ("gain: rule vs best single service", "tgt_gain_best"),
             ("effect: best single service vs no service", "tgt_effect_best"),
             ("effect: today's allocation vs no service", "tgt_effect_today"))
COMPARISONS = {"rule vs today": "tgt_cmp_rule_today", "rule vs no service": "tgt_cmp_rule_none",
               "today vs no service": "tgt_cmp_today_none", "best single service vs no service": "tgt_cmp_best_none",
               "rule vs best single service": "tgt_cmp_rule_best"}





def _estimand_key(estimand: str) -> str:
    return next(k for prefix, k in ESTIMANDS if str(estimand).startswith(prefix))


def write(res, page) -> None:
    f: TargetingFacts = res.facts
    lang = page.lang
    sec = ReportSection(key=ANALYSIS, title=text("tgt_title", lang))
    e = res.estimates
    best = label(f.best_single, lang)
    fr = e.frame.assign(label=[text(_estimand_key(x), lang, service=best) for x in e.frame["estimand"]],
                        per_1000=1000 * e.frame["estimate"])
    marks = e.marks.assign(per_1000=e.marks["estimate"], label="")
    row = fr.set_index("estimand")
    g = row.loc["gain: rule vs today"] if "gain: rule vs today" in row.index else None
    services = ", ".join(label(s, lang) for s in f.services)
    sec.paragraphs.append(text("tgt_intro", lang, services=services, horizon=f.horizon,
                               outcome=text(f"tgt_outcome_{f.outcome}", lang), max_elapsed=f.max_elapsed,
                               depth=f.depth, split=page.fmt("pct", f.split), folds=f.folds,
                               min_cell=page.rules.min_cell,
                               capacity=text(f"tgt_capacity_{f.capacity}", lang),
                               keep=text("tgt_keep_text", lang) if f.keep_today else ""))
    leaves = res.tables["targeting_leaves"].frame
    rule = "; ".join(text("tgt_if", lang, cond=r.conditions or text("tgt_everyone", lang),
                          action=action_label(r.action, lang)) for r in leaves.itertuples())
    sec.paragraphs.append(text("tgt_rule", lang, rule=rule))
    fmt = "pp" if f.outcome == "employed" else "num0"
    if g is not None:
        truth = text("tgt_truth", lang, truth=page.fmt(fmt, g["truth"])) if f.truth and g["truth"] == g["truth"] else ""
        sec.paragraphs.append(text("tgt_gain", lang, gain=page.fmt(fmt, g["estimate"]), lo=page.fmt(fmt, g["ci_lower"]),
                                   hi=page.fmt(fmt, g["ci_upper"]), truth=truth,
                                   verdict=text("tgt_gain_yes" if g["ci_lower"] > 0 else "tgt_gain_loss"
                                                if g["ci_upper"] < 0 else "tgt_gain_no", lang)))
        page.summary(text("tgt_summary", lang, gain=page.fmt(fmt, g["estimate"]), lo=page.fmt(fmt, g["ci_lower"]),
                          hi=page.fmt(fmt, g["ci_upper"]), per=page.fmt("num0", 1000 * g["estimate"])
                          if f.outcome == "employed" else "–"))
    vals = [i for i in fr.index if str(fr.at[i, "estimand"]).startswith("value")]
    gains = [i for i in fr.index if i not in vals]
    vkind = "pct" if f.outcome == "employed" else "num0"
    cols = [("label", text("tgt_estimand", lang), "text"),
            ("estimate", text("estimate", lang), vkind, ("ci_lower", "ci_upper")),
            ("std_error", text("std_error", lang), "pp_abs" if f.outcome == "employed" else "num0")]
    sec.tables.append(page.table_frame(fr, marks, cols, text("tgt_values_caption", lang), rows=vals,
                                       name="targeting_values", notes=page.legend(e)))
    gcols = [("label", text("tgt_estimand", lang), "text"),
             ("estimate", text("estimate", lang), fmt, ("ci_lower", "ci_upper"))]
    if f.truth:
        gcols.append(("truth", text("truth", lang), fmt))
    if f.outcome == "employed":
        gcols.append(("per_1000", text("tgt_per_1000", lang), "num1"))
    gcols.append(("p_value", text("p_value", lang), "p"))
    sec.tables.append(page.table_frame(fr, marks, gcols, text("tgt_gains_caption", lang), rows=gains,
                                       name="targeting_gains", notes=page.legend(e)))
    c = res.tables["targeting_costs"]
    cf = c.frame.assign(label=[text(COMPARISONS[x], lang, service=best) for x in c.frame["comparison"]])
    ccols = [("label", text("tgt_comparison", lang), "text"),
             ("extra_cost_per_participant_eur", text("tgt_extra_cost", lang), "num0"),
             ("extra_placements_per_1000", text("tgt_per_1000", lang), "num1",
              ("ci_lower_per_1000", "ci_upper_per_1000")),
             ("cost_per_additional_placement_eur", text("cost_per_additional", lang), "num0",
              ("ci_lower_eur", "ci_upper_eur"))]
    sec.tables.append(page.table(c, ccols, text("tgt_costs_caption", lang), frame=cf,
                                 notes=[text("tgt_costs_note", lang)]))
    al = res.tables["targeting_allocation"]
    af = al.frame.assign(label=[action_label(x, lang) for x in al.frame["arm"]])
    acols = [("label", text("tgt_service", lang), "text"), ("persons_today", text("tgt_persons_today", lang), "int"),
             ("persons_rule", text("tgt_persons_rule", lang), "int"), ("kept_today", text("tgt_kept", lang), "int"),
             ("cost_per_start_eur", text("tgt_cost_per_start", lang), "num0"),
             ("effect_vs_none", text("tgt_effect_vs_none", lang), "pp" if f.outcome == "employed" else "num0",
              ("effect_ci_lower", "effect_ci_upper"))]
    if f.truth:
        acols.append(("truth_effect", text("truth", lang), "pp"))
    sec.tables.append(page.table(al, acols, text("tgt_allocation_caption", lang), frame=af))
    lt = res.tables["targeting_leaves"]
    lf = lt.frame.assign(label=[action_label(x, lang) for x in lt.frame["action"]])
    lcols = [("leaf", text("tgt_leaf", lang), "int"), ("conditions", text("tgt_conditions", lang), "text"),
             ("label", text("tgt_action", lang), "text"), ("persons", text("tgt_persons_col", lang), "int"),
             ("gain_vs_today", text("tgt_gain_vs_today", lang), fmt, ("gain_ci_lower", "gain_ci_upper"))]
    if f.truth:
        lcols.append(("truth_gain", text("truth", lang), fmt))
    sec.tables.append(page.table(lt, lcols, text("tgt_leaves_caption", lang), frame=lf))
    sec.figures += page.figures_of(res)
    if "targeting_fairness" in res.tables:
        ft = res.tables["targeting_fairness"]
        ff = ft.frame.assign(var=[label(v, lang) for v in ft.frame["group_var"]],
                             flag_text=[text("tgt_flag_sig" if s else "tgt_flag" if fl else "tgt_flag_none", lang)
                                        for fl, s in zip(ft.frame["flag"], ft.frame["flag_significant"])])
        fcols = [("var", text("group", lang), "text"), ("group", "", "text"),
                 ("persons", text("tgt_persons_col", lang), "int"),
                 ("share_withdrawn", text("tgt_share_withdrawn", lang), "pct"),
                 ("share_changed", text("tgt_share_changed", lang), "pct"),
                 ("effect_today", text("tgt_fair_effect_today", lang), fmt,
                  ("effect_today_ci_lower", "effect_today_ci_upper")),
                 ("gain_rule", text("tgt_gain_group", lang), fmt, ("gain_rule_ci_lower", "gain_rule_ci_upper")),
                 ("effect_withdrawn", text("tgt_effect_withdrawn", lang), fmt),
                 ("flag_text", text("tgt_flag_col", lang), "text")]
        sec.tables.append(page.table(ft, fcols, text("tgt_fairness_caption", lang), frame=ff,
                                     notes=[text("tgt_fairness_note", lang, min_cell=page.rules.min_cell)]))
        flagged = ff[ff["flag"].astype(bool)]
        if len(flagged):
            groups = "; ".join(f"{v}: {', '.join(label(str(x), lang) for x in g['group'])}"
                               for v, g in flagged.groupby("var", sort=False))
            page.notice(text("tgt_fairness_warning", lang, groups=groups))
    ct = res.tables["targeting_clipping"]
    cf = ct.frame.assign(label=[action_label(x, lang) for x in ct.frame["arm"]])
    sec.tables.append(page.table(ct, [("label", text("tgt_service", lang), "text"), ("rows", text("rows", lang), "int"),
                                      ("clipped", text("tgt_clipped_rows", lang), "int"),
                                      ("share_clipped", text("tgt_clipped_share", lang), "pct")],
                                 text("tgt_clipping_caption", lang, clip=f.clip), frame=cf))
    sec.tables.append(page.flow_table(res.flows[ANALYSIS], text("tgt_flow_caption", lang)))
    sec.paragraphs.append(text("tgt_limits", lang))
    sec.warnings += [n.text for n in res.notices]
    page.add_section(sec)
