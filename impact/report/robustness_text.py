"""Plain-language sentences for the robustness sections of a report, in English and Finnish.

* :func:`breakdown_sentence`: what the honest event-study bounds say ("the effect stays positive
  unless post-period trend violations exceed 1.4 times the largest pre-period one"), from an
  ``HonestBounds`` (or anything with ``breakdown``, ``method``, ``original``, ``table``);
* :func:`why_estimators_differ`: a short paragraph explaining the spread of synthetic control,
  synthetic DiD, augmented synthetic control and DiD estimates from their diagnostics (pre-period
  fit, concentration of the donor weights, extrapolation), from ``AreaComparison.table``.

Both take data, not fitted models, and return text; numbers are formatted by ``fmt``
(default: 3 significant digits; pass the report's percentage-point formatter for rates).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from impact.errors import ConfigError

LANGS = ("en", "fi")


def _check(lang: str) -> None:
    if lang not in LANGS:
        raise ConfigError(f"report.language must be one of {LANGS}, got {lang!r}")


def _num(x: float, lang: str, spec: str = ".3g") -> str:
    s = format(x, spec)
    return s.replace(".", ",") if lang == "fi" else s


def breakdown_sentence(bounds: Any, lang: str = "en", fmt: Callable[[float], str] | None = None) -> str:
    """One sentence on how large a violation of parallel trends would overturn the sign of the effect.

    Relative magnitudes: "... unless post-period violations of parallel trends exceed Mbar times
    the largest pre-period one"; smoothness: "... unless the slope of the difference in trends
    changes by more than M per period" (``fmt`` formats M in outcome units). The breakdown
    value 0 (not significant even under exact parallel trends) and infinity (significant for
    every violation examined) have their own sentences.
    """
    _check(lang)
    fmt = fmt or (lambda v: _num(v, lang))
    o = bounds.original
    est, bd = float(o["estimate"]), float(bounds.breakdown)
    rel = bounds.method == "relative_magnitude"
    pos = est > 0
    sign_en, sign_fi = ("positive", "positiivisena") if pos else ("negative", "negatiivisena")
    if not np.isfinite(bd):
        mmax = float(np.max(bounds.table["m"]))
        top = _num(mmax, lang) if rel else fmt(mmax)
        if lang == "en":
            return (f"The effect stays {sign_en} for every violation of parallel trends examined "
                    f"(up to {top} {'times the largest pre-period one' if rel else 'change in slope per period'}).")
        return (f"Vaikutus pysyy {sign_fi} kaikilla tarkastelluilla rinnakkaisten trendien oletuksen rikkomuksilla "
                f"({'enintään ' + top + '-kertaisilla suurimpaan esijakson rikkomukseen verrattuna' if rel else 'kulmakertoimen muutos enintään ' + top + ' jaksoa kohden'}).")
    if bd <= 0:
        lo, hi = fmt(float(o["lower"])), fmt(float(o["upper"]))
        if lang == "en":
            return (f"Even if parallel trends held exactly, the effect would not be distinguishable from zero "
                    f"({int(round(100 * getattr(bounds, 'level', 0.95)))}% interval {lo} to {hi}).")
        return (f"Vaikutus ei eroa nollasta edes, jos rinnakkaiset trendit pätevät täsmälleen "
                f"({int(round(100 * getattr(bounds, 'level', 0.95)))} %:n luottamusväli {lo}…{hi}).")
    if rel:
        x = _num(bd, lang)
        if lang == "en":
            return (f"The effect stays {sign_en} unless post-period violations of parallel trends exceed {x} times "
                    f"the largest pre-period one.")
        return (f"Vaikutus pysyy {sign_fi}, ellei rinnakkaisten trendien oletuksen rikkomus jälkijaksolla ole yli "
                f"{x}-kertainen suurimpaan esijakson rikkomukseen verrattuna.")
    x = fmt(bd)
    if lang == "en":
        return (f"The effect stays {sign_en} unless the slope of the difference in trends changes by more than {x} "
                f"per period.")
    return f"Vaikutus pysyy {sign_fi}, ellei trendien eron kulmakerroin muutu enemmän kuin {x} jaksoa kohden."


_NAMES_FI = {"synthetic control": "synteettinen kontrolli", "synthetic DiD": "synteettinen erotusten erotus",
             "augmented synthetic control": "täydennetty synteettinen kontrolli", "DiD": "erotusten erotus"}


def why_estimators_differ(table: pd.DataFrame, lang: str = "en", fmt: Callable[[float], str] | None = None) -> str:
    """A paragraph explaining the spread of the area estimates from their diagnostics.

    ``table``: rows ``estimator`` ("synthetic control", "synthetic DiD", "augmented synthetic
    control", "DiD") with ``estimate``, ``ci_lower``, ``ci_upper``, ``pre_rmse``, ``max_weight``,
    ``effective_donors``, ``negative_weight`` and optionally ``augmentation`` and ``truth``.
    """
    _check(lang)
    fmt = fmt or (lambda v: _num(v, lang))
    t = table.set_index("estimator")
    name = (lambda e: e) if lang == "en" else (lambda e: _NAMES_FI.get(e, e))
    est = t["estimate"].astype(float)
    half = ((t["ci_upper"] - t["ci_lower"]) / 2).astype(float)
    spread = float(est.max() - est.min())
    typical = float(np.nanmedian(half)) if np.isfinite(half).any() else float("nan")
    out = []
    hi_e, lo_e = est.idxmax(), est.idxmin()
    if np.isfinite(typical) and spread <= 0.5 * typical:
        out.append(f"The estimates agree: they span {fmt(spread)}, less than half a typical interval half-width "
                   f"({fmt(typical)})." if lang == "en" else
                   f"Estimaatit ovat yhtäpitäviä: niiden vaihteluväli {fmt(spread)} on alle puolet tyypillisestä "
                   f"luottamusvälin puolileveydestä ({fmt(typical)}).")
    else:
        out.append(f"The estimates range from {fmt(est.min())} ({name(lo_e)}) to {fmt(est.max())} ({name(hi_e)})"
                   + (f", a spread of {fmt(spread)} against a typical interval half-width of {fmt(typical)}."
                      if np.isfinite(typical) else ".") if lang == "en" else
                   f"Estimaatit vaihtelevat välillä {fmt(est.min())} ({name(lo_e)}) … {fmt(est.max())} ({name(hi_e)})"
                   + (f"; ero {fmt(spread)}, kun luottamusvälin tyypillinen puolileveys on {fmt(typical)}."
                      if np.isfinite(typical) else "."))
    sc, sd = "synthetic control", "synthetic DiD"
    if sc in t.index and sd in t.index:
        r_sc, r_sd = float(t.loc[sc, "pre_rmse"]), float(t.loc[sd, "pre_rmse"])
        if r_sc > 1.5 * r_sd:
            out.append(f"Before the reform the synthetic control misses the treated area by {fmt(r_sc)} on average "
                       f"(root mean square), against {fmt(r_sd)} for synthetic DiD, which allows a constant level "
                       "difference: a level gap the donors cannot reproduce ends up in the synthetic control's estimate."
                       if lang == "en" else
                       f"Ennen uudistusta synteettinen kontrolli poikkeaa käsitellystä alueesta keskimäärin {fmt(r_sc)} "
                       f"(neliöllinen keskiarvo), synteettinen erotusten erotus vain {fmt(r_sd)}, koska se sallii "
                       "vakiotasoeron: tasoero, jota vertailualueet eivät tuota, siirtyy synteettisen kontrollin "
                       "estimaattiin.")
        else:
            out.append(f"Both fit the pre-reform path similarly (root mean square gap {fmt(r_sc)} for the synthetic "
                       f"control, {fmt(r_sd)} for synthetic DiD after its level shift)." if lang == "en" else
                       f"Molemmat sopivat uudistusta edeltävään kehitykseen yhtä hyvin (poikkeaman neliöllinen keskiarvo "
                       f"{fmt(r_sc)} synteettisellä kontrollilla, {fmt(r_sd)} synteettisellä erotusten erotuksella).")
        mw, ed, ed_sd = float(t.loc[sc, "max_weight"]), float(t.loc[sc, "effective_donors"]), float(
            t.loc[sd, "effective_donors"])
        if mw > 0.5 or ed < 3:
            out.append(f"The synthetic control leans on few donors (largest weight {_num(mw, lang, '.2f')}, effectively {_num(ed, lang, '.1f')} "
                       f"areas), so shocks to those areas move it; synthetic DiD spreads its weight over effectively "
                       f"{_num(ed_sd, lang, '.1f')} areas." if lang == "en" else
                       f"Synteettinen kontrolli nojaa harvoihin vertailualueisiin (suurin paino {_num(mw, lang, '.2f')}, efektiivisesti "
                       f"{_num(ed, lang, '.1f')} aluetta), joten niiden satunnaisvaihtelu näkyy estimaatissa; synteettinen erotusten "
                       f"erotus jakaa painon efektiivisesti {_num(ed_sd, lang, '.1f')} alueelle.")
    asc = "augmented synthetic control"
    if asc in t.index:
        neg = float(t.loc[asc, "negative_weight"])
        aug = float(t.loc[asc, "augmentation"]) if "augmentation" in t.columns and pd.notna(t.loc[asc, "augmentation"]) else np.nan
        if neg > 0.05:
            out.append(f"The augmented synthetic control extrapolates beyond the donors (negative weights totalling "
                       f"{_num(neg, lang, '.2f')}) to remove the synthetic control's remaining imbalance"
                       + (f", which moves the estimate by {fmt(-aug)}." if np.isfinite(aug) else ".") if lang == "en" else
                       f"Täydennetty synteettinen kontrolli ekstrapoloi vertailualueiden ulkopuolelle (negatiiviset painot "
                       f"yhteensä {_num(neg, lang, '.2f')}) poistaakseen synteettisen kontrollin jäljelle jääneen epätasapainon"
                       + (f", mikä muuttaa estimaattia {fmt(-aug)}." if np.isfinite(aug) else "."))
        elif np.isfinite(aug):
            out.append(f"The augmentation changes the synthetic control's estimate by only {fmt(-aug)} and needs little "
                       "extrapolation." if lang == "en" else
                       f"Täydennys muuttaa synteettisen kontrollin estimaattia vain {fmt(-aug)} eikä juuri ekstrapoloi.")
    if "truth" in t.columns and t["truth"].notna().any():
        tr = float(t["truth"].dropna().iloc[0])
        best = (est - tr).abs().idxmin()
        cov = [name(e) for e in t.index if t.loc[e, "ci_lower"] <= tr <= t.loc[e, "ci_upper"]]
        out.append(f"In the simulation the true effect is {fmt(tr)}; closest is {name(best)}"
                   + (f", and the intervals of {', '.join(cov)} contain it." if cov else
                      ", and no interval contains it.") if lang == "en" else
                   f"Simulaatiossa todellinen vaikutus on {fmt(tr)}; lähimpänä on {name(best)}"
                   + (f", ja sen sisältävät menetelmien {', '.join(cov)} luottamusvälit." if cov else
                      ", eikä mikään luottamusväli sisällä sitä."))
    return " ".join(out)
