"""Register inputs that used to pass validation and change the results (issue 17), each with its message.

Every test breaks one thing in the small valid register folder of
:mod:`tests.registers_fixtures` (extraction date 2022-12-31 in its ``delivery.toml``).
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from impact.errors import ConfigError
from impact.registers.delivery import read_delivery, resolve_extraction_date, write_delivery
from impact.registers.validate import ValidationReport, validate_folder, validate_tables
from tests.registers_fixtures import EXTRACTION, valid_tables, write_register_folder
from tests.test_registers_validate import _only

D = date


def _set(tables: dict, name: str, row: int, **values) -> dict:
    t = dict(tables)
    df = t[name]
    t[name] = df.with_columns(**{c: df[c].scatter(row, v) for c, v in values.items()})
    return t


def _check(tables: dict, **kw) -> ValidationReport:
    return validate_tables(tables, raise_on_error=False, extraction_date=kw.pop("extraction", EXTRACTION), **kw)


# --- the extraction date comes from the delivery ------------------------------------------


def test_extraction_date_comes_from_the_delivery_manifest_not_the_data(tmp_path):
    t = _set(valid_tables(), "earnings_reports", 3, payment_date=D(2150, 1, 31))
    folder = write_register_folder(tmp_path / "reg", tables=t)
    assert resolve_extraction_date(folder).extraction_date == EXTRACTION  # the 2150 row moves nothing
    rep = validate_folder(folder, raise_on_error=False)
    p = _only(rep, "date_out_of_range")
    assert p.column == "payment_date" and p.example_ids == (103,) and "2150-01-31" in str(p)
    assert "dates outside 1950-01-01 .. 2100-12-31" in str(p)


def test_rows_after_the_extraction_date_are_errors_naming_rows(tmp_path):
    t = _set(valid_tables(), "earnings_reports", 3, payment_date=D(2023, 2, 28))
    t = _set(t, "service_spells", 1, end_date=D(2023, 3, 31))
    rep = validate_folder(write_register_folder(tmp_path / "reg", tables=t), raise_on_error=False)
    found = {(p.table, p.column): p for p in rep.errors if p.kind == "after_extraction"}
    assert set(found) == {("earnings_reports", "payment_date"), ("service_spells", "end_date")}, rep.summary()
    msg = str(found[("earnings_reports", "payment_date")])
    assert "dated after the extraction date 2022-12-31 (delivery.toml)" in msg and "report_id: 103" in msg
    assert "after_extraction = 'drop'" in msg
    assert found[("service_spells", "end_date")].example_ids == (22,)


def test_rows_after_the_extraction_date_dropped_and_counted_with_the_option(tmp_path):
    from impact.outcomes.pipeline import run_outcomes

    t = _set(valid_tables(), "earnings_reports", 3, payment_date=D(2023, 2, 28))
    t = _set(t, "benefit_reports", 2, payment_date=D(2023, 1, 5))
    folder = write_register_folder(tmp_path / "reg", tables=t)
    rep = validate_folder(folder, raise_on_error=False, after_extraction="drop")
    assert rep.ok and {(p.table, p.n_rows) for p in rep.warnings if p.kind == "after_extraction"} == {
        ("earnings_reports", 1), ("benefit_reports", 1)}
    with pytest.raises(Exception, match="dated after the extraction date"):
        run_outcomes(folder, tmp_path / "out")
    res = run_outcomes(folder, tmp_path / "out", after_extraction="drop")
    excl = {(r["table"], r["rule"]): r["rows"] for r in res.exclusions.to_dicts()}
    assert excl[("earnings_reports", "paid_after_extraction")] == 1
    assert excl[("benefit_reports", "after_extraction")] == 1
    assert res.extraction_date == EXTRACTION


def test_no_extraction_date_anywhere_is_refused_by_runs(tmp_path):
    from impact.outcomes.pipeline import run_outcomes

    folder = write_register_folder(tmp_path / "reg", extraction_date=None)
    rep = validate_folder(folder, raise_on_error=False)
    assert rep.ok and [p.kind for p in rep.warnings] == ["no_extraction_date"]
    with pytest.raises(ConfigError, match=r"no extraction date for .*reg: it must come from the data "
                                          r"delivery, not from the largest date in the data\. Put delivery\.toml"):
        run_outcomes(folder, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_configured_extraction_date_after_the_delivery_is_refused(tmp_path):
    folder = write_register_folder(tmp_path / "reg")
    with pytest.raises(ConfigError, match=r"data.extraction_date = 2023-06-30 is after the extraction date of the "
                                          r"delivery \(2022-12-31"):
        resolve_extraction_date(folder, D(2023, 6, 30))
    assert resolve_extraction_date(folder, D(2022, 6, 30)).extraction_date == D(2022, 6, 30)  # a cut-off


@pytest.mark.parametrize("text, message", [
    ("extraction_date = 2025-13-01\n", "not valid TOML"),
    ("source = 'x'\n", "extraction_date is missing"),
    ("extraction_date = 2025-12-31\nextracted = 1\n", r"unknown key\(s\) \['extracted'\]"),
    ("extraction_date = 'yesterday'\n", "expected a date yyyy-mm-dd, got 'yesterday'"),
])
def test_bad_delivery_manifest(tmp_path, text, message):
    (tmp_path / "delivery.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_delivery(tmp_path)


def test_non_utf8_delivery_manifest(tmp_path):
    (tmp_path / "delivery.toml").write_bytes("source = 'Poiminta \u00e4'\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        read_delivery(tmp_path)
    folder = write_register_folder(tmp_path / "reg")
    (folder / "delivery.toml").write_bytes(b"extraction_date = 2022-12-31\nsource = '\xe4'\n")
    p = _only(validate_folder(folder, raise_on_error=False), "bad_manifest")
    assert "delivery.toml: not UTF-8 text" in str(p)


def test_written_manifest_round_trips(tmp_path):
    write_delivery(tmp_path, D(2025, 12, 31), 'FIONA "2026/17"')
    d = read_delivery(tmp_path)
    assert d.extraction_date == D(2025, 12, 31) and d.source == 'FIONA "2026/17"'


# --- Incomes Register submissions ---------------------------------------------------------


def _add_report(t: dict, **over) -> dict:
    e = t["earnings_reports"]
    row = e.filter(pl.col("report_id") == 103).with_columns(**{k: pl.lit(v, dtype=e.schema[k]) for k, v in over.items()})
    return {**t, "earnings_reports": pl.concat([e, row])}


def test_same_report_submitted_twice_under_two_report_ids():
    t = _add_report(valid_tables(), report_id=107)  # R-2 v1 of payer 901 again, as report 107
    p = _only(_check(t), "duplicate_submission")
    assert p.example_ids == (103, 107) and p.n_rows == 2
    assert ("the same report (payer_id, report_ref, version) submitted under several report_ids "
            "(payer 901 report_ref 'R-2' version 1: report_id 103, 107); its earnings would be counted twice") in str(p)


def test_replacement_and_cancellation_with_the_same_version():
    t = valid_tables()
    e = t["earnings_reports"]
    extra = e.filter(pl.col("report_id") == 102).with_columns(report_id=pl.lit(108, pl.Int64),
                                                               action=pl.lit("cancel"))
    t = {**t, "earnings_reports": pl.concat([e, extra])}
    p = _only(_check(t), "conflicting_versions")
    assert p.example_ids == (102, 108)
    assert "payer 900 report_ref 'R-1' version 2: report_id 102, 108 ('cancel' and 'replace')" in str(p)
    assert "expected one action per (payer_id, report_ref, version)" in str(p)


def test_same_reference_of_two_payers_is_not_a_duplicate():
    t = _add_report(valid_tables(), report_id=107, payer_id=999)
    assert _check(t).ok


# --- plausibility bounds -----------------------------------------------------------------


@pytest.mark.parametrize("table, column, row, value, shown", [
    ("service_spells", "cost_eur", 0, 1e308, "1e+308"),
    ("earnings_reports", "amount_eur", 0, 1e300, "1e+300"),
    ("earnings_reports", "amount_eur", 6, -5e7, "-50000000.0"),
    ("benefit_reports", "amount_eur", 1, 2e6, "2000000.0"),
])
def test_amounts_and_costs_outside_plausible_bounds(table, column, row, value, shown):
    p = _only(_check(_set(valid_tables(), table, row, **{column: value})), "implausible")
    assert p.table == table and p.column == column and shown in str(p) and "plausible range" in str(p)


def test_birth_year_out_of_range_is_an_error_not_a_silent_drop():
    p = _only(_check(_set(valid_tables(), "persons", 1, birth_year=3000)), "implausible")
    assert p.column == "birth_year" and p.example_ids == (2,) and "plausible range 1900 .. 2100" in str(p)
    p = _only(_check(_set(valid_tables(), "persons", 1, birth_year=2024)), "born_after_extraction")
    assert "birth year after the extraction date 2022-12-31; expected a year up to 2022" in str(p)


def test_service_dates_in_2199_are_errors():
    t = _set(valid_tables(), "service_spells", 2, start_date=D(2199, 1, 1), end_date=D(2199, 3, 1))
    rep = _check(t)
    found = [p for p in rep.errors if p.kind == "date_out_of_range"]
    assert {p.column for p in found} == {"start_date", "end_date"} and all(p.example_ids == (23,) for p in found)
    assert not [p for p in rep.errors if p.kind not in ("date_out_of_range",)], rep.summary()


# --- area codes ------------------------------------------------------------------------------


def test_unknown_employment_area_is_an_error():
    t = _set(valid_tables(), "persons", 3, employment_area="EA99")
    rep = _check(t)
    kinds = sorted(p.kind for p in rep.errors)
    assert kinds == ["area_mismatch", "unknown_area"], rep.summary()
    unknown = next(p for p in rep.errors if p.kind == "unknown_area")
    assert unknown.example_ids == (4,) and "employment_area codes not in areas.employment_area" in str(unknown)
    assert "'EA99'" in str(unknown)


def test_area_not_matching_the_municipality_is_an_error():
    p = _only(_check(_set(valid_tables(), "persons", 0, employment_area="EA07")), "area_mismatch")
    assert p.example_ids == (1,) and "not the area of the person's municipality" in str(p)


def test_unknown_municipality_in_spells_is_an_error():
    p = _only(_check(_set(valid_tables(), "jobseeking_spells", 2, municipality="999")), "unknown_area")
    assert p.table == "jobseeking_spells" and p.example_ids == (13,) and "areas.municipality" in str(p)


def test_without_areas_table_areas_are_checked_for_consistency():
    t = valid_tables()
    del t["areas"]
    rep = _check(t)
    assert rep.ok and any(p.kind == "not_checked" and p.table == "areas" for p in rep.warnings)
    p = _only(_check(_set(t, "persons", 3, employment_area="EA99")), "area_mismatch")
    assert "municipalities assigned to several employment areas (091: EA01 (1 person), EA99 (1 person))" in str(p)


# --- impact outcomes validates as impact run does -----------------------------------------


@pytest.mark.parametrize("breakage, message", [
    (lambda f: f.joinpath("persons.parquet").unlink(), "required table missing: no persons.parquet"),
    (lambda f: pl.read_parquet(f / "service_spells.parquet").drop("cost_eur").write_parquet(
        f / "service_spells.parquet"), "column cost_eur: required column is missing"),
    (lambda f: pl.read_parquet(f / "earnings_reports.parquet").with_columns(amount_eur=pl.lit("1,5")).write_parquet(
        f / "earnings_reports.parquet"), "column amount_eur: wrong type: stored as String"),
])
def test_outcomes_validates_before_any_engine_reads(tmp_path, breakage, message):
    from impact.errors import RegisterValidationError
    from impact.outcomes.pipeline import run_outcomes

    folder = write_register_folder(tmp_path / "reg")
    breakage(folder)
    with pytest.raises(RegisterValidationError, match=message):
        run_outcomes(folder, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))
