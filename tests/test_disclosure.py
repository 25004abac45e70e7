"""Disclosure control: persons not rows, complements, secondary suppression against an attacker,
earnings payers and dominance, curves, flows, and the persons behind every published cell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from impact.errors import ConfigError, DisclosureError
from impact.options import parse_options
from impact.report.disclosure import (CELL, TOTAL, DisclosureRules, Group, Publication, cell_members, disclose,
                                      disclose_flow)
from impact.report.suppression import secondary_suppression

RULES = DisclosureRules()


def _determined(equations: np.ndarray, unknown_index: int) -> bool:
    """Attacker: is unknown x_j fixed by A x = b? (all nullspace vectors vanish at j)."""
    if equations.size == 0:
        return False
    _, s, vt = np.linalg.svd(equations)
    rank = int((s > 1e-9).sum())
    null = vt[rank:]
    return bool(null.shape[0] == 0 or np.allclose(null[:, unknown_index], 0))


def _units(groups: dict[str, tuple[int, int]], spells_per_person: int = 1) -> pl.DataFrame:
    """Units by group: (persons, placed persons); each person has ``spells_per_person`` spells."""
    rows, pid = [], 0
    for g, (n, k) in groups.items():
        for i in range(n):
            for _ in range(spells_per_person):
                rows.append({"area": g, "person_id": pid, "placed": i < k})
            pid += 1
    return pl.DataFrame(rows)


def _table(units: pl.DataFrame) -> Publication:
    t = units.group_by("area").agg(n=pl.len(), k=pl.col("placed").sum()).sort("area")
    t = pl.concat([t, units.select(pl.lit(TOTAL).alias("area"), n=pl.len(), k=pl.col("placed").sum())],
                  how="vertical_relaxed").with_columns(share=pl.col("k") / pl.col("n")).to_pandas()
    mem = cell_members(units, ["area"], {"yes": pl.col("placed"), "no": ~pl.col("placed")})
    return Publication("t", t, dims=("area",), count="n", members=mem, groups=(Group(("share", "k"), parts=("yes", "no")),))


def test_cells_are_counted_in_persons_not_spells():
    """12 spells of 6 persons: the cell is under 10 persons however many rows it has."""
    u = pl.concat([_units({"A": (6, 3)}, spells_per_person=2),
                   _units({"B": (40, 20), "C": (50, 25), "D": (60, 30)}).with_columns(pl.col("person_id") + 100)])
    d = disclose(_table(u), RULES)
    f = d.frame.set_index("area")
    assert f.loc["A", "n"] != f.loc["A", "n"] and d.marks.loc[0, "n"] == ".."
    assert f.loc["B", "n"] == 40 or f.loc["C", "n"] == 50  # secondary: one more cell, the smallest
    assert int((d.marks["n"] == "..").sum()) == 2


def test_a_share_whose_complement_is_small_is_suppressed():
    """0 of 16 placed, 16 of 16 placed, 3 of 30 placed: each discloses (nearly) every member's outcome."""
    u = _units({"A": (16, 0), "B": (16, 16), "C": (30, 3), "D": (40, 20), "E": (50, 20), "F": (60, 30)})
    d = disclose(_table(u), RULES)
    f, m = d.frame.set_index("area"), d.marks.set_index(d.frame["area"])
    for g in ("A", "B", "C"):
        assert np.isnan(f.loc[g, "share"]) and np.isnan(f.loc[g, "k"]) and m.loc[g, "share"] == "..", g
        assert f.loc[g, "n"] > 0  # the cell itself is large enough: its size stays
    # the placed counts of the other cells and the total give only the sum of the three hidden ones
    assert f["k"].isna().sum() == 3 and f.loc[TOTAL, "k"] == 89
    assert f.loc["D", "share"] == 0.5 and f.loc["E", "share"] == 0.4


