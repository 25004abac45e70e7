"""Compile the estimators' numba kernels ahead of first use (``scripts/setup`` runs this).

The compiled machine code is cached on disk (``@njit(cache=True)``: ``__pycache__/*.nbi|nbc``
beside each module, or ``NUMBA_CACHE_DIR``) and reused by every later process while the
source is unchanged. Without this step the first synthetic-control fit of a fresh
installation compiles for 30-45 s and the first matching run for 10-15 s. Each kernel is
reached through the public estimator on a tiny problem, so the cached signatures (dtypes,
array layouts) are the ones the estimators use.

``python -m impact.estimators.compile`` prints the seconds each family took.
"""

from __future__ import annotations

import time

import numpy as np


def _tiny(n: int = 400, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    d = (rng.random(n) < 1 / (1 + np.exp(-x[:, 0]))).astype(int)
    return pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "c": rng.integers(0, 2, n), "d": d,
                         "y": x[:, 0] + d + rng.normal(size=n), "w": rng.uniform(0.5, 2, n)})


def compile_matching() -> None:
    """Matching (radix sort, runs, greedy without replacement, column statistics, balance) and the logit."""
    from impact.estimators import matching

    df = _tiny()
    matching.match(df, "d", "y", ["x1", "x2"])
    matching.match(df, "d", "y", ["x1", "x2"], exact="c")
    matching.match(df, "d", "y", ["x1", "x2"], replace=False)
    matching.match(df, "d", "y", ["x1", "x2"], method="mahalanobis", replace=False)
    big = _tiny(5000, 1)  # the radix sort and blocked passes start at a few thousand rows
    matching.match(big, "d", "y", ["x1", "x2"], estimand="ATE")
    matching.ipw(df, "d", "y", ["x1", "x2"])


def compile_did() -> None:
    """The weighted logit of the doubly robust and IPW DiD."""
    from impact.estimators.logit import fit_logit_core

    df = _tiny()
    fit_logit_core(df[["x1", "x2"]].to_numpy(), df["d"].to_numpy().astype(float), df["w"].to_numpy())


def compile_synth() -> None:
    """The synthetic-control solver (simplex least squares, the compiled Nelder-Mead)."""
    from impact.estimators.synth.solver import fit_outcome_only, fit_weights

    rng = np.random.default_rng(0)
    J, k, T = 6, 3, 8
    X = np.ascontiguousarray(rng.normal(size=(k, J + 1)))
    Z = np.ascontiguousarray(rng.normal(size=(T, J + 1)))
    donors = np.arange(1, J + 1)
    fit_weights(X, Z, 0, donors, n_random=1, rng=0, maxfev=50)
    fit_outcome_only(Z, 0, donors)


def compile_ahead(verbose: bool = False) -> dict[str, float]:
    """Compile (or load from the on-disk cache) every numba kernel of the estimators; returns seconds per family."""
    out = {}
    for name, fn in (("matching", compile_matching), ("did", compile_did), ("synth", compile_synth)):
        t = time.perf_counter()
        fn()
        out[name] = time.perf_counter() - t
        if verbose:
            print(f"{name}: {out[name]:.1f} s", flush=True)
    return out


if __name__ == "__main__":
    compile_ahead(verbose=True)
