"""How robust is this? Refutation tests of the toolkit's estimates with dowhy.

For selection-on-observables estimates (the weighting ATT of
:func:`impact.estimators.matching.ipw`), :func:`refute_ipw` rebuilds the same estimate in
dowhy, checks that dowhy reproduces the toolkit's number, and then runs dowhy's refuters:

* placebo treatment (treatment permuted): the effect should be near zero;
* random common cause (an independent covariate added): the estimate should not move
  beyond its interval;
* data subset (re-estimated on random subsets): the estimate should be stable;
* unobserved common cause (:func:`ovb_sensitivity`, Cinelli and Hazlett 2020): partial-R2
  bounds on the omitted-variable bias of the linear-regression estimate, benchmarked on
  the observed covariates; the estimate is flagged fragile when a hidden confounder as
  strong as the strongest observed covariate would bring its interval to include zero.
  (dowhy's direct simulation, which flips a share of all treatments, is not used: it
  shrinks any estimate of a rare service and so flagged valid designs too.)

dowhy's defaults are overridden on purpose: its default sklearn logistic regression is
penalised and may not converge, its weighting clips scores to [0.05, 0.95], and it caches
the score in a data column (so a refuter could reuse the original score). Here the
toolkit's own unpenalised logit is passed as the propensity model, clipping is switched
off, common causes are passed as an ordered list, and the cached score column is removed
before every refit. Panel designs have their own checks: :func:`did_checks` turns the DiD
pre-trend test into a row of the same table (the synthetic-control placebo tests live with
that estimator).

dowhy is imported lazily inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from impact.errors import DesignError, EstimationError
from impact.estimators.inference import z_critical

_PS_COL = "_impact_pscore"


class ToolkitLogit:
    """sklearn-style wrapper of the toolkit's unpenalised logit (``fit``/``predict_proba``)."""

    def fit(self, X, t):
        from impact.estimators.matching import fit_logit

        x = np.asarray(X, dtype=float)
        self.model_ = fit_logit(x, np.asarray(t).ravel().astype(bool), [f"x{i}" for i in range(x.shape[1])])
        return self

    def predict_proba(self, X):
        from scipy.special import expit

        x = np.asarray(X, dtype=float)
        p = expit(self.model_.coef[0] + x @ self.model_.coef[1:])
        return np.column_stack([1 - p, p])

    def get_params(self, deep: bool = True) -> dict:
        return {}

    def set_params(self, **params):
        return self


@dataclass
class RobustnessResults:
    """The "How robust is this?" table: one row per check, with the original estimate, the
    refuted value, a pass/fail verdict and what the check means."""

    table: pd.DataFrame
    estimate: float
    std_error: float
    reproduced: float | None = None
    sensitivity: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)
    ovb: "OVBSensitivity | None" = None

    def summary(self) -> str:
        head = f"How robust is this? (estimate {self.estimate:.4f}, s.e. {self.std_error:.4f})"
        return "\n".join([head, self.table.to_string(index=False)] + [f"Note: {n}" for n in self.notes])

    def __str__(self) -> str:
        return self.summary()


@dataclass
class OVBSensitivity:
    """Omitted-variable-bias sensitivity of a linear-regression effect (Cinelli and Hazlett 2020).

    ``estimate``/``std_error``/``dof``: the coefficient of the treatment in the OLS regression of
    the outcome on the treatment and the observed confounders (classical s.e.); ``r2_yd``: the
    partial R2 of the treatment with the outcome; ``rv``: the robustness value (a confounder that
    explains at least this share of the residual variance of both the treatment and the outcome
    brings the estimate to zero); ``rv_alpha``: the same for bringing the interval to include
    zero. ``bounds``: per benchmark covariate and multiplier k, the partial R2 of a hidden
    confounder k times as strong as that covariate (with the treatment, with the outcome), the
    bias it could cause and the adjusted estimate and interval; ``strongest``: the observed
    covariate whose k = 1 bound moves the estimate most; ``fragile``: a confounder no stronger
    than that covariate would bring the interval to include zero (or flip the sign).
    """

    estimate: float
    std_error: float
    dof: int
    r2_yd: float
    rv: float
    rv_alpha: float
    bounds: pd.DataFrame
    strongest: str
    fragile: bool
    k_ref: float = 1.0
    notes: list[str] = field(default_factory=list)


