"""The dynamic-matching Monte Carlo (benchmarks/validate_matching.py) simulates blocks without
the report tables: its tables must be the generator's, and its subsamples disjoint."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from impact.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def vm():
    spec = importlib.util.spec_from_file_location("validate_matching", ROOT / "benchmarks" / "validate_matching.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def lite(vm):
    return next(vm.population_blocks("selection_on_unobservable", 11, 1, block_persons=1500))[1]


def test_blocks_equal_the_generators_tables(vm, lite, tmp_path):
    simulate("selection_on_unobservable", persons=1500, seed=11, out=str(tmp_path), workers=1)
    for name, path in (("persons", "persons"), ("jobseeking_spells", "jobseeking_spells"),
                       ("service_spells", "service_spells"), ("person_month", "truth/person_month")):
        ref = pl.read_parquet(tmp_path / f"{path}.parquet")
        got = lite[name].select([pl.col(c).cast(t) for c, t in ref.schema.items()])
        assert got.equals(ref), name
    ref = pl.read_parquet(tmp_path / "truth" / "service_effects.parquet").filter(pl.col("service_type") == "training")
    got = lite["service_effects"].select([pl.col(c).cast(t) for c, t in ref.schema.items()])
    assert ref.height > 0 and got.equals(ref)


def test_subsamples_are_disjoint_and_keep_each_persons_rows(vm, lite):
    parts = vm.split(lite, 500, np.random.default_rng(0))
    assert len(parts) == 3
    ids = [set(p["persons"]["person_id"].to_list()) for p in parts]
    assert all(len(s) == 500 for s in ids)
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    for name in ("jobseeking_spells", "service_spells", "person_month", "service_effects"):
        assert sum(p[name].height for p in parts) == lite[name].height
        for p, s in zip(parts, ids):
            assert set(p[name]["person_id"].unique().to_list()) <= s


def test_between_within_split(vm):
    rng = np.random.default_rng(1)
    pop = np.repeat(np.arange(40), 50)
    err = rng.normal(0, 0.5, 40)[pop] + rng.normal(0, 1.0, pop.size)  # between var 0.25, within 1
    between, within, se_cl = vm._between_within(err, pop)
    assert within == pytest.approx(1.0, abs=0.08)
    assert between == pytest.approx(0.25, abs=0.15)
    # clustered s.e. of the mean ~ sqrt((0.25 + 1/50) / 40)
    assert se_cl == pytest.approx(np.sqrt((0.25 + 1 / 50) / 40), rel=0.3)
