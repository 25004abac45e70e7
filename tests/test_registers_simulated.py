"""The synthetic generator's output meets the register contracts (no false errors)."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal

from impact.registers import read_registers, validate_folder
from impact.simulate import simulate


def test_simulated_registers_validate_and_round_trip_through_csv(tmp_path):
    out = tmp_path / "sim"
    simulate(persons=400, seed=3, out=out)
    report = validate_folder(out)
    assert report.ok, report.summary()
    assert {p.kind for p in report.warnings} <= {"ongoing", "touching_spells", "no_jobseeking_spell"}
    tables = read_registers(out)
    assert tables["persons"].height == 400
    assert tables["earnings_reports"].get_column("action").unique().sort().to_list() == ["cancel", "new", "replace"]

    csv = tmp_path / "csv"
    csv.mkdir()
    (csv / "delivery.toml").write_bytes((out / "delivery.toml").read_bytes())
    for name, df in tables.items():
        df.write_csv(csv / f"{name}.csv")
    csv_report = validate_folder(csv)
    assert csv_report.ok
    assert [(p.kind, p.n_rows) for p in csv_report.problems] == [(p.kind, p.n_rows) for p in report.problems]
    for name, df in read_registers(csv).items():
        assert_frame_equal(df, tables[name])
    assert tables["jobseeking_spells"].get_column("end_reason").dtype == pl.String
