"""How much would parallel trends have to fail? Honest event-study bounds (Rambachan and Roth 2023).

An event study estimates ``beta = (beta_pre, beta_post)`` = ``(delta_pre, tau_post + delta_post)``:
the post-period coefficients are the effects ``tau_post`` plus the post-period violation of
parallel trends ``delta_post``; the pre-period coefficients estimate the pre-period
violations ``delta_pre``. Instead of assuming ``delta_post = 0``, restrict it by what the
pre-periods show and report the confidence set for the target ``theta = l'tau_post`` (the
average effect, or the effect at one event time) that is valid for every ``delta`` in:

* ``method="relative_magnitude"`` (``Delta^RM(Mbar)``): every post-period change of the
  violation ``|delta_t - delta_{t-1}|`` is at most ``Mbar`` times the largest pre-period one;
* ``method="smoothness"`` (``Delta^SD(M)``): the slope of the violation changes by at most
  ``M`` per period (``|delta_{t+1} - 2 delta_t + delta_{t-1}| <= M``); ``M = 0`` allows only a
  linear trend continuing the pre-period one.

Inference as the R package ``HonestDiD``: relative magnitudes by the conditional test of
Andrews, Roth and Pakes (``inference="conditional"``) or its least-favourable hybrid
(``"C-LF"``, the default); smoothness by the optimal fixed-length interval (``"FLCI"``, the
default), ``"C-LF"`` or ``"conditional"``. Conditional sets are computed on HonestDiD's grid
of the target (1000 points); simulated critical values use R's random numbers with
HonestDiD's seed, so the bounds agree with the R package to its printed digits
(``tests/test_honest_golden.py``).

The breakdown value is the smallest ``Mbar`` (``M``) at which the set includes zero: the
result survives violations up to that size.

Input: any event study that exposes its event times, coefficients and their covariance
(see :class:`EventStudy`), e.g. ``att_gt(..., base_period="universal").aggregate("dynamic")``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
import pandas as pd
from scipy import optimize, stats

from impact.errors import DesignError
from impact.estimators._threads import blas_single_thread
from impact.estimators.did import _arp
from impact.estimators.did._flci import optimal_flci

METHODS = ("relative_magnitude", "smoothness")
INFERENCE = {"relative_magnitude": ("C-LF", "conditional"), "smoothness": ("FLCI", "C-LF", "conditional")}
DEFAULT_M = {"relative_magnitude": (0.0, 0.5, 1.0, 1.5, 2.0)}
#: Variance given to coefficients without sampling variance, relative to the median one.
FIXED_VARIANCE = 1e-8


# --------------------------------------------------------------------------- input protocol
@runtime_checkable
class EventStudyLike(Protocol):
    """What :func:`honest_bounds` needs from an event study.

    ``event_times``: consecutive integers (e.g. months relative to treatment);
    ``coefficients``: one estimate per event time; ``vcov``: their covariance matrix.
    Optional ``reference_period`` (default -1): the normalised period (its coefficient is
    zero by construction); if present among the event times it is dropped. Periods before it
    are pre-periods, periods after it post-periods.
    """

    event_times: Any
    coefficients: Any
    vcov: Any


@dataclass(frozen=True)
class EventStudy:
    """A plain event study: the protocol's three arrays and the reference period."""

    event_times: np.ndarray
    coefficients: np.ndarray
    vcov: np.ndarray
    reference_period: int = -1

    def __post_init__(self):
        e = np.asarray(self.event_times)
        b = np.asarray(self.coefficients, dtype=float)
        V = np.asarray(self.vcov, dtype=float)
        if e.ndim != 1 or b.shape != e.shape:
            raise DesignError(f"event study: {len(b)} coefficients for {len(e)} event times")
        if V.shape != (len(e), len(e)):
            raise DesignError(f"event study: covariance matrix is {V.shape}, expected {(len(e), len(e))}")
        if not np.all(np.isfinite(b)) or not np.all(np.isfinite(V)):
            bad = e[~np.isfinite(b) | ~np.isfinite(np.diag(V))]
            raise DesignError(f"event study: missing coefficient or variance at event time(s) {bad.tolist()}")


