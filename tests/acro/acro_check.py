"""Run the SACRO output checker `acro` on the microdata behind our published tables.

Runs in its own virtual environment (``.venv-acro``, pinned in ``requirements-acro.txt``:
acro needs pandas < 3, the project uses pandas 3). Called by ``tests/test_acro.py``::

    .venv-acro/bin/python tests/acro/acro_check.py SPEC.json OUT.json

SPEC.json: ``{"microdata": CSV, "rules": {...}, "checks": [{"table", "dim", "kind", "value"}]}``
where ``kind`` is

* ``count`` (frequency of units per cell of ``dim``), ``binary`` (frequency of a 0/1 outcome
  per cell: both the 1s and the 0s are counts), or ``mean`` (mean of ``value`` per cell:
  threshold, nk dominance and p-ratio on the contributions), on the unit-level ``microdata``;
* ``cells``: a frequency table of the records in ``file`` (CSV ``table, key, part, rec``; one
  record per person of each cell and part) by cell and part (placed / not placed, treated /
  comparison, ...): the threshold and zero rules on each. One row per cell and part (not a
  ``key x part`` grid, whose structural zeros acro would redact one query at a time);
* ``means``: the mean of ``value`` per ``key`` of the records in ``file`` (CSV ``key, value``):
  threshold, nk dominance and p-ratio;
* ``km``: ``acro.surv_func`` on the durations of ``file`` (CSV ``group, time, status``), one
  curve per group: acro's survival table (times, numbers at risk and events) and its residual
  degrees of freedom.

OUT.json lists, per check, the cells acro suppresses (``flagged``; for ``cells`` the
``key\tpart`` pairs acro keeps, ``kept``; for ``km`` the survival tables).
"""

from __future__ import annotations

import json
import logging
import sys

import pandas as pd


def main(spec_path: str, out_path: str) -> None:
    import acro

    spec = json.load(open(spec_path, encoding="utf-8"))
    rules = spec["rules"]
    session = acro.ACRO(suppress=True)
    ra = session.sdc_checks.risk_appetite
    ra["safe_threshold"] = rules["threshold"]
    ra["safe_nk_n"] = rules["nk_n"]
    ra["safe_nk_k"] = rules["nk_k"]
    ra["safe_pratio_p"] = rules["p_ratio"]
    ra["zeros_are_disclosive"] = True
    logging.getLogger("acro").setLevel(logging.ERROR)
    units = [c for c in spec["checks"] if c["kind"] in ("count", "binary", "mean")]
    data = pd.read_csv(spec["microdata"], dtype={c["dim"]: str for c in units}) if units else pd.DataFrame()
    data["_all"] = "all"
    results = []
    files: dict[str, pd.DataFrame] = {}

    def read(path: str, **kw) -> pd.DataFrame:
        if path not in files:
            files[path] = pd.read_csv(path, keep_default_na=False, **kw)
        return files[path]

    for c in spec["checks"]:
        if c["kind"] == "cells":
            d = read(spec[c["file"]], dtype=str)
            d = d[d["table"] == c["table"]]
            got = session.crosstab((d["key"] + "\t" + d["part"]).rename("cell"), pd.Series("all", index=d.index))
            kept = got.iloc[:, 0]
            results.append({**c, "kept": kept.index[kept.notna() & (kept > 0)].tolist(), "cells": len(got)})
            continue
        if c["kind"] == "means":
            d = read(spec[c["file"]], dtype={"table": str, "key": str, "value": float})
            d = d[d["table"] == c["table"]]
            index, v = d["key"].rename("key"), d["value"].astype(float).rename("value")
            raw = pd.crosstab(index, "all", values=v, aggfunc="mean")
            got = session.crosstab(index, pd.Series("all", index=d.index, name="all"), values=v,
                                   aggfunc="mean").reindex(index=raw.index)
            results.append({**c, "flagged": sorted(str(i) for i in raw.index if got.loc[i].isna().any()),
                            "cells": len(raw.index)})
            continue
        if c["kind"] == "km":
            d = read(spec[c["file"]], dtype={"table": str, "group": str})
            d = d[d["table"] == c["table"]]
            curves = {}
            for g, x in d.groupby("group"):  # a handful of curves
                tab = session.surv_func(x["time"].astype(float), x["status"].astype(int), output="table")
                curves[str(g)] = {"time": tab.index.astype(float).tolist(),
                                  "at_risk": tab["num at risk"].astype(float).tolist(),
                                  "events": tab["num events"].astype(float).tolist(),
                                  "dof": int(len(x) - x["time"].nunique())}
            results.append({**c, "curves": curves})
            continue
        d = data[data[c["dim"]].notna()]
        index, cols = d[c["dim"]].rename(c["dim"]), d["_all"].rename("all")
        if c["kind"] == "count":
            raw = pd.crosstab(index, cols)
            got = session.crosstab(index, cols)
        elif c["kind"] == "binary":
            v = d[c["value"]]
            keep = v.notna()
            index, cols = index[keep], v[keep].astype(int).rename(c["value"])
            raw = pd.crosstab(index, cols).reindex(columns=[0, 1], fill_value=0)
            got = session.crosstab(index, cols).reindex(columns=[0, 1])
        else:
            v = d[c["value"]]
            keep = v.notna()
            index, cols, v = index[keep], cols[keep], v[keep].astype(float).rename(c["value"])
            if not len(v):  # no value behind the column (e.g. no cost at all in a small extract): nothing published
                results.append({**c, "flagged": [], "cells": 0})
                continue
            raw = pd.crosstab(index, cols, values=v, aggfunc="mean")
            got = session.crosstab(index, cols, values=v, aggfunc="mean")
        got = got.reindex(index=raw.index)
        flagged = sorted(str(i) for i in raw.index if got.loc[i].isna().any())
        results.append({**c, "flagged": flagged, "cells": len(raw.index)})
    json.dump({"acro": acro.__version__ if hasattr(acro, "__version__") else "", "results": results},
              open(out_path, "w", encoding="utf-8"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
