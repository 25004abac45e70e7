"""Staggered service entry on the synthetic registers: the event study against the known truth.

Scenario ``staggered_training`` (vocational training with deep lock-in, early losses and
large late gains), 20,000 persons generated in the test. The person x month outcome is the
package's own: :func:`impact.outcomes.compute_outcomes` on the generated registers (Incomes
Register reports deduplicated and allocated to months; months without earnings are not in
it and count as not employed), with the employment definition of the generator's truth
(open-market regular pay whose pay period reaches the month's last week; see
tests/test_outcomes_truth.py). Only the truth (potential outcomes) comes from ``truth/``.
Design: the stacked risk-set panel
of :func:`impact.designs.did_panels.risk_set_panel` (entrants of month g vs job seekers who
did not enter then), estimated with ``att_gt(..., comparison_set="stack")``; truth:
:func:`impact.simulate.truth.true_event_att` ('not now' counterfactual).

In the same run the static two-way fixed-effects estimate on the same design (as an
event-window panel: every entrant observed from 6 months before to 24 months after entry,
so that the truth of every treated person-month is known) is far below the true average
effect: its implicit weights fall with the months since entry (the lock-in months count
more than the later gains) and its single set of calendar-month effects cannot absorb the
common path of each stack's entrants and comparison persons around the entry month. The
test checks the exact decomposition TWFE(y) = TWFE(y(0)) + sum of weights x true effects.

Also shown: the calendar-time design of :func:`~impact.designs.did_panels.person_month_panel`
(all persons, never-treated comparisons) is biased by the pre-programme dip: entrants are
job seekers just before g, the comparison persons mostly are not.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from impact.designs.did_panels import person_month_panel, risk_set_panel
from impact.errors import ConfigError, DesignError
from impact.estimators import did
from impact.outcomes import OutcomeConfig, compute_outcomes
from impact.outcomes.io import open_registers
from impact.simulate.truth import true_event_att, true_event_paths

SIM_DIR = os.environ.get("IMPACT_DID_REG_DIR")
COVS = ["age_u25", "age_o50", "female", "educ_basic", "educ_tertiary", "lang_other", "log_elapsed", "long_term",
        "emp_12m", "seg_01", "seg_02", "seg_03", "seg_04"]  # segment 05 is rare: with 00 as the reference
POST = 24
# The generator's employment definition (docs/synthetic_registers.md §2): open-market regular
# pay (101/201) allocated by pay period, employed when the pay period reaches the last week
# of the month (every generated job ends on a month's last day). The package default (pay of
# at least 500 EUR allocated by earnings period) differs in a handful of person-months.
OUTCOME_CFG = OutcomeConfig(allocation="pay_period", income_types=(101, 201), employment_rule="last_week")


@pytest.fixture(scope="module")
def registers(tmp_path_factory):
    sim = pytest.importorskip("impact.simulate")
    out = Path(SIM_DIR) if SIM_DIR else tmp_path_factory.mktemp("staggered_training")
    if not (out / "truth" / "service_participation.parquet").exists():
        sim.simulate(scenario="staggered_training", persons=20_000, seed=7, out=str(out), workers=1)
    persons = pl.read_parquet(out / "persons.parquet")
    spells = pl.read_parquet(out / "service_spells.parquet")
    js = pl.read_parquet(out / "jobseeking_spells.parquet")
    ibis = pytest.importorskip("ibis")
    con = ibis.duckdb.connect()
    res = compute_outcomes(con, open_registers(con, out), OUTCOME_CFG, collect_person_month=True)
    # the last month is incomplete at extraction (December's arrears pay is paid in January)
    panel = res.person_month.filter(pl.col("month") < res.last_month)
    return out, persons, spells, js, panel


@pytest.fixture(scope="module")
def design(registers):
    root, persons, spells, js, panel = registers
    g0 = int(panel["month"].min()) + 36
    d = risk_set_panel(panel, spells, js, persons, service_type="training", cohorts=(g0, g0 + 23), pre=6, post=POST,
                       controls_per_treated=3, seed=1)
    return d, g0


@pytest.mark.slow
def test_true_event_att(registers):
    root = registers[0] / "truth"
    se = pl.read_parquet(root / "service_effects.parquet")
    pp = pl.read_parquet(root / "service_participation.parquet")
    tr = se.filter(pl.col("service_type") == "training")
    ids = tr["service_id"].unique().sort().head(200)
    got = true_event_att(root, ids)
    # by hand: participation months r = e, then h = e - (end - start)
    L = tr.filter(pl.col("service_id").is_in(ids.implode())).group_by("service_id").agg(
        L=(pl.col("end_month") - pl.col("start_month")).first() + 1)
    a = pp.filter(pl.col("service_id").is_in(ids.implode())).select("service_id", e=pl.col("r").cast(pl.Int64),
                                                                       d=pl.col("employed_1") - pl.col("employed_0"))
    b = tr.filter(pl.col("service_id").is_in(ids.implode())).join(L, on="service_id").select(
        "service_id", e=(pl.col("h") + pl.col("L") - 1).cast(pl.Int64), d=pl.col("employed_1") - pl.col("employed_0"))
    both = pl.concat([a, b])
    # participation and post-service months are contiguous: e = 0 .. L - 1 + 24 once each
    per = both.group_by("service_id").agg(n=pl.len(), mx=pl.col("e").max(), mn=pl.col("e").min(), u=pl.col("e").n_unique())
    assert (per["mn"] == 0).all() and (per["n"] == per["mx"] + 1).all() and (per["u"] == per["n"]).all()
    want = both.group_by("e").agg(att=pl.col("d").cast(pl.Float64).mean(), n=pl.len()).sort("e")
    chk = got.join(want, left_on="event_time", right_on="e")
    assert chk.height == got.height == want.height
    assert np.allclose(chk["att_employed"], chk["att"]) and (chk["n"] == chk["n_right"]).all()
    assert got.filter(pl.col("event_time") == 0)["n"][0] == 200
    # keyword selection: first spells of the type in a cohort range; 'never' differs from 'not now'
    m = int(tr["start_month"].min()) + 40
    sel = true_event_att(root, service_type="training", cohorts=(m, m + 5), first_only=True, event_times=list(range(0, 25)))
    firsts = tr.group_by("person_id").agg(pl.col("start_month").min()).filter(pl.col("start_month").is_between(m, m + 5))
    assert sel["n"][0] == firsts.height and sel.height == 25
    never = true_event_att(root, service_type="training", cohorts=(m, m + 5), first_only=True, event_times=[24],
                           counterfactual="never")
    assert never.height == 1 and never["att_employed"][0] != sel["att_employed"][24]
    with pytest.raises(ConfigError, match="counterfactual must be one of"):
        true_event_att(root, ids, counterfactual="later")
    with pytest.raises(ConfigError, match="event times count months since the start"):
        true_event_att(root, ids, event_times=[-1])


@pytest.mark.slow
def test_risk_set_design(registers, design):
    root, persons, spells, js, panel = registers
    d, g0 = design
    T = POST + 6 + 24
    assert d.group_by("unit").len()["len"].to_list() == [T] * d["unit"].n_unique()
    treated = d.filter(pl.col("cohort") > 0)
    # treated units are the first training spells starting in the cohort months
    firsts = spells.filter(pl.col("service_type") == "training").sort("start_date").group_by("person_id").agg(
        pl.col("service_id").first(), m=(pl.col("start_date").first().dt.year() * 12 + pl.col("start_date").first().dt.month() - 1))
    tu = treated.select("person_id", "service_id", "cohort").unique()
    chk = tu.join(firsts, on="person_id")
    assert chk.height == tu.height and (chk["service_id"] == chk["service_id_right"]).all() and (chk["m"] == chk["cohort"]).all()
    # comparison sets: 3 per treated person of the same cohort and area at most, nobody starts a service in g
    sizes = d.select("unit", "stack", "cohort").unique().group_by("stack").agg(
        t=(pl.col("cohort") > 0).sum(), c=(pl.col("cohort") == 0).sum())
    assert (sizes["c"] <= 3 * sizes["t"]).all() and sizes["c"].sum() > 2 * sizes["t"].sum()
    # the design's outcome (from the Incomes Register reports) of the treated in the 25 months
    # from entry is the truth's realised path
    paths = true_event_paths(root / "truth", tu.select("service_id"), event_times=list(range(0, POST + 1)))
    chk = treated.join(paths.with_columns(pl.col("month").cast(pl.Int64)), on=["service_id", "month"], how="inner")
    assert chk.height == tu.height * (POST + 1) and (chk["employed"] == chk["employed_1"]).all()
    # and every person-month of the design is employed exactly when the truth's realised path is:
    # the outcome stage's employment is the generator's (months absent from both: not employed)
    tpm = pl.read_parquet(root / "truth" / "person_month.parquet").select(
        "person_id", pl.col("month").cast(pl.Int64), t_emp=pl.col("employed").cast(pl.Int8))
    pm = d.select("person_id", "month", "employed").unique().join(tpm, on=["person_id", "month"], how="left")
    pm = pm.with_columns(pl.col("t_emp").fill_null(0))
    assert pm.filter(pl.col("employed") != pl.col("t_emp")).height == 0
    assert 0.2 < pm["employed"].mean() < 0.8
    with pytest.raises(DesignError, match="no service spells of type 'nope'"):
        risk_set_panel(panel, spells, js, persons, service_type="nope", cohorts=(g0, g0 + 1))
    with pytest.raises(DesignError, match="not covered by the person x month panel"):
        risk_set_panel(panel, spells, js, persons, service_type="training", cohorts=(g0, g0 + 1), post=400)


@pytest.mark.slow
def test_risk_set_panel_before_month_equals_a_filtered_panel(registers, design):
    """``before_month`` reads only the earlier months, as a filtered copy of the panel would (the study passes
    its incomplete last month this way instead of copying a national panel)."""
    root, persons, spells, js, panel = registers
    _, g0 = design
    last = int(panel["month"].max())
    kw = dict(service_type="training", cohorts=(g0, g0 + 5), pre=6, post=last - g0 - 6, controls_per_treated=3, seed=1)
    want = risk_set_panel(panel.filter(pl.col("month") < last), spells, js, persons, **kw)
    assert want.height > 0
    assert risk_set_panel(panel, spells, js, persons, before_month=last, **kw).equals(want)
    with pytest.raises(DesignError, match="not covered by the person x month panel"):
        risk_set_panel(panel, spells, js, persons, before_month=last - 1, **kw)


@pytest.mark.slow
def test_event_study_covers_truth_and_static_twfe_is_biased(registers, design):
    root, persons, spells, js, panel = registers
    d, g0 = design
    res = did.att_gt(d, unit="unit", time="month", group="cohort", outcome="employed", comparison_set="stack",
                     cluster="person_id", covariates=COVS, method="reg")
    dyn = res.aggregate("dynamic", min_e=-6, max_e=POST, bootstrap=True, n_boot=999, seed=3)
    # a cohort whose comparison set lacks a covariate level (e.g. no one in segment 05) is not
    # estimated (as in R did); the truth is then taken over the cohorts estimated
    estimated = sorted(set(res.att_gt["group"].tolist()))
    assert len(estimated) >= 20, res.notes
    truth = true_event_att(root / "truth", d.filter(pl.col("cohort").is_in(estimated)).select("service_id").unique(),
                           event_times=list(range(0, POST + 1)))
    est = pl.from_pandas(dyn.estimates[["event_time", "estimate", "std_error", "ci_lower", "ci_upper", "band_lower",
                                        "band_upper"]]).join(truth, on="event_time", how="left")
    print(est.select("event_time", "estimate", "std_error", "att_employed").to_pandas().round(4).to_string())
    # e = 0: both groups are job seeking in the entry month; estimate and truth are exactly zero
    e0 = est.filter(pl.col("event_time") == 0)
    assert e0["estimate"][0] == 0.0 and e0["att_employed"][0] == 0.0
    post = est.filter(pl.col("event_time") >= 1)
    assert post.height == POST
    # the simultaneous 95% band covers the truth at every event time. (Pointwise intervals are
    # not a fair yardstick here: the ATT(e) share the base month and the units, so their errors
    # move together; across generator seeds 1, 2, 7 the errors are about -2 to +1.5 s.e. over
    # whole stretches of e, with the sign varying by seed.)
    inside_band = (post["band_lower"] <= post["att_employed"]) & (post["att_employed"] <= post["band_upper"])
    assert inside_band.all(), post.filter(~inside_band)
    # the truth is far from zero and dynamic: lock-in losses, then gains
    assert post.filter(pl.col("event_time").is_between(2, 8))["att_employed"].max() < -0.03
    assert post.filter(pl.col("event_time") >= 20)["att_employed"].min() > 0.08
    # the pre-periods (e = -6..-1) do not reject parallel trends jointly in the band
    pre = est.filter(pl.col("event_time") < 0)
    assert ((pre["band_lower"] <= 0) & (0 <= pre["band_upper"])).all()
    # the overall (mean over e = 0..24) covers the true mean
    o = dyn.overall
    true_overall = float(truth["att_employed"].mean())
    assert o.ci_lower <= true_overall <= o.ci_upper, (o, true_overall)

    # placebo in time (issue #8): entry moved 3 months earlier, pre-entry data only -> no effect
    plac = did.placebo_in_time(d, unit="unit", time="month", group="cohort", outcome="employed", shift=3,
                               comparison_set="stack", cluster="person_id", covariates=COVS, method="reg")
    assert plac.covers_zero and abs(plac.overall.estimate) < 0.03, plac.summary()

    # ---- static TWFE on the same units, as an event-window panel (e = -6 .. 24 for every unit)
    win = risk_set_panel(panel, spells, js, persons, service_type="training", cohorts=(g0, g0 + 23), pre=6, post=POST,
                         controls_per_treated=3, seed=1, window_only=True)
    assert win.height == d.filter(pl.col("month").is_between(pl.col("stack") - 6, pl.col("stack") + POST)).height
    tw = did.twfe(win, unit="unit", time="month", group="cohort", outcome="employed", cluster="person_id")
    b = tw.estimates.iloc[0]
    # the truth of every treated person-month in the window; its mean is the true overall ATT
    units = win.filter(pl.col("cohort") > 0).select("unit", "service_id").unique()
    paths = true_event_paths(root / "truth", units.select("service_id"), event_times=list(range(0, POST + 1)))
    assert paths.height == units.height * (POST + 1)
    true_overall = float((paths["employed_1"] - paths["employed_0"]).mean())  # all cohorts: TWFE uses them all
    print(f"static TWFE {b.estimate:.4f} (s.e. {b.std_error:.4f}) vs true overall ATT {true_overall:.4f}; "
          f"event study overall {o.estimate:.4f} (s.e. {o.std_error:.4f})")
    assert not (b.ci_lower <= true_overall <= b.ci_upper)
    assert true_overall - b.estimate > 0.025  # more than 40 % of the true average effect
    # why: TWFE(y) = TWFE(y(0)) + sum w_it tau_it exactly, with the implicit weights w
    w = pl.from_pandas(did.twfe_weights(win, unit="unit", time="month", group="cohort", by="unit")).rename({"unit": "u"})
    tau = paths.join(units, on="service_id").select("unit", "month", tau=pl.col("employed_1") - pl.col("employed_0"),
                                                     y0=pl.col("employed_0"))
    wt = w.join(tau.with_columns(pl.col("month").cast(pl.Float64)), left_on=["u", "time"], right_on=["unit", "month"])
    assert wt.height == w.height == units.height * (POST + 1)
    weighted = float((wt["weight"] * wt["tau"]).sum())
    y0 = win.join(tau.with_columns(pl.col("month").cast(pl.Int64)), on=["unit", "month"], how="left").with_columns(
        employed_0=pl.coalesce("y0", "employed"))
    b0 = did.twfe(y0, unit="unit", time="month", group="cohort", outcome="employed_0", cluster="person_id").estimates.iloc[0]
    assert b.estimate - b0.estimate == pytest.approx(weighted, abs=1e-8)
    by_e = wt.group_by("event_time").agg(pl.col("weight").sum()).sort("event_time")
    print(f"TWFE with y(0) for the treated: {b0.estimate:.4f}; weighted true effects {weighted:.4f}; "
          f"weights e=0..{POST}: {[round(x, 3) for x in by_e['weight']]}")
    # the weights fall with the months since entry: the lock-in months count more than the gains
    assert by_e["weight"][0] > 2 * by_e["weight"][POST]
    assert weighted < true_overall - 0.01


@pytest.mark.slow
def test_calendar_design_is_biased_by_the_dip(registers, design):
    """Calendar-time design (all persons, never-treated comparisons): entrants are non-employed
    job seekers just before g, so their employment recovers without any training; the event
    study then shows large pre-trends and gains where the truth has lock-in losses."""
    root, persons, spells, js, panel = registers
    _, g0 = design
    # the outcome panel covers the persons with a job-seeking or service spell (the register population)
    pop = pl.concat([js.select("person_id"), spells.select("person_id")]).unique()
    cal = person_month_panel(panel, spells, persons, service_type="training", months=(g0 - 6, g0 + 17), population=pop)
    res = did.att_gt(cal, unit="person_id", time="month", group="cohort", outcome="employed", method="reg")
    assert res.pretest().p_value < 1e-6
    dyn = res.aggregate("dynamic", min_e=0, max_e=8).estimates.set_index("event_time")
    truth = true_event_att(root / "truth", service_type="training", cohorts=(g0 - 5, g0 + 17), first_only=True,
                           event_times=[8]).row(0, named=True)
    assert truth["att_employed"] < -0.02
    assert dyn.loc[8, "ci_lower"] > truth["att_employed"] + 0.05


def test_comparison_set_equals_separate_designs():
    """A stacked design gives each cohort exactly the estimates of a design with only its own set."""
    rng = np.random.default_rng(4)
    n, T = 600, 8
    cohort = rng.choice([0, 4, 6], size=n, p=[0.5, 0.25, 0.25])
    stack = np.where(cohort > 0, cohort, rng.choice([4, 6], size=n))
    t = np.arange(1, T + 1)
    y = rng.normal(size=n)[:, None] + 0.1 * t + (cohort[:, None] > 0) * (t >= cohort[:, None]) + rng.normal(size=(n, T))
    df = pl.DataFrame({"id": np.repeat(np.arange(n), T), "t": np.tile(t, n), "g": np.repeat(cohort, T),
                       "s": np.repeat(stack, T), "x": np.repeat(rng.normal(size=n), T), "y": y.ravel()})
    kw = dict(unit="id", time="t", group="g", outcome="y", covariates=["x"], method="dr")
    both = did.att_gt(df, comparison_set="s", **kw).att_gt.set_index(["group", "time"])
    for g in (4, 6):
        own = did.att_gt(df.filter(pl.col("s") == g), **kw).att_gt.set_index(["group", "time"])
        assert np.allclose(both.loc[g, "att"], own.loc[g, "att"], atol=1e-12)
        assert (both.loc[g, "n_controls"] == own.loc[g, "n_controls"]).all()
    with pytest.raises(DesignError, match="use control_group='never_treated'"):
        did.att_gt(df, comparison_set="s", control_group="not_yet_treated", **kw)
    with pytest.raises(DesignError, match=r"comparison units must name one of the cohorts \(4, 6\)"):
        did.att_gt(df.with_columns(s=pl.when(pl.col("id") == 3).then(5).otherwise(pl.col("s"))), comparison_set="s",
                   **{**kw, "covariates": None})
    with pytest.raises(DesignError, match="must equal the group"):
        did.att_gt(df.with_columns(s=pl.when(pl.col("g") == 4).then(6).otherwise(pl.col("s"))), comparison_set="s", **kw)


def test_twfe_weights_decomposition():
    """TWFE(y) - TWFE(y(0)) equals the weighted sum of the true effects; late cells get negative weights."""
    rng = np.random.default_rng(1)
    n, T = 2000, 12
    g = rng.choice([0, 4, 7, 10], size=n)
    t = np.arange(1, T + 1)
    e = t[None, :] - g[:, None]
    tau = np.where((g[:, None] > 0) & (e >= 0), -0.5 + 0.4 * e, 0.0)
    y0 = rng.normal(size=n)[:, None] + 0.1 * t + rng.normal(size=(n, T))
    df = pl.DataFrame({"id": np.repeat(np.arange(n), T), "t": np.tile(t, n), "g": np.repeat(g, T),
                       "y": (y0 + tau).ravel(), "y0": y0.ravel(), "tau": tau.ravel()})
    df = df.filter(pl.Series(rng.random(df.height) > 0.1))  # unbalanced
    w = did.twfe_weights(df, unit="id", time="t", group="g", by="unit")
    assert w["weight"].sum() == pytest.approx(1.0, abs=1e-10)
    b = did.twfe(df, unit="id", time="t", group="g", outcome="y").estimates["estimate"].iloc[0]
    b0 = did.twfe(df, unit="id", time="t", group="g", outcome="y0").estimates["estimate"].iloc[0]
    m = w.merge(df.select("id", "t", "tau").to_pandas(), left_on=["unit", "time"], right_on=["id", "t"])
    assert len(m) == len(w) and b - b0 == pytest.approx(float((m["weight"] * m["tau"]).sum()), abs=1e-9)
    cells = did.twfe_weights(df, unit="id", time="t", group="g")
    by_e = cells.groupby("event_time")["weight"].sum()
    assert by_e.loc[6:].lt(0).all() and by_e.loc[:2].gt(0.25).all()
    with pytest.raises(DesignError, match="by must be 'cell' or 'unit'"):
        did.twfe_weights(df, unit="id", time="t", group="g", by="row")
    with pytest.raises(DesignError, match="no treated unit-periods"):
        did.twfe_weights(df.with_columns(g=pl.lit(0)), unit="id", time="t", group="g")
