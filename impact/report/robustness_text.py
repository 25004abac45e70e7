"""Plain-language sentences for the robustness sections of a report, in English and Finnish.

* :func:`breakdown_sentence`: what the honest event-study bounds say ("the effect stays positive
  unless post-period trend violations exceed 1.4 times the largest pre-period one"), from an
  ``HonestBounds`` (or anything with ``breakdown``, ``method``, ``original``, ``table``, ``level``);
* :func:`why_estimators_differ`: a short paragraph explaining the spread of synthetic control,
  synthetic DiD, augmented synthetic control and DiD estimates from their diagnostics (pre-period
  fit, concentration of the donor weights, extrapolation), from ``AreaComparison.table``.

Both take data, not fitted models, and return text; numbers are formatted by ``fmt``
(default: 3 significant digits, decimal comma in Finnish; pass the report's percentage-point
formatter for rates; ``size_fmt`` formats unsigned sizes: spreads, half-widths, pre-period fit).
Every sentence is a template of the wording catalogue (:mod:`impact.report.wording`).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from impact.report.wording import check_language, label, text


def _num(x: float, lang: str, spec: str = ".3g") -> str:
    s = format(x, spec)
    return s.replace(".", ",") if lang == "fi" else s


def breakdown_sentence(bounds: Any, lang: str = "en", fmt: Callable[[float], str] | None = None,
                       size_fmt: Callable[[float], str] | None = None) -> str:
    """One sentence on how large a violation of parallel trends would overturn the sign of the effect.

    Relative magnitudes: "... unless post-period violations of parallel trends exceed Mbar times
    the largest pre-period one" (Mbar with 3 significant digits); smoothness: "... unless the slope
    of the difference in trends changes by more than M per period" (``size_fmt`` formats M in outcome
    units, ``fmt`` the interval's bounds; default both ``fmt``). A breakdown value of 0 (not significant even under exact parallel trends) and of
    infinity (significant for every violation examined) have their own sentences.
    """
    fmt = fmt or (lambda v: _num(v, lang))
    size = size_fmt or fmt
    o = bounds.original
    bd = float(bounds.breakdown)
    rel = bounds.method == "relative_magnitude"
    sign = text("honest_sign_positive" if float(o["estimate"]) > 0 else "honest_sign_negative", lang)
    if not np.isfinite(bd):
        mmax = float(np.max(bounds.table["m"]))
        return text("honest_breakdown_none_rm" if rel else "honest_breakdown_none_sd", lang, sign=sign,
                    m=_num(mmax, lang) if rel else size(mmax))
    if bd <= 0:
        return text("honest_not_significant", lang, level=int(round(100 * getattr(bounds, "level", 0.95))),
                    lower=fmt(float(o["lower"])), upper=fmt(float(o["upper"])))
    if rel:
        return text("honest_breakdown_rm", lang, sign=sign, m=_num(bd, lang))
    return text("honest_breakdown_sd", lang, sign=sign, m=size(bd))


def why_estimators_differ(table: pd.DataFrame, lang: str = "en", fmt: Callable[[float], str] | None = None,
                          size_fmt: Callable[[float], str] | None = None) -> str:
    """A paragraph explaining the spread of the area estimates from their diagnostics.

    ``table``: rows ``estimator`` ("synthetic control", "synthetic DiD", "augmented synthetic
    control", "DiD") with ``estimate``, ``ci_lower``, ``ci_upper``, ``pre_rmse``, ``max_weight``,
    ``effective_donors``, ``negative_weight`` and optionally ``augmentation`` and ``truth``.
    Rules: the spread against the typical interval half-width; the synthetic control's
    pre-period fit against synthetic DiD's (worse by half: a level gap); its weight
    concentration (largest weight over 0.5 or fewer than 3 effective donors); the augmented
    control's negative weights (over 0.05: extrapolation); the truth, when known.
    """
    check_language(lang)
    fmt = fmt or (lambda v: _num(v, lang))
    size = size_fmt or fmt
    t = table.set_index("estimator")
    name = lambda e: label(e, lang)  # noqa: E731
    est = t["estimate"].astype(float)
    half = ((t["ci_upper"] - t["ci_lower"]) / 2).astype(float)
    spread = float(est.max() - est.min())
    typical = float(np.nanmedian(half)) if np.isfinite(half).any() else float("nan")
    out = []
    if np.isfinite(typical) and spread <= 0.5 * typical:
        out.append(text("area_agree", lang, spread=size(spread), half=size(typical)))
    else:
        out.append(text("area_range", lang, low=fmt(est.min()), low_name=name(est.idxmin()), high=fmt(est.max()),
                        high_name=name(est.idxmax()), spread=size(spread), half=size(typical)))
    sc, sd = "synthetic control", "synthetic DiD"
    if sc in t.index and sd in t.index:
        r_sc, r_sd = float(t.loc[sc, "pre_rmse"]), float(t.loc[sd, "pre_rmse"])
        out.append(text("area_prefit_bad" if r_sc > 1.5 * r_sd else "area_prefit_ok", lang, sc=size(r_sc),
                        sdid=size(r_sd)))
        mw, ed = float(t.loc[sc, "max_weight"]), float(t.loc[sc, "effective_donors"])
        if mw > 0.5 or ed < 3:
            out.append(text("area_concentrated", lang, max_weight=_num(mw, lang, ".2f"), donors=_num(ed, lang, ".1f"),
                            donors_sdid=_num(float(t.loc[sd, "effective_donors"]), lang, ".1f")))
    asc = "augmented synthetic control"
    if asc in t.index:
        neg = float(t.loc[asc, "negative_weight"])
        aug = float(t.loc[asc, "augmentation"]) if "augmentation" in t.columns and pd.notna(t.loc[asc, "augmentation"]) else np.nan
        if neg > 0.05 and np.isfinite(aug):
            out.append(text("area_extrapolates", lang, negative=_num(neg, lang, ".2f"), change=fmt(-aug)))
        elif np.isfinite(aug):
            out.append(text("area_little_augmentation", lang, change=fmt(-aug)))
    if "truth" in t.columns and t["truth"].notna().any():
        tr = float(t["truth"].dropna().iloc[0])
        best = name((est - tr).abs().idxmin())
        cov = [name(e) for e in t.index if t.loc[e, "ci_lower"] <= tr <= t.loc[e, "ci_upper"]]
        if cov:
            join = text("and_join", lang)
            covering = cov[0] if len(cov) == 1 else ", ".join(cov[:-1]) + join + cov[-1]
            out.append(text("area_truth_covered", lang, truth=fmt(tr), best=best, covering=covering))
        else:
            out.append(text("area_truth_missed", lang, truth=fmt(tr), best=best))
    return " ".join(out)
