"""Run many synthetic-control fits on one panel: serially or in worker processes.

Placebo and leave-one-out analyses refit the same specification with another treated column
or another donor pool. The panel matrices are shared with the workers by ``fork`` (set as a
module global before the pool starts), so nothing large is pickled per task.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from impact.estimators.synth.solver import WeightFit, fit_outcome_only, fit_weights


@dataclass(frozen=True)
class FitOptions:
    """How V is chosen: ``v`` fixed, or searched from ``n_random`` random starts plus two."""

    v: tuple | None = None
    n_random: int = 4
    seed: int = 0
    maxfev: int | None = None


def fit_columns(X: np.ndarray | None, Z: np.ndarray, treated: int, donors: np.ndarray, opts: FitOptions) -> WeightFit:
    """One fit: outcome-only when ``X`` is None, else nested over V."""
    donors = np.asarray(donors, dtype=np.int64)
    if X is None:
        return fit_outcome_only(Z, treated, donors)
    v = None if opts.v is None else np.asarray(opts.v, dtype=float)
    return fit_weights(X, Z, treated, donors, v=v, n_random=opts.n_random, rng=opts.seed, maxfev=opts.maxfev)


_SHARED: tuple | None = None


def _work(task: tuple[int, np.ndarray]) -> WeightFit:
    X, Z, opts = _SHARED  # type: ignore[misc]
    return fit_columns(X, Z, task[0], task[1], opts)


def run_fits(
    X: np.ndarray | None,
    Z: np.ndarray,
    tasks: list[tuple[int, np.ndarray]],
    opts: FitOptions,
    n_jobs: int | None = 2,
) -> list[WeightFit]:
    """Fit every ``(treated column, donor columns)`` task; ``n_jobs`` worker processes (fork).

    Falls back to a serial loop for one job, one task, or where ``fork`` is unavailable.
    """
    global _SHARED
    if n_jobs is None:
        n_jobs = os.cpu_count() or 1
    if n_jobs <= 1 or len(tasks) <= 1 or "fork" not in mp.get_all_start_methods():
        return [fit_columns(X, Z, t, d, opts) for t, d in tasks]
    _SHARED = (X, Z, opts)
    try:
        with ProcessPoolExecutor(max_workers=min(n_jobs, len(tasks)), mp_context=mp.get_context("fork")) as ex:
            chunk = max(1, len(tasks) // (4 * n_jobs))
            return list(ex.map(_work, tasks, chunksize=chunk))
    finally:
        _SHARED = None
