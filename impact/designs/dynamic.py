"""Dynamic (risk-set) matching designs on elapsed job-seeking duration.

Services start at different points of a job-seeking spell. The design of Sianesi (2004)
and Li, Propert and Rosenbaum (2001) compares a person who starts the service in month
*u* of job seeking with people who are still job-seeking and untreated at *u*:

* episode and elapsed duration: the register closes a job-seeking spell when a service
  starts and opens a new one when it ends. Spells chained by services (each starting within
  ``link_days`` of the previous one's end, no work in between) form one job-seeking
  episode, and ``u = m - episode start month`` (``elapsed="spell"``: from the spell's own
  start, which restarts the clock after every service and mismatches people with the same
  time out of work);
* risk set (u, calendar month m): spells of episodes that started before m, open on the
  last day of month m - 1 (a spell that continues an episode from its first month);
* treated: spells whose first start of the service falls in month m;
* controls: spells at risk at m that have not started the service by m and are still
  job seeking on the last day of m. A spell that ends during m (a job, leaving the labour
  force, another service) is not a control: the treated were job seeking through m until
  the start, and people who leave in m for a job have far better later outcomes
  (comparing with them biases the ATT downwards, most at short horizons). With
  ``comparison="not_yet"`` (default) controls may start the service later ("join now vs
  wait", the generator's 'not now' counterfactual); ``grace=g`` drops controls that start
  within g months after m; ``comparison="never"`` keeps only controls that do not start it
  within ``window`` months (None: for the rest of the spell), the 'vs never within the
  window' comparison. Dropping later starters conditions on the future and is biased unless
  the window is short: it is offered to show the bias, not as a default.
* covariates frozen at m: age, sex, education, language, segment, elapsed duration, months
  employed and earnings in windows of the months before m (``history``), months employed
  in the 12 months before the episode and age bands at the episode start, from the
  person x month panel;
* exact matching on u, calendar quarter and employment area (and, for outcomes measured
  from the service's end, on the treated's service length so that each control is followed
  over the same months).

The ATT estimated on this table with exact cells is the average over the treated's
distribution of u. A person recurs as a control in several risk sets (and may be treated
later): :func:`impact.estimators.matching.design.match_design` clusters the Abadie-Imbens
variance by person.
Everything is polars joins and ``int_ranges``/``explode``: no Python loop over people or
months.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Sequence

import numpy as np
import polars as pl

from impact.errors import DesignError
from impact.months import pl_month_index

ESTIMANDS = {
    "not_yet": "ATT of starting the service in month u of job-seeking vs not starting it then (join now vs wait: "
               "the comparison may start it later)",
    "never": "ATT of starting the service in month u vs not starting it within the window (conditions on the future)",
}

#: Covariate columns the builder creates (some are dropped if constant in the data).
BASE_COVARIATES = ["age", "age_under_25", "age_over_50", "female", "educ_basic", "educ_tertiary", "lang_sv",
                   "lang_other", "log_elapsed"]


@dataclass
class RiskSetDesign:
    """A dynamic-matching design table (estimate on it with
    :func:`impact.estimators.matching.design.match_design`).

    ``data`` has one row per (spell, risk month[, service length]) with ``treated``, the
    covariates, the exact-matching columns and the outcome columns (``employed_h{h}``,
    ``earnings_h{h}``); ``cluster`` is the person column (controls recur across risk sets).
    """

    data: pl.DataFrame
    covariates: list[str]
    outcomes: list[str]
    horizons: dict[str, int]
    exact: list[str]
    estimand: str
    comparison: str
    origin: str
    cluster: str = "person_id"
    info: dict[str, Any] = field(default_factory=dict)


def _month(col: str) -> pl.Expr:
    return pl_month_index(col)


class _MonthGrid:
    """The panel's months of a set of persons as dense person x month arrays (zeros where the panel
    has no row), so that "the value in month a" and "the sum up to month a" are array lookups, not
    joins: employment, open-market earnings, and their running sums along each person's months
    (summed in month order, as a running sum over the panel rows would be)."""

    def __init__(self, panel: pl.DataFrame, persons: pl.Series, employed: str, earnings: str,
                 subsidised: str | None = None):
        p = panel.select("person_id", pl.col("month").cast(pl.Int64),
                         pl.col(employed).cast(pl.Int64).fill_null(0).alias("_e"),
                         pl.col(earnings).cast(pl.Float64).fill_null(0.0).alias("_w"),
                         _open_earnings(earnings, subsidised).alias("_o"))
        self.persons = np.unique(np.concatenate([p["person_id"].to_numpy(), persons.to_numpy()]))
        m = p["month"].to_numpy()
        self.m0 = int(m.min()) if len(m) else 0
        self.n_months = int(m.max()) - self.m0 + 1 if len(m) else 1
        shape = (len(self.persons), self.n_months)
        cell = np.searchsorted(self.persons, p["person_id"].to_numpy()) * self.n_months + (m - self.m0)
        size = shape[0] * shape[1]
        # one panel row per person and month: each sum below has a single term (exact)
        self.emp = np.bincount(cell, weights=p["_e"].to_numpy(), minlength=size).reshape(shape).astype(np.int64)
        self.open = np.bincount(cell, weights=p["_o"].to_numpy(), minlength=size).reshape(shape)
        self.cum_emp = np.cumsum(self.emp, axis=1)
        self.cum_earn = np.cumsum(np.bincount(cell, weights=p["_w"].to_numpy(), minlength=size).reshape(shape), axis=1)

    def person_index(self, rows: pl.DataFrame) -> np.ndarray:
        """Each row's person as a row of the arrays."""
        return np.searchsorted(self.persons, rows["person_id"].to_numpy())

    def _month(self, rows: pl.DataFrame, month: pl.Expr) -> np.ndarray:
        return rows.select(month.cast(pl.Int64))[:, 0].to_numpy() - self.m0

    def cum_at(self, rows: pl.DataFrame, i: np.ndarray, month: pl.Expr) -> tuple[np.ndarray, np.ndarray]:
        """Months employed and earnings summed up to ``month`` (0 before the panel's first month)."""
        a = self._month(rows, month)
        before = a < 0
        j = np.clip(a, 0, self.n_months - 1)
        return np.where(before, 0, self.cum_emp[i, j]), np.where(before, 0.0, self.cum_earn[i, j])

    def at(self, rows: pl.DataFrame, i: np.ndarray, month: pl.Expr) -> tuple[np.ndarray, np.ndarray]:
        """Employment and open-market earnings in ``month`` (0 where the panel has no row)."""
        a = self._month(rows, month)
        out = (a < 0) | (a >= self.n_months)
        j = np.clip(a, 0, self.n_months - 1)
        return (np.where(out, 0.0, self.emp[i, j].astype(np.float64)), np.where(out, 0.0, self.open[i, j]))


