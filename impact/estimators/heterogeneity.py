"""For whom does it work: effects on the treated by segment, a best linear projection of the
effect on segment indicators, and a targeting table from a causal forest.

Estimands
---------
* ``CATT`` for segment value g of a segment variable S: ``E[Y(1) - Y(0) | D = 1, S = g]``,
  the average effect on the treated in that segment. Estimated with the doubly robust
  (augmented, Hajek-normalised odds-weighted) ATT score within the segment,
  ``theta_g = mean_{D=1,S=g}(Y - m0(X)) - sum_{D=0,S=g} w (Y - m0(X)) / sum_{D=0,S=g} w``,
  ``w = e(X) / (1 - e(X))``, with the nuisances ``e`` (propensity) and ``m0`` (outcome
  without the service) fitted by histogram gradient boosting and cross-fitted over folds of
  persons (clusters; 5 folds by default). Standard errors come from the influence function
  (clustered on the person), which is valid with cross-fitting; a Wald test per segment
  variable tests that all its segments have the same effect. The interval does not contain
  the noise of the random fold split itself: with 2 folds it was about 0.45 standard errors
  on a 20,000-person register (intervals covered 0.89-0.94 in a Monte Carlo), with 5 folds
  about 0.15 (0.94-0.98; ``benchmarks/mc_heterogeneity.py``). ``n_repeats > 1`` averages
  over several splits and adds their spread to the variance. Rows are sorted into a
  canonical order first, so the same data in another row order gives the same numbers.
* Best linear projection (BLP): weighted least squares of the doubly robust (AIPW) pseudo-
  outcome ``phi = m1 - m0 + D (Y - m1) / e - (1 - D)(Y - m0) / (1 - e)`` on all segment
  indicators jointly, weighted by ``e(X)`` so that the projection is taken over the treated's
  covariate distribution; cluster-robust (influence-function) standard errors. Coefficients
  are differences in effect against the reference level of each segment variable, holding
  the other segment variables fixed.
* Targeting table: an ``econml`` ``CausalForestDML`` (nuisances by histogram gradient
  boosting, cross-fitted) is fitted on one half of the persons; on the other half the
  treated are grouped by quantiles of the forest's predicted effect, and the DR ATT of each
  group (with its CI) and the group's profile are reported (a GATES-style check that the
  ranking is real, out of sample).

``econml`` is imported lazily inside :func:`heterogeneous_effects`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import polars as pl

from impact.errors import DesignError, ImpactError
from impact.estimators.inference import influence_se, influence_vcov, normal_ci, p_value, wald_test
from impact.estimators.results import EstimationResults, tidy_estimates

#: Segment variables derived from the dynamic design's table by :func:`dynamic_segments`.
DYNAMIC_SEGMENTS = ["age_band", "sex", "education", "language", "duration_band", "long_term", "segment",
                    "employment_area"]


def dynamic_segments(data: pl.DataFrame | pd.DataFrame, long_term: int = 12) -> pl.DataFrame:
    """Add segment columns to a :func:`impact.designs.dynamic.risk_set_design` table.

    ``age_band`` (<25, 25-49, 50+), ``sex`` (F/M), ``education`` (basic, upper secondary,
    tertiary), ``language`` (fi, sv, other), ``duration_band`` (unemployment duration at
    the start: 0-5, 6-11, ``long_term``+ months, from ``u``), ``long_term`` (``"yes"`` when
    ``u >= long_term``: the long-term unemployed as the register and the generator's truth
    define them, unemployed ``long_term`` months or more when the service starts), plus the design's ``segment``
    (service line; rebuilt from the design's ``segment_*`` indicators, the omitted level
    labelled ``reference``) and ``employment_area`` columns when present.
    """
    df = pl.from_pandas(data) if isinstance(data, pd.DataFrame) else data
    need = {"age", "female", "educ_basic", "educ_tertiary", "lang_sv", "lang_other", "u"}
    miss = sorted(need - set(df.columns))
    if miss:
        raise DesignError(f"dynamic_segments: the design table lacks columns {miss}; expected a risk_set_design table")
    seg_dummies = sorted(c for c in df.columns if c.startswith("segment_"))
    if "segment" not in df.columns and seg_dummies:  # the design keeps only indicators: rebuild the label
        expr = pl.lit("reference")
        for c in reversed(seg_dummies):
            expr = pl.when(pl.col(c) > 0.5).then(pl.lit(c.removeprefix("segment_"))).otherwise(expr)
        df = df.with_columns(segment=expr)
    return df.with_columns(
        age_band=pl.when(pl.col("age") < 25).then(pl.lit("<25")).when(pl.col("age") < 50).then(pl.lit("25-49"))
        .otherwise(pl.lit("50+")),
        sex=pl.when(pl.col("female") > 0.5).then(pl.lit("F")).otherwise(pl.lit("M")),
        education=pl.when(pl.col("educ_basic") > 0.5).then(pl.lit("basic"))
        .when(pl.col("educ_tertiary") > 0.5).then(pl.lit("tertiary")).otherwise(pl.lit("upper_secondary")),
        language=pl.when(pl.col("lang_sv") > 0.5).then(pl.lit("sv")).when(pl.col("lang_other") > 0.5)
        .then(pl.lit("other")).otherwise(pl.lit("fi")),
        duration_band=pl.when(pl.col("u") < 6).then(pl.lit("0-5")).when(pl.col("u") < long_term)
        .then(pl.lit(f"6-{long_term - 1}")).otherwise(pl.lit(f"{long_term}+")),
        long_term=pl.when(pl.col("u") >= long_term).then(pl.lit("yes")).otherwise(pl.lit("no")),
    )


@dataclass
class HeterogeneityResults(EstimationResults):
    """Effects on the treated by segment (``estimates``: one row per segment variable x value,
    plus the overall ATT with ``segment_var == "all"``), the BLP table, heterogeneity tests and
    the targeting table."""

    blp: pd.DataFrame = field(default_factory=pd.DataFrame)
    tests: pd.DataFrame = field(default_factory=pd.DataFrame)
    targeting: pd.DataFrame = field(default_factory=pd.DataFrame)
    nuisance: dict[str, np.ndarray] = field(default_factory=dict)

    def segment(self, var: str) -> pd.DataFrame:
        """The rows of ``estimates`` for one segment variable."""
        if var not in set(self.estimates["segment_var"]):
            raise DesignError(f"no segment variable {var!r}; have {sorted(set(self.estimates['segment_var']))}")
        return self.estimates[self.estimates["segment_var"] == var].reset_index(drop=True)

    def summary(self) -> str:
        cols = ["segment_var", "segment", "estimate", "std_error", "ci_lower", "ci_upper", "n_treated"]
        parts = [super().summary().split("\n\n")[0], "", "Effects on the treated by segment:",
                 self.estimates[cols].to_string(index=False, float_format=lambda x: f"{x:,.4f}"),
                 "", "Equal-effect tests:", self.tests.to_string(index=False),
                 "", "Best linear projection:", self.blp.to_string(index=False, float_format=lambda x: f"{x:,.4f}")]
        if len(self.targeting):
            parts += ["", "Targeting (out-of-sample groups by predicted effect):",
                      self.targeting.to_string(index=False, float_format=lambda x: f"{x:,.4f}")]
        parts += [""] + [f"Note: {n}" for n in self.notes]
        return "\n".join(parts)


def _folds(cluster: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Fold id per row, constant within cluster (person)."""
    _, inv = np.unique(cluster, return_inverse=True)
    perm = rng.permutation(inv.max() + 1)
    return (perm[inv.ravel()] % k).astype(np.int64)


