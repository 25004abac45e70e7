"""Monte Carlo across independently generated populations: bias and coverage against the truth.

Each replication generates a fresh population (its own seed: geography, persons, careers,
services), runs the effect designs and estimators directly (not through ``impact run``) and
compares every estimate with the generator's truth for exactly the design's treated units:

* dynamic (risk-set) matching, :func:`impact.designs.dynamic.risk_set_design` +
  :func:`impact.estimators.matching.match` as the design prescribes (k = 5 on the propensity
  score, exact cells, standard errors clustered by person): employment and open-market earnings 3, 6 and 12 months after the
  service's end ('join now vs not now'; truth ``employed_1 - employed_0``,
  ``earnings_1 - earnings_0`` of the treated rows); earnings with subsidised pay included
  are recorded beside (the estimand the study used to report);
* segment effects, :func:`impact.estimators.heterogeneity.design_heterogeneity` (employment 12
  months after the end, by sex and long-term unemployment) on the design of
  ``tests/test_heterogeneity.py`` (at most 20 controls per exact cell), and that design's own
  matching ATT;
* the study's risk-set DiD: :func:`impact.designs.did_panels.risk_set_panel` as
  ``impact.study.analyses._did_risk_set`` builds it (24 entry months, 3 comparison persons per
  entrant sampled within area and elapsed-duration bands, 12 months before and 24 after
  entry), ``att_gt(..., comparison_set="stack", method="reg")``, the event study ATT(e),
  e = 0..24, and its mean; truth :func:`impact.simulate.truth.true_event_att` of the entrants;
  every DiD row three times: with the population standard error, (``..._sample_se``) with the
  sample-ATT standard error (``att_gt(..., sample_se=True)``), which is the one to judge a
  comparison with the truth (the average effect of exactly these entrants) by, and
  (``..._oracle_se``) with the oracle: the same estimator run on the panel whose entrants carry,
  from the entry month on, the generator's counterfactual ('not now') employment. Its estimate
  (``est_cf``) is exactly the error of the estimate against the truth (the entrants' observed
  changes cancel), its standard error the one that error has with the treated units'
  counterfactual changes known.

Usage (long: run under ``nice``; one JSON per population, so a run can be resumed)::

    nice -n 10 .venv/bin/python benchmarks/mc_populations.py run --scenario default --seeds 1-100
    .venv/bin/python benchmarks/mc_populations.py summary --scenario default > benchmarks/results/mc_populations_default.md

The person x month panel is the outcome stage's (``--panel outcomes``, as the study uses it)
or the generator's own (``--panel truth``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "mc_populations"

# the risk-set DiD of the study (impact.study.analyses._did_risk_set)
DID_COVARIATES = ("age_u25", "age_o50", "female", "educ_basic", "educ_tertiary", "lang_other", "log_elapsed",
                  "long_term", "emp_12m", "seg_01", "seg_02", "seg_03", "seg_04", "hist_el1", "hist_el2", "hist_el3",
                  "hist_el4_6", "hist_el7_12")
DID_BANDS = (*range(1, 14), 19, 25, 37)
PRE, POST, N_COHORTS, K_CONTROLS = 12, 24, 24, 3


def _seeds(spec: str) -> list[int]:
    out = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def _panel(folder: Path, kind: str) -> tuple[pl.DataFrame, int]:
    """Person x month panel (person_id, month, employed, earnings, subsidised_eur) and its last full month."""
    if kind == "truth":
        p = pl.read_parquet(folder / "truth" / "person_month.parquet")
        p = p.with_columns(subsidised_eur=pl.when(pl.col("subsidised")).then(pl.col("earnings")).otherwise(0.0))
        return p.select("person_id", "month", "employed", "earnings", "subsidised_eur"), int(p["month"].max())
    from impact.backends import connect, open_register_tables
    from impact.outcomes import compute_outcomes
    from impact.outcomes.config import config_from_dict

    con = connect("duckdb", None)
    tables = open_register_tables(con, folder, None)
    res = compute_outcomes(con, tables, config_from_dict({"horizons": [1, 3, 6, 12]}, source="mc"),
                           collect_person_month=True)
    p = res.person_month.select("person_id", "month", "employed", earnings="earnings_eur", subsidised_eur="subsidised_eur")
    return p, int(res.last_month)


def _reader(folder: Path, service_type: str, sectors: list[int] | None = None):
    """Read a register table of ``folder``; ``sectors``: only the studied service's spells with these employers."""
    def read(name: str) -> pl.DataFrame:
        df = pl.read_parquet(folder / f"{name}.parquet")
        if name == "service_spells" and sectors is not None:  # e.g. pay subsidy with one kind of employer
            df = df.filter((pl.col("service_type") != service_type) | pl.col("employer_sector").is_in(sectors))
        return df
    return read


