"""Bad input on the command line: one clear line on stderr, exit status 2, no traceback, nothing half-written.

Cases of issue 17: a non-UTF-8 config, an output path that is a file, a read-only output
folder, a full disk, a read-only or corrupt outcome cache (the run goes on without it, with a
warning), a scenario name leaving its folder, an output folder holding the user's files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from impact.cli import main

STUDY = """
[study]
name = "{name}"
title = "Follow-up"
question = "Where are participants after their service?"

[data]
registers = "{registers}"
{extra}

[unit]
kind = "service_spell"

[outcomes]
horizons = [3, 6, 12]
by = ["service_type"]
measures = ["placement"]

[report]
formats = ["html"]
"""


@pytest.fixture(scope="module")
def registers(tmp_path_factory) -> Path:
    from impact.simulate import simulate

    out = tmp_path_factory.mktemp("cli") / "reg"
    simulate(persons=1200, seed=3, out=out)
    return out


def _study(tmp: Path, registers: Path, name: str = "s", extra: str = "") -> Path:
    p = tmp / f"{name}.toml"
    p.write_text(STUDY.format(name=name, registers=registers, extra=extra))
    return p


def _fails(capsys, argv: list[str], *needles: str) -> str:
    """Run the CLI; it must exit 2 with one line on stderr containing every needle."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    text = capsys.readouterr().err
    lines = [ln for ln in text.splitlines() if not ln.startswith("[")]  # progress lines start with [time]
    assert e.value.code == 2, text
    assert len(lines) == 1 and "Traceback" not in text, text
    err = lines[0]
    assert err.startswith(f"impact {argv[0]}: error: "), err
    for n in needles:
        assert n in err, err
    return err


