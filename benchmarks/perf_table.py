"""Rewrite the results table of ``docs/performance.md`` from ``benchmarks/results/bench_*.json``.

The table sits between the markers ``<!-- perf-table:start -->`` and ``<!-- perf-table:end -->``,
the whole-study runs (``bench_study_*.json``, one column per run) between
``<!-- study-table:start -->`` and ``<!-- study-table:end -->``; everything else in the file is
left as written. Run by ``benchmarks/run_all.sh`` after the
benchmarks; by hand: ``.venv/bin/python benchmarks/perf_table.py``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- perf-table:start -->", "<!-- perf-table:end -->"
BENCHES = ("outcomes", "did", "matching", "synth")
# the package's own contender in each benchmark (ratios are against it)
OURS = {"outcomes": "ibis", "did": "ours", "matching": "ours", "synth": "ours"}
PEER_PACKAGE = {"csdid": "csdid", "differences": "differences", "diff-diff": "diff-diff", "causalml": "causalml",
                "dowhy": "dowhy", "pysyncon": "pysyncon", "polars": "polars", "pandas": "pandas",
                "pandas_blocks": "pandas"}


def _num(v, fmt: str = "{:.2f}") -> str:
    return "–" if v is None else fmt.format(v)


def _version(bench: dict, name: str) -> str:
    v = bench.get("versions", {}).get(name, {})
    if name.startswith("ours") or name.startswith("ibis"):
        return f"impact {v.get('impact', '?')}" + (f" (duckdb {v['duckdb']})" if v.get("duckdb") else "")
    pkg = PEER_PACKAGE.get(name, name)
    return f"{pkg} {v.get(pkg, '?')}"


def _agreement(bench_name: str, case: dict, name: str) -> str:
    a = case.get("agreement", {}).get(name)
    if name == OURS[bench_name]:
        return "(reference)"
    if a is None:
        return "–"
    if bench_name == "outcomes":
        diff = {t: v["differing_cells"] for t, v in a.items() if v["differing_cells"]}
        units = sum(v["rows"] for v in a.values())
        note = " (own baselines not compared)" if name == "pandas_blocks" else ""
        return f"equal on all {units:,} units{note}" if not diff else f"DIFFERS: {diff}"
    if bench_name == "did":
        return (f"max abs diff ATT {a['max_abs_att_diff']:.1e}, SE {a['max_abs_se_diff']:.1e} "
                f"({a['cells_compared']} of {a['cells_ours']} cells)")
    if bench_name == "matching":
        return f"ATT {a['att']:.4f} ({a['att_minus_ours']:+.4f} vs ours)"
    if bench_name == "synth":
        return (f"pre-period MSPE {a['peer_mspe_over_ours']:.3f}x ours; "
                f"max weight diff {a['max_abs_weight_diff']:.3f}")
    return "–"


def rows(bench_name: str, bench: dict) -> list[list[str]]:
    out = []
    ours = OURS[bench_name]
    same = bench.get("same_work", {})
    for case in bench.get("cases", []):
        summ = {n: c["summary"] for n, c in case["contenders"].items()}
        ref = summ.get(ours, {})
        for name, s in summ.items():
            if s.get("status") != "ok":
                status = s.get("status", "?")
                what = f"stopped by the {status} ({s.get('cap')})" if "cap" in status else f"{status}: {s.get('error', '')}"
                out.append([bench_name, case["case"], name, _version(bench, name), what[:80], "", "", "", "",
                            f"{s.get('runs', 0)}", "", "", bench.get("notes", {}).get(name, "")])
                continue
            ratio = ""
            if name != ours and ref.get("fit_s"):
                ratio = (f"{s['fit_s'] / ref['fit_s']:.2f} / {s['process_s'] / ref['process_s']:.2f}"
                         f" / {s['cpu_s'] / ref['cpu_s']:.2f}")
                if name in same and summ.get(same[name], {}).get("fit_s"):
                    ratio += f" (same work: {s['fit_s'] / summ[same[name]]['fit_s']:.2f})"
            if s.get("spread") is None:
                stable = f"{s['ok_runs']} (fewer than 3: NOT stable)"
            else:
                stable = (f"{s['ok_runs']} (3 within {s['spread'] * 100:.0f} %)" if s["stable"] else
                          f"{s['ok_runs']} (NOT stable: the closest 3 within {s['spread'] * 100:.0f} %)")
            load = f"{min(s['load_before'] + s['load_after']):.1f}–{max(s['load_before'] + s['load_after']):.1f}"
            if s.get("cpu_pressure"):  # recorded since 7 December 2026
                load += f" (CPU pressure {min(s['cpu_pressure']):.0f}–{max(s['cpu_pressure']):.0f} %)"
            out.append([bench_name, case["case"], name, _version(bench, name), _num(s["fit_s"]), _num(s["process_s"]),
                        _num(s["cpu_s"], "{:.1f}"), _num(s["peak_rss_gib"]), ratio, stable, _agreement(bench_name, case, name),
                        load, bench.get("notes", {}).get(name, "")])
    return out


HEADER = ["benchmark", "case", "contender", "version", "fit s", "process s", "process CPU s", "peak GiB",
          "vs ours (fit / process / CPU)", "runs", "agreement with ours", "load", "what it computes"]


def table(results: dict[str, dict]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for name in BENCHES:
        if name in results:
            lines += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows(name, results[name])]
    meta = []
    for name in BENCHES:
        if name in results:
            m = results[name]["machine"]
            meta.append(f"`{name}`: {m.get('date_utc')}, commit {m.get('commit', '?')}, {m.get('cpus')} CPUs "
                        f"({m.get('cpu_model')}), "
                        f"memory cap {m.get('mem_cap_gib')} GiB, load at start "
                        f"{m['load_at_start'][0]:.1f}, at end {m.get('load_at_end', [float('nan')])[0]:.1f}")
    return "\n".join(lines) + "\n\nRuns: " + "; ".join(meta) + ".\n"


STUDY_START, STUDY_END = "<!-- study-table:start -->", "<!-- study-table:end -->"


def _study_cell(wall, cpu, gib) -> str:
    parts = [f"{wall:.1f} s" if wall is not None else "–"]
    if cpu is not None:
        parts.append(f"{cpu:.1f} CPU-s")
    parts.append(f"{gib:.2f} GiB" if gib is not None else "–")
    return " / ".join(parts)


def study_table(files: list[Path]) -> str:
    """Whole-study runs (``bench_study_*.json``), one column per run: the whole process, the
    runner's stages (wall, peak RSS) and the analyses' inner steps (wall, CPU, peak RSS)."""
    import re

    runs = []
    for f in files:
        b = json.loads(f.read_text())
        if b.get("benchmark") != "study":
            continue
        r = b["run"]
        prog = r.get("progress") or {}
        if not r.get("stage_seconds") and prog.get("log"):  # a stopped run: its stages from the kept log lines
            done = [re.search(r"\] (.+?) done in ([\d.]+)s.*peak RSS ([\d.]+) GiB", line) for line in prog["log"]]
            r["stage_seconds"] = {m[1]: float(m[2]) for m in done if m}
            r["stage_peak_rss_gib"] = {m[1]: float(m[3]) for m in done if m}
            last = prog["log"][-1]
            r["stopped_in"] = last.split("] ", 1)[-1].removesuffix(" ...").strip()
        if not r.get("steps") and prog.get("steps"):
            r["steps"] = prog["steps"]
        runs.append(b)
    runs.sort(key=lambda b: (b["persons"], b["machine"].get("date_utc", "")))
    if not runs:
        return "(no study runs recorded)\n"
    head = ["stage / step"] + [f"{b['persons']:,} persons, {b['config']} @ {b['machine'].get('commit', '?')}"
                               for b in runs]
    keys: list[str] = []
    for b in runs:  # the stages in the runner's order, then the inner steps
        for k in (b["run"].get("stage_seconds") or {}):
            if k not in keys:
                keys.append(k)
    steps: list[str] = []
    for b in runs:
        for st in b["run"].get("steps") or []:
            if st["step"] not in steps:
                steps.append(st["step"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def whole(b: dict) -> str:
        r = b["run"]
        peak = r.get("peak_rss_gib") or r.get("polled_peak_rss_gib")
        cap = f" (cap {b.get('mem_cap_gib')} GiB)" if r.get("status") != "ok" else ""
        cap += f", stopped in '{r['stopped_in']}'" if r.get("stopped_in") else ""
        return f"**{r.get('status')}**{cap}: " + _study_cell(r.get("wall_s"), r.get("cpu_s"), peak)
    lines.append("| whole process (wall / CPU / peak) | " + " | ".join(whole(b) for b in runs) + " |")
    for k in keys:
        cells = []
        for b in runs:
            r = b["run"]
            w = (r.get("stage_seconds") or {}).get(k)
            cells.append("–" if w is None else _study_cell(w, None, (r.get("stage_peak_rss_gib") or {}).get(k)))
        lines.append(f"| stage: {k} | " + " | ".join(cells) + " |")
    for name in steps:
        cells = []
        for b in runs:
            got = [st for st in b["run"].get("steps") or [] if st["step"] == name]
            cells.append("–" if not got else "; ".join(_study_cell(st["wall_s"], st["cpu_s"], st["peak_rss_gib"])
                                                        for st in got))
        lines.append(f"| step: {name} | " + " | ".join(cells) + " |")
    meta = [f"{b['persons']:,} @ {b['machine'].get('commit', '?')}: {b['machine'].get('date_utc')}, load at start "
            f"{b['machine']['load_at_start'][0]:.1f}, matching max_controls_per_cell "
            f"{b.get('max_controls_per_cell') or 'not set'}, data {b.get('data')}" for b in runs]
    return "\n".join(lines) + "\n\nRuns: " + "; ".join(meta) + ".\n"


def _replace(text: str, start: str, end: str, body: str) -> str:
    if start not in text or end not in text:
        raise SystemExit(f"{DOC}: markers {start} / {end} missing")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}{end}{tail}"


def main() -> None:
    results = {}
    for name in BENCHES:
        f = HERE / "results" / f"bench_{name}.json"
        if f.exists():
            r = json.loads(f.read_text())
            if "cases" in r and "machine" in r:  # written by the harness (older files: rerun them)
                results[name] = r
    text = _replace(DOC.read_text(), START, END, table(results))
    new = _replace(text, STUDY_START, STUDY_END, study_table(sorted((HERE / "results").glob("bench_study_*.json"))))
    tmp = DOC.with_name(f".{DOC.name}.tmp")
    tmp.write_text(new)
    os.replace(tmp, DOC)
    print(f"rewrote the table in {DOC} from {sorted(results)}", file=sys.stderr)


if __name__ == "__main__":
    main()
