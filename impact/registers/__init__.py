"""Input registers: data contracts, reading and validation."""

from impact.registers.read import Problem, read_registers, read_table, scan_table
from impact.registers.schema import CONTRACTS, TableContract
from impact.registers.validate import ValidationReport, validate_folder, validate_tables

__all__ = [
    "CONTRACTS",
    "Problem",
    "TableContract",
    "ValidationReport",
    "read_registers",
    "read_table",
    "scan_table",
    "validate_folder",
    "validate_tables",
]
