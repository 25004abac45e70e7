"""Several treated units, treated at different dates: separate synthetic controls, pooled in event time.

Estimand: the average effect ``e`` periods after adoption over the treated units observed at
``e``, ``ATT(e) = mean_i gap_i(T0_i + e)``; the overall ATT is the mean over units of each
unit's average post-period gap (each unit weighs the same). Event time ``e`` counts periods
(positions in the sorted time axis) from the unit's own ``T0`` (``e = 0`` is ``T0``).

Inference (Cavallo, Galiani, Noy and Pantano 2013): each treated unit's in-space placebos are
refitted at its own date; a placebo draw picks one placebo per treated unit and averages in
event time exactly like the estimate. The band is the pointwise quantile range of those
averages; the p-value compares the mean post/pre RMSPE ratio of the treated units with the
same statistic over the draws, ``p = (1 + #{draw >= observed}) / (1 + draws)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from impact.errors import DesignError
from impact.estimators.results import EstimationResults, tidy_estimates


def _event_index(times: np.ndarray, t0: Any) -> np.ndarray:
    """Event time of every period: position minus the position of the first period >= T0."""
    pos0 = int(np.searchsorted(times, t0, side="left"))
    return np.arange(times.size) - pos0


@dataclass
class MultiPlaceboResults:
    """Pooled placebo inference for several treated units."""

    band: pd.DataFrame  # event_time, lower, upper, n_units
    p_value: float
    statistic: float  # mean post/pre RMSPE ratio of the treated units
    draws: np.ndarray  # the statistic over the placebo draws
    per_unit: pd.DataFrame  # unit, ratio, rank, n_units, p_value (each unit's own placebo)


@dataclass
class MultiSynthResults(EstimationResults):
    """Separate synthetic controls for several treated units, with event-time aggregation."""

    fits: dict = field(default_factory=dict)  # unit -> SynthResults
    event_paths: pd.DataFrame = field(default_factory=pd.DataFrame)
    att_event: pd.DataFrame = field(default_factory=pd.DataFrame)
    placebo_results: MultiPlaceboResults | None = None

    def att(self, start: int = 0, end: int | None = None) -> float:
        """Mean over treated units of each unit's mean gap over event times ``start..end``."""
        if start < 0:
            raise DesignError(f"att window starts at event time {start}; effects are defined for e >= 0")
        p = self.event_paths[self.event_paths["event_time"] >= start]
        if end is not None:
            p = p[p["event_time"] <= end]
        if p.empty:
            raise DesignError(f"no treated unit is observed at event times {start}..{end}")
        return float(p.groupby("unit")["gap"].mean().mean())

    def placebo(self, n_jobs: int | None = 2, n_draws: int = 2000, level: float = 0.90, seed: int = 0) -> MultiPlaceboResults:
        """Placebo band in event time and a pooled permutation p-value (see the module docstring)."""
        rng = np.random.default_rng(seed)
        units = list(self.fits)
        e_all = np.sort(self.event_paths["event_time"].unique())
        e_min = int(e_all.min())
        E = e_all.size
        sums = np.zeros((n_draws, E))
        counts = np.zeros(E)
        stat_draws = np.zeros(n_draws)
        obs_ratios, rows = [], []
        for u in units:  # one placebo run per treated unit (a handful of units)
            fit = self.fits[u]
            pr = fit.placebo(n_jobs=n_jobs)
            g = pr.gaps[~pr.gaps["treated"]]
            donors = g["unit"].unique()
            G = g["gap"].to_numpy().reshape(donors.size, -1)  # (J, T) in time order
            e_idx = _event_index(fit._panel.times, fit.treatment_time) - e_min
            ratios = pr.ratios.set_index("unit")
            r_donor = ratios.loc[donors, "ratio"].to_numpy()
            pick = rng.integers(donors.size, size=n_draws)
            sums[:, e_idx] += G[pick]
            counts[e_idx] += 1
            stat_draws += r_donor[pick]
            r_tr = float(ratios.loc[ratios["treated"], "ratio"].iloc[0])
            obs_ratios.append(r_tr)
            rows.append({"unit": u, "ratio": r_tr, "rank": pr.rank, "n_units": pr.n_units, "p_value": pr.p_value})
        stat_draws /= len(units)
        means = sums / counts
        lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2], axis=0)
        band = pd.DataFrame({"event_time": e_all, "lower": lo, "upper": hi, "n_units": counts.astype(int)})
        stat = float(np.mean(obs_ratios))
        p = float((1 + np.sum(stat_draws >= stat)) / (1 + n_draws))
        res = MultiPlaceboResults(band, p, stat, stat_draws, pd.DataFrame(rows))
        self.placebo_results = res
        self.estimates.loc[self.estimates["estimand"] == "ATT", "p_value"] = p
        self.notes.append(f"p-value: pooled placebo ({n_draws} draws), mean post/pre RMSPE ratio {stat:.3f}")
        return res

    def att_interval(self, method: str = "scaled_placebo", level: float = 0.95, n_draws: int = 4000,
                     seed: int = 0) -> dict:
        """Confidence interval for the pooled ATT (mean over units of each unit's mean post gap).

        ``"scaled_placebo"`` (default): each unit's placebo ATTs standardised by their noise
        scale and rescaled to the unit's (see :mod:`impact.estimators.synth.interval`); a
        placebo draw picks one per unit and averages like the estimate; ``se`` = SD of the
        draws, Student-t critical value. ``"placebo"``: the same draws without the scaling,
        ``ATT -/+ the level-quantile of |draw|``. ``"conformal"``: :meth:`conformal`.
        Returns ``estimate, std_error, ci_lower, ci_upper, p_value, method`` (also set on the
        ATT row).
        """
        from impact.estimators.synth.interval import conformal_or_reject

        a = self.att()
        conf = conformal_or_reject(self, method, a, level)
        if conf is not None:
            return conf
        if method == "scaled_placebo":
            from impact.estimators.synth.interval import interval

            r = interval([f.scaled_placebo() for f in self.fits.values()], level=level, n_draws=n_draws, seed=seed)
            out = {**{k: r[k] for k in ("std_error", "ci_lower", "ci_upper", "p_value")}, "estimate": a}
        elif method == "placebo":
            rng = np.random.default_rng(seed)
            draws = []
            for f in self.fits.values():  # a handful of treated units
                p_att = (f.placebo_results or f.placebo()).atts().to_numpy()
                draws.append(p_att[rng.integers(p_att.size, size=n_draws)])
            d = np.mean(draws, axis=0)
            q = float(np.quantile(np.abs(d), level))
            out = {"estimate": a, "std_error": float(np.std(d, ddof=1)), "ci_lower": a - q, "ci_upper": a + q,
                   "p_value": float((1 + np.sum(np.abs(d) >= abs(a))) / (1 + n_draws))}
        out["method"] = method
        m = self.estimates["estimand"] == "ATT"
        for k in ("std_error", "ci_lower", "ci_upper", "p_value"):
            self.estimates.loc[m, k] = out[k]
        self.notes.append(f"ATT interval: {method} pooled over {len(self.fits)} units, level {level:g}")
        return out

    def conformal(self, level: float = 0.95):
        """Conformal interval and p-value for the pooled average effect (see
        :mod:`impact.estimators.synth.conformal`).

        Estimand: the mean over treated units of each unit's average effect over the event
        window every unit is observed in (pre and post). Each unit's outcome-only synthetic
        control is refitted on that window under the common null, the residuals are
        averaged across units by event time, and the mean post residual is compared with its
        value over the cyclic shifts of the averaged series. Sets the ATT row's interval and
        p-value (the estimate there stays the mean over each unit's whole post period; the
        interval is centred on the common-window estimate, the same when all units share the
        window).
        """
        from impact.estimators.synth.conformal import conformal_average

        evs = {u: _event_index(f._panel.times, f.treatment_time) for u, f in self.fits.items()}
        e_lo = max(int(e.min()) for e in evs.values())
        e_hi = min(int(e.max()) for e in evs.values())
        if e_lo >= 0 or e_hi < 0:
            raise DesignError(
                f"conformal inference needs an event window with pre and post periods common to every treated unit; "
                f"the shared window is {e_lo}..{e_hi}"
            )
        ys, Y0s = [], []
        for u, f in self.fits.items():  # a handful of treated units
            keep = (evs[u] >= e_lo) & (evs[u] <= e_hi)
            Y = f._panel.Y[keep]
            ys.append(Y[:, f._panel.col(u)])
            Y0s.append(Y[:, f._donor_cols])
        post = np.arange(e_lo, e_hi + 1) >= 0
        est = self.att(0, e_hi)
        res = conformal_average(ys, Y0s, post, est, level=level)
        m = self.estimates["estimand"] == "ATT"
        self.estimates.loc[m, "ci_lower"] = res.ci_lower
        self.estimates.loc[m, "ci_upper"] = res.ci_upper
        self.estimates.loc[m, "p_value"] = res.p_value
        self.notes.append(f"ATT interval and p-value: conformal (Chernozhukov-Wuthrich-Zhu), pooled over "
                          f"{len(self.fits)} units, event window {e_lo}..{e_hi}, level {level:g}")
        return res


