"""Take the study's risk-set DiD apart against the generator's truth on one set of registers.

The DiD estimate is linear in the entrants' outcomes, so running it with the entrants' outcomes
from the entry month on replaced by their own 'not now' path (``employed_0``) gives exactly
estimate - truth ("oracle"). This script builds the study's panel (``risk_set_panel`` with the
study's arguments and population rules: age 18-64 in the entry year, at most 24 months of job
seeking, entry months with at least 10 entrants and comparison persons) on the generator's
person x month panel and prints: the oracle error with and without covariates and leaving out
each covariate, the covariate means, the latent-ability gap given the covariates, later service
starts of both groups, the entrants' realised third arrivals, and the oracle without persons aged
60+ (docs/validation.md, "The coaching study's risk-set DiD above the truth").

    .venv/bin/python benchmarks/did_truth_diagnosis.py REGISTERS --service-type coaching [--shift 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl


def panel(folder: Path, service_type: str, shift: int) -> pl.DataFrame:
    from impact.designs.did_panels import risk_set_panel
    from impact.study.analyses.did import RISK_SET_ELAPSED_BANDS, history_by_start

    read = lambda n: pl.read_parquet(folder / f"{n}.parquet")  # noqa: E731
    pm = read("truth/person_month").select("person_id", "month", "employed", "earnings")
    last_full = int(pm["month"].max()) - 1
    g1 = min(last_full - 24, 2024 * 12 + 5) - shift
    persons = read("persons")
    d = risk_set_panel(pm.filter(pl.col("month") <= last_full), read("service_spells"), read("jobseeking_spells"),
                       persons, service_type=service_type, cohorts=(g1 - 23, g1), pre=12, post=24,
                       controls_per_treated=3, seed=0, earnings_col="earnings", elapsed_bands=RISK_SET_ELAPSED_BANDS,
                       elapsed="episode")
    d = history_by_start(d).join(persons.select("person_id", "birth_year"), on="person_id", how="left")
    d = d.with_columns(age_g=pl.col("stack") // 12 - pl.col("birth_year"))
    d = d.filter(pl.col("age_g").is_between(18, 64) & (pl.col("elapsed_months") <= 24))
    n = d.unique("unit").group_by("stack").agg(t=(pl.col("cohort") > 0).sum(), c=(pl.col("cohort") == 0).sum())
    return d.filter(pl.col("stack").is_in(n.filter((pl.col("t") >= 10) & (pl.col("c") >= 10))["stack"].implode()))


def fit(d: pl.DataFrame, covs: list[str]) -> tuple:
    from impact.estimators import did

    res = did.att_gt(d, unit="unit", time="month", group="cohort", outcome="employed", comparison_set="stack",
                     cluster="person_id", covariates=covs, method="reg")
    agg = res.aggregate("dynamic", min_e=-12, max_e=24)
    return agg.estimates.set_index("event_time"), agg.overall


def oracle(d: pl.DataFrame, truth: Path) -> pl.DataFrame:
    """The panel with the entrants' outcomes from the entry month on replaced by their 'not now' path."""
    from impact.simulate.truth import true_event_paths

    p = true_event_paths(truth, d.filter(pl.col("cohort") > 0).select("service_id").unique(),
                         event_times=list(range(25)))
    y0 = p.select("service_id", pl.col("month").cast(pl.Int64), y0=pl.col("employed_0").cast(pl.Int8))
    return d.join(y0, on=["service_id", "month"], how="left").with_columns(
        employed=pl.when((pl.col("cohort") > 0) & (pl.col("month") >= pl.col("stack")))
        .then(pl.col("y0").fill_null(pl.col("employed"))).otherwise(pl.col("employed"))).drop("y0")


