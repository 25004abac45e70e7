"""Validation of register folders: each check breaks one thing in a valid folder."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from impact.cli import main as cli_main
from impact.errors import RegisterValidationError
from impact.registers.validate import ValidationReport, validate_folder, validate_tables
from tests.registers_fixtures import valid_tables, write_register_folder

D = date


def _folder(tmp_path: Path, tables: dict | None = None, fmt: str = "parquet") -> Path:
    return write_register_folder(tmp_path / "reg", fmt, tables)


def _only(report: ValidationReport, kind: str, severity: str = "error"):
    """The single problem of ``kind``; and no other errors."""
    found = [p for p in report.problems if p.kind == kind and p.severity == severity]
    assert len(found) == 1, report.summary()
    others = [p for p in report.errors if p.kind != kind]
    assert not others, report.summary()
    return found[0]


def _assert_names(problem, file: str, column: str | None, ids: list) -> None:
    text = str(problem)
    assert problem.file == file and file in text
    if column is not None:
        assert problem.column == column and column in text
    assert list(problem.example_ids) == ids
    for i in ids:
        assert str(i) in text


def _set(tables, name, **cols):
    t = dict(tables)
    df = t[name]
    t[name] = df.with_columns(**{k: pl.Series(k, v, dtype=df.schema[k] if k in df.schema else None)
                                 for k, v in cols.items()})
    return t


# --- valid folders -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_valid_folder_has_no_problems(tmp_path, fmt):
    report = validate_folder(_folder(tmp_path, fmt=fmt))
    assert report.ok and report.problems == []
    assert {n: i.n_rows for n, i in report.tables.items() if i.file is not None} == {
        "persons": 4, "jobseeking_spells": 5, "service_spells": 3, "earnings_reports": 7, "benefit_reports": 3,
        "areas": 3}
    text = report.summary()
    assert f"earnings_reports.{fmt}" in text and "7 rows" in text and "OK: 0 error(s), 0 warning(s)" in text


def test_valid_tables_in_memory():
    report = validate_tables(valid_tables())
    assert report.ok and report.problems == []


def test_benefit_reports_may_be_absent(tmp_path):
    t = valid_tables()
    del t["benefit_reports"]
    report = validate_folder(_folder(tmp_path, t))
    assert report.ok and report.problems == []
    assert re.search(r"benefit_reports +absent \(optional\)", report.summary())


# --- files and columns -------------------------------------------------------------------


def test_missing_file(tmp_path):
    folder = _folder(tmp_path)
    (folder / "jobseeking_spells.parquet").unlink()
    (folder / "jobseeking_spells.txt").write_text("x")
    report = validate_folder(folder, raise_on_error=False)
    p = _only(report, "missing_file")
    assert p.table == "jobseeking_spells"
    assert "jobseeking_spells.parquet or jobseeking_spells.csv" in p.message
    assert "found jobseeking_spells.txt" in p.message
    assert "MISSING" in report.summary()


def test_missing_folder(tmp_path):
    report = validate_folder(tmp_path / "nowhere", raise_on_error=False)
    assert not report.ok and report.errors[0].kind == "missing_folder"
    assert "nowhere" in str(report.errors[0])


def test_unreadable_file_is_a_problem_not_a_traceback(tmp_path):
    folder = _folder(tmp_path)
    (folder / "service_spells.parquet").write_bytes(b"this is not parquet")
    report = validate_folder(folder, raise_on_error=False)
    p = _only(report, "unreadable_file")
    assert p.file == "service_spells.parquet" and "service_spells.parquet" in str(p)
    assert report.tables["earnings_reports"].n_rows == 7  # the other tables are still checked


def test_ragged_csv_is_unreadable(tmp_path):
    folder = _folder(tmp_path, fmt="csv")
    with open(folder / "persons.csv", "a") as f:
        f.write("5,1990,F,basic,fi,091,EA01,extra,fields\n")
    report = validate_folder(folder, raise_on_error=False)
    p = _only(report, "unreadable_file")
    assert p.file == "persons.csv"


def test_missing_column(tmp_path):
    t = valid_tables()
    t["jobseeking_spells"] = t["jobseeking_spells"].drop("segment")
    p = _only(validate_folder(_folder(tmp_path, t), raise_on_error=False), "missing_column")
    _assert_names(p, "jobseeking_spells.parquet", "segment", [])


def test_optional_column_may_be_absent_and_extra_column_warns(tmp_path):
    t = valid_tables()
    t["earnings_reports"] = t["earnings_reports"].drop("recovery", "earning_period_start", "earning_period_end",
                                                       "orig_payment_date").filter(pl.col("amount_eur") > 0)
    t["persons"] = t["persons"].with_columns(note=pl.lit("x"))
    report = validate_folder(_folder(tmp_path, t))
    assert report.ok
    p = _only(report, "extra_columns", "warning")
    assert p.file == "persons.parquet" and "note" in p.message


def test_wrong_type_string_in_cost(tmp_path):
    t = valid_tables()
    t["service_spells"] = t["service_spells"].with_columns(pl.col("cost_eur").cast(pl.String))
    p = _only(validate_folder(_folder(tmp_path, t), raise_on_error=False), "wrong_type")
    _assert_names(p, "service_spells.parquet", "cost_eur", [])
    assert "stored as String" in p.message and "Float64" in p.message


def test_wrong_type_ints_where_dates_expected(tmp_path):
    t = valid_tables()
    t["jobseeking_spells"] = t["jobseeking_spells"].with_columns(pl.col("start_date").cast(pl.Int64))
    p = _only(validate_folder(_folder(tmp_path, t), raise_on_error=False), "wrong_type")
    _assert_names(p, "jobseeking_spells.parquet", "start_date", [])
    assert "Int64" in p.message and "yyyy-mm-dd" in p.message


def test_wrong_type_code_stored_as_integer(tmp_path):
    t = valid_tables()
    t["jobseeking_spells"] = t["jobseeking_spells"].with_columns(pl.col("end_reason").cast(pl.Int64))
    p = _only(validate_folder(_folder(tmp_path, t), raise_on_error=False), "wrong_type")
    _assert_names(p, "jobseeking_spells.parquet", "end_reason", [])
    assert "leading zeros" in p.message


def test_lossless_widening_is_a_warning(tmp_path):
    t = valid_tables()
    t["persons"] = t["persons"].with_columns(pl.col("person_id").cast(pl.Int32), pl.col("birth_year").cast(pl.Int64))
    report = validate_folder(_folder(tmp_path, t))
    assert report.ok
    assert sorted(p.column for p in report.warnings if p.kind == "cast") == ["birth_year", "person_id"]


def test_integer_out_of_range_for_contract_dtype(tmp_path):
    t = valid_tables()
    t["persons"] = t["persons"].with_columns(birth_year=pl.Series([1980, 1995, 70000, 2001], dtype=pl.Int64))
    p = _only(validate_folder(_folder(tmp_path, t), raise_on_error=False), "out_of_range")
    _assert_names(p, "persons.parquet", "birth_year", [3])


# --- CSV parsing -------------------------------------------------------------------------


def _append_csv_row(folder: Path, name: str, line: str) -> None:
    with open(folder / f"{name}.csv", "a") as f:
        f.write(line + "\n")


def test_unparseable_date_in_csv(tmp_path):
    folder = _folder(tmp_path, fmt="csv")
    _append_csv_row(folder, "jobseeking_spells", "4,16,2021-13-45,2022-01-31,2,03,01,091")
    p = _only(validate_folder(folder, raise_on_error=False), "unparseable")
    _assert_names(p, "jobseeking_spells.csv", "start_date", [16])
    assert "'2021-13-45'" in p.message and "yyyy-mm-dd" in p.message


def test_string_in_cost_csv(tmp_path):
    folder = _folder(tmp_path, fmt="csv")
    _append_csv_row(folder, "service_spells", "4,24,coaching,,2021-01-04,2021-02-26,1,,,n/a,")
    p = _only(validate_folder(folder, raise_on_error=False), "unparseable")
    _assert_names(p, "service_spells.csv", "cost_eur", [24])
    assert "'n/a'" in p.message and "number" in p.message


def test_csv_leading_zero_codes_stay_strings(tmp_path):
    folder = _folder(tmp_path, fmt="csv")
    assert "03" in (folder / "jobseeking_spells.csv").read_text()
    assert validate_folder(folder).ok


# --- values ------------------------------------------------------------------------------


def test_null_in_required_column(tmp_path):
    t = _set(valid_tables(), "service_spells", service_type=["training", None, None])
    p = _only(validate_folder(_folder(tmp_path, t), raise_on_error=False), "null")
    _assert_names(p, "service_spells.parquet", "service_type", [22, 23])
    assert p.n_rows == 2


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_null_in_required_column_both_formats(tmp_path, fmt):
    t = _set(valid_tables(), "persons", sex=["F", None, "F", "M"])
    p = _only(validate_folder(_folder(tmp_path, t, fmt), raise_on_error=False), "null")
    _assert_names(p, f"persons.{fmt}", "sex", [2])


UNKNOWN_CODES = [
    ("jobseeking_spells", "status_at_start", [2, 2, 11, 2, 5], [13]),
    ("jobseeking_spells", "end_reason", ["03", "3", "04", "06", "10"], [12]),
    ("jobseeking_spells", "segment", ["01", "02", "03", "1", "05"], [14]),
    ("service_spells", "end_reason", [1, 2, 12], [23]),
    ("service_spells", "service_type", ["training", "pay subsidy", "coaching"], [22]),
    ("service_spells", "employer_sector", [None, 7, None], [22]),
    ("earnings_reports", "income_type", [201, 302, 201, 999, 201, 201, 201], [103]),
    ("earnings_reports", "action", ["new", "new", "update", "new", "new", "cancel", "new"], [102]),
    ("persons", "sex", ["F", "M", "X", "M"], [3]),
    ("persons", "education", ["basic", "master", "tertiary", "basic"], [2]),
    ("persons", "language", ["fi", "sv", "en", "fi"], [3]),
    ("benefit_reports", "benefit_type", ["labour_market_subsidy", "housing", "earnings_related_allowance"], [2]),
]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@pytest.mark.parametrize("table,column,values,ids", UNKNOWN_CODES, ids=[f"{t}.{c}" for t, c, _, _ in UNKNOWN_CODES])
def test_unknown_code(tmp_path, fmt, table, column, values, ids):
    t = _set(valid_tables(), table, **{column: values})
    report = validate_folder(_folder(tmp_path, t, fmt), raise_on_error=False)
    p = _only(report, "unknown_code")
    _assert_names(p, f"{table}.{fmt}", column, ids)
    assert "expected one of" in p.message
    bad = [v for v, ok in zip(values, valid_tables()[table][column].to_list()) if v != ok]
    assert f"found '{bad[0]}'" in p.message


def test_duplicate_id(tmp_path):
    t = _set(valid_tables(), "jobseeking_spells", spell_id=[11, 12, 13, 13, 15])
    p = _only(validate_folder(_folder(tmp_path, t), raise_on_error=False), "duplicate_key")
    _assert_names(p, "jobseeking_spells.parquet", "spell_id", [13])
    assert p.n_rows == 2


def test_duplicate_composite_key_unsorted(tmp_path):
    t = valid_tables()
    e = t["earnings_reports"]
    t["earnings_reports"] = pl.concat([e, e.slice(3, 1)]).reverse()  # not in key order
    p = _only(validate_folder(_folder(tmp_path, t), raise_on_error=False), "duplicate_key")
    _assert_names(p, "earnings_reports.parquet", "report_id, income_type", [103])


def test_unsorted_unique_keys_are_fine(tmp_path):
    t = {k: v.reverse() for k, v in valid_tables().items()}
    assert validate_folder(_folder(tmp_path, t)).ok


END_BEFORE_START = [
    ("jobseeking_spells", "end_date", [D(2020, 6, 30), D(2021, 1, 31), D(2020, 12, 31), D(2021, 1, 15), D(2022, 3, 31)],
     [12]),
    ("service_spells", "end_date", [D(2020, 5, 29), D(2021, 6, 30), D(2020, 5, 31)], [23]),
    ("earnings_reports", "pay_period_end", [D(2020, 7, 31)] * 3 + [D(2021, 2, 28)] * 3 + [D(2020, 8, 31)], [106]),
    ("earnings_reports", "earning_period_end", [D(2020, 7, 31), None, D(2020, 6, 30), None, None, None, None], [102]),
    ("benefit_reports", "period_end", [D(2020, 1, 31), D(2020, 3, 31), D(2021, 9, 30)], [1]),
]


@pytest.mark.parametrize("table,column,values,ids", END_BEFORE_START, ids=[f"{t}.{c}" for t, c, _, _ in END_BEFORE_START])
def test_end_before_start(tmp_path, table, column, values, ids):
    t = _set(valid_tables(), table, **{column: values})
    report = validate_folder(_folder(tmp_path, t), raise_on_error=False)
    p = _only(report, "end_before_start")
    _assert_names(p, f"{table}.parquet", column, ids)
    start = column.replace("_end", "_start").replace("end_date", "start_date")
    assert f"{column} before {start}" in p.message


def test_overlapping_spells(tmp_path):
    t = valid_tables()
    s = t["jobseeking_spells"]
    extra = s.filter(pl.col("spell_id") == 14).with_columns(
        spell_id=pl.lit(17, pl.Int64), start_date=pl.lit(D(2020, 6, 1)), end_date=pl.lit(D(2020, 7, 1)))
    inner = s.filter(pl.col("spell_id") == 14).with_columns(  # inside 14 but after 17: only a running max sees it
        spell_id=pl.lit(18, pl.Int64), start_date=pl.lit(D(2020, 9, 1)), end_date=pl.lit(D(2020, 9, 30)))
    t["jobseeking_spells"] = pl.concat([s, extra, inner])
    p = _only(validate_folder(_folder(tmp_path, t), raise_on_error=False), "overlapping_spells")
    _assert_names(p, "jobseeking_spells.parquet", "start_date", [17, 18])


def test_spell_after_ongoing_spell_overlaps_and_touching_warns(tmp_path):
    t = _set(valid_tables(), "jobseeking_spells",
             end_date=[None, D(2021, 5, 31), D(2020, 12, 31), D(2021, 1, 15), D(2022, 3, 31)],
             end_reason=[None, "01", "04", "06", "10"])
    s = t["jobseeking_spells"]
    touch = s.filter(pl.col("spell_id") == 13).with_columns(
        spell_id=pl.lit(19, pl.Int64), start_date=pl.lit(D(2020, 12, 31)), end_date=pl.lit(D(2021, 2, 1)))
    t["jobseeking_spells"] = pl.concat([s, touch])
    report = validate_folder(_folder(tmp_path, t), raise_on_error=False)
    p = _only(report, "overlapping_spells")
    _assert_names(p, "jobseeking_spells.parquet", "start_date", [12])
    (w,) = [p for p in report.warnings if p.kind == "touching_spells"]
    assert list(w.example_ids) == [19]


def test_spell_and_report_for_unknown_person(tmp_path):
    t = _set(valid_tables(), "jobseeking_spells", person_id=[1, 1, 2, 3, 9])
    t = _set(t, "earnings_reports", person_id=[1, 1, 1, 2, 8, 8, 1])
    report = validate_folder(_folder(tmp_path, t), raise_on_error=False)
    found = {p.table: p for p in report.errors if p.kind == "unknown_person"}
    assert set(found) == {"jobseeking_spells", "earnings_reports"}, report.summary()
    _assert_names(found["jobseeking_spells"], "jobseeking_spells.parquet", "person_id", [15])
    _assert_names(found["earnings_reports"], "earnings_reports.parquet", "person_id", [104, 105])
    assert "'8'" in found["earnings_reports"].message
    assert len(report.errors) == 2


def test_negative_cost(tmp_path):
    t = _set(valid_tables(), "service_spells", cost_eur=[3200.0, -5400.0, 800.0])
    p = _only(validate_folder(_folder(tmp_path, t), raise_on_error=False), "negative_cost")
    _assert_names(p, "service_spells.parquet", "cost_eur", [22])


@pytest.mark.parametrize("action,ref_ok", [("replace", False), ("cancel", False)])
def test_replacement_or_cancellation_without_original(tmp_path, action, ref_ok):
    refs = ["R-1", "R-1", "R-1", "R-2", "R-3", "R-9", "R-4"]
    t = _set(valid_tables(), "earnings_reports", report_ref=refs,
             action=["new", "new", "replace", "new", "new", action, "new"])
    p = _only(validate_folder(_folder(tmp_path, t), raise_on_error=False), "no_original")
    _assert_names(p, "earnings_reports.parquet", "report_ref", [105])


def test_version_and_action_disagree(tmp_path):
    t = _set(valid_tables(), "earnings_reports", version=[1, 1, 2, 2, 1, 2, 1])
    p = _only(validate_folder(_folder(tmp_path, t), raise_on_error=False), "version_action")
    _assert_names(p, "earnings_reports.parquet", "version", [103])


@pytest.mark.parametrize("table,column,values,ids", [
    ("earnings_reports", "amount_eur", [2500.0, float("nan"), 2600.0, 1800.0, float("inf"), 2100.0, -200.0], [101, 104]),
    ("service_spells", "cost_eur", [3200.0, float("-inf"), 800.0], [22]),
    ("benefit_reports", "amount_eur", [730.5, 612.0, float("nan")], [4]),
])
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_non_finite_amounts(tmp_path, fmt, table, column, values, ids):
    t = _set(valid_tables(), table, **{column: values})
    report = validate_folder(_folder(tmp_path, t, fmt), raise_on_error=False)
    found = [p for p in report.errors if p.kind == "non_finite"]
    assert len(found) == 1, report.summary()
    _assert_names(found[0], f"{table}.{fmt}", column, ids)


def test_negative_amount_on_non_recovery_row(tmp_path):
    t = _set(valid_tables(), "earnings_reports", amount_eur=[2500.0, 300.0, -2600.0, 1800.0, 2100.0, 2100.0, -200.0])
    p = _only(validate_folder(_folder(tmp_path, t), raise_on_error=False), "negative_amount")
    _assert_names(p, "earnings_reports.parquet", "amount_eur", [102])  # 106 is a recovery: fine


def test_negative_amount_without_recovery_column(tmp_path):
    t = valid_tables()
    t["earnings_reports"] = t["earnings_reports"].drop("recovery")
    p = _only(validate_folder(_folder(tmp_path, t), raise_on_error=False), "negative_amount")
    _assert_names(p, "earnings_reports.parquet", "amount_eur", [106])


# --- warnings ----------------------------------------------------------------------------


def test_warnings_are_not_errors(tmp_path):
    t = _set(valid_tables(), "jobseeking_spells",
             end_date=[D(2020, 6, 30), None, D(2020, 12, 31), D(2021, 1, 15), D(2022, 3, 31)],
             end_reason=["03", None, "04", "06", "10"], person_id=[1, 1, 2, 4, 4])
    t = _set(t, "service_spells", end_date=[D(2020, 5, 29), None, D(2020, 8, 31)], end_reason=[1, None, 3])
    t["jobseeking_spells"] = t["jobseeking_spells"].with_columns(  # keep person 4's two spells apart
        start_date=pl.Series([D(2020, 1, 6), D(2021, 2, 1), D(2020, 3, 2), D(2020, 5, 4), D(2021, 9, 1)]))
    report = validate_folder(_folder(tmp_path, t))  # does not raise
    assert report.ok and report.errors == []
    kinds = {(p.table, p.kind): p for p in report.warnings}
    assert list(kinds[("jobseeking_spells", "ongoing")].example_ids) == [12]
    assert list(kinds[("service_spells", "ongoing")].example_ids) == [22]
    no_spell = kinds[("earnings_reports", "no_jobseeking_spell")]  # person 3 lost their spell
    assert list(no_spell.example_ids) == [104, 105] and no_spell.severity == "warning"
    assert ("service_spells", "no_jobseeking_spell") in kinds
    assert "Warnings:" in report.summary() and "Errors:" not in report.summary()


# --- many problems, raising, CLI ---------------------------------------------------------


def _broken_folder(tmp_path: Path) -> Path:
    t = _set(valid_tables(), "persons", sex=["F", "M", "Q", "M"])
    t = _set(t, "service_spells", cost_eur=[3200.0, -1.0, 800.0])
    t = _set(t, "earnings_reports", income_type=[201, 302, 201, 777, 201, 201, 201])
    t["jobseeking_spells"] = t["jobseeking_spells"].drop("municipality")
    folder = _folder(tmp_path, t, "csv")
    _append_csv_row(folder, "benefit_reports", "2,basic_allowance,2020-05-06,2020-04-01,2020-04-31,10.0")
    return folder


def test_several_problems_are_all_reported(tmp_path):
    report = validate_folder(_broken_folder(tmp_path), raise_on_error=False)
    got = sorted((p.file, p.column, p.kind) for p in report.errors)
    assert got == [
        ("benefit_reports.csv", "period_end", "unparseable"),
        ("earnings_reports.csv", "income_type", "unknown_code"),
        ("jobseeking_spells.csv", "municipality", "missing_column"),
        ("persons.csv", "sex", "unknown_code"),
        ("service_spells.csv", "cost_eur", "negative_cost"),
    ]
    text = report.summary()
    for file, column, _ in got:
        assert file in text and column in text
    assert "FAILED: 5 error(s)" in text


def test_raise_on_error_carries_every_problem(tmp_path):
    with pytest.raises(RegisterValidationError) as info:
        validate_folder(_broken_folder(tmp_path))
    assert len(info.value.problems) == 5
    assert "5 error(s)" in str(info.value) and "persons.csv, column sex" in str(info.value)


def test_validate_tables_missing_table_and_wrong_type():
    t = valid_tables()
    del t["persons"]
    t["service_spells"] = t["service_spells"].with_columns(pl.col("cost_eur").cast(pl.String))
    report = validate_tables(t, raise_on_error=False)
    assert sorted((p.table, p.kind) for p in report.errors) == [
        ("persons", "missing_table"), ("service_spells", "wrong_type")]


def test_cli_validate(tmp_path, capsys):
    good = _folder(tmp_path)
    with pytest.raises(SystemExit) as ok:
        cli_main(["validate", str(good)])
    assert ok.value.code == 0
    assert "OK: 0 error(s)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as bad:
        cli_main(["validate", str(_broken_folder(tmp_path / "b"))])
    assert bad.value.code == 1
    out = capsys.readouterr().out
    assert "FAILED: 5 error(s)" in out and "persons.csv" in out and "Traceback" not in out


def test_null_found_without_parquet_statistics(tmp_path):
    # null checks are skipped only where the Parquet footer proves a column null-free
    folder = _folder(tmp_path)
    t = _set(valid_tables(), "earnings_reports", report_ref=["R-1", "R-1", "R-1", None, "R-3", "R-3", "R-4"])
    t["earnings_reports"].write_parquet(folder / "earnings_reports.parquet", statistics=False)
    p = _only(validate_folder(folder, raise_on_error=False), "null")
    _assert_names(p, "earnings_reports.parquet", "report_ref", [103])


def test_unparseable_id_is_shown_by_row_number(tmp_path):
    folder = _folder(tmp_path, fmt="csv")
    _append_csv_row(folder, "jobseeking_spells", "4,x16,2022-06-01,2022-08-31,2,03,01,091")
    p = _only(validate_folder(folder, raise_on_error=False), "unparseable")
    assert (p.column, p.id_column, p.example_ids) == ("spell_id", "row", (6,))
    assert "first row: 6" in str(p) and "'x16'" in p.message


def test_validate_tables_rejects_non_polars_input():
    t = valid_tables()
    t["persons"] = t["persons"].to_dicts()
    report = validate_tables(t, raise_on_error=False)
    assert [(p.table, p.kind) for p in report.errors] == [("persons", "unreadable_file")]
    assert "expected a polars DataFrame" in str(report.errors[0])


def test_semicolon_csv_gets_a_hint(tmp_path):
    folder = _folder(tmp_path, fmt="csv")
    valid_tables()["persons"].write_csv(folder / "persons.csv", separator=";")
    p = _only(validate_folder(folder, raise_on_error=False), "unreadable_file")
    assert p.file == "persons.csv" and "semicolon-separated" in p.message
