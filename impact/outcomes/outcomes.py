"""Outcomes of evaluation units (service spells, job-seeking spells), as Ibis expressions.

An evaluation unit has a person, an *origin* (the date time to employment is counted
from) and an *end* (the date placement and earnings are counted from). A service spell's
origin is its end; a job-seeking spell's origin is its start. Month *h* after the end is
the calendar month ``end_month + h`` (the end month is month 0). An outcome whose months
reach past the last complete month of data is null (not observed), never zero.

All joins are equi-joins on ``person_id`` with range predicates on integer months (the hash
side is the unit table), plus equi-joins on small tables; no ASOF join, no unnest, no UDF.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir
import polars as pl

from impact.outcomes.config import OutcomeConfig
from impact.outcomes.panel import month_expr

# Exclusion rules on the unit tables: (rule, table, description).
UNIT_RULES = (
    ("service_ongoing", "service_spells", "service without an end date at extraction: no outcomes after the end"),
    ("service_starts_after_extraction", "service_spells", "service starting after the extraction date"),
    ("service_ends_after_extraction", "service_spells", "service ending after the extraction date"),
    ("spell_starts_after_extraction", "jobseeking_spells", "job-seeking spell starting after the extraction date"),
    ("spell_ends_after_extraction", "jobseeking_spells", "job-seeking spell ending after the extraction date"),
)


def _null_bool() -> ir.BooleanValue:
    return ibis.null("boolean")


def classify_services(services: ir.Table, extraction_date: dt.date) -> ir.Table:
    """Service spells with a ``drop_rule`` column (null = kept)."""
    s = services
    x = ibis.literal(extraction_date)
    rule = ibis.cases(
        (s.start_date > x, "service_starts_after_extraction"),
        (s.end_date.isnull(), "service_ongoing"),
        (s.end_date > x, "service_ends_after_extraction"),
        else_=ibis.null("string"))
    return s.mutate(drop_rule=rule)


def classify_spells(spells: ir.Table, extraction_date: dt.date) -> ir.Table:
    """Job-seeking spells with a ``drop_rule`` column (null = kept; ongoing spells are kept)."""
    s = spells
    x = ibis.literal(extraction_date)
    rule = ibis.cases(
        (s.start_date > x, "spell_starts_after_extraction"),
        (s.end_date.notnull() & (s.end_date > x), "spell_ends_after_extraction"),
        else_=ibis.null("string"))
    return s.mutate(drop_rule=rule)


def unit_exclusions(classified: ir.Table) -> ir.Table:
    c = classified.filter(classified.drop_rule.notnull())
    return c.group_by(rule=c.drop_rule).aggregate(rows=c.count())


def age_band_expr(age: ir.IntegerValue, bands: tuple[int, ...]) -> ir.IntegerValue:
    """Lower bound of the age band containing ``age`` (ages below the first bound get it too)."""
    cases = [(age >= b, b) for b in reversed(bands[1:])]
    return ibis.cases(*cases, else_=bands[0]) if cases else ibis.literal(bands[0])


def segment_baseline(panel: ir.Table, persons: ir.Table, cfg: OutcomeConfig, first_month: int,
                     last_month: int) -> ir.Table:
    """Cumulative segment mean of monthly earnings, for window means by two equi-joins.

    ``B[g, m]`` = total ``earnings_eur`` in month ``m`` of the persons whose segment in the
    calendar year of ``m`` is ``g``, divided by the number of persons in ``persons`` in that
    segment that year (people without reports count as zero). Returns the segment columns,
    ``month``, ``cum_base`` = sum of ``B[g, m']`` for ``m' <= m`` and ``cum_n`` = the number of
    those months in which ``B`` is defined (the segment has persons that year), for every
    segment and every month ``first_month`` .. ``last_month``.
    """
    seg = list(cfg.segment_by)
    other = [c for c in seg if c != "age_band"]
    with_age = "age_band" in seg
    # Fresh memtables: joining two expressions derived from one table confuses Ibis' join
    # dereferencing (self-join), so the month and year lists are built here.
    ms = ibis.memtable(pl.DataFrame({"month": list(range(first_month, last_month + 1))}, schema={"month": pl.Int32}))
    years = ibis.memtable(pl.DataFrame({"year": sorted({m // 12 for m in range(first_month, last_month + 1)})},
                                       schema={"year": pl.Int32}))
    # The non-age segment columns become one small integer cell per person, so the group-by
    # over every person-month hashes integers, not strings; the columns are joined back on
    # the small result. Null segment values form their own cell, as a group-by would.
    p = persons
    if other:
        q = persons.view()
        cells = q.select(*[q[c].name(f"k_{c}") for c in other]).distinct()
        cells = cells.mutate(cell=ibis.row_number().over(ibis.window(order_by=[cells[f"k_{c}"] for c in other])))
        pc = p.join(cells, [p[c].identical_to(cells[f"k_{c}"]) for c in other])
        pc = pc.select(c_person=pc.person_id, cell=pc.cell.cast("int32"), c_birth=pc.birth_year.cast("int32"))
    else:
        cells = None
        pc = p.select(c_person=p.person_id, cell=ibis.literal(0, "int32"), c_birth=p.birth_year.cast("int32"))
    keys = ["cell", "age_band"] if with_age else ["cell"]

    def cell_keys(t: ir.Table, year: ir.IntegerValue) -> dict:
        d = {"cell": t.cell}
        if with_age:
            d["age_band"] = age_band_expr(year - t.c_birth, cfg.age_bands)
        return d

    py = pc.cross_join(years)
    counts = py.group_by(year=py.year, **cell_keys(py, py.year)).aggregate(n_persons=py.count())
    pm = panel.filter((panel.month >= first_month) & (panel.month <= last_month))
    pj = pm.join(pc, pm.person_id == pc.c_person)
    sums = pj.group_by(month=pj.month, **cell_keys(pj, (pj.month // 12).cast("int32"))).aggregate(
        earn=pj.earnings_eur.sum())
    # Every segment gets every month, also the months of years in which nobody is in it (an
    # age band a cell's persons pass through): there B is undefined (null), and the cumulative
    # count of defined months lets a window containing such a month come out null while a
    # window next to it is still found at its edges.
    grid = counts.select(*keys).distinct().cross_join(ms)
    cn = counts.rename({f"n_{k}": k for k in [*keys, "year"]})
    grid = grid.left_join(cn, [grid[k] == cn[f"n_{k}"] for k in keys] + [(grid.month // 12).cast("int32") == cn.n_year])
    grid = grid.select(*keys, "month", "n_persons")
    s = sums.rename({f"s_{c}": c for c in [*keys, "month"]})
    gj = grid.left_join(s, [grid[c] == s[f"s_{c}"] for c in [*keys, "month"]])
    gj = gj.select(*keys, month=gj.month, base=gj.earn.fill_null(0.0) / gj.n_persons.cast("float64"),
                   defined=gj.n_persons.notnull().cast("int32"))
    w = ibis.window(group_by=[gj[c] for c in keys], order_by=gj.month, preceding=None, following=0)
    out = gj.select(*keys, month=gj.month, cum_base=gj.base.fill_null(0.0).sum().over(w),
                    cum_n=gj.defined.sum().over(w))
    if cells is not None:
        out = out.join(cells, out.cell == cells.cell)
    cols = {c: (out[f"k_{c}"] if c in other else out[c]) for c in seg}
    return out.select(**cols, month=out.month, cum_base=out.cum_base, cum_n=out.cum_n)


def _edge_offsets(cfg: OutcomeConfig) -> list[int]:
    """Month offsets from the end at which a window's cumulative baseline is read (end + a - 1, end + b)."""
    return sorted({a - 1 for a, _ in cfg.earnings_windows} | {b for _, b in cfg.earnings_windows})


def baseline_edges(baseline: ir.Table, cfg: OutcomeConfig) -> ir.Table:
    """The cumulative baseline at every window edge side by side, per segment and month.

    From :func:`segment_baseline` (every segment has every month): ``bw_<segment columns>``,
    ``bw_month`` and, for each edge offset ``o`` (end + a - 1 and end + b of each earnings
    window), ``cum{o}`` and ``n{o}``: ``cum_base`` and ``cum_n`` of month ``bw_month + o`` of the
    same segment (null past the last month). One window pass (lead by ``o`` rows), no self-join.
    """
    seg = list(cfg.segment_by)
    b = baseline
    w = ibis.window(group_by=[b[c] for c in seg], order_by=b.month)

    def at(col: ir.Column, off: int) -> ir.Column:
        return col if off == 0 else (col.lead(off) if off > 0 else col.lag(-off)).over(w)

    offs = _edge_offsets(cfg)
    return b.select(**{f"bw_{c}": b[c] for c in seg}, bw_month=b.month,
                    **{f"cum{o}": at(b.cum_base, o) for o in offs}, **{f"n{o}": at(b.cum_n, o) for o in offs})


def _with_months(units: ir.Table) -> ir.Table:
    return units.mutate(end_month=month_expr(units.end_date), start_month=month_expr(units.start_date))


def unit_window(units: ir.Table, panel: ir.Table, cfg: OutcomeConfig, last_month: int,
                first_from: tuple[str, ...] = ("end",)) -> ir.Table:
    """Per unit, aggregates of the panel months after its origin up to ``W`` months after its end.

    ``W`` is ``cfg.max_window``; the window starts after the start month when ``"start"`` is in
    ``first_from``, else after the end month. One row per unit with any panel row in the
    window: ``w_unit``, ``w_emp{h}`` (employed in month end+h), ``w_nemp{h}`` (employed months
    among end+1..end+h), ``w_earn{a}_{b}``, ``w_fe_month``/``w_fe_day`` (first employed month
    after the end within the window, its first work day) and, from the start,
    ``w_fs_month``/``w_fs_day``. :func:`unit_outcomes` reads it several times, so the pipeline
    materialises it once.
    """
    W = cfg.max_window
    P = panel.filter(panel.month <= last_month)
    u = _with_months(units)
    from_start = "start" in first_from

    # One range join per unit over the months after its origin up to W months after its end:
    # every bounded outcome, and the first employed month after the end (and after the start)
    # when it lies in that window. The first work day comes with it: work days lie inside
    # their month, so the smallest work day among employed months is the one of the first
    # employed month. Months are int32 on both sides (no cast per candidate pair).
    e32, s32 = u.end_month.cast("int32"), u.start_month.cast("int32")
    lo = s32 if from_start else e32
    hi = (e32.fill_null(last_month) if from_start else e32) + W
    ue = u.select(w_unit=u.unit_id, w_person=u.person_id, e=e32, s=s32, lo=lo, hi=hi)
    ue = ue.filter(ue.lo.notnull())
    j = ue.join(P, [ue.w_person == P.person_id, P.month > ue.lo, P.month <= ue.hi])
    rel = j.month - j.e
    after_end = rel >= 1
    # Flags and counts aggregate booleans (BOOL_OR, SUM of 0/1), cheaper than a CASE per
    # pair; a null flag (no end) counts as false where it is read.
    aggs: dict = {}
    for h in cfg.horizons:
        aggs[f"w_emp{h}"] = ((rel == h) & j.employed).max()
    for h in sorted({h for _, h in cfg.k_of_h}):
        aggs[f"w_nemp{h}"] = (after_end & (rel <= h) & j.employed).sum()
    for a, b in cfg.earnings_windows:
        aggs[f"w_earn{a}_{b}"] = ibis.cases(((rel >= a) & (rel <= b), j.earnings_eur), else_=0.0).sum()
    emp_after_end = after_end.fill_null(False) & j.employed
    aggs["w_fe_month"] = ibis.cases((emp_after_end, j.month), else_=ibis.null("int32")).min()
    aggs["w_fe_day"] = ibis.cases((emp_after_end, j.first_work_day), else_=ibis.null("int32")).min()
    if from_start:
        emp_after_start = (j.month > j.s) & j.employed
        aggs["w_fs_month"] = ibis.cases((emp_after_start, j.month), else_=ibis.null("int32")).min()
        aggs["w_fs_day"] = ibis.cases((emp_after_start, j.first_work_day), else_=ibis.null("int32")).min()
    return j.group_by(w_unit=j.w_unit).aggregate(**aggs)


def _ended_with_window(u: ir.Table, window: ir.Table) -> ir.Table:
    """Units with an end (``f_unit``, ``f_person``, ``f_e`` = end month) and their window aggregates."""
    found = u.select(f_unit=u.unit_id, f_person=u.person_id, f_e=u.end_month)
    return found.filter(found.f_e.notnull()).left_join(window, found.f_unit == window.w_unit)


def unit_late(units: ir.Table, panel: ir.Table, window: ir.Table, cfg: OutcomeConfig, last_month: int) -> ir.Table:
    """First employed month (and its first work day) more than ``W`` months after the end.

    Only for units with an end and no employed month in their :func:`unit_window` (an
    unbounded range join, so kept to these units): ``l_unit``, ``l_month``, ``l_day``.
    :func:`unit_outcomes` reads it twice, so the pipeline materialises it once.
    """
    W = cfg.max_window
    P = panel.filter(panel.month <= last_month)
    u = _with_months(units)
    E = P.filter(P.employed).select(x_person=P.person_id, x_month=P.month, x_day=P.first_work_day)
    found = _ended_with_window(u, window)
    miss = found.filter(found.w_fe_month.isnull())
    miss = miss.select(f_unit=miss.f_unit, f_person=miss.f_person, f_lo=(miss.f_e + W).cast("int32"))
    fj = miss.join(E, [miss.f_person == E.x_person, E.x_month > miss.f_lo])
    return fj.group_by(l_unit=fj.f_unit).aggregate(l_month=fj.x_month.min(), l_day=fj.x_day.min())


def unit_outcomes(units: ir.Table, panel: ir.Table, spells: ir.Table, baseline: ir.Table | None,
                  persons: ir.Table | None, cfg: OutcomeConfig, last_month: int,
                  first_from: tuple[str, ...] = ("end",), window: ir.Table | None = None,
                  late: ir.Table | None = None, edges: ir.Table | None = None) -> ir.Table:
    """Outcomes of evaluation units.

    Parameters
    ----------
    units
        ``unit_id``, ``person_id``, ``start_date``, ``end_date`` (null: ongoing) and any
        attributes to carry through.
    panel
        The earnings panel (:func:`impact.outcomes.panel.earnings_panel`).
    spells
        Job-seeking spells (``person_id``, ``start_date``) for the return to job-seeking.
    baseline
        :func:`segment_baseline` (``None``: no relative earnings).
    first_from
        Origins of time to employment: ``"end"`` (from the end month) and/or ``"start"``.
        The return to job-seeking is counted from the first employed month after the end.
    window
        :func:`unit_window` of these units, materialised (``None``: computed inline).
    late
        :func:`unit_late` of these units and that window, materialised (``None``: inline).
    edges
        :func:`baseline_edges` of ``baseline``, materialised (``None``: inline).

    Returns
    -------
    The unit table with, per unit: ``placed_{h}m`` (open-market employed in month end+h),
    ``employed_{k}_of_{h}m`` (employed in at least k of months end+1..end+h),
    ``months_to_employment[_from_start]``, ``censored[_from_start]``,
    ``days_to_employment[_from_start]``, ``earnings_{a}_{b}m`` (mean monthly earnings over
    months end+a..end+b), ``baseline_{a}_{b}m`` and ``rel_earnings_{a}_{b}m`` (over the segment
    baseline of the same months), ``returned_{w}m`` (a new job-seeking spell starts in the w
    months after the first employed month after the end). Null where the needed months pass
    ``last_month``.

    Notes
    -----
    Each piece (bounded window, first employment, return) is its own small aggregate keyed
    by unit, built from the base unit table; the segment baseline comes in by the unit's
    person and its segment and end month (one equi-join on the baseline's window edges side
    by side). One chain of left joins and a single final projection assemble them (deriving
    pieces from the growing result would make the expression tree, and its compile time,
    explode). The rows come in no particular order.
    """
    u = _with_months(units)

    # 1. The bounded window after the origin (see unit_window).
    w = window if window is not None else unit_window(units, panel, cfg, last_month, first_from)
    pieces = [(w, "w_unit")]

    # 2. Units with an end and no employed month in that window: the first employed month
    #    beyond it (see unit_late). It is also the first after the start when none was found
    #    after the start.
    if late is None:
        late = unit_late(units, panel, w, cfg, last_month)
    pieces.append((late, "l_unit"))
    found = _ended_with_window(u, w)
    fl = found.left_join(late, found.f_unit == late.l_unit)
    fe_end = fl.select(fe_unit=fl.f_unit, fe_person=fl.f_person, fe_month=fl.w_fe_month.fill_null(fl.l_month))
    fe_end = fe_end.filter(fe_end.fe_month.notnull())

    # 3. return to job-seeking after the first employed month after the end.
    if cfg.return_windows:
        R = max(cfg.return_windows)
        sp = spells.select(s_person=spells.person_id, s_month=month_expr(spells.start_date))
        fu = fe_end
        rj = fu.join(sp, [fu.fe_person == sp.s_person, sp.s_month >= fu.fe_month + 1, sp.s_month <= fu.fe_month + R])
        ret = rj.group_by(rt_unit=rj.fe_unit).aggregate(
            **{f"rt{w}": ibis.cases((rj.s_month <= rj.fe_month + w, 1), else_=0).max() for w in cfg.return_windows})
        pieces.append((ret, "rt_unit"))

    # 4. segment baseline over the same calendar months: the cumulative baseline at every
    #    window edge (end + a - 1 and end + b) side by side on one row per segment and month
    #    (baseline_edges), then one equi-join per unit on its segment in the end year and its
    #    end month.
    seg = list(cfg.segment_by)
    with_baseline = baseline is not None and persons is not None
    out = u
    if with_baseline:
        bw = edges if edges is not None else baseline_edges(baseline, cfg)
        pc = persons.select(c_person=persons.person_id, c_birth=persons.birth_year,
                            **{f"c_{c}": persons[c] for c in seg if c != "age_band"})
        out = out.left_join(pc, out.person_id == pc.c_person)
        ukey = {c: out[f"c_{c}"] for c in seg if c != "age_band"}
        if "age_band" in seg:
            ukey["age_band"] = age_band_expr(out.end_date.year().cast("int32") - out.c_birth.cast("int32"),
                                             cfg.age_bands)
        out = out.left_join(bw, [ukey[c] == bw[f"bw_{c}"] for c in seg] + [out.end_month == bw.bw_month])

    for piece, key in pieces:
        out = out.left_join(piece, out.unit_id == piece[key])
    e = out.end_month

    def observed(h: int) -> ir.BooleanValue:
        return e.notnull() & (e + h <= last_month)

    cols: dict = {}
    for h in cfg.horizons:
        cols[f"placed_{h}m"] = ibis.cases((observed(h), out[f"w_emp{h}"].fill_null(False)), else_=_null_bool())
    for k, h in cfg.k_of_h:
        cols[f"employed_{k}_of_{h}m"] = ibis.cases((observed(h), out[f"w_nemp{h}"].fill_null(0) >= k),
                                                   else_=_null_bool())
    earn = {}
    for a, b in cfg.earnings_windows:
        earn[(a, b)] = ibis.cases((observed(b), out[f"w_earn{a}_{b}"].fill_null(0.0) / (b - a + 1)),
                                  else_=ibis.null("float64"))
        cols[f"earnings_{a}_{b}m"] = earn[(a, b)]
    origins = {"end": ("end_month", "end_date", "", "fe"), "start": ("start_month", "start_date", "_from_start", "fs")}
    first = {}
    for which in first_from:
        key = origins[which][3]
        in_window = out[f"w_{key}_month"].notnull()
        first[key] = (ibis.cases((in_window, out[f"w_{key}_month"]), else_=out.l_month),
                      ibis.cases((in_window, out[f"w_{key}_day"]), else_=out.l_day))
    for which in first_from:
        mcol, dcol, sfx, key = origins[which]
        fm, fd = first[key]
        hit = fm.notnull()
        cols[f"months_to_employment{sfx}"] = ibis.cases(
            (hit, fm - out[mcol]),
            (out[mcol].notnull(), ibis.literal(last_month) - out[mcol]),
            else_=ibis.null("int32")).cast("int32")
        cols[f"censored{sfx}"] = ibis.cases((out[mcol].notnull(), ~hit), else_=_null_bool())
        cols[f"days_to_employment{sfx}"] = ibis.cases(
            (hit, fd - out[dcol].epoch_days().cast("int32")), else_=ibis.null("int32")).cast("int32")
    f = first["fe"][0] if "fe" in first else ibis.null("int32")
    for w in cfg.return_windows:
        cols[f"returned_{w}m"] = ibis.cases((f.notnull() & (f + w <= last_month), out[f"rt{w}"].fill_null(0) == 1),
                                            else_=_null_bool())
    if with_baseline:
        for a, b in cfg.earnings_windows:
            mean = (out[f"cum{b}"] - out[f"cum{a - 1}"]) / (b - a + 1)
            # defined in every month of the window (the segment has persons in each of its years)
            full = (out[f"n{b}"] - out[f"n{a - 1}"]) == (b - a + 1)
            base = ibis.cases((earn[(a, b)].notnull() & full, mean), else_=ibis.null("float64"))
            cols[f"baseline_{a}_{b}m"] = base
            # The baseline is a difference of cumulative sums: below a millionth of a euro it is zero.
            cols[f"rel_earnings_{a}_{b}m"] = ibis.cases((base > 1e-6, earn[(a, b)] / base),
                                                        else_=ibis.null("float64"))
    return out.select(*units.columns, "end_month", "start_month", **cols)
