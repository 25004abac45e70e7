"""Simulate -> write a real layout -> import -> outcomes: identical to the generator's own registers.

For each layout (``fiona``: Statistics Finland's research extracts; ``ir-xml``: Incomes Register
XML distributions plus the job-seeker register with the same ids) the generated registers are
written as real data arrive, imported with ``impact import``'s functions, and the outcome stage
(:func:`impact.outcomes.compute_outcomes`, the package's defaults with the scenario's extraction
date) is run on both folders. The person x month panel and every unit outcome must be equal
(flags, counts, months and dates exactly; euro amounts to 1e-6 EUR: the XML carries amounts in
cents, and sums are not bitwise reproducible across DuckDB's threads anyway). Unit ids are
matched through the key table (persons) and (person, start, type) (spells, services). Unit
attributes that a layout cannot carry (provider of coaching/work trial/rehabilitative work,
end reasons of services without an end-reason column) are checked to differ only there.

The study layer runs on the imported folder through ``impact.study.runner.run_study`` (what
``impact run`` calls) and publishes the same numbers as on the generator's folder, and the
imported panel and placements equal the generator's truth (tests/test_outcomes_truth.py's
definitions).

Sizes: ``IMPACT_ROUNDTRIP_PERSONS`` (default 2,000; the acceptance run used 20,000) and
``IMPACT_ROUNDTRIP_XML_PERSONS`` (default 400: XML takes about 1.1 kB per report row).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from pathlib import Path

import ibis
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from impact.outcomes import OutcomeConfig, compute_outcomes
from impact.outcomes.io import open_registers
from impact.registers.importers import import_registers
from impact.registers.importers.output import read_import_log
from impact.registers.delivery import read_delivery
from impact.registers.schema import WAGE_INCOME_TYPES
from impact.registers.validate import validate_folder

PERSONS = int(os.environ.get("IMPACT_ROUNDTRIP_PERSONS", "2000"))
XML_PERSONS = int(os.environ.get("IMPACT_ROUNDTRIP_XML_PERSONS", "400"))
SEED = 17
STUDIES = Path(__file__).resolve().parents[1] / "studies"
TRUTH_CFG = OutcomeConfig(allocation="pay_period", income_types=(101, 201), employment_rule="last_week")
#: Service attributes a layout cannot carry, and the service types for which it cannot.
LOST = {"provider_id": {"coaching", "work_trial", "rehabilitative_work"},
        "end_reason": {"coaching", "work_trial", "rehabilitative_work", "self_motivated_study", "training",
                       "integration_training"}}


def _simulate(root: Path, persons: int) -> Path:
    from impact.simulate import simulate

    out = root / f"native_{persons}"
    if not (out / "truth" / "run.toml").exists():
        simulate(persons=persons, seed=SEED, out=out)
    return out


def _import(layout: str, native: Path, root: Path) -> Path:
    from impact.simulate.layouts import write_layout

    src = root / f"{layout}_{native.name}"
    write_layout(native, layout, src)
    out = root / f"imported_{layout}_{native.name}"
    if layout == "fiona":
        js = sorted((src / "tem_tyonhakija").iterdir()) + sorted((src / "tem_tyonhaku").iterdir()) + \
            [src / "service_costs.parquet"]
        import_registers("fiona-jobseekers", js, out, areas=src / "employment_areas.csv")
        import_registers("fiona-incomes", sorted((src / "tax_incomes").iterdir()) + sorted((src / "tax_benefit").iterdir()),
                         out, mapping="tax_incomes_002_synthetic")
    else:
        jr = src / "jobseeker_register"
        js = sorted((jr / "tem_tyonhakija").iterdir()) + sorted((jr / "tem_tyonhaku").iterdir()) + \
            [jr / "service_costs.parquet"]
        import_registers("fiona-jobseekers", js, out, areas=jr / "employment_areas.csv",
                         namespaces={"person": "hetu", "employer": "ytunnus"})
        import_registers("ir-xml", sorted((src / "incomes_register").glob("*.xml")), out, mapping="ir_2022_synthetic",
                         schema_check=False)  # XSD validity of generated XML: test_import_ir_xml.py
    return out


def _person_map(native: Path, imported: Path, layout: str) -> pl.DataFrame:
    """(imported person id, native person id) through the key table."""
    keys = pl.read_parquet(imported / "private" / "keys.parquet").filter(pl.col("kind") == "person")
    if layout == "fiona":
        return keys.select(imp=pl.col("id"), nat=pl.col("source_id").str.slice(1).cast(pl.Int64))
    cw = pl.read_parquet(imported.parent / f"ir-xml_{native.name}" / "private" / "crosswalk.parquet")
    return keys.join(cw, left_on="source_id", right_on="hetu").select(imp=pl.col("id"), nat=pl.col("person_id"))


def _outcomes(folder: Path, cfg: OutcomeConfig):
    con = ibis.duckdb.connect()
    return compute_outcomes(con, open_registers(con, folder), cfg)


@pytest.fixture(scope="module", params=["fiona", "ir-xml"])
def roundtrip(request, tmp_path_factory):
    layout = request.param
    root = tmp_path_factory.mktemp(f"roundtrip_{layout}")
    native = _simulate(root, PERSONS if layout == "fiona" else XML_PERSONS)
    imported = _import(layout, native, root)
    return layout, native, imported, _person_map(native, imported, layout)


def _renumber(df: pl.DataFrame, m: pl.DataFrame) -> pl.DataFrame:
    return df.join(m, left_on="person_id", right_on="imp", how="left").drop("person_id").rename({"nat": "person_id"})


def test_imported_folder_is_valid_and_says_where_it_came_from(roundtrip):
    layout, native, imported, m = roundtrip
    rep = validate_folder(imported, raise_on_error=False)
    assert rep.ok, rep.summary()
    d = read_import_log(imported)["folder"]
    assert d["extraction_date"] == "2025-12-31"  # the scenario's extraction date, carried by the delivery
    assert read_delivery(imported).extraction_date == dt.date(2025, 12, 31)  # the manifest the runs read
    assert d["source_kind"] == ("fiona-incomes" if layout == "fiona" else "ir-xml")
    assert d["subsidised_derived"] is True
    assert_frame_equal(pl.read_parquet(imported / "areas.parquet"),  # the delivery's area classification
                       pl.read_parquet(native / "areas.parquet").sort("municipality"))
    assert m.height == pl.read_parquet(native / "persons.parquet").height
    assert m["nat"].n_unique() == m.height


def test_person_month_panel_and_every_outcome_equal_the_native_path(roundtrip):
    layout, native, imported, m = roundtrip
    cfg = OutcomeConfig(extraction_date=dt.date(2025, 12, 31))
    a, b = _outcomes(native, cfg), _outcomes(imported, cfg)
    pa = a.person_month.sort("person_id", "month")
    pb = _renumber(b.person_month, m).select(pa.columns).sort("person_id", "month")
    assert pa.height > 10 * PERSONS if layout == "fiona" else pa.height > 10 * XML_PERSONS
    assert_frame_equal(pa, pb, check_exact=False, rel_tol=0, abs_tol=1e-6)
    assert pa.filter(pl.col("subsidised")).height > 0
    for name, key, unit in (("spell_outcomes", ["person_id", "start_date"], "spell_id"),
                            ("service_outcomes", ["person_id", "start_date", "service_type"], "service_id")):
        x = getattr(a, name).sort(key)
        y = _renumber(getattr(b, name), m).select(x.columns).sort(key)
        assert x.height == y.height > 0
        same = [c for c in x.columns if c != unit and c not in LOST]
        assert_frame_equal(x.select(same), y.select(same), check_exact=False, rel_tol=0, abs_tol=1e-6)
        for col, types in (LOST.items() if name == "service_outcomes" else ()):
            j = x.select(*key, col).join(y.select(*key, col), on=key, suffix="_imp")
            diff = j.filter(~pl.col(col).eq_missing(pl.col(f"{col}_imp")))
            assert set(diff["service_type"].unique()) <= types, col


def test_earnings_and_benefit_rows_survive_the_layout(roundtrip):
    layout, native, imported, m = roundtrip
    cols = ["person_id", "payment_date", "pay_period_start", "pay_period_end", "earning_period_start",
            "earning_period_end", "income_type", "amount_eur", "recovery", "orig_payment_date", "subsidised"]
    er = pl.read_parquet(native / "earnings_reports.parquet")
    if layout == "fiona":  # the extract holds valid reports only, each as its own version 1
        from impact.simulate.layout_fiona import valid_latest

        er = valid_latest(er)
    else:
        cols += ["report_ref", "version", "action"]
    got = _renumber(pl.read_parquet(imported / "earnings_reports.parquet"), m)
    rnd = pl.col("amount_eur").round(2)
    a = er.with_columns(rnd).select(cols).sort(cols)
    b = got.with_columns(rnd).select(cols).sort(cols)
    assert_frame_equal(a.drop("subsidised"), b.drop("subsidised"))
    # subsidised is derived from the pay-subsidy spells: equal on every row the employment rule counts;
    # the generator leaves a tax-exempt km allowance (311) from the subsidising employer unflagged
    diff = a.filter(pl.col("subsidised") != b["subsidised"])
    assert set(diff["income_type"].unique()) <= {311}
    assert not diff.filter(pl.col("income_type").is_in(list(WAGE_INCOME_TYPES))).height
    bn = pl.read_parquet(native / "benefit_reports.parquet")
    bi = _renumber(pl.read_parquet(imported / "benefit_reports.parquet"), m).select(bn.columns)
    assert_frame_equal(bn.sort(bn.columns), bi.sort(bn.columns))


def test_imported_outcomes_recover_the_truth(roundtrip):
    """The generator's truth (employment per person-month, placement per service) from the imported data."""
    layout, native, imported, m = roundtrip
    res = _outcomes(imported, TRUTH_CFG)
    truth = pl.read_parquet(native / "truth" / "person_month.parquet")
    pm = _renumber(res.person_month, m)
    j = (truth.rename({"employed": "t_emp", "subsidised": "t_sub"})
         .join(pm, on=["person_id", "month"], how="full", coalesce=True)
         .filter(pl.col("month") < res.last_month)
         .with_columns([pl.col(c).fill_null(False) for c in ("t_emp", "t_sub", "employed", "subsidised")]))
    assert j.filter(pl.col("t_emp") != pl.col("employed")).is_empty()
    assert j.filter(pl.col("t_sub") != pl.col("subsidised")).is_empty()
    te = pl.read_parquet(native / "truth" / "service_effects.parquet")
    sv = pl.read_parquet(native / "service_spells.parquet").select("service_id", "person_id", "start_date",
                                                                   "service_type")
    so = _renumber(res.service_outcomes, m).drop("service_id").join(sv, on=["person_id", "start_date", "service_type"])
    for h in TRUTH_CFG.horizons:
        t = te.filter((pl.col("h") == h) & (pl.col("month") < res.last_month)).select("service_id", truth="employed_1")
        jj = t.join(so.select("service_id", f"placed_{h}m"), on="service_id")
        assert jj.height > 0.9 * t.height
        assert jj.filter(pl.col("truth") != pl.col(f"placed_{h}m")).is_empty(), h