@contextlib.contextmanager
def _immutable(path: Path):
    """Make a folder read-only even for root (``chattr +i``); skip where that is not possible."""
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("chattr +i not available here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@contextlib.contextmanager
def _small_disk(path: Path, size: str = "2m"):
    """A tiny tmpfs (a full disk); skip where mounting is not allowed."""
    path.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                           capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def test_non_utf8_study_config(tmp_path, capsys, registers):
    p = _study(tmp_path, registers)
    p.write_bytes(p.read_bytes().replace(b"Follow-up", "Seuranta \u00e4".encode("latin-1")))
    _fails(capsys, ["run", str(p), "--reports-dir", str(tmp_path / "r")], str(p), "not UTF-8 text")


def test_non_utf8_outcome_config(tmp_path, capsys, registers):
    (tmp_path / "o.toml").write_bytes("# rajat \u00e4\nemployment_floor_eur = 500\n".encode("latin-1"))
    _fails(capsys, ["outcomes", str(registers), "--out", str(tmp_path / "o"), "--config", str(tmp_path / "o.toml")],
           "o.toml: not UTF-8 text")


def test_non_utf8_scenario(tmp_path, capsys):
    (tmp_path / "sc.toml").write_bytes("description = 'ty\u00f6tt\u00f6m\u00e4t'\n".encode("latin-1"))
    _fails(capsys, ["simulate", "--scenario", str(tmp_path / "sc.toml"), "--out", str(tmp_path / "x")],
           "is not UTF-8 text")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("cmd", ["simulate", "outcomes", "run"])
def test_output_path_that_is_a_file(tmp_path, capsys, registers, cmd):
    f = tmp_path / "taken"
    f.write_text("my notes")
    argv = {"simulate": ["simulate", "--persons", "600", "--out", str(f)],
            "outcomes": ["outcomes", str(registers), "--out", str(f)],
            "run": ["run", str(_study(tmp_path, registers)), "--reports-dir", str(f)]}[cmd]
    _fails(capsys, argv, f"{f} is a file; expected a folder")
    assert f.read_text() == "my notes"


@pytest.mark.parametrize("cmd", ["simulate", "outcomes", "run"])
def test_read_only_output_folder(tmp_path, capsys, registers, cmd):
    ro = tmp_path / "ro"
    ro.mkdir()
    argv = {"simulate": ["simulate", "--persons", "600", "--out", str(ro / "reg")],
            "outcomes": ["outcomes", str(registers), "--out", str(ro / "out")],
            "run": ["run", str(_study(tmp_path, registers)), "--reports-dir", str(ro)]}[cmd]
    with _immutable(ro):
        _fails(capsys, argv, f"cannot write to {ro}: Operation not permitted")
    assert list(ro.iterdir()) == []


def test_full_disk_keeps_the_previous_output(tmp_path, capsys, registers):
    with _small_disk(tmp_path / "disk", "3m") as disk:
        assert main_ok(["simulate", "--persons", "300", "--seed", "1", "--out", str(disk / "reg")]) == 0
        before = sorted(p.name for p in (disk / "reg").iterdir())
        _fails(capsys, ["simulate", "--persons", "4000", "--seed", "2", "--out", str(disk / "reg")],
               "No space left on device", "the previous output is unchanged")
        assert sorted(p.name for p in (disk / "reg").iterdir()) == before
        assert "seed 1" in (disk / "reg" / "delivery.toml").read_text()
        assert [p.name for p in disk.iterdir()] == ["reg"]  # the staging folder is gone
        with (disk / "filler").open("wb") as fh, contextlib.suppress(OSError):
            while True:  # the disk is now full
                fh.write(b"\0" * 65536)
                fh.flush()
        _fails(capsys, ["run", str(_study(tmp_path, registers)), "--reports-dir", str(disk / "reports")],
               "No space left on device")
        assert not (disk / "reports" / "s").exists()


def main_ok(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code


def _cache_entry(reports: Path) -> Path:
    (entry,) = list((reports / ".cache").glob("outcomes-*"))
    return entry


def test_corrupt_outcome_cache_is_recomputed_with_a_warning(tmp_path, capsys, registers):
    cfg, reports = _study(tmp_path, registers), tmp_path / "reports"
    assert main_ok(["run", str(cfg), "--reports-dir", str(reports)]) == 0
    first = json.loads((reports / "s" / "results.json").read_text())
    pm = _cache_entry(reports) / "person_month.parquet"
    pm.write_bytes(pm.read_bytes()[:1000])  # truncated
    assert main_ok(["run", str(cfg), "--reports-dir", str(reports)]) == 0
    again = json.loads((reports / "s" / "results.json").read_text())
    assert again["estimates"] == first["estimates"]
    (warning,) = [w for w in again["warnings"] if "outcome cache" in w]
    assert "not used" in warning and "person_month.parquet does not match its recorded SHA-256" in warning
    (_cache_entry(reports) / "meta.json").write_text("{not json")
    assert main_ok(["run", str(cfg), "--reports-dir", str(reports)]) == 0
    assert any("JSONDecodeError" in w for w in json.loads((reports / "s" / "results.json").read_text())["warnings"])


def test_read_only_outcome_cache_lets_the_run_go_on(tmp_path, capsys, registers):
    cfg, reports = _study(tmp_path, registers), tmp_path / "reports"
    (reports / ".cache").mkdir(parents=True)
    with _immutable(reports / ".cache"):
        assert main_ok(["run", str(cfg), "--reports-dir", str(reports)]) == 0
    res = json.loads((reports / "s" / "results.json").read_text())
    (warning,) = [w for w in res["warnings"] if "outcome cache" in w]
    assert "outcome cache not written" in warning and "the run goes on without it" in warning


def test_scenario_name_cannot_leave_its_folder(tmp_path, capsys, registers):
    _fails(capsys, ["simulate", "--scenario", "../../etc/x", "--out", str(tmp_path / "x")],
           "scenario name '../../etc/x' is not allowed")
    p = tmp_path / "syn.toml"
    p.write_text(STUDY.format(name="syn", registers="", extra="").replace(
        'registers = ""', 'synthetic = { scenario = "../../outside", persons = 600, seed = 1 }'))
    _fails(capsys, ["run", str(p), "--reports-dir", str(tmp_path / "r")],
           "data.synthetic.scenario '../../outside' is not allowed")
    assert not (tmp_path.parent / "outside").exists()


def test_output_folder_with_user_files_is_never_replaced(tmp_path, capsys, registers):
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("years of work")
    _fails(capsys, ["simulate", "--persons", "600", "--out", str(home)],
           f"{home} exists and was not written by `impact simulate`")
    assert (home / "thesis.tex").read_text() == "years of work"
    out = tmp_path / "out"
    assert main_ok(["outcomes", str(registers), "--out", str(out)]) == 0
    (out / "tables" / "my_table.csv").write_text("mine")
    _fails(capsys, ["outcomes", str(registers), "--out", str(out)], "tables/my_table.csv",
           "replacing the folder would delete them")
    assert (out / "tables" / "my_table.csv").read_text() == "mine"


def test_bad_extraction_settings(tmp_path, capsys, registers):
    _fails(capsys, ["outcomes", str(registers), "--out", str(tmp_path / "o"), "--extraction-date", "31.12.2025"],
           "--extraction-date '31.12.2025': expected a date yyyy-mm-dd")
    _fails(capsys, ["outcomes", str(registers), "--out", str(tmp_path / "o"), "--extraction-date", "2026-06-30"],
           "--extraction-date = 2026-06-30 is after the extraction date of the delivery (2025-12-31")
    p = _study(tmp_path, registers, extra='after_extraction = "keep"')
    _fails(capsys, ["run", str(p), "--reports-dir", str(tmp_path / "r")],
           "data.after_extraction = 'keep' is not allowed: expected one of error, drop")
    assert not (tmp_path / "o").exists()


def test_ledger_command_errors(tmp_path, capsys):
    _fails(capsys, ["ledger", "remove", "nothing", "--reports-dir", str(tmp_path)],
           "no report of study 'nothing' in the ledger")
    assert main_ok(["ledger", "list", "--reports-dir", str(tmp_path)]) == 0
    assert "the ledger is empty" in capsys.readouterr().out


def test_output_of_another_command_is_never_replaced(tmp_path, capsys, registers):
    reg = tmp_path / "reg"
    shutil.copytree(registers, reg)
    before = sorted(p.name for p in reg.iterdir())
    _fails(capsys, ["outcomes", str(reg), "--out", str(reg)],
           f"{reg} exists and was not written by `impact outcomes` (it holds the output of `impact simulate`)")
    assert sorted(p.name for p in reg.iterdir()) == before
    _fails(capsys, ["outcomes", str(reg), "--out", str(tmp_path)], "was not written by `impact outcomes`")


def test_interrupt_and_unexpected_io_errors_are_one_line(tmp_path, capsys, monkeypatch):
    import impact.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_validate", interrupted)
    with pytest.raises(SystemExit) as e:
        main(["validate", str(tmp_path)])
    assert e.value.code == 130 and capsys.readouterr().err.strip() == "impact validate: interrupted (nothing was published)"

    def duckdb_full(args):  # a library wrapping the OS error in its own exception
        raise RuntimeError('IO Error: Could not write file "/data/.x.staging-12-ab12cd34/p.parquet": No space left on device')

    monkeypatch.setattr(cli, "_cmd_validate", duckdb_full)
    with pytest.raises(SystemExit) as e:
        main(["validate", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err == ("impact validate: error: No space left on device: /data/x/p.parquet (nothing was "
                                         "published; the previous output is unchanged)")

    def bug(args):
        raise ValueError("a programming error")

    monkeypatch.setattr(cli, "_cmd_validate", bug)
    with pytest.raises(ValueError):  # not an input problem: the traceback stays
        main(["validate", str(tmp_path)])
