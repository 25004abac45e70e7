"""Single- and multi-unit synthetic control: the fit and its results objects (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
import polars as pl

from impact.errors import DesignError
from impact.estimators.results import EstimationResults, tidy_estimates
from impact.estimators.synth._wide import per_unit_times
from impact.estimators.synth.engine import FitOptions, fit_columns, run_fits
from impact.estimators.synth.prep import SynthPanel, _fmt_time, build_panel, to_polars



# --------------------------------------------------------------------------- results objects
@dataclass
class PlaceboResults:
    """In-space placebo inference for one treated unit.

    ``ratios``: one row per unit (the treated unit and every donor refitted as if treated) with
    pre- and post-period MSPE, the post/pre RMSPE ratio and its rank (1 = largest).
    ``gaps``: long table (unit, time, gap, treated). ``p_value = rank / (J + 1)``.
    ``filtered``: the same p-value after dropping placebos whose pre-MSPE exceeds a multiple of
    the treated unit's (one row per multiple).
    """

    ratios: pd.DataFrame
    gaps: pd.DataFrame
    p_value: float
    rank: int
    n_units: int
    filtered: pd.DataFrame
    treatment_time: Any
    # donor weights of each placebo fit over the panel's columns (J x units), for the scaled interval
    placebo_weights: np.ndarray | None = field(default=None, repr=False)

    def atts(self) -> pd.Series:
        """Placebo ATT of each donor: its mean gap over the post period, indexed by unit (donor order)."""
        g = self.gaps[~self.gaps["treated"]]
        return g[g["time"] >= self.treatment_time].groupby("unit", sort=False)["gap"].mean()

    def poor_fit(self, max_pre_mspe_ratio: float = 5.0) -> pd.Series:
        """Per row of ``ratios``: a placebo whose pre-period MSPE exceeds ``max_pre_mspe_ratio``
        times the treated unit's (never the treated unit itself)."""
        tr = float(self.ratios.loc[self.ratios["treated"], "pre_mspe"].iloc[0])
        return (~self.ratios["treated"]) & (self.ratios["pre_mspe"] > max_pre_mspe_ratio * tr)

    def pre_fit_filter(self, max_pre_mspe_ratio: float = 5.0) -> tuple[int, float]:
        """(units kept, p-value) of the in-space test without the placebos of :meth:`poor_fit`
        (Abadie, Diamond and Hainmueller 2010; SCtools' ``mspe.limit``): ``p = rank / kept``."""
        r = self.ratios[~self.poor_fit(max_pre_mspe_ratio)]
        ratio_t = float(r.loc[r["treated"], "ratio"].iloc[0])
        return len(r), float((r["ratio"] >= ratio_t).sum() / len(r))

    def band(self, level: float = 0.90, max_pre_mspe_ratio: float | None = None) -> pd.DataFrame:
        """Pointwise placebo band: quantiles of the donors' placebo gaps by period."""
        g = self.gaps[~self.gaps["treated"]]
        if max_pre_mspe_ratio is not None:
            tr = float(self.ratios.loc[self.ratios["treated"], "pre_mspe"].iloc[0])
            keep = self.ratios.loc[(~self.ratios["treated"]) & (self.ratios["pre_mspe"] <= max_pre_mspe_ratio * tr), "unit"]
            g = g[g["unit"].isin(keep)]
        q = g.groupby("time")["gap"].quantile([(1 - level) / 2, (1 + level) / 2]).unstack()
        q.columns = ["lower", "upper"]
        return q.reset_index()


@dataclass
class LeaveOneOutResults:
    """Refits dropping, one at a time, each donor with positive weight."""

    paths: pd.DataFrame  # dropped, time, synthetic, gap
    weights: pd.DataFrame  # dropped, unit, weight
    summary: pd.DataFrame  # dropped, pre_rmspe, att
    main: pd.DataFrame | None = None  # the full fit's paths (time, treated, synthetic, gap)
    treatment_time: Any = None


