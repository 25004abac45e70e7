"""Data contracts of the input registers.

Shaped after the research versions of the Finnish registers (Statistics Finland FIONA
modules of the job-seeker register and the Incomes Register; see
``shared/reference/domain.md``). One folder per extract, one file per table, Parquet or CSV
with the table's name (``persons.parquet`` or ``persons.csv``).

Each table is described by a :class:`TableContract`: its columns with polars dtypes, which
may be null, which are optional (the whole column may be absent), its primary key, and the
code lists its coded columns must come from. Validation (``impact.registers.validate``)
checks a folder against these contracts; the generator (``impact.simulate``) writes
exactly these dtypes.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

import polars as pl

from impact.registers.income_types import employment_income_types, income_type_table

# ---------------------------------------------------------------------------------------
# Code lists
# ---------------------------------------------------------------------------------------

#: Labour-market status at the start of a job-seeking spell (työllisyyskoodi, 0-9).
STATUS_CODES: dict[int, str] = {
    0: "subsidised employment",
    1: "employed, open labour market",
    2: "unemployed",
    3: "laid off",
    4: "short working week",
    5: "outside the labour force",
    6: "unemployment pension (legacy)",
    7: "in an employment-promoting service",
    8: "in education (labour market training, self-motivated study)",
    9: "unknown",
}

#: End reason of a job-seeking spell (classification tyottomy_3_2012_01_01, "00"-"13").
END_REASONS: dict[str, str] = {
    "00": "placed in subsidised employment",
    "01": "placed by PES in an open labour market job",
    "02": "lay-off or short week ended",
    "03": "found a job by oneself (open market)",
    "04": "started labour market training",
    "05": "left the labour force",
    "06": "other reason or unknown",
    "07": "unemployment pension (legacy)",
    "08": "started other education",
    "09": "work or job search in the EU/EEA",
    "10": "did not renew the job search",
    "11": "started coaching or a trial",
    "12": "started rehabilitative work activity",
    "13": "started self-motivated study with benefit",
}
#: End reasons that mean open-market employment.
OPEN_MARKET_END_REASONS = ("01", "03")

#: End reason of a service spell (placement end reason, psyy 0-9).
SERVICE_END_REASONS: dict[int, str] = {
    0: "part of the measure ended",
    1: "fixed term ended",
    2: "got work at the placement employer",
    3: "got other work",
    4: "started education",
    5: "dismissed",
    6: "other or unknown",
    7: "interrupted and became unemployed",
    8: "other (reserved)",
    9: "unknown",
}

#: Service types (DESIGN.md).
SERVICE_TYPES: dict[str, str] = {
    "training": "labour market training",
    "pay_subsidy": "pay subsidy",
    "startup_grant": "start-up grant",
    "coaching": "coaching / job-search assistance",
    "work_trial": "work trial",
    "self_motivated_study": "self-motivated study with unemployment benefit",
    "rehabilitative_work": "rehabilitative work activity",
    "integration_training": "integration training",
}

#: Service line segment (palvelulinja, segmenttikoodi).
SEGMENTS: dict[str, str] = {
    "00": "no need for expert services",
    "01": "job-matching and business services",
    "02": "competence development services",
    "03": "supported employment services",
    "04": "benefit client",
    "05": "multisectoral joint service (TYP)",
}

#: Employer sector of a subsidised placement.
EMPLOYER_SECTORS: dict[int, str] = {
    1: "state",
    2: "municipality",
    3: "private employer or association",
    4: "enterprise",
    5: "household",
    6: "joint municipal authority",
}
#: Sectors counted as the private (firm) pay subsidy; the rest are public / third sector.
PRIVATE_SECTORS = (4, 5)

#: Wage income types of the Incomes Register (TransactionCode 101-420) with English glosses of the
#: official labels; the official labels, flags and the toolkit's classification are in
#: :mod:`impact.registers.income_types` (table ``mappings/income_types_2022.toml``).
INCOME_TYPES: dict[int, str] = {c: t.label_en for c, t in income_type_table().items()}
#: Income types counted as earnings by the default employment rule: money wages for work
#: (101 and the itemised 2xx pay types) and holiday pay (213, 234); not termination
#: compensations, fees, reimbursements, benefits in kind, equity or deductions.
WAGE_INCOME_TYPES = employment_income_types()
HOLIDAY_BONUS = 213
HOLIDAY_COMPENSATION = 234

#: Actions of an earnings report.
REPORT_ACTIONS = ("new", "replace", "cancel")

#: Benefit types of ``benefit_reports``.
BENEFIT_TYPES: dict[str, str] = {
    "labour_market_subsidy": "labour market subsidy (Kela)",
    "basic_allowance": "basic unemployment allowance (Kela)",
    "earnings_related_allowance": "earnings-related unemployment allowance (fund)",
    "startup_grant": "start-up grant",
    "other": "other benefit",
}

#: Result of a job offer (KEHA_URA tuloskoodi; 01, 02, 04, 05 as in the register, 03 and 06 [inference]).
OFFER_RESULTS: dict[str, str] = {
    "01": "placed: the job seeker was hired",
    "02": "vacancy filled by another applicant",
    "03": "vacancy cancelled",
    "04": "employer rejects the job seeker",
    "05": "job seeker rejects the offer",
    "06": "other or no result recorded",
}
#: Result of a candidate search (the PES proposes job seekers to an employer) [inference].
SEARCH_RESULTS: dict[str, str] = {
    "01": "vacancy filled with a proposed candidate",
    "02": "vacancy filled otherwise",
    "03": "vacancy not filled or cancelled",
    "06": "other or no result recorded",
}
#: Plan types of ``integration_plans`` (kotoutumissuunnitelma; KEHA_URA plan type 04) [inference].
INTEGRATION_PLAN_TYPES: dict[str, str] = {
    "initial_assessment": "initial assessment (alkukartoitus)",
    "integration_plan": "integration plan (kotoutumissuunnitelma)",
    "revised_plan": "revised integration plan",
}
#: Industry of a payer: sections (letter level) of the Standard Industrial Classification TOL 2008.
INDUSTRIES: dict[str, str] = {
    "A": "agriculture, forestry and fishing",
    "B": "mining and quarrying",
    "C": "manufacturing",
    "D": "electricity, gas, steam and air conditioning supply",
    "E": "water supply; sewerage, waste management",
    "F": "construction",
    "G": "wholesale and retail trade",
    "H": "transportation and storage",
    "I": "accommodation and food service activities",
    "J": "information and communication",
    "K": "financial and insurance activities",
    "L": "real estate activities",
    "M": "professional, scientific and technical activities",
    "N": "administrative and support service activities",
    "O": "public administration and defence",
    "P": "education",
    "Q": "human health and social work activities",
    "R": "arts, entertainment and recreation",
    "S": "other service activities",
    "T": "activities of households as employers",
    "U": "activities of extraterritorial organisations",
}

EDUCATION_LEVELS = ("basic", "upper_secondary", "tertiary")

# ---------------------------------------------------------------------------------------
# Plausibility bounds (validation errors outside them; see docs/validation.md)
# ---------------------------------------------------------------------------------------

#: Every date of every register lies in this range (a date outside is a typo or a placeholder
#: such as 11.11.2222 that the importer should have mapped to null).
DATE_MIN = _dt.date(1950, 1, 1)
DATE_MAX = _dt.date(2100, 12, 31)
#: Birth years (a person born after the extraction date is an error too).
BIRTH_YEAR_MIN = 1900
BIRTH_YEAR_MAX = 2100
#: One income type on one earnings report, in EUR (absolute value).
AMOUNT_MAX_EUR = 10_000_000.0
#: One benefit payment, in EUR (absolute value).
BENEFIT_MAX_EUR = 1_000_000.0
#: The cost of one service spell, in EUR.
COST_MAX_EUR = 1_000_000.0
LANGUAGES = ("fi", "sv", "other")
SEXES = ("F", "M")


# ---------------------------------------------------------------------------------------
# Contracts
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One column of a table contract."""

    name: str
    dtype: pl.DataType
    nullable: bool = False
    optional: bool = False  # the whole column may be absent from the file
    codes: tuple | None = None  # allowed values (nulls aside)
    description: str = ""
    bounds: tuple | None = None  # (lowest, highest) plausible value, either may be None (numbers and dates)
    may_follow_extraction: bool = False  # a date that may lie after the extraction date (a period's end)


