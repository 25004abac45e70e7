"""Incomes Register XML: every example message of the Incomes Register imports, row by row as
the XML says; bad files are refused with the file, line and element (or counted with --lenient)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from impact.registers.importers import ImportRefused, import_registers
from impact.registers.importers.output import read_import_log
from impact.registers.delivery import read_delivery

EXAMPLES = Path(__file__).parent / "data" / "incomes_register" / "message_examples"
D = dt.date

# Per example: payer (namespace, id), earner (namespace, id), payment date, pay period and the
# transactions as (income type, amount, recovery, earnings period, pay period of the row),
# read off the XML by hand. Every example is a new report (ActionCode 1): action new, version 1.
EXPECTED = {
    "esimerkki_julkisyhteiso_maksajana.xml": dict(
        payer=("ytunnus", "8765432-1"), earner=("hetu", "010101-1234"), paid=D(2020, 1, 1),
        period=(D(2020, 1, 1), D(2020, 1, 15)),
        tx=[(201, 3761.75, False, (D(2020, 1, 1), D(2020, 1, 31))), (235, 325.0, False, (D(2019, 12, 17), D(2019, 12, 30))),
            (311, 107.5, False, None), (331, 143.0, False, None), (402, 1103.45, False, None), (413, 292.2, False, None),
            (414, 51.08, False, None)]),
    "esimerkki_nt1.xml": dict(
        payer=("ytunnus", "1234588-9"), earner=("hetu", "010101-1234"), paid=D(2020, 7, 31),
        period=(D(2020, 7, 15), D(2020, 7, 31)),
        tx=[(352, 6500.0, False, None), (413, 464.75, False, None), (414, 81.25, False, None)]),
    "esimerkki_nt2.xml": dict(
        payer=("ytunnus", "1234588-9"), earner=("hetu", "010101-1111"), paid=D(2020, 7, 31),
        period=(D(2020, 7, 15), D(2020, 7, 31)),
        tx=[(352, 6500.0, False, None), (413, 399.75, False, None), (414, 104.0, False, None)]),
    "esimerkki_palvelussuhdetiedot_elakkeelle_jaaminen.xml": dict(
        payer=("ytunnus", "8765432-1"), earner=("hetu", "010101-1111"), paid=D(2020, 1, 15),
        period=(D(2020, 1, 1), D(2020, 1, 31)),
        tx=[(201, 6800.0, False, (D(2020, 1, 1), D(2020, 1, 31))), (234, 4000.0, False, (D(2019, 4, 1), D(2020, 1, 31))),
            (402, 3240.0, False, None), (413, 772.2, False, None), (414, 135.0, False, None)]),
    "esimerkki_takaisinperinta_brutto.xml": dict(
        payer=("ytunnus", "1234567-8"), earner=("hetu", "010101-1111"), paid=D(2020, 11, 15),
        period=(D(2020, 11, 1), D(2020, 11, 30)),
        tx=[(201, 2500.0, False, None), (201, -500.0, True, None), (301, 800.0, False, None), (330, 20.0, False, None),
            (402, 936.0, False, None), (407, 200.0, False, None), (413, 223.08, False, None), (414, 39.0, False, None)]),
    "esimerkki_tilapainen_tyonantaja.xml": dict(
        payer=("ytunnus", "8765432-1"), earner=("hetu", "010101-1111"), paid=D(2020, 12, 1),
        period=(D(2020, 12, 1), D(2020, 12, 31)),
        tx=[(201, 470.0, False, None), (402, 125.0, False, None), (413, 33.6, False, None), (414, 5.87, False, None)]),
    "esimerkki_tulolajin_vakuuttamistiedon_tyyppi.xml": dict(
        payer=("ytunnus", "1234567-8"), earner=("hetu", "010101-1111"), paid=D(2020, 5, 15),
        period=(D(2020, 5, 1), D(2020, 5, 31)),
        tx=[(202, 500.0, False, None), (210, 500.0, False, None), (308, 1500.0, False, None), (402, 420.0, False, None),
            (413, 143.0, False, None), (414, 25.0, False, None), (419, 100.0, False, None)]),
    "esimerkki_ulkomainen_tyonantaja.xml": dict(
        payer=("foreign:7:GB", "GB12345678"), earner=("foreign:9:GB", "1023-44-56837"), paid=D(2020, 12, 1),
        period=(D(2020, 12, 1), D(2020, 12, 31)), tx=[(201, 3000.0, False, None)]),
    "esimerkki_vakuuttamisen_poikkeustilanne.xml": dict(
        payer=("ytunnus", "8765432-1"), earner=("foreign:9:PL", "62349723611"), paid=D(2020, 5, 1),
        period=(D(2020, 5, 1), D(2020, 5, 15)),
        tx=[(201, 1500.0, False, (D(2020, 4, 1), D(2020, 4, 30))), (203, 2500.0, False, (D(2020, 1, 1), D(2020, 4, 30))),
            (404, 1221.5, False, None), (405, 510.0, False, None)]),
    # two earner ids (TIN of Estonia, Finnish personal identity code): the personal identity code is the key
    "esimerkki_vuokratyontekijan_aloittamisilmoitus.xml": dict(
        payer=("foreign:7:EE", "EE12345678"), earner=("hetu", "010101-1234"), paid=D(2020, 12, 10),
        period=(D(2020, 12, 1), D(2020, 12, 31)), tx=[(201, 3000.0, False, None)]),
    # inside a SOAP envelope; its Signature is not in the XML-DSig namespace, so it fails the XSD
    "testi.xml": dict(
        payer=("ytunnus", "7017229-7"), earner=("hetu", "110849-882M"), paid=D(2022, 1, 31),
        period=(D(2022, 1, 1), D(2022, 1, 1)),
        tx=[(201, 1500.0, False, None), (402, 200.0, False, None), (413, 35.5, False, None), (414, 5.89, False, None)]),
}


def test_every_example_is_covered():
    assert sorted(p.name for p in EXAMPLES.glob("*.xml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_message_imports_as_the_xml_says(name, tmp_path):
    exp = EXPECTED[name]
    check = name != "testi.xml"
    res = import_registers("ir-xml", [EXAMPLES / name], tmp_path / "reg", schema_check=check)
    er = pl.read_parquet(tmp_path / "reg" / "earnings_reports.parquet").sort("report_id", "income_type")
    keys = pl.read_parquet(tmp_path / "reg" / "private" / "keys.parquet")
    got_ids = {(r["kind"], r["namespace"], r["source_id"]) for r in keys.iter_rows(named=True)}
    assert ("payer", *exp["payer"]) in got_ids and ("person", *exp["earner"]) in got_ids
    assert len(got_ids) == 2
    assert er["action"].unique().to_list() == ["new"] and er["version"].unique().to_list() == [1]
    assert er["payment_date"].unique().to_list() == [exp["paid"]]
    assert er["report_ref"].n_unique() == 1
    rows = []
    for r in er.iter_rows(named=True):
        ep = None if r["earning_period_start"] is None else (r["earning_period_start"], r["earning_period_end"])
        rows.append((r["income_type"], r["amount_eur"], r["recovery"], ep))
        if r["recovery"]:  # a recovery is for the original pay period, paid back on the report's date
            assert (r["pay_period_start"], r["pay_period_end"]) == (D(2020, 10, 1), D(2020, 10, 31))
            assert r["orig_payment_date"] == D(2020, 10, 15)
        else:
            assert (r["pay_period_start"], r["pay_period_end"]) == exp["period"]
            assert r["orig_payment_date"] is None
    assert sorted(rows, key=str) == sorted(exp["tx"], key=str)
    assert res.rows["earnings_reports"] == len(exp["tx"])
    # the key of the table holds: a report carrying one income type twice gets a second part id
    assert er.select("report_id", "income_type").is_unique().all()
    # nothing the XML does not say: no subsidy flag on these reports, flags null where not given
    assert not er["subsidised"].any()
    d = read_import_log(tmp_path / "reg")["folder"]
    assert d["source_kind"] == "ir-xml" and d["sources"]["ir-xml"]["schema_checked"] is check


def test_examples_with_employment_data_fill_the_employment_table(tmp_path):
    import_registers("ir-xml", [EXAMPLES / "esimerkki_palvelussuhdetiedot_elakkeelle_jaaminen.xml"], tmp_path / "r")
    emp = pl.read_parquet(tmp_path / "r" / "employments.parquet")
    assert emp.height == 1
    row = emp.row(0, named=True)
    assert (row["start_date"], row["end_date"]) == (D(1995, 5, 1), D(2020, 1, 31))
    assert row["employment_code"] == 1 and row["term_code"] == 1 and row["hours_per_week"] == 38.5
    assert (row["ending_type"], row["ending_code"]) == (3, "6")
    assert (row["profession_type"], row["profession_code"]) == (1, "31160")


def test_testi_fails_the_public_schema_naming_element_and_line(tmp_path):
    with pytest.raises(ImportRefused, match=r"testi\.xml, line 110, element Signature: does not match the Incomes "
                                            r"Register schema WageReportsToIR\.xsd"):
        import_registers("ir-xml", [EXAMPLES / "testi.xml"], tmp_path / "r")
    assert not (tmp_path / "r" / "earnings_reports.parquet").exists()  # nothing half-written


def test_all_examples_together_keep_a_report_delivered_twice_once(tmp_path):
    files = sorted(p for p in EXAMPLES.glob("esimerkki_*.xml"))
    res = import_registers("ir-xml", files, tmp_path / "r")
    log = read_import_log(tmp_path / "r")["imports"][-1]
    # nt1/nt2 and julkisyhteiso/poikkeustilanne reuse a payer's report reference for a new report:
    # the second delivery of the same (payer, reference, version) is dropped and counted
    assert log["rules"]["duplicate_report_version"]["rows"] == 3 + 4
    assert res.rows["earnings_reports"] == sum(len(EXPECTED[f.name]["tx"]) for f in files) - 7
    # the examples' identity codes are illustrative: their check characters do not verify (counted, kept)
    assert log["rules"]["person_id_check_failed"]["rows"] > 0


# -- bad inputs ------------------------------------------------------------------------------

def _edit(name: str, tmp: Path, old: str, new: str, count: int = 1) -> Path:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert old in text
    out = tmp / name
    out.write_text(text.replace(old, new, count), encoding="utf-8")
    return out


def test_truncated_file_names_the_line(tmp_path):
    text = (EXAMPLES / "esimerkki_takaisinperinta_brutto.xml").read_text(encoding="utf-8")
    cut = text.index("<!-- Ennakonpidätys = 402 -->")
    p = tmp_path / "cut.xml"
    p.write_text(text[:cut], encoding="utf-8")
    with pytest.raises(ImportRefused, match=r"cut\.xml, line \d+: not well-formed XML .*truncated|cut\.xml, line \d+"):
        import_registers("ir-xml", [p], tmp_path / "r", schema_check=False)
    with pytest.raises(ImportRefused, match=r"cut\.xml, line \d+"):
        import_registers("ir-xml", [p], tmp_path / "r")


def test_unknown_income_type_is_refused_or_counted(tmp_path):
    p = _edit("esimerkki_tilapainen_tyonantaja.xml", tmp_path, "<TransactionCode>413</TransactionCode>",
              "<TransactionCode>999</TransactionCode>")
    with pytest.raises(ImportRefused, match=r"line \d+, element TransactionCode: an income type .* of the 2022 code "
                                            r"list .*got 999"):
        import_registers("ir-xml", [p], tmp_path / "r")
    res = import_registers("ir-xml", [p], tmp_path / "r", strict=False)
    assert res.rows["earnings_reports"] == 3
    log = res.log.to_dict()
    assert log["rows_refused"]["unknown_income_type"]["rows"] == 1


def test_transaction_without_amount_names_the_line(tmp_path):
    p = _edit("esimerkki_tilapainen_tyonantaja.xml", tmp_path, "<Amount>125.00</Amount>", "")
    with pytest.raises(ImportRefused, match=r"line (\d+), element TransactionBasic: an Amount for income type 402"):
        import_registers("ir-xml", [p], tmp_path / "r", schema_check=False)
    res = import_registers("ir-xml", [p], tmp_path / "r", schema_check=False, strict=False)
    assert res.rows["earnings_reports"] == 3 and res.log.refused["transaction_without_amount"] == 1


def test_malformed_identity_code_fails_the_key_table(tmp_path):
    p = _edit("esimerkki_tilapainen_tyonantaja.xml", tmp_path, "<Code>010101-1111</Code>", "<Code>0101011111</Code>")
    with pytest.raises(ImportRefused, match=r"line \d+, element Id/Code: a person id of the form its Type says "
                                            r"\(hetu: .*\) \(got '01010…'\)"):
        import_registers("ir-xml", [p], tmp_path / "r")
    res = import_registers("ir-xml", [p], tmp_path / "r", strict=False)
    assert res.rows.get("earnings_reports", 0) == 0 and res.log.refused["person_id_malformed"] == 4


def test_report_without_transactions_gives_no_rows(tmp_path):
    text = (EXAMPLES / "esimerkki_tilapainen_tyonantaja.xml").read_text(encoding="utf-8")
    a, b = text.index("<Transactions>"), text.index("</Transactions>") + len("</Transactions>")
    p = tmp_path / "absence_only.xml"
    p.write_text(text[:a] + text[b:], encoding="utf-8")
    res = import_registers("ir-xml", [p, EXAMPLES / "esimerkki_nt1.xml"], tmp_path / "r")
    assert res.rows["earnings_reports"] == 3
    assert res.log.rules["reports_without_transactions"] == 1


def test_replacement_and_cancellation_become_versions(tmp_path):
    """A FromIR distribution: version 1, its replacement (version 2) and a cancelled report."""
    from impact.simulate.layout_xml import SIGNATURE

    def rep(ref: str, version: int, status: int, amount: str) -> str:
        return (f"<Report><DeliveryData><Timestamp>2021-02-01T12:00:00</Timestamp><IRDeliveryId>{'a' * 32}"
                "</IRDeliveryId><PaymentPeriod><PaymentDate>2021-01-31</PaymentDate><StartDate>2021-01-01</StartDate>"
                "<EndDate>2021-01-31</EndDate></PaymentPeriod><Payer><PayerIds><Id><Type>1</Type><Code>1234567-4"
                "</Code></Id></PayerIds></Payer></DeliveryData><ReportData>"
                f"<IRReportId>{'b' * 32}</IRReportId><ReportId>{ref}</ReportId><ReportStatus>{status}</ReportStatus>"
                f"<ReportVersion>{version}</ReportVersion><ReceivedTimestamp>2021-02-01T12:00:00</ReceivedTimestamp>"
                "</ReportData><IncomeEarner><IncomeEarnerIds><Id><Type>2</Type><Code>010190-123N</Code></Id>"
                "</IncomeEarnerIds><IncomeEarnerOther><IncomeEarnerTypes><IncomeEarnerType>1</IncomeEarnerType>"
                "</IncomeEarnerTypes></IncomeEarnerOther></IncomeEarner><Transactions><Transaction><TransactionBasic>"
                f"<TransactionCode>201</TransactionCode><Amount>{amount}</Amount><OneOff>true</OneOff>"
                "</TransactionBasic></Transaction></Transactions></Report>\n")
    body = rep("A1", 1, 1, "1000.00") + rep("A1", 2, 1, "1100.00") + rep("C1", 1, 1, "500.00") + rep("C1", 2, 2, "500")
    xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<wrfir:WageReportsFromIR '
           'xmlns:wrfir="http://www.tulorekisteri.fi/2017/1/WageReportsFromIR"><Subscription>'
           "<QueryDataType>300</QueryDataType><ProductionEnvironment>false</ProductionEnvironment></Subscription>"
           f"<Query><IRQueryId>{'c' * 32}</IRQueryId><QueryTimestamp>2021-03-01T00:00:00</QueryTimestamp>"
           "<QueryTimespanStart>2021-01-01T00:00:00</QueryTimespanStart><QueryTimespanEnd>2021-02-28T23:59:59"
           "</QueryTimespanEnd></Query><Summary><NrOfReports>4</NrOfReports></Summary><Reports>\n"
           + body + "</Reports>" + SIGNATURE + "</wrfir:WageReportsFromIR>")
    p = tmp_path / "dist.xml"
    p.write_text(xml, encoding="utf-8")
    import_registers("ir-xml", [p], tmp_path / "r")
    er = pl.read_parquet(tmp_path / "r" / "earnings_reports.parquet").sort("report_ref", "version")
    assert er.select("report_ref", "version", "action", "amount_eur").rows() == [
        ("A1", 1, "new", 1000.0), ("A1", 2, "replace", 1100.0), ("C1", 1, "new", 500.0), ("C1", 2, "cancel", 500.0)]
    # IncomeEarnerType 1 (employed with state employment appropriations) marks the rows subsidised
    assert er["subsidy_reported"].all() and er["subsidised"].all() and er["one_off"].all()
    d = read_import_log(tmp_path / "r")["folder"]
    assert d["extraction_date"] == "2021-02-28"  # the distribution's query time span, not the data
    assert read_delivery(tmp_path / "r").extraction_date == dt.date(2021, 2, 28)


def test_generated_xml_validates_against_the_public_schema(tmp_path):
    from lxml import etree

    from impact.registers.importers.ir_xml import xml_schema
    from impact.simulate import simulate
    from impact.simulate.layouts import write_layout

    simulate(persons=60, seed=3, out=tmp_path / "sim")
    files = write_layout(tmp_path / "sim", "ir-xml", tmp_path / "xml")
    xmls = [f for f in files if f.suffix == ".xml"]
    assert any("wage_reports" in f.name for f in xmls) and any("benefit_reports" in f.name for f in xmls)
    for f in xmls:
        schema = xml_schema("WageReportsFromIR.xsd" if "wage" in f.name else "BenefitReportsFromIR.xsd")
        schema.assertValid(etree.parse(str(f)))


def test_schema_error_names_the_element_and_its_line(tmp_path):
    p = _edit("esimerkki_takaisinperinta_brutto.xml", tmp_path, "<Amount>800.00</Amount>", "<Amont>800.00</Amont>")
    line = next(i for i, s in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if "<Amont>" in s)
    with pytest.raises(ImportRefused, match=rf"line {line}, element Amont: does not match the Incomes Register "
                                            r"schema WageReportsToIR\.xsd: Element 'Amont': This element is not expected"):
        import_registers("ir-xml", [p], tmp_path / "r")
    # with the check skipped (for speed) the same file is read and the missing amount is what is refused
    with pytest.raises(ImportRefused, match=r"element TransactionBasic: an Amount for income type 301"):
        import_registers("ir-xml", [p], tmp_path / "r", schema_check=False)


def test_several_earnings_periods_split_the_amount_by_days(tmp_path):
    """A transaction earned over 1-5 and 24-27 January: one row per period, 5/9 and 4/9 of the pay."""
    p = _edit("esimerkki_julkisyhteiso_maksajana.xml", tmp_path,
              "<EarningPeriod>\n\t\t\t\t\t\t\t\t<StartDate>2020-01-01</StartDate>\n\t\t\t\t\t\t\t\t<EndDate>2020-01-31"
              "</EndDate>\n\t\t\t\t\t\t\t</EarningPeriod>",
              "<EarningPeriod><StartDate>2020-01-01</StartDate><EndDate>2020-01-05</EndDate></EarningPeriod>"
              "<EarningPeriod><StartDate>2020-01-24</StartDate><EndDate>2020-01-27</EndDate></EarningPeriod>")
    res = import_registers("ir-xml", [p], tmp_path / "r")
    er = pl.read_parquet(tmp_path / "r" / "earnings_reports.parquet").filter(pl.col("income_type") == 201)
    assert er.sort("earning_period_start").select("earning_period_start", "earning_period_end", "amount_eur").rows() \
        == [(D(2020, 1, 1), D(2020, 1, 5), 2089.86), (D(2020, 1, 24), D(2020, 1, 27), 1671.89)]
    assert er["amount_eur"].sum() == pytest.approx(3761.75) and er["report_id"].n_unique() == 2
    assert res.log.rules["earning_periods_split"] == 2
