"""The delivery manifest of a register folder, and where the extraction date comes from.

The extraction date (the day the registers were extracted) decides which months are
observed: a month after it is not "not employed", it is unknown. It is a fact about the
data delivery, so it is never read from the data (one report dated 2150 would otherwise
move it to 2150). It comes from, in this order:

1. the run's setting (``data.extraction_date`` of a study config, ``--extraction-date``);
2. the delivery manifest ``delivery.toml`` in the register folder::

       # written by whoever delivers or imports the registers
       extraction_date = 2025-12-31
       source = "Statistics Finland FIONA delivery 2026/17"   # free text, optional

A setting later than the manifest's date is refused (the data cannot cover days after they
were extracted); an earlier one is a cut-off. Without either, the run stops and says how to
give the date. Rows dated after the extraction date are validation errors
(:mod:`impact.registers.validate`), or, with ``after_extraction = "drop"``, warnings whose
rows the outcome stage drops and counts in its exclusions log.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path

from impact.errors import ConfigError

__all__ = ["AFTER_EXTRACTION", "DELIVERY_FILE", "Delivery", "choose_extraction_date", "read_delivery",
           "resolve_extraction_date", "write_delivery"]

DELIVERY_FILE = "delivery.toml"
#: What happens to rows dated after the extraction date: ``"error"`` (validation fails) or
#: ``"drop"`` (a warning; the outcome stage drops and counts them).
AFTER_EXTRACTION = ("error", "drop")
_KEYS = ("extraction_date", "source")


@dataclass(frozen=True)
class Delivery:
    """The extraction date of a register folder and where it came from (for messages and reports)."""

    extraction_date: dt.date
    origin: str  # e.g. "delivery.toml", "data.extraction_date"
    source: str = ""  # the manifest's free-text description of the delivery


def _as_date(value: object, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}: expected a date yyyy-mm-dd, got {value!r}")


def read_delivery(folder: str | Path) -> Delivery | None:
    """The delivery manifest of a register folder (``None`` when the folder has none).

    Raises
    ------
    ConfigError
        The manifest is not UTF-8 TOML, lacks ``extraction_date`` or has unknown keys.
    """
    path = Path(folder) / DELIVERY_FILE
    if not path.is_file():
        return None
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}); save the manifest as UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from None
    unknown = [k for k in raw if k not in _KEYS]
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; expected {list(_KEYS)}")
    if "extraction_date" not in raw:
        raise ConfigError(f"{path}: extraction_date is missing (the day the registers were extracted, yyyy-mm-dd)")
    source = raw.get("source", "")
    if not isinstance(source, str):
        raise ConfigError(f"{path}: source must be text, got {source!r}")
    return Delivery(_as_date(raw["extraction_date"], f"{path}: extraction_date"), DELIVERY_FILE, source)


def write_delivery(folder: str | Path, extraction_date: dt.date, source: str = "") -> Path:
    """Write ``delivery.toml`` into a register folder (the generator and the importers call this)."""
    path = Path(folder) / DELIVERY_FILE
    text = ("# Delivery manifest: the day these registers were extracted (outcomes after it are unknown)\n"
            f"extraction_date = {extraction_date.isoformat()}\n")
    if source:
        text += f"source = {_toml_string(source)}\n"
    path.write_text(text, encoding="utf-8")
    return path


def _toml_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def resolve_extraction_date(folder: str | Path, configured: dt.date | str | None = None,
                            key: str = "data.extraction_date") -> Delivery:
    """The extraction date of a run on the registers in ``folder``.

    Parameters
    ----------
    folder : the register folder (its ``delivery.toml`` is read when present).
    configured : the run's setting (config key or command-line option), or ``None``.
    key : how the setting is named in messages (``"data.extraction_date"``, ``"--extraction-date"``).

    Raises
    ------
    ConfigError
        No date anywhere, or the setting is later than the delivery's extraction date.
    """
    return choose_extraction_date(configured, read_delivery(folder), key, str(folder))


def choose_extraction_date(configured: dt.date | str | None, delivery: Delivery | None,
                           key: str = "data.extraction_date", where: str = "the registers") -> Delivery:
    """The run's setting checked against the delivery's manifest (see :func:`resolve_extraction_date`)."""
    if configured is not None:
        date = _as_date(configured, key)
        if delivery is not None and date > delivery.extraction_date:
            raise ConfigError(
                f"{key} = {date.isoformat()} is after the extraction date of the delivery "
                f"({delivery.extraction_date.isoformat()}, {DELIVERY_FILE} of {where}); data cannot cover days "
                "after they were extracted. Remove the setting or give an earlier date (a cut-off)")
        return Delivery(date, key, delivery.source if delivery else "")
    if delivery is not None:
        return delivery
    raise ConfigError(
        f"no extraction date for {where}: it must come from the data delivery, not from the largest date in "
        f"the data. Put {DELIVERY_FILE} with `extraction_date = YYYY-MM-DD` into the register folder, or set {key}")
