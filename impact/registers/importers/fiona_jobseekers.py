"""The job-seeker register (FIONA modules and FOLK spell files) -> persons, spells, services.

* ``persons`` from the person data (YHENK: birth year, sex, language, basic education; the
  latest home municipality of YHKUNTA; the latest education code of YHKOUL) and the employment
  area of the municipality (``--areas`` CSV; without it each municipality is its own area);
* ``jobseeking_spells`` from YTHAKU (or FOLK tyonh24): the 11.11.2222 open-end marker becomes
  an open spell, a spell delivered open and later closed is kept once (closed), the status at
  the start from the YTYOLL status spell covering the start, the segment from the service line
  (YASSEGMENTTI) covering it, the municipality from YHKUNTA;
* ``service_spells`` from YSIJOIT (pay subsidy by sector, start-up grant; the employer kept for
  the subsidised flag), YTKOKE (work trial), YTYOKOU + KTYOKOU (labour market training by
  subtype, coaching, integration training; course and provider), YTVPOLL statements that open
  a service period (rehabilitative work, self-motivated study, coaching), FOLK sijoi24/tyovk24;
  the same service in several modules is kept once; costs from a cost table or per-month rates;
* ``integration_plans`` from YTHAKSU plans of type 01.

Every step is an Ibis expression (:mod:`impact.registers.importers.tables`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import polars as pl
from ibis import _

from impact.registers.importers.log import ImportRefused
from impact.registers.importers.roles import role_tables
from impact.registers.importers.subsidy import EMPLOYERS_TABLE
from impact.registers.importers.tables import as_of, code_table, dedupe_spells, materialise, open_end, translate
from impact.registers.schema import CONTRACTS

ROLES = ("yhenk", "yhkunta", "yhkoul", "yassegmentti", "ythaku", "ytyoll", "ysijoit", "ytkoke", "ytyokou", "ktyokou",
         "ytvpoll", "ythaksu", "folk_tyonh", "folk_sijoi", "folk_tyovk", "service_costs")
#: When one service comes from several modules, the first in this order is kept.
SERVICE_PRIORITY = ("ysijoit", "ytkoke", "ytyokou", "folk_sijoi", "folk_tyovk", "ytvpoll")
MAX_PER_PERSON = 1000


def run_fiona_jobseekers(ctx: Any) -> Any:
    from impact.registers.importers.tables import Produced

    t = role_tables(ctx, list(ROLES))
    ns = {**dict(ctx.mapping.get("namespaces", {})), **ctx.options.namespaces}
    person_ns, employer_ns = ns.get("person", "hid_e"), ns.get("employer", "ytunnus_s")
    for role, tab in list(t.items()):
        if "end" in tab.columns:
            t[role] = tab.mutate(end=open_end(tab.end))
    _extend_keys(ctx, t, person_ns, employer_ns)
    tables: dict[str, ir.Table] = {}
    if "yhenk" in t:
        tables["persons"] = _persons(ctx, t, person_ns)
    spells = t.get("ythaku", t.get("folk_tyonh"))
    if spells is not None:
        tables["jobseeking_spells"] = _jobseeking(ctx, t, spells, person_ns)
    services, employers, costs_from = _services(ctx, t, person_ns, employer_ns)
    if services is not None:
        tables["service_spells"] = services
        tables[EMPLOYERS_TABLE] = employers
    if "ythaksu" in t:
        tables["integration_plans"] = _plans(ctx, t["ythaksu"], person_ns)
    if not tables:
        raise ImportRefused("fiona-jobseekers: none of the sources gives persons (yhenk), job-seeking spells "
                            "(ythaku, folk_tyonh) or services")
    if ctx.options.areas is not None:
        tables["areas"] = ibis.memtable(area_classification(ctx.options.areas))
    entry = {"source_kind": "fiona-jobseekers", "roles": sorted(t), "namespaces": {"person": person_ns,
                                                                                   "employer": employer_ns},
             "extraction_date": None, "service_costs": costs_from,
             "areas": str(ctx.options.areas) if ctx.options.areas else "none: each municipality is its own area"}
    return Produced(tables=tables, entry=entry)


def _extend_keys(ctx: Any, t: dict[str, ir.Table], person_ns: str, employer_ns: str) -> None:
    ids = [tab.filter(tab.person.notnull()).select(kind=ibis.literal("person"), namespace=ibis.literal(person_ns),
                                                   source_id=tab.person)
           for tab in t.values() if "person" in tab.columns]
    if "ysijoit" in t:
        y = t["ysijoit"]
        ids.append(y.filter(y.employer.notnull()).select(kind=ibis.literal("payer"), namespace=ibis.literal(employer_ns),
                                                         source_id=y.employer))
    if ids:
        u = ids[0]
        for x in ids[1:]:
            u = u.union(x)
        ctx.keys.extend(u)


def _pid(ctx: Any, t: ir.Table, person_ns: str) -> ir.Table:
    t = t.mutate(_ns=ibis.literal(person_ns))
    return ctx.keys.lookup(t, "person", "_ns", "person", "person_id").drop("_ns")


def _latest(t: ir.Table, value: str) -> ir.Table:
    """Per person the value of the row starting last (open rows first among equal starts)."""
    order = [ibis.desc(_.start.fill_null(ibis.date("1900-01-01"))), _.end.isnull().cast("int8").desc(),
             ibis.desc(_._src_file), ibis.desc(_._src_row)]
    rn = ibis.row_number().over(group_by=_.person, order_by=order)
    return t.filter(t[value].notnull()).mutate(_rn=rn).filter(_._rn == 0).select("person", value)


def _persons(ctx: Any, t: dict[str, ir.Table], person_ns: str) -> ir.Table:
    m, log, files = ctx.mapping, ctx.log, ctx.files
    miss = dict(m.get("missing", {}))
    p = t["yhenk"]
    order = ibis.row_number().over(group_by=_.person, order_by=[ibis.desc(_._src_file), ibis.desc(_._src_row)])
    dups = p.count().to_pyarrow().as_py() - p.select("person").distinct().count().to_pyarrow().as_py()
    log.count("persons_repeated", dups, "person rows repeated across deliveries: the latest delivery's row kept")
    p = materialise(p.mutate(_rn=order).filter(_._rn == 0).drop("_rn"))
    p = translate(p, "sex", m.codes("sex"), "_sex", "sex", log, files)
    p = translate(p, "language", m.codes("language"), "_language", "language", log, files, missing=miss["language"])
    if "yhkoul" in t:
        ed = _latest(t["yhkoul"], "education")
        ed = ed.select(_ep=ed.person, _lvl=ed.education.substr(0, 1))
        p = p.left_join(ed, p.person == ed._ep).drop("_ep")
    else:
        p = p.mutate(_lvl=ibis.null("string"))
    lvl = code_table(m.codes("education_level"))
    base = code_table(m.codes("basic_education"))
    l1 = lvl.select(_l1=lvl._code, _edu1=lvl._value)
    p = p.left_join(l1, p._lvl == l1._l1)
    l2 = base.select(_l2=base._code, _edu2=base._value)
    p = p.left_join(l2, p.basic_education == l2._l2)
    n_missing = p.filter(p._edu1.isnull() & p._edu2.isnull()).count().to_pyarrow().as_py()
    log.count("education_missing", n_missing, f"persons without a usable education code: education = "
              f"{miss['education']!r} (the contract has no 'unknown')")
    p = materialise(p.mutate(_education=ibis.coalesce(p._edu1, p._edu2, ibis.literal(miss["education"]))))
    if "yhkunta" in t:
        mu = _latest(t["yhkunta"], "municipality")
        mu = mu.select(_mp=mu.person, _muni=mu.municipality)
        p = p.left_join(mu, p.person == mu._mp)
    else:
        p = p.mutate(_muni=ibis.null("string"))
    n_no_muni = p.filter(p._muni.isnull()).count().to_pyarrow().as_py()
    log.count("municipality_missing", n_no_muni, f"persons without a home municipality: {miss['municipality']!r}")
    p = p.mutate(_muni=p._muni.fill_null(miss["municipality"]).lpad(3, "0"))
    p = _areas(ctx, p)
    p = _pid(ctx, p, person_ns)
    out = p.select(person_id=p.person_id, birth_year=p.birth_year.cast("int16"), sex=p._sex,
                   education=p._education, language=p._language, municipality=p._muni,
                   employment_area=p._area)
    return out.select(*CONTRACTS["persons"].column_names)


def area_classification(path: str | Path) -> pl.DataFrame:
    """The delivery's area classification from a CSV ``municipality,employment_area`` (the ``areas`` table).

    Raises
    ------
    ImportRefused
        Columns missing, or a municipality listed with two different areas.
    """
    df = pl.read_csv(path, infer_schema=False)
    cols = {c.lower(): c for c in df.columns}
    if "municipality" not in cols or "employment_area" not in cols:
        raise ImportRefused(f"{path}: expected columns municipality,employment_area; got {df.columns}")
    df = df.select(municipality=pl.col(cols["municipality"]).str.strip_chars().str.zfill(3),
                   employment_area=pl.col(cols["employment_area"]).str.strip_chars()).unique()
    twice = df.filter(pl.col("municipality").is_duplicated())
    if twice.height:
        m = twice.sort("municipality").row(0, named=True)["municipality"]
        raise ImportRefused(f"{path}, column municipality: {m} is listed with two employment areas; expected one "
                            "area per municipality")
    return df.sort("municipality")


def _areas(ctx: Any, p: ir.Table) -> ir.Table:
    path = ctx.options.areas
    if path is None:
        ctx.log.note("no --areas table: each municipality is its own employment area (employment_area = "
                     "municipality code)")
        return p.mutate(_area=p._muni)
    df = area_classification(path).rename({"municipality": "_am", "employment_area": "_area"})
    a = ibis.memtable(df)
    p = p.left_join(a, p._muni == a._am).drop("_am")
    n = p.filter(p._area.isnull()).count().to_pyarrow().as_py()
    ctx.log.count("municipality_without_area", n, f"persons whose municipality is not in {path}: employment_area "
                  "= municipality code")
    return p.mutate(_area=p._area.fill_null(p._muni))


def _jobseeking(ctx: Any, t: dict[str, ir.Table], spells: ir.Table, person_ns: str) -> ir.Table:
    m, log, files = ctx.mapping, ctx.log, ctx.files
    miss = dict(m.get("missing", {}))
    s = dedupe_spells(spells, ["person", "start"], log, "jobseeking")
    s = translate(s, "end_reason", m.codes("end_reason"), "_reason", "end_reason", log, files, null_ok=True)
    s = materialise(s.mutate(_sk=ibis.row_number()))
    if "ytyoll" in t:
        st = dedupe_spells(t["ytyoll"], ["person", "start"], log, "status")
        s = _at_start(ctx, s, st, "status", "int8", null_ok=False)
    elif "status" in s.columns:  # FOLK tyonh24 carries the status on the spell
        s = translate(s, "status", m.codes("status"), "_status", "status", log, files, dtype="int8", null_ok=True)
    else:
        s = s.mutate(_status=ibis.null("int8"))
    s = _at_start(ctx, s, t.get("yassegmentti"), "segment", "string", null_ok=True)
    for col, what in (("_status", "an employment status (YTYOLL)"), ("_segment", "a service line (YASSEGMENTTI)")):
        n = s.filter(s[col].isnull()).count().to_pyarrow().as_py()
        log.count(f"{col[1:]}_missing", n, f"job-seeking spells without {what} at their start: "
                  f"{col[1:]} = {miss[col[1:]]!r}")
    if "yhkunta" in t:
        mu = t["yhkunta"].mutate(start=_.start.fill_null(ibis.date("1900-01-01")))
        s = materialise(as_of(s, mu, "person", "start", "_sk", ["municipality"], "_m_"))
    else:
        s = s.mutate(_m_municipality=ibis.null("string"))
    s = materialise(_pid(ctx, s, person_ns))
    rank = ibis.row_number().over(group_by=_.person_id, order_by=[_.start, _._sk])
    s = s.mutate(_k=rank + 1)
    _check_per_person(s, "job-seeking spells", ctx)
    open_ = s.end.isnull()
    out = s.select(person_id=s.person_id, spell_id=s.person_id * MAX_PER_PERSON + s._k, start_date=s.start,
                   end_date=s.end, status_at_start=s._status.fill_null(int(miss["status"])).cast("int8"),
                   end_reason=ibis.cases((open_, ibis.null("string")), else_=s._reason),
                   segment=s._segment.fill_null(miss["segment"]),
                   municipality=s._m_municipality.fill_null(miss["municipality"]).lpad(3, "0"))
    return out.select(*CONTRACTS["jobseeking_spells"].column_names)


def _at_start(ctx: Any, s: ir.Table, tab: ir.Table | None, column: str, dtype: str, null_ok: bool) -> ir.Table:
    """``s`` with ``_<column>``: the mapped code of the ``tab`` row covering each spell's start."""
    if tab is None:
        return s.mutate(**{f"_{column}": ibis.null(dtype)})
    tab = translate(tab, column, ctx.mapping.codes(column), f"_{column}", column, ctx.log, ctx.files, dtype=dtype,
                    null_ok=null_ok)
    return materialise(as_of(s, tab, "person", "start", "_sk", [f"_{column}"], ""))


