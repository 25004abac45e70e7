"""The side-by-side area table (SC, SDID, ASCM, DiD), its plain-language explanation, the honest-bounds
sentence and the plots that take these tables."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import polars as pl
import pytest

from impact import plots
from impact.errors import ConfigError
from impact.estimators import synth
from impact.estimators.did.honest import EventStudy, honest_bounds
from impact.report.robustness_text import breakdown_sentence, why_estimators_differ

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def prop99():
    df = pl.read_csv(DATA / "smoking.csv").select("state", "year", "cigsale")
    return synth.compare_area_estimators(df, "state", "year", "cigsale", "California", 1989, replications=50,
                                         truth=-20.0)


def test_table(prop99):
    t = prop99.table.set_index("estimator")
    assert list(t.index) == ["synthetic control", "synthetic DiD", "augmented synthetic control", "DiD"]
    assert t.loc["synthetic DiD", "estimate"] == pytest.approx(-15.6038, abs=1e-3)
    assert t.loc["DiD", "estimate"] == pytest.approx(-27.349, abs=1e-3)
    assert t.loc["synthetic control", "estimate"] == pytest.approx(prop99.fits["sc"].att())
    assert t.loc["augmented synthetic control", "estimate"] == pytest.approx(prop99.fits["ascm"].att())
    assert (t["ci_lower"] < t["estimate"]).all() and (t["estimate"] < t["ci_upper"]).all()
    assert t.loc["synthetic DiD", "level_shift"] and not t.loc["synthetic control", "level_shift"]
    assert t.loc["augmented synthetic control", "negative_weight"] > 0
    assert (t["error"] == t["estimate"] + 20.0).all()
    paths = prop99.paths
    assert set(paths["estimator"]) == set(t.index) and paths.groupby("estimator").size().eq(31).all()
    post = paths[paths["post"] & (paths["estimator"] == "augmented synthetic control")]
    assert post["gap"].mean() == pytest.approx(t.loc["augmented synthetic control", "estimate"])


def test_why_they_differ(prop99):
    en = why_estimators_differ(prop99.table, "en")
    fi = why_estimators_differ(prop99.table, "fi")
    assert "range from -27.3 (DiD)" in en and "true effect is -20" in en
    assert "Estimaatit vaihtelevat" in fi and "-27,3" in fi and "todellinen vaikutus" in fi
    t = prop99.table.copy()
    t.loc[t["estimator"] == "synthetic control", ["pre_rmse", "max_weight", "effective_donors"]] = [9.0, 0.8, 1.5]
    en = why_estimators_differ(t.drop(columns=["truth", "error", "covers"]), "en")
    assert "misses the treated area by 9" in en and "leans on few donors (largest weight 0.80" in en
    agree = t.assign(estimate=1.0, ci_lower=-5.0, ci_upper=7.0)
    assert why_estimators_differ(agree, "en").startswith("The estimates agree")
    with pytest.raises(ConfigError, match="report.language"):
        why_estimators_differ(t, "sv")


def _cs_event_study() -> EventStudy:
    """R did's event study of the Medicaid example (tests/data/honest_reference.json)."""
    r = json.loads((DATA / "honest_reference.json").read_text())["cs_chunk9"]
    return EventStudy(np.array(r["event_times"]), np.array(r["beta"]), np.array(r["sigma"]))


def test_breakdown_sentences():
    es = _cs_event_study()
    rm = honest_bounds(es, "relative_magnitude", target=0)
    assert 2.0 < rm.breakdown < 3.0  # R's set at Mbar = 2 still excludes zero (tests/data/honest_reference.json)
    s = breakdown_sentence(rm, "en")
    assert s == (f"The effect stays positive unless post-period violations of parallel trends exceed "
                 f"{rm.breakdown:.3g} times the largest pre-period one.")
    fi = breakdown_sentence(rm, "fi")
    assert "pysyy positiivisena" in fi and f"{rm.breakdown:.3g}".replace(".", ",") + "-kertainen" in fi
    sd = honest_bounds(es, "smoothness", m=[0, 0.005, 0.01, 0.02], target=0)
    assert 0 < sd.breakdown < np.inf
    assert f"slope of the difference in trends changes by more than {sd.breakdown:.4f} per period" in \
        breakdown_sentence(sd, "en", fmt=lambda v: f"{v:.4f}")
    neg = EventStudy(es.event_times, -es.coefficients, es.vcov)
    assert "stays negative" in breakdown_sentence(honest_bounds(neg, "relative_magnitude", target=0), "en")
    null = EventStudy(es.event_times, es.coefficients * 0.1, es.vcov)
    assert "not be distinguishable from zero" in breakdown_sentence(honest_bounds(null, target=0), "en")


def test_plots_take_the_tables(prop99):
    hb = honest_bounds(_cs_event_study(), "relative_magnitude", target=0)
    figs = [plots.sensitivity_plot(hb.sensitivity_table(), hb.breakdown, hb.method),
            plots.estimator_comparison_plot(prop99.table)]
    sd = prop99.fits["sdid"]
    figs += [plots.sdid_trends_plot(sd.trends()), plots.unit_weights_plot(sd.unit_contributions(), sd.estimate)]
    for f in figs:
        assert isinstance(f, matplotlib.figure.Figure) and f.axes
        matplotlib.pyplot.close(f)
    ax = plots.sensitivity_plot(hb.sensitivity_table(), hb.breakdown).axes[0]
    assert len(ax.collections) >= 2  # the original interval and the robust sets
