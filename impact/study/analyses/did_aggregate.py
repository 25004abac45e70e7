"""Group and calendar-time aggregations of a DiD's ATT(g, t), as R ``did``'s
``aggte(type = "group")`` and ``aggte(type = "calendar")`` with ``ggdid`` show them.

* by cohort (entry month g): ATT(g), the average effect of the cohort over its months after entry
  (up to the event window's end), with its interval; overall, the cohort-size-weighted average;
* by calendar month t: ATT(t), the cohort-size-weighted average effect of the cohorts that have
  entered by t; overall, the mean over the months.

The estimates come from :meth:`impact.estimators.did.results.AttGtResults.aggregate`; each row
rests on the persons of the cohorts behind it (a cohort: its entrants and its comparison
persons), so disclosure control sees each cell's own persons.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from impact import plots
from impact.months import month_label
from impact.report.disclosure import CELL
from impact.report.wording import text
from impact.study.analyses.effects import estimates_publication
from impact.study.context import FigureSpec

KINDS = ("group", "calendar")


def _members(used: pl.DataFrame, hs: list[float], kind: str, post: int, analysis: str) -> pl.DataFrame:
    """Persons behind each row: cohort g = stack g; calendar month t = the stacks g <= t <= g + post."""
    p = used.select(pl.col("stack").cast(pl.Float64), pl.col("person_id").cast(pl.Int64),
                    pl.when(pl.col("cohort") > 0).then(pl.lit("treated")).otherwise(pl.lit("controls")).alias("part"))
    h = pl.DataFrame({"horizon": hs}, schema={"horizon": pl.Float64})
    if kind == "group":
        m = p.join(h, left_on="stack", right_on="horizon", how="inner").with_columns(horizon=pl.col("stack"))
    else:
        m = h.join(p, how="cross").filter((pl.col("stack") <= pl.col("horizon")) &
                                          (pl.col("horizon") <= pl.col("stack") + post))
    m = m.select(pl.lit(analysis).alias("analysis"), pl.lit("employed").alias("outcome"),
                 pl.col("horizon").cast(pl.String), "part", "person_id")
    return pl.concat([m, m.with_columns(part=pl.lit(CELL))]).unique()


def run(res: Any, used: pl.DataFrame, post: int, lang: str) -> tuple[dict, list]:
    """The tables ``did_group`` and ``did_calendar`` and their figures, from the ATT(g, t) result
    ``res`` of a stacked risk-set DiD (``used``: the units kept, with ``stack``, ``cohort``,
    ``person_id``)."""
    tables, figures = {}, []
    for kind in KINDS:
        agg = res.aggregate(kind, max_e=post) if kind == "group" else res.aggregate(kind)
        e = agg.estimates
        f = pd.DataFrame({"analysis": f"did_{kind}", "outcome": "employed",
                          "horizon": e["horizon"].astype(float).to_numpy(),
                          **{c: e[c].to_numpy() for c in ("estimate", "std_error", "ci_lower", "ci_upper")}})
        f["overall"] = float(agg.overall.estimate)
        name = f"did_{kind}"
        members = _members(used, f["horizon"].tolist(), kind, post, name)
        n = members.filter(pl.col("part") != CELL).group_by("horizon", "part").agg(n=pl.col("person_id").n_unique())
        wide = n.pivot(on="part", index="horizon", values="n").to_pandas()
        wide["horizon"] = wide["horizon"].astype(float)
        f = f.merge(wide.rename(columns={"treated": "n_treated", "controls": "n_controls"}), on="horizon", how="left")
        tables[name] = estimates_publication(name, f, members)
        figures.append(FigureSpec(name, text(f"did_{kind}_caption", lang), name,
                                  partial(_draw, lang=lang, kind=kind)))
    return tables, figures


def _draw(df: pd.DataFrame, lang: str, kind: str):
    d = df.dropna(subset=["estimate", "ci_lower", "ci_upper"])
    overall = float(d["overall"].iloc[0]) if len(d) and "overall" in d else None
    return plots.interval_dots(d, "horizon", overall=overall, percent=True,
                               xformat=lambda v: month_label(int(round(v))),
                               xlabel=text("entry_month" if kind == "group" else "calendar_month", lang),
                               ylabel=text("effect_on_employment", lang))


def write(res: Any, page: Any, sub: Any) -> None:
    """The aggregations' paragraph and the cohort table (the calendar table is in tables/)."""
    lang = page.lang
    if "did_group" not in res.tables:
        return
    g = res.tables["did_group"].frame
    c = res.tables.get("did_calendar")
    ok = g.dropna(subset=["estimate"])
    sub.paragraphs.append(text("did_aggregate_text", lang, n=len(g), overall=page.fmt("pp", g["overall"].iloc[0]),
                               lo=page.fmt("pp", ok["estimate"].min() if len(ok) else np.nan),
                               hi=page.fmt("pp", ok["estimate"].max() if len(ok) else np.nan),
                               cal=page.fmt("pp", c.frame["overall"].iloc[0] if c is not None and len(c.frame)
                                            else np.nan)))
    f = g.assign(month=g["horizon"].map(lambda h: month_label(int(h)) if h == h else ""))
    cols = [("month", text("entry_month", lang), "text"),
            ("estimate", text("estimate", lang), "pp", ("ci_lower", "ci_upper")),
            ("std_error", text("std_error", lang), "pp"), ("n_treated", text("n_treated", lang), "int"),
            ("n_controls", text("n_controls", lang), "int")]
    sub.tables.append(page.table(res.tables["did_group"], cols, text("did_group_table", lang), frame=f,
                                 name="did_group"))