@dataclass
class SynthResults(EstimationResults):
    """A synthetic-control fit for one treated unit (see the module docstring for conventions)."""

    treated: Any = None
    treatment_time: Any = None
    weights: pd.Series = field(default_factory=pd.Series)
    v: pd.Series = field(default_factory=pd.Series)
    pre_mspe: float = float("nan")
    pre_rmspe: float = float("nan")
    fit_mspe: float = float("nan")
    paths: pd.DataFrame = field(default_factory=pd.DataFrame)
    predictor_balance: pd.DataFrame = field(default_factory=pd.DataFrame)
    placebo_results: PlaceboResults | None = None
    _panel: SynthPanel | None = field(default=None, repr=False)
    _donor_cols: np.ndarray | None = field(default=None, repr=False)
    _opts: FitOptions | None = field(default=None, repr=False)
    _call: dict = field(default_factory=dict, repr=False)

    # ---- effects
    def att(self, start: Any = None, end: Any = None) -> float:
        """Average gap over the post-treatment periods ``start <= t <= end`` (default: all)."""
        p = self.paths[self.paths["post"]]
        if start is not None:
            if start < self.treatment_time:
                raise DesignError(
                    f"att window starts at {_fmt_time(start)}, before the treatment time {_fmt_time(self.treatment_time)}; "
                    "effects are defined for t >= T0"
                )
            p = p[p["time"] >= start]
        if end is not None:
            p = p[p["time"] <= end]
        if p.empty:
            raise DesignError(f"no post-treatment periods in the window {start!r}-{end!r}")
        return float(p["gap"].mean())

    def balance_table(self, covariates: pd.DataFrame | None = None, period: Any = None) -> pd.DataFrame:
        """Predictor balance as ``Synth::synth.tab`` shows it: the treated unit, its synthetic
        control (donor weights applied) and the unweighted donor mean.

        Rows: the pre-treatment outcome averaged over all pre periods (``predictor`` "outcome_pre")
        and over each group of ``period(time)`` (e.g. the calendar year; ``"outcome_pre_<group>"``),
        then each column of ``covariates`` (one row per unit, indexed by unit; "covariate_<name>").
        The estimand of each row is the difference treated - synthetic that the weights were
        chosen to make small (``gap``)."""
        panel, dcols = self._panel, self._donor_cols
        pre = panel.times < self.treatment_time
        Y = panel.Y[pre]
        w = self.weights.reindex(panel.units[dcols]).to_numpy()
        tr, syn, don = Y[:, 0], Y[:, dcols] @ w, Y[:, dcols].mean(axis=1)
        groups = [("outcome_pre", np.ones(len(tr), bool))]
        if period is not None:
            lab = np.array([str(period(t)) for t in panel.times[pre]], dtype=object)
            groups += [(f"outcome_pre_{g}", lab == g) for g in dict.fromkeys(lab)]
        rows = [(k, tr[m].mean(), syn[m].mean(), don[m].mean()) for k, m in groups]  # a handful of periods
        if covariates is not None and len(covariates.columns):
            c = covariates.reindex([panel.units[0], *panel.units[dcols]]).to_numpy(float)
            rows += list(zip([f"covariate_{n}" for n in covariates.columns], c[0], w @ c[1:], c[1:].mean(axis=0)))
        out = pd.DataFrame(rows, columns=["predictor", "treated", "synthetic", "donor_mean"])
        out["gap"] = out["treated"] - out["synthetic"]
        return out

    @property
    def post_rmspe(self) -> float:
        g = self.paths.loc[self.paths["post"], "gap"].to_numpy()
        return float(np.sqrt(np.mean(g**2))) if g.size else float("nan")

    # ---- inference
    def placebo(
        self, n_jobs: int | None = 2, filters: Sequence[float] = (2.0, 5.0, 20.0)
    ) -> PlaceboResults:
        """In-space placebos: refit with each donor as the treated unit (the others as donors).

        The treated unit is excluded from every placebo donor pool. Returns post/pre RMSPE
        ratios for all ``J + 1`` units and ``p = rank / (J + 1)`` (rank 1 = largest ratio, ties
        counted against the treated unit). ``filters`` gives the p-value keeping only placebos
        whose pre-MSPE is at most that multiple of the treated unit's.
        """
        panel, donors = self._panel, self._donor_cols
        if len(donors) < 2:
            raise DesignError("placebo needs at least two donors")
        tasks = [(int(d), np.array([c for c in donors if c != d], dtype=np.int64)) for d in donors]
        fits = run_fits(panel.X, panel.Z, tasks, self._opts, n_jobs=n_jobs)
        W = np.zeros((len(donors), panel.Y.shape[1]))
        for i, (_, dcols) in enumerate(tasks):  # one row per placebo fit (J of them)
            W[i, dcols] = fits[i].w
        synth_paths = W @ panel.Y.T  # (J, T)
        gaps = panel.Y[:, donors].T - synth_paths
        gaps = np.vstack([self.paths["gap"].to_numpy()[None, :], gaps])
        units = np.concatenate([[self.treated], panel.units[donors]])
        post = self.paths["post"].to_numpy()
        pre_mspe = np.mean(gaps[:, ~post] ** 2, axis=1)
        post_mspe = np.mean(gaps[:, post] ** 2, axis=1)
        ratio = np.sqrt(post_mspe / pre_mspe)
        n = len(units)
        rank = int(np.sum(ratio >= ratio[0]))
        ranks = n - np.argsort(np.argsort(ratio, kind="stable"), kind="stable")
        ratios = pd.DataFrame(
            {"unit": units, "treated": np.arange(n) == 0, "pre_mspe": pre_mspe, "post_mspe": post_mspe,
             "ratio": ratio, "rank": ranks}
        ).sort_values("ratio", ascending=False, ignore_index=True)
        frows = []
        for f in filters:
            keep = pre_mspe <= f * pre_mspe[0]
            keep[0] = True
            frows.append({"max_pre_mspe_ratio": f, "n_units": int(keep.sum()),
                          "rank": int(np.sum(ratio[keep] >= ratio[0])),
                          "p_value": float(np.sum(ratio[keep] >= ratio[0]) / keep.sum())})
        T = panel.Y.shape[0]
        gaps_long = pd.DataFrame(
            {"unit": np.repeat(units, T), "time": np.tile(panel.times, n), "gap": gaps.ravel(),
             "treated": np.repeat(np.arange(n) == 0, T)}
        )
        res = PlaceboResults(ratios, gaps_long, rank / n, rank, n, pd.DataFrame(frows), self.treatment_time,
                             placebo_weights=W)
        self.placebo_results = res
        self.estimates.loc[self.estimates["estimand"] == "ATT", "p_value"] = res.p_value
        self.notes.append(f"p-value: in-space placebo rank {rank} of {n} (post/pre RMSPE ratio)")
        return res

    def conformal(self, level: float = 0.95) -> "ConformalResults":
        """Conformal confidence interval and p-value for the average post-period effect.

        Chernozhukov, Wüthrich and Zhu (2021): for each null ``theta0`` the treated unit's
        post-period outcomes are shifted by ``-theta0``, the (outcome-only) synthetic control
        is refitted on all periods, and the mean post residual is compared with its value
        over the cyclic shifts of the residual series (see
        :mod:`impact.estimators.synth.conformal`). It does not use the donors' placebo
        effects, but it tests a constant effect over the post period and needs many periods
        of weakly dependent noise: with 60 months of persistent area noise and an effect that
        ramps up it undercovers (docs/validation.md). Sets ``ci_lower``/``ci_upper`` and
        ``p_value`` of the ATT row.
        """
        from impact.estimators.synth.conformal import conformal_average

        panel = self._panel
        post = self.paths["post"].to_numpy()
        tr = panel.col(self.treated)
        res = conformal_average([panel.Y[:, tr]], [panel.Y[:, self._donor_cols]], post, self.att(), level=level)
        self._set_interval(res, "conformal (Chernozhukov-Wuthrich-Zhu), moving-block permutations")
        return res

    def scaled_placebo(self):
        """Noise-scaled placebo ATTs of this fit (see :mod:`impact.estimators.synth.interval`);
        runs :meth:`placebo` if it has not run."""
        from impact.estimators.synth.interval import noise_variance, scaled_placebo

        pr = self.placebo_results
        if pr is None or pr.placebo_weights is None:
            pr = self.placebo()
        panel, donors = self._panel, self._donor_cols
        post = self.paths["post"].to_numpy()
        v = noise_variance(panel.Y[~post])
        w = np.zeros(panel.Y.shape[1])
        w[donors] = self.weights.reindex(panel.units[donors]).to_numpy()
        p_att = pr.atts().reindex(panel.units[donors]).to_numpy()  # placebo rows follow the donor columns
        return scaled_placebo(self.att(), v, 0, w, donors, pr.placebo_weights, p_att, labels=panel.units)

    def att_interval(self, method: str = "scaled_placebo", level: float = 0.95) -> dict:
        """Confidence interval for the ATT (average post-period gap).

        ``method``:

        * ``"scaled_placebo"`` (default): in-space placebo ATTs standardised by each unit's
          noise scale, rescaled to the treated unit's (:mod:`impact.estimators.synth.interval`);
          calibrated in the validation harness (docs/validation.md) where the plain placebo
          interval is too wide;
        * ``"placebo"``: ``ATT -/+ the level-quantile of |placebo ATT|`` (valid only when the
          donors are as noisy as the treated unit; conservative with smaller donors);
        * ``"conformal"``: :meth:`conformal` (Chernozhukov, Wüthrich and Zhu 2021).

        Returns ``estimate, std_error, ci_lower, ci_upper, p_value, method`` and sets them on
        the ATT row of ``estimates``.
        """
        from impact.estimators.synth.interval import conformal_or_reject

        a = self.att()
        conf = conformal_or_reject(self, method, a, level)
        if conf is not None:
            return conf
        if method == "scaled_placebo":
            from impact.estimators.synth.interval import interval

            r = interval([self.scaled_placebo()], level=level)
            out = {**{k: r[k] for k in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")}, "method": method}
        elif method == "placebo":
            pr = self.placebo_results or self.placebo()
            p_att = pr.atts().to_numpy()
            q = float(np.quantile(np.abs(p_att), level))
            out = {"estimate": a, "std_error": float(np.std(p_att, ddof=1)), "ci_lower": a - q, "ci_upper": a + q,
                   "p_value": pr.p_value, "method": method}
        m = self.estimates["estimand"] == "ATT"
        for k in ("std_error", "ci_lower", "ci_upper", "p_value"):
            self.estimates.loc[m, k] = out[k]
        self.notes.append(f"ATT interval: {method}, level {level:g}")
        return out

    def _set_interval(self, res, label: str) -> None:
        m = self.estimates["estimand"] == "ATT"
        self.estimates.loc[m, "ci_lower"] = res.ci_lower
        self.estimates.loc[m, "ci_upper"] = res.ci_upper
        self.estimates.loc[m, "p_value"] = res.p_value
        self.notes.append(f"ATT interval and p-value: {label}, {res.n_periods} periods, level {res.level:g}")

    def leave_one_out(self, n_jobs: int | None = 2) -> LeaveOneOutResults:
        """Refit without each donor that has positive weight (same specification)."""
        panel, donors = self._panel, self._donor_cols
        wpos = self.weights[self.weights > 0]
        if len(donors) < 3:
            raise DesignError("leave-one-out needs at least three donors")
        tr = panel.col(self.treated)
        drop_cols = [panel.col(u) for u in wpos.index]
        tasks = [(tr, np.array([c for c in donors if c != d], dtype=np.int64)) for d in drop_cols]
        fits = run_fits(panel.X, panel.Z, tasks, self._opts, n_jobs=n_jobs)
        post = self.paths["post"].to_numpy()
        prow, wrow, srow = [], [], []
        for u, (_, dcols), f in zip(wpos.index, tasks, fits):
            syn = panel.Y[:, dcols] @ f.w
            gap = panel.Y[:, tr] - syn
            prow.append(pd.DataFrame({"dropped": u, "time": panel.times, "synthetic": syn, "gap": gap}))
            wrow.append(pd.DataFrame({"dropped": u, "unit": panel.units[dcols], "weight": f.w}))
            srow.append({"dropped": u, "pre_rmspe": float(np.sqrt(np.mean(gap[~post] ** 2))),
                         "att": float(gap[post].mean()) if post.any() else float("nan")})
        return LeaveOneOutResults(pd.concat(prow, ignore_index=True), pd.concat(wrow, ignore_index=True),
                                  pd.DataFrame(srow), main=self.paths, treatment_time=self.treatment_time)

    def in_time_placebo(
        self, placebo_time: Any, predictors: Sequence | None = None, special_predictors: Sequence | None = None,
        shift_predictors: bool = True,
    ) -> "SynthResults":
        """Refit as if treatment had started at ``placebo_time < T0``, using only periods before T0.

        Predictors: those given, or else the original specification with every window moved
        back by the number of periods between ``T0`` and ``placebo_time``
        (``shift_predictors``). The fit window becomes ``t < placebo_time``. A gap near zero
        over ``[placebo_time, T0)`` supports the design.
        """
        c = self._call
        panel = self._panel
        if not (placebo_time < self.treatment_time):
            raise DesignError(f"placebo_time {placebo_time!r} must be before the treatment time {self.treatment_time!r}")
        times = panel.times
        if not np.any(times == placebo_time):
            raise DesignError(f"placebo_time {placebo_time!r} is not a period of the data")
        shift = int(np.nonzero(times == self.treatment_time)[0][0] - np.nonzero(times == placebo_time)[0][0]) if np.any(times == self.treatment_time) else 0
        specs = None
        if predictors is not None or special_predictors is not None:
            specs = list(predictors or []) + list(special_predictors or [])
        elif panel.specs:
            specs = []
            for s in panel.specs:
                idx = np.nonzero(np.isin(times, s.window))[0] - (shift if shift_predictors else 0)
                if idx.min() < 0:
                    raise DesignError(
                        f"in-time placebo at {_fmt_time(placebo_time)}: predictor {s.variable!r} window shifted back by "
                        f"{shift} periods starts before the data ({_fmt_time(times[0])})"
                    )
                specs.append((s.variable, list(times[idx]), s.aggregate))
        df = to_polars(c["data"])
        df = df.filter(pl.col(panel.time_col) < self.treatment_time)
        return synthetic_control(
            df, unit=panel.unit_col, time=panel.time_col, outcome=panel.outcome, treated=self.treated,
            treatment_time=placebo_time, predictors=specs, donors=list(panel.units[self._donor_cols]),
            v=c.get("v"), n_random=self._opts.n_random, seed=self._opts.seed,
            missing_predictors=c.get("missing_predictors", "error"),
        )


# --------------------------------------------------------------------------- fitting
def _as_list(x: Any) -> list:
    if isinstance(x, (list, tuple, np.ndarray, pd.Index, pl.Series, set)):
        return list(x)
    return [x]


def _fit_single(
    data: Any, unit: str, time: str, outcome: str, treated: Any, treatment_time: Any, donors: list,
    predictors, special_predictors, fit_window, opts: FitOptions, missing_predictors: str, level: float,
    call: dict,
) -> SynthResults:
    if len(donors) < 2:
        raise DesignError(
            f"treated unit {treated!r} has {len(donors)} donor(s) ({donors}); the synthetic control needs at least two"
        )
    panel = build_panel(
        data, unit, time, outcome, [treated, *donors], {treated: treatment_time},
        predictors, special_predictors, fit_window, missing_predictors,
    )
    if not np.any(panel.times >= treatment_time):
        raise DesignError(f"no periods at or after the treatment time {_fmt_time(treatment_time)} for unit {treated!r}")
    tr = 0
    dcols = np.arange(1, len(panel.units), dtype=np.int64)
    if panel.X is not None:
        sd = panel.X[:, 1:].std(axis=1)
        if np.any(sd == 0):
            bad = panel.predictor_labels[int(np.nonzero(sd == 0)[0][0])]
            raise DesignError(f"predictor {bad!r} does not vary across the donors; drop it")
    fit = fit_columns(panel.X, panel.Z, tr, dcols, opts)
    Y = panel.Y
    syn = Y[:, dcols] @ fit.w
    gap = Y[:, tr] - syn
    post = panel.times >= treatment_time
    paths = pd.DataFrame({"time": panel.times, "treated": Y[:, tr], "synthetic": syn, "gap": gap, "post": post})
    pre_mspe = float(np.mean(gap[~post] ** 2))
    weights = pd.Series(fit.w, index=pd.Index(panel.units[dcols], name=unit), name="weight").sort_values(ascending=False)
    if panel.X is not None:
        vlabels = panel.predictor_labels
        balance = pd.DataFrame(
            {"predictor": vlabels, "treated": panel.X[:, tr], "synthetic": panel.X[:, dcols] @ fit.w,
             "donor_mean": panel.X[:, dcols].mean(axis=1), "v": fit.v}
        )
        method = "synthetic control (nested V, predictors)"
    else:
        vlabels = [f"{outcome} ({_fmt_time(t)})" for t in panel.times[panel.fit_idx]]
        balance = pd.DataFrame(
            {"predictor": vlabels, "treated": panel.Z[:, tr], "synthetic": panel.Z[:, dcols] @ fit.w,
             "donor_mean": panel.Z[:, dcols].mean(axis=1), "v": fit.v}
        )
        method = "synthetic control (outcome-only, V = identity)"
    v = pd.Series(fit.v, index=vlabels, name="v")
    n_post = int(post.sum())
    rows = [{"outcome": outcome, "estimand": "ATT", "horizon": "post", "estimate": float(gap[post].mean()) if n_post else float("nan"),
             "std_error": np.nan, "p_value": np.nan, "n_treated": 1, "n_controls": len(dcols)}]
    rows += [{"outcome": outcome, "estimand": "gap", "horizon": t, "estimate": float(g), "std_error": np.nan,
              "p_value": np.nan, "n_treated": 1, "n_controls": len(dcols)} for t, g in zip(panel.times[post], gap[post])]
    est = tidy_estimates(rows, level)
    info = {"treated": treated, "treatment_time": treatment_time, "n_donors": len(dcols),
            "n_positive_weights": int((fit.w > 0).sum()), "pre_rmspe": float(np.sqrt(pre_mspe)),
            "fit_mspe": fit.loss_v, "loss_w": fit.loss_w, "n_evaluations": fit.n_evals}
    notes = ["pre-period is t < T0, post-period t >= T0; standard errors are not defined, use att_interval() or placebo()"]
    return SynthResults(
        estimates=est, method=method, level=level, notes=notes, info=info, treated=treated,
        treatment_time=treatment_time, weights=weights, v=v, pre_mspe=pre_mspe, pre_rmspe=float(np.sqrt(pre_mspe)),
        fit_mspe=fit.loss_v, paths=paths, predictor_balance=balance, _panel=panel, _donor_cols=dcols, _opts=opts,
        _call=call,
    )


def synthetic_control(
    data: Any,
    unit: str,
    time: str,
    outcome: str,
    treated: Any,
    treatment_time: Any,
    predictors: Sequence | None = None,
    special_predictors: Sequence | None = None,
    fit_window: Any = None,
    donors: Sequence | None = None,
    v: Sequence[float] | None = None,
    n_random: int = 4,
    seed: int = 0,
    missing_predictors: str = "error",
    level: float = 0.95,
) -> "SynthResults | MultiSynthResults":
    """Fit a synthetic control for one treated unit, or separate ones for several.

    Parameters
    ----------
    data : long panel (polars or pandas), one row per unit and period.
    unit, time, outcome : column names.
    treated : the treated unit, or a list of treated units (then ``treatment_time`` may be a
        dict ``unit -> T0`` and the result is a :class:`MultiSynthResults`).
    treatment_time : first treated period ``T0`` (pre is ``t < T0``, post ``t >= T0``).
    predictors, special_predictors : predictor specs as in R ``Synth``: ``"var"`` (mean over the
        pre-period), ``(var, window)`` or ``(var, window, aggregate)``, where ``window`` is
        ``(start, end)`` inclusive, a list of periods, or one period. Both lists are simply
        concatenated. ``None`` for both gives the outcome-only variant (V = identity over
        the fit-window outcomes).
    fit_window : periods whose outcome MSPE chooses V (``(start, end)`` or list); default the
        whole pre-period.
    donors : donor pool (default: every unit that is not treated).
    v : fixed predictor weights (skips the search for V).
    n_random : random Dirichlet starts for V besides the equal and regression-based starts.
    missing_predictors : ``"error"`` (default) or ``"skip"`` (aggregate the observed periods
        of a window, as ``Synth::dataprep`` does).

    Returns
    -------
    SynthResults (one treated unit) or MultiSynthResults (several).
    """
    if missing_predictors not in ("error", "skip"):
        raise DesignError(f"missing_predictors must be 'error' or 'skip', got {missing_predictors!r}")
    treated_list = _as_list(treated)
    if not treated_list:
        raise DesignError("no treated unit given")
    df = to_polars(data)
    if unit not in df.columns:
        raise DesignError(f"unit column {unit!r} not found in the panel; it has {df.columns}")
    all_units = df.get_column(unit).unique().to_numpy()
    for u in treated_list:
        if not np.any(all_units == u):
            raise DesignError(f"treated unit {u!r} is not in the panel (column {unit!r})")
    if donors is None:
        donor_list = [u for u in np.sort(all_units) if not any(u == t for t in treated_list)]
    else:
        donor_list = _as_list(donors)
        for u in donor_list:
            if not np.any(all_units == u):
                raise DesignError(f"donor {u!r} is not in the panel (column {unit!r})")
        clash = [u for u in donor_list if any(u == t for t in treated_list)]
        if clash:
            raise DesignError(f"unit(s) {clash} are both treated and donors")
    opts = FitOptions(v=None if v is None else tuple(float(x) for x in v), n_random=n_random, seed=seed)
    call = {"data": df, "v": v, "missing_predictors": missing_predictors}
    t0 = per_unit_times(treated_list, treatment_time)
    args = (predictors, special_predictors, fit_window, opts, missing_predictors, level, call)
    if not isinstance(treated, (list, tuple, np.ndarray, pd.Index, pl.Series, set)):
        return _fit_single(df, unit, time, outcome, treated_list[0], t0[treated_list[0]], donor_list, *args)
    from impact.estimators.synth.multi import MultiSynthResults, combine

    fits = {u: _fit_single(df, unit, time, outcome, u, t0[u], donor_list, *args) for u in treated_list}
    return combine(fits, outcome=outcome, level=level)