def test_one_way_table_attacker_learns_nothing():
    u = _units({"A": (4, 2), "B": (57, 20), "C": (31, 10), "D": (120, 50)})
    d = disclose(_table(u), RULES)
    f = d.frame
    cells = f[f["area"] != TOTAL]
    assert cells["n"].isna().sum() >= 2  # A and its smallest complement C
    assert np.isnan(f.loc[f["area"] == "C", "n"]).all()
    assert d.frame.loc[d.frame["area"] == "B", "n"].iloc[0] == 57


def test_two_way_attack_fails_on_every_suppressed_cell():
    rng = np.random.default_rng(7)
    rows, cols = ["training", "pay_subsidy", "coaching", "work_trial", "startup_grant"], ["EA01", "EA02", "EA03", "EA04"]
    n = rng.integers(12, 200, size=(5, 4))
    n[0, 1], n[2, 3], n[4, 0], n[4, 2] = 3, 7, 2, 9  # small cells
    recs = [{"service_type": r, "area": c, "n": n[i, j]} for i, r in enumerate(rows) for j, c in enumerate(cols)]
    recs += [{"service_type": r, "area": TOTAL, "n": n[i].sum()} for i, r in enumerate(rows)]
    recs += [{"service_type": TOTAL, "area": c, "n": n[:, j].sum()} for j, c in enumerate(cols)]
    recs += [{"service_type": TOTAL, "area": TOTAL, "n": n.sum()}]
    df = pd.DataFrame(recs)
    pc = pl.DataFrame({"service_type": df["service_type"], "area": df["area"], "part": CELL, "n": df["n"]})
    d = disclose(Publication("two", df, dims=("service_type", "area"), count="n", part_counts=pc), RULES)
    grid = np.full((6, 5), np.nan)
    ri = {r: i for i, r in enumerate(rows + [TOTAL])}
    ci = {c: j for j, c in enumerate(cols + [TOTAL])}
    for rec in d.frame.itertuples():
        grid[ri[rec.service_type], ci[rec.area]] = rec.n
    hidden = np.argwhere(np.isnan(grid))
    k = {tuple(h): m for m, h in enumerate(hidden)}
    eqs = []
    for i in range(6):
        coef = np.zeros(len(hidden))
        for j in range(5):
            if (i, j) in k:
                coef[k[(i, j)]] = -1 if j == 4 else 1
        eqs.append(coef)
    for j in range(5):
        coef = np.zeros(len(hidden))
        for i in range(6):
            if (i, j) in k:
                coef[k[(i, j)]] = -1 if i == 5 else 1
        eqs.append(coef)
    a = np.array([e for e in eqs if e.any()])
    for m in range(len(hidden)):
        assert not _determined(a, m), f"cell {hidden[m]} recoverable"
    for i, j in [(0, 1), (2, 3), (4, 0), (4, 2)]:
        assert np.isnan(grid[i, j])


def test_audit_catches_patterns_the_line_rule_misses():
    counts = np.array([[3, 50, 60, 113], [40, 4, 70, 114], [80, 90, 5, 175], [123, 144, 135, 402]], float)
    primary = np.zeros_like(counts, bool)
    primary[0, 0] = primary[1, 1] = primary[2, 2] = True
    sup = secondary_suppression(counts, primary)
    assert sup[0, 0] and sup[1, 1] and sup[2, 2]
    for i in range(4):
        assert sup[i].sum() != 1 and sup[:, i].sum() != 1


