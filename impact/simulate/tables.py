"""Register tables of one simulated block: persons, spells, services, pay and benefit reports.

Everything is derived from the realised person-month path of :mod:`impact.simulate.engine`
(``state``, ``jobkey``, ``earn``) so that the registers and the truth agree by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from impact.registers.schema import CONTRACTS
from impact.simulate.engine import (E, JOB_FLIP, JOB_PAY, JOB_REFORM, PAY, STU, SVC, U, VNAMES,
                                    BlockSimulator, hash_unit)
from impact.simulate.scenario import VARIANTS

JOB_SIDE = 4000  # job key of side jobs in the report tables
EDU = np.array(["basic", "upper_secondary", "tertiary"])
LANG = np.array(["fi", "sv", "other"])
SEG = np.array(["00", "01", "02", "03", "04", "05"])

_N_REASONS = 14  # job-seeking spell end reasons "00".."13"
# job-seeking spell end reason when the next state is a service variant
_SVC_END_REASON = {
    "training_vocational": "04", "training_preparatory": "04", "integration_training": "04",
    "pay_subsidy_firm": "00", "pay_subsidy_public": "00", "startup_grant": "06",
    "coaching": "11", "work_trial": "11", "rehabilitative_work": "12", "self_motivated_study": "13",
}


def _dates(month_abs: np.ndarray, day: np.ndarray) -> np.ndarray:
    """numpy datetime64[D] from absolute month indexes and day of month."""
    y = month_abs // 12
    m = month_abs % 12
    first = (y - 1970) * 12 + m
    return first.astype("datetime64[M]").astype("datetime64[D]") + (np.asarray(day) - 1).astype("timedelta64[D]")


def _month_end(month_abs: np.ndarray) -> np.ndarray:
    return _dates(month_abs + 1, np.ones_like(month_abs)) - np.timedelta64(1, "D")


def labels(values: Sequence[str | None], idx: np.ndarray) -> pl.Series:
    """String column ``values[idx]`` built by a gather from the few distinct labels.

    Much faster than a numpy string array (polars converts those element by element);
    a ``None`` among ``values`` gives nulls.
    """
    return pl.Series(values=list(values), dtype=pl.String).gather(np.asarray(idx, dtype=np.int64))


def area_codes(n_areas: int) -> list[str]:
    """Employment-area codes EA01, EA02, ... (index = area)."""
    return [f"EA{a:02d}" for a in range(1, n_areas + 1)]


def muni_codes(muni_code: np.ndarray) -> list[str]:
    """3-digit municipality codes (index = municipality of the geography)."""
    return [f"{int(m):03d}" for m in muni_code]


def _date_col(x: np.ndarray) -> pl.Series:
    """polars Date column from numpy datetime64[D] (NaT -> null), via the day numbers."""
    days = np.asarray(x, "datetime64[D]").view(np.int64)
    out = pl.Series(days.astype(np.int32)).cast(pl.Date)
    nat = days == np.iinfo(np.int64).min
    return out.set(pl.Series(nat), None) if nat.any() else out


def _cast(df: pl.DataFrame, name: str) -> pl.DataFrame:
    c = CONTRACTS[name]
    cols = [col for col in c.columns if col.name in df.columns]
    return df.select([pl.col(col.name).cast(col.dtype) for col in cols])


class BlockTables:
    """Builds the register tables of a block from a finished :class:`BlockSimulator`."""

    def __init__(self, sim: BlockSimulator, result: dict, cfg: dict):
        self.sim, self.res, self.cfg = sim, result, cfg
        self.m0, self.T = sim.m0, sim.T
        self.P = result["P"]
        self.extraction = np.datetime64(cfg["simulation"]["extraction_date"])

    # -- persons ------------------------------------------------------------------------
    def persons(self) -> pl.DataFrame:
        P, geo = self.P, self.sim.geo
        birth = (self.m0 // 12 - np.floor(P.age0)).astype(np.int16)
        df = pl.DataFrame({
            "person_id": P.pid,
            "birth_year": birth,
            "sex": labels(["M", "F"], P.female),
            "education": labels(EDU, P.edu),
            "language": labels(LANG, P.lang),
            "municipality": labels(muni_codes(geo.muni_code), P.muni),
            "employment_area": labels(area_codes(geo.n_areas), P.area),
        })
        return _cast(df, "persons")

    # -- job-seeking spells ----------------------------------------------------------------
    def jobseeking(self) -> pl.DataFrame:
        sim, T = self.sim, self.T
        st = sim.state
        n = st.shape[0]
        isU = st[:, :T] == U
        prevU = np.concatenate([np.zeros((n, 1), bool), isU[:, :-1]], axis=1)
        nextU = st[:, 1:T + 1] == U
        start = isU & ~prevU
        end = isU & ~nextU
        end[:, T - 1] = isU[:, T - 1]  # the window ends
        sr, sc = np.nonzero(start)
        er, ec = np.nonzero(end)  # row-major order: pairs with the starts
        prev_state = np.where(sc > 0, st[sr, np.maximum(sc - 1, 0)], -1)
        nxt = st[er, ec + 1]
        nxt_job = sim.jobkey[er, ec + 1]
        m0 = self.m0
        # start date: day after a job / service (1st of the month); otherwise the run's start day
        day_s = np.where((prev_state == E) | (prev_state == PAY) | (prev_state == SVC) | (prev_state == STU), 1,
                         sim.day[sr, sc])
        start_date = _dates(m0 + sc, day_s)
        left = (sc == 0) & (sim.init_elapsed[sr] > 0) & (prev_state == -1)
        start_date = np.where(left, _dates(m0 - sim.init_elapsed[sr], sim.day[sr, 0]), start_date)
        end_date = _dates(m0 + ec + 1, sim.day[er, ec + 1]) - np.timedelta64(1, "D")
        end_date = np.maximum(end_date, start_date)
        # still job seeking at the extraction date: ongoing (no end date or reason yet)
        ongoing = (ec == T - 1) & (end_date > self.extraction)
        # segment: that of the baseline episode (forward-filled)
        seg = sim.seg_ff[sr, sc]
        u = hash_unit(self.P.pid[sr] * 1000 + sc, 11)
        status = np.where(u < 0.88, 2, np.where(u < 0.98, 3, 9)).astype(np.int8)
        # end reasons: what happened next
        ue = hash_unit(self.P.pid[er] * 1000 + ec, 12)
        svc_code = self._service_code_at(er, ec + 1)
        # reason codes "00".."13" as integers; strings only when the column is built
        svc_reason = np.array([int(_SVC_END_REASON[v]) for v in VNAMES] + [6])[svc_code]
        out_reason = np.where(ue < 0.4, 5, np.where(ue < 0.75, 10, np.where(ue < 0.9, 8,
                              np.where(ue < 0.95, 9, 6))))
        job_reason = np.where(status == 3, 2, np.where(ue < 0.3, 1, 3))
        reason = np.where(nxt == E, job_reason,
                          np.where((nxt == SVC) | (nxt == PAY) | (nxt == STU), svc_reason, out_reason))
        reason = np.where((nxt == E) & (nxt_job >= JOB_PAY) & (nxt_job < JOB_REFORM), 0, reason)
        pid = self.P.pid[sr]
        k = np.arange(len(sr))
        first_of_person = np.searchsorted(sr, sr)
        spell_no = k - first_of_person + 1
        df = pl.DataFrame({
            "person_id": pid,
            "spell_id": pid * 1000 + spell_no,
            "start_date": start_date,
            "end_date": pl.Series(end_date).set(pl.Series(ongoing), None) if ongoing.any() else end_date,
            "status_at_start": status,
            "end_reason": labels([f"{i:02d}" for i in range(_N_REASONS)] + [None],
                                 np.where(ongoing, _N_REASONS, reason)),
            "segment": labels(SEG, seg),
            "municipality": labels(muni_codes(sim.geo.muni_code), self.P.muni[sr]),
        })
        return _cast(df, "jobseeking_spells")

    def _service_code_at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Variant index of a realised service starting at (row, col); len(VNAMES) if none."""
        svc = self.res["svc"]
        key = svc.row.astype(np.int64) * 100_000 + svc.s
        order = np.argsort(key)
        q = rows.astype(np.int64) * 100_000 + cols
        pos = np.searchsorted(key[order], q)
        pos = np.minimum(pos, len(order) - 1) if len(order) else pos
        found = (len(order) > 0) & (key[order][np.minimum(pos, max(len(order) - 1, 0))] == q) if len(order) else np.zeros(len(q), bool)
        out = np.full(len(q), len(VNAMES))
        if len(order):
            out[found] = svc.v[order[pos[found]]]
        return out

    # -- services ------------------------------------------------------------------------
    def services(self) -> pl.DataFrame:
        sim, T, m0 = self.sim, self.T, self.m0
        svc = self.res["svc"]
        P = self.P
        pid = P.pid[svc.row]
        e = svc.e
        ongoing = e >= T
        nxt = sim.state[svc.row, np.minimum(e + 1, sim.D - 1)]
        nj = sim.jobkey[svc.row, np.minimum(e + 1, sim.D - 1)].astype(np.int64)
        own = (nj >= JOB_PAY) & (nj < JOB_REFORM) & ((nj % 1000) // 10 == svc.slot % 100)
        u = hash_unit(pid * 100 + svc.slot, 21)
        reason = np.where(nxt == E, np.where(own, 2, 3),
                          np.where(nxt == U, np.where(u < 0.8, 1, np.where(u < 0.93, 7, 0)),
                                   np.where((nxt == SVC) | (nxt == PAY) | (nxt == STU), 4, 6))).astype(np.int8)
        vname = np.array(VNAMES)[svc.v]
        stype = np.array([VARIANTS[v][0] for v in VNAMES])[svc.v]
        sub = np.array([VARIANTS[v][1] or "" for v in VNAMES])[svc.v]
        area = P.area[svc.row]
        year = (m0 + svc.s) // 12
        uprov = hash_unit(pid * 100 + svc.slot, 22)
        prov_no = (uprov * 6).astype(np.int64) + 1
        has_provider = ~np.isin(vname, ["self_motivated_study", "startup_grant", "pay_subsidy_firm", "pay_subsidy_public"])
        provider = np.char.add(np.char.add("PRV", np.char.zfill((area + 1).astype(str), 2)),
                               np.char.zfill(prov_no.astype(str), 2))
        has_course = np.isin(vname, ["training_vocational", "training_preparatory", "integration_training"])
        quarter = ((m0 + svc.s) % 12) // 3 + 1
        course = np.char.add(np.char.add(np.char.add("C", year.astype(str)), np.char.add("Q", quarter.astype(str))),
                             np.char.add(provider, np.char.zfill(svc.v.astype(str), 2)))
        cost_m = np.array([sim.variants[v]["cost_per_month_eur"] for v in VNAMES])[svc.v]
        months_obs = np.minimum(svc.L, T - svc.s)
        cost = np.round(cost_m * months_obs * np.exp(0.2 * (hash_unit(pid * 100 + svc.slot, 23) - 0.5)), 2)
        usec = hash_unit(pid * 100 + svc.slot, 24)
        sector = np.where(vname == "pay_subsidy_firm", np.where(usec < 0.92, 4, 5),
                          np.where(vname == "pay_subsidy_public", np.where(usec < 0.6, 2, np.where(usec < 0.9, 3, 6)),
                                   np.where(vname == "work_trial", np.where(usec < 0.4, 2, np.where(usec < 0.7, 3, 4)), 0)))
        start_date = _dates(m0 + svc.s, sim.day[svc.row, svc.s])
        end_date = _month_end(m0 + e)
        df = pl.DataFrame({
            "person_id": pid,
            "service_id": pid * 1000 + svc.slot,
            "service_type": stype,
            "subtype": sub,
            "start_date": start_date,
            "end_date": end_date,
            "end_reason": reason,
            "provider_id": provider,
            "course_id": course,
            "cost_eur": cost,
            "employer_sector": sector.astype(np.int8),
        }).with_columns(
            pl.when(pl.Series(ongoing)).then(None).otherwise(pl.col("end_date")).alias("end_date"),
            pl.when(pl.Series(ongoing)).then(None).otherwise(pl.col("end_reason")).alias("end_reason"),
            pl.when(pl.col("subtype") == "").then(None).otherwise(pl.col("subtype")).alias("subtype"),
            pl.when(pl.Series(has_provider)).then(pl.col("provider_id")).otherwise(None).alias("provider_id"),
            pl.when(pl.Series(has_course)).then(pl.col("course_id")).otherwise(None).alias("course_id"),
            pl.when(pl.col("employer_sector") == 0).then(None).otherwise(pl.col("employer_sector")).alias("employer_sector"),
        )
        return _cast(df, "service_spells")

    # -- earnings reports ------------------------------------------------------------------
    def earnings(self) -> pl.DataFrame:
        """Incomes Register earnings payment reports (see docs/synthetic_registers.md).

        Built in numpy: one pay report per employed month (two for semi-monthly payers),
        extra income types on the same report, reimbursement-only reports, then the
        corrections (replacements, cancelled duplicates, recoveries) at the report level.
        """
        sim, T, m0 = self.sim, self.T, self.m0
        rep = self.cfg["reports"]
        rng = sim.rng
        st, jb, earn = sim.state, sim.jobkey, sim.earn
        D = sim.D
        emp = (st == E) | (st == PAY)
        r, c = np.nonzero(emp[:, :T])
        if not len(r):
            return _cast(pl.DataFrame(schema=CONTRACTS["earnings_reports"].polars_schema), "earnings_reports")
        j = jb[r, c].astype(np.int64)
        amount = earn[r, c]
        cm1 = np.maximum(c - 1, 0)
        prev_same = (c > 0) & emp[r, cm1] & (jb[r, cm1] == j)
        cp1 = np.minimum(c + 1, D - 1)
        last = ~(emp[r, cp1] & (jb[r, cp1] == j))
        first = ~prev_same
        run_id = np.cumsum(first)
        tenure = c - c[np.nonzero(first)[0]][run_id - 1] + 1
        sub = st[r, c] == PAY
        # side jobs (a second payer in the same month): split off the main job's pay
        side = np.zeros(len(r))
        om = np.nonzero(st[r, c] == E)[0]
        side[om] = sim.side_pay(r[om], c[om])
        amount = np.round(amount - side, 2)
        sf = np.nonzero(side > 0)[0]
        if len(sf):
            rs, cs_ = r[sf], c[sf]
            prev_side = (cs_ > 0) & (st[rs, np.maximum(cs_ - 1, 0)] == E) & (sim.side_pay(rs, cs_ - 1) > 0)
            next_side = (st[rs, np.minimum(cs_ + 1, D - 1)] == E) & (sim.side_pay(rs, cs_ + 1) > 0)
            first_s = ~prev_side
            rid = np.cumsum(first_s)
            ten_s = cs_ - cs_[np.nonzero(first_s)[0]][rid - 1] + 1
            # merge in person-month-job order (r, c are sorted; a side row goes next to the
            # main row of its month: after it unless the main job key is larger)
            nm = len(r)
            before = j[sf] > JOB_SIDE
            nside = np.zeros(nm + 1, np.int64)
            nside[sf + 1] = 1
            np.cumsum(nside, out=nside)
            pos_main = np.arange(nm) + nside[:-1]
            pos_main[sf[before]] += 1
            pos_side = sf + nside[sf] + ~before

            def merge(main: np.ndarray, extra: np.ndarray) -> np.ndarray:
                out = np.empty(nm + len(sf), np.result_type(main, extra))
                out[pos_main] = main
                out[pos_side] = extra
                return out

            r, c = merge(r, rs), merge(c, cs_)
            j = merge(j, np.full(len(sf), JOB_SIDE))
            amount = merge(amount, side[sf])
            first, last = merge(first, first_s), merge(last, ~next_side)
            tenure = merge(tenure, ten_s)
            sub = merge(sub, np.zeros(len(sf), bool))
        P = self.P
        pid = P.pid[r]
        area = P.area[r].astype(np.int64)
        # payer: deterministic in (person, job); subsidised public jobs in a municipal pool
        public = (j >= JOB_FLIP) & (j < JOB_REFORM) & (j % 10 == VNAMES.index("pay_subsidy_public"))
        hu = hash_unit(pid * 10_000 + np.where(j == JOB_SIDE, 7777, j), 31)
        n_pay = np.maximum(20, np.rint(rep["payers_per_1000_persons"] * sim.geo.area_weight * 1000)).astype(np.int64)
        rank = np.floor(n_pay[area] * hu**3).astype(np.int64)
        payer = np.where(public, 900_000_000 + P.muni[r].astype(np.int64) * 10 + (hu * 3).astype(np.int64),
                         (area + 1) * 1_000_000 + rank)
        # payer attributes: a hash of the payer id (the same in every block)
        upay, inv = np.unique(payer, return_inverse=True)
        semi = (hash_unit(upay, 1) < rep["semi_monthly_payer_share"])[inv]
        arrears = (hash_unit(upay, 2) < rep["arrears_payer_share"])[inv]
        itemised = (hash_unit(upay, 3) < rep["itemised_payer_share"])[inv]
        has_ep = (hash_unit(upay, 4) < rep["earning_period_share"])[inv] | arrears
        payday_last = (hash_unit(upay, 5) < 0.5)[inv]
        month = m0 + c
        day_start = np.where(first & (j != JOB_SIDE), sim.day[r, c], 1).astype(np.int64)
        cal = m0 + np.arange(T)  # month start and length by column (c < T)
        mstart_c = _dates(cal, np.ones_like(cal))
        mstart = mstart_c[c]
        dim = ((_month_end(cal) - mstart_c).astype(np.int64) + 1)[c]
        # pay periods: one, or two (1-15, 16-end) for semi-monthly payers
        two = semi & (day_start <= 15)
        cnt = 1 + two
        k = np.repeat(np.arange(len(r)), cnt)
        q = np.zeros(len(k), np.int64)
        q[1:] = (k[1:] == k[:-1]).astype(np.int64)  # 0 first period, 1 second
        half = two[k]
        p0 = np.where(half & (q == 1), 16, day_start[k])
        p1 = np.where(half & (q == 0), 15, dim[k])
        worked = dim[k] - day_start[k] + 1
        amt = np.round(amount[k] * (p1 - p0 + 1) / worked, 2)
        ms = mstart[k]
        pps = ms + (p0 - 1).astype("timedelta64[D]")
        ppe = ms + (p1 - 1).astype("timedelta64[D]")
        midday = np.maximum(pps, ms + np.timedelta64(14, "D"))
        pay = np.where(arrears[k], ppe + np.timedelta64(10, "D"),
                       np.where(~half & ~payday_last[k], midday, ppe))
        nrep = len(k)
        lastq = ~(half & (q == 0))  # the report carrying month-level extras
        moy = month[k] % 12
        yr = month[k] // 12
        nat = np.full(nrep, np.datetime64("NaT"), "datetime64[D]")
        ep_s = np.where(has_ep[k], pps, nat)
        ep_e = np.where(has_ep[k], ppe, nat)
        # rows: (report index, income type, amount, earning period, subsidised)
        parts = [(np.arange(nrep), np.where(itemised[k], 201, 101), amt, ep_s, ep_e, sub[k])]
        hb = np.nonzero((moy == 5) & (tenure[k] >= 6) & lastq & ~sub[k])[0]  # holiday bonus, June
        parts.append((hb, np.full(len(hb), 213), np.round(0.5 * amount[k][hb], 2),
                      _dates(yr[hb] * 12 - 9, np.ones(len(hb), np.int64)), _dates(yr[hb] * 12 + 3, np.ones(len(hb), np.int64)) - np.timedelta64(1, "D"),
                      np.zeros(len(hb), bool)))
        hc = np.nonzero(last[k] & lastq)[0]  # holiday compensation at the job's end
        hc_start = np.maximum(_dates(month[k][hc] - np.minimum(tenure[k][hc], 12) + 1, np.ones(len(hc), np.int64)), pps[hc])
        hc_start = np.minimum(hc_start, ppe[hc])
        parts.append((hc, np.full(len(hc), 234), np.round(0.09 * amount[k][hc] * np.minimum(tenure[k][hc], 12), 2),
                      hc_start, ppe[hc], sub[k][hc]))
        ot = np.nonzero((rng.random(nrep) < rep["overtime_rate"]) & itemised[k])[0]  # overtime
        parts.append((ot, np.full(len(ot), 235), np.round(amt[ot] * (0.03 + 0.1 * rng.random(len(ot))), 2),
                      nat[ot], nat[ot], sub[k][ot]))
        ro = np.nonzero(rng.random(nrep) < rep["reimbursement_only_rate"])[0]  # km allowance only
        # reimbursement-only reports get report indexes nrep..; they copy the pay report's dates
        parts.append((nrep + np.arange(len(ro)), np.full(len(ro), 311), np.round(20 + 280 * rng.random(len(ro)), 2),
                      nat[ro], nat[ro], np.zeros(len(ro), bool)))
        src = np.concatenate([np.arange(nrep), ro])  # pay report whose person/payer/dates a report uses
        rix = np.concatenate([p[0] for p in parts])
        itype = np.concatenate([p[1] for p in parts]).astype(np.int16)
        amt_r = np.concatenate([p[2] for p in parts])
        eps = np.concatenate([p[3] for p in parts])
        epe = np.concatenate([p[4] for p in parts])
        subr = np.concatenate([p[5] for p in parts])
        nall = nrep + len(ro)
        # corrections at the report level
        uu = rng.random(nall)
        rr, cr = rep["replacement_rate"], rep["cancellation_rate"]
        replace = uu < rr
        cancel = (uu >= rr) & (uu < rr + cr)
        recover = (uu >= 0.5) & (uu < 0.5 + rep["recovery_rate"])
        err = np.round(1.05 + 0.25 * rng.random(nall), 3)
        wrong = (replace[rix] | (recover[rix] & (itype <= 235)))
        amt_v1 = np.where(wrong, np.round(amt_r * err[rix], 2), amt_r)
        payr = pay[src][rix]
        i_rep = np.nonzero(replace[rix])[0]
        i_can = np.nonzero(cancel[rix])[0]
        i_rec = np.nonzero(recover[rix] & (itype <= 235))[0]
        allx = np.concatenate([np.arange(len(rix)), i_rep, i_can, i_can, i_rec])
        kind = np.concatenate([np.zeros(len(rix), np.int64), np.ones(len(i_rep), np.int64),
                               np.full(len(i_can), 2), np.full(len(i_can), 3), np.full(len(i_rec), 4)])
        amount_out = np.concatenate([amt_v1, amt_r[i_rep], amt_r[i_can], amt_r[i_can],
                                     amt_r[i_rec] - np.round(amt_r[i_rec] * err[rix[i_rec]], 2)])
        pay_out = np.concatenate([payr, payr[i_rep], payr[i_can] + np.timedelta64(31, "D"),
                                  payr[i_can] + np.timedelta64(31, "D"), payr[i_rec] + np.timedelta64(61, "D")])
        orig = np.concatenate([np.full(len(rix) + len(i_rep) + 2 * len(i_can), np.datetime64("NaT"), "datetime64[D]"),
                               payr[i_rec]])
        version = np.where((kind == 1) | (kind == 3), 2, 1).astype(np.int16)
        rx = rix[allx]
        base_id = (sim.block + 1) * 10**11
        report_id = base_id + rx * 8 + kind
        ref_no = base_id + rx * 8 + np.array([0, 0, 4, 4, 6])[kind]
        s_src = src[rx]
        keep = pay_out <= self.extraction
        order = np.argsort(report_id[keep] * 1000 + itype[allx][keep], kind="stable")
        sel = np.nonzero(keep)[0][order]
        si = s_src[sel]  # pay report of each output row
        ki = k[si]  # employed month of each output row
        ai = allx[sel]
        kd = kind[sel]
        # report_ref "R{payer}-{ref_no}": the payer prefix from the few distinct payers
        prefix = pl.Series(upay).cast(pl.String).gather(inv[ki])
        df = pl.DataFrame({
            "report_id": report_id[sel],
            "payer": prefix,
            "ref_no": pl.Series(ref_no[sel]).cast(pl.String),
            "version": version[sel],
            "action": labels(["new", "replace", "new", "cancel", "new"], kd),
            "person_id": pid[ki],
            "payer_id": payer[ki],
            "payment_date": _date_col(pay_out[sel]),
            "pay_period_start": _date_col(pps[si]),
            "pay_period_end": _date_col(ppe[si]),
            "earning_period_start": _date_col(eps[ai]),
            "earning_period_end": _date_col(epe[ai]),
            "income_type": itype[ai],
            "amount_eur": amount_out[sel],
            "subsidised": subr[ai],
            "recovery": kd == 4,
            "orig_payment_date": _date_col(orig[sel]),
        }).with_columns(pl.concat_str([pl.lit("R"), "payer", pl.lit("-"), "ref_no"]).alias("report_ref"))
        return _cast(df, "earnings_reports")

    # -- benefit reports -------------------------------------------------------------------
    def benefits(self) -> pl.DataFrame:
        sim, T, m0 = self.sim, self.T, self.m0
        st = sim.state[:, :T]
        n = st.shape[0]
        emp = (sim.state == E) | (sim.state == PAY)
        cs = np.concatenate([np.zeros((n, 1), np.int32), np.cumsum(emp, axis=1, dtype=np.int32)], axis=1)
        cols = np.arange(T)
        emp24 = cs[:, cols] - cs[:, np.maximum(cols - 24, 0)]  # months employed in the 24 before
        paid = (st == U) | (st == SVC) | (st == STU)
        # elapsed months in the current non-employment run
        idx = np.where(~paid, cols[None, :], -1)
        np.maximum.accumulate(idx, axis=1, out=idx)
        elapsed = cols[None, :] - idx
        r, c = np.nonzero(paid)
        P = self.P
        stu = st[r, c] == STU
        eligible_er = (emp24[r, c] >= 12) & P.fund_member[r] & (elapsed[r, c] <= 14)
        basic = (emp24[r, c] >= 12) & ~P.fund_member[r] & (elapsed[r, c] <= 14)
        btype = np.where(stu, 0, np.where(eligible_er, 1, np.where(basic, 2, 3)))
        wage = np.exp(P.log_wage[r])
        daily = np.where(eligible_er, 37.21 + 0.45 * np.maximum(wage / 21.5 - 37.21, 0), 37.21)
        cal = m0 + cols  # month start and end by column
        ps = _dates(cal, np.ones_like(cal))[c]
        pe = _month_end(cal)[c]
        days = (pe - ps).astype(np.int64) + 1
        amount = np.round(daily * 21.5 * days / 30.0, 2)
        pay = pe + np.timedelta64(5, "D")
        keep = pay <= self.extraction
        df = pl.DataFrame({
            "person_id": P.pid[r][keep],
            "benefit_type": labels(["startup_grant", "earnings_related_allowance", "basic_allowance",
                                    "labour_market_subsidy"], btype[keep]),
            "payment_date": _date_col(pay[keep]),
            "period_start": _date_col(ps[keep]), "period_end": _date_col(pe[keep]), "amount_eur": amount[keep]})
        return _cast(df, "benefit_reports")
