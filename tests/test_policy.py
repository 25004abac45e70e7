"""Learned allocation rules: doubly robust scores and honest evaluation recover a planted rule and
its true gain on a simulated table; the multi-service design, the generator's rule truth and the
whole targeting analysis on small synthetic registers; the tree figure."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from impact.errors import DesignError
from impact.estimators.policy.evaluate import KEEP, describe, learn_policy
from impact.estimators.policy.scores import dr_scores
from impact.estimators.policy.tree import code_features

ARMS = ["none", "a", "b"]


def _table(n_persons: int, seed: int, het: bool) -> tuple[pl.DataFrame, np.ndarray]:
    """Three risk rows per person; a quarter start a service; which one depends on x1 and age.

    True effects: with ``het``, service a adds 0.15 for x1 = 1 and nothing otherwise, b adds
    0.10 for x1 = 0 and 0.02 otherwise; without, a adds 0.05 and b 0.05 for everyone.
    """
    rng = np.random.default_rng(seed)
    n = 3 * n_persons
    person = np.repeat(np.arange(n_persons), 3)
    x1 = np.repeat(rng.random(n_persons) < 0.5, 3).astype(float)
    age = np.repeat(rng.integers(20, 60, n_persons), 3).astype(float)
    x3 = rng.normal(size=n)
    part = rng.random(n) < 1 / (1 + np.exp(-(-1.2 + 0.3 * x1 + 0.01 * (age - 40))))
    q_a = 1 / (1 + np.exp(-(0.4 + 0.5 * x1 - 0.02 * (age - 40))))  # today: a for about 60 %
    arm = np.where(part, np.where(rng.random(n) < q_a, 1, 2), 0)
    tau = np.zeros((n, 3))
    if het:
        tau[:, 1] = np.where(x1 > 0, 0.15, 0.0)
        tau[:, 2] = np.where(x1 > 0, 0.02, 0.10)
    else:
        tau[:, 1:] = 0.05
    p0 = 1 / (1 + np.exp(-(-0.8 + 0.4 * x1 - 0.02 * (age - 40) + 0.3 * x3)))
    y = (rng.random(n) < np.clip(p0 + tau[np.arange(n), arm], 0, 1)).astype(float)
    df = pl.DataFrame({"person_id": person, "arm": arm, "y": y, "x1": x1, "age": age, "x3": x3})
    return df, tau


def _fit(df: pl.DataFrame, tau: np.ndarray, **kw):
    sc = dr_scores(df, "y", ARMS, ["x1", "age", "x3"], seed=1)
    feats = code_features(df.select("x1", "age").to_numpy(), ["x1", "age"])
    labels = {"x1": ("group one", "yes/no", ()), "age": ("age", "number", ())}
    groups = {"group": np.where(df["x1"].to_numpy() > 0, "one", "zero"),
              "age_band": np.where(df["age"].to_numpy() < 30, "<30", "30+")}
    return sc, learn_policy(sc, feats, np.array([0.0, 3000.0, 1000.0]), labels=labels, truth=tau, groups=groups, **kw)


@pytest.fixture(scope="module")
def planted():
    df, tau = _table(6000, 11, het=True)
    return df, tau, *_fit(df, tau)


def test_scores_estimate_arm_effects_and_rule_values(planted):
    df, tau, sc, res = planted
    alloc = res.allocation.set_index("arm")
    for a in ("a", "b"):
        r = alloc.loc[a]
        assert r["effect_ci_lower"] <= r["truth_effect"] <= r["effect_ci_upper"], (a, r.to_dict())
    est = res.estimates.set_index("estimand")
    for k in ("gain: rule vs today", "gain: rule vs no service", "gain: rule vs best single service",
              "effect: today's allocation vs no service", "effect: best single service vs no service"):
        r = est.loc[k]
        assert r["ci_lower"] <= r["truth"] <= r["ci_upper"], (k, r.to_dict())
        assert r["per_1000"] == pytest.approx(1000 * r["estimate"])
    # the planted rule: a for group one, b for the others, well beyond today's mix
    assert est.loc["gain: rule vs today", "ci_lower"] > 0
    assert est.loc["gain: rule vs today", "truth"] > 0.02
    leaves = res.leaves
    assert set(leaves["action"]) <= {"none", "a", "b", KEEP}
    x1 = df["x1"].to_numpy()
    pub = res.assignment["rule"]
    part = sc.participant
    zero = part & (x1 == 0)
    assert (pub[part & (x1 > 0)] == 1).mean() > 0.8
    assert (pub[zero] == 2).mean() > (sc.arm[zero] == 2).mean() + 0.25  # b moves to group zero, within its capacity
    # capacities as today in the half the rule is learned on; evaluated on the other half
    assert (alloc["rule_learning"] <= alloc["capacity_learning"].fillna(np.inf)).all()
    assert res.info["participants_evaluation"] + res.info["participants_learning"] == int(part.sum())
    assert set(np.unique(sc.half)) == {0, 1}
    assert res.estimates["n_treated"].iloc[0] == int((part & (sc.half == 1)).sum())
    assert "other half" in " ".join(res.notes)
    # the tree as a node table: root, splits and leaves with persons
    nodes = res.tree_nodes
    assert nodes["parent"].iloc[0] == -1 and nodes["is_leaf"].sum() == len(leaves)
    assert (nodes.loc[nodes["is_leaf"], "persons"] >= 10).all()


def test_fairness_table_flags_withdrawal_from_a_group_that_benefits(planted):
    res = planted[3]
    fair = res.fairness
    assert set(fair["group_var"]) == {"group", "age_band"}
    cols = {"persons", "share_withdrawn", "share_changed", "effect_today", "gain_rule", "effect_withdrawn", "flag"}
    assert cols <= set(fair.columns)
    ok = fair[~fair["suppressed"]]
    assert (ok["persons"] >= 10).all()
    # flags exactly where services are withdrawn from >= 10 persons with a positive estimated effect
    expect = (ok["persons_withdrawn"] >= 10) & (ok["effect_withdrawn"] > 0)
    assert (ok["flag"] == expect).all()
    # group one gains 0.15 from service a: a rule that withdraws services from some of its members is flagged
    one = ok[(ok["group_var"] == "group") & (ok["group"] == "one")].iloc[0]
    assert one["persons_withdrawn"] < 10 or bool(one["flag"])


def test_no_gain_without_heterogeneity():
    df, tau = _table(6000, 13, het=False)
    sc, res = _fit(df, tau)
    est = res.estimates.set_index("estimand")
    r = est.loc["gain: rule vs today"]
    assert r["truth"] <= 1e-12  # nothing to gain: any change only loses slots
    assert r["ci_lower"] <= r["truth"] <= r["ci_upper"]
    assert r["ci_lower"] < 0  # no gain claimed


def test_bad_input_is_refused():
    df, tau = _table(500, 1, het=True)
    with pytest.raises(DesignError, match="arm codes"):
        dr_scores(df.with_columns(pl.col("arm") + 5), "y", ARMS, ["x1"])
    with pytest.raises(DesignError, match="lacks columns"):
        dr_scores(df, "nope", ARMS, ["x1"])
    with pytest.raises(DesignError, match="clip"):
        dr_scores(df, "y", ARMS, ["x1"], clip=0.7)
    with pytest.raises(DesignError, match="split"):
        dr_scores(df, "y", ARMS, ["x1"], split=0.99)
    sc = dr_scores(df, "y", ARMS, ["x1", "age"], n_folds=2)
    feats = code_features(df.select("x1").to_numpy(), ["x1"])
    with pytest.raises(DesignError, match="costs"):
        learn_policy(sc, feats, np.zeros(2))
    with pytest.raises(DesignError, match="capacity"):
        learn_policy(sc, feats, np.zeros(3), capacity="half")
    whole = dr_scores(df, "y", ARMS, ["x1", "age"], n_folds=2, split=None)
    with pytest.raises(DesignError, match="evaluation half"):
        learn_policy(whole, feats, np.zeros(3))


def test_describe_words():
    labels = {"age": ("age (years)", "number", ()), "female": ("woman", "yes/no", ()),
              "education": ("education", "ordered", ("basic", "upper secondary", "tertiary"))}
    assert describe("age", 29.0, True, labels) == "age (years) <= 29"
    assert describe("age", 29.0, False, labels, 30.0) == "age (years) >= 30"
    assert describe("female", 0.0, False, labels) == "woman: yes"
    assert describe("education", 1.0, True, labels) == "education: basic or upper secondary"
    assert describe("education", 1.0, False, labels) == "education: tertiary"


def test_tree_figure_draws_every_leaf(planted):
    from impact.plots.policy import policy_tree_figure

    res = planted[3]
    fig = policy_tree_figure(res.tree_nodes, title="rule")
    texts = [t.get_text() for t in fig.axes[0].texts]
    for a in res.leaves["action"]:
        assert any(t.startswith(a) for t in texts)
    assert sum("persons" in t for t in texts) == len(res.leaves)
    with pytest.raises(ValueError, match="lacks columns"):
        policy_tree_figure(res.tree_nodes.drop(columns=["branch"]))


# --------------------------------------------------------------------------------------
# synthetic registers: design, truth, the whole analysis
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registers(tmp_path_factory):
    from impact.simulate import simulate

    out = tmp_path_factory.mktemp("policy") / "reg"
    simulate("heterogeneous", persons=8000, seed=5, out=out, workers=1)
    read = lambda name: pl.read_parquet(out / f"{name}.parquet")  # noqa: E731
    return (read("jobseeking_spells"), read("service_spells"), read("persons"),
            pl.read_parquet(out / "truth" / "person_month.parquet"), out / "truth")


def test_multi_service_design_labels_arms_and_costs(registers):
    from impact.designs.multi_service import multi_service_design

    spells, services, persons, panel, _ = registers
    des = multi_service_design(spells, services, persons, panel, horizons=(12,))
    d = des.data
    assert des.arms == ["none", "training", "coaching", "work_trial", "pay_subsidy"]
    assert (d["participant"] == (d["arm"] > 0)).all() and (d["participant"] == (d["treated"] > 0)).all()
    # every participant row is a start of its arm's service in that month
    st = services.with_columns(ms=pl.col("start_date").dt.year() * 12 + pl.col("start_date").dt.month() - 1)
    code = pl.DataFrame({"service_type": des.arms[1:], "arm": list(range(1, 5))})
    j = d.filter(pl.col("participant")).select("person_id", "ms", "arm", "cost_eur").join(
        st.join(code, on="service_type").select("person_id", pl.col("ms").cast(d.schema["ms"]), "arm",
                                                pl.col("cost_eur").alias("c")), on=["person_id", "ms", "arm"],
        how="left")
    assert j["c"].null_count() == 0
    assert (d.filter(~pl.col("participant"))["cost_eur"] == 0).all()
    assert set(des.features) <= set(d.columns) and {"sex", "language", "age_band", "area_size"} <= set(d.columns)
    assert sum(des.arm_counts().values()) == d.height
    with pytest.raises(DesignError, match="no spells of service type"):
        multi_service_design(spells, services, persons, panel, service_types=["training", "teleportation"])
    with pytest.raises(DesignError, match="at least two"):
        multi_service_design(spells, services, persons, panel, service_types=["training"])


def test_realised_effects_are_the_generators_potential_outcomes(registers):
    from impact.simulate.policy_truth import realised_effects

    truth = registers[4]
    eff = pl.read_parquet(truth / "service_effects.parquet")
    par = pl.read_parquet(truth / "service_participation.parquet")
    re = realised_effects(truth, 12, ["training", "coaching"])
    assert re["service_type"].unique().sort().to_list() == ["coaching", "training"]
    # after the end: service_effects at end + h' with end - start + h' = 12
    after = eff.filter((pl.col("month") == pl.col("start_month") + 12) & pl.col("service_type").is_in(
        ["training", "coaching"])).select("person_id", "start_month", "service_type",
                                          e=(pl.col("employed_1") - pl.col("employed_0")).cast(pl.Float64))
    during = par.filter((pl.col("r") == 12) & pl.col("service_type").is_in(["training", "coaching"])).select(
        "person_id", (pl.col("month") - 12).alias("start_month"), "service_type",
        e=(pl.col("employed_1") - pl.col("employed_0")).cast(pl.Float64))
    both = pl.concat([after, during]).unique(["person_id", "start_month", "service_type"], keep="first")
    j = re.join(both, on=["person_id", "start_month", "service_type"], how="full", coalesce=True)
    assert j["effect"].null_count() == 0 and j["e"].null_count() == 0
    assert (j["effect"] == j["e"]).all()


def test_conditional_effects_recover_a_known_effect_function():
    from impact.simulate.policy_truth import conditional_effects

    rng = np.random.default_rng(0)
    n = 40_000
    x = rng.integers(0, 2, n).astype(float)
    age = rng.integers(20, 60, n).astype(float)
    arm = rng.integers(0, 3, n)
    rows = pl.DataFrame({"person_id": np.arange(n), "m": np.full(n, 100), "arm": arm, "x": x, "age": age})
    true = np.column_stack([np.zeros(n), 0.05 + 0.10 * x, 0.02 + 0.002 * (age - 20)])
    # like the generator's individual effects: mostly 0, a flip into work with the effect's probability,
    # and a few flips either way
    noise = np.where(rng.random(n) < 0.03, np.where(rng.random(n) < 0.5, 1.0, -1.0), 0.0)
    draw = (rng.random(n) < true[np.arange(n), arm]).astype(float) + noise
    real = pl.DataFrame({"person_id": np.arange(n), "start_month": np.full(n, 100),
                         "service_type": np.array(["none", "s1", "s2"])[arm], "effect": draw}).filter(
        pl.col("service_type") != "none")
    got = conditional_effects(rows, real, ["none", "s1", "s2"], ["x", "age"], n_folds=2)
    assert np.abs(got[:, 0]).max() == 0
    for k in (1, 2):  # the regression recovers the effect function up to a small error
        assert np.abs(got[:, k] - true[:, k]).mean() < 0.025, k
    assert abs(got[x > 0, 1].mean() - 0.15) < 0.015 and abs(got[x == 0, 1].mean() - 0.05) < 0.015
    assert abs(got[age >= 40, 2].mean() - true[age >= 40, 2].mean()) < 0.015


def test_service_targeting_end_to_end_with_truth(registers):
    from impact.estimators.policy.targeting import TRUTH_COVARIATES, TargetingOptions, service_targeting
    from impact.simulate.policy_truth import arm_effects

    spells, services, persons, panel, truth = registers

    def tr(rows, arms, h):
        return arm_effects(truth, rows, arms, h, TRUTH_COVARIATES)
    out = service_targeting(spells, services, persons, panel, TargetingOptions(folds=3), truth=tr)
    g = out.gain.set_index("estimand")
    assert g.loc["gain: rule vs today", "truth"] == g.loc["gain: rule vs today", "truth"]  # not NaN
    assert (out.leaves["persons"] >= 10).all()
    assert set(out.timings) >= {"design", "scores", "truth", "learning", "total"}
    assert out.data is not None and out.data.height == len(out.results.assignment["rule"])
    fair = out.fairness
    small = fair[fair["suppressed"]]
    assert small.drop(columns=["group_var", "group", "flag", "flag_significant", "suppressed"]).isna().all().all()
    # every truth outside its interval is a visible warning
    miss = out.gain[out.gain["truth"].notna() & ((out.gain["truth"] < out.gain["ci_lower"])
                                                 | (out.gain["truth"] > out.gain["ci_upper"]))]
    assert sum("lies outside" in w for w in out.warnings) == len(miss)
    assert sum("gives no service" in w for w in out.warnings) <= 1  # one line, however many groups
    assert out.timings["total_cpu"] > 0 and out.timings["scores_cpu"] > 0
    with pytest.raises(DesignError, match="outcome"):
        TargetingOptions(outcome="happiness")
    with pytest.raises(DesignError, match="unknown policy features"):
        TargetingOptions(features=("shoe_size",))
