"""Rules between the sections of a study config: a key must fit the design, and a key that none
of the study's analyses reads is refused (so no accepted key is ever silently ignored)."""

from __future__ import annotations

from typing import Any

from impact.designs.options import COMPATIBLE
from impact.errors import ConfigError
from impact.options import option_fields

#: The analysis an estimator section feeds.
FEEDS = {"followup": ("followup",), "matching": ("matching", "sector"), "did": ("did",), "synth": ("synth",),
         "peer_groups": ("synth",)}
#: Groupings of the follow-up that only service spells have.
SERVICE_GROUPS = ("service_type", "subtype", "provider_id", "course_id", "employer_sector")
#: Options of [estimators.did] that only one of its designs reads.
DID_DESIGN_KEYS = {"cohorts": "risk_set", "controls_per_treated": "risk_set", "sample_units": "spell_time"}


def _set_keys(raw: Any) -> list[str]:
    return list(raw) if isinstance(raw, dict) else []


def check_config(cfg: Any, sections: dict[str, tuple[type, dict]], estimators: dict[str, tuple[type, dict]]) -> None:
    """Raise :class:`ConfigError` for the first rule between sections that the config breaks
    (``sections``, ``estimators``: the option classes of each section, :data:`impact.study.config.SECTIONS`)."""
    t, c = cfg.treatment, cfg.comparison
    if c.kind not in COMPATIBLE[t.design]:
        raise ConfigError(f"comparison.kind = {c.kind!r} does not fit treatment.design = {t.design!r}: "
                          f"expected one of {', '.join(COMPATIBLE[t.design])}")
    if t.design == "sector_contrast":
        if not c.employer_sectors:
            raise ConfigError("comparison.employer_sectors is required when treatment.design = 'sector_contrast'")
        both = set(c.employer_sectors) & set(t.employer_sectors or ())
        if both:
            raise ConfigError(f"comparison.employer_sectors = {list(c.employer_sectors)} overlaps "
                              f"treatment.employer_sectors = {list(t.employer_sectors or ())}: sectors {sorted(both)} "
                              "cannot be in both groups")
    if c.donors and t.area and t.area in c.donors:
        raise ConfigError(f"comparison.donors contains the treated area {t.area!r}")
    if c.donors and c.exclude_areas and set(c.donors) & set(c.exclude_areas):
        raise ConfigError(f"comparison.donors and comparison.exclude_areas both name "
                          f"{sorted(set(c.donors) & set(c.exclude_areas))}")
    pop = cfg.population
    if t.design == "synthetic_control" and pop.areas and t.area not in pop.areas:
        raise ConfigError(f"population.areas = {list(pop.areas)} leaves out the treated area treatment.area = "
                          f"{t.area!r}")
    if t.service_type and cfg.unit.service_types and t.service_type not in cfg.unit.service_types:
        raise ConfigError(f"unit.service_types = {list(cfg.unit.service_types)} does not contain treatment.service_type "
                          f"= {t.service_type!r}: the follow-up and the effect would describe different services")
    if cfg.unit.kind == "jobseeking_spell":
        service_only = [b for b in cfg.outcomes.groupings(cfg.unit.kind) if b in SERVICE_GROUPS]
        if service_only:
            raise ConfigError(f"outcomes.by = {list(cfg.outcomes.by)}: {service_only} describe service spells, not "
                              "job-seeking spells (unit.kind = 'jobseeking_spell'); use groupings of job-seeking "
                              "spells, e.g. ['employment_area', 'segment']")
        if "cost" in cfg.outcomes.columns(cfg.unit.kind):
            raise ConfigError("outcomes.measures contains 'cost', which job-seeking spells do not have (unit.kind = "
                              "'jobseeking_spell')")
    needs = {"dynamic": ("matching", "did"), "did_cohorts": ("did",), "synthetic_control": ("synth",),
             "sector_contrast": ("matching",)}
    if t.design in needs and not any(n in cfg.estimators for n in needs[t.design]):
        raise ConfigError(f"treatment.design = {t.design!r} needs an estimator: add "
                          f"[estimators.{needs[t.design][0]}]")
    analyses = set(cfg.analyses)
    for name, sec in cfg.estimators.items():
        if sec.enabled and not analyses & set(FEEDS[name]):
            raise ConfigError(f"[estimators.{name}] is not used by treatment.design = {t.design!r} (it feeds the "
                              f"{' / '.join(FEEDS[name])} analysis): remove it or set enabled = false")
    did = cfg.estimator("did")
    if did is not None:
        if did.design == "risk_set" and c.kind == "never_treated":
            raise ConfigError("comparison.kind = 'never_treated' does not fit estimators.did.design = 'risk_set': its "
                              "comparison persons did not start the service in the entry month but may start it later "
                              "('not now'); use comparison.kind = 'not_yet_treated'")
        raw_did = cfg.raw.get("estimators", {}).get("did", {})
        for key, design in DID_DESIGN_KEYS.items():
            if key in raw_did and did.design != design:
                raise ConfigError(f"estimators.did.{key} applies to design = {design!r} only (got design = "
                                  f"{did.design!r})")
        raw_t = cfg.raw.get("treatment", {})
        for key in ("cohorts_from", "cohorts_to"):
            if key in raw_t and did.design != "risk_set":
                raise ConfigError(f"treatment.{key} applies to estimators.did.design = 'risk_set' only (the "
                                  "spell-time design's cohorts are months since the job-seeking spell started)")
    # every key the config sets must be read by one of its analyses
    for name, (cls, _) in sections.items():
        _check_applies(cls, _set_keys(cfg.raw.get(name)), name, analyses)
    for name, (cls, _) in estimators.items():
        _check_applies(cls, _set_keys(cfg.raw.get("estimators", {}).get(name)), f"estimators.{name}", analyses)


def _check_applies(cls: type, keys: list[str], path: str, analyses: set[str]) -> None:
    for f in option_fields(cls):
        applies = f.metadata.get("applies")
        if f.name in keys and applies is not None and not set(applies) & analyses:
            runs = ", ".join(sorted(analyses)) or "no analysis"
            raise ConfigError(f"{path}.{f.name} is read only by the {' / '.join(applies)} analysis; this study runs "
                              f"{runs}: remove the key (a key that would change nothing is refused)")
