"""Option classes that describe themselves: one definition gives the defaults, the parsing and
validation of a config section (with "did you mean" messages naming the dotted key), and the
config reference (``docs/config.md``).

An option class is a frozen dataclass whose fields are declared with :func:`option`::

    @dataclass(frozen=True)
    class MatchingOptions:
        k: int = option(5, "Nearest neighbours per treated row.", kind="int", lo=1, hi=50)

:func:`parse_options` reads a TOML table into it; :func:`describe` lists its keys for the
documentation. Defaults live in the field declarations and nowhere else. A field may say
which analyses read it (``applies``): the study config refuses a key that none of its
analyses reads, so no accepted key is silently ignored. Informational fields (``study.description``)
change no number; the report prints them.

This module is at the bottom of the package's layers (it imports only :mod:`impact.errors`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
from dataclasses import MISSING, dataclass, fields
from typing import Any, Callable, Mapping

from impact.errors import ConfigError

#: The kinds of value an option takes (how TOML values are checked and converted).
KINDS = ("str", "int", "float", "bool", "date", "month", "str_list", "int_list", "int_pair", "float_pair", "table",
         "str_or_list")


def option(default: Any = MISSING, doc: str = "", *, kind: str, choices: tuple | None = None,
           lo: float | None = None, hi: float | None = None, item: str = "", informational: bool = False,
           applies: tuple[str, ...] | None = None, nonempty: bool = True, default_factory: Callable | None = None,
           default_text: str | None = None) -> Any:
    """A dataclass field that describes one config key.

    Parameters
    ----------
    default : the default value (immutable; tuples for lists). Omit for a required key.
    doc : one or two sentences for the config reference: what the key does.
    kind : one of :data:`KINDS`.
    choices : allowed values (of the value, or of each list item).
    lo, hi : bounds of a number (or of each list item).
    item : how a list item is described in messages (e.g. "a month between 1 and 24").
    informational : the key changes no number; the report prints it.
    applies : names of the analyses that read the key (None: the run as a whole).
    nonempty : a list must have at least one item.
    default_text : how the default is shown in the reference (when computed elsewhere).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown option kind {kind!r}")
    md = dict(doc=doc, kind=kind, choices=choices, lo=lo, hi=hi, item=item, informational=informational,
              applies=applies, nonempty=nonempty, default_text=default_text)
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=md)
    if isinstance(default, (list, dict, set)):
        raise ValueError("option defaults must be immutable (use a tuple)")
    return dataclasses.field(default=default, metadata=md)


def option_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of an option class declared with :func:`option`."""
    return [f for f in fields(cls) if "kind" in f.metadata]


# ---------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------


def not_allowed(path: str, value: Any, allowed: str) -> ConfigError:
    """``path = value is not allowed: expected allowed``."""
    return ConfigError(f"{path} = {value!r} is not allowed: expected {allowed}")


def _hint(value: str, candidates: Any) -> str:
    close = difflib.get_close_matches(str(value), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def check_keys(raw: Any, path: str, allowed: Any, moved: Mapping[str, str] | None = None) -> None:
    """Refuse a section that is not a table and any key not in ``allowed``.

    ``moved`` maps keys that used to be accepted here to a sentence saying where they went
    (or why they were removed); a typo close to a moved key points there.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{path or 'config'} must be a table (section), got {type(raw).__name__} {raw!r}")
    moved = dict(moved or {})
    allowed = list(allowed)
    for key in raw:
        if key in allowed:
            continue
        where = f"{path}.{key}" if path else key
        if key in moved:
            raise ConfigError(f"{where} is no longer accepted: {moved[key]}")
        close = difflib.get_close_matches(key, allowed + list(moved), n=1, cutoff=0.6)
        hint = ""
        if close:
            hint = f"; did you mean '{close[0]}'?" + (f" ({moved[close[0]]})" if close[0] in moved else "")
        raise ConfigError(f"unknown key '{where}'{hint} (allowed in [{path or 'top level'}]: {', '.join(allowed)})")


# ---------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------


def _range_text(lo: Any, hi: Any, noun: str) -> str:
    if lo is not None and hi is not None:
        return f"{noun} between {lo} and {hi}"
    if lo is not None:
        return f"{noun} >= {lo}"
    if hi is not None:
        return f"{noun} <= {hi}"
    return noun


