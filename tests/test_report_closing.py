"""Limitations and references follow the analyses a study ran (issue 23)."""

from __future__ import annotations

from types import SimpleNamespace

from impact.report.wording import text
from impact.study.closing import REFERENCES, limitation_keys, limitations_section, reference_keys, references_section


def _cfg(did=None, synth=None):
    est = {"did": did, "synth": synth}
    return SimpleNamespace(estimator=lambda k: est.get(k), disclosure=SimpleNamespace(min_cell=10))


def _res(name, **facts):
    return SimpleNamespace(name=name, facts=SimpleNamespace(**facts))


def test_references_of_the_analyses_that_ran():
    cfg = _cfg(did=SimpleNamespace(honest=("relative_magnitude",)), synth=SimpleNamespace(compare=("sdid",)))
    assert reference_keys(cfg, [_res("followup")]) == []
    m = reference_keys(cfg, [_res("matching", subgroups={"tests": {}}), _res("did")])
    assert m[:2] == ["abadie_imbens_2006", "abadie_imbens_2016"] and "callaway_santanna_2021" in m
    assert "rambachan_roth_2023" in m and "chernozhukov_2018" in m and "abadie_2010" not in m
    s = reference_keys(cfg, [_res("synth")])
    assert s == ["abadie_2010", "arkhangelsky_2021"]  # ascm not compared: no Ben-Michael et al.
    no_honest = reference_keys(_cfg(did=SimpleNamespace(honest=())), [_res("did")])
    assert no_honest == ["callaway_santanna_2021"]
    assert "athey_wager_2021" in reference_keys(cfg, [_res("targeting")])
    assert set(REFERENCES) >= set(m + s)
    sec = references_section(cfg, [_res("synth")], "fi")
    assert sec.title == "Lähteet" and sec.bullets[0].startswith("Abadie, A., Diamond, A. and Hainmueller")
    assert references_section(cfg, [_res("followup")], "en") is None


def test_limitations_in_both_languages():
    cfg = _cfg()
    assert limitation_keys(cfg, [_res("followup")], True) == []
    keys = limitation_keys(cfg, [_res("matching", subgroups=None), _res("did")], synthetic=True)
    assert keys == ["observables", "not_now", "parallel_trends", "two_estimands", "disclosure", "synthetic"]
    assert "one_area" in limitation_keys(cfg, [_res("synth")], False)
    for lang in ("en", "fi"):
        sec = limitations_section(cfg, [_res("matching", subgroups={}), _res("synth")], lang, synthetic=False)
        assert sec.title == text("limitations", lang) and len(sec.bullets) == 6
        assert any("10" in b for b in sec.bullets)  # the disclosure limit names min_cell
