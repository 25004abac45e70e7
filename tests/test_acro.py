"""A second, independent output checker: SACRO's `acro` re-checks the tables the committed studies publish.

Each committed study runs on small generated registers; its follow-up tables
(``tables/followup_by_<dim>.csv``) are rebuilt by acro from the unit-level microdata they
were computed from (the study's population units), with acro's rules set to the data
permit's: threshold 10, dominance (n=1, k=75 %), and acro's p-ratio (10 %; the permit has no
p-percent rule, so this is stricter than the permit). Any cell acro would suppress that our
table published (a non-empty value) is a failure. acro runs in its own virtual environment
(``.venv-acro``, pinned in ``tests/acro/requirements-acro.txt``, created here on first use)
because it needs pandas < 3.

What acro checks per follow-up table (``docs/disclosure.md``): the unit count per cell
(``n``), each placement share's numerator and complement (``placed_<h>m``, ``placed_n_<h>m``:
a frequency table of placed / not placed, zeros disclosive) and the means of earnings and
cost per participant (threshold, nk dominance, p-ratio on the units' values). The other
tables (Kaplan-Meier, placement curves, effect estimates) have no unit-level check here;
they are listed in ``NOT_CHECKED`` with the reason, and a new kind of table fails the test
until it is either checked or listed.
"""

from __future__ import annotations

import fcntl
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from impact.study import runner

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-acro"
RULES = {"threshold": 10, "nk_n": 1, "nk_k": 0.75, "p_ratio": 0.10}
#: Tables acro does not re-check here, and why.
_METRIC = "metric table of impact.outcomes.metrics: its microdata (the metric units) are not handed to the check yet"
_EFFECT = "effect-estimation output (balance, overlap, weights, paths): a model output, not a frequency/mean table"
NOT_CHECKED = {
    "km_time_to_employment": "Kaplan-Meier curve: needs acro.surv_func on the durations (not wired yet)",
    "placement_curves": "month-by-month shares: needs the person x month panel per unit",
    **{t: _METRIC for t in (
        "benefit_transitions", "industry_by_service", "integration_km", "integration_median_by_area", "koto_by_area",
        "offers_by_employer_industry", "offers_by_employment_area", "offers_by_result_code",
        "offers_employment_by_result", "searches_by_employment_area", "searches_by_search_result",
        "searches_filled_by_area", "tax_revenue_by_area", "tax_revenue_by_service", "tax_revenue_by_year",
        "vacancies_by_employment_area", "vacancies_by_year_closed")},
    **{t: _EFFECT for t in (
        "matching_balance", "matching_overlap", "sector_comparison_balance", "sector_comparison_overlap",
        "sector_treatment_balance", "sector_treatment_overlap", "peer_comparison", "peer_group", "robustness",
        "synth_leave_one_out", "synth_paths", "synth_placebo_ratios", "synth_placebo_gaps", "synth_weights",
        "did_event_study", "matching_estimates", "heterogeneity", "refutation", "area_estimators", "sdid_trends",
        "sdid_unit_weights", "did_honest")},
}
#: Table names by their ending or beginning (one per analysis) that acro does not re-check here, and why.
NOT_CHECKED_KINDS = {
    "flow_": "flow of exclusions (units and persons left and removed per step): the disclosure module's flow rule, "
             "rebuilt step by step in tests/test_disclosure_studies.py",
    "targeting_": "learned allocation rule (tree, leaves, allocation, fairness, costs, clipping): model output over the "
                  "design rows; every published cell's distinct persons are checked in tests/test_disclosure_studies.py",
    "_robustness": _EFFECT, "_sensitivity": _EFFECT, "_cost": "cost per effect: an effect estimate times costs",
}


def _not_checked(name: str) -> bool:
    return name in NOT_CHECKED or any(name.startswith(k) if k.endswith("_") else name.endswith(k)
                                      for k in NOT_CHECKED_KINDS)
#: Per published column: the acro check that covers it.
BINARY = re.compile(r"^(?:n_)?placed_(\d+)m(?:_lo|_hi)?$")  # the share placed, its interval and the count placed
COUNTS = ("n_units", "n_persons")
MEANS = {"mean_earnings_1_12m": "earnings_1_12m", "cost_per_participant": "cost_eur"}


