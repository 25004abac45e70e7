"""A second, independent output checker: SACRO's `acro` re-checks every table the committed studies publish.

Each committed study runs on small generated registers, and acro re-checks what it published
(every table, every estimate table of ``results.json`` and every flow of exclusions) from the
microdata behind it, with acro's rules set to the data permit's: threshold 10, dominance
(n=1, k=75 %), and acro's p-ratio (10 %; the permit has no p-percent rule, so this is stricter
than the permit). Any value our report published that rests on a cell or part acro would
suppress is a failure. acro runs in its own virtual environment (``.venv-acro``, pinned in
``tests/acro/requirements-acro.txt``, created here on first use) because it needs pandas < 3.

What acro is handed (``docs/disclosure.md``, section 2):

* every publication: a frequency table (``acro.crosstab``) of its cells by part, one record per
  person behind each cell and each part (placed / not placed, treated / comparison, employed /
  not employed, ...; parts known only as counts, such as the persons of an area, as that many
  anonymous records): acro's threshold and zero rules on every cell and part a published value
  rests on. The placement curves are rebuilt from the person x month panel instead;
* the follow-up tables, rebuilt from the population's units: counts, placed / not placed at each
  horizon, and the means of earnings and cost (threshold, nk dominance, p-ratio on the units);
* the balance tables: each covariate's mean by treated and comparison group over the sample
  before and after matching (``crosstab`` with ``aggfunc="mean"``: threshold, nk, p-ratio);
* the Kaplan-Meier curves: ``acro.surv_func`` on the units' durations; a published point needs
  10 units to have left the risk set since the last published one (acro's survival rule) and a
  curve 10 residual degrees of freedom.

A published table the test cannot hand to acro must be listed in ``NOT_CHECKED`` with the reason
(none is today); a new table fails the test until it is checked or listed.
"""

from __future__ import annotations

import fcntl
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from impact.report.disclosure import CELL, Disclosed, Publication, _key_expr, _key_strings
from impact.study import runner

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv-acro"
RULES = {"threshold": 10, "nk_n": 1, "nk_k": 0.75, "p_ratio": 0.10}
#: Records handed to acro per cell and part of a frequency table: acro's count rules (threshold, zeros) only
#: ask whether a part has 10 records, so more than 50 do not change its verdict (and keep the test fast).
CAP = 50
#: Published tables acro does not re-check, and why (none today: every table, estimate and flow is handed to it).
NOT_CHECKED: dict[str, str] = {}
#: Follow-up tables rebuilt from the population's units: per published column, the acro check that covers it.
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


@dataclass
class Run:
    """What a study run published, with the microdata behind it (captured while it runs)."""

    folder: Path
    out: Any = None  # runner.StudyOutput: every table, estimate and flow after disclosure control
    ctx: Any = None  # the StudyContext: population units, person x month panel
    results: list = field(default_factory=list)  # the AnalysisResults: publications before disclosure control
    km: dict = field(default_factory=dict)  # name -> (units, by, max_month) of each Kaplan-Meier curve
    curves: tuple | None = None  # (units, by, window, employed person-months) of the placement curves
    balance: dict = field(default_factory=dict)  # name -> (covariates, data with _t, _w) of each balance table

    @property
    def units(self) -> pl.DataFrame:
        return self.ctx.population.units


def _run(study: Path, registers: Path, tmp: Path, monkeypatch) -> Run:
    """Run a committed study (HTML only), keeping the publications and the unit-level data they come from."""
    from impact.study.analyses import balance as balance_tables
    from impact.study.analyses import followup, metrics

    text = re.sub(r"formats\s*=\s*\[[^\]]*\]", 'formats = ["html"]', study.read_text())
    cfg = tmp / study.name
    cfg.write_text(text)
    run = Run(folder=tmp / "reports" / study.stem)

    def wrap(module, name, keep):
        orig = getattr(module, name)

        def call(*args, **kw):
            res = orig(*args, **kw)
            keep(res, *args, **kw)
            return res
        monkeypatch.setattr(module, name, call)

    wrap(runner, "prepare", lambda res, *a, **k: setattr(run, "ctx", res[0]))
    wrap(runner, "analyse", lambda res, *a, **k: run.results.extend(res))
    wrap(runner, "run_pipeline", lambda res, *a, **k: setattr(run, "out", res))

    def km(res, units, by, max_month=24, name="km_time_to_employment"):
        run.km[name] = (units, by, max_month)
    for module in (followup, metrics):
        wrap(module, "km_publication", km)
    wrap(followup, "curves_publication", lambda res, ctx, units, by, window: setattr(run, "curves", (
        units, by, window, ctx.person_month.filter(pl.col("employed")).select("person_id", "month"))))

    def balance(res, name, fit, data, lost):
        # the support table's call carries every design row (before matching) beside the fit
        run.balance[name.removesuffix("_support") + "_balance"] = (
            [str(c) for c in fit.balance["covariate"]], data.with_columns(
                _t=pl.Series(np.asarray(fit.treated, bool)), _w=pl.Series(np.asarray(fit.weights, float))))
    wrap(balance_tables, "support_publication", balance)
    out = runner.run_study(cfg, reports_dir=tmp / "reports", data_dir=registers, quiet=True)
    assert out == run.folder and run.out is not None
    return run


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