def html_text(key: str) -> str:
    """A catalogue text as the HTML report prints it (escaped by the template engine)."""
    from markupsafe import escape

    from impact.report.wording import text

    return str(escape(text(key, "en")))


def _study(name: str, registers: Path, tmp: Path) -> tuple[dict, str]:
    """results.json and report.html of a committed study run on ``registers``."""
    from impact.study import runner

    text = (STUDIES / f"{name}.toml").read_text()
    text = re.sub(r"synthetic = \{[^}]*\}", f'registers = "{registers}"', text)
    text = re.sub(r'formats = \[[^\]]*\]', 'formats = ["html"]', text)
    cfg = tmp / f"{name}_{registers.name}.toml"
    cfg.write_text(text)
    out = runner.run_study(cfg, reports_dir=tmp / f"reports_{registers.name}", quiet=True)
    return json.loads((out / "results.json").read_text()), (out / "report.html").read_text(encoding="utf-8")


def _with_truth(native: Path, imported: Path, m: pl.DataFrame, tmp: Path) -> Path:
    """A copy of the imported folder with the generator's truth, its ids put in the import's terms."""
    out = tmp / f"{imported.name}_with_truth"
    shutil.copytree(imported, out)
    shutil.copytree(native / "truth", out / "truth")
    a = pl.read_parquet(native / "service_spells.parquet").select("service_id", "person_id", "start_date",
                                                                  "service_type")
    b = _renumber(pl.read_parquet(out / "service_spells.parquet"), m).select(
        pl.col("service_id").alias("_new"), "person_id", "start_date", "service_type")
    sid = a.join(b, on=["person_id", "start_date", "service_type"]).select("service_id", "_new")
    pid = m.select(pl.col("nat").alias("person_id"), pl.col("imp").alias("_pnew"))
    for f in (out / "truth").glob("*.parquet"):
        t = pl.read_parquet(f)
        if "service_id" in t.columns:
            t = t.join(sid, on="service_id", how="left").with_columns(service_id="_new").drop("_new")
        if "person_id" in t.columns:
            t = t.join(pid, on="person_id", how="left").with_columns(person_id="_pnew").drop("_pnew")
        t.write_parquet(f)
    return out


