"""Unit outcomes (service and job-seeking spells) on a tiny register, answers worked out by hand."""

from __future__ import annotations

import ibis
import pytest

from impact.outcomes import OutcomeConfig, compute_outcomes
from tests.reference_outcomes import D, person, report, service, spell, tables

EXTRACTION = D(2021, 12, 31)  # last complete month: December 2021


def monthly(pid: int, months: list[tuple[int, int]], amount: float, **kw) -> list[dict]:
    out = []
    for y, m in months:
        start = D(y, m, 1)
        end = D(y + (m == 12), m % 12 + 1, 1) - (D(2000, 1, 2) - D(2000, 1, 1))
        out.append(report(pid, end, start, end, amount, **kw))
    return out


@pytest.fixture(scope="module")
def result():
    persons = [person(1), person(2), person(3, sex="M")]  # 1 and 2: same segment (F, basic, EA01, born 1985)
    spells = [spell(1, D(2020, 1, 10), D(2020, 5, 31), spell_id=101),
              spell(1, D(2020, 9, 10), None, spell_id=102),
              spell(2, D(2021, 1, 4), D(2022, 2, 1), spell_id=201),  # ends after the extraction date
              spell(3, D(2020, 1, 1), D(2020, 2, 1), spell_id=301)]
    services = [service(1, D(2020, 2, 1), D(2020, 4, 15), service_id=11, cost_eur=3000.0),
                service(2, D(2021, 9, 1), D(2021, 11, 20), service_id=21, cost_eur=1000.0),
                service(2, D(2021, 10, 1), None, service_id=22)]  # ongoing
    reports = (monthly(1, [(2020, 6), (2020, 7), (2020, 8)], 1000.0)
               + monthly(3, [(2020, 6)], 5000.0)
               + [report(99, D(2020, 6, 30), D(2020, 6, 1), D(2020, 6, 30), 700.0)])  # no spells
    con = ibis.duckdb.connect()
    return compute_outcomes(con, tables(persons, spells, services, reports), OutcomeConfig(extraction_date=EXTRACTION))


def row(df, key, value) -> dict:
    rows = df.filter(df[key] == value).to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_service_placement_and_time_to_employment(result):
    s = row(result.service_outcomes, "service_id", 11)  # ends April 2020 = month 0; work June-August
    assert (s["placed_1m"], s["placed_3m"], s["placed_6m"], s["placed_12m"]) == (False, True, False, False)
    assert s["employed_3_of_6m"] is True and s["employed_6_of_12m"] is False
    assert s["months_to_employment"] == 2 and s["censored"] is False
    assert s["days_to_employment"] == (D(2020, 6, 1) - D(2020, 4, 15)).days == 47
    assert s["earnings_1_12m"] == pytest.approx(3000 / 12)
    assert s["earnings_13_24m"] is None  # months May 2021 - April 2022 pass the data's end


def test_relative_earnings_against_the_segment(result):
    s = row(result.service_outcomes, "service_id", 11)
    # segment F/basic/EA01/age 30-39: persons 1 and 2; their mean in Jun-Aug 2020 is 500 a month
    assert s["baseline_1_12m"] == pytest.approx(3 * 500 / 12)
    assert s["rel_earnings_1_12m"] == pytest.approx(2.0)


def test_return_to_jobseeking(result):
    s = row(result.service_outcomes, "service_id", 11)  # first work June 2020; new spell September 2020
    assert (s["returned_3m"], s["returned_6m"], s["returned_12m"]) == (True, True, True)


def test_censoring_at_the_data_end(result):
    s = row(result.service_outcomes, "service_id", 21)  # ends November 2021; data end December 2021
    assert s["placed_1m"] is False and s["placed_3m"] is None and s["employed_3_of_6m"] is None
    assert s["censored"] is True and s["months_to_employment"] == 1 and s["days_to_employment"] is None
    assert s["returned_3m"] is None and s["earnings_1_12m"] is None and s["rel_earnings_1_12m"] is None