def matching_design(folder: Path, panel: pl.DataFrame, last_month: int, service_type: str, horizons,
                    max_controls=None, sectors: list[int] | None = None):
    """The dynamic matching design ('join now vs not now', outcomes from the service's end, open-market earnings)."""
    from impact.designs.dynamic import risk_set_design

    read = _reader(folder, service_type, sectors)
    return risk_set_design(read("jobseeking_spells"), read("service_spells"), read("persons"), panel,
                           service_type=service_type, horizons=horizons, origin="end", comparison="not_yet",
                           max_elapsed=24, last_month=last_month, max_controls=max_controls,
                           subsidised_earnings="subsidised_eur")


def treated_effects(folder: Path, data: pl.DataFrame, service_type: str) -> pl.DataFrame:
    """The generator's potential outcomes (employed_1/_0, earnings_1/_0 by horizon h) of the design's treated rows."""
    treated = data.filter(pl.col("treated") > 0).select("person_id", pl.col("ms").cast(pl.Int32).alias("start_month"))
    eff = pl.read_parquet(folder / "truth" / "service_effects.parquet").filter(pl.col("service_type") == service_type)
    return eff.join(treated.unique(), on=["person_id", "start_month"], how="semi")


def _matching(folder: Path, panel: pl.DataFrame, last_month: int, service_type: str, horizons, max_controls,
              sectors: list[int] | None = None):
    from impact.designs.dynamic import _outcomes, risk_set_design
    from impact.estimators import matching
    from impact.estimators.heterogeneity import design_heterogeneity, dynamic_segments

    read = _reader(folder, service_type, sectors)
    design = matching_design(folder, panel, last_month, service_type, horizons, max_controls, sectors)
    # earnings with subsidised pay included (the study's former outcome), on the same rows
    extra, names, hz = _outcomes(design.data.with_row_index("_r").select("_r", "person_id", "m", "length"), panel,
                                 pl.col("m") + pl.col("length"), horizons, "employed", "earnings")
    extra = extra.select("_r", *[pl.col(f"earnings_h{h}").alias(f"earnings_total_h{h}") for h in horizons])
    design.data = design.data.with_row_index("_r").join(extra, on="_r").sort("_r").drop("_r")
    tot = [f"earnings_total_h{h}" for h in horizons]
    design.outcomes = design.outcomes + tot
    design.horizons.update({c: h for c, h in zip(tot, horizons)})
    t0 = time.time()
    # the design's estimator (RiskSetDesign.estimate: k = 5 on the score, exact cells, clustered by person)
    res = matching.match(design.data, treatment="treated", outcome=design.outcomes, covariates=design.covariates,
                         k=5, exact=design.exact, cluster=design.cluster, horizons=design.horizons)
    secs = time.time() - t0
    eff = pl.read_parquet(folder / "truth" / "service_effects.parquet").filter(pl.col("service_type") == service_type)
    tr = treated_effects(folder, design.data, service_type).group_by("h").agg(
        emp=(pl.col("employed_1").cast(pl.Float64) - pl.col("employed_0").cast(pl.Float64)).mean(),
        earn=(pl.col("earnings_1") - pl.col("earnings_0")).mean())
    truth = {int(r["h"]): r for r in tr.iter_rows(named=True)}
    out = {}
    for row in res.estimates.itertuples():
        h = int(row.horizon)
        kind = "emp" if row.outcome.startswith("employed") else "earn"
        out[f"matching/{row.outcome}"] = {"estimate": row.estimate, "se": row.std_error, "truth": truth[h][kind],
                                          "n_treated": int(row.n_treated)}
    # population-level diagnostic: balance of the (unobserved) latent ability after matching
    lat = pl.read_parquet(folder / "truth" / "latent.parquet")
    ab = design.data.select("person_id").join(lat, on="person_id", how="left")["ability"].to_numpy()
    d = design.data["treated"].to_numpy() > 0
    w = res.weights
    out["diag/ability_gap"] = float(ab[d].mean() - np.average(ab[~d], weights=w[~d]))
    out["diag/matching_seconds"] = secs
    # segment effects (employment 12 months after the end) on the design of tests/test_heterogeneity.py (at
    # most 20 controls per exact cell: the segment estimator's nuisance models cost ~10x more on the full
    # design), and that design's own matching ATT
    hseg = max(horizons)
    seg_design = risk_set_design(read("jobseeking_spells"), read("service_spells"), read("persons"), panel,
                                 service_type=service_type, horizons=(hseg,), origin="end", comparison="not_yet",
                                 max_elapsed=24, last_month=last_month, max_controls=20)
    seg = design_heterogeneity(seg_design, f"employed_h{hseg}", ["sex", "long_term"], forest=False)
    own = matching.match(seg_design.data, treatment="treated", outcome=f"employed_h{hseg}",
                         covariates=seg_design.covariates, k=5, exact=seg_design.exact, cluster=seg_design.cluster)
    segs = dynamic_segments(seg_design.data).filter(pl.col("treated") > 0).select(
        "person_id", pl.col("ms").cast(pl.Int32).alias("start_month"), "sex", "long_term")
    e12 = eff.filter(pl.col("h") == hseg).join(segs, on=["person_id", "start_month"], how="inner").with_columns(
        tau=pl.col("employed_1").cast(pl.Float64) - pl.col("employed_0").cast(pl.Float64))
    for var in ("sex", "long_term"):
        tv = dict(e12.group_by(var).agg(pl.col("tau").mean()).iter_rows())
        s = seg.segment(var).set_index("segment")
        for lev, t in tv.items():
            out[f"segments/employed_h{hseg}/{var}={lev}"] = {"estimate": float(s.loc[lev, "estimate"]),
                                                             "se": float(s.loc[lev, "std_error"]), "truth": t}
    ov = seg.segment("all").iloc[0]
    out[f"segments/employed_h{hseg}/all"] = {"estimate": float(ov["estimate"]), "se": float(ov["std_error"]),
                                             "truth": float(e12["tau"].mean())}
    o = own.estimates.iloc[0]
    out[f"segments/employed_h{hseg}/matching_ATT"] = {"estimate": float(o["estimate"]), "se": float(o["std_error"]),
                                                      "truth": float(e12["tau"].mean())}
    return out


