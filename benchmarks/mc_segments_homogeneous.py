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
sys.path.insert(0, str(ROOT / "benchmarks"))
from mc_populations import _seeds  # noqa: E402
RESULTS = ROOT / "benchmarks" / "results" / "mc_segments_homogeneous"
H, MAX_CONTROLS, SEGMENT_VARS = 12, 20, ("sex", "long_term")


def segment_effects(folder: Path | str, h: int = H, max_controls: int = MAX_CONTROLS, matching_att: bool = False):
    """Segment effects of training on generated registers (with ``truth/``) and their truth.

    Returns ``(res, truth, extra)``: the :class:`HeterogeneityResults` of ``employed_h{h}``, the truth
    ``{var: {level: mean tau}}`` and ``extra``: ``truth_all`` (the mean tau of all the design's treated
    rows) and, with ``matching_att``, the design's own matching ATT (``estimate``, ``se``) and the latent
    ability of its treated minus their matched rows (``ability_gap``). Truth per segment: the mean of
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
    extra: dict = {"truth_all": float(j["tau"].mean())}
    if matching_att:
        own = matching.match(design.data, treatment="treated", outcome=outcome, covariates=design.covariates,
                             k=5, exact=design.exact, cluster=design.cluster)
        o = own.estimates.iloc[0]
        ab = design.data.select("person_id").join(pl.read_parquet(folder / "truth" / "latent.parquet"),
                                                  on="person_id", how="left")["ability"].to_numpy()
        d, w = design.data["treated"].to_numpy() > 0, own.weights
        extra.update(estimate=float(o["estimate"]), se=float(o["std_error"]),
                     ability_gap=float(ab[d].mean() - np.average(ab[~d], weights=w[~d])))
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


def run_one(seed: int, scenario: str, persons: int, matching_att: bool = True) -> dict:
    """One population: generate it, run the procedure, return the record (segments, 'all', matching ATT)."""
    from impact.simulate import simulate

    tmp = Path(tempfile.mkdtemp(prefix=f"mcseg-{scenario}-{seed}-"))
    try:
        t0 = time.time()
        simulate(scenario, persons=persons, seed=seed, out=str(tmp), workers=1)
        res, truth, att = segment_effects(tmp, matching_att=matching_att)
        rec = {"seed": seed, "scenario": scenario, "persons": persons, **bonferroni(res, truth)}
        t_all = att.pop("truth_all")
        if att:
            att["z"] = (att["estimate"] - t_all) / att["se"]
            rec["matching_ATT"] = {**att, "truth": t_all}
        ov = res.segment("all").iloc[0]
        rec["all"] = {"estimate": float(ov["estimate"]), "se": float(ov["std_error"]), "truth": t_all,
                      "z": (float(ov["estimate"]) - t_all) / float(ov["std_error"])}
        rec["seconds"] = time.time() - t0
        return rec
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def across_populations(recs: list[dict], alpha: float = 0.05) -> dict:
    """The claim of the segment intervals read across K populations (the suite's test), three statistics
    each with a bound its null distribution exceeds with probability <= 0.5 % (<= 1.5 % for the three):

    * ``fails``: populations whose Bonferroni test fails; binomial(K, alpha) if the intervals are exact;
    * ``chi2[var]``: the sum over populations of z^2 of the levels of one segment variable (disjoint
      persons): chi-square with K x levels degrees of freedom if the errors are N(0, s.e.^2), so too
      small standard errors or a bias show;
    * ``mean_z_all``: the mean over populations of the z of the overall effect; N(0, 1/K) if unbiased.
    """
    from scipy.stats import binom, chi2

    K, level = len(recs), 0.005
    fails = sum(not r["passes"] for r in recs)
    out = {"K": K, "fails": fails, "fails_bound": int(binom.ppf(1 - level, K, alpha)), "chi2": {}}
    for var in SEGMENT_VARS:
        z = [v["z"] for r in recs for k, v in r["segments"].items() if k.startswith(f"{var}=")]
        out["chi2"][var] = (float(np.sum(np.square(z))), float(chi2.ppf(1 - level, len(z))))
    out["mean_z_all"] = float(np.mean([r["all"]["z"] for r in recs]))
    out["mean_z_bound"] = float(norm.ppf(1 - level / 2) / np.sqrt(K))
    out["passes"] = bool(out["fails"] <= out["fails_bound"] and abs(out["mean_z_all"]) <= out["mean_z_bound"]
                         and all(x <= b for x, b in out["chi2"].values()))
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


def summarise(folder: Path, block: int | None = None) -> str:
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
              "tails of the segment z against N(0, 1): " + ", ".join(
                  f"|z| > {c}: {int((np.abs(zs) > c).sum())} (expected {zs.size * 2 * norm.sf(c):.1f})" for c in (2.5, 3.0)),
              f"latent ability, treated minus matched rows: mean {gap.mean():+.4f} (MC s.e. "
              f"{gap.std(ddof=1) / np.sqrt(R):.4f}), sd {gap.std(ddof=1):.4f}; corr with the segment z "
              + ", ".join(f"{n} {np.corrcoef(gap, zs[:, i])[0, 1]:+.2f}" for i, n in enumerate(names)),
              f"seconds per population: median {np.median([r['seconds'] for r in ok]):.0f}"]
    if block:
        lines += ["", *_blocks(ok, block)]
    return "\n".join(lines)


def _blocks(ok: list[dict], K: int, draws: int = 4000) -> list[str]:
    """How often the suite's test (:func:`across_populations` on K populations) fails when its K populations are
    drawn from these: resampled with replacement (and the disjoint blocks of K consecutive seeds)."""
    rng = np.random.default_rng(0)
    res = [across_populations([ok[i] for i in rng.integers(0, len(ok), K)]) for _ in range(draws)]
    p = np.mean([not r["passes"] for r in res])
    parts = {"fails": np.mean([r["fails"] > r["fails_bound"] for r in res]),
             "mean z all": np.mean([abs(r["mean_z_all"]) > r["mean_z_bound"] for r in res])}
    parts.update({f"chi2 {v}": np.mean([r["chi2"][v][0] > r["chi2"][v][1] for r in res]) for v in SEGMENT_VARS})
    power = []
    for f in (1.25, 1.5):  # standard errors 20 % / 33 % too small: every z times f
        sc = [{**r, "segments": {k: {**v, "z": v["z"] * f} for k, v in r["segments"].items()},
               "all": {**r["all"], "z": r["all"]["z"] * f}} for r in ok]
        for r in sc:
            r["passes"] = all(abs(v["z"]) <= r["crit"] for v in r["segments"].values())
        pw = np.mean([not across_populations([sc[i] for i in rng.integers(0, len(sc), K)])["passes"]
                      for _ in range(draws // 4)])
        power.append(f"s.e. {1 - 1 / f:.0%} too small: {pw:.3f}")
    by_seed = sorted(ok, key=lambda r: r["seed"])
    disjoint = [across_populations(by_seed[i:i + K]) for i in range(0, len(by_seed) - K + 1, K)]
    first = across_populations([r for r in by_seed if r["seed"] <= K]) if by_seed[K - 1]["seed"] == K else None
    return [f"The across-population test on K = {K} populations drawn from these {len(ok)} (with replacement, "
            f"{draws} draws) fails in {p:.4f} (MC s.e. {np.sqrt(p * (1 - p) / draws):.4f}); by statistic: "
            + ", ".join(f"{k} {v:.4f}" for k, v in parts.items()),
            "it fails (power) with " + "; ".join(power),
            f"disjoint blocks of {K} consecutive seeds: {sum(not r['passes'] for r in disjoint)} of {len(disjoint)} fail",
            f"seeds 1-{K} (the suite's test): {first}"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["run", "summary"])
    ap.add_argument("--scenario", default="homogeneous")
    ap.add_argument("--persons", type=int, default=20_000)
    ap.add_argument("--seeds", default="1-100")
    ap.add_argument("--stop-at", default=None, help="run: start no new seed after this UTC time (YYYY-MM-DDTHH:MM)")
    ap.add_argument("--block", type=int, default=None,
                    help="summary: also the failure rate of the suite's across-population test on this many populations")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    if args.command == "run":
        cmd_run(args)
    else:
        print(summarise(_out_dir(args), args.block))


if __name__ == "__main__":
    sys.exit(main())