def _check_per_person(s: ir.Table, what: str, ctx: Any) -> None:
    top = s.aggregate(k=s._k.max()).to_pyarrow().to_pylist()[0]["k"] or 0
    if top >= MAX_PER_PERSON:
        raise ImportRefused(f"{what}: a person has {top} of them; ids are person_id * {MAX_PER_PERSON} + number, "
                            f"so at most {MAX_PER_PERSON - 1} per person")


# -- services ----------------------------------------------------------------------------------

_SERVICE_COLUMNS = {"person": "string", "start": "date", "end": "date", "service_type": "string",
                    "subtype": "string", "end_reason": "int8", "provider_id": "string", "course_id": "string",
                    "sector": "int8", "employer": "string", "_prio": "int8", "_src_file": "int32", "_src_row": "int64"}


def _norm(t: ir.Table, role: str, **cols: Any) -> ir.Table:
    vals = {}
    for c, typ in _SERVICE_COLUMNS.items():
        v = cols.get(c, t[c] if c in t.columns else None)
        vals[c] = (v if v is not None else ibis.null(typ)).cast(typ)
    vals["_prio"] = ibis.literal(SERVICE_PRIORITY.index(role), "int8")
    return t.select(**vals)


def _services(ctx: Any, t: dict[str, ir.Table], person_ns: str, employer_ns: str):
    m, log, files = ctx.mapping, ctx.log, ctx.files
    parts = []
    sector_codes = m.codes("sector")
    for role in ("ysijoit", "folk_sijoi"):
        if role in t:
            y = dedupe_spells(t[role], ["person", "start", "measure"], log, role)
            y = translate(y, "measure", m.codes("measure"), "service_type", "measure", log, files)
            y = translate(y, "end_reason", m.codes("placement_end_reason"), "_er", "placement_end_reason", log,
                          files, dtype="int8", null_ok=True)
            y = translate(y, "sector", sector_codes, "_sector", "sector", log, files, dtype="int8", null_ok=True)
            private = y._sector.isin([4, 5])
            sub = ibis.cases((y.service_type == "pay_subsidy", ibis.cases((private, "firm"), else_="public")),
                             else_=ibis.null("string"))
            parts.append(_norm(y, role, subtype=sub, end_reason=y._er,
                               sector=ibis.cases((y.service_type == "startup_grant", ibis.null("int8")),
                                                 else_=y._sector)))
    if "ytkoke" in t:
        k = dedupe_spells(t["ytkoke"], ["person", "start"], log, "ytkoke")
        k = translate(k, "trial", m.codes("trial"), "service_type", "trial", log, files, missing="work_trial")
        k = translate(k, "sector", sector_codes, "_sector", "sector", log, files, dtype="int8", null_ok=True)
        parts.append(_norm(k, "ytkoke", sector=k._sector))
    if "ytyokou" in t:
        parts.append(_training(ctx, t))
    if "folk_tyovk" in t:
        f = dedupe_spells(t["folk_tyovk"], ["person", "start"], log, "folk_tyovk")
        f = translate(f, "training", m.codes("folk_training"), "_sub", "folk_training", log, files, null_ok=True)
        parts.append(_norm(f, "folk_tyovk", service_type=ibis.literal("training"), subtype=f._sub))
    if "ytvpoll" in t:
        v = t["ytvpoll"]
        svc = code_table(m.codes("statement_service"))
        v = v.inner_join(svc, v.statement == svc._code)
        n_all = t["ytvpoll"].count().to_pyarrow().as_py()
        n_svc = v.count().to_pyarrow().as_py()
        log.count("statements_not_services", n_all - n_svc,
                  "YTVPOLL statements whose code does not open a service period (skipped)")
        v = dedupe_spells(v, ["person", "start", "_value"], log, "ytvpoll")
        parts.append(_norm(v, "ytvpoll", service_type=v._value))
    if not parts:
        return None, None, None
    u = parts[0]
    for x in parts[1:]:
        u = u.union(x)
    u = materialise(u)
    n_all = u.count().to_pyarrow().as_py()
    rn = ibis.row_number().over(group_by=[_.person, _.start, _.service_type],
                                order_by=[_._prio, ibis.desc(_._src_file), ibis.desc(_._src_row)])
    u = materialise(u.mutate(_rn=rn).filter(_._rn == 0).drop("_rn"))
    log.count("service_in_several_modules", n_all - u.count().to_pyarrow().as_py(),
              "the same service (person, start, type) in several modules: kept once (placements, trials, training "
              "before statements)")
    u, costs_from = _costs(ctx, t, u)
    u = materialise(_pid(ctx, u, person_ns))
    u = u.mutate(_sk=ibis.row_number())
    u = u.mutate(_k=ibis.row_number().over(group_by=_.person_id, order_by=[_.start, _.service_type, _._sk]) + 1)
    _check_per_person(u, "service spells", ctx)
    u = u.mutate(service_id=u.person_id * MAX_PER_PERSON + u._k)
    out = u.select(person_id=u.person_id, service_id=u.service_id, service_type=u.service_type,
                   subtype=ibis.cases((u.subtype == "", ibis.null("string")), else_=u.subtype),
                   start_date=u.start, end_date=u.end,
                   end_reason=ibis.cases((u.end.isnull(), ibis.null("int8")), else_=u.end_reason),
                   provider_id=u.provider_id, course_id=u.course_id, cost_eur=u._cost,
                   employer_sector=u.sector)
    emp = u.filter(u.employer.notnull()).mutate(_ens=ibis.literal(employer_ns))
    emp = ctx.keys.lookup(emp, "payer", "_ens", "employer", "payer_id")
    employers = emp.select("service_id", "person_id", "payer_id")
    return out.select(*CONTRACTS["service_spells"].column_names), employers, costs_from


