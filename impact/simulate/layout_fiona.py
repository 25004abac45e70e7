"""The generator's registers in Statistics Finland's FIONA layout (``impact simulate --layout fiona``).

Writes what a research project receives, with the catalogue's table and column names:

* ``tem_tyonhakija/``: person data YHENK, YHKUNTA, YHKOUL and the service lines YASSEGMENTTI;
* ``tem_tyonhaku/``: YTHAKU, YTYOLL, YSIJOIT, YTKOKE, YTYOKOU + KTYOKOU, YTVPOLL, YTHAKSU, as
  the register delivers them: one cumulative file up to 2022, then one file per statistical
  year, a spell open at the end of a year with the end date 11.11.2222 (and again, closed, in a
  later year's file);
* ``tax_incomes/``: TAX_INCOMES delivery, report and transactioninfo per payment year, valid
  reports only (the latest version of each report; cancelled reports left out), as the
  catalogue describes;
* ``tax_benefit/``: TAX_BENEFIT delivery, report and transactioninfo (placeholder benefit
  codes, see ``tax_incomes_002_synthetic.toml``);
* ``service_costs`` (not a register module: the registers hold no service costs) and
  ``employment_areas.csv`` (municipality -> employment area, which the registers do not hold).

Identifiers are pseudonymised as FIONA's are: ``hid_e`` = ``"H"`` + the person id,
business ids ``"Y"`` + the payer id. What the modules cannot carry is lost on the way (see
``docs/real_data.md``): providers of services other than training courses, service end
reasons outside the placement and training modules, plan types other than the integration plan.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

FORMATS = ("parquet", "csv", "stata", "sas")
OPEN_END = dt.date(2222, 11, 11)
CUMULATIVE_UNTIL = 2022  # deliveries are cumulative up to this statistical year, yearly after it
#: Placeholder 4-digit benefit codes of the layouts (not official; see tax_incomes_002_synthetic.toml).
BENEFIT_CODES = {"labour_market_subsidy": 9001, "basic_allowance": 9002, "earnings_related_allowance": 9003,
                 "startup_grant": 9004, "other": 9009}
_LANG = {"fi": "0", "sv": "1", "other": "2"}
_EDU = {"basic": "201101", "upper_secondary": "351101", "tertiary": "621101"}  # level digit first
_STATEMENT = {"coaching": "TV01", "rehabilitative_work": "KT01", "self_motivated_study": "OM01"}
_TRAINING_END = {0: "0", 1: "0", 2: "1", 3: "2", 4: "3", 5: "8", 6: "7", 7: "5"}


def hid(col: str = "person_id") -> pl.Expr:
    return pl.format("H{}", pl.col(col).cast(pl.String).str.zfill(10))


def yid(col: str = "payer_id") -> pl.Expr:
    return pl.format("Y{}", pl.col(col).cast(pl.String).str.zfill(10))


def write_frame(df: pl.DataFrame, path: Path, fmt: str) -> Path:
    """One table in the chosen format (``path`` without extension); returns the file written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        out = path.with_suffix(".parquet")
        df.write_parquet(out)
    elif fmt == "csv":
        out = path.with_suffix(".csv")
        df.write_csv(out, separator=";", date_format="%Y-%m-%d")
    elif fmt in ("stata", "sas"):
        import pyreadstat

        out = path.with_suffix(".dta" if fmt == "stata" else ".sas7bdat")
        # SAS/Stata have no null text: empty text is missing
        df = df.with_columns([pl.col(c).fill_null("") for c, t in df.schema.items() if t == pl.String])
        writer = pyreadstat.write_dta if fmt == "stata" else pyreadstat.write_sas7bdat
        writer(df.to_pandas(), str(out))
    else:
        raise ValueError(f"format {fmt!r}; expected one of {FORMATS}")
    return out


