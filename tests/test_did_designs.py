"""The DiD register designs: person x month panel around service entry, area x month panel."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from impact.designs.did_panels import area_month_panel, person_month_panel
from impact.errors import DesignError
from impact.months import month_index

M0 = month_index(dt.date(2020, 1, 1))


@pytest.fixture()
def tables():
    persons = pl.DataFrame({
        "person_id": [1, 2, 3, 4],
        "birth_year": [1980, 1990, 1970, 2000],
        "sex": ["F", "M", "F", "M"],
        "education": ["basic", "tertiary", "upper_secondary", "basic"],
        "language": ["fi", "other", "sv", "fi"],
        "employment_area": ["EA01", "EA01", "EA02", "EA03"],
    })
    # only months with earnings are listed (as in the outcome panel)
    panel = pl.DataFrame({
        "person_id": [1, 1, 2, 3, 3, 3],
        "month": [M0, M0 + 3, M0 + 1, M0, M0 + 1, M0 + 2],
        "employed": [True, True, False, True, True, True],
        "earnings_eur": [1000.0, 1200.0, 300.0, 2000.0, 2000.0, 2100.0],
    })
    spells = pl.DataFrame({
        "person_id": [1, 1, 2, 4],
        "service_type": ["training", "coaching", "coaching", "training"],
        "start_date": [dt.date(2020, 3, 5), dt.date(2020, 2, 1), dt.date(2021, 5, 1), dt.date(2020, 1, 10)],
    })
    return persons, panel, spells


def test_person_month_panel(tables):
    persons, panel, spells = tables
    out = person_month_panel(panel, spells, persons, months=(M0, M0 + 3))
    # person 4 enters in the first month (no pre-period) and is left out; 3 persons x 4 months remain
    assert out.height == 12 and set(out["person_id"]) == {1, 2, 3}
    coh = dict(out.group_by("person_id").agg(pl.col("cohort").first()).iter_rows())
    assert coh == {1: M0 + 1, 2: 0, 3: 0}  # person 1: first entry Feb 2020; person 2 enters after the window
    p1 = out.filter(pl.col("person_id") == 1).sort("month")
    assert p1["employed"].to_list() == [1, 0, 0, 1]
    assert p1["earnings"].to_list() == [1000.0, 0.0, 0.0, 1200.0]
    assert p1["female"][0] == 1 and p1["educ_basic"][0] == 1 and p1["age"][0] == 2020 - 1980
    tr = person_month_panel(panel, spells, persons, service_type="training", months=(M0, M0 + 3))
    assert dict(tr.group_by("person_id").agg(pl.col("cohort").first()).iter_rows())[1] == M0 + 2
    with pytest.raises(DesignError, match="no service spells of type 'startup_grant'"):
        person_month_panel(panel, spells, persons, service_type="startup_grant")
    with pytest.raises(DesignError, match=r"lacks columns \['employed'\]"):
        person_month_panel(panel.drop("employed"), spells, persons)


def test_area_month_panel(tables):
    persons, panel, _ = tables
    reforms = pl.DataFrame({"area": ["EA02"], "start_month": [dt.date(2020, 3, 1)]})
    out = area_month_panel(panel, persons, reforms, months=(M0, M0 + 3))
    assert out.height == 12
    ea1 = out.filter(pl.col("area") == "EA01").sort("month")
    assert ea1["persons"].to_list() == [2] * 4
    assert ea1["employment_rate"].to_list() == [0.5, 0.0, 0.0, 0.5]
    assert ea1["mean_earnings"].to_list() == [500.0, 150.0, 0.0, 600.0]
    assert set(out.filter(pl.col("area") == "EA02")["cohort"]) == {M0 + 2}
    assert set(out.filter(pl.col("area") != "EA02")["cohort"]) == {0}
    with pytest.raises(DesignError, match=r"reform areas not found.*EA99"):
        area_month_panel(panel, persons, pl.DataFrame({"area": ["EA99"], "start_month": [M0]}))


def test_risk_set_comparison_timing_and_episode_elapsed():
    """comparison_at: leavers during the entry month are comparison persons only with the start-of-month
    rule; elapsed='episode': a spell that starts right after a service counts from the episode start."""
    from impact.designs.did_panels import risk_set_panel

    g = month_index(dt.date(2021, 6, 1))
    persons = pl.DataFrame({"person_id": [1, 2, 3, 4], "birth_year": 1980, "sex": "F", "education": "basic",
                            "language": "fi", "employment_area": "EA01"})
    js = pl.DataFrame({
        "person_id": [1, 2, 3, 4, 4], "spell_id": [10, 20, 30, 40, 41],
        "start_date": [dt.date(2021, 1, 4), dt.date(2021, 1, 4), dt.date(2021, 1, 4), dt.date(2020, 11, 2),
                       dt.date(2021, 4, 1)],
        # A enters training on 10 June; B finds work on 15 June; C and D are job seeking through June
        "end_date": [dt.date(2021, 6, 9), dt.date(2021, 6, 14), None, dt.date(2021, 1, 31), None],
        "segment": "01"}, schema_overrides={"end_date": pl.Date})
    sv = pl.DataFrame({"person_id": [1, 4], "service_id": [1, 2], "service_type": ["training", "coaching"],
                       "start_date": [dt.date(2021, 6, 10), dt.date(2021, 2, 1)],
                       "end_date": [dt.date(2021, 9, 30), dt.date(2021, 3, 31)]})
    panel = pl.DataFrame({"person_id": [1, 2, 3, 4], "month": g - 20, "employed": True, "earnings_eur": 2000.0})
    panel = pl.concat([panel, panel.with_columns(month=pl.lit(g + 3))])
    kw = dict(service_type="training", cohorts=(g, g), pre=2, post=2)
    units = lambda d: d.select("person_id", "cohort", "elapsed_months").unique().sort("person_id")  # noqa: E731
    end = units(risk_set_panel(panel, sv, js, persons, **kw))
    assert end["person_id"].to_list() == [1, 3, 4]  # B left during June
    start = units(risk_set_panel(panel, sv, js, persons, comparison_at="entry_month_start", **kw))
    assert start["person_id"].to_list() == [1, 2, 3, 4]
    assert dict(end.select("person_id", "elapsed_months").iter_rows())[4] == 2  # the spell from April 2021
    ep = units(risk_set_panel(panel, sv, js, persons, elapsed="episode", **kw))
    assert dict(ep.select("person_id", "elapsed_months").iter_rows()) == {1: 5, 3: 5, 4: 7}  # from November 2020
    with pytest.raises(DesignError, match="comparison_at must be"):
        risk_set_panel(panel, sv, js, persons, comparison_at="later", **kw)
