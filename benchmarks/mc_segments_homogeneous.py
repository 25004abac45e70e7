"""Monte Carlo across populations of the segment test of ``tests/test_heterogeneity.py``.

The test (``_register_effects`` + ``_covers``) generates one population, builds the risk-set
design of training on the generator's own person x month panel (employment 12 months after the
service end, at most 20 controls per exact cell), estimates the segment effects
(:func:`impact.estimators.heterogeneity.design_heterogeneity`, women / men, long-term / not,
``forest=False``) and asks every segment's Bonferroni interval (95 % family-wise over the four
segments, critical value 2.50) to cover the truth: the mean of ``employed_1 - employed_0`` of
exactly the design's treated rows in that segment. This module holds that procedure once
(:func:`segment_effects`, :func:`bonferroni`; the test imports them) and runs it for many seeds:
one JSON per population with the estimate, s.e., truth and z of every segment, the design's own
matching ATT (k = 5 on the score, exact cells, clustered by person) with its z, the latent-ability
gap of the treated against their matched rows, and whether the Bonferroni test passes.

Usage (long: one process under ``nice``; resumable, a seed with a JSON is skipped)::

    nice -n 10 .venv/bin/python benchmarks/mc_segments_homogeneous.py run --seeds 1-100
    .venv/bin/python benchmarks/mc_segments_homogeneous.py summary
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import norm

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "mc_segments_homogeneous"
H, MAX_CONTROLS, SEGMENT_VARS = 12, 20, ("sex", "long_term")


def segment_effects(folder: Path | str, h: int = H, max_controls: int = MAX_CONTROLS, matching_att: bool = False):
    """Segment effects of training on generated registers (with ``truth/``) and their truth.

    Returns ``(res, truth, extra)``: the :class:`HeterogeneityResults` of ``employed_h{h}``, the truth
    ``{var: {level: mean tau}}`` and (``{}`` unless ``matching_att``) the design's own matching ATT
    ``{"estimate", "se", "truth", "ability_gap"}``. Truth per segment: the mean of
    ``employed_1 - employed_0`` (service vs 'not now', the design's contrast) h months after the
    service end over exactly the design's treated rows in that segment (same person and start
    month), so estimand and truth share the segment definition (sex from the persons register,
    long-term = unemployed 12+ months at the start).
    """
    from impact.designs.dynamic import risk_set_design
    from impact.estimators import matching
    from impact.estimators.heterogeneity import design_heterogeneity, dynamic_segments

    folder = Path(folder)
    read = lambda n: pl.read_parquet(folder / f"{n}.parquet")  # noqa: E731
    panel = pl.read_parquet(folder / "truth" / "person_month.parquet")
    design = risk_set_design(read("jobseeking_spells"), read("service_spells"), read("persons"), panel,
                             horizons=(h,), max_controls=max_controls)
    outcome = f"employed_h{h}"
    res = design_heterogeneity(design, outcome, list(SEGMENT_VARS), forest=False)
    seg = dynamic_segments(design.data).filter(pl.col("treated") > 0).select(
        "person_id", pl.col("ms").cast(pl.Int32), *SEGMENT_VARS)
    eff = pl.read_parquet(folder / "truth" / "service_effects.parquet").filter(
        (pl.col("service_type") == "training") & (pl.col("h") == h))
    j = seg.join(eff, left_on=["person_id", "ms"], right_on=["person_id", "start_month"], how="inner")
    if j.height != seg.height:
        raise AssertionError(f"{seg.height - j.height} treated rows have no truth")
    j = j.with_columns(tau=pl.col("employed_1").cast(pl.Float64) - pl.col("employed_0").cast(pl.Float64))
    truth = {v: dict(j.group_by(v).agg(pl.col("tau").mean()).iter_rows()) for v in SEGMENT_VARS}
    extra: dict = {}
    if matching_att:
        own = matching.match(design.data, treatment="treated", outcome=outcome, covariates=design.covariates,
                             k=5, exact=design.exact, cluster=design.cluster)
        o = own.estimates.iloc[0]
        ab = design.data.select("person_id").join(pl.read_parquet(folder / "truth" / "latent.parquet"),
                                                  on="person_id", how="left")["ability"].to_numpy()
        d, w = design.data["treated"].to_numpy() > 0, own.weights
        extra = {"estimate": float(o["estimate"]), "se": float(o["std_error"]), "truth": float(j["tau"].mean()),
                 "ability_gap": float(ab[d].mean() - np.average(ab[~d], weights=w[~d]))}
    return res, truth, extra


def bonferroni(res, truth, alpha: float = 0.05) -> dict:
    """The test's reading: z = (estimate - truth) / s.e. per segment, the Bonferroni critical value over the
    segments checked (a 95 % family-wise claim) and whether every interval covers its truth."""
    k = sum(len(tr) for tr in truth.values())
    crit = float(norm.ppf(1 - alpha / (2 * k)))
    segs = {}
    for var, tr in truth.items():
        s = res.segment(var).set_index("segment")
        for lev, t in tr.items():
            est, se = float(s.loc[lev, "estimate"]), float(s.loc[lev, "std_error"])
            segs[f"{var}={lev}"] = {"estimate": est, "se": se, "truth": float(t), "z": (est - t) / se}
    return {"segments": segs, "crit": crit, "passes": all(abs(v["z"]) <= crit for v in segs.values())}


def run_one(seed: int, scenario: str, persons: int) -> dict:
    from impact.simulate import simulate

    tmp = Path(tempfile.mkdtemp(prefix=f"mcseg-{scenario}-{seed}-"))
    try:
        t0 = time.time()
        simulate(scenario, persons=persons, seed=seed, out=str(tmp), workers=1)
        res, truth, att = segment_effects(tmp, matching_att=True)
        rec = {"seed": seed, "scenario": scenario, "persons": persons, **bonferroni(res, truth)}
        att["z"] = (att["estimate"] - att["truth"]) / att["se"]
        rec["matching_ATT"] = att
        ov = res.segment("all").iloc[0]
        rec["all"] = {"estimate": float(ov["estimate"]), "se": float(ov["std_error"]), "truth": att["truth"],
                      "z": (float(ov["estimate"]) - att["truth"]) / float(ov["std_error"])}
        rec["seconds"] = time.time() - t0
        return rec
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _seeds(spec: str) -> list[int]:
    out = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    return out


def _out_dir(args) -> Path:
    return Path(args.out) / f"{args.scenario}_{args.persons}"


def cmd_run(args) -> None:
    out = _out_dir(args)
    out.mkdir(parents=True, exist_ok=True)
    stop = calendar.timegm(time.strptime(args.stop_at, "%Y-%m-%dT%H:%M")) if args.stop_at else None
    for seed in _seeds(args.seeds):
        f = out / f"seed_{seed:05d}.json"
        if f.exists():
            continue
        if stop is not None and time.time() >= stop:
            print(f"stop time {args.stop_at} UTC reached; not starting seed {seed}", flush=True)
            break
        try:
            rec = run_one(seed, args.scenario, args.persons)
        except Exception as e:  # noqa: BLE001 - a failed population is recorded, not fatal
            rec = {"seed": seed, "error": f"{type(e).__name__}: {e}"}
        tmpf = f.with_suffix(".tmp")
        tmpf.write_text(json.dumps(rec, default=float))
        os.replace(tmpf, f)
        print(f"seed {seed}: {rec.get('seconds', float('nan')):.0f} s passes={rec.get('passes')} "
              f"{rec.get('error', '')}", flush=True)


def summarise(folder: Path) -> str:
    recs = [json.loads(p.read_text()) for p in sorted(folder.glob("seed_*.json"))]
    ok = [r for r in recs if "error" not in r]
    R = len(ok)
    names = list(ok[0]["segments"])
    lines = [f"{R} populations ({len(recs) - R} failed) from {folder.name}; z = (estimate - truth) / s.e.", "",
             "| target | mean truth | mean z (MC s.e.) | sd(z) | coverage 95 % (MC s.e.) | z seed 11 | z seed 23 |",
             "|---|---|---|---|---|---|---|"]
    by_seed = {r["seed"]: r for r in ok}
    rows = [(n, lambda r, n=n: r["segments"][n]) for n in names] + [
        ("all (segment estimator)", lambda r: r["all"]), ("design's matching ATT", lambda r: r["matching_ATT"])]
    for name, get in rows:
        z = np.array([get(r)["z"] for r in ok])
        cov = np.mean(np.abs(z) <= norm.ppf(0.975))
        at = [f"{get(by_seed[s])['z']:+.2f}" if s in by_seed else "-" for s in (11, 23)]
        lines.append(f"| {name} | {np.mean([get(r)['truth'] for r in ok]):.4f} | {z.mean():+.2f} "
                     f"({z.std(ddof=1) / np.sqrt(R):.2f}) | {z.std(ddof=1):.2f} | {cov:.3f} "
                     f"({np.sqrt(cov * (1 - cov) / R):.3f}) | {at[0]} | {at[1]} |")
    fail = [r["seed"] for r in ok if not r["passes"]]
    p = len(fail) / R
    zs = np.array([[r["segments"][n]["z"] for n in names] for r in ok])
    gap = np.array([r["matching_ATT"]["ability_gap"] for r in ok])
    lines += ["", f"Bonferroni test (critical value {ok[0]['crit']:.2f}) fails in {len(fail)} of {R} "
                  f"({p:.3f}, MC s.e. {np.sqrt(p * (1 - p) / R):.3f}): seeds {fail}",
              f"most negative segment z {zs.min():+.2f} (seed {ok[int(np.argmin(zs.min(axis=1)))]['seed']}), "
              f"most positive {zs.max():+.2f} (seed {ok[int(np.argmax(zs.max(axis=1)))]['seed']})",
              f"latent ability, treated minus matched rows: mean {gap.mean():+.4f} (MC s.e. "
              f"{gap.std(ddof=1) / np.sqrt(R):.4f}), sd {gap.std(ddof=1):.4f}; corr with the segment z "
              + ", ".join(f"{n} {np.corrcoef(gap, zs[:, i])[0, 1]:+.2f}" for i, n in enumerate(names)),
              f"seconds per population: median {np.median([r['seconds'] for r in ok]):.0f}"]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["run", "summary"])
    ap.add_argument("--scenario", default="homogeneous")
    ap.add_argument("--persons", type=int, default=20_000)
    ap.add_argument("--seeds", default="1-100")
    ap.add_argument("--stop-at", default=None, help="run: start no new seed after this UTC time (YYYY-MM-DDTHH:MM)")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    if args.command == "run":
        cmd_run(args)
    else:
        print(summarise(_out_dir(args)))


if __name__ == "__main__":
    sys.exit(main())
