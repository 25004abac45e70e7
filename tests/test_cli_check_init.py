"""The command line a new user starts from: ``impact --version``, ``impact check``, ``impact init``,
and a new effect study written from the template and the config reference, run at a small size."""

from __future__ import annotations

import json
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from impact.cli import main
from impact.study.config import load_config
from impact.study.plan import study_plan
from impact.study.templates import TEMPLATES, write_template

ROOT = Path(__file__).resolve().parents[1]
STUDIES = sorted((ROOT / "studies").glob("*.toml"))


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def test_version(capsys):
    code, out, _ = _cli(["--version"], capsys)
    assert code == 0 and out.strip() == f"impact {version('impact')}"


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_check_shows_the_plan_of_every_committed_study(path, capsys, tmp_path):
    cfg = load_config(path)
    code, out, err = _cli(["check", str(path)], capsys)
    assert code == 0, err
    assert f"{path}: valid (config hash {cfg.hash[:12]})" in out
    assert "analyses   " + " -> ".join(cfg.analyses) in out
    # every resolved option is listed, defaults marked as such; the config's own values unmarked
    for k, v in cfg.raw.get("outcomes", {}).items():
        line = next(ln for ln in out.splitlines() if ln.startswith(f"  {k} = "))
        assert not line.endswith("# default")
    assert "  min_payers = 5    # default" in out
    # nothing is run or written: no register folder was generated, no report
    assert "not generated yet" in out or "present, reused" in out
    assert not (tmp_path / "reports").exists()


def test_check_counts_sizes_from_the_registers(tmp_path):
    from impact.simulate import simulate

    reg = tmp_path / "reg"
    simulate(scenario="default", persons=2000, seed=3, out=reg)
    plan = study_plan(ROOT / "studies" / "training_effect.toml", data_dir=reg)
    import polars as pl

    sv = pl.read_parquet(reg / "service_spells.parquet")
    expected = sv.filter((pl.col("service_type") == "training") & (pl.col("start_date") >= pl.date(2017, 1, 1)) &
                         (pl.col("start_date") <= pl.date(2024, 6, 30))).height
    assert plan.sizes["persons"] == 2000
    assert plan.sizes["service spells (training)"] == expected > 0
    assert f"service spells (training) {expected:,}" in plan.text()


def test_check_refuses_a_bad_config_in_one_line(tmp_path, capsys):
    p = tmp_path / "bad.toml"
    text = (ROOT / "studies" / "training_effect.toml").read_text().replace("k = 5", "k = 500")
    p.write_text(text)
    code, out, err = _cli(["check", str(p)], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "estimators.matching.k" in err and str(p) in err


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_init_writes_a_commented_config_that_passes_check(template, tmp_path, capsys):
    out = tmp_path / "studies" / "my_study.toml"
    code, msg, err = _cli(["init", "my_study", "--template", template, "--out", str(out)], capsys)
    assert code == 0, err
    text = out.read_text()
    assert text.count("\n#") >= 2 and "docs/config.md" in text  # commented, points to the reference
    cfg = load_config(out)
    assert cfg.study.name == "my_study"
    code, msg, err = _cli(["check", str(out)], capsys)
    assert code == 0 and "valid" in msg
    expected = {"effect": ("followup", "matching", "did"), "followup": ("followup",), "area": ("followup", "synth")}
    assert cfg.analyses == expected[template]
    # an existing file is not overwritten; a bad name is refused in one line
    code, _, err = _cli(["init", "my_study", "--template", template, "--out", str(out)], capsys)
    assert code == 2 and "already exists" in err
    code, _, err = _cli(["init", "my study!", "--out", str(tmp_path / "x.toml")], capsys)
    assert code == 2 and "NAME" in err and not (tmp_path / "x.toml").exists()


def test_every_template_key_is_in_the_config_reference():
    """A user with only the template and docs/config.md finds every key the template uses."""
    ref = (ROOT / "docs" / "config.md").read_text()
    for template in TEMPLATES:
        raw = tomllib.loads(_text(template))
        for sec, body in raw.items():
            for key, val in (body.items() if isinstance(body, dict) else ()):
                if isinstance(val, dict) and sec == "estimators":
                    keys = [f"{sec}.{key}.{k}" for k in val]
                else:
                    keys = [f"{sec}.{key}"]
                for k in keys:
                    assert f"`{k}`" in ref, f"{template}: {k} is not in docs/config.md"


def _text(template: str) -> str:
    from impact.study.templates import template_text

    return template_text("x", template, "studies/x.toml")


@pytest.mark.slow
def test_a_new_effect_study_from_the_template_and_the_reference_runs(tmp_path):
    """Write a new effect study as a user would: the effect template, one service type taken from the
    reference's list of allowed values, small synthetic registers; it runs and reports an effect."""
    from impact.study.runner import run_study

    ref = (ROOT / "docs" / "config.md").read_text()
    row = next(ln for ln in ref.splitlines() if ln.startswith("| `treatment.service_type`"))
    allowed = [s.strip() for s in row.split("|")[4].split(",")]
    assert "coaching" in allowed
    cfg = tmp_path / "studies" / "coaching_effect.toml"
    write_template("coaching_effect", "effect", cfg, service="coaching")
    text = cfg.read_text()
    text = re.sub(r"persons = \d+", "persons = 8000", text)
    text = text.replace('language = "en"', 'language = "en"\nformats = ["html"]')
    cfg.write_text(text)
    out = run_study(cfg, reports_dir=tmp_path / "reports", synthetic_root=tmp_path / "synthetic_data", quiet=True)
    res = json.loads((out / "results.json").read_text())
    assert res["study"] == "coaching_effect"
    analyses = {e["analysis"] for e in res["estimates"]}
    assert {"followup", "dynamic_matching", "did_overall"} <= analyses
    m = [e for e in res["estimates"] if e["analysis"] == "dynamic_matching" and e["outcome"] == "employed_h12"]
    assert len(m) == 1 and m[0]["estimate"] is not None and m[0]["ci_lower"] <= m[0]["estimate"] <= m[0]["ci_upper"]
    assert "coaching" in (out / "report.html").read_text().lower()
