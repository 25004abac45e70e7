"""Writing generated registers in the layouts real data arrive in (``impact simulate --layout``).

``ir-xml``: Incomes Register XML distributions plus the job-seeker register with the same
identifiers (:mod:`impact.simulate.layout_xml`); ``fiona``: Statistics Finland's research
extracts (:mod:`impact.simulate.layout_fiona`). Importing the result with ``impact import``
gives registers on which the outcome stage computes exactly what it computes on the
generator's own registers (``tests/test_import_roundtrip.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path

import polars as pl

from impact.errors import ConfigError

LAYOUTS = ("ir-xml", "fiona")
TABLES = ("persons", "jobseeking_spells", "service_spells", "earnings_reports", "benefit_reports", "integration_plans",
          "areas")


def read_native(folder: str | Path) -> tuple[dict[str, pl.DataFrame | pl.LazyFrame], dt.date]:
    """The generator's register tables of a folder (the report tables lazily) and its extraction date."""
    folder = Path(folder)
    big = ("earnings_reports", "benefit_reports")  # read lazily: national scale is tens of millions of rows
    reg = {n: (pl.scan_parquet if n in big else pl.read_parquet)(folder / f"{n}.parquet") for n in TABLES
           if (folder / f"{n}.parquet").exists()}
    run = folder / "truth" / "run.toml"
    if not run.exists():
        raise ConfigError(f"{folder}: not a generated register folder (truth/run.toml missing)")
    extraction = dt.date.fromisoformat(tomllib.loads(run.read_text())["extraction_date"])
    return reg, extraction


def write_layout(native: str | Path, layout: str, out: str | Path, fmt: str = "parquet") -> list[Path]:
    """Write the generated registers of ``native`` in ``layout`` into ``out`` (replaced atomically).

    Parameters
    ----------
    native
        A folder written by :func:`impact.simulate.simulate`.
    layout
        ``"ir-xml"`` or ``"fiona"``.
    out
        Output folder (built beside it, then published in one step, :mod:`impact.publish`).
    fmt
        File format of the tabular modules: ``parquet``, ``csv``, ``stata`` or ``sas``.

    Returns
    -------
    The files written.
    """
    if layout not in LAYOUTS:
        raise ConfigError(f"--layout {layout!r} unknown; expected one of {LAYOUTS}")
    from impact.publish import check_replaceable, discard, publish, staging_dir

    reg, extraction = read_native(native)
    what = f"simulate --layout {layout}"
    out = check_replaceable(out, what)
    tmp = staging_dir(out)
    try:
        if layout == "ir-xml":
            from impact.simulate.layout_xml import write_ir_xml

            files = write_ir_xml(reg, tmp, extraction, fmt)
        else:
            from impact.simulate.layout_fiona import write_fiona

            files = write_fiona(reg, tmp, extraction, fmt)
        (tmp / "layout.json").write_text(json.dumps({
            "layout": layout, "format": fmt, "extraction_date": extraction.isoformat(), "generated_from": str(native),
            "import": _import_hint(layout)}, indent=2))
        publish(tmp, out, what)
    except BaseException:
        discard(tmp)
        raise
    return [out / f.relative_to(tmp) for f in files]


def _import_hint(layout: str) -> list[str]:
    if layout == "ir-xml":
        return ["impact import fiona-jobseekers jobseeker_register/tem_tyonhakija/* jobseeker_register/tem_tyonhaku/* "
                "jobseeker_register/service_costs.* --areas jobseeker_register/employment_areas.csv "
                "--namespace person=hetu --namespace employer=ytunnus --out REGISTERS",
                "impact import ir-xml incomes_register/*.xml --mapping ir_2022_synthetic --out REGISTERS"]
    return ["impact import fiona-jobseekers tem_tyonhakija/* tem_tyonhaku/* service_costs.* "
            "--areas employment_areas.csv --out REGISTERS",
            "impact import fiona-incomes tax_incomes/* tax_benefit/* --mapping tax_incomes_002_synthetic --out REGISTERS"]


__all__ = ["LAYOUTS", "read_native", "write_layout"]
