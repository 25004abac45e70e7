"""Each earnings-panel rule on a tiny hand-built register, answers worked out by hand."""

from __future__ import annotations

import ibis
import polars as pl
import pytest

from impact.outcomes import OutcomeConfig, earnings_panel
from impact.outcomes.panel import REPORT_RULES, allocated_rows
from tests.reference_outcomes import D, frame, report

SPELL_PERSONS = [1, 2, 3]


def run(reports: list[dict], **cfg) -> tuple[dict, dict, pl.DataFrame]:
    """Panel of the reports: ({(person, 'YYYY-MM'): earnings}, exclusions, full panel)."""
    c = OutcomeConfig(**cfg)
    months = (2020 * 12, 2023 * 12)
    sp = ibis.memtable(pl.DataFrame({"person_id": SPELL_PERSONS}))
    panel, excl = earnings_panel(ibis.memtable(frame("earnings_reports", reports)), c, months, sp)
    p = panel.to_polars().with_columns(
        ym=(pl.col("month") // 12).cast(pl.String) + "-" + (pl.col("month") % 12 + 1).cast(pl.String).str.zfill(2))
    earn = {(r["person_id"], r["ym"]): round(r["earnings_eur"], 4) for r in p.iter_rows(named=True)}
    ex = dict(zip(*excl.to_polars().select("rule", "rows").to_dict(as_series=False).values()))
    return earn, ex, p


def days(d) -> int:
    return (d - D(1970, 1, 1)).days


def status(p: pl.DataFrame, col: str) -> dict:
    return {(r["person_id"], r["ym"]): r[col] for r in p.iter_rows(named=True)}


def test_arrears_pay_goes_to_the_month_worked_not_the_month_paid():
    r = [report(1, D(2021, 7, 10), D(2021, 6, 1), D(2021, 6, 30), 2500.0)]
    earn, _, p = run(r, allocation="pay_period")
    assert earn == {(1, "2021-06"): 2500.0}
    assert status(p, "employed") == {(1, "2021-06"): True}
    earn, _, _ = run(r, allocation="payment")
    assert earn == {(1, "2021-07"): 2500.0}


def test_two_payers_add_up_to_the_floor():
    june = (D(2021, 6, 1), D(2021, 6, 30))
    r = [report(1, D(2021, 6, 30), *june, 400.0, payer=11), report(1, D(2021, 6, 28), *june, 300.0, payer=12),
         report(2, D(2021, 6, 30), *june, 400.0, payer=11)]
    earn, _, p = run(r)
    assert earn == {(1, "2021-06"): 700.0, (2, "2021-06"): 400.0}
    assert status(p, "employed") == {(1, "2021-06"): True, (2, "2021-06"): False}


def test_replacement_report_keeps_only_the_latest_version():
    june = (D(2021, 6, 1), D(2021, 6, 30))
    r = [report(1, D(2021, 6, 30), *june, 2000.0, ref="A", version=1),
         report(1, D(2021, 6, 30), *june, 2500.0, ref="A", version=2, action="replace"),
         # the same reference at another payer is another report
         report(1, D(2021, 6, 30), *june, 100.0, ref="A", version=1, payer=2)]
    earn, ex, _ = run(r)
    assert earn == {(1, "2021-06"): 2600.0}
    assert ex == {"superseded_version": 1}


def test_cancelled_report_is_dropped_with_all_its_versions():
    june = (D(2021, 6, 1), D(2021, 6, 30))
    r = [report(1, D(2021, 6, 30), *june, 1000.0, ref="B", version=1),
         report(1, D(2021, 6, 30), *june, 1000.0, ref="B", version=2, action="cancel"),
         report(2, D(2021, 6, 30), *june, 900.0, ref="C")]
    earn, ex, _ = run(r)
    assert earn == {(2, "2021-06"): 900.0}
    assert ex == {"superseded_version": 1, "cancelled_report": 1}


@pytest.mark.parametrize("allocation", ["pay_period", "payment", "earning_period"])
def test_recovery_is_netted_against_the_period_it_recovers(allocation):
    march = (D(2021, 3, 1), D(2021, 3, 31))
    r = [report(1, D(2021, 3, 31), *march, 3000.0),
         report(1, D(2021, 5, 15), *march, -1000.0, recovery=True, orig_payment_date=D(2021, 3, 31))]
    earn, _, p = run(r, allocation=allocation)
    assert earn == {(1, "2021-03"): 2000.0}  # nothing in May, where the recovery was paid back
    assert status(p, "employed") == {(1, "2021-03"): True}


def test_holiday_bonus_follows_its_earnings_period():
    june = (D(2021, 6, 1), D(2021, 6, 30))
    r = [report(1, D(2021, 6, 30), *june, 2000.0),
         report(1, D(2021, 6, 30), *june, 1000.0, income_type=213, ep=(D(2021, 1, 1), D(2021, 6, 30)))]
    earn, _, p = run(r)  # default: earnings period where present; Jan-Jun 2021 has 181 days
    want = {(1, "2021-01"): 1000 * 31 / 181, (1, "2021-02"): 1000 * 28 / 181, (1, "2021-03"): 1000 * 31 / 181,
            (1, "2021-04"): 1000 * 30 / 181, (1, "2021-05"): 1000 * 31 / 181,
            (1, "2021-06"): 2000 + 1000 * 30 / 181}
    assert earn == {k: round(v, 4) for k, v in want.items()}
    assert sum(status(p, "employed").values()) == 1  # the bonus alone does not make January a work month
    earn, _, _ = run(r, allocation="pay_period")
    assert earn == {(1, "2021-06"): 3000.0}


def test_semi_monthly_payer():
    r = [report(1, D(2021, 6, 20), D(2021, 6, 1), D(2021, 6, 15), 400.0),
         report(1, D(2021, 7, 5), D(2021, 6, 16), D(2021, 6, 30), 400.0)]
    earn, _, p = run(r)
    assert earn == {(1, "2021-06"): 800.0}
    assert status(p, "employed") == {(1, "2021-06"): True}
    earn, _, p = run(r, allocation="payment")  # the second pay day falls in July
    assert earn == {(1, "2021-06"): 400.0, (1, "2021-07"): 400.0}
    assert status(p, "employed") == {(1, "2021-06"): False, (1, "2021-07"): False}


def test_holiday_compensation_spread_or_excluded():
    sept = (D(2021, 9, 1), D(2021, 9, 30))
    r = [report(1, D(2021, 9, 30), *sept, 1200.0, income_type=234, ep=(D(2021, 4, 1), D(2021, 9, 30)))]
    earn, ex, _ = run(r)  # Apr-Sep 2021: 183 days
    want = {"2021-04": 30, "2021-05": 31, "2021-06": 30, "2021-07": 31, "2021-08": 31, "2021-09": 30}
    assert earn == {(1, k): round(1200 * d / 183, 4) for k, d in want.items()}
    assert ex == {}
    earn, ex, _ = run(r, holiday_compensation="exclude")
    assert earn == {}
    assert ex == {"holiday_compensation_excluded": 1}


def test_allocation_rules_on_a_period_across_months():
    r = [report(1, D(2021, 2, 20), D(2021, 1, 16), D(2021, 2, 15), 3100.0)]  # 31 days: 16 in Jan, 15 in Feb
    earn, _, p = run(r, allocation="pay_period")
    assert earn == {(1, "2021-01"): 1600.0, (1, "2021-02"): 1500.0}
    assert status(p, "first_work_day") == {(1, "2021-01"): days(D(2021, 1, 16)), (1, "2021-02"): days(D(2021, 2, 1))}
    earn, _, p = run(r, allocation="payment")
    assert earn == {(1, "2021-02"): 3100.0}
    assert status(p, "first_work_day") == {(1, "2021-02"): None}  # no days from a payment date


def test_allocated_rows_are_what_the_panel_sums():
    # 31 days over two months, and a dropped row (income type 312): one pseudo row counting it
    r = [report(1, D(2021, 2, 20), D(2021, 1, 16), D(2021, 2, 15), 3100.0),
         report(1, D(2021, 2, 20), D(2021, 1, 16), D(2021, 2, 15), 45.0, income_type=312)]
    sp = ibis.memtable(pl.DataFrame({"person_id": SPELL_PERSONS}))
    a = allocated_rows(ibis.memtable(frame("earnings_reports", r)), OutcomeConfig(allocation="pay_period"),
                       (2020 * 12, 2023 * 12), sp).to_polars().sort("month")
    rule = [name for name, _, _ in REPORT_RULES].index("income_type_not_counted")
    assert a.select("person_id", "month", "amount").rows() == [
        (None, -1 - rule, 1.0), (1, 2021 * 12, 1600.0), (1, 2021 * 12 + 1, 1500.0)]
    assert a["work_day"].to_list() == [0, days(D(2021, 1, 16)), days(D(2021, 2, 1))]


def test_earning_period_falls_back_to_pay_period():
    r = [report(1, D(2021, 2, 20), D(2021, 1, 16), D(2021, 2, 15), 3100.0),
         report(1, D(2021, 2, 20), D(2021, 2, 1), D(2021, 2, 28), 280.0, income_type=203,
                ep=(D(2021, 3, 1), D(2021, 3, 28)))]
    earn, _, _ = run(r, allocation="earning_period")
    assert earn == {(1, "2021-01"): 1600.0, (1, "2021-02"): 1500.0, (1, "2021-03"): 280.0}


def test_subsidised_employment_is_its_own_status():
    june = (D(2021, 6, 1), D(2021, 6, 30))
    r = [report(1, D(2021, 6, 30), *june, 2000.0, subsidised=True),
         report(2, D(2021, 6, 30), *june, 2000.0, subsidised=True), report(2, D(2021, 6, 30), *june, 600.0)]
    _, _, p = run(r)
    assert status(p, "employed") == {(1, "2021-06"): False, (2, "2021-06"): True}
    assert status(p, "subsidised") == {(1, "2021-06"): True, (2, "2021-06"): True}
    assert status(p, "subsidised_eur") == {(1, "2021-06"): 2000.0, (2, "2021-06"): 2000.0}


def test_income_types_and_persons_without_spells_are_counted_exclusions():
    june = (D(2021, 6, 1), D(2021, 6, 30))
    r = [report(1, D(2021, 6, 30), *june, 900.0), report(1, D(2021, 6, 30), *june, 45.0, income_type=312),
         report(1, D(2021, 6, 30), *june, 300.0, income_type=301),
         report(99, D(2021, 6, 30), *june, 900.0)]
    earn, ex, _ = run(r)
    assert earn == {(1, "2021-06"): 900.0}
    assert ex == {"income_type_not_counted": 2, "person_without_spells": 1}
    earn, ex, _ = run(r, income_types=(201, 301))
    assert earn == {(1, "2021-06"): 1200.0}


def test_employment_floor_and_last_week_rule():
    r = [report(1, D(2021, 6, 30), D(2021, 6, 20), D(2021, 6, 30), 300.0),  # covers the last week
         report(2, D(2021, 6, 15), D(2021, 6, 1), D(2021, 6, 10), 300.0),   # does not
         report(3, D(2021, 6, 30), D(2021, 6, 1), D(2021, 6, 30), 499.996)]  # at the floor up to float noise
    _, _, p = run(r)
    assert status(p, "employed") == {(1, "2021-06"): False, (2, "2021-06"): False, (3, "2021-06"): True}
    _, _, p = run(r, employment_rule="last_week")
    assert status(p, "employed") == {(1, "2021-06"): True, (2, "2021-06"): False, (3, "2021-06"): True}
    _, _, p = run(r, employment_rule="floor_or_last_week", employment_floor_eur=250.0)
    assert status(p, "employed") == {(1, "2021-06"): True, (2, "2021-06"): True, (3, "2021-06"): True}


def test_rows_with_no_month_to_go_to_are_counted_not_lost():
    """A period ending before it starts, and a period outside the run's month range, are
    counted exclusions; the other rows are unaffected."""
    good = report(1, D(2021, 6, 30), D(2021, 6, 1), D(2021, 6, 30), 1000.0)
    backwards = report(1, D(2021, 7, 30), D(2021, 7, 31), D(2021, 7, 1), 900.0)
    early = report(2, D(2019, 12, 31), D(2019, 12, 1), D(2019, 12, 31), 800.0)  # before the 2020-01 start
    straddling = report(3, D(2020, 1, 31), D(2019, 7, 1), D(2020, 6, 30), 1200.0)  # starts before it
    earn, ex, _ = run([good, backwards, early, straddling])
    assert earn == {(1, "2021-06"): 1000.0}
    assert ex == {"period_end_before_start": 1, "outside_month_range": 2}
    # Under payment allocation the backwards period is no obstacle; the early payment still is.
    earn, ex, _ = run([good, backwards, early], allocation="payment")
    assert earn == {(1, "2021-06"): 1000.0, (1, "2021-07"): 900.0}
    assert ex == {"outside_month_range": 1}


def test_a_period_spanning_the_whole_month_range_is_spread_over_every_month():
    """The (span, offset) table covers the longest span the month range allows."""
    whole = report(1, D(2023, 1, 31), D(2020, 1, 1), D(2023, 1, 31), 3700.0)  # 37 months, 1127 days
    earn, ex, p = run([whole])
    assert len(earn) == 37 and ex == {}
    assert abs(p["earnings_eur"].sum() - 3700.0) < 1e-6
    assert earn[(1, "2020-02")] == round(3700.0 * 29 / 1127, 4)


def test_months_must_be_a_pair_of_month_indexes():
    """The old calling convention (a month table) gets a clear error, not an Ibis traceback."""
    from impact.outcomes import month_table

    c = OutcomeConfig()
    reports = ibis.memtable(frame("earnings_reports", [report(1, D(2021, 6, 30), D(2021, 6, 1), D(2021, 6, 30), 1.0)]))
    for bad in (month_table(2020 * 12, 2023 * 12), (2023 * 12, 2020 * 12), [2020 * 12, 2023 * 12]):
        with pytest.raises(TypeError, match="months must be a \\(first, last\\) pair"):
            earnings_panel(reports, c, bad)
