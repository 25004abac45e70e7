"""Golden tests of the honest event-study bounds against R HonestDiD (Rambachan and Roth 2023).

References (tests/data/README.md):
* ``honest_reference.json`` (``honest_reference.R``): R HonestDiD's own results, read at full
  precision from the knitr cache shipped with its README (Medicaid expansion example);
* ``honest_medicaid.json`` (``honest_medicaid.py``): the README's TWFE event study (coefficients
  and fixest's clustered covariance, by pyfixest) and the Python port ``honestdid`` on it for the
  conditional tests;
* ``honest_port_small.json`` (``honest_port_small.py``): the Python port ``honestdid`` on a
  4 + 3 period event study for the methods that draw no random numbers;
* the README's printed table for the regression with a control (3 significant digits).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from impact.errors import DesignError
from impact.estimators import did
from impact.estimators.did.honest import EventStudy, event_study, honest_bounds

DATA = Path(__file__).parent / "data"
R = json.loads((DATA / "honest_reference.json").read_text())
MED = json.loads((DATA / "honest_medicaid.json").read_text())


@pytest.fixture(scope="module")
def medicaid() -> EventStudy:
    return EventStudy(np.array(MED["event_times"]), np.array(MED["beta"]), np.array(MED["sigma"]))


def _bounds(res):
    return res.table["lower"].to_numpy(), res.table["upper"].to_numpy()


def test_relative_magnitudes_c_lf_as_r(medicaid):
    ref = R["rm_e1_2022"]
    res = honest_bounds(medicaid, "relative_magnitude", m=ref["m"], target=0, breakdown=False)
    lo, hi = _bounds(res)
    np.testing.assert_allclose(lo, ref["lb"], atol=1e-6)
    np.testing.assert_allclose(hi, ref["ub"], atol=1e-6)
    assert res.inference == "C-LF"


def test_smoothness_flci_as_r(medicaid):
    ref = R["sd_flci_e1"]
    res = honest_bounds(medicaid, "smoothness", m=ref["m"], target=0, breakdown=False)
    lo, hi = _bounds(res)
    # M = 0: the exact minimum-variance interval; R's solver leaves ~1e-5 slack in h_min, which the
    # bias program turns into a shift of the centre of the same order (tests/data/README.md)
    np.testing.assert_allclose(lo[0], ref["lb"][0], atol=2e-5)
    np.testing.assert_allclose(hi[0], ref["ub"][0], atol=2e-5)
    np.testing.assert_allclose(lo[1:], ref["lb"][1:], atol=1e-6)
    np.testing.assert_allclose(hi[1:], ref["ub"][1:], atol=1e-6)
    # the README's printed digits
    assert [f"{x:.3g}" for x in lo[1:4]] == ["0.0132", "0.00286", "-0.00714"]
    assert [f"{x:.3g}" for x in hi] == ["0.0607", "0.0787", "0.0907", "0.101", "0.111", "0.121"]


def test_smoothness_with_control_readme_table():
    # HonestDiD README (commit 6813f02), "Regressions with controls": createSensitivityResults, M = 0..0.05
    printed_lb = ["0.0264", "0.0128", "0.00186", "-0.00814", "-0.0181", "-0.0281"]
    printed_ub = ["0.0607", "0.0788", "0.0908", "0.101", "0.111", "0.121"]
    es = EventStudy(np.array([-6, -5, -4, -3, -2, 0, 1]), np.array(R["twfe_control"]["beta"]),
                    np.array(R["twfe_control"]["sigma"]))
    res = honest_bounds(es, "smoothness", m=[0, 0.01, 0.02, 0.03, 0.04, 0.05], target=0, breakdown=False)
    lo, hi = _bounds(res)
    assert [f"{x:.3g}" for x in lo] == printed_lb
    assert [f"{x:.3g}" for x in hi] == printed_ub


def test_callaway_santanna_event_study_as_r_did_and_honest_did():
    """R: did::att_gt(not-yet-treated, universal base) -> aggte(dynamic, -5..5) -> honest_did(e = 0,
    relative magnitudes, gridPoints = 100). Ours: the same pipeline from the CSV."""
    ref = R["cs_chunk9"]
    df = pl.read_csv(DATA / "ehec_data.csv").with_columns(pl.col("yexp2").fill_null(0).cast(pl.Int64))
    res = did.att_gt(df, unit="stfips", time="year", group="yexp2", outcome="dins", control_group="not_yet_treated",
                     base_period="universal")
    agg = res.aggregate("dynamic", min_e=-5, max_e=5)
    es = event_study(agg)
    np.testing.assert_array_equal(es.event_times, ref["event_times"])
    np.testing.assert_allclose(es.coefficients, ref["beta"], atol=1e-7)  # the CSV rounds dins to 7 digits
    np.testing.assert_allclose(es.vcov, ref["sigma"], atol=1e-10)
    hb = did.honest_bounds(agg, "relative_magnitude", m=ref["m"], target=0, grid_points=100, breakdown=False)
    lo, hi = _bounds(hb)
    np.testing.assert_allclose(lo, ref["lb"], atol=2e-6)
    np.testing.assert_allclose(hi, ref["ub"], atol=2e-6)
    np.testing.assert_allclose([hb.original["lower"], hb.original["upper"]], ref["orig"], atol=1e-6)
    # on R's own inputs the sets are R's to the grid point
    es_r = EventStudy(np.array(ref["event_times"]), np.array(ref["beta"]), np.array(ref["sigma"]))
    lo, hi = _bounds(honest_bounds(es_r, "relative_magnitude", m=ref["m"], target=0, grid_points=100, breakdown=False))
    np.testing.assert_allclose(lo, ref["lb"], atol=1e-9)
    np.testing.assert_allclose(hi, ref["ub"], atol=1e-9)


def test_conditional_tests_as_python_port():
    """Methods without simulated critical values equal the Python port ``honestdid`` (same grid):
    4 pre- and 3 post-periods, the average effect (tests/data/honest_port_small.py; 6 decimals)."""
    ref = json.loads((DATA / "honest_port_small.json").read_text())
    es = EventStudy(np.array(ref["event_times"]), np.array(ref["beta"]), np.array(ref["sigma"]))
    for key, method in (("rm_conditional_avg", "relative_magnitude"), ("sd_conditional_avg", "smoothness")):
        r = ref[key]
        res = honest_bounds(es, method, m=r["m"], target="average", inference="conditional", breakdown=False)
        lo, hi = _bounds(res)
        np.testing.assert_allclose(lo, r["lb"], atol=5e-7, err_msg=key)
        np.testing.assert_allclose(hi, r["ub"], atol=5e-7, err_msg=key)


def test_conditional_tests_as_python_port_medicaid(medicaid):
    """The same on the Medicaid event study (honest_medicaid.json, full precision): identical."""
    for key, method, target in (("rm_conditional_e1", "relative_magnitude", 0),
                                ("rm_conditional_avg", "relative_magnitude", "average"),
                                ("sd_conditional_avg", "smoothness", "average")):
        ref = MED[key]
        res = honest_bounds(medicaid, method, m=ref["m"], target=target, inference="conditional", breakdown=False)
        lo, hi = _bounds(res)
        np.testing.assert_allclose(lo, ref["lb"], atol=1e-9, err_msg=key)
        np.testing.assert_allclose(hi, ref["ub"], atol=1e-9, err_msg=key)


def test_original_interval_average(medicaid):
    res = honest_bounds(medicaid, "relative_magnitude", m=[0.0], target="average", breakdown=False)
    np.testing.assert_allclose([res.original["lower"], res.original["upper"]], R["rm_avg_2024"]["orig"], atol=1e-8)
    assert res.l_vec.tolist() == [0.5, 0.5]


def test_breakdown_is_where_zero_enters(medicaid):
    res = honest_bounds(medicaid, "smoothness", m=[0, 0.01, 0.02, 0.03], target=0)
    bd = res.breakdown
    assert 0.02 < bd < 0.03  # the README: significant up to M ~ 0.03
    below = honest_bounds(medicaid, "smoothness", m=[bd * 0.99], target=0, breakdown=False).table.iloc[0]
    at = honest_bounds(medicaid, "smoothness", m=[bd], target=0, breakdown=False).table.iloc[0]
    assert below["lower"] > 0 and at["lower"] <= 0
    rm = honest_bounds(medicaid, "relative_magnitude", target=0)
    assert 1.5 < rm.breakdown < 2.0  # README: "the breakdown value ... is Mbar = 2"
    assert not rm.table.set_index("m").loc[1.5, "includes_zero"] and rm.table.set_index("m").loc[2.0, "includes_zero"]


def test_protocol_hand_built_risk_set_result(medicaid):
    """Any object with event_times, coefficients and vcov (e.g. a risk-set event study) works."""
    obj = SimpleNamespace(event_times=medicaid.event_times.tolist(), coefficients=list(medicaid.coefficients),
                          vcov=lambda: medicaid.vcov, reference_period=-1)
    a = honest_bounds(obj, "smoothness", m=[0.01], target=1, breakdown=False)
    b = honest_bounds(medicaid, "smoothness", m=[0.01], target=1, breakdown=False)
    assert a.table.equals(b.table)
    assert "event time 1" in a.target


def test_risk_set_design_event_study(medicaid):
    """The study's stacked risk-set DiD (att_gt with comparison_set, clustered by person) exposes its
    clustered covariance; honest bounds read it like any event study."""
    rng = np.random.default_rng(0)
    rows = []
    for stack in (4, 5):
        for i in range(120):
            treated = i < 40
            person = f"p{i if treated else rng.integers(40, 150)}"
            base = rng.normal()
            for t in range(1, 9):
                eff = 0.5 if (treated and t >= stack) else 0.0
                rows.append((f"{stack}-{i}", person, t, stack if treated else 0, stack, base + 0.1 * t + eff
                             + rng.normal(scale=0.5)))
    d = pl.DataFrame(rows, schema=["unit", "person", "t", "cohort", "stack", "y"], orient="row")
    res = did.att_gt(d, unit="unit", time="t", group="cohort", outcome="y", comparison_set="stack", cluster="person",
                     base_period="universal", method="reg")
    agg = res.aggregate("dynamic", min_e=-3, max_e=3)
    es = event_study(agg)
    assert -1 not in es.event_times.tolist()
    np.testing.assert_allclose(np.sqrt(np.diag(es.vcov)),
                               agg.estimates.set_index("event_time").loc[es.event_times, "std_error"], rtol=1e-10)
    hb = honest_bounds(agg, "relative_magnitude", m=[0.5], target="average")
    assert hb.table.iloc[0]["lower"] < hb.estimate < hb.table.iloc[0]["upper"]


def test_bad_input_is_refused(medicaid):
    df = pl.read_csv(DATA / "ehec_data.csv").with_columns(pl.col("yexp2").fill_null(0).cast(pl.Int64))
    res = did.att_gt(df, unit="stfips", time="year", group="yexp2", outcome="dins", control_group="not_yet_treated")
    with pytest.raises(DesignError, match="base_period='universal'"):
        honest_bounds(res.aggregate("dynamic"))
    with pytest.raises(DesignError, match="aggregate\\('dynamic'\\)"):
        honest_bounds(res.aggregate("group"))
    with pytest.raises(DesignError, match="consecutive event times"):
        honest_bounds(EventStudy(np.array([-3, -2, 0, 2]), np.zeros(4), np.eye(4)))
    with pytest.raises(DesignError, match="target event time 7"):
        honest_bounds(medicaid, target=7)
    with pytest.raises(DesignError, match="method must be one of"):
        honest_bounds(medicaid, method="smooth")
    with pytest.raises(DesignError, match="inference for relative_magnitude"):
        honest_bounds(medicaid, inference="FLCI")
    with pytest.raises(DesignError, match="covariance matrix"):
        EventStudy(np.arange(3), np.zeros(3), np.eye(2))
