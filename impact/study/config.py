"""Study configs (``studies/NAME.toml``): schema, loading and validation.

A study config names the data, the population, the evaluation unit, the treatment and the
comparison, the outcomes and horizons, the estimators and the report. It is read into
frozen dataclasses; every problem is a :class:`impact.errors.ConfigError` naming the key
as a dotted path (``estimators.matching.k``), the bad value and what is allowed. Unknown
keys are rejected with the closest known key as a suggestion (a typo in a config must not
silently fall back to a default).

Example (see ``studies/`` for complete configs)::

    [study]
    name = "training_effect"
    title = "Does labour market training move job seekers into work?"
    question = "..."

    [data]
    synthetic = { scenario = "default", persons = 200000, seed = 1 }

    [unit]
    kind = "service_spell"
    service_types = ["training"]

    [treatment]
    design = "dynamic"
    service_type = "training"
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from impact.errors import ConfigError
from impact.registers.schema import EMPLOYER_SECTORS, LANGUAGES, SEGMENTS, SERVICE_TYPES, SEXES

UNIT_KINDS = ("service_spell", "jobseeking_spell")
DESIGNS = ("none", "dynamic", "did_cohorts", "synthetic_control", "sector_contrast")
COMPARISONS = ("none", "not_yet_treated", "never_treated", "donors", "other_sector")
MEASURES = ("placement", "time_to_employment", "earnings", "relative_earnings", "return_to_jobseeking", "cost")
GROUP_BY = ("service_type", "subtype", "provider_id", "course_id", "employment_area", "municipality", "segment",
            "sex", "language", "education", "age_band", "employer_sector")
COVARIATES = ("age", "sex", "education", "language", "segment", "employment_area", "elapsed_months",
              "prior_employment", "prior_earnings", "status_at_start", "calendar_quarter")
#: Keys of [outcomes.employment], passed through to the outcome stage's OutcomeConfig.
EMPLOYMENT_KEYS = ("allocation", "income_types", "holiday_compensation", "employment_floor_eur", "employment_rule",
                   "segment_by", "age_bands", "k_of_h", "earnings_windows", "return_windows")
LANGS = ("en", "fi")
FORMATS = ("html", "pdf")
ESTIMATOR_NAMES = ("followup", "matching", "did", "synth", "peer_groups")
#: [estimators.did] design: "risk_set" (default; stacked 'join now vs not now' around service entry,
#: impact.designs.did_panels.risk_set_panel) or "spell_time" (cohorts by the month of the job-seeking
#: spell in which the service starts, not-yet-treated spells as the comparison).
DID_DESIGNS = ("risk_set", "spell_time")


# ---------------------------------------------------------------------------------------
# Small validation helpers
# ---------------------------------------------------------------------------------------


def _fail(path: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{path} = {value!r} is not allowed: expected {allowed}")


def _backend(d: dict) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """``data.backend`` and its settings table ``[data.<backend>]`` (checked, never connected here)."""
    from impact.backends import _check_settings, check_backend
    from impact.errors import BackendError

    raw = _str(d, "data", "backend", "duckdb")
    try:
        backend = check_backend(raw)
    except BackendError as e:
        raise ConfigError(f"data.backend: {e}") from None
    for name in ("duckdb", "pyspark", "snowflake"):
        if name in d:
            try:
                _check_settings(name, d[name])
            except ConfigError as e:
                raise ConfigError(f"[data.{name}]: {e}") from None
    other = [n for n in ("duckdb", "pyspark", "snowflake") if n in d and n != backend]
    if other:
        raise ConfigError(f"[data.{other[0]}] given but data.backend is {backend!r}; settings are read only for the "
                          "chosen backend")
    return backend, tuple(sorted(dict(d.get(backend, {})).items()))


def _check_keys(raw: dict, path: str, allowed: tuple[str, ...] | list[str], source: str = "") -> None:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path or 'config'} must be a table (section), got {type(raw).__name__} {raw!r}")
    for key in raw:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"unknown key '{where}'{hint} (allowed in [{path or 'top level'}]: {', '.join(allowed)})"
            )


def _str(raw: dict, path: str, key: str, default: Any = None, choices: tuple | None = None,
         required: bool = False) -> Any:
    full = f"{path}.{key}"
    if key not in raw:
        if required:
            raise ConfigError(f"missing required key '{full}'" + (f" (one of {', '.join(choices)})" if choices else ""))
        return default
    v = raw[key]
    if not isinstance(v, str):
        raise _fail(full, v, "a string" + (f" (one of {', '.join(choices)})" if choices else ""))
    if choices is not None and v not in choices:
        close = difflib.get_close_matches(v, choices, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"{full} = {v!r} is not allowed: expected one of {', '.join(choices)}{hint}")
    return v


def _int(raw: dict, path: str, key: str, default: Any = None, lo: int | None = None, hi: int | None = None,
         required: bool = False) -> Any:
    full = f"{path}.{key}"
    if key not in raw:
        if required:
            raise ConfigError(f"missing required key '{full}' (an integer)")
        return default
    v = raw[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise _fail(full, v, "an integer")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f"between {lo} and {hi}" if lo is not None and hi is not None else (f">= {lo}" if lo is not None else f"<= {hi}")
        raise _fail(full, v, f"an integer {rng}")
    return v


def _float(raw: dict, path: str, key: str, default: Any = None, lo: float | None = None, hi: float | None = None) -> Any:
    full = f"{path}.{key}"
    if key not in raw:
        return default
    v = raw[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _fail(full, v, "a number")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise _fail(full, v, f"a number between {lo} and {hi}")
    return float(v)


def _bool(raw: dict, path: str, key: str, default: bool) -> bool:
    if key not in raw:
        return default
    v = raw[key]
    if not isinstance(v, bool):
        raise _fail(f"{path}.{key}", v, "true or false")
    return v


def _list(raw: dict, path: str, key: str, default: Any = None, item: type | tuple = str,
          choices: tuple | None = None, nonempty: bool = True) -> Any:
    full = f"{path}.{key}"
    if key not in raw:
        return default
    v = raw[key]
    if not isinstance(v, list):
        raise _fail(full, v, f"a list" + (f" of values from {', '.join(map(str, choices))}" if choices else ""))
    if nonempty and not v:
        raise _fail(full, v, "a non-empty list")
    for i, x in enumerate(v):
        if isinstance(x, bool) or not isinstance(x, item):
            names = item.__name__ if isinstance(item, type) else " or ".join(t.__name__ for t in item)
            raise _fail(f"{full}[{i}]", x, f"a {names}")
        if choices is not None and x not in choices:
            close = difflib.get_close_matches(str(x), [str(c) for c in choices], n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{full}[{i}] = {x!r} is not allowed: expected one of "
                              f"{', '.join(map(str, choices))}{hint}")
    if len(set(map(str, v))) != len(v):
        raise _fail(full, v, "a list without duplicates")
    return tuple(v)


def _date(raw: dict, path: str, key: str, default: Any = None) -> dt.date | None:
    full = f"{path}.{key}"
    if key not in raw:
        return default
    v = raw[key]
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            pass
    raise _fail(full, v, "a date YYYY-MM-DD (TOML date or string)")


def _month(raw: dict, path: str, key: str, default: Any = None, required: bool = False) -> str | None:
    """A calendar month 'YYYY-MM' (kept as text; converted with impact.months)."""
    full = f"{path}.{key}"
    if key not in raw:
        if required:
            raise ConfigError(f"missing required key '{full}' (a month 'YYYY-MM')")
        return default
    v = raw[key]
    if isinstance(v, dt.date):
        return f"{v.year:04d}-{v.month:02d}"
    if isinstance(v, str):
        try:
            d = dt.date.fromisoformat(v + "-01" if len(v) == 7 else v)
            return f"{d.year:04d}-{d.month:02d}"
        except ValueError:
            pass
    raise _fail(full, v, "a month 'YYYY-MM'")


def _check_employment(employment: dict) -> None:
    """Validate the employment definition with the outcome stage's own rules (dotted key in the message)."""
    if not employment:
        return
    from impact.outcomes.config import config_from_dict

    try:
        config_from_dict(dict(employment), source="outcomes.employment")
    except ConfigError as e:
        msg = str(e).replace("outcome config:", "outcomes.employment:")
        raise ConfigError(msg) from None


