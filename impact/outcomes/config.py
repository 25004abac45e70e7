"""Outcome definitions: one frozen dataclass, loadable from TOML.

Every choice that changes an outcome's value lives here, so that a run is fully
described by its :class:`OutcomeConfig` (written beside the outputs). See
``docs/outcomes.md`` for the definitions themselves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impact.errors import ConfigError
from impact.permit import MIN_CELL
from impact.registers.schema import HOLIDAY_COMPENSATION, INCOME_TYPES, WAGE_INCOME_TYPES

ALLOCATIONS = ("payment", "pay_period", "earning_period")
HOLIDAY_COMPENSATION_RULES = ("spread", "exclude")
EMPLOYMENT_RULES = ("floor", "last_week", "floor_or_last_week")
SEGMENT_COLUMNS = ("age_band", "sex", "education", "employment_area", "municipality", "language")
MAX_HORIZON = 24


@dataclass(frozen=True)
class OutcomeConfig:
    """Definitions of the earnings panel and of the outcomes.

    Attributes
    ----------
    allocation
        How a report's amount is allocated to calendar months: ``"payment"`` (all of it to the
        month of the payment date; recoveries to the month of their original payment date),
        ``"pay_period"`` (pro rata by days over the pay period) or ``"earning_period"`` (pro rata
        over the earnings period where the row has one, else over the pay period; default).
    income_types
        Income types counted as earnings (default: the pay and holiday-pay types of the
        classification table :mod:`impact.registers.income_types`, i.e. 101 and the itemised
        2xx pay types; termination compensations, fees, benefits in kind, reimbursements and
        deductions out).
    holiday_compensation
        ``"spread"``: holiday compensation (234) is allocated like other pay (over its earnings
        period when reported, i.e. the holiday-credit months, else its pay period);
        ``"exclude"``: 234 rows are dropped (counted in the exclusions log).
    employment_floor_eur
        Open-market (non-subsidised) earnings allocated to a month at or above this floor make
        the person employed in that month; the same floor on subsidised earnings gives the
        ``subsidised`` status.
    employment_rule
        ``"floor"`` (default), ``"last_week"`` (a positive wage report whose allocation period
        overlaps the last seven days of the month) or ``"floor_or_last_week"``.
    horizons
        Months after the end at which placement is measured (1..24).
    k_of_h
        Pairs ``(k, h)``: employed in at least k of the months 1..h after the end.
    earnings_windows
        Month windows ``(first, last)`` after the end over which mean monthly earnings are taken.
    return_windows
        Months after the first employed month within which a new job-seeking spell counts as a
        return to job-seeking.
    segment_by
        Columns defining the segment of the relative-earnings baseline (from ``persons``;
        ``age_band`` is derived from the birth year and the calendar year).
    age_bands
        Lower bounds of the age bands (age = calendar year - birth year).
    extraction_date
        Date of the register extraction. Default: the ``extraction_date`` of the register
        folder's delivery manifest (``delivery.toml``; never the largest date in the data, see
        :mod:`impact.registers.delivery`); a date set here must not be after the manifest's.
        The last complete month of data is the last month that ends on or before it.
    data_start
        First date the registers cover (sets the month table's start). Default: the earliest
        date in the data; needed only to compile SQL without reading the data (``--sql-only``).
    disclosure_min
        Group-table cells with fewer units are flagged (``suppress = True``).
    group_tables
        Dimensions of the service group tables written beside the outcomes (columns of the
        service table, or ``employment_area`` / ``municipality`` of the person).
    """

    allocation: str = "earning_period"
    income_types: tuple[int, ...] = WAGE_INCOME_TYPES
    holiday_compensation: str = "spread"
    employment_floor_eur: float = 500.0
    employment_rule: str = "floor"
    horizons: tuple[int, ...] = (1, 3, 6, 12)
    k_of_h: tuple[tuple[int, int], ...] = ((3, 6), (6, 12))
    earnings_windows: tuple[tuple[int, int], ...] = ((1, 12), (13, 24))
    return_windows: tuple[int, ...] = (3, 6, 12)
    segment_by: tuple[str, ...] = ("age_band", "sex", "education", "employment_area")
    age_bands: tuple[int, ...] = (0, 25, 30, 40, 50, 60)
    extraction_date: dt.date | None = None
    data_start: dt.date | None = None
    disclosure_min: int = MIN_CELL
    group_tables: tuple[str, ...] = ("service_type", "provider_id", "course_id", "employment_area", "municipality")

    def __post_init__(self) -> None:
        _check_choice("allocation", self.allocation, ALLOCATIONS)
        _check_choice("holiday_compensation", self.holiday_compensation, HOLIDAY_COMPENSATION_RULES)
        _check_choice("employment_rule", self.employment_rule, EMPLOYMENT_RULES)
        if self.allocation == "payment" and self.employment_rule != "floor":
            raise ConfigError(
                f"outcome config: employment_rule = {self.employment_rule!r} needs a period allocation "
                "('pay_period' or 'earning_period'); with allocation = 'payment' use 'floor'")
        bad = [t for t in self.income_types if t not in INCOME_TYPES]
        if bad or not self.income_types:
            raise ConfigError(f"outcome config: income_types {bad or '[]'} not known; expected codes from "
                              f"{sorted(INCOME_TYPES)}")
        if not (self.employment_floor_eur >= 0):
            raise ConfigError(f"outcome config: employment_floor_eur must be >= 0, got {self.employment_floor_eur}")
        for h in self.horizons:
            _check_month("horizons", h)
        if not self.horizons:
            raise ConfigError("outcome config: horizons must not be empty")
        for pair in self.k_of_h:
            if len(pair) != 2:
                raise ConfigError(f"outcome config: k_of_h entries are [k, h] pairs, got {pair!r}")
            k, h = pair
            _check_month("k_of_h h", h)
            if not (isinstance(k, int) and 1 <= k <= h):
                raise ConfigError(f"outcome config: k_of_h needs 1 <= k <= h, got [{k}, {h}]")
        for pair in self.earnings_windows:
            if len(pair) != 2 or not (1 <= pair[0] <= pair[1] <= MAX_HORIZON):
                raise ConfigError(f"outcome config: earnings_windows entries are [first, last] with "
                                  f"1 <= first <= last <= {MAX_HORIZON}, got {pair!r}")
        for w in self.return_windows:
            _check_month("return_windows", w)
        bad = [c for c in self.segment_by if c not in SEGMENT_COLUMNS]
        if bad:
            raise ConfigError(f"outcome config: segment_by {bad} not allowed; expected some of {SEGMENT_COLUMNS}")
        if list(self.age_bands) != sorted(set(self.age_bands)) or not self.age_bands:
            raise ConfigError(f"outcome config: age_bands must be increasing lower bounds, got {self.age_bands}")
        if self.disclosure_min < 1:
            raise ConfigError(f"outcome config: disclosure_min must be >= 1, got {self.disclosure_min}")

    @property
    def max_window(self) -> int:
        """Largest month after the end that any bounded outcome looks at."""
        return max([*self.horizons, *(h for _, h in self.k_of_h), *(b for _, b in self.earnings_windows)])

    @property
    def holiday_compensation_type(self) -> int:
        return HOLIDAY_COMPENSATION

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("extraction_date", "data_start"):
            d[k] = None if d[k] is None else d[k].isoformat()
        return d


def _check_choice(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"outcome config: {key} = {value!r} not allowed; expected one of {allowed}")


def _check_month(key: str, h: Any) -> None:
    if not (isinstance(h, int) and 1 <= h <= MAX_HORIZON):
        raise ConfigError(f"outcome config: {key} must be whole months 1..{MAX_HORIZON}, got {h!r}")


_TUPLE_KEYS = {"income_types", "horizons", "return_windows", "segment_by", "age_bands", "group_tables"}
_PAIR_KEYS = {"k_of_h", "earnings_windows"}


def config_from_dict(d: dict[str, Any], source: str = "outcome config") -> OutcomeConfig:
    """Build an :class:`OutcomeConfig` from a mapping (e.g. a TOML ``[outcomes]`` table).

    Raises
    ------
    ConfigError
        On an unknown key or a value of the wrong type, naming the key and what was expected.
    """
    known = {f.name for f in dataclasses.fields(OutcomeConfig)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; allowed keys are {sorted(known)}")
    kw: dict[str, Any] = {}
    for key, value in d.items():
        try:
            if key in _TUPLE_KEYS:
                if not isinstance(value, list):
                    raise TypeError("a list")
                kw[key] = tuple(value)
            elif key in _PAIR_KEYS:
                if not isinstance(value, list) or not all(isinstance(p, list) for p in value):
                    raise TypeError("a list of [a, b] pairs")
                kw[key] = tuple(tuple(p) for p in value)
            elif key in ("extraction_date", "data_start"):
                if isinstance(value, str):
                    value = dt.date.fromisoformat(value)
                if not isinstance(value, dt.date):
                    raise TypeError("a date (YYYY-MM-DD)")
                kw[key] = value
            elif key == "employment_floor_eur":
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise TypeError("a number")
                kw[key] = float(value)
            elif key == "disclosure_min":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise TypeError("an integer")
                kw[key] = value
            else:
                if not isinstance(value, str):
                    raise TypeError("a string")
                kw[key] = value
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{source}: key {key!r} = {value!r} must be {e}") from None
    return OutcomeConfig(**kw)


def load_config(path: str | Path | None) -> OutcomeConfig:
    """Read outcome definitions from a TOML file (``None``: the defaults).

    The file may hold the keys at top level or under an ``[outcomes]`` table (so a study
    config can be passed as it is; other tables of a study config are ignored then).
    """
    if path is None:
        return OutcomeConfig()
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"outcome config {p}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"outcome config {p}: is a folder; expected a TOML file") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"outcome config {p}: not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"outcome config {p}: not valid TOML ({e})") from None
    if "outcomes" in data:
        section = data["outcomes"]
        if not isinstance(section, dict):
            raise ConfigError(f"outcome config {p}: [outcomes] must be a table")
        data = section
    return config_from_dict(data, source=f"outcome config {p}")


__all__ = ["OutcomeConfig", "config_from_dict", "load_config", "ALLOCATIONS", "EMPLOYMENT_RULES"]