def _ols(y: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """OLS coefficients, classical standard errors and residual degrees of freedom (X has full rank)."""
    from scipy.linalg import solve_triangular

    Q, R = np.linalg.qr(X)
    beta = solve_triangular(R, Q.T @ y)
    resid = y - X @ beta
    dof = X.shape[0] - X.shape[1]
    Rinv = solve_triangular(R, np.eye(X.shape[1]))
    se = np.sqrt(resid @ resid / dof * (Rinv ** 2).sum(axis=1))
    return beta, se, dof


def _design(n: int, *cols: np.ndarray) -> np.ndarray:
    """``[1, cols...]`` as one column-major (n, q) matrix: its layout fixes the summation order of
    the multithreaded BLAS, so the same data give the same digits however they arrive."""
    q = 1 + sum(1 if c.ndim == 1 else c.shape[1] for c in cols)
    X = np.empty((n, q), order="F")
    X[:, 0] = 1.0
    j = 1
    for c in cols:  # (the treatment and a covariate matrix)
        w = 1 if c.ndim == 1 else c.shape[1]
        X[:, j:j + w] = c.reshape(n, w)
        j += w
    return X


def _robustness_value(f: float, dof: int, alpha: float | None) -> float:
    """RV_{q=1} (alpha None) or RV_{q=1,alpha} from the partial Cohen's f of the treatment."""
    from scipy.stats import t as student_t

    fq = abs(f)
    if alpha is None:
        return float(0.5 * (np.sqrt(fq ** 4 + 4 * fq ** 2) - fq ** 2))
    f_crit = abs(student_t.ppf(alpha / 2, dof - 1)) / np.sqrt(dof - 1)
    fa = fq - f_crit
    if fa <= 0:
        return 0.0
    if fq > 1 / f_crit:  # the extreme-scenario branch of the formula
        return float((fq ** 2 - f_crit ** 2) / (1 + fq ** 2))
    return float(0.5 * (np.sqrt(fa ** 4 + 4 * fa ** 2) - fa ** 2))


def ovb_sensitivity(
    data: Any,
    treatment: str,
    outcome: str,
    covariates: Sequence[str],
    benchmarks: Sequence[str] | None = None,
    multipliers: Sequence[float] = (1.0, 2.0, 3.0),
    level: float = 0.95,
    cluster: str | None = None,
) -> OVBSensitivity:
    """How strong would a hidden confounder have to be? Partial-R2 bounds benchmarked on observed covariates.

    Estimand: the coefficient of ``treatment`` in the linear regression of ``outcome`` on the
    treatment and ``covariates`` (a linear stand-in for the effect under selection on the
    covariates). Following Cinelli and Hazlett (2020, JRSS-B 82(1)), a hidden confounder Z with
    partial R2 ``R2_DZ`` with the treatment (given the covariates) and ``R2_YZ`` with the outcome
    (given treatment and covariates) biases the coefficient by at most
    ``se * sqrt(dof) * sqrt(R2_YZ * R2_DZ / (1 - R2_DZ))``. A confounder "k times as strong as
    covariate X_j" has ``R2_DZ = k f2_{D~X_j}`` and the matching bound on ``R2_YZ``; every
    covariate in ``benchmarks`` (default: all) is a benchmark, so the question becomes: would a
    confounder as strong as the strongest thing we did observe explain the effect away? The
    estimate is flagged ``fragile`` when the k = 1 bound of some observed covariate brings the
    adjusted interval to include zero (or flips its sign): then the effect rests on there being
    no hidden confounder as strong as that covariate. Unlike a simulation that flips a share of
    treatments, the bound scales with the design's own covariates, so an estimate that is large
    against its observed confounding passes and one that the data barely support does not.

    With ``cluster`` (e.g. the person, when controls recur across risk sets) the intervals and
    ``rv_alpha`` use the cluster-robust standard error of the coefficient (the classical one
    times the ratio, never less than the classical one); the bias bounds do not depend on it.

    Without ``cluster`` the results agree with dowhy's ``linear-partial-R2`` sensitivity
    analyzer (tests).
    """
    import polars as pl

    df = data.to_pandas() if isinstance(data, pl.DataFrame) else pd.DataFrame(data)
    covariates = list(covariates)
    miss = [c for c in dict.fromkeys([treatment, outcome, *covariates, *(benchmarks or []),
                                      *([cluster] if cluster else [])]) if c not in df.columns]
    if miss:
        raise DesignError(f"ovb_sensitivity: data lacks columns {miss}")
    try:
        y = df[outcome].to_numpy(dtype=float)
        d = df[treatment].to_numpy(dtype=float)
        C = df[covariates].to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise DesignError(f"ovb_sensitivity: treatment, outcome and covariates must be numeric ({exc})") from exc
    return _ovb_arrays(y, d, C, df[cluster].to_numpy() if cluster else None, treatment, outcome, covariates,
                       benchmarks, multipliers, level, cluster)


def _check_benchmarks(bench: Sequence[str], covariates: Sequence[str]) -> None:
    if not set(bench) <= set(covariates):
        raise DesignError(f"ovb_sensitivity: benchmarks {sorted(set(bench) - set(covariates))} are not covariates")


def _ovb_arrays(y: np.ndarray, d: np.ndarray, C: np.ndarray, cl: np.ndarray | None, treatment: str, outcome: str,
                covariates: list[str], benchmarks: Sequence[str] | None, multipliers: Sequence[float], level: float,
                cluster: str | None) -> OVBSensitivity:
    """:func:`ovb_sensitivity` of the outcome ``y``, treatment ``d`` and covariates ``C`` (float
    arrays; ``cl`` the cluster of each row or None); the names are for the checks and notes."""
    from scipy.stats import t as student_t

    bench = covariates if benchmarks is None else list(benchmarks)
    if not bench:
        raise DesignError("ovb_sensitivity: give at least one covariate to benchmark a hidden confounder against")
    _check_benchmarks(bench, covariates)
    if len(multipliers) == 0 or not all(np.isfinite(m) and m > 0 for m in multipliers):
        raise DesignError(f"ovb_sensitivity: multipliers must be positive numbers (k times a benchmark's strength), "
                          f"got {list(multipliers)}")
    if not 0 < level < 1:
        raise DesignError(f"ovb_sensitivity: level must be in (0, 1), got {level}")
    finite = [np.isfinite(y).all(), np.isfinite(d).all(), *np.isfinite(C).all(axis=0)]
    bad = [c for c, ok in zip([outcome, treatment, *covariates], finite) if not ok]
    if bad:
        raise DesignError(f"ovb_sensitivity: non-finite values in columns {bad}")
    n = len(y)
    X = _design(n, d, C)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise DesignError("ovb_sensitivity: the treatment and covariates are collinear (drop redundant columns)")
    beta, se, dof = _ols(y, X)
    est, se_d = float(beta[1]), float(se[1])
    tval = est / se_d
    r2_yd = tval ** 2 / (tval ** 2 + dof)
    inflate = 1.0
    if cluster:
        from impact.estimators.inference import influence_se

        a_inv = np.linalg.inv(X.T @ X / n)[1]
        psi = (X @ a_inv) * (y - X @ beta)  # influence function of the treatment coefficient
        inflate = max(1.0, float(influence_se(psi, cl)[0]) / se_d)
    alpha = 1 - level
    rv = _robustness_value(tval / np.sqrt(dof), dof, None)
    rv_a = _robustness_value(tval / inflate / np.sqrt(dof), dof, alpha)
    # partial R2 of each covariate with the outcome (given D and the rest) and with the treatment (given the rest)
    t_y = beta[2:] / se[2:]
    r2_yx = t_y ** 2 / (t_y ** 2 + dof)
    del X  # (a copy of the data: the second regression builds its own)
    bd, sd, dof_d = _ols(d, _design(n, C))
    t_d = bd[1:] / sd[1:]
    r2_dx = t_d ** 2 / (t_d ** 2 + dof_d)
    idx = np.array([covariates.index(b) for b in bench])
    k = np.asarray(multipliers, float)[:, None]
    r2dx, r2yx = r2_dx[idx][None, :], r2_yx[idx][None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        r2dz = k * r2dx / (1 - r2dx)
        r2zx = k * r2dx ** 2 / ((1 - k * r2dx) * (1 - r2dx))
        r2yz = np.minimum(((np.sqrt(k) + np.sqrt(r2zx)) / np.sqrt(1 - r2zx)) ** 2 * r2yx / (1 - r2yx), 1.0)
        valid = (r2dz < 1) & (r2zx < 1)
        bias = se_d * np.sqrt(dof) * np.sqrt(r2yz * r2dz / (1 - r2dz))
        adj = np.sign(est) * (abs(est) - bias)
        adj_se = np.sqrt((1 - r2yz) / (1 - r2dz)) * se_d * np.sqrt(dof / (dof - 1)) * inflate
    crit = float(student_t.ppf(1 - alpha / 2, dof - 1))
    lo, hi = adj - crit * adj_se, adj + crit * adj_se
    away = np.where(valid, np.sign(est) * np.where(est >= 0, lo, hi) <= 0, True)
    kk = np.broadcast_to(k, bias.shape)
    bounds = pd.DataFrame({
        "benchmark": np.broadcast_to(np.asarray(bench, dtype=object)[None, :], bias.shape).ravel(),
        "k": kk.ravel(), "r2_dz": np.where(valid, r2dz, np.nan).ravel(), "r2_yz": np.where(valid, r2yz, np.nan).ravel(),
        "bias": np.where(valid, bias, np.nan).ravel(), "adjusted_estimate": np.where(valid, adj, np.nan).ravel(),
        "adjusted_se": np.where(valid, adj_se, np.nan).ravel(), "ci_lower": np.where(valid, lo, np.nan).ravel(),
        "ci_upper": np.where(valid, hi, np.nan).ravel(), "explained_away": away.ravel(),
    })
    bounds.insert(2, "r2_d_benchmark", np.broadcast_to(r2dx, bias.shape).ravel())
    bounds.insert(3, "r2_y_benchmark", np.broadcast_to(r2yx, bias.shape).ravel())
    k_ref = 1.0 if (k == 1.0).any() else float(k.min())  # "as strong as" the benchmark, else the weakest multiple
    k1 = bounds[bounds["k"] == k_ref]
    strongest = str(k1.loc[k1["bias"].fillna(np.inf).idxmax(), "benchmark"])
    fragile = bool(k1["explained_away"].any())
    notes = [f"linear regression of {outcome} on {treatment} and {len(covariates)} covariates: {est:.4f} "
             f"(s.e. {se_d:.4f}, {dof:,} d.f.); robustness value {rv:.4f} (to zero), {rv_a:.4f} (to an interval "
             f"containing zero, level {level:.0%})",
             f"strongest observed benchmark: {strongest}"]
    if cluster:
        notes.append(f"intervals use the standard error clustered on '{cluster}' ({inflate:.2f} x the classical one)")
    return OVBSensitivity(estimate=est, std_error=se_d, dof=int(dof), r2_yd=float(r2_yd), rv=rv, rv_alpha=rv_a,
                          bounds=bounds, strongest=strongest, fragile=fragile, k_ref=k_ref, notes=notes)


def _ovb_row(ovb: OVBSensitivity, significant: bool = True) -> dict:
    """The "unobserved common cause" row of the table from the partial-R2 bounds.

    A hidden confounder can only explain away an effect that is there: when the checked estimate
    (``significant=False``) or the regression estimate (robustness value of its interval 0) is not
    significant, the row is not applicable (``passed`` None) instead of failed."""
    b1 = ovb.bounds[(ovb.bounds["benchmark"] == ovb.strongest) & (ovb.bounds["k"] == ovb.k_ref)].iloc[0]
    if not significant or not ovb.rv_alpha > 0:
        return dict(check="unobserved common cause", estimate=ovb.estimate, refuted=float(b1["adjusted_estimate"]),
                    passed=None, p_value=np.nan,
                    expectation=("not applicable: the estimate is not significant (its interval contains zero), so "
                                 "there is no effect for a hidden confounder to explain away"))
    return dict(check="unobserved common cause", estimate=ovb.estimate, refuted=float(b1["adjusted_estimate"]),
                passed=not ovb.fragile, p_value=np.nan,
                expectation=(f"a hidden confounder {b1['k']:g} x as strong as the strongest observed covariate "
                             f"({ovb.strongest}: partial R2 {b1['r2_d_benchmark']:.4f} with the treatment, "
                             f"{b1['r2_y_benchmark']:.4f} with the outcome) leaves the interval of the linear "
                             f"regression estimate ({ovb.estimate:.4f}, same confounders) away from zero "
                             f"(adjusted {b1['adjusted_estimate']:.4f} [{b1['ci_lower']:.4f}, "
                             f"{b1['ci_upper']:.4f}]); robustness value {ovb.rv:.4f}, {ovb.rv_alpha:.4f} for the "
                             "interval"))


def _top_bounds(ovb: OVBSensitivity, n: int) -> pd.DataFrame:
    """The bounds of the ``n`` strongest benchmarks (the report's sensitivity grid)."""
    order = ovb.bounds[ovb.bounds["k"] == ovb.k_ref].sort_values("bias", ascending=False, kind="mergesort")["benchmark"]
    top = list(order.head(n))
    sens = ovb.bounds[ovb.bounds["benchmark"].isin(top)].copy()
    sens["_o"] = sens["benchmark"].map({b: i for i, b in enumerate(top)})
    return sens.sort_values(["_o", "k"], kind="mergesort").drop(columns="_o").reset_index(drop=True)


def _model(df: pd.DataFrame, treatment: str, outcome: str, covariates: list[str]):
    from dowhy import CausalModel

    model = CausalModel(data=df, treatment=treatment, outcome=outcome, common_causes=list(covariates))
    # maximal adjustment = every listed common cause; the default search over backdoor sets took minutes
    # with ~35 common causes
    return model, model.identify_effect(method_name="maximal-adjustment", proceed_when_unidentifiable=True)


def _method_params() -> dict:
    return {"init_params": {"propensity_score_model": ToolkitLogit(), "min_ps_score": 0.0, "max_ps_score": 1.0,
                            "weighting_scheme": "ips_normalized_weight", "propensity_score_column": _PS_COL}}


def refute_ipw(
    data: Any,
    treatment: str,
    outcome: str,
    covariates: Sequence[str],
    n_simulations: int = 20,
    subset_fraction: float = 0.8,
    benchmarks: Sequence[str] | None = None,
    multipliers: Sequence[float] = (1.0, 2.0, 3.0),
    n_benchmarks_shown: int = 5,
    seed: int = 0,
    level: float = 0.95,
    cluster: str | None = None,
) -> RobustnessResults:
    """Refute the toolkit's weighting ATT (:func:`impact.estimators.matching.ipw`) with dowhy.

    Estimand: the ATT, E[Y(1) - Y(0) | D = 1], under selection on ``covariates``.

    Parameters
    ----------
    benchmarks, multipliers, n_benchmarks_shown
        The unobserved-confounder check (:func:`ovb_sensitivity`): observed covariates to
        benchmark a hidden confounder against (default: all), the multiples k of their strength,
        and how many of the strongest benchmarks go into ``sensitivity`` (the report's grid).
        The estimate is flagged fragile when a hidden confounder as strong as the strongest
        observed covariate (k = the smallest multiplier) would bring the linear regression
        estimate's interval to include zero. (dowhy's ``add_unobserved_common_cause`` with
        direct simulation is not used: it flips a share of all treatment values, which shrinks
        any estimate of a rare service, so it flagged valid designs as well.)
    cluster
        Column of a cluster id (e.g. the person, when controls recur across risk sets): the
        standard error that sets every pass/fail threshold clusters on it. It is not a cause.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # BLAS threads spin against each other on a busy 2-core machine
        return _refute_ipw(data, treatment, outcome, covariates, n_simulations, subset_fraction, benchmarks,
                           multipliers, n_benchmarks_shown, seed, level, cluster)


def _refute_ipw(data, treatment, outcome, covariates, n_simulations, subset_fraction, benchmarks, multipliers,
                n_benchmarks_shown, seed, level, cluster=None) -> RobustnessResults:
    import polars as pl

    from impact.estimators import matching

    df = data.to_pandas() if isinstance(data, pl.DataFrame) else pd.DataFrame(data)
    covariates = list(covariates)
    miss = [c for c in [treatment, outcome, *covariates, *([cluster] if cluster else [])] if c not in df.columns]
    if miss:
        raise DesignError(f"refute_ipw: data lacks columns {miss}")
    cl = df[cluster].to_numpy() if cluster else None
    df = df[[treatment, outcome, *covariates]].copy()
    df[treatment] = df[treatment].astype(int)  # int, not bool: dowhy's binary flip writes 0/1 ints
    tk = df.assign(**{treatment: df[treatment].astype(int)})
    if cluster:
        tk = tk.assign(_impact_cluster=cl)
    res = matching.ipw(pl.from_pandas(tk), treatment, outcome, covariates,
                       cluster="_impact_cluster" if cluster else None)
    est, se = float(res.estimates["estimate"].iloc[0]), float(res.estimates["std_error"].iloc[0])
    z = z_critical(level)

    model, ident = _model(df, treatment, outcome, covariates)
    dw = model.estimate_effect(ident, method_name="backdoor.propensity_score_weighting", target_units="att",
                               method_params=_method_params())
    if abs(dw.value - est) > 1e-6 * max(1.0, abs(est)):
        raise EstimationError(f"dowhy did not reproduce the toolkit's ATT ({dw.value:.6f} vs {est:.6f}); "
                              "refutations would test a different estimate")
    if _PS_COL in model._data:  # dowhy caches the score in the model's data: never reuse it
        model._data.pop(_PS_COL)

    def refute(method: str, **kw) -> Any:
        out = model.refute_estimate(ident, dw, method_name=method, random_seed=seed, **kw)
        if _PS_COL in model._data:
            model._data.pop(_PS_COL)
        return out

    rows = []
    pl_ref = refute("placebo_treatment_refuter", placebo_type="permute", num_simulations=n_simulations)
    ok = abs(pl_ref.new_effect) < z * se
    rows.append(dict(check="placebo treatment (permuted)", estimate=est, refuted=float(pl_ref.new_effect),
                     passed=bool(ok), expectation="near zero (within z x s.e. of the original estimate)"))
    rc = refute("random_common_cause", num_simulations=n_simulations)
    ok = abs(rc.new_effect - est) < z * se
    rows.append(dict(check="random common cause", estimate=est, refuted=float(rc.new_effect), passed=bool(ok),
                     expectation="unchanged (within the original interval)"))
    ds = refute("data_subset_refuter", subset_fraction=subset_fraction, num_simulations=n_simulations)
    ok = abs(ds.new_effect - est) < z * se
    rows.append(dict(check=f"data subset ({subset_fraction:.0%})", estimate=est, refuted=float(ds.new_effect),
                     passed=bool(ok), expectation="unchanged (within the original interval)"))

    # unobserved confounder: partial-R2 bounds benchmarked on the observed covariates (Cinelli-Hazlett)
    ovb = ovb_sensitivity(df.assign(**{cluster: cl}) if cluster else df, treatment, outcome, covariates,
                          benchmarks=benchmarks, multipliers=multipliers, level=level, cluster=cluster)
    rows.append(_ovb_row(ovb, significant=abs(est) > z * se))
    sens = _top_bounds(ovb, n_benchmarks_shown)
    notes = [f"dowhy reproduced the toolkit's estimate ({dw.value:.6f}) with the toolkit's logit, no score clipping "
             f"and normalised ATT weights", f"{n_simulations} simulations per refuter, seed {seed}",
             *([f"pass/fail thresholds use the standard error clustered on '{cluster}'"] if cluster else []),
             "the refuters test the estimate's stability, not the design: they cannot detect a confounder that is "
             "missing from the data (the sensitivity bounds say how strong one would need to be, compared with the "
             "observed covariates)", *ovb.notes]
    return RobustnessResults(table=pd.DataFrame(rows), estimate=est, std_error=se, reproduced=float(dw.value),
                             sensitivity=sens, notes=notes, ovb=ovb)


def _canonical_order(frame: "pl.DataFrame", keys: Sequence[str]) -> np.ndarray:
    """Rows in a canonical order (by ``keys``, then every other column; ties keep their order): a
    design built by joins comes back in a different row order from run to run, and every random
    draw below is by row."""
    import polars as pl

    cols = list(dict.fromkeys([*keys, *frame.columns]))
    return frame.select(pl.arg_sort_by(cols, maintain_order=True)).to_series().to_numpy()


def _permute_within(d: np.ndarray, cells: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Treatment permuted among the rows of each exact-matching cell (all rows when ``cells`` is None)."""
    if cells is None:
        return d[rng.permutation(len(d))]
    base = np.argsort(cells, kind="stable")  # rows by cell, in their order
    perm = np.lexsort((rng.random(len(d)), cells))  # rows by cell, shuffled within it
    out = np.empty_like(d)
    out[base] = d[perm]
    return out


def refute_matching(
    data: Any,
    treatment: str,
    outcome: str,
    covariates: Sequence[str],
    *,
    exact: str | Sequence[str] | None = None,
    cluster: str | None = None,
    n_simulations: int = 5,
    subset_fraction: float = 0.8,
    seed: int = 0,
    level: float = 0.95,
    benchmarks: Sequence[str] | None = None,
    multipliers: Sequence[float] = (1.0, 2.0, 3.0),
    n_benchmarks_shown: int = 5,
    order_by: Sequence[str] | None = None,
    **match_kwargs: Any,
) -> RobustnessResults:
    """Refute a nearest-neighbour matching estimate (:func:`impact.estimators.matching.match`) itself.

    Estimand: the matching estimand of ``match_kwargs`` (default the ATT) of ``outcome``; every
    check re-runs the same estimator with the same options on altered data and compares it with
    the estimate on the original data (the headline):

    * placebo treatment: the treatment permuted among the rows of each exact-matching cell (so
      the placebo keeps the cells' treated shares); the mean placebo estimate over
      ``n_simulations`` draws should be within z x s.e. of zero;
    * random common cause: an independent standard-normal covariate added to the score; the
      mean estimate should stay within z x s.e. of the headline;
    * data subset: re-estimated on random ``subset_fraction`` shares of the clusters (persons:
      all their rows together; rows when ``cluster`` is None); the mean should stay within
      z x s.e. of the headline;
    * unobserved common cause: :func:`ovb_sensitivity` (partial-R2 bounds of the linear
      regression with the same confounders, benchmarked on them), the same check as for the
      weighting estimate.

    Reproducible: rows are put in a canonical order (``order_by`` columns first, default the
    cluster, the exact cells and the treatment) and every draw comes from
    ``numpy.random.default_rng(seed)``, so the same data and options give the same table.
    """
    import polars as pl
    from threadpoolctl import threadpool_limits

    from impact.estimators.matching._input import as_list, prepare
    from impact.estimators.matching.core import match_prepared

    covariates = list(covariates)
    ex = as_list(exact)
    if match_kwargs.get("propensity") is not None:
        raise DesignError("refute_matching: the checks re-fit the propensity score on altered data; "
                          "a given score (propensity=...) cannot be refuted this way")
    bias = match_kwargs.get("bias_adjust") or False
    bias_cols = [] if isinstance(bias, bool) else as_list(bias)
    keep = list(dict.fromkeys([treatment, outcome, *covariates, *ex, *([cluster] if cluster else []), *bias_cols]))
    miss = [c for c in keep if c not in data.columns]
    if miss:
        raise DesignError(f"refute_matching: data lacks columns {miss}")
    if n_simulations < 1:
        raise DesignError(f"refute_matching: n_simulations must be >= 1, got {n_simulations}")
    if not 0 < subset_fraction < 1:
        raise DesignError(f"refute_matching: subset_fraction must be in (0, 1), got {subset_fraction}")
    _check_benchmarks(benchmarks or [], covariates)  # before the re-fits, not after them
    # only the columns the checks use (a design table has dozens more), as arrays in a canonical row
    # order; every re-estimation takes them as they are, permuted, with a column added or a subset
    # of rows (no table copies)
    frame = data.select(keep) if isinstance(data, pl.DataFrame) else pl.from_pandas(pd.DataFrame(data)[keep])
    order = _canonical_order(frame, order_by or [*([cluster] if cluster else []), *ex, treatment])
    prep = prepare(frame, treatment, outcome, covariates, exact=ex or None, cluster=cluster).take(order)
    zb = frame.select(pl.col(c).cast(pl.Float64) for c in bias_cols).to_numpy()[order] if bias_cols else None
    del frame, order
    opts = {k: v for k, v in match_kwargs.items() if k not in ("outcome", "exact", "cluster", "horizons",
                                                               "bias_adjust", "propensity")}
    rng = np.random.default_rng(seed)
    z = z_critical(level)

    def fit(p, rows: np.ndarray | None = None, vce: str | None = None) -> pd.Series:
        b = bias if zb is None else (zb if rows is None else zb[rows], bias_cols)
        return match_prepared(p, **{**opts, "vce": vce, "diagnostics": False, "bias_adjust": b}).estimates.iloc[0]

    with threadpool_limits(limits=1):
        head = fit(prep, vce=opts.get("vce", "ai"))
        est, se = float(head["estimate"]), float(head["std_error"])
        d, cells, n = prep.d, prep.strata, len(prep.d)
        if cluster:  # the persons in the order they first appear
            codes, ids = pd.factorize(prep.cluster, use_na_sentinel=False)
        plac, rcc, sub = [], [], []
        for _ in range(n_simulations):  # a handful of re-estimations (point estimates only), each vectorised
            plac.append(fit(prep.with_treatment(_permute_within(d, cells, rng)))["estimate"])
            rcc.append(fit(prep.with_covariate("_random_common_cause", rng.standard_normal(n)))["estimate"])
            if cluster:
                rows = np.flatnonzero((rng.random(len(ids)) < subset_fraction)[codes])
            else:
                rows = np.flatnonzero(rng.random(n) < subset_fraction)
            if cells is not None:  # a subset can empty a cell of one group: its rows cannot be matched
                c = cells[rows]
                nt, size = np.bincount(c, weights=d[rows]), np.bincount(c)
                rows = rows[(nt[c] > 0) & (nt[c] < size[c])]
            sub.append(fit(prep.take(rows), rows)["estimate"])
    of_clusters = f" of the {cluster.removesuffix('_id')}s" if cluster else ""  # person_id -> 'of the persons'
    rows = [
        dict(check="placebo treatment (permuted within cells)", estimate=est, refuted=float(np.mean(plac)),
             passed=bool(abs(np.mean(plac)) < z * se), expectation="near zero (within z x s.e. of the original estimate)"),
        dict(check="random common cause", estimate=est, refuted=float(np.mean(rcc)),
             passed=bool(abs(np.mean(rcc) - est) < z * se), expectation="unchanged (within the original interval)"),
        dict(check=f"data subset ({subset_fraction:.0%}{of_clusters})", estimate=est,
             refuted=float(np.mean(sub)), passed=bool(abs(np.mean(sub) - est) < z * se),
             expectation="unchanged (within the original interval)"),
    ]
    ovb = _ovb_arrays(np.ascontiguousarray(prep.y[:, 0]), prep.d.astype(float), prep.x, prep.cluster, treatment,
                      outcome, covariates, benchmarks, multipliers, level, cluster)
    del prep
    rows.append(_ovb_row(ovb, significant=abs(est) > z * se))
    kw = dict(match_kwargs, exact=exact or None, cluster=cluster)
    kw.pop("outcome", None)
    notes = [f"every check re-runs the matching estimator itself (options: "
             f"{', '.join(f'{k}={v!r}' for k, v in kw.items() if v is not None and k != 'horizons')}); "
             f"{n_simulations} draws per check, seed {seed}",
             "the refuters test the estimate's stability, not the design: they cannot detect a confounder that is "
             "missing from the data (the sensitivity bounds say how strong one would need to be, compared with the "
             "observed covariates)", *ovb.notes]
    return RobustnessResults(table=pd.DataFrame(rows), estimate=est, std_error=se, reproduced=est,
                             sensitivity=_top_bounds(ovb, n_benchmarks_shown), notes=notes, ovb=ovb)


def refute_design(design: Any, outcome: str | None = None, *, data: Any = None,
                  covariates: Sequence[str] | None = None, exact: Sequence[str] | None = None,
                  **kwargs: Any) -> RobustnessResults:
    """:func:`refute_matching` of a :class:`~impact.designs.dynamic.RiskSetDesign`'s headline estimate.

    Estimand: the matching estimate of
    :func:`impact.estimators.matching.design.match_design` with the same arguments (``k=5``
    unless given), at ``outcome`` (default: employment at the longest horizon). ``data``,
    ``covariates`` and ``exact`` default to the design's own (a study passes its population's
    rows and chosen covariates, as it does to ``match_design``); the design's person clustering
    is used; other ``kwargs`` go to :func:`refute_matching` and on to
    :func:`~impact.estimators.matching.match`.
    """
    if outcome is None:
        emp = [o for o in design.outcomes if o.startswith("employed_h")] or list(design.outcomes)
        outcome = max(emp, key=lambda o: design.horizons.get(o, 0))
    kwargs.setdefault("k", 5)
    return refute_matching(design.data if data is None else data, "treated", outcome,
                           list(design.covariates if covariates is None else covariates),
                           exact=list(design.exact if exact is None else exact), cluster=design.cluster, **kwargs)


def did_checks(res: Any, level: float = 0.95, min_e: float | None = None) -> pd.DataFrame:
    """The DiD pre-trend check as a row of the "How robust is this?" table.

    ``res`` is the group-time result of :func:`impact.estimators.did.att_gt`; the check is its
    Wald test that every pre-treatment ATT(g, t) is zero (passed when not rejected at
    ``1 - level``); with ``min_e`` only the cells at event times ``min_e .. -1`` (the event
    window of a stacked design).
    """
    if not hasattr(res, "pretest"):
        raise DesignError(f"did_checks needs an att_gt result with pretest(), got {type(res).__name__}")
    pt = res.pretest() if min_e is None else res.pretest(min_e=min_e)
    cells = "all pre-treatment ATT(g,t) = 0" if min_e is None else f"pre-treatment ATT(g,t) = 0 for e = {min_e:g}..-1"
    return pd.DataFrame([dict(check=f"DiD pre-trends (Wald, {cells})", estimate=np.nan,
                              refuted=float(pt.statistic), p_value=float(pt.p_value), passed=bool(pt.p_value > 1 - level),
                              expectation=f"all pre-treatment effects zero (Wald test not rejected at "
                                          f"{1 - level:.0%}); here chi2({pt.df}) = {pt.statistic:.2f}, "
                                          f"p = {pt.p_value:.3f}")])


def _row(check: str, estimate: float, refuted: float, passed: bool, expectation: str,
         p_value: float = np.nan) -> dict:
    return dict(check=check, estimate=float(estimate), refuted=float(refuted), passed=bool(passed),
                expectation=expectation, p_value=float(p_value))


def synth_checks(res: Any, placebo: Any = None, in_time: Any = None, leave_one_out: Any = None,
                 level: float = 0.95, time_label: Any = str, max_pre_mspe_ratio: float = 5.0) -> pd.DataFrame:
    """The synthetic-control placebo tests as rows of the "How robust is this?" table.

    Estimand checked: the ATT of one treated unit, the mean gap over the post-treatment periods.

    * in-space placebo (``res.placebo()``): the treated unit's post/pre RMSPE ratio ranked
      among the donors refitted as if treated; passed when ``p <= 1 - level`` (the effect stands
      out; with fewer than ``1 / (1 - level)`` units no rank can pass, and the expectation says
      so), the row shows the permutation p-value (also in ``p_value``);
    * the same p-value keeping only placebos whose pre-period MSPE is at most
      ``max_pre_mspe_ratio`` times the treated unit's (Abadie et al. 2010; SCtools' ``mspe.limit``);
    * permutation interval: the ATT minus the spread of the placebo ATTs excludes zero (the
      threshold, the ``level`` quantile of the absolute placebo ATTs, is the check value in the
      outcome's units);
    * in-time placebo (``res.in_time_placebo(t)`` fitted on pre-treatment periods only): its
      mean gap over ``[t, T0)`` is within the spread of the placebo ATTs (no 'effect' before
      the treatment);
    * leave-one-out (``res.leave_one_out()``): every refit without one positive-weight donor
      keeps the sign of the ATT.

    ``time_label`` formats a period for the check names (e.g. a month index as ``2018-01``).
    """
    if not hasattr(res, "att") or not hasattr(res, "paths"):
        raise DesignError(f"synth_checks needs a SynthResults, got {type(res).__name__}")
    att = float(res.att())
    alpha = 1 - level
    rows = []
    q = float("nan")
    if placebo is not None:
        g = placebo.gaps
        p_att = g[(~g["treated"]) & (g["time"] >= res.treatment_time)].groupby("unit")["gap"].mean().to_numpy()
        q = float(np.quantile(np.abs(p_att), level)) if p_att.size else float("nan")
        rows.append(_row(f"in-space placebo (rank {placebo.rank} of {placebo.n_units})", att, placebo.p_value,
                         placebo.p_value <= alpha,
                         f"the treated area's post/pre RMSPE ratio is among the largest (p = {placebo.p_value:.3f}; "
                         f"the smallest possible p with {placebo.n_units} units is {1 / placebo.n_units:.3f})",
                         p_value=placebo.p_value))
        n_u, p_u = placebo.pre_fit_filter(max_pre_mspe_ratio)
        if n_u < placebo.n_units:  # the same row as above when no placebo fits poorly
            rows.append(_row(f"in-space placebo, donors with good pre-fit ({n_u} units)", att, p_u, p_u <= alpha,
                             f"same, keeping placebos whose pre-period MSPE is at most {max_pre_mspe_ratio:g}x the "
                             "treated area's", p_value=p_u))
        rows.append(_row("permutation interval excludes zero", att, q, abs(att) > q,
                         f"|ATT| larger than the {level:.0%} quantile of |placebo ATTs| (the check value)"))
    if in_time is not None:
        gi = float(in_time.att())
        ok = abs(gi) <= q if q == q else abs(gi) < abs(att)
        rows.append(_row(f"in-time placebo (treatment moved back to {time_label(in_time.treatment_time)})", att, gi, ok,
                         "near zero: no 'effect' before the real treatment (within the spread of placebo ATTs)"))
    if leave_one_out is not None and len(leave_one_out.summary):
        s = leave_one_out.summary["att"]
        ok = bool((np.sign(s) == np.sign(att)).all())
        worst = float(s.iloc[int(np.argmin(np.abs(s)))])
        rows.append(_row(f"leave one donor out ({len(s)} refits)", att, worst, ok,
                         f"every refit keeps the sign of the ATT (range {s.min():.4f} to {s.max():.4f})"))
    return pd.DataFrame(rows, columns=["check", "estimate", "refuted", "passed", "expectation", "p_value"])


def did_placebo_in_time(data: Any, unit: str, time: str, group: str, outcome: str, shift: int = 3,
                        level: float = 0.95, **att_gt_options: Any) -> pd.DataFrame | None:
    """The DiD placebo in time (:func:`impact.estimators.did.placebo_in_time`) as a row of the
    "How robust is this?" table: every cohort's start moved ``shift`` periods earlier, the
    placebo ATT over the fake event times estimated on pre-treatment outcomes only; passed
    when its interval contains zero.

    Returns None when that function is not available in this version of
    :mod:`impact.estimators.did` (the report then says the check was not run).
    """
    try:
        from impact.estimators.did import placebo_in_time
    except ImportError:
        return None
    pr = placebo_in_time(data, unit=unit, time=time, group=group, outcome=outcome, shift=shift, level=level,
                         **att_gt_options)
    o = pr.overall
    return pd.DataFrame([_row(f"DiD placebo in time (cohorts moved {shift} periods earlier)", np.nan, o.estimate,
                              pr.covers_zero,
                              f"near zero: placebo ATT {o.estimate:.4f} [{o.ci_lower:.4f}, {o.ci_upper:.4f}], "
                              f"p = {o.p_value:.3f}", p_value=o.p_value)])