def _yearly(df: pl.DataFrame, start: str, end: str, last: dt.date) -> list[tuple[str, pl.DataFrame]]:
    """The job-seeker register's deliveries of a spell table: cumulative to 2022, then per year.

    A delivery of year Y holds the spells that started by the end of Y (and, for a yearly one,
    were not over before Y began); a spell still open at the end of Y has the end 11.11.2222.
    """
    if df.is_empty():
        return [("", df)]
    first_year = df[start].min().year
    years = [CUMULATIVE_UNTIL] + list(range(CUMULATIVE_UNTIL + 1, last.year + 1))
    out = []
    for y in years:
        if y < first_year and y != CUMULATIVE_UNTIL:
            continue
        ye, ys = dt.date(y, 12, 31), dt.date(y, 1, 1)
        sel = pl.col(start) <= ye
        if y > CUMULATIVE_UNTIL:
            sel = sel & (pl.col(end).is_null() | (pl.col(end) >= ys))
        part = df.filter(sel).with_columns(
            pl.when(pl.col(end).is_null() | (pl.col(end) > ye)).then(pl.lit(OPEN_END)).otherwise(pl.col(end))
            .alias(end))
        label = f"1991_{y}" if y == CUMULATIVE_UNTIL else str(y)
        out.append((label, part))
    return out


def _write_spells(df: pl.DataFrame, name: str, folder: Path, fmt: str, start: str, end: str,
                  extraction: dt.date) -> list[Path]:
    return [write_frame(part, folder / f"{name}_{label}" if label else folder / name, fmt)
            for label, part in _yearly(df, start, end, extraction)]