@dataclass(frozen=True)
class TableContract:
    """The contract of one register table."""

    name: str
    row: str  # what one row is
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool = True  # the table must be present in a register folder
    date_ranges: tuple[tuple[str, str], ...] = field(default=())  # (start, end) pairs, end >= start

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns}


PERSONS = TableContract(
    name="persons",
    row="a person",
    key=("person_id",),
    columns=(
        Column("person_id", pl.Int64()),
        Column("birth_year", pl.Int16(), bounds=(BIRTH_YEAR_MIN, BIRTH_YEAR_MAX)),
        Column("sex", pl.String(), codes=SEXES),
        Column("education", pl.String(), codes=EDUCATION_LEVELS),
        Column("language", pl.String(), codes=LANGUAGES),
        Column("municipality", pl.String(), description="3-digit municipality code"),
        Column("employment_area", pl.String(), description="employment area code, e.g. 'EA01'"),
    ),
)

JOBSEEKING_SPELLS = TableContract(
    name="jobseeking_spells",
    row="a job-seeking spell",
    key=("spell_id",),
    date_ranges=(("start_date", "end_date"),),
    columns=(
        Column("person_id", pl.Int64()),
        Column("spell_id", pl.Int64()),
        Column("start_date", pl.Date()),
        Column("end_date", pl.Date(), nullable=True, description="null: ongoing at extraction"),
        Column("status_at_start", pl.Int8(), codes=tuple(STATUS_CODES)),
        Column("end_reason", pl.String(), nullable=True, codes=tuple(END_REASONS),
               description="null while the spell is ongoing"),
        Column("segment", pl.String(), codes=tuple(SEGMENTS)),
        Column("municipality", pl.String()),
    ),
)