def _records(pub: Publication) -> pl.DataFrame:
    """``key, part, rec``: the persons behind each cell and part of a publication (its members; parts
    known only as counts, e.g. the persons of an area, as that many anonymous records), at most CAP each."""
    frames, have = [], set()
    if pub.members is not None and pub.members.height:
        m = pub.members.select(key=_key_expr(pub.keys), part=pl.col("part"), rec=pl.col("person_id").cast(pl.String))
        have = set(m["part"].unique().to_list())
        frames.append(m.unique())
    if pub.part_counts is not None and pub.part_counts.height:
        pc = pub.part_counts.filter(~pl.col("part").is_in(list(have))).select(
            key=_key_expr(pub.keys), part=pl.col("part"), n=pl.col("n").cast(pl.Int64))
        frames.append(pc.group_by("key", "part").agg(pl.col("n").max()).with_columns(
            rec=pl.int_ranges(0, pl.min_horizontal("n", CAP))).explode("rec").drop_nulls("rec")
            .select("key", "part", rec=pl.lit("n") + pl.col("rec").cast(pl.String)))
    if not frames:
        return pl.DataFrame(schema={"key": pl.String, "part": pl.String, "rec": pl.String})
    return pl.concat(frames).filter(pl.int_range(pl.len()).over("key", "part") < CAP)


def _needed(pub: Publication, d: Disclosed) -> pl.DataFrame:
    """``key, part, column``: for every value the table publishes, the cell and each part it rests on
    (a Kaplan-Meier point: its persons at risk; its events are acro's survival rule, :func:`_km_leaks`)."""
    f = pub.frame.reset_index(drop=True)
    keys = _key_strings(f, pub.keys)
    rows = []
    for c in d.marks.columns:
        shown = (d.marks[c] == "").to_numpy() & d.frame[c].notna().to_numpy()
        groups = [] if pub.kind == "step_curve" else [g for g in pub.groups if c in g.columns]
        for i in np.flatnonzero(shown):
            parts = {CELL}.union(*[g.parts for g in groups if g.rows is None or bool(f[g.rows].iloc[i])])
            rows += [(keys[i], p, c) for p in parts]
    return pl.DataFrame(rows, schema={"key": pl.String, "part": pl.String, "column": pl.String}, orient="row")


#: Flow columns and the part of a step they count (a removal of nobody discloses no one: acro's zero rule
#: is for a part of a cell, e.g. 0 of 16 placed).
FLOW_PARTS = {"units": "left", "persons": "left", "removed_units": "removed", "removed_persons": "removed"}


def _flow_needed(d: Disclosed) -> pl.DataFrame:
    rows = []
    for c, part in FLOW_PARTS.items():
        v = d.frame[c].to_numpy(float)
        shown = (d.marks[c] == "").to_numpy() & ~np.isnan(v) & ((part == "left") | (v > 0))
        rows += [(f"step={int(s)}", part, c) for s in d.frame["step"].to_numpy()[shown]]
    return pl.DataFrame(rows, schema={"key": pl.String, "part": pl.String, "column": pl.String}, orient="row")


