"""The closing sections of an effect study: limitations and references, chosen by the analyses
the study ran (a study without an effect analysis has neither)."""

from __future__ import annotations

from typing import Any

from impact.report.render import ReportSection
from impact.report.wording import text

#: The methods' papers, by catalogue key (the text of each reference is the same in both languages).
REFERENCES = {
    "abadie_imbens_2006": "Abadie, A. and Imbens, G. W. (2006). Large sample properties of matching estimators for "
                          "average treatment effects. Econometrica 74(1), 235-267.",
    "abadie_imbens_2016": "Abadie, A. and Imbens, G. W. (2016). Matching on the estimated propensity score. "
                          "Econometrica 84(2), 781-807.",
    "cinelli_hazlett_2020": "Cinelli, C. and Hazlett, C. (2020). Making sense of sensitivity: extending omitted "
                            "variable bias. Journal of the Royal Statistical Society B 82(1), 39-67.",
    "chernozhukov_2018": "Chernozhukov, V., Chetverikov, D., Demirer, M., Duflo, E., Hansen, C., Newey, W. and "
                         "Robins, J. (2018). Double/debiased machine learning for treatment and structural "
                         "parameters. The Econometrics Journal 21(1), C1-C68.",
    "callaway_santanna_2021": "Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple "
                              "time periods. Journal of Econometrics 225(2), 200-230.",
    "rambachan_roth_2023": "Rambachan, A. and Roth, J. (2023). A more credible approach to parallel trends. Review "
                           "of Economic Studies 90(5), 2555-2591.",
    "abadie_2010": "Abadie, A., Diamond, A. and Hainmueller, J. (2010). Synthetic control methods for comparative "
                   "case studies: estimating the effect of California's tobacco control program. Journal of the "
                   "American Statistical Association 105(490), 493-505.",
    "arkhangelsky_2021": "Arkhangelsky, D., Athey, S., Hirshberg, D. A., Imbens, G. W. and Wager, S. (2021). "
                         "Synthetic difference-in-differences. American Economic Review 111(12), 4088-4118.",
    "ben_michael_2021": "Ben-Michael, E., Feller, A. and Rothstein, J. (2021). The augmented synthetic control "
                        "method. Journal of the American Statistical Association 116(536), 1789-1803.",
    "athey_wager_2021": "Athey, S. and Wager, S. (2021). Policy learning with observational data. Econometrica "
                        "89(1), 133-161.",
}


def _ran(results: list, name: str) -> Any:
    return next((r for r in results if r.name == name), None)


def reference_keys(cfg: Any, results: list) -> list[str]:
    """The references of the analyses the study ran, in the order of the report."""
    keys: list[str] = []
    m = _ran(results, "matching") or _ran(results, "sector")
    if m is not None:
        keys += ["abadie_imbens_2006", "abadie_imbens_2016", "cinelli_hazlett_2020"]
        if getattr(m.facts, "subgroups", None) is not None:
            keys.append("chernozhukov_2018")
    if _ran(results, "did") is not None:
        keys.append("callaway_santanna_2021")
        if cfg.estimator("did") is not None and cfg.estimator("did").honest:
            keys.append("rambachan_roth_2023")
    if _ran(results, "synth") is not None:
        keys.append("abadie_2010")
        compare = cfg.estimator("synth").compare if cfg.estimator("synth") is not None else ()
        keys += [k for c, k in (("sdid", "arkhangelsky_2021"), ("ascm", "ben_michael_2021")) if c in compare]
    if _ran(results, "targeting") is not None:
        keys += ["chernozhukov_2018", "athey_wager_2021"]
    return list(dict.fromkeys(keys))


def limitation_keys(cfg: Any, results: list, synthetic: bool) -> list[str]:
    """The limitations that apply to the study's analyses (catalogue keys ``limit_<key>``)."""
    keys = []
    if _ran(results, "matching") is not None or _ran(results, "sector") is not None:
        keys += ["observables", "not_now"]
        m = _ran(results, "matching")
        if m is not None and getattr(m.facts, "subgroups", None) is not None:
            keys.append("subgroups")
    if _ran(results, "did") is not None:
        keys += ["parallel_trends"]
        if (_ran(results, "matching") or _ran(results, "sector")) is not None:
            keys.append("two_estimands")
    if _ran(results, "synth") is not None:
        keys += ["one_area", "spillover"]
    if _ran(results, "targeting") is not None:
        keys.append("targeting")
    if not keys:
        return []
    keys.append("disclosure")
    if synthetic:
        keys.append("synthetic")
    return keys


def limitations_section(cfg: Any, results: list, lang: str, synthetic: bool) -> ReportSection | None:
    keys = limitation_keys(cfg, results, synthetic)
    if not keys:
        return None
    return ReportSection(key="limitations", title=text("limitations", lang), paragraphs=[text("limitations_intro", lang)],
                         bullets=[text(f"limit_{k}", lang, min_cell=cfg.disclosure.min_cell) for k in keys])


def references_section(cfg: Any, results: list, lang: str) -> ReportSection | None:
    keys = reference_keys(cfg, results)
    if not keys:
        return None
    return ReportSection(key="references", title=text("references", lang), bullets=[REFERENCES[k] for k in keys])


__all__ = ["REFERENCES", "reference_keys", "limitation_keys", "limitations_section", "references_section"]
