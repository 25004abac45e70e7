"""Importers of real register data: the official layouts mapped into the register contracts.

``impact import KIND SOURCE... --out REGISTER_DIR`` and, for notebooks, :func:`import_registers`:

* ``ir-xml``: Incomes Register XML (earnings payment reports ``WageReportsFromIR`` and the
  payers' ``WageReportsToIR`` submissions; benefits payment reports ``BenefitReportsFromIR``);
* ``fiona-incomes``: Statistics Finland's research extracts ``TAX_INCOMES`` (delivery, report,
  transactioninfo), the monthly ``TAX_SUMINCOMES`` and ``TAX_BENEFIT``;
* ``fiona-jobseekers``: the job-seeker register modules (YTHAKU, YTYOLL, YSIJOIT, YTKOKE,
  YTYOKOU + KTYOKOU, YTVPOLL, YTHAKSU, person data) and FOLK's spell files.

Column names and code lists come from mapping files (``impact/registers/mappings/*.toml``),
identifiers become integer ids through a private key table, every import writes
``import_log.json`` and the delivery manifest ``delivery.toml`` beside the registers. See ``docs/real_data.md``.
"""

from typing import Any

from impact.registers.importers.log import ImportLog, ImportRefused
from impact.registers.importers.mapping import DEFAULT_MAPPINGS, KINDS, load_mapping, shipped_mappings


def __getattr__(name: str) -> Any:
    # the import machinery (Ibis, DuckDB) loads on first use, so `impact --help` stays fast
    if name in ("import_registers", "ImportResult"):
        from impact.registers.importers import run

        return getattr(run, name)
    raise AttributeError(name)


__all__ = ["DEFAULT_MAPPINGS", "KINDS", "ImportLog", "ImportRefused", "ImportResult", "import_registers",
           "load_mapping", "shipped_mappings"]
