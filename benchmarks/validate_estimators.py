"""Validation harness: the toolkit's estimators against the synthetic generator's truth.

For each scenario, R fresh register draws (different seeds) are simulated; on each the
estimator is run and compared with the generator's truth for the same estimand:

* matching (dynamic risk-set design, NN propensity-score matching, k = 5) on the scenarios
  ``selection_on_observables``, ``selection_on_unobservable``, ``no_effect`` and
  ``lockin_late_gains``: ATT of labour market training on open-market employment h months
  after the service end vs the truth 'not now' (``truth/service_effects.parquet`` joined to
  the design's treated spells);
* DiD (Callaway-Sant'Anna, area x month, population-weighted) on ``area_reform`` and
  ``area_reform_null``: average of the event-time effects e = 0..12 vs the same average of
  the areas' true effects (``truth/area_month.parquet``);
* synthetic control (outcome-only weights, donors = the never-reformed areas, 36 pre- and 24
  post-months) on the same area draws, for the 2019 reform cohort: the single area EA05 (as in
  ``studies/area_pilot.toml``) and the cohort's four areas pooled in event time. Estimand: the
  mean gap over the 24 post-months vs the mean true effect on the area's employment rate.
  Three intervals from ``att_interval``: the noise-scaled placebo interval (the default),
  the plain placebo interval ``ATT -/+ the 95 % quantile of |placebo ATT|`` and the
  conformal interval (Chernozhukov, Wuthrich and Zhu 2021).

Area draws are cheap: ``area_truth`` runs only the generator's block simulation and keeps
the area x month sums (identical to ``truth/area_month.parquet`` of a full draw), one draw
serves DiD and synthetic control, and draws and estimator rows are cached in
``benchmarks/tmp_validate_cache/`` so that ``--max-minutes`` runs resume where they stopped.

Reported per estimator x scenario x horizon: mean truth, bias, relative bias, RMSE, mean
s.e., SD of estimates and the coverage of the 95 % intervals, and whether the design's
assumptions hold in that scenario (``assumptions_hold``): a failing row where they do not
is the expected result, not a bug. The outcome panel is the generator's true person-month
panel (the outcome stage is validated separately).

Run: ``.venv/bin/python benchmarks/validate_estimators.py --families did synth --reps 120 --merge
--max-minutes 8`` (``--merge`` keeps the other rows of the last run; ``--resummarise`` only
rebuilds the table). Writes ``benchmarks/results/validate_estimators{_raw,}.csv``, ``.md`` and
``.png`` (atomically); the table also takes the rows of ``validate_matching_raw.csv``
(benchmarks/validate_matching.py) when that file exists.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impact.simulate import simulate  # noqa: E402

MATCHING = {  # scenario -> do the dynamic design's assumptions (selection on observables) hold?
    "selection_on_observables": True,
    "selection_on_unobservable": False,
    "no_effect": True,
    "lockin_late_gains": True,
}
DID = {"area_reform": True, "area_reform_null": True}
SYNTH_COHORT = "2019-01"  # the first reform cohort: four treated areas, 36 pre- and 24 post-months inside the data
SYNTH_PRE, SYNTH_POST = 36, 24
HORIZONS = (6, 12)


def _matching_rep(folder: Path) -> list[dict]:
    from impact.designs.dynamic import risk_set_design
    from impact.estimators.matching.design import match_design

    read = lambda n: pl.read_parquet(folder / f"{n}.parquet")  # noqa: E731
    panel = pl.read_parquet(folder / "truth" / "person_month.parquet")
    des = risk_set_design(read("jobseeking_spells"), read("service_spells"), read("persons"), panel,
                          horizons=HORIZONS, max_controls=50, employed="employed", earnings="earnings")
    est = match_design(des).estimates.set_index("outcome")
    eff = pl.read_parquet(folder / "truth" / "service_effects.parquet").filter(pl.col("service_type") == "training")
    tr = des.data.filter(pl.col("treated") == 1).select("person_id", pl.col("ms").cast(pl.Int32))
    j = tr.join(eff, left_on=["person_id", "ms"], right_on=["person_id", "start_month"], how="inner")
    tt = j.group_by("h").agg(att=(pl.col("employed_1") - pl.col("employed_0")).cast(pl.Float64).mean())
    tt = dict(zip(tt["h"].to_list(), tt["att"].to_list()))
    out = []
    for h in HORIZONS:
        r = est.loc[f"employed_h{h}"]
        out.append(dict(estimator="matching (dynamic, PSM k=5)", horizon=h, estimate=r["estimate"],
                        std_error=r["std_error"], ci_lower=r["ci_lower"], ci_upper=r["ci_upper"], truth=tt[h]))
    return out


CACHE = ROOT / "benchmarks" / "tmp_validate_cache"  # git-ignored (benchmarks/tmp*/)


def area_truth(scenario: str, persons: int, seed: int, cache: Path | None = CACHE) -> pl.DataFrame:
    """The generator's area x month truth for one draw, without writing the registers.

    Runs the generator's block simulation (:class:`impact.simulate.engine.BlockSimulator`
    and the brokerage step, which flips some months) exactly as :func:`impact.simulate.simulate`
    does, and keeps only the area sums it writes to ``truth/area_month.parquet``:
    ``area, month, persons, employed_with, employed_without, reform_start_month, effect_rate``.
    ``employed_with`` is the observed employment, so the area panel of the DiD and synthetic
    control designs (``area_month_panel`` on the person-month panel) is
    ``employed_with / persons`` (checked equal on a full draw, see docs/validation.md). About
    a third of the cost of a full draw; cached as parquet in ``cache`` (one small file per draw).
    """
    path = None if cache is None else cache / f"{scenario}_{persons}_{seed}.parquet"
    if path is not None and path.exists():
        return pl.read_parquet(path)
    from impact.simulate import brokerage
    from impact.simulate.engine import BlockSimulator, make_geography
    from impact.simulate.scenario import load_scenario, parse_month

    cfg = load_scenario(scenario)
    sc = cfg["simulation"]
    m0 = parse_month(sc["start_month"], "simulation.start_month")
    T = parse_month(sc["end_month"], "simulation.end_month") - m0 + 1
    geo = make_geography(cfg, seed)
    bs, A = sc["block_size"], geo.n_areas
    n_area, emp1, emp0 = np.zeros(A), np.zeros((A, T)), np.zeros((A, T))
    for b in range((persons + bs - 1) // bs):  # blocks of persons, as simulate() does
        sim = BlockSimulator(cfg, geo, seed, b, b * bs + 1, min(bs, persons - b * bs), m0, T)
        res = sim.run()
        brokerage.block_tables(sim, res, cfg, seed, b)  # job-offer flips change res["area_month"]
        am = res["area_month"]
        n_area += am["persons"]
        emp1 += am["emp_with"]
        emp0 += am["emp_without"]
    start = np.full(A, -1)
    if cfg["policy"]["enabled"]:
        for r in cfg["policy"]["reforms"]:  # a handful of reforms
            for a in r["areas"]:
                start[a - 1] = parse_month(r["start_month"], "policy.reforms.start_month")
    codes = np.array([f"EA{a:02d}" for a in range(1, A + 1)])
    out = pl.DataFrame({
        "area": np.repeat(codes, T), "month": np.tile(m0 + np.arange(T), A).astype(np.int64),
        "persons": np.repeat(n_area, T).astype(np.int64), "employed_with": emp1.ravel().astype(np.int64),
        "employed_without": emp0.ravel().astype(np.int64),
        "reform_start_month": np.repeat(start, T).astype(np.int64),
    }).with_columns(
        reform_start_month=pl.when(pl.col("reform_start_month") >= 0).then(pl.col("reform_start_month")),
        effect_rate=(pl.col("employed_with") - pl.col("employed_without")) / pl.col("persons").clip(1),
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic(path, lambda p: out.write_parquet(p))
    return out


def area_panel(truth: pl.DataFrame) -> pl.DataFrame:
    """The observed area x month panel of a draw (``area_month_panel``'s columns): the
    employment rate ``employed / persons`` and ``cohort`` (reform start month, 0: never)."""
    return truth.select(
        "area", "month", "persons", employed="employed_with",
        employment_rate=pl.col("employed_with") / pl.col("persons"),
        cohort=pl.col("reform_start_month").fill_null(0),
    ).sort("area", "month")


def _did_rows(truth: pl.DataFrame, max_e: int = 12) -> list[dict]:
    """DiD (Callaway-Sant'Anna, never-treated areas as controls, population-weighted) on the
    area x month panel: the mean of the event-time effects e = 0..max_e vs the same mean of
    the population-weighted true effects."""
    from impact.estimators import did

    panel = area_panel(truth)
    res = did.att_gt(panel, unit="area", time="month", group="cohort", outcome="employment_rate", weights="persons")
    ov = res.aggregate("dynamic", min_e=0, max_e=max_e).overall
    t = truth.filter(pl.col("reform_start_month").is_not_null()).with_columns(
        e=pl.col("month") - pl.col("reform_start_month"))
    te = t.filter(pl.col("e").is_between(0, max_e)).group_by("e").agg(
        truth=(pl.col("effect_rate") * pl.col("persons")).sum() / pl.col("persons").sum())
    est, se = float(ov.estimate), float(ov.std_error)
    return [dict(estimator="DiD (CS, area x month)", horizon=f"mean e=0..{max_e}", estimate=est, std_error=se,
                 ci_lower=ov.ci_lower, ci_upper=ov.ci_upper, truth=float(te["truth"].mean()))]


SYNTH_INTERVALS = {  # method of att_interval -> label in the table
    "scaled_placebo": "noise-scaled placebo interval",
    "placebo": "placebo interval",
    "conformal": "conformal interval",
}


def _synth_rows(truth: pl.DataFrame) -> list[dict]:
    """Synthetic control for the 2019 reform cohort against the never-reformed areas.

    Two estimates: the single area EA05 (as in studies/area_pilot.toml: ATT = mean gap over
    the 24 post-months) and the cohort's four areas pooled in event time (mean over areas of
    each area's mean gap), each with the three intervals of ``att_interval``: the noise-scaled
    placebo interval (the default), the plain placebo interval the study reported
    (ATT -/+ 95 % quantile of |placebo ATT|; pooled: one placebo per area, averaged) and the
    conformal interval (Chernozhukov, Wuthrich and Zhu 2021).
    """
    from impact.estimators import synth
    from impact.study.config import month_to_index

    t0 = month_to_index(SYNTH_COHORT)
    first, last = t0 - SYNTH_PRE, t0 + SYNTH_POST - 1
    starts = truth.group_by("area").agg(start=pl.col("reform_start_month").min())
    treated = sorted(starts.filter(pl.col("start") == t0)["area"].to_list())
    donors = sorted(starts.filter(pl.col("start").is_null())["area"].to_list())
    data = area_panel(truth).filter(pl.col("area").is_in(treated + donors) & pl.col("month").is_between(first, last))
    multi = synth.synthetic_control(data.select("area", "month", "employment_rate"), unit="area", time="month",
                                    outcome="employment_rate", treated=treated, treatment_time=t0, donors=donors)
    tt = truth.filter(pl.col("area").is_in(treated) & pl.col("month").is_between(t0, last)).group_by("area").agg(
        pl.col("effect_rate").mean())
    tmap = dict(zip(tt["area"].to_list(), tt["effect_rate"].to_list()))
    one = "EA05" if "EA05" in multi.fits else treated[0]
    out = []
    for name, res, tr in ((one, multi.fits[one], tmap[one]),
                          (f"pooled {len(treated)} areas", multi, float(np.mean([tmap[u] for u in treated])))):
        for method, label in SYNTH_INTERVALS.items():  # three intervals
            r = res.att_interval(method)
            out.append(dict(estimator=f"synth ({name}, {label})", horizon=f"mean e=0..{SYNTH_POST - 1}",
                            estimate=r["estimate"], std_error=r["std_error"], ci_lower=r["ci_lower"],
                            ci_upper=r["ci_upper"], truth=tr))
    return out


# rows of earlier versions of this harness dropped when merging
OBSOLETE = {"synth (EA05, placebo-SD normal interval)", "synth (pooled 4 areas, placebo-SD normal interval)"}
ROWS_VERSION = "v3"  # bump when the area estimators or their intervals change (invalidates cached rows)


def _area_rows(scenario: str, persons: int, seed: int, fam: set[str]) -> list[dict]:
    """DiD and synthetic-control rows of one area draw (cached next to the draw's truth)."""
    path = CACHE / f"rows_{ROWS_VERSION}_{scenario}_{persons}_{seed}.csv"
    if path.exists():
        rows = pd.read_csv(path)
    else:
        truth = area_truth(scenario, persons, seed)
        rows = pd.DataFrame(_did_rows(truth) + _synth_rows(truth))
        _atomic(path, lambda p: rows.to_csv(p, index=False))
    keep = rows["estimator"].map(_family).isin(fam)
    return rows[keep].to_dict("records")


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per estimator x scenario x horizon, with Monte Carlo errors.

    ``bias_mcse = SD(estimate - truth) / sqrt(reps)``; ``coverage_se = sqrt(c (1 - c) / reps)``
    (at least that of 0.95, so a coverage of 1.00 does not get a zero error). The verdict is
    ``ok`` when the coverage is within 0.92-0.98 and |bias| is under 10 % of the effect (or
    under 0.005 when the truth is ~0); otherwise flagged. ``within_mc`` says whether a failing
    criterion is still within two Monte Carlo errors of its band (not distinguishable from ok
    with this many draws).
    """
    g = raw.assign(err=raw["estimate"] - raw["truth"],
                   cover=(raw["ci_lower"] <= raw["truth"]) & (raw["truth"] <= raw["ci_upper"]))
    out = g.groupby(["estimator", "scenario", "horizon", "assumptions_hold"], sort=False).agg(
        reps=("err", "size"), truth=("truth", "mean"), bias=("err", "mean"), sd_err=("err", "std"),
        rmse=("err", lambda x: np.sqrt((x**2).mean())), sd=("estimate", "std"), mean_se=("std_error", "mean"),
        coverage=("cover", "mean")).reset_index()
    out["bias_mcse"] = out["sd_err"] / np.sqrt(out["reps"])
    out["coverage_se"] = np.sqrt(np.maximum(out["coverage"] * (1 - out["coverage"]), 0.95 * 0.05) / out["reps"])
    out["rel_bias"] = out["bias"] / out["truth"].abs().where(out["truth"].abs() > 1e-3)
    tol = np.where(out["truth"].abs() > 1e-3, 0.10 * out["truth"].abs(), 0.005)
    cov_ok = out["coverage"].between(0.92, 0.98)
    bias_ok = out["bias"].abs() < tol
    ok = cov_ok & bias_ok
    # distance of each criterion from its band in Monte Carlo errors
    cov_gap = np.maximum(0.92 - out["coverage"], out["coverage"] - 0.98).clip(lower=0) / out["coverage_se"]
    bias_gap = (out["bias"].abs() - tol).clip(lower=0) / out["bias_mcse"]
    out["within_mc"] = ok | ((cov_gap <= 2) & (bias_gap <= 2))
    out["verdict"] = np.where(ok, "ok", np.where(out["assumptions_hold"], "FAIL (assumptions hold)",
                                                 "fails, as expected (assumptions violated)"))
    cols = ["estimator", "scenario", "horizon", "assumptions_hold", "reps", "truth", "bias", "bias_mcse", "rel_bias",
            "rmse", "sd", "sd_err", "mean_se", "coverage", "coverage_se", "verdict", "within_mc"]
    return out[cols]


def _markdown(tab: pd.DataFrame) -> str:
    fmt = lambda v: f"{v:.4f}" if isinstance(v, (float, np.floating)) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(tab.columns) + " |", "|" + "---|" * len(tab.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in tab.itertuples(index=False)]
    return "\n".join(lines)


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def figure(tab: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    short = tab["estimator"].where(tab["estimator"].str.startswith("synth"), tab["estimator"].str.split(" ").str[0])
    short = (short.str.replace(" interval)", ")", regex=False).str.replace("pooled 4 areas", "pooled", regex=False))
    lab = short + " | " + tab["scenario"] + " | h=" + tab["horizon"].astype(str)
    fig, ax = plt.subplots(1, 2, figsize=(13, 0.42 * len(tab) + 1.5), sharey=True)
    y = np.arange(len(tab))
    col = np.where(tab["assumptions_hold"], "tab:blue", "tab:red")
    ax[0].barh(y, tab["bias"], xerr=2 * tab["bias_mcse"], color=col, alpha=0.7, error_kw=dict(lw=0.8))
    ax[0].plot(tab["rmse"], y, "k|", ms=8, label="RMSE")
    ax[0].axvline(0, color="k", lw=0.8)
    ax[0].set_xlabel("bias (bar, whisker: 2 MC s.e.), RMSE (tick)")
    ax[1].barh(y, tab["coverage"], xerr=2 * tab["coverage_se"], color=col, alpha=0.7, error_kw=dict(lw=0.8))
    ax[1].axvspan(0.92, 0.98, color="green", alpha=0.15)
    ax[1].set_xlim(0, 1.05)
    ax[1].set_xlabel("coverage of 95 % intervals (whisker: 2 MC s.e.)\n(green: 0.92-0.98)")
    ax[0].set_yticks(y, lab)
    fig.suptitle("Estimators vs the generator's truth (red: design assumptions violated)")
    fig.tight_layout()
    _atomic(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


def _family(estimator: str) -> str:
    return estimator.split(" ")[0].lower()


RAW_COLUMNS = ["scenario", "rep", "assumptions_hold", "persons", "estimator", "horizon", "estimate", "std_error",
               "ci_lower", "ci_upper", "truth"]


def build_outputs(raw: pd.DataFrame, out: Path, note: str) -> str:
    """Table (md, csv) and figure from this harness's raw draws plus, when present,
    ``validate_matching_raw.csv`` (benchmarks/validate_matching.py), whose estimator x
    scenario rows replace the same rows of ``raw``."""
    raw = raw.copy()
    extra = out / "validate_matching_raw.csv"
    if extra.exists():
        m = pd.read_csv(extra)
        done = set(zip(m["estimator"], m["scenario"]))
        raw = pd.concat([raw[[(e, s) not in done for e, s in zip(raw["estimator"], raw["scenario"])]],
                         m.reindex(columns=RAW_COLUMNS)], ignore_index=True)
        note += f"; matching rows from {extra.name} ({len(done)} scenario(s))"
    raw["horizon"] = raw["horizon"].astype(str)
    tab = summarise(raw)
    _atomic(out / "validate_estimators.csv", lambda p: tab.to_csv(p, index=False))
    sizes = raw.groupby("estimator")["persons"].max()
    md = (f"Validation: {note}. Draws per row in `reps`; persons per draw: "
          + ", ".join(f"{e} {int(v):,}" for e, v in sizes.items() if v == v)
          + ". `bias_mcse` and `coverage_se` are Monte Carlo standard errors; `within_mc`: every criterion within "
            "2 MC s.e. of its band.\n\n" + _markdown(tab))
    _atomic(out / "validate_estimators.md", lambda p: Path(p).write_text(md + "\n"))
    figure(tab, out / "validate_estimators.png")
    return md


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--persons", type=int, default=5000)
    ap.add_argument("--area-persons", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--only", nargs="*", default=None, help="scenarios to run")
    ap.add_argument("--families", nargs="*", default=["matching", "did", "synth"],
                    help="estimator families to run (matching, did, synth)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the rows of the existing raw results for the estimator x scenario pairs not re-run")
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="area families: stop starting new draws after this many minutes (cached draws and rows "
                         "make the next call resume where this one stopped)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--resummarise", action="store_true", help="only rebuild the table and figure from the raw csv")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fam = set(args.families)
    rows, t0 = [], time.perf_counter()
    stopped = False
    if not args.resummarise and fam & {"did", "synth"}:
        for scen, ok in DID.items():  # two scenarios
            if args.only and scen not in args.only:
                continue
            for r in range(args.reps):  # replications (cached: a resumed run skips the finished ones)
                cached = (CACHE / f"rows_{ROWS_VERSION}_{scen}_{args.area_persons}_{args.seed + r}.csv").exists()
                if not cached and args.max_minutes is not None and time.perf_counter() - t0 > 60 * args.max_minutes:
                    stopped = True
                    break
                try:
                    for row in _area_rows(scen, args.area_persons, args.seed + r, fam):
                        rows.append(dict(scenario=scen, rep=r, assumptions_hold=ok, persons=args.area_persons, **row))
                except Exception as exc:  # report and continue: one failing draw must not hide the others
                    print(f"{scen} rep {r}: {type(exc).__name__}: {exc}", file=sys.stderr)
            print(f"{scen}: {len({x['rep'] for x in rows if x['scenario'] == scen})} draws at "
                  f"{time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    jobs = [(s, ok) for s, ok in MATCHING.items()] if "matching" in fam and not args.resummarise else []
    if args.only:
        jobs = [j for j in jobs if j[0] in args.only]
    tmp = Path(tempfile.mkdtemp(prefix="validate_"))
    try:
        for scen, ok in jobs:  # a handful of scenarios
            for r in range(args.reps):  # replications
                folder = tmp / f"{scen}_{r}"
                simulate(scen, persons=args.persons, seed=args.seed + r, out=str(folder), workers=1)
                try:
                    for row in _matching_rep(folder):
                        rows.append(dict(scenario=scen, rep=r, assumptions_hold=ok, persons=args.persons, **row))
                except Exception as exc:  # report and continue: one failing draw must not hide the others
                    print(f"{scen} rep {r}: {type(exc).__name__}: {exc}", file=sys.stderr)
                shutil.rmtree(folder, ignore_errors=True)
            print(f"{scen}: done at {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    raw = pd.DataFrame(rows, columns=RAW_COLUMNS)
    raw_path = out / "validate_estimators_raw.csv"
    if (args.merge or args.resummarise) and raw_path.exists():
        old = pd.read_csv(raw_path)
        if "persons" not in old:  # the first run (before the column existed) used 5,000 / 10,000 persons
            old["persons"] = np.where(old["estimator"].str.startswith("matching"), 5000, 10000)
        done = set(zip(raw["estimator"], raw["scenario"]))
        old = old[[(e, s) not in done and e not in OBSOLETE for e, s in zip(old["estimator"], old["scenario"])]]
        raw = pd.concat([old, raw], ignore_index=True)
    raw["horizon"] = raw["horizon"].astype(str)
    _atomic(raw_path, lambda p: raw.to_csv(p, index=False))
    note = ("table rebuilt from the raw draws" if args.resummarise else
            f"last run {time.perf_counter() - t0:.0f}s" + (" (stopped early by --max-minutes; re-run to resume)"
                                                          if stopped else ""))
    print(build_outputs(raw, out, note))


if __name__ == "__main__":
    main()