def main(argv=None) -> None:
    from impact.months import pl_month_index
    from impact.simulate.truth import true_event_att
    from impact.study.analyses.did import RISK_SET_COVARIATES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("registers")
    ap.add_argument("--service-type", default="coaching")
    ap.add_argument("--shift", type=int, default=0, help="entry months moved this many months earlier")
    a = ap.parse_args(argv)
    folder = Path(a.registers)
    d = panel(folder, a.service_type, a.shift)
    u = d.unique("unit")
    ent, com = u.filter(pl.col("cohort") > 0), u.filter(pl.col("cohort") == 0)
    print(f"{ent.height} entrants, {com.height} comparison units")
    spread = com.group_by("stack").agg([pl.col(c).cast(pl.Float64).std().fill_null(0.0) for c in RISK_SET_COVARIATES])
    covs = [c for c in RISK_SET_COVARIATES if spread[c].min() > 0]
    es, ov = fit(d, covs)
    tr = true_event_att(folder / "truth", ent.select("service_id"), event_times=list(range(25)))
    print(f"estimate {ov.estimate:.4f} (s.e. {ov.std_error:.4f}), truth {tr['att_employed'].mean():.4f}")
    od = oracle(d, folder / "truth")
    oes, oov = fit(od, covs)
    t = dict(zip(tr["event_time"], tr["att_employed"]))
    gap = max(abs(es.loc[e, "estimate"] - t[e] - oes.loc[e, "estimate"]) for e in range(1, 25))
    print(f"oracle error {oov.estimate:+.4f} (largest difference from estimate - truth over e: {gap:.1e})")
    print(f"oracle error without covariates {fit(od, [])[1].estimate:+.4f}")
    print("leaving out one covariate:", {c: round(fit(od, [x for x in covs if x != c])[1].estimate, 4) for c in covs})
    print("covariate means, entrants / comparisons:",
          {c: (round(ent[c].cast(pl.Float64).mean(), 3), round(com[c].cast(pl.Float64).mean(), 3)) for c in covs})
    lat = u.join(pl.read_parquet(folder / "truth/latent.parquet"), on="person_id")
    X = np.column_stack([np.ones(lat.height), (lat["cohort"] > 0).cast(pl.Float64).to_numpy(),
                         lat.select([pl.col(c).cast(pl.Float64) for c in covs]).to_numpy()])
    b, *_ = np.linalg.lstsq(X, lat["ability"].to_numpy(), rcond=None)
    r = lat["ability"].to_numpy() - X @ b
    se = np.sqrt(np.linalg.pinv(X.T @ X)[1, 1] * r.var())
    raw = lat.filter(pl.col("cohort") > 0)["ability"].mean() - lat.filter(pl.col("cohort") == 0)["ability"].mean()
    print(f"latent ability, entrants - comparisons: raw {raw:+.3f}, given the covariates {b[1]:+.3f} (s.e. {se:.3f})")
    sv = pl.read_parquet(folder / "service_spells.parquet").with_columns(sm=pl_month_index("start_date"),
                                                                         em=pl_month_index("end_date"))
    j = u.select("unit", "person_id", "stack", "cohort", own="service_id").join(
        sv.select("person_id", "service_id", "service_type", "sm", "em"), on="person_id")
    during = j.filter((pl.col("sm") <= pl.col("stack")) & (pl.col("em") >= pl.col("stack")) & (pl.col("cohort") == 0))
    print(f"comparison units in a service in the entry month: {during['unit'].n_unique()}")
    for k in (3, 12, 24):
        w = j.filter(pl.col("sm").is_between(pl.col("stack") + 1, pl.col("stack") + k))
        for lab, f in (("any service", pl.lit(True)), (a.service_type, pl.col("service_type") == a.service_type)):
            x = w.filter(f)
            sc = x.filter(pl.col("cohort") == 0)["unit"].n_unique() / com.height
            print(f"start {lab} within {k} months: comparisons {sc:.3f}, "
                  f"entrants {x.filter(pl.col('cohort') > 0)['unit'].n_unique() / ent.height:.3f}")
    e3 = ent.select("unit", "person_id", "stack", slot=pl.col("service_id") % 1000).join(
        sv.select("person_id", "sm", s2=pl.col("service_id") % 1000), on="person_id").filter(
        (pl.col("s2") // 4 == pl.col("slot") // 4) & (pl.col("s2") % 4 == 2) & (pl.col("s2") > pl.col("slot"))
        & (pl.col("sm") <= pl.col("stack") + 24))
    print("entrants whose episode's third arrival is realised within 24 months: "
          f"{e3['unit'].n_unique() / ent.height:.3f}")
    young = od.filter(pl.col("age_g") < 60)
    yes, yov = fit(young, covs)
    print(f"oracle error without persons aged 60+ at entry: {yov.estimate:+.4f} (months 21-24 "
          f"{yes.loc[21:24, 'estimate'].mean():+.4f}; all persons {oes.loc[21:24, 'estimate'].mean():+.4f})")


if __name__ == "__main__":
    main()
