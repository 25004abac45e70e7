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
  mean gap over the 24 post-months vs the mean true effect on the area's employment rate. The
  interval is the permutation interval the study reports, ``ATT -/+ the 95 % quantile of the
  absolute placebo ATTs`` (donors refitted as if treated; pooled: one placebo per treated area,
  averaged like the estimate); ``std_error`` is the SD of the placebo ATTs.

Reported per estimator x scenario x horizon: mean truth, bias, relative bias, RMSE, mean
s.e., SD of estimates and the coverage of the 95 % intervals, and whether the design's
assumptions hold in that scenario (``assumptions_hold``): a failing row where they do not
is the expected result, not a bug. The outcome panel is the generator's true person-month
panel (the outcome stage is validated separately).

Run: ``.venv/bin/python benchmarks/validate_estimators.py --reps 10 --persons 5000``
(``--families synth --merge`` re-runs one family and keeps the other rows of the last run).
Writes ``benchmarks/results/validate_estimators.{csv,md,png}`` (atomically).
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

    read = lambda n: pl.read_parquet(folder / f"{n}.parquet")  # noqa: E731
    panel = pl.read_parquet(folder / "truth" / "person_month.parquet")
    des = risk_set_design(read("jobseeking_spells"), read("service_spells"), read("persons"), panel,
                          horizons=HORIZONS, max_controls=50, employed="employed", earnings="earnings")
    est = des.estimate().estimates.set_index("outcome")
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


def _did_rep(folder: Path, max_e: int = 12) -> list[dict]:
    from impact.designs.did_panels import area_month_panel
    from impact.estimators import did

    persons = pl.read_parquet(folder / "persons.parquet")
    pm = pl.read_parquet(folder / "truth" / "person_month.parquet")
    policy = pl.read_parquet(folder / "truth" / "area_policy.parquet").rename({"employment_area": "area"})
    truth = pl.read_parquet(folder / "truth" / "area_month.parquet").rename({"employment_area": "area"})
    panel = pm.select("person_id", "month", "employed", earnings_eur="earnings")
    reforms = policy.group_by("area").agg(start_month=pl.col("start_month").min())
    lo, hi = int(truth["month"].min()), int(truth["month"].max())
    design = area_month_panel(panel, persons, reforms, months=(lo, hi))
    res = did.att_gt(design, unit="area", time="month", group="cohort", outcome="employment_rate", weights="persons")
    dyn = res.aggregate("dynamic", min_e=0, max_e=max_e)
    e = dyn.estimates
    t = truth.join(reforms.rename({"start_month": "cohort"}), on="area", how="inner").with_columns(
        e=pl.col("month") - pl.col("cohort"),
        eff=(pl.col("employed_with") - pl.col("employed_without")) / pl.col("persons"))
    te = t.filter(pl.col("e").is_between(0, max_e)).group_by("e").agg(
        truth=(pl.col("eff") * pl.col("persons")).sum() / pl.col("persons").sum())
    # overall = mean of the event-time effects e = 0..max_e; its s.e. from the results object
    ov = dyn.overall if hasattr(dyn, "overall") else None
    if ov is not None:
        est, se = float(ov["estimate"]), float(ov["std_error"])
    else:
        row = e[e["estimand"].astype(str).str.contains("overall", case=False)].iloc[0]
        est, se = float(row["estimate"]), float(row["std_error"])
    return [dict(estimator="DiD (CS, area x month)", horizon=f"mean e=0..{max_e}", estimate=est, std_error=se,
                 ci_lower=est - 1.96 * se, ci_upper=est + 1.96 * se, truth=float(te["truth"].mean()))]


