"""The differencing ledger: a second report that could be subtracted from an earlier one is refused."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from impact import ledger
from impact.ledger import LedgerError
from impact.study import runner

STUDY = """
[study]
name = "{name}"
title = "Placement follow-up, ages {lo}-{hi}"
question = "Where are participants after their service?"

[data]
registers = "{registers}"

[population]
start_from = 2017-01-01
start_to = 2024-12-31
age_min = {lo}
age_max = {hi}

[unit]
kind = "service_spell"

[outcomes]
horizons = [3, 6, 12]
by = ["service_type", "employment_area"]
measures = ["placement", "earnings", "cost"]

[report]
formats = ["html"]

[disclosure]
min_cell = 10
"""


@pytest.fixture(scope="module")
def registers(tmp_path_factory) -> tuple[Path, list[int]]:
    """1,500 generated persons, two of whom are made 70 at the start of each of their services."""
    from impact.simulate import simulate

    out = tmp_path_factory.mktemp("ledger") / "reg"
    simulate(persons=1500, seed=11, out=out)
    sv = pl.read_parquet(out / "service_spells.parquet").filter(
        pl.col("end_date").is_between(pl.date(2017, 1, 1), pl.date(2024, 12, 31)))
    first = sv.group_by("person_id").agg(pl.col("start_date").min().dt.year().alias("y")).sort("person_id")
    two = first.head(2)
    persons = pl.read_parquet(out / "persons.parquet")
    older = persons.join(two, on="person_id", how="left").with_columns(
        birth_year=pl.when(pl.col("y").is_not_null()).then(pl.col("y") - 70).otherwise(pl.col("birth_year"))
        .cast(pl.Int16)).drop("y")
    older.write_parquet(out / "persons.parquet")
    return out, two["person_id"].to_list()


def _cfg(tmp: Path, registers: Path, name: str, lo: int, hi: int) -> Path:
    p = tmp / f"{name}.toml"
    p.write_text(STUDY.format(name=name, registers=registers, lo=lo, hi=hi))
    return p


def test_two_studies_differing_by_two_persons_second_is_refused(tmp_path, registers):
    folder, two = registers
    reports = tmp_path / "reports"
    a = runner.run_study(_cfg(tmp_path, folder, "working_age", 18, 64), reports_dir=reports, quiet=True)
    import json

    flow = json.loads((a / "results.json").read_text())["population"]
    b_cfg = _cfg(tmp_path, folder, "all_ages", 18, 100)
    with pytest.raises(LedgerError) as e:
        runner.run_study(b_cfg, reports_dir=reports, quiet=True)
    msg = str(e.value)
    assert "cell population/all" in msg and "of study 'all_ages' differs by 2 persons from cell population/all" in msg
    assert "of the earlier report 'working_age'" in msg and str(a) in msg
    assert "margin 2 < min_cell 10" in msg and "impact ledger remove working_age" in msg
    assert not (reports / "all_ages").exists()  # nothing published
    assert flow[-1]["step"] == "Age 18-64 at the start"
    # the earlier report was never released: remove it from the ledger, and the second one may go out
    assert ledger.remove(ledger.ledger_dir(reports), "working_age") == 1
    out = runner.run_study(b_cfg, reports_dir=reports, quiet=True)
    assert (out / "report.html").exists()
    # the same study again (same cells) is not a difference
    runner.run_study(b_cfg, reports_dir=reports, quiet=True)
    assert [e["study"] for e in ledger.list_entries(ledger.ledger_dir(reports))] == ["all_ages"]


def _cells(spec: dict[tuple[str, str], range]) -> pl.DataFrame:
    rows = [(t, c, p) for (t, c), ids in spec.items() for p in ids]
    return pl.DataFrame(rows, schema={"table": pl.String, "cell": pl.String, "person_id": pl.Int64}, orient="row")


def test_margins_compared(tmp_path):
    d = tmp_path / ".ledger"
    earlier = _cells({("population", "all"): range(1000), ("by_area", "EA01"): range(0, 100)})
    ledger.record(d, "data1", "first", earlier, 10)
    # same cells: allowed; 10 or more persons apart: allowed; another data set: not compared
    ledger.check(d, "data1", "same", earlier, 10)
    ledger.check(d, "data1", "far", _cells({("population", "all"): range(1010)}), 10)
    ledger.check(d, "data2", "other data", _cells({("population", "all"): range(1001)}), 10)
    # the population total against the earlier total
    with pytest.raises(LedgerError, match="differs by 1 person from cell population/all"):
        ledger.check(d, "data1", "one more", _cells({("population", "all"): range(1001)}), 10)
    # same size, different persons (3 swapped out, 3 in): 6 persons apart
    with pytest.raises(LedgerError, match="differs by 6 persons"):
        ledger.check(d, "data1", "swap", _cells({("population", "all"): [*range(3, 1000), 2001, 2002, 2003]}), 10)
    # across tables: a study of one area against another study's row for that area
    with pytest.raises(LedgerError, match=r"cell population/all \(95 persons\).*cell by_area/EA01 \(100 persons\)"):
        ledger.check(d, "data1", "area study", _cells({("population", "all"): range(5, 100)}), 10)


def test_categorical_keys_repeats_and_hashed_cells_record_the_same_entry(tmp_path):
    """A run's published cells come with categorical keys and may list a person twice in a cell (a
    person in two rows of one cell): the entry is the same as from distinct rows with string keys, and
    the hashed cells (made once for the check and the record) record the same file."""
    d = tmp_path / ".ledger"
    plain = _cells({("population", "all"): range(40), ("by_area", "EA02"): range(20, 35),
                    ("by_area", "EA01"): [*range(0, 12), 39]})
    twice = pl.concat([plain, plain.head(7), plain.tail(3)]).sample(fraction=1.0, shuffle=True, seed=1)
    cat = twice.with_columns(pl.col("table", "cell").cast(pl.Categorical))
    a = ledger.record(d, "h", "plain", plain, 10)
    b = ledger.record(d, "h", "plain", cat, 10)
    c = ledger.record(d, "h", "plain", ledger.hashed_cells(d, cat), 10)
    assert a == b == c and len(list(d.glob("*.npz"))) == 1
    z = np.load(a)
    assert z["sizes"].tolist() == [13, 15, 40]  # (table, cell) order: by_area/EA01, by_area/EA02, population/all
    h = ledger.hashed_cells(d, cat)
    assert h.tables == ["by_area", "by_area", "population"] and h.cells == ["EA01", "EA02", "all"]
    assert all((np.diff(h.persons(i).view(np.uint64)) > 0).all() for i in range(3))
    # without repeats the one-key sort (cell number and the hash's top bits) gives the same order
    big = _cells({("population", "all"): range(5000), ("by_area", "EA01"): range(0, 3000, 2)})
    hb = ledger.hashed_cells(d, big)
    assert hb.sizes.tolist() == [1500, 5000]
    assert all((np.diff(hb.persons(i).view(np.uint64)) > 0).all() for i in range(2))
    # a hashed publication is checked as its frame is
    with pytest.raises(LedgerError, match="differs by 1 person"):
        ledger.check(d, "h", "one less", ledger.hashed_cells(d, _cells({("population", "all"): range(39)})), 10)


def test_ledger_holds_no_person_ids_and_is_private(tmp_path):
    d = tmp_path / ".ledger"
    ids = np.array([123456789, 987654321, 555], dtype=np.int64)
    path = ledger.record(d, "h", "s", _cells({("population", "all"): ids.tolist()}), 10)
    raw = path.read_bytes()
    z = np.load(path)
    assert not np.isin(z["hashes"].view(np.int64), ids).any()
    for i in ids:
        assert int(i).to_bytes(8, "little") not in raw
    assert stat.S_IMODE((d / "salt").stat().st_mode) == 0o600 and stat.S_IMODE(d.stat().st_mode) == 0o700
    # another ledger (another salt) hashes the same ids differently
    other = ledger.record(tmp_path / "other", "h", "s", _cells({("population", "all"): ids.tolist()}), 10)
    assert not np.isin(np.load(other)["hashes"], z["hashes"]).any()


def test_corrupt_ledger_entry_is_named(tmp_path):
    d = tmp_path / ".ledger"
    path = ledger.record(d, "h", "s", _cells({("population", "all"): range(20)}), 10)
    path.write_bytes(b"not an npz")
    with pytest.raises(Exception, match=f"ledger entry {path} cannot be read"):
        ledger.check(d, "h", "t", _cells({("population", "all"): range(21)}), 10)
    assert ledger.remove(d, "s") == 1
    shutil.rmtree(d)