def _acro_python() -> Path:
    """The acro interpreter, installing the pinned environment once (under a lock for parallel workers)."""
    py = VENV / "bin" / "python"
    with open(ROOT / ".venv-acro.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ok = py.exists() and subprocess.run([py, "-c", "import acro"], capture_output=True).returncode == 0
        if not ok:
            uv = [sys.executable, "-m", "uv"]
            if subprocess.run(uv + ["--version"], capture_output=True).returncode:
                uv = ["python3", "-m", "uv"]
            subprocess.run(uv + ["venv", "-q", "--python", "python3", str(VENV)], check=True)
            subprocess.run(uv + ["pip", "sync", "-q", "--python", str(py), str(ROOT / "tests/acro/requirements-acro.txt")],
                           check=True)
    return py


#: Register sizes: the risk-set design of training_effect needs 10 entrants per month.
SIZES = {"training_effect.toml": 10_000}


@pytest.fixture(scope="module")
def registers(tmp_path_factory):
    from impact.simulate import simulate

    made: dict[int, Path] = {}

    def get(persons: int) -> Path:
        if persons not in made:
            made[persons] = tmp_path_factory.mktemp("acro") / f"reg{persons}"
            simulate(persons=persons, seed=17, out=made[persons])
        return made[persons]

    return get


def _run(study: Path, registers: Path, tmp: Path, monkeypatch) -> tuple[Path, pl.DataFrame]:
    """Run a committed study (HTML only) and keep the population units its tables come from."""
    text = re.sub(r"formats\s*=\s*\[[^\]]*\]", 'formats = ["html"]', study.read_text())
    cfg = tmp / study.name
    cfg.write_text(text)
    seen = {}
    prepare = runner.prepare

    def keep(*args, **kw):
        ctx, info = prepare(*args, **kw)
        seen["units"] = ctx.population.units
        return ctx, info

    monkeypatch.setattr(runner, "prepare", keep)
    out = runner.run_study(cfg, reports_dir=tmp / "reports", data_dir=registers, quiet=True)
    return out, seen["units"]


def _checks(table: str, dim: str, columns: list[str], units: list[str]) -> list[dict]:
    """acro checks of a follow-up table (a published statistic whose unit column is absent has
    nothing behind it to check: e.g. the cost of job-seeking spells)."""
    checks = [{"table": table, "dim": dim, "kind": "count", "value": None}]
    horizons = sorted({int(m.group(1)) for c in columns if (m := BINARY.match(c))})
    checks += [{"table": table, "dim": dim, "kind": "binary", "value": f"placed_{h}m"} for h in horizons]
    checks += [{"table": table, "dim": dim, "kind": "mean", "value": v} for c, v in MEANS.items()
               if c in columns and v in units]
    return checks


def _published(df: pd.DataFrame, dim: str, check: dict) -> set[str]:
    """Cells of our table that publish a value the check covers."""
    if check["kind"] == "count":
        cols = [c for c in COUNTS if c in df.columns]
    elif check["kind"] == "binary":
        h = check["value"].removeprefix("placed_").removesuffix("m")
        cols = [c for c in df.columns if BINARY.match(c) and BINARY.match(c).group(1) == h]
    else:
        cols = [c for c, v in MEANS.items() if v == check["value"]]
    rows = df[df[dim].astype(str) != "Total"]
    shown = rows[cols].notna().any(axis=1)
    return set(rows.loc[shown, dim].astype(str))


STUDIES = sorted(p.name for p in (ROOT / "studies").glob("*.toml"))
#: Studies whose tables publish sub-counts acro flags, with the reason (a strict expected failure). Measured
#: 2026-12-06 on main 1208e59 + safety (3,000 persons, seed 17): placement_followup 122 cells, brokerage_and_benefits
#: 24, area_pilot 31, pay_subsidy_effect 6 -- before issue 17 item 1 (the study's disclosure module counts every
#: share's part and complement in persons); since then none.
KNOWN_SUBCOUNT_LEAKS: dict[str, str] = {}


@pytest.mark.parametrize("study", STUDIES)
def test_acro_finds_nothing_disclosive_in_what_we_publish(study, registers, tmp_path, monkeypatch):
    py = _acro_python()
    out, units = _run(ROOT / "studies" / study, registers(SIZES.get(study, 3000)), tmp_path, monkeypatch)
    tables = {p.stem: pd.read_csv(p) for p in sorted((out / "tables").glob("*.csv"))}
    checks, unknown = [], []
    for name, df in tables.items():
        m = re.fullmatch(r"followup_by_(\w+)", name)
        if m and m.group(1) in units.columns:
            checks += _checks(name, m.group(1), list(df.columns), units.columns)
        elif not _not_checked(name):
            unknown.append(name)
    assert not unknown, f"tables neither checked by acro nor listed in NOT_CHECKED: {unknown}"
    if not checks:
        pytest.skip(f"{study} publishes no follow-up table")
    micro = tmp_path / "micro.csv"
    cols = sorted({c["dim"] for c in checks} | {c["value"] for c in checks if c["value"]})
    units.select([pl.col(c) for c in cols]).write_csv(micro)
    spec, res = tmp_path / "spec.json", tmp_path / "acro.json"
    spec.write_text(json.dumps({"microdata": str(micro), "rules": RULES, "checks": checks}))
    subprocess.run([py, ROOT / "tests/acro/acro_check.py", spec, res], check=True, capture_output=True)
    found = json.loads(res.read_text())["results"]
    assert len(found) == len(checks)
    leaks: dict[str, list[str]] = {"count": [], "binary": [], "mean": []}
    for r in found:
        both = set(r["flagged"]) & _published(tables[r["table"]], r["dim"], r)
        leaks[r["kind"]] += [f"{r['table']}/{cell}: {r['kind']} {r['value'] or ''}".strip() for cell in sorted(both)]
    other = leaks["count"] + leaks["mean"]
    assert not other, f"acro would suppress {len(other)} cell(s) that {study} published: {other[:20]}"
    sub = leaks["binary"]
    if study in KNOWN_SUBCOUNT_LEAKS:  # a strict expected failure, kept by hand (see KNOWN_SUBCOUNT_LEAKS)
        assert sub, f"{study}: acro no longer flags any published sub-count: remove it from KNOWN_SUBCOUNT_LEAKS"
        pytest.xfail(f"{len(sub)} published sub-counts acro would suppress, e.g. {sub[:3]}: "
                     f"{KNOWN_SUBCOUNT_LEAKS[study]}")
    assert not sub, f"acro would suppress {len(sub)} sub-count(s) that {study} published: {sub[:20]}"
