"""Scenario files of the synthetic-register generator.

A scenario is a TOML file in ``synthetic_data/scenarios/`` (or any path). Every key has a
built-in default (:data:`DEFAULTS`); a scenario file overrides some of them and may
``extends = "other_scenario"`` to start from another committed scenario. Unknown keys and
values of the wrong type are rejected with a :class:`~impact.errors.ConfigError` naming the
key.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from impact.errors import ConfigError

#: Service variants: the unit at which effects, durations and costs are configured.
#: (service_type, subtype, employer sectors).
VARIANTS: dict[str, tuple[str, str | None]] = {
    "training_vocational": ("training", "vocational"),
    "training_preparatory": ("training", "preparatory"),
    "pay_subsidy_firm": ("pay_subsidy", "firm"),
    "pay_subsidy_public": ("pay_subsidy", "public"),
    "startup_grant": ("startup_grant", None),
    "coaching": ("coaching", None),
    "work_trial": ("work_trial", None),
    "self_motivated_study": ("self_motivated_study", None),
    "rehabilitative_work": ("rehabilitative_work", None),
    "integration_training": ("integration_training", None),
}


def _variant(share, dur_mean, dur_min, dur_max, cost, lockin, effects, premium, sel):
    return {
        "share": share,
        "duration_mean_months": dur_mean,
        "duration_min_months": dur_min,
        "duration_max_months": dur_max,
        "cost_per_month_eur": cost,
        "lockin_pp": lockin,
        "effect_pp": effects,
        "earnings_premium": premium,
        "selection": sel,
    }


# Selection coefficients (log-hazard shifts) of a variant: on observed traits.
def _sel(female=0.0, age_under_25=0.0, age_over_50=0.0, basic=0.0, tertiary=0.0, foreign=0.0,
         ltu=0.0, duration_slope=0.0):
    return {"female": female, "age_under_25": age_under_25, "age_over_50": age_over_50,
            "basic_education": basic, "tertiary_education": tertiary, "foreign_language": foreign,
            "long_term_unemployed": ltu, "log_duration": duration_slope}


#: Built-in defaults. Effects are percentage points at 3, 6, 12 and 24 months after the
#: service ends (linear in between, constant before 3) for the reference group (men,
#: unemployed < 12 months at the start); see ``[heterogeneity]``.
DEFAULTS: dict[str, Any] = {
    "name": "default",
    "description": "",
    "extends": "",
    "simulation": {
        "persons": 50_000,
        "seed": 20250101,
        "start_month": "2016-01",
        "end_month": "2025-12",
        "extraction_date": "2025-12-31",
        "block_size": 20_000,
        "row_group_rows": 1_000_000,
    },
    "population": {
        "female_share": 0.46,
        "age_min": 18,
        "age_max": 62,
        "education_shares": [0.27, 0.48, 0.25],  # basic, upper_secondary, tertiary
        "language_shares": [0.83, 0.05, 0.12],  # fi, sv, other
        "n_areas": 45,
        "n_municipalities": 293,
        "area_size_exponent": 1.15,
        "area_effect_sd": 0.20,
        "initially_unemployed_share": 0.25,
        "initially_employed_share": 0.55,
    },
    "labour_market": {
        "job_finding_intercept": -2.0,  # logit, monthly
        "duration_dependence": -0.45,  # per log(1 + elapsed months)
        "latent_effect": 0.45,  # ability (unobserved) on the job-finding logit
        "exit_out_rate": 0.012,  # monthly exit from job seeking out of the labour force
        "reentry_rate": 0.05,  # monthly return to job seeking from outside
        "separation_intercept": -4.1,  # logit, monthly job loss
        "job_to_job_share": 0.2,
        "cycle_amplitude": 0.25,
        "cycle_period_months": 84,
        "covid_shock": -0.6,  # logit shift of job finding 2020-04..2020-12
        "wage_log_mean": 7.65,
        "wage_latent_effect": 0.12,
        "job_match_sd": 0.15,
    },
    "selection": {
        "base_rate": 0.035,  # monthly service-start hazard at 3 months' elapsed duration
        "unobserved": 0.0,  # log-hazard shift per sd of (minus) the latent ability
        "area_sd": 0.25,  # area differences in service intensity (observed: the area)
    },
    "heterogeneity": {
        "female_multiplier": 1.3,
        "long_term_multiplier": 1.5,
        "long_term_months": 12,
        "segment_multipliers": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    },
    "services": {
        "training_vocational": _variant(0.16, 6, 3, 10, 1400.0, -15.0, [2.0, 4.0, 6.0, 8.0], 0.06,
                                         _sel(basic=-0.3, tertiary=0.1, age_over_50=-0.5, duration_slope=0.1)),
        "training_preparatory": _variant(0.07, 3, 1, 6, 1100.0, -8.0, [0.0, 1.0, 2.0, 3.0], 0.0,
                                          _sel(basic=0.4, foreign=0.4, age_under_25=0.4)),
        "pay_subsidy_firm": _variant(0.08, 8, 5, 10, 1300.0, None, [8.0, 7.0, 6.0, 5.0], 0.03,
                                      _sel(ltu=0.5, age_over_50=0.2, duration_slope=0.2)),
        "pay_subsidy_public": _variant(0.05, 8, 5, 10, 1500.0, None, [1.0, 1.0, 0.0, 0.0], 0.0,
                                        _sel(ltu=0.8, age_over_50=0.4, basic=0.3, duration_slope=0.3)),
        "startup_grant": _variant(0.03, 9, 6, 12, 700.0, None, [10.0, 8.0, 6.0, 5.0], -0.4,
                                   _sel(tertiary=0.5, age_under_25=-0.5, female=-0.2)),
        "coaching": _variant(0.30, 2, 1, 3, 500.0, -2.0, [3.0, 2.0, 1.0, 0.0], 0.0,
                              _sel(duration_slope=-0.1)),
        "work_trial": _variant(0.12, 3, 1, 6, 150.0, -3.0, [2.0, 2.0, 1.0, 1.0], 0.0,
                                _sel(age_under_25=0.5, basic=0.3, foreign=0.3)),
        "self_motivated_study": _variant(0.07, 10, 5, 24, 0.0, -10.0, [1.0, 3.0, 5.0, 7.0], 0.05,
                                          _sel(age_under_25=0.3, tertiary=0.2, age_over_50=-0.6)),
        "rehabilitative_work": _variant(0.06, 6, 3, 12, 300.0, -2.0, [0.0, 0.0, 1.0, 1.0], 0.0,
                                         _sel(ltu=1.0, basic=0.4, duration_slope=0.4)),
        "integration_training": _variant(0.035, 10, 6, 14, 1200.0, -20.0, [0.0, 2.0, 5.0, 8.0], 0.04,
                                          _sel(foreign=2.5)),
    },
    "policy": {
        "enabled": False,
        "reforms": [],  # list of {areas = [..], start_month = "YYYY-MM", effect_pp = [..by months since start..]}
    },
    "brokerage": {  # job offers, candidate searches, integration plans (impact/simulate/brokerage.py)
        "enabled": True,
        "offer_rate": 0.03,  # monthly job-offer rate in job-seeking months
        "placed_near_share": 0.45,  # offer within 3 months of a job the run ends in: it is that job
        "placed_far_rate": 0.05,  # any other offer: places into a new job
        "far_job_months": 6,  # mean length of such a job (months)
        "search_share": 0.3,  # vacancies with a candidate search
        "integration_plan_share": 0.85,  # foreign-language job seekers with an integration plan
    },
    "reports": {
        "semi_monthly_payer_share": 0.15,
        "arrears_payer_share": 0.3,
        "itemised_payer_share": 0.9,
        "earning_period_share": 0.55,
        "replacement_rate": 0.035,
        "cancellation_rate": 0.03,
        "recovery_rate": 0.005,
        "reimbursement_only_rate": 0.02,
        "overtime_rate": 0.05,
        "payers_per_1000_persons": 150,
    },
}

_SCENARIO_DIR = Path(__file__).resolve().parents[2] / "synthetic_data" / "scenarios"


def scenario_dir() -> Path:
    """The folder of committed scenarios."""
    return _SCENARIO_DIR


def _merge(base: dict, override: dict, path: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        where = f"{path}.{key}" if path else key
        if key not in base:
            if path in ("services",):
                raise ConfigError(f"unknown service variant '{where}'; expected one of {sorted(base)}")
            allowed = sorted(base)
            raise ConfigError(f"unknown scenario key '{where}'; allowed keys here: {allowed}")
        default = base[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"scenario key '{where}' must be a table, got {type(value).__name__}")
            out[key] = _merge(default, value, where)
        else:
            out[key] = _check_type(default, value, where)
    return out


def _check_type(default: Any, value: Any, where: str) -> Any:
    if default is None:  # lockin_pp may be None (no lock-in: subsidised or self-employed)
        if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        raise ConfigError(f"scenario key '{where}' must be a number, got {value!r}")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"scenario key '{where}' must be true or false, got {value!r}")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"scenario key '{where}' must be a number, got {value!r}")
        return type(default)(value) if isinstance(default, float) else value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"scenario key '{where}' must be a string, got {value!r}")
        return value
    if isinstance(default, list):
        if not isinstance(value, list):
            raise ConfigError(f"scenario key '{where}' must be a list, got {value!r}")
        return value
    return value


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"scenario file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"scenario {path} is a folder; expected a TOML file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"scenario file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"scenario file {path} is not valid TOML: {exc}") from None


def check_name(name: str, what: str = "scenario name") -> str:
    """A name that becomes part of a path (scenario, folder): letters, digits, '_', '-', '.'; no '..'.

    Raises
    ------
    ConfigError
        The name could leave its folder (``../x``, ``a/b``, an absolute path) or is empty.
    """
    if not name or name in (".", "..") or ".." in name or not all(c.isalnum() or c in "_-." for c in name):
        raise ConfigError(f"{what} {name!r} is not allowed: expected letters, digits, '_', '-' or '.' (no '/', no "
                          "'..'), or a path to a .toml file")
    return name


def resolve_path(scenario: str | Path) -> Path:
    """Path of a scenario given by name (in ``synthetic_data/scenarios/``) or by a path ending in ``.toml``.

    A name must stay inside the scenario folder (:func:`check_name`).
    """
    p = Path(scenario)
    if p.suffix == ".toml":
        return p
    check_name(str(scenario))
    cand = _SCENARIO_DIR / f"{scenario}.toml"
    if not cand.exists():
        names = sorted(x.stem for x in _SCENARIO_DIR.glob("*.toml"))
        raise ConfigError(f"unknown scenario '{scenario}'; committed scenarios: {names}")
    return cand


def load_scenario(scenario: str | Path = "default", _seen: tuple = ()) -> dict:
    """Read and validate a scenario, returning the full configuration (defaults filled in).

    Parameters
    ----------
    scenario
        A committed scenario name (``default``, ``no_effect``...) or a path to a TOML file.
    """
    path = resolve_path(scenario)
    raw = _read_toml(path)
    parent = raw.get("extends", "")
    if parent:
        if parent in _seen:
            raise ConfigError(f"scenario {path}: 'extends' makes a cycle through '{parent}'")
        base = load_scenario(parent, _seen + (parent,))
    else:
        base = DEFAULTS
    cfg = _merge(base, raw, "")
    cfg["name"] = raw.get("name", path.stem)
    cfg["extends"] = ""
    _validate(cfg, path)
    cfg["_source_text"] = path.read_text(encoding="utf-8")
    return cfg


def _validate(cfg: dict, path: Path) -> None:
    def bad(key: str, msg: str) -> ConfigError:
        return ConfigError(f"scenario {path.name}: key '{key}' {msg}")

    sim = cfg["simulation"]
    for k in ("persons", "block_size", "row_group_rows"):
        if not isinstance(sim[k], int) or sim[k] < 1:
            raise bad(f"simulation.{k}", f"must be a positive integer, got {sim[k]!r}")
    pop = cfg["population"]
    for k, n in (("education_shares", 3), ("language_shares", 3)):
        v = pop[k]
        if len(v) != n or any((not isinstance(x, (int, float))) or x < 0 for x in v) or sum(v) <= 0:
            raise bad(f"population.{k}", f"must be {n} non-negative numbers, got {v!r}")
    if not 0 < pop["female_share"] < 1:
        raise bad("population.female_share", "must be in (0, 1)")
    if pop["n_areas"] < 2 or pop["n_municipalities"] < pop["n_areas"] or pop["n_municipalities"] > 900:
        raise bad("population.n_municipalities", "must be >= n_areas >= 2 and <= 900")
    het = cfg["heterogeneity"]
    if len(het["segment_multipliers"]) != 6:
        raise bad("heterogeneity.segment_multipliers", "must have 6 numbers (segments 00-05)")
    for name, v in cfg["services"].items():
        key = f"services.{name}"
        if len(v["effect_pp"]) != 4:
            raise bad(f"{key}.effect_pp", "must have 4 numbers (3, 6, 12, 24 months after the end)")
        if not 1 <= v["duration_min_months"] <= v["duration_mean_months"] <= v["duration_max_months"] <= 36:
            raise bad(f"{key}.duration_mean_months", "needs 1 <= min <= mean <= max <= 36 months")
        if v["share"] < 0:
            raise bad(f"{key}.share", "must be >= 0")
        for sk in v["selection"]:
            if sk not in DEFAULTS["services"]["coaching"]["selection"]:
                raise bad(f"{key}.selection.{sk}", "is unknown")
    if sum(v["share"] for v in cfg["services"].values()) <= 0:
        raise bad("services.*.share", "must not all be zero")
    rep = cfg["reports"]
    for k, v in rep.items():
        if k != "payers_per_1000_persons" and not 0 <= v <= 1:
            raise bad(f"reports.{k}", f"must be a share in [0, 1], got {v!r}")
    bro = cfg["brokerage"]
    for k, v in bro.items():
        if k in ("offer_rate", "placed_near_share", "placed_far_rate", "search_share", "integration_plan_share") \
                and not 0 <= v <= 1:
            raise bad(f"brokerage.{k}", f"must be a share in [0, 1], got {v!r}")
    if not 1 <= bro["far_job_months"] <= 36:
        raise bad("brokerage.far_job_months", f"must be between 1 and 36, got {bro['far_job_months']!r}")
    pol = cfg["policy"]
    if pol["enabled"]:
        if not pol["reforms"]:
            raise bad("policy.reforms", "must list at least one reform when policy.enabled = true")
        for i, r in enumerate(pol["reforms"]):
            if not isinstance(r, dict):
                raise bad(f"policy.reforms[{i}]", "must be a table")
            unknown = set(r) - {"areas", "start_month", "effect_pp"}
            if unknown:
                raise bad(f"policy.reforms[{i}].{sorted(unknown)[0]}", "is unknown; allowed: areas, start_month, effect_pp")
            for k in ("areas", "start_month", "effect_pp"):
                if k not in r:
                    raise bad(f"policy.reforms[{i}].{k}", "is missing")
            if not r["effect_pp"] or not all(isinstance(x, (int, float)) for x in r["effect_pp"]):
                raise bad(f"policy.reforms[{i}].effect_pp", "must be a non-empty list of numbers")
            if not all(isinstance(a, int) and 1 <= a <= pop["n_areas"] for a in r["areas"]):
                raise bad(f"policy.reforms[{i}].areas", f"must be area numbers 1..{pop['n_areas']}")
            parse_month(r["start_month"], f"policy.reforms[{i}].start_month")
    parse_month(sim["start_month"], "simulation.start_month")
    parse_month(sim["end_month"], "simulation.end_month")


def parse_month(text: str, key: str) -> int:
    """Month index of a ``YYYY-MM`` string."""
    try:
        y, m = text.split("-")
        y, m = int(y), int(m)
        if not 1 <= m <= 12:
            raise ValueError
    except (ValueError, AttributeError):
        raise ConfigError(f"scenario key '{key}' must be a month 'YYYY-MM', got {text!r}") from None
    return y * 12 + m - 1