def _drop_unmatchable(rows: pl.DataFrame, exact: list[str]) -> tuple[pl.DataFrame, int]:
    """Drop treated rows whose exact cell has no control (they cannot be matched); count them."""
    nctl = rows.group_by(exact).agg(_nc=(~pl.col("treated")).sum())
    rows = rows.join(nctl, on=exact, how="left")
    no_ctl = rows.filter(pl.col("treated") & (pl.col("_nc") == 0)).height
    return rows.filter(~pl.col("treated") | (pl.col("_nc") > 0)).drop("_nc"), no_ctl


def _open_earnings(earnings: str, subsidised: str | None) -> pl.Expr:
    """Open-market earnings: the earnings column less its subsidised part (when given)."""
    e = pl.col(earnings).cast(pl.Float64).fill_null(0.0)
    return e if subsidised is None else e - pl.col(subsidised).cast(pl.Float64).fill_null(0.0)


def _outcomes(rows: pl.DataFrame, grid: _MonthGrid, month: pl.Expr,
              horizons: Sequence[int]) -> tuple[pl.DataFrame, list[str], dict[str, int]]:
    names, hz, cols, i = [], {}, [], grid.person_index(rows)
    for h in horizons:  # a handful of horizons
        e, w = grid.at(rows, i, month + h)
        cols += [pl.Series(f"employed_h{h}", e), pl.Series(f"earnings_h{h}", w)]
        names += [f"employed_h{h}", f"earnings_h{h}"]
        hz[f"employed_h{h}"] = hz[f"earnings_h{h}"] = h
    return rows.with_columns(cols), names, hz