SERVICE_SPELLS = TableContract(
    name="service_spells",
    row="a service participation",
    key=("service_id",),
    date_ranges=(("start_date", "end_date"),),
    columns=(
        Column("person_id", pl.Int64()),
        Column("service_id", pl.Int64()),
        Column("service_type", pl.String(), codes=tuple(SERVICE_TYPES)),
        Column("subtype", pl.String(), nullable=True, optional=True,
               description="e.g. training 'preparatory'/'vocational'"),
        Column("start_date", pl.Date()),
        Column("end_date", pl.Date(), nullable=True, description="null: ongoing at extraction"),
        Column("end_reason", pl.Int8(), nullable=True, codes=tuple(SERVICE_END_REASONS)),
        Column("provider_id", pl.String(), nullable=True),
        Column("course_id", pl.String(), nullable=True),
        Column("cost_eur", pl.Float64(), bounds=(None, COST_MAX_EUR)),
        Column("employer_sector", pl.Int8(), nullable=True, codes=tuple(EMPLOYER_SECTORS)),
    ),
)

EARNINGS_REPORTS = TableContract(
    name="earnings_reports",
    row="one income type on one Incomes Register earnings payment report (one version)",
    key=("report_id", "income_type"),
    date_ranges=(("pay_period_start", "pay_period_end"), ("earning_period_start", "earning_period_end")),
    columns=(
        Column("report_id", pl.Int64(), description="id of this submitted report (version)"),
        Column("report_ref", pl.String(), description="payer's report reference; links versions"),
        Column("version", pl.Int16(), description="1 for the original, +1 per replacement/cancellation"),
        Column("action", pl.String(), codes=REPORT_ACTIONS),
        Column("person_id", pl.Int64()),
        Column("payer_id", pl.Int64()),
        Column("payment_date", pl.Date()),
        Column("pay_period_start", pl.Date(), may_follow_extraction=True),
        Column("pay_period_end", pl.Date(), may_follow_extraction=True),
        Column("earning_period_start", pl.Date(), nullable=True, optional=True, may_follow_extraction=True),
        Column("earning_period_end", pl.Date(), nullable=True, optional=True, may_follow_extraction=True),
        Column("income_type", pl.Int16(), codes=tuple(INCOME_TYPES)),
        Column("amount_eur", pl.Float64(), description="negative only on recovery rows",
               bounds=(-AMOUNT_MAX_EUR, AMOUNT_MAX_EUR)),
        Column("subsidised", pl.Boolean(), description="employed with state employment appropriations"),
        Column("recovery", pl.Boolean(), optional=True,
               description="a recovery (takaisinperintä) of pay for the pay period on the row"),
        Column("orig_payment_date", pl.Date(), nullable=True, optional=True,
               description="payment date of the recovered pay (recovery rows)"),
        # Flags of the Incomes Register transaction (TransactionBasic), written by the importers;
        # null where the source does not carry them.
        Column("unjust_enrichment", pl.Boolean(), nullable=True, optional=True,
               description="UnjustEnrichment: pay without legal grounds (perusteeton etu)"),
        Column("no_money", pl.Boolean(), nullable=True, optional=True,
               description="NoMoney: paid other than as money"),
        Column("one_off", pl.Boolean(), nullable=True, optional=True,
               description="OneOff: a one-off payment (kertakorvaus)"),
        Column("subsidy_reported", pl.Boolean(), nullable=True, optional=True,
               description="IncomeEarnerType 1 on the report: employed with state employment appropriations "
                           "(complementary data, rarely given); 'subsidised' is this or derived from pay-subsidy "
                           "spells"),
    ),
)

BENEFIT_REPORTS = TableContract(
    name="benefit_reports",
    row="a benefit payment",
    key=(),
    required=False,
    date_ranges=(("period_start", "period_end"),),
    columns=(
        Column("person_id", pl.Int64()),
        Column("benefit_type", pl.String(), codes=tuple(BENEFIT_TYPES)),
        Column("payment_date", pl.Date()),
        Column("period_start", pl.Date(), may_follow_extraction=True),
        Column("period_end", pl.Date(), may_follow_extraction=True),
        Column("amount_eur", pl.Float64(), bounds=(-BENEFIT_MAX_EUR, BENEFIT_MAX_EUR)),
    ),
)

