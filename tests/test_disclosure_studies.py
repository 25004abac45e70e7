"""Acceptance of disclosure control on the committed studies (issue #17): every published cell of
each study, rebuilt from the registers, rests on at least min_cell distinct persons (and an
earnings cell on at least 5 payers, none above 75 %), the population flow included.

Each committed study runs as committed except for its data (a small synthetic extract of the
``area_reform`` scenario) and writes nothing. The checks:

* the follow-up tables are rebuilt from the registers and the outcome stage with the study's
  population rules written out here: each published count rests on >= min_cell persons, each
  published share on >= min_cell persons in its part and in its complement, each published mean
  of earnings on >= 5 payers with no payer above 75 % of the cell's wages;
* the population flow is rebuilt step by step: a published removal takes away >= min_cell
  persons (or none), and no removal of fewer persons follows from the published counts;
* every other published cell (estimates, balance, metrics, ...) lists the persons behind it
  (``published_cells``), each cell and each of its parts with >= min_cell distinct persons.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from impact.months import pl_month_index
from impact.report.disclosure import SUPPRESSED, TOTAL
from impact.study.config import load_config

STUDIES = Path(__file__).resolve().parents[1] / "studies"
PERSONS, SEED = 12_000, 8
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registers(tmp_path_factory) -> Path:
    from impact.simulate import simulate

    out = tmp_path_factory.mktemp("disc") / "reg"
    simulate(scenario="area_reform", persons=PERSONS, seed=SEED, out=out)
    return out


def _run(name: str, registers: Path, tmp: Path):
    from impact.study.runner import run_pipeline

    text = (STUDIES / f"{name}.toml").read_text()
    text = re.sub(r"synthetic = \{[^}]*\}", f'registers = "{registers}"', text)
    p = tmp / f"{name}.toml"
    p.write_text(text)
    cfg = load_config(p)
    return cfg, run_pipeline(cfg, cache_dir=tmp / ".cache")


def _published(d, col: str) -> np.ndarray:
    return (d.marks[col] == "").to_numpy() & d.frame[col].notna().to_numpy()


def _population_units(cfg, registers: Path, out) -> pl.DataFrame:
    """The study's units rebuilt from the registers: the population rules written out."""
    persons = pl.read_parquet(registers / "persons.parquet")
    so = out.outcomes_units
    u = so.join(persons, on="person_id", how="left")
    p, unit = cfg.population, cfg.unit
    if unit.service_types:
        u = u.filter(pl.col("service_type").is_in(list(unit.service_types)))
    if p.start_from:
        u = u.filter(pl.col("start_date") >= p.start_from)
    if p.start_to:
        u = u.filter(pl.col("start_date") <= p.start_to)
    age = pl.col("start_date").dt.year() - pl.col("birth_year")
    if p.age_min is not None:
        u = u.filter(age >= p.age_min)
    if p.age_max is not None:
        u = u.filter(age <= p.age_max)
    assert not (p.areas or p.segments or p.languages or p.sexes), "rules this test does not rebuild"
    services = pl.read_parquet(registers / "service_spells.parquet").select("service_id", "subtype", "employer_sector")
    return u.join(services, on="service_id", how="left")


def _check_followup(cfg, registers: Path, res, units: pl.DataFrame) -> int:
    m = cfg.disclosure.min_cell
    reports = pl.read_parquet(registers / "earnings_reports.parquet").filter(
        (pl.col("action") != "cancel") & (pl.col("amount_eur") > 0)).select(
        "person_id", "payer_id", "amount_eur", pay_month=pl_month_index("payment_date"))
    checked = 0
    for by in cfg.outcomes.groupings(cfg.unit.kind):  # the default grouping when outcomes.by is not set
        d = res.tables[f"followup_by_{by}"]
        u = units.with_columns(pl.col(by).cast(pl.String).fill_null("(unknown)").alias("_g"))
        for i, g in enumerate(d.frame[by].astype(str)):
            cell = u if g == TOTAL else u.filter(pl.col("_g") == g)
            if _published(d, "n_units")[i]:
                assert cell["person_id"].n_unique() >= m, (by, g, "cell")
                checked += 1
            for h in cfg.outcomes.horizons:
                c = f"placed_{h}m"
                if c in d.marks and _published(d, c)[i]:
                    yes = cell.filter(pl.col(c) == True)["person_id"].n_unique()  # noqa: E712
                    no = cell.filter(pl.col(c) == False)["person_id"].n_unique()  # noqa: E712
                    assert yes >= m and no >= m, (by, g, c, yes, no)
                    checked += 1
            for c in [c for c in d.marks.columns if c.startswith("mean_earnings_")]:
                if not _published(d, c)[i]:
                    continue
                a, b = (int(x) for x in c.removeprefix("mean_earnings_").removesuffix("m").split("_"))
                obs = cell.filter(pl.col(f"earnings_{a}_{b}m").is_not_null()).select("person_id", "end_month")
                w = obs.join(reports, on="person_id").filter(
                    pl.col("pay_month").is_between(pl.col("end_month") + a, pl.col("end_month") + b))
                per = w.group_by("payer_id").agg(pl.col("amount_eur").sum())
                assert per.height >= cfg.disclosure.min_payers, (by, g, c, per.height)
                assert per["amount_eur"].max() <= cfg.disclosure.dominance * per["amount_eur"].sum(), (by, g, c)
                checked += 1
    return checked


