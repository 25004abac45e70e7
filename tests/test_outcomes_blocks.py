"""The panel computed in person blocks (impact.backends.person_blocks) equals the one-pass panel."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

import impact.backends as backends
from impact.backends import connect, person_blocks
from impact.outcomes import OutcomeConfig, compute_outcomes
from impact.outcomes.io import open_registers
from tests.reference_outcomes import random_registers

CFG = OutcomeConfig(extraction_date=dt.date(2022, 10, 15))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """The same random registers twice: reports ordered by person in row groups of 400 rows, and shuffled."""
    frames = random_registers(n_persons=300, seed=11)
    out = {}
    for kind in ("ordered", "shuffled"):
        folder = tmp_path_factory.mktemp(kind)
        for name, df in frames.items():
            if name == "earnings_reports":
                df = df.sort("person_id") if kind == "ordered" else df.sample(fraction=1.0, shuffle=True, seed=3)
                df.write_parquet(folder / f"{name}.parquet", row_group_size=400)
            else:
                df.write_parquet(folder / f"{name}.parquet")
        out[kind] = folder
    return out


def _run(folder, rows_per_block, monkeypatch):
    monkeypatch.setattr(backends, "PANEL_BLOCK_ROWS", rows_per_block)
    con = connect("duckdb")
    return compute_outcomes(con, open_registers(con, folder), CFG)


def _equal(a: pl.DataFrame, b: pl.DataFrame) -> None:
    assert a.columns == b.columns and a.height == b.height
    for c in a.columns:
        if a[c].dtype.is_float():
            x, y = a[c].to_numpy(), b[c].to_numpy()
            assert np.array_equal(np.isnan(x), np.isnan(y)), c
            np.testing.assert_allclose(x[~np.isnan(x)], y[~np.isnan(y)], rtol=1e-12, atol=1e-9, err_msg=c)
        else:
            assert a[c].equals(b[c], check_names=True), c


def test_blocks_only_where_the_row_groups_are_ordered_by_person(folders):
    con = connect("duckdb")
    ordered = open_registers(con, folders["ordered"])["earnings_reports"]
    n = ordered.count().execute()
    blocks = person_blocks(con, ordered, rows_per_block=n // 3)
    assert len(blocks) >= 3 and blocks[0][0] is None and blocks[-1][1] is None
    assert all(a[1] + 1 == b[0] for a, b in zip(blocks, blocks[1:]))  # adjacent, disjoint ranges
    assert person_blocks(con, ordered, rows_per_block=n + 1) == [(None, None)]
    shuffled = open_registers(con, folders["shuffled"])["earnings_reports"]
    assert person_blocks(con, shuffled, rows_per_block=n // 3) == [(None, None)]  # every block would read it all


def test_blocked_panel_equals_one_pass(folders, monkeypatch):
    one = _run(folders["ordered"], 10**12, monkeypatch)
    n_reports = pl.read_parquet(folders["ordered"] / "earnings_reports.parquet").height
    blocked = _run(folders["ordered"], n_reports // 4, monkeypatch)
    assert one.panel_blocks == 1 and blocked.panel_blocks >= 4
    _equal(blocked.service_outcomes, one.service_outcomes)
    _equal(blocked.spell_outcomes, one.spell_outcomes)
    _equal(blocked.exclusions, one.exclusions)
    assert one.exclusions.filter(pl.col("table") == "earnings_reports")["rows"].sum() > 0
    _equal(blocked.person_month.sort("person_id", "month"), one.person_month.sort("person_id", "month"))