def month_to_index(label: str) -> int:
    """Integer month index (``impact.months``) of a 'YYYY-MM' label."""
    y, m = label.split("-")[:2]
    return int(y) * 12 + int(m) - 1


# ---------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudySection:
    """[study]: what the study is called and which question it answers."""

    name: str
    title: str
    question: str
    description: str = ""
    phase: int = 1


@dataclass(frozen=True)
class SyntheticSource:
    """Synthetic registers generated by ``impact.simulate`` (cached by scenario, size, seed)."""

    scenario: str = "default"
    persons: int = 200_000
    seed: int = 1


@dataclass(frozen=True)
class DataSection:
    """[data]: a register folder, or a synthetic scenario with size and seed."""

    registers: str | None = None
    synthetic: SyntheticSource | None = None
    extraction_date: dt.date | None = None  # default: delivery.toml of the register folder
    after_extraction: str = "error"  # rows dated after the extraction date: "error" or "drop" (and count)
    outcomes_dir: str | None = None  # precomputed outcome tables (optional)
    backend: str = "duckdb"  # where the register stages run: duckdb | pyspark | snowflake
    backend_settings: tuple[tuple[str, Any], ...] = ()  # [data.<backend>] table (connection settings)

    def settings(self) -> dict[str, Any]:
        """The chosen backend's settings as a dict (``[data.duckdb]``, ``[data.pyspark]`` or ``[data.snowflake]``)."""
        return dict(self.backend_settings)