def event_study(result: Any) -> EventStudy:
    """The event study behind ``result``.

    ``result`` is an :class:`EventStudy`, any object with ``event_times``, ``coefficients``
    and ``vcov`` (:class:`EventStudyLike`), or an ``att_gt(...).aggregate("dynamic")`` result:
    its event-time estimates and the covariance from their influence functions (clustered as
    the fit). The latter must use ``base_period="universal"`` so that every coefficient is
    relative to the same period (as R ``HonestDiD::honest_did`` requires); the reference
    period is ``-1 - anticipation``.
    """
    if isinstance(result, EventStudy):
        return result
    if all(hasattr(result, a) for a in ("event_times", "coefficients", "vcov")):
        vc = result.vcov() if callable(result.vcov) else result.vcov
        return EventStudy(np.asarray(result.event_times), np.asarray(result.coefficients, dtype=float),
                          np.asarray(vc, dtype=float), int(getattr(result, "reference_period", -1)))
    kind = getattr(result, "kind", None)
    if kind is not None and hasattr(result, "psi"):
        if kind != "dynamic":
            raise DesignError(f"honest bounds need an event study: aggregate('dynamic'), got aggregate({kind!r})")
        base = result.info.get("base_period")
        if base != "universal":
            raise DesignError(
                f"honest bounds need an event study with a common reference period: fit att_gt(..., "
                f"base_period='universal') (this one has base_period={base!r}, whose pre-period coefficients "
                "are period-to-period changes)")
        est = result.estimates
        V = result.vcov() if hasattr(result, "vcov") and callable(result.vcov) else None
        if V is None:
            from impact.estimators.inference import influence_vcov

            V = influence_vcov(result.psi, getattr(result, "cluster", None))
        ref = -1 - int(result.info.get("anticipation", 0) or 0)
        e = est["event_time"].to_numpy()
        keep = e != ref
        return EventStudy(e[keep], est["estimate"].to_numpy(dtype=float)[keep], np.asarray(V)[np.ix_(keep, keep)], ref)
    raise DesignError(
        f"honest bounds need an event study (event_times, coefficients, vcov) or att_gt(...).aggregate('dynamic'); "
        f"got {type(result).__name__}")


# --------------------------------------------------------------------------- restrictions
def _rm_constraints(npre: int, npost: int, mbar: float, s: int, positive: bool) -> np.ndarray:
    """Rows ``A`` of ``A delta <= 0``: every first difference bounded by the pre-period one at
    ``s`` (``delta_s - delta_{s-1}``, signed), ``Mbar`` times it after treatment; columns are
    the coefficients without the reference period."""
    T = npre + npost
    D = np.zeros((T, T + 1))
    D[np.arange(T), np.arange(T)] = -1.0
    D[np.arange(T), np.arange(T) + 1] = 1.0
    v = np.zeros(T + 1)
    v[npre + s - 1], v[npre + s] = -1.0, 1.0
    if not positive:
        v = -v
    ub = np.vstack([np.tile(v, (npre, 1)), np.tile(mbar * v, (npost, 1))])
    A = np.vstack([D - ub, -D - ub])
    A = A[(A**2).sum(axis=1) > 1e-10]
    return np.delete(A, npre, axis=1)


def _sd_constraints(npre: int, npost: int) -> np.ndarray:
    """Rows of ``|second difference| <= M`` (``A delta <= M``), reference period dropped."""
    T = npre + npost
    D = np.zeros((T - 1, T + 1))
    for r in range(T - 1):
        D[r, r:r + 3] = (1.0, -2.0, 1.0)
    D = np.delete(D, npre, axis=1)
    return np.vstack([D, -D])


def _gamma(l_vec: np.ndarray) -> np.ndarray:
    """Invertible matrix with first row ``l'`` and unit vectors (all but the last nonzero of l)."""
    last = int(np.flatnonzero(l_vec)[-1])
    rows = [l_vec] + [np.eye(len(l_vec))[j] for j in range(len(l_vec)) if j != last]
    return np.vstack(rows)


def _arp_accept(beta, sigma, npre, A, d, l_vec, thetas, alpha, hybrid, rows, seed) -> np.ndarray:
    """ARP test of each grid value with the post-period coefficients as nuisance (HonestDiD's
    ``.ARP_computeCI``), on the moments ``rows``."""
    kappa = alpha / 10
    AG = A[:, npre:] @ np.linalg.inv(_gamma(l_vec))
    Y = A @ beta - d
    SY = A @ sigma @ A.T
    Yr, ar, Xr, Sr = Y[rows], AG[rows, 0], AG[rows, 1:], SY[np.ix_(rows, rows)]
    lf = _arp.lf_cv_nuisance(Xr, Sr, kappa, seed=seed) if hybrid == "LF" else None
    return _arp.nuisance_test_grid(Yr, ar, Xr, Sr, thetas, alpha, hybrid, kappa, lf)


