"""The wage income types of the Incomes Register and the toolkit's classification of them.

The table (``impact/registers/mappings/income_types_2022.toml``) lists every ``TransactionCode``
101-420 of the official code list "Palkat – Koodistot – Tulolajit 2022" (Verohallinto,
Tulorekisteriyksikkö) with its official Finnish label, the reporting method, whether a
negative amount may be reported and whether unjust enrichment / recovery may not be
reported, plus the toolkit's ``category`` and whether the type counts as earnings for the
employment rule by default (``employment``: the ``pay`` and ``holiday_pay`` categories).
A new vintage of the code list is a new table file, not a code change.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

#: Categories of the classification, in the order the table documents them.
CATEGORIES = ("pay", "holiday_pay", "wage_subtotal", "termination_compensation", "fee", "substitute_payer_pay",
              "reimbursement", "benefit_in_kind", "equity", "other_income", "unjust_enrichment", "deduction")

DEFAULT_VINTAGE = "2022"


@dataclass(frozen=True)
class IncomeType:
    """One wage income type (``TransactionCode``) of the Incomes Register."""

    code: int
    label_fi: str  # the official label
    label_en: str  # our gloss of it
    category: str
    employment: bool  # counted as earnings by the default employment rule
    method: str  # "total" (100 series), "itemised" (200 series) or "separate" (300/400 series)
    negative_allowed: bool
    recovery_prohibited: bool
    source_line: int  # line of the code in the official code list's text extraction


@lru_cache(maxsize=None)
def income_type_table(vintage: str = DEFAULT_VINTAGE) -> dict[int, IncomeType]:
    """The classification table of one code-list vintage, by code.

    Raises
    ------
    ValueError
        No table for ``vintage``, or a row with an unknown category.
    """
    name = f"income_types_{vintage}.toml"
    path = resources.files("impact.registers").joinpath("mappings", name)
    if not path.is_file():
        raise ValueError(f"no income-type table for vintage {vintage!r} (expected impact/registers/mappings/{name})")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out: dict[int, IncomeType] = {}
    for row in data["income_type"]:
        t = IncomeType(**row)
        if t.category not in CATEGORIES:
            raise ValueError(f"{name}: income type {t.code} has unknown category {t.category!r}")
        out[t.code] = t
    return out


def employment_income_types(vintage: str = DEFAULT_VINTAGE) -> tuple[int, ...]:
    """Codes counted as earnings by the default employment rule (categories pay and holiday_pay)."""
    return tuple(c for c, t in income_type_table(vintage).items() if t.employment)


def codes_in(categories: tuple[str, ...] | list[str], vintage: str = DEFAULT_VINTAGE) -> tuple[int, ...]:
    """Codes of the given categories (e.g. ``("reimbursement",)``)."""
    bad = [c for c in categories if c not in CATEGORIES]
    if bad:
        raise ValueError(f"unknown income-type categories {bad}; expected some of {CATEGORIES}")
    return tuple(c for c, t in income_type_table(vintage).items() if t.category in categories)


__all__ = ["CATEGORIES", "IncomeType", "codes_in", "employment_income_types", "income_type_table"]
