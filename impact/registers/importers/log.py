"""The import log: rows read, mapped and refused per reason, counted rules, codes never seen.

Every row-level rule of an importer goes through :meth:`ImportLog.refuse` (rows that cannot
be mapped: an error in strict mode, counted and dropped in lenient mode) or
:meth:`ImportLog.count` (rules that always apply and are only counted, e.g. a spell delivered
open and later closed). The log is written as ``import_log.json`` beside the registers.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from impact.errors import ImpactError


class ImportRefused(ImpactError):
    """A source cannot be imported as it is.

    The message names the file, the element and line (XML) or the row and column
    (tables), and what was expected.
    """


@dataclass
class Where:
    """Where an offending value is: file, line (XML) or 1-based data row, column or element."""

    file: str
    row: int | None = None
    column: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column}" if self.line is None else f"element {self.column}")
        return ", ".join(parts)


@dataclass
class ImportLog:
    """Counts of one import run (one kind, its sources).

    ``strict``: a refused row raises :class:`ImportRefused`; otherwise it is counted and dropped.
    """

    kind: str
    sources: list[str]
    strict: bool = True
    rows_read: Counter = field(default_factory=Counter)
    rows_written: Counter = field(default_factory=Counter)
    refused: Counter = field(default_factory=Counter)
    rules: Counter = field(default_factory=Counter)
    descriptions: dict[str, str] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)
    unseen_codes: dict[str, Counter] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started: str = field(default_factory=lambda: dt.datetime.now().isoformat(timespec="seconds"))

    def read(self, table: str, n: int) -> None:
        self.rows_read[table] += int(n)

    def written(self, table: str, n: int) -> None:
        self.rows_written[table] += int(n)

    def refuse(self, reason: str, n: int, where: Where | str, expected: str, value: Any = None) -> None:
        """``n`` rows cannot be mapped for ``reason``; raise (strict) or count them (lenient).

        ``where`` locates the first offending row, ``value`` is its value (shown masked by the
        caller where it is an identifier) and ``expected`` says what was expected.
        """
        if n <= 0:
            return
        shown = "" if value is None else f" (got {value!r})"
        msg = f"{where}: {expected}{shown}"
        if n > 1:
            msg += f"; {n:,} rows like this"
        if self.strict:
            raise ImportRefused(msg + "; pass --lenient to count and drop such rows instead")
        self.refused[reason] += int(n)
        self.descriptions.setdefault(reason, expected)
        self.examples.setdefault(reason, msg)

    def count(self, rule: str, n: int, description: str) -> None:
        """A rule that applied to ``n`` rows (kept, merged or dropped as it says)."""
        if n <= 0:
            return
        self.rules[rule] += int(n)
        self.descriptions.setdefault(rule, description)

    def unseen(self, code_list: str, code: Any, n: int) -> None:
        """A code value not in the mapping (``code_list`` names the column and source)."""
        self.unseen_codes.setdefault(code_list, Counter())[str(code)] += int(n)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "started": self.started,
            "sources": self.sources,
            "strict": self.strict,
            "rows_read": dict(self.rows_read),
            "rows_written": dict(self.rows_written),
            "rows_refused": {k: {"rows": v, "description": self.descriptions[k], "first": self.examples.get(k)}
                             for k, v in sorted(self.refused.items())},
            "rules": {k: {"rows": v, "description": self.descriptions[k]} for k, v in sorted(self.rules.items())},
            "codes_not_in_mapping": {k: dict(sorted(v.items())) for k, v in sorted(self.unseen_codes.items())},
            "notes": self.notes,
        }

    def summary(self) -> str:
        """A few lines for the console."""
        lines = [f"import {self.kind}: {len(self.sources)} source(s)"]
        for t, n in self.rows_written.items():
            lines.append(f"  wrote {t:<22} {n:>12,} rows")
        for k, v in sorted(self.refused.items()):
            lines.append(f"  refused {k:<20} {v:>12,} rows ({self.descriptions[k]})")
        for k, v in sorted(self.rules.items()):
            lines.append(f"  rule {k:<23} {v:>12,} rows ({self.descriptions[k]})")
        for k, v in sorted(self.unseen_codes.items()):
            lines.append(f"  codes not in the mapping, {k}: {dict(sorted(v.items()))}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def mask_id(value: Any) -> str:
    """An identifier as shown in messages: its first characters only (never the whole id)."""
    s = str(value)
    return s if len(s) <= 4 else s[: min(6, len(s) // 2)] + "…"


__all__ = ["ImportLog", "ImportRefused", "Where", "mask_id"]
