"""Coverage of the honest event-study bounds under parallel-trends violations of known size.

Panel: 3000 units (1500 treated from period 7, 1500 never treated; event-study standard errors
about 0.04, so that violations of 0.05-0.2 per period bind), periods 1-10, so event times
-6..3 with reference -1 (``att_gt(..., base_period="universal")``). Outcome
``Y_it = a_i + g_t + D_i (delta_t + tau 1[t >= 7]) + e_it``, AR(1) noise (rho 0.5, sd 1),
``tau = 0.3``. The treated units' trend differs from the controls' by ``delta`` (zero in the
reference period), one of:

* ``none``: no violation;
* ``linear``: ``delta_t = 0.1 (t - 6)``: a linear pre-trend that continues (smoothness ``M = 0``,
  relative magnitude ``Mbar = 1``);
* ``rm2``: pre-period changes of at most 0.1 per period, post-period changes of 0.2 (``Mbar = 2``);
* ``curved``: slope 0.05 before treatment, second difference 0.05 after (``M = 0.05``).

For each draw: the event study, the original interval and the honest sets (relative magnitudes
C-LF at ``Mbar`` 0, 0.5, 1, 2, 3; smoothness FLCI at ``M`` 0, 0.025, 0.05, 0.1) for the average
effect over event times 0..3 (truth 0.3). Reported: coverage of the truth by each set with its
binomial Monte Carlo error, and the mean width; a set is expected to cover at >= 95 % whenever
its ``m`` is at least the violation's true size, and may undercover below it.

Run: ``nice -n 10 .venv/bin/python benchmarks/validate_honest.py --reps 250`` (about 2 CPU-s per
draw); writes ``benchmarks/results/validate_honest{_raw,}.csv`` and ``.md`` atomically.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impact.estimators import did  # noqa: E402

N_T, N_C, T, G, TAU = 1500, 1500, 10, 7, 0.3
RM_M = (0.0, 0.5, 1.0, 2.0, 3.0)
SD_M = (0.0, 0.025, 0.05, 0.1)
SCENARIOS = {  # name -> (delta_t for t = 1..10, true Mbar, true M)
    "none": (np.zeros(T), 0.0, 0.0),
    "linear": (0.1 * (np.arange(1, T + 1) - 6), 1.0, 0.0),
    "rm2": (np.array([0.0, 0.1, 0.02, 0.08, 0.0, 0.0, 0.2, 0.4, 0.6, 0.8]), 2.0, np.nan),
    "curved": (np.concatenate([0.05 * (np.arange(1, 7) - 6), 0.05 * (np.arange(7, 11) - 6)
                               + 0.025 * (np.arange(7, 11) - 6) * (np.arange(7, 11) - 5)]), np.nan, 0.05),
}


def draw(delta: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    n = N_T + N_C
    e = np.empty((n, T))
    e[:, 0] = rng.normal(size=n)
    for t in range(1, T):  # AR(1) noise, ten periods
        e[:, t] = 0.5 * e[:, t - 1] + np.sqrt(1 - 0.25) * rng.normal(size=n)
    a = rng.normal(size=n)
    g = np.linspace(0, 1, T)
    treated = np.arange(n) < N_T
    t = np.arange(1, T + 1)
    y = a[:, None] + g[None, :] + e + treated[:, None] * (delta[None, :] + TAU * (t >= G)[None, :])
    return pl.DataFrame({"unit": np.repeat(np.arange(n), T), "t": np.tile(t, n), "y": y.ravel(),
                         "g": np.repeat(np.where(treated, G, 0), T)})


def one(scen: str, rep: int, seed: int) -> list[dict]:
    delta = SCENARIOS[scen][0]
    d = draw(delta, np.random.default_rng([seed, rep, list(SCENARIOS).index(scen)]))
    res = did.att_gt(d, unit="unit", time="t", group="g", outcome="y", base_period="universal", method="reg")
    agg = res.aggregate("dynamic")
    rows = []
    rm = did.honest_bounds(agg, "relative_magnitude", m=RM_M, target="average", breakdown=False)
    sd = did.honest_bounds(agg, "smoothness", m=SD_M, target="average", breakdown=False)
    o = rm.original
    rows.append(dict(scenario=scen, rep=rep, set="original (parallel trends)", m=np.nan, lower=o["lower"],
                     upper=o["upper"], estimate=o["estimate"]))
    for b, name in ((rm, "relative magnitude, C-LF"), (sd, "smoothness, FLCI")):
        for r in b.table.itertuples():
            rows.append(dict(scenario=scen, rep=rep, set=name, m=r.m, lower=r.lower, upper=r.upper, estimate=o["estimate"]))
    return rows


def summarise(raw: pd.DataFrame) -> pd.DataFrame:
    g = raw.assign(cover=(raw["lower"] <= TAU) & (TAU <= raw["upper"]), width=raw["upper"] - raw["lower"])
    out = g.groupby(["scenario", "set", "m"], dropna=False, sort=False).agg(
        reps=("cover", "size"), coverage=("cover", "mean"), mean_width=("width", "mean")).reset_index()
    out["coverage_se"] = np.sqrt(np.maximum(out["coverage"] * (1 - out["coverage"]), 0.95 * 0.05) / out["reps"])
    true_m = {s: (v[1], v[2]) for s, v in SCENARIOS.items()}
    def valid(r):  # does the restriction hold at this m?
        mbar, msd = true_m[r["scenario"]]
        if r["set"].startswith("original"):
            return r["scenario"] == "none"
        if r["set"].startswith("relative"):
            return bool(np.isfinite(mbar) and r["m"] >= mbar)
        return bool(np.isfinite(msd) and r["m"] >= msd)
    out["restriction_holds"] = out.apply(valid, axis=1)
    return out


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, t0 = [], time.perf_counter()
    for scen in SCENARIOS:  # four scenarios
        for r in range(args.reps):  # Monte Carlo draws
            rows += one(scen, r, args.seed)
        print(f"{scen}: {args.reps} draws at {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    raw = pd.DataFrame(rows)
    _atomic(out / "validate_honest_raw.csv", raw.to_csv(index=False))
    tab = summarise(raw)
    _atomic(out / "validate_honest.csv", tab.to_csv(index=False))
    fmt = lambda v: f"{v:.3f}" if isinstance(v, (float, np.floating)) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(tab.columns) + " |", "|" + "---|" * len(tab.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in tab.itertuples(index=False)]
    _atomic(out / "validate_honest.md", f"Honest bounds coverage, {args.reps} draws per scenario, "
            f"{time.perf_counter() - t0:.0f}s.\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
