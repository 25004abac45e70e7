"""The notebooks run headless from top to bottom on a small synthetic extract."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def extract(tmp_path_factory) -> Path:
    from impact.simulate import simulate

    out = tmp_path_factory.mktemp("nb") / "extract"
    simulate(scenario="default", persons=3000, seed=11, out=out)
    return out


@pytest.mark.parametrize("name", ["01_pipeline_walkthrough.ipynb", "02_run_a_study.ipynb",
                                  "03_did_and_synthetic_control.ipynb"])
def test_notebook_executes(name, extract, monkeypatch, tmp_path):
    path = NOTEBOOKS / name
    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("IMPACT_NB_DATA", str(extract))
    monkeypatch.setenv("IMPACT_NB_AREA_DATA", str(tmp_path / "area_extract"))  # notebook 03 simulates it
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    # every code cell ran and the notebook produced at least one figure
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, "no figure in the notebook output"
