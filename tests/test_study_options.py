"""The option classes behind the study config: the generated reference, keys that moved or were
removed, and keys that no analysis of the study would read (refused, never ignored)."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest

from impact.errors import ConfigError
from impact.options import option_fields
from impact.study.config import ESTIMATORS, SECTIONS, load_config, parse_config
from impact.study.docs import config_reference

ROOT = Path(__file__).resolve().parents[1]
BASE = {
    "study": {"name": "t", "title": "T", "question": "Q?"},
    "data": {"registers": "x"},
    "unit": {"kind": "service_spell", "service_types": ["training"]},
    "treatment": {"design": "dynamic", "service_type": "training"},
    "comparison": {"kind": "not_yet_treated"},
    "estimators": {"matching": {}},
}


def _cfg(**sections):
    raw = copy.deepcopy(BASE)
    for k, v in sections.items():
        if v is None:
            raw.pop(k, None)
        else:
            raw[k] = v
    return raw


def test_config_reference_is_up_to_date():
    """docs/config.md is generated from the option classes (python -m impact.study.docs > docs/config.md)."""
    assert (ROOT / "docs" / "config.md").read_text(encoding="utf-8") == config_reference()


def test_every_option_is_documented_with_its_default():
    ref = config_reference()
    for name, (cls, moved) in {**SECTIONS, **{f"estimators.{k}": v for k, v in ESTIMATORS.items()}}.items():
        for f in option_fields(cls):
            assert f"`{name}.{f.name}`" in ref, f"{name}.{f.name}"
            assert f.metadata["doc"], f"{name}.{f.name} has no description"
        for key in moved:
            assert f"`{name}.{key}`" in ref


def test_committed_studies_set_only_keys_their_analyses_read():
    """Loading applies every rule; in particular a key none of the study's analyses reads is refused."""
    for p in sorted((ROOT / "studies").glob("*.toml")):
        raw = tomllib.loads(p.read_text())
        cfg = load_config(p)
        assert cfg.analyses[0] == "followup" and len(cfg.analyses) >= 1, p.name
        for section, body in raw.items():
            if section in ("study", "data", "estimators"):
                continue
            cls = SECTIONS[section][0]
            names = {f.name for f in option_fields(cls)}
            assert set(body) <= names, (p.name, section, set(body) - names)


@pytest.mark.parametrize("section, body, must_contain", [
    ("report", {"min_cell": 10}, ["report.min_cell is no longer accepted", "[disclosure]"]),
    ("data", {"registers": "x", "outcomes_dir": "o"}, ["data.outcomes_dir", "reports/.cache"]),
    ("outcomes", {"panel_outcome": "employed"}, ["outcomes.panel_outcome", "open-market employment"]),
    ("design", {"segments": ["sex"]}, ["design.segments", "subgroup effects"]),
    ("estimators", {"matching": {"crosscheck": True}}, ["estimators.matching.crosscheck", "never used"]),
    ("estimators", {"matching": {"max_controls_per_treated": 3}}, ["max_controls_per_cell"]),
    ("estimators", {"matching": {}, "did": {"control_group": "not_yet_treated"}}, ["comparison.kind"]),
    ("estimators", {"matching": {}, "did": {"pre_months": 6}}, ["outcomes.window_months"]),
    ("estimators", {"matching": {}, "followup": {"by_horizon": True}}, ["estimators.followup.by_horizon"]),
])
def test_keys_that_moved_or_were_removed_say_so(section, body, must_contain):
    with pytest.raises(ConfigError) as e:
        parse_config(_cfg(**{section: body}))
    for s in must_contain:
        assert s in str(e.value), (s, str(e.value))


