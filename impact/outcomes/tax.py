"""Municipal income tax revenue from the employment effect of services.

Two steps:

1. :func:`tax_base` (outcome stage, on the completed service units): per service type and
   employment area, the number of participants, the mean municipal income tax rate of their
   home municipalities in each of the 1-3 calendar years after the year the service ended,
   and the cost per participant.
2. :func:`tax_revenue` (needs earnings effects): the extra municipal tax per participant in
   follow-up year k is ``rate_k / 100 * taxable_share * E_k``, where ``E_k`` is the estimated
   effect on earnings summed over the months of year k (monthly effects linearly interpolated
   between the estimated horizons, constant beyond them). Uncertainty is carried through
   linearly: the monthly standard errors are summed (treated as perfectly correlated, a
   conservative choice), scaled like the estimate; the tax rates and the cost are taken as
   known. Cumulative revenue over years 1..K is set against the cost per participant.

Follow-up years are calendar years after the end year (a service ending in 2021 has
follow-up years 2022-2024); a year beyond the rate table uses its latest year (noted).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from impact.errors import ConfigError, DesignError

RATE_SCHEMA = {"municipality": pl.String, "year": pl.Int32, "rate_pct": pl.Float64}


def load_tax_rates(path: str | Path | None = None) -> pl.DataFrame:
    """Municipal income tax rates: ``municipality`` (3-digit code), ``year``, ``rate_pct``.

    ``None`` reads the synthetic table shipped with the package
    (``impact/data/municipal_tax_rates_synthetic.csv``).

    Raises
    ------
    ConfigError
        The file is missing, lacks a column, or has a rate outside 0-60 % or a duplicate
        (municipality, year).
    """
    p = Path(path) if path is not None else default_tax_rates_path()
    if not p.is_file():
        raise ConfigError(f"municipal tax rates: file {p} not found (expected a CSV with municipality, year, rate_pct)")
    try:
        df = pl.read_csv(p, schema_overrides={"municipality": pl.String})
    except pl.exceptions.PolarsError as e:
        raise ConfigError(f"municipal tax rates {p}: cannot read the CSV: {str(e).splitlines()[0]}") from None
    missing = [c for c in RATE_SCHEMA if c not in df.columns]
    if missing:
        raise ConfigError(f"municipal tax rates {p}: column(s) {missing} missing; expected {list(RATE_SCHEMA)}")
    try:
        df = df.select([pl.col(c).cast(t, strict=True) for c, t in RATE_SCHEMA.items()])
    except pl.exceptions.PolarsError:
        raise ConfigError(f"municipal tax rates {p}: year must be integers and rate_pct numbers") from None
    df = df.with_columns(pl.col("municipality").str.zfill(3))
    bad = df.filter(pl.col("rate_pct").is_null() | (pl.col("rate_pct") < 0) | (pl.col("rate_pct") > 60))
    if bad.height:
        raise ConfigError(f"municipal tax rates {p}: {bad.height} rate(s) missing or outside 0-60 %, e.g. "
                          f"{bad.head(3).to_dicts()}")
    dup = df.filter(pl.struct("municipality", "year").is_duplicated())
    if dup.height:
        raise ConfigError(f"municipal tax rates {p}: duplicate (municipality, year), e.g. {dup.head(2).to_dicts()}")
    return df


def tax_base(service_outcomes: pl.DataFrame, persons: pl.DataFrame, rates: pl.DataFrame,
             years: int = 3) -> tuple[pl.DataFrame, str]:
    """Participants, mean tax rate per follow-up year and cost per participant, by service type
    and employment area (with a ``Total`` area per service type and a ``Total`` service type).

    Returns the table (``service_type``, ``employment_area``, ``n``, ``n_rate`` (units whose
    municipality has a rate), ``rate_y1`` .. ``rate_y{years}`` (percent), ``cost_per_participant``)
    and a note (empty when every rate was found for its own year).
    """
    u = (service_outcomes.filter(pl.col("end_month").is_not_null())
         .select("service_type", "person_id", "cost_eur", (pl.col("end_month") // 12).cast(pl.Int32).alias("end_year"))
         .join(persons.select("person_id", "municipality", "employment_area"), on="person_id", how="left"))
    last_year = int(rates["year"].max())
    first_year = int(rates["year"].min())
    notes = []
    for k in range(1, years + 1):  # 1-3 follow-up years
        y = (pl.col("end_year") + k).clip(first_year, last_year).alias("year")
        r = rates.rename({"rate_pct": f"rate_y{k}"})
        u = u.with_columns(y).join(r, on=["municipality", "year"], how="left").drop("year")
        # (counts of units are left out of the notes: a note is published text, not a checked cell)
        if u.filter((pl.col("end_year") + k > last_year) | (pl.col("end_year") + k < first_year)).height:
            notes.append(f"year {k}: units whose follow-up year lies outside the rate table ({first_year}-{last_year}) "
                         "use the rate of the nearest year")
    if u.filter(pl.col("rate_y1").is_null()).height:
        notes.append("units whose municipality has no tax rate are left out of the mean rate")
    u = pl.concat([u, u.with_columns(pl.lit("Total").alias("employment_area"))])
    u = pl.concat([u, u.with_columns(pl.lit("Total").alias("service_type"))])
    rate_cols = [f"rate_y{k}" for k in range(1, years + 1)]
    t = (u.group_by("service_type", "employment_area")
         .agg(pl.len().alias("n"), pl.col("rate_y1").is_not_null().sum().alias("n_rate"),
              *[pl.col(c).mean() for c in rate_cols], pl.col("cost_eur").mean().alias("cost_per_participant"))
         .sort("service_type", "employment_area"))
    note = ("municipal tax base: " + "; ".join(notes)) if notes else ""
    return t, note


def _monthly(horizons: np.ndarray, values: np.ndarray, months: np.ndarray) -> np.ndarray:
    order = np.argsort(horizons)
    return np.interp(months, horizons[order], values[order])


def tax_revenue(base: pl.DataFrame, effects: pl.DataFrame, years: int = 3, taxable_share: float = 1.0,
                level: float = 0.95) -> pl.DataFrame:
    """Extra municipal tax revenue per participant and in total, against the service's cost.

    Parameters
    ----------
    base : :func:`tax_base`.
    effects : ``service_type``, ``horizon`` (months after the end), ``estimate`` (effect on
        monthly earnings, EUR), ``std_error``; optionally ``employment_area`` (else one effect
        for every area of the service type).
    taxable_share : share of the extra earnings that is taxable municipal income (1: nominal
        rate on gross earnings; deductions make the real share lower).

    Returns
    -------
    One row per service type, area and follow-up year ``year`` (1..years): ``earnings_effect``
    (EUR in that year per participant) and its ``earnings_se``, ``rate``, ``revenue`` per
    participant with ``revenue_se``, ``revenue_lo``/``revenue_hi``; ``cum_revenue`` (years 1..k)
    with its interval, ``cost_per_participant``, ``net_per_participant`` = cum_revenue - cost,
    ``revenue_to_cost`` with its interval, and ``total_revenue`` = n * cum_revenue.
    """
    from statistics import NormalDist

    need = {"service_type", "horizon", "estimate", "std_error"}
    if not need <= set(effects.columns):
        raise DesignError(f"tax revenue: effects need columns {sorted(need)}; have {effects.columns}")
    if effects.select(pl.col("estimate").is_nan().any() | pl.col("std_error").is_nan().any()).item():
        raise DesignError("tax revenue: an earnings effect or its standard error is NaN")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    by_area = "employment_area" in effects.columns
    months = np.arange(1, 12 * years + 1)
    rows = []
    keys = effects.select(["service_type", *(["employment_area"] if by_area else [])]).unique().rows()
    for key in sorted(keys):  # one per service type (and area): a handful
        e = effects.filter(pl.col("service_type") == key[0])
        if by_area:
            e = e.filter(pl.col("employment_area") == key[1])
        h = e["horizon"].to_numpy().astype(float)
        est = _monthly(h, e["estimate"].to_numpy().astype(float), months)
        se = _monthly(h, e["std_error"].to_numpy().astype(float), months)
        b = base.filter(pl.col("service_type") == key[0])
        if by_area:
            b = b.filter(pl.col("employment_area") == key[1])
        for r in b.iter_rows(named=True):  # areas of the service type (a few dozen)
            cum, cum_se = 0.0, 0.0
            for k in range(1, years + 1):
                sl = slice(12 * (k - 1), 12 * k)
                ek, sk = float(est[sl].sum()), float(se[sl].sum())
                rate = r.get(f"rate_y{k}")
                rate = float("nan") if rate is None else float(rate)
                rev, rse = rate / 100 * taxable_share * ek, rate / 100 * taxable_share * sk
                cum, cum_se = cum + rev, cum_se + rse
                cost = r["cost_per_participant"]
                rows.append({"service_type": r["service_type"], "employment_area": r["employment_area"],
                             "n": r["n"], "year": k, "earnings_effect": ek, "earnings_se": sk, "rate": rate,
                             "revenue": rev, "revenue_se": rse, "revenue_lo": rev - z * rse, "revenue_hi": rev + z * rse,
                             "cum_revenue": cum, "cum_revenue_se": cum_se, "cum_revenue_lo": cum - z * cum_se,
                             "cum_revenue_hi": cum + z * cum_se, "cost_per_participant": cost,
                             "net_per_participant": cum - cost,
                             "revenue_to_cost": cum / cost if cost else None,
                             "revenue_to_cost_lo": (cum - z * cum_se) / cost if cost else None,
                             "revenue_to_cost_hi": (cum + z * cum_se) / cost if cost else None,
                             "total_revenue": r["n"] * cum})
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


def truth_earnings_effects(truth_dir: str | Path, horizons: tuple[int, ...] = tuple(range(1, 25))) -> pl.DataFrame:
    """True effects on monthly earnings by service type and horizon (synthetic registers only).

    The mean over the realised services of ``earnings_1 - earnings_0`` (with the service vs
    'not now') among observed months, with the standard error of that mean as ``std_error``
    (the sampling uncertainty of the participants' average).
    """
    p = Path(truth_dir) / "service_effects.parquet"
    if not p.is_file():
        raise DesignError(f"tax revenue: effects = 'truth' needs {p} (synthetic registers with a truth folder)")
    d = (pl.scan_parquet(p).filter(pl.col("observed") & pl.col("h").is_in(list(horizons)))
         .with_columns((pl.col("earnings_1") - pl.col("earnings_0")).alias("d"))
         .group_by("service_type", pl.col("h").cast(pl.Int32).alias("horizon"))
         .agg(pl.col("d").mean().alias("estimate"), (pl.col("d").std() / pl.len().sqrt()).alias("std_error"),
              pl.len().alias("n"))
         .sort("service_type", "horizon").collect())
    return d.with_columns(pl.col("std_error").fill_null(0.0))


def default_tax_rates_path() -> Path:
    """The synthetic municipal tax-rate table shipped with the package."""
    return Path(__file__).resolve().parents[1] / "data" / "municipal_tax_rates_synthetic.csv"