@dataclass(frozen=True)
class PopulationSection:
    """[population]: which units enter the study (each rule is counted in the exclusions flow)."""

    start_from: dt.date | None = None  # unit reference date (service end / spell start) on or after
    start_to: dt.date | None = None  # ... and on or before
    age_min: int | None = None
    age_max: int | None = None
    areas: tuple[str, ...] | None = None
    segments: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None
    sexes: tuple[str, ...] | None = None
    completed_only: bool = True  # service spells: drop those still ongoing at extraction


@dataclass(frozen=True)
class UnitSection:
    """[unit]: the evaluation unit."""

    kind: str = "service_spell"
    service_types: tuple[str, ...] | None = None  # None: every type


@dataclass(frozen=True)
class TreatmentSection:
    """[treatment]: who is treated and when (design = none for a descriptive follow-up)."""

    design: str = "none"
    service_type: str | None = None
    subtype: str | None = None
    employer_sectors: tuple[int, ...] | None = None
    area: str | None = None  # synthetic control: the reformed employment area
    policy_month: str | None = None  # synthetic control: first month of the reform 'YYYY-MM'
    cohorts_from: str | None = None  # DiD: first entry cohort 'YYYY-MM'
    cohorts_to: str | None = None
    max_elapsed_months: int = 24  # dynamic design: elapsed unemployment months considered


@dataclass(frozen=True)
class ComparisonSection:
    """[comparison]: who the treated are compared with."""

    kind: str = "none"
    grace_months: int = 0  # dynamic design: controls treated within this window are dropped
    employer_sectors: tuple[int, ...] | None = None  # sector contrast: the comparison sectors
    donors: tuple[str, ...] | None = None  # synthetic control: donor areas (None: all others / peers)
    exclude_areas: tuple[str, ...] | None = None
    donors_from_peers: bool = False


@dataclass(frozen=True)
class OutcomesSection:
    """[outcomes]: what is measured, at which horizons, by which groups."""

    horizons: tuple[int, ...] = (3, 6, 12)
    measures: tuple[str, ...] = ("placement", "time_to_employment", "relative_earnings", "cost")
    by: tuple[str, ...] = ("service_type",)
    employment: dict[str, Any] = field(default_factory=dict)  # passed to the outcomes config
    window_months: tuple[int, int] = (-12, 24)  # event window for panels (DiD, synthetic control)
    panel_outcome: str = "employed"