def _history_by_start(d: pl.DataFrame) -> pl.DataFrame:
    e, h = pl.col("elapsed_months"), pl.col("emp_12m")
    return d.with_columns(hist_el1=h * (e == 1), hist_el2=h * (e == 2), hist_el3=h * (e == 3),
                          hist_el4_6=h * e.is_between(4, 6), hist_el7_12=h * e.is_between(7, 12))


def _did(folder: Path, panel: pl.DataFrame, last_month: int, service_type: str, variants: dict[str, dict],
         shift: int = 0, study_population: bool = False):
    """The study's DiD; ``shift``: its 24 entry months moved that many months earlier; ``study_population``: only
    the units the study's population keeps (age 18-64 in the entry month's year, at most 24 months of job seeking)."""
    from impact.designs.did_panels import risk_set_panel
    from impact.estimators import did
    from impact.simulate.truth import true_event_att, true_event_paths

    read = lambda n: pl.read_parquet(folder / f"{n}.parquet")  # noqa: E731
    last_full = last_month - 1  # the last month's arrears pay is reported later
    g1 = min(last_full - POST, 2024 * 12 + 5) - shift  # population.start_to = 2024-06-30
    g0 = max(g1 - N_COHORTS + 1, int(panel["month"].min()) + PRE)
    pm = panel.filter(pl.col("month") <= last_full)
    out = {}
    for name, kw in variants.items():
        kw = dict(kw)
        method = kw.pop("method", "reg")
        adjust = kw.pop("covariates", True)
        extra = list(kw.pop("extra_covariates", ()))
        d = risk_set_panel(pm, read("service_spells"), read("jobseeking_spells"), read("persons"),
                           service_type=service_type, cohorts=(g0, g1), pre=PRE, post=POST,
                           controls_per_treated=K_CONTROLS, seed=0, earnings_col="earnings",
                           elapsed_bands=DID_BANDS, **kw)
        d = _history_by_start(d).join(read("persons").select("person_id", "birth_year"), on="person_id", how="left")
        # near retirement at the entry month (the generator starts no service from 63 and moves people out)
        age = pl.col("stack") // 12 - pl.col("birth_year")
        d = d.with_columns(age_entry_o60=(age >= 60).cast(pl.Int8))
        if study_population:
            d = d.filter(age.is_between(18, 64) & (pl.col("elapsed_months") <= 24))
        sizes = d.select("unit", "stack", "cohort").unique().group_by("stack").agg(
            n_t=(pl.col("cohort") > 0).sum(), n_c=(pl.col("cohort") == 0).sum())
        small = sizes.filter((pl.col("n_t") < 10) | (pl.col("n_c") < 10))["stack"].to_list()
        d = d.filter(~pl.col("stack").is_in(small))
        spread = d.filter(pl.col("cohort") == 0).unique("unit").group_by("stack").agg(
            [pl.col(c).cast(pl.Float64).std().fill_null(0.0).alias(c) for c in DID_COVARIATES])
        covs = [c for c in DID_COVARIATES if spread[c].min() > 0] if adjust else []
        covs += [c for c in extra if d.filter(pl.col("cohort") == 0)[c].std() > 0]
        res = did.att_gt(d, unit="unit", time="month", group="cohort", outcome="employed", comparison_set="stack",
                         cluster="person_id", covariates=covs, method=method, sample_se=True)
        agg = res.aggregate("dynamic", min_e=-PRE, max_e=POST)
        used = d.filter(pl.col("stack").is_in(res.att_gt["group"].unique().tolist()) & (pl.col("cohort") > 0))
        ids = used.select("service_id").unique()
        tr = true_event_att(folder / "truth", ids, event_times=list(range(0, POST + 1)))
        tmap = dict(zip(tr["event_time"].to_list(), tr["att_employed"].to_list()))
        # oracle: the same estimator on the panel whose treated rows from entry on hold the generator's
        # counterfactual ('not now') employment; its estimate is the error against the sample truth
        # (up to the panel's measurement of employment) and its standard error the one that error has
        paths = true_event_paths(folder / "truth", ids, event_times=list(range(0, POST + 1))).select(
            "service_id", pl.col("month").cast(pl.Int64), y0=pl.col("employed_0").cast(pl.Float64))
        dcf = d.with_columns(pl.col("month").cast(pl.Int64).alias("_m")).join(
            paths.rename({"month": "_m"}), on=["service_id", "_m"], how="left").with_columns(
            employed_cf=pl.when((pl.col("cohort") > 0) & pl.col("y0").is_not_null()).then("y0")
            .otherwise(pl.col("employed").cast(pl.Float64))).drop("_m", "y0")
        orc = did.att_gt(dcf, unit="unit", time="month", group="cohort", outcome="employed_cf",
                         comparison_set="stack", cluster="person_id", covariates=covs, method=method)
        oagg = orc.aggregate("dynamic", min_e=-PRE, max_e=POST)
        oest = oagg.estimates.set_index("event_time")
        est = agg.estimates.set_index("event_time")
        for e in range(0, POST + 1):
            if e in est.index and e in tmap and np.isfinite(est.loc[e, "std_error"]):
                for tag, col in (("", "std_error"), ("_sample_se", "std_error_sample")):
                    out[f"did_{name}{tag}/e{e:02d}"] = {"estimate": float(est.loc[e, "estimate"]),
                                                        "se": float(est.loc[e, col]), "truth": tmap[e]}
                out[f"did_{name}_oracle_se/e{e:02d}"] = {"estimate": float(est.loc[e, "estimate"]),
                                                         "se": float(oest.loc[e, "std_error"]), "truth": tmap[e],
                                                         "est_cf": float(oest.loc[e, "estimate"])}
        ov = agg.overall
        tmean = float(np.mean([tmap[e] for e in range(POST + 1)]))
        for tag, se in (("", ov.std_error), ("_sample_se", ov.std_error_sample),
                        ("_oracle_se", oagg.overall.std_error)):
            out[f"did_{name}{tag}/mean_e0_{POST}"] = {"estimate": ov.estimate, "se": se, "truth": tmean,
                                                      "n_treated": int(ids.height)}
        out[f"did_{name}_oracle_se/mean_e0_{POST}"]["est_cf"] = oagg.overall.estimate
        try:
            out[f"did_{name}/pretest_p"] = float(res.pretest(min_e=-PRE).p_value)
        except Exception:  # noqa: BLE001 - a design without pre-periods has no test
            pass
    return out


