"""A tiny, hand-built VALID register folder (all five tables) for tests.

``valid_tables()`` gives the tables as polars frames in the contract dtypes;
``write_register_folder(folder, fmt)`` writes them as Parquet or CSV. Tests break one thing
at a time. The folder passes validation with no errors and no warnings.

Content: four persons; five closed job-seeking spells (person 1 has two, in sequence);
three closed services; earnings reports with a replacement (R-1), a cancellation (R-3) and
a recovery row (R-4); three benefit payments; the area classification (three
municipalities in two employment areas). ``write_register_folder`` also writes the delivery
manifest (extraction date :data:`EXTRACTION`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from impact.registers.schema import CONTRACTS

D = date
EXTRACTION = date(2022, 12, 31)


def _frame(name: str, data: dict) -> pl.DataFrame:
    """A frame in the contract's dtypes; optional columns not given are null."""
    n = len(next(iter(data.values())))
    optional = {c.name: [None] * n for c in CONTRACTS[name].columns if c.optional and c.name not in data}
    return pl.DataFrame({**data, **optional}, schema=CONTRACTS[name].polars_schema)


def valid_tables() -> dict[str, pl.DataFrame]:
    """All five register tables, valid and in the contract dtypes."""
    persons = _frame("persons", {
        "person_id": [1, 2, 3, 4],
        "birth_year": [1980, 1995, 1972, 2001],
        "sex": ["F", "M", "F", "M"],
        "education": ["basic", "upper_secondary", "tertiary", "basic"],
        "language": ["fi", "sv", "other", "fi"],
        "municipality": ["091", "049", "853", "091"],
        "employment_area": ["EA01", "EA01", "EA07", "EA01"],
    })
    spells = _frame("jobseeking_spells", {
        "person_id": [1, 1, 2, 3, 4],
        "spell_id": [11, 12, 13, 14, 15],
        "start_date": [D(2020, 1, 6), D(2021, 2, 1), D(2020, 3, 2), D(2020, 5, 4), D(2021, 9, 1)],
        "end_date": [D(2020, 6, 30), D(2021, 5, 31), D(2020, 12, 31), D(2021, 1, 15), D(2022, 3, 31)],
        "status_at_start": [2, 2, 3, 2, 5],
        "end_reason": ["03", "01", "04", "06", "10"],
        "segment": ["01", "02", "03", "00", "05"],
        "municipality": ["091", "091", "049", "853", "091"],
    })
    services = _frame("service_spells", {
        "person_id": [1, 2, 3],
        "service_id": [21, 22, 23],
        "service_type": ["training", "pay_subsidy", "coaching"],
        "subtype": ["preparatory", None, None],
        "start_date": [D(2020, 2, 3), D(2021, 1, 4), D(2020, 6, 1)],
        "end_date": [D(2020, 5, 29), D(2021, 6, 30), D(2020, 8, 31)],
        "end_reason": [1, 2, 3],
        "provider_id": ["P1", None, "P7"],
        "course_id": ["C1", None, None],
        "cost_eur": [3200.0, 5400.0, 800.0],
        "employer_sector": [None, 4, None],
    })
    earnings = _frame("earnings_reports", {
        "report_id": [101, 101, 102, 103, 104, 105, 106],
        "report_ref": ["R-1", "R-1", "R-1", "R-2", "R-3", "R-3", "R-4"],
        "version": [1, 1, 2, 1, 1, 2, 1],
        "action": ["new", "new", "replace", "new", "new", "cancel", "new"],
        "person_id": [1, 1, 1, 2, 3, 3, 1],
        "payer_id": [900, 900, 900, 901, 902, 902, 900],
        "payment_date": [D(2020, 7, 31), D(2020, 7, 31), D(2020, 7, 31), D(2021, 3, 15),
                         D(2021, 2, 26), D(2021, 2, 26), D(2020, 9, 30)],
        "pay_period_start": [D(2020, 7, 1), D(2020, 7, 1), D(2020, 7, 1), D(2021, 2, 1),
                             D(2021, 2, 1), D(2021, 2, 1), D(2020, 9, 1)],
        "pay_period_end": [D(2020, 7, 31), D(2020, 7, 31), D(2020, 7, 31), D(2021, 2, 28),
                           D(2021, 2, 28), D(2021, 2, 28), D(2020, 9, 30)],
        "earning_period_start": [D(2020, 7, 1), None, D(2020, 7, 1), None, None, None, None],
        "earning_period_end": [D(2020, 7, 31), None, D(2020, 7, 31), None, None, None, None],
        "income_type": [201, 302, 201, 201, 201, 201, 201],
        "amount_eur": [2500.0, 300.0, 2600.0, 1800.0, 2100.0, 2100.0, -200.0],
        "subsidised": [False, False, False, True, False, False, False],
        "recovery": [False, False, False, False, False, False, True],
        "orig_payment_date": [None, None, None, None, None, None, D(2020, 7, 31)],
    })
    benefits = _frame("benefit_reports", {
        "person_id": [1, 2, 4],
        "benefit_type": ["labour_market_subsidy", "basic_allowance", "earnings_related_allowance"],
        "payment_date": [D(2020, 3, 5), D(2020, 4, 6), D(2021, 10, 5)],
        "period_start": [D(2020, 2, 1), D(2020, 3, 2), D(2021, 9, 1)],
        "period_end": [D(2020, 2, 29), D(2020, 3, 31), D(2021, 9, 30)],
        "amount_eur": [730.5, 612.0, 1450.25],
    })
    areas = _frame("areas", {"municipality": ["049", "091", "853"], "employment_area": ["EA01", "EA01", "EA07"]})
    return {"persons": persons, "jobseeking_spells": spells, "service_spells": services,
            "earnings_reports": earnings, "benefit_reports": benefits, "areas": areas}


def write_register_folder(folder: str | Path, fmt: str = "parquet",
                          tables: dict[str, pl.DataFrame] | None = None,
                          extraction_date: date | None = EXTRACTION) -> Path:
    """Write ``tables`` (default: :func:`valid_tables`) to ``folder`` as Parquet or CSV, and the
    delivery manifest (``extraction_date`` None: none)."""
    from impact.registers.delivery import write_delivery

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if extraction_date is not None:
        write_delivery(folder, extraction_date, "test fixture")
    for name, df in (valid_tables() if tables is None else tables).items():
        if fmt == "csv":
            df.write_csv(folder / f"{name}.csv")
        else:
            df.write_parquet(folder / f"{name}.parquet")
    return folder
