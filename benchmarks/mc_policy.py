"""Monte Carlo validation of learned service-allocation rules against the generator's truth.

Issue #22, item 5: bias and coverage of the estimated gain of a learned rule, its regret
(true value of the learned rule vs the best rule of the same depth), on the
``heterogeneous`` and ``homogeneous`` scenarios; on ``homogeneous`` the method must not
claim a gain more often than the nominal level.

Populations. Each replication is a fresh population of ``--persons`` persons (default
20,000): block 0 of the scenario simulated with its own seed (its own geography), exactly
as :func:`impact.simulate.simulate` simulates a block (``BlockSimulator``, brokerage flips,
truth frames), without writing the Incomes Register tables (the outcome is the generator's
true person x month panel, as in ``validate_matching.py``). On it: the multi-service
design (training, coaching, work trial, pay subsidy; employment 12 months after the start
month), the doubly robust scores (persons split into a learning and an evaluation half, each
cross-fitted over 5 folds) and :func:`learn_policy` (depth 2, capacities as today, leaves of
at least 10 persons, a leaf may keep today's service; learned on one half, evaluated on the
other), without any truth. Per population the script stores the estimates and, per
participant row, the arm, the half, the rule's and the best single service's assignments,
the covariates and the realised true individual effect of the person's own start
(``truth/service_*``).

Truth. ``summarise`` fits the truth of every arm, ``tau_k(x) = E[Y(k) - Y(none) | x]``
(:func:`impact.simulate.policy_truth.conditional_effects`), on the realised effects of the
pooled populations of the *other* half of the seeds (odd seeds' truth from even seeds'
starts and vice versa: about half a million starts, never the population's own), and
computes for each population the true gain of its rule over today over the evaluation
half's participants (``mean of tau(pi(x)) - tau(today's arm)``: what the estimate targets),
vs no service and vs the best single service. Regret, over all the population's
participants: the true gain of the best depth-2 rule on the true effects (same features,
capacities as today and leaf size, exact search) minus the true gain of the learned rule.
The truth regressions' own error is shown by the spread between the truths of the same
population from the two halves' regressions.

``benchmarks/results/mc_policy_kfold.md`` keeps the result of the first version, which
learned rules on K - 1 of K folds and scored the K-th in turn (too narrow intervals; see
:mod:`impact.estimators.policy.evaluate`).

Run (long; nice, resumable: one part file per scenario x seed)::

    nice -n 10 .venv/bin/python benchmarks/mc_policy.py run --scenario heterogeneous --seeds 1-110
    nice -n 10 .venv/bin/python benchmarks/mc_policy.py run --scenario homogeneous --seeds 1-110
    .venv/bin/python benchmarks/mc_policy.py summarise

``summarise`` writes ``benchmarks/results/mc_policy.csv`` (one row per population and
estimand), ``mc_policy.md`` (the table of docs/validation.md) and ``mc_policy.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impact.designs.multi_service import DEFAULT_SERVICES, POLICY_FEATURES, multi_service_design  # noqa: E402
from impact.estimators.policy.evaluate import learn_policy  # noqa: E402
from impact.estimators.policy.scores import dr_scores  # noqa: E402
from impact.estimators.policy.targeting import TRUTH_COVARIATES  # noqa: E402
from impact.estimators.policy.tree import PairHistograms, capacity_tree, code_features  # noqa: E402
from impact.simulate.policy_truth import conditional_effects, realised_effects  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PARTS = RESULTS / "mc_policy_parts"
HORIZON = 12
ARMS = ["none", *DEFAULT_SERVICES]
GAINS = ["gain: rule vs today", "gain: rule vs no service", "gain: rule vs best single service",
         "effect: today's allocation vs no service", "effect: best single service vs no service"]
PID_STRIDE = 10_000_000  # person ids are made unique across populations: seed * stride + id


def population(scenario: str, seed: int, persons: int) -> dict:
    """Registers and truth tables of one fresh population (block 0 of ``seed``)."""
    from impact.simulate import brokerage
    from impact.simulate.engine import BlockSimulator, make_geography
    from impact.simulate.generate import _truth_frames
    from impact.simulate.scenario import load_scenario, parse_month
    from impact.simulate.tables import BlockTables

    cfg = load_scenario(scenario)
    sim_cfg = cfg["simulation"]
    m0 = parse_month(sim_cfg["start_month"], "simulation.start_month")
    T = parse_month(sim_cfg["end_month"], "simulation.end_month") - m0 + 1
    sim = BlockSimulator(cfg, make_geography(cfg, seed), seed, 0, 1, persons, m0, T)
    res = sim.run()
    brokerage.block_tables(sim, res, cfg, seed, 0)  # flips the realised path, as simulate() does
    tabs = BlockTables(sim, res, cfg)
    truth = _truth_frames(sim, res, m0, T)
    return {"persons": tabs.persons(), "jobseeking_spells": tabs.jobseeking(), "service_spells": tabs.services(),
            "person_month": truth["truth/person_month"], "service_effects": truth["truth/service_effects"],
            "service_participation": truth["truth/service_participation"], "months": (m0, m0 + T - 1)}


def one_population(scenario: str, seed: int, persons: int) -> tuple[pd.DataFrame, pl.DataFrame, dict]:
    """Design, scores and rule on one population; (estimates, participant rows, diagnostics)."""
    t0 = time.perf_counter()
    t = population(scenario, seed, persons)
    t_sim = time.perf_counter() - t0
    m0, m1 = t["months"]
    des = multi_service_design(t["jobseeking_spells"], t["service_spells"], t["persons"], t["person_month"],
                               horizons=(HORIZON,), first_month=m0, last_month=m1, seed=seed)
    d = des.data
    sc = dr_scores(d, f"employed_h{HORIZON}", des.arms, des.covariates, des.categorical, seed=seed)
    feats = [f for f in POLICY_FEATURES if f in des.features]
    coded = code_features(d.select(feats).to_numpy(), feats)
    costs = np.array([0.0] + [float(d.filter(pl.col("arm") == k)["cost_eur"].mean()) for k in range(1, len(ARMS))])
    res = learn_policy(sc, coded, costs, depth=2, min_cell=10, capacity="today", keep=True)
    est = res.estimates[["estimand", "estimate", "std_error", "ci_lower", "ci_upper"]].copy()
    est["estimand"] = est["estimand"].str.replace(r"^value: best single service.*", "value: best single service",
                                                  regex=True)
    real = realised_effects(None, HORIZON, DEFAULT_SERVICES, t["service_effects"], t["service_participation"])
    part = d["participant"].to_numpy()
    rows = d.with_columns(
        pi=pl.Series(res.assignment["rule"]), best=pl.Series(res.assignment["best_single"]),
        evaluation=pl.Series(res.assignment["evaluation"]),
    ).filter(pl.Series(part)).join(
        real.rename({"start_month": "m"}).with_columns(pl.col("m").cast(d.schema["m"])).join(
            pl.DataFrame({"service_type": ARMS[1:], "arm": list(range(1, len(ARMS)))}), on="service_type"),
        on=["person_id", "m", "arm"], how="left")
    missing = rows.filter(pl.col("effect").is_null()).height
    if missing:
        raise RuntimeError(f"seed {seed}: {missing} participant rows without a realised truth row")
    rows = rows.select("person_id", "m", "arm", "service_type", "effect", "pi", "best", "evaluation",
                       *sorted(set(TRUTH_COVARIATES) | set(POLICY_FEATURES)))
    rows = rows.with_columns(pl.col("person_id") + seed * PID_STRIDE, seed=pl.lit(seed))
    diag = dict(seed=seed, scenario=scenario, persons=persons, rows=d.height, participants=int(part.sum()),
                evaluation_participants=res.info["participants_evaluation"],
                clipped=int(res.clipping["clipped"].sum()),
                max_weight=float(res.clipping["max_weight"].max()), leaves=len(res.tree.leaves()),
                rule=" | ".join(f"{r.conditions} -> {r.action}" for r in res.leaves.itertuples()),
                seconds_simulate=t_sim, seconds_total=time.perf_counter() - t0)
    return est, rows, diag


def _atomic(df: pd.DataFrame | pl.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(df, pl.DataFrame):
        df.write_parquet(tmp)
    else:
        df.to_csv(tmp, index=False)
    os.replace(tmp, path)


def run(scenario: str, seeds: list[int], persons: int) -> None:
    out = PARTS / scenario
    out.mkdir(parents=True, exist_ok=True)
    for seed in seeds:  # one population per seed
        if (out / f"{seed}.json").exists() or (out / f"{seed}.failed").exists():
            continue
        try:
            est, rows, diag = one_population(scenario, seed, persons)
        except Exception as exc:  # recorded, reported by summarise, and the run goes on
            (out / f"{seed}.failed").write_text(f"{type(exc).__name__}: {exc}")
            print(f"{scenario} seed {seed}: FAILED {type(exc).__name__}: {exc}", flush=True)
            continue
        _atomic(rows, out / f"{seed}_rows.parquet")
        _atomic(est, out / f"{seed}_estimates.csv")
        tmp = out / f".{seed}.json.tmp"
        tmp.write_text(json.dumps(diag))
        os.replace(tmp, out / f"{seed}.json")  # written last: marks the population done
        print(f"{scenario} seed {seed}: {diag['seconds_total']:.0f}s, participants {diag['participants']}, "
              f"rule {diag['rule']}", flush=True)


def _truths(rows: pl.DataFrame, fit: pl.DataFrame) -> np.ndarray:
    """True effects of every arm for ``rows``, regressions fitted on the starts of ``fit``."""
    real = fit.select("person_id", pl.col("m").alias("start_month"), "service_type", "effect")
    return conditional_effects(rows, real, ARMS, list(TRUTH_COVARIATES), fit_rows=fit, n_folds=2)


def _population_truth(r: pl.DataFrame, tau: np.ndarray) -> dict:
    """True gains of the rule (evaluation half) and its regret (all participants) for one population."""
    w = r["arm"].to_numpy()
    idx = np.arange(len(w))
    own = tau[idx, w]
    pi, best, ev = r["pi"].to_numpy(), r["best"].to_numpy(), r["evaluation"].to_numpy()
    feats = [f for f in POLICY_FEATURES if r[f].n_unique() > 1]
    coded = code_features(r.select(feats).to_numpy(), feats)
    R = np.column_stack([tau, own])
    usage = np.zeros((len(w), len(ARMS)))
    usage[idx, w] = 1.0
    cap = np.bincount(w, minlength=len(ARMS)).astype(float)
    cap[0] = np.inf
    hist = PairHistograms.build(coded.codes, coded.levels, R, np.ones(len(w)), usage=usage)
    oracle = capacity_tree(hist, coded.names, coded.values, cap, depth=2, min_leaf=10,
                           channel=np.r_[np.arange(len(ARMS)), -1])
    gain_oracle = oracle.objective / len(w) - own.mean()
    gain_rule = (tau[idx, pi] - own).mean()
    e = ev
    return {"gain: rule vs today": (tau[idx, pi] - own)[e].mean(), "gain: rule vs no service": tau[idx, pi][e].mean(),
            "gain: rule vs best single service": (tau[idx, pi] - tau[idx, best])[e].mean(),
            "effect: today's allocation vs no service": own[e].mean(),
            "effect: best single service vs no service": tau[idx, best][e].mean(),
            "oracle_gain": gain_oracle, "rule_gain": gain_rule, "regret": gain_oracle - gain_rule}


def summarise() -> None:
    out_rows, diags = [], []
    for sc_dir in sorted(p for p in PARTS.iterdir() if p.is_dir()):
        seeds = sorted(int(p.stem) for p in sc_dir.glob("*.json"))
        failed = sorted(int(p.stem) for p in sc_dir.glob("*.failed"))
        if failed:
            print(f"{sc_dir.name}: {len(failed)} populations failed: {failed}")
        if not seeds:
            continue
        rows = {s: pl.read_parquet(sc_dir / f"{s}_rows.parquet") for s in seeds}
        diags += [json.loads((sc_dir / f"{s}.json").read_text()) for s in seeds]
        halves = {h: [s for s in seeds if s % 2 == h] for h in (0, 1)}
        pooled = {h: pl.concat([rows[s] for s in halves[h]], how="vertical_relaxed") for h in (0, 1)}
        for h in (0, 1):  # truths of one half from the other half's starts (and, for the spread, from its own)
            other = pooled[1 - h]
            both = pl.concat([rows[s] for s in halves[h]], how="vertical_relaxed")
            tau_other = _truths(both, other)
            tau_own = _truths(both, pooled[h])
            off = 0
            for s in halves[h]:
                n = rows[s].height
                t_o = _population_truth(rows[s], tau_other[off:off + n])
                t_s = _population_truth(rows[s], tau_own[off:off + n])
                off += n
                est = pd.read_csv(sc_dir / f"{s}_estimates.csv").set_index("estimand")
                for k in GAINS:
                    e = est.loc[k]
                    out_rows.append(dict(scenario=sc_dir.name, seed=s, estimand=k, estimate=e["estimate"],
                                         std_error=e["std_error"], ci_lower=e["ci_lower"], ci_upper=e["ci_upper"],
                                         truth=t_o[k], truth_other_model=t_s[k], oracle_gain=t_o["oracle_gain"],
                                         rule_gain=t_o["rule_gain"], regret=t_o["regret"]))
    raw = pd.DataFrame(out_rows).sort_values(["scenario", "estimand", "seed"])
    _atomic(raw, RESULTS / "mc_policy.csv")
    pd.DataFrame(diags).to_csv(RESULTS / "mc_policy_draws.csv", index=False)
    text, summary = _table(raw)
    tmp = RESULTS / ".mc_policy.md.tmp"
    tmp.write_text(text)
    os.replace(tmp, RESULTS / "mc_policy.md")
    tmp = RESULTS / ".mc_policy.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1))
    os.replace(tmp, RESULTS / "mc_policy.json")
    print(text)


def _table(raw: pd.DataFrame) -> tuple[str, dict]:
    lines = ["| scenario | estimand | populations | mean truth | bias +/- MC s.e. | SD(est - truth) | mean s.e. | "
             "coverage +/- MC s.e. | claims gain (lower > 0) | truth model spread |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    summary: dict = {}
    for (scn, k), g in raw.groupby(["scenario", "estimand"], sort=True):
        err = g["estimate"] - g["truth"]
        R = len(g)
        cov = ((g["ci_lower"] <= g["truth"]) & (g["truth"] <= g["ci_upper"])).mean()
        cov_se = np.sqrt(max(cov * (1 - cov), 0.95 * 0.05) / R)
        claim = (g["ci_lower"] > 0).mean()
        spread = (g["truth"] - g["truth_other_model"]).std()
        lines.append(f"| {scn} | {k} | {R} | {g['truth'].mean():+.4f} | {err.mean():+.4f} +/- {err.std() / np.sqrt(R):.4f} "
                     f"| {err.std():.4f} | {g['std_error'].mean():.4f} | {cov:.3f} +/- {cov_se:.3f} | {claim:.3f} | "
                     f"{spread:.4f} |")
        summary.setdefault(scn, {})[k] = dict(populations=R, truth=g["truth"].mean(), bias=err.mean(),
                                              bias_mcse=err.std() / np.sqrt(R), sd_error=err.std(),
                                              mean_se=g["std_error"].mean(), coverage=cov, coverage_mcse=cov_se,
                                              claims_gain=claim, truth_model_spread=spread)
    lines += ["", "Gain over today's allocation, per participant (all participants of a population): the best "
              "depth-2 rule on the true effects (oracle) and the learned rule; regret = oracle - learned. False gain: "
              "the interval lies above zero while the true gain (evaluation half) is not positive.", "",
              "| scenario | populations | oracle gain | learned rule's true gain | regret (SD) | claims a gain | "
              "false-gain rate |", "|---|---|---|---|---|---|---|"]
    for scn, g in raw[raw["estimand"] == "gain: rule vs today"].groupby("scenario"):
        claim = (g["ci_lower"] > 0).mean()
        fg = ((g["ci_lower"] > 0) & (g["truth"] <= 0)).mean()
        lines.append(f"| {scn} | {len(g)} | {g['oracle_gain'].mean():+.4f} | {g['rule_gain'].mean():+.4f} | "
                     f"{g['regret'].mean():.4f} ({g['regret'].std():.4f}) | {claim:.3f} | {fg:.3f} |")
        summary[scn]["regret"] = dict(oracle_gain=g["oracle_gain"].mean(), rule_gain=g["rule_gain"].mean(),
                                      regret=g["regret"].mean(), regret_sd=g["regret"].std(), claims_gain=claim,
                                      false_gain_rate=fg)
    return "\n".join(["# Learned allocation rules: Monte Carlo against the generator's truth", ""] + lines) + "\n", summary


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--scenario", required=True)
    r.add_argument("--seeds", required=True, help="e.g. 1-110 or 1,2,5")
    r.add_argument("--persons", type=int, default=20_000)
    sub.add_parser("summarise")
    a = ap.parse_args()
    if a.cmd == "run":
        run(a.scenario, _seeds(a.seeds), a.persons)
    else:
        summarise()


if __name__ == "__main__":
    main()