def _subsample(idx: np.ndarray, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    return idx if cap is None or len(idx) <= cap else np.sort(rng.choice(idx, cap, replace=False))


def _features(df: pl.DataFrame, covariates: list[str], categorical: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix for the boosting nuisances: numeric covariates, categoricals as codes."""
    cols = []
    for c in covariates:
        s = df[c]
        if not s.dtype.is_numeric() and s.dtype != pl.Boolean:
            raise DesignError(f"covariate '{c}' has type {s.dtype}; expected numeric (pass it as a categorical)")
        cols.append(s.cast(pl.Float64).to_numpy())
    for c in categorical:
        cols.append(df[c].cast(pl.Utf8).rank("dense").cast(pl.Float64).to_numpy() - 1.0)
    x = np.column_stack(cols) if cols else np.zeros((df.height, 0))
    is_cat = np.array([False] * len(covariates) + [True] * len(categorical))
    return x, is_cat


def _cross_fit(x, is_cat, d, y, folds, k, cap, seed, rng, need_m1: bool):
    """Cross-fitted e(X), m0(X) and (optionally) m1(X) by histogram gradient boosting."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cat = is_cat if is_cat.any() else None
    kw = dict(max_iter=100, learning_rate=0.1, min_samples_leaf=50, early_stopping=True, validation_fraction=0.1,
              n_iter_no_change=10, random_state=seed, categorical_features=cat)
    n = len(d)
    e, m0, m1 = np.empty(n), np.empty(n), np.full(n, np.nan)
    for f in range(k):  # a handful of folds
        test = folds == f
        train = np.flatnonzero(~test)
        tr = _subsample(train, cap, rng)
        clf = HistGradientBoostingClassifier(**kw).fit(x[tr], d[tr])
        e[test] = clf.predict_proba(x[test])[:, 1]
        c0 = _subsample(train[~d[train]], cap, rng)
        m0[test] = HistGradientBoostingRegressor(**kw).fit(x[c0], y[c0]).predict(x[test])
        if need_m1:
            c1 = _subsample(train[d[train]], cap, rng)
            m1[test] = HistGradientBoostingRegressor(**kw).fit(x[c1], y[c1]).predict(x[test])
    return e, m0, m1


def _catt(mask: np.ndarray, d: np.ndarray, r: np.ndarray, w0: np.ndarray) -> tuple[float, np.ndarray]:
    """Hajek DR ATT within ``mask`` and its influence function (length n, zero outside)."""
    t = mask & d
    c = mask & ~d
    n = len(d)
    p1 = t.sum() / n
    q0 = (w0 * c).sum() / n
    if t.sum() == 0 or q0 <= 0:
        return float("nan"), np.zeros(n)
    a1 = r[t].mean()
    a0 = (w0 * r)[c].sum() / (w0[c].sum())
    psi = np.where(t, (r - a1) / p1, 0.0) - np.where(c, w0 * (r - a0) / q0, 0.0)
    return float(a1 - a0), psi


def _dummies(df: pl.DataFrame, seg: Mapping[str, str]) -> tuple[np.ndarray, list[str]]:
    """Indicators of every non-reference level of every segment variable (reference = largest
    treated group is not known here, so the first level in sorted order)."""
    cols, names = [], []
    for name, col in seg.items():
        v = df[col].cast(pl.Utf8).fill_null("(missing)").to_numpy()
        for lev in sorted(set(v))[1:]:
            cols.append((v == lev).astype(float))
            names.append(f"{name}={lev}")
    return (np.column_stack(cols) if cols else np.zeros((df.height, 0))), names


def _scores(d: np.ndarray, y: np.ndarray, e: np.ndarray, m0: np.ndarray, m1: np.ndarray,
            seg_values: Mapping[str, np.ndarray], Z: np.ndarray) -> dict:
    """One cross-fitting split: overall and segment CATTs with their influence functions, and the
    BLP coefficients with theirs (see the module docstring for the scores)."""
    n = len(d)
    r = y - m0
    w0 = np.where(d, 0.0, e / (1 - e))
    labels, theta, psis, empty = [], [], [], []
    est, psi = _catt(np.ones(n, bool), d, r, w0)
    labels.append(("all", "all", int(d.sum()), int((~d).sum())))
    theta.append(est)
    psis.append(psi)
    for name, v in seg_values.items():
        for lev in sorted(set(v)):  # a few levels per segment variable
            m = v == lev
            est, psi = _catt(m, d, r, w0)
            if np.isnan(est):
                empty.append(f"{name}={lev}")
                continue
            labels.append((name, str(lev), int((m & d).sum()), int((m & ~d).sum())))
            theta.append(est)
            psis.append(psi)
    phi = m1 - m0 + np.where(d, (y - m1) / e, 0.0) - np.where(d, 0.0, (y - m0) / (1 - e))
    wz = Z * e[:, None]
    A = wz.T @ Z / n
    beta = np.linalg.lstsq(A, wz.T @ phi / n, rcond=None)[0]
    psi_b = (np.linalg.pinv(A) @ (wz * (phi - Z @ beta)[:, None]).T).T
    return dict(labels=labels, theta=np.array(theta), psi=np.column_stack(psis), empty=empty, beta=beta,
                psi_b=psi_b)


def _aggregate(fits: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Combine estimates over cross-fitting splits: the mean, with variance the mean over splits of
    ``V_s + (theta_s - theta_bar)(theta_s - theta_bar)'`` (Chernozhukov et al. 2018, mean aggregation)."""
    th = np.mean([t for t, _ in fits], axis=0)
    V = np.mean([v + np.outer(t - th, t - th) for t, v in fits], axis=0)
    return th, V


def heterogeneous_effects(
    data: Any,
    treatment: str,
    outcome: str,
    covariates: Sequence[str],
    segments: Sequence[str] | Mapping[str, str],
    categorical: Sequence[str] = (),
    cluster: str | None = None,
    horizon: float | None = None,
    n_folds: int = 5,
    n_repeats: int = 1,
    nuisance_max_rows: int | None = 100_000,
    forest: bool = True,
    forest_max_rows: int = 40_000,
    n_groups: int = 5,
    clip: float = 0.01,
    seed: int = 0,
    level: float = 0.95,
    n_threads: int | None = 1,
) -> HeterogeneityResults:
    """Effects on the treated by segment, their best linear projection and a targeting table.

    Parameters
    ----------
    data
        polars or pandas table, one row per unit (e.g. a dynamic design's risk-set rows).
    treatment, outcome
        0/1 treatment column and one numeric outcome column.
    covariates
        Numeric confounders for the nuisance models.
    segments
        Segment variables: column names, or a mapping display name -> column. Every value of
        each is a segment (use a few levels per variable; see :func:`dynamic_segments`).
    categorical
        Extra categorical confounders (e.g. employment area, calendar quarter), used by the
        nuisance models as categories.
    cluster
        Person column: folds are formed by person and standard errors cluster on it.
    n_folds, n_repeats, nuisance_max_rows
        Cross-fitting folds (of persons when ``cluster`` is given), repeated over ``n_repeats``
        random splits (estimates: the mean over splits; variance: the mean of the influence-function
        variance plus the squared deviation of each split's estimate from the mean, so the
        split-to-split noise of the nuisance fits is in the interval). With 2 folds that noise was
        about 0.45 standard errors on a 20,000-person register, with 5 folds about 0.15. Each
        nuisance model is fitted on at most ``nuisance_max_rows`` rows of its training folds (a
        random subsample; recorded in the notes). The rows are put in a canonical order first, so
        the result does not depend on the order of the input rows.
    forest, forest_max_rows, n_groups
        Fit the ``econml`` causal forest for the targeting table on half of the persons
        (at most ``forest_max_rows`` rows) and report ``n_groups`` groups of the other half.
    clip
        Propensity scores are clipped to ``[clip, 1 - clip]`` in the scores (counted in notes).
    n_threads
        OpenMP/BLAS threads (default 1: on a busy 2-core machine sklearn's OpenMP threads
        spin against each other and a boosting fit became ~30x slower; None leaves the
        libraries' defaults).
    """
    from impact.estimators._threads import threads

    with threads(n_threads):
        return _heterogeneous_effects(data, treatment, outcome, covariates, segments, categorical, cluster, horizon,
                                      n_folds, n_repeats, nuisance_max_rows, forest, forest_max_rows, n_groups, clip,
                                      seed, level)


def _heterogeneous_effects(data, treatment, outcome, covariates, segments, categorical, cluster, horizon, n_folds,
                           n_repeats, nuisance_max_rows, forest, forest_max_rows, n_groups, clip, seed, level):
    df = pl.from_pandas(data) if isinstance(data, pd.DataFrame) else data
    if not isinstance(df, pl.DataFrame):
        raise DesignError(f"data must be a polars or pandas DataFrame, got {type(data).__name__}")
    seg = dict(segments) if isinstance(segments, Mapping) else {s: s for s in segments}
    covariates, categorical = list(covariates), list(categorical)
    need = [treatment, outcome, *covariates, *categorical, *seg.values()] + ([cluster] if cluster else [])
    miss = [c for c in dict.fromkeys(need) if c not in df.columns]
    if miss:
        raise DesignError(f"heterogeneous_effects: data lacks columns {miss}; has {df.columns}")
    if not seg:
        raise DesignError("heterogeneous_effects: give at least one segment variable")
    if int(n_folds) != n_folds or n_folds < 2 or int(n_repeats) != n_repeats or n_repeats < 1:
        raise DesignError(f"heterogeneous_effects: n_folds must be an integer >= 2 and n_repeats an integer >= 1, "
                          f"got n_folds={n_folds!r}, n_repeats={n_repeats!r}")
    nulls = {c: df[c].null_count() for c in [treatment, outcome, *covariates] if df[c].null_count()}
    if nulls:
        raise DesignError(f"heterogeneous_effects: missing values in {nulls} (rows with nulls must be dropped first)")
    dv = df[treatment].cast(pl.Float64).to_numpy()
    if not np.isin(dv, (0.0, 1.0)).all():
        raise DesignError(f"treatment column '{treatment}' must be 0/1, found values {np.unique(dv)[:5].tolist()}")
    d = dv == 1.0
    y = df[outcome].cast(pl.Float64).to_numpy()
    if not np.isfinite(y).all():
        raise DesignError(f"outcome column '{outcome}' has non-finite values in {int((~np.isfinite(y)).sum())} rows")
    if d.sum() < 20 or (~d).sum() < 20:
        raise DesignError(f"heterogeneous_effects needs at least 20 treated and 20 controls, got {int(d.sum())} "
                          f"treated and {int((~d).sum())} controls")
    n = len(d)
    cl = df[cluster].to_numpy() if cluster else np.arange(n)
    x, is_cat = _features(df, covariates, categorical)
    # canonical row order: the nuisance fits (early-stopping split, subsamples) depend on the order
    # of the rows, and design builders' joins do not fix it; sort by person, then by the data
    cl_key = (np.unique(cl, return_inverse=True)[1].ravel(),) if cluster else ()
    order = np.lexsort((*x.T[::-1], y, dv, *cl_key))
    df, d, y, cl, x = df[order], d[order], y[order], cl[order], x[order]
    rng = np.random.default_rng(seed)
    clu = cl if cluster else None
    seg_values = {name: df[col].cast(pl.Utf8).fill_null("(missing)").to_numpy() for name, col in seg.items()}
    Z, znames = _dummies(df, seg)
    Z = np.column_stack([np.ones(n), Z])
    reps = []
    for _ in range(n_repeats):  # a few repetitions of the cross-fitting split
        folds = _folds(cl, n_folds, rng)
        e_raw, m0, m1 = _cross_fit(x, is_cat, d, y, folds, n_folds, nuisance_max_rows, seed, rng, need_m1=True)
        e = np.clip(e_raw, clip, 1 - clip)
        reps.append(dict(_scores(d, y, e, m0, m1, seg_values, Z), e_raw=e_raw, e=e, m0=m0, m1=m1, folds=folds))
    rep0 = reps[0]
    notes = [f"nuisances (propensity, outcome models) by histogram gradient boosting, cross-fitted over {n_folds} "
             f"folds of {'persons' if cluster else 'rows'}"
             + (f", repeated over {n_repeats} random splits (estimates are the mean over splits; the variance adds "
                f"the spread between splits)" if n_repeats > 1 else "")]
    if nuisance_max_rows is not None and n * (n_folds - 1) / n_folds > nuisance_max_rows:
        notes.append(f"each nuisance model was fitted on a random subsample of at most {nuisance_max_rows:,} rows")
    n_clip = int(((rep0["e_raw"] < clip) | (rep0["e_raw"] > 1 - clip)).sum())
    if n_clip:
        notes.append(f"{n_clip} propensity scores clipped to [{clip}, {1 - clip}]")
    notes += [f"segment {lab} has no treated or no comparable controls: no estimate" for lab in rep0["empty"]]

    # segment CATTs: mean over splits, variance = mean over splits of (IF variance + squared deviation)
    th, V = _aggregate([(r_["theta"], influence_vcov(r_["psi"], clu)) for r_ in reps])
    rows = [dict(segment_var=sv, segment=lev, estimate=t_, n_treated=nt, n_controls=nc)
            for (sv, lev, nt, nc), t_ in zip(rep0["labels"], th)]
    tests = []
    for name in seg:
        idx = [i for i, lab in enumerate(rep0["labels"]) if lab[0] == name]
        k = len(idx)
        if k >= 2:
            C = np.column_stack([np.ones(k - 1), -np.eye(k - 1)])  # theta_1 - theta_j
            stat, dof, pv = wald_test(C @ th[idx], C @ V[np.ix_(idx, idx)] @ C.T)
            tests.append(dict(segment_var=name, n_segments=k, wald=stat, df=dof, p_value=pv,
                              spread=float(th[idx].max() - th[idx].min())))
    tab = pd.DataFrame(rows)
    tab.insert(0, "outcome", outcome)
    tab.insert(1, "estimand", "CATT")
    tab.insert(2, "horizon", np.nan if horizon is None else horizon)
    tab["std_error"] = np.sqrt(np.diag(V))
    tab = tidy_estimates(tab, level)

    # best linear projection -------------------------------------------------------------
    beta, Vb = _aggregate([(r_["beta"], influence_vcov(r_["psi_b"], clu)) for r_ in reps])
    se_b = np.sqrt(np.diag(Vb))
    lo, hi = normal_ci(beta, se_b, level)
    blp = pd.DataFrame({"term": ["(reference profile)"] + znames, "coef": beta, "std_error": se_b, "ci_lower": lo,
                        "ci_upper": hi, "p_value": p_value(beta, se_b)})
    e, m0, m1, folds = rep0["e"], rep0["m0"], rep0["m1"], rep0["folds"]
    r = y - m0
    w0 = np.where(d, 0.0, e / (1 - e))

    # targeting table from an out-of-sample causal forest ------------------------------------
    targeting = pd.DataFrame()
    if forest:
        targeting, tnotes = _targeting(df, d, y, x, is_cat, Z[:, 1:], znames, seg, cl, r, w0, forest_max_rows,
                                       n_groups, seed, rng, level, clu)
        notes += tnotes
    notes.append("segment effects are descriptive: a segment's effect also reflects other characteristics that "
                 "differ between segments (see the BLP for effects holding the other segments fixed)")
    info = {"n_obs": n, "n_treated": int(d.sum()), "n_controls": int((~d).sum()), "n_folds": n_folds,
            "n_repeats": n_repeats,
            "mean_propensity_treated": float(e[d].mean())}
    inv = np.empty_like(order)
    inv[order] = np.arange(n)  # back to the caller's row order
    return HeterogeneityResults(
        estimates=tab, method="doubly robust effects on the treated by segment (cross-fitted boosting nuisances)",
        level=level, notes=notes, info=info, blp=blp, tests=pd.DataFrame(tests), targeting=targeting,
        nuisance={k_: v_[inv] for k_, v_ in
                  {"propensity": e, "m0": m0, "m1": m1, "fold": folds}.items()},
    )


def _targeting(df, d, y, x, is_cat, Z, znames, seg, cl, r, w0, cap, n_groups, seed, rng, level, clu):
    """Fit CausalForestDML on half A of the persons, group half B's treated by predicted effect."""
    try:
        from econml.dml import CausalForestDML
    except ImportError as exc:  # pragma: no cover - econml is in the lock
        raise ImpactError("the targeting table needs econml (pip install econml)") from exc
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    half = _folds(cl, 2, np.random.default_rng(seed + 1)) == 0
    a = _subsample(np.flatnonzero(half), cap, rng)
    kw = dict(max_iter=100, min_samples_leaf=50, random_state=seed)
    cf = CausalForestDML(
        model_y=HistGradientBoostingRegressor(**kw), model_t=HistGradientBoostingClassifier(**kw),
        discrete_treatment=True, cv=2, n_estimators=100, min_samples_leaf=max(20, len(a) // 500),
        max_samples=0.45, random_state=seed, n_jobs=1,
    )
    W = x[:, ~is_cat] if (~is_cat).any() else None
    cf.fit(y[a], d[a].astype(int), X=Z[a], W=None if W is None else W[a])
    b = ~half
    tau_hat = cf.effect(Z[b]).ravel()
    tb = d[b]
    cuts = np.unique(np.quantile(tau_hat[tb], np.linspace(0, 1, n_groups + 1)[1:-1]))
    g = np.unique(np.searchsorted(cuts, tau_hat, side="right"), return_inverse=True)[1].ravel()
    n_groups = int(g.max()) + 1  # ties in the predictions merge quantile groups
    rows, psis = [], []
    rb, wb, db = r[b], w0[b], d[b]
    for j in range(n_groups):  # a handful of groups
        m = g == j
        est, psi = _catt(m, db, rb, wb)
        prof = {f"share {nm}": float(Z[b][m & db, i].mean()) if (m & db).any() else np.nan
                for i, nm in enumerate(znames)}
        rows.append({"group": j + 1, "predicted_effect": float(tau_hat[m & db].mean()), "estimate": est,
                     "n_treated": int((m & db).sum()), "n_controls": int((m & ~db).sum()), **prof})
        psis.append(psi)
    se = influence_se(np.column_stack(psis), None if clu is None else clu[b])
    t = pd.DataFrame(rows)
    t.insert(3, "std_error", se)
    lo, hi = normal_ci(t["estimate"], se, level)
    t.insert(4, "ci_lower", lo)
    t.insert(5, "ci_upper", hi)
    notes = [f"targeting: econml CausalForestDML (100 trees, boosting nuisances, 2-fold cross-fitting) on "
             f"{len(a):,} rows of half the persons; groups are quintiles of its predicted effect among the other half's "
             f"treated, each with its own doubly robust ATT (out of sample)",
             "targeting caveats: predicted effects use only the segment characteristics; groups describe who gained "
             "most in the past under the past selection, not who would gain if assignment changed; a ranking is only "
             "supported where the group estimates differ beyond their intervals"]
    return t, notes


def design_heterogeneity(design: Any, outcome: str, segments: Sequence[str] = ("sex", "long_term"),
                         long_term: int = 12, **kwargs: Any) -> HeterogeneityResults:
    """Segment effects on a :func:`impact.designs.dynamic.risk_set_design` (the matching design).

    Estimand per segment: the ATT of starting the service in month u rather than not then
    (the design's 'join now vs wait' contrast), among the design's treated rows in that
    segment, for ``outcome`` (e.g. ``employed_h12``). Confounders are the design's
    covariates; its exact-matching cells (elapsed month u, calendar quarter, employment area,
    service length) enter the nuisance models as categories; folds and standard errors
    cluster on the person. ``kwargs`` go to :func:`heterogeneous_effects`.
    """
    data = dynamic_segments(design.data, long_term=long_term)
    if outcome not in data.columns:
        raise DesignError(f"design_heterogeneity: the design has no outcome {outcome!r}; it has {design.outcomes}")
    cat = [c for c in design.exact if c in data.columns]
    kwargs.setdefault("cluster", design.cluster)
    res = heterogeneous_effects(data, "treated", outcome, list(design.covariates), list(segments), categorical=cat,
                                horizon=design.horizons.get(outcome), **kwargs)
    res.notes.append(f"design: {design.estimand}")
    return res
