"""The panel and the placement outcomes against the synthetic generator's truth.

The generator's reports carry Incomes Register quirks (replacements, cancellations,
recoveries, arrears and semi-monthly payers, reimbursement-only reports, holiday pay) but no
noise in the pay itself, so after deduplication and pay-period allocation of the regular pay
(101/201) the panel must give back ``truth/person_month`` (docs/synthetic_registers.md §2):
employment by the last-week rule (every job ends on a month's last day, so a job month is a
month whose pay period reaches the last week) and the monthly pay up to the generator's
rounding of each report to cents. The last months are incomplete at extraction (arrears pay
of December is paid in January; recoveries come 61 days later), so they are left out.
"""

from __future__ import annotations

import ibis
import polars as pl
import pytest

from impact.outcomes import OutcomeConfig, compute_outcomes
from impact.outcomes.io import open_registers

TRUTH_CFG = OutcomeConfig(allocation="pay_period", income_types=(101, 201), employment_rule="last_week")


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from impact.simulate import simulate

    out = tmp_path_factory.mktemp("sim") / "reg"
    simulate(scenario="default", persons=1500, seed=11, out=out)
    con = ibis.duckdb.connect()
    res = compute_outcomes(con, open_registers(con, out), TRUTH_CFG)
    return out, res


def test_panel_employment_equals_truth(sim):
    out, res = sim
    truth = pl.read_parquet(out / "truth" / "person_month.parquet")
    last = res.last_month
    j = (truth.rename({"employed": "t_emp", "subsidised": "t_sub", "earnings": "t_earn"})
         .join(res.person_month, on=["person_id", "month"], how="full", coalesce=True)
         .filter(pl.col("month") < last)  # December's arrears pay is paid after the extraction
         .with_columns([pl.col(c).fill_null(False) for c in ("t_emp", "t_sub", "employed", "subsidised")]))
    assert j.height > 50_000
    assert j.filter(pl.col("t_emp") != pl.col("employed")).height == 0
    assert j.filter(pl.col("t_sub") != pl.col("subsidised")).height == 0
    assert j["t_emp"].sum() > 20_000 and j["t_sub"].sum() > 500


def test_panel_earnings_equal_truth_up_to_cents(sim):
    out, res = sim
    truth = pl.read_parquet(out / "truth" / "person_month.parquet")
    j = (truth.join(res.person_month, on=["person_id", "month"], how="full", coalesce=True)
         .filter(pl.col("month") <= res.last_month - 3)  # recoveries arrive 61 days after the pay
         .with_columns(pl.col("earnings").fill_null(0.0), pl.col("earnings_eur").fill_null(0.0)))
    diff = (j["earnings"] - j["earnings_eur"]).abs()
    # each report is rounded to cents (two a month for semi-monthly payers)
    assert diff.max() <= 0.0201
    assert j["earnings"].sum() == pytest.approx(j["earnings_eur"].sum(), rel=1e-6)


def test_service_placement_equals_truth(sim):
    out, res = sim
    te = pl.read_parquet(out / "truth" / "service_effects.parquet")
    so = res.service_outcomes
    checked = 0
    for h in TRUTH_CFG.horizons:
        t = te.filter((pl.col("h") == h) & (pl.col("month") < res.last_month)).select(
            "service_id", pl.col("employed_1").alias("truth"))
        j = t.join(so.select("service_id", f"placed_{h}m"), on="service_id", how="inner")
        assert j.height > 0.9 * t.height  # ongoing services have no outcomes
        assert j.filter(pl.col("truth") != pl.col(f"placed_{h}m")).height == 0, h
        checked += j.height
    assert checked > 2000


def test_compiled_sql_script_gives_the_same_outcomes(sim, tmp_path):
    """`--sql-only` output, run by plain DuckDB on views named as the registers, equals the pipeline."""
    import duckdb
    from polars.testing import assert_frame_equal

    from impact.outcomes.pipeline import sql_script

    out, res = sim
    path = sql_script(out, tmp_path, TRUTH_CFG, backend="duckdb")
    con = duckdb.connect()
    for t in ("persons", "jobseeking_spells", "service_spells", "earnings_reports"):
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{out / (t + '.parquet')}')")
    con.execute(path.read_text())
    got = pl.from_arrow(con.execute("SELECT * FROM impact_service_outcomes ORDER BY service_id").to_arrow_table())
    want = res.service_outcomes.sort("service_id")
    assert_frame_equal(got.select(want.columns), want, check_dtypes=False, rel_tol=1e-9)
