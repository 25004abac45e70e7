"""Verdicts of the robustness checks that say what they mean (issue 23).

An in-space placebo at p = 1/15 = 0.067 is borderline (not passed) at alpha = 0.05; the
permutation check's threshold is printed in the unit of the estimate it is compared with; the
hidden-confounder bound of an estimate that is not significant is "not applicable" (not failed);
every failed or borderline check reaches the first page's warnings.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from impact.study.analyses.robustness import check_table, notices, verdict
from tests.test_refute import _synth_panel, draw


def _page(alpha: float = 0.05, lang: str = "en"):
    from impact.study.document import Page

    return Page(cfg=SimpleNamespace(report=SimpleNamespace(language=lang, alpha=alpha)), figures_dir=Path("."))


def _table(frame: pd.DataFrame):
    return SimpleNamespace(name="x_robustness", frame=frame, notes=(), marks=pd.DataFrame())


def test_verdict_of_a_check_row():
    nan = float("nan")
    assert verdict({"passed": False, "p_value": 0.067}, 0.05) == "borderline"  # a placebo that barely fails
    assert verdict({"passed": True, "p_value": 0.067}, 0.05) == "borderline"  # a pre-trend test that barely passes
    assert verdict({"passed": False, "p_value": 0.067}, 0.10) == "fail"  # the configured alpha decides
    assert verdict({"passed": True, "p_value": 0.04}, 0.05) == "pass"
    assert verdict({"passed": False, "p_value": 0.30}, 0.05) == "fail"
    assert verdict({"passed": True, "p_value": nan}, 0.05) == "pass"
    assert verdict({"passed": None, "p_value": nan}, 0.05) == "na"
    assert verdict({"passed": nan}, 0.05) == "na"


@pytest.fixture(scope="module")
def synth15():
    """15 areas, a clear effect: the treated area ranks first, p = 1/15 = 0.067, the smallest possible."""
    from impact.estimators import synth
    from impact.estimators.refute import synth_checks

    df, t0 = _synth_panel(2.0, n=15)
    res = synth.synthetic_control(df, unit="unit", time="time", outcome="y", treated="T", treatment_time=t0)
    pl_ = res.placebo(n_jobs=1)
    return res, pl_, synth_checks(res, pl_, None, res.leave_one_out(n_jobs=1), level=0.95)


def test_in_space_placebo_at_p_0067_is_borderline_not_passed(synth15):
    res, pl_, tab = synth15
    row = tab[tab["check"].str.startswith("in-space placebo (rank")].iloc[0]
    assert pl_.rank == 1 and row["p_value"] == pytest.approx(1 / 15)
    assert not row["passed"]  # p > alpha: not a pass, whatever the number of areas
    assert verdict(row.to_dict(), 0.05) == "borderline"
    got = notices(tab, "Synthetic control, T", "en", 0.05)
    border = [n for n in got if n.level == "borderline"]
    assert any("in-space placebo (rank 1 of 15)" in n.text and "0.067" in n.text for n in border), got
    tt = check_table(_table(tab), _page(), "checks")
    cells = {r[0]: r for r in tt.rows}
    assert cells[row["check"]][4] == "~ borderline"
    # a looser configured alpha makes the same rank a pass
    assert verdict(row.to_dict() | {"passed": row["p_value"] <= 0.10}, 0.10) == "pass"


def test_thresholds_and_intervals_print_in_the_estimates_unit(synth15):
    """The permutation row compares the ATT with a threshold in the same unit (pp), and no
    expectation prints an effect as a raw proportion."""
    from impact.report.render import fmt_pp

    res, pl_, tab = synth15
    tab = tab.assign(estimate=tab["estimate"] / 100, refuted=np.where(tab["check"].str.startswith("in-space"),
                                                                    tab["refuted"], tab["refuted"] / 100))
    tab["expectation"] = [e if not e.startswith("every refit") else
                          f"every refit keeps the sign of the ATT (range {0.0123:.4f} to {0.0456:.4f})"
                          for e in tab["expectation"]]
    tt = check_table(_table(tab), _page(), "checks")
    perm = next(r for r in tt.rows if r[0] == "permutation interval excludes zero")
    q = float(tab.loc[tab["check"] == "permutation interval excludes zero", "refuted"].iloc[0])
    assert perm[3] == fmt_pp(q) and "pp" in perm[2] and "pp" in perm[3]
    assert "(the check value)" in perm[1]
    loo = next(r for r in tt.rows if r[0].startswith("leave one donor out"))
    assert fmt_pp(0.0123) in loo[1] and fmt_pp(0.0456) in loo[1]
    for r in tt.rows:
        assert not re.search(r"(?<![\d.])-?0\.\d{4}\b", r[1]), r[1]  # no proportion printed beside pp


def test_hidden_confounder_is_not_applicable_to_an_insignificant_estimate():
    from impact.estimators.refute import refute_ipw

    df = draw(3000, 0.0, 0.0, 3)  # no effect, no hidden confounder
    r = refute_ipw(df, "d", "y", ["x1", "x2"], n_simulations=2)
    assert abs(r.estimate) < 1.96 * r.std_error  # the estimate is not significant
    row = r.table.set_index("check").loc["unobserved common cause"]
    assert row["passed"] is None and row["expectation"].startswith("not applicable: the estimate is not significant")
    assert verdict(row.to_dict(), 0.05) == "na"
    assert notices(r.table, "Training", "en", 0.05) == []  # neither failed nor borderline
    tt = check_table(_table(r.table), _page(), "checks")
    ovb = next(x for x in tt.rows if x[0] == "unobserved common cause")
    assert ovb[4] == "\u2013 not applicable" and "not significant" in ovb[5]
    fi = check_table(_table(r.table), _page(lang="fi"), "checks")
    assert next(x for x in fi.rows if x[0] == "havaitsematon yhteinen tekijä")[1].startswith("ei sovellu")


def test_every_failed_and_borderline_check_reaches_the_first_page():
    """robustness.write puts every failed check on the page's warnings and every borderline one on
    its borderline list (the first page's box shows both); passed and not-applicable rows stay off."""
    from impact.study.analyses import robustness
    from impact.study.document import Page

    tab = pd.DataFrame({"check": ["in-space placebo (rank 1 of 15)", "permutation interval excludes zero",
                                  "leave one donor out (3 refits)", "unobserved common cause"],
                        "estimate": [0.02] * 4, "std_error": np.nan, "refuted": [1 / 15, 0.03, 0.01, 0.0],
                        "p_value": [1 / 15, np.nan, np.nan, np.nan], "passed": [False, False, True, None],
                        "expectation": ["", "", "", ""]})
    page = Page(cfg=SimpleNamespace(report=SimpleNamespace(language="en", alpha=0.05)), figures_dir=Path("."))
    res = SimpleNamespace(tables={"synth_robustness": _table(tab)},
                          checks=(robustness.Checks("synth", "synth_robustness", "Synthetic control, EA05"),))
    robustness.write(res, page)
    warn = [n.text for n in page.notices if n.level == "warning"]
    border = [n.text for n in page.notices if n.level == "borderline"]
    assert warn == ["Synthetic control, EA05: the check 'permutation interval excludes zero' failed."]
    assert len(border) == 1 and "in-space placebo (rank 1 of 15)" in border[0]
    para = " ".join(page.robustness_subs[0].paragraphs)
    assert "1 of 4 checks failed" in para and "1 of 4 checks are borderline" in para and "Not applicable (1)" in para