def test_earnings_need_payers_and_no_dominant_payer():
    u = _units({"P1": (40, 20), "P2": (35, 10), "P3": (60, 30), "P4": (50, 25)})
    t = _table(u).frame.assign(mean_earnings=[1500.0, 2100.0, 1800.0, 1650.0, 1750.0])
    payers = []
    for g, n_pay, top in (("P1", 12, 0.2), ("P2", 4, 0.3), ("P3", 20, 0.81), ("P4", 15, 0.1)):
        amounts = np.r_[top, np.full(n_pay - 1, (1 - top) / (n_pay - 1))] * 1000
        payers.append(pl.DataFrame({"area": g, "payer_id": np.arange(n_pay), "amount": amounts}))
    payers = pl.concat(payers)
    payers = pl.concat([payers, payers.with_columns(pl.lit(TOTAL).alias("area"), payer_id=pl.col("payer_id") * 10 +
                                                    pl.col("area").cast(pl.Categorical).to_physical())])
    mem = cell_members(u, ["area"])
    pub = Publication("e", t, dims=("area",), count="n", members=mem, payers=payers,
                      groups=(Group(("mean_earnings",), earnings=True),))
    f = disclose(pub, RULES).frame.set_index("area")
    # P2: only 4 payers; P3: one payer holds 81 % -> earnings withheld, counts kept
    assert np.isnan(f.loc["P2", "mean_earnings"]) and f.loc["P2", "n"] == 35
    assert np.isnan(f.loc["P3", "mean_earnings"]) and f.loc["P3", "n"] == 60
    assert f["mean_earnings"].isna().sum() >= 2
    with pytest.raises(DisclosureError, match="payers behind it"):
        disclose(Publication("e", t, dims=("area",), count="n", members=mem,
                             groups=(Group(("mean_earnings",), earnings=True),)), RULES)


def test_identifiers_refused_and_rounding():
    with pytest.raises(DisclosureError, match="person_id"):
        disclose(Publication("x", pd.DataFrame({"person_id": [1], "area": ["A"], "n": [20]}), dims=("area",)), RULES)
    u = _units({"A": (23, 11), "B": (48, 20)})
    rules = DisclosureRules(rounding=5)
    f = disclose(_table(u), rules).frame
    assert f["n"].tolist() == [25, 50, 70]


def test_kaplan_meier_points_need_min_cell_events_since_the_last_one():
    months = np.arange(8)
    events = np.array([0, 3, 4, 4, 1, 12, 2, 9])
    at_risk = 100 - np.r_[0, np.cumsum(events)[:-1]] - months
    f = pd.DataFrame({"group": "a", "month": months, "n_at_risk": at_risk, "survival": np.linspace(1, .5, 8)})
    pc = pl.concat([pl.DataFrame({"group": "a", "month": months.astype(str), "part": CELL, "n": at_risk}),
                    pl.DataFrame({"group": "a", "month": months.astype(str), "part": "event", "n": events})])
    d = disclose(Publication("km", f, slices=("group", "month"), part_counts=pc,
                             groups=(Group(("n_at_risk", "survival"), parts=("event",)),), kind="step_curve"), RULES)
    kept = d.frame.dropna(subset=["survival"])["month"].tolist()
    assert kept[0] == 0
    cum = np.cumsum(events)
    assert all(cum[b] - cum[a] >= 10 for a, b in zip(kept, kept[1:])), kept
    # no at-risk difference between published points under the minimum
    assert (np.diff(d.frame.dropna(subset=["n_at_risk"])["n_at_risk"]) <= -10).all()
    # the persons at risk are listed (for the differencing ledger) for the published points only
    mem = pl.concat([pl.DataFrame({"group": "a", "month": str(m), "part": CELL, "person_id": np.arange(r)})
                     for m, r in zip(months, at_risk)])
    d = disclose(Publication("km", f, slices=("group", "month"), members=mem, part_counts=pc,
                             groups=(Group(("n_at_risk", "survival"), parts=("event",)),), kind="step_curve"), RULES)
    listed = sorted(int(c.split("month=")[1]) for c in d.cells["cell"].unique().to_list())
    assert listed == kept


