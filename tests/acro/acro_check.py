"""Run the SACRO output checker `acro` on the microdata behind our published tables.

Runs in its own virtual environment (``.venv-acro``, pinned in ``requirements-acro.txt``:
acro needs pandas < 3, the project uses pandas 3). Called by ``tests/test_acro.py``::

    .venv-acro/bin/python tests/acro/acro_check.py SPEC.json OUT.json

SPEC.json: ``{"microdata": CSV, "rules": {...}, "checks": [{"table", "dim", "kind", "value"}]}``
where ``kind`` is ``count`` (frequency of units per cell), ``binary`` (frequency of a 0/1
outcome per cell: both the 1s and the 0s are counts), or ``mean`` (mean of ``value`` per
cell: threshold, nk dominance and p-ratio on the contributions). OUT.json lists, per
check, the cells acro suppresses (``flagged``) and acro's own summary.
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
    data = pd.read_csv(spec["microdata"], dtype={c["dim"]: str for c in spec["checks"]})
    data["_all"] = "all"
    results = []
    for c in spec["checks"]:
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
            raw = pd.crosstab(index, cols, values=v, aggfunc="mean")
            got = session.crosstab(index, cols, values=v, aggfunc="mean")
        got = got.reindex(index=raw.index)
        flagged = sorted(str(i) for i in raw.index if got.loc[i].isna().any())
        results.append({**c, "flagged": flagged, "cells": len(raw.index)})
    json.dump({"acro": acro.__version__ if hasattr(acro, "__version__") else "", "results": results},
              open(out_path, "w", encoding="utf-8"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
