"""Issue 21 in the study layer: the honest bounds of the DiD analysis and the area comparison of the
synthetic-control analysis publish only what disclosure control allows and say it in both languages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from impact.estimators.did.honest import EventStudy, honest_bounds
from impact.report.disclosure import DisclosureRules, disclose
from impact.study.analyses import area_compare, honest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def medicaid_es() -> EventStudy:
    """R did's event study of the Medicaid example (tests/data/honest_reference.json)."""
    r = json.loads((DATA / "honest_reference.json").read_text())["cs_chunk9"]
    return EventStudy(np.array(r["event_times"]), np.array(r["beta"]), np.array(r["sigma"]))


def _persons(n_treated: int, n_controls: int) -> pl.DataFrame:
    t = pl.DataFrame({"part": "treated", "person_id": np.arange(n_treated, dtype=np.int64)})
    c = pl.DataFrame({"part": "controls", "person_id": np.arange(n_controls, dtype=np.int64) + 10_000})
    return pl.concat([t, c, pl.concat([t, c]).with_columns(part=pl.lit("cell"))])


class _Page:
    """The part of impact.study.document.Page the writers use."""

    def __init__(self, lang: str):
        from impact.study.document import Page
        from impact.study.config import parse_config

        cfg = parse_config({"study": {"name": "t", "title": "t", "question": "q"}, "data": {"registers": "."},
                           "report": {"language": lang}})
        self.page = Page(cfg=cfg, figures_dir=Path("."))


class _Sub:
    def __init__(self):
        self.paragraphs, self.tables, self.figures, self.warnings = [], [], [], []


def test_honest_bounds_in_the_did_section(medicaid_es):
    refits = []
    pubs, figs, facts, notes = honest.run(medicaid_es, "varying", lambda: refits.append(1) or medicaid_es,
                                          ("relative_magnitude", "smoothness"), 4, _persons(40, 60), "en")
    assert refits == [1] and facts.refitted and facts.methods == ("relative_magnitude", "smoothness")
    f = pubs["did_honest"].frame
    rm = honest_bounds(medicaid_es, method="relative_magnitude")
    got = f[(f["method"] == "relative_magnitude") & (f["kind"] != "original")]
    assert np.allclose(got[["m", "lower", "upper"]].to_numpy(), rm.table[["m", "lower", "upper"]].to_numpy())
    assert got["breakdown"].iloc[0] == pytest.approx(rm.breakdown)
    assert [s.name for s in figs] == ["did_honest_relative_magnitude", "did_honest_smoothness"]
    d = disclose(pubs["did_honest"], DisclosureRules())
    assert d.frame[["lower", "upper"]].notna().all(axis=None)
    from types import SimpleNamespace

    for lang, words in (("en", "unless post-period violations of parallel trends exceed"), ("fi", "ellei")):
        p = _Page(lang).page
        sub = _Sub()
        honest.write(SimpleNamespace(facts=SimpleNamespace(honest=facts), tables={"did_honest": d}), p, sub)
        assert words in sub.paragraphs[0] and len(sub.tables) == 1
        assert sub.paragraphs[1].startswith("The bounds use" if lang == "en" else "Rajat lasketaan")
        fig = figs[0].draw(d.frame)
        assert fig is not None


def test_honest_bounds_rest_on_min_cell_persons(medicaid_es):
    pubs, *_ = honest.run(medicaid_es, "universal", lambda: pytest.fail("no refit"), ("relative_magnitude",), 4,
                          _persons(9, 60), "en")
    d = disclose(pubs["did_honest"], DisclosureRules())
    assert d.frame[["lower", "upper", "breakdown"]].isna().all(axis=None)


def test_honest_failure_is_a_notice_not_a_crash():
    es = EventStudy(np.array([-2, 0, 1]), np.array([0.01, 0.1, 0.2]), np.eye(3) * 1e-4)
    pubs, figs, facts, notes = honest.run(es, "universal", lambda: es, ("smoothness",), 1, _persons(40, 40), "en")
    assert pubs == {} and figs == [] and facts.failed and "Honest bounds (smoothness)" in notes[0].text


def _area_panel(small_donor: bool) -> pl.DataFrame:
    """45 months of 12 areas: employment rates from a factor model, 400 persons per area (one donor
    with few not-employed persons when ``small_donor``); area A00 gains 0.03 from month 30."""
    rng = np.random.default_rng(3)
    T, n = 45, 12
    f = np.cumsum(rng.normal(0, 0.01, T))
    load = rng.uniform(0.5, 1.5, n)
    rate = 0.5 + np.outer(f, load) + rng.normal(0, 0.004, (T, n))
    rate[30:, 0] += 0.03
    persons = np.full(n, 400)
    rows = []
    for i in range(n):
        for t in range(T):
            r = rate[t, i] if not (small_donor and i == 5) else 0.98
            emp = int(round(r * persons[i]))
            rows.append((f"A{i:02d}", 1000 + t, persons[i], emp, emp / persons[i]))
    return pl.DataFrame(rows, schema=["area", "month", "persons", "employed", "employment_rate"], orient="row")