def test_a_kaplan_meier_curve_needs_min_cell_residual_degrees_of_freedom():
    """acro's survival rule: a curve whose persons barely outnumber its distinct times (20 persons, 15
    times: 5 residual degrees of freedom) is withheld whole; the one with 300 persons is published."""
    from impact.study.analyses.followup import km_publication

    rng = np.random.default_rng(0)
    u = pl.DataFrame({"person_id": range(320), "g": ["a"] * 300 + ["b"] * 20,
                      "months_to_employment": np.r_[rng.integers(0, 12, 300), np.arange(20) % 15].astype(float),
                      "censored": np.r_[rng.random(300) < 0.3, np.zeros(20, bool)]})
    pub = km_publication(u, "g")
    d = disclose(pub, RULES).frame
    shown = d.dropna(subset=["survival"]).groupby("group").size()
    assert shown.get("a", 0) > 3 and shown.get("b", 0) == 0, shown
    # without the rule, the curve of b would show points (it has 20 events, 20 at risk at its start)
    plain = disclose(Publication(pub.name, pub.frame, slices=pub.slices, members=pub.members,
                                 part_counts=pub.part_counts.filter(pl.col("part") != "dof"),
                                 groups=(Group(pub.groups[0].columns, parts=("event",)),), kind="step_curve"), RULES)
    assert plain.frame.dropna(subset=["survival"]).groupby("group").size().get("b", 0) > 0


def test_flow_small_step_is_a_suppressed_pair():
    steps = pd.DataFrame({"step": range(5), "key": list("abcde"), "params": [{}] * 5,
                          "units": [20039, 19269, 14988, 13697, 13613], "persons": [10505, 10198, 8839, 8296, 8290],
                          "removed_units": [0, 770, 4281, 1291, 84], "removed_persons": [0, 307, 1359, 543, 6],
                          "affected_persons": [0, 307, 1359, 543, 6]})
    mem = pl.DataFrame({"step": [4], "part": ["removed"], "person_id": [1]}, schema={"step": pl.Int32, "part": pl.String,
                                                                                    "person_id": pl.Int64})
    d = disclose_flow("f", steps, mem, RULES).frame
    # the sizes at both ends stay (they are published elsewhere); the small difference cannot be recovered
    assert d["persons"].iloc[0] == 10505 and d["persons"].iloc[-1] == 8290
    assert np.isnan(d["removed_persons"].iloc[4]) and np.isnan(d["removed_persons"].iloc[3])
    left, rem = d["persons"].to_numpy(), d["removed_persons"].to_numpy()
    for i in range(1, 5):  # no step's removal follows from the published neighbours
        assert np.isnan(rem[i]) or not (np.isnan(left[i - 1]) or np.isnan(left[i])) or rem[i] >= 10
    assert np.isnan(left[3])


def test_published_cells_list_the_persons_of_published_cells_only():
    u = _units({"A": (4, 2), "B": (57, 20), "C": (31, 10), "D": (120, 50)})
    d = disclose(_table(u), RULES)
    cells = d.cells
    assert set(cells.columns) == {"table", "cell", "person_id"}
    shown = cells.filter(~pl.col("cell").cast(pl.String).str.contains("part="))["cell"].unique().to_list()
    assert "area=A" not in shown and "area=D" in shown and "area=Total" in shown
    assert cells.filter(pl.col("cell") == "area=D")["person_id"].n_unique() == 120


def test_rules_below_the_permit_need_a_reason():
    with pytest.raises(ConfigError, match=r"disclosure.min_cell = 5 \(permit: at least 10\).*override_reason"):
        parse_options(DisclosureRules, {"min_cell": 5}, "disclosure")
    with pytest.raises(ConfigError, match="disclosure.dominance = 0.9"):
        parse_options(DisclosureRules, {"dominance": 0.9}, "disclosure")
    r = parse_options(DisclosureRules, {"min_cell": 5, "override_reason": "test data"}, "disclosure")
    assert r.min_cell == 5
    with pytest.raises(ConfigError, match="every rule meets the permit"):
        parse_options(DisclosureRules, {"override_reason": "why not"}, "disclosure")
