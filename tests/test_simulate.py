"""Tests of the synthetic-register generator (impact.simulate): determinism, contracts,
consistency of registers with the truth, and the truth against the configured effects."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from impact.errors import ConfigError
from impact.simulate import load_scenario, simulate, true_att
from impact.simulate.scenario import scenario_dir

FILES = ("persons", "jobseeking_spells", "service_spells", "earnings_reports", "benefit_reports")


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "default"
    simulate(scenario="default", persons=4000, seed=7, out=out)
    return out


@pytest.fixture(scope="module")
def reform_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "reform"
    simulate(scenario="area_reform", persons=4000, seed=11, out=out)
    return out


# -- files, determinism, contracts ------------------------------------------------------


def test_same_seed_gives_identical_bytes(tmp_path, default_run):
    out = tmp_path / "again"
    simulate(scenario="default", persons=4000, seed=7, out=out)
    files = [f"{n}.parquet" for n in FILES] + [
        f"truth/{n}" for n in ("service_effects.parquet", "person_month.parquet", "latent.parquet",
                               "service_participation.parquet", "area_month.parquet", "area_policy.parquet",
                               "scenario.toml")]
    for f in files:
        assert (out / f).read_bytes() == (default_run / f).read_bytes(), f


def test_other_seed_differs(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    simulate(scenario="default", persons=300, seed=1, out=a)
    simulate(scenario="default", persons=300, seed=2, out=b)
    assert (a / "earnings_reports.parquet").read_bytes() != (b / "earnings_reports.parquet").read_bytes()


def test_parallel_blocks_give_the_same_bytes(tmp_path):
    """Blocks are seeded by (seed, block): worker processes do not change the output."""
    sc = tmp_path / "small_blocks.toml"
    sc.write_text('extends = "default"\nname = "small_blocks"\n[simulation]\nblock_size = 400\n')
    a, b = tmp_path / "a", tmp_path / "b"
    simulate(scenario=sc, persons=1000, seed=5, out=a, workers=1)
    simulate(scenario=sc, persons=1000, seed=5, out=b, workers=2)
    for name in FILES:
        assert (a / f"{name}.parquet").read_bytes() == (b / f"{name}.parquet").read_bytes(), name
    assert (a / "truth/service_effects.parquet").read_bytes() == (b / "truth/service_effects.parquet").read_bytes()
    p = pl.read_parquet(a / "persons.parquet")
    assert p["person_id"].to_list() == list(range(1, 1001))


def test_output_passes_validation(default_run):
    from impact.registers.validate import validate_folder

    report = validate_folder(default_run, raise_on_error=False)
    assert report.ok, report.summary()


def test_geography_45_areas_of_very_different_size(default_run):
    p = pl.read_parquet(default_run / "persons.parquet")
    sizes = p.group_by("employment_area").len()["len"]
    assert p["employment_area"].n_unique() == 45
    assert sizes.max() / sizes.min() > 30
    munis = p.group_by("employment_area").agg(pl.col("municipality").n_unique())
    assert munis["municipality"].max() > 5
    # every municipality belongs to exactly one area
    assert p.group_by("municipality").agg(pl.col("employment_area").n_unique())["employment_area"].max() == 1
    assert set(p["language"].unique()) == {"fi", "sv", "other"}


# -- register consistency ---------------------------------------------------------------


def test_services_start_where_a_jobseeking_spell_ends(default_run):
    js = pl.read_parquet(default_run / "jobseeking_spells.parquet")
    sv = pl.read_parquet(default_run / "service_spells.parquet")
    assert set(sv["service_type"].unique()) == {
        "training", "pay_subsidy", "startup_grant", "coaching", "work_trial", "self_motivated_study",
        "rehabilitative_work", "integration_training"}
    ends = js.select("person_id", "spell_id", (pl.col("end_date") + pl.duration(days=1)).alias("start_date"),
                     pl.col("end_reason").alias("js_end_reason"))
    j = sv.join(ends, on=["person_id", "start_date"], how="left")
    matched = j.filter(pl.col("spell_id").is_not_null())
    # services follow a job-seeking spell (a few follow a reform or service job: < 5 %)
    assert matched.height > 0.95 * sv.height
    codes = {"training": {"04"}, "integration_training": {"04"}, "pay_subsidy": {"00"},
             "coaching": {"11"}, "work_trial": {"11"}, "rehabilitative_work": {"12"},
             "self_motivated_study": {"13"}, "startup_grant": {"06"}}
    for st, allowed in codes.items():
        got = set(matched.filter(pl.col("service_type") == st)["js_end_reason"].unique())
        assert got <= allowed, (st, got)


def test_spells_censored_at_extraction(default_run):
    js = pl.read_parquet(default_run / "jobseeking_spells.parquet")
    ongoing = js.filter(pl.col("end_date").is_null())
    assert ongoing.height > 0
    assert ongoing["end_reason"].null_count() == ongoing.height
    assert js["end_date"].drop_nulls().max() <= datetime.date(2025, 12, 31)
    # repeated spells
    assert js.group_by("person_id").len()["len"].max() >= 4


def _net_wages_by_month(folder: Path) -> pl.DataFrame:
    """Regular wages (101/201) by pay-period month after keeping the latest version of each
    report reference, dropping cancelled references and netting recoveries."""
    er = pl.read_parquet(folder / "earnings_reports.parquet")
    latest = er.group_by("report_ref").agg(pl.col("version").max().alias("vmax"),
                                           (pl.col("action") == "cancel").any().alias("cancelled"))
    er = (er.join(latest, on="report_ref").filter((pl.col("version") == pl.col("vmax")) & ~pl.col("cancelled"))
          .filter(pl.col("income_type").is_in([101, 201])))
    return (er.with_columns((pl.col("pay_period_start").dt.year().cast(pl.Int32) * 12
                             + pl.col("pay_period_start").dt.month().cast(pl.Int32) - 1).alias("month"))
            .group_by("person_id", "month").agg(pl.col("amount_eur").sum().alias("reported")))


def test_reports_add_up_to_true_earnings(default_run):
    """Deduplicated, netted pay reports allocated by pay period give the true monthly pay."""
    pm = pl.read_parquet(default_run / "truth" / "person_month.parquet")
    rep = _net_wages_by_month(default_run)
    last = pm["month"].max()
    j = (pm.filter(pl.col("month") < last - 2)
         .join(rep, on=["person_id", "month"], how="full", coalesce=True)
         .filter(pl.col("month") < last - 2)
         .fill_null(0.0))
    diff = (j["earnings"] - j["reported"]).abs()
    # recoveries paid back after the extraction date leave a few months overpaid
    assert (diff > 0.05).mean() < 0.002
    assert j.height > 100_000


def test_report_quirks_present(default_run):
    er = pl.read_parquet(default_run / "earnings_reports.parquet")
    refs = er.group_by("report_ref").agg(pl.col("action").first()).height
    n_replace = er.filter(pl.col("action") == "replace")["report_ref"].n_unique()
    n_cancel = er.filter(pl.col("action") == "cancel")["report_ref"].n_unique()
    assert 0.025 < n_replace / refs < 0.05
    assert 0.02 < n_cancel / refs < 0.045
    assert er.filter(pl.col("recovery"))["amount_eur"].max() < 0
    assert set(er["income_type"].unique()) >= {201, 101, 213, 234, 311}
    hb = er.filter((pl.col("income_type") == 213) & (pl.col("action") != "cancel"))
    assert hb["payment_date"].dt.month().is_in([6, 7]).mean() > 0.9
    assert er.filter(pl.col("subsidised")).height > 0
    # several payers per person and several pay days a month (semi-monthly payers)
    assert er.group_by("person_id").agg(pl.col("payer_id").n_unique())["payer_id"].max() >= 4
    per_month = er.filter(pl.col("income_type") == 201).group_by(
        "person_id", "payer_id", pl.col("pay_period_start").dt.truncate("1mo").alias("m")).agg(
        pl.col("pay_period_start").n_unique())
    assert per_month["pay_period_start"].max() == 2
    # arrears pay: paid in the month after the pay period
    late = er.filter(pl.col("payment_date").dt.month() != pl.col("pay_period_end").dt.month())
    assert late.height > 0.1 * er.height
    # reimbursement-only reports: a report with only income type 311 (tax-exempt kilometre allowance)
    only = er.group_by("report_id").agg(pl.col("income_type").max().alias("mx"), pl.col("income_type").min())
    assert only.filter((pl.col("mx") == 311)).height > 0


# -- truth ------------------------------------------------------------------------------


def _att_vs_tau(truth: Path, service_type: str | None = None) -> tuple[float, float, float]:
    se = pl.read_parquet(truth / "service_effects.parquet")
    if service_type:
        se = se.filter(pl.col("service_type") == service_type)
    d = se.group_by("service_id").agg(
        ((pl.col("employed_1") - pl.col("employed_never")).cast(pl.Float64) - pl.col("tau_employed")).mean().alias("d"))
    return float(d["d"].mean()), float(d["d"].std() / np.sqrt(d.height)), float(se["tau_employed"].mean())


def test_true_att_equals_configured_effect(default_run):
    truth = default_run / "truth"
    dev, se, tau = _att_vs_tau(truth)
    assert tau > 0.02  # the default effects are positive
    assert abs(dev) < 4 * se + 0.003, (dev, se)
    # per horizon, via the public helper
    att = true_att(truth, horizon=[3, 12, 24], counterfactual="never")
    for row in att.iter_rows(named=True):
        assert abs(row["att_employed"] - row["tau_configured"]) < 0.02, row
    # the configured profile: vocational training grows from 3 to 24 months
    tr = true_att(truth, service_type="training", horizon=[3, 24], counterfactual="never", variant="training_vocational")
    assert tr["att_employed"][1] > tr["att_employed"][0] + 0.02


def test_true_lockin(default_run):
    """Lock-in vs 'never' = configured lock-in, capped at the counterfactual employment rate."""
    from impact.simulate import true_lockin

    truth = default_run / "truth"
    lk = true_lockin(truth, by="variant", counterfactual="never")
    sp = pl.read_parquet(truth / "service_participation.parquet")
    # one persistent draw per service: the sampling unit is the service spell
    per = sp.group_by("variant", "service_id").agg(
        (pl.col("employed_1") - pl.col("employed_never")).cast(pl.Float64).sum().alias("d"), pl.len().alias("m"))
    se = per.group_by("variant").agg(
        ((pl.col("d") - pl.col("m") * pl.col("d").sum() / pl.col("m").sum()).pow(2).sum().sqrt()
         / pl.col("m").sum()).alias("se"))
    p0 = sp.group_by("variant").agg(pl.col("employed_never").cast(pl.Float64).mean().alias("p0"))
    lk = lk.join(p0, on="variant").join(se, on="variant")
    checked = 0
    for row in lk.iter_rows(named=True):
        if row["n"] < 100:
            continue
        if np.isnan(row["lockin_configured"]):  # subsidised or self-employed: no open-market work
            assert row["att_employed"] == pytest.approx(-row["p0"], abs=1e-12)
        else:
            target = max(row["lockin_configured"], -row["p0"])
            assert abs(row["att_employed"] - target) < 4 * row["se"] + 0.005, row
        checked += 1
    assert checked >= 6
    assert set(sp["r"].unique()) >= set(range(6))


def test_true_att_differs_from_naive_difference(default_run):
    """Participants are negatively selected: comparing them with non-participants is biased."""
    truth = default_run / "truth"
    att = true_att(truth, horizon=12)["att_employed"][0]
    se = pl.read_parquet(truth / "service_effects.parquet").filter(pl.col("h") == 12)
    pm = pl.read_parquet(truth / "person_month.parquet")
    treated_ids = se["person_id"].unique()
    months = se["month"]
    untreated = pm.filter(~pl.col("person_id").is_in(treated_ids.implode()) & pl.col("employed"))
    n_untreated = 4000 - treated_ids.len()
    rate_u = untreated.filter(pl.col("month").is_in(months.unique().implode())).group_by("month").len()
    rate_u = rate_u.with_columns((pl.col("len") / n_untreated).alias("rate"))
    naive_u = se.join(rate_u, on="month", how="left")["rate"].fill_null(0).mean()
    naive = se["employed_1"].mean() - naive_u
    assert abs(naive - att) > 0.1, (naive, att)


def test_true_att_groups_and_errors(default_run):
    truth = default_run / "truth"
    by = true_att(truth, service_type="training", horizon=12, by=["segment", "female"])
    assert by["n"].sum() == true_att(truth, service_type="training", horizon=12)["n"][0]
    assert {"att_employed", "att_earnings", "tau_configured"} <= set(by.columns)
    with pytest.raises(ConfigError, match="horizon"):
        true_att(truth, horizon=30)
    with pytest.raises(ConfigError, match="nonsense"):
        true_att(truth, by="nonsense")
    with pytest.raises(ConfigError, match="counterfactual"):
        true_att(truth, counterfactual="later")


def test_women_and_long_term_unemployed_gain_more(default_run):
    se = pl.read_parquet(default_run / "truth" / "service_effects.parquet").filter(pl.col("h") == 12)
    g = se.group_by("female", (pl.col("elapsed_months") >= 12).alias("ltu")).agg(pl.col("tau_employed").mean())
    tau = {(r["female"], r["ltu"]): r["tau_employed"] for r in g.iter_rows(named=True)}
    assert tau[(True, False)] > tau[(False, False)]
    assert tau[(False, True)] > tau[(False, False)]


def test_no_effect_scenario(tmp_path):
    out = tmp_path / "null"
    simulate(scenario="no_effect", persons=3000, seed=3, out=out)
    att = true_att(out / "truth", counterfactual="never", horizon=list(range(1, 25)))
    assert att["tau_configured"].abs().max() == 0
    assert att["att_employed"].abs().max() < 0.01


def test_selection_on_unobservable_selects_low_ability(tmp_path, default_run):
    out = tmp_path / "unobs"
    simulate(scenario="selection_on_unobservable", persons=4000, seed=7, out=out)

    def gap(folder):
        lat = pl.read_parquet(folder / "truth" / "latent.parquet")
        treated = pl.read_parquet(folder / "service_spells.parquet")["person_id"].unique().implode()
        t = lat.filter(pl.col("person_id").is_in(treated))["ability"].mean()
        u = lat.filter(~pl.col("person_id").is_in(treated))["ability"].mean()
        return t - u

    assert gap(out) < gap(default_run) - 0.1


def test_area_reform_truth(reform_run):
    am = pl.read_parquet(reform_run / "truth" / "area_month.parquet")
    assert am.filter(~pl.col("treated"))["effect_rate"].abs().max() == 0
    plateau = (am.filter(pl.col("treated") & (pl.col("month") - pl.col("reform_start_month") >= 6))
               .select((pl.col("employed_with") - pl.col("employed_without")).sum() / pl.col("persons").sum()).item())
    # flips use one persistent uniform per person: the effective sample is the persons of
    # the reform areas, so the sampling sd of the plateau is about sqrt(0.03 * 0.97 / n)
    n = am.filter(pl.col("treated")).group_by("employment_area").agg(pl.col("persons").first())["persons"].sum()
    assert abs(plateau - 0.03) < 4 * np.sqrt(0.03 * 0.97 / n), (plateau, n)
    assert plateau > 0.015
    pol = pl.read_parquet(reform_run / "truth" / "area_policy.parquet")
    assert pol["employment_area"].n_unique() == 15
    assert am["reform_start_month"].drop_nulls().n_unique() == 3


# -- scenarios --------------------------------------------------------------------------


def test_committed_scenarios_load():
    names = {p.stem for p in scenario_dir().glob("*.toml")}
    assert {"default", "selection_on_observables", "selection_on_unobservable", "no_effect",
            "lockin_late_gains", "area_reform", "area_reform_null", "heterogeneous", "homogeneous"} <= names
    for name in names:
        cfg = load_scenario(name)
        assert cfg["name"] == name


@pytest.mark.parametrize("text, key", [
    ("[simulation]\npersonz = 3\n", "simulation.personz"),
    ("[services.training]\nshare = 0.1\n", "services.training"),
    ("[services.coaching]\neffect_pp = [1, 2]\n", "services.coaching.effect_pp"),
    ("[selection]\nunobserved = 'high'\n", "selection.unobserved"),
    ("[policy]\nenabled = true\n", "policy.reforms"),
    ("[[policy.reforms]]\nareas = [99]\nstart_month = '2020-01'\neffect_pp = [1]\n[policy]\nenabled = true\n",
     "policy.reforms"),
])
def test_bad_scenario_names_the_key(tmp_path, text, key):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.").replace("[", r"\[")):
        load_scenario(p)


def test_unknown_scenario_name():
    with pytest.raises(ConfigError, match="committed scenarios"):
        load_scenario("does_not_exist")


def test_spare_arrival_only_in_the_not_now_counterfactual():
    """The fourth arrival of an episode never takes place in the realised world (composing
    without the spares gives the same path), and the 'not now' truth of a service of its
    episode lets it in (composing without that service, with the spare, gives employed_0)."""
    from impact.simulate.engine import E, H, N_ARRIVALS, BlockSimulator, make_geography
    from impact.simulate.scenario import parse_month

    cfg = load_scenario("default")
    m0 = parse_month(cfg["simulation"]["start_month"], "start")
    T = parse_month(cfg["simulation"]["end_month"], "end") - m0 + 1
    sim = BlockSimulator(cfg, make_geography(cfg, 3), 3, 0, 1, 3000, m0, T)
    res = sim.run()
    real, svc = res["svc"], sim.candidates_all
    assert svc.spare.any() and not real.spare.any()
    assert (svc.slot[svc.spare] % 4 == N_ARRIVALS).all()
    rows = np.arange(sim.n)
    st, _, _ = sim.compose(rows, svc.take(np.nonzero(~svc.spare)[0]), np.ones(int((~svc.spare).sum()), bool))
    assert np.array_equal(st, sim.state)  # the realised world does not depend on the spares
    # a realised service whose episode's spare starts after it: the truth's employed_0 is the
    # composition without the service and with the spare, and differs from the one without the spare
    key = svc.row.astype(np.int64) * 10_000 + svc.slot
    sp = {int(k): i for k, i in zip(key[svc.spare], np.nonzero(svc.spare)[0])}
    hh = np.arange(1, H + 1)
    found = 0
    for j in range(len(real.row)):  # a few hundred realised services of the block
        k_sp = int(real.row[j]) * 10_000 + int(real.slot[j]) // 4 * 4 + N_ARRIVALS
        if k_sp not in sp:
            continue
        own = np.nonzero(key == int(real.row[j]) * 10_000 + int(real.slot[j]))[0][0]
        row = np.array([real.row[j]])
        cols = np.minimum(real.e[j] + hh, sim.D - 1)
        paths = {}
        for with_spare in (True, False):
            inc = ~svc.spare
            inc[own] = False
            inc[sp[k_sp]] = with_spare
            s0, _, _ = sim.compose(row, svc, inc, reform=True)
            paths[with_spare] = (s0[0, cols] == E).astype(np.int8)
        if not np.array_equal(paths[True], paths[False]):
            assert np.array_equal(paths[True], res["truth"]["emp0"][j])
            found += 1
        if found >= 3:
            break
    assert found >= 1, "no 'not now' path in the block is changed by its spare arrival"