def combine(fits: dict, outcome: str, level: float = 0.95) -> MultiSynthResults:
    """Pool separate fits (unit -> SynthResults) in event time."""
    frames = []
    for u, f in fits.items():
        p = f.paths.copy()
        p.insert(0, "unit", u)
        p["event_time"] = _event_index(p["time"].to_numpy(), f.treatment_time)
        p["treatment_time"] = f.treatment_time
        frames.append(p)
    ev = pd.concat(frames, ignore_index=True)
    att_e = ev.groupby("event_time").agg(estimate=("gap", "mean"), n_units=("gap", "size")).reset_index()
    post = ev[ev["event_time"] >= 0]
    overall = float(post.groupby("unit")["gap"].mean().mean())
    n_controls = int(np.median([f.info["n_donors"] for f in fits.values()]))
    rows = [{"outcome": outcome, "estimand": "ATT", "horizon": "post", "estimate": overall, "std_error": np.nan,
             "p_value": np.nan, "n_treated": len(fits), "n_controls": n_controls}]
    rows += [{"outcome": outcome, "estimand": "ATT(e)", "horizon": int(r.event_time), "estimate": float(r.estimate),
              "std_error": np.nan, "p_value": np.nan, "n_treated": int(r.n_units), "n_controls": n_controls}
             for r in att_e[att_e["event_time"] >= 0].itertuples()]
    info = {"n_treated": len(fits), "mean_pre_rmspe": float(np.mean([f.pre_rmspe for f in fits.values()]))}
    return MultiSynthResults(
        estimates=tidy_estimates(rows, level), method="synthetic control, several treated units (event time)",
        level=level, notes=["separate fits per treated unit; donors exclude every treated unit"], info=info,
        fits=fits, event_paths=ev, att_event=att_e,
    )