def _spells_with_first_start(spells: pl.DataFrame, services: pl.DataFrame, service_type: str | Sequence[str],
                             link_days: int, open_month: int) -> pl.DataFrame:
    """Spells with the month of the first start of the service within them (or right after their end)."""
    for name, df, cols in (("jobseeking_spells", spells, ("person_id", "spell_id", "start_date", "end_date")),
                           ("service_spells", services, ("person_id", "service_type", "start_date", "end_date"))):
        miss = [c for c in cols if c not in df.columns]
        if miss:
            raise DesignError(f"{name} lacks column(s) {', '.join(miss)}")
    types = [service_type] if isinstance(service_type, str) else list(service_type)
    sp = spells.select(
        "person_id", "spell_id", pl.col("start_date").alias("sp_start"), pl.col("end_date").alias("sp_end"),
        *([pl.col("segment")] if "segment" in spells.columns else []),
        s0=_month("start_date"),
        # open on the last day of month m-1  <=>  m <= month(end_date + 1 day)
        e1=pl.when(pl.col("end_date").is_null()).then(pl.lit(open_month)).otherwise(
            _month(pl.col("end_date") + pl.duration(days=1))),
    )
    sv = services.filter(pl.col("service_type").is_in(types)).select(
        "person_id", pl.col("start_date").alias("sv_start"), ms=_month("start_date"),
        me=pl.when(pl.col("end_date").is_null()).then(None).otherwise(_month("end_date")),
    )
    if sv.height == 0:
        raise DesignError(f"no service spells of type {types} in service_spells")
    sp = sp.join(_first_linked(sp, sv, link_days), on="spell_id", how="left")
    return sp.join(episode_starts(spells, services, link_days), on="spell_id", how="left")


def _first_linked(sp: pl.DataFrame, sv: pl.DataFrame, link_days: int) -> pl.DataFrame:
    """Per spell, the first service of ``sv`` that starts in it (or up to ``link_days`` after its end)."""
    return (
        sp.select("person_id", "spell_id", "sp_start", "sp_end").join(sv, on="person_id")
        .filter((pl.col("sv_start") > pl.col("sp_start"))
                & (pl.col("sp_end").is_null() | (pl.col("sv_start") <= pl.col("sp_end") + pl.duration(days=link_days))))
        .sort("sv_start")
        .group_by("spell_id", maintain_order=True)
        .first()
        .drop("person_id", "sp_start", "sp_end", "sv_start")
    )


def episode_starts(spells: pl.DataFrame, services: pl.DataFrame, link_days: int) -> pl.DataFrame:
    """Start month ``ep0`` of the job-seeking episode each spell belongs to.

    The register closes a job-seeking spell when a service starts and opens a new one when
    it ends; the person has not worked in between, and the elapsed duration that drives
    both the offer of services and the chances of finding work keeps running. An episode is
    a chain of job-seeking and service spells, each starting within ``link_days`` of the
    end of the chain so far; ``ep0`` is the month its first spell started.
    """
    far = pl.lit(dt.date(9999, 12, 31))
    iv = pl.concat([
        spells.select("person_id", "spell_id", "start_date", "end_date"),
        services.select("person_id", pl.lit(None, dtype=spells.schema["spell_id"]).alias("spell_id"), "start_date",
                        "end_date"),
    ], how="vertical_relaxed").with_columns(
        _s=pl.col("start_date").cast(pl.Date).cast(pl.Int32),
        _e=pl.col("end_date").fill_null(far).cast(pl.Date).cast(pl.Int32),
    ).sort("person_id", "_s")
    iv = iv.with_columns(_reach=pl.col("_e").cum_max().shift(1).over("person_id"))
    new = pl.col("_reach").is_null() | (pl.col("_s") > pl.col("_reach") + link_days)
    iv = iv.with_columns(_new=new.cast(pl.Int32))
    iv = iv.with_columns(_chain=pl.col("_new").cum_sum().over("person_id"))
    iv = iv.with_columns(_ep=pl.col("start_date").min().over("person_id", "_chain"))
    return iv.filter(pl.col("spell_id").is_not_null()).select("spell_id", ep0=_month("_ep"))