def test_study_on_imported_registers_publishes_the_native_numbers(roundtrip, tmp_path):
    """``impact run`` with ``[data] registers = <imported folder>`` gives the same results; at the
    acceptance size (20,000 persons) the effect study's estimates also cover the truth."""
    layout, native, imported, m = roundtrip
    if layout != "fiona":
        pytest.skip("the study run is checked once, on the FIONA import")
    names = ["placement_followup"] + (["training_effect"] if PERSONS >= 20_000 else [])
    with_truth = _with_truth(native, imported, m, tmp_path)
    for name in names:
        (ra, _), (rb, html) = _study(name, native, tmp_path), _study(name, with_truth, tmp_path)
        # the data section says where the imported registers came from (delivery.toml, import log)
        for key in ("earnings_source_fiona_incomes", "subsidised_derived"):
            assert html_text(key) in html, key
        assert "Delivery (delivery.toml)" not in html  # the importer's own text is said by the lines above
        ea, eb = pl.DataFrame(ra["estimates"]), pl.DataFrame(rb["estimates"])
        keep = [c for c in ea.columns if c not in ("truth",)]
        assert_frame_equal(ea.select(keep), eb.select(keep), check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
        if "truth" in ea.columns:
            assert_frame_equal(ea.select("truth"), eb.select("truth"))
            est = eb.filter(pl.col("truth").is_not_null())
            covered = ((est["ci_lower"] <= est["truth"]) & (est["truth"] <= est["ci_upper"])).mean()
            assert covered >= 0.8, (name, covered)


def test_the_report_quotes_the_deliverers_source_in_either_language(tmp_path):
    """A source written by whoever delivered the data is quoted; the toolkit's own texts are not
    (the catalogue says them in the report's language)."""
    import datetime as dt

    from impact.registers.delivery import write_delivery
    from impact.study.sections import delivery_paragraphs
    from impact.study.stages import delivery_facts

    write_delivery(tmp_path, dt.date(2025, 12, 31), "Tilastokeskus, FIONA-toimitus 2026/17")
    assert delivery_paragraphs(delivery_facts(tmp_path), "fi") == [
        "Toimitus (delivery.toml): Tilastokeskus, FIONA-toimitus 2026/17."]
    write_delivery(tmp_path, dt.date(2025, 12, 31), "impact simulate: scenario default, 2000 persons, seed 1")
    assert delivery_paragraphs(delivery_facts(tmp_path), "fi") == []


def test_a_corrupt_import_log_is_a_clear_error(tmp_path):
    """The report reads import_log.json for the data's origin: a broken one names the file."""
    from impact.errors import ImpactError
    from impact.study.stages import delivery_facts

    (tmp_path / "import_log.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ImpactError, match=r"import_log\.json: cannot be read as the import log"):
        delivery_facts(tmp_path)
