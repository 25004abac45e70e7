"""Disclosure control: thresholds, dominance, secondary suppression against an attacker."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from impact.errors import DisclosureError
from impact.report.disclosure import DisclosureRules, protect_curves, protect_table, secondary_suppression


def _determined(equations: np.ndarray, unknown_index: int) -> bool:
    """Attacker: is unknown x_j fixed by A x = b? (all nullspace vectors vanish at j)."""
    if equations.size == 0:
        return False
    _, s, vt = np.linalg.svd(equations)
    rank = int((s > 1e-9).sum())
    null = vt[rank:]
    return bool(null.shape[0] == 0 or np.allclose(null[:, unknown_index], 0))


def _attack_one_way(pub: pd.DataFrame, dim: str, col: str, true_total: float) -> dict:
    """Subtract published cells from the (known) total; returns what the attacker learns."""
    cells = pub[pub[dim] != "Total"]
    hidden = cells[cells[col].isna()]
    if len(hidden) == 1:
        return {hidden[dim].iloc[0]: true_total - cells[col].sum()}
    return {}


def test_one_way_table_primary_and_secondary():
    df = pd.DataFrame({"area": ["A", "B", "C", "D", "Total"], "n": [4, 57, 31, 120, 212],
                       "placed_3m": [0.25, 0.30, 0.20, 0.35, 0.3113]})
    pt = protect_table(df, "area", rules=DisclosureRules(min_count=10))
    t = pt.table.set_index("area")
    assert np.isnan(t.loc["A", "n"]) and np.isnan(t.loc["A", "placed_3m"])
    assert t.loc["A", "suppressed"] == "primary"
    # the smallest complementary cell is C (31), not B or D
    assert t.loc["C", "suppressed"] == "secondary" and np.isnan(t.loc["C", "n"])
    assert t.loc["B", "suppressed"] == "" and t.loc["B", "n"] == 57
    # the attacker subtracts published cells from the total and learns nothing
    assert _attack_one_way(pt.table, "area", "n", 212) == {}
    # ... and could have without the secondary suppression
    naive = df.copy()
    naive.loc[0, "n"] = np.nan
    assert _attack_one_way(naive, "area", "n", 212) == {"A": 4}
    assert pt.n_primary == 1 and pt.n_secondary == 1


def test_two_way_attack_fails_on_every_suppressed_cell():
    rng = np.random.default_rng(7)
    rows, cols = ["training", "pay_subsidy", "coaching", "work_trial", "startup_grant"], ["EA01", "EA02", "EA03", "EA04"]
    n = rng.integers(12, 200, size=(5, 4))
    n[0, 1], n[2, 3], n[4, 0], n[4, 2] = 3, 7, 2, 9  # small cells
    recs = [{"service_type": r, "area": c, "n": n[i, j]} for i, r in enumerate(rows) for j, c in enumerate(cols)]
    recs += [{"service_type": r, "area": "Total", "n": n[i].sum()} for i, r in enumerate(rows)]
    recs += [{"service_type": "Total", "area": c, "n": n[:, j].sum()} for j, c in enumerate(cols)]
    recs += [{"service_type": "Total", "area": "Total", "n": n.sum()}]
    df = pd.DataFrame(recs)
    pt = protect_table(df, ["service_type", "area"])
    pub = pt.table
    assert pt.n_primary == 4 and pt.n_secondary >= 4
    # grid of published values (margins last), NaN where suppressed
    grid = np.full((6, 5), np.nan)
    ri = {r: i for i, r in enumerate(rows + ["Total"])}
    ci = {c: j for j, c in enumerate(cols + ["Total"])}
    for rec in pub.itertuples():
        grid[ri[rec.service_type], ci[rec.area]] = rec.n
    hidden = np.argwhere(np.isnan(grid))
    # attacker 1: subtraction along every row and column (totals minus published cells)
    for i, j in hidden:
        row_unknown = np.isnan(grid[i, :-1]).sum() + np.isnan(grid[i, -1])
        col_unknown = np.isnan(grid[:-1, j]).sum() + np.isnan(grid[-1, j])
        assert row_unknown >= 2 and col_unknown >= 2
    # attacker 2: solve the whole system of margin equations
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
    # every small cell is hidden
    for i, j in [(0, 1), (2, 3), (4, 0), (4, 2)]:
        assert np.isnan(grid[i, j])


def test_audit_catches_patterns_the_line_rule_misses():
    # 3x3 interior; primary cells on a 'staircase' that a row/column rule alone leaves recoverable
    counts = np.array([[3, 50, 60, 113], [40, 4, 70, 114], [80, 90, 5, 175], [123, 144, 135, 402]], float)
    primary = np.zeros_like(counts, bool)
    primary[0, 0] = primary[1, 1] = primary[2, 2] = True
    sup = secondary_suppression(counts, primary)
    assert sup[0, 0] and sup[1, 1] and sup[2, 2]
    for i in range(4):
        assert sup[i].sum() != 1 and sup[:, i].sum() != 1


def test_earnings_dominance_and_payer_rules():
    df = pd.DataFrame({
        "provider": ["P1", "P2", "P3", "P4", "Total"],
        "n": [40, 35, 60, 50, 185],
        "mean_earnings": [1500.0, 2100.0, 1800.0, 1650.0, 1750.0],
        "n_payers": [12, 4, 20, 15, 51],
        "top_payer_share": [0.2, 0.3, 0.81, 0.1, 0.3],
    })
    pt = protect_table(df, "provider", earnings=["mean_earnings"])
    t = pt.table.set_index("provider")
    # P2: only 4 payers; P3: one payer holds 81 % -> earnings withheld, counts kept
    assert np.isnan(t.loc["P2", "mean_earnings"]) and t.loc["P2", "n"] == 35
    assert np.isnan(t.loc["P3", "mean_earnings"]) and t.loc["P3", "n"] == 60
    assert t.loc["P1", "mean_earnings"] == 1500.0
    assert "n_payers" not in pt.table and "top_payer_share" not in pt.table
    assert pt.n_earnings >= 2
    # with one dominated cell only, a second earnings cell is withheld so the sum cannot be
    # recovered from the total (total_mean * total_n - published sums)
    one = df.assign(n_payers=[12, 8, 20, 15, 51])
    t1 = protect_table(one, "provider", earnings=["mean_earnings"]).table.set_index("provider")
    hidden = t1.index[t1["mean_earnings"].isna()].tolist()
    assert "P3" in hidden and len(hidden) >= 2
    # exactly at the threshold is allowed (rule is "> 75 %")
    edge = df.assign(top_payer_share=[0.75, 0.1, 0.1, 0.1, 0.1], n_payers=[5, 9, 9, 9, 40])
    t2 = protect_table(edge, "provider", earnings=["mean_earnings"]).table
    assert t2["mean_earnings"].notna().all()


def test_identifiers_refused_and_rounding():
    with pytest.raises(DisclosureError, match="person_id"):
        protect_table(pd.DataFrame({"person_id": [1], "area": ["A"], "n": [20]}), "area")
    with pytest.raises(DisclosureError, match="service_id"):
        protect_curves(pd.DataFrame({"service_id": [1], "n_at_risk": [20]}), "g")
    df = pd.DataFrame({"area": ["A", "B", "Total"], "n": [23, 48, 71], "placed": [11, 20, 31]})
    t = protect_table(df, "area", count_columns=["placed"], rules=DisclosureRules(rounding=5)).table
    assert t["n"].tolist() == [25, 50, 70] and t["placed"].tolist() == [10, 20, 30]


def test_row_below_threshold_in_two_way_table_and_curves():
    # a whole row whose total is under the threshold: its margin is suppressed too
    recs = [{"g": "a", "h": "x", "n": 3}, {"g": "a", "h": "y", "n": 4}, {"g": "a", "h": "Total", "n": 7},
            {"g": "b", "h": "x", "n": 30}, {"g": "b", "h": "y", "n": 40}, {"g": "b", "h": "Total", "n": 70},
            {"g": "c", "h": "x", "n": 25}, {"g": "c", "h": "y", "n": 45}, {"g": "c", "h": "Total", "n": 70},
            {"g": "Total", "h": "x", "n": 58}, {"g": "Total", "h": "y", "n": 89}, {"g": "Total", "h": "Total", "n": 147}]
    t = protect_table(pd.DataFrame(recs), ["g", "h"]).table.set_index(["g", "h"])
    assert np.isnan(t.loc[("a", "Total"), "n"]) and np.isnan(t.loc[("a", "x"), "n"])
    assert np.isnan(t.loc[("b", "x"), "n"]) or np.isnan(t.loc[("c", "x"), "n"])
    km = pd.DataFrame({"group": ["a"] * 4, "month": [0, 1, 2, 3], "n_at_risk": [40, 22, 10, 6], "survival": [1, .8, .6, .5]})
    assert protect_curves(km, "group")["month"].tolist() == [0, 1, 2]
