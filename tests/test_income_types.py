"""The income-type classification table: official codes and labels (checked against the code
list's own text), the toolkit's categories, and the earnings the employment rule counts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from impact.outcomes.config import OutcomeConfig
from impact.registers.income_types import CATEGORIES, codes_in, employment_income_types, income_type_table
from impact.registers.schema import INCOME_TYPES, WAGE_INCOME_TYPES

CODE_LIST = Path(__file__).parent / "data" / "incomes_register" / "palkat-koodistot-tulolajit-2022.txt"


def _official() -> dict[int, tuple[int, str, str]]:
    """code -> (line, label, flag columns) from table 1.1 of the official code list's text."""
    lines = CODE_LIST.read_text(encoding="utf-8").split("\n")
    start = next(i for i, s in enumerate(lines) if "1.1         Tulolajin koodi (TransactionCode)" in s)
    end = next(i for i, s in enumerate(lines) if "1.2       Tulolajien ohjaussäännöt" in s and i > start)
    out = {}
    for i in range(start, end):
        m = re.match(r"^\s*(\d{3})\s{2,}(.+?)(\s{2,}(X.*))?$", lines[i].replace("\x0c", ""))
        if m:
            out[int(m.group(1))] = (i + 1, m.group(2).strip(), m.group(4) or "")
    return out


def test_table_holds_every_official_code_with_its_official_label_and_line():
    table, official = income_type_table(), _official()
    assert sorted(table) == sorted(official) and len(table) == 117
    for code, (line, label, _flags) in official.items():
        t = table[code]
        assert t.source_line == line, code
        assert t.label_fi.startswith(label), (code, t.label_fi, label)  # 321 and 324 continue on the next line


def test_rule_flags_follow_the_code_list_columns():
    table, official = income_type_table(), _official()
    for code, (_line, _label, flags) in official.items():
        xs = [i for i, c in enumerate(flags) if c == "X"]
        rel = [x - xs[0] for x in xs]
        assert table[code].negative_allowed == (4 in rel), code
        assert table[code].recovery_prohibited == (8 in rel), code
    assert table[402].negative_allowed and table[402].recovery_prohibited  # withholding: both
    assert table[201].method == "itemised" and table[101].method == "total" and table[311].method == "separate"


@pytest.mark.parametrize("code,official,category", [
    (302, "Asuntolainan korkoetu", "benefit_in_kind"),        # interest-rate benefit of a housing loan
    (304, "Autoetu", "benefit_in_kind"),                      # car benefit
    (311, "Kilometrikorvaus (verovapaa)", "reimbursement"),   # tax-exempt kilometre allowance
    (312, "Kunnaneläinlääkärin toimenpidepalkkio", "fee"),     # municipal veterinarian's fee
    (319, "Omaishoitajan palkkio", "fee"),                    # informal carer's fee
    (401, "Autoedusta peritty korvaus", "deduction"),         # compensation collected for a car benefit
])
def test_labels_that_were_wrong_now_say_what_the_code_list_says(code, official, category):
    t = income_type_table()[code]
    assert t.label_fi == official and t.category == category and not t.employment
    assert INCOME_TYPES[code] == t.label_en


def test_employment_rule_counts_pay_and_holiday_pay_only():
    emp = set(employment_income_types())
    assert set(WAGE_INCOME_TYPES) == emp == set(OutcomeConfig().income_types)
    assert {101, 201, 213, 234, 235} <= emp
    # not pay for work: subtotals of 101, termination compensations, fees, reimbursements, benefits in
    # kind, substitute payers' wages (the employer reports them too), unjust enrichment, deductions
    assert not emp & {102, 103, 104, 105, 106, 208, 209, 210, 214, 215, 217, 229, 231, 311, 312, 319, 321, 359, 401}
    assert all(c < 300 for c in emp)
    assert set(codes_in(["pay", "holiday_pay"])) == emp
    assert {t.category for t in income_type_table().values()} == set(CATEGORIES)
    with pytest.raises(ValueError, match="unknown income-type categories"):
        codes_in(["wages"])
