"""The Ibis pipeline equals the simple pandas reference implementation on a random extract."""

from __future__ import annotations

import dataclasses
import datetime as dt

import ibis
import numpy as np
import polars as pl
import pytest

from impact.errors import ConfigError
from impact.outcomes import OutcomeConfig, compute_outcomes
from impact.outcomes.io import RegisterTables
from impact.registers.delivery import Delivery
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
    # no date in the config: it comes from the delivery manifest of the registers
    "extraction_from_delivery": OutcomeConfig(employment_rule="last_week", segment_by=("age_band", "municipality")),
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
    tables = RegisterTables({k: ibis.memtable(v) for k, v in frames.items()})
    if cfg.extraction_date is None:
        with pytest.raises(ConfigError, match="no extraction date"):  # never the largest date in the data
            compute_outcomes(con, tables, cfg)
        tables.delivery = Delivery(EXTRACTION, "delivery.toml")
    got = compute_outcomes(con, tables, cfg)
    assert got.extraction_date == EXTRACTION
    want = reference_outcomes(frames, dataclasses.replace(cfg, extraction_date=EXTRACTION), EXTRACTION)
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


def test_metrics_equal_reference(frames):
    """Issue #10 unit tables (offers, integration, benefit transitions, first employer's industry)."""
    from impact.outcomes.metrics import MetricsConfig
    from tests.reference_outcomes import (random_metric_tables, ref_benefit_units, ref_industry_units,
                                          ref_integration_units, ref_koto, ref_offer_units)

    extra = random_metric_tables(frames, seed=11)
    allf = {**frames, **extra}
    cfg = CONFIGS["default"]
    con = ibis.duckdb.connect()
    koto_months = (2019 * 12 + 11, 2020 * 12 + 5, 2021 * 12 + 11)
    mcfg = MetricsConfig(include=("job_offers", "integration", "benefit_transitions", "industry", "koto"),
                         offer_horizons=(1, 3, 6, 12), benefit_horizons=(1, 6, 12), koto_months=koto_months)
    got = compute_outcomes(con, {k: ibis.memtable(v) for k, v in allf.items()}, cfg, metrics=mcfg)
    want = reference_outcomes(frames, cfg, EXTRACTION)
    panel, last = want["person_month"], want["last_month"]
    p = {k: v.to_pandas() for k, v in extra.items()}
    keep = ["offer_id", "person_id", "offer_month", "employed_1m", "employed_3m", "employed_6m", "employed_12m"]
    w = ref_offer_units(p["job_offers"], panel, last, (1, 3, 6, 12))
    _compare(got.extra["offer_units"].select(keep), w[keep], ["offer_id"])
    assert 20 < got.extra["offer_units"]["employed_3m"].sum() < len(w)
    w = ref_integration_units(p["integration_plans"], panel, last)
    g = got.extra["integration_units"].select(w.columns.tolist())
    _compare(g, w, ["person_id"])
    assert g["censored"].sum() > 3 and (~g["censored"]).sum() > 3
    svc = want["service_outcomes"]
    w = ref_benefit_units(p["benefit_reports"], svc, last, (1, 6, 12))
    cols = ["service_id", "benefit_before", "benefit_1m", "benefit_6m", "benefit_12m"]
    g = got.extra["benefit_units"].select(cols)
    _compare(g, w[cols], ["service_id"])
    assert g["benefit_1m"].n_unique() >= 5 and (g["benefit_before"] == "none").sum() > 10
    w = ref_industry_units(frames["earnings_reports"].to_pandas(), p["payers"], svc)
    g = got.extra["industry_units"].select(w.columns.tolist())
    _compare(g, w, ["service_id"])
    assert g["first_payer_industry"].n_unique() >= 5
    w = ref_koto(frames["persons"].to_pandas(), frames["jobseeking_spells"].to_pandas(), panel, koto_months)
    g = got.extra["koto_by_area"].filter(pl.col("employment_area") != "Total").select(w.columns.tolist())
    _compare(g.with_columns(pl.col("month").cast(pl.Int64)), w, ["employment_area", "month"])
    assert g["unemployed"].sum() > 20 and g["fl_employed"].sum() > 10
