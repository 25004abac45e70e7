"""Public job brokerage, integration plans and payers of the synthetic registers (issue #10).

Runs on a finished :class:`~impact.simulate.engine.BlockSimulator` *before* the register
tables are built (see ``docs/synthetic_registers.md``, "Brokerage, integration, payers"):

* **Job offers** arrive in job-seeking months (monthly rate ``brokerage.offer_rate``). An
  offer made within three months of the natural end of the job-seeking run, when that run
  ends in a job, is the offer of that job with probability ``placed_near_share``: the result
  is "01" (placed) and the job starts the month after the offer (the true effect: the job
  starts earlier). Any other offer places with probability ``placed_far_rate``: a new job of
  about ``far_job_months`` months starts the month after the offer, inside the run. The
  remaining offers get the other result codes. At most one placement per job-seeking run;
  offers after it in the same run are dropped.
  Months are flipped only outside every realised service's window (start .. end + 24), so
  the services' potential outcomes (truth/service_effects) stay exact; the realised path,
  earnings and ``truth/person_month`` include the flips. ``truth/offer_effects`` holds, per
  offer and horizon, employment with the offer (realised) and without it (the path before
  the flips).
* **Vacancies** group the offers of one employer and month; ``search_share`` of them get a
  **candidate search** whose proposed persons are those offers (``search_id``).
* **Integration plans**: foreign-language job seekers get an initial assessment and an
  integration plan at the start of their first job-seeking run (``integration_plan_share``),
  30 % a revised plan a year later.
* **Payers**: every payer id the report tables can use, with a TOL 2008 industry drawn from
  a hash of the id (so identical in every block), written once per folder.

Random numbers come from a stream of their own (``SeedSequence(seed, spawn_key=(block,
7001))``): the engine's stream, and so every other table, is unchanged by this module.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from impact.registers.schema import CONTRACTS, INDUSTRIES
from impact.simulate.engine import E, JOB_FLIP, JOB_REFORM, H, U, VNAMES, BlockSimulator, hash_unit

JOB_BROKERED = 3500  # job key of jobs that a far placement creates (3500 + month % 100)
OFFER_HORIZONS = (1, 3, 6, 12)
V_PAY_PUB = VNAMES.index("pay_subsidy_public")
TABLES = ("vacancies", "job_offers", "candidate_searches", "integration_plans")

TRUTH_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "offer_effects": {
        "offer_id": pl.Int64(), "person_id": pl.Int64(), "result_code": pl.String(), "search": pl.Boolean(),
        "offer_month": pl.Int32(), "h": pl.Int16(), "month": pl.Int32(), "observed": pl.Boolean(),
        "employed_1": pl.Int8(), "employed_0": pl.Int8(),
    },
}

# industry shares of private payers and of municipal (public) payers [inference: rough
# shape of Finnish employment by TOL section]
_PRIVATE = {"A": 0.02, "B": 0.005, "C": 0.14, "D": 0.005, "E": 0.01, "F": 0.10, "G": 0.16, "H": 0.07, "I": 0.08,
            "J": 0.05, "K": 0.02, "L": 0.02, "M": 0.08, "N": 0.10, "O": 0.01, "P": 0.02, "Q": 0.08, "R": 0.02,
            "S": 0.03, "T": 0.01, "U": 0.0}
_PUBLIC = {"O": 0.4, "P": 0.2, "Q": 0.4}
_NO_RESULT = ("02", "03", "04", "05", "06")
_NO_RESULT_P = np.array([0.35, 0.05, 0.25, 0.15, 0.20])


def _empty(name: str) -> pl.DataFrame:
    return pl.DataFrame(schema=CONTRACTS[name].polars_schema)


def _dates(month_abs: np.ndarray, day: np.ndarray) -> np.ndarray:
    first = (month_abs // 12 - 1970) * 12 + month_abs % 12
    return first.astype("datetime64[M]").astype("datetime64[D]") + (np.asarray(day) - 1).astype("timedelta64[D]")


def n_payers(cfg: dict, geo) -> np.ndarray:
    """Private payers per area, as the report tables draw them."""
    rep = cfg["reports"]
    return np.maximum(20, np.rint(rep["payers_per_1000_persons"] * geo.area_weight * 1000)).astype(np.int64)


def payer_of(cfg: dict, geo, pid: np.ndarray, job: np.ndarray, area: np.ndarray, muni: np.ndarray) -> np.ndarray:
    """The payer id the earnings reports give to job key ``job`` of person ``pid``.

    Mirrors the payer rule of :meth:`impact.simulate.tables.BlockTables.earnings` (a hash of
    person and job; subsidised public jobs in a municipal pool), so that an offer's employer
    is the payer of the job it leads to.
    """
    job = job.astype(np.int64)
    public = (job >= JOB_FLIP) & (job < JOB_REFORM) & (job % 10 == V_PAY_PUB)
    hu = hash_unit(pid * 10_000 + job, 31)
    rank = np.floor(n_payers(cfg, geo)[area] * hu**3).astype(np.int64)
    return np.where(public, 900_000_000 + muni.astype(np.int64) * 10 + (hu * 3).astype(np.int64),
                    (area.astype(np.int64) + 1) * 1_000_000 + rank)


def payers_frame(cfg: dict, geo) -> pl.DataFrame:
    """Every payer id the generator can use, with its TOL 2008 industry (2 % unknown)."""
    npay = n_payers(cfg, geo)
    area = np.repeat(np.arange(geo.n_areas), npay)
    start = np.concatenate([[0], np.cumsum(npay)[:-1]])
    rank = np.arange(npay.sum()) - np.repeat(start, npay)
    private = (area + 1) * 1_000_000 + rank
    public = (900_000_000 + np.arange(len(geo.muni_area))[:, None] * 10 + np.arange(3)[None, :]).ravel()
    ids = np.concatenate([private, public]).astype(np.int64)
    u = hash_unit(ids, 41)
    codes = np.array(list(INDUSTRIES))
    pick = np.empty(len(ids), dtype=codes.dtype)
    for is_pub, shares in ((False, _PRIVATE), (True, _PUBLIC)):  # two payer kinds
        sel = (ids >= 900_000_000) == is_pub
        keys = np.array(list(shares))
        cp = np.cumsum(np.array(list(shares.values()), float))
        cp /= cp[-1]
        pick[sel] = keys[np.minimum(np.searchsorted(cp, u[sel], side="right"), len(keys) - 1)]
    known = hash_unit(ids, 42) >= 0.02
    return pl.DataFrame({"payer_id": ids, "industry": pl.Series(pick).set(pl.Series(~known), None)},
                        schema=CONTRACTS["payers"].polars_schema).sort("payer_id")


def _protected(sim: BlockSimulator, svc) -> np.ndarray:
    """(n, D) months inside a realised service's window (start .. end + H): never flipped."""
    n, D = sim.state.shape
    diff = np.zeros((n, D + 1), np.int32)
    np.add.at(diff, (svc.row, np.minimum(svc.s, D)), 1)
    np.add.at(diff, (svc.row, np.minimum(svc.e + H + 1, D)), -1)
    return np.cumsum(diff[:, :D], axis=1) > 0


