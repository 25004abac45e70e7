"""The panel from the prepared layout (impact.outcomes.panel_blocks) equals the Ibis panel.

Two register folders: the generator's (3,000 persons; replacement and cancellation versions,
holiday pay, subsidised jobs) and the reference extract with every quirk the panel handles
(recoveries with original payment dates, persons without spells, reports missing earnings
periods). Each is run through both paths of ``compute_outcomes`` under several outcome
configs: the person x month panel, both unit tables and the exclusion log must agree (integers,
booleans, dates and nulls exactly; floats to 1e-9). Then: the layout is written by the
generator, a changed report file makes it stale (not used, said so), and tables that are not
the folder's own (filtered) are never answered from it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os

import numpy as np
import polars as pl
import pytest

from impact.backends import connect, open_registers
from impact.errors import ConfigError
from impact.outcomes import OutcomeConfig, compute_outcomes
from impact.registers.prepared import LAYOUT_DIR, layout_status, prepare_reports
from impact.registers.schema import WAGE_INCOME_TYPES
from impact.simulate import simulate
from tests.reference_outcomes import random_registers


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prep") / "regs"
    simulate(persons=3000, seed=5, out=folder)
    return folder


@pytest.fixture(scope="module")
def quirky(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quirky")
    for name, df in random_registers(n_persons=400, seed=7).items():
        df.write_parquet(folder / f"{name}.parquet")
    prepare_reports(folder, rows_per_block=1_500)  # several blocks
    return folder


def _run(folder, cfg, source):
    con = connect("duckdb")
    return compute_outcomes(con, open_registers(con, folder), cfg, panel_source=source)


def _equal(a: pl.DataFrame, b: pl.DataFrame, what: str) -> None:
    assert a.columns == b.columns and a.height == b.height, what
    assert a.schema == b.schema, what
    for c in a.columns:
        if a[c].dtype.is_float():
            x, y = a[c].to_numpy(), b[c].to_numpy()
            assert np.array_equal(np.isnan(x), np.isnan(y)), f"{what}.{c}: nulls differ"
            np.testing.assert_allclose(y[~np.isnan(y)], x[~np.isnan(x)], rtol=1e-9, atol=1e-9, err_msg=f"{what}.{c}")
        else:
            assert a[c].equals(b[c]), f"{what}.{c}"


def _same(folder, cfg):
    ref, fast = _run(folder, cfg, "registers"), _run(folder, cfg, "prepared")
    assert fast.panel_source.startswith("the prepared layout") and ref.panel_source.startswith("the registers")
    _equal(ref.person_month.sort("person_id", "month"), fast.person_month.sort("person_id", "month"), "person_month")
    _equal(ref.service_outcomes, fast.service_outcomes, "service_outcomes")
    _equal(ref.spell_outcomes, fast.spell_outcomes, "spell_outcomes")
    _equal(ref.exclusions, fast.exclusions, "exclusions")
    return dict(zip(ref.exclusions["rule"], ref.exclusions["rows"]))


CONFIGS = {
    "default": {},
    "pay_period_exclude_234_either_rule": dict(allocation="pay_period", holiday_compensation="exclude",
                                               employment_rule="floor_or_last_week"),
    "payment_101_only": dict(allocation="payment", income_types=(101,), employment_floor_eur=300.0),
    "last_week_rule": dict(employment_rule="last_week"),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_generated_registers_same_panel_and_units(generated, name):
    rules = _same(generated, OutcomeConfig(**CONFIGS[name]))
    assert rules["superseded_version"] > 0 and rules["cancelled_report"] > 0  # versions were resolved
    if name.startswith("pay_period_exclude"):
        assert rules["holiday_compensation_excluded"] > 0
    if name.startswith("payment_101"):
        assert rules["income_type_not_counted"] > 0


def test_generated_registers_earlier_extraction_date(generated):
    """Rows paid after an earlier extraction date are dropped the same way (and counted)."""
    con = connect("duckdb")
    delivery = open_registers(con, generated).delivery.extraction_date
    rules = _same(generated, OutcomeConfig(extraction_date=delivery - dt.timedelta(days=400)))
    assert rules["paid_after_extraction"] > 0


@pytest.mark.parametrize("name", CONFIGS)
def test_quirky_registers_same_panel_and_units(quirky, name):
    cfg = OutcomeConfig(extraction_date=dt.date(2022, 10, 15), **CONFIGS[name])
    rules = _same(quirky, cfg)
    assert rules["person_without_spells"] > 0 and rules["superseded_version"] > 0
    assert len(layout_status(quirky)[0].blocks) >= 3


def test_simulate_writes_a_fresh_layout_and_runs_use_it(generated):
    layout, why = layout_status(generated)
    assert layout is not None, why
    assert (generated / LAYOUT_DIR / "layout.json").is_file()
    assert _run(generated, OutcomeConfig(), "auto").panel_source.startswith("the prepared layout")


def test_stale_layout_is_never_used(tmp_path, caplog):
    folder = tmp_path / "regs"
    folder.mkdir()
    frames = random_registers(n_persons=120, seed=3)
    for name, df in frames.items():
        df.write_parquet(folder / f"{name}.parquet")
    prepare_reports(folder)
    cfg = OutcomeConfig(extraction_date=dt.date(2022, 10, 15))
    assert _run(folder, cfg, "auto").panel_source.startswith("the prepared layout")
    # the delivery changes: one report less
    reports = folder / "earnings_reports.parquet"
    frames["earnings_reports"].slice(1).write_parquet(reports)
    st = reports.stat()
    os.utime(reports, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert layout_status(folder)[0] is None and "stale" in layout_status(folder)[1]
    with caplog.at_level(logging.WARNING, logger="impact.outcomes"):
        res = _run(folder, cfg, "auto")
    assert "stale" in res.panel_source and any("stale" in r.getMessage() for r in caplog.records)
    with pytest.raises(ConfigError, match="stale"):
        _run(folder, cfg, "prepared")
    # prepared again: used again, and equal to the registers' panel
    prepare_reports(folder)
    _same(folder, cfg)


def test_filtered_reports_are_not_answered_from_the_layout(quirky):
    con = connect("duckdb")
    tables = open_registers(con, quirky)
    r = tables["earnings_reports"]
    tables["earnings_reports"] = r.filter(r.person_id % 2 == 0)
    res = compute_outcomes(con, tables, OutcomeConfig(extraction_date=dt.date(2022, 10, 15)))
    assert res.panel_source.startswith("the registers") and "filtered" in res.panel_source
    assert (res.person_month["person_id"] % 2 == 0).all()


def test_prepare_refuses_bad_reports_by_file_and_column_and_leaves_no_layout(tmp_path):
    from impact.errors import RegisterValidationError

    folder = tmp_path / "regs"
    folder.mkdir()
    rep = random_registers(n_persons=30, seed=5)["earnings_reports"]
    rep.drop("report_ref").write_parquet(folder / "earnings_reports.parquet")
    with pytest.raises(RegisterValidationError, match=r"earnings_reports\.parquet: .*lacks column\(s\) report_ref"):
        prepare_reports(folder)
    rep.with_columns(amount_eur=pl.lit("12,5 EUR")).write_parquet(folder / "earnings_reports.parquet")
    with pytest.raises(RegisterValidationError, match=r"earnings_reports\.parquet: earnings_reports cannot be prepared"):
        prepare_reports(folder)
    # nothing half-written: no layout and no staging folder
    assert not (folder / LAYOUT_DIR).exists()
    assert [p.name for p in (folder / LAYOUT_DIR).parent.iterdir()] == []
