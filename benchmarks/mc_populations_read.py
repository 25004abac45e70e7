"""Two readings of the stored populations of ``benchmarks/mc_populations.py`` (docs/validation.md).

1. The segment effects as the seed-11 test reads one population. For each stored population (``results/mc_populations/default_training_20000_outcomes/seed_*.json``):
the z of the four 12-month segment effects (estimate minus truth over the standard error), whether
the Bonferroni test of ``tests/test_heterogeneity.py::_covers`` (four 95 % intervals, critical value
2.50) fails, and the relation of the z to the population's latent-ability gap (treated minus matched
comparison rows). Prints the table of docs/validation.md ("The seed-11 segment test").

2. The study's risk-set DiD (episode design) against its truth with the population-ATT and the
   sample-ATT standard error, by month since entry: coverage, sd(z) and the ratio of the two
   standard errors ("Which standard error the truth check uses").

Usage: ``.venv/bin/python benchmarks/mc_populations_read.py [folder of seed_*.json]``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import norm

DIR = Path(__file__).parent / "results" / "mc_populations" / "default_training_20000_outcomes"
SEGMENTS = {"sex=M": "men", "sex=F": "women", "long_term=no": "not long-term", "long_term=yes": "long-term"}


def segments(runs: list[dict]) -> None:
    crit = norm.ppf(1 - 0.05 / (2 * len(SEGMENTS)))
    z = np.array([[(r[f"segments/employed_h12/{s}"]["estimate"] - r[f"segments/employed_h12/{s}"]["truth"])
                   / r[f"segments/employed_h12/{s}"]["se"] for s in SEGMENTS] for r in runs])
    gap = np.array([r["diag/ability_gap"] for r in runs])
    seeds = [r["seed"] for r in runs]
    fail = np.abs(z).max(axis=1) > crit
    R = len(runs)
    print(f"{R} populations; Bonferroni critical value {crit:.2f}; the test fails in {int(fail.sum())} "
          f"({fail.mean():.0%}): seeds {[s for s, f in zip(seeds, fail) if f]}; most negative z "
          f"{z.min():.2f} (seed {seeds[int(np.argmin(z.min(axis=1)))]})")
    print(f"ability gap: mean {gap.mean():+.4f} sd (MC s.e. {gap.std(ddof=1) / np.sqrt(R):.4f})")
    print("| segment | mean z (MC s.e.) | sd(z) | corr(z, ability gap) | slope (z per sd of gap) | sd(z) net of the gap |")
    print("|---|---|---|---|---|---|")
    for j, name in enumerate(SEGMENTS.values()):
        b = np.polyfit(gap, z[:, j], 1)
        res = z[:, j] - np.polyval(b, gap)
        print(f"| {name} | {z[:, j].mean():+.2f} ({z[:, j].std(ddof=1) / np.sqrt(R):.2f}) | {z[:, j].std(ddof=1):.2f} | "
              f"{np.corrcoef(gap, z[:, j])[0, 1]:.2f} | {b[0]:.1f} | {res.std(ddof=2):.2f} |")


def did_standard_errors(runs: list[dict], months=(1, 2, 3, 4, 6, 8, 12, 16, 18, 24)) -> None:
    """Coverage and sd(z) of the risk-set DiD against its (sample) truth with each standard error the
    records have: population-ATT, sample-ATT and (runs of this version) the oracle, the same estimator's
    standard error on the panel whose entrants carry the generator's counterfactual outcomes."""
    runs = [r for r in runs if "did_episode/e01" in r]
    kinds = [("population", ""), ("sample-ATT", "_sample_se"), ("oracle", "_oracle_se")]
    kinds = [(n, t) for n, t in kinds if all(f"did_episode{t}/e01" in r for r in runs)]
    R = len(runs)
    print(f"\n{R} populations, risk-set DiD (episode design), 95 % intervals against the truth; "
          "coverage (MC s.e.) and sd(z) by standard error")
    print("| e | " + " | ".join(f"coverage, {n} s.e. | sd(z) {n}" for n, _ in kinds) + " | bias (MC s.e.) |")
    print("|---" * (2 * len(kinds) + 2) + "|")
    for e in (*months, None):
        key = f"e{e:02d}" if e is not None else "mean_e0_24"
        cells = []
        for _, tag in kinds:
            x = [r[f"did_episode{tag}/{key}"] for r in runs]
            err = np.array([v["estimate"] - v["truth"] for v in x])
            z = err / np.array([v["se"] for v in x])
            cov = np.mean(np.abs(z) <= norm.ppf(0.975))
            cells += [f"{cov:.3f} ({np.sqrt(cov * (1 - cov) / R):.3f})", f"{z.std(ddof=1):.2f}"]
        print(f"| {'mean 0-24' if e is None else e} | " + " | ".join(cells) +
              f" | {err.mean():+.5f} ({err.std(ddof=1) / np.sqrt(R):.5f}) |")


def main(argv: list[str] | None = None) -> None:
    folder = Path(argv[0]) if argv else DIR
    runs = [r for r in (json.loads(p.read_text()) for p in sorted(folder.glob("seed_*.json"))) if "error" not in r]
    if all("diag/ability_gap" in r for r in runs):
        segments(runs)
    did_standard_errors(runs)


if __name__ == "__main__":
    main(sys.argv[1:])
