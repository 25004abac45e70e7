"""Group-time average treatment effects ATT(g, t) (Callaway and Sant'Anna 2021).

For each cohort ``g`` (units first treated in period ``g``) and period ``t``, ATT(g, t) is the
average effect in period ``t`` on the units of cohort ``g``, identified by comparing their
outcome change from a base period to ``t`` with that of a comparison group (never treated,
or not yet treated by ``max(t, base) + anticipation``). The base period is ``g - 1 -
anticipation`` for post-treatment cells; for pre-treatment cells it is ``t - 1``
("varying") or also ``g - 1 - anticipation`` ("universal").

Balanced panels take a fast path: the wide ``units x periods`` outcome matrix is differenced
for all cells of a cohort at once, and the cells that share the comparison units share one
propensity model and one OLS design (so without covariates nothing is fitted at all; with
never-treated controls one logit per cohort). Unbalanced panels and repeated
cross-sections use the cross-section estimators cell by cell, with the influence functions
summed by unit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from impact.errors import DesignError, EstimationError
from impact.estimators.did._prep import DidData, prepare
from impact.estimators.did._twoperiod import TRIM, independent_columns, panel_2x2, rcs_2x2
from impact.estimators.did.results import AttGtResults, sample_se_from
from impact.estimators.inference import influence_se, multiplier_bootstrap, normal_ci, z_critical
from impact.estimators.logit import LogitWarning

CONTROL_GROUPS = ("never_treated", "not_yet_treated")
METHODS = ("dr", "ipw", "reg", "dr_improved")
BASE_PERIODS = ("varying", "universal")


def _cells(dd: DidData, base_period: str, anticipation: int, control_group: str) -> pd.DataFrame:
    """All (g, t) cells: post and base period positions and the comparison threshold."""
    tl = dd.periods
    T = len(tl)
    rows = []
    for g in np.unique(dd.cohort[np.isfinite(dd.cohort)]):
        base_u = int(np.flatnonzero(tl + anticipation < g)[-1])
        js = range(1, T) if base_period == "varying" else range(T)
        for j in js:
            post_cell = tl[j] >= g
            base = base_u if (post_cell or base_period == "universal") else j - 1
            pre_before = j - 1 if base_period == "varying" else base_u  # R did's pret before the post update
            thr = tl[max(j, pre_before)] + anticipation if control_group == "not_yet_treated" else np.inf
            rows.append((g, tl[j], j, base, thr, base_period == "universal" and j == base))
    return pd.DataFrame(rows, columns=["group", "time", "j", "base", "thr", "reference"])


def _controls(cohort: np.ndarray, g: float, thr: float, stack: np.ndarray | None = None) -> np.ndarray:
    """Comparison units: never treated, or (not-yet-treated) first treated after ``thr``.

    In a stacked design (``stack`` given) only the never-treated units of cohort ``g``'s
    comparison set.
    """
    c = ~np.isfinite(cohort)
    if stack is not None:
        return c & (stack == g)
    if np.isfinite(thr):
        c |= (cohort > thr) & (cohort != g)
    return c


def _noting_logit(notes: list[str], what: str, fn, *args):
    """Call a 2x2 estimator; a propensity logit with probabilities numerically 0 or 1 becomes a note."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LogitWarning)
        out = fn(*args)
    for w in caught:
        if issubclass(w.category, LogitWarning):
            notes.append(f"{what}: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return out


def _estimable(dd: DidData, X: np.ndarray | None, wc: np.ndarray, what: str) -> np.ndarray | None:
    """``X`` without the covariates that do not vary, or are collinear, among the comparison
    units (weights ``wc``) of one comparison: as R ``lm``/``glm`` alias them, with a note."""
    if X is None:
        return None
    keep = independent_columns(X, wc)
    if len(keep) == X.shape[1]:
        return X
    gone = [dd.names[j - 1] if j - 1 < len(dd.names) else f"x{j}" for j in range(1, X.shape[1]) if j not in set(keep)]
    note = (f"{what}: covariate(s) {', '.join(gone)} left out (no variation or collinear among the comparison units; "
            "R lm/glm alias them)")
    if note not in dd.notes:
        dd.notes.append(note)
    return X[:, keep]


def _periods(cells: pd.DataFrame, k) -> str:
    t = cells["time"].to_numpy()[k]
    return ", ".join(f"{x:g}" for x in t) if len(t) <= 6 else f"{t.min():g}..{t.max():g}"


def _sample_rows(inf: np.ndarray, dY: np.ndarray, D: np.ndarray, w: np.ndarray, X: np.ndarray | None,
                 method: str) -> tuple[np.ndarray, np.ndarray]:
    """Influence rows for the *sample* ATT, the average effect of exactly the treated units observed.

    Against the sample ATT the error of the estimate is ``mean_i (dY0_i - m(X_i))`` over the
    treated (their *untreated* changes net of the outcome regression ``m``, fitted on the
    comparison units) minus the comparison units' part; the treated units' observed changes
    ``dY1_i`` do not enter it (``dY1 - dY0`` is the effect being averaged). So:

    * the treated rows' own-outcome term ``wt_i (r_i - mean) / mean(wt)`` (``r`` the residual
      of the outcome regression) is taken out of ``inf``; the terms of the nuisance
      estimation stay;
    * its variance is replaced by that of the treated's counterfactual changes which, under
      the design's assumptions (given ``X`` the comparison units' changes are distributed as
      the treated's untreated changes), is ``sum_i (wt_i / mean(wt))^2 * Sigma``, ``Sigma``
      the residual covariance across the block's cells, estimated from the comparison units
      as ``sum_j wc_j r~_j r~_j' / sum_j wc_j`` with ``r~_j = r_j / sqrt(1 - h_j)`` (``h_j``
      the unit's leverage in the outcome regression: in-sample residuals are smaller than
      the errors by that factor, HC2; it matters when a cohort has few comparison units per
      covariate). It is returned as a second set of rows on the comparison units, ``s *
      sqrt(wc_j) * r~_j`` with ``s^2 = sum_i (wt_i / mean(wt))^2 / sum_j wc_j``, whose squares
      summed unit by unit reproduce ``Sigma`` across periods too (so aggregations over event
      times keep the correlation of a person's path);
    * for ``reg`` and ``dr`` (and every method without covariates), whose comparison rows are
      proportional to the comparison units' residuals, those rows are divided by
      ``sqrt(1 - h_j)`` as well (HC2). Without covariates the sample-ATT standard error is
      then ``s_c * sqrt(1/n_t + 1/n_c)``, ``s_c`` the comparison units' standard deviation of
      the change (``ddof=1``), whatever the treated units' own changes are.

    Returns ``(inf_s, inf_cf)``: the estimate's rows so modified, and the counterfactual rows
    (zero on the treated rows); see :func:`impact.estimators.did.results.sample_se_from`.
    """
    C = D == 0
    T = ~C
    Z = np.ones((len(D), 1)) if X is None else X
    wc = w[C]
    A = (Z[C] * wc[:, None]).T @ Z[C]
    Ainv = np.linalg.pinv(A)
    beta = Ainv @ ((Z[C] * wc[:, None]).T @ dY[C])
    res = dY - Z @ beta
    lev = np.clip(wc * np.einsum("ij,jk,ik->i", Z[C], Ainv, Z[C]), 0.0, 1.0 - 1e-6)
    hc2 = 1.0 / np.sqrt(1.0 - lev)
    wt = (w * D)[T]
    mt = (w * D).mean()
    inf_s = inf.copy()
    res_t = res[T]
    inf_s[T] -= (wt / mt)[:, None] * (res_t - wt @ res_t / wt.sum())
    if X is None or method in ("reg", "dr"):  # without covariates every method is the difference of means
        inf_s[C] *= hc2[:, None]
    s = np.sqrt(np.sum((wt / mt) ** 2) / wc.sum())
    inf_cf = np.zeros_like(inf)
    inf_cf[C] = (s * np.sqrt(wc) * hc2)[:, None] * res[C]
    return inf_s, inf_cf


def _estimate_panel(dd: DidData, cells: pd.DataFrame, method: str, psi: np.ndarray, dropped: np.ndarray,
                    notes: list[str], psi_s: np.ndarray | None = None, psi_cf: np.ndarray | None = None):
    """Fill ``psi`` (and ``psi_s``/``psi_cf``, the sample-ATT rows of :func:`_sample_rows`) and return
    (att, n_treated, n_controls) for a balanced panel."""
    K = len(cells)
    att = np.zeros(K)
    n_t = np.zeros(K, dtype=np.int64)
    n_c = np.zeros(K, dtype=np.int64)
    n = dd.n
    live = ~cells["reference"].to_numpy()
    keys = cells.loc[live, ["group", "thr"]].drop_duplicates().to_numpy()
    for g, thr in keys:  # one block per cohort and comparison set
        k = np.flatnonzero(live & (cells["group"].to_numpy() == g) & (cells["thr"].to_numpy() == thr))
        C = _controls(dd.cohort, g, thr, dd.stack)
        Dfull = dd.cohort == g
        idx = np.flatnonzero(Dfull | C)
        if not C.any():
            raise DesignError(
                f"cohort {g:g}: no comparison units for periods {cells['time'].to_numpy()[k].astype(int).tolist()} "
                "(every other unit is already treated)"
            )
        D = Dfull[idx].astype(float)
        Ysub = dd.Y[idx]
        what = f"cohort {g:g} (comparison set up to {thr:g})" if np.isfinite(thr) else f"cohort {g:g}"
        base = cells["base"].to_numpy()[k]
        # covariates: one design for the block, or (base-period covariates) one per base period
        for b in (np.unique(base) if dd.Xt is not None else [None]):
            kb = k if b is None else k[base == b]
            dY = Ysub[:, cells["j"].to_numpy()[kb]] - Ysub[:, cells["base"].to_numpy()[kb]]
            X = dd.Xt[idx, b] if b is not None else (dd.X[idx] if dd.X is not None else None)
            X = _estimable(dd, X, dd.w[idx] * (1 - D), what)
            try:
                a, inf = _noting_logit(dd.notes, what, panel_2x2, dY, D, dd.w[idx], X, method, what, None, TRIM, False)
            except (DesignError, EstimationError) as exc:  # as R did: the cells are not estimable
                dropped[kb] = True
                notes.append(f"cohort {g:g}, periods {_periods(cells, kb)}: not estimated ({exc})")
                continue
            att[kb] = a
            if psi_s is not None:
                dY = Ysub[:, cells["j"].to_numpy()[kb]] - Ysub[:, cells["base"].to_numpy()[kb]]
                inf_s, inf_cf = _sample_rows(inf, dY, D, dd.w[idx], X, method)
                psi_s[np.ix_(idx, kb)] = inf_s * (n / len(idx))
                psi_cf[np.ix_(idx, kb)] = inf_cf * (n / len(idx))
            inf *= n / len(idx)
            if kb[-1] - kb[0] + 1 == len(kb):  # contiguous cells: a slice is much cheaper than np.ix_
                psi[idx, kb[0] : kb[-1] + 1] = inf
            else:
                psi[np.ix_(idx, kb)] = inf
            n_t[kb] = int(D.sum())
            n_c[kb] = len(idx) - int(D.sum())
    return att, n_t, n_c


def _estimate_rows(dd: DidData, cells: pd.DataFrame, method: str, psi: np.ndarray, dropped: np.ndarray, notes: list[str]):
    """Cell-by-cell cross-section estimators (repeated cross-sections, unbalanced panels)."""
    K = len(cells)
    att = np.zeros(K)
    n_t = np.zeros(K, dtype=np.int64)
    n_c = np.zeros(K, dtype=np.int64)
    rc, rt = dd.row_cohort, dd.row_t
    for k, (g, j, b, thr, ref) in enumerate(cells[["group", "j", "base", "thr", "reference"]].itertuples(index=False)):
        if ref:
            continue
        inwin = (rt == j) | (rt == b)
        D_all = rc == g
        rows = np.flatnonzero(inwin & (D_all | _controls(rc, g, thr, dd.row_stack)))
        D = D_all[rows].astype(float)
        post = (rt[rows] == j).astype(float)
        what = f"cohort {g:g}, period {dd.periods[j]:g}"
        try:
            for nm, cnt in [("treated, post", D @ post), ("treated, base", D @ (1 - post)),
                            ("comparison, post", (1 - D) @ post), ("comparison, base", (1 - D) @ (1 - post))]:
                if cnt == 0:
                    raise DesignError(f"no observations of the {nm} group")
            X = _estimable(dd, dd.row_X[rows] if dd.row_X is not None else None, dd.row_w[rows] * (1 - D), what)
            a, inf = _noting_logit(dd.notes, what, rcs_2x2, dd.row_y[rows], post, D, dd.row_w[rows], X, method, what,
                                   False)
        except (DesignError, EstimationError) as exc:  # as R did: the cell is not estimable
            dropped[k] = True
            notes.append(f"{what}: not estimated ({exc})")
            continue
        att[k] = a
        psi[:, k] = np.bincount(dd.row_unit[rows], weights=inf * (dd.n / len(rows)), minlength=dd.n)
        units = dd.row_unit[rows]
        n_t[k] = len(np.unique(units[D == 1]))
        n_c[k] = len(np.unique(units[D == 0]))
    return att, n_t, n_c


def att_gt(
    data,
    *,
    unit: str | None = None,
    time: str,
    outcome: str,
    group: str | None = None,
    treatment: str | None = None,
    comparison_set: str | None = None,
    covariates: list[str] | None = None,
    control_group: str = "never_treated",
    method: str = "dr",
    anticipation: int = 0,
    base_period: str = "varying",
    cluster: str | None = None,
    weights: str | None = None,
    panel: bool = True,
    allow_unbalanced_panel: bool = False,
    bootstrap: bool = False,
    n_boot: int = 999,
    seed: int | None = None,
    level: float = 0.95,
    covariates_at: str | None = None,
    sample_se: bool = False,
) -> AttGtResults:
    """Group-time average treatment effects on the treated, ATT(g, t).

    Estimand: ``ATT(g, t) = E[Y_t(g) - Y_t(never) | G = g]``, the average effect in period
    ``t`` of first being treated in period ``g`` on the units of that cohort, under parallel
    trends (conditional on ``covariates`` when given) with the chosen comparison group and
    no anticipation beyond ``anticipation`` periods.

    Parameters
    ----------
    data : polars or pandas DataFrame
        Long table: one row per unit and period (panel) or per observation (``panel=False``).
    unit, time, outcome : str
        Column names. ``time`` holds integer periods or dates (dates are counted in months).
    group : str, optional
        First treated period of each unit (same units as ``time``); 0 or null for never treated.
    treatment : str, optional
        Alternative to ``group``: an absorbing 0/1 treatment indicator.
    comparison_set : str, optional
        Stacked (risk-set) designs: for each never-treated unit, the cohort it is a
        comparison for (treated units: their own group, or empty). Cohort ``g`` is then
        compared only with its own comparison set, e.g. persons at risk of entering in ``g``
        who did not enter then (and may enter later: the 'not now' estimand). Needs
        ``control_group="never_treated"``; cluster by the person when a person appears in
        several sets.
    covariates : list of str, optional
        Covariates for the propensity score and outcome regressions, time-invariant unless
        ``covariates_at`` says otherwise. In each comparison, a covariate that does not vary
        (or is collinear) among the comparison units is left out, as R ``lm``/``glm`` alias it,
        with a note. Propensity scores reaching 0.999 for some treated units are a note (as R
        ``DRDID``, comparison units at 0.995 or above get no weight); a cohort whose logit does
        not converge, is singular, or puts every treated unit at 0.999 or above is not
        estimated (a note gives the reason) and the other cohorts are.
    covariates_at : {None, "base_period"}
        ``None``: covariates must not vary within a unit (an error names them). ``"base_period"``
        (balanced panels): each ATT(g, t) uses the covariates' values in its base period, as R
        ``did`` does with time-varying covariates (a note in the results says so).
    sample_se : bool
        Also estimate standard errors for the *sample* ATT, the average effect of exactly the
        treated units observed, ``mean_i (Y_it(g) - Y_it(never))`` over cohort ``g`` (balanced
        panels): ``std_error_sample`` in ``att_gt`` and in every aggregation but ``group``. The
        usual standard errors are for the population ATT(g, t); against the average of the
        sample's own effects (what a simulation's truth is) the error is made by the treated
        units' *untreated* outcome changes, not by their observed ones, which matters while the
        treated are in a service (their observed employment hardly varies then). Their variance
        is taken from the comparison units' regression residuals (HC2), under the design's
        assumption that these are distributed as the treated's untreated changes; see
        :func:`_sample_rows`. Exact in stacked designs (``comparison_set``: each comparison
        unit serves one cohort); where a comparison unit serves several cohorts, aggregations
        over cohorts also count the covariance of its residuals across them, which the treated
        units of different cohorts do not share (an approximation).
    control_group : {"never_treated", "not_yet_treated"}
    method : {"dr", "ipw", "reg", "dr_improved"}
        Doubly robust (Sant'Anna and Zhao, locally efficient), normalised inverse probability
        weighting, outcome regression, or the "improved" doubly robust estimator (panel only).
    anticipation : int
        Number of periods before ``g`` in which units may already react.
    base_period : {"varying", "universal"}
    cluster : str, optional
        Column with a cluster at the unit level or coarser (e.g. employment area).
    weights : str, optional
        Sampling weights (constant within unit).
    panel : bool
        False for repeated cross-sections.
    allow_unbalanced_panel : bool
        Keep units not observed in every period (estimated as cross-sections with the
        influence functions summed by unit); by default they are dropped, with a note.
    bootstrap : bool
        Multiplier-bootstrap standard errors (``n_boot`` draws, ``seed``) and a simultaneous
        confidence band over all cells: ``ci_lower``/``ci_upper`` of ``att_gt`` then hold the
        band (critical value in ``crit_uniform``), as R ``did`` with ``cband=TRUE``.
        Aggregations inherit the choice unless told otherwise.

    Returns
    -------
    AttGtResults
        ``.att_gt`` (group, time, att, std_error, ci_lower, ci_upper, ...), ``.aggregate(kind)``,
        ``.pretest()``, ``.summary()``.
    """
    if control_group not in CONTROL_GROUPS:
        raise DesignError(f"control_group must be one of {CONTROL_GROUPS}, got {control_group!r}")
    if method not in METHODS:
        raise DesignError(f"method must be one of {METHODS}, got {method!r}")
    if base_period not in BASE_PERIODS:
        raise DesignError(f"base_period must be one of {BASE_PERIODS}, got {base_period!r}")
    dd = prepare(
        data, unit=unit, time=time, outcome=outcome, group=group, treatment=treatment,
        covariates=covariates, weights=weights, cluster=cluster, panel=panel,
        allow_unbalanced_panel=allow_unbalanced_panel, anticipation=anticipation,
        control_group=control_group, comparison_set=comparison_set, covariates_at=covariates_at,
    )
    if method == "dr_improved" and dd.Y is None:
        raise DesignError("method='dr_improved' needs a balanced panel")
    cells = _cells(dd, base_period, anticipation, control_group)
    psi = np.zeros((dd.n, len(cells)), order="F")  # column-major: aggregations pick columns
    if sample_se and dd.Y is None:
        raise DesignError("sample_se=True needs a balanced panel (the treated units' counterfactual changes are drawn "
                          "from comparison units observed in every period)")
    psi_s = np.zeros_like(psi) if sample_se else None
    psi_cf = np.zeros_like(psi) if sample_se else None
    # every product here is tall and skinny (n x k, k = covariates + 1): memory-bound, so BLAS
    # threads only add contention
    dropped = np.zeros(len(cells), dtype=bool)
    notes: list[str] = []
    with threadpool_limits(limits=1, user_api="blas"):
        if dd.Y is not None:
            att, n_t, n_c = _estimate_panel(dd, cells, method, psi, dropped, notes, psi_s, psi_cf)
        else:
            att, n_t, n_c = _estimate_rows(dd, cells, method, psi, dropped, notes)
    if dropped.all():
        raise DesignError("no group-time cell could be estimated: " + "; ".join(notes[:5]))
    if dropped.any():  # left out of the table and of every aggregation
        keep = ~dropped
        cells, att, n_t, n_c = cells[keep].reset_index(drop=True), att[keep], n_t[keep], n_c[keep]
        psi = np.asfortranarray(psi[:, keep])
        psi_s = None if psi_s is None else np.asfortranarray(psi_s[:, keep])
        psi_cf = None if psi_cf is None else np.asfortranarray(psi_cf[:, keep])
        dd.notes.extend(notes)

    se = influence_se(psi, dd.cluster)
    se[se <= np.sqrt(np.finfo(float).eps) * 10] = np.nan  # reference cells of the universal base
    se_s = None
    if psi_s is not None:
        se_s = sample_se_from(psi_s, psi_cf, dd.cluster)
        se_s[~np.isfinite(se)] = np.nan
    lo, hi = normal_ci(att, se, level)
    table = pd.DataFrame({
        "group": cells["group"].to_numpy(),
        "time": cells["time"].to_numpy(),
        "att": att,
        "std_error": se,
        "ci_lower": lo,
        "ci_upper": hi,
        "event_time": cells["time"].to_numpy() - cells["group"].to_numpy(),
        "base_period": dd.periods[cells["base"].to_numpy()],
        "post": cells["time"].to_numpy() >= cells["group"].to_numpy(),
        "n_treated": n_t,
        "n_controls": n_c,
    })
    if se_s is not None:
        table["std_error_sample"] = se_s
    crit = None
    if bootstrap:
        ok = np.isfinite(se)
        bs = multiplier_bootstrap(psi[:, ok], n_boot=n_boot, cluster=dd.cluster, rng=seed, level=level)
        table.loc[ok, "std_error"] = bs.std_error
        crit = bs.crit_uniform if np.isfinite(bs.crit_uniform) else z_critical(level)
        lo, hi = normal_ci(table["att"], table["std_error"], level, crit=crit)
        table["ci_lower"], table["ci_upper"] = lo, hi
    for c in ("group", "time", "event_time", "base_period"):
        if np.all(table[c] == np.round(table[c])):
            table[c] = table[c].astype(np.int64)
    return AttGtResults.build(
        table=table, psi=psi, psi_sample=psi_s, psi_counterfactual=psi_cf, dd=dd, outcome=outcome, method=method,
        control_group=control_group,
        base_period=base_period, anticipation=anticipation, level=level, crit=crit,
        bootstrap=bootstrap, n_boot=n_boot, seed=seed,
    )