def run_one(seed: int, args) -> dict:
    from impact.simulate import simulate

    tmp = Path(tempfile.mkdtemp(prefix=f"mcpop-{args.scenario}-{seed}-"))
    try:
        t0 = time.time()
        simulate(args.scenario, persons=args.persons, seed=seed, out=str(tmp), workers=1)
        panel, last_month = _panel(tmp, args.panel)
        rec: dict = {"seed": seed, "scenario": args.scenario, "persons": args.persons, "panel": args.panel}
        if "matching" in args.analyses:
            rec.update(_matching(tmp, panel, last_month, args.service_type, tuple(args.horizons), args.max_controls,
                                 args.sectors))
        if "did" in args.analyses:
            variants = {"spell": {"elapsed": "spell"}, "episode": {"elapsed": "episode"},
                        "episode_nocov": {"elapsed": "episode", "covariates": False},
                        "episode_age60": {"elapsed": "episode", "extra_covariates": ("age_entry_o60",)},
                        "spell_dr": {"elapsed": "spell", "method": "dr"},
                        "episode_dr": {"elapsed": "episode", "method": "dr"}}
            rec.update(_did(tmp, panel, last_month, args.service_type,
                            {k: v for k, v in variants.items() if k in args.did_variants},
                            study_population=args.study_population))
        rec["seconds"] = time.time() - t0
        return rec
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _out_dir(args) -> Path:
    tag = f"{args.scenario}_{args.service_type}_{args.persons}_{args.panel}" + (
        f"_mc{args.max_controls}" if args.max_controls else "") + (
        "_sector" + "-".join(map(str, args.sectors)) if args.sectors else "") + (
        "_studypop" if args.study_population else "")
    return Path(args.out) / tag


