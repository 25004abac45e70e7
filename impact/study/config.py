"""Study configs (``studies/NAME.toml``): the sections, loading and validation.

A study config names the data, the population, the evaluation unit, the treatment and the
comparison, the outcomes and horizons, the estimators, the report and disclosure control.
Each section is read into the option class that lives beside the code that uses it
(:data:`SECTIONS`): the defaults, the checks and the config reference (``docs/config.md``)
all come from those classes. Every problem is a :class:`impact.errors.ConfigError` naming
the key as a dotted path (``estimators.matching.k``), the bad value and what is allowed;
unknown keys are refused with the closest known key as a suggestion, and a key that none of
the study's analyses reads is refused too (:mod:`impact.study.checks`).

Example (see ``studies/`` for complete configs)::

    [study]
    name = "training_effect"
    title = "Does labour market training move job seekers into work?"
    question = "..."

    [data]
    synthetic = { scenario = "default", persons = 200000, seed = 1 }

    [treatment]
    design = "dynamic"
    service_type = "training"
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from impact.designs.options import MOVED as DESIGN_MOVED
from impact.designs.options import ComparisonOptions, CovariateOptions, TreatmentOptions
from impact.designs.population import MOVED as POPULATION_MOVED
from impact.designs.population import PopulationOptions, UnitOptions
from impact.errors import ConfigError
from impact.estimators.did.options import MOVED as DID_MOVED
from impact.estimators.did.options import DidOptions
from impact.estimators.matching.options import MOVED as MATCHING_MOVED
from impact.estimators.matching.options import MatchingOptions
from impact.estimators.synth.options import MOVED as SYNTH_MOVED
from impact.estimators.synth.options import PeerGroupOptions, SynthOptions
from impact.options import check_keys, option, parse_options
from impact.outcomes.metrics import MetricsConfig
from impact.outcomes.options import FOLLOWUP_MOVED, FollowupOptions, OutcomesOptions
from impact.outcomes.options import MOVED as OUTCOMES_MOVED
from impact.report.disclosure import DisclosureRules
from impact.report.options import MOVED as REPORT_MOVED
from impact.report.options import ReportOptions
from impact.study.checks import check_config
from impact.study.data import DataOptions, parse_data


@dataclass(frozen=True)
class StudySection:
    """``[study]``: what the study is called and which question it answers."""

    name: str = option(doc="Name of the study; the report is written to reports/NAME/.", kind="str")
    title: str = option(doc="Title of the report.", kind="str")
    question: str = option(doc="The evaluation question, printed on the first page.", kind="str")
    description: str = option("", "A longer description, printed under the question.", kind="str",
                              informational=True)
    phase: int = option(1, "Phase of the evaluation roadmap (1 follow-up, 2 effects, 3 machine learning), printed "
                        "on the first page.", kind="int", lo=1, hi=3, informational=True)

    def check(self, path: str) -> None:
        if not self.name or not all(c.isalnum() or c in "_-" for c in self.name):
            raise ConfigError(f"{path}.name = {self.name!r} is not allowed: expected a non-empty name of letters, "
                              "digits, '_' or '-' (it names reports/NAME/)")


#: The sections of a study config: TOML table -> (option class, keys that moved or were removed).
SECTIONS: dict[str, tuple[type, dict[str, str]]] = {
    "study": (StudySection, {}),
    "population": (PopulationOptions, POPULATION_MOVED),
    "unit": (UnitOptions, {}),
    "treatment": (TreatmentOptions, {}),
    "comparison": (ComparisonOptions, {}),
    "outcomes": (OutcomesOptions, OUTCOMES_MOVED),
    "design": (CovariateOptions, DESIGN_MOVED),
    "report": (ReportOptions, REPORT_MOVED),
    "disclosure": (DisclosureRules, {}),
    "metrics": (MetricsConfig, {}),
}
#: ``[estimators.NAME]`` -> (option class, moved keys); each also takes ``enabled = true/false``.
ESTIMATORS: dict[str, tuple[type, dict[str, str]]] = {
    "followup": (FollowupOptions, FOLLOWUP_MOVED),
    "matching": (MatchingOptions, MATCHING_MOVED),
    "did": (DidOptions, DID_MOVED),
    "synth": (SynthOptions, SYNTH_MOVED),
    "peer_groups": (PeerGroupOptions, {}),
}
TOP_LEVEL = ("study", "data", "population", "unit", "treatment", "comparison", "outcomes", "design", "estimators",
             "report", "disclosure", "metrics")


@dataclass(frozen=True)
class EstimatorSection:
    """``[estimators.NAME]``: whether it runs and its options."""

    name: str
    enabled: bool
    options: Any


@dataclass(frozen=True)
class StudyConfig:
    """A validated study config (one option object per section)."""

    study: StudySection
    data: DataOptions
    population: PopulationOptions
    unit: UnitOptions
    treatment: TreatmentOptions
    comparison: ComparisonOptions
    outcomes: OutcomesOptions
    design: CovariateOptions
    estimators: dict[str, EstimatorSection]
    report: ReportOptions
    disclosure: DisclosureRules
    metrics: MetricsConfig | None = None  # None: no [metrics] section
    path: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def estimator(self, name: str) -> Any:
        """The options of an enabled estimator section, or None."""
        e = self.estimators.get(name)
        return e.options if e is not None and e.enabled else None

    @property
    def analyses(self) -> tuple[str, ...]:
        """The analyses this config runs, in order (names of :data:`impact.study.analyses.ANALYSES`)."""
        out = []
        fu = self.estimators.get("followup")
        if fu is None or fu.enabled:
            out.append("followup")
        design = self.treatment.design
        if design == "dynamic":
            out += [a for a, e in (("matching", "matching"), ("did", "did")) if self.estimator(e) is not None]
        elif design == "did_cohorts" and self.estimator("did") is not None:
            out.append("did")
        elif design == "sector_contrast" and self.estimator("matching") is not None:
            out.append("sector")
        elif design == "synthetic_control" and self.estimator("synth") is not None:
            out.append("synth")
        if self.metrics is not None:
            out.append("metrics")
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the validated config (dates as ISO strings)."""
        d = asdict(self)
        d.pop("raw", None)
        if d.get("metrics") is None:  # configs without [metrics] keep their hash
            d.pop("metrics", None)
        else:
            for k in ("koto_months", "disclosure_min"):
                d["metrics"].pop(k, None)
        return json.loads(json.dumps(d, default=str))

    @property
    def hash(self) -> str:
        """SHA-256 of the validated config (stable across key order and formatting)."""
        d = self.to_dict()
        d.pop("path", None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def _estimators(raw: Any) -> dict[str, EstimatorSection]:
    check_keys(raw, "estimators", ESTIMATORS)
    out = {}
    for name, sec in raw.items():
        cls, moved = ESTIMATORS[name]
        path = f"estimators.{name}"
        if not isinstance(sec, dict):
            raise ConfigError(f"{path} must be a table of options, got {sec!r}")
        enabled = sec.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{path}.enabled = {enabled!r} is not allowed: expected true or false")
        out[name] = EstimatorSection(name=name, enabled=enabled,
                                     options=parse_options(cls, sec, path, moved, extra_keys=("enabled",)))
    return out


def parse_config(raw: dict[str, Any], path: str | Path | None = None) -> StudyConfig:
    """Validate a parsed TOML document and build a :class:`StudyConfig`.

    Raises
    ------
    ConfigError
        Naming the key (dotted path), the bad value and what is allowed.
    """
    check_keys(raw, "", TOP_LEVEL)
    if "study" not in raw:
        raise ConfigError("missing required section [study] (with name, title, question)")
    sec = {name: parse_options(cls, raw.get(name, {}), name, moved)
           for name, (cls, moved) in SECTIONS.items() if name != "metrics"}
    metrics = None
    if "metrics" in raw:
        cls, moved = SECTIONS["metrics"]
        metrics = parse_options(cls, raw["metrics"], "metrics", moved)
    cfg = StudyConfig(data=parse_data(raw.get("data")), estimators=_estimators(raw.get("estimators", {})),
                      metrics=metrics, path=str(path) if path else None, raw=raw, **sec)
    check_config(cfg, SECTIONS, ESTIMATORS)
    return cfg


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a study config file (TOML).

    Raises
    ------
    ConfigError
        If the file is missing, is not valid TOML, or breaks the schema (the message names
        the file and the key).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"study config {path} does not exist (expected a TOML file, e.g. "
                          "studies/placement_followup.toml)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        return parse_config(raw, path)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
