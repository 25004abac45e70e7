"""Tiny hand-built registers for the outcome tests (contract dtypes, sensible defaults)."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import ibis
import polars as pl

from impact.registers.schema import CONTRACTS

D = dt.date
_ids = itertools.count(1)


def frame(name: str, rows: list[dict], drop_optional: bool = False) -> pl.DataFrame:
    """A register table from row dicts, with the contract's columns and dtypes."""
    c = CONTRACTS[name]
    cols = [col for col in c.columns if not (drop_optional and col.optional and not any(col.name in r for r in rows))]
    data = {col.name: [r.get(col.name) for r in rows] for col in cols}
    return pl.DataFrame(data, schema={col.name: col.dtype for col in cols})


def person(pid: int, **kw) -> dict:
    d = dict(person_id=pid, birth_year=1985, sex="F", education="basic", language="fi",
             municipality="091", employment_area="EA01")
    d.update(kw)
    return d


def spell(pid: int, start: dt.date, end: dt.date | None, spell_id: int | None = None, **kw) -> dict:
    d = dict(person_id=pid, spell_id=spell_id or next(_ids), start_date=start, end_date=end, status_at_start=2,
             end_reason=None if end is None else "03", segment="01", municipality="091")
    d.update(kw)
    return d


def service(pid: int, start: dt.date, end: dt.date | None, service_id: int | None = None, **kw) -> dict:
    d = dict(person_id=pid, service_id=service_id or next(_ids), service_type="training", start_date=start,
             end_date=end, end_reason=0, provider_id="P1", course_id="C1", cost_eur=1000.0, employer_sector=None)
    d.update(kw)
    return d


def report(pid: int, pay_day: dt.date, start: dt.date, end: dt.date, amount: float, *, ref: str | None = None,
           version: int = 1, action: str = "new", payer: int = 1, income_type: int = 201,
           subsidised: bool = False, ep: tuple[dt.date, dt.date] | None = None, recovery: bool = False,
           orig_payment_date: dt.date | None = None, report_id: int | None = None) -> dict:
    return dict(report_id=report_id or next(_ids), report_ref=ref or f"r{next(_ids)}", version=version,
                action=action, person_id=pid, payer_id=payer, payment_date=pay_day, pay_period_start=start,
                pay_period_end=end, earning_period_start=ep[0] if ep else None,
                earning_period_end=ep[1] if ep else None, income_type=income_type, amount_eur=amount,
                subsidised=subsidised, recovery=recovery, orig_payment_date=orig_payment_date)


def tables(persons: list[dict], spells: list[dict], services: list[dict], reports: list[dict]) -> dict:
    """Register tables as Ibis memtables (DuckDB runs them)."""
    return {
        "persons": ibis.memtable(frame("persons", persons)),
        "jobseeking_spells": ibis.memtable(frame("jobseeking_spells", spells)),
        "service_spells": ibis.memtable(frame("service_spells", services)),
        "earnings_reports": ibis.memtable(frame("earnings_reports", reports)),
    }


def write_folder(folder: Path, persons: list[dict], spells: list[dict], services: list[dict],
                 reports: list[dict], extraction_date: dt.date | None = None) -> Path:
    """Write the four tables as Parquet, and the delivery manifest: ``extraction_date``, by
    default the last payment date of ``reports`` (the test data's delivery is that day)."""
    from impact.registers.delivery import write_delivery

    folder.mkdir(parents=True, exist_ok=True)
    write_delivery(folder, extraction_date or max(r["payment_date"] for r in reports), "test data")
    for name, rows in (("persons", persons), ("jobseeking_spells", spells), ("service_spells", services),
                       ("earnings_reports", reports)):
        frame(name, rows).write_parquet(folder / f"{name}.parquet")
    return folder


