"""The issue #10 metrics on a tiny hand-built register extract, every value worked out by hand.

Three persons, 2021, extraction 2021-12-31 (last complete month December 2021):

* person 1 (EA01, Finnish): in work April (2,000 EUR, payer 100) and September (payer 100 2,000 EUR
  and payer 300 600 EUR); job offer 10 March (result 01, vacancy V1 of employer 100); training
  3-31 May; labour market subsidy in April, earnings-related allowance 1,000 EUR in November;
* person 2 (EA01, foreign-language): never in work; offer 20 August in candidate search S2
  (result 02, vacancy V2); coaching February-April; integration plan 1 June; basic allowance
  16 October - 15 November (1,240 EUR over 31 days);
* person 3 (EA02, foreign-language): 300 EUR in February (under the 500 EUR floor), in work
  April (800 EUR) and August (payer 400, 900 EUR; a cancelled 5,000 EUR report of payer 100 that
  month is ignored); offer 5 January in search S2 (result 05); work trial in June; integration
  plan 20 January; in December labour market subsidy and basic allowance of 500 EUR each (a tie).
"""

from __future__ import annotations

import datetime as dt

import ibis
import polars as pl
import pytest

from impact.outcomes import OutcomeConfig, compute_outcomes
from impact.outcomes.metrics import MetricsConfig
from impact.outcomes.tax import load_tax_rates, tax_base, tax_revenue
from tests.reference_outcomes import frame, person, report, service, spell

D = dt.date
M = lambda y, m: y * 12 + m - 1  # noqa: E731
LAST = M(2021, 12)


def _month(y, m, amount, payer, pid, **kw):
    end = (D(y, m + 1, 1) if m < 12 else D(y + 1, 1, 1)) - dt.timedelta(days=1)
    return report(pid, end, D(y, m, 1), end, amount, payer=payer, **kw)


def registers() -> dict:
    persons = [person(1, employment_area="EA01"), person(2, language="other", employment_area="EA01"),
               person(3, language="other", employment_area="EA02", municipality="049")]
    spells = [spell(1, D(2021, 1, 1), D(2021, 3, 31), spell_id=11), spell(2, D(2021, 1, 1), None, spell_id=21),
              spell(3, D(2021, 1, 1), D(2021, 3, 31), spell_id=31)]
    services = [service(1, D(2021, 5, 3), D(2021, 5, 31), service_id=101, service_type="training"),
                service(2, D(2021, 2, 1), D(2021, 4, 30), service_id=201, service_type="coaching"),
                service(3, D(2021, 6, 1), D(2021, 6, 30), service_id=301, service_type="work_trial")]
    reports = [_month(2021, 4, 2000.0, 100, 1), _month(2021, 9, 2000.0, 100, 1), _month(2021, 9, 600.0, 300, 1),
               _month(2021, 2, 300.0, 500, 3), _month(2021, 4, 800.0, 500, 3),
               _month(2021, 8, 900.0, 400, 3, ref="X1"), _month(2021, 8, 900.0, 400, 3, ref="X1", version=2,
                                                                action="replace"),
               _month(2021, 8, 5000.0, 100, 3, ref="X2"), _month(2021, 8, 5000.0, 100, 3, ref="X2", version=2,
                                                                 action="cancel")]
    offers = [dict(offer_id=1, person_id=1, offer_date=D(2021, 3, 10), vacancy_id=1, employer_id=100,
                   search_id=None, result_code="01"),
              dict(offer_id=2, person_id=2, offer_date=D(2021, 8, 20), vacancy_id=2, employer_id=200,
                   search_id=2, result_code="02"),
              dict(offer_id=3, person_id=3, offer_date=D(2021, 1, 5), vacancy_id=2, employer_id=200,
                   search_id=2, result_code="05")]
    searches = [dict(search_id=2, vacancy_id=2, employer_id=200, search_date=D(2021, 1, 2), persons_proposed=2,
                     result_code="03")]
    vacancies = [dict(vacancy_id=1, employer_id=100, open_date=D(2021, 3, 1), close_date=D(2021, 3, 31), filled=True,
                      employment_area="EA01"),
                 dict(vacancy_id=2, employer_id=200, open_date=D(2021, 1, 1), close_date=D(2021, 9, 30), filled=False,
                      employment_area="EA01"),
                 dict(vacancy_id=3, employer_id=200, open_date=D(2021, 11, 1), close_date=None, filled=None,
                      employment_area="EA02")]
    plans = [dict(plan_id=1, person_id=3, plan_date=D(2020, 12, 1), plan_type="initial_assessment"),
             dict(plan_id=2, person_id=3, plan_date=D(2021, 1, 20), plan_type="integration_plan"),
             dict(plan_id=3, person_id=2, plan_date=D(2021, 6, 1), plan_type="integration_plan")]
    payers = [dict(payer_id=100, industry="C"), dict(payer_id=200, industry="G"), dict(payer_id=300, industry="N")]
    benefits = [dict(person_id=1, benefit_type="labour_market_subsidy", payment_date=D(2021, 5, 5),
                     period_start=D(2021, 4, 1), period_end=D(2021, 4, 30), amount_eur=700.0),
                dict(person_id=1, benefit_type="earnings_related_allowance", payment_date=D(2021, 12, 5),
                     period_start=D(2021, 11, 1), period_end=D(2021, 11, 30), amount_eur=1000.0),
                dict(person_id=1, benefit_type="basic_allowance", payment_date=D(2021, 11, 20),
                     period_start=D(2021, 10, 16), period_end=D(2021, 11, 15), amount_eur=1240.0),
                dict(person_id=2, benefit_type="basic_allowance", payment_date=D(2021, 11, 20),
                     period_start=D(2021, 10, 16), period_end=D(2021, 11, 15), amount_eur=1240.0),
                dict(person_id=3, benefit_type="other", payment_date=D(2021, 1, 5),
                     period_start=D(2020, 12, 1), period_end=D(2020, 12, 31), amount_eur=100.0),
                dict(person_id=3, benefit_type="labour_market_subsidy", payment_date=D(2021, 12, 20),
                     period_start=D(2021, 12, 1), period_end=D(2021, 12, 31), amount_eur=500.0),
                dict(person_id=3, benefit_type="basic_allowance", payment_date=D(2021, 12, 20),
                     period_start=D(2021, 12, 1), period_end=D(2021, 12, 31), amount_eur=500.0)]
    f = {"persons": persons, "jobseeking_spells": spells, "service_spells": services, "earnings_reports": reports,
         "job_offers": offers, "candidate_searches": searches, "vacancies": vacancies, "integration_plans": plans,
         "payers": payers, "benefit_reports": benefits}
    return {k: frame(k, v) for k, v in f.items()}