def _placebo_interval(att: float, placebo_atts: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Permutation interval ``att -/+ q`` with ``q`` the ``level`` quantile of the absolute placebo
    ATTs (the interval the area_pilot study reports), and the placebo SD as a standard error."""
    q = float(np.quantile(np.abs(placebo_atts), level))
    return att - q, att + q, float(np.std(placebo_atts, ddof=1))


def _synth_rep(folder: Path, n_draws: int = 2000) -> list[dict]:
    """Synthetic control for the 2019 reform cohort, against the never-reformed areas.

    Two rows: the single area EA05 (as in studies/area_pilot.toml: ATT = mean gap over the 24
    post-months, placebo interval from its in-space placebos) and the four 2019 areas pooled
    in event time (mean over areas of each area's mean gap; interval from the pooled placebo
    draws: one placebo donor per treated area, averaged like the estimate). Each with two
    intervals from the same placebo distribution: the permutation interval the study reports
    (ATT -/+ the 95 % quantile of the absolute placebo ATTs) and a normal interval with the SD
    of the placebo ATTs as standard error.
    """
    from impact.designs.did_panels import area_month_panel
    from impact.estimators import synth
    from impact.study.config import month_to_index

    persons = pl.read_parquet(folder / "persons.parquet")
    pm = pl.read_parquet(folder / "truth" / "person_month.parquet")
    truth = pl.read_parquet(folder / "truth" / "area_month.parquet").rename({"employment_area": "area"})
    t0 = month_to_index(SYNTH_COHORT)
    first, last = t0 - SYNTH_PRE, t0 + SYNTH_POST - 1
    starts = truth.group_by("area").agg(start=pl.col("reform_start_month").min())
    treated = sorted(starts.filter(pl.col("start") == t0)["area"].to_list())
    donors = sorted(starts.filter(pl.col("start").is_null())["area"].to_list())
    reforms = pl.DataFrame({"area": treated, "start_month": [t0] * len(treated)},
                           schema={"area": pl.String, "start_month": pl.Int64})
    panel = area_month_panel(pm.select("person_id", "month", "employed", earnings_eur="earnings"), persons, reforms,
                             months=(first, last))
    data = panel.filter(pl.col("area").is_in(treated + donors)).select("area", "month", "employment_rate")
    multi = synth.synthetic_control(data, unit="area", time="month", outcome="employment_rate", treated=treated,
                                    treatment_time=t0, donors=donors)
    multi.placebo(n_jobs=1, n_draws=n_draws)
    tt = truth.filter(pl.col("area").is_in(treated) & pl.col("month").is_between(t0, last)).group_by("area").agg(
        pl.col("effect_rate").mean())
    tmap = dict(zip(tt["area"].to_list(), tt["effect_rate"].to_list()))
    # placebo ATT of every donor, per treated area (each area's placebos are refitted at its own date)
    p_atts = {}
    for u, fit in multi.fits.items():  # four treated areas
        g = fit.placebo_results.gaps
        g = g[(~g["treated"]) & (g["time"] >= t0)]
        p_atts[u] = g.groupby("unit")["gap"].mean().to_numpy()
    rng = np.random.default_rng(0)
    pooled = np.mean([p_atts[u][rng.integers(p_atts[u].size, size=n_draws)] for u in treated], axis=0)
    one = "EA05" if "EA05" in multi.fits else treated[0]
    out = []
    for name, a, dist, tr in ((one, multi.fits[one].att(), p_atts[one], tmap[one]),
                              (f"pooled {len(treated)} areas", multi.att(), pooled,
                               float(np.mean([tmap[u] for u in treated])))):
        lo, hi, se = _placebo_interval(a, dist)
        base = dict(horizon=f"mean e=0..{SYNTH_POST - 1}", estimate=a, std_error=se, truth=tr)
        out.append(dict(estimator=f"synth ({name}, placebo interval)", ci_lower=lo, ci_upper=hi, **base))
        out.append(dict(estimator=f"synth ({name}, placebo-SD normal interval)", ci_lower=a - 1.96 * se,
                        ci_upper=a + 1.96 * se, **base))
    return out


def _area_rep(folder: Path) -> list[dict]:
    """DiD and synthetic control on the same area-reform draw."""
    return _did_rep(folder) + _synth_rep(folder)


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    g = raw.assign(err=raw["estimate"] - raw["truth"],
                   cover=(raw["ci_lower"] <= raw["truth"]) & (raw["truth"] <= raw["ci_upper"]))
    out = g.groupby(["estimator", "scenario", "horizon", "assumptions_hold"], sort=False).agg(
        reps=("err", "size"), truth=("truth", "mean"), bias=("err", "mean"), rmse=("err", lambda x: np.sqrt((x**2).mean())),
        sd=("estimate", "std"), mean_se=("std_error", "mean"), coverage=("cover", "mean")).reset_index()
    out["rel_bias"] = out["bias"] / out["truth"].abs().where(out["truth"].abs() > 1e-3)
    # MC error of coverage with R reps is about sqrt(.95 * .05 / R): flag beyond the acceptance band
    ok = (out["coverage"].between(0.92, 0.98)) & ((out["rel_bias"].abs() < 0.10) | (out["bias"].abs() < 0.005))
    out["verdict"] = np.where(ok, "ok", np.where(out["assumptions_hold"], "FAIL (assumptions hold)",
                                                 "fails, as expected (assumptions violated)"))
    return out


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
    short = (short.str.replace(", placebo interval)", ", permutation)", regex=False)
             .str.replace(", placebo-SD normal interval)", ", placebo-SD)", regex=False)
             .str.replace("pooled 4 areas", "pooled", regex=False))
    lab = short + " | " + tab["scenario"] + " | h=" + tab["horizon"].astype(str)
    fig, ax = plt.subplots(1, 2, figsize=(12, 0.45 * len(tab) + 1.5), sharey=True)
    y = np.arange(len(tab))
    col = np.where(tab["assumptions_hold"], "tab:blue", "tab:red")
    ax[0].barh(y, tab["bias"], xerr=tab["rmse"], color=col, alpha=0.7)
    ax[0].axvline(0, color="k", lw=0.8)
    ax[0].set_xlabel("bias (bar), RMSE (whisker)")
    ax[1].barh(y, tab["coverage"], color=col, alpha=0.7)
    ax[1].axvspan(0.92, 0.98, color="green", alpha=0.15)
    ax[1].set_xlim(0, 1)
    ax[1].set_xlabel("coverage of 95 % intervals\n(green: 0.92-0.98)")
    ax[0].set_yticks(y, lab)
    fig.suptitle("Estimators vs the generator's truth (red: design assumptions violated)")
    fig.tight_layout()
    _atomic(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


def _family(estimator: str) -> str:
    return estimator.split(" ")[0].lower()


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
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--resummarise", action="store_true", help="only rebuild the table and figure from the raw csv")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fam = set(args.families)

    def area_fn(folder: Path) -> list[dict]:
        return (_did_rep(folder) if "did" in fam else []) + (_synth_rep(folder) if "synth" in fam else [])

    jobs = [(s, ok, _matching_rep, args.persons) for s, ok in MATCHING.items()] if "matching" in fam else []
    if fam & {"did", "synth"}:
        jobs += [(s, ok, area_fn, args.area_persons) for s, ok in DID.items()]
    if args.only:
        jobs = [j for j in jobs if j[0] in args.only]
    if args.resummarise:
        jobs = []
    rows, t0 = [], time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="validate_"))
    try:
        for scen, ok, fn, n in jobs:  # a handful of scenarios
            for r in range(args.reps):  # replications
                folder = tmp / f"{scen}_{r}"
                simulate(scen, persons=n, seed=args.seed + r, out=str(folder), workers=1)
                try:
                    for row in fn(folder):
                        rows.append(dict(scenario=scen, rep=r, assumptions_hold=ok, persons=n, **row))
                except Exception as exc:  # report and continue: one failing draw must not hide the others
                    print(f"{scen} rep {r}: {type(exc).__name__}: {exc}", file=sys.stderr)
                shutil.rmtree(folder, ignore_errors=True)
            print(f"{scen}: done at {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    raw = pd.DataFrame(rows, columns=["scenario", "rep", "assumptions_hold", "persons", "estimator", "horizon",
                                      "estimate", "std_error", "ci_lower", "ci_upper", "truth"])
    raw_path = out / "validate_estimators_raw.csv"
    if (args.merge or args.resummarise) and raw_path.exists():
        old = pd.read_csv(raw_path)
        if "persons" not in old:  # the first run (before the column existed) used 5,000 / 10,000 persons
            old["persons"] = np.where(old["estimator"].str.startswith("matching"), 5000, 10000)
        done = set(zip(raw["estimator"], raw["scenario"]))
        old = old[[(e, s) not in done for e, s in zip(old["estimator"], old["scenario"])]]
        raw = pd.concat([old, raw], ignore_index=True)
    raw["horizon"] = raw["horizon"].astype(str)
    tab = summarise(raw)
    _atomic(raw_path, lambda p: raw.to_csv(p, index=False))
    _atomic(out / "validate_estimators.csv", lambda p: tab.to_csv(p, index=False))
    sizes = raw.groupby("estimator")["persons"].max()
    md = (f"Validation: up to {int(raw.groupby(['estimator', 'scenario'])['rep'].nunique().max())} draws per "
          f"estimator and scenario; persons per draw: " + ", ".join(f"{e} {int(v):,}" if v == v else f"{e} (see harness defaults)"
                                                     for e, v in sizes.items())
          + (" (table rebuilt from the raw draws)" if args.resummarise else f"; last run {time.perf_counter() - t0:.0f}s")
          + "\n\n" + _markdown(tab))
    _atomic(out / "validate_estimators.md", lambda p: Path(p).write_text(md + "\n"))
    figure(tab, out / "validate_estimators.png")
    print(md)


if __name__ == "__main__":
    main()
