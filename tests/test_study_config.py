"""Study config schema: valid configs parse; each kind of bad config gives a clear error."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from impact.errors import ConfigError
from impact.study.config import load_config, parse_config

STUDIES = Path(__file__).resolve().parents[1] / "studies"

BASE = {
    "study": {"name": "t", "title": "T", "question": "Q?"},
    "data": {"synthetic": {"scenario": "default", "persons": 5000, "seed": 3}},
    "unit": {"kind": "service_spell", "service_types": ["training"]},
    "treatment": {"design": "dynamic", "service_type": "training"},
    "comparison": {"kind": "not_yet_treated"},
    "estimators": {"matching": {"k": 5}},
    "report": {"language": "fi"},
    "disclosure": {"min_cell": 10},
}


def cfg(**patch):
    raw = copy.deepcopy(BASE)
    for dotted, value in patch.items():
        keys = dotted.split("__")
        node = raw
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        if value is DELETE:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    return raw


DELETE = object()


def test_valid_config_parses_with_defaults():
    c = parse_config(cfg())
    assert c.study.name == "t"
    assert c.data.synthetic.persons == 5000
    assert c.disclosure.min_cell == 10 and c.report.language == "fi"
    assert c.outcomes.horizons == (3, 6, 12)
    assert c.estimator("matching").k == 5 and c.estimator("matching").method == "propensity"  # the class's default
    assert c.analyses == ("followup", "matching")
    assert len(c.hash) == 64
    # the hash ignores key order
    raw = cfg()
    raw2 = dict(reversed(list(raw.items())))
    assert parse_config(raw2).hash == c.hash


@pytest.mark.parametrize(
    "patch, must_contain",
    [
        # 1 unknown top-level section, with a suggestion
        ({"reprot": {}}, ["reprot", "did you mean 'report'"]),
        # 2 unknown key inside a section, with a suggestion and the dotted path (also to a key that moved)
        ({"disclosure__min_cel": 5}, ["disclosure.min_cel", "did you mean 'min_cell'"]),
        ({"report__min_cel": 5}, ["report.min_cel", "did you mean 'min_cell'", "[disclosure]"]),
        # 3 unknown estimator option
        ({"estimators__matching__kk": 5}, ["estimators.matching.kk", "did you mean 'k'"]),
        # 4 value not in the allowed set (with suggestion)
        ({"report__language": "sv"}, ["report.language", "'sv'", "en, fi"]),
        # 5 wrong type
        ({"disclosure__min_cell": "ten"}, ["disclosure.min_cell", "'ten'", "an integer"]),
        # 6 out of range
        ({"outcomes__horizons": [3, 36]}, ["outcomes.horizons[1]", "36", "between 1 and 24"]),
        # 7 missing required key
        ({"study__question": DELETE}, ["study.question", "missing"]),
        # 8 both data sources
        ({"data__registers": "x/"}, ["data.registers", "data.synthetic", "both"]),
        # 9 unknown service type in a list, with suggestion
        ({"unit__service_types": ["trainign"]}, ["unit.service_types[0]", "'trainign'", "did you mean 'training'"]),
        # 10 design and comparison do not fit
        ({"comparison__kind": "donors"}, ["comparison.kind", "'donors'", "not_yet_treated"]),
        # 11 design without its estimator
        ({"estimators": {}}, ["treatment.design", "[estimators.matching]"]),
        # 12 bad date
        ({"population__start_from": "2020-13-01"}, ["population.start_from", "2020-13-01", "YYYY-MM-DD"]),
        # 13 inverted range
        ({"population__age_min": 50, "population__age_max": 30}, ["population.age_max", "30", "50"]),
        # 14 synthetic control without its area
        ({"treatment": {"design": "synthetic_control"}, "comparison": {"kind": "donors"},
          "estimators": {"synth": {}}}, ["treatment.area", "policy_month"]),
        # 15 overlapping sectors
        ({"treatment": {"design": "sector_contrast", "service_type": "pay_subsidy", "employer_sectors": [4, 5]},
          "comparison": {"kind": "other_sector", "employer_sectors": [2, 5]}},
         ["comparison.employer_sectors", "overlaps", "[5]"]),
        # 16 duplicates in a list
        ({"report__formats": ["html", "html"]}, ["report.formats", "without duplicates"]),
        # 17 bad study name (it becomes a folder name)
        ({"study__name": "../evil"}, ["study.name", "'../evil'"]),
        # 18 bad employment definition passed to the outcomes stage
        ({"outcomes__employment": {"allocation": "by_month"}}, ["outcomes.employment", "allocation", "by_month", "pay_period"]),
        # 19 boolean where an integer is expected
        ({"estimators__matching__k": True}, ["estimators.matching.k", "True", "an integer"]),
        # 20 section that is not a table
        ({"population": 5}, ["population", "must be a table"]),
    ],
)
def test_config_errors_name_key_value_and_allowed(patch, must_contain):
    raw = copy.deepcopy(BASE)
    for k, v in patch.items():
        if "__" in k:
            raw = cfg(**{kk: vv for kk, vv in patch.items() if "__" in kk})
            break
    for k, v in patch.items():
        if "__" not in k:
            raw[k] = v
    with pytest.raises(ConfigError) as e:
        parse_config(raw)
    msg = str(e.value)
    for s in must_contain:
        assert s in msg, f"{s!r} not in {msg!r}"


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[study\nname = 1\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(bad)


def test_committed_studies_are_valid():
    paths = sorted(STUDIES.glob("*.toml"))
    assert {p.stem for p in paths} >= {"placement_followup", "training_effect", "pay_subsidy_effect", "area_pilot"}
    for p in paths:
        c = load_config(p)
        assert c.study.name == p.stem


def test_backend_and_its_settings_in_the_data_section():
    c = parse_config(cfg())
    assert c.data.backend == "duckdb" and c.data.settings() == {}
    c = parse_config(cfg(data__backend="spark", data__pyspark={"master": "local[2]", "conf": {"spark.ui.enabled": "false"}}))
    assert c.data.backend == "pyspark"
    assert c.data.settings() == {"master": "local[2]", "conf": {"spark.ui.enabled": "false"}}


@pytest.mark.parametrize("patch, must_contain", [
    ({"data__backend": "oracle"}, ["data.backend", "oracle", "duckdb, pyspark, snowflake"]),
    ({"data__backend": "pyspark", "data__pyspark": {"mastr": "local[2]"}}, ["[data.pyspark]", "mastr", "master"]),
    ({"data__snowflake": {"warehouse": "W"}}, ["[data.snowflake]", "data.backend is 'duckdb'"]),
    ({"data__backend": "duckdb", "data__duckdb": {"threads": 2, "memory": "4GB"}}, ["[data.duckdb]", "memory",
                                                                                   "memory_limit"]),
])
def test_backend_config_errors_name_the_key(patch, must_contain):
    with pytest.raises(ConfigError) as e:
        parse_config(cfg(**patch))
    for s in must_contain:
        assert s in str(e.value), (s, str(e.value))


def test_outcomes_command_takes_the_backend_from_the_study(tmp_path, capsys, monkeypatch):
    """`impact outcomes STUDY.toml` without --backend uses the study's data.backend (and its
    settings); the missing warehouse credentials are named, nothing is run or written."""
    import tomllib  # noqa: F401

    from impact.cli import main

    for k in ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD"):
        monkeypatch.delenv(k, raising=False)
    regs = tmp_path / "regs"
    regs.mkdir()
    study = tmp_path / "s.toml"
    study.write_text('[study]\nname = "s"\ntitle = "T"\nquestion = "Q?"\n'
                     f'[data]\nregisters = "{regs}"\nbackend = "snowflake"\n[data.snowflake]\nwarehouse = "W"\n'
                     '[unit]\nkind = "service_spell"\nservice_types = ["training"]\n')
    with pytest.raises(SystemExit) as e:
        main(["outcomes", str(study), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "snowflake" in err.lower() and "SNOWFLAKE_ACCOUNT" in err and "Traceback" not in err
    assert not (tmp_path / "o" / "service_outcomes.parquet").exists()