@pytest.fixture(scope="module")
def res():
    frames = registers()
    con = ibis.duckdb.connect()
    tables = {k: ibis.memtable(v) for k, v in frames.items()}
    cfg = OutcomeConfig(extraction_date=D(2021, 12, 31))
    out = compute_outcomes(con, tables, cfg, metrics=MetricsConfig(koto_months=(M(2021, 4),), disclosure_min=2))
    assert out.last_month == LAST
    return out


def _rows(df: pl.DataFrame, key: str) -> dict:
    return {r[key]: r for r in df.iter_rows(named=True)}


def test_offer_units(res):
    u = _rows(res.extra["offer_units"], "offer_id")
    assert (u[1]["employed_1m"], u[1]["employed_3m"], u[1]["employed_6m"]) == (True, False, True)
    assert (u[2]["employed_1m"], u[2]["employed_3m"], u[2]["employed_6m"]) == (False, False, None)  # Feb 2022
    assert (u[3]["employed_1m"], u[3]["employed_3m"], u[3]["employed_6m"]) == (False, True, False)  # 300 < floor
    assert u[1]["employer_industry"] == "C" and u[2]["employer_industry"] == "G"
    assert u[3]["employment_area"] == "EA02" and u[2]["search_id"] == 2 and u[1]["search_id"] is None


def test_offer_group_tables(res):
    t = _rows(res.extra["offers_by_result_code"], "result_code")
    tot = t["Total"]
    assert (tot["n"], tot["n_persons"]) == (3, 3)
    assert (tot["n_obs_1m"], tot["n_employed_1m"]) == (3, 1) and tot["employed_1m"] == pytest.approx(1 / 3)
    assert (tot["n_obs_3m"], tot["n_employed_3m"]) == (3, 1)
    assert (tot["n_obs_6m"], tot["n_employed_6m"], tot["employed_6m"]) == (2, 1, 0.5)
    assert t["01"]["employed_1m"] == 1.0 and t["01"]["suppress"]  # one person < 2
    area = _rows(res.extra["offers_by_employment_area"], "employment_area")
    assert area["EA01"]["n"] == 2 and area["EA01"]["employed_6m"] == 1.0 and not area["EA01"]["suppress"]