def _curve_records(run: Run) -> pl.DataFrame:
    """The placement curves' cells rebuilt from the person x month panel: per group and month since the
    end of a unit, the persons observed (cell), in open-market employment and not."""
    units, by, (lo, hi), employed = run.curves
    uid = "service_id" if "service_id" in units.columns else "spell_id"
    u = units.select(uid, "person_id", "end_month", group=pl.col(by).cast(pl.String).fill_null("(unknown)")).filter(
        pl.col("end_month").is_not_null())
    first, last = int(u["end_month"].min()) + lo, run.ctx.last_month
    rows = u.with_columns(month=pl.int_ranges(lo, hi + 1)).explode("month").filter(
        (pl.col("end_month") + pl.col("month")).is_between(first, last))
    emp = employed.select("person_id", pl.col("month").alias("_m"), _emp=pl.lit(True))
    rows = rows.with_columns(_m=pl.col("end_month") + pl.col("month")).join(
        emp, on=["person_id", "_m"], how="left").with_columns(pl.col("_emp").fill_null(False))
    key = _key_expr(["group", "month"])
    return pl.concat([rows.select(key=key, part=pl.lit(CELL), rec="person_id"),
                      rows.select(key=key, part=pl.when("_emp").then(pl.lit("employed")).otherwise(pl.lit("not_employed")),
                                  rec="person_id")]).unique().with_columns(pl.col("rec").cast(pl.String))


#: Balance columns: the sample (before / after matching) and the groups whose means they show.
BALANCE = {"mean_treated": ("treated",), "mean_control": ("controls",), "smd": ("treated", "controls"),
           "vr": ("treated", "controls")}


