"""Contracts, validation and generator support of the issue #10 tables: payers, vacancies,
job_offers, candidate_searches, integration_plans."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from impact.registers import validate_folder, validate_tables
from impact.registers.schema import CONTRACTS
from impact.simulate import simulate
from tests.registers_fixtures import valid_tables, write_register_folder

D = dt.date
NEW = ("payers", "vacancies", "job_offers", "candidate_searches", "integration_plans")


def new_tables() -> dict[str, pl.DataFrame]:
    """Valid new tables linked to the persons (1-4) of tests/registers_fixtures.py."""
    s = {n: CONTRACTS[n].polars_schema for n in NEW}
    return {
        "payers": pl.DataFrame({"payer_id": [500, 501], "industry": ["C", None]}, schema=s["payers"]),
        "vacancies": pl.DataFrame({"vacancy_id": [7, 8], "employer_id": [500, 501],
                                   "open_date": [D(2020, 1, 2), D(2021, 3, 1)], "close_date": [D(2020, 2, 28), None],
                                   "filled": [True, None], "employment_area": ["EA01", "EA07"]}, schema=s["vacancies"]),
        "job_offers": pl.DataFrame({"offer_id": [1, 2, 3], "person_id": [1, 2, 3],
                                    "offer_date": [D(2020, 1, 20), D(2020, 1, 21), D(2021, 3, 5)],
                                    "vacancy_id": [7, 7, 8], "employer_id": [500, 500, 501], "search_id": [31, 31, None],
                                    "result_code": ["01", "02", None]}, schema=s["job_offers"]),
        "candidate_searches": pl.DataFrame({"search_id": [31], "vacancy_id": [7], "employer_id": [500],
                                            "search_date": [D(2020, 1, 10)], "persons_proposed": [2],
                                            "result_code": ["01"]}, schema=s["candidate_searches"]),
        "integration_plans": pl.DataFrame({"plan_id": [1, 2], "person_id": [3, 3],
                                           "plan_date": [D(2020, 5, 10), D(2020, 6, 1)],
                                           "plan_type": ["initial_assessment", "integration_plan"]},
                                          schema=s["integration_plans"]),
    }


def _all() -> dict[str, pl.DataFrame]:
    return {**valid_tables(), **new_tables()}


def _only(rep, kind: str, severity: str = "error"):
    found = [p for p in rep.problems if p.kind == kind and p.severity == severity]
    assert len(found) == 1, [str(p) for p in rep.problems]
    return found[0]


def _folder(tmp_path: Path, tables: dict, fmt: str = "parquet") -> Path:
    folder = write_register_folder(tmp_path / "reg", fmt)  # the five old tables
    for name in NEW:
        if name in tables:
            df = tables[name]
            (df.write_parquet if fmt == "parquet" else df.write_csv)(folder / f"{name}.{fmt}")
    return folder


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_valid_new_tables(tmp_path, fmt):
    rep = validate_folder(_folder(tmp_path, new_tables(), fmt), raise_on_error=False)
    assert rep.ok and rep.problems == [], rep.summary()
    assert {n: rep.tables[n].n_rows for n in NEW} == {"payers": 2, "vacancies": 2, "job_offers": 3,
                                                       "candidate_searches": 1, "integration_plans": 2}


def test_old_folder_without_new_tables_still_validates(tmp_path):
    rep = validate_folder(write_register_folder(tmp_path / "old"), raise_on_error=False)
    assert rep.ok and rep.problems == []
    assert all(rep.tables[n].file is None for n in NEW)
    assert "vacancies           absent (optional)" in rep.summary()


@pytest.mark.parametrize("table, column, value, ids", [
    ("job_offers", "result_code", "07", [2]),
    ("candidate_searches", "result_code", "1", [31]),
    ("integration_plans", "plan_type", "plan", [2]),
    ("payers", "industry", "Z", [501]),
])
def test_bad_codes(table, column, value, ids):
    t = _all()
    idcol = {"job_offers": "offer_id", "candidate_searches": "search_id", "integration_plans": "plan_id",
             "payers": "payer_id"}[table]
    t[table] = t[table].with_columns(pl.when(pl.col(idcol) == ids[0]).then(pl.lit(value)).otherwise(pl.col(column))
                                     .alias(column))
    p = _only(validate_tables(t, raise_on_error=False), "unknown_code")
    assert (p.table, p.column, list(p.example_ids), p.id_column) == (table, column, ids, idcol)
    assert repr(value) in p.message


def test_bad_dates(tmp_path):
    t = _all()
    t["vacancies"] = t["vacancies"].with_columns(pl.when(pl.col("vacancy_id") == 7).then(pl.lit(D(2019, 12, 1)))
                                                 .otherwise(pl.col("close_date")).alias("close_date"))
    p = _only(validate_tables(t, raise_on_error=False), "end_before_start")
    assert (p.table, p.column, list(p.example_ids)) == ("vacancies", "close_date", [7])
    # an unparseable date in a CSV file, named by its offer id
    folder = _folder(tmp_path, new_tables(), "csv")
    text = (folder / "job_offers.csv").read_text().replace("2021-03-05", "2021-13-05")
    (folder / "job_offers.csv").write_text(text)
    p = _only(validate_folder(folder, raise_on_error=False), "unparseable")
    assert (p.file, p.column, list(p.example_ids)) == ("job_offers.csv", "offer_date", [3])


def test_unknown_vacancies_searches_and_persons():
    t = _all()
    t["job_offers"] = t["job_offers"].with_columns(
        pl.when(pl.col("offer_id") == 3).then(99).otherwise(pl.col("vacancy_id")).alias("vacancy_id"),
        pl.when(pl.col("offer_id") == 2).then(77).otherwise(pl.col("search_id")).alias("search_id"),
        pl.when(pl.col("offer_id") == 1).then(42).otherwise(pl.col("person_id")).alias("person_id"))
    t["candidate_searches"] = t["candidate_searches"].with_columns(pl.lit(98, pl.Int64).alias("vacancy_id"))
    t["integration_plans"] = t["integration_plans"].with_columns(pl.lit(43, pl.Int64).alias("person_id"))
    t["vacancies"] = t["vacancies"].with_columns(pl.lit(502, pl.Int64).alias("employer_id"))
    rep = validate_tables(t, raise_on_error=False)
    errors = {(p.table, p.kind): p for p in rep.errors}
    assert set(errors) == {("job_offers", "unknown_vacancy"), ("job_offers", "unknown_search"),
                           ("job_offers", "unknown_person"), ("candidate_searches", "unknown_vacancy"),
                           ("integration_plans", "unknown_person")}, rep.summary()
    p = errors[("job_offers", "unknown_vacancy")]
    assert (p.column, list(p.example_ids), p.n_rows) == ("vacancy_id", [3], 1) and "'99'" in p.message
    assert list(errors[("job_offers", "unknown_search")].example_ids) == [2]
    assert list(errors[("job_offers", "unknown_person")].example_ids) == [1]
    assert list(errors[("candidate_searches", "unknown_vacancy")].example_ids) == [31]
    assert list(errors[("integration_plans", "unknown_person")].example_ids) == [1, 2]
    w = [p for p in rep.warnings if p.kind == "unknown_payer"]
    assert len(w) == 1 and w[0].table == "vacancies" and w[0].n_rows == 2  # employer not in payers: a warning


def test_links_not_checked_when_the_referenced_table_is_absent():
    t = _all()
    del t["vacancies"], t["candidate_searches"]
    rep = validate_tables(t, raise_on_error=False)
    assert rep.ok
    nc = sorted((p.table, p.column) for p in rep.warnings if p.kind == "not_checked")
    assert nc == [("job_offers", "search_id"), ("job_offers", "vacancy_id")]


def test_negative_persons_proposed_and_every_problem_reported():
    t = _all()
    t["candidate_searches"] = t["candidate_searches"].with_columns(pl.lit(-1, pl.Int32).alias("persons_proposed"))
    t["job_offers"] = t["job_offers"].with_columns(pl.lit("9", pl.String).alias("result_code"))
    rep = validate_tables(t, raise_on_error=False)
    kinds = sorted((p.table, p.kind) for p in rep.errors)
    assert kinds == [("candidate_searches", "negative_count"), ("job_offers", "unknown_code")]


# -- generator ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim10") / "a"
    simulate(scenario="default", persons=2500, seed=3, out=out)
    return out


def test_generator_writes_valid_new_tables_deterministically(sim, tmp_path):
    rep = validate_folder(sim, raise_on_error=False)
    assert rep.ok, rep.summary()
    assert all(rep.tables[n].n_rows for n in NEW)
    again = tmp_path / "b"
    simulate(scenario="default", persons=2500, seed=3, out=again)
    for f in [f"{n}.parquet" for n in NEW] + ["truth/offer_effects.parquet", "earnings_reports.parquet"]:
        assert (again / f).read_bytes() == (sim / f).read_bytes(), f


def test_generator_offers_have_their_true_effect(sim):
    eff = pl.read_parquet(sim / "truth" / "offer_effects.parquet").filter(pl.col("observed"))
    pm = pl.read_parquet(sim / "truth" / "person_month.parquet")
    # the realised world of the truth is the registers' world: employed_1 = the person-month truth
    j = eff.join(pm.select("person_id", "month", "employed"), on=["person_id", "month"], how="left")
    assert (j["employed_1"] == j["employed"].fill_null(False).cast(pl.Int8)).all()
    tau = eff.group_by("result_code", "h").agg((pl.col("employed_1") - pl.col("employed_0")).mean().alias("tau"))
    tau = {(r["result_code"], r["h"]): r["tau"] for r in tau.iter_rows(named=True)}
    assert tau[("01", 1)] > 0.3 and tau[("01", 6)] > 0.02  # placements start jobs earlier / create jobs
    assert all(abs(v) < 0.03 for (code, _), v in tau.items() if code != "01")  # no placement, (almost) no effect
    offers = pl.read_parquet(sim / "job_offers.parquet")
    assert set(offers["result_code"].drop_nulls()) == {"01", "02", "03", "04", "05", "06"}


def test_generator_links_and_integration_population(sim):
    offers = pl.read_parquet(sim / "job_offers.parquet")
    searches = pl.read_parquet(sim / "candidate_searches.parquet")
    n_prop = offers.filter(pl.col("search_id").is_not_null()).group_by("search_id").len()
    j = searches.join(n_prop, on="search_id")
    assert j.height == searches.height and (j["persons_proposed"] == j["len"]).all()
    payers = pl.read_parquet(sim / "payers.parquet")
    rep = pl.read_parquet(sim / "earnings_reports.parquet", columns=["payer_id"]).unique()
    assert rep.join(payers, on="payer_id", how="anti").height == 0  # every payer has a payers row
    # a placement that starts a job the next month: the offer's employer pays for that month
    eff = pl.read_parquet(sim / "truth" / "offer_effects.parquet")
    moved = eff.filter((pl.col("h") == 1) & (pl.col("employed_1") == 1) & (pl.col("employed_0") == 0)
                       & (pl.col("result_code") == "01"))
    o = offers.join(moved.select("offer_id", "month"), on="offer_id")
    r = pl.read_parquet(sim / "earnings_reports.parquet", columns=["person_id", "payer_id", "pay_period_start"])
    r = r.with_columns((pl.col("pay_period_start").dt.year().cast(pl.Int32) * 12
                        + pl.col("pay_period_start").dt.month().cast(pl.Int32) - 1).alias("month"))
    paid = o.join(r, left_on=["person_id", "month", "employer_id"], right_on=["person_id", "month", "payer_id"],
                  how="semi")
    assert o.height > 20 and paid.height / o.height > 0.95
    persons = pl.read_parquet(sim / "persons.parquet")
    plans = pl.read_parquet(sim / "integration_plans.parquet").join(persons, on="person_id")
    assert (plans["language"] == "other").all() and plans["person_id"].n_unique() > 50
