"""Outcome config loading, group tables, Kaplan-Meier and the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

from impact.cli import main
from impact.errors import ConfigError, DesignError
from impact.outcomes import OutcomeConfig, load_config
from impact.outcomes.tables import group_table, kaplan_meier
from tests.reference_outcomes import D, person, report, service, spell, write_folder


def test_config_from_toml(tmp_path):
    p = tmp_path / "o.toml"
    p.write_text('[outcomes]\nallocation = "pay_period"\nhorizons = [3, 6, 24]\nk_of_h = [[2, 6]]\n'
                 'extraction_date = 2024-06-30\nemployment_floor_eur = 700\n')
    c = load_config(p)
    assert c.allocation == "pay_period" and c.horizons == (3, 6, 24) and c.k_of_h == ((2, 6),)
    assert c.extraction_date == D(2024, 6, 30) and c.employment_floor_eur == 700.0
    assert load_config(None) == OutcomeConfig()


@pytest.mark.parametrize("text, words", [
    ('allocaton = "payment"', ["unknown key", "allocaton"]),
    ('allocation = "weekly"', ["allocation", "'weekly'", "payment"]),
    ("horizons = [0, 3]", ["horizons", "1..24"]),
    ("horizons = [36]", ["horizons", "1..24"]),
    ("k_of_h = [[7, 6]]", ["k_of_h", "1 <= k <= h"]),
    ('allocation = "payment"\nemployment_rule = "last_week"', ["employment_rule", "period allocation"]),
    ('employment_floor_eur = "500"', ["employment_floor_eur", "a number"]),
    ('segment_by = ["shoe_size"]', ["segment_by", "shoe_size"]),
    ("income_types = [999]", ["income_types", "999"]),
    ("horizons = [", ["not valid TOML"]),
])
def test_config_errors_name_the_key(tmp_path, text, words):
    p = tmp_path / "bad.toml"
    p.write_text(text + "\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    for w in words:
        assert w in str(e.value)


def test_kaplan_meier_by_hand():
    u = pl.DataFrame({"g": ["a"] * 5 + ["b"] * 2, "months_to_employment": [1, 2, 2, 3, 4, 1, 1],
                      "censored": [False, False, True, False, True, False, False]})
    curves, med = kaplan_meier(u, by="g")
    a = curves.filter(pl.col("g") == "a")
    assert a["month"].to_list() == [1, 2, 3, 4]
    assert a["n_risk"].to_list() == [5, 4, 2, 1]
    assert a["events"].to_list() == [1, 1, 1, 0]
    assert a["survival"].to_list() == pytest.approx([0.8, 0.6, 0.3, 0.3])
    # log(-log) interval at t = 1: Greenwood sum 1/(5*4)
    s, v = 0.8, 1 / 20
    se = math.sqrt(v) / abs(math.log(s))
    assert a["lower"][0] == pytest.approx(s ** math.exp(1.959964 * se), rel=1e-5)
    assert a["upper"][0] == pytest.approx(s ** math.exp(-1.959964 * se), rel=1e-5)
    m = med.filter(pl.col("g") == "a").row(0, named=True)
    assert (m["n"], m["events"], m["median"]) == (5, 3, 3)
    assert m["median_lower"] <= 3 and (m["median_upper"] is None or m["median_upper"] >= 3)
    b = med.filter(pl.col("g") == "b").row(0, named=True)
    assert b["median"] == 1  # everyone employed in month 1
    with pytest.raises(DesignError, match="not in the unit table"):
        kaplan_meier(u, by="area")


def test_group_table_counts_flags_and_cost_per_placement():
    u = pl.DataFrame({
        "service_type": ["training"] * 12 + ["coaching"] * 3,
        "placed_3m": [True] * 4 + [False] * 6 + [None] * 2 + [True, False, False],
        "cost_eur": [1000.0] * 12 + [200.0] * 3,
        "earnings_1_12m": [100.0] * 10 + [None] * 2 + [0.0] * 3,
    })
    t = group_table(u, "service_type", OutcomeConfig(horizons=(3,)))
    tr = t.filter(pl.col("service_type") == "training").row(0, named=True)
    assert (tr["n_units"], tr["n_obs_placed_3m"], tr["n_placed_3m"]) == (12, 10, 4)
    assert tr["placed_3m"] == pytest.approx(0.4) and tr["suppress"] is False
    assert tr["cost_per_placement_3m"] == pytest.approx(10 * 1000 / 4)  # cost of the observed units / placements
    co = t.filter(pl.col("service_type") == "coaching").row(0, named=True)
    assert co["suppress"] is True and co["cost_per_placement_3m"] == pytest.approx(600.0)
    assert np.isclose(tr["mean_earnings_1_12m"], 100.0)


def _tiny_folder(tmp_path):
    return write_folder(
        tmp_path / "reg",
        [person(1), person(2)],
        [spell(1, D(2020, 1, 10), D(2020, 5, 31), spell_id=101)],
        [service(2, D(2020, 2, 1), D(2020, 4, 15), service_id=11)],
        [report(1, D(2020, 6, 30), D(2020, 6, 1), D(2020, 6, 30), 1500.0),
         report(2, D(2020, 7, 31), D(2020, 7, 1), D(2020, 7, 31), 1500.0)])


def test_cli_writes_the_outcome_tables(tmp_path, capsys):
    reg = _tiny_folder(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:
        main(["outcomes", str(reg), "--out", str(out)])
    assert e.value.code == 0
    pm = pl.read_parquet(out / "person_month.parquet")
    assert pm.columns[:5] == ["person_id", "month", "earnings_eur", "employed", "subsidised"] or \
        {"person_id", "month", "earnings_eur", "employed", "subsidised"} <= set(pm.columns)
    assert pm["earnings_eur"].to_list() == [1500.0, 1500.0]
    so = pl.read_parquet(out / "service_outcomes.parquet")
    assert so["placed_3m"].to_list() == [True]  # April + 3 = July
    assert pl.read_parquet(out / "spell_outcomes.parquet")["placed_1m"].to_list() == [True]
    ex = json.loads((out / "exclusions.json").read_text())
    assert ex["extraction_date"] == "2020-07-31" and ex["exclusions"] == []
    # no temporary files left (.impact-output.json lists what the command published)
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [".impact-output.json"]
    t = pl.read_parquet(out / "tables" / "services_by_service_type.parquet")
    assert t.select("service_type", "n_units", "n_placed_3m", "suppress").to_dicts() == [
        {"service_type": "training", "n_units": 1, "n_placed_3m": 1, "suppress": True}]
    assert not [f for f in (out / "tables").iterdir() if "person_id" in pl.read_parquet_schema(f)]
    km = pl.read_parquet(out / "tables" / "km_median_services_by_service_type.parquet")
    assert km["median"].to_list() == [3]  # April -> first work in July


def test_cli_errors_are_clear(tmp_path, capsys, monkeypatch):
    reg = _tiny_folder(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("horizon = [3]\n")
    with pytest.raises(SystemExit) as e:
        main(["outcomes", str(reg), "--out", str(tmp_path / "o"), "--config", str(bad)])
    assert e.value.code == 2 and "unknown key" in capsys.readouterr().err
    with monkeypatch.context() as m:
        import sys

        m.setitem(sys.modules, "pyspark", None)  # as if the spark extra were not installed
        with pytest.raises(SystemExit) as e:
            main(["outcomes", str(reg), "--out", str(tmp_path / "o"), "--backend", "pyspark"])
    assert e.value.code == 2 and "pyspark" in capsys.readouterr().err
    (reg / "earnings_reports.parquet").unlink()
    with pytest.raises(SystemExit) as e:
        main(["outcomes", str(reg), "--out", str(tmp_path / "o")])
    assert e.value.code == 2 and "earnings_reports" in capsys.readouterr().err