def _balance(name: str, covs: list[str], data: pl.DataFrame, d: Disclosed) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Records (``key, value``: a covariate's values by sample and group, the means acro checks) and the
    published means' cells (``key, column``)."""
    recs = []
    for side, sample in (("before", data), ("after", data.filter(pl.col("_w") > 0))):
        g = pl.when("_t").then(pl.lit("treated")).otherwise(pl.lit("controls"))
        recs += [sample.filter(pl.col(c).is_not_null()).select(
            key=pl.lit(f"{c}|{side}|") + g, value=pl.col(c).cast(pl.Float64)) for c in covs if c in sample.columns]
    need = []
    for c in d.marks.columns:
        base, _, side = c.rpartition("_")
        if base not in BALANCE or side not in ("before", "after"):
            continue
        shown = (d.marks[c] == "").to_numpy() & d.frame[c].notna().to_numpy()
        need += [(f"{cov}|{side}|{g}", c) for cov in d.frame["covariate"].astype(str).to_numpy()[shown]
                 for g in BALANCE[base]]
    missing = [c for c in covs if c not in data.columns]
    assert not missing, f"{name}: covariates not found in the matching data: {missing}"
    return (pl.concat(recs).with_columns(table=pl.lit(name)),
            pl.DataFrame(need, schema={"key": pl.String, "column": pl.String}, orient="row"))


def _km_records(run: Run) -> pl.DataFrame:
    """``table, group, time, status``: the units behind each Kaplan-Meier curve (status 1: employed)."""
    return pl.concat([u.filter(pl.col("months_to_employment").is_not_null()).select(
        table=pl.lit(name), group=pl.col(by).cast(pl.String).fill_null("(unknown)"),
        time=pl.col("months_to_employment").cast(pl.Float64), status=(~pl.col("censored")).cast(pl.Int8))
        for name, (u, by, _) in run.km.items()])


def _km_leaks(name: str, d: Disclosed, micro: pl.DataFrame, acro_curves: dict, threshold: int) -> list[str]:
    """Published Kaplan-Meier points that break acro's survival rules: acro reports a step only when at
    least ``SURVIVAL_THRESHOLD`` (10) units left the risk set since the last reported one, and a curve
    needs residual degrees of freedom (units minus distinct times) of at least 10."""
    f = d.frame
    shown = (d.marks["survival"] == "").to_numpy() & f["survival"].notna().to_numpy()
    leaks = []
    for g, pts in f[shown].groupby("group"):
        times = np.sort(micro.filter((pl.col("table") == name) & (pl.col("group") == str(g)))["time"].to_numpy())
        c = acro_curves[str(g)]
        at = len(times) - np.searchsorted(times, np.asarray(c["time"]), side="left")
        assert np.array_equal(at, np.asarray(c["at_risk"])), f"{name}/{g}: acro's numbers at risk differ from the units'"
        if c["dof"] < threshold:
            leaks.append(f"{name}/{g}: a curve with {c['dof']} residual degrees of freedom")
        months = np.sort(pts["month"].to_numpy(float))
        risk = len(times) - np.searchsorted(times, months, side="left")
        leaks += [f"{name}/{g}/month={m:g}: {int(k)} left the risk set since the last point"
                  for m, k in zip(months[1:], risk[:-1] - risk[1:]) if k < threshold]
    return leaks


def _acro(py: Path, tmp: Path, checks: list[dict], **files: pl.DataFrame) -> list[dict]:
    """Run the acro driver on ``checks`` (files written as CSV) and return its results in order."""
    spec = {"rules": RULES, "checks": checks}
    for k, df in files.items():
        spec[k] = str(tmp / f"{k}.csv")
        df.write_csv(spec[k])
    p, res = tmp / "spec.json", tmp / "acro.json"
    p.write_text(json.dumps(spec))
    r = subprocess.run([py, ROOT / "tests/acro/acro_check.py", p, res], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    found = json.loads(res.read_text())["results"]
    assert len(found) == len(checks)
    return found


def _cell_leaks(result: dict, need: pl.DataFrame) -> list[str]:
    """Published values whose cell or part acro suppresses (or never saw: a part of no one)."""
    kept = pl.DataFrame({"kt": result["kept"]}, schema={"kt": pl.String})
    n = need.filter(pl.col("table") == result["table"]).with_columns(kt=pl.col("key") + "\t" + pl.col("part"))
    bad = n.join(kept, on="kt", how="anti").unique(["key", "part"]).sort("key", "part")
    return [f"{result['table']}/{k}: part {p} (shown in {c})" for k, p, c in bad.select("key", "part", "column").rows()]


STUDIES = sorted(p.name for p in (ROOT / "studies").glob("*.toml"))


def _publications(run: Run) -> dict[str, tuple[Publication, Disclosed]]:
    """Every published table and estimate table: the publication (with its persons) and what was published."""
    out = {}
    for r, dr in zip(run.results, run.out.results):
        assert r.name == dr.name
        pairs = [(r.estimates, dr.estimates)] if r.estimates is not None else []
        pairs += [(p, dr.tables[k]) for k, p in r.tables.items()]
        out.update({p.name: (p, d) for p, d in pairs})
    return out


def _flows(run: Run) -> dict[str, tuple[pl.DataFrame, Disclosed]]:
    """Every published flow of exclusions: its members (``step, part, person_id``) and what was published."""
    out = {"flow_population": (run.ctx.population.flow.members, run.out.population)}
    for r, dr in zip(run.results, run.out.results):
        out.update({f"flow_{f.name}": (f.members, dr.flows[f.name]) for f in r.flows})
    return out


@pytest.mark.parametrize("study", STUDIES)
def test_acro_finds_nothing_disclosive_in_what_we_publish(study, registers, tmp_path, monkeypatch):
    py = _acro_python()
    run = _run(ROOT / "studies" / study, registers(SIZES.get(study, 3000)), tmp_path, monkeypatch)
    units = run.units
    written = {p.stem: pd.read_csv(p) for p in sorted((run.folder / "tables").glob("*.csv"))}
    pubs, flows = _publications(run), _flows(run)
    unknown = sorted(set(written) - set(pubs) - set(flows) - set(NOT_CHECKED))
    assert not unknown, f"published tables neither re-checked by acro nor listed in NOT_CHECKED: {unknown}"
    # 1. every cell and part behind a published value, as a frequency table of persons (acro: threshold, zeros)
    records, needed, checks = [], [], []
    for name, (pub, d) in pubs.items():
        rec = _curve_records(run) if name == "placement_curves" else _records(pub)
        need = _needed(pub, d)
        if name in NOT_CHECKED or not need.height:
            continue
        assert rec.height, f"{name}: publishes values but lists no persons behind them; add it to NOT_CHECKED"
        records.append(rec.select(table=pl.lit(name), key="key", part="part", rec="rec"))
        needed.append(need.select(table=pl.lit(name), key="key", part="part", column="column"))
    for name, (mem, d) in flows.items():
        records.append(mem.select(table=pl.lit(name), key=pl.lit("step=") + pl.col("step").cast(pl.String),
                                  part="part", rec=pl.col("person_id").cast(pl.String)).unique()
                       .filter(pl.int_range(pl.len()).over("key", "part") < CAP))
        needed.append(_flow_needed(d).select(table=pl.lit(name), key="key", part="part", column="column"))
    checks += [{"kind": "cells", "table": t, "file": "cells"} for t in sorted({n["table"][0] for n in needed if n.height})]
    # 2. the follow-up tables rebuilt from the population's units (counts, placed / not placed, means)
    follow = []
    for name, df in written.items():
        m = re.fullmatch(r"followup_by_(\w+)", name)
        if m and m.group(1) in units.columns:
            follow += _checks(name, m.group(1), list(df.columns), units.columns)
    checks += follow
    # 3. the means of the balance tables by treated and comparison group (threshold, nk, p-ratio)
    bal_recs, bal_need = [], {}
    for name, (covs, data) in run.balance.items():
        r, n = _balance(name, covs, data, pubs[name][1])
        assert n.height, f"{name}: no published mean found to hand to acro"
        bal_recs.append(r)
        bal_need[name] = n
        checks.append({"kind": "means", "table": name, "file": "means"})
    # 4. Kaplan-Meier curves: acro.surv_func on the units' durations
    checks += [{"kind": "km", "table": name, "file": "km"} for name in run.km]
    need = pl.concat(needed)
    # only the cells and parts a published value rests on: acro's count rules judge each on its own
    files = {"cells": pl.concat(records).join(need.select("table", "key", "part").unique(), on=["table", "key", "part"],
                                              how="semi").select("table", "key", "part", "rec")}
    if follow:
        cols = sorted({c["dim"] for c in follow} | {c["value"] for c in follow if c["value"]})
        files["microdata"] = units.select([pl.col(c) for c in cols])
    if bal_recs:
        files["means"] = pl.concat(bal_recs).select("table", "key", "value")
    km = _km_records(run) if run.km else None
    if km is not None:
        files["km"] = km
    found = _acro(py, tmp_path, checks, **files)
    leaks: list[str] = []
    for r in found:
        if r["kind"] == "cells":
            leaks += _cell_leaks(r, need)
        elif r["kind"] == "means":
            flagged = set(r["flagged"])
            leaks += [f"{r['table']}/{k}: mean ({c})" for k, c in bal_need[r["table"]].rows() if k in flagged]
        elif r["kind"] == "km":
            leaks += _km_leaks(r["table"], pubs[r["table"]][1], km, r["curves"], RULES["threshold"])
        else:
            both = set(r["flagged"]) & _published(written[r["table"]], r["dim"], r)
            leaks += [f"{r['table']}/{cell}: {r['kind']} {r['value'] or ''}".strip() for cell in sorted(both)]
    assert not leaks, f"acro would suppress {len(leaks)} value(s) that {study} published: {leaks[:20]}"


def test_the_cell_check_flags_what_weaker_rules_publish(tmp_path):
    """The check can fail: a table disclosed with min_cell 3 (override) publishes shares acro suppresses
    (5 of 40 placed, a cell of 6 persons; 12 of 12 placed is suppressed by its complement either way); under the permit's rules it publishes none."""
    from impact.report.disclosure import DisclosureRules, Group, cell_members, disclose

    sizes, placed = {"A": 40, "B": 12, "C": 6, "D": 60}, {"A": 5, "B": 12, "C": 3, "D": 30}
    units = pl.DataFrame({"person_id": range(sum(sizes.values())),
                          "area": [a for a, n in sizes.items() for _ in range(n)],
                          "placed": [i < placed[a] for a, n in sizes.items() for i in range(n)]})
    t = units.group_by("area").agg(n=pl.len(), share=pl.col("placed").mean()).sort("area")
    t = pl.concat([t, units.select(area=pl.lit("Total"), n=pl.len().cast(pl.UInt32), share=pl.col("placed").mean())])
    pub = Publication("t", t.to_pandas(), dims=("area",), count="n",
                      members=cell_members(units, ["area"], {"yes": pl.col("placed"), "no": ~pl.col("placed")}),
                      groups=(Group(("share",), parts=("yes", "no")),))
    rules = {"permit": DisclosureRules(), "weak": DisclosureRules(min_cell=3, override_reason="test")}
    rec = pl.concat([_records(pub).select(table=pl.lit(k), key="key", part="part", rec="rec") for k in rules])
    need = pl.concat([_needed(pub, disclose(pub, r)).select(table=pl.lit(k), key="key", part="part", column="column")
                      for k, r in rules.items()])
    found = _acro(_acro_python(), tmp_path, [{"kind": "cells", "table": k, "file": "cells"} for k in rules], cells=rec)
    leaks = {r["table"]: _cell_leaks(r, need) for r in found}
    assert leaks["permit"] == []
    assert sorted({x.split(":")[0] for x in leaks["weak"]}) == ["weak/area=A", "weak/area=C"], leaks["weak"]
