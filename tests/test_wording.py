"""The wording catalogue: every text of a report in both languages, and every key the code asks for exists."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd

from impact.report.wording import LABELS, WORDS, placeholders, text
from impact.study.truth import truth_notices

PACKAGE = Path(__file__).resolve().parents[1] / "impact"


def test_every_key_has_both_languages_with_the_same_placeholders():
    for key, (en, fi) in WORDS.items():
        assert en.strip() and fi.strip(), key
        assert placeholders(en) == placeholders(fi), (key, placeholders(en), placeholders(fi))
    for key, (en, fi) in LABELS.items():
        assert en.strip() and fi.strip(), key


def test_every_literal_key_the_code_uses_is_in_the_catalogue():
    """``text("key", ...)`` with a constant key anywhere in the package (f-string keys are checked by the runs)."""
    missing = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "text"
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                if node.args[0].value not in WORDS:
                    missing.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.args[0].value}")
    assert missing == []


def test_finnish_text_is_not_the_english_one():
    """Texts that read the same in both languages are names or symbols, not untranslated sentences."""
    same = [k for k, (en, fi) in WORDS.items() if en == fi and len(en.split()) > 2]
    assert same == []


def test_an_interval_that_misses_the_truth_is_a_warning():
    est = pd.DataFrame({"analysis": ["dynamic_matching"] * 3, "outcome": ["employed_h3", "employed_h6", "employed_h12"],
                        "horizon": [3.0, 6.0, 12.0], "estimate": [0.01, 0.03, 0.05], "ci_lower": [0.0, 0.02, 0.04],
                        "ci_upper": [0.02, 0.04, 0.06], "truth": [0.01, 0.05, float("nan")]})
    notes = truth_notices(est, "en")
    assert len(notes) == 1 and notes[0].level == "warning"
    # in the unit of the effect tables (percentage points), not as raw proportions
    assert "1 of 2 horizons (6)" in notes[0].text and "+3.0 pp [+2.0 pp, +4.0 pp] against a truth of +5.0 pp" in \
        notes[0].text
    assert text("truth_miss", "fi", analysis="a", outcome="o", k=1, n=2, horizons="6", estimate=1, lo=0, hi=2,
                truth=3).startswith("Totuusvertailu")


def test_truth_check_uses_the_sample_standard_error_where_the_estimate_has_one():
    """The risk-set DiD's truth is its entrants' own average effect: the check uses the interval from
    ``std_error_sample`` with the published interval's critical value (here 2), the published interval stays."""
    est = pd.DataFrame({"analysis": ["did_event_study"] * 3, "outcome": ["employed"] * 3, "horizon": [1.0, 2.0, 3.0],
                        "estimate": [-0.03, -0.05, -0.06], "std_error": [0.005, 0.01, 0.01],
                        "ci_lower": [-0.04, -0.07, -0.08], "ci_upper": [-0.02, -0.03, -0.04],
                        "std_error_sample": [0.01, 0.005, float("nan")], "truth": [-0.015, -0.035, -0.05]})
    # e=1 misses the published interval but not the sample one (+-0.02); e=2 the reverse (+-0.01); e=3 has no
    # sample standard error: the published interval, which holds the truth
    notes = truth_notices(est, "en")
    assert len(notes) == 1
    assert "1 of 3 horizons (2)" in notes[0].text and "-5.0 pp [-6.0 pp, -4.0 pp] against a truth of -3.5 pp" in \
        notes[0].text and "entrants' own average effect" in notes[0].text
    assert len(truth_notices(est.drop(columns="std_error_sample"), "en")[0].text.split("horizons (1)")) == 2


def test_did_history_terms_have_readable_labels():
    """The risk-set DiD's prior-employment x elapsed-month terms are named in words in both languages."""
    from impact.report.wording import covariate_label

    assert covariate_label("hist_el4_6") == "Employment history x months of job seeking: 4\u20136"
    assert covariate_label("hist_el1", "fi") == "Työhistoria x työnhakukuukaudet: 1"
    assert covariate_label("seg_03") == "Segment: 03"


def test_an_event_study_miss_says_whether_the_simultaneous_band_covers_the_truth():
    """Pointwise intervals at many horizons miss somewhere by chance; the warning adds the band's verdict."""
    h = [1.0, 2.0, 3.0]
    est = pd.DataFrame({"analysis": ["did_event_study"] * 3, "outcome": ["employed"] * 3, "horizon": h,
                        "estimate": [0.01, 0.05, 0.02], "ci_lower": [0.0, 0.04, 0.01], "ci_upper": [0.02, 0.06, 0.03],
                        "band_lower": [-0.01, 0.03, 0.0], "band_upper": [0.03, 0.07, 0.04],
                        "truth": [0.01, 0.035, 0.02]})
    notes = truth_notices(est, "en")
    assert len(notes) == 1 and "1 of 3 horizons (2)" in notes[0].text
    assert "covers the truth at every horizon" in notes[0].text
    notes = truth_notices(est.assign(truth=[0.01, 0.02, 0.02]), "en")  # below the band at 2 as well
    assert "also excludes it (1 of 3: 2)" in notes[0].text and "covers" not in notes[0].text
    assert "yhtäaikainen" in truth_notices(est, "fi")[0].text
    # matching rows have no band: the warning is the pointwise one alone
    m = est.drop(columns=["band_lower", "band_upper"]).assign(analysis="dynamic_matching")
    assert "band" not in truth_notices(m, "en")[0].text
