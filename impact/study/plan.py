"""``impact check CONFIG``: what a run of a study config would do, without running it.

:func:`study_plan` validates the config (the same :func:`impact.study.config.load_config` as
``impact run``), resolves every default and describes the run: the registers (a folder, or a
synthetic scenario that is generated or reused), the population rules, the analyses with their
design and estimator options, the outcomes and horizons, the number of estimates each analysis
publishes and, when the registers are already on disk, the sizes the run starts from (persons,
service and job-seeking spells inside the population's dates), counted with one DuckDB query per
register file. No estimator runs and nothing is written.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from impact.options import option_fields
from impact.study.config import StudyConfig, load_config

#: What each analysis estimates, in one line (the design and the estimator behind it).
ANALYSIS_TEXT = {
    "followup": "descriptive follow-up: placement, time to employment, earnings and cost by group",
    "matching": "dynamic risk-set matching (join now vs wait), ATT by horizon after the service",
    "did": "difference-in-differences by entry month, event study by months since entry",
    "sector": "matching within employer sectors and the difference between them",
    "synth": "synthetic control of the reformed area (placebo inference), with peer groups if configured",
    "metrics": "job-offer and brokerage metrics, tax and benefit flows",
}


@dataclass
class Plan:
    """The resolved run of a config: sections of ``(key, value, source)`` lines and notes."""

    cfg: StudyConfig
    registers: str
    sizes: dict[str, int] = field(default_factory=dict)
    analyses: list[tuple[str, str, int]] = field(default_factory=list)  # name, what, expected estimates
    options: dict[str, list[tuple[str, Any, bool]]] = field(default_factory=dict)  # section -> (key, value, set)
    notes: list[str] = field(default_factory=list)

    def text(self, show_defaults: bool = True) -> str:
        """The plan as the lines ``impact check`` prints."""
        c = self.cfg
        out = [f"{c.path or c.study.name}: valid (config hash {c.hash[:12]})",
               f"study      {c.study.name}: {c.report.title or c.study.title}",
               f"question   {c.study.question}",
               f"report     reports/{c.study.name}/ ({', '.join(c.report.formats)}; language {c.report.language})",
               f"registers  {self.registers}"]
        if self.sizes:
            out.append("sizes      " + ", ".join(f"{k} {v:,}" for k, v in self.sizes.items()))
        out.append("analyses   " + (" -> ".join(a for a, _, _ in self.analyses) or "none"))
        for name, what, n in self.analyses:
            out.append(f"  {name:<9} {what}" + (f"; about {n} estimates" if n else ""))
        for sec, rows in self.options.items():
            shown = [(k, v, s) for k, v, s in rows if s or show_defaults]
            if not shown:
                continue
            out.append(f"[{sec}]")
            out += [f"  {k} = {_show(v)}" + ("" if s else "    # default") for k, v, s in shown]
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "(not set)"
    if dataclasses.is_dataclass(v):
        return "{ " + ", ".join(f"{f.name} = {_show(getattr(v, f.name))}" for f in dataclasses.fields(v)) + " }"
    return str(v)


def _resolved(obj: Any, raw: dict) -> list[tuple[str, Any, bool]]:
    """Every option of ``obj``: its value and whether the config set it (False: the default)."""
    return [(f.name, getattr(obj, f.name), f.name in raw) for f in option_fields(type(obj))]


def _sections(cfg: StudyConfig) -> dict[str, list[tuple[str, Any, bool]]]:
    """The resolved options of the sections the run reads."""
    raw = cfg.raw
    out = {}
    for name in ("population", "unit", "treatment", "comparison", "outcomes", "design", "report", "disclosure"):
        out[name] = _resolved(getattr(cfg, name), raw.get(name, {}))
    if cfg.metrics is not None:
        out["metrics"] = _resolved(cfg.metrics, raw.get("metrics", {}))
    for name, sec in cfg.estimators.items():
        if sec.enabled:
            out[f"estimators.{name}"] = _resolved(sec.options, raw.get("estimators", {}).get(name, {}))
    return out


def _expected_estimates(cfg: StudyConfig, analysis: str) -> int:
    """How many effect estimates an analysis publishes (outcomes x horizons); 0 for the descriptive ones."""
    h = len(cfg.outcomes.horizons)
    if analysis == "matching":
        return 2 * h  # employment and earnings at each horizon
    if analysis == "sector":
        return 3 * 2 * h  # two sectors and their difference
    if analysis == "synth":
        return h
    return 0


def register_sizes(folder: Path, cfg: StudyConfig) -> dict[str, int]:
    """Persons, service spells (of the unit's or treatment's service types) and job-seeking spells
    in ``folder`` that start inside the population's dates (before the outcome stage's rules)."""
    import duckdb

    pop = cfg.population
    cond = []
    if pop.start_from is not None:
        cond.append(f"start_date >= DATE '{pop.start_from.isoformat()}'")
    if pop.start_to is not None:
        cond.append(f"start_date <= DATE '{pop.start_to.isoformat()}'")
    types = cfg.unit.service_types or ((cfg.treatment.service_type,) if cfg.treatment.service_type else None)
    svc = list(cond) + ([f"service_type IN ({', '.join(repr(t) for t in types)})"] if types else [])

    def count(table: str, where: list[str], what: str = "*") -> int | None:
        p = folder / f"{table}.parquet"
        if not p.exists():
            return None
        w = (" WHERE " + " AND ".join(where)) if where else ""
        return int(con.execute(f"SELECT count({what}) FROM read_parquet(?){w}", [str(p)]).fetchone()[0])

    con = duckdb.connect()
    try:
        sizes = {"persons": count("persons", []),
                 "service spells" + (f" ({', '.join(types)})" if types else ""): count("service_spells", svc),
                 "job-seeking spells": count("jobseeking_spells", cond)}
    finally:
        con.close()
    return {k: v for k, v in sizes.items() if v is not None}


def study_plan(config: str | Path | StudyConfig, synthetic_root: Path = Path("synthetic_data"),
               data_dir: str | Path | None = None) -> Plan:
    """Validate ``config`` and describe its run (see the module docstring); runs no estimator.

    Raises
    ------
    ConfigError
        As ``impact run`` would, naming the file and key.
    """
    from impact.study.data import synthetic_folder

    cfg = config if isinstance(config, StudyConfig) else load_config(config)
    folder: Path | None
    if data_dir is not None:
        folder = Path(data_dir)
        where = f"{folder} (--data-dir)"
    elif cfg.data.registers is not None:
        folder = Path(cfg.data.registers)
        if not folder.is_absolute() and cfg.path and not folder.exists():
            folder = Path(cfg.path).parent / folder
        where = f"{folder}" + ("" if folder.is_dir() else " (MISSING: impact run will stop)")
    else:
        s = cfg.data.synthetic
        folder = synthetic_folder(cfg, synthetic_root)
        state = "present, reused" if (folder / "persons.parquet").exists() else "not generated yet: impact run " \
                                                                                   "generates it first"
        where = f"synthetic scenario {s.scenario}, {s.persons:,} persons, seed {s.seed} -> {folder} ({state})"
    plan = Plan(cfg=cfg, registers=where, options=_sections(cfg))
    if folder is not None and (folder / "persons.parquet").exists():
        plan.sizes = register_sizes(folder, cfg)
    plan.analyses = [(a, ANALYSIS_TEXT.get(a, a), _expected_estimates(cfg, a)) for a in cfg.analyses]
    if cfg.treatment.design != "none" and cfg.analyses == ("followup",):
        plan.notes.append(f"treatment.design = {cfg.treatment.design!r} but no estimator section of that design is "
                          "enabled: only the descriptive follow-up runs")
    if cfg.data.synthetic is not None and cfg.data.synthetic.persons >= 500_000:
        plan.notes.append("500 000 persons or more: run under the big-memory lock (several GiB of memory)")
    return plan
