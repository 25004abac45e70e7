"""Input registers: data contracts, reading and validation."""

from impact.registers.schema import CONTRACTS, TableContract

__all__ = ["CONTRACTS", "TableContract"]