# -- optional tables of the brokerage, integration and industry metrics (issue #10) -------

PAYERS = TableContract(
    name="payers",
    row="a payer (employer) of the Incomes Register",
    key=("payer_id",),
    required=False,
    columns=(
        Column("payer_id", pl.Int64(), description="payer_id of earnings_reports"),
        Column("industry", pl.String(), nullable=True, codes=tuple(INDUSTRIES),
               description="TOL 2008 section (letter A-U) from the business register; null: unknown"),
    ),
)

VACANCIES = TableContract(
    name="vacancies",
    row="a vacancy notified to the public employment service",
    key=("vacancy_id",),
    required=False,
    date_ranges=(("open_date", "close_date"),),
    columns=(
        Column("vacancy_id", pl.Int64()),
        Column("employer_id", pl.Int64(), description="the employer's payer_id in earnings_reports"),
        Column("open_date", pl.Date()),
        Column("close_date", pl.Date(), nullable=True, description="null: open at extraction"),
        Column("filled", pl.Boolean(), nullable=True, description="filled when closed; null while open"),
        Column("employment_area", pl.String()),
    ),
)

JOB_OFFERS = TableContract(
    name="job_offers",
    row="a job offer (työpaikkatarjous) of one vacancy to one job seeker",
    key=("offer_id",),
    required=False,
    columns=(
        Column("offer_id", pl.Int64()),
        Column("person_id", pl.Int64()),
        Column("offer_date", pl.Date()),
        Column("vacancy_id", pl.Int64()),
        Column("employer_id", pl.Int64(), description="the employer's payer_id in earnings_reports"),
        Column("search_id", pl.Int64(), nullable=True, optional=True,
               description="the candidate search in which the job seeker was proposed (null: a plain offer)"),
        Column("result_code", pl.String(), nullable=True, codes=tuple(OFFER_RESULTS),
               description="tuloskoodi; null: no result yet"),
    ),
)

CANDIDATE_SEARCHES = TableContract(
    name="candidate_searches",
    row="a candidate search (the PES looks for and proposes job seekers for one vacancy)",
    key=("search_id",),
    required=False,
    columns=(
        Column("search_id", pl.Int64()),
        Column("vacancy_id", pl.Int64()),
        Column("employer_id", pl.Int64()),
        Column("search_date", pl.Date()),
        Column("persons_proposed", pl.Int32(), bounds=(None, 100_000)),
        Column("result_code", pl.String(), nullable=True, codes=tuple(SEARCH_RESULTS)),
    ),
)

INTEGRATION_PLANS = TableContract(
    name="integration_plans",
    row="an integration plan (kotoutumissuunnitelma) or initial assessment of one person",
    key=("plan_id",),
    required=False,
    columns=(
        Column("plan_id", pl.Int64()),
        Column("person_id", pl.Int64()),
        Column("plan_date", pl.Date()),
        Column("plan_type", pl.String(), codes=tuple(INTEGRATION_PLAN_TYPES)),
    ),
)

#: The area classification of the delivery: which employment area each municipality belongs
#: to. Area and municipality codes of the other tables are checked against it
#: (:mod:`impact.registers.validate`); without it they are checked only for consistency.
AREAS = TableContract(
    name="areas",
    row="a municipality and the employment area it belongs to (the delivery's area classification)",
    key=("municipality",),
    required=False,
    columns=(
        Column("municipality", pl.String(), description="3-digit municipality code"),
        Column("employment_area", pl.String(), description="employment area code"),
    ),
)

CONTRACTS: dict[str, TableContract] = {
    c.name: c for c in (PERSONS, JOBSEEKING_SPELLS, SERVICE_SPELLS, EARNINGS_REPORTS, BENEFIT_REPORTS,
                        PAYERS, VACANCIES, JOB_OFFERS, CANDIDATE_SEARCHES, INTEGRATION_PLANS, AREAS)
}

#: Columns holding area codes, checked against ``areas`` when the delivery has it:
#: (table, column, column of ``areas``).
AREA_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("persons", "municipality", "municipality"),
    ("persons", "employment_area", "employment_area"),
    ("jobseeking_spells", "municipality", "municipality"),
    ("vacancies", "employment_area", "employment_area"),
)

#: Links between tables checked by validation: (table, column, referenced table, its column,
#: severity). A link is checked only when both tables are present (nulls are not checked).
FOREIGN_KEYS: tuple[tuple[str, str, str, str, str], ...] = (
    ("job_offers", "vacancy_id", "vacancies", "vacancy_id", "error"),
    ("job_offers", "search_id", "candidate_searches", "search_id", "error"),
    ("candidate_searches", "vacancy_id", "vacancies", "vacancy_id", "error"),
    ("vacancies", "employer_id", "payers", "payer_id", "warning"),
)