def risk_set_design(
    spells: pl.DataFrame,
    services: pl.DataFrame,
    persons: pl.DataFrame,
    panel: pl.DataFrame,
    service_type: str | Sequence[str] = "training",
    horizons: Sequence[int] = (3, 6, 12),
    origin: str = "end",
    comparison: str = "not_yet",
    grace: int = 0,
    window: int | None = None,
    max_elapsed: int = 24,
    history: Sequence[int] = (12, 24),
    first_month: int | None = None,
    last_month: int | None = None,
    employed: str = "employed",
    earnings: str = "earnings",
    link_days: int = 7,
    max_controls: int | None = None,
    seed: int = 0,
    calendar: str = "quarter",
    elapsed: str = "episode",
    person_blocks: int | None = None,
    subsidised_earnings: str | None = None,
) -> RiskSetDesign:
    """Build the risk-set design table for one service (type or list of types).

    Parameters
    ----------
    spells, services, persons
        The ``jobseeking_spells``, ``service_spells`` and ``persons`` registers (polars).
    panel
        Person x month panel with ``person_id``, ``month`` (integer month index) and the
        ``employed`` and ``earnings`` columns (the outcome stage's ``person_month``; months
        absent from it count as not employed with no earnings).
    horizons, origin
        Outcome months: ``h`` months after the service's end month (``origin="end"``,
        the placement follow-up; controls are followed over the same months by exact
        matching on the treated's service length) or after the risk month
        (``origin="start"``, which shows the lock-in during the service).
    comparison, grace, window
        See the module docstring.
    max_elapsed
        Longest elapsed duration (months) at which risk sets are formed.
    history
        Ends of the look-back windows (months before m) for employment and earnings
        history, e.g. (12, 24): months 1-12 and 13-24 before m. Risk sets start only when
        the panel covers the longest window.
    first_month, last_month
        Panel coverage (default: the panel's first and last month). Rows whose longest
        outcome month lies after ``last_month`` are dropped.
    link_days
        A service that starts up to this many days after a spell's end still belongs to it
        (the register closes the spell when the service starts).
    max_controls, seed
        Keep at most this many controls per exact cell (a reproducible random sample by
        ``seed``); None keeps all. With outcomes from the service end every control is
        repeated once per distinct service length in its cell, so large registers need a cap.
    calendar
        Calendar cell for exact matching: ``"quarter"`` (default) or ``"month"``.
    elapsed
        ``"episode"`` (default): elapsed duration from the start of the job-seeking episode
        (spells chained by services); ``"spell"``: from the start of the register spell.
    subsidised_earnings
        Column of ``panel`` with the subsidised part of ``earnings`` (the outcome stage's
        ``subsidised_eur``). When given, the earnings outcomes are open-market earnings,
        ``earnings - subsidised_earnings``, the earnings counterpart of open-market employment
        and what the generator's truth measures (``earnings_1 - earnings_0``: no subsidised
        pay). Without it the earnings outcomes include subsidised pay, and their effect
        includes the service's effect on later subsidised work (for training and pay subsidy
        negative at short horizons: the comparison persons enter subsidised jobs more).
    person_blocks
        Build the table in this many blocks of persons (contiguous ``person_id`` ranges), one
        after another, so that the memory of the risk rows and their history stays that of one
        block. None: one block per :data:`PERSONS_PER_BLOCK` persons with spells. Every person's
        rows are built within one block; what spans blocks (the exact cells with a treated
        row, the comparison rows of each cell, the sampling of comparison rows) is computed
        over all of them, so the table does not depend on the number of blocks.
    """
    if origin not in ("end", "start"):
        raise DesignError(f"origin must be 'end' or 'start', got {origin!r}")
    if comparison not in ESTIMANDS:
        raise DesignError(f"comparison must be 'not_yet' or 'never', got {comparison!r}")
    if calendar not in ("quarter", "month"):
        raise DesignError(f"calendar must be 'quarter' or 'month', got {calendar!r}")
    if elapsed not in ("episode", "spell"):
        raise DesignError(f"elapsed must be 'episode' or 'spell', got {elapsed!r}")
    for col in ("person_id", "month", employed, earnings, *([subsidised_earnings] if subsidised_earnings else [])):
        if col not in panel.columns:
            raise DesignError(f"panel lacks column {col!r} (columns: {', '.join(panel.columns)})")
    for col in ("person_id", "birth_year", "sex", "education", "language", "employment_area"):
        if col not in persons.columns:
            raise DesignError(f"persons lacks column {col!r}")
    horizons = sorted(int(h) for h in horizons)
    history = sorted(int(h) for h in history)
    fm = int(panel["month"].min()) if first_month is None else int(first_month)
    lm = int(panel["month"].max()) if last_month is None else int(last_month)
    sp = _spells_with_first_start(spells, services, service_type, link_days, lm + 1)
    if elapsed == "spell":
        sp = sp.with_columns(ep0=pl.col("s0"))
    per = _person_columns(persons)
    m_lo = fm + history[-1]
    rows_of = partial(_risk_rows, per=per, m_lo=m_lo, max_elapsed=max_elapsed, comparison=comparison, grace=grace,
                      window=window)
    exact3 = ["u", "quarter" if calendar == "quarter" else "m", "employment_area"]
    # the treated rows (a spell's rows are built from the spell alone: those of the spells in
    # which the service starts are the treated rows of the whole table); only risk sets with a
    # treated row matter, and with outcomes from the service end each is repeated per length
    treated = rows_of(sp.filter(pl.col("ms").is_not_null()))[0].filter(pl.col("treated"))
    cells3 = treated.select(exact3).unique()
    exact = exact3 + (["length"] if origin == "end" else [])
    lengths = (treated.filter(pl.col("me").is_not_null()).select(*exact3, length=pl.col("me") - pl.col("ms")).unique()
               if origin == "end" else None)
    bounds = _blocks(sp, person_blocks)
    block = partial(_design_block, sp=sp, panel=panel, rows_of=rows_of, cells3=cells3, lengths=lengths, exact=exact,
                    origin=origin, history=history, horizons=horizons, lm=lm, employed=employed, earnings=earnings,
                    subsidised=subsidised_earnings, seed=seed)
    limit = None
    if max_controls is not None:  # the k-th smallest hash of each cell's comparison rows, over all blocks
        kept = None  # the k smallest hashes per cell so far (not every block's k: 5 GB at 1 M persons)
        for lo, hi in bounds:
            first = block(lo, hi, sample_only=max_controls)[0].select(*exact, "_h")
            kept = first if kept is None else pl.concat([kept, first]).filter(
                pl.col("_h").rank("ordinal").over(exact) <= max_controls)
        limit = kept.group_by(exact).agg(_hmax=pl.col("_h").max())
    hist_cols = [f"{k}_{lo}_{h}" for lo, h in zip([1, *(h + 1 for h in history[:-1])], history)
                 for k in ("emp", "earn")]
    outcome_cols = [f"{k}_h{h}" for h in horizons for k in ("employed", "earnings")]
    hz = {c: h for h in horizons for c in (f"employed_h{h}", f"earnings_h{h}")}
    head = ["person_id", "spell_id", "ep0", "m", "u", "quarter", "employment_area", "treated", "ms", "me",
            "employed_lag1"] + (["length"] if origin == "end" else [])
    parts, counts, n_before, segs = [], [], 0, set()
    for lo, hi in bounds:  # a handful of person blocks
        part, n_at_risk, seg = block(lo, hi, limit=limit)
        # only the table's columns are kept from each block (the blocks' working columns would
        # double the memory of the assembled table)
        parts.append(part.select(*head, *BASE_COVARIATES, *(["segment"] if "segment" in part.columns else []),
                                 *hist_cols, "emp_pre_spell_12", *outcome_cols))
        counts.append(part.group_by(exact).agg(_nc=(~pl.col("treated")).sum(), _nt=pl.col("treated").sum()))
        del part
        n_before += n_at_risk
        segs |= seg
    # treated rows whose exact cell has no comparison row (over all blocks) cannot be matched
    cells = pl.concat(counts).group_by(exact).agg(pl.col("_nc").sum(), pl.col("_nt").sum())
    no_ctl = int(cells.filter(pl.col("_nc") == 0)["_nt"].sum())
    rows = pl.concat(parts, how="vertical", rechunk=False)
    del parts
    rows = rows.join(cells.select(*exact, "_nc"), on=exact, how="left") \
        .filter(~pl.col("treated") | (pl.col("_nc") > 0)).drop("_nc")
    if rows.height == 0 or not rows["treated"].any():
        raise DesignError("the risk-set design has no treated rows with observed outcomes (check horizons, "
                          "service type and the panel's months)")
    seg_cols: list[str] = []
    if "segment" in rows.columns:
        seg_cols = [f"segment_{s}" for s in sorted(segs)[1:]]
        rows = rows.with_columns([(pl.col("segment") == s).cast(pl.Float64).alias(f"segment_{s}")
                                  for s in sorted(segs)[1:]]).drop("segment")
    # employed_lag1 is kept in the table but not in the score: being employed in m-1 while still
    # registered is rare and (in small samples) seen only among controls, which separates the logit
    covs = BASE_COVARIATES + seg_cols + hist_cols + ["emp_pre_spell_12"]
    # drop covariates that are constant in this design (e.g. no Swedish speakers in a small sample)
    covs = [c for c in covs if rows[c].n_unique() > 1]
    keep = head + covs + outcome_cols
    # one order whatever the blocks: (spell, risk month, service length) is unique
    data = rows.select(keep).sort("spell_id", "m", *(["length"] if origin == "end" else [])) \
        .with_columns(pl.col("treated").cast(pl.Float64))
    info = {"rows_at_risk": n_before, "rows": data.height, "treated": int(data["treated"].sum()),
            "treated_dropped_no_controls_in_cell": no_ctl, "person_blocks": len(bounds),
            "first_risk_month": m_lo, "last_month": lm, "service_type": service_type}
    return RiskSetDesign(data=data, covariates=covs, outcomes=outcome_cols, horizons=hz, exact=exact,
                         estimand=ESTIMANDS[comparison] + f"; outcomes {', '.join(map(str, horizons))} months after "
                         f"the {'service end' if origin == 'end' else 'risk month'}; earnings "
                         + ("open-market pay (subsidised pay excluded)" if subsidised_earnings else
                            "all pay including subsidised work"),
                         comparison=comparison, origin=origin, info=info)


