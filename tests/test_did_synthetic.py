"""Staggered adoption with known dynamic effects: the event study covers the truth, static TWFE is biased.

Part 1 is a self-contained numpy simulation (unit and period effects, four adoption cohorts
plus never-treated units, effects that grow with exposure and differ by cohort). Part 2 uses
the synthetic registers (scenario ``area_reform``: staggered area reforms with effects
ramping to +3 pp) through the area x month design.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from impact.estimators import did

COHORTS = (5, 8, 11, 14)


def tau(g: np.ndarray, e: np.ndarray) -> np.ndarray:
    """True effect of cohort g at event time e: grows with exposure, larger for early cohorts."""
    return np.where(e >= 0, (0.4 + 0.25 * e) * (1.0 + 0.1 * (14 - g)), 0.0)


@pytest.fixture(scope="module")
def staggered():
    rng = np.random.default_rng(2024)
    n, T = 4000, 16
    g = rng.choice(np.array((0,) + COHORTS), size=n, p=[0.3, 0.175, 0.175, 0.175, 0.175])
    t = np.arange(1, T + 1)
    e = t[None, :] - g[:, None]
    eff = np.where(g[:, None] > 0, tau(g[:, None], e), 0.0)
    y = rng.normal(size=n)[:, None] + 0.2 * t[None, :] + eff + rng.normal(scale=0.8, size=(n, T))
    df = pl.DataFrame({
        "id": np.repeat(np.arange(n), T), "t": np.tile(t, n), "g": np.repeat(g, T), "y": y.ravel(),
    })
    return df, g


def test_event_study_covers_truth_and_static_twfe_is_biased(staggered):
    df, g = staggered
    res = did.att_gt(df, unit="id", time="t", group="g", outcome="y")
    dyn = res.aggregate("dynamic", bootstrap=True, n_boot=999, seed=1)
    est = dyn.estimates
    # truth per event time: cohort-size-weighted average of the true cohort effects present at e
    T = 16
    truth = []
    for e in est["event_time"]:
        cs = [c for c in COHORTS if 1 <= c + e <= T]
        share = np.array([np.mean(g == c) for c in cs])
        truth.append(float(share @ tau(np.array(cs), np.full(len(cs), e)) / share.sum()))
    truth = np.array(truth)
    inside = (est["band_lower"] <= truth) & (truth <= est["band_upper"])
    assert inside.all(), est.assign(truth=truth)[~inside]
    # pre-treatment event times are (close to) zero; post-treatment ones are clearly positive
    assert (np.abs(est.loc[est["event_time"] < 0, "estimate"]) < 0.15).all()
    assert (est.loc[est["event_time"] >= 0, "ci_lower"] > 0).all()
    # the overall (simple) ATT covers its truth: average effect over post-treatment unit-periods
    cells = res.att_gt[res.att_gt["post"]]
    share = np.array([np.mean(g == c) for c in cells["group"]])
    true_simple = float(share @ tau(cells["group"].to_numpy(), cells["event_time"].to_numpy()) / share.sum())
    simple = res.aggregate("simple").overall
    assert abs(simple.estimate - true_simple) < 2.58 * simple.std_error
    # static TWFE in the same run: far from the truth (already-treated units act as controls)
    tw = res.compare_twfe(df, unit="id", time="t", group="g", outcome="y")
    b, se = float(tw.estimates["estimate"].iloc[0]), float(tw.estimates["std_error"].iloc[0])
    assert true_simple - b > 5 * se, (b, se, true_simple)
    assert any("differs materially" in n for n in tw.notes)
    assert any("differs materially" in n for n in res.notes)


def test_not_yet_treated_and_covariates_also_cover_truth(staggered):
    df, g = staggered
    rng = np.random.default_rng(3)
    x = rng.normal(size=len(g))
    d2 = df.with_columns(x=pl.Series(np.repeat(x, 16)))
    for kw in (dict(control_group="not_yet_treated"), dict(covariates=["x"], method="dr"), dict(covariates=["x"], method="dr_improved")):
        res = did.att_gt(d2, unit="id", time="t", group="g", outcome="y", **kw)
        post = res.att_gt[res.att_gt["post"]]
        truth = tau(post["group"].to_numpy(), post["event_time"].to_numpy())
        z = (post["att"].to_numpy() - truth) / post["std_error"].to_numpy()
        # 26 post cells: all within 3.5 s.e. (a 1-in-2000 event per cell under correct coverage)
        assert np.abs(z).max() < 3.5, (kw, z)


def test_plots(staggered):
    df, _ = staggered
    res = did.att_gt(df.filter(pl.col("id") < 800), unit="id", time="t", group="g", outcome="y")
    from impact import plots

    fig = plots.event_study(res.aggregate("dynamic", bootstrap=True, n_boot=99, seed=2).estimates)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "event_time" and len(ax.collections) >= 1
    hm = plots.group_time_heatmap(res.att_gt)
    assert hm.axes[0].get_ylabel() == "group"
    assert len(hm.axes[0].get_yticklabels()) == len(COHORTS)


# ---------------------------------------------------------------- synthetic registers
SIM_DIR = os.environ.get("IMPACT_DID_SIM_DIR")


@pytest.fixture(scope="module")
def area_registers(tmp_path_factory):
    sim = pytest.importorskip("impact.simulate")
    out = Path(SIM_DIR) if SIM_DIR else tmp_path_factory.mktemp("area_reform")
    if not (out / "truth" / "area_month.parquet").exists():
        sim.simulate(scenario="area_reform", persons=20_000, seed=11, out=str(out), workers=1)
    return out


@pytest.mark.slow
def test_area_reform_event_study_covers_truth(area_registers):
    from impact.designs.did_panels import area_month_panel

    root = area_registers
    persons = pl.read_parquet(root / "persons.parquet")
    pm = pl.read_parquet(root / "truth" / "person_month.parquet")
    policy = pl.read_parquet(root / "truth" / "area_policy.parquet").rename({"employment_area": "area"})
    truth = pl.read_parquet(root / "truth" / "area_month.parquet").rename({"employment_area": "area"})
    panel = pm.select("person_id", "month", "employed", earnings_eur="earnings")
    reforms = policy.group_by("area").agg(start_month=pl.col("start_month").min())
    lo, hi = int(truth["month"].min()), int(truth["month"].max())
    design = area_month_panel(panel, persons, reforms, months=(lo, hi))
    # the design reproduces the truth's realised employment counts
    chk = design.join(truth, on=["area", "month"])
    assert chk.height == design.height and (chk["employed"] == chk["employed_with"]).all()
    assert (chk["persons"] == chk["persons_right"]).all()
    res = did.att_gt(design, unit="area", time="month", group="cohort", outcome="employment_rate", weights="persons")
    dyn = res.aggregate("dynamic", bootstrap=True, n_boot=999, seed=5, min_e=-12, max_e=24)
    # truth: the same population-weighted average of the areas' true effects by event time
    t = truth.join(reforms.rename({"start_month": "cohort"}), on="area", how="inner").with_columns(
        e=pl.col("month") - pl.col("cohort"), eff=(pl.col("employed_with") - pl.col("employed_without")) / pl.col("persons")
    )
    te = t.group_by("e").agg(truth=(pl.col("eff") * pl.col("persons")).sum() / pl.col("persons").sum())
    est = pl.from_pandas(dyn.estimates[["event_time", "estimate", "band_lower", "band_upper"]]).join(
        te.rename({"e": "event_time"}).with_columns(pl.col("event_time").cast(pl.Int64)), on="event_time"
    )
    assert est.height == 37
    assert ((est["band_lower"] <= est["truth"]) & (est["truth"] <= est["band_upper"])).all(), est


@pytest.mark.slow
def test_person_month_design_on_registers(area_registers):
    """The person x month design on the synthetic registers: grid, cohorts and outcomes as built."""
    from impact.designs.did_panels import person_month_panel

    root = area_registers
    persons = pl.read_parquet(root / "persons.parquet")
    spells = pl.read_parquet(root / "service_spells.parquet")
    pm = pl.read_parquet(root / "truth" / "person_month.parquet")
    panel = pm.select("person_id", "month", "employed", earnings_eur="earnings")
    lo = int(pm["month"].min()) + 36
    hi = lo + 11
    design = person_month_panel(panel, spells, persons, service_type="training", months=(lo, hi))
    n_persons = design["person_id"].n_unique()
    assert design.height == n_persons * 12
    first = (
        spells.filter(pl.col("service_type") == "training")
        .group_by("person_id").agg(m=pl.col("start_date").min().dt.year() * 12 + pl.col("start_date").min().dt.month() - 1)
        .filter((pl.col("m") > lo) & (pl.col("m") <= hi))
    )
    got = design.filter(pl.col("cohort") > 0).group_by("person_id").agg(pl.col("cohort").first())
    assert got.sort("person_id")["cohort"].to_list() == first.sort("person_id")["m"].to_list()
    emp = pm.filter(pl.col("month").is_between(lo, hi) & pl.col("employed") & pl.col("person_id").is_in(design["person_id"].unique().implode()))
    assert int(design["employed"].sum()) == emp.height
    res = did.att_gt(design, unit="person_id", time="month", group="cohort", outcome="employed",
                     covariates=["age", "female", "educ_basic", "educ_tertiary", "lang_other"])
    assert res.info["units"] == n_persons and np.isfinite(res.att_gt["att"]).all()
    assert res.aggregate("dynamic", max_e=6).overall.std_error > 0
