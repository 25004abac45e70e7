"""Results of the staggered DiD estimators: group-time effects and their aggregations.

Aggregations follow Callaway and Sant'Anna (2021) and R ``did``'s ``aggte``: weighted
averages of ATT(g, t) with weights proportional to cohort sizes; their influence functions
add the estimation effect of the weights (``_weight_if``), so analytic standard errors,
multiplier-bootstrap bands and Wald tests all come from one ``n x k`` influence matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from impact.errors import DesignError
from impact.estimators.inference import (
    influence_se,
    influence_vcov,
    multiplier_bootstrap,
    normal_ci,
    p_value,
    wald_test,
    z_critical,
)
from impact.estimators.results import EstimationResults, tidy_estimates

AGGREGATIONS = ("simple", "group", "calendar", "dynamic")


def sample_se_from(psi_s: np.ndarray, psi_cf: np.ndarray, cluster: np.ndarray | None) -> np.ndarray:
    """Sample-ATT standard errors (``att_gt(..., sample_se=True)``) from its two sets of influence rows.

    ``psi_s`` (the estimate's influence rows without the treated units' own-outcome term,
    clustered as the estimate) and ``psi_cf`` (the treated units' counterfactual changes,
    represented on the comparison units; each unit its own cluster, because the treated units
    they stand for are independent of the comparison units' own rows): the variances add.
    """
    return np.sqrt(influence_se(psi_s, cluster) ** 2 + influence_se(psi_cf, None) ** 2)


@dataclass(frozen=True)
class Overall:
    """One summary parameter: estimate, standard error, confidence interval, p-value."""

    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float
    std_error_sample: float = float("nan")  # for the sample ATT (att_gt(..., sample_se=True))

    def __getitem__(self, key: str) -> float:
        return getattr(self, key)

    def to_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")}


@dataclass(frozen=True)
class Pretest:
    """Wald test that all pre-treatment ATT(g, t) are zero (a test of parallel pre-trends)."""

    statistic: float
    df: int
    p_value: float
    cells: int

    def __getitem__(self, key: str):
        return getattr(self, key)


def _make_overall(est: float, psi: np.ndarray, cluster, level: float, boot: bool, n_boot: int, seed) -> Overall:
    if boot:
        se = float(multiplier_bootstrap(psi[:, None], n_boot=n_boot, cluster=cluster, rng=seed, level=level).std_error[0])
    else:
        se = float(influence_se(psi[:, None], cluster)[0])
    if not se > np.sqrt(np.finfo(float).eps) * 10:
        se = float("nan")
    lo, hi = normal_ci(est, se, level)
    return Overall(float(est), se, float(lo), float(hi), float(p_value(est, se)))


@dataclass
class AggregateResults(EstimationResults):
    """An aggregation of ATT(g, t): ``overall`` plus per-group, per-period or per-event-time rows."""

    kind: str = ""
    overall: Overall | None = None
    crit_uniform: float | None = None
    psi: np.ndarray | None = field(default=None, repr=False)  # (n, rows): influence function of every row
    cluster: np.ndarray | None = field(default=None, repr=False)

    def vcov(self) -> np.ndarray:
        """Covariance matrix of the rows' estimates from their influence functions (clustered as
        the estimation was): the input of, e.g., HonestDiD sensitivity bounds on an event study."""
        return influence_vcov(self.psi, self.cluster)

    def summary(self) -> str:
        o = self.overall
        head = (
            f"Overall ATT ({self.kind}): {o.estimate:.6f} (s.e. {o.std_error:.6f}), "
            f"{int(self.level * 100)}% CI [{o.ci_lower:.6f}, {o.ci_upper:.6f}]"
        )
        band = f"\nSimultaneous band critical value: {self.crit_uniform:.3f}" if self.crit_uniform else ""
        return head + band + "\n\n" + super().summary()


@dataclass
class AttGtResults(EstimationResults):
    """Group-time ATT estimates with their influence functions.

    Attributes
    ----------
    att_gt : DataFrame
        group, time, att, std_error, ci_lower, ci_upper, event_time, base_period, post,
        n_treated, n_controls.
    psi : ndarray (n, k)
        Influence functions of the ATT(g, t), one row per unit (cross-section row for
        repeated cross-sections).
    """

    att_gt: pd.DataFrame = field(default_factory=pd.DataFrame)
    psi: np.ndarray | None = field(default=None, repr=False)
    psi_sample: np.ndarray | None = field(default=None, repr=False)  # att_gt(..., sample_se=True)
    psi_counterfactual: np.ndarray | None = field(default=None, repr=False)  # ditto (sample_se_from)
    cohort: np.ndarray | None = field(default=None, repr=False)
    unit_weights: np.ndarray | None = field(default=None, repr=False)
    cluster: np.ndarray | None = field(default=None, repr=False)
    periods: np.ndarray | None = field(default=None, repr=False)
    crit_uniform: float | None = None
    bootstrap: bool = False
    n_boot: int = 999
    seed: int | None = None

    @classmethod
    def build(cls, *, table, psi, dd, outcome, method, control_group, base_period, anticipation, level, crit, bootstrap,
              n_boot, seed, psi_sample=None, psi_counterfactual=None):
        est = table.rename(columns={"att": "estimate"}).assign(
            outcome=outcome, estimand="ATT(g,t)", horizon=table["event_time"]
        )
        est = tidy_estimates(est, level=level) if "ci_lower" in est else est
        info: dict[str, Any] = {
            "control_group": control_group,
            "base_period": base_period,
            "anticipation": anticipation,
            "units": dd.n,
            "periods": len(dd.periods),
            "cohorts": int(np.isfinite(np.unique(dd.cohort)).sum()),
            "panel": dd.panel,
            "clustered": dd.cluster is not None,
        }
        return cls(
            estimates=est, method=f"Callaway-Sant'Anna ATT(g,t), {method}", level=level, notes=list(dd.notes),
            info=info, att_gt=table, psi=psi, psi_sample=psi_sample,
            psi_counterfactual=psi_counterfactual, cohort=dd.cohort, unit_weights=dd.w, cluster=dd.cluster,
            periods=dd.periods, crit_uniform=crit, bootstrap=bootstrap, n_boot=n_boot, seed=seed,
        )

    # ------------------------------------------------------------------ aggregation
    def _cohort_shares(self) -> dict[float, float]:
        gs = np.unique(self.att_gt["group"].to_numpy().astype(float))
        w, c = self.unit_weights, self.cohort
        return {g: float(np.mean(w * (c == g))) for g in gs}

    def _weight_if(self, groups: np.ndarray, pg: np.ndarray, att: np.ndarray) -> np.ndarray:
        """Influence of estimating the cohort-share weights of ``sum_k pg_k att_k / sum_k pg_k``.

        Equals R ``did``'s ``wif(...) %*% att`` without forming the ``n x k`` matrix:
        ``(w A(G) - p'a)/S - (w N(G) - S) p'a / S^2`` with ``A(G)`` the sum of the ``att`` of
        the terms of the unit's cohort and ``N(G)`` their number.
        """
        S = pg.sum()
        pa = float(pg @ att)
        glist, code = self._cohort_codes()
        pos = np.searchsorted(glist, groups)
        A = np.bincount(pos, weights=att, minlength=len(glist) + 1)
        N = np.bincount(pos, minlength=len(glist) + 1).astype(float)
        A[-1] = N[-1] = 0.0  # code len(glist): never-treated units
        w = self.unit_weights
        return (w * A[code] - pa) / S - (w * N[code] - S) * pa / S**2

    def _cohort_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted cohorts and each unit's position among them (``len(cohorts)`` if never treated)."""
        if getattr(self, "_codes", None) is None:
            glist = np.unique(self.att_gt["group"].to_numpy().astype(float))
            pos = np.searchsorted(glist, self.cohort)
            hit = (pos < len(glist)) & (glist[np.minimum(pos, len(glist) - 1)] == self.cohort)
            self._codes = (glist, np.where(hit, pos, len(glist)))
        return self._codes

    def aggregate(
        self,
        kind: str = "simple",
        *,
        bootstrap: bool | None = None,
        n_boot: int | None = None,
        seed: int | None = None,
        balance_e: int | None = None,
        min_e: float = -np.inf,
        max_e: float = np.inf,
        level: float | None = None,
    ) -> AggregateResults:
        """Aggregate ATT(g, t) into summary parameters.

        ``simple``: average of all post-treatment ATT(g, t) weighted by cohort size.
        ``group``: per cohort, the average post-treatment effect; overall, their
        cohort-size-weighted average. ``calendar``: per period, the cohort-size-weighted
        average of the effects of the cohorts treated by then; overall, their mean.
        ``dynamic``: per event time ``e = t - g``, the cohort-size-weighted average of
        ATT(g, g + e) (with ``balance_e``, only cohorts observed ``balance_e`` periods after
        treatment, for ``e`` up to ``balance_e``); overall, the mean over ``e >= 0``.
        """
        if kind not in AGGREGATIONS:
            raise DesignError(f"aggregation kind must be one of {AGGREGATIONS}, got {kind!r}")
        boot = self.bootstrap if bootstrap is None else bootstrap
        n_boot = n_boot or self.n_boot
        seed = self.seed if seed is None else seed
        level = level or self.level
        tab = self.att_gt
        g = tab["group"].to_numpy().astype(float)
        t = tab["time"].to_numpy().astype(float)
        att = tab["att"].to_numpy()
        shares = self._cohort_shares()
        pg = np.array([shares[x] for x in g])
        psi = self.psi
        cl = self.cluster

        psi_s, psi_cf = self.psi_sample, self.psi_counterfactual
        sample_infs: list[np.ndarray] = []
        cf_infs: list[np.ndarray] = []

        def combine(cols: np.ndarray, wif: bool):
            wts = pg[cols] / pg[cols].sum()
            est = float(wts @ att[cols])
            inf = psi[:, cols] @ wts
            if psi_s is not None:  # sample ATT: the sample's cohort sizes are the weights (no estimation effect)
                sample_infs.append(psi_s[:, cols] @ wts)
                cf_infs.append(psi_cf[:, cols] @ wts)
            if wif:
                inf = inf + self._weight_if(g[cols], pg[cols], att[cols])
            return est, inf

        rows: list[dict] = []
        infs: list[np.ndarray] = []
        key = {"group": "group", "calendar": "time", "dynamic": "event_time"}.get(kind)
        if kind == "simple":
            keep = np.flatnonzero((g <= t) & (t <= g + max_e))
            est, inf = combine(keep, True)
            overall = _make_overall(est, inf, cl, level, boot, n_boot, seed)
            rows = [{"estimand": "ATT", "horizon": np.nan, "estimate": est}]
            infs = [inf]
        elif kind == "group":
            glist = np.unique(g)
            att_g, inf_g, used = [], [], []
            for gg in glist:
                cols = np.flatnonzero((g == gg) & (gg <= t) & (t <= gg + max_e))
                if len(cols) == 0:
                    continue
                e, inf = float(att[cols].mean()), psi[:, cols].mean(axis=1)
                att_g.append(e)
                inf_g.append(inf)
                used.append(gg)
                rows.append({"estimand": "ATT(g)", "group": gg, "horizon": gg, "estimate": e})
            infs = inf_g
            used = np.array(used)
            pgg = np.array([shares[x] for x in used])
            a = np.array(att_g)
            est = float(pgg @ a / pgg.sum())
            inf = np.column_stack(inf_g) @ (pgg / pgg.sum()) + self._weight_if(used, pgg, a)
            overall = _make_overall(est, inf, cl, level, boot, n_boot, seed)
        elif kind == "calendar":
            tl = np.unique(t[t >= g.min()])
            att_t, inf_t = [], []
            for tt in tl:
                cols = np.flatnonzero((t == tt) & (g <= tt))
                if len(cols) == 0:
                    continue
                e, inf = combine(cols, True)
                att_t.append(e)
                inf_t.append(inf)
                rows.append({"estimand": "ATT(t)", "time": tt, "horizon": tt, "estimate": e})
            infs = inf_t
            est = float(np.mean(att_t))
            inf = np.column_stack(inf_t).mean(axis=1)
            overall = _make_overall(est, inf, cl, level, boot, n_boot, seed)
        else:  # dynamic
            e_all = t - g
            incl = np.ones(len(g), dtype=bool)
            eseq = np.unique(e_all)
            if balance_e is not None:
                tmin, tmax = self.periods.min(), self.periods.max()
                incl = (tmax - g) >= balance_e
                eseq = np.unique(e_all[incl])
                eseq = eseq[(eseq <= balance_e) & (eseq >= balance_e - tmax + tmin)]
            eseq = eseq[(eseq >= min_e) & (eseq <= max_e)]
            att_e, inf_e = [], []
            for ee in eseq:
                cols = np.flatnonzero((e_all == ee) & incl)
                e, inf = combine(cols, True)
                att_e.append(e)
                inf_e.append(inf)
                rows.append({"estimand": "ATT(e)", "event_time": ee, "horizon": ee, "estimate": e})
            if not rows:
                raise DesignError("no event times left after balance_e/min_e/max_e")
            infs = inf_e
            epos = eseq >= 0
            if not epos.any():
                raise DesignError("no post-treatment event times to average (check min_e/max_e)")
            est = float(np.mean(np.array(att_e)[epos]))
            inf = np.column_stack(inf_e)[:, epos].mean(axis=1)
            overall = _make_overall(est, inf, cl, level, boot, n_boot, seed)

        Psi = np.column_stack(infs)
        se = influence_se(Psi, cl)
        se_sample = ov_sample = None
        if psi_s is not None and kind in ("simple", "calendar", "dynamic"):
            S, F = np.column_stack(sample_infs), np.column_stack(cf_infs)
            se_sample = sample_se_from(S, F, cl)
            if kind == "dynamic":
                pos = eseq >= 0
                ov_sample = float(sample_se_from(S[:, pos].mean(axis=1), F[:, pos].mean(axis=1), cl)[0])
            elif kind == "calendar":
                ov_sample = float(sample_se_from(S.mean(axis=1), F.mean(axis=1), cl)[0])
            else:
                ov_sample = float(se_sample[0])
        crit = None
        if boot:
            bs = multiplier_bootstrap(Psi, n_boot=n_boot, cluster=cl, rng=seed, level=level)
            se = bs.std_error
            crit = bs.crit_uniform if np.isfinite(bs.crit_uniform) else None
        se = np.where(se > np.sqrt(np.finfo(float).eps) * 10, se, np.nan)
        df = pd.DataFrame(rows)
        df["std_error"] = se
        if se_sample is not None:
            df["std_error_sample"] = np.where(np.isfinite(se), se_sample, np.nan)
        lo, hi = normal_ci(df["estimate"], se, level)
        df["ci_lower"], df["ci_upper"] = lo, hi
        if crit is not None:
            ulo, uhi = normal_ci(df["estimate"], se, level, crit=crit)
            df["band_lower"], df["band_upper"] = ulo, uhi
        if key and np.all(df[key] == np.round(df[key])):
            df[key] = df[key].astype(np.int64)
        df.insert(0, "outcome", self.estimates["outcome"].iloc[0])
        est_tab = tidy_estimates(df, level=level)
        notes = list(self.notes)
        return AggregateResults(
            estimates=est_tab, method=f"{self.method}; aggregation: {kind}", level=level, notes=notes,
            info={**self.info, "aggregation": kind, "bootstrap": bool(boot)}, kind=kind,
            overall=overall if ov_sample is None else replace(overall, std_error_sample=ov_sample),
            crit_uniform=crit, psi=Psi, cluster=cl,
        )

    # ------------------------------------------------------------------ diagnostics
    def pretest(self, min_e: float = -np.inf) -> Pretest:
        """Wald test of H0: every pre-treatment ATT(g, t) (cells with ``t < g``) is zero.

        ``min_e`` keeps only the cells with event time ``t - g >= min_e`` (e.g. the months of
        the event window in a stacked design, whose balanced calendar panel gives later
        cohorts longer pre-periods than the window shows).
        """
        tab = self.att_gt
        g, t = tab["group"].to_numpy().astype(float), tab["time"].to_numpy().astype(float)
        pre = np.flatnonzero((g > t) & (t - g >= min_e) & tab["std_error"].notna().to_numpy())
        if len(pre) == 0:
            raise DesignError("no pre-treatment group-time cells to test (every cohort is treated in the second period?)")
        V = influence_vcov(self.psi[:, pre], self.cluster)
        stat, df, p = wald_test(tab["att"].to_numpy()[pre], V)
        return Pretest(stat, df, p, len(pre))

    def summary(self) -> str:
        pt = ""
        try:
            r = self.pretest()
            pt = f"\nPre-trend Wald test: chi2({r.df}) = {r.statistic:.4f}, p = {r.p_value:.5f}"
        except DesignError:
            pass
        cols = ["group", "time", "att", "std_error", "ci_lower", "ci_upper", "n_treated", "n_controls"]
        head = [f"{self.method}"] + [f"  {k}: {v}" for k, v in self.info.items()]
        notes = [f"Note: {n}" for n in self.notes]
        return "\n".join(head + ["", self.att_gt[cols].to_string(index=False, float_format=lambda x: f"{x:.4f}")] + [pt] + notes)

    def compare_twfe(self, data, *, unit: str, time: str, group: str, outcome: str, cluster: str | None = None):
        """Static two-way fixed-effects estimate beside the simple CS aggregate.

        Adds a note (to this result and the returned one) when the two differ materially:
        by more than the half-width of the CS estimate's confidence interval.
        """
        from impact.estimators.did.twfe import twfe

        tw = twfe(data, unit=unit, time=time, group=group, outcome=outcome, cluster=cluster)
        simple = self.aggregate("simple", bootstrap=False)
        b = float(tw.estimates["estimate"].iloc[0])
        half = z_critical(self.level) * simple.overall.std_error
        if abs(b - simple.overall.estimate) > half:
            note = (
                f"static TWFE estimate {b:.4f} differs materially from the Callaway-Sant'Anna simple ATT "
                f"{simple.overall.estimate:.4f} (difference {b - simple.overall.estimate:+.4f} exceeds the CI half-width "
                f"{half:.4f}); with staggered adoption and dynamic effects TWFE uses already-treated units as controls"
            )
            tw.notes.append(note)
            self.notes.append(note)
        tw.info["cs_simple_att"] = simple.overall.estimate
        return tw
