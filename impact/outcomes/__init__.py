"""Phase 1 outcomes: the person x month earnings panel and placement follow-up outcomes.

Written once as Ibis expressions (run on embedded DuckDB by default; backend-neutral), with
results returned as polars frames. Definitions: ``docs/outcomes.md``.
"""

from impact.outcomes.config import OutcomeConfig, config_from_dict, load_config
from impact.outcomes.panel import earnings_panel, month_table
from impact.outcomes.pipeline import OutcomeTables, compute_outcomes, connect, run_outcomes
from impact.outcomes.outcomes import segment_baseline, unit_outcomes

__all__ = [
    "OutcomeConfig", "config_from_dict", "load_config", "earnings_panel", "month_table",
    "OutcomeTables", "compute_outcomes", "connect", "run_outcomes", "segment_baseline", "unit_outcomes",
]
