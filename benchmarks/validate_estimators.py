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
  the areas' true effects (``truth/area_month.parquet``).

Reported per estimator x scenario x horizon: mean truth, bias, relative bias, RMSE, mean
s.e., SD of estimates and the coverage of the 95 % intervals, and whether the design's
assumptions hold in that scenario (``assumptions_hold``): a failing row where they do not
is the expected result, not a bug. The outcome panel is the generator's true person-month
panel (the outcome stage is validated separately).

Run: ``.venv/bin/python benchmarks/validate_estimators.py --reps 10 --persons 5000``
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

    lab = tab["estimator"].str.split(" ").str[0] + " | " + tab["scenario"] + " | h=" + tab["horizon"].astype(str)
    fig, ax = plt.subplots(1, 2, figsize=(11, 0.45 * len(tab) + 1.5), sharey=True)
    y = np.arange(len(tab))
    col = np.where(tab["assumptions_hold"], "tab:blue", "tab:red")
    ax[0].barh(y, tab["bias"], xerr=tab["rmse"], color=col, alpha=0.7)
    ax[0].axvline(0, color="k", lw=0.8)
    ax[0].set_xlabel("bias (bar) and RMSE (whisker), employment rate")
    ax[1].barh(y, tab["coverage"], color=col, alpha=0.7)
    ax[1].axvspan(0.92, 0.98, color="green", alpha=0.15)
    ax[1].set_xlim(0, 1)
    ax[1].set_xlabel("coverage of 95 % intervals (green: 0.92-0.98)")
    ax[0].set_yticks(y, lab)
    fig.suptitle("Estimators vs the generator's truth (red: design assumptions violated)")
    fig.tight_layout()
    _atomic(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--persons", type=int, default=5000)
    ap.add_argument("--area-persons", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--only", nargs="*", default=None, help="scenarios to run")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(s, ok, _matching_rep, args.persons) for s, ok in MATCHING.items()]
    jobs += [(s, ok, _did_rep, args.area_persons) for s, ok in DID.items()]
    if args.only:
        jobs = [j for j in jobs if j[0] in args.only]
    rows, t0 = [], time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="validate_"))
    try:
        for scen, ok, fn, n in jobs:  # a handful of scenarios
            for r in range(args.reps):  # replications
                folder = tmp / f"{scen}_{r}"
                simulate(scen, persons=n, seed=args.seed + r, out=str(folder), workers=1)
                try:
                    for row in fn(folder):
                        rows.append(dict(scenario=scen, rep=r, assumptions_hold=ok, **row))
                except Exception as exc:  # report and continue: one failing draw must not hide the others
                    print(f"{scen} rep {r}: {type(exc).__name__}: {exc}", file=sys.stderr)
                shutil.rmtree(folder, ignore_errors=True)
            print(f"{scen}: done at {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    raw = pd.DataFrame(rows)
    tab = summarise(raw)
    _atomic(out / "validate_estimators_raw.csv", lambda p: raw.to_csv(p, index=False))
    _atomic(out / "validate_estimators.csv", lambda p: tab.to_csv(p, index=False))
    md = (f"Validation: {args.reps} draws per scenario ({args.persons:,} persons; area scenarios "
          f"{args.area_persons:,}), {time.perf_counter() - t0:.0f}s\n\n" + _markdown(tab))
    _atomic(out / "validate_estimators.md", lambda p: Path(p).write_text(md + "\n"))
    figure(tab, out / "validate_estimators.png")
    print(md)


if __name__ == "__main__":
    main()