# =======================================================================================
# A deliberately simple pandas reference implementation of the outcome definitions
# (docs/outcomes.md). Independent of the Ibis code: explodes periods to months with
# np.repeat, averages the segment baseline over explicit month lists instead of cumulative
# sums, finds first employment by merge + filter + min.
# =======================================================================================

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def _days(s: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 (NaN for missing)."""
    return (pd.to_datetime(s).to_numpy().astype("datetime64[D]").astype("float64")
            if s.notna().all() else
            np.where(s.notna(), pd.to_datetime(s).to_numpy().astype("datetime64[D]").astype("int64"), np.nan))


def _month(s: pd.Series) -> pd.Series:
    d = pd.to_datetime(s)
    return (d.dt.year * 12 + d.dt.month - 1).astype("Int64")


def _month_first_day(m: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of the first day of month index m."""
    return (np.asarray(m, dtype="int64") - 1970 * 12).astype("datetime64[M]").astype("datetime64[D]").astype("int64")


def ref_panel(reports: pd.DataFrame, spell_persons: set, cfg, extraction_date=None) -> tuple[pd.DataFrame, dict]:
    r = reports.copy()
    excl: dict[str, int] = {}

    def drop(mask, rule):
        nonlocal r
        n = int(mask.sum())
        if n:
            excl[rule] = excl.get(rule, 0) + n
        r = r[~mask]

    latest = r.groupby(["payer_id", "report_ref"])["version"].transform("max")
    drop(r["version"] < latest, "superseded_version")
    drop(r["action"] == "cancel", "cancelled_report")
    drop(~r["income_type"].isin(list(cfg.income_types)), "income_type_not_counted")
    if cfg.holiday_compensation == "exclude":
        drop(r["income_type"] == 234, "holiday_compensation_excluded")
    if extraction_date is not None:
        drop(pd.to_datetime(r["payment_date"]) > pd.Timestamp(extraction_date), "paid_after_extraction")
    drop(~r["person_id"].isin(spell_persons), "person_without_spells")

    recovery = r["recovery"].fillna(False).astype(bool) if "recovery" in r else pd.Series(False, index=r.index)
    wage = (~recovery) & (r["amount_eur"] > 0)
    if cfg.allocation == "payment":
        pay = r["payment_date"]
        if "orig_payment_date" in r:
            pay = r["orig_payment_date"].where(recovery & r["orig_payment_date"].notna(), r["payment_date"])
        a = pd.DataFrame({"person_id": r["person_id"].to_numpy(), "month": _month(pay).to_numpy(),
                          "amount": r["amount_eur"].to_numpy(), "subsidised": r["subsidised"].to_numpy(),
                          "wage": wage.to_numpy(), "work_day": np.nan, "last_week": False})
    else:
        start, end = r["pay_period_start"], r["pay_period_end"]
        if cfg.allocation == "earning_period" and "earning_period_start" in r:
            has = r["earning_period_start"].notna() & r["earning_period_end"].notna()
            start = r["earning_period_start"].where(has, start)
            end = r["earning_period_end"].where(has, end)
        d0 = pd.to_datetime(start).to_numpy().astype("datetime64[D]").astype("int64")
        d1 = pd.to_datetime(end).to_numpy().astype("datetime64[D]").astype("int64")
        m0 = _month(start).to_numpy().astype("int64")
        m1 = _month(end).to_numpy().astype("int64")
        n = m1 - m0 + 1
        idx = np.repeat(np.arange(len(r)), n)
        offset = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        month = m0[idx] + offset
        first = _month_first_day(month)
        last = _month_first_day(month + 1) - 1
        lo = np.maximum(d0[idx], first)
        hi = np.minimum(d1[idx], last)
        share = (hi - lo + 1) / (d1[idx] - d0[idx] + 1)
        a = pd.DataFrame({"person_id": r["person_id"].to_numpy()[idx], "month": month,
                          "amount": r["amount_eur"].to_numpy()[idx] * share,
                          "subsidised": r["subsidised"].to_numpy()[idx], "wage": wage.to_numpy()[idx],
                          "work_day": lo.astype("float64"), "last_week": hi >= last - 6})
    a["sub_amount"] = np.where(a["subsidised"], a["amount"], 0.0)
    open_wage = a["wage"] & ~a["subsidised"].astype(bool)
    a["lw_open"] = (open_wage & a["last_week"]).astype(int)
    a["lw_sub"] = (a["wage"] & a["subsidised"].astype(bool) & a["last_week"]).astype(int)
    a["wd"] = np.where(open_wage, a["work_day"], np.nan)
    g = a.groupby(["person_id", "month"], as_index=False).agg(
        earnings=("amount", "sum"), sub=("sub_amount", "sum"), lw_open=("lw_open", "max"),
        lw_sub=("lw_sub", "max"), first_work_day=("wd", "min"))
    earn = g["earnings"]
    sub = g["sub"]
    open_ = g["earnings"] - g["sub"]
    f = cfg.employment_floor_eur - 0.005
    if cfg.employment_rule == "floor":
        emp, subs = open_ >= f, sub >= f
    elif cfg.employment_rule == "last_week":
        emp, subs = g["lw_open"] == 1, g["lw_sub"] == 1
    else:
        emp, subs = (open_ >= f) | (g["lw_open"] == 1), (sub >= f) | (g["lw_sub"] == 1)
    panel = pd.DataFrame({"person_id": g["person_id"], "month": g["month"].astype("int64"), "earnings_eur": earn,
                          "subsidised_eur": sub, "employed": emp, "subsidised": subs,
                          "first_work_day": g["first_work_day"]})
    return panel.sort_values(["person_id", "month"]).reset_index(drop=True), excl


def _age_band(age: np.ndarray, bands) -> np.ndarray:
    out = np.full(len(age), bands[0])
    for b in bands[1:]:
        out = np.where(age >= b, b, out)
    return out


def ref_baseline(panel: pd.DataFrame, persons: pd.DataFrame, cfg, first_month: int, last_month: int) -> pd.DataFrame:
    """B[g, m] (not cumulated): segment total earnings / segment persons, months first..last."""
    seg = list(cfg.segment_by)
    other = [c for c in seg if c != "age_band"]
    months = np.arange(first_month, last_month + 1)
    years = np.unique(months // 12)
    py = persons.merge(pd.DataFrame({"year": years}), how="cross")
    py["age_band"] = _age_band((py["year"] - py["birth_year"]).to_numpy(), cfg.age_bands)
    counts = py.groupby(["year", *seg], as_index=False).size().rename(columns={"size": "n"})
    pm = panel[(panel["month"] >= first_month) & (panel["month"] <= last_month)].merge(persons, on="person_id")
    pm["age_band"] = _age_band((pm["month"] // 12 - pm["birth_year"]).to_numpy(), cfg.age_bands)
    sums = pm.groupby(["month", *seg], as_index=False)["earnings_eur"].sum()
    grid = counts.merge(pd.DataFrame({"month": months, "year": months // 12}), on="year")
    grid = grid.merge(sums, on=["month", *seg], how="left")
    grid["base"] = grid["earnings_eur"].fillna(0.0) / grid["n"]
    return grid[[*seg, "month", "base"]]


def ref_units(units: pd.DataFrame, panel: pd.DataFrame, spells: pd.DataFrame, base: pd.DataFrame,
              persons: pd.DataFrame, cfg, last_month: int, first_from=("end",)) -> pd.DataFrame:
    u = units.copy()
    u["end_month"] = _month(u["end_date"])
    u["start_month"] = _month(u["start_date"])
    P = panel[panel["month"] <= last_month]
    e = u["end_month"]

    def observed(h):
        return e.notna() & (e + h <= last_month)

    j = u[["unit_id", "person_id", "end_month"]].dropna().merge(P, on="person_id")
    j = j[(j["month"] > j["end_month"]) & (j["month"] <= j["end_month"] + cfg.max_window)]
    j["rel"] = j["month"] - j["end_month"]
    for h in cfg.horizons:
        ids = set(j.loc[(j["rel"] == h) & j["employed"], "unit_id"])
        u[f"placed_{h}m"] = pd.array(np.where(observed(h), u["unit_id"].isin(ids), None), dtype="boolean")
    for k, h in cfg.k_of_h:
        n = j[(j["rel"] <= h) & j["employed"]].groupby("unit_id").size()
        cnt = u["unit_id"].map(n).fillna(0)
        u[f"employed_{k}_of_{h}m"] = pd.array(np.where(observed(h), cnt >= k, None), dtype="boolean")
    for a, b in cfg.earnings_windows:
        s = j[(j["rel"] >= a) & (j["rel"] <= b)].groupby("unit_id")["earnings_eur"].sum()
        val = u["unit_id"].map(s).fillna(0.0) / (b - a + 1)
        u[f"earnings_{a}_{b}m"] = val.where(observed(b).to_numpy(dtype=bool), np.nan)

    E = P[P["employed"]]
    origins = {"end": ("end_month", "end_date", ""), "start": ("start_month", "start_date", "_from_start")}
    f_end = None
    for which in sorted(set(first_from) | {"end"}, key=lambda w: w != "start"):
        mcol, dcol, sfx = origins[which]
        x = u[["unit_id", "person_id", mcol]].dropna().merge(E, on="person_id")
        x = x[x["month"] > x[mcol]].sort_values(["unit_id", "month"]).drop_duplicates("unit_id")
        fm = u["unit_id"].map(x.set_index("unit_id")["month"])
        fd = u["unit_id"].map(x.set_index("unit_id")["first_work_day"])
        if which == "end":
            f_end = fm
        if which not in first_from:
            continue
        found = fm.notna()
        has = u[mcol].notna()
        mte = np.where(found, fm - u[mcol], np.where(has, last_month - u[mcol], np.nan))
        u[f"months_to_employment{sfx}"] = pd.array(np.where(np.isnan(mte.astype(float)), None, mte), dtype="Int32")
        u[f"censored{sfx}"] = pd.array(np.where(has, ~found, None), dtype="boolean")
        origin_day = pd.to_datetime(u[dcol]).to_numpy().astype("datetime64[D]").astype("float64")
        dte = np.where(found, fd - origin_day, np.nan)
        u[f"days_to_employment{sfx}"] = pd.array(np.where(np.isnan(dte), None, dte), dtype="Int32")

    sp = spells[["person_id", "start_date"]].copy()
    sp["s_month"] = _month(sp["start_date"])
    uf = pd.DataFrame({"unit_id": u["unit_id"], "person_id": u["person_id"], "f": f_end}).dropna()
    rj = uf.merge(sp, on="person_id")
    for w in cfg.return_windows:
        ids = set(rj.loc[(rj["s_month"] > rj["f"]) & (rj["s_month"] <= rj["f"] + w), "unit_id"])
        ok = f_end.notna() & (f_end + w <= last_month)
        u[f"returned_{w}m"] = pd.array(np.where(ok, u["unit_id"].isin(ids), None), dtype="boolean")

    seg = list(cfg.segment_by)
    pc = persons.set_index("person_id")
    cells = pd.DataFrame({c: u["person_id"].map(pc[c]) for c in seg if c != "age_band"})
    if "age_band" in seg:
        age = pd.to_datetime(u["end_date"]).dt.year - u["person_id"].map(pc["birth_year"])
        cells["age_band"] = np.where(age.notna(), _age_band(age.fillna(0).to_numpy(), cfg.age_bands), np.nan)
    for a, b in cfg.earnings_windows:
        rows = pd.concat([cells.assign(unit_id=u["unit_id"].to_numpy(), month=(e + k).to_numpy())
                          for k in range(a, b + 1)])
        rows = rows.dropna(subset=["month"]).merge(base, on=[*seg, "month"], how="inner")
        bsum = rows.groupby("unit_id")["base"].agg(["sum", "size"])
        bl = u["unit_id"].map(bsum["sum"] / (b - a + 1)).where(u["unit_id"].map(bsum["size"]) == b - a + 1)
        earn = u[f"earnings_{a}_{b}m"]
        bl = bl.where(earn.notna(), np.nan)
        u[f"baseline_{a}_{b}m"] = bl
        u[f"rel_earnings_{a}_{b}m"] = (earn / bl).where(bl > 1e-6, np.nan)
    return u


def reference_outcomes(frames: dict[str, pl.DataFrame], cfg, extraction_date: dt.date) -> dict[str, pd.DataFrame]:
    """All outcome tables by the reference definitions, from polars register frames."""
    from impact.outcomes.panel import last_complete_month
    from impact.months import month_index

    f = {k: v.to_pandas() for k, v in frames.items()}
    persons, spells, services, reports = (f["persons"], f["jobseeking_spells"], f["service_spells"],
                                          f["earnings_reports"])
    spell_persons = set(spells["person_id"]) | set(services["person_id"])
    panel, excl = ref_panel(reports, spell_persons, cfg, extraction_date if cfg.extraction_date else None)
    last_month = last_complete_month(extraction_date)
    dates = [pd.to_datetime(reports[c]).min() for c in ("payment_date", "pay_period_start",
                                                         "earning_period_start", "orig_payment_date")
             if c in reports and reports[c].notna().any()]
    dates += [pd.to_datetime(spells["start_date"]).min(), pd.to_datetime(services["start_date"]).min()]
    first_month = min(month_index(d.date()) for d in dates) - 1
    base = ref_baseline(panel, persons, cfg, first_month, last_month)
    x = pd.Timestamp(extraction_date)
    sv = services.copy()
    sv_start, sv_end = pd.to_datetime(sv["start_date"]), pd.to_datetime(sv["end_date"])
    rule = np.select([sv_start > x, sv_end.isna(), sv_end > x],
                     ["service_starts_after_extraction", "service_ongoing", "service_ends_after_extraction"], "")
    for name in set(rule) - {""}:
        excl[name] = int((rule == name).sum())
    sv = sv[rule == ""]
    spl = spells.copy()
    s_start, s_end = pd.to_datetime(spl["start_date"]), pd.to_datetime(spl["end_date"])
    rule = np.select([s_start > x, s_end.notna() & (s_end > x)],
                     ["spell_starts_after_extraction", "spell_ends_after_extraction"], "")
    for name in set(rule) - {""}:
        excl[name] = int((rule == name).sum())
    spl = spl[rule == ""]
    svo = ref_units(sv.assign(unit_id=sv["service_id"]), panel, spl, base, persons, cfg, last_month, ("end",))
    spo = ref_units(spl.assign(unit_id=spl["spell_id"]), panel, spl, base, persons, cfg, last_month,
                    ("start", "end"))
    return {"person_month": panel, "service_outcomes": svo.sort_values("service_id").reset_index(drop=True),
            "spell_outcomes": spo.sort_values("spell_id").reset_index(drop=True), "exclusions": excl,
            "last_month": last_month}


def random_registers(n_persons: int = 300, seed: int = 1, start: dt.date = D(2019, 1, 1),
                     months: int = 48) -> dict[str, pl.DataFrame]:
    """A small random register extract with every quirk the panel handles.

    Jobs with monthly, semi-monthly and bi-weekly payers, arrears pay, two payers at once,
    replacement and cancellation versions, recoveries, holiday bonus and holiday
    compensation with earnings periods, subsidised jobs, persons without spells, ongoing
    spells and services, a spell ending after the extraction date.
    """
    rng = np.random.default_rng(seed)
    m_start = start.year * 12 + start.month - 1
    pid = np.arange(1, n_persons + 1)
    persons = pl.DataFrame({
        "person_id": pid, "birth_year": rng.integers(1960, 2002, n_persons).astype(np.int16),
        "sex": rng.choice(["F", "M"], n_persons), "education": rng.choice(["basic", "upper_secondary", "tertiary"], n_persons),
        "language": rng.choice(["fi", "sv", "other"], n_persons), "municipality": rng.choice(["091", "049"], n_persons),
        "employment_area": rng.choice(["EA01", "EA02"], n_persons)}, schema=CONTRACTS["persons"].polars_schema)

    def day(m, d):  # month index + day offset -> date
        return [dt.date(int(x) // 12, int(x) % 12 + 1, 1) + dt.timedelta(days=int(y)) for x, y in zip(m, d)]

    # job-seeking spells: 1-2 per person (persons 1..n-5 only: the last five have none)
    sp_person = np.repeat(pid[:-5], rng.integers(1, 3, n_persons - 5))
    ns = len(sp_person)
    s0 = m_start + rng.integers(0, months - 6, ns)
    dur = rng.integers(0, 14, ns)
    sstart = day(s0, rng.integers(0, 28, ns))
    send = [d + dt.timedelta(days=int(30 * k + rng.integers(0, 20))) for d, k in zip(sstart, dur)]
    ongoing = rng.random(ns) < 0.1
    send = [None if o else e for o, e in zip(ongoing, send)]
    spells = pl.DataFrame({
        "person_id": sp_person, "spell_id": np.arange(1, ns + 1) + 10_000, "start_date": sstart, "end_date": send,
        "status_at_start": np.full(ns, 2, np.int8), "end_reason": [None if e is None else "03" for e in send],
        "segment": rng.choice(["01", "02", "03"], ns), "municipality": rng.choice(["091", "049"], ns)},
        schema=CONTRACTS["jobseeking_spells"].polars_schema)
    # services: about one per two persons
    sv_person = rng.choice(pid[:-5], n_persons // 2)
    nv = len(sv_person)
    v0 = m_start + rng.integers(0, months - 3, nv)
    vstart = day(v0, rng.integers(0, 28, nv))
    vend = [d + dt.timedelta(days=int(rng.integers(20, 300))) for d in vstart]
    vend = [None if rng.random() < 0.08 else e for e in vend]
    services = pl.DataFrame({
        "person_id": sv_person, "service_id": np.arange(1, nv + 1) + 50_000,
        "service_type": rng.choice(["training", "coaching", "pay_subsidy"], nv), "start_date": vstart,
        "end_date": vend, "end_reason": np.zeros(nv, np.int8), "provider_id": rng.choice(["P1", "P2", "P3"], nv),
        "course_id": rng.choice(["C1", "C2"], nv), "cost_eur": rng.uniform(500, 8000, nv).round(2),
        "employer_sector": [None] * nv},
        schema={k: v for k, v in CONTRACTS["service_spells"].polars_schema.items() if k != "subtype"})

    rows: list[dict] = []
    ref = itertools.count(1)
    rid = itertools.count(1)
    for p in pid:  # a loop over a few hundred test persons builds the fixture, not the pipeline
        for job in range(rng.integers(0, 3)):
            j0 = m_start + int(rng.integers(0, months - 2))
            j1 = min(j0 + int(rng.integers(1, 20)), m_start + months - 1)
            payer = int(p * 10 + job)
            kind = rng.choice(["monthly", "semi", "biweekly", "arrears"])
            wage = float(rng.choice([300.0, 450.0, 1200.0, 2500.0, 3100.5]))
            subsid = bool(rng.random() < 0.2)
            periods = []
            if kind == "biweekly":
                d = dt.date(j0 // 12, j0 % 12 + 1, 1) + dt.timedelta(days=int(rng.integers(0, 10)))
                while (d.year * 12 + d.month - 1) <= j1:
                    periods.append((d, d + dt.timedelta(days=13), d + dt.timedelta(days=17), wage / 2))
                    d += dt.timedelta(days=14)
            else:
                for m in range(j0, j1 + 1):
                    a, b = dt.date(m // 12, m % 12 + 1, 1), dt.date((m + 1) // 12, (m + 1) % 12 + 1, 1)
                    last = b - dt.timedelta(days=1)
                    if kind == "semi":
                        periods.append((a, a + dt.timedelta(days=14), a + dt.timedelta(days=19), wage / 2))
                        periods.append((a + dt.timedelta(days=15), last, last, wage / 2))
                    elif kind == "arrears":
                        periods.append((a, last, b + dt.timedelta(days=9), wage))
                    else:
                        periods.append((a, last, last - dt.timedelta(days=2), wage))
            for (ps, pe, pay, amt) in periods:
                r = f"R{next(ref)}"
                base = dict(report_ref=r, person_id=int(p), payer_id=payer, payment_date=pay, pay_period_start=ps,
                            pay_period_end=pe, earning_period_start=None, earning_period_end=None,
                            subsidised=subsid, recovery=False, orig_payment_date=None)
                u = rng.random()
                itype = 201 if rng.random() < 0.8 else 101
                rows.append(dict(base, report_id=next(rid), version=1, action="new", income_type=itype,
                                 amount_eur=amt))
                rows.append(dict(base, report_id=rows[-1]["report_id"], version=1, action="new",
                                 income_type=311, amount_eur=40.0))  # tax-exempt km allowance: not earnings
                if u < 0.05:  # replacement with a corrected amount
                    rows.append(dict(base, report_id=next(rid), version=2, action="replace", income_type=itype,
                                     amount_eur=round(amt * 1.1, 2)))
                elif u < 0.09:  # cancellation
                    rows.append(dict(base, report_id=next(rid), version=2, action="cancel", income_type=itype,
                                     amount_eur=amt))
                elif u < 0.12:  # recovery of part of the pay, paid two months later
                    rows.append(dict(base, report_ref=f"R{next(ref)}", report_id=next(rid), version=1, action="new",
                                     income_type=itype, amount_eur=-round(amt * 0.25, 2), recovery=True,
                                     payment_date=pay + dt.timedelta(days=60), orig_payment_date=pay))
            if periods and rng.random() < 0.5:  # holiday bonus in June of the first year, earned over the year
                ps, pe, pay, amt = periods[-1]
                rows.append(dict(report_ref=f"R{next(ref)}", report_id=next(rid), version=1, action="new",
                                 person_id=int(p), payer_id=payer, payment_date=pay, pay_period_start=ps,
                                 pay_period_end=pe, earning_period_start=ps - dt.timedelta(days=120),
                                 earning_period_end=pe, income_type=213, amount_eur=round(amt * 0.5, 2),
                                 subsidised=subsid, recovery=False, orig_payment_date=None))
            if periods and rng.random() < 0.5:  # holiday compensation at the end of the job
                ps, pe, pay, amt = periods[-1]
                rows.append(dict(report_ref=f"R{next(ref)}", report_id=next(rid), version=1, action="new",
                                 person_id=int(p), payer_id=payer, payment_date=pay, pay_period_start=ps,
                                 pay_period_end=pe, earning_period_start=ps - dt.timedelta(days=200),
                                 earning_period_end=pe, income_type=234, amount_eur=round(amt * 0.6, 2),
                                 subsidised=subsid, recovery=False, orig_payment_date=None))
    reports = frame("earnings_reports", rows)
    return {"persons": persons, "jobseeking_spells": spells, "service_spells": services, "earnings_reports": reports}


# =======================================================================================
# Issue #10 metrics: random extra tables and a plain pandas reference of the unit tables
# (job offers, integration plans, benefit transitions, industry of the first employer).
# =======================================================================================

BENEFIT_ORDER = ("earnings_related_allowance", "basic_allowance", "labour_market_subsidy", "startup_grant", "other")


def random_metric_tables(frames: dict[str, pl.DataFrame], seed: int = 1) -> dict[str, pl.DataFrame]:
    """Job offers (some in candidate searches), vacancies, integration plans, payers (a few
    payers missing, some industries null) and benefit payments (monthly, spanning months,
    ties, recoveries) for the persons of :func:`random_registers`."""
    rng = np.random.default_rng(seed)
    persons = frames["persons"].to_pandas()
    reports = frames["earnings_reports"].to_pandas()
    pid = persons["person_id"].to_numpy()
    lo = pd.Timestamp(reports["pay_period_start"].min()).date()
    span = (pd.Timestamp(reports["pay_period_end"].max()) - pd.Timestamp(lo)).days

    def dates(n):
        return [lo + dt.timedelta(days=int(x)) for x in rng.integers(0, span, n)]

    nv = 40
    payer_ids = np.sort(reports["payer_id"].unique())
    vac_emp = rng.choice(payer_ids, nv)
    vopen = dates(nv)
    vclose = [d + dt.timedelta(days=int(rng.integers(5, 90))) if rng.random() < 0.9 else None for d in vopen]
    vacancies = frame("vacancies", [dict(vacancy_id=i + 1, employer_id=int(vac_emp[i]), open_date=vopen[i],
                                         close_date=vclose[i], filled=None if vclose[i] is None else bool(rng.random() < 0.5),
                                         employment_area=str(rng.choice(["EA01", "EA02"]))) for i in range(nv)])
    searches = frame("candidate_searches", [dict(search_id=100 + i, vacancy_id=i + 1, employer_id=int(vac_emp[i]),
                                                 search_date=vopen[i], persons_proposed=0,
                                                 result_code=str(rng.choice(["01", "02", "03", "06"])))
                                            for i in range(0, nv, 3)])
    no = 400
    ov = rng.integers(1, nv + 1, no)
    offers = frame("job_offers", [dict(offer_id=i + 1, person_id=int(rng.choice(pid)), offer_date=d,
                                       vacancy_id=int(ov[i]), employer_id=int(vac_emp[ov[i] - 1]),
                                       search_id=(99 + int(ov[i])) if (ov[i] - 1) % 3 == 0 else None,
                                       result_code=None if rng.random() < 0.05 else str(rng.choice(
                                           ["01", "02", "03", "04", "05", "06"])))
                                  for i, d in enumerate(dates(no))])
    foreign = persons.loc[persons["language"] == "other", "person_id"].to_numpy()
    plans = []
    for k, p in enumerate(foreign):  # test fixture: a loop over ~100 persons
        for j in range(int(rng.integers(0, 3))):
            plans.append(dict(plan_id=10 * k + j, person_id=int(p), plan_date=dates(1)[0],
                              plan_type=str(rng.choice(["initial_assessment", "integration_plan", "revised_plan"]))))
    plans = frame("integration_plans", plans)
    keep = payer_ids[rng.random(len(payer_ids)) < 0.9]
    payers = frame("payers", [dict(payer_id=int(p), industry=None if rng.random() < 0.1 else str(rng.choice(list("CFGNQ"))))
                              for p in keep])
    rows = []
    for p in rng.choice(pid, 200):  # about 200 benefit spells
        b = str(rng.choice(list(BENEFIT_ORDER), p=[0.3, 0.15, 0.4, 0.05, 0.1]))
        d0 = dates(1)[0]
        for _ in range(int(rng.integers(1, 8))):
            long = rng.random() < 0.3
            d1 = d0 + dt.timedelta(days=int(rng.integers(30, 75) if long else rng.integers(0, 27)))
            amt = float(rng.choice([500.0, 700.0, 1000.0, 1240.0]))
            rows.append(dict(person_id=int(p), benefit_type=b, payment_date=d1 + dt.timedelta(days=5),
                             period_start=d0, period_end=d1, amount_eur=amt))
            if rng.random() < 0.15:  # a second benefit of the same amount over the same period: a tie
                rows.append(dict(rows[-1], benefit_type=str(rng.choice(list(BENEFIT_ORDER)))))
            if rng.random() < 0.05:  # a recovery of the whole payment
                rows.append(dict(rows[-1], amount_eur=-rows[-1]["amount_eur"]))
            d0 = d1 + dt.timedelta(days=1)
    benefits = frame("benefit_reports", rows)
    return {"vacancies": vacancies, "candidate_searches": searches, "job_offers": offers,
            "integration_plans": plans, "payers": payers, "benefit_reports": benefits}


def _employed_set(panel: pd.DataFrame) -> set:
    e = panel[panel["employed"]]
    return set(zip(e["person_id"].astype(int), e["month"].astype(int)))


def ref_offer_units(offers: pd.DataFrame, panel: pd.DataFrame, last_month: int, horizons) -> pd.DataFrame:
    emp = _employed_set(panel)
    o = offers.copy()
    o["offer_month"] = _month(o["offer_date"])
    o = o[o["offer_month"] <= last_month]
    for h in horizons:
        val = [(p, m + h) in emp if m + h <= last_month else None for p, m in zip(o["person_id"], o["offer_month"])]
        o[f"employed_{h}m"] = pd.array(val, dtype="boolean")
    return o.sort_values("offer_id").reset_index(drop=True)


def ref_integration_units(plans: pd.DataFrame, panel: pd.DataFrame, last_month: int) -> pd.DataFrame:
    p = plans[plans["plan_type"] == "integration_plan"]
    first = p.groupby("person_id", as_index=False)["plan_date"].min()
    first["plan_month"] = _month(first["plan_date"])
    first = first[first["plan_month"] <= last_month]
    emp = panel[panel["employed"] & (panel["month"] <= last_month)]
    out = []
    for r in first.itertuples():  # test reference: a loop over ~100 persons
        after = emp.loc[(emp["person_id"] == r.person_id) & (emp["month"] > r.plan_month), "month"]
        found = len(after) > 0
        out.append(dict(person_id=r.person_id, plan_month=r.plan_month, censored=not found,
                        months_to_employment=int(after.min() - r.plan_month) if found else last_month - r.plan_month))
    return pd.DataFrame(out).sort_values("person_id").reset_index(drop=True)


def ref_benefit_months(benefits: pd.DataFrame) -> dict:
    """(person, month) -> benefit: pro rata by days, largest amount, ties by BENEFIT_ORDER."""
    b = benefits
    d0 = pd.to_datetime(b["period_start"]).to_numpy().astype("datetime64[D]").astype("int64")
    d1 = pd.to_datetime(b["period_end"]).to_numpy().astype("datetime64[D]").astype("int64")
    m0 = _month(b["period_start"]).to_numpy().astype("int64")
    m1 = _month(b["period_end"]).to_numpy().astype("int64")
    n = m1 - m0 + 1
    idx = np.repeat(np.arange(len(b)), n)
    month = m0[idx] + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    lo = np.maximum(d0[idx], _month_first_day(month))
    hi = np.minimum(d1[idx], _month_first_day(month + 1) - 1)
    a = pd.DataFrame({"person_id": b["person_id"].to_numpy()[idx], "month": month,
                      "benefit_type": b["benefit_type"].to_numpy()[idx],
                      "amount": b["amount_eur"].to_numpy()[idx] * (hi - lo + 1) / (d1[idx] - d0[idx] + 1)})
    g = a.groupby(["person_id", "month", "benefit_type"], as_index=False)["amount"].sum()
    g = g[g["amount"] > 0.005]
    g["rank"] = g["benefit_type"].map({t: i for i, t in enumerate(BENEFIT_ORDER)})
    g["max"] = g.groupby(["person_id", "month"])["amount"].transform("max")
    top = g[g["amount"] >= g["max"] - 1e-9].sort_values("rank").drop_duplicates(["person_id", "month"])
    return {(int(p), int(m)): t for p, m, t in zip(top["person_id"], top["month"], top["benefit_type"])}


def ref_benefit_units(benefits: pd.DataFrame, services: pd.DataFrame, last_month: int, horizons) -> pd.DataFrame:
    bm = ref_benefit_months(benefits)
    first = int(_month(benefits["period_start"]).min())
    s = services[services["end_month"].notna()].copy()
    s["before_m"] = s["start_month"].astype(int) - 1
    s["benefit_before"] = [bm.get((int(p), m), "none") if m >= first else None
                           for p, m in zip(s["person_id"], s["before_m"])]
    for h in horizons:
        s[f"benefit_{h}m"] = [bm.get((int(p), int(e) + h), "none") if int(e) + h <= last_month else None
                              for p, e in zip(s["person_id"], s["end_month"])]
    return s.sort_values("service_id").reset_index(drop=True)


def ref_industry_units(reports: pd.DataFrame, payers: pd.DataFrame, services: pd.DataFrame) -> pd.DataFrame:
    from impact.registers.schema import WAGE_INCOME_TYPES

    r = reports.copy()
    r = r[r["version"] >= r.groupby(["payer_id", "report_ref"])["version"].transform("max")]
    r = r[(r["action"] != "cancel") & r["income_type"].isin(list(WAGE_INCOME_TYPES)) & ~r["subsidised"].astype(bool)
          & (r["amount_eur"] > 0) & ~r["recovery"].fillna(False).astype(bool)]
    r = r.assign(m0=_month(r["pay_period_start"]), m1=_month(r["pay_period_end"]))
    s = services[services["censored"].notna() & ~services["censored"].fillna(True).astype(bool)].copy()
    s["first_month"] = (s["end_month"] + s["months_to_employment"]).astype(int)
    ind = dict(zip(payers["payer_id"], payers["industry"]))
    out = []
    for u in s.itertuples():  # test reference: a loop over ~100 units
        c = r[(r["person_id"] == u.person_id) & (r["m0"] <= u.first_month) & (r["m1"] >= u.first_month)]
        tot = c.groupby("payer_id")["amount_eur"].sum().reset_index().sort_values(["amount_eur", "payer_id"],
                                                                                   ascending=[False, True])
        payer = tot["payer_id"].iloc[0] if len(tot) else None
        i = ind.get(payer) if payer is not None else None
        out.append(dict(service_id=u.service_id, first_month=u.first_month,
                        first_payer_industry=i if isinstance(i, str) else "(unknown)"))
    return pd.DataFrame(out).sort_values("service_id").reset_index(drop=True)


def ref_koto(persons: pd.DataFrame, spells: pd.DataFrame, panel: pd.DataFrame, months) -> pd.DataFrame:
    """Koto counts per area and month: persons 15-64, employed, unemployed (spell, not employed), and the
    same for language 'other'."""
    emp = _employed_set(panel)
    s = spells.assign(s0=_month(spells["start_date"]),
                      s1=_month(spells["end_date"]).fillna(10**6))
    rows = []
    for m in months:  # a few months
        in_spell = set(s.loc[(s["s0"] <= m) & (s["s1"] >= m), "person_id"].astype(int))
        age = m // 12 - persons["birth_year"].astype(int)
        p = persons[(age >= 15) & (age <= 64)]
        e = np.array([(int(x), m) in emp for x in p["person_id"]], dtype=bool)
        u = np.array([int(x) in in_spell for x in p["person_id"]], dtype=bool) & ~e
        fl = (p["language"] == "other").to_numpy()
        d = pd.DataFrame({"employment_area": p["employment_area"].to_numpy(), "e": e, "u": u, "fl": fl})
        g = d.groupby("employment_area").agg(persons=("e", "size"), employed=("e", "sum"), unemployed=("u", "sum"),
                                             fl_persons=("fl", "sum"))
        g["fl_employed"] = d[d["fl"]].groupby("employment_area")["e"].sum()
        g["fl_unemployed"] = d[d["fl"]].groupby("employment_area")["u"].sum()
        rows.append(g.fillna(0).astype(int).reset_index().assign(month=m))
    return pd.concat(rows, ignore_index=True)
