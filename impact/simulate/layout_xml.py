"""The generator's registers as Incomes Register XML (``impact simulate --layout ir-xml``).

Writes what an authority receives from the Incomes Register, valid against the public XSD:

* ``incomes_register/wage_reports_YYYY.xml``: ``WageReportsFromIR`` distributions, one per
  payment year, with every report version (new, replacement, cancelled: ``ReportStatus`` 2);
  recoveries as ``Recovery`` transactions with their original payment period; earnings
  periods where the generator has them;
* ``incomes_register/benefit_reports_YYYY.xml``: ``BenefitReportsFromIR`` with PLACEHOLDER
  benefit codes (``ir_2022_synthetic.toml``; the official codes are not in this package);
* ``jobseeker_register/``: the job-seeker register in the FIONA layout
  (:func:`impact.simulate.layout_fiona.write_jobseeker_register`) with the same identifiers
  as the XML, so the two link (import it with ``--namespace person=hetu --namespace
  employer=ytunnus``);
* ``private/crosswalk.parquet``: the generator's person id of each personal identity code
  (only for comparing an import with the generator's own registers).

Identifiers have the real forms and valid check characters: personal identity codes built
from the birth year (day and individual number by person, 002-899), business ids 7 digits
and a check digit. The XML signature is a schema-valid placeholder: synthetic files are not
signed. Text is built column-wise with polars (no Python loop over reports).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import polars as pl

from impact.simulate.layout_fiona import BENEFIT_CODES, write_jobseeker_register

NS_WAGE = "http://www.tulorekisteri.fi/2017/1/WageReportsFromIR"
NS_BENEFIT = "http://www.tulorekisteri.fi/2017/1/BenefitReportsFromIR"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
_HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
SIGNATURE = (
    "<!-- placeholder signature: synthetic data are not signed -->\n"
    f'<ds:Signature xmlns:ds="{NS_DS}"><ds:SignedInfo>'
    '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
    '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
    '<ds:Reference URI=""><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
    "<ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo>"
    "<ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>\n")


def personal_ids(persons: pl.DataFrame) -> pl.DataFrame:
    """(``person_id``, ``code``): a distinct, well-formed personal identity code per person.

    Within a birth year the k-th person (by id) is born on day ``k mod 365`` of the year with
    the individual number ``k div 365 + 2``: up to 327,770 persons per birth year.
    """
    p = persons.select("person_id", "birth_year").sort("birth_year", "person_id")
    k = p.select(pl.int_range(pl.len()).over("birth_year").alias("k"))["k"].to_numpy()
    if len(k) and k.max() >= 365 * 898:
        raise ValueError("more than 327,770 persons born in one year: personal identity codes run out")
    year = p["birth_year"].to_numpy().astype(np.int64)
    born = (np.array([f"{y}-01-01" for y in year], "datetime64[D]") + (k % 365)).astype("datetime64[D]")
    dd = born.astype(object)
    ddmmyy = np.array([f"{d.day:02d}{d.month:02d}{d.year % 100:02d}" for d in dd])
    num = k // 365 + 2
    sign = np.where(year >= 2000, "A", np.where(year >= 1900, "-", "+"))
    check = np.array([_HETU_CHECK[int(f"{a}{n:03d}") % 31] for a, n in zip(ddmmyy, num)])
    code = [f"{a}{s}{n:03d}{c}" for a, s, n, c in zip(ddmmyy, sign, num, check)]
    return pl.DataFrame({"person_id": p["person_id"], "code": code})


def business_ids(payer_ids: np.ndarray) -> pl.DataFrame:
    """(``payer_id``, ``code``): a distinct business id (Y-tunnus, valid check digit) per payer."""
    ids = np.unique(payer_ids)
    cand = np.arange(1_000_000, 1_000_000 + 2 * len(ids) + 10, dtype=np.int64)
    digits = (cand[:, None] // 10 ** np.arange(6, -1, -1)) % 10
    r = (digits * np.array([7, 9, 10, 5, 8, 4, 2])).sum(axis=1) % 11
    ok = r != 1
    base, chk = cand[ok][: len(ids)], ((11 - r[ok]) % 11)[: len(ids)]
    return pl.DataFrame({"payer_id": ids, "code": [f"{b}-{c}" for b, c in zip(base, chk)]})


def _guid(df: pl.DataFrame, value: pl.Expr, seed: int) -> pl.Series:
    """A 32-hex-digit id (the XSD's Guid) from a hash of ``value``: the same input, the same id."""
    h = df.select(a=value.hash(seed), b=value.hash(seed + 1))
    return pl.Series(np.char.add(np.char.mod("%016x", h["a"].to_numpy()), np.char.mod("%016x", h["b"].to_numpy())))


def _amount(col: str) -> pl.Expr:
    cents = (pl.col(col).abs() * 100).round(0).cast(pl.Int64)
    return pl.format("{}.{}", cents // 100, (cents % 100).cast(pl.String).str.zfill(2))


def _d(col: str) -> pl.Expr:
    return pl.col(col).dt.strftime("%Y-%m-%d")


def _el(tag: str, value: pl.Expr) -> pl.Expr:
    """``<tag>value</tag>``, or nothing where the value is null."""
    return pl.format("<{}>{}</{}>", pl.lit(tag), value, pl.lit(tag)).fill_null("")


def _head(ns_prefix: str, ns: str, root: str, query_type: int, year: int, extraction: dt.date, n: int) -> str:
    ts = f"{extraction.isoformat()}T23:59:59"
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<{ns_prefix}:{root} xmlns:{ns_prefix}="{ns}">\n'
            f"<Subscription><QueryDataType>{query_type}</QueryDataType>"
            "<ProductionEnvironment>false</ProductionEnvironment></Subscription>\n"
            f"<Query><IRQueryId>{hashlib.md5(f'{root}{year}'.encode()).hexdigest()}</IRQueryId><QueryTimestamp>{ts}</QueryTimestamp>"
            f"<QueryTimespanStart>{year}-01-01T00:00:00</QueryTimespanStart>"
            f"<QueryTimespanEnd>{ts}</QueryTimespanEnd></Query>\n"
            f"<Summary><NrOfReports>{n}</NrOfReports></Summary>\n<Reports>\n")


def _write(path: Path, head: str, reports: pl.Series, tail: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(head)
        for i in range(0, len(reports), 50_000):
            f.write("\n".join(reports.slice(i, 50_000).to_list()))
            f.write("\n")
        f.write(tail)
    tmp.replace(path)


def wage_reports_xml(er: pl.DataFrame, persons: pl.DataFrame, payers: pl.DataFrame) -> pl.DataFrame:
    """One row per report (``report_id``) with its XML text and payment year."""
    rec = pl.col("recovery").fill_null(False)
    tx = er.sort("report_id", "income_type").with_columns(
        pl.concat_str([
            pl.lit("<Transaction><TransactionBasic>"), _el("TransactionCode", pl.col("income_type").cast(pl.String)),
            _el("Amount", _amount("amount_eur")),
            pl.when(rec).then(pl.lit("<Recovery>true</Recovery>")).otherwise(pl.lit("")),
            pl.lit("</TransactionBasic>"),
            pl.when(pl.col("earning_period_start").is_not_null()).then(pl.concat_str([
                pl.lit("<EarningPeriods><EarningPeriod>"), _el("StartDate", _d("earning_period_start")),
                _el("EndDate", _d("earning_period_end")), pl.lit("</EarningPeriod></EarningPeriods>")]))
            .otherwise(pl.lit("")),
            pl.when(rec).then(pl.concat_str([
                pl.lit("<RecoveryData><OrigPaymentPeriods><OrigPaymentPeriod>"),
                _el("PaymentDate", _d("orig_payment_date")), _el("StartDate", _d("pay_period_start")),
                _el("EndDate", _d("pay_period_end")), pl.lit("</OrigPaymentPeriod></OrigPaymentPeriods></RecoveryData>")]))
            .otherwise(pl.lit("")),
            pl.lit("</Transaction>")]).alias("_tx"))
    rep = tx.group_by("report_id", maintain_order=True).agg(
        pl.col("_tx").str.join("\n"), pl.first("report_ref", "version", "action", "person_id", "payer_id",
                                               "payment_date", "pay_period_start", "pay_period_end"))
    rep = rep.join(persons.select("person_id", _hetu="code"), on="person_id", how="left")
    rep = rep.join(payers.select("payer_id", _yt="code"), on="payer_id", how="left")
    rep = rep.with_columns(_irid=_guid(rep, pl.concat_str([pl.col("payer_id").cast(pl.String), pl.col("report_ref")]), 11),
                           _delid=_guid(rep, pl.col("report_id"), 21),
                           _ts=pl.format("{}T12:00:00", _d("payment_date")))
    xml = pl.concat_str([
        pl.lit("<Report><DeliveryData>"), _el("Timestamp", pl.col("_ts")), _el("IRDeliveryId", pl.col("_delid")),
        pl.lit("<PaymentPeriod>"), _el("PaymentDate", _d("payment_date")), _el("StartDate", _d("pay_period_start")),
        _el("EndDate", _d("pay_period_end")), pl.lit("</PaymentPeriod><Payer><PayerIds><Id><Type>1</Type>"),
        _el("Code", pl.col("_yt")), pl.lit("</Id></PayerIds></Payer></DeliveryData><ReportData>"),
        _el("IRReportId", pl.col("_irid")), _el("ReportId", pl.col("report_ref")),
        _el("ReportStatus", pl.when(pl.col("action") == "cancel").then(pl.lit("2")).otherwise(pl.lit("1"))),
        _el("ReportVersion", pl.col("version").cast(pl.String)), _el("ReceivedTimestamp", pl.col("_ts")),
        pl.lit("</ReportData><IncomeEarner><IncomeEarnerIds><Id><Type>2</Type>"), _el("Code", pl.col("_hetu")),
        pl.lit("</Id></IncomeEarnerIds></IncomeEarner><Transactions>\n"), pl.col("_tx"),
        pl.lit("\n</Transactions></Report>")])
    return rep.select("report_id", year=pl.col("payment_date").dt.year(), xml=xml)


def benefit_reports_xml(br: pl.DataFrame, persons: pl.DataFrame, payers: pl.DataFrame) -> pl.DataFrame:
    """One report per benefit payment, with its XML text and payment year."""
    br = br.sort("person_id", "payment_date", "benefit_type").with_row_index("_i", offset=1)
    br = br.with_columns(_payer=pl.when(pl.col("benefit_type") == "earnings_related_allowance").then(pl.lit(2))
                         .otherwise(pl.lit(1)))
    br = br.join(persons.select("person_id", _hetu="code"), on="person_id", how="left")
    br = br.join(payers.select(_payer="payer_id", _yt="code"), on="_payer", how="left")
    rec = pl.col("amount_eur") < 0
    br = br.with_columns(_irid=_guid(br, pl.col("_i"), 31), _delid=_guid(br, pl.col("_i"), 41),
                         _ts=pl.format("{}T12:00:00", _d("payment_date")))
    xml = pl.concat_str([
        pl.lit("<Report><DeliveryData>"), _el("Timestamp", pl.col("_ts")), _el("IRDeliveryId", pl.col("_delid")),
        _el("PaymentDate", _d("payment_date")), pl.lit("<Payer><PayerIds><Id><Type>1</Type>"),
        _el("Code", pl.col("_yt")), pl.lit("</Id></PayerIds></Payer></DeliveryData><ReportData>"),
        _el("IRReportId", pl.col("_irid")), _el("ReportId", pl.format("B{}", pl.col("_i"))),
        pl.lit("<ReportStatus>1</ReportStatus><ReportVersion>1</ReportVersion>"),
        _el("ReceivedTimestamp", pl.col("_ts")),
        pl.lit("</ReportData><IncomeEarner><IncomeEarnerIds><Id><Type>2</Type>"), _el("Code", pl.col("_hetu")),
        pl.lit("</Id></IncomeEarnerIds></IncomeEarner><Transactions><Transaction><TransactionBasic>"),
        _el("TransactionCode", pl.col("benefit_type").replace_strict(BENEFIT_CODES, return_dtype=pl.String)),
        _el("Amount", _amount("amount_eur")), pl.when(rec).then(pl.lit("<Recovery>true</Recovery>")).otherwise(pl.lit("")),
        pl.lit("</TransactionBasic><EarningPeriod>"), _el("StartDate", _d("period_start")),
        _el("EndDate", _d("period_end")), pl.lit("</EarningPeriod></Transaction></Transactions></Report>")])
    return br.select(year=pl.col("payment_date").dt.year(), xml=xml)


def write_ir_xml(reg: dict[str, pl.DataFrame], out: Path, extraction: dt.date, fmt: str = "parquet") -> list[Path]:
    """Every table in the ir-xml layout (see the module doc); returns the files written."""
    persons = personal_ids(reg["persons"])
    reg = {k: v.collect() if isinstance(v, pl.LazyFrame) else v for k, v in reg.items()}
    er = reg["earnings_reports"]
    payers = business_ids(np.concatenate([er["payer_id"].unique().to_numpy(), [1, 2]]))
    files = []
    year_of = er.select(pl.col("report_id"), year=pl.col("payment_date").dt.year()).group_by("report_id").agg(
        pl.col("year").first())  # a report's rows share one payment date
    er = er.join(year_of, on="report_id")
    for year in sorted(year_of["year"].unique().to_list()):  # one year's text in memory at a time
        part = wage_reports_xml(er.filter(pl.col("year") == year).drop("year"), persons, payers)
        path = out / "incomes_register" / f"wage_reports_{year}.xml"
        _write(path, _head("wrfir", NS_WAGE, "WageReportsFromIR", 300, year, extraction, part.height),
               part["xml"], "</Reports>\n" + SIGNATURE + "</wrfir:WageReportsFromIR>\n")
        files.append(path)
        del part
    if "benefit_reports" in reg and reg["benefit_reports"].height:
        ben = benefit_reports_xml(reg["benefit_reports"], persons, payers)
        for (year,), part in ben.group_by("year", maintain_order=True):
            path = out / "incomes_register" / f"benefit_reports_{year}.xml"
            _write(path, _head("brfir", NS_BENEFIT, "BenefitReportsFromIR", 315, year, extraction, part.height),
                   part["xml"], "</Reports>\n" + SIGNATURE + "</brfir:BenefitReportsFromIR>\n")
            files.append(path)
    files += write_jobseeker_register(reg, out / "jobseeker_register", fmt, extraction, person_ids=persons,
                                      payer_ids=payers)
    cw = out / "private" / "crosswalk.parquet"
    cw.parent.mkdir(parents=True, exist_ok=True)
    persons.rename({"code": "hetu"}).write_parquet(cw)
    files.append(cw)
    return sorted(files)


__all__ = ["business_ids", "personal_ids", "write_ir_xml"]
