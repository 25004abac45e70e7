"""Monte Carlo across populations: the dynamic matching's truth check with the sample-effect standard error.

The study's dynamic (risk-set) matching publishes the Abadie-Imbens standard error of the
*population* ATT; the generator's truth is the *sample* ATT, the mean of ``Y(1) - Y(0)`` over
exactly the matched treated rows. Against that truth the error is
``tau_hat - tau_sample = mean_i (Y_i - Y_i(1)) + [mean_i Y_i(0) - (1/N1) sum_j K_j Y_j]``: the
first part is zero where the outcome stage measures the generator's treated outcome exactly, the
second is the matching's error in imputing the treated rows' untreated outcomes, whose variance
``match(..., sample_se=True)`` estimates (``std_error_sample``; formula in
:func:`impact.estimators.matching.core._sample_variance`).

Each replication generates a fresh population of the default scenario (its own seed), builds the
outcome stage's person x month panel and the matching design of ``benchmarks/mc_populations.py``
(:func:`mc_populations.matching_design`: 'join now vs not now', outcomes 3, 6 and 12 months after
the service's end, employment and open-market earnings) and runs the design's estimator (k = 5 on
the score, exact cells, clustered by person) once with ``sample_se=True``. Per outcome it records
the estimate, both standard errors, the truth and the oracle decomposition from the generator's
potential outcomes of the treated rows (``truth/service_effects.parquet``) and the generator's
outcomes of the comparison rows (``truth/person_month.parquet``):
``estimate - truth = (meas_t - meas_c) + cf_err`` with ``meas_t`` / ``meas_c`` the outcome stage's
measurement minus the generator's outcome on the treated rows / their matched comparison part
(the first part above, split), ``cf_err = mean_i Y_i(0) - (1/N1) sum_j K_j Y_j`` in the generator's
outcomes (the matching's own error, whose variance ``std_error_sample`` estimates) and
``identity`` (``estimate - truth - (meas_t - meas_c) - cf_err``, zero up to rounding: the
decomposition, and so the estimand, is the one the variance formula assumes).

Usage (one JSON per population, so a run can be resumed; stop with ``--stop-at HH:MM`` UTC)::

    nice -n 10 .venv/bin/python benchmarks/mc_matching_sample_se.py run --seeds 1-100 --stop-at 22:25
    .venv/bin/python benchmarks/mc_matching_sample_se.py summary > benchmarks/results/mc_matching_sample_se.md
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mc_populations as mcp  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "mc_matching_sample_se"


def run_one(seed: int, args) -> dict:
    from impact.estimators import matching
    from impact.simulate import simulate

    tmp = Path(tempfile.mkdtemp(prefix=f"mcmsatt-{seed}-"))
    try:
        t0 = time.time()
        simulate(args.scenario, persons=args.persons, seed=seed, out=str(tmp), workers=1)
        panel, last_month = mcp._panel(tmp, "outcomes")
        design = mcp.matching_design(tmp, panel, last_month, args.service_type, tuple(args.horizons))
        res = matching.match(design.data, treatment="treated", outcome=design.outcomes, covariates=design.covariates,
                             k=5, exact=design.exact, cluster=design.cluster, horizons=design.horizons,
                             sample_se=True, diagnostics=False)
        d = design.data["treated"].to_numpy() > 0
        w = np.asarray(res.weights)  # 1 on matched treated rows, K_j on comparison rows
        n1 = float(w[d].sum())
        po = mcp.treated_effects(tmp, design.data, args.service_type)
        gen = _generator_outcomes(tmp, design.data, tuple(args.horizons))
        treated = design.data.with_row_index("_r").filter(pl.col("treated") > 0).with_columns(
            start_month=pl.col("ms").cast(pl.Int32))
        rec: dict = {"seed": seed, "scenario": args.scenario, "persons": args.persons}
        for row in res.estimates.itertuples():
            h, o = int(row.horizon), str(row.outcome)
            kind = "employed" if o.startswith("employed") else "earnings"
            t = treated.select("_r", "person_id", "start_month").join(
                po.filter(pl.col("h") == h).select("person_id", "start_month", y1=pl.col(f"{kind}_1").cast(pl.Float64),
                                                   y0=pl.col(f"{kind}_0").cast(pl.Float64)),
                on=["person_id", "start_month"], how="left")
            if t["y1"].null_count():
                raise RuntimeError(f"{t['y1'].null_count()} treated rows without the generator's outcomes at h = {h}")
            r = t["_r"].to_numpy()
            y, yg = design.data[o].to_numpy().astype(float), gen[o]
            wt = w[r]  # matched treated rows count (all are, with exact cells that have controls)
            y1, y0 = t["y1"].to_numpy(), t["y0"].to_numpy()
            truth = float(np.average(y1 - y0, weights=wt))
            meas_t = float(np.average(y[r] - y1, weights=wt))
            meas_c = float((w[~d] * (y[~d] - yg[~d])).sum() / n1)
            cf_err = float(np.average(y0, weights=wt) - (w[~d] * yg[~d]).sum() / n1)
            rec[f"matching/{o}"] = {"estimate": row.estimate, "se": row.std_error, "se_sample": row.std_error_sample,
                                    "truth": truth, "meas_t": meas_t, "meas_c": meas_c, "cf_err": cf_err,
                                    "identity": row.estimate - truth - (meas_t - meas_c) - cf_err,
                                    "y1_check": float(np.abs(yg[r] - y1).max()), "n_treated": int(row.n_treated)}
        rec["seconds"] = time.time() - t0
        return rec
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _generator_outcomes(folder: Path, data: pl.DataFrame, horizons) -> dict[str, np.ndarray]:
    """Every design row's outcomes as the generator defines them (open-market employment and earnings of
    ``truth/person_month.parquet`` in the row's outcome month ``m + length + h``; for a treated row this is
    its ``employed_1`` / ``earnings_1``, checked in ``y1_check``)."""
    pm = pl.read_parquet(folder / "truth" / "person_month.parquet").select(
        "person_id", pl.col("month").cast(pl.Int32), ge=(pl.col("employed") & ~pl.col("subsidised")).cast(pl.Float64),
        gy=pl.when(pl.col("subsidised")).then(0.0).otherwise(pl.col("earnings")))
    out = {}
    for h in horizons:
        r = data.select("person_id", _om=(pl.col("m") + pl.col("length") + h).cast(pl.Int32)).join(
            pm, left_on=["person_id", "_om"], right_on=["person_id", "month"], how="left", maintain_order="left")
        out[f"employed_h{h}"] = r["ge"].fill_null(0.0).to_numpy()
        out[f"earnings_h{h}"] = r["gy"].fill_null(0.0).to_numpy()
    return out


def _out_dir(args) -> Path:
    return Path(args.out) / f"{args.scenario}_{args.service_type}_{args.persons}"


def cmd_run(args) -> None:
    mcp.run_seeds(_out_dir(args), args.seeds, run_one, args, args.stop_at)


def _stats(err: np.ndarray, se: np.ndarray) -> tuple[float, float, float, float]:
    """Coverage of the 95 % interval and sd(z), each with its Monte Carlo standard error."""
    z = err / se
    R = len(z)
    cov = float(np.mean(np.abs(z) <= 1.959964))
    sdz = float(z.std(ddof=1))
    return cov, float(np.sqrt(cov * (1 - cov) / R)), sdz, sdz / np.sqrt(2 * (R - 1))


def summarise(folder: Path) -> str:
    recs = [json.loads(p.read_text()) for p in sorted(folder.glob("seed_*.json"))]
    ok = [r for r in recs if "error" not in r]
    keys = sorted({k for r in ok for k, v in r.items() if isinstance(v, dict) and "truth" in v},
                  key=lambda k: (k.split("_h")[0], int(k.rsplit("_h", 1)[1])))
    main = [f"{len(ok)} populations ({len(recs) - len(ok)} failed) from {folder.name}; seeds "
            f"{min(r['seed'] for r in ok)}-{max(r['seed'] for r in ok)}", "",
            "Truth: the sample ATT of the matched treated rows. Coverage of the 95 % interval "
            "`estimate +- 1.96 s.e.` and sd(z), z = (estimate - truth) / s.e., each with its Monte Carlo s.e.; "
            "'published': the Abadie-Imbens population s.e. (`std_error`), 'sample': `std_error_sample`.", "",
            "| outcome | R | mean truth | bias (MC s.e.) | mean s.e. published / sample | coverage published | "
            "coverage sample | sd(z) published | sd(z) sample |",
            "|---|---|---|---|---|---|---|---|---|"]
    oracle = ["", "Oracle decomposition, `estimate - truth = (meas_t - meas_c) + cf_err`: `meas_t - meas_c` = the "
              "outcome stage's measurement minus the generator's outcome, treated rows less their matched comparison "
              "part; `cf_err` = the treated rows' mean Y(0) less the matched comparison part, both as the generator "
              "defines them (the matching's own error, the target of `std_error_sample`), with its coverage and "
              "sd(cf_err / s.e.) under the sample s.e.; `identity` and `y1_check` are zero up to rounding when the "
              "decomposition holds.", "",
              "| outcome | mean meas_t - meas_c (MC s.e.) | mean cf_err (MC s.e.) | sd(cf_err) | rms s.e. published / "
              "sample | coverage of cf_err, sample | sd(cf_err / s.e.), sample | max abs identity, y1_check |",
              "|---|---|---|---|---|---|---|---|"]
    for k in keys:
        v = [r[k] for r in ok if k in r]
        a = {f: np.array([x[f] for x in v]) for f in ("estimate", "truth", "se", "se_sample", "meas_t", "meas_c",
                                                       "cf_err", "identity", "y1_check")}
        err, se, ses, R = a["estimate"] - a["truth"], a["se"], a["se_sample"], len(v)
        meas, cf = a["meas_t"] - a["meas_c"], a["cf_err"]
        cp, cpe, zp, zpe = _stats(err, se)
        cs, cse, zs, zse = _stats(err, ses)
        cc, cce, zc, zce = _stats(cf, ses)
        mcse = lambda x: x.std(ddof=1) / np.sqrt(R)  # noqa: E731
        main.append(f"| {k.split('/')[1]} | {R} | {a['truth'].mean():.4g} | {err.mean():+.3g} ({mcse(err):.2g}) | "
                    f"{se.mean():.3g} / {ses.mean():.3g} | {cp:.3f} ({cpe:.3f}) | {cs:.3f} ({cse:.3f}) | "
                    f"{zp:.2f} ({zpe:.2f}) | {zs:.2f} ({zse:.2f}) |")
        oracle.append(f"| {k.split('/')[1]} | {meas.mean():+.3g} ({mcse(meas):.2g}) | {cf.mean():+.3g} ({mcse(cf):.2g}) | "
                      f"{cf.std(ddof=1):.3g} | {np.sqrt(np.mean(se**2)):.3g} / {np.sqrt(np.mean(ses**2)):.3g} | "
                      f"{cc:.3f} ({cce:.3f}) | {zc:.2f} ({zce:.2f}) | {np.abs(a['identity']).max():.1e}, "
                      f"{a['y1_check'].max():.1e} |")
    lines = main + oracle
    secs = [r["seconds"] for r in ok]
    lines += ["", f"seconds per population: median {np.median(secs):.0f}"]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["run", "summary"])
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--service-type", default="training")
    ap.add_argument("--persons", type=int, default=20_000)
    ap.add_argument("--seeds", default="1-100")
    ap.add_argument("--horizons", type=int, nargs="+", default=[3, 6, 12])
    ap.add_argument("--stop-at", default=None, help="run: launch no new population from this UTC time (HH:MM)")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    if args.command == "run":
        cmd_run(args)
    else:
        print(summarise(_out_dir(args)))


if __name__ == "__main__":
    sys.exit(main())
