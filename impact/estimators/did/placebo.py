"""Placebo-in-time refutation of a staggered DiD: move every cohort's start back and re-estimate.

Every cohort's first treated period ``g`` is replaced by the period ``shift`` positions
earlier, ``g' = g - shift``, and the group-time effects of :func:`att_gt` are re-estimated
for the event times ``0 .. shift - 1`` after the fake start only. Those cells compare the
change from ``g' - 1`` to ``t < g`` of the cohort with that of its comparison units: every
outcome they use is observed before the cohort's true start (and, with not-yet-treated
comparisons, before the comparison units' true start, since ``g'_c > t`` means ``g_c > t``).
Under parallel trends and no anticipation the placebo ATT is zero; a placebo effect whose
confidence interval excludes zero says the comparison units' trends differ from the
cohorts' before the treatment (or that units react in advance).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import polars as pl

from impact.errors import DesignError
from impact.estimators.did._attgt import att_gt
from impact.estimators.did._prep import _period_expr, _to_polars
from impact.estimators.did.results import Overall
from impact.estimators.results import EstimationResults


@dataclass
class PlaceboResults(EstimationResults):
    """Placebo ATT (overall, ``estimand == "placebo ATT"``) and per fake event time.

    ``overall`` holds the cohort-size-weighted placebo ATT over the cells ``e = 0 ..
    shift - 1``; ``covers_zero`` whether its confidence interval contains zero.
    """

    overall: Overall | None = None
    shift: int = 1
    dropped_cohorts: list = field(default_factory=list)

    @property
    def covers_zero(self) -> bool:
        o = self.overall
        return bool(o.ci_lower <= 0.0 <= o.ci_upper)

    def summary(self) -> str:
        o = self.overall
        head = (f"Placebo in time (cohorts moved {self.shift} period(s) earlier, pre-treatment data only): "
                f"placebo ATT {o.estimate:.6f} (s.e. {o.std_error:.6f}), {int(self.level * 100)}% CI "
                f"[{o.ci_lower:.6f}, {o.ci_upper:.6f}], p = {o.p_value:.4f}")
        return head + "\n\n" + super().summary()


def placebo_in_time(
    data,
    *,
    unit: str,
    time: str,
    group: str,
    outcome: str,
    shift: int = 1,
    level: float = 0.95,
    **att_gt_options,
) -> PlaceboResults:
    """Placebo-in-time test of a staggered DiD (Callaway-Sant'Anna ATT(g, t)).

    Estimand: the average over cohorts (weighted by size) and fake event times
    ``e = 0 .. shift - 1`` of ``ATT(g - shift, g - shift + e)``, computed on outcomes
    observed before each cohort's true start ``g``. Zero under parallel trends and no
    anticipation.

    Parameters
    ----------
    data : polars or pandas DataFrame
        The long panel given to :func:`att_gt`.
    unit, time, group, outcome : str
        As in :func:`att_gt` (``group``: first treated period, 0 or null = never treated).
    shift : int
        How many periods (positions among the observed periods) every cohort is moved back.
        Cohorts that would start in the first period (no base period) are left out, with a
        note.
    level : float
        Confidence level.
    **att_gt_options
        Passed on to :func:`att_gt` (``control_group``, ``method``, ``covariates``,
        ``cluster``, ``weights``, ``comparison_set``, ``bootstrap``, ...); not
        ``anticipation`` (a placebo of an anticipating design is not defined here).

    Returns
    -------
    PlaceboResults
        ``overall`` (estimate, std_error, ci_lower, ci_upper, p_value), ``covers_zero``,
        ``estimates`` (the overall row and one row per fake event time), ``notes``.
    """
    if "anticipation" in att_gt_options and att_gt_options["anticipation"]:
        raise DesignError("placebo_in_time does not support anticipation > 0")
    for k in ("treatment", "base_period", "panel"):
        if k in att_gt_options:
            raise DesignError(f"placebo_in_time: {k}= is not supported (a balanced panel with group= is needed)")
    if not isinstance(shift, (int, np.integer)) or shift < 1:
        raise DesignError(f"shift must be a positive integer number of periods, got {shift!r}")
    df = _to_polars(data)
    missing = [c for c in (unit, time, group, outcome) if c not in df.columns]
    if missing:
        raise DesignError(f"columns not found in the data: {missing}; available: {df.columns}")
    t = df.select(_period_expr(df, time, "time").alias("t"))["t"]
    g = df.select(_period_expr(df, group, "group").alias("g"))["g"].fill_null(0.0)
    periods = np.sort(t.unique().to_numpy())
    gv = g.to_numpy()
    treated = gv != 0
    pos = np.searchsorted(periods, gv)
    inside = treated & (pos < len(periods)) & (periods[np.minimum(pos, len(periods) - 1)] == gv)
    # cohorts starting after the last period are never treated within the data (as in att_gt)
    late = treated & (gv > periods[-1])
    if (treated & ~inside & ~late).any():
        bad = np.unique(gv[treated & ~inside & ~late])
        raise DesignError(f"group column {group!r} has first treated periods that are not observed periods: {bad[:5].tolist()}")
    fake_pos = pos - shift
    fake = np.where(inside & (fake_pos >= 1), periods[np.clip(fake_pos, 0, len(periods) - 1)], 0.0)
    drop = inside & (fake_pos < 1)
    notes: list[str] = []
    dropped = sorted({float(x) for x in gv[drop]})
    if dropped:
        notes.append(
            f"cohorts {', '.join(f'{x:g}' for x in dropped)} have no period before their placebo start "
            f"({shift} period(s) earlier) and are left out"
        )
    d = df.with_columns(_placebo_group=pl.Series(np.where(late, 0.0, fake)))
    opts = dict(att_gt_options)
    cs = opts.pop("comparison_set", None)
    if cs is not None:  # stacked design: each comparison set moves with its cohort
        if cs not in df.columns:
            raise DesignError(f"comparison_set column {cs!r} not found in the data")
        sv = df.select(_period_expr(df, cs, "comparison_set").alias("s"))["s"].fill_null(0.0).to_numpy()
        spos = np.searchsorted(periods, sv)
        ok = (sv != 0) & (spos < len(periods)) & (periods[np.minimum(spos, len(periods) - 1)] == sv) & (spos - shift >= 1)
        d = d.with_columns(_placebo_set=pl.Series(np.where(ok, periods[np.clip(spos - shift, 0, len(periods) - 1)], 0.0)))
        drop = drop | (~treated & ~ok)  # comparison persons of cohorts that are left out
        opts["comparison_set"] = "_placebo_set"
    # the placebo cells read only the periods from the first moved base (g' - 1) to the last one before
    # a true start (g - 1): the periods outside change no estimate and are not copied (the panel is
    # balanced, so every unit keeps the same periods; a national stacked panel is several GB)
    kept = inside & ~drop
    if kept.any():
        tpos = np.searchsorted(periods, t.to_numpy())
        lo, hi = (pos[kept] - shift - 1).min(), pos[kept].max() - 1
        drop = drop | (tpos < lo) | (tpos > hi)
    if drop.any():
        d = d.filter(pl.Series(~drop))
    if not (d["_placebo_group"] > 0).any():
        raise DesignError(f"no cohort has a period before its placebo start {shift} period(s) earlier")
    res = att_gt(d, unit=unit, time=time, outcome=outcome, group="_placebo_group", level=level, **opts)
    simple = res.aggregate("simple", max_e=shift - 1)
    dyn = res.aggregate("dynamic", min_e=0, max_e=shift - 1)
    o = simple.overall
    rows = dyn.estimates.copy()
    rows["estimand"] = "placebo ATT(e)"
    overall = rows.iloc[:1].copy()
    for c in overall.columns:
        overall[c] = np.nan if overall[c].dtype.kind == "f" else overall[c]
    overall = overall.assign(estimand="placebo ATT", horizon=np.nan, estimate=o.estimate, std_error=o.std_error,
                             ci_lower=o.ci_lower, ci_upper=o.ci_upper, p_value=o.p_value)
    if "event_time" in overall:
        overall["event_time"] = np.nan
    table = pd.concat([overall, rows], ignore_index=True)
    return PlaceboResults(
        estimates=table, method=f"placebo in time (shift {shift}); {res.method}", level=level,
        notes=notes + list(res.notes), info={**res.info, "shift": int(shift)}, overall=o, shift=int(shift),
        dropped_cohorts=dropped,
    )
