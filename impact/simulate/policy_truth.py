"""The generator's truth for allocation rules: each job seeker's true effect of each service.

A rule's true value needs, for every person it allocates, the effect of every service it
could give her, not only of the one she received. The generator writes the potential
outcomes of the services that took place (``truth/service_effects`` after the service's
end, ``truth/service_participation`` during it; 'not now' = without this start, as in the
risk-set design). This module turns them into conditional effects:

1. :func:`realised_effects`: for each realised start (person, start month, service type),
   the true individual effect ``employed_1 - employed_0`` in month ``start + h`` (during
   participation for ``h`` below the service length, after its end otherwise).
2. :func:`conditional_effects`: for each arm ``k``, a regression (histogram gradient
   boosting) of those individual effects on the covariates among the starts of ``k``,
   giving ``tau_k(x) = E[Y(k) - Y(none) | X = x]`` for every row. In the generator selection
   into services depends only on recorded characteristics (in the ``default``,
   ``heterogeneous`` and ``homogeneous`` scenarios), so the effect among those who started
   ``k`` at ``x`` is the effect anyone at ``x`` would have had: the regression estimates
   the conditional effect of the whole population. Rows whose own start is in the fitting
   data get out-of-fold predictions (folds of persons), so nobody's truth contains her own
   realised outcome.

The result is the truth up to the regression's error (which shrinks with the number of
starts; ``benchmarks/mc_policy.py`` fits it on pooled populations of about a million
persons). Pure functions of the truth tables and the rows; nothing here imports the
pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import polars as pl

from impact.errors import ConfigError


def realised_effects(truth_dir: str | Path | None, horizon: int, service_types: Sequence[str],
                     effects: pl.DataFrame | None = None, participation: pl.DataFrame | None = None) -> pl.DataFrame:
    """True individual effect of every realised start of the listed services, ``horizon`` months after its start month.

    Parameters
    ----------
    truth_dir
        The ``truth/`` folder (or None with ``effects`` and ``participation`` given as frames,
        the tables ``service_effects`` and ``service_participation``).
    horizon
        Months after the start month (``h >= 0``).
    service_types
        Service types to keep.

    Returns
    -------
    polars.DataFrame
        ``person_id, start_month, service_type, effect`` (``employed_1 - employed_0`` in month
        ``start_month + horizon``; one row per start, the first start when a person starts two
        services of one type in the same month).
    """
    if horizon < 0:
        raise ConfigError(f"horizon must be >= 0 months after the start, got {horizon}")
    types = list(service_types)
    cols = ["person_id", "service_type", "start_month", "month", "employed_1", "employed_0"]
    if effects is None or participation is None:
        if truth_dir is None:
            raise ConfigError("give the truth folder or both truth tables")
        root = Path(truth_dir)
        for name in ("service_effects", "service_participation"):
            if not (root / f"{name}.parquet").exists():
                raise ConfigError(f"no truth file {root / name}.parquet; generate registers with `impact simulate`")
        effects = pl.scan_parquet(root / "service_effects.parquet")
        participation = pl.scan_parquet(root / "service_participation.parquet")
    during = participation.lazy().filter(pl.col("service_type").is_in(types)).with_columns(
        start_month=(pl.col("month") - pl.col("r").cast(pl.Int32)))
    after = effects.lazy().filter(pl.col("service_type").is_in(types))
    out = (pl.concat([during.select(cols), after.select(cols)], how="vertical_relaxed")
           .filter(pl.col("month") == pl.col("start_month") + horizon)
           .select("person_id", "start_month", "service_type",
                   effect=(pl.col("employed_1").cast(pl.Float64) - pl.col("employed_0").cast(pl.Float64)))
           .sort("person_id", "start_month", "service_type")
           .unique(["person_id", "start_month", "service_type"], keep="first", maintain_order=True))
    return out.collect()


def conditional_effects(rows: pl.DataFrame, realised: pl.DataFrame, arms: Sequence[str], covariates: Sequence[str],
                        arm: str = "arm", month: str = "m", person: str = "person_id", n_folds: int = 5,
                        seed: int = 0, fit_rows: pl.DataFrame | None = None) -> np.ndarray:
    """True conditional effect of every arm vs none for every row, from realised individual effects.

    Parameters
    ----------
    rows
        The rows to give truths to (e.g. a multi-service design: ``person``, ``month`` of the
        decision, ``arm`` code, ``covariates``).
    realised
        :func:`realised_effects` (``person_id, start_month, service_type, effect``).
    arms
        Arm names; ``arms[0]`` is no service (effect 0), ``arms[k]`` the service type of code k.
    covariates
        Numeric columns the effects are regressed on.
    fit_rows
        Rows whose starts train the regressions (default ``rows``); e.g. a large pooled
        reference population. Starts of ``rows`` that are also in ``fit_rows`` (same person
        and month) get out-of-fold predictions.

    Returns
    -------
    numpy.ndarray
        ``len(rows) x len(arms)``; column 0 is zero.
    """
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    fit_rows = rows if fit_rows is None else fit_rows
    need = [person, month, arm, *covariates]
    for name, df in (("rows", rows), ("fit_rows", fit_rows)):
        miss = [c for c in need if c not in df.columns]
        if miss:
            raise ConfigError(f"conditional_effects: {name} lack columns {miss}")
    code = pl.DataFrame({"service_type": list(arms[1:]), arm: list(range(1, len(arms)))},
                        schema={"service_type": pl.String, arm: fit_rows.schema[arm]})
    real = realised.join(code, on="service_type").rename({"start_month": month, "person_id": person})
    real = real.with_columns(pl.col(month).cast(fit_rows.schema[month]), pl.col(person).cast(fit_rows.schema[person]))
    fit = fit_rows.filter(pl.col(arm) > 0).select(need).join(real.select(person, month, arm, "effect"),
                                                               on=[person, month, arm], how="inner")
    out = np.zeros((rows.height, len(arms)))
    x_all = rows.select([pl.col(c).cast(pl.Float64) for c in covariates]).to_numpy()
    key_rows = rows.select(person, month, arm).with_row_index("_r")
    kw = dict(max_iter=300, learning_rate=0.05, min_samples_leaf=400, max_leaf_nodes=15, l2_regularization=1.0, early_stopping=True,
              validation_fraction=0.15, n_iter_no_change=20, random_state=seed)
    with threadpool_limits(limits=1):
        for k in range(1, len(arms)):  # a handful of services
            fk = fit.filter(pl.col(arm) == k)
            if fk.height < 50:
                raise ConfigError(f"conditional_effects: only {fk.height} realised starts of {arms[k]} to learn from")
            xk = fk.select([pl.col(c).cast(pl.Float64) for c in covariates]).to_numpy()
            yk = fk["effect"].to_numpy()
            pid = fk[person].to_numpy()
            fold = (np.unique(pid, return_inverse=True)[1].ravel() * 2654435761 + seed) % n_folds
            models = [HistGradientBoostingRegressor(**kw).fit(xk[fold != f], yk[fold != f]) for f in range(n_folds)]
            full = np.mean([m.predict(x_all) for m in models], axis=0)
            # a row whose own start trained the models gets the prediction of the fold without it
            own = key_rows.join(fk.select(person, month, arm).with_row_index("_f"), on=[person, month, arm],
                                how="inner")
            if own.height:
                r_idx, f_idx = own["_r"].to_numpy(), own["_f"].to_numpy()
                for f in range(n_folds):  # a handful of folds
                    sel = fold[f_idx] == f
                    full[r_idx[sel]] = models[f].predict(x_all[r_idx[sel]])
            out[:, k] = full
    return out


def arm_effects(truth_dir: str | Path, rows: pl.DataFrame, arms: Sequence[str], horizon: int,
                covariates: Sequence[str], **kwargs) -> np.ndarray:
    """:func:`conditional_effects` of the realised starts in ``truth_dir`` (the study's truth for a design)."""
    return conditional_effects(rows, realised_effects(truth_dir, horizon, arms[1:]), arms, covariates, **kwargs)
