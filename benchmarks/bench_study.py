"""A whole effect study at scale: wall time, peak memory and where they go, step by step.

Runs ``impact run CONFIG --data-dir DATA`` (default ``studies/training_effect.toml`` on the
1 M-person registers) in its own process under the harness's caps (``benchmarks/harness.py``:
the process tree's resident memory sampled four times a second, a run past the memory cap is
stopped and recorded as such), with a fresh report folder (no outcome cache). Inside the child
the study's stages (registers, outcomes, population, each analysis, disclosure, report) are
timed by the runner itself (``manifest.json``: ``stage_seconds``, ``stage_peak_rss_gib``); the
steps inside the analyses (design, population restriction, matching, refutation, the DiD panel,
ATT(g,t) and the checks) are timed by wrapping those functions here, their peak resident
memory sampled ten times a second.

    flock /work/locks/bigmem flock /work/locks/bench .venv/bin/python benchmarks/bench_study.py \\
        --data /work/bench_data/1m --mem-gib 16

Writes ``benchmarks/results/bench_study_<config>_<size>.json`` (atomically).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: (module, attribute) of the steps timed inside the analyses.
STEPS = [
    ("impact.study.analyses.matching", "build_design"),
    ("impact.study.analyses.matching", "restrict_design"),
    ("impact.study.analyses.matching", "match_design"),
    ("impact.study.analyses.robustness", "matching_checks"),
    ("impact.study.analyses.subgroups", "run"),
    ("impact.study.analyses.did", "risk_set_panel"),
    ("impact.study.analyses.did", "history_by_start"),
    ("impact.estimators.did", "att_gt"),
    ("impact.study.analyses.robustness", "did_checks"),
    ("impact.study.analyses.did", "_honest"),
    ("impact.study.runner", "_ledger"),  # after manifest.json is written: its stage is only here
]


class _Sampler:
    """Resident memory of this process sampled ten times a second; the peak of each open step.

    The runner's stages reset the kernel's peak (``VmHWM``) at their start, so the steps inside
    them are measured by sampling instead (a step shorter than 0.1 s may miss its peak)."""

    def __init__(self) -> None:
        import threading

        self.open: list[list[float]] = []
        self._page = os.sysconf("SC_PAGE_SIZE")
        threading.Thread(target=self._run, daemon=True).start()

    def rss_gib(self) -> float:
        return int(Path("/proc/self/statm").read_text().split()[1]) * self._page / 2**30

    def _run(self) -> None:
        while True:
            r = self.rss_gib()
            for slot in list(self.open):
                slot[0] = max(slot[0], r)
            time.sleep(0.1)


def child(config: str, data: str, reports: str) -> None:
    """In the child: the study with its inner steps wrapped; the harness result written at the end."""
    import importlib

    import harness as H

    steps: list[dict] = []
    sampler = _Sampler()

    def wrap(mod, name):
        f = getattr(mod, name)

        @functools.wraps(f)
        def timed(*a, **kw):
            slot = [sampler.rss_gib()]
            sampler.open.append(slot)
            t, c = time.perf_counter(), H.cpu_seconds()
            try:
                return f(*a, **kw)
            finally:
                sampler.open.remove(slot)
                steps.append({"step": f"{mod.__name__.rsplit('.', 1)[-1]}.{name}", "wall_s": time.perf_counter() - t,
                              "cpu_s": H.cpu_seconds() - c, "peak_rss_gib": max(slot[0], sampler.rss_gib())})
                H.progress(steps=steps, log=lines[-40:])
        setattr(mod, name, timed)

    for m, name in STEPS:
        wrap(importlib.import_module(m), name)
    from impact.study import runner
    from impact.study.runner import run_study

    lines: list[str] = []
    log = runner.Progress.log

    def log_and_keep(self, msg: str) -> None:  # the stage lines kept where a stopped run leaves them
        log(self, msg)
        lines.append(f"[{time.perf_counter() - self.t0:7.1f}s rss {sampler.rss_gib():5.2f} GiB] {msg}")
        H.progress(steps=steps, log=lines[-40:])

    runner.Progress.log = log_and_keep

    with H.Timer() as t:
        folder = run_study(config, reports_dir=Path(reports), data_dir=data, quiet=False, cache=False)
    man = json.loads((folder / "manifest.json").read_text())
    res = json.loads((folder / "results.json").read_text())
    H.finish({"fit_s": t.wall, "fit_cpu_s": t.cpu, "stage_seconds": man.get("stage_seconds"),
              "stage_peak_rss_gib": man.get("stage_peak_rss_gib"), "steps": steps,
              "estimates": [{k: e.get(k) for k in ("analysis", "outcome", "horizon", "estimate", "std_error",
                                                    "n_treated", "n_controls")} for e in res["estimates"]],
              "warnings": res.get("warnings")})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(ROOT / "studies" / "training_effect.toml"))
    ap.add_argument("--data", default="/work/bench_data/1m")
    ap.add_argument("--mem-gib", type=float, default=16.0, help="memory cap of the run (the target is 12 GiB)")
    ap.add_argument("--cap", type=float, default=3600.0, help="time cap of the run (s)")
    ap.add_argument("--max-controls", type=int, default=None,
                    help="run the config with estimators.matching.max_controls_per_cell = N (comparison rows kept "
                         "per exact cell: the uncapped risk-set table grows faster than the persons)")
    ap.add_argument("--results", default=None)
    ap.add_argument("--child", nargs=3, metavar=("CONFIG", "DATA", "REPORTS"))
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    sys.path.insert(0, str(HERE))
    import harness as H

    data = Path(args.data)
    import polars as pl

    config = args.config
    text = Path(config).read_text()
    run_toml = data / "truth" / "run.toml"
    if not (data / "delivery.toml").exists() and run_toml.exists():
        # registers generated before delivery manifests existed: the generator's own record of
        # the extraction date, given to the study as data.extraction_date
        import tomllib

        date = tomllib.loads(run_toml.read_text())["extraction_date"]
        if "\n[data]\n" not in text:
            raise SystemExit(f"{config}: no [data] section to put extraction_date into")
        text = text.replace("\n[data]\n", f"\n[data]\nextraction_date = {date}\n", 1)
    if args.max_controls is not None:
        if "\n[estimators.matching]\n" not in text:
            raise SystemExit(f"{config}: no [estimators.matching] section to put max_controls_per_cell into")
        text = text.replace("\n[estimators.matching]\n",
                            f"\n[estimators.matching]\nmax_controls_per_cell = {args.max_controls}\n", 1)
    if text != Path(config).read_text():
        config = str(HERE / f".bench_study_{Path(config).name}")
        Path(config).write_text(text)

    persons = pl.scan_parquet(data / "persons.parquet").select(pl.len()).collect().item()
    reports = Path(tempfile.mkdtemp(prefix="bench_study_", dir=HERE))
    machine = H.machine()  # commit, date and load when the run starts (the tree may move on during it)
    try:
        r = H.run([sys.executable, __file__, "--child", config, str(data), str(reports)], cap_s=args.cap,
                  mem_gib=args.mem_gib)
    finally:
        shutil.rmtree(reports, ignore_errors=True)
        if config != args.config:
            Path(config).unlink(missing_ok=True)
    shutil.rmtree(r.pop("outdir"), ignore_errors=True)
    name = Path(args.config).stem + (f"_cap{args.max_controls}" if args.max_controls is not None else "")
    out = Path(args.results or HERE / "results" / f"bench_study_{name}_{persons // 1000}k.json")
    versions = H.python_versions(sys.executable, ["impact", "polars", "duckdb", "numpy", "scipy"])
    H.write_json(out, {"benchmark": "study", "config": name, "max_controls_per_cell": args.max_controls,
                       "data": str(data), "persons": persons,
                       "machine": machine, "versions": versions, "mem_cap_gib": args.mem_gib, "run": r})
    print(json.dumps({k: r.get(k) for k in ("status", "wall_s", "cpu_s", "peak_rss_gib", "error", "cap")}))
    for k, v in (r.get("stage_seconds") or {}).items():
        print(f"  {k:40s} {v:8.1f} s  {(r.get('stage_peak_rss_gib') or {}).get(k, float('nan')):6.2f} GiB")
    for s in r.get("steps") or r.get("progress", {}).get("steps", []):
        print(f"    {s['step']:38s} {s['wall_s']:8.1f} s  {s['peak_rss_gib']:6.2f} GiB")
    for line in r.get("progress", {}).get("log", []):  # a stopped run: how far it got
        print("    " + line)


if __name__ == "__main__":
    main()