def _id_set_sd(M: float, npre: int, npost: int, l_vec: np.ndarray) -> tuple[float, float]:
    """Identified set of ``l'tau`` under ``Delta^SD(M)`` when every coefficient is zero."""
    A = _sd_constraints(npre, npost)
    T = npre + npost
    A_eq = np.hstack([np.eye(npre), np.zeros((npre, npost))])
    c = np.concatenate([np.zeros(npre), l_vec])
    kw = dict(A_ub=A, b_ub=np.full(len(A), M), A_eq=A_eq, b_eq=np.zeros(npre), bounds=[(None, None)] * T, method="highs")
    lo = optimize.linprog(c, **kw)
    hi = optimize.linprog(-c, **kw)
    if lo.status != 0 or hi.status != 0:
        return 0.0, 0.0
    return float(-(-hi.fun)), float(-lo.fun)  # (0 - max, 0 - min)


@dataclass
class _Grid:
    thetas: np.ndarray
    accept: np.ndarray

    def bounds(self) -> tuple[float, float, bool]:
        acc = self.thetas[self.accept > 0]
        if acc.size == 0:
            return np.nan, np.nan, False
        open_end = bool(self.accept[0] > 0 or self.accept[-1] > 0)
        return float(acc.min()), float(acc.max()), open_end


def _blocks(npre: int, npost: int, method: str, m: float):
    """The restrictions ``A delta <= d`` whose union (relative magnitudes: one per pre-period
    difference and sign) or single set (smoothness) defines ``Delta``; the flag says whether
    only the moments with the post period enter a one-post-period test (relative magnitudes)."""
    if method == "relative_magnitude":
        for s in range(-(npre - 1), 1):  # which pre-period difference is the largest
            for positive in (True, False):
                A = _rm_constraints(npre, npost, m, s, positive)
                yield A, np.zeros(len(A)), True
    else:
        A = _sd_constraints(npre, npost)
        yield A, np.full(len(A), m), False


def _test_grid(es: EventStudy, method: str, inference: str, m: float, l_vec: np.ndarray, alpha: float, seed: int,
               thetas: np.ndarray, first_accept: bool = False) -> np.ndarray:
    """Acceptance of each value of the target on ``thetas`` (HonestDiD's conditional or C-LF test;
    the union over the restriction blocks). ``first_accept``: stop at the first block that accepts."""
    beta, sigma = es.coefficients, es.vcov
    npre = int((es.event_times < es.reference_period).sum())
    npost = len(beta) - npre
    hybrid = "LF" if inference == "C-LF" else "ARP"
    kappa = alpha / 10
    e_first = np.zeros(len(beta))
    e_first[npre] = 1.0
    accept = np.zeros(len(thetas))
    for A, d, post_rows_only in _blocks(npre, npost, method, m):
        if npost == 1:
            if post_rows_only:
                keep = A[:, -1] != 0
                A, d = A[keep], d[keep]
            lf = _arp.lf_cv_no_nuisance(A @ sigma @ A.T, kappa, seed=seed) if hybrid == "LF" else None
            acc = _arp.no_nuisance_test_grid(beta, sigma, A, d, e_first, thetas, alpha, hybrid, kappa, lf)
        else:
            rows = np.flatnonzero((A[:, npre:] != 0).any(axis=1))
            acc = _arp_accept(beta, sigma, npre, A, d, l_vec, thetas, alpha, hybrid, rows, seed)
        accept = np.maximum(accept, acc)
        if first_accept and accept.any():
            break
    return accept


def _conditional_set(es: EventStudy, method: str, inference: str, m: float, l_vec: np.ndarray, alpha: float,
                     grid_points: int, seed: int, widen: float = 1.0) -> _Grid:
    """The set on HonestDiD's grid: +/- 20 sd of the target around 0 (relative magnitudes) or
    around the identified set when every coefficient is 0 (smoothness); ``widen`` scales it."""
    npre = int((es.event_times < es.reference_period).sum())
    npost = len(es.coefficients) - npre
    half = 20 * float(np.sqrt(l_vec @ es.vcov[npre:, npre:] @ l_vec)) * widen
    lo, hi = (0.0, 0.0) if method == "relative_magnitude" else _id_set_sd(m, npre, npost, l_vec)
    thetas = np.linspace(lo - half, hi + half, grid_points)
    return _Grid(thetas, _test_grid(es, method, inference, m, l_vec, alpha, seed, thetas))