def block_tables(sim: BlockSimulator, res: dict, cfg: dict, seed: int, block: int) -> dict[str, pl.DataFrame]:
    """Brokerage and integration tables of a block; flips the realised path in place.

    Returns the register frames (``vacancies``, ``job_offers``, ``candidate_searches``,
    ``integration_plans``) and ``truth/offer_effects``.
    """
    b = cfg["brokerage"]
    out = {name: _empty(name) for name in TABLES}
    out["truth/offer_effects"] = pl.DataFrame(schema=TRUTH_SCHEMAS["offer_effects"])
    if not b["enabled"]:
        return out
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block, 7001)))
    st, jb = sim.state, sim.jobkey
    n, D = st.shape
    T, m0 = sim.T, sim.m0
    P = sim.P
    extraction = np.datetime64(cfg["simulation"]["extraction_date"])
    isU = st == U
    cols = np.arange(D)
    # first non-job-seeking month at or after each month (D if none)
    nxt = np.where(~isU, cols[None, :], D)
    nxt = np.minimum.accumulate(nxt[:, ::-1], axis=1)[:, ::-1]
    start = isU & ~np.concatenate([np.zeros((n, 1), bool), isU[:, :-1]], axis=1)
    run_no = np.cumsum(start.ravel()).reshape(n, D)  # global run number of each job-seeking month

    # -- offers -------------------------------------------------------------------------
    mult = np.where(P.lang == 2, 0.7, 1.0)[:, None]
    offer = isU[:, :T] & (rng.random((n, T)) < b["offer_rate"] * mult)
    r, c = np.nonzero(offer)
    k = len(r)
    ex = nxt[r, c]
    rem = ex - c  # job-seeking months left in the run, from the offer month
    exc = np.minimum(ex, D - 1)
    job_next = (ex < D) & (st[r, exc] == E)
    u = rng.random(k)
    near = job_next & (rem <= 3) & (u < b["placed_near_share"])
    far = ~near & (rem >= 2) & (rng.random(k) < b["placed_far_rate"])
    placed = near | far
    # at most one placement per run: drop offers after the first placement
    run = run_no[r, c]
    first = np.full(run.max() + 1 if k else 1, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, run, np.where(placed, c, np.iinfo(np.int64).max))
    keep = c <= first[run]
    r, c, ex, rem, near, far, placed, job_next = (x[keep] for x in (r, c, ex, rem, near, far, placed, job_next))
    k = len(r)
    prot = _protected(sim, res["svc"])
    # months flipped to work: c+1 .. end (near: until the natural job starts; far: a job of ~L months)
    L = np.where(near, rem - 1, np.minimum(rem - 1, 1 + rng.poisson(max(b["far_job_months"] - 1, 0), k)))
    Lmax = int(L.max()) if k else 0
    rr = np.arange(1, Lmax + 1)
    fc = c[:, None] + rr[None, :]
    ind = (rr[None, :] <= L[:, None]) & (fc < D)
    fcc = np.minimum(fc, D - 1)
    clash = (prot[r[:, None], fcc] & ind).any(1) | prot[r, c]
    flip = placed & ~clash & (L >= 1)
    nat_job = jb[r, np.minimum(ex, D - 1)].astype(np.int64)
    new_job = np.where(near, nat_job, JOB_BROKERED + c % 100)
    before = st.copy() if flip.any() else st
    fr = np.broadcast_to(r[:, None], ind.shape)[ind & flip[:, None]]
    fcol = fc[ind & flip[:, None]]
    st[fr, fcol] = E
    jb[fr, fcol] = np.broadcast_to(new_job[:, None], ind.shape)[ind & flip[:, None]].astype(jb.dtype)
    if flip.any():
        rows = np.unique(r[flip])
        sim.earn[rows] = sim.wages(rows, st[rows], jb[rows])
        am = res["area_month"]
        add = np.zeros((sim.geo.n_areas, T))
        inwin = fcol < T
        np.add.at(add, (P.area[fr[inwin]], fcol[inwin]), 1.0)
        am["emp_with"] = am["emp_with"] + add
        am["emp_without"] = am["emp_without"] + add
    # result codes; offers in the last month of the data have no result yet
    other = np.array(_NO_RESULT)[np.searchsorted(np.cumsum(_NO_RESULT_P), rng.random(k), side="right").clip(0, 4)]
    result = np.where(placed, "01", other)
    pending = c >= T - 1
    pid = P.pid[r]
    area = P.area[r]
    employer = np.where(placed, payer_of(cfg, sim.geo, pid, new_job, area, P.muni[r]),
                        payer_of(cfg, sim.geo, pid, 9000 + c % 1000, area, P.muni[r]))
    day = 1 + (hash_unit(pid * 1000 + c, 61) * 28).astype(np.int64)
    offer_date = _dates(m0 + c, day)
    offer_id = (block + 1) * 10**10 + np.arange(k, dtype=np.int64)

    # -- vacancies and candidate searches ------------------------------------------------
    vkey = employer * 1000 + c
    uv, vinv = np.unique(vkey, return_inverse=True) if k else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    nv = len(uv)
    vac_id = (block + 1) * 10**9 + np.arange(nv, dtype=np.int64)
    v_first = np.full(nv, np.datetime64("2262-01-01"), "datetime64[D]")
    np.minimum.at(v_first, vinv, offer_date)
    v_last = np.full(nv, np.datetime64("1970-01-01"), "datetime64[D]")
    np.maximum.at(v_last, vinv, offer_date)
    v_placed = np.zeros(nv, bool)
    np.logical_or.at(v_placed, vinv, placed)
    v_filled_other = np.zeros(nv, bool)
    np.logical_or.at(v_filled_other, vinv, result == "02")
    v_area = np.zeros(nv, np.int64)
    v_area[vinv] = area
    hv = hash_unit(vac_id, 62)
    open_date = v_first - (hv * 21).astype("timedelta64[D]")
    close_date = v_last + (10 + hash_unit(vac_id, 63) * 30).astype("timedelta64[D]")
    is_open = close_date > extraction
    filled = v_placed | v_filled_other
    has_search = hash_unit(vac_id, 64) < b["search_share"]
    s_of_offer = has_search[vinv]
    n_prop = np.bincount(vinv[s_of_offer], minlength=nv) if k else np.zeros(0, np.int64)
    v_codes = np.char.add("EA", np.char.zfill((v_area + 1).astype(str), 2))
    vac = pl.DataFrame({
        "vacancy_id": vac_id, "employer_id": uv // 1000, "open_date": open_date,
        "close_date": pl.Series(close_date).set(pl.Series(is_open), None) if nv else close_date,
        "filled": pl.Series(filled).set(pl.Series(is_open), None) if nv else filled,
        "employment_area": v_codes,
    }, schema=CONTRACTS["vacancies"].polars_schema)
    s_idx = np.nonzero(has_search)[0]
    s_result = np.where(is_open[s_idx], "06", np.where(v_placed[s_idx], "01",
                                                       np.where(v_filled_other[s_idx], "02", "03")))
    searches = pl.DataFrame({
        "search_id": vac_id[s_idx] * 10 + 1, "vacancy_id": vac_id[s_idx], "employer_id": uv[s_idx] // 1000,
        "search_date": np.maximum(v_first[s_idx] - np.timedelta64(2, "D"), open_date[s_idx]),
        "persons_proposed": n_prop[s_idx].astype(np.int32), "result_code": s_result,
    }, schema=CONTRACTS["candidate_searches"].polars_schema)
    offers = pl.DataFrame({
        "offer_id": offer_id, "person_id": pid, "offer_date": offer_date, "vacancy_id": vac_id[vinv],
        "employer_id": employer,
        "search_id": pl.Series(vac_id[vinv] * 10 + 1).set(pl.Series(~s_of_offer), None) if k else vac_id[vinv],
        "result_code": pl.Series(result.astype(str)).set(pl.Series(pending), None) if k else result.astype(str),
    }, schema=CONTRACTS["job_offers"].polars_schema)
    # offers dated after the extraction (none by construction; kept for safety)
    offers = offers.filter(pl.col("offer_date") <= extraction)

    # -- truth: employment with and without the offer -------------------------------------
    hh = np.array(OFFER_HORIZONS)
    tc = c[:, None] + hh[None, :]
    tcc = np.minimum(tc, D - 1)
    out["truth/offer_effects"] = pl.DataFrame({
        "offer_id": np.repeat(offer_id, len(hh)), "person_id": np.repeat(pid, len(hh)),
        "result_code": np.repeat(result.astype(str), len(hh)), "search": np.repeat(s_of_offer, len(hh)),
        "offer_month": np.repeat(m0 + c, len(hh)), "h": np.tile(hh, k), "month": (m0 + tc).ravel(),
        "observed": (tc < T).ravel(),
        "employed_1": (st[r[:, None], tcc] == E).ravel(), "employed_0": (before[r[:, None], tcc] == E).ravel(),
    }, schema_overrides=TRUTH_SCHEMAS["offer_effects"], strict=False)
    out["vacancies"], out["job_offers"], out["candidate_searches"] = vac, offers, searches
    out["integration_plans"] = _integration_plans(sim, start, b, rng)
    return out


