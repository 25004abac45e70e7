"""Heterogeneous effects: segment CATTs recover a known effect function on a simulated table
(effects larger for women and the long-term unemployed) and show no heterogeneity where
there is none."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from impact.errors import DesignError
from impact.estimators.heterogeneity import dynamic_segments, heterogeneous_effects


def draw(n: int, het: bool, seed: int) -> pl.DataFrame:
    """Selection on observables (long-term unemployed and people with weak histories join more);
    effect on employment 0.05 x 1.8 for women x 2.0 for the long-term unemployed (het)."""
    rng = np.random.default_rng(seed)
    female = rng.random(n) < 0.5
    lt = rng.random(n) < 0.35
    age = rng.uniform(18, 64, n)
    hist = rng.normal(size=n)
    lin = -1.5 + 0.6 * lt - 0.3 * female + 0.5 * hist + 0.01 * (age - 40)
    d = rng.random(n) < 1 / (1 + np.exp(-lin))
    tau = 0.05 * np.where(female & het, 1.8, 1.0) * np.where(lt & het, 2.0, 1.0)
    p0 = 1 / (1 + np.exp(-(-0.3 + 0.8 * hist - 0.5 * lt - 0.02 * (age - 40) + 0.06 * hist**2)))
    y = (rng.random(n) < np.clip(p0 + d * tau, 0, 1)).astype(float)
    return pl.DataFrame({
        "d": d.astype(int), "y": y, "female": female.astype(float), "lt": lt.astype(float), "age": age, "hist": hist,
        "sex": np.where(female, "F", "M"), "duration": np.where(lt, "12+", "0-11"),
        "person": rng.permutation(n) // 2,  # two rows per person: clustered SEs
        "tau": tau,
    })


def truth(df: pl.DataFrame, var: str) -> dict[str, float]:
    t = df.filter(pl.col("d") == 1).group_by(var).agg(pl.col("tau").mean())
    return dict(zip(t[var].to_list(), t["tau"].to_list()))


COVS = ["female", "lt", "age", "hist"]


@pytest.fixture(scope="module")
def het():
    df = draw(16_000, True, 1)
    return df, heterogeneous_effects(df, "d", "y", COVS, ["sex", "duration"], cluster="person", forest_max_rows=4000)


def test_segments_recover_ordering_and_truth(het):
    df, res = het
    for var, hi, lo in (("sex", "F", "M"), ("duration", "12+", "0-11")):
        seg = res.segment(var).set_index("segment")
        tr = truth(df, var)
        assert seg.loc[hi, "estimate"] > seg.loc[lo, "estimate"]
        for lev in (hi, lo):
            assert seg.loc[lev, "ci_lower"] <= tr[lev] <= seg.loc[lev, "ci_upper"], (var, lev, seg, tr)
    tests = res.tests.set_index("segment_var")
    assert (tests["p_value"] < 1e-3).all()
    overall = res.segment("all").iloc[0]
    assert overall["ci_lower"] <= df.filter(pl.col("d") == 1)["tau"].mean() <= overall["ci_upper"]
    # BLP: men gain less, the long-term unemployed more
    blp = res.blp.set_index("term")
    assert blp.loc["sex=M", "ci_upper"] < 0 and blp.loc["duration=12+", "ci_lower"] > 0


def test_targeting_groups_are_ordered_out_of_sample(het):
    _, res = het
    t = res.targeting
    assert len(t) >= 3 and t["n_treated"].gt(0).all()
    assert t["estimate"].iloc[-1] > t["estimate"].iloc[0] + 2 * np.hypot(t["std_error"].iloc[-1], t["std_error"].iloc[0])
    assert "CausalForestDML" in " ".join(res.notes)


def test_no_heterogeneity_shows_none():
    df = draw(16_000, False, 2)
    res = heterogeneous_effects(df, "d", "y", COVS, ["sex", "duration"], cluster="person", forest=False)
    assert (res.tests["p_value"] > 0.01).all(), res.tests
    blp = res.blp.set_index("term")
    for term in ("sex=M", "duration=12+"):
        assert blp.loc[term, "ci_lower"] <= 0 <= blp.loc[term, "ci_upper"]
    seg = res.estimates
    assert ((seg["ci_lower"] <= 0.05) & (0.05 <= seg["ci_upper"])).all(), seg


def test_result_does_not_depend_on_row_order():
    """The rows are put in a canonical order before the nuisance fits: a shuffled table gives the same numbers
    (design builders' joins do not fix the row order, and before this fix the same design gave 0.069 or 0.075)."""
    df = draw(3000, True, 4)
    perm = np.random.default_rng(1).permutation(df.height)
    shuffled = df[perm]
    a = heterogeneous_effects(df, "d", "y", COVS, ["sex"], cluster="person", forest=False)
    b = heterogeneous_effects(shuffled, "d", "y", COVS, ["sex"], cluster="person", forest=False)
    np.testing.assert_allclose(a.estimates["estimate"], b.estimates["estimate"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.estimates["std_error"], b.estimates["std_error"], rtol=0, atol=1e-12)
    # the nuisances come back in the caller's row order
    for k in ("propensity", "m0", "fold"):
        np.testing.assert_allclose(b.nuisance[k], a.nuisance[k][perm], rtol=0, atol=1e-12)
    assert len(a.nuisance["propensity"]) == df.height


def test_repeated_cross_fitting_adds_the_split_spread():
    """Mean aggregation over splits (Chernozhukov et al. 2018): theta = mean, V = mean(V_s + (theta_s - theta)^2)."""
    from impact.estimators.heterogeneity import _aggregate

    th, V = _aggregate([(np.array([1.0, 0.0]), np.diag([1.0, 4.0])), (np.array([3.0, 0.0]), np.diag([1.0, 2.0]))])
    np.testing.assert_allclose(th, [2.0, 0.0])
    np.testing.assert_allclose(V, [[2.0, 0.0], [0.0, 3.0]])
    df = draw(3000, True, 4)
    one = heterogeneous_effects(df, "d", "y", COVS, ["sex"], cluster="person", forest=False)
    three = heterogeneous_effects(df, "d", "y", COVS, ["sex"], cluster="person", forest=False, n_repeats=3)
    assert three.info["n_repeats"] == 3 and "repeated over 3 random splits" in " ".join(three.notes)
    # the first split is the single-split run; the others move the mean by well under a standard error
    assert (np.abs(three.estimates["estimate"] - one.estimates["estimate"]) < 0.5 * one.estimates["std_error"]).all()


def test_bad_input_errors():
    df = draw(2000, True, 3)
    with pytest.raises(DesignError, match="lacks columns \\['nope'\\]"):
        heterogeneous_effects(df, "d", "y", COVS, ["nope"], forest=False)
    with pytest.raises(DesignError, match="must be 0/1"):
        heterogeneous_effects(df.with_columns(d=pl.col("d") * 2), "d", "y", COVS, ["sex"], forest=False)
    with pytest.raises(DesignError, match="expected numeric"):
        heterogeneous_effects(df, "d", "y", ["sex"], ["duration"], forest=False)
    with pytest.raises(DesignError, match="n_folds must be an integer >= 2"):
        heterogeneous_effects(df, "d", "y", COVS, ["sex"], forest=False, n_folds=1)
    with pytest.raises(DesignError, match="lacks columns"):
        dynamic_segments(df)


def test_dynamic_segments_labels():
    df = pl.DataFrame({"age": [20.0, 30.0, 55.0], "female": [1.0, 0.0, 1.0], "educ_basic": [1.0, 0.0, 0.0],
                       "educ_tertiary": [0.0, 1.0, 0.0], "lang_sv": [0.0, 1.0, 0.0], "lang_other": [0.0, 0.0, 1.0],
                       "u": [2, 7, 15], "segment_02": [0.0, 1.0, 0.0], "segment_03": [0.0, 0.0, 1.0]})
    out = dynamic_segments(df)
    assert out["age_band"].to_list() == ["<25", "25-49", "50+"]
    assert out["sex"].to_list() == ["F", "M", "F"]
    assert out["education"].to_list() == ["basic", "tertiary", "upper_secondary"]
    assert out["language"].to_list() == ["fi", "sv", "other"]
    assert out["duration_band"].to_list() == ["0-5", "6-11", "12+"]
    assert out["segment"].to_list() == ["reference", "02", "03"]


# ---------------------------------------------------------------------------------------------------------------
# On the synthetic registers: the dynamic (matching) design, against the generator's truth by segment
# ---------------------------------------------------------------------------------------------------------------

REG_PERSONS, REG_SEED = 20_000, 7


def _segment_check():
    """``benchmarks/mc_segments_homogeneous.py``: the procedure of these tests, which its Monte Carlo repeats."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "mc_segments_homogeneous.py"
    spec = importlib.util.spec_from_file_location("mc_segments_homogeneous", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _register_effects(tmp_path_factory, scenario: str, seed: int = REG_SEED, persons: int = REG_PERSONS):
    """Segment effects (employment 12 months after the end, by sex and long-term unemployment) on the
    risk-set design of a generated scenario, and the truth by segment over exactly the design's treated
    rows (``segment_effects`` of the benchmark module states the estimand)."""
    from impact.simulate import simulate

    out = tmp_path_factory.mktemp(f"{scenario}_{seed}") / "reg"
    simulate(scenario, persons=persons, seed=seed, out=str(out), workers=1)
    res, truth, _ = _segment_check().segment_effects(out)
    return res, truth


def _covers(res, truth) -> None:
    """Every segment's interval covers its truth, jointly: Bonferroni over the segments checked, so that the
    test asserts a 95 % family-wise claim (four separate 95 % intervals miss at least once in ~19 % of draws)."""
    check = _segment_check().bonferroni(res, truth)
    assert check["passes"], (check["crit"], check["segments"])


@pytest.fixture(scope="module")
def homogeneous(tmp_path_factory):
    return _register_effects(tmp_path_factory, "homogeneous")


@pytest.mark.slow
def test_registers_heterogeneous_scenario(tmp_path_factory):
    """heterogeneous.toml: effects x1.8 for women and x2 for the long-term unemployed."""
    res, truth = _register_effects(tmp_path_factory, "heterogeneous")
    assert truth["sex"]["F"] > truth["sex"]["M"] and truth["long_term"]["yes"] > truth["long_term"]["no"]
    sex, lt = res.segment("sex").set_index("segment"), res.segment("long_term").set_index("segment")
    assert sex.loc["F", "estimate"] > sex.loc["M", "estimate"]
    assert lt.loc["yes", "estimate"] > lt.loc["no", "estimate"]
    _covers(res, truth)


@pytest.mark.slow
def test_registers_homogeneous_scenario_shows_no_difference(homogeneous):
    """homogeneous.toml: no heterogeneity by sex or duration; the equal-effect tests do not reject."""
    res, _ = homogeneous
    assert (res.tests.set_index("segment_var").loc[["sex", "long_term"], "p_value"] > 0.05).all(), res.tests


@pytest.mark.slow
def test_registers_homogeneous_scenario_covers_truth(homogeneous):
    """Each segment's interval covers its truth (Bonferroni over the four segments).

    This was an xfail: long-term=no 0.073 (s.e. 0.017) vs truth 0.019. Cause: the estimates depended on
    the 2-fold cross-fitting split (about 0.45 s.e. of noise between splits that the influence-function
    interval does not contain; 0.048-0.062 overall on this draw) and on the design table's row order (0.069
    or 0.075 from the same design); the draw itself is high (the matching ATT is 0.053 vs 0.027, 1.9 s.e.).
    Now 5 folds and a canonical row order: 0.054 (0.017) vs 0.019, 2.1 s.e. Coverage Monte Carlo:
    ``benchmarks/mc_heterogeneity.py`` (results in ``benchmarks/results/mc_heterogeneity.md``)."""
    res, truth = homogeneous
    _covers(res, truth)


# the across-population check: K populations of ACROSS_PERSONS persons, seeds 1..K (fixed before any was run)
ACROSS_K, ACROSS_PERSONS = 16, 5_000


@pytest.mark.slow
def test_registers_homogeneous_segments_cover_across_populations():
    """The segment intervals' claim, read across populations rather than at one seed (issue 19 item 7).

    A single population's Bonferroni test (above) fails, with exact intervals, in up to 5 % of populations:
    in 19 of 453 homogeneous-scenario populations of 20,000 persons (4.2 %, MC s.e. 0.9 %; segment mean z
    -0.01..+0.05, sd(z) 0.97-1.00). The former strict xfail at seed 11 (men -2.74 s.e.) was one of those
    19, a test selected on its failure (``benchmarks/mc_segments_homogeneous.py``; docs/validation.md, 'The
    seed-11 segment test'). This test runs the same procedure on 16 populations of 5,000 persons
    (homogeneous scenario, seeds 1-16) and asserts three statistics against bounds their null distributions
    exceed with probability 0.5 % each: the number of populations whose Bonferroni test fails
    (binomial(16, 0.05): at most 4), the sum of the squared z of each segment variable's two levels
    (chi-square, 32 d.f.: too small standard errors or a bias) and the mean z of the overall effect
    (|mean| <= 2.81 / 4). Drawn from 398 Monte Carlo populations of 5,000 persons it fails in 0.2 % of
    draws; with every standard error 20 % too small in 25 %, a third too small in 89 %."""
    mod = _segment_check()
    recs = [mod.run_one(seed, "homogeneous", ACROSS_PERSONS, matching_att=False) for seed in range(1, ACROSS_K + 1)]
    out = mod.across_populations(recs)
    assert out["passes"], out