def _accepts(es: EventStudy, method: str, inference: str, m: float, l_vec: np.ndarray, alpha: float, seed: int,
             theta: float = 0.0) -> bool:
    """Is ``theta`` in the conditional confidence set at ``m``?"""
    return bool(_test_grid(es, method, inference, m, l_vec, alpha, seed, np.array([theta]), first_accept=True)[0] > 0)


# --------------------------------------------------------------------------- results
@dataclass
class HonestBounds:
    """Confidence sets for the target under bounded violations of parallel trends.

    Attributes
    ----------
    table : DataFrame
        One row per value of the restriction: ``m`` (``Mbar`` or ``M``), ``lower``, ``upper``,
        ``includes_zero``, ``open`` (the set reached the edge of the grid).
    original : dict
        The interval under exact parallel trends: ``estimate``, ``std_error``, ``lower``, ``upper``.
    breakdown : float
        Smallest ``m`` at which the set includes zero, to 1 % (0 when even the original
        interval does; ``inf`` when no ``m`` up to ``breakdown_max`` does). For the
        conditional sets zero itself is tested (not the nearest points of the grid).
    """

    table: pd.DataFrame
    original: dict
    breakdown: float
    method: str
    inference: str
    target: str
    l_vec: np.ndarray
    level: float
    event_times: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def estimate(self) -> float:
        return float(self.original["estimate"])

    def sensitivity_table(self) -> pd.DataFrame:
        """The original interval (``m`` blank, ``kind="original"``) and the robust sets, for plotting."""
        o = self.original
        head = pd.DataFrame([{"m": np.nan, "lower": o["lower"], "upper": o["upper"], "kind": "original"}])
        rob = self.table[["m", "lower", "upper"]].assign(kind=self.inference)
        return pd.concat([head, rob], ignore_index=True)

    def summary(self) -> str:
        mname = "Mbar" if self.method == "relative_magnitude" else "M"
        o = self.original
        lines = [f"Honest bounds ({self.method}, {self.inference}) for {self.target}, {int(self.level * 100)}% sets",
                 f"  under parallel trends: {o['estimate']:.6g} [{o['lower']:.6g}, {o['upper']:.6g}]",
                 f"  breakdown {mname}: {self.breakdown:.4g}", ""]
        lines.append(self.table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
        return "\n".join(lines + [f"Note: {n}" for n in self.notes])

    def __str__(self) -> str:
        return self.summary()


def _target_vector(es: EventStudy, target: Any) -> tuple[np.ndarray, str]:
    post_e = es.event_times[es.event_times > es.reference_period]
    if isinstance(target, str):
        if target != "average":
            raise DesignError(f"target must be 'average', an event time or weights, got {target!r}")
        eff = post_e >= 0
        if not eff.any():
            raise DesignError("the event study has no event time >= 0 to average")
        l_vec = eff / eff.sum()
        return l_vec.astype(float), f"the average effect over event times {int(post_e[eff].min())}..{int(post_e[eff].max())}"
    if np.ndim(target) == 0:
        hit = np.flatnonzero(post_e == target)
        if hit.size == 0:
            raise DesignError(f"target event time {target!r} is not a post-period event time of the study "
                              f"({post_e.tolist()})")
        l_vec = np.zeros(len(post_e))
        l_vec[hit[0]] = 1.0
        return l_vec, f"the effect at event time {target}"
    l_vec = np.asarray(target, dtype=float)
    if l_vec.shape != post_e.shape:
        raise DesignError(f"target weights have length {len(l_vec)}; the study has {len(post_e)} post-period "
                          f"event times ({post_e.tolist()})")
    return l_vec, "a weighted combination of the post-period effects"


@blas_single_thread
def honest_bounds(
    result: Any,
    method: str = "relative_magnitude",
    m: Sequence[float] | None = None,
    target: str | int | Sequence[float] = "average",
    level: float = 0.95,
    inference: str | None = None,
    grid_points: int = 1000,
    breakdown: bool = True,
    breakdown_max: float | None = None,
    seed: int = 0,
) -> HonestBounds:
    """Confidence sets for an event-study effect when parallel trends may fail (Rambachan-Roth).

    Estimand: ``theta = l'tau_post``, the average effect over the post-period event times
    ``e >= 0`` (``target="average"``), the effect at one event time (``target=e``) or a given
    combination, under a restriction on the post-period violation of parallel trends: its
    per-period changes at most ``Mbar`` times the largest pre-period one
    (``method="relative_magnitude"``) or changes in its slope at most ``M`` per period
    (``method="smoothness"``).

    Parameters
    ----------
    result : event study (see :func:`event_study`).
    method : "relative_magnitude" or "smoothness".
    m : values of ``Mbar`` / ``M``; default ``0, 0.5, ..., 2`` for relative magnitudes and ten
        values from 0 to HonestDiD's upper bound on the pre-period second differences for
        smoothness.
    level : confidence level of every set.
    inference : relative magnitudes "C-LF" (default) or "conditional"; smoothness "FLCI"
        (default), "C-LF" or "conditional" (see the module docstring).
    grid_points : grid of the target for the conditional sets (HonestDiD's 1000).
    breakdown : also search the breakdown value (bisection on ``m``; a few more sets).
    breakdown_max : largest ``m`` searched (default 16 x the largest ``m``).
    seed : seed of the simulated critical values (HonestDiD's default 0, R's random numbers).

    Returns
    -------
    HonestBounds with ``.table`` (``m``, ``lower``, ``upper``), ``.breakdown``, ``.original``.
    """
    if method not in METHODS:
        raise DesignError(f"method must be one of {METHODS}, got {method!r}")
    inference = inference or INFERENCE[method][0]
    if inference not in INFERENCE[method]:
        raise DesignError(f"inference for {method} must be one of {INFERENCE[method]}, got {inference!r}")
    if not 0 < level < 1:
        raise DesignError(f"level must be in (0, 1), got {level}")
    es = event_study(result)
    e = np.asarray(es.event_times)
    full = np.union1d(e, [es.reference_period])
    if not np.all(np.diff(full) == 1) or len(full) != len(e) + 1:
        raise DesignError(f"honest bounds need consecutive event times around the reference period "
                          f"{es.reference_period} (which is left out); got {e.tolist()}")
    npre = int((e < es.reference_period).sum())
    npost = int((e > es.reference_period).sum())
    if npre < 1 or npost < 1:
        raise DesignError(f"honest bounds need pre- and post-period coefficients around the reference period "
                          f"{es.reference_period}; got event times {e.tolist()}")
    if method == "smoothness" and npre < 2 and m is None:
        raise DesignError("smoothness bounds need m when the study has one pre-period")
    notes: list[str] = []
    es = _with_fixed_coefficients(es, notes)
    l_vec, what = _target_vector(es, target)
    alpha = 1 - level
    beta, sigma = es.coefficients, es.vcov
    est = float(l_vec @ beta[npre:])
    se = float(np.sqrt(l_vec @ sigma[npre:, npre:] @ l_vec))
    z = stats.norm.ppf(1 - alpha / 2)
    original = {"estimate": est, "std_error": se, "lower": est - z * se, "upper": est + z * se}
    if m is None:
        if method == "relative_magnitude":
            m = DEFAULT_M[method]
        else:
            m = np.linspace(0, _sd_upper_bound_mpre(beta, sigma, npre, alpha=0.05), 10)
    m = np.asarray(sorted(float(x) for x in m))
    if (m < 0).any():
        raise DesignError(f"m must be non-negative, got {m.tolist()}")

    cache: dict[float, tuple[float, float, bool]] = {}

    def one(mv: float) -> tuple[float, float, bool]:
        if mv not in cache:
            cache[mv] = _one_set(es, method, inference, mv, l_vec, alpha, grid_points, seed, notes)
        return cache[mv]

    rows = [dict(zip(("lower", "upper", "open"), one(mv)), m=mv) for mv in m]
    table = pd.DataFrame(rows)[["m", "lower", "upper", "open"]]
    table.insert(3, "includes_zero", (table["lower"] <= 0) & (table["upper"] >= 0))
    bd = np.nan
    if breakdown:
        if inference == "FLCI":
            def incl(mv: float) -> bool:
                lo, hi, _ = one(mv)
                return lo <= 0 <= hi
        else:  # the test at zero itself, not the grid's nearest points
            def incl(mv: float) -> bool:
                return _accepts(es, method, inference, mv, l_vec, alpha, seed)
        cap = breakdown_max or 16 * max(float(m.max()), 1e-12 if method == "smoothness" else 1.0)
        bd = _breakdown(incl, original, m, cap)
    return HonestBounds(table=table, original=original, breakdown=bd, method=method, inference=inference, target=what,
                        l_vec=l_vec, level=level, event_times=e, notes=list(dict.fromkeys(notes)))


def _with_fixed_coefficients(es: EventStudy, notes: list[str]) -> EventStudy:
    """Coefficients without sampling variance (constant by the design, e.g. the entry month of a
    risk-set design where every unit is job seeking) get a variance of ``FIXED_VARIANCE`` times the
    median one: the moment tests divide by standard deviations, and in that limit a violated
    restriction on such a coefficient is rejected with certainty, as it should be. A covariance
    that is still singular (coefficients that are exact combinations of others, as in small
    samples) gets the same ridge on its whole diagonal, so the tests' linear programs and the
    FLCI's variance minimisation have a solution."""
    v = np.diag(es.vcov)
    fixed = v <= 1e-14 * max(float(v.max()), 1e-300)
    if fixed.all():
        return es
    ridge = FIXED_VARIANCE * float(np.median(v[~fixed]))
    vcov = es.vcov
    if fixed.any():
        notes.append(f"coefficients at event times {es.event_times[fixed].tolist()} have no sampling variance "
                     f"(constant by design); they enter with {FIXED_VARIANCE:g} x the median variance")
        vcov = vcov + np.diag(np.where(fixed, ridge, 0.0))
    eig = np.linalg.eigvalsh(vcov)
    if eig.min() <= 1e-12 * eig.max():
        notes.append(f"the covariance of the coefficients is singular (rank {int((eig > 1e-12 * eig.max()).sum())} "
                     f"of {len(eig)}); {FIXED_VARIANCE:g} x the median variance is added to its diagonal")
        vcov = vcov + ridge * np.eye(len(v))
    if vcov is es.vcov:
        return es
    return EventStudy(es.event_times, es.coefficients, vcov, es.reference_period)


def _one_set(es, method, inference, mv, l_vec, alpha, grid_points, seed, notes) -> tuple[float, float, bool]:
    if inference == "FLCI":
        npre = int((es.event_times < es.reference_period).sum())
        fl = optimal_flci(es.vcov, npre, l_vec, mv, alpha, seed=seed)
        lo, hi = fl.interval(es.coefficients)
        return lo, hi, False
    widen = 1.0
    for _ in range(6):  # HonestDiD's grid; widened when the set reaches its edge
        lo, hi, open_end = _conditional_set(es, method, inference, mv, l_vec, alpha, grid_points, seed, widen).bounds()
        if not open_end:
            break
        widen *= 2
        notes.append("the confidence set reached the edge of HonestDiD's grid of the target at m = "
                     f"{mv:g}; the grid was widened (HonestDiD would report the truncated set)")
    return lo, hi, open_end


def _breakdown(incl, original: dict, m: np.ndarray, m_cap: float, rel_tol: float = 1e-2) -> float:
    """Smallest m whose set includes zero: bracket on the given values (doubling beyond them),
    then bisection to ``rel_tol``. ``incl(m)`` tells whether the set at ``m`` includes zero."""
    if original["lower"] <= 0 <= original["upper"] or incl(0.0):
        return 0.0
    below, above = 0.0, None
    for mv in m:
        if mv <= 0:
            continue
        if incl(mv):
            above = mv
            break
        below = mv
    while above is None:
        nxt = below * 2 if below > 0 else max(float(m.max()), 1e-12) / 8
        if nxt > m_cap:
            return np.inf
        if incl(nxt):
            above = nxt
        else:
            below = nxt
    while above - below > rel_tol * above:
        mid = (above + below) / 2
        if incl(mid):
            above = mid
        else:
            below = mid
    return float(above)


def _sd_upper_bound_mpre(beta: np.ndarray, sigma: np.ndarray, npre: int, alpha: float = 0.05) -> float:
    """HonestDiD's ``DeltaSD_upperBound_Mpre``: the largest one-sided upper confidence bound
    of the pre-period second differences (the default range of ``M``)."""
    if npre < 2:
        return float(np.sqrt(sigma[0, 0]))
    A = _sd_constraints(npre, 0)
    b, S = beta[:npre], sigma[:npre, :npre]
    return float((A @ b + stats.norm.ppf(1 - alpha) * np.sqrt(np.diag(A @ S @ A.T))).max())