def _training(ctx: Any, t: dict[str, ir.Table]) -> ir.Table:
    m, log, files = ctx.mapping, ctx.log, ctx.files
    y = dedupe_spells(t["ytyokou"], ["person", "start", "course"], log, "ytyokou")
    if "started" in y.columns:
        n = y.filter(y.started == "0").count().to_pyarrow().as_py()
        log.count("training_not_started", n, "YTYOKOU rows with alkood 0 (did not start the training): skipped")
        y = y.filter(y.started.isnull() | (y.started != "0"))
    if "ktyokou" in t:
        c = t["ktyokou"]
        c = c.mutate(_rn=ibis.row_number().over(group_by=_.course, order_by=ibis.desc(_._src_file))).filter(_._rn == 0)
        c = c.select(_course=c.course, course_kind=c.course_kind, special_group=c.special_group, provider=c.provider)
        y = y.left_join(c, y.course == c._course).drop("_course")
    else:
        y = y.mutate(course_kind=ibis.null("string"), special_group=ibis.null("string"), provider=ibis.null("string"))
    y = translate(y, "course_kind", m.codes("course_kind"), "_kind", "course_kind", log, files, missing="training")
    grp = code_table(m.codes("integration_groups"))
    grp = grp.select(_g=grp._code, _integ=grp._value)
    y = y.left_join(grp, y.special_group == grp._g)
    y = y.mutate(_stype=ibis.cases((y._kind == "training", y._integ.fill_null("training")), else_=y._kind))
    y = translate(y, "training_kind", m.codes("training_kind"), "_sub", "training_kind", log, files, null_ok=True)
    y = translate(y, "end_reason", m.codes("training_end_reason"), "_er", "training_end_reason", log, files,
                  dtype="int8", null_ok=True)
    return _norm(y, "ytyokou", service_type=y._stype,
                 subtype=ibis.cases((y._stype == "training", y._sub), else_=ibis.null("string")),
                 end_reason=y._er, provider_id=y.provider, course_id=y.course)


