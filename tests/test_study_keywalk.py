"""The key walk: every key a study config accepts changes what the run does, or is informational
and appears in the report.

On one small synthetic extract (the ``area_reform`` scenario, 3,000 persons) a handful of base
configs are run analysis by analysis; for each key a variant of one base changes only that key,
and the disclosed results of the analyses that read the key (estimates, tables, figure data,
flows, facts) must differ from the base's. Document-level keys (titles, language, author, data
source, ...) must change the rendered report. A key without an entry here fails the coverage test.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pytest

from impact.options import option_fields
from impact.outcomes.options import EMPLOYMENT_KEYS
from impact.study.config import ESTIMATORS, SECTIONS, parse_config
from impact.study.data import DataOptions, SyntheticSource

PERSONS, SEED = 3000, 3
LOW = {"min_cell": 3, "override_reason": "the key walk runs on 3,000 synthetic persons"}


def _base(design: dict, **sections) -> dict:
    raw = {"study": {"name": "walk", "title": "Walk", "question": "Does every key matter?"},
           "data": {"registers": "REG"}, "disclosure": dict(LOW), **design}
    raw.update(copy.deepcopy(sections))
    return raw


BASES = {
    "followup": _base({}, unit={"kind": "service_spell"}, outcomes={
        "horizons": [3, 6], "by": ["service_type", "employment_area"],
        "measures": ["placement", "time_to_employment", "earnings", "relative_earnings", "return_to_jobseeking",
                     "k_of_h", "cost"]}, metrics={"tax_effects": ["truth"], "include": [
                         "job_offers", "candidate_searches", "vacancies", "integration", "koto", "benefit_transitions",
                         "industry", "tax"]}, population={"start_from": dt.date(2016, 1, 1)}),
    "light": _base({}, unit={"kind": "service_spell"}, outcomes={
        "horizons": [3, 6], "by": ["service_type", "employment_area"],
        "measures": ["placement", "time_to_employment", "earnings", "relative_earnings", "return_to_jobseeking",
                     "k_of_h", "cost"]}, population={"start_from": dt.date(2016, 1, 1)}),
    "matching": _base({"treatment": {"design": "dynamic", "service_type": "training"},
                       "comparison": {"kind": "not_yet_treated"}, "estimators": {"matching": {"subgroups": False}}},
                      outcomes={"horizons": [3, 6]}),
    "did": _base({"treatment": {"design": "dynamic", "service_type": "training"},
                  "comparison": {"kind": "not_yet_treated"}, "estimators": {"did": {}}},
                 outcomes={"window_months": [-6, 6]}),
    "both": _base({"treatment": {"design": "dynamic", "service_type": "training"},
                   "comparison": {"kind": "not_yet_treated"}, "estimators": {"matching": {"subgroups": False},
                                                                             "did": {}}},
                  outcomes={"window_months": [-6, 6], "horizons": [3, 6]}),
    "spell": _base({"treatment": {"design": "did_cohorts", "service_type": "training", "max_elapsed_months": 6},
                    "comparison": {"kind": "not_yet_treated"},
                    "estimators": {"did": {"design": "spell_time", "sample_units": 3000}}},
                   outcomes={"window_months": [-3, 6]}),
    "sector": _base({"treatment": {"design": "sector_contrast", "service_type": "pay_subsidy", "employer_sectors": [4, 5]},
                     "comparison": {"kind": "other_sector", "employer_sectors": [1, 2, 3, 6]},
                     "estimators": {"matching": {}}}, outcomes={"horizons": [3, 6]}),
    "synth": _base({"treatment": {"design": "synthetic_control", "area": "EA05", "policy_month": "2019-01"},
                    "comparison": {"kind": "donors", "exclude_areas": ["EA07", "EA09"]},
                    "estimators": {"synth": {"placebo": False, "in_time_placebo": False}, "peer_groups": {"k": 4}}},
                   unit={"kind": "jobseeking_spell"}, outcomes={"by": ["employment_area"], "window_months": [-24, 12]}),
    "targeting": _base({"treatment": {"design": "multi_service"}, "comparison": {"kind": "not_yet_treated"},
                        "estimators": {"followup": {"enabled": False}, "targeting": {"folds": 2}}}),
}

#: (base, dotted key, new value) for every key that changes the numbers.
VARIANTS = [
    ("light", "population.start_from", dt.date(2019, 1, 1)), ("light", "population.start_to", dt.date(2021, 12, 31)),
    ("light", "population.age_min", 30), ("light", "population.age_max", 40),
    ("light", "population.areas", ["EA01", "EA02", "EA03", "EA04", "EA05", "EA06"]),
    ("light", "population.segments", ["01", "02"]), ("light", "population.languages", ["fi"]),
    ("light", "population.sexes", ["F"]),
    ("synth", "unit.kind", "service_spell"), ("light", "unit.service_types", ["training", "coaching"]),
    ("matching", "treatment.design", "did_cohorts", {"estimators": {"did": {}}}),
    ("matching", "treatment.service_type", "coaching"),
    ("matching", "treatment.subtype", "vocational"), ("sector", "treatment.employer_sectors", [4]),
    ("synth", "treatment.area", "EA08"), ("synth", "treatment.policy_month", "2019-07"),
    ("did", "treatment.cohorts_from", "2021-01"), ("did", "treatment.cohorts_to", "2024-12"),
    ("matching", "treatment.max_elapsed_months", 6),
    ("matching", "comparison.kind", "never_treated"), ("matching", "comparison.grace_months", 3),
    ("sector", "comparison.employer_sectors", [1, 2]), ("synth", "comparison.donors", ["EA01", "EA02", "EA03", "EA04",
                                                                                         "EA06", "EA08"]),
    ("synth", "comparison.exclude_areas", ["EA07", "EA09", "EA10", "EA11"]), ("synth", "comparison.donors_from_peers", True),
    ("matching", "outcomes.horizons", [3, 9]), ("light", "outcomes.measures", ["placement"]),
    ("light", "outcomes.by", ["service_type"]), ("did", "outcomes.window_months", [-4, 6]),
    ("matching", "design.covariates", ["sex", "education", "language", "segment", "prior_employment", "prior_earnings"]),
    ("matching", "design.history_months", 6), ("matching", "design.exact", ["sex"]),
    ("matching", "estimators.followup.enabled", False, {"outcomes": {"horizons": [3, 6]}}),
    ("light", "estimators.followup.km", False),
    # matching off: its keys go too (a key no analysis reads is refused)
    ("both", "estimators.matching.enabled", False, {"outcomes": {"window_months": [-6, 6]},
                                                    "estimators": {"matching": {}, "did": {}}}),
    ("matching", "estimators.matching.method", "mahalanobis"),
    ("matching", "estimators.matching.k", 2), ("matching", "estimators.matching.replace", False),
    ("matching", "estimators.matching.caliper", 0.05), ("matching", "estimators.matching.estimand", "ATE"),
    ("matching", "estimators.matching.ties", "first"), ("matching", "estimators.matching.se", "bootstrap"),
    ("matching", "estimators.matching.trim", [0.03, 1.0]), ("matching", "estimators.matching.max_controls_per_cell", 5),
    ("both", "estimators.did.enabled", False, {"outcomes": {"horizons": [3, 6]}}),
    ("did", "estimators.did.design", "spell_time"),
    ("did", "estimators.did.cohorts", 12), ("did", "estimators.did.controls_per_treated", 2),
    ("did", "estimators.did.method", "dr"), ("did", "estimators.did.anticipation", 1),
    ("did", "estimators.did.base_period", "universal"), ("did", "estimators.did.bootstrap", False),
    ("did", "estimators.did.cluster", "employment_area"), ("did", "estimators.did.twfe", True),
    ("spell", "estimators.did.sample_units", 800), ("did", "estimators.did.honest", ["smoothness"]),
    ("synth", "estimators.synth.enabled", False, {"estimators": {"synth": {"enabled": False},
                                                                 "peer_groups": {"enabled": False}},
                                                  "treatment": {"design": "none"}, "comparison": {"kind": "none"},
                                                  "outcomes": {"by": ["employment_area"]}}),
    ("synth", "estimators.synth.predictors", "structural"),
    ("synth", "estimators.synth.placebo", True), ("synth", "estimators.synth.in_time_placebo", True),
    ("synth", "estimators.synth.leave_one_out", True), ("synth", "estimators.synth.compare", ["sdid"]),
    ("synth", "estimators.synth.poor_fit_ratio", 1.5, {"estimators": {"synth": {"placebo": True, "in_time_placebo": False,
                                                                               "compare": []}, "peer_groups": {"k": 4}}}),
    ("matching", "report.alpha", 0.2), ("matching", "estimators.matching.subgroups", True),
    ("synth", "estimators.peer_groups.enabled", False),
    ("synth", "estimators.peer_groups.k", 3), ("synth", "estimators.peer_groups.metric", "propensity"),
    ("targeting", "estimators.targeting.enabled", False, {"estimators": {"targeting": {"enabled": False}},
                                                          "treatment": {"design": "none"}, "comparison": {"kind": "none"}}),
    *[("targeting", f"estimators.targeting.{k}", v) for k, v in {
        "services": ["training", "coaching", "pay_subsidy"], "outcome": "earnings", "horizon": 6, "depth": 1,
        "capacity": "none", "keep_today": False, "features": ["age", "elapsed_months", "prior_employment"],
        "fairness_groups": ["sex"], "folds": 3, "split": 0.6, "clip": 0.1, "max_controls_per_cell": 5}.items()],
    ("light", "disclosure.min_cell", 12, {"disclosure": {"min_cell": 12}}), ("light", "disclosure.min_payers", 3),
    ("light", "disclosure.dominance", 0.5), ("light", "disclosure.rounding", 5),
    ("followup", "metrics.include", ["job_offers", "koto"]), ("followup", "metrics.offer_horizons", [1, 3]),
    ("followup", "metrics.benefit_horizons", [6]), ("followup", "metrics.tax_rates", "RATES"),
    ("followup", "metrics.tax_effects", ["design"]), ("followup", "metrics.tax_years", 2),
    ("followup", "metrics.taxable_share", 0.5), ("light", "data.extraction_date", dt.date(2024, 6, 30),
                                                                 {"data": {"registers": "REG", "after_extraction": "drop"}}),
    *[("light", f"outcomes.employment.{k}", v) for k, v in {
        "allocation": "payment", "income_types": [201], "holiday_compensation": "exclude",
        "employment_floor_eur": 1500.0, "employment_rule": "last_week", "segment_by": ["sex"],
        "age_bands": [0, 30, 50], "k_of_h": [[2, 6]], "earnings_windows": [[1, 6]], "return_windows": [6]}.items()],
]

#: Keys that change no number but the report: (dotted key, new value, text the report must then contain).
REPORT_KEYS = [
    ("study.name", "walk2", "walk2"), ("study.title", "Another title", "Another title"),
    ("study.question", "Another question?", "Another question?"), ("study.description", "A description.", "A description."),
    ("study.phase", 2, "phase 2 of the evaluation roadmap"), ("report.title", "Report title", "Report title"),
    ("report.language", "fi", 'lang="fi"'), ("report.author", "A. Author", "A. Author"),
    ("disclosure.override_reason", "another reason", "another reason"),
    ("data.backend", "duckdb", "ran on duckdb"), ("data.duckdb", {"threads": 1}, "threads 1"),
    ("data.registers", "REG", "Register extract in"),
    ("data.synthetic", {"scenario": "area_reform", "persons": 4321, "seed": 9}, "4,321 persons"),
    ("data.synthetic.scenario", "area_reform", "scenario area_reform"), ("data.synthetic.persons", 4321, "4,321"),
    ("data.synthetic.seed", 9, "seed 9"), ("report.formats", ["html", "pdf"], "report.pdf"),
    ("study.title_fi", "Toinen otsikko", "Toinen otsikko"), ("study.question_fi", "Toinen kysymys?", "Toinen kysymys?"),
]


def _set(raw: dict, dotted: str, value, patch: dict | None = None) -> dict:
    """``raw`` with ``dotted`` set to ``value`` (``patch``: sections replaced as well, for keys that need them)."""
    raw = copy.deepcopy(raw)
    raw.update(copy.deepcopy(patch or {}))
    node, keys = raw, dotted.split(".")
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value
    return raw


def all_keys() -> set[str]:
    keys = {f"{s}.{f.name}" for s, (cls, _) in SECTIONS.items() for f in option_fields(cls)}
    keys |= {f"estimators.{e}.{f.name}" for e, (cls, _) in ESTIMATORS.items() for f in option_fields(cls)}
    keys |= {f"estimators.{e}.enabled" for e in ESTIMATORS}
    keys |= {f"data.{f.name}" for f in option_fields(DataOptions)} | {"data.duckdb"}
    keys |= {f"data.synthetic.{f.name}" for f in option_fields(SyntheticSource)}
    keys |= {f"outcomes.employment.{k}" for k in EMPLOYMENT_KEYS}
    return keys - {"outcomes.employment"}  # a table: walked key by key


#: Keys whose other value refuses the run (so no two runs to compare): the test that shows what each does.
REFUSING_KEYS = {"data.after_extraction": "test_rows_after_the_extraction_date_stop_the_run_or_are_dropped"}


def test_every_key_is_walked():
    walked = {v[1] for v in VARIANTS} | {k for k, _, _ in REPORT_KEYS} | set(REFUSING_KEYS)
    assert all_keys() - walked == set(), "keys without a walk entry"
    assert walked - all_keys() == set(), "walk entries for keys that do not exist"


# ---------------------------------------------------------------------------------------
# The harness: contexts cached per outcome definition and population, analyses run one by one
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    from impact.simulate import simulate
    from impact.study.analyses import robustness

    root = tmp_path_factory.mktemp("walk")
    simulate(scenario="area_reform", persons=PERSONS, seed=SEED, out=root / "reg")
    rates = root / "rates.csv"
    from impact.outcomes.tax import default_tax_rates_path

    import polars as pl

    pl.read_csv(default_tax_rates_path()).with_columns(pl.col("rate_pct") + 2.0).write_csv(rates)
    robustness.SIMULATIONS = 2  # the refuters' repetitions do not decide whether a key matters
    return Walk(root, root / "reg", rates)


class Walk:
    def __init__(self, root: Path, reg: Path, rates: Path):
        self.root, self.reg, self.rates = root, reg, rates
        self.contexts: dict[str, tuple] = {}
        self.memo: dict[str, str] = {}

    def cfg(self, raw: dict):
        raw = copy.deepcopy(raw)
        raw["data"] = {k: (str(self.reg) if v == "REG" else v) for k, v in raw["data"].items()}
        if raw.get("metrics", {}).get("tax_rates") == "RATES":
            raw["metrics"]["tax_rates"] = str(self.rates)
        return parse_config(raw)

    def context(self, cfg):
        from impact.study import stages
        from impact.study.runner import Progress, prepare

        ocfg = cfg.outcomes.outcome_config(cfg.data.extraction_date, cfg.disclosure.min_cell)
        key = repr(ocfg.to_dict())
        if key not in self.contexts:
            self.contexts[key] = prepare(cfg, None, self.root, Progress(quiet=True), self.root / ".cache", None)
        ctx, info = self.contexts[key]
        pop, *_ = stages.population(cfg, ctx.tables, ctx.outcomes)
        return dataclasses.replace(ctx, cfg=cfg, population=pop), info

    def results(self, raw: dict, only: set[str] | None = None):
        from impact.study.analyses import ANALYSES
        from impact.study.runner import disclose_result
        from impact.study.truth import attach_truth

        cfg = self.cfg(raw)
        ctx, info = self.context(cfg)
        done, out = [], []
        for name in cfg.analyses:  # the metrics' tax may read the matching before it
            if only is not None and name not in only and not (name == "matching" and "metrics" in only):
                continue
            r = attach_truth(ANALYSES[name].run(ctx, tuple(done)), ctx.truth_dir)
            done.append(r)
            out.append(disclose_result(r, cfg.disclosure))
        return cfg, ctx, info, out

    def fingerprint(self, raw: dict, only: set[str] | None = None) -> str:
        key = repr((raw, sorted(only or ())))
        if key not in self.memo:
            self.memo[key] = self._fingerprint(raw, only)
        return self.memo[key]

    def _fingerprint(self, raw: dict, only: set[str] | None) -> str:
        cfg, _, _, out = self.results(raw, only)
        h = hashlib.sha256()
        for r in out:
            h.update(r.name.encode())
            for d in [r.estimates, *r.tables.values(), *r.flows.values()]:
                if d is not None:
                    h.update(d.name.encode())
                    h.update(d.frame.round(10).to_csv(index=False).encode())
            h.update(repr(r.facts).encode())
            h.update(repr([n.text for n in r.notices]).encode())
        return h.hexdigest()


def _reads(key: str, cfg) -> set[str] | None:
    """The analyses that read ``key`` (None: all of the config's)."""
    section, _, name = key.rpartition(".")
    classes = {**SECTIONS, **{f"estimators.{k}": v for k, v in ESTIMATORS.items()}}
    if section not in classes:  # outcomes.employment.*, data.*: the whole run
        return None
    f = next(f for f in option_fields(classes[section][0]) if f.name == name)
    a = f.metadata.get("applies")
    return None if a is None else (set(a) & set(cfg.analyses)) or None


#: Walk entries that fail today, with the reason (strict: an entry that starts passing fails until removed).
KNOWN_FAILURES: dict[str, str] = {}


@pytest.mark.slow
@pytest.mark.parametrize("entry", [pytest.param(v, marks=pytest.mark.xfail(reason=KNOWN_FAILURES[v[1]], strict=True))
                                   if v[1] in KNOWN_FAILURES else v for v in VARIANTS],
                         ids=[v[1] for v in VARIANTS])
def test_key_changes_the_run(walk, entry):
    base, key, value, *patch = entry
    raw = BASES[base]
    variant = _set(raw, key, value, patch[0] if patch else None)
    cfg_v = walk.cfg(variant)
    only = None if key.endswith(".enabled") or key == "treatment.design" else _reads(key, cfg_v)
    assert walk.fingerprint(raw, only) != walk.fingerprint(variant, only), f"{key} = {value!r} changed nothing"


@pytest.mark.slow
def test_did_cohorts_without_a_propensity_fit_are_left_out_with_a_notice(walk):
    """method = "dr" on the walk's small cohorts: cohorts whose propensity logit separates or is
    singular are left out with a first-page notice; the others are estimated (issue 19)."""
    variant = _set(BASES["did"], "estimators.did.method", "dr")
    _, _, _, out = walk.results(variant, {"did"})
    r = next(x for x in out if x.name == "did")
    left = [n.text for n in r.notices if "could not be estimated" in n.text]
    assert len(left) == 1 and "(dr)" in left[0], [n.text for n in r.notices]
    est = r.estimates.frame
    assert np.isfinite(est.loc[est["analysis"] == "did_overall", "estimate"]).all()


@pytest.mark.slow
def test_report_keys_appear_in_the_report(walk):
    """Informational keys: the rendered report (or its files) shows the value."""
    from impact.report.render import render
    from impact.report.disclosure import disclose_flow
    from impact.study.document import build_document

    raw = _base({}, unit={"kind": "service_spell"}, outcomes={"horizons": [3], "by": ["service_type"],
                                                            "measures": ["placement"]},
                estimators={"followup": {"km": False}})
    cfg0, ctx, info, out = walk.results(raw)
    for key, value, expect in REPORT_KEYS:
        variant = _set(raw, key, value)
        if key.endswith("_fi"):  # the Finnish title and question show in a Finnish report
            variant = _set(variant, "report.language", "fi")
        if key.startswith("data.synthetic"):
            variant["data"] = {"synthetic": {**{"scenario": "area_reform", "persons": PERSONS, "seed": SEED},
                                             **(value if key == "data.synthetic" else {key.split(".")[-1]: value})}}
        cfg = walk.cfg(variant)
        folder = walk.root / "doc" / key
        pop = disclose_flow("flow_population", ctx.population.flow.steps, ctx.population.flow.members, cfg.disclosure)
        doc = build_document(cfg, dataclasses.replace(info, synthetic=cfg.data.synthetic is not None), pop, out, [],
                             folder / "figures")
        paths = render(doc, folder, cfg.report.formats if key == "report.formats" else ("html",))
        html = paths["html"].read_text()
        seen = html + " ".join(p.name for p in paths.values())
        assert expect in seen, (key, expect)


@pytest.mark.slow
def test_population_restricts_every_analysis(walk):
    """Women only: the sample of every analysis shrinks, and each analysis's flow shows the step."""
    everything = _base({"treatment": {"design": "dynamic", "service_type": "training"},
                        "comparison": {"kind": "not_yet_treated"},
                        "estimators": {"matching": {}, "did": {"cohorts": 48}}},
                       outcomes={"window_months": [-6, 6], "horizons": [3, 6]},
                       metrics={"include": ["job_offers", "integration", "benefit_transitions", "industry", "tax"],
                                "tax_effects": ["truth"]})
    young = _set(everything, "population.sexes", ["F"])

    def sizes(raw):
        _, _, _, out = walk.results(raw)
        r = {x.name: x for x in out}
        flow = lambda name, key: r[name].flows[name].frame.set_index("key").loc[key, "persons"]  # noqa: E731
        offers = r["metrics"].tables["offers_by_result_code"].frame.set_index("result_code").loc["Total", "n_persons"]
        benefits = r["metrics"].tables["tax_revenue_by_service"].frame["n"].sum()
        est = r["matching"].estimates.frame
        return {"followup": r["followup"].estimates.frame["n_treated"].max(),
                "matching rows": flow("matching", "flow_population_rows"), "matching": est["n_treated"].iloc[0],
                "did": flow("did", "flow_population_rows"), "metrics offers": offers, "metrics tax": benefits}

    a, b = sizes(everything), sizes(young)
    for k in a:
        assert b[k] < a[k], (k, a[k], b[k])
    base = walk.results(BASES["synth"])[3][-1]
    yng = walk.results(_set(BASES["synth"], "population.sexes", ["F"]))[3][-1]
    key = "flow_area_population"
    assert (yng.flows["synth"].frame.set_index("key").loc[key, "persons"]
            < base.flows["synth"].frame.set_index("key").loc[key, "persons"])
    assert (yng.estimates.frame["n_treated"].iloc[0] < base.estimates.frame["n_treated"].iloc[0])


@pytest.mark.slow
def test_population_restricts_targeting(walk):
    """Women only: the targeting analysis learns and evaluates on fewer starts, and its flow shows the step."""
    def sizes(raw):
        r = walk.results(raw)[3][-1]
        flow = r.flows["targeting"].frame.set_index("key")
        return flow.loc["flow_population_rows", "persons"], r.estimates.frame["n_treated"].iloc[0]

    base, women = sizes(BASES["targeting"]), sizes(_set(BASES["targeting"], "population.sexes", ["F"]))
    assert women[0] < base[0] and women[1] < base[1], (base, women)


@pytest.mark.slow
def test_rows_after_the_extraction_date_stop_the_run_or_are_dropped(walk):
    """``data.after_extraction``: with an extraction date before the data's last rows, "error" refuses
    the run naming the rows; "drop" runs on the rows up to the date (the outcome stage counts them)."""
    from impact.errors import ImpactError
    from impact.study.runner import Progress, prepare

    early = {"registers": "REG", "extraction_date": dt.date(2024, 6, 30)}
    with pytest.raises(ImpactError, match="after the extraction date"):
        prepare(walk.cfg(_set(BASES["light"], "data", early)), None, walk.root, Progress(quiet=True), None, None)
    ctx, info = prepare(walk.cfg(_set(BASES["light"], "data", {**early, "after_extraction": "drop"})), None,
                        walk.root, Progress(quiet=True), None, None)
    assert info.extraction_date == dt.date(2024, 6, 30)
    assert any("after the extraction date" in w for w in info.validation_warnings)
