"""Synthetic registers with a known truth (``impact simulate``).

:func:`simulate` writes the five register tables of :mod:`impact.registers.schema` and a
``truth/`` folder; :func:`impact.simulate.truth.true_att` computes true effects from it.
See ``docs/synthetic_registers.md``.
"""

from impact.simulate.generate import simulate
from impact.simulate.scenario import load_scenario
from impact.simulate.truth import true_att, true_lockin

__all__ = ["simulate", "load_scenario", "true_att", "true_lockin"]
