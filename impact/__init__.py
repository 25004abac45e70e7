"""impact: impact evaluation of public employment services on register data."""

__version__ = "0.1.0"