@pytest.mark.parametrize("small_donor", [False, True])
def test_area_comparison_publication(small_donor):
    from impact.estimators import synth

    panel = _area_panel(small_donor)
    donors = [f"A{i:02d}" for i in range(1, 12)]
    data = panel.select("area", "month", "employment_rate", "persons")
    sc = synth.synthetic_control(data, unit="area", time="month", outcome="employment_rate", treated="A00",
                                 treatment_time=1030, donors=donors)
    tables, figs, facts = area_compare.run(data, panel, sc, "A00", donors, 1030, 400, ("sdid", "ascm", "did"), 10, "en")
    t = tables["area_estimators"].frame
    assert list(t["analysis"]) == ["synthetic_control", "synthetic_did", "augmented_synthetic_control", "area_did"]
    assert facts.left_out == (("A05",) if small_donor else ())
    if not small_donor:
        assert t["estimate"].iloc[0] == pytest.approx(sc.att())
    assert abs(t.set_index("analysis").loc["synthetic_did", "estimate"] - 0.03) < 0.01
    d = disclose(tables["area_estimators"], DisclosureRules())
    assert d.frame["estimate"].notna().all()
    assert {s.name for s in figs} == {"area_estimators", "sdid_trends", "sdid_unit_weights"}
    for s in figs:
        assert s.draw(disclose(tables[s.table], DisclosureRules()).frame) is not None
    from types import SimpleNamespace

    p = _Page("fi").page
    sub = _Sub()
    res = SimpleNamespace(tables={"area_estimators": d}, facts=SimpleNamespace(area="A00", compare=facts))
    area_compare.write(res, p, sub)
    assert "synteettinen erotusten erotus" in " ".join(sub.paragraphs) and len(sub.tables) == 1
    assert ("jätetään pois" in " ".join(sub.paragraphs)) == small_donor


def test_area_comparison_withholds_numbers_of_a_small_treated_area():
    panel = _area_panel(False).with_columns(
        employed=pl.when(pl.col("area") == "A00").then(pl.col("persons") - 5).otherwise(pl.col("employed")))
    data = panel.select("area", "month", "employment_rate", "persons")
    tables, _, _ = area_compare.run(data, panel, None, "A00", [f"A{i:02d}" for i in range(1, 12)], 1030, 400,
                                    ("sdid",), 10, "en")
    d = disclose(tables["area_estimators"], DisclosureRules())
    assert d.frame["estimate"].isna().all() and (d.marks["estimate"] == "..").all()
    assert isinstance(d.frame, pd.DataFrame)


def test_coefficient_without_sampling_variance():
    """The risk-set design's entry month (every unit job seeking: coefficient 0, variance 0) must not
    turn the moment tests into 0/0: at Mbar = 0 the set is about the interval under parallel trends."""
    rng = np.random.default_rng(5)
    e = np.r_[np.arange(-6, -1), np.arange(0, 6)]
    A = rng.normal(size=(11, 11)) * 0.01
    V = A @ A.T + np.eye(11) * 1e-4
    b = rng.multivariate_normal(np.r_[np.zeros(5), np.full(6, 0.05)], V)
    V[5, :] = V[:, 5] = 0.0
    b[5] = 0.0
    hb = honest_bounds(EventStudy(e, b, V), method="relative_magnitude", m=[0.0, 0.5])
    lo, hi = hb.table.loc[0, ["lower", "upper"]]
    o = hb.original
    width = o["upper"] - o["lower"]
    assert abs(lo - o["lower"]) < 0.5 * width and abs(hi - o["upper"]) < 0.5 * width
    assert any("no sampling variance" in n for n in hb.notes)


def test_singular_covariance():
    """Small samples give coefficients that are exact combinations of others (a singular covariance):
    the moment tests and the FLCI still give finite sets."""
    rng = np.random.default_rng(6)
    e = np.r_[np.arange(-5, -1), np.arange(0, 4)]
    A = rng.normal(size=(8, 5)) * 0.01  # rank 5 of 8
    V = A @ A.T
    b = rng.multivariate_normal(np.r_[np.zeros(4), np.full(4, 0.05)], V)
    for method in ("relative_magnitude", "smoothness"):
        hb = honest_bounds(EventStudy(e, b, V), method=method, m=[0.0, 0.5] if method == "relative_magnitude" else
                           [0.0, 0.01])
        assert np.isfinite(hb.table[["lower", "upper"]].to_numpy()).all(), method
        assert any("singular" in n for n in hb.notes)
