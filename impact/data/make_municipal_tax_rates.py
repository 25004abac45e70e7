"""Writes municipal_tax_rates_synthetic.csv (run once; the CSV is committed).

Synthetic municipal income tax rates 2015-2025 for every 3-digit code 001-999 (the generator
draws municipality codes from that range), shaped after the real table [recollection, to be
checked against the Tax Administration's published rates before real use]: mean about 19.8 %
in 2015 rising slowly to about 20 % by 2022, range about 16.5-23.5 %; from 2023 every rate is
12.64 percentage points lower, because health and social services moved from municipalities to
the wellbeing services counties. Replace with the real table via ``[metrics] tax_rates``.
"""

import numpy as np
import polars as pl

rng = np.random.default_rng(20150101)
codes = np.arange(1, 1000)
years = np.arange(2015, 2026)
level = np.clip(rng.normal(19.8, 1.0, len(codes)), 16.5, 22.75)
steps = np.where(rng.random((len(codes), len(years))) < 0.12, 0.25, 0.0)
steps[:, 0] = 0.0
path = np.clip(level[:, None] + np.cumsum(steps, axis=1), 16.5, 23.5)
path[:, years >= 2023] -= 12.64
df = pl.DataFrame({"municipality": np.repeat(np.char.zfill(codes.astype(str), 3), len(years)),
                   "year": np.tile(years, len(codes)), "rate_pct": np.round(path.ravel(), 2)})
if __name__ == "__main__":
    from pathlib import Path

    df.write_csv(Path(__file__).with_name("municipal_tax_rates_synthetic.csv"))
