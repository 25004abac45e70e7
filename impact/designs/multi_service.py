"""Multi-service risk-set design: which service (or none) job seekers start at a given elapsed duration.

Built on the dynamic (risk-set) design of :mod:`impact.designs.dynamic`: a row is a
job-seeking spell at risk in calendar month ``m`` at elapsed episode duration
``u = m - episode start``. :func:`impact.designs.dynamic.risk_set_design` is called with
the list of services, so a row is *treated* when the first of those services in the spell
starts in month ``m``; this module adds which one it was (the **arm**), its cost, and
interpretable policy covariates. Arm 0, ``none``, is a row whose person stays job seeking
through ``m`` without starting any of the services (she may start one later: the
'not now' comparison of the dynamic design; a row that leaves job seeking in ``m`` for a
job, another service type or out of the labour force is not a ``none`` row).

Outcomes are measured ``h`` months after the risk month (``origin="start"``): a rule that
decides in month ``m`` is judged by employment at ``m + h`` whatever the length of the
service it assigns, so the lock-in of long services counts against them.

Estimand of arm contrasts on this table: ``E[Y(k) - Y(none) | X]`` for starting service
``k`` in month ``u`` rather than not then, under selection on the covariates (the dynamic
design's assumption). Controls are capped per exact cell (``max_controls``; a sample that
depends only on the cell, so the nuisance models, which see the cells, stay valid).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import polars as pl

from impact.designs.dynamic import risk_set_design
from impact.errors import DesignError
from impact.months import pl_month_index

#: The default arms: labour market training, coaching, work trial, pay subsidy.
DEFAULT_SERVICES = ("training", "coaching", "work_trial", "pay_subsidy")

#: Interpretable policy covariates the design adds: column -> (label, kind, level names).
#: kind: "number" (split ``<= value``), "yes/no" (0/1), "ordered" (codes 0, 1, 2 with names).
POLICY_FEATURES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "age": ("age (years)", "number", ()),
    "education": ("education", "ordered", ("basic", "upper secondary", "tertiary")),
    "foreign_language": ("foreign-language speaker", "yes/no", ()),
    "swedish_speaker": ("Swedish speaker", "yes/no", ()),
    "female": ("woman", "yes/no", ()),
    "elapsed_months": ("months unemployed", "number", ()),
    "prior_employment": ("months employed in the year before unemployment", "number", ()),
    "segment_01": ("service line 01 (job matching)", "yes/no", ()),
    "segment_02": ("service line 02 (competence development)", "yes/no", ()),
    "segment_03": ("service line 03 (supported employment)", "yes/no", ()),
    "segment_04": ("service line 04 (benefit client)", "yes/no", ()),
    "segment_05": ("service line 05 (multisectoral joint service)", "yes/no", ()),
    "area_size": ("employment area size", "ordered", ("small", "medium", "large")),
}

#: Group columns for fairness tables (labels, not codes).
GROUP_COLUMNS = ("sex", "language", "age_band", "employment_area")


@dataclass
class MultiServiceDesign:
    """A multi-arm risk-set table and what to estimate on it.

    ``data``: one row per (spell, risk month) with ``arm`` (0 = none, k = ``arms[k]``),
    ``participant`` (arm > 0), ``cost_eur`` (of the started service; 0 for none), the
    outcomes ``employed_h{h}`` / ``earnings_h{h}`` (``h`` months after the risk month), the
    nuisance covariates, the exact-cell columns (``categorical``), the policy features
    (:data:`POLICY_FEATURES` present in the data) and the group columns
    (:data:`GROUP_COLUMNS`). Rows are sorted by person and month (a canonical order).
    """

    data: pl.DataFrame
    arms: list[str]
    covariates: list[str]
    categorical: list[str]
    features: list[str]
    outcomes: list[str]
    horizons: dict[str, int]
    estimand: str
    cluster: str = "person_id"
    info: dict[str, Any] = field(default_factory=dict)

    def arm_counts(self) -> dict[str, int]:
        """Rows per arm (participants per service and ``none`` rows)."""
        c = dict(self.data.group_by("arm").len().iter_rows())
        return {a: int(c.get(k, 0)) for k, a in enumerate(self.arms)}


def _area_size(persons: pl.DataFrame) -> pl.DataFrame:
    """Employment areas in three size classes by their number of persons in the register:
    the largest areas holding the first third of persons are ``large`` (2), the next third
    ``medium`` (1), the rest ``small`` (0)."""
    a = persons.group_by("employment_area").len().sort(["len", "employment_area"], descending=[True, False])
    share = (a["len"].cum_sum() - a["len"]) / a["len"].sum()  # persons in larger areas
    return a.select("employment_area").with_columns(
        area_size=pl.Series(np.where(share.to_numpy() < 1 / 3, 2, np.where(share.to_numpy() < 2 / 3, 1, 0)))
        .cast(pl.Float64))


def multi_service_design(
    spells: pl.DataFrame,
    services: pl.DataFrame,
    persons: pl.DataFrame,
    panel: pl.DataFrame,
    service_types: Sequence[str] = DEFAULT_SERVICES,
    horizons: Sequence[int] = (6, 12),
    max_elapsed: int = 24,
    max_controls: int | None = 20,
    seed: int = 0,
    employed: str = "employed",
    earnings: str = "earnings",
    history: Sequence[int] = (12, 24),
    link_days: int = 7,
    first_month: int | None = None,
    last_month: int | None = None,
) -> MultiServiceDesign:
    """Build the multi-arm risk-set design.

    Parameters
    ----------
    spells, services, persons, panel
        As :func:`impact.designs.dynamic.risk_set_design` (``panel``: person x month with
        ``employed`` and ``earnings`` columns).
    service_types
        The services compared (at least two, distinct ``service_type`` codes); arm k is
        ``service_types[k - 1]``.
    horizons
        Months after the risk month at which outcomes are measured.
    max_controls, seed
        At most this many ``none`` rows per exact cell (elapsed month, calendar quarter,
        employment area), a reproducible random sample; None keeps all.
    Other parameters go to :func:`~impact.designs.dynamic.risk_set_design`.
    """
    types = list(dict.fromkeys(service_types))
    if len(types) < 2 or len(types) != len(service_types):
        raise DesignError(f"service_types must list at least two distinct services, got {list(service_types)}")
    have = set(services["service_type"].unique().to_list()) if "service_type" in services.columns else set()
    missing = [t for t in types if t not in have]
    if missing:
        raise DesignError(f"service_spells has no spells of service type(s) {missing}; types present: {sorted(have)}")
    base = risk_set_design(spells, services, persons, panel, service_type=types, horizons=horizons, origin="start",
                           comparison="not_yet", max_elapsed=max_elapsed, history=history, employed=employed,
                           earnings=earnings, link_days=link_days, max_controls=max_controls, seed=seed,
                           first_month=first_month, last_month=last_month)
    d = base.data
    # which service started: the first one of the listed types the person starts in month ms
    cost = pl.col("cost_eur").cast(pl.Float64).fill_null(0.0) if "cost_eur" in services.columns else pl.lit(0.0)
    started = (services.filter(pl.col("service_type").is_in(types))
               .select("person_id", "service_type", "start_date", cost.alias("cost_eur"), ms=pl_month_index("start_date"))
               .sort("person_id", "ms", "start_date", "service_type")
               .unique(["person_id", "ms"], keep="first", maintain_order=True)
               .with_columns(pl.col("ms").cast(d.schema["ms"])))
    code = pl.DataFrame({"service_type": types, "arm": list(range(1, len(types) + 1))},
                        schema={"service_type": pl.String, "arm": pl.Int64})
    tr = (d.filter(pl.col("treated") > 0).select("person_id", "ms").unique()
          .join(started, on=["person_id", "ms"], how="left").join(code, on="service_type", how="left"))
    if tr["arm"].null_count():
        raise DesignError(f"{tr['arm'].null_count()} treated risk rows have no matching service spell start "
                          "(service_spells and the design disagree)")
    d = d.join(tr.select("person_id", "ms", "arm", "cost_eur"), on=["person_id", "ms"], how="left").with_columns(
        arm=pl.when(pl.col("treated") > 0).then(pl.col("arm")).otherwise(0).cast(pl.Int64),
        cost_eur=pl.when(pl.col("treated") > 0).then(pl.col("cost_eur")).otherwise(0.0))
    d = d.with_columns(participant=pl.col("arm") > 0)
    # policy features and group labels
    d = d.join(_area_size(persons), on="employment_area", how="left").with_columns(
        age=pl.col("age").clip(0, 120),
        education=pl.when(pl.col("educ_basic") > 0.5).then(0.0).when(pl.col("educ_tertiary") > 0.5).then(2.0)
        .otherwise(1.0) if "educ_basic" in d.columns else pl.lit(1.0),
        foreign_language=pl.col("lang_other") if "lang_other" in d.columns else pl.lit(0.0),
        swedish_speaker=pl.col("lang_sv") if "lang_sv" in d.columns else pl.lit(0.0),
        elapsed_months=pl.col("u").cast(pl.Float64),
        prior_employment=pl.col("emp_pre_spell_12"),
        female=pl.col("female") if "female" in d.columns else pl.lit(0.0),
    ).with_columns(
        sex=pl.when(pl.col("female") > 0.5).then(pl.lit("F")).otherwise(pl.lit("M")),
        language=pl.when(pl.col("swedish_speaker") > 0.5).then(pl.lit("sv"))
        .when(pl.col("foreign_language") > 0.5).then(pl.lit("other")).otherwise(pl.lit("fi")),
        age_band=pl.when(pl.col("age") < 25).then(pl.lit("<25")).when(pl.col("age") < 50).then(pl.lit("25-49"))
        .otherwise(pl.lit("50+")),
    )
    for s in ("segment_01", "segment_02", "segment_03", "segment_04", "segment_05"):
        if s not in d.columns:
            d = d.with_columns(pl.lit(0.0).alias(s))
    features = [f for f in POLICY_FEATURES if d[f].n_unique() > 1]
    d = d.sort("person_id", "m")
    arms = ["none", *types]
    counts = dict(d.group_by("arm").len().iter_rows())
    thin = [arms[k] for k in range(1, len(arms)) if counts.get(k, 0) < 20]
    if thin:
        raise DesignError(f"services {thin} have fewer than 20 starts in the design; drop them from service_types")
    hz = dict(base.horizons)
    info = dict(base.info, arms={a: int(counts.get(k, 0)) for k, a in enumerate(arms)},
                persons=int(d["person_id"].n_unique()),
                participants=int(d["participant"].sum()))
    return MultiServiceDesign(
        data=d, arms=arms, covariates=list(base.covariates), categorical=list(base.exact), features=features,
        outcomes=list(base.outcomes), horizons=hz,
        estimand=("start service k in month u of job seeking rather than none then (join now vs not now); "
                  f"outcomes {', '.join(str(h) for h in sorted(set(hz.values())))} months after that month"),
        info=info)
