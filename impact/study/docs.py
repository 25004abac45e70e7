"""The config reference (``docs/config.md``), generated from the option classes.

``python -m impact.study.docs > docs/config.md`` rewrites it; a test checks that the committed
file is up to date.
"""

from __future__ import annotations

from impact.options import KeyDoc, describe

HEADER = """# Study config reference

Generated from the option classes by `python -m impact.study.docs > docs/config.md`; do not edit
by hand. A study config (`studies/NAME.toml`) has the sections below. Every key is checked: an
unknown key, a value of the wrong type or outside its range, and a key that none of the study's
analyses reads (column *read by*) are refused with a message naming the key. Informational keys
change no number and are printed in the report.

The analyses a config runs follow from it: `followup` (unless `[estimators.followup] enabled =
false`), then by `treatment.design`: `dynamic` runs `matching` (with `[estimators.matching]`) and
`did` (with `[estimators.did]`), `did_cohorts` runs `did`, `sector_contrast` runs `sector` (with
`[estimators.matching]`), `synthetic_control` runs `synth` (with `[estimators.synth]`, and peer
groups with `[estimators.peer_groups]`); `metrics` runs when `[metrics]` is given. `[population]`
restricts every one of them.
"""


def _row(k: KeyDoc) -> str:
    read = "all" if k.applies is None else ", ".join(k.applies)
    doc = k.doc + (" *(informational: printed in the report)*" if k.informational else "")
    allowed = k.allowed.replace("|", "\\|")
    return f"| `{k.key}` | {k.kind} | `{k.default}` | {allowed} | {read} | {doc} |"


def config_reference() -> str:
    """The Markdown text of ``docs/config.md``."""
    from impact.study.config import ESTIMATORS, SECTIONS
    from impact.study.data import MOVED as DATA_MOVED
    from impact.study.data import DataOptions, SyntheticSource

    parts = [HEADER]
    order = ["study", "data", "population", "unit", "treatment", "comparison", "outcomes", "design", "estimators",
             "report", "disclosure", "metrics"]
    moved_all: list[tuple[str, str]] = []
    for name in order:
        if name == "data":
            blocks = [("data", DataOptions, DATA_MOVED), ("data.synthetic", SyntheticSource, {})]
        elif name == "estimators":
            blocks = [(f"estimators.{n}", cls, mv) for n, (cls, mv) in ESTIMATORS.items()]
        else:
            cls, mv = SECTIONS[name]
            blocks = [(name, cls, mv)]
        for path, cls, moved in blocks:
            doc = (cls.__doc__ or "").strip().splitlines()[0]
            parts.append(f"\n## `[{path}]`\n\n{doc}\n")
            parts.append("| key | type | default | allowed | read by | what it does |")
            parts.append("|---|---|---|---|---|---|")
            rows = describe(cls, path)
            if path.startswith("estimators."):
                parts.append(f"| `{path}.enabled` | true/false | `true` |  | all | false: the section is kept but "
                             "its analysis does not run. |")
            if path == "data":
                parts.append("| `data.<backend>` | table | `{}` |  | all | Settings of the chosen backend "
                             "(`[data.duckdb]`, `[data.pyspark]`, `[data.snowflake]`; see docs/backends.md). |")
            parts += [_row(k) for k in rows]
            moved_all += [(f"{path}.{k}", why) for k, why in moved.items()]
    parts.append("\n## Keys no longer accepted\n\nA config that still has one of these gets an error saying where "
                 "its setting went.\n")
    parts.append("| key | instead |")
    parts.append("|---|---|")
    parts += [f"| `{k}` | {why} |" for k, why in moved_all]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":  # pragma: no cover - the documented command
    print(config_reference(), end="")