def _determined(a: np.ndarray, j: int) -> bool:
    _, s, vt = np.linalg.svd(a)
    null = vt[int((s > 1e-9).sum()):]
    return bool(null.shape[0] == 0 or np.allclose(null[:, j], 0))


def _check_flow(cfg, flow, units_by_step: list[pl.DataFrame]) -> None:
    """Published removals take away >= min_cell persons (rebuilt), and smaller ones cannot be derived."""
    m = cfg.disclosure.min_cell
    f = flow.frame.reset_index(drop=True)
    k = len(f)
    for i in range(1, len(units_by_step)):
        prev, now = units_by_step[i - 1], units_by_step[i]
        affected = prev.join(now.select("service_id"), on="service_id", how="anti")["person_id"].n_unique()
        step = k - len(units_by_step) + i
        if not np.isnan(f["removed_persons"].iloc[step]):
            assert affected == 0 or affected >= m, (f["key"].iloc[step], affected)
    left, rem = f["persons"].to_numpy(float), f["removed_persons"].to_numpy(float)
    unknown = [("l", i) for i in range(k) if np.isnan(left[i])] + [("r", i) for i in range(1, k) if np.isnan(rem[i])]
    if not unknown:
        return
    pos = {u: j for j, u in enumerate(unknown)}
    rows = []
    for i in range(1, k):  # left_{i-1} - left_i - removed_i = 0, published values as constants
        r = np.zeros(len(unknown))
        for (kind, idx), sign in ((("l", i - 1), 1.0), (("l", i), -1.0), (("r", i), -1.0)):
            if (kind, idx) in pos:
                r[pos[(kind, idx)]] = sign
        if r.any():
            rows.append(r)
    a = np.array(rows) if rows else np.zeros((0, len(unknown)))
    for (kind, idx), j in pos.items():
        if kind == "r":
            assert not (len(a) and _determined(a, j)), f"removal of step {idx} follows from the published counts"


def _check_cells(cfg, out) -> int:
    """Every published cell and part lists at least min_cell distinct persons."""
    cells = out.published_cells
    n = cells.group_by("table", "cell").agg(pl.col("person_id").n_unique().alias("n"))
    small = n.filter(pl.col("n") < cfg.disclosure.min_cell)
    assert small.height == 0, small.head(10)
    # every published estimate rests on listed treated and comparison persons
    for r in out.results:
        e = r.estimates
        if e is None or r.name in ("followup", "synth") or not len(e.frame):
            continue
        shown = e.frame.index[(e.marks["estimate"] == "") & e.frame["estimate"].notna()]
        parts = set(cells.filter(pl.col("table") == e.name)["cell"].cast(pl.String).str.extract(r"part=(\w+)$").drop_nulls().to_list())
        assert len(shown) == 0 or {"treated", "controls"} <= parts, (r.name, parts)
    # the data of every figure drawn from persons (not from areas or covariate balance) lists the persons
    # behind each point it shows, so that the differencing ledger sees the figures too
    tables = set(cells["table"].unique().to_list())
    for r in out.results:
        for f in r.figures:
            d = r.tables.get(f.table) or (r.estimates if r.estimates is not None and r.estimates.name == f.table
                                          else None)
            if d is None or r.name == "synth" or f.table.endswith("_balance"):
                continue
            shown = (d.marks == "").all(axis=1) & d.frame.notna().any(axis=1)
            assert not shown.any() or f.table in tables, (r.name, f.name)
    return n.height


@pytest.mark.parametrize("name", ["placement_followup", "training_effect", "pay_subsidy_effect",
                                  "brokerage_and_benefits", "area_pilot", "service_targeting"])
def test_every_published_cell_rests_on_enough_persons(name, registers, tmp_path):
    cfg, out = _run(name, registers, tmp_path)
    assert _check_cells(cfg, out) > 10
    res = {r.name: r for r in out.results}["followup"]
    if cfg.unit.kind == "service_spell":
        from impact.outcomes import compute_outcomes, connect
        from impact.outcomes.io import open_registers

        con = connect()
        o = compute_outcomes(con, open_registers(con, registers), out.info.outcome_config, collect_person_month=False)
        out.outcomes_units = o.service_outcomes
        units = _population_units(cfg, registers, out)
        assert _check_followup(cfg, registers, res, units) > 10
        # the flow, step by step from the outcome stage's units
        steps = [o.service_outcomes.join(pl.read_parquet(registers / "persons.parquet"), on="person_id")]
        s = steps[0]
        p = cfg.population
        age = pl.col("start_date").dt.year() - pl.col("birth_year")
        rules = ([pl.col("service_type").is_in(list(cfg.unit.service_types))] if cfg.unit.service_types else []) + \
            ([pl.col("start_date") >= p.start_from] if p.start_from else []) + \
            ([pl.col("start_date") <= p.start_to] if p.start_to else []) + \
            ([age.is_between(p.age_min or 0, p.age_max or 200)] if p.age_min or p.age_max else [])
        for rule in rules:
            s = s.filter(rule)
            steps.append(s)
        assert s.height == units.height
        _check_flow(cfg, out.population, steps)
    assert (out.population.marks == SUPPRESSED).to_numpy().sum() >= 0