@dataclass(frozen=True)
class DesignSection:
    """[design]: covariates and segments for heterogeneity."""

    covariates: tuple[str, ...] = ("age", "sex", "education", "language", "segment", "prior_employment",
                                   "prior_earnings")
    history_months: int = 12
    segments: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()


@dataclass(frozen=True)
class EstimatorSpec:
    """[estimators.NAME]: one estimator and its options (passed through to its function)."""

    name: str
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportSection:
    """[report]: title, language, formats and disclosure control."""

    title: str | None = None
    language: str = "en"
    formats: tuple[str, ...] = ("html", "pdf")
    min_cell: int = 10
    min_payers: int = 5
    dominance: float = 0.75
    rounding: int = 0  # round published counts to this base (0: no rounding)
    author: str = ""


METRIC_NAMES = ("job_offers", "candidate_searches", "vacancies", "integration", "koto", "benefit_transitions",
                "industry", "tax")
TAX_EFFECT_SOURCES = ("design", "truth")


@dataclass(frozen=True)
class MetricsSection:
    """[metrics]: the evaluation centre's further metrics (issue #10), each with a report section.

    ``tax_effects`` is where the earnings effects behind the municipal tax estimate come from:
    ``"design"`` (this study's effect estimates on monthly earnings), ``"truth"`` (the true
    effects of synthetic registers) or a CSV file (service_type, horizon, estimate, std_error).
    """

    include: tuple[str, ...] = METRIC_NAMES
    offer_horizons: tuple[int, ...] = (1, 3, 6)
    benefit_horizons: tuple[int, ...] = (6, 12)
    tax_rates: str | None = None
    tax_effects: tuple[str, ...] = ("design",)  # sources in order of preference per service type
    tax_years: int = 3
    taxable_share: float = 1.0


def _metrics(raw: dict) -> MetricsSection | None:
    """Parse [metrics] (None when the section is absent)."""
    if "metrics" not in raw:
        return None
    m = raw["metrics"]
    _check_keys(m, "metrics", [f.name for f in fields(MetricsSection)])
    hs = {}
    for key, default in (("offer_horizons", (1, 3, 6)), ("benefit_horizons", (6, 12))):
        v = _list(m, "metrics", key, default, item=int)
        for i, h in enumerate(v):
            if not 1 <= h <= 24:
                raise _fail(f"metrics.{key}[{i}]", h, "a month between 1 and 24")
        hs[key] = tuple(sorted(v))
    raw_eff = m.get("tax_effects", "design")
    effects = (raw_eff,) if isinstance(raw_eff, str) else _list(m, "metrics", "tax_effects")
    for i, e in enumerate(effects):
        if not isinstance(e, str) or (e not in TAX_EFFECT_SOURCES and not e.endswith(".csv")):
            raise _fail(f"metrics.tax_effects[{i}]", e, "'design', 'truth' or a CSV file (service_type, horizon, "
                        "estimate, std_error); a list gives sources in order of preference per service type")
    return MetricsSection(include=_list(m, "metrics", "include", METRIC_NAMES, choices=METRIC_NAMES),
                          tax_rates=_str(m, "metrics", "tax_rates"), tax_effects=effects,
                          tax_years=_int(m, "metrics", "tax_years", 3, lo=1, hi=3),
                          taxable_share=_float(m, "metrics", "taxable_share", 1.0, lo=0.0, hi=1.0), **hs)