def _integration_plans(sim: BlockSimulator, start: np.ndarray, b: dict, rng) -> pl.DataFrame:
    """Initial assessment and integration plan at the start of a foreign-language person's first
    job-seeking run in the window; a revised plan twelve months later for 30 %."""
    T, m0, P = sim.T, sim.m0, sim.P
    st0 = start[:, :T] | ((sim.state[:, 0] == U)[:, None] & (np.arange(T) == 0)[None, :])
    has = st0.any(1) & (P.lang == 2) & (rng.random(len(P.pid)) < b["integration_plan_share"])
    rows = np.nonzero(has)[0]
    c0 = st0[rows].argmax(1)
    pid = P.pid[rows]
    d0 = 1 + (hash_unit(pid, 65) * 20).astype(np.int64)
    revised = hash_unit(pid, 66) < 0.3
    parts = [(rows, c0, d0, "initial_assessment", 1), (rows, c0 + 1, d0, "integration_plan", 2),
             (rows[revised], c0[revised] + 13, d0[revised], "revised_plan", 3)]
    frames = []
    for rw, cc, dd, kind, no in parts:  # three plan kinds
        ok = cc < T
        frames.append(pl.DataFrame({"plan_id": P.pid[rw][ok] * 10 + no, "person_id": P.pid[rw][ok],
                                    "plan_date": _dates(m0 + cc[ok], dd[ok]), "plan_type": kind},
                                   schema=CONTRACTS["integration_plans"].polars_schema))
    return pl.concat(frames).sort("plan_id")