def test_candidate_searches_and_vacancies(res):
    s = _rows(res.extra["searches_by_search_result"], "search_result")["03"]
    assert (s["n"], s["n_employed_1m"], s["n_employed_3m"], s["n_obs_6m"], s["n_employed_6m"]) == (2, 0, 1, 1, 0)
    f = _rows(res.extra["searches_filled_by_area"], "employment_area")["Total"]
    assert (f["n_searches"], f["n_filled_by_proposed"], f["share_filled_by_proposed"]) == (1, 0, 0.0)
    v = _rows(res.extra["vacancies_by_employment_area"], "employment_area")
    assert (v["Total"]["n_vacancies"], v["Total"]["n_filled"], v["Total"]["share_filled"]) == (2, 1, 0.5)
    assert "EA02" not in v  # vacancy 3 is still open
    y = _rows(res.extra["vacancies_by_year_closed"], "year_closed")
    assert y["2021"]["n_vacancies"] == 2


def test_integration_time_to_work(res):
    u = _rows(res.extra["integration_units"], "person_id")
    assert set(u) == {2, 3}  # the initial assessment of person 3 is not the plan
    assert (u[3]["plan_month"], u[3]["months_to_employment"], u[3]["censored"]) == (M(2021, 1), 3, False)
    assert (u[2]["months_to_employment"], u[2]["censored"]) == (LAST - M(2021, 6), True)
    med = _rows(res.extra["integration_median_by_area"], "employment_area")
    assert med["Total"]["n"] == 2 and med["Total"]["events"] == 1 and med["Total"]["median"] == 3


def test_koto_rates(res):
    k = _rows(res.extra["koto_by_area"], "employment_area")
    # April 2021: 1 and 3 employed, 2 unemployed (spell, no work); 2 and 3 foreign-language
    assert (k["Total"]["persons"], k["Total"]["employed"], k["Total"]["unemployed"]) == (3, 2, 1)
    assert (k["Total"]["fl_persons"], k["Total"]["fl_employed"], k["Total"]["fl_unemployed"]) == (2, 1, 1)
    assert k["Total"]["employment_rate"] == pytest.approx(2 / 3)
    assert k["Total"]["fl_share_of_workforce"] == pytest.approx(2 / 3)
    assert k["EA01"]["fl_share_of_workforce"] == 0.5 and k["EA01"]["unemployment_rate"] == 0.5
    assert k["EA02"]["fl_employment_rate"] == 1.0 and k["EA02"]["fl_unemployment_rate"] == 0.0


def test_benefit_transitions(res):
    u = _rows(res.extra["benefit_units"], "service_id")
    # person 1: April subsidy; November: allowance 1,000 beats basic 1,240 * 15 / 31 = 600
    assert (u[101]["benefit_before"], u[101]["benefit_6m"], u[101]["benefit_12m"]) == \
        ("labour_market_subsidy", "earnings_related_allowance", None)
    # person 2: nothing in January (data start December 2020); October: basic 1,240 * 16 / 31
    assert (u[201]["benefit_before"], u[201]["benefit_6m"]) == ("none", "basic_allowance")
    # person 3: May none; December tie 500 / 500 -> basic allowance by the tie-break order
    assert (u[301]["benefit_before"], u[301]["benefit_6m"]) == ("none", "basic_allowance")
    t = res.extra["benefit_transitions"].filter((pl.col("service_type") == "Total") & (pl.col("horizon") == 6))
    r = {(x["before"], x["after"]): x for x in t.iter_rows(named=True)}
    assert r[("none", "basic_allowance")]["n"] == 2 and r[("none", "basic_allowance")]["share"] == 1.0
    assert r[("labour_market_subsidy", "earnings_related_allowance")]["n"] == 1
    assert res.extra["benefit_transitions"].filter(pl.col("horizon") == 12).height == 0


def test_first_employer_industry(res):
    u = _rows(res.extra["industry_units"], "service_id")
    assert set(u) == {101, 301}  # coaching of person 2: never employed
    assert (u[101]["first_month"], u[101]["first_payer_industry"]) == (M(2021, 9), "C")  # 2,000 > 600
    # August: the cancelled 5,000 of payer 100 is ignored; payer 400 is not in payers
    assert (u[301]["first_month"], u[301]["first_payer_industry"]) == (M(2021, 8), "(unknown)")
    t = res.extra["industry_by_service"].filter(pl.col("service_type") == "Total")
    assert dict(zip(t["industry"], t["share_of_placements"])) == {"(unknown)": 0.5, "C": 0.5}
    tot = _rows(t, "industry")["C"]
    assert tot["n_completed"] == 3 and tot["share_of_completed"] == pytest.approx(1 / 3)