def run_seeds(out: Path, seeds: str, run_one, args, stop_at: str | None = None) -> None:
    """``run_one(seed, args)`` for every seed without a result in ``out`` (one JSON per seed, written
    atomically; a failed population is recorded); ``stop_at`` (``HH:MM`` UTC): start no seed from then on."""
    import datetime as dt

    out.mkdir(parents=True, exist_ok=True)
    stop = None
    if stop_at:
        hh, mm = map(int, stop_at.split(":"))
        stop = dt.datetime.now(dt.timezone.utc).replace(hour=hh, minute=mm, second=0, microsecond=0)
    for seed in _seeds(seeds):
        f = out / f"seed_{seed:05d}.json"
        if f.exists():
            continue
        if stop is not None and dt.datetime.now(dt.timezone.utc) >= stop:
            print(f"stopped before seed {seed} ({stop_at} UTC reached)", flush=True)
            break
        try:
            rec = run_one(seed, args)
        except Exception as e:  # noqa: BLE001 - a failed population is recorded, not fatal
            rec = {"seed": seed, "error": f"{type(e).__name__}: {e}"}
        tmpf = f.with_suffix(".tmp")
        tmpf.write_text(json.dumps(rec, default=float))
        os.replace(tmpf, f)
        print(f"seed {seed}: {rec.get('seconds', float('nan')):.0f} s {rec.get('error', '')}", flush=True)


def cmd_run(args) -> None:
    run_seeds(_out_dir(args), args.seeds, run_one, args)


