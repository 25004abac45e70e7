"""Kill tests: `impact simulate`, `impact outcomes` and `impact run` killed with SIGKILL at many points.

Two versions A and B of each command's output (different seed / employment floor / study
title) are published alternately into one output folder. Each command is started as a
subprocess and killed (SIGKILL) either at a time spread over its measured duration (points
inside reading, computing and writing) or at a phase of the final swap, which the test hook
of :mod:`impact.publish` widens (``IMPACT_PUBLISH_TRACE`` / ``IMPACT_PUBLISH_PAUSE``). After
every kill the output folder must be exactly one complete published version: its files are
those recorded by the publication (:func:`impact.publish.verify_output`, which catches a folder
mixing two runs), its content is A's or B's and it is valid (registers pass validation, outcome
tables and reports parse). At the end one more complete run must leave no staging folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from impact.publish import verify_output

N_TIMED = 16  # kills spread over the command's duration
SWAP_PHASES = ("staged", "swapped", "old-removed", "swapped")  # kills inside the swap (hook-widened)
IMPACT = [sys.executable, "-m", "impact.cli"]


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPACT_PUBLISH_")}
    env.update(extra)
    return env


def _launch(cmd: list[str], cwd: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen(IMPACT + cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _complete(cmd: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    p = subprocess.run(IMPACT + cmd, cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    return time.perf_counter() - t


def _kill_at_time(cmd: list[str], cwd: Path, delay: float) -> str:
    p = _launch(cmd, cwd, _env())
    try:
        p.wait(timeout=delay)
        return "finished"
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        p.wait()
        return f"killed at {delay:.2f}s"


def _kill_at_phase(cmd: list[str], cwd: Path, phase: str, occurrence: int, trace: Path) -> str:
    trace.unlink(missing_ok=True)
    p = _launch(cmd, cwd, _env(IMPACT_PUBLISH_TRACE=str(trace), IMPACT_PUBLISH_PAUSE="0.4"))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        seen = trace.read_text().split() if trace.exists() else []
        if seen.count(phase) >= occurrence or (phase == "swapped" and "moved-in" in seen):
            p.send_signal(signal.SIGKILL)
            p.wait()
            return f"killed after phase {phase!r}"
        if p.poll() is not None:
            return "finished"
        time.sleep(0.01)
    p.kill()
    raise AssertionError(f"phase {phase} never reached")


def _run_kill_series(cmds: dict[str, list[str]], cwd: Path, final: Path, identify, check) -> list[tuple]:
    """Alternate A and B, killing each run; after every kill the folder is one whole version."""
    durations = {v: _complete(c, cwd) for v, c in cmds.items()}  # A then B: the folder now holds B
    for v in cmds:  # each version once more, so both are known complete and valid
        _complete(cmds[v], cwd)
        assert identify(final) == v and verify_output(final) == []
        check(final)
    log = []
    points = [("time", (i + 0.5) / N_TIMED) for i in range(N_TIMED)] + [("phase", p) for p in SWAP_PHASES]
    for n, (kind, where) in enumerate(points):
        have = identify(final)
        v = "A" if have == "B" else "B"
        if kind == "time":
            what = _kill_at_time(cmds[v], cwd, 0.1 + where * durations[v])
        else:
            what = _kill_at_phase(cmds[v], cwd, where, 1, cwd / "trace.txt")
        now = identify(final)
        problems = verify_output(final)
        assert now in ("A", "B") and problems == [], (n, kind, where, what, now, problems)
        check(final)
        log.append((kind, where, what, now))
    _complete(cmds["A"], cwd)  # a complete run removes every leftover of the killed ones
    left = [p.name for p in final.parent.iterdir() if p.name.startswith(f".{final.name}.")]
    assert left == [], left
    return log


def _report(log: list[tuple], name: str) -> None:
    killed = sum(1 for *_, what, _ in [(k, w, x, v) for k, w, x, v in log] if what.startswith("killed"))
    print(f"{name}: {len(log)} points, {killed} killed mid-run, outcomes {[v for *_, v in log]}")


@pytest.fixture(scope="module")
def registers(tmp_path_factory) -> Path:
    from impact.simulate import simulate

    out = tmp_path_factory.mktemp("kill") / "reg"
    simulate(persons=1500, seed=5, out=out)
    return out


def test_simulate_killed_anywhere_leaves_old_or_new_registers(tmp_path):
    from impact.registers.validate import validate_folder

    final = tmp_path / "reg"
    cmds = {"A": ["simulate", "--persons", "1500", "--seed", "1", "--out", str(final)],
            "B": ["simulate", "--persons", "1200", "--seed", "2", "--out", str(final)]}
    valid: dict[str, bool] = {}

    def identify(folder: Path) -> str | None:
        if not (folder / "delivery.toml").exists():
            return None
        return {"1": "A", "2": "B"}.get((folder / "delivery.toml").read_text().split("seed ")[-1].strip().rstrip('"'))

    def check(folder: Path) -> None:
        key = (folder / ".impact-output.json").read_text()
        if key not in valid:  # the same publication (same recorded files) is validated once
            rep = validate_folder(folder, raise_on_error=False)
            n = pl.scan_parquet(folder / "persons.parquet").select(pl.len()).collect().item()
            valid[key] = rep.ok and n == {"A": 1500, "B": 1200}[identify(folder)]
        assert valid[key]

    log = _run_kill_series(cmds, tmp_path, final, identify, check)
    _report(log, "simulate")
    assert sum(1 for _, _, what, _ in log if what.startswith("killed")) >= 15


def test_outcomes_killed_anywhere_leaves_old_or_new_tables(tmp_path, registers):
    final = tmp_path / "out"
    for v, floor in (("A", 500), ("B", 700)):
        (tmp_path / f"{v}.toml").write_text(f"employment_floor_eur = {floor}\n")
    cmds = {v: ["outcomes", str(registers), "--out", str(final), "--config", str(tmp_path / f"{v}.toml")]
            for v in ("A", "B")}

    def identify(folder: Path) -> str | None:
        try:
            floor = json.loads((folder / "outcome_config.json").read_text())["employment_floor_eur"]
        except OSError:
            return None
        return {500.0: "A", 700.0: "B"}[floor]

    def check(folder: Path) -> None:
        for f in folder.rglob("*.parquet"):
            pl.scan_parquet(f).select(pl.len()).collect()
        excl = json.loads((folder / "exclusions.json").read_text())
        assert excl["extraction_date"] == "2025-12-31"

    log = _run_kill_series(cmds, tmp_path, final, identify, check)
    _report(log, "outcomes")
    assert sum(1 for _, _, what, _ in log if what.startswith("killed")) >= 15


STUDY = """
[study]
name = "killed"
title = "{title}"
question = "Where are participants after their service?"

[data]
registers = "{registers}"

[unit]
kind = "service_spell"

[outcomes]
horizons = [3, 6, 12]
by = ["service_type"]
measures = ["placement", "time_to_employment"]

[report]
formats = ["html"]
"""


def test_run_killed_anywhere_leaves_old_or_new_report(tmp_path, registers):
    reports = tmp_path / "reports"
    final = reports / "killed"
    cmds = {}
    for v in ("A", "B"):
        (tmp_path / f"{v}.toml").write_text(STUDY.format(title=f"Version {v}", registers=registers))
        cmds[v] = ["run", str(tmp_path / f"{v}.toml"), "--reports-dir", str(reports)]

    def identify(folder: Path) -> str | None:
        try:
            return json.loads((folder / "results.json").read_text())["title"].removeprefix("Version ")
        except OSError:
            return None

    def check(folder: Path) -> None:
        man = json.loads((folder / "manifest.json").read_text())
        assert all((folder / f).is_file() for f in man["files"])
        assert "</html>" in (folder / "report.html").read_text()

    log = _run_kill_series(cmds, tmp_path, final, identify, check)
    _report(log, "run")
    assert sum(1 for _, _, what, _ in log if what.startswith("killed")) >= 15
