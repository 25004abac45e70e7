"""``impact import`` and ``impact simulate --layout`` on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from impact.cli import main
from impact.registers.delivery import read_delivery
from impact.registers.importers.output import read_import_log

EXAMPLES = Path(__file__).parent / "data" / "incomes_register" / "message_examples"


def test_parser_kinds_agree_with_the_importers():
    import impact.cli_import as c
    import impact.registers.importers as imp

    assert c.KINDS == imp.KINDS and c.DEFAULT_MAPPINGS == imp.DEFAULT_MAPPINGS


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code


def test_import_command_writes_registers_and_reports_errors_in_one_line(tmp_path, capsys):
    code = _run(["import", "ir-xml", str(EXAMPLES / "esimerkki_takaisinperinta_brutto.xml"), "--out", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert code == 0 and "wrote" in out and "earnings_reports 8" in out
    assert read_import_log(tmp_path / "r")["folder"]["source_kind"] == "ir-xml"
    code = _run(["import", "ir-xml", str(EXAMPLES / "testi.xml"), "--out", str(tmp_path / "r2")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("impact import: error:") and "element Signature" in err[0]
    assert _run(["import", "ir-xml", str(EXAMPLES / "testi.xml"), "--no-schema-check", "--out", str(tmp_path / "r2")]) == 0
    code = _run(["import", "fiona-jobseekers", str(tmp_path / "nope.sas7bdat"), "--out", str(tmp_path / "r3")])
    assert code == 2 and "nope.sas7bdat: file not found" in capsys.readouterr().err


def test_simulate_writes_a_layout_that_imports(tmp_path, capsys):
    out = tmp_path / "sim"
    assert _run(["simulate", "--persons", "80", "--seed", "2", "--out", str(out), "--layout", "fiona",
                 "--layout-format", "csv"]) == 0
    lay = out / "fiona"
    assert json.loads((lay / "layout.json").read_text())["format"] == "csv"
    js = sorted(str(p) for p in (lay / "tem_tyonhakija").iterdir()) + sorted(str(p) for p in (lay / "tem_tyonhaku").iterdir())
    assert _run(["import", "fiona-jobseekers", *js, str(lay / "service_costs.csv"), "--areas",
                 str(lay / "employment_areas.csv"), "--out", str(tmp_path / "reg")]) == 0
    inc = sorted(str(p) for p in (lay / "tax_incomes").iterdir())
    assert _run(["import", "fiona-incomes", *inc, "--out", str(tmp_path / "reg")]) == 0
    d = read_import_log(tmp_path / "reg")["folder"]
    assert d["source_kind"] == "fiona-incomes" and d["subsidised_derived"] is True
    assert read_delivery(tmp_path / "reg").extraction_date.isoformat() == d["extraction_date"] == "2025-12-31"
    assert (tmp_path / "reg" / "areas.parquet").exists()  # the delivery's area classification
    assert _run(["validate", str(tmp_path / "reg")]) == 0