#: Persons with job-seeking spells per block of :func:`risk_set_design` (person_blocks=None).
PERSONS_PER_BLOCK = 50_000


def _blocks(sp: pl.DataFrame, n: int | None) -> list[tuple[int, int]]:
    """Contiguous, disjoint ``person_id`` ranges [lo, hi] with about equal numbers of persons."""
    ids = sp["person_id"].unique().sort()
    if n is None:
        n = -(-ids.len() // PERSONS_PER_BLOCK)
    n = max(1, min(int(n), ids.len()))
    cut = [round(i * ids.len() / n) for i in range(n + 1)]
    return [(ids[cut[i]], ids[cut[i + 1] - 1]) for i in range(n)]


def _person_columns(persons: pl.DataFrame) -> pl.DataFrame:
    return persons.select(
        "person_id", "birth_year", "employment_area",
        female=(pl.col("sex") == "F").cast(pl.Float64),
        educ_basic=(pl.col("education") == "basic").cast(pl.Float64),
        educ_tertiary=(pl.col("education") == "tertiary").cast(pl.Float64),
        lang_sv=(pl.col("language") == "sv").cast(pl.Float64),
        lang_other=(pl.col("language") == "other").cast(pl.Float64),
    )


def _risk_rows(sp: pl.DataFrame, per: pl.DataFrame, m_lo: int, max_elapsed: int, comparison: str, grace: int,
               window: int | None) -> tuple[pl.DataFrame, int]:
    """One row per spell and month m at which the spell is at risk (u >= 1), with the person's
    columns; and the number of rows at risk before the comparison rules."""
    # a spell that continues an episode (it starts right after a service) is at risk from its
    # first month; a spell that opens an episode from its second month
    rows = (
        sp.with_columns(
            m_hi=pl.min_horizontal(pl.col("e1"), pl.col("ep0") + max_elapsed, pl.col("ms").fill_null(2**30)),
            m_from=pl.max_horizontal(pl.col("s0") + (pl.col("ep0") >= pl.col("s0")).cast(pl.Int32),
                                     pl.col("ep0") + 1, pl.lit(m_lo)),
        )
        .filter(pl.col("m_hi") >= pl.col("m_from"))
        .with_columns(m=pl.int_ranges(pl.col("m_from"), pl.col("m_hi") + 1, dtype=pl.Int32))
        .explode("m")
        .with_columns(treated=(pl.col("m") == pl.col("ms")).fill_null(False), u=(pl.col("m") - pl.col("ep0")))
    )
    # a control must be job seeking through month m: a spell that ends in m (a job, leaving
    # the labour force, another service starting) was never at risk of starting the service
    # in m as the treated were, and its later outcomes would flatter the comparison
    rows = rows.filter(pl.col("treated") | (pl.col("m") < pl.col("e1")))
    later = pl.col("ms") - pl.col("m")
    n_before = rows.height
    if comparison == "never":
        drop = pl.col("ms").is_not_null() if window is None else (later <= window).fill_null(False)
        rows = rows.filter(pl.col("treated") | ~drop)
    if grace > 0:
        rows = rows.filter(pl.col("treated") | ~(later <= grace).fill_null(False))
    rows = rows.join(per, on="person_id", how="inner").with_columns(
        age=(pl.col("m") // 12 - pl.col("birth_year")).cast(pl.Float64),
        # age at the start of the episode (birth_year gives whole years: +0.5 on average)
        _age_ep=pl.col("ep0") / 12 - pl.col("birth_year") + 0.5,
        quarter=(pl.col("m") // 3).cast(pl.Int32),
        log_elapsed=pl.col("u").cast(pl.Float64).log(),
    ).with_columns(
        age_under_25=(pl.col("_age_ep") < 25).cast(pl.Float64), age_over_50=(pl.col("_age_ep") > 50).cast(pl.Float64),
    ).drop("_age_ep")
    return rows, n_before


def _design_block(lo: int, hi: int, *, sp: pl.DataFrame, panel: pl.DataFrame, rows_of, cells3: pl.DataFrame,
                  lengths: pl.DataFrame | None, exact: list[str], origin: str, history: list[int],
                  horizons: list[int], lm: int, employed: str, earnings: str, subsidised: str | None = None,
                  sample_only: int | None = None, limit: pl.DataFrame | None = None, seed: int = 0):
    """The design rows of the persons ``lo..hi``: risk rows of the cells with a treated row, their
    history, comparison rows per service length (sampled below ``limit``) and outcomes.

    With ``sample_only=k``: only the hashes of the block's k first comparison rows per cell
    (for the sampling threshold over all blocks)."""
    in_block = pl.col("person_id").is_between(lo, hi)
    rows, n_before = rows_of(sp.filter(in_block))
    segs = set(rows["segment"].drop_nulls().unique().to_list()) if "segment" in rows.columns else set()
    rows = rows.join(cells3, on=cells3.columns, how="semi")
    key = ["spell_id", "m"]  # one row per spell and risk month
    ctl_keys = rows.filter(~pl.col("treated")).select(*dict.fromkeys([*key, *cells3.columns]))
    if origin == "end":
        ctl_keys = ctl_keys.join(lengths, on=cells3.columns, how="inner")
    if sample_only is not None or limit is not None:
        # a reproducible random sample of comparison rows per exact cell: the rows with the
        # smallest hashes of (spell, risk month, cell), whatever the blocks
        ctl_keys = ctl_keys.with_columns(_h=pl.struct(*dict.fromkeys([*key, *exact])).hash(seed))
        if sample_only is not None:
            return ctl_keys.filter(pl.col("_h").rank("ordinal").over(exact) <= sample_only), 0, segs
        ctl_keys = ctl_keys.join(limit, on=exact, how="inner").filter(pl.col("_h") <= pl.col("_hmax")) \
            .drop("_h", "_hmax")
    # the panel rows of the persons with risk rows (each person's history and outcomes are their own)
    pb = panel.filter(in_block).join(rows.select("person_id").unique(), on="person_id", how="semi")
    grid = _MonthGrid(pb, rows["person_id"], employed, earnings, subsidised)
    del pb
    rows = _history(rows, grid, history)
    if origin == "end":
        tr = rows.filter(pl.col("treated") & pl.col("me").is_not_null()).with_columns(length=pl.col("me") - pl.col("ms"))
    else:
        tr = rows.filter(pl.col("treated"))
    ctl = ctl_keys.select(*key, *(["length"] if origin == "end" else [])).join(
        rows.filter(~pl.col("treated")), on=key, how="inner")
    rows = pl.concat([tr, ctl.select(tr.columns)], how="vertical")
    out_month = pl.col("m") + pl.col("length") if origin == "end" else pl.col("m")
    rows = rows.filter(out_month + horizons[-1] <= lm)
    rows, _, _ = _outcomes(rows, grid, out_month, horizons)
    return rows, n_before, segs


def _history(rows: pl.DataFrame, grid: _MonthGrid, history: list[int]) -> pl.DataFrame:
    """Employment and earnings in the windows before m, before the episode, and in m - 1 (from the panel)."""
    i = grid.person_index(rows)
    c = {a: grid.cum_at(rows, i, pl.col("m") - a) for a in sorted({1, 2, *(h + 1 for h in history)})}
    s1, s13 = grid.cum_at(rows, i, pl.col("ep0") - 1), grid.cum_at(rows, i, pl.col("ep0") - 13)
    cols, prev = [], 1
    for h in history:
        lo, hi = c[prev], c[h + 1]
        cols += [pl.Series(f"emp_{prev}_{h}", (lo[0] - hi[0]).astype(np.float64)), pl.Series(f"earn_{prev}_{h}", lo[1] - hi[1])]
        prev = h + 1
    return rows.with_columns(*cols, pl.Series("emp_pre_spell_12", (s1[0] - s13[0]).astype(np.float64)),
                             pl.Series("employed_lag1", (c[1][0] - c[2][0]).astype(np.float64)))


def naive_design(
    spells: pl.DataFrame,
    services: pl.DataFrame,
    persons: pl.DataFrame,
    panel: pl.DataFrame,
    service_type: str | Sequence[str] = "training",
    horizons: Sequence[int] = (3, 6, 12),
    last_month: int | None = None,
    employed: str = "employed",
    earnings: str = "earnings",
    link_days: int = 7,
    history: Sequence[int] = (12, 24),
    max_controls: int | None = None,
    seed: int = 0,
) -> RiskSetDesign:
    """The naive static comparison: participants vs never-participants (for demonstration).

    Treated: spells in which the service starts; controls: spells in which it never starts;
    covariates at the spell start; each control is followed from its own spell start over
    the same number of months as the participants of its cell (calendar quarter of the
    spell start, area, months from spell start to service end). Comparing with people who
    never participated conditions on the future (quick leavers never get the chance) and
    is biased; :func:`risk_set_design` is the right design.
    """
    lm = int(panel["month"].max()) if last_month is None else int(last_month)
    fm = int(panel["month"].min())
    sp = _spells_with_first_start(spells, services, service_type, link_days, lm + 1)
    sp = sp.filter(pl.col("s0") >= fm + max(history))
    per = persons.select(
        "person_id", "birth_year", "employment_area", female=(pl.col("sex") == "F").cast(pl.Float64),
        educ_basic=(pl.col("education") == "basic").cast(pl.Float64),
        educ_tertiary=(pl.col("education") == "tertiary").cast(pl.Float64),
        lang_sv=(pl.col("language") == "sv").cast(pl.Float64), lang_other=(pl.col("language") == "other").cast(pl.Float64),
    )
    rows = sp.join(per, on="person_id", how="inner").with_columns(
        age=(pl.col("s0") // 12 - pl.col("birth_year")).cast(pl.Float64), quarter=(pl.col("s0") // 3).cast(pl.Int32),
        treated=pl.col("ms").is_not_null(), m=pl.col("s0"),
    ).with_columns(age_under_25=(pl.col("age") < 25).cast(pl.Float64), age_over_50=(pl.col("age") > 50).cast(pl.Float64))
    tr = rows.filter(pl.col("treated") & pl.col("me").is_not_null()).with_columns(span=pl.col("me") - pl.col("s0"))
    cells = tr.select("quarter", "employment_area", "span").unique()
    ctl = rows.filter(~pl.col("treated")).join(cells, on=["quarter", "employment_area"], how="inner")
    if max_controls is not None:
        cell = ["quarter", "employment_area", "span"]
        ctl = ctl.filter(pl.struct("spell_id", *cell).hash(seed).rank("ordinal").over(cell) <= max_controls)
    rows = pl.concat([tr, ctl.select(tr.columns)], how="vertical")
    rows = rows.filter(pl.col("s0") + pl.col("span") + max(horizons) <= lm)
    rows, no_ctl = _drop_unmatchable(rows, ["quarter", "employment_area", "span"])
    grid = _MonthGrid(panel.join(rows.select("person_id").unique(), on="person_id", how="semi"), rows["person_id"],
                      employed, earnings)
    i = grid.person_index(rows)
    s1, s13 = grid.cum_at(rows, i, pl.col("s0") - 1), grid.cum_at(rows, i, pl.col("s0") - 13)
    rows = rows.with_columns(emp_pre_spell_12=pl.Series((s1[0] - s13[0]).astype(np.float64)),
                             earn_pre_spell_12=pl.Series(s1[1] - s13[1]))
    rows, outcome_cols, hz = _outcomes(rows, grid, pl.col("s0") + pl.col("span"), horizons)
    covs = ["age", "age_under_25", "age_over_50", "female", "educ_basic", "educ_tertiary", "lang_sv", "lang_other",
            "emp_pre_spell_12", "earn_pre_spell_12"]
    covs = [c for c in covs if rows[c].n_unique() > 1]
    data = rows.select(["person_id", "spell_id", "quarter", "employment_area", "span", "treated", "ms", "me"] + covs
                       + outcome_cols).with_columns(pl.col("treated").cast(pl.Float64))
    return RiskSetDesign(data=data, covariates=covs, outcomes=outcome_cols, horizons=hz,
                         exact=["quarter", "employment_area", "span"],
                         estimand="naive: participants vs never-participants (conditions on the future; biased)",
                         comparison="never_participants", origin="end",
                         info={"rows": data.height, "treated": int(data["treated"].sum()),
                               "treated_dropped_no_controls_in_cell": no_ctl})