def _costs(ctx: Any, t: dict[str, ir.Table], u: ir.Table) -> tuple[ir.Table, str]:
    """``_cost`` per service: from the cost table, else per-month rates, else 0 (counted)."""
    rates = {k: float(v) for k, v in dict(ctx.mapping.get("cost_per_month", {})).items()}
    u = u.mutate(_months=((u.end.fill_null(u.start).epoch_days() - u.start.epoch_days() + 1) / 30.4375))
    if rates:
        r = ibis.memtable(pl.DataFrame({"_rt": list(rates), "_rate": list(rates.values())}))
        u = u.left_join(r, u.service_type == r._rt).drop("_rt")
    else:
        u = u.mutate(_rate=ibis.null("float64"))
    if "service_costs" in t:
        c = t["service_costs"]
        c = c.group_by(["person", "service_type", "start"]).aggregate(_c=c.cost.sum())
        c = c.select(_cp=c.person, _ct=c.service_type, _cs=c.start, _c=c._c)
        u = u.left_join(c, [u.person == c._cp, u.service_type == c._ct, u.start == c._cs]).drop("_cp", "_ct", "_cs")
    else:
        u = u.mutate(_c=ibis.null("float64"))
    n = u.aggregate(table=u._c.notnull().cast("int64").sum(), rate=(u._c.isnull() & u._rate.notnull()).cast(
        "int64").sum(), none=(u._c.isnull() & u._rate.isnull()).cast("int64").sum()).to_pyarrow().to_pylist()[0]
    ctx.log.count("cost_from_rates", int(n["rate"] or 0), "service costs from the mapping's cost_per_month rates")
    ctx.log.count("cost_missing", int(n["none"] or 0), "services without a cost (no cost table row, no rate): "
                  "cost_eur = 0")
    parts = [k for k, v in (("cost table", n["table"]), ("per-month rates", n["rate"]), ("none (0)", n["none"])) if v]
    u = u.mutate(_cost=ibis.coalesce(u._c, (u._rate * u._months).round(2), ibis.literal(0.0)))
    return u.drop("_months", "_rate", "_c"), ", ".join(parts) or "none"


def _plans(ctx: Any, p: ir.Table, person_ns: str) -> ir.Table:
    codes = code_table(ctx.mapping.codes("plan"))
    n_all = p.count().to_pyarrow().as_py()
    p = p.inner_join(codes, p.plan == codes._code)
    ctx.log.count("plans_not_integration", n_all - p.count().to_pyarrow().as_py(),
                  "YTHAKSU plans of other types (employment, activation plans): skipped")
    p = p.mutate(_rn=ibis.row_number().over(group_by=[_.person, _.date, _._value],
                                            order_by=ibis.desc(_._src_file))).filter(_._rn == 0)
    p = _pid(ctx, p, person_ns)
    p = p.mutate(_k=ibis.row_number().over(group_by=_.person_id, order_by=_.date) + 1)
    return p.select(plan_id=p.person_id * MAX_PER_PERSON + p._k, person_id=p.person_id, plan_date=p.date,
                    plan_type=p._value)


__all__ = ["ROLES", "run_fiona_jobseekers"]
