"""Person-block simulation: baseline careers, services, potential outcomes.

One call of :func:`simulate_block` simulates a block of persons with its own random
generator (``SeedSequence(seed, spawn_key=(block,))``), so the output does not depend on
how many blocks are run or in which order they are written.

Layers (see ``docs/synthetic_registers.md``):

1. **Baseline careers** (no services at all): alternating job-seeking (U), employment (E)
   and out-of-labour-force (O) episodes whose durations are drawn from monthly hazards,
   looping over the episode number, vectorised over persons and months.
2. **Service arrivals**: inside every baseline job-seeking episode a monthly service-start
   hazard (selection) gives up to three arrivals before the natural end of the episode;
   each is a *candidate* service. The fourth arrival of the same process is drawn as a
   *spare* (from its own random stream, so the realised world does not depend on it): it
   never takes place in the realised world, only in the 'not now' counterfactual of a
   service of its episode, where removing one of the first three lets the next one in.
3. **Composition**: candidates are applied in time order on top of the baseline path
   (participation months replace the baseline state; lock-in and post-service effects are
   persistent flips with calibrated probabilities); a candidate whose start month is no
   longer a job-seeking month (the person is in a service or was moved into work) does not
   take place. Area reforms are applied last. The composed path is the realised world.
4. **Counterfactuals**: for every realised service the composition is re-run for that
   person without it: 'not now' keeps every other candidate and the spare arrival of its
   episode (so the next arrivals of the same selection process may take place, up to three
   per episode as in the realised world), 'never' keeps exactly the other services that took
   place. Common random numbers make the differences causal effects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from impact.simulate.scenario import VARIANTS

# state codes of the person-month path
O, U, E, SVC, PAY, STU = 0, 1, 2, 3, 4, 5
H = 24  # effect horizon (months after the service end)
VNAMES = list(VARIANTS)
N_ARRIVALS = 3  # service arrivals drawn per baseline job-seeking episode
V_PAY_FIRM = VNAMES.index("pay_subsidy_firm")
V_PAY_PUB = VNAMES.index("pay_subsidy_public")
V_STARTUP = VNAMES.index("startup_grant")
JOB_FLIP, JOB_PAY, JOB_REFORM = 1000, 2000, 3000

# common multiplier of the service hazard by segment 00..05 (observed)
SEG_SERVICE_MULT = np.array([0.45, 1.0, 1.35, 1.3, 0.7, 1.25])


def expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def splitmix64(x: np.ndarray) -> np.ndarray:
    """Deterministic 64-bit hash (for payer attributes that must agree across blocks)."""
    z = (np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def hash_unit(x: np.ndarray, salt: int) -> np.ndarray:
    """Uniform [0, 1) from a hash of integer ids and a salt."""
    with np.errstate(over="ignore"):
        h = splitmix64(np.asarray(x, dtype=np.uint64) * np.uint64(1_000_003) + np.uint64(salt))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


# ---------------------------------------------------------------------------------------
# Geography (global, identical for every block)
# ---------------------------------------------------------------------------------------


@dataclass
class Geography:
    area_weight: np.ndarray  # (A,)
    area_effect: np.ndarray  # job-finding logit shift
    area_service: np.ndarray  # service-intensity log shift
    area_foreign: np.ndarray  # multiplier of the foreign-language share
    area_sv: np.ndarray  # Swedish-speaking share
    area_wage: np.ndarray  # log wage shift
    muni_area: np.ndarray  # (M,) area of each municipality
    muni_code: np.ndarray  # (M,) 3-digit code
    muni_weight: np.ndarray  # within-area weight

    @property
    def n_areas(self) -> int:
        return len(self.area_weight)


def make_geography(cfg: dict, seed: int) -> Geography:
    pop = cfg["population"]
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2**31 - 1,)))
    A, M = pop["n_areas"], pop["n_municipalities"]
    w = 1.0 / np.arange(1, A + 1) ** pop["area_size_exponent"]
    w /= w.sum()
    n_single = min(4, A - 1)
    # municipalities: the n_single largest areas are one city each; the rest share M - n_single
    rest = M - n_single
    k = A - n_single
    extra = rng.multinomial(rest - k, rng.dirichlet(np.full(k, 2.0))) if rest > k else np.zeros(k, int)
    counts = np.concatenate([np.ones(n_single, int), 1 + extra])
    muni_area = np.repeat(np.arange(A), counts)
    codes = np.sort(rng.choice(np.arange(5, 1000), size=M, replace=False))
    mw = np.empty(M)
    start = 0
    for c in counts:  # loop over 45 areas (small, fixed)
        mw[start:start + c] = 1.0 / np.arange(1, c + 1) ** 1.2
        mw[start:start + c] /= mw[start:start + c].sum()
        start += c
    area_effect = rng.normal(0, pop["area_effect_sd"], A)
    area_service = rng.normal(0, cfg["selection"]["area_sd"], A)
    foreign = np.exp(rng.normal(-0.3, 0.5, A))
    foreign[:n_single] = 2.0 + rng.random(n_single)
    sv = np.full(A, 0.01)
    sv[rng.choice(np.arange(n_single, A), size=min(3, A - n_single), replace=False)] = 0.45
    area_wage = 0.08 * np.log(w / w.mean()) / 2 + rng.normal(0, 0.03, A)
    return Geography(w, area_effect, area_service, foreign, sv, area_wage, muni_area,
                     codes.astype(np.int64), mw)


# ---------------------------------------------------------------------------------------
# Block simulation
# ---------------------------------------------------------------------------------------


@dataclass
class Persons:
    pid: np.ndarray
    female: np.ndarray
    age0: np.ndarray  # age at window start (years, float)
    edu: np.ndarray  # 0 basic 1 upper 2 tertiary
    lang: np.ndarray  # 0 fi 1 sv 2 other
    area: np.ndarray
    muni: np.ndarray  # index into geography
    theta: np.ndarray  # latent ability (unobserved)
    log_wage: np.ndarray
    fund_member: np.ndarray


@dataclass
class Services:
    """Candidate services: arrivals before the natural end of a baseline job-seeking episode."""

    row: np.ndarray
    slot: np.ndarray
    s: np.ndarray  # start month (block time index)
    L: np.ndarray
    v: np.ndarray
    vp: np.ndarray  # uniform for post-service flips
    vl: np.ndarray  # uniform for lock-in flips
    elapsed: np.ndarray  # baseline elapsed job-seeking months at the start
    spare: np.ndarray  # the episode's fourth arrival: only in the 'not now' counterfactual
    segment: np.ndarray
    tau: np.ndarray  # (k, H) configured expected effect on employment (pp/100) vs never
    pi_post: np.ndarray  # (k, H) flip probabilities
    pi_lock: np.ndarray  # (k,)

    @property
    def e(self) -> np.ndarray:
        return self.s + self.L - 1

    def take(self, idx: np.ndarray) -> "Services":
        return Services(**{k: getattr(self, k)[idx] for k in self.__dataclass_fields__})


def _effect_curve(points: list[float]) -> np.ndarray:
    """Effect (share) by horizon 1..24 from the values at 3, 6, 12, 24 months."""
    h = np.arange(1, H + 1)
    return np.interp(h, [3, 6, 12, 24], np.asarray(points, float) / 100.0)


class BlockSimulator:
    """Simulates one block of persons (see the module docstring)."""

    def __init__(self, cfg: dict, geo: Geography, seed: int, block: int, first_pid: int, n: int,
                 m0: int, T: int):
        self.cfg, self.geo, self.n, self.m0, self.T = cfg, geo, n, m0, T
        self.D = T + 60  # simulated months: window + room for 36-month services + 24 horizons
        self.rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))
        # the spare arrivals' own stream: drawing them leaves the realised world unchanged
        self.spare_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block, 1)))
        self.block = block
        self.first_pid = first_pid
        lm = cfg["labour_market"]
        t_abs = m0 + np.arange(self.D)
        cyc = lm["cycle_amplitude"] * np.sin(2 * np.pi * (t_abs - (2016 * 12)) / lm["cycle_period_months"])
        covid = (t_abs >= 2020 * 12 + 3) & (t_abs <= 2020 * 12 + 11)
        self.cycle = cyc + lm["covid_shock"] * covid
        self.variants = cfg["services"]
        self.tau_curve = np.stack([_effect_curve(self.variants[v]["effect_pp"]) for v in VNAMES])

    # -- persons ---------------------------------------------------------------------
    def persons(self) -> Persons:
        cfg, rng, n, geo = self.cfg, self.rng, self.n, self.geo
        pop = cfg["population"]
        pid = self.first_pid + np.arange(n, dtype=np.int64)
        area = rng.choice(geo.n_areas, size=n, p=geo.area_weight)
        # municipality within the area (weights within an area sum to 1, so the cumulative
        # weight at the end of area a is a + 1)
        cw = np.cumsum(geo.muni_weight)
        first = np.searchsorted(geo.muni_area, area)
        last = np.searchsorted(geo.muni_area, area, side="right") - 1
        muni = np.clip(np.searchsorted(cw, area + rng.random(n), side="right"), first, last)
        female = rng.random(n) < pop["female_share"]
        age0 = rng.uniform(pop["age_min"] - 2, pop["age_max"] - 4, n)
        es = np.asarray(pop["education_shares"], float)
        es /= es.sum()
        young = age0 < 22
        edu = rng.choice(3, size=n, p=es)
        edu = np.where(young & (edu == 2), 1, edu)
        ls = np.asarray(pop["language_shares"], float)
        ls /= ls.sum()
        p_other = np.clip(ls[2] * geo.area_foreign[area], 0, 0.6)
        p_sv = geo.area_sv[area] * (ls[1] / 0.05)
        ul = rng.random(n)
        lang = np.where(ul < p_other, 2, np.where(ul < p_other + p_sv, 1, 0))
        theta = rng.normal(0, 1, n)
        lm = cfg["labour_market"]
        log_wage = (lm["wage_log_mean"] + np.array([-0.15, 0.0, 0.35])[edu] - 0.12 * female
                    + 0.012 * np.clip(age0 - 20, 0, 30) - 0.1 * (lang == 2) + geo.area_wage[area]
                    + lm["wage_latent_effect"] * theta + rng.normal(0, 0.2, n))
        fund = rng.random(n) < 0.7
        return Persons(pid, female, age0, edu, lang, area, muni, theta, log_wage, fund)

    # -- baseline careers ---------------------------------------------------------------
    _BOUNDS = (1, 7, 19, 43, 91)

    def _events(self, limit: np.ndarray, haz, need: int, rng: np.random.Generator | None = None,
                start: np.ndarray | None = None):
        """Offsets of the first ``need`` events of a monthly Bernoulli process.

        ``haz(sel, c0, c1)`` gives the (len(sel), c1 - c0) event probabilities of offsets
        c0..c1-1; events are searched at offsets 1 <= d < limit, in column chunks, so that
        long matrices are built only for the few persons still without their events.
        Returns (offsets (need, m), BIG where none; uniform draw at the first event).
        ``rng``: the random stream (default ``self.rng``); ``start``: per person, the first
        offset searched (default 1).
        """
        rng = self.rng if rng is None else rng
        m = len(limit)
        big = 10**6
        res = np.full((need, m), big, np.int64)
        u_at = np.zeros(m)
        found = np.zeros(m, np.int64)
        bounds = list(self._BOUNDS) + [self.D]
        for c0, c1 in zip(bounds[:-1], bounds[1:]):  # a handful of column chunks
            if c0 >= c1:
                continue
            sel = np.nonzero((found < need) & (limit > c0))[0]
            if not len(sel):
                continue
            h = haz(sel, c0, c1)
            dd = np.arange(c0, c1)
            u = rng.random(h.shape)
            ev = (u < h) & (dd[None, :] < limit[sel][:, None])
            if start is not None:
                ev &= dd[None, :] >= start[sel][:, None]
            cs = np.cumsum(ev, axis=1)
            for q in range(need):
                tq = q + 1 - found[sel]
                hit = cs >= tq[:, None]
                has = hit.any(1) & (tq >= 1)
                pos = hit.argmax(1)
                res[q, sel[has]] = c0 + pos[has]
                if q == 0:
                    first_here = has & (found[sel] == 0)
                    u_at[sel[first_here]] = u[np.nonzero(first_here)[0], pos[first_here]]
            found[sel] += cs[:, -1]
        return res, u_at

    def baseline(self, P: Persons) -> None:
        cfg, rng, n, D, T = self.cfg, self.rng, self.n, self.D, self.T
        lm, sel = cfg["labour_market"], cfg["selection"]
        pop = cfg["population"]
        geo = self.geo
        self.day = rng.integers(1, 11, size=(n, D), dtype=np.int8)  # start day of runs
        self.day[rng.random((n, D)) < 0.4] = 1

        foreign = P.lang == 2
        xbU = (lm["job_finding_intercept"] + np.array([-0.35, 0.0, 0.35])[P.edu] - 0.05 * P.female
               + np.where(foreign, -0.5, np.where(P.lang == 1, 0.1, 0.0)) + geo.area_effect[P.area]
               + lm["latent_effect"] * P.theta)
        xbS = (lm["separation_intercept"] + np.array([0.4, 0.0, -0.4])[P.edu] + 0.2 * foreign
               - 0.3 * P.theta)
        # service person factors (n, V): observed traits only (+ optional unobserved)
        PF = np.zeros((n, len(VNAMES)))
        shares = np.array([self.variants[v]["share"] for v in VNAMES], float)
        shares = shares / shares.sum()
        slopes = np.array([self.variants[v]["selection"]["log_duration"] for v in VNAMES])
        for j, v in enumerate(VNAMES):  # loop over 10 service variants
            c = self.variants[v]["selection"]
            PF[:, j] = shares[j] * np.exp(
                c["female"] * P.female + c["basic_education"] * (P.edu == 0)
                + c["tertiary_education"] * (P.edu == 2) + c["foreign_language"] * foreign)
        PF *= sel["base_rate"] * np.exp(geo.area_service[P.area] - sel["unobserved"] * P.theta)[:, None]
        self.PF = PF
        self.slopes = slopes
        EMAX = 49 + D + 1
        el_grid = np.arange(EMAX)
        G = np.exp(slopes[:, None] * np.log((1.0 + el_grid[None, :]) / 4.0))  # (V, EMAX)
        G = G * np.where(el_grid >= 12, 1.4, 1.0)[None, :]  # long-term unemployed get more offers
        LOG1P = np.log1p(el_grid)

        # initial state
        ini = rng.random(n)
        stock = ini < pop["initially_unemployed_share"]
        el0 = np.where(stock, np.minimum(rng.geometric(1 / 9.0, n) - 1, 48), 0)
        a1 = np.where(stock, 0, rng.integers(1, T, n))
        prior_emp = ~stock & (rng.random(n) < pop["initially_employed_share"] / (1 - pop["initially_unemployed_share"]))
        self.init_elapsed = el0
        pre = a1 > 0
        # episode records: row, start, length, state, job, segment
        rec = [(np.nonzero(pre)[0], np.zeros(pre.sum(), np.int64), a1[pre],
                np.where(prior_emp[pre], E, O).astype(np.int8), np.where(prior_emp[pre], 1, 0).astype(np.int16),
                np.ones(pre.sum(), np.int8))]
        # last three employment runs (for months employed in the 12 months before a spell)
        er_s = np.full((n, 3), -100, np.int64)
        er_e = np.full((n, 3), -100, np.int64)
        er_s[prior_emp, 0] = 0
        er_e[prior_emp, 0] = a1[prior_emp]
        cur_t = a1.astype(np.int64)
        cur_s = np.full(n, U, np.int8)
        cur_el = el0.astype(np.int64)
        cur_seg = np.ones(n, np.int8)
        njob = np.where(prior_emp, 1, 0).astype(np.int16)
        nuep = np.zeros(n, np.int16)
        episodes = []
        ddc = lm["duration_dependence"]
        for _it in range(400):  # loop over episode number
            alive = cur_t < D
            if not alive.any():
                break
            # ---- job-seeking episodes
            r = np.nonzero(alive & (cur_s == U))[0]
            if len(r):
                t0, el = cur_t[r], cur_el[r]
                m = len(r)
                age_s = P.age0[r] + t0 / 12.0
                agef = 0.2 * (age_s < 25) - 0.4 * (age_s > 50) - 0.6 * (age_s > 58)
                xb = xbU[r] + agef
                om = lm["exit_out_rate"] + 0.04 * (age_s >= 60) + 0.5 * (age_s >= 64)

                def haz_u(ix, c0, c1, xb=xb, t0=t0, el=el, om=om):
                    dd = np.arange(c0, c1)[None, :]
                    tt = t0[ix][:, None] + dd
                    lam = expit(xb[ix][:, None] + self.cycle[np.minimum(tt, D - 1)]
                                + ddc * LOG1P[np.minimum(el[ix][:, None] + dd, EMAX - 1)])
                    return (lam + om[ix][:, None]) * (tt < D)

                limit = D - t0
                ex, u_at = self._events(limit, haz_u, 1)
                has = ex[0] < limit
                dex = np.minimum(ex[0], limit)
                tt = np.minimum(t0 + dex, D - 1)
                lam_x = expit(xb + self.cycle[tt] + ddc * LOG1P[np.minimum(el + dex, EMAX - 1)])
                dest_e = has & (u_at < lam_x)
                hist = (np.clip(np.minimum(er_e[r], t0[:, None]) - np.maximum(er_s[r], (t0 - 12)[:, None]), 0, None)
                        ).sum(1)
                seg = self._segment(P, r, age_s, hist, el)
                # service arrivals (first two) before the natural exit
                mult = np.ones((m, len(VNAMES)))
                for j, v in enumerate(VNAMES):
                    c = self.variants[v]["selection"]
                    mult[:, j] = np.exp(c["age_under_25"] * (age_s < 25) + c["age_over_50"] * (age_s > 50))
                base_mult = SEG_SERVICE_MULT[seg] * np.exp(-0.04 * hist) * (age_s < 63)
                CG = ((PF[r] * mult) * base_mult[:, None]) @ G  # (m, EMAX): hazard by elapsed months

                def haz_a(ix, c0, c1, CG=CG, el=el, t0=t0):
                    dd = np.arange(c0, c1)[None, :]
                    e_ix = np.minimum(el[ix][:, None] + dd, EMAX - 1)
                    return np.take_along_axis(CG[ix], e_ix, axis=1) * ((t0[ix][:, None] + dd) < D)

                arr, _ = self._events(dex, haz_a, N_ARRIVALS)
                # the spare: the next arrival after the third, before the natural exit (own stream)
                last = arr[N_ARRIVALS - 1]
                spare, _ = self._events(np.where(last < dex, dex, 0), haz_a, 1, rng=self.spare_rng,
                                        start=np.minimum(last, dex) + 1)
                arrivals = {}
                for q in range(N_ARRIVALS + 1):  # first three arrivals of the selection process, then the spare
                    Aq, g = (arr[q], rng) if q < N_ARRIVALS else (spare[0], self.spare_rng)
                    vq = self._draw_variant(P, r, age_s, el + np.minimum(Aq, D), seg, hist, el, rng=g)
                    arrivals.update({f"A{q}": Aq, f"v{q}": vq, f"L{q}": self._duration(vq, rng=g),
                                     f"vp{q}": g.random(m), f"vl{q}": g.random(m)})
                nuep[r] += 1
                rec.append((r, t0, dex, np.full(m, U, np.int8), np.zeros(m, np.int16), seg))
                episodes.append(dict(row=r, slot=nuep[r].copy(), t0=t0, el=el, dex=dex, seg=seg, hist=hist,
                                     female=P.female[r], **arrivals))
                cur_t[r] = t0 + dex
                cur_s[r] = np.where(dest_e, E, O)
                cur_el[r] = 0
                cur_seg[r] = seg
            # ---- employment episodes
            r = np.nonzero(alive & (cur_s == E))[0]
            if len(r):
                t0 = cur_t[r]
                m = len(r)
                age_s = P.age0[r] + t0 / 12.0
                xs = xbS[r] + 0.4 * (age_s < 25)

                def haz_e(ix, c0, c1, xs=xs, t0=t0):
                    dd = np.arange(c0, c1)[None, :]
                    tt = t0[ix][:, None] + dd
                    return expit(xs[ix][:, None] - 0.5 * self.cycle[np.minimum(tt, D - 1)]) * (tt < D)

                limit = D - t0
                ex, _ = self._events(limit, haz_e, 1)
                dex = np.minimum(ex[0], limit)
                njob[r] += 1
                rec.append((r, t0, dex, np.full(m, E, np.int8), njob[r].copy(), cur_seg[r].copy()))
                # employment-run history (merge with a run ending where this one starts)
                shift = er_e[r, 0] != t0
                rs = r[shift]
                er_s[rs, 1:] = er_s[rs, :2]
                er_e[rs, 1:] = er_e[rs, :2]
                er_s[rs, 0] = t0[shift]
                er_e[r, 0] = t0 + dex
                age_e = age_s + dex / 12.0
                un = rng.random(m)
                nxt = np.where(un < lm["job_to_job_share"], E, np.where(un < 0.95, U, O))
                nxt = np.where(age_e >= 63, O, nxt)
                cur_t[r] = t0 + dex
                cur_s[r] = nxt
            # ---- out of the labour force
            r = np.nonzero(alive & (cur_s == O))[0]
            if len(r):
                t0 = cur_t[r]
                age_s = P.age0[r] + t0 / 12.0
                d = rng.geometric(lm["reentry_rate"], len(r))
                d = np.where(age_s >= 62, D, d)
                d = np.minimum(d, D - t0)
                rec.append((r, t0, d, np.full(len(r), O, np.int8), np.zeros(len(r), np.int16), cur_seg[r].copy()))
                cur_t[r] = t0 + d
                cur_s[r] = U
                cur_el[r] = 0
        rows = np.concatenate([x[0] for x in rec])
        start = np.concatenate([x[1] for x in rec])
        length = np.concatenate([x[2] for x in rec])
        order = np.lexsort((start, rows))
        length = length[order]
        st = np.repeat(np.concatenate([x[3] for x in rec])[order], length).reshape(n, D)
        job = np.repeat(np.concatenate([x[4] for x in rec])[order], length).reshape(n, D)
        self.seg_ff = np.repeat(np.concatenate([x[5] for x in rec])[order], length).reshape(n, D)
        self.base_state, self.base_job = st, job
        self.episodes = {k: np.concatenate([e[k] for e in episodes]) for k in episodes[0]}

    def _segment(self, P: Persons, r, age_s, hist, el) -> np.ndarray:
        rng = self.rng
        basic = P.edu[r] == 0
        tert = P.edu[r] == 2
        foreign = P.lang[r] == 2
        young = age_s < 25
        old = age_s > 55
        noemp = hist == 0
        sc = np.stack([
            -0.8 + 1.0 * tert + 0.12 * hist - 1.0 * noemp,
            0.8 + 0.04 * hist,
            -0.6 + 0.6 * basic + 1.3 * foreign + 0.5 * young,
            -1.6 + 0.8 * noemp + 0.5 * basic + 0.4 * old + 0.6 * (el >= 12),
            -1.8 + 0.9 * old + 0.4 * noemp,
            -2.6 + 1.1 * noemp + 0.6 * basic + 0.5 * young + 0.6 * (el >= 12),
        ], axis=1)
        g = rng.gumbel(size=sc.shape)
        return np.argmax(sc + g, axis=1).astype(np.int8)

    def _draw_variant(self, P, r, age_s, el_at, seg, hist, el0, rng: np.random.Generator | None = None) -> np.ndarray:
        logd = np.log((1.0 + np.minimum(el_at, 400)) / 4.0)
        w = np.empty((len(r), len(VNAMES)))
        for j, v in enumerate(VNAMES):
            c = self.variants[v]["selection"]
            w[:, j] = (self.PF[r, j] * np.exp(c["age_under_25"] * (age_s < 25) + c["age_over_50"] * (age_s > 50)
                                              + c["long_term_unemployed"] * (el_at >= 12))
                       * np.exp(self.slopes[j] * logd))
        w[:, VNAMES.index("rehabilitative_work")] *= np.where(seg == 5, 2.0, 1.0)
        w[:, VNAMES.index("pay_subsidy_public")] *= np.where(seg == 3, 1.8, 1.0)
        cw = np.cumsum(w, axis=1)
        u = (self.rng if rng is None else rng).random(len(r)) * cw[:, -1]
        return np.minimum((cw < u[:, None]).sum(1), len(VNAMES) - 1).astype(np.int8)

    def _duration(self, v: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        mean = np.array([self.variants[x]["duration_mean_months"] for x in VNAMES], float)[v]
        lo = np.array([self.variants[x]["duration_min_months"] for x in VNAMES])[v]
        hi = np.array([self.variants[x]["duration_max_months"] for x in VNAMES])[v]
        d = np.rint((self.rng if rng is None else rng).gamma(4.0, mean / 4.0))
        return np.clip(d, lo, hi).astype(np.int64)

    # -- candidate services and effect calibration ----------------------------------------
    def candidates(self, P: Persons) -> Services:
        """All service arrivals before the natural end of their baseline episode.

        ``slot = 4 * episode + arrival`` orders a person's candidates in time.
        """
        ep = self.episodes
        het = self.cfg["heterogeneity"]
        parts = []
        for q in range(N_ARRIVALS + 1):  # a handful of arrivals per episode (the last: the spare)
            A = ep[f"A{q}"]
            idx = np.nonzero((A < ep["dex"]) & (ep["t0"] + np.minimum(A, self.D) < self.D))[0]
            s = ep["t0"][idx] + A[idx]
            elapsed = ep["el"][idx] + A[idx]
            seg = ep["seg"][idx]
            vv = ep[f"v{q}"][idx].astype(np.int64)
            mult = ((1 + (het["female_multiplier"] - 1) * ep["female"][idx])
                    * np.where(elapsed >= het["long_term_months"], het["long_term_multiplier"], 1.0)
                    * np.asarray(het["segment_multipliers"], float)[seg])
            tau = self.tau_curve[vv] * mult[:, None]
            parts.append(Services(row=ep["row"][idx], slot=ep["slot"][idx].astype(np.int64) * 4 + q, s=s,
                                  L=ep[f"L{q}"][idx], v=vv, vp=ep[f"vp{q}"][idx], vl=ep[f"vl{q}"][idx],
                                  elapsed=elapsed, segment=seg, spare=np.full(len(idx), q == N_ARRIVALS), tau=tau,
                                  pi_post=np.zeros_like(tau), pi_lock=np.zeros(len(idx))))
        svc = Services(**{f: np.concatenate([getattr(p_, f) for p_ in parts]) for f in Services.__dataclass_fields__})
        svc = svc.take(np.lexsort((svc.slot, svc.row)))
        self._calibrate(svc)
        return svc

    def _calibrate(self, all_svc: Services) -> None:
        """Flip probabilities that make the expected effect vs the baseline equal tau.

        Cells: variant x horizon x sex x long-term unemployed; p0 is the cell's baseline
        employment rate at end + h among candidate services of this block (spares left out,
        so that the realised world does not depend on them; they get their cell's values).
        """
        svc = all_svc.take(np.nonzero(~all_svc.spare)[0])
        D = self.D
        het = self.cfg["heterogeneity"]
        base = self.base_state
        cells = svc.v * 4 + self.P.female[svc.row] * 2 + (svc.elapsed >= het["long_term_months"])
        ncell = len(VNAMES) * 4
        hh = np.arange(1, H + 1)
        cols = np.minimum(svc.e[:, None] + hh[None, :], D - 1)
        emp0 = base[svc.row[:, None], cols] == E
        cnt = np.bincount(cells, minlength=ncell).astype(float)
        p0 = np.zeros((ncell, H))
        for j in range(H):  # loop over 24 horizons
            p0[:, j] = np.bincount(cells, weights=emp0[:, j], minlength=ncell) / np.maximum(cnt, 1)
        p0_all = emp0.mean(0) if len(svc.row) else np.full(H, 0.3)
        p0 = np.where(cnt[:, None] >= 20, p0, p0_all[None, :])
        p0 = np.clip(p0, 0.02, 0.98)
        self.p0_cell = p0

        def pis(S: Services):
            c = S.v * 4 + self.P.female[S.row] * 2 + (S.elapsed >= het["long_term_months"])
            pp = p0[c]
            pi = np.where(S.tau >= 0, S.tau / (1 - pp), -S.tau / pp)
            S.pi_post = np.clip(pi, 0, 1)
        pis(all_svc)
        # lock-in: share of baseline-employed participation months removed
        lock = np.array([np.nan if self.variants[x]["lockin_pp"] is None else -self.variants[x]["lockin_pp"] / 100
                         for x in VNAMES])
        Lmax = int(svc.L.max()) if len(svc.L) else 1
        rr = np.arange(Lmax)
        colsd = np.minimum(svc.s[:, None] + rr[None, :], D - 1)
        ind = rr[None, :] < svc.L[:, None]
        empd = (base[svc.row[:, None], colsd] == E) & ind
        num = np.bincount(svc.v, weights=empd.sum(1), minlength=len(VNAMES))
        den = np.bincount(svc.v, weights=ind.sum(1), minlength=len(VNAMES))
        pd = np.clip(num / np.maximum(den, 1), 0.02, 1)
        self.p_during = pd
        pl_ = np.where(np.isnan(lock), 1.0, np.clip(lock / pd, 0, 1))  # NaN: no open-market work during
        all_svc.pi_lock = pl_[all_svc.v]

    def _recalibrate(self, svc: Services, rec: dict) -> None:
        """Second pass: flip probabilities from the states the flips actually meet.

        The first composition records, for every service applied, whether each post-service
        month was flippable (job seeking or out) or employed before its own flips (earlier
        services may have changed it from the baseline). pi = tau / P(flippable) (tau > 0)
        or |tau| / P(employed) per cell, so that E[employed_1 - employed_never] = tau.
        """
        if not rec:
            return
        het = self.cfg["heterogeneity"]
        idx = np.concatenate(rec["idx"])
        elig = np.concatenate(rec["elig"])
        emp = np.concatenate(rec["emp"])
        cells_all = svc.v * 4 + self.P.female[svc.row] * 2 + (svc.elapsed >= het["long_term_months"])
        cells = cells_all[idx]
        ncell = len(VNAMES) * 4
        cnt = np.bincount(cells, minlength=ncell).astype(float)
        pe = np.zeros((ncell, H))
        pu = np.zeros((ncell, H))
        for j in range(H):  # loop over 24 horizons
            pe[:, j] = np.bincount(cells, weights=emp[:, j], minlength=ncell) / np.maximum(cnt, 1)
            pu[:, j] = np.bincount(cells, weights=elig[:, j], minlength=ncell) / np.maximum(cnt, 1)
        ok = cnt[:, None] >= 20
        pu = np.where(ok, pu, np.clip(1 - self.p0_cell, 0.02, 1))
        pe = np.where(ok, pe, self.p0_cell)
        c = cells_all
        pi = np.where(svc.tau >= 0, svc.tau / np.clip(pu[c], 0.02, 1), -svc.tau / np.clip(pe[c], 0.02, 1))
        svc.pi_post = np.clip(pi, 0, 1)
        # lock-in: employment rate during participation before the lock-in, per variant
        dv = np.concatenate(rec["d_v"])
        num = np.bincount(dv, weights=np.concatenate(rec["d_emp"]), minlength=len(VNAMES))
        den = np.bincount(dv, weights=np.concatenate(rec["d_n"]), minlength=len(VNAMES))
        lock = np.array([np.nan if self.variants[x]["lockin_pp"] is None else -self.variants[x]["lockin_pp"] / 100
                         for x in VNAMES])
        pd = np.where(den >= 50, num / np.maximum(den, 1), self.p_during)
        pl_ = np.where(np.isnan(lock), 1.0, np.clip(lock / np.clip(pd, 0.02, 1), 0, 1))
        svc.pi_lock = pl_[svc.v]

    # -- composition -------------------------------------------------------------------
    def compose(self, rows: np.ndarray, svc: Services, include: np.ndarray, reform: bool = True,
                record: dict | None = None):
        """Realised path of ``rows`` given the included services (time-ordered by slot).

        Returns (state, job, feasible) where feasible marks included services that took place.
        """
        D = self.D
        st = self.base_state[rows].copy()
        jb = self.base_job[rows].copy()
        feasible = np.zeros(len(svc.row), bool)
        pos_all = np.searchsorted(rows, svc.row)
        inrows = (pos_all < len(rows)) & (rows[np.minimum(pos_all, len(rows) - 1)] == svc.row)
        use = include & inrows
        if use.any():
            for k in np.unique(svc.slot[use]):  # loop over episode slots
                ii = np.nonzero(use & (svc.slot == k))[0]
                p = pos_all[ii]
                s = svc.s[ii]
                ok = st[p, s] == U
                ii, p, s = ii[ok], p[ok], s[ok]
                if not len(ii):
                    continue
                feasible[ii] = True
                L, v = svc.L[ii], svc.v[ii]
                Lmax = int(L.max())
                rr = np.arange(Lmax)
                cd = s[:, None] + rr[None, :]
                ind = (rr[None, :] < L[:, None]) & (cd < D)
                cdc = np.minimum(cd, D - 1)
                pre = st[p[:, None], cdc]
                if record is not None:
                    record.setdefault("d_v", []).append(v)
                    record.setdefault("d_emp", []).append(((pre == E) & ind).sum(1))
                    record.setdefault("d_n", []).append(ind.sum(1))
                keep = (pre == E) & (svc.vl[ii] >= svc.pi_lock[ii])[:, None]
                new = np.where(np.isin(v, [V_PAY_FIRM, V_PAY_PUB])[:, None], PAY,
                               np.where((v == V_STARTUP)[:, None], STU, SVC)).astype(np.int8)
                new = np.broadcast_to(new, pre.shape)
                val = np.where(keep, pre, new)
                prej = jb[p[:, None], cdc]
                code = (int(k) % 100) * 10 + v[:, None]
                valj = np.where(keep, prej, np.where(new == PAY, JOB_PAY + code, 0)).astype(np.int16)
                pr, pc = np.broadcast_to(p[:, None], ind.shape)[ind], cd[ind]
                st[pr, pc] = val[ind]
                jb[pr, pc] = valj[ind]
                # post-service effects
                hh = np.arange(1, H + 1)
                cp = svc.e[ii][:, None] + hh[None, :]
                indp = cp < D
                cpc = np.minimum(cp, D - 1)
                pre = st[p[:, None], cpc]
                prej = jb[p[:, None], cpc]
                tau = svc.tau[ii]
                hit = svc.vp[ii][:, None] < svc.pi_post[ii]
                if record is not None:  # pre-flip states, for the second calibration pass
                    record.setdefault("idx", []).append(ii)
                    record.setdefault("elig", []).append(((pre == U) | (pre == O)) & indp)
                    record.setdefault("emp", []).append((pre == E) & indp)
                up = (tau > 0) & hit & ((pre == U) | (pre == O))
                down = (tau < 0) & hit & (pre == E)
                code = (int(k) % 100) * 10 + v[:, None]
                jobnew = np.where((v == V_PAY_FIRM)[:, None], JOB_PAY + code, JOB_FLIP + code)
                val = np.where(up, E, np.where(down, U, pre)).astype(np.int8)
                valj = np.where(up, jobnew, np.where(down, 0, prej)).astype(np.int16)
                pr, pc = np.broadcast_to(p[:, None], indp.shape)[indp], cp[indp]
                st[pr, pc] = val[indp]
                jb[pr, pc] = valj[indp]
        if reform and self.pi_reform is not None:
            pr = self.pi_reform[self.P.area[rows]]  # (r, D)
            flip = (st == U) & (self.v_reform[rows][:, None] < pr)
            st[flip] = E
            jb[flip] = JOB_REFORM
        return st, jb, feasible

    # -- wages ------------------------------------------------------------------------
    def wages(self, rows: np.ndarray, st: np.ndarray, jb: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
        """Monthly earnings (open market and subsidised) of a path; 0 when not employed.

        ``st``/``jb`` are the (len(rows), D) path; ``cols`` (len(rows), k) the months wanted
        (default: all). A job's first month is paid from its start day (``self.day``).
        Computed on the employed cells only (elementwise, so the values do not depend on
        which other cells are asked for).
        """
        P = self.P
        lm = self.cfg["labour_market"]
        if cols is None:  # the whole path
            emp = (st == E) | (st == PAY)
            rr, kk = np.nonzero(emp)
            col = kk
            shape = st.shape
        else:
            sc = st[np.arange(len(rows))[:, None], cols]
            rr, kk = np.nonzero((sc == E) | (sc == PAY))
            col = cols[rr, kk]
            shape = cols.shape
        s = st[rr, col]
        j = jb[rr, col].astype(np.int64)
        pc = np.maximum(col - 1, 0)
        ps = np.where(col > 0, st[rr, pc], O)
        pj = jb[rr, pc]
        prow = rows[rr]
        day = self.day[prow, col]
        prev_emp = (ps == E) | (ps == PAY)
        first = ~(prev_emp & (pj == j))
        lw = P.log_wage[prow] + 0.02 * (col / 12.0) + 0.05 * self.cycle[col]
        lw = lw + self.job_z[prow, j % 8] * lm["job_match_sd"]
        # premium of jobs created by a service (job key 1000/2000 + 10 * slot + variant)
        created = (j >= JOB_FLIP) & (j < JOB_REFORM)
        w = np.exp(lw) * np.where(created, 1 + self.prem_v[j % 10], 1.0)
        dim = self.days_in_month[col]
        frac = np.where(first, (dim - day + 1) / dim, 1.0)
        w = np.where(s == PAY, 0.8 * w, w)
        pay = np.round(w * frac, 2)
        side = np.zeros(len(pay))
        open_market = np.nonzero(s == E)[0]
        side[open_market] = self.side_pay(prow[open_market], col[open_market])
        out = np.zeros(shape)
        out[rr, kk] = pay + side
        return out

    def side_pay(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Pay from a side job (second payer) in open-market employed months.

        About 8 % of persons hold a side job in about 60 % of their employed months
        (100-600 euros a month); a hash of (person, month), so the same in every world.
        ``cols`` is (len(rows),) or (len(rows), k); the month hashes are computed for the
        holders only.
        """
        if getattr(self, "_side_holder", None) is None:  # per person, once
            self._side_holder = hash_unit(self.P.pid, 51) < 0.08
        pid = self.P.pid[rows]
        cols = np.asarray(cols)
        holder = np.nonzero(self._side_holder[rows])[0]
        out = np.zeros(cols.shape)
        if cols.ndim == 2:
            k = cols.shape[1]
            key = (np.repeat(pid[holder], k) * 1000 + cols[holder].ravel())
        else:
            key = pid[holder] * 1000 + cols[holder]
        amt = np.zeros(len(key))
        active = np.nonzero(hash_unit(key, 52) < 0.6)[0]
        amt[active] = np.round(100 + 500 * hash_unit(key[active], 53), 2)
        out[holder] = amt.reshape((len(holder),) + cols.shape[1:])
        return out

    # -- everything -------------------------------------------------------------------
    def run(self) -> dict:
        P = self.persons()
        self.P = P
        self.baseline(P)
        D, n = self.D, self.n
        rng = self.rng
        self.job_z = rng.normal(0, 1, (n, 8))
        t_abs = self.m0 + np.arange(D + 1)
        ms = (t_abs // 12 * 12 + t_abs % 12)
        first_days = np.array([np.datetime64(f"{m // 12:04d}-{m % 12 + 1:02d}-01") for m in ms])
        self.days_in_month = np.diff(first_days).astype(np.int64).astype(float)
        svc = self.candidates(P)
        self.prem_v = np.array([self.variants[x]["earnings_premium"] for x in VNAMES])
        # reforms
        self.v_reform = rng.random(n)
        self.pi_reform = None
        all_rows = np.arange(n)
        inc = ~svc.spare  # the spares take place only in 'not now' counterfactuals
        rec: dict = {}
        self.compose(all_rows, svc, inc, reform=False, record=rec)
        self._recalibrate(svc, rec)
        st_noref, jb_noref, feas0 = self.compose(all_rows, svc, inc, reform=False)
        self.reform_info = self._calibrate_reforms(st_noref)
        if self.pi_reform is not None:
            st, jb, feas = self.compose(all_rows, svc, inc, reform=True)
        else:
            st, jb, feas = st_noref, jb_noref, feas0
        self.state, self.jobkey = st, jb
        self.earn = self.wages(all_rows, st, jb)
        self.feasible = feas
        self.candidates_all = svc
        real = svc.take(np.nonzero(feas & (svc.s < self.T))[0])
        truth = self._counterfactuals(real, svc)
        area_month = self._area_month(st, st_noref)
        return dict(P=P, svc=real, truth=truth, area_month=area_month)

    def _calibrate_reforms(self, st_noref: np.ndarray):
        pol = self.cfg["policy"]
        if not pol["enabled"]:
            return None
        A = self.geo.n_areas
        D = self.D
        eff = np.zeros((A, D))
        start = np.full(A, -1)
        for r in pol["reforms"]:  # loop over a handful of reforms
            from impact.simulate.scenario import parse_month
            t0 = parse_month(r["start_month"], "policy.reforms.start_month") - self.m0
            curve = np.asarray(r["effect_pp"], float) / 100.0
            k = np.arange(D) - t0
            val = np.where(k >= 0, curve[np.minimum(np.maximum(k, 0), len(curve) - 1)], 0.0)
            for a in r["areas"]:
                eff[a - 1] = val
                start[a - 1] = t0
        area = self.P.area
        nU = np.zeros((A, D))
        np.add.at(nU, area, (st_noref == U).astype(float))
        npers = np.bincount(area, minlength=A).astype(float)
        shareU = nU / np.maximum(npers[:, None], 1)
        pi = np.where(eff > 0, eff / np.maximum(shareU, 1e-9), 0.0)
        self.pi_reform = np.clip(pi, 0, 1)
        self.reform_eff = eff
        self.reform_start = start
        return dict(eff=eff, start=start)

    def _area_month(self, st: np.ndarray, st_noref: np.ndarray) -> dict:
        A = self.geo.n_areas
        T = self.T
        area = self.P.area
        e1 = np.zeros((A, T))
        e0 = np.zeros((A, T))
        np.add.at(e1, area, (st[:, :T] == E).astype(float))
        np.add.at(e0, area, (st_noref[:, :T] == E).astype(float))
        return dict(persons=np.bincount(area, minlength=A), emp_with=e1, emp_without=e0)

    def _counterfactuals(self, real: Services, svc: Services) -> dict:
        """employed/earnings at end + h with the service, without ('never') and 'not now'."""
        D = self.D
        hh = np.arange(1, H + 1)
        k = len(real.row)
        out = {x: np.zeros((k, H)) for x in ("emp1", "emp0", "empn", "sub1", "sub0", "earn1", "earn0", "earnn")}
        if k == 0:
            return out
        cols = np.minimum(real.e[:, None] + hh[None, :], D - 1)
        st1 = self.state[real.row[:, None], cols]
        out["emp1"] = (st1 == E).astype(np.int8)
        out["sub1"] = (st1 == PAY).astype(np.int8)
        e1 = self.earn[real.row[:, None], cols]
        out["earn1"] = np.where(st1 == E, e1, 0.0)
        # participation months (lock-in): months start + r, r = 0..L-1
        Lmax = int(real.L.max())
        rr = np.arange(Lmax)
        cold = np.minimum(real.s[:, None] + rr[None, :], D - 1)
        out["during_valid"] = (rr[None, :] < real.L[:, None]) & (real.s[:, None] + rr[None, :] < D)
        out["during_cols"] = cold
        out["demp1"] = (self.state[real.row[:, None], cold] == E).astype(np.int8)
        out["demp0"] = np.zeros_like(out["demp1"])
        out["dempn"] = np.zeros_like(out["demp1"])
        # index of each realised service in the full candidate list
        key_all = svc.row.astype(np.int64) * 10_000 + svc.slot
        key_real = real.row.astype(np.int64) * 10_000 + real.slot
        order = np.argsort(key_all)
        where = order[np.searchsorted(key_all, key_real, sorter=order)]
        # the spare arrival of each realised service's episode (-1: the episode has none)
        key_sp = real.row.astype(np.int64) * 10_000 + real.slot // 4 * 4 + N_ARRIVALS
        pos = np.minimum(np.searchsorted(key_all, key_sp, sorter=order), len(order) - 1)
        spare_of = np.where(key_all[order[pos]] == key_sp, order[pos], -1)
        for kslot in np.unique(real.slot):  # loop over episode slots
            jj = np.nonzero(real.slot == kslot)[0]
            rows = real.row[jj]  # unique within a slot, sorted
            srt = np.argsort(rows)
            jj, rows = jj[srt], rows[srt]
            for mode in ("never", "notnow"):
                # not now: every other candidate stays possible (later arrivals may happen), and the
                # episode's spare: without this arrival the next one is among its first three;
                # never: exactly the other services that took place
                inc = ~svc.spare if mode == "notnow" else self.feasible.copy()
                inc[where[jj]] = False
                if mode == "notnow":
                    sp = spare_of[jj]
                    inc[sp[sp >= 0]] = True
                st0, jb0, _ = self.compose(rows, svc, inc, reform=True)
                ar = np.arange(len(rows))
                c = cols[jj]
                earn0 = self.wages(rows, st0, jb0, c)
                s0 = st0[ar[:, None], c]
                key = "emp0" if mode == "notnow" else "empn"
                out[key][jj] = (s0 == E)
                out["demp0" if mode == "notnow" else "dempn"][jj] = st0[ar[:, None], cold[jj]] == E
                if mode == "notnow":
                    out["sub0"][jj] = (s0 == PAY)
                    out["earn0"][jj] = np.where(s0 == E, earn0, 0.0)
                else:
                    out["earnn"][jj] = np.where(s0 == E, earn0, 0.0)
        return out