def test_tax_base_and_revenue_by_hand(tmp_path):
    rates = tmp_path / "rates.csv"
    rates.write_text("municipality,year,rate_pct\n091,2022,20.0\n091,2023,7.0\n091,2024,7.5\n"
                     "049,2022,18.0\n049,2023,6.0\n049,2024,6.5\n")
    r = load_tax_rates(rates)
    so = pl.DataFrame({"service_type": ["training", "training"], "person_id": [1, 2], "cost_eur": [1000.0, 3000.0],
                       "end_month": [M(2021, 6), M(2021, 6)]})
    persons = pl.DataFrame({"person_id": [1, 2], "municipality": ["091", "049"], "employment_area": ["EA01", "EA01"]})
    base, note = tax_base(so, persons, r, years=3)
    b = base.filter((pl.col("service_type") == "training") & (pl.col("employment_area") == "EA01")).row(0, named=True)
    assert (b["n"], b["rate_y1"], b["rate_y2"], b["rate_y3"], b["cost_per_participant"]) == (2, 19.0, 6.5, 7.0, 2000.0)
    assert note == ""
    # effect 100 EUR/month at 6 months, 220 at 18 (linear between, constant outside); se 10
    eff = pl.DataFrame({"service_type": ["training"] * 2, "horizon": [6, 18], "estimate": [100.0, 220.0],
                        "std_error": [10.0, 10.0]})
    rev = tax_revenue(base, eff, years=3).filter(pl.col("employment_area") == "EA01").sort("year")
    # year 1: 6 * 100 + (110 + ... + 160) = 1,410; year 2: (170 + ... + 220) + 6 * 220 = 2,490; year 3: 2,640
    assert rev["earnings_effect"].to_list() == pytest.approx([1410.0, 2490.0, 2640.0])
    assert rev["revenue"].to_list() == pytest.approx([0.19 * 1410, 0.065 * 2490, 0.07 * 2640])
    assert rev["revenue_se"].to_list() == pytest.approx([0.19 * 120, 0.065 * 120, 0.07 * 120])
    last = rev.row(2, named=True)
    assert last["cum_revenue"] == pytest.approx(614.55) and last["cum_revenue_se"] == pytest.approx(39.0)
    assert last["revenue_to_cost"] == pytest.approx(614.55 / 2000)
    assert last["total_revenue"] == pytest.approx(2 * 614.55)
    assert last["cum_revenue_lo"] == pytest.approx(614.55 - 1.959964 * 39.0, rel=1e-6)


def test_tax_rates_bad_file(tmp_path):
    from impact.errors import ConfigError

    p = tmp_path / "r.csv"
    p.write_text("municipality,year,rate_pct\n091,2022,75.0\n")
    with pytest.raises(ConfigError, match="outside 0-60"):
        load_tax_rates(p)
    p.write_text("municipality,year\n091,2022\n")
    with pytest.raises(ConfigError, match="rate_pct"):
        load_tax_rates(p)
    shipped = load_tax_rates(None)
    assert shipped["rate_pct"].filter(shipped["year"] < 2023).is_between(16.5, 23.5).all()
    assert shipped.height == 999 * 11


def test_old_register_folder_without_new_tables():
    """Only the four required tables: every metric is absent, each with a note; nothing fails."""
    frames = registers()
    con = ibis.duckdb.connect()
    tables = {k: ibis.memtable(frames[k]) for k in ("persons", "jobseeking_spells", "service_spells",
                                                     "earnings_reports")}
    out = compute_outcomes(con, tables, OutcomeConfig(extraction_date=D(2021, 12, 31)),
                           metrics=MetricsConfig(koto_months=(M(2021, 4),)))
    assert set(out.extra) == {"koto_by_area", "tax_base"}  # they need only the core tables
    assert len(out.extra_notes) == 6 and any("no job_offers table" in n for n in out.extra_notes)
    assert any("no benefit_reports" in n for n in out.extra_notes)
    plain = compute_outcomes(con, tables, OutcomeConfig(extraction_date=D(2021, 12, 31)))
    assert plain.extra == {} and plain.extra_notes == []