def cmd_windows(args) -> None:
    """The DiD against the truth on one set of registers, for successive windows of entry months."""
    folder = Path(args.registers)
    panel, last_month = _panel(folder, args.panel)
    print(f"{folder.name}, {args.service_type}: estimate - truth, mean over e = 0..{POST} and at e = 3, 6, 12, 18, 24")
    for w in range(args.windows):
        rec = _did(folder, panel, last_month, args.service_type, {"episode": {"elapsed": "episode"},
                                                                 "episode_nocov": {"elapsed": "episode",
                                                                                   "covariates": False}},
                   shift=w * N_COHORTS, study_population=args.study_population)
        for name in ("episode", "episode_nocov"):
            m = rec[f"did_{name}/mean_e0_{POST}"]
            at = " ".join(f"{rec[f'did_{name}/e{e:02d}']['estimate'] - rec[f'did_{name}/e{e:02d}']['truth']:+.4f}"
                          for e in (3, 6, 12, 18, 24))
            print(f"window {w} (entry months shifted {w * N_COHORTS} back), {name}: n = {m['n_treated']}, "
                  f"truth {m['truth']:.4f}, error {m['estimate'] - m['truth']:+.4f} (s.e. {m['se']:.4f}); {at}",
                  flush=True)


def summarise(folder: Path) -> str:
    recs = [json.loads(p.read_text()) for p in sorted(folder.glob("seed_*.json"))]
    ok = [r for r in recs if "error" not in r]
    keys = sorted({k for r in ok for k, v in r.items() if isinstance(v, dict) and "truth" in v})
    lines = [f"{len(ok)} populations ({len(recs) - len(ok)} failed) from {folder.name}", "",
             "| target | R | mean truth | bias | MC s.e. of bias | bias / mean s.e. | coverage (95 %) | MC s.e. | sd(z) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for k in keys:
        v = [r[k] for r in ok if k in r and np.isfinite(r[k]["se"]) and r[k]["se"] > 0]
        if len(v) < 5:
            continue
        est = np.array([x["estimate"] for x in v])
        se = np.array([x["se"] for x in v])
        tru = np.array([x["truth"] for x in v])
        err, z = est - tru, (est - tru) / se
        cov = np.mean(np.abs(z) <= 1.959964)
        R = len(v)
        lines.append(f"| {k} | {R} | {tru.mean():.4g} | {err.mean():+.4g} | {err.std(ddof=1) / np.sqrt(R):.2g} | "
                     f"{err.mean() / se.mean():+.2f} | {cov:.3f} | {np.sqrt(cov * (1 - cov) / R):.3f} | "
                     f"{z.std(ddof=1):.2f} |")
    diag = [r["diag/ability_gap"] for r in ok if "diag/ability_gap" in r]
    if diag:
        lines += ["", f"latent ability, treated minus matched controls: mean {np.mean(diag):+.4f}, "
                      f"sd over populations {np.std(diag, ddof=1):.4f}"]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["run", "summary", "windows"])
    ap.add_argument("--registers", help="windows: the registers folder (with truth/)")
    ap.add_argument("--windows", type=int, default=3, help="windows: how many successive windows of entry months")
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--service-type", default="training")
    ap.add_argument("--persons", type=int, default=20_000)
    ap.add_argument("--seeds", default="1-100")
    ap.add_argument("--panel", choices=["outcomes", "truth"], default="outcomes")
    ap.add_argument("--analyses", default="matching,did")
    ap.add_argument("--did-variants", default="spell,episode")
    ap.add_argument("--horizons", type=int, nargs="+", default=[3, 6, 12])
    ap.add_argument("--max-controls", type=int, default=None)
    ap.add_argument("--sectors", type=int, nargs="+", default=None,
                    help="keep only the studied service's spells with these employer_sector codes (matching)")
    ap.add_argument("--study-population", action="store_true",
                    help="DiD: only the units the study's population keeps (age 18-64, at most 24 months of "
                         "job seeking)")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    args.analyses = args.analyses.split(",")
    args.did_variants = args.did_variants.split(",")
    if args.command == "run":
        cmd_run(args)
    elif args.command == "windows":
        cmd_windows(args)
    else:
        print(summarise(_out_dir(args)))


if __name__ == "__main__":
    sys.exit(main())
