"""Synthetic difference-in-differences (Arkhangelsky, Athey, Hirshberg, Imbens and Wager 2021).

Estimand: the average effect on the treated units over their post-treatment periods,
``tau = mean_{i treated, t >= T0} (Y_it(1) - Y_it(0))``.

The estimator reweights units and periods: unit weights ``omega`` on the controls make their
weighted pre-period path parallel to the treated units' average (up to an intercept, with a
ridge penalty ``zeta^2 = ((N_tr T_post)^{1/2}) sigma^2``, ``sigma`` the standard deviation of
the controls' first differences before treatment); time weights ``lambda`` on the pre-periods
make the controls' weighted pre-period level predict their post-period mean (intercept, an
"infinitesimal" penalty). Then ``tau`` is the weighted difference in differences
``(Ybar_tr,post - lambda'Y_tr,pre) - (omega'Y_co,post - omega'Y_co,pre lambda)``. The paper's
Table 1 columns on the same data: the synthetic control (``omega`` without intercept, tiny
penalty, no time weights) and plain DiD (uniform weights). Weights are found by Frank-Wolfe
with ``synthdid``'s stopping rule and its sparsification (weights below a quarter of the
largest are dropped and the problem re-solved).

Standard errors, as ``synthdid``'s ``vcov``: ``placebo`` (controls reassigned as treated,
re-estimating the weights; the only option with one treated unit), ``bootstrap`` (units
resampled; needs two or more treated units) and ``jackknife`` (units left out with the weights
fixed; two or more treated units and controls with positive weight). Confidence intervals are
normal. With ``rng="R"`` the draws are R's after ``set.seed(seed)``, which reproduces
``synthdid``'s published standard errors exactly.

Staggered adoption (``treatment_time`` a dict unit -> first treated period): one SDID per
adoption cohort (its units and the never-treated controls, its own pre- and post-periods), and
the average weighted by treated unit-periods ``N_a T_post,a`` (the paper's appendix; Stata
``sdid``); placebo draws keep the cohort sizes, bootstrap and jackknife act on units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from impact.errors import DesignError
from impact.estimators._rstream import RStream
from impact.estimators.inference import normal_ci
from impact.estimators.results import EstimationResults, tidy_estimates
from impact.estimators.synth._fw import fw_weights
from impact.estimators.synth._wide import treatment_times, wide_panel
from impact.estimators.synth.prep import _fmt_time

SE_METHODS = ("placebo", "bootstrap", "jackknife")
ESTIMATORS = ("sdid", "sc", "did")


# --------------------------------------------------------------------------- one block
@dataclass(frozen=True)
class _Opts:
    """The fixed options of one fit (``synthdid``'s ``opts``), carried into the replications."""

    estimator: str
    zeta_omega: float
    zeta_lambda: float
    min_decrease: float
    max_iter: int = 10_000
    max_iter_pre_sparsify: int = 100


@dataclass
class _Fit:
    tau: float
    omega: np.ndarray
    lam: np.ndarray
    opts: _Opts


def _noise_level(Y: np.ndarray, N0: int, T0: int) -> float:
    """Standard deviation of the controls' period-to-period changes before treatment."""
    if T0 < 2:
        raise DesignError(f"synthetic DiD needs at least two pre-treatment periods, got {T0}")
    return float(np.std(np.diff(Y[:N0, :T0], axis=1), ddof=1))


def _collapsed(Y: np.ndarray, N0: int, T0: int) -> np.ndarray:
    """(N0 + 1) x (T0 + 1): controls' pre-periods and post mean; the treated units' average below."""
    top = np.column_stack([Y[:N0, :T0], Y[:N0, T0:].mean(axis=1)])
    bottom = np.concatenate([Y[N0:, :T0].mean(axis=0), [Y[N0:, T0:].mean()]])
    return np.vstack([top, bottom])


def _sparsify(v: np.ndarray) -> np.ndarray:
    v = np.where(v <= v.max() / 4, 0.0, v)
    return v / v.sum()


def _solve(M: np.ndarray, zeta: float, intercept: bool, x0: np.ndarray | None, o: _Opts) -> np.ndarray:
    x0 = np.full(M.shape[1] - 1, 1.0 / (M.shape[1] - 1)) if x0 is None else x0
    M = np.ascontiguousarray(M, dtype=float)
    x = fw_weights(M, zeta, intercept, np.ascontiguousarray(x0, dtype=float), o.min_decrease, o.max_iter_pre_sparsify)
    return fw_weights(M, zeta, intercept, _sparsify(x), o.min_decrease, o.max_iter)


def _fit(Y: np.ndarray, N0: int, T0: int, o: _Opts, omega0: np.ndarray | None = None,
         lam0: np.ndarray | None = None, update: bool = True) -> _Fit:
    """One block (controls first, then treated; pre-periods first): weights and estimate.

    ``omega0``/``lam0`` initialise the solver (``update=True``) or are used as they are.
    """
    N1, T1 = Y.shape[0] - N0, Y.shape[1] - T0
    est = o.estimator
    if est == "did":
        omega, lam = np.full(N0, 1.0 / N0), np.full(T0, 1.0 / T0)
    else:
        Yc = _collapsed(Y, N0, T0)
        if est == "sc":
            lam = np.zeros(T0)
        elif update or lam0 is None:
            lam = _solve(Yc[:N0, :], o.zeta_lambda, True, lam0, o)
        else:
            lam = lam0
        if update or omega0 is None:
            omega = _solve(Yc[:, :T0].T, o.zeta_omega, est == "sdid", omega0, o)
        else:
            omega = omega0
    tau = float(np.concatenate([-omega, np.full(N1, 1.0 / N1)]) @ Y @ np.concatenate([-lam, np.full(T1, 1.0 / T1)]))
    return _Fit(tau, omega, lam, o)


def _opts(Y: np.ndarray, N0: int, T0: int, estimator: str) -> _Opts:
    noise = _noise_level(Y, N0, T0)
    N1, T1 = Y.shape[0] - N0, Y.shape[1] - T0
    eta_omega = 1e-6 if estimator == "sc" else (N1 * T1) ** 0.25
    return _Opts(estimator, eta_omega * noise, 1e-6 * noise, 1e-5 * noise)


def _normalize(x: np.ndarray) -> np.ndarray:
    s = x.sum()
    return x / s if s != 0 else np.full(len(x), 1.0 / len(x))


# --------------------------------------------------------------------------- the design
@dataclass
class _Cohort:
    """One adoption cohort: its treated rows, its post-periods and its fit."""

    time: Any
    treated: np.ndarray  # row indices into the panel
    T0: int  # number of periods before adoption
    fit: _Fit | None = None


@dataclass
class _Design:
    Y: np.ndarray  # units x periods
    units: np.ndarray
    times: np.ndarray
    controls: np.ndarray  # row indices of the never-treated units
    cohorts: list[_Cohort]


def _estimate(design: _Design, estimator: str, controls: np.ndarray | None = None,
              treated: list[np.ndarray] | None = None, init: list[_Fit] | None = None,
              control_pos: np.ndarray | None = None, update: bool = True) -> tuple[float, list[_Fit], np.ndarray]:
    """Cohort estimates and their average weighted by treated unit-periods.

    ``controls``/``treated`` replace the design's rows (replications); ``init`` gives each
    cohort's original fit whose weights initialise (or, ``update=False``, fix) the new ones,
    ``control_pos`` the original positions of the new control rows in those weights.
    """
    c = design.controls if controls is None else controls
    fits, taus, wts = [], [], []
    for k, coh in enumerate(design.cohorts):
        tr = coh.treated if treated is None else treated[k]
        if len(tr) == 0:
            continue
        Y = design.Y[np.concatenate([c, tr])]
        if init is None:
            o = _opts(Y, len(c), coh.T0, estimator)
            f = _fit(Y, len(c), coh.T0, o)
        else:
            f0 = init[k]
            om0 = _normalize(f0.omega[control_pos])
            f = _fit(Y, len(c), coh.T0, f0.opts, om0, f0.lam, update=update)
        fits.append(f)
        taus.append(f.tau)
        wts.append(len(tr) * (Y.shape[1] - coh.T0))
    w = np.asarray(wts, dtype=float)
    return float(np.asarray(taus) @ w / w.sum()), fits, w / w.sum()


def _draw_index(gen, n: int, replace: bool) -> np.ndarray:
    if isinstance(gen, RStream):
        return gen.sample(n, replace=replace)
    return gen.integers(0, n, size=n) if replace else gen.permutation(n)


def _placebo(design: _Design, estimator: str, fits: list[_Fit], reps: int, gen) -> np.ndarray:
    """Placebo replications: random controls take the treated units' roles (cohort sizes kept)."""
    N0 = len(design.controls)
    n_tr = [len(c.treated) for c in design.cohorts]
    if N0 <= sum(n_tr):
        raise DesignError(f"placebo standard errors need more controls ({N0}) than treated units ({sum(n_tr)})")
    out = np.empty(reps)
    for r in range(reps):  # replications (each a full re-estimation)
        perm = _draw_index(gen, N0, replace=False)
        n0 = N0 - sum(n_tr)
        pos_c = perm[:n0]
        splits = np.split(perm[n0:], np.cumsum(n_tr)[:-1])
        out[r] = _estimate(design, estimator, controls=design.controls[pos_c],
                           treated=[design.controls[s] for s in splits], init=fits, control_pos=pos_c)[0]
    return out


def _bootstrap(design: _Design, estimator: str, fits: list[_Fit], reps: int, gen) -> np.ndarray:
    """Unit bootstrap, re-estimating the weights; draws without controls or treated units are redrawn."""
    N0 = len(design.controls)
    tr_rows = [c.treated for c in design.cohorts]
    all_rows = np.concatenate([design.controls] + tr_rows)  # synthdid's row order: controls, then treated
    n = len(all_rows)
    owner = np.concatenate([np.full(N0, -1)] + [np.full(len(t), k) for k, t in enumerate(tr_rows)])
    out = np.empty(reps)
    r = 0
    while r < reps:  # replications; a draw of one group only is skipped, as synthdid does
        ind = np.sort(_draw_index(gen, n, replace=True))
        is_c = ind < N0
        if is_c.all() or not is_c.any():
            continue
        treated = [all_rows[ind[owner[ind] == k]] for k in range(len(tr_rows))]
        out[r] = _estimate(design, estimator, controls=all_rows[ind[is_c]], treated=treated, init=fits,
                           control_pos=ind[is_c])[0]
        r += 1
    return out


def _jackknife(design: _Design, estimator: str, fits: list[_Fit]) -> float:
    """Fixed-weights jackknife over units (synthdid's Algorithm 3)."""
    N0 = len(design.controls)
    if any(len(c.treated) < 2 for c in design.cohorts):
        raise DesignError("jackknife standard errors need at least two treated units in every adoption cohort")
    if any(int((f.omega != 0).sum()) < 2 for f in fits):
        raise DesignError("jackknife standard errors need at least two controls with positive weight")
    tr_rows = [c.treated for c in design.cohorts]
    u = []
    for i in range(N0):  # leave one control out
        keep = np.delete(np.arange(N0), i)
        u.append(_estimate(design, estimator, controls=design.controls[keep], init=fits, control_pos=keep,
                           update=False)[0])
    for k, t in enumerate(tr_rows):  # leave one treated unit out
        for j in range(len(t)):
            treated = [np.delete(tt, j) if kk == k else tt for kk, tt in enumerate(tr_rows)]
            u.append(_estimate(design, estimator, treated=treated, init=fits, control_pos=np.arange(N0),
                               update=False)[0])
    u = np.asarray(u)
    n = len(u)
    return float(np.sqrt((n - 1) / n * (n - 1) * np.var(u, ddof=1)))


# --------------------------------------------------------------------------- results
@dataclass
class SdidResults(EstimationResults):
    """Synthetic difference-in-differences fit (see the module docstring).

    ``estimate``, ``std_error``; ``unit_weights`` (controls, omega), ``time_weights``
    (pre-periods, lambda) of the first cohort (all cohorts: ``weights_table``);
    ``sc_estimate``/``did_estimate`` (and ``comparison``: the three estimators with the same
    standard-error method); ``cohorts`` (one row per adoption cohort); ``diagnostics``.
    """

    estimate: float = float("nan")
    std_error: float = float("nan")
    se_method: str = ""
    unit_weights: pd.Series = field(default_factory=pd.Series)
    time_weights: pd.Series = field(default_factory=pd.Series)
    sc_estimate: float = float("nan")
    did_estimate: float = float("nan")
    comparison: pd.DataFrame = field(default_factory=pd.DataFrame)
    cohorts: pd.DataFrame = field(default_factory=pd.DataFrame)
    weights_table: pd.DataFrame = field(default_factory=pd.DataFrame)
    replications: np.ndarray | None = field(default=None, repr=False)
    diagnostics: dict = field(default_factory=dict)
    _design: _Design | None = field(default=None, repr=False)
    _fits: dict = field(default_factory=dict, repr=False)

    def conf_int(self, level: float | None = None) -> pd.DataFrame:
        lo, hi = normal_ci(self.estimate, self.std_error, level or self.level)
        return pd.DataFrame({"lower": [float(lo)], "upper": [float(hi)]}, index=["ATT"])

    def trends(self, estimator: str = "sdid", cohort: int = 0) -> pd.DataFrame:
        """Weighted trends of one cohort for the parallel-trends plot.

        Columns: ``time``, ``treated`` (treated units' mean), ``control`` (omega-weighted
        controls), ``control_shifted`` (control moved to the treated units' time-weighted
        pre-period level: the counterfactual path), ``time_weight`` (lambda; 0 after
        adoption), ``post``.
        """
        d, f = self._design, self._fits[estimator][cohort]
        coh = d.cohorts[cohort]
        tr = d.Y[coh.treated].mean(axis=0)
        co = f.omega @ d.Y[d.controls]
        T0 = coh.T0
        lam = f.lam if f.lam.sum() > 0 else np.full(T0, 1.0 / T0)
        shift = float(lam @ (tr[:T0] - co[:T0]))
        tw = np.zeros(len(d.times))
        tw[:T0] = f.lam
        return pd.DataFrame({"time": d.times, "treated": tr, "control": co, "control_shifted": co + shift,
                             "time_weight": tw, "post": np.arange(len(d.times)) >= T0})

    def unit_contributions(self, estimator: str = "sdid", cohort: int = 0) -> pd.DataFrame:
        """Per control unit: the (time-weighted) DiD estimate against that unit alone and its weight
        (the estimate is their omega-weighted average): the unit-weight dot plot's data."""
        d, f = self._design, self._fits[estimator][cohort]
        coh = d.cohorts[cohort]
        T0 = coh.T0
        lam = f.lam if f.lam.sum() > 0 else np.full(T0, 1.0 / T0)
        Y = d.Y
        tr = Y[coh.treated].mean(axis=0)
        diff_tr = tr[T0:].mean() - lam @ tr[:T0]
        Yc = Y[d.controls]
        diff_c = Yc[:, T0:].mean(axis=1) - Yc[:, :T0] @ lam
        return pd.DataFrame({"unit": d.units[d.controls], "estimate": diff_tr - diff_c, "weight": f.omega}
                            ).sort_values("weight", ascending=False, ignore_index=True)


def _weights_diag(omega: np.ndarray, lam: np.ndarray) -> dict:
    return {"n_units_positive": int((omega > 0).sum()), "max_unit_weight": float(omega.max()),
            "effective_units": float(1.0 / np.sum(omega**2)), "n_periods_positive": int((lam > 0).sum()),
            "effective_periods": float(1.0 / np.sum(lam**2)) if lam.sum() > 0 else float("nan")}


def _prepare(data: Any, unit: str, time: str, outcome: str, treated: Any, treatment_time: Any) -> _Design:
    Y, units, times, _ = wide_panel(data, unit, time, outcome)
    t0 = treatment_times(units, times, treated, treatment_time, unit)
    pos = {u: int(np.flatnonzero(units == u)[0]) for u in t0}
    controls = np.array([i for i in range(len(units)) if not any(units[i] == u for u in t0)], dtype=np.int64)
    if len(controls) < 2:
        raise DesignError(f"synthetic DiD needs at least two never-treated units, got {len(controls)}")
    cohorts = []
    for tt in sorted(set(t0.values())):
        T0 = int(np.flatnonzero(times == tt)[0])
        if T0 < 2:
            raise DesignError(f"treatment time {_fmt_time(tt)}: synthetic DiD needs at least two earlier periods")
        rows = np.array(sorted(pos[u] for u in t0 if t0[u] == tt), dtype=np.int64)
        cohorts.append(_Cohort(tt, rows, T0))
    return _Design(Y, units, times, controls, cohorts)


def synthetic_did(
    data: Any,
    unit: str,
    time: str,
    outcome: str,
    treated: Any,
    treatment_time: Any,
    se: str = "placebo",
    replications: int = 200,
    seed: int = 0,
    rng: str = "numpy",
    level: float = 0.95,
    comparison_se: bool = True,
) -> SdidResults:
    """Synthetic difference-in-differences estimate of the average effect on the treated.

    Estimand: ``tau``, the average of ``Y_it(1) - Y_it(0)`` over the treated units and their
    periods from treatment on (staggered: each cohort's, averaged by treated unit-periods).

    Parameters
    ----------
    data : balanced long panel (polars or pandas), one row per unit and period.
    unit, time, outcome : column names.
    treated : the treated unit or a list of treated units (all other units are controls).
    treatment_time : first treated period, common to all treated units, or a dict unit -> period
        (staggered adoption).
    se : "placebo", "bootstrap" or "jackknife" (see the module docstring); ``None`` for none.
    replications : placebo / bootstrap draws (synthdid's 200).
    seed, rng : draws from numpy's generator (``rng="numpy"``) or R's after ``set.seed(seed)``
        (``rng="R"``: the same draws as ``synthdid`` in R).
    comparison_se : also compute the standard errors of the SC and DiD columns.

    Returns
    -------
    SdidResults
    """
    if se is not None and se not in SE_METHODS:
        raise DesignError(f"se must be one of {SE_METHODS} or None, got {se!r}")
    if rng not in ("numpy", "R"):
        raise DesignError(f"rng must be 'numpy' or 'R', got {rng!r}")
    if replications < 2:
        raise DesignError(f"replications must be at least 2, got {replications}")
    design = _prepare(data, unit, time, outcome, treated, treatment_time)
    n_tr = sum(len(c.treated) for c in design.cohorts)
    if se == "bootstrap" and n_tr < 2:
        raise DesignError("bootstrap standard errors need at least two treated units (synthdid returns NA); "
                          "use se='placebo'")
    rows, fits_all, reps_all, skipped = [], {}, None, []
    for est in ESTIMATORS:
        tau, fits, cw = _estimate(design, est)
        fits_all[est] = fits
        sev, draws = float("nan"), None
        if se is not None and (est == "sdid" or comparison_se):
            gen = RStream(seed) if rng == "R" else np.random.default_rng(seed)
            try:
                if se == "placebo":
                    draws = _placebo(design, est, fits, replications, gen)
                elif se == "bootstrap":
                    draws = _bootstrap(design, est, fits, replications, gen)
                else:
                    sev = _jackknife(design, est, fits)
            except DesignError as exc:
                if est == "sdid":
                    raise
                skipped.append(f"no {se} standard error for the {est.upper()} column: {exc}")
            if draws is not None:
                sev = float(np.sqrt((replications - 1) / replications) * np.std(draws, ddof=1))
        if est == "sdid":
            reps_all, cohort_w = draws, cw
        rows.append({"estimator": {"sdid": "synthetic DiD", "sc": "synthetic control", "did": "DiD"}[est],
                     "estimate": tau, "std_error": sev})
    comp = pd.DataFrame(rows)
    lo, hi = normal_ci(comp["estimate"], comp["std_error"], level)
    comp["ci_lower"], comp["ci_upper"] = lo, hi
    sd = comp.iloc[0]
    first = fits_all["sdid"][0]
    c0 = design.cohorts[0]
    unit_w = pd.Series(first.omega, index=pd.Index(design.units[design.controls], name=unit), name="omega")
    time_w = pd.Series(first.lam, index=pd.Index(design.times[:c0.T0], name=time), name="lambda")
    wt = pd.concat([pd.DataFrame({"cohort": c.time, "kind": "unit", "key": design.units[design.controls],
                                  "weight": f.omega}) for c, f in zip(design.cohorts, fits_all["sdid"])]
                   + [pd.DataFrame({"cohort": c.time, "kind": "time", "key": design.times[:c.T0], "weight": f.lam})
                      for c, f in zip(design.cohorts, fits_all["sdid"])], ignore_index=True)
    cohorts = pd.DataFrame({"cohort": [c.time for c in design.cohorts], "n_treated": [len(c.treated) for c in design.cohorts],
                            "n_pre": [c.T0 for c in design.cohorts], "n_post": [len(design.times) - c.T0 for c in design.cohorts],
                            "weight": cohort_w, "estimate": [f.tau for f in fits_all["sdid"]]})
    Yc = design.Y[design.controls]
    pre_gap = []
    for c, f in zip(design.cohorts, fits_all["sdid"]):
        g = design.Y[c.treated].mean(axis=0)[:c.T0] - f.omega @ Yc[:, :c.T0]
        pre_gap.append(g - g.mean())  # SDID allows a level difference (intercept)
    diag = {"pre_rmse": float(np.sqrt(np.mean(np.concatenate(pre_gap) ** 2))),
            "pre_rmse_sc": float(np.sqrt(np.mean(np.concatenate([
                design.Y[c.treated].mean(axis=0)[:c.T0] - f.omega @ Yc[:, :c.T0]
                for c, f in zip(design.cohorts, fits_all["sc"])]) ** 2))),
            **_weights_diag(first.omega, first.lam), "n_controls": len(design.controls), "n_treated": n_tr,
            "n_cohorts": len(design.cohorts)}
    est_rows = [{"outcome": outcome, "estimand": "ATT", "horizon": "post", "estimate": sd["estimate"],
                 "std_error": sd["std_error"], "n_treated": n_tr, "n_controls": len(design.controls)}]
    estimates = tidy_estimates(est_rows, level)
    notes = [f"standard error: {se} ({replications} replications)" if se in ("placebo", "bootstrap") else
             f"standard error: {se}" if se else "no standard error requested"]
    notes += skipped
    if len(design.cohorts) > 1:
        notes.append(f"staggered adoption: {len(design.cohorts)} cohorts estimated separately and averaged by treated "
                     "unit-periods")
    return SdidResults(
        estimates=estimates, method="synthetic difference-in-differences", level=level, notes=notes,
        info={"se_method": se, "replications": replications, "rng": rng, "seed": seed, **diag},
        estimate=float(sd["estimate"]), std_error=float(sd["std_error"]), se_method=se or "",
        unit_weights=unit_w, time_weights=time_w, sc_estimate=float(comp.iloc[1]["estimate"]),
        did_estimate=float(comp.iloc[2]["estimate"]), comparison=comp, cohorts=cohorts, weights_table=wt,
        replications=reps_all, diagnostics=diag, _design=design, _fits=fits_all,
    )
