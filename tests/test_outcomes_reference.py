"""The Ibis pipeline equals the simple pandas reference implementation on a random extract."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import polars as pl
import pytest

from impact.outcomes import OutcomeConfig, compute_outcomes
from tests.reference_outcomes import random_registers, reference_outcomes

EXTRACTION = dt.date(2022, 10, 15)

CONFIGS = {
    "default": OutcomeConfig(extraction_date=EXTRACTION),
    "pay_period": OutcomeConfig(allocation="pay_period", extraction_date=EXTRACTION),
    "payment": OutcomeConfig(allocation="payment", holiday_compensation="exclude", extraction_date=EXTRACTION),
    "last_week": OutcomeConfig(employment_rule="floor_or_last_week", employment_floor_eur=800.0,
                               horizons=(2, 6, 24), k_of_h=((1, 3),), earnings_windows=((1, 6), (7, 18)),
                               return_windows=(1, 12), segment_by=("sex", "education"),
                               extraction_date=EXTRACTION),
    "no_extraction_date": OutcomeConfig(employment_rule="last_week", segment_by=("age_band", "municipality")),
}


@pytest.fixture(scope="module")
def frames():
    return random_registers(n_persons=300, seed=7)


def _compare(got: pl.DataFrame, want, keys: list[str]) -> None:
    want = pl.from_pandas(want.reset_index(drop=True))
    assert got.height == want.height, (got.height, want.height)
    got = got.sort(keys)
    want = want.sort(keys)
    for c in got.columns:
        if c not in want.columns or got[c].dtype.is_temporal():
            continue  # pass-through dates
        g, w = got[c], want[c]
        if g.dtype.is_float() or w.dtype.is_float():
            gv = g.cast(pl.Float64).to_numpy()
            wv = w.cast(pl.Float64).to_numpy()
            assert np.array_equal(np.isnan(gv), np.isnan(wv)), c
            ok = ~np.isnan(gv)
            np.testing.assert_allclose(gv[ok], wv[ok], rtol=1e-9, atol=1e-9, err_msg=c)
        else:
            gl = g.cast(pl.Int64).to_list() if g.dtype == pl.Boolean else g.to_list()
            wl = w.cast(pl.Int64).to_list() if w.dtype == pl.Boolean else w.to_list()
            bad = [i for i, (a, b) in enumerate(zip(gl, wl)) if a != b]
            assert not bad, f"column {c}: {len(bad)} rows differ, e.g. {[(gl[i], wl[i]) for i in bad[:3]]}"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_pipeline_equals_reference(frames, name):
    cfg = CONFIGS[name]
    con = ibis.duckdb.connect()
    tables = {k: ibis.memtable(v) for k, v in frames.items()}
    got = compute_outcomes(con, tables, cfg)
    extraction = cfg.extraction_date or got.extraction_date
    want = reference_outcomes(frames, cfg, extraction)
    assert got.last_month == want["last_month"]
    pm = got.person_month.with_columns(
        first_work_day=(pl.col("first_work_date") - pl.date(1970, 1, 1)).dt.total_days().cast(pl.Float64))
    _compare(pm, want["person_month"], ["person_id", "month"])
    _compare(got.service_outcomes, want["service_outcomes"], ["service_id"])
    _compare(got.spell_outcomes, want["spell_outcomes"], ["spell_id"])
    counts = dict(zip(got.exclusions["rule"], got.exclusions["rows"]))
    counts = {k: v for k, v in counts.items() if k in want["exclusions"] or v}
    assert counts == want["exclusions"]
    # the extract exercises what it is meant to
    assert want["exclusions"]["superseded_version"] > 0 and want["exclusions"]["cancelled_report"] > 0
    assert want["exclusions"]["person_without_spells"] > 0
    assert got.service_outcomes["placed_6m"].sum() > 5
    a, b = cfg.earnings_windows[0]
    assert got.spell_outcomes[f"rel_earnings_{a}_{b}m"].drop_nulls().len() > 50
