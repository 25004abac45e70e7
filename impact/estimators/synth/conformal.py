"""Conformal inference for the average post-treatment effect of a synthetic control.

Chernozhukov, Wüthrich and Zhu (2021, JASA), "An exact and robust conformal inference method
for counterfactual and synthetic controls". Estimand: the average effect over the post
period, ``theta = mean_{t >= T0} (Y_1t(1) - Y_1t(0))``; for several treated units pooled in
event time, the mean over units of each unit's average effect over the common event window.

Test of ``H0: theta = theta0`` (every post period shifted by the same ``theta0``):

1. impose the null: ``y*_t = Y_1t - theta0`` for ``t >= T0`` (``Y_1t`` before);
2. refit the synthetic control on **all** ``T`` periods (pre and post) of ``y*``: simplex
   weights minimising the squared residuals (the outcome-only proxy, whatever predictors the
   point estimate used); residuals ``u_t = y*_t - sum_j w_j Y_jt``;
3. statistic ``S = |mean_{t >= T0} u_t|``; the same statistic over the ``T`` cyclic shifts of
   the residual series (moving-block permutations, which keep the serial dependence inside
   each block); ``p = #{shifts with S_j >= S} / T``.

Because the proxy is fitted with the post periods included, the post residuals are no smaller
than the pre residuals by construction, and no donor's noise level enters. Under the null the
residual series is (approximately) stationary, and the test is valid for large ``T`` under
weak dependence (exact with exchangeable residuals). Two limits seen in the validation
harness (docs/validation.md): an effect that varies over the post period makes the
constant-effect null false for every ``theta0`` (undercoverage), and strongly persistent noise
over few periods makes the interval's width erratic. The confidence set
``{theta0 : p(theta0) > 1 - level}`` is found by stepping out from the point estimate and
bisecting at the first rejection on each side. With ``T`` periods the smallest p-value is
``1 / T``: a 95 % interval needs ``T >= 20`` (better 40+).

Several treated units (event time): each unit's proxy is refitted under the common null on
the event window that all units share, the residuals are averaged across units by event
time, and the shifts act on that average series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from impact.errors import DesignError, EstimationError
from impact.estimators.synth.solver import simplex_lsq

_BISECT = 24  # bisection steps at each end of the interval (precision: step / 2^24)
_MAX_STEPS = 400  # grid steps outward before the step is doubled


@dataclass
class ConformalResults:
    """Conformal test inversion for the average post-period effect.

    ``estimate``: the point estimate the interval is centred on (the ATT of the fit).
    ``p_value``: test of ``theta = 0``. ``ci_lower``, ``ci_upper``: the ``level`` confidence
    interval. ``grid``: every ``theta0`` evaluated with its p-value. ``n_periods``: the
    number of periods (= permutations; the smallest possible p-value is ``1 / n_periods``).
    """

    estimate: float
    p_value: float
    ci_lower: float
    ci_upper: float
    level: float
    n_periods: int
    n_post: int
    n_units: int
    grid: pd.DataFrame

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("estimate", "p_value", "ci_lower", "ci_upper", "level", "n_periods",
                                              "n_post", "n_units")}


class _Problem:
    """Treated series (one column per treated unit) and donor matrices on a common window."""

    def __init__(self, y: list[np.ndarray], Y0: list[np.ndarray], post: np.ndarray):
        self.y = [np.ascontiguousarray(v, dtype=float) for v in y]
        self.Y0 = [np.ascontiguousarray(m, dtype=float) for m in Y0]
        self.post = post
        T = post.size
        self.T = T
        # shifted post windows: row j holds the indices of the post periods moved by j (cyclic)
        self.shift_idx = (np.flatnonzero(post)[None, :] + np.arange(T)[:, None]) % T

    def residuals(self, theta: float) -> np.ndarray:
        """Mean over treated units of the residuals of the proxy refitted under ``theta``."""
        u = np.zeros(self.T)
        for y, Y0 in zip(self.y, self.Y0):  # a handful of treated units
            ys = y - theta * self.post
            w = simplex_lsq(Y0, ys)
            u += ys - Y0 @ w
        return u / len(self.y)

    def p_value(self, theta: float) -> float:
        u = self.residuals(theta)
        s = np.abs(u[self.shift_idx].mean(axis=1))
        return float(np.mean(s >= s[0] - 1e-12 * max(1.0, abs(s[0]))))


def _invert(prob: _Problem, center: float, step: float, alpha: float, grid: list) -> tuple[float, float]:
    """Interval ``{theta: p > alpha}`` around ``center``: step out, then bisect each end."""

    def p(th: float) -> float:
        v = prob.p_value(th)
        grid.append((th, v))
        return v

    if p(center) <= alpha:  # the estimate itself is rejected: centre on the best theta nearby
        ths = center + step * np.arange(-50, 51)
        ps = np.array([p(t) for t in ths])
        if ps.max() <= alpha:
            raise EstimationError(
                f"conformal confidence set is empty near the estimate {center:.6g} (largest p-value "
                f"{ps.max():.3f} <= {alpha:.3f}); the synthetic control does not fit the treated unit"
            )
        center = float(ths[int(np.argmax(ps))])
    ends = []
    for sign in (-1.0, 1.0):
        h, k, inside, outside, doublings = step, 0, center, None, 0
        while outside is None:  # walk out until the first rejected theta
            k += 1
            th = center + sign * h * k
            if p(th) <= alpha:
                outside = th
            else:
                inside = th
                if k >= _MAX_STEPS:  # still accepted far out: coarser steps
                    h, k, doublings = 2.0 * h, k // 2, doublings + 1
                    if doublings > 40:
                        break
        if outside is None:  # never rejected: unbounded on this side
            ends.append(sign * np.inf)
            continue
        lo_, hi_ = inside, outside
        for _ in range(_BISECT):
            mid = 0.5 * (lo_ + hi_)
            if p(mid) > alpha:
                lo_ = mid
            else:
                hi_ = mid
        ends.append(0.5 * (lo_ + hi_))
    return ends[0], ends[1]


def conformal_average(
    y: list[np.ndarray], Y0: list[np.ndarray], post: np.ndarray, estimate: float, level: float = 0.95,
    scale: float | None = None,
) -> ConformalResults:
    """Conformal p-value (``theta = 0``) and interval for the average post-period effect.

    Parameters
    ----------
    y : treated outcome series (one per treated unit, each of length ``T``, aligned in event time).
    Y0 : donor outcome matrices (``T x J_i``), one per treated unit.
    post : boolean mask of the post periods on the common window.
    estimate : point estimate to centre the search on.
    level : confidence level.
    scale : initial search step (default: the pre-period residual SD of the fit at ``estimate``, / 4).
    """
    post = np.asarray(post, dtype=bool)
    T = post.size
    if not (0 < level < 1):
        raise DesignError(f"level must be in (0, 1), got {level}")
    if post.sum() == 0 or post.all():
        raise DesignError("conformal inference needs both pre- and post-treatment periods")
    alpha = 1.0 - level
    if T * alpha < 1:
        raise DesignError(
            f"conformal inference with {T} periods cannot reject at level {level}: the smallest p-value is 1/{T}; "
            f"it needs at least {int(np.ceil(1 / alpha))} periods"
        )
    for i, m in enumerate(Y0):
        if m.shape[0] != T or y[i].shape[0] != T:
            raise DesignError("treated series and donor matrix have different numbers of periods")
        if m.shape[1] < 2:
            raise DesignError("conformal inference needs at least two donors")
    prob = _Problem(y, Y0, post)
    if scale is None or not scale > 0:
        u = prob.residuals(estimate)
        scale = float(np.std(u[~post])) / 4.0
        if not scale > 0:
            scale = max(abs(estimate), 1.0) * 1e-3
    grid: list = []
    p0 = prob.p_value(0.0)
    grid.append((0.0, p0))
    lo, hi = _invert(prob, float(estimate), scale, alpha, grid)
    g = pd.DataFrame(grid, columns=["theta", "p_value"]).drop_duplicates("theta").sort_values("theta", ignore_index=True)
    return ConformalResults(float(estimate), p0, lo, hi, level, T, int(post.sum()), len(y), g)
