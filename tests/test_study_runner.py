"""`impact run`: a study end to end on a small synthetic extract; atomic writing; determinism."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from impact.report.disclosure import IDENTIFIER_COLUMNS
from impact.study import runner

STUDY = """
[study]
name = "{name}"
title = "Follow-up test"
question = "Where are participants after their service?"

[data]
registers = "{registers}"

[population]
start_from = 2017-01-01
start_to = 2024-12-31

[unit]
kind = "service_spell"

[outcomes]
horizons = [3, 6, 12]
by = ["service_type", "employment_area"]
measures = ["placement", "time_to_employment", "earnings", "relative_earnings", "cost"]

[report]
language = "{lang}"
formats = {formats}

[disclosure]
min_cell = 10
"""


@pytest.fixture(scope="module")
def registers(tmp_path_factory) -> Path:
    from impact.simulate import simulate

    out = tmp_path_factory.mktemp("reg") / "sim"
    simulate(scenario="default", persons=3000, seed=7, out=out)
    return out


def _config(tmp: Path, registers: Path, name: str = "t_followup", lang: str = "en", formats=("html",)) -> Path:
    p = tmp / f"{name}.toml"
    p.write_text(STUDY.format(name=name, registers=registers, lang=lang, formats=json.dumps(list(formats))))
    return p


def test_run_writes_a_complete_disclosure_controlled_report(tmp_path, registers):
    cfg = _config(tmp_path, registers, formats=("html", "pdf"))
    out = runner.run_study(cfg, reports_dir=tmp_path / "reports", quiet=True)
    assert out == tmp_path / "reports" / "t_followup"
    for f in ("report.html", "report.pdf", "results.json", "manifest.json", "figures/placement_by_month.png",
              "figures/placement_by_month.svg", "figures/kaplan_meier.png", "tables/followup_by_service_type.csv"):
        assert (out / f).is_file(), f
    assert (out / "report.pdf").read_bytes()[:5] == b"%PDF-"
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["study"]["name"] == "t_followup" and len(res["config_hash"]) == 64
    est = pd.DataFrame(res["estimates"])
    assert {"estimate", "std_error", "ci_lower", "ci_upper", "n_treated"} <= set(est.columns)
    tot = est[(est["group"] == "Total") & (est["outcome"] == "placed_6m")].iloc[0]
    assert 0 < tot["estimate"] < 1 and tot["ci_lower"] < tot["estimate"] < tot["ci_upper"]
    # the published share equals the share computed directly from the outcome stage
    flow = res["population"]
    assert flow[-1]["units"] >= tot["n_treated"]  # the population's size is published (known from the tables)
    man = json.loads((out / "manifest.json").read_text())
    assert "persons.parquet" in man["input_hashes"] and man["packages"]["polars"]
    assert {"outcomes", "report", "population"} <= set(man["stage_seconds"])
    # disclosure: no identifiers, no published cell under the minimum
    for csv in (out / "tables").glob("*.csv"):
        df = pd.read_csv(csv)
        assert not (set(map(str.lower, df.columns)) & IDENTIFIER_COLUMNS), csv.name
        for col in ("n_persons", "n_at_risk", "persons"):
            if col in df:
                v = df[col].dropna().to_numpy()
                assert (v[v > 0] >= 10).all(), (csv.name, col)
    html = (out / "report.html").read_text()
    assert "Read before using these results" in html and "data:image/png;base64," in html
    assert "Population and exclusions" in html and "Methods appendix" in html
    assert not list((tmp_path / "reports").glob(".*tmp*")) and not list((tmp_path / "reports/.cache").glob(".*tmp*"))


def test_finnish_report(tmp_path, registers):
    cfg = _config(tmp_path, registers, name="t_fi", lang="fi")
    out = runner.run_study(cfg, reports_dir=tmp_path / "reports", quiet=True)
    html = (out / "report.html").read_text()
    assert "Sijoittumisseuranta" in html and "Menetelmäliite" in html and 'lang="fi"' in html


def test_same_inputs_same_numbers_and_failed_run_keeps_previous(tmp_path, registers, monkeypatch):
    cfg = _config(tmp_path, registers, name="t_atomic")
    reports = tmp_path / "reports"
    out = runner.run_study(cfg, reports_dir=reports, quiet=True)
    first = (out / "results.json").read_bytes()
    first_manifest = (out / "manifest.json").read_bytes()
    assert list((reports / ".cache").glob("outcomes-*/person_month.parquet"))
    out2 = runner.run_study(cfg, reports_dir=reports, quiet=True)  # outcome tables now come from the cache
    assert (out2 / "results.json").read_bytes() == first  # same inputs, same numbers (byte for byte)
    out3 = runner.run_study(cfg, reports_dir=reports, quiet=True, cache=False)  # and without the cache
    assert (out3 / "results.json").read_bytes() == first
    for csv in (out / "tables").glob("*.csv"):
        assert csv.read_bytes() == (out2 / "tables" / csv.name).read_bytes()
    second_manifest = (out2 / "manifest.json").read_bytes()
    assert json.loads(second_manifest)["input_hashes"] == json.loads(first_manifest)["input_hashes"]

    # a run that fails midway (after the document stage drew its figures into the staging folder)
    def boom(out, folder, *args):
        assert any(folder.rglob("*.png"))  # the failing run had already written figures
        raise RuntimeError("stage failed on purpose")

    monkeypatch.setattr(runner, "write_outputs", boom)
    with pytest.raises(RuntimeError, match="on purpose"):
        runner.run_study(cfg, reports_dir=reports, quiet=True)
    assert (out / "manifest.json").read_bytes() == second_manifest  # the previous report is intact
    assert (out / "results.json").read_bytes() == first
    # no half report, no temp folder left (.cache holds the outcome tables keyed by the input hashes,
    # .ledger what was published)
    assert sorted(p.name for p in reports.iterdir()) == [".cache", ".ledger", "t_atomic"]


def test_bad_config_gives_config_error(tmp_path, registers):
    from impact.errors import ConfigError

    p = tmp_path / "bad.toml"
    p.write_text(STUDY.format(name="bad", registers=registers, lang="en", formats='["html"]').replace(
        "min_cell = 10", "min_cels = 10"))
    with pytest.raises(ConfigError, match="disclosure.min_cels.*did you mean 'min_cell'"):
        runner.run_study(p, reports_dir=tmp_path / "reports", quiet=True)
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())
