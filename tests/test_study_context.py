"""StudyContext facts the designs read."""

from __future__ import annotations

import datetime as dt

import ibis
import polars as pl

from impact.months import month_index
from impact.study.context import StudyContext


def _ctx(panel_months: list[int], payments: list[dt.date]) -> StudyContext:
    panel = ibis.memtable(pl.DataFrame({"person_id": [1] * len(panel_months), "month": panel_months,
                                        "employed": [True] * len(panel_months), "subsidised": [False] * len(panel_months),
                                        "subsidised_eur": [0.0] * len(panel_months),
                                        "earnings_eur": [100.0] * len(panel_months)}).to_pandas())
    reports = ibis.memtable(pl.DataFrame({"payment_date": payments}).to_pandas())
    return StudyContext(cfg=None, registers_dir=None, con=None, tables={"earnings_reports": reports}, persons=None,
                        spells=None, services=None, outcomes=None, panel=panel, population=None)


def test_first_paid_month_is_the_first_payment_not_pay_allocated_back():
    """A June holiday bonus allocated back to its earning period (from April of the year before) starts the panel
    before the registers hold anyone's whole pay; designs read histories from the first payment's month."""
    first = month_index(dt.date(2016, 1, 15))
    ctx = _ctx([first - 9, first, first + 1], [dt.date(2016, 1, 15), dt.date(2016, 6, 30)])
    assert ctx.first_paid_month == first
    # a panel that starts after the first payment keeps its own start
    assert _ctx([first + 2, first + 3], [dt.date(2016, 1, 15)]).first_paid_month == first + 2
