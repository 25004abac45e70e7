"""Where a study's registers come from: a register folder, or cached synthetic registers.

Synthetic registers are generated once per (scenario, persons, seed) into
``synthetic_data/<scenario>_<persons>_<seed>/`` and reused while the scenario is unchanged
(the folder records the hash of the resolved scenario; a changed scenario regenerates).
Generation publishes the folder atomically (:mod:`impact.publish`), so an interrupted run
never leaves a half-written cache.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

from impact.errors import ConfigError
from impact.study.config import StudyConfig

REGISTER_FILES = ("persons", "jobseeking_spells", "service_spells", "earnings_reports", "benefit_reports")
HASH_FILE = ".scenario_hash"


def scenario_hash(scenario: str) -> str:
    """SHA-256 of the resolved scenario (all defaults and ``extends`` applied) plus the generator version."""
    try:
        from impact.simulate import scenario as sc
    except ImportError as e:  # pragma: no cover - the generator is part of the package
        raise ConfigError(f"data.synthetic needs impact.simulate, which cannot be imported: {e}") from None
    resolved = None
    for fn in ("load_scenario", "resolve_scenario", "read_scenario"):
        f = getattr(sc, fn, None)
        if f is not None:
            resolved = f(scenario)
            break
    if resolved is None:
        path = Path(scenario)
        if not path.exists():
            path = Path("synthetic_data/scenarios") / f"{scenario}.toml"
        resolved = path.read_text() if path.exists() else scenario
    if hasattr(resolved, "__dict__") and not isinstance(resolved, dict):
        resolved = getattr(resolved, "raw", None) or vars(resolved)
    text = json.dumps(resolved, sort_keys=True, default=str)
    try:
        from importlib.metadata import version

        text += version("impact")
    except Exception:
        pass
    return hashlib.sha256(text.encode()).hexdigest()


def synthetic_folder(cfg: StudyConfig, root: Path = Path("synthetic_data")) -> Path:
    """``root/<scenario>_<persons>_<seed>``; the scenario name must stay inside ``root``."""
    from impact.simulate.scenario import check_name

    s = cfg.data.synthetic
    name = Path(s.scenario).stem if s.scenario.endswith(".toml") else s.scenario
    check_name(name, "data.synthetic.scenario")
    return root / f"{name}_{s.persons}_{s.seed}"


def ensure_synthetic(cfg: StudyConfig, root: Path = Path("synthetic_data"),
                     log: Callable[[str], None] = print) -> tuple[Path, bool]:
    """The synthetic register folder of a study, generated if missing or stale.

    Returns
    -------
    (folder, generated) : the folder and whether it was (re)generated in this call.
    """
    from impact.simulate import simulate

    s = cfg.data.synthetic
    folder = synthetic_folder(cfg, root)
    h = scenario_hash(s.scenario)
    marker = folder / HASH_FILE
    if marker.exists() and marker.read_text().strip() == h and (folder / "persons.parquet").exists():
        return folder, False
    log(f"generating synthetic registers: scenario {s.scenario}, {s.persons:,} persons, seed {s.seed}")
    # published atomically with its scenario hash (impact.publish): never half-written
    simulate(scenario=s.scenario, persons=s.persons, seed=s.seed, out=folder, extra_files={HASH_FILE: h})
    return folder, True


def resolve_registers(cfg: StudyConfig, data_dir: str | Path | None = None, root: Path = Path("synthetic_data"),
                      log: Callable[[str], None] = print) -> tuple[Path, bool]:
    """Register folder of a study: ``data_dir`` if given, else the config's folder or synthetic cache."""
    if data_dir is not None:
        p = Path(data_dir)
        if not p.is_dir():
            raise ConfigError(f"--data-dir {p} is not a folder (expected a register folder with persons.parquet, ...)")
        return p, False
    if cfg.data.registers is not None:
        p = Path(cfg.data.registers)
        if not p.is_absolute() and cfg.path is not None and not p.exists():
            alt = Path(cfg.path).parent / p
            p = alt if alt.exists() else p
        if not p.is_dir():
            raise ConfigError(f"data.registers = {cfg.data.registers!r}: folder {p} does not exist")
        return p, False
    return ensure_synthetic(cfg, root, log)


def file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every register file (and truth file) in a folder, by relative path."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            h = hashlib.sha256()
            with p.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            out[str(p.relative_to(folder))] = h.hexdigest()
    return out
