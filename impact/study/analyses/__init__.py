"""The analyses a study can run, each a pair of functions:

* ``run(ctx, done) -> AnalysisResult``: compute (``ctx``: :class:`impact.study.context.StudyContext`,
  ``done``: the results of the analyses before it);
* ``write(result, page)``: its report section from the result after disclosure control
  (:class:`impact.study.context.DisclosedResult`; ``page``: :class:`impact.study.document.Page`).

To add an analysis: write a module with ``run`` and ``write`` here, add it to :data:`ANALYSES`
and say in :attr:`impact.study.config.StudyConfig.analyses` when a config runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from impact.study.analyses import did, followup, matching, metrics, metrics_write, sector, synth


@dataclass(frozen=True)
class Analysis:
    """A registered analysis: its name, how it computes and how it is written up."""

    name: str
    run: Callable[..., Any]
    write: Callable[..., None]
    title: str  # wording catalogue key of its progress line


ANALYSES: dict[str, Analysis] = {a.name: a for a in (
    Analysis("followup", followup.run, followup.write, "progress_followup"),
    Analysis("matching", matching.run, matching.write, "progress_matching"),
    Analysis("sector", sector.run, sector.write, "progress_sector"),
    Analysis("did", did.run, did.write, "progress_did"),
    Analysis("synth", synth.run, synth.write, "progress_synth"),
    Analysis("metrics", metrics.run, metrics_write.write, "progress_metrics"),
)}