@dataclass(frozen=True)
class StudyConfig:
    """A validated study config."""

    study: StudySection
    data: DataSection
    population: PopulationSection
    unit: UnitSection
    treatment: TreatmentSection
    comparison: ComparisonSection
    outcomes: OutcomesSection
    design: DesignSection
    estimators: dict[str, EstimatorSpec]
    report: ReportSection
    path: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    metrics: MetricsSection | None = None  # [metrics] (issue #10); None: section absent

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the validated config (dates as ISO strings)."""
        d = asdict(self)
        d.pop("raw", None)
        if d.get("metrics") is None:  # configs without [metrics] keep their hash
            d.pop("metrics", None)
        return json.loads(json.dumps(d, default=str))

    @property
    def hash(self) -> str:
        """SHA-256 of the validated config (stable across key order and formatting)."""
        d = self.to_dict()
        d.pop("path", None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()

    def estimator(self, name: str) -> EstimatorSpec | None:
        """The spec of an enabled estimator, or None."""
        e = self.estimators.get(name)
        return e if e is not None and e.enabled else None


# ---------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------

# Options each estimator accepts (name -> (kind, choices or bounds)); anything else is an error.
_ESTIMATOR_OPTIONS: dict[str, dict[str, tuple]] = {
    "followup": {"km": ("bool",), "by_horizon": ("bool",)},
    "matching": {
        "method": ("str", ("propensity", "mahalanobis")),
        "k": ("int", 1, 50),
        "replace": ("bool",),
        "caliper": ("float", 0.0, 10.0),
        "estimand": ("str", ("ATT", "ATC", "ATE")),
        "ties": ("str", ("all", "first")),
        "se": ("str", ("abadie_imbens", "bootstrap")),
        "trim": ("list_float",),
        "crosscheck": ("bool",),
        "max_controls_per_treated": ("int", 1, 1000),
    },
    "did": {
        "design": ("str", DID_DESIGNS),
        "pre_months": ("int", 1, 24),
        "cohorts": ("int", 1, 120),
        "controls_per_treated": ("int", 1, 100),
        "control_group": ("str", ("never_treated", "not_yet_treated")),
        "method": ("str", ("dr", "ipw", "reg")),
        "anticipation": ("int", 0, 12),
        "base_period": ("str", ("varying", "universal")),
        "bootstrap": ("bool",),
        "cluster": ("str", ("none", "person_id", "employment_area")),
        "twfe": ("bool",),
        "max_event_time": ("int", 1, 60),
        "sample_units": ("int", 100, 10_000_000),
    },
    "synth": {
        "predictors": ("str", ("outcome_only", "structural")),
        "placebo": ("bool",),
        "in_time_placebo": ("bool",),
        "leave_one_out": ("bool",),
        "pre_months": ("int", 3, 120),
        "post_months": ("int", 1, 120),
    },
    "peer_groups": {
        "k": ("int", 1, 44),
        "metric": ("str", ("mahalanobis", "propensity")),
    },
}


def _estimator(raw: Any, name: str) -> EstimatorSpec:
    path = f"estimators.{name}"
    allowed = _ESTIMATOR_OPTIONS[name]
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must be a table of options, got {raw!r}")
    _check_keys(raw, path, ("enabled", *allowed))
    enabled = _bool(raw, path, "enabled", True)
    opts: dict[str, Any] = {}
    for key, spec in allowed.items():
        if key not in raw:
            continue
        kind = spec[0]
        if kind == "str":
            opts[key] = _str(raw, path, key, choices=spec[1])
        elif kind == "int":
            opts[key] = _int(raw, path, key, lo=spec[1], hi=spec[2])
        elif kind == "float":
            opts[key] = _float(raw, path, key, lo=spec[1], hi=spec[2])
        elif kind == "bool":
            opts[key] = _bool(raw, path, key, False)
        elif kind == "list_float":
            v = _list(raw, path, key, item=(int, float))
            if len(v) != 2 or not (0 <= v[0] < v[1] <= 1):
                raise _fail(f"{path}.{key}", list(v), "two numbers 0 <= low < high <= 1")
            opts[key] = tuple(float(x) for x in v)
    return EstimatorSpec(name=name, enabled=enabled, options=opts)


def parse_config(raw: dict[str, Any], path: str | None = None) -> StudyConfig:
    """Validate a parsed TOML document and build a :class:`StudyConfig`.

    Raises
    ------
    ConfigError
        Naming the key (dotted path), the bad value and what is allowed.
    """
    _check_keys(raw, "", ("study", "data", "population", "unit", "treatment", "comparison", "outcomes",
                          "design", "estimators", "report", "metrics"))

    # [study]
    s = raw.get("study")
    if s is None:
        raise ConfigError("missing required section [study] (with name, title, question)")
    _check_keys(s, "study", ("name", "title", "question", "description", "phase"))
    name = _str(s, "study", "name", required=True)
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise _fail("study.name", name, "a non-empty name of letters, digits, '_' or '-' (it names reports/NAME/)")
    study = StudySection(
        name=name,
        title=_str(s, "study", "title", required=True),
        question=_str(s, "study", "question", required=True),
        description=_str(s, "study", "description", ""),
        phase=_int(s, "study", "phase", 1, lo=1, hi=3),
    )

    # [data]
    d = raw.get("data")
    if d is None:
        raise ConfigError("missing required section [data] (registers = FOLDER, or synthetic = {...})")
    _check_keys(d, "data", ("registers", "synthetic", "extraction_date", "after_extraction", "outcomes_dir",
                            "backend", "duckdb", "pyspark", "snowflake"))
    registers = _str(d, "data", "registers")
    backend, backend_settings = _backend(d)
    synthetic = None
    if "synthetic" in d:
        sy = d["synthetic"]
        _check_keys(sy, "data.synthetic", ("scenario", "persons", "seed"))
        synthetic = SyntheticSource(
            scenario=_str(sy, "data.synthetic", "scenario", "default"),
            persons=_int(sy, "data.synthetic", "persons", 200_000, lo=500, hi=5_000_000),
            seed=_int(sy, "data.synthetic", "seed", 1, lo=0),
        )
    if (registers is None) == (synthetic is None):
        raise ConfigError("[data] needs exactly one of 'data.registers' (a register folder) or 'data.synthetic' "
                          f"(scenario, persons, seed); got {'both' if registers else 'neither'}")
    data = DataSection(registers=registers, synthetic=synthetic,
                       extraction_date=_date(d, "data", "extraction_date"),
                       after_extraction=_str(d, "data", "after_extraction", "error", choices=("error", "drop")),
                       outcomes_dir=_str(d, "data", "outcomes_dir"), backend=backend,
                       backend_settings=backend_settings)

    # [population]
    p = raw.get("population", {})
    _check_keys(p, "population", [f.name for f in fields(PopulationSection)])
    pop = PopulationSection(
        start_from=_date(p, "population", "start_from"),
        start_to=_date(p, "population", "start_to"),
        age_min=_int(p, "population", "age_min", lo=15, hi=100),
        age_max=_int(p, "population", "age_max", lo=15, hi=100),
        areas=_list(p, "population", "areas"),
        segments=_list(p, "population", "segments", choices=tuple(SEGMENTS)),
        languages=_list(p, "population", "languages", choices=LANGUAGES),
        sexes=_list(p, "population", "sexes", choices=SEXES),
        completed_only=_bool(p, "population", "completed_only", True),
    )
    if pop.start_from and pop.start_to and pop.start_to < pop.start_from:
        raise ConfigError(f"population.start_to = {pop.start_to} is before population.start_from = "
                          f"{pop.start_from}: expected start_from <= start_to")
    if pop.age_min is not None and pop.age_max is not None and pop.age_max < pop.age_min:
        raise ConfigError(f"population.age_max = {pop.age_max} is below population.age_min = {pop.age_min}")

    # [unit]
    u = raw.get("unit", {})
    _check_keys(u, "unit", ("kind", "service_types"))
    unit = UnitSection(kind=_str(u, "unit", "kind", "service_spell", choices=UNIT_KINDS),
                       service_types=_list(u, "unit", "service_types", choices=tuple(SERVICE_TYPES)))
    if unit.kind == "jobseeking_spell" and unit.service_types:
        raise ConfigError("unit.service_types is only allowed with unit.kind = 'service_spell'")

    # [treatment]
    t = raw.get("treatment", {})
    _check_keys(t, "treatment", [f.name for f in fields(TreatmentSection)])
    treat = TreatmentSection(
        design=_str(t, "treatment", "design", "none", choices=DESIGNS),
        service_type=_str(t, "treatment", "service_type", choices=tuple(SERVICE_TYPES)),
        subtype=_str(t, "treatment", "subtype"),
        employer_sectors=_list(t, "treatment", "employer_sectors", item=int, choices=tuple(EMPLOYER_SECTORS)),
        area=_str(t, "treatment", "area"),
        policy_month=_month(t, "treatment", "policy_month"),
        cohorts_from=_month(t, "treatment", "cohorts_from"),
        cohorts_to=_month(t, "treatment", "cohorts_to"),
        max_elapsed_months=_int(t, "treatment", "max_elapsed_months", 24, lo=1, hi=120),
    )
    if treat.design in ("dynamic", "did_cohorts", "sector_contrast") and treat.service_type is None:
        raise ConfigError(f"treatment.service_type is required when treatment.design = '{treat.design}' "
                          f"(one of {', '.join(SERVICE_TYPES)})")
    if treat.design == "synthetic_control" and (treat.area is None or treat.policy_month is None):
        raise ConfigError("treatment.area and treatment.policy_month ('YYYY-MM') are required when "
                          "treatment.design = 'synthetic_control'")
    if treat.design == "sector_contrast" and not treat.employer_sectors:
        raise ConfigError("treatment.employer_sectors is required when treatment.design = 'sector_contrast' "
                          f"(codes {', '.join(f'{k} {v}' for k, v in EMPLOYER_SECTORS.items())})")
    if treat.cohorts_from and treat.cohorts_to and month_to_index(treat.cohorts_to) < month_to_index(treat.cohorts_from):
        raise ConfigError(f"treatment.cohorts_to = {treat.cohorts_to!r} is before treatment.cohorts_from = "
                          f"{treat.cohorts_from!r}")

    # [comparison]
    c = raw.get("comparison", {})
    _check_keys(c, "comparison", [f.name for f in fields(ComparisonSection)])
    comp = ComparisonSection(
        kind=_str(c, "comparison", "kind", "none", choices=COMPARISONS),
        grace_months=_int(c, "comparison", "grace_months", 0, lo=0, hi=36),
        employer_sectors=_list(c, "comparison", "employer_sectors", item=int, choices=tuple(EMPLOYER_SECTORS)),
        donors=_list(c, "comparison", "donors"),
        exclude_areas=_list(c, "comparison", "exclude_areas"),
        donors_from_peers=_bool(c, "comparison", "donors_from_peers", False),
    )
    compatible = {"none": ("none",), "dynamic": ("not_yet_treated", "never_treated"),
                  "did_cohorts": ("not_yet_treated", "never_treated"), "synthetic_control": ("donors",),
                  "sector_contrast": ("other_sector",)}[treat.design]
    if comp.kind not in compatible:
        raise ConfigError(f"comparison.kind = {comp.kind!r} does not fit treatment.design = {treat.design!r}: "
                          f"expected one of {', '.join(compatible)}")
    if treat.design == "sector_contrast":
        if not comp.employer_sectors:
            raise ConfigError("comparison.employer_sectors is required when treatment.design = 'sector_contrast'")
        both = set(comp.employer_sectors) & set(treat.employer_sectors or ())
        if both:
            raise ConfigError(f"comparison.employer_sectors = {list(comp.employer_sectors)} overlaps "
                              f"treatment.employer_sectors = {list(treat.employer_sectors or ())}: sectors {sorted(both)} "
                              "cannot be in both groups")
    if comp.donors and treat.area and treat.area in comp.donors:
        raise ConfigError(f"comparison.donors contains the treated area {treat.area!r}")

    # [outcomes]
    o = raw.get("outcomes", {})
    _check_keys(o, "outcomes", ("horizons", "measures", "by", "employment", "window_months", "panel_outcome"))
    horizons = _list(o, "outcomes", "horizons", (3, 6, 12), item=int)
    for i, h in enumerate(horizons):
        if not 1 <= h <= 24:
            raise _fail(f"outcomes.horizons[{i}]", h, "a month between 1 and 24 after the end")
    employment = o.get("employment", {})
    if not isinstance(employment, dict):
        raise _fail("outcomes.employment", employment, "a table (e.g. { floor_eur = 500, allocation = 'pay_period' })")
    _check_keys(employment, "outcomes.employment", EMPLOYMENT_KEYS)
    _check_employment(employment)
    win = _list(o, "outcomes", "window_months", (-12, 24), item=int)
    if len(win) != 2 or win[0] >= 0 or win[1] <= 0:
        raise _fail("outcomes.window_months", list(win), "[before, after] with before < 0 < after, e.g. [-12, 24]")
    outcomes = OutcomesSection(
        horizons=tuple(sorted(horizons)),
        measures=_list(o, "outcomes", "measures", OutcomesSection.measures, choices=MEASURES),
        by=_list(o, "outcomes", "by", ("service_type",), choices=GROUP_BY),
        employment=dict(employment),
        window_months=(int(win[0]), int(win[1])),
        panel_outcome=_str(o, "outcomes", "panel_outcome", "employed", choices=("employed", "earnings_eur")),
    )

    # [design]
    g = raw.get("design", {})
    _check_keys(g, "design", ("covariates", "history_months", "segments", "exact"))
    design = DesignSection(
        covariates=_list(g, "design", "covariates", DesignSection.covariates, choices=COVARIATES),
        history_months=_int(g, "design", "history_months", 12, lo=0, hi=36),
        segments=_list(g, "design", "segments", (), choices=GROUP_BY, nonempty=False),
        exact=_list(g, "design", "exact", (), choices=COVARIATES, nonempty=False),
    )

    # [estimators.*]
    e = raw.get("estimators", {})
    _check_keys(e, "estimators", ESTIMATOR_NAMES)
    estimators = {k: _estimator(v, k) for k, v in e.items()}
    needs = {"dynamic": "matching", "did_cohorts": "did", "synthetic_control": "synth", "sector_contrast": "matching"}
    if treat.design in needs and needs[treat.design] not in estimators and not (
            treat.design == "dynamic" and "did" in estimators):
        raise ConfigError(f"treatment.design = {treat.design!r} needs an estimator: add "
                          f"[estimators.{needs[treat.design]}]")
    did = estimators.get("did")
    if did is not None and did.options.get("design", "risk_set") == "risk_set":
        if did.options.get("control_group") == "never_treated":
            raise ConfigError("estimators.did.control_group = 'never_treated' does not fit estimators.did.design = "
                              "'risk_set': its comparison persons did not start the service in the entry month but "
                              "may start it later ('not now'); use control_group = 'not_yet_treated' or leave it out")
        if did.options.get("sample_units") is not None:
            raise ConfigError("estimators.did.sample_units applies to design = 'spell_time' only; the 'risk_set' "
                              "design is sized by estimators.did.cohorts and controls_per_treated")
    elif did is not None:
        for k in ("pre_months", "cohorts", "controls_per_treated"):
            if k in did.options:
                raise ConfigError(f"estimators.did.{k} applies to design = 'risk_set' only (got design = "
                                  f"{did.options['design']!r})")
    if "synth" in estimators and treat.design != "synthetic_control":
        raise ConfigError("[estimators.synth] needs treatment.design = 'synthetic_control' "
                          f"(got {treat.design!r})")

    # [report]
    r = raw.get("report", {})
    _check_keys(r, "report", [f.name for f in fields(ReportSection)])
    report = ReportSection(
        title=_str(r, "report", "title"),
        language=_str(r, "report", "language", "en", choices=LANGS),
        formats=_list(r, "report", "formats", ("html", "pdf"), choices=FORMATS),
        min_cell=_int(r, "report", "min_cell", 10, lo=3, hi=1000),
        min_payers=_int(r, "report", "min_payers", 5, lo=1, hi=100),
        dominance=_float(r, "report", "dominance", 0.75, lo=0.5, hi=1.0),
        rounding=_int(r, "report", "rounding", 0, lo=0, hi=100),
        author=_str(r, "report", "author", ""),
    )
    if "html" not in report.formats:
        raise _fail("report.formats", list(report.formats), "a list containing 'html' (the PDF is rendered from it)")

    return StudyConfig(study=study, data=data, population=pop, unit=unit, treatment=treat, comparison=comp,
                       outcomes=outcomes, design=design, estimators=estimators, report=report,
                       path=str(path) if path else None, raw=raw, metrics=_metrics(raw))


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
        raise ConfigError(f"study config {path} does not exist (expected a TOML file, e.g. studies/placement_followup.toml)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}); save the config as UTF-8") from None
    try:
        return parse_config(raw, path)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