def _scalar(v: Any, full: str, kind: str, md: dict, item_text: str = "") -> Any:
    lo, hi, choices = md.get("lo"), md.get("hi"), md.get("choices")
    if kind == "str":
        if not isinstance(v, str):
            raise not_allowed(full, v, item_text or ("a string" + (f" (one of {', '.join(map(str, choices))})"
                                                                   if choices else "")))
        if choices is not None and v not in choices:
            raise ConfigError(f"{full} = {v!r} is not allowed: expected one of {', '.join(map(str, choices))}"
                              f"{_hint(v, choices)}")
        return v
    if kind == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            raise not_allowed(full, v, item_text or "an integer")
        if choices is not None and v not in choices:
            raise ConfigError(f"{full} = {v!r} is not allowed: expected one of {', '.join(map(str, choices))}"
                              f"{_hint(v, choices)}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise not_allowed(full, v, item_text or _range_text(lo, hi, "an integer"))
        return v
    if kind == "float":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise not_allowed(full, v, "a number")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise not_allowed(full, v, item_text or _range_text(lo, hi, "a number"))
        return float(v)
    if kind == "bool":
        if not isinstance(v, bool):
            raise not_allowed(full, v, "true or false")
        return v
    if kind == "date":
        if isinstance(v, dt.datetime):
            return v.date()
        if isinstance(v, dt.date):
            return v
        if isinstance(v, str):
            try:
                return dt.date.fromisoformat(v)
            except ValueError:
                pass
        raise not_allowed(full, v, "a date YYYY-MM-DD (TOML date or string)")
    if kind == "month":
        if isinstance(v, dt.date):
            return f"{v.year:04d}-{v.month:02d}"
        if isinstance(v, str):
            try:
                d = dt.date.fromisoformat(v + "-01" if len(v) == 7 else v)
                return f"{d.year:04d}-{d.month:02d}"
            except ValueError:
                pass
        raise not_allowed(full, v, "a month 'YYYY-MM'")
    raise ValueError(kind)  # pragma: no cover - guarded by option()


def convert(value: Any, full: str, md: dict) -> Any:
    """Check and convert one TOML value by its field metadata (the dotted key in every message)."""
    kind = md["kind"]
    if kind in ("str", "int", "float", "bool", "date", "month"):
        return _scalar(value, full, kind, md)
    if kind == "table":
        if not isinstance(value, dict):
            raise not_allowed(full, value, "a table")
        return dict(value)
    if kind == "str_or_list" and isinstance(value, str):
        value = [value]
    if kind in ("str_list", "int_list", "int_pair", "float_pair", "str_or_list"):
        item_kind = {"str_list": "str", "str_or_list": "str", "int_list": "int", "int_pair": "int",
                     "float_pair": "float"}[kind]
        choices = md.get("choices")
        if not isinstance(value, list):
            raise not_allowed(full, value, "a list" + (f" of values from {', '.join(map(str, choices))}"
                                                       if choices else ""))
        if md.get("nonempty", True) and not value:
            raise not_allowed(full, value, "a non-empty list")
        out = []
        for i, x in enumerate(value):
            noun = {"str": "a str", "int": "a int", "float": "a float"}[item_kind]
            if item_kind == "float" and isinstance(x, int) and not isinstance(x, bool):
                x = float(x)
            if isinstance(x, bool) or not isinstance(x, {"str": str, "int": int, "float": float}[item_kind]):
                raise not_allowed(f"{full}[{i}]", x, noun)
            out.append(_scalar(x, f"{full}[{i}]", item_kind, md, md.get("item", "")))
        if kind.endswith("_pair"):
            if len(out) != 2:
                raise not_allowed(full, value, md.get("item") or "two numbers")
        elif len(set(map(str, out))) != len(out):
            raise not_allowed(full, value, "a list without duplicates")
        return tuple(out)
    raise ValueError(kind)  # pragma: no cover


def parse_options(cls: type, raw: Any, path: str, moved: Mapping[str, str] | None = None,
                  extra_keys: tuple[str, ...] = ()) -> Any:
    """Read the TOML table ``raw`` (section ``path``) into the option class ``cls``.

    Unknown keys are refused with the closest known key; each value is checked by its field's
    metadata; a missing required key is named. The class may define ``check(self, path)`` for
    rules between its fields (called after construction). ``extra_keys`` are accepted and
    left to the caller (e.g. ``enabled`` of an estimator section).

    Raises
    ------
    ConfigError
        Naming the dotted key, the bad value and what is allowed.
    """
    raw = {} if raw is None else raw
    flds = option_fields(cls)
    check_keys(raw, path, [f.name for f in flds] + list(extra_keys), moved)
    kw = {}
    for f in flds:
        full = f"{path}.{f.name}" if path else f.name
        if f.name in raw:
            kw[f.name] = convert(raw[f.name], full, f.metadata)
        elif f.default is MISSING and f.default_factory is MISSING:
            choices = f.metadata.get("choices")
            raise ConfigError(f"missing required key '{full}'" + (f" (one of {', '.join(map(str, choices))})"
                                                                 if choices else ""))
    obj = cls(**kw)
    check = getattr(obj, "check", None)
    if callable(check):
        check(path)
    return obj


# ---------------------------------------------------------------------------------------
# Documentation
# ---------------------------------------------------------------------------------------

_KIND_TEXT = {"str": "string", "int": "integer", "float": "number", "bool": "true/false", "date": "date YYYY-MM-DD",
              "month": "month 'YYYY-MM'", "str_list": "list of strings", "int_list": "list of integers",
              "int_pair": "[integer, integer]", "float_pair": "[number, number]", "table": "table",
              "str_or_list": "string or list of strings"}


def default_text(f: dataclasses.Field) -> str:
    """How the default of a field is shown in the config reference."""
    md = f.metadata
    if md.get("default_text") is not None:
        return md["default_text"]
    if f.default is MISSING and f.default_factory is MISSING:
        return "required"
    v = f.default if f.default is not MISSING else f.default_factory()
    if v is None:
        return "not set"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return "[" + ", ".join(repr(x) if isinstance(x, str) else str(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{}" if not v else str(v)
    return repr(v) if isinstance(v, str) else str(v)


@dataclass(frozen=True)
class KeyDoc:
    """One row of the config reference."""

    key: str
    kind: str
    default: str
    doc: str
    allowed: str
    informational: bool
    applies: tuple[str, ...] | None


def describe(cls: type, path: str) -> list[KeyDoc]:
    """The keys of an option class for the config reference."""
    out = []
    for f in option_fields(cls):
        md = f.metadata
        allowed = ""
        if md.get("choices") is not None:
            allowed = ", ".join(map(str, md["choices"]))
        elif md.get("lo") is not None or md.get("hi") is not None:
            allowed = _range_text(md.get("lo"), md.get("hi"), "").strip()
        out.append(KeyDoc(key=f"{path}.{f.name}" if path else f.name, kind=_KIND_TEXT[md["kind"]],
                          default=default_text(f), doc=md.get("doc", ""), allowed=allowed,
                          informational=bool(md.get("informational")), applies=md.get("applies")))
    return out
