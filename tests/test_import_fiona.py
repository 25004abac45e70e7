"""FIONA extracts: file formats (SAS, Stata, CSV, Parquet), the job-seeker register's delivery
quirks, bad inputs, TAX_SUMINCOMES and the warehouse path."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl
import pytest

from impact.registers.importers import ImportRefused, import_registers
from impact.registers.importers.output import read_import_log
from impact.registers.delivery import read_delivery

D = dt.date
OPEN = D(2222, 11, 11)


def _persons() -> pl.DataFrame:
    return pl.DataFrame({"hid_e": ["H1", "H2", "H3"], "syntyv": [1980, 1990, 2001], "sukup": ["1", "2", "2"],
                         "kiekd": ["0", None, "1"], "pkokdh": ["3", "4", None]})


def _spells() -> pl.DataFrame:
    return pl.DataFrame({"hid_e": ["H1", "H2", "H3"], "alkpv1": [D(2023, 3, 1), D(2023, 11, 5), D(2024, 2, 1)],
                         "loppv1": [D(2023, 6, 30), OPEN, OPEN], "hapkd": ["03", None, None]})


def _write(df: pl.DataFrame, path: Path, fmt: str) -> Path:
    from impact.simulate.layout_fiona import write_frame

    return write_frame(df, path, fmt)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "stata", "sas"])
def test_every_file_format_gives_the_same_registers(fmt, tmp_path):
    src = tmp_path / "src"
    files = [_write(_persons(), src / "yhenk", fmt), _write(_spells(), src / "ythaku_2023", fmt)]
    import_registers("fiona-jobseekers", files, tmp_path / "r")
    p = pl.read_parquet(tmp_path / "r" / "persons.parquet").sort("person_id")
    assert p.select("birth_year", "sex", "language", "education").rows() == [
        (1980, "M", "fi", "basic"), (1990, "F", "fi", "upper_secondary"), (2001, "F", "sv", "basic")]
    s = pl.read_parquet(tmp_path / "r" / "jobseeking_spells.parquet").sort("spell_id")
    assert s.select("start_date", "end_date", "end_reason").rows() == [
        (D(2023, 3, 1), D(2023, 6, 30), "03"), (D(2023, 11, 5), None, None), (D(2024, 2, 1), None, None)]
    log = read_import_log(tmp_path / "r")["imports"][-1]
    assert log["rules"]["education_missing"]["rows"] == 1  # H3: no education code -> the mapping's default, counted


def test_dates_as_sas_day_numbers_yyyymmdd_and_finnish_text(tmp_path):
    src = tmp_path / "src"
    _write(_persons(), src / "yhenk", "parquet")
    sp = pl.DataFrame({"hid_e": ["H1", "H2", "H3"], "alkpv1": [23070.0, 20231105.0, None],
                       "alkpv1_txt": [None, None, "1.2.2024"], "loppv1": ["2023-06-30", None, None]})
    sp = sp.with_columns(alkpv1=pl.when(pl.col("alkpv1").is_null()).then(pl.col("alkpv1_txt"))
                         .otherwise(pl.col("alkpv1").cast(pl.Int64).cast(pl.String))).drop("alkpv1_txt")
    _write(sp, src / "ythaku_2023", "csv")
    import_registers("fiona-jobseekers", [src / "yhenk.parquet", src / "ythaku_2023.csv"], tmp_path / "r")
    s = pl.read_parquet(tmp_path / "r" / "jobseeking_spells.parquet").sort("spell_id")
    # 23070 days after 1960-01-01 is 2023-03-01 (SAS/Stata day number)
    assert s["start_date"].to_list() == [D(2023, 3, 1), D(2023, 11, 5), D(2024, 2, 1)]


def test_non_utf8_sas_file_names_row_and_column(tmp_path):
    src = tmp_path / "src"
    p = _persons().with_columns(hid_e=pl.Series(["H1", "Hää", "H3"]))
    f = _write(p, src / "yhenk", "sas")
    raw = f.read_bytes()
    bad = raw.replace("Hää".encode(), "Hää".encode("latin-1") + b"  ")  # latin-1 bytes in a file that says UTF-8
    assert bad != raw
    f.write_bytes(bad)
    with pytest.raises(ImportRefused, match=r"yhenk\.sas7bdat, row 2, column hid_e: text is not valid UTF-8 .* pass "
                                            r"--encoding"):
        import_registers("fiona-jobseekers", [f], tmp_path / "r")
    res = import_registers("fiona-jobseekers", [f], tmp_path / "r", encoding="latin1")
    assert res.rows["persons"] == 3
    keys = pl.read_parquet(tmp_path / "r" / "private" / "keys.parquet")
    assert "Hää" in keys["source_id"].to_list()


def test_spell_without_start_is_refused_or_counted(tmp_path):
    src = tmp_path / "src"
    sp = _spells().with_columns(alkpv1=pl.Series([D(2023, 3, 1), None, D(2024, 2, 1)]))
    files = [_write(_persons(), src / "yhenk", "parquet"), _write(sp, src / "ythaku_2023", "parquet")]
    with pytest.raises(ImportRefused, match=r"ythaku_2023\.parquet, row 2, column start: a value is required"):
        import_registers("fiona-jobseekers", files, tmp_path / "r")
    assert not (tmp_path / "r" / "persons.parquet").exists()  # nothing half-written
    res = import_registers("fiona-jobseekers", files, tmp_path / "r", strict=False)
    assert res.rows["jobseeking_spells"] == 2 and res.log.refused["missing_start"] == 1


def test_unmapped_code_names_it(tmp_path):
    src = tmp_path / "src"
    sp = _spells().with_columns(hapkd=pl.Series(["03", "99", None]))
    files = [_write(_persons(), src / "yhenk", "parquet"), _write(sp, src / "ythaku_2023", "parquet")]
    with pytest.raises(ImportRefused, match=r"row 2, column end_reason: code not in the mapping's end_reason list .* "
                                            r"\(got '99'\)"):
        import_registers("fiona-jobseekers", files, tmp_path / "r")
    res = import_registers("fiona-jobseekers", files, tmp_path / "r", strict=False)
    assert res.log.unseen_codes["end_reason"] == {"99": 1} and res.rows["jobseeking_spells"] == 2


def test_yearly_deliveries_open_then_closed_and_duplicates(tmp_path):
    """From 2023 each year is delivered separately: a spell open at the end of 2023 (11.11.2222)
    comes again closed in 2024; the 2024 file delivered twice repeats every row."""
    src = tmp_path / "src"
    y23 = pl.DataFrame({"hid_e": ["H1", "H2"], "alkpv1": [D(2023, 3, 1), D(2023, 11, 5)],
                        "loppv1": [D(2023, 6, 30), OPEN], "hapkd": ["03", None]})
    y24 = pl.DataFrame({"hid_e": ["H2", "H3"], "alkpv1": [D(2023, 11, 5), D(2024, 2, 1)],
                        "loppv1": [D(2024, 1, 31), OPEN], "hapkd": ["01", None]})
    files = [_write(_persons(), src / "yhenk", "parquet"), _write(y23, src / "ythaku_2023", "parquet"),
             _write(y24, src / "ythaku_2024", "parquet")]
    files.append(files[-1])  # the same year's delivery again
    res = import_registers("fiona-jobseekers", files, tmp_path / "r")
    s = pl.read_parquet(tmp_path / "r" / "jobseeking_spells.parquet").sort("spell_id")
    assert s.select("start_date", "end_date", "end_reason").rows() == [
        (D(2023, 3, 1), D(2023, 6, 30), "03"), (D(2023, 11, 5), D(2024, 1, 31), "01"), (D(2024, 2, 1), None, None)]
    rules = res.log.rules
    assert rules["jobseeking_open_then_closed"] == 1
    assert rules["jobseeking_duplicate_rows"] == 3  # H2 open + one extra closed, H3 once more
    assert rules["jobseeking_conflicting_end"] == 0


def test_folk_spell_files_give_spells_status_and_services(tmp_path):
    """FOLK's simplified files: tyonh24 spells carry the status and end reason themselves
    (11.11.2222 = open; delivered open, then closed), sijoi24 placements, tyovk24 training."""
    src = tmp_path / "src"
    tyonh = pl.DataFrame({"hid_e": ["H1", "H2", "H2"], "alkupvm": [D(2023, 3, 1), D(2023, 11, 5), D(2023, 11, 5)],
                          "loppupvm": [D(2023, 6, 30), OPEN, D(2024, 1, 31)], "tyol": ["1", "1", "1"],
                          "psyy": ["03", None, "01"]})
    sijoi = pl.DataFrame({"hid_e": ["H1", "H3"], "alkupvm": [D(2023, 7, 1), D(2024, 2, 1)],
                          "loppupvm": [D(2023, 12, 31), OPEN], "tpide": ["50", "61"], "psyy": ["01", None],
                          "ta_sektori": ["4", None]})
    tyovk = pl.DataFrame({"hid_e": ["H2"], "alkupvm": [D(2024, 3, 1)], "loppupvm": [D(2024, 6, 30)], "tyamm": ["2"]})
    files = [_write(_persons(), src / "yhenk", "parquet"), _write(tyonh, src / "folk_tyonh24_2023", "parquet"),
             _write(sijoi, src / "folk_sijoi24_2023", "parquet"), _write(tyovk, src / "folk_tyovk24_2023", "parquet")]
    res = import_registers("fiona-jobseekers", files, tmp_path / "r")
    s = pl.read_parquet(tmp_path / "r" / "jobseeking_spells.parquet").sort("spell_id")
    assert s.select("start_date", "end_date", "end_reason", "status_at_start").rows() == [
        (D(2023, 3, 1), D(2023, 6, 30), "03", 1), (D(2023, 11, 5), D(2024, 1, 31), "01", 1)]
    assert res.log.rules["jobseeking_open_then_closed"] == 1
    v = pl.read_parquet(tmp_path / "r" / "service_spells.parquet").sort("start_date")
    assert v.select("service_type", "subtype", "start_date", "end_date", "employer_sector").rows() == [
        ("pay_subsidy", "firm", D(2023, 7, 1), D(2023, 12, 31), 4),
        ("startup_grant", None, D(2024, 2, 1), None, None),
        ("training", "vocational", D(2024, 3, 1), D(2024, 6, 30), None)]


def test_services_from_the_modules_and_the_derived_subsidised_flag(tmp_path):
    src = tmp_path / "src"
    sij = pl.DataFrame({"hid_e": ["H1", "H2"], "alkpv2": [D(2023, 1, 10), D(2023, 2, 1)],
                        "loppv2": [D(2023, 6, 30), D(2023, 3, 31)], "sijkds": ["6T", "62"], "sipkd": ["02", "01"],
                        "staskd": ["4", None], "yrtun_s": ["YA", None]})
    kou = pl.DataFrame({"hid_e": ["H3"], "alpvm": [D(2023, 4, 3)], "papvm": [D(2023, 9, 29)], "ktunoh": ["K1"],
                        "pasyy": ["0"], "klaji": ["0"], "alkood": ["1"]})
    kk = pl.DataFrame({"ktuno": ["K1"], "kurslaji": ["15"], "erryhm": ["03"], "jar_s": ["P9"]})
    vp = pl.DataFrame({"hid_e": ["H1", "H2"], "alkpv7": [D(2023, 8, 1), D(2023, 8, 1)],
                       "loppv7": [D(2023, 9, 30), D(2023, 9, 30)], "lausno": ["KT01", "A1"]})
    files = [_write(_persons(), src / "yhenk", "parquet"), _write(_spells(), src / "ythaku_2023", "parquet"),
             _write(sij, src / "ysijoit_2023", "parquet"), _write(kou, src / "ytyokou_2023", "parquet"),
             _write(kk, src / "ktyokou", "parquet"), _write(vp, src / "ytvpoll_2023", "parquet")]
    res = import_registers("fiona-jobseekers", files, tmp_path / "r")
    v = pl.read_parquet(tmp_path / "r" / "service_spells.parquet").sort("start_date")
    assert v.select("service_type", "subtype", "employer_sector", "end_reason", "provider_id", "course_id").rows() == [
        ("pay_subsidy", "firm", 4, 2, None, None), ("startup_grant", None, None, 1, None, None),
        ("integration_training", None, None, 1, "P9", "K1"), ("rehabilitative_work", None, None, None, None, None)]
    assert res.log.rules["statements_not_services"] == 1  # A1 is a statement on benefits, not a service
    assert res.log.rules["cost_missing"] == 4
    # earnings of H1 from the placement employer (the payer named YA) during the subsidy are subsidised;
    # the same person's pay from another payer is not
    tr = pl.DataFrame({"repId": ["1", "2", "3"], "transactionCode": [201, 201, 201], "amount": [2000.0, 1500.0, 900.0]})
    rp = pl.DataFrame({"repId": ["1", "2", "3"], "delId": ["1", "2", "3"], "incomeEarnerHid_e": ["H1", "H1", "H1"],
                       "reportVersion": [1, 2, 1]})
    dl = pl.DataFrame({"delId": ["1", "2", "3"], "payerIdType1_s": ["YA", "YB", "YA"],
                       "paymentDate": [D(2023, 3, 15), D(2023, 3, 15), D(2023, 8, 15)],
                       "paymentStartDate": [D(2023, 3, 1), D(2023, 3, 1), D(2023, 8, 1)],
                       "paymentEndDate": [D(2023, 3, 31), D(2023, 3, 31), D(2023, 8, 31)],
                       "latauspvm": [D(2024, 1, 20)] * 3})
    inc = [_write(tr, src / "TAX_INCOMES_transactioninfo_2023", "parquet"),
           _write(rp, src / "TAX_INCOMES_report_2023", "parquet"),
           _write(dl, src / "TAX_INCOMES_delivery_2023", "parquet")]
    res = import_registers("fiona-incomes", inc, tmp_path / "r")
    er = pl.read_parquet(tmp_path / "r" / "earnings_reports.parquet").sort("report_id")
    assert er["subsidised"].to_list() == [True, False, False]
    assert er["action"].unique().to_list() == ["new"] and er["version"].unique().to_list() == [1]
    d = read_import_log(tmp_path / "r")["folder"]
    assert d["source_kind"] == "fiona-incomes" and d["reports"] == "valid_latest_only"
    assert d["subsidised_derived"] is True and d["subsidised_rows"]["derived"] == 1
    assert d["extraction_date"] == "2024-01-20"  # latauspvm, not the latest payment
    assert read_delivery(tmp_path / "r").extraction_date == dt.date(2024, 1, 20)  # the manifest runs read
    assert not (tmp_path / "r" / "delivery.json").exists()
    assert res.log.rules["rows_of_replacement_versions"] == 1
    # the import left the earnings reports' prepared layout beside them, and said so in its log
    from impact.registers.prepared import layout_status

    assert layout_status(tmp_path / "r")[0] is not None
    assert any("prepared" in n for n in read_import_log(tmp_path / "r")["imports"][-1]["notes"])


def test_sumincomes_rows_become_monthly_reports(tmp_path):
    s = pl.DataFrame({"vuosi": [2023, 2023], "kuukausi": [2, 3], "payerIdCode_s": ["YA", "YA"],
                      "incomeEarnerShnro": ["S1", "S1"], "t101": [None, 2100.0], "t201": [2000.0, None],
                      "t213": [0.0, 500.0]})
    f = _write(s, Path(tmp_path) / "TAX_SUMINCOMES_2023", "parquet")
    import_registers("fiona-incomes", [f], tmp_path / "r")
    er = pl.read_parquet(tmp_path / "r" / "earnings_reports.parquet").sort("pay_period_start", "income_type")
    assert er.select("income_type", "amount_eur", "pay_period_start", "pay_period_end", "payment_date").rows() == [
        (201, 2000.0, D(2023, 2, 1), D(2023, 2, 28), D(2023, 2, 28)),
        (101, 2100.0, D(2023, 3, 1), D(2023, 3, 31), D(2023, 3, 31)),
        (213, 500.0, D(2023, 3, 1), D(2023, 3, 31), D(2023, 3, 31))]
    assert read_import_log(tmp_path / "r")["folder"]["source_kind"] == "fiona-sumincomes"


def test_warehouse_path_runs_the_same_mapping_on_tables(tmp_path):
    """The mapping as Ibis expressions on tables of a database (here a DuckDB file standing in for
    the warehouse): the contract tables are created in place, identical to the file import."""
    import ibis

    src = tmp_path / "src"
    files = [_write(_persons(), src / "yhenk", "parquet"), _write(_spells(), src / "ythaku_2023", "parquet")]
    import_registers("fiona-jobseekers", files, tmp_path / "local")
    db = tmp_path / "warehouse.duckdb"
    con = ibis.duckdb.connect(str(db))
    con.create_table("tem_yhenk", con.read_parquet(str(files[0])))
    con.create_table("tem_ythaku", con.read_parquet(str(files[1])))
    import_registers("fiona-jobseekers", [], tmp_path / "wh_meta", con=con,
                     tables={"yhenk": "tem_yhenk", "ythaku": "tem_ythaku"})
    for name, key in (("persons", "person_id"), ("jobseeking_spells", "spell_id")):
        a = pl.read_parquet(tmp_path / "local" / f"{name}.parquet").sort(key)
        b = con.table(name).to_polars().sort(key)
        assert a.equals(b), name
    assert con.table("impact_keys").count().to_pyarrow().as_py() == 3  # the key table lives in the warehouse too
    assert read_import_log(tmp_path / "wh_meta")["folder"]["contract_tables"] == [
        "jobseeking_spells", "persons"]


def test_key_table_keeps_ids_across_imports(tmp_path):
    src = tmp_path / "src"
    files = [_write(_persons(), src / "yhenk", "parquet"), _write(_spells(), src / "ythaku_2023", "parquet")]
    import_registers("fiona-jobseekers", files, tmp_path / "r")
    first = pl.read_parquet(tmp_path / "r" / "private" / "keys.parquet")
    more = _persons().vstack(pl.DataFrame({"hid_e": ["H0"], "syntyv": [1970], "sukup": ["1"], "kiekd": ["0"],
                                           "pkokdh": ["3"]}))
    files[0] = _write(more, src / "yhenk", "parquet")
    import_registers("fiona-jobseekers", files, tmp_path / "r")
    second = pl.read_parquet(tmp_path / "r" / "private" / "keys.parquet")
    assert second.join(first, on=["kind", "namespace", "source_id"]).filter(pl.col("id") != pl.col("id_right")).is_empty()
    assert second.filter(pl.col("source_id") == "H0")["id"].item() == first["id"].max() + 1
    assert len(read_import_log(tmp_path / "r")["imports"]) == 2


def test_import_publishes_the_folder_in_one_step_with_manifest_and_areas(tmp_path):
    from impact.publish import OutputError, verify_output

    src, out = tmp_path / "src", tmp_path / "r"
    files = [_write(_persons(), src / "yhenk", "parquet"), _write(_spells(), src / "ythaku_2023", "parquet")]
    areas = src / "areas.csv"
    areas.write_text("municipality,employment_area\n91,EA01\n49,EA01\n837,EA02\n")
    import_registers("fiona-jobseekers", files, out, areas=areas, extraction_date=D(2024, 3, 1))
    assert pl.read_parquet(out / "areas.parquet").rows() == [("049", "EA01"), ("091", "EA01"), ("837", "EA02")]
    assert read_delivery(out).extraction_date == D(2024, 3, 1)
    assert "fiona-jobseekers" in read_delivery(out).source
    assert verify_output(out) == [] and not (out / "delivery.json").exists()
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bad = _spells().with_columns(hapkd=pl.lit("99"))  # an end reason not in the mapping
    with pytest.raises(ImportRefused, match="99"):
        import_registers("fiona-jobseekers", [files[0], _write(bad, src / "ythaku_2024", "parquet")], out)
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # nothing half-written
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="notes.txt"):  # a user's file is never replaced with the folder
        import_registers("fiona-jobseekers", files, out)
    areas.write_text("municipality,employment_area\n091,EA01\n91,EA02\n")
    with pytest.raises(ImportRefused, match="091 is listed with two employment areas"):
        import_registers("fiona-jobseekers", files, tmp_path / "r2", areas=areas)


@pytest.mark.spark
@pytest.mark.skipif(not os.environ.get("IMPACT_TEST_SPARK_IMPORT"),
                    reason="a Spark session costs about two minutes here; set IMPACT_TEST_SPARK_IMPORT=1 to run")
def test_warehouse_path_on_spark(tmp_path):
    """The same mapping on Spark tables (a local session standing in for the data platform)."""
    pytest.importorskip("pyspark")
    from impact.backends import connect

    src = tmp_path / "src"
    files = [_write(_persons(), src / "yhenk", "parquet"), _write(_spells(), src / "ythaku_2023", "parquet")]
    import_registers("fiona-jobseekers", files, tmp_path / "local")
    con = connect("pyspark", {"master": "local[1]", "use_active_session": False,
                              "conf": {"spark.sql.shuffle.partitions": "1", "spark.driver.memory": "1g",
                                       "spark.sql.warehouse.dir": str(tmp_path / "spark-warehouse")}})
    try:
        con._session.read.parquet(str(files[0])).createOrReplaceTempView("tem_yhenk")
        con._session.read.parquet(str(files[1])).createOrReplaceTempView("tem_ythaku")
        import_registers("fiona-jobseekers", [], tmp_path / "meta", con=con,
                         tables={"yhenk": "tem_yhenk", "ythaku": "tem_ythaku"})
        for name, key in (("persons", "person_id"), ("jobseeking_spells", "spell_id")):
            a = pl.read_parquet(tmp_path / "local" / f"{name}.parquet").sort(key)
            b = con.table(name).to_polars().sort(key).cast(dict(a.schema))
            assert a.equals(b), name
    finally:
        con._session.stop()


def test_materialised_steps_are_dropped_once_nothing_refers_to_them():
    """A chain of import steps keeps one temporary table per live expression, not one per step
    (at 1 M persons every copy of the earnings rows kept to the end filled the disk)."""
    import ibis

    from impact.registers.importers.tables import materialise

    con = ibis.duckdb.connect()
    t = con.create_table("base", ibis.memtable({"x": list(range(10))}))
    for _ in range(5):
        t = materialise(t.mutate(x=t.x + 1))
    kept = materialise(t.mutate(y=t.x * 2))

    def temp_tables() -> int:
        return con.raw_sql("SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name LIKE "
                           "'impact_import_%'").fetchall()[0][0]

    assert temp_tables() == 2  # t and kept; the four steps before t are gone
    assert t.x.sum().to_pyarrow().as_py() == 95 and kept.y.sum().to_pyarrow().as_py() == 190