def test_jobseeking_spell_outcomes_from_start_and_end(result):
    sp = row(result.spell_outcomes, "spell_id", 101)  # January - May 2020
    assert sp["months_to_employment_from_start"] == 5 and sp["censored_from_start"] is False
    assert sp["days_to_employment_from_start"] == (D(2020, 6, 1) - D(2020, 1, 10)).days
    assert (sp["placed_1m"], sp["placed_3m"], sp["placed_6m"]) == (True, True, False)
    assert sp["months_to_employment"] == 1
    assert sp["returned_3m"] is True  # spell 102 starts in September 2020, three months after June
    ongoing = row(result.spell_outcomes, "spell_id", 102)
    assert ongoing["placed_1m"] is None and ongoing["months_to_employment"] is None
    assert ongoing["censored_from_start"] is True
    assert ongoing["months_to_employment_from_start"] == (2021 * 12 + 11) - (2020 * 12 + 8)


def test_exclusions_are_counted(result):
    ex = dict(zip(result.exclusions["rule"], result.exclusions["rows"]))
    assert ex == {"person_without_spells": 1, "service_ongoing": 1, "spell_ends_after_extraction": 1}
    assert set(result.service_outcomes["service_id"]) == {11, 21}
    assert set(result.spell_outcomes["spell_id"]) == {101, 102, 301}


def test_first_employment_beyond_the_bounded_window():
    """Work 30 months after a service ends (past the 24-month window) and mid-month: found by
    the unbounded search, with its first work day; from the spell start as well."""
    persons = [person(1)]
    spells = [spell(1, D(2017, 1, 16), D(2017, 6, 30), spell_id=101)]
    services = [service(1, D(2017, 3, 1), D(2017, 5, 31), service_id=11)]  # end month May 2017
    # Work from 10 November 2019 (May 2017 + 30 months) to the end of January 2020.
    reports = [report(1, D(2019, 11, 30), D(2019, 11, 10), D(2019, 11, 30), 1500.0)] + \
        monthly(1, [(2019, 12), (2020, 1)], 2200.0)
    res = compute_outcomes(ibis.duckdb.connect(), tables(persons, spells, services, reports),
                           OutcomeConfig(extraction_date=EXTRACTION))
    s = row(res.service_outcomes, "service_id", 11)
    assert s["months_to_employment"] == 30 and s["censored"] is False
    assert s["days_to_employment"] == (D(2019, 11, 10) - D(2017, 5, 31)).days
    assert s["placed_12m"] is False and s["employed_6_of_12m"] is False
    sp = row(res.spell_outcomes, "spell_id", 101)  # started January 2017, ended June 2017
    assert sp["months_to_employment_from_start"] == (2019 * 12 + 10) - (2017 * 12 + 0) == 34
    assert sp["days_to_employment_from_start"] == (D(2019, 11, 10) - D(2017, 1, 16)).days
    assert sp["months_to_employment"] == (2019 * 12 + 10) - (2017 * 12 + 5) == 29


def test_baseline_of_a_segment_empty_in_some_years():
    """A segment with nobody in it in a year (an age band its persons pass through) has no
    baseline in that year's months: a window that lies in such a year, or contains one of its
    months, has none; a window right after it has one (the reference's definition, issue #24:
    the cumulative form used to lose it because the month before the window had no row)."""
    # F/basic/EA01, band 40-49: person 1 (born 1968) in 2017 only, person 2 (born 1979) from 2019;
    # nobody in 2018.
    persons = [person(1, birth_year=1968), person(2, birth_year=1979)]
    spells = [spell(1, D(2017, 1, 2), D(2017, 2, 28), spell_id=101), spell(2, D(2017, 1, 2), D(2017, 2, 28), spell_id=201)]
    services = [service(1, D(2017, 11, 1), D(2017, 12, 7), service_id=11),  # end Dec 2017
                service(1, D(2016, 12, 1), D(2017, 1, 20), service_id=12)]  # end Jan 2017
    reports = monthly(2, [(2019, m) for m in range(1, 13)], 1200.0)
    res = compute_outcomes(ibis.duckdb.connect(), tables(persons, spells, services, reports),
                           OutcomeConfig(extraction_date=EXTRACTION))
    s = row(res.service_outcomes, "service_id", 11)
    assert s["baseline_1_12m"] is None  # the months of 2018
    assert s["baseline_13_24m"] == pytest.approx(1200.0)  # 2019: person 2 alone, 1,200 a month
    assert s["earnings_13_24m"] == 0.0 and s["rel_earnings_13_24m"] == 0.0
    s = row(res.service_outcomes, "service_id", 12)  # Feb 2017 - Jan 2018 and Feb 2018 - Jan 2019
    assert s["baseline_1_12m"] is None and s["baseline_13_24m"] is None
