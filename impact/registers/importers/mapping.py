"""Mappings as data: column names and code lists per source and vintage, in TOML files.

Shipped mappings live in ``impact/registers/mappings/`` (one file per source and vintage, e.g.
``tem_tyonhaku_2024.toml``); a researcher passes their own file with ``--mapping PATH`` when a
column is renamed or a new code vintage arrives. A mapping names the files of each source
*role* (glob patterns on file names), the role's columns (contract name = source column) and
the code lists (source code = contract code).
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from impact.errors import ConfigError

#: Kinds of import and the mapping each uses by default.
KINDS = ("ir-xml", "fiona-incomes", "fiona-jobseekers")
DEFAULT_MAPPINGS = {"ir-xml": "ir_2022", "fiona-incomes": "tax_incomes_002", "fiona-jobseekers": "tem_tyonhaku_2024"}

_SHIPPED = "impact.registers"


def shipped_mappings() -> list[str]:
    """Names of the mappings shipped with the package (file names without ``.toml``)."""
    folder = resources.files(_SHIPPED).joinpath("mappings")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")
                  and not p.name.startswith("income_types_"))


@dataclass(frozen=True)
class Mapping:
    """A loaded mapping file; accessors raise :class:`ConfigError` naming the file and key."""

    name: str
    data: dict[str, Any]

    @property
    def kind(self) -> str:
        return self.data["kind"]

    def get(self, dotted: str, default: Any = ...) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                if default is ...:
                    raise ConfigError(f"mapping {self.name}: key {dotted!r} missing")
                return default
            node = node[part]
        return node

    def roles(self) -> dict[str, dict[str, Any]]:
        return dict(self.get("roles", {}))

    def role(self, role: str) -> dict[str, Any]:
        roles = self.roles()
        if role not in roles:
            raise ConfigError(f"mapping {self.name}: no role {role!r}; roles are {sorted(roles)}")
        return roles[role]

    def columns(self, role: str) -> dict[str, str]:
        """Contract-side name -> source column name of a role."""
        cols = self.role(role).get("columns")
        if not isinstance(cols, dict) or not cols:
            raise ConfigError(f"mapping {self.name}: roles.{role}.columns must be a table of name = \"column\"")
        return {str(k): str(v) for k, v in cols.items()}

    def codes(self, name: str) -> dict[str, Any]:
        """A code list: source code (as text) -> contract value."""
        table = self.get(f"codes.{name}")
        if not isinstance(table, dict):
            raise ConfigError(f"mapping {self.name}: codes.{name} must be a table of \"code\" = value")
        return {str(k): v for k, v in table.items()}

    def role_of(self, path: Path) -> str | None:
        """The role whose file patterns match ``path``'s name (case-insensitive), if any."""
        name = path.name.lower()
        stem = name.split(".")[0]
        for role, spec in self.roles().items():
            for pat in spec.get("files", []):
                if fnmatch.fnmatch(name, pat.lower()) or fnmatch.fnmatch(stem, pat.lower()):
                    return role
        return None


def load_mapping(spec: str | Path, kind: str) -> Mapping:
    """Load a mapping: a shipped name (``"tem_tyonhaku_2024"``) or a path to a TOML file.

    Raises
    ------
    ConfigError
        The file is missing or not TOML, or it is a mapping for another kind of import.
    """
    p = Path(spec)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise ConfigError(f"mapping file {p} not found")
        text, name = p.read_text(encoding="utf-8"), str(p)
    else:
        res = resources.files(_SHIPPED).joinpath("mappings", f"{spec}.toml")
        if not res.is_file():
            raise ConfigError(f"mapping {spec!r} is neither a file nor a shipped mapping; shipped: "
                              f"{shipped_mappings()}")
        text, name = res.read_text(encoding="utf-8"), f"{spec} (shipped)"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"mapping {name}: not valid TOML ({e})") from None
    if data.get("kind") != kind:
        raise ConfigError(f"mapping {name}: kind = {data.get('kind')!r}, but this is an {kind!r} import")
    for key in ("source", "vintage"):
        if key not in data:
            raise ConfigError(f"mapping {name}: key {key!r} missing (say where the layout and codes come from)")
    return Mapping(name=name, data=data)


__all__ = ["Mapping", "load_mapping", "shipped_mappings"]