@pytest.mark.parametrize("patch, must_contain", [
    # the follow-up's services and the treatment must be the same service
    ({"unit": {"kind": "service_spell", "service_types": ["coaching"]}},
     ["unit.service_types", "'training'", "different services"]),
    # synthetic-control keys in a matching study
    ({"treatment": {"design": "dynamic", "service_type": "training", "area": "EA05"}},
     ["treatment.area", "synth", "remove the key"]),
    # a matching option when the study runs no matching (DiD only)
    ({"treatment": {"design": "did_cohorts", "service_type": "training"}, "estimators": {"did": {}},
      "comparison": {"kind": "not_yet_treated", "grace_months": 2}}, ["comparison.grace_months", "matching"]),
    ({"treatment": {"design": "did_cohorts", "service_type": "training"}, "estimators": {"did": {}},
      "design": {"exact": ["sex"]}}, ["design.exact"]),
    # follow-up options with the follow-up switched off
    ({"estimators": {"matching": {}, "followup": {"enabled": False}}, "outcomes": {"measures": ["placement"]},
      "unit": None}, ["outcomes.measures", "followup"]),
    ({"population": {"completed_only": False}}, ["population.completed_only", "no outcomes yet"]),
    ({"estimators": {"matching": {}, "followup": {"enabled": False}}}, ["unit.kind", "followup analysis"]),
    # an estimator section its design does not use
    ({"treatment": {"design": "none"}, "comparison": {"kind": "none"}, "estimators": {"matching": {}}},
     ["[estimators.matching]", "'none'"]),
    ({"estimators": {"matching": {}, "peer_groups": {}}}, ["[estimators.peer_groups]"]),
    # spell-time DiD does not read risk-set keys, and the risk-set DiD no never-treated comparison
    ({"treatment": {"design": "did_cohorts", "service_type": "training", "cohorts_from": "2020-01"},
      "estimators": {"did": {"design": "spell_time"}}}, ["treatment.cohorts_from", "'risk_set' only"]),
    ({"comparison": {"kind": "never_treated"}, "estimators": {"matching": {}, "did": {}}},
     ["comparison.kind = 'never_treated'", "'risk_set'"]),
    # job-seeking spells have no service groupings or cost
    ({"unit": {"kind": "jobseeking_spell"}, "outcomes": {"by": ["provider_id"]}, "treatment": {"design": "none"},
      "comparison": None, "estimators": None}, ["outcomes.by", "provider_id"]),
    ({"unit": {"kind": "jobseeking_spell"}, "outcomes": {"measures": ["placement", "cost"], "by": ["segment"]},
      "treatment": {"design": "none"}, "comparison": None, "estimators": None}, ["'cost'"]),
    # weaker disclosure rules than the permit's need a reason
    ({"disclosure": {"min_cell": 5}}, ["disclosure.min_cell = 5", "override_reason"]),
    ({"disclosure": {"min_payers": 3}}, ["disclosure.min_payers = 3"]),
    # window and trimming checks
    ({"outcomes": {"window_months": [3, 24]}}, ["outcomes.window_months", "before < 0 < after"]),
    ({"estimators": {"matching": {"trim": [0.9, 0.1]}}}, ["estimators.matching.trim", "low < high"]),
])
def test_keys_that_would_change_nothing_or_contradict_are_refused(patch, must_contain):
    with pytest.raises(ConfigError) as e:
        parse_config(_cfg(**patch))
    for s in must_contain:
        assert s in str(e.value), (s, str(e.value))


def test_a_reason_allows_weaker_rules_and_analyses_follow_the_config():
    c = parse_config(_cfg(disclosure={"min_cell": 5, "override_reason": "a test on 2,000 synthetic persons"}))
    assert c.disclosure.min_cell == 5 and c.disclosure.override_reason.startswith("a test")
    assert c.analyses == ("followup", "matching")
    c = parse_config(_cfg(estimators={"matching": {}, "did": {}, "followup": {"enabled": False}}, unit=None))
    assert c.analyses == ("matching", "did")
    c = parse_config(_cfg(treatment={"design": "did_cohorts", "service_type": "training"}, estimators={"did": {}},
                          metrics={}))
    assert c.analyses == ("followup", "did", "metrics")
