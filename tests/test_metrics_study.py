"""The [metrics] section of a study config and its report sections (issue #10)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from impact.errors import ConfigError
from impact.study.config import parse_config

BASE = {
    "study": {"name": "m", "title": "t", "question": "q"},
    "data": {"registers": "x"},
}


def test_metrics_section_parsed_and_optional():
    assert parse_config(dict(BASE)).metrics is None
    plain = parse_config(dict(BASE))
    assert "metrics" not in plain.to_dict()  # configs without [metrics] keep their hash
    c = parse_config({**BASE, "metrics": {"include": ["job_offers", "tax"], "tax_effects": ["design", "truth"],
                                          "offer_horizons": [6, 1], "tax_years": 2}})
    assert c.metrics.include == ("job_offers", "tax") and c.metrics.tax_effects == ("design", "truth")
    assert c.metrics.offer_horizons == (1, 6) and c.metrics.tax_years == 2
    assert parse_config({**BASE, "metrics": {}}).metrics.include[0] == "job_offers"


@pytest.mark.parametrize("metrics, match", [
    ({"include": ["job_ofers"]}, r"metrics.include\[0\] = 'job_ofers'.*did you mean 'job_offers'"),
    ({"tax_effect": "truth"}, r"unknown key 'metrics.tax_effect'.*did you mean 'tax_effects'"),
    ({"tax_effects": "guess"}, r"metrics.tax_effects\[0\] = 'guess'"),
    ({"offer_horizons": [0, 3]}, r"metrics.offer_horizons\[0\] = 0"),
    ({"tax_years": 5}, r"metrics.tax_years = 5"),
    ({"taxable_share": 1.5}, r"metrics.taxable_share = 1.5"),
])
def test_metrics_section_errors_name_the_key(metrics, match):
    with pytest.raises(ConfigError, match=match):
        parse_config({**BASE, "metrics": metrics})


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    from impact.simulate import simulate
    from impact.study.runner import run_study

    root = tmp_path_factory.mktemp("mstudy")
    simulate(scenario="default", persons=3000, seed=5, out=root / "reg")
    cfg = root / "m.toml"
    cfg.write_text("""
[study]
name = "metrics_small"
title = "Metrics"
question = "Where do job offers, searches, plans, benefits and industries lead?"
[data]
registers = "reg"
[outcomes]
horizons = [3, 6]
measures = ["placement", "cost"]
by = ["service_type"]
[metrics]
tax_effects = ["design", "truth"]
[report]
formats = ["html"]
[disclosure]
min_cell = 10
""")
    return run_study(cfg, reports_dir=root / "reports", quiet=True, cache=False)


def test_study_report_has_every_metric_section(report):
    html = (report / "report.html").read_text()
    for title in ("Job offers", "Candidate searches", "Vacancies filled", "Integration path", "Foreign-language workforce",
                  "Benefit transitions around services", "Industry of the first employer",
                  "Municipal tax revenue from the employment effect"):
        assert title in html, title
    assert "true effects of the simulation" in html  # no design: the truth is used, and said so
    tables = {p.stem for p in (report / "tables").glob("*.csv")}
    assert {"offers_by_result_code", "searches_by_search_result", "vacancies_by_employment_area", "integration_km",
            "koto_by_area", "benefit_transitions", "industry_by_service", "tax_revenue_by_service"} <= tables
    assert "offers_by_employer" not in tables  # per-employer cells never go into a report
    t = pd.read_csv(report / "tables" / "offers_by_result_code.csv", dtype={"result_code": str})
    small = t[(t["n_persons"] < 10) | t["n_persons"].isna()]
    assert small["employed_1m"].isna().all()  # disclosure control applied
    tax = pd.read_csv(report / "tables" / "tax_revenue_by_service.csv")
    ok = tax[tax["suppressed"].isna()]
    assert (ok["cum_revenue_lo"] <= ok["cum_revenue"]).all() and (ok["cum_revenue"] <= ok["cum_revenue_hi"]).all()
    assert set(tax["source"].dropna()) == {"truth"}
