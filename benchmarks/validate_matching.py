"""Monte Carlo validation of dynamic (risk-set) matching against the generator's truth.

Issue #4 (coverage of the 95 % intervals at 3, 6 and 12 months over >= 200 replications)
and the matching rows of issue #8's validation harness (coverage 0.92-0.98 and bias under
10 % of the effect where the design's assumptions hold; failing, and flagged, where not).

Replications. A scenario's population is simulated block by block exactly as
:func:`impact.simulate.simulate` does (same ``BlockSimulator``, brokerage flips and truth
frames, checked in ``tests/test_validate_matching.py``) but without the Incomes Register
and benefit report tables, which the design does not read (the outcome is the generator's
true person x month panel, as in ``validate_estimators.py``). Each block of 20,000 persons
is split at random into disjoint subsamples of ``--persons`` persons; each subsample is one
replication: design (``risk_set_design``, training, outcomes 3/6/12 months after the service
end, at most 50 controls per cell), PSM k=5 with person-clustered Abadie-Imbens standard
errors, and the truth 'not now' ATT over that subsample's own treated (design rows joined to
``truth/service_effects``).

Dependence between replications. Blocks are simulated from independent random streams;
persons of one population share only its geography (fixed area effects and service
propensities drawn from the seed; the business cycle is deterministic, there are no random
area x month shocks). Given the geography, the persons of different subsamples are
independent, so the replications are independent draws of the same (conditional) sampling
distribution. The estimand is each draw's sample ATT, whose truth uses the draw's own
treated. What shared geography could do is give every subsample of one population the same
bias (e.g. an area effect the design fails to absorb): to see it, several populations
(seeds) are run per scenario, and the summary splits the error variance into a
between-population and a within-population part and gives the bias's Monte Carlo error
clustered by population.

Estimand of the intervals. The Abadie-Imbens variance is that of the estimate around the
population ATT (given the geography); the draw's sample ATT differs from it by the treated's
realised individual effects. Around the sample ATT the treated's term of the variance is
Var(Y(0) | X) instead of Var(Y(1) | X) plus effect heterogeneity, so coverage of the sample
ATT falls below 0.95 where the participants' employment is far below their 'not now' rate
(deep lock-in at short horizons) and is a little above 0.95 where it is above. The summary
reports coverage of both (``coverage``, ``coverage_population_att``).

Run in chunks (each chunk = one scenario x one seed, results appended to
``benchmarks/results/validate_matching_parts/``), then summarise::

    .venv/bin/python benchmarks/validate_matching.py run --scenario selection_on_observables --seeds 1 2
    .venv/bin/python benchmarks/validate_matching.py summarise

Writes ``benchmarks/results/validate_matching_raw.csv`` (the columns of
``validate_estimators_raw.csv``), ``validate_matching_draws.csv`` (per draw diagnostics),
``validate_matching.csv`` (summary per scenario x horizon) and ``mc_dynamic_matching.json``.
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

RESULTS = ROOT / "benchmarks" / "results"
PARTS = RESULTS / "validate_matching_parts"
ESTIMATOR = "matching (dynamic, PSM k=5)"
SCENARIOS = {  # scenario -> do the design's assumptions (selection on observables) hold?
    "selection_on_observables": True,
    "no_effect": True,
    "lockin_late_gains": True,
    "selection_on_unobservable": False,
}
HORIZONS = (3, 6, 12)
RAW_COLUMNS = ["scenario", "rep", "assumptions_hold", "estimator", "horizon", "estimate", "std_error", "ci_lower",
               "ci_upper", "truth", "persons"]


def population_blocks(scenario: str, seed: int, blocks: int, block_persons: int | None = None):
    """Yield ``(block, tables)`` for the first ``blocks`` blocks of a scenario's population.

    ``block_persons`` (tests): persons per block instead of the scenario's block size.

    ``tables`` holds ``persons``, ``jobseeking_spells``, ``service_spells``, ``person_month``
    (truth) and ``service_effects`` (truth, training only), identical to what
    :func:`impact.simulate.simulate` writes for the same scenario and seed.
    """
    from impact.simulate import brokerage
    from impact.simulate.engine import BlockSimulator, make_geography
    from impact.simulate.generate import _truth_frames
    from impact.simulate.scenario import load_scenario, parse_month
    from impact.simulate.tables import BlockTables

    cfg = load_scenario(scenario)
    sim_cfg = cfg["simulation"]
    m0 = parse_month(sim_cfg["start_month"], "simulation.start_month")
    T = parse_month(sim_cfg["end_month"], "simulation.end_month") - m0 + 1
    bs = int(sim_cfg["block_size"])
    n = bs if block_persons is None else min(bs, int(block_persons))
    geo = make_geography(cfg, seed)
    for b in range(blocks):  # blocks of 20,000 persons
        sim = BlockSimulator(cfg, geo, seed, b, b * bs + 1, n, m0, T)
        res = sim.run()
        brokerage.block_tables(sim, res, cfg, seed, b)  # flips the realised path, as simulate() does
        tabs = BlockTables(sim, res, cfg)
        truth = _truth_frames(sim, res, m0, T)
        yield b, {
            "persons": tabs.persons(), "jobseeking_spells": tabs.jobseeking(), "service_spells": tabs.services(),
            "person_month": truth["truth/person_month"],
            "service_effects": truth["truth/service_effects"].filter(pl.col("service_type") == "training"),
            "months": (m0, m0 + T - 1),
        }


def split(tables: dict, persons: int, rng: np.random.Generator) -> list[dict]:
    """Disjoint random subsamples of ``persons`` persons (the remainder is dropped)."""
    ids = tables["persons"]["person_id"].to_numpy()
    k = len(ids) // persons
    sub = np.full(len(ids), -1, np.int32)
    sub[rng.permutation(len(ids))[: k * persons]] = np.repeat(np.arange(k, dtype=np.int32), persons)
    key = pl.DataFrame({"person_id": ids, "_sub": sub}).filter(pl.col("_sub") >= 0)
    parts = {name: dict(tables[name].join(key, on="person_id", how="inner").partition_by("_sub", as_dict=True))
             for name in ("persons", "jobseeking_spells", "service_spells", "person_month", "service_effects")}
    empty = {name: tables[name].clear() for name in parts}
    return [{name: parts[name].get((s,), empty[name].with_columns(_sub=pl.lit(s, pl.Int32))).drop("_sub")
             for name in parts} | {"months": tables["months"]} for s in range(k)]


def one_draw(t: dict) -> tuple[list[dict], dict]:
    """Design, estimate and truth on one subsample: rows per horizon and draw diagnostics."""
    from impact.designs.dynamic import risk_set_design
    from impact.estimators.matching.design import match_design
    from impact.errors import DesignError

    m0, m1 = t["months"]
    des = risk_set_design(t["jobseeking_spells"], t["service_spells"], t["persons"], t["person_month"],
                          horizons=HORIZONS, max_controls=50, employed="employed", earnings="earnings",
                          first_month=m0, last_month=m1)
    dropped: list[str] = []
    try:
        res = match_design(des)
    except DesignError as exc:
        if "perfect separation" not in str(exc):
            raise
        # a rare indicator (e.g. Swedish speakers, in few areas) seen only among the controls of
        # a small draw separates the logit: drop the indicators constant among the treated and
        # refit, as an analyst would (recorded per draw)
        tr_rows = des.data.filter(pl.col("treated") == 1)
        dropped = [c for c in des.covariates if tr_rows[c].n_unique() == 1 and des.data[c].n_unique() == 2]
        if not dropped:
            raise
        des.covariates = [c for c in des.covariates if c not in dropped]
        res = match_design(des)
    est = res.estimates.set_index("outcome")
    # the same matching without person clustering (diagnostic: how much the clustering adds)
    nocl = match_design(des, cluster=None).estimates.set_index("outcome")
    tr = des.data.filter(pl.col("treated") == 1).select("person_id", pl.col("ms").cast(pl.Int32),
                                                        pl.col("me").cast(pl.Int32))
    j = tr.join(t["service_effects"].filter(pl.col("h").is_in(list(HORIZONS))),
                left_on=["person_id", "ms"], right_on=["person_id", "start_month"], how="left")
    if j["h"].null_count():
        raise RuntimeError(f"{j['h'].null_count()} treated design rows have no truth row")
    end_mismatch = int((j["end_month"] != j["me"]).sum())
    tt = j.group_by("h").agg(att=(pl.col("employed_1") - pl.col("employed_0")).cast(pl.Float64).mean(),
                             att_never=(pl.col("employed_1") - pl.col("employed_never")).cast(pl.Float64).mean(),
                             n=pl.len())
    tt = {int(r["h"]): r for r in tt.iter_rows(named=True)}
    d = des.data
    ctl = d.filter(pl.col("treated") == 0)
    diag = dict(rows=d.height, treated=int(d["treated"].sum()), controls=ctl.height,
                control_persons=ctl["person_id"].n_unique(), treated_persons=tr["person_id"].n_unique(),
                end_mismatch=end_mismatch, dropped_no_controls=des.info["treated_dropped_no_controls_in_cell"],
                dropped_covariates=" ".join(dropped))
    rows = []
    for h in HORIZONS:  # three horizons
        r, r0 = est.loc[f"employed_h{h}"], nocl.loc[f"employed_h{h}"]
        if tt[h]["n"] != diag["treated"]:
            raise RuntimeError(f"h={h}: {tt[h]['n']} truth rows for {diag['treated']} treated")
        rows.append(dict(horizon=h, estimate=float(r["estimate"]), std_error=float(r["std_error"]),
                         ci_lower=float(r["ci_lower"]), ci_upper=float(r["ci_upper"]), truth=float(tt[h]["att"]),
                         truth_never=float(tt[h]["att_never"]), se_nocluster=float(r0["std_error"])))
    return rows, diag


def _atomic_csv(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)


def run(scenario: str, seeds: list[int], blocks: int, persons: int, block_persons: int | None = None) -> None:
    """Simulate ``blocks`` blocks per seed, split, estimate; one part file per (scenario, seed).

    ``block_persons = persons`` with ``blocks=1`` replays ``simulate(scenario, persons, seed)``
    registers one per seed (the design of the earlier 20-register run of mc_matching.py)."""
    PARTS.mkdir(parents=True, exist_ok=True)
    for seed in seeds:  # a few populations
        t0, c0 = time.perf_counter(), time.process_time()
        out = []
        rng = np.random.default_rng([seed, 977])
        for b, tables in population_blocks(scenario, seed, blocks, block_persons):
            for s, t in enumerate(split(tables, persons, rng)):  # a few subsamples per block
                try:
                    rows, diag = one_draw(t)
                except Exception as exc:  # report and continue: one failing draw must not hide the others
                    print(f"{scenario} seed {seed} block {b} sub {s}: {type(exc).__name__}: {exc}", file=sys.stderr)
                    continue
                out += [dict(scenario=scenario, seed=seed, block=b, sub=s, persons=persons, **diag, **r) for r in rows]
        df = pd.DataFrame(out)
        tag = "" if block_persons is None else f"_b{block_persons}"
        _atomic_csv(df, PARTS / f"{scenario}_seed{seed}_n{persons}{tag}.csv")
        e = df[df.horizon == 12]
        print(f"{scenario} seed {seed}: {df[['block', 'sub']].drop_duplicates().shape[0]} draws, "
              f"{time.perf_counter() - t0:.0f}s wall, {time.process_time() - c0:.0f}s CPU (main), "
              f"h=12 mean err {np.mean(e.estimate - e.truth):.4f} sd {np.std(e.estimate - e.truth, ddof=1):.4f} "
              f"mean se {e.std_error.mean():.4f}", flush=True)


def _between_within(err: np.ndarray, pop: np.ndarray) -> tuple[float, float, float]:
    """One-way random-effects split of var(err) by population: (between var, within var,
    MC s.e. of the mean error clustered by population)."""
    g = pd.Series(err).groupby(pop)
    n_i, means = g.size().to_numpy(), g.mean().to_numpy()
    P, N = len(n_i), len(err)
    within = float(g.var(ddof=1).mul(n_i - 1).sum() / (N - P))
    msb = float((n_i * (means - err.mean()) ** 2).sum() / (P - 1)) if P > 1 else np.nan
    n0 = (N - (n_i**2).sum() / N) / (P - 1) if P > 1 else np.nan
    between = max(0.0, (msb - within) / n0) if P > 1 else np.nan
    # s.e. of the overall mean treating populations as clusters
    resid_sums = g.sum().to_numpy() - n_i * err.mean()
    se_cl = float(np.sqrt((resid_sums**2).sum() * P / (P - 1)) / N) if P > 1 else np.nan
    return between, within, se_cl


def _single_registers() -> list[dict]:
    """Draws that are whole registers of one block (``run --block-persons``), as the earlier
    20-register run of mc_matching.py (seeds 700-719, replayed exactly) and more seeds."""
    files = sorted(PARTS.glob("*_b*.csv"))
    if not files:
        return []
    d = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    d["err"] = d["estimate"] - d["truth"]
    d["covered"] = (d["ci_lower"] <= d["truth"]) & (d["truth"] <= d["ci_upper"])
    d["seeds"] = np.where(d["seed"].between(700, 719), "700-719 (the earlier mc_matching.py run)",
                          "other seeds")
    out = []
    for keys, g in [*d.groupby(["scenario", "persons", "seeds", "horizon"]),
                    *d.assign(seeds="all").groupby(["scenario", "persons", "seeds", "horizon"])]:
        out.append(dict(zip(["scenario", "persons", "seeds", "horizon"], keys), reps=len(g),
                        bias=float(g["err"].mean()), bias_mc_se=float(g["err"].std(ddof=1) / np.sqrt(len(g))),
                        sd_error=float(g["err"].std(ddof=1)), mean_se=float(g["std_error"].mean()),
                        coverage=float(g["covered"].mean())))
    return json.loads(pd.DataFrame(out).to_json(orient="records"))


def summarise(persons: int = 5000) -> dict:
    """Summaries of the draws of ``persons`` persons. The default size writes the harness files
    (raw csv for the table builder, summary csv, the main entry of the json); other sizes
    (diagnostics) write ``*_n{persons}`` files and a ``persons_{persons}`` entry of the json."""
    main = persons == 5000
    sfx = "" if main else f"_n{persons}"
    files = sorted(PARTS.glob(f"*_n{persons}.csv"))
    if not files:
        raise SystemExit(f"no part files for {persons} persons in {PARTS}")
    draws = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    draws["assumptions_hold"] = draws["scenario"].map(SCENARIOS)
    if "dropped_covariates" not in draws:
        draws["dropped_covariates"] = np.nan
    draws = draws.sort_values(["scenario", "seed", "block", "sub", "horizon"]).reset_index(drop=True)
    draws["rep"] = draws.groupby("scenario").cumcount() // len(HORIZONS)
    draws["estimator"] = ESTIMATOR
    draws["err"] = draws["estimate"] - draws["truth"]
    draws["covered"] = (draws["ci_lower"] <= draws["truth"]) & (draws["truth"] <= draws["ci_upper"])
    z = 1.959963984540054
    draws["covered_nocluster"] = (draws["err"].abs() <= z * draws["se_nocluster"])
    # the population's ATT given its geography: treated-weighted mean truth of the other draws
    # of the same population (leave one out); the Abadie-Imbens variance targets this estimand
    g = draws.assign(_w=draws["treated"] * draws["truth"]).groupby(["scenario", "seed", "horizon"])
    sw, sn = g["_w"].transform("sum"), g["treated"].transform("sum")
    draws["truth_population"] = (sw - draws["treated"] * draws["truth"]) / (sn - draws["treated"])
    draws["err_population"] = draws["estimate"] - draws["truth_population"]
    draws["covered_population"] = draws["err_population"].abs() <= z * draws["std_error"]
    if main:
        raw = draws[RAW_COLUMNS].copy()
        raw["horizon"] = raw["horizon"].astype(str)
        _atomic_csv(raw, RESULTS / "validate_matching_raw.csv")
    _atomic_csv(draws.drop(columns=["estimator"]), RESULTS / f"validate_matching_draws{sfx}.csv")
    out = []
    for (scen, h), g in draws.groupby(["scenario", "horizon"], sort=False):
        R = len(g)
        err = g["err"].to_numpy()
        between, within, se_cl = _between_within(err, g["seed"].to_numpy())
        # blocks share the generator's per-block recalibration of the effect flips
        between_b = _between_within(err, (g["seed"] * 10_000 + g["block"]).to_numpy())[0]
        truth = float(g["truth"].mean())
        cov = float(g["covered"].mean())
        bias = float(err.mean())
        bias_se = float(err.std(ddof=1) / np.sqrt(R))
        rel = bias / abs(truth) if abs(truth) > 1e-3 else np.nan
        # the acceptance rule of validate_estimators.py (|bias| < 0.005 where the effect is ~0)
        ok = 0.92 <= cov <= 0.98 and ((rel == rel and abs(rel) < 0.10) or abs(bias) < 0.005)
        hold = SCENARIOS[scen]
        out.append(dict(
            estimator=ESTIMATOR, scenario=scen, horizon=int(h), assumptions_hold=hold, reps=R,
            populations=int(g["seed"].nunique()), persons=int(g["persons"].iloc[0]),
            mean_treated=float(g["treated"].mean()), truth=truth,
            truth_sd=float(g["truth"].std(ddof=1)), bias=bias, bias_mc_se=bias_se, bias_mc_se_by_population=se_cl,
            rel_bias=rel, rel_bias_mc_se=bias_se / abs(truth) if abs(truth) > 1e-3 else np.nan,
            # can the Monte Carlo tell a bias of 10 % of the effect from none? (1.96 MC s.e. < 10 %)
            mc_resolves_10pct_bias=bool(1.96 * bias_se < 0.10 * abs(truth)),
            rmse=float(np.sqrt((err**2).mean())), sd_estimate=float(g["estimate"].std(ddof=1)),
            sd_error=float(err.std(ddof=1)), mean_se=float(g["std_error"].mean()),
            rms_se=float(np.sqrt((g["std_error"] ** 2).mean())), mean_se_nocluster=float(g["se_nocluster"].mean()),
            coverage=cov, coverage_mc_se=float(np.sqrt(cov * (1 - cov) / R)),
            coverage_nocluster=float(g["covered_nocluster"].mean()),
            sd_error_population_att=float(g["err_population"].std(ddof=1)),
            coverage_population_att=float(g["covered_population"].mean()),
            error_var_between_populations=between, error_var_within_populations=within,
            error_var_between_blocks=between_b,
            truth_never=float(g["truth_never"].mean()),
            verdict="ok" if ok else ("FAIL (assumptions hold)" if hold else "fails, as expected (assumptions violated)"),
        ))
    tab = pd.DataFrame(out)
    _atomic_csv(tab, RESULTS / f"validate_matching{sfx}.csv")
    res = {"what": "dynamic risk-set matching (training, PSM k=5, exact cells u x quarter x area x length, person-"
                   "clustered Abadie-Imbens s.e.) vs the truth 'not now' sample ATT of each draw",
           "persons_per_draw": persons, "horizons": list(HORIZONS),
           "design": "disjoint random subsamples of 20,000-person blocks of several populations (seeds) per scenario",
           "columns": {
               "truth": "mean over draws of the draw's true sample ATT ('not now', its own treated)",
               "bias / bias_mc_se": "mean of estimate - truth and its Monte Carlo s.e. (draws independent); "
                                    "bias_mc_se_by_population: the same clustered by population (seed)",
               "sd_error / mean_se / rms_se": "SD over draws of estimate - truth vs the mean (root mean square) "
                                              "of the reported s.e.; mean_se_nocluster: without person clustering",
               "coverage": "share of draws whose 95 % CI covers the draw's sample ATT (coverage_mc_se its MC s.e.)",
               "coverage_population_att": "the same for the population's ATT (treated-weighted mean truth of the "
                                          "other draws of the same seed), the estimand of the Abadie-Imbens variance",
               "error_var_between_populations": "variance component of estimate - truth shared by the draws of one "
                                                "population (seed), one-way random effects",
               "error_var_between_blocks": "the same for the draws of one 20,000-person block (they share the "
                                           "generator's per-block calibration of the effect flips)",
               "truth_never": "true ATT vs 'never' (the configured effect; not the design's estimand)"},
           "by_scenario_horizon": json.loads(tab.to_json(orient="records"))}
    path = RESULTS / "mc_dynamic_matching.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    if main:
        res.update({k: v for k, v in old.items() if k.startswith("persons_")})
        res["single_register_draws"] = _single_registers()
    else:
        res = {**old, f"persons_{persons}": res}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(res, indent=1))
    os.replace(tmp, path)
    cols = ["scenario", "horizon", "reps", "populations", "truth", "bias", "bias_mc_se", "bias_mc_se_by_population",
            "rel_bias", "sd_error", "mean_se", "coverage", "coverage_population_att", "verdict"]
    print(tab[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    fmt = lambda v: f"{v:.4f}" if isinstance(v, (float, np.floating)) else str(v)  # noqa: E731
    md = [f"Dynamic risk-set matching (training, PSM k=5) vs the generator's truth: {persons:,} persons per draw, "
          f"{int(tab['reps'].min())}-{int(tab['reps'].max())} draws per scenario and horizon from "
          f"{int(tab['populations'].max())} populations; bias +/- its Monte Carlo s.e.; coverage of the draw's sample "
          "ATT and of the population's ATT. Written by benchmarks/validate_matching.py.", "",
          "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in tab[cols].itertuples(index=False)]
    mdp = RESULTS / f"validate_matching{sfx}.md"
    tmp = mdp.with_name(f".{mdp.name}.tmp")
    tmp.write_text("\n".join(md) + "\n")
    os.replace(tmp, mdp)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--scenario", required=True, choices=list(SCENARIOS))
    r.add_argument("--seeds", type=int, nargs="+", required=True)
    r.add_argument("--blocks", type=int, default=8, help="20,000-person blocks per population")
    r.add_argument("--persons", type=int, default=5000, help="persons per replication")
    r.add_argument("--block-persons", type=int, default=None, help="persons per block (default: the scenario's)")
    s = sub.add_parser("summarise")
    s.add_argument("--persons", type=int, default=5000)
    args = ap.parse_args()
    if args.cmd == "run":
        run(args.scenario, args.seeds, args.blocks, args.persons, args.block_persons)
    else:
        summarise(args.persons)


if __name__ == "__main__":
    main()
