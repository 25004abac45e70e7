"""Reading register folders (Parquet and CSV) into the contract dtypes."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from impact.errors import RegisterValidationError
from impact.registers import read_registers, read_table, scan_table
from impact.registers.schema import CONTRACTS
from tests.registers_fixtures import valid_tables, write_register_folder


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_round_trip_keeps_values_and_dtypes(tmp_path, fmt):
    folder = write_register_folder(tmp_path, fmt)
    tables = read_registers(folder)
    expected = valid_tables()
    assert list(tables) == list(expected)
    for name, df in tables.items():
        assert_frame_equal(df, expected[name])  # exact dtypes, nulls, dates, booleans
    spells = tables["jobseeking_spells"]
    assert spells["end_reason"].to_list() == ["03", "01", "04", "06", "10"]
    assert spells["segment"].to_list()[:2] == ["01", "02"]
    assert tables["persons"]["municipality"].to_list() == ["091", "049", "853", "091"]


def test_csv_text_is_iso_dates_and_zero_padded_codes(tmp_path):
    folder = write_register_folder(tmp_path, "csv")
    first = (folder / "jobseeking_spells.csv").read_text().splitlines()[1]
    assert first == "1,11,2020-01-06,2020-06-30,2,03,01,091"


def test_optional_table_absent(tmp_path):
    t = valid_tables()
    del t["benefit_reports"]
    tables = read_registers(write_register_folder(tmp_path, "parquet", t))
    assert set(tables) == {"persons", "jobseeking_spells", "service_spells", "earnings_reports", "areas"}


def test_missing_required_table(tmp_path):
    folder = write_register_folder(tmp_path, "parquet")
    (folder / "persons.parquet").unlink()
    (folder / "service_spells.parquet").unlink()
    with pytest.raises(RegisterValidationError) as info:
        read_registers(folder)
    assert sorted((p.table, p.kind) for p in info.value.problems) == [
        ("persons", "missing_file"), ("service_spells", "missing_file")]
    assert "no persons.parquet or persons.csv" in str(info.value)


def test_unreadable_file(tmp_path):
    folder = write_register_folder(tmp_path, "parquet")
    (folder / "persons.parquet").write_bytes(b"PAR1 broken")
    with pytest.raises(RegisterValidationError) as info:
        read_table(folder, "persons")
    (p,) = info.value.problems
    assert p.kind == "unreadable_file" and "persons.parquet" in str(info.value)


def test_unknown_table_name(tmp_path):
    with pytest.raises(RegisterValidationError, match="unknown register table 'people'"):
        read_table(tmp_path, "people")


def test_unparseable_csv_value_names_column_and_ids(tmp_path):
    folder = write_register_folder(tmp_path, "csv")
    with open(folder / "jobseeking_spells.csv", "a") as f:
        f.write("4,16,2021-13-45,2022-01-31,2,03,01,091\n")
    with pytest.raises(RegisterValidationError) as info:
        read_table(folder, "jobseeking_spells")
    (p,) = info.value.problems
    assert (p.column, p.kind, p.example_ids) == ("start_date", "unparseable", (16,))
    assert "jobseeking_spells.csv, column start_date" in str(info.value) and "spell_id: 16" in str(info.value)


def test_wrong_type_in_parquet(tmp_path):
    t = valid_tables()
    t["service_spells"] = t["service_spells"].with_columns(pl.col("cost_eur").cast(pl.String))
    folder = write_register_folder(tmp_path, "parquet", t)
    with pytest.raises(RegisterValidationError, match="service_spells.parquet, column cost_eur: wrong type"):
        read_table(folder, "service_spells")


def test_widened_parquet_is_cast_to_contract(tmp_path):
    t = valid_tables()
    t["persons"] = t["persons"].with_columns(pl.col("person_id").cast(pl.Int32), pl.col("birth_year").cast(pl.Int64))
    df = read_table(write_register_folder(tmp_path, "parquet", t), "persons")
    assert df.schema == CONTRACTS["persons"].polars_schema
    assert_frame_equal(df, valid_tables()["persons"])


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_scan_table_is_lazy_with_contract_schema(tmp_path, fmt):
    folder = write_register_folder(tmp_path, fmt)
    lf = scan_table(folder, "earnings_reports")
    assert isinstance(lf, pl.LazyFrame)
    assert dict(lf.collect_schema()) == CONTRACTS["earnings_reports"].polars_schema
    total = lf.filter(pl.col("action") == "new").select(pl.col("amount_eur").sum()).collect().item()
    assert total == pytest.approx(2500 + 300 + 1800 + 2100 - 200)


def test_scan_table_checks_columns_now(tmp_path):
    t = valid_tables()
    t["earnings_reports"] = t["earnings_reports"].drop("payer_id")
    folder = write_register_folder(tmp_path, "parquet", t)
    with pytest.raises(RegisterValidationError, match="earnings_reports.parquet, column payer_id"):
        scan_table(folder, "earnings_reports")


def test_read_registers_with_validation(tmp_path):
    t = valid_tables()
    t["service_spells"] = t["service_spells"].with_columns(cost_eur=pl.Series([1.0, -2.0, 3.0]))
    folder = write_register_folder(tmp_path, "parquet", t)
    assert read_registers(folder)["service_spells"].height == 3  # reading alone does not check content
    from impact.registers.validate import validate_tables

    with pytest.raises(RegisterValidationError) as info:
        validate_tables(read_registers(folder), raise_on_error=True)
    assert [(p.kind, p.example_ids) for p in info.value.problems] == [("negative_cost", (22,))]


def test_unparseable_id_is_named_by_row(tmp_path):
    folder = write_register_folder(tmp_path, "csv")
    with open(folder / "persons.csv", "a") as f:
        f.write("P5,1990,F,basic,fi,091,EA01\n")
    with pytest.raises(RegisterValidationError) as info:
        read_table(folder, "persons")
    (p,) = info.value.problems
    assert (p.column, p.id_column, p.example_ids) == ("person_id", "row", (5,))