def subsidy_employers(services: pl.DataFrame, earnings: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """(service_id, payer_id): the payer of a pay-subsidy spell's subsidised pay (the placement employer)."""
    ps = services.filter(pl.col("service_type") == "pay_subsidy").select("service_id", "person_id", "start_date",
                                                                          "end_date")
    sub = earnings.lazy().filter(pl.col("subsidised")).select("person_id", "payer_id", "pay_period_start",
                                                               "pay_period_end").collect()
    # the payer of most of the subsidised pay periods that overlap the spell
    j = ps.join(sub, on="person_id", how="inner").filter(
        (pl.col("pay_period_start") <= pl.col("end_date").fill_null(dt.date(9999, 1, 1)))
        & (pl.col("pay_period_end") >= pl.col("start_date")))
    n = j.group_by("service_id", "payer_id").agg(pl.len().alias("_n")).sort(["service_id", "_n", "payer_id"],
                                                                              descending=[False, True, False])
    return n.group_by("service_id", maintain_order=True).agg(pl.col("payer_id").first())


def write_jobseeker_register(reg: dict[str, pl.DataFrame], out: Path, fmt: str, extraction: dt.date,
                             person_ids: pl.DataFrame | None = None,
                             payer_ids: pl.DataFrame | None = None) -> list[Path]:
    """The person data, spells, services, plans, costs and the areas table (see the module doc).

    ``person_ids`` (``person_id``, ``code``) / ``payer_ids`` (``payer_id``, ``code``): the ids
    written (default: FIONA pseudonyms, :func:`hid` / :func:`yid`).
    """
    def ids(df: pl.DataFrame) -> pl.DataFrame:
        if person_ids is None:
            return df.with_columns(_hid=hid())
        return df.join(person_ids.select("person_id", _hid="code"), on="person_id", how="left")

    person, employer = pl.col("_hid"), pl.col("_yid")
    reg = {k: ids(v) if isinstance(v, pl.DataFrame) and "person_id" in v.columns and k != "earnings_reports" else v
           for k, v in reg.items()}
    files: list[Path] = []
    p = reg["persons"]
    ha, hu = out / "tem_tyonhakija", out / "tem_tyonhaku"
    files.append(write_frame(p.select(
        hid_e=person, syntyv=pl.col("birth_year").cast(pl.Int32),
        sukup=pl.col("sex").replace_strict({"M": "1", "F": "2"}),
        kiekd=pl.col("language").replace_strict(_LANG), pkokdh=pl.lit(None, pl.String)), ha / "yhenk", fmt))
    files.append(write_frame(p.select(hid_e=person, kunnoh=pl.col("municipality"),
                                      muupv6=pl.date(pl.col("birth_year").cast(pl.Int32), 1, 1),
                                      paapv6=pl.lit(None, pl.Date)), ha / "yhkunta", fmt))
    files.append(write_frame(p.select(hid_e=person, koukdh=pl.col("education").replace_strict(_EDU),
                                      muupv3=pl.lit(None, pl.Date), paapv3=pl.lit(None, pl.Date)), ha / "yhkoul", fmt))
    areas = (reg["areas"] if "areas" in reg  # the delivery's classification, municipalities without persons too
             else p.select("municipality", "employment_area").unique()).sort("municipality")
    out.mkdir(parents=True, exist_ok=True)
    areas.write_csv(out / "employment_areas.csv")
    files.append(out / "employment_areas.csv")
    s = reg["jobseeking_spells"]
    files.append(write_frame(s.select(hid_e=person, alkupv=pl.col("start_date"), assegkdi=pl.col("segment"),
                                      paatpv=pl.col("end_date")), ha / "yassegmentti", fmt))
    files += _write_spells(s.select(hid_e=person, alkpv1=pl.col("start_date"), loppv1=pl.col("end_date"),
                                    hapkd=pl.col("end_reason")), "ythaku", hu, fmt, "alkpv1", "loppv1", extraction)
    files += _write_spells(s.select(hid_e=person, tappvh=pl.col("start_date"), tppvm=pl.col("end_date"),
                                    tyok1=pl.when(pl.col("status_at_start") == 9).then(pl.lit("z"))
                                    .otherwise(pl.col("status_at_start").cast(pl.String))),
                           "ytyoll", hu, fmt, "tappvh", "tppvm", extraction)
    v = reg["service_spells"]
    emp = subsidy_employers(v, reg["earnings_reports"])
    v = v.join(emp, on="service_id", how="left")
    if payer_ids is None:
        v = v.with_columns(_yid=yid())
    else:
        v = v.join(payer_ids.select("payer_id", _yid="code"), on="payer_id", how="left")
    sij = v.filter(pl.col("service_type").is_in(["pay_subsidy", "startup_grant"])).select(
        hid_e=person, alkpv2=pl.col("start_date"), loppv2=pl.col("end_date"),
        sijkds=pl.when(pl.col("service_type") == "startup_grant").then(pl.lit("62"))
        .when(pl.col("employer_sector").is_in([2, 6])).then(pl.lit("5T")).otherwise(pl.lit("6T")),
        sipkd=pl.col("end_reason").cast(pl.String).str.zfill(2), staskd=pl.col("employer_sector").cast(pl.String),
        yrtun_s=pl.when(pl.col("payer_id").is_not_null()).then(employer).otherwise(pl.lit(None, pl.String)))
    files += _write_spells(sij, "ysijoit", hu, fmt, "alkpv2", "loppv2", extraction)
    koke = v.filter(pl.col("service_type") == "work_trial").select(
        hid_e=person, alkpv4=pl.col("start_date"), loppv4=pl.col("end_date"), kokeilu=pl.lit("20"),
        taskd=pl.col("employer_sector").cast(pl.String))
    files += _write_spells(koke, "ytkoke", hu, fmt, "alkpv4", "loppv4", extraction)
    tr = v.filter(pl.col("service_type").is_in(["training", "integration_training"]))
    kou = tr.select(hid_e=person, alpvm=pl.col("start_date"), papvm=pl.col("end_date"), ktunoh=pl.col("course_id"),
                    pasyy=pl.col("end_reason").replace_strict(_TRAINING_END, default=None, return_dtype=pl.String),
                    klaji=pl.when(pl.col("subtype") == "preparatory").then(pl.lit("0")).otherwise(pl.lit("2")),
                    alkood=pl.lit("1"))
    files += _write_spells(kou, "ytyokou", hu, fmt, "alpvm", "papvm", extraction)
    courses = tr.group_by("course_id").agg(pl.col("service_type").first(), pl.col("provider_id").first()).sort(
        "course_id").select(ktuno=pl.col("course_id"), kurslaji=pl.lit("15"),
                            erryhm=pl.when(pl.col("service_type") == "integration_training").then(pl.lit("03"))
                            .otherwise(pl.lit("06")), jar_s=pl.col("provider_id"))
    files.append(write_frame(courses, hu / "ktyokou", fmt))
    st = v.filter(pl.col("service_type").is_in(list(_STATEMENT))).select(
        hid_e=person, alkpv7=pl.col("start_date"), loppv7=pl.col("end_date"),
        lausno=pl.col("service_type").replace_strict(_STATEMENT))
    files += _write_spells(st, "ytvpoll", hu, fmt, "alkpv7", "loppv7", extraction)
    if "integration_plans" in reg:
        ip = reg["integration_plans"].filter(pl.col("plan_type") == "integration_plan")
        files.append(write_frame(ip.select(hid_e=person, kotsk=pl.lit("01"), thspv=pl.col("plan_date")),
                                 hu / "ythaksu", fmt))
    files.append(write_frame(v.select(hid_e=person, service_type=pl.col("service_type"),
                                      alkupvm=pl.col("start_date"), kustannus_eur=pl.col("cost_eur")),
                             out / "service_costs", fmt))
    return files


def valid_latest(er: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame | pl.LazyFrame:
    """The rows of the latest version of each report (payer, reference), cancelled reports left out."""
    later = er.filter(pl.col("version") > 1).group_by("payer_id", "report_ref").agg(pl.col("version").max().alias("_lv"))
    er = er.join(later, on=["payer_id", "report_ref"], how="left")
    er = er.filter(pl.col("version") == pl.col("_lv").fill_null(pl.col("version"))).drop("_lv")
    return er.filter(pl.col("action") != "cancel")


def _numbered(df: pl.DataFrame, name: str, first: int) -> pl.DataFrame:
    """``df`` with a 64-bit running number ``name`` from ``first``."""
    return df.with_columns((pl.int_range(pl.len(), dtype=pl.Int64) + first).alias(name))


def _years(lf: pl.LazyFrame, col: str) -> list[int]:
    return sorted(lf.select(pl.col(col).dt.year().unique()).collect()[col].to_list())


def write_tax_incomes(er: pl.DataFrame | pl.LazyFrame, out: Path, fmt: str, extraction: dt.date) -> list[Path]:
    """TAX_INCOMES delivery / report / transactioninfo, one file each per payment year.

    Read one payment year at a time (memory bounded by a year of reports); ``delId`` and
    ``repId`` are numbered within the year after the year (``2019000001``, ...).
    """
    lf = valid_latest(er.lazy())
    dkey = ["payer_id", "payment_date", "pay_period_start", "pay_period_end"]
    files = []
    folder = out / "tax_incomes"
    for year in _years(lf, "payment_date"):
        y = lf.filter(pl.col("payment_date").dt.year() == year).collect().sort("report_id", "income_type")
        deliveries = y.select(dkey).unique().sort(dkey).pipe(_numbered, "delId", year * 10**7 + 1)
        y = y.join(deliveries, on=dkey, how="left")
        reports = y.select("report_id").unique(maintain_order=True).pipe(_numbered, "repId", year * 10**8 + 1)
        y = y.join(reports, on="report_id", how="left")
        d = y.unique("delId", keep="first").sort("delId").select(
            "delId", payerIdType1_s=yid(), paymentDate=pl.col("payment_date"),
            paymentStartDate=pl.col("pay_period_start"), paymentEndDate=pl.col("pay_period_end"),
            latauspvm=pl.lit(extraction))
        r = y.unique("repId", keep="first").sort("repId").select(
            "repId", "delId", incomeEarnerHid_e=hid(), reportVersion=pl.col("version").cast(pl.Int32),
            incomeEarnerType=pl.lit(None, pl.String), latauspvm=pl.lit(extraction))
        rec = pl.col("recovery").fill_null(False)
        t = y.select(
            "repId", transactionCode=pl.col("income_type").cast(pl.Int32),
            amount=pl.when(rec).then(pl.col("amount_eur").abs()).otherwise(pl.col("amount_eur")),
            recovery=pl.when(rec).then(pl.lit("True")).otherwise(pl.lit(None, pl.String)),
            origPaymentDate=pl.when(rec).then(pl.col("orig_payment_date")).otherwise(None),
            origStartDate=pl.when(rec).then(pl.col("pay_period_start")).otherwise(None),
            origEndDate=pl.when(rec).then(pl.col("pay_period_end")).otherwise(None),
            earningPeriodStartDate=pl.col("earning_period_start"), earningPeriodEndDate=pl.col("earning_period_end"),
            unjustEnrichment=pl.lit(None, pl.String), noMoney=pl.lit(None, pl.String), oneOff=pl.lit(None, pl.String),
            latauspvm=pl.lit(extraction))
        del y
        files += [write_frame(d, folder / f"TAX_INCOMES_delivery_{year}", fmt),
                  write_frame(r, folder / f"TAX_INCOMES_report_{year}", fmt),
                  write_frame(t, folder / f"TAX_INCOMES_transactioninfo_{year}", fmt)]
    return files


def write_tax_benefit(br: pl.DataFrame | pl.LazyFrame, out: Path, fmt: str, extraction: dt.date) -> list[Path]:
    """TAX_BENEFIT delivery / report / transactioninfo (one report per benefit payment), per payment year."""
    lf = br.lazy()
    folder = out / "tax_benefit"
    files = []
    for year in _years(lf, "payment_date"):
        y = lf.filter(pl.col("payment_date").dt.year() == year).collect()
        y = y.sort("person_id", "payment_date", "benefit_type").pipe(_numbered, "repId", year * 10**8 + 1)
        payer = pl.when(pl.col("benefit_type") == "earnings_related_allowance").then(pl.lit("YFUND")) \
            .otherwise(pl.lit("YKELA"))
        y = y.with_columns(payerIdType1_s=payer)
        dkey = ["payerIdType1_s", "payment_date"]
        dels = y.select(dkey).unique().sort(dkey).pipe(_numbered, "delId", year * 10**7 + 1)
        y = y.join(dels, on=dkey, how="left")
        files += [
            write_frame(dels.select("delId", "payerIdType1_s", paymentDate=pl.col("payment_date"),
                                    latauspvm=pl.lit(extraction)), folder / f"TAX_BENEFIT_delivery_{year}", fmt),
            write_frame(y.select("repId", "delId", IncomeEarnerHid_e=hid(), reportVersion=pl.lit(1, pl.Int32),
                                 latauspvm=pl.lit(extraction)), folder / f"TAX_BENEFIT_report_{year}", fmt),
            write_frame(y.select(trxId=pl.col("repId"), repId=pl.col("repId"),
                                 transactionCode=pl.col("benefit_type").replace_strict(BENEFIT_CODES,
                                                                                      return_dtype=pl.Int32),
                                 amount=pl.col("amount_eur"), earningPeriodStartDate=pl.col("period_start"),
                                 earningPeriodEndDate=pl.col("period_end"), recovery=pl.lit(None, pl.String)),
                        folder / f"TAX_BENEFIT_transactioninfo_{year}", fmt),
        ]
    return files


def write_fiona(reg: dict[str, pl.DataFrame], out: Path, extraction: dt.date, fmt: str = "parquet") -> list[Path]:
    """Every table in the FIONA layout (see the module doc); returns the files written."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}; expected one of {FORMATS}")
    files = write_jobseeker_register(reg, out, fmt, extraction)
    files += write_tax_incomes(reg["earnings_reports"], out, fmt, extraction)
    if "benefit_reports" in reg:
        files += write_tax_benefit(reg["benefit_reports"], out, fmt, extraction)
    return files


__all__ = ["BENEFIT_CODES", "FORMATS", "hid", "valid_latest", "write_fiona", "write_frame", "yid"]
